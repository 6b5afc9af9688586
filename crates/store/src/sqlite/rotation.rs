//! The rotation area on SQLite: registered database instances, rotation tasks (written in one
//! transaction with the secret change they stand for), and the secrets and tasks that are due.
//! The free functions run on the connection they are given, inside the transaction (writes) or
//! snapshot (reads) the store opened for them.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::{RotationStore, SecretWrite};
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{account_from_sql, account_sql, internal, is_unique_violation};
use super::secret_writes::apply_secret_write;
use super::SqliteStore;

pub(super) const INSTANCE_COLUMNS: &str =
    "account, region, id, engine, host, port, admin_user, key_id, \
     key_version, wrapped_data_key, ciphertext, created_at, tls, ca_pem, \
     allow_cleartext_password, allowed_privileges";
pub(super) const TASK_COLUMNS: &str =
    "id, account, region, secret_id, kind, version_id, step, status, \
     attempts, last_error, next_attempt, created_at, updated_at, applied";

pub(super) fn instance_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DbInstance>> {
    let engine: String = r.get(3)?;
    let port: i64 = r.get(5)?;
    let Some(engine) = DbEngine::parse(&engine) else {
        return Ok(Err(internal("read instance", format!("engine {engine:?}"))));
    };
    let tls: String = r.get(12)?;
    let Some(tls) = TlsMode::parse(&tls) else {
        return Ok(Err(internal("read instance", format!("tls {tls:?}"))));
    };
    let allowed: String = r.get(15)?;
    let allowed_privileges = match parse::<Vec<String>>("read instance privileges", &allowed) {
        Ok(list) => list,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(DbInstance {
        scope: Scope {
            account: account_from_sql(r.get(0)?),
            region: r.get(1)?,
        },
        id: r.get(2)?,
        engine,
        host: r.get(4)?,
        port: u16::try_from(port).unwrap_or(0),
        admin_user: r.get(6)?,
        admin_password: SealedValue {
            key_id: r.get(7)?,
            key_version: r.get(8)?,
            envelope: coffer_crypto::Envelope {
                wrapped_data_key: r.get(9)?,
                ciphertext: r.get(10)?,
            },
        },
        created_at: Timestamp(r.get(11)?),
        tls,
        ca_pem: r.get(13)?,
        allow_cleartext_password: r.get(14)?,
        allowed_privileges,
    }))
}

pub(super) fn create_instance(c: &Connection, i: &DbInstance) -> Result<()> {
    let sealed = &i.admin_password;
    let allowed = text("instance privileges", &i.allowed_privileges)?;
    c.prepare_cached(&format!(
        "INSERT INTO db_instances ({INSTANCE_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))
    .and_then(|mut st| {
        st.execute(params![
            account_sql(i.scope.account),
            i.scope.region,
            i.id,
            i.engine.as_str(),
            i.host,
            i.port,
            i.admin_user,
            sealed.key_id,
            sealed.key_version,
            sealed.envelope.wrapped_data_key,
            sealed.envelope.ciphertext,
            i.created_at.0,
            i.tls.as_str(),
            i.ca_pem,
            i.allow_cleartext_password,
            allowed,
        ])
    })
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::AlreadyExists {
                what: Resource::DbInstance,
                name: i.id.clone(),
            }
        } else {
            internal("create database instance", e)
        }
    })?;
    Ok(())
}

fn get_instance(c: &Connection, scope: &Scope, id: &str) -> Result<Option<DbInstance>> {
    c.prepare_cached(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM db_instances WHERE account = ?1 AND region = ?2 AND id = ?3"
    ))
    .and_then(|mut st| {
        st.query_row(
            params![account_sql(scope.account), scope.region, id],
            instance_row,
        )
        .optional()
    })
    .map_err(|e| internal("read database instance", e))?
    .transpose()
}

