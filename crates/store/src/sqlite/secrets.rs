//! The secrets area on SQLite: a secret by name or id with its versions, sealed values, the
//! read cache in front of name lookups, writes (which make the cache forget), listing (see
//! [`list`](super::list)) and the purge of secrets whose deletion window has ended.

use async_trait::async_trait;
use coffer_core::store::{SecretStore, SecretWrite};
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::list::{list_secrets, list_secrets_by_name};
use super::rows::{
    account_sql, internal, load_subscriptions, load_tags, secret_row, SECRET_COLUMNS,
};
use super::secret_writes::{apply_secret_write, delete_secret};
use super::SqliteStore;
use crate::cache::Cached;

fn load_versions(conn: &Connection, secret_id: &str) -> Result<Vec<VersionRecord>> {
    let mut st = conn
        .prepare_cached(
            "SELECT version_id, created_at, kind, expires_at FROM versions \
             INDEXED BY versions_by_seq WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(|e| internal("prepare versions", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(|e| internal("query versions", e))?;
    let mut versions = vec![];
    for row in rows {
        let (version_id, created_at, kind, expires_at) =
            row.map_err(|e| internal("read version", e))?;
        versions.push(VersionRecord {
            version_id,
            created_at: Timestamp(created_at),
            kind: ValueKind::parse_stored(&kind)
                .ok_or_else(|| Error::internal(format!("sqlite: unknown value kind {kind:?}")))?,
            stages: vec![],
            expires_at: expires_at.map(Timestamp),
        });
    }
    let mut st = conn
        .prepare_cached("SELECT stage, version_id FROM stages WHERE secret_id = ?1")
        .map_err(|e| internal("prepare stages", e))?;
    let rows = st
        .query_map([secret_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| internal("query stages", e))?;
    for row in rows {
        let (stage, version_id) = row.map_err(|e| internal("read stage", e))?;
        let stage = Stage::from_stored(&stage)
            .ok_or_else(|| Error::internal(format!("sqlite: unknown stage {stage:?}")))?;
        if let Some(v) = versions.iter_mut().find(|v| v.version_id == version_id) {
            v.stages.push(stage);
        }
    }
    // Built-ins first, then custom labels by name: one order whatever the storage order.
    for v in &mut versions {
        v.stages.sort();
    }
    Ok(versions)
}

fn secret_by_name(c: &Connection, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
    load_secret(
        c,
        "s.account = ?1 AND s.region = ?2 AND s.name = ?3",
        params![account_sql(scope.account), scope.region, name],
    )
}

/// The secret `filter` (a condition on `secrets s`) finds, with its tags, subscriptions and
/// versions.
pub(super) fn load_secret(
    c: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Option<SecretRecord>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets s WHERE {filter}"
        ))
        .and_then(|mut st| st.query_row(params, secret_row).optional())
        .map_err(|e| internal("read secret", e))?;
    let Some(row) = row else { return Ok(None) };
    let (id, mut record) = row.into_record()?;
    record.tags = load_tags(c, &id)?;
    record.subscriptions = load_subscriptions(c, &id)?;
    record.versions = load_versions(c, &id)?;
    Ok(Some(record))
}

fn sealed_value(c: &Connection, secret_id: &str, version_id: &str) -> Result<Option<SealedValue>> {
    c.prepare_cached(
        "SELECT key_id, key_version, wrapped_data_key, ciphertext FROM versions \
         WHERE secret_id = ?1 AND version_id = ?2",
    )
    .and_then(|mut st| {
        st.query_row(params![secret_id, version_id], sealed_row)
            .optional()
    })
    .map_err(|e| internal("read value", e))
}

/// The sealed value of a version, if the secret `secret_id` still has `revision`.
fn sealed_value_at(
    c: &Connection,
    secret_id: &str,
    revision: i64,
    version_id: &str,
) -> Result<Option<SealedValue>> {
    c.prepare_cached(
        "SELECT v.key_id, v.key_version, v.wrapped_data_key, v.ciphertext \
         FROM secrets s JOIN versions v ON v.secret_id = s.id AND v.version_id = ?3 \
         WHERE s.id = ?1 AND s.revision = ?2",
    )
    .and_then(|mut st| {
        st.query_row(params![secret_id, revision, version_id], sealed_row)
            .optional()
    })
    .map_err(|e| internal("read value", e))
}

