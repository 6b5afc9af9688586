//! RDS secrets (`secret_type` `RDS-FG`, or the older `RDS`): created over an existing
//! database account on a registered instance named by `rotation_config`, rotated by coffer
//! itself (where Huawei hands rotation to a FunctionGraph function), and reported through the
//! secret's rotation fields and the task list (Huawei's CSMS API reference).

use coffer_core::service::NewDatabaseSecret;
use coffer_core::{
    CredentialFormat, DbCredentials, DbSubType, Error, RotationTask, SecretKind, TaskKind,
    TaskStatus,
};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::errors::ApiError;
use crate::params::{auto_rotation, rotation_period, str_field, NewSecret};
use crate::render::{secret_json, secret_type};
use crate::request::{limit, load, next_version_id, not_enabled, ok, Call, OpResult};

const MAX_ROTATION_CONFIG: usize = 1024;
/// Most tasks a task listing looks through.
const MAX_TASKS: u32 = 1000;

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

/// Creates an RDS secret: `secret_string` holds the account's credentials
/// (`{"username": .., "password": ..}`; the other clouds' spellings are read too).
pub async fn create_secret(c: &Call, new: NewSecret<'_>) -> OpResult {
    let NewSecret {
        body,
        name,
        managed: _,
        description,
        key,
        subscriptions,
    } = new;
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
        .create_database_secret_within(
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
            c.max_secrets,
        )
        .await
        .map_err(|e| match e {
            Error::LimitExceeded { what } => ApiError::secret_quota(what),
            other => other.into(),
        })?;
    ok(json!({ "secret": secret_json(&record) }))
}

/// `POST secrets/{name}/rotate`: a new version with a new password, set on the database first.
pub async fn rotate_secret(c: &Call, name: &str) -> OpResult {
    let s = load(c, name).await?;
    if !s.kind.is_managed() {
        return Err(ApiError::invalid(
            "secret_type",
            format!("rotation is not supported for {} secrets", secret_type(&s)),
        ));
    }
    if let Some(e) = not_enabled(&s) {
        return Err(e);
    }
    let task = c
        .service
        .rotate(&c.scope, &s.name, Some(next_version_id(&s)))
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
pub async fn list_tasks(c: &Call) -> OpResult {
    let limit = limit(c, 50)? as usize;
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
    // The marker of the next page is the last task of this one.
    let next = (total > limit)
        .then(|| limit.checked_sub(1).and_then(|i| found.get(i)))
        .flatten()
        .map(|(t, _)| t.id.to_string());
    ok(json!({ "total": total, "tasks": page, "next_marker": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
