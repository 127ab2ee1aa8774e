//! The one retry policy. Every retry in crawlq's services (riding out a Redis
//! or RabbitMQ restart while holding a delivery, reconnecting to RabbitMQ,
//! rebuilding a consumer, waiting for the dependencies at start-up) is
//! exponential backoff with jitter (`backon`), and retries only an error that
//! says it may pass ([`Transient`]): corrupt data is never retried.
//!
//! Fetch retries are another matter: a page's transient failure goes back
//! through the broker's delay queues (`--max-retries`, `--retry-base-ms`), so
//! that no delivery is held while it waits.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable as _};
use tracing::warn;

/// An error that may pass if the same call is made again.
pub trait Transient {
    /// Whether retrying may help (a server restarting: yes; data this build
    /// cannot read: no).
    fn is_transient(&self) -> bool;
}

/// How long and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first wait.
    pub first: Duration,
    /// The longest wait (waits double up to it).
    pub longest: Duration,
    /// Give up once the waits add up to this; `None`: never.
    pub total: Option<Duration>,
}

impl Policy {
    /// Holding a delivery while its effects cannot be made durable: up to a
    /// minute, then the delivery goes back to the queue.
    pub const HOLD: Self = Self {
        first: Duration::from_millis(100),
        longest: Duration::from_secs(3),
        total: Some(Duration::from_secs(60)),
    };

    /// Reconnecting to RabbitMQ or Redis: up to two minutes.
    pub const RECONNECT: Self = Self {
        first: Duration::from_millis(200),
        longest: Duration::from_secs(5),
        total: Some(Duration::from_secs(120)),
    };

    /// Rebuilding a consumer: until shutdown.
    pub const CONSUME: Self = Self {
        first: Duration::from_millis(200),
        longest: Duration::from_secs(5),
        total: None,
    };

    fn builder(self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.longest)
            .without_max_times()
            .with_total_delay(self.total)
            .with_jitter()
    }

    /// The waits, one per failed try; the iterator ends when the policy gives
    /// up. For loops that also watch for shutdown while they wait.
    pub fn waits(self) -> Waits {
        Waits(self.builder().build())
    }
}

/// The waits of a [`Policy`], one per failed try.
#[derive(Debug)]
pub struct Waits(backon::ExponentialBackoff);

impl Iterator for Waits {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

/// Runs `op` until it succeeds, fails with an error that is not transient, or
/// `policy` gives up; each retry is logged with `what` was being done.
pub async fn retry<T, E, F, Fut>(policy: Policy, what: &str, op: F) -> Result<T, E>
where
    E: std::error::Error + Transient + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    op.retry(policy.builder())
        .when(Transient::is_transient)
        .notify(|error, wait| {
            warn!(%error, what, retry_in_ms = wait.as_millis() as u64, "retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Failure(bool);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failure (transient: {})", self.0)
        }
    }

    impl std::error::Error for Failure {}

    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    const QUICK: Policy = Policy {
        first: Duration::from_millis(1),
        longest: Duration::from_millis(2),
        total: Some(Duration::from_millis(50)),
    };

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let got = retry(QUICK, "test", || async {
            match calls.fetch_add(1, Ordering::Relaxed) {
                0..=2 => Err(Failure(true)),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(got.ok(), Some(3));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried_and_the_policy_gives_up() {
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retry(QUICK, "test", || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(Failure(false))
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1, "never retried");

        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retry(QUICK, "test", || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(Failure(true))
        })
        .await;
        assert!(got.is_err(), "given up after its total");
        assert!(calls.load(Ordering::Relaxed) > 2);
        assert!(
            Policy::CONSUME.waits().take(100).count() == 100,
            "never gives up"
        );
    }
}
