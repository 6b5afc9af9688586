//! Tencent Cloud KMS 2019-01-18 (service `kms`, same endpoint as SSM; Tencent's KMS API
//! reference): symmetric keys, their states and one alias each, and Encrypt / Decrypt / data
//! keys. A Tencent alias `name` is the core alias `alias/name`, so the key is the same key under
//! the same alias through Alibaba's API.
//! Operations that act on one key get its `KeyId` as the request sent it, already read.

use base64::Engine;
use coffer_core::error::Resource;
use coffer_core::service::NewKey;
use coffer_core::{Error, KeyRecord, KeyState, PageRequest};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::render::obj;
use crate::request::Call;

type OpResult = Result<Map<String, Value>, ApiError>;

const MAX_DESCRIPTION: usize = 1024;
const MAX_PLAINTEXT: usize = 4096;
const MAX_CONTEXT: usize = 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn key_error(e: Error) -> ApiError {
    match e {
        Error::NotFound {
            what: Resource::Key,
            name,
        } => ApiError::new(
            "ResourceUnavailable.CmkNotFound",
            format!("The key {name:?} does not exist."),
        ),
        Error::Disabled {
            what: Resource::Key,
            name,
        } => ApiError::new(
            "ResourceUnavailable.CmkDisabled",
            format!("The key {name:?} is not enabled."),
        ),
        Error::AlreadyExists {
            what: Resource::Key,
            name,
        } => ApiError::new(
            "FailedOperation.AliasExists",
            format!(
                "The alias {:?} is taken.",
                name.trim_start_matches("alias/")
            ),
        ),
        Error::InvalidState { reason, .. } if reason.contains("pending deletion") => ApiError::new(
            "ResourceUnavailable.CmkStateNotSupport",
            format!("{reason}."),
        ),
        Error::InvalidState { reason, .. } => {
            ApiError::new("UnsupportedOperation", format!("{reason}."))
        }
        other => other.into(),
    }
}

fn state(k: &KeyRecord) -> &'static str {
    match k.state {
        KeyState::Enabled => "Enabled",
        KeyState::Disabled => "Disabled",
        KeyState::PendingDeletion { .. } => "PendingDelete",
    }
}

/// The Tencent alias: the first core alias, without its `alias/` prefix.
fn tencent_alias(k: &KeyRecord) -> String {
    k.aliases
        .iter()
        .find_map(|a| a.strip_prefix("alias/"))
        .unwrap_or_default()
        .to_string()
}

fn metadata(c: &Call, k: &KeyRecord) -> Value {
    let account = c.scope.account.0;
    json!({
        "KeyId": k.id,
        "Alias": tencent_alias(k),
        "CreateTime": k.created_at.as_secs(),
        "Description": k.description,
        "KeyState": state(k),
        "KeyUsage": "ENCRYPT_DECRYPT",
        "Type": 1,
        "CreatorUin": account,
        "KeyRotationEnabled": k.rotation.enabled,
        "RotateDays": k.rotation.interval_secs / 86_400,
        "LastRotateTime": k.last_rotation().map_or(0, |t| t.as_secs()),
        "Owner": "user",
        "NextRotateTime": k.rotation.next_at.filter(|_| k.rotation.enabled).map_or(0, |t| t.as_secs()),
        "DeletionDate": deletion_date(k),
        "Origin": "TENCENT_KMS",
        "ValidTo": 0,
        "ResourceId": format!("creatorUin/{account}/{}", k.id),
    })
}

/// When a key pending deletion goes, in seconds; 0 for other keys.
fn deletion_date(k: &KeyRecord) -> i64 {
    match k.state {
        KeyState::PendingDeletion { delete_at } => delete_at.as_secs(),
        _ => 0,
    }
}

/// `Alias`: 1..60 of `[A-Za-z0-9_-]`, starting with a letter or digit; `kms-` is reserved.
fn alias(c: &Call) -> Result<String, ApiError> {
    let a = c.params.required_str("Alias")?;
    let ok = (1..=60).contains(&a.len())
        && a.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(ApiError::invalid_value(
            "Alias",
            "1 to 60 characters of A-Z a-z 0-9 _ -, starting with a letter or digit",
        ));
    }
    if a.to_ascii_lowercase().starts_with("kms-") {
        return Err(ApiError::invalid_value(
            "Alias",
            "the kms- prefix is reserved",
        ));
    }
    Ok(format!("alias/{a}"))
}

fn description(c: &Call) -> Result<Option<String>, ApiError> {
    let d = c.params.str("Description")?;
    if d.is_some_and(|d| d.len() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid_value(
            "Description",
            format!("longer than {MAX_DESCRIPTION} bytes"),
        ));
    }
    Ok(d.map(str::to_string))
}

