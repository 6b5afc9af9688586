//! Tencent's output: the `{"Response": {...}}` envelope every answer is in, and the wire view
//! of a cloud-product (database) secret that both the secret operations (DescribeSecret,
//! ListSecrets, GetSecretValue) and the product operations show. Imports no operation module.

use coffer_api::Reply;
use coffer_core::{
    CredentialFormat, DbCredentials, RotationTask, SecretKind, SecretRecord, TaskKind, TaskStatus,
    Timestamp,
};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::request::Call;

/// Tencent answers everything, errors too, as JSON.
pub const CONTENT_TYPE: &str = "application/json";

pub const DAY_SECS: i64 = 86_400;

/// The answer: always HTTP 200 (any other status makes the SDK lose the error code), the
/// operation's fields or the error inside `Response`, with the request id beside them.
pub fn reply(request_id: &str, outcome: Result<Map<String, Value>, ApiError>) -> Reply {
    let response = match outcome {
        Ok(mut fields) => {
            fields.insert("RequestId".into(), Value::String(request_id.into()));
            Value::Object(fields)
        }
        Err(e) => json!({
            "Error": { "Code": e.code, "Message": e.message },
            "RequestId": request_id,
        }),
    };
    let body = serde_json::to_vec(&json!({ "Response": response })).unwrap_or_default();
    Reply::new(200, CONTENT_TYPE, body)
}

/// The fields of a `json!` object literal.
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What Tencent keeps about a product secret beside coffer's own model, in the secret's
/// extended configuration. [`product_name`] and [`domains`] read it back.
pub fn product_config(product: &str, hosts: &[String]) -> String {
    json!({ "ProductName": product, "Domains": hosts }).to_string()
}

fn product_name(s: &SecretRecord) -> String {
    s.extended_config
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| {
            v.get("ProductName")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn domains(s: &SecretRecord) -> Vec<String> {
    s.extended_config
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| {
            v.get("Domains")?
                .as_array()?
                .iter()
                .map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// 0 running, 1 done, 2 failed (also while a failed step waits to be retried).
pub fn task_status(t: &RotationTask) -> i64 {
    match (t.status, &t.last_error) {
        (TaskStatus::Succeeded, _) => 1,
        (TaskStatus::Failed, _) | (TaskStatus::Running, Some(_)) => 2,
        (TaskStatus::Running, None) => 0,
    }
}

/// The accounts a product secret's `Current` and `Previous` versions hold.
pub async fn account_info(c: &Call, s: &SecretRecord) -> Result<Vec<Value>, ApiError> {
    if !s.kind.is_managed() || s.is_pending_delete() || s.state != coffer_core::SecretState::Enabled
    {
        return Ok(vec![]);
    }
    let hosts = domains(s);
    let mut out = vec![];
    for (stage, label) in [
        (coffer_core::Stage::Current, "Current"),
        (coffer_core::Stage::Previous, "Previous"),
    ] {
        let Some(v) = s.version_with_stage(&stage) else {
            continue;
        };
        let sel = coffer_core::service::VersionSelector {
            version_id: Some(v.version_id.clone()),
            stage: None,
        };
        let read = c.service.get_value(&c.scope, &s.name, &sel).await?;
        let text = std::str::from_utf8(read.value.as_bytes()).unwrap_or_default();
        if let Some(creds) = DbCredentials::decode(text) {
            out.push(json!({
                "AccountName": creds.account,
                "Host": hosts,
                "Version": label,
                "RotatedTime": v.created_at.to_datetime_text(),
            }));
        }
    }
    Ok(out)
}

/// DescribeSecret's fields for a product secret: product, instance, rotation and status
/// (`Creating` while its account is being made, `Failed` when that failed).
pub async fn describe_fields(
    c: &Call,
    s: &SecretRecord,
    out: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let SecretKind::Database { instance, .. } = &s.kind else {
        return Ok(());
    };
    let r = &s.rotation;
    out.insert("ProductName".into(), product_name(s).into());
    out.insert("ResourceID".into(), instance.clone().into());
    out.insert("RotationStatus".into(), r.enabled.into());
    out.insert(
        "RotationFrequency".into(),
        r.interval_secs.map_or(0, |i| i / DAY_SECS).into(),
    );
    out.insert(
        "NextRotationTime".into(),
        if r.enabled {
            r.next.map(Timestamp::to_datetime_text).unwrap_or_default()
        } else {
            String::new()
        }
        .into(),
    );
    if let Some(status) = creation_status(c, s).await? {
        out.insert("Status".into(), status.into());
    }
    out.insert("AccountInfoList".into(), account_info(c, s).await?.into());
    Ok(())
}

/// `Creating` or `Failed` while the secret's newest task is the creation of its account,
/// still running or failed. Generic secrets cost no read.
pub async fn creation_status(c: &Call, s: &SecretRecord) -> Result<Option<&'static str>, ApiError> {
    if !s.kind.is_managed() {
        return Ok(None);
    }
    Ok(match c.service.latest_task(s).await?.as_ref() {
        Some(t) if matches!(t.kind, TaskKind::Provision { .. }) => match task_status(t) {
            0 => Some("Creating"),
            2 => Some("Failed"),
            _ => None,
        },
        _ => None,
    })
}

/// A managed version's value in Tencent's spelling, whichever cloud's client wrote it.
pub fn render_credentials(text: &str) -> Option<String> {
    DbCredentials::decode(text).map(|c| c.encode(CredentialFormat::Tencent).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_states_follow_the_sdk_numbers() {
        let mut t = RotationTask::start(
            1,
            coffer_core::Scope {
                account: coffer_core::AccountId(1),
                region: "r".into(),
            },
            uuid::Uuid::nil(),
            TaskKind::Rotate,
            "v".into(),
            Timestamp(0),
        );
        assert_eq!(task_status(&t), 0);
        t.last_error = Some("unreachable".into());
        assert_eq!(
            task_status(&t),
            2,
            "a failed attempt shows as failed while it waits"
        );
        t.status = TaskStatus::Succeeded;
        t.last_error = None;
        assert_eq!(task_status(&t), 1);
    }

    #[test]
    fn answers_are_http_200_json_inside_response() {
        let ok = reply("r1", Ok(obj(json!({ "SecretName": "s" }))));
        assert_eq!((ok.status, ok.content_type), (200, "application/json"));
        assert!(ok.headers.is_empty());
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(
            v,
            json!({"Response": {"SecretName": "s", "RequestId": "r1"}})
        );
        let err = reply("r2", Err(ApiError::missing("SecretName")));
        assert_eq!(err.status, 200);
        let v: Value = serde_json::from_slice(&err.body).unwrap();
        assert_eq!(v["Response"]["Error"]["Code"], "MissingParameter");
        assert_eq!(v["Response"]["RequestId"], "r2");
    }
}
