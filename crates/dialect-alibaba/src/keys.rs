//! KMS key operations of API 2016-01-20 (Alibaba's KMS API reference): symmetric customer
//! master keys, their aliases and states, and Encrypt / Decrypt / data keys under them. Keys
//! are `Aliyun_AES_256` for `ENCRYPT/DECRYPT`; other specs are refused by name.

use base64::Engine;
use coffer_core::error::Resource;
use coffer_core::service::NewKey;
use coffer_core::{Error, KeyRecord, KeyState, PageRequest};

use crate::errors::ApiError;
use crate::params;
use crate::render::{Fields, Node};
use crate::request::{self, Call};

type OpResult = Result<Fields, ApiError>;

const MAX_DESCRIPTION: usize = 8192;
/// Encrypt takes at most this many bytes of plaintext.
const MAX_PLAINTEXT: usize = 6 * 1024;
const MAX_CIPHERTEXT_CHARS: usize = 16 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Errors of key operations: a missing alias is `Forbidden.AliasNotFound`, a taken one
/// `AliasAlreadyExists`, a state conflict `Rejected.*`.
fn key_error(e: Error) -> ApiError {
    match e {
        Error::NotFound {
            what: Resource::Key,
            name,
        } if name.starts_with("alias/") => ApiError::new(
            404,
            "Forbidden.AliasNotFound",
            format!("The specified alias {name:?} is not found."),
        ),
        Error::AlreadyExists {
            what: Resource::Key,
            name,
        } => ApiError::new(
            400,
            "AliasAlreadyExists",
            format!("The alias {name:?} already exists."),
        ),
        Error::InvalidState { reason, .. } if reason.contains("pending deletion") => {
            ApiError::new(409, "Rejected.PendingDeletion", format!("{reason}."))
        }
        Error::InvalidState { reason, .. } => {
            ApiError::new(409, "Rejected.UnexpectedState", format!("{reason}."))
        }
        other => other.into(),
    }
}

fn key_arn(c: &Call, id: &str) -> String {
    format!("acs:kms:{}:{}:key/{id}", c.region_id, c.scope.account)
}

fn key_state(k: &KeyRecord) -> &'static str {
    match k.state {
        KeyState::Enabled => "Enabled",
        KeyState::Disabled => "Disabled",
        KeyState::PendingDeletion { .. } => "PendingDeletion",
    }
}

fn metadata(c: &Call, k: &KeyRecord) -> Node {
    let mut o = vec![
        ("KeyId", Node::str(k.id.clone())),
        ("Arn", Node::str(key_arn(c, &k.id))),
        ("CreationDate", Node::Str(k.created_at.to_iso8601_seconds())),
        ("Creator", Node::str(c.scope.account.to_string())),
        ("Description", Node::str(k.description.clone())),
        ("KeySpec", Node::str("Aliyun_AES_256")),
        ("KeyUsage", Node::str("ENCRYPT/DECRYPT")),
        ("KeyState", Node::str(key_state(k))),
        ("Origin", Node::str("Aliyun_KMS")),
        ("ProtectionLevel", Node::str("SOFTWARE")),
        ("PrimaryKeyVersion", Node::str(k.primary_version.clone())),
        ("AutomaticRotation", Node::str(automatic_rotation(k))),
        ("DeletionProtection", Node::str("Disabled")),
    ];
    if k.rotation.enabled {
        o.push((
            "RotationInterval",
            Node::Str(format!("{}s", k.rotation.interval_secs)),
        ));
        if let Some(next) = k.rotation.next_at {
            o.push(("NextRotationDate", Node::Str(next.to_iso8601_seconds())));
        }
    }
    if let Some(last) = k.last_rotation() {
        o.push(("LastRotationDate", Node::Str(last.to_iso8601_seconds())));
    }
    if let KeyState::PendingDeletion { delete_at } = k.state {
        o.push(("DeleteDate", Node::Str(delete_at.to_iso8601_seconds())));
    }
    Node::Obj(o)
}

/// `Enabled`, `Disabled`, or `Suspended` while rotation is on but the key is not enabled (it
/// rotates again once it is).
fn automatic_rotation(k: &KeyRecord) -> &'static str {
    match (k.rotation.enabled, k.state) {
        (false, _) => "Disabled",
        (true, KeyState::Enabled) => "Enabled",
        (true, _) => "Suspended",
    }
}

/// Automatic rotation of key material: 7 to 730 days (Alibaba's KMS API reference).
const MIN_KEY_ROTATION_SECS: i64 = 7 * 86_400;
const MAX_KEY_ROTATION_SECS: i64 = 730 * 86_400;

