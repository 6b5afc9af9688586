//! What the areas of the SQLite store share: SQLite errors turned into the core's, account ids
//! as SQLite integers, and reading the rows that more than one area reads (a secret's row with
//! its tags and subscriptions, a key with its aliases and versions, an access key). It imports
//! no area module, so that every area can import it.

use coffer_core::*;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

/// A failure of SQLite as the core's error: [`Error::Unavailable`] when the disk under the
/// database refused (full, read-only, failing: see [`storage_fault`]), so that each dialect
/// answers with its "service unavailable" and the client retries later; otherwise
/// [`Error::Internal`].
pub(crate) fn internal(context: &str, e: impl std::fmt::Display + 'static) -> Error {
    let any: &dyn std::any::Any = &e;
    if let Some(reason) = any
        .downcast_ref::<rusqlite::Error>()
        .and_then(storage_fault)
    {
        tracing::error!(error = %e, context, "sqlite: the disk refused a write");
        return Error::Unavailable {
            reason: reason.into(),
        };
    }
    Error::internal(format!("sqlite {context}: {e}"))
}

/// What to tell a client when SQLite failed because of the disk rather than the request: the
/// write was rolled back (SQLite leaves no half-written transaction), and it may succeed once
/// an operator has made room or remounted the disk. No path and no SQL: the details go to the
/// server's log.
pub(crate) fn storage_fault(e: &rusqlite::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some("the server's disk is full"),
        // SQLITE_READONLY: the database file, or its directory, cannot be written.
        ErrorCode::ReadOnly => Some("the server's storage is read-only"),
        // SQLITE_IOERR: a read, write or sync failed (EROFS from a filesystem the kernel
        // remounted read-only arrives as this, as does EIO).
        ErrorCode::SystemIoFailure => Some("the server's storage failed"),
        _ => None,
    }
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

pub(crate) fn account_from_sql(v: i64) -> AccountId {
    AccountId(v as u64)
}

pub(crate) const ACCESS_KEY_COLUMNS: &str =
    "id, account, sealed_secret, enabled, admin, created_at";

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
pub(crate) const SECRET_COLUMNS: &str =
    "s.id, s.account, s.region, s.name, s.kind, s.description, \
     s.key_id, s.state, s.purge_at, s.rotation, s.extended_config, s.policy, s.created_at, \
     s.updated_at, s.revision";

pub(crate) struct SecretRow {
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

pub(crate) fn secret_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SecretRow> {
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
    pub(crate) fn into_record(self) -> Result<(String, SecretRecord)> {
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

pub(crate) fn load_tags(conn: &Connection, secret_id: &str) -> Result<Vec<Tag>> {
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

pub(crate) fn load_subscriptions(conn: &Connection, secret_id: &str) -> Result<Vec<String>> {
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

pub(crate) fn load_key(conn: &Connection, id: &str) -> Result<Option<KeyRecord>> {
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
