//! The request around an operation: whether a request speaks this API, its signature checks,
//! and the [`Call`] every operation runs with (scope, parameters, region), with the helpers
//! that read the parameters naming a target. Imports no operation module.

use std::net::SocketAddr;
use std::sync::Arc;

use coffer_auth::nonce::Admission;
use coffer_auth::replay::ReplayGuard;
use coffer_auth::tencent::{Scheme, TencentRequest};
use coffer_auth::AuthError;
use coffer_core::service::AuthenticatedKey;
use coffer_core::{RegionMap, Scope, Service, Tag};
use serde_json::Value;

use crate::errors::{auth_error, ApiError};
use crate::params::{self, Params};

/// The Secrets Manager API version.
pub const API_VERSION: &str = "2019-09-23";
/// The KMS API version; KMS shares SSM's endpoint and signature.
pub const KMS_VERSION: &str = "2019-01-18";
/// Requests whose timestamp is further than this from the server clock are refused.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// Region reported when a request names none.
pub const DEFAULT_REGION_ID: &str = "ap-guangzhou";

/// What every operation runs with besides its own typed parameters.
pub struct Call {
    pub service: Arc<Service>,
    /// The action's parameters; those naming a target are already parsed into the operation.
    pub params: Params,
    pub scope: Scope,
    /// The region id as the client sent it (or the default), echoed in answers.
    pub region_id: String,
    pub regions: Arc<RegionMap>,
    /// The most secrets a create may leave in the scope, when the server's `--limits`
    /// profile gives Tencent a quota of its own.
    pub max_secrets: Option<u64>,
}

impl Call {
    /// GetRegions: the region ids mapped with `--region`, or, when every id maps to one
    /// region, the caller's own.
    pub fn region_ids(&self) -> Vec<String> {
        let ids = self.regions.cloud_ids();
        if ids.is_empty() {
            vec![self.region_id.clone()]
        } else {
            ids
        }
    }
}

/// Whether a request speaks this API: an `X-TC-Action` header (TC3), or an `Action` field with
/// one of this endpoint's versions in the query or form body (the legacy signature).
pub fn speaks_tencent(
    headers: &[(String, String)],
    raw_query: &str,
    form_body: Option<&[u8]>,
) -> bool {
    if headers.iter().any(|(k, _)| k == "x-tc-action") {
        return true;
    }
    let legacy = |b: &[u8]| {
        form_urlencoded::parse(b)
            .any(|(k, v)| k == "Version" && (v == API_VERSION || v == KMS_VERSION))
            && form_urlencoded::parse(b).any(|(k, _)| k == "Action")
    };
    legacy(raw_query.as_bytes()) || form_body.is_some_and(legacy)
}

/// What the replay check needs besides the signed request.
pub struct Replay<'a> {
    pub guard: &'a dyn ReplayGuard,
    /// The client's socket address, when known (see [`TencentRequest::admit`]).
    pub peer: Option<SocketAddr>,
    /// Whether the action only reads (`operation::reads_only`).
    pub reads_only: bool,
    /// Whether the request had no body (an unsigned payload is refused otherwise).
    pub body_empty: bool,
}

/// Clock window, key, signature, enabled key, token, unsigned body, and replay (the nonce of
/// the legacy signature, the signature itself for TC3), in that order: the order decides which
/// code a request with several faults gets.
pub async fn authenticate(
    service: &Service,
    replay: &Replay<'_>,
    parsed: &TencentRequest,
) -> Result<Arc<AuthenticatedKey>, ApiError> {
    let now = service.now().as_secs();
    if !coffer_auth::skew::within_window(parsed.timestamp, now, CLOCK_SKEW_SECS) {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            "The request timestamp is more than 300 seconds away from the server time.",
        ));
    }
    let not_found = || {
        ApiError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found or is disabled.",
        )
    };
    let key = match service.access_key(&parsed.secret_id).await {
        Ok(k) => k,
        Err(coffer_core::Error::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    parsed.verify(&key.secret).map_err(auth_error)?;
    if !key.enabled {
        return Err(not_found());
    }
    // coffer issues no temporary credentials, so no token can be one of ours.
    if parsed.token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::new(
            "AuthFailure.TokenFailure",
            "Temporary credentials (tokens) are not issued by this server.",
        ));
    }
    // With UNSIGNED-PAYLOAD nothing binds the parameters to the signature: anyone relaying
    // the request could send other ones (the SDK's `unsignedPayload` option does this).
    if parsed.unsigned_payload && !replay.body_empty {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The request body must be signed: X-TC-Content-SHA256: UNSIGNED-PAYLOAD is accepted only with an empty body.",
        ));
    }
    let admission = parsed
        .admit(replay.guard, replay.peer, replay.reads_only, now)
        .await
        .map_err(|e| coffer_core::Error::Unavailable {
            reason: e.to_string(),
        })?;
    match admission {
        Admission::Fresh | Admission::Again => Ok(key),
        Admission::Replay if parsed.scheme == Scheme::Tc3 => Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "This signature was already used within the signature window for another action, version or region; sign the request again.",
        )),
        Admission::Replay => Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The Nonce was already used within the signature window.",
        )),
        // The request is authentic; the server cannot remember one more request until older
        // ones expire. The SDK's standard retryer backs off and retries on this code.
        Admission::Full => Err(ApiError::new(
            "RequestLimitExceeded",
            "Too many requests within the signature window; retry later.",
        )),
        // The server restarted after a stop that lost its records: a request signed before it
        // started may have been used already. Its timestamp is what is refused, so the client
        // gets the code it has for a stale timestamp and signs again.
        Admission::SignedBeforeStart(from) => Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "The signature's timestamp is before this server's restart after an unclean stop; requests signed at or after {from} (X-TC-Timestamp, Unix seconds) are accepted. Sign the request again."
            ),
        )),
    }
}

