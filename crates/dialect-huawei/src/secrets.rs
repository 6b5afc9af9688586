//! Secret routes of CSMS (Huawei's CSMS API reference): the lifecycle of a secret,
//! its versions, stages and tags, and the project-wide listings. Each returns the HTTP status
//! and the JSON body (none for 204s and immediate deletes).

use base64::Engine;
use coffer_core::service::{
    CreateSecret, DeleteMode, MetadataChange, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{
    Error, PageRequest, SecretFilter, SecretKind, SecretRecord, SecretState, SecretValue, Stage,
    Tag, TagCondition, Timestamp, VersionRecord,
};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::errors::ApiError;
use crate::params::{
    description, refuse_unsupported, rotation_change, secret_name, stage_of, str_field,
    subscriptions, valid_name, NewSecret,
};
use crate::render::{page_info, secret_json, stage_name, tags_json, version_json};
use crate::request::{
    limit, load, next_version_id, no_content, not_enabled, ok, Call, OpResult, SecretById,
};

const MAX_VALUE: usize = 32_768;
const MAX_VERSIONS: usize = 20;
const MAX_STAGES: usize = 12;
const MAX_TAGS: usize = 20;

/// Exactly one of `secret_string` and `secret_binary` (base64).
fn value_of(body: &Map<String, Value>) -> Result<SecretValue, ApiError> {
    let s = str_field(body, "secret_string")?;
    let b = str_field(body, "secret_binary")?;
    match (s, b) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::invalid(
            "secret_string",
            "give exactly one of secret_string and secret_binary",
        )),
        (Some(s), None) => {
            if s.len() > MAX_VALUE {
                return Err(ApiError::invalid(
                    "secret_string",
                    format!("longer than {MAX_VALUE} bytes"),
                ));
            }
            Ok(SecretValue::Text(Zeroizing::new(s.to_string())))
        }
        (None, Some(b)) => {
            if b.len() > MAX_VALUE {
                return Err(ApiError::invalid(
                    "secret_binary",
                    format!("longer than {MAX_VALUE} characters"),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| ApiError::invalid("secret_binary", "it is not valid base64"))?;
            Ok(SecretValue::Binary(Zeroizing::new(bytes)))
        }
    }
}

// --- secrets --------------------------------------------------------------------------------

/// Creates a COMMON secret; the fields every create shares are already checked.
pub async fn create_secret(c: &Call, new: NewSecret<'_>) -> OpResult {
    let NewSecret {
        body,
        name,
        managed: _,
        description,
        key,
        subscriptions,
    } = new;
    let value = value_of(body)?;
    let created = c
        .service
        .create_secret_within(
            &c.scope,
            CreateSecret {
                name: name.to_string(),
                description,
                kind: SecretKind::Generic,
                key,
                tags: vec![],
                version_id: "v1".into(),
                value,
                extended_config: None,
                policy: None,
                subscriptions,
            },
            c.max_secrets,
        )
        .await
        .map_err(|e| match e {
            // The only quota a create can hit: the secrets of the region.
            Error::LimitExceeded { what } => ApiError::secret_quota(what),
            other => other.into(),
        })?;
    ok(json!({ "secret": secret_json(&created) }))
}

/// Pages in creation order; `marker` is the name of the last secret of the previous page.
pub async fn list_secrets(c: &Call) -> OpResult {
    let limit = limit(c, 50)?;
    let marker = c.query("marker").filter(|m| !m.is_empty());
    if let Some(m) = marker {
        secret_name(m).map_err(|_| ApiError::invalid("marker", "it must be a secret name"))?;
    }
    let event = c.query("event_name").filter(|e| !e.is_empty());
    if let Some(event) = event {
        if !valid_name(event) {
            return Err(ApiError::invalid(
                "event_name",
                "it must match ^[a-zA-Z0-9_-]{1,64}$",
            ));
        }
    }
    let filter = SecretFilter {
        subscribed_to: event.map(str::to_string),
        ..Default::default()
    };
    // Find where the marker stands in creation order, then read the page after it.
    let mut offset: u64 = 0;
    if let Some(m) = marker {
        const SCAN: u32 = 1000;
        let mut found = None;
        loop {
            let page = c
                .service
                .list(
                    &c.scope,
                    &filter,
                    PageRequest {
                        offset,
                        limit: SCAN,
                        newest_first: false,
                    },
                )
                .await?;
            if let Some(i) = page.items.iter().position(|s| s.name == m) {
                found = Some(offset + i as u64 + 1);
                break;
            }
            if page.items.len() < SCAN as usize {
                break;
            }
            offset += SCAN as u64;
        }
        // A marker that names no secret has nothing after it.
        match found {
            Some(o) => offset = o,
            None => {
                return ok(json!({"secrets": [], "page_info": page_info(None, None, 0, false)}))
            }
        }
    }
    let page = c
        .service
        .list(
            &c.scope,
            &filter,
            PageRequest {
                offset,
                limit,
                newest_first: false,
            },
        )
        .await?;
    let more = offset + (page.items.len() as u64) < page.total;
    let info = page_info(
        page.items.first().map(|s| s.name.as_str()),
        page.items.last().map(|s| s.name.as_str()),
        page.items.len(),
        more,
    );
    let secrets: Vec<Value> = page.items.iter().map(secret_json).collect();
    ok(json!({ "secrets": secrets, "page_info": info }))
}

pub async fn show_secret(c: &Call, name: &str) -> OpResult {
    let s = load(c, name).await?;
    ok(json!({ "secret": secret_json(&s) }))
}

/// `kms_key_id` is the body's key named by the id the permission judged it by.
pub async fn update_secret(c: &Call, name: &str, kms_key_id: Option<String>) -> OpResult {
    let body = c.json()?;
    let description = description(body)?;
    let s = load(c, name).await?;
    if s.is_pending_delete() {
        return Err(Error::InDeleteWindow { name: s.name }.into());
    }
    if s.kind.is_managed() {
        // An RDS secret's rotation policy is part of its metadata.
        if let Some(change) = rotation_change(body)? {
            let enabled = change.enabled.unwrap_or(s.rotation.enabled);
            c.service
                .set_rotation_policy(&c.scope, &s.name, enabled, change.period, None)
                .await?;
        }
    } else {
        refuse_unsupported(body)?;
    }
    let new_key = str_field(body, "kms_key_id")?
        .filter(|k| !k.is_empty())
        .and(kms_key_id);
    // Checked before anything changes, so a bad key leaves the secret as it was.
    if let Some(k) = &new_key {
        c.service.resolve_key(&c.scope, k).await?;
    }
    let change = MetadataChange {
        description,
        subscriptions: subscriptions(body)?,
    };
    let mut updated = if change.description.is_none() && change.subscriptions.is_none() {
        c.service.describe(&c.scope, name).await?
    } else {
        c.service.update_metadata(&c.scope, name, change).await?
    };
    // A new key rewraps every version's data key (reference 4.x: kms_key_id).
    if let Some(k) = new_key {
        updated = c.service.change_secret_key(&c.scope, name, &k).await?;
    }
    ok(json!({ "secret": secret_json(&updated) }))
}

pub async fn delete_secret(c: &Call, name: &str) -> OpResult {
    secret_name(name)?;
    c.service
        .delete(&c.scope, name, DeleteMode::Immediate, |_| Ok(()))
        .await?;
    Ok((200, None))
}

pub async fn schedule_delete(c: &Call, name: &str) -> OpResult {
    secret_name(name)?;
    let body = c.json()?;
    let days = match body.get("recovery_window_in_days") {
        None | Some(Value::Null) => 30,
        Some(Value::Number(n)) => n.as_i64().filter(|d| (7..=30).contains(d)).ok_or_else(|| {
            ApiError::invalid(
                "recovery_window_in_days",
                "it must be an integer from 7 to 30",
            )
        })?,
        Some(_) => {
            return Err(ApiError::invalid(
                "recovery_window_in_days",
                "it must be an integer from 7 to 30",
            ))
        }
    };
    let result = c
        .service
        .delete(&c.scope, name, DeleteMode::Window { days }, |s| {
            if s.is_pending_delete() {
                Err(Error::InvalidState {
                    name: s.name.clone(),
                    reason: "already scheduled".into(),
                })
            } else {
                Ok(())
            }
        })
        .await;
    match result {
        Ok(_) => {}
        Err(Error::InvalidState { name, .. }) => {
            return Err(ApiError::new(
                400,
                "CSMS.0107",
                format!("The secret {name:?} is in schedule delete state."),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let s = load(c, name).await?;
    ok(json!({ "secret": secret_json(&s) }))
}

pub async fn cancel_delete(c: &Call, name: &str) -> OpResult {
    secret_name(name)?;
    match c
        .service
        .restore(&c.scope, name, SecretState::Enabled)
        .await
    {
        Ok(s) => ok(json!({ "secret": secret_json(&s) })),
        Err(Error::InvalidState { name, .. }) => Err(ApiError::new(
            400,
            "CSMS.0108",
            format!("The secret {name:?} is not in schedule delete state."),
        )),
        Err(e) => Err(e.into()),
    }
}

// --- versions -------------------------------------------------------------------------------

pub async fn create_version(c: &Call, name: &str) -> OpResult {
    let body = c.json()?;
    let value = value_of(body)?;
    let expires_at = expire_time(body, false)?;
    let stages = match body.get("version_stages") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_STAGES {
                return Err(ApiError::invalid(
                    "version_stages",
                    format!("give 1 to {MAX_STAGES} stages"),
                ));
            }
            let mut out = vec![];
            for it in items {
                let n = it.as_str().ok_or_else(|| {
                    ApiError::invalid("version_stages", "each stage must be a string")
                })?;
                let st = stage_of(n).map_err(|_| {
                    ApiError::invalid(
                        "version_stages",
                        "each stage must match ^[a-zA-Z0-9_-]{1,64}$",
                    )
                })?;
                if !out.contains(&st) {
                    out.push(st);
                }
            }
            Some(out)
        }
        Some(_) => return Err(ApiError::invalid("version_stages", "it must be a list")),
    };
    let s = load(c, name).await?;
    if let Some(e) = not_enabled(&s) {
        return Err(e);
    }
    let version_id = next_version_id(&s);
    let v = c
        .service
        .put_value(
            &c.scope,
            name,
            PutValue {
                version_id,
                value,
                stages,
                when_full: WhenFull::Refuse,
                max_versions: MAX_VERSIONS,
                max_stages: MAX_STAGES,
                expires_at,
                // The version id is the server's; one that appeared meanwhile is refused
                // alike, whatever its value.
                when_exists: WhenExists::Refuse,
            },
        )
        .await
        .map_err(|e| match e {
            Error::LimitExceeded { what } if what.contains("stage") => ApiError::new(
                400,
                "CSMS.0203",
                format!("The number of stage has reached the upper limit: {what}."),
            ),
            other => other.into(),
        })?;
    ok(json!({ "version_metadata": version_json(&s, &v) }))
}

/// `expire_time`: epoch milliseconds, 0..=9999999999999.
fn expire_time(body: &Map<String, Value>, required: bool) -> Result<Option<Timestamp>, ApiError> {
    match body.get("expire_time") {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ApiError::invalid(
            "expire_time",
            "the parameter is required",
        )),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|t| (0..=9_999_999_999_999).contains(t))
            .map(|t| Some(Timestamp(t)))
            .ok_or_else(|| {
                ApiError::invalid(
                    "expire_time",
                    "it must be epoch milliseconds from 0 to 9999999999999",
                )
            }),
        Some(_) => Err(ApiError::invalid(
            "expire_time",
            "it must be an integer (epoch milliseconds)",
        )),
    }
}

pub async fn update_version(c: &Call, name: &str, version: &str) -> OpResult {
    let body = c.json()?;
    let expires_at = expire_time(body, true)?;
    let s = load(c, name).await?;
    if let Some(e) = not_enabled(&s) {
        return Err(e);
    }
    let v = c
        .service
        .set_version_expiry(&c.scope, name, version, expires_at)
        .await?;
    ok(json!({ "version_metadata": version_json(&s, &v) }))
}

pub async fn list_versions(c: &Call, name: &str) -> OpResult {
    let limit = limit(c, 50)? as usize;
    let s = load(c, name).await?;
    let start = match c.query("marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => {
            s.versions
                .iter()
                .position(|v| v.version_id == m)
                .ok_or_else(|| ApiError::invalid("marker", format!("no version {m:?}")))?
                + 1
        }
    };
    let page: Vec<&VersionRecord> = s.versions.iter().skip(start).take(limit).collect();
    let more = start + page.len() < s.versions.len();
    let info = page_info(
        page.first().map(|v| v.version_id.as_str()),
        page.last().map(|v| v.version_id.as_str()),
        page.len(),
        more,
    );
    let items: Vec<Value> = page.iter().map(|v| version_json(&s, v)).collect();
    ok(json!({ "version_metadatas": items, "page_info": info }))
}

