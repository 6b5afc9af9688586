//! What the areas of the PostgreSQL store share: PostgreSQL errors turned into the core's,
//! transactions, prepared statements, account ids as `BIGINT`, the account lock, and the rows
//! that more than one area reads (a secret with its tags and subscriptions, a key with its
//! aliases and versions, an access key). It imports no area module, so that every area can
//! import it.
//!
//! Reads that need several tables (a secret and its tags, versions and stages) are one
//! statement with `LATERAL` aggregates: one round trip, and one snapshot without a
//! transaction, so a read never sees half of a concurrent write.

use coffer_core::*;
use deadpool_postgres::{GenericClient, Object, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;
use uuid::Uuid;

pub(crate) type PgError = tokio_postgres::Error;
/// Statement parameters as tokio-postgres takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The first words of the log line, and of the operator's error at open, about an
/// unreachable or failing database server, so that they can be told apart from a bug.
pub(crate) const UNAVAILABLE: &str = "postgres unavailable";

/// The database could not be reached or broke off: a failure of the server's environment,
/// not of the request, which a retry later may get through. The client is told that much
/// (each dialect renders [`Error::Unavailable`] as its own "service unavailable" answer);
/// the driver's words, which can name the database's host, go to the log only.
pub(crate) fn unavailable(context: &str, detail: impl std::fmt::Display) -> Error {
    log_unavailable(context, &detail);
    Error::Unavailable {
        reason: format!("the database is unavailable ({context})"),
    }
}

/// Like [`unavailable`], for a database that took longer than coffer waits.
pub(crate) fn timed_out(context: &str, detail: impl std::fmt::Display) -> Error {
    log_unavailable(context, &detail);
    Error::Unavailable {
        reason: format!("the database did not answer in time ({context})"),
    }
}

/// Logs an unavailable database at most once a second (with how many failures that line
/// stands for): during an outage every request fails, and a line each would bury the log.
fn log_unavailable(context: &str, detail: &dyn std::fmt::Display) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SINCE: OnceLock<std::time::Instant> = OnceLock::new();
    // The second (since the first failure) of the last line, plus one; 0 before any.
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    static UNLOGGED: AtomicU64 = AtomicU64::new(0);
    let second = SINCE
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs()
        + 1;
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if second > last
        && LAST_SECOND
            .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let also = UNLOGGED.swap(0, Ordering::Relaxed);
        tracing::warn!(
            context,
            error = %detail,
            unlogged_failures = also,
            "{UNAVAILABLE}: requests that need the database fail until it answers again"
        );
    } else {
        UNLOGGED.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn internal(context: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("postgres {context}: {e}"))
}

/// Maps an error that the call site did not expect to the core's error. Constraint
/// violations a call site expects (a taken name, a missing parent) are matched there with
/// [`violation`] first, because only the call site knows what the constraint means.
pub(crate) fn pg_error(context: &str, e: PgError) -> Error {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection broke, closed or never opened.
        return unavailable(context, with_causes(&e));
    };
    let code = db.code();
    if *code == SqlState::QUERY_CANCELED {
        // statement_timeout (or an operator's pg_cancel_backend): nothing was committed.
        return timed_out(context, "the statement timed out or was cancelled");
    }
    if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE {
        // PostgreSQL broke a lock cycle with another node's transaction and rolled this one
        // back: nothing changed, and trying again on fresh state is the answer.
        return Error::Conflict;
    }
    if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER
    {
        // SQLite keeps NUL characters in text; PostgreSQL refuses them. The client sent one.
        return Error::invalid(
            "Text",
            "a text field holds a character the database cannot store (NUL)",
        );
    }
    if *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        // An indexed text (a name, a tag) longer than a B-tree entry may be.
        return Error::invalid("Text", "a name or tag is too long to be stored");
    }
    let class = &code.code()[..2.min(code.code().len())];
    // 08: connection exceptions; 53: out of resources (too many connections, disk full);
    // 57: operator intervention (shutdown, crash recovery).
    if matches!(class, "08" | "53" | "57") {
        return unavailable(context, format!("{} ({})", db.message(), code.code()));
    }
    internal(context, format!("{} ({})", db.message(), code.code()))
}

/// An error's message followed by its causes' ("error connecting to server: Connection
/// refused"): tokio-postgres keeps the telling part in the cause.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// A constraint a statement broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    Unique,
    ForeignKey,
}

/// The kind and name of the constraint `e` broke, if it is a uniqueness or foreign key
/// violation. The schema names every constraint a call site tells apart.
pub(crate) fn violation(e: &PgError) -> Option<(Violation, &str)> {
    let db = e.as_db_error()?;
    let kind = if *db.code() == SqlState::UNIQUE_VIOLATION {
        Violation::Unique
    } else if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
        Violation::ForeignKey
    } else {
        return None;
    };
    Some((kind, db.constraint().unwrap_or("")))
}

