//! The rewrap area on SQLite: walking every key, access key and secret in id order, and
//! compare-and-swap replacement of what the root key wraps, so that a rewrap running beside
//! live traffic never overwrites a row that changed after it was read.

use async_trait::async_trait;
use coffer_core::store::RewrapStore;
use coffer_core::*;
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::rows::{access_key_row, account_from_sql, internal, load_key, ACCESS_KEY_COLUMNS};
use super::SqliteStore;

fn counts(c: &Connection) -> Result<RewrapCounts> {
    let count = |sql: &str| -> Result<u64> {
        c.prepare_cached(sql)
            .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(|e| internal("count rows to rewrap", e))
    };
    Ok(RewrapCounts {
        key_versions: count("SELECT COUNT(*) FROM key_versions")?,
        access_keys: count("SELECT COUNT(*) FROM access_keys")?,
        secrets: count("SELECT COUNT(*) FROM secrets")?,
    })
}

/// Ids of up to `limit` keys after `after`, by id.
fn key_ids_after(c: &Connection, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
    c.prepare_cached("SELECT id FROM keys WHERE id > ?1 ORDER BY id LIMIT ?2")
        .and_then(|mut st| {
            st.query_map(params![after.unwrap_or(""), limit], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("list keys to rewrap", e))
}

fn replace_key_material(
    c: &Connection,
    key_id: &str,
    version: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool> {
    c.execute(
        "UPDATE key_versions SET wrapped_material = ?4 \
         WHERE key_id = ?1 AND id = ?2 AND wrapped_material = ?3",
        params![key_id, version, old, new],
    )
    .map(|n| n == 1)
    .map_err(|e| internal("replace key material", e))
}

fn access_keys_after(
    c: &Connection,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AccessKeyRecord>> {
    c.prepare_cached(&format!(
        "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))
    .and_then(|mut st| {
        st.query_map(params![after.unwrap_or(""), limit], access_key_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| internal("list access keys to rewrap", e))
}

fn replace_access_secret(c: &Connection, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
    c.execute(
        "UPDATE access_keys SET sealed_secret = ?3 WHERE id = ?1 AND sealed_secret = ?2",
        params![id, old, new],
    )
    .map(|n| n == 1)
    .map_err(|e| internal("replace access key secret", e))
}

fn secrets_after(c: &Connection, after: Option<Uuid>, limit: u32) -> Result<Vec<(Scope, Uuid)>> {
    let after = after.map(|u| u.to_string()).unwrap_or_default();
    let rows: Vec<(i64, String, String)> = c
        .prepare_cached(
            "SELECT account, region, id FROM secrets WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .and_then(|mut st| {
            st.query_map(params![after, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("list secrets to rewrap", e))?;
    rows.into_iter()
        .map(|(account, region, id)| {
            let id = Uuid::parse_str(&id)
                .map_err(|e| Error::internal(format!("stored secret id {id:?}: {e}")))?;
            Ok((
                Scope {
                    account: account_from_sql(account),
                    region,
                },
                id,
            ))
        })
        .collect()
}

#[async_trait]
impl RewrapStore for SqliteStore {
    async fn rewrap_counts(&self) -> Result<RewrapCounts> {
        self.read(counts).await
    }

    async fn keys_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<KeyRecord>> {
        let after = after.map(str::to_string);
        self.read(move |c| {
            let mut keys = Vec::new();
            for id in key_ids_after(c, after.as_deref(), limit)? {
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
        self.write(move |c| replace_key_material(c, &k, &v, &o, &n))
            .await
    }

    async fn access_keys_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>> {
        let after = after.map(str::to_string);
        self.read(move |c| access_keys_after(c, after.as_deref(), limit))
            .await
    }

    async fn replace_access_secret(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let (i, o, n) = (id.to_string(), old.to_vec(), new.to_vec());
        self.write(move |c| replace_access_secret(c, &i, &o, &n))
            .await
    }

    async fn secrets_after(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(Scope, Uuid)>> {
        self.read(move |c| secrets_after(c, after, limit)).await
    }
}
