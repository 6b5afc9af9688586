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
            Target::Secret { name, .. } | Target::SecretRetag { name, .. } => {
                format!("{base}secret/{name}")
            }
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
