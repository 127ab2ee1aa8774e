//! How a store call fails, apart from the store seam itself so that the
//! politeness seam (which the store hands out) can name it too.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis failed, or could not be reached.
    #[error("Redis: {0}")]
    Redis(#[source] redis::RedisError),
    /// The store could not be reached or used.
    #[error("{0}")]
    Unavailable(String),
    /// The store holds data this build cannot read.
    #[error("corrupt crawl data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A Redis error; a lost or refused connection is counted as a reconnect
    /// (the connection manager makes the connection again).
    pub fn redis(error: redis::RedisError) -> Self {
        if error.is_connection_dropped() || error.is_connection_refusal() {
            crate::telemetry::reconnect("redis");
        }
        Self::Redis(error)
    }
}

impl crate::retry::Transient for StoreError {
    /// An unavailable store may come back, and Redis says which of its
    /// errors may pass (a lost connection: yes; a script error: no);
    /// corrupt data stays corrupt.
    fn is_transient(&self) -> bool {
        match self {
            Self::Redis(error) => !matches!(error.retry_method(), redis::RetryMethod::NoRetry),
            Self::Unavailable(_) => true,
            Self::Corrupt(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Transient as _;

    #[test]
    fn redis_says_which_of_its_errors_may_pass() {
        let dropped =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(StoreError::Redis(dropped).is_transient());
        let bad_reply =
            redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "a bad reply"));
        assert!(!StoreError::Redis(bad_reply).is_transient());
        assert!(!StoreError::Corrupt("x".into()).is_transient());
    }
}
