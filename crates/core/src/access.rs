//! Who may do what. Every operation of every dialect maps to one neutral [`Action`] on one
//! resource, so a single policy governs the Alibaba, Tencent and Huawei APIs alike (the table
//! is in DESIGN.md). Resources are named
//! `crn:coffer:<region>:<account>:secret/<name>`, `.../key/<id>` and `.../event/<name>`, with
//! the coffer region (after the region map), so a cloud's ARN and a plain name that address the
//! same secret are the same resource.
//!
//! The admin API's operations are actions too (`admin:CreateAccessKey`, ...), on resources
//! that name their account themselves (`crn:coffer:*:<account>:access-key/<id>`), so that the
//! policies attached to an admin key restrict what it may administer as they restrict what it
//! may read.

use std::fmt;

use crate::model::{AccountId, Scope, Tag};

/// A neutral action. Its text form (`secrets:GetValue`) is what policies name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    SecretsCreate,
    SecretsGetValue,
    SecretsPutValue,
    SecretsDescribe,
    SecretsList,
    SecretsUpdate,
    SecretsUpdateStage,
    SecretsDelete,
    SecretsRestore,
    SecretsTag,
    SecretsRotate,
    SecretsGetPolicy,
    SecretsPutPolicy,
    SecretsGetRandomPassword,
    SecretsListEvents,
    SecretsManageEvents,
    KeysCreate,
    KeysDescribe,
    KeysList,
    KeysUpdate,
    KeysDelete,
    KeysEncrypt,
    KeysDecrypt,
    KeysGenerateDataKey,
    /// Making or changing database accounts on a registered instance (managed secrets).
    DatabasesUse,
    // The admin API (`/coffer/v1`): one action per operation. Creating an admin key is an
    // action of its own, so that a policy can let a key make plain keys but not admin keys.
    AdminCreateAccount,
    AdminListAccounts,
    AdminShowAccount,
    AdminDeleteAccount,
    AdminCreateAccessKey,
    AdminCreateAdminAccessKey,
    AdminListAccessKeys,
    AdminDisableAccessKey,
    AdminEnableAccessKey,
    AdminDeleteAccessKey,
    AdminPutPolicy,
    AdminGetPolicy,
    AdminListPolicies,
    AdminDeletePolicy,
    AdminAttachPolicy,
    AdminDetachPolicy,
    AdminTailAudit,
    AdminAddDbInstance,
    AdminListDbInstances,
    AdminShowDbInstance,
    AdminRemoveDbInstance,
    AdminStartRewrap,
    AdminShowRewrap,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SecretsCreate => "secrets:Create",
            Action::SecretsGetValue => "secrets:GetValue",
            Action::SecretsPutValue => "secrets:PutValue",
            Action::SecretsDescribe => "secrets:Describe",
            Action::SecretsList => "secrets:List",
            Action::SecretsUpdate => "secrets:Update",
            Action::SecretsUpdateStage => "secrets:UpdateStage",
            Action::SecretsDelete => "secrets:Delete",
            Action::SecretsRestore => "secrets:Restore",
            Action::SecretsTag => "secrets:Tag",
            Action::SecretsRotate => "secrets:Rotate",
            Action::SecretsGetPolicy => "secrets:GetPolicy",
            Action::SecretsPutPolicy => "secrets:PutPolicy",
            Action::SecretsGetRandomPassword => "secrets:GetRandomPassword",
            Action::SecretsListEvents => "secrets:ListEvents",
            Action::SecretsManageEvents => "secrets:ManageEvents",
            Action::KeysCreate => "keys:Create",
            Action::KeysDescribe => "keys:Describe",
            Action::KeysList => "keys:List",
            Action::KeysUpdate => "keys:Update",
            Action::KeysDelete => "keys:Delete",
            Action::KeysEncrypt => "keys:Encrypt",
            Action::KeysDecrypt => "keys:Decrypt",
            Action::KeysGenerateDataKey => "keys:GenerateDataKey",
            Action::DatabasesUse => "databases:Use",
            Action::AdminCreateAccount => "admin:CreateAccount",
            Action::AdminListAccounts => "admin:ListAccounts",
            Action::AdminShowAccount => "admin:ShowAccount",
            Action::AdminDeleteAccount => "admin:DeleteAccount",
            Action::AdminCreateAccessKey => "admin:CreateAccessKey",
            Action::AdminCreateAdminAccessKey => "admin:CreateAdminAccessKey",
            Action::AdminListAccessKeys => "admin:ListAccessKeys",
            Action::AdminDisableAccessKey => "admin:DisableAccessKey",
            Action::AdminEnableAccessKey => "admin:EnableAccessKey",
            Action::AdminDeleteAccessKey => "admin:DeleteAccessKey",
            Action::AdminPutPolicy => "admin:PutPolicy",
            Action::AdminGetPolicy => "admin:GetPolicy",
            Action::AdminListPolicies => "admin:ListPolicies",
            Action::AdminDeletePolicy => "admin:DeletePolicy",
            Action::AdminAttachPolicy => "admin:AttachPolicy",
            Action::AdminDetachPolicy => "admin:DetachPolicy",
            Action::AdminTailAudit => "admin:TailAudit",
            Action::AdminAddDbInstance => "admin:AddDbInstance",
            Action::AdminListDbInstances => "admin:ListDbInstances",
            Action::AdminShowDbInstance => "admin:ShowDbInstance",
            Action::AdminRemoveDbInstance => "admin:RemoveDbInstance",
            Action::AdminStartRewrap => "admin:StartRewrap",
            Action::AdminShowRewrap => "admin:ShowRewrap",
        }
    }

    /// The admin actions that can leave some access key able to do more than before:
    /// a new admin key, a key enabled again, a policy attached (its Allows), detached (its
    /// Denies) or rewritten (for every key that carries it). A caller restricted by a policy
    /// may run these only where a policy of its own explicitly allows them, so that it
    /// cannot hand itself, or a key it makes, the rights its policies withhold (DESIGN.md,
    /// "Admin keys under policies").
    pub fn grants_rights(self) -> bool {
        matches!(
            self,
            Action::AdminCreateAdminAccessKey
                | Action::AdminEnableAccessKey
                | Action::AdminPutPolicy
                | Action::AdminAttachPolicy
                | Action::AdminDetachPolicy
        )
    }

    /// Whether the audit entry of this action must be on disk before the response leaves:
    /// everything that changes state or hands out a secret value or key material.
    pub fn audit_durably(self) -> bool {
        !matches!(
            self,
            Action::SecretsDescribe
                | Action::SecretsList
                | Action::SecretsGetPolicy
                | Action::SecretsGetRandomPassword
                | Action::SecretsListEvents
                | Action::KeysDescribe
                | Action::KeysList
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One secret by name. `tags` are the tags a create asks for; for other actions the
    /// secret's stored tags are read when a policy condition needs them.
    Secret {
        name: String,
        tags: Option<Vec<Tag>>,
    },
    /// One secret whose tags the request changes. A tag condition must hold for the tags the
    /// secret has before the change and for those it would have after it, so that a caller
    /// can neither tag a secret into the set its policy lets it tag nor tag one out of it.
    SecretRetag {
        name: String,
        change: TagChange,
    },
    /// Every secret of the scope (lists, batch reads by filter).
    AllSecrets,
    /// One key, by id. Dialects resolve aliases and ARNs to the id before they name a key
    /// here, so that a policy on `key/<id>` holds however a request names the key; a
    /// reference that names no key of the scope stays as it was written.
    Key(String),
    AllKeys,
    Event(String),
    AllEvents,
    /// A registered database instance, by id.
    Instance(String),
    /// The scope itself (random passwords, service information).
    Scope,
    // Admin API resources. Accounts, access keys and policies belong to no region, so their
    // region is `*`; each names its account itself, because an operator names any account
    // and the request's scope is only the caller's own.
    /// One account (`crn:coffer:*:<account>:account`).
    Account(AccountId),
    /// Every account (`crn:coffer:*:*:account`): listing them, making a new one.
    AllAccounts,
    /// One access key (`crn:coffer:*:<account>:access-key/<id>`).
    AccessKey {
        account: AccountId,
        id: String,
    },
    /// Every access key of an account (listing them, making a new one).
    AllAccessKeys(AccountId),
    /// One policy (`crn:coffer:*:<account>:policy/<name>`).
    Policy {
        account: AccountId,
        name: String,
    },
    /// Every policy of an account (listing them).
    AllPolicies(AccountId),
    /// A database instance of the given account and region, or every one of them (`None`).
    DbInstance {
        scope: Scope,
        id: Option<String>,
    },
    /// The server itself: its audit log and its root key (`crn:coffer:*:*:server`).
    Server,
}

impl Target {
    pub fn secret(name: impl Into<String>) -> Self {
        Target::Secret {
            name: name.into(),
            tags: None,
        }
    }

    /// The resource name policies match against.
    pub fn resource(&self, scope: &Scope) -> String {
        // The scoped names are built by hand, in one allocation: every request names one or
        // more (its authorization and its audit entry each ask), and two `format!`s apiece
        // were about 1,900 instructions of a GetSecretValue's.
        let scoped = |kind: &str, name: &str| {
            let mut out = String::with_capacity(
                "crn:coffer:".len() + scope.region.len() + 22 + kind.len() + name.len(),
            );
            out.push_str("crn:coffer:");
            out.push_str(&scope.region);
            out.push(':');
            out.push_str(itoa::Buffer::new().format(scope.account.0));
            out.push(':');
            out.push_str(kind);
            out.push_str(name);
            out
        };
        match self {
            Target::Secret { name, .. } | Target::SecretRetag { name, .. } => {
                scoped("secret/", name)
            }
            Target::AllSecrets => scoped("secret/*", ""),
            Target::Key(id) => scoped("key/", id),
            Target::AllKeys => scoped("key/*", ""),
            Target::Event(name) => scoped("event/", name),
            Target::AllEvents => scoped("event/*", ""),
            Target::Instance(id) => scoped("instance/", id),
            Target::Scope => scoped("*", ""),
            Target::Account(account) => format!("crn:coffer:*:{account}:account"),
            Target::AllAccounts => "crn:coffer:*:*:account".into(),
            Target::AccessKey { account, id } => format!("crn:coffer:*:{account}:access-key/{id}"),
            Target::AllAccessKeys(account) => format!("crn:coffer:*:{account}:access-key/*"),
            Target::Policy { account, name } => format!("crn:coffer:*:{account}:policy/{name}"),
            Target::AllPolicies(account) => format!("crn:coffer:*:{account}:policy/*"),
            Target::DbInstance { scope, id } => format!(
                "crn:coffer:{}:{}:instance/{}",
                scope.region,
                scope.account,
                id.as_deref().unwrap_or("*")
            ),
            Target::Server => "crn:coffer:*:*:server".into(),
        }
    }
}

/// Who may call an admin API operation at all, before the caller's policies are asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRole {
    /// Admin keys of the operator account (server-wide operations).
    Operator,
    /// Admin keys of this account, or of the operator account.
    AccountAdmin(AccountId),
}

