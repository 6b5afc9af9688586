//! Resource policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy,
//! ValidateResourcePolicy and ListResourcePolicies. Their inputs are read here in full, with
//! the model's constraints; running them needs the store's per-secret policies.

use coffer_core::resource_policy::{self, MalformedPolicy, ResourcePolicy};
use coffer_core::SecretRecord;
use serde_json::{json, Map, Value};

use crate::arn::suffix_of;

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

/// coffer keeps one resource policy per secret, as AWS does: `default`.
const DEFAULT_POLICY: &str = "default";

fn only_default(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        None | Some(DEFAULT_POLICY) => Ok(()),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "The policy name {other:?} is not valid: a secret has one resource policy, named default."
        ))),
    }
}

/// A document that is not a resource policy, as AWS answers it.
fn malformed(e: MalformedPolicy) -> ApiError {
    ApiError::new(
        "MalformedPolicyDocumentException",
        400,
        format!("The resource policy has syntax errors: {}", e.0),
    )
}

fn names(call: &Call, s: &SecretRecord) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(s)).into());
    out.insert("Name".into(), s.name.clone().into());
    out
}

pub async fn put(call: &Call, input: PutResourcePolicy) -> Result<Map<String, Value>, ApiError> {
    only_default(input.policy_name.as_deref())?;
    let parsed = ResourcePolicy::parse(&input.policy).map_err(malformed)?;
    if input.block_public_policy.unwrap_or(false) && parsed.is_public() {
        return Err(ApiError::new(
            "PublicPolicyException",
            400,
            "BlockPublicPolicy is true and the resource policy grants access to every principal \
             (\"*\"): name the accounts or access keys it is for.",
        ));
    }
    let s = call
        .service
        .put_resource_policy(&call.scope, &input.secret.name, input.policy, false)
        .await?;
    let mut out = names(call, &s);
    out.insert("PolicyName".into(), DEFAULT_POLICY.into());
    Ok(out)
}

pub async fn get(call: &Call, input: GetResourcePolicy) -> Result<Map<String, Value>, ApiError> {
    only_default(input.policy_name.as_deref())?;
    let s = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    let mut out = names(call, &s);
    if let Some(p) = &s.policy {
        out.insert("ResourcePolicy".into(), p.clone().into());
        out.insert("PolicyName".into(), DEFAULT_POLICY.into());
    }
    Ok(out)
}

pub async fn delete(
    call: &Call,
    input: DeleteResourcePolicy,
) -> Result<Map<String, Value>, ApiError> {
    only_default(input.policy_name.as_deref())?;
    let s = call
        .service
        .delete_resource_policy(&call.scope, &input.secret.name)
        .await?;
    let mut out = names(call, &s);
    out.insert("PolicyName".into(), DEFAULT_POLICY.into());
    Ok(out)
}

pub async fn validate(
    call: &Call,
    input: ValidateResourcePolicy,
) -> Result<Map<String, Value>, ApiError> {
    // A named secret must exist, as AWS checks the policy against it.
    if let Some(id) = &input.secret {
        call.service.describe(&call.scope, &id.name).await?;
    }
    let findings = resource_policy::validate(&input.policy).map_err(malformed)?;
    let errors: Vec<Value> = findings
        .iter()
        .map(|f| json!({"CheckName": f.check, "ErrorMessage": f.message}))
        .collect();
    let mut out = Map::new();
    out.insert("PolicyValidationPassed".into(), errors.is_empty().into());
    out.insert("ValidationErrors".into(), Value::Array(errors));
    Ok(out)
}

pub async fn list(
    call: &Call,
    input: ListResourcePolicies,
) -> Result<Map<String, Value>, ApiError> {
    // One page holds every policy a secret can have; a token can only come from a client.
    if input.next_token.is_some() {
        return Err(ApiError::invalid_next_token(
            "The NextToken is not valid: the resource policies fit on one page.",
        ));
    }
    let s = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    let policies: Vec<Value> = s
        .policy
        .iter()
        .map(|_| json!({"PolicyName": DEFAULT_POLICY}))
        .collect();
    let mut out = Map::new();
    out.insert("ResourcePolicies".into(), Value::Array(policies));
    Ok(out)
}
