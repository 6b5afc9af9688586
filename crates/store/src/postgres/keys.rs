//! The keys area on PostgreSQL: customer master keys with their aliases and versions, lookups
//! by id, alias and the scope's default, pages, the use check, the purge of keys past their
//! deletion date, and the rotation schedule.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::KeyStore;
use coffer_core::*;
use deadpool_postgres::Transaction;

use super::cache::{CachedKey, DEFAULT_KEY_TRUST};
use super::rows::{
    account_sql, all, col, exec, is_unique, key_row, key_state_parts, limit_sql, lock_account, one,
    opt, pg_error, scoped_row, violation, Violation, KEY_SELECT,
};
use super::{pg_read, pg_write, PgStore};

/// Inserts the versions not stored yet (all of them for a new key), in the record's order.
async fn insert_versions(tx: &Transaction<'_>, k: &KeyRecord, new_key: bool) -> Result<()> {
    if k.versions.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = k.versions.iter().map(|v| v.id.as_str()).collect();
    let created: Vec<i64> = k.versions.iter().map(|v| v.created_at.0).collect();
    let materials: Vec<&[u8]> = k
        .versions
        .iter()
        .map(|v| v.wrapped_material.as_slice())
        .collect();
    let sql = if new_key {
        "INSERT INTO key_versions (key_id, id, created_at, wrapped_material) \
         SELECT $1, v.id, v.c, v.m FROM unnest($2::text[], $3::bigint[], $4::bytea[]) \
         WITH ORDINALITY AS v(id, c, m, n) ORDER BY v.n"
    } else {
        // Versions are never removed or changed: the ones stored stay as they are.
        "INSERT INTO key_versions (key_id, id, created_at, wrapped_material) \
         SELECT $1, v.id, v.c, v.m FROM unnest($2::text[], $3::bigint[], $4::bytea[]) \
         WITH ORDINALITY AS v(id, c, m, n) ORDER BY v.n \
         ON CONFLICT (key_id, id) DO NOTHING"
    };
    exec(tx, sql, &[&k.id, &ids, &created, &materials])
        .await
        .map_err(|e| {
            if is_unique(&e) {
                Error::invalid("KeyVersions", "a key version is listed twice")
            } else {
                pg_error("insert key versions", e)
            }
        })?;
    Ok(())
}

/// Inserts the key's aliases in order, one statement each so that a taken alias is named.
async fn insert_aliases(tx: &Transaction<'_>, k: &KeyRecord) -> Result<()> {
    let account = account_sql(k.scope.account);
    for alias in &k.aliases {
        exec(
            tx,
            "INSERT INTO key_aliases (account, region, alias, key_id) VALUES ($1, $2, $3, $4)",
            &[&account, &k.scope.region, alias, &k.id],
        )
        .await
        .map_err(|e| {
            if is_unique(&e) {
                Error::AlreadyExists {
                    what: Resource::Key,
                    name: alias.clone(),
                }
            } else {
                pg_error("insert key alias", e)
            }
        })?;
    }
    Ok(())
}

pub(super) async fn create_key(tx: &Transaction<'_>, k: &KeyRecord) -> Result<()> {
    let (state, state_at) = key_state_parts(k.state);
    if !k.is_default {
        // An account delete on another node checks for keys like this one.
        lock_account(tx, k.scope.account, false).await?;
    }
    exec(
        tx,
        "INSERT INTO keys (id, account, region, description, state, state_at, is_default, \
         created_at, primary_version, rotation_enabled, rotation_interval, next_rotation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &k.id,
            &account_sql(k.scope.account),
            &k.scope.region,
            &k.description,
            &state,
            &state_at,
            &k.is_default,
            &k.created_at.0,
            &k.primary_version,
            &k.rotation.enabled,
            &k.rotation.interval_secs,
            &k.rotation.next_at.map(|t| t.0),
        ],
    )
    .await
    .map_err(|e| match violation(&e) {
        // Either the id or the scope's one default key is taken; name the right one.
        Some((Violation::Unique, "keys_one_default")) => Error::AlreadyExists {
            what: Resource::Key,
            name: format!("default key of {}/{}", k.scope.account, k.scope.region),
        },
        Some((Violation::Unique, _)) => Error::AlreadyExists {
            what: Resource::Key,
            name: k.id.clone(),
        },
        _ => pg_error("insert key", e),
    })?;
    insert_versions(tx, k, true).await?;
    insert_aliases(tx, k).await
}

