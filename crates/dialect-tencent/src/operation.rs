//! Every SSM and KMS action as one value of [`Operation`]: looking the wire action up, parsing
//! the parameters that name its target, the permission it needs, and the dispatch to the
//! operation modules.
//!
//! The two APIs share one endpoint and one flat enum. Their wire names overlap only in
//! `GetServiceStatus`, whose KMS variant is [`Operation::KmsGetServiceStatus`]; [`wire_name`]
//! and [`api_version`] give each kind's action and API.

use coffer_core::{Action, Permission, Tag, Target};
use serde_json::{Map, Value};
use strum::IntoEnumIterator;

use crate::errors::ApiError;
use crate::params::Params;
use crate::request::{self, Call, API_VERSION, KMS_VERSION};
use crate::{keys, managed, secrets};

/// One SSM or KMS action with the parameters that name what it acts on (`name` a valid
/// `SecretName`, `key` the `KeyId` as sent, `tags` a create's valid `Tags`). The rest of an
/// action's parameters stay in [`Call::params`]: they are checked when it runs, after the
/// permission, as they always were.
#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    // SSM 2019-09-23: secrets.
    CreateSecret { name: String, tags: Vec<Tag> },
    GetSecretValue { name: String },
    PutSecretValue { name: String },
    UpdateSecret { name: String },
    UpdateDescription { name: String },
    DescribeSecret { name: String },
    ListSecrets,
    ListSecretVersionIds { name: String },
    DeleteSecretVersion { name: String },
    EnableSecret { name: String },
    DisableSecret { name: String },
    DeleteSecret { name: String },
    RestoreSecret { name: String },
    GetServiceStatus,
    GetRegions,
    // SSM 2019-09-23: cloud-product (database) secrets.
    DescribeSupportedProducts,
    CreateProductSecret { name: String, tags: Vec<Tag> },
    RotateProductSecret { name: String },
    DescribeAsyncRequestInfo,
    UpdateRotationStatus { name: String },
    DescribeRotationDetail { name: String },
    DescribeRotationHistory { name: String },
    // KMS 2019-01-18.
    CreateKey,
    DescribeKey { key: String },
    DescribeKeys,
    ListKeys,
    EnableKey { key: String },
    DisableKey { key: String },
    ScheduleKeyDeletion { key: String },
    CancelKeyDeletion { key: String },
    UpdateAlias { key: String },
    UpdateKeyDescription { key: String },
    Encrypt { key: String },
    Decrypt,
    GenerateDataKey { key: String },
    ReEncrypt,
    EnableKeyRotation { key: String },
    DisableKeyRotation { key: String },
    GetKeyRotationStatus { key: String },
    KmsGetServiceStatus,
}

use Operation as O;
use OperationKind as K;

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
    Ok(match kind {
        // The name is checked before the tags, as the answer to a request wrong in both
        // always named the name.
        K::CreateSecret => O::CreateSecret {
            name: name()?,
            tags: request::tags(p)?,
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
            name: name()?,
            tags: request::tags(p)?,
        },
        K::RotateProductSecret => O::RotateProductSecret { name: name()? },
        K::DescribeAsyncRequestInfo => O::DescribeAsyncRequestInfo,
        K::UpdateRotationStatus => O::UpdateRotationStatus { name: name()? },
        K::DescribeRotationDetail => O::DescribeRotationDetail { name: name()? },
        K::DescribeRotationHistory => O::DescribeRotationHistory { name: name()? },
        K::CreateKey => O::CreateKey,
        K::DescribeKey => O::DescribeKey { key: key()? },
        K::DescribeKeys => O::DescribeKeys,
        K::ListKeys => O::ListKeys,
        K::EnableKey => O::EnableKey { key: key()? },
        K::DisableKey => O::DisableKey { key: key()? },
        K::ScheduleKeyDeletion => O::ScheduleKeyDeletion { key: key()? },
        K::CancelKeyDeletion => O::CancelKeyDeletion { key: key()? },
        K::UpdateAlias => O::UpdateAlias { key: key()? },
        K::UpdateKeyDescription => O::UpdateKeyDescription { key: key()? },
        K::Encrypt => O::Encrypt { key: key()? },
        K::Decrypt => O::Decrypt,
        K::GenerateDataKey => O::GenerateDataKey { key: key()? },
        K::ReEncrypt => O::ReEncrypt,
        K::EnableKeyRotation => O::EnableKeyRotation { key: key()? },
        K::DisableKeyRotation => O::DisableKeyRotation { key: key()? },
        K::GetKeyRotationStatus => O::GetKeyRotationStatus { key: key()? },
        K::KmsGetServiceStatus => O::KmsGetServiceStatus,
    })
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
/// Keys are the resource the request names them by; Decrypt and ReEncrypt find their key
/// inside the blob, so they need the right on every key.
pub fn permission(op: &Operation) -> Permission {
    let secret = |action: Action, name: &str| Permission::one(action, Target::secret(name));
    let key = |action: Action, key: &str| Permission::one(action, Target::Key(key.to_string()));
    match op {
        // A create's tag conditions see the tags it asks for.
        O::CreateSecret { name, tags } | O::CreateProductSecret { name, tags } => Permission::one(
            Action::SecretsCreate,
            Target::Secret {
                name: name.clone(),
                tags: Some(tags.clone()),
            },
        ),
        O::GetSecretValue { name } => secret(Action::SecretsGetValue, name),
        // UpdateSecret replaces a version's value in place.
        O::PutSecretValue { name } | O::UpdateSecret { name } => {
            secret(Action::SecretsPutValue, name)
        }
        O::UpdateDescription { name }
        | O::EnableSecret { name }
        | O::DisableSecret { name }
        | O::UpdateRotationStatus { name } => secret(Action::SecretsUpdate, name),
        O::DescribeSecret { name }
        | O::ListSecretVersionIds { name }
        | O::DescribeRotationDetail { name }
        | O::DescribeRotationHistory { name } => secret(Action::SecretsDescribe, name),
        O::DeleteSecretVersion { name } | O::DeleteSecret { name } => {
            secret(Action::SecretsDelete, name)
        }
        O::RestoreSecret { name } => secret(Action::SecretsRestore, name),
        O::RotateProductSecret { name } => secret(Action::SecretsRotate, name),
        // A task id names no secret up front: reading task states is a listing right, and so
        // is the service status, which counts the scope's secrets.
        O::ListSecrets | O::GetServiceStatus | O::DescribeAsyncRequestInfo => {
            Permission::one(Action::SecretsList, Target::AllSecrets)
        }
        // These answer the same to every caller and read no account's data.
        O::GetRegions | O::DescribeSupportedProducts | O::KmsGetServiceStatus => Permission::Public,
        O::CreateKey => Permission::one(Action::KeysCreate, Target::AllKeys),
        O::ListKeys | O::DescribeKeys => Permission::one(Action::KeysList, Target::AllKeys),
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
        O::Decrypt | O::ReEncrypt => Permission::one(Action::KeysDecrypt, Target::AllKeys),
    }
}

