//! Canonicalisation and signing for SDK-HMAC-SHA256.
//!
//! The server side (`super::parse` / `HuaweiRequest::verify`) and the client-side helpers
//! below assemble the canonical request with the same functions; they differ only in how they
//! decode the path and query: the server decodes strictly (a broken escape is an error), the
//! client helpers decode leniently, exactly like Python's `urllib.parse.unquote` in the SDK.
//! On well-formed input the two are identical.

use std::borrow::Cow;

use crate::encoding::percent_encode_into;

/// The algorithm name in `Authorization` and the first line of the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Value of `X-Sdk-Content-Sha256` that takes the body out of the signature. The SDK sets it
/// only for content types other than JSON/BSON, so never for CSMS.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// `Content-Type` the SDK sends for operations with a JSON body (it lower-cases the declared
/// `application/json;charset=UTF-8`).
pub const CONTENT_TYPE_JSON_BODY: &str = "application/json;charset=utf-8";

/// `Content-Type` the SDK sends (and signs) for operations without a body, GET and DELETE
/// included.
pub const CONTENT_TYPE_NO_BODY: &str = "application/json";

pub(crate) use crate::hmac_request::{hmac_sha256, sha256_hex};

/// Python's `str.strip()`: Rust's whitespace plus the four C0 separators U+001C..U+001F,
/// which Python also counts as whitespace. The SDK strips every header value this way before
/// signing it.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Lenient percent-decoding, as Python's `unquote`: a broken `%` escape stays literal and
/// invalid UTF-8 becomes U+FFFD. Client side only.
pub(crate) fn unquote_lenient(raw: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
}

/// CanonicalURI from the **decoded** path: split on `/`, RFC 3986-encode each segment, join
/// with `/`, and end with `/` (the wire path never does; `/v1/p/secrets` -> `/v1/p/secrets/`).
///
/// Decoding the whole path before splitting is the SDK's order, so an encoded `%2F` inside a
/// segment becomes a real separator here.
pub(crate) fn canonical_uri(decoded_path: &str) -> String {
    let mut out = String::with_capacity(decoded_path.len() + 8);
    for (i, segment) in decoded_path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        percent_encode_into(&mut out, segment);
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// CanonicalURI as the Node.js SDK signs it, from the path **as received** (already checked to
/// be well formed).
///
/// `@huaweicloud/huaweicloud-sdk-core` 3.x (`auth/AKSKSigner.js`, `CanonicalURI`) encodes each
/// segment of `url.parse(endpoint).pathname` without decoding it first, and that pathname is
/// already escaped: the legacy `url.parse` turned a space into `%20`, so `two words` is signed
/// as `two%2520words`. What goes on the wire is the same URL escaped by WHATWG `URL` (axios):
/// the same `%XX` for ASCII, but UTF-8 escapes for non-ASCII characters that `url.parse`
/// leaves raw (and the signer then escapes once), and `'`, `|`, `^` left raw that `url.parse`
/// escapes. So, per byte of the wire path: an escape of an ASCII byte is escaped again
/// (`%20` → `%2520`), an escape of a non-ASCII byte stays (upper-case hex), `'` `|` `^` become
/// `%2527` `%257C` `%255E`, every other byte is RFC 3986-encoded as usual; the result ends
/// with `/` like the canonical one.
pub(crate) fn node_canonical_uri(wire_path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let push_hex = |out: &mut String, b: u8| {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    };
    let bytes = wire_path.as_bytes();
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped = match (b, bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match escaped {
            Some(byte) if byte >= 0x80 => {
                out.push('%');
                push_hex(&mut out, byte);
                i += 3;
                continue;
            }
            Some(_) => {
                // `%` itself is escaped; the two hex digits follow as they came.
                out.push_str("%25");
                i += 1;
                continue;
            }
            None => {}
        }
        match b {
            b'/' => out.push('/'),
            b'\'' | b'|' | b'^' => {
                out.push_str("%25");
                push_hex(&mut out, b);
            }
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(char::from(b)),
            b => {
                out.push('%');
                push_hex(&mut out, b);
            }
        }
        i += 1;
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// CanonicalQueryString from **decoded** pairs: sorted by name then value (code-point order,
/// as Python sorts the tuples), each side RFC 3986-encoded, `name=value` joined by `&`.
pub(crate) fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k);
        out.push('=');
        percent_encode_into(&mut out, v);
    }
    out
}

