//! The Huawei Cloud CSMS dialect (v1 REST), and the KMS routes (v1.0) on the same endpoint.
//!
//! Every request is addressed to `/v1/{project_id}/...` (CSMS) or `/v1.0/{project_id}/kms/...`
//! (KMS) and signed with SDK-HMAC-SHA256. The
//! project id names the account and the region at once: it must be a project of the calling
//! account, and the signed `X-Project-Id` header, when present, must repeat it. Routes map onto
//! the neutral [`Service`]; `SYSCURRENT`/`SYSPREVIOUS` are the core's `Current`/`Previous`
//! stages (reference: `huawei.md`).

mod access;
mod error;
mod events;
mod kms;
mod ops;
mod rotation;

use std::sync::Arc;

use coffer_auth::{AuthError, RequestParts};
use coffer_core::{AuditFacts, Scope, Service};
use serde_json::Value;

pub use error::ApiError;

/// `X-Sdk-Date` may be this far from the server clock, either way.
const CLOCK_SKEW_SECS: i64 = 15 * 60;

/// A response for the HTTP layer. `body` is empty for 204s and immediate deletes.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub audit: AuditFacts,
}

pub struct Huawei {
    service: Arc<Service>,
}

/// What an operation sees: the service, the caller's scope, the request's method, the path
/// segments after `/v1/{project_id}/` (percent-decoded), the query and the body.
pub(crate) struct Call<'a> {
    pub service: &'a Service,
    pub scope: Scope,
    pub method: &'a str,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl Call<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body as an object; an empty body counts as `{}`.
    pub fn json(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Map::new());
        }
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::bad_body("the body must be a JSON object")),
            Err(e) => Err(ApiError::bad_body(format!("it is not valid JSON ({e})"))),
        }
    }
}

/// Whether a request is for this dialect: the path starts with `/v1/` (CSMS) or `/v1.0/`
/// (KMS).
pub fn matches(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/v1.0/")
}

/// Which API a path belongs to: KMS answers errors in its own body shape.
fn is_kms(path: &str) -> bool {
    path.starts_with("/v1.0/")
}

fn decode(segment: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("a path segment is not valid UTF-8"))
}

impl Huawei {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// Handles one request on `path` (as received, percent-encoded).
    pub async fn handle(&self, req: &RequestParts<'_>, path: &str, request_id: &str) -> Response {
        let mut audit = AuditFacts::default();
        match self.run(req, path, &mut audit).await {
            Ok((status, body)) => {
                audit.result = "OK".into();
                // The SDK reads the request id from the header; the body carries it too.
                let body = body.map(|mut b| {
                    if let Value::Object(m) = &mut b {
                        m.insert("request_id".into(), Value::String(request_id.into()));
                    }
                    serde_json::to_vec(&b).unwrap_or_default()
                });
                Response {
                    status,
                    body: body.unwrap_or_default(),
                    audit,
                }
            }
            Err(e) => {
                tracing::info!(code = e.code, status = e.status, "huawei request refused");
                audit.result = e.code.to_string();
                let body = if is_kms(path) {
                    kms::error_body(&e, request_id)
                } else {
                    serde_json::json!({
                        "error_code": e.code,
                        "error_msg": e.message,
                        "request_id": request_id,
                    })
                };
                Response {
                    status: e.status,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    audit,
                }
            }
        }
    }

    async fn run(
        &self,
        req: &RequestParts<'_>,
        path: &str,
        audit: &mut AuditFacts,
    ) -> Result<(u16, Option<Value>), ApiError> {
        audit.operation = format!("{} {}", req.method, operation_path(path));
        let parsed = coffer_auth::huawei::parse(req, path).map_err(auth_error)?;
        audit.access_key_id = Some(parsed.access_key_id.clone());
        let key = match self.service.access_key(&parsed.access_key_id).await {
            Ok(k) => k,
            Err(coffer_core::Error::NotFound { .. }) => {
                return Err(ApiError::auth("Get secretKey failed, ak not exist"))
            }
            Err(e) => return Err(e.into()),
        };
        parsed.verify(&key.secret).map_err(auth_error)?;
        if !key.enabled {
            return Err(ApiError::auth("the access key is disabled"));
        }
        audit.account = Some(key.account.0);
        let now = self.service.now().as_secs();
        if !coffer_auth::skew::within_window(parsed.timestamp, now, CLOCK_SKEW_SECS) {
            return Err(ApiError::auth(
                "X-Sdk-Date is more than 15 minutes from the server time",
            ));
        }
        // CSMS bodies are JSON, which the SDK always signs; an unsigned body could be swapped.
        if parsed.unsigned_payload && !req.body.is_empty() {
            return Err(ApiError::auth(
                "the request body must be signed (UNSIGNED-PAYLOAD is refused)",
            ));
        }
        // coffer issues no temporary credentials.
        if parsed
            .security_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            return Err(ApiError::auth(
                "decrypt token fail: temporary credentials are not issued by this server",
            ));
        }

        let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // ["v1" or "v1.0", project, ...rest]
        let project_id = raw.get(1).copied().unwrap_or("");
        if project_id.is_empty() || raw.len() < 3 {
            return Err(ApiError::bad_request(format!("no operation at {path:?}")));
        }
        if !coffer_core::service::is_project_id(project_id) {
            return Err(ApiError::bad_request(format!(
                "{project_id:?} is not a project id (32 lower-case hexadecimal characters)"
            )));
        }
        let project = self
            .service
            .project(project_id)
            .await?
            .filter(|p| p.scope.account == key.account)
            .ok_or_else(|| {
                ApiError::new(
                    403,
                    "CSMS.0003",
                    format!("The request is invalid: the project {project_id:?} is not a project of this account."),
                )
            })?;
        // The signed X-Project-Id header must repeat the path's project (the SDK always sends
        // it when it knows the project).
        if parsed.project_id.as_deref() != Some(project_id) {
            return Err(ApiError::new(
                403,
                "CSMS.0003",
                "The request is invalid: the X-Project-Id header is missing or differs from the project in the path.",
            ));
        }
        let segments = raw[2..]
            .iter()
            .map(|s| decode(s))
            .collect::<Result<Vec<_>, _>>()?;
        // The pairs the signature covered: `+` is a literal plus in Huawei's canonical query.
        let query = parsed.query_pairs().to_vec();
        let call = Call {
            service: &self.service,
            scope: project.scope,
            method: req.method,
            segments,
            query,
            body: req.body,
        };
        let permission = if is_kms(path) {
            access::kms_permission(&call)
        } else {
            access::permission(&call).await?
        };
        if let Some((act, targets)) = permission {
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
                self.service.authorize(&key, act, &call.scope, t).await?;
            }
        }
        if is_kms(path) {
            kms::route(&call).await
        } else {
            ops::route(&call).await
        }
    }
}

/// The route with the project id left out, for the audit entry (`/v1/{project_id}/secrets`).
fn operation_path(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(_), Some(rest)) => format!("/{v}/{{project_id}}/{rest}"),
        _ => path.to_string(),
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } => ApiError::auth("verify aksk signature fail"),
        AuthError::BadTimestampFormat => {
            ApiError::auth("X-Sdk-Date is not formatted as YYYYMMDDTHHMMSSZ")
        }
        other => ApiError::auth(format!(
            "the request signature is missing or malformed: {other}"
        )),
    }
}
