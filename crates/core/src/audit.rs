//! The audit trail: one entry per request, whatever its outcome. Entries name who asked for
//! what and how it ended; they never carry a secret value, a signature or a request body.
//!
//! The core defines the entry and the sink; where entries go (a hash-chained file in the data
//! dir, a table in PostgreSQL) is the store crate's business.

use async_trait::async_trait;
use coffer_crypto::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// Longest value, in bytes as the log writes them (JSON-escaped), an entry keeps of a field
/// the request chose (an operation name, an access key id). Real ones are a few dozen bytes;
/// the bound keeps a request that sends a megabyte in such a field from making its own entry
/// too large to write.
pub const MAX_FIELD_BYTES: usize = 256;
/// Longest resource list an entry keeps: an operation may name many resources, and one
/// resource name is already up to a few hundred bytes.
pub const MAX_RESOURCE_BYTES: usize = 4096;
/// The bound of a client-chosen field in the entry of a request that did not authenticate.
/// Anyone who can reach the port can send such requests, each adding an entry to a log that
/// is kept forever, so their entries stay near 700 bytes whatever they send (two fields at
/// this bound, plus the fixed fields, the chain and the MAC).
pub const MAX_UNAUTHENTICATED_FIELD_BYTES: usize = 96;

/// One request as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the request arrived, epoch milliseconds.
    pub time_ms: i64,
    pub request_id: String,
    /// The caller's account, once its access key was found.
    pub account: Option<u64>,
    /// The access key id the request claimed (also when it failed to authenticate).
    pub access_key_id: Option<String>,
    /// `alibaba`, `tencent`, `huawei`, `native`, or `unknown` when no API matched.
    pub dialect: String,
    /// The operation as the API names it (`GetSecretValue`, `show_secret`, ...).
    pub operation: String,
    /// The neutral action it maps to (`secrets:GetValue`), when known.
    pub action: Option<String>,
    /// The resource it addressed (`crn:coffer:<region>:<account>:secret/<name>`), when known.
    pub resource: Option<String>,
    /// The client's address and port.
    pub source: String,
    pub status: u16,
    /// The API's result code: `OK`, or the error code the client saw.
    pub result: String,
    pub latency_us: u64,
}

impl AuditEntry {
    /// The entry with every text field cut to its bound (on a character boundary, with a
    /// marker that says how much was cut and a digest of the whole value, so that two long
    /// values can still be told apart), so that whatever a request sends, its entry fits in
    /// the log. Bounds count bytes as written, escapes included: a control character costs
    /// six. An entry without an account (the request did not authenticate) keeps less of what
    /// the client chose. Audit sinks call this on every entry before writing it.
    pub fn bounded(mut self) -> AuditEntry {
        let (chosen, resource) = if self.account.is_some() {
            (MAX_FIELD_BYTES, MAX_RESOURCE_BYTES)
        } else {
            (MAX_UNAUTHENTICATED_FIELD_BYTES, MAX_FIELD_BYTES)
        };
        for field in [
            &mut self.request_id,
            &mut self.dialect,
            &mut self.source,
            &mut self.result,
        ] {
            truncate_field(field, MAX_FIELD_BYTES);
        }
        truncate_field(&mut self.operation, chosen);
        if let Some(key) = &mut self.access_key_id {
            truncate_field(key, chosen);
        }
        if let Some(action) = &mut self.action {
            truncate_field(action, MAX_FIELD_BYTES);
        }
        if let Some(r) = &mut self.resource {
            truncate_field(r, resource);
        }
        self
    }
}

