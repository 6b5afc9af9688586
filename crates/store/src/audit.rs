//! The tamper-evident audit log: [`FileAuditLog`] appends [`AuditEntry`]s to one text file
//! (`<data-dir>/audit.log`), one JSON object per `\n`-terminated line, each line chained to the
//! one before it and authenticated by a key only the holder of the root key can derive. A line
//! is exactly
//!
//! ```text
//! {"seq":N,"prev":"<64 hex>",<the entry's fields as serde_json writes them>,"mac":"<64 hex>"}
//! ```
//!
//! `seq` counts from 1; `prev` is the previous line's `mac` (64 zeros on line 1); `mac` is the
//! HMAC-SHA256, under the log key, of the line's bytes from its first byte up to, not
//! including, the `,"mac":"`. The log key is derived from the root key
//! ([`LogKey::from_root`]) and never written anywhere. The MAC covers the raw bytes, not a
//! re-serialization, so any edited byte shows; `prev` is among them, so a removed or reordered
//! line shows too; and without the root key nobody can compute the MAC of an edited line, so
//! rewriting the tail of the file and re-chaining it shows as well. [`verify`] checks a whole
//! file, [`tail`] reads its last lines. What the file alone cannot show is a tail cut off: an
//! operator keeps an [`Anchor`] (the last line's seq and MAC, printed by `coffer audit anchor`
//! and logged at shutdown) and [`verify_with`] checks the log still reaches it.
//!
//! **Root key rotation.** When the root key changes, the log key changes with it. The writer
//! then appends a *key change* line: an ordinary line, MAC'd under the old log key, carrying a
//! `"rekey"` field (after `prev`) that holds the old log key encrypted under the new one. Lines
//! after it are MAC'd under the new key. So the newest root key recovers every earlier log key,
//! one key change at a time, and the whole log stays verifiable after the old root key is gone.
//!
//! **Logs from before the key.** Earlier versions chained lines with plain SHA-256 and ended
//! them with `"hash"` instead of `"mac"`. Such lines are accepted only as the start of a log:
//! when the server opens a log whose last line is one, it appends a keyed line at once (its
//! `prev` is that line's hash, so its MAC covers every line before it), and from then on only
//! keyed lines may follow. A log with no keyed line at all fails [`verify`]: it was written
//! before keying and never opened since, or rewritten by someone without the key.
//!
//! One thread owns the file, like the SQLite writer: appends queue on a channel, the thread
//! takes everything waiting (see [`crate::batch`]), chains the entries in arrival order,
//! writes them with one `write_all`, calls `sync_data` once if any of them is durable, and
//! only then answers the durable callers. Non-durable appends return once queued; the next sync
//! covers them.
//!
//! **When the disk fails.** After a failed write or sync the file's end is unknown, so the log
//! takes no appends (and [`AuditSink::health`] says so, which makes the server refuse the
//! operations whose entries must be durable) until it can write again: every [`RETRY`] the
//! thread cuts the file back to the last line known to be synced, syncs, and appends an
//! `AuditLogResumed` line whose `resource` is `lost-entries:N` (N: entries that were refused or
//! cut off meanwhile; only non-durable ones were answered as recorded). Once that line is on
//! disk the log takes appends again. A disk that is full, read-only or failing thus stops the
//! log only as long as it lasts.
//!
//! **Space kept ahead.** The log keeps [`RESERVE`] bytes allocated past its end
//! (`fallocate(FALLOC_FL_KEEP_SIZE)`, which leaves the file's size alone), topped up as it
//! grows. When the disk fills, the database refuses writes (cleanly, in each dialect's format)
//! while the entries saying so, and those of reads, still land in the reserve: the log goes on
//! for a while instead of failing in the middle of a request that the database already
//! committed. Once less than [`RESERVE_MARGIN`] is left on a full disk, the log reports itself
//! unhealthy, so operations whose entry must be durable are refused before they run, and the
//! margin holds the entries of those already running. On a filesystem that cannot reserve
//! (`EOPNOTSUPP`), a full disk stops the log at its first failed write, as above.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use coffer_core::{stats, AuditEntry, AuditSink, Error, Result};
use coffer_crypto::{MacKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::batch::fill as fill_batch;

/// The `prev` of line 1.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// What precedes the MAC at the end of every keyed line.
const MAC_FIELD: &[u8] = b",\"mac\":\"";
/// What precedes the hash at the end of a line written before the log was keyed.
const HASH_FIELD: &[u8] = b",\"hash\":\"";
/// How a key change line names the previous log key (encrypted); only this field can hold
/// these bytes unescaped.
const REKEY_FIELD: &[u8] = b",\"rekey\":\"";
/// The label the log key is derived from the root key with.
const KEY_LABEL: &[u8] = b"coffer/audit-log/hmac-sha256/v1";
/// The associated data of a key change's encrypted key: its domain and seq.
const REKEY_AAD: &str = "coffer/audit-log/rekey/v1";
/// Longest line (without its `\n`) the writer produces and the readers accept. Entries are a
/// few hundred bytes and their fields are bounded; the cap keeps a damaged file from making a
/// reader buffer gigabytes.
pub const MAX_LINE: usize = 1 << 20;
/// Most entries written (and synced) together.
const MAX_BATCH: usize = 1024;
/// How much the backward readers read at a time.
const CHUNK: usize = 64 * 1024;
/// Space kept allocated past the end of the log: about 2,500 entries.
pub const RESERVE: u64 = 1 << 20;
/// On a full disk, the reserve left below which operations whose entry must be durable are
/// refused (see the module docs).
pub const RESERVE_MARGIN: u64 = 256 << 10;
/// How often a log that cannot write, or is short of space, tries again.
pub const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The key that authenticates the log's lines: HMAC-SHA256 under a key derived from the root
/// key. Held in memory only, with the HMAC state prepared once: the writer MACs every line,
/// and keying HMAC afresh for each was two of the eleven SHA-256 blocks of a typical line.
#[derive(Clone)]
pub struct LogKey(SecretKey, MacKey);

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogKey(..)")
    }
}

impl LogKey {
    /// The log key of a root key.
    pub fn from_root(root: &SecretKey) -> LogKey {
        LogKey::new(root.derive(KEY_LABEL))
    }

    fn new(key: SecretKey) -> LogKey {
        let mac = key.mac_key();
        LogKey(key, mac)
    }

    fn mac_hex(&self, body: &[u8]) -> String {
        lower_hex(&self.1.mac(&[body]))
    }

    /// Whether `tag` (64 hex digits) is the MAC of `body`, in constant time.
    fn verifies(&self, body: &[u8], tag: &[u8]) -> bool {
        match hex::decode(tag) {
            Ok(raw) => self.1.verify_mac(&[body], &raw),
            Err(_) => false,
        }
    }

    fn same(&self, other: &LogKey) -> bool {
        self.0.ct_eq(&other.0)
    }

    /// This key, encrypted under `next` for the key change line `seq`.
    fn sealed_under(&self, next: &LogKey, seq: u64) -> String {
        hex::encode(next.0.wrap(&rekey_aad(seq), &self.0))
    }

    /// The key a key change line `seq` carries, opened with the key that follows it.
    fn opened_from(blob: &str, next: &LogKey, seq: u64) -> Option<LogKey> {
        let raw = hex::decode(blob).ok()?;
        next.0
            .unwrap_key(&rekey_aad(seq), &raw)
            .ok()
            .map(LogKey::new)
    }
}

/// `bytes` as lowercase hex, as `hex::encode` writes it, a byte at a time: `hex::encode`
/// collects an iterator of chars, which cost about 1,500 instructions for every line's MAC.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

fn rekey_aad(seq: u64) -> Vec<u8> {
    let seq = seq.to_string();
    let mut out = Vec::with_capacity(REKEY_AAD.len() + seq.len() + 1);
    out.extend_from_slice(REKEY_AAD.as_bytes());
    out.push(0);
    out.extend_from_slice(seq.as_bytes());
    out
}

