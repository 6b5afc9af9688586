//! The Service runs every operation, whatever dialect asked for it. Dialects check their wire
//! rules (name charsets, sizes their cloud documents) before calling; the service enforces
//! the model's invariants (stages, version cap, states) and the server's quotas.
//!
//! This file holds the [`Service`] itself, the quotas it enforces, the lifetimes of the caches
//! it keeps and the retry bound its areas share. The operations live in submodules, one per
//! area: secrets and their values, keys, access (accounts, access keys, policies,
//! authorization), projects, event rules, managed database secrets and their rotation, rewrap,
//! the purge sweep and the first start. Helpers that more than one area needs sit in `common`,
//! which depends on no area.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use coffer_crypto::SecretKey;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::error::Result;
use crate::keyring::Keyring;
use crate::model::*;
use crate::password::{self, PasswordOptions};
use crate::store::Store;

mod access;
mod bootstrap;
mod common;
mod databases;
mod events;
mod keys;
pub mod lease;
mod projects;
mod purge;
mod replication;
mod rewrap;
mod rotation;
mod secrets;
pub use access::{generate_access_key_id, generate_access_key_secret, AuthenticatedKey};
pub use databases::{NewDatabaseSecret, NewDbInstance, NewProductSecret};
pub use events::{EventRuleChange, NewEventRule};
pub use keys::{parse_encryption_context, NewKey, Opened, DEFAULT_KEY_ALIAS, UNKNOWN_KEY_ID};
pub use projects::is_project_id;
pub use replication::{
    not_a_cross_account_replica, CrossAccountLink, NewReplica, ReplicaInfo, Replication,
};
pub use rewrap::{RewrapOptions, RewrapState, RewrapStatus};
pub use rotation::{HaltPoint, RotationOutcome, TaskView};
pub use secrets::{
    CreateSecret, DeleteMode, MetadataChange, PutValue, ReadValue, VersionSelector, WhenExists,
    WhenFull,
};

/// How many times an operation re-reads and retries after losing a race to another writer.
pub(crate) const MAX_RETRIES: usize = 16;

/// How long a looked-up access key (with its enabled flag and its policies, parsed) is trusted
/// before it is read again. A node that changes a key or a policy forgets its own copy at once;
/// every other node sharing the store reads the change within this time (plus the one request
/// already past its lookup): the cross-node bound for a disabled access key and a changed
/// policy. Costs one access key read per key and node per second.
const ACCESS_KEY_TTL_MS: i64 = 1_000;

/// How long a key seen enabled is trusted to still be, so that disabling a key stops reads of
/// its secrets within this time on every node (at once on the node that disabled it).
const KEY_STATE_TTL_MS: i64 = 1_000;

/// How long a project found by id is trusted before it is read again. A project never changes
/// account or region; it only goes away with its account, whose access keys go with it (and
/// are trusted no longer than [`ACCESS_KEY_TTL_MS`] either), so a request can reach a project
/// of a deleted account only while it can still authenticate as that account.
const PROJECT_TTL_MS: i64 = 1_000;

/// Most projects a node remembers; more start the memory over.
const MAX_PROJECTS_REMEMBERED: usize = 10_000;

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
    /// The audit log, told when a root key rotation begins (its chain is keyed by a key
    /// derived from the root key).
    audit: Option<Arc<dyn crate::AuditSink>>,
    /// This node's name as a lease holder (see [`lease`]).
    node_id: String,
    /// How long a lease lasts without renewal.
    lease_ttl: std::time::Duration,
    /// The leases this node holds now, by name.
    held_leases: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Set when the node stops: no lease is taken or renewed any more.
    leases_closed: Arc<std::sync::atomic::AtomicBool>,
    /// The number the first start gives the operator account (see
    /// [`Service::with_bootstrap_account_number`]).
    bootstrap_account_number: Option<String>,
    /// The day (midnight UTC) of the last access this node recorded, and the secrets whose
    /// read it recorded that day: a secret's first read of a day writes its last-accessed
    /// day, later reads of the day write nothing.
    accessed_today: Mutex<(i64, std::collections::HashSet<uuid::Uuid>)>,
    /// Projects found by id, with when (see [`Service::project`]): Huawei names one in every
    /// request, and reading it was a store query per request. Trusted for
    /// [`PROJECT_TTL_MS`]; dropped at once when this node deletes their account.
    projects: Mutex<HashMap<String, (Timestamp, Project)>>,
    /// Account numbers as read (see [`Service::account_number`]): the AWS dialect names the
    /// caller's in every answer, and reading it was a store query per request.
    account_numbers: Mutex<HashMap<AccountId, String>>,
}

/// Most account numbers remembered; a full table starts over empty.
const ACCOUNT_NUMBERS_MAX: usize = 10_000;

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
            audit: None,
            node_id: format!("node-{}", uuid::Uuid::new_v4().simple()),
            lease_ttl: lease::DEFAULT_LEASE_TTL,
            held_leases: Arc::new(Mutex::new(Default::default())),
            leases_closed: Arc::default(),
            bootstrap_account_number: None,
            accessed_today: Mutex::new((i64::MIN, Default::default())),
            projects: Mutex::new(HashMap::new()),
            account_numbers: Mutex::new(HashMap::new()),
        }
    }

    /// The 12-digit account number the first start gives the operator account (test suites
    /// written for other servers expect a fixed one in ARNs). Refused unless it is 12 digits.
    /// Has no effect once the store is initialised.
    pub fn with_bootstrap_account_number(mut self, number: Option<String>) -> Result<Self> {
        if let Some(n) = &number {
            if !Account::is_account_number(n) {
                return Err(crate::Error::invalid(
                    "account number",
                    "an account number is exactly 12 digits",
                ));
            }
        }
        self.bootstrap_account_number = number;
        Ok(self)
    }

    /// The 12-digit number of `account`. An account's number never changes once it exists
    /// (it is chosen or derived when the account is made), and account ids are random and not
    /// given again, so a number once read stays true for the life of the process; a deleted
    /// account's keys no longer authenticate, so nothing reaches it through a remembered one.
    pub async fn account_number(&self, account: AccountId) -> Result<String> {
        if let Some(n) = self
            .account_numbers
            .lock()
            .ok()
            .and_then(|m| m.get(&account).cloned())
        {
            return Ok(n);
        }
        let number = self.account(account).await?.number();
        if let Ok(mut m) = self.account_numbers.lock() {
            if m.len() >= ACCOUNT_NUMBERS_MAX {
                m.clear();
            }
            m.insert(account, number.clone());
        }
        Ok(number)
    }

    /// The audit log whose key follows the root key: a rewrap that replaces the root key
    /// moves the log to the new key before it moves anything else.
    pub fn with_audit(mut self, audit: Arc<dyn crate::AuditSink>) -> Self {
        self.audit = Some(audit);
        self
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

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A key for `label`'s purpose derived from the root key in use now (the new one once a
    /// rotation began): for files the server keeps beside the store that must not be
    /// forged by whoever can write them. The root key itself never leaves the keyring.
    pub fn root_derived_key(&self, label: &[u8]) -> SecretKey {
        self.keyring.current_root().derive(label)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn random_password(&self, opts: &PasswordOptions) -> Result<Zeroizing<String>> {
        password::generate(opts, &mut rand::rngs::OsRng)
    }
}
