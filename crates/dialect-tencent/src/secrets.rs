//! The SSM actions on secrets: lifecycle, values, listing and service information
//! (Tencent's SSM API reference). Each checks its remaining fields (the secret's name
//! and a create's tags arrive parsed), calls the neutral service and returns the `Response`
//! fields (RequestId is added when the answer is rendered).

use base64::Engine;
use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{
    Error, PageRequest, SecretFilter, SecretKind, SecretRecord, SecretState, SecretValue, Stage,
    Tag, TagCondition,
};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::render::{creation_status, describe_fields, obj, render_credentials};
use crate::request::Call;

type OpResult = Result<Map<String, Value>, ApiError>;

/// The version id CreateSecret uses when the caller names none; GetSecretValue reads it
/// as "the current version" when no version has that id.
pub const DEFAULT_VERSION_ID: &str = "SSM_Current";

/// Most product secrets a `State` 4 or 5 listing looks through (those states are not stored
/// but derived from each secret's tasks).
const MAX_CREATING_SCAN: u32 = 10_000;

fn required_version(c: &Call) -> Result<String, ApiError> {
    let v = c.params.required_str("VersionId")?;
    params::version_id("VersionId", v)?;
    Ok(v.to_string())
}

/// Exactly one of `SecretString` and `SecretBinary` (base64).
fn value(p: &Params) -> Result<SecretValue, ApiError> {
    let s = p.str("SecretString")?.filter(|s| !s.is_empty());
    let b = p.str("SecretBinary")?.filter(|s| !s.is_empty());
    let v = match (s, b) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_value(
                "SecretString",
                "give SecretString or SecretBinary, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid_value(
                "SecretString",
                "give one of SecretString and SecretBinary",
            ))
        }
        (Some(s), None) => SecretValue::Text(Zeroizing::new(s.to_string())),
        (None, Some(b)) => SecretValue::Binary(Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|_| ApiError::invalid_value("SecretBinary", "it is not valid base64"))?,
        )),
    };
    if v.len() > params::MAX_VALUE_BYTES {
        let field = if v.kind() == coffer_core::ValueKind::Text {
            "SecretString"
        } else {
            "SecretBinary"
        };
        return Err(ApiError::invalid_value(
            field,
            format!("the value is larger than {} bytes", params::MAX_VALUE_BYTES),
        ));
    }
    Ok(v)
}

fn status(s: &SecretRecord) -> &'static str {
    match s.state {
        SecretState::Enabled => "Enabled",
        SecretState::Disabled => "Disabled",
        SecretState::PendingDelete { .. } => "PendingDelete",
    }
}

fn delete_time(s: &SecretRecord) -> i64 {
    s.state.purge_at().map_or(0, |t| t.as_secs())
}

/// User-defined secrets are type 0; database credentials (product secrets) type 1.
fn secret_type(s: &SecretRecord) -> i64 {
    match s.kind {
        SecretKind::Generic => 0,
        SecretKind::Database { .. } => 1,
    }
}

