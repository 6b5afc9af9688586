//! The accounts area on SQLite: accounts, access keys, policies and their attachments to keys,
//! projects, and deleting an account with everything it owns. The free functions run on the
//! connection they are given, inside the transaction (writes) or snapshot (reads) the store
//! opened for them.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::AccountStore;
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{
    access_key_row, account_from_sql, account_sql, internal, is_foreign_key_violation,
    is_unique_violation, ACCESS_KEY_COLUMNS,
};
use super::SqliteStore;

pub(super) const POLICY_COLUMNS: &str = "account, name, document, created_at, updated_at";

pub(super) fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: account_from_sql(r.get(0)?),
        name: r.get(1)?,
        operator: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        account_number: r.get(4)?,
    })
}

pub(super) fn policy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyRecord> {
    Ok(PolicyRecord {
        account: account_from_sql(r.get(0)?),
        name: r.get(1)?,
        document: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        updated_at: Timestamp(r.get(4)?),
    })
}

fn list_access_keys(c: &Connection, account: AccountId) -> Result<Vec<AccessKeyRecord>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account = ?1 \
             ORDER BY created_at, id"
        ))
        .map_err(|e| internal("prepare access keys", e))?;
    let rows = st
        .query_map([account_sql(account)], access_key_row)
        .map_err(|e| internal("list access keys", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read access key", e))
}

fn delete_access_key(c: &Connection, id: &str) -> Result<()> {
    let n = c
        .execute("DELETE FROM access_keys WHERE id = ?1", [id])
        .map_err(|e| internal("delete access key", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::AccessKey, id));
    }
    Ok(())
}

fn exists(c: &Connection, sql: &str, account: i64) -> Result<bool> {
    c.query_row(sql, [account], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(|e| internal("check account contents", e))
}

fn delete_account(c: &Connection, id: AccountId) -> Result<()> {
    let a = account_sql(id);
    if !exists(c, "SELECT 1 FROM accounts WHERE id = ?1", a)? {
        return Err(Error::not_found(Resource::Account, id.to_string()));
    }
    let busy = |reason: &str| Error::InvalidState {
        name: id.to_string(),
        reason: format!("the account {id} {reason}"),
    };
    if exists(c, "SELECT 1 FROM secrets WHERE account = ?1 LIMIT 1", a)? {
        return Err(busy(
            "still holds secrets (including secrets pending deletion)",
        ));
    }
    if exists(
        c,
        "SELECT 1 FROM keys WHERE account = ?1 AND is_default = 0 LIMIT 1",
        a,
    )? {
        return Err(busy("still holds keys"));
    }
    // Children before parents: attachments go with the access keys, then the policies they
    // referenced; key versions and aliases go with their keys.
    for sql in [
        "DELETE FROM access_keys WHERE account = ?1",
        "DELETE FROM policies WHERE account = ?1",
        "DELETE FROM projects WHERE account = ?1",
        "DELETE FROM db_instances WHERE account = ?1",
        "DELETE FROM keys WHERE account = ?1",
        "DELETE FROM event_rules WHERE account = ?1",
        "DELETE FROM secret_counts WHERE account = ?1",
        "DELETE FROM accounts WHERE id = ?1",
    ] {
        c.execute(sql, [a])
            .map_err(|e| internal("delete account", e))?;
    }
    Ok(())
}

pub(super) fn create_account(c: &Connection, a: &Account) -> Result<()> {
    c.execute(
        "INSERT INTO accounts (id, name, operator, created_at, account_number) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            account_sql(a.id),
            a.name,
            a.operator,
            a.created_at.0,
            a.account_number
        ],
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
}

pub(super) fn create_access_key(c: &Connection, k: &AccessKeyRecord) -> Result<()> {
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
}

pub(super) fn create_project(c: &Connection, p: &Project) -> Result<()> {
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
}

pub(super) fn put_policy(c: &Connection, p: &PolicyRecord) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO policies ({POLICY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (account, name) DO UPDATE SET document = excluded.document, \
         updated_at = excluded.updated_at"
    ))
    .and_then(|mut st| {
        st.execute(params![
            account_sql(p.account),
            p.name,
            p.document,
            p.created_at.0,
            p.updated_at.0
        ])
    })
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            Error::not_found(Resource::Account, p.account.to_string())
        } else {
            internal("put policy", e)
        }
    })?;
    Ok(())
}

fn get_policy(c: &Connection, account: AccountId, name: &str) -> Result<Option<PolicyRecord>> {
    c.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE account = ?1 AND name = ?2"
    ))
    .and_then(|mut st| {
        st.query_row(params![account_sql(account), name], policy_row)
            .optional()
    })
    .map_err(|e| internal("read policy", e))
}

fn list_policies(c: &Connection, account: AccountId) -> Result<Vec<PolicyRecord>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account = ?1 ORDER BY name"
        ))
        .map_err(|e| internal("prepare policies", e))?;
    let rows = st
        .query_map([account_sql(account)], policy_row)
        .map_err(|e| internal("list policies", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read policy", e))
}

fn delete_policy(c: &Connection, account: AccountId, name: &str) -> Result<()> {
    let n = c
        .execute(
            "DELETE FROM policies WHERE account = ?1 AND name = ?2",
            params![account_sql(account), name],
        )
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                Error::InvalidState {
                    name: name.to_string(),
                    reason: format!(
                        "the policy {name:?} is attached to access keys; detach it first"
                    ),
                }
            } else {
                internal("delete policy", e)
            }
        })?;
    if n == 0 {
        return Err(Error::not_found(Resource::Policy, name));
    }
    Ok(())
}