/// A point of the chain kept outside the log: a line's seq and MAC. A log that still holds
/// that line unchanged reaches the anchor; one cut short before it, or rewritten, does not.
/// Written and read as `SEQ:MAC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub mac: String,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.mac)
    }
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `SEQ:MAC` as [`Anchor`] prints it (surrounding whitespace ignored).
    fn from_str(s: &str) -> std::result::Result<Anchor, String> {
        let s = s.trim();
        let (seq, mac) = s.split_once(':').ok_or_else(|| {
            format!("an anchor is SEQ:MAC (as `coffer audit anchor` prints it), not {s:?}")
        })?;
        let seq: u64 = seq
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("the anchor's seq {seq:?} is not a line number"))?;
        let mac = mac.to_ascii_lowercase();
        if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("the anchor's MAC {mac:?} is not 64 hex digits"));
        }
        Ok(Anchor { seq, mac })
    }
}

/// The log as seen from its end: the last line's seq and MAC (or hash).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Chain {
    seq: u64,
    hash: String,
}

impl Chain {
    fn genesis() -> Self {
        Chain {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }

    fn anchor(&self) -> Option<Anchor> {
        (self.seq > 0).then(|| Anchor {
            seq: self.seq,
            mac: self.hash.clone(),
        })
    }
}

/// The MAC'd part of a line.
#[derive(Serialize)]
struct Head<'a> {
    seq: u64,
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rekey: Option<&'a str>,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

/// A line as read back; the MAC is checked on the raw bytes, not here.
#[derive(Deserialize)]
struct Stored {
    seq: u64,
    prev: String,
    #[serde(default)]
    rekey: Option<String>,
    #[serde(flatten)]
    _entry: AuditEntry,
}

/// An entry the log writes about itself (a key change, the start of keying).
fn own_entry(operation: &str) -> AuditEntry {
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    AuditEntry {
        time_ms,
        request_id: uuid::Uuid::new_v4().to_string(),
        account: None,
        access_key_id: None,
        dialect: "server".into(),
        operation: operation.into(),
        action: None,
        resource: None,
        source: "coffer".into(),
        status: 200,
        result: "OK".into(),
        latency_us: 0,
    }
}

/// Appends the line for `entry`, `\n` included, to `out` and returns its MAC. On error `out`
/// is left as it was.
fn format_line(
    seq: u64,
    prev: &str,
    rekey: Option<&str>,
    entry: &AuditEntry,
    key: &LogKey,
    out: &mut Vec<u8>,
) -> Result<String> {
    let start = out.len();
    let head = Head {
        seq,
        prev,
        rekey,
        entry,
    };
    if let Err(e) = serde_json::to_writer(&mut *out, &head) {
        out.truncate(start);
        return Err(Error::internal(format!(
            "audit log: serializing an entry: {e}"
        )));
    }
    // serde_json wrote one object; the MAC field goes before its closing brace.
    if out.pop() != Some(b'}') {
        out.truncate(start);
        return Err(Error::internal(
            "audit log: an entry did not serialize as an object",
        ));
    }
    let mac = key.mac_hex(&out[start..]);
    out.extend_from_slice(MAC_FIELD);
    out.extend_from_slice(mac.as_bytes());
    out.extend_from_slice(b"\"}\n");
    let len = out.len() - start - 1;
    if len > MAX_LINE {
        out.truncate(start);
        return Err(Error::internal(format!(
            "audit log: an entry's line would be {len} bytes, more than the limit of {MAX_LINE}"
        )));
    }
    Ok(mac)
}

/// Why one line (without its `\n`) is not a sound link.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    Invalid(String),
    /// The hash or MAC does not match the line's content.
    Hash,
}

/// How a line is authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// HMAC-SHA256 under the log key.
    Keyed,
    /// Plain SHA-256, from before the log was keyed.
    Legacy,
}

/// What a line says about itself. A legacy line's hash is checked already; a keyed line's MAC
/// needs the key ([`Link::mac_ok`]).
#[derive(Debug)]
struct Link {
    kind: Kind,
    seq: u64,
    prev: String,
    /// The line's MAC (or hash): 64 lowercase hex digits.
    hash: String,
    rekey: Option<String>,
    /// Length of the authenticated part of the line.
    body: usize,
}

impl Link {
    fn mac_ok(&self, line: &[u8], key: &LogKey) -> bool {
        key.verifies(&line[..self.body], self.hash.as_bytes())
    }
}

/// Checks one line's shape and reads it: the trailer says whether it is keyed, a legacy
/// line's SHA-256 is checked, and the line must hold an entry.
fn parse_line(line: &[u8]) -> Result<Link, Fault> {
    const END: usize = 64 + 2;
    let Some(tag_at) = line.len().checked_sub(END) else {
        return Err(Fault::Invalid("too short to hold an entry".into()));
    };
    if !line.ends_with(b"\"}") {
        return Err(Fault::Invalid("it does not end with the MAC field".into()));
    }
    let (kind, body) = if line[..tag_at].ends_with(MAC_FIELD) {
        (Kind::Keyed, tag_at - MAC_FIELD.len())
    } else if line[..tag_at].ends_with(HASH_FIELD) {
        (Kind::Legacy, tag_at - HASH_FIELD.len())
    } else {
        return Err(Fault::Invalid("it does not end with the MAC field".into()));
    };
    if body == 0 {
        return Err(Fault::Invalid("too short to hold an entry".into()));
    }
    let tag = &line[tag_at..tag_at + 64];
    if !tag.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Fault::Invalid(
            "the MAC is not 64 lowercase hex digits".into(),
        ));
    }
    if kind == Kind::Legacy && hex::encode(Sha256::digest(&line[..body])).as_bytes() != tag {
        return Err(Fault::Hash);
    }
    let stored: Stored = serde_json::from_slice(line).map_err(|e| Fault::Invalid(e.to_string()))?;
    if stored.rekey.is_some() && kind == Kind::Legacy {
        return Err(Fault::Invalid(
            "a key change in a line that is not keyed".into(),
        ));
    }
    Ok(Link {
        kind,
        seq: stored.seq,
        prev: stored.prev,
        // Checked above: ASCII hex.
        hash: String::from_utf8_lossy(tag).into_owned(),
        rekey: stored.rekey,
        body,
    })
}

/// What a file the writer can own must do; a trait so tests can make writes and syncs fail
/// or wait.
trait LogFile: Write + Send + 'static {
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Allocates `len` bytes from `offset` on without changing the file's size.
    fn reserve(&mut self, offset: u64, len: u64) -> io::Result<()>;
}

