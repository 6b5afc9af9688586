//! Which neutral action each Alibaba operation is, and on which resources (the table is in
//! DESIGN.md). Targets are resolved with the operations' own parameter rules, so a name given
//! as an ARN and a plain name are the same resource.

use coffer_core::{Action, Target};

use crate::error::ApiError;
use crate::ops::{resource_ids, secret_ref, single_tag_target};
use crate::{params, Call};

type Permission = Option<(Action, Vec<Target>)>;

fn one(action: Action, c: &Call<'_>) -> Result<Permission, ApiError> {
    Ok(Some((
        action,
        vec![Target::secret(secret_ref(c, "SecretName")?)],
    )))
}

/// `None` for an action this dialect does not know (it is refused by the dispatcher).
pub(crate) fn permission(action: &str, c: &Call<'_>) -> Result<Permission, ApiError> {
    match action {
        "CreateSecret" => {
            let name = c.params.required("SecretName")?;
            params::secret_name("SecretName", name)?;
            // A create's tag conditions see the tags it asks for.
            let tags = match c.params.optional("Tags") {
                Some(t) => params::tags_json("Tags", t)?,
                None => vec![],
            };
            Ok(Some((
                Action::SecretsCreate,
                vec![Target::Secret {
                    name: name.to_string(),
                    tags: Some(tags),
                }],
            )))
        }
        "GetSecretValue" => one(Action::SecretsGetValue, c),
        "PutSecretValue" => one(Action::SecretsPutValue, c),
        "UpdateSecret" | "UpdateSecretRotationPolicy" => one(Action::SecretsUpdate, c),
        "UpdateSecretVersionStage" => one(Action::SecretsUpdateStage, c),
        "DescribeSecret" | "ListSecretVersionIds" => one(Action::SecretsDescribe, c),
        "DeleteSecret" => one(Action::SecretsDelete, c),
        "RestoreSecret" => one(Action::SecretsRestore, c),
        "RotateSecret" => one(Action::SecretsRotate, c),
        "GetSecretPolicy" => one(Action::SecretsGetPolicy, c),
        "SetSecretPolicy" => one(Action::SecretsPutPolicy, c),
        "ListSecrets" => Ok(Some((Action::SecretsList, vec![Target::AllSecrets]))),
        "GetRandomPassword" => Ok(Some((
            Action::SecretsGetRandomPassword,
            vec![Target::Scope],
        ))),
        "TagResource" | "UntagResource" => Ok(Some((
            Action::SecretsTag,
            vec![Target::secret(single_tag_target(c)?)],
        ))),
        "TagResources" | "UntagResources" => Ok(Some((
            Action::SecretsTag,
            resource_ids(c, true)?
                .into_iter()
                .map(Target::secret)
                .collect(),
        ))),
        "ListTagResources" => {
            let names = resource_ids(c, false)?;
            let targets = if names.is_empty() {
                vec![Target::AllSecrets]
            } else {
                names.into_iter().map(Target::secret).collect()
            };
            Ok(Some((Action::SecretsDescribe, targets)))
        }
        "CreateKey" => Ok(Some((Action::KeysCreate, vec![Target::AllKeys]))),
        "ListKeys" | "ListAliases" => Ok(Some((Action::KeysList, vec![Target::AllKeys]))),
        "DescribeKey" | "ListAliasesByKeyId" | "ListKeyVersions" | "DescribeKeyVersion" => {
            key(Action::KeysDescribe, c, "KeyId")
        }
        "EnableKey"
        | "DisableKey"
        | "UpdateKeyDescription"
        | "CreateAlias"
        | "UpdateAlias"
        | "UpdateRotationPolicy"
        | "CreateKeyVersion" => key(Action::KeysUpdate, c, "KeyId"),
        "DeleteAlias" => Ok(Some((Action::KeysUpdate, vec![Target::AllKeys]))),
        "ScheduleKeyDeletion" | "CancelKeyDeletion" => key(Action::KeysDelete, c, "KeyId"),
        "Encrypt" => key(Action::KeysEncrypt, c, "KeyId"),
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            key(Action::KeysGenerateDataKey, c, "KeyId")
        }
        // The key is named inside the blob; the operation checks it belongs to the caller.
        "Decrypt" => Ok(Some((Action::KeysDecrypt, vec![Target::AllKeys]))),
        "ReEncrypt" => Ok(Some((Action::KeysDecrypt, vec![Target::AllKeys]))),
        _ => Ok(None),
    }
}

/// A key named by id, alias or ARN in `param`.
fn key(action: Action, c: &Call<'_>, param: &str) -> Result<Permission, ApiError> {
    let reference = crate::ops::key_ref(c, c.params.required(param)?)?;
    Ok(Some((action, vec![Target::Key(reference)])))
}
