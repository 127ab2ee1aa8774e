//! The consumer loop the worker and the aggregator share: take deliveries
//! from one queue, run at most `concurrency` handlers at once, and turn each
//! handler's [`Disposition`] into an ack, a requeue or a dead-letter, here
//! and nowhere else. When the consumer stream breaks (RabbitMQ restarted, a
//! connection cut), it is rebuilt with backoff; in-flight handlers go on and
//! their deliveries, whose acks can no longer reach the broker, are
//! redelivered, which the idempotent handlers absorb. Shutdown stops taking
//! deliveries and lets in-flight handlers finish (and ack) within a grace period.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::retry::{Policy, Waits};
use crate::transport::{Delivery, Queue, Transport};

/// How long in-flight handlers get to finish after shutdown is requested
/// (under docker's 10 s stop timeout).
pub const GRACE: Duration = Duration::from_secs(8);

/// What to do with a delivery once its handler has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Its effects are durable: remove it.
    Ack,
    /// A passing failure that outlasted [`Policy::HOLD`]: put it back for another try.
    Retry,
    /// It can never succeed (undecodable): dead-letter it with this reason.
    Poison(String),
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ack => f.write_str("ack"),
            Self::Retry => f.write_str("retry"),
            Self::Poison(reason) => write!(f, "dead-letter: {reason}"),
        }
    }
}

/// Processes one message.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one message body and says what to do with it. `slot` is the
    /// handler's share of the concurrency: dropping it before returning lets
    /// the next delivery start while this one waits (e.g. for a confirm).
    async fn handle(&self, data: &[u8], redelivered: bool, slot: Slot) -> Disposition;
}

/// One of the `concurrency` slots of [`serve`], held by a running handler.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// How much [`serve`] takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Handlers holding a [`Slot`] at once.
    pub concurrency: usize,
    /// Unacknowledged deliveries (at least `concurrency`; more lets handlers
    /// that gave back their slot wait without stopping new ones).
    pub prefetch: usize,
}

/// Consumes `queue` until `shutdown` is cancelled, rebuilding the consumer
/// whenever the broker connection breaks.
pub async fn serve(
    transport: Arc<dyn Transport>,
    queue: Queue,
    capacity: Capacity,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    let mut serving = Serving {
        shared: Shared {
            permits: Arc::new(Semaphore::new(capacity.concurrency)),
            transport,
            queue,
            handler,
            shutdown,
        },
        prefetch: u16::try_from(capacity.prefetch.max(capacity.concurrency)).unwrap_or(u16::MAX),
        in_flight: JoinSet::new(),
        waits: Policy::CONSUME.waits(),
        current: None,
    };
    while let Some(deliveries) = serving.consumer().await {
        // The current consumer outlives this loop: its channel must stay
        // open until in-flight deliveries are acked, or the broker would
        // redeliver them.
        let deliveries = serving.current.insert(deliveries);
        let ended = pump(
            &serving.shared,
            &mut serving.in_flight,
            deliveries,
            &mut serving.waits,
        )
        .await;
        if ended == Pumped::Shutdown {
            break;
        }
    }
    serving.drain().await;
}

/// What [`serve`] holds while it runs.
struct Serving {
    shared: Shared,
    prefetch: u16,
    in_flight: JoinSet<()>,
    waits: Waits,
    current: Option<crate::transport::Deliveries>,
}

/// What the consumer loop and each delivery's task need.
struct Shared {
    transport: Arc<dyn Transport>,
    queue: Queue,
    permits: Arc<Semaphore>,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
}

/// Why [`pump`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Pumped {
    Shutdown,
    /// The consumer broke or ended: build another.
    Broken,
}

