//! One secret write (create, update at a revision, delete at a revision) applied inside the
//! transaction its caller opened. Both the secrets area and rotation tasks (which commit a
//! version change with their task) write secrets through here.
//!
//! How races between nodes end:
//! - two creates of one name: the unique index `secrets_by_name` lets the first commit and
//!   fails the second (`AlreadyExists`) once the first has committed;
//! - two updates from one revision: the first `UPDATE ... WHERE revision = $read` takes the
//!   row lock; the second waits, re-reads the committed row, finds another revision and
//!   changes nothing (`Conflict`), so the core retries it on fresh state;
//! - stage moves and version lists are written under that same row lock, so no other write
//!   to the secret can interleave with them.

use std::collections::{HashMap, HashSet};

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use deadpool_postgres::{Object, Transaction};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::rows::{
    account_from_sql, account_lock_id, account_sql, col, exec, is_unique, lock_account, opt,
    pg_error, state_parts, unavailable, violation, with_causes, PgError, Violation,
    ACCOUNT_LOCK_CLASS,
};

/// Which of the scope's 16 count rows a secret is counted in. Creates and deletes of one
/// secret use the same row, so no row goes negative; concurrent creates mostly lock
/// different rows.
pub(crate) fn count_shard(id: &Uuid) -> i16 {
    i16::from(id.as_bytes()[15] % 16)
}

async fn adjust_count(
    tx: &Transaction<'_>,
    account: i64,
    region: &str,
    shard: i16,
    delta: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO secret_counts (account, region, shard, n) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account, region, shard) DO UPDATE SET n = secret_counts.n + excluded.n",
        &[&account, &region, &shard, &delta],
    )
    .await
    .map_err(|e| pg_error("count secrets", e))?;
    Ok(())
}

/// Takes the scope's quota lock and the account lock (see [`claim_room`]).
const CLAIM_ROOM_SQL: &str = "WITH c AS (SELECT COALESCE(SUM(n), 0)::bigint AS held, \
                           current_setting('max_connections')::bigint AS conns \
                    FROM secret_counts WHERE account = $1 AND region = $2) \
         SELECT held + 2 * conns >= $3, conns, \
                pg_advisory_xact_lock_shared($4, $5)::text, \
                CASE WHEN held + 2 * conns >= $3 THEN pg_advisory_xact_lock($6, $7)::text \
                     ELSE pg_advisory_xact_lock_shared($6, $7)::text END \
         FROM c";

/// Counts a new secret in and returns the count before it (see [`count_create`]).
const COUNT_CREATE_SQL: &str =
    "WITH up AS (INSERT INTO secret_counts (account, region, shard, n) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (account, region, shard) DO UPDATE SET n = secret_counts.n + 1 \
                 RETURNING n) \
     SELECT COALESCE(SUM(n), 0)::bigint FROM secret_counts WHERE account = $1 AND region = $2";

const INSERT_SECRET_SQL: &str =
    "INSERT INTO secrets (id, account, region, name, kind, kind_name, description, key_id, \
     state, purge_at, rotation, extended_config, policy, created_at, updated_at, revision, \
     next_rotation, db_instance) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

const INSERT_TAGS_SQL: &str = "INSERT INTO secret_tags (secret_id, position, key, value) \
     SELECT $1, (t.p - 1)::int, t.k, t.v \
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, v, p)";

const INSERT_VERSIONS_SQL: &str =
    "INSERT INTO versions (secret_id, version_id, seq, created_at, kind, key_id, \
     key_version, wrapped_data_key, ciphertext, expires_at) \
     SELECT $1, v.* FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], \
     $6::text[], $7::text[], $8::bytea[], $9::bytea[], $10::bigint[]) AS v";

const INSERT_STAGES_SQL: &str = "INSERT INTO stages (secret_id, stage, version_id) \
     SELECT $1, g.s, g.v FROM unnest($2::text[], $3::text[]) AS g(s, v)";

/// Lock class of a scope's quota lock (see [`claim_room`]), beside the account lock's.
const QUOTA_LOCK_CLASS: i32 = 0x636f_7174; // "coqt"

/// How a create holds its scope's quota lock.
struct Room {
    /// Exclusive: no other create of the scope is in flight, so the count is exact.
    exclusive: bool,
    /// How many transactions the server runs at most (`max_connections`): the most creates
    /// that can be in flight beside this one.
    in_flight: i64,
}

