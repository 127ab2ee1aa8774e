//! The transport seam: how tasks reach workers and completions reach
//! aggregators. RabbitMQ ([`crate::amqp`]) in a deployment; in-memory channels
//! in local mode. Both give at-least-once delivery with explicit acks.

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::message::{self, Completion, Task};

/// Which of the two work queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Queue {
    /// Download tasks, consumed by workers.
    Tasks,
    /// Completions, consumed by aggregators.
    Completions,
}

impl Queue {
    /// Its name as a word (`tasks`, `completions`), as logs and listings show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tasks => "tasks",
            Self::Completions => "completions",
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport failure: the broker is unreachable, refused a message, or went away.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The broker could not be reached at start-up.
    #[error("cannot reach RabbitMQ at {url}: {reason}")]
    Unreachable {
        /// The URL tried, without credentials.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The broker refused to take a message (publisher confirm was a nack).
    #[error("the broker refused a message on {queue}")]
    Nacked {
        /// The queue published to.
        queue: String,
    },
    /// RabbitMQ failed (a channel, a connection, a publish).
    #[error("broker error: {0}")]
    Amqp(#[source] lapin::Error),
    /// Any other broker or channel failure.
    #[error("broker error: {0}")]
    Broker(String),
}

impl crate::retry::Transient for TransportError {
    /// Every broker failure may pass: a restart, a lost connection, a nack
    /// under pressure.
    fn is_transient(&self) -> bool {
        true
    }
}

/// Acknowledges one delivery. Exactly one of the two is called.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The delivery's effects are durable: remove it from the queue.
    async fn ack(&self) -> Result<(), TransportError>;
    /// Give it back: `requeue` to retry it, otherwise dead-letter it.
    async fn reject(&self, requeue: bool) -> Result<(), TransportError>;
}

/// One message taken from a queue, not yet acknowledged.
pub struct Delivery {
    /// The message body.
    pub data: Vec<u8>,
    /// Whether the broker delivered it before (a consumer died holding it).
    pub redelivered: bool,
    /// Acks or rejects this delivery.
    pub acker: Box<dyn Acker>,
}

/// A stream of deliveries from one queue; it ends when the consumer is cancelled.
pub type Deliveries = BoxStream<'static, Result<Delivery, TransportError>>;

/// Carries tasks and completions between processes.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Publishes messages and returns once the broker has taken all of them
    /// (publisher confirms: pipelined, not one round trip each).
    async fn publish(&self, queue: Queue, payloads: Vec<Vec<u8>>) -> Result<(), TransportError>;

    /// Starts consuming `queue` with at most `prefetch` unacknowledged deliveries.
    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries, TransportError>;

    /// Publishes a task that will reach the task queue after about `delay`
    /// (a retry that holds no prefetch slot while it waits).
    async fn publish_delayed(
        &self,
        payload: Vec<u8>,
        delay: std::time::Duration,
    ) -> Result<(), TransportError>;

    /// Puts a message that can never be processed on the dead-letter queue,
    /// with the reason and the queue it came from.
    async fn dead_letter(
        &self,
        from: Queue,
        data: Vec<u8>,
        reason: String,
    ) -> Result<(), TransportError>;
}

/// Most tasks in one message. More would cut the broker's work further but
/// let one worker's prefetch hold more of the queue than it can work on.
pub const TASK_BATCH: usize = 16;

/// Publishes tasks, confirmed: each crawl's tasks in order, [`TASK_BATCH`] to a message.
pub async fn publish_tasks(
    transport: &dyn Transport,
    tasks: &[Task],
) -> Result<(), TransportError> {
    let payloads: Vec<Vec<u8>> = message::by_crawl(tasks, |task| task.crawl_id)
        .iter()
        .flat_map(|(crawl_id, tasks)| {
            tasks.chunks(TASK_BATCH).map(|chunk| {
                message::encode(&message::TaskBatch {
                    v: message::MESSAGE_VERSION,
                    crawl_id: *crawl_id,
                    tasks: chunk.iter().map(|task| (*task).clone()).collect(),
                })
            })
        })
        .collect();
    if payloads.is_empty() {
        return Ok(());
    }
    transport.publish(Queue::Tasks, payloads).await
}

/// Publishes completions of one crawl as one message, confirmed.
pub async fn publish_completions(
    transport: &dyn Transport,
    crawl_id: uuid::Uuid,
    completions: Vec<Completion>,
) -> Result<(), TransportError> {
    let batch = message::CompletionBatch {
        v: message::MESSAGE_VERSION,
        crawl_id,
        completions,
    };
    transport
        .publish(Queue::Completions, vec![message::encode(&batch)])
        .await
}

/// A message on the dead-letter queue, as `producer dlq` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The queue it was taken from, when known.
    pub queue: Option<Queue>,
    /// Why it is here.
    pub reason: String,
    /// The crawl it belongs to, when it decodes far enough to say.
    pub crawl_id: Option<uuid::Uuid>,
    /// The body, as text (lossy).
    pub body: String,
    /// Moved back to its queue by this listing (`dlq --requeue`).
    pub requeued: bool,
}

/// The crawl id of a task or completion body, if it has one.
pub fn crawl_id_of(data: &[u8]) -> Option<uuid::Uuid> {
    let value: serde_json::Value = serde_json::from_slice(data).ok()?;
    let id = value
        .get("crawl_id")
        .or_else(|| value.get("result")?.get("crawl_id"))?;
    id.as_str()?.parse().ok()
}
