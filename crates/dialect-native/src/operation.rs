//! The admin operations: reading a route into one [`Operation`], who may run it, and running
//! it. Routing, permission and execution are three exhaustive matches on the same enum, so a
//! route cannot exist without a rule.

use coffer_core::service::AuthenticatedKey;
use coffer_core::{AccountId, Action, AdminRole, Permission, Scope, Service, Target};

use crate::errors::ApiError;
use crate::request::{account_id, bool_field, json_body, query_value, Answer, Call};
use crate::{accounts, databases, server};

/// One admin operation with the identifiers its route names. An access key's account is
/// resolved before authorization (see [`key_account`]), so that the permission can name it.
#[derive(Debug, Clone, PartialEq, Eq, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    CreateAccount,
    ListAccounts,
    ShowAccount {
        account: AccountId,
    },
    DeleteAccount {
        account: AccountId,
    },
    CreateAccessKey {
        account: AccountId,
        /// Whether the new key is an admin key (the body's `Admin`): a permission of its own.
        admin: bool,
    },
    ListAccessKeys {
        account: AccountId,
    },
    DisableAccessKey {
        key: String,
        account: AccountId,
    },
    EnableAccessKey {
        key: String,
        account: AccountId,
    },
    DeleteAccessKey {
        key: String,
        account: AccountId,
    },
    PutPolicy {
        account: AccountId,
        name: String,
    },
    GetPolicy {
        account: AccountId,
        name: String,
    },
    ListPolicies {
        account: AccountId,
    },
    DeletePolicy {
        account: AccountId,
        name: String,
    },
    AttachPolicy {
        key: String,
        account: AccountId,
        name: String,
    },
    DetachPolicy {
        key: String,
        account: AccountId,
        name: String,
    },
    TailAudit,
    AddDbInstance {
        scope: Scope,
    },
    ListDbInstances {
        scope: Scope,
    },
    ShowDbInstance {
        scope: Scope,
        id: String,
    },
    RemoveDbInstance {
        scope: Scope,
        id: String,
    },
    StartRewrap,
    ShowRewrap,
}

/// The operation's name for the audit log (its variant name), from the route alone; an
/// unknown route is `Unknown`.
pub(crate) fn operation_name(method: &str, seg: &[String]) -> &'static str {
    use OperationKind as K;
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let kind = match (method, seg.as_slice()) {
        ("POST", ["accounts"]) => K::CreateAccount,
        ("GET", ["accounts"]) => K::ListAccounts,
        ("GET", ["accounts", _]) => K::ShowAccount,
        ("DELETE", ["accounts", _]) => K::DeleteAccount,
        ("POST", ["accounts", _, "access-keys"]) => K::CreateAccessKey,
        ("GET", ["accounts", _, "access-keys"]) => K::ListAccessKeys,
        ("POST", ["access-keys", _, "disable"]) => K::DisableAccessKey,
        ("POST", ["access-keys", _, "enable"]) => K::EnableAccessKey,
        ("DELETE", ["access-keys", _]) => K::DeleteAccessKey,
        ("PUT", ["accounts", _, "policies", _]) => K::PutPolicy,
        ("GET", ["accounts", _, "policies", _]) => K::GetPolicy,
        ("GET", ["accounts", _, "policies"]) => K::ListPolicies,
        ("DELETE", ["accounts", _, "policies", _]) => K::DeletePolicy,
        ("PUT", ["access-keys", _, "policies", _]) => K::AttachPolicy,
        ("DELETE", ["access-keys", _, "policies", _]) => K::DetachPolicy,
        ("GET", ["audit"]) => K::TailAudit,
        ("POST", ["db-instances"]) => K::AddDbInstance,
        ("GET", ["db-instances"]) => K::ListDbInstances,
        ("GET", ["db-instances", _]) => K::ShowDbInstance,
        ("DELETE", ["db-instances", _]) => K::RemoveDbInstance,
        ("POST", ["rewrap"]) => K::StartRewrap,
        ("GET", ["rewrap"]) => K::ShowRewrap,
        _ => return "Unknown",
    };
    kind.into()
}

/// Everything the route resolution needs to know about the caller.
pub(crate) struct Caller<'a> {
    pub key: &'a AuthenticatedKey,
    pub operator: bool,
    pub default_region: &'a str,
}

