//! The AWS Secrets Manager dialect (API 2017-10-17, AWS JSON 1.1).
//!
//! Requests are `POST /` with `X-Amz-Target: secretsmanager.<Operation>`, signed with SigV4
//! for the service `secretsmanager`; they are mapped onto the neutral [`Service`] and answered
//! as Secrets Manager answers: the output object, or `{"__type", "Message"}` with the error's
//! HTTP status (https://docs.aws.amazon.com/secretsmanager/latest/apireference/).
//!
//! Names map to the core as follows: `AWSCURRENT`, `AWSPREVIOUS` and `AWSPENDING` are the
//! core's `Current`, `Previous` and `Pending` stages, so a secret is shared with the other
//! dialects; other labels are custom stages. A secret's ARN is made of the client's region,
//! the account's 12-digit number and the secret's name and random suffix.
//!
//! Modules: `request` (recognising, authenticating, the `Call` context), `operation` (the
//! [`Operation`] enum, its permissions and dispatch), the operation modules `secrets`,
//! `policies`, `rotation` and `replication`, and the shared `params`, `arn`, `errors` and
//! `render`.

mod arn;
mod errors;
mod filters;
pub mod limits;
mod operation;
mod params;
mod policies;
mod render;
mod replication;
mod request;
mod rotation;
mod secrets;

use std::sync::Arc;

use coffer_api::{
    AuditFacts, AuthenticatedKey, Dialect, HttpRequest, Permission, Refusal, Reply, Scope,
};
use coffer_core::{RegionMap, Service};
use serde_json::{Map, Value};

pub use errors::ApiError;
pub use operation::{Operation, OperationKind};
pub use render::CONTENT_TYPE;
pub use request::{Call, Signed, SIGNING_NAME};

pub struct Aws {
    service: Arc<Service>,
    regions: Arc<RegionMap>,
    /// Secrets one account may hold in one region through this API (`None`: only the
    /// server's own ceiling).
    max_secrets: Option<u64>,
}

impl Aws {
    pub fn new(service: Arc<Service>, regions: RegionMap) -> Self {
        Self {
            service,
            regions: Arc::new(regions),
            max_secrets: None,
        }
    }

    /// Refuses a create (`LimitExceededException`) that would leave more than `max` secrets in
    /// the caller's region; `None` leaves only the server's own ceiling.
    pub fn with_secret_quota(mut self, max: Option<u64>) -> Self {
        self.max_secrets = max;
        self
    }
}

impl Dialect for Aws {
    const NAME: &'static str = "aws";
    type Signed = Signed;
    type Call = Call;
    type Operation = Operation;
    type Output = Map<String, Value>;
    type Error = ApiError;

    fn service(&self) -> &Service {
        &self.service
    }

    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        request::speaks_aws(req.path, req.headers)
    }

    fn parse(&self, req: &HttpRequest<'_>, audit: &mut AuditFacts) -> Result<Signed, ApiError> {
        let target = req.header("x-amz-target").unwrap_or_default();
        let target = request::target_operation(target).map(str::to_string);
        audit.operation = target.clone().unwrap_or_default();
        // Checked before the signature: the JSON protocol has one method.
        if req.method != "POST" {
            return Err(errors::wrong_method(req.method));
        }
        if req.header("authorization").is_none() {
            return Err(request::missing_token());
        }
        let sig = coffer_auth::sigv4::parse(&req.parts(), req.path).map_err(errors::auth_error)?;
        audit.access_key_id = Some(sig.access_key_id.clone());
        Ok(Signed { sig, target })
    }

    async fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &Signed,
        _audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ApiError> {
        request::authenticate(&self.service, signed, req.body.is_empty()).await
    }

    async fn operation(
        &self,
        req: &HttpRequest<'_>,
        signed: Signed,
        caller: &AuthenticatedKey,
    ) -> Result<(Call, Operation), ApiError> {
        let kind = operation::kind(signed.target.as_deref())?;
        let params = params::Params::from_body(req.body)?;
        let scope = Scope {
            account: caller.account,
            region: self.regions.resolve(Some(&signed.sig.region)).to_string(),
        };
        let account_number = self.service.account_number(caller.account).await?;
        let call = Call {
            service: self.service.clone(),
            params,
            scope,
            region_id: signed.sig.region.clone(),
            regions: self.regions.clone(),
            account_number,
            max_secrets: self.max_secrets,
            caller: caller.clone(),
        };
        let mut op = operation::parse(kind, &call.params)?;
        let mut call = call;
        operation::route_to_owner(&mut call, &mut op).await?;
        let op = operation::resolve(&call, op).await?;
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

    async fn execute(&self, call: &Call, op: Operation) -> Result<Map<String, Value>, ApiError> {
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
