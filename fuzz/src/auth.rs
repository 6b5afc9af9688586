//! Targets for the signature schemes of `coffer_auth`, without a service.
//!
//! - `auth_<scheme>`: any request through the scheme's parser (and its verifier, and for
//!   Tencent the parameter decoding). No panic; the parse is deterministic; the wire order of
//!   differently named headers changes nothing (each scheme canonicalises it away, and repeated
//!   headers keep their relative order, which SigV4 signs).
//! - `signature_roundtrip`: a request signed with coffer's own client signer must verify (the
//!   signer and the verifier canonicalise alike), and after one mutation of the signed request
//!   it must either fail to verify or mean exactly what the signed one meant. "Meaning" is what
//!   a dialect acts on and the scheme promises to sign: parameters, body, path, credential,
//!   time, nonce (see [`meaning`]).

use coffer_auth::{alibaba, huawei, sigv4, tencent, AuthError};

use crate::harness::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, NOW};
use crate::resign::{Scheme, Signer};
use crate::wire::WireRequest;

/// The same request with its headers stably sorted by name.
fn headers_sorted(req: &WireRequest) -> WireRequest {
    let mut out = req.clone();
    out.headers.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Two parses of equivalent requests must agree: the same string to sign, or the same error.
fn agree(what: &str, a: Result<String, AuthError>, b: Result<String, AuthError>) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: the string to sign differs"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}: the errors differ"),
        (a, b) => panic!(
            "{what}: one parse failed and the other did not: {:?} / {:?}",
            a.map(|s| s.len()),
            b.map(|s| s.len())
        ),
    }
}

pub fn auth_alibaba(data: &[u8]) {
    let req = WireRequest::parse(data);
    let parse = |r: &WireRequest| alibaba::parse(&r.parts());
    let first = parse(&req);
    let sts = |r: &Result<alibaba::AlibabaRequest, AuthError>| match r {
        Ok(p) => Ok(p.string_to_sign().to_string()),
        Err(e) => Err(clone_err(e)),
    };
    agree("alibaba: parse twice", sts(&first), sts(&parse(&req)));
    agree(
        "alibaba: header order",
        sts(&first),
        sts(&parse(&headers_sorted(&req))),
    );
    if let Ok(p) = first {
        let _ = p.verify(ACCESS_KEY_SECRET.as_bytes());
        let _ = format!("{p:?}");
    }
}

pub fn auth_tencent(data: &[u8]) {
    let req = WireRequest::parse(data);
    let parse = |r: &WireRequest| tencent::parse(&r.parts());
    let first = parse(&req);
    let sts = |r: &Result<tencent::TencentRequest, AuthError>| match r {
        Ok(p) => Ok(p.string_to_sign().to_string()),
        Err(e) => Err(clone_err(e)),
    };
    agree("tencent: parse twice", sts(&first), sts(&parse(&req)));
    agree(
        "tencent: header order",
        sts(&first),
        sts(&parse(&headers_sorted(&req))),
    );
    if let Ok(p) = first {
        let _ = p.verify(ACCESS_KEY_SECRET.as_bytes());
        let params = p.params().map(|v| v.to_string());
        assert_eq!(
            params.as_ref().map_err(ToString::to_string),
            p.params()
                .map(|v| v.to_string())
                .as_ref()
                .map_err(ToString::to_string),
            "tencent: params twice"
        );
        let _ = format!("{p:?}");
    }
}

pub fn auth_huawei(data: &[u8]) {
    let req = WireRequest::parse(data);
    let parse = |r: &WireRequest| huawei::parse(&r.parts(), &r.path);
    let first = parse(&req);
    let sts = |r: &Result<huawei::HuaweiRequest, AuthError>| match r {
        Ok(p) => Ok(format!("{}\n{}", p.canonical_request(), p.string_to_sign())),
        Err(e) => Err(clone_err(e)),
    };
    agree("huawei: parse twice", sts(&first), sts(&parse(&req)));
    agree(
        "huawei: header order",
        sts(&first),
        sts(&parse(&headers_sorted(&req))),
    );
    if let Ok(p) = first {
        let _ = p.verify(ACCESS_KEY_SECRET.as_bytes());
        let _ = format!("{p:?}");
    }
}

pub fn auth_sigv4(data: &[u8]) {
    let req = WireRequest::parse(data);
    let parse = |r: &WireRequest| sigv4::parse(&r.parts(), &r.path);
    let first = parse(&req);
    let sts = |r: &Result<sigv4::SigV4Request, AuthError>| match r {
        Ok(p) => Ok(format!("{}\n{}", p.canonical_request(), p.string_to_sign())),
        Err(e) => Err(clone_err(e)),
    };
    agree("sigv4: parse twice", sts(&first), sts(&parse(&req)));
    agree(
        "sigv4: header order",
        sts(&first),
        sts(&parse(&headers_sorted(&req))),
    );
    if let Ok(p) = first {
        let _ = p.verify(ACCESS_KEY_SECRET.as_bytes());
        let _ = format!("{p:?}");
    }
}

