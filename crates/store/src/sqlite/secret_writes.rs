//! One secret write (create, update at a revision, delete at a revision) applied inside the
//! transaction the writer opened for it. Both the secrets area and rotation tasks (which
//! commit a version change with their task) write secrets through here.

use std::collections::HashMap;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{
    account_from_sql, account_sql, internal, is_foreign_key_violation, is_unique_violation,
    load_subscriptions, load_tags,
};

fn state_parts(state: SecretState) -> (&'static str, Option<i64>) {
    match state {
        SecretState::Enabled => ("enabled", None),
        SecretState::Disabled => ("disabled", None),
        SecretState::PendingDelete { purge_at } => ("pending_delete", Some(purge_at.0)),
    }
}

fn taken_secret(name: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        if is_unique_violation(&e) {
            Error::AlreadyExists {
                what: Resource::Secret,
                name: name.to_string(),
            }
        } else {
            internal("insert secret", e)
        }
    }
}

fn write_tags(conn: &Connection, secret_id: &str, tags: &[Tag]) -> Result<()> {
    conn.prepare_cached("DELETE FROM secret_tags WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(|e| internal("clear tags", e))?;
    let mut st = conn
        .prepare_cached(
            "INSERT INTO secret_tags (secret_id, position, key, value) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(|e| internal("prepare tag insert", e))?;
    for (i, t) in tags.iter().enumerate() {
        st.execute(params![secret_id, i as i64, t.key, t.value])
            .map_err(|e| internal("insert tag", e))?;
    }
    Ok(())
}

/// Replaces the secret's subscriptions. The foreign key on the rule refuses a name that no
/// rule of the scope has.
fn write_subscriptions(conn: &Connection, secret_id: &str, record: &SecretRecord) -> Result<()> {
    conn.prepare_cached("DELETE FROM secret_subscriptions WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(|e| internal("clear subscriptions", e))?;
    if record.subscriptions.is_empty() {
        return Ok(());
    }
    let mut st = conn
        .prepare_cached(
            "INSERT INTO secret_subscriptions (secret_id, position, account, region, rule_name) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| internal("prepare subscription insert", e))?;
    let account = account_sql(record.scope.account);
    for (i, name) in record.subscriptions.iter().enumerate() {
        st.execute(params![
            secret_id,
            i as i64,
            account,
            record.scope.region,
            name
        ])
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                Error::not_found(Resource::EventRule, name.clone())
            } else {
                internal("insert subscription", e)
            }
        })?;
    }
    Ok(())
}

/// Inserts the versions that arrive with a value, in the record's order (which is the order
/// reads return), and refreshes the metadata of the others, which must already be stored.
fn write_versions(
    conn: &Connection,
    secret_id: &str,
    record: &SecretRecord,
    mut values: Vec<(String, SealedValue)>,
) -> Result<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO versions (secret_id, version_id, seq, created_at, kind, key_id, \
             key_version, wrapped_data_key, ciphertext, expires_at) VALUES (?1, ?2, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = ?1), \
             ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(|e| internal("prepare version insert", e))?;
    // Versions already stored are rewritten only when their metadata changed: an update
    // lists every version, and rewriting (or even seeking) each of 20 unchanged rows, blobs
    // and all, was most of a PutSecretValue's time in the writer. One index range says what
    // is stored. A create writes every version with its value and needs no look.
    let mut stored: HashMap<String, (i64, String, Option<i64>)> = HashMap::new();
    let all_new = record
        .versions
        .iter()
        .all(|v| values.iter().any(|(id, _)| *id == v.version_id));
    if !all_new {
        let mut st = conn
            .prepare_cached(
                "SELECT version_id, created_at, kind, expires_at FROM versions \
                 INDEXED BY versions_by_seq WHERE secret_id = ?1",
            )
            .map_err(|e| internal("prepare stored versions", e))?;
        let rows = st
            .query_map([secret_id], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })
            .map_err(|e| internal("query stored versions", e))?;
        for row in rows {
            let (id, meta) = row.map_err(|e| internal("read stored version", e))?;
            stored.insert(id, meta);
        }
    }
    let mut refresh = conn
        .prepare_cached(
            "UPDATE versions SET created_at = ?3, kind = ?4, expires_at = ?5 \
             WHERE secret_id = ?1 AND version_id = ?2",
        )
        .map_err(|e| internal("prepare version update", e))?;
    for v in &record.versions {
        match values.iter().position(|(id, _)| *id == v.version_id) {
            Some(i) => {
                let (_, sealed) = values.swap_remove(i);
                insert
                    .execute(params![
                        secret_id,
                        v.version_id,
                        v.created_at.0,
                        v.kind.as_str(),
                        sealed.key_id,
                        sealed.key_version,
                        sealed.envelope.wrapped_data_key,
                        sealed.envelope.ciphertext,
                        v.expires_at.map(|t| t.0),
                    ])
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            Error::AlreadyExists {
                                what: Resource::Version,
                                name: v.version_id.clone(),
                            }
                        } else {
                            internal("insert version", e)
                        }
                    })?;
            }
            None => {
                let wanted = (
                    v.created_at.0,
                    v.kind.as_str().to_string(),
                    v.expires_at.map(|t| t.0),
                );
                match stored.get(&v.version_id) {
                    Some(meta) if *meta == wanted => {}
                    Some(_) => {
                        refresh
                            .execute(params![
                                secret_id,
                                v.version_id,
                                wanted.0,
                                wanted.1,
                                wanted.2
                            ])
                            .map_err(|e| internal("update version", e))?;
                    }
                    None => {
                        return Err(Error::internal(format!(
                            "sqlite: version {:?} is neither stored nor written with a value",
                            v.version_id
                        )))
                    }
                }
            }
        }
    }
    if let Some((id, _)) = values.first() {
        return Err(Error::internal(format!(
            "sqlite: a value for version {id:?}, which the record does not list"
        )));
    }
    Ok(())
}