/// `EnableAutomaticRotation` and `RotationInterval`: the interval when rotation is asked for
/// (required then), `None` when it is not (and then no interval may be given).
fn rotation_request(c: &Call, enable: bool) -> Result<Option<i64>, ApiError> {
    let interval = c.params.optional("RotationInterval");
    match (enable, interval) {
        (true, Some(text)) => params::interval(
            "RotationInterval",
            text,
            MIN_KEY_ROTATION_SECS,
            MAX_KEY_ROTATION_SECS,
        )
        .map(Some),
        (true, None) => Err(ApiError::missing("RotationInterval")),
        (false, Some(text)) => Err(ApiError::invalid(
            "RotationInterval",
            format!("{text:?} applies only when EnableAutomaticRotation is true."),
        )),
        (false, None) => Ok(None),
    }
}

pub(crate) async fn update_rotation_policy(c: &Call, key: String) -> OpResult {
    c.params.required("EnableAutomaticRotation")?;
    let enable = c.params.bool("EnableAutomaticRotation", false)?;
    let interval = rotation_request(c, enable)?;
    c.service
        .set_key_rotation(&c.scope, &key, Some(enable), interval)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

fn version_node(k: &KeyRecord, v: &coffer_core::KeyVersion) -> Node {
    Node::Obj(vec![
        ("KeyId", Node::str(k.id.clone())),
        ("KeyVersionId", Node::str(v.id.clone())),
        ("CreationDate", Node::Str(v.created_at.to_iso8601_seconds())),
    ])
}

pub(crate) async fn create_key_version(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .rotate_key_material(&c.scope, &key)
        .await
        .map_err(key_error)?;
    let newest = key
        .versions
        .iter()
        .find(|v| v.id == key.primary_version)
        .ok_or_else(|| ApiError::from(Error::internal("the new key version is missing")))?;
    Ok(vec![("KeyVersion", version_node(&key, newest))])
}

pub(crate) async fn list_key_versions(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    let (number, size) = page(c)?;
    let start = ((number - 1) as usize).saturating_mul(size as usize);
    let items = key
        .versions
        .iter()
        .skip(start)
        .take(size as usize)
        .map(|v| version_node(&key, v))
        .collect();
    Ok(vec![
        ("KeyVersions", Node::List("KeyVersion", items)),
        ("PageNumber", Node::Int(number)),
        ("PageSize", Node::Int(size)),
        ("TotalCount", Node::Int(key.versions.len() as i64)),
    ])
}

pub(crate) async fn describe_key_version(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    let wanted = c.params.required("KeyVersionId")?;
    let version = key
        .versions
        .iter()
        .find(|v| v.id == wanted)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "Forbidden.KeyVersionNotFound",
                format!("The key version {wanted:?} of key {} is not found.", key.id),
            )
        })?;
    Ok(vec![("KeyVersion", version_node(&key, version))])
}

fn description(c: &Call) -> Result<Option<String>, ApiError> {
    let d = c.params.get("Description");
    if d.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid(
            "Description",
            format!("It is longer than {MAX_DESCRIPTION} characters."),
        ));
    }
    Ok(d.map(str::to_string))
}

/// A parameter that may only take the one value coffer implements.
fn only(c: &Call, param: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match c.params.optional(param) {
        None => Ok(()),
        Some(v) if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(()),
        Some(v) => Err(ApiError::unsupported(format!(
            "{param} {v:?} is not supported by this server; use {}.",
            allowed.join(" or ")
        ))),
    }
}

pub(crate) async fn create_key(c: &Call) -> OpResult {
    only(c, "KeySpec", &["Aliyun_AES_256"])?;
    only(c, "KeyUsage", &["ENCRYPT/DECRYPT"])?;
    only(c, "Origin", &["Aliyun_KMS"])?;
    only(c, "ProtectionLevel", &["SOFTWARE"])?;
    let enable = c.params.bool("EnableAutomaticRotation", false)?;
    let req = NewKey {
        description: description(c)?.unwrap_or_default(),
        aliases: vec![],
        rotation_interval_secs: rotation_request(c, enable)?,
    };
    let key = c
        .service
        .create_key(&c.scope, req)
        .await
        .map_err(key_error)?;
    Ok(vec![("KeyMetadata", metadata(c, &key))])
}

pub(crate) async fn describe_key(c: &Call, key: String) -> OpResult {
    let key = c
        .service
        .find_key(&c.scope, &key)
        .await
        .map_err(key_error)?;
    Ok(vec![("KeyMetadata", metadata(c, &key))])
}

fn page(c: &Call) -> Result<(i64, i64), ApiError> {
    Ok((
        c.params.int("PageNumber", 1, 1, i32::MAX as i64)?,
        c.params.int("PageSize", 10, 1, 100)?,
    ))
}