/// A change a request makes to a secret's tags, as [`Target::SecretRetag`] carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagChange {
    /// Adds these tags, replacing the value of a key the secret already has.
    Set(Vec<Tag>),
    /// Removes the tags with these keys (keys the secret lacks are ignored).
    Remove(Vec<String>),
    /// Removes every tag.
    RemoveAll,
}

impl TagChange {
    /// `tags` after the change, in the order the service keeps them.
    pub fn apply(&self, tags: &[Tag]) -> Vec<Tag> {
        let mut out = tags.to_vec();
        match self {
            TagChange::Set(new) => {
                for t in new {
                    match out.iter_mut().find(|x| x.key == t.key) {
                        Some(existing) => existing.value = t.value.clone(),
                        None => out.push(t.clone()),
                    }
                }
            }
            TagChange::Remove(keys) => out.retain(|t| !keys.contains(&t.key)),
            TagChange::RemoveAll => out.clear(),
        }
        out
    }
}

/// What a caller must be allowed before an operation runs. Every operation of every dialect
/// yields one of these from an exhaustive `match` on its operation enum, and the request
/// pipeline checks it before the operation executes: there is no "no rule" value, so an
/// operation cannot run unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permission {
    /// `action` on every one of `targets`, in the request's scope (policies decide; an admin
    /// key may do what no policy of its own denies).
    Act {
        action: Action,
        targets: Vec<Target>,
    },
    /// Answers the same to every authenticated caller and touches no account's data
    /// (Tencent's GetRegions, say).
    Public,
    /// An admin API operation: the caller must hold `role`, and then its own policies are
    /// asked about `action` on every one of `targets` like any other action: an explicit Deny
    /// wins, an admin key without a policy may do everything its role allows, and a key with
    /// a policy needs an explicit Allow for the actions that [grant rights]
    /// (Action::grants_rights).
    Admin {
        role: AdminRole,
        action: Action,
        targets: Vec<Target>,
    },
    /// Every one of these (an operation that touches several things in different ways, such
    /// as ReEncrypt: decrypt with one key, encrypt with another). Empty is refused.
    All(Vec<Permission>),
    /// `action` on each of `targets`, for a batch that answers every target it may and
    /// reports each other one as its own error (AWS's BatchGetSecretValue). The pipeline
    /// refuses the request as a whole when the caller may act on none of them (and when
    /// there are none); the operation then asks [`Service::authorize`] about each target
    /// before it touches it, the same check the pipeline makes for [`Permission::Act`].
    ///
    /// [`Service::authorize`]: crate::Service::authorize
    EachOnItsOwn {
        action: Action,
        targets: Vec<Target>,
    },
}

