//! Unit tests for SDK-HMAC-SHA256; the captured SDK requests are exercised end to end in
//! `tests/huawei_captures.rs`.

use super::*;

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn canonical_uri_decodes_then_splits_and_ends_with_slash() {
    let uri = |raw: &str| sign::canonical_uri(&sign::unquote_lenient(raw));
    assert_eq!(
        uri("/v1/0123456789abcdef0123456789abcdef/secrets"),
        "/v1/0123456789abcdef0123456789abcdef/secrets/"
    );
    assert_eq!(uri("/v1/p/secrets/"), "/v1/p/secrets/");
    assert_eq!(uri("/"), "/");
    assert_eq!(uri(""), "/");
    // Capture 11: %2F becomes a separator, the rest is re-encoded in upper-case hex.
    assert_eq!(
        uri("/t/a%20b%3Ac%3Dd%2Be%40f%2F%C3%A9"),
        "/t/a%20b%3Ac%3Dd%2Be%40f/%C3%A9/"
    );
    // The client's encoding is not trusted: %2D and %7e are unreserved, '*' is not.
    assert_eq!(uri("/st%2Dage/a~b/%7e/x*y"), "/st-age/a~b/~/x%2Ay/");
    assert_eq!(uri("/v1/%7Bproject_id%7D/s"), "/v1/%7Bproject_id%7D/s/");
    // Lenient (client-side) decoding keeps a broken escape literally, as Python does.
    assert_eq!(uri("/a%zz"), "/a%25zz/");
}

#[test]
fn canonical_query_sorts_decoded_pairs() {
    let pairs = owned(&[("marker", "z z"), ("limit", "5"), ("a", "~/+"), ("a", "!")]);
    assert_eq!(
        sign::canonical_query(&pairs),
        "a=%21&a=~%2F%2B&limit=5&marker=z%20z"
    );
    assert_eq!(sign::canonical_query(&[]), "");
    let split: Vec<_> = sign::split_query("b&&a=1=2&c=").collect();
    assert_eq!(split, vec![("b", ""), ("a", "1=2"), ("c", "")]);
}

#[test]
fn published_worked_example() {
    // Request 1 of the captured SDK requests.
    let body =
        br#"{"name": "demo-secret_1", "description": "first", "secret_string": "hello world"}"#;
    let hash = sign::sha256_hex(body);
    assert_eq!(
        hash,
        "909108fb79b591ac15d6f386b4271459e83bb7132d948f7821242da6c59043d6"
    );
    let ua = "huaweicloud-usdk-python/3.0; os/Linux##1_SMP_PREEMPT_DYNAMIC_@0#x86_64 \
              python/3.11.7 impl/CPython; app/3e3170c9-9c54-4d66-9c75-1258f2c17e08";
    let canonical = sign::canonical_request(
        "POST",
        "/v1/0123456789abcdef0123456789abcdef/secrets/",
        "",
        &[
            ("content-type", "application/json;charset=utf-8"),
            ("host", "127.0.0.1:18080"),
            ("user-agent", ua),
            ("x-project-id", "0123456789abcdef0123456789abcdef"),
            ("x-sdk-date", "20261123T053925Z"),
        ],
        &hash,
    );
    assert_eq!(
        canonical,
        format!(
            "POST\n/v1/0123456789abcdef0123456789abcdef/secrets/\n\n\
             content-type:application/json;charset=utf-8\nhost:127.0.0.1:18080\n\
             user-agent:{ua}\nx-project-id:0123456789abcdef0123456789abcdef\n\
             x-sdk-date:20261123T053925Z\n\n\
             content-type;host;user-agent;x-project-id;x-sdk-date\n{hash}"
        )
    );
    let sts = sign::string_to_sign("20261123T053925Z", &canonical);
    assert!(sts.starts_with("SDK-HMAC-SHA256\n20261123T053925Z\nb16f99fb"));
    assert!(sts.ends_with("82bc1ad"));
    assert_eq!(
        hex::encode(sign::hmac_sha256(b"testsecret", sts.as_bytes())),
        "5d3f0f239a43eae4a02136c2f8b62283596e0ee993e164222b266d166a65080c"
    );
}

