//! Accounts, their access keys and their policies.

use coffer_core::{AccessKeyRecord, Account, AccountId, PolicyRecord};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::request::{str_field, Answer, Call};

fn account_json(a: &Account) -> Value {
    json!({
        "AccountId": a.id.to_string(),
        "Name": a.name,
        "Operator": a.operator,
        "CreatedAt": a.created_at.to_iso8601_seconds(),
    })
}

fn key_json(k: &AccessKeyRecord, policies: Vec<String>) -> Value {
    json!({
        "AccessKeyId": k.id,
        "AccountId": k.account.to_string(),
        "Admin": k.admin,
        "Enabled": k.enabled,
        "CreatedAt": k.created_at.to_iso8601_seconds(),
        "Policies": policies,
    })
}

fn policy_json(p: &PolicyRecord) -> Value {
    json!({
        "PolicyName": p.name,
        "AccountId": p.account.to_string(),
        "Document": p.document,
        "CreatedAt": p.created_at.to_iso8601_seconds(),
        "UpdatedAt": p.updated_at.to_iso8601_seconds(),
    })
}

pub(crate) async fn create_account(c: &Call) -> Answer {
    let body = c.json()?;
    let name =
        str_field(&body, "Name")?.ok_or_else(|| ApiError::invalid("Name", "it is required"))?;
    let (account, project) = c.service.create_account(name, &c.default_region).await?;
    let mut out = account_json(&account);
    if let Value::Object(m) = &mut out {
        m.insert(
            "Projects".into(),
            json!([{ "Region": project.scope.region, "ProjectId": project.id }]),
        );
    }
    Ok((200, out))
}

pub(crate) async fn list_accounts(c: &Call) -> Answer {
    let list: Vec<Value> = c
        .service
        .accounts()
        .await?
        .iter()
        .map(account_json)
        .collect();
    Ok((200, json!({ "Accounts": list })))
}

pub(crate) async fn show_account(c: &Call, id: AccountId) -> Answer {
    let account = c.service.account(id).await?;
    let projects: Vec<Value> = c
        .service
        .projects(id)
        .await?
        .iter()
        .map(|p| json!({ "Region": p.scope.region, "ProjectId": p.id }))
        .collect();
    let keys = c.service.access_keys_of(id).await?.len();
    let mut out = account_json(&account);
    if let Value::Object(m) = &mut out {
        m.insert("Projects".into(), Value::Array(projects));
        m.insert("AccessKeyCount".into(), json!(keys));
    }
    Ok((200, out))
}

pub(crate) async fn delete_account(c: &Call, id: AccountId) -> Answer {
    c.service.delete_account(id).await?;
    Ok((200, json!({})))
}

/// `admin` was read from the body with the route, because the permission depends on it.
pub(crate) async fn create_key(c: &Call, account: AccountId, admin: bool) -> Answer {
    let (rec, secret) = c.service.create_access_key(account, admin).await?;
    let mut out = key_json(&rec, vec![]);
    if let Value::Object(m) = &mut out {
        // Shown this once; the server keeps it sealed under the root key.
        m.insert("AccessKeySecret".into(), Value::String(secret.to_string()));
    }
    Ok((200, out))
}

pub(crate) async fn list_keys(c: &Call, account: AccountId) -> Answer {
    c.service.account(account).await?;
    let mut list = vec![];
    for k in c.service.access_keys_of(account).await? {
        let policies = c.service.attached_policies(&k.id).await?;
        list.push(key_json(&k, policies));
    }
    Ok((200, json!({ "AccessKeys": list })))
}

pub(crate) async fn set_key_enabled(c: &Call, id: &str, enabled: bool) -> Answer {
    c.service.enable_access_key(id, enabled).await?;
    let rec = c.service.access_key_record(id).await?;
    let policies = c.service.attached_policies(id).await?;
    Ok((200, key_json(&rec, policies)))
}

pub(crate) async fn delete_key(c: &Call, id: &str) -> Answer {
    c.service.delete_access_key(id).await?;
    Ok((200, json!({})))
}

pub(crate) async fn put_policy(c: &Call, account: AccountId, name: &str) -> Answer {
    let body = c.json()?;
    let document = str_field(&body, "Document")?
        .ok_or_else(|| ApiError::invalid("Document", "it is required"))?;
    let rec = c.service.put_policy(account, name, document).await?;
    Ok((200, policy_json(&rec)))
}

pub(crate) async fn get_policy(c: &Call, account: AccountId, name: &str) -> Answer {
    Ok((200, policy_json(&c.service.policy(account, name).await?)))
}

pub(crate) async fn list_policies(c: &Call, account: AccountId) -> Answer {
    c.service.account(account).await?;
    let list: Vec<Value> = c
        .service
        .policies(account)
        .await?
        .iter()
        .map(policy_json)
        .collect();
    Ok((200, json!({ "Policies": list })))
}

pub(crate) async fn delete_policy(c: &Call, account: AccountId, name: &str) -> Answer {
    c.service.delete_policy(account, name).await?;
    Ok((200, json!({})))
}

pub(crate) async fn attach_policy(c: &Call, key: &str, name: &str, attach: bool) -> Answer {
    if attach {
        c.service.attach_policy(key, name).await?;
    } else {
        c.service.detach_policy(key, name).await?;
    }
    Ok((200, json!({})))
}
