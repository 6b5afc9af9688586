//! A bounded cache of secrets as last read, for the hot path: a GetSecretValue or
//! DescribeSecret of a secret nobody wrote since is answered without touching SQLite.
//!
//! It holds what the store holds: metadata and sealed (encrypted) values, never plaintext.
//! It is coherent because this process is the store's only writer: every write invalidates
//! what it may have changed (the one secret it names, or everything) once it is committed
//! and before its caller hears back, and a read may fill the cache only if no write was
//! acknowledged while it read (a generation counter says so). So a read that starts after a
//! write was acknowledged never sees what was there before; a read that overlaps a write may
//! see either, as it would reading SQLite.
//!
//! Reads were a quarter of the server's CPU time under a GetSecretValue load (five queries
//! and a read transaction per request).
//!
//! Keys (CMKs) are kept the same way, by id and as each scope's default key: every create and
//! put looks its key up to seal the value. Their material stays wrapped by the root key, as
//! stored. Only writes that name no secret (every key write among them) forget keys.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use coffer_core::{stats, KeyRecord, Scope, SealedValue, SecretRecord};

/// Most secrets (and key lookups) kept.
const CAPACITY: usize = 10_000;

/// A secret as read, with the sealed value of the version last read from it.
#[derive(Clone)]
pub(crate) struct Cached {
    pub record: SecretRecord,
    pub value: Option<(String, SealedValue)>,
}

pub(crate) struct ReadCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Counts invalidations: a read may fill the cache only if it did not move meanwhile.
    generation: u64,
    entries: HashMap<String, Cached>,
    /// Key lookups (see [`KeyLookup`]) and what they found, a missing key included.
    keys: HashMap<String, Option<KeyRecord>>,
    /// A secret's replication record by secret id (`None`: it has none), read by every
    /// update to the secret. Only writes that name no secret (deletes, replication changes,
    /// batches) change one, and they forget everything.
    replication: HashMap<String, Option<String>>,
}

/// A key lookup the cache answers.
pub(crate) enum KeyLookup<'a> {
    ById(&'a str),
    Default,
}

fn key_lookup(scope: &Scope, lookup: &KeyLookup) -> String {
    match lookup {
        KeyLookup::ById(id) => scoped_key(scope, id),
        KeyLookup::Default => scoped_key(scope, ""),
    }
}

/// `<account>\0<region>\0<name>`: the map key of a name in a scope. Built by hand in one
/// allocation: every cached read builds one (a GetSecretValue two or three), and `format!`
/// took about 1,300 instructions of each lookup.
fn scoped_key(scope: &Scope, name: &str) -> String {
    let mut number = itoa::Buffer::new();
    let digits = number.format(scope.account.0);
    let mut k = String::with_capacity(digits.len() + scope.region.len() + name.len() + 2);
    k.push_str(digits);
    k.push('\u{0}');
    k.push_str(&scope.region);
    k.push('\u{0}');
    k.push_str(name);
    k
}

/// A full map starts over empty: cheap, and a working set larger than the cache gains
/// little from caching anyway.
fn insert_bounded<V>(map: &mut HashMap<String, V>, k: String, v: V) {
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(k, v);
}

/// Counts a lookup for the read cache's hit ratio (`coffer_read_cache_*_total`).
fn count(hit: bool) {
    if hit {
        stats::READ_CACHE_HITS.inc();
    } else {
        stats::READ_CACHE_MISSES.inc();
    }
}

fn key(scope: &Scope, name: &str) -> String {
    scoped_key(scope, name)
}

