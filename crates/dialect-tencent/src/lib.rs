//! The Tencent Cloud Secrets Manager dialect (SSM API 3.0, version 2019-09-23).
//!
//! Requests are authenticated with TC3-HMAC-SHA256 (or the legacy HmacSHA1/HmacSHA256 form
//! signature), mapped onto the neutral [`Service`], and answered the way Tencent answers:
//! always HTTP 200, `{"Response": {...}}`, errors inside `Response.Error`
//! (reference: `tencent.md`).
//!
//! Names map to the core as follows: Tencent has no stages on its wire, so PutSecretValue
//! moves the core's `Current` stage to the new version (the previous current becomes
//! `Previous`), exactly as Alibaba's PutSecretValue does; `Enabled`/`Disabled`/`PendingDelete`
//! are the core's secret states; Tencent's `SSM_Current` version id reads the `Current` stage
//! when no version has that id.

mod access;
mod error;
mod kms;
mod ops;
mod params;
mod product;

use std::sync::Arc;

use coffer_auth::nonce::NonceCache;
use coffer_auth::tencent::{Scheme, TencentRequest};
use coffer_auth::{AuthError, RequestParts};
use coffer_core::{AuditFacts, RegionMap, Scope, Service};
use serde_json::{json, Map, Value};

pub use error::ApiError;
use params::Params;

pub const API_VERSION: &str = "2019-09-23";
/// Requests whose timestamp is further than this from the server clock are refused.
const CLOCK_SKEW_SECS: i64 = 300;
/// Region reported when a request names none.
pub const DEFAULT_REGION_ID: &str = "ap-guangzhou";
pub const CONTENT_TYPE: &str = "application/json";

pub struct Tencent {
    service: Arc<Service>,
    regions: RegionMap,
    /// Only the legacy signature carries a nonce; TC3 requests rely on the short window.
    nonces: NonceCache,
}

pub(crate) struct Call<'a> {
    pub service: &'a Arc<Service>,
    pub params: Params,
    pub scope: Scope,
    pub region_id: String,
    pub regions: &'a RegionMap,
}

impl Call<'_> {
    /// GetRegions: the region ids mapped with `--region`, or, when every id maps to one
    /// region, the caller's own.
    fn region_ids(&self) -> Vec<String> {
        let ids = self.regions.cloud_ids();
        if ids.is_empty() {
            vec![self.region_id.clone()]
        } else {
            ids
        }
    }
}

/// Whether a request speaks this API: an `X-TC-Action` header (TC3), or an `Action` field with
/// this API's version in the query or form body (the legacy signature).
pub fn matches(headers: &[(String, String)], raw_query: &str, form_body: Option<&[u8]>) -> bool {
    if headers.iter().any(|(k, _)| k == "x-tc-action") {
        return true;
    }
    let legacy = |b: &[u8]| {
        form_urlencoded::parse(b)
            .any(|(k, v)| k == "Version" && (v == API_VERSION || v == kms::KMS_VERSION))
            && form_urlencoded::parse(b).any(|(k, _)| k == "Action")
    };
    legacy(raw_query.as_bytes()) || form_body.is_some_and(legacy)
}

impl Tencent {
    pub fn new(service: Arc<Service>, regions: RegionMap) -> Self {
        Self {
            service,
            regions,
            nonces: NonceCache::new(std::time::Duration::from_secs(2 * CLOCK_SKEW_SECS as u64)),
        }
    }

    /// Handles one request; the answer is always HTTP 200 with a JSON body. The facts are
    /// for the request's audit entry.
    pub async fn handle(&self, req: &RequestParts<'_>, request_id: &str) -> (Vec<u8>, AuditFacts) {
        let mut audit = AuditFacts::default();
        let response = match self.run(req, &mut audit).await {
            Ok(mut fields) => {
                fields.insert("RequestId".into(), Value::String(request_id.into()));
                audit.result = "OK".into();
                Value::Object(fields)
            }
            Err(e) => {
                tracing::info!(code = e.code, "tencent request refused");
                audit.result = e.code.to_string();
                json!({
                    "Error": { "Code": e.code, "Message": e.message },
                    "RequestId": request_id,
                })
            }
        };
        let body = serde_json::to_vec(&json!({ "Response": response })).unwrap_or_default();
        (body, audit)
    }

