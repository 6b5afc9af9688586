//! The backup area on PostgreSQL: everything in one snapshot out, everything into an empty
//! database in one transaction.
//!
//! An export is one `REPEATABLE READ READ ONLY` transaction: every statement in it sees the
//! database as of its first one, whatever the nodes commit meanwhile, and it takes no lock a
//! writer waits for. Each kind is read through a portal a page at a time, so memory stays
//! bounded however large the store, and each page is bounded in time like every store call.
//!
//! An import is one transaction that checks the database is empty and writes every item with
//! the statements the areas use for creates; it commits after the source ends, so a failed
//! source or a refused item leaves the database as it was.

use std::collections::HashMap;

use async_trait::async_trait;
use coffer_core::store::{
    not_empty, BackupCounts, BackupItem, BackupStore, ExportSink, ImportSource, SecretWrite,
    SnapshotInfo,
};
use coffer_core::*;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::{IsolationLevel, Row};
use uuid::Uuid;

use super::accounts::{
    account_row, attach_policy, create_access_key, create_account, create_project, policy_row,
    project_row, put_policy, ACCOUNT_COLUMNS, POLICY_COLUMNS,
};
use super::events::{create_event_rule, event_rule_row, EVENT_RULE_COLUMNS};
use super::keys::create_key;
use super::rotation::{
    create_instance, instance_row, put_task, task_row, INSTANCE_COLUMNS, TASK_COLUMNS,
};
use super::rows::{
    access_key_row, begin, col, finish, key_row, pg_error, secret_row, ACCESS_KEY_COLUMNS,
    KEY_SELECT, SECRET_SELECT_FULL,
};
use super::schema::applied_version;
use super::secret_writes::apply_secret_write;
use super::PgStore;
use crate::backup::{counts_from, COUNT_SQL};

/// Rows fetched from a portal at a time (secrets come with their values, so fewer of them).
const PAGE: i32 = 500;
const SECRET_PAGE: i32 = 64;

async fn count_all<C: GenericClient>(c: &C) -> Result<BackupCounts> {
    let row = c
        .query_one(COUNT_SQL, &[])
        .await
        .map_err(|e| pg_error("count rows", e))?;
    let mut n = [0i64; 16];
    for (i, slot) in n.iter_mut().enumerate() {
        *slot = col(&row, i)?;
    }
    Ok(counts_from(n))
}

/// The values of every version of the secrets `ids`, by secret, in version order.
async fn values_of(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<(String, SealedValue)>>> {
    let rows = tx
        .query(
            "SELECT secret_id, version_id, key_id, key_version, wrapped_data_key, ciphertext \
             FROM versions WHERE secret_id = ANY($1) ORDER BY secret_id, seq",
            &[&ids],
        )
        .await
        .map_err(|e| pg_error("export values", e))?;
    let mut by_secret: HashMap<Uuid, Vec<(String, SealedValue)>> = HashMap::new();
    for r in &rows {
        by_secret.entry(col(r, 0)?).or_default().push((
            col(r, 1)?,
            SealedValue {
                key_id: col(r, 2)?,
                key_version: col(r, 3)?,
                envelope: coffer_crypto::Envelope {
                    wrapped_data_key: col(r, 4)?,
                    ciphertext: col(r, 5)?,
                },
            },
        ));
    }
    Ok(by_secret)
}

/// Hands items to the sink and counts them.
struct Out<'s> {
    sink: &'s mut dyn ExportSink,
    sent: BackupCounts,
}

impl Out<'_> {
    async fn send(&mut self, item: BackupItem) -> Result<()> {
        self.sent.add(&item);
        self.sink.item(item).await
    }
}

impl PgStore {
    /// The next page of a portal, bounded like every store call.
    async fn page(
        &self,
        tx: &Transaction<'_>,
        portal: &tokio_postgres::Portal,
        rows: i32,
        what: &str,
    ) -> Result<Vec<Row>> {
        self.bounded(what, async {
            tx.query_portal(portal, rows)
                .await
                .map_err(|e| pg_error(what, e))
        })
        .await
    }

