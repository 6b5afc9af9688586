//! The console's operations: reading a request into one [`Operation`], the permission it
//! needs, and running it into a page. Like every dialect, three exhaustive matches on one enum,
//! so a page cannot exist without a rule.

use coffer_api::HttpRequest;
use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{
    AccountId, Action, AdminRole, KeyState, NameWalk, PageRequest, Permission, Scope, SecretFilter,
    SecretKind, SecretRecord, SecretState, SecretValue, Service, Stage, Tag, TagCondition, Target,
    Timestamp,
};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cursor::Cursors;
use crate::session::{self, Session};
use crate::{query_value, Call, ConsoleError, Page};

/// Secrets per page of the list.
pub const PAGE_SIZE: u32 = 50;
/// Audit entries one audit page shows.
const AUDIT_SHOWN: usize = 100;
/// Versions a console put may leave on a secret (the server's own quota caps it further).
const MAX_VERSIONS: usize = 100;
const MAX_STAGES: usize = 20;
/// Longest name, tag, description the console forms accept, before the core's own rules.
const MAX_FIELD: usize = 4096;

/// A secret list's filters, as the search form sends them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretSearch {
    pub name: String,
    /// How `name` matches: `prefix` (a range of the name index) or `contains`.
    pub matching: String,
    /// `key` or `key=value`.
    pub tag: String,
    /// `enabled`, `disabled`, `deleting` or empty.
    pub state: String,
    /// Where the page resumes (from a page link, checked): after this name.
    pub after: Option<String>,
}

impl SecretSearch {
    /// The search a page link is bound to: the filters, not the position.
    fn canonical(&self) -> String {
        serde_json::to_string(&[&self.name, &self.matching, &self.tag, &self.state])
            .unwrap_or_default()
    }
}

/// The list kind page links of the secrets list are sealed for.
const SECRETS_CURSOR: &str = "secrets";
/// Secrets a list request examines at most (beyond the page itself) when its search lets few
/// through: a page of a search that matches little over a million secrets stops here, with a
/// link that continues from where it stopped.
pub const SECRETS_SCAN_LIMIT: u32 = 5_000;

/// The audit page's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditSearch {
    pub key: String,
    pub action: String,
    pub resource: String,
    /// `ok`, `failed` or empty.
    pub outcome: String,
    /// An ISO 8601 prefix (`2026-12-05`, `2026-12-05T14`) entries must be at or after.
    pub since: String,
    /// An ISO 8601 prefix entries must be at or before (a prefix includes all it names).
    pub until: String,
    /// Where the page resumes (from a page link, checked): entries before this log position.
    pub before: Option<u64>,
}

impl AuditSearch {
    /// The search a page link is bound to: the filters, not the position.
    fn canonical(&self) -> String {
        serde_json::to_string(&[
            &self.key,
            &self.action,
            &self.resource,
            &self.outcome,
            &self.since,
            &self.until,
        ])
        .unwrap_or_default()
    }
}

/// The list kind page links of the audit log are sealed for.
const AUDIT_CURSOR: &str = "audit";
/// Entries one audit page request reads at most, matching or not: no request reads the whole
/// log; a search that finds little stops here with a link that continues where it stopped.
pub const AUDIT_SCAN_LIMIT: usize = 5_000;
/// Entries read from the log at a time while a page is searched.
const AUDIT_READ: usize = 500;

/// An audit time filter: an ISO 8601 prefix, digits and `-T:` only.
fn audit_time(field: &str, text: &str) -> Result<String, ConsoleError> {
    let t = text.trim();
    if t.len() > 25
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'T' | b':'))
    {
        return Err(ConsoleError::invalid(
            field,
            "write a date and time like 2026-12-05 or 2026-12-05T14:30",
        ));
    }
    Ok(t.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    SignIn,
    SignOut,
    Overview,
    ListSecrets(SecretSearch),
    NewSecretForm,
    CreateSecret {
        name: String,
        description: String,
        tags: Vec<Tag>,
        /// The key as the form named it, and its id for the permission.
        key: Option<(String, String)>,
    },
    ShowSecret {
        name: String,
    },
    RevealValue {
        name: String,
        version: Option<String>,
    },
    PutValue {
        name: String,
    },
    MoveStage {
        name: String,
        stage: Stage,
        version: String,
    },
    DeleteSecret {
        name: String,
        days: i64,
    },
    RestoreSecret {
        name: String,
    },
    ListKeys,
    SetKeyEnabled {
        key: String,
        enabled: bool,
    },
    ScheduleKeyDeletion {
        key: String,
        days: i64,
    },
    CancelKeyDeletion {
        key: String,
    },
    ListAccessKeys {
        account: AccountId,
    },
    CreateAccessKey {
        account: AccountId,
        admin: bool,
        policy: Option<String>,
    },
    SetAccessKeyEnabled {
        account: AccountId,
        key: String,
        enabled: bool,
    },
    DeleteAccessKey {
        account: AccountId,
        key: String,
    },
    ListPolicies {
        account: AccountId,
    },
    ShowPolicy {
        account: AccountId,
        name: String,
    },
    SavePolicy {
        account: AccountId,
        name: String,
    },
    Audit(AuditSearch),
    ListAccounts,
    ListDbInstances {
        scope: Scope,
    },
}

/// The route table: method and path to operation kind. `None`: no such page.
fn route(method: &str, path: &str) -> Option<OperationKind> {
    use OperationKind as K;
    let path = path.trim_end_matches('/');
    Some(match (method, path) {
        ("POST", "/console/session") => K::SignIn,
        ("POST", "/console/sign-out") => K::SignOut,
        ("GET", "/console") => K::Overview,
        ("GET", "/console/secrets") => K::ListSecrets,
        ("GET", "/console/secrets/new") => K::NewSecretForm,
        ("POST", "/console/secrets/create") => K::CreateSecret,
        ("GET", "/console/secret") => K::ShowSecret,
        ("POST", "/console/secret/reveal") => K::RevealValue,
        ("POST", "/console/secret/put") => K::PutValue,
        ("POST", "/console/secret/stage") => K::MoveStage,
        ("POST", "/console/secret/delete") => K::DeleteSecret,
        ("POST", "/console/secret/restore") => K::RestoreSecret,
        ("GET", "/console/keys") => K::ListKeys,
        ("POST", "/console/keys/enable") | ("POST", "/console/keys/disable") => K::SetKeyEnabled,
        ("POST", "/console/keys/delete") => K::ScheduleKeyDeletion,
        ("POST", "/console/keys/cancel-delete") => K::CancelKeyDeletion,
        ("GET", "/console/access-keys") => K::ListAccessKeys,
        ("POST", "/console/access-keys/create") => K::CreateAccessKey,
        ("POST", "/console/access-keys/enable") | ("POST", "/console/access-keys/disable") => {
            K::SetAccessKeyEnabled
        }
        ("POST", "/console/access-keys/delete") => K::DeleteAccessKey,
        ("GET", "/console/policies") => K::ListPolicies,
        ("GET", "/console/policy") => K::ShowPolicy,
        ("POST", "/console/policy/save") => K::SavePolicy,
        ("GET", "/console/audit") => K::Audit,
        ("GET", "/console/accounts") => K::ListAccounts,
        ("GET", "/console/databases") => K::ListDbInstances,
        _ => return None,
    })
}