    async fn run(
        &self,
        req: &RequestParts<'_>,
        audit: &mut AuditFacts,
    ) -> Result<Map<String, Value>, ApiError> {
        let parsed = coffer_auth::tencent::parse(req).map_err(auth_error)?;
        audit.access_key_id = Some(parsed.secret_id.clone());
        audit.operation = parsed.action.clone().unwrap_or_default();
        let key = self.authenticate(&parsed).await?;
        audit.account = Some(key.account.0);
        let action = match parsed.action.as_deref() {
            None | Some("") => return Err(ApiError::missing("Action")),
            Some(a) => a,
        };
        // SSM and KMS share the endpoint; the version says which, and a TC3 signature's
        // scope must name the same service.
        let kms = match parsed.version.as_deref() {
            Some(API_VERSION) => false,
            Some(kms::KMS_VERSION) => true,
            None | Some("") => return Err(ApiError::missing("Version")),
            Some(v) => {
                return Err(ApiError::new(
                    "NoSuchVersion",
                    format!(
                        "The version {v:?} does not exist; SSM speaks {API_VERSION} and KMS {}.",
                        kms::KMS_VERSION
                    ),
                ))
            }
        };
        let wanted = if kms {
            coffer_auth::tencent::Service::Kms
        } else {
            coffer_auth::tencent::Service::Ssm
        };
        if parsed.scheme == Scheme::Tc3 && parsed.service() != Some(wanted) {
            return Err(ApiError::new(
                "AuthFailure.SignatureFailure",
                format!(
                    "The request is signed for another service; sign {} requests for {:?}.",
                    if kms { "KMS" } else { "SSM" },
                    wanted.as_str()
                ),
            ));
        }
        let params = Params::new(parsed.params().map_err(|e| match e {
            AuthError::BadBody(why) => ApiError::invalid("body", why),
            other => auth_error(other),
        })?)?;
        let region_id = parsed
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION_ID.to_string());
        let scope = Scope {
            account: key.account,
            region: self.regions.resolve(Some(&region_id)).to_string(),
        };
        let call = Call {
            service: &self.service,
            params,
            scope,
            region_id,
            regions: &self.regions,
        };
        let permission = if kms {
            access::kms_permission(action, &call)?
        } else {
            access::permission(action, &call)?
        };
        if let Some((act, target)) = permission {
            audit.action = Some(act);
            // Named before the check, so that a denial is audited with what it refused.
            audit.resource = Some(target.resource(&call.scope));
            self.service
                .authorize(&key, act, &call.scope, &target)
                .await?;
        }
        if kms {
            kms::dispatch(action, &call).await
        } else {
            ops::dispatch(action, &call).await
        }
    }

    async fn authenticate(
        &self,
        parsed: &TencentRequest,
    ) -> Result<Arc<coffer_core::service::AuthenticatedKey>, ApiError> {
        let now = self.service.now().as_secs();
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
        let key = match self.service.access_key(&parsed.secret_id).await {
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
        if parsed.scheme != Scheme::Tc3 {
            let nonce = parsed.nonce.as_deref().unwrap_or("");
            if !self.nonces.check_and_insert(&parsed.secret_id, nonce, now) {
                return Err(ApiError::new(
                    "AuthFailure.SignatureFailure",
                    "The Nonce was already used within the signature window.",
                ));
            }
        }
        Ok(key)
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } | AuthError::ContentHashMismatch => ApiError::new(
            "AuthFailure.SignatureFailure",
            "The request signature does not match the one computed by the server.",
        ),
        other => ApiError::new(
            "AuthFailure.InvalidAuthorization",
            format!("The Authorization of the request is invalid: {other}"),
        ),
    }
}
