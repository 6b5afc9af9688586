//! Implementations of [`coffer_core::Store`].
//!
//! - [`SqliteStore`]: the embedded default. One file, WAL, `synchronous=FULL`, one writer
//!   thread that commits queued writes in batches (group commit), a pool of read-only
//!   connections for reads.
//! - [`FileAuditLog`]: the tamper-evident audit log, a hash-chained file (see [`audit`]).
//!
//! [`conformance`] holds the contract tests every store must pass; each store's own tests
//! call them with fresh instances.

pub mod audit;
mod batch;
mod cache;
mod checkpoint;
pub mod conformance;
mod readers;
mod sqlite;
pub mod testkit;
mod writer;

pub use audit::FileAuditLog;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use writer::WriterStats;
