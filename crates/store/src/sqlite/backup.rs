//! The backup area on SQLite: everything in one read transaction out, everything into an empty
//! database in one write transaction.
//!
//! An export opens its own read-only connection, so it needs neither the store's lock file
//! nor its writer: `coffer backup` reads the database of a running server this way, beside
//! it. In WAL mode that read transaction is one snapshot that the server's commits never
//! disturb and never wait for (the log only grows until the backup ends). The rows are read
//! on a blocking thread and handed over a short channel, so the sink (a file, a progress bar,
//! another store) runs at its own pace without the runtime waiting on SQLite.
//!
//! An import runs as one request of the writer: one transaction (a savepoint of the writer's
//! batch) that checks the database is empty, writes every item the source yields with the
//! same statements the areas use for creates, and commits once the source ends. A source that
//! fails drops its end of the channel and the request rolls back whole.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::store::{
    not_empty, BackupCounts, BackupItem, BackupStore, ExportSink, ImportSource, SecretWrite,
    SnapshotInfo,
};
use coffer_core::*;
use rusqlite::{params, Connection, OpenFlags};
use tokio::sync::mpsc;

use super::accounts::{
    account_row, attach_policy, create_access_key, create_account, create_project, policy_row,
    put_policy, POLICY_COLUMNS,
};
use super::events::{create_event_rule, event_rule_row, EVENT_RULE_COLUMNS};
use super::keys::create_key;
use super::rotation::{
    create_instance, instance_row, put_task, query_tasks, INSTANCE_COLUMNS, TASK_COLUMNS,
};
use super::rows::{access_key_row, internal, load_key, ACCESS_KEY_COLUMNS};
use super::schema::MIGRATIONS;
use super::secret_writes::apply_secret_write;
use super::secrets::load_secret;
use super::SqliteStore;
use crate::backup::{counts_from, COUNT_SQL};

/// What the export's reading thread hands over.
enum Out {
    Begin(SnapshotInfo),
    Item(Box<BackupItem>),
}

/// What the importing write request takes in.
enum In {
    Item(Box<BackupItem>),
    End,
}

pub(super) fn count_all(c: &Connection) -> Result<BackupCounts> {
    c.query_row(COUNT_SQL, [], |r| {
        let mut n = [0i64; 16];
        for (i, slot) in n.iter_mut().enumerate() {
            *slot = r.get(i)?;
        }
        Ok(n)
    })
    .map(counts_from)
    .map_err(|e| internal("count rows", e))
}

/// Runs `each` on every row of `sql`, turning each into an item with `read`.
fn each<T>(
    c: &Connection,
    sql: &str,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut st = c.prepare(sql).map_err(|e| internal("prepare export", e))?;
    let mut rows = st.query([]).map_err(|e| internal("export", e))?;
    while let Some(row) = rows.next().map_err(|e| internal("export", e))? {
        let value = read(row).map_err(|e| internal("export row", e))?;
        each(value)?;
    }
    Ok(())
}

/// The sealed value of every version of a secret, by version id, in version order.
fn values_of(c: &Connection, secret_id: &str) -> Result<Vec<(String, SealedValue)>> {
    let mut st = c
        .prepare_cached(
            "SELECT version_id, key_id, key_version, wrapped_data_key, ciphertext FROM versions \
             WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(|e| internal("prepare values", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                SealedValue {
                    key_id: r.get(1)?,
                    key_version: r.get(2)?,
                    envelope: coffer_crypto::Envelope {
                        wrapped_data_key: r.get(3)?,
                        ciphertext: r.get(4)?,
                    },
                },
            ))
        })
        .map_err(|e| internal("query values", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| internal("read values", e))
}

