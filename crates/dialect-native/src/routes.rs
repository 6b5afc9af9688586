//! The admin routes. Each checks what the caller may do, runs one service call and answers
//! JSON with PascalCase fields (the style of the clouds whose SDKs coffer serves).

use std::sync::Arc;

use coffer_core::service::{AuthenticatedKey, NewDbInstance, RewrapOptions, RewrapStatus};
use coffer_core::{
    AccessKeyRecord, Account, AccountId, AuditSink, DbEngine, DbInstance, PolicyRecord, Scope,
    Service,
};
use serde_json::{json, Map, Value};

use crate::ApiError;

type RouteResult = Result<(u16, Value), ApiError>;

/// Most audit entries one tail request returns.
const MAX_TAIL: usize = 10_000;

pub(crate) struct Caller<'a> {
    pub key: &'a AuthenticatedKey,
    /// The key belongs to the operator account.
    pub operator: bool,
}

pub(crate) struct Call<'a> {
    pub service: &'a Arc<Service>,
    pub audit_log: &'a dyn AuditSink,
    pub default_region: &'a str,
    pub caller: Caller<'a>,
    pub method: &'a str,
    pub segments: Vec<&'a str>,
    pub query: &'a str,
    pub body: &'a [u8],
}

impl Call<'_> {
    /// Operator admin keys only.
    fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        if self.caller.operator && self.caller.key.admin {
            Ok(())
        } else {
            Err(ApiError::denied(what))
        }
    }

    /// Admin keys of `account`, or of the operator.
    fn require_admin_of(&self, account: AccountId, what: &str) -> Result<(), ApiError> {
        let k = self.caller.key;
        if k.admin && (self.caller.operator || k.account == account) {
            Ok(())
        } else {
            Err(ApiError::denied(what))
        }
    }

    /// The account an access key belongs to, after checking the caller may manage it. A key
    /// of another account is reported as missing, so its existence is not revealed.
    async fn managed_key(&self, id: &str, what: &str) -> Result<AccessKeyRecord, ApiError> {
        if !self.caller.key.admin {
            return Err(ApiError::denied(what));
        }
        let not_found = || {
            ApiError::new(
                404,
                "NotFound",
                format!("The access key {id:?} does not exist."),
            )
        };
        let rec = match self.service.access_key_record(id).await {
            Ok(r) => r,
            Err(coffer_core::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if !self.caller.operator && rec.account != self.caller.key.account {
            return Err(not_found());
        }
        Ok(rec)
    }

    fn json(&self) -> Result<Map<String, Value>, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::invalid("body", "it must be a JSON object")),
            Err(e) => Err(ApiError::invalid(
                "body",
                format!("it is not valid JSON ({e})"),
            )),
        }
    }

    fn query(&self, name: &str) -> Option<String> {
        form_pairs(self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn account_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse::<u64>()
        .map(AccountId)
        .map_err(|_| ApiError::invalid("AccountId", "it must be a decimal account id"))
}

fn str_field<'b>(body: &'b Map<String, Value>, name: &str) -> Result<Option<&'b str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(name, "it must be a string")),
    }
}

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

/// The account and region a database instance request is about (the caller's account and
/// the default region unless the query names others), after checking the caller is an
/// admin of that account.
fn instance_scope(c: &Call<'_>) -> Result<Scope, ApiError> {
    let account = match c.query("AccountId") {
        Some(a) => account_id(&a)?,
        None => c.caller.key.account,
    };
    c.require_admin_of(account, "manage this account's database instances")?;
    let region = c
        .query("Region")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| c.default_region.to_string());
    Ok(Scope { account, region })
}

async fn add_db_instance(c: &Call<'_>) -> RouteResult {
    let scope = instance_scope(c)?;
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
    let instance = c.service.add_db_instance(&scope, req).await?;
    Ok((200, instance_json(&instance)))
}

