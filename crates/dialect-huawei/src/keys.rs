//! Huawei Cloud KMS (DEW) v1.0 routes on the CSMS endpoint: `/v1.0/{project_id}/kms/...`,
//! signed the same way (SDK `huaweicloudsdkkms`, module v2). Symmetric AES-256 keys with
//! their alias, description, states, deletion window and automatic rotation, aliases, and
//! encrypt / decrypt / data keys. A `key_alias` `name` is the core alias `alias/name`, so the
//! key is the same key under the same alias through the other clouds' APIs; the scope's
//! default key is listed under `csms/default`.
//!
//! Wire facts: data ciphertexts are base64, data keys and their ciphertexts hex, lengths of
//! data keys in bits, times in epoch milliseconds as strings, states `"2"` enabled, `"3"`
//! disabled and `"4"` pending deletion; errors are `{"error": {"error_code", "error_msg"}}`.

use base64::Engine;
use coffer_core::error::Resource;
use coffer_core::service::{NewKey, DEFAULT_KEY_ALIAS};
use coffer_core::{Error, KeyRecord, KeyState, PageRequest};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::errors::ApiError;
use crate::params::str_field;
use crate::request::{ok, Call, OpResult};

/// How the default key is named in KMS answers, as CSMS names it.
const HW_DEFAULT_ALIAS: &str = "csms/default";
const MAX_ALIAS: usize = 255;
const MAX_DESCRIPTION: usize = 255;
const MAX_PLAINTEXT: usize = 4096;
const MAX_AAD: usize = 128;
const MAX_LIST_LIMIT: usize = 1000;
/// Rotation interval bounds in days (`update-key-rotation-interval`).
const MIN_ROTATION_DAYS: i64 = 30;
const MAX_ROTATION_DAYS: i64 = 365;
/// The interval a key gets when rotation is turned on without one: a year.
const DEFAULT_ROTATION_DAYS: i64 = 365;
/// `create-datakey` sizes in bits.
const MAX_DATAKEY_BITS: usize = 8192;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// --- errors -----------------------------------------------------------------------------------
//
// Codes from Huawei's KMS error code table: KMS.0202 bad JSON, KMS.0204 a required parameter
// missing, KMS.0207 no such key, KMS.0209 key disabled, KMS.0210 key pending deletion,
// KMS.0211 not for a default key, KMS.0306 no permission, KMS.0308 an invalid parameter,
// KMS.1101 bad key_alias, KMS.1103 bad key_description, KMS.1104 alias taken, KMS.1201 key not
// disabled, KMS.1301 key not enabled, KMS.1401 deletion window, KMS.1402 already pending
// deletion, KMS.1501 not pending deletion, KMS.1601 limit, KMS.1602 marker, KMS.2101-2103 a
// caller's data key, KMS.2201 a ciphertext that does not open.

fn kms_err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// An invalid parameter: KMS.0308 names the field.
fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    invalid_as("KMS.0308", field, why)
}

/// An invalid parameter under the operation's own code.
fn invalid_as(code: &'static str, field: &str, why: impl std::fmt::Display) -> ApiError {
    kms_err(400, code, format!("Invalid {field}: {why}."))
}

fn missing(field: &str) -> ApiError {
    kms_err(
        400,
        "KMS.0204",
        format!("The request lacks the required parameter {field}."),
    )
}

fn unsupported(field: &str, why: impl std::fmt::Display) -> ApiError {
    invalid(field, why)
}

/// One answer for every ciphertext that does not open here (another project's key, a changed
/// byte, other additional authenticated data), so that a failure reveals nothing.
fn bad_ciphertext() -> ApiError {
    kms_err(
        400,
        "KMS.2201",
        "Invalid cipher_text: it is not a ciphertext of a key of this project, it was changed, \
         or the additional authenticated data differs.",
    )
}

fn state_of(k: &KeyRecord) -> ApiError {
    match k.state {
        KeyState::PendingDeletion { .. } => kms_err(
            400,
            "KMS.0210",
            format!("The key {} is pending deletion and cannot be used.", k.id),
        ),
        _ => kms_err(
            400,
            "KMS.0209",
            format!("The key {} is disabled and cannot be used.", k.id),
        ),
    }
}

