//! Replay caches: the nonces of schemes that sign one, and the signatures of a scheme that does
//! not (Tencent's TC3).
//!
//! Clouds that sign a nonce into every request (Alibaba's `SignatureNonce`, Tencent's legacy
//! `Nonce`) promise that a request cannot be replayed: the server remembers each (access key,
//! nonce) pair for a window and refuses to see it twice ([`NonceCache`]). Together with the
//! clock-skew check this closes replays: a copy sent later than the skew window fails the
//! timestamp check; one sent earlier finds its nonce here.
//!
//! A scheme without a nonce whose signature leaves fields out that change what a request does
//! (TC3 signs neither `X-TC-Action`, `X-TC-Version` nor `X-TC-Region`) gets a
//! [`SignatureCache`]: each accepted signature is remembered with what it was used for, and the
//! same signature asking for something else is refused.
//!
//! To fully cover the skew window an entry has to be remembered for as long as a request
//! carrying it could still pass the timestamp check. With a ±W skew window a request whose
//! timestamp is T passes from T-W to T+W, so a window of 2·W is airtight; W (Alibaba's
//! documented 15 minutes) covers every client whose clock is in sync and is what Alibaba itself
//! promises.
//!
//! Memory is bounded twice:
//! - **by time**, without scanning: entries are filed in per-interval buckets held in a ring
//!   (oldest first). When time moves past a bucket's expiry the whole bucket is dropped and its
//!   entries are removed from the lookup map, so every entry is inserted once and removed once
//!   (amortised O(1)) and no request ever walks the whole cache;
//! - **by size**: a cache holds at most its capacity of live entries ([`DEFAULT_CAPACITY`]
//!   unless configured). When it is full a new entry is refused ([`Admission::Full`]): the
//!   request is turned away, never admitted by forgetting an entry that is still live, because
//!   a forgotten entry is a replay that would pass. Before refusing, expired entries of every
//!   shard are dropped, so "full" always means full of live entries. A request the cache has
//!   already seen is judged as usual when the cache is full (a replay is still a replay).
//!
//! The cache is split into shards, each behind its own mutex, so concurrent requests rarely
//! contend on one lock; one atomic counter over all shards holds the size bound exactly.
//!
//! Record an entry only after the request's signature verified; otherwise anyone could burn a
//! legitimate client's nonces, or fill the cache, with garbage requests.
//!
//! An entry is remembered as a 64-bit fingerprint (SipHash-1-3 under a key drawn at random when
//! the cache is made, which clients cannot know or aim at), not as its text. At tens of thousands of requests a second a
//! window holds millions of entries: as strings they cost over a hundred bytes each, and
//! re-hashing them whenever a table grew took a tenth of the server's CPU time under load. Two
//! different entries share a fingerprint with odds of about one in 2^64 divided by the entries
//! held (one in a trillion with ten million held), and then the later request is refused as a
//! replay: it fails closed, and the client's retry with a fresh nonce passes.
//!
//! What a full cache costs: a nonce entry about 10 bytes in its shard's table (up to twice that
//! while the table is between sizes) and 8 in its bucket; a signature entry 24 bytes more. At
//! the default capacity a full nonce cache takes roughly 100 MB and a full signature cache
//! roughly 300 MB.
//! The default holds a whole window at about 2,200 requests a second with Alibaba's 30-minute
//! window and 6,600 with Tencent's 10-minute one.
//!
//! **Across a restart.** A cache's live entries can be taken out ([`NonceCache::export`]) and a
//! new cache made from them ([`NonceCache::restored`]), for a process that stops cleanly and the
//! one that starts after it. What leaves the cache is its fingerprint key and, per entry, the
//! fingerprint, the second it is forgotten and (signatures) the fingerprints of its first use:
//! never a key id, nonce, signature or anything else of a request. The fingerprints are written
//! by hand (each part's length, then its bytes, into SipHash-1-3), not through `std::hash::Hash`,
//! whose output Rust does not promise to keep from one release to the next: a server upgraded
//! between a stop and a start must compute the same fingerprints as the one that stopped.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::RngCore;
use siphasher::sip::SipHasher13;

/// Number of independently locked shards.
const SHARDS: usize = 16;
/// A window is cut into about this many buckets; an entry lives between `window` and
/// `window + window / BUCKETS_PER_WINDOW`.
const BUCKETS_PER_WINDOW: u64 = 15;

/// Live entries one cache holds at most unless configured otherwise (see the module docs for
/// what that costs and what load it covers).
pub const DEFAULT_CAPACITY: usize = 4_000_000;

/// What a cache says about a request it was shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not seen within the window; now remembered. The request may proceed.
    Fresh,
    /// Seen before, and this use is allowed again (a signature used once more for what it was
    /// first used for). Nothing new is remembered. The request may proceed.
    Again,
    /// Seen before and not allowed again: a replay. Refuse the request.
    Replay,
    /// Not seen, but the cache holds its capacity of live entries. Refuse the request (as a
    /// throttle: it is authentic, and a later retry can pass once entries expire).
    Full,
    /// Signed before this process started (before the Unix second it carries), after a stop
    /// that kept no record of what the previous process had seen: it may be a replay, and
    /// nothing can tell. Refuse the request; the client signs it again (a guard's answer, never
    /// a cache's: see `crate::replay::ReplayStart`).
    SignedBeforeStart(i64),
}

