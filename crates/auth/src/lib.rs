//! Request authentication for coffer.
//!
//! This crate knows how each cloud signs its requests and nothing else: it has no idea about
//! accounts, storage or HTTP servers. A dialect hands it the pieces of a request it received
//! ([`RequestParts`]), gets back a parsed request that names the access key, looks the secret up
//! itself, and asks the parsed request to verify. Keeping the key lookup outside means the same
//! code signs requests on the client side (tests, the load generator) without a key store.
//!
//! Modules:
//! - [`alibaba`]: Alibaba Cloud POP signatures (RPC v1 HMAC-SHA1 and ACS3-HMAC-SHA256).
//! - [`huawei`]: Huawei Cloud SDK-HMAC-SHA256 signatures (`huaweicloudsdkcore`).
//! - [`sigv4`]: AWS Signature Version 4 (`AWS4-HMAC-SHA256` in `Authorization`, botocore style).
//! - [`tencent`]: Tencent Cloud API 3.0 signatures (TC3-HMAC-SHA256 and legacy v1 HmacSHA1 /
//!   HmacSHA256).
//! - [`nonce`]: a bounded, time-bucketed replay cache.
//! - [`replay`]: the replay guard dialects hold: the process's caches, or records shared by
//!   every node of a cluster.
//! - [`skew`]: the clock-skew window check.
//! - [`encoding`]: the RFC 3986 / form encodings the signature schemes are built on.

pub mod alibaba;
pub mod encoding;
mod hmac_request;
pub mod huawei;
pub mod nonce;
pub mod replay;
pub mod sigv4;
pub mod skew;
pub mod tencent;

use std::fmt;

/// The parts of an HTTP request that signature schemes look at.
///
/// The server fills this in from whatever HTTP stack it uses; nothing here is normalised except
/// that header names are expected in lower case (lookups compare names case-insensitively anyway,
/// so a caller that forgets is not silently insecure). Header values must be passed exactly as
/// received: the Alibaba ACS3 scheme signs the `host` header verbatim, scheme prefix and port
/// included, so a value rebuilt from the URL would not verify.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method as received (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The query string after `?`, still percent-encoded; empty when there is none.
    pub raw_query: &'a str,
    /// Every header line in wire order: (lower-case name, value). A header sent twice appears
    /// twice.
    pub headers: &'a [(String, String)],
    /// The raw body bytes.
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    /// All values of header `name` (case-insensitive), in wire order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a header that must appear at most once.
    ///
    /// Security-relevant headers (Authorization, dates, nonces) are rejected when repeated,
    /// because two copies give two possible meanings and the signer and we might pick different
    /// ones.
    pub fn single_header(&self, name: &str) -> Result<Option<&'a str>, AuthError> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(AuthError::Incomplete(format!(
                "header {name} appears more than once"
            )));
        }
        Ok(first)
    }
}

impl fmt::Debug for RequestParts<'_> {
    // Bodies and query strings can carry secret values, so Debug prints only sizes and header
    // names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("raw_query_len", &self.raw_query.len())
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a request could not be authenticated.
///
/// The variants say what went wrong in terms a dialect can map onto its cloud's error codes;
/// none of them carries secret material. (`SignatureMismatch` carries the string to sign, which
/// some SDKs need in the error message; it only repeats what the client itself sent.)
#[derive(thiserror::Error)]
pub enum AuthError {
    /// The request lacks a usable signature: no signature at all, an unsupported scheme or
    /// algorithm, a malformed `Authorization` header, or a required signed part missing.
    #[error("incomplete signature: {0}")]
    Incomplete(String),
    /// The same parameter name appears twice (in the query, the body, or both).
    #[error("parameter {0} appears more than once")]
    DuplicateParameter(String),
    /// A parameter name or value is not valid percent/form encoding, or not UTF-8 once decoded.
    #[error("malformed parameter encoding: {0}")]
    BadEncoding(String),
    /// The request timestamp is present but not in the format the scheme requires.
    #[error("timestamp is not well formatted")]
    BadTimestampFormat,
    /// The body does not hash to the digest the client signed (`x-acs-content-sha256`,
    /// `X-Sdk-Content-Sha256`).
    #[error("content digest does not match the body")]
    ContentHashMismatch,
    /// The signature is well formed but was not made with the secret we hold.
    ///
    /// `string_to_sign` is what the server computed; Alibaba's generation-1 SDK expects to find
    /// it after a `:` in the error message and compares it with its own.
    // Display leaves the string out so that logging the error never copies request values
    // (which may include a secret being stored) into logs.
    #[error("signature does not match")]
    SignatureMismatch {
        /// The string to sign as computed by the server.
        string_to_sign: String,
    },
    /// The request authenticated, but its parameters cannot be read: a body that is not a JSON
    /// object, or flattened parameter names that do not rebuild into one. Returned only by
    /// accessors meant to be called after verification (`tencent::TencentRequest::params`), so
    /// that a forged request is answered with an authentication error first. The text
    /// describes the problem without quoting request values.
    #[error("malformed request parameters: {0}")]
    BadBody(String),
    /// A cryptographic primitive refused its input. Not reachable with the algorithms used here
    /// (HMAC accepts keys of any length); it exists so that no code path needs to panic.
    #[error("internal signing error")]
    Internal,
}

impl fmt::Debug for AuthError {
    // Hand-written so that `{:?}` of a mismatch does not dump the string to sign (see above).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete(r) => f.debug_tuple("Incomplete").field(r).finish(),
            Self::DuplicateParameter(n) => f.debug_tuple("DuplicateParameter").field(n).finish(),
            Self::BadEncoding(r) => f.debug_tuple("BadEncoding").field(r).finish(),
            Self::BadTimestampFormat => f.write_str("BadTimestampFormat"),
            Self::ContentHashMismatch => f.write_str("ContentHashMismatch"),
            Self::SignatureMismatch { string_to_sign } => f
                .debug_struct("SignatureMismatch")
                .field("string_to_sign_len", &string_to_sign.len())
                .finish(),
            Self::BadBody(r) => f.debug_tuple("BadBody").field(r).finish(),
            Self::Internal => f.write_str("Internal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_header_rejects_repeats_and_ignores_case() {
        let headers = vec![
            ("x-a".to_string(), "1".to_string()),
            ("X-B".to_string(), "2".to_string()),
            ("x-a".to_string(), "3".to_string()),
        ];
        let req = RequestParts {
            method: "GET",
            raw_query: "",
            headers: &headers,
            body: b"",
        };
        assert!(matches!(
            req.single_header("x-a"),
            Err(AuthError::Incomplete(_))
        ));
        assert_eq!(req.single_header("x-b").ok().flatten(), Some("2"));
        assert_eq!(req.single_header("x-c").ok().flatten(), None);
        assert_eq!(req.header_values("X-A").collect::<Vec<_>>(), vec!["1", "3"]);
    }

    #[test]
    fn debug_output_hides_values() {
        let e = AuthError::SignatureMismatch {
            string_to_sign: "POST&%2F&SecretData%3Dhunter2".into(),
        };
        assert!(!format!("{e:?}").contains("hunter2"));
        assert!(!format!("{e}").contains("hunter2"));
        let headers = vec![("x-secret".to_string(), "hunter2".to_string())];
        let req = RequestParts {
            method: "POST",
            raw_query: "SecretData=hunter2",
            headers: &headers,
            body: b"hunter2",
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }
}