/// Splits a raw query into (name, value) halves, still encoded: empty items are skipped, an
/// item without `=` has an empty value (what Python's `partition` gives).
pub(crate) fn split_query(raw_query: &str) -> impl Iterator<Item = (&str, &str)> {
    raw_query
        .split('&')
        .filter(|item| !item.is_empty())
        .map(|item| item.split_once('=').unwrap_or((item, "")))
}

/// The canonical request.
///
/// `signed` are (lower-case name, value as received) in `SignedHeaders` order; values are
/// stripped like the SDK does and nothing else (Host keeps its port, Content-Type its case).
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    signed: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let stripped: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, py_strip(v))).collect();
    crate::hmac_request::canonical_request(
        method,
        canonical_uri,
        canonical_query,
        &stripped,
        payload_hash,
    )
}

/// `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex SHA-256 of the canonical request>`.
pub(crate) fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    // `concat` sizes the string once; `format!` costs its formatting machinery per part.
    let hash = sha256_hex(canonical_request.as_bytes());
    [ALGORITHM, "\n", sdk_date, "\n", &hash].concat()
}

/// The `Authorization` value in the SDK's exact shape.
fn authorization(access_key_id: &str, signed_names: &[&str], mac: &[u8; 32]) -> String {
    format!(
        "{ALGORITHM} Access={access_key_id}, SignedHeaders={}, Signature={}",
        signed_names.join(";"),
        hex::encode(mac)
    )
}

/// Client side: the `Authorization` header value for a request, computed as
/// `huaweicloudsdkcore`'s `Signer` does.
///
/// - `method`: upper-cased for the signature, as the SDK does (send it upper-case).
/// - `path`: the request path as it goes on the wire (percent-encoded, no query).
/// - `raw_query`: the query as it goes on the wire, without `?`; it is decoded and re-sorted
///   for the signature, so any order and any valid encoding signs the same. The SDK itself
///   sends the canonical form (sorted, `%20` for space).
/// - `headers`: every header to sign, as (name, value); each name that contains no `_` is
///   signed (lower-cased, sorted), like the SDK. Names must be unique. Include `Host` (exactly
///   as sent, port included) and `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`, its value goes into the
///   string to sign; without it the result cannot verify). An `X-Sdk-Content-Sha256` header,
///   when given, replaces the body hash with its value (`UNSIGNED-PAYLOAD`).
/// - `secret_key`: the raw secret key (for the SDK: the SK string as UTF-8).
///
/// Returns `SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<names>, Signature=<hex>`.
pub fn sign<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &[(N, V)],
    body: &[u8],
    access_key_id: &str,
    secret_key: &[u8],
) -> String {
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .filter(|(n, _)| !n.as_ref().contains('_'))
        .map(|(n, v)| (n.as_ref().to_ascii_lowercase(), v.as_ref()))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_refs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), *v)).collect();

    let find = |name: &str| {
        signed_refs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| py_strip(v))
    };
    let payload_hash = match find("x-sdk-content-sha256") {
        Some(v) => v.to_owned(),
        None => sha256_hex(body),
    };
    let pairs: Vec<(String, String)> = split_query(raw_query)
        .map(|(k, v)| {
            (
                unquote_lenient(k).into_owned(),
                unquote_lenient(v).into_owned(),
            )
        })
        .collect();
    let canonical = canonical_request(
        &method.to_ascii_uppercase(),
        &canonical_uri(&unquote_lenient(path)),
        &canonical_query(&pairs),
        &signed_refs,
        &payload_hash,
    );
    let sts = string_to_sign(find("x-sdk-date").unwrap_or(""), &canonical);
    let mac = hmac_sha256(secret_key, sts.as_bytes());
    let names: Vec<&str> = signed_refs.iter().map(|(n, _)| *n).collect();
    authorization(access_key_id, &names, &mac)
}

