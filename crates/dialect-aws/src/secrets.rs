//! The secret operations: CreateSecret, GetSecretValue, BatchGetSecretValue, PutSecretValue,
//! DescribeSecret, ListSecrets, ListSecretVersionIds, DeleteSecret, RestoreSecret,
//! UpdateSecret, UpdateSecretVersionStage, TagResource, UntagResource, GetRandomPassword.

use coffer_core::Tag;
use serde_json::{Map, Value};

use crate::arn::SecretRef;
use crate::errors::ApiError;
use crate::operation::SecretId;
use crate::params::{self, Params};
use crate::request::Call;

/// `Name`: 1–512 characters of `[A-Za-z0-9/_+=.@-]`.
pub fn name(p: &Params) -> Result<String, ApiError> {
    let n = p.required_str("Name", 1, params::MAX_NAME_LEN)?;
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        return Err(ApiError::invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    Ok(n.to_string())
}

/// `Tags`: a list of `{"Key", "Value"}`.
pub fn tags(p: &Params) -> Result<Option<Vec<Tag>>, ApiError> {
    let Some(items) = p.array("Tags")? else {
        return Ok(None);
    };
    let mut out: Vec<Tag> = vec![];
    for item in items {
        let bad =
            || ApiError::serialization("Tags must be a list of {\"Key\", \"Value\"} structures.");
        let o = Params::from_map(item.as_object().ok_or_else(bad)?.clone());
        let key = o
            .str_len("Key", 1, params::MAX_TAG_KEY_LEN)
            .map_err(|_| {
                ApiError::validation(
                    "tags.member.key",
                    "Member must have length between 1 and 128",
                )
            })?
            .ok_or_else(|| ApiError::missing("tags.member.key"))?;
        let value = o
            .str_len("Value", 0, params::MAX_TAG_VALUE_LEN)
            .map_err(|_| {
                ApiError::validation(
                    "tags.member.value",
                    "Member must have length less than or equal to 256",
                )
            })?
            .unwrap_or("");
        out.retain(|t: &Tag| t.key != key);
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(Some(out))
}

/// `TagKeys`: required, each 1–128 characters.
pub fn tag_keys(p: &Params) -> Result<Vec<String>, ApiError> {
    p.str_list("TagKeys", (0, usize::MAX), (1, params::MAX_TAG_KEY_LEN))?
        .ok_or_else(|| ApiError::missing("TagKeys"))
}

/// `KmsKeyId`, when given and not empty.
pub fn kms_key_id(p: &Params) -> Result<Option<String>, ApiError> {
    Ok(p.str_len("KmsKeyId", 0, params::MAX_KMS_KEY_ID_LEN)?
        .filter(|k| !k.is_empty())
        .map(str::to_string))
}

/// `SecretIdList` of BatchGetSecretValue: 1–20 ids. With `Filters` instead, no ids.
pub fn batch_ids(p: &Params) -> Result<Vec<SecretId>, ApiError> {
    let Some(ids) = p.str_list("SecretIdList", (1, 20), (1, params::MAX_SECRET_ID_LEN))? else {
        return Ok(vec![]);
    };
    Ok(ids
        .into_iter()
        .map(|given| SecretId {
            name: given.clone(),
            given,
        })
        .collect())
}

/// The name of the secret a `SecretId` names: the text itself, or the secret a full or
/// partial ARN names. An ARN that names no secret of the caller's scope stays as written, so
/// that the permission and the lookup refuse it like any unknown name.
pub async fn resolve_name(call: &Call, given: &str) -> Result<String, ApiError> {
    let Some(r) = SecretRef::parse(given) else {
        return Ok(given.to_string());
    };
    if let SecretRef::Arn {
        region, account, ..
    } = &r
    {
        if *account != call.account_number
            || call.regions.resolve(Some(region)) != call.scope.region
        {
            return Ok(given.to_string());
        }
    }
    for (name, suffix) in r.candidates() {
        match call.service.describe(&call.scope, &name).await {
            Ok(s) if suffix.is_none() || suffix.as_deref() == Some(crate::arn::suffix_of(&s)) => {
                return Ok(s.name)
            }
            Ok(_) | Err(coffer_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(given.to_string())
}

/// The id of the key `KmsKeyId` names (an id, `alias/x`, or a key ARN), for the permission.
pub async fn key_id_to_authorize(call: &Call, reference: &str) -> Result<String, ApiError> {
    Ok(call
        .service
        .key_id_to_authorize(&call.scope, crate::arn::key_reference(reference))
        .await?)
}

pub async fn create(
    _call: &Call,
    _name: String,
    _tags: Vec<Tag>,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("CreateSecret"))
}

pub async fn get_value(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("GetSecretValue"))
}

pub async fn batch_get_value(
    _call: &Call,
    _secrets: Vec<SecretId>,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("BatchGetSecretValue"))
}

pub async fn put_value(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("PutSecretValue"))
}

pub async fn describe(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("DescribeSecret"))
}

pub async fn list(_call: &Call) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("ListSecrets"))
}

pub async fn list_version_ids(
    _call: &Call,
    _secret: &SecretId,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("ListSecretVersionIds"))
}

pub async fn delete(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("DeleteSecret"))
}

pub async fn restore(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("RestoreSecret"))
}

pub async fn update(_call: &Call, _secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("UpdateSecret"))
}

pub async fn update_stage(
    _call: &Call,
    _secret: &SecretId,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("UpdateSecretVersionStage"))
}

pub async fn tag(
    _call: &Call,
    _secret: &SecretId,
    _tags: Vec<Tag>,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("TagResource"))
}

pub async fn untag(
    _call: &Call,
    _secret: &SecretId,
    _keys: Vec<String>,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("UntagResource"))
}

pub fn random_password(_call: &Call) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("GetRandomPassword"))
}
