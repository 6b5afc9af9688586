//! Every operation of the Secrets Manager model (botocore `secretsmanager/2017-10-17`) as one
//! value of [`Operation`]: looking the target up, parsing what names its resources, the
//! permission it needs, and the dispatch to the operation modules.
//!
//! A `SecretId` may be a name or an ARN; [`resolve`] turns it into the secret's name before
//! the permission is checked, so that a policy on a secret holds however the request names
//! it, and the operation runs on the secret that was authorized.

use coffer_core::{Action, Permission, Tag, TagChange, Target};
use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::request::Call;
use crate::{policies, replication, rotation, secrets};

/// A `SecretId` as sent, and the name of the secret it names once resolved (until then the
/// text itself).
#[derive(Debug, Clone)]
pub struct SecretId {
    pub given: String,
    pub name: String,
}

impl SecretId {
    pub fn parse(p: &Params, field: &str) -> Result<SecretId, ApiError> {
        let given = p.required_str(field, 1, params::MAX_SECRET_ID_LEN)?;
        Ok(SecretId {
            given: given.to_string(),
            name: given.to_string(),
        })
    }
}

#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumString, Hash)
)]
pub enum Operation {
    // The secret operations (secrets.rs).
    CreateSecret {
        name: String,
        tags: Vec<Tag>,
        /// The key named by `KmsKeyId`, by its id once resolved.
        key: Option<String>,
        /// A retry may compare its value with a stored one (see [`Operation::PutSecretValue`]).
        compare: bool,
    },
    GetSecretValue {
        secret: SecretId,
    },
    BatchGetSecretValue {
        /// `SecretIdList`, each resolved; empty when the request selects by filters.
        secrets: Vec<SecretId>,
    },
    /// `compare`: the `ClientRequestToken` names a version the secret has, so the answer
    /// tells whether the value sent is the stored one; the caller must then also be allowed to
    /// read the value.
    PutSecretValue {
        secret: SecretId,
        compare: bool,
    },
    DescribeSecret {
        secret: SecretId,
    },
    ListSecrets,
    ListSecretVersionIds {
        secret: SecretId,
    },
    DeleteSecret {
        secret: SecretId,
    },
    RestoreSecret {
        secret: SecretId,
    },
    UpdateSecret {
        secret: SecretId,
        key: Option<String>,
        compare: bool,
    },
    UpdateSecretVersionStage {
        secret: SecretId,
    },
    TagResource {
        secret: SecretId,
        tags: Vec<Tag>,
    },
    UntagResource {
        secret: SecretId,
        keys: Vec<String>,
    },
    GetRandomPassword,
    // Resource policies (policies.rs).
    PutResourcePolicy(policies::PutResourcePolicy),
    GetResourcePolicy(policies::GetResourcePolicy),
    DeleteResourcePolicy(policies::DeleteResourcePolicy),
    ValidateResourcePolicy(policies::ValidateResourcePolicy),
    ListResourcePolicies(policies::ListResourcePolicies),
    // Rotation (rotation.rs).
    RotateSecret(rotation::RotateSecret),
    CancelRotateSecret(rotation::CancelRotateSecret),
    // Replication (replication.rs).
    ReplicateSecretToRegions(replication::ReplicateSecretToRegions),
    RemoveRegionsFromReplication(replication::RemoveRegionsFromReplication),
    StopReplicationToReplica(replication::StopReplicationToReplica),
    AssociateCrossAccountReplica(replication::AssociateCrossAccountReplica),
    DisassociateCrossAccountReplica(replication::DisassociateCrossAccountReplica),
}

use Operation as O;

/// The operation an `X-Amz-Target` names, or AWS's error for a target it does not know.
pub fn kind(target: Option<&str>) -> Result<OperationKind, ApiError> {
    let unknown = || ApiError::new("UnknownOperationException", 400, "");
    let name = target.ok_or_else(unknown)?;
    name.parse::<OperationKind>().map_err(|_| unknown())
}

