//! Who may do what. Every operation of every dialect maps to one neutral [`Action`] on one
//! resource, so a single policy governs the Alibaba, Tencent and Huawei APIs alike (the table
//! is in DESIGN.md). Resources are named
//! `crn:coffer:<region>:<account>:secret/<name>`, `.../key/<id>` and `.../event/<name>`, with
//! the coffer region (after the region map), so a cloud's ARN and a plain name that address the
//! same secret are the same resource.

use std::fmt;

use crate::model::{Scope, Tag};

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
        }
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
    /// Every secret of the scope (lists, batch reads by filter).
    AllSecrets,
    Key(String),
    AllKeys,
    Event(String),
    AllEvents,
    /// A registered database instance, by id.
    Instance(String),
    /// The scope itself (random passwords, service information).
    Scope,
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
        let base = format!("crn:coffer:{}:{}:", scope.region, scope.account);
        match self {
            Target::Secret { name, .. } => format!("{base}secret/{name}"),
            Target::AllSecrets => format!("{base}secret/*"),
            Target::Key(id) => format!("{base}key/{id}"),
            Target::AllKeys => format!("{base}key/*"),
            Target::Event(name) => format!("{base}event/{name}"),
            Target::AllEvents => format!("{base}event/*"),
            Target::Instance(id) => format!("{base}instance/{id}"),
            Target::Scope => format!("{base}*"),
        }
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
    /// Admin keys of the operator account only (the admin API's server-wide routes).
    Operator,
    /// Admin keys of this account, or of the operator account (the admin API's account routes).
    AccountAdmin(crate::model::AccountId),
    /// Every one of these (an operation that touches several things in different ways, such
    /// as ReEncrypt: decrypt with one key, encrypt with another). Empty is refused.
    All(Vec<Permission>),
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
            Permission::Act { action, .. } => Some(*action),
            Permission::All(parts) => parts.iter().find_map(Permission::action),
            _ => None,
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
            Permission::Act { targets, .. } => {
                into.extend(targets.iter().map(|t| t.resource(scope)))
            }
            Permission::All(parts) => parts.iter().for_each(|p| p.collect_resources(scope, into)),
            Permission::Public | Permission::Operator | Permission::AccountAdmin(_) => {}
        }
    }
}
