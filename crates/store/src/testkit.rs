//! A real service on a real store, for the tests of the crates above this one: a fresh
//! SQLite database, a clock the test moves, and one admin access key; and [`pg`], throwaway
//! PostgreSQL databases for the tests of the PostgreSQL store.

use std::path::Path;
use std::sync::Arc;

use coffer_core::{Limits, ManualClock, Service, Store, Timestamp};

use crate::{SqliteOptions, SqliteStore};

/// 2026-11-23T00:00:00Z, where test clocks start.
pub const START_SECS: i64 = 1_795_392_000;

/// A service whose database lives in `dir` and whose clock starts at [`START_SECS`], with
/// the admin access key `key_id`/`key_secret`.
pub async fn clocked_service(
    dir: &Path,
    key_id: &str,
    key_secret: &str,
) -> coffer_core::Result<(Arc<Service>, Arc<ManualClock>)> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(
        &dir.join("coffer.db"),
        SqliteOptions::default(),
    )?);
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(START_SECS)));
    let service = Arc::new(Service::new(
        store,
        coffer_crypto::SecretKey::generate(),
        clock.clone(),
        Limits::default(),
    ));
    service
        .bootstrap(
            Some(key_id.to_string()),
            Some(zeroize::Zeroizing::new(key_secret.to_string())),
        )
        .await?;
    Ok((service, clock))
}

pub mod pg;