/// Takes the account lock (shared, as every create does) and the scope's quota lock, in one
/// round trip. The quota lock is shared while the scope is far from `max`, so creates far
/// from the quota never wait for each other; near it (within twice the transactions the
/// server can run at once) it is exclusive, so the creates that might take the last places
/// run one at a time and each counts every earlier one. Creates in flight under the shared
/// lock are at most `max_connections`, which is why that is the margin.
async fn claim_room(tx: &Transaction<'_>, scope: &Scope, max: u64) -> Result<Room> {
    let account = account_sql(scope.account);
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let row = opt(
        tx,
        CLAIM_ROOM_SQL,
        &[
            &account,
            &scope.region,
            &max,
            &ACCOUNT_LOCK_CLASS,
            &account_lock_id(scope.account),
            &QUOTA_LOCK_CLASS,
            &scope_lock_id(account, &scope.region),
        ],
    )
    .await
    .map_err(|e| pg_error("lock the scope's quota", e))?
    .ok_or_else(|| Error::internal("postgres: the quota lock returned no row"))?;
    Ok(Room {
        exclusive: col(&row, 0)?,
        in_flight: col(&row, 1)?,
    })
}

/// The scope folded into the quota lock's 32-bit object id (FNV-1a); scopes that fold alike
/// only wait for each other near a quota.
fn scope_lock_id(account: i64, region: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in account.to_le_bytes().iter().chain(region.as_bytes()) {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    h as i32
}

/// Counts a new secret in and checks the quota against the count before it, in one round
/// trip: the count rows as committed when the statement began, which under the quota lock
/// (see [`claim_room`]) is every create that could matter.
async fn count_create(
    tx: &Transaction<'_>,
    scope: &Scope,
    shard: i16,
    max: u64,
    room: &Room,
) -> Result<()> {
    let account = account_sql(scope.account);
    let row = opt(tx, COUNT_CREATE_SQL, &[&account, &scope.region, &shard])
        .await
        .map_err(|e| pg_error("count secrets", e))?
        .ok_or_else(|| Error::internal("postgres: counting secrets returned no row"))?;
    check_room(col(&row, 0)?, max, room)
}

/// Whether a create that found `before` secrets counted in its scope (itself not included)
/// may commit: see [`count_create`].
fn check_room(before: i64, max: u64, room: &Room) -> Result<()> {
    let before = u64::try_from(before).unwrap_or(0);
    if before >= max {
        return Err(Error::LimitExceeded {
            what: format!("at most {max} secrets per region"),
        });
    }
    // Under the shared lock other creates may be in flight; they cannot take the last places
    // only while even all of them together stay below the quota. When the scope came that
    // near since the lock was chosen, this create starts again and takes it exclusively.
    if !room.exclusive && before.saturating_add(u64::try_from(room.in_flight).unwrap_or(0)) >= max {
        return Err(Error::Conflict);
    }
    Ok(())
}

async fn write_tags(tx: &Transaction<'_>, id: &Uuid, tags: &[Tag], clear: bool) -> Result<()> {
    if clear {
        exec(tx, "DELETE FROM secret_tags WHERE secret_id = $1", &[id])
            .await
            .map_err(|e| pg_error("clear tags", e))?;
    }
    if tags.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
    let values: Vec<&str> = tags.iter().map(|t| t.value.as_str()).collect();
    exec(tx, INSERT_TAGS_SQL, &[id, &keys, &values])
        .await
        .map_err(|e| pg_error("insert tags", e))?;
    Ok(())
}

/// Replaces the secret's subscriptions. The foreign key on the rule refuses a name that no
/// rule of the scope has; one insert per name, so that the error names it.
async fn write_subscriptions(
    tx: &Transaction<'_>,
    id: &Uuid,
    record: &SecretRecord,
    clear: bool,
) -> Result<()> {
    if clear {
        exec(
            tx,
            "DELETE FROM secret_subscriptions WHERE secret_id = $1",
            &[id],
        )
        .await
        .map_err(|e| pg_error("clear subscriptions", e))?;
    }
    let account = account_sql(record.scope.account);
    for (i, name) in record.subscriptions.iter().enumerate() {
        let position = i32::try_from(i).unwrap_or(i32::MAX);
        exec(
            tx,
            "INSERT INTO secret_subscriptions (secret_id, position, account, region, rule_name) \
             VALUES ($1, $2, $3, $4, $5)",
            &[id, &position, &account, &record.scope.region, name],
        )
        .await
        .map_err(|e| match violation(&e) {
            Some((Violation::ForeignKey, _)) => Error::not_found(Resource::EventRule, name.clone()),
            _ => pg_error("insert subscription", e),
        })?;
    }
    Ok(())
}

/// A version to insert with its value.
struct NewVersion<'a> {
    meta: &'a VersionRecord,
    sealed: SealedValue,
}

/// New versions as the columns of [`INSERT_VERSIONS_SQL`].
struct VersionColumns {
    ids: Vec<String>,
    seqs: Vec<i64>,
    created: Vec<i64>,
    kinds: Vec<&'static str>,
    key_ids: Vec<String>,
    key_versions: Vec<String>,
    data_keys: Vec<Vec<u8>>,
    ciphertexts: Vec<Vec<u8>>,
    expires: Vec<Option<i64>>,
}

