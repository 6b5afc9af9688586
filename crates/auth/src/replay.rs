//! The replay guard a dialect holds: it sees each verified request's nonce (or, for a scheme
//! without one, its signature) and says whether the request was seen before ([`Admission`]).
//!
//! Two guards keep the same rules ([`crate::nonce`] documents them):
//! - [`MemoryReplayGuard`]: the process's own caches ([`NonceCache`], [`SignatureCache`]), for
//!   a server that is the only node of its store;
//! - [`SharedReplayGuard`]: records kept in a [`ReplayLedger`] that every node of a cluster
//!   shares (the PostgreSQL store's `replay_records`), so that a request replayed to another
//!   node is refused there too.
//!
//! The dialects hold an `Arc<dyn ReplayGuard>` and never learn which one it is.
//!
//! **Restarts.** A [`SharedReplayGuard`]'s records outlive any process. A
//! [`MemoryReplayGuard`]'s caches do not, so a process that stops cleanly exports them
//! ([`ReplayGuard::export`], [`GuardState`]: keyed fingerprints and expiries, never a request)
//! and the next one starts from them ([`ReplayStart::Continued`]). When they were lost (the
//! process was killed, crashed, or its machine lost power) the next one cannot know what was
//! seen, and refuses every request signed before it started ([`ReplayStart::Lost`],
//! [`Admission::SignedBeforeStart`]): such a request could be a replay; one signed later cannot
//! have been seen by the process that is gone. The clock window ends that rule by itself once
//! every such request is too old anyway.
//!
//! A shared record cannot use the in-memory caches' fingerprints (SipHash keyed at random per
//! process): every node must compute the same one. [`fingerprint`] is SHA-256 over
//! length-prefixed parts, cut to 128 bits: clients choose nonces, but finding two that collide
//! at 128 bits is out of reach, so no key is needed, and a collision would only refuse a
//! request (the later one is judged a replay).

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::nonce::{
    Admission, FingerprintKey, NonceCache, NonceCacheState, SignatureCache, SignatureCacheState,
    SignatureUse,
};

/// A 128-bit fingerprint, the same on every node.
pub type Fingerprint = [u8; 16];

