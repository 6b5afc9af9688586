//! Pieces the three header-signed HMAC schemes share (Alibaba ACS3, Tencent TC3, Huawei
//! SDK-HMAC-SHA256): the `Authorization: <algorithm> Key=value,...` header and the canonical
//! request each signs. They differ in field names, in how a value is normalised and in the URI;
//! the shapes are the same.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::AuthError;

/// HMAC-SHA256. `new_from_slice` returns a `Result` only because the trait is shared with
/// fixed-key MACs; HMAC accepts keys of every length (RFC 2104 hashes long ones), so the error
/// arm cannot be reached by any input.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

/// Lower-case hex of `bytes`, as every scheme writes its digests: a table lookup per nibble
/// (`hex::encode` collects a char iterator, several times the instructions per digest).
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
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
    hmac_sha256(
        &scoped_key(prefix, secret_key, scope),
        string_to_sign.as_bytes(),
    )
}

/// Keyed MACs at most held by [`keyed_mac_cached`]; a full table is emptied and filled
/// again, which only costs the key set-ups it saved.
const KEYED_MACS_MAX: usize = 1024;

/// An HMAC keyed for one secret and scope, and the secret it was keyed from.
struct KeyedMac {
    /// Compared in constant time with the secret of each request that finds this entry, so
    /// that a key whose secret changed (or another secret under the same id) never verifies
    /// with a stale key.
    secret: Zeroizing<Vec<u8>>,
    /// The HMAC state once the (scoped) key is absorbed: cloned for each string to sign. It
    /// is as good as the key for that scope and lives as long as the secret it came from
    /// lives in the server's key cache. (The hash crates wipe no state, here or anywhere.)
    mac: Hmac<Sha256>,
}

/// The keyed MACs the server verifies with, by `prefix`, access key id and scope (none of
/// which is secret). Keying an HMAC costs two of the five SHA-256 blocks a signature of a
/// short string to sign needs, and TC3 and SigV4 derive their scoped key with four more
/// HMACs; the key of a scope changes once a day per access key and region, so a server
/// answering the same keys sets each up once instead of once a request.
static KEYED_MACS: LazyLock<Mutex<HashMap<String, KeyedMac>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `HMAC(scoped key, string_to_sign)`, the key being `prefix + secret` HMACed over each element
/// of `scope` in turn ([`scoped_mac`]; with no scope, the secret itself keys the MAC), taken
/// from a process-wide table when the same access key id, secret and scope were seen before.
/// Server side (verification): `key_id` names the secret, and an entry is used only when its
/// secret equals `secret_key` (constant time), and replaced otherwise.
pub(crate) fn keyed_mac_cached(
    key_id: &str,
    prefix: &[u8],
    secret_key: &[u8],
    scope: &[&str],
    string_to_sign: &str,
) -> [u8; 32] {
    // Elements are separated by a byte none of them can hold (prefixes, scope elements and
    // access key ids are printable ASCII), so that two different tuples never make one name.
    let mut name = String::with_capacity(
        prefix.len() + key_id.len() + scope.iter().map(|s| s.len() + 1).sum::<usize>() + 1,
    );
    name.extend(prefix.iter().map(|&b| char::from(b)));
    for part in std::iter::once(&key_id).chain(scope) {
        name.push('\0');
        name.push_str(part);
    }
    let lock = || KEYED_MACS.lock().unwrap_or_else(|e| e.into_inner());
    let cached = lock()
        .get(&name)
        .filter(|e| bool::from(e.secret.as_slice().ct_eq(secret_key)))
        .map(|e| e.mac.clone());
    let mut mac = match cached {
        Some(mac) => mac,
        None => {
            let mac = keyed(&scoped_key(prefix, secret_key, scope));
            let mut table = lock();
            if table.len() >= KEYED_MACS_MAX {
                table.clear();
            }
            table.insert(
                name,
                KeyedMac {
                    secret: Zeroizing::new(secret_key.to_vec()),
                    mac: mac.clone(),
                },
            );
            mac
        }
    };
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed with `key` (any length, see [`hmac_sha256`]).
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// The key of [`scoped_mac`]: HMAC of `prefix + secret` over each element of `scope` in turn.
fn scoped_key(prefix: &[u8], secret_key: &[u8], scope: &[&str]) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(prefix.len() + secret_key.len()));
    key.extend_from_slice(prefix);
    key.extend_from_slice(secret_key);
    for part in scope {
        key = Zeroizing::new(hmac_sha256(&key, part.as_bytes()).to_vec());
    }
    key
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
    fn cached_keyed_macs_follow_the_secret() {
        let scope = ["20261205", "us-east-1", "secretsmanager", "aws4_request"];
        let fresh = |secret: &[u8]| scoped_mac(b"AWS4", secret, &scope, "sts");
        let cached = |id: &str, secret: &[u8]| keyed_mac_cached(id, b"AWS4", secret, &scope, "sts");
        // Derived, then found: the same MAC as a fresh derivation both times.
        assert_eq!(cached("cache-test-a", b"one"), fresh(b"one"));
        assert_eq!(cached("cache-test-a", b"one"), fresh(b"one"));
        // The same id with another secret (a key whose secret changed) never gets the old key.
        assert_eq!(cached("cache-test-a", b"two"), fresh(b"two"));
        assert_ne!(fresh(b"one"), fresh(b"two"));
        // Another scope or prefix is another entry.
        let other = keyed_mac_cached("cache-test-a", b"TC3", b"two", &scope, "sts");
        assert_eq!(other, scoped_mac(b"TC3", b"two", &scope, "sts"));
        // No scope: the secret keys the MAC itself.
        assert_eq!(
            keyed_mac_cached("cache-test-a", b"", b"two", &[], "sts"),
            hmac_sha256(b"two", b"sts")
        );
        let day = ["20261206", "us-east-1", "secretsmanager", "aws4_request"];
        assert_eq!(
            keyed_mac_cached("cache-test-a", b"AWS4", b"two", &day, "sts"),
            scoped_mac(b"AWS4", b"two", &day, "sts")
        );
    }

    #[test]
    fn hex_is_lower_case_hex() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_lower(&all), hex::encode(&all));
        assert_eq!(hex_lower(&[]), "");
    }

    #[test]
    fn canonical_request_shape() {
        let c = canonical_request("POST", "/", "a=1", &[("host", "h"), ("x", "y")], "hash");
        assert_eq!(c, "POST\n/\na=1\nhost:h\nx:y\n\nhost;x\nhash");
    }
}