impl VersionColumns {
    /// The versions numbered after `last_seq`, in the record's order.
    fn new(new: Vec<NewVersion<'_>>, last_seq: i64) -> Self {
        let mut c = VersionColumns {
            ids: vec![],
            seqs: vec![],
            created: vec![],
            kinds: vec![],
            key_ids: vec![],
            key_versions: vec![],
            data_keys: vec![],
            ciphertexts: vec![],
            expires: vec![],
        };
        for (i, v) in new.into_iter().enumerate() {
            c.ids.push(v.meta.version_id.clone());
            c.seqs.push(last_seq + 1 + i as i64);
            c.created.push(v.meta.created_at.0);
            c.kinds.push(v.meta.kind.as_str());
            c.expires.push(v.meta.expires_at.map(|t| t.0));
            c.key_ids.push(v.sealed.key_id);
            c.key_versions.push(v.sealed.key_version);
            c.data_keys.push(v.sealed.envelope.wrapped_data_key);
            c.ciphertexts.push(v.sealed.envelope.ciphertext);
        }
        c
    }

    fn params<'a>(&'a self, id: &'a Uuid) -> [&'a (dyn ToSql + Sync); 10] {
        [
            id,
            &self.ids,
            &self.seqs,
            &self.created,
            &self.kinds,
            &self.key_ids,
            &self.key_versions,
            &self.data_keys,
            &self.ciphertexts,
            &self.expires,
        ]
    }
}

/// Inserts versions with their sealed values, numbered after `last_seq` in the record's order
/// (the order reads return).
async fn insert_versions(
    tx: &Transaction<'_>,
    id: &Uuid,
    last_seq: i64,
    new: Vec<NewVersion<'_>>,
) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    let cols = VersionColumns::new(new, last_seq);
    let first = cols.ids.first().cloned().unwrap_or_default();
    exec(tx, INSERT_VERSIONS_SQL, &cols.params(id))
        .await
        .map_err(|e| {
            if is_unique(&e) {
                // The callers check for taken ids first; this is the backstop.
                Error::AlreadyExists {
                    what: Resource::Version,
                    name: first,
                }
            } else {
                pg_error("insert versions", e)
            }
        })?;
    Ok(())
}

/// The record's stages, one row per (stage, version). The primary key refuses a stage on two
/// versions.
/// The record's stages and the version each marks, as the columns of [`INSERT_STAGES_SQL`].
fn stage_columns(record: &SecretRecord) -> (Vec<String>, Vec<&str>) {
    let mut stages = vec![];
    let mut versions = vec![];
    for v in &record.versions {
        for s in &v.stages {
            stages.push(s.to_stored());
            versions.push(v.version_id.as_str());
        }
    }
    (stages, versions)
}

fn stage_error(e: PgError) -> Error {
    if is_unique(&e) {
        Error::invalid("VersionStage", "a stage may mark only one version")
    } else {
        pg_error("insert stages", e)
    }
}

async fn insert_stages(tx: &Transaction<'_>, id: &Uuid, record: &SecretRecord) -> Result<()> {
    let (stages, versions) = stage_columns(record);
    if stages.is_empty() {
        return Ok(());
    }
    exec(tx, INSERT_STAGES_SQL, &[id, &stages, &versions])
        .await
        .map_err(stage_error)?;
    Ok(())
}

/// Splits the record's versions into those that arrive with a value (to insert) and those
/// that must already be stored, pairing each value with its version. `taken` holds the ids
/// stored now; a value for one of them is refused as the SQLite store refuses it.
fn pair_values<'r>(
    record: &'r SecretRecord,
    mut values: Vec<(String, SealedValue)>,
    taken: &HashSet<&str>,
) -> Result<(Vec<NewVersion<'r>>, Vec<&'r VersionRecord>)> {
    let mut new = vec![];
    let mut kept = vec![];
    let mut seen = HashSet::new();
    for v in &record.versions {
        match values.iter().position(|(id, _)| *id == v.version_id) {
            Some(i) => {
                let (_, sealed) = values.swap_remove(i);
                if taken.contains(v.version_id.as_str()) || !seen.insert(v.version_id.as_str()) {
                    return Err(Error::AlreadyExists {
                        what: Resource::Version,
                        name: v.version_id.clone(),
                    });
                }
                new.push(NewVersion { meta: v, sealed });
            }
            None => kept.push(v),
        }
    }
    if let Some((id, _)) = values.first() {
        return Err(Error::internal(format!(
            "postgres: a value for version {id:?}, which the record does not list"
        )));
    }
    Ok((new, kept))
}

/// The columns a secret row keeps for the scheduler and the instance-in-use check: when its
/// next automatic rotation is due (only while it is enabled and rotation is on) and the
/// instance a managed secret lives on.
fn schedule_columns(record: &SecretRecord) -> (Option<i64>, Option<&str>) {
    let next = match (record.state, record.rotation.enabled) {
        (SecretState::Enabled, true) => record.rotation.next.map(|t| t.0),
        _ => None,
    };
    let instance = match &record.kind {
        SecretKind::Database { instance, .. } => Some(instance.as_str()),
        SecretKind::Generic => None,
    };
    (next, instance)
}

