//! The embedded store. Durability and throughput come from group commit: one writer thread
//! owns the only write connection, takes every queued write, runs each inside its own
//! savepoint of one transaction, commits once (one fsync for the batch) and only then answers
//! the callers. Reads run on a pool of read-only connections off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use uuid::Uuid;

use crate::schema::MIGRATIONS;

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read connections kept open between reads.
    pub read_connections: usize,
    /// Most writes committed together in one transaction.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            read_connections: 8,
            max_batch: 512,
        }
    }
}

/// Sent back by a write once its savepoint ran; called with the outcome of the commit.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_connections: usize,
}

fn internal(context: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("sqlite {context}: {e}"))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    Ok(())
}

impl SqliteStore {
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(|e| internal("open", e))?;
        configure(&conn).map_err(|e| internal("configure", e))?;
        // WAL lets readers proceed during commits; FULL makes each commit durable when it
        // returns (the WAL is fsynced), which is what we promise before answering.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(|e| internal("pragmas", e))?;
        migrate(&mut conn)?;

        let (tx, rx) = mpsc::channel::<Job>();
        let max_batch = options.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("coffer-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch))
            .map_err(|e| internal("writer thread", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_connections: options.read_connections.max(1),
        })
    }

    /// Stops the writer after it has committed every queued write. Later writes fail.
    pub async fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        let handle = self.writer_thread.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Runs `f` in the writer thread, inside a savepoint of the current batch, and returns its
    /// result once the batch's commit is durable.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit: Result<(), String>| {
                let outcome = match commit {
                    Ok(()) => result,
                    Err(e) => Err(internal("commit", e)),
                };
                let _ = reply_tx.send(outcome);
            })
        });
        let sender = self
            .writer
            .lock()
            .map_err(|_| Error::internal("writer lock poisoned"))?
            .clone()
            .ok_or_else(|| Error::internal("the store is closed"))?;
        sender
            .send(job)
            .map_err(|_| Error::internal("the writer thread stopped"))?;
        reply_rx
            .await
            .map_err(|_| Error::internal("the writer dropped a request"))?
    }

    /// Runs `f` on a read-only connection from the pool, on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        let keep = self.read_connections;
        tokio::task::spawn_blocking(move || {
            let pooled = pool.lock().ok().and_then(|mut p| p.pop());
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .map_err(|e| internal("open reader", e))?;
                    configure(&c).map_err(|e| internal("configure reader", e))?;
                    c
                }
            };
            let result = f(&conn);
            if let Ok(mut p) = pool.lock() {
                if p.len() < keep {
                    p.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| internal("reader task", e))?
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| internal("read schema version", e))?;
    if current as usize > MIGRATIONS.len() {
        return Err(Error::internal(format!(
            "the database has schema version {current}, newer than this coffer ({}) knows",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn
            .transaction()
            .map_err(|e| internal("begin migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| internal(&format!("migration {}", i + 1), e))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(|e| internal("record migration", e))?;
        tx.commit().map_err(|e| internal("commit migration", e))?;
        tracing::info!(migration = i + 1, "applied schema migration");
    }
    Ok(())
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT w")
        .map_err(|e| internal("savepoint", e))?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE w")
                .map_err(|e| internal("release", e))?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO w; RELEASE w");
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "could not begin a write batch");
            for job in batch {
                // Run nothing: answer each request with the failure.
                drop(job);
            }
            continue;
        }
        let finishers: Vec<Finish> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if let Err(e) = &commit {
            tracing::error!(error = %e, "a write batch failed to commit");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
    // The channel closed: every queued write was committed above. Fold the WAL into the
    // main file so a stopped server leaves one self-contained database.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

// --- row mapping ----------------------------------------------------------------------------

fn state_parts(state: SecretState) -> (&'static str, Option<i64>) {
    match state {
        SecretState::Enabled => ("enabled", None),
        SecretState::Disabled => ("disabled", None),
        SecretState::PendingDelete { purge_at } => ("pending_delete", Some(purge_at.0)),
    }
}

fn parse_state(s: &str, purge_at: Option<i64>) -> Result<SecretState> {
    match (s, purge_at) {
        ("enabled", _) => Ok(SecretState::Enabled),
        ("disabled", _) => Ok(SecretState::Disabled),
        ("pending_delete", Some(t)) => Ok(SecretState::PendingDelete {
            purge_at: Timestamp(t),
        }),
        _ => Err(Error::internal(format!("unknown secret state {s:?}"))),
    }
}

fn key_state_parts(state: KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Enabled => ("enabled", None),
        KeyState::Disabled => ("disabled", None),
        KeyState::PendingDeletion { delete_at } => ("pending_deletion", Some(delete_at.0)),
    }
}

fn parse_key_state(s: &str, at: Option<i64>) -> Result<KeyState> {
    match (s, at) {
        ("enabled", _) => Ok(KeyState::Enabled),
        ("disabled", _) => Ok(KeyState::Disabled),
        ("pending_deletion", Some(t)) => Ok(KeyState::PendingDeletion {
            delete_at: Timestamp(t),
        }),
        _ => Err(Error::internal(format!("unknown key state {s:?}"))),
    }
}

const SECRET_COLUMNS: &str = "id, account, region, name, kind, description, key_id, state, \
     purge_at, rotation, extended_config, policy, created_at, updated_at, revision";

struct SecretRow {
    id: String,
    account: i64,
    region: String,
    name: String,
    kind: String,
    description: String,
    key_id: String,
    state: String,
    purge_at: Option<i64>,
    rotation: String,
    extended_config: Option<String>,
    policy: Option<String>,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

fn secret_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SecretRow> {
    Ok(SecretRow {
        id: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        name: r.get(3)?,
        kind: r.get(4)?,
        description: r.get(5)?,
        key_id: r.get(6)?,
        state: r.get(7)?,
        purge_at: r.get(8)?,
        rotation: r.get(9)?,
        extended_config: r.get(10)?,
        policy: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        revision: r.get(14)?,
    })
}

impl SecretRow {
    fn into_record(self) -> Result<SecretRecord> {
        Ok(SecretRecord {
            id: Uuid::parse_str(&self.id).map_err(|e| internal("secret id", e))?,
            scope: Scope {
                account: AccountId(self.account as u64),
                region: self.region,
            },
            name: self.name,
            kind: serde_json::from_str(&self.kind).map_err(|e| internal("secret kind", e))?,
            description: self.description,
            key_id: self.key_id,
            tags: vec![],
            state: parse_state(&self.state, self.purge_at)?,
            rotation: serde_json::from_str(&self.rotation).map_err(|e| internal("rotation", e))?,
            extended_config: self.extended_config,
            policy: self.policy,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            revision: self.revision,
            versions: vec![],
        })
    }
}

fn load_tags(conn: &Connection, secret_id: &str) -> Result<Vec<Tag>> {
    let mut st = conn
        .prepare_cached("SELECT key, value FROM secret_tags WHERE secret_id = ?1 ORDER BY position")
        .map_err(|e| internal("prepare tags", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok(Tag {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })
        .map_err(|e| internal("query tags", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read tags", e))
}

fn load_versions(conn: &Connection, secret_id: &str) -> Result<Vec<VersionRecord>> {
    let mut st = conn
        .prepare_cached(
            "SELECT version_id, created_at, kind FROM versions WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(|e| internal("prepare versions", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| internal("query versions", e))?;
    let mut versions = vec![];
    for row in rows {
        let (version_id, created_at, kind) = row.map_err(|e| internal("read version", e))?;
        versions.push(VersionRecord {
            version_id,
            created_at: Timestamp(created_at),
            kind: ValueKind::parse_stored(&kind)
                .ok_or_else(|| Error::internal(format!("unknown value kind {kind:?}")))?,
            stages: vec![],
        });
    }
    let mut st = conn
        .prepare_cached("SELECT stage, version_id FROM stages WHERE secret_id = ?1 ORDER BY stage")
        .map_err(|e| internal("prepare stages", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| internal("query stages", e))?;
    for row in rows {
        let (stage, version_id) = row.map_err(|e| internal("read stage", e))?;
        let stage = Stage::from_stored(&stage)
            .ok_or_else(|| Error::internal(format!("unknown stage {stage:?}")))?;
        if let Some(v) = versions.iter_mut().find(|v| v.version_id == version_id) {
            v.stages.push(stage);
        }
    }
    // Built-ins first, then custom labels by name: a stable order whatever the storage order.
    for v in &mut versions {
        v.stages.sort();
    }
    Ok(versions)
}

fn write_tags(conn: &Connection, secret_id: &str, tags: &[Tag]) -> Result<()> {
    conn.execute("DELETE FROM secret_tags WHERE secret_id = ?1", [secret_id])
        .map_err(|e| internal("clear tags", e))?;
    let mut st = conn
        .prepare_cached(
            "INSERT INTO secret_tags (secret_id, position, key, value) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(|e| internal("prepare tag insert", e))?;
    for (i, t) in tags.iter().enumerate() {
        st.execute(params![secret_id, i as i64, t.key, t.value])
            .map_err(|e| internal("insert tag", e))?;
    }
    Ok(())
}

fn insert_values(
    conn: &Connection,
    record: &SecretRecord,
    values: &[(String, SealedValue)],
) -> Result<()> {
    let id = record.id.to_string();
    let mut st = conn
        .prepare_cached(
            "INSERT INTO versions (secret_id, version_id, seq, created_at, kind, key_id, key_version, \
             wrapped_data_key, ciphertext) VALUES (?1, ?2, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = ?1), ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(|e| internal("prepare version insert", e))?;
    for (version_id, sealed) in values {
        let meta = record
            .version(version_id)
            .ok_or_else(|| Error::internal(format!("value for unknown version {version_id}")))?;
        st.execute(params![
            id,
            version_id,
            meta.created_at.0,
            meta.kind.as_str(),
            sealed.key_id,
            sealed.key_version,
            sealed.envelope.wrapped_data_key,
            sealed.envelope.ciphertext,
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: Resource::Version,
                    name: version_id.clone(),
                }
            } else {
                internal("insert version", e)
            }
        })?;
    }
    Ok(())
}

fn write_stages(conn: &Connection, record: &SecretRecord) -> Result<()> {
    let id = record.id.to_string();
    conn.execute("DELETE FROM stages WHERE secret_id = ?1", [&id])
        .map_err(|e| internal("clear stages", e))?;
    let mut st = conn
        .prepare_cached("INSERT INTO stages (secret_id, stage, version_id) VALUES (?1, ?2, ?3)")
        .map_err(|e| internal("prepare stage insert", e))?;
    for v in &record.versions {
        for s in &v.stages {
            st.execute(params![id, s.to_stored(), v.version_id])
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::invalid("VersionStage", "a stage may mark only one version")
                    } else {
                        internal("insert stage", e)
                    }
                })?;
        }
    }
    Ok(())
}

fn adjust_count(conn: &Connection, scope_account: i64, region: &str, delta: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO secret_counts (account, region, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, region) DO UPDATE SET n = n + excluded.n",
        params![scope_account, region, delta],
    )
    .map_err(|e| internal("count secrets", e))?;
    Ok(())
}

fn apply_secret_write(conn: &Connection, write: SecretWrite) -> Result<()> {
    match write {
        SecretWrite::Create { record, values } => {
            let (state, purge_at) = state_parts(record.state);
            let kind = serde_json::to_string(&record.kind).map_err(|e| internal("kind", e))?;
            let rotation =
                serde_json::to_string(&record.rotation).map_err(|e| internal("rotation", e))?;
            let id = record.id.to_string();
            conn.execute(
                &format!(
                    "INSERT INTO secrets ({SECRET_COLUMNS}, kind_name) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ),
                params![
                    id,
                    record.scope.account.0 as i64,
                    record.scope.region,
                    record.name,
                    kind,
                    record.description,
                    record.key_id,
                    state,
                    purge_at,
                    rotation,
                    record.extended_config,
                    record.policy,
                    record.created_at.0,
                    record.updated_at.0,
                    record.revision,
                    record.kind.type_name(),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists {
                        what: Resource::Secret,
                        name: record.name.clone(),
                    }
                } else {
                    internal("insert secret", e)
                }
            })?;
            adjust_count(conn, record.scope.account.0 as i64, &record.scope.region, 1)?;
            write_tags(conn, &id, &record.tags)?;
            insert_values(conn, &record, &values)?;
            write_stages(conn, &record)
        }
        SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } => {
            let (state, purge_at) = state_parts(record.state);
            let rotation =
                serde_json::to_string(&record.rotation).map_err(|e| internal("rotation", e))?;
            let id = record.id.to_string();
            let changed = conn
                .execute(
                    "UPDATE secrets SET description = ?1, key_id = ?2, state = ?3, purge_at = ?4, \
                     rotation = ?5, extended_config = ?6, policy = ?7, updated_at = ?8, \
                     revision = revision + 1 WHERE id = ?9 AND revision = ?10",
                    params![
                        record.description,
                        record.key_id,
                        state,
                        purge_at,
                        rotation,
                        record.extended_config,
                        record.policy,
                        record.updated_at.0,
                        id,
                        record.revision,
                    ],
                )
                .map_err(|e| internal("update secret", e))?;
            if changed == 0 {
                return Err(Error::Conflict);
            }
            write_tags(conn, &id, &record.tags)?;
            // Stages go first so that removing a version never trips the stage foreign key.
            conn.execute("DELETE FROM stages WHERE secret_id = ?1", [&id])
                .map_err(|e| internal("clear stages", e))?;
            for v in &removed_versions {
                conn.execute(
                    "DELETE FROM versions WHERE secret_id = ?1 AND version_id = ?2",
                    params![id, v],
                )
                .map_err(|e| internal("delete version", e))?;
            }
            insert_values(conn, &record, &new_values)?;
            write_stages(conn, &record)
        }
        SecretWrite::Delete { id, revision } => {
            let id = id.to_string();
            let scope: Option<(i64, String)> = conn
                .query_row(
                    "SELECT account, region FROM secrets WHERE id = ?1 AND revision = ?2",
                    params![id, revision],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| internal("find secret", e))?;
            let Some((account, region)) = scope else {
                return Err(Error::Conflict);
            };
            delete_secret_rows(conn, &id)?;
            adjust_count(conn, account, &region, -1)
        }
    }
}

fn delete_secret_rows(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM stages WHERE secret_id = ?1", [id])
        .map_err(|e| internal("delete stages", e))?;
    conn.execute("DELETE FROM secrets WHERE id = ?1", [id])
        .map_err(|e| internal("delete secret", e))?;
    Ok(())
}

fn load_key(conn: &Connection, id: &str) -> Result<Option<KeyRecord>> {
    let row = conn
        .query_row(
            "SELECT id, account, region, description, state, state_at, is_default, created_at, \
             primary_version FROM keys WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, String>(8)?,
                ))
            },
        )
        .optional()
        .map_err(|e| internal("read key", e))?;
    let Some((id, account, region, description, state, state_at, is_default, created_at, primary)) =
        row
    else {
        return Ok(None);
    };
    let mut st = conn
        .prepare_cached("SELECT alias FROM key_aliases WHERE key_id = ?1 ORDER BY alias")
        .map_err(|e| internal("prepare aliases", e))?;
    let aliases = st
        .query_map([&id], |r| r.get::<_, String>(0))
        .map_err(|e| internal("query aliases", e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| internal("read aliases", e))?;
    let mut st = conn
        .prepare_cached(
            "SELECT id, created_at, wrapped_material FROM key_versions WHERE key_id = ?1 ORDER BY created_at, id",
        )
        .map_err(|e| internal("prepare key versions", e))?;
    let versions = st
        .query_map([&id], |r| {
            Ok(KeyVersion {
                id: r.get(0)?,
                created_at: Timestamp(r.get(1)?),
                wrapped_material: r.get(2)?,
            })
        })
        .map_err(|e| internal("query key versions", e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| internal("read key versions", e))?;
    Ok(Some(KeyRecord {
        id,
        scope: Scope {
            account: AccountId(account as u64),
            region,
        },
        aliases,
        description,
        state: parse_key_state(&state, state_at)?,
        is_default,
        created_at: Timestamp(created_at),
        primary_version: primary,
        versions,
    }))
}

fn key_in_scope(key: Option<KeyRecord>, scope: &Scope) -> Option<KeyRecord> {
    key.filter(|k| &k.scope == scope)
}

/// Appends `AND column IN (?, ?, ...)` for a non-empty list.
fn push_in(sql: &mut String, args: &mut Vec<String>, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    sql.push_str(&format!(" AND {column} IN ("));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('?');
        args.push(v.clone());
    }
    sql.push(')');
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<()> {
        let a = account.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![a.id.0 as i64, a.name, a.created_at.0],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists {
                        what: Resource::Account,
                        name: a.id.to_string(),
                    }
                } else {
                    internal("insert account", e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, name, created_at FROM accounts WHERE id = ?1",
                [id.0 as i64],
                |r| {
                    Ok(Account {
                        id: AccountId(r.get::<_, i64>(0)? as u64),
                        name: r.get(1)?,
                        created_at: Timestamp(r.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(|e| internal("read account", e))
        })
        .await
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| internal("count accounts", e))
        })
        .await
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        let k = key.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO access_keys (id, account, sealed_secret, enabled, admin, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.id,
                    k.account.0 as i64,
                    k.sealed_secret,
                    k.enabled,
                    k.admin,
                    k.created_at.0
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists {
                        what: Resource::AccessKey,
                        name: k.id.clone(),
                    }
                } else {
                    internal("insert access key", e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, account, sealed_secret, enabled, admin, created_at FROM access_keys WHERE id = ?1",
                [id],
                |r| {
                    Ok(AccessKeyRecord {
                        id: r.get(0)?,
                        account: AccountId(r.get::<_, i64>(1)? as u64),
                        sealed_secret: r.get(2)?,
                        enabled: r.get(3)?,
                        admin: r.get(4)?,
                        created_at: Timestamp(r.get(5)?),
                    })
                },
            )
            .optional()
            .map_err(|e| internal("read access key", e))
        })
        .await
    }

    async fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE access_keys SET enabled = ?1 WHERE id = ?2",
                    params![enabled, id],
                )
                .map_err(|e| internal("update access key", e))?;
            if n == 0 {
                return Err(Error::not_found(Resource::AccessKey, id));
            }
            Ok(())
        })
        .await
    }

    async fn create_key(&self, key: &KeyRecord) -> Result<()> {
        let k = key.clone();
        self.write(move |c| {
            let taken = |e: rusqlite::Error| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists { what: Resource::Key, name: k.id.clone() }
                } else {
                    internal("insert key", e)
                }
            };
            let (state, state_at) = key_state_parts(k.state);
            c.execute(
                "INSERT INTO keys (id, account, region, description, state, state_at, is_default, \
                 created_at, primary_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    k.id,
                    k.scope.account.0 as i64,
                    k.scope.region,
                    k.description,
                    state,
                    state_at,
                    k.is_default,
                    k.created_at.0,
                    k.primary_version,
                ],
            )
            .map_err(taken)?;
            for v in &k.versions {
                c.execute(
                    "INSERT INTO key_versions (key_id, id, created_at, wrapped_material) VALUES (?1, ?2, ?3, ?4)",
                    params![k.id, v.id, v.created_at.0, v.wrapped_material],
                )
                .map_err(taken)?;
            }
            for a in &k.aliases {
                c.execute(
                    "INSERT INTO key_aliases (account, region, alias, key_id) VALUES (?1, ?2, ?3, ?4)",
                    params![k.scope.account.0 as i64, k.scope.region, a, k.id],
                )
                .map_err(taken)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_key(&self, scope: &Scope, id: &str) -> Result<Option<KeyRecord>> {
        let (scope, id) = (scope.clone(), id.to_string());
        self.read(move |c| Ok(key_in_scope(load_key(c, &id)?, &scope)))
            .await
    }

    async fn get_key_by_alias(&self, scope: &Scope, alias: &str) -> Result<Option<KeyRecord>> {
        let (scope, alias) = (scope.clone(), alias.to_string());
        self.read(move |c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT key_id FROM key_aliases WHERE account = ?1 AND region = ?2 AND alias = ?3",
                    params![scope.account.0 as i64, scope.region, alias],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| internal("read alias", e))?;
            match id {
                Some(id) => Ok(key_in_scope(load_key(c, &id)?, &scope)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get_default_key(&self, scope: &Scope) -> Result<Option<KeyRecord>> {
        let scope = scope.clone();
        self.read(move |c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT id FROM keys WHERE account = ?1 AND region = ?2 AND is_default = 1",
                    params![scope.account.0 as i64, scope.region],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| internal("read default key", e))?;
            match id {
                Some(id) => load_key(c, &id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {SECRET_COLUMNS} FROM secrets WHERE account = ?1 AND region = ?2 AND name = ?3"
                ))
                .and_then(|mut st| {
                    st.query_row(params![scope.account.0 as i64, scope.region, name], secret_row)
                        .optional()
                })
                .map_err(|e| internal("read secret", e))?;
            let Some(row) = row else { return Ok(None) };
            let id = row.id.clone();
            let mut rec = row.into_record()?;
            rec.tags = load_tags(c, &id)?;
            rec.versions = load_versions(c, &id)?;
            Ok(Some(rec))
        })
        .await
    }

    async fn list_secrets(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>> {
        let (scope, f) = (scope.clone(), filter.clone());
        self.read(move |c| {
            let mut where_sql = String::from(" WHERE s.account = ? AND s.region = ?");
            let mut args: Vec<String> = vec![scope.account.0.to_string(), scope.region.clone()];
            push_in(&mut where_sql, &mut args, "s.name", &f.names);
            push_in(&mut where_sql, &mut args, "s.description", &f.descriptions);
            push_in(&mut where_sql, &mut args, "s.kind_name", &f.kinds);
            if let Some(part) = &f.name_contains {
                where_sql.push_str(" AND instr(s.name, ?) > 0");
                args.push(part.clone());
            }
            for (column, values) in [("t.key", &f.tag_keys), ("t.value", &f.tag_values)] {
                if !values.is_empty() {
                    where_sql.push_str(" AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id");
                    push_in(&mut where_sql, &mut args, column, values);
                    where_sql.push(')');
                }
            }
            match f.pending_delete {
                Some(true) => where_sql.push_str(" AND s.purge_at IS NOT NULL"),
                Some(false) => where_sql.push_str(" AND s.purge_at IS NULL"),
                None => {}
            }
            // The account id travels as text like every other argument; compare it as a number.
            let where_sql = where_sql.replacen("s.account = ?", "s.account = CAST(? AS INTEGER)", 1);
            let unfiltered = f == SecretFilter::default();
            let total: u64 = if unfiltered {
                c.query_row(
                    "SELECT n FROM secret_counts WHERE account = ?1 AND region = ?2",
                    params![scope.account.0 as i64, scope.region],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map_err(|e| internal("read count", e))?
                .unwrap_or(0)
                .max(0) as u64
            } else {
                c.query_row(
                    &format!("SELECT COUNT(*) FROM secrets s{where_sql}"),
                    params_from_iter(args.iter()),
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| internal("count secrets", e))? as u64
            };
            if page.limit == 0 {
                return Ok(Page { items: vec![], total });
            }
            let order = if page.newest_first { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT {} FROM secrets s{where_sql} ORDER BY s.created_at {order}, s.id {order} LIMIT {} OFFSET {}",
                SECRET_COLUMNS
                    .split(", ")
                    .map(|col| format!("s.{col}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                page.limit,
                page.offset.min(i64::MAX as u64),
            );
            let mut st = c.prepare_cached(&sql).map_err(|e| internal("prepare list", e))?;
            let rows = st
                .query_map(params_from_iter(args.iter()), secret_row)
                .map_err(|e| internal("list secrets", e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| internal("read secret row", e))?;
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let id = row.id.clone();
                let mut rec = row.into_record()?;
                rec.tags = load_tags(c, &id)?;
                items.push(rec);
            }
            Ok(Page { items, total })
        })
        .await
    }

    async fn read_value(&self, secret_id: Uuid, version_id: &str) -> Result<Option<SealedValue>> {
        let version_id = version_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT key_id, key_version, wrapped_data_key, ciphertext FROM versions \
                 WHERE secret_id = ?1 AND version_id = ?2",
            )
            .and_then(|mut st| {
                st.query_row(params![secret_id.to_string(), version_id], |r| {
                    Ok(SealedValue {
                        key_id: r.get(0)?,
                        key_version: r.get(1)?,
                        envelope: coffer_crypto::Envelope {
                            wrapped_data_key: r.get(2)?,
                            ciphertext: r.get(3)?,
                        },
                    })
                })
                .optional()
            })
            .map_err(|e| internal("read value", e))
        })
        .await
    }

    async fn write_secret(&self, write: SecretWrite) -> Result<()> {
        self.write(move |c| apply_secret_write(c, write)).await
    }

    async fn purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.write(move |c| {
            let due: Vec<(String, i64, String, String)> = {
                let mut st = c
                    .prepare_cached(
                        "SELECT id, account, region, name FROM secrets \
                         WHERE purge_at IS NOT NULL AND purge_at <= ?1 ORDER BY purge_at LIMIT ?2",
                    )
                    .map_err(|e| internal("prepare purge", e))?;
                let rows = st
                    .query_map(params![now.0, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .map_err(|e| internal("find due secrets", e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| internal("read due secret", e))?
            };
            let mut purged = vec![];
            for (id, account, region, name) in due {
                delete_secret_rows(c, &id)?;
                adjust_count(c, account, &region, -1)?;
                purged.push((
                    Scope {
                        account: AccountId(account as u64),
                        region,
                    },
                    name,
                ));
            }
            Ok(purged)
        })
        .await
    }
}