fn value_json(s: &SecretRecord, v: &VersionRecord, value: &SecretValue) -> Value {
    let mut out = json!({ "version_metadata": version_json(s, v) });
    match value {
        // Managed credentials in Huawei's spelling, whichever cloud's client wrote them.
        SecretValue::Text(t) if s.kind.is_managed() => {
            let text = coffer_core::DbCredentials::decode(t)
                .map(|c| c.encode(coffer_core::CredentialFormat::Huawei).to_string())
                .unwrap_or_else(|| t.to_string());
            out["secret_string"] = Value::String(text)
        }
        SecretValue::Text(t) => out["secret_string"] = Value::String(t.to_string()),
        SecretValue::Binary(b) => {
            out["secret_binary"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_slice()))
        }
    }
    out
}

pub async fn show_version(c: &Call, name: &str, version: &str) -> OpResult {
    secret_name(name)?;
    let selector = if version == "latest" {
        VersionSelector {
            version_id: None,
            stage: Some(Stage::Current),
        }
    } else {
        let numbered = version.strip_prefix('v').is_some_and(|d| {
            !d.is_empty() && d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit())
        });
        // Versions written through other dialects may have other ids; they are readable too.
        if !numbered
            && !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ApiError::invalid("version_id", "it must be vN or latest"));
        }
        VersionSelector {
            version_id: Some(version.to_string()),
            stage: None,
        }
    };
    let s = load(c, name).await?;
    if let Some(e) = not_enabled(&s) {
        return Err(e);
    }
    let read = c.service.get_value(&c.scope, name, &selector).await?;
    ok(json!({ "version": value_json(&read.secret, &read.version, &read.value) }))
}