async fn create_secret(
    tx: &Transaction<'_>,
    record: SecretRecord,
    values: Vec<(String, SealedValue)>,
    max_secrets: Option<u64>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind)
        .map_err(|e| Error::internal(format!("encode kind: {e}")))?;
    let rotation = serde_json::to_string(&record.rotation)
        .map_err(|e| Error::internal(format!("encode rotation: {e}")))?;
    let account = account_sql(record.scope.account);
    let (next_rotation, db_instance) = schedule_columns(&record);
    // Held until commit, so that deleting the account (or an instance) on another node
    // waits for this create instead of missing it. With a quota, the scope's quota lock is
    // taken with it.
    let room = match max_secrets {
        Some(max) => Some((max, claim_room(tx, &record.scope, max).await?)),
        None => {
            lock_account(tx, record.scope.account, false).await?;
            None
        }
    };
    exec(
        tx,
        INSERT_SECRET_SQL,
        &[
            &record.id,
            &account,
            &record.scope.region,
            &record.name,
            &kind,
            &record.kind.type_name(),
            &record.description,
            &record.key_id,
            &state,
            &purge_at,
            &rotation,
            &record.extended_config,
            &record.policy,
            &record.created_at.0,
            &record.updated_at.0,
            &record.revision,
            &next_rotation,
            &db_instance,
        ],
    )
    .await
    .map_err(|e| {
        if is_unique(&e) {
            Error::AlreadyExists {
                what: Resource::Secret,
                name: record.name.clone(),
            }
        } else {
            pg_error("insert secret", e)
        }
    })?;
    match &room {
        Some((max, room)) => {
            count_create(tx, &record.scope, count_shard(&record.id), *max, room).await?
        }
        None => {
            adjust_count(
                tx,
                account,
                &record.scope.region,
                count_shard(&record.id),
                1,
            )
            .await?
        }
    }
    write_tags(tx, &record.id, &record.tags, false).await?;
    write_subscriptions(tx, &record.id, &record, false).await?;
    let (new, kept) = pair_values(&record, values, &HashSet::new())?;
    if let Some(v) = kept.first() {
        return Err(Error::internal(format!(
            "postgres: version {:?} of a new secret comes without a value",
            v.version_id
        )));
    }
    insert_versions(tx, &record.id, 0, new).await?;
    insert_stages(tx, &record.id, &record).await
}

fn insert_secret_error(e: PgError, name: &str) -> Error {
    if is_unique(&e) {
        Error::AlreadyExists {
            what: Resource::Secret,
            name: name.to_string(),
        }
    } else {
        pg_error("insert secret", e)
    }
}

fn version_error(e: PgError, first: &str) -> Error {
    if is_unique(&e) {
        // The callers check for taken ids first; this is the backstop.
        Error::AlreadyExists {
            what: Resource::Version,
            name: first.to_string(),
        }
    } else {
        pg_error("insert versions", e)
    }
}

/// A connection inside a transaction this side opened by hand. Dropped before the transaction
/// ended (the call timed out, or a statement's fate is unknown), the connection is taken out
/// of the pool and closed, which rolls the transaction back on the server: it never goes back
/// to the pool mid-transaction.
struct InTransaction(Option<Object>);

impl InTransaction {
    fn conn(&self) -> Result<&Object> {
        self.0
            .as_ref()
            .ok_or_else(|| Error::internal("postgres: a connection used after its release"))
    }

