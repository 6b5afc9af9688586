//! AWS Signature Version 4 request signatures, header form (`AWS4-HMAC-SHA256`), as botocore
//! signs for every service except S3.
//!
//! Every request carries
//! `Authorization: AWS4-HMAC-SHA256 Credential=<AK>/<YYYYMMDD>/<region>/<service>/aws4_request,
//! SignedHeaders=<h1;h2;...>, Signature=<hex>` and `X-Amz-Date: YYYYMMDDTHHMMSSZ` (or, without
//! it, a `Date` header). The signature is an HMAC-SHA256 over
//!
//! ```text
//! AWS4-HMAC-SHA256\n<YYYYMMDDTHHMMSSZ>\n<YYYYMMDD>/<region>/<service>/aws4_request\n<hex SHA-256 of the canonical request>
//! ```
//!
//! keyed with `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
//! The canonical request is, joined by `\n`: the method; the canonical URI (the path **as
//! received**, each `/`-separated segment RFC 3986-encoded again, so `%20` becomes `%2520`: the
//! double encoding botocore applies to every service but S3; an empty path is `/`); the
//! canonical query (pairs decoded, re-encoded, sorted by encoded name then encoded value); one
//! `name:value\n` line per signed header (lower-case name; value trimmed with inner whitespace
//! runs collapsed to one space; the values of a repeated header joined with `,` in wire order);
//! the `SignedHeaders` list; the hex SHA-256 of the body (or the `X-Amz-Content-SHA256` value
//! when present).
//!
//! [`parse`] does everything that needs no secret: it checks the structure, reads the date and
//! token headers and builds the string to sign. The caller looks up the secret for
//! [`SigV4Request::access_key_id`] and calls [`SigV4Request::verify`]. [`sign`] is the client
//! side; what it produces, `parse` + `verify` accept.
//!
//! What `verify` does **not** do, on purpose:
//! - **The clock window** ([`SKEW_WINDOW_SECS`]): the dialect calls
//!   [`crate::skew::within_window`] with [`SigV4Request::timestamp`].
//! - **The scope.** [`SigV4Request::region`] and [`SigV4Request::service`] are whatever the
//!   client put in its credential scope (they are in the string to sign, so they are
//!   authentic); the dialect checks the service (`coffer`, `secretsmanager`) and decides which
//!   regions it answers to.
//! - **Tokens.** `X-Amz-Security-Token` is only reported ([`SigV4Request::security_token`]);
//!   a dialect that issues no temporary credentials refuses any token.
//! - **Replay protection.** The scheme has no nonce; a captured request can be replayed within
//!   the window, as at AWS.
//!
//! Things a dialect must know because the signature does not pin them down:
//! - **The path is signed in its encoded form**, so `/a%2Fb` and `/a/b`, or `%41` and `A`, are
//!   different canonical URIs: route on exactly the path that was verified, split on `/` and
//!   decoded per segment. A decoded segment may be `.` or `..` (sent as `%2E%2E`): treat it as
//!   a name, never as a path step.
//! - **The query is decoded as a form**: `+` is a space, as botocore sends it when a request
//!   is built from `params` (and as other AWS servers read it). [`SigV4Request::query_pairs`]
//!   gives the pairs exactly as signed; read parameters from there.
//! - Headers outside `SignedHeaders` are unsigned, and with `X-Amz-Content-SHA256:
//!   UNSIGNED-PAYLOAD` so is the body ([`SigV4Request::unsigned_payload`]); botocore does that
//!   only over HTTPS for operations that disable payload signing. A dialect may refuse it.
//!
//! Coffer decisions, stricter than AWS (botocore always satisfies them):
//! - `SignedHeaders` must contain `host`, be lower-case and sorted without repeats; every
//!   signed header must be present.
//! - `Authorization`, `Host`, `X-Amz-Date`, `Date`, `X-Amz-Security-Token` and
//!   `X-Amz-Content-SHA256` must not be repeated; `X-Amz-Security-Token` must be signed when
//!   present (AWS lets some services take it unsigned).
//! - The path is not normalised: one with empty, `.` or `..` segments (`//a`, `/a/./b`,
//!   `/a/../b`) is refused, where AWS would remove them before signing. A path or query with a
//!   broken `%` escape or invalid UTF-8 is refused too.
//! - The method is signed as received and must be an upper-case token.
//! - The credential date must be the date of `X-Amz-Date`; otherwise the request is
//!   [`AuthError::Incomplete`] before any key lookup.

use std::borrow::Cow;
use std::fmt;

use subtle::ConstantTimeEq;
use time::macros::format_description;

use crate::encoding::{form_decode, percent_decode, percent_encode, percent_encode_into};
use crate::hmac_request::{keyed_mac_cached, scoped_mac, sha256_hex};
use crate::huawei::format_sdk_date as format_amz_date;
use crate::{AuthError, RequestParts};

/// The algorithm name in `Authorization` and the first line of the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fixed last element of a credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// Value of `X-Amz-Content-SHA256` that takes the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// AWS services (other than S3, which allows 15 minutes) answer `Signature expired` when the
/// request time is more than five minutes from theirs. Checked by the dialect, not by
/// [`SigV4Request::verify`].
pub const SKEW_WINDOW_SECS: i64 = 5 * 60;

