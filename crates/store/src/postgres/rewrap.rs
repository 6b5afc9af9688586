//! The rewrap area on PostgreSQL: walking every key, access key and secret in id order, and
//! compare-and-swap replacement of what the root key wraps. The swap is one `UPDATE ...
//! WHERE <column> = <old>`: when another node changed the row first, PostgreSQL re-checks
//! the condition against the committed row and the swap changes nothing.

use async_trait::async_trait;
use coffer_core::store::RewrapStore;
use coffer_core::*;
use uuid::Uuid;

use super::rows::{
    access_key_row, account_from_sql, all, col, exec, key_row, limit_sql, opt, pg_error,
    ACCESS_KEY_COLUMNS, KEY_SELECT,
};
use super::{pg_read, pg_write, PgStore};

#[async_trait]
impl RewrapStore for PgStore {
    async fn rewrap_counts(&self) -> Result<RewrapCounts> {
        pg_read!(self, "count rows to rewrap", |c| async {
            let row = opt(
                &c,
                "SELECT (SELECT COUNT(*) FROM key_versions), (SELECT COUNT(*) FROM access_keys), \
                 (SELECT COUNT(*) FROM secrets)",
                &[],
            )
            .await
            .map_err(|e| pg_error("count rows to rewrap", e))?
            .ok_or_else(|| Error::internal("postgres: counting rows returned no row"))?;
            let n = |i| col::<i64>(&row, i).map(|n| n.max(0) as u64);
            Ok(RewrapCounts {
                key_versions: n(0)?,
                access_keys: n(1)?,
                secrets: n(2)?,
            })
        })
        .await
    }

    async fn keys_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<KeyRecord>> {
        pg_read!(self, "list keys to rewrap", |c| all(
            &c,
            "list keys to rewrap",
            &format!("{KEY_SELECT} WHERE ($1::text IS NULL OR k.id > $1) ORDER BY k.id LIMIT $2"),
            &[&after, &limit_sql(limit)],
            key_row
        ))
        .await
    }

    async fn replace_key_material(
        &self,
        key_id: &str,
        version: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        self.keys.forget(key_id);
        pg_write!(self, "replace key material", |tx| async {
            let replaced = exec(
                &tx,
                "UPDATE key_versions SET wrapped_material = $4 \
                 WHERE key_id = $1 AND id = $2 AND wrapped_material = $3",
                &[&key_id, &version, &old, &new],
            )
            .await
            .map(|n| n == 1)
            .map_err(|e| pg_error("replace key material", e))?;
            if replaced {
                // Nodes that cached the key under the old wrapping read it again.
                exec(
                    &tx,
                    "UPDATE keys SET revision = nextval('key_revisions') WHERE id = $1",
                    &[&key_id],
                )
                .await
                .map_err(|e| pg_error("replace key material", e))?;
            }
            Ok(replaced)
        })
        .await
    }

    async fn access_keys_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>> {
        pg_read!(self, "list access keys to rewrap", |c| all(
            &c,
            "list access keys to rewrap",
            &format!(
                "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys \
                 WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2"
            ),
            &[&after, &limit_sql(limit)],
            access_key_row
        ))
        .await
    }

    async fn replace_access_secret(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        pg_write!(self, "replace access key secret", |tx| async {
            exec(
                &tx,
                "UPDATE access_keys SET sealed_secret = $3 WHERE id = $1 AND sealed_secret = $2",
                &[&id, &old, &new],
            )
            .await
            .map(|n| n == 1)
            .map_err(|e| pg_error("replace access key secret", e))
        })
        .await
    }

    async fn secrets_after(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(Scope, Uuid)>> {
        pg_read!(self, "list secrets to rewrap", |c| all(
            &c,
            "list secrets to rewrap",
            "SELECT account, region, id FROM secrets \
             WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
            &[&after, &limit_sql(limit)],
            |r| Ok((
                Scope {
                    account: account_from_sql(col(r, 0)?),
                    region: col(r, 1)?,
                },
                col::<Uuid>(r, 2)?,
            ))
        ))
        .await
    }
}
