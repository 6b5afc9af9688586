//! Server-wide operations of the operator: the audit log and the root key rewrap.

use coffer_core::service::{RewrapOptions, RewrapStatus};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::request::{bool_field, Answer, Call};

/// Most audit entries one tail request returns.
const MAX_TAIL: usize = 10_000;

pub(crate) async fn tail_audit(c: &Call) -> Answer {
    let n = match c.query("limit") {
        None => 20,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_TAIL).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("it must be an integer from 1 to {MAX_TAIL}"),
                )
            })?,
    };
    let entries: Vec<Value> = c
        .audit_log
        .tail(n)
        .await?
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::String(line.clone())))
        .collect();
    Ok((200, json!({ "Entries": entries })))
}

/// Starts a rewrap (or reports the one running): a new root key unless `NewRootKey` is
/// false, and new material for every enabled key when `NewKeyMaterial` is true.
pub(crate) async fn start_rewrap(c: &Call) -> Answer {
    let body = c.json()?;
    let opts = RewrapOptions {
        new_root_key: bool_field(&body, "NewRootKey", true)?,
        new_key_material: bool_field(&body, "NewKeyMaterial", false)?,
    };
    let status = c.service.start_rewrap(opts).await?;
    Ok((200, rewrap_json(c, &status)))
}

pub(crate) fn show_rewrap(c: &Call) -> Answer {
    Ok((200, rewrap_json(c, &c.service.rewrap_status())))
}

fn rewrap_json(c: &Call, s: &RewrapStatus) -> Value {
    json!({
        "State": s.state.as_str(),
        "NewRootKey": s.new_root_key,
        "NewKeyMaterial": s.new_key_material,
        "Phase": s.phase,
        "Done": s.done,
        "Total": s.total,
        "KeysRotated": s.keys_rotated,
        "RootWrappedMoved": s.root_wrapped_moved,
        "DataKeysMoved": s.data_keys_moved,
        "StartedAt": s.started_at.map(|t| t.to_iso8601_seconds()),
        "FinishedAt": s.finished_at.map(|t| t.to_iso8601_seconds()),
        "Error": s.error,
        "RootRotationPending": c.service.root_rotation_pending(),
    })
}