/// Headers whose two copies could be read two ways; refused when repeated, signed or not.
const SINGLE_HEADERS: [&str; 6] = [
    "authorization",
    "host",
    "x-amz-date",
    "date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// A request whose signature has been parsed (not yet verified).
pub struct SigV4Request {
    /// The access key id, the first element of `Credential=`.
    pub access_key_id: String,
    /// The region of the credential scope, as the client wrote it.
    pub region: String,
    /// The service of the credential scope (`coffer`, `secretsmanager`, ...).
    pub service: String,
    /// Unix seconds of `X-Amz-Date` (or of `Date` when there is no `X-Amz-Date`), UTC.
    pub timestamp: i64,
    /// `X-Amz-Security-Token`, trimmed; always signed when present.
    pub security_token: Option<String>,
    /// The `SignedHeaders` names, lower-case and sorted.
    pub signed_headers: Vec<String>,
    unsigned_payload: bool,
    /// `X-Amz-Content-SHA256` is present, not `UNSIGNED-PAYLOAD`, and not the body's digest.
    content_hash_mismatch: bool,
    scope_date: String,
    query: Vec<(String, String)>,
    canonical_request: String,
    string_to_sign: String,
    mac: [u8; 32],
}

impl SigV4Request {
    /// Checks the request against `secret_key` (the raw secret access key bytes).
    ///
    /// [`AuthError::ContentHashMismatch`] when an `X-Amz-Content-SHA256` digest does not match
    /// the body; otherwise the signature is compared in constant time and a mismatch is
    /// [`AuthError::SignatureMismatch`] carrying the server's string to sign (it only repeats
    /// what the client sent). Does not look at the clock: see the module documentation.
    pub fn verify(&self, secret_key: &[u8]) -> Result<(), AuthError> {
        if self.content_hash_mismatch {
            return Err(AuthError::ContentHashMismatch);
        }
        // The scoped key is the server's own derivation, remembered per key and scope.
        let want = keyed_mac_cached(
            &self.access_key_id,
            b"AWS4",
            secret_key,
            &[&self.scope_date, &self.region, &self.service, TERMINATOR],
            &self.string_to_sign,
        );
        if bool::from(want.ct_eq(&self.mac)) {
            Ok(())
        } else {
            Err(AuthError::SignatureMismatch {
                string_to_sign: self.string_to_sign.clone(),
            })
        }
    }

    /// True when `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` took the body out of the signature.
    pub fn unsigned_payload(&self) -> bool {
        self.unsigned_payload
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

    /// The query parameters, form-decoded (`+` is a space), in wire order: exactly what the
    /// signature covers. Repeated names are kept.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }
}

impl fmt::Debug for SigV4Request {
    // Tokens are credentials and query values may be secret: neither is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Request")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("timestamp", &self.timestamp)
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

/// Parses and structurally checks a request signed with AWS4-HMAC-SHA256 in `Authorization`.
///
/// `path` is the request path exactly as received: percent-encoded, without the query (an
/// empty path counts as `/`).
///
/// Errors: [`AuthError::Incomplete`] for a missing or malformed signature (no or a garbled
/// `Authorization`, another algorithm, a credential scope not ending in `aws4_request` or
/// dated otherwise than the request, `host` not signed, a signed header absent, a repeated
/// security-relevant header, an unsigned `X-Amz-Security-Token`, no `X-Amz-Date` or `Date`, a
/// method that is not an upper-case token); [`AuthError::BadTimestampFormat`] for an
/// `X-Amz-Date` not in `YYYYMMDDTHHMMSSZ` form (or a `Date` in neither that nor the HTTP
/// form); [`AuthError::BadEncoding`] for a path that does not start with `/` or is not
/// normalised, or a path or query with a broken escape or invalid UTF-8. Never looks at the
/// clock. A wrong `X-Amz-Content-SHA256` is reported by [`SigV4Request::verify`].
pub fn parse(req: &RequestParts<'_>, path: &str) -> Result<SigV4Request, AuthError> {
    let authorization = req
        .single_header("authorization")?
        .ok_or_else(|| AuthError::Incomplete("no Authorization header".into()))?;
    let auth = parse_authorization(authorization)?;
    let canonical = canonicalize(req, path, &auth.signed_headers)?;
    if !canonical.amz_date.starts_with(auth.date) {
        return Err(AuthError::Incomplete(
            "Credential date is not the date of the request".into(),
        ));
    }
    let security_token = match req.single_header("x-amz-security-token")? {
        None => None,
        Some(_) if !auth.signed_headers.contains(&"x-amz-security-token") => {
            return Err(AuthError::Incomplete(
                "header x-amz-security-token must be signed".into(),
            ))
        }
        Some(v) => Some(v.trim().to_owned()),
    };
    let string_to_sign = string_to_sign(
        &canonical.amz_date,
        auth.date,
        auth.region,
        auth.service,
        &canonical.request,
    );
    Ok(SigV4Request {
        access_key_id: auth.access_key_id.to_owned(),
        region: auth.region.to_owned(),
        service: auth.service.to_owned(),
        timestamp: canonical.timestamp,
        security_token,
        signed_headers: auth
            .signed_headers
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
        unsigned_payload: canonical.unsigned_payload,
        content_hash_mismatch: canonical.content_hash_mismatch,
        scope_date: auth.date.to_owned(),
        query: canonical.query,
        canonical_request: canonical.request,
        string_to_sign,
        mac: auth.signature,
    })
}

/// Client side: signs a request the way botocore's `SigV4Auth` does, in place.
///
/// - `method`: sent and signed as given; must be upper case.
/// - `path`: the request path as it goes on the wire (percent-encoded, no query); it must
///   start with `/` and have no empty, `.` or `..` segments (a trailing `/` is fine).
/// - `raw_query`: the query as it goes on the wire, without `?`; it is decoded as a form and
///   re-encoded for the signature, so any order and any valid encoding signs the same.
///   [`crate::encoding::encode_query`] builds one.
/// - `headers`: the request's headers, names in lower case; it must hold `host` exactly as
///   it will be sent (port included). Any `authorization` and `x-amz-date` are replaced, and
///   `x-amz-date` (from `timestamp`, UTC) plus `x-amz-content-sha256` (the body's hex SHA-256,
///   unless the list already says `UNSIGNED-PAYLOAD`) are added before signing; then
///   **every** header in the list is signed and `authorization` is appended. Add
///   `x-amz-security-token` to the list first when signing with temporary credentials. Send
///   exactly these headers; the HTTP stack may add others (they are unsigned).
/// - `region`, `service`: the credential scope, e.g. any region and `coffer`.
///
/// Errors (the list is left unchanged): [`AuthError::Incomplete`] when `host` is missing or a
/// header the server refuses to see twice is repeated, a header name is not a valid token,
/// the method is not an upper-case token, or the access key, region or service is empty or
/// contains `/`, `,`, `=`, `;`, whitespace or non-ASCII; [`AuthError::BadEncoding`] for a path or query the
/// server would refuse (see [`parse`]). Unix seconds outside the years 1970..=9999 are clamped.
#[allow(clippy::too_many_arguments)] // one argument per part of the request that is signed
pub fn sign(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    access_key_id: &str,
    secret_key: &[u8],
    region: &str,
    service: &str,
    timestamp: i64,
) -> Result<(), AuthError> {
    for (what, value) in [
        ("access key id", access_key_id),
        ("region", region),
        ("service", service),
    ] {
        if !is_scope_element(value) {
            return Err(AuthError::Incomplete(format!("unusable {what}")));
        }
    }
    let unsigned_payload = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("x-amz-content-sha256") && v.trim() == UNSIGNED_PAYLOAD
    });
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            !(n.eq_ignore_ascii_case("authorization")
                || n.eq_ignore_ascii_case("x-amz-date")
                || (!unsigned_payload && n.eq_ignore_ascii_case("x-amz-content-sha256")))
        })
        .cloned()
        .collect();
    out.push(("x-amz-date".to_owned(), format_amz_date(timestamp)));
    if !unsigned_payload {
        out.push(("x-amz-content-sha256".to_owned(), sha256_hex(body)));
    }

    let mut names: Vec<String> = out.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    if let Some(bad) = names.iter().find(|n| !is_header_name(n)) {
        return Err(AuthError::Incomplete(format!(
            "header name {bad:?} cannot be signed"
        )));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !names.contains(&"host") {
        return Err(AuthError::Incomplete("no host header to sign".into()));
    }

    let req = RequestParts {
        method,
        raw_query,
        headers: &out,
        body,
    };
    let canonical = canonicalize(&req, path, &names)?;
    let date = canonical.amz_date.get(..8).unwrap_or_default();
    let sts = string_to_sign(
        &canonical.amz_date,
        date,
        region,
        service,
        &canonical.request,
    );
    let signature = mac(secret_key, date, region, service, &sts);
    out.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={access_key_id}/{date}/{region}/{service}/{TERMINATOR}, \
             SignedHeaders={}, Signature={}",
            names.join(";"),
            hex::encode(signature)
        ),
    ));
    *headers = out;
    Ok(())
}

