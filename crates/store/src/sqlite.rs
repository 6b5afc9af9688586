//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! - Writes go through [`Writer`](crate::writer): one thread, one connection, group commit.
//!   A call returns only after the transaction holding its change is durable.
//! - Reads go through [`Readers`](crate::readers): a few read-only connections used on the
//!   calling thread, each read inside one snapshot. Readers never wait for the writer.
//!
//! Uniqueness (names, aliases, the default key, one version per stage) is enforced by the
//! schema and mapped to precise errors; revisions are checked in the `UPDATE` itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use uuid::Uuid;

use crate::access;
use crate::cache::{Cached, KeyLookup, ReadCache};
use crate::checkpoint::Checkpointer;
use crate::readers::Readers;
use crate::rewrap;
use crate::rotation;
use crate::schema::MIGRATIONS;
use crate::writer::{Writer, WriterStats};

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read-only connections opened at start (more are opened when more threads read at
    /// once).
    pub read_connections: usize,
    /// Most write requests committed together in one transaction.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Hold `<database>.lock` while the store is open, and refuse to open when another
    /// process holds it. The read cache is right only while this process is the database's
    /// only writer, so the server and every tool that writes open it exclusively; a one-off
    /// reader (`coffer project list` beside a running server) need not.
    pub exclusive: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            read_connections: 4,
            max_batch: 256,
            busy_timeout: Duration::from_secs(10),
            exclusive: true,
        }
    }
}

/// Takes the lock file beside the database, or says who holds it.
fn lock_database(path: &Path) -> Result<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::internal(format!("opening {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::internal(format!(
            "{} is in use by another coffer process (it holds {}); stop it first",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::internal(format!(
            "locking {}: {e}",
            lock_path.display()
        ))),
    }
}

/// [`Store`] on one SQLite database file. See the module docs.
pub struct SqliteStore {
    path: PathBuf,
    /// The lock file, held while the store lives (see [`SqliteOptions::exclusive`]).
    _lock: Option<std::fs::File>,
    checkpointer: Checkpointer,
    cache: ReadCache,
    writer: Writer,
    readers: Readers,
}

pub(crate) fn internal(context: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("sqlite {context}: {e}"))
}

fn constraint(e: &rusqlite::Error) -> Option<std::ffi::c_int> {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(f.extended_code)
        }
        _ => None,
    }
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        constraint(e),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

pub(crate) fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    constraint(e) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// Account ids are `u64`; SQLite integers are `i64`. The bits are stored unchanged.
pub(crate) fn account_sql(a: AccountId) -> i64 {
    a.0 as i64
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: account_from_sql(r.get(0)?),
        name: r.get(1)?,
        operator: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
    })
}

pub(crate) fn account_from_sql(v: i64) -> AccountId {
    AccountId(v as u64)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, opens
    /// the read connections and starts the writer thread. The parent directory must exist.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let lock = if options.exclusive {
            Some(lock_database(path)?)
        } else {
            None
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| internal("open", e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| internal("busy timeout", e))?;
        // WAL lets readers run during commits; FULL makes a commit durable (the WAL is
        // fsynced) before COMMIT returns, which is what we promise before answering.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| internal("journal mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::internal(format!(
                "sqlite: {} cannot use write-ahead logging (journal mode stays {mode:?})",
                path.display()
            )));
        }
        // The writer checkpoints only when the log passes 10,000 pages (40 MB): below that the
        // checkpoint thread keeps it short (see `checkpoint`), and a checkpoint inside a commit
        // was 9% of the writer's time under a CreateSecret load at SQLite's default of 1,000.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 10000;",
        )
        .map_err(|e| internal("pragmas", e))?;
        migrate(&mut conn)?;
        let readers = Readers::open(path, options.read_connections, options.busy_timeout)?;
        let writer = Writer::start(conn, options.max_batch)?;
        let checkpointer = Checkpointer::start(path, options.busy_timeout)?;
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
            checkpointer,
            cache: ReadCache::new(),
            writer,
            readers,
        })
    }

    /// Stops the writer after it has committed every write already queued. Later writes
    /// fail with an internal error; reads keep working. Idempotent. Dropping the store
    /// without calling this also drains the queue, on the writer thread, without waiting.
    pub async fn close(&self) {
        self.checkpointer.close().await;
        self.writer.close().await;
    }

    /// Counters of the writer (batches, writes, queue depth).
    pub fn stats(&self) -> WriterStats {
        self.writer.stats()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let result = self.writer.submit(f).await;
        // Not knowing what the write touched, the cache forgets everything (see `cache`).
        self.cache.forget_all();
        result
    }

    /// A key lookup through the read cache: `f` reads it from the store on a miss.
    async fn cached_key(
        &self,
        scope: &Scope,
        lookup: KeyLookup<'_>,
        f: impl FnOnce(&Connection) -> Result<Option<KeyRecord>>,
    ) -> Result<Option<KeyRecord>> {
        if let Some(hit) = self.cache.key(scope, &lookup) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let found = self.read(f).await?;
        self.cache
            .fill_key(generation, scope, &lookup, found.clone());
        Ok(found)
    }

    async fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.readers.run(f)
    }
}