/// The core's errors in KMS terms.
fn kms_error(e: Error) -> ApiError {
    match e {
        Error::NotFound {
            what: Resource::Key,
            name,
        } => kms_err(404, "KMS.0207", format!("The key {name:?} does not exist.")),
        Error::Disabled {
            what: Resource::Key,
            name,
        } => kms_err(
            400,
            "KMS.0209",
            format!("The key {name:?} is not enabled and cannot be used."),
        ),
        Error::AlreadyExists {
            what: Resource::Key,
            name,
        } => kms_err(
            400,
            "KMS.1104",
            format!("The alias {name:?} is already in use in this project."),
        ),
        Error::InvalidState { reason, .. } if reason.contains("default key") => kms_err(
            400,
            "KMS.0211",
            format!("{reason}; a default key does not support this."),
        ),
        Error::InvalidState { reason, .. } if reason.contains("not pending deletion") => {
            kms_err(400, "KMS.1501", format!("{reason}."))
        }
        Error::InvalidState { reason, .. } if reason.contains("pending deletion") => {
            kms_err(400, "KMS.1402", format!("{reason}."))
        }
        Error::InvalidState { reason, .. } => invalid("key_id", reason),
        Error::InvalidParameter { field, .. } if field == "CiphertextBlob" => bad_ciphertext(),
        Error::InvalidParameter { field, reason } => invalid(&field, reason),
        Error::MissingParameter { field } => missing(&field),
        Error::Unsupported(why) => invalid("request", why),
        Error::AccessDenied { action, resource } => kms_err(
            403,
            "KMS.0306",
            format!("The user has no permission: {action} on {resource} is not allowed."),
        ),
        // Internal failures and throttling keep their CSMS-wide code and status.
        other => ApiError::from(other),
    }
}

/// A result of an operation that uses a key: a key that is not enabled is told apart as
/// disabled (KMS.0209) or pending deletion (KMS.0210).
async fn usable<T>(c: &Call, r: Result<T, Error>) -> Result<T, ApiError> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => Err(unusable(c, e).await),
    }
}

async fn unusable(c: &Call, e: Error) -> ApiError {
    if let Error::Disabled {
        what: Resource::Key,
        name,
    } = &e
    {
        if let Ok(k) = c.service.find_key(&c.scope, name).await {
            return state_of(&k);
        }
    }
    kms_error(e)
}

// --- request fields ---------------------------------------------------------------------------

fn body(c: &Call) -> Result<&Map<String, Value>, ApiError> {
    c.json().map_err(|e| {
        kms_err(
            400,
            "KMS.0202",
            format!("The JSON format of the request is invalid: {}", e.message),
        )
    })
}

fn text<'a>(b: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    str_field(b, field).map_err(|_| invalid(field, "it must be a string"))
}

fn required<'a>(b: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match text(b, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(missing(field)),
    }
}

/// An integer sent as a JSON number or as a string of digits (the SDK models type most
/// numbers as strings).
fn int(b: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(field, "it must be an integer")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, "it must be an integer")),
        Some(_) => Err(invalid(field, "it must be an integer")),
    }
}

/// `key_id`: a key id (the scope's default key is addressed by its id too).
fn key_id(b: &Map<String, Value>) -> Result<String, ApiError> {
    let id = required(b, "key_id")?;
    if id.len() > 64 {
        return Err(invalid("key_id", "it is longer than 64 characters"));
    }
    Ok(id.to_string())
}

/// `key_id`, checked, as the key `resolved` names it: the id the permission judged the key
/// by (the body's reference resolved in the scope), so the operation acts on that key.
fn key_id_as(b: &Map<String, Value>, resolved: &str) -> Result<String, ApiError> {
    key_id(b)?;
    Ok(resolved.to_string())
}

/// `additional_authenticated_data`: any text up to 128 bytes, bound to the ciphertext as its
/// encryption context.
fn aad(b: &Map<String, Value>, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    match text(b, field)? {
        None | Some("") => Ok(vec![]),
        Some(s) if s.len() > MAX_AAD => {
            Err(invalid(field, format!("it is longer than {MAX_AAD} bytes")))
        }
        Some(s) => Ok(vec![(
            "additional_authenticated_data".into(),
            s.to_string(),
        )]),
    }
}

