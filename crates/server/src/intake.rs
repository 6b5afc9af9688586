//! The shape of a request, judged before any API reads it: the length of its URI, the number of
//! its header fields and the size of its body. The body is read here, up to the limit, instead
//! of by axum's `DefaultBodyLimit` (whose bare `413 text/plain` no SDK can read): a request
//! over a limit is refused by the dispatch in the format of the API it was addressed to, and
//! audited like any other.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Uri};
use coffer_api::Refusal;
use http_body_util::BodyExt;

/// The server's limits on a request's shape (`--max-body-bytes`, `--max-uri-bytes`,
/// `--max-headers`).
#[derive(Clone, Copy, Debug)]
pub struct InputLimits {
    pub max_body_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_headers: usize,
}

/// How much of a refused body is read and thrown away so that the client, which is usually
/// still sending it, reads the refusal instead of a reset connection. A body declared longer
/// than this is not read: the connection is closed after the answer.
const DRAIN_BYTES: u64 = 16 << 20;
/// How long a refused body may take to arrive before the connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The request target's length as received: path and query (and scheme and authority, for a
/// request in absolute form).
pub fn uri_len(uri: &Uri) -> usize {
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
    target + authority + scheme
}

/// A URI or a header list over the limits, judged in that order.
pub fn check_head(uri: &Uri, headers: &HeaderMap, limits: &InputLimits) -> Option<Refusal> {
    let length = uri_len(uri);
    if length > limits.max_uri_bytes {
        return Some(Refusal::UriTooLong {
            length,
            limit: limits.max_uri_bytes,
        });
    }
    // Every field line counts, a repeated name as often as it is repeated.
    let count = headers.len();
    if count > limits.max_headers {
        return Some(Refusal::TooManyHeaders {
            count,
            limit: limits.max_headers,
        });
    }
    None
}

/// How much of the end of an oversized body is kept while it is drained: a form's common
/// parameters (`Action`, `Version`) may come after a long value, as Tencent's legacy signature
/// sends them.
const TAIL_BYTES: usize = 4096;

/// What reading a body gave.
pub enum BodyRead {
    Complete(Bytes),
    /// Longer than the limit; `prefix` is its first bytes (at most the limit) and `tail` its last
    /// ones (at most [`TAIL_BYTES`], when it was read to the end), which the dispatch may look at
    /// to tell which API a form body is addressed to.
    TooLarge {
        prefix: Bytes,
        tail: Vec<u8>,
    },
    /// The client stopped sending, or the body could not be decoded.
    Incomplete,
}

/// Reads `body` up to `limit` bytes. A longer body is refused; what follows the limit is
/// drained (see [`drain`]) so that the client reads the answer, keeping its last bytes.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> BodyRead {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match body.frame().await {
            None => return BodyRead::Complete(Bytes::from(buf)),
            Some(Err(_)) => return BodyRead::Incomplete,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers carry nothing coffer reads
                };
                if buf.len() + data.len() > limit {
                    let room = limit - buf.len();
                    buf.extend_from_slice(&data[..room]);
                    let mut tail = Vec::new();
                    keep_tail(&mut tail, &data[room..]);
                    let read = (limit + data.len() - room) as u64;
                    let tail = drain_rest(body, headers, read, Some(tail))
                        .await
                        .unwrap_or_default();
                    return BodyRead::TooLarge {
                        prefix: Bytes::from(buf),
                        tail,
                    };
                }
                buf.extend_from_slice(&data);
            }
        }
    }
}

/// Appends `data` to `tail`, keeping its last [`TAIL_BYTES`].
fn keep_tail(tail: &mut Vec<u8>, data: &[u8]) {
    let data = &data[data.len().saturating_sub(TAIL_BYTES)..];
    tail.extend_from_slice(data);
    let excess = tail.len().saturating_sub(TAIL_BYTES);
    tail.drain(..excess);
}

/// Reads and discards a body the server will not use (the request was refused for its head),
/// within [`DRAIN_BYTES`] and [`DRAIN_TIME`], so that the client gets to read the refusal.
pub async fn drain(body: Body, headers: &HeaderMap) {
    drain_rest(body, headers, 0, None).await;
}