/// A name for the audit log: the operation, without the ids in the path.
pub(crate) fn operation_name(method: &str, seg: &[String]) -> String {
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    match (method, seg.as_slice()) {
        ("POST", ["accounts"]) => "CreateAccount",
        ("GET", ["accounts"]) => "ListAccounts",
        ("GET", ["accounts", _]) => "ShowAccount",
        ("DELETE", ["accounts", _]) => "DeleteAccount",
        ("POST", ["accounts", _, "access-keys"]) => "CreateAccessKey",
        ("GET", ["accounts", _, "access-keys"]) => "ListAccessKeys",
        ("POST", ["access-keys", _, "disable"]) => "DisableAccessKey",
        ("POST", ["access-keys", _, "enable"]) => "EnableAccessKey",
        ("DELETE", ["access-keys", _]) => "DeleteAccessKey",
        ("PUT", ["accounts", _, "policies", _]) => "PutPolicy",
        ("GET", ["accounts", _, "policies", _]) => "GetPolicy",
        ("GET", ["accounts", _, "policies"]) => "ListPolicies",
        ("DELETE", ["accounts", _, "policies", _]) => "DeletePolicy",
        ("PUT", ["access-keys", _, "policies", _]) => "AttachPolicy",
        ("DELETE", ["access-keys", _, "policies", _]) => "DetachPolicy",
        ("GET", ["audit"]) => "TailAudit",
        ("POST", ["db-instances"]) => "AddDbInstance",
        ("GET", ["db-instances"]) => "ListDbInstances",
        ("GET", ["db-instances", _]) => "ShowDbInstance",
        ("DELETE", ["db-instances", _]) => "RemoveDbInstance",
        ("POST", ["rewrap"]) => "StartRewrap",
        ("GET", ["rewrap"]) => "ShowRewrap",
        _ => "Unknown",
    }
    .to_string()
}

pub(crate) async fn route(c: &Call<'_>) -> RouteResult {
    let seg = c.segments.clone();
    match (c.method, seg.as_slice()) {
        ("POST", ["db-instances"]) => add_db_instance(c).await,
        ("GET", ["db-instances"]) => {
            let scope = instance_scope(c)?;
            let list = c.service.db_instances(&scope).await?;
            let items: Vec<Value> = list.iter().map(instance_json).collect();
            Ok((200, json!({ "DBInstances": items })))
        }
        ("GET", ["db-instances", id]) => {
            let scope = instance_scope(c)?;
            Ok((
                200,
                instance_json(&c.service.db_instance(&scope, id).await?),
            ))
        }
        ("DELETE", ["db-instances", id]) => {
            let scope = instance_scope(c)?;
            c.service.remove_db_instance(&scope, id).await?;
            Ok((200, json!({})))
        }
        ("POST", ["accounts"]) => create_account(c).await,
        ("GET", ["accounts"]) => list_accounts(c).await,
        ("GET", ["accounts", id]) => show_account(c, account_id(id)?).await,
        ("DELETE", ["accounts", id]) => {
            c.require_operator("delete accounts")?;
            c.service.delete_account(account_id(id)?).await?;
            Ok((200, json!({})))
        }
        ("POST", ["accounts", id, "access-keys"]) => create_key(c, account_id(id)?).await,
        ("GET", ["accounts", id, "access-keys"]) => list_keys(c, account_id(id)?).await,
        ("POST", ["access-keys", id, action @ ("disable" | "enable")]) => {
            c.managed_key(id, "manage this access key").await?;
            c.service.enable_access_key(id, *action == "enable").await?;
            let rec = c.service.access_key_record(id).await?;
            let policies = c.service.attached_policies(id).await?;
            Ok((200, key_json(&rec, policies)))
        }
        ("DELETE", ["access-keys", id]) => {
            c.managed_key(id, "manage this access key").await?;
            c.service.delete_access_key(id).await?;
            Ok((200, json!({})))
        }
        ("PUT", ["accounts", id, "policies", name]) => put_policy(c, account_id(id)?, name).await,
        ("GET", ["accounts", id, "policies", name]) => {
            let account = account_id(id)?;
            c.require_admin_of(account, "read this account's policies")?;
            Ok((200, policy_json(&c.service.policy(account, name).await?)))
        }
        ("GET", ["accounts", id, "policies"]) => {
            let account = account_id(id)?;
            c.require_admin_of(account, "read this account's policies")?;
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
        ("DELETE", ["accounts", id, "policies", name]) => {
            let account = account_id(id)?;
            c.require_admin_of(account, "change this account's policies")?;
            c.service.delete_policy(account, name).await?;
            Ok((200, json!({})))
        }
        ("PUT", ["access-keys", id, "policies", name]) => {
            c.managed_key(id, "manage this access key").await?;
            c.service.attach_policy(id, name).await?;
            Ok((200, json!({})))
        }
        ("DELETE", ["access-keys", id, "policies", name]) => {
            c.managed_key(id, "manage this access key").await?;
            c.service.detach_policy(id, name).await?;
            Ok((200, json!({})))
        }
        ("GET", ["audit"]) => tail(c).await,
        ("POST", ["rewrap"]) => start_rewrap(c),
        ("GET", ["rewrap"]) => {
            c.require_operator("see the rewrap")?;
            Ok((200, rewrap_json(c, &c.service.rewrap_status())))
        }
        _ => Err(ApiError::new(
            404,
            "UnknownOperation",
            format!(
                "There is no admin operation {} /coffer/v1/{}.",
                c.method,
                c.segments.join("/")
            ),
        )),
    }
}

fn bool_field(body: &Map<String, Value>, name: &str, default: bool) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(name, "it must be true or false")),
    }
}

