//! Huawei Cloud SDK-HMAC-SHA256 request signatures (CSMS v1, as `huaweicloudsdkcore` signs).
//!
//! Every request carries
//! `Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2;...>, Signature=<hex>` and
//! `X-Sdk-Date: YYYYMMDDTHHMMSSZ`. The signature is an HMAC-SHA256, keyed with the raw secret
//! key, over
//!
//! ```text
//! SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex SHA-256 of the canonical request>
//! ```
//!
//! where the canonical request is, joined by `\n`: the method; the canonical URI (the path
//! percent-decoded **as a whole**, split on `/`, each segment RFC 3986-encoded, always ending
//! in `/`); the canonical query (pairs decoded, sorted by name then value, re-encoded); one
//! `name:value\n` line per signed header (value trimmed, Host with its port as received); the
//! `SignedHeaders` list; the hex SHA-256 of the body (or the literal `X-Sdk-Content-Sha256`
//! value).
//!
//! [`parse`] does everything that needs no secret: it checks the structure, reads the date,
//! project, domain and token headers and builds the string to sign. The caller looks up the
//! secret for [`HuaweiRequest::access_key_id`] and calls [`HuaweiRequest::verify`].
//!
//! What `verify` does **not** do, on purpose:
//! - **The 15-minute clock window** ([`SKEW_WINDOW_SECS`]). It needs the server's clock, which
//!   this crate does not own; the dialect calls [`crate::skew::within_window`] with
//!   [`HuaweiRequest::timestamp`].
//! - **The project check.** [`HuaweiRequest::project_id`] (signed whenever present) must equal
//!   the `{project_id}` path segment and belong to the key's account; a path holding the literal
//!   `%7Bproject_id%7D` comes from a client built without a project id.
//! - **Tokens.** `X-Security-Token` is only reported ([`HuaweiRequest::security_token`]);
//!   coffer issues no temporary credentials, so the dialect refuses any token.
//! - **Replay protection.** The scheme has no nonce; a captured request can be replayed
//!   within the window, as at Huawei.
//!
//! Things a dialect must know because the signature does not pin them down (Huawei's design):
//! - **The path is signed in decoded form.** `/a%2Fb`, `/a/b`, `/a/b/` and `/a%2Db` vs `/a-b`
//!   all have the same canonical URI. Route on the raw path split on `/` and decoded per
//!   segment (the SDK encodes `/` inside a value as `%2F`), and never treat a trailing `/` as
//!   meaningful.
//! - **The query is signed in decoded form**, `+` being a literal plus (the SDK never sends `+`
//!   for space). [`HuaweiRequest::query_pairs`] gives the pairs exactly as signed; a dialect
//!   that decodes `+` as space would read values the client did not sign.
//! - Headers outside `SignedHeaders` are unsigned, and with `X-Sdk-Content-Sha256:
//!   UNSIGNED-PAYLOAD` so is the body ([`HuaweiRequest::unsigned_payload`]). The SDK uses that
//!   only for non-JSON content types, never for CSMS; a dialect may refuse it.
//!
//! Coffer decisions, stricter than Huawei's SDK requires (the SDK always satisfies them):
//! `host` and `x-sdk-date` must be signed; `SignedHeaders` must be lower-case and sorted; a
//! signed header must appear exactly once; `X-Project-Id`, `X-Domain-Id` and
//! `X-Security-Token` must be signed when present (their values are handed to the dialect);
//! a path or query with a broken `%` escape or invalid UTF-8 is refused rather than decoded
//! leniently as Python would; a path that decodes to a `%` is refused (no name contains one,
//! and it would let the Node.js SDK's reading of a path meet the canonical one, see
//! [`HuaweiRequest::verify`]); the method is signed as received (HTTP methods are
//! case-sensitive, so a lower-case method never verifies); an `X-Sdk-Content-Sha256` that is
//! neither `UNSIGNED-PAYLOAD` nor the body's SHA-256 is [`AuthError::ContentHashMismatch`].

mod sign;

use std::fmt;

use subtle::ConstantTimeEq;

pub use sign::{
    format_sdk_date, request_headers, sign, sign_as_node, ALGORITHM, CONTENT_TYPE_JSON_BODY,
    CONTENT_TYPE_NO_BODY, UNSIGNED_PAYLOAD,
};