/// The operation's name for the audit log, from the route alone.
pub(crate) fn operation_name(method: &str, path: &str) -> &'static str {
    route(method, path).map_or("Unknown", |k| k.into())
}

struct Form<'a>(&'a [(String, String)]);

impl Form<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> Result<String, ConsoleError> {
        let v = self.get(name).unwrap_or("").trim();
        if v.len() > MAX_FIELD {
            return Err(ConsoleError::invalid(name, "it is too long"));
        }
        Ok(v.to_string())
    }

    fn required(&self, name: &str) -> Result<String, ConsoleError> {
        let v = self.text(name)?;
        if v.is_empty() {
            return Err(ConsoleError::invalid(name, "it is required"));
        }
        Ok(v)
    }

    fn days(&self, name: &str, min: i64, max: i64) -> Result<i64, ConsoleError> {
        let v = self.required(name)?;
        v.parse::<i64>()
            .ok()
            .filter(|d| (min..=max).contains(d))
            .ok_or_else(|| {
                ConsoleError::invalid(
                    name,
                    &format!("it must be a whole number from {min} to {max}"),
                )
            })
    }
}

/// `key=value, key2=value2` (or one per line) into tags.
pub(crate) fn parse_tags(text: &str) -> Result<Vec<Tag>, ConsoleError> {
    let mut tags: Vec<Tag> = vec![];
    for part in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (key, value) = (k.trim().to_string(), v.trim().to_string());
        if key.is_empty() {
            return Err(ConsoleError::invalid("tags", "a tag has no key"));
        }
        if tags.iter().any(|t| t.key == key) {
            return Err(ConsoleError::invalid(
                "tags",
                &format!("the tag key {key:?} is given twice"),
            ));
        }
        tags.push(Tag { key, value });
    }
    Ok(tags)
}

/// A stage as people write it: the built-in names, or a custom label.
pub(crate) fn parse_stage(text: &str) -> Result<Stage, ConsoleError> {
    Ok(match text.trim() {
        "" => return Err(ConsoleError::invalid("stage", "it is required")),
        s if s.eq_ignore_ascii_case("current") => Stage::Current,
        s if s.eq_ignore_ascii_case("previous") => Stage::Previous,
        s if s.eq_ignore_ascii_case("pending") => Stage::Pending,
        s => Stage::Custom(s.to_string()),
    })
}

pub(crate) fn stage_name(stage: &Stage) -> String {
    match stage {
        Stage::Current => "Current".into(),
        Stage::Previous => "Previous".into(),
        Stage::Pending => "Pending".into(),
        Stage::Custom(s) => s.clone(),
    }
}

