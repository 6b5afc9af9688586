//! The persistence contract. The core decides; a store records. Every write either commits
//! whole or not at all, and is durable before the call returns.
//!
//! The contract comes in areas, one trait each, so that a store is written (and read) one
//! area at a time:
//!
//! - [`AccountStore`]: accounts, their access keys, policies and projects;
//! - [`KeyStore`]: customer master keys, their purge and their rotation schedule;
//! - [`SecretStore`]: secrets with their versions and values, listing, writes and purge;
//! - [`EventRuleStore`]: the event rules secrets subscribe to;
//! - [`RotationStore`]: database instances, rotation tasks and the secrets due for rotation;
//! - [`RewrapStore`]: walking everything the root key wraps, and compare-and-swap rewrites;
//! - [`LeaseStore`]: leases that let one node of several run a background job at a time;
//! - [`BackupStore`]: everything at once, as one snapshot out and into an empty store.
//!
//! [`Store`] is all of them together; every type that implements the eight is a `Store`, and the
//! core holds an `Arc<dyn Store>`, through which every area's methods can be called. Calling
//! them on a concrete store (a `SqliteStore`) needs the area's trait in scope:
//! `use coffer_core::store::prelude::*;` brings them all.
//!
//! Concurrency: writers read a [`SecretRecord`], compute the new one and write it back with
//! the revision they read. A store commits an update only if the stored revision still equals
//! it (and then stores `revision + 1`); otherwise it returns [`Error::Conflict`] and the core
//! retries on fresh state. This works the same for threads of one node and for several nodes
//! sharing PostgreSQL.
//!
//! [`Error::Conflict`]: crate::Error::Conflict

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;
use crate::model::*;

/// A change to one secret, committed atomically.
#[derive(Clone, Debug)]
pub enum SecretWrite {
    /// A new secret with its first versions. Fails with `AlreadyExists` when any secret of
    /// the scope (live or pending deletion) has the name, with `NotFound` (event rule) when a
    /// subscription names no rule of the scope, and with `LimitExceeded` when the scope holds
    /// `max_secrets` secrets (live or pending deletion) already. The count is checked in the
    /// transaction that inserts, so that creates racing for the last free place (on any node)
    /// cannot all pass.
    Create {
        record: SecretRecord,
        values: Vec<(String, SealedValue)>,
        max_secrets: Option<u64>,
    },
    /// Replace the secret's metadata, tags, version metadata and stages with `record`'s.
    /// `record.revision` is the revision that was read. `new_values` are versions to add;
    /// `removed_versions` are deleted with their values. Subscriptions are checked as for
    /// `Create`.
    Update {
        record: SecretRecord,
        new_values: Vec<(String, SealedValue)>,
        removed_versions: Vec<String>,
    },
    /// Delete the secret, all its versions, values and tags (at the given revision).
    Delete { id: Uuid, revision: i64 },
    /// Records (or with `None` clears) the secret's replication: which replicas a primary has,
    /// or which primary a replica follows, as the core's JSON. Removed with the secret.
    /// `NotFound` when the secret does not exist.
    SetReplication { id: Uuid, info: Option<String> },
    /// Several writes, in order, in one transaction: all of them commit or none does (a
    /// primary and its replicas change together).
    Batch(Vec<SecretWrite>),
}

/// What [`AccountStore::inventory`] counts. States are as the store keeps them
/// (`enabled`, `pending_deletion`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub secrets_by_state: Vec<(String, u64)>,
    pub keys_by_state: Vec<(String, u64)>,
    pub rotation_tasks_waiting: u64,
}

