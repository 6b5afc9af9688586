//! The scheduler: every tick it asks the service to resume tasks whose next attempt has come
//! and to start the automatic rotations that are due, then audits what happened. Which
//! rotations are due, and when a failed one is retried, is decided by the core against its
//! clock; this loop only wakes it up, so tests drive the same logic with a manual clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::service::lease::{run_leased, Lease, ROTATION_LEASE};
use coffer_core::service::RotationOutcome;
use coffer_core::{AuditEntry, AuditSink, Service, TaskStatus};

#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// How often to look for due work.
    pub every: Duration,
    /// Most tasks and most due secrets taken per tick.
    pub batch: u32,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(30),
            batch: 100,
        }
    }
}

/// Starts the loop. It runs on whichever node holds the scheduler's lease (see
/// `coffer_core::service::lease`): on a store one process owns, always here; with several nodes
/// on one database, on one of them, and on another within the lease time when that one dies.
/// The first pass runs as soon as the lease is taken, so tasks a crash interrupted resume as
/// soon as a node runs the scheduler. Each task is driven under its own lease as well, so a
/// rotation a request started on another node is never driven twice at once.
pub fn spawn_scheduler(
    service: Arc<Service>,
    audit: Arc<dyn AuditSink>,
    options: SchedulerOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_leased(
        service,
        ROTATION_LEASE,
        options.every,
        move |service, lease| {
            let audit = audit.clone();
            async move { pass(&service, audit.as_ref(), &lease, options.batch).await }
        },
    ))
}

/// One pass of the scheduler, under its lease.
async fn pass(service: &Service, audit: &dyn AuditSink, lease: &Lease, batch: u32) {
    // A rotation changes a secret and a database password; its entry must be durable.
    // While the audit log cannot take entries, rotations wait for it rather than run
    // unrecorded (the same rule the server applies to requests).
    if let Err(e) = audit.health() {
        tracing::warn!(error = %e, "rotation scheduler pass skipped");
        return;
    }
    if !lease.is_held() {
        return;
    }
    let started = Instant::now();
    match service.run_due_rotations(batch).await {
        Ok(outcomes) => {
            for o in &outcomes {
                report(service, audit, o, started).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "rotation scheduler pass failed"),
    }
}

/// Logs and audits one outcome. Entries carry the secret and the result, never a password.
async fn report(service: &Service, audit: &dyn AuditSink, o: &RotationOutcome, started: Instant) {
    let (result, status, outcome) = match (&o.task, &o.error) {
        (Some(t), _) if t.status == TaskStatus::Succeeded => ("OK".to_string(), 200, "succeeded"),
        (Some(t), _) if t.status == TaskStatus::Running => {
            ("RotationRetrying".to_string(), 503, "retrying")
        }
        _ => ("RotationFailed".to_string(), 500, "failed"),
    };
    coffer_core::stats::ROTATIONS
        .get_or_create(&coffer_core::stats::RotationLabel { outcome })
        .inc();
    let task_id = o.task.as_ref().map(|t| t.id);
    let reason = o
        .error
        .clone()
        .or_else(|| o.task.as_ref().and_then(|t| t.last_error.clone()));
    match &reason {
        Some(r) if result != "OK" => tracing::warn!(
            account = %o.scope.account, region = %o.scope.region, secret = %o.secret_name,
            task = ?task_id, reason = %r, "rotation did not finish"
        ),
        _ => tracing::info!(
            account = %o.scope.account, region = %o.scope.region, secret = %o.secret_name,
            task = ?task_id, "rotated a managed secret"
        ),
    }
    let entry = AuditEntry {
        time_ms: service.now().0,
        request_id: task_id.map(|id| format!("task-{id}")).unwrap_or_default(),
        account: Some(o.scope.account.0),
        access_key_id: None,
        dialect: "scheduler".into(),
        operation: "RotateSecret".into(),
        action: Some("secrets:Rotate".into()),
        resource: Some(format!(
            "crn:coffer:{}:{}:secret/{}",
            o.scope.region, o.scope.account, o.secret_name
        )),
        source: "coffer".into(),
        status,
        result,
        latency_us: started.elapsed().as_micros() as u64,
    };
    if let Err(e) = audit.append(entry, true).await {
        tracing::warn!(error = %e, "could not audit a rotation");
    }
}
