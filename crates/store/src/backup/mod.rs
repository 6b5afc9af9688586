//! Backup files: a whole store as one self-describing, checksummed and authenticated file, and
//! what writes and reads it.
//!
//! A store hands out everything it holds as [`BackupItem`]s read in one snapshot
//! ([`BackupStore::export`](coffer_core::store::BackupStore::export)) and writes them back
//! into an empty store in one transaction
//! ([`BackupStore::import`](coffer_core::store::BackupStore::import)). The items are the
//! model's, not either store's rows, so a backup of one kind of store restores into the other.
//!
//! # The file (format version 1)
//!
//! JSON lines, UTF-8, each ending in `\n`:
//!
//! 1. a **header**: `{"format":"coffer-backup","version":1,"created_at":<ms>,
//!    "coffer":"<version that wrote it>","store":"sqlite"|"postgres","schema":<migrations>,
//!    "counts":{...},"key_check":"<hex>"}`. `counts` is what the snapshot holds, counted
//!    inside it: every kind of item and the rows inside them (key versions and aliases;
//!    secret versions, stages, tags and subscriptions).
//! 2. one line per **item** (see [`format`]), `{"kind":"account",...}` and so on, kinds in
//!    [`BackupKind`] order: accounts, access keys, policies, attachments, projects, keys, event
//!    rules, database instances, secrets, rotation tasks. Each names only what came before it.
//! 3. an **end** line: `{"kind":"end","items":N,"sha256":"<hex>","mac":"<hex>"}`, where
//!    `sha256` is the SHA-256 of every byte before this line and `mac` is HMAC-SHA256 of that
//!    digest under a key derived from the root key.
//!
//! Nothing in it is plaintext that the store keeps sealed: values are the store's sealed
//! envelopes, key material and access key secrets stay wrapped by the root key, and the root
//! key itself is never in the file. `key_check` is an HMAC of a fixed text under the derived
//! key: it tells "made with another root key" apart from "edited" without revealing anything.
//!
//! A reader refuses a file whose header is not this format and version, whose `key_check`
//! the given root key does not reproduce, whose lines do not parse or come out of order,
//! whose counts do not add up to the header's, that ends before its end line or goes on
//! after it, or whose checksum or MAC does not match. Restores read the file twice: once to
//! check all of that, and only then to write it.

mod format;

use std::io::{BufRead, Write};

use coffer_core::keyring::Keyring;
use coffer_core::store::{
    BackupCounts, BackupItem, BackupKind, ExportSink, ImportSource, SnapshotInfo,
};
use coffer_core::{Error, Result};
use coffer_crypto::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use format::Line;

/// The `format` field of every backup header.
pub const FORMAT: &str = "coffer-backup";
/// The version of the file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The longest line a reader accepts (a secret with all its versions is one line).
pub const MAX_LINE_BYTES: usize = 64 << 20;

const MAC_LABEL: &[u8] = b"coffer/backup-file/hmac-sha256/v1";
const KEY_CHECK_TEXT: &[u8] = b"coffer backup key check";
const DIGEST_DOMAIN: &[u8] = b"coffer-backup/v1 sha256:";

/// Counts every kind of row a backup carries, in one statement that both stores answer (in
/// [`BackupCounts`] field order).
pub(crate) const COUNT_SQL: &str = "SELECT \
     (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM access_keys), \
     (SELECT COUNT(*) FROM policies), (SELECT COUNT(*) FROM policy_attachments), \
     (SELECT COUNT(*) FROM projects), (SELECT COUNT(*) FROM keys), \
     (SELECT COUNT(*) FROM key_versions), (SELECT COUNT(*) FROM key_aliases), \
     (SELECT COUNT(*) FROM event_rules), (SELECT COUNT(*) FROM db_instances), \
     (SELECT COUNT(*) FROM secrets), (SELECT COUNT(*) FROM versions), \
     (SELECT COUNT(*) FROM stages), (SELECT COUNT(*) FROM secret_tags), \
     (SELECT COUNT(*) FROM secret_subscriptions), (SELECT COUNT(*) FROM rotation_tasks)";

