//! Leases on SQLite. One process owns the database file (it holds `coffer.db.lock`), so no
//! other node can ask for a lease: every lease is held by whoever asks, and nothing is stored.

use async_trait::async_trait;
use coffer_core::store::LeaseStore;
use coffer_core::Result;

use super::SqliteStore;

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn try_acquire_lease(&self, _name: &str, _holder: &str, _ttl_ms: u64) -> Result<bool> {
        Ok(true)
    }

    async fn release_lease(&self, _name: &str, _holder: &str) -> Result<()> {
        Ok(())
    }

    fn leases_are_shared(&self) -> bool {
        false
    }
}
