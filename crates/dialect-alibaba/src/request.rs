//! What an operation sees of the request (the [`Call`]), and the readers that more than one
//! operation module needs: resource references (names, ARNs, key ids), the `ResourceId.N`
//! list, the single target of TagResource, and the parts of CreateSecret every type shares.
//! Nothing here imports an operation module, so they can all use it.

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::{AccountId, Error, RegionMap, Scope, Service, Tag};

use crate::errors::ApiError;
use crate::params::{self, Params};

/// What an operation sees of the request: who calls, where, with which parameters. Public
/// only because the `Dialect` trait names it; its fields are the crate's own.
pub struct Call {
    pub(crate) service: Arc<Service>,
    pub(crate) params: Params,
    pub(crate) scope: Scope,
    /// The client's region id, echoed in ARNs.
    pub(crate) region_id: String,
    pub(crate) regions: Arc<RegionMap>,
    /// The answer's format, as the request asked for it.
    pub(crate) format: crate::Format,
    /// The most secrets a create may leave in the scope, when the server's `--limits`
    /// profile gives Alibaba a quota of its own.
    pub(crate) max_secrets: Option<u64>,
}

impl Call {
    /// The caller's scope is the region the request names (`RegionId`), mapped to a coffer
    /// region; ARNs echo the region id itself, or `default_region_id` when none is given.
    pub(crate) fn new(
        service: Arc<Service>,
        regions: Arc<RegionMap>,
        pairs: &[(String, String)],
        account: AccountId,
        default_region_id: &str,
    ) -> Self {
        let params = Params::new(pairs);
        let region_id = params
            .optional("RegionId")
            .unwrap_or(default_region_id)
            .to_string();
        let scope = Scope {
            account,
            region: regions.resolve(params.optional("RegionId")).to_string(),
        };
        Self {
            service,
            params,
            scope,
            region_id,
            regions,
            format: crate::Format::Json,
            max_secrets: None,
        }
    }

    fn service_region(&self, region_id: &str) -> String {
        self.regions.resolve(Some(region_id)).to_string()
    }

    /// Whether an ARN's region and account are the caller's.
    fn owns(&self, region: Option<&str>, account: Option<&str>) -> bool {
        account == Some(&self.scope.account.to_string())
            && region.is_some_and(|r| self.service_region(r) == self.scope.region)
    }
}

pub(crate) fn secret_arn(c: &Call, name: &str) -> String {
    format!("acs:kms:{}:{}:secret/{name}", c.region_id, c.scope.account)
}

/// `SecretName` accepts a name or this account's secret ARN. An ARN of another account or
/// region names a secret the caller cannot see, so it is reported as not found.
pub(crate) fn secret_ref(c: &Call, param: &str) -> Result<String, ApiError> {
    secret_ref_value(c, param, c.params.required(param)?)
}

/// [`secret_ref`] for a value that is not a parameter of its own (an item of a list).
fn secret_ref_value(c: &Call, param: &str, raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::missing(param));
    }
    let name = match raw.strip_prefix("acs:kms:") {
        Some(rest) => {
            let mut parts = rest.splitn(3, ':');
            let (region, account, resource) = (parts.next(), parts.next(), parts.next());
            let name = resource
                .and_then(|r| r.strip_prefix("secret/"))
                .ok_or_else(|| ApiError::invalid(param, "The ARN does not name a secret."))?;
            if !c.owns(region, account) {
                return Err(Error::not_found(Resource::Secret, raw).into());
            }
            name
        }
        None => raw,
    };
    params::secret_name(param, name)?;
    Ok(name.to_string())
}

/// A key parameter (`KeyId`, `EncryptionKeyId`, ...): a key id, `alias/...`, or a key/alias
/// ARN of this account and region.
pub(crate) fn key_ref(c: &Call, raw: &str) -> Result<String, ApiError> {
    let Some(rest) = raw.strip_prefix("acs:kms:") else {
        return Ok(raw.to_string());
    };
    let mut parts = rest.splitn(3, ':');
    let (region, account, resource) = (parts.next(), parts.next(), parts.next());
    if !c.owns(region, account) {
        return Err(Error::not_found(Resource::Key, raw).into());
    }
    match resource {
        Some(r) if r.starts_with("key/") => Ok(r["key/".len()..].to_string()),
        Some(r) if r.starts_with("alias/") => Ok(r.to_string()),
        _ => Err(ApiError::invalid(
            "EncryptionKeyId",
            "The ARN does not name a key or alias.",
        )),
    }
}

