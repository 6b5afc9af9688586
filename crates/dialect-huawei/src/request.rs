//! What an operation sees (the [`Call`]), how a verified request becomes one, and the helpers
//! every operation module shares for reading the caller's secrets.

use std::sync::Arc;

use coffer_api::{AuthenticatedKey, HttpRequest};
use coffer_auth::huawei::HuaweiRequest;
use coffer_core::{Error, Scope, SecretRecord, SecretState, Service};
use serde_json::{Map, Value};

use crate::errors::{self, ApiError};
use crate::params::secret_name;

/// What an operation returns: the HTTP status and the JSON body (none for 204s and immediate
/// deletes).
pub type Output = (u16, Option<Value>);
pub type OpResult = Result<Output, ApiError>;

pub fn ok(v: Value) -> OpResult {
    Ok((200, Some(v)))
}

pub fn no_content() -> OpResult {
    Ok((204, None))
}

/// What an operation sees besides its own path parameters: the service, the caller's scope
/// (the project's account and region), the signed query and the body.
pub struct Call {
    pub service: Arc<Service>,
    pub scope: Scope,
    query: Vec<(String, String)>,
    /// Parsed once: the route reads the fields the permission names, the operation the rest.
    /// A body that is not a JSON object is reported by the operation that reads it, so that
    /// routes without a body ignore whatever was sent, as Huawei does.
    body: Result<Map<String, Value>, ApiError>,
    /// The most secrets a create may leave in the scope, when the server's `--limits`
    /// profile gives Huawei a quota of its own.
    pub max_secrets: Option<u64>,
}

impl Call {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body as an object; an empty body counts as `{}`.
    pub fn json(&self) -> Result<&Map<String, Value>, ApiError> {
        self.body.as_ref().map_err(Clone::clone)
    }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_body("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_body(format!("it is not valid JSON ({e})"))),
    }
}

/// Which API a path belongs to: KMS routes live under `/v1.0/` and answer errors in their own
/// body shape.
pub fn is_kms(path: &str) -> bool {
    path.starts_with("/v1.0/")
}

/// The route with the project id left out, for the audit entry (`/v1/{project_id}/secrets`).
pub fn operation_path(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(_), Some(rest)) => format!("/{v}/{{project_id}}/{rest}"),
        _ => path.to_string(),
    }
}

fn decode(segment: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("a path segment is not valid UTF-8"))
}

