//! The Alibaba Cloud KMS Secrets Manager dialect (API version 2016-01-20).
//!
//! A request is authenticated (RPC v1 HMAC-SHA1 or ACS3-HMAC-SHA256, see `coffer-auth`),
//! its action is looked up, its parameters are checked against Alibaba's rules, and the
//! operation runs on the neutral [`Service`]. Results and errors are written the way Alibaba
//! writes them (reference: `alibaba.md`).

mod access;
mod error;
mod keys;
mod managed;
mod ops;
mod params;
mod render;

use std::sync::Arc;

use coffer_auth::alibaba::AlibabaRequest;
use coffer_auth::nonce::NonceCache;
use coffer_auth::{AuthError, RequestParts};
use coffer_core::{AuditFacts, RegionMap, Scope, Service};

pub use error::ApiError;
use params::Params;
pub use render::Format;
use render::Node;

/// The API version this dialect speaks.
pub const API_VERSION: &str = "2016-01-20";
/// Requests more than this far from the server's clock are refused (both directions).
const CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Region id echoed in ARNs when a request names none (ACS3 requests usually do not).
pub const DEFAULT_REGION_ID: &str = "cn-hangzhou";

/// A response ready for the HTTP layer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub audit: AuditFacts,
}

pub struct Alibaba {
    service: Arc<Service>,
    regions: RegionMap,
    nonces: NonceCache,
    default_region_id: String,
}

/// What an operation sees of the request: who calls, where, with which parameters.
pub(crate) struct Call<'a> {
    pub service: &'a Service,
    pub params: Params,
    pub scope: Scope,
    /// The client's region id, echoed in ARNs.
    pub region_id: String,
    pub regions: &'a RegionMap,
}

/// Whether a request is addressed to this dialect: an `x-acs-action` header (ACS3), or an
/// `Action` parameter (RPC v1). Any `Action` on `/` counts, whatever its `Version`, so that
/// a wrong or missing version gets Alibaba's own error rather than a generic 404. Dialects that
/// also use an `Action` parameter (Tencent's form signature) are dispatched before this one.
pub fn matches(headers: &[(String, String)], raw_query: &str, form_body: Option<&[u8]>) -> bool {
    if headers.iter().any(|(k, _)| k == "x-acs-action") {
        return true;
    }
    let has_action = |b: &[u8]| form_urlencoded::parse(b).any(|(k, _)| k == "Action");
    has_action(raw_query.as_bytes()) || form_body.is_some_and(has_action)
}

impl Alibaba {
    pub fn new(service: Arc<Service>, regions: RegionMap) -> Self {
        Self {
            service,
            regions,
            // A nonce must be remembered as long as a request carrying it could still pass the clock
            // check: from 15 minutes before to 15 minutes after its timestamp.
            nonces: NonceCache::new(std::time::Duration::from_secs(2 * CLOCK_SKEW_SECS as u64)),
            default_region_id: DEFAULT_REGION_ID.to_string(),
        }
    }

    /// Handles one request. `host` is the Host header (echoed as `HostId` in errors).
    pub async fn handle(&self, req: &RequestParts<'_>, request_id: &str, host: &str) -> Response {
        let format = requested_format(req);
        let mut audit = AuditFacts::default();
        let (status, body) = match self.run(req, format, &mut audit).await {
            Ok(fields) => {
                let mut fields = fields;
                fields.push(("RequestId", Node::str(request_id)));
                audit.result = "OK".into();
                (200, render::render(format, "KMS", &fields))
            }
            Err(e) => {
                tracing::info!(code = e.code, status = e.status, "alibaba request refused");
                audit.result = e.code.to_string();
                (e.status, e.body(format, request_id, host))
            }
        };
        Response {
            status,
            content_type: format.content_type(),
            body,
            audit,
        }
    }