pub(super) fn attach_policy(c: &Connection, key: &str, name: &str) -> Result<()> {
    let account: Option<i64> = c
        .query_row(
            "SELECT account FROM access_keys WHERE id = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| internal("read access key", e))?;
    let account = account.ok_or_else(|| Error::not_found(Resource::AccessKey, key))?;
    c.execute(
        "INSERT INTO policy_attachments (access_key_id, account, policy_name) \
         VALUES (?1, ?2, ?3)",
        params![key, account, name],
    )
    .map(|_| ())
    .or_else(|e| {
        if is_unique_violation(&e) {
            Ok(())
        } else if is_foreign_key_violation(&e) {
            Err(Error::not_found(Resource::Policy, name))
        } else {
            Err(internal("attach policy", e))
        }
    })
}

fn detach_policy(c: &Connection, key: &str, name: &str) -> Result<()> {
    let n = c
        .execute(
            "DELETE FROM policy_attachments WHERE access_key_id = ?1 AND policy_name = ?2",
            params![key, name],
        )
        .map_err(|e| internal("detach policy", e))?;
    if n == 0 {
        return Err(Error::not_found(
            Resource::Policy,
            format!("{name} (attached to {key})"),
        ));
    }
    Ok(())
}

fn key_policies(c: &Connection, key: &str) -> Result<Vec<PolicyRecord>> {
    let mut st = c
        .prepare_cached(
            "SELECT p.account, p.name, p.document, p.created_at, p.updated_at \
             FROM policy_attachments a JOIN policies p \
             ON p.account = a.account AND p.name = a.policy_name \
             WHERE a.access_key_id = ?1 ORDER BY p.name",
        )
        .map_err(|e| internal("prepare key policies", e))?;
    let rows = st
        .query_map([key], policy_row)
        .map_err(|e| internal("list key policies", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read policy", e))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<()> {
        let a = account.clone();
        self.write(move |c| create_account(c, &a)).await
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>> {
        self.read(move |c| {
            // Cached: the AWS dialect reads the account on every request, and preparing the
            // statement each time cost more than running it.
            c.prepare_cached(
                "SELECT id, name, operator, created_at, account_number FROM accounts WHERE id = ?1",
            )
            .and_then(|mut st| st.query_row([account_sql(id)], account_row))
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

    async fn inventory(&self) -> Result<store::Inventory> {
        self.read(|c| {
            let grouped = |sql: &str| -> rusqlite::Result<Vec<(String, u64)>> {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })?;
                rows.collect()
            };
            let secrets_by_state =
                grouped("SELECT state, COUNT(*) FROM secrets GROUP BY state ORDER BY state")
                    .map_err(|e| internal("count secrets by state", e))?;
            let keys_by_state =
                grouped("SELECT state, COUNT(*) FROM keys GROUP BY state ORDER BY state")
                    .map_err(|e| internal("count keys by state", e))?;
            let rotation_tasks_waiting = c
                .query_row(
                    "SELECT COUNT(*) FROM rotation_tasks WHERE status = 'running'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| internal("count rotation tasks", e))?
                .max(0) as u64;
            Ok(store::Inventory {
                secrets_by_state,
                keys_by_state,
                rotation_tasks_waiting,
            })
        })
        .await
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        let k = key.clone();
        self.write(move |c| create_access_key(c, &k)).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached("SELECT id, name, operator, created_at, account_number FROM accounts ORDER BY id")
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
        self.write(move |c| create_project(c, &p)).await
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>> {
        self.read(move |c| {
            // Cached: every Huawei request looks its project up.
            c.prepare_cached("SELECT id, account, region FROM projects WHERE id = ?1")
                .and_then(|mut st| {
                    st.query_row([id], |r| {
                        Ok(Project {
                            id: r.get(0)?,
                            scope: Scope {
                                account: account_from_sql(r.get(1)?),
                                region: r.get(2)?,
                            },
                        })
                    })
                })
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
                access_key_row,
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
        self.read(move |c| list_access_keys(c, account)).await
    }

    async fn delete_access_key(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| delete_access_key(c, &id)).await
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        self.write(move |c| delete_account(c, id)).await
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<()> {
        let policy = policy.clone();
        self.write(move |c| put_policy(c, &policy)).await
    }

    async fn get_policy(&self, account: AccountId, name: &str) -> Result<Option<PolicyRecord>> {
        self.read(move |c| get_policy(c, account, name)).await
    }

    async fn list_policies(&self, account: AccountId) -> Result<Vec<PolicyRecord>> {
        self.read(move |c| list_policies(c, account)).await
    }

    async fn delete_policy(&self, account: AccountId, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| delete_policy(c, account, &name)).await
    }

    async fn attach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        let (key, name) = (access_key_id.to_string(), name.to_string());
        self.write(move |c| attach_policy(c, &key, &name)).await
    }

    async fn detach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        let (key, name) = (access_key_id.to_string(), name.to_string());
        self.write(move |c| detach_policy(c, &key, &name)).await
    }

    async fn key_policies(&self, access_key_id: &str) -> Result<Vec<PolicyRecord>> {
        self.read(move |c| key_policies(c, access_key_id)).await
    }
}