// ------------------------------------------------------------------------- canonical request

/// What the canonical request of a request is, given its signed header names.
struct Canonical {
    request: String,
    /// `YYYYMMDDTHHMMSSZ` of the request time, the second line of the string to sign.
    amz_date: String,
    timestamp: i64,
    unsigned_payload: bool,
    content_hash_mismatch: bool,
    query: Vec<(String, String)>,
}

/// Builds the canonical request of `req` over the `signed` header names (lower-case, sorted,
/// unique, `host` among them). Shared by [`parse`] and [`sign`], so that the two cannot drift.
fn canonicalize(
    req: &RequestParts<'_>,
    path: &str,
    signed: &[&str],
) -> Result<Canonical, AuthError> {
    let valid_method = !req.method.is_empty()
        && req
            .method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !valid_method {
        return Err(AuthError::Incomplete("unsupported HTTP method".into()));
    }
    for name in SINGLE_HEADERS {
        req.single_header(name)?;
    }

    // AWS takes the time from X-Amz-Date and falls back on Date only when it is absent.
    let (amz_date, timestamp) = match req.single_header("x-amz-date")? {
        Some(v) => {
            let v = v.trim();
            (v.to_owned(), parse_amz_date(v)?)
        }
        None => match req.single_header("date")? {
            Some(v) => {
                let t = parse_date_header(v.trim())?;
                (format_amz_date(t), t)
            }
            None => return Err(AuthError::Incomplete("header X-Amz-Date is missing".into())),
        },
    };

    let mut headers = Vec::with_capacity(signed.len());
    for name in signed {
        let mut values = req.header_values(name).peekable();
        if values.peek().is_none() {
            return Err(AuthError::Incomplete(format!(
                "signed header {name} is not present"
            )));
        }
        let first = values.next().map(trim_all).unwrap_or_default();
        // Nearly every header is sent once: its value goes in as it is (borrowed when it
        // needs no trimming), and only repeats are joined.
        let joined = match values.peek() {
            None => first,
            Some(_) => {
                let mut joined = first.into_owned();
                for value in values {
                    joined.push(',');
                    joined.push_str(&trim_all(value));
                }
                Cow::Owned(joined)
            }
        };
        headers.push((*name, joined));
    }

    // botocore uses X-Amz-Content-SHA256 verbatim whenever it is present, signed or not.
    let body_hash = sha256_hex(req.body);
    let (payload_hash, unsigned_payload, content_hash_mismatch) =
        match req.single_header("x-amz-content-sha256")? {
            None => (body_hash, false, false),
            Some(v) => {
                let v = v.trim();
                let unsigned = v == UNSIGNED_PAYLOAD;
                let mismatch = !unsigned && !v.eq_ignore_ascii_case(&body_hash);
                (v.to_owned(), unsigned, mismatch)
            }
        };

    let query = form_decode(req.raw_query.as_bytes(), "query")?;
    let request = crate::hmac_request::canonical_request(
        req.method,
        &canonical_uri(path)?,
        &canonical_query(&query),
        &headers,
        &payload_hash,
    );
    Ok(Canonical {
        request,
        amz_date,
        timestamp,
        unsigned_payload,
        content_hash_mismatch,
        query,
    })
}

