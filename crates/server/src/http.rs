//! HTTP plumbing: one port for every dialect. Dispatch looks at the request to decide which
//! cloud API it speaks; everything else gets a short JSON 404 naming what this server speaks.
//! A request over the server's input limits (URI, header fields, body) is refused here, but
//! in the format of the API it is addressed to, and audited like every other request.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use coffer_api::{handle, refuse, Admission, Admit, Dialect, Handled, HttpRequest, Refusal, Reply};
use coffer_console::Console;
use coffer_core::throttle::{Limiter, Rate};
use coffer_core::{AuditEntry, AuditFacts, AuditSink, Clock, Service};
use coffer_dialect_alibaba::Alibaba;
use coffer_dialect_aws::Aws;
use coffer_dialect_huawei::Huawei;
use coffer_dialect_native::Native;
use coffer_dialect_tencent::Tencent;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracing::Instrument;

use crate::ops::ThrottleLabels;

use crate::audit_limit::{Summary, UnauthenticatedAudit};
use crate::intake::{self, BodyRead, InputLimits};

pub struct AppState {
    pub alibaba: Alibaba,
    pub tencent: Tencent,
    pub huawei: Huawei,
    pub aws: Aws,
    pub native: Native,
    pub console: Console,
    pub service: Arc<Service>,
    pub audit: Arc<dyn AuditSink>,
    pub gate: Gate,
    pub input: InputLimits,
    /// How many entries requests that fail before authenticating may add, per address.
    pub unauthenticated: UnauthenticatedAudit,
    /// Metrics, health and readiness.
    pub ops: Arc<crate::ops::Ops>,
}

/// The server's admission of an authorized operation, asked by the pipeline just before it
/// executes (see [`coffer_api::Admission`]): it guards the audit log and enforces the request
/// rates of the `--limits` profile.
pub struct Gate {
    audit: Arc<dyn AuditSink>,
    /// `None` when the profile has no rates: then nothing is looked up per request.
    throttle: Option<Throttle>,
    /// Requests refused over their rate, by dialect and group (`/metrics`).
    throttled: Family<ThrottleLabels, Counter>,
}

/// The request rates: token buckets per (account, API, group), see
/// [`coffer_core::throttle`].
struct Throttle {
    /// The limiter's slot of each (API, group) that has a rate.
    slots: HashMap<(&'static str, &'static str), u32>,
    names: Vec<(&'static str, &'static str)>,
    limiter: Limiter,
    clock: Arc<dyn Clock>,
    /// Requests refused for their rate since the start (for metrics).
    refused: AtomicU64,
    /// Refused since the last log line, and when the next line may be written: a client
    /// retrying into a limit must not write a line per request.
    unlogged: AtomicU64,
    next_log_ms: AtomicI64,
}

/// At most one summary line about throttled requests per this many milliseconds.
const THROTTLE_LOG_EVERY_MS: i64 = 10_000;

impl Gate {
    pub fn new(audit: Arc<dyn AuditSink>) -> Self {
        Self {
            audit,
            throttle: None,
            throttled: Family::default(),
        }
    }

    /// Counts throttled requests into `family` (registered with the metrics).
    pub fn with_throttled(mut self, family: Family<ThrottleLabels, Counter>) -> Self {
        self.throttled = family;
        self
    }

    /// Limits each (API, group) of `rates` to its rate per account, by `clock`'s time.
    pub fn with_rates(
        mut self,
        rates: &BTreeMap<(&'static str, &'static str), Rate>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        if rates.is_empty() {
            self.throttle = None;
            return self;
        }
        let names: Vec<_> = rates.keys().copied().collect();
        let slots = names
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u32))
            .collect();
        self.throttle = Some(Throttle {
            slots,
            names,
            limiter: Limiter::new(rates.values().copied().collect()),
            clock,
            refused: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            next_log_ms: AtomicI64::new(i64::MIN),
        });
        self
    }

    /// Requests refused for their rate since the server started.
    pub fn throttled_total(&self) -> u64 {
        self.throttle
            .as_ref()
            .map_or(0, |t| t.refused.load(Ordering::Relaxed))
    }
}

