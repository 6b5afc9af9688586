//! What the nodes sharing a database keep there besides the data: the replay records of signed
//! requests, and the register of every node's audit log. Neither is part of the store contract
//! (an embedded store has one node, which keeps both to itself), so they are methods of
//! [`PgStore`] that the server uses when it runs on PostgreSQL.
//!
//! **Replay records** are written by every signed request, so their statement is one round
//! trip: an insert that writes the row when the (access key, fingerprint) is new or its record
//! has expired, and otherwise changes nothing. Two nodes seeing one request at once queue on the
//! primary key; the second finds the first's row. Only when a TC3 signature is seen again does a
//! second statement read what it was first used for. These commits do not wait for the disk
//! (`synchronous_commit = off` on their own connections): if PostgreSQL itself crashes, the
//! records of its last moments (at most three `wal_writer_delay`s, 0.6 s by default) can be
//! lost, and the requests they record could be replayed for the rest of their window. A crash
//! of coffer, or of a node, loses nothing.

use coffer_core::*;

use super::rows::{all, col, exec, limit_sql, opt, pg_error};
use super::{pg_read, PgStore};

/// What [`PgStore::record_replay`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayRecord {
    /// Nothing live had the fingerprint; it is recorded now.
    Recorded,
    /// A live record has it, with what it was first used for (when asked for, and still
    /// there when read).
    Seen(Option<Vec<u8>>),
}

/// One node's audit log as the database knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    /// The MAC of the log's first line, which names the log.
    pub chain: String,
    /// The node that last wrote it.
    pub node: String,
    /// Where it lives: the node's host and the log's path.
    pub location: String,
    /// The last line that node reported, which the log must still hold.
    pub last_seq: u64,
    pub last_mac: String,
    /// When it was last reported, in Unix milliseconds.
    pub updated_ms: i64,
}

impl PgStore {
    /// Records that `access_key` used `fingerprint` (a nonce or signature, fingerprinted by the
    /// caller), with `first_use`, until `expires_at` (Unix seconds), unless a record that is
    /// still live at `now` has it. With `fetch_first_use`, a live record's `first_use` is read
    /// back (a second statement).
    pub async fn record_replay(
        &self,
        access_key: &str,
        fingerprint: &[u8],
        first_use: &[u8],
        now: i64,
        expires_at: i64,
        fetch_first_use: bool,
    ) -> Result<ReplayRecord> {
        self.bounded("record a signed request", async {
            let c = self.conn_from(&self.replay_pool).await?;
            let recorded = opt(
                &c,
                "INSERT INTO replay_records AS r (access_key, fingerprint, first_use, expires_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (access_key, fingerprint) DO UPDATE \
                   SET first_use = EXCLUDED.first_use, expires_at = EXCLUDED.expires_at \
                   WHERE r.expires_at <= $5 \
                 RETURNING 1",
                &[&access_key, &fingerprint, &first_use, &expires_at, &now],
            )
            .await
            .map_err(|e| pg_error("record a signed request", e))?;
            if recorded.is_some() {
                return Ok(ReplayRecord::Recorded);
            }
            if !fetch_first_use {
                return Ok(ReplayRecord::Seen(None));
            }
            let row = opt(
                &c,
                "SELECT first_use FROM replay_records \
                 WHERE access_key = $1 AND fingerprint = $2 AND expires_at > $3",
                &[&access_key, &fingerprint, &now],
            )
            .await
            .map_err(|e| pg_error("read a signed request's first use", e))?;
            Ok(ReplayRecord::Seen(match row {
                Some(r) => Some(col::<Vec<u8>>(&r, 0)?),
                None => None,
            }))
        })
        .await
    }

    /// Deletes up to `limit` replay records that expired at or before `now` (Unix seconds), and
    /// lease rows that lapsed over an hour ago (those of rotation tasks whose node died). Nodes
    /// sweeping at once take different rows. Returns the replay records deleted.
    pub async fn sweep_cluster_records(&self, now: i64, limit: u32) -> Result<u64> {
        pg_read!(self, "sweep expired replay records", |c| async {
            let n = exec(
                &c,
                "DELETE FROM replay_records WHERE (access_key, fingerprint) IN ( \
                   SELECT access_key, fingerprint FROM replay_records \
                   WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 \
                   FOR UPDATE SKIP LOCKED)",
                &[&now, &limit_sql(limit)],
            )
            .await
            .map_err(|e| pg_error("sweep expired replay records", e))?;
            exec(
                &c,
                "DELETE FROM leases WHERE valid_until < clock_timestamp() - interval '1 hour'",
                &[],
            )
            .await
            .map_err(|e| pg_error("sweep lapsed leases", e))?;
            Ok(n)
        })
        .await
    }

    /// How many replay records are kept now (expired ones not yet swept included).
    pub async fn replay_record_count(&self) -> Result<u64> {
        pg_read!(self, "count replay records", |c| async {
            let row = opt(&c, "SELECT COUNT(*) FROM replay_records", &[])
                .await
                .map_err(|e| pg_error("count replay records", e))?
                .ok_or_else(|| Error::internal("postgres: a count returned no row"))?;
            Ok(col::<i64>(&row, 0)?.max(0) as u64)
        })
        .await
    }

    /// Records how far a node's audit log reaches. A report older than the one stored (a lower
    /// `last_seq`) changes nothing, so the register only moves forward.
    pub async fn record_audit_chain(
        &self,
        chain: &str,
        node: &str,
        location: &str,
        last_seq: u64,
        last_mac: &str,
    ) -> Result<()> {
        let seq = i64::try_from(last_seq)
            .map_err(|_| Error::internal("an audit log's line number is out of range"))?;
        pg_read!(self, "record an audit log's head", |c| async {
            exec(
                &c,
                "INSERT INTO audit_chains AS a (chain, node, location, last_seq, last_mac, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, clock_timestamp()) \
                 ON CONFLICT (chain) DO UPDATE \
                   SET node = EXCLUDED.node, location = EXCLUDED.location, \
                       last_seq = EXCLUDED.last_seq, last_mac = EXCLUDED.last_mac, \
                       updated_at = EXCLUDED.updated_at \
                   WHERE a.last_seq <= EXCLUDED.last_seq",
                &[&chain, &node, &location, &seq, &last_mac],
            )
            .await
            .map_err(|e| pg_error("record an audit log's head", e))?;
            Ok(())
        })
        .await
    }

    /// Every node's audit log the database knows of, by location.
    pub async fn audit_chains(&self) -> Result<Vec<AuditChain>> {
        pg_read!(self, "list audit logs", |c| all(
            &c,
            "list audit logs",
            "SELECT chain, node, location, last_seq, last_mac, \
                    (extract(epoch FROM updated_at) * 1000)::bigint \
             FROM audit_chains ORDER BY location, chain",
            &[],
            |r| {
                Ok(AuditChain {
                    chain: col(r, 0)?,
                    node: col(r, 1)?,
                    location: col(r, 2)?,
                    last_seq: col::<i64>(r, 3)?.max(0) as u64,
                    last_mac: col(r, 4)?,
                    updated_ms: col(r, 5)?,
                })
            }
        ))
        .await
    }
}
