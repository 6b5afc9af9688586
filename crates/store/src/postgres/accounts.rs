//! The accounts area on PostgreSQL: accounts, access keys, policies and their attachments to
//! keys, projects, and deleting an account with everything it owns. The free functions run on
//! the connection or transaction they are given.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::AccountStore;
use coffer_core::*;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::rows::{
    access_key_row, account_from_sql, account_sql, all, col, exec, is_foreign_key, is_unique,
    lock_account, one, opt, pg_error, violation, Violation, ACCESS_KEY_COLUMNS,
};
use super::{pg_read, pg_write, PgStore};

pub(super) const ACCOUNT_COLUMNS: &str = "id, name, operator, created_at, account_number";
pub(super) const POLICY_COLUMNS: &str = "account, name, document, created_at, updated_at";

pub(super) fn account_row(r: &Row) -> Result<Account> {
    Ok(Account {
        id: account_from_sql(col(r, 0)?),
        name: col(r, 1)?,
        operator: col(r, 2)?,
        created_at: Timestamp(col(r, 3)?),
        account_number: col(r, 4)?,
    })
}

pub(super) fn policy_row(r: &Row) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        account: account_from_sql(col(r, 0)?),
        name: col(r, 1)?,
        document: col(r, 2)?,
        created_at: Timestamp(col(r, 3)?),
        updated_at: Timestamp(col(r, 4)?),
    })
}

pub(super) fn project_row(r: &Row) -> Result<Project> {
    Ok(Project {
        id: col(r, 0)?,
        scope: Scope {
            account: account_from_sql(col(r, 1)?),
            region: col(r, 2)?,
        },
    })
}

pub(super) async fn create_account<C: GenericClient>(c: &C, a: &Account) -> Result<()> {
    exec(
        c,
        &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
        &[
            &account_sql(a.id),
            &a.name,
            &a.operator,
            &a.created_at.0,
            &a.account_number,
        ],
    )
    .await
    .map_err(|e| {
        if is_unique(&e) {
            Error::AlreadyExists {
                what: Resource::Account,
                name: a.id.to_string(),
            }
        } else {
            pg_error("insert account", e)
        }
    })?;
    Ok(())
}

pub(super) async fn create_access_key<C: GenericClient>(c: &C, k: &AccessKeyRecord) -> Result<()> {
    exec(
        c,
        &format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        &[
            &k.id,
            &account_sql(k.account),
            &k.sealed_secret,
            &k.enabled,
            &k.admin,
            &k.created_at.0,
        ],
    )
    .await
    .map_err(|e| match violation(&e) {
        Some((Violation::Unique, _)) => Error::AlreadyExists {
            what: Resource::AccessKey,
            name: k.id.clone(),
        },
        Some((Violation::ForeignKey, _)) => {
            Error::not_found(Resource::Account, k.account.to_string())
        }
        None => pg_error("insert access key", e),
    })?;
    Ok(())
}

async fn set_access_key_enabled<C: GenericClient>(c: &C, id: &str, enabled: bool) -> Result<()> {
    let n = exec(
        c,
        "UPDATE access_keys SET enabled = $2 WHERE id = $1",
        &[&id, &enabled],
    )
    .await
    .map_err(|e| pg_error("update access key", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::AccessKey, id));
    }
    Ok(())
}

async fn delete_access_key<C: GenericClient>(c: &C, id: &str) -> Result<()> {
    let n = exec(c, "DELETE FROM access_keys WHERE id = $1", &[&id])
        .await
        .map_err(|e| pg_error("delete access key", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::AccessKey, id));
    }
    Ok(())
}

async fn exists(tx: &Transaction<'_>, sql: &str, account: i64) -> Result<bool> {
    opt(tx, sql, &[&account])
        .await
        .map(|r| r.is_some())
        .map_err(|e| pg_error("check account contents", e))
}

/// See [`AccountStore::delete_account`]. The exclusive account lock keeps a secret or key
/// create on another node from landing between the checks and the deletes.
async fn delete_account(tx: &Transaction<'_>, id: AccountId) -> Result<()> {
    let a = account_sql(id);
    lock_account(tx, id, true).await?;
    if !exists(tx, "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", a).await? {
        return Err(Error::not_found(Resource::Account, id.to_string()));
    }
    let busy = |reason: &str| Error::InvalidState {
        name: id.to_string(),
        reason: format!("the account {id} {reason}"),
    };
    if exists(tx, "SELECT 1 FROM secrets WHERE account = $1 LIMIT 1", a).await? {
        return Err(busy(
            "still holds secrets (including secrets pending deletion)",
        ));
    }
    if exists(
        tx,
        "SELECT 1 FROM keys WHERE account = $1 AND NOT is_default LIMIT 1",
        a,
    )
    .await?
    {
        return Err(busy("still holds keys"));
    }
    // Children before parents: attachments go with the access keys, then the policies they
    // referenced; key versions and aliases go with their keys.
    for sql in [
        "DELETE FROM access_keys WHERE account = $1",
        "DELETE FROM policies WHERE account = $1",
        "DELETE FROM projects WHERE account = $1",
        "DELETE FROM db_instances WHERE account = $1",
        "DELETE FROM keys WHERE account = $1",
        "DELETE FROM event_rules WHERE account = $1",
        "DELETE FROM secret_counts WHERE account = $1",
        "DELETE FROM accounts WHERE id = $1",
    ] {
        exec(tx, sql, &[&a])
            .await
            .map_err(|e| pg_error("delete account", e))?;
    }
    Ok(())
}