/// Reads the route into an operation (and, where the permission depends on it, the body).
pub(crate) async fn parse(
    service: &Service,
    caller: &Caller<'_>,
    method: &str,
    seg: &[String],
    query: &str,
    body: &[u8],
) -> Result<Operation, ApiError> {
    use Operation as O;
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let key_account = |id: &str| key_account(service, caller, id.to_string());
    Ok(match (method, seg.as_slice()) {
        ("POST", ["accounts"]) => O::CreateAccount,
        ("GET", ["accounts"]) => O::ListAccounts,
        ("GET", ["accounts", id]) => O::ShowAccount {
            account: account_id(id)?,
        },
        ("DELETE", ["accounts", id]) => O::DeleteAccount {
            account: account_id(id)?,
        },
        ("POST", ["accounts", id, "access-keys"]) => O::CreateAccessKey {
            account: account_id(id)?,
            admin: bool_field(&json_body(body)?, "Admin", false)?,
        },
        ("GET", ["accounts", id, "access-keys"]) => O::ListAccessKeys {
            account: account_id(id)?,
        },
        ("POST", ["access-keys", id, "disable"]) => O::DisableAccessKey {
            account: key_account(id).await?,
            key: id.to_string(),
        },
        ("POST", ["access-keys", id, "enable"]) => O::EnableAccessKey {
            account: key_account(id).await?,
            key: id.to_string(),
        },
        ("DELETE", ["access-keys", id]) => O::DeleteAccessKey {
            account: key_account(id).await?,
            key: id.to_string(),
        },
        ("PUT", ["accounts", id, "policies", name]) => O::PutPolicy {
            account: account_id(id)?,
            name: name.to_string(),
        },
        ("GET", ["accounts", id, "policies", name]) => O::GetPolicy {
            account: account_id(id)?,
            name: name.to_string(),
        },
        ("GET", ["accounts", id, "policies"]) => O::ListPolicies {
            account: account_id(id)?,
        },
        ("DELETE", ["accounts", id, "policies", name]) => O::DeletePolicy {
            account: account_id(id)?,
            name: name.to_string(),
        },
        ("PUT", ["access-keys", id, "policies", name]) => O::AttachPolicy {
            account: key_account(id).await?,
            key: id.to_string(),
            name: name.to_string(),
        },
        ("DELETE", ["access-keys", id, "policies", name]) => O::DetachPolicy {
            account: key_account(id).await?,
            key: id.to_string(),
            name: name.to_string(),
        },
        ("GET", ["audit"]) => O::TailAudit,
        ("POST", ["db-instances"]) => O::AddDbInstance {
            scope: instance_scope(caller, query)?,
        },
        ("GET", ["db-instances"]) => O::ListDbInstances {
            scope: instance_scope(caller, query)?,
        },
        ("GET", ["db-instances", id]) => O::ShowDbInstance {
            scope: instance_scope(caller, query)?,
            id: id.to_string(),
        },
        ("DELETE", ["db-instances", id]) => O::RemoveDbInstance {
            scope: instance_scope(caller, query)?,
            id: id.to_string(),
        },
        ("POST", ["rewrap"]) => O::StartRewrap,
        ("GET", ["rewrap"]) => O::ShowRewrap,
        _ => {
            return Err(ApiError::new(
                404,
                "UnknownOperation",
                format!(
                    "There is no admin operation {method} /coffer/v1/{}.",
                    seg.join("/")
                ),
            ))
        }
    })
}

/// The account an access key belongs to. A key of another account reads as missing unless
/// the caller is the operator, so its existence is not revealed. A caller that is no admin
/// may manage no key at all: it is given its own account without a lookup, and the
/// permission check refuses it without telling whether the key exists.
async fn key_account(
    service: &Service,
    caller: &Caller<'_>,
    id: String,
) -> Result<AccountId, ApiError> {
    if !caller.key.admin {
        return Ok(caller.key.account);
    }
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!("The access key {id:?} does not exist."),
        )
    };
    let rec = match service.access_key_record(&id).await {
        Ok(r) => r,
        Err(coffer_core::Error::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    if !caller.operator && rec.account != caller.key.account {
        return Err(not_found());
    }
    Ok(rec.account)
}

/// The account and region a database instance request is about: the caller's account and
/// the default region unless the query names others.
fn instance_scope(caller: &Caller<'_>, query: &str) -> Result<Scope, ApiError> {
    let account = match query_value(query, "AccountId") {
        Some(a) => account_id(&a)?,
        None => caller.key.account,
    };
    let region = query_value(query, "Region")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| caller.default_region.to_string());
    Ok(Scope { account, region })
}

