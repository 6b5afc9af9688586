//! The request around an operation: whether a request speaks this API, its SigV4 checks, and
//! the [`Call`] every operation runs with. Imports no operation module.
//!
//! The protocol (AWS's JSON 1.1, as botocore's `JSONSerializer` speaks it): `POST /` with
//! `X-Amz-Target: secretsmanager.<Operation>`, `Content-Type: application/x-amz-json-1.1`
//! and the input as a JSON object, signed with SigV4 for the service `secretsmanager`.

use std::sync::Arc;

use coffer_auth::sigv4::{SigV4Request, SKEW_WINDOW_SECS};
use coffer_core::service::AuthenticatedKey;
use coffer_core::{RegionMap, Scope, Service};

use crate::errors::{auth_error, unrecognized_client, ApiError};
use crate::params::Params;

/// The signing name of Secrets Manager, the service of every credential scope it accepts.
pub const SIGNING_NAME: &str = "secretsmanager";
/// The `X-Amz-Target` prefix: the model's `targetPrefix`.
pub const TARGET_PREFIX: &str = "secretsmanager.";

/// The request as read, before its signature is checked.
pub struct Signed {
    pub sig: SigV4Request,
    /// The operation named by `X-Amz-Target` after the prefix, when the target has the
    /// prefix; checked against the model once the caller is known.
    pub target: Option<String>,
}

/// What every operation runs with besides its own typed parameters.
pub struct Call {
    pub service: Arc<Service>,
    pub params: Params,
    pub scope: Scope,
    /// The region of the credential scope, as the client wrote it: ARNs show it.
    pub region_id: String,
    pub regions: Arc<RegionMap>,
    /// The caller account's 12-digit number, as ARNs show it.
    pub account_number: String,
    /// The most secrets a create may leave in the scope (the `--limits` profile).
    pub max_secrets: Option<u64>,
    /// Who signed the request: an operation that reaches secrets it did not name (a batch read
    /// by filters) authorizes each one it finds for this caller.
    pub caller: AuthenticatedKey,
}

impl Call {
    /// The ARN of the secret `name` whose random suffix is `suffix`.
    pub fn arn(&self, name: &str, suffix: &str) -> String {
        crate::arn::secret_arn(&self.region_id, &self.account_number, name, suffix)
    }
}

/// A request at `/` with an `X-Amz-Target` header, or one whose body is declared as AWS JSON
/// 1.1: whatever its target, AWS's error format is the one its client reads.
pub fn speaks_aws(path: &str, headers: &[(String, String)]) -> bool {
    path == "/"
        && headers.iter().any(|(k, v)| {
            k == "x-amz-target"
                || (k == "content-type" && v.trim().starts_with("application/x-amz-json-"))
        })
}

/// The operation name of an `X-Amz-Target` value, if it addresses Secrets Manager.
pub fn target_operation(target: &str) -> Option<&str> {
    target.strip_prefix(TARGET_PREFIX)
}

/// AWS answers a request without any signature this way.
pub fn missing_token() -> ApiError {
    ApiError::new(
        "MissingAuthenticationTokenException",
        400,
        "Missing Authentication Token",
    )
}

/// Clock window, token, key, signature, enabled key, unsigned body, in that order.
pub async fn authenticate(
    service: &Service,
    signed: &Signed,
    body_empty: bool,
) -> Result<Arc<AuthenticatedKey>, ApiError> {
    let sig = &signed.sig;
    if sig.service != SIGNING_NAME {
        return Err(ApiError::new(
            "InvalidSignatureException",
            400,
            format!("Credential should be scoped to correct service: '{SIGNING_NAME}'. "),
        ));
    }
    let now = service.now().as_secs();
    if !coffer_auth::skew::within_window(sig.timestamp, now, SKEW_WINDOW_SECS) {
        let fmt = coffer_auth::huawei::format_sdk_date;
        let message = if sig.timestamp < now {
            format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                fmt(sig.timestamp),
                fmt(now - SKEW_WINDOW_SECS),
                fmt(now)
            )
        } else {
            format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                fmt(sig.timestamp),
                fmt(now + SKEW_WINDOW_SECS),
                fmt(now)
            )
        };
        return Err(ApiError::new("InvalidSignatureException", 400, message));
    }
    // coffer issues no temporary credentials, so no session token can be one of ours.
    if sig.security_token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::new(
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid: this server issues no \
             temporary credentials (X-Amz-Security-Token); sign with an access key made by \
             `coffer admin`.",
        ));
    }
    let key = match service.access_key(&sig.access_key_id).await {
        Ok(k) => k,
        Err(coffer_core::Error::NotFound { .. }) => return Err(unrecognized_client()),
        Err(e) => return Err(e.into()),
    };
    sig.verify(&key.secret).map_err(auth_error)?;
    if !key.enabled {
        return Err(unrecognized_client());
    }
    // With UNSIGNED-PAYLOAD nothing binds the input to the signature.
    if sig.unsigned_payload() && !body_empty {
        return Err(ApiError::new(
            "InvalidSignatureException",
            400,
            "The request body must be signed: X-Amz-Content-SHA256: UNSIGNED-PAYLOAD is \
             accepted only with an empty body.",
        ));
    }
    Ok(key)
}
