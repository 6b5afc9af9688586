//! Cloud-product (database) secrets, SecretType 1 (Tencent's SSM API reference): coffer
//! creates the account on the registered instance as an asynchronous task, rotates it on
//! request or on schedule, and reports both through `DescribeAsyncRequestInfo`. The
//! secret's value is `{"UserName": .., "Password": ..}`.

use coffer_core::database::{Grant, GrantLevel};
use coffer_core::service::{NewProductSecret, TaskView};
use coffer_core::{
    CredentialFormat, DbEngine, Error, RotationTask, SecretRecord, Tag, TaskKind, TaskStatus,
    Timestamp,
};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::render::{account_info, obj, product_config, task_status, DAY_SECS};
use crate::request::Call;

type OpResult = Result<Map<String, Value>, ApiError>;

/// UpdateRotationStatus's `Frequency`, in days.
const MIN_FREQUENCY_DAYS: i64 = 30;
const MAX_FREQUENCY_DAYS: i64 = 365;
/// Most version ids DescribeRotationHistory shows.
const HISTORY_LEN: usize = 10;

fn begin_time(p: &Params) -> Result<Option<Timestamp>, ApiError> {
    match p.str("RotationBeginTime")?.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => Timestamp::parse_datetime_text(t).map(Some).ok_or_else(|| {
            ApiError::invalid_value(
                "RotationBeginTime",
                "it must be a time such as 2026-01-02 15:04:05",
            )
        }),
    }
}

/// `ProductName` as Tencent spells the database products, matched to the instance's engine.
fn product_engine(product: &str) -> Option<&'static [DbEngine]> {
    const MYSQL: &[DbEngine] = &[DbEngine::MySql, DbEngine::MariaDb];
    const POSTGRES: &[DbEngine] = &[DbEngine::Postgres];
    match product.to_ascii_lowercase().as_str() {
        "mysql" | "mariadb" | "tdsql-c-mysql" | "tdsql_c_mysql" | "tdsql-mysql" => Some(MYSQL),
        "postgres" | "postgresql" | "tdsql-c-postgresql" => Some(POSTGRES),
        _ => None,
    }
}

fn grants(p: &Params) -> Result<Vec<Grant>, ApiError> {
    const P: &str = "PrivilegesList";
    let items = p.array(P)?.ok_or_else(|| ApiError::missing(P))?;
    let bad = |why: &str| ApiError::invalid_value(P, why);
    items
        .iter()
        .map(|item| {
            let o = item
                .as_object()
                .ok_or_else(|| bad("each entry must be a ProductPrivilegeUnit object"))?;
            let text = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            let level = match text("PrivilegeName") {
                Some("GlobalPrivileges") => GrantLevel::Global,
                Some("DatabasePrivileges") => GrantLevel::Database(
                    text("Database")
                        .ok_or_else(|| bad("DatabasePrivileges needs Database"))?
                        .to_string(),
                ),
                Some("TablePrivileges") => GrantLevel::Table {
                    database: text("Database")
                        .ok_or_else(|| bad("TablePrivileges needs Database"))?
                        .to_string(),
                    table: text("TableName")
                        .ok_or_else(|| bad("TablePrivileges needs TableName"))?
                        .to_string(),
                },
                Some(other) => {
                    return Err(bad(&format!(
                        "PrivilegeName {other:?} is not supported; use GlobalPrivileges, DatabasePrivileges or TablePrivileges"
                    )))
                }
                None => return Err(bad("PrivilegeName is required")),
            };
            let privileges = match o.get("Privileges") {
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("Privileges must be a list of strings"))?,
                _ => return Err(bad("Privileges is required")),
            };
            Ok(Grant { level, privileges })
        })
        .collect()
}

fn user_prefix(prefix: &str) -> Result<(), ApiError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 8
        && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_value(
            "UserNamePrefix",
            "it is 1 to 8 letters, digits or underscores, starting with a letter",
        ))
    }
}

/// The database products CreateProductSecret accepts (the same for every caller).
pub fn describe_supported_products() -> OpResult {
    Ok(obj(
        json!({ "Products": ["Mysql", "MariaDB", "PostgreSQL"], "TotalCount": 3 }),
    ))
}

/// Starts driving a task in the background (the client polls its FlowID).
fn drive_later(c: &Call, task: RotationTask) {
    let service = c.service.clone();
    tokio::spawn(async move {
        let id = task.id;
        if let Err(e) = service.drive_task(task).await {
            tracing::warn!(task = id, error = %e, "a rotation task stopped with an error");
        }
    });
}