impl Admission {
    /// True for [`Admission::Fresh`] and [`Admission::Again`].
    pub fn admitted(self) -> bool {
        matches!(self, Self::Fresh | Self::Again)
    }
}

// ------------------------------------------------------------------------------ nonces

/// A thread-safe set of recently seen (access key id, nonce) pairs, bounded by time and size.
pub struct NonceCache {
    table: Table<()>,
}

impl NonceCache {
    /// A cache that remembers each pair for at least `window` (whole seconds; anything below one
    /// second counts as one second) and holds at most [`DEFAULT_CAPACITY`] pairs.
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, DEFAULT_CAPACITY)
    }

    /// A cache like [`NonceCache::new`] holding at most `capacity` live pairs.
    pub fn with_capacity(window: Duration, capacity: usize) -> Self {
        Self {
            table: Table::new(window, capacity),
        }
    }

    /// Shows (`key_id`, `nonce`) to the cache at `now_unix_secs`: [`Admission::Fresh`] (now
    /// remembered), [`Admission::Replay`] (already seen within the window) or
    /// [`Admission::Full`].
    pub fn admit(&self, key_id: &str, nonce: &str, now_unix_secs: i64) -> Admission {
        // Each part is written with its length, so ("ab", "c") and ("a", "bc") differ.
        let fingerprint = self
            .table
            .fingerprint(&[key_id.as_bytes(), nonce.as_bytes()]);
        self.table
            .admit(fingerprint, now_unix_secs, (), |()| Admission::Replay)
    }

    /// The live entries at `now_unix_secs` and the key of their fingerprints, for
    /// [`NonceCache::restored`] in the next process.
    pub fn export(&self, now_unix_secs: i64) -> NonceCacheState {
        CacheState {
            key: self.table.key,
            entries: self.table.export(now_unix_secs),
        }
    }

    /// A cache like [`NonceCache::with_capacity`] holding what `state` holds that is still live
    /// at `now_unix_secs` (each entry until at least the second it was to be forgotten), with
    /// its fingerprint key. Restored entries count against `capacity`; more of them than that
    /// are all kept (forgetting one would let its replay pass), and new ones are refused until
    /// enough expire.
    pub fn restored(
        window: Duration,
        capacity: usize,
        state: NonceCacheState,
        now_unix_secs: i64,
    ) -> Self {
        let table = Table::with_key(window, capacity, state.key);
        table.restore(state.entries, now_unix_secs);
        Self { table }
    }

    /// Records (`key_id`, `nonce`) as seen at `now_unix_secs`.
    ///
    /// Returns `true` when the pair is new (the request may proceed) and `false` when it was
    /// already seen within the window (a replay) or the cache is full (see [`Self::admit`],
    /// which tells the two apart).
    pub fn check_and_insert(&self, key_id: &str, nonce: &str, now_unix_secs: i64) -> bool {
        self.admit(key_id, nonce, now_unix_secs) == Admission::Fresh
    }

    /// Drops every expired entry in every shard. Lookups already expire lazily, and a full
    /// cache sweeps before it refuses, so this is only useful to release memory of shards that
    /// have gone quiet (e.g. from a periodic task).
    pub fn purge_expired(&self, now_unix_secs: i64) {
        self.table.purge_expired(now_unix_secs);
    }

    /// Number of remembered pairs (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most live pairs the cache holds.
    pub fn capacity(&self) -> usize {
        self.table.capacity
    }
}

impl std::fmt::Debug for NonceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table.debug("NonceCache", f)
    }
}

// -------------------------------------------------------------------------- signatures

/// Recently accepted signatures of a scheme without a nonce, each with what it was first used
/// for; bounded by time and size like [`NonceCache`].
///
/// A signature is the fingerprint of everything its scheme signs, so two uses of one signature
/// within the window are the same signed request. What the scheme does not sign but the server
/// reads (the [`SignatureUse::meaning`]) could have been changed in between. A later use passes
/// ([`Admission::Again`]) when:
/// - its meaning is the first use's: a retry of the same request, from anywhere; or
/// - both uses only read ([`SignatureUse::reads_only`]): neither can do harm in place of the
///   other; or
/// - both name the same [`SignatureUse::client`] and the later one comes within the cache's
///   `client_grace` of the first: the client's own next call, signed in the same instant.
///
/// Anything else is [`Admission::Replay`]. A refused use is not remembered.
pub struct SignatureCache {
    table: Table<FirstUse>,
    /// How long after a signature's first use the same client may use it for another meaning.
    client_grace_secs: u32,
}

/// One use of a signature, as shown to [`SignatureCache::admit`]. Each part is compared by a
/// keyed fingerprint of its bytes, never stored as text.
pub struct SignatureUse<M, C> {
    /// Everything outside the signature that gives the request its meaning.
    pub meaning: M,
    /// The request changes nothing and returns nothing secret.
    pub reads_only: bool,
    /// Who sent it, as far as the server can tell from what no copy of the request carries
    /// (the client's address, with anything the meaning may not vary in under one client);
    /// `None` when unknown, which matches nothing.
    pub client: Option<C>,
}

/// What a signature was first used for, as fingerprints (24 bytes). Opaque outside this
/// module: only a [`SignatureCache`] makes and reads one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstUse {
    meaning: u64,
    client: Option<NonZeroU64>,
    /// Unix seconds, truncated to 32 bits: only differences of a few seconds are compared.
    at: u32,
    reads_only: bool,
}