/// Bytes `c` takes in a JSON string as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Cuts `value` so that it takes at most `max` bytes in the log (escapes counted), on a
/// character boundary, and appends `...(+N bytes, sha256:H)`: N bytes were cut, and H is the
/// first 16 hex digits of the SHA-256 of the whole value, so that two long values that begin
/// alike can be told apart. Values within the bound are left alone.
fn truncate_field(value: &mut String, max: usize) {
    // No byte takes more than six in the log: a value that short is within its bound however
    // it escapes, and every field of a well-formed request is (this skips the count per
    // character that every entry paid for every field).
    if value.len().saturating_mul(6) <= max || value.chars().map(escaped_len).sum::<usize>() <= max
    {
        return;
    }
    let hash: String = Sha256::digest(value.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let marker = |cut: usize| format!("...(+{cut} bytes, sha256:{hash})");
    // The marker counts against the bound too; its count of cut bytes is at most the length.
    let room = max.saturating_sub(marker(value.len()).len());
    let (mut kept, mut cut) = (0, 0);
    for (i, c) in value.char_indices() {
        kept += escaped_len(c);
        if kept > room {
            break;
        }
        cut = i + c.len_utf8();
    }
    let marker = marker(value.len() - cut);
    value.truncate(cut);
    value.push_str(&marker);
}

/// What a dialect learned about a request while handling it, for its audit entry. The
/// server adds time, request id, source, status and latency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFacts {
    pub account: Option<u64>,
    pub access_key_id: Option<String>,
    pub operation: String,
    pub action: Option<crate::access::Action>,
    /// Resource names, comma-separated when an operation addresses several.
    pub resource: Option<String>,
    /// Whether the operation's permission needs a durable entry
    /// ([`Permission::audit_durably`](crate::Permission::audit_durably)); `None` until the
    /// operation is known.
    pub durable_permission: Option<bool>,
    /// `OK` or the error code the client saw.
    pub result: String,
}

impl AuditFacts {
    /// Whether the entry must be durable before the response leaves: state changes and
    /// value reads, and anything refused before its operation was known (judged carefully).
    pub fn durable(&self) -> bool {
        self.durable_permission.unwrap_or(true)
    }
}

