//! How a store call fails, apart from the store seam itself so that the
//! politeness seam (which the store hands out) can name it too.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered with an error.
    #[error("{0}")]
    Unavailable(String),
    /// The store holds data this build cannot read.
    #[error("corrupt crawl data: {0}")]
    Corrupt(String),
}

impl crate::retry::Transient for StoreError {
    /// An unavailable store may come back; corrupt data stays corrupt.
    fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
