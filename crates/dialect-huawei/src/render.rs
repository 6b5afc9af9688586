//! Huawei's wire answers: the reply of a request (status, JSON body, `X-Request-Id`), the two
//! error body shapes (CSMS and KMS), and the JSON forms of secrets, versions, tags and pages
//! that several operations answer with.

use coffer_api::{HttpRequest, Reply};
use coffer_core::{SecretKind, SecretRecord, SecretState, Stage, Tag, VersionRecord};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::params::{period_text, SYSCURRENT, SYSPREVIOUS};
use crate::request::{is_kms, Output};

const CONTENT_TYPE: &str = "application/json";

/// The answer to one request. Huawei's request ids are 32 hex digits (the server's UUID
/// without its dashes); the SDK reads them from `X-Request-Id`, and every body carries them too.
pub fn reply(req: &HttpRequest<'_>, outcome: Result<Output, ApiError>) -> Reply {
    let request_id = req.request_id.replace('-', "");
    let mut retry_after = None;
    let (status, body) = match outcome {
        Ok((status, body)) => {
            let body = body.map(|mut b| {
                if let Value::Object(m) = &mut b {
                    m.insert("request_id".into(), Value::String(request_id.clone()));
                }
                serde_json::to_vec(&b).unwrap_or_default()
            });
            (status, body.unwrap_or_default())
        }
        Err(e) => {
            retry_after = e.retry_after_ms;
            let body = if is_kms(req.path) {
                kms_error_body(&e, &request_id)
            } else {
                json!({
                    "error_code": e.code,
                    "error_msg": e.message,
                    "request_id": request_id,
                })
            };
            (e.status, serde_json::to_vec(&body).unwrap_or_default())
        }
    };
    let reply = Reply::new(status, CONTENT_TYPE, body).with_header("x-request-id", request_id);
    match retry_after {
        Some(ms) => reply.with_header("retry-after", ms.div_ceil(1000).max(1).to_string()),
        None => reply,
    }
}

/// KMS wraps its errors as `{"error": {...}}`; the SDK reads both shapes.
fn kms_error_body(e: &ApiError, request_id: &str) -> Value {
    json!({
        "error": {
            "error_code": e.code,
            "error_msg": e.message,
            "request_id": request_id,
        }
    })
}

// --- secrets ----------------------------------------------------------------------------------

pub fn secret_type(s: &SecretRecord) -> &'static str {
    match s.kind {
        SecretKind::Generic => "COMMON",
        SecretKind::Database { .. } => "RDS-FG",
    }
}

fn state(s: &SecretRecord) -> &'static str {
    match s.state {
        SecretState::Enabled => "ENABLED",
        SecretState::Disabled => "DISABLED",
        SecretState::PendingDelete { .. } => "PENDING_DELETE",
    }
}

pub fn stage_name(stage: &Stage) -> String {
    match stage {
        Stage::Current => SYSCURRENT.into(),
        Stage::Previous => SYSPREVIOUS.into(),
        Stage::Pending => "SYSPENDING".into(),
        Stage::Custom(s) => s.clone(),
    }
}

pub fn secret_json(s: &SecretRecord) -> Value {
    let mut out = json!({
        "id": s.id.to_string(),
        "name": s.name,
        "state": state(s),
        "kms_key_id": s.key_id,
        "description": s.description,
        "create_time": s.created_at.as_millis(),
        "update_time": s.updated_at.as_millis(),
        "scheduled_delete_time": s.state.purge_at().map(|t| t.as_millis()),
        "secret_type": secret_type(s),
        "auto_rotation": false,
        "rotation_period": "",
        "rotation_config": "",
        "event_subscriptions": s.subscriptions,
        "enterprise_project_id": "0",
        "rotation_func_urn": "",
    });
    rotation_fields(s, &mut out);
    out
}

/// The rotation fields of a managed (RDS) secret.
fn rotation_fields(s: &SecretRecord, out: &mut Value) {
    if !s.kind.is_managed() {
        return;
    }
    let r = &s.rotation;
    out["auto_rotation"] = Value::Bool(r.enabled);
    out["rotation_period"] = Value::String(r.interval_secs.map(period_text).unwrap_or_default());
    out["rotation_config"] = Value::String(s.extended_config.clone().unwrap_or_default());
    if let Some(t) = r.last {
        out["rotation_time"] = json!(t.as_millis());
    }
    if let (true, Some(t)) = (r.enabled, r.next) {
        out["next_rotation_time"] = json!(t.as_millis());
    }
}

pub fn version_json(s: &SecretRecord, v: &VersionRecord) -> Value {
    json!({
        "id": v.version_id,
        "create_time": v.created_at.as_millis(),
        "expire_time": v.expires_at.map(|t| t.as_millis()),
        "kms_key_id": s.key_id,
        "secret_name": s.name,
        "version_stages": v.stages.iter().map(stage_name).collect::<Vec<_>>(),
    })
}

pub fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"key": t.key, "value": t.value}))
            .collect(),
    )
}

pub fn page_info(first: Option<&str>, last: Option<&str>, count: usize, more: bool) -> Value {
    json!({
        "next_marker": if more { last } else { None },
        "previous_marker": first,
        "current_count": count,
    })
}