impl SignatureCache {
    /// A cache that remembers each signature for at least `window`, lets one client use a
    /// signature for another meaning during `client_grace` after its first use, and holds at
    /// most [`DEFAULT_CAPACITY`] signatures.
    pub fn new(window: Duration, client_grace: Duration) -> Self {
        Self::with_capacity(window, client_grace, DEFAULT_CAPACITY)
    }

    /// A cache like [`SignatureCache::new`] holding at most `capacity` live signatures.
    pub fn with_capacity(window: Duration, client_grace: Duration, capacity: usize) -> Self {
        Self {
            table: Table::new(window, capacity),
            client_grace_secs: u32::try_from(client_grace.as_secs()).unwrap_or(u32::MAX),
        }
    }

    /// Shows a use of `signature` (made with `key_id`) at `now_unix_secs`:
    /// [`Admission::Fresh`] the first time, then [`Admission::Again`] or [`Admission::Replay`]
    /// as the type documentation says; [`Admission::Full`] when a new signature finds the
    /// cache full.
    pub fn admit<M: AsRef<[u8]>, C: AsRef<[u8]>>(
        &self,
        key_id: &str,
        signature: &[u8],
        used: SignatureUse<M, C>,
        now_unix_secs: i64,
    ) -> Admission {
        let fingerprint = self.table.fingerprint(&[key_id.as_bytes(), signature]);
        let this = FirstUse {
            meaning: self.table.fingerprint(&[used.meaning.as_ref()]),
            client: used.client.map(|c| {
                NonZeroU64::new(self.table.fingerprint(&[c.as_ref()])).unwrap_or(NonZeroU64::MIN)
            }),
            // Truncation is intended: see the field.
            at: now_unix_secs as u32,
            reads_only: used.reads_only,
        };
        let grace = self.client_grace_secs;
        self.table
            .admit(fingerprint, now_unix_secs, this, |first: &FirstUse| {
                let since = this
                    .at
                    .wrapping_sub(first.at)
                    .min(first.at.wrapping_sub(this.at));
                let same_client =
                    this.client.is_some() && first.client == this.client && since <= grace;
                if first.meaning == this.meaning
                    || (first.reads_only && this.reads_only)
                    || same_client
                {
                    Admission::Again
                } else {
                    Admission::Replay
                }
            })
    }

    /// See [`NonceCache::purge_expired`].
    pub fn purge_expired(&self, now_unix_secs: i64) {
        self.table.purge_expired(now_unix_secs);
    }

    /// See [`NonceCache::export`]; each entry keeps what its signature was first used for.
    pub fn export(&self, now_unix_secs: i64) -> SignatureCacheState {
        CacheState {
            key: self.table.key,
            entries: self.table.export(now_unix_secs),
        }
    }

    /// See [`NonceCache::restored`].
    pub fn restored(
        window: Duration,
        client_grace: Duration,
        capacity: usize,
        state: SignatureCacheState,
        now_unix_secs: i64,
    ) -> Self {
        let cache = Self {
            table: Table::with_key(window, capacity, state.key),
            client_grace_secs: u32::try_from(client_grace.as_secs()).unwrap_or(u32::MAX),
        };
        cache.table.restore(state.entries, now_unix_secs);
        cache
    }

    /// Number of remembered signatures (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most live signatures the cache holds.
    pub fn capacity(&self) -> usize {
        self.table.capacity
    }
}

impl std::fmt::Debug for SignatureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table.debug("SignatureCache", f)
    }
}

// --------------------------------------------------------------------- across a restart

/// The SipHash-1-3 key of a cache's fingerprints: drawn at random for a new cache, carried
/// over with the entries to a restored one (its fingerprints mean nothing under another key).
/// Whoever knows it can aim entries at one shard or compute which requests a cache holds, so it
/// is as private as the server's other files, and its `Debug` shows nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FingerprintKey([u8; 16]);

impl FingerprintKey {
    /// A key from the operating system's random source.
    pub fn random() -> Self {
        let mut k = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

/// What a cache held when it was exported: its fingerprint key and its live entries.
pub struct CacheState<V> {
    key: FingerprintKey,
    entries: Vec<Kept<V>>,
}

/// A [`NonceCache`]'s state (16 bytes an entry when encoded).
pub type NonceCacheState = CacheState<()>;
/// A [`SignatureCache`]'s state (37 bytes an entry when encoded).
pub type SignatureCacheState = CacheState<FirstUse>;

/// One live entry: its fingerprint, the Unix second from which it may be forgotten, and what
/// the cache keeps with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept<V> {
    fingerprint: u64,
    expires_at: i64,
    value: V,
}

/// What an entry's value is on the wire of [`CacheState::encode`].
pub trait KeptValue: Copy + Sized {
    /// Encoded bytes of one value.
    const LEN: usize;
    fn encode(&self, out: &mut Vec<u8>);
    /// `bytes` is exactly [`Self::LEN`] long.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl KeptValue for () {
    const LEN: usize = 0;
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_bytes: &[u8]) -> Option<Self> {
        Some(())
    }
}