/// SHA-256 of `domain` and `parts`, each prefixed by its length (a missing part by a marker of
/// its own), cut to 128 bits.
pub fn fingerprint(domain: &str, parts: &[Option<&[u8]>]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update((domain.len() as u64).to_be_bytes());
    h.update(domain.as_bytes());
    for part in parts {
        match part {
            Some(p) => {
                h.update([1]);
                h.update((p.len() as u64).to_be_bytes());
                h.update(p);
            }
            None => h.update([0]),
        }
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// One use of a signature (see [`SignatureUse`]), as fingerprints every node computes alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignedUse {
    /// Everything outside the signature that gives the request its meaning.
    pub meaning: Fingerprint,
    /// The request changes nothing and returns nothing secret.
    pub reads_only: bool,
    /// Who sent it (see [`SignatureUse::client`]).
    pub client: Option<Fingerprint>,
}

impl SignedUse {
    /// A use whose meaning is `meaning` (each part, or its absence, counts) by the client at
    /// `ip` (with `client_parts`, what the meaning may not vary in under one client).
    pub fn new(
        meaning: &[Option<&str>],
        reads_only: bool,
        ip: Option<IpAddr>,
        client_parts: &[Option<&str>],
    ) -> Self {
        let bytes = |parts: &[Option<&str>]| -> Vec<Option<Vec<u8>>> {
            parts
                .iter()
                .map(|p| p.map(|s| s.as_bytes().to_vec()))
                .collect()
        };
        let meaning_parts = bytes(meaning);
        let meaning_refs: Vec<Option<&[u8]>> = meaning_parts.iter().map(|p| p.as_deref()).collect();
        let client = ip.map(|ip| {
            let ip = ip.to_string();
            let mut parts = vec![Some(ip.into_bytes())];
            parts.extend(bytes(client_parts));
            let refs: Vec<Option<&[u8]>> = parts.iter().map(|p| p.as_deref()).collect();
            fingerprint("coffer/replay/v1/client", &refs)
        });
        SignedUse {
            meaning: fingerprint("coffer/replay/v1/meaning", &meaning_refs),
            reads_only,
            client,
        }
    }
}

/// The shared replay records could not be reached: the request is neither admitted nor called
/// a replay, and the dialect answers with its "service unavailable" error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the replay records cannot be reached: {0}")]
pub struct ReplayUnavailable(pub String);

/// Judges each verified request against what was seen before. Call it after the signature and
/// the clock window checked out, so that only authentic requests take room.
#[async_trait]
pub trait ReplayGuard: Send + Sync + 'static {
    /// (`key_id`, `nonce`) of a request signed at `signed_at`, at `now` (Unix seconds):
    /// [`Admission::Fresh`] the first time within the window, [`Admission::Replay`] after,
    /// [`Admission::Full`] when nothing more can be remembered,
    /// [`Admission::SignedBeforeStart`] when it may have been seen by a process whose records
    /// were lost.
    async fn admit_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable>;

    /// A use of `signature` (made with `key_id`, signed at `signed_at`) at `now`: the rules of
    /// [`SignatureCache`], and [`Admission::SignedBeforeStart`] as for nonces.
    async fn admit_signature(
        &self,
        key_id: &str,
        signature: &[u8],
        used: SignedUse,
        signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable>;

    /// What this process must hand to the next one at a clean stop, live at `now`; `None` when
    /// the records outlive the process anyway (shared ones).
    fn export(&self, _now: i64) -> Option<GuardState> {
        None
    }
}

/// Where a single node's guard starts from.
#[derive(Debug)]
pub enum ReplayStart {
    /// Nothing can have been seen before: a new store.
    Fresh,
    /// The previous process stopped cleanly and handed over what it had seen.
    Continued(GuardState),
    /// What the previous process had seen is lost: requests signed before the Unix second
    /// `signed_from` are refused ([`Admission::SignedBeforeStart`]).
    Lost { signed_from: i64 },
}

/// A [`MemoryReplayGuard`]'s caches as exported: their fingerprint keys and live entries.
#[derive(Debug)]
pub struct GuardState {
    nonces: NonceCacheState,
    signatures: SignatureCacheState,
}

impl GuardState {
    /// Both caches' fingerprint keys (nonces, then signatures): whoever stores a state keeps
    /// these apart from the entries and protects them.
    pub fn keys(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.nonces.key().to_bytes());
        out[16..].copy_from_slice(&self.signatures.key().to_bytes());
        out
    }

    /// Live entries held (nonces and signatures).
    pub fn len(&self) -> usize {
        self.nonces.len() + self.signatures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the entries of both caches (not the keys).
    pub fn encode_entries(&self, out: &mut Vec<u8>) {
        self.nonces.encode(out);
        self.signatures.encode(out);
    }

    /// Reads what [`Self::encode_entries`] wrote from the front of `input` (advancing it), with
    /// the [`Self::keys`] it was written with; `None` when the bytes do not hold that.
    pub fn decode(keys: [u8; 32], input: &mut &[u8]) -> Option<Self> {
        let half = |r: std::ops::Range<usize>| -> Option<FingerprintKey> {
            Some(FingerprintKey::from_bytes(keys.get(r)?.try_into().ok()?))
        };
        Some(Self {
            nonces: NonceCacheState::decode(half(0..16)?, input)?,
            signatures: SignatureCacheState::decode(half(16..32)?, input)?,
        })
    }
}

// ------------------------------------------------------------------------------ memory

/// The caches of one process: for a server that is its store's only node.
pub struct MemoryReplayGuard {
    nonces: NonceCache,
    signatures: SignatureCache,
    /// Requests signed before this Unix second are refused: the records of the process before
    /// this one were lost.
    signed_from: Option<i64>,
}

impl MemoryReplayGuard {
    /// Remembers each nonce and signature for `window`, lets one client use a signature for
    /// another meaning during `client_grace`, and holds at most `capacity` live entries per
    /// cache.
    pub fn new(window: Duration, client_grace: Duration, capacity: usize) -> Self {
        Self {
            nonces: NonceCache::with_capacity(window, capacity),
            signatures: SignatureCache::with_capacity(window, client_grace, capacity),
            signed_from: None,
        }
    }

    /// A guard like [`Self::new`] that starts from `start` at `now` (Unix seconds).
    pub fn starting(
        window: Duration,
        client_grace: Duration,
        capacity: usize,
        start: ReplayStart,
        now: i64,
    ) -> Self {
        match start {
            ReplayStart::Fresh => Self::new(window, client_grace, capacity),
            ReplayStart::Continued(state) => Self {
                nonces: NonceCache::restored(window, capacity, state.nonces, now),
                signatures: SignatureCache::restored(
                    window,
                    client_grace,
                    capacity,
                    state.signatures,
                    now,
                ),
                signed_from: None,
            },
            ReplayStart::Lost { signed_from } => Self {
                signed_from: Some(signed_from),
                ..Self::new(window, client_grace, capacity)
            },
        }
    }

    /// [`Admission::SignedBeforeStart`] for a request signed before the records begin.
    fn before_start(&self, signed_at: i64) -> Option<Admission> {
        self.signed_from
            .filter(|from| signed_at < *from)
            .map(Admission::SignedBeforeStart)
    }

    /// Nonces remembered now (expired ones not yet dropped included).
    pub fn nonces_held(&self) -> usize {
        self.nonces.len()
    }

    /// Signatures remembered now (expired ones not yet dropped included).
    pub fn signatures_held(&self) -> usize {
        self.signatures.len()
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn admit_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable> {
        if let Some(refused) = self.before_start(signed_at) {
            return Ok(refused);
        }
        Ok(self.nonces.admit(key_id, nonce, now))
    }

    async fn admit_signature(
        &self,
        key_id: &str,
        signature: &[u8],
        used: SignedUse,
        signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable> {
        if let Some(refused) = self.before_start(signed_at) {
            return Ok(refused);
        }
        let used = SignatureUse {
            meaning: used.meaning,
            reads_only: used.reads_only,
            client: used.client,
        };
        Ok(self.signatures.admit(key_id, signature, used, now))
    }

    fn export(&self, now: i64) -> Option<GuardState> {
        Some(GuardState {
            nonces: self.nonces.export(now),
            signatures: self.signatures.export(now),
        })
    }
}

// ------------------------------------------------------------------------------ shared

/// What a [`ReplayLedger`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerAnswer {
    /// Nothing live had the fingerprint; it is recorded now.
    Recorded,
    /// A live record has it, with what it was first used for when that was asked for (and is
    /// still there).
    Seen(Option<Vec<u8>>),
}

/// Replay records that every node of a cluster shares.
#[async_trait]
pub trait ReplayLedger: Send + Sync + 'static {
    /// Records that `key_id` used `fingerprint`, with `first_use`, until `expires_at` (Unix
    /// seconds), unless a record live at `now` has it; atomic against every other node. With
    /// `fetch_first_use`, a live record's `first_use` comes back.
    async fn record(
        &self,
        key_id: &str,
        fingerprint: &Fingerprint,
        first_use: &[u8],
        now: i64,
        expires_at: i64,
        fetch_first_use: bool,
    ) -> Result<LedgerAnswer, ReplayUnavailable>;
}

/// The rules of [`MemoryReplayGuard`] on records a [`ReplayLedger`] shares between nodes. One
/// guard per dialect: `domain` keeps one dialect's nonces apart from another's.
pub struct SharedReplayGuard<L> {
    ledger: L,
    domain: &'static str,
    window_secs: i64,
    client_grace_secs: i64,
}

impl<L: ReplayLedger> SharedReplayGuard<L> {
    /// Records live for `window` (at least a second); one client may use a signature for
    /// another meaning within `client_grace` of its first use.
    pub fn new(ledger: L, domain: &'static str, window: Duration, client_grace: Duration) -> Self {
        Self {
            ledger,
            domain,
            window_secs: i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX),
            client_grace_secs: i64::try_from(client_grace.as_secs()).unwrap_or(i64::MAX),
        }
    }

    fn expiry(&self, now: i64) -> i64 {
        now.saturating_add(self.window_secs)
    }
}

