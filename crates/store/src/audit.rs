//! The tamper-evident audit log: [`FileAuditLog`] appends [`AuditEntry`]s to one text file
//! (`<data-dir>/audit.log`), one JSON object per `\n`-terminated line, each line chained to the
//! one before it by a SHA-256 hash. A line is exactly
//!
//! ```text
//! {"seq":N,"prev":"<64 hex>",<the entry's fields as serde_json writes them>,"hash":"<64 hex>"}
//! ```
//!
//! `seq` counts from 1; `prev` is the previous line's `hash` (64 zeros on line 1); `hash` is
//! the SHA-256 of the line's bytes from its first byte up to, not including, the `,"hash":"`.
//! The hash covers the raw bytes, not a re-serialization, so any edited byte shows; `prev` is
//! among them, so a removed or reordered line shows too. [`verify`] checks a whole file,
//! [`tail`] reads its last lines.
//!
//! One thread owns the file, like the SQLite writer: appends queue on a channel, the thread
//! takes everything waiting (see [`crate::batch`]), chains the entries in arrival order,
//! writes them with one `write_all`, calls `sync_data` once if any of them is durable, and
//! only then answers the durable callers. Non-durable appends return once queued; the next sync covers them. After
//! a failed write or sync the file's end is unknown, so the log takes no more appends.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use coffer_core::{AuditEntry, AuditSink, Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::batch::fill as fill_batch;

/// The `prev` of line 1.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// What precedes the hash at the end of every line.
const HASH_FIELD: &[u8] = b",\"hash\":\"";
/// `,"hash":"`, 64 hex digits, `"}`.
const TRAILER: usize = HASH_FIELD.len() + 64 + 2;
/// Longest line (without its `\n`) the writer produces and the readers accept. Entries are a
/// few hundred bytes; the cap keeps a damaged file from making a reader buffer gigabytes.
pub const MAX_LINE: usize = 1 << 20;
/// Most entries written (and synced) together.
const MAX_BATCH: usize = 1024;
/// How much the backward readers read at a time.
const CHUNK: usize = 64 * 1024;

/// The log as seen from its end: the last line's seq and hash.
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
}

/// The hashed part of a line.
#[derive(Serialize)]
struct Head<'a> {
    seq: u64,
    prev: &'a str,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

/// A line as read back; the hash is checked on the raw bytes, not here.
#[derive(Deserialize)]
struct Stored {
    seq: u64,
    prev: String,
    #[serde(flatten)]
    _entry: AuditEntry,
}

/// Appends the line for `entry`, `\n` included, to `out` and returns its hash. On error `out`
/// is left as it was.
fn format_line(seq: u64, prev: &str, entry: &AuditEntry, out: &mut Vec<u8>) -> Result<String> {
    let start = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, &Head { seq, prev, entry }) {
        out.truncate(start);
        return Err(Error::internal(format!(
            "audit log: serializing an entry: {e}"
        )));
    }
    // serde_json wrote one object; the hash field goes before its closing brace.
    if out.pop() != Some(b'}') {
        out.truncate(start);
        return Err(Error::internal(
            "audit log: an entry did not serialize as an object",
        ));
    }
    let hash = hex::encode(Sha256::digest(&out[start..]));
    out.extend_from_slice(HASH_FIELD);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    let len = out.len() - start - 1;
    if len > MAX_LINE {
        out.truncate(start);
        return Err(Error::internal(format!(
            "audit log: an entry's line would be {len} bytes, more than the limit of {MAX_LINE}"
        )));
    }
    Ok(hash)
}

/// Why one line (without its `\n`) is not a sound link.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    Invalid(String),
    Hash,
}

/// What a line whose hash matches its content says about itself.
#[derive(Debug)]
struct Link {
    seq: u64,
    prev: String,
    hash: String,
}

/// Checks one line on its own: its shape, its hash, and that it holds an entry.
fn check_line(line: &[u8]) -> Result<Link, Fault> {
    let Some(split) = line.len().checked_sub(TRAILER).filter(|&s| s > 0) else {
        return Err(Fault::Invalid("too short to hold an entry".into()));
    };
    let (body, trailer) = line.split_at(split);
    let hash = &trailer[HASH_FIELD.len()..HASH_FIELD.len() + 64];
    if !trailer.starts_with(HASH_FIELD) || !trailer.ends_with(b"\"}") {
        return Err(Fault::Invalid("it does not end with the hash field".into()));
    }
    if !hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Fault::Invalid(
            "the hash is not 64 lowercase hex digits".into(),
        ));
    }
    if hex::encode(Sha256::digest(body)).as_bytes() != hash {
        return Err(Fault::Hash);
    }
    let stored: Stored = serde_json::from_slice(line).map_err(|e| Fault::Invalid(e.to_string()))?;
    Ok(Link {
        seq: stored.seq,
        prev: stored.prev,
        // Checked above: ASCII hex.
        hash: String::from_utf8_lossy(hash).into_owned(),
    })
}