impl KeptValue for FirstUse {
    /// meaning (8), client (8, zero for none: a fingerprint of a client is never zero), at (4),
    /// reads-only (1).
    const LEN: usize = 8 + 8 + 4 + 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.meaning.to_le_bytes());
        out.extend_from_slice(&self.client.map_or(0, NonZeroU64::get).to_le_bytes());
        out.extend_from_slice(&self.at.to_le_bytes());
        out.push(u8::from(self.reads_only));
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let meaning = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let client = NonZeroU64::new(u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?));
        let at = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?);
        let reads_only = match bytes.get(20)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(FirstUse {
            meaning,
            client,
            at,
            reads_only,
        })
    }
}

impl<V: KeptValue> CacheState<V> {
    /// Bytes of one encoded entry.
    pub const ENTRY_LEN: usize = 16 + V::LEN;

    /// The key of the fingerprints (not part of [`Self::encode`]: whoever stores a state
    /// decides how to protect it).
    pub fn key(&self) -> FingerprintKey {
        self.key
    }

    /// Live entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the entries: their count (8 bytes, little-endian), then each entry's
    /// fingerprint, expiry and value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(8 + self.entries.len() * Self::ENTRY_LEN);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.fingerprint.to_le_bytes());
            out.extend_from_slice(&e.expires_at.to_le_bytes());
            e.value.encode(out);
        }
    }

    /// Reads what [`Self::encode`] wrote from the front of `input` (advancing it), with the
    /// fingerprint key `key`; `None` when the bytes do not hold that.
    pub fn decode(key: FingerprintKey, input: &mut &[u8]) -> Option<Self> {
        let count = u64::from_le_bytes(input.get(..8)?.try_into().ok()?);
        *input = &input[8..];
        // The count is checked against the bytes present before anything is allocated.
        let count = usize::try_from(count).ok()?;
        let len = count.checked_mul(Self::ENTRY_LEN)?;
        let body = input.get(..len)?;
        *input = &input[len..];
        let entries = body
            .chunks_exact(Self::ENTRY_LEN)
            .map(|e| {
                Some(Kept {
                    fingerprint: u64::from_le_bytes(e[0..8].try_into().ok()?),
                    expires_at: i64::from_le_bytes(e[8..16].try_into().ok()?),
                    value: V::decode(&e[16..])?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { key, entries })
    }
}

impl<V> std::fmt::Debug for CacheState<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheState")
            .field("entries", &self.entries.len())
            .finish()
    }
}

// ------------------------------------------------------------------------------- table

/// Fingerprint → value, filed in time buckets, sharded, with a bound on live entries.
struct Table<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    /// Makes the fingerprints (and so picks the shard). Random, so that clients cannot aim
    /// their entries at one shard or make two entries collide.
    key: FingerprintKey,
    /// Width of one bucket in seconds (at least 1).
    bucket_secs: i64,
    /// Number of buckets an entry survives, counting the one it was inserted into.
    buckets: i64,
    /// Most live entries over all shards.
    capacity: usize,
    /// Entries held over all shards. Raised (under the shard's lock) before an insert and only
    /// if that keeps it within `capacity`; lowered after entries are dropped. It never reads
    /// below the true count, so the bound holds exactly.
    held: AtomicUsize,
}

struct Shard<V> {
    /// Fingerprint → value.
    seen: HashMap<u64, V, BuildHasherDefault<AlreadyHashed>>,
    /// Buckets, oldest first: (bucket number, fingerprints filed in it).
    ring: VecDeque<(i64, Vec<u64>)>,
    /// Highest bucket number this shard has seen. Time can appear to go backwards slightly
    /// (threads read the clock at different moments); filing by the highest bucket seen keeps
    /// the ring ordered and only ever remembers an entry a little longer.
    current: i64,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Self {
            seen: HashMap::default(),
            ring: VecDeque::new(),
            current: 0,
        }
    }
}

impl<V: Copy> Table<V> {
    fn new(window: Duration, capacity: usize) -> Self {
        Self::with_key(window, capacity, FingerprintKey::random())
    }

    fn with_key(window: Duration, capacity: usize, key: FingerprintKey) -> Self {
        let window_secs = window.as_secs().max(1);
        let bucket_secs = window_secs.div_ceil(BUCKETS_PER_WINDOW).max(1);
        // Enough buckets that an entry inserted at the very end of a bucket still survives a
        // full window: ceil(window / bucket) whole buckets after the one it was inserted into.
        let buckets = window_secs.div_ceil(bucket_secs) + 1;
        Table {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            key,
            bucket_secs: i64::try_from(bucket_secs).unwrap_or(i64::MAX),
            buckets: i64::try_from(buckets).unwrap_or(i64::MAX),
            capacity,
            held: AtomicUsize::new(0),
        }
    }

