//! Every SSM and KMS action as one value of [`Operation`]: looking the wire action up, parsing
//! the parameters that name its target, the permission it needs, and the dispatch to the
//! operation modules.
//!
//! The two APIs share one endpoint and one flat enum. Their wire names overlap only in
//! `GetServiceStatus`, whose KMS variant is [`Operation::KmsGetServiceStatus`]; [`wire_name`]
//! and [`api_version`] give each kind's action and API.
//!
//! Keys are named by their ids before the permission is checked ([`resolve`], once the scope
//! is known): an alias and an id of one key are one resource, so a policy on `key/<id>` holds
//! however a request names the key, and the operation runs on the key that was authorized.
//! A ciphertext is judged by the key inside it.

use coffer_core::service::UNKNOWN_KEY_ID;
use coffer_core::{Action, Permission, Tag, Target};
use serde_json::{Map, Value};
use strum::IntoEnumIterator;

use crate::errors::ApiError;
use crate::params::Params;
use crate::request::{self, Call, API_VERSION, KMS_VERSION};
use crate::{keys, managed, secrets};

/// One SSM or KMS action with the parameters that name what it acts on (`name` a valid
/// `SecretName`, `key` the `KeyId` named by its id (see [`resolve`]), `tags` a create's valid
/// `Tags`, a create's `key` its `KmsKeyId`). The rest of an
/// action's parameters stay in [`Call::params`]: they are checked when it runs, after the
/// permission, as they always were.
#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    // SSM 2019-09-23: secrets.
    CreateSecret {
        name: String,
        tags: Vec<Tag>,
        key: Option<String>,
    },
    GetSecretValue {
        name: String,
    },
    PutSecretValue {
        name: String,
    },
    UpdateSecret {
        name: String,
    },
    UpdateDescription {
        name: String,
    },
    DescribeSecret {
        name: String,
    },
    ListSecrets,
    ListSecretVersionIds {
        name: String,
    },
    DeleteSecretVersion {
        name: String,
    },
    EnableSecret {
        name: String,
    },
    DisableSecret {
        name: String,
    },
    DeleteSecret {
        name: String,
    },
    RestoreSecret {
        name: String,
    },
    GetServiceStatus,
    GetRegions,
    // SSM 2019-09-23: cloud-product (database) secrets.
    DescribeSupportedProducts,
    CreateProductSecret {
        product: Product,
        tags: Vec<Tag>,
        key: Option<String>,
    },
    RotateProductSecret {
        product: Product,
    },
    DescribeAsyncRequestInfo,
    UpdateRotationStatus {
        product: Product,
    },
    DescribeRotationDetail {
        name: String,
    },
    DescribeRotationHistory {
        name: String,
    },
    // KMS 2019-01-18.
    CreateKey,
    DescribeKey {
        key: String,
    },
    /// The string entries of `KeyIds`, each judged as the key it names; none when the list
    /// is missing or too long (the operation refuses it).
    DescribeKeys {
        keys: Vec<String>,
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
    UpdateAlias {
        key: String,
    },
    UpdateKeyDescription {
        key: String,
    },
    Encrypt {
        key: String,
    },
    /// `key` is the key the blob names.
    Decrypt {
        key: String,
    },
    GenerateDataKey {
        key: String,
    },
    /// Decrypts with `source` (the key the blob names) and encrypts with `destination`, or
    /// with the source key again when the request names none.
    ReEncrypt {
        source: String,
        destination: Option<String>,
    },
    EnableKeyRotation {
        key: String,
    },
    DisableKeyRotation {
        key: String,
    },
    GetKeyRotationStatus {
        key: String,
    },
    KmsGetServiceStatus,
}

use Operation as O;
use OperationKind as K;

/// A product secret an operation makes the database create or change an account for: its
/// name, and the instance the account lives on (the request's `InstanceID` for a create,
/// read leniently; the secret's stored instance for a rotation, or for turning rotation on,
/// from [`resolve`]). `None` when there is none: the permission is then the secret's alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub instance: Option<String>,
}

impl Product {
    fn named(name: String) -> Self {
        Product {
            name,
            instance: None,
        }
    }
}

/// The API a kind belongs to, as its `Version`: [`API_VERSION`] (SSM) or [`KMS_VERSION`].
pub fn api_version(kind: OperationKind) -> &'static str {
    match kind {
        K::CreateSecret
        | K::GetSecretValue
        | K::PutSecretValue
        | K::UpdateSecret
        | K::UpdateDescription
        | K::DescribeSecret
        | K::ListSecrets
        | K::ListSecretVersionIds
        | K::DeleteSecretVersion
        | K::EnableSecret
        | K::DisableSecret
        | K::DeleteSecret
        | K::RestoreSecret
        | K::GetServiceStatus
        | K::GetRegions
        | K::DescribeSupportedProducts
        | K::CreateProductSecret
        | K::RotateProductSecret
        | K::DescribeAsyncRequestInfo
        | K::UpdateRotationStatus
        | K::DescribeRotationDetail
        | K::DescribeRotationHistory => API_VERSION,
        K::CreateKey
        | K::DescribeKey
        | K::DescribeKeys
        | K::ListKeys
        | K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateAlias
        | K::UpdateKeyDescription
        | K::Encrypt
        | K::Decrypt
        | K::GenerateDataKey
        | K::ReEncrypt
        | K::EnableKeyRotation
        | K::DisableKeyRotation
        | K::GetKeyRotationStatus
        | K::KmsGetServiceStatus => KMS_VERSION,
    }
}