pub(crate) fn is_unique(e: &PgError) -> bool {
    matches!(violation(e), Some((Violation::Unique, _)))
}

pub(crate) fn is_foreign_key(e: &PgError) -> bool {
    matches!(violation(e), Some((Violation::ForeignKey, _)))
}

/// Opens a transaction (READ COMMITTED, PostgreSQL's default: every statement sees what
/// committed before it; uniqueness, foreign keys and row locks do the rest).
pub(crate) async fn begin(conn: &mut Object) -> Result<Transaction<'_>> {
    conn.transaction()
        .await
        .map_err(|e| pg_error("begin transaction", e))
}

/// Commits when `result` is a success and rolls back otherwise. A commit that returns is
/// durable (`synchronous_commit` is on for coffer's sessions); one that fails with the
/// connection leaves the outcome unknown, which the error says.
pub(crate) async fn finish<T>(tx: Transaction<'_>, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => {
            let started = std::time::Instant::now();
            let committed = tx.commit().await;
            match &committed {
                Ok(()) => {
                    coffer_core::stats::commit("postgres", 1, started.elapsed().as_secs_f64())
                }
                Err(_) => coffer_core::stats::commit_failed("postgres"),
            }
            committed.map_err(|e| {
                if e.as_db_error().is_some() {
                    pg_error("commit", e)
                } else {
                    unavailable(
                        "commit; the write may or may not have been applied",
                        with_causes(&e),
                    )
                }
            })?;
            Ok(value)
        }
        Err(error) => {
            // The rollback only tidies up: dropping the transaction would roll it back too.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// Executes a statement, prepared once per connection.
pub(crate) async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> std::result::Result<u64, PgError> {
    let st = c.prepare_cached(sql).await?;
    c.execute(&st, params).await
}

/// The rows of a query, prepared once per connection.
pub(crate) async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> std::result::Result<Vec<Row>, PgError> {
    let st = c.prepare_cached(sql).await?;
    c.query(&st, params).await
}

/// The row of a query that finds at most one, prepared once per connection.
pub(crate) async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> std::result::Result<Option<Row>, PgError> {
    let st = c.prepare_cached(sql).await?;
    c.query_opt(&st, params).await
}

/// The rows of `sql`, each read by `read`.
pub(crate) async fn all<C: GenericClient, T>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
    read: impl Fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    rows(c, sql, params)
        .await
        .map_err(|e| pg_error(what, e))?
        .iter()
        .map(read)
        .collect()
}

/// The row of `sql` if any, read by `read`.
pub(crate) async fn one<C: GenericClient, T>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
    read: impl Fn(&Row) -> Result<T>,
) -> Result<Option<T>> {
    opt(c, sql, params)
        .await
        .map_err(|e| pg_error(what, e))?
        .as_ref()
        .map(read)
        .transpose()
}

/// A column of a row, or an internal error naming it (a stored row that does not decode is
/// corruption or a schema this build does not know, never a reason to panic).
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| internal(&format!("reading column {idx}"), e))
}

/// Account ids are `u64`; PostgreSQL's largest integer is `BIGINT` (`i64`). The bits are
/// stored unchanged, as in the SQLite store.
pub(crate) fn account_sql(a: AccountId) -> i64 {
    a.0 as i64
}

pub(crate) fn account_from_sql(v: i64) -> AccountId {
    AccountId(v as u64)
}

/// The advisory lock class of "an account's contents": secret creates (and key creates, and
/// updates that point a secret at a database instance) hold it shared; deleting an account
/// or a database instance holds it exclusively while it checks that nothing uses what it
/// deletes. The SQLite store gets the same from its single writer; here two nodes could
/// otherwise each see "unused" and "exists" and both commit.
pub(crate) const ACCOUNT_LOCK_CLASS: i32 = 0x636f_6666; // "coff"

/// The account folded into the lock's 32-bit object id. Two accounts that fold to the same
/// id only wait for each other now and then.
pub(crate) fn account_lock_id(a: AccountId) -> i32 {
    (a.0 ^ (a.0 >> 32)) as u32 as i32
}

/// Takes the account lock (see [`ACCOUNT_LOCK_CLASS`]) until the transaction ends, shared or
/// exclusive.
pub(crate) async fn lock_account(
    tx: &Transaction<'_>,
    a: AccountId,
    exclusive: bool,
) -> Result<()> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock($1, $2)"
    } else {
        "SELECT pg_advisory_xact_lock_shared($1, $2)"
    };
    rows(tx, sql, &[&ACCOUNT_LOCK_CLASS, &account_lock_id(a)])
        .await
        .map_err(|e| pg_error("lock account", e))?;
    Ok(())
}