/// `key` is the `KmsKeyId` named by the id the permission judged it by.
pub async fn create_secret(
    c: &Call,
    name: String,
    tags: Vec<Tag>,
    key: Option<String>,
) -> OpResult {
    let p = &c.params;
    let version_id = match p.str("VersionId")?.filter(|v| !v.is_empty()) {
        Some(v) => {
            params::version_id("VersionId", v)?;
            v.to_string()
        }
        None => DEFAULT_VERSION_ID.to_string(),
    };
    match p.int("SecretType")? {
        None | Some(0) => {}
        Some(t) => {
            return Err(ApiError::invalid_value(
                "SecretType",
                format!("type {t} cannot be created with CreateSecret here; only 0 (user-defined) is supported"),
            ))
        }
    }
    match p.int("EncryptType")? {
        None | Some(0) => {}
        Some(_) => {
            return Err(ApiError::invalid_value(
                "EncryptType",
                "only 0 (KMS) is supported",
            ))
        }
    }
    if p.str("KmsHsmClusterId")?.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid_value(
            "KmsHsmClusterId",
            "HSM clusters are not supported",
        ));
    }
    let description = p.str("Description")?.unwrap_or("");
    params::description("Description", description)?;
    let additional = p.str("AdditionalConfig")?.filter(|s| !s.is_empty());
    if additional.is_some_and(|a| a.len() > params::MAX_ADDITIONAL_CONFIG_BYTES) {
        return Err(ApiError::invalid_value(
            "AdditionalConfig",
            format!("longer than {} bytes", params::MAX_ADDITIONAL_CONFIG_BYTES),
        ));
    }
    let value = value(p)?;
    let key = p.str("KmsKeyId")?.filter(|k| !k.is_empty()).and(key);
    let created = c
        .service
        .create_secret_within(
            &c.scope,
            CreateSecret {
                name: name.clone(),
                description: description.to_string(),
                kind: SecretKind::Generic,
                key,
                tags,
                version_id: version_id.clone(),
                value,
                extended_config: additional.map(str::to_string),
                policy: None,
                subscriptions: vec![],
            },
            c.max_secrets,
        )
        .await;
    match created {
        Ok(_) => {}
        // A name waiting for deletion is still taken, and Tencent says so the same way.
        Err(Error::InDeleteWindow { name }) => {
            return Err(ApiError::new(
                "ResourceInUse.SecretExists",
                format!("The secret {name:?} already exists (it is scheduled for deletion)."),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(obj(json!({
        "SecretName": name,
        "VersionId": version_id,
        "TagCode": 0,
        "TagMsg": "",
    })))
}

pub async fn get_secret_value(c: &Call, name: String) -> OpResult {
    let version_id = required_version(c)?;
    let secret = c.service.describe(&c.scope, &name).await?;
    // `SSM_Current` names the current version unless a version really has that id.
    let selector = if version_id == DEFAULT_VERSION_ID && secret.version(&version_id).is_none() {
        VersionSelector {
            version_id: None,
            stage: Some(Stage::Current),
        }
    } else {
        VersionSelector {
            version_id: Some(version_id),
            stage: None,
        }
    };
    let read = c.service.get_value(&c.scope, &name, &selector).await?;
    let (text, binary) = match &read.value {
        SecretValue::Text(t) if read.secret.kind.is_managed() => (
            render_credentials(t).unwrap_or_else(|| t.to_string()),
            String::new(),
        ),
        SecretValue::Text(t) => (t.to_string(), String::new()),
        SecretValue::Binary(b) => (
            String::new(),
            base64::engine::general_purpose::STANDARD.encode(b.as_slice()),
        ),
    };
    Ok(obj(json!({
        "SecretName": read.secret.name,
        "VersionId": read.version.version_id,
        "SecretString": text,
        "SecretBinary": binary,
    })))
}

pub async fn put_secret_value(c: &Call, name: String) -> OpResult {
    let version_id = required_version(c)?;
    let value = value(&c.params)?;
    // Tencent refuses a repeated version id whatever its value.
    let secret = c.service.describe(&c.scope, &name).await?;
    if secret.version(&version_id).is_some() {
        return Err(Error::AlreadyExists {
            what: coffer_core::error::Resource::Version,
            name: version_id,
        }
        .into());
    }
    c.service
        .put_value(
            &c.scope,
            &name,
            PutValue {
                version_id: version_id.clone(),
                value,
                stages: None,
                when_full: WhenFull::Refuse,
                max_versions: params::MAX_VERSIONS,
                // Tencent sets no stages of its own (labels other dialects put on the secret
                // stay), so only the server's quota applies.
                max_stages: usize::MAX,
                expires_at: None,
                // A version that appeared since the check above is refused alike.
                when_exists: WhenExists::Refuse,
            },
        )
        .await?;
    Ok(obj(json!({ "SecretName": name, "VersionId": version_id })))
}

pub async fn update_secret(c: &Call, name: String) -> OpResult {
    let version_id = required_version(c)?;
    let value = value(&c.params)?;
    c.service
        .replace_value(&c.scope, &name, &version_id, value)
        .await?;
    Ok(obj(json!({ "SecretName": name, "VersionId": version_id })))
}

pub async fn update_description(c: &Call, name: String) -> OpResult {
    let description = c
        .params
        .str("Description")?
        .ok_or_else(|| ApiError::missing("Description"))?;
    params::description("Description", description)?;
    c.service
        .update_description(&c.scope, &name, description.to_string())
        .await?;
    Ok(obj(json!({ "SecretName": name })))
}

pub async fn describe_secret(c: &Call, name: String) -> OpResult {
    let s = c.service.describe(&c.scope, &name).await?;
    let uin = c.scope.account.0;
    let mut out = obj(json!({
        "SecretName": s.name,
        "Description": s.description,
        "KmsKeyId": s.key_id,
        "CreateUin": uin,
        "CreateUinString": uin.to_string(),
        "Status": status(&s),
        "DeleteTime": delete_time(&s),
        "CreateTime": s.created_at.as_secs(),
        "SecretType": secret_type(&s),
        "ProductName": "",
        "ResourceID": "",
        "RotationStatus": false,
        "RotationFrequency": 0,
        "ResourceName": "",
        "ProjectID": 0,
        "AssociatedInstanceIDs": [],
        "TargetUin": 0,
        "TargetUinString": "",
        "AdditionalConfig": s.extended_config.clone().unwrap_or_default(),
        "EncryptType": 0,
        "EncryptSwitching": false,
        "AccountInfoList": [],
        "NextRotationTime": "",
    }));
    describe_fields(c, &s, &mut out).await?;
    Ok(out)
}

pub async fn list_secrets(c: &Call) -> OpResult {
    let p = &c.params;
    let offset = p.int("Offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_value("Offset", "it must not be negative"));
    }
    let limit = match p.int("Limit")?.unwrap_or(0) {
        0 => 20,
        n if n < 0 => return Err(ApiError::invalid_value("Limit", "it must not be negative")),
        n => n.min(1000),
    };
    let newest_first = match p.int("OrderType")?.unwrap_or(0) {
        0 => true,
        1 => false,
        _ => return Err(ApiError::invalid_value("OrderType", "it must be 0 or 1")),
    };
    let mut filter = SecretFilter {
        kinds: vec!["Generic".into()],
        ..Default::default()
    };
    let mut nothing = false;
    // Creating and Failed belong to product secrets whose account is being (or failed to
    // be) created; they are found among the product secrets, not by a stored state.
    let mut creation = None;
    match p.int("State")?.unwrap_or(0) {
        0 => {}
        1 => (filter.pending_delete, filter.disabled) = (Some(false), Some(false)),
        2 => (filter.pending_delete, filter.disabled) = (Some(false), Some(true)),
        3 => filter.pending_delete = Some(true),
        4 => creation = Some("Creating"),
        5 => creation = Some("Failed"),
        _ => return Err(ApiError::invalid_value("State", "it must be 0 to 5")),
    }
    match p.int("SecretType")?.unwrap_or(0) {
        0 => {}
        1 => filter.kinds = vec!["Database".into()],
        2..=4 => nothing = true,
        _ => return Err(ApiError::invalid_value("SecretType", "it must be 0 to 4")),
    }
    if let Some(search) = p.str("SearchSecretName")?.filter(|s| !s.is_empty()) {
        filter.name_contains = Some(search.to_string());
    }
    if let Some(items) = p.array("TagFilters")? {
        for item in items {
            let bad = || {
                ApiError::invalid(
                    "TagFilters",
                    "each filter must be {\"TagKey\": ..., \"TagValue\": [...]}",
                )
            };
            let o = item.as_object().ok_or_else(bad)?;
            let key = o.get("TagKey").and_then(Value::as_str).ok_or_else(bad)?;
            let values = match o.get("TagValue") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(vs)) => vs
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?,
                Some(_) => return Err(bad()),
            };
            filter.tags.push(TagCondition {
                key: key.to_string(),
                values,
            });
        }
    }
    let page = PageRequest {
        offset: offset as u64,
        limit: limit as u32,
        newest_first,
    };
    let (items, total) =
        if nothing || (creation.is_some() && !filter.kinds.contains(&"Database".to_string())) {
            (vec![], 0)
        } else if let Some(wanted) = creation {
            let all = PageRequest {
                offset: 0,
                limit: MAX_CREATING_SCAN,
                newest_first,
            };
            let mut matching = vec![];
            for s in c.service.list(&c.scope, &filter, all).await?.items {
                if creation_status(c, &s).await? == Some(wanted) {
                    matching.push(s);
                }
            }
            let total = matching.len() as u64;
            let items = matching
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            (items, total)
        } else {
            let found = c.service.list(&c.scope, &filter, page).await?;
            (found.items, found.total)
        };
    // Product secrets whose account is still being made (or failed to be) say so.
    let mut statuses = Vec::with_capacity(items.len());
    for s in &items {
        statuses.push(match creation_status(c, s).await? {
            Some(st) => st,
            None => status(s),
        });
    }
    let default_key = if items.is_empty() {
        None
    } else {
        Some(c.service.default_key(&c.scope).await?.id)
    };
    let uin = c.scope.account.0;
    let metadatas: Vec<Value> = items
        .iter()
        .zip(statuses)
        .map(|(s, status)| {
            json!({
                "SecretName": s.name,
                "Description": s.description,
                "KmsKeyId": s.key_id,
                "KmsKeyType": if default_key.as_deref() == Some(s.key_id.as_str()) { "DEFAULT" } else { "CUSTOMER" },
                "CreateUin": uin,
                "CreateUinString": uin.to_string(),
                "Status": status,
                "DeleteTime": delete_time(s),
                "CreateTime": s.created_at.as_secs(),
                "RotationStatus": i64::from(s.rotation.enabled),
                "NextRotationTime": s.rotation.next.filter(|_| s.rotation.enabled).map_or(0, |t| t.as_secs()),
                "SecretType": secret_type(s),
                "ProductName": "",
                "ResourceName": "",
                "ProjectID": 0,
                "AssociatedInstanceIDs": [],
                "TargetUin": 0,
                "TargetUinString": "",
                "RotationFrequency": s.rotation.interval_secs.map_or(0, |i| i / 86_400),
                "ResourceID": match &s.kind {
                    SecretKind::Database { instance, .. } => instance.as_str(),
                    SecretKind::Generic => "",
                },
                "RotationBeginTime": "",
                "EncryptType": 0,
                "EncryptSwitching": false,
            })
        })
        .collect();
    Ok(obj(
        json!({ "TotalCount": total, "SecretMetadatas": metadatas }),
    ))
}

pub async fn list_secret_version_ids(c: &Call, name: String) -> OpResult {
    let s = c.service.describe(&c.scope, &name).await?;
    let versions: Vec<Value> = s
        .versions
        .iter()
        .map(|v| json!({ "VersionId": v.version_id, "CreateTime": v.created_at.as_secs() }))
        .collect();
    Ok(obj(json!({ "SecretName": s.name, "Versions": versions })))
}

pub async fn delete_secret_version(c: &Call, name: String) -> OpResult {
    let version_id = required_version(c)?;
    c.service
        .delete_version(&c.scope, &name, &version_id)
        .await?;
    Ok(obj(json!({ "SecretName": name, "VersionId": version_id })))
}

pub async fn set_enabled(c: &Call, name: String, enabled: bool) -> OpResult {
    c.service.set_enabled(&c.scope, &name, enabled).await?;
    Ok(obj(json!({ "SecretName": name })))
}

pub async fn delete_secret(c: &Call, name: String) -> OpResult {
    let days = c.params.int("RecoveryWindowInDays")?.unwrap_or(0);
    if !(0..=30).contains(&days) {
        return Err(ApiError::invalid_value(
            "RecoveryWindowInDays",
            "it must be 0 to 30",
        ));
    }
    if c.params.bool("CleanSSHKey")? == Some(true) {
        return Err(ApiError::invalid_value(
            "CleanSSHKey",
            "applies to SSH key secrets only",
        ));
    }
    let mode = if days == 0 {
        DeleteMode::Immediate
    } else {
        DeleteMode::Window { days }
    };
    // Tencent deletes only disabled secrets, and only once.
    let planned = c
        .service
        .delete(&c.scope, &name, mode, |s| match s.state {
            SecretState::Disabled => Ok(()),
            SecretState::Enabled => Err(Error::InvalidState {
                name: s.name.clone(),
                reason: "disable the secret before deleting it".into(),
            }),
            SecretState::PendingDelete { .. } => Err(Error::InvalidState {
                name: s.name.clone(),
                reason: "the secret is already scheduled for deletion".into(),
            }),
        })
        .await?;
    let delete_time = planned.unwrap_or_else(|| c.service.now()).as_secs();
    Ok(obj(
        json!({ "SecretName": name, "DeleteTime": delete_time, "FlowID": 0 }),
    ))
}

pub async fn restore_secret(c: &Call, name: String) -> OpResult {
    // A restored secret comes back disabled; EnableSecret makes it readable again.
    c.service
        .restore(&c.scope, &name, SecretState::Disabled)
        .await?;
    Ok(obj(json!({ "SecretName": name })))
}

pub async fn get_service_status(c: &Call) -> OpResult {
    let total = c
        .service
        .list(
            &c.scope,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await?
        .total;
    Ok(obj(json!({
        "ServiceEnabled": true,
        "InvalidType": 1,
        "AccessKeyEscrowEnabled": false,
        "ExpireTime": "",
        "QPSLimit": 0,
        "SecretLimit": c
            .max_secrets
            .unwrap_or(u64::MAX)
            .min(c.service.limits().max_secrets_per_scope),
        "PayModel": "",
        "RenewFlag": 0,
        "ResourceId": "",
        "TotalCount": total,
        "ResourceRegion": c.region_id,
    })))
}

/// The region ids this endpoint answers for (the same for every caller).
pub fn get_regions(c: &Call) -> OpResult {
    Ok(obj(json!({ "Regions": c.region_ids() })))
}