/// What a file the writer can own must do; a trait so tests can make writes and syncs fail
/// or wait.
trait LogFile: Write + Send + 'static {
    fn sync(&mut self) -> io::Result<()>;
}

impl LogFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// One queued append; `reply` is there when the caller waits for durability.
struct Append {
    entry: AuditEntry,
    reply: Option<oneshot::Sender<Result<()>>>,
}

impl Append {
    fn fail(self, why: &str) {
        match self.reply {
            // The caller may have gone away (cancelled future); nothing else to do.
            Some(reply) => {
                let _ = reply.send(Err(Error::internal(format!("audit log: {why}"))));
            }
            None => tracing::error!(
                request_id = %self.entry.request_id,
                error = %why,
                "a non-durable audit entry was lost"
            ),
        }
    }
}

/// [`AuditSink`] on a hash-chained file. See the module docs.
pub struct FileAuditLog {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Append>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FileAuditLog {
    /// Opens the log at `path`, creating it (mode 0600) when missing, and continues the chain
    /// from its last complete line. A final line without its `\n` is a write torn by a crash;
    /// it was never acknowledged and is cut off. A last complete line that is not a sound
    /// entry is an error: the log is damaged and the operator runs [`verify`].
    pub fn open(path: &Path) -> Result<FileAuditLog> {
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
        let chain = match last.last() {
            None => Chain::genesis(),
            Some(line) => match check_line(line) {
                Ok(link) => Chain {
                    seq: link.seq,
                    hash: link.hash,
                },
                Err(fault) => {
                    let why = match fault {
                        Fault::Hash => "its hash does not match its content".to_string(),
                        Fault::Invalid(why) => why,
                    };
                    return Err(Error::internal(format!(
                        "audit log {}: the last line is damaged ({why}); run verify on it",
                        path.display()
                    )));
                }
            },
        };
        Self::start(path.to_path_buf(), file, chain)
    }