    async fn run(
        &self,
        req: &RequestParts<'_>,
        format: Format,
        audit: &mut AuditFacts,
    ) -> Result<Vec<(&'static str, Node)>, ApiError> {
        let parsed = coffer_auth::alibaba::parse(req).map_err(auth_error)?;
        audit.access_key_id = Some(parsed.access_key_id.clone());
        audit.operation = parsed.action.clone().unwrap_or_default();
        let caller = self.authenticate(&parsed).await?;
        audit.account = Some(caller.account.0);
        if parsed.version.as_deref() != Some(API_VERSION) {
            return Err(match parsed.version.as_deref() {
                None | Some("") => ApiError::missing("Version"),
                Some(v) => ApiError::new(
                    400,
                    "InvalidVersion",
                    format!("The API version {v:?} is not supported; use {API_VERSION}."),
                ),
            });
        }
        let action = match parsed.action.as_deref() {
            None | Some("") => return Err(ApiError::missing("Action")),
            Some(a) => a,
        };
        // The first SDK generation repeats Action in an unsigned header; trust the signed
        // parameter, but refuse a request whose two copies disagree.
        if let Some(header) = req.single_header("x-acs-action").ok().flatten() {
            if header != action {
                return Err(ApiError::invalid(
                    "Action",
                    format!(
                        "The x-acs-action header {header:?} differs from the Action parameter."
                    ),
                ));
            }
        }
        let params = Params::new(&parsed.params);
        let region_id = params
            .optional("RegionId")
            .unwrap_or(&self.default_region_id)
            .to_string();
        let scope = Scope {
            account: caller.account,
            region: self
                .regions
                .resolve(params.optional("RegionId"))
                .to_string(),
        };
        let call = Call {
            service: &self.service,
            params,
            scope,
            region_id,
            regions: &self.regions,
        };
        tracing::debug!(action, ?format, "alibaba operation");
        if let Some((act, targets)) = access::permission(action, &call)? {
            audit.action = Some(act);
            // Named before the check, so that a denial is audited with what it refused.
            audit.resource = Some(
                targets
                    .iter()
                    .map(|t| t.resource(&call.scope))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            for t in &targets {
                self.service.authorize(&caller, act, &call.scope, t).await?;
            }
        }
        ops::dispatch(action, &call).await
    }

    async fn authenticate(
        &self,
        parsed: &AlibabaRequest,
    ) -> Result<Arc<coffer_core::service::AuthenticatedKey>, ApiError> {
        // coffer issues no temporary (STS) credentials, so a request carrying a security
        // token cannot be one of ours; Alibaba reports unknown and expired tokens this way.
        if parsed.security_token.is_some() {
            return Err(ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "The AccessKey ID provided does not exist in our records.",
            ));
        }
        let key = self
            .service
            .access_key(&parsed.access_key_id)
            .await
            .map_err(ApiError::from)?;
        parsed.verify(&key.secret).map_err(|e| match e {
            // The string to sign holds every parameter. Echoing it lets the first SDK
            // generation tell a wrong secret from a tampered request, but never when one of
            // the parameters is a secret value: errors carry no values.
            AuthError::SignatureMismatch { .. } if parsed.param("SecretData").is_some() => {
                auth_error(AuthError::SignatureMismatch {
                    string_to_sign: "(not shown because the request carries a secret value)".into(),
                })
            }
            other => auth_error(other),
        })?;
        if !key.enabled {
            return Err(ApiError::new(
                403,
                "Forbidden.AccessKey",
                "This AccessKey is not enabled.",
            ));
        }
        let now = self.service.now().as_secs();
        if !coffer_auth::skew::within_window(parsed.timestamp, now, CLOCK_SKEW_SECS) {
            return Err(ApiError::new(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        if !self
            .nonces
            .check_and_insert(&parsed.access_key_id, &parsed.nonce, now)
        {
            return Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok(key)
    }
}

/// `Format=XML` (RPC v1, any case) asks for XML; everything else is JSON.
fn requested_format(req: &RequestParts<'_>) -> Format {
    let form = is_form(req).then_some(req.body);
    let in_pairs = |b: &[u8]| {
        form_urlencoded::parse(b).any(|(k, v)| k == "Format" && v.eq_ignore_ascii_case("xml"))
    };
    if in_pairs(req.raw_query.as_bytes()) || form.is_some_and(in_pairs) {
        Format::Xml
    } else {
        Format::Json
    }
}

fn is_form(req: &RequestParts<'_>) -> bool {
    req.headers.iter().any(|(k, v)| {
        k == "content-type"
            && v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    })
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { string_to_sign } => ApiError::new(
            400,
            "SignatureDoesNotMatch",
            // The first SDK generation splits this message on ':' and compares the second part
            // with its own string to sign, so the text before it must contain no colon.
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ),
        AuthError::BadTimestampFormat => ApiError::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ),
        AuthError::ContentHashMismatch => ApiError::new(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. The x-acs-content-sha256 header does not match the body.",
        ),
        AuthError::BadEncoding(what) => ApiError::new(
            400,
            "ParseRequestParameterException",
            format!("Server parse parameters exception: {what}"),
        ),
        AuthError::DuplicateParameter(name) => {
            ApiError::invalid(&name, "It is given more than once.")
        }
        other => ApiError::new(
            400,
            "IncompleteSignature",
            format!("The request signature does not conform to Alibaba Cloud standards: {other}"),
        ),
    }
}
