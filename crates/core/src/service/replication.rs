//! Replication: a secret kept in step in other coffer regions of its account (AWS
//! ReplicateSecretToRegions). A replica is a secret of its own in the replica region's scope,
//! with the primary's name, metadata, versions and stages; its values are sealed again under a
//! key of that scope (the AAD binds the region, so no ciphertext is copied). It is read-only:
//! only the primary's writes change it.
//!
//! Every write of a secret passes [`Service::with_replicas`], which refuses writes addressed
//! to a replica and turns a primary's write into one [`SecretWrite::Batch`] with the same
//! change applied to every replica; the store commits the batch in one transaction, so a
//! primary and its replicas never differ after a write (DESIGN.md, "Replication (AWS)").

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Service, MAX_RETRIES};
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::SecretWrite;

/// What a secret's replication record says, as the store keeps it (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role")]
pub enum Replication {
    /// A primary and its replicas, in the order they were added.
    Primary { replicas: Vec<ReplicaInfo> },
    /// A read-only replica of the secret of the same name in `primary_region` (a coffer
    /// region), as the client named that region (`primary_region_id`).
    Replica {
        primary_region: String,
        primary_region_id: String,
    },
}

/// One replica of a primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaInfo {
    /// The coffer region.
    pub region: String,
    /// The region id the client named it by (what responses show).
    pub region_id: String,
    /// The key of the replica's scope that seals its values.
    pub key_id: String,
    /// `InSync`, or `Failed` when no replica could be made (`message` says why).
    pub status: String,
    pub message: String,
}

/// A replica a request asks for.
#[derive(Clone, Debug)]
pub struct NewReplica {
    pub region: String,
    pub region_id: String,
    /// A key reference in the replica's scope; `None`: that scope's default key.
    pub key: Option<String>,
}

fn parse(info: &str) -> Result<Replication> {
    serde_json::from_str(info).map_err(|e| Error::internal(format!("stored replication: {e}")))
}

fn read_only(name: &str, primary_region_id: &str) -> Error {
    Error::InvalidState {
        name: name.to_string(),
        reason: format!(
            "the secret {name} is a read-only replica: change it through its primary in Region \
             {primary_region_id}"
        ),
    }
}

fn encode(r: &Replication) -> Result<String> {
    serde_json::to_string(r).map_err(|e| Error::internal(format!("replication record: {e}")))
}

impl Service {
    /// The secret's replication, if it has any.
    pub async fn replication(&self, secret_id: Uuid) -> Result<Option<Replication>> {
        self.store
            .get_replication(secret_id)
            .await?
            .map(|i| parse(&i))
            .transpose()
    }