/// [`BackupCounts`] from the sixteen numbers of [`COUNT_SQL`], in its order.
pub(crate) fn counts_from(n: [i64; 16]) -> BackupCounts {
    let u = |v: i64| v.max(0) as u64;
    BackupCounts {
        accounts: u(n[0]),
        access_keys: u(n[1]),
        policies: u(n[2]),
        attachments: u(n[3]),
        projects: u(n[4]),
        keys: u(n[5]),
        key_versions: u(n[6]),
        key_aliases: u(n[7]),
        event_rules: u(n[8]),
        db_instances: u(n[9]),
        secrets: u(n[10]),
        versions: u(n[11]),
        stages: u(n[12]),
        tags: u(n[13]),
        subscriptions: u(n[14]),
        rotation_tasks: u(n[15]),
    }
}

/// The tables a backup carries, in both stores. A table added to either schema must be
/// listed here, in [`DERIVED_TABLES`], [`CLUSTER_TABLES`] or [`USAGE_TABLES`] (each store's
/// tests check that every table is in one of them), so that a new kind of row cannot be left
/// out of backups unnoticed.
pub const BACKED_UP_TABLES: &[&str] = &[
    "accounts",
    "access_keys",
    "policies",
    "policy_attachments",
    "projects",
    "keys",
    "key_versions",
    "key_aliases",
    "event_rules",
    "db_instances",
    "secrets",
    "secret_tags",
    "secret_subscriptions",
    "versions",
    "stages",
    "secret_replication",
    "rotation_tasks",
];

/// Tables a backup leaves out, because a restore rebuilds them from what it writes:
/// `secret_counts` (kept by every secret create) and `schema_migrations` (PostgreSQL's record
/// of the migrations an open applies).
pub const DERIVED_TABLES: &[&str] = &["secret_counts", "schema_migrations"];

/// Tables a backup leaves out because they hold what the nodes sharing a PostgreSQL store keep
/// for each other while they run, not the installation's data: `leases` (which node runs which
/// background job), `replay_records` (signed requests seen within their window) and
/// `audit_chains` (how far each node's audit log reaches; the logs are files of the data dirs,
/// which a backup does not carry). A restored installation starts without them.
pub const CLUSTER_TABLES: &[&str] = &["leases", "replay_records", "audit_chains"];

/// Tables a backup leaves out because they record how the secrets were used, not what they
/// are: `secret_access` (the day each secret was last read, AWS's `LastAccessedDate`). A
/// restored installation starts with no secret read yet.
pub const USAGE_TABLES: &[&str] = &["secret_access"];

/// A backup file that is not what it should be: a refusal that names what is wrong.
pub(crate) fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidState {
        name: "backup".into(),
        reason: reason.into(),
    }
}

/// The root key (and, during a root key rotation left unfinished, the new one) that a backup
/// is made or checked with: a keyring to check that the key opens what the store wraps, and
/// the key that authenticates backup files, derived from the root key in use.
pub struct RootKeys {
    keyring: Keyring,
    /// Derived from the key in use: what new backups are authenticated with.
    mac: SecretKey,
    /// Derived from every key given: what a backup's MAC may be under.
    accepted: Vec<SecretKey>,
}

impl RootKeys {
    /// `root` is the root key file's key; `next` the `.next` key of a rotation left
    /// unfinished, which is then the key in use (as for `coffer serve`).
    pub fn new(root: SecretKey, next: Option<SecretKey>) -> Self {
        match next {
            None => {
                let mac = root.derive(MAC_LABEL);
                RootKeys {
                    keyring: Keyring::new(root),
                    accepted: vec![mac.clone()],
                    mac,
                }
            }
            Some(next) => {
                let mac = next.derive(MAC_LABEL);
                let old = root.derive(MAC_LABEL);
                let keyring = Keyring::new(root);
                keyring.begin_root_rotation(next);
                RootKeys {
                    keyring,
                    accepted: vec![mac.clone(), old],
                    mac,
                }
            }
        }
    }