fn symmetric_only(b: &Map<String, Value>, field: &str) -> Result<(), ApiError> {
    match text(b, field)? {
        None | Some("") | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(unsupported(
            field,
            format!("{other:?} needs an asymmetric key, which this server does not offer; use SYMMETRIC_DEFAULT"),
        )),
    }
}

/// `key_alias` (create-key, update-key-alias): 1..255 of `a-zA-Z0-9:/_-`, not ending in
/// `/default` (the names of default keys). Returned as the core alias.
fn key_alias(value: &str, field: &str) -> Result<String, ApiError> {
    let ok = (1..=MAX_ALIAS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if !ok {
        return Err(invalid_as(
            "KMS.1101",
            field,
            "it must be 1 to 255 characters of a-z A-Z 0-9 : / _ -",
        ));
    }
    if value.ends_with("/default") {
        return Err(invalid_as(
            "KMS.1101",
            field,
            "names ending in /default belong to default keys",
        ));
    }
    Ok(format!("alias/{value}"))
}

/// `alias` of the alias routes: `alias/` and 1..255 more of `a-zA-Z0-9:/_-`, stored as is.
fn alias_name(value: &str, field: &str) -> Result<String, ApiError> {
    let rest = value.strip_prefix("alias/").unwrap_or("");
    let ok = (1..=MAX_ALIAS).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if !ok || value.ends_with("/default") {
        return Err(invalid(
            field,
            "it must be alias/ and 1 to 255 characters of a-z A-Z 0-9 : / _ -, not ending in /default",
        ));
    }
    Ok(value.to_string())
}

fn description(b: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match text(b, "key_description")? {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(invalid_as(
            "KMS.1103",
            "key_description",
            format!("it is longer than {MAX_DESCRIPTION} characters"),
        )),
        d => Ok(d.map(str::to_string)),
    }
}

// --- answers ----------------------------------------------------------------------------------

fn state_code(k: &KeyRecord) -> &'static str {
    match k.state {
        KeyState::Enabled => "2",
        KeyState::Disabled => "3",
        KeyState::PendingDeletion { .. } => "4",
    }
}

/// The `key_alias` a key shows: `csms/default` for the default key, else its first alias
/// without the `alias/` prefix.
fn shown_alias(k: &KeyRecord) -> String {
    if k.is_default {
        return HW_DEFAULT_ALIAS.to_string();
    }
    k.aliases
        .iter()
        .find_map(|a| a.strip_prefix("alias/"))
        .unwrap_or_default()
        .to_string()
}

fn details(c: &Call, k: &KeyRecord) -> Value {
    json!({
        "key_id": k.id,
        "domain_id": c.scope.account.to_string(),
        "key_alias": shown_alias(k),
        "realm": c.scope.region,
        "key_spec": "AES_256",
        "key_usage": "ENCRYPT_DECRYPT",
        "key_description": k.description,
        "creation_date": k.created_at.as_millis().to_string(),
        "scheduled_deletion_date": match k.state {
            KeyState::PendingDeletion { delete_at } => delete_at.as_millis().to_string(),
            _ => String::new(),
        },
        "key_state": state_code(k),
        "default_key_flag": if k.is_default { "1" } else { "0" },
        "key_type": "1",
        "expiration_time": "",
        "origin": "kms",
        "key_rotation_enabled": if k.rotation.enabled { "true" } else { "false" },
        "sys_enterprise_project_id": "0",
        "keystore_id": "0",
    })
}

fn status_info(k: &KeyRecord) -> Value {
    json!({ "key_info": { "key_id": k.id, "key_state": state_code(k) } })
}

async fn find(c: &Call, id: &str) -> Result<KeyRecord, ApiError> {
    c.service.find_key(&c.scope, id).await.map_err(kms_error)
}

// --- key lifecycle ----------------------------------------------------------------------------

