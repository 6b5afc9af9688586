//! The Alibaba operations (the `Action` values of KMS API 2016-01-20): parsing an action and
//! the parameters that name its targets, the permission each one needs (the Alibaba column of
//! DESIGN.md "Actions of every operation"), and the dispatch to the operation modules.
//!
//! Targets are resolved with the operations' own parameter rules, so a name given as an ARN
//! and a plain name are the same resource. Only the targets are read here, before the
//! authorization check; every other parameter is read by the operation after it, as before.
//!
//! Keys are then named by their ids ([`resolve`], once the caller's scope is known): an alias,
//! an ARN and an id of one key are one resource, so a policy on `key/<id>` holds however a
//! request names the key, and the operation runs on the key that was authorized even if an
//! alias moves meanwhile. A ciphertext is judged by the key inside it.

use coffer_core::service::UNKNOWN_KEY_ID;
use coffer_core::{Action, Permission, Tag, TagChange, Target};
use strum::IntoEnumIterator;

use crate::errors::ApiError;
use crate::render::Fields;
use crate::request::{self, Call, RequestedType};
use crate::{keys, managed, params, secrets};

/// One variant per wire action; the variant's name is the action's (`IntoStaticStr` on
/// [`OperationKind`] gives the wire name). `name` is a secret name (an ARN already reduced to
/// the name), `key` a key reference as the request gave it (id or `alias/...`).
#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    // --- secrets ---
    CreateSecret {
        name: String,
        /// The tags the create asks for, which a policy's tag conditions see.
        tags: Vec<Tag>,
        /// `EncryptionKeyId`, the key the secret is put under; `None` for the default key.
        key: Option<String>,
        /// An Rds secret's `DBInstanceId` (from `ExtendedConfig`): its accounts are checked
        /// and later changed on that instance.
        instance: Option<String>,
    },
    GetSecretValue {
        name: String,
    },
    PutSecretValue {
        name: String,
        /// Whether `VersionId` is already a version of the secret: the put then compares the
        /// stored value with the new one, and its answer tells whether they are equal.
        version_exists: bool,
    },
    UpdateSecret {
        name: String,
    },
    UpdateSecretVersionStage {
        name: String,
    },
    DescribeSecret {
        name: String,
    },
    ListSecrets,
    ListSecretVersionIds {
        name: String,
    },
    DeleteSecret {
        name: String,
    },
    RestoreSecret {
        name: String,
    },
    GetRandomPassword,
    /// `change` is what the request does to the tags, which a tag condition judges too.
    TagResource {
        name: String,
        change: TagChange,
    },
    UntagResource {
        name: String,
        change: TagChange,
    },
    TagResources {
        names: Vec<String>,
        change: TagChange,
    },
    UntagResources {
        names: Vec<String>,
        change: TagChange,
    },
    /// No names: the query goes by tags over every secret of the scope.
    ListTagResources {
        names: Vec<String>,
    },
    GetSecretPolicy {
        name: String,
    },
    SetSecretPolicy {
        name: String,
    },
    // --- managed secrets ---
    /// `instance`: the stored instance of a managed secret (see [`resolve`]).
    RotateSecret {
        name: String,
        instance: Option<String>,
    },
    /// `instance`: the stored instance of a managed secret whose automatic rotation this
    /// turns on (see [`resolve`]).
    UpdateSecretRotationPolicy {
        name: String,
        instance: Option<String>,
    },
    // --- keys ---
    CreateKey,
    DescribeKey {
        key: String,
    },
    ListKeys,
    EnableKey {
        key: String,
    },
    DisableKey {
        key: String,
    },
    ScheduleKeyDeletion {
        key: String,
    },
    CancelKeyDeletion {
        key: String,
    },
    UpdateKeyDescription {
        key: String,
    },
    CreateAlias {
        key: String,
    },
    /// The alias moves from `holder` (the key that has it) to `key`: both change.
    UpdateAlias {
        key: String,
        holder: String,
    },
    /// `holder` is the key that has the alias.
    DeleteAlias {
        holder: String,
    },
    ListAliases,
    ListAliasesByKeyId {
        key: String,
    },
    Encrypt {
        key: String,
    },
    /// `key` is the key the blob names (see [`resolve`]).
    Decrypt {
        key: String,
    },
    GenerateDataKey {
        key: String,
    },
    GenerateDataKeyWithoutPlaintext {
        key: String,
    },
    /// Decrypts with `source` (the key the blob names) and encrypts with `destination`
    /// (`None` when the request names none: the operation then refuses it).
    ReEncrypt {
        source: String,
        destination: Option<String>,
    },
    UpdateRotationPolicy {
        key: String,
    },
    CreateKeyVersion {
        key: String,
    },
    ListKeyVersions {
        key: String,
    },
    DescribeKeyVersion {
        key: String,
    },
}