    /// Every row of `sql`, each turned into an item by `read` and sent.
    async fn stream(
        &self,
        tx: &Transaction<'_>,
        out: &mut Out<'_>,
        what: &str,
        sql: &str,
        read: fn(&Row) -> Result<BackupItem>,
    ) -> Result<()> {
        let st = tx.prepare(sql).await.map_err(|e| pg_error(what, e))?;
        let portal = tx.bind(&st, &[]).await.map_err(|e| pg_error(what, e))?;
        loop {
            let rows = self.page(tx, &portal, PAGE, what).await?;
            if rows.is_empty() {
                return Ok(());
            }
            for r in &rows {
                out.send(read(r)?).await?;
            }
        }
    }

    async fn export_in(
        &self,
        tx: &Transaction<'_>,
        sink: &mut dyn ExportSink,
    ) -> Result<BackupCounts> {
        let schema = applied_version(tx).await?;
        let counts = count_all(tx).await?;
        sink.begin(&SnapshotInfo {
            store: "postgres".into(),
            schema: u32::try_from(schema).unwrap_or(0),
            counts,
        })
        .await?;
        let mut out = Out {
            sink,
            sent: BackupCounts::default(),
        };
        self.stream(
            tx,
            &mut out,
            "export accounts",
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"),
            |r| account_row(r).map(BackupItem::Account),
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export access keys",
            &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY id"),
            |r| access_key_row(r).map(BackupItem::AccessKey),
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export policies",
            &format!("SELECT {POLICY_COLUMNS} FROM policies ORDER BY account, name"),
            |r| policy_row(r).map(BackupItem::Policy),
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export policy attachments",
            "SELECT access_key_id, policy_name FROM policy_attachments \
             ORDER BY access_key_id, policy_name",
            |r| {
                Ok(BackupItem::Attachment {
                    access_key_id: col(r, 0)?,
                    policy: col(r, 1)?,
                })
            },
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export projects",
            "SELECT id, account, region FROM projects ORDER BY id",
            |r| project_row(r).map(BackupItem::Project),
        )
        .await?;
        // Each kind comes in the order the SQLite store gives too (see its export): by id,
        // except keys and event rules, in the order they were made, as lists show them.
        self.stream(
            tx,
            &mut out,
            "export keys",
            &format!("{KEY_SELECT} ORDER BY k.seq"),
            |r| key_row(r).map(BackupItem::Key),
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export event rules",
            &format!("SELECT {EVENT_RULE_COLUMNS} FROM event_rules ORDER BY seq"),
            |r| event_rule_row(r).map(BackupItem::EventRule),
        )
        .await?;
        self.stream(
            tx,
            &mut out,
            "export database instances",
            &format!("SELECT {INSTANCE_COLUMNS} FROM db_instances ORDER BY account, region, id"),
            |r| instance_row(r).map(BackupItem::DbInstance),
        )
        .await?;
        // Secrets a page at a time, each page's values in one more statement.
        let what = "export secrets";
        let st = tx
            .prepare(&format!("{SECRET_SELECT_FULL} ORDER BY s.id"))
            .await
            .map_err(|e| pg_error(what, e))?;
        let portal = tx.bind(&st, &[]).await.map_err(|e| pg_error(what, e))?;
        loop {
            let rows = self.page(tx, &portal, SECRET_PAGE, what).await?;
            if rows.is_empty() {
                break;
            }
            let records = rows
                .iter()
                .map(|r| secret_row(r, true))
                .collect::<Result<Vec<_>>>()?;
            let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
            let mut values = self.bounded(what, values_of(tx, &ids)).await?;
            for record in records {
                let values = values.remove(&record.id).unwrap_or_default();
                let replication = self
                    .bounded(what, async {
                        let row = tx
                            .query_opt(
                                "SELECT info FROM secret_replication WHERE secret_id = $1",
                                &[&record.id],
                            )
                            .await
                            .map_err(|e| pg_error("read replication", e))?;
                        row.map(|r| col::<String>(&r, 0)).transpose()
                    })
                    .await?;
                out.send(BackupItem::Secret {
                    record,
                    values,
                    replication,
                })
                .await?;
            }
        }
        // Tasks by creation time (ties by id, as SQLite lists them), so that lists keep
        // their order.
        self.stream(
            tx,
            &mut out,
            "export rotation tasks",
            &format!("SELECT {TASK_COLUMNS} FROM rotation_tasks ORDER BY created_at, id"),
            |r| task_row(r).map(BackupItem::RotationTask),
        )
        .await?;
        if out.sent != counts {
            return Err(Error::internal(format!(
                "postgres export: the snapshot counted {} but held {}",
                counts.summary(),
                out.sent.summary()
            )));
        }
        Ok(out.sent)
    }
}