pub async fn create_key(c: &Call) -> OpResult {
    let b = body(c)?;
    let alias = key_alias(required(b, "key_alias")?, "key_alias")?;
    match text(b, "key_spec")? {
        None | Some("") | Some("AES_256") => {}
        Some(other) => {
            return Err(unsupported(
                "key_spec",
                format!("{other:?} is not offered by this server; use AES_256"),
            ))
        }
    }
    match text(b, "key_usage")? {
        None | Some("") | Some("ENCRYPT_DECRYPT") => {}
        Some(other) => {
            return Err(unsupported(
                "key_usage",
                format!("{other:?} is not offered by this server; use ENCRYPT_DECRYPT"),
            ))
        }
    }
    match text(b, "origin")? {
        None | Some("") | Some("kms") => {}
        Some(other) => {
            return Err(unsupported(
                "origin",
                format!("{other:?} (imported key material) is not offered by this server; use kms"),
            ))
        }
    }
    let key = c
        .service
        .create_key(
            &c.scope,
            NewKey {
                description: description(b)?.unwrap_or_default(),
                aliases: vec![alias],
                rotation_interval_secs: None,
            },
        )
        .await
        .map_err(kms_error)?;
    ok(json!({
        "key_info": {
            "key_id": key.id,
            "domain_id": c.scope.account.to_string(),
            "region_id": c.scope.region,
        }
    }))
}

pub async fn describe_key(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let key = find(c, &key_id_as(b, resolved)?).await?;
    ok(json!({ "key_info": details(c, &key) }))
}

/// Every key of the scope, in creation order (the default key first, as it is made first).
async fn all_keys(c: &Call) -> Result<Vec<KeyRecord>, ApiError> {
    let mut out = Vec::new();
    loop {
        let page = c
            .service
            .keys(
                &c.scope,
                PageRequest {
                    offset: out.len() as u64,
                    limit: 500,
                    newest_first: false,
                },
            )
            .await
            .map_err(kms_error)?;
        let n = page.items.len();
        out.extend(page.items);
        if n == 0 || out.len() as u64 >= page.total {
            return Ok(out);
        }
    }
}

fn marker(b: &Map<String, Value>) -> Result<usize, ApiError> {
    match int(b, "marker")? {
        None => Ok(0),
        Some(m) if m >= 0 => Ok(m as usize),
        Some(_) => Err(invalid_as(
            "KMS.1602",
            "marker",
            "it must be greater than or equal to 0",
        )),
    }
}

fn list_limit(v: Option<i64>, field: &str) -> Result<usize, ApiError> {
    match v {
        None => Ok(MAX_LIST_LIMIT),
        Some(n) if (1..=MAX_LIST_LIMIT as i64).contains(&n) => Ok(n as usize),
        Some(_) => Err(invalid_as(
            "KMS.1601",
            field,
            format!("it must be from 1 to {MAX_LIST_LIMIT}"),
        )),
    }
}

pub async fn list_keys(c: &Call) -> OpResult {
    let b = body(c)?;
    let limit = list_limit(int(b, "limit")?, "limit")?;
    let from = marker(b)?;
    let wanted_state = match text(b, "key_state")? {
        None | Some("") => None,
        Some(s @ ("1" | "2" | "3" | "4" | "5")) => Some(s.to_string()),
        Some(_) => return Err(invalid("key_state", "it must be one of 1, 2, 3, 4, 5")),
    };
    match text(b, "key_spec")? {
        None | Some("") | Some("AES_256") => {}
        // No key of another spec exists here: an empty list.
        Some(_) => {
            return ok(json!({
                "keys": [], "key_details": [], "next_marker": "", "truncated": "false", "total": 0
            }))
        }
    }
    let keys: Vec<KeyRecord> = all_keys(c)
        .await?
        .into_iter()
        .filter(|k| wanted_state.as_deref().is_none_or(|s| s == state_code(k)))
        .collect();
    let total = keys.len();
    let page: Vec<&KeyRecord> = keys.iter().skip(from).take(limit).collect();
    let end = from + page.len();
    let truncated = end < total;
    ok(json!({
        "keys": page.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        "key_details": page.iter().map(|k| details(c, k)).collect::<Vec<_>>(),
        "next_marker": if truncated { end.to_string() } else { String::new() },
        "truncated": if truncated { "true" } else { "false" },
        "total": total,
    }))
}