fn sealed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedValue> {
    Ok(SealedValue {
        key_id: r.get(0)?,
        key_version: r.get(1)?,
        envelope: coffer_crypto::Envelope {
            wrapped_data_key: r.get(2)?,
            ciphertext: r.get(3)?,
        },
    })
}

/// A secret as a read will find it once `record` is written as an update with `new_values`:
/// the revision one higher, each version's stages in the order reads give them, and the
/// sealed value of the new current version (if the update adds it).
fn as_written(record: &SecretRecord, new_values: &[(String, SealedValue)]) -> Cached {
    let mut record = record.clone();
    record.revision += 1;
    for v in &mut record.versions {
        v.stages.sort();
    }
    let value = record
        .version_with_stage(&Stage::Current)
        .and_then(|current| {
            new_values
                .iter()
                .find(|(id, _)| *id == current.version_id)
                .cloned()
        });
    Cached { record, value }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        if let Some(hit) = self.cache.get_record(scope, name) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let record = self.read(|c| secret_by_name(c, scope, name)).await?;
        if let Some(record) = &record {
            self.cache.fill(
                generation,
                Cached {
                    record: record.clone(),
                    value: None,
                },
            );
        }
        Ok(record)
    }

    async fn get_secret_with_value(
        &self,
        scope: &Scope,
        name: &str,
        pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<(SecretRecord, Option<SealedValue>)>> {
        if let Some(hit) = self.cache.get(scope, name) {
            let wanted = match (pick(&hit.record), hit.value) {
                (None, _) => return Ok(Some((hit.record, None))),
                (Some(wanted), Some((cached, sealed))) if wanted == cached => {
                    return Ok(Some((hit.record, Some(sealed))))
                }
                (Some(wanted), _) => wanted,
            };
            // The record is cached without this version's value: most often because the
            // resource-policy check of this very request read it a moment before (every
            // GetSecretValue of a secret not cached), or a DescribeSecret did. Read the value
            // alone, in a snapshot where the secret still has the cached revision: every
            // change to a secret's versions and stages bumps it, so the record and the value
            // are one state. Reading the whole record again cost as much as the first read.
            let generation = self.cache.generation();
            let (id, revision) = (hit.record.id.to_string(), hit.record.revision);
            let sealed = self
                .read(|c| sealed_value_at(c, &id, revision, &wanted))
                .await?;
            if let Some(sealed) = sealed {
                self.cache.fill(
                    generation,
                    Cached {
                        record: hit.record.clone(),
                        value: Some((wanted, sealed.clone())),
                    },
                );
                return Ok(Some((hit.record, Some(sealed))));
            }
            // The secret moved on (or is gone) since it was cached: read both again.
        }
        let generation = self.cache.generation();
        let found = self
            .read(|c| {
                let Some(secret) = secret_by_name(c, scope, name)? else {
                    return Ok(None);
                };
                let sealed = match pick(&secret) {
                    Some(version_id) => sealed_value(c, &secret.id.to_string(), &version_id)?
                        .map(|sealed| (version_id, sealed)),
                    None => None,
                };
                Ok(Some((secret, sealed)))
            })
            .await?;
        let Some((secret, sealed)) = found else {
            return Ok(None);
        };
        self.cache.fill(
            generation,
            Cached {
                record: secret.clone(),
                value: sealed.clone(),
            },
        );
        Ok(Some((secret, sealed.map(|(_, s)| s))))
    }

    async fn get_secret_by_id(&self, scope: &Scope, id: Uuid) -> Result<Option<SecretRecord>> {
        self.read(move |c| {
            load_secret(
                c,
                "s.id = ?1 AND s.account = ?2 AND s.region = ?3",
                params![id.to_string(), account_sql(scope.account), scope.region],
            )
        })
        .await
    }

    async fn list_secrets(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>> {
        self.read(move |c| list_secrets(c, scope, filter, page))
            .await
    }

    async fn list_secrets_by_name(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        walk: &NameWalk,
    ) -> Result<NamePage> {
        self.read(move |c| list_secrets_by_name(c, scope, filter, walk))
            .await
    }

    async fn read_value(&self, secret_id: Uuid, version_id: &str) -> Result<Option<SealedValue>> {
        self.read(|c| sealed_value(c, &secret_id.to_string(), version_id))
            .await
    }

    async fn write_secret(&self, write: SecretWrite) -> Result<()> {
        // Creates and updates name their secret, so the cache forgets that one alone.
        let named = match &write {
            SecretWrite::Create { record, .. } | SecretWrite::Update { record, .. } => {
                Some((record.scope.clone(), record.name.clone()))
            }
            SecretWrite::Delete { .. }
            | SecretWrite::SetReplication { .. }
            | SecretWrite::Batch(_) => None,
        };
        // An update's new state goes into the cache once it is durable, so that the next
        // put or read of the secret does not read back what was just written. (A create's
        // does not: most created secrets are not read right away, and filling the cache
        // with them would push out those that are.)
        let written = match &write {
            SecretWrite::Update {
                record, new_values, ..
            } => Some(as_written(record, new_values)),
            _ => None,
        };
        let kept = written.is_some();
        let cache = self.cache.clone();
        let result = self
            .writer
            .submit_rerunnable_then(
                // A secret write changes rows only, so it may run again (see the writer).
                move |c| apply_secret_write(c, write.clone()),
                move |()| {
                    if let Some(w) = written {
                        cache.replace(w);
                    }
                },
            )
            .await;
        match (&result, named) {
            (Ok(()), _) if kept => {}
            (_, Some((scope, name))) => self.cache.forget(&scope, &name),
            (_, None) => self.cache.forget_all(),
        }
        result
    }

    async fn get_replication(&self, secret_id: Uuid) -> Result<Option<String>> {
        // Every update of a secret asks (see `Service::with_replicas`); almost always there
        // is none, and the answer changes only through writes that empty the cache.
        let id = secret_id.to_string();
        if let Some(hit) = self.cache.replication(&id) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let found = self
            .read(|c| super::secret_writes::get_replication(c, &id))
            .await?;
        self.cache.fill_replication(generation, id, found.clone());
        Ok(found)
    }

    async fn record_access(&self, secret_id: Uuid, day: Timestamp) -> Result<()> {
        // Through the batched writer, gathered with the other days of the moment (see
        // `access_days`); no cache holds the day, so none forgets anything.
        self.access_days
            .record(&self.writer, secret_id, day.0)
            .await
    }

    async fn stages_of(
        &self,
        secret_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Vec<(String, Stage)>>> {
        let ids = secret_ids.to_vec();
        self.read(move |c| {
            let mut st = c
                .prepare_cached("SELECT version_id, stage FROM stages WHERE secret_id = ?1")
                .map_err(|e| internal("prepare stages", e))?;
            let mut out = std::collections::HashMap::new();
            for id in ids {
                let rows: Vec<(String, String)> = st
                    .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(|rows| rows.collect())
                    .map_err(|e| internal("read stages", e))?;
                if rows.is_empty() {
                    continue;
                }
                let staged = rows
                    .into_iter()
                    .map(|(version_id, stage)| {
                        Stage::from_stored(&stage)
                            .map(|s| (version_id, s))
                            .ok_or_else(|| {
                                Error::internal(format!("sqlite: unknown stage {stage:?}"))
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.insert(id, staged);
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
        self.read(move |c| {
            let mut st = c
                .prepare_cached("SELECT day FROM secret_access WHERE secret_id = ?1")
                .map_err(|e| internal("prepare last access", e))?;
            let mut out = std::collections::HashMap::new();
            for id in ids {
                let day: Option<i64> = st
                    .query_row([id.to_string()], |r| r.get(0))
                    .optional()
                    .map_err(|e| internal("read last access", e))?;
                if let Some(day) = day {
                    out.insert(id, Timestamp(day));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.write(move |c| {
            let due: Vec<(String, String)> = c
                .prepare_cached(
                    "SELECT id, name FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?1 \
                     ORDER BY purge_at LIMIT ?2",
                )
                .and_then(|mut st| {
                    st.query_map(params![now.0, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(|e| internal("find due secrets", e))?;
            let mut purged = Vec::with_capacity(due.len());
            for (id, name) in due {
                if let Some(scope) = delete_secret(c, &id, None)? {
                    purged.push((scope, name));
                }
            }
            Ok(purged)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use super::*;
    use crate::sqlite::schema::testing::{migrated, plan};

    #[test]
    fn purge_and_name_lookups_use_their_indexes() {
        let c = migrated();
        let p = plan(
            &c,
            "SELECT id, name FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?1 \
             ORDER BY purge_at LIMIT ?2",
            &[Value::Integer(1), Value::Integer(10)],
        );
        assert!(p.contains("secrets_by_purge"), "{p}");
        let p = plan(
            &c,
            "SELECT id FROM secrets s WHERE s.account = ?1 AND s.region = ?2 AND s.name = ?3",
            &[
                Value::Integer(1),
                Value::Text("r".into()),
                Value::Text("n".into()),
            ],
        );
        assert!(p.contains("secrets_by_name"), "{p}");
    }

    /// A fresh store holding one secret `name` (account 7) with its value `v1`; the directory
    /// must outlive the store.
    async fn store_with_one_secret(
        name: &str,
    ) -> (tempfile::TempDir, SqliteStore, Scope, SecretRecord) {
        use crate::conformance::{sealed, secret};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("c.db"), crate::SqliteOptions::default())
            .expect("open");
        let scope = Scope {
            account: AccountId(7),
            region: "default".into(),
        };
        let rec = secret(&scope, name, 10);
        store
            .write_secret(SecretWrite::Create {
                record: rec.clone(),
                values: vec![("v1".into(), sealed(1))],
                max_secrets: None,
            })
            .await
            .expect("create");
        (dir, store, scope, rec)
    }

    /// What an update leaves in the read cache is what SQLite returns for the secret
    /// afterwards, stage order, revision and current value included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_update_caches_what_a_read_would_find() {
        use crate::conformance::sealed;
        let (_dir, store, scope, rec) = store_with_one_secret("cached").await;
        let mut next = rec.clone();
        next.versions[0].stages = vec![Stage::Previous];
        let mut v2 = next.versions[0].clone();
        v2.version_id = "v2".into();
        v2.created_at = Timestamp(20);
        // Deliberately out of the order reads give.
        v2.stages = vec![Stage::Custom("blue".into()), Stage::Pending, Stage::Current];
        next.versions.push(v2);
        next.tags.push(Tag {
            key: "team".into(),
            value: "a".into(),
        });
        next.updated_at = Timestamp(20);
        for round in 0..2 {
            store
                .write_secret(SecretWrite::Update {
                    record: next.clone(),
                    new_values: if round == 0 {
                        vec![("v2".into(), sealed(2))]
                    } else {
                        vec![]
                    },
                    removed_versions: vec![],
                })
                .await
                .expect("update");
            let cached = store
                .cache
                .get(&scope, "cached")
                .expect("kept in the cache");
            let stored = store
                .read(|c| secret_by_name(c, &scope, "cached"))
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(cached.record, stored);
            if round == 0 {
                assert_eq!(cached.value, Some(("v2".to_string(), sealed(2))));
            } else {
                // No new value came with this write: none is claimed.
                assert_eq!(cached.value, None);
            }
            next = stored;
            next.description = "changed".into();
        }
        // A write that fails leaves nothing of itself in the cache.
        let stale = rec.clone();
        let r = store
            .write_secret(SecretWrite::Update {
                record: stale,
                new_values: vec![],
                removed_versions: vec![],
            })
            .await;
        assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
        let got = store.get_secret(&scope, "cached").await.expect("get");
        assert_eq!(got.map(|r| r.revision), Some(2));
    }

    /// A record cached without its value (as the resource-policy check leaves it) gets the
    /// value alone, and one whose secret moved on meanwhile is read again whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_record_gets_its_value_only_while_its_revision_holds() {
        use crate::conformance::sealed;
        let (_dir, store, scope, rec) = store_with_one_secret("s").await;
        let pick = |_: &SecretRecord| Some("v1".to_string());
        let cached = store.get_secret(&scope, "s").await.expect("get");
        assert_eq!(store.cache.get(&scope, "s").map(|c| c.value), Some(None));
        let (got, value) = store
            .get_secret_with_value(&scope, "s", &pick)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(Some(got), cached);
        assert_eq!(value, Some(sealed(1)));
        assert_eq!(
            store.cache.get(&scope, "s").and_then(|c| c.value),
            Some(("v1".to_string(), sealed(1))),
            "the value joins the cached record"
        );
        // The stored secret moves on behind the cache's back (no write of the store's own
        // would): the cached record no longer goes with any value read now.
        let id = rec.id.to_string();
        store
            .writer
            .submit(move |c| {
                c.execute(
                    "UPDATE secrets SET description = 'moved', revision = revision + 1 \
                     WHERE id = ?1",
                    [id],
                )
                .map_err(|e| internal("test update", e))?;
                Ok(())
            })
            .await
            .expect("update");
        store.cache.fill(
            store.cache.generation(),
            Cached {
                record: cached.clone().expect("cached"),
                value: None,
            },
        );
        let (got, value) = store
            .get_secret_with_value(&scope, "s", &pick)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(got.description, "moved");
        assert_eq!(got.revision, rec.revision + 1);
        assert_eq!(value, Some(sealed(1)));
    }

    /// Days of reads recorded at once share one commit, and each caller hears back once it
    /// is durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn days_of_reads_at_once_share_one_commit() {
        use crate::conformance::{sealed, secret};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(
            SqliteStore::open(&dir.path().join("c.db"), crate::SqliteOptions::default())
                .expect("open"),
        );
        let scope = Scope {
            account: AccountId(7),
            region: "default".into(),
        };
        let mut ids = vec![];
        for i in 0..50 {
            let rec = secret(&scope, &format!("s{i}"), 10 + i);
            ids.push(rec.id);
            store
                .write_secret(SecretWrite::Create {
                    record: rec,
                    values: vec![("v1".into(), sealed(1))],
                    max_secrets: None,
                })
                .await
                .expect("create");
        }
        let before = store.stats().batches;
        let mut recording = tokio::task::JoinSet::new();
        for (k, id) in ids.iter().enumerate() {
            let (store, id) = (store.clone(), *id);
            recording.spawn(async move { store.record_access(id, Timestamp(k as i64)).await });
        }
        while let Some(done) = recording.join_next().await {
            done.expect("task").expect("recorded");
        }
        assert_eq!(store.stats().batches - before, 1, "one commit for all");
        let days = store.last_accessed(&ids).await.expect("days");
        assert_eq!(days.len(), ids.len());
        assert_eq!(days.get(&ids[49]), Some(&Timestamp(49)));
        // A day waiting for its batch when the store closes is written first.
        let waiting = {
            let (store, id) = (store.clone(), ids[0]);
            tokio::spawn(async move { store.record_access(id, Timestamp(100)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        store.close().await;
        waiting.await.expect("task").expect("recorded at close");
        drop(store);
        let store = SqliteStore::open(&dir.path().join("c.db"), crate::SqliteOptions::default())
            .expect("reopen");
        let days = store.last_accessed(&ids[..1]).await.expect("days");
        assert_eq!(days.get(&ids[0]), Some(&Timestamp(100)));
    }

    #[test]
    fn stage_text_round_trips_through_the_stages_table() {
        for s in [
            Stage::Current,
            Stage::Previous,
            Stage::Pending,
            Stage::Custom("@current".into()),
            Stage::Custom(String::new()),
        ] {
            assert_eq!(Stage::from_stored(&s.to_stored()), Some(s));
        }
    }
}
