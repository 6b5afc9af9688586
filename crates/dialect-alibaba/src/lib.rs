//! The Alibaba Cloud KMS Secrets Manager dialect (API version 2016-01-20).
//!
//! A request is authenticated (RPC v1 HMAC-SHA1 or ACS3-HMAC-SHA256, see `coffer-auth`),
//! its action is looked up, its parameters are checked against Alibaba's rules, and the
//! operation runs on the neutral [`Service`]. Results and errors are written the way Alibaba
//! writes them (Alibaba's KMS API reference,
//! https://www.alibabacloud.com/help/en/kms/developer-reference/api-kms-2016-01-20-overview).
//! The steps run in `coffer_api::handle`; this file only says what each step is for Alibaba.

mod errors;
mod keys;
pub mod limits;
mod managed;
mod operation;
mod params;
mod render;
mod request;
mod secrets;

use std::sync::Arc;
use std::time::Duration;

use coffer_api::{
    AuditFacts, AuthenticatedKey, Dialect, HttpRequest, Permission, Refusal, Reply, Scope,
};
use coffer_auth::alibaba::AlibabaRequest;
use coffer_auth::nonce::Admission;
use coffer_auth::replay::{
    GuardState, MemoryReplayGuard, ReplayGuard, ReplayLedger, ReplayStart, SharedReplayGuard,
};
use coffer_auth::AuthError;
use coffer_core::{RegionMap, Service};

pub use errors::ApiError;
pub use operation::{Operation, OperationKind};
pub use render::Format;
use render::{Fields, Node};
use request::Call;

/// The API version this dialect speaks.
pub const API_VERSION: &str = "2016-01-20";
/// Requests more than this far from the server's clock are refused (both directions).
const CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Region id echoed in ARNs when a request names none (ACS3 requests usually do not).
pub const DEFAULT_REGION_ID: &str = "cn-hangzhou";

pub struct Alibaba {
    service: Arc<Service>,
    regions: Arc<RegionMap>,
    /// Nonces seen within their window: this process's own, or every node's.
    replay: Arc<dyn ReplayGuard>,
    default_region_id: String,
    /// Secrets one account may hold in one region through this API (`None`: only the
    /// server's own ceiling).
    max_secrets: Option<u64>,
}

/// A nonce must be remembered as long as a request carrying it could still pass the clock
/// check: from 15 minutes before to 15 minutes after its timestamp.
const NONCE_WINDOW: Duration = Duration::from_secs(2 * CLOCK_SKEW_SECS as u64);

impl Alibaba {
    pub fn new(service: Arc<Service>, regions: RegionMap) -> Self {
        Self {
            service,
            regions: Arc::new(regions),
            replay: Arc::new(MemoryReplayGuard::new(
                NONCE_WINDOW,
                Duration::ZERO,
                coffer_auth::nonce::DEFAULT_CAPACITY,
            )),
            default_region_id: DEFAULT_REGION_ID.to_string(),
            max_secrets: None,
        }
    }

    /// Refuses a create (`Rejected.LimitExceeded`) that would leave more than `max` secrets in
    /// the caller's region; `None` leaves only the server's own ceiling.
    pub fn with_secret_quota(mut self, max: Option<u64>) -> Self {
        self.max_secrets = max;
        self
    }

    /// Bounds the nonce cache to `entries` live nonces; a request that would need one more is
    /// refused with `429 Rejected.Throttling`.
    pub fn with_replay_capacity(self, entries: usize) -> Self {
        self.with_memory_replay(entries, ReplayStart::Fresh)
    }

    /// Keeps the nonces in this process's memory (at most `entries` live ones), starting from
    /// what the previous process handed over, or refusing what it may have seen (`start`).
    pub fn with_memory_replay(mut self, entries: usize, start: ReplayStart) -> Self {
        self.replay = Arc::new(MemoryReplayGuard::starting(
            NONCE_WINDOW,
            Duration::ZERO,
            entries,
            start,
            self.service.now().as_secs(),
        ));
        self
    }

    /// What a clean stop hands to the next process (`None` for shared records).
    pub fn replay_state(&self) -> Option<GuardState> {
        self.replay.export(self.service.now().as_secs())
    }

