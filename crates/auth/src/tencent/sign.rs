//! Canonicalisation and signing for Tencent's two schemes.
//!
//! The server side (`super::parse` / `TencentRequest::verify`) and the client-side helpers
//! below build their strings with the same functions, so a test that signs with a helper and
//! verifies with the parser exercises exactly the bytes the captured SDK requests pin down.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub(crate) use crate::hmac_request::hmac_sha256;

/// The only TC3 algorithm Tencent defines (and so the only one coffer accepts).
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The fixed last element of a TC3 credential scope.
pub const TC3_TERMINATOR: &str = "tc3_request";

/// Value of `X-TC-Content-SHA256` that takes the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The HMAC a legacy (v1) request is signed with, from its `SignatureMethod` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V1Algorithm {
    /// `SignatureMethod=HmacSHA1`, also what an absent `SignatureMethod` means.
    HmacSha1,
    /// `SignatureMethod=HmacSHA256`.
    HmacSha256,
}

impl V1Algorithm {
    /// The `SignatureMethod` value naming this algorithm.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HmacSHA1",
            Self::HmacSha256 => "HmacSHA256",
        }
    }
}

// ---------------------------------------------------------------------------------- HMAC

/// HMAC-SHA1; see [`hmac_sha256`] for why it cannot fail.
fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = match Hmac::<Sha1>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

// ----------------------------------------------------------------------------------- TC3

/// The payload hash of a TC3 canonical request: hex SHA-256 of the raw body, or of the literal
/// text `UNSIGNED-PAYLOAD` when the client said so in `X-TC-Content-SHA256`.
pub(crate) fn tc3_payload_hash(body: &[u8], unsigned_payload: bool) -> String {
    if unsigned_payload {
        crate::hmac_request::hex_lower(&Sha256::digest(UNSIGNED_PAYLOAD.as_bytes()))
    } else {
        crate::hmac_request::hex_lower(&Sha256::digest(body))
    }
}

/// The TC3 canonical request.
///
/// `signed` are (lower-case name, value as received) in `SignedHeaders` order; values are
/// trimmed and nothing else (no lower-casing: the SDK signs `content-type` and `host` exactly as
/// it sends them, and a Host that carries a port or even `http://` must stay as it is).
/// `canonical_query` is the raw query for GET and empty for POST; the caller decides.
pub(crate) fn tc3_canonical_request(
    method: &str,
    canonical_query: &str,
    signed: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let trimmed: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.trim())).collect();
    // The path is always `/`: every Tencent API is served on the root.
    crate::hmac_request::canonical_request(method, "/", canonical_query, &trimmed, payload_hash)
}

/// `TC3-HMAC-SHA256\n<timestamp>\n<date>/<service>/tc3_request\n<hex SHA-256 of canonical>`.
///
/// `timestamp` is the `X-TC-Timestamp` text as received: that text, not a re-formatted number,
/// is what the client signed.
pub(crate) fn tc3_string_to_sign(
    timestamp: &str,
    date: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    // `concat` sizes the string once; `format!` costs its formatting machinery per part.
    let hash = crate::hmac_request::hex_lower(&Sha256::digest(canonical_request.as_bytes()));
    [
        TC3_ALGORITHM,
        "\n",
        timestamp,
        "\n",
        date,
        "/",
        service,
        "/",
        TC3_TERMINATOR,
        "\n",
        &hash,
    ]
    .concat()
}

/// The TC3 signature bytes: a key chain scoped to the date and service, then one HMAC.
pub(crate) fn tc3_mac(
    secret_key: &[u8],
    date: &str,
    service: &str,
    string_to_sign: &str,
) -> [u8; 32] {
    crate::hmac_request::scoped_mac(
        b"TC3",
        secret_key,
        &[date, service, TC3_TERMINATOR],
        string_to_sign,
    )
}