/// The account an access key belongs to, when it is the caller's own; otherwise it is
/// reported missing, so that other accounts' keys are not revealed.
async fn own_access_key(service: &Service, scope: &Scope, id: &str) -> Result<(), ConsoleError> {
    match service.access_key_record(id).await {
        Ok(rec) if rec.account == scope.account => Ok(()),
        Ok(_) | Err(coffer_core::Error::NotFound { .. }) => Err(ConsoleError::new(
            404,
            "NotFound",
            format!("The access key {id:?} does not exist."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Reads the request into an operation.
pub(crate) async fn parse(
    service: &Service,
    scope: &Scope,
    cursors: &Cursors,
    req: &HttpRequest<'_>,
    form: &[(String, String)],
) -> Result<Operation, ConsoleError> {
    use Operation as O;
    use OperationKind as K;
    let Some(kind) = route(req.method, req.path) else {
        return Err(ConsoleError::new(
            404,
            "NotFound",
            format!("The console has no page {} {}.", req.method, req.path),
        ));
    };
    let f = Form(form);
    let q = |name: &str| query_value(req.raw_query, name).unwrap_or_default();
    let account = scope.account;
    Ok(match kind {
        K::SignIn => O::SignIn,
        K::SignOut => O::SignOut,
        K::Overview => O::Overview,
        K::ListSecrets => {
            let mut search = SecretSearch {
                name: q("name").trim().to_string(),
                matching: match q("match").as_str() {
                    "" | "prefix" => "prefix".to_string(),
                    "contains" => "contains".to_string(),
                    _ => return Err(ConsoleError::invalid("match", "choose prefix or contains")),
                },
                tag: q("tag").trim().to_string(),
                state: match q("state").as_str() {
                    s @ ("" | "enabled" | "disabled" | "deleting") => s.to_string(),
                    _ => {
                        return Err(ConsoleError::invalid(
                            "state",
                            "choose one of the listed states",
                        ))
                    }
                },
                after: None,
            };
            for (field, v) in [("name", &search.name), ("tag", &search.tag)] {
                if v.len() > MAX_FIELD {
                    return Err(ConsoleError::invalid(field, "it is too long"));
                }
            }
            let cursor = q("after");
            if !cursor.is_empty() {
                search.after =
                    Some(cursors.open(SECRETS_CURSOR, account, &search.canonical(), &cursor)?);
            }
            O::ListSecrets(search)
        }
        K::NewSecretForm => O::NewSecretForm,
        K::CreateSecret => {
            let key = match f.text("key")? {
                k if k.is_empty() => None,
                k => {
                    let id = service.key_id_to_authorize(scope, &k).await?;
                    Some((k, id))
                }
            };
            O::CreateSecret {
                name: f.required("name")?,
                description: f.text("description")?,
                tags: parse_tags(&f.text("tags")?)?,
                key,
            }
        }
        K::ShowSecret => {
            let name = q("name");
            if name.is_empty() {
                return Err(ConsoleError::invalid("name", "it is required"));
            }
            O::ShowSecret { name }
        }
        K::RevealValue => O::RevealValue {
            name: f.required("name")?,
            version: Some(f.text("version")?).filter(|v| !v.is_empty()),
        },
        K::PutValue => O::PutValue {
            name: f.required("name")?,
        },
        K::MoveStage => O::MoveStage {
            name: f.required("name")?,
            stage: parse_stage(&f.text("stage")?)?,
            version: f.required("version")?,
        },
        K::DeleteSecret => O::DeleteSecret {
            name: f.required("name")?,
            days: f.days("days", 1, 30)?,
        },
        K::RestoreSecret => O::RestoreSecret {
            name: f.required("name")?,
        },
        K::ListKeys => O::ListKeys,
        K::SetKeyEnabled => O::SetKeyEnabled {
            key: service
                .key_id_to_authorize(scope, &f.required("key")?)
                .await?,
            enabled: req.path.trim_end_matches('/').ends_with("/enable"),
        },
        K::ScheduleKeyDeletion => O::ScheduleKeyDeletion {
            key: service
                .key_id_to_authorize(scope, &f.required("key")?)
                .await?,
            days: f.days("days", 7, 30)?,
        },
        K::CancelKeyDeletion => O::CancelKeyDeletion {
            key: service
                .key_id_to_authorize(scope, &f.required("key")?)
                .await?,
        },
        K::ListAccessKeys => O::ListAccessKeys { account },
        K::CreateAccessKey => O::CreateAccessKey {
            account,
            admin: f.get("admin") == Some("on"),
            policy: Some(f.text("policy")?).filter(|p| !p.is_empty()),
        },
        K::SetAccessKeyEnabled => {
            let key = f.required("key")?;
            own_access_key(service, scope, &key).await?;
            O::SetAccessKeyEnabled {
                account,
                key,
                enabled: req.path.trim_end_matches('/').ends_with("/enable"),
            }
        }
        K::DeleteAccessKey => {
            let key = f.required("key")?;
            own_access_key(service, scope, &key).await?;
            O::DeleteAccessKey { account, key }
        }
        K::ListPolicies => O::ListPolicies { account },
        K::ShowPolicy => O::ShowPolicy {
            account,
            name: q("name").trim().to_string(),
        },
        K::SavePolicy => O::SavePolicy {
            account,
            name: f.required("name")?,
        },
        K::Audit => {
            let mut search = AuditSearch {
                key: q("key").trim().to_string(),
                action: q("action").trim().to_string(),
                resource: q("resource").trim().to_string(),
                outcome: match q("outcome").as_str() {
                    s @ ("" | "ok" | "failed") => s.to_string(),
                    _ => return Err(ConsoleError::invalid("outcome", "choose ok or failed")),
                },
                since: audit_time("since", &q("since"))?,
                until: audit_time("until", &q("until"))?,
                before: None,
            };
            for (field, v) in [
                ("key", &search.key),
                ("action", &search.action),
                ("resource", &search.resource),
            ] {
                if v.len() > MAX_FIELD {
                    return Err(ConsoleError::invalid(field, "it is too long"));
                }
            }
            let cursor = q("before");
            if !cursor.is_empty() {
                let at = cursors.open(AUDIT_CURSOR, account, &search.canonical(), &cursor)?;
                search.before = Some(at.parse::<u64>().map_err(|_| {
                    ConsoleError::invalid("before", "it is not a position in the audit log")
                })?);
            }
            O::Audit(search)
        }
        K::ListAccounts => O::ListAccounts,
        K::ListDbInstances => O::ListDbInstances {
            scope: scope.clone(),
        },
    })
}

/// What the caller must be allowed: the same actions and resources the cloud APIs and the
/// admin API name for the same change.
pub(crate) fn permission(op: &Operation) -> Permission {
    use AdminRole::{AccountAdmin, Operator};
    use Operation as O;
    let secret = |action, name: &String| Permission::one(action, Target::secret(name.clone()));
    let key = |action, id: &String| Permission::one(action, Target::Key(id.clone()));
    let access_key = |account: &AccountId, id: &String| Target::AccessKey {
        account: *account,
        id: id.clone(),
    };
    match op {
        // Any valid key may sign in and out; what it sees afterwards is what its policies
        // allow, page by page.
        O::SignIn | O::SignOut => Permission::Public,
        // Each part of the overview is shown only when the caller may read it (see
        // `overview`); the page itself reads nothing.
        O::Overview | O::NewSecretForm => Permission::Public,
        O::ListSecrets(_) => Permission::one(Action::SecretsList, Target::AllSecrets),
        O::CreateSecret {
            name, tags, key, ..
        } => {
            let create = Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: name.clone(),
                    tags: Some(tags.clone()),
                },
            );
            match key {
                // Putting a secret under a key encrypts with the key.
                Some((_, id)) => Permission::All(vec![
                    create,
                    Permission::one(Action::KeysEncrypt, Target::Key(id.clone())),
                ]),
                None => create,
            }
        }
        O::ShowSecret { name } => secret(Action::SecretsDescribe, name),
        O::RevealValue { name, .. } => secret(Action::SecretsGetValue, name),
        O::PutValue { name } => secret(Action::SecretsPutValue, name),
        O::MoveStage { name, .. } => secret(Action::SecretsUpdateStage, name),
        O::DeleteSecret { name, .. } => secret(Action::SecretsDelete, name),
        O::RestoreSecret { name } => secret(Action::SecretsRestore, name),
        O::ListKeys => Permission::one(Action::KeysList, Target::AllKeys),
        O::SetKeyEnabled { key: id, .. } => key(Action::KeysUpdate, id),
        O::ScheduleKeyDeletion { key: id, .. } | O::CancelKeyDeletion { key: id } => {
            key(Action::KeysDelete, id)
        }
        O::ListAccessKeys { account } => Permission::admin(
            AccountAdmin(*account),
            Action::AdminListAccessKeys,
            Target::AllAccessKeys(*account),
        ),
        O::CreateAccessKey {
            account,
            admin,
            policy,
        } => {
            let create = Permission::admin(
                AccountAdmin(*account),
                if *admin {
                    Action::AdminCreateAdminAccessKey
                } else {
                    Action::AdminCreateAccessKey
                },
                Target::AllAccessKeys(*account),
            );
            match policy {
                // The new key's id is not known yet: attaching to it is attaching to one of
                // every key of the account.
                Some(name) => Permission::All(vec![
                    create,
                    Permission::Admin {
                        role: AccountAdmin(*account),
                        action: Action::AdminAttachPolicy,
                        targets: vec![
                            Target::AllAccessKeys(*account),
                            Target::Policy {
                                account: *account,
                                name: name.clone(),
                            },
                        ],
                    },
                ]),
                None => create,
            }
        }
        O::SetAccessKeyEnabled {
            account,
            key: id,
            enabled,
        } => Permission::admin(
            AccountAdmin(*account),
            if *enabled {
                Action::AdminEnableAccessKey
            } else {
                Action::AdminDisableAccessKey
            },
            access_key(account, id),
        ),
        O::DeleteAccessKey { account, key: id } => Permission::admin(
            AccountAdmin(*account),
            Action::AdminDeleteAccessKey,
            access_key(account, id),
        ),
        O::ListPolicies { account } => Permission::admin(
            AccountAdmin(*account),
            Action::AdminListPolicies,
            Target::AllPolicies(*account),
        ),
        // An empty name is the form for a new policy: as good as listing them.
        O::ShowPolicy { account, name } if name.is_empty() => Permission::admin(
            AccountAdmin(*account),
            Action::AdminListPolicies,
            Target::AllPolicies(*account),
        ),
        O::ShowPolicy { account, name } => Permission::admin(
            AccountAdmin(*account),
            Action::AdminGetPolicy,
            Target::Policy {
                account: *account,
                name: name.clone(),
            },
        ),
        O::SavePolicy { account, name } => Permission::admin(
            AccountAdmin(*account),
            Action::AdminPutPolicy,
            Target::Policy {
                account: *account,
                name: name.clone(),
            },
        ),
        O::Audit(_) => Permission::admin(Operator, Action::AdminTailAudit, Target::Server),
        O::ListAccounts => {
            Permission::admin(Operator, Action::AdminListAccounts, Target::AllAccounts)
        }
        // As the admin API's listing of the scope's instances.
        O::ListDbInstances { scope } => Permission::admin(
            AccountAdmin(scope.account),
            Action::AdminListDbInstances,
            Target::DbInstance {
                scope: scope.clone(),
                id: None,
            },
        ),
    }
}

/// Whether the caller may run `op`: asked of the same authorization the pipeline uses, to
/// show only the buttons that would work. (The operation itself is authorized again when it
/// is sent.)
async fn may(call: &Call, op: &Operation) -> bool {
    call.service
        .authorize_permission(&call.caller, &call.scope, &permission(op))
        .await
        .is_ok()
}

fn session_of(call: &Call) -> Result<Session, ConsoleError> {
    call.session
        .clone()
        .ok_or_else(|| ConsoleError::new(500, "InternalError", "The page has no session."))
}

fn html(call: &Call, template: &'static str, context: Value) -> Result<Page, ConsoleError> {
    Ok(Page::Html {
        template,
        context,
        session: session_of(call)?,
    })
}

fn redirect(to: String) -> Result<Page, ConsoleError> {
    Ok(Page::Redirect {
        to,
        set_cookie: None,
    })
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn secret_page(name: &str, done: &str) -> String {
    format!("/console/secret?name={}&done={}", enc(name), enc(done))
}

fn when(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_iso8601_seconds()))
}

fn state_name(s: &SecretState) -> &'static str {
    match s {
        SecretState::Enabled => "Enabled",
        SecretState::Disabled => "Disabled",
        SecretState::PendingDelete { .. } => "Pending deletion",
    }
}

fn key_state(s: &KeyState) -> (&'static str, Value) {
    match s {
        KeyState::Enabled => ("Enabled", Value::Null),
        KeyState::Disabled => ("Disabled", Value::Null),
        KeyState::PendingDeletion { delete_at } => ("Pending deletion", when(Some(*delete_at))),
    }
}

fn secret_row(s: &SecretRecord) -> Value {
    json!({
        "name": s.name,
        "description": s.description,
        "state": state_name(&s.state),
        "kind": s.kind.type_name(),
        "tags": s.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>(),
        "updated": s.updated_at.to_iso8601_seconds(),
        "versions": s.versions.len(),
    })
}

pub(crate) async fn execute(call: &Call, op: Operation) -> Result<Page, ConsoleError> {
    use Operation as O;
    let svc = &call.service;
    let scope = &call.scope;
    match op {
        O::SignIn => {
            let (cookie, _) =
                call.sessions
                    .create(&call.caller.id, call.caller.account, call.now_ms);
            let secs = call.sessions.lifetime_secs();
            Ok(Page::Json {
                body: json!({ "Location": "/console/", "ExpiresInSeconds": secs }),
                set_cookie: session::set_cookie(&cookie, call.secure),
            })
        }
        O::SignOut => {
            if let Some(c) = &call.cookie {
                call.sessions.end(c);
            }
            Ok(Page::Redirect {
                to: "/console/sign-in?reason=signed-out".into(),
                set_cookie: Some(session::clear_cookie(call.secure)),
            })
        }
        O::Overview => overview(call).await,
        O::ListSecrets(search) => list_secrets(call, search).await,
        O::NewSecretForm => html(call, "new-secret.html", json!({"title": "New secret"})),
        O::CreateSecret {
            name,
            description,
            tags,
            key,
        } => {
            let value = value_field(call)?;
            let req = CreateSecret {
                name: name.clone(),
                description,
                kind: SecretKind::Generic,
                key: key.map(|(k, _)| k),
                tags,
                version_id: uuid::Uuid::new_v4().to_string(),
                value,
                extended_config: None,
                policy: None,
                subscriptions: vec![],
            };
            svc.create_secret(scope, req).await?;
            redirect(secret_page(&name, "created"))
        }
        O::ShowSecret { name } => show_secret(call, &name, None).await,
        O::RevealValue { name, version } => {
            let sel = VersionSelector {
                version_id: version,
                stage: None,
            };
            let read = svc.get_value(scope, &name, &sel).await?;
            let (text, binary) = match &read.value {
                SecretValue::Text(t) => (Zeroizing::new(t.to_string()), false),
                SecretValue::Binary(b) => {
                    use base64::Engine;
                    (
                        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&b[..])),
                        true,
                    )
                }
            };
            let revealed = json!({
                "version": read.version.version_id,
                "value": text.as_str(),
                "binary": binary,
            });
            show_secret(call, &name, Some(revealed)).await
        }
        O::PutValue { name } => {
            let value = value_field(call)?;
            svc.put_value(
                scope,
                &name,
                PutValue {
                    version_id: uuid::Uuid::new_v4().to_string(),
                    value,
                    stages: None,
                    when_full: WhenFull::PruneUnstaged,
                    max_versions: MAX_VERSIONS,
                    max_stages: MAX_STAGES,
                    expires_at: None,
                    when_exists: WhenExists::Refuse,
                },
            )
            .await?;
            redirect(secret_page(&name, "version"))
        }
        O::MoveStage {
            name,
            stage,
            version,
        } => {
            svc.update_stage(scope, &name, stage, None, Some(version), MAX_STAGES)
                .await?;
            redirect(secret_page(&name, "stage"))
        }
        O::DeleteSecret { name, days } => {
            svc.delete(scope, &name, DeleteMode::Window { days }, |_| Ok(()))
                .await?;
            redirect(secret_page(&name, "deleted"))
        }
        O::RestoreSecret { name } => {
            svc.restore(scope, &name, SecretState::Enabled).await?;
            redirect(secret_page(&name, "restored"))
        }
        O::ListKeys => list_keys(call).await,
        O::SetKeyEnabled { key, enabled } => {
            svc.set_key_enabled(scope, &key, enabled).await?;
            redirect("/console/keys?done=updated".into())
        }
        O::ScheduleKeyDeletion { key, days } => {
            svc.schedule_key_deletion(scope, &key, days).await?;
            redirect("/console/keys?done=deleting".into())
        }
        O::CancelKeyDeletion { key } => {
            svc.cancel_key_deletion(scope, &key, KeyState::Disabled)
                .await?;
            redirect("/console/keys?done=kept".into())
        }
        O::ListAccessKeys { account } => access_keys(call, account, None).await,
        O::CreateAccessKey {
            account,
            admin,
            policy,
        } => {
            if let Some(p) = &policy {
                // Checked first, so that a wrong name leaves no key without its policy.
                svc.policy(account, p).await?;
            }
            let (rec, secret) = svc.create_access_key(account, admin).await?;
            if let Some(p) = &policy {
                if let Err(e) = svc.attach_policy(&rec.id, p).await {
                    // A key without the policy it was made for could do more than intended.
                    let _ = svc.delete_access_key(&rec.id).await;
                    return Err(e.into());
                }
            }
            let created = json!({"id": rec.id, "secret": secret.as_str(), "policy": policy});
            access_keys(call, account, Some(created)).await
        }
        O::SetAccessKeyEnabled { key, enabled, .. } => {
            svc.enable_access_key(&key, enabled).await?;
            if !enabled {
                call.sessions.end_all_of(&key);
            }
            redirect("/console/access-keys?done=updated".into())
        }
        O::DeleteAccessKey { key, .. } => {
            svc.delete_access_key(&key).await?;
            call.sessions.end_all_of(&key);
            redirect("/console/access-keys?done=deleted".into())
        }
        O::ListPolicies { account } => {
            let list: Vec<Value> = svc
                .policies(account)
                .await?
                .iter()
                .map(|p| json!({"name": p.name, "updated": p.updated_at.to_iso8601_seconds()}))
                .collect();
            let can_edit = may(
                call,
                &O::SavePolicy {
                    account,
                    name: "*".into(),
                },
            )
            .await;
            html(
                call,
                "policies.html",
                json!({"title": "Policies", "policies": list, "can_edit": can_edit}),
            )
        }
        O::ShowPolicy { account, name } => {
            let (document, exists) = if name.is_empty() {
                (String::new(), false)
            } else {
                match svc.policy(account, &name).await {
                    Ok(p) => (p.document, true),
                    Err(e) => return Err(e.into()),
                }
            };
            policy_page(call, account, &name, &document, exists, None).await
        }
        O::SavePolicy { account, name } => {
            let document = call_form_document(call)?;
            match svc.put_policy(account, &name, &document).await {
                Ok(_) => redirect(format!("/console/policy?name={}&done=saved", enc(&name))),
                // The editor comes back with the text and the reason, so nothing typed is lost.
                Err(e @ coffer_core::Error::InvalidParameter { .. }) => {
                    let message = ConsoleError::from(e).message;
                    policy_page(call, account, &name, &document, false, Some(message)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        O::Audit(search) => audit(call, search).await,
        O::ListAccounts => {
            let list: Vec<Value> = svc
                .accounts()
                .await?
                .iter()
                .map(|a| {
                    json!({"id": a.id.to_string(), "name": a.name, "operator": a.operator,
                           "created": a.created_at.to_iso8601_seconds()})
                })
                .collect();
            html(
                call,
                "accounts.html",
                json!({"title": "Accounts", "accounts": list}),
            )
        }
        O::ListDbInstances { scope } => {
            let list: Vec<Value> = svc
                .db_instances(&scope)
                .await?
                .iter()
                .map(|d| {
                    json!({"id": d.id, "engine": d.engine.as_str(), "host": d.host, "port": d.port,
                           "admin_user": d.admin_user, "tls": d.tls.as_str(),
                           "created": d.created_at.to_iso8601_seconds()})
                })
                .collect();
            html(
                call,
                "databases.html",
                json!({"title": "Database instances", "instances": list, "region": scope.region}),
            )
        }
    }
}

/// The form a value is sent in is kept out of the operation (and so out of any `Debug` of
/// it); it is read here, once, into a zeroizing buffer.
fn value_field(call: &Call) -> Result<SecretValue, ConsoleError> {
    let v = call
        .form_value("value")
        .ok_or_else(|| ConsoleError::invalid("value", "it is required"))?;
    if v.is_empty() {
        return Err(ConsoleError::invalid("value", "it is required"));
    }
    Ok(SecretValue::Text(v))
}

fn call_form_document(call: &Call) -> Result<String, ConsoleError> {
    let doc = call
        .form_value("document")
        .ok_or_else(|| ConsoleError::invalid("document", "it is required"))?;
    if doc.trim().is_empty() {
        return Err(ConsoleError::invalid("document", "it is required"));
    }
    Ok(doc.to_string())
}

async fn overview(call: &Call) -> Result<Page, ConsoleError> {
    use Operation as O;
    let svc = &call.service;
    let scope = &call.scope;
    let mut ctx = json!({"title": "Overview"});
    let m = ctx
        .as_object_mut()
        .ok_or_else(|| ConsoleError::new(500, "InternalError", "context"))?;
    if may(call, &O::ListSecrets(SecretSearch::default())).await {
        // A page of nothing: the store answers the totals from its counters, not a scan.
        let none = PageRequest {
            offset: 0,
            limit: 0,
            newest_first: true,
        };
        let all = svc.list(scope, &SecretFilter::default(), none).await?.total;
        let deleting = SecretFilter {
            pending_delete: Some(true),
            ..Default::default()
        };
        let deleting = svc.list(scope, &deleting, none).await?.total;
        m.insert(
            "secrets".into(),
            json!({"total": all, "deleting": deleting}),
        );
        // Rotation failures: the scope's latest rotation tasks that failed or wait to retry.
        let failures: Vec<Value> = svc
            .scope_tasks(scope, 100)
            .await?
            .iter()
            .filter_map(|(task, name)| {
                let error = task.last_error.as_ref()?;
                Some(json!({"secret": name, "error": error}))
            })
            .take(10)
            .collect();
        m.insert("rotation_failures".into(), Value::Array(failures));
    }
    if may(call, &O::ListKeys).await {
        let keys = svc
            .keys(
                scope,
                PageRequest {
                    offset: 0,
                    limit: 1000,
                    newest_first: false,
                },
            )
            .await?;
        let enabled = keys
            .items
            .iter()
            .filter(|k| k.state == KeyState::Enabled)
            .count();
        m.insert(
            "keys".into(),
            json!({"total": keys.total, "enabled": enabled}),
        );
    }
    if may(call, &O::ListAccounts).await {
        m.insert("accounts".into(), json!(svc.accounts().await?.len()));
    }
    if may(
        call,
        &O::ListAccessKeys {
            account: scope.account,
        },
    )
    .await
    {
        m.insert(
            "access_keys".into(),
            json!(svc.access_keys_of(scope.account).await?.len()),
        );
    }
    if may(call, &O::Audit(AuditSearch::default())).await {
        let chain = chain_result(call).await;
        m.insert("chain".into(), chain);
        // Rates are the whole server's (every account's requests): for operators, like the
        // audit log.
        if let Some(rates) = call.rates.as_ref().and_then(|r| r()) {
            m.insert(
                "rates".into(),
                serde_json::to_value(&rates).unwrap_or(Value::Null),
            );
        }
    }
    html(call, "overview.html", ctx)
}

/// The audit chain check reads the whole log: off the runtime's threads.
async fn chain_result(call: &Call) -> Value {
    let Some(check) = call.chain_check.clone() else {
        return json!({"ok": Value::Null, "message": "The audit log has no chain to check."});
    };
    match tokio::task::spawn_blocking(move || check()).await {
        Ok(Ok(m)) => json!({"ok": true, "message": m}),
        Ok(Err(m)) => json!({"ok": false, "message": m}),
        Err(_) => json!({"ok": false, "message": "the check failed to run"}),
    }
}

async fn list_secrets(call: &Call, search: SecretSearch) -> Result<Page, ConsoleError> {
    let mut filter = SecretFilter::default();
    let mut prefix = None;
    if !search.name.is_empty() {
        if search.matching == "contains" {
            filter.name_contains = Some(search.name.clone());
        } else {
            prefix = Some(search.name.clone());
        }
    }
    if !search.tag.is_empty() {
        let (k, v) = search.tag.split_once('=').unwrap_or((&search.tag, ""));
        filter.tags.push(TagCondition {
            key: k.trim().to_string(),
            values: Some(v.trim().to_string())
                .filter(|v| !v.is_empty())
                .into_iter()
                .collect(),
        });
    }
    match search.state.as_str() {
        "enabled" => {
            filter.pending_delete = Some(false);
            filter.disabled = Some(false);
        }
        "disabled" => {
            filter.pending_delete = Some(false);
            filter.disabled = Some(true);
        }
        "deleting" => filter.pending_delete = Some(true),
        _ => {}
    }
    // Pages in name order, each resumed after the last name of the one before: one range
    // read of the name index, as fast at the millionth secret as at the first.
    let page = call
        .service
        .list_by_name(
            &call.scope,
            &filter,
            &NameWalk {
                prefix,
                after: search.after.clone(),
                limit: PAGE_SIZE,
                scan_limit: SECRETS_SCAN_LIMIT,
            },
        )
        .await?;
    let rows: Vec<Value> = page.items.iter().map(secret_row).collect();
    let base = format!(
        "/console/secrets?name={}&match={}&tag={}&state={}",
        enc(&search.name),
        enc(&search.matching),
        enc(&search.tag),
        enc(&search.state)
    );
    let next = page.resume_after.as_ref().map(|after| {
        let link = call.cursors.seal(
            SECRETS_CURSOR,
            call.scope.account,
            &search.canonical(),
            after,
        );
        format!("{base}&after={}", enc(&link))
    });
    let filtered = !search.name.is_empty() || !search.tag.is_empty() || !search.state.is_empty();
    // The scope's total comes from the store's counters (no scan); a search's own count
    // would be a scan, so a search shows none.
    let total = if filtered {
        None
    } else {
        let none = PageRequest {
            offset: 0,
            limit: 0,
            newest_first: true,
        };
        Some(
            call.service
                .list(&call.scope, &SecretFilter::default(), none)
                .await?
                .total,
        )
    };
    let can_create = may(
        call,
        &Operation::CreateSecret {
            name: "*".into(),
            description: String::new(),
            tags: vec![],
            key: None,
        },
    )
    .await;
    html(
        call,
        "secrets.html",
        json!({
            "title": "Secrets",
            "search": {"name": search.name, "match": search.matching, "tag": search.tag,
                       "state": search.state},
            "filtered": filtered,
            "secrets": rows,
            "total": total,
            "deep": search.after.is_some(),
            "after": search.after,
            "first": search.after.is_some().then_some(base),
            "next": next,
            "stopped": page.stopped,
            "scan_limit": SECRETS_SCAN_LIMIT,
            "can_create": can_create,
        }),
    )
}

async fn show_secret(
    call: &Call,
    name: &str,
    revealed: Option<Value>,
) -> Result<Page, ConsoleError> {
    use Operation as O;
    let s = call.service.describe(&call.scope, name).await?;
    let n = || name.to_string();
    let mut versions: Vec<&coffer_core::VersionRecord> = s.versions.iter().collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "id": v.version_id,
                "created": v.created_at.to_iso8601_seconds(),
                "stages": v.stages.iter().map(stage_name).collect::<Vec<_>>(),
                "expires": when(v.expires_at),
            })
        })
        .collect();
    let pending = s.is_pending_delete();
    let can = json!({
        "reveal": !pending && may(call, &O::RevealValue { name: n(), version: None }).await,
        "put": !pending && !s.kind.is_managed() && may(call, &O::PutValue { name: n() }).await,
        "stage": !pending && !s.kind.is_managed()
            && may(call, &O::MoveStage { name: n(), stage: Stage::Current, version: String::new() }).await,
        "delete": !pending && may(call, &O::DeleteSecret { name: n(), days: 7 }).await,
        "restore": pending && may(call, &O::RestoreSecret { name: n() }).await,
    });
    let r = &s.rotation;
    // A managed secret's rotations, newest first: read with the secret's description, as
    // Tencent's DescribeRotationHistory is.
    let history: Vec<Value> = if s.kind.is_managed() {
        let (_, tasks) = call.service.secret_tasks(&call.scope, name, 20).await?;
        tasks
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "version": t.version_id,
                    "status": format!("{:?}", t.status),
                    "step": format!("{:?}", t.step),
                    "attempts": t.attempts,
                    "error": t.last_error,
                    "created": t.created_at.to_iso8601_seconds(),
                    "updated": t.updated_at.to_iso8601_seconds(),
                })
            })
            .collect()
    } else {
        vec![]
    };
    let done = query_done(call);
    html(
        call,
        "secret.html",
        json!({
            "title": s.name,
            "secret": {
                "name": s.name,
                "id": s.id.to_string(),
                "description": s.description,
                "kind": s.kind.type_name(),
                "key": s.key_id,
                "state": state_name(&s.state),
                "purge_at": when(s.state.purge_at()),
                "tags": s.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>(),
                "created": s.created_at.to_iso8601_seconds(),
                "updated": s.updated_at.to_iso8601_seconds(),
                "rotation": {
                    "enabled": r.enabled,
                    "interval_days": r.interval_secs.map(|x| x / 86_400),
                    "next": when(r.next),
                    "last": when(r.last),
                    "last_error": r.last_error,
                    "failures": r.failures,
                },
                "versions": versions,
            },
            "revealed": revealed,
            "history": history,
            "managed": s.kind.is_managed(),
            "can": can,
            "done": done,
        }),
    )
}