    /// SipHash-1-3 of each part's length (8 bytes, little-endian) and bytes, in order.
    fn fingerprint(&self, parts: &[&[u8]]) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.key.0);
        for part in parts {
            h.write(&(part.len() as u64).to_le_bytes());
            h.write(part);
        }
        h.finish()
    }

    /// The entries live at `now`, each with the second its bucket is dropped.
    fn export(&self, now_unix_secs: i64) -> Vec<Kept<V>> {
        let bucket = now_unix_secs.div_euclid(self.bucket_secs);
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            self.advance(&mut shard, bucket);
            for (b, keys) in &shard.ring {
                // A bucket numbered b is dropped once the clock reaches bucket b + buckets.
                let expires_at = b
                    .saturating_add(self.buckets)
                    .saturating_mul(self.bucket_secs);
                out.extend(keys.iter().filter_map(|k| {
                    shard.seen.get(k).map(|v| Kept {
                        fingerprint: *k,
                        expires_at,
                        value: *v,
                    })
                }));
            }
        }
        out
    }

    /// Files `entries` that are live at `now` in a table that holds nothing yet, each in the
    /// earliest bucket that keeps it until its expiry (this table's buckets may be wider or
    /// narrower than those of the table it came from).
    fn restore(&self, entries: Vec<Kept<V>>, now_unix_secs: i64) {
        let now_bucket = now_unix_secs.div_euclid(self.bucket_secs);
        let mut per_shard: Vec<Vec<(i64, u64, V)>> =
            (0..self.shards.len()).map(|_| Vec::new()).collect();
        for e in entries {
            if e.expires_at <= now_unix_secs {
                continue;
            }
            // Dropped when the clock reaches bucket b + buckets, i.e. at (b + buckets) *
            // bucket_secs, which must not come before the entry's expiry.
            let expiry_bucket = e.expires_at.div_euclid(self.bucket_secs)
                + i64::from(e.expires_at.rem_euclid(self.bucket_secs) != 0);
            let b = expiry_bucket.saturating_sub(self.buckets);
            per_shard[self.shard_index(e.fingerprint)].push((b, e.fingerprint, e.value));
        }
        for (shard, mut entries) in self.shards.iter().zip(per_shard) {
            entries.sort_unstable_by_key(|(b, _, _)| *b);
            let mut shard = lock(shard);
            let mut added = 0;
            for (b, fingerprint, value) in entries {
                if shard.seen.contains_key(&fingerprint) {
                    continue;
                }
                shard.seen.insert(fingerprint, value);
                // Sorted, and the table was empty: the ring stays in bucket order.
                match shard.ring.back_mut() {
                    Some((last, keys)) if *last == b => keys.push(fingerprint),
                    _ => shard.ring.push_back((b, vec![fingerprint])),
                }
                added += 1;
            }
            let newest = shard.ring.back().map_or(now_bucket, |(b, _)| *b);
            shard.current = shard.current.max(now_bucket).max(newest);
            // Restored entries may exceed the capacity: `reserve` then refuses new ones until
            // enough of them expire, which is the bound's own rule (never forget a live one).
            self.held.fetch_add(added, Ordering::AcqRel);
        }
    }

    /// Looks `fingerprint` up at `now`: a known entry is judged by `judge`; a new one is
    /// inserted with `value` if the bound allows, after one sweep of expired entries if it
    /// does not.
    fn admit(
        &self,
        fingerprint: u64,
        now_unix_secs: i64,
        value: V,
        judge: impl Fn(&V) -> Admission,
    ) -> Admission {
        let bucket = now_unix_secs.div_euclid(self.bucket_secs);
        for sweep_first in [false, true] {
            if sweep_first {
                // Other shards may still count entries that have expired but were not looked
                // at since: drop them before calling the cache full. No shard lock is held here.
                self.purge_bucket(bucket);
            }
            let mut shard = self.shard_for(fingerprint);
            self.advance(&mut shard, bucket);
            if let Some(known) = shard.seen.get(&fingerprint) {
                return judge(known);
            }
            if self.reserve() {
                shard.insert(fingerprint, value);
                return Admission::Fresh;
            }
        }
        Admission::Full
    }

    /// Takes one place under the bound; false when the cache is full.
    fn reserve(&self) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    fn advance(&self, shard: &mut Shard<V>, bucket: i64) {
        let dropped = shard.advance(bucket, self.buckets);
        if dropped > 0 {
            self.held.fetch_sub(dropped, Ordering::AcqRel);
        }
    }

    fn purge_expired(&self, now_unix_secs: i64) {
        self.purge_bucket(now_unix_secs.div_euclid(self.bucket_secs));
    }

    fn purge_bucket(&self, bucket: i64) {
        for shard in self.shards.iter() {
            self.advance(&mut lock(shard), bucket);
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).seen.len()).sum()
    }

    fn shard_for(&self, fingerprint: u64) -> MutexGuard<'_, Shard<V>> {
        lock(&self.shards[self.shard_index(fingerprint)])
    }

    fn shard_index(&self, fingerprint: u64) -> usize {
        // Middle bits: the shard's table uses the low bits for the slot and the top ones for
        // its tags, and every fingerprint of one shard shares the bits that chose it.
        ((fingerprint >> 32) as usize) % self.shards.len()
    }

    fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("bucket_secs", &self.bucket_secs)
            .field("buckets", &self.buckets)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
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

impl<V> Shard<V> {
    fn insert(&mut self, fingerprint: u64, value: V) {
        let filed_under = self.current;
        self.seen.insert(fingerprint, value);
        match self.ring.back_mut() {
            Some((b, keys)) if *b == filed_under => keys.push(fingerprint),
            _ => self.ring.push_back((filed_under, vec![fingerprint])),
        }
    }

    /// Moves the shard's clock to `bucket` (if later) and drops buckets that fell out of the
    /// window; returns how many entries were dropped.
    fn advance(&mut self, bucket: i64, buckets: i64) -> usize {
        if bucket > self.current || self.ring.is_empty() {
            self.current = bucket;
        }
        // A bucket numbered b is dropped once current >= b + buckets.
        let oldest_kept = self.current.saturating_sub(buckets - 1);
        let mut dropped = 0;
        while let Some((b, _)) = self.ring.front() {
            if *b >= oldest_kept {
                break;
            }
            if let Some((_, keys)) = self.ring.pop_front() {
                for k in keys {
                    if self.seen.remove(&k).is_some() {
                        dropped += 1;
                    }
                }
            }
        }
        dropped
    }
}