    /// The transaction is over: the connection may serve the next call.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// Subscriptions of a new secret, in order, in one statement. The foreign key on the rule
/// refuses a name that no rule of the scope has (see [`missing_rule`] for which).
const INSERT_SUBSCRIPTIONS_SQL: &str =
    "INSERT INTO secret_subscriptions (secret_id, position, account, region, rule_name) \
     SELECT $1, (t.p - 1)::int, $2, $3, t.r FROM unnest($4::text[]) WITH ORDINALITY AS t(r, p)";

/// Whether the key a new secret is sealed under is no longer enabled (disabled, or pending
/// deletion). Read in the create's transaction, so that a key disabled on any node before
/// the create's statements ran refuses it, whatever this node last read of the key. (The
/// store does not tie a secret's key id to a key row; the core resolves keys.)
const KEY_REFUSED_SQL: &str = "SELECT state <> 'enabled' FROM keys WHERE id = $1";

/// A create under a key that is no longer enabled. Only creates that callers make are
/// checked ([`create_pipelined`]); a restore puts back secrets whatever their key's state.
fn key_not_usable(key_id: &str) -> Error {
    Error::Disabled {
        what: Resource::Key,
        name: key_id.to_string(),
    }
}

/// The replication record of a new secret.
const INSERT_REPLICATION_SQL: &str =
    "INSERT INTO secret_replication (secret_id, info) VALUES ($1, $2)";

/// The first of `names` that no event rule of the scope has, asked after a create was refused
/// for one, so that the error names it.
async fn missing_rule(c: &Object, scope: &Scope, names: &[String]) -> Option<String> {
    let row = c
        .query_opt(
            "SELECT u.n FROM unnest($3::text[]) WITH ORDINALITY AS u(n, p) \
             WHERE NOT EXISTS (SELECT 1 FROM event_rules e \
                               WHERE e.account = $1 AND e.region = $2 AND e.name = u.n) \
             ORDER BY u.p LIMIT 1",
            &[&account_sql(scope.account), &scope.region, &names],
        )
        .await
        .ok()??;
    row.try_get(0).ok()
}

/// [`create_secret`] (with, for a replicated secret, its replication record) in two round
/// trips instead of one per statement: `BEGIN` and every statement of the create are sent at
/// once (pipelined on the connection, which PostgreSQL runs one after the other in the order
/// sent, each with a snapshot taken when it starts, exactly as when each waits for the one
/// before), and once their answers are read and the quota checked, `COMMIT` (or `ROLLBACK`).
/// The locks, the count and the checks are the transaction path's, statement for statement;
/// only the waits between statements are gone. Every create on PostgreSQL goes this way. The
/// key's state is read in the same transaction (see [`KEY_REFUSED_SQL`]), so the key the
/// caller sealed under may come from this node's cache.
pub(super) async fn create_pipelined(
    conn: Object,
    record: SecretRecord,
    values: Vec<(String, SealedValue)>,
    max_secrets: Option<u64>,
    replication: Option<String>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind)
        .map_err(|e| Error::internal(format!("encode kind: {e}")))?;
    let rotation = serde_json::to_string(&record.rotation)
        .map_err(|e| Error::internal(format!("encode rotation: {e}")))?;
    let account = account_sql(record.scope.account);
    let (next_rotation, db_instance) = schedule_columns(&record);
    let (new, kept) = pair_values(&record, values, &HashSet::new())?;
    if let Some(v) = kept.first() {
        return Err(Error::internal(format!(
            "postgres: version {:?} of a new secret comes without a value",
            v.version_id
        )));
    }
    let versions = VersionColumns::new(new, 0);
    let first_version = versions.ids.first().cloned().unwrap_or_default();
    let (stages, staged) = stage_columns(&record);
    let tag_keys: Vec<&str> = record.tags.iter().map(|t| t.key.as_str()).collect();
    let tag_values: Vec<&str> = record.tags.iter().map(|t| t.value.as_str()).collect();
    let shard = count_shard(&record.id);
    let max = max_secrets.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    let account_lock = account_lock_id(record.scope.account);
    let quota_lock = scope_lock_id(account, &record.scope.region);
    let kind_name = record.kind.type_name();
    let id = record.id;