pub async fn batch_get(c: &Call) -> OpResult {
    let body = c.json()?;
    let names = match body.get("secret_name_list") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 20 => a,
        _ => {
            return Err(ApiError::invalid(
                "secret_name_list",
                "give 1 to 20 secret names",
            ))
        }
    };
    let mut versions = vec![];
    for n in names {
        let n = n
            .as_str()
            .ok_or_else(|| ApiError::invalid("secret_name_list", "each name must be a string"))?;
        let s = load(c, n).await?;
        if let Some(e) = not_enabled(&s) {
            return Err(e);
        }
        let read = c
            .service
            .get_value(
                &c.scope,
                n,
                &VersionSelector {
                    version_id: None,
                    stage: Some(Stage::Current),
                },
            )
            .await?;
        versions.push(value_json(&read.secret, &read.version, &read.value));
    }
    ok(json!({ "total_count": versions.len(), "versions": versions }))
}

// --- stages ---------------------------------------------------------------------------------

fn stage_json(s: &SecretRecord, stage: &Stage, version_id: &str) -> Value {
    json!({
        "name": stage_name(stage),
        "version_id": version_id,
        "secret_name": s.name,
        "update_time": s.updated_at.as_millis(),
    })
}

pub async fn put_stage(c: &Call, name: &str, stage: &str) -> OpResult {
    secret_name(name)?;
    let stage = stage_of(stage)?;
    let body = c.json()?;
    let version = str_field(body, "version_id")?
        .ok_or_else(|| ApiError::invalid("version_id", "the parameter is required"))?;
    let s = c
        .service
        .update_stage(
            &c.scope,
            name,
            stage.clone(),
            None,
            Some(version.to_string()),
            MAX_STAGES,
        )
        .await
        .map_err(|e| match e {
            Error::LimitExceeded { what } => ApiError::new(
                400,
                "CSMS.0203",
                format!("The number of stage has reached the upper limit: {what}."),
            ),
            other => other.into(),
        })?;
    ok(json!({ "stage": stage_json(&s, &stage, version) }))
}

