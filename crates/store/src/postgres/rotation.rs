//! The rotation area on PostgreSQL: registered database instances, rotation tasks (written in
//! one transaction with the secret change they stand for), and the secrets and tasks that are
//! due.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::{RotationStore, SecretWrite};
use coffer_core::*;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{
    account_from_sql, account_sql, all, col, exec, internal, is_unique, limit_sql, lock_account,
    one, opt, pg_error, scoped_row,
};
use super::secret_writes::apply_secret_write;
use super::{pg_read, pg_write, PgStore};

pub(super) const INSTANCE_COLUMNS: &str =
    "account, region, id, engine, host, port, admin_user, key_id, \
     key_version, wrapped_data_key, ciphertext, created_at, tls, ca_pem, \
     allow_cleartext_password, allowed_privileges";
pub(super) const TASK_COLUMNS: &str =
    "id, account, region, secret_id, kind, version_id, step, status, \
     attempts, last_error, next_attempt, created_at, updated_at, applied";

pub(super) fn instance_row(r: &Row) -> Result<DbInstance> {
    let engine: String = col(r, 3)?;
    let port: i32 = col(r, 5)?;
    let engine = DbEngine::parse(&engine)
        .ok_or_else(|| internal("read instance", format!("engine {engine:?}")))?;
    let tls: String = col(r, 12)?;
    let tls =
        TlsMode::parse(&tls).ok_or_else(|| internal("read instance", format!("tls {tls:?}")))?;
    let allowed: String = col(r, 15)?;
    let allowed_privileges: Vec<String> =
        serde_json::from_str(&allowed).map_err(|e| internal("read instance privileges", e))?;
    Ok(DbInstance {
        scope: Scope {
            account: account_from_sql(col(r, 0)?),
            region: col(r, 1)?,
        },
        id: col(r, 2)?,
        engine,
        host: col(r, 4)?,
        port: u16::try_from(port).unwrap_or(0),
        admin_user: col(r, 6)?,
        admin_password: SealedValue {
            key_id: col(r, 7)?,
            key_version: col(r, 8)?,
            envelope: coffer_crypto::Envelope {
                wrapped_data_key: col(r, 9)?,
                ciphertext: col(r, 10)?,
            },
        },
        created_at: Timestamp(col(r, 11)?),
        tls,
        ca_pem: col(r, 13)?,
        allow_cleartext_password: col(r, 14)?,
        allowed_privileges,
    })
}