    let held = InTransaction(Some(conn));
    let c = held.conn()?;
    const LOCK_ACCOUNT_SQL: &str = "SELECT pg_advisory_xact_lock_shared($1, $2)::text";
    const ADJUST_COUNT_SQL: &str = "INSERT INTO secret_counts (account, region, shard, n) \
         VALUES ($1, $2, $3, 1) ON CONFLICT (account, region, shard) DO UPDATE \
         SET n = secret_counts.n + 1 RETURNING n";
    let (lock_sql, count_sql) = match max {
        Some(_) => (CLAIM_ROOM_SQL, COUNT_CREATE_SQL),
        None => (LOCK_ACCOUNT_SQL, ADJUST_COUNT_SQL),
    };
    // Every statement prepared first (from the connection's cache after its first create), so
    // that each one below is sent the moment its future is first polled: a statement that
    // still had to be prepared would otherwise go out after later ones.
    let prepared = tokio::try_join!(
        c.prepare_cached(lock_sql),
        c.prepare_cached(INSERT_SECRET_SQL),
        c.prepare_cached(count_sql),
        c.prepare_cached(INSERT_TAGS_SQL),
        c.prepare_cached(INSERT_VERSIONS_SQL),
        c.prepare_cached(INSERT_STAGES_SQL),
        c.prepare_cached(INSERT_SUBSCRIPTIONS_SQL),
        c.prepare_cached(INSERT_REPLICATION_SQL),
        c.prepare_cached(KEY_REFUSED_SQL),
    );
    let (lock_st, secret_st, count_st, tags_st, versions_st, stages_st, subs_st, repl_st, key_st) =
        prepared.map_err(|e| pg_error("prepare a create", e))?;
    // `biased`: polled in this order, so sent, and run by PostgreSQL, in this order.
    let (
        begun,
        key_refused,
        room,
        inserted,
        counted,
        tagged,
        subscribed,
        versioned,
        staged_r,
        replicated,
    ) = tokio::join!(
        biased;
        c.batch_execute("BEGIN"),
        async { c.query_opt(&key_st, &[&record.key_id]).await },
        async {
            match max {
                // Held until commit, so that deleting the account (or an instance) on another
                // node waits for this create instead of missing it; with a quota, the scope's
                // quota lock is taken with it.
                Some(max) => c
                    .query_opt(
                        &lock_st,
                        &[
                            &account,
                            &record.scope.region,
                            &max,
                            &ACCOUNT_LOCK_CLASS,
                            &account_lock,
                            &QUOTA_LOCK_CLASS,
                            &quota_lock,
                        ],
                    )
                    .await
                    .map(|row| row.map(Some)),
                None => c
                    .query_opt(&lock_st, &[&ACCOUNT_LOCK_CLASS, &account_lock])
                    .await
                    .map(|_| Some(None)),
            }
        },
        async {
            c.execute(
                &secret_st,
                &[
                    &id,
                    &account,
                    &record.scope.region,
                    &record.name,
                    &kind,
                    &kind_name,
                    &record.description,
                    &record.key_id,
                    &state,
                    &purge_at,
                    &rotation,
                    &record.extended_config,
                    &record.policy,
                    &record.created_at.0,
                    &record.updated_at.0,
                    &record.revision,
                    &next_rotation,
                    &db_instance,
                ],
            )
            .await
        },
        async {
            c.query_opt(&count_st, &[&account, &record.scope.region, &shard])
                .await
        },
        async {
            if tag_keys.is_empty() {
                return Ok(0);
            }
            c.execute(&tags_st, &[&id, &tag_keys, &tag_values]).await
        },
        async {
            if record.subscriptions.is_empty() {
                return Ok(0);
            }
            c.execute(
                &subs_st,
                &[&id, &account, &record.scope.region, &record.subscriptions],
            )
            .await
        },
        async {
            if versions.ids.is_empty() {
                return Ok(0);
            }
            c.execute(&versions_st, &versions.params(&id)).await
        },
        async {
            if stages.is_empty() {
                return Ok(0);
            }
            c.execute(&stages_st, &[&id, &stages, &staged]).await
        },
        async {
            match &replication {
                Some(info) => c.execute(&repl_st, &[&id, info]).await,
                None => Ok(0),
            }
        },
    );
    // The first failure is the one to report: after it, PostgreSQL refused the rest
    // ("current transaction is aborted").
    let outcome: Result<()> = async {
        begun.map_err(|e| pg_error("begin transaction", e))?;
        if let Some(row) = key_refused.map_err(|e| pg_error("check the key", e))? {
            if col::<bool>(&row, 0)? {
                return Err(key_not_usable(&record.key_id));
            }
        }
        let room = room
            .map_err(|e| pg_error("lock the scope's quota", e))?
            .ok_or_else(|| Error::internal("postgres: the account lock returned no row"))?;
        inserted.map_err(|e| insert_secret_error(e, &record.name))?;
        let counted = counted.map_err(|e| pg_error("count secrets", e))?;
        tagged.map_err(|e| pg_error("insert tags", e))?;
        if let Err(e) = subscribed {
            return Err(match violation(&e) {
                Some((Violation::ForeignKey, _)) => Error::NotFound {
                    what: Resource::EventRule,
                    name: String::new(),
                },
                _ => pg_error("insert subscriptions", e),
            });
        }
        versioned.map_err(|e| version_error(e, &first_version))?;
        staged_r.map_err(stage_error)?;
        replicated.map_err(|e| pg_error("write replication", e))?;
        if let (Some(row), Some(max)) = (room, max_secrets) {
            // With a quota, the count statement returns the count before this create.
            let room = Room {
                exclusive: col(&row, 0)?,
                in_flight: col(&row, 1)?,
            };
            let before = counted
                .ok_or_else(|| Error::internal("postgres: counting secrets returned no row"))?;
            check_room(col(&before, 0)?, max, &room)?;
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => match c.batch_execute("COMMIT").await {
            Ok(()) => {
                held.release();
                Ok(())
            }
            // The server answered: the transaction is over either way.
            Err(e) if e.as_db_error().is_some() => {
                held.release();
                Err(pg_error("commit", e))
            }
            Err(e) => Err(unavailable(
                "commit; the write may or may not have been applied",
                with_causes(&e),
            )),
        },
        Err(error) => {
            if c.batch_execute("ROLLBACK").await.is_err() {
                return Err(error);
            }
            let error = match error {
                // A subscription names a rule that the scope does not have: which one.
                Error::NotFound {
                    what: Resource::EventRule,
                    name,
                } if name.is_empty() => {
                    let missing = missing_rule(c, &record.scope, &record.subscriptions).await;
                    Error::not_found(
                        Resource::EventRule,
                        missing.unwrap_or_else(|| record.subscriptions.join(",")),
                    )
                }
                e => e,
            };
            held.release();
            Err(error)
        }
    }
}

/// What a secret holds beside its row, read under the row lock an update took.
struct Stored {
    tags: Vec<Tag>,
    subscriptions: Vec<String>,
    /// Version id to (created_at, kind, expires_at).
    versions: HashMap<String, (i64, String, Option<i64>)>,
    last_seq: i64,
}

async fn read_stored(tx: &Transaction<'_>, id: &Uuid) -> Result<Stored> {
    let row = opt(
        tx,
        "SELECT t.keys, t.vals, x.rules, v.ids, v.created, v.kinds, v.expires, v.last_seq \
         FROM (SELECT COALESCE(array_agg(key ORDER BY position), '{}') AS keys, \
                      COALESCE(array_agg(value ORDER BY position), '{}') AS vals \
               FROM secret_tags WHERE secret_id = $1) t, \
              (SELECT COALESCE(array_agg(rule_name ORDER BY position), '{}') AS rules \
               FROM secret_subscriptions WHERE secret_id = $1) x, \
              (SELECT COALESCE(array_agg(version_id ORDER BY seq), '{}') AS ids, \
                      COALESCE(array_agg(created_at ORDER BY seq), '{}') AS created, \
                      COALESCE(array_agg(kind ORDER BY seq), '{}') AS kinds, \
                      COALESCE(array_agg(expires_at ORDER BY seq), '{}') AS expires, \
                      COALESCE(MAX(seq), 0) AS last_seq \
               FROM versions WHERE secret_id = $1) v",
        &[id],
    )
    .await
    .map_err(|e| pg_error("read stored secret", e))?
    .ok_or_else(|| Error::internal("postgres: reading a stored secret returned no row"))?;
    let keys: Vec<String> = col(&row, 0)?;
    let vals: Vec<String> = col(&row, 1)?;
    let ids: Vec<String> = col(&row, 3)?;
    let created: Vec<i64> = col(&row, 4)?;
    let kinds: Vec<String> = col(&row, 5)?;
    let expires: Vec<Option<i64>> = col(&row, 6)?;
    Ok(Stored {
        tags: keys
            .into_iter()
            .zip(vals)
            .map(|(key, value)| Tag { key, value })
            .collect(),
        subscriptions: col(&row, 2)?,
        versions: ids
            .into_iter()
            .zip(created.into_iter().zip(kinds).zip(expires))
            .map(|(id, ((c, k), e))| (id, (c, k, e)))
            .collect(),
        last_seq: col(&row, 7)?,
    })
}

async fn update_secret(
    tx: &Transaction<'_>,
    record: SecretRecord,
    new_values: Vec<(String, SealedValue)>,
    removed_versions: Vec<String>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind)
        .map_err(|e| Error::internal(format!("encode kind: {e}")))?;
    let rotation = serde_json::to_string(&record.rotation)
        .map_err(|e| Error::internal(format!("encode rotation: {e}")))?;
    let id = record.id;
    let (next_rotation, db_instance) = schedule_columns(&record);
    if db_instance.is_some() {
        // Naming an instance: an instance delete on another node must see this secret.
        lock_account(tx, record.scope.account, false).await?;
    }
    // The revision check and the bump are one statement, and it takes the row lock that
    // every other writer of this secret needs: a writer that read an older revision changes
    // nothing. Identity (scope, name, creation time) never changes.
    let changed = exec(
        tx,
        "UPDATE secrets SET kind = $1, kind_name = $2, description = $3, key_id = $4, \
         state = $5, purge_at = $6, rotation = $7, extended_config = $8, policy = $9, \
         updated_at = $10, revision = revision + 1, next_rotation = $13, db_instance = $14 \
         WHERE id = $11 AND revision = $12",
        &[
            &kind,
            &record.kind.type_name(),
            &record.description,
            &record.key_id,
            &state,
            &purge_at,
            &rotation,
            &record.extended_config,
            &record.policy,
            &record.updated_at.0,
            &id,
            &record.revision,
            &next_rotation,
            &db_instance,
        ],
    )
    .await
    .map_err(|e| pg_error("update secret", e))?;
    if changed == 0 {
        return Err(Error::Conflict);
    }
    // Read after the lock, so this statement sees every write committed before it.
    let stored = read_stored(tx, &id).await?;
    // Tags and subscriptions are rewritten only when they changed: most updates (a new
    // version, a description) leave them alone, and each rewrite leaves dead index entries.
    if stored.tags != record.tags {
        write_tags(tx, &id, &record.tags, true).await?;
    }
    if stored.subscriptions != record.subscriptions {
        write_subscriptions(tx, &id, &record, true).await?;
    }
    // Stages go first so that no stage points at a version while it is removed.
    exec(tx, "DELETE FROM stages WHERE secret_id = $1", &[&id])
        .await
        .map_err(|e| pg_error("clear stages", e))?;
    if !removed_versions.is_empty() {
        exec(
            tx,
            "DELETE FROM versions WHERE secret_id = $1 AND version_id = ANY($2)",
            &[&id, &removed_versions],
        )
        .await
        .map_err(|e| pg_error("delete versions", e))?;
    }
    let removed: HashSet<&str> = removed_versions.iter().map(String::as_str).collect();
    let taken: HashSet<&str> = stored
        .versions
        .keys()
        .map(String::as_str)
        .filter(|v| !removed.contains(v))
        .collect();
    let (new, kept) = pair_values(&record, new_values, &taken)?;
    // Versions already stored are rewritten only when their metadata changed.
    let (mut ids, mut created, mut kinds, mut expires) = (vec![], vec![], vec![], vec![]);
    for v in kept {
        let wanted = (
            v.created_at.0,
            v.kind.as_str().to_string(),
            v.expires_at.map(|t| t.0),
        );
        match stored.versions.get(&v.version_id) {
            Some(_) if !taken.contains(v.version_id.as_str()) => {
                return Err(Error::internal(format!(
                    "postgres: version {:?} is kept and removed at once",
                    v.version_id
                )))
            }
            Some(meta) if *meta == wanted => {}
            Some(_) => {
                ids.push(v.version_id.as_str());
                created.push(wanted.0);
                kinds.push(v.kind.as_str());
                expires.push(wanted.2);
            }
            None => {
                return Err(Error::internal(format!(
                    "postgres: version {:?} is neither stored nor written with a value",
                    v.version_id
                )))
            }
        }
    }
    if !ids.is_empty() {
        exec(
            tx,
            "UPDATE versions v SET created_at = u.c, kind = u.k, expires_at = u.e \
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(id, c, k, e) \
             WHERE v.secret_id = $1 AND v.version_id = u.id",
            &[&id, &ids, &created, &kinds, &expires],
        )
        .await
        .map_err(|e| pg_error("update versions", e))?;
    }
    insert_versions(tx, &id, stored.last_seq, new).await?;
    insert_stages(tx, &id, &record).await
}