/// Enabling needs a disabled key (KMS.1201), disabling an enabled one (KMS.1301), as in
/// Huawei's KMS; the default key stays enabled.
pub async fn set_enabled(c: &Call, resolved: &str, enabled: bool) -> OpResult {
    let b = body(c)?;
    let key = find(c, &key_id_as(b, resolved)?).await?;
    if key.is_default {
        return Err(kms_err(
            400,
            "KMS.0211",
            "A default key is always enabled; it cannot be enabled or disabled.",
        ));
    }
    match (enabled, key.state) {
        (true, KeyState::Disabled) | (false, KeyState::Enabled) => {}
        (true, _) => {
            return Err(kms_err(
                400,
                "KMS.1201",
                format!("The key {} is not disabled.", key.id),
            ))
        }
        (false, _) => {
            return Err(kms_err(
                400,
                "KMS.1301",
                format!("The key {} is not enabled.", key.id),
            ))
        }
    }
    let key = c
        .service
        .set_key_enabled(&c.scope, &key.id, enabled)
        .await
        .map_err(kms_error)?;
    ok(status_info(&key))
}

pub async fn schedule_deletion(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let days = int(b, "pending_days")?.ok_or_else(|| missing("pending_days"))?;
    if !(7..=1096).contains(&days) {
        return Err(invalid_as(
            "KMS.1401",
            "pending_days",
            "a deletion can be scheduled 7 to 1096 days ahead",
        ));
    }
    let current = find(c, &id).await?;
    if let KeyState::PendingDeletion { .. } = current.state {
        return Err(kms_err(
            400,
            "KMS.1402",
            format!("The key {} is already pending deletion.", current.id),
        ));
    }
    let key = c
        .service
        .schedule_key_deletion(&c.scope, &id, days)
        .await
        .map_err(kms_error)?;
    ok(json!({ "key_id": key.id, "key_state": state_code(&key) }))
}

/// A key whose deletion is cancelled comes back disabled, as in Huawei's KMS.
pub async fn cancel_deletion(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let key = c
        .service
        .cancel_key_deletion(&c.scope, &key_id_as(b, resolved)?, KeyState::Disabled)
        .await
        .map_err(kms_error)?;
    ok(json!({ "key_id": key.id, "key_state": state_code(&key) }))
}

/// Renames the key: its `key_alias` becomes the new one (the old one is freed).
pub async fn update_key_alias(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let new_alias = key_alias(required(b, "key_alias")?, "key_alias")?;
    let key = find(c, &id).await?;
    if key.is_default {
        return Err(kms_err(
            400,
            "KMS.0211",
            "The alias of a default key cannot be changed.",
        ));
    }
    let old = key.aliases.first().cloned();
    if old.as_deref() != Some(new_alias.as_str()) {
        c.service
            .set_alias(&c.scope, &new_alias, &key.id, false)
            .await
            .map_err(kms_error)?;
        if let Some(old) = old {
            c.service
                .delete_alias(&c.scope, &old)
                .await
                .map_err(kms_error)?;
        }
    }
    let key = find(c, &key.id).await?;
    ok(json!({ "key_info": { "key_id": key.id, "key_alias": shown_alias(&key) } }))
}

pub async fn update_description(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let d = description(b)?.ok_or_else(|| missing("key_description"))?;
    let key = c
        .service
        .update_key_description(&c.scope, &id, d)
        .await
        .map_err(kms_error)?;
    ok(json!({ "key_info": { "key_id": key.id, "key_description": key.description } }))
}

// --- rotation ---------------------------------------------------------------------------------

pub async fn set_rotation(
    c: &Call,
    resolved: &str,
    enabled: Option<bool>,
    days: Option<i64>,
) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let key = find(c, &id).await?;
    // Turning rotation on for the first time uses a year unless an interval was set.
    let interval = days.map(|d| d * 86_400).or_else(|| {
        (enabled == Some(true) && key.rotation.interval_secs < MIN_ROTATION_DAYS * 86_400)
            .then_some(DEFAULT_ROTATION_DAYS * 86_400)
    });
    c.service
        .set_key_rotation(&c.scope, &key.id, enabled, interval)
        .await
        .map_err(kms_error)?;
    ok(json!({}))
}