/// The operation a wire action names, or `None` for an action this dialect does not know.
/// Matching is exact (case-sensitive), like Alibaba's.
fn kind_of(action: &str) -> Option<OperationKind> {
    OperationKind::iter().find(|k| <&'static str>::from(*k) == action)
}

/// `SecretName`, as a name or an ARN of the caller's.
fn secret(c: &Call) -> Result<String, ApiError> {
    request::secret_ref(c, "SecretName")
}

/// `KeyId`: a key id, an alias, or a key/alias ARN of the caller's.
fn key(c: &Call) -> Result<String, ApiError> {
    request::key_ref(c, c.params.required("KeyId")?)
}

/// A key parameter that the operation checks only after authorization: an ARN that is not
/// the caller's stays as written (so it is judged as a key of that name), and the operation
/// reports it as before.
fn lenient_key(c: &Call, raw: &str) -> String {
    request::key_ref(c, raw).unwrap_or_else(|_| raw.to_string())
}

/// `AliasName`, as written (the operation checks it); until [`resolve`], the alias itself.
fn alias(c: &Call) -> String {
    c.params
        .optional("AliasName")
        .unwrap_or_default()
        .to_string()
}

/// Parses `action` and the parameters naming its targets. An unknown action is Alibaba's
/// `InvalidAction.NotFound`.
pub(crate) fn parse(action: &str, c: &Call) -> Result<Operation, ApiError> {
    use OperationKind as K;
    let Some(kind) = kind_of(action) else {
        return Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {action:?} is not found, please check your url and method."),
        ));
    };
    Ok(match kind {
        K::CreateSecret => {
            let name = c.params.required("SecretName")?;
            params::secret_name("SecretName", name)?;
            let tags = match c.params.optional("Tags") {
                Some(t) => params::tags_json("Tags", t)?,
                None => vec![],
            };
            Operation::CreateSecret {
                name: name.to_string(),
                tags,
                key: c
                    .params
                    .optional("EncryptionKeyId")
                    .map(|k| lenient_key(c, k)),
                instance: rds_instance(c),
            }
        }
        K::GetSecretValue => Operation::GetSecretValue { name: secret(c)? },
        K::PutSecretValue => Operation::PutSecretValue {
            name: secret(c)?,
            version_exists: false,
        },
        K::UpdateSecret => Operation::UpdateSecret { name: secret(c)? },
        K::UpdateSecretVersionStage => Operation::UpdateSecretVersionStage { name: secret(c)? },
        K::DescribeSecret => Operation::DescribeSecret { name: secret(c)? },
        K::ListSecrets => Operation::ListSecrets,
        K::ListSecretVersionIds => Operation::ListSecretVersionIds { name: secret(c)? },
        K::DeleteSecret => Operation::DeleteSecret { name: secret(c)? },
        K::RestoreSecret => Operation::RestoreSecret { name: secret(c)? },
        K::GetRandomPassword => Operation::GetRandomPassword,
        // The tag changes are read leniently: a change that does not parse is refused by the
        // operation after authorization, and until then changes nothing.
        K::TagResource => Operation::TagResource {
            name: request::single_tag_target(c)?,
            change: TagChange::Set(
                c.params
                    .optional("Tags")
                    .and_then(|t| params::tags_json("Tags", t).ok())
                    .unwrap_or_default(),
            ),
        },
        K::UntagResource => Operation::UntagResource {
            name: request::single_tag_target(c)?,
            change: TagChange::Remove(
                c.params
                    .optional("TagKeys")
                    .and_then(|t| params::tag_keys("TagKeys", t).ok())
                    .unwrap_or_default(),
            ),
        },
        K::TagResources => Operation::TagResources {
            names: request::resource_ids(c, true)?,
            change: TagChange::Set(secrets::flattened_tags(c, true).unwrap_or_default()),
        },
        K::UntagResources => Operation::UntagResources {
            names: request::resource_ids(c, true)?,
            change: if c.params.bool("All", false).unwrap_or(false) {
                TagChange::RemoveAll
            } else {
                TagChange::Remove(
                    c.params
                        .indexed("TagKey")
                        .map(|keys| keys.into_iter().map(|(_, k)| k.to_string()).collect())
                        .unwrap_or_default(),
                )
            },
        },
        K::ListTagResources => Operation::ListTagResources {
            names: request::resource_ids(c, false)?,
        },
        K::GetSecretPolicy => Operation::GetSecretPolicy { name: secret(c)? },
        K::SetSecretPolicy => Operation::SetSecretPolicy { name: secret(c)? },
        K::RotateSecret => Operation::RotateSecret {
            name: secret(c)?,
            instance: None,
        },
        K::UpdateSecretRotationPolicy => Operation::UpdateSecretRotationPolicy {
            name: secret(c)?,
            instance: None,
        },
        K::CreateKey => Operation::CreateKey,
        K::DescribeKey => Operation::DescribeKey { key: key(c)? },
        K::ListKeys => Operation::ListKeys,
        K::EnableKey => Operation::EnableKey { key: key(c)? },
        K::DisableKey => Operation::DisableKey { key: key(c)? },
        K::ScheduleKeyDeletion => Operation::ScheduleKeyDeletion { key: key(c)? },
        K::CancelKeyDeletion => Operation::CancelKeyDeletion { key: key(c)? },
        K::UpdateKeyDescription => Operation::UpdateKeyDescription { key: key(c)? },
        K::CreateAlias => Operation::CreateAlias { key: key(c)? },
        K::UpdateAlias => Operation::UpdateAlias {
            key: key(c)?,
            holder: alias(c),
        },
        K::DeleteAlias => Operation::DeleteAlias { holder: alias(c) },
        K::ListAliases => Operation::ListAliases,
        K::ListAliasesByKeyId => Operation::ListAliasesByKeyId { key: key(c)? },
        K::Encrypt => Operation::Encrypt { key: key(c)? },
        K::Decrypt => Operation::Decrypt {
            key: UNKNOWN_KEY_ID.to_string(),
        },
        K::GenerateDataKey => Operation::GenerateDataKey { key: key(c)? },
        K::GenerateDataKeyWithoutPlaintext => {
            Operation::GenerateDataKeyWithoutPlaintext { key: key(c)? }
        }
        K::ReEncrypt => Operation::ReEncrypt {
            source: UNKNOWN_KEY_ID.to_string(),
            destination: c
                .params
                .optional("DestinationKeyId")
                .map(|k| lenient_key(c, k)),
        },
        K::UpdateRotationPolicy => Operation::UpdateRotationPolicy { key: key(c)? },
        K::CreateKeyVersion => Operation::CreateKeyVersion { key: key(c)? },
        K::ListKeyVersions => Operation::ListKeyVersions { key: key(c)? },
        K::DescribeKeyVersion => Operation::DescribeKeyVersion { key: key(c)? },
    })
}