pub(super) async fn put_policy<C: GenericClient>(c: &C, p: &PolicyRecord) -> Result<()> {
    exec(
        c,
        &format!(
            "INSERT INTO policies ({POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, name) DO UPDATE SET document = excluded.document, \
             updated_at = excluded.updated_at"
        ),
        &[
            &account_sql(p.account),
            &p.name,
            &p.document,
            &p.created_at.0,
            &p.updated_at.0,
        ],
    )
    .await
    .map_err(|e| {
        if is_foreign_key(&e) {
            Error::not_found(Resource::Account, p.account.to_string())
        } else {
            pg_error("put policy", e)
        }
    })?;
    Ok(())
}

async fn delete_policy<C: GenericClient>(c: &C, account: AccountId, name: &str) -> Result<()> {
    let n = exec(
        c,
        "DELETE FROM policies WHERE account = $1 AND name = $2",
        &[&account_sql(account), &name],
    )
    .await
    .map_err(|e| {
        if is_foreign_key(&e) {
            Error::InvalidState {
                name: name.to_string(),
                reason: format!("the policy {name:?} is attached to access keys; detach it first"),
            }
        } else {
            pg_error("delete policy", e)
        }
    })?;
    if n == 0 {
        return Err(Error::not_found(Resource::Policy, name));
    }
    Ok(())
}

pub(super) async fn attach_policy<C: GenericClient>(c: &C, key: &str, name: &str) -> Result<()> {
    let account: i64 = match opt(c, "SELECT account FROM access_keys WHERE id = $1", &[&key])
        .await
        .map_err(|e| pg_error("read access key", e))?
    {
        Some(row) => col(&row, 0)?,
        None => return Err(Error::not_found(Resource::AccessKey, key)),
    };
    // Attaching twice is fine: the second insert does nothing.
    exec(
        c,
        "INSERT INTO policy_attachments (access_key_id, account, policy_name) \
         VALUES ($1, $2, $3) ON CONFLICT (access_key_id, policy_name) DO NOTHING",
        &[&key, &account, &name],
    )
    .await
    .map_err(|e| match violation(&e) {
        Some((Violation::ForeignKey, "policy_attachments_key_fk")) => {
            // The key was deleted since it was read.
            Error::not_found(Resource::AccessKey, key)
        }
        Some((Violation::ForeignKey, _)) => Error::not_found(Resource::Policy, name),
        _ => pg_error("attach policy", e),
    })?;
    Ok(())
}

async fn detach_policy<C: GenericClient>(c: &C, key: &str, name: &str) -> Result<()> {
    let n = exec(
        c,
        "DELETE FROM policy_attachments WHERE access_key_id = $1 AND policy_name = $2",
        &[&key, &name],
    )
    .await
    .map_err(|e| pg_error("detach policy", e))?;
    if n == 0 {
        return Err(Error::not_found(
            Resource::Policy,
            format!("{name} (attached to {key})"),
        ));
    }
    Ok(())
}