use crate::encoding::percent_decode;
use crate::hmac_request::keyed_mac_cached;
use crate::{AuthError, RequestParts};

/// Huawei's API gateway rejects requests whose `X-Sdk-Date` is more than 15 minutes from
/// server time. Checked by the dialect, not by [`HuaweiRequest::verify`].
pub const SKEW_WINDOW_SECS: i64 = 15 * 60;

/// A request whose signature has been parsed (not yet verified).
pub struct HuaweiRequest {
    /// The access key id, from `Access=`.
    pub access_key_id: String,
    /// Unix seconds of `X-Sdk-Date` (UTC).
    pub timestamp: i64,
    /// `X-Project-Id`, trimmed; always signed when present.
    pub project_id: Option<String>,
    /// `X-Domain-Id`, trimmed; always signed when present.
    pub domain_id: Option<String>,
    /// `X-Security-Token` (temporary credentials), trimmed; always signed when present.
    pub security_token: Option<String>,
    /// The `SignedHeaders` names, lower-case and sorted.
    pub signed_headers: Vec<String>,
    /// True when `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` took the body out of the signature.
    pub unsigned_payload: bool,
    query: Vec<(String, String)>,
    canonical_request: String,
    string_to_sign: String,
    /// When the path holds escapes: the string to sign with the path encoded the way the
    /// Node.js SDK signs it (see [`HuaweiRequest::verify`]), if that differs.
    node_string_to_sign: Option<String>,
    mac: [u8; 32],
}

impl HuaweiRequest {
    /// Checks the signature against `secret_key` (the raw secret key bytes), in constant time.
    ///
    /// Two canonical URIs are accepted, each only when the signature proves the secret key
    /// over the request as that SDK canonicalises it: the canonical one (the Python SDK,
    /// `huaweicloudsdkcore`: the path decoded, each segment encoded once), tried first; then,
    /// only when it fails and the path holds a `%` escape or a `'`, `|` or `^`, the Node.js
    /// SDK's (`@huaweicloud/huaweicloud-sdk-core` 3.x, `auth/AKSKSigner.js`), which encodes the
    /// already-escaped path once more (`two%20words` is signed as `two%2520words`), and only
    /// for a request that does not sign `User-Agent` (the Node SDK never does, the Python SDK
    /// always does). Each reading decodes to the segments the dialect routes on, and the two
    /// cannot meet: a Node reading that differs from the canonical one holds a `%25`, which a
    /// canonical reading holds only for a path that decodes to a `%`, refused by [`parse`].
    /// Everything else (method, query, headers, body hash, date) is canonicalised alike by
    /// both SDKs.
    ///
    /// Does not look at the clock: see the module documentation. The mismatch error carries the
    /// server's string to sign (it only repeats what the client sent).
    pub fn verify(&self, secret_key: &[u8]) -> Result<(), AuthError> {
        // The secret keys the MAC; its keyed state is remembered per access key.
        let mac = |sts: &str| keyed_mac_cached(&self.access_key_id, b"", secret_key, &[], sts);
        let want = mac(&self.string_to_sign);
        let mut ok = bool::from(want.ct_eq(&self.mac));
        if !ok {
            if let Some(node) = &self.node_string_to_sign {
                let want = mac(node);
                ok = bool::from(want.ct_eq(&self.mac));
            }
        }
        if ok {
            Ok(())
        } else {
            Err(AuthError::SignatureMismatch {
                string_to_sign: self.string_to_sign.clone(),
            })
        }
    }

    /// The string to sign the server computed.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The canonical request the server computed (for diagnostics and tests; it contains
    /// signed header values and the body hash, never the body).
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }

    /// The query parameters, percent-decoded (`+` stays a plus), in wire order: exactly what
    /// the signature covers. Repeated names are kept (the SDK sends list parameters that way).
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }
}

impl fmt::Debug for HuaweiRequest {
    // Tokens are credentials and query values may be secret: neither is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HuaweiRequest")
            .field("access_key_id", &self.access_key_id)
            .field("timestamp", &self.timestamp)
            .field("project_id", &self.project_id)
            .field("domain_id", &self.domain_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("signed_headers", &self.signed_headers)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("query_len", &self.query.len())
            .finish_non_exhaustive()
    }
}

