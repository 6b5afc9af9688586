//! The two text encodings every cloud signature scheme here is built on.
//!
//! - *Encoding* for the string to sign is RFC 3986 percent-encoding: only `A-Z a-z 0-9 - _ . ~`
//!   stay literal, every other byte of the UTF-8 text becomes `%XX` with upper-case hex. Both
//!   sides of a signature must produce the same bytes, so there is exactly one way to encode.
//! - *Decoding* of a query string or form body follows `application/x-www-form-urlencoded`:
//!   `&` separates pairs, the first `=` separates name from value, `+` means space and `%XX` is a
//!   byte. Unlike the usual lenient decoders (which keep a broken `%zz` literally and replace
//!   invalid UTF-8 with U+FFFD), this one rejects such input: two different raw requests must
//!   never decode to the same parameters, and a client that sends garbage gets an error rather
//!   than a signature check against text it did not send. [`percent_decode`] is the same
//!   strict decoding for one RFC 3986 component (paths, Huawei's queries), where `+` is a plus.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use crate::AuthError;

/// Bytes that RFC 3986 percent-encoding escapes: everything except the unreserved set.
const RFC3986_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding of `s` (upper-case hex, unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent_encode_into(&mut out, s);
    out
}

/// Appends the RFC 3986 percent-encoding of `s` to `out`.
pub fn percent_encode_into(out: &mut String, s: &str) {
    for chunk in percent_encoding::utf8_percent_encode(s, RFC3986_ESCAPED) {
        out.push_str(chunk);
    }
}

/// Builds a query string (`name=value&...`, RFC 3986 encoded, in the given order) from pairs.
///
/// Handy for clients that sign a request and then need to put the same parameters on the wire;
/// a server decodes it back to exactly these pairs.
pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k.as_ref());
        out.push('=');
        percent_encode_into(&mut out, v.as_ref());
    }
    out
}

/// Decodes a query string or form body into (name, value) pairs, in order.
///
/// Empty segments (`a=1&&b=2`, a trailing `&`) are skipped; a segment without `=` is a name with
/// an empty value. `what` names the source ("query", "body") for the error message; the message
/// never quotes the offending text, which may be a secret.
pub fn form_decode(raw: &[u8], what: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut pairs = Vec::new();
    for segment in raw.split(|&b| b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let (name, value) = match segment.iter().position(|&b| b == b'=') {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &b""[..]),
        };
        pairs.push((
            decode_component(name, what, true)?,
            decode_component(value, what, true)?,
        ));
    }
    Ok(pairs)
}

/// Strict RFC 3986 percent-decoding of one component (a path, a path segment, a query name or
/// value): `%XX` is a byte, every other byte (`+` included) stands for itself, and the result
/// must be UTF-8. A broken escape or invalid UTF-8 is [`AuthError::BadEncoding`]; `what` names
/// the source for the message, which never quotes the text.
pub fn percent_decode(raw: &[u8], what: &str) -> Result<String, AuthError> {
    decode_component(raw, what, false)
}

/// Decodes one component: `%XX` is a byte, `+` is space when `plus_is_space` (forms), the
/// result must be UTF-8.
fn decode_component(raw: &[u8], what: &str, plus_is_space: bool) -> Result<String, AuthError> {
    // Fast path: nothing to decode.
    if !raw
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return String::from_utf8(raw.to_vec())
            .map_err(|_| AuthError::BadEncoding(format!("{what} is not valid UTF-8")));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(AuthError::BadEncoding(format!(
                            "{what} contains an invalid percent escape"
                        )))
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| AuthError::BadEncoding(format!("{what} is not valid UTF-8 once decoded")))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_follows_rfc3986() {
        // Same self-test as the reference verifier.
        assert_eq!(percent_encode("a b*c~d+e/é"), "a%20b%2Ac~d%2Be%2F%C3%A9");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("2026-11-23T19%3A28"), "2026-11-23T19%253A28");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn form_decode_handles_plus_percent_and_empty_values() -> Result<(), AuthError> {
        let pairs = form_decode(b"a=1&&b=x+y%2Bz&SignatureType=&flag&c=d=e&", "query")?;
        let want = [
            ("a", "1"),
            ("b", "x y+z"),
            ("SignatureType", ""),
            ("flag", ""),
            ("c", "d=e"),
        ];
        assert_eq!(pairs.len(), want.len());
        for ((k, v), (wk, wv)) in pairs.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
        assert!(form_decode(b"", "query")?.is_empty());
        assert_eq!(
            form_decode(b"caf%C3%A9=%c3%a9", "body")?[0],
            ("café".into(), "é".into())
        );
        Ok(())
    }

    #[test]
    fn form_decode_rejects_bad_escapes_and_non_utf8() {
        for raw in [
            &b"a=%"[..],
            b"a=%4",
            b"a=%zz",
            b"a=%4g",
            b"%=1",
            b"a=%C3",
            b"a=%FF",
            b"a=\xff",
            b"\xc3=1",
        ] {
            assert!(
                matches!(form_decode(raw, "query"), Err(AuthError::BadEncoding(_))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn percent_decode_is_strict_and_keeps_plus() -> Result<(), AuthError> {
        assert_eq!(percent_decode(b"a+b%20c%2B%2fd", "path")?, "a+b c+/d");
        assert_eq!(percent_decode(b"caf%C3%A9", "path")?, "café");
        assert_eq!(percent_decode(b"", "path")?, "");
        for raw in [&b"%"[..], b"%4", b"%zz", b"a%4g", b"%C3", b"%FF", b"\xff"] {
            assert!(
                matches!(percent_decode(raw, "path"), Err(AuthError::BadEncoding(_))),
                "{raw:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn encode_query_round_trips() -> Result<(), AuthError> {
        let pairs = [("Secret Data", "café a+b*c~d /x=y&z"), ("Empty", "")];
        let q = encode_query(&pairs);
        let back = form_decode(q.as_bytes(), "query")?;
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], (pairs[0].0.into(), pairs[0].1.into()));
        assert_eq!(back[1], (pairs[1].0.into(), pairs[1].1.into()));
        Ok(())
    }
}