/// `key` is the `KmsKeyId` named by the id the permission judged it by.
pub async fn create_product_secret(
    c: &Call,
    name: String,
    tags: Vec<Tag>,
    key: Option<String>,
) -> OpResult {
    let p = &c.params;
    let prefix = p.required_str("UserNamePrefix")?;
    user_prefix(prefix)?;
    let product = p.required_str("ProductName")?;
    let engines = product_engine(product).ok_or_else(|| {
        ApiError::invalid_value(
            "ProductName",
            format!("{product:?} is not a database product this server manages (Mysql, MariaDB or PostgreSQL)"),
        )
    })?;
    let instance = p.required_str("InstanceID")?;
    let engine = c.service.db_instance(&c.scope, instance).await?.engine;
    if !engines.contains(&engine) {
        return Err(ApiError::invalid_value(
            "ProductName",
            format!(
                "{product:?} does not match the engine of instance {instance:?} ({})",
                engine.as_str()
            ),
        ));
    }
    let hosts: Vec<String> = p
        .array("Domains")?
        .ok_or_else(|| ApiError::missing("Domains"))?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::invalid_value("Domains", "it must be a list of hosts"))?;
    if hosts.is_empty() && engine.is_mysql_family() {
        return Err(ApiError::invalid_value(
            "Domains",
            "name at least one host the account logs in from (% for any)",
        ));
    }
    let grants = grants(p)?;
    let description = p.str("Description")?.unwrap_or("");
    params::description("Description", description)?;
    let enable = p.bool("EnableRotation")?.unwrap_or(false);
    let first = begin_time(p)?;
    let interval = if enable {
        if first.is_none() {
            return Err(ApiError::missing("RotationBeginTime"));
        }
        let days = p.int("RotationFrequency")?.unwrap_or(1);
        if !(1..=MAX_FREQUENCY_DAYS).contains(&days) {
            return Err(ApiError::invalid_value(
                "RotationFrequency",
                format!("it is 1 to {MAX_FREQUENCY_DAYS} days"),
            ));
        }
        Some(days * DAY_SECS)
    } else {
        None
    };
    let key = p.str("KmsKeyId")?.filter(|k| !k.is_empty()).and(key);
    let (record, task) = c
        .service
        .create_product_secret_within(
            &c.scope,
            NewProductSecret {
                name: name.clone(),
                description: description.to_string(),
                key,
                tags,
                version_id: uuid_like(),
                extended_config: Some(product_config(product, &hosts)),
                instance: instance.to_string(),
                format: CredentialFormat::Tencent,
                user_prefix: prefix.to_string(),
                hosts,
                grants,
                rotation_interval: interval,
                first_rotation: first,
            },
            c.max_secrets,
        )
        .await?;
    let flow = task.id;
    drive_later(c, task);
    Ok(obj(json!({
        "SecretName": record.name,
        "TagCode": 0,
        "TagMsg": "",
        "FlowID": flow,
    })))
}

/// The id of a product secret's first version (Tencent names versions itself here).
fn uuid_like() -> String {
    format!("SSM_{}", uuid::Uuid::new_v4().simple())
}

fn task_description(v: &TaskView) -> String {
    let what = match v.task.kind {
        TaskKind::Provision { .. } => "create the database account",
        TaskKind::Rotate => "rotate the password",
    };
    let secret = v.secret_name.as_deref().unwrap_or("(deleted)");
    match (v.task.status, &v.task.last_error) {
        (TaskStatus::Succeeded, _) => format!("{what} of secret {secret}: done"),
        (TaskStatus::Failed, Some(e)) => {
            format!("{what} of secret {secret}: failed, rolled back: {e}")
        }
        (TaskStatus::Running, Some(e)) => format!(
            "{what} of secret {secret}: failed, retried at {}: {e}",
            v.task.next_attempt.to_datetime_text()
        ),
        _ => format!("{what} of secret {secret}: in progress"),
    }
}

