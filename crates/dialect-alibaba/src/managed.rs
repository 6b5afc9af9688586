//! Managed ApsaraDB RDS secrets (`SecretType=Rds`): creation over existing database accounts,
//! rotation on the registered instance and the rotation policy (Alibaba's KMS API
//! reference). The rotation fields every secret's answers carry are written by `render`, and
//! UpdateSecret's custom data by `secrets`.

use coffer_core::service::NewDatabaseSecret;
use coffer_core::{CredentialFormat, DbCredentials, DbSubType, Error, SecretKind, TaskStatus};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::errors::ApiError;
use crate::params;
use crate::render::{rotation_fields, secret_type_name, Fields, Node};
use crate::request::{self, secret_arn, Call, NewSecret};

/// Shortest and longest automatic rotation interval of a secret: 6 hours and 8760 hours.
const MIN_INTERVAL_SECS: i64 = 6 * 3600;
const MAX_INTERVAL_SECS: i64 = 8760 * 3600;

/// `RotationInterval`: an integer with an optional unit `d`, `h`, `m` or `s` (seconds when
/// none), from 6 hours to 8760 hours.
pub(crate) fn rotation_interval(param: &str, text: &str) -> Result<i64, ApiError> {
    params::interval(param, text, MIN_INTERVAL_SECS, MAX_INTERVAL_SECS)
}

/// The Rds `ExtendedConfig`: sub-type, instance and custom data, normalised to the JSON text
/// the service returns.
struct RdsConfig {
    sub_type: DbSubType,
    instance: String,
    text: String,
}

fn rds_config(text: &str) -> Result<RdsConfig, ApiError> {
    const P: &str = "ExtendedConfig";
    let v: Map<String, Value> = serde_json::from_str(text)
        .map_err(|_| ApiError::invalid(P, "It must be a JSON object."))?;
    let sub_type = match v.get("SecretSubType").and_then(Value::as_str) {
        Some("SingleUser") => DbSubType::SingleUser,
        Some("DoubleUsers") => DbSubType::DoubleUsers,
        Some(other) => {
            return Err(ApiError::invalid(
                P,
                format!("SecretSubType {other:?} is not SingleUser or DoubleUsers."),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                P,
                "SecretSubType is required for Rds secrets.",
            ))
        }
    };
    let instance = match v.get("DBInstanceId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            return Err(ApiError::invalid(
                P,
                "DBInstanceId is required for Rds secrets.",
            ))
        }
    };
    let data = params::custom_data(P, v.get("CustomData"))?;
    let mut out = Map::new();
    out.insert(
        "SecretSubType".into(),
        Value::from(match sub_type {
            DbSubType::SingleUser => "SingleUser",
            DbSubType::DoubleUsers => "DoubleUsers",
        }),
    );
    out.insert("DBInstanceId".into(), Value::from(instance.clone()));
    out.insert("CustomData".into(), Value::Object(data));
    Ok(RdsConfig {
        sub_type,
        instance,
        text: Value::Object(out).to_string(),
    })
}