/// Parses what names the operation's resources (the rest is read when it runs).
pub fn parse(kind: OperationKind, p: &Params) -> Result<Operation, ApiError> {
    use OperationKind as K;
    let id = |p: &Params| SecretId::parse(p, "SecretId");
    Ok(match kind {
        K::CreateSecret => O::CreateSecret {
            name: secrets::name(p)?,
            tags: secrets::tags(p)?.unwrap_or_default(),
            key: secrets::kms_key_id(p)?,
            compare: false,
        },
        K::GetSecretValue => O::GetSecretValue { secret: id(p)? },
        K::BatchGetSecretValue => O::BatchGetSecretValue {
            secrets: secrets::batch_ids(p)?,
        },
        K::PutSecretValue => O::PutSecretValue {
            secret: id(p)?,
            compare: false,
        },
        K::DescribeSecret => O::DescribeSecret { secret: id(p)? },
        K::ListSecrets => O::ListSecrets,
        K::ListSecretVersionIds => O::ListSecretVersionIds { secret: id(p)? },
        K::DeleteSecret => O::DeleteSecret { secret: id(p)? },
        K::RestoreSecret => O::RestoreSecret { secret: id(p)? },
        K::UpdateSecret => O::UpdateSecret {
            secret: id(p)?,
            key: secrets::kms_key_id(p)?,
            compare: false,
        },
        K::UpdateSecretVersionStage => O::UpdateSecretVersionStage { secret: id(p)? },
        K::TagResource => O::TagResource {
            secret: id(p)?,
            tags: secrets::tags(p)?.ok_or_else(|| ApiError::missing("Tags"))?,
        },
        K::UntagResource => O::UntagResource {
            secret: id(p)?,
            keys: secrets::tag_keys(p)?,
        },
        K::GetRandomPassword => O::GetRandomPassword,
        K::PutResourcePolicy => O::PutResourcePolicy(policies::PutResourcePolicy::parse(p)?),
        K::GetResourcePolicy => O::GetResourcePolicy(policies::GetResourcePolicy::parse(p)?),
        K::DeleteResourcePolicy => {
            O::DeleteResourcePolicy(policies::DeleteResourcePolicy::parse(p)?)
        }
        K::ValidateResourcePolicy => {
            O::ValidateResourcePolicy(policies::ValidateResourcePolicy::parse(p)?)
        }
        K::ListResourcePolicies => {
            O::ListResourcePolicies(policies::ListResourcePolicies::parse(p)?)
        }
        K::RotateSecret => O::RotateSecret(rotation::RotateSecret::parse(p)?),
        K::CancelRotateSecret => O::CancelRotateSecret(rotation::CancelRotateSecret::parse(p)?),
        K::ReplicateSecretToRegions => {
            O::ReplicateSecretToRegions(replication::ReplicateSecretToRegions::parse(p)?)
        }
        K::RemoveRegionsFromReplication => {
            O::RemoveRegionsFromReplication(replication::RemoveRegionsFromReplication::parse(p)?)
        }
        K::StopReplicationToReplica => {
            O::StopReplicationToReplica(replication::StopReplicationToReplica::parse(p)?)
        }
        K::AssociateCrossAccountReplica => {
            O::AssociateCrossAccountReplica(replication::AssociateCrossAccountReplica::parse(p)?)
        }
        K::DisassociateCrossAccountReplica => O::DisassociateCrossAccountReplica(
            replication::DisassociateCrossAccountReplica::parse(p)?,
        ),
    })
}