/// [`tc3_mac`] with the scoped key remembered per `secret_id` and scope (server side).
pub(crate) fn tc3_mac_cached(
    secret_id: &str,
    secret_key: &[u8],
    date: &str,
    service: &str,
    string_to_sign: &str,
) -> [u8; 32] {
    crate::hmac_request::keyed_mac_cached(
        secret_id,
        b"TC3",
        secret_key,
        &[date, service, TC3_TERMINATOR],
        string_to_sign,
    )
}

/// A Host header without its port (`name:7080` → `name`, `[::1]:7080` → `[::1]`), what the
/// Node.js SDK signs as `host` (`new URL(url).hostname`); `None` when it carries no port.
pub(crate) fn host_without_port(host: &str) -> Option<&str> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        (name, rest.strip_prefix(':')?)
    } else {
        let (name, port) = host.rsplit_once(':')?;
        if name.contains(':') {
            return None; // a bare IPv6 address is not a host with a port
        }
        (name, port)
    };
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    (port_ok && !name.is_empty()).then_some(name)
}

/// Tencent's own API domain. A request whose Host names it was signed for Tencent, whose
/// scopes name the real service; it never gets the endpoint-label reading below.
const TENCENT_API_DOMAIN: &str = "tencentcloudapi.com";

/// Whether `service` is the Node.js SDK's credential-scope service for this Host header:
/// `endpoint.split(".")[0]` (`tencentcloud/common/abstract_client.js`), the first dot-separated
/// label of the endpoint as typed, port included when the name has no dot. The SDK sends the
/// endpoint as the Host (lower-cased by `URL`), so the label is compared without case.
pub(crate) fn is_endpoint_label(host: &str, service: &str) -> bool {
    let name = host_without_port(host).unwrap_or(host).to_ascii_lowercase();
    let tencent = name == TENCENT_API_DOMAIN || name.ends_with(&format!(".{TENCENT_API_DOMAIN}"));
    let label = host.split('.').next().unwrap_or("");
    !tencent && !label.is_empty() && label.eq_ignore_ascii_case(service)
}

/// UTC calendar date (`YYYY-MM-DD`) of a Unix timestamp, or `None` outside the years the time
/// crate represents (such a timestamp cannot match any credential date anyway).
pub(crate) fn utc_date(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    ))
}

/// Client side: the `Authorization` header value of a TC3 request.
///
/// - `raw_query`: the query string exactly as it will go on the wire (only used for GET; POST
///   signs an empty query, as the SDKs do).
/// - `headers`: the headers to sign, as (name, value); names are lower-cased and sorted for
///   `SignedHeaders` (the SDK signs `content-type;host`, and coffer requires both). Names must
///   be unique. Values are signed trimmed, so send them as given here.
/// - To sign with an unsigned payload, include `x-tc-content-sha256: UNSIGNED-PAYLOAD` in
///   `headers` (it is then signed too, which does no harm) and send it.
/// - `timestamp` goes into the string to sign and must be sent as `X-TC-Timestamp`; the
///   credential date is derived from it (UTC).
///
/// Returns `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request,
/// SignedHeaders=<names>, Signature=<hex>`, the SDK's exact shape.
#[allow(clippy::too_many_arguments)] // the argument list mirrors what the scheme signs
pub fn sign_tc3<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    raw_query: &str,
    headers: &[(N, V)],
    body: &[u8],
    secret_id: &str,
    secret_key: &[u8],
    timestamp: i64,
    service: &str,
) -> String {
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_ref().to_ascii_lowercase(), v.as_ref()))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let unsigned_payload = signed
        .iter()
        .any(|(n, v)| n == "x-tc-content-sha256" && v.trim() == UNSIGNED_PAYLOAD);
    let signed_refs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let query = if method == "GET" { raw_query } else { "" };
    let canonical = tc3_canonical_request(
        method,
        query,
        &signed_refs,
        &tc3_payload_hash(body, unsigned_payload),
    );
    // A timestamp outside years 0..=9999 has no date; sign with an empty one so the helper
    // stays total (the server rejects such a request anyway).
    let date = utc_date(timestamp).unwrap_or_default();
    let ts = timestamp.to_string();
    let sts = tc3_string_to_sign(&ts, &date, service, &canonical);
    let mac = tc3_mac(secret_key, &date, service, &sts);
    let names: Vec<&str> = signed_refs.iter().map(|(n, _)| *n).collect();
    format!(
        "{TC3_ALGORITHM} Credential={secret_id}/{date}/{service}/{TC3_TERMINATOR}, SignedHeaders={}, Signature={}",
        names.join(";"),
        hex::encode(mac)
    )
}