/// The `Action` a kind answers to, within its API ([`api_version`]).
pub fn wire_name(kind: OperationKind) -> &'static str {
    match kind {
        K::CreateSecret => "CreateSecret",
        K::GetSecretValue => "GetSecretValue",
        K::PutSecretValue => "PutSecretValue",
        K::UpdateSecret => "UpdateSecret",
        K::UpdateDescription => "UpdateDescription",
        K::DescribeSecret => "DescribeSecret",
        K::ListSecrets => "ListSecrets",
        K::ListSecretVersionIds => "ListSecretVersionIds",
        K::DeleteSecretVersion => "DeleteSecretVersion",
        K::EnableSecret => "EnableSecret",
        K::DisableSecret => "DisableSecret",
        K::DeleteSecret => "DeleteSecret",
        K::RestoreSecret => "RestoreSecret",
        K::GetServiceStatus => "GetServiceStatus",
        K::GetRegions => "GetRegions",
        K::DescribeSupportedProducts => "DescribeSupportedProducts",
        K::CreateProductSecret => "CreateProductSecret",
        K::RotateProductSecret => "RotateProductSecret",
        K::DescribeAsyncRequestInfo => "DescribeAsyncRequestInfo",
        K::UpdateRotationStatus => "UpdateRotationStatus",
        K::DescribeRotationDetail => "DescribeRotationDetail",
        K::DescribeRotationHistory => "DescribeRotationHistory",
        K::CreateKey => "CreateKey",
        K::DescribeKey => "DescribeKey",
        K::DescribeKeys => "DescribeKeys",
        K::ListKeys => "ListKeys",
        K::EnableKey => "EnableKey",
        K::DisableKey => "DisableKey",
        K::ScheduleKeyDeletion => "ScheduleKeyDeletion",
        K::CancelKeyDeletion => "CancelKeyDeletion",
        K::UpdateAlias => "UpdateAlias",
        K::UpdateKeyDescription => "UpdateKeyDescription",
        K::Encrypt => "Encrypt",
        K::Decrypt => "Decrypt",
        K::GenerateDataKey => "GenerateDataKey",
        K::ReEncrypt => "ReEncrypt",
        K::EnableKeyRotation => "EnableKeyRotation",
        K::DisableKeyRotation => "DisableKeyRotation",
        K::GetKeyRotationStatus => "GetKeyRotationStatus",
        K::KmsGetServiceStatus => "GetServiceStatus",
    }
}

/// The kind of operation `action` names in the API of `version`, if any.
pub fn kind(version: &str, action: &str) -> Option<OperationKind> {
    OperationKind::iter().find(|k| api_version(*k) == version && wire_name(*k) == action)
}

/// Whether an operation only reads: it changes nothing and returns no secret value, key
/// material or plaintext. Two such operations may share a TC3 signature (the SDK signs neither
/// the action nor a nonce, so `GetServiceStatus` and `GetRegions` of two clients in one second
/// carry one signature), because neither can do harm in place of the other.
pub fn reads_only(kind: OperationKind) -> bool {
    match kind {
        K::DescribeSecret
        | K::ListSecrets
        | K::ListSecretVersionIds
        | K::GetServiceStatus
        | K::GetRegions
        | K::DescribeSupportedProducts
        | K::DescribeAsyncRequestInfo
        | K::DescribeRotationDetail
        | K::DescribeRotationHistory
        | K::DescribeKey
        | K::DescribeKeys
        | K::ListKeys
        | K::GetKeyRotationStatus
        | K::KmsGetServiceStatus => true,
        // Values and key material: a replay must not turn another request into one of these.
        K::GetSecretValue | K::Encrypt | K::Decrypt | K::GenerateDataKey | K::ReEncrypt => false,
        K::CreateSecret
        | K::PutSecretValue
        | K::UpdateSecret
        | K::UpdateDescription
        | K::DeleteSecretVersion
        | K::EnableSecret
        | K::DisableSecret
        | K::DeleteSecret
        | K::RestoreSecret
        | K::CreateProductSecret
        | K::RotateProductSecret
        | K::UpdateRotationStatus
        | K::CreateKey
        | K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateAlias
        | K::UpdateKeyDescription
        | K::EnableKeyRotation
        | K::DisableKeyRotation => false,
    }
}

