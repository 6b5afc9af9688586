//! This node's cache of secrets as last read, for the hot path of GetSecretValue and
//! DescribeSecret on a database that other nodes write too.
//!
//! Unlike the SQLite store's cache (`crate::cache`), nothing here is trusted without asking
//! the database: other nodes write without telling this one. What makes a cached entry cheap
//! to trust is the secret's `revision`, which every committed change to a secret (its row,
//! tags, subscriptions, versions and stages, all written under the row's lock by
//! `secret_writes`) moves forward, and which a deleted secret no longer has at all (its row is
//! gone, and a secret created again under the name has another id). So a read of a cached
//! secret is one primary-key probe, `SELECT revision FROM secrets WHERE id = $1`, instead of
//! the secret's joined read and its value's: when the revision is still the cached one, the
//! cached record and sealed value are exactly what the full read would return now; when it is
//! not (or the row is gone), the full read runs and refills the entry.
//!
//! The probe runs after the read began, so a write another node acknowledged before is
//! seen: the bound on staleness is the same as without a cache (none). Under load the probes
//! of concurrent reads travel together ([`RevisionProbe`]): a task takes every probe waiting
//! and asks `SELECT id, revision FROM secrets WHERE id = ANY($1)` once; a probe joins only a
//! statement sent after it was asked for, so the guarantee holds for each read. Entries hold what the
//! database holds (metadata and sealed values, never plaintext); the cache is bounded and
//! starts over empty when full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coffer_core::store::request_began;
use coffer_core::{Error, KeyRecord, Result, Scope, SealedValue, SecretRecord};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::rows::{col, pg_error, rows, timed_out, unavailable};

/// Most secrets (and, apart, most keys) kept.
const CAPACITY: usize = 10_000;

/// A secret as read, with the sealed value of the version last read from it.
#[derive(Clone)]
pub(super) struct Cached {
    pub record: SecretRecord,
    pub value: Option<(String, SealedValue)>,
    /// When the newest statement that found the secret at `record.revision` was about to be
    /// sent (a probe or a full read): the database held this revision at some moment after.
    pub confirmed: Instant,
}

impl Cached {
    /// Whether the request being served may take the entry without asking the database:
    /// only when a statement sent after the request began found this revision (see
    /// [`coffer_core::store::serving_request`]). Outside of a request, never.
    pub(super) fn current_for_this_request(&self) -> bool {
        request_began().is_some_and(|began| self.confirmed >= began)
    }
}

#[derive(Default)]
pub(super) struct SecretCache {
    entries: Mutex<HashMap<String, Cached>>,
}

fn key(scope: &Scope, name: &str) -> String {
    format!("{}\u{0}{}\u{0}{name}", scope.account.0, scope.region)
}

impl SecretCache {
    pub(super) fn get(&self, scope: &Scope, name: &str) -> Option<Cached> {
        self.entries.lock().ok()?.get(&key(scope, name)).cloned()
    }

    /// Keeps what a full read found. A value already cached for the same revision stays when
    /// the read brought none (a DescribeSecret after a GetSecretValue), and so does a later
    /// confirmation of that revision.
    pub(super) fn fill(&self, mut cached: Cached) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let k = key(&cached.record.scope, &cached.record.name);
        if let Some(old) = entries.get(&k) {
            if old.record.id == cached.record.id && old.record.revision == cached.record.revision {
                cached.confirmed = cached.confirmed.max(old.confirmed);
                if cached.value.is_none() {
                    cached.value = old.value.clone();
                }
            }
        }
        if entries.len() >= CAPACITY && !entries.contains_key(&k) {
            entries.clear();
        }
        entries.insert(k, cached);
    }

    /// Replaces the cached value of an entry still at `revision` (another version was read
    /// by a statement that was about to be sent at `asked`).
    pub(super) fn set_value(
        &self,
        scope: &Scope,
        name: &str,
        revision: i64,
        value: (String, SealedValue),
        asked: Instant,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if let Some(e) = entries.get_mut(&key(scope, name)) {
                if e.record.revision == revision {
                    e.value = Some(value);
                    e.confirmed = e.confirmed.max(asked);
                }
            }
        }
    }

    /// Notes that a probe about to be sent at `asked` found the entry still at `revision`.
    pub(super) fn confirm(&self, scope: &Scope, name: &str, revision: i64, asked: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            if let Some(e) = entries.get_mut(&key(scope, name)) {
                if e.record.revision == revision {
                    e.confirmed = e.confirmed.max(asked);
                }
            }
        }
    }

    /// Drops an entry known to be out of date (a write on this node, or a secret gone).
    pub(super) fn forget(&self, scope: &Scope, name: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key(scope, name));
        }
    }

    /// Drops every entry (a write that names no single secret, such as a restore).
    pub(super) fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// How long the default key of a scope is used as cached without asking the database.