pub async fn update_rotation_interval(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let days = int(b, "rotation_interval")?.ok_or_else(|| missing("rotation_interval"))?;
    if !(MIN_ROTATION_DAYS..=MAX_ROTATION_DAYS).contains(&days) {
        return Err(invalid(
            "rotation_interval",
            format!("it must be from {MIN_ROTATION_DAYS} to {MAX_ROTATION_DAYS} days"),
        ));
    }
    set_rotation(c, resolved, None, Some(days)).await
}

pub async fn rotation_status(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let key = find(c, &key_id_as(b, resolved)?).await?;
    ok(json!({
        "key_rotation_enabled": key.rotation.enabled,
        "rotation_interval": key.rotation.interval_secs / 86_400,
        "last_rotation_time": key.last_rotation().map(|t| t.as_millis().to_string()).unwrap_or_default(),
        "number_of_rotations": key.versions.len().saturating_sub(1),
    }))
}

pub async fn rotate_on_demand(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let key = usable(
        c,
        c.service
            .rotate_key_material(&c.scope, &key_id_as(b, resolved)?)
            .await,
    )
    .await?;
    ok(json!({ "key_id": key.id }))
}

// --- aliases ----------------------------------------------------------------------------------

fn alias_urn(c: &Call, alias: &str) -> String {
    format!("kms:{}:{}:{alias}", c.scope.region, c.scope.account)
}

fn alias_entity(c: &Call, key: &KeyRecord, alias: &str) -> Value {
    json!({
        "domain_id": c.scope.account.to_string(),
        "key_id": key.id,
        "alias": alias,
        "alias_urn": alias_urn(c, alias),
        "create_time": key.created_at.as_millis().to_string(),
        "update_time": key.created_at.as_millis().to_string(),
    })
}

pub async fn create_alias(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let alias = alias_name(required(b, "alias")?, "alias")?;
    let key = c
        .service
        .set_alias(&c.scope, &alias, &id, false)
        .await
        .map_err(kms_error)?;
    ok(alias_entity(c, &key, &alias))
}

/// Moves an existing alias to another key.
/// `target` is `target_key_id` named by the id the permission judged it by.
pub async fn associate_alias(c: &Call, target: &str) -> OpResult {
    let b = body(c)?;
    let alias = alias_name(required(b, "alias")?, "alias")?;
    required(b, "target_key_id")?;
    let key = c
        .service
        .set_alias(&c.scope, &alias, target, true)
        .await
        .map_err(kms_error)?;
    ok(alias_entity(c, &key, &alias))
}

pub async fn list_aliases(c: &Call) -> OpResult {
    let keys = match c.query("key_id").filter(|k| !k.is_empty()) {
        Some(id) => vec![find(c, id).await?],
        None => all_keys(c).await?,
    };
    let limit = list_limit(
        c.query("limit")
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.parse::<i64>()
                    .map_err(|_| invalid("limit", "it must be an integer"))
            })
            .transpose()?,
        "limit",
    )?;
    let from = match c.query("marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| invalid("marker", "it must be a marker from an earlier page"))?,
    };
    let entities: Vec<Value> = keys
        .iter()
        .flat_map(|k| {
            k.aliases
                .iter()
                .filter(|a| a.as_str() != DEFAULT_KEY_ALIAS)
                .map(move |a| (k, a))
        })
        .map(|(k, a)| alias_entity(c, k, a))
        .collect();
    let page: Vec<Value> = entities.iter().skip(from).take(limit).cloned().collect();
    let end = from + page.len();
    ok(json!({
        "aliases": page,
        "page_info": {
            "next_marker": if end < entities.len() { Value::String(end.to_string()) } else { Value::Null },
            "current_count": end - from,
        }
    }))
}

pub async fn delete_aliases(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let names = match b.get("aliases") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("aliases", "each alias must be a string"))
                    .and_then(|s| alias_name(s, "aliases"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(missing("aliases")),
    };
    let key = find(c, &id).await?;
    // All or nothing: every alias must belong to the key before any goes.
    if let Some(stranger) = names.iter().find(|n| !key.aliases.contains(n)) {
        return Err(kms_err(
            404,
            "KMS.0207",
            format!(
                "The alias {stranger:?} does not belong to the key {}.",
                key.id
            ),
        ));
    }
    for name in &names {
        c.service
            .delete_alias(&c.scope, name)
            .await
            .map_err(kms_error)?;
    }
    ok(json!({}))
}

