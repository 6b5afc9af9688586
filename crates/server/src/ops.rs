//! What operators watch: `/metrics` (Prometheus), `/healthz` (the process answers) and
//! `/readyz` (it can serve: the store answers and the audit log takes entries).
//!
//! These three paths are routed before dialect dispatch, so no API request can reach them
//! (the Huawei API lives under `/v1/` and `/v1.0/`, the admin API under `/coffer/v1/`, the
//! Alibaba and Tencent APIs on `/`); they are not audited, since a scraper or load balancer
//! polling them would otherwise fill the audit log with its own requests.
//!
//! Who may read `/metrics` on the API port: only loopback clients, unless `--metrics-public`.
//! The metrics hold no secret data and no names (labels are dialect, operation, outcome,
//! rate group, state and backend, all from fixed lists), but counts of secrets and request
//! rates still tell an outsider about the installation, and an API port is often public.
//! `--metrics-listen` serves the three paths on an address of their own, to whoever reaches
//! it: the operator chose that address for the scraper.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use coffer_api::Stage;
use coffer_core::{stats, AuditSink, Service};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::json;

/// How long a scrape reuses the secret and key counts: they come from grouped counts over
/// the store, which a scraper polling every second must not run every second.
const INVENTORY_TTL: Duration = Duration::from_secs(5);
/// How long a readiness or inventory query may take before the store counts as not
/// answering.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one store check answers `/readyz` for every caller.
const STORE_CHECK_REUSE: Duration = Duration::from_secs(1);

/// Labels of a request: each value comes from a fixed list (the dialect's name, the
/// operation enum's variant name, [`outcome`]), never from what the request sent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub dialect: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub dialect: &'static str,
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DialectLabel {
    pub dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ThrottleLabels {
    pub dialect: &'static str,
    pub group: &'static str,
}

/// Secret and key states come from the store; they are a handful of fixed words.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

/// What a request's outcome label says, from the step it failed at.
pub fn outcome(failed_at: Option<Stage>) -> &'static str {
    match failed_at {
        None => "ok",
        Some(Stage::Parse) => "malformed",
        Some(Stage::Authenticate) => "unauthenticated",
        Some(Stage::Operation) => "invalid",
        Some(Stage::Authorize) => "denied",
        // A rate, or an audit log that cannot record the operation.
        Some(Stage::Admit) => "refused",
        Some(Stage::Execute) => "failed",
    }
}

/// The server's metrics. Recording a request is a hash lookup of its `&'static str` labels
/// under a read lock and atomic adds (the histogram: a short uncontended lock); nothing
/// allocates once a label set has been seen.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    authentication_failures: Family<DialectLabel, Counter>,
    authorization_failures: Family<DialectLabel, Counter>,
    secrets: Family<StateLabel, Gauge>,
    keys: Family<StateLabel, Gauge>,
    rotation_tasks_waiting: Gauge,
    inventory_failures: Counter,
    /// When the counts above were last read, and whether that read worked.
    inventory_at: tokio::sync::Mutex<Option<Instant>>,
}

