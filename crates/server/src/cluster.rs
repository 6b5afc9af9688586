//! What a node does because other nodes may share its store: it names itself, runs the purge
//! sweep only while it holds that job's lease, keeps replay records where every node sees
//! them, and tells the database how far its audit log reaches. On SQLite (one node) the same
//! code runs with leases that are always held and no shared records.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coffer_auth::replay::{Fingerprint, LedgerAnswer, ReplayLedger, ReplayUnavailable};
use coffer_core::service::lease::{run_leased, Lease, PURGE_LEASE};
use coffer_core::Service;
use coffer_store::postgres::ReplayRecord;
use coffer_store::{FileAuditLog, PgStore};

/// Replay records in the PostgreSQL store, shared by every node on it.
pub struct PgReplayLedger(pub Arc<PgStore>);

#[async_trait]
impl ReplayLedger for PgReplayLedger {
    async fn record(
        &self,
        key_id: &str,
        fingerprint: &Fingerprint,
        first_use: &[u8],
        now: i64,
        expires_at: i64,
        fetch_first_use: bool,
    ) -> Result<LedgerAnswer, ReplayUnavailable> {
        match self
            .0
            .record_replay(
                key_id,
                fingerprint,
                first_use,
                now,
                expires_at,
                fetch_first_use,
            )
            .await
        {
            Ok(ReplayRecord::Recorded) => Ok(LedgerAnswer::Recorded),
            Ok(ReplayRecord::Seen(first)) => Ok(LedgerAnswer::Seen(first)),
            Err(e) => {
                tracing::warn!(error = %e, "could not record a signed request");
                Err(ReplayUnavailable(e.to_string()))
            }
        }
    }
}

/// This node's name among the nodes of a store: `--node-name`, else the host name, the port
/// and a random suffix (a node restarted on the same port is another holder, so that it never
/// mistakes a lease its previous life held for its own).
pub fn node_name(given: Option<&str>, listen: std::net::SocketAddr) -> String {
    if let Some(name) = given.map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_string();
    }
    let host = host_name();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}:{}-{suffix}", listen.port())
}

/// The machine's host name, for node names and log locations.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The purge sweep, on whichever node holds its lease: secrets whose recovery window has
/// ended, keys whose deletion date has come, keys whose automatic rotation is due, and (on
/// PostgreSQL) replay records past their window. Each part is its own transactions and
/// idempotent, so a sweep cut short by a lost lease or a kill is finished by the next holder.
pub fn spawn_purge(
    service: Arc<Service>,
    every: Duration,
    shared: Option<Arc<PgStore>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_leased(
        service,
        PURGE_LEASE,
        every,
        move |service, lease| {
            let shared = shared.clone();
            async move { sweep(&service, &lease, shared.as_deref()).await }
        },
    ))
}

async fn sweep(service: &Service, lease: &Lease, shared: Option<&PgStore>) {
    while lease.is_held() {
        match service.purge_due(500).await {
            Ok(purged) if purged.is_empty() => break,
            Ok(purged) => {
                for (scope, name) in &purged {
                    tracing::info!(account = %scope.account, region = %scope.region, secret = %name, "purged a deleted secret");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "purge sweep failed");
                break;
            }
        }
    }
    if !lease.is_held() {
        return;
    }
    match service.purge_due_keys(500).await {
        Ok(purged) => {
            for (scope, id) in &purged {
                tracing::info!(account = %scope.account, region = %scope.region, key = %id, "deleted a key whose deletion date came");
            }
        }
        Err(e) => tracing::warn!(error = %e, "key purge sweep failed"),
    }
    if !lease.is_held() {
        return;
    }
    match service.rotate_due_keys(500).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            keys = n,
            "rotated the material of keys whose rotation was due"
        ),
        Err(e) => tracing::warn!(error = %e, "key rotation sweep failed"),
    }
    if let Some(pg) = shared {
        let now = service.now().as_secs();
        while lease.is_held() {
            match pg.sweep_cluster_records(now, 10_000).await {
                Ok(n) if n < 10_000 => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "sweeping expired replay records failed");
                    break;
                }
            }
        }
    }
}

/// Tells the database how far this node's audit log reaches, whenever more of it is on disk,
/// so that `coffer audit verify --database-url` knows every node's log and checks none was cut
/// short. Reports at most every `every`.
pub fn spawn_audit_reporter(
    pg: Arc<PgStore>,
    audit: Arc<FileAuditLog>,
    node: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let location = audit_location(&audit);
        let mut reported = None;
        loop {
            report_audit_head(&pg, &audit, &node, &location, &mut reported).await;
            tokio::time::sleep(every).await;
        }
    })
}

/// Where this node's audit log lives, as the database records it: host and absolute path.
pub fn audit_location(audit: &FileAuditLog) -> String {
    let path = std::fs::canonicalize(audit.path()).unwrap_or_else(|_| audit.path().to_path_buf());
    format!("{}:{}", host_name(), path.display())
}

/// Reports the log's head if it moved since `reported`.
pub async fn report_audit_head(
    pg: &PgStore,
    audit: &FileAuditLog,
    node: &str,
    location: &str,
    reported: &mut Option<u64>,
) {
    let head = audit.durable_head();
    let (Some(first), Some(last)) = (head.first, head.last) else {
        return;
    };
    if *reported == Some(last.seq) {
        return;
    }
    match pg
        .record_audit_chain(&first, node, location, last.seq, &last.mac)
        .await
    {
        Ok(()) => *reported = Some(last.seq),
        Err(e) => tracing::warn!(error = %e, "could not report the audit log's head"),
    }
}