pub async fn create_key(c: &Call) -> OpResult {
    let alias = alias(c)?;
    match c.params.str("KeyUsage")? {
        None | Some("ENCRYPT_DECRYPT") => {}
        Some(u) => {
            return Err(ApiError::new(
                "UnsupportedOperation",
                format!("KeyUsage {u:?} is not supported by this server; use ENCRYPT_DECRYPT."),
            ))
        }
    }
    match c.params.int("Type")? {
        None | Some(1) => {}
        Some(t) => {
            return Err(ApiError::new(
                "UnsupportedOperation",
                format!("Type {t} (external key material) is not supported by this server."),
            ))
        }
    }
    let key = c
        .service
        .create_key(
            &c.scope,
            NewKey {
                description: description(c)?.unwrap_or_default(),
                aliases: vec![alias],
                rotation_interval_secs: None,
            },
        )
        .await
        .map_err(key_error)?;
    let m = metadata(c, &key);
    Ok(obj(json!({
        "KeyId": m["KeyId"], "Alias": m["Alias"], "CreateTime": m["CreateTime"],
        "Description": m["Description"], "KeyState": m["KeyState"], "KeyUsage": m["KeyUsage"],
        "TagCode": 0, "TagMsg": "",
    })))
}

/// `EnableKeyRotation` (with `RotateDays`, 7 to 365, default 365) and `DisableKeyRotation`.
pub async fn set_rotation(c: &Call, key: String, enable: bool) -> OpResult {
    let days = if enable {
        let days = c.params.int("RotateDays")?.unwrap_or(365);
        if !(7..=365).contains(&days) {
            return Err(ApiError::invalid_value(
                "RotateDays",
                "it must be from 7 to 365",
            ));
        }
        Some(days * 86_400)
    } else {
        None
    };
    c.service
        .set_key_rotation(&c.scope, &key, Some(enable), days)
        .await
        .map_err(key_error)?;
    Ok(Map::new())
}

pub async fn rotation_status(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    Ok(obj(json!({ "KeyRotationEnabled": key.rotation.enabled })))
}

pub async fn describe_key(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    Ok(obj(json!({ "KeyMetadata": metadata(c, &key) })))
}

/// How many key ids one DescribeKeys takes.
pub const MAX_DESCRIBE_KEYS: usize = 100;

/// `keys` are the `KeyIds`, each named by the id the permission judged it by.
pub async fn describe_keys(c: &Call, keys: Vec<String>) -> OpResult {
    c.params
        .str_list("KeyIds")?
        .filter(|a| !a.is_empty() && a.len() <= MAX_DESCRIBE_KEYS)
        .ok_or_else(|| ApiError::invalid_value("KeyIds", "give 1 to 100 key ids"))?;
    let mut out = vec![];
    for id in &keys {
        // Ids that name no key are left out, as the cloud does.
        match c.service.find_key(&c.scope, id).await {
            Ok(k) => out.push(metadata(c, &k)),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(key_error(e)),
        }
    }
    Ok(obj(json!({ "KeyMetadatas": out })))
}

pub async fn list_keys(c: &Call) -> OpResult {
    let offset = c.params.int("Offset")?.unwrap_or(0);
    let limit = c.params.int("Limit")?.unwrap_or(10);
    if offset < 0 {
        return Err(ApiError::invalid_value("Offset", "it must not be negative"));
    }
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_value("Limit", "it must be from 1 to 200"));
    }
    if c.params.int("Role")?.is_some_and(|r| r != 0) {
        return Err(ApiError::new(
            "UnsupportedOperation",
            "Only Role 0 (keys the caller created) exists on this server.",
        ));
    }
    let page = c
        .service
        .keys(
            &c.scope,
            PageRequest {
                offset: offset as u64,
                limit: limit as u32,
                newest_first: false,
            },
        )
        .await?;
    let keys: Vec<Value> = page
        .items
        .iter()
        .map(|k| json!({ "KeyId": k.id }))
        .collect();
    Ok(obj(json!({ "Keys": keys, "TotalCount": page.total })))
}

pub async fn set_enabled(c: &Call, key: String, enabled: bool) -> OpResult {
    c.service
        .set_key_enabled(&c.scope, &key, enabled)
        .await
        .map_err(key_error)?;
    Ok(Map::new())
}

pub async fn schedule_deletion(c: &Call, key: String) -> OpResult {
    let days = c
        .params
        .int("PendingWindowInDays")?
        .ok_or_else(|| ApiError::missing("PendingWindowInDays"))?;
    if !(7..=30).contains(&days) {
        return Err(ApiError::invalid_value(
            "PendingWindowInDays",
            "it must be from 7 to 30",
        ));
    }
    c.service
        .schedule_key_deletion(&c.scope, &key, days)
        .await
        .map_err(key_error)?;
    Ok(Map::new())
}

/// Tencent returns a key whose deletion is cancelled in the Disabled state.
pub async fn cancel_deletion(c: &Call, key: String) -> OpResult {
    let k = c
        .service
        .cancel_key_deletion(&c.scope, &key, KeyState::Disabled)
        .await
        .map_err(key_error)?;
    Ok(obj(json!({ "KeyId": k.id })))
}

