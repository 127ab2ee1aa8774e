//! The worker's concurrency model, in one place. A newcomer's map:
//!
//! - **Task messages** come from RabbitMQ through
//!   [`crawlq_core::consume::serve`]. At most
//!   [`MESSAGES_STARTING`] messages are *starting* at once: a message holds
//!   its consumer slot only until every one of its tasks has a fetch slot,
//!   so the next message is taken when there is room to start its tasks.
//! - **Prefetch** (`--prefetch`, default half the concurrency) bounds the
//!   messages held unacknowledged: those starting, those whose tasks are
//!   being fetched, and those whose completions wait for their batch's
//!   publisher confirm. A message is acked only when all its tasks are
//!   durable.
//! - **Fetch slots** (`--concurrency`, default 32 per core) bound the fetches
//!   in flight in this process, whether a task came in a message or was
//!   handed out by its host's queue (`polite.rs`). A task takes one before
//!   asking its host for a lane and gives it back once its page is parsed,
//!   before its result is stored and confirmed.
//! - **Parse slots** (`--parse-threads`, default one per core) bound the
//!   pages parsed at once on tokio's blocking threads; parsing is the
//!   worker's CPU-bound step.
//! - **In flight** (`crawlq_core::telemetry::InFlight`) counts the tasks
//!   being fetched or parsed in this process, for the metrics and logs; a
//!   completion batch (`batch.rs`) waits for more completions (up to the
//!   linger time) only while some are.
//!
//! Per-host limits across the fleet (lanes, delays) come on top, from
//! Redis (`polite.rs`); they hold no slot of this process while a task
//! waits in its host's queue.

use std::sync::Arc;

use crawlq_core::consume::Capacity;
use tokio::sync::Semaphore;

use crate::worker::WorkerConfig;

/// Task messages whose tasks are waiting for fetch slots at once.
pub const MESSAGES_STARTING: usize = 4;

/// The worker's own pools.
pub struct Slots {
    /// Fetches in flight in this process (`--concurrency`).
    pub fetch: Arc<Semaphore>,
    /// Pages parsed at once (`--parse-threads`).
    pub parse: Arc<Semaphore>,
}

impl Slots {
    /// The pools `config` asks for.
    pub fn new(config: &WorkerConfig) -> Self {
        let threads = config
            .parse_threads
            .unwrap_or_else(crate::worker::cores)
            .max(1);
        Self {
            fetch: Arc::new(Semaphore::new(config.concurrency())),
            parse: Arc::new(Semaphore::new(threads)),
        }
    }

    /// What the task consumer takes on at once (see the module docs).
    pub fn consumer(config: &WorkerConfig) -> Capacity {
        Capacity {
            concurrency: MESSAGES_STARTING,
            prefetch: config.prefetch(),
        }
    }
}