impl Permission {
    /// `action` on one target.
    pub fn one(action: Action, target: Target) -> Self {
        Permission::Act {
            action,
            targets: vec![target],
        }
    }

    /// `action` on each of `targets`.
    pub fn each(action: Action, targets: Vec<Target>) -> Self {
        Permission::Act { action, targets }
    }

    /// An admin API operation: `action` on `target`, for callers holding `role`.
    pub fn admin(role: AdminRole, action: Action, target: Target) -> Self {
        Permission::Admin {
            role,
            action,
            targets: vec![target],
        }
    }

    /// `self` and, when the operation makes a database create or change an account on a
    /// registered instance, `databases:Use` on that instance: a right over secrets alone is
    /// no right over the database's accounts.
    pub fn and_instance(self, instance: Option<&str>) -> Self {
        match instance {
            Some(id) => Permission::All(vec![
                self,
                Permission::one(Action::DatabasesUse, Target::Instance(id.to_string())),
            ]),
            None => self,
        }
    }

    /// The neutral action, for the audit entry: the first one a conjunction names.
    pub fn action(&self) -> Option<Action> {
        match self {
            Permission::Act { action, .. }
            | Permission::Admin { action, .. }
            | Permission::EachOnItsOwn { action, .. } => Some(*action),
            Permission::All(parts) => parts.iter().find_map(Permission::action),
            _ => None,
        }
    }