/// A path and query that decode to UTF-8 text: every path segment, and every name and value
/// of the query. Refused otherwise with the gateway's 400, naming the part that does not.
pub fn check_encoding(req: &HttpRequest<'_>) -> Result<(), ApiError> {
    let utf8 = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .is_ok()
    };
    if !req.path.split('/').all(utf8) {
        return Err(errors::gateway_bad_request(
            "the path is not valid UTF-8 once percent-decoded",
        ));
    }
    for (i, pair) in req.raw_query.split('&').enumerate() {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        for (what, part) in [("name", name), ("value", value)] {
            if !utf8(part) {
                return Err(errors::gateway_bad_request(format!(
                    "the {what} of query parameter {} is not valid UTF-8 once percent-decoded",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// The first name that appears more than once among `pairs`.
pub fn repeated_name(pairs: &[(String, String)]) -> Option<&str> {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !seen.insert(*k))
}

/// The call context of a verified request and the path segments after `/{version}/{project_id}/`
/// (percent-decoded). The project id names the account and the region at once: it must be a
/// project of the caller's account, and the signed `X-Project-Id` header must repeat it.
pub async fn call(
    service: &Arc<Service>,
    req: &HttpRequest<'_>,
    signed: HuaweiRequest,
    caller: &AuthenticatedKey,
) -> Result<(Call, Vec<String>), ApiError> {
    let path = req.path;
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
    let project = service
        .project(project_id)
        .await?
        .filter(|p| p.scope.account == caller.account)
        .ok_or_else(|| {
            ApiError::new(
                403,
                "CSMS.0003",
                format!("The request is invalid: the project {project_id:?} is not a project of this account."),
            )
        })?;
    // The SDK always sends X-Project-Id when it knows the project, and signs it.
    if signed.project_id.as_deref() != Some(project_id) {
        return Err(ApiError::new(
            403,
            "CSMS.0003",
            "The request is invalid: the X-Project-Id header is missing or differs from the project in the path.",
        ));
    }
    // The canonical query sorts the pairs, so the signature cannot tell `limit=1&limit=50`
    // from `limit=50&limit=1`, and whichever copy an operation read would be unsigned. No
    // CSMS or KMS route takes a list in the query, so a repeated name is refused.
    if let Some(name) = repeated_name(signed.query_pairs()) {
        return Err(ApiError::invalid(
            name,
            "it appears more than once in the query",
        ));
    }
    let segments = raw[2..]
        .iter()
        .map(|s| decode(s))
        .collect::<Result<Vec<_>, _>>()?;
    let call = Call {
        service: Arc::clone(service),
        scope: project.scope,
        // The pairs the signature covered: `+` is a literal plus in Huawei's canonical query.
        query: signed.query_pairs().to_vec(),
        body: parse_body(req.body),
        max_secrets: None,
    };
    Ok((call, segments))
}

/// A secret addressed by id (the tag routes), resolved in the caller's own scope before
/// authorization. An id that names nothing there is judged as a secret of that name, so the
/// answer (a denial or a 404) reveals nothing about other accounts.
#[derive(Debug)]
pub struct SecretById {
    /// The id from the path.
    id: String,
    /// The secret's name, or the id itself when it names no secret of the scope.
    name: String,
    /// The secret as read while resolving, so the operation need not read it again.
    record: Option<Box<SecretRecord>>,
}

impl SecretById {
    /// The only way to make one outside tests: the name is always the resolved one.
    pub async fn resolve(c: &Call, id: String) -> Self {
        let record = match uuid::Uuid::parse_str(&id) {
            Ok(uuid) => c
                .service
                .describe_by_id(&c.scope, uuid)
                .await
                .ok()
                .map(Box::new),
            Err(_) => None,
        };
        let name = record
            .as_ref()
            .map_or_else(|| id.clone(), |s| s.name.clone());
        Self { id, name, record }
    }

    /// A secret id already resolved to `name`, for tests that need no service.
    #[cfg(test)]
    pub fn resolved(id: &str, name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            record: None,
        }
    }

    /// The name the permission is judged on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret, or the operation's 404 for an id that resolved to nothing (read again, so a
    /// failure other than "not found" is reported as itself).
    pub async fn secret(self, c: &Call) -> Result<SecretRecord, ApiError> {
        match self.record {
            Some(s) => Ok(*s),
            None => by_id(c, &self.id).await,
        }
    }
}

async fn by_id(c: &Call, id: &str) -> Result<SecretRecord, ApiError> {
    let uuid = uuid::Uuid::parse_str(id)
        .map_err(|_| ApiError::not_found(&format!("the secret id {id:?}")))?;
    c.service
        .describe_by_id(&c.scope, uuid)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => ApiError::not_found(&format!("the secret id {id:?}")),
            other => other.into(),
        })
}

// --- shared reads -----------------------------------------------------------------------------

pub async fn load(c: &Call, name: &str) -> Result<SecretRecord, ApiError> {
    secret_name(name)?;
    Ok(c.service.describe(&c.scope, name).await?)
}

pub fn not_enabled(s: &SecretRecord) -> Option<ApiError> {
    match s.state {
        SecretState::Enabled => None,
        SecretState::PendingDelete { .. } => Some(
            Error::InDeleteWindow {
                name: s.name.clone(),
            }
            .into(),
        ),
        SecretState::Disabled => Some(
            Error::Disabled {
                what: coffer_core::error::Resource::Secret,
                name: s.name.clone(),
            }
            .into(),
        ),
    }
}

/// The next server-assigned version id: one past the highest `vN` the secret has.
pub fn next_version_id(s: &SecretRecord) -> String {
    let n = s
        .versions
        .iter()
        .filter_map(|v| {
            v.version_id
                .strip_prefix('v')
                .and_then(|d| d.parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0);
    format!("v{}", n + 1)
}

/// The `limit` query parameter of the CSMS lists.
pub fn limit(c: &Call, default: u32) -> Result<u32, ApiError> {
    match c.query("limit") {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "it must be an integer from 1 to 1000")),
    }
}
