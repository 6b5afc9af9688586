//! Canonicalisation and signing for Alibaba's two schemes.
//!
//! Everything that turns request pieces into a string to sign lives here and is used by both
//! the server-side verifier (`super::parse` / `AlibabaRequest::verify`) and the client-side
//! helpers below. One implementation for both directions means a test that signs with the
//! helpers and verifies with the parser exercises the same bytes, and the captured SDK requests
//! pin that implementation down.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::percent_encode_into;
use crate::AuthError;

/// The only ACS3 algorithm coffer accepts.
pub const ACS3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Hex SHA-256 of `body`: the value of the `x-acs-content-sha256` header.
pub fn content_sha256_hex(body: &[u8]) -> String {
    crate::hmac_request::hex_lower(&Sha256::digest(body))
}

/// Sorted, RFC 3986 encoded `name=value` pairs joined by `&`.
///
/// Sorting is by name, then value, comparing UTF-8 bytes (the order Alibaba's SDKs use; a
/// server rejects repeated names before it gets here, so the value tiebreak only matters for
/// clients that sign odd parameter lists). Empty values are kept as `name=`.
pub(crate) fn canonical_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    sorted.sort_unstable_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut out = String::with_capacity(sorted.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k);
        out.push('=');
        percent_encode_into(&mut out, v);
    }
    out
}

// ------------------------------------------------------------------------------------ RPC v1

/// The RPC v1 string to sign: `METHOD&%2F&` + the canonical query, percent-encoded once more.
///
/// `params` are all parameters (query and form body together) except `Signature`.
pub fn rpc_v1_string_to_sign<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    params: &[(K, V)],
) -> String {
    let canonical = canonical_query(params);
    let mut sts = String::with_capacity(method.len() + 5 + canonical.len() * 3 / 2);
    sts.push_str(&method.to_ascii_uppercase());
    sts.push_str("&%2F&");
    // The second encoding is what turns `%3A` into `%253A` in the worked example.
    percent_encode_into(&mut sts, &canonical);
    sts
}

/// Raw HMAC-SHA1 of an RPC v1 string to sign. The key is the secret followed by `&` (the
/// scheme reserves the part after `&` for a token secret nobody uses).
pub(crate) fn rpc_v1_mac(
    string_to_sign: &str,
    access_key_secret: &[u8],
) -> Result<[u8; 20], AuthError> {
    let mut key = Zeroizing::new(Vec::with_capacity(access_key_secret.len() + 1));
    key.extend_from_slice(access_key_secret);
    key.push(b'&');
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).map_err(|_| AuthError::Internal)?;
    mac.update(string_to_sign.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// Client side: the value of the `Signature` parameter for an RPC v1 request.
///
/// `params` are every parameter the request will carry (query and form body) except
/// `Signature` itself, including `SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`,
/// `SignatureNonce`, `Timestamp` and `AccessKeyId`. Returns standard base64.
pub fn sign_rpc_v1<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    params: &[(K, V)],
    access_key_secret: &[u8],
) -> Result<String, AuthError> {
    let sts = rpc_v1_string_to_sign(method, params);
    let mac = rpc_v1_mac(&sts, access_key_secret)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(mac))
}

/// Who signs and when: the common parameters of an RPC v1 request.
pub struct RpcV1Client<'a> {
    pub access_key_id: &'a str,
    pub access_key_secret: &'a [u8],
    /// `YYYY-MM-DDTHH:MM:SSZ`
    pub timestamp: &'a str,
    pub nonce: &'a str,
}

