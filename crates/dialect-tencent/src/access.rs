//! Which neutral action each SSM operation is, and on which resource (the table is in
//! DESIGN.md).

use coffer_core::{Action, Target};

use crate::error::ApiError;
use crate::ops::{name, tags};
use crate::Call;

fn one(action: Action, c: &Call<'_>) -> Result<Option<(Action, Target)>, ApiError> {
    Ok(Some((action, Target::secret(name(c)?))))
}

/// `None` for actions that touch no data (unknown, unsupported or purely informational ones
/// that answer the same for everybody).
pub(crate) fn permission(action: &str, c: &Call<'_>) -> Result<Option<(Action, Target)>, ApiError> {
    match action {
        "CreateSecret" => Ok(Some((
            Action::SecretsCreate,
            Target::Secret {
                name: name(c)?,
                // A create's tag conditions see the tags it asks for.
                tags: Some(tags(&c.params)?),
            },
        ))),
        "GetSecretValue" => one(Action::SecretsGetValue, c),
        "PutSecretValue" => one(Action::SecretsPutValue, c),
        // Replaces a version's value in place.
        "UpdateSecret" => one(Action::SecretsPutValue, c),
        "UpdateDescription" | "EnableSecret" | "DisableSecret" => one(Action::SecretsUpdate, c),
        "DescribeSecret" | "ListSecretVersionIds" => one(Action::SecretsDescribe, c),
        "DeleteSecretVersion" | "DeleteSecret" => one(Action::SecretsDelete, c),
        "RestoreSecret" => one(Action::SecretsRestore, c),
        "CreateProductSecret" => Ok(Some((
            Action::SecretsCreate,
            Target::Secret {
                name: name(c)?,
                tags: Some(tags(&c.params)?),
            },
        ))),
        "RotateProductSecret" => one(Action::SecretsRotate, c),
        "UpdateRotationStatus" => one(Action::SecretsUpdate, c),
        "DescribeRotationDetail" | "DescribeRotationHistory" => one(Action::SecretsDescribe, c),
        // A task id names no secret up front: reading task states is a listing right.
        "ListSecrets" | "GetServiceStatus" | "DescribeAsyncRequestInfo" => {
            Ok(Some((Action::SecretsList, Target::AllSecrets)))
        }
        _ => Ok(None),
    }
}

/// The KMS actions (version 2019-01-18). Keys are named as the request names them.
pub(crate) fn kms_permission(
    action: &str,
    c: &Call<'_>,
) -> Result<Option<(Action, Target)>, ApiError> {
    let key = |action: Action| -> Result<Option<(Action, Target)>, ApiError> {
        Ok(Some((
            action,
            Target::Key(c.params.required_str("KeyId")?.to_string()),
        )))
    };
    match action {
        "CreateKey" => Ok(Some((Action::KeysCreate, Target::AllKeys))),
        "ListKeys" | "DescribeKeys" => Ok(Some((Action::KeysList, Target::AllKeys))),
        "DescribeKey" | "GetKeyRotationStatus" => key(Action::KeysDescribe),
        "EnableKey"
        | "DisableKey"
        | "UpdateAlias"
        | "UpdateKeyDescription"
        | "EnableKeyRotation"
        | "DisableKeyRotation" => key(Action::KeysUpdate),
        "ScheduleKeyDeletion" | "CancelKeyDeletion" => key(Action::KeysDelete),
        "Encrypt" => key(Action::KeysEncrypt),
        "GenerateDataKey" => key(Action::KeysGenerateDataKey),
        "Decrypt" | "ReEncrypt" => Ok(Some((Action::KeysDecrypt, Target::AllKeys))),
        _ => Ok(None),
    }
}