impl Serving {
    /// A new consumer, retried as [`Policy::CONSUME`] says; `None` at shutdown.
    async fn consumer(&mut self) -> Option<crate::transport::Deliveries> {
        self.current = None;
        let Shared {
            transport,
            queue,
            shutdown,
            ..
        } = &self.shared;
        let queue = *queue;
        loop {
            let consumer = tokio::select! {
                () = shutdown.cancelled() => return None,
                consumer = transport.consume(queue, self.prefetch) => consumer,
            };
            let error = match consumer {
                Ok(deliveries) => {
                    info!(%queue, "consuming");
                    return Some(deliveries);
                }
                Err(error) => error,
            };
            let wait = self.waits.next().unwrap_or(Policy::CONSUME.longest);
            warn!(%error, %queue, retry_in_ms = wait.as_millis() as u64, "cannot consume");
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Finishes what is in flight within [`GRACE`]; unacknowledged
    /// prefetched deliveries return to the queue when the caller closes the
    /// connection.
    async fn drain(mut self) {
        let in_flight = &mut self.in_flight;
        let drained = tokio::time::timeout(GRACE, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                left = self.in_flight.len(),
                "grace period over: unfinished deliveries go back to the queue"
            );
            self.in_flight.abort_all();
        }
        drop(self.current);
    }
}

/// Runs a handler on each delivery of `deliveries`, as many at once as there
/// are permits, until shutdown or the consumer breaks.
async fn pump(
    shared: &Shared,
    in_flight: &mut JoinSet<()>,
    deliveries: &mut crate::transport::Deliveries,
    waits: &mut Waits,
) -> Pumped {
    let queue = shared.queue;
    loop {
        let permit = tokio::select! {
            () = shared.shutdown.cancelled() => return Pumped::Shutdown,
            permit = shared.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Pumped::Shutdown,
            },
        };
        let delivery = tokio::select! {
            () = shared.shutdown.cancelled() => return Pumped::Shutdown,
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    warn!(%error, %queue, "consumer broke: rebuilding it");
                    return Pumped::Broken;
                }
                None => {
                    warn!(%queue, "consumer ended: rebuilding it");
                    return Pumped::Broken;
                }
            },
        };
        *waits = Policy::CONSUME.waits();
        let (handler, transport) = (shared.handler.clone(), shared.transport.clone());
        in_flight.spawn(async move {
            let slot = Slot { _permit: permit };
            dispose(&*handler, &*transport, queue, delivery, slot).await;
        });
        while in_flight.try_join_next().is_some() {}
    }
}

async fn dispose(
    handler: &dyn Handler,
    transport: &dyn Transport,
    queue: Queue,
    delivery: Delivery,
    slot: Slot,
) {
    let disposition = handler
        .handle(&delivery.data, delivery.redelivered, slot)
        .await;
    let acked = match &disposition {
        Disposition::Ack => delivery.acker.ack().await,
        Disposition::Retry => delivery.acker.reject(true).await,
        Disposition::Poison(reason) => {
            crate::telemetry::dead_lettered(queue.as_str());
            match transport
                .dead_letter(queue, delivery.data.clone(), reason.clone())
                .await
            {
                Ok(()) => delivery.acker.ack().await,
                // RabbitMQ dead-letters a rejected message itself, without our reason.
                Err(error) => {
                    warn!(%error, "could not dead-letter with a reason: rejecting");
                    delivery.acker.reject(false).await
                }
            }
        }
    };
    match acked {
        Ok(()) => debug!(%disposition, "disposed"),
        // The channel is gone: the broker redelivers the message; the handlers are idempotent.
        Err(error) => warn!(%error, %disposition, "could not acknowledge a delivery"),
    }
}

/// Decodes a message body with `decoder` (e.g.
/// [`crate::message::decode_completions`]), or says it is poison (with the
/// reason, logged): `what` names the message kind ("task", "completion").
pub fn decode_with<T>(
    data: &[u8],
    what: &str,
    decoder: impl FnOnce(&[u8]) -> Result<T, crate::message::MessageError>,
) -> Result<T, Disposition> {
    decoder(data).map_err(|error| {
        warn!(%error, what, "undecodable message: dead-lettering it");
        Disposition::Poison(format!("undecodable {what}: {error}"))
    })
}