/// Client side: every header a TC3 POST JSON request needs, signed, as the Python SDK sends
/// them (names lower-case, ready for [`crate::RequestParts`]; HTTP does not care about case).
///
/// The credential service is `kms` for KMS's API version `2019-01-18` and `ssm` otherwise.
/// `X-TC-Region` is left out when `region` is `None`, like the SDK does for a client without a
/// region. Only `content-type` and `host` are signed, again like the SDK.
#[allow(clippy::too_many_arguments)] // one argument per header the request carries
pub fn tc3_post_json_headers(
    action: &str,
    version: &str,
    region: Option<&str>,
    host: &str,
    body: &[u8],
    secret_id: &str,
    secret_key: &[u8],
    timestamp: i64,
) -> Vec<(String, String)> {
    let service = if version == super::KMS_VERSION {
        "kms"
    } else {
        "ssm"
    };
    let content_type = "application/json";
    let authorization = sign_tc3(
        "POST",
        "",
        &[("content-type", content_type), ("host", host)],
        body,
        secret_id,
        secret_key,
        timestamp,
        service,
    );
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), host.to_string()),
        ("x-tc-action".to_string(), action.to_string()),
        ("x-tc-timestamp".to_string(), timestamp.to_string()),
        ("x-tc-version".to_string(), version.to_string()),
    ];
    if let Some(region) = region {
        headers.push(("x-tc-region".to_string(), region.to_string()));
    }
    headers.push(("authorization".to_string(), authorization));
    headers
}

// ------------------------------------------------------------------------------------ v1

/// The v1 source string: `<METHOD><host>/?<name=value&...>`, pairs sorted by name (byte
/// order) with the **decoded** values and no re-encoding. `params` exclude `Signature`.
pub(crate) fn v1_source<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    host: &str,
    params: &[(K, V)],
) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    // Names are unique on the server side (repeats are rejected first); the value tiebreak
    // only makes the client helper deterministic for odd inputs.
    sorted.sort_unstable();
    let mut out = String::with_capacity(
        method.len()
            + host.len()
            + 2
            + sorted
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>(),
    );
    out.push_str(method);
    out.push_str(host);
    out.push_str("/?");
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Raw v1 MAC of a source string, keyed with the bare secret.
pub(crate) fn v1_mac(algorithm: V1Algorithm, secret_key: &[u8], source: &str) -> Vec<u8> {
    match algorithm {
        V1Algorithm::HmacSha1 => hmac_sha1(secret_key, source.as_bytes()).to_vec(),
        V1Algorithm::HmacSha256 => hmac_sha256(secret_key, source.as_bytes()).to_vec(),
    }
}

/// Client side: the `Signature` field of a legacy v1 request (standard base64).
///
/// `host` is the Host header exactly as it will be sent; `params` are every field the request
/// carries except `Signature` (action parameters and the common fields, `SignatureMethod`
/// included when sent), with their plain, unencoded values. `algorithm` must agree with the
/// `SignatureMethod` field (absent means HmacSHA1).
pub fn sign_v1<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    host: &str,
    params: &[(K, V)],
    secret_key: &[u8],
    algorithm: V1Algorithm,
) -> String {
    let source = v1_source(method, host, params);
    base64::engine::general_purpose::STANDARD.encode(v1_mac(algorithm, secret_key, &source))
}
