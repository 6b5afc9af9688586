//! SDK-HMAC-SHA256 against requests captured from Huawei's unmodified Python SDK
//! (`fixtures/huawei-captures.txt`: huaweicloudsdkcsms / huaweicloudsdkcore 3.1.219, AK `testid`,
//! SK `testsecret`, project `0123456789abcdef0123456789abcdef`), and hostile inputs.

mod common;

use coffer_auth::huawei::{self, HuaweiRequest};
use coffer_auth::{skew, AuthError, RequestParts};

const CAPTURES: &str = include_str!("fixtures/huawei-captures.txt");
const AK: &str = "testid";
const SK: &[u8] = b"testsecret";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// One captured request, as a server would hand it to the crate.
#[derive(Clone, Debug)]
struct Captured {
    number: usize,
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    /// Header names as they went on the wire (the fixture's case).
    wire_names: Vec<String>,
    body: Vec<u8>,
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

    fn parse(&self) -> Result<HuaweiRequest, AuthError> {
        huawei::parse(&self.parts(), &self.path)
    }

    fn check(&self, secret: &[u8]) -> Result<HuaweiRequest, AuthError> {
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

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| k != name);
    }

    fn authorization(&self) -> &str {
        self.header("authorization")
            .expect("captured Authorization")
    }

    /// `SignedHeaders` of the captured Authorization.
    fn signed_names(&self) -> Vec<String> {
        let auth = self.authorization();
        let start = auth.find("SignedHeaders=").expect("SignedHeaders") + 14;
        let end = auth[start..].find(',').expect("comma") + start;
        auth[start..end].split(';').map(str::to_string).collect()
    }

    /// Re-signs the request as the SDK would after a change it made before signing: every
    /// header except those python-requests adds later (and Authorization itself) is signed.
    fn resign(&mut self) {
        const UNSIGNED: [&str; 5] = [
            "accept",
            "accept-encoding",
            "connection",
            "content-length",
            "authorization",
        ];
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| !UNSIGNED.contains(&k.as_str()))
            .cloned()
            .collect();
        let auth = huawei::sign(
            &self.method,
            &self.path,
            &self.raw_query,
            &headers,
            &self.body,
            AK,
            SK,
        );
        self.set_header("authorization", &auth);
    }
}

fn captures() -> Vec<Captured> {
    common::parse_captures(CAPTURES)
        .into_iter()
        .map(|r| Captured {
            number: r.number,
            method: r.method,
            path: r.path,
            raw_query: r.raw_query,
            headers: r.headers,
            wire_names: r.wire_names,
            body: r.body,
        })
        .collect()
}

fn capture(n: usize) -> Captured {
    captures()
        .into_iter()
        .find(|c| c.number == n)
        .expect("capture exists")
}

fn is_mismatch<T>(r: Result<T, AuthError>) -> bool {
    matches!(r, Err(AuthError::SignatureMismatch { .. }))
}

fn is_incomplete<T>(r: Result<T, AuthError>) -> bool {
    matches!(r, Err(AuthError::Incomplete(_)))
}

fn is_bad_encoding<T>(r: Result<T, AuthError>) -> bool {
    matches!(r, Err(AuthError::BadEncoding(_)))
}

// ------------------------------------------------------------------------------ captures