/// Who may run an operation: the role (the operator's admin keys for server-wide operations,
/// an account's or the operator's admin keys for that account's), and the `admin:` action and
/// resources the caller's own policies are asked about.
pub(crate) fn permission(op: &Operation) -> Permission {
    use AdminRole::{AccountAdmin, Operator};
    use Operation as O;
    let admin = Permission::admin;
    let key = |account: &AccountId, id: &str| Target::AccessKey {
        account: *account,
        id: id.to_string(),
    };
    let policy = |account: &AccountId, name: &str| Target::Policy {
        account: *account,
        name: name.to_string(),
    };
    let instance = |scope: &Scope, id: Option<&String>| Target::DbInstance {
        scope: scope.clone(),
        id: id.cloned(),
    };
    match op {
        O::CreateAccount => admin(Operator, Action::AdminCreateAccount, Target::AllAccounts),
        O::ListAccounts => admin(Operator, Action::AdminListAccounts, Target::AllAccounts),
        O::ShowAccount { account } => admin(
            AccountAdmin(*account),
            Action::AdminShowAccount,
            Target::Account(*account),
        ),
        O::DeleteAccount { account } => admin(
            Operator,
            Action::AdminDeleteAccount,
            Target::Account(*account),
        ),
        O::CreateAccessKey { account, admin: a } => admin(
            AccountAdmin(*account),
            if *a {
                Action::AdminCreateAdminAccessKey
            } else {
                Action::AdminCreateAccessKey
            },
            Target::AllAccessKeys(*account),
        ),
        O::ListAccessKeys { account } => admin(
            AccountAdmin(*account),
            Action::AdminListAccessKeys,
            Target::AllAccessKeys(*account),
        ),
        O::DisableAccessKey { key: k, account } => admin(
            AccountAdmin(*account),
            Action::AdminDisableAccessKey,
            key(account, k),
        ),
        O::EnableAccessKey { key: k, account } => admin(
            AccountAdmin(*account),
            Action::AdminEnableAccessKey,
            key(account, k),
        ),
        O::DeleteAccessKey { key: k, account } => admin(
            AccountAdmin(*account),
            Action::AdminDeleteAccessKey,
            key(account, k),
        ),
        O::PutPolicy { account, name } => admin(
            AccountAdmin(*account),
            Action::AdminPutPolicy,
            policy(account, name),
        ),
        O::GetPolicy { account, name } => admin(
            AccountAdmin(*account),
            Action::AdminGetPolicy,
            policy(account, name),
        ),
        O::ListPolicies { account } => admin(
            AccountAdmin(*account),
            Action::AdminListPolicies,
            Target::AllPolicies(*account),
        ),
        O::DeletePolicy { account, name } => admin(
            AccountAdmin(*account),
            Action::AdminDeletePolicy,
            policy(account, name),
        ),
        // Both the key and the policy: a policy may guard either.
        O::AttachPolicy {
            key: k,
            account,
            name,
        } => Permission::Admin {
            role: AccountAdmin(*account),
            action: Action::AdminAttachPolicy,
            targets: vec![key(account, k), policy(account, name)],
        },
        O::DetachPolicy {
            key: k,
            account,
            name,
        } => Permission::Admin {
            role: AccountAdmin(*account),
            action: Action::AdminDetachPolicy,
            targets: vec![key(account, k), policy(account, name)],
        },
        O::TailAudit => admin(Operator, Action::AdminTailAudit, Target::Server),
        O::StartRewrap => admin(Operator, Action::AdminStartRewrap, Target::Server),
        O::ShowRewrap => admin(Operator, Action::AdminShowRewrap, Target::Server),
        // A new instance's id is in the body, read by the operation: like CreateKey, adding
        // one is an action on every instance of the scope.
        O::AddDbInstance { scope } => admin(
            AccountAdmin(scope.account),
            Action::AdminAddDbInstance,
            instance(scope, None),
        ),
        O::ListDbInstances { scope } => admin(
            AccountAdmin(scope.account),
            Action::AdminListDbInstances,
            instance(scope, None),
        ),
        O::ShowDbInstance { scope, id } => admin(
            AccountAdmin(scope.account),
            Action::AdminShowDbInstance,
            instance(scope, Some(id)),
        ),
        O::RemoveDbInstance { scope, id } => admin(
            AccountAdmin(scope.account),
            Action::AdminRemoveDbInstance,
            instance(scope, Some(id)),
        ),
    }
}