pub(super) const DEFAULT_KEY_TRUST: Duration = Duration::from_millis(500);

/// Most probes answered by one statement.
const PROBE_BATCH: usize = 512;
/// Probe statements in flight at once on one node.
const PROBES_IN_FLIGHT: usize = 4;

/// A probe waiting for its statement.
type Probe<I> = (I, oneshot::Sender<Result<Option<i64>>>);

/// Asks the database for the current revisions of cached rows (secrets, or keys), batching
/// concurrent probes. Its task starts on first use and ends when the store is dropped.
pub(super) struct RevisionProbe<I> {
    sender: OnceLock<mpsc::UnboundedSender<Probe<I>>>,
    /// `SELECT id, revision FROM <table> WHERE id = ANY($1)`.
    sql: &'static str,
    /// What the probe is called in errors ("check cached secrets").
    what: &'static str,
}

/// What a probe batches: an id that PostgreSQL takes as an array element and gives back.
pub(super) trait ProbeId:
    Clone
    + Eq
    + std::hash::Hash
    + Send
    + Sync
    + tokio_postgres::types::ToSql
    + for<'a> tokio_postgres::types::FromSql<'a>
    + 'static
{
}
impl ProbeId for Uuid {}
impl ProbeId for String {}

impl<I: ProbeId> RevisionProbe<I> {
    pub(super) fn new(sql: &'static str, what: &'static str) -> Self {
        Self {
            sender: OnceLock::new(),
            sql,
            what,
        }
    }

    /// The revision the database holds now for the row `id` (`None`: no such row), read by a
    /// statement sent after this call began.
    pub(super) async fn revision(
        &self,
        pool: &Pool,
        bound: Duration,
        id: I,
    ) -> Result<Option<i64>> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_probes(pool.clone(), bound, self.sql, self.what, rx));
            tx
        });
        let (answer, answered) = oneshot::channel();
        sender
            .send((id, answer))
            .map_err(|_| Error::internal("postgres: the revision probe stopped"))?;
        answered
            .await
            .map_err(|_| Error::internal("postgres: the revision probe dropped a request"))?
    }
}

async fn run_probes<I: ProbeId>(
    pool: Pool,
    bound: Duration,
    sql: &'static str,
    what: &'static str,
    mut rx: mpsc::UnboundedReceiver<Probe<I>>,
) {
    let slots = Arc::new(Semaphore::new(PROBES_IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < PROBE_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            let _slot = slot;
            probe_batch(&pool, bound, sql, what, batch).await;
        });
    }
}

