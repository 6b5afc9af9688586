//! Requests the server refuses for their shape before any dialect reads them: a body, a URI or
//! a header list over the server's limits, or a body that could not be read. The server still
//! tells which API the request was addressed to (from its headers, path and query) and lets
//! that dialect word the refusal, so that every client gets its own cloud's error, and the
//! request is audited like any other.

use crate::{AuditFacts, Dialect, Handled, HttpRequest};

/// Why the server refused a request before reading it as an API call. The numbers are for the
/// message; none of them is a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The body is longer than `limit` bytes.
    BodyTooLarge { limit: usize },
    /// The request target (path and query) is `length` bytes, more than `limit`.
    UriTooLong { length: usize, limit: usize },
    /// The request has `count` header lines, more than `limit`.
    TooManyHeaders { count: usize, limit: usize },
    /// The body ended before its declared length, or could not be read.
    IncompleteBody,
}

impl Refusal {
    /// One sentence for the error message, naming the limit and how to stay within it.
    pub fn describe(&self) -> String {
        match *self {
            Refusal::BodyTooLarge { limit } => {
                format!("The request body is larger than the {limit} bytes this server accepts.")
            }
            Refusal::UriTooLong { length, limit } => format!(
                "The request URI is {length} bytes, more than the {limit} bytes this server \
                 accepts; send the parameters in the body."
            ),
            Refusal::TooManyHeaders { count, limit } => format!(
                "The request has {count} header fields, more than the {limit} this server accepts."
            ),
            Refusal::IncompleteBody => {
                "The request body ended before its declared length or could not be read."
                    .to_string()
            }
        }
    }
}

/// Answers `req` with `refusal` in `dialect`'s format, with the audit facts of a request that
/// never reached authentication (no account; the operation is the method and path, which the
/// audit sink bounds).
pub fn refuse<D: Dialect>(dialect: &D, req: &HttpRequest<'_>, refusal: Refusal) -> Handled {
    let error = dialect.refusal(req, refusal);
    let audit = AuditFacts {
        operation: format!("{} {}", req.method, req.path),
        result: D::error_code(&error).to_string(),
        ..Default::default()
    };
    Handled {
        reply: dialect.render(req, Err(error)),
        audit,
        refused_at_admission: false,
        operation: None,
        failed_at: Some(crate::Stage::Parse),
    }
}
