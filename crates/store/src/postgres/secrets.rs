//! The secrets area on PostgreSQL: a secret by name or id with its versions, sealed values,
//! writes (see [`secret_writes`](super::secret_writes)), listing (see [`list`](super::list))
//! and the purge of secrets whose deletion window has ended. Reads by name go through this
//! node's revision-checked cache (see [`cache`](super::cache)).

use async_trait::async_trait;
use coffer_core::store::{SecretStore, SecretWrite};
use coffer_core::*;
use deadpool_postgres::{GenericClient, Object};
use std::time::Instant;
use tokio_postgres::IsolationLevel;
use uuid::Uuid;

use super::cache::Cached;
use super::list::{list_secrets, list_secrets_by_name};
use super::rows::{
    account_sql, col, limit_sql, opt, pg_error, rows, secret_row, SECRET_SELECT_FULL,
};
use super::secret_writes::{apply_secret_write, count_shard, create_pipelined, delete_secret};
use super::{pg_read, pg_write, PgStore};

async fn secret_by_name<C: GenericClient>(
    c: &C,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRecord>> {
    opt(
        c,
        &format!("{SECRET_SELECT_FULL} WHERE s.account = $1 AND s.region = $2 AND s.name = $3"),
        &[&account_sql(scope.account), &scope.region, &name],
    )
    .await
    .map_err(|e| pg_error("read secret", e))?
    .map(|r| secret_row(&r, true))
    .transpose()
}

fn sealed_from(r: &tokio_postgres::Row, first: usize) -> Result<Option<SealedValue>> {
    let key_id: Option<String> = col(r, first)?;
    let Some(key_id) = key_id else {
        return Ok(None);
    };
    Ok(Some(SealedValue {
        key_id,
        key_version: col(r, first + 1)?,
        envelope: coffer_crypto::Envelope {
            wrapped_data_key: col(r, first + 2)?,
            ciphertext: col(r, first + 3)?,
        },
    }))
}

async fn sealed_value<C: GenericClient>(
    c: &C,
    secret_id: &Uuid,
    version_id: &str,
) -> Result<Option<SealedValue>> {
    let row = opt(
        c,
        "SELECT key_id, key_version, wrapped_data_key, ciphertext FROM versions \
         WHERE secret_id = $1 AND version_id = $2",
        &[secret_id, &version_id],
    )
    .await
    .map_err(|e| pg_error("read value", e))?;
    match row {
        Some(r) => sealed_from(&r, 0),
        None => Ok(None),
    }
}

/// What a value read returns: the secret and, when `pick` chose a version, its sealed value.
type ValueRead = Option<(SecretRecord, Option<SealedValue>)>;

/// Optimistic attempts at a value read before it takes a snapshot transaction.
const OPTIMISTIC_VALUE_READS: usize = 2;

/// A value read as one snapshot without a transaction: the secret, then the picked version's
/// value only if the secret's revision is still the one read. Every change to a secret's
/// versions bumps its revision (under the row lock), so a matching revision means the value
/// belongs to the record returned. `None` from the outer option: the secret moved on
/// meanwhile; try again.
async fn value_read_at_revision(
    c: &Object,
    scope: &Scope,
    name: &str,
    pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
) -> Result<Option<ValueRead>> {
    let Some(secret) = secret_by_name(c, scope, name).await? else {
        return Ok(Some(None));
    };
    let Some(version_id) = pick(&secret) else {
        return Ok(Some(Some((secret, None))));
    };
    let row = opt(
        c,
        "SELECT s.revision, v.key_id, v.key_version, v.wrapped_data_key, v.ciphertext \
         FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id AND v.version_id = $2 \
         WHERE s.id = $1",
        &[&secret.id, &version_id],
    )
    .await
    .map_err(|e| pg_error("read value", e))?;
    match row {
        Some(r) if col::<i64>(&r, 0)? == secret.revision => {
            let sealed = sealed_from(&r, 1)?;
            Ok(Some(Some((secret, sealed))))
        }
        // Deleted or changed since the first statement.
        _ => Ok(None),
    }
}

/// The same read in a REPEATABLE READ transaction: one snapshot for both statements,
/// whatever writes meanwhile. Used when a secret changes too often for the optimistic read.
async fn value_read_in_snapshot(
    c: &mut Object,
    scope: &Scope,
    name: &str,
    pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
) -> Result<ValueRead> {
    let tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| pg_error("begin snapshot", e))?;
    let result = async {
        let Some(secret) = secret_by_name(&tx, scope, name).await? else {
            return Ok(None);
        };
        let sealed = match pick(&secret) {
            Some(version_id) => sealed_value(&tx, &secret.id, &version_id).await?,
            None => None,
        };
        Ok(Some((secret, sealed)))
    }
    .await;
    super::rows::finish(tx, result).await
}

