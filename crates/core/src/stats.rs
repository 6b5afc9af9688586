//! Measurements of the parts below the server (the audit log writer, the stores, the read
//! cache, rotations), kept in process-wide handles that the server's `/metrics` registers.
//!
//! Process-wide rather than passed down: these parts are built in many places (tests, the
//! backup and migrate commands) that have no registry, and a process serves one store and
//! one audit log. Every handle is an atomic counter or gauge, or a histogram updated once
//! per batch (never per request), so recording costs no allocation.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// Latency buckets in seconds, from 100 µs (a cached read) to 10 s (a stalled disk or
/// database).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// Batch size buckets (requests per group commit, entries per audit write).
pub const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn batch() -> Histogram {
    Histogram::new(BATCH_BUCKETS)
}

/// The store a measurement is of.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabel {
    pub backend: &'static str,
}

/// How a rotation the scheduler drove ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabel {
    /// `succeeded`, `retrying` (a step failed; it is tried again later) or `failed`.
    pub outcome: &'static str,
}

/// Audit entries handed to the writer and not yet written.
pub static AUDIT_QUEUE_DEPTH: LazyLock<Gauge> = LazyLock::new(Gauge::default);
/// How long each `sync_data` of the audit log took.
pub static AUDIT_SYNC_SECONDS: LazyLock<Histogram> = LazyLock::new(latency);
/// Entries per audit write (one `write_all`, at most one sync).
pub static AUDIT_BATCH_ENTRIES: LazyLock<Histogram> = LazyLock::new(batch);

/// Requests per committed write transaction (the SQLite writer's group commit; 1 for each
/// PostgreSQL transaction).
pub static STORE_COMMIT_BATCH_SIZE: LazyLock<Family<BackendLabel, Histogram>> =
    LazyLock::new(|| Family::new_with_constructor(batch));
/// How long a write transaction's commit took (SQLite: BEGIN to COMMIT of the batch;
/// PostgreSQL: the COMMIT).
pub static STORE_COMMIT_SECONDS: LazyLock<Family<BackendLabel, Histogram>> =
    LazyLock::new(|| Family::new_with_constructor(latency));
/// Write transactions that failed and were rolled back.
pub static STORE_COMMIT_FAILURES: LazyLock<Family<BackendLabel, Counter>> =
    LazyLock::new(Family::default);

/// Reads the read cache answered.
pub static READ_CACHE_HITS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Reads the read cache could not answer (they went to the database).
pub static READ_CACHE_MISSES: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Rotations the scheduler drove (due automatic rotations, resumed and retried tasks), by
/// outcome.
pub static ROTATIONS: LazyLock<Family<RotationLabel, Counter>> = LazyLock::new(Family::default);

/// Records one committed write transaction.
pub fn commit(backend: &'static str, requests: usize, seconds: f64) {
    let label = BackendLabel { backend };
    STORE_COMMIT_BATCH_SIZE
        .get_or_create(&label)
        .observe(requests as f64);
    STORE_COMMIT_SECONDS.get_or_create(&label).observe(seconds);
}

/// Records one failed write transaction.
pub fn commit_failed(backend: &'static str) {
    STORE_COMMIT_FAILURES
        .get_or_create(&BackendLabel { backend })
        .inc();
}
