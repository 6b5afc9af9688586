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
//!
//! Under load the inserts of concurrent requests travel together: a request hands its record
//! to this node's replay writer (a task of its own) and waits for the answer; the writer takes
//! every record waiting, inserts them in one statement (`unnest` of their columns, in key
//! order so that two nodes' batches never wait for each other in a cycle) and answers each
//! from the rows the statement returned. A record's insert still begins after its request
//! arrived, so two nodes seeing one request still queue on its row. Two records of one batch
//! with the same key are not inserted together: the second waits for the next batch, where it
//! finds the first. A batch judges expiry by the earliest `now` among its records: a record
//! that expired within that second may be taken as live (the request refused as a replay),
//! never the other way.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use coffer_core::*;
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::rows::{all, col, exec, limit_sql, opt, pg_error};
use super::{pg_read, PgStore};

/// Most records inserted by one statement.
const REPLAY_BATCH: usize = 256;
/// Batches in flight at once on one node.
const REPLAY_BATCHES_IN_FLIGHT: usize = 4;

/// A record waiting for the replay writer, with where to send whether it was recorded.
struct PendingRecord {
    access_key: String,
    fingerprint: Vec<u8>,
    first_use: Vec<u8>,
    now: i64,
    expires_at: i64,
    answer: oneshot::Sender<Result<bool>>,
}

/// The sending side of this node's replay writer, started on first use.
#[derive(Default)]
pub(super) struct ReplayWriter(OnceLock<mpsc::UnboundedSender<PendingRecord>>);

impl ReplayWriter {
    fn sender(
        &self,
        pool: &Pool,
        bound: std::time::Duration,
    ) -> &mpsc::UnboundedSender<PendingRecord> {
        self.0.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_replay_writer(pool.clone(), bound, rx));
            tx
        })
    }
}

/// The replay writer: batches what is waiting and inserts it, up to
/// [`REPLAY_BATCHES_IN_FLIGHT`] batches at once. Ends when the store is dropped.
async fn run_replay_writer(
    pool: Pool,
    bound: std::time::Duration,
    mut rx: mpsc::UnboundedReceiver<PendingRecord>,
) {
    let slots = Arc::new(Semaphore::new(REPLAY_BATCHES_IN_FLIGHT));
    let mut held_over: Vec<PendingRecord> = vec![];
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = std::mem::take(&mut held_over);
        if batch.is_empty() {
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
        }
        while batch.len() < REPLAY_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        // One record per key in a statement (ON CONFLICT may touch a row once); the others
        // go in the next batch.
        let mut keys = HashSet::new();
        let (batch, again): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|r| keys.insert((r.access_key.clone(), r.fingerprint.clone())));
        held_over = again;
        let pool = pool.clone();
        tokio::spawn(async move {
            let _slot = slot;
            insert_batch(&pool, bound, batch).await;
        });
    }
}

/// Inserts one batch and answers each of its records.
async fn insert_batch(pool: &Pool, bound: std::time::Duration, mut batch: Vec<PendingRecord>) {
    batch.sort_by(|a, b| (&a.access_key, &a.fingerprint).cmp(&(&b.access_key, &b.fingerprint)));
    let now = batch.iter().map(|r| r.now).min().unwrap_or(0);
    let keys: Vec<&str> = batch.iter().map(|r| r.access_key.as_str()).collect();
    let fingerprints: Vec<&[u8]> = batch.iter().map(|r| r.fingerprint.as_slice()).collect();
    let first_uses: Vec<&[u8]> = batch.iter().map(|r| r.first_use.as_slice()).collect();
    let expiries: Vec<i64> = batch.iter().map(|r| r.expires_at).collect();
    let inserted = tokio::time::timeout(bound, async {
        let c = pool
            .get()
            .await
            .map_err(|e| super::rows::unavailable("record signed requests", e))?;
        super::rows::rows(
            &c,
            "INSERT INTO replay_records AS r (access_key, fingerprint, first_use, expires_at) \
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bigint[]) \
             ON CONFLICT (access_key, fingerprint) DO UPDATE \
               SET first_use = EXCLUDED.first_use, expires_at = EXCLUDED.expires_at \
               WHERE r.expires_at <= $5 \
             RETURNING access_key, fingerprint",
            &[&keys, &fingerprints, &first_uses, &expiries, &now],
        )
        .await
        .map_err(|e| pg_error("record signed requests", e))
    })
    .await;
    let recorded: Result<HashSet<(String, Vec<u8>)>> = match inserted {
        Ok(Ok(rows)) => rows
            .iter()
            .map(|r| Ok((col::<String>(r, 0)?, col::<Vec<u8>>(r, 1)?)))
            .collect(),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(super::rows::timed_out(
            "record signed requests",
            "the database did not answer in time",
        )),
    };
    for r in batch {
        let answer = match &recorded {
            Ok(set) => Ok(set.contains(&(r.access_key, r.fingerprint))),
            Err(e) => Err(same_error(e)),
        };
        // A request that gave up waiting no longer listens.
        let _ = r.answer.send(answer);
    }
}

/// The error of a batch, for each of its records.
fn same_error(e: &Error) -> Error {
    match e {
        Error::Unavailable { reason } => Error::Unavailable {
            reason: reason.clone(),
        },
        Error::Conflict => Error::Conflict,
        other => Error::internal(other.to_string()),
    }
}

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
            let (answer, answered) = oneshot::channel();
            let pending = PendingRecord {
                access_key: access_key.to_string(),
                fingerprint: fingerprint.to_vec(),
                first_use: first_use.to_vec(),
                now,
                expires_at,
                answer,
            };
            self.replay_writer
                .sender(&self.replay_pool, self.options.operation_timeout)
                .send(pending)
                .map_err(|_| Error::internal("postgres: the replay writer stopped"))?;
            let recorded = answered
                .await
                .map_err(|_| Error::internal("postgres: the replay writer dropped a record"))??;
            if recorded {
                return Ok(ReplayRecord::Recorded);
            }
            if !fetch_first_use {
                return Ok(ReplayRecord::Seen(None));
            }
            let c = self.conn_from(&self.replay_pool).await?;
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
