//! RDS secrets (`secret_type` `RDS-FG`, or the older `RDS`): created over an existing
//! database account on a registered instance named by `rotation_config`, rotated by coffer
//! itself (where Huawei hands rotation to a FunctionGraph function), and reported through the
//! secret's rotation fields and the task list (reference: huawei.md 3, 4.14, 4.15).

use coffer_core::service::NewDatabaseSecret;
use coffer_core::{
    CredentialFormat, DbCredentials, DbSubType, Error, RotationTask, SecretKind, SecretRecord,
    TaskKind, TaskStatus,
};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::ops::{ok, str_field, OpResult};
use crate::Call;

/// `rotation_period` bounds. Coffer decision: 4 h to 8760 h, as the managed-credentials
/// issue states (the reference notes 6 h for COMMON-era docs).
const MIN_PERIOD_SECS: i64 = 4 * 3600;
const MAX_PERIOD_SECS: i64 = 8760 * 3600;
const MAX_ROTATION_CONFIG: usize = 1024;
/// Most tasks a task listing looks through.
const MAX_TASKS: u32 = 1000;

/// `Integer[unit]` with unit `d`, `h`, `m` or `s` (seconds when none).
pub(crate) fn rotation_period(text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(
            "rotation_period",
            "it must be an integer with a unit d, h, m or s (such as 30d), from 4h to 8760h",
        )
    };
    if text.len() > 50 {
        return Err(bad());
    }
    let (digits, factor) = match text.chars().last() {
        Some('d') => (&text[..text.len() - 1], 86_400),
        Some('h') => (&text[..text.len() - 1], 3_600),
        Some('m') => (&text[..text.len() - 1], 60),
        Some('s') => (&text[..text.len() - 1], 1),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs = digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(bad)?;
    if !(MIN_PERIOD_SECS..=MAX_PERIOD_SECS).contains(&secs) {
        return Err(bad());
    }
    Ok(secs)
}

/// The period in the largest unit that divides it.
pub(crate) fn period_text(secs: i64) -> String {
    for (unit, n) in [('d', 86_400), ('h', 3_600), ('m', 60)] {
        if secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// `{"InstanceId": .., "SecretSubType": "SingleUser" | "MultiUser"}`, normalised.
fn rotation_config(text: &str) -> Result<(String, DbSubType, String), ApiError> {
    const F: &str = "rotation_config";
    if text.len() > MAX_ROTATION_CONFIG {
        return Err(ApiError::invalid(
            F,
            format!("longer than {MAX_ROTATION_CONFIG} characters"),
        ));
    }
    let v: Map<String, Value> = serde_json::from_str(text)
        .map_err(|_| ApiError::invalid(F, "it must be a JSON object text"))?;
    let instance = v
        .get("InstanceId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(F, "InstanceId is required"))?;
    let (sub, label) = match v.get("SecretSubType").and_then(Value::as_str) {
        Some("SingleUser") | None => (DbSubType::SingleUser, "SingleUser"),
        Some("MultiUser") => (DbSubType::DoubleUsers, "MultiUser"),
        Some(other) => {
            return Err(ApiError::invalid(
                F,
                format!("SecretSubType {other:?} is not SingleUser or MultiUser"),
            ))
        }
    };
    let normal = json!({ "InstanceId": instance, "SecretSubType": label }).to_string();
    Ok((instance.to_string(), sub, normal))
}

fn auto_rotation(body: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match body.get("auto_rotation") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            "auto_rotation",
            "it must be a JSON boolean",
        )),
    }
}