impl PgStore {
    /// The revision the database holds for the secret `id` now (`None`: no such secret any
    /// more), asked together with the probes of concurrent reads.
    async fn current_revision(&self, id: &Uuid) -> Result<Option<i64>> {
        self.probe
            .revision(&self.pool, self.options.operation_timeout, *id)
            .await
    }

    /// Whether the database still holds the cached `record` at its revision. `current`: a
    /// statement sent during this request already found it so, and nothing is asked.
    async fn still_at_revision(&self, record: &SecretRecord, current: bool) -> Result<bool> {
        if current {
            return Ok(true);
        }
        let asked = Instant::now();
        let same = self.current_revision(&record.id).await? == Some(record.revision);
        if same {
            self.cache
                .confirm(&record.scope, &record.name, record.revision, asked);
        }
        Ok(same)
    }
}

/// What a cached entry answers for a value read, when the database still holds its
/// revision: `Some` with the answer, `None` when the full read must run (the secret moved
/// on or is gone).
async fn value_from_cache(
    store: &PgStore,
    hit: Cached,
    pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
) -> Result<Option<(SecretRecord, Option<SealedValue>)>> {
    let current = hit.current_for_this_request();
    let Cached { record, value, .. } = hit;
    let Some(version_id) = pick(&record) else {
        return Ok(store
            .still_at_revision(&record, current)
            .await?
            .then_some((record, None)));
    };
    if let Some((cached_version, sealed)) = value {
        if cached_version == version_id {
            return Ok(store
                .still_at_revision(&record, current)
                .await?
                .then_some((record, Some(sealed))));
        }
    }
    // Another version than the one cached: its value and the revision in one statement.
    let asked = Instant::now();
    let c = store.conn().await?;
    let row = opt(
        &c,
        "SELECT s.revision, v.key_id, v.key_version, v.wrapped_data_key, v.ciphertext \
         FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id AND v.version_id = $2 \
         WHERE s.id = $1",
        &[&record.id, &version_id],
    )
    .await
    .map_err(|e| pg_error("read value", e))?;
    match row {
        Some(r) if col::<i64>(&r, 0)? == record.revision => {
            let sealed = sealed_from(&r, 1)?;
            if let Some(sealed) = &sealed {
                store.cache.set_value(
                    &record.scope,
                    &record.name,
                    record.revision,
                    (version_id, sealed.clone()),
                    asked,
                );
            }
            Ok(Some((record, sealed)))
        }
        _ => Ok(None),
    }
}

/// Keeps what a full value read, begun at `asked`, found (or forgets the name when there is no
/// such secret).
fn fill_from_read(
    store: &PgStore,
    scope: &Scope,
    name: &str,
    found: &ValueRead,
    pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
    asked: Instant,
) {
    match found {
        Some((record, sealed)) => {
            let value = match (pick(record), sealed) {
                (Some(version_id), Some(sealed)) => Some((version_id, sealed.clone())),
                _ => None,
            };
            store.cache.fill(Cached {
                record: record.clone(),
                value,
                confirmed: asked,
            });
        }
        None => store.cache.forget(scope, name),
    }
}