async fn probe_batch<I: ProbeId>(
    pool: &Pool,
    bound: Duration,
    sql: &'static str,
    what: &'static str,
    batch: Vec<Probe<I>>,
) {
    let ids: Vec<I> = batch.iter().map(|(id, _)| id.clone()).collect();
    let found = tokio::time::timeout(bound, async {
        let c = pool.get().await.map_err(|e| unavailable(what, e))?;
        rows(&c, sql, &[&ids]).await.map_err(|e| pg_error(what, e))
    })
    .await;
    let revisions: Result<HashMap<I, i64>> = match found {
        Ok(Ok(rows)) => rows
            .iter()
            .map(|r| Ok((col::<I>(r, 0)?, col::<i64>(r, 1)?)))
            .collect(),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out(what, "the database did not answer in time")),
    };
    for (id, answer) in batch {
        let result = match &revisions {
            Ok(map) => Ok(map.get(&id).copied()),
            Err(Error::Unavailable { reason }) => Err(Error::Unavailable {
                reason: reason.clone(),
            }),
            Err(e) => Err(Error::internal(e.to_string())),
        };
        // A read that gave up waiting no longer listens.
        let _ = answer.send(result);
    }
}

/// A key as last read, with the revision it had and when the database last confirmed it.
#[derive(Clone)]
pub(super) struct CachedKey {
    pub record: KeyRecord,
    pub revision: i64,
    pub checked: std::time::Instant,
}

/// This node's cache of keys as last read, for the default key that every create without a
/// named key reads and the key every value read opens. A key read by id is trusted exactly as
/// the secret cache is: only after a probe of the key's `revision` (moved forward by every
/// change of the key, its state, aliases, versions or wrapped material) finds it unchanged,
/// so a key disabled on another node is refused here by the next request. The scope's
/// default key, which creates ask for, is trusted for [`DEFAULT_KEY_TRUST`] after the
/// database last confirmed it (within the second the README states for key states on other
/// nodes): a create reads its key's state in its own transaction anyway, so a disabled
/// default key refuses creates at once. Entries hold wrapped key material only, as the
/// database does.
#[derive(Default)]
pub(super) struct KeyCache {
    inner: Mutex<KeyEntries>,
}

#[derive(Default)]
struct KeyEntries {
    by_id: HashMap<String, CachedKey>,
    /// The default key's id of each scope (`account \0 region`).
    defaults: HashMap<String, String>,
}

fn scope_key(scope: &Scope) -> String {
    format!("{}\u{0}{}", scope.account.0, scope.region)
}

impl KeyCache {
    /// The cached key `id` of `scope`, if any.
    pub(super) fn get(&self, scope: &Scope, id: &str) -> Option<CachedKey> {
        let inner = self.inner.lock().ok()?;
        inner
            .by_id
            .get(id)
            .filter(|k| k.record.scope == *scope)
            .cloned()
    }

    /// The cached default key of `scope`, if any.
    pub(super) fn get_default(&self, scope: &Scope) -> Option<CachedKey> {
        let inner = self.inner.lock().ok()?;
        let id = inner.defaults.get(&scope_key(scope))?;
        inner
            .by_id
            .get(id)
            .filter(|k| k.record.scope == *scope && k.record.is_default)
            .cloned()
    }