/// The page's confirmation after a post-redirect-get (`done=`), as a fixed sentence.
fn query_done(call: &Call) -> Option<&'static str> {
    let done = call.query_done.as_deref()?;
    Some(match done {
        "created" => "The secret was created.",
        "version" => "A new version is now Current.",
        "stage" => "The stage was moved.",
        "deleted" => "The secret is scheduled for deletion.",
        "restored" => "The secret was restored.",
        "updated" => "The change was saved.",
        "deleting" => "The key is scheduled for deletion.",
        "kept" => "The deletion was cancelled; the key is disabled.",
        "saved" => "The policy was saved.",
        _ => return None,
    })
}

async fn list_keys(call: &Call) -> Result<Page, ConsoleError> {
    let keys = call
        .service
        .keys(
            &call.scope,
            PageRequest {
                offset: 0,
                limit: 1000,
                newest_first: false,
            },
        )
        .await?;
    let mut rows = vec![];
    for k in &keys.items {
        let (state, delete_at) = key_state(&k.state);
        let id = || k.id.clone();
        rows.push(json!({
            "id": k.id,
            "aliases": k.aliases,
            "description": k.description,
            "state": state,
            "delete_at": delete_at,
            "default": k.is_default,
            "versions": k.versions.len(),
            "created": k.created_at.to_iso8601_seconds(),
            "last_rotation": when(k.last_rotation()),
            "can_update": may(call, &Operation::SetKeyEnabled { key: id(), enabled: true }).await,
            "can_delete": !k.is_default && may(call, &Operation::CancelKeyDeletion { key: id() }).await,
        }));
    }
    let done = query_done(call);
    html(
        call,
        "keys.html",
        json!({"title": "Keys", "keys": rows, "total": keys.total, "done": done}),
    )
}