/// TagResource and UntagResource name their target with exactly one of three parameters.
pub(crate) fn single_tag_target(c: &Call) -> Result<String, ApiError> {
    let given: Vec<&str> = ["SecretName", "KeyId", "CertificateId"]
        .into_iter()
        .filter(|p| c.params.optional(p).is_some())
        .collect();
    match given.as_slice() {
        ["SecretName"] => secret_ref(c, "SecretName"),
        [] => Err(ApiError::missing("SecretName")),
        [one] => Err(ApiError::unsupported(format!(
            "Tagging by {one} is not supported by this server; tag secrets by SecretName."
        ))),
        _ => Err(ApiError::invalid(
            given[1],
            "Give exactly one of SecretName, KeyId and CertificateId.",
        )),
    }
}

const MAX_RESOURCE_IDS: usize = 50;

/// `ResourceId.N`: secret names or ARNs.
pub(crate) fn resource_ids(c: &Call, required: bool) -> Result<Vec<String>, ApiError> {
    let ids = c.params.indexed("ResourceId")?;
    if ids.is_empty() && required {
        return Err(ApiError::missing("ResourceId.1"));
    }
    if ids.len() > MAX_RESOURCE_IDS {
        return Err(ApiError::invalid(
            "ResourceId",
            format!("At most {MAX_RESOURCE_IDS} resources are allowed."),
        ));
    }
    ids.into_iter()
        .map(|(_, id)| secret_ref_value(c, "ResourceId", id))
        .collect()
}

/// Features of the real service that coffer does not have are refused, never ignored.
pub(crate) fn refuse_unsupported(c: &Call, names: &[&str]) -> Result<(), ApiError> {
    for name in names {
        if c.params.optional(name).is_some() {
            return Err(ApiError::invalid(
                name,
                "This server does not support this parameter; leave it out.",
            ));
        }
    }
    Ok(())
}

/// The secret types this server creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestedType {
    Generic,
    Rds,
}

/// Generic and Rds secrets are supported; every other type is refused by name rather than
/// silently stored as Generic.
fn requested_type(c: &Call) -> Result<RequestedType, ApiError> {
    match c.params.optional("SecretType") {
        None => Ok(RequestedType::Generic),
        Some(t) if t.eq_ignore_ascii_case("Generic") => Ok(RequestedType::Generic),
        Some(t) if t.eq_ignore_ascii_case("Rds") => Ok(RequestedType::Rds),
        Some(t) => {
            let known = ["Redis", "RAMCredentials", "ECS", "PolarDB"];
            let why = if known.iter().any(|k| k.eq_ignore_ascii_case(t)) {
                format!(
                    "The secret type {t:?} is not supported by this server; Generic and Rds are."
                )
            } else {
                format!("The secret type {t:?} is unknown; Generic and Rds are supported.")
            };
            Err(ApiError::invalid("SecretType", why))
        }
    }
}

/// The parts of CreateSecret that every secret type shares, checked before the type decides
/// which operation module creates the secret.
pub(crate) struct NewSecret {
    pub name: String,
    pub version_id: String,
    pub requested: RequestedType,
    pub description: String,
    pub tags: Vec<Tag>,
    /// The `EncryptionKeyId`, named by the id the permission judged it by.
    pub key: Option<String>,
}

/// Reads CreateSecret's shared parameters in the order errors are reported: the version id,
/// the type, then the description. `name` and `tags` were checked with the operation.
pub(crate) fn new_secret(
    c: &Call,
    name: String,
    tags: Vec<Tag>,
    key: Option<String>,
) -> Result<NewSecret, ApiError> {
    let version_id = c.params.get("VersionId").unwrap_or("");
    params::version_id("VersionId", version_id)?;
    let requested = requested_type(c)?;
    let description = c.params.get("Description").unwrap_or("");
    params::description("Description", description)?;
    Ok(NewSecret {
        name,
        version_id: version_id.to_string(),
        requested,
        description: description.to_string(),
        tags,
        key,
    })
}

/// The optional `EncryptionKeyId` of a new secret, checked. The key used is the one the
/// permission judged: `new.key`, the same reference named by its id.
pub(crate) fn encryption_key(c: &Call, new: &NewSecret) -> Result<Option<String>, ApiError> {
    let given = c
        .params
        .optional("EncryptionKeyId")
        .map(|k| key_ref(c, k))
        .transpose()?;
    Ok(given.and(new.key.clone()))
}

/// The optional `Policy` of a new secret.
pub(crate) fn initial_policy(c: &Call) -> Result<Option<String>, ApiError> {
    c.params
        .optional("Policy")
        .map(|p| params::policy_document("Policy", p))
        .transpose()
}