fn list_instances(c: &Connection, scope: &Scope) -> Result<Vec<DbInstance>> {
    c.prepare_cached(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM db_instances WHERE account = ?1 AND region = ?2 ORDER BY id"
    ))
    .and_then(|mut st| {
        st.query_map(
            params![account_sql(scope.account), scope.region],
            instance_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| internal("list database instances", e))?
    .into_iter()
    .collect()
}

fn delete_instance(c: &Connection, scope: &Scope, id: &str) -> Result<()> {
    let account = account_sql(scope.account);
    let user: Option<String> = c
        .prepare_cached(
            "SELECT name FROM secrets WHERE account = ?1 AND region = ?2 AND db_instance = ?3 \
             LIMIT 1",
        )
        .and_then(|mut st| {
            st.query_row(params![account, scope.region, id], |r| r.get(0))
                .optional()
        })
        .map_err(|e| internal("check database instance use", e))?;
    if let Some(secret) = user {
        return Err(Error::InvalidState {
            name: id.to_string(),
            reason: format!(
                "the database instance {id:?} is used by the secret {secret:?} (delete it first)"
            ),
        });
    }
    let n = c
        .prepare_cached("DELETE FROM db_instances WHERE account = ?1 AND region = ?2 AND id = ?3")
        .and_then(|mut st| st.execute(params![account, scope.region, id]))
        .map_err(|e| internal("delete database instance", e))?;
    if n == 0 {
        return Err(Error::not_found(Resource::DbInstance, id));
    }
    Ok(())
}

fn text<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| internal(what, e))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| internal(what, e))
}

type TaskRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    i64,
    i64,
    bool,
);

fn task_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn into_task(row: TaskRow) -> Result<RotationTask> {
    let (
        id,
        account,
        region,
        secret_id,
        kind,
        version_id,
        step,
        status,
        attempts,
        error,
        next,
        at,
        up,
        applied,
    ) = row;
    Ok(RotationTask {
        id,
        scope: Scope {
            account: account_from_sql(account),
            region,
        },
        secret_id: secret_id
            .parse()
            .map_err(|e| internal("read task secret id", e))?,
        kind: parse("read task kind", &kind)?,
        version_id,
        step: parse("read task step", &step)?,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| internal("read task status", status.clone()))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        applied,
        last_error: error,
        next_attempt: Timestamp(next),
        created_at: Timestamp(at),
        updated_at: Timestamp(up),
    })
}

pub(super) fn query_tasks(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<RotationTask>> {
    c.prepare_cached(sql)
        .and_then(|mut st| {
            st.query_map(args, task_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("read tasks", e))?
        .into_iter()
        .map(into_task)
        .collect()
}

pub(super) fn put_task(c: &Connection, t: &RotationTask) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO rotation_tasks ({TASK_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (id) DO UPDATE SET step = excluded.step, status = excluded.status, \
         attempts = excluded.attempts, applied = excluded.applied, \
         last_error = excluded.last_error, \
         next_attempt = excluded.next_attempt, updated_at = excluded.updated_at"
    ))
    .and_then(|mut st| {
        st.execute(params![
            t.id,
            account_sql(t.scope.account),
            t.scope.region,
            t.secret_id.to_string(),
            text("encode task kind", &t.kind).map_err(to_sql_error)?,
            t.version_id,
            text("encode task step", &t.step).map_err(to_sql_error)?,
            t.status.as_str(),
            t.attempts,
            t.last_error,
            t.next_attempt.0,
            t.created_at.0,
            t.updated_at.0,
            t.applied,
        ])
    })
    .map_err(|e| internal("write task", e))?;
    Ok(())
}

fn to_sql_error(e: Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn get_task(c: &Connection, scope: &Scope, id: i64) -> Result<Option<RotationTask>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM rotation_tasks WHERE id = ?1 AND account = ?2 AND region = ?3"
    );
    Ok(query_tasks(
        c,
        &sql,
        params![id, account_sql(scope.account), scope.region],
    )?
    .into_iter()
    .next())
}

fn secret_tasks(c: &Connection, secret_id: &str, limit: u32) -> Result<Vec<RotationTask>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM rotation_tasks WHERE secret_id = ?1 \
         ORDER BY created_at DESC, rowid DESC LIMIT ?2"
    );
    query_tasks(c, &sql, params![secret_id, limit])
}