/// Starts a rewrap (or reports the one running): a new root key unless `NewRootKey` is
/// false, and new material for every enabled key when `NewKeyMaterial` is true.
fn start_rewrap(c: &Call<'_>) -> RouteResult {
    c.require_operator("rewrap keys")?;
    let body = c.json()?;
    let opts = RewrapOptions {
        new_root_key: bool_field(&body, "NewRootKey", true)?,
        new_key_material: bool_field(&body, "NewKeyMaterial", false)?,
    };
    let status = c.service.start_rewrap(opts)?;
    Ok((200, rewrap_json(c, &status)))
}

fn rewrap_json(c: &Call<'_>, s: &RewrapStatus) -> Value {
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

async fn create_account(c: &Call<'_>) -> RouteResult {
    c.require_operator("create accounts")?;
    let body = c.json()?;
    let name =
        str_field(&body, "Name")?.ok_or_else(|| ApiError::invalid("Name", "it is required"))?;
    let (account, project) = c.service.create_account(name, c.default_region).await?;
    let mut out = account_json(&account);
    if let Value::Object(m) = &mut out {
        m.insert(
            "Projects".into(),
            json!([{ "Region": project.scope.region, "ProjectId": project.id }]),
        );
    }
    Ok((200, out))
}

async fn list_accounts(c: &Call<'_>) -> RouteResult {
    c.require_operator("list accounts")?;
    let list: Vec<Value> = c
        .service
        .accounts()
        .await?
        .iter()
        .map(account_json)
        .collect();
    Ok((200, json!({ "Accounts": list })))
}

async fn show_account(c: &Call<'_>, id: AccountId) -> RouteResult {
    c.require_admin_of(id, "read this account")?;
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

async fn create_key(c: &Call<'_>, account: AccountId) -> RouteResult {
    c.require_admin_of(account, "create access keys for this account")?;
    let body = c.json()?;
    let admin = match body.get("Admin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("Admin", "it must be true or false")),
    };
    let (rec, secret) = c.service.create_access_key(account, admin).await?;
    let mut out = key_json(&rec, vec![]);
    if let Value::Object(m) = &mut out {
        // Shown this once; the server keeps it sealed under the root key.
        m.insert("AccessKeySecret".into(), Value::String(secret.to_string()));
    }
    Ok((200, out))
}

async fn list_keys(c: &Call<'_>, account: AccountId) -> RouteResult {
    c.require_admin_of(account, "list this account's access keys")?;
    c.service.account(account).await?;
    let mut list = vec![];
    for k in c.service.access_keys_of(account).await? {
        let policies = c.service.attached_policies(&k.id).await?;
        list.push(key_json(&k, policies));
    }
    Ok((200, json!({ "AccessKeys": list })))
}

async fn put_policy(c: &Call<'_>, account: AccountId, name: &str) -> RouteResult {
    c.require_admin_of(account, "change this account's policies")?;
    let body = c.json()?;
    let document = str_field(&body, "Document")?
        .ok_or_else(|| ApiError::invalid("Document", "it is required"))?;
    let rec = c.service.put_policy(account, name, document).await?;
    Ok((200, policy_json(&rec)))
}

async fn tail(c: &Call<'_>) -> RouteResult {
    c.require_operator("read the audit log")?;
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