/// Creates an RDS secret: `secret_string` holds the account's credentials
/// (`{"username": .., "password": ..}`; the other clouds' spellings are read too).
pub(crate) async fn create(
    c: &Call<'_>,
    body: &Map<String, Value>,
    name: &str,
    description: String,
    key: Option<String>,
    subscriptions: Vec<String>,
) -> OpResult {
    let config = str_field(body, "rotation_config")?.ok_or_else(|| {
        ApiError::invalid("rotation_config", "RDS secrets need a rotation_config")
    })?;
    let (instance, sub_type, normal) = rotation_config(config)?;
    if str_field(body, "rotation_func_urn")?.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid(
            "rotation_func_urn",
            "coffer rotates RDS secrets itself; leave it out",
        ));
    }
    let text = str_field(body, "secret_string")?.ok_or_else(|| {
        ApiError::invalid(
            "secret_string",
            "an RDS secret's value is {\"username\":\"..\",\"password\":\"..\"}",
        )
    })?;
    let creds = DbCredentials::decode(text).ok_or_else(|| {
        ApiError::invalid(
            "secret_string",
            "an RDS secret's value is {\"username\":\"..\",\"password\":\"..\"}",
        )
    })?;
    let interval = match (auto_rotation(body)?, str_field(body, "rotation_period")?) {
        (Some(true), Some(p)) => Some(rotation_period(p)?),
        (Some(true), None) => {
            return Err(ApiError::invalid(
                "rotation_period",
                "it is required when auto_rotation is true",
            ))
        }
        (_, Some(p)) => {
            // Checked even while rotation stays off, so a bad period is reported now.
            rotation_period(p)?;
            None
        }
        _ => None,
    };
    let record = c
        .service
        .create_database_secret(
            &c.scope,
            NewDatabaseSecret {
                name: name.to_string(),
                description,
                key,
                tags: vec![],
                version_id: "v1".into(),
                extended_config: Some(normal),
                policy: None,
                subscriptions,
                instance,
                sub_type,
                format: CredentialFormat::Huawei,
                accounts: vec![DbCredentials {
                    account: creds.account,
                    password: Zeroizing::new(creds.password.to_string()),
                }],
                rotation_interval: interval,
            },
        )
        .await?;
    ok(json!({ "secret": crate::ops::secret_json(&record) }))
}

/// `auto_rotation` and `rotation_period` of an update, for an RDS secret.
pub(crate) async fn update_policy(
    c: &Call<'_>,
    s: &SecretRecord,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let enabled = auto_rotation(body)?;
    let period = str_field(body, "rotation_period")?
        .filter(|p| !p.is_empty())
        .map(rotation_period)
        .transpose()?;
    if enabled.is_none() && period.is_none() {
        return Ok(());
    }
    let enabled = enabled.unwrap_or(s.rotation.enabled);
    c.service
        .set_rotation_policy(&c.scope, &s.name, enabled, period, None)
        .await?;
    Ok(())
}

/// The rotation fields of a secret.
pub(crate) fn fields(s: &SecretRecord, out: &mut Value) {
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

pub(crate) async fn rotate(c: &Call<'_>, s: &SecretRecord, version_id: String) -> OpResult {
    let task = c
        .service
        .rotate(&c.scope, &s.name, Some(version_id))
        .await?;
    let instance = match &s.kind {
        SecretKind::Database { instance, .. } => instance.clone(),
        SecretKind::Generic => String::new(),
    };
    match (task.status, &task.last_error) {
        (TaskStatus::Failed, Some(reason)) => Err(Error::Database {
            instance,
            reason: format!("the rotation was rolled back: {reason}"),
            reachable: true,
        }
        .into()),
        (TaskStatus::Running, Some(reason)) => Err(Error::Database {
            instance,
            reason: format!("the rotation waits to be retried: {reason}"),
            reachable: false,
        }
        .into()),
        _ => ok(json!({
            "version_id": task.version_id,
            "secret_name": s.name,
            "rotation_task_id": task.id.to_string(),
        })),
    }
}

fn task_status(t: &RotationTask) -> &'static str {
    match (t.status, &t.last_error) {
        (TaskStatus::Succeeded, _) => "SUCCESS",
        (TaskStatus::Failed, _) | (TaskStatus::Running, Some(_)) => "FAILED",
        (TaskStatus::Running, None) => "RUNNING",
    }
}