/// Writes one item with the statements of its area.
async fn import_item(tx: &Transaction<'_>, item: BackupItem) -> Result<()> {
    match item {
        BackupItem::Account(a) => create_account(tx, &a).await,
        BackupItem::AccessKey(k) => create_access_key(tx, &k).await,
        BackupItem::Policy(p) => put_policy(tx, &p).await,
        BackupItem::Attachment {
            access_key_id,
            policy,
        } => attach_policy(tx, &access_key_id, &policy).await,
        BackupItem::Project(p) => create_project(tx, &p).await,
        BackupItem::Key(k) => create_key(tx, &k).await,
        BackupItem::EventRule(r) => create_event_rule(tx, &r).await,
        BackupItem::DbInstance(i) => create_instance(tx, &i).await,
        BackupItem::Secret {
            record,
            values,
            replication,
        } => {
            let id = record.id;
            apply_secret_write(
                tx,
                SecretWrite::Create {
                    record,
                    values,
                    max_secrets: None,
                },
            )
            .await?;
            match replication {
                Some(info) => {
                    apply_secret_write(
                        tx,
                        SecretWrite::SetReplication {
                            id,
                            info: Some(info),
                        },
                    )
                    .await
                }
                None => Ok(()),
            }
        }
        BackupItem::RotationTask(t) => put_task(tx, &t).await,
    }
}

#[async_trait]
impl BackupStore for PgStore {
    async fn backup_counts(&self) -> Result<BackupCounts> {
        self.bounded("count rows", async {
            let c = self.conn().await?;
            count_all(&c).await
        })
        .await
    }

    async fn export(&self, sink: &mut dyn ExportSink) -> Result<BackupCounts> {
        let mut conn = self.conn().await?;
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| pg_error("begin the snapshot", e))?;
        let result = self.export_in(&tx, sink).await;
        // Only read: ending the transaction cannot lose anything.
        let _ = tx.rollback().await;
        result
    }

    async fn import(&self, source: &mut dyn ImportSource) -> Result<BackupCounts> {
        // Restored secrets keep their ids and revisions: nothing cached before may stand.
        self.cache.forget_all();
        self.keys.forget_all();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let result = async {
            let holds = count_all(&tx).await?;
            if !holds.is_empty() {
                return Err(not_empty(&holds));
            }
            let mut written = BackupCounts::default();
            while let Some(item) = source.next().await? {
                written.add(&item);
                import_item(&tx, item).await?;
            }
            Ok(written)
        }
        .await;
        let written = finish(tx, result).await?;
        // A restored database has no statistics until autovacuum gets to it, and until then
        // the planner guesses: right after a restore of 50,000 secrets it read the whole
        // versions table for every page of the next backup. Collected now, they are right
        // from the first request. Only a hint: a failure changes nothing that was written.
        let tables = crate::backup::BACKED_UP_TABLES.join(", ");
        if let Err(e) = conn
            .batch_execute(&format!("ANALYZE {tables}, secret_counts"))
            .await
        {
            tracing::warn!(error = %e, "analyzing the restored tables failed");
        }
        Ok(written)
    }
}