    /// `write` as it must be committed: refused when it changes a replica; with the same
    /// change for every replica when it changes a primary (one batch).
    pub(super) async fn with_replicas(&self, write: SecretWrite) -> Result<SecretWrite> {
        let (id, name) = match &write {
            SecretWrite::Update { record, .. } => (record.id, record.name.clone()),
            // Deletes go through `delete_with_replicas`, which has the record.
            SecretWrite::Delete { .. }
            | SecretWrite::Create { .. }
            | SecretWrite::SetReplication { .. }
            | SecretWrite::Batch(_) => return Ok(write),
        };
        let replicas = match self.replication(id).await? {
            None => return Ok(write),
            Some(Replication::Replica {
                primary_region_id, ..
            }) => return Err(read_only(&name, &primary_region_id)),
            Some(Replication::Primary { replicas }) => replicas,
        };
        let mut batch = vec![];
        if let SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } = &write
        {
            {
                for r in replicas.iter().filter(|r| r.status == "InSync") {
                    let scope = Scope {
                        account: record.scope.account,
                        region: r.region.clone(),
                    };
                    let Some(replica) = self.store.get_secret(&scope, &record.name).await? else {
                        continue;
                    };
                    let mirror = self.mirror(record, &replica);
                    let mut values = Vec::with_capacity(new_values.len());
                    for (version_id, sealed) in new_values {
                        values.push((
                            version_id.clone(),
                            self.reseal(record, version_id, sealed, &mirror).await?,
                        ));
                    }
                    batch.push(SecretWrite::Update {
                        record: mirror,
                        new_values: values,
                        removed_versions: removed_versions.clone(),
                    });
                }
            }
        }
        if batch.is_empty() {
            return Ok(write);
        }
        batch.insert(0, write);
        Ok(SecretWrite::Batch(batch))
    }

    /// The write that deletes `secret` now, with its replicas when it is a primary (one
    /// batch). Refused for a replica.
    pub(super) async fn delete_with_replicas(&self, secret: &SecretRecord) -> Result<SecretWrite> {
        let write = SecretWrite::Delete {
            id: secret.id,
            revision: secret.revision,
        };
        let replicas = match self.replication(secret.id).await? {
            None => return Ok(write),
            Some(Replication::Replica {
                primary_region_id, ..
            }) => return Err(read_only(&secret.name, &primary_region_id)),
            Some(Replication::Primary { replicas }) => replicas,
        };
        let mut batch = vec![write];
        for r in &replicas {
            let scope = Scope {
                account: secret.scope.account,
                region: r.region.clone(),
            };
            if let Some(replica) = self.store.get_secret(&scope, &secret.name).await? {
                if self.is_replica_of(&replica, secret).await? {
                    batch.push(SecretWrite::Delete {
                        id: replica.id,
                        revision: replica.revision,
                    });
                }
            }
        }
        Ok(SecretWrite::Batch(batch))
    }

    async fn is_replica_of(&self, replica: &SecretRecord, primary: &SecretRecord) -> Result<bool> {
        Ok(matches!(
            self.replication(replica.id).await?,
            Some(Replication::Replica { primary_region, .. }) if primary_region == primary.scope.region
        ))
    }

    /// The primary's record as the replica keeps it: its own id, scope, key and revision;
    /// automatic rotation stays with the primary (the replica follows its versions).
    fn mirror(&self, primary: &SecretRecord, replica: &SecretRecord) -> SecretRecord {
        let mut m = primary.clone();
        m.id = replica.id;
        m.scope = replica.scope.clone();
        m.key_id = replica.key_id.clone();
        m.revision = replica.revision;
        m.created_at = replica.created_at;
        m.rotation.enabled = false;
        m.rotation.next = None;
        m
    }

    /// A primary's sealed value, sealed again for `replica` under the replica's key.
    async fn reseal(
        &self,
        primary: &SecretRecord,
        version_id: &str,
        sealed: &SealedValue,
        replica: &SecretRecord,
    ) -> Result<SealedValue> {
        let material = self
            .read_material(&primary.scope, &sealed.key_id, &sealed.key_version)
            .await?;
        let plain = self
            .keyring
            .open_value(&material, primary, version_id, sealed)?;
        let key = self.usable_key(&replica.scope, &replica.key_id).await?;
        self.keyring.seal_value(&key, replica, version_id, &plain)
    }

    /// Adds replicas of the secret in other coffer regions of its account: each a copy of it
    /// (every version, sealed again under the region's key), made with the primary's record
    /// in one batch. A region where the name is taken gets a `Failed` replica unless `force`
    /// replaces the secret there. Returns the primary and its replication.
    pub async fn replicate(
        &self,
        scope: &Scope,
        region_id: &str,
        name: &str,
        adds: Vec<NewReplica>,
        force: bool,
    ) -> Result<(SecretRecord, Vec<ReplicaInfo>)> {
        for _ in 0..MAX_RETRIES {
            let primary = self.load_active(scope, name).await?;
            let mut replicas = match self.replication(primary.id).await? {
                Some(Replication::Replica {
                    primary_region_id, ..
                }) => {
                    return Err(Error::InvalidState {
                        name: primary.name,
                        reason: format!(
                            "the secret is a replica of the secret in Region {primary_region_id}; \
                             replicate the primary"
                        ),
                    })
                }
                Some(Replication::Primary { replicas }) => replicas,
                None => vec![],
            };
            let mut batch = vec![];
            for add in &adds {
                if add.region == scope.region {
                    return Err(Error::invalid(
                        "AddReplicaRegions",
                        format!(
                            "the Region {} is the primary secret's own coffer region",
                            add.region_id
                        ),
                    ));
                }
                if replicas
                    .iter()
                    .any(|r| r.region == add.region && r.status == "InSync")
                {
                    return Err(Error::invalid(
                        "AddReplicaRegions",
                        format!(
                            "the secret already has a replica in Region {}",
                            add.region_id
                        ),
                    ));
                }
                // A replica that failed before is tried again.
                replicas.retain(|r| r.region != add.region);
                let there = Scope {
                    account: scope.account,
                    region: add.region.clone(),
                };
                let key = match &add.key {
                    Some(k) => self.resolve_key(&there, k).await?,
                    None => self.default_key(&there).await?,
                };
                let key = self.usable_key(&there, &key.id).await?;
                if let Some(existing) = self.store.get_secret(&there, name).await? {
                    if !force {
                        replicas.push(ReplicaInfo {
                            region: add.region.clone(),
                            region_id: add.region_id.clone(),
                            key_id: key.id.clone(),
                            status: "Failed".into(),
                            message: "A secret with this name already exists in this Region."
                                .into(),
                        });
                        continue;
                    }
                    batch.push(SecretWrite::Delete {
                        id: existing.id,
                        revision: existing.revision,
                    });
                }
                let mut replica = primary.clone();
                replica.id = Uuid::new_v4();
                replica.scope = there.clone();
                replica.key_id = key.id.clone();
                replica.revision = 0;
                replica.rotation.enabled = false;
                replica.rotation.next = None;
                let mut values = Vec::with_capacity(primary.versions.len());
                for v in &primary.versions {
                    let sealed = self
                        .store
                        .read_value(primary.id, &v.version_id)
                        .await?
                        .ok_or_else(|| {
                            Error::internal(format!("version {} has no value", v.version_id))
                        })?;
                    values.push((
                        v.version_id.clone(),
                        self.reseal(&primary, &v.version_id, &sealed, &replica)
                            .await?,
                    ));
                }
                let replica_id = replica.id;
                batch.push(SecretWrite::Create {
                    record: replica,
                    values,
                    max_secrets: Some(self.limits.max_secrets_per_scope),
                });
                batch.push(SecretWrite::SetReplication {
                    id: replica_id,
                    info: Some(encode(&Replication::Replica {
                        primary_region: scope.region.clone(),
                        primary_region_id: region_id.to_string(),
                    })?),
                });
                replicas.push(ReplicaInfo {
                    region: add.region.clone(),
                    region_id: add.region_id.clone(),
                    key_id: key.id.clone(),
                    status: "InSync".into(),
                    message: String::new(),
                });
            }
            let mut record = primary.clone();
            record.updated_at = self.now();
            // The primary's update is revision-checked: a write racing this one retries it.
            batch.push(SecretWrite::Update {
                record: record.clone(),
                new_values: vec![],
                removed_versions: vec![],
            });
            batch.push(SecretWrite::SetReplication {
                id: primary.id,
                info: Some(encode(&Replication::Primary {
                    replicas: replicas.clone(),
                })?),
            });
            match self.store.write_secret(SecretWrite::Batch(batch)).await {
                Ok(()) => {
                    record.revision += 1;
                    return Ok((record, replicas));
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Deletes the secret's replicas in `regions` (coffer regions) and forgets them, in one
    /// batch. `InvalidParameter` naming a region where the secret has no replica.
    pub async fn remove_replicas(
        &self,
        scope: &Scope,
        name: &str,
        regions: &[(String, String)],
    ) -> Result<(SecretRecord, Vec<ReplicaInfo>)> {
        for _ in 0..MAX_RETRIES {
            let primary = self.load(scope, name).await?;
            let mut replicas = match self.replication(primary.id).await? {
                Some(Replication::Primary { replicas }) => replicas,
                _ => vec![],
            };
            let mut batch = vec![];
            for (region, region_id) in regions {
                let Some(at) = replicas.iter().position(|r| &r.region == region) else {
                    return Err(Error::invalid(
                        "RemoveReplicaRegions",
                        format!("the secret has no replica in Region {region_id}"),
                    ));
                };
                let gone = replicas.remove(at);
                let there = Scope {
                    account: scope.account,
                    region: gone.region.clone(),
                };
                if gone.status == "InSync" {
                    if let Some(replica) = self.store.get_secret(&there, name).await? {
                        if self.is_replica_of(&replica, &primary).await? {
                            batch.push(SecretWrite::Delete {
                                id: replica.id,
                                revision: replica.revision,
                            });
                        }
                    }
                }
            }
            let mut record = primary.clone();
            record.updated_at = self.now();
            batch.push(SecretWrite::Update {
                record: record.clone(),
                new_values: vec![],
                removed_versions: vec![],
            });
            let info = if replicas.is_empty() {
                None
            } else {
                Some(encode(&Replication::Primary {
                    replicas: replicas.clone(),
                })?)
            };
            batch.push(SecretWrite::SetReplication {
                id: primary.id,
                info,
            });
            match self.store.write_secret(SecretWrite::Batch(batch)).await {
                Ok(()) => {
                    record.revision += 1;
                    return Ok((record, replicas));
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Promotes a replica to a standalone secret (StopReplicationToReplica): it forgets its
    /// primary and the primary forgets it, in one batch. `InvalidState` for a secret that is
    /// not a replica.
    pub async fn promote_replica(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        for _ in 0..MAX_RETRIES {
            let replica = self.load(scope, name).await?;
            let Some(Replication::Replica { primary_region, .. }) =
                self.replication(replica.id).await?
            else {
                return Err(Error::InvalidState {
                    name: replica.name,
                    reason: "the secret is not a replica: StopReplicationToReplica promotes a \
                             replica to a standalone secret"
                        .into(),
                });
            };
            let mut batch = vec![SecretWrite::SetReplication {
                id: replica.id,
                info: None,
            }];
            let home = Scope {
                account: scope.account,
                region: primary_region,
            };
            if let Some(primary) = self.store.get_secret(&home, name).await? {
                if let Some(Replication::Primary { mut replicas }) =
                    self.replication(primary.id).await?
                {
                    replicas.retain(|r| r.region != scope.region);
                    let mut record = primary.clone();
                    record.updated_at = self.now();
                    batch.push(SecretWrite::Update {
                        record,
                        new_values: vec![],
                        removed_versions: vec![],
                    });
                    batch.push(SecretWrite::SetReplication {
                        id: primary.id,
                        info: if replicas.is_empty() {
                            None
                        } else {
                            Some(encode(&Replication::Primary { replicas })?)
                        },
                    });
                }
            }
            // The replica's own revision is checked too.
            let mut own = replica.clone();
            own.updated_at = self.now();
            batch.push(SecretWrite::Update {
                record: own.clone(),
                new_values: vec![],
                removed_versions: vec![],
            });
            match self.store.write_secret(SecretWrite::Batch(batch)).await {
                Ok(()) => {
                    own.revision += 1;
                    return Ok(own);
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }
}