async fn access_keys(
    call: &Call,
    account: AccountId,
    created: Option<Value>,
) -> Result<Page, ConsoleError> {
    use Operation as O;
    let svc = &call.service;
    let mut rows = vec![];
    for k in svc.access_keys_of(account).await? {
        let key = || k.id.clone();
        rows.push(json!({
            "id": k.id,
            "admin": k.admin,
            "enabled": k.enabled,
            "created": k.created_at.to_iso8601_seconds(),
            "policies": svc.attached_policies(&k.id).await?,
            "mine": k.id == call.caller.id,
            "can_toggle": may(call, &O::SetAccessKeyEnabled { account, key: key(), enabled: !k.enabled }).await,
            "can_delete": may(call, &O::DeleteAccessKey { account, key: key() }).await,
        }));
    }
    let policies: Vec<String> = match svc.policies(account).await {
        Ok(list) => list.into_iter().map(|p| p.name).collect(),
        Err(_) => vec![],
    };
    let can_create = may(
        call,
        &O::CreateAccessKey {
            account,
            admin: false,
            policy: None,
        },
    )
    .await;
    let done = query_done(call);
    html(
        call,
        "access-keys.html",
        json!({
            "title": "Access keys",
            "keys": rows,
            "policies": policies,
            "created": created,
            "can_create": can_create,
            "done": done,
        }),
    )
}

