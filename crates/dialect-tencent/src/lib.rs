//! The Tencent Cloud Secrets Manager dialect (SSM API 3.0, version 2019-09-23), with KMS
//! (2019-01-18) on the same endpoint.
//!
//! Requests are authenticated with TC3-HMAC-SHA256 (or the legacy HmacSHA1/HmacSHA256 form
//! signature), mapped onto the neutral [`Service`], and answered the way Tencent answers:
//! always HTTP 200, `{"Response": {...}}`, errors inside `Response.Error`
//! (Tencent's SSM API reference, https://www.tencentcloud.com/document/api/1140).
//!
//! Names map to the core as follows: Tencent has no stages on its wire, so PutSecretValue
//! moves the core's `Current` stage to the new version (the previous current becomes
//! `Previous`), exactly as Alibaba's PutSecretValue does; `Enabled`/`Disabled`/`PendingDelete`
//! are the core's secret states; Tencent's `SSM_Current` version id reads the `Current` stage
//! when no version has that id.
//!
//! Modules: `request` (recognising, authenticating, the `Call` context),
//! `operation` (the [`Operation`] enum, its permissions and dispatch), the operation modules
//! `secrets`, `managed` (database secrets) and `keys` (KMS), and the shared `params`,
//! `errors` and `render`.

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
use coffer_auth::replay::{
    GuardState, MemoryReplayGuard, ReplayGuard, ReplayLedger, ReplayStart, SharedReplayGuard,
};
use coffer_auth::tencent::{TencentRequest, SAME_CLIENT_GRACE};
use coffer_core::{RegionMap, Service};
use serde_json::{Map, Value};

pub use errors::ApiError;
pub use operation::{api_version, wire_name, Operation, OperationKind};
pub use render::CONTENT_TYPE;
pub use request::{API_VERSION, DEFAULT_REGION_ID, KMS_VERSION};

pub struct Tencent {
    service: Arc<Service>,
    regions: Arc<RegionMap>,
    /// The nonces of legacy-signature requests, and the signatures of TC3 requests (which
    /// have no nonce) with what each was used for: this process's own, or every node's.
    replay: Arc<dyn ReplayGuard>,
    /// Secrets one account may hold in one region through this API (`None`: only the
    /// server's own ceiling).
    max_secrets: Option<u64>,
}

/// An entry must be remembered as long as a request carrying it could still pass the clock
/// check: from 300 seconds before to 300 seconds after its timestamp.
const REPLAY_WINDOW: Duration = Duration::from_secs(2 * request::CLOCK_SKEW_SECS as u64);

impl Tencent {
    pub fn new(service: Arc<Service>, regions: RegionMap) -> Self {
        Self {
            service,
            regions: Arc::new(regions),
            replay: Arc::new(MemoryReplayGuard::new(
                REPLAY_WINDOW,
                SAME_CLIENT_GRACE,
                coffer_auth::nonce::DEFAULT_CAPACITY,
            )),
            max_secrets: None,
        }
    }

    /// Refuses a create (`LimitExceeded`) that would leave more than `max` secrets in the
    /// caller's region; `None` leaves only the server's own ceiling.
    pub fn with_secret_quota(mut self, max: Option<u64>) -> Self {
        self.max_secrets = max;
        self
    }

    /// Bounds each replay cache (nonces, TC3 signatures) to `entries` live entries; a request
    /// that would need one more is refused with `RequestLimitExceeded`.
    pub fn with_replay_capacity(self, entries: usize) -> Self {
        self.with_memory_replay(entries, ReplayStart::Fresh)
    }

    /// Keeps nonces and TC3 signatures in this process's memory (at most `entries` live ones
    /// each), starting from what the previous process handed over, or refusing what it may
    /// have seen (`start`).
    pub fn with_memory_replay(mut self, entries: usize, start: ReplayStart) -> Self {
        self.replay = Arc::new(MemoryReplayGuard::starting(
            REPLAY_WINDOW,
            SAME_CLIENT_GRACE,
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

    /// Keeps nonces and TC3 signatures in `ledger`, which every node of a cluster shares, so
    /// that a request replayed to any node is judged by its first use on any node.
    pub fn with_shared_replay(mut self, ledger: impl ReplayLedger) -> Self {
        self.replay = Arc::new(SharedReplayGuard::new(
            ledger,
            "tencent",
            REPLAY_WINDOW,
            SAME_CLIENT_GRACE,
        ));
        self
    }
}

impl Dialect for Tencent {
    const NAME: &'static str = "tencent";
    type Signed = TencentRequest;
    type Call = request::Call;
    type Operation = Operation;
    type Output = Map<String, Value>;
    type Error = ApiError;

    fn service(&self) -> &Service {
        &self.service
    }

    /// Both of this endpoint's APIs live at `/`.
    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        req.path == "/" && request::speaks_tencent(req.headers, req.raw_query, req.form_body())
    }

    fn parse(
        &self,
        req: &HttpRequest<'_>,
        audit: &mut AuditFacts,
    ) -> Result<TencentRequest, ApiError> {
        // Checked before the signature, as Tencent's gateway does.
        if !matches!(req.method, "GET" | "POST") {
            return Err(errors::unsupported_method(req.method));
        }
        let parsed = coffer_auth::tencent::parse(&req.parts()).map_err(errors::auth_error)?;
        audit.access_key_id = Some(parsed.secret_id.clone());
        audit.operation = parsed.action.clone().unwrap_or_default();
        Ok(parsed)
    }

    async fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &TencentRequest,
        _audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ApiError> {
        let reads_only = match (signed.version.as_deref(), signed.action.as_deref()) {
            (Some(version), Some(action)) => {
                operation::kind(version, action).is_some_and(operation::reads_only)
            }
            _ => false,
        };
        let replay = request::Replay {
            guard: self.replay.as_ref(),
            peer: req.peer,
            reads_only,
            body_empty: req.body.is_empty(),
        };
        request::authenticate(&self.service, &replay, signed).await
    }

    async fn operation(
        &self,
        _req: &HttpRequest<'_>,
        signed: TencentRequest,
        caller: &AuthenticatedKey,
    ) -> Result<(request::Call, Operation), ApiError> {
        let mut resolved = request::resolve(&self.service, &self.regions, signed, caller)?;
        resolved.call.max_secrets = self.max_secrets;
        let op = operation::parse(resolved.version, &resolved.action, &resolved.call.params)?;
        let op = operation::resolve(&resolved.call, op).await?;
        let op = operation::resolve_instance(op, &resolved.call).await;
        Ok((resolved.call, op))
    }

    fn scope(call: &request::Call) -> &Scope {
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

    async fn execute(
        &self,
        call: &request::Call,
        op: Operation,
    ) -> Result<Map<String, Value>, ApiError> {
        operation::execute(call, op).await
    }

    fn error_code(error: &ApiError) -> &str {
        error.code
    }

    fn refusal(&self, _req: &HttpRequest<'_>, refusal: Refusal) -> ApiError {
        errors::refusal(refusal)
    }

    fn render(
        &self,
        req: &HttpRequest<'_>,
        outcome: Result<Map<String, Value>, ApiError>,
    ) -> Reply {
        render::reply(req.request_id, outcome)
    }
}