/// The operation `action` names in the API of `version` (already checked to be one of the
/// two), with its target parameters parsed. The lookup walks the kinds, so the table above is
/// the only list of wire names.
pub fn parse(version: &str, action: &str, p: &Params) -> Result<Operation, ApiError> {
    let Some(kind) = kind(version, action) else {
        return Err(unknown_action(version, action));
    };
    let name = || request::secret_name(p);
    let key = || request::key_id(p);
    // A key parameter the operation checks after authorization; empty names none.
    let optional_key = |field: &str| {
        p.str(field)
            .ok()
            .flatten()
            .filter(|k| !k.is_empty())
            .map(str::to_string)
    };
    Ok(match kind {
        // The name is checked before the tags, as the answer to a request wrong in both
        // always named the name.
        K::CreateSecret => O::CreateSecret {
            name: name()?,
            tags: request::tags(p)?,
            key: optional_key("KmsKeyId"),
        },
        K::GetSecretValue => O::GetSecretValue { name: name()? },
        K::PutSecretValue => O::PutSecretValue { name: name()? },
        K::UpdateSecret => O::UpdateSecret { name: name()? },
        K::UpdateDescription => O::UpdateDescription { name: name()? },
        K::DescribeSecret => O::DescribeSecret { name: name()? },
        K::ListSecrets => O::ListSecrets,
        K::ListSecretVersionIds => O::ListSecretVersionIds { name: name()? },
        K::DeleteSecretVersion => O::DeleteSecretVersion { name: name()? },
        K::EnableSecret => O::EnableSecret { name: name()? },
        K::DisableSecret => O::DisableSecret { name: name()? },
        K::DeleteSecret => O::DeleteSecret { name: name()? },
        K::RestoreSecret => O::RestoreSecret { name: name()? },
        K::GetServiceStatus => O::GetServiceStatus,
        K::GetRegions => O::GetRegions,
        K::DescribeSupportedProducts => O::DescribeSupportedProducts,
        K::CreateProductSecret => O::CreateProductSecret {
            product: Product {
                name: name()?,
                instance: p
                    .str("InstanceID")?
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            },
            tags: request::tags(p)?,
            key: optional_key("KmsKeyId"),
        },
        K::RotateProductSecret => O::RotateProductSecret {
            product: Product::named(name()?),
        },
        K::DescribeAsyncRequestInfo => O::DescribeAsyncRequestInfo,
        K::UpdateRotationStatus => O::UpdateRotationStatus {
            product: Product::named(name()?),
        },
        K::DescribeRotationDetail => O::DescribeRotationDetail { name: name()? },
        K::DescribeRotationHistory => O::DescribeRotationHistory { name: name()? },
        K::CreateKey => O::CreateKey,
        K::DescribeKey => O::DescribeKey { key: key()? },
        K::DescribeKeys => O::DescribeKeys {
            // Read leniently: a wrong list is refused by the operation, after authorization.
            keys: match p.str_list("KeyIds") {
                Ok(Some(ids)) if ids.len() <= keys::MAX_DESCRIBE_KEYS => {
                    ids.into_iter().map(str::to_string).collect()
                }
                _ => vec![],
            },
        },
        K::ListKeys => O::ListKeys,
        K::EnableKey => O::EnableKey { key: key()? },
        K::DisableKey => O::DisableKey { key: key()? },
        K::ScheduleKeyDeletion => O::ScheduleKeyDeletion { key: key()? },
        K::CancelKeyDeletion => O::CancelKeyDeletion { key: key()? },
        K::UpdateAlias => O::UpdateAlias { key: key()? },
        K::UpdateKeyDescription => O::UpdateKeyDescription { key: key()? },
        K::Encrypt => O::Encrypt { key: key()? },
        K::Decrypt => O::Decrypt {
            key: UNKNOWN_KEY_ID.to_string(),
        },
        K::GenerateDataKey => O::GenerateDataKey { key: key()? },
        K::ReEncrypt => O::ReEncrypt {
            source: UNKNOWN_KEY_ID.to_string(),
            destination: optional_key("DestinationKeyId"),
        },
        K::EnableKeyRotation => O::EnableKeyRotation { key: key()? },
        K::DisableKeyRotation => O::DisableKeyRotation { key: key()? },
        K::GetKeyRotationStatus => O::GetKeyRotationStatus { key: key()? },
        K::KmsGetServiceStatus => O::KmsGetServiceStatus,
    })
}