async fn policy_page(
    call: &Call,
    account: AccountId,
    name: &str,
    document: &str,
    exists: bool,
    error: Option<String>,
) -> Result<Page, ConsoleError> {
    let can_save = may(
        call,
        &Operation::SavePolicy {
            account,
            name: if name.is_empty() {
                "*".into()
            } else {
                name.into()
            },
        },
    )
    .await;
    let template = "{\n  \"Version\": \"1\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": [\"secrets:Describe\", \"secrets:List\"],\n      \"Resource\": [\"*\"]\n    }\n  ]\n}";
    let done = query_done(call);
    html(
        call,
        "policy.html",
        json!({
            "title": if name.is_empty() { "New policy".to_string() } else { format!("Policy {name}") },
            "name": name,
            "document": if document.is_empty() { template } else { document },
            "exists": exists,
            "error": error,
            "can_save": can_save,
            "done": done,
        }),
    )
}

async fn audit(call: &Call, search: AuditSearch) -> Result<Page, ConsoleError> {
    let lower = |t: &str| t.to_lowercase();
    let (key, action, resource) = (
        lower(&search.key),
        lower(&search.action),
        lower(&search.resource),
    );
    let contains = |v: &Value, field: &str, needle: &str| {
        needle.is_empty()
            || v.get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_lowercase().contains(needle))
    };
    // Backwards from the page's position, a batch of entries at a time, until the page is
    // full, the log's start (or the `since` time) is reached, or AUDIT_SCAN_LIMIT entries
    // were read: then the page says where to continue.
    let mut rows = vec![];
    let mut before = search.before;
    let mut scanned = 0usize;
    let mut resume: Option<u64> = None;
    let mut stopped = false;
    'pages: loop {
        if before == Some(0) {
            break;
        }
        let want = AUDIT_READ.min(AUDIT_SCAN_LIMIT - scanned);
        if want == 0 {
            stopped = true;
            resume = before;
            break;
        }
        let batch = call.audit.entries_before(before, want).await?;
        let Some(&(oldest, _)) = batch.first() else {
            break;
        };
        for (at, line) in batch.iter().rev() {
            scanned += 1;
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let time = v
                .get("time_ms")
                .and_then(Value::as_i64)
                .map(|t| Timestamp(t).to_iso8601_seconds())
                .unwrap_or_default();
            if !search.since.is_empty() && time.as_str() < search.since.as_str() {
                // Entries are appended in time order: everything older is before `since`.
                break 'pages;
            }
            if !search.until.is_empty()
                && time.as_str() > search.until.as_str()
                && !time.starts_with(search.until.as_str())
            {
                continue;
            }
            let ok = v.get("result").and_then(Value::as_str) == Some("OK");
            let keep = contains(&v, "access_key_id", &key)
                && (contains(&v, "action", &action) || contains(&v, "operation", &action))
                && contains(&v, "resource", &resource)
                && match search.outcome.as_str() {
                    "ok" => ok,
                    "failed" => !ok,
                    _ => true,
                };
            if !keep {
                continue;
            }
            let field = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
            rows.push(json!({
                "time": time,
                "key": field("access_key_id"),
                "dialect": field("dialect"),
                "operation": field("operation"),
                "action": field("action"),
                "resource": field("resource"),
                "result": field("result"),
                "ok": ok,
                "status": v.get("status").and_then(Value::as_u64),
                "source": field("source"),
            }));
            if rows.len() >= AUDIT_SHOWN {
                resume = Some(*at).filter(|a| *a > 0);
                break 'pages;
            }
        }
        before = Some(oldest);
    }
    let base = format!(
        "/console/audit?key={}&action={}&resource={}&outcome={}&since={}&until={}",
        enc(&search.key),
        enc(&search.action),
        enc(&search.resource),
        enc(&search.outcome),
        enc(&search.since),
        enc(&search.until)
    );
    let older = resume.map(|at| {
        let link = call.cursors.seal(
            AUDIT_CURSOR,
            call.scope.account,
            &search.canonical(),
            &at.to_string(),
        );
        format!("{base}&before={}", enc(&link))
    });
    html(
        call,
        "audit.html",
        json!({
            "title": "Audit log",
            "search": {"key": search.key, "action": search.action, "resource": search.resource,
                       "outcome": search.outcome, "since": search.since, "until": search.until},
            "entries": rows,
            "scanned": scanned,
            "scan_limit": AUDIT_SCAN_LIMIT,
            "stopped": stopped,
            "older": older,
            "newest": search.before.is_some().then_some(base),
            "chain": chain_result(call).await,
        }),
    )
}