impl Metrics {
    /// Registers every metric; `throttled` is the family the gate counts into.
    pub fn new(throttled: Family<ThrottleLabels, Counter>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(stats::LATENCY_BUCKETS)
        });
        let authentication_failures = Family::<DialectLabel, Counter>::default();
        let authorization_failures = Family::<DialectLabel, Counter>::default();
        let secrets = Family::<StateLabel, Gauge>::default();
        let keys = Family::<StateLabel, Gauge>::default();
        let rotation_tasks_waiting = Gauge::default();
        let inventory_failures = Counter::default();
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "coffer_requests",
            "Requests answered, by dialect, operation and outcome",
            requests.clone(),
        );
        registry.register(
            "coffer_request_duration_seconds",
            "Time from a request's arrival to its answer (audit entry included)",
            durations.clone(),
        );
        registry.register(
            "coffer_authentication_failures",
            "Requests refused for their signature, clock, replay or access key",
            authentication_failures.clone(),
        );
        registry.register(
            "coffer_authorization_failures",
            "Authenticated requests their key's policies do not allow",
            authorization_failures.clone(),
        );
        registry.register(
            "coffer_throttled_requests",
            "Requests refused over their rate (--limits), by dialect and rate group",
            throttled,
        );
        registry.register(
            "coffer_audit_queue_depth",
            "Audit entries waiting for the audit log writer",
            stats::AUDIT_QUEUE_DEPTH.clone(),
        );
        registry.register(
            "coffer_audit_sync_duration_seconds",
            "Time each sync of the audit log to disk took",
            stats::AUDIT_SYNC_SECONDS.clone(),
        );
        registry.register(
            "coffer_audit_write_batch_entries",
            "Audit entries per write of the audit log",
            stats::AUDIT_BATCH_ENTRIES.clone(),
        );
        registry.register(
            "coffer_store_commit_batch_size",
            "Write requests per committed transaction (SQLite group commit; 1 on PostgreSQL)",
            stats::STORE_COMMIT_BATCH_SIZE.clone(),
        );
        registry.register(
            "coffer_store_commit_duration_seconds",
            "Time a write transaction took to commit (SQLite: the whole batch)",
            stats::STORE_COMMIT_SECONDS.clone(),
        );
        registry.register(
            "coffer_store_commit_failures",
            "Write transactions that failed and were rolled back",
            stats::STORE_COMMIT_FAILURES.clone(),
        );
        registry.register(
            "coffer_read_cache_hits",
            "Secret and key reads the read cache answered",
            stats::READ_CACHE_HITS.clone(),
        );
        registry.register(
            "coffer_read_cache_misses",
            "Secret and key reads the read cache could not answer",
            stats::READ_CACHE_MISSES.clone(),
        );
        registry.register(
            "coffer_rotations",
            "Rotations the scheduler drove, by outcome",
            stats::ROTATIONS.clone(),
        );
        registry.register(
            "coffer_rotation_tasks_waiting",
            "Rotation tasks not finished (running, or waiting for a retry)",
            rotation_tasks_waiting.clone(),
        );
        registry.register(
            "coffer_secrets",
            "Secrets by state (counted at most every 5 seconds)",
            secrets.clone(),
        );
        registry.register(
            "coffer_keys",
            "Keys by state (counted at most every 5 seconds)",
            keys.clone(),
        );
        registry.register(
            "coffer_inventory_failures",
            "Scrapes whose secret and key counts could not be read from the store",
            inventory_failures.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            authentication_failures,
            authorization_failures,
            secrets,
            keys,
            rotation_tasks_waiting,
            inventory_failures,
            inventory_at: tokio::sync::Mutex::new(None),
        }
    }

    /// Records one answered request.
    pub fn request(
        &self,
        dialect: &'static str,
        operation: &'static str,
        outcome: &'static str,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                operation,
                outcome,
            })
            .inc();
        self.durations
            .get_or_create(&OperationLabels { dialect, operation })
            .observe(seconds);
        let family = match outcome {
            "unauthenticated" => &self.authentication_failures,
            "denied" => &self.authorization_failures,
            _ => return,
        };
        family.get_or_create(&DialectLabel { dialect }).inc();
    }

    /// Reads the secret and key counts again when the last read is older than
    /// [`INVENTORY_TTL`]. A store that does not answer keeps the last counts and counts a
    /// failure (readiness reports the store itself).
    async fn refresh_inventory(&self, service: &Service) {
        let mut at = self.inventory_at.lock().await;
        if at.is_some_and(|t| t.elapsed() < INVENTORY_TTL) {
            return;
        }
        *at = Some(Instant::now());
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, service.store().inventory()).await {
            Ok(Ok(inventory)) => {
                // A state no longer present must read 0, not its last count.
                self.secrets.clear();
                self.keys.clear();
                for (state, n) in inventory.secrets_by_state {
                    self.secrets
                        .get_or_create(&StateLabel { state })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                for (state, n) in inventory.keys_by_state {
                    self.keys
                        .get_or_create(&StateLabel { state })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                self.rotation_tasks_waiting
                    .set(i64::try_from(inventory.rotation_tasks_waiting).unwrap_or(i64::MAX));
            }
            Ok(Err(e)) => {
                self.inventory_failures.inc();
                tracing::warn!(error = %e, "metrics: counting secrets and keys failed");
            }
            Err(_) => {
                self.inventory_failures.inc();
                tracing::warn!("metrics: counting secrets and keys timed out");
            }
        }
    }

    /// The registry in the Prometheus text format, as `/metrics` serves it.
    pub fn encode_text(&self) -> Result<String, std::fmt::Error> {
        self.encode()
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Where the server is in its life, for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Opening the store, checking the root key, resuming a rewrap, bootstrapping.
    Starting = 0,
    Serving = 1,
    /// A stop was asked for: in-flight requests finish, new ones should go elsewhere.
    Stopping = 2,
}

/// The state the three paths share.
pub struct Ops {
    pub metrics: Metrics,
    /// Samples of the request counters, for the console's rates.
    pub rates: crate::rates::RateWindow,
    phase: AtomicU8,
    /// Set once start-up has made them.
    parts: OnceLock<(Arc<Service>, Arc<dyn AuditSink>)>,
    /// Whether clients other than loopback may read `/metrics` on this router.
    metrics_public: bool,
    /// The last store check and when it ended (see [`Ops::store_check`]).
    store_check: tokio::sync::Mutex<Option<(Instant, serde_json::Value)>>,
}

impl Ops {
    pub fn new(metrics: Metrics, metrics_public: bool) -> Self {
        Self {
            metrics,
            rates: crate::rates::RateWindow::default(),
            phase: AtomicU8::new(Phase::Starting as u8),
            parts: OnceLock::new(),
            metrics_public,
            store_check: tokio::sync::Mutex::new(None),
        }
    }

    /// The store's answer to a cheap query. Anyone may ask `/readyz`, so one result serves
    /// every caller for [`STORE_CHECK_REUSE`] and callers meanwhile wait for the one query
    /// under way: a flood costs the store one query, and the log one line, per interval.
    async fn store_check(&self, service: &Service) -> serde_json::Value {
        let mut last = self.store_check.lock().await;
        if let Some((at, result)) = &*last {
            if at.elapsed() < STORE_CHECK_REUSE {
                return result.clone();
            }
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(
            STORE_CHECK_TIMEOUT,
            service.store().count_accounts(),
        )
        .await
        {
            Ok(Ok(_)) => {
                json!({"status": "ok", "millis": started.elapsed().as_millis() as u64})
            }
            Ok(Err(e)) => {
                // The detail goes to the log only: this answer may reach anyone.
                tracing::warn!(error = %e, "readiness: the store query failed");
                json!({"status": "failing", "error": "the store query failed (the server log says why)"})
            }
            Err(_) => json!({
                "status": "failing",
                "error": format!("no answer within {}s", STORE_CHECK_TIMEOUT.as_secs()),
            }),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }

    /// Start-up is done: readiness now asks the store and the audit log.
    pub fn serving(&self, service: Arc<Service>, audit: Arc<dyn AuditSink>) {
        let _ = self.parts.set((service, audit));
        self.phase.store(Phase::Serving as u8, Ordering::Release);
    }

    pub fn stopping(&self) {
        self.phase.store(Phase::Stopping as u8, Ordering::Release);
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Stopping,
        }
    }

    /// A copy of this state whose `/metrics` anyone may read (for `--metrics-listen`).
    fn public(self: &Arc<Self>) -> Arc<OpsView> {
        Arc::new(OpsView {
            ops: self.clone(),
            metrics_public: true,
        })
    }
}

/// The state a router holds: the shared [`Ops`] and who may read its `/metrics`.
pub struct OpsView {
    ops: Arc<Ops>,
    metrics_public: bool,
}

/// The three paths, to merge into the API router (loopback-only `/metrics` unless
/// `--metrics-public`).
pub fn routes<S>(ops: &Arc<Ops>) -> Router<S> {
    let view = Arc::new(OpsView {
        ops: ops.clone(),
        metrics_public: ops.metrics_public,
    });
    router(view)
}

/// The router of `--metrics-listen`: the same paths, `/metrics` open to every client.
pub fn dedicated(ops: &Arc<Ops>) -> Router {
    router(ops.public()).fallback(|| async {
        json_response(
            StatusCode::NOT_FOUND,
            json!({"status": "not_found", "paths": ["/metrics", "/healthz", "/readyz"]}),
        )
    })
}

fn router<S>(view: Arc<OpsView>) -> Router<S> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(view)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn metrics(
    State(view): State<Arc<OpsView>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !view.metrics_public && !peer.ip().to_canonical().is_loopback() {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({
                "status": "forbidden",
                "message": "/metrics on the API port answers loopback clients only; serve it \
                            on its own address with --metrics-listen, or to every client \
                            with --metrics-public",
            }),
        );
    }
    let ops = &view.ops;
    if let Some((service, _)) = ops.parts.get() {
        ops.metrics.refresh_inventory(service).await;
    }
    match ops.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": "error", "message": "the metrics could not be encoded"}),
        ),
    }
}

/// The process is alive and its HTTP server answers; nothing else is asked.
async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

/// Ready when start-up is done, no stop was asked for, the store answers a cheap query in
/// time and the audit log takes entries.
async fn readyz(State(view): State<Arc<OpsView>>) -> Response {
    let ops = &view.ops;
    let phase = ops.phase();
    let (service, audit) = match (phase, ops.parts.get()) {
        (Phase::Serving, Some((s, a))) => (s, a),
        (Phase::Stopping, _) => {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "stopping", "checks": {}}),
            )
        }
        _ => {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "status": "starting",
                    "message": "start-up (store, root key, an unfinished rewrap, bootstrap) is not done",
                    "checks": {},
                }),
            )
        }
    };
    let store = ops.store_check(service).await;
    let audit = match audit.health() {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => json!({"status": "failing", "error": e.to_string()}),
    };
    let ready = store["status"] == "ok" && audit["status"] == "ok";
    json_response(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        json!({
            "status": if ready { "ready" } else { "not_ready" },
            "checks": {"store": store, "audit_log": audit},
        }),
    )
}