#[test]
fn header_values_are_stripped_like_python() {
    assert_eq!(sign::py_strip("  ua with  spaces \t"), "ua with  spaces");
    assert_eq!(sign::py_strip("\u{1c}\u{1f}x\u{a0}\u{3000}"), "x");
    assert_eq!(sign::py_strip("A:B"), "A:B");
    let c = sign::canonical_request("GET", "/", "", &[("host", " H:1 ")], "h");
    assert_eq!(c, "GET\n/\n\nhost:H:1\n\nhost\nh");
}

#[test]
fn sdk_date_parses_strictly() {
    assert_eq!(parse_sdk_date("20261123T053925Z").ok(), Some(1_795_412_365));
    assert_eq!(parse_sdk_date("19700101T000000Z").ok(), Some(0));
    assert_eq!(
        parse_sdk_date("99991231T235959Z").ok(),
        Some(253_402_300_799)
    );
    assert_eq!(parse_sdk_date("20240229T120000Z").ok(), Some(1_709_208_000));
    for bad in [
        "",
        "20261123T053925",
        "20261123t053925Z",
        "20261123 053925Z",
        "2026-11-23T05:39:25Z",
        "20261123T053925Z ",
        "+0261123T053925Z",
        "20261323T053925Z",
        "20261100T053925Z",
        "20230229T000000Z",
        "20261123T245925Z",
        "20261123T056025Z",
        "20261123T053960Z",
        "1795412365",
        "２0261123T053925Z",
    ] {
        assert!(
            matches!(parse_sdk_date(bad), Err(AuthError::BadTimestampFormat)),
            "{bad:?}"
        );
    }
}

#[test]
fn sdk_date_formats_and_clamps() {
    assert_eq!(format_sdk_date(1_795_412_365), "20261123T053925Z");
    assert_eq!(format_sdk_date(0), "19700101T000000Z");
    assert_eq!(format_sdk_date(-1), "19700101T000000Z");
    assert_eq!(format_sdk_date(i64::MIN), "19700101T000000Z");
    assert_eq!(format_sdk_date(i64::MAX), "99991231T235959Z");
    for t in [0, 1, 1_709_208_000, 1_795_412_365, 253_402_300_799] {
        assert_eq!(parse_sdk_date(&format_sdk_date(t)).ok(), Some(t));
    }
}

