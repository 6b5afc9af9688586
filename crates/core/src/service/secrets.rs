//! Secrets as their owners see them: create, describe and list, read and write values, and
//! change versions, stages, tags, metadata, state and deletion. Every dialect's secret
//! operations end here, so the model's rules (a secret always has a current value, the version
//! and stage caps, managed secrets change only by rotation) are kept in one place.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::common::{attach_stage, name_taken, prune_versions};
use super::{Service, MAX_RETRIES};
use crate::error::{Error, Resource, Result};
use crate::model::*;
use crate::resource_policy::ResourcePolicy;
use crate::store::SecretWrite;

/// New secret request, in neutral terms.
#[derive(Debug)]
pub struct CreateSecret {
    pub name: String,
    pub description: String,
    pub kind: SecretKind,
    /// Key id or alias (`alias/...`); `None` uses the scope's default key.
    pub key: Option<String>,
    pub tags: Vec<Tag>,
    pub version_id: String,
    pub value: SecretValue,
    pub extended_config: Option<String>,
    pub policy: Option<String>,
    /// Event rules of the scope the secret reports to, by name.
    pub subscriptions: Vec<String>,
}

/// A secret about to be written: its metadata and first versions with their stages.
pub(super) struct NewRecord {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) kind: SecretKind,
    pub(super) key: Option<String>,
    pub(super) tags: Vec<Tag>,
    pub(super) extended_config: Option<String>,
    pub(super) policy: Option<String>,
    pub(super) subscriptions: Vec<String>,
    pub(super) rotation: RotationPolicy,
    pub(super) versions: Vec<(String, Vec<Stage>, SecretValue)>,
}

/// A change to a secret's descriptive metadata; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct MetadataChange {
    pub description: Option<String>,
    pub subscriptions: Option<Vec<String>>,
}

/// Which version a read wants. Neither field set means the `Current` one.
#[derive(Clone, Debug, Default)]
pub struct VersionSelector {
    pub version_id: Option<String>,
    pub stage: Option<Stage>,
}

#[derive(Debug)]
pub struct PutValue {
    pub version_id: String,
    pub value: SecretValue,
    /// Stages the new version gets; `None` means `[Current]`.
    pub stages: Option<Vec<Stage>>,
    /// What to do when the secret already keeps the most versions allowed.
    pub when_full: WhenFull,
    /// The dialect's own caps (capped again by the server's quotas).
    pub max_versions: usize,
    pub max_stages: usize,
    pub expires_at: Option<Timestamp>,
    /// What to answer when the version id already exists.
    pub when_exists: WhenExists,
}

/// What a put answers when its version id already exists. Comparing the stored value with the
/// new one tells the caller whether a guessed value is right, so only a caller allowed to
/// read the value may have the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenExists {
    /// The same value succeeds without change and another value fails: the clouds' idempotent
    /// retry, for a caller that may also read the value.
    CompareValue,
    /// Fails whatever the stored value is, so the answer says nothing about it.
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop the oldest versions that carry no stage (Alibaba).
    PruneUnstaged,
    /// Refuse the new version (Tencent).
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Keep the secret recoverable for this many days.
    Window { days: i64 },
    /// Remove now; the name is free at once.
    Immediate,
}

/// A value read back with the secret and version it belongs to.
#[derive(Debug)]
pub struct ReadValue {
    pub secret: SecretRecord,
    pub version: VersionRecord,
    pub value: SecretValue,
}

const DAY_MS: i64 = 86_400_000;

/// How many secrets' reads of the day a node remembers having recorded.
const MAX_ACCESSES_REMEMBERED: usize = 100_000;