/// Parses and structurally checks a request signed with SDK-HMAC-SHA256.
///
/// `path` is the request path exactly as received: percent-encoded, without the query.
///
/// Errors: [`AuthError::Incomplete`] for a missing or malformed signature (no or a garbled
/// `Authorization`, another algorithm, `host` or `x-sdk-date` not signed, a signed header
/// absent or repeated, `X-Project-Id` / `X-Domain-Id` / `X-Security-Token` present but unsigned,
/// a method that is not an upper-case token); [`AuthError::BadTimestampFormat`] for an
/// `X-Sdk-Date` not in `YYYYMMDDTHHMMSSZ` form; [`AuthError::BadEncoding`] for a path that does
/// not start with `/` or a path or query with a broken escape or invalid UTF-8;
/// [`AuthError::ContentHashMismatch`] for an `X-Sdk-Content-Sha256` that does not match the
/// body. Never looks at the clock.
pub fn parse(req: &RequestParts<'_>, path: &str) -> Result<HuaweiRequest, AuthError> {
    let authorization = req
        .single_header("authorization")?
        .ok_or_else(|| AuthError::Incomplete("no Authorization header".into()))?;
    let auth = parse_authorization(authorization)?;

    let valid_method = !req.method.is_empty()
        && req
            .method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !valid_method {
        return Err(AuthError::Incomplete("unsupported HTTP method".into()));
    }

    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        match req.single_header(name)? {
            Some(value) => signed.push((*name, value)),
            None => {
                return Err(AuthError::Incomplete(format!(
                    "signed header {name} is not present"
                )))
            }
        }
    }
    let signed_value = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| sign::py_strip(v))
    };

    // x-sdk-date is required in SignedHeaders, so it is present here; the text as received
    // (strict format, so equal to what the SDK re-formats) goes into the string to sign.
    let date_text = signed_value("x-sdk-date")
        .ok_or_else(|| AuthError::Incomplete("header X-Sdk-Date is missing".into()))?;
    let timestamp = parse_sdk_date(date_text)?;

    // Values handed to the dialect must be covered by the signature.
    let exposed = |name: &str| -> Result<Option<String>, AuthError> {
        match req.single_header(name)? {
            None => Ok(None),
            Some(_) => match signed_value(name) {
                Some(v) => Ok(Some(v.to_owned())),
                None => Err(AuthError::Incomplete(format!(
                    "header {name} must be signed"
                ))),
            },
        }
    };
    let project_id = exposed("x-project-id")?;
    let domain_id = exposed("x-domain-id")?;
    let security_token = exposed("x-security-token")?;

    // The SDK uses X-Sdk-Content-Sha256 literally whenever it is present (even with an empty
    // body), and the hex SHA-256 of the body otherwise.
    let (payload_hash, unsigned_payload) = match req.single_header("x-sdk-content-sha256")? {
        None => (sign::sha256_hex(req.body), false),
        Some(v) => {
            let v = sign::py_strip(v);
            if v == UNSIGNED_PAYLOAD {
                (v.to_owned(), true)
            } else if v.eq_ignore_ascii_case(&sign::sha256_hex(req.body)) {
                (v.to_owned(), false)
            } else {
                return Err(AuthError::ContentHashMismatch);
            }
        }
    };

    if !path.starts_with('/') {
        return Err(AuthError::BadEncoding("path must start with '/'".into()));
    }
    let decoded_path = percent_decode(path.as_bytes(), "path")?;
    // A decoded `%` is what would let one string to sign read as two paths: the canonical
    // reading of `two%2520words` is the Node.js reading of `two%20words`. No CSMS or KMS name
    // may contain a `%`, so such a path names nothing, and refusing it keeps the readings apart.
    if decoded_path.contains('%') {
        return Err(AuthError::BadEncoding(
            "the path decodes to a '%', which no name may contain".into(),
        ));
    }
    let canonical_uri = sign::canonical_uri(&decoded_path);
    let mut query = Vec::new();
    for (k, v) in sign::split_query(req.raw_query) {
        query.push((
            percent_decode(k.as_bytes(), "query")?,
            percent_decode(v.as_bytes(), "query")?,
        ));
    }
    let canonical_query = sign::canonical_query(&query);

    let canonical_request = sign::canonical_request(
        req.method,
        &canonical_uri,
        &canonical_query,
        &signed,
        &payload_hash,
    );
    let string_to_sign = sign::string_to_sign(date_text, &canonical_request);
    // The Node.js SDK never signs its User-Agent (it is added after signing) and the Python
    // SDK always does: a request that signs one was not made by the Node SDK, so a Python
    // signature is never read the Node way.
    let node_string_to_sign = (path.bytes().any(|b| b"%'|^".contains(&b))
        && !auth.signed_headers.contains(&"user-agent"))
    .then(|| sign::node_canonical_uri(path))
    .filter(|node_uri| *node_uri != canonical_uri)
    .map(|node_uri| {
        let node_request = sign::canonical_request(
            req.method,
            &node_uri,
            &canonical_query,
            &signed,
            &payload_hash,
        );
        sign::string_to_sign(date_text, &node_request)
    });

    Ok(HuaweiRequest {
        access_key_id: auth.access_key_id.to_owned(),
        timestamp,
        project_id,
        domain_id,
        security_token,
        signed_headers: auth
            .signed_headers
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
        unsigned_payload,
        query,
        canonical_request,
        string_to_sign,
        node_string_to_sign,
        mac: auth.signature,
    })
}