/// See [`KeyStore::update_key`].
async fn update_key(tx: &Transaction<'_>, k: &KeyRecord) -> Result<()> {
    let (state, state_at) = key_state_parts(k.state);
    let n = exec(
        tx,
        "UPDATE keys SET description = $2, state = $3, state_at = $4, primary_version = $5, \
         rotation_enabled = $8, rotation_interval = $9, next_rotation = $10, \
         revision = nextval('key_revisions') \
         WHERE id = $1 AND account = $6 AND region = $7",
        &[
            &k.id,
            &k.description,
            &state,
            &state_at,
            &k.primary_version,
            &account_sql(k.scope.account),
            &k.scope.region,
            &k.rotation.enabled,
            &k.rotation.interval_secs,
            &k.rotation.next_at.map(|t| t.0),
        ],
    )
    .await
    .map_err(|e| pg_error("update key", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::Key, k.id.clone()));
    }
    insert_versions(tx, k, false).await?;
    exec(tx, "DELETE FROM key_aliases WHERE key_id = $1", &[&k.id])
        .await
        .map_err(|e| pg_error("clear key aliases", e))?;
    insert_aliases(tx, k).await
}

/// A row of [`KEY_SELECT`] with the key's revision.
fn cached_key_row(r: &tokio_postgres::Row) -> Result<CachedKey> {
    Ok(CachedKey {
        record: key_row(r)?,
        revision: col(r, 16)?,
        checked: std::time::Instant::now(),
    })
}

impl PgStore {
    /// The cached key, if the database still holds it at the cached revision (asked by a
    /// statement sent after this call began, batched with concurrent probes).
    async fn trusted(&self, hit: CachedKey) -> Result<Option<KeyRecord>> {
        let now = self
            .key_probe
            .revision(
                &self.pool,
                self.options.operation_timeout,
                hit.record.id.clone(),
            )
            .await?;
        Ok((now == Some(hit.revision)).then_some(hit.record))
    }