/// Gives the key this alias, in place of the Tencent alias it had.
pub async fn update_alias(c: &Call, key: String) -> OpResult {
    let alias = alias(c)?;
    let k = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    if let Some(old) = k.aliases.iter().find(|a| a.starts_with("alias/")) {
        if *old == alias {
            return Ok(Map::new());
        }
        c.service
            .delete_alias(&c.scope, old)
            .await
            .map_err(key_error)?;
    }
    c.service
        .set_alias(&c.scope, &alias, &k.id, false)
        .await
        .map_err(key_error)?;
    Ok(Map::new())
}

pub async fn update_description(c: &Call, key: String) -> OpResult {
    let d = description(c)?.ok_or_else(|| ApiError::missing("Description"))?;
    c.service
        .update_key_description(&c.scope, &key, d)
        .await
        .map_err(key_error)?;
    Ok(Map::new())
}

/// `EncryptionContext`: JSON text of an object with string values (at most 1024 bytes).
fn context(c: &Call, param: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = c.params.str(param)?.filter(|t| !t.trim().is_empty()) else {
        return Ok(vec![]);
    };
    if text.len() > MAX_CONTEXT {
        return Err(ApiError::invalid_value(
            param,
            format!("longer than {MAX_CONTEXT} bytes"),
        ));
    }
    coffer_core::service::parse_encryption_context(text).ok_or_else(|| {
        ApiError::invalid_value(param, "it must be a JSON object with string values")
    })
}

pub fn ciphertext(c: &Call) -> Result<Vec<u8>, ApiError> {
    B64.decode(c.params.required_str("CiphertextBlob")?)
        .map_err(|_| ApiError::invalid_value("CiphertextBlob", "it is not valid base64"))
}

pub async fn encrypt(c: &Call, key: String) -> OpResult {
    let plain = B64
        .decode(c.params.required_str("Plaintext")?)
        .map_err(|_| ApiError::invalid_value("Plaintext", "it must be base64"))?;
    if plain.len() > MAX_PLAINTEXT {
        return Err(ApiError::invalid_value(
            "Plaintext",
            format!("larger than {MAX_PLAINTEXT} bytes"),
        ));
    }
    let ctx = context(c, "EncryptionContext")?;
    let (k, blob) = c
        .service
        .encrypt(&c.scope, &key, &plain, &ctx)
        .await
        .map_err(key_error)?;
    Ok(obj(
        json!({ "CiphertextBlob": B64.encode(blob), "KeyId": k.id }),
    ))
}

pub async fn decrypt(c: &Call) -> OpResult {
    let blob = ciphertext(c)?;
    let ctx = context(c, "EncryptionContext")?;
    let opened = c
        .service
        .decrypt(&c.scope, &blob, &ctx)
        .await
        .map_err(key_error)?;
    Ok(obj(json!({
        "KeyId": opened.key.id,
        "Plaintext": B64.encode(opened.plaintext.as_slice()),
    })))
}

pub async fn data_key(c: &Call, key: String) -> OpResult {
    let len = match c.params.int("NumberOfBytes")? {
        Some(n) if (1..=1024).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid_value(
                "NumberOfBytes",
                "it must be from 1 to 1024",
            ))
        }
        None => match c.params.str("KeySpec")? {
            None | Some("AES_256") => 32,
            Some("AES_128") => 16,
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "KeySpec",
                    "it must be AES_256 or AES_128",
                ))
            }
        },
    };
    let ctx = context(c, "EncryptionContext")?;
    let (k, plain, blob) = c
        .service
        .generate_data_key(&c.scope, &key, len, &ctx)
        .await
        .map_err(key_error)?;
    Ok(obj(json!({
        "KeyId": k.id,
        "Plaintext": B64.encode(plain.as_slice()),
        "CiphertextBlob": B64.encode(blob),
    })))
}

/// `destination` is the `DestinationKeyId` named by the id the permission judged it by.
pub async fn re_encrypt(c: &Call, destination: Option<String>) -> OpResult {
    let blob = ciphertext(c)?;
    let opened = c
        .service
        .decrypt(&c.scope, &blob, &context(c, "SourceEncryptionContext")?)
        .await
        .map_err(key_error)?;
    // Without a destination the blob is re-encrypted under its own key's newest material.
    let destination = match c.params.str("DestinationKeyId")?.and(destination) {
        Some(d) if !d.is_empty() => d,
        _ => opened.key.id.clone(),
    };
    let (k, new_blob) = c
        .service
        .encrypt(
            &c.scope,
            &destination,
            &opened.plaintext,
            &context(c, "DestinationEncryptionContext")?,
        )
        .await
        .map_err(key_error)?;
    Ok(obj(json!({
        "CiphertextBlob": B64.encode(new_blob),
        "KeyId": k.id,
        "SourceKeyId": opened.key.id,
        "ReEncrypted": true,
    })))
}

/// KMS GetServiceStatus: the service is always on here (the same for every caller).
pub fn get_service_status() -> OpResult {
    Ok(obj(json!({ "ServiceEnabled": true, "InvalidType": 0 })))
}