/// Names the keys of `op` by their ids, now that the caller's scope is known (see the module
/// documentation), and asks whether a put's version exists. Runs after [`parse`] and before
/// [`permission`]; every operation is listed, so a new one must say what it resolves.
pub(crate) async fn resolve(c: &Call, mut op: Operation) -> Result<Operation, ApiError> {
    use Operation as O;
    match &mut op {
        O::CreateSecret { key: Some(key), .. }
        | O::DescribeKey { key }
        | O::EnableKey { key }
        | O::DisableKey { key }
        | O::ScheduleKeyDeletion { key }
        | O::CancelKeyDeletion { key }
        | O::UpdateKeyDescription { key }
        | O::CreateAlias { key }
        | O::ListAliasesByKeyId { key }
        | O::Encrypt { key }
        | O::GenerateDataKey { key }
        | O::GenerateDataKeyWithoutPlaintext { key }
        | O::UpdateRotationPolicy { key }
        | O::CreateKeyVersion { key }
        | O::ListKeyVersions { key }
        | O::DescribeKeyVersion { key }
        | O::ReEncrypt {
            destination: Some(key),
            ..
        } => *key = key_id(c, key).await?,
        O::UpdateAlias { key, holder } => {
            *key = key_id(c, key).await?;
            *holder = alias_holder(c, holder).await?;
        }
        O::DeleteAlias { holder } => *holder = alias_holder(c, holder).await?,
        O::CreateSecret { key: None, .. }
        | O::ReEncrypt {
            destination: None, ..
        } => {}
        O::PutSecretValue {
            name,
            version_exists,
        } => {
            *version_exists = match c.params.optional("VersionId") {
                Some(v) => c.service.version_exists(&c.scope, name, v).await?,
                None => false,
            }
        }
        O::GetSecretValue { .. }
        | O::UpdateSecret { .. }
        | O::UpdateSecretVersionStage { .. }
        | O::DescribeSecret { .. }
        | O::ListSecrets
        | O::ListSecretVersionIds { .. }
        | O::DeleteSecret { .. }
        | O::RestoreSecret { .. }
        | O::GetRandomPassword
        | O::TagResource { .. }
        | O::UntagResource { .. }
        | O::TagResources { .. }
        | O::UntagResources { .. }
        | O::ListTagResources { .. }
        | O::GetSecretPolicy { .. }
        | O::SetSecretPolicy { .. }
        | O::RotateSecret { .. }
        | O::UpdateSecretRotationPolicy { .. }
        | O::CreateKey
        | O::ListKeys
        | O::ListAliases
        | O::Decrypt { .. } => {}
    }
    // The key a blob names, whatever the operation (the only ones with blobs are these).
    if let O::Decrypt { key } | O::ReEncrypt { source: key, .. } = &mut op {
        let blob = keys::blob(c, "CiphertextBlob").unwrap_or_default();
        *key = c.service.blob_key_id_to_authorize(&c.scope, &blob).await?;
    }
    Ok(op)
}