/// What an authenticated request asks for before its action is looked up: the API (by its
/// version), the action's wire name, and the call context.
pub struct Resolved {
    /// [`API_VERSION`] or [`KMS_VERSION`].
    pub version: &'static str,
    pub action: String,
    pub call: Call,
}

/// The checks between authentication and the action itself: an action and a known version,
/// a TC3 scope naming the service of that version, parameters that decode, and the scope the
/// region resolves to.
pub fn resolve(
    service: &Arc<Service>,
    regions: &Arc<RegionMap>,
    parsed: TencentRequest,
    caller: &AuthenticatedKey,
) -> Result<Resolved, ApiError> {
    let action = match parsed.action.as_deref() {
        None | Some("") => return Err(ApiError::missing("Action")),
        Some(a) => a.to_string(),
    };
    // SSM and KMS share the endpoint; the version says which, and a TC3 signature's scope
    // that names an API (`ssm`, `kms`) must name that one. A scope that is the Host's first
    // label (the Node.js SDK takes it from the endpoint, `ssm` at `ssm.example:7080` even for
    // KMS) names no API, so there is nothing to compare (see `TencentRequest::verify`).
    let (version, wanted, label) = match parsed.version.as_deref() {
        Some(API_VERSION) => (API_VERSION, coffer_auth::tencent::Service::Ssm, "SSM"),
        Some(KMS_VERSION) => (KMS_VERSION, coffer_auth::tencent::Service::Kms, "KMS"),
        None | Some("") => return Err(ApiError::missing("Version")),
        Some(v) => {
            return Err(ApiError::new(
                "NoSuchVersion",
                format!(
                "The version {v:?} does not exist; SSM speaks {API_VERSION} and KMS {KMS_VERSION}."
            ),
            ))
        }
    };
    if parsed.api_named_by_scope().is_some_and(|s| s != wanted) {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            format!(
                "The request is signed for another service; sign {label} requests for {:?}.",
                wanted.as_str()
            ),
        ));
    }
    let fields = parsed.params().map_err(|e| match e {
        AuthError::BadBody(why) => ApiError::invalid("body", why),
        other => auth_error(other),
    })?;
    let params = if parsed.params_are_typed() {
        Params::new(fields)?
    } else {
        Params::from_text(fields)?
    };
    let region_id = parsed
        .region
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_REGION_ID.to_string());
    let scope = Scope {
        account: caller.account,
        region: regions.resolve(Some(&region_id)).to_string(),
    };
    Ok(Resolved {
        version,
        action,
        call: Call {
            service: service.clone(),
            params,
            scope,
            region_id,
            regions: regions.clone(),
            max_secrets: None,
        },
    })
}

/// `SecretName`, required and valid.
pub fn secret_name(p: &Params) -> Result<String, ApiError> {
    let n = p.required_str("SecretName")?;
    params::secret_name("SecretName", n)?;
    Ok(n.to_string())
}

/// `KeyId`: a key id, or `alias/<name>` as the other APIs write it; the key is the resource
/// the request names it by.
pub fn key_id(p: &Params) -> Result<String, ApiError> {
    Ok(p.required_str("KeyId")?.to_string())
}

/// `Tags` of a create: at most [`params::MAX_TAGS`], keys unique.
pub fn tags(p: &Params) -> Result<Vec<Tag>, ApiError> {
    let Some(items) = p.array("Tags")? else {
        return Ok(vec![]);
    };
    if items.len() > params::MAX_TAGS {
        return Err(ApiError::invalid_value(
            "Tags",
            format!("at most {} tags are allowed", params::MAX_TAGS),
        ));
    }
    let mut out: Vec<Tag> = vec![];
    for item in items {
        let bad = || {
            ApiError::invalid(
                "Tags",
                "each tag must be {\"TagKey\": ..., \"TagValue\": ...}",
            )
        };
        let o = item.as_object().ok_or_else(bad)?;
        let key = o.get("TagKey").and_then(Value::as_str).ok_or_else(bad)?;
        let value = match o.get("TagValue") {
            None | Some(Value::Null) => "",
            Some(v) => v.as_str().ok_or_else(bad)?,
        };
        if key.is_empty() || key.chars().count() > params::MAX_TAG_KEY_LEN {
            return Err(ApiError::invalid_value(
                "Tags.TagKey",
                format!("a tag key has 1 to {} characters", params::MAX_TAG_KEY_LEN),
            ));
        }
        if value.chars().count() > params::MAX_TAG_VALUE_LEN {
            return Err(ApiError::invalid_value(
                "Tags.TagValue",
                format!(
                    "a tag value has at most {} characters",
                    params::MAX_TAG_VALUE_LEN
                ),
            ));
        }
        if out.iter().any(|t| t.key == key) {
            return Err(ApiError::new(
                "InvalidParameterValue.TagKeysDuplicated",
                format!("The tag key {key:?} appears more than once in Tags."),
            ));
        }
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(out)
}
