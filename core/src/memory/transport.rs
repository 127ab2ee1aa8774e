//! The transport in memory, for local mode: the two queues are unbounded
//! channels inside one process. Same contract as RabbitMQ: a rejected
//! delivery with requeue comes back (marked redelivered), a poison one goes to
//! the dead letters; acks are no-ops because nothing is held for redelivery
//! (a crash loses the whole process, which local mode accepts).

use std::sync::Mutex;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::transport::{
    Acker, DeadLetter, Deliveries, Delivery, Queue, Transport, TransportError, crawl_id_of,
};

/// A message in a memory queue: body and whether it was delivered before.
type Message = (Vec<u8>, bool);

struct MemoryQueue {
    sender: UnboundedSender<Message>,
    receiver: Mutex<Option<UnboundedReceiver<Message>>>,
}

impl MemoryQueue {
    fn new() -> Self {
        let (sender, receiver) = unbounded_channel();
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

/// The in-memory [`Transport`]: each queue has exactly one consumer.
pub struct MemoryTransport {
    tasks: MemoryQueue,
    completions: MemoryQueue,
    dead: std::sync::Arc<Mutex<Vec<DeadLetter>>>,
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTransport {
    /// Two empty queues.
    pub fn new() -> Self {
        Self {
            tasks: MemoryQueue::new(),
            completions: MemoryQueue::new(),
            dead: std::sync::Arc::default(),
        }
    }

    /// Messages dead-lettered so far.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().map(|d| d.clone()).unwrap_or_default()
    }

    fn queue(&self, queue: Queue) -> &MemoryQueue {
        match queue {
            Queue::Tasks => &self.tasks,
            Queue::Completions => &self.completions,
        }
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn publish(&self, queue: Queue, payloads: Vec<Vec<u8>>) -> Result<(), TransportError> {
        let sender = &self.queue(queue).sender;
        for payload in payloads {
            sender
                .send((payload, false))
                .map_err(|_| TransportError::Broker(format!("the {queue:?} queue is closed")))?;
        }
        Ok(())
    }

    async fn publish_delayed(
        &self,
        payload: Vec<u8>,
        delay: std::time::Duration,
    ) -> Result<(), TransportError> {
        let sender = self.tasks.sender.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = sender.send((payload, false));
        });
        Ok(())
    }

    async fn dead_letter(
        &self,
        from: Queue,
        data: Vec<u8>,
        reason: String,
    ) -> Result<(), TransportError> {
        if let Ok(mut dead) = self.dead.lock() {
            dead.push(dead_letter(Some(from), &data, reason));
        }
        Ok(())
    }

    async fn consume(&self, queue: Queue, _prefetch: u16) -> Result<Deliveries, TransportError> {
        let memory = self.queue(queue);
        let receiver = memory
            .receiver
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .ok_or_else(|| {
                TransportError::Broker(format!("the {queue:?} queue already has its consumer"))
            })?;
        let sender = memory.sender.clone();
        let dead = self.dead.clone();
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|message| (message, receiver))
        })
        .map(move |(data, redelivered)| {
            Ok(Delivery {
                acker: Box::new(MemoryAcker {
                    queue,
                    data: data.clone(),
                    sender: sender.clone(),
                    dead: dead.clone(),
                }),
                data,
                redelivered,
            })
        });
        Ok(stream.boxed())
    }
}

struct MemoryAcker {
    queue: Queue,
    data: Vec<u8>,
    sender: UnboundedSender<Message>,
    dead: std::sync::Arc<Mutex<Vec<DeadLetter>>>,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<(), TransportError> {
        Ok(())
    }

    async fn reject(&self, requeue: bool) -> Result<(), TransportError> {
        if requeue {
            self.sender
                .send((self.data.clone(), true))
                .map_err(|_| TransportError::Broker("queue closed".into()))
        } else {
            if let Ok(mut dead) = self.dead.lock() {
                dead.push(dead_letter(Some(self.queue), &self.data, "rejected".into()));
            }
            Ok(())
        }
    }
}

fn dead_letter(queue: Option<Queue>, data: &[u8], reason: String) -> DeadLetter {
    DeadLetter {
        queue,
        reason,
        crawl_id: crawl_id_of(data),
        body: String::from_utf8_lossy(data).into_owned(),
        requeued: false,
    }
}
