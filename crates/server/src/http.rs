//! HTTP plumbing: one port for every dialect. Dispatch looks at the request to decide which
//! cloud API it speaks; everything else gets a short JSON 404 naming what this server speaks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use coffer_auth::RequestParts;
use coffer_core::{AuditEntry, AuditFacts, AuditSink, Service};
use coffer_dialect_alibaba::Alibaba;
use coffer_dialect_huawei::Huawei;
use coffer_dialect_native::Native;
use coffer_dialect_tencent::Tencent;
use tracing::Instrument;

pub struct AppState {
    pub alibaba: Alibaba,
    pub tencent: Tencent,
    pub huawei: Huawei,
    pub native: Native,
    pub service: Arc<Service>,
    pub audit: Arc<dyn AuditSink>,
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    (
        [("content-type", "application/json")],
        "{\"status\":\"ok\"}",
    )
}

/// Header names lower-cased (HTTP/1 names are case-insensitive and the signature schemes
/// canonicalise them so), values as received; a value that is not text is dropped, which at
/// worst makes a signature fail, never the server.
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    // The span carries only the request id: every log line inside the request gets it, and
    // the audit entry under the same id has the rest. With method and path as well, building
    // the span cost ~7% of GetSecretValue throughput at the default log level.
    let span = tracing::info_span!("request", request_id = request_id.as_str());
    async move {
        let started = std::time::Instant::now();
        let arrived = state.service.now();
        let pairs = header_pairs(&headers);
        let raw_query = uri.query().unwrap_or("");
        let is_form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let form = is_form.then_some(&body[..]);
        let parts = RequestParts {
            method: method.as_str(),
            raw_query,
            headers: &pairs,
            body: &body,
        };
        // Tencent first: its legacy signature also sends an `Action` field, which the
        // Alibaba dialect would otherwise claim.
        let (dialect, facts, response) = if uri.path() == "/"
            && coffer_dialect_tencent::matches(&pairs, raw_query, form)
        {
            let (body, facts) = state.tencent.handle(&parts, &request_id).await;
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static(coffer_dialect_tencent::CONTENT_TYPE),
            );
            ("tencent", facts, resp)
        } else if uri.path() == "/" && coffer_dialect_alibaba::matches(&pairs, raw_query, form) {
            let host = headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let r = state.alibaba.handle(&parts, &request_id, host).await;
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static(r.content_type));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-acs-request-id", v);
            }
            ("alibaba", r.audit, resp)
        } else if coffer_dialect_huawei::matches(uri.path()) {
            // Huawei's request ids are 32 hex digits, in the body and the X-Request-Id header.
            let huawei_id = request_id.replace('-', "");
            let r = state.huawei.handle(&parts, uri.path(), &huawei_id).await;
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&huawei_id) {
                resp.headers_mut().insert("x-request-id", v);
            }
            ("huawei", r.audit, resp)
        } else if coffer_dialect_native::matches(uri.path()) {
            let r = state.native.handle(&parts, uri.path(), &request_id).await;
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            ("native", r.audit, resp)
        } else {
            let facts = AuditFacts {
                operation: format!("{method} {}", uri.path()),
                result: "UnknownApi".into(),
                ..Default::default()
            };
            ("unknown", facts, not_found(&request_id))
        };
        let mut response = response;
        if !response.headers().contains_key("x-request-id") {
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", v);
            }
        }
        let latency_us = started.elapsed().as_micros() as u64;
        let status = response.status().as_u16();
        let durable = facts.durable();
        let entry = AuditEntry {
            time_ms: arrived.as_millis(),
            request_id: request_id.clone(),
            account: facts.account,
            access_key_id: facts.access_key_id,
            dialect: dialect.to_string(),
            operation: facts.operation,
            action: facts.action.map(|a| a.as_str().to_string()),
            resource: facts.resource,
            source: peer.to_string(),
            status,
            result: facts.result,
            latency_us,
        };
        // Writes and value reads are answered only once their entry is on disk: a response
        // that the audit log cannot account for is not sent.
        if let Err(e) = state.audit.append(entry, durable).await {
            tracing::error!(error = %e, "the audit log refused an entry");
            if durable {
                return audit_failure(&request_id);
            }
        }
        // Every request is in the audit log already; this line is for debugging only.
        tracing::debug!(status, micros = latency_us, "request finished");
        response
    }
    .instrument(span)
    .await
}

fn audit_failure(request_id: &str) -> Response {
    let body = serde_json::json!({
        "Code": "AuditUnavailable",
        "Message": "The request could not be recorded in the audit log, so its result is withheld.",
        "RequestId": request_id,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn not_found(request_id: &str) -> Response {
    let body = serde_json::json!({
        "Code": "UnknownApi",
        "Message": "This request matches no API that coffer speaks. Supported: Alibaba Cloud KMS \
                    2016-01-20 (POST / with Action, or x-acs-action) and Tencent Cloud SSM \
                    2019-09-23 (POST / with X-TC-Action) and Huawei Cloud CSMS v1 \
                    (/v1/{project_id}/...), and coffer's admin API (/coffer/v1/...).",
        "RequestId": request_id,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}
