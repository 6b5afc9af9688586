//! The keys area on SQLite: customer master keys with their aliases and versions, lookups by
//! id, alias and the scope's default (the first and last through the read cache), pages,
//! the use check, the purge of keys past their deletion date, and the rotation schedule.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::KeyStore;
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{account_from_sql, account_sql, internal, is_unique_violation, load_key};
use super::SqliteStore;
use crate::cache::KeyLookup;

fn key_state_parts(state: KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Enabled => ("enabled", None),
        KeyState::Disabled => ("disabled", None),
        KeyState::PendingDeletion { delete_at } => ("pending_deletion", Some(delete_at.0)),
    }
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

pub(super) fn create_key(conn: &Connection, k: &KeyRecord) -> Result<()> {
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

/// See [`KeyStore::update_key`].
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

#[async_trait]
impl KeyStore for SqliteStore {
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
}