    /// Keeps the nonces in `ledger`, which every node of a cluster shares, so that a request
    /// replayed to any node is refused (instead of in this process's memory).
    pub fn with_shared_replay(mut self, ledger: impl ReplayLedger) -> Self {
        self.replay = Arc::new(SharedReplayGuard::new(
            ledger,
            "alibaba",
            NONCE_WINDOW,
            Duration::ZERO,
        ));
        self
    }
}

/// Whether a request is addressed to this dialect: on `/`, an `x-acs-action` header (ACS3), or
/// an `Action` parameter (RPC v1). Any `Action` counts, whatever its `Version`, so that a wrong
/// or missing version gets Alibaba's own error rather than a generic 404. Dialects that also
/// use an `Action` parameter (Tencent's form signature) are asked before this one.
fn recognises(req: &HttpRequest<'_>) -> bool {
    if req.path != "/" {
        return false;
    }
    if req.headers.iter().any(|(k, _)| k == "x-acs-action") {
        return true;
    }
    let has_action = |b: &[u8]| form_urlencoded::parse(b).any(|(k, _)| k == "Action");
    has_action(req.raw_query.as_bytes()) || req.form_body().is_some_and(has_action)
}

impl Dialect for Alibaba {
    const NAME: &'static str = "alibaba";
    type Signed = AlibabaRequest;
    type Call = Call;
    type Operation = Operation;
    type Output = Fields;
    type Error = ApiError;