/// CanonicalURI: each segment of the path as received RFC 3986-encoded again (`%` becomes
/// `%25`, `/` separators stay), which is botocore's `quote(path, safe='/~')` for a normalised
/// path. The path must start with `/` (empty means `/`), have no empty, `.` or `..` segment
/// except a final empty one (a trailing `/`), and every segment must decode strictly.
fn canonical_uri(path: &str) -> Result<String, AuthError> {
    if path.is_empty() {
        return Ok("/".to_owned());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(AuthError::BadEncoding("path must start with '/'".into()));
    };
    let mut out = String::with_capacity(path.len() + 8);
    if rest.is_empty() {
        out.push('/');
        return Ok(out);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.into_iter().enumerate() {
        let empty_inside = segment.is_empty() && i != last;
        if empty_inside || segment == "." || segment == ".." {
            return Err(AuthError::BadEncoding(
                "path has empty, '.' or '..' segments".into(),
            ));
        }
        percent_decode(segment.as_bytes(), "path")?;
        out.push('/');
        percent_encode_into(&mut out, segment);
    }
    Ok(out)
}

/// CanonicalQueryString from decoded pairs: each side RFC 3986-encoded, sorted by encoded
/// name then encoded value (byte order), `name=value` joined by `&`.
fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// botocore's `' '.join(value.split())`: Python whitespace (Rust's plus the C0 separators
/// U+001C..U+001F) trimmed at both ends and every inner run replaced by one space.
fn trim_all(value: &str) -> Cow<'_, str> {
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    // Already in that form (no space at either end, only single ' ' inside): as it is.
    let mut after_space = true;
    let trimmed = value.chars().all(|c| {
        let ok = !is_space(c) || (c == ' ' && !after_space);
        after_space = is_space(c);
        ok
    }) && !after_space;
    if trimmed || value.is_empty() {
        return Cow::Borrowed(value);
    }
    let joined = value
        .split(is_space)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Cow::Owned(joined)
}

// --------------------------------------------------------------------------- signature

/// `AWS4-HMAC-SHA256\n<amz date>\n<date>/<region>/<service>/aws4_request\n<hex SHA-256>`.
fn string_to_sign(
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    // `concat` sizes the string once; `format!` costs its formatting machinery per part.
    let hash = sha256_hex(canonical_request.as_bytes());
    [
        ALGORITHM, "\n", amz_date, "\n", date, "/", region, "/", service, "/", TERMINATOR, "\n",
        &hash,
    ]
    .concat()
}

/// The signature bytes: a key chain scoped to date, region and service, then one HMAC.
fn mac(
    secret_key: &[u8],
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> [u8; 32] {
    scoped_mac(
        b"AWS4",
        secret_key,
        &[date, region, service, TERMINATOR],
        string_to_sign,
    )
}

// ------------------------------------------------------------------------- Authorization

struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

/// An access key id, region or service: non-empty printable ASCII without the characters
/// that delimit the `Authorization` value (`/`, `,`, `=`, `;`).
fn is_scope_element(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"/,=;".contains(&b))
}

/// RFC 9110 token characters, upper case excluded (SignedHeaders names are lower-case).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let [credential, signed, signature] = crate::hmac_request::authorization_fields(
        value,
        ALGORITHM,
        ["Credential", "SignedHeaders", "Signature"],
    )?;

    // <AK>/<YYYYMMDD>/<region>/<service>/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::Incomplete("malformed Credential".into()));
    };
    let date_shape = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !date_shape
        || ![access_key_id, region, service]
            .into_iter()
            .all(is_scope_element)
    {
        return Err(AuthError::Incomplete("malformed Credential".into()));
    }
    if terminator != TERMINATOR {
        return Err(AuthError::Incomplete(
            "Credential scope must end in aws4_request".into(),
        ));
    }

    let mut mac = [0u8; 32];
    hex::decode_to_slice(signature, &mut mac).map_err(|_| {
        AuthError::Incomplete("Authorization Signature is not 64 hex digits".into())
    })?;

    let mut signed_headers: Vec<&str> = Vec::new();
    for name in signed.split(';') {
        if !is_header_name(name) {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be lower-case header names separated by ';'".into(),
            ));
        }
        // botocore sorts the names; requiring strict order also rules out repeats.
        if signed_headers.last().is_some_and(|prev| *prev >= name) {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be sorted and unique".into(),
            ));
        }
        signed_headers.push(name);
    }
    // Without it a signature could be moved to another host; AWS refuses such requests too.
    if !signed_headers.contains(&"host") {
        return Err(AuthError::Incomplete("header host must be signed".into()));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature: mac,
    })
}

// ------------------------------------------------------------------------------ dates

/// `YYYYMMDDTHHMMSSZ` (UTC) to Unix seconds: exactly that shape, a real calendar date and a
/// time of day (no leap second). The text goes into the string to sign as received, so it
/// must be the one spelling [`format_amz_date`] gives back.
fn parse_amz_date(s: &str) -> Result<i64, AuthError> {
    // Huawei's X-Sdk-Date has the same shape and rules; the years before 1970 are refused
    // too, as [`format_amz_date`] (which clamps) would not give them back.
    let t = crate::huawei::parse_sdk_date(s)?;
    if t < 0 {
        return Err(AuthError::BadTimestampFormat);
    }
    Ok(t)
}

