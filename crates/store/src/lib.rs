//! Implementations of [`coffer_core::Store`].
//!
//! - [`SqliteStore`]: the embedded default. One file, WAL, `synchronous=FULL`, one writer
//!   thread that commits queued writes in batches (group commit), a pool of readers.
//!
//! [`conformance`] holds the contract tests every store must pass.

pub mod conformance;
mod schema;
mod sqlite;

pub use sqlite::{SqliteOptions, SqliteStore};
