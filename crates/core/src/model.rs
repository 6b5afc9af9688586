//! The neutral model: accounts, keys, secrets, versions and stages. Dialects map their own
//! names onto these (Alibaba `ACSCurrent`, Huawei `SYSCURRENT` → [`Stage::Current`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MILLIS_PER_DAY: i64 = 86_400_000;

    pub fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn as_millis(self) -> i64 {
        self.0
    }
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
    pub fn plus_days(self, days: i64) -> Self {
        self.plus_millis(days.saturating_mul(Self::MILLIS_PER_DAY))
    }
    /// `YYYY-MM-DDTHH:MM:SSZ`, the form most cloud APIs print.
    pub fn to_iso8601_seconds(self) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(self.as_secs())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        t.format(&fmt).unwrap_or_default()
    }
}

/// A tenant's numeric id (Alibaba uid, Tencent uin, AWS account).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(pub u64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a resource lives: an account in a coffer region. Everything except accounts and
/// access keys is scoped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: AccountId,
    /// The coffer region name (after the region map), not the cloud's region id.
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The operator account (the one the first start creates): its admin keys manage every
    /// account through the admin API and read the audit log.
    pub operator: bool,
    pub created_at: Timestamp,
}

/// A named policy document of an account, kept as the client wrote it (it is parsed and
/// checked before it is stored). Attached to access keys by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRecord {
    pub account: AccountId,
    pub name: String,
    pub document: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An access key as stored: the secret is sealed under the root key because every signature
/// scheme we speak needs the plaintext secret to recompute an HMAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub id: String,
    pub account: AccountId,
    pub sealed_secret: Vec<u8>,
    pub enabled: bool,
    /// Admin keys may do everything in their account without a policy.
    pub admin: bool,
    pub created_at: Timestamp,
}

/// An account's project in one region: Huawei addresses every request to a 32-hex project
/// id, which names the account and the region at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub scope: Scope,
}

/// A label on at most one version of a secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Current,
    Previous,
    Pending,
    Custom(String),
}

impl Stage {
    /// Stable text for storage. Built-ins and custom labels live in separate namespaces so a
    /// custom label spelled like a built-in can never be confused with it.
    pub fn to_stored(&self) -> String {
        match self {
            Stage::Current => "@current".into(),
            Stage::Previous => "@previous".into(),
            Stage::Pending => "@pending".into(),
            Stage::Custom(s) => format!("={s}"),
        }
    }
    pub fn from_stored(s: &str) -> Option<Stage> {
        match s {
            "@current" => Some(Stage::Current),
            "@previous" => Some(Stage::Previous),
            "@pending" => Some(Stage::Pending),
            _ => s.strip_prefix('=').map(|c| Stage::Custom(c.to_string())),
        }
    }
    pub fn is_builtin(&self) -> bool {
        !matches!(self, Stage::Custom(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    Text,
    Binary,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Binary => "binary",
        }
    }
    pub fn parse_stored(s: &str) -> Option<Self> {
        match s {
            "text" => Some(ValueKind::Text),
            "binary" => Some(ValueKind::Binary),
            _ => None,
        }
    }
}

/// A secret value in memory. Zeroed on drop; its `Debug` never prints the content.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretValue {
    Text(Zeroizing<String>),
    Binary(Zeroizing<Vec<u8>>),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Text(_) => f.write_str("SecretValue::Text(..)"),
            SecretValue::Binary(_) => f.write_str("SecretValue::Binary(..)"),
        }
    }
}

impl SecretValue {
    pub fn kind(&self) -> ValueKind {
        match self {
            SecretValue::Text(_) => ValueKind::Text,
            SecretValue::Binary(_) => ValueKind::Binary,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SecretValue::Text(s) => s.as_bytes(),
            SecretValue::Binary(b) => b,
        }
    }
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Constant-time equality, for idempotent puts that compare a new value with a stored one.
    pub fn ct_eq(&self, other: &SecretValue) -> bool {
        use subtle::ConstantTimeEq;
        self.kind() == other.kind() && bool::from(self.as_bytes().ct_eq(other.as_bytes()))
    }
}

/// What a secret is. Managed types (database credentials) arrive with the rotation work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SecretKind {
    Generic,
}

impl SecretKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SecretKind::Generic => "Generic",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretState {
    Enabled,
    Disabled,
    PendingDelete { purge_at: Timestamp },
}

impl SecretState {
    pub fn purge_at(self) -> Option<Timestamp> {
        match self {
            SecretState::PendingDelete { purge_at } => Some(purge_at),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    pub enabled: bool,
    pub interval_secs: Option<i64>,
    pub next: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// Metadata of one version; the sealed value is stored beside it and read separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRecord {
    pub version_id: String,
    pub created_at: Timestamp,
    pub kind: ValueKind,
    pub stages: Vec<Stage>,
    /// When the version is meant to expire (Huawei `expire_time`); informational.
    pub expires_at: Option<Timestamp>,
}

impl VersionRecord {
    pub fn has_stage(&self, stage: &Stage) -> bool {
        self.stages.contains(stage)
    }
}

/// A secret with all its metadata. `revision` increases with every committed change and is
/// what makes concurrent writers (threads or server nodes) detect each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRecord {
    pub id: Uuid,
    pub scope: Scope,
    pub name: String,
    pub kind: SecretKind,
    pub description: String,
    /// The key (CMK) whose material wraps this secret's data keys.
    pub key_id: String,
    pub tags: Vec<Tag>,
    pub state: SecretState,
    pub rotation: RotationPolicy,
    /// Type-specific configuration as JSON text (Alibaba ExtendedConfig and its peers).
    pub extended_config: Option<String>,
    /// A resource policy document attached to the secret (Alibaba secret policy), kept
    /// verbatim. Access is decided by coffer's own policies, not by this text.
    pub policy: Option<String>,
    /// Names of the scope's event rules this secret reports to (Huawei
    /// `event_subscriptions`). Each names an existing rule; the store enforces it.
    pub subscriptions: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revision: i64,
    /// Oldest first. Empty in list results, which carry metadata only.
    pub versions: Vec<VersionRecord>,
}

impl SecretRecord {
    pub fn version(&self, version_id: &str) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.version_id == version_id)
    }
    pub fn version_with_stage(&self, stage: &Stage) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.has_stage(stage))
    }
    pub fn is_pending_delete(&self) -> bool {
        matches!(self.state, SecretState::PendingDelete { .. })
    }
}