/// Runs `op`; its answer's fields, without the request id.
pub async fn execute(c: &Call, op: Operation) -> Result<Map<String, Value>, ApiError> {
    match op {
        O::CreateSecret { name, tags } => secrets::create_secret(c, name, tags).await,
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
        O::CreateProductSecret { name, tags } => {
            managed::create_product_secret(c, name, tags).await
        }
        O::RotateProductSecret { name } => managed::rotate_product_secret(c, name).await,
        O::DescribeAsyncRequestInfo => managed::describe_async_request_info(c).await,
        O::UpdateRotationStatus { name } => managed::update_rotation_status(c, name).await,
        O::DescribeRotationDetail { name } => managed::describe_rotation_detail(c, name).await,
        O::DescribeRotationHistory { name } => managed::describe_rotation_history(c, name).await,
        O::CreateKey => keys::create_key(c).await,
        O::DescribeKey { key } => keys::describe_key(c, key).await,
        O::DescribeKeys => keys::describe_keys(c).await,
        O::ListKeys => keys::list_keys(c).await,
        O::EnableKey { key } => keys::set_enabled(c, key, true).await,
        O::DisableKey { key } => keys::set_enabled(c, key, false).await,
        O::ScheduleKeyDeletion { key } => keys::schedule_deletion(c, key).await,
        O::CancelKeyDeletion { key } => keys::cancel_deletion(c, key).await,
        O::UpdateAlias { key } => keys::update_alias(c, key).await,
        O::UpdateKeyDescription { key } => keys::update_description(c, key).await,
        O::Encrypt { key } => keys::encrypt(c, key).await,
        O::Decrypt => keys::decrypt(c).await,
        O::GenerateDataKey { key } => keys::data_key(c, key).await,
        O::ReEncrypt => keys::re_encrypt(c).await,
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
        let create = Permission::one(
            Action::SecretsCreate,
            Target::Secret {
                name: NAME.into(),
                tags: Some(vec![tag()]),
            },
        );
        let all_secrets = Permission::one(Action::SecretsList, Target::AllSecrets);
        match kind {
            K::CreateSecret => (
                O::CreateSecret {
                    name: n(),
                    tags: vec![tag()],
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
                    name: n(),
                    tags: vec![tag()],
                },
                create,
            ),
            K::RotateProductSecret => (
                O::RotateProductSecret { name: n() },
                secret(Action::SecretsRotate),
            ),
            K::DescribeAsyncRequestInfo => (O::DescribeAsyncRequestInfo, all_secrets),
            K::UpdateRotationStatus => (
                O::UpdateRotationStatus { name: n() },
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
                O::DescribeKeys,
                Permission::one(Action::KeysList, Target::AllKeys),
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
            K::Decrypt => (
                O::Decrypt,
                Permission::one(Action::KeysDecrypt, Target::AllKeys),
            ),
            K::GenerateDataKey => (
                O::GenerateDataKey { key: k() },
                key(Action::KeysGenerateDataKey),
            ),
            K::ReEncrypt => (
                O::ReEncrypt,
                Permission::one(Action::KeysDecrypt, Target::AllKeys),
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
