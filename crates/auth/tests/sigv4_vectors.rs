//! SigV4 against AWS's own test-suite vectors (`fixtures/sigv4-vectors.txt`, copied from
//! awslabs/aws-c-auth `tests/aws-signing-test-suite/v4`): the expected `Authorization`
//! verifies, and the canonical request and string to sign are byte-for-byte AWS's.

use coffer_auth::sigv4::{self, SigV4Request};
use coffer_auth::{AuthError, RequestParts};

const VECTORS: &str = include_str!("fixtures/sigv4-vectors.txt");
const AK: &str = "AKIDEXAMPLE";
const SK: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TIMESTAMP: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

/// One vector, as a server would hand it to the crate.
#[derive(Clone, Debug)]
struct Vector {
    name: String,
    accept: bool,
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    canonical_request: String,
    string_to_sign: String,
}

impl Vector {
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

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The text between `start` and the next `=====` marker line, minus the one `\n` the
/// fixture adds.
fn section<'a>(text: &'a str, start: &str) -> (&'a str, &'a str) {
    let from = text.find(start).expect("section marker") + start.len();
    let to = text[from..].find("\n=====").expect("next marker") + from;
    (&text[from..to], &text[to + 1..])
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut rest = VECTORS;
    // Markers start a line; the header comment quotes them mid-line.
    while let Some(pos) = rest.find("\n=====VECTOR ") {
        let line_end = rest[pos + 1..].find('\n').expect("marker line") + pos + 1;
        let marker = &rest[pos + "\n=====VECTOR ".len()..line_end];
        let marker = marker.strip_suffix("=====").expect("marker end");
        let (name, expect) = marker.split_once(' ').expect("name and expectation");
        let block = &rest[line_end + 1..];
        let (request, block) = section(block, "");
        let (canonical, block) = section(block, "=====CANONICAL REQUEST=====\n");
        let (sts, block) = section(block, "=====STRING TO SIGN=====\n");
        let end = block.find("=====END=====").expect("END marker");

        let (head, body) = request
            .split_once("\n\n")
            .expect("blank line after headers");
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let (without_version, version) = request_line.rsplit_once(' ').expect("version");
        assert_eq!(version, "HTTP/1.1");
        let (method, target) = without_version.split_once(' ').expect("method");
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        out.push(Vector {
            name: name.to_string(),
            accept: match expect {
                "accept" => true,
                "refuse" => false,
                other => panic!("unknown expectation {other}"),
            },
            method: method.to_string(),
            path: path.to_string(),
            raw_query: raw_query.to_string(),
            headers,
            body: body.as_bytes().to_vec(),
            canonical_request: canonical.to_string(),
            string_to_sign: sts.to_string(),
        });
        rest = &block[end..];
    }
    out
}

fn vector(name: &str) -> Vector {
    vectors()
        .into_iter()
        .find(|v| v.name == name)
        .expect("vector exists")
}

#[test]
fn fixture_holds_the_vectors() {
    let all = vectors();
    let accepted: Vec<&str> = all
        .iter()
        .filter(|v| v.accept)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        accepted,
        vec![
            "get-vanilla",
            "get-vanilla-query-order-key-case",
            "get-vanilla-query-order-encoded",
            "get-vanilla-query-unreserved",
            "get-vanilla-utf8-query",
            "get-utf8",
            "get-space-normalized",
            "get-header-value-trim",
            "get-header-value-order",
            "get-vanilla-with-session-token",
            "post-vanilla-query",
            "post-x-www-form-urlencoded",
        ]
    );
    assert_eq!(all.len(), 15);
    let form = vector("post-x-www-form-urlencoded");
    assert_eq!(form.body, b"Param1=value1");
    assert_eq!(form.header("content-length"), Some("13"));
    assert_eq!(vector("get-space-normalized").path, "/example space/");
    assert_eq!(vector("get-vanilla-utf8-query").raw_query, "\u{1234}=bar");
    assert_eq!(
        vector("get-header-value-order")
            .headers
            .iter()
            .filter(|(k, _)| k == "my-header1")
            .count(),
        4
    );
    assert!(vector("get-vanilla").canonical_request.ends_with("b855"));
    assert!(vector("get-vanilla").string_to_sign.ends_with("7e63"));
}

