//! Resource policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy,
//! ValidateResourcePolicy and ListResourcePolicies. Their inputs are read here in full, with
//! the model's constraints; running them needs the store's per-secret policies.

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::operation::SecretId;
use crate::params::{self, Params};
use crate::request::Call;

/// `NonEmptyResourcePolicyType`: 1–20,480 characters.
pub const MAX_POLICY_LEN: usize = 20_480;
/// `ResourcePolicyNameType`: 1–64 characters of `[0-9A-Za-z_-]`.
pub const MAX_POLICY_NAME_LEN: usize = 64;

fn policy_name(p: &Params) -> Result<Option<String>, ApiError> {
    let Some(n) = p.str_len("PolicyName", 1, MAX_POLICY_NAME_LEN)? else {
        return Ok(None);
    };
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::validation(
            "PolicyName",
            "Member must satisfy regular expression pattern: [0-9A-Za-z\\-\\_]+",
        ));
    }
    Ok(Some(n.to_string()))
}

#[derive(Debug)]
pub struct PutResourcePolicy {
    pub secret: SecretId,
    pub policy: String,
    pub policy_name: Option<String>,
    pub block_public_policy: Option<bool>,
}

impl PutResourcePolicy {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            policy: p
                .required_str("ResourcePolicy", 1, MAX_POLICY_LEN)?
                .to_string(),
            policy_name: policy_name(p)?,
            block_public_policy: p.bool("BlockPublicPolicy")?,
        })
    }
}

#[derive(Debug)]
pub struct GetResourcePolicy {
    pub secret: SecretId,
    pub policy_name: Option<String>,
}

impl GetResourcePolicy {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            policy_name: policy_name(p)?,
        })
    }
}

#[derive(Debug)]
pub struct DeleteResourcePolicy {
    pub secret: SecretId,
    pub policy_name: Option<String>,
}

impl DeleteResourcePolicy {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            policy_name: policy_name(p)?,
        })
    }
}

#[derive(Debug)]
pub struct ValidateResourcePolicy {
    pub secret: Option<SecretId>,
    pub policy: String,
}

impl ValidateResourcePolicy {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: if p.has("SecretId") {
                Some(SecretId::parse(p, "SecretId")?)
            } else {
                None
            },
            policy: p
                .required_str("ResourcePolicy", 1, MAX_POLICY_LEN)?
                .to_string(),
        })
    }
}

#[derive(Debug)]
pub struct ListResourcePolicies {
    pub secret: SecretId,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl ListResourcePolicies {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            max_results: p.int("MaxResults", 1, 100)?,
            next_token: p
                .str_len("NextToken", 1, params::MAX_NEXT_TOKEN_LEN)?
                .map(str::to_string),
        })
    }
}

pub async fn put(_call: &Call, _input: PutResourcePolicy) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("PutResourcePolicy"))
}

pub async fn get(_call: &Call, _input: GetResourcePolicy) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("GetResourcePolicy"))
}

pub async fn delete(
    _call: &Call,
    _input: DeleteResourcePolicy,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("DeleteResourcePolicy"))
}

pub async fn validate(
    _call: &Call,
    _input: ValidateResourcePolicy,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("ValidateResourcePolicy"))
}

pub async fn list(
    _call: &Call,
    _input: ListResourcePolicies,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("ListResourcePolicies"))
}