/// Locks a shard. A panic while holding the lock cannot leave a shard logically broken (every
/// mutation is a single map or ring operation, and the count of held entries is changed only
/// after them), so a poisoned lock is simply taken over.
fn lock<V>(m: &Mutex<Shard<V>>) -> MutexGuard<'_, Shard<V>> {
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

    // ------------------------------------------------------------------- size bound

    #[test]
    fn a_full_cache_refuses_new_pairs_and_keeps_the_live_ones() {
        let c = NonceCache::with_capacity(Duration::from_secs(WINDOW), 100);
        let t = 1_795_000_000;
        for i in 0..100 {
            assert_eq!(c.admit("ak", &format!("n{i}"), t), Admission::Fresh);
        }
        assert_eq!(c.len(), 100);
        // Full: a new pair is refused, not admitted by forgetting a live one.
        assert_eq!(c.admit("ak", "new", t), Admission::Full);
        assert!(!c.check_and_insert("ak", "new", t + 1));
        assert_eq!(c.len(), 100);
        // Every pair it holds is still a replay, full or not.
        for i in 0..100 {
            assert_eq!(c.admit("ak", &format!("n{i}"), t + 2), Admission::Replay);
        }
        assert_eq!(c.capacity(), 100);
    }

    #[test]
    fn a_full_cache_makes_room_as_entries_expire() {
        let c = NonceCache::with_capacity(Duration::from_secs(WINDOW), 10);
        let t = 1_795_000_020;
        for i in 0..10 {
            assert!(c.check_and_insert("ak", &format!("old{i}"), t));
        }
        assert_eq!(c.admit("ak", "x", t + 899), Admission::Full);
        // Past the window (plus one bucket) the old pairs are gone everywhere, including shards
        // no later request touched: the full cache sweeps before refusing.
        let later = t + 900 + 60;
        assert_eq!(c.admit("ak", "x", later), Admission::Fresh);
        for i in 0..9 {
            assert_eq!(c.admit("ak", &format!("new{i}"), later), Admission::Fresh);
        }
        assert_eq!(c.admit("ak", "one-too-many", later), Admission::Full);
        c.purge_expired(later);
        assert_eq!(c.len(), 10);
        // The expired pairs may be used again now that they are forgotten; the bound still
        // holds (the cache is full of live pairs).
        assert_eq!(c.admit("ak", "old0", later), Admission::Full);
    }

    #[test]
    fn the_bound_holds_under_concurrency() {
        let c = std::sync::Arc::new(NonceCache::with_capacity(Duration::from_secs(WINDOW), 1000));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = std::sync::Arc::clone(&c);
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|i| c.check_and_insert("ak", &format!("{t}-{i}"), 1000))
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(admitted, 1000);
        assert_eq!(c.len(), 1000);
    }

    #[test]
    fn zero_capacity_refuses_everything_new() {
        let c = NonceCache::with_capacity(Duration::from_secs(WINDOW), 0);
        assert_eq!(c.admit("ak", "n", 0), Admission::Full);
        assert!(c.is_empty());
    }

    #[test]
    fn the_default_capacity_is_a_few_million() {
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        assert_eq!(c.capacity(), DEFAULT_CAPACITY);
        assert!((1_000_000..=10_000_000).contains(&DEFAULT_CAPACITY));
    }

    // ------------------------------------------------------------------- signatures

    /// A use for `meaning` by nobody in particular, that writes.
    fn writes(meaning: &str) -> SignatureUse<&str, &str> {
        SignatureUse {
            meaning,
            reads_only: false,
            client: None,
        }
    }

    fn by(
        client: &'static str,
        meaning: &'static str,
        reads_only: bool,
    ) -> SignatureUse<&'static str, &'static str> {
        SignatureUse {
            meaning,
            reads_only,
            client: Some(client),
        }
    }

    fn cache() -> SignatureCache {
        SignatureCache::new(Duration::from_secs(600), Duration::from_secs(5))
    }

    #[test]
    fn a_signature_passes_again_only_for_what_it_was_first_used_for() {
        let c = cache();
        let t = 1_795_000_000;
        let describe = "DescribeSecret/2019-09-23/ap-guangzhou";
        let delete = "DeleteSecret/2019-09-23/ap-guangzhou";
        let elsewhere = "DescribeSecret/2019-09-23/ap-shanghai";
        let use_for = |meaning| SignatureUse {
            meaning,
            reads_only: false,
            client: None::<&str>,
        };
        assert_eq!(
            c.admit("ak", b"sig", use_for(describe), t),
            Admission::Fresh
        );
        // An identical retry, even late in the window.
        assert_eq!(
            c.admit("ak", b"sig", use_for(describe), t + 500),
            Admission::Again
        );
        // The same signature asking for something else.
        assert_eq!(
            c.admit("ak", b"sig", use_for(delete), t + 5),
            Admission::Replay
        );
        // Another region or version is something else too.
        assert_eq!(
            c.admit("ak", b"sig", use_for(elsewhere), t),
            Admission::Replay
        );
        // A refused use was not remembered as the signature's meaning.
        assert_eq!(
            c.admit("ak", b"sig", use_for(describe), t + 6),
            Admission::Again
        );
        // Other signatures, or the same bytes under another key, are other entries.
        assert_eq!(c.admit("ak", b"sig2", use_for(delete), t), Admission::Fresh);
        assert_eq!(c.admit("ak2", b"sig", use_for(delete), t), Admission::Fresh);
        // After the window the signature is forgotten (the clock check refuses it by then).
        assert_eq!(
            c.admit("ak", b"sig", use_for(delete), t + 600 + 40 + 1),
            Admission::Fresh
        );
    }

    #[test]
    fn reads_may_share_a_signature_writes_may_not() {
        let c = cache();
        let t = 1_795_000_000;
        let read = |meaning| SignatureUse {
            meaning,
            reads_only: true,
            client: None::<&str>,
        };
        assert_eq!(
            c.admit("ak", b"s", read("GetServiceStatus"), t),
            Admission::Fresh
        );
        assert_eq!(
            c.admit("ak", b"s", read("GetRegions"), t + 100),
            Admission::Again
        );
        assert_eq!(
            c.admit("ak", b"s", writes("DeleteSecret"), t),
            Admission::Replay
        );
        // A write first: nothing else may follow, not even a read.
        assert_eq!(
            c.admit("ak", b"w", writes("DisableSecret"), t),
            Admission::Fresh
        );
        assert_eq!(
            c.admit("ak", b"w", read("DescribeSecret"), t),
            Admission::Replay
        );
        assert_eq!(
            c.admit("ak", b"w", writes("DeleteSecret"), t),
            Admission::Replay
        );
    }

    #[test]
    fn the_same_client_may_use_a_signature_for_another_meaning_at_once() {
        let c = cache();
        let t = 1_795_000_000;
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Disable", false), t),
            Admission::Fresh
        );
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Delete", false), t + 1),
            Admission::Again
        );
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.2", "Delete", false), t + 1),
            Admission::Replay
        );
        assert_eq!(
            c.admit("ak", b"s", writes("Delete"), t + 1),
            Admission::Replay
        );
        // Only within the grace after the first use: later it is a replay even from there.
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Enable", false), t + 5),
            Admission::Again
        );
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Enable", false), t + 6),
            Admission::Replay
        );
        // The first use is what counts: a retry of it passes from anywhere, at any time.
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.9", "Disable", false), t + 60),
            Admission::Again
        );
        // A first use without a client matches no client later.
        assert_eq!(c.admit("ak", b"t", writes("Disable"), t), Admission::Fresh);
        assert_eq!(
            c.admit("ak", b"t", by("10.0.0.1", "Delete", false), t),
            Admission::Replay
        );
        // The clock going back a little is still "at once".
        assert_eq!(
            c.admit("ak", b"u", by("10.0.0.1", "Disable", false), t),
            Admission::Fresh
        );
        assert_eq!(
            c.admit("ak", b"u", by("10.0.0.1", "Delete", false), t - 2),
            Admission::Again
        );
    }

    #[test]
    fn a_full_signature_cache_refuses_new_signatures_but_not_retries() {
        let c = SignatureCache::with_capacity(Duration::from_secs(600), Duration::from_secs(5), 2);
        let t = 1_795_000_000;
        assert_eq!(c.admit("ak", b"a", writes("Get"), t), Admission::Fresh);
        assert_eq!(c.admit("ak", b"b", writes("Get"), t), Admission::Fresh);
        assert_eq!(c.admit("ak", b"c", writes("Get"), t), Admission::Full);
        assert_eq!(c.admit("ak", b"a", writes("Get"), t), Admission::Again);
        assert_eq!(c.admit("ak", b"a", writes("Delete"), t), Admission::Replay);
        assert_eq!(c.len(), 2);
    }

    // ------------------------------------------------------------ across a restart

    fn roundtrip<V: KeptValue + PartialEq + std::fmt::Debug>(
        state: CacheState<V>,
    ) -> CacheState<V> {
        let mut bytes = Vec::new();
        state.encode(&mut bytes);
        assert_eq!(bytes.len(), 8 + state.len() * CacheState::<V>::ENTRY_LEN);
        let mut input = bytes.as_slice();
        let back = CacheState::decode(state.key(), &mut input).expect("decodes");
        assert!(input.is_empty(), "decode takes exactly what encode wrote");
        assert_eq!(back.entries, state.entries);
        back
    }

    #[test]
    fn a_restored_cache_refuses_what_the_exported_one_held_until_it_would_have() {
        let start = 1_795_000_020; // a bucket boundary (60 s buckets)
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        assert!(c.check_and_insert("ak", "early", start));
        assert!(c.check_and_insert("ak", "late", start + 59));
        let state = roundtrip(c.export(start + 100));
        assert_eq!(state.len(), 2);
        // Another window, so other buckets: the entries must still last as long as before.
        for window in [WINDOW, 200, 5000] {
            let r = NonceCache::restored(
                Duration::from_secs(window),
                DEFAULT_CAPACITY,
                roundtrip(c.export(start + 100)),
                start + 200,
            );
            assert_eq!(r.len(), 2, "window {window}");
            assert_eq!(r.admit("ak", "early", start + 900), Admission::Replay);
            assert_eq!(r.admit("ak", "late", start + 59 + 900), Admission::Replay);
            assert_eq!(r.admit("ak", "new", start + 300), Admission::Fresh);
            assert_eq!(r.admit("ak", "new", start + 301), Admission::Replay);
        }
        // Restored in the original window's shape, they are forgotten when the original
        // would have forgotten them, and not much later.
        let r = NonceCache::restored(Duration::from_secs(WINDOW), 10, state, start + 200);
        let later = start + 59 + 900 + 60;
        assert_eq!(r.admit("ak", "early", later), Admission::Fresh);
        assert_eq!(r.admit("ak", "late", later), Admission::Fresh);
    }

    #[test]
    fn expired_entries_are_neither_exported_nor_restored() {
        let t = 1_795_000_020;
        let c = NonceCache::new(Duration::from_secs(WINDOW));
        assert!(c.check_and_insert("ak", "old", t));
        assert!(c.check_and_insert("ak", "new", t + 1000));
        // "old" is gone after its window and a bucket (60 s here); "new" is not.
        assert_eq!(c.export(t + 900 + 60).len(), 1);
        // Exported while live, restored after they expired: nothing is held.
        let r = NonceCache::restored(
            Duration::from_secs(WINDOW),
            10,
            c.export(t + 1001),
            t + 5000,
        );
        assert!(r.is_empty());
        assert_eq!(r.admit("ak", "new", t + 5000), Admission::Fresh);
    }

    #[test]
    fn restored_entries_are_all_kept_even_beyond_the_capacity() {
        let t = 1_795_000_020;
        let c = NonceCache::with_capacity(Duration::from_secs(WINDOW), 5);
        for i in 0..5 {
            assert!(c.check_and_insert("ak", &format!("n{i}"), t));
        }
        let r = NonceCache::restored(Duration::from_secs(WINDOW), 2, c.export(t), t + 1);
        assert_eq!(r.len(), 5);
        for i in 0..5 {
            assert_eq!(r.admit("ak", &format!("n{i}"), t + 2), Admission::Replay);
        }
        assert_eq!(r.admit("ak", "more", t + 2), Admission::Full);
        // Once they expire, room comes back.
        assert_eq!(r.admit("ak", "more", t + 2000), Admission::Fresh);
    }

    #[test]
    fn a_restored_signature_cache_keeps_each_first_use() {
        let t = 1_795_000_000;
        let c = cache();
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Disable", false), t),
            Admission::Fresh
        );
        assert_eq!(
            c.admit("ak", b"r", by("10.0.0.1", "Describe", true), t),
            Admission::Fresh
        );
        let r = SignatureCache::restored(
            Duration::from_secs(600),
            Duration::from_secs(5),
            DEFAULT_CAPACITY,
            roundtrip(c.export(t + 1)),
            t + 2,
        );
        assert_eq!(r.len(), 2);
        // The same answers as the cache that was exported.
        assert_eq!(
            r.admit("ak", b"s", writes("Disable"), t + 3),
            Admission::Again
        );
        assert_eq!(
            r.admit("ak", b"s", by("10.0.0.2", "Delete", false), t + 3),
            Admission::Replay
        );
        assert_eq!(
            r.admit("ak", b"s", by("10.0.0.1", "Delete", false), t + 3),
            Admission::Again
        );
        assert_eq!(
            r.admit("ak", b"s", by("10.0.0.1", "Delete", false), t + 9),
            Admission::Replay
        );
        assert_eq!(
            r.admit("ak", b"r", by("10.0.0.9", "List", true), t + 9),
            Admission::Again
        );
        assert_eq!(
            r.admit("ak", b"r", writes("Delete"), t + 9),
            Admission::Replay
        );
    }

    #[test]
    fn damaged_states_do_not_decode() {
        let key = FingerprintKey::from_bytes([7; 16]);
        let c = cache();
        assert_eq!(
            c.admit("ak", b"s", by("10.0.0.1", "Get", true), 1000),
            Admission::Fresh
        );
        let mut bytes = Vec::new();
        c.export(1000).encode(&mut bytes);
        // Cut short anywhere.
        for n in 0..bytes.len() {
            assert!(
                SignatureCacheState::decode(key, &mut &bytes[..n]).is_none(),
                "{n}"
            );
        }
        // A count larger than the bytes that follow, without allocating for it.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 64]);
        assert!(NonceCacheState::decode(key, &mut huge.as_slice()).is_none());
        // A flag that is neither 0 nor 1.
        let last = bytes.len() - 1;
        bytes[last] = 2;
        assert!(SignatureCacheState::decode(key, &mut bytes.as_slice()).is_none());
        // And nothing decodes from nothing.
        assert!(NonceCacheState::decode(key, &mut [].as_slice()).is_none());
    }

    /// The fingerprint of a pair is fixed by its key and bytes alone, so a server of another
    /// build (another Rust release) restores what this one exported. Changing this value
    /// breaks every state written before: give such a change a new file format.
    #[test]
    fn fingerprints_do_not_depend_on_the_build() {
        let t = Table::<()>::with_key(
            Duration::from_secs(60),
            10,
            FingerprintKey::from_bytes(*b"0123456789abcdef"),
        );
        assert_eq!(t.fingerprint(&[b"ak", b"n1"]), FINGERPRINT_OF_AK_N1);
        assert_ne!(t.fingerprint(&[b"akn", b"1"]), FINGERPRINT_OF_AK_N1);
    }
    const FINGERPRINT_OF_AK_N1: u64 = 5_996_961_755_001_162_545;
}