/// Where audit entries go. `append` with `durable` returns only once the entry is on stable
/// storage (the server waits for it before answering a write or a value read); without, the
/// entry is queued in order and written with the next batch. Every entry is
/// [bounded](AuditEntry::bounded) before it is written, so no entry is refused for its size.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn append(&self, entry: AuditEntry, durable: bool) -> Result<()>;
    /// The last `n` entries as stored (one JSON text each), oldest first.
    async fn tail(&self, n: usize) -> Result<Vec<String>>;
    /// Up to `n` stored entries that end at or before the log position `before` (`None`: the
    /// end of the log), oldest first, each with the position it starts at (the `before` of
    /// the page older than it); `before` must be a position an earlier answer gave. Reads
    /// only as far back as those entries: paging through the whole log costs one read of it.
    async fn entries_before(&self, before: Option<u64>, n: usize) -> Result<Vec<(u64, String)>> {
        let _ = (before, n);
        Err(crate::Error::Unavailable {
            reason: "this audit log cannot be read back by position".into(),
        })
    }
    /// `Ok` while the sink takes entries; otherwise [`Error::Unavailable`](crate::Error)
    /// saying why (a write failed, the sink was closed). The server asks before it performs
    /// an operation whose entry must be durable, and refuses the operation when the answer is
    /// not `Ok`, so that no change happens that the log cannot record.
    fn health(&self) -> Result<()>;
    /// A root key rotation began: `new_root` wraps everything from now on and the current
    /// root key will be gone once it finishes. A sink whose entries are keyed by the root key
    /// moves to a key derived from `new_root` before this returns, in a way that keeps what it
    /// wrote so far verifiable with `new_root` alone.
    async fn root_key_changed(&self, new_root: &SecretKey) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            time_ms: 1,
            request_id: "r".into(),
            account: None,
            access_key_id: Some("AK".into()),
            dialect: "alibaba".into(),
            operation: "GetSecretValue".into(),
            action: None,
            resource: Some("crn:coffer:default:1:secret/a".into()),
            source: "127.0.0.1:1".into(),
            status: 200,
            result: "OK".into(),
            latency_us: 1,
        }
    }

    /// Bytes a string takes in the log, as serde_json writes it (without the quotes).
    fn logged(s: &str) -> usize {
        serde_json::to_string(s).expect("json").len() - 2
    }

    /// The `N` and `H` of a value's `...(+N bytes, sha256:H)` marker.
    fn marker(s: &str) -> (usize, String) {
        let at = s.rfind("...(+").expect("a marker");
        let rest = &s[at + 5..];
        let (n, rest) = rest.split_once(" bytes, sha256:").expect("marker shape");
        let hash = rest.strip_suffix(')').expect("closed");
        (n.parse().expect("count"), hash.to_string())
    }

    fn sha256_prefix(s: &str) -> String {
        Sha256::digest(s.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn bounded_leaves_short_fields_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(entry().bounded(), entry());
        let mut e = entry();
        e.account = Some(7);
        let huge = "A".repeat(1 << 20);
        e.operation = huge.clone();
        // A two-byte character straddles the bound.
        e.access_key_id = Some(format!(
            "{}é{}",
            "k".repeat(MAX_FIELD_BYTES - 1),
            "z".repeat(50)
        ));
        e.resource = Some("r".repeat(MAX_RESOURCE_BYTES + 1));
        e.result = "x".repeat(MAX_FIELD_BYTES);
        let b = e.bounded();

        assert!(logged(&b.operation) <= MAX_FIELD_BYTES, "{}", b.operation);
        assert!(b.operation.starts_with("AAAAAAAA"));
        let kept = b.operation.find("...(+").expect("marker");
        let (cut, hash) = marker(&b.operation);
        assert_eq!(kept + cut, 1 << 20, "the marker counts what was cut");
        assert_eq!(hash, sha256_prefix(&huge), "and digests the whole value");

        let ak = b.access_key_id.expect("kept");
        assert!(logged(&ak) <= MAX_FIELD_BYTES, "{ak}");
        assert!(ak.starts_with("kkkk"), "{ak}");
        let kept = ak.find("...(+").expect("marker");
        assert_eq!(kept + marker(&ak).0, MAX_FIELD_BYTES - 1 + 2 + 50);
        assert!(!ak.contains('\u{fffd}'));
        let r = b.resource.expect("kept");
        assert!(logged(&r) <= MAX_RESOURCE_BYTES, "{}", r.len());
        assert_eq!(b.result.len(), MAX_FIELD_BYTES, "at the bound is not cut");
    }

    #[test]
    fn escapes_count_against_the_bound() {
        // A control character takes six bytes in the log (\u0001): the bound is on those.
        let mut e = entry();
        e.account = Some(7);
        e.operation = "\u{1}".repeat(3000);
        e.access_key_id = Some("\"".repeat(3000));
        let b = e.bounded();
        assert!(
            logged(&b.operation) <= MAX_FIELD_BYTES,
            "{}",
            logged(&b.operation)
        );
        assert!(b.operation.starts_with("\u{1}\u{1}"));
        let ak = b.access_key_id.expect("kept");
        assert!(logged(&ak) <= MAX_FIELD_BYTES, "{}", logged(&ak));
        // Exactly at the bound once escaped: kept whole.
        let mut e = entry();
        e.account = Some(7);
        e.operation = "\u{1}".repeat(MAX_FIELD_BYTES / 6);
        assert_eq!(e.clone().bounded(), e);
    }

    #[test]
    fn long_values_that_begin_alike_keep_different_markers() {
        let a = format!("/v1/p/secrets/{}a", "x".repeat(5000));
        let b = format!("/v1/p/secrets/{}b", "x".repeat(5000));
        let cut = |s: &str| {
            let mut e = entry();
            e.operation = s.to_string();
            e.bounded().operation
        };
        assert_ne!(cut(&a), cut(&b));
        assert_eq!(marker(&cut(&a)).1, sha256_prefix(&a));
    }

    #[test]
    fn an_unauthenticated_entry_stays_small_whatever_it_carries() {
        let mut e = entry();
        e.account = None;
        e.operation = format!("GET /{}", "\u{1b}".repeat(60_000));
        e.access_key_id = Some("\u{1}".repeat(60_000));
        e.resource = Some("r".repeat(60_000));
        let b = e.bounded();
        assert!(logged(&b.operation) <= MAX_UNAUTHENTICATED_FIELD_BYTES);
        assert!(
            logged(b.access_key_id.as_deref().expect("kept")) <= MAX_UNAUTHENTICATED_FIELD_BYTES
        );
        assert!(logged(b.resource.as_deref().expect("kept")) <= MAX_FIELD_BYTES);
        let line = serde_json::to_string(&b).expect("json");
        assert!(line.len() < 800, "{} bytes: {line}", line.len());
    }
}