    /// Starts the writer thread on `file`, whose last line is `chain`.
    fn start(path: PathBuf, file: impl LogFile, chain: Chain) -> Result<FileAuditLog> {
        let (tx, rx) = mpsc::channel::<Append>();
        let thread = std::thread::Builder::new()
            .name("coffer-audit-writer".into())
            .spawn(move || writer_loop(file, rx, chain))
            .map_err(|e| Error::internal(format!("audit log: starting the writer thread: {e}")))?;
        Ok(FileAuditLog {
            path,
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops accepting appends, lets the thread write and sync everything already queued,
    /// and waits for it to finish. Idempotent; appends after it fail.
    pub async fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            match tokio::task::spawn_blocking(move || thread.join()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!("the audit writer thread panicked"),
                Err(e) => tracing::error!(error = %e, "waiting for the audit writer failed"),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AuditSink for FileAuditLog {
    async fn append(&self, entry: AuditEntry, durable: bool) -> Result<()> {
        let (reply, answer) = if durable {
            let (reply, answer) = oneshot::channel();
            (Some(reply), Some(answer))
        } else {
            (None, None)
        };
        {
            let guard = self
                .sender
                .lock()
                .map_err(|_| Error::internal("audit log: lock poisoned"))?;
            let sender = guard
                .as_ref()
                .ok_or_else(|| Error::internal("audit log: the log is closed"))?;
            sender.send(Append { entry, reply }).map_err(|_| {
                Error::internal("audit log: the writer stopped after a failed write")
            })?;
        }
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
}

fn writer_loop(mut file: impl LogFile, rx: mpsc::Receiver<Append>, mut chain: Chain) {
    let mut buf: Vec<u8> = Vec::new();
    // Lines written since the last sync.
    let mut unsynced = false;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        fill_batch(&rx, &mut batch, MAX_BATCH);
        if let Err(why) = write_batch(&mut file, &mut chain, batch, &mut buf, &mut unsynced) {
            // Part of the batch may be in the file: where the chain stands is unknown, so
            // nothing more may be appended. What is queued fails; later sends find no thread.
            let why = format!("an earlier write failed ({why}); the log takes no more appends");
            for append in rx.try_iter() {
                append.fail(&why);
            }
            return;
        }
    }
    // Every sender is gone and the queue is empty: closed. Non-durable lines still need a sync.
    if unsynced {
        if let Err(e) = file.sync() {
            tracing::error!(error = %e, "audit log: the final sync at close failed");
        }
    }
}

/// Formats, chains and writes one batch, syncs it if any entry is durable, and answers the
/// durable callers. `Err`: the write or sync failed (every caller of the batch was told).
fn write_batch(
    file: &mut impl LogFile,
    chain: &mut Chain,
    batch: Vec<Append>,
    buf: &mut Vec<u8>,
    unsynced: &mut bool,
) -> Result<(), String> {
    buf.clear();
    let mut next = chain.clone();
    let mut waiters = Vec::new();
    let mut lost = 0usize;
    for append in batch {
        match format_line(next.seq + 1, &next.hash, &append.entry, buf) {
            Ok(hash) => {
                next = Chain {
                    seq: next.seq + 1,
                    hash,
                };
            }
            // This entry alone is refused; the chain goes on without it.
            Err(e) => {
                tracing::error!(request_id = %append.entry.request_id, error = %e, "audit entry refused");
                append.fail(&e.to_string());
                continue;
            }
        }
        match append.reply {
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
        Ok(()) if durable => file.sync().map_err(|e| format!("syncing: {e}")),
        Ok(()) => Ok(()),
    };
    match outcome {
        Ok(()) => {
            *chain = next;
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
                "audit log write failed; the log takes no more appends"
            );
            for reply in waiters {
                let _ = reply.send(Err(Error::internal(format!("audit log: {why}"))));
            }
            Err(why)
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

/// An intact log, as [`verify`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines (entries) in the log.
    pub entries: u64,
    /// The last line's hash; 64 zeros for an empty log. Recording it elsewhere lets a later
    /// check notice a log cut short or rewritten as a whole.
    pub last_hash: String,
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
    /// The line the chain breaks at; `None` for an I/O error.
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::Hash { line }
            | VerifyError::Prev { line }
            | VerifyError::Seq { line, .. }
            | VerifyError::Invalid { line, .. }
            | VerifyError::MissingNewline { line } => Some(*line),
            VerifyError::Io(_) => None,
        }
    }
}

/// Checks the whole chain of the log at `path`, streaming it line by line: every line sound,
/// hashed as it reads, numbered in order and naming its predecessor's hash, the last one
/// ending with `\n`.
pub fn verify(path: &Path) -> Result<VerifyReport, VerifyError> {
    let mut reader = BufReader::with_capacity(CHUNK, File::open(path)?);
    let mut chain = Chain::genesis();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        let line = chain.seq + 1;
        if buf.pop() != Some(b'\n') {
            if buf.len() >= MAX_LINE {
                return Err(VerifyError::Invalid {
                    line,
                    reason: format!("longer than {MAX_LINE} bytes"),
                });
            }
            return Err(VerifyError::MissingNewline { line });
        }
        let link = check_line(&buf).map_err(|fault| match fault {
            Fault::Hash => VerifyError::Hash { line },
            Fault::Invalid(reason) => VerifyError::Invalid { line, reason },
        })?;
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
        chain = Chain {
            seq: line,
            hash: link.hash,
        };
    }
    Ok(VerifyReport {
        entries: chain.seq,
        last_hash: chain.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

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
    fn a_formatted_line_checks_and_its_hash_covers_the_bytes_before_it() {
        let mut out = Vec::new();
        let h1 = format_line(1, GENESIS, &entry(1), &mut out).expect("line 1");
        let first_len = out.len();
        let h2 = format_line(2, &h1, &entry(2), &mut out).expect("line 2");
        let text = String::from_utf8(out.clone()).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(first_len, lines[0].len() + 1);
        let cut = lines[1].rfind(",\"hash\":\"").expect("hash field");
        assert_eq!(hex::encode(Sha256::digest(&lines[1].as_bytes()[..cut])), h2);
        let link = check_line(lines[1].as_bytes()).expect("sound");
        assert_eq!((link.seq, link.prev, link.hash), (2, h1, h2));
        assert!(lines[0].starts_with(&format!("{{\"seq\":1,\"prev\":\"{GENESIS}\",\"time_ms\":")));

        let mut edited = lines[1].as_bytes().to_vec();
        edited[cut - 3] ^= 1;
        assert_eq!(check_line(&edited).map(|_| ()), Err(Fault::Hash));
        assert!(matches!(check_line(b"{}"), Err(Fault::Invalid(_))));
        assert!(matches!(check_line(&[b'x'; 200]), Err(Fault::Invalid(_))));
    }

    /// A file whose writes and syncs the test controls.
    #[derive(Clone)]
    struct Fake {
        data: Arc<Mutex<Vec<u8>>>,
        syncs: Arc<AtomicUsize>,
        fail_write: Arc<AtomicBool>,
        fail_sync: Arc<AtomicBool>,
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
    }

    fn start(fake: &Fake) -> Arc<FileAuditLog> {
        let log = FileAuditLog::start("fake".into(), fake.clone(), Chain::genesis());
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
        log.close().await;
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
    async fn a_failed_write_fails_its_batch_and_every_later_append() {
        let (fake, gate) = Fake::new();
        drop(gate);
        let log = start(&fake);
        log.append(entry(1), true).await.expect("append");
        fake.fail_write.store(true, Ordering::SeqCst);
        let failed = log.append(entry(2), true).await;
        assert!(
            matches!(&failed, Err(Error::Internal(m)) if m.contains("disk on fire")),
            "{failed:?}"
        );
        // The thread is gone: durable and non-durable appends fail now, even once the disk
        // is back, because where the chain stands is unknown.
        fake.fail_write.store(false, Ordering::SeqCst);
        wait_for("the writer to stop", || {
            log.thread
                .lock()
                .expect("lock")
                .as_ref()
                .is_some_and(|t| t.is_finished())
        })
        .await;
        assert!(log.append(entry(3), false).await.is_err());
        assert!(log.append(entry(3), true).await.is_err());
        log.close().await;
        assert_eq!(fake.lines(), 1);
    }

    fn queued(i: u64, durable: bool) -> (Append, Option<oneshot::Receiver<Result<()>>>) {
        let (reply, answer) = if durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        (
            Append {
                entry: entry(i),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn a_failed_sync_fails_every_waiter_of_its_batch_and_keeps_the_chain() {
        let (mut fake, gate) = Fake::new();
        drop(gate);
        let mut chain = Chain::genesis();
        let mut buf = Vec::new();
        let mut unsynced = false;
        let (batch, answers): (Vec<_>, Vec<_>) = [(1, true), (2, false), (3, true)]
            .map(|(i, d)| queued(i, d))
            .into_iter()
            .unzip();
        write_batch(&mut fake, &mut chain, batch, &mut buf, &mut unsynced).expect("batch 1");
        assert_eq!(chain.seq, 3);
        assert!(!unsynced);
        for mut a in answers.into_iter().flatten() {
            assert!(matches!(a.try_recv(), Ok(Ok(()))));
        }
        let before = chain.clone();

        fake.fail_sync.store(true, Ordering::SeqCst);
        let (batch, answers): (Vec<_>, Vec<_>) = [(4, true), (5, false), (6, true)]
            .map(|(i, d)| queued(i, d))
            .into_iter()
            .unzip();
        let failed = write_batch(&mut fake, &mut chain, batch, &mut buf, &mut unsynced);
        assert!(failed.is_err());
        let answers: Vec<_> = answers.into_iter().flatten().collect();
        assert_eq!(answers.len(), 2);
        for mut a in answers {
            let r = a.try_recv().expect("answered");
            assert!(
                matches!(&r, Err(Error::Internal(m)) if m.contains("syncing")),
                "{r:?}"
            );
        }
        assert_eq!(chain, before, "a failed batch moved the chain");
    }

    #[test]
    fn a_non_durable_batch_is_written_but_not_synced() {
        let (mut fake, gate) = Fake::new();
        drop(gate);
        let mut chain = Chain::genesis();
        let mut buf = Vec::new();
        let mut unsynced = false;
        let batch = vec![queued(1, false).0, queued(2, false).0];
        write_batch(&mut fake, &mut chain, batch, &mut buf, &mut unsynced).expect("batch");
        assert_eq!((fake.lines(), fake.syncs.load(Ordering::SeqCst)), (2, 0));
        assert!(unsynced);
        assert_eq!(chain.seq, 2);
    }
}
