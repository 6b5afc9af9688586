//! Leases held in the store, which make a background job run on one node at a time when several
//! nodes share a store (DESIGN.md, "Several nodes"): the purge sweep, the rotation scheduler,
//! each rotation task, a rewrap, and the first start's bootstrap.
//!
//! A [`Lease`] is taken for the service's lease time and renewed in the background at a third
//! of it, for as long as the value lives. Its holder trusts it only until the lease time has
//! passed since the last renewal it *sent* (not since the store answered), so a node whose
//! renewals stop getting through stops believing it holds the lease no later than the store
//! lets another node take it. Jobs check [`Lease::is_held`] between steps and stop when it
//! turns false. A killed node stops renewing; its leases lapse and another node takes them
//! within the lease time.
//!
//! On a store that one process owns (SQLite) every lease is held at once and never renewed.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Service;
use crate::error::Result;
use crate::store::Store;

/// The lease of the purge sweep (expired deletions, key deletion and automatic key rotation,
/// expired replay records).
pub const PURGE_LEASE: &str = "purge";
/// The lease of the rotation scheduler.
pub const ROTATION_LEASE: &str = "rotation-scheduler";
/// The lease of a rewrap.
pub const REWRAP_LEASE: &str = "rewrap";
/// The lease held while the first start creates the operator account.
pub const BOOTSTRAP_LEASE: &str = "bootstrap";

/// The lease of one rotation task: whichever node drives a task holds it.
pub fn task_lease(id: i64) -> String {
    format!("rotation-task/{id}")
}

/// Default lease time: a killed node's jobs move to another node within this.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// Shared between a [`Lease`] and its renewer.
struct State {
    /// Milliseconds after `base` until which the lease is trusted.
    valid_until_ms: AtomicU64,
    /// Set once a renewal was refused (another node holds it) or the lease was given up.
    lost: AtomicBool,
    base: Instant,
}

impl State {
    fn held(&self) -> bool {
        !self.lost.load(Ordering::Acquire)
            && (self.base.elapsed().as_millis() as u64)
                < self.valid_until_ms.load(Ordering::Acquire)
    }

    /// Trusted until `ttl` after `sent` (when the request that took or renewed it left).
    fn extend(&self, sent: Instant, ttl: Duration) {
        let until = sent.saturating_duration_since(self.base) + ttl;
        self.valid_until_ms
            .store(until.as_millis() as u64, Ordering::Release);
    }
}

/// A lease this node holds; renewed in the background while the value lives, released when it
/// is dropped.
pub struct Lease {
    name: String,
    holder: String,
    store: Arc<dyn Store>,
    state: Arc<State>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    held_names: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .field("held", &self.is_held())
            .finish()
    }
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this node may still act under the lease: no renewal was refused, and the lease
    /// time has not passed since the last renewal was sent.
    pub fn is_held(&self) -> bool {
        self.state.held()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if let Ok(mut names) = self.held_names.lock() {
            names.remove(&self.name);
        }
        if !self.store.leases_are_shared() || self.state.lost.load(Ordering::Acquire) {
            return;
        }
        // Given back at once so that another node need not wait for it to lapse. Best effort:
        // when it cannot run (no runtime, the database away) the lease lapses by itself.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, name, holder) =
                (self.store.clone(), self.name.clone(), self.holder.clone());
            rt.spawn(async move {
                if let Err(e) = store.release_lease(&name, &holder).await {
                    tracing::debug!(lease = %name, error = %e, "could not give a lease back; it lapses by itself");
                }
            });
        }
    }
}

/// Renews the lease every third of its time until it is refused; a failed renewal (the store
/// away) is retried at the next beat, and the lease stops being trusted when its time passes.
async fn renew(
    store: Arc<dyn Store>,
    name: String,
    holder: String,
    ttl: Duration,
    state: Arc<State>,
    closed: Arc<AtomicBool>,
) {
    let beat = (ttl / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(beat).await;
        if closed.load(Ordering::Acquire) {
            // The node is stopping and gave its leases back: renewing would take them again.
            state.lost.store(true, Ordering::Release);
            return;
        }
        let sent = Instant::now();
        match store
            .try_acquire_lease(&name, &holder, ttl.as_millis() as u64)
            .await
        {
            Ok(true) => state.extend(sent, ttl),
            Ok(false) => {
                state.lost.store(true, Ordering::Release);
                tracing::warn!(lease = %name, "lost a lease to another node");
                return;
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "could not renew a lease; retrying");
            }
        }
    }
}