/// Client side: the whole signed query string of an RPC v1 request for `action` of API
/// `version`, every parameter in the URL as the first SDK generation sends it.
pub fn rpc_v1_query(
    method: &str,
    action: &str,
    version: &str,
    params: &[(&str, &str)],
    client: &RpcV1Client<'_>,
) -> Result<String, AuthError> {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.extend([
        ("Action", action),
        ("Version", version),
        ("Format", "JSON"),
        ("AccessKeyId", client.access_key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", client.nonce),
        ("Timestamp", client.timestamp),
    ]);
    let signature = sign_rpc_v1(method, &all, client.access_key_secret)?;
    all.push(("Signature", &signature));
    Ok(crate::encoding::encode_query(&all))
}

// -------------------------------------------------------------------------------------- ACS3

/// The ACS3 canonical request.
///
/// `signed` lists header names in the order the client put them in `SignedHeaders`; the value
/// of each comes from `headers` (all values of that name, trimmed, sorted, joined by `,`).
/// A signed name with no value in `headers` is an error: there is nothing to sign.
/// The canonical URI is always `/`: every Alibaba RPC-style API (KMS included) is served on the
/// root path, and the dialect routes only `/` here.
pub(crate) fn acs3_canonical_request<K, V, N, HV>(
    method: &str,
    query: &[(K, V)],
    signed: &[N],
    headers: &[(HV, HV)],
    content_sha256: &str,
) -> Result<String, AuthError>
where
    K: AsRef<str>,
    V: AsRef<str>,
    N: AsRef<str>,
    HV: AsRef<str>,
{
    // Each signed header's values, trimmed, sorted and joined by ',' (ACS3 signs repeats).
    let mut lines: Vec<(&str, String)> = Vec::with_capacity(signed.len());
    for name in signed {
        let name = name.as_ref();
        let mut values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref().trim())
            .collect();
        if values.is_empty() {
            return Err(AuthError::Incomplete(format!(
                "signed header {name} is not present"
            )));
        }
        values.sort_unstable();
        lines.push((name, values.join(",")));
    }
    Ok(crate::hmac_request::canonical_request(
        &method.to_ascii_uppercase(),
        "/",
        &canonical_query(query),
        &lines,
        content_sha256,
    ))
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub(crate) fn acs3_string_to_sign_from_canonical(canonical_request: &str) -> String {
    let mut sts = String::with_capacity(ACS3_ALGORITHM.len() + 65);
    sts.push_str(ACS3_ALGORITHM);
    sts.push('\n');
    sts.push_str(&crate::hmac_request::hex_lower(&Sha256::digest(
        canonical_request.as_bytes(),
    )));
    sts
}

/// Raw HMAC-SHA256 of an ACS3 string to sign; unlike RPC v1 the key is the bare secret.
pub(crate) fn acs3_mac(
    string_to_sign: &str,
    access_key_secret: &[u8],
) -> Result<[u8; 32], AuthError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(access_key_secret).map_err(|_| AuthError::Internal)?;
    mac.update(string_to_sign.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// Sorted, de-duplicated, lower-case names of `headers`, as a client puts them in
/// `SignedHeaders`.
fn signed_names<HV: AsRef<str>>(headers: &[(HV, HV)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.as_ref().to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn client_content_sha<HV: AsRef<str>>(headers: &[(HV, HV)]) -> Result<&str, AuthError> {
    let mut it = headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("x-acs-content-sha256"))
        .map(|(_, v)| v.as_ref().trim());
    match (it.next(), it.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(AuthError::Incomplete(
            "exactly one x-acs-content-sha256 header must be signed".into(),
        )),
    }
}

/// Client side: the ACS3 string to sign for a request whose signed headers are `headers`.
///
/// `query` are the query parameters (decoded); `headers` every header to sign, as
/// (name, value), which must include `x-acs-content-sha256` (see [`content_sha256_hex`]) and
/// should include `host`, `x-acs-action`, `x-acs-version`, `x-acs-date` and
/// `x-acs-signature-nonce` (coffer refuses requests that do not sign them).
pub fn acs3_string_to_sign<K, V, HV>(
    method: &str,
    query: &[(K, V)],
    headers: &[(HV, HV)],
) -> Result<String, AuthError>
where
    K: AsRef<str>,
    V: AsRef<str>,
    HV: AsRef<str>,
{
    let names = signed_names(headers);
    let sha = client_content_sha(headers)?;
    let canonical = acs3_canonical_request(method, query, &names, headers, sha)?;
    Ok(acs3_string_to_sign_from_canonical(&canonical))
}

/// Client side: the `Authorization` header value for an ACS3 request.
///
/// Signs every header in `headers` (names lower-cased, sorted; see [`acs3_string_to_sign`]) and
/// returns `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`, exactly
/// the shape Alibaba's SDKs send.
pub fn sign_acs3<K, V, HV>(
    method: &str,
    query: &[(K, V)],
    headers: &[(HV, HV)],
    access_key_id: &str,
    access_key_secret: &[u8],
) -> Result<String, AuthError>
where
    K: AsRef<str>,
    V: AsRef<str>,
    HV: AsRef<str>,
{
    let names = signed_names(headers);
    let sha = client_content_sha(headers)?;
    let canonical = acs3_canonical_request(method, query, &names, headers, sha)?;
    let sts = acs3_string_to_sign_from_canonical(&canonical);
    let mac = acs3_mac(&sts, access_key_secret)?;
    Ok(format!(
        "{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
        names.join(";"),
        hex::encode(mac)
    ))
}