/// Names the keys of `op` by their ids in the caller's scope (a reference that names no key
/// of the scope stays as written, so it is judged as a key of that name) and reads the key a
/// blob names. Runs after [`parse`] and before [`permission`]; every operation is listed.
pub async fn resolve(c: &Call, mut op: Operation) -> Result<Operation, ApiError> {
    let id = |reference: String| async move {
        c.service
            .key_id_to_authorize(&c.scope, &reference)
            .await
            .map_err(ApiError::from)
    };
    match &mut op {
        O::CreateSecret { key: Some(k), .. }
        | O::CreateProductSecret { key: Some(k), .. }
        | O::DescribeKey { key: k }
        | O::EnableKey { key: k }
        | O::DisableKey { key: k }
        | O::ScheduleKeyDeletion { key: k }
        | O::CancelKeyDeletion { key: k }
        | O::UpdateAlias { key: k }
        | O::UpdateKeyDescription { key: k }
        | O::Encrypt { key: k }
        | O::GenerateDataKey { key: k }
        | O::EnableKeyRotation { key: k }
        | O::DisableKeyRotation { key: k }
        | O::GetKeyRotationStatus { key: k }
        | O::ReEncrypt {
            destination: Some(k),
            ..
        } => *k = id(std::mem::take(k)).await?,
        O::CreateSecret { key: None, .. }
        | O::CreateProductSecret { key: None, .. }
        | O::ReEncrypt {
            destination: None, ..
        }
        | O::Decrypt { .. }
        | O::GetSecretValue { .. }
        | O::PutSecretValue { .. }
        | O::UpdateSecret { .. }
        | O::UpdateDescription { .. }
        | O::DescribeSecret { .. }
        | O::ListSecrets
        | O::ListSecretVersionIds { .. }
        | O::DeleteSecretVersion { .. }
        | O::EnableSecret { .. }
        | O::DisableSecret { .. }
        | O::DeleteSecret { .. }
        | O::RestoreSecret { .. }
        | O::GetServiceStatus
        | O::GetRegions
        | O::DescribeSupportedProducts
        | O::RotateProductSecret { .. }
        | O::DescribeAsyncRequestInfo
        | O::UpdateRotationStatus { .. }
        | O::DescribeRotationDetail { .. }
        | O::DescribeRotationHistory { .. }
        | O::CreateKey
        | O::DescribeKeys { .. }
        | O::ListKeys
        | O::KmsGetServiceStatus => {}
    }
    if let O::DescribeKeys { keys } = &mut op {
        for k in keys.iter_mut() {
            *k = id(std::mem::take(k)).await?;
        }
    }
    if let O::Decrypt { key } | O::ReEncrypt { source: key, .. } = &mut op {
        let blob = keys::ciphertext(c).unwrap_or_default();
        *key = c.service.blob_key_id_to_authorize(&c.scope, &blob).await?;
    }
    Ok(op)
}

/// Fills in the stored instance of the product secret a rotation is about (or whose
/// rotation this turns on), for the permission: the database changes an account there. Read
/// in the caller's scope.
pub async fn resolve_instance(op: Operation, c: &Call) -> Operation {
    let stored = |name: String| async {
        Product {
            instance: c.service.secret_instance(&c.scope, &name).await,
            name,
        }
    };
    match op {
        O::RotateProductSecret { product } => O::RotateProductSecret {
            product: stored(product.name).await,
        },
        O::UpdateRotationStatus { product } if turns_rotation_on(&c.params) => {
            O::UpdateRotationStatus {
                product: stored(product.name).await,
            }
        }
        other => other,
    }
}

/// `EnableRotation` true. A wrongly typed value reads as false here; the operation itself
/// refuses it.
fn turns_rotation_on(p: &Params) -> bool {
    p.bool("EnableRotation").ok().flatten().unwrap_or(false)
}

/// SSH key-pair secrets are real SSM actions this server does not keep, so they are
/// unsupported rather than unknown.
fn unknown_action(version: &str, action: &str) -> ApiError {
    if version == KMS_VERSION {
        return ApiError::new(
            "InvalidAction",
            format!("The action {action:?} does not exist in KMS {KMS_VERSION}."),
        );
    }
    if matches!(action, "CreateSSHKeyPairSecret" | "GetSSHKeyPairValue") {
        return ApiError::new(
            "UnsupportedOperation",
            format!("{action} is not supported by this server: it keeps user-defined and database secrets only."),
        );
    }
    ApiError::new(
        "InvalidAction",
        format!("The action {action:?} does not exist in SSM {API_VERSION}."),
    )
}

