//! SigV4 against requests signed by botocore's unmodified `SigV4Auth` and captured on the
//! wire (`fixtures/sigv4-captures.txt`, made by `fixtures/sigv4-capture.py`: access key
//! `AKIDCOFFEREXAMPLE`, region `cn-north-1`, service `coffer`, one `secretsmanager` request).

mod common;

use coffer_auth::sigv4::{self, SigV4Request};
use coffer_auth::{AuthError, RequestParts};

const CAPTURES: &str = include_str!("fixtures/sigv4-captures.txt");
const AK: &str = "AKIDCOFFEREXAMPLE";
const SK: &[u8] = b"coffer/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLE//token+with/slashes==";
const TIMESTAMP: i64 = 1_795_412_365; // 2026-11-23T05:39:25Z

/// One captured request, as a server would hand it to the crate.
#[derive(Clone, Debug)]
struct Captured {
    number: usize,
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The canonical request botocore logged while signing.
    canonical_request: String,
}

impl Captured {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            raw_query: &self.raw_query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn parse(&self) -> Result<SigV4Request, AuthError> {
        sigv4::parse(&self.parts(), &self.path)
    }

    fn check(&self, secret: &[u8]) -> Result<SigV4Request, AuthError> {
        let parsed = self.parse()?;
        parsed.verify(secret)?;
        Ok(parsed)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// `SignedHeaders` of the captured Authorization.
    fn signed_names(&self) -> Vec<String> {
        let auth = self.header("authorization").expect("Authorization");
        let start = auth.find("SignedHeaders=").expect("SignedHeaders") + 14;
        let end = auth[start..].find(',').expect("comma") + start;
        auth[start..end].split(';').map(str::to_string).collect()
    }
}

/// The requests, each with the canonical request botocore logged (in the trailer, between
/// `=====BEGIN CANONICAL REQUEST=====` and `=====END CANONICAL REQUEST=====`).
fn captures() -> Vec<Captured> {
    common::parse_captures(CAPTURES)
        .into_iter()
        .map(|r| {
            let marker = "=====BEGIN CANONICAL REQUEST=====\n";
            let start = r.trailer.find(marker).expect("canonical block") + marker.len();
            let end = r.trailer[start..]
                .find("\n=====END CANONICAL REQUEST=====")
                .expect("canonical END")
                + start;
            Captured {
                number: r.number,
                method: r.method,
                path: r.path,
                raw_query: r.raw_query,
                headers: r.headers,
                body: r.body,
                canonical_request: r.trailer[start..end].to_string(),
            }
        })
        .collect()
}

fn capture(n: usize) -> Captured {
    captures()
        .into_iter()
        .find(|c| c.number == n)
        .expect("capture exists")
}

#[test]
fn fixture_holds_the_eight_requests() {
    let all = captures();
    assert_eq!(
        all.iter().map(|c| c.number).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(
        all[0].raw_query,
        "prefix=team%20a%2F%C3%BC&tag=x~y%20z&limit=10&Marker=caf%C3%A9%2B1"
    );
    assert_eq!(
        all[1].raw_query,
        "name=a+b~c&label=%C3%A9t%C3%A9+2026&empty="
    );
    assert_eq!(all[2].body.len(), 57);
    assert_eq!(all[3].path, "/coffer/v1/accounts/a%20b");
    assert_eq!(
        all[5].header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(all[6].header("x-amz-date"), None);
    assert_eq!(
        all[6].header("date"),
        Some("Mon, 23 Nov 2026 05:39:25 -0000")
    );
    assert_eq!(all[7].body, br#"{"SecretId": "db/password"}"#);
    for c in &all {
        assert!(c.canonical_request.starts_with(&format!("{}\n", c.method)));
    }
}

#[test]
fn every_capture_verifies_with_botocores_canonical_request() {
    for c in captures() {
        let parsed = c
            .check(SK)
            .unwrap_or_else(|e| panic!("request {}: {e:?}", c.number));
        assert_eq!(
            parsed.canonical_request(),
            c.canonical_request,
            "request {}",
            c.number
        );
        assert_eq!(parsed.access_key_id, AK);
        assert_eq!(parsed.region, "cn-north-1");
        let service = if c.number == 8 {
            "secretsmanager"
        } else {
            "coffer"
        };
        assert_eq!(parsed.service, service);
        assert_eq!(parsed.timestamp, TIMESTAMP);
        assert_eq!(
            parsed.security_token.as_deref(),
            (c.number == 5).then_some(TOKEN)
        );
        assert_eq!(parsed.unsigned_payload(), c.number == 6);
        assert_eq!(parsed.signed_headers, c.signed_names());
        assert!(matches!(
            parsed.verify(b"coffer/K7MDENG+bPxRfiCYEXAMPLEKEz"),
            Err(AuthError::SignatureMismatch { .. })
        ));
    }
}

#[test]
fn what_botocore_signed() {
    // Request 2: botocore signed %20 and sent '+': the pairs are read with '+' as a space.
    let parsed = capture(2).parse().expect("parses");
    let pairs: Vec<(&str, &str)> = parsed
        .query_pairs()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("name", "a b~c"),
            ("label", "\u{e9}t\u{e9} 2026"),
            ("empty", "")
        ]
    );
    // Request 4 and 6: the encoded path is encoded again.
    let lines = |n| {
        capture(n)
            .canonical_request
            .lines()
            .nth(1)
            .expect("uri line")
            .to_string()
    };
    assert_eq!(lines(4), "/coffer/v1/accounts/a%2520b");
    assert_eq!(lines(6), "/coffer/v1/secrets/db%252Fpassword/value");
    // Request 3: inner runs of spaces collapsed.
    assert!(capture(3)
        .canonical_request
        .contains("\nx-coffer-note:a b c\n"));
    // Request 6: the body is not signed, so another body verifies.
    let mut c = capture(6);
    c.body = b"{}".to_vec();
    assert!(c.check(SK).is_ok());
}

/// Every string with its character at `at` replaced by another ASCII character.
fn with_char_replaced(s: &str, at: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    chars[at] = if chars[at] == 'X' { 'Y' } else { 'X' };
    chars.into_iter().collect()
}

#[test]
fn every_one_byte_change_fails() {
    for c in captures() {
        let what = |part: &str, i: usize| format!("request {} {part} at {i}", c.number);
        for i in 0..c.path.chars().count() {
            let mut m = c.clone();
            m.path = with_char_replaced(&c.path, i);
            assert!(m.check(SK).is_err(), "{}", what("path", i));
        }
        for i in 0..c.raw_query.chars().count() {
            let mut m = c.clone();
            m.raw_query = with_char_replaced(&c.raw_query, i);
            assert!(m.check(SK).is_err(), "{}", what("query", i));
        }
        // Request 6 took the body out of the signature (UNSIGNED-PAYLOAD).
        if c.number != 6 {
            for i in 0..c.body.len() {
                let mut m = c.clone();
                m.body[i] ^= 0x01;
                assert!(m.check(SK).is_err(), "{}", what("body", i));
            }
            let mut m = c.clone();
            m.body.push(b' ');
            assert!(m.check(SK).is_err(), "{}", what("body end", 0));
        }
        for name in c.signed_names() {
            let value = c.header(&name).expect("signed header present").to_string();
            for i in 0..value.chars().count() {
                let mut m = c.clone();
                m.set_header(&name, &with_char_replaced(&value, i));
                assert!(m.check(SK).is_err(), "{}", what(&name, i));
            }
        }
        let auth = c
            .header("authorization")
            .expect("Authorization")
            .to_string();
        for i in 0..auth.chars().count() {
            let mut m = c.clone();
            let changed = with_char_replaced(&auth, i);
            m.set_header("authorization", &changed);
            let r = m.check(SK);
            // The access key id only selects the secret: changing it alone still verifies
            // with this secret (the caller would have looked up another one).
            let in_access_key = changed.contains("Credential=") && !changed.contains(AK);
            if in_access_key {
                assert!(r.is_ok(), "{}", what("authorization access key", i));
            } else {
                assert!(r.is_err(), "{}", what("authorization", i));
            }
        }
        let mut m = c.clone();
        m.method = if c.method == "GET" { "HEAD" } else { "GET" }.into();
        assert!(m.check(SK).is_err(), "request {} method", c.number);
    }
}

#[test]
fn unsigned_headers_may_change() {
    for c in captures() {
        let mut m = c.clone();
        m.set_header("user-agent", "something-else/1.0");
        m.set_header("accept-encoding", "gzip");
        m.headers
            .push(("x-forwarded-for".into(), "10.0.0.1".into()));
        assert!(m.check(SK).is_ok(), "request {}", c.number);
    }
}

#[test]
fn coffer_sign_reproduces_botocores_authorization() {
    // Request 6 signs exactly what `sign` signs (content-type, host, x-amz-content-sha256,
    // x-amz-date), so the client side must write botocore's Authorization byte for byte.
    let c = capture(6);
    let mut headers = vec![
        (
            "host".to_string(),
            c.header("host").expect("host").to_string(),
        ),
        ("content-type".to_string(), "application/json".to_string()),
        (
            "x-amz-content-sha256".to_string(),
            "UNSIGNED-PAYLOAD".to_string(),
        ),
    ];
    sigv4::sign(
        "PUT",
        &c.path,
        &c.raw_query,
        &mut headers,
        &c.body,
        AK,
        SK,
        "cn-north-1",
        "coffer",
        TIMESTAMP,
    )
    .expect("signs");
    let auth = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(auth, c.header("authorization"));

    // The others carry no x-amz-content-sha256; signed by coffer they still verify.
    for c in captures() {
        let mut headers: Vec<(String, String)> = c
            .signed_names()
            .iter()
            .map(|n| (n.clone(), c.header(n).expect("present").to_string()))
            .filter(|(n, _)| n != "x-amz-date")
            .collect();
        let service = if c.number == 8 {
            "secretsmanager"
        } else {
            "coffer"
        };
        sigv4::sign(
            &c.method,
            &c.path,
            &c.raw_query,
            &mut headers,
            &c.body,
            AK,
            SK,
            "cn-north-1",
            service,
            TIMESTAMP,
        )
        .expect("signs");
        let req = RequestParts {
            method: &c.method,
            raw_query: &c.raw_query,
            headers: &headers,
            body: &c.body,
        };
        let parsed = sigv4::parse(&req, &c.path).expect("parses");
        assert!(parsed.verify(SK).is_ok(), "request {}", c.number);
        assert_eq!(
            parsed.query_pairs(),
            capture(c.number).parse().expect("parses").query_pairs()
        );
    }
}