pub async fn describe_async_request_info(c: &Call) -> OpResult {
    let id = c
        .params
        .int("FlowID")?
        .ok_or_else(|| ApiError::missing("FlowID"))?;
    let view = match c.service.task(&c.scope, id).await {
        Ok(v) => v,
        Err(Error::NotFound { .. }) => {
            return Err(ApiError::new(
                "ResourceNotFound",
                format!("The task {id} does not exist."),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(obj(json!({
        "TaskStatus": task_status(&view.task),
        "Description": task_description(&view),
    })))
}

async fn product_secret(c: &Call, name: &str) -> Result<SecretRecord, ApiError> {
    let s = c.service.describe(&c.scope, name).await?;
    if !s.kind.is_managed() {
        return Err(ApiError::new(
            "OperationDenied",
            format!("The secret {name:?} is not a cloud-product secret (SecretType 1)."),
        ));
    }
    Ok(s)
}

pub async fn rotate_product_secret(c: &Call, name: String) -> OpResult {
    product_secret(c, &name).await?;
    let task = c.service.start_rotation(&c.scope, &name, None).await?;
    let flow = task.id;
    drive_later(c, task);
    Ok(obj(json!({ "FlowID": flow })))
}

pub async fn update_rotation_status(c: &Call, name: String) -> OpResult {
    let p = &c.params;
    let enable = p
        .bool("EnableRotation")?
        .ok_or_else(|| ApiError::missing("EnableRotation"))?;
    let secret = product_secret(c, &name).await?;
    let interval = match p.int("Frequency")? {
        Some(d) if (MIN_FREQUENCY_DAYS..=MAX_FREQUENCY_DAYS).contains(&d) => Some(d * DAY_SECS),
        Some(_) => {
            return Err(ApiError::invalid_value(
                "Frequency",
                format!("it is {MIN_FREQUENCY_DAYS} to {MAX_FREQUENCY_DAYS} days"),
            ))
        }
        None => secret
            .rotation
            .interval_secs
            .or(Some(MIN_FREQUENCY_DAYS * DAY_SECS)),
    };
    // Turned on without a begin time, the first rotation is due now.
    let next = begin_time(p)?.or_else(|| enable.then(|| c.service.now()));
    c.service
        .set_rotation_policy(&c.scope, &name, enable, interval, next)
        .await?;
    Ok(Map::new())
}

pub async fn describe_rotation_detail(c: &Call, name: String) -> OpResult {
    let s = product_secret(c, &name).await?;
    let r = &s.rotation;
    Ok(obj(json!({
        "EnableRotation": r.enabled,
        "Frequency": r.interval_secs.map_or(0, |i| i / DAY_SECS),
        "LatestRotateTime": r.last.map(Timestamp::to_datetime_text).unwrap_or_default(),
        "NextRotateBeginTime": if r.enabled { r.next.map(Timestamp::to_datetime_text).unwrap_or_default() } else { String::new() },
    })))
}

pub async fn describe_rotation_history(c: &Call, name: String) -> OpResult {
    product_secret(c, &name).await?;
    let (secret, tasks) = c.service.secret_tasks(&c.scope, &name, 50).await?;
    let versions: Vec<&str> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .map(|t| t.version_id.as_str())
        .filter(|v| secret.version(v).is_some())
        .take(HISTORY_LEN)
        .collect();
    Ok(obj(json!({
        "VersionIDs": versions,
        "TotalCount": versions.len(),
        "AccountInfoList": account_info(c, &secret).await?,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Params {
        Params::new(v).unwrap()
    }

    #[test]
    fn privileges_map_to_grants_at_their_level() {
        let p = params(json!({"PrivilegesList": [
            {"PrivilegeName": "GlobalPrivileges", "Privileges": ["SELECT"]},
            {"PrivilegeName": "DatabasePrivileges", "Database": "shop", "Privileges": ["INSERT"]},
            {"PrivilegeName": "TablePrivileges", "Database": "shop", "TableName": "orders",
             "Privileges": ["UPDATE"]}
        ]}));
        let g = grants(&p).unwrap();
        assert_eq!(g[0].level, GrantLevel::Global);
        assert_eq!(g[1].level, GrantLevel::Database("shop".into()));
        assert_eq!(
            g[2].level,
            GrantLevel::Table {
                database: "shop".into(),
                table: "orders".into()
            }
        );
        for bad in [
            json!({"PrivilegesList": [{"PrivilegeName": "ColumnPrivileges", "Privileges": ["SELECT"]}]}),
            json!({"PrivilegesList": [{"PrivilegeName": "DatabasePrivileges", "Privileges": ["SELECT"]}]}),
            json!({"PrivilegesList": [{"PrivilegeName": "GlobalPrivileges"}]}),
            json!({"PrivilegesList": ["SELECT"]}),
            json!({}),
        ] {
            assert!(grants(&params(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_and_products_are_checked() {
        assert!(user_prefix("app_1").is_ok());
        for bad in ["", "1app", "toolong12", "a-b"] {
            assert!(user_prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(product_engine("MySQL").map(|e| e.len()), Some(2));
        assert_eq!(
            product_engine("postgresql"),
            Some(&[DbEngine::Postgres][..])
        );
        assert_eq!(product_engine("Redis"), None);
    }
}