fn task_json(t: &RotationTask, secret: &str) -> Value {
    json!({
        "task_id": t.id.to_string(),
        "secret_name": secret,
        "rotation_func_urn": "",
        "task_status": task_status(t),
        "operate_type": match t.kind {
            TaskKind::Provision { .. } => "CREATE",
            TaskKind::Rotate => "ROTATE",
        },
        "task_time": t.created_at.as_millis(),
        "attempt_nums": t.attempts.max(1),
        "task_error_code": if t.last_error.is_some() { "CSMS.0503" } else { "" },
        "task_error_msg": t.last_error.clone().unwrap_or_default(),
    })
}

/// `GET csms/tasks`: rotation tasks, newest first, by secret, status or id.
pub(crate) async fn list_tasks(c: &Call<'_>) -> OpResult {
    let limit = crate::ops::limit(c, 50)? as usize;
    let status = c.query("status").filter(|s| !s.is_empty());
    if let Some(s) = status {
        if !matches!(s, "SUCCESS" | "FAILED" | "RUNNING") {
            return Err(ApiError::invalid("status", "it must be SUCCESS or FAILED"));
        }
    }
    let mut found: Vec<(RotationTask, String)> = vec![];
    if let Some(id) = c.query("task_id").filter(|s| !s.is_empty()) {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::invalid("task_id", "it must be a task id"))?;
        if let Ok(v) = c.service.task(&c.scope, id).await {
            found.push((v.task, v.secret_name.unwrap_or_default()));
        }
    } else if let Some(n) = c.query("secret_name").filter(|s| !s.is_empty()) {
        let (_, tasks) = c.service.secret_tasks(&c.scope, n, MAX_TASKS).await?;
        found.extend(tasks.into_iter().map(|t| (t, n.to_string())));
    } else {
        found = c.service.scope_tasks(&c.scope, MAX_TASKS).await?;
    }
    found.retain(|(t, _)| status.is_none_or(|s| task_status(t) == s));
    found.sort_by_key(|(t, _)| std::cmp::Reverse((t.created_at, t.id)));
    if let Some(marker) = c.query("marker").filter(|s| !s.is_empty()) {
        if let Some(i) = found.iter().position(|(t, _)| t.id.to_string() == marker) {
            found.drain(..=i);
        }
    }
    let total = found.len();
    let page: Vec<Value> = found
        .iter()
        .take(limit)
        .map(|(t, n)| task_json(t, n))
        .collect();
    let next = (total > limit).then(|| found[limit - 1].0.id.to_string());
    ok(json!({ "total": total, "tasks": page, "next_marker": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_have_units_and_bounds() {
        assert_eq!(rotation_period("4h").unwrap(), 14_400);
        assert_eq!(rotation_period("1d").unwrap(), 86_400);
        assert_eq!(rotation_period("8760h").unwrap(), 8760 * 3600);
        assert_eq!(rotation_period("86400").unwrap(), 86_400);
        for bad in ["3h", "8761h", "", "h", "1.5d", "7w", "-1d"] {
            assert!(rotation_period(bad).is_err(), "{bad:?}");
        }
        assert_eq!(period_text(86_400 * 30), "30d");
        assert_eq!(period_text(14_400), "4h");
        assert_eq!(period_text(14_460), "241m");
        assert_eq!(period_text(14_401), "14401s");
    }

    #[test]
    fn rotation_config_names_instance_and_sub_type() {
        let (i, s, n) =
            rotation_config(r#"{"InstanceId":"rds-1","SecretSubType":"MultiUser"}"#).unwrap();
        assert_eq!((i.as_str(), s), ("rds-1", DbSubType::DoubleUsers));
        assert_eq!(n, r#"{"InstanceId":"rds-1","SecretSubType":"MultiUser"}"#);
        assert!(rotation_config(r#"{"SecretSubType":"SingleUser"}"#).is_err());
        assert!(rotation_config(r#"{"InstanceId":"x","SecretSubType":"Triple"}"#).is_err());
        assert!(rotation_config("nope").is_err());
    }
}