#[test]
fn accepted_vectors_verify_with_aws_canonical_requests() {
    for v in vectors().into_iter().filter(|v| v.accept) {
        let parsed = v.parse().unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
        assert_eq!(
            parsed.canonical_request(),
            v.canonical_request,
            "{}",
            v.name
        );
        assert_eq!(parsed.string_to_sign(), v.string_to_sign, "{}", v.name);
        assert!(parsed.verify(SK).is_ok(), "{}", v.name);
        assert_eq!(parsed.access_key_id, AK);
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.service, "service");
        assert_eq!(parsed.timestamp, TIMESTAMP);
        assert!(
            matches!(
                parsed.verify(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz"),
                Err(AuthError::SignatureMismatch { .. })
            ),
            "{}",
            v.name
        );
    }
}

#[test]
fn vector_details() {
    let token = vector("get-vanilla-with-session-token")
        .parse()
        .expect("parses");
    assert_eq!(
        token.security_token.as_deref(),
        Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267")
    );
    let form = vector("post-x-www-form-urlencoded")
        .parse()
        .expect("parses");
    assert!(!form.unsigned_payload());
    assert_eq!(
        form.signed_headers,
        vec![
            "content-length",
            "content-type",
            "host",
            "x-amz-content-sha256",
            "x-amz-date"
        ]
    );
    let q = vector("get-vanilla-query-order-encoded")
        .parse()
        .expect("parses");
    let names: Vec<&str> = q.query_pairs().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, vec!["Param-3", "Param", "\u{1234}"]);
}

#[test]
fn changed_vectors_fail() {
    for v in vectors().into_iter().filter(|v| v.accept) {
        // Another path, another query, another body, one more character in a signed value.
        let mut m = v.clone();
        m.path.push('x');
        assert!(m.parse().and_then(|p| p.verify(SK)).is_err(), "{}", v.name);
        let mut m = v.clone();
        m.raw_query
            .push_str(if m.raw_query.is_empty() { "a" } else { "&a" });
        assert!(m.parse().and_then(|p| p.verify(SK)).is_err(), "{}", v.name);
        let mut m = v.clone();
        m.body.push(b'x');
        assert!(m.parse().and_then(|p| p.verify(SK)).is_err(), "{}", v.name);
        let mut m = v.clone();
        for (k, val) in m.headers.iter_mut() {
            if k == "host" {
                val.push('x');
            }
        }
        assert!(m.parse().and_then(|p| p.verify(SK)).is_err(), "{}", v.name);
    }
}

#[test]
fn refused_vectors_are_refused_on_purpose() {
    // AWS takes the token unsigned here; coffer requires it signed.
    assert!(matches!(
        vector("post-sts-header-after").parse(),
        Err(AuthError::Incomplete(_))
    ));
    // AWS normalises these paths before signing; coffer refuses them instead.
    for name in ["get-slashes-normalized", "get-relative-relative-normalized"] {
        assert!(
            matches!(vector(name).parse(), Err(AuthError::BadEncoding(_))),
            "{name}"
        );
    }
    // The same requests on the path AWS signed do verify, so only the path is refused.
    for name in ["get-slashes-normalized", "get-relative-relative-normalized"] {
        let mut v = vector(name);
        let canonical_path = v.canonical_request.lines().nth(1).expect("path line");
        v.path = canonical_path.to_string();
        let parsed = v.parse().expect("parses");
        assert_eq!(parsed.canonical_request(), v.canonical_request, "{name}");
        assert!(parsed.verify(SK).is_ok(), "{name}");
    }
}

#[test]
fn sign_reproduces_a_vector_authorization() {
    // post-x-www-form-urlencoded signs exactly the headers `sign` signs, so the client side
    // must produce AWS's Authorization byte for byte.
    let v = vector("post-x-www-form-urlencoded");
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("host".to_string(), "example.amazonaws.com".to_string()),
        ("content-length".to_string(), "13".to_string()),
    ];
    sigv4::sign(
        "POST",
        "/",
        "",
        &mut headers,
        &v.body,
        AK,
        SK,
        "us-east-1",
        "service",
        TIMESTAMP,
    )
    .expect("signs");
    let auth = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(auth, v.header("authorization"));
    assert_eq!(
        headers
            .iter()
            .find(|(k, _)| k == "x-amz-content-sha256")
            .map(|(_, v)| v.as_str()),
        v.header("x-amz-content-sha256")
    );
}