impl LogFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    #[cfg(target_os = "linux")]
    fn reserve(&mut self, offset: u64, len: u64) -> io::Result<()> {
        use rustix::fs::{fallocate, FallocateFlags};
        fallocate(&*self, FallocateFlags::KEEP_SIZE, offset, len).map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// One queued append; `reply` is there when the caller waits for durability.
struct Append {
    entry: AuditEntry,
    reply: Option<oneshot::Sender<Result<()>>>,
}

/// What the writer thread is asked to do. Appends are nearly every message and the large
/// variant; boxing them would cost an allocation per entry to save bytes on a rare rekey.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Append(Append),
    /// Write a key change line and MAC every later line under `key`; answered once durable.
    Rekey {
        key: LogKey,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Msg {
    fn fail(self, why: &str) {
        let err = || Error::internal(format!("audit log: {why}"));
        match self {
            // The caller may have gone away (cancelled future); nothing else to do.
            Msg::Append(Append {
                reply: Some(reply), ..
            })
            | Msg::Rekey { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Msg::Append(Append { entry, reply: None }) => tracing::error!(
                request_id = %entry.request_id,
                error = %why,
                "a non-durable audit entry was lost"
            ),
        }
    }
}

/// Where the writer stands: the end of the chain and the key of the next line.
struct State {
    chain: Chain,
    key: LogKey,
    /// The MAC (or hash) of the log's first line, once there is one.
    first: Option<String>,
    /// Bytes of the file up to the end of `chain`.
    end: u64,
    /// The last point known to be on disk, where a log that failed starts again.
    synced: Synced,
    /// End of the space allocated ahead (see [`RESERVE`]); at most `end` when none.
    reserved: u64,
    /// The filesystem can allocate ahead (until it says it cannot).
    can_reserve: bool,
    /// The last attempt to allocate ahead found the disk full.
    disk_full: bool,
}

/// A point of the file known to be on disk.
#[derive(Clone)]
struct Synced {
    chain: Chain,
    end: u64,
    first: Option<String>,
}

impl State {
    fn new(chain: Chain, key: LogKey, first: Option<String>, end: u64) -> State {
        State {
            synced: Synced {
                chain: chain.clone(),
                end,
                first: first.clone(),
            },
            chain,
            key,
            first,
            end,
            reserved: 0,
            can_reserve: true,
            disk_full: false,
        }
    }

    fn mark_synced(&mut self) {
        self.synced = Synced {
            chain: self.chain.clone(),
            end: self.end,
            first: self.first.clone(),
        };
    }
}

/// Whether the log takes entries, shared by the log and its writer thread. The server asks
/// before every operation whose entry must be durable, so the answer is one atomic load; the
/// reason (for the client: no path, no I/O detail) is read only when the log is down.
#[derive(Default)]
struct Health {
    down: AtomicBool,
    why: Mutex<Option<&'static str>>,
    /// Down for good (closed, or the writer ended): [`Health::restore`] leaves it down.
    ended: AtomicBool,
}

impl Health {
    /// Marks the log down until [`Health::restore`]; the first reason given stays.
    fn fail(&self, why: &'static str) {
        if let Ok(mut w) = self.why.lock() {
            w.get_or_insert(why);
        }
        self.down.store(true, Ordering::Release);
    }

    /// Marks the log down for good.
    fn end(&self, why: &'static str) {
        self.ended.store(true, Ordering::Release);
        if let Ok(mut w) = self.why.lock() {
            *w = Some(why);
        }
        self.down.store(true, Ordering::Release);
    }

    /// The log takes entries again (unless it ended).
    fn restore(&self) {
        if let Ok(mut w) = self.why.lock() {
            if self.ended.load(Ordering::Acquire) {
                return;
            }
            *w = None;
            self.down.store(false, Ordering::Release);
        }
    }

    fn check(&self) -> Result<()> {
        if !self.down.load(Ordering::Acquire) {
            return Ok(());
        }
        let why = self
            .why
            .lock()
            .ok()
            .and_then(|w| *w)
            .unwrap_or("it is down");
        Err(Error::Unavailable {
            reason: format!(
                "the audit log cannot record this operation ({why}), so it was not performed; \
                 retry later"
            ),
        })
    }
}

/// Marks the log down when the writer thread ends, however it ends (a panic included).
struct DownOnExit(Arc<Health>);

impl Drop for DownOnExit {
    fn drop(&mut self) {
        self.0.end("its writer stopped");
    }
}

/// How far the log is on disk: its first line's MAC (which names the log) and the last line
/// synced. What a node reports to the others (`coffer audit verify` checks the log still
/// reaches it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableHead {
    pub first: Option<String>,
    pub last: Option<Anchor>,
}

/// [`AuditSink`] on a keyed, chained file. See the module docs.
pub struct FileAuditLog {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<Chain>>>,
    health: Arc<Health>,
    head: Arc<Mutex<DurableHead>>,
}

impl FileAuditLog {
    /// Opens the log at `path`, creating it (mode 0600) when missing, and continues the chain
    /// from its last complete line under `key`, the log key of the root key in use.
    /// `previous` is the log key of the root key a rotation left unfinished is replacing: when
    /// the log's last line is under it, a key change line moves the log to `key` first.
    ///
    /// A final line without its `\n` is a write torn by a crash; it was never acknowledged
    /// and is cut off. A last line from before the log was keyed is sealed by a keyed line
    /// at once. A last complete line that is not a sound entry under one of the keys is an
    /// error: the log is damaged or belongs to another root key, and the operator runs
    /// [`verify`].
    pub fn open(path: &Path, key: LogKey, previous: Option<LogKey>) -> Result<FileAuditLog> {
        let io = |what: &str, e: io::Error| {
            Error::internal(format!("audit log {}: {what}: {e}", path.display()))
        };
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(|e| io("opening", e))?;
        // One writer per log: a second process appending to it would interleave two chains.
        // Nodes sharing a database each need a data dir (and audit log) of their own.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::internal(format!(
                    "audit log {} is in use by another coffer process; every node needs a \
                     data dir of its own (--data-dir), even when they share a database",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", e)),
        }
        let len = file
            .metadata()
            .map_err(|e| io("reading metadata", e))?
            .len();
        if len == 0 {
            // Possibly just created: make its directory entry durable too.
            sync_parent_dir(path).map_err(|e| io("syncing its directory", e))?;
        }
        let end = complete_end(&mut file, len).map_err(|e| io("reading its end", e))?;
        if end < len {
            tracing::warn!(
                path = %path.display(),
                bytes = len - end,
                "audit log: cutting off a torn final line (a write interrupted by a crash, never acknowledged)"
            );
            file.set_len(end)
                .and_then(|()| file.sync_data())
                .map_err(|e| io("cutting off a torn final line", e))?;
        }
        let last = lines_before(&mut file, end, 1).map_err(|e| io("reading its last line", e))?;
        let damaged = |why: String| {
            Error::internal(format!(
                "audit log {}: the last line is damaged ({why}); run `coffer audit verify` on it",
                path.display()
            ))
        };
        let first_hash =
            first_line_hash(&mut file, end).map_err(|e| io("reading its first line", e))?;
        let mut state = State::new(Chain::genesis(), key, first_hash, end);
        // A line to write before anything else: the start of keying, or a key change.
        let mut first: Option<(Option<String>, &str, LogKey)> = None;
        if let Some(line) = last.last() {
            let link = parse_line(line).map_err(|fault| match fault {
                Fault::Hash => damaged("its hash does not match its content".into()),
                Fault::Invalid(why) => damaged(why),
            })?;
            state.chain = Chain {
                seq: link.seq,
                hash: link.hash.clone(),
            };
            state.mark_synced();
            match link.kind {
                Kind::Legacy => {
                    tracing::warn!(
                        path = %path.display(),
                        lines = link.seq,
                        "audit log: written before lines were keyed; sealing it with a keyed line, and keying every line from now on"
                    );
                    first = Some((None, "AuditLogKeyed", state.key.clone()));
                }
                Kind::Keyed if link.mac_ok(line, &state.key) => {}
                Kind::Keyed => match previous.filter(|p| link.mac_ok(line, p)) {
                    Some(previous) => {
                        tracing::info!(
                            path = %path.display(),
                            "audit log: under the previous root key; moving it to the new one"
                        );
                        let sealed = previous.sealed_under(&state.key, link.seq + 1);
                        first = Some((Some(sealed), "AuditLogKeyChanged", previous));
                    }
                    None => {
                        return Err(Error::internal(format!(
                            "audit log {}: the last line's MAC does not match this root key: the \
                             log was written under another root key, or the line was edited; \
                             run `coffer audit verify` on it",
                            path.display()
                        )))
                    }
                },
            }
        }
        let mut head = DurableHead {
            first: state.first.clone(),
            last: state.chain.anchor(),
        };
        if let Some((rekey, operation, mac_key)) = first {
            let mut buf = Vec::new();
            let mac = format_line(
                state.chain.seq + 1,
                &state.chain.hash,
                rekey.as_deref(),
                &own_entry(operation),
                &mac_key,
                &mut buf,
            )?;
            file.write_all(&buf)
                .and_then(|()| file.sync_data())
                .map_err(|e| io("writing its first keyed line", e))?;
            state.chain = Chain {
                seq: state.chain.seq + 1,
                hash: mac,
            };
            state.end += buf.len() as u64;
            state.first.get_or_insert_with(|| state.chain.hash.clone());
            state.mark_synced();
            head.first.clone_from(&state.first);
            head.last = state.chain.anchor();
        }
        Self::start(path.to_path_buf(), file, state, head)
    }

    /// Starts the writer thread on `file`, whose last line and key are `state`.
    fn start(
        path: PathBuf,
        file: impl LogFile,
        state: State,
        head: DurableHead,
    ) -> Result<FileAuditLog> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let health = Arc::new(Health::default());
        let head = Arc::new(Mutex::new(head));
        let for_writer = health.clone();
        let head_for_writer = head.clone();
        let thread = std::thread::Builder::new()
            .name("coffer-audit-writer".into())
            .spawn(move || {
                let _down_on_exit = DownOnExit(for_writer.clone());
                writer_loop(file, rx, state, &for_writer, &head_for_writer)
            })
            .map_err(|e| Error::internal(format!("audit log: starting the writer thread: {e}")))?;
        Ok(FileAuditLog {
            path,
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            health,
            head,
        })
    }

    /// The log's first line's MAC and the last line known to be on disk (`None` parts while
    /// the log is empty).
    pub fn durable_head(&self) -> DurableHead {
        self.head.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Stops accepting appends, lets the thread write and sync everything already queued,
    /// and waits for it to finish. Returns the anchor of the last line written (`None` for an
    /// empty log, or when this was closed before). Idempotent; appends after it fail.
    pub async fn close(&self) -> Option<Anchor> {
        self.health.end("it is closed");
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        let thread = thread?;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(chain)) => chain.anchor(),
            Ok(Err(_)) => {
                tracing::error!("the audit writer thread panicked");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "waiting for the audit writer failed");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let guard = self
            .sender
            .lock()
            .map_err(|_| Error::internal("audit log: lock poisoned"))?;
        let sender = guard
            .as_ref()
            .ok_or_else(|| Error::internal("audit log: the log is closed"))?;
        // Counted before it is queued: the writer may take it (and count it out) at once.
        stats::AUDIT_QUEUE_DEPTH.inc();
        sender.send(msg).map_err(|_| {
            stats::AUDIT_QUEUE_DEPTH.dec();
            Error::internal("audit log: the writer stopped after a failed write")
        })
    }
}