/// Accounts, their access keys, the policies attached to those keys, and the projects that
/// map an id to an account and region.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn create_account(&self, account: &Account) -> Result<()>;
    async fn get_account(&self, id: AccountId) -> Result<Option<Account>>;
    async fn count_accounts(&self) -> Result<u64>;
    /// How many secrets and keys are in each state, and how many rotation tasks are waiting
    /// to finish (running or due a retry), for metrics. A few grouped counts; the server
    /// caches the answer so that scrapes cannot make it run often.
    async fn inventory(&self) -> Result<Inventory>;
    /// Every account, by id.
    async fn list_accounts(&self) -> Result<Vec<Account>>;
    /// Fails with `AlreadyExists` when the id is taken.
    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>>;
    /// Returns `NotFound` when there is no such key.
    async fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<()>;
    /// The account's access keys, oldest first.
    async fn list_access_keys(&self, account: AccountId) -> Result<Vec<AccessKeyRecord>>;
    /// Deletes the key and its policy attachments. `NotFound` when there is no such key.
    async fn delete_access_key(&self, id: &str) -> Result<()>;
    /// Deletes an account with its access keys, policies, projects, default keys and event
    /// rules, in one step. `NotFound` when there is no such account; `InvalidState` while it
    /// still holds a secret (in any state) or a key that is not a default key.
    async fn delete_account(&self, id: AccountId) -> Result<()>;

    // --- policies ------------------------------------------------------------------------
    /// Creates or replaces the account's policy of that name (keeping its creation time).
    /// `NotFound` when the account does not exist.
    async fn put_policy(&self, policy: &PolicyRecord) -> Result<()>;
    async fn get_policy(&self, account: AccountId, name: &str) -> Result<Option<PolicyRecord>>;
    /// The account's policies by name.
    async fn list_policies(&self, account: AccountId) -> Result<Vec<PolicyRecord>>;
    /// `NotFound` when there is no such policy, `InvalidState` while it is attached.
    async fn delete_policy(&self, account: AccountId, name: &str) -> Result<()>;
    /// Attaches the key's account's policy `name` to the key (idempotent). `NotFound` when
    /// the key or the policy does not exist.
    async fn attach_policy(&self, access_key_id: &str, name: &str) -> Result<()>;
    /// `NotFound` when the policy is not attached to the key.
    async fn detach_policy(&self, access_key_id: &str, name: &str) -> Result<()>;
    /// The policies attached to a key, by name.
    async fn key_policies(&self, access_key_id: &str) -> Result<Vec<PolicyRecord>>;

    /// Fails with `AlreadyExists` when the id is taken or the scope already has a project,
    /// and `NotFound` when the account does not exist.
    async fn create_project(&self, project: &Project) -> Result<()>;
    async fn get_project(&self, id: &str) -> Result<Option<Project>>;
    /// The account's projects, one per region, ordered by region.
    async fn list_projects(&self, account: AccountId) -> Result<Vec<Project>>;
}

