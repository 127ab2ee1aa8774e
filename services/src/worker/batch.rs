//! Completions leave the worker in batches: one store call for their results,
//! one broker message, one publisher confirm and one delivery at the
//! aggregator for the completions of a crawl that are ready close together.
//! The first completion of a batch waits up to the linger time for others,
//! but only while other tasks are being fetched or parsed here: a worker with
//! nothing else to do sends it at once. Results are stored before their
//! completions are published, so a task whose result is stored is never
//! fetched again. Every handler still waits for the confirm of the message
//! that carries its completion before it acks its task.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crawlq_core::message::{self, Completion};
use crawlq_core::retry::Transient;
use crawlq_core::store::{Store, StoreError};
use crawlq_core::telemetry;
use crawlq_core::transport::{self, Transport, TransportError};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most completions in one message (bounds its size: a completion with its
/// links is a few KB).
pub const MAX_BATCH: usize = 64;

/// Why a completion was not stored and confirmed. One failure answers every
/// completion of its batch, so the source is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// Storing the batch's results failed.
    #[error("storing results: {0}")]
    Store(#[source] Arc<StoreError>),
    /// Publishing the batch's message failed.
    #[error("publishing completions: {0}")]
    Transport(#[source] Arc<TransportError>),
    /// The publishing task is gone (the worker is stopping).
    #[error("completion publisher stopped")]
    Stopped,
}

impl Transient for BatchError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => error.is_transient(),
            Self::Transport(error) => error.is_transient(),
            Self::Stopped => false,
        }
    }
}

/// A completion waiting for its batch to be confirmed.
struct Pending {
    completion: Completion,
    confirmed: oneshot::Sender<Result<(), BatchError>>,
}

/// Hands completions to the task that publishes them in batches.
pub struct CompletionSender {
    queue: mpsc::UnboundedSender<Pending>,
}

impl CompletionSender {
    /// Starts the publishing task on the current tokio runtime; it ends when
    /// the sender is dropped. `linger` is how long a batch may wait for more.
    pub fn start(
        transport: Arc<dyn Transport>,
        store: Arc<dyn Store>,
        linger: Duration,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let (queue, pending) = mpsc::unbounded_channel();
        runtime.spawn(publish_batches(transport, store, pending, linger));
        Ok(Self { queue })
    }

    /// Stores `completion`'s result and publishes it in the next batch;
    /// returns once the broker confirmed it (or the crawl turned out deleted).
    pub async fn publish(&self, completion: Completion) -> Result<(), BatchError> {
        let (confirmed, confirmation) = oneshot::channel();
        self.queue
            .send(Pending {
                completion,
                confirmed,
            })
            .map_err(|_| BatchError::Stopped)?;
        confirmation.await.map_err(|_| BatchError::Stopped)?
    }
}

async fn publish_batches(
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    mut pending: mpsc::UnboundedReceiver<Pending>,
    linger: Duration,
) {
    let mut ready = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut ready, MAX_BATCH).await > 0 {
        // Wait only while more completions are on their way (pages being
        // fetched or parsed in this process: `telemetry::InFlight`), and
        // never past the linger time.
        let deadline = tokio::time::Instant::now() + linger;
        let busy = || telemetry::activity().in_flight.load(Ordering::Relaxed) > 0;
        while ready.len() < MAX_BATCH && busy() {
            let room = MAX_BATCH - ready.len();
            match tokio::time::timeout_at(deadline, pending.recv_many(&mut ready, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let batches = message::by_crawl(ready.drain(..), |one| one.completion.result.crawl_id);
        for (crawl_id, batch) in batches {
            let (completions, waiting): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|p| (p.completion, p.confirmed))
                .unzip();
            let confirmed = send(&*transport, &*store, crawl_id, completions).await;
            for waiter in waiting {
                // A handler that gave up waiting (shutdown) no longer listens.
                let _ = waiter.send(confirmed.clone());
            }
        }
    }
}

/// Stores a crawl's results, then publishes their completions as one message.
async fn send(
    transport: &dyn Transport,
    store: &dyn Store,
    crawl_id: Uuid,
    completions: Vec<Completion>,
) -> Result<(), BatchError> {
    let results: Vec<_> = completions.iter().map(|c| &c.result).collect();
    let known = store
        .put_results(crawl_id, &results)
        .await
        .map_err(|e| BatchError::Store(Arc::new(e)))?;
    if !known {
        // Deleted: nobody will read these; the tasks are done with.
        return Ok(());
    }
    transport::publish_completions(transport, crawl_id, completions)
        .await
        .map_err(|e| BatchError::Transport(Arc::new(e)))
}