pub(crate) async fn execute(c: &Call, op: Operation) -> Answer {
    use Operation as O;
    match op {
        O::CreateAccount => accounts::create_account(c).await,
        O::ListAccounts => accounts::list_accounts(c).await,
        O::ShowAccount { account } => accounts::show_account(c, account).await,
        O::DeleteAccount { account } => accounts::delete_account(c, account).await,
        O::CreateAccessKey { account, admin } => accounts::create_key(c, account, admin).await,
        O::ListAccessKeys { account } => accounts::list_keys(c, account).await,
        O::DisableAccessKey { key, .. } => accounts::set_key_enabled(c, &key, false).await,
        O::EnableAccessKey { key, .. } => accounts::set_key_enabled(c, &key, true).await,
        O::DeleteAccessKey { key, .. } => accounts::delete_key(c, &key).await,
        O::PutPolicy { account, name } => accounts::put_policy(c, account, &name).await,
        O::GetPolicy { account, name } => accounts::get_policy(c, account, &name).await,
        O::ListPolicies { account } => accounts::list_policies(c, account).await,
        O::DeletePolicy { account, name } => accounts::delete_policy(c, account, &name).await,
        O::AttachPolicy { key, name, .. } => accounts::attach_policy(c, &key, &name, true).await,
        O::DetachPolicy { key, name, .. } => accounts::attach_policy(c, &key, &name, false).await,
        O::TailAudit => server::tail_audit(c).await,
        O::AddDbInstance { scope } => databases::add(c, &scope).await,
        O::ListDbInstances { scope } => databases::list(c, &scope).await,
        O::ShowDbInstance { scope, id } => databases::show(c, &scope, &id).await,
        O::RemoveDbInstance { scope, id } => databases::remove(c, &scope, &id).await,
        O::StartRewrap => server::start_rewrap(c).await,
        O::ShowRewrap => server::show_rewrap(c),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use strum::IntoEnumIterator;

    use super::*;

    /// Every operation's rule, one sample each; the match has no `_` arm, so a new operation
    /// does not compile here until its rule is written down.
    #[test]
    fn every_operation_has_the_rule_of_its_kind() {
        use AdminRole::{AccountAdmin, Operator};
        let a = AccountId(42);
        let scope = Scope {
            account: AccountId(7),
            region: "r".into(),
        };
        let key = || "AK1".to_string();
        let name = || "p".to_string();
        let ak = Target::AccessKey {
            account: a,
            id: key(),
        };
        let pol = Target::Policy {
            account: a,
            name: name(),
        };
        let one = Permission::admin;
        let db = |id: Option<&str>| Target::DbInstance {
            scope: scope.clone(),
            id: id.map(str::to_string),
        };
        let mut seen = HashSet::new();
        for kind in OperationKind::iter() {
            use Action as X;
            use Operation as O;
            use OperationKind as K;
            let (op, rule) = match kind {
                K::CreateAccount => (
                    O::CreateAccount,
                    one(Operator, X::AdminCreateAccount, Target::AllAccounts),
                ),
                K::ListAccounts => (
                    O::ListAccounts,
                    one(Operator, X::AdminListAccounts, Target::AllAccounts),
                ),
                K::DeleteAccount => (
                    O::DeleteAccount { account: a },
                    one(Operator, X::AdminDeleteAccount, Target::Account(a)),
                ),
                K::TailAudit => (
                    O::TailAudit,
                    one(Operator, X::AdminTailAudit, Target::Server),
                ),
                K::StartRewrap => (
                    O::StartRewrap,
                    one(Operator, X::AdminStartRewrap, Target::Server),
                ),
                K::ShowRewrap => (
                    O::ShowRewrap,
                    one(Operator, X::AdminShowRewrap, Target::Server),
                ),
                K::ShowAccount => (
                    O::ShowAccount { account: a },
                    one(AccountAdmin(a), X::AdminShowAccount, Target::Account(a)),
                ),
                K::CreateAccessKey => {
                    // An admin key is a permission of its own.
                    let admin_key = O::CreateAccessKey {
                        account: a,
                        admin: true,
                    };
                    assert_eq!(
                        permission(&admin_key),
                        one(
                            AccountAdmin(a),
                            X::AdminCreateAdminAccessKey,
                            Target::AllAccessKeys(a)
                        )
                    );
                    (
                        O::CreateAccessKey {
                            account: a,
                            admin: false,
                        },
                        one(
                            AccountAdmin(a),
                            X::AdminCreateAccessKey,
                            Target::AllAccessKeys(a),
                        ),
                    )
                }
                K::ListAccessKeys => (
                    O::ListAccessKeys { account: a },
                    one(
                        AccountAdmin(a),
                        X::AdminListAccessKeys,
                        Target::AllAccessKeys(a),
                    ),
                ),
                K::DisableAccessKey => (
                    O::DisableAccessKey {
                        key: key(),
                        account: a,
                    },
                    one(AccountAdmin(a), X::AdminDisableAccessKey, ak.clone()),
                ),
                K::EnableAccessKey => (
                    O::EnableAccessKey {
                        key: key(),
                        account: a,
                    },
                    one(AccountAdmin(a), X::AdminEnableAccessKey, ak.clone()),
                ),
                K::DeleteAccessKey => (
                    O::DeleteAccessKey {
                        key: key(),
                        account: a,
                    },
                    one(AccountAdmin(a), X::AdminDeleteAccessKey, ak.clone()),
                ),
                K::PutPolicy => (
                    O::PutPolicy {
                        account: a,
                        name: name(),
                    },
                    one(AccountAdmin(a), X::AdminPutPolicy, pol.clone()),
                ),
                K::GetPolicy => (
                    O::GetPolicy {
                        account: a,
                        name: name(),
                    },
                    one(AccountAdmin(a), X::AdminGetPolicy, pol.clone()),
                ),
                K::ListPolicies => (
                    O::ListPolicies { account: a },
                    one(
                        AccountAdmin(a),
                        X::AdminListPolicies,
                        Target::AllPolicies(a),
                    ),
                ),
                K::DeletePolicy => (
                    O::DeletePolicy {
                        account: a,
                        name: name(),
                    },
                    one(AccountAdmin(a), X::AdminDeletePolicy, pol.clone()),
                ),
                K::AttachPolicy => (
                    O::AttachPolicy {
                        key: key(),
                        account: a,
                        name: name(),
                    },
                    Permission::Admin {
                        role: AccountAdmin(a),
                        action: X::AdminAttachPolicy,
                        targets: vec![ak.clone(), pol.clone()],
                    },
                ),
                K::DetachPolicy => (
                    O::DetachPolicy {
                        key: key(),
                        account: a,
                        name: name(),
                    },
                    Permission::Admin {
                        role: AccountAdmin(a),
                        action: X::AdminDetachPolicy,
                        targets: vec![ak.clone(), pol.clone()],
                    },
                ),
                K::AddDbInstance => (
                    O::AddDbInstance {
                        scope: scope.clone(),
                    },
                    one(AccountAdmin(scope.account), X::AdminAddDbInstance, db(None)),
                ),
                K::ListDbInstances => (
                    O::ListDbInstances {
                        scope: scope.clone(),
                    },
                    one(
                        AccountAdmin(scope.account),
                        X::AdminListDbInstances,
                        db(None),
                    ),
                ),
                K::ShowDbInstance => (
                    O::ShowDbInstance {
                        scope: scope.clone(),
                        id: "db".into(),
                    },
                    one(
                        AccountAdmin(scope.account),
                        X::AdminShowDbInstance,
                        db(Some("db")),
                    ),
                ),
                K::RemoveDbInstance => (
                    O::RemoveDbInstance {
                        scope: scope.clone(),
                        id: "db".into(),
                    },
                    one(
                        AccountAdmin(scope.account),
                        X::AdminRemoveDbInstance,
                        db(Some("db")),
                    ),
                ),
            };
            assert_eq!(OperationKind::from(&op), kind);
            assert_eq!(permission(&op), rule, "{kind:?}");
            seen.insert(kind);
        }
        assert_eq!(seen.len(), OperationKind::iter().count());
    }

    /// The resources of the admin API, as policies name them.
    #[test]
    fn admin_resources_name_their_account() {
        let op = Operation::DetachPolicy {
            key: "CFKX".into(),
            account: AccountId(42),
            name: "guard".into(),
        };
        let caller = Scope {
            account: AccountId(1),
            region: "default".into(),
        };
        let p = permission(&op);
        assert_eq!(p.action().map(Action::as_str), Some("admin:DetachPolicy"));
        assert_eq!(
            p.resources(&caller).as_deref(),
            Some("crn:coffer:*:42:access-key/CFKX,crn:coffer:*:42:policy/guard")
        );
        let show = permission(&Operation::ShowDbInstance {
            scope: Scope {
                account: AccountId(42),
                region: "eu".into(),
            },
            id: "db1".into(),
        });
        assert_eq!(
            show.resources(&caller).as_deref(),
            Some("crn:coffer:eu:42:instance/db1")
        );
        assert_eq!(
            permission(&Operation::ListAccounts)
                .resources(&caller)
                .as_deref(),
            Some("crn:coffer:*:*:account")
        );
    }

    /// The audit name of every route is its operation's name.
    #[test]
    fn routes_name_their_operation() {
        let seg = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            operation_name("GET", &seg("accounts/1/policies")),
            "ListPolicies"
        );
        assert_eq!(
            operation_name("PUT", &seg("access-keys/AK/policies/p")),
            "AttachPolicy"
        );
        assert_eq!(operation_name("POST", &seg("rewrap")), "StartRewrap");
        assert_eq!(operation_name("PATCH", &seg("rewrap")), "Unknown");
    }
}