/// Every `SecretId` of the operation, to be resolved to the secret's name.
pub fn secret_ids(op: &mut Operation) -> Vec<&mut SecretId> {
    match op {
        O::GetSecretValue { secret }
        | O::PutSecretValue { secret, .. }
        | O::DescribeSecret { secret }
        | O::ListSecretVersionIds { secret }
        | O::DeleteSecret { secret }
        | O::RestoreSecret { secret }
        | O::UpdateSecret { secret, .. }
        | O::UpdateSecretVersionStage { secret }
        | O::TagResource { secret, .. }
        | O::UntagResource { secret, .. } => vec![secret],
        O::BatchGetSecretValue { secrets } => secrets.iter_mut().collect(),
        O::CreateSecret { .. } | O::ListSecrets | O::GetRandomPassword => vec![],
        O::PutResourcePolicy(i) => vec![&mut i.secret],
        O::GetResourcePolicy(i) => vec![&mut i.secret],
        O::DeleteResourcePolicy(i) => vec![&mut i.secret],
        O::ValidateResourcePolicy(i) => i.secret.iter_mut().collect(),
        O::ListResourcePolicies(i) => vec![&mut i.secret],
        O::RotateSecret(i) => vec![&mut i.secret],
        O::CancelRotateSecret(i) => vec![&mut i.secret],
        O::ReplicateSecretToRegions(i) => vec![&mut i.secret],
        O::RemoveRegionsFromReplication(i) => vec![&mut i.secret],
        O::StopReplicationToReplica(i) => vec![&mut i.secret],
        O::AssociateCrossAccountReplica(i) => vec![&mut i.secret],
        O::DisassociateCrossAccountReplica(i) => vec![&mut i.secret],
    }
}

/// A request whose every `SecretId` is an ARN of one other account (its 12-digit number in
/// the ARN) runs in that account's scope, as AWS lets a secret be reached across accounts by
/// its ARN. Whether the caller may is then the authorization's question: the secret's resource
/// policy must allow it (DESIGN.md, "Resource policies"); without one, every such request is
/// refused alike, whether the secret exists or not. A number no single account has leaves the
/// request in the caller's own account, where the ARN names nothing.
pub async fn route_to_owner(call: &mut Call, op: &mut Operation) -> Result<(), ApiError> {
    let ids = secret_ids(op);
    let mut owner: Option<String> = None;
    for id in &ids {
        let Some(crate::arn::SecretRef::Arn { account, .. }) =
            crate::arn::SecretRef::parse(&id.given)
        else {
            return Ok(());
        };
        if account == call.account_number || owner.as_ref().is_some_and(|o| *o != account) {
            return Ok(());
        }
        owner = Some(account);
    }
    let Some(number) = owner else {
        return Ok(());
    };
    if let Some(account) = call.service.account_with_number(&number).await? {
        call.scope.account = account;
        call.account_number = number;
    }
    Ok(())
}

/// Names every secret by its name and every key by its id, before the permission.
pub async fn resolve(call: &Call, mut op: Operation) -> Result<Operation, ApiError> {
    for id in secret_ids(&mut op) {
        id.name = secrets::resolve_name(call, &id.given).await?;
    }
    match &mut op {
        O::CreateSecret { key: Some(k), .. } | O::UpdateSecret { key: Some(k), .. } => {
            *k = secrets::key_id_to_authorize(call, k).await?;
        }
        O::RotateSecret(r) => {
            r.instance = call
                .service
                .secret_instance(&call.scope, &r.secret.name)
                .await;
        }
        _ => {}
    }
    // A version the token names already: the answer will compare values.
    let token = call.params.str("ClientRequestToken").ok().flatten();
    match (&mut op, token) {
        (O::CreateSecret { name, compare, .. }, Some(t)) => {
            *compare = version_exists(call, name, t).await?;
        }
        (O::PutSecretValue { secret, compare }, Some(t))
        | (
            O::UpdateSecret {
                secret, compare, ..
            },
            Some(t),
        ) => {
            *compare = version_exists(call, &secret.name, t).await?;
        }
        _ => {}
    }
    Ok(op)
}