    /// Whether the root key opens what `item` holds under it: every version of a key's
    /// material and an access key's secret. Other items hold nothing the root key wraps.
    pub fn check(&self, item: &BackupItem) -> Result<()> {
        let wrong = |what: String| {
            refuse(format!(
                "the root key does not open {what}: this is not the root key this store uses \
                 (give it with --root-key-file or COFFER_ROOT_KEY, or as <data-dir>/root.key)"
            ))
        };
        match item {
            BackupItem::Key(key) => {
                for v in &key.versions {
                    self.keyring
                        .rewrap_material(key, v)
                        .map_err(|_| wrong(format!("version {} of key {}", v.id, key.id)))?;
                }
                Ok(())
            }
            BackupItem::AccessKey(k) => self
                .keyring
                .open_access_secret(&k.id, &k.sealed_secret)
                .map(drop)
                .map_err(|_| wrong(format!("the secret of access key {}", k.id))),
            _ => Ok(()),
        }
    }

    fn key_check(key: &SecretKey) -> String {
        hex::encode(key.mac(&[KEY_CHECK_TEXT]))
    }

    fn accepts_key_check(&self, check: &str) -> Option<&SecretKey> {
        let given = hex::decode(check).ok()?;
        self.accepted
            .iter()
            .find(|k| k.verify_mac(&[KEY_CHECK_TEXT], &given))
    }
}

/// The first line of a backup file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// When the snapshot was taken, in milliseconds since the epoch.
    pub created_at: i64,
    /// The coffer version that wrote the file.
    pub coffer: String,
    /// The kind of store it was taken from (`sqlite` or `postgres`).
    pub store: String,
    /// That store's schema version.
    pub schema: u32,
    /// What the snapshot holds.
    pub counts: BackupCounts,
    pub key_check: String,
}

/// The last line of a backup file.
#[derive(Serialize, Deserialize)]
struct End {
    kind: String,
    items: u64,
    sha256: String,
    mac: String,
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::internal(format!("backup: {what}: {e}"))
}

/// Writes a backup file: an [`ExportSink`] that checks each item against the root key and
/// writes it, and [`finish`](Self::finish), which writes the end line.
pub struct BackupWriter<W: Write + Send> {
    out: W,
    hash: Sha256,
    keys: RootKeys,
    created_at: i64,
    declared: Option<BackupCounts>,
    written: BackupCounts,
    last: Option<BackupKind>,
}

impl<W: Write + Send> BackupWriter<W> {
    /// A writer to `out`, for a snapshot taken at `created_at` (ms since the epoch).
    pub fn new(out: W, keys: RootKeys, created_at: i64) -> Self {
        Self {
            out,
            hash: Sha256::new(),
            keys,
            created_at,
            declared: None,
            written: BackupCounts::default(),
            last: None,
        }
    }

    fn line(&mut self, json: &[u8]) -> Result<()> {
        self.hash.update(json);
        self.hash.update(b"\n");
        self.out
            .write_all(json)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| io_error("writing", e))
    }

    /// Writes the end line after checking that every item the header announced was written,
    /// flushes, and returns the output and the counts.
    pub fn finish(mut self) -> Result<(W, BackupCounts)> {
        let Some(declared) = self.declared else {
            return Err(Error::internal(
                "backup: finished before the snapshot began",
            ));
        };
        if declared != self.written {
            return Err(Error::internal(format!(
                "backup: the snapshot announced {} but handed out {}",
                declared.summary(),
                self.written.summary()
            )));
        }
        let digest = self.hash.finalize_reset();
        let end = End {
            kind: "end".into(),
            items: self.written.items(),
            sha256: hex::encode(digest),
            mac: hex::encode(self.keys.mac.mac(&[DIGEST_DOMAIN, &digest])),
        };
        let json = serde_json::to_vec(&end).map_err(|e| Error::internal(format!("backup: {e}")))?;
        self.out
            .write_all(&json)
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| self.out.flush())
            .map_err(|e| io_error("writing", e))?;
        Ok((self.out, self.written))
    }
}