/// A signature's first use as a record holds it: meaning (16 bytes), reads-only (1), a client
/// marker (1) and client (16, zeros when none), when (8, big-endian Unix seconds).
const FIRST_USE_LEN: usize = 16 + 1 + 1 + 16 + 8;

fn encode_use(used: &SignedUse, at: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIRST_USE_LEN);
    out.extend_from_slice(&used.meaning);
    out.push(u8::from(used.reads_only));
    match &used.client {
        Some(c) => {
            out.push(1);
            out.extend_from_slice(c);
        }
        None => {
            out.push(0);
            out.extend_from_slice(&[0; 16]);
        }
    }
    out.extend_from_slice(&at.to_be_bytes());
    out
}

fn decode_use(bytes: &[u8]) -> Option<(SignedUse, i64)> {
    if bytes.len() != FIRST_USE_LEN {
        return None;
    }
    let meaning: Fingerprint = bytes[..16].try_into().ok()?;
    let reads_only = bytes[16] == 1;
    let client = match bytes[17] {
        1 => Some(bytes[18..34].try_into().ok()?),
        _ => None,
    };
    let at = i64::from_be_bytes(bytes[34..42].try_into().ok()?);
    Some((
        SignedUse {
            meaning,
            reads_only,
            client,
        },
        at,
    ))
}