async fn version_exists(call: &Call, name: &str, version_id: &str) -> Result<bool, ApiError> {
    match call
        .service
        .version_exists(&call.scope, name, version_id)
        .await
    {
        Ok(b) => Ok(b),
        Err(coffer_core::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn permission(op: &Operation) -> Permission {
    let secret = |action: Action, id: &SecretId| Permission::one(action, Target::secret(&id.name));
    let key = |action: Action, key: &str| Permission::one(action, Target::Key(key.to_string()));
    match op {
        // A create's tag conditions see the tags it asks for; a secret put under a key
        // encrypts with the key.
        O::CreateSecret {
            name,
            tags,
            key: kms_key,
            compare,
        } => {
            let mut all = vec![Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: name.clone(),
                    tags: Some(tags.clone()),
                },
            )];
            if let Some(k) = kms_key {
                all.push(key(Action::KeysEncrypt, k));
            }
            if *compare {
                all.push(Permission::one(
                    Action::SecretsGetValue,
                    Target::secret(name),
                ));
            }
            Permission::All(all)
        }
        O::GetSecretValue { secret: s } => secret(Action::SecretsGetValue, s),
        // By ids: each secret read; by filters: every secret of the scope may be.
        O::BatchGetSecretValue { secrets } if secrets.is_empty() => Permission::All(vec![
            Permission::one(Action::SecretsList, Target::AllSecrets),
            Permission::one(Action::SecretsGetValue, Target::AllSecrets),
        ]),
        // By ids: each secret on its own. AWS answers the secrets it may read and lists every
        // other one in `Errors` (AccessDeniedException among them), so one refused id does
        // not refuse the rest; a caller who may read none of them is refused as a whole.
        // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html
        O::BatchGetSecretValue { secrets } => Permission::EachOnItsOwn {
            action: Action::SecretsGetValue,
            targets: secrets.iter().map(|s| Target::secret(&s.name)).collect(),
        },
        O::PutSecretValue { secret: s, compare } => {
            let put = secret(Action::SecretsPutValue, s);
            if *compare {
                Permission::All(vec![put, secret(Action::SecretsGetValue, s)])
            } else {
                put
            }
        }
        // UpdateSecret may change the value (a new version), the description and the key.
        O::UpdateSecret {
            secret: s,
            key: kms_key,
            compare,
        } => {
            let mut all = vec![
                secret(Action::SecretsPutValue, s),
                secret(Action::SecretsUpdate, s),
            ];
            if let Some(k) = kms_key {
                all.push(key(Action::KeysEncrypt, k));
            }
            if *compare {
                all.push(secret(Action::SecretsGetValue, s));
            }
            Permission::All(all)
        }
        O::DescribeSecret { secret: s } | O::ListSecretVersionIds { secret: s } => {
            secret(Action::SecretsDescribe, s)
        }
        O::ListSecrets => Permission::one(Action::SecretsList, Target::AllSecrets),
        O::DeleteSecret { secret: s } => secret(Action::SecretsDelete, s),
        O::RestoreSecret { secret: s } => secret(Action::SecretsRestore, s),
        O::UpdateSecretVersionStage { secret: s } => secret(Action::SecretsUpdateStage, s),
        O::TagResource { secret: s, tags } => Permission::one(
            Action::SecretsTag,
            Target::SecretRetag {
                name: s.name.clone(),
                change: TagChange::Set(tags.clone()),
            },
        ),
        O::UntagResource { secret: s, keys } => Permission::one(
            Action::SecretsTag,
            Target::SecretRetag {
                name: s.name.clone(),
                change: TagChange::Remove(keys.clone()),
            },
        ),
        O::GetRandomPassword => Permission::one(Action::SecretsGetRandomPassword, Target::Scope),
        O::PutResourcePolicy(i) => secret(Action::SecretsPutPolicy, &i.secret),
        O::DeleteResourcePolicy(i) => secret(Action::SecretsPutPolicy, &i.secret),
        O::GetResourcePolicy(i) => secret(Action::SecretsGetPolicy, &i.secret),
        O::ListResourcePolicies(i) => secret(Action::SecretsGetPolicy, &i.secret),
        // Validation reads no policy, but with a SecretId it reads that secret's facts.
        O::ValidateResourcePolicy(i) => match &i.secret {
            Some(s) => secret(Action::SecretsGetPolicy, s),
            None => Permission::one(Action::SecretsGetPolicy, Target::Scope),
        },
        // As in every API, a rotation changes an account on the secret's database instance.
        O::RotateSecret(i) => match &i.instance {
            Some(instance) => Permission::All(vec![
                secret(Action::SecretsRotate, &i.secret),
                Permission::one(Action::DatabasesUse, Target::Instance(instance.clone())),
            ]),
            None => secret(Action::SecretsRotate, &i.secret),
        },
        O::CancelRotateSecret(i) => secret(Action::SecretsRotate, &i.secret),
        O::ReplicateSecretToRegions(i) => secret(Action::SecretsUpdate, &i.secret),
        O::RemoveRegionsFromReplication(i) => secret(Action::SecretsUpdate, &i.secret),
        O::StopReplicationToReplica(i) => secret(Action::SecretsUpdate, &i.secret),
        // The primary's values leave for another account: reading them is part of it, as
        // AWS asks GetSecretValue on the primary too.
        O::AssociateCrossAccountReplica(i) => Permission::All(vec![
            secret(Action::SecretsUpdate, &i.secret),
            secret(Action::SecretsGetValue, &i.secret),
        ]),
        O::DisassociateCrossAccountReplica(i) => secret(Action::SecretsUpdate, &i.secret),
    }
}

pub async fn execute(call: &Call, op: Operation) -> Result<Map<String, Value>, ApiError> {
    match op {
        O::CreateSecret {
            name, tags, key, ..
        } => secrets::create(call, name, tags, key).await,
        O::GetSecretValue { secret } => secrets::get_value(call, &secret).await,
        O::BatchGetSecretValue { secrets } => secrets::batch_get_value(call, secrets).await,
        O::PutSecretValue { secret, compare } => secrets::put_value(call, &secret, compare).await,
        O::DescribeSecret { secret } => secrets::describe(call, &secret).await,
        O::ListSecrets => secrets::list(call).await,
        O::ListSecretVersionIds { secret } => secrets::list_version_ids(call, &secret).await,
        O::DeleteSecret { secret } => secrets::delete(call, &secret).await,
        O::RestoreSecret { secret } => secrets::restore(call, &secret).await,
        O::UpdateSecret {
            secret,
            key,
            compare,
        } => secrets::update(call, &secret, key, compare).await,
        O::UpdateSecretVersionStage { secret } => secrets::update_stage(call, &secret).await,
        O::TagResource { secret, tags } => secrets::tag(call, &secret, tags).await,
        O::UntagResource { secret, keys } => secrets::untag(call, &secret, keys).await,
        O::GetRandomPassword => secrets::random_password(call),
        O::PutResourcePolicy(i) => policies::put(call, i).await,
        O::GetResourcePolicy(i) => policies::get(call, i).await,
        O::DeleteResourcePolicy(i) => policies::delete(call, i).await,
        O::ValidateResourcePolicy(i) => policies::validate(call, i).await,
        O::ListResourcePolicies(i) => policies::list(call, i).await,
        O::RotateSecret(i) => rotation::rotate(call, i).await,
        O::CancelRotateSecret(i) => rotation::cancel(call, i).await,
        O::ReplicateSecretToRegions(i) => replication::replicate(call, i).await,
        O::RemoveRegionsFromReplication(i) => replication::remove_regions(call, i).await,
        O::StopReplicationToReplica(i) => replication::stop(call, i).await,
        O::AssociateCrossAccountReplica(i) => replication::associate(call, i).await,
        O::DisassociateCrossAccountReplica(i) => replication::disassociate(call, i).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn the_enum_has_every_operation_of_the_model() {
        assert_eq!(OperationKind::iter().count(), 26);
        assert_eq!(
            kind(Some("GetSecretValue")).unwrap(),
            OperationKind::GetSecretValue
        );
        assert_eq!(
            kind(Some("Nope")).unwrap_err().code,
            "UnknownOperationException"
        );
        assert_eq!(kind(None).unwrap_err().code, "UnknownOperationException");
    }
}

#[cfg(test)]
mod permission_tests {
    use super::*;
    use serde_json::json;

    fn op(kind: OperationKind, body: serde_json::Value) -> Result<Operation, ApiError> {
        parse(
            kind,
            &Params::from_map(body.as_object().cloned().unwrap_or_default()),
        )
    }

    fn actions(p: &Permission) -> Vec<Action> {
        match p {
            Permission::Act { action, .. }
            | Permission::Admin { action, .. }
            | Permission::EachOnItsOwn { action, .. } => vec![*action],
            Permission::All(all) => all.iter().flat_map(actions).collect(),
            Permission::Public => vec![],
        }
    }

    #[test]
    fn a_retry_that_compares_values_also_needs_the_right_to_read_them() {
        let mut put = op(
            OperationKind::PutSecretValue,
            json!({"SecretId": "s", "SecretString": "x"}),
        )
        .unwrap();
        assert_eq!(actions(&permission(&put)), vec![Action::SecretsPutValue]);
        if let O::PutSecretValue { compare, .. } = &mut put {
            *compare = true;
        }
        assert_eq!(
            actions(&permission(&put)),
            vec![Action::SecretsPutValue, Action::SecretsGetValue]
        );
    }

    #[test]
    fn creates_name_their_key_and_tags() {
        let create = op(
            OperationKind::CreateSecret,
            json!({"Name": "n", "KmsKeyId": "k1", "Tags": [{"Key": "a", "Value": "b"}]}),
        )
        .unwrap();
        assert_eq!(
            actions(&permission(&create)),
            vec![Action::SecretsCreate, Action::KeysEncrypt]
        );
        // AWS's default key alias is the scope's default key: no key to authorize.
        let default = op(
            OperationKind::CreateSecret,
            json!({"Name": "n", "KmsKeyId": "alias/aws/secretsmanager"}),
        )
        .unwrap();
        assert_eq!(actions(&permission(&default)), vec![Action::SecretsCreate]);
    }

    #[test]
    fn batch_reads_by_filter_need_every_secret() {
        let by_filter = op(
            OperationKind::BatchGetSecretValue,
            json!({"Filters": [{"Key": "name", "Values": ["a"]}]}),
        )
        .unwrap();
        assert_eq!(
            permission(&by_filter),
            Permission::All(vec![
                Permission::one(Action::SecretsList, Target::AllSecrets),
                Permission::one(Action::SecretsGetValue, Target::AllSecrets),
            ])
        );
        let by_ids = op(
            OperationKind::BatchGetSecretValue,
            json!({"SecretIdList": ["a", "b"]}),
        )
        .unwrap();
        assert_eq!(
            permission(&by_ids),
            Permission::EachOnItsOwn {
                action: Action::SecretsGetValue,
                targets: vec![Target::secret("a"), Target::secret("b")],
            }
        );
    }

    #[test]
    fn inputs_of_other_operations_are_checked_before_anything_runs() {
        let bad = op(OperationKind::PutResourcePolicy, json!({"SecretId": "s"})).unwrap_err();
        assert_eq!(bad.code, "ValidationException");
        let bad = op(
            OperationKind::ReplicateSecretToRegions,
            json!({"SecretId": "s", "AddReplicaRegions": [{"Region": "Not a region"}]}),
        )
        .unwrap_err();
        assert_eq!(bad.code, "ValidationException");
        let bad = op(
            OperationKind::RotateSecret,
            json!({"SecretId": "s", "RotationRules": {"AutomaticallyAfterDays": 0}}),
        )
        .unwrap_err();
        assert_eq!(bad.code, "ValidationException");
        assert!(op(OperationKind::GetSecretValue, json!({})).is_err());
    }
}
