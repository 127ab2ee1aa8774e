//! The consumer loop the worker and the aggregator share: take deliveries
//! from one queue, run at most `concurrency` handlers at once, and turn each
//! handler's [`Disposition`] into an ack, a requeue or a dead-letter, here
//! and nowhere else. Shutdown stops taking deliveries and lets in-flight
//! handlers finish (and ack) within a grace period.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::transport::{Delivery, Queue, Transport, TransportError};

/// How long in-flight handlers get to finish after shutdown is requested
/// (under docker's 10 s stop timeout).
pub const GRACE: Duration = Duration::from_secs(8);

/// What to do with a delivery once its handler has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Its effects are durable: remove it.
    Ack,
    /// A passing failure (store or broker hiccup): put it back for another try.
    Retry,
    /// It can never succeed (undecodable): dead-letter it.
    Poison,
}

/// Processes one message.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one message body and says what to do with it.
    async fn handle(&self, data: &[u8], redelivered: bool) -> Disposition;
}

/// Consumes `queue` until `shutdown` is cancelled or the consumer stops.
/// Returns an error when the broker ends the stream (connection lost).
pub async fn serve(
    transport: Arc<dyn Transport>,
    queue: Queue,
    concurrency: usize,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) -> Result<(), TransportError> {
    let prefetch = u16::try_from(concurrency).unwrap_or(u16::MAX);
    let mut deliveries = transport.consume(queue, prefetch).await?;
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut in_flight = JoinSet::new();
    let outcome = loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break Ok(()),
            },
        };
        let delivery = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => break Err(error),
                None => break Err(TransportError::Broker(format!("the {queue:?} consumer was cancelled by the broker"))),
            },
        };
        let handler = handler.clone();
        in_flight.spawn(async move {
            dispose(&*handler, delivery).await;
            drop(permit);
        });
        while in_flight.try_join_next().is_some() {}
    };
    // Finish what is in flight, then drop the stream (closing its channel returns
    // unacknowledged prefetched deliveries to the queue).
    let drained = tokio::time::timeout(GRACE, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            left = in_flight.len(),
            "grace period over: unfinished deliveries go back to the queue"
        );
        in_flight.abort_all();
    }
    drop(deliveries);
    outcome
}

async fn dispose(handler: &dyn Handler, delivery: Delivery) {
    let disposition = handler.handle(&delivery.data, delivery.redelivered).await;
    let acked = match disposition {
        Disposition::Ack => delivery.acker.ack().await,
        Disposition::Retry => delivery.acker.reject(true).await,
        Disposition::Poison => delivery.acker.reject(false).await,
    };
    match acked {
        Ok(()) => debug!(?disposition, "disposed"),
        // The channel is gone: the broker redelivers the message; the handlers are idempotent.
        Err(error) => warn!(%error, ?disposition, "could not acknowledge a delivery"),
    }
}
