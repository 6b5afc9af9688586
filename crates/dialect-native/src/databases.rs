//! Database instances that managed secrets rotate passwords on.

use coffer_core::service::NewDbInstance;
use coffer_core::{DbEngine, DbInstance, Error, Scope, TlsMode};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::request::{bool_field, str_field, Answer, Call};

fn instance_json(i: &DbInstance) -> Value {
    json!({
        "DBInstanceId": i.id,
        "Engine": i.engine.as_str(),
        "Host": i.host,
        "Port": i.port,
        "AdminUser": i.admin_user,
        "Tls": i.tls.as_str(),
        "CustomCa": i.ca_pem.is_some(),
        "AllowCleartextPassword": i.allow_cleartext_password,
        "AllowedPrivileges": i.allowed_privileges,
        "AccountId": i.scope.account.to_string(),
        "Region": i.scope.region,
        "CreatedAt": i.created_at.to_iso8601_seconds(),
    })
}

pub(crate) async fn add(c: &Call, scope: &Scope) -> Answer {
    let body = c.json()?;
    let required = |name: &str| -> Result<String, ApiError> {
        str_field(&body, name)?
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::invalid(name, "it is required"))
    };
    let engine_text = required("Engine")?;
    let engine = DbEngine::parse(&engine_text)
        .ok_or_else(|| ApiError::invalid("Engine", "it must be mariadb, mysql or postgres"))?;
    let port = match body.get("Port") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| ApiError::invalid("Port", "it must be 1 to 65535"))?,
        _ => return Err(ApiError::invalid("Port", "it is required (a number)")),
    };
    let check = match body.get("Check") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("Check", "it must be true or false")),
    };
    let host = required("Host")?;
    // Before anything else, and before any connection: an account other than the operator's
    // may name only the hosts the operator allowed.
    if !c.operator && !c.db_hosts.allows(&host) {
        return Err(ApiError::new(
            403,
            "HostNotAllowed",
            format!(
                "The host {host:?} is not one this server lets accounts other than the operator register (the operator sets them with coffer serve --db-hosts-allowed)."
            ),
        ));
    }
    let tls = match str_field(&body, "Tls")? {
        None => None,
        Some(t) => Some(TlsMode::parse(t).ok_or_else(|| {
            ApiError::invalid("Tls", "it must be verify-full, require or disable")
        })?),
    };
    let ca_pem = str_field(&body, "CaPem")?
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let allowed_privileges = match body.get("AllowedPrivileges") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::invalid("AllowedPrivileges", "it must be a list of privilege names")
                })?;
            Some(
                coffer_core::database::parse_allowed_privileges(&names.join(","))
                    .map_err(|reason| ApiError::invalid("AllowedPrivileges", reason))?,
            )
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "AllowedPrivileges",
                "it must be a list of privilege names",
            ))
        }
    };
    let req = NewDbInstance {
        id: required("DBInstanceId")?,
        engine,
        host,
        port,
        admin_user: required("AdminUser")?,
        // May be empty (a development database's root often has no password).
        admin_password: zeroize::Zeroizing::new(
            str_field(&body, "AdminPassword")?
                .ok_or_else(|| ApiError::invalid("AdminPassword", "it is required"))?
                .to_string(),
        ),
        check,
        tls,
        ca_pem,
        allow_cleartext_password: bool_field(&body, "AllowCleartextPassword", false)?,
        allowed_privileges,
    };
    let instance = match c.service.add_db_instance(scope, req).await {
        Ok(i) => i,
        // What the database said (refused, unreachable, closed port, TLS) stays in the log
        // for others than the operator: one answer for every failure, so that registering
        // is no way to learn what listens where.
        Err(Error::Database {
            instance, reason, ..
        }) if !c.operator => {
            tracing::warn!(%instance, %reason, account = %scope.account, "a database instance check failed");
            return Err(ApiError::new(
                400,
                "DatabaseCheckFailed",
                format!(
                    "The database instance {instance:?} could not be checked (no answer, a refused admin login or a TLS failure); the server's log has the reason."
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((200, instance_json(&instance)))
}

pub(crate) async fn list(c: &Call, scope: &Scope) -> Answer {
    let list = c.service.db_instances(scope).await?;
    let items: Vec<Value> = list.iter().map(instance_json).collect();
    Ok((200, json!({ "DBInstances": items })))
}

pub(crate) async fn show(c: &Call, scope: &Scope, id: &str) -> Answer {
    Ok((200, instance_json(&c.service.db_instance(scope, id).await?)))
}

pub(crate) async fn remove(c: &Call, scope: &Scope, id: &str) -> Answer {
    c.service.remove_db_instance(scope, id).await?;
    Ok((200, json!({})))
}
