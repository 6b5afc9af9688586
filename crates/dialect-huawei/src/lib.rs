//! The Huawei Cloud CSMS dialect (v1 REST), and the KMS routes (v1.0) on the same endpoint.
//!
//! Every request is addressed to `/v1/{project_id}/...` (CSMS) or `/v1.0/{project_id}/kms/...`
//! (KMS) and signed with SDK-HMAC-SHA256. The project id names the account and the region at
//! once: it must be a project of the calling account, and the signed `X-Project-Id` header,
//! when present, must repeat it. Routes map onto the neutral [`Service`];
//! `SYSCURRENT`/`SYSPREVIOUS` are the core's `Current`/`Previous` stages (Huawei's CSMS API
//! reference, https://support.huaweicloud.com/intl/en-us/api-dew/dew_02_0001.html).
//!
//! Modules: `operation` parses a route into one [`Operation`], names its permission and
//! dispatches it; `secrets`, `managed` (RDS secrets and rotation), `events` and `keys` (KMS)
//! run the operations; `request`, `params`, `errors` and `render` are what they share.

mod errors;
mod events;
mod keys;
pub mod limits;
mod managed;
mod operation;
mod params;
mod render;
mod request;
mod secrets;

use std::sync::Arc;

use coffer_api::{
    AuditFacts, AuthenticatedKey, Dialect, HttpRequest, Permission, Refusal, Reply, Scope,
};
use coffer_auth::huawei::HuaweiRequest;
use coffer_core::Service;

pub use errors::ApiError;
pub use operation::{wire_name, Operation, OperationKind};

use errors::auth_error;
use request::{Call, Output};

/// `X-Sdk-Date` may be this far from the server clock, either way.
const CLOCK_SKEW_SECS: i64 = 15 * 60;

pub struct Huawei {
    service: Arc<Service>,
    /// Secrets one account may hold in one region through this API (`None`: only the
    /// server's own ceiling).
    max_secrets: Option<u64>,
}

impl Huawei {
    pub fn new(service: Arc<Service>) -> Self {
        Self {
            service,
            max_secrets: None,
        }
    }

    /// Refuses a create (`CSMS.0202`) that would leave more than `max` secrets in the
    /// caller's project; `None` leaves only the server's own ceiling.
    pub fn with_secret_quota(mut self, max: Option<u64>) -> Self {
        self.max_secrets = max;
        self
    }
}

impl Dialect for Huawei {
    const NAME: &'static str = "huawei";
    type Signed = HuaweiRequest;
    type Call = Call;
    type Operation = Operation;
    type Output = Output;
    type Error = ApiError;

    fn service(&self) -> &Service {
        &self.service
    }

    /// CSMS lives under `/v1/`, KMS under `/v1.0/`.
    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        req.path.starts_with("/v1/") || req.path.starts_with("/v1.0/")
    }

    fn parse(
        &self,
        req: &HttpRequest<'_>,
        audit: &mut AuditFacts,
    ) -> Result<HuaweiRequest, ApiError> {
        // Named before the signature is read, so that a refused request is audited by route.
        audit.operation = format!("{} {}", req.method, request::operation_path(req.path));
        // The gateway refuses a path or query that does not decode to UTF-8 text before it
        // looks for a signature (the signature would be computed over text that does not
        // exist). A method no route takes is an unknown route, judged after authentication.
        request::check_encoding(req)?;
        let signed = coffer_auth::huawei::parse(&req.parts(), req.path).map_err(auth_error)?;
        audit.access_key_id = Some(signed.access_key_id.clone());
        Ok(signed)
    }

    async fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &HuaweiRequest,
        audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ApiError> {
        let key = match self.service.access_key(&signed.access_key_id).await {
            Ok(k) => k,
            Err(coffer_core::Error::NotFound { .. }) => {
                return Err(ApiError::auth("Get secretKey failed, ak not exist"))
            }
            Err(e) => return Err(e.into()),
        };
        signed.verify(&key.secret).map_err(auth_error)?;
        if !key.enabled {
            return Err(ApiError::auth("the access key is disabled"));
        }
        // Known from here on: a refusal for the clock, an unsigned body or a token is audited
        // under the account whose key signed it.
        audit.account = Some(key.account.0);
        let now = self.service.now().as_secs();
        if !coffer_auth::skew::within_window(signed.timestamp, now, CLOCK_SKEW_SECS) {
            return Err(ApiError::auth(
                "X-Sdk-Date is more than 15 minutes from the server time",
            ));
        }
        // CSMS bodies are JSON, which the SDK always signs; an unsigned body could be swapped.
        if signed.unsigned_payload && !req.body.is_empty() {
            return Err(ApiError::auth(
                "the request body must be signed (UNSIGNED-PAYLOAD is refused)",
            ));
        }
        // coffer issues no temporary credentials.
        if signed
            .security_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            return Err(ApiError::auth(
                "decrypt token fail: temporary credentials are not issued by this server",
            ));
        }
        Ok(key)
    }

    async fn operation(
        &self,
        req: &HttpRequest<'_>,
        signed: HuaweiRequest,
        caller: &AuthenticatedKey,
    ) -> Result<(Call, Operation), ApiError> {
        let (mut call, segments) = request::call(&self.service, req, signed, caller).await?;
        call.max_secrets = self.max_secrets;
        let kms = request::is_kms(req.path);
        let op = operation::operation(&call, req.method, kms, &segments).await?;
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

    async fn execute(&self, call: &Call, op: Operation) -> Result<Output, ApiError> {
        operation::execute(call, op).await
    }

    fn error_code(error: &ApiError) -> &str {
        error.code
    }

    fn refusal(&self, _req: &HttpRequest<'_>, refusal: Refusal) -> ApiError {
        errors::refusal(refusal)
    }

    fn render(&self, req: &HttpRequest<'_>, outcome: Result<Output, ApiError>) -> Reply {
        render::reply(req, outcome)
    }
}