/// `AuthError` is not `Clone`; its message is all the comparisons need.
fn clone_err(e: &AuthError) -> AuthError {
    AuthError::Incomplete(e.to_string())
}

/// What a verified request means, as text to compare; `Err` when it does not verify.
///
/// Only what the scheme signs and a dialect reads goes in. Left out on purpose, each because
/// the scheme does not sign it (the dialects know and cope, see `coffer_auth`'s module docs):
/// TC3's `X-TC-Action`/`Version`/`Region`/`Language` headers and a POST's query; the Huawei
/// path's `%2F`-versus-`/` spelling and trailing `/` (the canonical URI is compared instead);
/// the order of query parameters where the scheme sorts them (dialects refuse repeated names,
/// so order carries no meaning).
pub fn meaning(scheme: Scheme, req: &WireRequest) -> Result<String, AuthError> {
    // The server verifies with the secret of the key the request names; any other key id is
    // another key (or none), whose secret is not this one.
    let secret = |key_id: &str| -> Result<&[u8], AuthError> {
        if key_id == ACCESS_KEY_ID {
            Ok(ACCESS_KEY_SECRET.as_bytes())
        } else {
            Err(AuthError::Incomplete("unknown access key".into()))
        }
    };
    match scheme {
        Scheme::AlibabaRpc | Scheme::AlibabaAcs3 => {
            let p = alibaba::parse(&req.parts())?;
            p.verify(secret(&p.access_key_id)?)?;
            let mut params = p.params.clone();
            params.sort();
            Ok(format!(
                "{:?} {} {} {} {:?} {:?} {:?} {:?}",
                p.scheme,
                p.access_key_id,
                p.nonce,
                p.timestamp,
                p.action,
                p.version,
                p.security_token,
                params
            ))
        }
        Scheme::Tc3 | Scheme::TencentV1 => {
            let p = tencent::parse(&req.parts())?;
            p.verify(secret(&p.secret_id)?)?;
            let params = p.params().map(|v| v.to_string()).map_err(|e| e.to_string());
            let common = match p.scheme {
                // TC3 signs none of these headers (see above).
                tencent::Scheme::Tc3 => String::new(),
                tencent::Scheme::V1(_) => format!(
                    "{:?} {:?} {:?} {:?} {:?}",
                    p.action, p.version, p.region, p.token, p.language
                ),
            };
            let params = if p.unsigned_payload {
                Ok(unsigned_body(req)?)
            } else {
                params
            };
            Ok(format!(
                "{:?} {} {} {:?} {:?} {common} {params:?}",
                p.scheme, p.secret_id, p.timestamp, p.credential_service, p.nonce
            ))
        }
        Scheme::Huawei => {
            let p = huawei::parse(&req.parts(), &req.path)?;
            p.verify(secret(&p.access_key_id)?)?;
            let uri = p.canonical_request().split('\n').nth(1).unwrap_or("");
            let mut query = p.query_pairs().to_vec();
            query.sort();
            let body = if p.unsigned_payload {
                unsigned_body(req)?
            } else {
                format!("{:?}", req.body)
            };
            Ok(format!(
                "{} {} {} {uri} {query:?} {:?} {:?} {:?} {body}",
                req.method,
                p.access_key_id,
                p.timestamp,
                p.project_id,
                p.domain_id,
                p.security_token
            ))
        }
        Scheme::SigV4 | Scheme::SigV4Aws => {
            let p = sigv4::parse(&req.parts(), &req.path)?;
            p.verify(secret(&p.access_key_id)?)?;
            let mut query = p.query_pairs().to_vec();
            query.sort();
            let body = if p.unsigned_payload() {
                unsigned_body(req)?
            } else {
                format!("{:?}", req.body)
            };
            Ok(format!(
                "{} {} {} {query:?} {} {} {} {} {:?} {body}",
                req.method,
                req.path,
                p.access_key_id,
                p.region,
                p.service,
                p.timestamp,
                p.security_token.is_some(),
                p.security_token
            ))
        }
    }
}

/// With `UNSIGNED-PAYLOAD` the body is outside the signature, and every dialect refuses
/// such a request unless the body is empty: an empty body is all it can mean.
fn unsigned_body(req: &WireRequest) -> Result<String, AuthError> {
    if req.body.is_empty() {
        Ok("unsigned, empty body".into())
    } else {
        Err(AuthError::Incomplete(
            "refused by the dialects: UNSIGNED-PAYLOAD with a body".into(),
        ))
    }
}