    fn service(&self) -> &Service {
        &self.service
    }

    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        recognises(req)
    }

    fn parse(
        &self,
        req: &HttpRequest<'_>,
        audit: &mut AuditFacts,
    ) -> Result<AlibabaRequest, ApiError> {
        // Every KMS operation is RPC style, which Alibaba serves on GET and POST only; the
        // method is judged before the signature, as Alibaba's gateway judges it.
        if !matches!(req.method, "GET" | "POST") {
            return Err(errors::unsupported_method(req.method));
        }
        let parsed = coffer_auth::alibaba::parse(&req.parts()).map_err(errors::auth_error)?;
        audit.access_key_id = Some(parsed.access_key_id.clone());
        audit.operation = parsed.action.clone().unwrap_or_default();
        Ok(parsed)
    }

    async fn authenticate(
        &self,
        _req: &HttpRequest<'_>,
        parsed: &AlibabaRequest,
        _audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ApiError> {
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
                errors::auth_error(AuthError::SignatureMismatch {
                    string_to_sign: "(not shown because the request carries a secret value)".into(),
                })
            }
            other => errors::auth_error(other),
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
        let admission = self
            .replay
            .admit_nonce(&parsed.access_key_id, &parsed.nonce, parsed.timestamp, now)
            .await
            .map_err(|e| coffer_core::Error::Unavailable {
                reason: e.to_string(),
            })?;
        match admission {
            Admission::Fresh | Admission::Again => Ok(key),
            Admission::Replay => Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            )),
            // Authentic, but the server cannot remember one more nonce until older ones
            // expire: a throttle (the same answer as any other), which clients back off from
            // and retry, rather than a replay error, which tells them the request was bad.
            Admission::Full => Err(coffer_core::Error::Throttled {
                retry_after_ms: None,
            }
            .into()),
            // The server restarted after a stop that lost its nonces: a request signed before
            // it started may have been used already. The timestamp is what is refused (within
            // the window, but before the server's records begin), so the client's answer is the
            // one it has for a stale timestamp: sign again.
            Admission::SignedBeforeStart(from) => Err(ApiError::new(
                400,
                "InvalidTimeStamp.Expired",
                format!(
                    "Specified time stamp or date value is expired. This server restarted after an unclean stop and accepts only requests signed at or after {} (Timestamp); sign the request again.",
                    coffer_core::Timestamp::from_secs(from).to_iso8601_seconds()
                ),
            )),
        }
    }

    async fn operation(
        &self,
        req: &HttpRequest<'_>,
        parsed: AlibabaRequest,
        caller: &AuthenticatedKey,
    ) -> Result<(Call, Operation), ApiError> {
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
        if let Some(header) = req.parts().single_header("x-acs-action").ok().flatten() {
            if header != action {
                return Err(ApiError::invalid(
                    "Action",
                    format!(
                        "The x-acs-action header {header:?} differs from the Action parameter."
                    ),
                ));
            }
        }
        let mut call = Call::new(
            self.service.clone(),
            self.regions.clone(),
            &parsed.params,
            caller.account,
            &self.default_region_id,
        );
        call.max_secrets = self.max_secrets;
        let format = render::requested_format(req);
        tracing::debug!(action, ?format, "alibaba operation");
        call.format = format;
        if format == Format::Xml {
            // An XML answer could not carry such a character back, and answers echo what
            // requests name: refused before anything runs, so that no change is made whose
            // answer cannot be written. A secret value is not echoed, and may hold anything.
            if let Some((name, c)) = parsed
                .params
                .iter()
                .filter(|(k, _)| k != "SecretData")
                .find_map(|(k, v)| render::unfit_for_xml(v).map(|c| (k, c)))
            {
                return Err(errors::unfit_for_xml(name, c));
            }
        }
        let op = operation::parse(action, &call)?;
        let op = operation::resolve(&call, op).await?;
        let op = operation::resolve_instance(op, &call).await;
        Ok((call, op))
    }

    fn scope(call: &Call) -> &Scope {
        &call.scope
    }

    fn permission(op: &Operation) -> Permission {
        operation::permission(op)
    }

    fn operation_name(op: &Operation) -> &'static str {
        OperationKind::from(op).into()
    }

    fn rate_group(op: &Operation) -> Option<&'static str> {
        limits::rate_group(OperationKind::from(op))
    }

    async fn execute(&self, call: &Call, op: Operation) -> Result<Fields, ApiError> {
        let fields = operation::execute(call, op).await?;
        // XML 1.0 cannot carry some characters at all (most C0 controls), not even as
        // character references, and a secret value, or a description or tag stored through
        // another API, may hold one. Writing it raw would hand the client broken XML, and
        // dropping or replacing it a different secret than the one stored; so the answer is
        // an error that names the field and says to ask for JSON, which carries any text.
        // Only reads get here with such a text (requests are checked before they run).
        if call.format == Format::Xml {
            if let Some((field, c)) = render::first_unfit(&fields) {
                return Err(errors::unfit_for_xml(&field, c));
            }
        }
        Ok(fields)
    }

    fn error_code(error: &ApiError) -> &str {
        error.code
    }

    fn refusal(&self, _req: &HttpRequest<'_>, refusal: Refusal) -> ApiError {
        errors::refusal(refusal)
    }

    /// JSON or XML as the request's `Format` asks, with the server's request id in the body
    /// and in `x-acs-request-id`; errors also echo the `host` header as `HostId`.
    fn render(&self, req: &HttpRequest<'_>, outcome: Result<Fields, ApiError>) -> Reply {
        let format = render::requested_format(req);
        let mut retry_after = None;
        let (status, body) = match outcome {
            Ok(mut fields) => {
                fields.push(("RequestId", Node::str(req.request_id)));
                (200, render::render(format, "KMS", &fields))
            }
            Err(e) => {
                let host = req.header("host").unwrap_or("");
                retry_after = e.retry_after_ms;
                (e.status, e.body(format, req.request_id, host))
            }
        };
        let reply = Reply::new(status, format.content_type(), body)
            .with_header("x-acs-request-id", req.request_id);
        match retry_after {
            Some(ms) => reply.with_header("x-acs-retry-after", ms.max(1).to_string()),
            None => reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> HttpRequest<'a> {
        HttpRequest {
            method: "POST",
            path,
            raw_query: query,
            headers,
            body,
            request_id: "r",
            peer: None,
        }
    }

    fn header(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn requests_on_the_root_with_an_action_are_recognised() {
        assert!(recognises(&req("/", "Action=ListSecrets", &[], b"")));
        assert!(recognises(&req(
            "/",
            "",
            &header("x-acs-action", "ListSecrets"),
            b""
        )));
        let form = header("content-type", "application/x-www-form-urlencoded");
        assert!(recognises(&req("/", "", &form, b"Action=ListSecrets")));
        // A body that is not a form is not read for parameters.
        let json = header("content-type", "application/json");
        assert!(!recognises(&req("/", "", &json, b"Action=ListSecrets")));
        assert!(!recognises(&req("/", "Version=2016-01-20", &[], b"")));
        assert!(!recognises(&req(
            "/v1/secrets",
            "Action=ListSecrets",
            &[],
            b""
        )));
    }
}