struct Authorization<'a> {
    access_key_id: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

/// RFC 9110 token characters, upper case excluded (SignedHeaders names are lower-case).
fn is_lower_tchar(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let [access, signed, signature] = crate::hmac_request::authorization_fields(
        value,
        ALGORITHM,
        ["Access", "SignedHeaders", "Signature"],
    )?;

    if access.is_empty() || !access.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::Incomplete("malformed Access".into()));
    }
    let mut mac = [0u8; 32];
    hex::decode_to_slice(signature, &mut mac).map_err(|_| {
        AuthError::Incomplete("Authorization Signature is not 64 hex digits".into())
    })?;

    let mut signed_headers: Vec<&str> = Vec::new();
    for name in signed.split(';') {
        if name.is_empty() || !name.bytes().all(is_lower_tchar) {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be lower-case header names separated by ';'".into(),
            ));
        }
        // The SDK sorts the names; requiring strict order also rules out repeats.
        if signed_headers.last().is_some_and(|prev| *prev >= name) {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be sorted and unique".into(),
            ));
        }
        signed_headers.push(name);
    }
    // Without these the date window and the host binding would mean nothing; the SDK always
    // signs both.
    for must in ["host", "x-sdk-date"] {
        if !signed_headers.contains(&must) {
            return Err(AuthError::Incomplete(format!(
                "header {must} must be signed"
            )));
        }
    }
    Ok(Authorization {
        access_key_id: access,
        signed_headers,
        signature: mac,
    })
}

/// `YYYYMMDDTHHMMSSZ` (UTC, `%Y%m%dT%H%M%SZ`) to Unix seconds; exactly that shape, a real
/// calendar date and a time of day (no leap second).
pub(crate) fn parse_sdk_date(s: &str) -> Result<i64, AuthError> {
    let b = s.as_bytes();
    let shape = b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(AuthError::BadTimestampFormat);
    }
    // All digits: the parses cannot fail, but stay total anyway.
    let num = |from: usize, to: usize| -> Result<u16, AuthError> {
        s.get(from..to)
            .and_then(|d| d.parse().ok())
            .ok_or(AuthError::BadTimestampFormat)
    };
    let small = |from: usize, to: usize| -> Result<u8, AuthError> {
        u8::try_from(num(from, to)?).map_err(|_| AuthError::BadTimestampFormat)
    };
    let month = time::Month::try_from(small(4, 6)?).map_err(|_| AuthError::BadTimestampFormat)?;
    let date = time::Date::from_calendar_date(i32::from(num(0, 4)?), month, small(6, 8)?)
        .map_err(|_| AuthError::BadTimestampFormat)?;
    let time = time::Time::from_hms(small(9, 11)?, small(11, 13)?, small(13, 15)?)
        .map_err(|_| AuthError::BadTimestampFormat)?;
    Ok(time::PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests;