/// The scope's tasks with their secrets' names, newest first.
fn scope_tasks(c: &Connection, scope: &Scope, limit: u32) -> Result<Vec<(RotationTask, String)>> {
    let columns: Vec<String> = TASK_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
    let sql = format!(
        "SELECT {}, s.name FROM rotation_tasks t JOIN secrets s ON s.id = t.secret_id \
         WHERE t.account = ?1 AND t.region = ?2 ORDER BY t.created_at DESC, t.rowid DESC LIMIT ?3",
        columns.join(", ")
    );
    c.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(
                params![account_sql(scope.account), scope.region, limit],
                |r| Ok((task_row(r)?, r.get::<_, String>(14)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("read tasks", e))?
        .into_iter()
        .map(|(row, name)| Ok((into_task(row)?, name)))
        .collect()
}

fn due_tasks(c: &Connection, now: Timestamp, limit: u32) -> Result<Vec<RotationTask>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM rotation_tasks WHERE status = 'running' AND next_attempt <= ?1 \
         ORDER BY next_attempt LIMIT ?2"
    );
    query_tasks(c, &sql, params![now.0, limit])
}

fn due_secret_rotations(
    c: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    c.prepare_cached(
        "SELECT account, region, name FROM secrets WHERE next_rotation IS NOT NULL \
         AND next_rotation <= ?1 ORDER BY next_rotation LIMIT ?2",
    )
    .and_then(|mut st| {
        st.query_map(params![now.0, limit], |r| {
            Ok((
                Scope {
                    account: account_from_sql(r.get(0)?),
                    region: r.get(1)?,
                },
                r.get(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| internal("find secrets due for rotation", e))
}

#[async_trait]
impl RotationStore for SqliteStore {
    async fn due_secret_rotations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>> {
        self.read(move |c| due_secret_rotations(c, now, limit))
            .await
    }

    async fn create_db_instance(&self, instance: &DbInstance) -> Result<()> {
        let instance = instance.clone();
        self.write(move |c| create_instance(c, &instance)).await
    }

    async fn get_db_instance(&self, scope: &Scope, id: &str) -> Result<Option<DbInstance>> {
        self.read(|c| get_instance(c, scope, id)).await
    }

    async fn list_db_instances(&self, scope: &Scope) -> Result<Vec<DbInstance>> {
        self.read(|c| list_instances(c, scope)).await
    }

    async fn delete_db_instance(&self, scope: &Scope, id: &str) -> Result<()> {
        let (scope, id) = (scope.clone(), id.to_string());
        self.write(move |c| delete_instance(c, &scope, &id)).await
    }

    async fn write_task(&self, task: &RotationTask, secret: Option<SecretWrite>) -> Result<()> {
        let task = task.clone();
        self.write(move |c| {
            if let Some(w) = secret {
                apply_secret_write(c, w)?;
            }
            put_task(c, &task)
        })
        .await
    }

    async fn get_task(&self, scope: &Scope, id: i64) -> Result<Option<RotationTask>> {
        self.read(|c| get_task(c, scope, id)).await
    }

    async fn secret_tasks(&self, secret_id: Uuid, limit: u32) -> Result<Vec<RotationTask>> {
        let id = secret_id.to_string();
        self.read(move |c| secret_tasks(c, &id, limit)).await
    }

    async fn scope_tasks(&self, scope: &Scope, limit: u32) -> Result<Vec<(RotationTask, String)>> {
        self.read(|c| scope_tasks(c, scope, limit)).await
    }

    async fn due_tasks(&self, now: Timestamp, limit: u32) -> Result<Vec<RotationTask>> {
        self.read(move |c| due_tasks(c, now, limit)).await
    }
}