/// What each operation needs (the table is in DESIGN.md, "Actions of every operation").
/// Keys are judged by their ids ([`resolve`]); Decrypt and ReEncrypt by the key the blob names.
pub fn permission(op: &Operation) -> Permission {
    let secret = |action: Action, name: &str| Permission::one(action, Target::secret(name));
    let key = |action: Action, key: &str| Permission::one(action, Target::Key(key.to_string()));
    match op {
        // A create's tag conditions see the tags it asks for; a secret put under a key
        // encrypts with the key.
        O::CreateSecret {
            name,
            tags,
            key: kms_key,
        } => {
            let create = Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: name.clone(),
                    tags: Some(tags.clone()),
                },
            );
            match kms_key {
                Some(k) => Permission::All(vec![create, key(Action::KeysEncrypt, k)]),
                None => create,
            }
        }
        // The account is made on the instance: databases:Use there as well.
        O::CreateProductSecret {
            product,
            tags,
            key: kms_key,
        } => {
            let create = Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: product.name.clone(),
                    tags: Some(tags.clone()),
                },
            );
            let create = match kms_key {
                Some(k) => Permission::All(vec![create, key(Action::KeysEncrypt, k)]),
                None => create,
            };
            create.and_instance(product.instance.as_deref())
        }
        O::GetSecretValue { name } => secret(Action::SecretsGetValue, name),
        // UpdateSecret replaces a version's value in place.
        O::PutSecretValue { name } | O::UpdateSecret { name } => {
            secret(Action::SecretsPutValue, name)
        }
        O::UpdateDescription { name } | O::EnableSecret { name } | O::DisableSecret { name } => {
            secret(Action::SecretsUpdate, name)
        }
        O::UpdateRotationStatus { product } => {
            secret(Action::SecretsUpdate, &product.name).and_instance(product.instance.as_deref())
        }
        O::DescribeSecret { name }
        | O::ListSecretVersionIds { name }
        | O::DescribeRotationDetail { name }
        | O::DescribeRotationHistory { name } => secret(Action::SecretsDescribe, name),
        O::DeleteSecretVersion { name } | O::DeleteSecret { name } => {
            secret(Action::SecretsDelete, name)
        }
        O::RestoreSecret { name } => secret(Action::SecretsRestore, name),
        O::RotateProductSecret { product } => {
            secret(Action::SecretsRotate, &product.name).and_instance(product.instance.as_deref())
        }
        // A task id names no secret up front: reading task states is a listing right, and so
        // is the service status, which counts the scope's secrets.
        O::ListSecrets | O::GetServiceStatus | O::DescribeAsyncRequestInfo => {
            Permission::one(Action::SecretsList, Target::AllSecrets)
        }
        // These answer the same to every caller and read no account's data.
        O::GetRegions | O::DescribeSupportedProducts | O::KmsGetServiceStatus => Permission::Public,
        O::CreateKey => Permission::one(Action::KeysCreate, Target::AllKeys),
        O::ListKeys => Permission::one(Action::KeysList, Target::AllKeys),
        // Describing keys by id is describing each: a key the caller may not describe is not
        // described in a batch either. Without ids it is judged on every key.
        O::DescribeKeys { keys } if keys.is_empty() => {
            Permission::one(Action::KeysDescribe, Target::AllKeys)
        }
        O::DescribeKeys { keys } => Permission::each(
            Action::KeysDescribe,
            keys.iter().map(|k| Target::Key(k.clone())).collect(),
        ),
        O::DescribeKey { key: k } | O::GetKeyRotationStatus { key: k } => {
            key(Action::KeysDescribe, k)
        }
        O::EnableKey { key: k }
        | O::DisableKey { key: k }
        | O::UpdateAlias { key: k }
        | O::UpdateKeyDescription { key: k }
        | O::EnableKeyRotation { key: k }
        | O::DisableKeyRotation { key: k } => key(Action::KeysUpdate, k),
        O::ScheduleKeyDeletion { key: k } | O::CancelKeyDeletion { key: k } => {
            key(Action::KeysDelete, k)
        }
        O::Encrypt { key: k } => key(Action::KeysEncrypt, k),
        O::GenerateDataKey { key: k } => key(Action::KeysGenerateDataKey, k),
        O::Decrypt { key: k } => key(Action::KeysDecrypt, k),
        O::ReEncrypt {
            source,
            destination,
        } => Permission::All(vec![
            key(Action::KeysDecrypt, source),
            key(
                Action::KeysEncrypt,
                destination.as_deref().unwrap_or(source),
            ),
        ]),
    }
}