impl Service {
    /// This node's name as a lease holder.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Names this node as a lease holder (unique among the nodes sharing the store; the
    /// default is random) and sets the lease time.
    pub fn with_node(mut self, node_id: impl Into<String>, lease_ttl: Duration) -> Self {
        self.node_id = node_id.into();
        self.lease_ttl = lease_ttl.max(Duration::from_millis(300));
        self
    }

    /// How long a lease lasts without renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// Takes the lease `name` for this node and renews it while the returned value lives.
    /// `None` while another node holds it, or another part of this node does (one value per
    /// lease, so that dropping it gives the lease back for good).
    pub async fn try_lease(&self, name: &str) -> Result<Option<Lease>> {
        if self.leases_closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        if self
            .held_leases
            .lock()
            .map(|n| n.contains(name))
            .unwrap_or(true)
        {
            return Ok(None);
        }
        let ttl = self.lease_ttl;
        let sent = Instant::now();
        if !self
            .store
            .try_acquire_lease(name, &self.node_id, ttl.as_millis() as u64)
            .await?
        {
            return Ok(None);
        }
        let state = Arc::new(State {
            valid_until_ms: AtomicU64::new(0),
            lost: AtomicBool::new(false),
            base: sent,
        });
        let renewer = if self.store.leases_are_shared() {
            state.extend(sent, ttl);
            Some(tokio::spawn(renew(
                self.store.clone(),
                name.to_string(),
                self.node_id.clone(),
                ttl,
                state.clone(),
                self.leases_closed.clone(),
            )))
        } else {
            // Nobody else can hold it: trusted for as long as anyone could ask.
            state.valid_until_ms.store(u64::MAX, Ordering::Release);
            None
        };
        if let Ok(mut names) = self.held_leases.lock() {
            if !names.insert(name.to_string()) {
                // Taken by another part of this node meanwhile: that one holds it.
                if let Some(r) = renewer {
                    r.abort();
                }
                return Ok(None);
            }
        }
        Ok(Some(Lease {
            name: name.to_string(),
            holder: self.node_id.clone(),
            store: self.store.clone(),
            state,
            renewer,
            held_names: self.held_leases.clone(),
        }))
    }

    /// Takes the lease `name`, waiting (up to `wait`) while another node holds it.
    pub async fn wait_for_lease(&self, name: &str, wait: Duration) -> Result<Option<Lease>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lease) = self.try_lease(name).await? {
                return Ok(Some(lease));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Gives back every lease this node holds and takes no more (at shutdown, so that other
    /// nodes take its jobs at once rather than when the leases lapse).
    pub async fn release_leases(&self) {
        self.leases_closed.store(true, Ordering::Release);
        let names: Vec<String> = self
            .held_leases
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        for name in names {
            if let Err(e) = self.store.release_lease(&name, &self.node_id).await {
                tracing::warn!(lease = %name, error = %e, "could not give a lease back; it lapses by itself");
            }
        }
    }
}

/// Runs `job` on whichever node holds the lease `name`: every node calls this, and the one
/// holding the lease runs the job every `every` (at once when it takes the lease over). The
/// node keeps the lease while it lives, so the job stays where it is; when its holder dies,
/// another node takes the lease within the lease time and runs the job. `job` gets the lease,
/// and should stop early when [`Lease::is_held`] turns false. Never returns; abort its task to
/// stop it.
pub async fn run_leased<F, Fut>(
    service: Arc<Service>,
    name: &'static str,
    every: Duration,
    mut job: F,
) where
    F: FnMut(Arc<Service>, Arc<Lease>) -> Fut,
    Fut: Future<Output = ()>,
{
    let poll = (service.lease_ttl / 3).max(Duration::from_millis(50));
    let mut lease: Option<Arc<Lease>> = None;
    let mut next_run = Instant::now();
    loop {
        if lease.as_ref().is_some_and(|l| !l.is_held()) {
            tracing::warn!(lease = name, node = %service.node_id, "no longer holds the lease; another node runs this job");
            lease = None;
        }
        if lease.is_none() {
            match service.try_lease(name).await {
                Ok(Some(l)) => {
                    if service.store.leases_are_shared() {
                        tracing::info!(lease = name, node = %service.node_id, "took the lease; this node runs the job");
                    }
                    lease = Some(Arc::new(l));
                    next_run = Instant::now();
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(lease = name, error = %e, "could not ask for a lease"),
            }
        }
        let now = Instant::now();
        if let Some(l) = &lease {
            if now >= next_run {
                job(service.clone(), l.clone()).await;
                next_run = Instant::now() + every;
            }
        }
        let wait = match &lease {
            Some(_) => next_run.saturating_duration_since(Instant::now()).min(poll),
            None => poll,
        };
        tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
    }
}