/// A value as it rests in the store: the envelope plus the key version that wraps its data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedValue {
    pub key_id: String,
    pub key_version: String,
    pub envelope: coffer_crypto::Envelope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion { delete_at: Timestamp },
}

/// One generation of a key's material, wrapped by the root key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVersion {
    pub id: String,
    pub created_at: Timestamp,
    pub wrapped_material: Vec<u8>,
}

/// A customer master key. `is_default` marks the key that secrets use when they name none;
/// each scope has at most one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub scope: Scope,
    pub aliases: Vec<String>,
    pub description: String,
    pub state: KeyState,
    pub is_default: bool,
    pub created_at: Timestamp,
    /// The version new data keys are wrapped with.
    pub primary_version: String,
    pub versions: Vec<KeyVersion>,
    pub rotation: KeyRotation,
}

impl KeyRecord {
    /// When the material last changed: the primary version's creation, `None` while the key
    /// still has its first material.
    pub fn last_rotation(&self) -> Option<Timestamp> {
        if self.versions.len() < 2 {
            return None;
        }
        self.versions
            .iter()
            .find(|v| v.id == self.primary_version)
            .map(|v| v.created_at)
    }
}

/// What a rewrap walks through, for its progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewrapCounts {
    pub key_versions: u64,
    pub access_keys: u64,
    pub secrets: u64,
}

/// Automatic rotation of a key's material. While `enabled`, the rotation sweep gives the key
/// a new primary version every `interval_secs`; `next_at` is when it next does. The interval
/// is kept while rotation is off, so turning it back on restores the user's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRotation {
    pub enabled: bool,
    pub interval_secs: i64,
    pub next_at: Option<Timestamp>,
}

impl KeyRotation {
    /// A year, the interval the clouds start from.
    pub const DEFAULT_INTERVAL_SECS: i64 = 365 * 86_400;
}

impl Default for KeyRotation {
    fn default() -> Self {
        Self {
            enabled: false,
            interval_secs: Self::DEFAULT_INTERVAL_SECS,
            next_at: None,
        }
    }
}

/// Something that happens to a secret and that an [`EventRule`] can announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretEvent {
    VersionCreated,
    VersionExpired,
    VersionNearExpiry,
    Rotated,
    RotationFailed,
    Deleted,
}

impl SecretEvent {
    pub const ALL: [SecretEvent; 6] = [
        SecretEvent::VersionCreated,
        SecretEvent::VersionExpired,
        SecretEvent::VersionNearExpiry,
        SecretEvent::Rotated,
        SecretEvent::RotationFailed,
        SecretEvent::Deleted,
    ];

    /// Stable text for storage.
    pub fn to_stored(self) -> &'static str {
        match self {
            SecretEvent::VersionCreated => "version-created",
            SecretEvent::VersionExpired => "version-expired",
            SecretEvent::VersionNearExpiry => "version-near-expiry",
            SecretEvent::Rotated => "rotated",
            SecretEvent::RotationFailed => "rotation-failed",
            SecretEvent::Deleted => "deleted",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.to_stored() == s)
    }
}

/// Where an event rule sends its notifications: a target of the cloud's notification
/// service (Huawei SMN topic), kept as the client gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyTarget {
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A named rule of a scope: which events of the secrets that subscribe to it are announced,
/// and where. Names are unique in the scope; secrets refer to rules by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRule {
    pub id: Uuid,
    pub scope: Scope,
    pub name: String,
    /// Distinct, in the order the client gave them.
    pub events: Vec<SecretEvent>,
    pub enabled: bool,
    pub target: NotifyTarget,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Selects which secrets a list returns. Empty vectors mean "no condition"; values inside one
/// vector are alternatives (OR), different fields must all hold (AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFilter {
    pub names: Vec<String>,
    pub name_contains: Option<String>,
    pub descriptions: Vec<String>,
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub kinds: Vec<String>,
    /// Some(true): only secrets pending deletion; Some(false): only the others.
    pub pending_delete: Option<bool>,
    /// Some(true): only disabled secrets; Some(false): only the others.
    pub disabled: Option<bool>,
    /// Every condition must hold: the secret has a tag with the key and, when `values` is
    /// not empty, one of those values.
    pub tags: Vec<TagCondition>,
    /// Only secrets subscribed to the event rule of this name.
    pub subscribed_to: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagCondition {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u32,
    pub newest_first: bool,
}

/// One page of a list plus the count of all matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}