fn write_stages(conn: &Connection, secret_id: &str, record: &SecretRecord) -> Result<()> {
    conn.prepare_cached("DELETE FROM stages WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(|e| internal("clear stages", e))?;
    let mut st = conn
        .prepare_cached("INSERT INTO stages (secret_id, stage, version_id) VALUES (?1, ?2, ?3)")
        .map_err(|e| internal("prepare stage insert", e))?;
    for v in &record.versions {
        for s in &v.stages {
            st.execute(params![secret_id, s.to_stored(), v.version_id])
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::invalid("VersionStage", "a stage may mark only one version")
                    } else {
                        internal("insert stage", e)
                    }
                })?;
        }
    }
    Ok(())
}

/// Keeps the per-scope count that makes an unfiltered total one row read.
fn adjust_count(conn: &Connection, account: i64, region: &str, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO secret_counts (account, region, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, region) DO UPDATE SET n = n + excluded.n",
    )
    .and_then(|mut st| st.execute(params![account, region, delta]))
    .map_err(|e| internal("count secrets", e))?;
    Ok(())
}

/// `LimitExceeded` when the scope holds `max` secrets already. The single writer runs every
/// write in turn, so the count read here is the one the insert will add to.
fn check_room(conn: &Connection, account: i64, region: &str, max: u64) -> Result<()> {
    let held = conn
        .prepare_cached("SELECT n FROM secret_counts WHERE account = ?1 AND region = ?2")
        .and_then(|mut st| {
            st.query_row(params![account, region], |r| r.get::<_, i64>(0))
                .optional()
        })
        .map_err(|e| internal("read count", e))?
        .unwrap_or(0);
    if u64::try_from(held).unwrap_or(0) >= max {
        return Err(Error::LimitExceeded {
            what: format!("at most {max} secrets per region"),
        });
    }
    Ok(())
}

fn create_secret(
    conn: &Connection,
    record: SecretRecord,
    values: Vec<(String, SealedValue)>,
    max_secrets: Option<u64>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind).map_err(|e| internal("encode kind", e))?;
    let rotation =
        serde_json::to_string(&record.rotation).map_err(|e| internal("encode rotation", e))?;
    let id = record.id.to_string();
    let account = account_sql(record.scope.account);
    if let Some(max) = max_secrets {
        check_room(conn, account, &record.scope.region, max)?;
    }
    let (next_rotation, db_instance) = schedule_columns(&record);
    conn.prepare_cached(
        "INSERT INTO secrets (id, account, region, name, kind, kind_name, description, key_id, \
         state, purge_at, rotation, extended_config, policy, created_at, updated_at, revision, \
         next_rotation, db_instance) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .and_then(|mut st| {
        st.execute(params![
            id,
            account,
            record.scope.region,
            record.name,
            kind,
            record.kind.type_name(),
            record.description,
            record.key_id,
            state,
            purge_at,
            rotation,
            record.extended_config,
            record.policy,
            record.created_at.0,
            record.updated_at.0,
            record.revision,
            next_rotation,
            db_instance,
        ])
    })
    .map_err(taken_secret(&record.name))?;
    adjust_count(conn, account, &record.scope.region, 1)?;
    write_tags(conn, &id, &record.tags)?;
    write_subscriptions(conn, &id, &record)?;
    write_versions(conn, &id, &record, values)?;
    write_stages(conn, &id, &record)
}