pub async fn show_stage(c: &Call, name: &str, stage: &str) -> OpResult {
    let st = stage_of(stage)?;
    let s = load(c, name).await?;
    let v = s
        .version_with_stage(&st)
        .ok_or_else(|| ApiError::not_found(&format!("the stage {stage:?}")))?;
    ok(json!({ "stage": stage_json(&s, &st, &v.version_id) }))
}

pub async fn delete_stage(c: &Call, name: &str, stage: &str) -> OpResult {
    let st = stage_of(stage)?;
    if matches!(st, Stage::Current | Stage::Previous) {
        return Err(ApiError::new(
            400,
            "CSMS.0105",
            format!("Can not delete the system internal stage {stage}."),
        ));
    }
    let s = load(c, name).await?;
    let holder = s
        .version_with_stage(&st)
        .ok_or_else(|| ApiError::not_found(&format!("the stage {stage:?}")))?
        .version_id
        .clone();
    c.service
        .update_stage(&c.scope, name, st, Some(holder), None, MAX_STAGES)
        .await?;
    no_content()
}

// --- tags -----------------------------------------------------------------------------------

pub fn tag_of(v: &Value, field: &str) -> Result<Tag, ApiError> {
    let o = v
        .as_object()
        .ok_or_else(|| ApiError::invalid(field, "a tag is {\"key\": ..., \"value\": ...}"))?;
    let key = o
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(field, "a tag needs a string key"))?;
    let value = match o.get("value") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::invalid(field, "a tag value must be a string")),
    };
    let key_ok = !key.is_empty()
        && key.chars().count() <= 128
        && !key.starts_with("_sys_")
        && !key.starts_with(char::is_whitespace)
        && !key.ends_with(char::is_whitespace)
        && key
            .chars()
            .all(|ch| ch.is_alphanumeric() || ch.is_whitespace() || "_.:=+-@".contains(ch));
    if !key_ok {
        return Err(ApiError::invalid(
            field,
            format!("the tag key {key:?} is not allowed"),
        ));
    }
    let value_ok = value.chars().count() <= 255
        && value
            .chars()
            .all(|ch| ch.is_alphanumeric() || ch.is_whitespace() || "_.:/=+-@".contains(ch));
    if !value_ok {
        return Err(ApiError::invalid(
            field,
            format!("the tag value for {key:?} is not allowed"),
        ));
    }
    Ok(Tag {
        key: key.to_string(),
        value: value.to_string(),
    })
}

