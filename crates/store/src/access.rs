//! SQLite side of access control: access keys beyond the first, accounts' deletion, policies
//! and their attachments to keys. Each function runs on the connection it is given, inside the
//! transaction (writes) or snapshot (reads) the store opened for it.

use coffer_core::error::Resource;
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};

use crate::sqlite::{
    account_from_sql, account_sql, internal, is_foreign_key_violation, is_unique_violation,
};

pub(crate) const ACCESS_KEY_COLUMNS: &str =
    "id, account, sealed_secret, enabled, admin, created_at";
const POLICY_COLUMNS: &str = "account, name, document, created_at, updated_at";

/// Reads a row of [`ACCESS_KEY_COLUMNS`].
pub(crate) fn access_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        id: r.get(0)?,
        account: account_from_sql(r.get(1)?),
        sealed_secret: r.get(2)?,
        enabled: r.get(3)?,
        admin: r.get(4)?,
        created_at: Timestamp(r.get(5)?),
    })
}

fn policy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyRecord> {
    Ok(PolicyRecord {
        account: account_from_sql(r.get(0)?),
        name: r.get(1)?,
        document: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        updated_at: Timestamp(r.get(4)?),
    })
}

pub(crate) fn list_access_keys(c: &Connection, account: AccountId) -> Result<Vec<AccessKeyRecord>> {
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

pub(crate) fn delete_access_key(c: &Connection, id: &str) -> Result<()> {
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

pub(crate) fn delete_account(c: &Connection, id: AccountId) -> Result<()> {
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

pub(crate) fn put_policy(c: &Connection, p: &PolicyRecord) -> Result<()> {
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

pub(crate) fn get_policy(
    c: &Connection,
    account: AccountId,
    name: &str,
) -> Result<Option<PolicyRecord>> {
    c.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE account = ?1 AND name = ?2"
    ))
    .and_then(|mut st| {
        st.query_row(params![account_sql(account), name], policy_row)
            .optional()
    })
    .map_err(|e| internal("read policy", e))
}

pub(crate) fn list_policies(c: &Connection, account: AccountId) -> Result<Vec<PolicyRecord>> {
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

pub(crate) fn delete_policy(c: &Connection, account: AccountId, name: &str) -> Result<()> {
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

pub(crate) fn attach_policy(c: &Connection, key: &str, name: &str) -> Result<()> {
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

pub(crate) fn detach_policy(c: &Connection, key: &str, name: &str) -> Result<()> {
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

pub(crate) fn key_policies(c: &Connection, key: &str) -> Result<Vec<PolicyRecord>> {
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