/// Customer master keys (CMKs): their records, aliases and versions, the purge of keys whose
/// deletion date has come, and automatic rotation's schedule.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Fails with `AlreadyExists` when the id or an alias is taken in the scope, or when
    /// `is_default` is set and the scope already has a default key.
    async fn create_key(&self, key: &KeyRecord) -> Result<()>;
    async fn get_key(&self, scope: &Scope, id: &str) -> Result<Option<KeyRecord>>;
    async fn get_key_by_alias(&self, scope: &Scope, alias: &str) -> Result<Option<KeyRecord>>;
    async fn get_default_key(&self, scope: &Scope) -> Result<Option<KeyRecord>>;
    /// Replaces the key's description, state, primary version and aliases with `key`'s and
    /// adds the versions not stored yet (versions are never removed). `NotFound` when the key
    /// does not exist; `AlreadyExists` when an alias is taken by another key of the scope.
    async fn update_key(&self, key: &KeyRecord) -> Result<()>;
    /// A page of the scope's keys in creation order, and their count.
    async fn list_keys(&self, scope: &Scope, page: PageRequest) -> Result<Page<KeyRecord>>;
    /// Whether any secret (in any state) is encrypted under the key.
    async fn key_in_use(&self, key_id: &str) -> Result<bool>;
    /// Deletes up to `limit` keys whose deletion date is at or before `now` and that protect
    /// no secret, with their material and aliases. Returns their scopes and ids.
    async fn purge_due_keys(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>>;
    /// Up to `limit` enabled keys with automatic rotation on and due at or before `now`,
    /// soonest first.
    async fn due_key_rotations(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>>;
}

/// Secrets: records with their tags, subscriptions and version metadata, sealed values, listing,
/// atomic writes, and the purge of secrets whose deletion window has ended.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The secret with this name in the scope, with all version metadata.
    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>>;
    /// The secret with this id, if it belongs to the scope.
    async fn get_secret_by_id(&self, scope: &Scope, id: Uuid) -> Result<Option<SecretRecord>>;
    /// A page of secrets (metadata and tags, `versions` left empty), ordered by creation
    /// time (then id), and the total count of matches.
    async fn list_secrets(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<SecretRecord>>;
    /// A page of the scope's secrets in name order (metadata and tags, `versions` left empty)
    /// that match `filter` and the walk's prefix, resumed after its `after` name. Read from the
    /// name index: the cost of a page depends on `walk.scan_limit`, not on how many secrets
    /// the scope holds or how deep the page is.
    async fn list_secrets_by_name(
        &self,
        scope: &Scope,
        filter: &SecretFilter,
        walk: &NameWalk,
    ) -> Result<NamePage>;
    async fn read_value(&self, secret_id: Uuid, version_id: &str) -> Result<Option<SealedValue>>;
    /// The secret with this name and the sealed value of the version `pick` chooses from it
    /// (none when `pick` chooses none): a value read in one call, and where the store can, in
    /// one snapshot.
    async fn get_secret_with_value(
        &self,
        scope: &Scope,
        name: &str,
        pick: &(dyn for<'s> Fn(&'s SecretRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<(SecretRecord, Option<SealedValue>)>> {
        let Some(secret) = self.get_secret(scope, name).await? else {
            return Ok(None);
        };
        let sealed = match pick(&secret) {
            Some(version_id) => self.read_value(secret.id, &version_id).await?,
            None => None,
        };
        Ok(Some((secret, sealed)))
    }
    async fn write_secret(&self, write: SecretWrite) -> Result<()>;
    /// The replication JSON [`SecretWrite::SetReplication`] recorded for the secret.
    async fn get_replication(&self, secret_id: Uuid) -> Result<Option<String>>;
    /// Deletes up to `limit` secrets whose deletion window ended at or before `now`.
    /// Returns the names purged, with their scopes.
    async fn purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(Scope, String)>>;
    /// Records that a value of the secret was read on the day that starts at `day` (midnight
    /// UTC): kept when later than the day recorded, ignored for a secret that is gone. It
    /// changes no revision and no cached record: a secret's last access is not a change of
    /// the secret.
    async fn record_access(&self, secret_id: Uuid, day: Timestamp) -> Result<()>;
    /// The staged versions of each of these secrets: `(version id, stage)` pairs, for the
    /// secrets that have any. One call for a page of a list, which carries no versions.
    async fn stages_of(
        &self,
        secret_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Vec<(String, Stage)>>>;
    /// The day each of these secrets was last read ([`SecretStore::record_access`]), for the
    /// ones read at all.
    async fn last_accessed(
        &self,
        secret_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Timestamp>>;
}

/// The event rules of a scope, which secrets subscribe to by name.
#[async_trait]
pub trait EventRuleStore: Send + Sync + 'static {
    /// Fails with `AlreadyExists` when the scope has a rule of that name.
    async fn create_event_rule(&self, rule: &EventRule) -> Result<()>;
    async fn get_event_rule(&self, scope: &Scope, name: &str) -> Result<Option<EventRule>>;
    /// Up to `limit` rules of the scope in creation order, starting after the rule named
    /// `after` (none when that rule does not exist).
    async fn list_event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>>;
    /// Replaces the rule's events, state, target and update time (found by scope and name).
    /// Returns `NotFound` when there is no such rule.
    async fn update_event_rule(&self, rule: &EventRule) -> Result<()>;
    /// Returns `NotFound` when there is no such rule and `InvalidState` while a secret
    /// (live or pending deletion) subscribes to it; the check and the delete are one step.
    async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()>;
}

/// What automatic rotation of secrets needs: the database instances managed secrets live on,
/// rotation tasks, and which secrets are due.
#[async_trait]
pub trait RotationStore: Send + Sync + 'static {
    /// Fails with `AlreadyExists` when the scope has an instance with the id.
    async fn create_db_instance(&self, instance: &DbInstance) -> Result<()>;
    async fn get_db_instance(&self, scope: &Scope, id: &str) -> Result<Option<DbInstance>>;
    /// The scope's instances by id.
    async fn list_db_instances(&self, scope: &Scope) -> Result<Vec<DbInstance>>;
    /// `NotFound` when there is no such instance; `InvalidState` while a secret (in any
    /// state) names it. The check and the delete are one step.
    async fn delete_db_instance(&self, scope: &Scope, id: &str) -> Result<()>;
    /// Creates or replaces a task, and applies `secret` (if any) in the same transaction: a
    /// task is never recorded without the version change it stands for, nor the reverse.
    /// A failed `secret` write (`Conflict` and the rest) leaves the task unwritten.
    async fn write_task(&self, task: &RotationTask, secret: Option<SecretWrite>) -> Result<()>;
    async fn get_task(&self, scope: &Scope, id: i64) -> Result<Option<RotationTask>>;
    /// The secret's tasks, newest first, at most `limit`.
    async fn secret_tasks(&self, secret_id: Uuid, limit: u32) -> Result<Vec<RotationTask>>;
    /// The scope's tasks with the names of their secrets, newest first, at most `limit`.
    async fn scope_tasks(&self, scope: &Scope, limit: u32) -> Result<Vec<(RotationTask, String)>>;
    /// Up to `limit` running tasks whose next attempt is at or before `now`, oldest first.
    async fn due_tasks(&self, now: Timestamp, limit: u32) -> Result<Vec<RotationTask>>;
    /// Up to `limit` enabled secrets with automatic rotation on and due at or before `now`,
    /// soonest first.
    async fn due_secret_rotations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>>;
}

/// Rewrap: walking every key version, access key and secret in id order, and replacing what
/// the root key wraps only while it is still what was read.
#[async_trait]
pub trait RewrapStore: Send + Sync + 'static {
    /// How many key versions, access keys and secrets the store holds.
    async fn rewrap_counts(&self) -> Result<RewrapCounts>;
    /// Up to `limit` keys of every scope with ids after `after`, by id.
    async fn keys_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<KeyRecord>>;
    /// Replaces a key version's wrapped material if it is still `old`; `false` when it is not
    /// (or the version is gone), so that a concurrent change is never overwritten.
    async fn replace_key_material(
        &self,
        key_id: &str,
        version: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool>;
    /// Up to `limit` access keys of every account with ids after `after`, by id.
    async fn access_keys_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>>;
    /// Replaces an access key's sealed secret if it is still `old`; `false` otherwise.
    async fn replace_access_secret(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool>;
    /// Up to `limit` secrets of every scope (in any state) with ids after `after`, by id.
    async fn secrets_after(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(Scope, Uuid)>>;
}

/// Leases: a named right to run one background job (the purge sweep, the rotation scheduler,
/// one rotation task, a rewrap, the first start's bootstrap), held by one holder (a node) at a
/// time until it lapses. Several nodes sharing a store ask for the same names; the store
/// decides who holds each, so a job runs on one node at a time, and when its holder stops
/// renewing (it was killed) another node takes the lease once it lapses.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes the lease `name` for `holder` for `ttl_ms` milliseconds from now (by the store's
    /// clock), or extends it when `holder` already holds it. `true` when `holder` holds it
    /// afterwards; `false` while another holder's lease runs.
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> Result<bool>;
    /// Gives the lease up if `holder` holds it, so another node may take it at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Whether other processes share this store's leases. A store that one process owns
    /// (SQLite: the file is locked) holds every lease for whoever asks, and its holders need
    /// not renew them.
    fn leases_are_shared(&self) -> bool;
}

/// One thing a backup holds, as the model has it: stored values stay sealed, and what the
/// root key wraps stays wrapped. [`BackupKind`] orders them so that each names only things of
/// earlier kinds, which is the order an export hands them out and an import can write them in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupItem {
    Account(Account),
    AccessKey(AccessKeyRecord),
    Policy(PolicyRecord),
    /// A policy attached to an access key of the policy's account.
    Attachment {
        access_key_id: String,
        policy: String,
    },
    Project(Project),
    /// A key with its versions (wrapped material) and aliases.
    Key(KeyRecord),
    EventRule(EventRule),
    DbInstance(DbInstance),
    /// A secret with its tags, subscriptions, versions and stages, each version's sealed
    /// value (by version id, in the record's version order), and its replication record.
    Secret {
        record: SecretRecord,
        values: Vec<(String, SealedValue)>,
        replication: Option<String>,
    },
    RotationTask(RotationTask),
}

/// The kinds of [`BackupItem`], in backup order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackupKind {
    Account,
    AccessKey,
    Policy,
    Attachment,
    Project,
    Key,
    EventRule,
    DbInstance,
    Secret,
    RotationTask,
}

impl BackupKind {
    pub const ALL: [BackupKind; 10] = [
        BackupKind::Account,
        BackupKind::AccessKey,
        BackupKind::Policy,
        BackupKind::Attachment,
        BackupKind::Project,
        BackupKind::Key,
        BackupKind::EventRule,
        BackupKind::DbInstance,
        BackupKind::Secret,
        BackupKind::RotationTask,
    ];

    /// The name a backup file and messages use.
    pub fn name(self) -> &'static str {
        match self {
            BackupKind::Account => "account",
            BackupKind::AccessKey => "access_key",
            BackupKind::Policy => "policy",
            BackupKind::Attachment => "attachment",
            BackupKind::Project => "project",
            BackupKind::Key => "key",
            BackupKind::EventRule => "event_rule",
            BackupKind::DbInstance => "db_instance",
            BackupKind::Secret => "secret",
            BackupKind::RotationTask => "rotation_task",
        }
    }
}

impl BackupItem {
    pub fn kind(&self) -> BackupKind {
        match self {
            BackupItem::Account(_) => BackupKind::Account,
            BackupItem::AccessKey(_) => BackupKind::AccessKey,
            BackupItem::Policy(_) => BackupKind::Policy,
            BackupItem::Attachment { .. } => BackupKind::Attachment,
            BackupItem::Project(_) => BackupKind::Project,
            BackupItem::Key(_) => BackupKind::Key,
            BackupItem::EventRule(_) => BackupKind::EventRule,
            BackupItem::DbInstance(_) => BackupKind::DbInstance,
            BackupItem::Secret { .. } => BackupKind::Secret,
            BackupItem::RotationTask(_) => BackupKind::RotationTask,
        }
    }
}

/// How many rows of each kind a store holds or a backup carries: the items, and the rows
/// inside them (a key's versions and aliases; a secret's versions, stages, tags and
/// subscriptions), each as the store counts its table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupCounts {
    pub accounts: u64,
    pub access_keys: u64,
    pub policies: u64,
    pub attachments: u64,
    pub projects: u64,
    pub keys: u64,
    pub key_versions: u64,
    pub key_aliases: u64,
    pub event_rules: u64,
    pub db_instances: u64,
    pub secrets: u64,
    pub versions: u64,
    pub stages: u64,
    pub tags: u64,
    pub subscriptions: u64,
    pub rotation_tasks: u64,
}

