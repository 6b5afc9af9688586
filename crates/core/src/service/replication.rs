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
    /// A primary and its replicas, in the order they were added; `cross_account`: the
    /// replicas in other accounts it keeps in step (AssociateCrossAccountReplica), each
    /// `InSync` (disassociating forgets one).
    Primary {
        #[serde(default)]
        replicas: Vec<ReplicaInfo>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cross_account: Vec<CrossAccountLink>,
    },
    /// A read-only replica of the secret of the same name in `primary_region` (a coffer
    /// region), as the client named that region (`primary_region_id`).
    Replica {
        primary_region: String,
        primary_region_id: String,
    },
    /// A secret its account made as a replica of a primary in another account
    /// (`CrossAccountPrimaryARN` at create, which is that account's consent). `Pending` until
    /// the primary's owner associates it, then `InSync` (the primary's writes keep it in step)
    /// or, once disassociated, `Detached`. It takes no write of its own, except that a
    /// replica not `InSync` may be deleted, restored or promoted (StopReplicationToReplica).
    CrossAccountReplica {
        /// The primary's ARN as the replica's account named it.
        primary_arn: String,
        status: String,
        /// The primary secret's id once associated.
        #[serde(default)]
        primary: Option<String>,
    },
}

/// A primary's cross-account replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossAccountLink {
    /// The replica's account, coffer region, name and id (a secret made again under the
    /// same name is not the replica).
    pub account: u64,
    pub region: String,
    pub name: String,
    /// (A string: the id as the store writes it.)
    pub secret_id: String,
    /// The replica's ARN as the primary's owner named it (what responses show).
    pub arn: String,
    pub status: String,
}

impl CrossAccountLink {
    fn scope(&self) -> Scope {
        Scope {
            account: AccountId(self.account),
            region: self.region.clone(),
        }
    }
}

/// The primary's record, or `None` when it has no replica left of either kind.
fn primary_record(
    replicas: Vec<ReplicaInfo>,
    cross_account: Vec<CrossAccountLink>,
) -> Result<Option<String>> {
    if replicas.is_empty() && cross_account.is_empty() {
        return Ok(None);
    }
    encode(&Replication::Primary {
        replicas,
        cross_account,
    })
    .map(Some)
}

pub const PENDING: &str = "Pending";
pub const IN_SYNC: &str = "InSync";
pub const DETACHED: &str = "Detached";

fn cross_read_only(name: &str, primary_arn: &str) -> Error {
    Error::InvalidState {
        name: name.to_string(),
        reason: format!(
            "the secret {name} is a cross-account replica of {primary_arn}: it changes only \
             through its primary"
        ),
    }
}

/// The one refusal for a `CrossAccountReplicaARN` that names no replica of the primary `name`:
/// no such account or secret, or a secret that is no replica of it. Alike, so that associating
/// tells nothing about another account.
pub fn not_a_cross_account_replica(replica_arn: &str, name: &str) -> Error {
    Error::invalid(
        "CrossAccountReplicaARN",
        format!(
            "{replica_arn} is not a secret made as a cross-account replica of {name} \
             (CreateSecret with CrossAccountPrimaryARN naming this secret)"
        ),
    )
}