/// Client side: the `Authorization` header value as the Node.js SDK
/// (`@huaweicloud/huaweicloud-sdk-core` 3.x) computes it: like [`sign`], except that the
/// canonical URI is the wire `path` escaped once more ([`node_canonical_uri`]) and header
/// values are signed as given. For tests of that signing form; the SDK signs no `User-Agent`.
pub fn sign_as_node<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &[(N, V)],
    body: &[u8],
    access_key_id: &str,
    secret_key: &[u8],
) -> String {
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_ref().to_ascii_lowercase(), v.as_ref()))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_refs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let pairs: Vec<(String, String)> = split_query(raw_query)
        .map(|(k, v)| {
            (
                unquote_lenient(k).into_owned(),
                unquote_lenient(v).into_owned(),
            )
        })
        .collect();
    let canonical = canonical_request(
        method,
        &node_canonical_uri(path),
        &canonical_query(&pairs),
        &signed_refs,
        &sha256_hex(body),
    );
    let date = signed_refs
        .iter()
        .find(|(n, _)| *n == "x-sdk-date")
        .map(|(_, v)| *v)
        .unwrap_or("");
    let sts = string_to_sign(date, &canonical);
    let mac = hmac_sha256(secret_key, sts.as_bytes());
    let names: Vec<&str> = signed_refs.iter().map(|(n, _)| *n).collect();
    authorization(access_key_id, &names, &mac)
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for Unix seconds, clamped to 1970-01-01T00:00:00Z ..=
/// 9999-12-31T23:59:59Z, the range the format can express.
pub fn format_sdk_date(unix_secs: i64) -> String {
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let clamped = unix_secs.clamp(0, MAX);
    match time::OffsetDateTime::from_unix_timestamp(clamped) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        // Unreachable: every clamped value is representable.
        Err(_) => "19700101T000000Z".to_owned(),
    }
}

/// Client side: every header a CSMS request from the Python SDK carries that the signature
/// depends on, signed, in the SDK's wire order: `Content-Type`, `X-Project-Id` (when
/// `project_id` is given), `X-Sdk-Date`, `Host`, `Authorization`.
///
/// `Content-Type` is [`CONTENT_TYPE_JSON_BODY`] when `body` is non-empty and
/// [`CONTENT_TYPE_NO_BODY`] otherwise, as the SDK sends them. The SDK also signs its
/// `User-Agent`; this helper sends none (the server takes the signed set from the request).
/// `host` is sent and signed verbatim (`127.0.0.1:8080`); `path` and `raw_query` are the
/// wire forms (see [`sign`]). Unix seconds outside the years 1970..=9999 are clamped (see
/// [`format_sdk_date`]).
#[allow(clippy::too_many_arguments)] // one argument per part of the request that is signed
pub fn request_headers(
    method: &str,
    host: &str,
    path: &str,
    raw_query: &str,
    body: &[u8],
    project_id: Option<&str>,
    access_key_id: &str,
    secret_key: &[u8],
    unix_secs: i64,
) -> Vec<(String, String)> {
    let content_type = if body.is_empty() {
        CONTENT_TYPE_NO_BODY
    } else {
        CONTENT_TYPE_JSON_BODY
    };
    let mut headers = vec![("Content-Type".to_string(), content_type.to_string())];
    if let Some(project_id) = project_id {
        headers.push(("X-Project-Id".to_string(), project_id.to_string()));
    }
    headers.push(("X-Sdk-Date".to_string(), format_sdk_date(unix_secs)));
    headers.push(("Host".to_string(), host.to_string()));
    let authorization = sign(
        method,
        path,
        raw_query,
        &headers,
        body,
        access_key_id,
        secret_key,
    );
    headers.push(("Authorization".to_string(), authorization));
    headers
}
