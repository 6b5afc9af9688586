//! The audit trail: one entry per request, whatever its outcome. Entries name who asked for
//! what and how it ended; they never carry a secret value, a signature or a request body.
//!
//! The core defines the entry and the sink; where entries go (a hash-chained file in the data
//! dir, a table in PostgreSQL) is the store crate's business.

use async_trait::async_trait;
use coffer_crypto::SecretKey;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Longest value, in bytes, an entry keeps of a field the request chose (an operation name,
/// an access key id). Real ones are a few dozen bytes; the bound keeps a request that sends a
/// megabyte in such a field from making its own entry too large to write.
pub const MAX_FIELD_BYTES: usize = 256;
/// Longest resource list an entry keeps: an operation may name many resources, and one
/// resource name is already up to a few hundred bytes.
pub const MAX_RESOURCE_BYTES: usize = 4096;

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
    /// marker that says how long the value was), so that whatever a request sends, its entry
    /// fits in the log. Audit sinks call this on every entry before writing it.
    pub fn bounded(mut self) -> AuditEntry {
        for field in [
            &mut self.request_id,
            &mut self.dialect,
            &mut self.operation,
            &mut self.source,
            &mut self.result,
        ] {
            truncate_field(field, MAX_FIELD_BYTES);
        }
        for field in [&mut self.access_key_id, &mut self.action]
            .into_iter()
            .flatten()
        {
            truncate_field(field, MAX_FIELD_BYTES);
        }
        if let Some(resource) = &mut self.resource {
            truncate_field(resource, MAX_RESOURCE_BYTES);
        }
        self
    }
}

/// Cuts `value` to at most `max` bytes on a character boundary and appends a marker naming
/// its original length; shorter values are left alone.
fn truncate_field(value: &mut String, max: usize) {
    if value.len() <= max {
        return;
    }
    let original = value.len();
    let mut cut = max;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    value.truncate(cut);
    value.push_str(&format!("...[truncated, {original} bytes]"));
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

    #[test]
    fn bounded_leaves_short_fields_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(entry().bounded(), entry());
        let mut e = entry();
        e.operation = "A".repeat(1 << 20);
        // A two-byte character straddles the bound.
        e.access_key_id = Some(format!(
            "{}é{}",
            "k".repeat(MAX_FIELD_BYTES - 1),
            "z".repeat(50)
        ));
        e.resource = Some("r".repeat(MAX_RESOURCE_BYTES + 1));
        e.result = "x".repeat(MAX_FIELD_BYTES);
        let b = e.bounded();
        assert_eq!(
            b.operation,
            format!(
                "{}...[truncated, 1048576 bytes]",
                "A".repeat(MAX_FIELD_BYTES)
            )
        );
        let ak = b.access_key_id.expect("kept");
        assert!(ak.starts_with(&"k".repeat(MAX_FIELD_BYTES - 1)), "{ak}");
        assert!(ak.ends_with(&format!("...[truncated, {} bytes]", MAX_FIELD_BYTES + 51)));
        assert!(!ak.contains('é'));
        assert!(b.resource.expect("kept").len() < MAX_RESOURCE_BYTES + 40);
        assert_eq!(b.result.len(), MAX_FIELD_BYTES, "at the bound is not cut");
    }
}