// --- crypto -----------------------------------------------------------------------------------

pub async fn encrypt_data(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    symmetric_only(b, "encryption_algorithm")?;
    let plain = required(b, "plain_text")?;
    if plain.len() > MAX_PLAINTEXT {
        return Err(invalid(
            "plain_text",
            format!("it is longer than {MAX_PLAINTEXT} bytes"),
        ));
    }
    let context = aad(b, "additional_authenticated_data")?;
    let (key, blob) = usable(
        c,
        c.service
            .encrypt(&c.scope, &id, plain.as_bytes(), &context)
            .await,
    )
    .await?;
    ok(json!({ "key_id": key.id, "cipher_text": B64.encode(blob) }))
}

/// Opens a base64 data ciphertext; `key_id`, when given, must be the key that made it.
async fn open_data(
    c: &Call,
    b: &Map<String, Value>,
    field: &str,
    aad_field: &str,
    expected_key: Option<&str>,
) -> Result<coffer_core::service::Opened, ApiError> {
    let text = required(b, field)?;
    let blob = B64.decode(text).map_err(|_| bad_ciphertext())?;
    let context = aad(b, aad_field)?;
    let opened = usable(c, c.service.decrypt(&c.scope, &blob, &context).await).await?;
    if expected_key.is_some_and(|k| k != opened.key.id) {
        return Err(bad_ciphertext());
    }
    Ok(opened)
}

pub async fn decrypt_data(c: &Call) -> OpResult {
    let b = body(c)?;
    symmetric_only(b, "encryption_algorithm")?;
    let expected = text(b, "key_id")?.filter(|k| !k.is_empty());
    let opened = open_data(
        c,
        b,
        "cipher_text",
        "additional_authenticated_data",
        expected,
    )
    .await?;
    let plain = String::from_utf8_lossy(&opened.plaintext).into_owned();
    ok(json!({
        "key_id": opened.key.id,
        "plain_text": plain,
        "plain_text_base64": B64.encode(opened.plaintext.as_slice()),
    }))
}

/// `datakey_length` in bits (8..8192, a multiple of 8) wins over `key_spec`; neither gives
/// 256 bits. Returns bytes.
fn datakey_bytes(b: &Map<String, Value>) -> Result<usize, ApiError> {
    if let Some(bits) = int(b, "datakey_length")? {
        if bits < 8 || bits as usize > MAX_DATAKEY_BITS || bits % 8 != 0 {
            return Err(invalid(
                "datakey_length",
                format!("it must be a multiple of 8 from 8 to {MAX_DATAKEY_BITS}"),
            ));
        }
        return Ok(bits as usize / 8);
    }
    match text(b, "key_spec")? {
        None | Some("") | Some("AES_256") => Ok(32),
        Some("AES_128") => Ok(16),
        Some(other) => Err(unsupported(
            "key_spec",
            format!("{other:?} is not offered by this server; use AES_256 or AES_128"),
        )),
    }
}

pub async fn create_datakey(c: &Call, resolved: &str, with_plaintext: bool) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let len = datakey_bytes(b)?;
    let context = aad(b, "additional_authenticated_data")?;
    let (key, data_key, blob) = usable(
        c,
        c.service
            .generate_data_key(&c.scope, &id, len, &context)
            .await,
    )
    .await?;
    let mut out = json!({ "key_id": key.id, "cipher_text": hex::encode(blob) });
    if with_plaintext {
        out["plain_text"] = Value::String(hex::encode(data_key.as_slice()));
    }
    ok(out)
}