#[test]
fn authorization_parsing_tolerates_spacing_only() {
    let sig = "5d3f0f239a43eae4a02136c2f8b62283596e0ee993e164222b266d166a65080c";
    for ok in [
        format!("SDK-HMAC-SHA256 Access=testid, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!(
            "  SDK-HMAC-SHA256   Access = testid ,SignedHeaders=host;x-sdk-date,Signature={sig} "
        ),
        format!("SDK-HMAC-SHA256\tSignature={sig}, Access=testid, SignedHeaders=host;x-sdk-date"),
    ] {
        let a = parse_authorization(&ok);
        assert!(a.is_ok(), "{ok}");
        if let Ok(a) = a {
            assert_eq!(a.access_key_id, "testid");
            assert_eq!(a.signed_headers, vec!["host", "x-sdk-date"]);
        }
    }
    for bad in [
        String::new(),
        "SDK-HMAC-SHA256".to_string(),
        format!("sdk-hmac-sha256 Access=a, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SM3 Access=a, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("V11-HMAC-SHA256 Credential=a/20261123/r/s, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a b, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature={sig}"),
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date".to_string(),
        format!("SDK-HMAC-SHA256 Access=a, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, Access=b, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date, Signature={sig}, Extra=1"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date, Signature={sig},"),
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date, Signature=abc".to_string(),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date, Signature={sig}00"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date;host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=Host;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;;x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=a, SignedHeaders=host; x-sdk-date, Signature={sig}"),
    ] {
        assert!(
            matches!(parse_authorization(&bad), Err(AuthError::Incomplete(_))),
            "{bad}"
        );
    }
}

#[test]
fn debug_hides_the_token_and_query() {
    let headers = owned(&[
        ("host", "h"),
        ("x-sdk-date", "20261123T053925Z"),
        ("x-security-token", "tok-hunter2"),
    ]);
    let auth = sign("GET", "/", "q=hunter2", &headers, b"", "ak", b"sk");
    let mut all = headers.clone();
    all.push(("authorization".into(), auth));
    let req = RequestParts {
        method: "GET",
        raw_query: "q=hunter2",
        headers: &all,
        body: b"",
    };
    let parsed = parse(&req, "/");
    assert!(parsed.is_ok());
    if let Ok(parsed) = parsed {
        assert_eq!(parsed.security_token.as_deref(), Some("tok-hunter2"));
        assert!(parsed.verify(b"sk").is_ok());
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

// ------------------------------------------------------------ the Node.js SDK's path encoding

/// Wire path and the canonical URI `@huaweicloud/huaweicloud-sdk-core` 3.1.211 signs for it
/// (`AKSKSigner.CanonicalURI(url.parse(endpoint).pathname)`, printed by the SDK itself for a
/// tag key of each kind put raw into the path, as its service packages do).
const NODE_PATHS: [(&str, &str); 7] = [
    (
        "/v1/p/csms/id/tags/two%20words",
        "/v1/p/csms/id/tags/two%2520words/",
    ),
    (
        "/v1/p/csms/id/tags/%E4%B8%AD%E6%96%87",
        "/v1/p/csms/id/tags/%E4%B8%AD%E6%96%87/",
    ),
    (
        "/v1/p/csms/id/tags/a'b|c^d",
        "/v1/p/csms/id/tags/a%2527b%257Cc%255Ed/",
    ),
    (
        "/v1/p/csms/id/tags/x:y@z=+",
        "/v1/p/csms/id/tags/x%3Ay%40z%3D%2B/",
    ),
    (
        "/v1/p/csms/id/tags/%C3%A9%20%C3%BC",
        "/v1/p/csms/id/tags/%C3%A9%2520%C3%BC/",
    ),
    (
        "/v1/p/csms/id/tags/q%22%3C%3E%60%7B%7D",
        "/v1/p/csms/id/tags/q%2522%253C%253E%2560%257B%257D/",
    ),
    (
        "/v1/p/csms/id/tags/k%20%E4%B8%AD",
        "/v1/p/csms/id/tags/k%2520%E4%B8%AD/",
    ),
];

#[test]
fn node_canonical_uri_matches_the_node_sdk() {
    for (wire, signed) in NODE_PATHS {
        assert_eq!(sign::node_canonical_uri(wire), signed, "{wire}");
    }
    assert_eq!(sign::node_canonical_uri("/v1/p/secrets"), "/v1/p/secrets/");
    assert_eq!(sign::node_canonical_uri("/"), "/");
}

const SK: &[u8] = b"node-secret-key";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A request as the Node SDK sends and signs it: every header it sets signed as is, the
/// canonical URI given (from [`NODE_PATHS`]), the query sorted and encoded once.
struct NodeRequest {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl NodeRequest {
    fn new(method: &str, wire_path: &str, canonical_uri: &str, body: &[u8]) -> Self {
        Self::signing(method, wire_path, canonical_uri, body, &[])
    }

    /// `extra`: more headers to send and sign (names lower-case, sorting after `host`).
    fn signing(
        method: &str,
        wire_path: &str,
        canonical_uri: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Self {
        let mut headers = owned(&[
            ("content-type", "application/json"),
            ("host", "127.0.0.1:7080"),
            ("x-project-id", PROJECT),
            ("x-sdk-date", "20261123T101010Z"),
        ]);
        headers.extend(owned(extra));
        headers.sort();
        let raw_query = "limit=2&marker=a%20b".to_string();
        let signed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
        let canonical = sign::canonical_request(
            method,
            canonical_uri,
            "limit=2&marker=a%20b",
            &signed,
            &sign::sha256_hex(body),
        );
        let sts = sign::string_to_sign("20261123T101010Z", &canonical);
        let mac = sign::hmac_sha256(SK, sts.as_bytes());
        let authorization = format!(
            "SDK-HMAC-SHA256 Access=NODEAK, SignedHeaders={}, Signature={}",
            names.join(";"),
            hex::encode(mac)
        );
        headers.push(("authorization".to_string(), authorization));
        NodeRequest {
            method: method.to_string(),
            path: wire_path.to_string(),
            raw_query,
            headers,
            body: body.to_vec(),
        }
    }

    fn verify_with(&self, secret: &[u8]) -> Result<(), AuthError> {
        parse(
            &RequestParts {
                method: &self.method,
                raw_query: &self.raw_query,
                headers: &self.headers,
                body: &self.body,
            },
            &self.path,
        )?
        .verify(secret)
    }

    fn verify(&self) -> Result<(), AuthError> {
        self.verify_with(SK)
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n == name {
                *v = value.to_string();
            }
        }
    }
}

#[test]
fn the_node_sdk_path_encoding_verifies_and_binds_every_signed_part() {
    let refused = |r: Result<(), AuthError>| r.is_err();
    for (wire, signed) in NODE_PATHS {
        for (method, body) in [("DELETE", &b""[..]), ("POST", &br#"{"a":1}"#[..])] {
            let fresh = || NodeRequest::new(method, wire, signed, body);
            assert!(fresh().verify().is_ok(), "{method} {wire}");
            // The canonical (Python) reading of a Node-signed path does not verify where they
            // differ; the Node reading is what makes it pass.
            let label = format!("{method} {wire}");
            let mut t = fresh();
            t.method = if method == "DELETE" { "GET" } else { "PUT" }.to_string();
            assert!(refused(t.verify()), "{label}: method");
            for other in [
                format!("{wire}x"),
                wire.replacen("tags", "tagz", 1),
                wire.replacen("%20", "%2520", 1),
                wire.replacen("%20", "+", 1),
                wire.replacen("%20", "%2B", 1),
                format!("{wire}/more"),
            ] {
                if other == wire {
                    continue;
                }
                let mut t = fresh();
                t.path = other.clone();
                assert!(refused(t.verify()), "{label}: path {other}");
            }
            let mut t = fresh();
            t.raw_query = "limit=3&marker=a%20b".to_string();
            assert!(refused(t.verify()), "{label}: query");
            for (name, value) in [
                ("content-type", "text/plain"),
                ("host", "127.0.0.1:7081"),
                ("x-project-id", "fedcba9876543210fedcba9876543210"),
                ("x-sdk-date", "20261123T101011Z"),
            ] {
                let mut t = fresh();
                t.set(name, value);
                assert!(refused(t.verify()), "{label}: {name}");
            }
            let mut t = fresh();
            t.body = br#"{"a":2}"#.to_vec();
            assert!(refused(t.verify()), "{label}: body");
            let mut t = fresh();
            let auth = t
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let flipped = if auth.ends_with('0') { "1" } else { "0" };
            t.set(
                "authorization",
                &format!("{}{flipped}", &auth[..auth.len() - 1]),
            );
            assert!(refused(t.verify()), "{label}: signature");
            assert!(refused(fresh().verify_with(b"another key")), "{label}: key");
        }
    }
}

#[test]
fn a_path_signed_once_still_verifies_the_canonical_way_only() {
    // The Python SDK's signature of the same request: its canonical URI decodes first. A
    // signature over the Node reading of a path without escapes is the same string, so the
    // second reading is never computed for such paths.
    let python = NodeRequest::new(
        "DELETE",
        "/v1/p/csms/id/tags/two%20words",
        "/v1/p/csms/id/tags/two%20words/",
        b"",
    );
    assert!(python.verify().is_ok());
    let plain = NodeRequest::new("GET", "/v1/p/secrets", "/v1/p/secrets/", b"");
    assert!(plain.verify().is_ok());
    // A signature over some other encoding of the path (neither SDK's) is refused.
    let other = NodeRequest::new(
        "DELETE",
        "/v1/p/csms/id/tags/two%20words",
        "/v1/p/csms/id/tags/two%252520words/",
        b"",
    );
    assert!(matches!(
        other.verify(),
        Err(AuthError::SignatureMismatch { .. })
    ));
}

#[test]
fn the_two_readings_never_meet() {
    // The Node reading of `two%20words` is the canonical reading of `two%2520words`: that path
    // decodes to a '%' and is refused, so the Node signature cannot be moved onto it.
    let node = NodeRequest::new(
        "DELETE",
        "/v1/p/csms/id/tags/two%2520words",
        "/v1/p/csms/id/tags/two%2520words/",
        b"",
    );
    assert!(matches!(node.verify(), Err(AuthError::BadEncoding(_))));
    // A request that signs its User-Agent (the Python SDK's) is never read the Node way:
    // the same Node-style signature verifies without one and not with one.
    let node_style = |extra: &[(&str, &str)]| {
        NodeRequest::signing(
            "DELETE",
            "/v1/p/csms/id/tags/two%20words",
            "/v1/p/csms/id/tags/two%2520words/",
            b"",
            extra,
        )
        .verify()
    };
    assert!(node_style(&[]).is_ok());
    assert!(node_style(&[("x-extra", "1")]).is_ok());
    assert!(matches!(
        node_style(&[("user-agent", "huaweicloud-usdk-python/3.0")]),
        Err(AuthError::SignatureMismatch { .. })
    ));
}