impl Service {
    fn check_value(&self, value: &SecretValue) -> Result<()> {
        if value.len() > self.limits.max_value_bytes {
            return Err(Error::invalid(
                "SecretData",
                format!(
                    "the value is larger than {} bytes",
                    self.limits.max_value_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Creates a secret and its first version, within the server's own ceiling of secrets per
    /// scope ([`Limits::max_secrets_per_scope`](super::Limits)).
    pub async fn create_secret(&self, scope: &Scope, req: CreateSecret) -> Result<SecretRecord> {
        self.create_secret_within(scope, req, None).await
    }

    /// [`create_secret`](Self::create_secret) with a tighter quota of the caller's own: at
    /// most `max_secrets` secrets (live or pending deletion) in the scope, as the API the
    /// request came through enforces it. `LimitExceeded` when the scope is full.
    pub async fn create_secret_within(
        &self,
        scope: &Scope,
        req: CreateSecret,
        max_secrets: Option<u64>,
    ) -> Result<SecretRecord> {
        let new = NewRecord {
            name: req.name,
            description: req.description,
            kind: req.kind,
            key: req.key,
            tags: req.tags,
            extended_config: req.extended_config,
            policy: req.policy,
            subscriptions: req.subscriptions,
            rotation: RotationPolicy::default(),
            versions: vec![(req.version_id, vec![Stage::Current], req.value)],
        };
        self.insert_secret(scope, new, None, max_secrets).await
    }

    /// A generic secret with no version yet (AWS's CreateSecret without a value): reads
    /// find no current value until the first put gives it one. Within the same quotas as
    /// [`create_secret_within`](Self::create_secret_within).
    pub async fn create_secret_without_value(
        &self,
        scope: &Scope,
        name: String,
        description: String,
        key: Option<String>,
        tags: Vec<Tag>,
        max_secrets: Option<u64>,
    ) -> Result<SecretRecord> {
        let new = NewRecord {
            name,
            description,
            kind: SecretKind::Generic,
            key,
            tags,
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            rotation: RotationPolicy::default(),
            versions: vec![],
        };
        self.insert_secret(scope, new, None, max_secrets).await
    }

    /// The most secrets a scope may hold after a create: the server's ceiling, or the
    /// caller's quota when that is lower.
    fn secrets_quota(&self, max_secrets: Option<u64>) -> u64 {
        max_secrets.map_or(self.limits.max_secrets_per_scope, |q| {
            q.min(self.limits.max_secrets_per_scope)
        })
    }

    /// Writes a new secret with its first versions, and with `task` in the same transaction
    /// when one is given (a managed secret whose account is still being created). The store
    /// refuses it when the scope already holds as many secrets as the quota allows (see
    /// [`secrets_quota`](Self::secrets_quota)).
    pub(super) async fn insert_secret(
        &self,
        scope: &Scope,
        new: NewRecord,
        task: Option<RotationTask>,
        max_secrets: Option<u64>,
    ) -> Result<SecretRecord> {
        self.insert_secret_with(scope, new, task, max_secrets, None)
            .await
    }

    /// [`insert_secret`](Self::insert_secret) that records `replication` for the new secret
    /// in the same transaction.
    pub(super) async fn insert_secret_replicated(
        &self,
        scope: &Scope,
        new: NewRecord,
        max_secrets: Option<u64>,
        replication: Option<String>,
    ) -> Result<SecretRecord> {
        self.insert_secret_with(scope, new, None, max_secrets, replication)
            .await
    }

    /// `refused` as it is, unless the name is taken: then that, the error a client sees first
    /// for a create of a taken name whatever else is wrong with it.
    async fn unless_name_taken(&self, scope: &Scope, name: &str, refused: Error) -> Error {
        match self.store.get_secret(scope, name).await {
            Ok(Some(existing)) => name_taken(existing),
            _ => refused,
        }
    }

    async fn insert_secret_with(
        &self,
        scope: &Scope,
        new: NewRecord,
        task: Option<RotationTask>,
        max_secrets: Option<u64>,
        replication: Option<String>,
    ) -> Result<SecretRecord> {
        for (_, _, value) in &new.versions {
            self.check_value(value)?;
        }
        check_subscriptions(&new.subscriptions)?;
        if let Some(policy) = &new.policy {
            check_resource_policy("Policy", policy)?;
        }
        if new.tags.len() > self.limits.max_tags_per_secret {
            return Err(Error::invalid(
                "Tags",
                format!(
                    "a secret has at most {} tags",
                    self.limits.max_tags_per_secret
                ),
            ));
        }
        // The name is not looked up first: the store refuses a taken name in the insert
        // itself (a unique index), and the error below reports it as a look-up would have,
        // which saves a read on every create. Only when the key is refused is the name
        // checked first, so that a taken name is still the error a client sees first.
        let key = match &new.key {
            Some(r) => self.resolve_key(scope, r).await,
            // A disabled key seals nothing, the default key included.
            None => self.default_key(scope).await.and_then(|k| match k.state {
                KeyState::Enabled => Ok(k),
                _ => Err(Error::Disabled {
                    what: Resource::Key,
                    name: k.id,
                }),
            }),
        };
        let key = match key {
            Ok(key) => key,
            Err(e) => return Err(self.unless_name_taken(scope, &new.name, e).await),
        };
        // Counted by the store in the transaction that inserts: a count read here could be
        // stale by the time of the insert, and creates racing for the last place would pass.
        let quota = self.secrets_quota(max_secrets);
        let max_secrets = (quota < u64::MAX).then_some(quota);
        let now = self.now();
        let mut record = SecretRecord {
            id: time_ordered_id(now),
            scope: scope.clone(),
            name: new.name,
            kind: new.kind,
            description: new.description,
            key_id: key.id.clone(),
            tags: new.tags,
            state: SecretState::Enabled,
            rotation: new.rotation,
            extended_config: new.extended_config,
            policy: new.policy,
            subscriptions: new.subscriptions,
            created_at: now,
            updated_at: now,
            revision: 0,
            versions: Vec::with_capacity(new.versions.len()),
        };
        for (version_id, stages, value) in &new.versions {
            record.versions.push(VersionRecord {
                version_id: version_id.clone(),
                created_at: now,
                kind: value.kind(),
                stages: stages.clone(),
                expires_at: None,
            });
        }
        let mut values = Vec::with_capacity(new.versions.len());
        for (version_id, _, value) in new.versions {
            let sealed = self
                .keyring
                .seal_value(&key, &record, &version_id, value.as_bytes())?;
            values.push((version_id, sealed));
        }
        let mut write = SecretWrite::Create {
            record: record.clone(),
            values,
            max_secrets,
        };
        if let Some(info) = replication {
            write = SecretWrite::Batch(vec![
                write,
                SecretWrite::SetReplication {
                    id: record.id,
                    info: Some(info),
                },
            ]);
        }
        let task = task.map(|mut t| {
            t.secret_id = record.id;
            t
        });
        // A store may ask for the same write again (`Conflict`) when it cannot tell whether
        // the quota has room without waiting for the other creates of the scope first.
        let mut written = Err(Error::Conflict);
        for _ in 0..MAX_RETRIES {
            written = match &task {
                Some(task) => self.store.write_task(task, Some(write.clone())).await,
                None => self.store.write_secret(write.clone()).await,
            };
            if !matches!(written, Err(Error::Conflict)) {
                break;
            }
        }
        match written {
            Ok(()) => Ok(record),
            Err(Error::AlreadyExists { .. }) => {
                // The name is taken (or was, a moment ago); report it as a look-up would.
                match self.store.get_secret(scope, &record.name).await? {
                    Some(existing) => Err(name_taken(existing)),
                    None => Err(Error::Conflict),
                }
            }
            // A store may check the quota (or a subscription's rule) before the name.
            Err(e @ (Error::LimitExceeded { .. } | Error::NotFound { .. })) => {
                Err(self.unless_name_taken(scope, &record.name, e).await)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn describe(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        self.load(scope, name).await
    }

    /// The secret with this id in the scope (Huawei's tag operations address secrets by id).
    pub async fn describe_by_id(&self, scope: &Scope, id: Uuid) -> Result<SecretRecord> {
        self.store
            .get_secret_by_id(scope, id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Secret, id.to_string()))
    }

    pub async fn list(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>> {
        self.store.list_secrets(scope, filter, page).await
    }

    /// A page of secrets in name order, resumed after a name (see [`NameWalk`]).
    pub async fn list_by_name(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        walk: &NameWalk,
    ) -> Result<NamePage> {
        self.store.list_secrets_by_name(scope, filter, walk).await
    }

    pub async fn get_value(
        &self,
        scope: &Scope,
        name: &str,
        sel: &VersionSelector,
    ) -> Result<ReadValue> {
        let pick = |s: &SecretRecord| select_version(s, sel).ok().map(|v| v.version_id.clone());
        let (secret, sealed) = self
            .store
            .get_secret_with_value(scope, name, &pick)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Secret, name))?;
        if secret.is_pending_delete() {
            return Err(Error::InDeleteWindow { name: secret.name });
        }
        if secret.state == SecretState::Disabled {
            return Err(Error::Disabled {
                what: Resource::Secret,
                name: secret.name,
            });
        }
        let version = select_version(&secret, sel)?.clone();
        let sealed =
            sealed.ok_or_else(|| Error::not_found(Resource::Version, &version.version_id))?;
        let material = self
            .read_material(scope, &sealed.key_id, &sealed.key_version)
            .await?;
        let plain = self
            .keyring
            .open_value(&material, &secret, &version.version_id, &sealed)?;
        let value = into_value(version.kind, plain)?;
        self.note_access(secret.id);
        Ok(ReadValue {
            secret,
            version,
            value,
        })
    }

    /// Records that a value of the secret was read today (AWS's `LastAccessedDate`, "the
    /// date that the secret was last accessed", truncated to midnight UTC:
    /// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html).
    /// Only the first read of a day on this node writes, and it writes in a task of its own:
    /// the read that caused it neither waits for it nor fails with it.
    fn note_access(&self, secret_id: uuid::Uuid) {
        let day = self.clock.now().0.div_euclid(DAY_MS) * DAY_MS;
        {
            let Ok(mut seen) = self.accessed_today.lock() else {
                return;
            };
            if seen.0 != day {
                *seen = (day, Default::default());
            }
            // A node reading very many secrets a day forgets which it recorded (and records
            // them again, which changes nothing) rather than growing without bound.
            if seen.1.len() >= MAX_ACCESSES_REMEMBERED {
                seen.1.clear();
            }
            if !seen.1.insert(secret_id) {
                return;
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        runtime.spawn(async move {
            if let Err(e) = store.record_access(secret_id, Timestamp(day)).await {
                tracing::warn!(error = %e, "could not record a secret's last access day");
            }
        });
    }

    /// The staged versions of each of these secrets, `(version id, stage)`, for a page of a
    /// list (whose records carry no versions), in one store call.
    pub async fn stages_of(
        &self,
        secret_ids: &[uuid::Uuid],
    ) -> Result<std::collections::HashMap<uuid::Uuid, Vec<(String, Stage)>>> {
        self.store.stages_of(secret_ids).await
    }

    /// The day each of these secrets was last read, for the ones read at all (see
    /// [`Service::get_value`]).
    pub async fn last_accessed(
        &self,
        secret_ids: &[uuid::Uuid],
    ) -> Result<std::collections::HashMap<uuid::Uuid, Timestamp>> {
        self.store.last_accessed(secret_ids).await
    }

    /// Whether the secret `name` has a version `version_id` (false when there is no such
    /// secret). Dialects ask before authorizing a put with a client-chosen version id: a put
    /// that would compare values needs the right to read them (see [`WhenExists`]).
    pub async fn version_exists(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
    ) -> Result<bool> {
        Ok(self
            .store
            .get_secret(scope, name)
            .await?
            .is_some_and(|s| s.version(version_id).is_some()))
    }

    /// Adds a version. Its stages (default `[Current]`) move to it from wherever they were;
    /// when `Current` moves, the version that had it becomes `Previous`. Re-sending an existing
    /// version id fails, unless `when_exists` lets the value be compared: then the same value
    /// succeeds without change and another value fails.
    pub async fn put_value(
        &self,
        scope: &Scope,
        name: &str,
        req: PutValue,
    ) -> Result<VersionRecord> {
        self.check_value(&req.value)?;
        let stages = req.stages.clone().unwrap_or_else(|| vec![Stage::Current]);
        let max_versions = req.max_versions.min(self.limits.max_versions_per_secret);
        let max_stages = req.max_stages.min(self.limits.max_stages_per_secret);
        for _ in 0..MAX_RETRIES {
            let mut secret = self.load_active(scope, name).await?;
            refuse_managed(&secret)?;
            if let Some(existing) = secret.version(&req.version_id).cloned() {
                if req.when_exists == WhenExists::Refuse {
                    return Err(Error::AlreadyExists {
                        what: Resource::Version,
                        name: req.version_id,
                    });
                }
                let sel = VersionSelector {
                    version_id: Some(req.version_id.clone()),
                    stage: None,
                };
                let stored = self.get_value(scope, name, &sel).await?;
                return if stored.value.ct_eq(&req.value) {
                    Ok(existing)
                } else {
                    Err(Error::AlreadyExists {
                        what: Resource::Version,
                        name: req.version_id,
                    })
                };
            }
            if req.when_full == WhenFull::Refuse && secret.versions.len() >= max_versions {
                return Err(Error::LimitExceeded {
                    what: format!("a secret keeps at most {max_versions} versions"),
                });
            }
            let now = self.now();
            secret.versions.push(VersionRecord {
                version_id: req.version_id.clone(),
                created_at: now,
                kind: req.value.kind(),
                stages: vec![],
                expires_at: req.expires_at,
            });
            for stage in &stages {
                attach_stage(&mut secret, stage, &req.version_id);
            }
            check_stage_count(&secret, max_stages)?;
            let removed = prune_versions(&mut secret, max_versions)?;
            // Pruning drops the oldest versions without a stage. A version put with an empty
            // stage list is one of those, and when every older version carries a stage it is
            // the one that would go: the put is refused like any other that finds no room.
            if removed.contains(&req.version_id) {
                return Err(Error::LimitExceeded {
                    what: format!(
                        "a secret keeps at most {max_versions} versions and every other version \
                         carries a stage"
                    ),
                });
            }
            secret.updated_at = now;
            let key = self.usable_key(scope, &secret.key_id).await?;
            let sealed =
                self.keyring
                    .seal_value(&key, &secret, &req.version_id, req.value.as_bytes())?;
            let version = secret
                .version(&req.version_id)
                .cloned()
                .ok_or_else(|| Error::internal("new version missing after staging"))?;
            let write = SecretWrite::Update {
                record: secret,
                new_values: vec![(req.version_id.clone(), sealed)],
                removed_versions: removed,
            };
            match self
                .store
                .write_secret(self.with_replicas(write).await?)
                .await
            {
                Ok(()) => return Ok(version),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Replaces a secret's extended configuration (type-specific JSON kept as text).
    pub async fn set_extended_config(
        &self,
        scope: &Scope,
        name: &str,
        text: String,
    ) -> Result<SecretRecord> {
        self.modify(scope, name, false, |s| {
            if s.extended_config.as_deref() == Some(text.as_str()) {
                return Ok(false);
            }
            s.extended_config = Some(text.clone());
            Ok(true)
        })
        .await
    }

    pub async fn update_description(
        &self,
        scope: &Scope,
        name: &str,
        description: String,
    ) -> Result<SecretRecord> {
        let change = MetadataChange {
            description: Some(description),
            ..Default::default()
        };
        self.update_metadata(scope, name, change).await
    }

    /// Changes description and subscriptions together, in one write. A subscription that
    /// names no event rule of the scope fails the whole change.
    pub async fn update_metadata(
        &self,
        scope: &Scope,
        name: &str,
        change: MetadataChange,
    ) -> Result<SecretRecord> {
        if let Some(subs) = &change.subscriptions {
            check_subscriptions(subs)?;
        }
        self.modify(scope, name, false, |s| {
            if let Some(d) = &change.description {
                s.description = d.clone();
            }
            if let Some(subs) = &change.subscriptions {
                s.subscriptions = subs.clone();
            }
            Ok(true)
        })
        .await
    }

    /// Replaces the secret's resource policy document (Alibaba SetSecretPolicy). The document
    /// must be a resource policy coffer can enforce (see [`crate::resource_policy`]).
    pub async fn set_policy(
        &self,
        scope: &Scope,
        name: &str,
        policy: String,
    ) -> Result<SecretRecord> {
        check_resource_policy("Policy", &policy)?;
        self.modify(scope, name, false, |s| {
            s.policy = Some(policy.clone());
            Ok(true)
        })
        .await
    }

    /// Attaches a resource policy to the secret (AWS PutResourcePolicy). With `block_public`,
    /// a policy whose `Allow` reaches every principal is refused (`InvalidParameter` on
    /// `BlockPublicPolicy`) and nothing is written.
    pub async fn put_resource_policy(
        &self,
        scope: &Scope,
        name: &str,
        policy: String,
        block_public: bool,
    ) -> Result<SecretRecord> {
        let parsed = ResourcePolicy::parse(&policy)
            .map_err(|e| Error::invalid("ResourcePolicy", e.to_string()))?;
        if block_public && parsed.is_public() {
            return Err(Error::invalid(
                "BlockPublicPolicy",
                "the resource policy grants access to every principal (\"*\"), which \
                 BlockPublicPolicy refuses",
            ));
        }
        self.modify(scope, name, false, |s| {
            s.policy = Some(policy.clone());
            Ok(true)
        })
        .await
    }

    /// Removes the secret's resource policy (AWS DeleteResourcePolicy); a secret without one
    /// is left as it is.
    pub async fn delete_resource_policy(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        self.modify(scope, name, false, |s| Ok(s.policy.take().is_some()))
            .await
    }

    /// Moves `stage` onto `move_to` and/or takes it off `remove_from`. Built-in `Current` and
    /// `Previous` can only be moved, never just removed, so a secret always has a current value.
    pub async fn update_stage(
        &self,
        scope: &Scope,
        name: &str,
        stage: Stage,
        remove_from: Option<String>,
        move_to: Option<String>,
        max_stages: usize,
    ) -> Result<SecretRecord> {
        if remove_from.is_none() && move_to.is_none() {
            return Err(Error::missing("MoveToVersion"));
        }
        if matches!(stage, Stage::Current | Stage::Previous) && move_to.is_none() {
            return Err(Error::invalid(
                "MoveToVersion",
                "a built-in stage can only be moved to another version, not removed",
            ));
        }
        let max_stages = max_stages.min(self.limits.max_stages_per_secret);
        self.modify(scope, name, false, |s| {
            refuse_managed(s)?;
            if let Some(from) = &remove_from {
                let v = s
                    .version(from)
                    .ok_or_else(|| Error::not_found(Resource::Version, from))?;
                if !v.has_stage(&stage) {
                    return Err(Error::invalid(
                        "RemoveFromVersion",
                        format!("the version {from:?} does not carry this stage"),
                    ));
                }
            }
            match (&move_to, &remove_from) {
                // A move takes the stage from whichever version holds it (the one named in
                // RemoveFromVersion, checked above), so moving Current also moves Previous.
                (Some(to), _) => {
                    if s.version(to).is_none() {
                        return Err(Error::not_found(Resource::Version, to));
                    }
                    attach_stage(s, &stage, to);
                }
                (None, Some(from)) => {
                    if let Some(v) = s.versions.iter_mut().find(|v| &v.version_id == from) {
                        v.stages.retain(|x| x != &stage);
                    }
                }
                (None, None) => {}
            }
            if distinct_stages(s) > max_stages {
                return Err(Error::LimitExceeded {
                    what: format!("a secret carries at most {max_stages} stages"),
                });
            }
            Ok(true)
        })
        .await
    }

    /// Adds tags, replacing the value of keys the secret already has. `max_tags` is the
    /// dialect's own limit, capped by the server's quota.
    pub async fn tag(
        &self,
        scope: &Scope,
        name: &str,
        tags: Vec<Tag>,
        max_tags: usize,
    ) -> Result<SecretRecord> {
        let max = max_tags.min(self.limits.max_tags_per_secret);
        // The same change the authorization of a tag request judged (`Target::SecretRetag`).
        let change = crate::access::TagChange::Set(tags);
        self.modify(scope, name, true, |s| {
            s.tags = change.apply(&s.tags);
            if s.tags.len() > max {
                return Err(Error::invalid(
                    "Tags",
                    format!("a secret has at most {max} tags"),
                ));
            }
            Ok(true)
        })
        .await
    }

    /// Removes tags by key; `None` removes them all. Unknown keys are ignored.
    pub async fn untag(
        &self,
        scope: &Scope,
        name: &str,
        keys: Option<Vec<String>>,
    ) -> Result<SecretRecord> {
        let change = match keys {
            Some(keys) => crate::access::TagChange::Remove(keys),
            None => crate::access::TagChange::RemoveAll,
        };
        self.modify(scope, name, true, |s| {
            let before = s.tags.len();
            s.tags = change.apply(&s.tags);
            Ok(s.tags.len() != before)
        })
        .await
    }

    /// Schedules deletion (or deletes at once) if `allowed` accepts the secret's current
    /// state. Scheduling a secret already pending deletion starts a new window. Returns the
    /// time the secret will be purged, if scheduled.
    pub async fn delete(
        &self,
        scope: &Scope,
        name: &str,
        mode: DeleteMode,
        allowed: impl Fn(&SecretRecord) -> Result<()>,
    ) -> Result<Option<Timestamp>> {
        match mode {
            DeleteMode::Window { days } => {
                if days < 1 {
                    return Err(Error::invalid(
                        "RecoveryWindowInDays",
                        "must be at least one day",
                    ));
                }
                let purge_at = self.now().plus_days(days);
                self.modify(scope, name, true, |s| {
                    allowed(s)?;
                    s.state = SecretState::PendingDelete { purge_at };
                    Ok(true)
                })
                .await?;
                Ok(Some(purge_at))
            }
            DeleteMode::Immediate => {
                for _ in 0..MAX_RETRIES {
                    let s = self.load(scope, name).await?;
                    allowed(&s)?;
                    let write = self.delete_with_replicas(&s).await?;
                    match self.store.write_secret(write).await {
                        Ok(()) => return Ok(None),
                        Err(Error::Conflict) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Error::Conflict)
            }
        }
    }

    /// Cancels a scheduled deletion; the secret returns in state `to` (Alibaba: enabled,
    /// Tencent: disabled).
    pub async fn restore(
        &self,
        scope: &Scope,
        name: &str,
        to: SecretState,
    ) -> Result<SecretRecord> {
        self.modify(scope, name, true, |s| {
            if !s.is_pending_delete() {
                return Err(Error::InvalidState {
                    name: s.name.clone(),
                    reason: "the secret is not scheduled for deletion".into(),
                });
            }
            s.state = to;
            Ok(true)
        })
        .await
    }

    /// Enables or disables a secret. A disabled secret keeps its versions but its values
    /// cannot be read. Not possible while the secret waits for deletion.
    pub async fn set_enabled(
        &self,
        scope: &Scope,
        name: &str,
        enabled: bool,
    ) -> Result<SecretRecord> {
        let to = if enabled {
            SecretState::Enabled
        } else {
            SecretState::Disabled
        };
        self.modify(scope, name, false, |s| {
            if s.state == to {
                return Ok(false);
            }
            s.state = to;
            Ok(true)
        })
        .await
    }

    /// Replaces the value of an existing version in place (Tencent UpdateSecret). Its stages
    /// stay; the value gets a fresh data key like any new value.
    pub async fn replace_value(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
        value: SecretValue,
    ) -> Result<VersionRecord> {
        self.check_value(&value)?;
        for _ in 0..MAX_RETRIES {
            let mut secret = self.load_active(scope, name).await?;
            refuse_managed(&secret)?;
            let Some(v) = secret
                .versions
                .iter_mut()
                .find(|v| v.version_id == version_id)
            else {
                return Err(Error::not_found(Resource::Version, version_id));
            };
            v.kind = value.kind();
            let version = v.clone();
            secret.updated_at = self.now();
            let key = self.usable_key(scope, &secret.key_id).await?;
            let sealed = self
                .keyring
                .seal_value(&key, &secret, version_id, value.as_bytes())?;
            let write = SecretWrite::Update {
                record: secret,
                new_values: vec![(version_id.to_string(), sealed)],
                removed_versions: vec![version_id.to_string()],
            };
            match self
                .store
                .write_secret(self.with_replicas(write).await?)
                .await
            {
                Ok(()) => return Ok(version),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Sets (or clears) a version's expiry time. Only on enabled secrets.
    pub async fn set_version_expiry(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<VersionRecord> {
        let mut out = None;
        self.modify(scope, name, false, |s| {
            if s.state == SecretState::Disabled {
                return Err(Error::Disabled {
                    what: Resource::Secret,
                    name: s.name.clone(),
                });
            }
            let v = s
                .versions
                .iter_mut()
                .find(|v| v.version_id == version_id)
                .ok_or_else(|| Error::not_found(Resource::Version, version_id))?;
            v.expires_at = expires_at;
            out = Some(v.clone());
            Ok(true)
        })
        .await?;
        out.ok_or_else(|| Error::internal("version vanished while setting its expiry"))
    }

    /// Deletes one version. The last version cannot go; when the current one goes, the
    /// newest remaining version becomes current.
    pub async fn delete_version(&self, scope: &Scope, name: &str, version_id: &str) -> Result<()> {
        for _ in 0..MAX_RETRIES {
            let mut secret = self.load(scope, name).await?;
            refuse_managed(&secret)?;
            let Some(idx) = secret
                .versions
                .iter()
                .position(|v| v.version_id == version_id)
            else {
                return Err(Error::not_found(Resource::Version, version_id));
            };
            if secret.versions.len() == 1 {
                return Err(Error::InvalidState {
                    name: secret.name,
                    reason: "the only version of a secret cannot be deleted".into(),
                });
            }
            let removed = secret.versions.remove(idx);
            if removed.has_stage(&Stage::Current) {
                if let Some(newest) = secret.versions.iter().max_by_key(|v| v.created_at) {
                    let id = newest.version_id.clone();
                    // The newest may be Previous; it stops being previous once current.
                    for v in secret.versions.iter_mut() {
                        if v.version_id == id {
                            v.stages.retain(|s| s != &Stage::Previous);
                            v.stages.push(Stage::Current);
                            v.stages.sort();
                        }
                    }
                }
            }
            secret.updated_at = self.now();
            let write = SecretWrite::Update {
                record: secret,
                new_values: vec![],
                removed_versions: vec![version_id.to_string()],
            };
            match self
                .store
                .write_secret(self.with_replicas(write).await?)
                .await
            {
                Ok(()) => return Ok(()),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }
}

fn check_subscriptions(names: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::invalid(
            "event_subscriptions",
            format!("the event {dup:?} is listed twice"),
        ));
    }
    Ok(())
}

/// Values of managed secrets change only by rotation: a version written or restaged by hand
/// could name a password the database does not have.
fn refuse_managed(secret: &SecretRecord) -> Result<()> {
    if secret.kind.is_managed() {
        return Err(Error::Unsupported(format!(
            "the secret {:?} is a managed secret: its versions change only by rotation",
            secret.name
        )));
    }
    Ok(())
}

/// A secret's id: a UUIDv7, whose first bits are the creation time. Every table that rows of
/// a secret go into is keyed by this id, so new secrets land at the end of those indexes
/// instead of on a random page each: with a million secrets, random v4 ids had each create
/// rewrite pages all over a 2 GB file, and seeding slowed to a third of its starting rate.
fn time_ordered_id(now: Timestamp) -> Uuid {
    let ms = now.0.max(0) as u64;
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        ms / 1000,
        (ms % 1000) as u32 * 1_000_000,
    ))
}

fn select_version<'a>(
    secret: &'a SecretRecord,
    sel: &VersionSelector,
) -> Result<&'a VersionRecord> {
    let by_stage = |stage: &Stage| {
        secret
            .version_with_stage(stage)
            .ok_or_else(|| Error::not_found(Resource::Stage, stage_label(stage)))
    };
    match (&sel.version_id, &sel.stage) {
        (Some(id), stage) => {
            let v = secret
                .version(id)
                .ok_or_else(|| Error::not_found(Resource::Version, id))?;
            match stage {
                Some(st) if !v.has_stage(st) => {
                    Err(Error::not_found(Resource::Stage, stage_label(st)))
                }
                _ => Ok(v),
            }
        }
        (None, Some(stage)) => by_stage(stage),
        (None, None) => by_stage(&Stage::Current),
    }
}

fn stage_label(stage: &Stage) -> String {
    match stage {
        Stage::Custom(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn check_stage_count(s: &SecretRecord, max: usize) -> Result<()> {
    if distinct_stages(s) > max {
        return Err(Error::LimitExceeded {
            what: format!("a secret carries at most {max} stages"),
        });
    }
    Ok(())
}

fn distinct_stages(s: &SecretRecord) -> usize {
    s.versions.iter().map(|v| v.stages.len()).sum()
}

fn into_value(kind: ValueKind, plain: Zeroizing<Vec<u8>>) -> Result<SecretValue> {
    match kind {
        ValueKind::Binary => Ok(SecretValue::Binary(plain)),
        ValueKind::Text => {
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| Error::internal("a stored text value is not UTF-8"))?;
            Ok(SecretValue::Text(Zeroizing::new(text)))
        }
    }
}

/// A resource policy as the secret will carry it: one coffer can enforce, else refused with
/// the parser's reason, naming `field`.
fn check_resource_policy(field: &'static str, text: &str) -> Result<()> {
    ResourcePolicy::parse(text)
        .map(|_| ())
        .map_err(|e| Error::invalid(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::common::tests::secret_with;

    #[test]
    fn version_selection() {
        let s = secret_with(&[("v1", &[Stage::Previous]), ("v2", &[Stage::Current])]);
        let sel = |id: Option<&str>, st: Option<Stage>| VersionSelector {
            version_id: id.map(String::from),
            stage: st,
        };
        assert_eq!(
            select_version(&s, &sel(None, None)).unwrap().version_id,
            "v2"
        );
        assert_eq!(
            select_version(&s, &sel(Some("v1"), None))
                .unwrap()
                .version_id,
            "v1"
        );
        assert_eq!(
            select_version(&s, &sel(None, Some(Stage::Previous)))
                .unwrap()
                .version_id,
            "v1"
        );
        assert!(select_version(&s, &sel(Some("v1"), Some(Stage::Current))).is_err());
        assert!(select_version(&s, &sel(Some("nope"), None)).is_err());
        assert!(select_version(&s, &sel(None, Some(Stage::Pending))).is_err());
    }

    #[test]
    fn secret_ids_sort_by_the_clock_that_made_them() {
        let ids: Vec<String> = [1_000, 1_001, 86_400_000, 1_800_000_000_000]
            .into_iter()
            .map(|ms| time_ordered_id(Timestamp(ms)).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "text order is creation order");
        let id = time_ordered_id(Timestamp(1_800_000_000_123));
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().expect("v7 carries a time").to_unix();
        assert_eq!((secs, nanos), (1_800_000_000, 123_000_000));
        // Ids made in the same millisecond still differ.
        assert_ne!(time_ordered_id(Timestamp(5)), time_ordered_id(Timestamp(5)));
    }
}