impl Throttle {
    fn admit(
        &self,
        request: &Admit<'_>,
        throttled: &Family<ThrottleLabels, Counter>,
    ) -> Result<(), coffer_core::Error> {
        let Some(group) = request.rate_group else {
            return Ok(());
        };
        let Some(&slot) = self.slots.get(&(request.dialect, group)) else {
            return Ok(());
        };
        let now = self.clock.now();
        match self.limiter.take(request.caller.account, slot, now) {
            Ok(()) => Ok(()),
            Err(wait_ms) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                throttled
                    .get_or_create(&ThrottleLabels {
                        dialect: request.dialect,
                        group,
                    })
                    .inc();
                let unlogged = self.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
                let due = self.next_log_ms.load(Ordering::Relaxed);
                if now.0 >= due
                    && self
                        .next_log_ms
                        .compare_exchange(
                            due,
                            now.0 + THROTTLE_LOG_EVERY_MS,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    let (api, group) = self.names[slot as usize];
                    self.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
                    tracing::warn!(
                        throttled = unlogged,
                        total = self.refused.load(Ordering::Relaxed),
                        dialect = api,
                        group,
                        account = %request.caller.account,
                        rate = %self.limiter.rates()[slot as usize],
                        "requests refused over their rate (the latest named; at most one such line every {}s)",
                        THROTTLE_LOG_EVERY_MS / 1000
                    );
                }
                Err(coffer_core::Error::Throttled {
                    retry_after_ms: Some(wait_ms),
                })
            }
        }
    }
}