#[async_trait::async_trait]
impl<W: Write + Send> ExportSink for BackupWriter<W> {
    async fn begin(&mut self, info: &SnapshotInfo) -> Result<()> {
        if self.declared.is_some() {
            return Err(Error::internal("backup: a snapshot began twice"));
        }
        let header = Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            created_at: self.created_at,
            coffer: env!("CARGO_PKG_VERSION").into(),
            store: info.store.clone(),
            schema: info.schema,
            counts: info.counts,
            key_check: RootKeys::key_check(&self.keys.mac),
        };
        let json =
            serde_json::to_vec(&header).map_err(|e| Error::internal(format!("backup: {e}")))?;
        self.line(&json)?;
        self.declared = Some(info.counts);
        Ok(())
    }

    async fn item(&mut self, item: BackupItem) -> Result<()> {
        if self.declared.is_none() {
            return Err(Error::internal("backup: an item before the snapshot began"));
        }
        let kind = item.kind();
        if self.last.is_some_and(|last| kind < last) {
            return Err(Error::internal(format!(
                "backup: a {} after a {}",
                kind.name(),
                self.last.map_or("", |k| k.name())
            )));
        }
        self.last = Some(kind);
        self.keys.check(&item)?;
        self.written.add(&item);
        let line = Line::from_item(item)?;
        let json =
            serde_json::to_vec(&line).map_err(|e| Error::internal(format!("backup: {e}")))?;
        self.line(&json)
    }
}

/// Reads a backup file item by item, checking everything the format promises; the end line's
/// checksum and MAC are checked when it is reached, so an item read before then is trusted
/// only once [`next_item`](Self::next_item) has returned `None` (see [`verify`]).
pub struct BackupReader<R: BufRead + Send> {
    input: R,
    hash: Sha256,
    header: Header,
    mac: SecretKey,
    read: BackupCounts,
    last: Option<BackupKind>,
    line: u64,
    done: bool,
    buf: Vec<u8>,
}

/// Reads one line (without its `\n`) into `buf`; `false` at the end of the input. A last line
/// without its `\n` is a file cut short.
fn read_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>, line: u64) -> Result<bool> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let n = std::io::Read::take(&mut *input, limit)
        .read_until(b'\n', buf)
        .map_err(|e| io_error("reading", e))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() != Some(&b'\n') {
        if n as u64 >= limit {
            return Err(refuse(format!(
                "line {line} is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        return Err(refuse(format!(
            "the file is cut short: line {line} has no end (the backup is incomplete)"
        )));
    }
    buf.pop();
    Ok(true)
}

