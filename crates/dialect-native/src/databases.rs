//! Database instances that managed secrets rotate passwords on.

use coffer_core::service::NewDbInstance;
use coffer_core::{DbEngine, DbInstance, Scope};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::request::{str_field, Answer, Call};

fn instance_json(i: &DbInstance) -> Value {
    json!({
        "DBInstanceId": i.id,
        "Engine": i.engine.as_str(),
        "Host": i.host,
        "Port": i.port,
        "AdminUser": i.admin_user,
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
    let req = NewDbInstance {
        id: required("DBInstanceId")?,
        engine,
        host: required("Host")?,
        port,
        admin_user: required("AdminUser")?,
        // May be empty (a development database's root often has no password).
        admin_password: zeroize::Zeroizing::new(
            str_field(&body, "AdminPassword")?
                .ok_or_else(|| ApiError::invalid("AdminPassword", "it is required"))?
                .to_string(),
        ),
        check,
    };
    let instance = c.service.add_db_instance(scope, req).await?;
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