pub(crate) const ACCESS_KEY_COLUMNS: &str =
    "id, account, sealed_secret, enabled, admin, created_at";

/// Reads a row of [`ACCESS_KEY_COLUMNS`].
pub(crate) fn access_key_row(r: &Row) -> Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        id: col(r, 0)?,
        account: account_from_sql(col(r, 1)?),
        sealed_secret: col(r, 2)?,
        enabled: col(r, 3)?,
        admin: col(r, 4)?,
        created_at: Timestamp(col(r, 5)?),
    })
}

pub(crate) fn state_parts(state: SecretState) -> (&'static str, Option<i64>) {
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
            "postgres: unknown secret state {s:?}"
        ))),
    }
}

pub(crate) fn key_state_parts(state: KeyState) -> (&'static str, Option<i64>) {
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
        _ => Err(Error::internal(format!(
            "postgres: unknown key state {s:?}"
        ))),
    }
}

/// The `SELECT` of secrets (rows of `from`, which must be named `s`) with their tags and
/// subscriptions in their order, versions left out; [`secret_row`] reads it.
pub(crate) fn secret_select(from: &str) -> String {
    format!(
        "SELECT s.id, s.account, s.region, s.name, s.kind, \
         s.description, s.key_id, s.state, s.purge_at, s.rotation, s.extended_config, s.policy, \
         s.created_at, s.updated_at, s.revision, t.keys, t.vals, x.rules \
         FROM {from} \
         CROSS JOIN LATERAL (SELECT COALESCE(array_agg(key ORDER BY position), '{{}}') AS keys, \
             COALESCE(array_agg(value ORDER BY position), '{{}}') AS vals \
             FROM secret_tags WHERE secret_id = s.id) t \
         CROSS JOIN LATERAL (SELECT COALESCE(array_agg(rule_name ORDER BY position), '{{}}') \
             AS rules FROM secret_subscriptions WHERE secret_id = s.id) x"
    )
}

/// [`secret_select`] of `secrets s` with the version metadata and stages too (columns 18 to
/// 23). Followed by `WHERE`.
pub(crate) const SECRET_SELECT_FULL: &str = "SELECT s.id, s.account, s.region, s.name, s.kind, \
     s.description, s.key_id, s.state, s.purge_at, s.rotation, s.extended_config, s.policy, \
     s.created_at, s.updated_at, s.revision, t.keys, t.vals, x.rules, \
     v.ids, v.created, v.kinds, v.expires, g.stages, g.staged \
     FROM secrets s \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(key ORDER BY position), '{}') AS keys, \
         COALESCE(array_agg(value ORDER BY position), '{}') AS vals \
         FROM secret_tags WHERE secret_id = s.id) t \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(rule_name ORDER BY position), '{}') AS rules \
         FROM secret_subscriptions WHERE secret_id = s.id) x \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(version_id ORDER BY seq), '{}') AS ids, \
         COALESCE(array_agg(created_at ORDER BY seq), '{}') AS created, \
         COALESCE(array_agg(kind ORDER BY seq), '{}') AS kinds, \
         COALESCE(array_agg(expires_at ORDER BY seq), '{}') AS expires \
         FROM versions WHERE secret_id = s.id) v \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(stage ORDER BY stage), '{}') AS stages, \
         COALESCE(array_agg(version_id ORDER BY stage), '{}') AS staged \
         FROM stages WHERE secret_id = s.id) g";

/// Reads a row of [`secret_select`] (versions left empty) or of [`SECRET_SELECT_FULL`].
pub(crate) fn secret_row(r: &Row, with_versions: bool) -> Result<SecretRecord> {
    let kind: String = col(r, 4)?;
    let rotation: String = col(r, 9)?;
    let state: String = col(r, 7)?;
    let keys: Vec<String> = col(r, 15)?;
    let vals: Vec<String> = col(r, 16)?;
    if keys.len() != vals.len() {
        return Err(Error::internal(
            "postgres: tag keys and values differ in number",
        ));
    }
    let mut record = SecretRecord {
        id: col::<Uuid>(r, 0)?,
        scope: Scope {
            account: account_from_sql(col(r, 1)?),
            region: col(r, 2)?,
        },
        name: col(r, 3)?,
        kind: serde_json::from_str(&kind).map_err(|e| internal("stored secret kind", e))?,
        description: col(r, 5)?,
        key_id: col(r, 6)?,
        tags: keys
            .into_iter()
            .zip(vals)
            .map(|(key, value)| Tag { key, value })
            .collect(),
        state: parse_state(&state, col(r, 8)?)?,
        rotation: serde_json::from_str(&rotation)
            .map_err(|e| internal("stored rotation policy", e))?,
        extended_config: col(r, 10)?,
        policy: col(r, 11)?,
        subscriptions: col(r, 17)?,
        created_at: Timestamp(col(r, 12)?),
        updated_at: Timestamp(col(r, 13)?),
        revision: col(r, 14)?,
        versions: vec![],
    };
    if with_versions {
        record.versions = versions_of(r, 18)?;
    }
    Ok(record)
}