impl<R: BufRead + Send> BackupReader<R> {
    /// Reads and checks the header: the format, its version, and that `keys` holds the root
    /// key the backup was made with.
    pub fn open(mut input: R, keys: &RootKeys) -> Result<Self> {
        let mut buf = Vec::new();
        if !read_line(&mut input, &mut buf, 1)? {
            return Err(refuse("the file is empty"));
        }
        let header: Header = serde_json::from_slice(&buf)
            .map_err(|_| refuse("this is not a coffer backup (its first line is no header)"))?;
        if header.format != FORMAT {
            return Err(refuse("this is not a coffer backup"));
        }
        if header.version != FORMAT_VERSION {
            return Err(refuse(format!(
                "the backup has format version {}; this coffer reads version {FORMAT_VERSION} \
                 (restore it with the coffer version that wrote it, {})",
                header.version, header.coffer
            )));
        }
        let mac = keys
            .accepts_key_check(&header.key_check)
            .cloned()
            .ok_or_else(|| {
                refuse(
                    "the backup was made with another root key: give the root key of the \
                 installation it was taken from (--root-key-file or COFFER_ROOT_KEY)",
                )
            })?;
        let mut hash = Sha256::new();
        hash.update(&buf);
        hash.update(b"\n");
        Ok(Self {
            input,
            hash,
            header,
            mac,
            read: BackupCounts::default(),
            last: None,
            line: 1,
            done: false,
            buf,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// What was read so far.
    pub fn counts(&self) -> BackupCounts {
        self.read
    }

    /// The next item, or `None` after the end line checked out.
    pub fn next_item(&mut self) -> Result<Option<BackupItem>> {
        if self.done {
            return Ok(None);
        }
        self.line += 1;
        let line = self.line;
        if !read_line(&mut self.input, &mut self.buf, line)? {
            return Err(refuse(format!(
                "the file is cut short after line {}: its end line is missing (the backup is incomplete)",
                line - 1
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(&self.buf)
            .map_err(|e| refuse(format!("line {line} is not JSON: {e}")))?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("end") {
            let end: End = serde_json::from_value(value)
                .map_err(|e| refuse(format!("line {line}, the end line: {e}")))?;
            self.finish(end, line)?;
            return Ok(None);
        }
        self.hash.update(&self.buf);
        self.hash.update(b"\n");
        let parsed: Line = serde_json::from_value(value)
            .map_err(|e| refuse(format!("line {line} is no backup item: {e}")))?;
        let item = parsed
            .into_item()
            .map_err(|e| refuse(format!("line {line}: {e}")))?;
        let kind = item.kind();
        if self.last.is_some_and(|last| kind < last) {
            return Err(refuse(format!(
                "line {line}: a {} after a {} (the file was reordered)",
                kind.name(),
                self.last.map_or("", |k| k.name())
            )));
        }
        self.last = Some(kind);
        self.read.add(&item);
        Ok(Some(item))
    }

    fn finish(&mut self, end: End, line: u64) -> Result<()> {
        let digest = self.hash.finalize_reset();
        if hex::encode(digest) != end.sha256.to_ascii_lowercase() {
            return Err(refuse(
                "the checksum does not match: the file was changed or damaged after it was written",
            ));
        }
        let mac = hex::decode(&end.mac).unwrap_or_default();
        if !self.mac.verify_mac(&[DIGEST_DOMAIN, &digest], &mac) {
            return Err(refuse(
                "the MAC does not match: the file was changed by someone without the root key",
            ));
        }
        if self.read != self.header.counts || end.items != self.read.items() {
            return Err(refuse(format!(
                "the items do not add up: the header announces {}, the file holds {}",
                self.header.counts.summary(),
                self.read.summary()
            )));
        }
        let mut rest = [0u8; 1];
        let more =
            std::io::Read::read(&mut self.input, &mut rest).map_err(|e| io_error("reading", e))?;
        if more > 0 {
            return Err(refuse(format!(
                "line {}: text after the end line",
                line + 1
            )));
        }
        self.done = true;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<R: BufRead + Send> ImportSource for BackupReader<R> {
    async fn next(&mut self) -> Result<Option<BackupItem>> {
        self.next_item()
    }
}

/// Reads a whole backup and checks everything (see the module docs), without writing
/// anything anywhere. Returns its header and counts.
pub fn verify<R: BufRead + Send>(
    input: R,
    keys: &RootKeys,
    mut progress: impl FnMut(&BackupCounts),
) -> Result<(Header, BackupCounts)> {
    let mut reader = BackupReader::open(input, keys)?;
    while reader.next_item()?.is_some() {
        progress(&reader.read);
    }
    Ok((reader.header.clone(), reader.read))
}