#[async_trait]
impl AuditSink for FileAuditLog {
    async fn append(&self, entry: AuditEntry, durable: bool) -> Result<()> {
        // Bounded here, the one place every entry passes: whatever a request sent, its
        // entry fits in a line.
        let entry = entry.bounded();
        let (reply, answer) = if durable {
            let (reply, answer) = oneshot::channel();
            (Some(reply), Some(answer))
        } else {
            (None, None)
        };
        self.send(Msg::Append(Append { entry, reply }))?;
        match answer {
            None => Ok(()),
            Some(answer) => answer
                .await
                .map_err(|_| Error::internal("audit log: the append was dropped unanswered"))?,
        }
    }

    /// The last `n` complete lines in the file (see [`tail`]); entries still queued are not
    /// among them.
    async fn tail(&self, n: usize) -> Result<Vec<String>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || tail(&path, n))
            .await
            .map_err(|e| Error::internal(format!("audit log: tail: {e}")))?
    }

    async fn entries_before(&self, before: Option<u64>, n: usize) -> Result<Vec<(u64, String)>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || entries_before(&path, before, n))
            .await
            .map_err(|e| Error::internal(format!("audit log: read back: {e}")))?
    }

    fn health(&self) -> Result<()> {
        self.health.check()
    }

    async fn root_key_changed(&self, new_root: &SecretKey) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Rekey {
            key: LogKey::from_root(new_root),
            reply,
        })?;
        answer
            .await
            .map_err(|_| Error::internal("audit log: the key change was dropped unanswered"))?
    }
}

fn writer_loop(
    mut file: impl LogFile,
    rx: mpsc::Receiver<Msg>,
    mut state: State,
    health: &Health,
    head: &Mutex<DurableHead>,
) -> Chain {
    let mut buf: Vec<u8> = Vec::new();
    // Lines written since the last sync.
    let mut unsynced = false;
    top_up(&mut file, &mut state, health);
    loop {
        // A log short of space looks again every RETRY for space that came back, requests
        // or not.
        let first = if state.disk_full {
            match rx.recv_timeout(RETRY) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    top_up(&mut file, &mut state, health);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(msg) => msg,
                Err(_) => break,
            }
        };
        let mut batch = vec![first];
        fill_batch(&rx, &mut batch, MAX_BATCH);
        stats::AUDIT_QUEUE_DEPTH.dec_by(batch.len() as i64);
        stats::AUDIT_BATCH_ENTRIES.observe(batch.len() as f64);
        match write_batch(
            &mut file,
            &mut state,
            batch,
            &mut buf,
            &mut unsynced,
            health,
        ) {
            Ok(()) => {
                if !unsynced {
                    note_durable(head, &state);
                }
                top_up(&mut file, &mut state, health);
            }
            Err(lost) => {
                // Part of the batch may be in the file: where the chain stands is unknown
                // until the file is cut back to its last synced line.
                if !recover(&mut file, &mut state, &rx, health, lost) {
                    return state.chain;
                }
                unsynced = false;
                note_durable(head, &state);
                top_up(&mut file, &mut state, health);
            }
        }
    }
    // Every sender is gone and the queue is empty: closed. Non-durable lines still need a sync.
    if unsynced {
        match file.sync() {
            Ok(()) => note_durable(head, &state),
            Err(e) => tracing::error!(error = %e, "audit log: the final sync at close failed"),
        }
    }
    state.chain
}

/// Keeps [`RESERVE`] bytes allocated past the end of the log, and reports the log unhealthy
/// while the disk is full and less than [`RESERVE_MARGIN`] of it is left (healthy again once
/// space comes back).
fn top_up(file: &mut impl LogFile, state: &mut State, health: &Health) {
    if !state.can_reserve || state.reserved >= state.end + RESERVE / 2 {
        return;
    }
    match file.reserve(state.end, RESERVE) {
        Ok(()) => {
            state.reserved = state.end + RESERVE;
            if state.disk_full {
                state.disk_full = false;
                tracing::info!("audit log: there is space on its disk again");
                health.restore();
            }
        }
        Err(e) if e.kind() == io::ErrorKind::StorageFull => {
            let left = state.reserved.saturating_sub(state.end);
            if !state.disk_full {
                state.disk_full = true;
                tracing::error!(
                    reserve_left = left,
                    "audit log: its disk is full; entries go into the space reserved ahead until space returns"
                );
            }
            if left < RESERVE_MARGIN {
                health.fail("the disk holding it is full");
            }
        }
        Err(e) => {
            state.can_reserve = false;
            tracing::warn!(
                error = %e,
                "audit log: this filesystem cannot reserve space ahead; a full disk stops the log at its first failed write"
            );
        }
    }
}