impl BackupCounts {
    /// Counts `item` and the rows inside it.
    pub fn add(&mut self, item: &BackupItem) {
        let n = |v: usize| v as u64;
        match item {
            BackupItem::Account(_) => self.accounts += 1,
            BackupItem::AccessKey(_) => self.access_keys += 1,
            BackupItem::Policy(_) => self.policies += 1,
            BackupItem::Attachment { .. } => self.attachments += 1,
            BackupItem::Project(_) => self.projects += 1,
            BackupItem::Key(k) => {
                self.keys += 1;
                self.key_versions += n(k.versions.len());
                self.key_aliases += n(k.aliases.len());
            }
            BackupItem::EventRule(_) => self.event_rules += 1,
            BackupItem::DbInstance(_) => self.db_instances += 1,
            BackupItem::Secret { record, .. } => {
                self.secrets += 1;
                self.versions += n(record.versions.len());
                self.stages += n(record.versions.iter().map(|v| v.stages.len()).sum());
                self.tags += n(record.tags.len());
                self.subscriptions += n(record.subscriptions.len());
            }
            BackupItem::RotationTask(_) => self.rotation_tasks += 1,
        }
    }

    /// Items of every kind (rows inside items not counted).
    pub fn items(&self) -> u64 {
        self.accounts
            + self.access_keys
            + self.policies
            + self.attachments
            + self.projects
            + self.keys
            + self.event_rules
            + self.db_instances
            + self.secrets
            + self.rotation_tasks
    }