/// The id of the key `reference` names in the caller's scope, or the reference itself.
async fn key_id(c: &Call, reference: &str) -> Result<String, ApiError> {
    Ok(c.service.key_id_to_authorize(&c.scope, reference).await?)
}

/// The key that has `alias`, or the alias itself when no key has it (or it is no alias).
async fn alias_holder(c: &Call, alias: &str) -> Result<String, ApiError> {
    if alias.starts_with("alias/") {
        key_id(c, alias).await
    } else {
        Ok(alias.to_string())
    }
}

/// The `DBInstanceId` of an Rds create, read leniently (the operation checks the
/// configuration after authorization and reports it with its own codes).
fn rds_instance(c: &Call) -> Option<String> {
    let rds = c
        .params
        .optional("SecretType")
        .is_some_and(|t| t.eq_ignore_ascii_case("Rds"));
    if !rds {
        return None;
    }
    let config: serde_json::Value =
        serde_json::from_str(c.params.optional("ExtendedConfig")?).ok()?;
    config
        .get("DBInstanceId")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Fills in what the permission of an operation that makes a database change an account
/// needs from the store: the instance of the managed secret a rotation (or turning automatic
/// rotation on) is about. Read in the caller's scope, so nothing of another account shows.
pub(crate) async fn resolve_instance(op: Operation, c: &Call) -> Operation {
    match op {
        Operation::RotateSecret { name, .. } => Operation::RotateSecret {
            instance: c.service.secret_instance(&c.scope, &name).await,
            name,
        },
        Operation::UpdateSecretRotationPolicy { name, .. }
            if c.params
                .bool("EnableAutomaticRotation", false)
                .unwrap_or(false) =>
        {
            Operation::UpdateSecretRotationPolicy {
                instance: c.service.secret_instance(&c.scope, &name).await,
                name,
            }
        }
        other => other,
    }
}

fn on_secret(action: Action, name: &str) -> Permission {
    Permission::one(action, Target::secret(name))
}

fn on_secrets(action: Action, names: &[String]) -> Permission {
    Permission::each(action, names.iter().map(Target::secret).collect())
}

fn on_key(action: Action, key: &str) -> Permission {
    Permission::one(action, Target::Key(key.to_string()))
}

fn retag(name: &str, change: &TagChange) -> Target {
    Target::SecretRetag {
        name: name.to_string(),
        change: change.clone(),
    }
}

/// Which neutral action each operation is, and on which resources.
pub(crate) fn permission(op: &Operation) -> Permission {
    use Operation as O;
    match op {
        O::CreateSecret {
            name,
            tags,
            key,
            instance,
        } => {
            let create = Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: name.clone(),
                    tags: Some(tags.clone()),
                },
            );
            let create = match key {
                // Putting a secret under a key encrypts with the key.
                Some(key) => Permission::All(vec![create, on_key(Action::KeysEncrypt, key)]),
                None => create,
            };
            create.and_instance(instance.as_deref())
        }
        O::GetSecretValue { name } => on_secret(Action::SecretsGetValue, name),
        // A retry with an existing version id compares values: only for readers of the value.
        O::PutSecretValue {
            name,
            version_exists: true,
        } => Permission::All(vec![
            on_secret(Action::SecretsPutValue, name),
            on_secret(Action::SecretsGetValue, name),
        ]),
        O::PutSecretValue {
            name,
            version_exists: false,
        } => on_secret(Action::SecretsPutValue, name),
        O::UpdateSecret { name } => on_secret(Action::SecretsUpdate, name),
        O::UpdateSecretRotationPolicy { name, instance } => {
            on_secret(Action::SecretsUpdate, name).and_instance(instance.as_deref())
        }
        O::UpdateSecretVersionStage { name } => on_secret(Action::SecretsUpdateStage, name),
        O::DescribeSecret { name } | O::ListSecretVersionIds { name } => {
            on_secret(Action::SecretsDescribe, name)
        }
        O::DeleteSecret { name } => on_secret(Action::SecretsDelete, name),
        O::RestoreSecret { name } => on_secret(Action::SecretsRestore, name),
        O::RotateSecret { name, instance } => {
            on_secret(Action::SecretsRotate, name).and_instance(instance.as_deref())
        }
        O::GetSecretPolicy { name } => on_secret(Action::SecretsGetPolicy, name),
        O::SetSecretPolicy { name } => on_secret(Action::SecretsPutPolicy, name),
        O::ListSecrets => Permission::one(Action::SecretsList, Target::AllSecrets),
        O::GetRandomPassword => Permission::one(Action::SecretsGetRandomPassword, Target::Scope),
        O::TagResource { name, change } | O::UntagResource { name, change } => {
            Permission::one(Action::SecretsTag, retag(name, change))
        }
        O::TagResources { names, change } | O::UntagResources { names, change } => {
            Permission::each(
                Action::SecretsTag,
                names.iter().map(|n| retag(n, change)).collect(),
            )
        }
        O::ListTagResources { names } if names.is_empty() => {
            Permission::one(Action::SecretsDescribe, Target::AllSecrets)
        }
        O::ListTagResources { names } => on_secrets(Action::SecretsDescribe, names),
        O::CreateKey => Permission::one(Action::KeysCreate, Target::AllKeys),
        O::ListKeys | O::ListAliases => Permission::one(Action::KeysList, Target::AllKeys),
        O::DescribeKey { key }
        | O::ListAliasesByKeyId { key }
        | O::ListKeyVersions { key }
        | O::DescribeKeyVersion { key } => on_key(Action::KeysDescribe, key),
        O::EnableKey { key }
        | O::DisableKey { key }
        | O::UpdateKeyDescription { key }
        | O::CreateAlias { key }
        | O::UpdateRotationPolicy { key }
        | O::CreateKeyVersion { key } => on_key(Action::KeysUpdate, key),
        O::UpdateAlias { key, holder } => Permission::each(
            Action::KeysUpdate,
            vec![Target::Key(key.clone()), Target::Key(holder.clone())],
        ),
        O::DeleteAlias { holder } => on_key(Action::KeysUpdate, holder),
        O::ScheduleKeyDeletion { key } | O::CancelKeyDeletion { key } => {
            on_key(Action::KeysDelete, key)
        }
        O::Encrypt { key } => on_key(Action::KeysEncrypt, key),
        O::GenerateDataKey { key } | O::GenerateDataKeyWithoutPlaintext { key } => {
            on_key(Action::KeysGenerateDataKey, key)
        }
        O::Decrypt { key } => on_key(Action::KeysDecrypt, key),
        O::ReEncrypt {
            source,
            destination,
        } => {
            let decrypt = on_key(Action::KeysDecrypt, source);
            match destination {
                Some(d) => Permission::All(vec![decrypt, on_key(Action::KeysEncrypt, d)]),
                None => decrypt,
            }
        }
    }
}