impl Admission for Gate {
    async fn admit(&self, request: &Admit<'_>) -> Result<(), coffer_core::Error> {
        // An operation whose entry must be durable (a change, a value read) runs only while
        // the audit log takes entries: once it cannot, such an operation is refused before it
        // runs instead of being performed and left unrecorded. Reads whose entries need not
        // be durable go on. The refusal is itself offered to the log like any answer.
        if request.permission.audit_durably() {
            if let Err(e) = self.audit.health() {
                tracing::warn!(
                    dialect = request.dialect,
                    account = %request.caller.account,
                    error = %e,
                    "refused an operation the audit log cannot record"
                );
                return Err(e);
            }
        }
        match &self.throttle {
            Some(t) => t.admit(request, &self.throttled),
            None => Ok(()),
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    // `/metrics`, `/healthz` and `/readyz` are routed before dispatch (see `ops`).
    Router::new()
        .merge(crate::ops::routes(&state.ops))
        .fallback(dispatch)
        // The dispatch reads bodies itself, with `--max-body-bytes`, so that an oversized one
        // is refused in its API's format (see `intake`).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
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

/// The APIs, in the order dispatch asks them.
#[derive(Clone, Copy)]
enum Api {
    Aws,
    Tencent,
    Alibaba,
    Huawei,
    Native,
    Console,
}

/// Which API a request is addressed to. The order, and why:
/// 0. AWS first: its requests carry `X-Amz-Target` (or an AWS JSON body) on `/`, which no
///    other API sends, and neither `Action` nor `x-acs-action`.
/// 1. Tencent before Alibaba: Tencent's legacy signature also sends an `Action` field on `/`,
///    which Alibaba would otherwise claim; Tencent claims it only when `Version` is one of its
///    own, so Alibaba still gets every other `Action`.
/// 2. Alibaba: `x-acs-action`, or any `Action` on `/` (a wrong version then gets Alibaba's own
///    error instead of a 404).
/// 3. Huawei, the admin API and the web console by path prefix (`/v1/`, `/v1.0/`;
///    `/coffer/v1`; `/console`), which no request of the first two has.
fn recognise(state: &AppState, req: &HttpRequest<'_>) -> Option<Api> {
    if state.aws.recognises(req) {
        Some(Api::Aws)
    } else if state.tencent.recognises(req) {
        Some(Api::Tencent)
    } else if state.alibaba.recognises(req) {
        Some(Api::Alibaba)
    } else if state.huawei.recognises(req) {
        Some(Api::Huawei)
    } else if state.native.recognises(req) {
        Some(Api::Native)
    } else if state.console.recognises(req) {
        Some(Api::Console)
    } else {
        None
    }
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    // The span carries only the request id: every log line inside the request gets it, and
    // the audit entry under the same id has the rest. With method and path as well, building
    // the span cost ~7% of GetSecretValue throughput at the default log level.
    let span = tracing::info_span!("request", request_id = request_id.as_str());
    async move {
        let started = std::time::Instant::now();
        let arrived = state.service.now();
        let (parts, body) = request.into_parts();
        let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
        // The head first (nothing of the body is read for a refused head), then the body.
        let (body, tail, refusal) = match intake::check_head(uri, headers, &state.input) {
            Some(refusal) => {
                intake::drain(body, headers).await;
                (Bytes::new(), Vec::new(), Some(refusal))
            }
            None => match intake::read_body(body, headers, state.input.max_body_bytes).await {
                BodyRead::Complete(bytes) => (bytes, Vec::new(), None),
                BodyRead::TooLarge { prefix, tail } => (
                    prefix,
                    tail,
                    Some(Refusal::BodyTooLarge {
                        limit: state.input.max_body_bytes,
                    }),
                ),
                BodyRead::Incomplete => (Bytes::new(), Vec::new(), Some(Refusal::IncompleteBody)),
            },
        };
        let pairs = header_pairs(headers);
        let mut req = HttpRequest {
            method: method.as_str(),
            path: uri.path(),
            raw_query: uri.query().unwrap_or(""),
            headers: &pairs,
            body: &body,
            request_id: &request_id,
            peer: Some(peer),
        };
        // A refused body is only looked at for the parameters that say which API it is for (a
        // form's `Action` and `Version`, at its start or its end), and only whole ones.
        let sample;
        if refusal.is_some() {
            sample = intake::form_sample(&body, &tail, req.is_form());
            req.body = &sample;
        }
        let gate = &state.gate;
        let api = recognise(&state, &req);
        // The console's sign-in page and its static files need no session and are no
        // operation: answered like `/healthz`, without an audit entry.
        if refusal.is_none() && matches!(api, Some(Api::Console)) {
            if let Some(reply) = state.console.public(&req) {
                return into_response(reply, &request_id);
            }
        }
        // Each dialect's pipeline runs boxed: held inline, the largest of the six would set the
        // size of this handler's future, which axum moves (copies) twice per request into its
        // own boxes; boxed, only the one pipeline that runs is allocated and copied once.
        let (dialect, handled) = match (refusal, api) {
            (None, Some(Api::Aws)) => (Aws::NAME, Box::pin(handle(&state.aws, gate, &req)).await),
            (None, Some(Api::Tencent)) => (
                Tencent::NAME,
                Box::pin(handle(&state.tencent, gate, &req)).await,
            ),
            (None, Some(Api::Alibaba)) => (
                Alibaba::NAME,
                Box::pin(handle(&state.alibaba, gate, &req)).await,
            ),
            (None, Some(Api::Huawei)) => (
                Huawei::NAME,
                Box::pin(handle(&state.huawei, gate, &req)).await,
            ),
            (None, Some(Api::Native)) => (
                Native::NAME,
                Box::pin(handle(&state.native, gate, &req)).await,
            ),
            (None, Some(Api::Console)) => (
                Console::NAME,
                Box::pin(handle(&state.console, gate, &req)).await,
            ),
            (Some(r), Some(Api::Aws)) => (Aws::NAME, refuse(&state.aws, &req, r)),
            (Some(r), Some(Api::Tencent)) => (Tencent::NAME, refuse(&state.tencent, &req, r)),
            (Some(r), Some(Api::Alibaba)) => (Alibaba::NAME, refuse(&state.alibaba, &req, r)),
            (Some(r), Some(Api::Huawei)) => (Huawei::NAME, refuse(&state.huawei, &req, r)),
            (Some(r), Some(Api::Native)) => (Native::NAME, refuse(&state.native, &req, r)),
            (Some(r), Some(Api::Console)) => (Console::NAME, refuse(&state.console, &req, r)),
            // A form posted to `/` that no API claims from what was read (the query, and the
            // parameters at the body's ends): Alibaba's RPC form requests are the ones that
            // look like this most (Tencent's legacy form ends with its `Action` and `Version`),
            // so Alibaba words the refusal.
            (Some(r), None) if req.path == "/" && req.is_form() => {
                (Alibaba::NAME, refuse(&state.alibaba, &req, r))
            }
            (refusal, None) => {
                let audit = AuditFacts {
                    operation: format!("{method} {}", uri.path()),
                    result: refusal
                        .map_or("UnknownApi", |r| unknown_refusal(r).1)
                        .into(),
                    ..Default::default()
                };
                let reply = match refusal {
                    None => not_found(&request_id),
                    Some(r) => refused(&request_id, r),
                };
                (
                    "unknown",
                    Handled {
                        reply,
                        audit,
                        refused_at_admission: false,
                        operation: None,
                        failed_at: Some(coffer_api::Stage::Parse),
                    },
                )
            }
        };
        let Handled {
            reply,
            audit: facts,
            refused_at_admission,
            operation,
            failed_at,
        } = handled;
        let response = into_response(reply, &request_id);
        let latency_us = started.elapsed().as_micros() as u64;
        let status = response.status().as_u16();
        let operation = operation.unwrap_or("unknown");
        let outcome = crate::ops::outcome(failed_at);
        let metrics = &state.ops.metrics;
        let record =
            |outcome| metrics.request(dialect, operation, outcome, started.elapsed().as_secs_f64());
        // A request that failed before it authenticated is recorded (and logged) only while
        // its address has budget left; the others are counted, and a summary entry says how
        // many (see `audit_limit`): anyone can send such requests, and no account answers for
        // them. Every other entry is written, always.
        if facts.account.is_none() && facts.result != "OK" {
            let verdict = state.unauthenticated.judge(
                peer.ip(),
                std::time::Instant::now(),
                arrived.as_millis(),
            );
            if let Some(summary) = verdict.summary {
                record_summary(&state, summary).await;
            }
            if !verdict.record {
                record(outcome);
                return response;
            }
            tracing::info!(
                dialect,
                code = facts.result.as_str(),
                status,
                "request refused"
            );
        }
        // A refusal by the gate performed nothing, so its entry need not reach the disk before
        // the answer: a client hammering a rate limit then costs the log a queued line per
        // request, not a flush.
        let durable = facts.durable() && !refused_at_admission;
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
        // that the audit log cannot account for is not sent. A refusal by the gate (the log
        // was already failing, or a rate; nothing was performed) keeps its own answer.
        if let Err(e) = state.audit.append(entry, durable).await {
            tracing::error!(error = %e, "the audit log refused an entry");
            if durable {
                // The client is told the request failed, whatever it did.
                record("audit_failed");
                return into_response(audit_failure(&state, dialect, &req), &request_id);
            }
        }
        // Every request is in the audit log already; this line is for debugging only.
        tracing::debug!(status, micros = latency_us, "request finished");
        record(outcome);
        response
    }
    .instrument(span)
    .await
}

fn into_response(reply: Reply, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(reply.content_type));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    if !response.headers().contains_key("x-request-id") {
        if let Ok(v) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
    }
    response
}

/// The answer to a request whose durable audit entry could not be written (the log failed
/// while it ran): its result is withheld, in the dialect's own "service unavailable" (a
/// server-side failure its SDK retries), since the log cannot account for it. It may have
/// been performed; the message says so.
fn audit_failure(state: &AppState, dialect: &str, req: &HttpRequest<'_>) -> Reply {
    let withheld = || coffer_core::Error::Unavailable {
        reason: "the audit log could not record the request, so its result is withheld (it may \
                 have been performed)"
            .into(),
    };
    match dialect {
        d if d == Aws::NAME => state.aws.render(req, Err(withheld().into())),
        d if d == Tencent::NAME => state.tencent.render(req, Err(withheld().into())),
        d if d == Alibaba::NAME => state.alibaba.render(req, Err(withheld().into())),
        d if d == Huawei::NAME => state.huawei.render(req, Err(withheld().into())),
        d if d == Native::NAME => state.native.render(req, Err(withheld().into())),
        d if d == Console::NAME => state.console.render(req, Err(withheld().into())),
        // Only requests of a dialect have durable entries; kept for completeness.
        _ => {
            let body = serde_json::json!({
                "Code": "AuditUnavailable",
                "Message": "The request could not be recorded in the audit log, so its result is withheld.",
                "RequestId": req.request_id,
            });
            Reply::new(503, "application/json", body.to_string().into_bytes())
        }
    }
}

/// The entry that says how many failures of one source were not recorded.
fn summary_entry(summary: &Summary, now_ms: i64) -> AuditEntry {
    let when = |ms: i64| coffer_core::Timestamp(ms).to_iso8601_seconds();
    AuditEntry {
        time_ms: now_ms,
        request_id: uuid::Uuid::new_v4().to_string(),
        account: None,
        access_key_id: None,
        dialect: "server".into(),
        operation: "AuditSuppressed".into(),
        action: None,
        resource: Some(format!(
            "{} unauthenticated failures from {} not recorded, from {} to {}",
            summary.suppressed,
            summary.source,
            when(summary.first_ms),
            when(summary.last_ms)
        )),
        source: summary.source.to_string(),
        status: 0,
        result: "Suppressed".into(),
        latency_us: 0,
    }
}

/// Records a summary (and logs it once): nothing waits on it, so it is not made durable on
/// its own; the next durable entry covers it.
async fn record_summary(state: &AppState, summary: Summary) {
    tracing::info!(
        source = %summary.source,
        suppressed = summary.suppressed,
        "audit entries and log lines of unauthenticated failures suppressed"
    );
    let entry = summary_entry(&summary, state.service.now().as_millis());
    if let Err(e) = state.audit.append(entry, false).await {
        tracing::error!(error = %e, "the audit log refused an entry");
    }
}

/// Records what every source owes, every `every` (the server calls [`flush_summaries`] once
/// more when it stops).
pub fn spawn_summaries(
    state: Arc<AppState>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            flush_summaries(&state).await;
        }
    })
}