pub(crate) async fn list_keys(c: &Call) -> OpResult {
    if c.params
        .optional("Filters")
        .is_some_and(|f| !matches!(f.trim(), "" | "[]"))
    {
        return Err(ApiError::unsupported(
            "ListKeys Filters are not supported by this server; list without them.",
        ));
    }
    let (number, size) = page(c)?;
    let page = c
        .service
        .keys(
            &c.scope,
            PageRequest {
                offset: ((number - 1) as u64).saturating_mul(size as u64),
                limit: size as u32,
                newest_first: false,
            },
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|k| {
            Node::Obj(vec![
                ("KeyId", Node::str(k.id.clone())),
                ("KeyArn", Node::str(key_arn(c, &k.id))),
            ])
        })
        .collect();
    Ok(vec![
        ("Keys", Node::List("Key", items)),
        ("PageNumber", Node::Int(number)),
        ("PageSize", Node::Int(size)),
        ("TotalCount", Node::Int(page.total as i64)),
    ])
}

pub(crate) async fn set_enabled(c: &Call, key: String, enabled: bool) -> OpResult {
    c.service
        .set_key_enabled(&c.scope, &key, enabled)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

pub(crate) async fn schedule_deletion(c: &Call, key: String) -> OpResult {
    c.params.required("PendingWindowInDays")?;
    let days = c.params.int("PendingWindowInDays", 30, 7, 366)?;
    c.service
        .schedule_key_deletion(&c.scope, &key, days)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

pub(crate) async fn cancel_deletion(c: &Call, key: String) -> OpResult {
    c.service
        .cancel_key_deletion(&c.scope, &key, KeyState::Enabled)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

pub(crate) async fn update_description(c: &Call, key: String) -> OpResult {
    let d = description(c)?.ok_or_else(|| ApiError::missing("Description"))?;
    c.service
        .update_key_description(&c.scope, &key, d)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

/// `alias/` and 1..255 characters of `a-zA-Z0-9:/_-`, not under the reserved `alias/acs`.
fn alias_name(c: &Call) -> Result<String, ApiError> {
    let a = c.params.required("AliasName")?;
    let rest = a.strip_prefix("alias/").unwrap_or("");
    let ok = (1..=255).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if !ok {
        return Err(ApiError::invalid(
            "AliasName",
            "It must be alias/ followed by 1 to 255 characters of a-z A-Z 0-9 : / _ -.",
        ));
    }
    if rest.starts_with("acs") {
        return Err(ApiError::new(
            400,
            "Unsupported.Alias",
            format!("The alias {a:?} is reserved."),
        ));
    }
    Ok(a.to_string())
}

pub(crate) async fn set_alias(c: &Call, key: String, replace: bool) -> OpResult {
    let alias = alias_name(c)?;
    c.service
        .set_alias(&c.scope, &alias, &key, replace)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

pub(crate) async fn delete_alias(c: &Call) -> OpResult {
    let alias = alias_name(c)?;
    c.service
        .delete_alias(&c.scope, &alias)
        .await
        .map_err(key_error)?;
    Ok(vec![])
}

/// ListAliases, or ListAliasesByKeyId when `by_key` names the key.
pub(crate) async fn list_aliases(c: &Call, by_key: Option<String>) -> OpResult {
    let (number, size) = page(c)?;
    let keys: Vec<KeyRecord> = if let Some(key) = by_key {
        vec![c
            .service
            .find_key(&c.scope, &key)
            .await
            .map_err(key_error)?]
    } else {
        let mut all = vec![];
        let mut offset = 0;
        loop {
            let p = c
                .service
                .keys(
                    &c.scope,
                    PageRequest {
                        offset,
                        limit: 500,
                        newest_first: false,
                    },
                )
                .await?;
            let n = p.items.len();
            all.extend(p.items);
            offset += n as u64;
            if n == 0 || offset >= p.total {
                break;
            }
        }
        all
    };
    let mut aliases: Vec<(String, String)> = keys
        .iter()
        .flat_map(|k| k.aliases.iter().map(|a| (a.clone(), k.id.clone())))
        .collect();
    aliases.sort();
    let total = aliases.len();
    let items = aliases
        .into_iter()
        .skip(((number - 1) as usize).saturating_mul(size as usize))
        .take(size as usize)
        .map(|(alias, key)| {
            Node::Obj(vec![
                (
                    "AliasArn",
                    Node::str(format!(
                        "acs:kms:{}:{}:{alias}",
                        c.region_id, c.scope.account
                    )),
                ),
                ("AliasName", Node::str(alias)),
                ("KeyId", Node::str(key)),
            ])
        })
        .collect();
    Ok(vec![
        ("Aliases", Node::List("Alias", items)),
        ("PageNumber", Node::Int(number)),
        ("PageSize", Node::Int(size)),
        ("TotalCount", Node::Int(total as i64)),
    ])
}

/// `EncryptionContext`: a JSON object of string values.
fn context(c: &Call, param: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = c.params.optional(param).filter(|t| !t.trim().is_empty()) else {
        return Ok(vec![]);
    };
    coffer_core::service::parse_encryption_context(text).ok_or_else(|| {
        ApiError::invalid(param, "It must be a JSON object whose values are strings.")
    })
}

pub(crate) fn blob(c: &Call, param: &str) -> Result<Vec<u8>, ApiError> {
    let text = c.params.required(param)?;
    if text.len() > MAX_CIPHERTEXT_CHARS {
        return Err(ApiError::invalid(
            param,
            "It is too long to be a ciphertext.",
        ));
    }
    B64.decode(text)
        .map_err(|_| ApiError::invalid(param, "It is not valid base64."))
}

pub(crate) async fn encrypt(c: &Call, key: String) -> OpResult {
    let plaintext = B64
        .decode(c.params.required("Plaintext")?)
        .map_err(|_| ApiError::invalid("Plaintext", "It must be base64."))?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(ApiError::invalid(
            "Plaintext",
            format!("It is larger than {MAX_PLAINTEXT} bytes."),
        ));
    }
    let ctx = context(c, "EncryptionContext")?;
    let (key, blob) = c
        .service
        .encrypt(&c.scope, &key, &plaintext, &ctx)
        .await
        .map_err(key_error)?;
    Ok(vec![
        ("CiphertextBlob", Node::str(B64.encode(blob))),
        ("KeyId", Node::str(key.id)),
        ("KeyVersionId", Node::str(key.primary_version)),
    ])
}

pub(crate) async fn decrypt(c: &Call) -> OpResult {
    let blob = blob(c, "CiphertextBlob")?;
    let ctx = context(c, "EncryptionContext")?;
    let opened = c
        .service
        .decrypt(&c.scope, &blob, &ctx)
        .await
        .map_err(key_error)?;
    Ok(vec![
        (
            "Plaintext",
            Node::str(B64.encode(opened.plaintext.as_slice())),
        ),
        ("KeyId", Node::str(opened.key.id)),
        ("KeyVersionId", Node::str(opened.version)),
    ])
}

pub(crate) async fn data_key(c: &Call, key: String, with_plaintext: bool) -> OpResult {
    let len = match c.params.optional("NumberOfBytes") {
        Some(_) => c.params.int("NumberOfBytes", 32, 1, 1024)? as usize,
        None => match c.params.optional("KeySpec") {
            None => 32,
            Some(s) if s.eq_ignore_ascii_case("AES_256") => 32,
            Some(s) if s.eq_ignore_ascii_case("AES_128") => 16,
            Some(_) => {
                return Err(ApiError::invalid(
                    "KeySpec",
                    "It must be AES_256 or AES_128.",
                ))
            }
        },
    };
    let ctx = context(c, "EncryptionContext")?;
    let (key, plain, blob) = c
        .service
        .generate_data_key(&c.scope, &key, len, &ctx)
        .await
        .map_err(key_error)?;
    let mut out = vec![
        ("CiphertextBlob", Node::str(B64.encode(blob))),
        ("KeyId", Node::str(key.id)),
        ("KeyVersionId", Node::str(key.primary_version)),
    ];
    if with_plaintext {
        out.push(("Plaintext", Node::str(B64.encode(plain.as_slice()))));
    }
    Ok(out)
}

/// `destination` is the `DestinationKeyId` named by the id the permission judged it by.
pub(crate) async fn re_encrypt(c: &Call, destination: Option<String>) -> OpResult {
    let blob = blob(c, "CiphertextBlob")?;
    let given = request::key_ref(c, c.params.required("DestinationKeyId")?)?;
    let destination = destination.unwrap_or(given);
    let source_ctx = context(c, "SourceEncryptionContext")?;
    let dest_ctx = context(c, "DestinationEncryptionContext")?;
    let opened = c
        .service
        .decrypt(&c.scope, &blob, &source_ctx)
        .await
        .map_err(key_error)?;
    let (key, new_blob) = c
        .service
        .encrypt(&c.scope, &destination, &opened.plaintext, &dest_ctx)
        .await
        .map_err(key_error)?;
    Ok(vec![
        ("CiphertextBlob", Node::str(B64.encode(new_blob))),
        ("KeyId", Node::str(key.id)),
        ("KeyVersionId", Node::str(key.primary_version)),
        ("SourceKeyId", Node::str(opened.key.id)),
        ("SourceKeyVersionId", Node::str(opened.version)),
    ])
}