/// A `Date` header: `YYYYMMDDTHHMMSSZ`, or the HTTP date `Sun, 06 Nov 1994 08:49:37 GMT`
/// with `GMT`, `+0000` or `-0000` as the zone (Python's `email.utils.formatdate`, which
/// botocore uses, writes `-0000`). The weekday must be right.
fn parse_date_header(s: &str) -> Result<i64, AuthError> {
    if !s.contains(' ') {
        return parse_amz_date(s);
    }
    let (stamp, zone) = s.rsplit_once(' ').ok_or(AuthError::BadTimestampFormat)?;
    if !matches!(zone, "GMT" | "+0000" | "-0000") {
        return Err(AuthError::BadTimestampFormat);
    }
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second]"
    );
    let t =
        time::PrimitiveDateTime::parse(stamp, format).map_err(|_| AuthError::BadTimestampFormat)?;
    // Formatting back rejects a wrong weekday and any other spelling of the same instant.
    if t.format(format).ok().as_deref() != Some(stamp) {
        return Err(AuthError::BadTimestampFormat);
    }
    let unix = t.assume_utc().unix_timestamp();
    // Before 1970 there is no X-Amz-Date spelling for it (see `format_amz_date`).
    if unix < 0 {
        return Err(AuthError::BadTimestampFormat);
    }
    Ok(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKIDEXAMPLE";
    const SK: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const T: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    /// A request signed by [`sign`], as a server receives it.
    #[derive(Clone)]
    struct Req {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Req {
        fn signed(
            method: &str,
            path: &str,
            query: &str,
            extra: &[(&str, &str)],
            body: &[u8],
        ) -> Self {
            let mut headers = vec![("host".to_string(), "coffer.test:8443".to_string())];
            headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            sign(
                method,
                path,
                query,
                &mut headers,
                body,
                AK,
                SK,
                "us-east-1",
                "coffer",
                T,
            )
            .expect("signs");
            Self {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers,
                body: body.to_vec(),
            }
        }

        fn parse(&self) -> Result<SigV4Request, AuthError> {
            let parts = RequestParts {
                method: &self.method,
                raw_query: &self.query,
                headers: &self.headers,
                body: &self.body,
            };
            parse(&parts, &self.path)
        }

        fn check(&self, secret: &[u8]) -> Result<SigV4Request, AuthError> {
            let parsed = self.parse()?;
            parsed.verify(secret)?;
            Ok(parsed)
        }

        fn header(&self, name: &str) -> String {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .expect("header present")
        }

        fn set_header(&mut self, name: &str, value: &str) {
            self.headers.retain(|(k, _)| k != name);
            self.headers.push((name.to_string(), value.to_string()));
        }

        fn remove_header(&mut self, name: &str) {
            self.headers.retain(|(k, _)| k != name);
        }
    }

    fn sample() -> Req {
        Req::signed(
            "POST",
            "/coffer/v1/accounts/a%20b",
            "limit=5&prefix=team%20a",
            &[
                ("content-type", "application/json"),
                ("x-coffer-note", "  a   b "),
            ],
            br#"{"name":"db/password"}"#,
        )
    }

    /// Re-signs `r` over every header it carries, without touching them (unlike [`sign`],
    /// which writes its own `x-amz-date` and `x-amz-content-sha256`).
    fn sign_by_hand(r: &mut Req) {
        r.remove_header("authorization");
        let mut names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let parts = RequestParts {
            method: &r.method,
            raw_query: &r.query,
            headers: &r.headers,
            body: &r.body,
        };
        let c = canonicalize(&parts, &r.path, &names).expect("canonical");
        let date = &c.amz_date[..8];
        let sts = string_to_sign(&c.amz_date, date, "us-east-1", "coffer", &c.request);
        let sig = hex::encode(mac(SK, date, "us-east-1", "coffer", &sts));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/{date}/us-east-1/coffer/aws4_request, \
             SignedHeaders={}, Signature={sig}",
            names.join(";")
        );
        r.headers.push(("authorization".into(), auth));
    }

    fn is_mismatch<T>(r: Result<T, AuthError>) -> bool {
        matches!(r, Err(AuthError::SignatureMismatch { .. }))
    }

    fn is_incomplete<T>(r: Result<T, AuthError>) -> bool {
        matches!(r, Err(AuthError::Incomplete(_)))
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let r = sample();
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "host",
                "content-type",
                "x-coffer-note",
                "x-amz-date",
                "x-amz-content-sha256",
                "authorization"
            ]
        );
        assert_eq!(r.header("x-amz-date"), "20150830T123600Z");
        assert_eq!(r.header("x-amz-content-sha256"), sha256_hex(&r.body));
        assert!(r.header("authorization").starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/coffer/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-coffer-note, \
             Signature="
        ));
        let parsed = r.check(SK).expect("verifies");
        assert_eq!(parsed.access_key_id, AK);
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.service, "coffer");
        assert_eq!(parsed.timestamp, T);
        assert_eq!(parsed.security_token, None);
        assert!(!parsed.unsigned_payload());
        let lines: Vec<&str> = parsed.canonical_request().lines().collect();
        assert_eq!(lines[0], "POST");
        assert_eq!(lines[1], "/coffer/v1/accounts/a%2520b");
        assert_eq!(lines[2], "limit=5&prefix=team%20a");
        assert!(lines.contains(&"x-coffer-note:a b"));
        assert!(parsed.string_to_sign().starts_with(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/coffer/aws4_request\n"
        ));
        assert_eq!(
            parsed.query_pairs(),
            &[
                ("limit".to_string(), "5".to_string()),
                ("prefix".to_string(), "team a".to_string())
            ]
        );
    }

    #[test]
    fn tampering_fails() {
        let good = sample();
        assert!(good.check(SK).is_ok());

        let mut r = good.clone();
        r.body[2] ^= 1;
        assert!(matches!(r.check(SK), Err(AuthError::ContentHashMismatch)));
        // Without the content-hash header the body is still covered by the signature.
        let mut r = good.clone();
        r.remove_header("x-amz-content-sha256");
        sign_by_hand(&mut r);
        assert!(r.check(SK).is_ok());
        r.body[2] ^= 1;
        assert!(is_mismatch(r.check(SK)));

        for (query, why) in [
            ("limit=6&prefix=team%20a", "value"),
            ("limit=5&prefix=team%20a&x=1", "extra pair"),
            ("limit=5", "missing pair"),
            ("limit=5&Prefix=team%20a", "name case"),
        ] {
            let mut r = good.clone();
            r.query = query.into();
            assert!(is_mismatch(r.check(SK)), "{why}");
        }
        for path in [
            "/coffer/v1/accounts/a%20c",
            "/coffer/v1/accounts/a b",
            "/coffer/v1/accounts/a%20b/",
            "/coffer/v1/accounts/a+b",
            "/coffer/v1/Accounts/a%20b",
        ] {
            let mut r = good.clone();
            r.path = path.into();
            assert!(is_mismatch(r.check(SK)), "{path}");
        }
        for (name, value) in [
            ("host", "coffer.test:8444"),
            ("content-type", "text/plain"),
            ("x-coffer-note", "a  c"),
        ] {
            let mut r = good.clone();
            r.set_header(name, value);
            assert!(is_mismatch(r.check(SK)), "{name}");
        }
        // The same date, one second later; and another method.
        let mut r = good.clone();
        r.set_header("x-amz-date", "20150830T123601Z");
        assert!(is_mismatch(r.check(SK)));
        let mut r = good.clone();
        r.method = "PUT".into();
        assert!(is_mismatch(r.check(SK)));
        // The signature itself, and the scope in the Authorization.
        let auth = good.header("authorization");
        for (from, to) in [("us-east-1", "us-east-2"), ("/coffer/", "/secretsmanager/")] {
            let mut r = good.clone();
            r.set_header("authorization", &auth.replacen(from, to, 1));
            assert!(is_mismatch(r.check(SK)), "{to}");
        }
        let flipped = {
            let mut a = auth.clone().into_bytes();
            let last = a.len() - 1;
            a[last] = if a[last] == b'0' { b'1' } else { b'0' };
            String::from_utf8(a).expect("ascii")
        };
        let mut r = good.clone();
        r.set_header("authorization", &flipped);
        assert!(is_mismatch(r.check(SK)));
        // The access key is not in the string to sign: it only selects the secret.
        let mut r = good.clone();
        r.set_header(
            "authorization",
            &auth.replacen("AKIDEXAMPLE", "AKIDOTHER", 1),
        );
        assert_eq!(r.check(SK).expect("verifies").access_key_id, "AKIDOTHER");
        // Whitespace that canonicalises away, and unsigned headers, may change.
        let mut r = good.clone();
        r.set_header("x-coffer-note", "a \t b");
        assert!(r.check(SK).is_ok());
        let mut r = good.clone();
        r.headers.push(("user-agent".into(), "anything".into()));
        assert!(r.check(SK).is_ok());
    }

    #[test]
    fn wrong_secret_fails() {
        let parsed = sample().parse().expect("parses");
        assert!(parsed.verify(SK).is_ok());
        for secret in [
            &b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz"[..],
            b"",
            b"AWS4",
        ] {
            let r = parsed.verify(secret);
            assert!(is_mismatch(r), "{secret:?}");
        }
        match parsed.verify(b"nope") {
            Err(AuthError::SignatureMismatch { string_to_sign }) => {
                assert_eq!(string_to_sign, parsed.string_to_sign());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejections() {
        let good = sample();
        let auth = good.header("authorization");

        // No Authorization, two, another algorithm, garbled.
        let mut r = good.clone();
        r.remove_header("authorization");
        assert!(is_incomplete(r.parse()));
        let mut r = good.clone();
        r.headers.push(("authorization".into(), auth.clone()));
        assert!(is_incomplete(r.parse()));
        let sig = auth.rsplit_once("Signature=").expect("sig").1.to_string();
        for bad in [
            String::new(),
            "AWS4-HMAC-SHA256".to_string(),
            auth.replacen("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1),
            auth.replacen("AWS4-HMAC-SHA256", "aws4-hmac-sha256", 1),
            auth.replacen("aws4_request", "aws4_requesT", 1),
            auth.replacen("aws4_request", "tc3_request", 1),
            auth.replacen("/aws4_request", "", 1),
            auth.replacen("/aws4_request", "/aws4_request/x", 1),
            auth.replacen("AKIDEXAMPLE/", "/", 1),
            auth.replacen("/us-east-1/", "//", 1),
            auth.replacen("20150830", "2015083", 1),
            auth.replacen(&sig, &sig[..63], 1),
            auth.replacen(&sig, &format!("{sig}0"), 1),
            auth.replacen(", Signature", ", Extra=1, Signature", 1),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/coffer/aws4_request, Signature={sig}"),
            "Basic QUtJREVYQU1QTEU6c2VjcmV0".to_string(),
        ] {
            let mut r = good.clone();
            r.set_header("authorization", &bad);
            assert!(is_incomplete(r.parse()), "{bad}");
        }

        // SignedHeaders: host missing, unsorted, repeated, upper case, empty name.
        for signed in [
            "content-type;x-amz-content-sha256;x-amz-date;x-coffer-note",
            "host;content-type;x-amz-content-sha256;x-amz-date;x-coffer-note",
            "content-type;host;host;x-amz-content-sha256;x-amz-date;x-coffer-note",
            "content-type;Host;x-amz-content-sha256;x-amz-date;x-coffer-note",
            "content-type;;host;x-amz-content-sha256;x-amz-date;x-coffer-note",
        ] {
            let mut r = good.clone();
            let a = auth.replacen(
                "content-type;host;x-amz-content-sha256;x-amz-date;x-coffer-note",
                signed,
                1,
            );
            r.set_header("authorization", &a);
            assert!(is_incomplete(r.parse()), "{signed}");
        }

        // A signed header missing from the request.
        for name in [
            "host",
            "content-type",
            "x-coffer-note",
            "x-amz-content-sha256",
        ] {
            let mut r = good.clone();
            r.remove_header(name);
            assert!(is_incomplete(r.parse()), "{name}");
        }

        // Security-relevant headers repeated (even with the same value).
        for name in ["host", "x-amz-date", "x-amz-content-sha256"] {
            let mut r = good.clone();
            let v = r.header(name);
            r.headers.push((name.to_string(), v));
            assert!(is_incomplete(r.parse()), "{name}");
        }
        for name in ["date", "x-amz-security-token"] {
            let mut r = good.clone();
            r.headers.push((name.to_string(), "x".into()));
            r.headers.push((name.to_string(), "x".into()));
            assert!(is_incomplete(r.parse()), "{name}");
        }
        // Other signed headers may repeat: their values are joined, so this is a mismatch.
        let mut r = good.clone();
        r.headers
            .push(("content-type".into(), "application/json".into()));
        assert!(is_mismatch(r.check(SK)));

        // Credential date not the request's date (the request itself re-signed for another day
        // would be fine; only the scope is changed here).
        let mut r = good.clone();
        r.set_header(
            "authorization",
            &auth.replacen("/20150830/", "/20150831/", 1),
        );
        assert!(is_incomplete(r.parse()));
        let mut r = good.clone();
        r.set_header("x-amz-date", "20150831T000000Z");
        assert!(is_incomplete(r.parse()));

        // No date at all; malformed dates.
        let mut r = good.clone();
        r.remove_header("x-amz-date");
        assert!(is_incomplete(r.parse()));
        for date in [
            "",
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20150830t123600Z",
            "20150832T123600Z",
            "20150830T243600Z",
            "1440938160",
        ] {
            let mut r = good.clone();
            r.set_header("x-amz-date", date);
            assert!(
                matches!(r.parse(), Err(AuthError::BadTimestampFormat)),
                "{date:?}"
            );
        }

        // An unsigned session token.
        let mut r = good.clone();
        r.set_header("x-amz-security-token", "tok");
        assert!(is_incomplete(r.parse()));

        // Paths that are not normalised or do not decode.
        for path in [
            "coffer/v1",
            "*",
            "//coffer/v1",
            "/coffer//v1",
            "/coffer/./v1",
            "/coffer/../v1",
            "/coffer/..",
            "/coffer/v1/%zz",
            "/coffer/v1/%C3",
        ] {
            let mut r = good.clone();
            r.path = path.into();
            assert!(
                matches!(r.parse(), Err(AuthError::BadEncoding(_))),
                "{path:?}"
            );
        }
        for q in ["a=%", "a=%4", "%zz=1", "a=%C3%28"] {
            let mut r = good.clone();
            r.query = q.into();
            assert!(matches!(r.parse(), Err(AuthError::BadEncoding(_))), "{q:?}");
        }

        // Methods that are not upper-case tokens.
        for m in ["", "post", "POST /"] {
            let mut r = good.clone();
            r.method = m.into();
            assert!(is_incomplete(r.parse()), "{m:?}");
        }
    }

    #[test]
    fn content_sha256_header() {
        // UNSIGNED-PAYLOAD is kept by sign, signed, and takes the body out.
        let mut r = Req::signed(
            "PUT",
            "/coffer/v1/secrets/x",
            "",
            &[("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
            b"{}",
        );
        assert_eq!(r.header("x-amz-content-sha256"), UNSIGNED_PAYLOAD);
        let parsed = r.check(SK).expect("verifies");
        assert!(parsed.unsigned_payload());
        assert!(parsed.canonical_request().ends_with("\nUNSIGNED-PAYLOAD"));
        r.body = b"anything else".to_vec();
        assert!(r.check(SK).is_ok());

        // A signed digest in upper case is used verbatim and still matches the body (sign
        // always writes lower case, so this one is signed by hand).
        let mut r = sample();
        let upper = r.header("x-amz-content-sha256").to_uppercase();
        r.set_header("x-amz-content-sha256", &upper);
        sign_by_hand(&mut r);
        let parsed = r.check(SK).expect("verifies");
        assert!(parsed.canonical_request().ends_with(&format!("\n{upper}")));
        r.body[0] ^= 1;
        assert!(matches!(r.check(SK), Err(AuthError::ContentHashMismatch)));

        // Anything else is a content-hash mismatch, reported by verify.
        for v in [
            "",
            "unsigned-payload",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "00",
        ] {
            let mut r = sample();
            r.set_header("x-amz-content-sha256", v);
            let parsed = r.parse().expect("parses");
            assert!(
                matches!(parsed.verify(SK), Err(AuthError::ContentHashMismatch)),
                "{v:?}"
            );
        }
    }

    #[test]
    fn session_token_is_reported_and_hidden() {
        let r = Req::signed(
            "GET",
            "/",
            "q=hunter2",
            &[("x-amz-security-token", "tok-hunter2")],
            b"",
        );
        let parsed = r.check(SK).expect("verifies");
        assert_eq!(parsed.security_token.as_deref(), Some("tok-hunter2"));
        assert!(parsed
            .signed_headers
            .contains(&"x-amz-security-token".to_string()));
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let mut r = r;
        r.set_header("x-amz-security-token", "tok-other");
        assert!(is_mismatch(r.check(SK)));
    }

    #[test]
    fn date_header_is_used_only_without_x_amz_date() {
        // botocore's Date form: no X-Amz-Date, the time in the string to sign regardless.
        let mut r = Req::signed("GET", "/coffer/v1/health", "", &[], b"");
        r.remove_header("x-amz-date");
        r.set_header("date", "Sun, 30 Aug 2015 12:36:00 -0000");
        sign_by_hand(&mut r);
        let parsed = r.check(SK).expect("verifies");
        assert_eq!(parsed.timestamp, T);
        assert!(parsed.string_to_sign().contains("\n20150830T123600Z\n"));
        assert!(parsed
            .canonical_request()
            .contains("\ndate:Sun, 30 Aug 2015 12:36:00 -0000\n"));
        // The Date text is signed like any header.
        let mut r3 = r.clone();
        r3.set_header("date", "Sun, 30 Aug 2015 12:36:00 GMT");
        assert!(is_mismatch(r3.check(SK)));

        // With X-Amz-Date present, Date is an ordinary header.
        let mut r2 = r.clone();
        r2.set_header("x-amz-date", "20150830T123601Z");
        assert!(is_mismatch(r2.check(SK)));

        assert_eq!(
            parse_date_header("Sun, 30 Aug 2015 12:36:00 GMT").ok(),
            Some(T)
        );
        assert_eq!(
            parse_date_header("Sun, 30 Aug 2015 12:36:00 -0000").ok(),
            Some(T)
        );
        assert_eq!(
            parse_date_header("Sun, 30 Aug 2015 12:36:00 +0000").ok(),
            Some(T)
        );
        assert_eq!(parse_date_header("20150830T123600Z").ok(), Some(T));
        for bad in [
            "Mon, 30 Aug 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36:00 +0100",
            "Sun, 30 Aug 2015 12:36:00",
            "Sun, 30 aug 2015 12:36:00 GMT",
            "Sun, 30 Aug 15 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36 GMT",
            "Sunday, 30-Aug-15 12:36:00 GMT",
            "Sun Aug 30 12:36:00 2015",
            "Thu, 01 Jan 1920 00:00:00 GMT",
            "",
        ] {
            assert!(
                matches!(parse_date_header(bad), Err(AuthError::BadTimestampFormat)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn amz_date_parses_strictly() {
        assert_eq!(parse_amz_date("20150830T123600Z").ok(), Some(T));
        assert_eq!(parse_amz_date("19700101T000000Z").ok(), Some(0));
        assert_eq!(parse_amz_date("20240229T120000Z").ok(), Some(1_709_208_000));
        for bad in [
            "20230229T000000Z",
            "20150830T123660Z",
            "00000101T000000Z",
            "19691231T235959Z",
            "+0150830T123600Z",
            "20150830T123600Z ",
            "２0150830T123600Z",
        ] {
            assert!(
                matches!(parse_amz_date(bad), Err(AuthError::BadTimestampFormat)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn canonical_uri_double_encodes_segments() {
        let uri = |p: &str| canonical_uri(p).ok();
        assert_eq!(uri(""), Some("/".into()));
        assert_eq!(uri("/"), Some("/".into()));
        assert_eq!(uri("/a/b/"), Some("/a/b/".into()));
        assert_eq!(uri("/a%20b/c%2Fd"), Some("/a%2520b/c%252Fd".into()));
        assert_eq!(uri("/a b/~x/é*"), Some("/a%20b/~x/%C3%A9%2A".into()));
        assert_eq!(uri("/%2E%2E/x"), Some("/%252E%252E/x".into()));
        assert_eq!(uri("/.a/a./..."), Some("/.a/a./...".into()));
    }

    #[test]
    fn canonical_query_sorts_encoded_pairs() {
        let pairs = form_decode(b"b=2&a=z+z&a=%21&A=1&flag&c=%7E~%2F", "query").expect("decodes");
        assert_eq!(
            canonical_query(&pairs),
            "A=1&a=%21&a=z%20z&b=2&c=~~%2F&flag="
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(trim_all("  a   b \t c  "), "a b c");
        assert_eq!(trim_all("\u{1c}x\u{a0}\u{3000}y"), "x y");
        assert_eq!(trim_all("\"a   b   c\""), "\"a b c\"");
        assert_eq!(trim_all(""), "");
        assert_eq!(trim_all(" a"), "a");
        assert_eq!(trim_all("a "), "a");
        assert_eq!(trim_all("a\tb"), "a b");
        // Values already in that form are not copied.
        for v in [
            "a b c",
            "20261205T000000Z",
            "x",
            "application/x-amz-json-1.1",
        ] {
            assert!(matches!(trim_all(v), Cow::Borrowed(b) if b == v), "{v}");
        }
    }

    #[test]
    fn sign_refuses_what_the_server_would() {
        let base = vec![("host".to_string(), "h".to_string())];
        let try_sign =
            |method: &str, path: &str, query: &str, headers: &[(String, String)], region: &str| {
                let mut h = headers.to_vec();
                let r = sign(
                    method, path, query, &mut h, b"", AK, SK, region, "coffer", T,
                );
                if r.is_err() {
                    assert_eq!(h, headers, "left unchanged");
                }
                r
            };
        assert!(try_sign("GET", "/", "", &base, "r").is_ok());
        assert!(is_incomplete(try_sign("GET", "/", "", &[], "r")));
        assert!(is_incomplete(try_sign("get", "/", "", &base, "r")));
        assert!(is_incomplete(try_sign("GET", "/", "", &base, "")));
        assert!(is_incomplete(try_sign("GET", "/", "", &base, "us/east")));
        assert!(is_incomplete(try_sign("GET", "/", "", &base, "us east")));
        let mut twice = base.clone();
        twice.push(("Host".into(), "h".into()));
        assert!(is_incomplete(try_sign("GET", "/", "", &twice, "r")));
        let mut bad_name = base.clone();
        bad_name.push(("x y".into(), "1".into()));
        assert!(is_incomplete(try_sign("GET", "/", "", &bad_name, "r")));
        assert!(matches!(
            try_sign("GET", "/a/../b", "", &base, "r"),
            Err(AuthError::BadEncoding(_))
        ));
        assert!(matches!(
            try_sign("GET", "/", "a=%zz", &base, "r"),
            Err(AuthError::BadEncoding(_))
        ));

        // A retry: the old authorization and date are replaced, not duplicated; header names
        // in any case are signed lower-case.
        let mut h = vec![
            ("Host".to_string(), "h".to_string()),
            ("X-Custom".to_string(), "v".to_string()),
        ];
        sign("GET", "/", "", &mut h, b"", AK, SK, "r", "coffer", T).expect("signs");
        sign("GET", "/", "", &mut h, b"", AK, SK, "r", "coffer", T + 1).expect("signs again");
        assert_eq!(h.iter().filter(|(k, _)| k == "authorization").count(), 1);
        assert_eq!(h.iter().filter(|(k, _)| k == "x-amz-date").count(), 1);
        let parts = RequestParts {
            method: "GET",
            raw_query: "",
            headers: &h,
            body: b"",
        };
        let parsed = parse(&parts, "/").expect("parses");
        assert!(parsed.verify(SK).is_ok());
        assert_eq!(parsed.timestamp, T + 1);
        assert_eq!(
            parsed.signed_headers,
            vec!["host", "x-amz-content-sha256", "x-amz-date", "x-custom"]
        );
    }

    #[test]
    fn query_plus_is_a_space() {
        // botocore's params= path sends '+' and signs %20.
        let r = Req::signed("GET", "/q", "name=a%20b", &[], b"");
        let mut plus = r.clone();
        plus.query = "name=a+b".into();
        assert!(plus.check(SK).is_ok());
        let mut literal = r;
        literal.query = "name=a%2Bb".into();
        assert!(is_mismatch(literal.check(SK)));
    }
}