/// The versions (oldest first) and their stages from the arrays at `first..first + 6`.
fn versions_of(r: &Row, first: usize) -> Result<Vec<VersionRecord>> {
    let ids: Vec<String> = col(r, first)?;
    let created: Vec<i64> = col(r, first + 1)?;
    let kinds: Vec<String> = col(r, first + 2)?;
    let expires: Vec<Option<i64>> = col(r, first + 3)?;
    let stages: Vec<String> = col(r, first + 4)?;
    let staged: Vec<String> = col(r, first + 5)?;
    if created.len() != ids.len() || kinds.len() != ids.len() || expires.len() != ids.len() {
        return Err(Error::internal(
            "postgres: version columns differ in number",
        ));
    }
    let mut versions = Vec::with_capacity(ids.len());
    for (((version_id, created_at), kind), expires_at) in
        ids.into_iter().zip(created).zip(kinds).zip(expires)
    {
        versions.push(VersionRecord {
            version_id,
            created_at: Timestamp(created_at),
            kind: ValueKind::parse_stored(&kind)
                .ok_or_else(|| Error::internal(format!("postgres: unknown value kind {kind:?}")))?,
            stages: vec![],
            expires_at: expires_at.map(Timestamp),
        });
    }
    for (stage, version_id) in stages.into_iter().zip(staged) {
        let stage = Stage::from_stored(&stage)
            .ok_or_else(|| Error::internal(format!("postgres: unknown stage {stage:?}")))?;
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

/// A key with its aliases and versions, in the order they were added; [`key_row`] reads it.
/// Followed by `WHERE` on `keys k`.
pub(crate) const KEY_SELECT: &str = "SELECT k.id, k.account, k.region, k.description, k.state, \
     k.state_at, k.is_default, k.created_at, k.primary_version, k.rotation_enabled, \
     k.rotation_interval, k.next_rotation, a.aliases, v.ids, v.created, v.materials, k.revision \
     FROM keys k \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(alias ORDER BY seq), '{}') AS aliases \
         FROM key_aliases WHERE key_id = k.id) a \
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(id ORDER BY seq), '{}') AS ids, \
         COALESCE(array_agg(created_at ORDER BY seq), '{}') AS created, \
         COALESCE(array_agg(wrapped_material ORDER BY seq), '{}') AS materials \
         FROM key_versions WHERE key_id = k.id) v";

/// Reads a row of [`KEY_SELECT`].
pub(crate) fn key_row(r: &Row) -> Result<KeyRecord> {
    let state: String = col(r, 4)?;
    let ids: Vec<String> = col(r, 13)?;
    let created: Vec<i64> = col(r, 14)?;
    let materials: Vec<Vec<u8>> = col(r, 15)?;
    if created.len() != ids.len() || materials.len() != ids.len() {
        return Err(Error::internal(
            "postgres: key version columns differ in number",
        ));
    }
    Ok(KeyRecord {
        id: col(r, 0)?,
        scope: Scope {
            account: account_from_sql(col(r, 1)?),
            region: col(r, 2)?,
        },
        aliases: col(r, 12)?,
        description: col(r, 3)?,
        state: parse_key_state(&state, col(r, 5)?)?,
        is_default: col(r, 6)?,
        created_at: Timestamp(col(r, 7)?),
        primary_version: col(r, 8)?,
        versions: ids
            .into_iter()
            .zip(created)
            .zip(materials)
            .map(|((id, created_at), wrapped_material)| KeyVersion {
                id,
                created_at: Timestamp(created_at),
                wrapped_material,
            })
            .collect(),
        rotation: KeyRotation {
            enabled: col(r, 9)?,
            interval_secs: col(r, 10)?,
            next_at: col::<Option<i64>>(r, 11)?.map(Timestamp),
        },
    })
}

/// A row of `account, region, <text>` as a scope and the text.
pub(crate) fn scoped_row(r: &Row) -> Result<(Scope, String)> {
    Ok((
        Scope {
            account: account_from_sql(col(r, 0)?),
            region: col(r, 1)?,
        },
        col(r, 2)?,
    ))
}

/// A `LIMIT` as PostgreSQL takes it.
pub(crate) fn limit_sql(limit: u32) -> i64 {
    i64::from(limit)
}
