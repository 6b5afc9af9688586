//! The audit trail: one entry per request, whatever its outcome. Entries name who asked for
//! what and how it ended; they never carry a secret value, a signature or a request body.
//!
//! The core defines the entry and the sink; where entries go (a hash-chained file in the data
//! dir, a table in PostgreSQL) is the store crate's business.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

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
    /// `OK` or the error code the client saw.
    pub result: String,
}

impl AuditFacts {
    /// Whether the entry must be durable before the response leaves: state changes and
    /// value reads, and anything whose action is unknown (refused early, judged carefully).
    pub fn durable(&self) -> bool {
        self.action.is_none_or(|a| a.audit_durably())
    }
}

/// Where audit entries go. `append` with `durable` returns only once the entry is on stable
/// storage (the server waits for it before answering a write or a value read); without, the
/// entry is queued in order and written with the next batch.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn append(&self, entry: AuditEntry, durable: bool) -> Result<()>;
    /// The last `n` entries as stored (one JSON text each), oldest first.
    async fn tail(&self, n: usize) -> Result<Vec<String>>;
}