impl Call {
    fn form_value(&self, name: &str) -> Option<Zeroizing<String>> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Zeroizing::new(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn tags_and_stages_read_as_people_write_them() {
        let t = parse_tags("env=prod, team = core\nlone").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[1].key.as_str(), t[1].value.as_str()), ("team", "core"));
        assert_eq!(t[2].value, "");
        assert!(parse_tags("=x").is_err());
        assert!(parse_tags("a=1,a=2").is_err());
        assert!(parse_tags("").unwrap().is_empty());
        assert_eq!(parse_stage("current").unwrap(), Stage::Current);
        assert_eq!(parse_stage("Previous").unwrap(), Stage::Previous);
        assert_eq!(parse_stage("blue").unwrap(), Stage::Custom("blue".into()));
        assert!(parse_stage(" ").is_err());
    }

    /// Every route leads to an operation of the kind it names, and every kind has a route:
    /// a page cannot be added without its permission rule (the match in `permission` has no
    /// `_` arm) nor be left unreachable.
    #[test]
    fn every_operation_has_a_route_and_a_rule() {
        let routes = [
            ("POST", "/console/session"),
            ("POST", "/console/sign-out"),
            ("GET", "/console/"),
            ("GET", "/console/secrets"),
            ("GET", "/console/secrets/new"),
            ("POST", "/console/secrets/create"),
            ("GET", "/console/secret"),
            ("POST", "/console/secret/reveal"),
            ("POST", "/console/secret/put"),
            ("POST", "/console/secret/stage"),
            ("POST", "/console/secret/delete"),
            ("POST", "/console/secret/restore"),
            ("GET", "/console/keys"),
            ("POST", "/console/keys/enable"),
            ("POST", "/console/keys/delete"),
            ("POST", "/console/keys/cancel-delete"),
            ("GET", "/console/access-keys"),
            ("POST", "/console/access-keys/create"),
            ("POST", "/console/access-keys/disable"),
            ("POST", "/console/access-keys/delete"),
            ("GET", "/console/policies"),
            ("GET", "/console/policy"),
            ("POST", "/console/policy/save"),
            ("GET", "/console/audit"),
            ("GET", "/console/accounts"),
            ("GET", "/console/databases"),
        ];
        let seen: HashSet<OperationKind> = routes
            .iter()
            .map(|(m, p)| route(m, p).unwrap_or_else(|| panic!("{m} {p}")))
            .collect();
        assert_eq!(seen.len(), OperationKind::iter().count());
        assert_eq!(route("GET", "/console/secret/reveal"), None);
        assert_eq!(route("DELETE", "/console/secrets"), None);
        assert_eq!(
            operation_name("POST", "/console/secret/reveal"),
            "RevealValue"
        );
    }

    #[test]
    fn revealing_is_a_value_read_and_changes_are_durable() {
        let reveal = permission(&Operation::RevealValue {
            name: "db".into(),
            version: None,
        });
        assert_eq!(reveal.action(), Some(Action::SecretsGetValue));
        assert!(reveal.audit_durably());
        let show = permission(&Operation::ShowSecret { name: "db".into() });
        assert_eq!(show.action(), Some(Action::SecretsDescribe));
        let put = permission(&Operation::PutValue { name: "db".into() });
        assert_eq!(put.action(), Some(Action::SecretsPutValue));
        assert!(put.audit_durably());
        let scope = Scope {
            account: AccountId(9),
            region: "default".into(),
        };
        assert_eq!(
            put.resources(&scope).as_deref(),
            Some("crn:coffer:default:9:secret/db")
        );
    }

    #[test]
    fn a_new_key_with_a_policy_needs_the_right_to_attach_it() {
        let p = permission(&Operation::CreateAccessKey {
            account: AccountId(9),
            admin: false,
            policy: Some("read".into()),
        });
        let Permission::All(parts) = p else {
            panic!("expected two permissions")
        };
        assert_eq!(parts[1].action(), Some(Action::AdminAttachPolicy));
        let admin = permission(&Operation::CreateAccessKey {
            account: AccountId(9),
            admin: true,
            policy: None,
        });
        assert_eq!(admin.action(), Some(Action::AdminCreateAdminAccessKey));
    }
}