/// The log after a failed write: it is down (`health` says so) and its file's end is unknown.
/// Until it can write again every append fails, and every [`RETRY`] it tries [`resume`].
/// Returns `false` when the log was closed meanwhile. `lost` counts the entries refused or
/// cut off; the line that resumes the log records it.
fn recover(
    file: &mut impl LogFile,
    state: &mut State,
    rx: &mpsc::Receiver<Msg>,
    health: &Health,
    mut lost: u64,
) -> bool {
    let why = "it cannot write to its disk; the entry was not recorded";
    // Lines written since the last sync are perhaps on disk, perhaps not: they are cut off,
    // and the chain goes on from the last synced line.
    lost += state.chain.seq.saturating_sub(state.synced.chain.seq);
    state.chain = state.synced.chain.clone();
    state.end = state.synced.end;
    state.first = state.synced.first.clone();
    let mut next_try = std::time::Instant::now() + RETRY;
    loop {
        let wait = next_try.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(wait) {
            Ok(msg) => {
                stats::AUDIT_QUEUE_DEPTH.dec();
                lost += 1;
                msg.fail(why);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
        match resume(file, state, lost) {
            Ok(()) => {
                tracing::warn!(
                    lost_entries = lost,
                    seq = state.chain.seq,
                    "audit log: writing again; the line AuditLogResumed records how many entries were lost"
                );
                health.restore();
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit log: still cannot write; retrying");
                next_try = std::time::Instant::now() + RETRY;
            }
        }
    }
}

/// Cuts the file back to the end of `state` (its last synced line), syncs, and appends (and
/// syncs) the line `AuditLogResumed` with `lost` in its `resource`. On error `state` is as it
/// was, and the next attempt cuts again whatever part of the line reached the file.
fn resume(file: &mut impl LogFile, state: &mut State, lost: u64) -> io::Result<()> {
    // Cutting the file frees what was reserved past its end too.
    state.reserved = 0;
    file.truncate(state.end)?;
    file.sync()?;
    let mut entry = own_entry("AuditLogResumed");
    entry.resource = Some(format!("lost-entries:{lost}"));
    let mut buf = Vec::new();
    let mac = format_line(
        state.chain.seq + 1,
        &state.chain.hash,
        None,
        &entry,
        &state.key,
        &mut buf,
    )
    .map_err(io::Error::other)?;
    file.write_all(&buf)?;
    file.flush()?;
    file.sync()?;
    state.chain = Chain {
        seq: state.chain.seq + 1,
        hash: mac,
    };
    state.end += buf.len() as u64;
    if state.chain.seq == 1 {
        state.first = Some(state.chain.hash.clone());
    }
    state.mark_synced();
    Ok(())
}

/// Every line up to the end of `state`'s chain is on disk.
fn note_durable(head: &Mutex<DurableHead>, state: &State) {
    if let Ok(mut h) = head.lock() {
        if h.first.is_none() {
            h.first.clone_from(&state.first);
        }
        h.last = state.chain.anchor();
    }
}

/// Formats, chains and writes one batch, syncs it if any line is durable, and answers the
/// durable callers. `Err`: the write or sync failed, `health` says so, every waiting caller
/// of the batch was told, `state` is as before the batch, and the error holds how many
/// entries the batch had.
fn write_batch(
    file: &mut impl LogFile,
    state: &mut State,
    batch: Vec<Msg>,
    buf: &mut Vec<u8>,
    unsynced: &mut bool,
    health: &Health,
) -> Result<(), u64> {
    buf.clear();
    let mut next = state.chain.clone();
    let mut key = state.key.clone();
    let mut first = state.first.clone();
    let mut waiters = Vec::new();
    let mut lost = 0usize;
    for msg in batch {
        let (rekey, entry, reply, next_key) = match msg {
            Msg::Append(Append { entry, reply }) => (None, entry, reply, None),
            Msg::Rekey { key: new, reply } => {
                if new.same(&key) {
                    // Already under this key (a resumed rotation): nothing to record.
                    let _ = reply.send(Ok(()));
                    continue;
                }
                let sealed = key.sealed_under(&new, next.seq + 1);
                (
                    Some(sealed),
                    own_entry("AuditLogKeyChanged"),
                    Some(reply),
                    Some(new),
                )
            }
        };
        match format_line(
            next.seq + 1,
            &next.hash,
            rekey.as_deref(),
            &entry,
            &key,
            buf,
        ) {
            Ok(hash) => {
                if next.seq == 0 {
                    first.get_or_insert_with(|| hash.clone());
                }
                next = Chain {
                    seq: next.seq + 1,
                    hash,
                };
                if let Some(new) = next_key {
                    key = new;
                }
            }
            // This entry alone is refused; the chain goes on without it. With bounded
            // fields this does not happen; the check stays as a last guard.
            Err(e) => {
                tracing::error!(request_id = %entry.request_id, error = %e, "audit entry refused");
                match reply {
                    Some(reply) => {
                        let _ = reply.send(Err(e));
                    }
                    None => tracing::error!(
                        request_id = %entry.request_id,
                        "a non-durable audit entry was lost"
                    ),
                }
                continue;
            }
        }
        match reply {
            Some(reply) => waiters.push(reply),
            None => lost += 1,
        }
    }
    if buf.is_empty() {
        return Ok(());
    }
    let durable = !waiters.is_empty();
    let outcome = match file.write_all(buf).and_then(|()| file.flush()) {
        Err(e) => Err(format!("writing {} bytes: {e}", buf.len())),
        Ok(()) if durable => {
            let started = std::time::Instant::now();
            let synced = file.sync().map_err(|e| format!("syncing: {e}"));
            stats::AUDIT_SYNC_SECONDS.observe(started.elapsed().as_secs_f64());
            synced
        }
        Ok(()) => Ok(()),
    };
    match outcome {
        Ok(()) => {
            state.chain = next;
            state.key = key;
            state.first = first;
            state.end += buf.len() as u64;
            if durable {
                state.mark_synced();
            }
            *unsynced = !durable;
            for reply in waiters {
                // The caller may have gone away (cancelled future); the entry stands regardless.
                let _ = reply.send(Ok(()));
            }
            Ok(())
        }
        Err(why) => {
            tracing::error!(
                error = %why,
                durable = waiters.len(),
                non_durable = lost,
                "audit log write failed; it takes no appends until it can write again"
            );
            // Recorded before any caller hears of the failure: a caller told "not recorded"
            // must find the log unhealthy when it sends its next request.
            health.fail("a write to it failed");
            let entries = (waiters.len() + lost) as u64;
            for reply in waiters {
                let _ = reply.send(Err(Error::internal(format!("audit log: {why}"))));
            }
            Err(entries)
        }
    }
}

#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// The offset just past the last `\n` among the first `len` bytes of `file` (0 when there is
/// none). Reads backwards, one chunk at a time.
fn complete_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut pos = len;
    let mut chunk = vec![0u8; CHUNK];
    while pos > 0 {
        let n = (CHUNK as u64).min(pos) as usize;
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

/// The last `n` lines, without their `\n`, oldest first, of the first `end` bytes of `file`,
/// which end with a `\n` (or `end` is 0). Reads backwards only as far as needed.
fn lines_before(file: &mut File, end: u64, n: usize) -> io::Result<Vec<Vec<u8>>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    let limit = n.saturating_mul(MAX_LINE + 1).saturating_add(CHUNK);
    // file[pos..end], and how many `\n` it holds. With more than `n`, the bytes after the
    // first `\n` are at least `n` whole lines.
    let mut pos = end;
    let mut data: Vec<u8> = Vec::new();
    let mut newlines = 0usize;
    while pos > 0 && newlines <= n {
        if data.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line is longer than {MAX_LINE} bytes"),
            ));
        }
        let take = (CHUNK as u64).min(pos) as usize;
        pos -= take as u64;
        let mut chunk = vec![0u8; take];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|&&b| b == b'\n').count();
        chunk.extend_from_slice(&data);
        data = chunk;
    }
    let body = data.strip_suffix(b"\n").unwrap_or(&data);
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if pos > 0 {
        // Possibly the end of a longer line; the lines wanted are all after it.
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| l.to_vec()).collect())
}

/// The MAC (or hash) of the first line among the first `end` bytes of `file`, if there is a
/// whole line. Its shape is checked; whether it verifies is `verify`'s business.
fn first_line_hash(file: &mut File, end: u64) -> io::Result<Option<String>> {
    if end == 0 {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file).take(MAX_LINE as u64 + 1);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Ok(None);
    }
    Ok(parse_line(&line).ok().map(|link| link.hash))
}

/// The MAC of the first line of the log at `path`, which names the log among a cluster's
/// (`None` for an empty log or one whose first line is damaged).
pub fn first_line_mac(path: &Path) -> Result<Option<String>> {
    let io = |e: io::Error| Error::internal(format!("audit log {}: {e}", path.display()));
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    first_line_hash(&mut file, len).map_err(io)
}

/// The last `n` complete lines of the log at `path` (raw text without the `\n`, oldest
/// first), read from the end of the file without loading all of it. A torn final line is not
/// among them.
pub fn tail(path: &Path, n: usize) -> Result<Vec<String>> {
    let io = |e: io::Error| Error::internal(format!("audit log {}: tail: {e}", path.display()));
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let end = complete_end(&mut file, len).map_err(io)?;
    let lines = lines_before(&mut file, end, n).map_err(io)?;
    Ok(lines
        .into_iter()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect())
}

/// Up to `n` complete lines of the log at `path` that end at or before byte `before` (`None`:
/// the end of its complete lines), oldest first, each with the offset it starts at. `before`
/// must be 0, the log's end or the start of a line (an offset an earlier call returned); any
/// other offset is refused rather than read from the middle of a line.
pub fn entries_before(path: &Path, before: Option<u64>, n: usize) -> Result<Vec<(u64, String)>> {
    let io =
        |e: io::Error| Error::internal(format!("audit log {}: read back: {e}", path.display()));
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let end = complete_end(&mut file, len).map_err(io)?;
    let end = match before {
        None => end,
        Some(b) if b > end => {
            return Err(Error::InvalidParameter {
                field: "before".into(),
                reason: "the position is past the end of the audit log".into(),
            })
        }
        Some(0) => 0,
        Some(b) => {
            let mut prev = [0u8; 1];
            file.seek(SeekFrom::Start(b - 1)).map_err(io)?;
            file.read_exact(&mut prev).map_err(io)?;
            if prev[0] != b'\n' {
                return Err(Error::InvalidParameter {
                    field: "before".into(),
                    reason: "the position is not the start of an audit entry".into(),
                });
            }
            b
        }
    };
    let lines = lines_before(&mut file, end, n).map_err(io)?;
    let mut start = end - lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
    Ok(lines
        .into_iter()
        .map(|l| {
            let at = start;
            start += l.len() as u64 + 1;
            (at, String::from_utf8_lossy(&l).into_owned())
        })
        .collect())
}