/// Deletes a secret with its tags, versions, values, stages, subscriptions and tasks (by
/// cascade). With `revision`, only if the stored revision equals it. Returns the scope and
/// name deleted.
pub(crate) async fn delete_secret(
    tx: &Transaction<'_>,
    id: &Uuid,
    revision: Option<i64>,
) -> Result<Option<(Scope, String)>> {
    let deleted = opt(
        tx,
        "DELETE FROM secrets WHERE id = $1 AND ($2::bigint IS NULL OR revision = $2) \
         RETURNING account, region, name",
        &[id, &revision],
    )
    .await
    .map_err(|e| pg_error("delete secret", e))?;
    let Some(row) = deleted else {
        return Ok(None);
    };
    let account: i64 = col(&row, 0)?;
    let region: String = col(&row, 1)?;
    adjust_count(tx, account, &region, count_shard(id), -1).await?;
    Ok(Some((
        Scope {
            account: account_from_sql(account),
            region,
        },
        col(&row, 2)?,
    )))
}

pub(crate) async fn apply_secret_write(tx: &Transaction<'_>, write: SecretWrite) -> Result<()> {
    match write {
        SecretWrite::Create {
            record,
            values,
            max_secrets,
        } => create_secret(tx, record, values, max_secrets).await,
        SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } => update_secret(tx, record, new_values, removed_versions).await,
        SecretWrite::Delete { id, revision } => match delete_secret(tx, &id, Some(revision)).await?
        {
            Some(_) => Ok(()),
            // Gone or changed since it was read: the caller retries on fresh state.
            None => Err(Error::Conflict),
        },
        SecretWrite::SetReplication { id, info } => set_replication(tx, &id, info).await,
        // One transaction: an error in any part rolls back every part.
        SecretWrite::Batch(writes) => {
            for w in writes {
                Box::pin(apply_secret_write(tx, w)).await?;
            }
            Ok(())
        }
    }
}

async fn set_replication(tx: &Transaction<'_>, id: &Uuid, info: Option<String>) -> Result<()> {
    let found = tx
        .query_opt("SELECT 1 FROM secrets WHERE id = $1 FOR UPDATE", &[id])
        .await
        .map_err(|e| pg_error("find secret", e))?;
    if found.is_none() {
        return Err(Error::not_found(
            coffer_core::error::Resource::Secret,
            id.to_string(),
        ));
    }
    let done = match info {
        Some(info) => {
            tx.execute(
                "INSERT INTO secret_replication (secret_id, info) VALUES ($1, $2) \
                 ON CONFLICT (secret_id) DO UPDATE SET info = excluded.info",
                &[id, &info],
            )
            .await
        }
        None => {
            tx.execute("DELETE FROM secret_replication WHERE secret_id = $1", &[id])
                .await
        }
    };
    done.map(|_| ())
        .map_err(|e| pg_error("write replication", e))
}
