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
    /// `YYYY-MM-DD hh:mm:ss` in UTC, the form Tencent's rotation fields use.
    pub fn to_datetime_text(self) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(self.as_secs())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        t.format(&fmt).unwrap_or_default()
    }

    /// Reads `YYYY-MM-DD hh:mm:ss` (UTC).
    pub fn parse_datetime_text(s: &str) -> Option<Self> {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let t = time::PrimitiveDateTime::parse(s.trim(), &fmt).ok()?;
        Some(Timestamp::from_secs(t.assume_utc().unix_timestamp()))
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
    /// The 12-digit number that APIs numbering accounts show (AWS ARNs); `None` for an
    /// account stored without one, which then shows [`Account::derived_number`].
    pub account_number: Option<String>,
}

impl Account {
    /// The account's 12-digit number: the stored one, else the last 12 digits of its id.
    pub fn number(&self) -> String {
        self.account_number
            .clone()
            .unwrap_or_else(|| Self::derived_number(self.id))
    }

    /// The last 12 decimal digits of an account id, zero-padded: what an account made
    /// without a chosen number gets (account ids are random, so are these).
    pub fn derived_number(id: AccountId) -> String {
        format!("{:012}", id.0 % 1_000_000_000_000)
    }

    /// Whether `s` can be an account number: exactly 12 ASCII digits.
    pub fn is_account_number(s: &str) -> bool {
        s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
    }
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

/// What a secret is: a value the client manages, or the credentials of a database account
/// whose password coffer owns and rotates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SecretKind {
    Generic,
    Database {
        engine: DbEngine,
        /// The registered [`DbInstance`] the account lives on.
        instance: String,
        sub_type: DbSubType,
        /// How versions spell their credentials (the creating cloud's JSON).
        format: CredentialFormat,
    },
}

impl SecretKind {
    /// Stable name, stored for filtering.
    pub fn type_name(&self) -> &'static str {
        match self {
            SecretKind::Generic => "Generic",
            SecretKind::Database { .. } => "Database",
        }
    }
    pub fn is_managed(&self) -> bool {
        !matches!(self, SecretKind::Generic)
    }
}

/// A database server coffer can manage accounts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DbEngine {
    MariaDb,
    MySql,
    Postgres,
}

impl DbEngine {
    pub const ALL: [DbEngine; 3] = [DbEngine::MariaDb, DbEngine::MySql, DbEngine::Postgres];

    /// The name operators and clouds use (`mariadb`, `mysql`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            DbEngine::MariaDb => "mariadb",
            DbEngine::MySql => "mysql",
            DbEngine::Postgres => "postgres",
        }
    }

    /// Case-insensitive; `postgresql` is accepted for PostgreSQL.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mariadb" => Some(DbEngine::MariaDb),
            "mysql" => Some(DbEngine::MySql),
            "postgres" | "postgresql" => Some(DbEngine::Postgres),
            _ => None,
        }
    }

    /// MariaDB and MySQL share accounts' shape (`user@host`) and statements.
    pub fn is_mysql_family(self) -> bool {
        matches!(self, DbEngine::MariaDb | DbEngine::MySql)
    }
}

/// How a managed secret uses accounts. `SingleUser` changes one account's password;
/// `DoubleUsers` alternates between two accounts, so the credentials a client read before a
/// rotation keep working until the next one (Alibaba `DoubleUsers`, Huawei `MultiUser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DbSubType {
    SingleUser,
    DoubleUsers,
}

/// The JSON a managed version's value is written in: each cloud spells credentials its own
/// way and its clients parse that spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialFormat {
    /// `{"AccountName": .., "AccountPassword": ..}`
    Alibaba,
    /// `{"UserName": .., "Password": ..}`
    Tencent,
    /// `{"username": .., "password": ..}`
    Huawei,
}

/// One database account's name and password, as a managed version holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct DbCredentials {
    pub account: String,
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredentials")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl DbCredentials {
    /// The value text of a version, in `format`.
    pub fn encode(&self, format: CredentialFormat) -> zeroize::Zeroizing<String> {
        let (user, pass) = match format {
            CredentialFormat::Alibaba => ("AccountName", "AccountPassword"),
            CredentialFormat::Tencent => ("UserName", "Password"),
            CredentialFormat::Huawei => ("username", "password"),
        };
        let mut map = serde_json::Map::new();
        map.insert(user.into(), self.account.clone().into());
        map.insert(pass.into(), self.password.as_str().into());
        zeroize::Zeroizing::new(serde_json::Value::Object(map).to_string())
    }

    /// Reads credentials in any of the formats (a version written by one cloud's client can
    /// be rotated whichever cloud asks). `None` when the text is none of them.
    pub fn decode(text: &str) -> Option<Self> {
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        for (user, pass) in [
            ("AccountName", "AccountPassword"),
            ("UserName", "Password"),
            ("username", "password"),
        ] {
            if let (Some(serde_json::Value::String(u)), Some(serde_json::Value::String(p))) =
                (parsed.get(user), parsed.get(pass))
            {
                return Some(DbCredentials {
                    account: u.clone(),
                    password: zeroize::Zeroizing::new(p.clone()),
                });
            }
        }
        None
    }
}