    pub(super) fn fill(&self, key: CachedKey) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.by_id.len() >= CAPACITY && !inner.by_id.contains_key(&key.record.id) {
            inner.by_id.clear();
            inner.defaults.clear();
        }
        if key.record.is_default {
            inner
                .defaults
                .insert(scope_key(&key.record.scope), key.record.id.clone());
        }
        inner.by_id.insert(key.record.id.clone(), key);
    }

    /// Notes that the database still holds key `id` at `revision`, as of now.
    pub(super) fn confirm(&self, id: &str, revision: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(k) = inner.by_id.get_mut(id) {
                if k.revision == revision {
                    k.checked = std::time::Instant::now();
                }
            }
        }
    }

    /// Drops a key known to be out of date (changed on this node, or gone).
    pub(super) fn forget(&self, id: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.by_id.remove(id);
        }
    }

    /// Drops every key (a restore, a rewrap).
    pub(super) fn forget_all(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.by_id.clear();
            inner.defaults.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::store::serving_request;
    use coffer_core::{AccountId, SecretKind, SecretState, Timestamp};
    use uuid::Uuid;

    fn record(name: &str, revision: i64) -> SecretRecord {
        SecretRecord {
            id: Uuid::nil(),
            scope: Scope {
                account: AccountId(1),
                region: "r".into(),
            },
            name: name.into(),
            kind: SecretKind::Generic,
            description: String::new(),
            key_id: "k".into(),
            state: SecretState::Enabled,
            rotation: Default::default(),
            extended_config: None,
            policy: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            revision,
            tags: vec![],
            subscriptions: vec![],
            versions: vec![],
        }
    }

    fn sealed() -> SealedValue {
        SealedValue {
            key_id: "k".into(),
            key_version: "1".into(),
            envelope: coffer_crypto::Envelope {
                wrapped_data_key: vec![1],
                ciphertext: vec![2],
            },
        }
    }

    #[test]
    fn a_describe_keeps_the_value_of_the_same_revision_only() {
        let c = SecretCache::default();
        let scope = record("a", 1).scope;
        c.fill(Cached {
            record: record("a", 1),
            value: Some(("v1".into(), sealed())),
            confirmed: Instant::now(),
        });
        c.fill(Cached {
            record: record("a", 1),
            value: None,
            confirmed: Instant::now(),
        });
        assert!(c.get(&scope, "a").unwrap().value.is_some());
        c.fill(Cached {
            record: record("a", 2),
            value: None,
            confirmed: Instant::now(),
        });
        assert!(c.get(&scope, "a").unwrap().value.is_none());
        c.set_value(&scope, "a", 1, ("v1".into(), sealed()), Instant::now());
        assert!(
            c.get(&scope, "a").unwrap().value.is_none(),
            "a value read at an older revision"
        );
        c.set_value(&scope, "a", 2, ("v2".into(), sealed()), Instant::now());
        assert_eq!(c.get(&scope, "a").unwrap().value.unwrap().0, "v2");
    }

    #[tokio::test]
    async fn an_entry_stands_in_for_a_probe_only_within_a_request_begun_before_its_check() {
        let c = SecretCache::default();
        let scope = record("a", 1).scope;
        let entry = || c.get(&scope, "a").unwrap();
        c.fill(Cached {
            record: record("a", 1),
            value: None,
            confirmed: Instant::now(),
        });
        assert!(!entry().current_for_this_request(), "outside of a request");
        serving_request(async {
            assert!(
                !entry().current_for_this_request(),
                "checked before this request began"
            );
            let asked = Instant::now();
            c.confirm(&scope, "a", 2, asked);
            assert!(!entry().current_for_this_request(), "another revision");
            c.confirm(&scope, "a", 1, asked);
            assert!(entry().current_for_this_request());
            // A full read of the same revision begun earlier keeps the newer check.
            c.fill(Cached {
                record: record("a", 1),
                value: None,
                confirmed: asked - Duration::from_secs(1),
            });
            assert!(entry().current_for_this_request());
            coffer_core::store::request_writes();
            assert!(
                !entry().current_for_this_request(),
                "a request that has written asks again"
            );
        })
        .await;
        serving_request(async {
            assert!(!entry().current_for_this_request(), "a later request");
        })
        .await;
    }

    #[test]
    fn entries_are_per_scope_and_forgotten() {
        let c = SecretCache::default();
        let scope = record("a", 1).scope;
        c.fill(Cached {
            record: record("a", 1),
            value: None,
            confirmed: Instant::now(),
        });
        c.fill(Cached {
            record: record("b", 1),
            value: None,
            confirmed: Instant::now(),
        });
        let other = Scope {
            account: AccountId(2),
            region: "r".into(),
        };
        assert!(c.get(&other, "a").is_none());
        c.forget(&scope, "a");
        assert!(c.get(&scope, "a").is_none());
        assert!(c.get(&scope, "b").is_some());
        c.forget_all();
        assert!(c.get(&scope, "b").is_none());
    }
}