/// Seals a caller's data key: `plain_text` is the key in hex followed by the hex SHA-256 of the
/// key, `datakey_plain_length` its length in bytes.
pub async fn encrypt_datakey(c: &Call, resolved: &str) -> OpResult {
    let b = body(c)?;
    let id = key_id_as(b, resolved)?;
    let len = int(b, "datakey_plain_length")?.ok_or_else(|| missing("datakey_plain_length"))?;
    if !(1..=(MAX_DATAKEY_BITS / 8) as i64).contains(&len) {
        return Err(invalid_as(
            "KMS.2102",
            "datakey_plain_length",
            format!("it must be from 1 to {}", MAX_DATAKEY_BITS / 8),
        ));
    }
    let raw = hex::decode(required(b, "plain_text")?)
        .map_err(|_| invalid_as("KMS.2101", "plain_text", "it must be hexadecimal"))?;
    let len = len as usize;
    if raw.len() != len + 32 {
        return Err(invalid_as(
            "KMS.2101",
            "plain_text",
            "it must be the data key followed by its SHA-256 digest, in hex",
        ));
    }
    let (data_key, digest) = raw.split_at(len);
    if Sha256::digest(data_key).as_slice() != digest {
        return Err(kms_err(
            400,
            "KMS.2103",
            "Hash verification of the data key failed: the SHA-256 digest in plain_text does not match the key.",
        ));
    }
    let context = aad(b, "additional_authenticated_data")?;
    let (key, blob) = usable(
        c,
        c.service.encrypt(&c.scope, &id, data_key, &context).await,
    )
    .await?;
    ok(json!({
        "key_id": key.id,
        "cipher_text": hex::encode(blob),
        "datakey_length": len.to_string(),
    }))
}

/// Opens a hex data key ciphertext; returns the key, its hex and its digest.
pub async fn decrypt_datakey(c: &Call) -> OpResult {
    let b = body(c)?;
    let id = key_id(b)?;
    let blob = hex::decode(required(b, "cipher_text")?).map_err(|_| bad_ciphertext())?;
    let context = aad(b, "additional_authenticated_data")?;
    let opened = usable(c, c.service.decrypt(&c.scope, &blob, &context).await).await?;
    if opened.key.id != id {
        return Err(bad_ciphertext());
    }
    if let Some(len) = int(b, "datakey_cipher_length")? {
        if len as usize != opened.plaintext.len() {
            return Err(invalid_as(
                "KMS.2202",
                "datakey_cipher_length",
                format!("the data key is {} bytes long", opened.plaintext.len()),
            ));
        }
    }
    ok(json!({
        "data_key": hex::encode(opened.plaintext.as_slice()),
        "datakey_length": opened.plaintext.len().to_string(),
        "datakey_dgst": hex::encode(Sha256::digest(opened.plaintext.as_slice())),
    }))
}

/// Re-encrypts under another key: a data key ciphertext (hex, with `datakey_cipher_length`)
/// stays hex, a data ciphertext (base64) stays base64.
/// `destination` is `destination_key_id` named by the id the permission judged it by.
pub async fn re_encrypt(c: &Call, destination: &str) -> OpResult {
    let b = body(c)?;
    symmetric_only(b, "source_encryption_algorithm")?;
    symmetric_only(b, "destination_encryption_algorithm")?;
    required(b, "destination_key_id")?;
    let text = required(b, "cipher_text")?;
    let hex_form = int(b, "datakey_cipher_length")?.is_some();
    let blob = if hex_form {
        hex::decode(text).map_err(|_| bad_ciphertext())?
    } else {
        B64.decode(text).map_err(|_| bad_ciphertext())?
    };
    let source_context = aad(b, "source_additional_authenticated_data")?;
    let opened = usable(c, c.service.decrypt(&c.scope, &blob, &source_context).await).await?;
    if text_key_mismatch(b, &opened.key.id)? {
        return Err(bad_ciphertext());
    }
    let dest_context = aad(b, "destination_additional_authenticated_data")?;
    let (key, sealed) = usable(
        c,
        c.service
            .encrypt(&c.scope, destination, &opened.plaintext, &dest_context)
            .await,
    )
    .await?;
    let cipher_text = if hex_form {
        hex::encode(sealed)
    } else {
        B64.encode(sealed)
    };
    ok(json!({
        "key_id": key.id,
        "source_key_id": opened.key.id,
        "source_encryption_algorithm": "SYMMETRIC_DEFAULT",
        "destination_encryption_algorithm": "SYMMETRIC_DEFAULT",
        "cipher_text": cipher_text,
    }))
}

/// `source_key_id`, when given, must be the key that made the ciphertext.
fn text_key_mismatch(b: &Map<String, Value>, actual: &str) -> Result<bool, ApiError> {
    Ok(text(b, "source_key_id")?.is_some_and(|s| !s.is_empty() && s != actual))
}