/// A registered database server of a scope: what managed secrets name as their instance
/// (Alibaba `DBInstanceId`, Tencent `InstanceID`, Huawei `InstanceId`). The admin password is
/// sealed under the scope's default key, bound to the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInstance {
    pub id: String,
    pub scope: Scope,
    pub engine: DbEngine,
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: SealedValue,
    pub created_at: Timestamp,
    /// How coffer's connections to the instance are protected.
    pub tls: TlsMode,
    /// The PEM certificates `VerifyFull` trusts; `None`: the public web roots.
    pub ca_pem: Option<String>,
    /// Whether a PostgreSQL server that is not verified may be sent a password in cleartext.
    pub allow_cleartext_password: bool,
    /// The privileges coffer may give an account on this instance (upper case), set by
    /// whoever registered it; see [`crate::database::DEFAULT_ALLOWED_PRIVILEGES`].
    pub allowed_privileges: Vec<String>,
}

/// How coffer connects to a registered database instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsMode {
    /// No TLS: passwords and statements cross the network in the clear.
    Disable,
    /// TLS, with any certificate: safe from a listener, not from a man in the middle.
    Require,
    /// TLS with a certificate that a trusted CA issued for the instance's host.
    VerifyFull,
}

impl TlsMode {
    /// The operator's spelling (`disable`, `require`, `verify-full`, as libpq's sslmode).
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "disable" => Some(TlsMode::Disable),
            "require" => Some(TlsMode::Require),
            "verify-full" => Some(TlsMode::VerifyFull),
            _ => None,
        }
    }

    /// What an instance gets when its registration names no mode: `verify-full`, except for
    /// a loopback host (`localhost`, 127.0.0.0/8, ::1), whose traffic never leaves the machine
    /// and where a database rarely has a certificate for the name.
    pub fn default_for_host(host: &str) -> Self {
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            TlsMode::Disable
        } else {
            TlsMode::VerifyFull
        }
    }
}

/// What a rotation task does to the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// Creates the account a product secret was asked for (Tencent CreateProductSecret), on
    /// each of `hosts` (MariaDB/MySQL) with `grants`.
    Provision {
        hosts: Vec<String>,
        grants: Vec<crate::database::Grant>,
    },
    /// Gives an account a new password (or, with two users, the other account).
    Rotate,
}

/// The next step a task runs. A task is created together with its `Pending` version (the
/// `create` step); then `Set` applies the password on the database, `Test` logs in with it
/// and `Finish` moves `Current`/`Previous`. Each step is recorded before the next begins,
/// so a restart resumes where the task stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStep {
    Set,
    Test,
    Finish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Not finished: runs now or at `next_attempt`.
    Running,
    Succeeded,
    /// Gave up without changing the database; the pending version was removed.
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            TaskStatus::Running,
            TaskStatus::Succeeded,
            TaskStatus::Failed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One run of the rotation state machine on one secret. Its id is the number clouds call a
/// flow or task id (Tencent `FlowID`, Huawei `rotation_task_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationTask {
    pub id: i64,
    pub scope: Scope,
    pub secret_id: Uuid,
    pub kind: TaskKind,
    /// The version the task creates: staged `Pending` until the task finishes.
    pub version_id: String,
    pub step: TaskStep,
    pub status: TaskStatus,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// The database took the new password at least once: from then on the task never rolls
    /// back (its pending version may be the database's password), it only retries.
    pub applied: bool,
    /// Why the last attempt failed (never a password).
    pub last_error: Option<String>,
    /// When a running task is next tried.
    pub next_attempt: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl RotationTask {
    /// A task about to run its first step (`Set`) now, with its pending version.
    pub fn start(
        id: i64,
        scope: Scope,
        secret_id: Uuid,
        kind: TaskKind,
        version_id: String,
        now: Timestamp,
    ) -> Self {
        RotationTask {
            id,
            scope,
            secret_id,
            kind,
            version_id,
            step: TaskStep::Set,
            status: TaskStatus::Running,
            attempts: 0,
            applied: false,
            last_error: None,
            next_attempt: now,
            created_at: now,
            updated_at: now,
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
    /// Why the latest rotation failed, until one succeeds (clouds show rotation as broken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Rotations that failed in a row; spaces out automatic retries.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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

/// A walk through a scope's secrets in name order (bytes, as UTF-8 compares), resumed after a
/// name rather than counted from the start: what a list of a million secrets pages with, since
/// every page is one range read of the name index however deep it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameWalk {
    /// Only names that start with this text (a range of the index, not a scan).
    pub prefix: Option<String>,
    /// Resume strictly after this name.
    pub after: Option<String>,
    /// Most secrets returned.
    pub limit: u32,
    /// Most secrets examined (read from the index in order) before the walk stops, whatever
    /// the other filter conditions let through: the bound on one request's work. A walk that
    /// stops on it says where to resume ([`NamePage::stopped`]).
    pub scan_limit: u32,
}

/// A page of a [`NameWalk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePage {
    pub items: Vec<SecretRecord>,
    /// Where the next page resumes (`None`: the walk reached the end of the range).
    pub resume_after: Option<String>,
    /// The walk stopped at its scan limit before the page filled: secrets after
    /// `resume_after` were not examined yet.
    pub stopped: bool,
}

/// The smallest text greater than every text that starts with `prefix` (byte order), or `None`
/// when there is none (the prefix is empty or made only of the last code point). With it a
/// prefix becomes the index range `[prefix, end)`.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // UTF-8 byte order is code point order; the next code point skips the surrogates.
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            c => char::from_u32(c + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// One page of a list plus the count of all matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[cfg(test)]
mod name_walk_tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_before_the_first_text_without_it() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let end = prefix_end("db/").unwrap_or_default();
        for inside in ["db/", "db/a", "db/\u{10FFFF}\u{10FFFF}", "db/zzz"] {
            assert!(inside < end.as_str(), "{inside}");
        }
        assert!("db0" >= end.as_str());
    }
}