#[test]
fn fixture_holds_the_eleven_requests() {
    let all = captures();
    assert_eq!(
        all.iter().map(|c| c.number).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
    assert_eq!(all[0].body.len(), 81);
    assert_eq!(all[2].body.len(), 79);
    assert_eq!(all[3].raw_query, "limit=2&marker=a%20b%2Fc");
    assert_eq!(all[6].path, "/v1/%7Bproject_id%7D/secrets/a-no-pid");
    assert!(all[10]
        .path
        .ends_with("/tags/a%20b%3Ac%3Dd%2Be%40f%2F%C3%A9"));
}

#[test]
fn every_capture_verifies_and_only_with_the_right_key() {
    for c in captures() {
        let parsed = c.check(SK);
        assert!(parsed.is_ok(), "capture {}: {parsed:?}", c.number);
        let parsed = parsed.expect("checked");
        assert_eq!(parsed.access_key_id, AK);
        assert_eq!(parsed.domain_id, None);
        assert_eq!(parsed.security_token, None);
        assert!(!parsed.unsigned_payload);
        let expected_project = match c.number {
            7 | 8 => None,
            _ => Some(PROJECT),
        };
        assert_eq!(
            parsed.project_id.as_deref(),
            expected_project,
            "{}",
            c.number
        );
        let expected_time = match c.number {
            1..=6 => 1_795_412_365, // 20261123T053925Z
            7..=9 => 1_795_412_342, // 20261123T053902Z
            _ => 1_795_412_783,     // 20261123T054623Z
        };
        assert_eq!(parsed.timestamp, expected_time, "{}", c.number);
        assert!(skew::within_window(
            parsed.timestamp,
            expected_time + huawei::SKEW_WINDOW_SECS,
            huawei::SKEW_WINDOW_SECS
        ));
        assert!(!skew::within_window(
            parsed.timestamp,
            expected_time + huawei::SKEW_WINDOW_SECS + 1,
            huawei::SKEW_WINDOW_SECS
        ));

        for wrong in [&b"testsecretx"[..], b"testsecre", b"TESTSECRET", b""] {
            assert!(is_mismatch(parsed.verify(wrong)), "capture {}", c.number);
        }
    }
}

#[test]
fn sign_reproduces_every_captured_authorization() {
    for c in captures() {
        let signed = c.signed_names();
        // Wire names in their wire case: the helper lower-cases them itself.
        let headers: Vec<(String, String)> = c
            .wire_names
            .iter()
            .zip(&c.headers)
            .filter(|(_, (k, _))| signed.contains(k))
            .map(|(wire, (_, v))| (wire.clone(), v.clone()))
            .collect();
        assert_eq!(headers.len(), signed.len(), "capture {}", c.number);
        let auth = huawei::sign(&c.method, &c.path, &c.raw_query, &headers, &c.body, AK, SK);
        assert_eq!(auth, c.authorization(), "capture {}", c.number);
    }
}

#[test]
fn canonical_request_matches_the_reference() {
    let parsed = capture(1).parse().expect("parses");
    let canonical = parsed.canonical_request();
    assert!(canonical.starts_with(
        "POST\n/v1/0123456789abcdef0123456789abcdef/secrets/\n\ncontent-type:application/json;charset=utf-8\nhost:127.0.0.1:18080\nuser-agent:huaweicloud-usdk-python/3.0; "
    ));
    assert!(canonical.ends_with(
        "x-sdk-date:20261123T053925Z\n\ncontent-type;host;user-agent;x-project-id;x-sdk-date\n\
         909108fb79b591ac15d6f386b4271459e83bb7132d948f7821242da6c59043d6"
    ));
    assert!(parsed
        .string_to_sign()
        .starts_with("SDK-HMAC-SHA256\n20261123T053925Z\nb16f99fb"));
    assert_eq!(
        parsed.signed_headers,
        vec![
            "content-type",
            "host",
            "user-agent",
            "x-project-id",
            "x-sdk-date"
        ]
    );

    // Capture 4: the query is decoded, sorted and re-encoded (identical to the wire here).
    let parsed = capture(4).parse().expect("parses");
    assert_eq!(
        parsed.canonical_request().lines().nth(2),
        Some("limit=2&marker=a%20b%2Fc")
    );
    assert_eq!(
        parsed.query_pairs(),
        &[
            ("limit".to_string(), "2".to_string()),
            ("marker".to_string(), "a b/c".to_string())
        ]
    );

    // Capture 5: no body, the SHA-256 of the empty string.
    let parsed = capture(5).parse().expect("parses");
    assert!(parsed
        .canonical_request()
        .ends_with("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

    // Capture 8: the IAM call signs no content-type.
    let parsed = capture(8).parse().expect("parses");
    assert_eq!(
        parsed.signed_headers,
        vec!["host", "user-agent", "x-sdk-date"]
    );

    // Capture 11: %2F became a separator.
    let parsed = capture(11).parse().expect("parses");
    assert_eq!(
        parsed.canonical_request().lines().nth(1),
        Some("/v1/0123456789abcdef0123456789abcdef/csms/bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e/tags/a%20b%3Ac%3Dd%2Be%40f/%C3%A9/")
    );
}

// ------------------------------------------------------------------------------ tampering

#[test]
fn tampered_requests_fail() {
    // Path.
    let mut c = capture(2);
    c.path = c.path.replace("demo-secret_1", "demo-secret_2");
    assert!(is_mismatch(c.check(SK)));
    let mut c = capture(2);
    c.path = c.path.replace("/v1/", "/v2/");
    assert!(is_mismatch(c.check(SK)));
    let mut c = capture(11);
    c.path = c.path.replace("%2F", "%2B");
    assert!(is_mismatch(c.check(SK)));

    // Query: a value, a name, a dropped and an added parameter.
    for q in [
        "limit=3&marker=a%20b%2Fc",
        "limit=2&marker=a%20b%2Fd",
        "limiT=2&marker=a%20b%2Fc",
        "limit=2",
        "limit=2&marker=a%20b%2Fc&extra=1",
        "limit=2&marker=a+b%2Fc",
        "",
    ] {
        let mut c = capture(4);
        c.raw_query = q.to_string();
        assert!(is_mismatch(c.check(SK)), "{q}");
    }
    let mut c = capture(2);
    c.raw_query = "x=1".into();
    assert!(is_mismatch(c.check(SK)));

    // Body: changed, truncated, added where there was none.
    let mut c = capture(1);
    c.body = c.body.replace_bytes("hello world", "hello World");
    assert!(is_mismatch(c.check(SK)));
    let mut c = capture(3);
    c.body.pop();
    assert!(is_mismatch(c.check(SK)));
    let mut c = capture(10);
    c.body = b"{}".to_vec();
    assert!(is_mismatch(c.check(SK)));

    // Signed headers: X-Project-Id, Host (port), Content-Type, User-Agent, X-Sdk-Date.
    for (name, value) in [
        ("x-project-id", "0123456789abcdef0123456789abcdee"),
        ("host", "127.0.0.1:18081"),
        ("host", "127.0.0.1"),
        ("content-type", "application/json;charset=UTF-8"),
        ("user-agent", "curl/8"),
        ("x-sdk-date", "20261123T053926Z"),
    ] {
        let mut c = capture(1);
        c.set_header(name, value);
        assert!(is_mismatch(c.check(SK)), "{name}");
    }
    // Method.
    let mut c = capture(5);
    c.method = "GET".into();
    assert!(is_mismatch(c.check(SK)));
    let mut c = capture(2);
    c.method = "get".into();
    assert!(is_incomplete(c.check(SK)));
    // Access key (same signature, other key id: the other key's secret must not verify it).
    let mut c = capture(2);
    let auth = c.authorization().replace("Access=testid", "Access=otherid");
    c.set_header("authorization", &auth);
    let parsed = c.parse().expect("parses");
    assert_eq!(parsed.access_key_id, "otherid");
    assert!(is_mismatch(parsed.verify(b"othersecret")));
    // Signature.
    let mut c = capture(2);
    let auth = c.authorization().replace("Signature=8", "Signature=9");
    c.set_header("authorization", &auth);
    assert!(is_mismatch(c.check(SK)));
    // Dropping a signed header from SignedHeaders changes the canonical request.
    let mut c = capture(1);
    let auth = c.authorization().replace("user-agent;", "");
    c.set_header("authorization", &auth);
    assert!(is_mismatch(c.check(SK)));
}

#[test]
fn unsigned_headers_may_change() {
    let mut c = capture(1);
    c.set_header("accept", "text/plain");
    c.remove_header("connection");
    c.set_header("content-length", "81");
    assert!(c.check(SK).is_ok());
}

#[test]
fn equivalent_paths_share_a_canonical_uri() {
    // The wire path never ends with '/', the canonical URI always does: both forms verify.
    let mut c = capture(2);
    c.path.push('/');
    assert!(c.check(SK).is_ok());
    assert!(c.parse().expect("parses").canonical_request().contains(
        "\n/v1/0123456789abcdef0123456789abcdef/secrets/demo-secret_1/versions/latest/\n"
    ));
    // The client's encoding is not trusted: %2D for '-', %5F for '_', and %2F for '/' all
    // sign the same (routing must therefore decode per raw segment).
    let mut c = capture(2);
    c.path = c.path.replace("demo-secret_1", "demo%2Dsecret%5f1");
    assert!(c.check(SK).is_ok());
    let mut c = capture(11);
    c.path = c.path.replace("%2F", "/");
    assert!(c.check(SK).is_ok());
    // The query likewise: order and encoding of unreserved characters do not matter.
    let mut c = capture(4);
    c.raw_query = "marker=a%20b%2fc&lim%69t=2".into();
    assert!(c.check(SK).is_ok());
}

#[test]
fn resigned_changes_verify() {
    // The helper signs what a client built: a path without the trailing slash, a query in any
    // order, '~' and '+' in values.
    let mut c = capture(2);
    c.path = "/v1/0123456789abcdef0123456789abcdef/secrets/a_b-c/stages/st%2Dage".into();
    c.method = "PUT".into();
    c.raw_query = "marker=z%20z&limit=5&a=~%2F%2B".into();
    c.body = br#"{"name": "x~y", "secret_string": "\u00e9"}"#.to_vec();
    c.set_header("user-agent", "  ua with  spaces  ");
    c.resign();
    let parsed = c.check(SK).expect("verifies");
    let lines: Vec<&str> = parsed.canonical_request().lines().collect();
    assert_eq!(
        lines[1],
        "/v1/0123456789abcdef0123456789abcdef/secrets/a_b-c/stages/st-age/"
    );
    assert_eq!(lines[2], "a=~%2F%2B&limit=5&marker=z%20z");
    assert!(lines.contains(&"user-agent:ua with  spaces"));
    assert!(is_mismatch(parsed.verify(b"testsecreT")));
}

// ------------------------------------------------------------------------- exposed headers

#[test]
fn exposed_headers_must_be_signed_when_present() {
    // Capture 7 has no X-Project-Id; adding one without signing it is refused.
    let mut c = capture(7);
    c.set_header("x-project-id", PROJECT);
    assert!(is_incomplete(c.parse()));
    for name in ["x-domain-id", "x-security-token"] {
        let mut c = capture(1);
        c.set_header(name, "v");
        assert!(is_incomplete(c.parse()), "{name}");
        // Signed, they are reported.
        c.resign();
        let parsed = c.check(SK).expect("verifies");
        let got = if name == "x-domain-id" {
            parsed.domain_id
        } else {
            parsed.security_token
        };
        assert_eq!(got.as_deref(), Some("v"));
    }
    // Repeated exposed headers are refused even when signed.
    let mut c = capture(1);
    c.headers.push((
        "x-project-id".into(),
        "ffffffffffffffffffffffffffffffff".into(),
    ));
    assert!(is_incomplete(c.parse()));
}

#[test]
fn content_sha256_header() {
    // UNSIGNED-PAYLOAD: the body is out of the signature, and the request says so.
    let mut c = capture(1);
    c.set_header("x-sdk-content-sha256", "UNSIGNED-PAYLOAD");
    c.resign();
    assert!(c
        .signed_names()
        .contains(&"x-sdk-content-sha256".to_string()));
    let parsed = c.check(SK).expect("verifies");
    assert!(parsed.unsigned_payload);
    assert!(parsed.canonical_request().ends_with("\nUNSIGNED-PAYLOAD"));
    c.body = b"{\"other\": 1}".to_vec();
    assert!(c.check(SK).is_ok());
    // With an empty body the SDK uses the header too.
    c.body.clear();
    assert!(c.check(SK).is_ok());

    // The body's own digest (either hex case) keeps the body signed.
    let mut c = capture(1);
    let digest = "909108fb79b591ac15d6f386b4271459e83bb7132d948f7821242da6c59043d6";
    c.set_header("x-sdk-content-sha256", digest);
    c.resign();
    let parsed = c.check(SK).expect("verifies");
    assert!(!parsed.unsigned_payload);
    c.body = c.body.replace_bytes("hello", "HELLO");
    assert!(matches!(c.parse(), Err(AuthError::ContentHashMismatch)));
    let mut c = capture(1);
    c.set_header("x-sdk-content-sha256", &digest.to_uppercase());
    c.resign();
    assert!(c.check(SK).is_ok());
    // Anything else is refused before any key lookup.
    for v in [
        "",
        "unsigned-payload",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "00",
    ] {
        let mut c = capture(1);
        c.set_header("x-sdk-content-sha256", v);
        c.resign();
        assert!(
            matches!(c.parse(), Err(AuthError::ContentHashMismatch)),
            "{v:?}"
        );
    }
}

// ------------------------------------------------------------------------------ malformed

#[test]
fn malformed_requests_are_refused() {
    // No Authorization, or two.
    let mut c = capture(2);
    c.remove_header("authorization");
    assert!(is_incomplete(c.parse()));
    let mut c = capture(2);
    let auth = c.authorization().to_string();
    c.headers.push(("authorization".into(), auth));
    assert!(is_incomplete(c.parse()));

    // Other algorithms and garbled values.
    for auth in [
        "",
        "Basic dGVzdGlkOnRlc3RzZWNyZXQ=",
        "SDK-HMAC-SM3 Access=testid, SignedHeaders=host;x-sdk-date, Signature=00",
        "SDK-HMAC-SHA256 Access=testid",
        "SDK-HMAC-SHA256 Access=testid, SignedHeaders=content-type;user-agent;x-sdk-date, Signature=8966613591d2bdc41da5a58ab8f2b04f2e6e038415139a905c18c7e998dbcbce",
        "SDK-HMAC-SHA256 Access=testid, SignedHeaders=content-type;host;user-agent, Signature=8966613591d2bdc41da5a58ab8f2b04f2e6e038415139a905c18c7e998dbcbce",
        "SDK-HMAC-SHA256 Access=testid, SignedHeaders=content-type;host;user-agent;x-sdk-date, Signature=zz66613591d2bdc41da5a58ab8f2b04f2e6e038415139a905c18c7e998dbcbce",
    ] {
        let mut c = capture(2);
        c.set_header("authorization", auth);
        assert!(is_incomplete(c.parse()), "{auth}");
    }

    // A signed header that is absent (or repeated).
    for name in ["host", "x-sdk-date", "content-type", "user-agent"] {
        let mut c = capture(2);
        c.remove_header(name);
        assert!(is_incomplete(c.parse()), "{name}");
        let mut c = capture(2);
        let v = c.header(name).expect("present").to_string();
        c.headers.push((name.to_string(), v));
        assert!(is_incomplete(c.parse()), "{name} twice");
    }

    // Dates present but not in the SDK format.
    for date in [
        "",
        "2026-11-23T05:39:25Z",
        "20261123T053925",
        "1795412365",
        "20261323T053925Z",
    ] {
        let mut c = capture(2);
        c.set_header("x-sdk-date", date);
        assert!(
            matches!(c.parse(), Err(AuthError::BadTimestampFormat)),
            "{date:?}"
        );
    }

    // Paths and queries that do not decode.
    for path in ["", "v1/x", "*", "/v1/%zz", "/v1/%", "/v1/%C3", "/v1/%FF/x"] {
        let mut c = capture(2);
        c.path = path.to_string();
        assert!(is_bad_encoding(c.parse()), "{path:?}");
    }
    for q in ["a=%", "a=%4", "%zz=1", "a=%C3%28"] {
        let mut c = capture(4);
        c.raw_query = q.to_string();
        assert!(is_bad_encoding(c.parse()), "{q:?}");
    }

    // Methods that are not upper-case tokens.
    for m in ["", "post", "POST /", "PO\nST"] {
        let mut c = capture(1);
        c.method = m.to_string();
        assert!(is_incomplete(c.parse()), "{m:?}");
    }
}

/// A small deterministic generator, so the test needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn mangled_inputs_never_panic() {
    let alphabet: Vec<char> = "aZ09 ,;=%/?&+~-_.:\t\u{e9}\u{1c}TZ".chars().collect();
    let mut rng = Lcg(7);
    for c in captures() {
        let auth = c.authorization().to_string();
        // Every prefix of the Authorization value.
        for (i, _) in auth.char_indices() {
            let mut m = c.clone();
            m.set_header("authorization", &auth[..i]);
            assert!(m.check(SK).is_err());
        }
        // Random character replacements in every part the parser reads.
        for _ in 0..300 {
            let mut m = c.clone();
            let ch = alphabet[rng.next() % alphabet.len()];
            let target = rng.next() % 4;
            let text = match target {
                0 => m.path.clone(),
                1 => m.raw_query.clone(),
                2 => auth.clone(),
                _ => m.header("x-sdk-date").unwrap_or("").to_string(),
            };
            let mut out: Vec<char> = text.chars().collect();
            if !out.is_empty() {
                let at = rng.next() % out.len();
                out[at] = ch;
            } else {
                out.push(ch);
            }
            let mangled: String = out.into_iter().collect();
            match target {
                0 => m.path = mangled.clone(),
                1 => m.raw_query = mangled.clone(),
                2 => m.set_header("authorization", &mangled),
                _ => m.set_header("x-sdk-date", &mangled),
            }
            // Either still fine (an equivalent or unsigned change) or a clean error.
            let r = m.check(SK);
            if mangled == text {
                assert!(r.is_ok());
            }
        }
    }
}

// ------------------------------------------------------------------------- client helper

#[test]
fn request_headers_round_trip() {
    let body = br#"{"name": "demo-secret_1", "secret_string": "hello world"}"#;
    let path = "/v1/0123456789abcdef0123456789abcdef/secrets";
    let headers = huawei::request_headers(
        "POST",
        "127.0.0.1:8080",
        path,
        "",
        body,
        Some(PROJECT),
        AK,
        SK,
        1_795_412_365,
    );
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "Content-Type",
            "X-Project-Id",
            "X-Sdk-Date",
            "Host",
            "Authorization"
        ]
    );
    assert_eq!(headers[0].1, "application/json;charset=utf-8");
    assert_eq!(headers[1].1, PROJECT);
    assert_eq!(headers[2].1, "20261123T053925Z");
    assert_eq!(headers[3].1, "127.0.0.1:8080");
    assert!(headers[4].1.starts_with(
        "SDK-HMAC-SHA256 Access=testid, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature="
    ));
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body,
    };
    let parsed = huawei::parse(&req, path).expect("parses");
    assert!(parsed.verify(SK).is_ok());
    assert_eq!(parsed.timestamp, 1_795_412_365);
    assert_eq!(parsed.project_id.as_deref(), Some(PROJECT));
    assert!(is_mismatch(parsed.verify(b"nope")));

    // No body, no project, a query.
    let headers = huawei::request_headers(
        "GET",
        "coffer.test",
        "/v3/projects",
        "name=local-1&b=a%20b",
        b"",
        None,
        AK,
        SK,
        0,
    );
    assert_eq!(headers.len(), 4);
    assert_eq!(
        headers[0],
        ("Content-Type".into(), "application/json".into())
    );
    let req = RequestParts {
        method: "GET",
        raw_query: "name=local-1&b=a%20b",
        headers: &headers,
        body: b"",
    };
    let parsed = huawei::parse(&req, "/v3/projects").expect("parses");
    assert!(parsed.verify(SK).is_ok());
    assert_eq!(parsed.project_id, None);
    assert_eq!(parsed.timestamp, 0);
    // The same request on another path does not verify.
    let parsed = huawei::parse(&req, "/v3/projectz").expect("parses");
    assert!(is_mismatch(parsed.verify(SK)));
}

/// Small helper for byte-string substitution in bodies.
trait ReplaceBytes {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self.clone())
            .expect("UTF-8 body")
            .replacen(from, to, 1)
            .into_bytes()
    }
}