/// An intact log, as [`verify`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines (entries) in the log.
    pub entries: u64,
    /// The last line's MAC; 64 zeros for an empty log. Recording it elsewhere (with
    /// [`VerifyReport::anchor`]) lets a later check notice a log cut short.
    pub last_hash: String,
    /// Lines at the start that were written before the log was keyed (covered by the MAC of
    /// the first keyed line after them).
    pub unkeyed: u64,
    /// Key change lines (root key rotations).
    pub key_changes: u64,
    /// Whether the log reaches the anchor it was checked against (`false` when none was
    /// given).
    pub anchored: bool,
}

impl VerifyReport {
    /// The anchor of the last line, to keep outside the log; `None` for an empty log.
    pub fn anchor(&self) -> Option<Anchor> {
        (self.entries > 0).then(|| Anchor {
            seq: self.entries,
            mac: self.last_hash.clone(),
        })
    }
}

/// Where and how a log's chain is broken. Lines count from 1.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("line {line}: hash does not match its content")]
    Hash { line: u64 },
    #[error("line {line}: prev does not match {}", previous_hash(.line))]
    Prev { line: u64 },
    #[error("line {line}: seq is {found}, expected {expected}")]
    Seq {
        line: u64,
        found: u64,
        expected: u64,
    },
    #[error("line {line}: not a valid entry ({reason})")]
    Invalid { line: u64, reason: String },
    #[error("line {line}: missing final newline")]
    MissingNewline { line: u64 },
    /// A line authenticated by plain SHA-256 after keyed lines: anyone can compute that, so
    /// the line was rewritten by someone without the key.
    #[error(
        "line {line}: not keyed (a plain SHA-256 hash after keyed lines): rewritten by someone \
         without the key"
    )]
    NotKeyed { line: u64 },
    /// No line is keyed: written before coffer keyed its audit log and never opened by a
    /// server since, or rewritten wholesale by someone without the key.
    #[error(
        "none of the {lines} lines is keyed: the log was written by a coffer that did not key \
         its audit log and no server has opened it since (start the server on this data dir \
         once to seal it), or it was rewritten by someone without the key"
    )]
    NoKeyedLine { lines: u64 },
    /// The log key of a line could not be recovered: the key change line that carries it does
    /// not open with the root key given.
    #[error(
        "line {line}: its key cannot be recovered: the key change at line {change} does not \
         open with this root key (another root key's log, or the line was edited)"
    )]
    Rekey { line: u64, change: u64 },
    #[error(
        "the log ends at line {entries}, before the anchor at line {seq}: lines were cut off \
         its end"
    )]
    AnchorBeyondEnd { seq: u64, entries: u64 },
    #[error(
        "line {seq}: its MAC is not the anchor's: the log was rewritten from this line or \
         earlier"
    )]
    AnchorMismatch { seq: u64 },
    #[error("reading the audit log: {0}")]
    Io(#[from] io::Error),
}

fn previous_hash(line: &u64) -> String {
    match line {
        1 => "the start of the chain (64 zeros)".to_string(),
        n => format!("the hash of line {}", n - 1),
    }
}

impl VerifyError {
    /// The line the chain breaks at; `None` for an I/O error and a log with no keyed line.
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::Hash { line }
            | VerifyError::Prev { line }
            | VerifyError::Seq { line, .. }
            | VerifyError::Invalid { line, .. }
            | VerifyError::MissingNewline { line }
            | VerifyError::NotKeyed { line }
            | VerifyError::Rekey { line, .. } => Some(*line),
            VerifyError::AnchorBeyondEnd { seq, .. } | VerifyError::AnchorMismatch { seq } => {
                Some(*seq)
            }
            VerifyError::NoKeyedLine { .. } | VerifyError::Io(_) => None,
        }
    }
}

/// Reads the log at `path` line by line (each without its `\n`), calling `each` with the line
/// number; stops at the first error. A last line without `\n`, or one longer than
/// [`MAX_LINE`], is an error.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), VerifyError>,
) -> Result<u64, VerifyError> {
    let mut reader = BufReader::with_capacity(CHUNK, File::open(path)?);
    let mut buf: Vec<u8> = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(line);
        }
        line += 1;
        if buf.pop() != Some(b'\n') {
            if buf.len() >= MAX_LINE {
                return Err(VerifyError::Invalid {
                    line,
                    reason: format!("longer than {MAX_LINE} bytes"),
                });
            }
            return Err(VerifyError::MissingNewline { line });
        }
        each(line, &buf)?;
    }
}

/// The encrypted previous key of a key change line, found without parsing the line: the
/// field's opening bytes cannot occur unescaped anywhere else in a line.
fn rekey_blob(line: &[u8]) -> Option<String> {
    let at = line
        .windows(REKEY_FIELD.len())
        .position(|w| w == REKEY_FIELD)?
        + REKEY_FIELD.len();
    let len = line[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&line[at..at + len]).into_owned())
}

/// Checks the whole log at `path` under the log key of the root key in use: every line sound,
/// authenticated, numbered in order and naming its predecessor's MAC, the last one ending with
/// `\n`. Streams the file (twice: once for the key changes, once to check).
pub fn verify(path: &Path, key: &LogKey) -> Result<VerifyReport, VerifyError> {
    verify_with(path, std::slice::from_ref(key), None)
}

/// [`verify`], trying each of `keys` (the root key, and the one of a rotation left unfinished)
/// and, with `anchor`, also checking that the log still holds the anchor's line unchanged. When
/// no key verifies, the error is the one found farthest into the log.
pub fn verify_with(
    path: &Path,
    keys: &[LogKey],
    anchor: Option<&Anchor>,
) -> Result<VerifyReport, VerifyError> {
    let mut worst: Option<VerifyError> = None;
    for key in keys {
        match verify_one(path, key, anchor) {
            Ok(report) => return Ok(report),
            Err(e @ VerifyError::Io(_)) => return Err(e),
            Err(e) => {
                if worst.as_ref().is_none_or(|w| e.line() > w.line()) {
                    worst = Some(e);
                }
            }
        }
    }
    Err(worst.unwrap_or_else(|| VerifyError::Io(io::Error::other("no key to verify with"))))
}

