//! crawlq's services as a library: the [`worker`], the [`aggregator`], and
//! [`local`], which assembles both on the in-memory transport and store (local
//! mode, and the in-process test tier). The `worker` and `aggregator`
//! binaries are thin `main.rs` files over this crate; the producer reaches the
//! services only through [`local`].

pub mod aggregator;
pub mod local;
pub mod worker;