pub async fn create_tag(c: &Call, secret: SecretById) -> OpResult {
    let body = c.json()?;
    let tag = tag_of(body.get("tag").unwrap_or(&Value::Null), "tag")?;
    let s = secret.secret(c).await?;
    c.service
        .tag(&c.scope, &s.name, vec![tag], MAX_TAGS)
        .await?;
    no_content()
}

pub async fn list_tags(c: &Call, secret: SecretById) -> OpResult {
    let s = secret.secret(c).await?;
    ok(json!({ "tags": tags_json(&s.tags), "sys_tags": [] }))
}

pub async fn delete_tag(c: &Call, secret: SecretById, key: &str) -> OpResult {
    let s = secret.secret(c).await?;
    if !s.tags.iter().any(|t| t.key == key) {
        return Err(ApiError::not_found(&format!("the tag {key:?}")));
    }
    c.service
        .untag(&c.scope, &s.name, Some(vec![key.to_string()]))
        .await?;
    no_content()
}

pub async fn batch_tags(c: &Call, secret: SecretById) -> OpResult {
    let body = c.json()?;
    let action = str_field(body, "action")?
        .ok_or_else(|| ApiError::invalid("action", "the parameter is required"))?;
    if !matches!(action, "create" | "delete") {
        return Err(ApiError::invalid("action", "it must be create or delete"));
    }
    sequence(body)?;
    let tags = match body.get("tags") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_TAGS => a
            .iter()
            .map(|t| tag_of(t, "tags"))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(ApiError::invalid(
                "tags",
                format!("give 1 to {MAX_TAGS} tags"),
            ))
        }
    };
    let s = secret.secret(c).await?;
    match action {
        "create" => {
            c.service.tag(&c.scope, &s.name, tags, MAX_TAGS).await?;
        }
        "delete" => {
            c.service
                .untag(
                    &c.scope,
                    &s.name,
                    Some(tags.into_iter().map(|t| t.key).collect()),
                )
                .await?;
        }
        _ => return Err(ApiError::invalid("action", "it must be create or delete")),
    }
    no_content()
}

/// `sequence`: an optional client token of at most 36 characters.
fn sequence(body: &Map<String, Value>) -> Result<(), ApiError> {
    if str_field(body, "sequence")?.is_some_and(|s| s.chars().count() > 36) {
        return Err(ApiError::invalid("sequence", "at most 36 characters"));
    }
    Ok(())
}

