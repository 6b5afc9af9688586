//! Pieces the three header-signed HMAC schemes share (Alibaba ACS3, Tencent TC3, Huawei
//! SDK-HMAC-SHA256): the `Authorization: <algorithm> Key=value,...` header and the canonical
//! request each signs. They differ in field names, in how a value is normalised and in the URI;
//! the shapes are the same.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::AuthError;

/// HMAC-SHA256. `new_from_slice` returns a `Result` only because the trait is shared with
/// fixed-key MACs; HMAC accepts keys of every length (RFC 2104 hashes long ones), so the error
/// arm cannot be reached by any input.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The scoped-key signature of TC3 and SigV4: HMAC of `prefix + secret` over each element of
/// the credential scope in turn (the last being the scheme's terminator), then one HMAC of the
/// string to sign. Intermediate keys are as good as the secret for that scope: they are wiped.
pub(crate) fn scoped_mac(
    prefix: &[u8],
    secret_key: &[u8],
    scope: &[&str],
    string_to_sign: &str,
) -> [u8; 32] {
    let mut key = Zeroizing::new(Vec::with_capacity(prefix.len() + secret_key.len()));
    key.extend_from_slice(prefix);
    key.extend_from_slice(secret_key);
    for part in scope {
        key = Zeroizing::new(hmac_sha256(&key, part.as_bytes()).to_vec());
    }
    hmac_sha256(&key, string_to_sign.as_bytes())
}

/// Splits `<algorithm> K1=v1,K2=v2,...` into the values of exactly the `keys`, in that order.
/// Spaces around each part are allowed (some SDKs write `, `, others `,`); an unknown, repeated
/// or missing key, or another algorithm, is `Incomplete`.
pub(crate) fn authorization_fields<'a, const N: usize>(
    value: &'a str,
    algorithm: &str,
    keys: [&str; N],
) -> Result<[&'a str; N], AuthError> {
    let value = value.trim();
    let (given, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if given != algorithm {
        // Other algorithms (SM3, RSA, ECDSA, bearer tokens, ...) are not something coffer verifies.
        return Err(AuthError::Incomplete(
            "unsupported Authorization algorithm".into(),
        ));
    }
    let mut found: [Option<&str>; N] = [None; N];
    for part in rest.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| AuthError::Incomplete("malformed Authorization header".into()))?;
        let i = keys
            .iter()
            .position(|k| *k == key.trim())
            .ok_or_else(|| AuthError::Incomplete("malformed Authorization header".into()))?;
        if found[i].replace(val.trim()).is_some() {
            return Err(AuthError::Incomplete(format!(
                "Authorization repeats {}",
                keys[i]
            )));
        }
    }
    let mut out = [""; N];
    for (i, slot) in found.into_iter().enumerate() {
        out[i] =
            slot.ok_or_else(|| AuthError::Incomplete(format!("Authorization lacks {}", keys[i])))?;
    }
    Ok(out)
}

/// `METHOD\nURI\nQUERY\nname:value\n...\n\nname;name...\nPAYLOAD_HASH`. Header values arrive
/// already normalised by the scheme (trimmed, multi-values joined), in `SignedHeaders` order.
pub(crate) fn canonical_request<V: AsRef<str>>(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[(&str, V)],
    payload_hash: &str,
) -> String {
    let header_len: usize = headers
        .iter()
        .map(|(n, v)| n.len() * 2 + v.as_ref().len() + 3)
        .sum();
    let mut out = String::with_capacity(
        method.len() + uri.len() + query.len() + header_len + payload_hash.len() + 8,
    );
    for line in [method, uri, query] {
        out.push_str(line);
        out.push('\n');
    }
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.as_ref());
        out.push('\n');
    }
    // The header block ends with its own '\n' and the line separator adds another.
    out.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 3] = ["Credential", "SignedHeaders", "Signature"];

    #[test]
    fn fields_in_any_order_and_spacing() {
        let v = "ALG  Signature=ab, Credential=id/x ,SignedHeaders=host";
        assert_eq!(
            authorization_fields(v, "ALG", KEYS).unwrap(),
            ["id/x", "host", "ab"]
        );
    }

    #[test]
    fn bad_headers_are_incomplete() {
        for v in [
            "OTHER Credential=a,SignedHeaders=b,Signature=c",
            "ALG Credential=a,SignedHeaders=b",
            "ALG Credential=a,Credential=a,SignedHeaders=b,Signature=c",
            "ALG Credential=a,SignedHeaders=b,Signature=c,Extra=d",
            "ALG Credential=a,SignedHeaders,Signature=c",
            "ALG",
            "",
        ] {
            assert!(
                matches!(
                    authorization_fields(v, "ALG", KEYS),
                    Err(AuthError::Incomplete(_))
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn canonical_request_shape() {
        let c = canonical_request("POST", "/", "a=1", &[("host", "h"), ("x", "y")], "hash");
        assert_eq!(c, "POST\n/\na=1\nhost:h\nx:y\n\nhost;x\nhash");
    }
}
