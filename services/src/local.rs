//! Local mode assembled: the worker's and the aggregator's own code on the
//! in-memory transport and store, in this process, like Dask's `Client()`
//! with a local cluster. Extraction, the link rule, limits and results are
//! those of a distributed crawl; only the seams' adapters differ.
//!
//! A [`LocalCluster`] is started, used through its [`store`](LocalCluster::store)
//! and [`transport`](LocalCluster::transport) like the distributed stack's
//! Redis and RabbitMQ, and ended with [`shutdown`](LocalCluster::shutdown)
//! (let the services drain) or [`abort`](LocalCluster::abort) (drop what is
//! in flight, so the store holds still).

use std::sync::Arc;

use crawlq_core::memory::MemoryStore;
use crawlq_core::memory::MemoryTransport;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::aggregator::{self, AggregatorConfig};
use crate::worker::{self, WorkerConfig};

/// A service running in this process.
type Service = JoinHandle<anyhow::Result<()>>;

/// One worker and one aggregator on a memory transport and store of their own.
pub struct LocalCluster {
    store: Arc<MemoryStore>,
    transport: Arc<MemoryTransport>,
    stop: CancellationToken,
    worker: Service,
    aggregator: Service,
    /// Dropping the cluster stops its services.
    _stop_on_drop: DropGuard,
}

impl LocalCluster {
    /// Starts both services; they run until [`shutdown`](Self::shutdown) or
    /// [`abort`](Self::abort). Must be called within a Tokio runtime.
    pub fn start(worker: &WorkerConfig, aggregator: &AggregatorConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let transport = Arc::new(MemoryTransport::new());
        let stop = CancellationToken::new();
        let worker = tokio::spawn({
            let (config, transport, store, stop) = (
                worker.clone(),
                transport.clone(),
                store.clone(),
                stop.clone(),
            );
            async move { worker::run(&config, transport, store, stop).await }
        });
        let aggregator = tokio::spawn({
            let (config, transport, store, stop) = (
                aggregator.clone(),
                transport.clone(),
                store.clone(),
                stop.clone(),
            );
            async move { aggregator::run(&config, transport, store, stop).await }
        });
        Self {
            store,
            transport,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            worker,
            aggregator,
        }
    }

    /// The crawl state, as Redis holds it in a distributed crawl.
    pub fn store(&self) -> &Arc<MemoryStore> {
        &self.store
    }

    /// The queues, as RabbitMQ holds them in a distributed crawl.
    pub fn transport(&self) -> &Arc<MemoryTransport> {
        &self.transport
    }

    /// Resolves when either service ends, which before [`shutdown`](Self::shutdown)
    /// is always an error (no HTTP client, say): the error says which and why.
    /// Once it has resolved, drop the cluster.
    pub async fn failed(&mut self) -> anyhow::Error {
        tokio::select! {
            outcome = &mut self.worker => stopped("worker", outcome),
            outcome = &mut self.aggregator => stopped("aggregator", outcome),
        }
    }

    /// Stops both services after their in-flight work, and waits for them.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::join!(self.worker, self.aggregator);
    }

    /// Stops both services at once: fetches in flight are cancelled and
    /// nothing more is applied, so the store holds still for a last snapshot.
    pub async fn abort(self) {
        self.worker.abort();
        self.aggregator.abort();
        let _ = tokio::join!(self.worker, self.aggregator);
    }
}

fn stopped(name: &str, outcome: Result<anyhow::Result<()>, JoinError>) -> anyhow::Error {
    match outcome {
        Ok(Err(error)) => error.context(format!("local {name} failed")),
        Ok(Ok(())) => anyhow::anyhow!("local {name} stopped before the crawl finished"),
        Err(error) => anyhow::anyhow!("local {name} crashed: {error}"),
    }
}