/// How many secrets a project-wide tag query reads at most.
const TAG_SCAN_LIMIT: u32 = 10_000;

pub async fn project_tags(c: &Call) -> OpResult {
    let all = c
        .service
        .list(
            &c.scope,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: TAG_SCAN_LIMIT,
                newest_first: false,
            },
        )
        .await?;
    let mut keys: Vec<(String, Vec<String>)> = vec![];
    for s in &all.items {
        for t in &s.tags {
            match keys.iter_mut().find(|(k, _)| *k == t.key) {
                Some((_, vs)) if !vs.contains(&t.value) => vs.push(t.value.clone()),
                Some(_) => {}
                None => keys.push((t.key.clone(), vec![t.value.clone()])),
            }
        }
    }
    let tags: Vec<Value> = keys
        .into_iter()
        .map(|(k, vs)| json!({"key": k, "values": vs}))
        .collect();
    ok(json!({ "tags": tags }))
}

pub async fn resource_instances(c: &Call) -> OpResult {
    let body = c.json()?;
    let action = str_field(body, "action")?
        .ok_or_else(|| ApiError::invalid("action", "the parameter is required"))?;
    let int_text = |name: &str, default: u64, max: u64| -> Result<u64, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => {
                s.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                    ApiError::invalid(name, format!("it must be an integer from 0 to {max}"))
                })
            }
            Some(Value::Number(n)) => n.as_u64().filter(|n| *n <= max).ok_or_else(|| {
                ApiError::invalid(name, format!("it must be an integer from 0 to {max}"))
            }),
            Some(_) => Err(ApiError::invalid(name, "it must be an integer")),
        }
    };
    sequence(body)?;
    let limit = int_text("limit", 10, 1000)?;
    if limit == 0 {
        return Err(ApiError::invalid(
            "limit",
            "it must be an integer from 1 to 1000",
        ));
    }
    let offset = int_text("offset", 0, u64::MAX)?;
    let mut filter = SecretFilter::default();
    if let Some(Value::Array(tags)) = body.get("tags") {
        if tags.len() > 10 {
            return Err(ApiError::invalid("tags", "at most 10 tag filters"));
        }
        for t in tags {
            let key = t
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("tags", "each filter needs a key"))?;
            let values = match t.get("values") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(vs)) if vs.len() <= 10 => vs
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| ApiError::invalid("tags", "values must be strings"))?,
                Some(_) => {
                    return Err(ApiError::invalid(
                        "tags",
                        "values is a list of at most 10 strings",
                    ))
                }
            };
            filter.tags.push(TagCondition {
                key: key.to_string(),
                values,
            });
        }
    }
    if let Some(Value::Array(matches)) = body.get("matches") {
        for m in matches {
            match (
                m.get("key").and_then(Value::as_str),
                m.get("value").and_then(Value::as_str),
            ) {
                (Some("resource_name"), Some(v)) if v.chars().count() <= 255 => {
                    filter.name_contains = Some(v.to_string())
                }
                _ => {
                    return Err(ApiError::invalid(
                        "matches",
                        "only {\"key\": \"resource_name\", \"value\": ...} is supported",
                    ))
                }
            }
        }
    }
    match action {
        "count" => {
            let page = c
                .service
                .list(
                    &c.scope,
                    &filter,
                    PageRequest {
                        offset: 0,
                        limit: 0,
                        newest_first: false,
                    },
                )
                .await?;
            ok(json!({ "total_count": page.total }))
        }
        "filter" => {
            let page = c
                .service
                .list(
                    &c.scope,
                    &filter,
                    PageRequest {
                        offset,
                        limit: limit as u32,
                        newest_first: false,
                    },
                )
                .await?;
            let resources: Vec<Value> = page
                .items
                .iter()
                .map(|s| {
                    json!({
                        "resource_id": s.id.to_string(),
                        "resource_name": s.name,
                        "resource_detail": secret_json(s),
                        "tags": tags_json(&s.tags),
                        "sys_tags": [],
                    })
                })
                .collect();
            ok(json!({ "resources": resources, "total_count": page.total }))
        }
        _ => Err(ApiError::invalid("action", "it must be filter or count")),
    }
}
