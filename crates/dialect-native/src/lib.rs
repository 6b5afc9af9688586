//! coffer's own admin API: accounts, access keys, policies, database instances, the audit
//! log and the rewrap, as JSON under `/coffer/v1/`. Requests are signed with AWS Signature
//! Version 4 and the service name `coffer` (any region), so any SigV4 signer can call it; the
//! `coffer` CLI is one.
//!
//! Who may call what: admin keys of the operator account manage everything; admin keys of
//! another account manage that account's access keys, policies and database instances and may
//! read the account; other keys are refused. Routes and bodies are described in the README.

mod accounts;
mod databases;
mod errors;
mod hosts;
mod operation;
mod request;
mod server;

use std::sync::Arc;

use coffer_api::{AuditFacts, AuthenticatedKey, Dialect, HttpRequest, Permission, Reply};
use coffer_auth::sigv4::SigV4Request;
use coffer_core::{AuditSink, Scope, Service};
use serde_json::{json, Value};

pub use errors::ApiError;
pub use hosts::DbHostAllowList;
pub use operation::{Operation, OperationKind};
use request::Call;

/// The SigV4 service name requests must be signed for.
pub const SERVICE: &str = "coffer";
/// Where the admin API lives.
pub const PATH_PREFIX: &str = "/coffer/v1";

pub struct Native {
    service: Arc<Service>,
    audit: Arc<dyn AuditSink>,
    /// The region new accounts get their Huawei project in.
    default_region: String,
    /// Hosts accounts other than the operator may register database instances on.
    db_hosts: Arc<DbHostAllowList>,
}

impl Native {
    pub fn new(service: Arc<Service>, audit: Arc<dyn AuditSink>, default_region: String) -> Self {
        Self {
            service,
            audit,
            default_region,
            db_hosts: Arc::new(DbHostAllowList::default()),
        }
    }

    /// Lets accounts other than the operator register database instances on these hosts
    /// (by default they may register none).
    pub fn with_db_hosts(mut self, hosts: DbHostAllowList) -> Self {
        self.db_hosts = Arc::new(hosts);
        self
    }
}

/// An admin request after its envelope was read: the decoded route and the signature.
pub struct Signed {
    segments: Vec<String>,
    sig: SigV4Request,
}

impl Dialect for Native {
    const NAME: &'static str = "native";
    type Signed = Signed;
    type Call = Call;
    type Operation = Operation;
    type Output = (u16, Value);
    type Error = ApiError;

    fn service(&self) -> &Service {
        &self.service
    }

    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        req.path
            .strip_prefix(PATH_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    fn parse(&self, req: &HttpRequest<'_>, audit: &mut AuditFacts) -> Result<Signed, ApiError> {
        let segments = req
            .path
            .trim_start_matches(PATH_PREFIX)
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|d| d.into_owned())
                    .map_err(|_| ApiError::invalid("path", "a segment is not valid UTF-8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        audit.operation = operation::operation_name(req.method, &segments).to_string();
        let sig = coffer_auth::sigv4::parse(&req.parts(), req.path).map_err(errors::auth_error)?;
        audit.access_key_id = Some(sig.access_key_id.clone());
        Ok(Signed { segments, sig })
    }

    async fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &Signed,
        _audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ApiError> {
        let parsed = &signed.sig;
        if parsed.service != SERVICE {
            return Err(ApiError::auth(format!(
                "the request is signed for the service {:?}; sign it for {SERVICE:?}",
                parsed.service
            )));
        }
        let key = match self.service.access_key(&parsed.access_key_id).await {
            Ok(k) => k,
            Err(coffer_core::Error::NotFound { .. }) => return Err(ApiError::unknown_key()),
            Err(e) => return Err(e.into()),
        };
        parsed.verify(&key.secret).map_err(errors::auth_error)?;
        if !key.enabled {
            return Err(ApiError::new(
                401,
                "InvalidAccessKeyId",
                "The access key is disabled.",
            ));
        }
        let now = self.service.now().as_secs();
        if !coffer_auth::skew::within_window(
            parsed.timestamp,
            now,
            coffer_auth::sigv4::SKEW_WINDOW_SECS,
        ) {
            return Err(ApiError::auth(
                "the request time is more than 5 minutes from the server's",
            ));
        }
        if parsed.unsigned_payload() && !req.body.is_empty() {
            return Err(ApiError::auth(
                "the body must be signed (UNSIGNED-PAYLOAD is refused)",
            ));
        }
        if parsed.security_token.is_some() {
            return Err(ApiError::auth(
                "temporary credentials are not issued by this server",
            ));
        }
        Ok(key)
    }

    async fn operation(
        &self,
        req: &HttpRequest<'_>,
        signed: Signed,
        caller: &AuthenticatedKey,
    ) -> Result<(Call, Operation), ApiError> {
        // SigV4's canonical query sorts the pairs, so the signature cannot tell
        // `AccountId=1&AccountId=2` from `AccountId=2&AccountId=1`, and the copy a route reads
        // would be unsigned. No admin route takes a list in the query.
        let mut seen = std::collections::HashSet::new();
        if let Some((name, _)) = signed
            .sig
            .query_pairs()
            .iter()
            .find(|(k, _)| !seen.insert(k.as_str()))
        {
            return Err(ApiError::invalid(
                name,
                "it appears more than once in the query",
            ));
        }
        let who = operation::Caller {
            key: caller,
            operator: self.service.account(caller.account).await?.operator,
            default_region: &self.default_region,
        };
        let op = operation::parse(
            &self.service,
            &who,
            req.method,
            &signed.segments,
            req.raw_query,
            req.body,
        )
        .await?;
        let call = Call {
            service: self.service.clone(),
            audit_log: self.audit.clone(),
            default_region: self.default_region.clone(),
            scope: Scope {
                account: caller.account,
                region: self.default_region.clone(),
            },
            query: req.raw_query.to_string(),
            body: req.body.to_vec(),
            operator: who.operator,
            db_hosts: self.db_hosts.clone(),
        };
        Ok((call, op))
    }

    fn scope(call: &Call) -> &Scope {
        &call.scope
    }

    fn permission(op: &Operation) -> Permission {
        operation::permission(op)
    }

    /// The operator's own API is never throttled: it is how a throttled server is managed.
    fn operation_name(op: &Operation) -> &'static str {
        OperationKind::from(op).into()
    }

    fn rate_group(_op: &Operation) -> Option<&'static str> {
        None
    }

    async fn execute(&self, call: &Call, op: Operation) -> Result<(u16, Value), ApiError> {
        operation::execute(call, op).await
    }

    fn error_code(error: &ApiError) -> &str {
        error.code
    }

    fn refusal(&self, _req: &HttpRequest<'_>, refusal: coffer_api::Refusal) -> ApiError {
        errors::refusal(refusal)
    }

    fn render(&self, req: &HttpRequest<'_>, outcome: Result<(u16, Value), ApiError>) -> Reply {
        let (status, body) = match outcome {
            Ok((status, mut body)) => {
                if let Value::Object(m) = &mut body {
                    m.insert("RequestId".into(), Value::String(req.request_id.into()));
                }
                (status, body)
            }
            Err(e) => (
                e.status,
                json!({"Code": e.code, "Message": e.message, "RequestId": req.request_id}),
            ),
        };
        Reply::new(
            status,
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        )
    }
}