/// Reads the whole database at `path` in one read transaction, handing every item to `send`
/// in backup order.
fn read_snapshot(
    path: &Path,
    busy_timeout: Duration,
    send: &mut dyn FnMut(Out) -> Result<()>,
) -> Result<()> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| internal(&format!("open {} to read", path.display()), e))?;
    c.busy_timeout(busy_timeout)
        .map_err(|e| internal("configure reader", e))?;
    c.execute_batch("BEGIN")
        .map_err(|e| internal("begin snapshot", e))?;
    // The first read fixes the snapshot: the schema version, the counts and every row below
    // come from the same moment.
    let schema: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| internal("read schema version", e))?;
    let known = MIGRATIONS.len() as i64;
    if schema != known {
        return Err(Error::InvalidState {
            name: path.display().to_string(),
            reason: format!(
                "{} has schema version {schema}, and this coffer reads version {known}: back it \
                 up with the coffer version that serves it{}",
                path.display(),
                if schema < known {
                    " (or start this version's server on it once, which migrates it)"
                } else {
                    ""
                }
            ),
        });
    }
    let counts = count_all(&c)?;
    send(Out::Begin(SnapshotInfo {
        store: "sqlite".into(),
        schema: schema as u32,
        counts,
    }))?;
    let item = |i: BackupItem| Out::Item(Box::new(i));
    each(
        &c,
        "SELECT id, name, operator, created_at, account_number FROM accounts ORDER BY id",
        account_row,
        |a| send(item(BackupItem::Account(a))),
    )?;
    each(
        &c,
        &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY id"),
        access_key_row,
        |k| send(item(BackupItem::AccessKey(k))),
    )?;
    each(
        &c,
        &format!("SELECT {POLICY_COLUMNS} FROM policies ORDER BY account, name"),
        policy_row,
        |p| send(item(BackupItem::Policy(p))),
    )?;
    each(
        &c,
        "SELECT access_key_id, policy_name FROM policy_attachments \
         ORDER BY access_key_id, policy_name",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        |(access_key_id, policy)| {
            send(item(BackupItem::Attachment {
                access_key_id,
                policy,
            }))
        },
    )?;
    each(
        &c,
        "SELECT id, account, region FROM projects ORDER BY id",
        |r| {
            Ok(Project {
                id: r.get(0)?,
                scope: Scope {
                    account: super::rows::account_from_sql(r.get(1)?),
                    region: r.get(2)?,
                },
            })
        },
        |p| send(item(BackupItem::Project(p))),
    )?;
    // Each kind comes in one order that both stores give alike (so a store and its copy in
    // the other kind of store export the same lines): by id, except keys and event rules,
    // which come in the order they were made because lists show them in that order.
    each(
        &c,
        "SELECT id FROM keys ORDER BY rowid",
        |r| r.get::<_, String>(0),
        |id| {
            let key = load_key(&c, &id)?
                .ok_or_else(|| Error::internal(format!("sqlite export: key {id} vanished")))?;
            send(item(BackupItem::Key(key)))
        },
    )?;
    each(
        &c,
        &format!("SELECT {EVENT_RULE_COLUMNS} FROM event_rules ORDER BY seq"),
        event_rule_row,
        |rule| send(item(BackupItem::EventRule(rule?))),
    )?;
    each(
        &c,
        &format!("SELECT {INSTANCE_COLUMNS} FROM db_instances ORDER BY account, region, id"),
        instance_row,
        |i| send(item(BackupItem::DbInstance(i?))),
    )?;
    each(
        &c,
        "SELECT id FROM secrets ORDER BY id",
        |r| r.get::<_, String>(0),
        |id| {
            let record = load_secret(&c, "s.id = ?1", params![id])?
                .ok_or_else(|| Error::internal(format!("sqlite export: secret {id} vanished")))?;
            let values = values_of(&c, &id)?;
            let replication = super::secret_writes::get_replication(&c, &id)?;
            send(item(BackupItem::Secret {
                record,
                values,
                replication,
            }))
        },
    )?;
    // Tasks by creation time (ties by id, as this store lists them), so that lists keep
    // their order.
    for task in query_tasks(
        &c,
        &format!("SELECT {TASK_COLUMNS} FROM rotation_tasks ORDER BY created_at, id"),
        [],
    )? {
        send(item(BackupItem::RotationTask(task)))?;
    }
    // Only read: ending the transaction cannot lose anything.
    let _ = c.execute_batch("COMMIT");
    Ok(())
}