fn update_secret(
    conn: &Connection,
    record: SecretRecord,
    new_values: Vec<(String, SealedValue)>,
    removed_versions: Vec<String>,
) -> Result<()> {
    let (state, purge_at) = state_parts(record.state);
    let kind = serde_json::to_string(&record.kind).map_err(|e| internal("encode kind", e))?;
    let rotation =
        serde_json::to_string(&record.rotation).map_err(|e| internal("encode rotation", e))?;
    let id = record.id.to_string();
    let (next_rotation, db_instance) = schedule_columns(&record);
    // The revision check and the bump are one statement: a writer that read an older
    // revision changes nothing. Identity (scope, name, creation time) never changes.
    let changed = conn
        .prepare_cached(
            "UPDATE secrets SET kind = ?1, kind_name = ?2, description = ?3, key_id = ?4, \
             state = ?5, purge_at = ?6, rotation = ?7, extended_config = ?8, policy = ?9, \
             updated_at = ?10, revision = revision + 1, next_rotation = ?13, db_instance = ?14 \
             WHERE id = ?11 AND revision = ?12",
        )
        .and_then(|mut st| {
            st.execute(params![
                kind,
                record.kind.type_name(),
                record.description,
                record.key_id,
                state,
                purge_at,
                rotation,
                record.extended_config,
                record.policy,
                record.updated_at.0,
                id,
                record.revision,
                next_rotation,
                db_instance,
            ])
        })
        .map_err(|e| internal("update secret", e))?;
    if changed == 0 {
        return Err(Error::Conflict);
    }
    // Tags and subscriptions are rewritten only when they changed: most updates (a new
    // version, a description) leave them alone, and each tag row sits in three indexes.
    if load_tags(conn, &id)? != record.tags {
        write_tags(conn, &id, &record.tags)?;
    }
    if load_subscriptions(conn, &id)? != record.subscriptions {
        write_subscriptions(conn, &id, &record)?;
    }
    // Stages go first so that no stage points at a version while it is removed.
    conn.prepare_cached("DELETE FROM stages WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([&id]))
        .map_err(|e| internal("clear stages", e))?;
    {
        let mut st = conn
            .prepare_cached("DELETE FROM versions WHERE secret_id = ?1 AND version_id = ?2")
            .map_err(|e| internal("prepare version delete", e))?;
        for v in &removed_versions {
            st.execute(params![id, v])
                .map_err(|e| internal("delete version", e))?;
        }
    }
    write_versions(conn, &id, &record, new_values)?;
    write_stages(conn, &id, &record)
}

/// Deletes a secret with its tags, versions, values and stages (by cascade). With
/// `revision`, only if the stored revision equals it. Returns the scope and name deleted.
pub(crate) fn delete_secret(
    conn: &Connection,
    id: &str,
    revision: Option<i64>,
) -> Result<Option<Scope>> {
    let deleted: Option<(i64, String)> = conn
        .prepare_cached(
            "DELETE FROM secrets WHERE id = ?1 AND (?2 IS NULL OR revision = ?2) \
             RETURNING account, region",
        )
        .and_then(|mut st| {
            st.query_row(params![id, revision], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|e| internal("delete secret", e))?;
    let Some((account, region)) = deleted else {
        return Ok(None);
    };
    adjust_count(conn, account, &region, -1)?;
    Ok(Some(Scope {
        account: account_from_sql(account),
        region,
    }))
}

pub(crate) fn apply_secret_write(conn: &Connection, write: SecretWrite) -> Result<()> {
    match write {
        SecretWrite::Create {
            record,
            values,
            max_secrets,
        } => create_secret(conn, record, values, max_secrets),
        SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } => update_secret(conn, record, new_values, removed_versions),
        SecretWrite::Delete { id, revision } => {
            match delete_secret(conn, &id.to_string(), Some(revision))? {
                Some(_) => Ok(()),
                // Gone or changed since it was read: the caller retries on fresh state.
                None => Err(Error::Conflict),
            }
        }
        SecretWrite::SetReplication { id, info } => set_replication(conn, &id.to_string(), info),
        // The writer runs this whole request in one savepoint: an error in any part rolls
        // back every part.
        SecretWrite::Batch(writes) => writes
            .into_iter()
            .try_for_each(|w| apply_secret_write(conn, w)),
    }
}

fn set_replication(conn: &Connection, id: &str, info: Option<String>) -> Result<()> {
    let exists: bool = conn
        .query_row("SELECT 1 FROM secrets WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map_err(|e| internal("find secret", e))?
        .is_some();
    if !exists {
        return Err(Error::not_found(coffer_core::error::Resource::Secret, id));
    }
    let done = match info {
        Some(info) => conn.execute(
            "INSERT INTO secret_replication (secret_id, info) VALUES (?1, ?2) \
             ON CONFLICT (secret_id) DO UPDATE SET info = excluded.info",
            params![id, info],
        ),
        None => conn.execute("DELETE FROM secret_replication WHERE secret_id = ?1", [id]),
    };
    done.map(|_| ())
        .map_err(|e| internal("write replication", e))
}

pub(crate) fn get_replication(conn: &Connection, id: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT info FROM secret_replication WHERE secret_id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| internal("read replication", e))
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