    /// Caches what a read by id found (or forgets the id when it found nothing).
    fn keep(&self, found: Option<CachedKey>, id: &str) -> Option<KeyRecord> {
        match found {
            Some(k) => {
                let record = k.record.clone();
                self.keys.fill(k);
                Some(record)
            }
            None => {
                self.keys.forget(id);
                None
            }
        }
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_key(&self, key: &KeyRecord) -> Result<()> {
        pg_write!(self, "create key", |tx| create_key(&tx, key)).await
    }

    async fn get_key(&self, scope: &Scope, id: &str) -> Result<Option<KeyRecord>> {
        self.bounded("read key", async {
            if let Some(hit) = self.keys.get(scope, id) {
                if let Some(k) = self.trusted(hit).await? {
                    return Ok(Some(k));
                }
            }
            let c = self.conn().await?;
            let found = one(
                &c,
                "read key",
                &format!("{KEY_SELECT} WHERE k.id = $1 AND k.account = $2 AND k.region = $3"),
                &[&id, &account_sql(scope.account), &scope.region],
                cached_key_row,
            )
            .await?;
            Ok(self.keep(found, id))
        })
        .await
    }

    async fn get_key_by_alias(&self, scope: &Scope, alias: &str) -> Result<Option<KeyRecord>> {
        pg_read!(self, "read key", |c| one(
            &c,
            "read key by alias",
            &format!(
                "{KEY_SELECT} WHERE k.account = $1 AND k.region = $2 AND k.id = \
                 (SELECT key_id FROM key_aliases WHERE account = $1 AND region = $2 AND alias = $3)"
            ),
            &[&account_sql(scope.account), &scope.region, &alias],
            key_row
        ))
        .await
    }

    async fn get_default_key(&self, scope: &Scope) -> Result<Option<KeyRecord>> {
        self.bounded("read default key", async {
            if let Some(hit) = self.keys.get_default(scope) {
                if hit.checked.elapsed() < DEFAULT_KEY_TRUST {
                    return Ok(Some(hit.record));
                }
                let (id, revision) = (hit.record.id.clone(), hit.revision);
                if let Some(k) = self.trusted(hit).await? {
                    self.keys.confirm(&id, revision);
                    return Ok(Some(k));
                }
                self.keys.forget(&id);
            }
            let c = self.conn().await?;
            let found = one(
                &c,
                "read default key",
                &format!("{KEY_SELECT} WHERE k.account = $1 AND k.region = $2 AND k.is_default"),
                &[&account_sql(scope.account), &scope.region],
                cached_key_row,
            )
            .await?;
            Ok(found.map(|k| {
                let record = k.record.clone();
                self.keys.fill(k);
                record
            }))
        })
        .await
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<()> {
        // This node's entry goes whatever the outcome; other nodes see the new revision.
        self.keys.forget(&key.id);
        pg_write!(self, "update key", |tx| update_key(&tx, key)).await
    }

    async fn list_keys(&self, scope: &Scope, page: PageRequest) -> Result<Page<KeyRecord>> {
        let order = if page.newest_first { "DESC" } else { "ASC" };
        pg_read!(self, "list keys", |c| async {
            let a = account_sql(scope.account);
            let total: i64 = match opt(
                &c,
                "SELECT COUNT(*) FROM keys WHERE account = $1 AND region = $2",
                &[&a, &scope.region],
            )
            .await
            .map_err(|e| pg_error("count keys", e))?
            {
                Some(r) => col(&r, 0)?,
                None => 0,
            };
            let order_by = format!("ORDER BY k.created_at {order}, k.seq {order}");
            let items = all(
                &c,
                "list keys",
                &format!(
                    "{KEY_SELECT} WHERE k.account = $1 AND k.region = $2 {order_by} \
                     LIMIT $3 OFFSET $4"
                ),
                &[
                    &a,
                    &scope.region,
                    &limit_sql(page.limit),
                    &(page.offset.min(i64::MAX as u64) as i64),
                ],
                key_row,
            )
            .await?;
            Ok(Page {
                items,
                total: total.max(0) as u64,
            })
        })
        .await
    }

    async fn key_in_use(&self, key_id: &str) -> Result<bool> {
        pg_read!(self, "check key use", |c| async {
            opt(
                &c,
                "SELECT 1 FROM secrets WHERE key_id = $1 \
                 UNION ALL SELECT 1 FROM db_instances WHERE key_id = $1 LIMIT 1",
                &[&key_id],
            )
            .await
            .map(|r| r.is_some())
            .map_err(|e| pg_error("check key use", e))
        })
        .await
    }

    async fn purge_due_keys(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        pg_write!(self, "purge keys", |tx| all(
            &tx,
            "purge due keys",
            // SKIP LOCKED: nodes purging at once take different keys, and a key being
            // updated right now (cancelled, say) waits for the next sweep.
            "DELETE FROM keys WHERE id IN (SELECT k.id FROM keys k \
             WHERE k.state = 'pending_deletion' AND k.state_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.key_id = k.id) \
             AND NOT EXISTS (SELECT 1 FROM db_instances d WHERE d.key_id = k.id) \
             ORDER BY k.state_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING account, region, id",
            &[&now.0, &limit_sql(limit)],
            scoped_row
        ))
        .await
    }

    async fn due_key_rotations(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        pg_read!(self, "find keys due for rotation", |c| all(
            &c,
            "find keys due for rotation",
            "SELECT account, region, id FROM keys WHERE rotation_enabled \
             AND state = 'enabled' AND next_rotation <= $1 ORDER BY next_rotation LIMIT $2",
            &[&now.0, &limit_sql(limit)],
            scoped_row
        ))
        .await
    }
}