/// Exports the database at `path` (see the module docs) to `sink`.
pub(crate) async fn export(
    path: &Path,
    busy_timeout: Duration,
    sink: &mut dyn ExportSink,
) -> Result<BackupCounts> {
    let (tx, mut rx) = mpsc::channel::<Out>(64);
    let path = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        read_snapshot(&path, busy_timeout, &mut |out| {
            tx.blocking_send(out)
                .map_err(|_| Error::internal("sqlite export: the backup stopped reading"))
        })
    });
    let mut declared = None;
    let mut sent = BackupCounts::default();
    let forwarded: Result<()> = async {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Begin(info) => {
                    sink.begin(&info).await?;
                    declared = Some(info.counts);
                }
                Out::Item(item) => {
                    sent.add(&item);
                    sink.item(*item).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    // A sink that failed stops the reader at its next hand-over.
    drop(rx);
    let read = reader
        .await
        .map_err(|e| Error::internal(format!("sqlite export: the reading thread failed: {e}")))?;
    forwarded?;
    read?;
    match declared {
        Some(counts) if counts == sent => Ok(sent),
        Some(counts) => Err(Error::internal(format!(
            "sqlite export: the snapshot counted {} but held {}",
            counts.summary(),
            sent.summary()
        ))),
        None => Err(Error::internal("sqlite export: the snapshot never began")),
    }
}

/// Writes one item with the statements of its area.
fn import_item(c: &Connection, item: BackupItem) -> Result<()> {
    match item {
        BackupItem::Account(a) => create_account(c, &a),
        BackupItem::AccessKey(k) => create_access_key(c, &k),
        BackupItem::Policy(p) => put_policy(c, &p),
        BackupItem::Attachment {
            access_key_id,
            policy,
        } => attach_policy(c, &access_key_id, &policy),
        BackupItem::Project(p) => create_project(c, &p),
        BackupItem::Key(k) => create_key(c, &k),
        BackupItem::EventRule(r) => create_event_rule(c, &r),
        BackupItem::DbInstance(i) => create_instance(c, &i),
        BackupItem::Secret {
            record,
            values,
            replication,
        } => {
            let id = record.id;
            apply_secret_write(
                c,
                SecretWrite::Create {
                    record,
                    values,
                    max_secrets: None,
                },
            )?;
            match replication {
                Some(info) => apply_secret_write(
                    c,
                    SecretWrite::SetReplication {
                        id,
                        info: Some(info),
                    },
                ),
                None => Ok(()),
            }
        }
        BackupItem::RotationTask(t) => put_task(c, &t),
    }
}

impl SqliteStore {
    /// Exports the SQLite database at `path` without opening a store on it: no lock file, no
    /// writer, a read-only connection. This is how a backup reads the database of a server
    /// that is running. Refuses a database of another schema version than this build's.
    pub async fn export_file(path: &Path, sink: &mut dyn ExportSink) -> Result<BackupCounts> {
        if !path.exists() {
            return Err(Error::InvalidState {
                name: path.display().to_string(),
                reason: format!("there is no database at {}", path.display()),
            });
        }
        export(path, Duration::from_secs(10), sink).await
    }
}

#[async_trait]
impl BackupStore for SqliteStore {
    async fn backup_counts(&self) -> Result<BackupCounts> {
        self.read(count_all).await
    }

    async fn export(&self, sink: &mut dyn ExportSink) -> Result<BackupCounts> {
        export(self.path(), Duration::from_secs(10), sink).await
    }

    async fn import(&self, source: &mut dyn ImportSource) -> Result<BackupCounts> {
        let (tx, mut rx) = mpsc::channel::<In>(256);
        let write =
            self.write(move |c| {
                let holds = count_all(c)?;
                if !holds.is_empty() {
                    return Err(not_empty(&holds));
                }
                let mut written = BackupCounts::default();
                loop {
                    match rx.blocking_recv() {
                        Some(In::Item(item)) => {
                            written.add(&item);
                            import_item(c, *item)?;
                        }
                        Some(In::End) => return Ok(written),
                        None => return Err(Error::internal(
                            "sqlite import: the source stopped before its end; nothing was written",
                        )),
                    }
                }
            });
        let feed = async move {
            loop {
                match source.next().await? {
                    Some(item) => {
                        if tx.send(In::Item(Box::new(item))).await.is_err() {
                            // The write request ended (it failed); its error is the answer.
                            return Ok(());
                        }
                    }
                    None => {
                        let _ = tx.send(In::End).await;
                        return Ok(());
                    }
                }
            }
        };
        let (written, fed): (Result<BackupCounts>, Result<()>) = tokio::join!(write, feed);
        fed?;
        written
    }
}