fn has_cross_account_replica(name: &str) -> Error {
    Error::InvalidState {
        name: name.to_string(),
        reason: format!(
            "the secret {name} has a cross-account replica: disassociate it \
             (DisassociateCrossAccountReplica) before deleting the secret"
        ),
    }
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

/// A cross-account replica as it follows `primary`: its own metadata (name, description,
/// tags, key, policy, state), the primary's versions and stages.
fn mirror_versions(primary: &SecretRecord, replica: &SecretRecord) -> SecretRecord {
    let mut m = replica.clone();
    m.versions = primary.versions.clone();
    m.updated_at = primary.updated_at;
    m
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
        let (replicas, cross_account) = match self.replication(id).await? {
            None => return Ok(write),
            Some(Replication::Replica {
                primary_region_id, ..
            }) => return Err(read_only(&name, &primary_region_id)),
            Some(Replication::CrossAccountReplica {
                primary_arn,
                status,
                ..
            }) => {
                // A replica no primary feeds may still be scheduled for deletion or restored.
                if status != IN_SYNC && self.only_state_changes(&write).await? {
                    return Ok(write);
                }
                return Err(cross_read_only(&name, &primary_arn));
            }
            Some(Replication::Primary {
                replicas,
                cross_account,
            }) => (replicas, cross_account),
        };
        let mut batch = vec![];
        if let SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } = &write
        {
            if record.is_pending_delete() && !cross_account.is_empty() {
                return Err(has_cross_account_replica(&record.name));
            }
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
            for link in &cross_account {
                let Some(replica) = self.store.get_secret(&link.scope(), &link.name).await? else {
                    continue;
                };
                if replica.id.to_string() != link.secret_id {
                    continue;
                }
                let mirror = mirror_versions(record, &replica);
                let mut values = Vec::with_capacity(new_values.len());
                for (version_id, sealed) in new_values {
                    values.push((
                        version_id.clone(),
                        self.reseal(record, version_id, sealed, &mirror).await?,
                    ));
                }
                let removed = removed_versions
                    .iter()
                    .filter(|v| replica.version(v).is_some())
                    .cloned()
                    .collect();
                batch.push(SecretWrite::Update {
                    record: mirror,
                    new_values: values,
                    removed_versions: removed,
                });
            }
        }
        if batch.is_empty() {
            return Ok(write);
        }
        batch.insert(0, write);
        Ok(SecretWrite::Batch(batch))
    }

    /// Whether an update changes nothing of the secret but its state (a deletion scheduled
    /// or cancelled, enabled or disabled).
    async fn only_state_changes(&self, write: &SecretWrite) -> Result<bool> {
        let SecretWrite::Update {
            record,
            new_values,
            removed_versions,
        } = write
        else {
            return Ok(false);
        };
        if !new_values.is_empty() || !removed_versions.is_empty() {
            return Ok(false);
        }
        let Some(mut current) = self.store.get_secret(&record.scope, &record.name).await? else {
            return Ok(false);
        };
        current.state = record.state;
        current.updated_at = record.updated_at;
        current.revision = record.revision;
        Ok(current == *record)
    }

    /// The write that deletes `secret` now, with its replicas when it is a primary (one
    /// batch). Refused for a replica, and for a primary with a cross-account replica.
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
            Some(Replication::CrossAccountReplica {
                primary_arn,
                status,
                ..
            }) => {
                if status == IN_SYNC {
                    return Err(cross_read_only(&secret.name, &primary_arn));
                }
                return Ok(write);
            }
            Some(Replication::Primary { cross_account, .. }) if !cross_account.is_empty() => {
                return Err(has_cross_account_replica(&secret.name))
            }
            Some(Replication::Primary { replicas, .. }) => replicas,
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
            let replicas = match self.replication(primary.id).await? {
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
                Some(Replication::CrossAccountReplica { primary_arn, .. }) => {
                    return Err(cross_read_only(&primary.name, &primary_arn))
                }
                Some(Replication::Primary {
                    replicas,
                    cross_account,
                }) => (replicas, cross_account),
                None => (vec![], vec![]),
            };
            let (mut replicas, cross_account) = replicas;
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
            if let Some(done) = self
                .commit_with_primary(&primary, batch, replicas, cross_account)
                .await?
            {
                return Ok(done);
            }
        }
        Err(Error::Conflict)
    }

    /// Commits `batch` together with the primary's new replication record and an update of
    /// the primary itself. That update is revision-checked, so a write racing this one makes
    /// the whole batch fail with a conflict: `None` then, and the caller reloads and retries.
    async fn commit_with_primary(
        &self,
        primary: &SecretRecord,
        mut batch: Vec<SecretWrite>,
        replicas: Vec<ReplicaInfo>,
        cross_account: Vec<CrossAccountLink>,
    ) -> Result<Option<(SecretRecord, Vec<ReplicaInfo>)>> {
        let mut record = primary.clone();
        record.updated_at = self.now();
        batch.push(SecretWrite::Update {
            record: record.clone(),
            new_values: vec![],
            removed_versions: vec![],
        });
        batch.push(SecretWrite::SetReplication {
            id: primary.id,
            info: primary_record(replicas.clone(), cross_account)?,
        });
        match self.store.write_secret(SecretWrite::Batch(batch)).await {
            Ok(()) => {
                record.revision += 1;
                Ok(Some((record, replicas)))
            }
            Err(Error::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
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
            let (mut replicas, cross_account) = match self.replication(primary.id).await? {
                Some(Replication::Primary {
                    replicas,
                    cross_account,
                }) => (replicas, cross_account),
                _ => (vec![], vec![]),
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
            if let Some(done) = self
                .commit_with_primary(&primary, batch, replicas, cross_account)
                .await?
            {
                return Ok(done);
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
            let record = self.replication(replica.id).await?;
            if let Some(Replication::CrossAccountReplica { status, .. }) = &record {
                // An associated replica is the primary owner's to let go of first.
                if status == IN_SYNC {
                    return Err(Error::InvalidState {
                        name: replica.name,
                        reason: "the secret is a cross-account replica kept in step by its \
                                 primary: the primary's owner must disassociate it \
                                 (DisassociateCrossAccountReplica) before it can be promoted"
                            .into(),
                    });
                }
                let mut own = replica.clone();
                own.updated_at = self.now();
                let batch = vec![
                    SecretWrite::SetReplication {
                        id: replica.id,
                        info: None,
                    },
                    SecretWrite::Update {
                        record: own.clone(),
                        new_values: vec![],
                        removed_versions: vec![],
                    },
                ];
                match self.store.write_secret(SecretWrite::Batch(batch)).await {
                    Ok(()) => {
                        own.revision += 1;
                        return Ok(own);
                    }
                    Err(Error::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            let Some(Replication::Replica { primary_region, .. }) = record else {
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
                if let Some(Replication::Primary {
                    mut replicas,
                    cross_account,
                }) = self.replication(primary.id).await?
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
                        info: primary_record(replicas, cross_account)?,
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

    /// Makes a cross-account replica (CreateSecret with `CrossAccountPrimaryARN`): a secret
    /// without versions, sealed under `key`, recording `primary_arn` (status `Pending`) in the
    /// same transaction.
    pub async fn create_cross_account_replica(
        &self,
        scope: &Scope,
        name: String,
        key: String,
        tags: Vec<Tag>,
        max_secrets: Option<u64>,
        primary_arn: String,
    ) -> Result<SecretRecord> {
        let new = super::secrets::NewRecord {
            name,
            description: String::new(),
            kind: SecretKind::Generic,
            key: Some(key),
            tags,
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            rotation: RotationPolicy::default(),
            versions: vec![],
        };
        let info = encode(&Replication::CrossAccountReplica {
            primary_arn,
            status: PENDING.into(),
            primary: None,
        })?;
        self.insert_secret_replicated(scope, new, max_secrets, Some(info))
            .await
    }

    /// Starts replicating the primary `name` of `scope` to the secret `replica_name` of
    /// another account's `replica_scope` (AssociateCrossAccountReplica): the replica takes
    /// the primary's versions (sealed again under its own key) and stages, and from then on
    /// every write of the primary, all in one batch. The replica must have been made as a
    /// replica of this primary: `names_primary` tells whether its `CrossAccountPrimaryARN`
    /// names it. A replica that is missing or names another primary is refused alike, so the
    /// answer tells nothing of the other account's secrets. Associating the same replica
    /// again changes nothing. Returns the primary and the link.
    pub async fn associate_cross_account(
        &self,
        scope: &Scope,
        name: &str,
        replica_scope: &Scope,
        replica_name: &str,
        replica_arn: &str,
        names_primary: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<(SecretRecord, CrossAccountLink)> {
        let not_a_replica = || not_a_cross_account_replica(replica_arn, name);
        if replica_scope.account == scope.account {
            return Err(Error::invalid(
                "CrossAccountReplicaARN",
                "the replica must be a secret of another account",
            ));
        }
        if replica_scope.region != scope.region {
            return Err(Error::invalid(
                "CrossAccountReplicaARN",
                "the replica must be in the primary secret's Region",
            ));
        }
        for _ in 0..MAX_RETRIES {
            let primary = self.load_active(scope, name).await?;
            let (replicas, mut cross_account) = match self.replication(primary.id).await? {
                Some(Replication::Replica {
                    primary_region_id, ..
                }) => return Err(read_only(&primary.name, &primary_region_id)),
                Some(Replication::CrossAccountReplica { primary_arn, .. }) => {
                    return Err(cross_read_only(&primary.name, &primary_arn))
                }
                Some(Replication::Primary {
                    replicas,
                    cross_account,
                }) => (replicas, cross_account),
                None => (vec![], vec![]),
            };
            let Some(replica) = self.store.get_secret(replica_scope, replica_name).await? else {
                return Err(not_a_replica());
            };
            let Some(Replication::CrossAccountReplica { primary_arn, .. }) =
                self.replication(replica.id).await?
            else {
                return Err(not_a_replica());
            };
            if !names_primary(&primary_arn) || replica.is_pending_delete() {
                return Err(not_a_replica());
            }
            if let Some(link) = cross_account.first() {
                if link.secret_id == replica.id.to_string() {
                    return Ok((primary, link.clone()));
                }
                return Err(Error::LimitExceeded {
                    what: format!(
                        "cross-account replicas of {name}: a secret has at most one \
                         (disassociate {} first)",
                        link.arn
                    ),
                });
            }
            let mirror = mirror_versions(&primary, &replica);
            let mut values = vec![];
            for v in &primary.versions {
                if replica.version(&v.version_id).is_some() {
                    continue;
                }
                let sealed = self
                    .store
                    .read_value(primary.id, &v.version_id)
                    .await?
                    .ok_or_else(|| {
                        Error::internal(format!("version {} has no value", v.version_id))
                    })?;
                values.push((
                    v.version_id.clone(),
                    self.reseal(&primary, &v.version_id, &sealed, &mirror)
                        .await?,
                ));
            }
            let removed = replica
                .versions
                .iter()
                .filter(|v| primary.version(&v.version_id).is_none())
                .map(|v| v.version_id.clone())
                .collect();
            let link = CrossAccountLink {
                account: replica_scope.account.0,
                region: replica_scope.region.clone(),
                name: replica.name.clone(),
                secret_id: replica.id.to_string(),
                arn: replica_arn.to_string(),
                status: IN_SYNC.into(),
            };
            cross_account.push(link.clone());
            let mut record = primary.clone();
            record.updated_at = self.now();
            let batch = vec![
                SecretWrite::Update {
                    record: mirror,
                    new_values: values,
                    removed_versions: removed,
                },
                SecretWrite::SetReplication {
                    id: replica.id,
                    info: Some(encode(&Replication::CrossAccountReplica {
                        primary_arn,
                        status: IN_SYNC.into(),
                        primary: Some(primary.id.to_string()),
                    })?),
                },
                // Revision-checked: a write of the primary racing this one retries it.
                SecretWrite::Update {
                    record: record.clone(),
                    new_values: vec![],
                    removed_versions: vec![],
                },
                SecretWrite::SetReplication {
                    id: primary.id,
                    info: primary_record(replicas, cross_account)?,
                },
            ];
            match self.store.write_secret(SecretWrite::Batch(batch)).await {
                Ok(()) => {
                    record.revision += 1;
                    return Ok((record, link));
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Stops replicating the primary to its cross-account replica `matches` picks
    /// (DisassociateCrossAccountReplica): the primary forgets it and the replica, kept with
    /// its versions, becomes `Detached`, in one batch. `InvalidParameter` when the primary has
    /// no such replica.
    pub async fn disassociate_cross_account(
        &self,
        scope: &Scope,
        name: &str,
        matches: &(dyn Fn(&CrossAccountLink) -> bool + Send + Sync),
        replica_arn: &str,
    ) -> Result<(SecretRecord, CrossAccountLink)> {
        for _ in 0..MAX_RETRIES {
            let primary = self.load(scope, name).await?;
            let (replicas, mut cross_account) = match self.replication(primary.id).await? {
                Some(Replication::Primary {
                    replicas,
                    cross_account,
                }) => (replicas, cross_account),
                _ => (vec![], vec![]),
            };
            let Some(at) = cross_account.iter().position(matches) else {
                return Err(Error::invalid(
                    "CrossAccountReplicaARN",
                    format!("the secret {name} has no cross-account replica {replica_arn}"),
                ));
            };
            let link = cross_account.remove(at);
            let mut record = primary.clone();
            record.updated_at = self.now();
            let mut batch = vec![
                SecretWrite::Update {
                    record: record.clone(),
                    new_values: vec![],
                    removed_versions: vec![],
                },
                SecretWrite::SetReplication {
                    id: primary.id,
                    info: primary_record(replicas, cross_account)?,
                },
            ];
            if let Some(replica) = self.store.get_secret(&link.scope(), &link.name).await? {
                if let Some(Replication::CrossAccountReplica { primary_arn, .. }) =
                    self.replication(replica.id).await?
                {
                    if replica.id.to_string() == link.secret_id {
                        batch.push(SecretWrite::SetReplication {
                            id: replica.id,
                            info: Some(encode(&Replication::CrossAccountReplica {
                                primary_arn,
                                status: DETACHED.into(),
                                primary: Some(primary.id.to_string()),
                            })?),
                        });
                    }
                }
            }
            match self.store.write_secret(SecretWrite::Batch(batch)).await {
                Ok(()) => {
                    record.revision += 1;
                    let mut link = link;
                    link.status = DETACHED.into();
                    return Ok((record, link));
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_before_cross_account_replicas_still_read() {
        let old = r#"{"role":"Primary","replicas":[{"region":"west","region_id":"us-west-2","key_id":"k","status":"InSync","message":""}]}"#;
        let Replication::Primary {
            replicas,
            cross_account,
        } = parse(old).expect("old primary")
        else {
            panic!("not a primary");
        };
        assert_eq!(replicas.len(), 1);
        assert!(cross_account.is_empty());
        // A primary without cross-account replicas is written as before.
        let again = encode(&Replication::Primary {
            replicas,
            cross_account: vec![],
        })
        .expect("encode");
        assert_eq!(again, old);
    }

    #[test]
    fn a_primary_with_no_replica_left_has_no_record() {
        assert_eq!(primary_record(vec![], vec![]).expect("record"), None);
        let link = CrossAccountLink {
            account: 7,
            region: "default".into(),
            name: "r".into(),
            secret_id: Uuid::nil().to_string(),
            arn: "arn:r".into(),
            status: IN_SYNC.into(),
        };
        let info = primary_record(vec![], vec![link.clone()])
            .expect("record")
            .expect("some");
        assert_eq!(
            parse(&info).expect("parse"),
            Replication::Primary {
                replicas: vec![],
                cross_account: vec![link]
            }
        );
        let replica = Replication::CrossAccountReplica {
            primary_arn: "arn:p".into(),
            status: PENDING.into(),
            primary: None,
        };
        assert_eq!(
            parse(&encode(&replica).expect("encode")).expect("parse"),
            replica
        );
    }
}
