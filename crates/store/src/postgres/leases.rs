//! Leases on PostgreSQL: one `leases` row per name, holding the node that has it and until
//! when, by the database's clock (so that the nodes' clocks need not agree). Taking and
//! renewing are one statement: the row is written when it is missing, already ours, or lapsed;
//! otherwise the statement changes nothing and the lease stays with its holder. Two nodes
//! asking at once queue on the row (or its unique index), and the second sees what the first
//! committed.

use async_trait::async_trait;
use coffer_core::store::LeaseStore;
use coffer_core::*;

use super::rows::{exec, opt, pg_error};
use super::{pg_read, PgStore};

#[async_trait]
impl LeaseStore for PgStore {
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> Result<bool> {
        let ttl_ms = ttl_ms as f64;
        pg_read!(self, "take a lease", |c| async {
            let row = opt(
                &c,
                "INSERT INTO leases AS l (name, holder, valid_until) \
                 VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond') \
                 ON CONFLICT (name) DO UPDATE \
                   SET holder = EXCLUDED.holder, valid_until = EXCLUDED.valid_until \
                   WHERE l.holder = EXCLUDED.holder OR l.valid_until <= clock_timestamp() \
                 RETURNING 1",
                &[&name, &holder, &ttl_ms],
            )
            .await
            .map_err(|e| pg_error("take a lease", e))?;
            Ok(row.is_some())
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        pg_read!(self, "give a lease back", |c| async {
            exec(
                &c,
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await
            .map_err(|e| pg_error("give a lease back", e))?;
            Ok(())
        })
        .await
    }

    fn leases_are_shared(&self) -> bool {
        true
    }
}