/// Applies the migrations the database has not seen yet, each in its own transaction with
/// the `user_version` that records it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| internal("read schema version", e))?;
    let known = MIGRATIONS.len() as i64;
    if current > known || current < 0 {
        return Err(Error::internal(format!(
            "sqlite: the database has schema version {current}; this coffer knows versions up to {known}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let number = i + 1;
        let tx = conn
            .transaction()
            .map_err(|e| internal("begin migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| internal(&format!("migration {number}"), e))?;
        tx.execute_batch(&format!("PRAGMA user_version = {number}"))
            .map_err(|e| internal("record migration", e))?;
        tx.commit()
            .map_err(|e| internal(&format!("commit migration {number}"), e))?;
        tracing::info!(migration = number, "applied sqlite schema migration");
    }
    Ok(())
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
        _ => Err(Error::internal(format!(
            "sqlite: unknown secret state {s:?}"
        ))),
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
        _ => Err(Error::internal(format!("sqlite: unknown key state {s:?}"))),
    }
}

/// The columns [`secret_row`] reads, for a `FROM secrets s`.
const SECRET_COLUMNS: &str = "s.id, s.account, s.region, s.name, s.kind, s.description, \
     s.key_id, s.state, s.purge_at, s.rotation, s.extended_config, s.policy, s.created_at, \
     s.updated_at, s.revision";

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
    /// The record without tags and versions, and the stored id text to load them by.
    fn into_record(self) -> Result<(String, SecretRecord)> {
        let record = SecretRecord {
            id: Uuid::parse_str(&self.id).map_err(|e| internal("stored secret id", e))?,
            scope: Scope {
                account: account_from_sql(self.account),
                region: self.region,
            },
            name: self.name,
            kind: serde_json::from_str(&self.kind)
                .map_err(|e| internal("stored secret kind", e))?,
            description: self.description,
            key_id: self.key_id,
            tags: vec![],
            state: parse_state(&self.state, self.purge_at)?,
            rotation: serde_json::from_str(&self.rotation)
                .map_err(|e| internal("stored rotation policy", e))?,
            extended_config: self.extended_config,
            policy: self.policy,
            subscriptions: vec![],
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            revision: self.revision,
            versions: vec![],
        };
        Ok((self.id, record))
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

fn load_subscriptions(conn: &Connection, secret_id: &str) -> Result<Vec<String>> {
    let mut st = conn
        .prepare_cached(
            "SELECT rule_name FROM secret_subscriptions WHERE secret_id = ?1 ORDER BY position",
        )
        .map_err(|e| internal("prepare subscriptions", e))?;
    let rows = st
        .query_map([secret_id], |r| r.get(0))
        .map_err(|e| internal("query subscriptions", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read subscriptions", e))
}

fn load_versions(conn: &Connection, secret_id: &str) -> Result<Vec<VersionRecord>> {
    let mut st = conn
        .prepare_cached(
            "SELECT version_id, created_at, kind, expires_at FROM versions \
             INDEXED BY versions_by_seq WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(|e| internal("prepare versions", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(|e| internal("query versions", e))?;
    let mut versions = vec![];
    for row in rows {
        let (version_id, created_at, kind, expires_at) =
            row.map_err(|e| internal("read version", e))?;
        versions.push(VersionRecord {
            version_id,
            created_at: Timestamp(created_at),
            kind: ValueKind::parse_stored(&kind)
                .ok_or_else(|| Error::internal(format!("sqlite: unknown value kind {kind:?}")))?,
            stages: vec![],
            expires_at: expires_at.map(Timestamp),
        });
    }
    let mut st = conn
        .prepare_cached("SELECT stage, version_id FROM stages WHERE secret_id = ?1")
        .map_err(|e| internal("prepare stages", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| internal("query stages", e))?;
    for row in rows {
        let (stage, version_id) = row.map_err(|e| internal("read stage", e))?;
        let stage = Stage::from_stored(&stage)
            .ok_or_else(|| Error::internal(format!("sqlite: unknown stage {stage:?}")))?;
        if let Some(v) = versions.iter_mut().find(|v| v.version_id == version_id) {
            v.stages.push(stage);
        }
    }
    // Built-ins first, then custom labels by name: one order whatever the storage order.
    for v in &mut versions {
        v.stages.sort();
    }
    Ok(versions)
}

fn secret_by_name(c: &Connection, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
    load_secret(
        c,
        "s.account = ?1 AND s.region = ?2 AND s.name = ?3",
        params![account_sql(scope.account), scope.region, name],
    )
}

/// The secret `filter` (a condition on `secrets s`) finds, with its tags, subscriptions and
/// versions.
fn load_secret(
    c: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Option<SecretRecord>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets s WHERE {filter}"
        ))
        .and_then(|mut st| st.query_row(params, secret_row).optional())
        .map_err(|e| internal("read secret", e))?;
    let Some(row) = row else { return Ok(None) };
    let (id, mut record) = row.into_record()?;
    record.tags = load_tags(c, &id)?;
    record.subscriptions = load_subscriptions(c, &id)?;
    record.versions = load_versions(c, &id)?;
    Ok(Some(record))
}

fn sealed_value(c: &Connection, secret_id: &str, version_id: &str) -> Result<Option<SealedValue>> {
    c.prepare_cached(
        "SELECT key_id, key_version, wrapped_data_key, ciphertext FROM versions \
         WHERE secret_id = ?1 AND version_id = ?2",
    )
    .and_then(|mut st| {
        st.query_row(params![secret_id, version_id], |r| {
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
}

// --- secret writes --------------------------------------------------------------------------

fn taken_secret(name: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        if is_unique_violation(&e) {
            Error::AlreadyExists {
                what: Resource::Secret,
                name: name.to_string(),
            }
        } else {
            internal("insert secret", e)
        }
    }
}

fn write_tags(conn: &Connection, secret_id: &str, tags: &[Tag]) -> Result<()> {
    conn.prepare_cached("DELETE FROM secret_tags WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
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

/// Replaces the secret's subscriptions. The foreign key on the rule refuses a name that no
/// rule of the scope has.
fn write_subscriptions(conn: &Connection, secret_id: &str, record: &SecretRecord) -> Result<()> {
    conn.prepare_cached("DELETE FROM secret_subscriptions WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(|e| internal("clear subscriptions", e))?;
    if record.subscriptions.is_empty() {
        return Ok(());
    }
    let mut st = conn
        .prepare_cached(
            "INSERT INTO secret_subscriptions (secret_id, position, account, region, rule_name) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| internal("prepare subscription insert", e))?;
    let account = account_sql(record.scope.account);
    for (i, name) in record.subscriptions.iter().enumerate() {
        st.execute(params![
            secret_id,
            i as i64,
            account,
            record.scope.region,
            name
        ])
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                Error::not_found(Resource::EventRule, name.clone())
            } else {
                internal("insert subscription", e)
            }
        })?;
    }
    Ok(())
}

/// Inserts the versions that arrive with a value, in the record's order (which is the order
/// reads return), and refreshes the metadata of the others, which must already be stored.
fn write_versions(
    conn: &Connection,
    secret_id: &str,
    record: &SecretRecord,
    mut values: Vec<(String, SealedValue)>,
) -> Result<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO versions (secret_id, version_id, seq, created_at, kind, key_id, \
             key_version, wrapped_data_key, ciphertext, expires_at) VALUES (?1, ?2, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = ?1), \
             ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(|e| internal("prepare version insert", e))?;
    // Versions already stored are rewritten only when their metadata changed: an update
    // lists every version, and rewriting (or even seeking) each of 20 unchanged rows, blobs
    // and all, was most of a PutSecretValue's time in the writer. One index range says what
    // is stored. A create writes every version with its value and needs no look.
    let mut stored: HashMap<String, (i64, String, Option<i64>)> = HashMap::new();
    let all_new = record
        .versions
        .iter()
        .all(|v| values.iter().any(|(id, _)| *id == v.version_id));
    if !all_new {
        let mut st = conn
            .prepare_cached(
                "SELECT version_id, created_at, kind, expires_at FROM versions \
                 INDEXED BY versions_by_seq WHERE secret_id = ?1",
            )
            .map_err(|e| internal("prepare stored versions", e))?;
        let rows = st
            .query_map([secret_id], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })
            .map_err(|e| internal("query stored versions", e))?;
        for row in rows {
            let (id, meta) = row.map_err(|e| internal("read stored version", e))?;
            stored.insert(id, meta);
        }
    }
    let mut refresh = conn
        .prepare_cached(
            "UPDATE versions SET created_at = ?3, kind = ?4, expires_at = ?5 \
             WHERE secret_id = ?1 AND version_id = ?2",
        )
        .map_err(|e| internal("prepare version update", e))?;
    for v in &record.versions {
        match values.iter().position(|(id, _)| *id == v.version_id) {
            Some(i) => {
                let (_, sealed) = values.swap_remove(i);
                insert
                    .execute(params![
                        secret_id,
                        v.version_id,
                        v.created_at.0,
                        v.kind.as_str(),
                        sealed.key_id,
                        sealed.key_version,
                        sealed.envelope.wrapped_data_key,
                        sealed.envelope.ciphertext,
                        v.expires_at.map(|t| t.0),
                    ])
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            Error::AlreadyExists {
                                what: Resource::Version,
                                name: v.version_id.clone(),
                            }
                        } else {
                            internal("insert version", e)
                        }
                    })?;
            }
            None => {
                let wanted = (
                    v.created_at.0,
                    v.kind.as_str().to_string(),
                    v.expires_at.map(|t| t.0),
                );
                match stored.get(&v.version_id) {
                    Some(meta) if *meta == wanted => {}
                    Some(_) => {
                        refresh
                            .execute(params![
                                secret_id,
                                v.version_id,
                                wanted.0,
                                wanted.1,
                                wanted.2
                            ])
                            .map_err(|e| internal("update version", e))?;
                    }
                    None => {
                        return Err(Error::internal(format!(
                            "sqlite: version {:?} is neither stored nor written with a value",
                            v.version_id
                        )))
                    }
                }
            }
        }
    }
    if let Some((id, _)) = values.first() {
        return Err(Error::internal(format!(
            "sqlite: a value for version {id:?}, which the record does not list"
        )));
    }
    Ok(())
}

fn write_stages(conn: &Connection, secret_id: &str, record: &SecretRecord) -> Result<()> {
    conn.prepare_cached("DELETE FROM stages WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(|e| internal("clear stages", e))?;
    let mut st = conn
        .prepare_cached("INSERT INTO stages (secret_id, stage, version_id) VALUES (?1, ?2, ?3)")
        .map_err(|e| internal("prepare stage insert", e))?;
    for v in &record.versions {
        for s in &v.stages {
            st.execute(params![secret_id, s.to_stored(), v.version_id])
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

/// Keeps the per-scope count that makes an unfiltered total one row read.
fn adjust_count(conn: &Connection, account: i64, region: &str, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO secret_counts (account, region, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, region) DO UPDATE SET n = n + excluded.n",
    )
    .and_then(|mut st| st.execute(params![account, region, delta]))
    .map_err(|e| internal("count secrets", e))?;
    Ok(())
}

fn create_secret(
    conn: &Connection,
    record: SecretRecord,
    values: Vec<(String, SealedValue)>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind).map_err(|e| internal("encode kind", e))?;
    let rotation =
        serde_json::to_string(&record.rotation).map_err(|e| internal("encode rotation", e))?;
    let id = record.id.to_string();
    let account = account_sql(record.scope.account);
    let (next_rotation, db_instance) = rotation::schedule_columns(&record);
    conn.prepare_cached(
        "INSERT INTO secrets (id, account, region, name, kind, kind_name, description, key_id, \
         state, purge_at, rotation, extended_config, policy, created_at, updated_at, revision, \
         next_rotation, db_instance) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .and_then(|mut st| {
        st.execute(params![
            id,
            account,
            record.scope.region,
            record.name,
            kind,
            record.kind.type_name(),
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
            next_rotation,
            db_instance,
        ])
    })
    .map_err(taken_secret(&record.name))?;
    adjust_count(conn, account, &record.scope.region, 1)?;
    write_tags(conn, &id, &record.tags)?;
    write_subscriptions(conn, &id, &record)?;
    write_versions(conn, &id, &record, values)?;
    write_stages(conn, &id, &record)
}

fn update_secret(
    conn: &Connection,
    record: SecretRecord,
    new_values: Vec<(String, SealedValue)>,
    removed_versions: Vec<String>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind).map_err(|e| internal("encode kind", e))?;
    let rotation =
        serde_json::to_string(&record.rotation).map_err(|e| internal("encode rotation", e))?;
    let id = record.id.to_string();
    let (next_rotation, db_instance) = rotation::schedule_columns(&record);
    // The revision check and the bump are one statement: a writer that read an older
    // revision changes nothing. Identity (scope, name, creation time) never changes.
    let changed = conn
        .prepare_cached(
            "UPDATE secrets SET kind = ?1, kind_name = ?2, description = ?3, key_id = ?4, \
             state = ?5, purge_at = ?6, rotation = ?7, extended_config = ?8, policy = ?9, \
             updated_at = ?10, revision = revision + 1, next_rotation = ?13, db_instance = ?14 \
             WHERE id = ?11 AND revision = ?12",
        )
        .and_then(|mut st| {
            st.execute(params![
                kind,
                record.kind.type_name(),
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
                next_rotation,
                db_instance,
            ])
        })
        .map_err(|e| internal("update secret", e))?;
    if changed == 0 {
        return Err(Error::Conflict);
    }
    // Tags and subscriptions are rewritten only when they changed: most updates (a new
    // version, a description) leave them alone, and each tag row sits in three indexes.
    if load_tags(conn, &id)? != record.tags {
        write_tags(conn, &id, &record.tags)?;
    }
    if load_subscriptions(conn, &id)? != record.subscriptions {
        write_subscriptions(conn, &id, &record)?;
    }
    // Stages go first so that no stage points at a version while it is removed.
    conn.prepare_cached("DELETE FROM stages WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([&id]))
        .map_err(|e| internal("clear stages", e))?;
    {
        let mut st = conn
            .prepare_cached("DELETE FROM versions WHERE secret_id = ?1 AND version_id = ?2")
            .map_err(|e| internal("prepare version delete", e))?;
        for v in &removed_versions {
            st.execute(params![id, v])
                .map_err(|e| internal("delete version", e))?;
        }
    }
    write_versions(conn, &id, &record, new_values)?;
    write_stages(conn, &id, &record)
}

/// Deletes a secret with its tags, versions, values and stages (by cascade). With
/// `revision`, only if the stored revision equals it. Returns the scope and name deleted.
fn delete_secret(conn: &Connection, id: &str, revision: Option<i64>) -> Result<Option<Scope>> {
    let deleted: Option<(i64, String)> = conn
        .prepare_cached(
            "DELETE FROM secrets WHERE id = ?1 AND (?2 IS NULL OR revision = ?2) \
             RETURNING account, region",
        )
        .and_then(|mut st| {
            st.query_row(params![id, revision], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|e| internal("delete secret", e))?;
    let Some((account, region)) = deleted else {
        return Ok(None);
    };
    adjust_count(conn, account, &region, -1)?;
    Ok(Some(Scope {
        account: account_from_sql(account),
        region,
    }))
}

fn apply_secret_write(conn: &Connection, write: SecretWrite) -> Result<()> {
    match write {
        SecretWrite::Create { record, values } => create_secret(conn, record, values),
        SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } => update_secret(conn, record, new_values, removed_versions),
        SecretWrite::Delete { id, revision } => {
            match delete_secret(conn, &id.to_string(), Some(revision))? {
                Some(_) => Ok(()),
                // Gone or changed since it was read: the caller retries on fresh state.
                None => Err(Error::Conflict),
            }
        }
    }
}

// --- keys -----------------------------------------------------------------------------------

fn load_key(conn: &Connection, id: &str) -> Result<Option<KeyRecord>> {
    /// The `keys` row, before its aliases and versions are read.
    struct Row {
        id: String,
        scope: Scope,
        description: String,
        state: KeyState,
        is_default: bool,
        created_at: Timestamp,
        primary: String,
        rotation: KeyRotation,
    }
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT id, account, region, description, state, state_at, is_default, created_at, \
             primary_version, rotation_enabled, rotation_interval, next_rotation \
             FROM keys WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.query_row([id], |r| {
                let state: String = r.get(4)?;
                Ok((
                    Row {
                        id: r.get(0)?,
                        scope: Scope {
                            account: account_from_sql(r.get(1)?),
                            region: r.get(2)?,
                        },
                        description: r.get(3)?,
                        state: KeyState::Enabled,
                        is_default: r.get(6)?,
                        created_at: Timestamp(r.get(7)?),
                        primary: r.get(8)?,
                        rotation: KeyRotation {
                            enabled: r.get(9)?,
                            interval_secs: r.get(10)?,
                            next_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
                        },
                    },
                    state,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .optional()
        })
        .map_err(|e| internal("read key", e))?
        .map(|(mut row, state, state_at)| {
            row.state = parse_key_state(&state, state_at)?;
            Ok::<_, Error>(row)
        })
        .transpose()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id = row.id;
    // Insertion order (rowid) is the record's order.
    let aliases = conn
        .prepare_cached("SELECT alias FROM key_aliases WHERE key_id = ?1 ORDER BY rowid")
        .and_then(|mut st| {
            st.query_map([&id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("read key aliases", e))?;
    let versions = conn
        .prepare_cached(
            "SELECT id, created_at, wrapped_material FROM key_versions WHERE key_id = ?1 \
             ORDER BY rowid",
        )
        .and_then(|mut st| {
            st.query_map([&id], |r| {
                Ok(KeyVersion {
                    id: r.get(0)?,
                    created_at: Timestamp(r.get(1)?),
                    wrapped_material: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("read key versions", e))?;
    Ok(Some(KeyRecord {
        id,
        scope: row.scope,
        aliases,
        description: row.description,
        state: row.state,
        is_default: row.is_default,
        created_at: row.created_at,
        primary_version: row.primary,
        versions,
        rotation: row.rotation,
    }))
}

/// A row of `account, region, id`.
fn scoped_id_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Scope, String)> {
    Ok((
        Scope {
            account: account_from_sql(r.get(0)?),
            region: r.get(1)?,
        },
        r.get(2)?,
    ))
}

fn key_in_scope(key: Option<KeyRecord>, scope: &Scope) -> Option<KeyRecord> {
    key.filter(|k| &k.scope == scope)
}

fn create_key(conn: &Connection, k: &KeyRecord) -> Result<()> {
    let (state, state_at) = key_state_parts(k.state);
    let account = account_sql(k.scope.account);
    let inserted = conn.execute(
        "INSERT INTO keys (id, account, region, description, state, state_at, is_default, \
         created_at, primary_version, rotation_enabled, rotation_interval, next_rotation) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            k.id,
            account,
            k.scope.region,
            k.description,
            state,
            state_at,
            k.is_default,
            k.created_at.0,
            k.primary_version,
            k.rotation.enabled,
            k.rotation.interval_secs,
            k.rotation.next_at.map(|t| t.0),
        ],
    );
    if let Err(e) = inserted {
        if !is_unique_violation(&e) {
            return Err(internal("insert key", e));
        }
        // Either the id or the scope's one default key is taken; name the right one.
        let id_taken = conn
            .query_row("SELECT 1 FROM keys WHERE id = ?1", [&k.id], |_| Ok(()))
            .optional()
            .map_err(|e| internal("read key", e))?
            .is_some();
        return Err(Error::AlreadyExists {
            what: Resource::Key,
            name: if id_taken {
                k.id.clone()
            } else {
                format!("default key of {}/{}", k.scope.account, k.scope.region)
            },
        });
    }
    for v in &k.versions {
        conn.execute(
            "INSERT INTO key_versions (key_id, id, created_at, wrapped_material) \
             VALUES (?1, ?2, ?3, ?4)",
            params![k.id, v.id, v.created_at.0, v.wrapped_material],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::invalid(
                    "KeyVersions",
                    format!("the key version {:?} is listed twice", v.id),
                )
            } else {
                internal("insert key version", e)
            }
        })?;
    }
    for alias in &k.aliases {
        conn.execute(
            "INSERT INTO key_aliases (account, region, alias, key_id) VALUES (?1, ?2, ?3, ?4)",
            params![account, k.scope.region, alias, k.id],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: Resource::Key,
                    name: alias.clone(),
                }
            } else {
                internal("insert key alias", e)
            }
        })?;
    }
    Ok(())
}

/// See [`Store::update_key`].
fn update_key(conn: &Connection, k: &KeyRecord) -> Result<()> {
    let (state, state_at) = key_state_parts(k.state);
    let n = conn
        .execute(
            "UPDATE keys SET description = ?2, state = ?3, state_at = ?4, primary_version = ?5, \
             rotation_enabled = ?8, rotation_interval = ?9, next_rotation = ?10 \
             WHERE id = ?1 AND account = ?6 AND region = ?7",
            params![
                k.id,
                k.description,
                state,
                state_at,
                k.primary_version,
                account_sql(k.scope.account),
                k.scope.region,
                k.rotation.enabled,
                k.rotation.interval_secs,
                k.rotation.next_at.map(|t| t.0),
            ],
        )
        .map_err(|e| internal("update key", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::Key, k.id.clone()));
    }
    for v in &k.versions {
        conn.execute(
            "INSERT INTO key_versions (key_id, id, created_at, wrapped_material) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key_id, id) DO NOTHING",
            params![k.id, v.id, v.created_at.0, v.wrapped_material],
        )
        .map_err(|e| internal("insert key version", e))?;
    }
    conn.execute("DELETE FROM key_aliases WHERE key_id = ?1", [&k.id])
        .map_err(|e| internal("clear key aliases", e))?;
    for alias in &k.aliases {
        conn.execute(
            "INSERT INTO key_aliases (account, region, alias, key_id) VALUES (?1, ?2, ?3, ?4)",
            params![account_sql(k.scope.account), k.scope.region, alias, k.id],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: Resource::Key,
                    name: alias.clone(),
                }
            } else {
                internal("insert key alias", e)
            }
        })?;
    }
    Ok(())
}

fn list_keys(c: &Connection, scope: &Scope, page: PageRequest) -> Result<Page<KeyRecord>> {
    let args = params![account_sql(scope.account), scope.region];
    let total: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM keys WHERE account = ?1 AND region = ?2")
        .and_then(|mut st| st.query_row(args, |r| r.get(0)))
        .map_err(|e| internal("count keys", e))?;
    let order = if page.newest_first { "DESC" } else { "ASC" };
    let ids: Vec<String> = c
        .prepare_cached(&format!(
            "SELECT id FROM keys WHERE account = ?1 AND region = ?2 \
             ORDER BY created_at {order}, rowid {order} LIMIT ?3 OFFSET ?4"
        ))
        .and_then(|mut st| {
            st.query_map(
                params![
                    account_sql(scope.account),
                    scope.region,
                    i64::from(page.limit),
                    page.offset.min(i64::MAX as u64) as i64
                ],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("list keys", e))?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(k) = load_key(c, &id)? {
            items.push(k);
        }
    }
    Ok(Page {
        items,
        total: total.max(0) as u64,
    })
}

// --- listing --------------------------------------------------------------------------------
//
// The first pages must cost the same at a million secrets as at ten. Without filters a page
// walks `secrets_by_creation` in order and stops after `offset + limit` rows, and the total
// comes from `secret_counts`. With filters the query is driven by the index that bounds the
// work best, chosen here rather than left to the planner, which has no statistics on a fresh
// database and guesses badly for tags (it would search the tag index once per secret):
//
// - `names`: the name index, a handful of rows;
// - pending deletion only: the partial index on `purge_at`, which holds few rows by nature;
// - a tag key or value that few tag rows carry (a bounded probe says so): the tag index,
//   then the matching secrets by id and a sort of at most `TAG_DRIVER_MAX` rows;
// - otherwise the creation index, each row checked (tags through the primary key of
//   `secret_tags`). Totals then count the scope's rows: linear, small constant.

/// Scopes smaller than this are scanned whatever the filter: a scan is cheaper than a probe.
const TAG_DRIVER_MIN_SCOPE: i64 = 5_000;
/// Most tag rows a tag-driven list may visit.
const TAG_DRIVER_MAX: i64 = 50_000;

/// Which index a filtered list starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Creation,
    Names,
    Purge,
    TagKeys,
    TagValues,
}

/// A list's `FROM ... WHERE ...` (over `secrets s`) and its arguments, in order.
struct ListQuery {
    driver: Driver,
    from_where: String,
    args: Vec<Value>,
}

fn placeholders(sql: &mut String, args: &mut Vec<Value>, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
        args.push(Value::Text(v.clone()));
    }
}

/// Appends `AND <expr> IN (?, ...)` for a non-empty list.
fn push_in(sql: &mut String, args: &mut Vec<Value>, expr: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    sql.push_str(" AND ");
    sql.push_str(expr);
    sql.push_str(" IN (");
    placeholders(sql, args, values);
    sql.push(')');
}

/// How many tag rows have `column` in `values`, counting no further than `cap`.
fn probe_tags(c: &Connection, column: &str, values: &[String], cap: i64) -> Result<i64> {
    let mut sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM secret_tags WHERE {column} IN (");
    let mut args = vec![];
    placeholders(&mut sql, &mut args, values);
    sql.push_str(") LIMIT ?)");
    args.push(Value::Integer(cap));
    c.prepare_cached(&sql)
        .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(|e| internal("probe tags", e))
}

fn choose_driver(c: &Connection, f: &SecretFilter, scope_count: i64) -> Result<Driver> {
    if !f.names.is_empty() {
        return Ok(Driver::Names);
    }
    if f.pending_delete == Some(true) {
        return Ok(Driver::Purge);
    }
    if scope_count < TAG_DRIVER_MIN_SCOPE {
        return Ok(Driver::Creation);
    }
    let cap = (scope_count / 4).min(TAG_DRIVER_MAX);
    let mut best: Option<(i64, Driver)> = None;
    for (driver, column, values) in [
        (Driver::TagKeys, "key", &f.tag_keys),
        (Driver::TagValues, "value", &f.tag_values),
    ] {
        if values.is_empty() {
            continue;
        }
        let n = probe_tags(c, column, values, cap)?;
        if n < cap && best.is_none_or(|(b, _)| n < b) {
            best = Some((n, driver));
        }
    }
    Ok(best.map_or(Driver::Creation, |(_, d)| d))
}

fn list_query(scope: &Scope, f: &SecretFilter, driver: Driver) -> ListQuery {
    let mut sql = String::new();
    let mut args = vec![];
    match driver {
        Driver::Creation => sql.push_str("secrets s"),
        Driver::Names => sql.push_str("secrets s INDEXED BY secrets_by_name"),
        Driver::Purge => sql.push_str("secrets s INDEXED BY secrets_by_purge"),
        Driver::TagKeys | Driver::TagValues => {
            let (column, values) = if driver == Driver::TagKeys {
                ("key", &f.tag_keys)
            } else {
                ("value", &f.tag_values)
            };
            sql.push_str(&format!(
                "(SELECT DISTINCT t.secret_id AS id FROM secret_tags t WHERE t.{column} IN ("
            ));
            placeholders(&mut sql, &mut args, values);
            // CROSS JOIN fixes the order: the few matching ids first, then their secrets.
            sql.push_str(")) m CROSS JOIN secrets s ON s.id = m.id");
        }
    }
    sql.push_str(" WHERE s.account = ? AND s.region = ?");
    args.push(Value::Integer(account_sql(scope.account)));
    args.push(Value::Text(scope.region.clone()));
    push_in(&mut sql, &mut args, "s.name", &f.names);
    push_in(&mut sql, &mut args, "s.description", &f.descriptions);
    push_in(&mut sql, &mut args, "s.kind_name", &f.kinds);
    if let Some(part) = &f.name_contains {
        // instr() matches the text literally: no LIKE wildcards to escape, case-sensitive.
        sql.push_str(" AND instr(s.name, ?) > 0");
        args.push(Value::Text(part.clone()));
    }
    for (tag_driver, column, values) in [
        (Driver::TagKeys, "+t.key", &f.tag_keys),
        (Driver::TagValues, "+t.value", &f.tag_values),
    ] {
        if values.is_empty() || driver == tag_driver {
            continue;
        }
        // The unary `+` keeps SQLite from searching the tag index once per secret (it
        // would, without statistics); it looks up this secret's few tags by primary key.
        sql.push_str(" AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id");
        push_in(&mut sql, &mut args, column, values);
        sql.push(')');
    }
    match f.pending_delete {
        Some(true) => sql.push_str(" AND s.purge_at IS NOT NULL"),
        Some(false) => sql.push_str(" AND s.purge_at IS NULL"),
        None => {}
    }
    match f.disabled {
        Some(true) => sql.push_str(" AND s.state = 'disabled'"),
        Some(false) => sql.push_str(" AND s.state <> 'disabled'"),
        None => {}
    }
    if let Some(rule) = &f.subscribed_to {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM secret_subscriptions x WHERE x.secret_id = s.id \
             AND +x.rule_name = ?)",
        );
        args.push(Value::Text(rule.clone()));
    }
    for cond in &f.tags {
        // Same reasoning as above for the unary `+`: look up this secret's own tags.
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND +t.key = ?",
        );
        args.push(Value::Text(cond.key.clone()));
        push_in(&mut sql, &mut args, "+t.value", &cond.values);
        sql.push(')');
    }
    ListQuery {
        driver,
        from_where: sql,
        args,
    }
}

/// The page query; its last two arguments are LIMIT and OFFSET.
fn page_sql(q: &ListQuery, newest_first: bool) -> String {
    let order = if newest_first { "DESC" } else { "ASC" };
    format!(
        "SELECT {SECRET_COLUMNS} FROM {} ORDER BY s.created_at {order}, s.id {order} \
         LIMIT ? OFFSET ?",
        q.from_where
    )
}

fn page_args(q: &ListQuery, page: PageRequest) -> Vec<Value> {
    let mut args = q.args.clone();
    args.push(Value::Integer(i64::from(page.limit)));
    args.push(Value::Integer(page.offset.min(i64::MAX as u64) as i64));
    args
}

fn count(c: &Connection, sql: &str, args: &[Value]) -> Result<i64> {
    c.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(|e| internal("count secrets", e))
}

fn list_secrets(
    c: &Connection,
    scope: &Scope,
    f: &SecretFilter,
    page: PageRequest,
) -> Result<Page<SecretRecord>> {
    let scope_args = [
        Value::Integer(account_sql(scope.account)),
        Value::Text(scope.region.clone()),
    ];
    let in_scope = c
        .prepare_cached("SELECT n FROM secret_counts WHERE account = ?1 AND region = ?2")
        .and_then(|mut st| {
            st.query_row(params_from_iter(scope_args.iter()), |r| r.get::<_, i64>(0))
                .optional()
        })
        .map_err(|e| internal("read count", e))?
        .unwrap_or(0);
    let q = list_query(scope, f, choose_driver(c, f, in_scope)?);
    let only_live = SecretFilter {
        pending_delete: Some(false),
        ..Default::default()
    };
    let total = if *f == SecretFilter::default() {
        in_scope
    } else if *f == only_live {
        let pending = count(
            c,
            "SELECT COUNT(*) FROM secrets s INDEXED BY secrets_by_purge \
             WHERE s.purge_at IS NOT NULL AND s.account = ? AND s.region = ?",
            &scope_args,
        )?;
        in_scope - pending
    } else {
        count(
            c,
            &format!("SELECT COUNT(*) FROM {}", q.from_where),
            &q.args,
        )?
    };
    let total = total.max(0) as u64;
    if page.limit == 0 || page.offset >= total {
        return Ok(Page {
            items: vec![],
            total,
        });
    }
    let args = page_args(&q, page);
    let rows = c
        .prepare_cached(&page_sql(&q, page.newest_first))
        .and_then(|mut st| {
            st.query_map(params_from_iter(args.iter()), secret_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("list secrets", e))?;
    tracing::trace!(driver = ?q.driver, rows = rows.len(), total, "listed secrets");
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, mut record) = row.into_record()?;
        record.tags = load_tags(c, &id)?;
        record.subscriptions = load_subscriptions(c, &id)?;
        items.push(record);
    }
    Ok(Page { items, total })
}

// --- event rules ----------------------------------------------------------------------------

const EVENT_RULE_COLUMNS: &str = "id, account, region, name, events, enabled, target_kind, \
     target_id, target_name, created_at, updated_at";

fn events_text(events: &[SecretEvent]) -> String {
    events
        .iter()
        .map(|e| e.to_stored())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a row of [`EVENT_RULE_COLUMNS`]. The outer result is SQLite's, the inner one says
/// whether the stored text still parses.
fn event_rule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<EventRule>> {
    let (id, events): (String, String) = (r.get(0)?, r.get(4)?);
    let rule = EventRule {
        id: Uuid::nil(),
        scope: Scope {
            account: account_from_sql(r.get(1)?),
            region: r.get(2)?,
        },
        name: r.get(3)?,
        events: vec![],
        enabled: r.get(5)?,
        target: NotifyTarget {
            kind: r.get(6)?,
            id: r.get(7)?,
            name: r.get(8)?,
        },
        created_at: Timestamp(r.get(9)?),
        updated_at: Timestamp(r.get(10)?),
    };
    let parse = move || -> Result<EventRule> {
        let events = events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| {
                SecretEvent::from_stored(e)
                    .ok_or_else(|| Error::internal(format!("sqlite: unknown event {e:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let id = Uuid::parse_str(&id).map_err(|e| internal("stored event rule id", e))?;
        Ok(EventRule { id, events, ..rule })
    };
    Ok(parse())
}

// --- the contract ---------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<()> {
        let a = account.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (id, name, operator, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![account_sql(a.id), a.name, a.operator, a.created_at.0],
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
                "SELECT id, name, operator, created_at FROM accounts WHERE id = ?1",
                [account_sql(id)],
                account_row,
            )
            .optional()
            .map_err(|e| internal("read account", e))
        })
        .await
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
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
                    account_sql(k.account),
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
                } else if is_foreign_key_violation(&e) {
                    Error::not_found(Resource::Account, k.account.to_string())
                } else {
                    internal("insert access key", e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached("SELECT id, name, operator, created_at FROM accounts ORDER BY id")
                .map_err(|e| internal("prepare accounts", e))?;
            let rows = st
                .query_map([], account_row)
                .map_err(|e| internal("list accounts", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| internal("read account", e))
        })
        .await
    }

    async fn create_project(&self, project: &Project) -> Result<()> {
        let p = project.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO projects (id, account, region) VALUES (?1, ?2, ?3)",
                params![p.id, account_sql(p.scope.account), p.scope.region],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists {
                        what: Resource::Account,
                        name: format!("project {}", p.id),
                    }
                } else if is_foreign_key_violation(&e) {
                    Error::not_found(Resource::Account, p.scope.account.to_string())
                } else {
                    internal("insert project", e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, account, region FROM projects WHERE id = ?1",
                [id],
                |r| {
                    Ok(Project {
                        id: r.get(0)?,
                        scope: Scope {
                            account: account_from_sql(r.get(1)?),
                            region: r.get(2)?,
                        },
                    })
                },
            )
            .optional()
            .map_err(|e| internal("read project", e))
        })
        .await
    }

    async fn list_projects(&self, account: AccountId) -> Result<Vec<Project>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, account, region FROM projects WHERE account = ?1 ORDER BY region",
                )
                .map_err(|e| internal("prepare projects", e))?;
            let rows = st
                .query_map([account_sql(account)], |r| {
                    Ok(Project {
                        id: r.get(0)?,
                        scope: Scope {
                            account: account_from_sql(r.get(1)?),
                            region: r.get(2)?,
                        },
                    })
                })
                .map_err(|e| internal("list projects", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| internal("read project", e))
        })
        .await
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, account, sealed_secret, enabled, admin, created_at FROM access_keys \
                 WHERE id = ?1",
                [id],
                crate::access::access_key_row,
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

    async fn list_access_keys(&self, account: AccountId) -> Result<Vec<AccessKeyRecord>> {
        self.read(move |c| access::list_access_keys(c, account))
            .await
    }

    async fn delete_access_key(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| access::delete_access_key(c, &id)).await
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        self.write(move |c| access::delete_account(c, id)).await
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<()> {
        let policy = policy.clone();
        self.write(move |c| access::put_policy(c, &policy)).await
    }

    async fn get_policy(&self, account: AccountId, name: &str) -> Result<Option<PolicyRecord>> {
        self.read(move |c| access::get_policy(c, account, name))
            .await
    }

    async fn list_policies(&self, account: AccountId) -> Result<Vec<PolicyRecord>> {
        self.read(move |c| access::list_policies(c, account)).await
    }

    async fn delete_policy(&self, account: AccountId, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| access::delete_policy(c, account, &name))
            .await
    }

    async fn attach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        let (key, name) = (access_key_id.to_string(), name.to_string());
        self.write(move |c| access::attach_policy(c, &key, &name))
            .await
    }

    async fn detach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        let (key, name) = (access_key_id.to_string(), name.to_string());
        self.write(move |c| access::detach_policy(c, &key, &name))
            .await
    }

    async fn key_policies(&self, access_key_id: &str) -> Result<Vec<PolicyRecord>> {
        self.read(move |c| access::key_policies(c, access_key_id))
            .await
    }

    async fn create_key(&self, key: &KeyRecord) -> Result<()> {
        let k = key.clone();
        self.write(move |c| create_key(c, &k)).await
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<()> {
        let k = key.clone();
        self.write(move |c| update_key(c, &k)).await
    }

    async fn list_keys(&self, scope: &Scope, page: PageRequest) -> Result<Page<KeyRecord>> {
        self.read(move |c| list_keys(c, scope, page)).await
    }

    async fn key_in_use(&self, key_id: &str) -> Result<bool> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT 1 FROM secrets WHERE key_id = ?1 \
                 UNION ALL SELECT 1 FROM db_instances WHERE key_id = ?1 LIMIT 1",
            )
            .and_then(|mut st| st.query_row([key_id], |_| Ok(())).optional())
            .map(|r| r.is_some())
            .map_err(|e| internal("check key use", e))
        })
        .await
    }

    async fn purge_due_keys(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM keys WHERE id IN (SELECT k.id FROM keys k \
                 WHERE k.state = 'pending_deletion' AND k.state_at <= ?1 \
                 AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.key_id = k.id) \
                 AND NOT EXISTS (SELECT 1 FROM db_instances d WHERE d.key_id = k.id) LIMIT ?2) \
                 RETURNING account, region, id",
            )
            .and_then(|mut st| {
                st.query_map(params![now.0, limit], scoped_id_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| internal("purge due keys", e))
        })
        .await
    }

    async fn rewrap_counts(&self) -> Result<RewrapCounts> {
        self.read(rewrap::counts).await
    }

    async fn keys_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<KeyRecord>> {
        let after = after.map(str::to_string);
        self.read(move |c| {
            let mut keys = Vec::new();
            for id in rewrap::key_ids_after(c, after.as_deref(), limit)? {
                keys.extend(load_key(c, &id)?);
            }
            Ok(keys)
        })
        .await
    }

    async fn replace_key_material(
        &self,
        key_id: &str,
        version: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        let (k, v, o, n) = (
            key_id.to_string(),
            version.to_string(),
            old.to_vec(),
            new.to_vec(),
        );
        self.write(move |c| rewrap::replace_key_material(c, &k, &v, &o, &n))
            .await
    }

    async fn access_keys_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>> {
        let after = after.map(str::to_string);
        self.read(move |c| rewrap::access_keys_after(c, after.as_deref(), limit))
            .await
    }

    async fn replace_access_secret(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let (i, o, n) = (id.to_string(), old.to_vec(), new.to_vec());
        self.write(move |c| rewrap::replace_access_secret(c, &i, &o, &n))
            .await
    }

    async fn secrets_after(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(Scope, Uuid)>> {
        self.read(move |c| rewrap::secrets_after(c, after, limit))
            .await
    }

    async fn due_key_rotations(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT account, region, id FROM keys WHERE rotation_enabled = 1 \
                 AND state = 'enabled' AND next_rotation <= ?1 ORDER BY next_rotation LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![now.0, limit], scoped_id_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| internal("find keys due for rotation", e))
        })
        .await
    }

    async fn get_key(&self, scope: &Scope, id: &str) -> Result<Option<KeyRecord>> {
        self.cached_key(scope, KeyLookup::ById(id), |c| {
            Ok(key_in_scope(load_key(c, id)?, scope))
        })
        .await
    }

    async fn get_key_by_alias(&self, scope: &Scope, alias: &str) -> Result<Option<KeyRecord>> {
        self.read(move |c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT key_id FROM key_aliases WHERE account = ?1 AND region = ?2 \
                     AND alias = ?3",
                    params![account_sql(scope.account), scope.region, alias],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| internal("read key alias", e))?;
            match id {
                Some(id) => Ok(key_in_scope(load_key(c, &id)?, scope)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get_default_key(&self, scope: &Scope) -> Result<Option<KeyRecord>> {
        self.cached_key(scope, KeyLookup::Default, |c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT id FROM keys WHERE account = ?1 AND region = ?2 AND is_default = 1",
                    params![account_sql(scope.account), scope.region],
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

    async fn create_event_rule(&self, rule: &EventRule) -> Result<()> {
        let rule = rule.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO event_rules ({EVENT_RULE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    rule.id.to_string(),
                    account_sql(rule.scope.account),
                    rule.scope.region,
                    rule.name,
                    events_text(&rule.events),
                    rule.enabled,
                    rule.target.kind,
                    rule.target.id,
                    rule.target.name,
                    rule.created_at.0,
                    rule.updated_at.0,
                ])
            })
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::AlreadyExists {
                        what: Resource::EventRule,
                        name: rule.name.clone(),
                    }
                } else {
                    internal("insert event rule", e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_event_rule(&self, scope: &Scope, name: &str) -> Result<Option<EventRule>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                 WHERE account = ?1 AND region = ?2 AND name = ?3"
            ))
            .and_then(|mut st| {
                st.query_row(
                    params![account_sql(scope.account), scope.region, name],
                    event_rule_row,
                )
                .optional()
            })
            .map_err(|e| internal("read event rule", e))?
            .transpose()
        })
        .await
    }

    async fn list_event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>> {
        self.read(move |c| {
            // Without a marker every rule is after seq 0; a marker that names no rule of the
            // scope leaves nothing (the subquery is NULL and the comparison false).
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                     WHERE account = ?1 AND region = ?2 AND seq > CASE WHEN ?3 IS NULL THEN 0 \
                     ELSE (SELECT seq FROM event_rules WHERE account = ?1 AND region = ?2 \
                     AND name = ?3) END ORDER BY seq LIMIT ?4"
                ))
                .and_then(|mut st| {
                    st.query_map(
                        params![account_sql(scope.account), scope.region, after, limit],
                        event_rule_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| internal("list event rules", e))?;
            rows.into_iter().collect()
        })
        .await
    }

    async fn update_event_rule(&self, rule: &EventRule) -> Result<()> {
        let rule = rule.clone();
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE event_rules SET events = ?4, enabled = ?5, target_kind = ?6, \
                     target_id = ?7, target_name = ?8, updated_at = ?9 \
                     WHERE account = ?1 AND region = ?2 AND name = ?3",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        account_sql(rule.scope.account),
                        rule.scope.region,
                        rule.name,
                        events_text(&rule.events),
                        rule.enabled,
                        rule.target.kind,
                        rule.target.id,
                        rule.target.name,
                        rule.updated_at.0,
                    ])
                })
                .map_err(|e| internal("update event rule", e))?;
            if changed == 0 {
                return Err(Error::not_found(Resource::EventRule, rule.name));
            }
            Ok(())
        })
        .await
    }

    async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.write(move |c| {
            let deleted = c
                .prepare_cached(
                    "DELETE FROM event_rules WHERE account = ?1 AND region = ?2 AND name = ?3",
                )
                .and_then(|mut st| {
                    st.execute(params![account_sql(scope.account), scope.region, name])
                })
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        Error::InvalidState {
                            name: name.clone(),
                            reason: format!(
                                "the event {name:?} is still subscribed to by a secret"
                            ),
                        }
                    } else {
                        internal("delete event rule", e)
                    }
                })?;
            if deleted == 0 {
                return Err(Error::not_found(Resource::EventRule, name));
            }
            Ok(())
        })
        .await
    }

    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        if let Some(hit) = self.cache.get(scope, name) {
            return Ok(Some(hit.record));
        }
        let generation = self.cache.generation();
        let record = self.read(|c| secret_by_name(c, scope, name)).await?;
        if let Some(record) = &record {
            self.cache.fill(
                generation,
                Cached {
                    record: record.clone(),
                    value: None,
                },
            );
        }
        Ok(record)
    }

    async fn get_secret_with_value(
        &self,
        scope: &Scope,
        name: &str,
        pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<(SecretRecord, Option<SealedValue>)>> {
        if let Some(hit) = self.cache.get(scope, name) {
            match (pick(&hit.record), hit.value) {
                (None, _) => return Ok(Some((hit.record, None))),
                (Some(wanted), Some((cached, sealed))) if wanted == cached => {
                    return Ok(Some((hit.record, Some(sealed))))
                }
                // Another version than the one cached: read both again.
                _ => {}
            }
        }
        let generation = self.cache.generation();
        let found = self
            .read(|c| {
                let Some(secret) = secret_by_name(c, scope, name)? else {
                    return Ok(None);
                };
                let sealed = match pick(&secret) {
                    Some(version_id) => sealed_value(c, &secret.id.to_string(), &version_id)?
                        .map(|sealed| (version_id, sealed)),
                    None => None,
                };
                Ok(Some((secret, sealed)))
            })
            .await?;
        let Some((secret, sealed)) = found else {
            return Ok(None);
        };
        self.cache.fill(
            generation,
            Cached {
                record: secret.clone(),
                value: sealed.clone(),
            },
        );
        Ok(Some((secret, sealed.map(|(_, s)| s))))
    }

    async fn get_secret_by_id(&self, scope: &Scope, id: Uuid) -> Result<Option<SecretRecord>> {
        self.read(move |c| {
            load_secret(
                c,
                "s.id = ?1 AND s.account = ?2 AND s.region = ?3",
                params![id.to_string(), account_sql(scope.account), scope.region],
            )
        })
        .await
    }

    async fn list_secrets(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>> {
        self.read(move |c| list_secrets(c, scope, filter, page))
            .await
    }

    async fn read_value(&self, secret_id: Uuid, version_id: &str) -> Result<Option<SealedValue>> {
        self.read(|c| sealed_value(c, &secret_id.to_string(), version_id))
            .await
    }

    async fn write_secret(&self, write: SecretWrite) -> Result<()> {
        // Creates and updates name their secret, so the cache forgets that one alone.
        let named = match &write {
            SecretWrite::Create { record, .. } | SecretWrite::Update { record, .. } => {
                Some((record.scope.clone(), record.name.clone()))
            }
            SecretWrite::Delete { .. } => None,
        };
        let result = self
            .writer
            .submit(move |c| apply_secret_write(c, write))
            .await;
        match named {
            Some((scope, name)) => self.cache.forget(&scope, &name),
            None => self.cache.forget_all(),
        }
        result
    }

    async fn due_secret_rotations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>> {
        self.read(move |c| rotation::due_secret_rotations(c, now, limit))
            .await
    }

    async fn create_db_instance(&self, instance: &DbInstance) -> Result<()> {
        let instance = instance.clone();
        self.write(move |c| rotation::create_instance(c, &instance))
            .await
    }

    async fn get_db_instance(&self, scope: &Scope, id: &str) -> Result<Option<DbInstance>> {
        self.read(|c| rotation::get_instance(c, scope, id)).await
    }

    async fn list_db_instances(&self, scope: &Scope) -> Result<Vec<DbInstance>> {
        self.read(|c| rotation::list_instances(c, scope)).await
    }

    async fn delete_db_instance(&self, scope: &Scope, id: &str) -> Result<()> {
        let (scope, id) = (scope.clone(), id.to_string());
        self.write(move |c| rotation::delete_instance(c, &scope, &id))
            .await
    }

    async fn write_task(&self, task: &RotationTask, secret: Option<SecretWrite>) -> Result<()> {
        let task = task.clone();
        self.write(move |c| {
            if let Some(w) = secret {
                apply_secret_write(c, w)?;
            }
            rotation::put_task(c, &task)
        })
        .await
    }

    async fn get_task(&self, scope: &Scope, id: i64) -> Result<Option<RotationTask>> {
        self.read(|c| rotation::get_task(c, scope, id)).await
    }

    async fn secret_tasks(&self, secret_id: Uuid, limit: u32) -> Result<Vec<RotationTask>> {
        let id = secret_id.to_string();
        self.read(move |c| rotation::secret_tasks(c, &id, limit))
            .await
    }

    async fn scope_tasks(&self, scope: &Scope, limit: u32) -> Result<Vec<(RotationTask, String)>> {
        self.read(|c| rotation::scope_tasks(c, scope, limit)).await
    }

    async fn due_tasks(&self, now: Timestamp, limit: u32) -> Result<Vec<RotationTask>> {
        self.read(move |c| rotation::due_tasks(c, now, limit)).await
    }

    async fn purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.write(move |c| {
            let due: Vec<(String, String)> = c
                .prepare_cached(
                    "SELECT id, name FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?1 \
                     ORDER BY purge_at LIMIT ?2",
                )
                .and_then(|mut st| {
                    st.query_map(params![now.0, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(|e| internal("find due secrets", e))?;
            let mut purged = Vec::with_capacity(due.len());
            for (id, name) in due {
                if let Some(scope) = delete_secret(c, &id, None)? {
                    purged.push((scope, name));
                }
            }
            Ok(purged)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> Connection {
        let mut c = Connection::open_in_memory().expect("memory db");
        migrate(&mut c).expect("migrate");
        c
    }

    fn plan(c: &Connection, sql: &str, args: &[Value]) -> String {
        let mut st = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        let rows = st
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .expect("plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
    }

    fn scope() -> Scope {
        Scope {
            account: AccountId(1),
            region: "r".into(),
        }
    }

    fn list_plan(c: &Connection, f: &SecretFilter, scope_count: i64, newest: bool) -> String {
        let driver = choose_driver(c, f, scope_count).expect("driver");
        let q = list_query(&scope(), f, driver);
        let page = PageRequest {
            offset: 0,
            limit: 10,
            newest_first: newest,
        };
        let pages = plan(c, &page_sql(&q, newest), &page_args(&q, page));
        let count = plan(
            c,
            &format!("SELECT COUNT(*) FROM {}", q.from_where),
            &q.args,
        );
        format!("{driver:?}\n{pages}\n--\n{count}")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unfiltered_pages_walk_the_creation_index_without_sorting() {
        let c = migrated();
        for newest_first in [false, true] {
            let p = list_plan(&c, &SecretFilter::default(), 1_000_000, newest_first);
            let page = p.split("--").next().unwrap_or_default();
            assert!(page.contains("secrets_by_creation"), "{p}");
            assert!(!page.contains("TEMP B-TREE"), "{p}");
        }
    }

    #[test]
    fn filtered_lists_start_from_the_narrowest_index() {
        let c = migrated();
        let names = SecretFilter {
            names: strings(&["a", "b"]),
            tag_keys: strings(&["k"]),
            ..Default::default()
        };
        let p = list_plan(&c, &names, 1_000_000, false);
        assert!(p.starts_with("Names"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");

        let pending = SecretFilter {
            pending_delete: Some(true),
            ..Default::default()
        };
        let p = list_plan(&c, &pending, 1_000_000, true);
        assert!(p.starts_with("Purge"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");

        // A big scope and a rare tag (the empty table makes every tag rare).
        let tags = SecretFilter {
            tag_keys: strings(&["k"]),
            tag_values: strings(&["v"]),
            ..Default::default()
        };
        let p = list_plan(&c, &tags, 1_000_000, false);
        assert!(p.starts_with("TagKeys"), "{p}");
        assert!(p.contains("secret_tags_by_key"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");
        // The other tag condition is checked by primary key, never by a tag index search.
        assert!(p.contains("sqlite_autoindex_secret_tags_1"), "{p}");
        assert!(!p.contains("secret_tags_by_value"), "{p}");
    }

    #[test]
    fn tag_conditions_in_a_scan_never_search_the_tag_indexes_per_row() {
        // This plan once searched `secret_tags_by_key` for every secret: quadratic when a
        // key is common.
        let c = migrated();
        let tags = SecretFilter {
            tag_keys: strings(&["k"]),
            tag_values: strings(&["v"]),
            ..Default::default()
        };
        let p = list_plan(&c, &tags, 10, false);
        assert!(p.starts_with("Creation"), "{p}");
        assert!(!p.contains("secret_tags_by_"), "{p}");
        assert!(p.contains("sqlite_autoindex_secret_tags_1"), "{p}");
    }

    #[test]
    fn purge_and_name_lookups_use_their_indexes() {
        let c = migrated();
        let p = plan(
            &c,
            "SELECT id, name FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?1 \
             ORDER BY purge_at LIMIT ?2",
            &[Value::Integer(1), Value::Integer(10)],
        );
        assert!(p.contains("secrets_by_purge"), "{p}");
        let p = plan(
            &c,
            "SELECT id FROM secrets s WHERE s.account = ?1 AND s.region = ?2 AND s.name = ?3",
            &[
                Value::Integer(1),
                Value::Text("r".into()),
                Value::Text("n".into()),
            ],
        );
        assert!(p.contains("secrets_by_name"), "{p}");
    }

    #[test]
    fn migrations_are_numbered_and_refuse_a_newer_database() {
        let mut c = migrated();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        migrate(&mut c).expect("a second run applies nothing");
        c.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len() + 1))
            .expect("bump");
        assert!(matches!(migrate(&mut c), Err(Error::Internal(_))));
    }

    #[test]
    fn a_version_1_database_upgrades_in_place() {
        let mut c = Connection::open_in_memory().expect("memory db");
        c.execute_batch(MIGRATIONS[0]).expect("migration 1");
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO keys (id, account, region, description, state, is_default, created_at,
                               primary_version)
                 VALUES ('k1', 1, 'r', '', 'enabled', 1, 1, 'kv1');
             INSERT INTO key_aliases (account, region, alias, key_id) VALUES (1, 'r', 'alias/a', 'k1');
             INSERT INTO secret_counts (account, region, n) VALUES (1, 'r', 0);",
        )
        .expect("version 1 data");
        migrate(&mut c).expect("upgrade");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        let key = load_key(&c, "k1").expect("load").expect("exists");
        assert_eq!(key.aliases, vec!["alias/a".to_string()]);
        let p = plan(
            &c,
            "SELECT alias FROM key_aliases WHERE key_id = ?1 ORDER BY rowid",
            &[Value::Text("k1".into())],
        );
        assert!(p.contains("key_aliases_by_key"), "{p}");
    }

    #[test]
    fn stage_text_round_trips_through_the_stages_table() {
        for s in [
            Stage::Current,
            Stage::Previous,
            Stage::Pending,
            Stage::Custom("@current".into()),
            Stage::Custom(String::new()),
        ] {
            assert_eq!(Stage::from_stored(&s.to_stored()), Some(s));
        }
    }
}
