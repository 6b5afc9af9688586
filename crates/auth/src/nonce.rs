//! Replay cache for signature nonces.
//!
//! Clouds that sign a nonce into every request (Alibaba's `SignatureNonce`) promise that a
//! request cannot be replayed: the server remembers each (access key, nonce) pair for a window
//! and refuses to see it twice. Together with the clock-skew check this closes replays: a copy
//! sent later than the skew window fails the timestamp check; one sent earlier finds its nonce
//! here.
//!
//! To fully cover the skew window a nonce has to be remembered for as long as a request carrying
//! it could still pass the timestamp check. With a ±W skew window a request whose timestamp is T
//! passes from T-W to T+W, so a window of 2·W is airtight; W (Alibaba's documented 15 minutes)
//! covers every client whose clock is in sync and is what Alibaba itself promises.
//!
//! Memory is bounded by time, not by scanning: entries are filed in per-interval buckets held in
//! a ring (oldest first). When time moves past a bucket's expiry the whole bucket is dropped and
//! its entries are removed from the lookup map, so every entry is inserted once and removed once
//! (amortised O(1)) and no request ever walks the whole cache. The cache is split into shards,
//! each behind its own mutex, so concurrent requests rarely contend on one lock.
//!
//! Record a nonce only after the request's signature verified; otherwise anyone could burn a
//! legitimate client's nonces with garbage requests.
//!
//! A pair is remembered as a 64-bit fingerprint (SipHash with a key drawn at start, which
//! clients cannot know or aim at), not as its text. At tens of thousands of requests a
//! second a window holds millions of pairs: as strings they cost over a hundred bytes each,
//! and re-hashing them whenever a table grew took a tenth of the server's CPU time under
//! load. Two different pairs share a fingerprint with odds of about one in 2^64 divided by
//! the pairs held (one in a trillion with ten million held), and then the later request is
//! refused as a replay: it fails closed, and the client's retry with a fresh nonce passes.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Number of independently locked shards.
const SHARDS: usize = 16;
/// A window is cut into about this many buckets; an entry lives between `window` and
/// `window + window / BUCKETS_PER_WINDOW`.
const BUCKETS_PER_WINDOW: u64 = 15;

/// A thread-safe, memory-bounded set of recently seen (access key id, nonce) pairs.
pub struct NonceCache {
    shards: Box<[Mutex<Shard>]>,
    /// Makes the fingerprints (and so picks the shard). Randomly seeded so that clients cannot
    /// aim their nonces at one shard or make two pairs collide.
    hasher: RandomState,
    /// Width of one bucket in seconds (at least 1).
    bucket_secs: i64,
    /// Number of buckets an entry survives, counting the one it was inserted into.
    buckets: i64,
}

#[derive(Default)]
struct Shard {
    /// Fingerprint of a pair → bucket number it was filed under.
    seen: HashMap<u64, i64, BuildHasherDefault<AlreadyHashed>>,
    /// Buckets, oldest first: (bucket number, fingerprints filed in it).
    ring: VecDeque<(i64, Vec<u64>)>,
    /// Highest bucket number this shard has seen. Time can appear to go backwards slightly
    /// (threads read the clock at different moments); filing by the highest bucket seen keeps
    /// the ring ordered and only ever remembers an entry a little longer.
    current: i64,
}

impl NonceCache {
    /// A cache that remembers each pair for at least `window` (whole seconds; anything below one
    /// second counts as one second).
    pub fn new(window: Duration) -> Self {
        let window_secs = window.as_secs().max(1);
        let bucket_secs = window_secs.div_ceil(BUCKETS_PER_WINDOW).max(1);
        // Enough buckets that a pair inserted at the very end of a bucket still survives a full
        // window: ceil(window / bucket) whole buckets after the one it was inserted into.
        let buckets = window_secs.div_ceil(bucket_secs) + 1;
        NonceCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            bucket_secs: i64::try_from(bucket_secs).unwrap_or(i64::MAX),
            buckets: i64::try_from(buckets).unwrap_or(i64::MAX),
        }
    }

    /// Records (`key_id`, `nonce`) as seen at `now_unix_secs`.
    ///
    /// Returns `true` when the pair is new (the request may proceed) and `false` when it was
    /// already seen within the window (a replay).
    pub fn check_and_insert(&self, key_id: &str, nonce: &str, now_unix_secs: i64) -> bool {
        // Hashing the tuple writes each part with its own terminator, so ("ab", "c") and
        // ("a", "bc") differ.
        let fingerprint = self.hasher.hash_one((key_id, nonce));
        let bucket = now_unix_secs.div_euclid(self.bucket_secs);
        let mut shard = self.shard_for(fingerprint);
        shard.advance(bucket, self.buckets);
        if shard.seen.contains_key(&fingerprint) {
            return false;
        }
        let filed_under = shard.current;
        shard.seen.insert(fingerprint, filed_under);
        match shard.ring.back_mut() {
            Some((b, keys)) if *b == filed_under => keys.push(fingerprint),
            _ => shard.ring.push_back((filed_under, vec![fingerprint])),
        }
        true
    }

    /// Drops every expired entry in every shard. Lookups already expire lazily, so this is only
    /// useful to release memory of shards that have gone quiet (e.g. from a periodic task).
    pub fn purge_expired(&self, now_unix_secs: i64) {
        let bucket = now_unix_secs.div_euclid(self.bucket_secs);
        for shard in self.shards.iter() {
            lock(shard).advance(bucket, self.buckets);
        }
    }

    /// Number of remembered pairs (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).seen.len()).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_for(&self, fingerprint: u64) -> std::sync::MutexGuard<'_, Shard> {
        // Middle bits: the shard's table uses the low bits for the slot and the top ones for
        // its tags, and every fingerprint of one shard shares the bits that chose it.
        let idx = ((fingerprint >> 32) as usize) % self.shards.len();
        lock(&self.shards[idx])
    }
}