/// `{"Accounts":[{"AccountName":"..","AccountPassword":".."}, ...]}`.
fn accounts(data: &str) -> Result<Vec<DbCredentials>, ApiError> {
    const P: &str = "SecretData";
    let bad = || {
        ApiError::invalid(
            P,
            "An Rds secret's value must be {\"Accounts\":[{\"AccountName\":\"..\",\"AccountPassword\":\"..\"}]}.",
        )
    };
    let parsed: Value = serde_json::from_str(data).map_err(|_| bad())?;
    let list = parsed
        .get("Accounts")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    list.iter()
        .map(|a| {
            let name = a.get("AccountName").and_then(Value::as_str);
            let pass = a.get("AccountPassword").and_then(Value::as_str);
            match (name, pass) {
                (Some(n), Some(p)) => Ok(DbCredentials {
                    account: n.to_string(),
                    password: Zeroizing::new(p.to_string()),
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// CreateSecret of an Rds secret; `new` holds the checks every type shares.
pub(crate) async fn create_rds_secret(c: &Call, new: NewSecret) -> Result<Fields, ApiError> {
    request::refuse_unsupported(c, &["DKMSInstanceId"])?;
    let key = request::encryption_key(c, &new)?;
    let policy = request::initial_policy(c)?;
    if let Some(t) = c.params.optional("SecretDataType") {
        if t != "text" {
            return Err(ApiError::invalid(
                "SecretDataType",
                "An Rds secret's value is text.",
            ));
        }
    }
    let config = rds_config(
        c.params
            .optional("ExtendedConfig")
            .ok_or_else(|| ApiError::missing("ExtendedConfig"))?,
    )?;
    let data = c
        .params
        .optional("SecretData")
        .ok_or_else(|| ApiError::missing("SecretData"))?;
    let accounts = accounts(data)?;
    let interval = if c.params.bool("EnableAutomaticRotation", false)? {
        let text = c
            .params
            .optional("RotationInterval")
            .ok_or_else(|| ApiError::missing("RotationInterval"))?;
        Some(rotation_interval("RotationInterval", text)?)
    } else {
        None
    };
    let record = c
        .service
        .create_database_secret_within(
            &c.scope,
            NewDatabaseSecret {
                name: new.name,
                description: new.description,
                key,
                tags: new.tags,
                version_id: new.version_id.clone(),
                extended_config: Some(config.text),
                policy,
                subscriptions: vec![],
                instance: config.instance,
                sub_type: config.sub_type,
                format: CredentialFormat::Alibaba,
                accounts,
                rotation_interval: interval,
            },
            c.max_secrets,
        )
        .await?;
    let mut out = vec![
        ("Arn", Node::Str(secret_arn(c, &record.name))),
        ("SecretName", Node::str(record.name.clone())),
        ("VersionId", Node::str(new.version_id)),
        ("SecretType", Node::str(secret_type_name(&record.kind))),
    ];
    out.extend(rotation_fields(&record, None));
    if let Some(cfg) = &record.extended_config {
        out.push(("ExtendedConfig", Node::str(cfg.clone())));
    }
    Ok(out)
}

pub(crate) async fn rotate_secret(c: &Call, name: String) -> Result<Fields, ApiError> {
    let version_id = c.params.required("VersionId")?;
    params::version_id("VersionId", version_id)?;
    let task = c
        .service
        .rotate(&c.scope, &name, Some(version_id.to_string()))
        .await?;
    if task.last_error.is_some() {
        // Only a failed rotation needs the instance, to name it in the error.
        let instance = match c.service.describe(&c.scope, &name).await?.kind {
            SecretKind::Database { instance, .. } => instance,
            SecretKind::Generic => String::new(),
        };
        return Err(rotation_error(instance, task));
    }
    Ok(vec![
        ("Arn", Node::Str(secret_arn(c, &name))),
        ("SecretName", Node::str(name)),
        ("VersionId", Node::str(task.version_id)),
    ])
}

/// Why a rotation did not finish: rolled back (the database refused) or waiting to retry.
fn rotation_error(instance: String, task: coffer_core::RotationTask) -> ApiError {
    let reason = task.last_error.unwrap_or_default();
    match task.status {
        TaskStatus::Failed => Error::Database {
            instance,
            reason: format!("the rotation was rolled back: {reason}"),
            reachable: true,
        },
        _ => Error::Database {
            instance,
            reason: format!(
                "the rotation is waiting to retry ({reason}); repeat the request with the same VersionId to resume it"
            ),
            reachable: false,
        },
    }
    .into()
}

pub(crate) async fn update_rotation_policy(c: &Call, name: String) -> Result<Fields, ApiError> {
    c.params.required("EnableAutomaticRotation")?;
    let enabled = c.params.bool("EnableAutomaticRotation", false)?;
    let interval = match c.params.optional("RotationInterval") {
        Some(t) => Some(rotation_interval("RotationInterval", t)?),
        None if enabled => return Err(ApiError::missing("RotationInterval")),
        None => None,
    };
    c.service
        .set_rotation_policy(&c.scope, &name, enabled, interval, None)
        .await?;
    Ok(vec![("SecretName", Node::str(name))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_units_and_the_documented_range() {
        assert_eq!(rotation_interval("R", "30d").unwrap(), 30 * 86_400);
        assert_eq!(rotation_interval("R", "6h").unwrap(), 21_600);
        assert_eq!(rotation_interval("R", "360m").unwrap(), 21_600);
        assert_eq!(rotation_interval("R", "604800s").unwrap(), 604_800);
        assert_eq!(rotation_interval("R", "604800").unwrap(), 604_800);
        assert_eq!(rotation_interval("R", "8760h").unwrap(), 8760 * 3600);
        for bad in [
            "5h",
            "8761h",
            "366d",
            "",
            "d",
            "1.5d",
            "-7d",
            "7w",
            "99999999999999999999d",
        ] {
            assert!(rotation_interval("R", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rds_config_is_checked_and_normalised() {
        let c = rds_config(r#"{"SecretSubType":"DoubleUsers","DBInstanceId":"rm-1"}"#).unwrap();
        assert_eq!(c.sub_type, DbSubType::DoubleUsers);
        assert_eq!(c.instance, "rm-1");
        assert_eq!(
            c.text,
            r#"{"CustomData":{},"DBInstanceId":"rm-1","SecretSubType":"DoubleUsers"}"#
        );
        assert!(rds_config(r#"{"SecretSubType":"Triple","DBInstanceId":"rm-1"}"#).is_err());
        assert!(rds_config(r#"{"SecretSubType":"SingleUser"}"#).is_err());
        let eleven: Map<String, Value> = (0..11)
            .map(|i| (format!("k{i}"), Value::from("v")))
            .collect();
        let text = serde_json::json!({"SecretSubType":"SingleUser","DBInstanceId":"x","CustomData":eleven});
        assert!(rds_config(&text.to_string()).is_err());
    }

    #[test]
    fn accounts_are_read_from_the_documented_shape() {
        let a = accounts(r#"{"Accounts":[{"AccountName":"app","AccountPassword":"pw"}]}"#).unwrap();
        assert_eq!(a[0].account, "app");
        assert_eq!(a[0].password.as_str(), "pw");
        assert!(accounts(r#"{"AccountName":"app","AccountPassword":"pw"}"#).is_err());
        assert!(accounts(r#"{"Accounts":[{"AccountName":"app"}]}"#).is_err());
    }
}