/// Runs `op`; its answer's fields, without the request id.
pub async fn execute(c: &Call, op: Operation) -> Result<Map<String, Value>, ApiError> {
    match op {
        O::CreateSecret { name, tags, key } => secrets::create_secret(c, name, tags, key).await,
        O::GetSecretValue { name } => secrets::get_secret_value(c, name).await,
        O::PutSecretValue { name } => secrets::put_secret_value(c, name).await,
        O::UpdateSecret { name } => secrets::update_secret(c, name).await,
        O::UpdateDescription { name } => secrets::update_description(c, name).await,
        O::DescribeSecret { name } => secrets::describe_secret(c, name).await,
        O::ListSecrets => secrets::list_secrets(c).await,
        O::ListSecretVersionIds { name } => secrets::list_secret_version_ids(c, name).await,
        O::DeleteSecretVersion { name } => secrets::delete_secret_version(c, name).await,
        O::EnableSecret { name } => secrets::set_enabled(c, name, true).await,
        O::DisableSecret { name } => secrets::set_enabled(c, name, false).await,
        O::DeleteSecret { name } => secrets::delete_secret(c, name).await,
        O::RestoreSecret { name } => secrets::restore_secret(c, name).await,
        O::GetServiceStatus => secrets::get_service_status(c).await,
        O::GetRegions => secrets::get_regions(c),
        O::DescribeSupportedProducts => managed::describe_supported_products(),
        O::CreateProductSecret { product, tags, key } => {
            managed::create_product_secret(c, product.name, tags, key).await
        }
        O::RotateProductSecret { product } => managed::rotate_product_secret(c, product.name).await,
        O::DescribeAsyncRequestInfo => managed::describe_async_request_info(c).await,
        O::UpdateRotationStatus { product } => {
            managed::update_rotation_status(c, product.name).await
        }
        O::DescribeRotationDetail { name } => managed::describe_rotation_detail(c, name).await,
        O::DescribeRotationHistory { name } => managed::describe_rotation_history(c, name).await,
        O::CreateKey => keys::create_key(c).await,
        O::DescribeKey { key } => keys::describe_key(c, key).await,
        O::DescribeKeys { keys } => keys::describe_keys(c, keys).await,
        O::ListKeys => keys::list_keys(c).await,
        O::EnableKey { key } => keys::set_enabled(c, key, true).await,
        O::DisableKey { key } => keys::set_enabled(c, key, false).await,
        O::ScheduleKeyDeletion { key } => keys::schedule_deletion(c, key).await,
        O::CancelKeyDeletion { key } => keys::cancel_deletion(c, key).await,
        O::UpdateAlias { key } => keys::update_alias(c, key).await,
        O::UpdateKeyDescription { key } => keys::update_description(c, key).await,
        O::Encrypt { key } => keys::encrypt(c, key).await,
        O::Decrypt { .. } => keys::decrypt(c).await,
        O::GenerateDataKey { key } => keys::data_key(c, key).await,
        O::ReEncrypt { destination, .. } => keys::re_encrypt(c, destination).await,
        O::EnableKeyRotation { key } => keys::set_rotation(c, key, true).await,
        O::DisableKeyRotation { key } => keys::set_rotation(c, key, false).await,
        O::GetKeyRotationStatus { key } => keys::rotation_status(c, key).await,
        O::KmsGetServiceStatus => keys::get_service_status(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;

    const NAME: &str = "s1";
    const KEY: &str = "alias/app";
    const DEST: &str = "key-2";

    fn tag() -> Tag {
        Tag {
            key: "team".into(),
            value: "a".into(),
        }
    }

    /// A sample of each kind and the permission it must need, written out independently of
    /// [`permission`]. No `_` arm: a new operation fails to compile here until it has a row.
    fn sample(kind: OperationKind) -> (Operation, Permission) {
        let n = || NAME.to_string();
        let k = || KEY.to_string();
        let secret = |a: Action| Permission::one(a, Target::secret(NAME));
        let key = |a: Action| Permission::one(a, Target::Key(KEY.to_string()));
        // A create that names a key encrypts with it.
        let create = Permission::All(vec![
            Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: NAME.into(),
                    tags: Some(vec![tag()]),
                },
            ),
            key(Action::KeysEncrypt),
        ]);
        let all_secrets = Permission::one(Action::SecretsList, Target::AllSecrets);
        match kind {
            K::CreateSecret => (
                O::CreateSecret {
                    name: n(),
                    tags: vec![tag()],
                    key: Some(k()),
                },
                create,
            ),
            K::GetSecretValue => (
                O::GetSecretValue { name: n() },
                secret(Action::SecretsGetValue),
            ),
            K::PutSecretValue => (
                O::PutSecretValue { name: n() },
                secret(Action::SecretsPutValue),
            ),
            K::UpdateSecret => (
                O::UpdateSecret { name: n() },
                secret(Action::SecretsPutValue),
            ),
            K::UpdateDescription => (
                O::UpdateDescription { name: n() },
                secret(Action::SecretsUpdate),
            ),
            K::DescribeSecret => (
                O::DescribeSecret { name: n() },
                secret(Action::SecretsDescribe),
            ),
            K::ListSecrets => (O::ListSecrets, all_secrets),
            K::ListSecretVersionIds => (
                O::ListSecretVersionIds { name: n() },
                secret(Action::SecretsDescribe),
            ),
            K::DeleteSecretVersion => (
                O::DeleteSecretVersion { name: n() },
                secret(Action::SecretsDelete),
            ),
            K::EnableSecret => (O::EnableSecret { name: n() }, secret(Action::SecretsUpdate)),
            K::DisableSecret => (
                O::DisableSecret { name: n() },
                secret(Action::SecretsUpdate),
            ),
            K::DeleteSecret => (O::DeleteSecret { name: n() }, secret(Action::SecretsDelete)),
            K::RestoreSecret => (
                O::RestoreSecret { name: n() },
                secret(Action::SecretsRestore),
            ),
            K::GetServiceStatus => (O::GetServiceStatus, all_secrets),
            K::GetRegions => (O::GetRegions, Permission::Public),
            K::DescribeSupportedProducts => (O::DescribeSupportedProducts, Permission::Public),
            K::CreateProductSecret => (
                O::CreateProductSecret {
                    product: Product::named(n()),
                    tags: vec![tag()],
                    key: Some(k()),
                },
                create,
            ),
            K::RotateProductSecret => (
                O::RotateProductSecret {
                    product: Product::named(n()),
                },
                secret(Action::SecretsRotate),
            ),
            K::DescribeAsyncRequestInfo => (O::DescribeAsyncRequestInfo, all_secrets),
            K::UpdateRotationStatus => (
                O::UpdateRotationStatus {
                    product: Product::named(n()),
                },
                secret(Action::SecretsUpdate),
            ),
            K::DescribeRotationDetail => (
                O::DescribeRotationDetail { name: n() },
                secret(Action::SecretsDescribe),
            ),
            K::DescribeRotationHistory => (
                O::DescribeRotationHistory { name: n() },
                secret(Action::SecretsDescribe),
            ),
            K::CreateKey => (
                O::CreateKey,
                Permission::one(Action::KeysCreate, Target::AllKeys),
            ),
            K::DescribeKey => (O::DescribeKey { key: k() }, key(Action::KeysDescribe)),
            K::DescribeKeys => (
                O::DescribeKeys {
                    keys: vec![KEY.into(), DEST.into()],
                },
                Permission::each(
                    Action::KeysDescribe,
                    vec![Target::Key(KEY.into()), Target::Key(DEST.into())],
                ),
            ),
            K::ListKeys => (
                O::ListKeys,
                Permission::one(Action::KeysList, Target::AllKeys),
            ),
            K::EnableKey => (O::EnableKey { key: k() }, key(Action::KeysUpdate)),
            K::DisableKey => (O::DisableKey { key: k() }, key(Action::KeysUpdate)),
            K::ScheduleKeyDeletion => {
                (O::ScheduleKeyDeletion { key: k() }, key(Action::KeysDelete))
            }
            K::CancelKeyDeletion => (O::CancelKeyDeletion { key: k() }, key(Action::KeysDelete)),
            K::UpdateAlias => (O::UpdateAlias { key: k() }, key(Action::KeysUpdate)),
            K::UpdateKeyDescription => (
                O::UpdateKeyDescription { key: k() },
                key(Action::KeysUpdate),
            ),
            K::Encrypt => (O::Encrypt { key: k() }, key(Action::KeysEncrypt)),
            // Until `resolve` reads the blob, its key is the unknown one.
            K::Decrypt => (
                O::Decrypt {
                    key: UNKNOWN_KEY_ID.into(),
                },
                Permission::one(Action::KeysDecrypt, Target::Key(UNKNOWN_KEY_ID.into())),
            ),
            K::GenerateDataKey => (
                O::GenerateDataKey { key: k() },
                key(Action::KeysGenerateDataKey),
            ),
            K::ReEncrypt => (
                O::ReEncrypt {
                    source: UNKNOWN_KEY_ID.into(),
                    destination: Some(DEST.into()),
                },
                Permission::All(vec![
                    Permission::one(Action::KeysDecrypt, Target::Key(UNKNOWN_KEY_ID.into())),
                    Permission::one(Action::KeysEncrypt, Target::Key(DEST.into())),
                ]),
            ),
            K::EnableKeyRotation => (O::EnableKeyRotation { key: k() }, key(Action::KeysUpdate)),
            K::DisableKeyRotation => (O::DisableKeyRotation { key: k() }, key(Action::KeysUpdate)),
            K::GetKeyRotationStatus => (
                O::GetKeyRotationStatus { key: k() },
                key(Action::KeysDescribe),
            ),
            K::KmsGetServiceStatus => (O::KmsGetServiceStatus, Permission::Public),
        }
    }

    /// Parameters that name every kind's target.
    fn full_params() -> Params {
        Params::new(json!({
            "SecretName": NAME,
            "KeyId": KEY,
            "KmsKeyId": KEY,
            "DestinationKeyId": DEST,
            "KeyIds": [KEY, DEST],
            "Tags": [{"TagKey": "team", "TagValue": "a"}],
        }))
        .unwrap()
    }

    #[test]
    fn every_operation_needs_its_permission() {
        let mut tested = 0;
        for kind in OperationKind::iter() {
            let (op, expected) = sample(kind);
            assert_eq!(OperationKind::from(&op), kind);
            assert_eq!(permission(&op), expected, "{kind:?}");
            tested += 1;
        }
        assert_eq!(tested, OperationKind::iter().count());
    }

    /// An operation may share a TC3 signature with other reads only if its permission is a
    /// read of metadata (describe, list) or public: a table entry that disagrees is a mistake
    /// in one of the two.
    #[test]
    fn reads_are_exactly_the_metadata_reads() {
        for kind in OperationKind::iter() {
            let metadata_read = match sample(kind).1 {
                Permission::Public => true,
                Permission::Act { action, .. } => matches!(
                    action,
                    Action::SecretsDescribe
                        | Action::SecretsList
                        | Action::KeysDescribe
                        | Action::KeysList
                ),
                _ => false,
            };
            assert_eq!(reads_only(kind), metadata_read, "{kind:?}");
            assert_eq!(super::kind(api_version(kind), wire_name(kind)), Some(kind));
        }
    }

    #[test]
    fn every_wire_action_parses_to_its_kind_and_permission() {
        let p = full_params();
        let mut seen = HashSet::new();
        for kind in OperationKind::iter() {
            let (version, action) = (api_version(kind), wire_name(kind));
            assert!(
                seen.insert((version, action)),
                "{action} twice in {version}"
            );
            let op = parse(version, action, &p).unwrap();
            assert_eq!(OperationKind::from(&op), kind);
            assert_eq!(permission(&op), sample(kind).1, "{kind:?}");
        }
        assert_eq!(seen.len(), 40);
    }

    /// Creating a product secret, rotating one, and turning its rotation on make the
    /// database create or change an account: `databases:Use` on the instance as well.
    #[test]
    fn product_operations_also_need_the_instance() {
        let db = || Permission::one(Action::DatabasesUse, Target::Instance("cdb-1".into()));
        let p = Params::new(json!({"SecretName": NAME, "InstanceID": "cdb-1"})).unwrap();
        let op = parse(API_VERSION, "CreateProductSecret", &p).unwrap();
        let create = Permission::one(
            Action::SecretsCreate,
            Target::Secret {
                name: NAME.into(),
                tags: Some(vec![]),
            },
        );
        assert_eq!(permission(&op), Permission::All(vec![create, db()]));
        assert_eq!(permission(&op).action(), Some(Action::SecretsCreate));
        let secret = |a| Permission::one(a, Target::secret(NAME));
        let stored = || Product {
            name: NAME.into(),
            instance: Some("cdb-1".into()),
        };
        let rotate = O::RotateProductSecret { product: stored() };
        assert_eq!(
            permission(&rotate),
            Permission::All(vec![secret(Action::SecretsRotate), db()])
        );
        let on = O::UpdateRotationStatus { product: stored() };
        assert_eq!(
            permission(&on),
            Permission::All(vec![secret(Action::SecretsUpdate), db()])
        );
        assert!(turns_rotation_on(
            &Params::new(json!({"EnableRotation": true})).unwrap()
        ));
        assert!(!turns_rotation_on(
            &Params::new(json!({"EnableRotation": "false"})).unwrap()
        ));
    }

    #[test]
    fn the_other_shapes_of_key_permissions() {
        // A create without a key uses the default key: the create alone.
        let op = O::CreateSecret {
            name: NAME.into(),
            tags: vec![],
            key: None,
        };
        assert_eq!(
            permission(&op),
            Permission::one(
                Action::SecretsCreate,
                Target::Secret {
                    name: NAME.into(),
                    tags: Some(vec![]),
                }
            )
        );
        // ReEncrypt without a destination encrypts with the source key again.
        let op = O::ReEncrypt {
            source: "key-1".into(),
            destination: None,
        };
        assert_eq!(
            permission(&op),
            Permission::All(vec![
                Permission::one(Action::KeysDecrypt, Target::Key("key-1".into())),
                Permission::one(Action::KeysEncrypt, Target::Key("key-1".into())),
            ])
        );
        // An empty key parameter names no key.
        let p = Params::new(json!({"SecretName": NAME, "KmsKeyId": "", "DestinationKeyId": ""}))
            .unwrap();
        assert!(matches!(
            parse(API_VERSION, "CreateSecret", &p),
            Ok(O::CreateSecret { key: None, .. })
        ));
        assert!(matches!(
            parse(KMS_VERSION, "ReEncrypt", &p),
            Ok(O::ReEncrypt {
                destination: None,
                ..
            })
        ));
    }

    #[test]
    fn describe_keys_without_a_usable_list_is_judged_on_every_key() {
        let too_many: Vec<String> = (0..=keys::MAX_DESCRIBE_KEYS)
            .map(|i| i.to_string())
            .collect();
        for p in [
            json!({}),
            json!({"KeyIds": "k"}),
            json!({"KeyIds": too_many}),
        ] {
            let op = parse(KMS_VERSION, "DescribeKeys", &Params::new(p).unwrap()).unwrap();
            assert_eq!(
                permission(&op),
                Permission::one(Action::KeysDescribe, Target::AllKeys)
            );
        }
    }

    #[test]
    fn the_version_picks_the_api() {
        let p = full_params();
        let kind = |v, a| parse(v, a, &p).map(|op| OperationKind::from(&op));
        assert_eq!(
            kind(API_VERSION, "GetServiceStatus"),
            Ok(K::GetServiceStatus)
        );
        assert_eq!(
            kind(KMS_VERSION, "GetServiceStatus"),
            Ok(K::KmsGetServiceStatus)
        );
        let code = |v, a| parse(v, a, &p).err().map(|e| e.code);
        assert_eq!(code(KMS_VERSION, "GetRegions"), Some("InvalidAction"));
        assert_eq!(code(API_VERSION, "CreateKey"), Some("InvalidAction"));
        assert_eq!(
            code(API_VERSION, "KmsGetServiceStatus"),
            Some("InvalidAction")
        );
        assert_eq!(code(API_VERSION, "Nope"), Some("InvalidAction"));
        assert_eq!(
            code(API_VERSION, "CreateSSHKeyPairSecret"),
            Some("UnsupportedOperation")
        );
        assert_eq!(
            code(API_VERSION, "GetSSHKeyPairValue"),
            Some("UnsupportedOperation")
        );
        assert_eq!(
            code(KMS_VERSION, "GetSSHKeyPairValue"),
            Some("InvalidAction")
        );
    }

    #[test]
    fn targets_are_checked_before_the_permission() {
        let empty = Params::new(json!({})).unwrap();
        let code = |a, p: &Params| parse(API_VERSION, a, p).err().map(|e| e.code);
        assert_eq!(code("GetSecretValue", &empty), Some("MissingParameter"));
        let bad = Params::new(json!({"SecretName": "a/b"})).unwrap();
        assert_eq!(code("DeleteSecret", &bad), Some("InvalidParameterValue"));
        let dup = Params::new(json!({"SecretName": "s", "Tags": [
            {"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}]}))
        .unwrap();
        assert_eq!(
            code("CreateSecret", &dup),
            Some("InvalidParameterValue.TagKeysDuplicated")
        );
        // Without a name, the name is what the answer names, whatever the tags.
        let both = Params::new(json!({"Tags": "x"})).unwrap();
        assert_eq!(code("CreateProductSecret", &both), Some("MissingParameter"));
        assert!(parse(API_VERSION, "ListSecrets", &empty).is_ok());
        let kms = |a| parse(KMS_VERSION, a, &empty).err().map(|e| e.code);
        assert_eq!(kms("Encrypt"), Some("MissingParameter"));
        assert!(parse(KMS_VERSION, "Decrypt", &empty).is_ok());
    }
}