/// The hasher of a shard's table: its keys are SipHash outputs already.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; this keeps any other use correct, if slower.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::fmt::Debug for NonceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceCache")
            .field("bucket_secs", &self.bucket_secs)
            .field("buckets", &self.buckets)
            .field("len", &self.len())
            .finish()
    }
}

impl Shard {
    /// Moves the shard's clock to `bucket` (if later) and drops buckets that fell out of the
    /// window.
    fn advance(&mut self, bucket: i64, buckets: i64) {
        if bucket > self.current || self.ring.is_empty() {
            self.current = bucket;
        }
        // A bucket numbered b is dropped once current >= b + buckets.
        let oldest_kept = self.current.saturating_sub(buckets - 1);
        while let Some((b, _)) = self.ring.front() {
            if *b >= oldest_kept {
                break;
            }
            if let Some((_, keys)) = self.ring.pop_front() {
                for k in keys {
                    self.seen.remove(&k);
                }
            }
        }
    }
}

/// Locks a shard. A panic while holding the lock cannot leave a shard logically broken (every
/// mutation is a single map or ring operation), so a poisoned lock is simply taken over.
fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u64 = 900;

    #[test]
    fn detects_replay_within_window() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        let t = 1_795_000_000;
        assert!(c.check_and_insert("ak", "n1", t));
        assert!(!c.check_and_insert("ak", "n1", t));
        assert!(!c.check_and_insert("ak", "n1", t + 899));
        assert!(!c.check_and_insert("ak", "n1", t + 900));
        // Different key id or nonce is a different pair.
        assert!(c.check_and_insert("ak2", "n1", t));
        assert!(c.check_and_insert("ak", "n2", t));
    }

    #[test]
    fn forgets_after_window_plus_one_bucket() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        // Insert at the start and at the end of a bucket: both must survive the full window.
        let start = 1_795_000_020; // multiple of 60
        assert_eq!(start % 60, 0);
        assert!(c.check_and_insert("ak", "early", start));
        assert!(c.check_and_insert("ak", "late", start + 59));
        assert!(!c.check_and_insert("ak", "early", start + 900));
        assert!(!c.check_and_insert("ak", "late", start + 59 + 900));
        // One bucket past the window both are gone and may be used again.
        let later = start + 59 + 900 + 60;
        assert!(c.check_and_insert("ak", "early", later));
        assert!(c.check_and_insert("ak", "late", later));
    }

    #[test]
    fn memory_is_released_by_time() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        let t = 1_000_000;
        for i in 0..1000 {
            assert!(c.check_and_insert("ak", &format!("n{i}"), t + i / 10));
        }
        assert_eq!(c.len(), 1000);
        c.purge_expired(t + 100 + 2 * 900);
        assert!(c.is_empty());
        // Steady traffic keeps the size near rate × window, not growing without bound.
        let rate = 5;
        for s in 0..(4 * 900) {
            for j in 0..rate {
                assert!(c.check_and_insert("ak", &format!("s{s}-{j}"), 2_000_000 + s));
            }
        }
        assert!(
            c.len() <= (rate * (900 + 60 + 60)) as usize,
            "len {}",
            c.len()
        );
    }

    #[test]
    fn clock_going_backwards_is_harmless() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        let t = 5_000_000;
        assert!(c.check_and_insert("ak", "a", t));
        assert!(c.check_and_insert("ak", "b", t - 120));
        assert!(!c.check_and_insert("ak", "b", t));
        assert!(!c.check_and_insert("ak", "a", t - 120));
        // Huge jumps and extreme values neither panic nor break the cache.
        assert!(c.check_and_insert("ak", "c", i64::MIN));
        assert!(c.check_and_insert("ak", "d", i64::MAX));
        assert!(!c.check_and_insert("ak", "d", i64::MAX));
        assert!(c.check_and_insert("ak", "a", i64::MAX));
    }

    #[test]
    fn key_id_and_nonce_cannot_be_confused() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        assert!(c.check_and_insert("ab", "c", 0));
        assert!(c.check_and_insert("a", "bc", 0));
    }

    #[test]
    fn tiny_windows_work() {
        let c = NonceCache::new(Duration::from_millis(10));
        assert!(c.check_and_insert("ak", "n", 100));
        assert!(!c.check_and_insert("ak", "n", 101));
        assert!(c.check_and_insert("ak", "n", 102));
    }

    #[test]
    fn concurrent_inserts_admit_each_pair_once() {
        let c = std::sync::Arc::new(NonceCache::new(Duration::from_secs(WINDOW)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = std::sync::Arc::clone(&c);
                std::thread::spawn(move || {
                    (0..2000)
                        .filter(|i| c.check_and_insert("ak", &i.to_string(), 1000))
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(admitted, 2000);
    }
}