/// Runs the operation in its module.
pub(crate) async fn execute(c: &Call, op: Operation) -> Result<Fields, ApiError> {
    use Operation as O;
    match op {
        O::CreateSecret {
            name, tags, key, ..
        } => {
            // The shared parameters are checked before the type picks the module, in the
            // order Alibaba reports them.
            let new = request::new_secret(c, name, tags, key)?;
            match new.requested {
                RequestedType::Generic => secrets::create_secret(c, new).await,
                RequestedType::Rds => managed::create_rds_secret(c, new).await,
            }
        }
        O::GetSecretValue { name } => secrets::get_secret_value(c, name).await,
        O::PutSecretValue {
            name,
            version_exists,
        } => secrets::put_secret_value(c, name, version_exists).await,
        O::UpdateSecret { name } => secrets::update_secret(c, name).await,
        O::UpdateSecretVersionStage { name } => secrets::update_secret_version_stage(c, name).await,
        O::DescribeSecret { name } => secrets::describe_secret(c, name).await,
        O::ListSecrets => secrets::list_secrets(c).await,
        O::ListSecretVersionIds { name } => secrets::list_secret_version_ids(c, name).await,
        O::DeleteSecret { name } => secrets::delete_secret(c, name).await,
        O::RestoreSecret { name } => secrets::restore_secret(c, name).await,
        O::GetRandomPassword => secrets::get_random_password(c),
        O::TagResource { name, .. } => secrets::tag_resource(c, name).await,
        O::UntagResource { name, .. } => secrets::untag_resource(c, name).await,
        O::TagResources { names, .. } => secrets::tag_resources(c, names).await,
        O::UntagResources { names, .. } => secrets::untag_resources(c, names).await,
        O::ListTagResources { names } => secrets::list_tag_resources(c, names).await,
        O::GetSecretPolicy { name } => secrets::get_secret_policy(c, name).await,
        O::SetSecretPolicy { name } => secrets::set_secret_policy(c, name).await,
        O::RotateSecret { name, .. } => managed::rotate_secret(c, name).await,
        O::UpdateSecretRotationPolicy { name, .. } => {
            managed::update_rotation_policy(c, name).await
        }
        O::CreateKey => keys::create_key(c).await,
        O::DescribeKey { key } => keys::describe_key(c, key).await,
        O::ListKeys => keys::list_keys(c).await,
        O::EnableKey { key } => keys::set_enabled(c, key, true).await,
        O::DisableKey { key } => keys::set_enabled(c, key, false).await,
        O::ScheduleKeyDeletion { key } => keys::schedule_deletion(c, key).await,
        O::CancelKeyDeletion { key } => keys::cancel_deletion(c, key).await,
        O::UpdateKeyDescription { key } => keys::update_description(c, key).await,
        O::CreateAlias { key } => keys::set_alias(c, key, false).await,
        O::UpdateAlias { key, .. } => keys::set_alias(c, key, true).await,
        O::DeleteAlias { .. } => keys::delete_alias(c).await,
        O::ListAliases => keys::list_aliases(c, None).await,
        O::ListAliasesByKeyId { key } => keys::list_aliases(c, Some(key)).await,
        O::Encrypt { key } => keys::encrypt(c, key).await,
        O::Decrypt { .. } => keys::decrypt(c).await,
        O::GenerateDataKey { key } => keys::data_key(c, key, true).await,
        O::GenerateDataKeyWithoutPlaintext { key } => keys::data_key(c, key, false).await,
        O::ReEncrypt { destination, .. } => keys::re_encrypt(c, destination).await,
        O::UpdateRotationPolicy { key } => keys::update_rotation_policy(c, key).await,
        O::CreateKeyVersion { key } => keys::create_key_version(c, key).await,
        O::ListKeyVersions { key } => keys::list_key_versions(c, key).await,
        O::DescribeKeyVersion { key } => keys::describe_key_version(c, key).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> Tag {
        Tag {
            key: "env".into(),
            value: "prod".into(),
        }
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn secret_target(name: &str) -> Target {
        Target::secret(name)
    }

    /// Keys are named by their ids once resolved, however the request named them.
    fn key_target() -> Target {
        Target::Key("key-1".into())
    }

    fn on(action: Action, key: &str) -> Permission {
        Permission::one(action, Target::Key(key.into()))
    }

    fn retag(name: &str, change: TagChange) -> Target {
        Target::SecretRetag {
            name: name.into(),
            change,
        }
    }

    /// A sample of every operation and the permission it must need: the table of DESIGN.md,
    /// written out independently of [`permission`]. The match has no `_` arm, so a new
    /// operation does not compile until it is added here.
    fn sample(kind: OperationKind) -> (Operation, Permission) {
        use OperationKind as K;
        let name = || "s".to_string();
        let key = || "key-1".to_string();
        let s = || vec![secret_target("s")];
        let k = || vec![key_target()];
        let ab = || vec![secret_target("a"), secret_target("b")];
        match kind {
            K::CreateSecret => (
                Operation::CreateSecret {
                    name: name(),
                    tags: vec![tag()],
                    key: Some("key-2".into()),
                    instance: None,
                },
                Permission::All(vec![
                    Permission::each(
                        Action::SecretsCreate,
                        vec![Target::Secret {
                            name: "s".into(),
                            tags: Some(vec![tag()]),
                        }],
                    ),
                    on(Action::KeysEncrypt, "key-2"),
                ]),
            ),
            K::GetSecretValue => (
                Operation::GetSecretValue { name: name() },
                Permission::each(Action::SecretsGetValue, s()),
            ),
            K::PutSecretValue => (
                Operation::PutSecretValue {
                    name: name(),
                    version_exists: true,
                },
                Permission::All(vec![
                    Permission::each(Action::SecretsPutValue, s()),
                    Permission::each(Action::SecretsGetValue, s()),
                ]),
            ),
            K::UpdateSecret => (
                Operation::UpdateSecret { name: name() },
                Permission::each(Action::SecretsUpdate, s()),
            ),
            K::UpdateSecretVersionStage => (
                Operation::UpdateSecretVersionStage { name: name() },
                Permission::each(Action::SecretsUpdateStage, s()),
            ),
            K::DescribeSecret => (
                Operation::DescribeSecret { name: name() },
                Permission::each(Action::SecretsDescribe, s()),
            ),
            K::ListSecrets => (
                Operation::ListSecrets,
                Permission::each(Action::SecretsList, vec![Target::AllSecrets]),
            ),
            K::ListSecretVersionIds => (
                Operation::ListSecretVersionIds { name: name() },
                Permission::each(Action::SecretsDescribe, s()),
            ),
            K::DeleteSecret => (
                Operation::DeleteSecret { name: name() },
                Permission::each(Action::SecretsDelete, s()),
            ),
            K::RestoreSecret => (
                Operation::RestoreSecret { name: name() },
                Permission::each(Action::SecretsRestore, s()),
            ),
            K::GetRandomPassword => (
                Operation::GetRandomPassword,
                Permission::each(Action::SecretsGetRandomPassword, vec![Target::Scope]),
            ),
            K::TagResource => (
                Operation::TagResource {
                    name: name(),
                    change: TagChange::Set(vec![tag()]),
                },
                Permission::one(Action::SecretsTag, retag("s", TagChange::Set(vec![tag()]))),
            ),
            K::UntagResource => (
                Operation::UntagResource {
                    name: name(),
                    change: TagChange::Remove(vec!["env".into()]),
                },
                Permission::one(
                    Action::SecretsTag,
                    retag("s", TagChange::Remove(vec!["env".into()])),
                ),
            ),
            K::TagResources => (
                Operation::TagResources {
                    names: names(),
                    change: TagChange::Set(vec![tag()]),
                },
                Permission::each(
                    Action::SecretsTag,
                    vec![
                        retag("a", TagChange::Set(vec![tag()])),
                        retag("b", TagChange::Set(vec![tag()])),
                    ],
                ),
            ),
            K::UntagResources => (
                Operation::UntagResources {
                    names: names(),
                    change: TagChange::RemoveAll,
                },
                Permission::each(
                    Action::SecretsTag,
                    vec![
                        retag("a", TagChange::RemoveAll),
                        retag("b", TagChange::RemoveAll),
                    ],
                ),
            ),
            K::ListTagResources => (
                Operation::ListTagResources { names: names() },
                Permission::each(Action::SecretsDescribe, ab()),
            ),
            K::GetSecretPolicy => (
                Operation::GetSecretPolicy { name: name() },
                Permission::each(Action::SecretsGetPolicy, s()),
            ),
            K::SetSecretPolicy => (
                Operation::SetSecretPolicy { name: name() },
                Permission::each(Action::SecretsPutPolicy, s()),
            ),
            K::RotateSecret => (
                Operation::RotateSecret {
                    name: name(),
                    instance: None,
                },
                Permission::each(Action::SecretsRotate, s()),
            ),
            K::UpdateSecretRotationPolicy => (
                Operation::UpdateSecretRotationPolicy {
                    name: name(),
                    instance: None,
                },
                Permission::each(Action::SecretsUpdate, s()),
            ),
            K::CreateKey => (
                Operation::CreateKey,
                Permission::each(Action::KeysCreate, vec![Target::AllKeys]),
            ),
            K::DescribeKey => (
                Operation::DescribeKey { key: key() },
                Permission::each(Action::KeysDescribe, k()),
            ),
            K::ListKeys => (
                Operation::ListKeys,
                Permission::each(Action::KeysList, vec![Target::AllKeys]),
            ),
            K::EnableKey => (
                Operation::EnableKey { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::DisableKey => (
                Operation::DisableKey { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::ScheduleKeyDeletion => (
                Operation::ScheduleKeyDeletion { key: key() },
                Permission::each(Action::KeysDelete, k()),
            ),
            K::CancelKeyDeletion => (
                Operation::CancelKeyDeletion { key: key() },
                Permission::each(Action::KeysDelete, k()),
            ),
            K::UpdateKeyDescription => (
                Operation::UpdateKeyDescription { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::CreateAlias => (
                Operation::CreateAlias { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::UpdateAlias => (
                Operation::UpdateAlias {
                    key: key(),
                    holder: "key-2".into(),
                },
                Permission::each(
                    Action::KeysUpdate,
                    vec![key_target(), Target::Key("key-2".into())],
                ),
            ),
            K::DeleteAlias => (
                Operation::DeleteAlias {
                    holder: "key-2".into(),
                },
                on(Action::KeysUpdate, "key-2"),
            ),
            K::ListAliases => (
                Operation::ListAliases,
                Permission::each(Action::KeysList, vec![Target::AllKeys]),
            ),
            K::ListAliasesByKeyId => (
                Operation::ListAliasesByKeyId { key: key() },
                Permission::each(Action::KeysDescribe, k()),
            ),
            K::Encrypt => (
                Operation::Encrypt { key: key() },
                Permission::each(Action::KeysEncrypt, k()),
            ),
            K::Decrypt => (
                Operation::Decrypt { key: key() },
                Permission::each(Action::KeysDecrypt, k()),
            ),
            K::GenerateDataKey => (
                Operation::GenerateDataKey { key: key() },
                Permission::each(Action::KeysGenerateDataKey, k()),
            ),
            K::GenerateDataKeyWithoutPlaintext => (
                Operation::GenerateDataKeyWithoutPlaintext { key: key() },
                Permission::each(Action::KeysGenerateDataKey, k()),
            ),
            K::ReEncrypt => (
                Operation::ReEncrypt {
                    source: key(),
                    destination: Some("key-2".into()),
                },
                Permission::All(vec![
                    on(Action::KeysDecrypt, "key-1"),
                    on(Action::KeysEncrypt, "key-2"),
                ]),
            ),
            K::UpdateRotationPolicy => (
                Operation::UpdateRotationPolicy { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::CreateKeyVersion => (
                Operation::CreateKeyVersion { key: key() },
                Permission::each(Action::KeysUpdate, k()),
            ),
            K::ListKeyVersions => (
                Operation::ListKeyVersions { key: key() },
                Permission::each(Action::KeysDescribe, k()),
            ),
            K::DescribeKeyVersion => (
                Operation::DescribeKeyVersion { key: key() },
                Permission::each(Action::KeysDescribe, k()),
            ),
        }
    }

    #[test]
    fn every_operation_needs_its_permission() {
        let mut tested = 0;
        for kind in OperationKind::iter() {
            let (op, expected) = sample(kind);
            assert_eq!(OperationKind::from(&op), kind);
            assert_eq!(permission(&op), expected, "{}", <&'static str>::from(kind));
            tested += 1;
        }
        assert_eq!(tested, OperationKind::iter().count());
    }

    /// An operation that makes a database create or change an account needs `databases:Use`
    /// on the instance as well as its secret action (the audit names the secret action).
    #[test]
    fn managed_operations_also_need_the_instance() {
        let inst = || Some("rm-1".to_string());
        let and_db = |action, target| {
            Permission::All(vec![
                Permission::one(action, target),
                Permission::one(Action::DatabasesUse, Target::Instance("rm-1".into())),
            ])
        };
        let create = Operation::CreateSecret {
            name: "s".into(),
            tags: vec![],
            key: None,
            instance: inst(),
        };
        assert_eq!(
            permission(&create),
            and_db(
                Action::SecretsCreate,
                Target::Secret {
                    name: "s".into(),
                    tags: Some(vec![])
                }
            )
        );
        assert_eq!(permission(&create).action(), Some(Action::SecretsCreate));
        let rotate = Operation::RotateSecret {
            name: "s".into(),
            instance: inst(),
        };
        assert_eq!(
            permission(&rotate),
            and_db(Action::SecretsRotate, Target::secret("s"))
        );
        let policy = Operation::UpdateSecretRotationPolicy {
            name: "s".into(),
            instance: inst(),
        };
        assert_eq!(
            permission(&policy),
            and_db(Action::SecretsUpdate, Target::secret("s"))
        );
    }

    #[test]
    fn the_other_shapes_of_operations_with_a_conjunction() {
        // No key: the default key, which the create alone may use.
        let create = Operation::CreateSecret {
            name: "s".into(),
            tags: vec![],
            key: None,
            instance: None,
        };
        assert_eq!(
            permission(&create),
            Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: "s".into(),
                    tags: Some(vec![]),
                }
            )
        );
        // A new version id compares nothing.
        let put = Operation::PutSecretValue {
            name: "s".into(),
            version_exists: false,
        };
        assert_eq!(
            permission(&put),
            Permission::one(Action::SecretsPutValue, Target::secret("s"))
        );
        // Without a destination the operation refuses the request; the source is judged.
        let re = Operation::ReEncrypt {
            source: UNKNOWN_KEY_ID.into(),
            destination: None,
        };
        assert_eq!(permission(&re), on(Action::KeysDecrypt, UNKNOWN_KEY_ID));
    }

    #[test]
    fn a_tag_query_without_names_covers_every_secret() {
        assert_eq!(
            permission(&Operation::ListTagResources { names: vec![] }),
            Permission::one(Action::SecretsDescribe, Target::AllSecrets)
        );
    }

    #[test]
    fn wire_names_are_the_variant_names_and_are_found_exactly() {
        for kind in OperationKind::iter() {
            assert_eq!(kind_of(<&'static str>::from(kind)), Some(kind));
        }
        assert_eq!(kind_of("createsecret"), None);
        assert_eq!(kind_of(""), None);
        assert_eq!(OperationKind::iter().count(), 42);
    }
}
