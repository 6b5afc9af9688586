//! The lines of a backup file: one JSON object per item, tagged by `kind`, in the model's terms
//! but spelled out here, so that the file format changes only when its version number does
//! (a change to the model does not silently change what old files mean). Bytes (sealed
//! values, wrapped material) are standard base64; times are milliseconds since the epoch.

use coffer_core::store::BackupItem;
use coffer_core::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::refuse;

/// Bytes as standard base64 text.
mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// A value as it rests in the store: which key version wraps its data key, the wrapped data
/// key and the ciphertext.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    key_id: String,
    key_version: String,
    #[serde(with = "b64")]
    wrapped_data_key: Vec<u8>,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

impl From<SealedValue> for Sealed {
    fn from(v: SealedValue) -> Self {
        Sealed {
            key_id: v.key_id,
            key_version: v.key_version,
            wrapped_data_key: v.envelope.wrapped_data_key,
            ciphertext: v.envelope.ciphertext,
        }
    }
}

impl From<Sealed> for SealedValue {
    fn from(v: Sealed) -> Self {
        SealedValue {
            key_id: v.key_id,
            key_version: v.key_version,
            envelope: coffer_crypto::Envelope {
                wrapped_data_key: v.wrapped_data_key,
                ciphertext: v.ciphertext,
            },
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyVersionLine {
    id: String,
    created_at: i64,
    #[serde(with = "b64")]
    wrapped_material: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionLine {
    version_id: String,
    created_at: i64,
    /// `text` or `binary`.
    value_kind: String,
    /// Stored stage names: `@current`, `@previous`, `@pending`, `=<custom label>`.
    stages: Vec<String>,
    expires_at: Option<i64>,
    value: Sealed,
}

/// One line of a backup between its header and its end.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Line {
    Account {
        id: u64,
        name: String,
        operator: bool,
        created_at: i64,
        /// Absent in backups made before accounts had numbers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_number: Option<String>,
    },
    AccessKey {
        id: String,
        account: u64,
        /// Sealed under the root key, bound to the key id.
        #[serde(with = "b64")]
        sealed_secret: Vec<u8>,
        enabled: bool,
        admin: bool,
        created_at: i64,
    },
    Policy {
        account: u64,
        name: String,
        document: String,
        created_at: i64,
        updated_at: i64,
    },
    Attachment {
        access_key_id: String,
        policy: String,
    },
    Project {
        id: String,
        account: u64,
        region: String,
    },
    Key {
        id: String,
        account: u64,
        region: String,
        aliases: Vec<String>,
        description: String,
        /// `enabled`, `disabled` or `pending_deletion` (with `state_at`, the deletion date).
        state: String,
        state_at: Option<i64>,
        is_default: bool,
        created_at: i64,
        primary_version: String,
        /// Oldest first; material wrapped by the root key.
        versions: Vec<KeyVersionLine>,
        rotation_enabled: bool,
        rotation_interval_secs: i64,
        next_rotation: Option<i64>,
    },
    EventRule {
        id: Uuid,
        account: u64,
        region: String,
        name: String,
        events: Vec<String>,
        enabled: bool,
        target_kind: String,
        target_id: String,
        target_name: String,
        created_at: i64,
        updated_at: i64,
    },
    DbInstance {
        id: String,
        account: u64,
        region: String,
        engine: String,
        host: String,
        port: u16,
        admin_user: String,
        /// Sealed under a version of the scope's default key.
        admin_password: Sealed,
        created_at: i64,
        tls: String,
        ca_pem: Option<String>,
        allow_cleartext_password: bool,
        allowed_privileges: Vec<String>,
    },
    Secret {
        id: Uuid,
        account: u64,
        region: String,
        name: String,
        secret_kind: SecretKind,
        description: String,
        key_id: String,
        tags: Vec<Tag>,
        /// `enabled`, `disabled` or `pending_delete` (with `purge_at`).
        state: String,
        purge_at: Option<i64>,
        rotation: RotationPolicy,
        extended_config: Option<String>,
        policy: Option<String>,
        subscriptions: Vec<String>,
        created_at: i64,
        updated_at: i64,
        revision: i64,
        /// Oldest first, each with its sealed value.
        versions: Vec<VersionLine>,
        /// The secret's replication record (absent from backups made before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replication: Option<String>,
    },
    RotationTask {
        id: i64,
        account: u64,
        region: String,
        secret_id: Uuid,
        task_kind: TaskKind,
        version_id: String,
        step: TaskStep,
        status: String,
        attempts: u32,
        applied: bool,
        last_error: Option<String>,
        next_attempt: i64,
        created_at: i64,
        updated_at: i64,
    },
}

fn scope(account: u64, region: String) -> Scope {
    Scope {
        account: AccountId(account),
        region,
    }
}

impl Line {
    /// The line of an item. Fails only for a secret whose record lists a version without a
    /// value (which no store hands out).
    pub(crate) fn from_item(item: BackupItem) -> Result<Line> {
        Ok(match item {
            BackupItem::Account(a) => Line::Account {
                id: a.id.0,
                name: a.name,
                operator: a.operator,
                created_at: a.created_at.0,
                account_number: a.account_number,
            },
            BackupItem::AccessKey(k) => Line::AccessKey {
                id: k.id,
                account: k.account.0,
                sealed_secret: k.sealed_secret,
                enabled: k.enabled,
                admin: k.admin,
                created_at: k.created_at.0,
            },
            BackupItem::Policy(p) => Line::Policy {
                account: p.account.0,
                name: p.name,
                document: p.document,
                created_at: p.created_at.0,
                updated_at: p.updated_at.0,
            },
            BackupItem::Attachment {
                access_key_id,
                policy,
            } => Line::Attachment {
                access_key_id,
                policy,
            },
            BackupItem::Project(p) => Line::Project {
                id: p.id,
                account: p.scope.account.0,
                region: p.scope.region,
            },
            BackupItem::Key(k) => {
                let (state, state_at) = match k.state {
                    KeyState::Enabled => ("enabled", None),
                    KeyState::Disabled => ("disabled", None),
                    KeyState::PendingDeletion { delete_at } => {
                        ("pending_deletion", Some(delete_at.0))
                    }
                };
                Line::Key {
                    id: k.id,
                    account: k.scope.account.0,
                    region: k.scope.region,
                    aliases: k.aliases,
                    description: k.description,
                    state: state.into(),
                    state_at,
                    is_default: k.is_default,
                    created_at: k.created_at.0,
                    primary_version: k.primary_version,
                    versions: k
                        .versions
                        .into_iter()
                        .map(|v| KeyVersionLine {
                            id: v.id,
                            created_at: v.created_at.0,
                            wrapped_material: v.wrapped_material,
                        })
                        .collect(),
                    rotation_enabled: k.rotation.enabled,
                    rotation_interval_secs: k.rotation.interval_secs,
                    next_rotation: k.rotation.next_at.map(|t| t.0),
                }
            }
            BackupItem::EventRule(r) => Line::EventRule {
                id: r.id,
                account: r.scope.account.0,
                region: r.scope.region,
                name: r.name,
                events: r.events.iter().map(|e| e.to_stored().to_string()).collect(),
                enabled: r.enabled,
                target_kind: r.target.kind,
                target_id: r.target.id,
                target_name: r.target.name,
                created_at: r.created_at.0,
                updated_at: r.updated_at.0,
            },
            BackupItem::DbInstance(i) => Line::DbInstance {
                id: i.id,
                account: i.scope.account.0,
                region: i.scope.region,
                engine: i.engine.as_str().into(),
                host: i.host,
                port: i.port,
                admin_user: i.admin_user,
                admin_password: i.admin_password.into(),
                created_at: i.created_at.0,
                tls: i.tls.as_str().into(),
                ca_pem: i.ca_pem,
                allow_cleartext_password: i.allow_cleartext_password,
                allowed_privileges: i.allowed_privileges,
            },
            BackupItem::Secret {
                record,
                mut values,
                replication,
            } => {
                let (state, purge_at) = match record.state {
                    SecretState::Enabled => ("enabled", None),
                    SecretState::Disabled => ("disabled", None),
                    SecretState::PendingDelete { purge_at } => ("pending_delete", Some(purge_at.0)),
                };
                let mut versions = Vec::with_capacity(record.versions.len());
                for v in record.versions {
                    let Some(at) = values.iter().position(|(id, _)| *id == v.version_id) else {
                        return Err(Error::internal(format!(
                            "backup: the secret {} has no value for its version {:?}",
                            record.id, v.version_id
                        )));
                    };
                    let (_, value) = values.swap_remove(at);
                    versions.push(VersionLine {
                        version_id: v.version_id,
                        created_at: v.created_at.0,
                        value_kind: v.kind.as_str().into(),
                        stages: v.stages.iter().map(Stage::to_stored).collect(),
                        expires_at: v.expires_at.map(|t| t.0),
                        value: value.into(),
                    });
                }
                Line::Secret {
                    id: record.id,
                    account: record.scope.account.0,
                    region: record.scope.region,
                    name: record.name,
                    secret_kind: record.kind,
                    description: record.description,
                    key_id: record.key_id,
                    tags: record.tags,
                    state: state.into(),
                    purge_at,
                    rotation: record.rotation,
                    extended_config: record.extended_config,
                    policy: record.policy,
                    subscriptions: record.subscriptions,
                    created_at: record.created_at.0,
                    updated_at: record.updated_at.0,
                    revision: record.revision,
                    versions,
                    replication,
                }
            }
            BackupItem::RotationTask(t) => Line::RotationTask {
                id: t.id,
                account: t.scope.account.0,
                region: t.scope.region,
                secret_id: t.secret_id,
                task_kind: t.kind,
                version_id: t.version_id,
                step: t.step,
                status: t.status.as_str().into(),
                attempts: t.attempts,
                applied: t.applied,
                last_error: t.last_error,
                next_attempt: t.next_attempt.0,
                created_at: t.created_at.0,
                updated_at: t.updated_at.0,
            },
        })
    }

    /// The item of a line; refuses text that names no state, stage, engine or event coffer
    /// knows.
    pub(crate) fn into_item(self) -> Result<BackupItem> {
        Ok(match self {
            Line::Account {
                id,
                name,
                operator,
                created_at,
                account_number,
            } => BackupItem::Account(Account {
                id: AccountId(id),
                name,
                operator,
                created_at: Timestamp(created_at),
                account_number,
            }),
            Line::AccessKey {
                id,
                account,
                sealed_secret,
                enabled,
                admin,
                created_at,
            } => BackupItem::AccessKey(AccessKeyRecord {
                id,
                account: AccountId(account),
                sealed_secret,
                enabled,
                admin,
                created_at: Timestamp(created_at),
            }),
            Line::Policy {
                account,
                name,
                document,
                created_at,
                updated_at,
            } => BackupItem::Policy(PolicyRecord {
                account: AccountId(account),
                name,
                document,
                created_at: Timestamp(created_at),
                updated_at: Timestamp(updated_at),
            }),
            Line::Attachment {
                access_key_id,
                policy,
            } => BackupItem::Attachment {
                access_key_id,
                policy,
            },
            Line::Project {
                id,
                account,
                region,
            } => BackupItem::Project(Project {
                id,
                scope: scope(account, region),
            }),
            Line::Key {
                id,
                account,
                region,
                aliases,
                description,
                state,
                state_at,
                is_default,
                created_at,
                primary_version,
                versions,
                rotation_enabled,
                rotation_interval_secs,
                next_rotation,
            } => {
                let state = match (state.as_str(), state_at) {
                    ("enabled", _) => KeyState::Enabled,
                    ("disabled", _) => KeyState::Disabled,
                    ("pending_deletion", Some(at)) => KeyState::PendingDeletion {
                        delete_at: Timestamp(at),
                    },
                    _ => return Err(refuse(format!("the key {id:?} has the state {state:?}"))),
                };
                BackupItem::Key(KeyRecord {
                    id,
                    scope: scope(account, region),
                    aliases,
                    description,
                    state,
                    is_default,
                    created_at: Timestamp(created_at),
                    primary_version,
                    versions: versions
                        .into_iter()
                        .map(|v| KeyVersion {
                            id: v.id,
                            created_at: Timestamp(v.created_at),
                            wrapped_material: v.wrapped_material,
                        })
                        .collect(),
                    rotation: KeyRotation {
                        enabled: rotation_enabled,
                        interval_secs: rotation_interval_secs,
                        next_at: next_rotation.map(Timestamp),
                    },
                })
            }
            Line::EventRule {
                id,
                account,
                region,
                name,
                events,
                enabled,
                target_kind,
                target_id,
                target_name,
                created_at,
                updated_at,
            } => {
                let events = events
                    .iter()
                    .map(|e| {
                        SecretEvent::from_stored(e).ok_or_else(|| {
                            refuse(format!("the event rule {name:?} names the event {e:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                BackupItem::EventRule(EventRule {
                    id,
                    scope: scope(account, region),
                    name,
                    events,
                    enabled,
                    target: NotifyTarget {
                        kind: target_kind,
                        id: target_id,
                        name: target_name,
                    },
                    created_at: Timestamp(created_at),
                    updated_at: Timestamp(updated_at),
                })
            }
            Line::DbInstance {
                id,
                account,
                region,
                engine,
                host,
                port,
                admin_user,
                admin_password,
                created_at,
                tls,
                ca_pem,
                allow_cleartext_password,
                allowed_privileges,
            } => {
                let engine = DbEngine::parse(&engine).ok_or_else(|| {
                    refuse(format!(
                        "the database instance {id:?} has the engine {engine:?}"
                    ))
                })?;
                let tls = TlsMode::parse(&tls).ok_or_else(|| {
                    refuse(format!(
                        "the database instance {id:?} has the TLS mode {tls:?}"
                    ))
                })?;
                BackupItem::DbInstance(DbInstance {
                    id,
                    scope: scope(account, region),
                    engine,
                    host,
                    port,
                    admin_user,
                    admin_password: admin_password.into(),
                    created_at: Timestamp(created_at),
                    tls,
                    ca_pem,
                    allow_cleartext_password,
                    allowed_privileges,
                })
            }
            Line::Secret {
                id,
                account,
                region,
                name,
                secret_kind,
                description,
                key_id,
                tags,
                state,
                purge_at,
                rotation,
                extended_config,
                policy,
                subscriptions,
                created_at,
                updated_at,
                revision,
                versions,
                replication,
            } => {
                let state = match (state.as_str(), purge_at) {
                    ("enabled", _) => SecretState::Enabled,
                    ("disabled", _) => SecretState::Disabled,
                    ("pending_delete", Some(at)) => SecretState::PendingDelete {
                        purge_at: Timestamp(at),
                    },
                    _ => {
                        return Err(refuse(format!(
                            "the secret {name:?} has the state {state:?}"
                        )))
                    }
                };
                let mut records = Vec::with_capacity(versions.len());
                let mut values = Vec::with_capacity(versions.len());
                for v in versions {
                    let kind = ValueKind::parse_stored(&v.value_kind).ok_or_else(|| {
                        refuse(format!(
                            "the secret {name:?} has a version of kind {:?}",
                            v.value_kind
                        ))
                    })?;
                    let stages = v
                        .stages
                        .iter()
                        .map(|s| {
                            Stage::from_stored(s).ok_or_else(|| {
                                refuse(format!("the secret {name:?} has the stage {s:?}"))
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    values.push((v.version_id.clone(), v.value.into()));
                    records.push(VersionRecord {
                        version_id: v.version_id,
                        created_at: Timestamp(v.created_at),
                        kind,
                        stages,
                        expires_at: v.expires_at.map(Timestamp),
                    });
                }
                BackupItem::Secret {
                    record: SecretRecord {
                        id,
                        scope: scope(account, region),
                        name,
                        kind: secret_kind,
                        description,
                        key_id,
                        tags,
                        state,
                        rotation,
                        extended_config,
                        policy,
                        subscriptions,
                        created_at: Timestamp(created_at),
                        updated_at: Timestamp(updated_at),
                        revision,
                        versions: records,
                    },
                    values,
                    replication,
                }
            }
            Line::RotationTask {
                id,
                account,
                region,
                secret_id,
                task_kind,
                version_id,
                step,
                status,
                attempts,
                applied,
                last_error,
                next_attempt,
                created_at,
                updated_at,
            } => BackupItem::RotationTask(RotationTask {
                id,
                scope: scope(account, region),
                secret_id,
                kind: task_kind,
                version_id,
                step,
                status: TaskStatus::parse(&status).ok_or_else(|| {
                    refuse(format!("the rotation task {id} has the status {status:?}"))
                })?,
                attempts,
                applied,
                last_error,
                next_attempt: Timestamp(next_attempt),
                created_at: Timestamp(created_at),
                updated_at: Timestamp(updated_at),
            }),
        })
    }
}