pub(super) async fn create_project<C: GenericClient>(c: &C, p: &Project) -> Result<()> {
    exec(
        c,
        "INSERT INTO projects (id, account, region) VALUES ($1, $2, $3)",
        &[&p.id, &account_sql(p.scope.account), &p.scope.region],
    )
    .await
    .map_err(|e| match violation(&e) {
        Some((Violation::Unique, _)) => Error::AlreadyExists {
            what: Resource::Account,
            name: format!("project {}", p.id),
        },
        Some((Violation::ForeignKey, _)) => {
            Error::not_found(Resource::Account, p.scope.account.to_string())
        }
        None => pg_error("insert project", e),
    })?;
    Ok(())
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_account(&self, account: &Account) -> Result<()> {
        pg_write!(self, "create account", |tx| create_account(&tx, account)).await
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>> {
        pg_read!(self, "read account", |c| one(
            &c,
            "read account",
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
            &[&account_sql(id)],
            account_row
        ))
        .await
    }

    async fn count_accounts(&self) -> Result<u64> {
        pg_read!(self, "count accounts", |c| async {
            let row = opt(&c, "SELECT COUNT(*) FROM accounts", &[])
                .await
                .map_err(|e| pg_error("count accounts", e))?;
            match row {
                Some(r) => Ok(col::<i64>(&r, 0)?.max(0) as u64),
                None => Ok(0),
            }
        })
        .await
    }

    async fn inventory(&self) -> Result<store::Inventory> {
        pg_read!(self, "count secrets and keys", |c| async {
            let pair = |r: &Row| Ok((col::<String>(r, 0)?, col::<i64>(r, 1)?.max(0) as u64));
            let secrets_by_state = all(
                &c,
                "count secrets by state",
                "SELECT state, COUNT(*) FROM secrets GROUP BY state ORDER BY state",
                &[],
                pair,
            )
            .await?;
            let keys_by_state = all(
                &c,
                "count keys by state",
                "SELECT state, COUNT(*) FROM keys GROUP BY state ORDER BY state",
                &[],
                pair,
            )
            .await?;
            let waiting = opt(
                &c,
                "SELECT COUNT(*) FROM rotation_tasks WHERE status = 'running'",
                &[],
            )
            .await
            .map_err(|e| pg_error("count rotation tasks", e))?;
            let rotation_tasks_waiting = match waiting {
                Some(r) => col::<i64>(&r, 0)?.max(0) as u64,
                None => 0,
            };
            Ok(store::Inventory {
                secrets_by_state,
                keys_by_state,
                rotation_tasks_waiting,
            })
        })
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        pg_read!(self, "list accounts", |c| all(
            &c,
            "list accounts",
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"),
            &[],
            account_row
        ))
        .await
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        pg_write!(self, "create access key", |tx| create_access_key(&tx, key)).await
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>> {
        pg_read!(self, "read access key", |c| one(
            &c,
            "read access key",
            &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE id = $1"),
            &[&id],
            access_key_row
        ))
        .await
    }

    async fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        pg_write!(self, "update access key", |tx| set_access_key_enabled(
            &tx, id, enabled
        ))
        .await
    }

    async fn list_access_keys(&self, account: AccountId) -> Result<Vec<AccessKeyRecord>> {
        pg_read!(self, "list access keys", |c| all(
            &c,
            "list access keys",
            &format!(
                "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account = $1 \
                 ORDER BY created_at, id"
            ),
            &[&account_sql(account)],
            access_key_row
        ))
        .await
    }

    async fn delete_access_key(&self, id: &str) -> Result<()> {
        pg_write!(self, "delete access key", |tx| delete_access_key(&tx, id)).await
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        pg_write!(self, "delete account", |tx| delete_account(&tx, id)).await
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<()> {
        pg_write!(self, "put policy", |tx| put_policy(&tx, policy)).await
    }

    async fn get_policy(&self, account: AccountId, name: &str) -> Result<Option<PolicyRecord>> {
        pg_read!(self, "read policy", |c| one(
            &c,
            "read policy",
            &format!("SELECT {POLICY_COLUMNS} FROM policies WHERE account = $1 AND name = $2"),
            &[&account_sql(account), &name],
            policy_row
        ))
        .await
    }

    async fn list_policies(&self, account: AccountId) -> Result<Vec<PolicyRecord>> {
        pg_read!(self, "list policies", |c| all(
            &c,
            "list policies",
            &format!("SELECT {POLICY_COLUMNS} FROM policies WHERE account = $1 ORDER BY name"),
            &[&account_sql(account)],
            policy_row
        ))
        .await
    }

    async fn delete_policy(&self, account: AccountId, name: &str) -> Result<()> {
        pg_write!(self, "delete policy", |tx| delete_policy(
            &tx, account, name
        ))
        .await
    }

    async fn attach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        pg_write!(self, "attach policy", |tx| attach_policy(
            &tx,
            access_key_id,
            name
        ))
        .await
    }

    async fn detach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        pg_write!(self, "detach policy", |tx| detach_policy(
            &tx,
            access_key_id,
            name
        ))
        .await
    }

    async fn key_policies(&self, access_key_id: &str) -> Result<Vec<PolicyRecord>> {
        pg_read!(self, "list key policies", |c| all(
            &c,
            "list key policies",
            "SELECT p.account, p.name, p.document, p.created_at, p.updated_at \
             FROM policy_attachments a JOIN policies p \
             ON p.account = a.account AND p.name = a.policy_name \
             WHERE a.access_key_id = $1 ORDER BY p.name",
            &[&access_key_id],
            policy_row
        ))
        .await
    }

    async fn create_project(&self, project: &Project) -> Result<()> {
        pg_write!(self, "create project", |tx| create_project(&tx, project)).await
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>> {
        pg_read!(self, "read project", |c| one(
            &c,
            "read project",
            "SELECT id, account, region FROM projects WHERE id = $1",
            &[&id],
            project_row
        ))
        .await
    }

    async fn list_projects(&self, account: AccountId) -> Result<Vec<Project>> {
        pg_read!(self, "list projects", |c| all(
            &c,
            "list projects",
            "SELECT id, account, region FROM projects WHERE account = $1 ORDER BY region",
            &[&account_sql(account)],
            project_row
        ))
        .await
    }
}