fn verify_one(
    path: &Path,
    key: &LogKey,
    anchor: Option<&Anchor>,
) -> Result<VerifyReport, VerifyError> {
    // Pass 1: the key changes, newest last.
    let mut changes: Vec<(u64, String)> = Vec::new();
    for_each_line(path, |line, bytes| {
        if let Some(blob) = rekey_blob(bytes) {
            changes.push((line, blob));
        }
        Ok(())
    })?;
    // The key of each segment, from the newest back: the key given MACs the last segment, and
    // each key change holds the key of the segment it ends, sealed under the next one. `None`
    // from a change that does not open on.
    let mut keys: Vec<Option<LogKey>> = vec![Some(key.clone())];
    let mut failed_at: Option<u64> = None;
    for (seq, blob) in changes.iter().rev() {
        let older = keys
            .last()
            .and_then(|k| k.as_ref())
            .and_then(|next| LogKey::opened_from(blob, next, *seq));
        if older.is_none() && failed_at.is_none() {
            failed_at = Some(*seq);
        }
        keys.push(older);
    }
    keys.reverse();

    // Pass 2: every line in order.
    let mut chain = Chain::genesis();
    let mut segment = 0usize;
    let mut keyed = false;
    let mut unkeyed = 0u64;
    let mut anchored = false;
    let entries = for_each_line(path, |line, bytes| {
        let link = parse_line(bytes).map_err(|fault| match fault {
            Fault::Hash => VerifyError::Hash { line },
            Fault::Invalid(reason) => VerifyError::Invalid { line, reason },
        })?;
        match link.kind {
            Kind::Legacy if keyed => return Err(VerifyError::NotKeyed { line }),
            Kind::Legacy => unkeyed += 1,
            Kind::Keyed => {
                keyed = true;
                let Some(Some(key)) = keys.get(segment) else {
                    return Err(VerifyError::Rekey {
                        line,
                        change: failed_at.unwrap_or(line),
                    });
                };
                if !link.mac_ok(bytes, key) {
                    return Err(VerifyError::Hash { line });
                }
            }
        }
        if link.seq != line {
            return Err(VerifyError::Seq {
                line,
                found: link.seq,
                expected: line,
            });
        }
        if link.prev != chain.hash {
            return Err(VerifyError::Prev { line });
        }
        if link.rekey.is_some() {
            segment += 1;
        }
        if let Some(a) = anchor.filter(|a| a.seq == line) {
            if a.mac != link.hash {
                return Err(VerifyError::AnchorMismatch { seq: line });
            }
            anchored = true;
        }
        chain = Chain {
            seq: line,
            hash: link.hash,
        };
        Ok(())
    })?;
    if entries > 0 && !keyed {
        return Err(VerifyError::NoKeyedLine { lines: entries });
    }
    if let Some(a) = anchor.filter(|_| !anchored) {
        return Err(VerifyError::AnchorBeyondEnd {
            seq: a.seq,
            entries,
        });
    }
    Ok(VerifyReport {
        entries,
        last_hash: chain.hash,
        unkeyed,
        key_changes: changes.len() as u64,
        anchored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn key() -> LogKey {
        LogKey::from_root(&SecretKey::from_slice(&[9u8; 32]).expect("key"))
    }

    #[test]
    fn macs_are_written_as_hex_encode_writes_them() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&all), hex::encode(&all));
        assert_eq!(lower_hex(&[]), "");
        let k = key();
        let mac = k.mac_hex(b"a line");
        assert_eq!(mac, hex::encode(k.1.mac(&[b"a line"])));
        assert!(k.verifies(b"a line", mac.as_bytes()));
    }

    fn entry(i: u64) -> AuditEntry {
        AuditEntry {
            time_ms: 1_700_000_000_000 + i as i64,
            request_id: format!("req-{i:04}"),
            account: Some(7),
            access_key_id: Some("AKID".into()),
            dialect: "alibaba".into(),
            operation: "GetSecretValue".into(),
            action: Some("secrets:GetValue".into()),
            resource: None,
            source: "127.0.0.1:5000".into(),
            status: 200,
            result: "OK".into(),
            latency_us: 42,
        }
    }

    #[test]
    fn a_formatted_line_checks_and_its_mac_covers_the_bytes_before_it() {
        let mut out = Vec::new();
        let h1 = format_line(1, GENESIS, None, &entry(1), &key(), &mut out).expect("line 1");
        let first_len = out.len();
        let h2 = format_line(2, &h1, None, &entry(2), &key(), &mut out).expect("line 2");
        let text = String::from_utf8(out.clone()).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(first_len, lines[0].len() + 1);
        let cut = lines[1].rfind(",\"mac\":\"").expect("mac field");
        assert_eq!(key().mac_hex(&lines[1].as_bytes()[..cut]), h2);
        let link = parse_line(lines[1].as_bytes()).expect("sound");
        assert!(link.mac_ok(lines[1].as_bytes(), &key()));
        let other = LogKey::from_root(&SecretKey::from_slice(&[8u8; 32]).expect("key"));
        assert!(!link.mac_ok(lines[1].as_bytes(), &other));
        assert_eq!(
            (link.kind, link.seq, link.prev, link.hash),
            (Kind::Keyed, 2, h1, h2)
        );
        assert!(lines[0].starts_with(&format!("{{\"seq\":1,\"prev\":\"{GENESIS}\",\"time_ms\":")));

        let mut edited = lines[1].as_bytes().to_vec();
        // The entry's last digit (latency_us), so the JSON stays valid.
        edited[cut - 1] ^= 1;
        let link = parse_line(&edited).expect("still parses");
        assert!(!link.mac_ok(&edited, &key()));
        assert!(matches!(parse_line(b"{}"), Err(Fault::Invalid(_))));
        assert!(matches!(parse_line(&[b'x'; 200]), Err(Fault::Invalid(_))));
    }

    #[test]
    fn a_key_change_carries_the_old_key_sealed_under_the_new_one() {
        let old = key();
        let new = LogKey::from_root(&SecretKey::from_slice(&[8u8; 32]).expect("key"));
        let blob = old.sealed_under(&new, 5);
        assert!(LogKey::opened_from(&blob, &new, 5).is_some_and(|k| k.same(&old)));
        assert!(
            LogKey::opened_from(&blob, &new, 6).is_none(),
            "bound to its seq"
        );
        assert!(LogKey::opened_from(&blob, &old, 5).is_none());
        let mut out = Vec::new();
        format_line(5, GENESIS, Some(&blob), &entry(5), &old, &mut out).expect("line");
        let line = &out[..out.len() - 1];
        assert_eq!(rekey_blob(line), Some(blob.clone()));
        let link = parse_line(line).expect("sound");
        assert_eq!(link.rekey, Some(blob));
        assert_eq!(
            rekey_blob(b"{\"seq\":1,\"operation\":\"x\\\",\\\"rekey\\\":\\\"\"}"),
            None
        );
    }

    #[test]
    fn anchors_read_and_print_as_seq_colon_mac() {
        let mac = "ab".repeat(32);
        let a: Anchor = format!(" 12:{} \n", mac.to_uppercase())
            .parse()
            .expect("anchor");
        assert_eq!(
            a,
            Anchor {
                seq: 12,
                mac: mac.clone()
            }
        );
        assert_eq!(a.to_string(), format!("12:{mac}"));
        for bad in [
            "",
            "12",
            &mac,
            &format!("0:{mac}"),
            &format!("x:{mac}"),
            "3:abc",
        ] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad:?}");
        }
    }

    /// A file whose writes and syncs the test controls.
    #[derive(Clone)]
    struct Fake {
        data: Arc<Mutex<Vec<u8>>>,
        syncs: Arc<AtomicUsize>,
        fail_write: Arc<AtomicBool>,
        fail_sync: Arc<AtomicBool>,
        /// Allocating ahead fails with "no space".
        full: Arc<AtomicBool>,
        /// End of the space allocated ahead.
        reserved: Arc<std::sync::atomic::AtomicU64>,
        /// Each sync waits for a token (or for the sender to go).
        gate: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Fake {
        fn new() -> (Fake, mpsc::Sender<()>) {
            let (tx, rx) = mpsc::channel();
            let fake = Fake {
                data: Arc::default(),
                syncs: Arc::default(),
                fail_write: Arc::default(),
                fail_sync: Arc::default(),
                full: Arc::default(),
                reserved: Arc::default(),
                gate: Arc::new(Mutex::new(rx)),
            };
            (fake, tx)
        }
        fn lines(&self) -> usize {
            let data = self.data.lock().expect("lock");
            data.iter().filter(|&&b| b == b'\n').count()
        }
    }

    impl Write for Fake {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.fail_write.load(Ordering::SeqCst) {
                return Err(io::Error::other("disk on fire"));
            }
            self.data.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl LogFile for Fake {
        fn sync(&mut self) -> io::Result<()> {
            let _ = self.gate.lock().expect("lock").recv();
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(io::Error::other("disk on fire"));
            }
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            if self.fail_write.load(Ordering::SeqCst) {
                return Err(io::Error::other("disk on fire"));
            }
            self.data.lock().expect("lock").truncate(len as usize);
            Ok(())
        }

        fn reserve(&mut self, offset: u64, len: u64) -> io::Result<()> {
            if self.full.load(Ordering::SeqCst) {
                return Err(io::ErrorKind::StorageFull.into());
            }
            self.reserved.fetch_max(offset + len, Ordering::SeqCst);
            Ok(())
        }
    }

    fn genesis() -> State {
        State::new(Chain::genesis(), key(), None, 0)
    }

    fn start(fake: &Fake) -> Arc<FileAuditLog> {
        let log = FileAuditLog::start(
            "fake".into(),
            fake.clone(),
            genesis(),
            DurableHead::default(),
        );
        Arc::new(log.expect("start"))
    }

    async fn wait_for(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_appends_wait_for_the_sync_and_others_do_not() {
        let (fake, gate) = Fake::new();
        let log = start(&fake);
        let l = log.clone();
        let durable = tokio::spawn(async move { l.append(entry(1), true).await });
        wait_for("the durable line", || fake.lines() == 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!durable.is_finished(), "answered before the sync");
        // The writer is stuck in the sync; a non-durable append still returns at once.
        tokio::time::timeout(Duration::from_secs(5), log.append(entry(2), false))
            .await
            .expect("a non-durable append waited")
            .expect("append");
        gate.send(()).expect("gate");
        durable.await.expect("task").expect("durable append");
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 1);
        // Entry 2 is written unsynced; close syncs it.
        wait_for("the second line", || fake.lines() == 2).await;
        drop(gate);
        assert!(log.health().is_ok());
        log.close().await;
        assert!(matches!(log.health(), Err(Error::Unavailable { .. })));
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 2);
        assert!(log.append(entry(3), false).await.is_err());
        assert!(log.append(entry(3), true).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn non_durable_batches_are_not_synced_until_a_durable_one() {
        let (fake, gate) = Fake::new();
        drop(gate);
        let log = start(&fake);
        for i in 1..=3 {
            log.append(entry(i), false).await.expect("append");
        }
        wait_for("three lines", || fake.lines() == 3).await;
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 0);
        log.append(entry(4), true).await.expect("append");
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 1);
        log.close().await;
        // Nothing was left unsynced, so close did not sync again.
        assert_eq!(fake.syncs.load(Ordering::SeqCst), 1);
        assert_eq!(fake.lines(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_stops_the_log_until_it_can_write_again() {
        let (fake, gate) = Fake::new();
        drop(gate);
        let log = start(&fake);
        log.append(entry(1), true).await.expect("append");
        // Written, not synced.
        log.append(entry(2), false).await.expect("append");
        wait_for("two lines", || fake.lines() == 2).await;
        assert!(log.health().is_ok());
        fake.fail_write.store(true, Ordering::SeqCst);
        let failed = log.append(entry(3), true).await;
        assert!(
            matches!(&failed, Err(Error::Internal(m)) if m.contains("disk on fire")),
            "{failed:?}"
        );
        // The server asks this before every operation that needs the log: it says why not.
        let health = log.health();
        assert!(
            matches!(&health, Err(Error::Unavailable { reason }) if reason.contains("a write to it failed")),
            "{health:?}"
        );
        // While the disk fails, appends fail (a non-durable one is lost once it is taken).
        assert!(log.append(entry(4), true).await.is_err());
        log.append(entry(5), false).await.expect("queued");
        let root = SecretKey::from_slice(&[5u8; 32]).expect("key");
        assert!(log.root_key_changed(&root).await.is_err());
        tokio::time::sleep(RETRY + Duration::from_millis(300)).await;
        assert!(log.health().is_err(), "healthy while the disk still fails");
        fake.fail_write.store(false, Ordering::SeqCst);
        wait_for("the log to write again", || log.health().is_ok()).await;
        // Line 2 was never synced: cut off. Then the line that says what was lost: entry 2,
        // the failed batch (3), the refused appends (4, 5) and the key change.
        let text = String::from_utf8(fake.data.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains(&entry(1).request_id));
        assert!(
            lines[1].contains("\"operation\":\"AuditLogResumed\"")
                && lines[1].contains("\"resource\":\"lost-entries:5\""),
            "{}",
            lines[1]
        );
        log.append(entry(6), true)
            .await
            .expect("append once resumed");
        assert_eq!(log.close().await.map(|a| a.seq), Some(3));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        std::fs::write(&path, &*fake.data.lock().expect("lock")).expect("write");
        let report = verify(&path, &key()).expect("the resumed chain verifies");
        assert_eq!(report.entries, 3);
    }

    #[test]
    fn space_is_kept_ahead_and_a_full_disk_is_reported_before_it_runs_out() {
        let (mut fake, gate) = Fake::new();
        drop(gate);
        let mut state = genesis();
        let health = Health::default();
        top_up(&mut fake, &mut state, &health);
        assert_eq!(fake.reserved.load(Ordering::SeqCst), RESERVE);
        // Half of it used: topped up.
        state.end = RESERVE / 2 + 1;
        top_up(&mut fake, &mut state, &health);
        assert_eq!(state.reserved, state.end + RESERVE);
        // The disk fills: the log goes on, on what is left.
        fake.full.store(true, Ordering::SeqCst);
        state.end = state.reserved - RESERVE / 2 + 1;
        top_up(&mut fake, &mut state, &health);
        assert!(state.disk_full);
        assert!(health.check().is_ok(), "refused with half the reserve left");
        // Close to the end of the reserve: operations that need a durable entry are refused.
        state.end = state.reserved - RESERVE_MARGIN + 1;
        top_up(&mut fake, &mut state, &health);
        let refused = health.check();
        assert!(
            matches!(&refused, Err(Error::Unavailable { reason }) if reason.contains("full")),
            "{refused:?}"
        );
        // Space returns.
        fake.full.store(false, Ordering::SeqCst);
        top_up(&mut fake, &mut state, &health);
        assert!(health.check().is_ok());
        assert!(!state.disk_full);
        assert_eq!(state.reserved, state.end + RESERVE);
    }

    fn queued(i: u64, durable: bool) -> (Msg, Option<oneshot::Receiver<Result<()>>>) {
        let (reply, answer) = if durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        (
            Msg::Append(Append {
                entry: entry(i),
                reply,
            }),
            answer,
        )
    }

    #[test]
    fn a_failed_sync_fails_every_waiter_of_its_batch_and_keeps_the_chain() {
        let (mut fake, gate) = Fake::new();
        drop(gate);
        let mut state = genesis();
        let mut buf = Vec::new();
        let mut unsynced = false;
        let (batch, answers): (Vec<_>, Vec<_>) = [(1, true), (2, false), (3, true)]
            .map(|(i, d)| queued(i, d))
            .into_iter()
            .unzip();
        write_batch(
            &mut fake,
            &mut state,
            batch,
            &mut buf,
            &mut unsynced,
            &Health::default(),
        )
        .expect("batch 1");
        assert_eq!(state.chain.seq, 3);
        assert!(!unsynced);
        for mut a in answers.into_iter().flatten() {
            assert!(matches!(a.try_recv(), Ok(Ok(()))));
        }
        let before = state.chain.clone();

        fake.fail_sync.store(true, Ordering::SeqCst);
        let (batch, answers): (Vec<_>, Vec<_>) = [(4, true), (5, false), (6, true)]
            .map(|(i, d)| queued(i, d))
            .into_iter()
            .unzip();
        let health = Health::default();
        assert!(health.check().is_ok());
        let failed = write_batch(
            &mut fake,
            &mut state,
            batch,
            &mut buf,
            &mut unsynced,
            &health,
        );
        assert!(failed.is_err());
        // Recorded by the time the waiters are answered.
        assert!(
            matches!(health.check(), Err(Error::Unavailable { reason }) if reason.contains("a write to it failed"))
        );
        let answers: Vec<_> = answers.into_iter().flatten().collect();
        assert_eq!(answers.len(), 2);
        for mut a in answers {
            let r = a.try_recv().expect("answered");
            assert!(
                matches!(&r, Err(Error::Internal(m)) if m.contains("syncing")),
                "{r:?}"
            );
        }
        assert_eq!(state.chain, before, "a failed batch moved the chain");
    }

    #[test]
    fn a_non_durable_batch_is_written_but_not_synced() {
        let (mut fake, gate) = Fake::new();
        drop(gate);
        let mut state = genesis();
        let mut buf = Vec::new();
        let mut unsynced = false;
        let batch = vec![queued(1, false).0, queued(2, false).0];
        write_batch(
            &mut fake,
            &mut state,
            batch,
            &mut buf,
            &mut unsynced,
            &Health::default(),
        )
        .expect("batch");
        assert_eq!((fake.lines(), fake.syncs.load(Ordering::SeqCst)), (2, 0));
        assert!(unsynced);
        assert_eq!(state.chain.seq, 2);
    }
}