    /// Whether the operation's audit entry must be durable before it is answered: when any
    /// action it needs does ([`Action::audit_durably`]); the admin API's operations and the
    /// public ones are always durable, as every admin request was before it had actions.
    pub fn audit_durably(&self) -> bool {
        match self {
            Permission::Act { action, .. } | Permission::EachOnItsOwn { action, .. } => {
                action.audit_durably()
            }
            Permission::All(parts) => parts.iter().any(Permission::audit_durably),
            Permission::Public | Permission::Admin { .. } => true,
        }
    }

    /// The resources named, comma-separated, for the audit entry.
    pub fn resources(&self, scope: &Scope) -> Option<String> {
        let mut names = Vec::new();
        self.collect_resources(scope, &mut names);
        (!names.is_empty()).then(|| names.join(","))
    }

    fn collect_resources(&self, scope: &Scope, into: &mut Vec<String>) {
        match self {
            Permission::Act { targets, .. }
            | Permission::Admin { targets, .. }
            | Permission::EachOnItsOwn { targets, .. } => {
                into.extend(targets.iter().map(|t| t.resource(scope)))
            }
            Permission::All(parts) => parts.iter().for_each(|p| p.collect_resources(scope, into)),
            Permission::Public => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
        pairs
            .iter()
            .map(|(k, v)| Tag {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn resource_names_are_written_as_the_design_notes_give_them() {
        for account in [0, 7, 1234567890123456, u64::MAX] {
            let scope = Scope {
                account: AccountId(account),
                region: "cn-hangzhou".into(),
            };
            let base = format!("crn:coffer:cn-hangzhou:{account}:");
            let cases = [
                (
                    Target::Secret {
                        name: "app/db".into(),
                        tags: None,
                    },
                    "secret/app/db",
                ),
                (Target::AllSecrets, "secret/*"),
                (Target::Key("k-1".into()), "key/k-1"),
                (Target::AllKeys, "key/*"),
                (Target::Event("e".into()), "event/e"),
                (Target::AllEvents, "event/*"),
                (Target::Instance("i-9".into()), "instance/i-9"),
                (Target::Scope, "*"),
            ];
            for (target, tail) in cases {
                assert_eq!(target.resource(&scope), format!("{base}{tail}"));
            }
        }
    }

    #[test]
    fn a_tag_change_gives_the_tags_after_it() {
        let before = tags(&[("team", "a"), ("env", "x")]);
        let set = TagChange::Set(tags(&[("team", "b"), ("new", "1")]));
        assert_eq!(
            set.apply(&before),
            tags(&[("team", "b"), ("env", "x"), ("new", "1")])
        );
        let remove = TagChange::Remove(vec!["team".into(), "absent".into()]);
        assert_eq!(remove.apply(&before), tags(&[("env", "x")]));
        assert_eq!(TagChange::RemoveAll.apply(&before), vec![]);
    }

    #[test]
    fn a_retagged_secret_is_the_secret_resource() {
        let scope = Scope {
            account: crate::model::AccountId(7),
            region: "r".into(),
        };
        let retag = Target::SecretRetag {
            name: "app/db".into(),
            change: TagChange::RemoveAll,
        };
        assert_eq!(
            retag.resource(&scope),
            Target::secret("app/db").resource(&scope)
        );
    }
}