/// One change to a request, read from the first four bytes of the input: kind, position (two
/// bytes, little-endian) and a byte value.
#[derive(Clone, Copy, Debug)]
pub struct Mutation {
    kind: u8,
    pos: usize,
    byte: u8,
}

impl Mutation {
    pub fn read(data: &[u8]) -> (Mutation, &[u8]) {
        let mut head = [0u8; 4];
        let n = data.len().min(4);
        head[..n].copy_from_slice(&data[..n]);
        (
            Mutation {
                kind: head[0],
                pos: usize::from(u16::from_le_bytes([head[1], head[2]])),
                byte: head[3],
            },
            &data[n..],
        )
    }

    /// The mutated request, as the server would receive it (written out and read back, so
    /// that a header value the server would drop is dropped).
    pub fn apply(self, req: &WireRequest) -> WireRequest {
        let mut r = req.clone();
        let b = self.byte;
        let pos = self.pos;
        let nh = r.headers.len().max(1);
        let h = pos % nh;
        match self.kind % 16 {
            0 => {}
            1 => set_byte(&mut r.body, pos, b),
            2 => edit_string(&mut r.raw_query, |v| set_byte(v, pos, b)),
            3 => edit_string(&mut r.path, |v| set_byte(v, pos, b)),
            4 => {
                if let Some((_, v)) = r.headers.get_mut(h) {
                    edit_string(v, |v| set_byte(v, pos / nh, b));
                }
            }
            5 => {
                if let Some((n, _)) = r.headers.get_mut(h) {
                    edit_string(n, |v| set_byte(v, pos / nh, b.to_ascii_lowercase()));
                }
            }
            6 => edit_string(&mut r.raw_query, |v| insert_byte(v, pos, b)),
            7 => insert_byte(&mut r.body, pos, b),
            8 => edit_string(&mut r.raw_query, |v| remove_byte(v, pos)),
            9 => remove_byte(&mut r.body, pos),
            10 => edit_string(&mut r.method, |v| set_byte(v, pos, b)),
            11 => {
                if h < r.headers.len() {
                    r.headers.remove(h);
                }
            }
            12 => {
                if let Some(copy) = r.headers.get(h).cloned() {
                    r.headers.push(copy);
                }
            }
            13 => {
                let sep = if r.raw_query.is_empty() { "" } else { "&" };
                r.raw_query = format!("{}{sep}{}={}", r.raw_query, char::from(b'A' + b % 26), b);
            }
            14 => {
                if let Some((_, v)) = r.headers.get_mut(h) {
                    edit_string(v, |v| insert_byte(v, pos / nh, b));
                }
            }
            _ => edit_string(&mut r.path, |v| insert_byte(v, pos, b)),
        }
        WireRequest::parse(&r.to_bytes())
    }
}

fn set_byte(v: &mut [u8], pos: usize, b: u8) {
    if !v.is_empty() {
        let i = pos % v.len();
        v[i] = if v[i] == b { b ^ 1 } else { b };
    }
}

fn insert_byte(v: &mut Vec<u8>, pos: usize, b: u8) {
    v.insert(pos % (v.len() + 1), b);
}

fn remove_byte(v: &mut Vec<u8>, pos: usize) {
    if !v.is_empty() {
        let i = pos % v.len();
        v.remove(i);
    }
}

/// Edits a string as bytes; the result is kept only when it is still UTF-8 (a request line
/// or header is text once it reaches a dialect).
fn edit_string(s: &mut String, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = s.clone().into_bytes();
    f(&mut bytes);
    if let Ok(t) = String::from_utf8(bytes) {
        *s = t;
    }
}

pub fn signature_roundtrip(data: &[u8]) {
    let (mutation, rest) = Mutation::read(data);
    let mut req = WireRequest::parse(rest);
    let scheme = Scheme::of(&req);
    let nonce = "roundtrip-nonce";
    let signer = Signer {
        access_key_id: ACCESS_KEY_ID,
        secret: ACCESS_KEY_SECRET,
        now: NOW,
        nonce,
    };
    if !scheme.sign(&mut req, &signer) {
        return;
    }
    // Written out and read back, like every request the server sees.
    let req = WireRequest::parse(&req.to_bytes());
    let original = match meaning(scheme, &req) {
        Ok(m) => m,
        // A request the scheme refuses on its shape (an encoding it does not accept, a
        // header it needs twice, ...) is not a disagreement; one it parses and then finds
        // wrongly signed is.
        Err(AuthError::SignatureMismatch { .. }) => {
            panic!("{scheme:?}: coffer's signer and verifier disagree on {req:?}")
        }
        Err(_) => return,
    };
    let mutated = mutation.apply(&req);
    if mutated == req {
        return;
    }
    if let Ok(m) = meaning(scheme, &mutated) {
        assert_eq!(
            m, original,
            "{scheme:?}: a request changed after signing ({mutation:?}) still verifies, \
             with another meaning"
        );
    }
}