pub(super) async fn create_instance(tx: &Transaction<'_>, i: &DbInstance) -> Result<()> {
    let sealed = &i.admin_password;
    let allowed = serde_json::to_string(&i.allowed_privileges)
        .map_err(|e| internal("write instance privileges", e))?;
    exec(
        tx,
        &format!(
            "INSERT INTO db_instances ({INSTANCE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ),
        &[
            &account_sql(i.scope.account),
            &i.scope.region,
            &i.id,
            &i.engine.as_str(),
            &i.host,
            &i32::from(i.port),
            &i.admin_user,
            &sealed.key_id,
            &sealed.key_version,
            &sealed.envelope.wrapped_data_key,
            &sealed.envelope.ciphertext,
            &i.created_at.0,
            &i.tls.as_str(),
            &i.ca_pem,
            &i.allow_cleartext_password,
            &allowed,
        ],
    )
    .await
    .map_err(|e| {
        if is_unique(&e) {
            Error::AlreadyExists {
                what: Resource::DbInstance,
                name: i.id.clone(),
            }
        } else {
            pg_error("create database instance", e)
        }
    })?;
    Ok(())
}

/// See [`RotationStore::delete_db_instance`]. The exclusive account lock keeps a secret that
/// names the instance from being created on another node between the check and the delete.
async fn delete_instance(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<()> {
    let account = account_sql(scope.account);
    lock_account(tx, scope.account, true).await?;
    let user = opt(
        tx,
        "SELECT name FROM secrets WHERE account = $1 AND region = $2 AND db_instance = $3 \
         LIMIT 1",
        &[&account, &scope.region, &id],
    )
    .await
    .map_err(|e| pg_error("check database instance use", e))?;
    if let Some(row) = user {
        let secret: String = col(&row, 0)?;
        return Err(Error::InvalidState {
            name: id.to_string(),
            reason: format!(
                "the database instance {id:?} is used by the secret {secret:?} (delete it first)"
            ),
        });
    }
    let n = exec(
        tx,
        "DELETE FROM db_instances WHERE account = $1 AND region = $2 AND id = $3",
        &[&account, &scope.region, &id],
    )
    .await
    .map_err(|e| pg_error("delete database instance", e))?;
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

/// Reads a row of [`TASK_COLUMNS`].
pub(super) fn task_row(r: &Row) -> Result<RotationTask> {
    let kind: String = col(r, 4)?;
    let step: String = col(r, 6)?;
    let status: String = col(r, 7)?;
    let attempts: i64 = col(r, 8)?;
    Ok(RotationTask {
        id: col(r, 0)?,
        scope: Scope {
            account: account_from_sql(col(r, 1)?),
            region: col(r, 2)?,
        },
        secret_id: col::<Uuid>(r, 3)?,
        kind: parse("read task kind", &kind)?,
        version_id: col(r, 5)?,
        step: parse("read task step", &step)?,
        status: TaskStatus::parse(&status).ok_or_else(|| internal("read task status", &status))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        applied: col(r, 13)?,
        last_error: col(r, 9)?,
        next_attempt: Timestamp(col(r, 10)?),
        created_at: Timestamp(col(r, 11)?),
        updated_at: Timestamp(col(r, 12)?),
    })
}

pub(super) async fn put_task(tx: &Transaction<'_>, t: &RotationTask) -> Result<()> {
    exec(
        tx,
        &format!(
            "INSERT INTO rotation_tasks ({TASK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET step = excluded.step, status = excluded.status, \
             attempts = excluded.attempts, applied = excluded.applied, \
             last_error = excluded.last_error, next_attempt = excluded.next_attempt, \
             updated_at = excluded.updated_at"
        ),
        &[
            &t.id,
            &account_sql(t.scope.account),
            &t.scope.region,
            &t.secret_id,
            &text("encode task kind", &t.kind)?,
            &t.version_id,
            &text("encode task step", &t.step)?,
            &t.status.as_str(),
            &i64::from(t.attempts),
            &t.last_error,
            &t.next_attempt.0,
            &t.created_at.0,
            &t.updated_at.0,
            &t.applied,
        ],
    )
    .await
    .map_err(|e| pg_error("write task", e))?;
    Ok(())
}

#[async_trait]
impl RotationStore for PgStore {
    async fn create_db_instance(&self, instance: &DbInstance) -> Result<()> {
        pg_write!(self, "create database instance", |tx| create_instance(
            &tx, instance
        ))
        .await
    }

    async fn get_db_instance(&self, scope: &Scope, id: &str) -> Result<Option<DbInstance>> {
        pg_read!(self, "read database instance", |c| one(
            &c,
            "read database instance",
            &format!(
                "SELECT {INSTANCE_COLUMNS} FROM db_instances \
                 WHERE account = $1 AND region = $2 AND id = $3"
            ),
            &[&account_sql(scope.account), &scope.region, &id],
            instance_row
        ))
        .await
    }

    async fn list_db_instances(&self, scope: &Scope) -> Result<Vec<DbInstance>> {
        pg_read!(self, "list database instances", |c| all(
            &c,
            "list database instances",
            &format!(
                "SELECT {INSTANCE_COLUMNS} FROM db_instances \
                 WHERE account = $1 AND region = $2 ORDER BY id"
            ),
            &[&account_sql(scope.account), &scope.region],
            instance_row
        ))
        .await
    }

    async fn delete_db_instance(&self, scope: &Scope, id: &str) -> Result<()> {
        pg_write!(self, "delete database instance", |tx| delete_instance(
            &tx, scope, id
        ))
        .await
    }

    async fn write_task(&self, task: &RotationTask, secret: Option<SecretWrite>) -> Result<()> {
        pg_write!(self, "write task", |tx| async {
            if let Some(w) = secret {
                apply_secret_write(&tx, w).await?;
            }
            put_task(&tx, task).await
        })
        .await
    }

    async fn get_task(&self, scope: &Scope, id: i64) -> Result<Option<RotationTask>> {
        pg_read!(self, "read task", |c| one(
            &c,
            "read task",
            &format!(
                "SELECT {TASK_COLUMNS} FROM rotation_tasks \
                 WHERE id = $1 AND account = $2 AND region = $3"
            ),
            &[&id, &account_sql(scope.account), &scope.region],
            task_row
        ))
        .await
    }

    async fn secret_tasks(&self, secret_id: Uuid, limit: u32) -> Result<Vec<RotationTask>> {
        pg_read!(self, "read tasks", |c| all(
            &c,
            "read tasks",
            &format!(
                "SELECT {TASK_COLUMNS} FROM rotation_tasks WHERE secret_id = $1 \
                 ORDER BY created_at DESC, seq DESC LIMIT $2"
            ),
            &[&secret_id, &limit_sql(limit)],
            task_row
        ))
        .await
    }

    async fn scope_tasks(&self, scope: &Scope, limit: u32) -> Result<Vec<(RotationTask, String)>> {
        let columns: Vec<String> = TASK_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
        let sql = format!(
            "SELECT {}, s.name FROM rotation_tasks t JOIN secrets s ON s.id = t.secret_id \
             WHERE t.account = $1 AND t.region = $2 \
             ORDER BY t.created_at DESC, t.seq DESC LIMIT $3",
            columns.join(", ")
        );
        pg_read!(self, "read tasks", |c| all(
            &c,
            "read tasks",
            &sql,
            &[
                &account_sql(scope.account),
                &scope.region,
                &limit_sql(limit)
            ],
            |r| Ok((task_row(r)?, col::<String>(r, 14)?))
        ))
        .await
    }

    async fn due_tasks(&self, now: Timestamp, limit: u32) -> Result<Vec<RotationTask>> {
        pg_read!(self, "find due tasks", |c| all(
            &c,
            "find due tasks",
            &format!(
                "SELECT {TASK_COLUMNS} FROM rotation_tasks \
                 WHERE status = 'running' AND next_attempt <= $1 ORDER BY next_attempt LIMIT $2"
            ),
            &[&now.0, &limit_sql(limit)],
            task_row
        ))
        .await
    }

    async fn due_secret_rotations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>> {
        pg_read!(self, "find secrets due for rotation", |c| all(
            &c,
            "find secrets due for rotation",
            "SELECT account, region, name FROM secrets WHERE next_rotation IS NOT NULL \
             AND next_rotation <= $1 ORDER BY next_rotation LIMIT $2",
            &[&now.0, &limit_sql(limit)],
            scoped_row
        ))
        .await
    }
}