#[async_trait]
impl<L: ReplayLedger> ReplayGuard for SharedReplayGuard<L> {
    // `signed_at` plays no part: the records outlive every node, so nothing is ever lost by a
    // restart (see the module documentation).
    async fn admit_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        _signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable> {
        let domain = format!("coffer/replay/v1/{}/nonce", self.domain);
        let fp = fingerprint(&domain, &[Some(key_id.as_bytes()), Some(nonce.as_bytes())]);
        let answer = self
            .ledger
            .record(key_id, &fp, &[], now, self.expiry(now), false)
            .await?;
        Ok(match answer {
            LedgerAnswer::Recorded => Admission::Fresh,
            LedgerAnswer::Seen(_) => Admission::Replay,
        })
    }

    async fn admit_signature(
        &self,
        key_id: &str,
        signature: &[u8],
        used: SignedUse,
        _signed_at: i64,
        now: i64,
    ) -> Result<Admission, ReplayUnavailable> {
        let domain = format!("coffer/replay/v1/{}/signature", self.domain);
        let fp = fingerprint(&domain, &[Some(key_id.as_bytes()), Some(signature)]);
        let answer = self
            .ledger
            .record(
                key_id,
                &fp,
                &encode_use(&used, now),
                now,
                self.expiry(now),
                true,
            )
            .await?;
        let first = match answer {
            LedgerAnswer::Recorded => return Ok(Admission::Fresh),
            LedgerAnswer::Seen(first) => first,
        };
        // A record that vanished between the two statements, or does not read, admits
        // nothing: refusing fails closed, and the client signs again.
        let Some((first, at)) = first.as_deref().and_then(decode_use) else {
            return Ok(Admission::Replay);
        };
        let since = now.saturating_sub(at).saturating_abs();
        let same_client =
            used.client.is_some() && first.client == used.client && since <= self.client_grace_secs;
        Ok(
            if first.meaning == used.meaning || (first.reads_only && used.reads_only) || same_client
            {
                Admission::Again
            } else {
                Admission::Replay
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// (access key, fingerprint) → (first use, expiry).
    type Records = HashMap<(String, Fingerprint), (Vec<u8>, i64)>;

    /// A ledger in a map, with the shared ledger's contract: what a cluster's database does.
    #[derive(Default)]
    struct MapLedger(Mutex<Records>);

    #[async_trait]
    impl ReplayLedger for &'static MapLedger {
        async fn record(
            &self,
            key_id: &str,
            fingerprint: &Fingerprint,
            first_use: &[u8],
            now: i64,
            expires_at: i64,
            fetch_first_use: bool,
        ) -> Result<LedgerAnswer, ReplayUnavailable> {
            let mut m = self
                .0
                .lock()
                .map_err(|_| ReplayUnavailable("lock".into()))?;
            let k = (key_id.to_string(), *fingerprint);
            match m.get(&k) {
                Some((first, exp)) if *exp > now => {
                    Ok(LedgerAnswer::Seen(fetch_first_use.then(|| first.clone())))
                }
                _ => {
                    m.insert(k, (first_use.to_vec(), expires_at));
                    Ok(LedgerAnswer::Recorded)
                }
            }
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn guards() -> Vec<Box<dyn ReplayGuard>> {
        let ledger: &'static MapLedger = Box::leak(Box::default());
        vec![
            Box::new(MemoryReplayGuard::new(
                Duration::from_secs(600),
                Duration::from_secs(5),
                1000,
            )),
            Box::new(SharedReplayGuard::new(
                ledger,
                "test",
                Duration::from_secs(600),
                Duration::from_secs(5),
            )),
        ]
    }

    /// Both guards answer alike, for nonces and for the signature rules.
    #[test]
    fn memory_and_shared_guards_keep_the_same_rules() {
        let t = 1_795_000_000;
        for g in guards() {
            block(async {
                let n = |k: &'static str, n: &'static str, at| g.admit_nonce(k, n, at, at);
                assert_eq!(n("ak", "n1", t).await.ok(), Some(Admission::Fresh));
                assert_eq!(n("ak", "n1", t + 10).await.ok(), Some(Admission::Replay));
                assert_eq!(n("ak2", "n1", t).await.ok(), Some(Admission::Fresh));
                let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
                let other: Option<IpAddr> = "10.0.0.2".parse().ok();
                let describe = |ip, reads| {
                    SignedUse::new(&[Some("DescribeSecret"), None], reads, ip, &[Some("v")])
                };
                let delete = |ip, reads| {
                    SignedUse::new(&[Some("DeleteSecret"), None], reads, ip, &[Some("v")])
                };
                let s = |u, at| g.admit_signature("ak", b"sig", u, at, at);
                assert_eq!(s(describe(ip, true), t).await.ok(), Some(Admission::Fresh));
                assert_eq!(
                    s(describe(other, true), t + 100).await.ok(),
                    Some(Admission::Again)
                );
                assert_eq!(
                    s(delete(other, false), t).await.ok(),
                    Some(Admission::Replay)
                );
                assert_eq!(
                    s(delete(ip, false), t + 5).await.ok(),
                    Some(Admission::Again)
                );
                assert_eq!(
                    s(delete(ip, false), t + 6).await.ok(),
                    Some(Admission::Replay)
                );
                assert_eq!(
                    s(delete(None, false), t).await.ok(),
                    Some(Admission::Replay)
                );
                // A write first: another meaning is refused, even a read.
                let w = |u, at| g.admit_signature("ak", b"w", u, at, at);
                assert_eq!(w(delete(None, false), t).await.ok(), Some(Admission::Fresh));
                assert_eq!(
                    w(describe(None, true), t).await.ok(),
                    Some(Admission::Replay)
                );
                assert_eq!(
                    w(delete(other, false), t).await.ok(),
                    Some(Admission::Again)
                );
            });
        }
    }

    fn memory(start: ReplayStart, now: i64) -> MemoryReplayGuard {
        MemoryReplayGuard::starting(
            Duration::from_secs(600),
            Duration::from_secs(5),
            1000,
            start,
            now,
        )
    }

    /// After a stop that lost the records, a request signed before the start is refused
    /// (and takes no room); one signed from the start on is judged as usual.
    #[test]
    fn a_guard_whose_records_were_lost_refuses_requests_signed_before_it_started() {
        let t = 1_795_000_000;
        let g = memory(ReplayStart::Lost { signed_from: t }, t);
        let used = SignedUse::new(&[Some("DeleteSecret")], false, None, &[]);
        block(async {
            for signed_at in [t - 1, t - 600, i64::MIN] {
                assert_eq!(
                    g.admit_nonce("ak", "n1", signed_at, t + 1).await.ok(),
                    Some(Admission::SignedBeforeStart(t))
                );
                assert_eq!(
                    g.admit_signature("ak", b"sig", used, signed_at, t + 1)
                        .await
                        .ok(),
                    Some(Admission::SignedBeforeStart(t))
                );
            }
            assert_eq!((g.nonces_held(), g.signatures_held()), (0, 0));
            assert_eq!(
                g.admit_nonce("ak", "n1", t, t + 1).await.ok(),
                Some(Admission::Fresh)
            );
            assert_eq!(
                g.admit_nonce("ak", "n1", t, t + 2).await.ok(),
                Some(Admission::Replay)
            );
            assert_eq!(
                g.admit_signature("ak", b"sig", used, t + 1, t + 1)
                    .await
                    .ok(),
                Some(Admission::Fresh)
            );
        });
        // A fresh start refuses nothing for its time.
        let g = memory(ReplayStart::Fresh, t);
        block(async {
            assert_eq!(
                g.admit_nonce("ak", "n1", t - 600, t).await.ok(),
                Some(Admission::Fresh)
            );
        });
    }

    /// What one guard exported, through its encoding, makes the next one refuse the same
    /// replays and accept the same retries.
    #[test]
    fn a_continued_guard_judges_as_the_one_that_stopped() {
        let t = 1_795_000_000;
        let first = memory(ReplayStart::Fresh, t);
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        let describe = SignedUse::new(&[Some("DescribeSecret")], false, ip, &[]);
        let delete = SignedUse::new(&[Some("DeleteSecret")], false, None, &[]);
        block(async {
            assert_eq!(
                first.admit_nonce("ak", "n1", t, t).await.ok(),
                Some(Admission::Fresh)
            );
            assert_eq!(
                first
                    .admit_signature("ak", b"sig", describe, t, t)
                    .await
                    .ok(),
                Some(Admission::Fresh)
            );
        });
        let state = first.export(t + 10).expect("a memory guard exports");
        assert_eq!(state.len(), 2);
        let mut bytes = Vec::new();
        state.encode_entries(&mut bytes);
        let mut input = bytes.as_slice();
        let state = GuardState::decode(state.keys(), &mut input).expect("decodes");
        assert!(input.is_empty());
        // Keys count: the same entries under other keys match nothing.
        let mut other = bytes.as_slice();
        let stranger = GuardState::decode([9; 32], &mut other).expect("decodes");
        let next = memory(ReplayStart::Continued(state), t + 20);
        let wrong = memory(ReplayStart::Continued(stranger), t + 20);
        block(async {
            assert_eq!(
                next.admit_nonce("ak", "n1", t, t + 30).await.ok(),
                Some(Admission::Replay)
            );
            assert_eq!(
                next.admit_signature("ak", b"sig", describe, t, t + 30)
                    .await
                    .ok(),
                Some(Admission::Again)
            );
            assert_eq!(
                next.admit_signature("ak", b"sig", delete, t, t + 30)
                    .await
                    .ok(),
                Some(Admission::Replay)
            );
            assert_eq!(
                next.admit_nonce("ak", "n2", t, t + 30).await.ok(),
                Some(Admission::Fresh)
            );
            assert_eq!(
                wrong.admit_nonce("ak", "n1", t, t + 30).await.ok(),
                Some(Admission::Fresh)
            );
        });
        // Shared records need no handing over.
        let ledger: &'static MapLedger = Box::leak(Box::default());
        let shared = SharedReplayGuard::new(ledger, "t", Duration::from_secs(60), Duration::ZERO);
        assert!(shared.export(t).is_none());
    }

    #[test]
    fn fingerprints_tell_parts_apart() {
        let a = fingerprint("d", &[Some(b"ab"), Some(b"c")]);
        let b = fingerprint("d", &[Some(b"a"), Some(b"bc")]);
        let c = fingerprint("d", &[Some(b"abc"), None]);
        let d = fingerprint("e", &[Some(b"ab"), Some(b"c")]);
        assert!(a != b && a != c && b != c && a != d);
        assert_eq!(a, fingerprint("d", &[Some(b"ab"), Some(b"c")]));
    }

    #[test]
    fn a_first_use_reads_back_as_written() {
        let u = SignedUse::new(&[Some("A")], true, "::1".parse().ok(), &[]);
        assert_eq!(decode_use(&encode_use(&u, -5)), Some((u, -5)));
        let u = SignedUse::new(&[None], false, None, &[]);
        assert_eq!(decode_use(&encode_use(&u, i64::MAX)), Some((u, i64::MAX)));
        assert_eq!(decode_use(b"short"), None);
    }
}
