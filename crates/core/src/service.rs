//! The Service runs every operation, whatever dialect asked for it. Dialects check their wire
//! rules (name charsets, sizes their cloud documents) before calling; the service enforces
//! the model's invariants (stages, version cap, states) and the server's quotas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use coffer_crypto::SecretKey;
use rand::Rng;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::error::{Error, Resource, Result};
use crate::keyring::Keyring;
use crate::model::*;
use crate::password::{self, PasswordOptions};
use crate::store::{SecretWrite, Store};

mod access;
mod databases;
mod keys;
mod rewrap;
mod rotation;
pub use databases::{NewDatabaseSecret, NewDbInstance, NewProductSecret};
pub use keys::{parse_encryption_context, NewKey, Opened};
pub use rewrap::{RewrapOptions, RewrapState, RewrapStatus};
pub use rotation::{HaltPoint, RotationOutcome, TaskView};

/// Alias of the key each scope creates on first use for secrets that name no key.
pub const DEFAULT_KEY_ALIAS: &str = "alias/acs/secrets-manager";
/// How many times an operation re-reads and retries after losing a race to another writer.
pub(crate) const MAX_RETRIES: usize = 16;
/// How long a looked-up access key is trusted before it is read again, so that disabling a
/// key takes effect within this time on every node.
const ACCESS_KEY_TTL_MS: i64 = 2_000;
/// How long a key seen enabled is trusted to still be, so that disabling a key stops reads of
/// its secrets within this time on every node (at once on the node that disabled it).
const KEY_STATE_TTL_MS: i64 = 2_000;

/// Quotas enforced for every dialect. Each has a default; the server can override them.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_value_bytes: usize,
    pub max_versions_per_secret: usize,
    pub max_stages_per_secret: usize,
    pub max_tags_per_secret: usize,
    pub max_secrets_per_scope: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_bytes: 65_536,
            max_versions_per_secret: 20,
            max_stages_per_secret: 12,
            max_tags_per_secret: 50,
            max_secrets_per_scope: 1_000_000,
        }
    }
}

/// A verified caller's identity, as the dialect's signature check established it.
#[derive(Clone, Debug)]
pub struct AuthenticatedKey {
    pub id: String,
    pub account: AccountId,
    pub secret: Zeroizing<Vec<u8>>,
    pub enabled: bool,
    pub admin: bool,
    /// The policies attached to the key, parsed.
    pub policies: Vec<coffer_auth::policy::Policy>,
}

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
struct NewRecord {
    name: String,
    description: String,
    kind: SecretKind,
    key: Option<String>,
    tags: Vec<Tag>,
    extended_config: Option<String>,
    policy: Option<String>,
    subscriptions: Vec<String>,
    rotation: RotationPolicy,
    versions: Vec<(String, Vec<Stage>, SecretValue)>,
}

/// A change to a secret's descriptive metadata; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct MetadataChange {
    pub description: Option<String>,
    pub subscriptions: Option<Vec<String>>,
}

/// A new event rule.
#[derive(Debug)]
pub struct NewEventRule {
    pub name: String,
    pub events: Vec<SecretEvent>,
    pub enabled: bool,
    pub target: NotifyTarget,
}

/// A change to an event rule; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EventRuleChange {
    pub events: Option<Vec<SecretEvent>>,
    pub enabled: Option<bool>,
    pub target: Option<NotifyTarget>,
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