    pub fn is_empty(&self) -> bool {
        *self == BackupCounts::default()
    }

    /// `accounts 2, secrets 40, ...`: the kinds that are not zero, for messages.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("accounts", self.accounts),
            ("access keys", self.access_keys),
            ("policies", self.policies),
            ("policy attachments", self.attachments),
            ("projects", self.projects),
            ("keys", self.keys),
            ("key versions", self.key_versions),
            ("key aliases", self.key_aliases),
            ("event rules", self.event_rules),
            ("database instances", self.db_instances),
            ("secrets", self.secrets),
            ("versions", self.versions),
            ("stages", self.stages),
            ("tags", self.tags),
            ("subscriptions", self.subscriptions),
            ("rotation tasks", self.rotation_tasks),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Which store a snapshot came from and what it holds, told before its first item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// `sqlite` or `postgres`.
    pub store: String,
    /// The store's schema version (its number of migrations applied).
    pub schema: u32,
    /// What the snapshot holds, counted inside it.
    pub counts: BackupCounts,
}

/// Where an export hands its snapshot: `begin` once, then every item in [`BackupKind`] order.
#[async_trait]
pub trait ExportSink: Send {
    async fn begin(&mut self, info: &SnapshotInfo) -> Result<()>;
    async fn item(&mut self, item: BackupItem) -> Result<()>;
}