#[async_trait]
impl SecretStore for PgStore {
    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        self.bounded("read secret", async {
            if let Some(hit) = self.cache.get(scope, name) {
                let current = hit.current_for_this_request();
                if self.still_at_revision(&hit.record, current).await? {
                    return Ok(Some(hit.record));
                }
            }
            let asked = Instant::now();
            let c = self.conn().await?;
            let found = secret_by_name(&c, scope, name).await?;
            match &found {
                Some(record) => self.cache.fill(Cached {
                    record: record.clone(),
                    value: None,
                    confirmed: asked,
                }),
                None => self.cache.forget(scope, name),
            }
            Ok(found)
        })
        .await
    }

    async fn get_secret_with_value(
        &self,
        scope: &Scope,
        name: &str,
        pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<(SecretRecord, Option<SealedValue>)>> {
        self.bounded("read value", async {
            if let Some(hit) = self.cache.get(scope, name) {
                if let Some(found) = value_from_cache(self, hit, pick).await? {
                    return Ok(Some(found));
                }
            }
            let asked = Instant::now();
            let mut c = self.conn().await?;
            for _ in 0..OPTIMISTIC_VALUE_READS {
                if let Some(found) = value_read_at_revision(&c, scope, name, pick).await? {
                    fill_from_read(self, scope, name, &found, pick, asked);
                    return Ok(found);
                }
            }
            let found = value_read_in_snapshot(&mut c, scope, name, pick).await?;
            fill_from_read(self, scope, name, &found, pick, asked);
            Ok(found)
        })
        .await
    }

    async fn get_secret_by_id(&self, scope: &Scope, id: Uuid) -> Result<Option<SecretRecord>> {
        pg_read!(self, "read secret", |c| async {
            opt(
                &c,
                &format!(
                    "{SECRET_SELECT_FULL} WHERE s.id = $1 AND s.account = $2 AND s.region = $3"
                ),
                &[&id, &account_sql(scope.account), &scope.region],
            )
            .await
            .map_err(|e| pg_error("read secret", e))?
            .map(|r| secret_row(&r, true))
            .transpose()
        })
        .await
    }

    async fn list_secrets(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>> {
        pg_read!(self, "list secrets", |c| list_secrets(
            &c, scope, filter, page
        ))
        .await
    }

    async fn list_secrets_by_name(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        walk: &NameWalk,
    ) -> Result<NamePage> {
        pg_read!(self, "walk secrets", |c| list_secrets_by_name(
            &c, scope, filter, walk
        ))
        .await
    }

    async fn read_value(&self, secret_id: Uuid, version_id: &str) -> Result<Option<SealedValue>> {
        pg_read!(self, "read value", |c| sealed_value(
            &c, &secret_id, version_id
        ))
        .await
    }

    async fn write_secret(&self, write: SecretWrite) -> Result<()> {
        // This node's own entry is dropped whatever the outcome: the next read refills it
        // (other nodes find out through the revision).
        coffer_core::store::request_writes();
        let mut names = Vec::new();
        written_names(&write, &mut names);
        for (scope, name) in names {
            self.cache.forget(&scope, &name);
        }
        match pipelined_create(write) {
            Ok((record, values, max_secrets, replication)) => {
                self.bounded("write secret", async {
                    let conn = self.conn().await?;
                    create_pipelined(conn, record, values, max_secrets, replication).await
                })
                .await
            }
            Err(write) => {
                pg_write!(self, "write secret", |tx| apply_secret_write(&tx, write)).await
            }
        }
    }

    async fn get_replication(&self, secret_id: Uuid) -> Result<Option<String>> {
        pg_read!(self, "read replication", |c| async move {
            let row = c
                .query_opt(
                    "SELECT info FROM secret_replication WHERE secret_id = $1",
                    &[&secret_id],
                )
                .await
                .map_err(|e| pg_error("read replication", e))?;
            row.map(|r| col::<String>(&r, 0)).transpose()
        })
        .await
    }

    async fn record_access(&self, secret_id: Uuid, day: Timestamp) -> Result<()> {
        // One statement, no revision bump: the cached records stay valid.
        pg_read!(self, "record access", |c| async move {
            c.execute(
                "INSERT INTO secret_access (secret_id, day) \
                 SELECT id, $2 FROM secrets WHERE id = $1 \
                 ON CONFLICT (secret_id) DO UPDATE SET day = EXCLUDED.day \
                 WHERE EXCLUDED.day > secret_access.day",
                &[&secret_id, &day.0],
            )
            .await
            .map_err(|e| pg_error("record access", e))?;
            Ok(())
        })
        .await
    }

    async fn stages_of(
        &self,
        secret_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Vec<(String, Stage)>>> {
        let ids = secret_ids.to_vec();
        pg_read!(self, "read stages", |c| async move {
            let rows = c
                .query(
                    "SELECT secret_id, version_id, stage FROM stages WHERE secret_id = ANY($1)",
                    &[&ids],
                )
                .await
                .map_err(|e| pg_error("read stages", e))?;
            let mut out: std::collections::HashMap<Uuid, Vec<(String, Stage)>> =
                std::collections::HashMap::new();
            for r in &rows {
                let stage: String = col(r, 2)?;
                let stage = Stage::from_stored(&stage)
                    .ok_or_else(|| Error::internal(format!("postgres: unknown stage {stage:?}")))?;
                out.entry(col(r, 0)?).or_default().push((col(r, 1)?, stage));
            }
            Ok(out)
        })
        .await
    }

    async fn last_accessed(
        &self,
        secret_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Timestamp>> {
        let ids = secret_ids.to_vec();
        pg_read!(self, "read last access", |c| async move {
            let rows = c
                .query(
                    "SELECT secret_id, day FROM secret_access WHERE secret_id = ANY($1)",
                    &[&ids],
                )
                .await
                .map_err(|e| pg_error("read last access", e))?;
            rows.iter()
                .map(|r| Ok((col::<Uuid>(r, 0)?, Timestamp(col(r, 1)?))))
                .collect()
        })
        .await
    }

    async fn purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        pg_write!(self, "purge secrets", |tx| async {
            // SKIP LOCKED: nodes purging at once take different secrets, and a secret that is
            // being restored right now waits for the next sweep instead of blocking this one.
            let due = rows(
                &tx,
                "SELECT id, account, region FROM secrets \
                 WHERE purge_at IS NOT NULL AND purge_at <= $1 \
                 ORDER BY purge_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&now.0, &limit_sql(limit)],
            )
            .await
            .map_err(|e| pg_error("find due secrets", e))?;
            let mut ids = Vec::with_capacity(due.len());
            for r in &due {
                let id: Uuid = col(r, 0)?;
                let account: i64 = col(r, 1)?;
                let region: String = col(r, 2)?;
                ids.push((account, region, count_shard(&id), id));
            }
            // Count rows are updated in one order on every node, so two purges never wait
            // for each other in a cycle.
            ids.sort();
            let mut purged = Vec::with_capacity(ids.len());
            for (_, _, _, id) in ids {
                if let Some(gone) = delete_secret(&tx, &id, None).await? {
                    purged.push(gone);
                }
            }
            Ok(purged)
        })
        .await
    }
}

/// A create, and a create with its replication record (what CreateSecret with replicas
/// writes), as the parts of a pipelined create; any other write as it came.
// The `Err` side hands the write back as it came (not an error), so its size is the write's.
#[allow(clippy::type_complexity, clippy::result_large_err)]
fn pipelined_create(
    write: SecretWrite,
) -> std::result::Result<
    (
        SecretRecord,
        Vec<(String, SealedValue)>,
        Option<u64>,
        Option<String>,
    ),
    SecretWrite,
> {
    match write {
        SecretWrite::Create {
            record,
            values,
            max_secrets,
        } => Ok((record, values, max_secrets, None)),
        SecretWrite::Batch(writes) => match <[SecretWrite; 2]>::try_from(writes) {
            Ok(
                [SecretWrite::Create {
                    record,
                    values,
                    max_secrets,
                }, SecretWrite::SetReplication {
                    id,
                    info: Some(info),
                }],
            ) if record.id == id => Ok((record, values, max_secrets, Some(info))),
            Ok(pair) => Err(SecretWrite::Batch(pair.into())),
            Err(writes) => Err(SecretWrite::Batch(writes)),
        },
        write => Err(write),
    }
}

/// The secrets a write changes, by name. A delete, or a replication record (which the cache
/// does not hold), names none: a deleted row fails the next revision probe by itself.
fn written_names(write: &SecretWrite, names: &mut Vec<(Scope, String)>) {
    match write {
        SecretWrite::Create { record, .. } | SecretWrite::Update { record, .. } => {
            names.push((record.scope.clone(), record.name.clone()))
        }
        SecretWrite::Delete { .. } | SecretWrite::SetReplication { .. } => {}
        SecretWrite::Batch(writes) => {
            for w in writes {
                written_names(w, names);
            }
        }
    }
}