impl ReadCache {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The generation to hand back to [`ReadCache::fill`] after reading the store.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.lock().map(|i| i.generation).unwrap_or(u64::MAX)
    }

    /// The cached record alone: a read that needs no value does not copy the sealed one.
    pub(crate) fn get_record(&self, scope: &Scope, name: &str) -> Option<SecretRecord> {
        let found = self
            .inner
            .lock()
            .ok()?
            .entries
            .get(&key(scope, name))
            .map(|c| c.record.clone());
        count(found.is_some());
        found
    }

    pub(crate) fn get(&self, scope: &Scope, name: &str) -> Option<Cached> {
        let found = self
            .inner
            .lock()
            .ok()?
            .entries
            .get(&key(scope, name))
            .cloned();
        count(found.is_some());
        found
    }

    /// Keeps what a read that began at `generation` found, unless a write was acknowledged
    /// since.
    pub(crate) fn fill(&self, generation: u64, cached: Cached) {
        if let Some(mut inner) = self.unchanged_since(generation) {
            let k = key(&cached.record.scope, &cached.record.name);
            insert_bounded(&mut inner.entries, k, cached);
        }
    }

    /// The cache, locked, if no write was acknowledged since `generation`.
    fn unchanged_since(&self, generation: u64) -> Option<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .ok()
            .filter(|inner| inner.generation == generation)
    }

    /// What an earlier read found for this key lookup (`Some(None)`: no such key).
    pub(crate) fn key(&self, scope: &Scope, lookup: &KeyLookup) -> Option<Option<KeyRecord>> {
        let found = self
            .inner
            .lock()
            .ok()?
            .keys
            .get(&key_lookup(scope, lookup))
            .cloned();
        count(found.is_some());
        found
    }

    /// Keeps what a key lookup that began at `generation` found, unless a write was
    /// acknowledged since.
    pub(crate) fn fill_key(
        &self,
        generation: u64,
        scope: &Scope,
        lookup: &KeyLookup,
        found: Option<KeyRecord>,
    ) {
        if let Some(mut inner) = self.unchanged_since(generation) {
            insert_bounded(&mut inner.keys, key_lookup(scope, lookup), found);
        }
    }

    /// A write committed this secret's new state: later reads find it here instead of
    /// reading back what the write just wrote (the next put to a secret starts by reading
    /// it). Called in commit order (see [`crate::writer::Writer::submit_then`]) and before
    /// the writer's caller hears back, so it moves the generation like a forget: a read that
    /// began before cannot put back what it saw.
    pub(crate) fn replace(&self, cached: Cached) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation += 1;
            let k = key(&cached.record.scope, &cached.record.name);
            insert_bounded(&mut inner.entries, k, cached);
        }
    }

    /// What an earlier read found as the replication record of the secret `id`.
    pub(crate) fn replication(&self, id: &str) -> Option<Option<String>> {
        let found = self.inner.lock().ok()?.replication.get(id).cloned();
        count(found.is_some());
        found
    }

    /// Keeps what a replication read that began at `generation` found, unless a write was
    /// acknowledged since.
    pub(crate) fn fill_replication(&self, generation: u64, id: String, found: Option<String>) {
        if let Some(mut inner) = self.unchanged_since(generation) {
            insert_bounded(&mut inner.replication, id, found);
        }
    }

    /// A write changed this secret.
    pub(crate) fn forget(&self, scope: &Scope, name: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation += 1;
            inner.entries.remove(&key(scope, name));
        }
    }

    /// A write changed something that may show in any secret or key.
    pub(crate) fn forget_all(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation += 1;
            inner.entries.clear();
            inner.keys.clear();
            inner.replication.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::{AccountId, SecretKind, SecretState, Timestamp};
    use uuid::Uuid;

    fn record(name: &str) -> SecretRecord {
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
            revision: 1,
            tags: vec![],
            subscriptions: vec![],
            versions: vec![],
        }
    }

    fn cached(name: &str) -> Cached {
        Cached {
            record: record(name),
            value: None,
        }
    }

    #[test]
    fn replication_records_are_kept_until_a_write_that_names_no_secret() {
        let c = ReadCache::new();
        let g = c.generation();
        c.fill_replication(g, "id1".into(), None);
        c.fill_replication(g, "id2".into(), Some("{}".into()));
        assert_eq!(c.replication("id1"), Some(None));
        // An update of a named secret does not touch replication records.
        c.forget(&record("a").scope, "a");
        c.replace(Cached {
            record: record("b"),
            value: None,
        });
        assert_eq!(c.replication("id2"), Some(Some("{}".into())));
        // A read that overlapped a write does not fill.
        let g = c.generation();
        c.forget_all();
        assert_eq!(c.replication("id1"), None);
        c.fill_replication(g, "id1".into(), None);
        assert_eq!(c.replication("id1"), None);
    }

    #[test]
    fn a_read_that_overlapped_a_write_does_not_fill() {
        let c = ReadCache::new();
        let scope = record("a").scope;
        let g = c.generation();
        c.forget(&scope, "other");
        c.fill(g, cached("a"));
        assert!(c.get(&scope, "a").is_none());
        let g = c.generation();
        c.fill(g, cached("a"));
        assert!(c.get(&scope, "a").is_some());
    }

    #[test]
    fn forgetting_one_secret_keeps_the_others_and_forget_all_keeps_none() {
        let c = ReadCache::new();
        let scope = record("a").scope;
        let g = c.generation();
        c.fill(g, cached("a"));
        c.fill(g, cached("b"));
        c.forget(&scope, "a");
        assert!(c.get(&scope, "a").is_none());
        assert!(c.get(&scope, "b").is_some());
        c.forget_all();
        assert!(c.get(&scope, "b").is_none());
        let other = Scope {
            account: AccountId(2),
            region: "r".into(),
        };
        let g = c.generation();
        c.fill(g, cached("b"));
        assert!(
            c.get(&other, "b").is_none(),
            "another account's secret of the same name"
        );
        assert!(c.get_record(&other, "b").is_none());
        assert_eq!(
            c.get_record(&scope, "b").map(|r| r.name),
            Some("b".to_string())
        );
    }

    #[test]
    fn map_keys_keep_accounts_regions_and_names_apart() {
        let at = |account: u64, region: &str| Scope {
            account: AccountId(account),
            region: region.into(),
        };
        assert_eq!(key(&at(0, "r"), "n"), "0\u{0}r\u{0}n");
        assert_eq!(
            key(&at(u64::MAX, "cn-north-4"), "a/b"),
            format!("{}\u{0}cn-north-4\u{0}a/b", u64::MAX)
        );
        assert_ne!(key(&at(12, "r"), "n"), key(&at(1, "2r"), "n"));
        assert_ne!(
            key_lookup(&at(1, "r"), &KeyLookup::Default),
            key_lookup(&at(1, "r"), &KeyLookup::ById("x"))
        );
    }
}