/// Drains what is left of `body` (`already` bytes were read); with `tail`, keeps the body's last
/// bytes in it and returns it when the body was read to its end.
async fn drain_rest(
    mut body: Body,
    headers: &HeaderMap,
    already: u64,
    mut tail: Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    // A client that waits for `100 Continue` has not sent the body and will not once it reads
    // the refusal; reading would only invite it.
    if headers
        .get("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    {
        return None;
    }
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES) {
        return None;
    }
    let drained = async {
        let mut seen = already;
        loop {
            match body.frame().await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        seen += data.len() as u64;
                        if seen > DRAIN_BYTES {
                            return false;
                        }
                        if let Some(tail) = tail.as_mut() {
                            keep_tail(tail, &data);
                        }
                    }
                }
            }
        }
    };
    match tokio::time::timeout(DRAIN_TIME, drained).await {
        Ok(true) => tail,
        _ => None,
    }
}

/// The parts of an oversized form body that can be read for recognition: its whole parameters
/// from the start (up to the last `&` of `prefix`) and from the end (after the first `&` of
/// `tail`), so that no parameter cut in the middle is read as another value. Empty for anything
/// that is not a form (JSON bodies are addressed by headers or path).
pub fn form_sample(prefix: &[u8], tail: &[u8], is_form: bool) -> Vec<u8> {
    if !is_form {
        return Vec::new();
    }
    let mut out = match prefix.iter().rposition(|b| *b == b'&') {
        Some(at) => prefix[..at].to_vec(),
        None => Vec::new(),
    };
    if let Some(at) = tail.iter().position(|b| *b == b'&') {
        out.push(b'&');
        out.extend_from_slice(&tail[at + 1..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> InputLimits {
        InputLimits {
            max_body_bytes: 10,
            max_uri_bytes: 20,
            max_headers: 2,
        }
    }

    #[test]
    fn the_uri_is_judged_before_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("a", "1".parse().unwrap());
        headers.append("a", "2".parse().unwrap());
        let short: Uri = "/?Action=x".parse().unwrap();
        assert_eq!(check_head(&short, &headers, &limits()), None);
        headers.append("a", "3".parse().unwrap());
        assert_eq!(
            check_head(&short, &headers, &limits()),
            Some(Refusal::TooManyHeaders { count: 3, limit: 2 })
        );
        let long: Uri = "/?Action=0123456789abc".parse().unwrap();
        assert_eq!(
            check_head(&long, &headers, &limits()),
            Some(Refusal::UriTooLong {
                length: 22,
                limit: 20
            })
        );
        let absolute: Uri = "http://host:1/abc".parse().unwrap();
        assert_eq!(uri_len(&absolute), "http://host:1/abc".len());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_keep_their_first_and_last_bytes() {
        let headers = HeaderMap::new();
        match read_body(Body::from("0123456789"), &headers, 10).await {
            BodyRead::Complete(b) => assert_eq!(&b[..], b"0123456789"),
            _ => panic!("at the limit is accepted"),
        }
        match read_body(Body::from("0123456789A"), &headers, 10).await {
            BodyRead::TooLarge { prefix, tail } => {
                assert_eq!(&prefix[..], b"0123456789");
                assert_eq!(tail, b"A");
            }
            _ => panic!("over the limit is refused"),
        }
        let long = format!("{}&Action=X", "v".repeat(3 * TAIL_BYTES));
        match read_body(Body::from(long.clone()), &headers, 10).await {
            BodyRead::TooLarge { tail, .. } => {
                assert_eq!(tail.len(), TAIL_BYTES);
                assert!(long.as_bytes().ends_with(&tail));
            }
            _ => panic!("over the limit is refused"),
        }
    }

    #[test]
    fn a_form_sample_holds_whole_parameters_from_both_ends() {
        assert_eq!(
            form_sample(b"Action=A&Version=2&Secret", b"", true),
            b"Action=A&Version=2"
        );
        assert_eq!(
            form_sample(b"SecretString=xxxx", b"xxx&Action=B&Version=3", true),
            b"&Action=B&Version=3"
        );
        assert_eq!(
            form_sample(b"A=1&SecretData=xx", b"xx&V=2", true),
            b"A=1&V=2"
        );
        assert_eq!(form_sample(b"SecretData=xxxx", b"xxxx", true), b"");
        assert_eq!(form_sample(b"{\"a\":1,&", b"&x", false), b"");
    }
}