pub struct Service {
    store: Arc<dyn Store>,
    keyring: Keyring,
    clock: Arc<dyn Clock>,
    limits: Limits,
    access_keys: Mutex<HashMap<String, (Timestamp, Arc<AuthenticatedKey>)>>,
    /// Keys last seen enabled, by id, with when: reads skip loading the key within
    /// [`KEY_STATE_TTL_MS`]. A key disabled on this node is dropped at once.
    enabled_keys: Mutex<HashMap<String, Timestamp>>,
    /// Where the root key lives when coffer may replace it (not when it came from the
    /// environment).
    root_file: Option<coffer_crypto::RootKeyFile>,
    rewrap: Mutex<RewrapStatus>,
    /// Speaks to the databases of managed secrets; none on servers without rotation.
    driver: Option<Arc<dyn crate::database::DatabaseDriver>>,
    /// Rotation tasks being driven on this node, so that two drives never interleave steps.
    running_tasks: Mutex<std::collections::HashSet<i64>>,
    /// Crash tests only: rotations stop for good once this step is recorded.
    halt_after: Option<rotation::HaltPoint>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        root_key: SecretKey,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            keyring: Keyring::new(root_key),
            clock,
            limits,
            access_keys: Mutex::new(HashMap::new()),
            enabled_keys: Mutex::new(HashMap::new()),
            root_file: None,
            rewrap: Mutex::new(RewrapStatus::default()),
            driver: None,
            running_tasks: Mutex::new(Default::default()),
            halt_after: None,
        }
    }

    /// The root key came from `file`, which a rewrap may replace. When `next` (the key of a
    /// rotation left unfinished) is given, it wraps from now on and the key of `file` only
    /// opens what it wrapped until a rewrap finishes the rotation.
    pub fn with_root_key_file(
        mut self,
        file: coffer_crypto::RootKeyFile,
        next: Option<SecretKey>,
    ) -> Self {
        if let Some(next) = next {
            self.keyring.begin_root_rotation(next);
        }
        self.root_file = Some(file);
        self
    }

    /// Checks that the root key opens this store's keys and access keys: a wrong key file
    /// stops the start with a clear message instead of failing every request later.
    pub async fn check_root_key(&self) -> Result<()> {
        for key in self.store.keys_after(None, 1).await? {
            for v in &key.versions {
                self.keyring.rewrap_material(&key, v).map_err(|_| {
                    Error::internal(format!(
                        "the root key does not open the material of key {} (wrong key file, or \
                         one replaced by a root key rotation)",
                        key.id
                    ))
                })?;
            }
        }
        for ak in self.store.access_keys_after(None, 1).await? {
            self.keyring
                .open_access_secret(&ak.id, &ak.sealed_secret)
                .map_err(|_| {
                    Error::internal(format!(
                        "the root key does not open the secret of access key {} (wrong key file, \
                     or one replaced by a root key rotation)",
                        ak.id
                    ))
                })?;
        }
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    // --- accounts and access keys ------------------------------------------------------------

    /// On an empty store, creates the admin account and its first access key. The key id and
    /// secret come from the caller when given, else are generated. Returns the account and the
    /// credentials when it created them, `None` when the store was already initialised.
    pub async fn bootstrap(
        &self,
        key_id: Option<String>,
        key_secret: Option<Zeroizing<String>>,
    ) -> Result<Option<(AccountId, String, Zeroizing<String>)>> {
        if self.store.count_accounts().await? > 0 {
            return Ok(None);
        }
        let now = self.now();
        let account = Account {
            id: AccountId(
                rand::rngs::OsRng.gen_range(1_000_000_000_000_000..10_000_000_000_000_000),
            ),
            name: "admin".into(),
            operator: true,
            created_at: now,
        };
        self.store.create_account(&account).await?;
        let id = key_id.unwrap_or_else(generate_access_key_id);
        let secret = key_secret.unwrap_or_else(generate_access_key_secret);
        self.store
            .create_access_key(&AccessKeyRecord {
                id: id.clone(),
                account: account.id,
                sealed_secret: self.keyring.seal_access_secret(&id, &secret),
                enabled: true,
                admin: true,
                created_at: now,
            })
            .await?;
        Ok(Some((account.id, id, secret)))
    }

    /// The account's project in `scope.region`, created when it has none. `wanted` names the
    /// id to create (it must be 32 lower-case hex characters); without it a random id is drawn.
    /// Returns the project and whether it was created.
    pub async fn ensure_project(
        &self,
        scope: &Scope,
        wanted: Option<&str>,
    ) -> Result<(Project, bool)> {
        if let Some(p) = self
            .store
            .list_projects(scope.account)
            .await?
            .into_iter()
            .find(|p| p.scope.region == scope.region)
        {
            return Ok((p, false));
        }
        let id = match wanted {
            Some(id) if is_project_id(id) => id.to_string(),
            Some(_) => {
                return Err(Error::invalid(
                    "project_id",
                    "a project id is 32 lower-case hexadecimal characters",
                ))
            }
            None => {
                let mut bytes = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        let project = Project {
            id,
            scope: scope.clone(),
        };
        self.store.create_project(&project).await?;
        Ok((project, true))
    }

    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        self.store.get_project(id).await
    }

    pub async fn projects(&self, account: AccountId) -> Result<Vec<Project>> {
        self.store.list_projects(account).await
    }

    /// Finds an access key and opens its secret, for signature verification. Results are
    /// cached briefly; unknown keys are not cached so a new key works at once.
    pub async fn access_key(&self, id: &str) -> Result<Arc<AuthenticatedKey>> {
        let now = self.now();
        if let Some((at, k)) = self
            .access_keys
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
        {
            if now.0 - at.0 < ACCESS_KEY_TTL_MS {
                return Ok(k);
            }
        }
        let rec = self
            .store
            .get_access_key(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::AccessKey, id))?;
        let policies = self.load_key_policies(&rec.id).await?;
        let key = Arc::new(AuthenticatedKey {
            secret: self
                .keyring
                .open_access_secret(&rec.id, &rec.sealed_secret)?,
            id: rec.id,
            account: rec.account,
            enabled: rec.enabled,
            admin: rec.admin,
            policies,
        });
        if let Ok(mut m) = self.access_keys.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(id.to_string(), (now, key.clone()));
        }
        Ok(key)
    }

    pub async fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        self.store.set_access_key_enabled(id, enabled).await?;
        if let Ok(mut m) = self.access_keys.lock() {
            m.remove(id);
        }
        Ok(())
    }

    // --- keys --------------------------------------------------------------------------------

    /// The scope's default key, created on first use. Two racing creators both end up with the
    /// one that the store accepted.
    pub async fn default_key(&self, scope: &Scope) -> Result<KeyRecord> {
        if let Some(k) = self.store.get_default_key(scope).await? {
            return Ok(k);
        }
        let id = Uuid::new_v4().to_string();
        let version = Uuid::new_v4().to_string();
        let now = self.now();
        let key = KeyRecord {
            id: id.clone(),
            scope: scope.clone(),
            aliases: vec![DEFAULT_KEY_ALIAS.to_string()],
            description: "Default key for secrets that name no key".into(),
            state: KeyState::Enabled,
            is_default: true,
            created_at: now,
            primary_version: version.clone(),
            versions: vec![KeyVersion {
                wrapped_material: self.keyring.new_key_material(scope, &id, &version),
                id: version,
                created_at: now,
            }],
            rotation: KeyRotation::default(),
        };
        match self.store.create_key(&key).await {
            Ok(()) => Ok(key),
            Err(Error::AlreadyExists { .. }) => self
                .store
                .get_default_key(scope)
                .await?
                .ok_or_else(|| Error::internal("default key vanished after a create race")),
            Err(e) => Err(e),
        }
    }

    /// Resolves a key reference (a key id or an alias, `alias/...`) to a key that may be used.
    /// The default key's alias resolves even before the key exists, creating it.
    pub async fn resolve_key(&self, scope: &Scope, reference: &str) -> Result<KeyRecord> {
        let key = self.find_key(scope, reference).await?;
        match key.state {
            KeyState::Enabled => Ok(key),
            KeyState::Disabled | KeyState::PendingDeletion { .. } => Err(Error::Disabled {
                what: Resource::Key,
                name: key.id,
            }),
        }
    }

    /// The key a secret is encrypted under, refused unless it is enabled: a disabled key (or
    /// one pending deletion) neither opens nor seals values.
    async fn usable_key(&self, scope: &Scope, id: &str) -> Result<KeyRecord> {
        let key = self
            .store
            .get_key(scope, id)
            .await?
            .ok_or_else(|| Error::internal(format!("key {id} of a stored value is missing")))?;
        self.note_key_state(&key);
        match key.state {
            KeyState::Enabled => Ok(key),
            _ => Err(Error::Disabled {
                what: Resource::Key,
                name: key.id,
            }),
        }
    }

    fn note_key_state(&self, key: &KeyRecord) {
        if let Ok(mut m) = self.enabled_keys.lock() {
            if key.state == KeyState::Enabled {
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(key.id.clone(), self.now());
            } else {
                m.remove(&key.id);
            }
        }
    }

    fn forget_key_state(&self, key_id: &str) {
        if let Ok(mut m) = self.enabled_keys.lock() {
            m.remove(key_id);
        }
        self.keyring.evict(key_id);
    }

    /// The material that opens a stored value. Reads are the hot path: a key seen enabled a
    /// moment ago and already unwrapped is used without loading it again.
    async fn read_material(&self, scope: &Scope, key_id: &str, version: &str) -> Result<SecretKey> {
        let fresh = self
            .enabled_keys
            .lock()
            .ok()
            .and_then(|m| m.get(key_id).copied())
            .is_some_and(|at| self.now().0 - at.0 < KEY_STATE_TTL_MS);
        if fresh {
            if let Some(m) = self.keyring.cached_material(key_id, version) {
                return Ok(m);
            }
        }
        let key = self.usable_key(scope, key_id).await?;
        self.keyring.material(&key, version)
    }

    // --- secrets -----------------------------------------------------------------------------

    async fn load(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        self.store
            .get_secret(scope, name)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Secret, name))
    }

    async fn load_active(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        let rec = self.load(scope, name).await?;
        if rec.is_pending_delete() {
            return Err(Error::InDeleteWindow { name: rec.name });
        }
        Ok(rec)
    }

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

    pub async fn create_secret(&self, scope: &Scope, req: CreateSecret) -> Result<SecretRecord> {
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
        self.insert_secret(scope, new, None).await
    }

    /// Writes a new secret with its first versions, and with `task` in the same transaction
    /// when one is given (a managed secret whose account is still being created).
    async fn insert_secret(
        &self,
        scope: &Scope,
        new: NewRecord,
        task: Option<RotationTask>,
    ) -> Result<SecretRecord> {
        for (_, _, value) in &new.versions {
            self.check_value(value)?;
        }
        check_subscriptions(&new.subscriptions)?;
        if new.tags.len() > self.limits.max_tags_per_secret {
            return Err(Error::invalid(
                "Tags",
                format!(
                    "a secret has at most {} tags",
                    self.limits.max_tags_per_secret
                ),
            ));
        }
        if let Some(existing) = self.store.get_secret(scope, &new.name).await? {
            return Err(name_taken(existing));
        }
        let key = match &new.key {
            Some(r) => self.resolve_key(scope, r).await?,
            None => self.default_key(scope).await?,
        };
        let count = self
            .store
            .list_secrets(
                scope,
                &SecretFilter::default(),
                PageRequest {
                    offset: 0,
                    limit: 0,
                    newest_first: false,
                },
            )
            .await?
            .total;
        if count >= self.limits.max_secrets_per_scope {
            return Err(Error::LimitExceeded {
                what: format!(
                    "at most {} secrets per region",
                    self.limits.max_secrets_per_scope
                ),
            });
        }
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
        let write = SecretWrite::Create {
            record: record.clone(),
            values,
        };
        let written = match &task {
            Some(task) => {
                let mut task = task.clone();
                task.secret_id = record.id;
                self.store.write_task(&task, Some(write)).await
            }
            None => self.store.write_secret(write).await,
        };
        match written {
            Ok(()) => Ok(record),
            Err(Error::AlreadyExists { .. }) => {
                // Lost a race for the name; report it the way a pre-check would have.
                match self.store.get_secret(scope, &record.name).await? {
                    Some(existing) => Err(name_taken(existing)),
                    None => Err(Error::Conflict),
                }
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
        Ok(ReadValue {
            secret,
            version,
            value,
        })
    }

    /// Adds a version. Its stages (default `[Current]`) move to it from wherever they were;
    /// when `Current` moves, the version that had it becomes `Previous`. Re-sending an existing
    /// version id with the same value succeeds without change; with another value it fails.
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
            match self.store.write_secret(write).await {
                Ok(()) => return Ok(version),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Runs `change` on fresh state until it commits without a concurrent change in between.
    /// `change` returns `Ok(false)` when there is nothing to write.
    async fn modify(
        &self,
        scope: &Scope,
        name: &str,
        allow_pending: bool,
        mut change: impl FnMut(&mut SecretRecord) -> Result<bool>,
    ) -> Result<SecretRecord> {
        for _ in 0..MAX_RETRIES {
            let mut secret = if allow_pending {
                self.load(scope, name).await?
            } else {
                self.load_active(scope, name).await?
            };
            if !change(&mut secret)? {
                return Ok(secret);
            }
            secret.updated_at = self.now();
            let write = SecretWrite::Update {
                record: secret.clone(),
                new_values: vec![],
                removed_versions: vec![],
            };
            match self.store.write_secret(write).await {
                Ok(()) => {
                    secret.revision += 1;
                    return Ok(secret);
                }
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

    // --- event rules ------------------------------------------------------------------------

    pub async fn create_event_rule(&self, scope: &Scope, req: NewEventRule) -> Result<EventRule> {
        check_events(&req.events)?;
        let now = self.now();
        let rule = EventRule {
            id: Uuid::new_v4(),
            scope: scope.clone(),
            name: req.name,
            events: req.events,
            enabled: req.enabled,
            target: req.target,
            created_at: now,
            updated_at: now,
        };
        self.store.create_event_rule(&rule).await?;
        Ok(rule)
    }

    pub async fn event_rule(&self, scope: &Scope, name: &str) -> Result<EventRule> {
        self.store
            .get_event_rule(scope, name)
            .await?
            .ok_or_else(|| Error::not_found(Resource::EventRule, name))
    }

    /// Up to `limit` rules in creation order, after the rule named `after`.
    pub async fn event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>> {
        self.store.list_event_rules(scope, after, limit).await
    }

    pub async fn update_event_rule(
        &self,
        scope: &Scope,
        name: &str,
        change: EventRuleChange,
    ) -> Result<EventRule> {
        if let Some(events) = &change.events {
            check_events(events)?;
        }
        let mut rule = self.event_rule(scope, name).await?;
        if let Some(events) = change.events {
            rule.events = events;
        }
        if let Some(enabled) = change.enabled {
            rule.enabled = enabled;
        }
        if let Some(target) = change.target {
            rule.target = target;
        }
        rule.updated_at = self.now().max(rule.updated_at);
        self.store.update_event_rule(&rule).await?;
        Ok(rule)
    }

    /// Refused while a secret subscribes to the rule.
    pub async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        self.store.delete_event_rule(scope, name).await
    }

    /// Replaces the secret's resource policy document.
    pub async fn set_policy(
        &self,
        scope: &Scope,
        name: &str,
        policy: String,
    ) -> Result<SecretRecord> {
        self.modify(scope, name, false, |s| {
            s.policy = Some(policy.clone());
            Ok(true)
        })
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
        self.modify(scope, name, true, |s| {
            for t in &tags {
                match s.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(existing) => existing.value = t.value.clone(),
                    None => s.tags.push(t.clone()),
                }
            }
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
        self.modify(scope, name, true, |s| {
            let before = s.tags.len();
            match &keys {
                Some(keys) => s.tags.retain(|t| !keys.contains(&t.key)),
                None => s.tags.clear(),
            }
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
                    match self
                        .store
                        .write_secret(SecretWrite::Delete {
                            id: s.id,
                            revision: s.revision,
                        })
                        .await
                    {
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
            match self.store.write_secret(write).await {
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
            match self.store.write_secret(write).await {
                Ok(()) => return Ok(()),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Purges secrets whose deletion window has ended. Called periodically by the server.
    pub async fn purge_due(&self, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.store.purge_due(self.now(), limit).await
    }

    /// Deletes keys whose deletion date has come (their material is gone for good). Returns
    /// their scopes and ids.
    pub async fn purge_due_keys(&self, limit: u32) -> Result<Vec<(Scope, String)>> {
        let purged = self.store.purge_due_keys(self.now(), limit).await?;
        for (_, id) in &purged {
            self.forget_key_state(id);
        }
        Ok(purged)
    }

    pub fn random_password(&self, opts: &PasswordOptions) -> Result<Zeroizing<String>> {
        password::generate(opts, &mut rand::rngs::OsRng)
    }
}

fn check_events(events: &[SecretEvent]) -> Result<()> {
    if events.is_empty() {
        return Err(Error::invalid(
            "event_types",
            "at least one event type is required",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = events.iter().find(|e| !seen.insert(**e)) {
        return Err(Error::invalid(
            "event_types",
            format!("{dup:?} is listed twice"),
        ));
    }
    Ok(())
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

fn name_taken(existing: SecretRecord) -> Error {
    if existing.is_pending_delete() {
        Error::InDeleteWindow {
            name: existing.name,
        }
    } else {
        Error::AlreadyExists {
            what: Resource::Secret,
            name: existing.name,
        }
    }
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

/// Puts `stage` on `version_id`, taking it off any other version. Moving `Current` makes the
/// version that held it `Previous`.
fn attach_stage(secret: &mut SecretRecord, stage: &Stage, version_id: &str) {
    let old_holder = secret
        .version_with_stage(stage)
        .map(|v| v.version_id.clone());
    if old_holder.as_deref() == Some(version_id) {
        return;
    }
    for v in secret.versions.iter_mut() {
        v.stages.retain(|s| s != stage);
    }
    if let Some(v) = secret
        .versions
        .iter_mut()
        .find(|v| v.version_id == version_id)
    {
        v.stages.push(stage.clone());
    }
    if *stage == Stage::Current {
        if let Some(old) = old_holder {
            attach_stage(secret, &Stage::Previous, &old);
        }
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

/// Drops the oldest versions without stages until at most `max` remain. Returns their ids.
fn prune_versions(secret: &mut SecretRecord, max: usize) -> Result<Vec<String>> {
    let mut removed = vec![];
    while secret.versions.len() > max {
        let idx = secret
            .versions
            .iter()
            .position(|v| v.stages.is_empty())
            .ok_or_else(|| Error::LimitExceeded {
                what: format!(
                    "a secret keeps at most {max} versions and every version carries a stage"
                ),
            })?;
        removed.push(secret.versions.remove(idx).version_id);
    }
    Ok(removed)
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

/// Huawei project ids are 32 lower-case hexadecimal characters.
pub fn is_project_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Access key ids look like the clouds' own: a prefix and 20 upper-case letters and digits.
pub fn generate_access_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rngs::OsRng;
    let body: String = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("CFK{body}")
}

/// 40 characters from a 62-letter alphabet: about 238 bits.
pub fn generate_access_key_secret() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    Zeroizing::new(
        (0..40)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_with(versions: &[(&str, &[Stage])]) -> SecretRecord {
        SecretRecord {
            id: Uuid::nil(),
            scope: Scope {
                account: AccountId(1),
                region: "r".into(),
            },
            name: "n".into(),
            kind: SecretKind::Generic,
            description: String::new(),
            key_id: "k".into(),
            tags: vec![],
            state: SecretState::Enabled,
            rotation: RotationPolicy::default(),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            revision: 0,
            versions: versions
                .iter()
                .map(|(id, st)| VersionRecord {
                    version_id: id.to_string(),
                    created_at: Timestamp(0),
                    kind: ValueKind::Text,
                    stages: st.to_vec(),
                    expires_at: None,
                })
                .collect(),
        }
    }

    fn holder(s: &SecretRecord, st: &Stage) -> Option<String> {
        s.version_with_stage(st).map(|v| v.version_id.clone())
    }

    #[test]
    fn moving_current_makes_old_current_previous() {
        let mut s = secret_with(&[
            ("v1", &[Stage::Previous]),
            ("v2", &[Stage::Current]),
            ("v3", &[]),
        ]);
        attach_stage(&mut s, &Stage::Current, "v3");
        assert_eq!(holder(&s, &Stage::Current).as_deref(), Some("v3"));
        assert_eq!(holder(&s, &Stage::Previous).as_deref(), Some("v2"));
        assert!(s.version("v1").unwrap().stages.is_empty());
        // Re-attaching to the holder changes nothing.
        attach_stage(&mut s, &Stage::Current, "v3");
        assert_eq!(holder(&s, &Stage::Previous).as_deref(), Some("v2"));
    }

    #[test]
    fn custom_stage_moves_alone() {
        let mut s = secret_with(&[
            ("v1", &[Stage::Custom("x".into()), Stage::Current]),
            ("v2", &[]),
        ]);
        attach_stage(&mut s, &Stage::Custom("x".into()), "v2");
        assert_eq!(
            holder(&s, &Stage::Custom("x".into())).as_deref(),
            Some("v2")
        );
        assert_eq!(holder(&s, &Stage::Current).as_deref(), Some("v1"));
        assert_eq!(holder(&s, &Stage::Previous), None);
    }

    #[test]
    fn pruning_drops_oldest_unlabelled_or_refuses() {
        let mut s = secret_with(&[
            ("a", &[]),
            ("b", &[Stage::Previous]),
            ("c", &[]),
            ("d", &[Stage::Current]),
        ]);
        assert_eq!(prune_versions(&mut s, 3).unwrap(), vec!["a".to_string()]);
        assert_eq!(prune_versions(&mut s, 2).unwrap(), vec!["c".to_string()]);
        assert!(matches!(
            prune_versions(&mut s, 1),
            Err(Error::LimitExceeded { .. })
        ));
    }

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

    #[test]
    fn generated_credentials_have_expected_shape() {
        let id = generate_access_key_id();
        assert_eq!(id.len(), 23);
        assert!(id.starts_with("CFK"));
        assert_eq!(generate_access_key_secret().len(), 40);
    }
}