/// Records what every source owes now.
pub async fn flush_summaries(state: &AppState) {
    for summary in state.unauthenticated.summaries(std::time::Instant::now()) {
        record_summary(state, summary).await;
    }
}

/// The code and status of a refused request that matches no API.
fn unknown_refusal(r: Refusal) -> (u16, &'static str) {
    match r {
        Refusal::BodyTooLarge { .. } => (413, "BodyTooLarge"),
        Refusal::UriTooLong { .. } => (414, "UriTooLong"),
        Refusal::TooManyHeaders { .. } => (431, "TooManyHeaders"),
        Refusal::IncompleteBody => (400, "IncompleteBody"),
    }
}

fn refused(request_id: &str, r: Refusal) -> Reply {
    let (status, code) = unknown_refusal(r);
    let body = serde_json::json!({
        "Code": code,
        "Message": r.describe(),
        "RequestId": request_id,
    });
    Reply::new(status, "application/json", body.to_string().into_bytes())
}

fn not_found(request_id: &str) -> Reply {
    let body = serde_json::json!({
        "Code": "UnknownApi",
        "Message": "This request matches no API that coffer speaks. Supported: AWS Secrets \
                    Manager 2017-10-17 (POST / with X-Amz-Target: secretsmanager.<Operation>), \
                    Alibaba Cloud KMS 2016-01-20 (POST / with Action, or x-acs-action) and Tencent Cloud SSM \
                    2019-09-23 (POST / with X-TC-Action) and Huawei Cloud CSMS v1 \
                    (/v1/{project_id}/...), and coffer's admin API (/coffer/v1/...); the web \
                    console is at /console/.",
        "RequestId": request_id,
    });
    Reply::new(404, "application/json", body.to_string().into_bytes())
}
