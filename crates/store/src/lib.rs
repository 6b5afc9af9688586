//! Implementations of [`coffer_core::Store`].
//!
//! - [`SqliteStore`]: the embedded default. One file, WAL, `synchronous=FULL`, one writer
//!   thread that commits queued writes in batches (group commit), a pool of read-only
//!   connections for reads.
//! - [`PgStore`]: PostgreSQL, for several coffer nodes sharing one database (every node
//!   reads and writes). Same contract, same answers; no read cache (see [`postgres`]).
//! - [`FileAuditLog`]: the tamper-evident audit log, a hash-chained file (see [`audit`]).
//! - [`backup`]: backup files, which carry a whole store of either kind to either kind.
//!
//! [`conformance`] holds the contract tests every store must pass; each store's own tests
//! call them with fresh instances.

mod access_days;
pub mod audit;
pub mod backup;
mod batch;
mod cache;
mod checkpoint;
pub mod conformance;
pub mod postgres;
mod readers;
mod sqlite;
pub mod testkit;
mod writer;

pub use audit::FileAuditLog;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{SqliteDurability, SqliteOptions, SqliteStore};
pub use writer::WriterStats;