/// Where an import takes its items from, until `None`.
#[async_trait]
pub trait ImportSource: Send {
    async fn next(&mut self) -> Result<Option<BackupItem>>;
}

/// The whole store at once, for backups, restores and moves between kinds of store.
#[async_trait]
pub trait BackupStore: Send + Sync + 'static {
    /// What the store holds now.
    async fn backup_counts(&self) -> Result<BackupCounts>;
    /// Hands everything the store holds to `sink`, read in one consistent snapshot while the
    /// store keeps serving: what a write committed is in it whole or not at all. `begin`
    /// gets the snapshot's counts, and the items handed out add up to them (an `Internal`
    /// error otherwise). Returns those counts.
    async fn export(&self, sink: &mut dyn ExportSink) -> Result<BackupCounts>;
    /// Writes every item `source` yields, exactly as given (ids, revisions, times, states),
    /// into this store, which must be empty (`InvalidState` naming what it holds, checked in
    /// the same transaction). All or nothing: one transaction that commits after the source
    /// ends, so a source that fails or an item the store refuses leaves the store as it was.
    /// Items must come in an order where each names only what came before (the export's).
    /// Returns the counts written.
    async fn import(&self, source: &mut dyn ImportSource) -> Result<BackupCounts>;
}

/// The refusal of an import into a store that holds something.
pub fn not_empty(holds: &BackupCounts) -> crate::Error {
    crate::Error::InvalidState {
        name: "store".into(),
        reason: format!(
            "the target store is not empty (it holds {}); restore only into a new data dir or an empty database",
            holds.summary()
        ),
    }
}

/// The whole contract: every area. Implemented for every type that implements all of them;
/// the core holds an `Arc<dyn Store>`.
pub trait Store:
    AccountStore
    + KeyStore
    + SecretStore
    + EventRuleStore
    + RotationStore
    + RewrapStore
    + LeaseStore
    + BackupStore
{
}

impl<T> Store for T where
    T: AccountStore
        + KeyStore
        + SecretStore
        + EventRuleStore
        + RotationStore
        + RewrapStore
        + LeaseStore
        + BackupStore
{
}

/// Every area trait and [`Store`], for `use coffer_core::store::prelude::*;` wherever a store's
/// methods are called.
pub mod prelude {
    pub use super::{
        AccountStore, BackupStore, EventRuleStore, KeyStore, LeaseStore, RewrapStore,
        RotationStore, SecretStore, Store,
    };
}

/// The request being served: when it began, and whether it has written yet.
struct RequestClock {
    began: std::time::Instant,
    wrote: std::cell::Cell<bool>,
}

tokio::task_local! {
    static REQUEST: RequestClock;
}

/// Runs `work` as the serving of one client request that begins now.
///
/// A read promises to see every write acknowledged before its request began. A store whose
/// cache is checked against a database other nodes write (PostgreSQL's) may therefore answer
/// a second read of the same request from a check it made after this instant, without asking
/// the database again: a GetSecretValue reads the secret once for its resource policy and once
/// for its value, and the second read needs no probe of its own.
pub async fn serving_request<F: std::future::Future>(work: F) -> F::Output {
    let clock = RequestClock {
        began: std::time::Instant::now(),
        wrote: std::cell::Cell::new(false),
    };
    REQUEST.scope(clock, work).await
}

/// When the request being served began; `None` outside of one (background work, tools), and
/// once the request has written, where no earlier check may stand in for a new one.
pub fn request_began() -> Option<std::time::Instant> {
    REQUEST
        .try_with(|r| (!r.wrote.get()).then_some(r.began))
        .ok()
        .flatten()
}

/// Notes that the request being served writes. Its later reads ask the database again: a
/// write that lost a race (a revision conflict) retries on what the database holds now, not
/// on an entry another reader of this node put back meanwhile.
pub fn request_writes() {
    let _ = REQUEST.try_with(|r| r.wrote.set(true));
}
