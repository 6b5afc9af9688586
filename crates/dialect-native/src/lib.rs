//! coffer's own admin API: accounts, access keys, policies and the audit log, as JSON under
//! `/coffer/v1/`. Requests are signed with AWS Signature Version 4 and the service name
//! `coffer` (any region), so any SigV4 signer can call it; the `coffer` CLI is one.
//!
//! Who may call what: admin keys of the operator account manage everything; admin keys of
//! another account manage that account's access keys and policies and may read the account;
//! other keys are refused. Routes and bodies are described in the README.

mod routes;

use std::sync::Arc;

use coffer_auth::{AuthError, RequestParts};
use coffer_core::{AuditFacts, AuditSink, Service};
use serde_json::{json, Value};

/// The SigV4 service name requests must be signed for.
pub const SERVICE: &str = "coffer";

/// A response for the HTTP layer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub audit: AuditFacts,
}

/// An error as the admin API writes it: `{"Code", "Message", "RequestId"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(400, "InvalidParameter", format!("{field}: {why}"))
    }
    fn auth(why: impl std::fmt::Display) -> Self {
        Self::new(401, "InvalidSignature", why.to_string())
    }
    pub fn denied(what: &str) -> Self {
        Self::new(
            403,
            "AccessDenied",
            format!("This access key may not {what}."),
        )
    }
}

impl From<coffer_core::Error> for ApiError {
    fn from(e: coffer_core::Error) -> Self {
        use coffer_core::Error as E;
        match e {
            E::NotFound { what, name } => ApiError::new(
                404,
                "NotFound",
                format!("The {} {name:?} does not exist.", what.as_str()),
            ),
            E::AlreadyExists { what, name } => ApiError::new(
                409,
                "AlreadyExists",
                format!("The {} {name:?} already exists.", what.as_str()),
            ),
            E::InvalidParameter { field, reason } => ApiError::invalid(&field, reason),
            E::MissingParameter { field } => ApiError::invalid(&field, "it is required"),
            E::InvalidState { reason, .. } => ApiError::new(409, "Conflict", reason),
            E::AccessDenied { action, resource } => ApiError::new(
                403,
                "AccessDenied",
                format!("Not authorized to perform {action} on {resource}."),
            ),
            E::Conflict => ApiError::new(409, "Conflict", "A concurrent change won; retry."),
            E::Database {
                instance,
                reason,
                reachable: true,
            } => ApiError::new(
                400,
                "DatabaseRefused",
                format!("The database instance {instance:?} refused: {reason}."),
            ),
            E::Database {
                instance, reason, ..
            } => ApiError::new(
                503,
                "DatabaseUnreachable",
                format!("The database instance {instance:?} cannot be reached: {reason}."),
            ),
            E::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new(500, "InternalError", "An internal error occurred.")
            }
            other => ApiError::new(400, "InvalidRequest", other.to_string()),
        }
    }
}

pub struct Native {
    service: Arc<Service>,
    audit: Arc<dyn AuditSink>,
    /// The region new accounts get their Huawei project in.
    default_region: String,
}

/// Whether a request is for the admin API.
pub fn matches(path: &str) -> bool {
    path.starts_with("/coffer/v1/") || path == "/coffer/v1"
}

impl Native {
    pub fn new(service: Arc<Service>, audit: Arc<dyn AuditSink>, default_region: String) -> Self {
        Self {
            service,
            audit,
            default_region,
        }
    }

    /// Handles one request on `path` (as received, percent-encoded).
    pub async fn handle(&self, req: &RequestParts<'_>, path: &str, request_id: &str) -> Response {
        let mut audit = AuditFacts::default();
        let (status, body) = match self.run(req, path, &mut audit).await {
            Ok((status, body)) => {
                audit.result = "OK".into();
                let mut body = body;
                if let Value::Object(m) = &mut body {
                    m.insert("RequestId".into(), Value::String(request_id.into()));
                }
                (status, body)
            }
            Err(e) => {
                tracing::info!(code = e.code, status = e.status, "admin request refused");
                audit.result = e.code.to_string();
                (
                    e.status,
                    json!({"Code": e.code, "Message": e.message, "RequestId": request_id}),
                )
            }
        };
        Response {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            audit,
        }
    }

    async fn run(
        &self,
        req: &RequestParts<'_>,
        path: &str,
        audit: &mut AuditFacts,
    ) -> Result<(u16, Value), ApiError> {
        let segments = path
            .trim_start_matches("/coffer/v1")
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|d| d.into_owned())
                    .map_err(|_| ApiError::invalid("path", "a segment is not valid UTF-8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        audit.operation = routes::operation_name(req.method, &segments);
        let parsed = coffer_auth::sigv4::parse(req, path).map_err(auth_error)?;
        audit.access_key_id = Some(parsed.access_key_id.clone());
        if parsed.service != SERVICE {
            return Err(ApiError::auth(format!(
                "the request is signed for the service {:?}; sign it for {SERVICE:?}",
                parsed.service
            )));
        }
        let key = match self.service.access_key(&parsed.access_key_id).await {
            Ok(k) => k,
            Err(coffer_core::Error::NotFound { .. }) => {
                return Err(ApiError::new(
                    401,
                    "InvalidAccessKeyId",
                    "The access key id does not exist.",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        parsed.verify(&key.secret).map_err(auth_error)?;
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
        audit.account = Some(key.account.0);
        let caller = routes::Caller {
            key: &key,
            operator: self.service.account(key.account).await?.operator,
        };
        let call = routes::Call {
            service: &self.service,
            audit_log: self.audit.as_ref(),
            default_region: &self.default_region,
            caller,
            method: req.method,
            segments: segments.iter().map(String::as_str).collect(),
            query: req.raw_query,
            body: req.body,
        };
        routes::route(&call).await
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } => {
            ApiError::auth("the signature does not match; check the secret and the signing method")
        }
        AuthError::BadTimestampFormat => {
            ApiError::auth("x-amz-date is not formatted as YYYYMMDDTHHMMSSZ")
        }
        other => ApiError::auth(format!(
            "the request signature is missing or malformed: {other}"
        )),
    }
}
