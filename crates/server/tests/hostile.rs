//! Hostile requests against the real binary, sent raw over TCP: each is answered in the format
//! of the API it is addressed to, with that cloud's code and status, and leaves one audit entry
//! of bounded size.
//! - a body over `--max-body-bytes`, a URI over `--max-uri-bytes`, more header fields than
//!   `--max-headers`, and a body that ends early, for every API (and for no API);
//! - methods an API does not take; Huawei paths and queries that are not UTF-8;
//! - long and escaped client-chosen fields, and how many bytes one unauthenticated request
//!   adds to the audit log in each API;
//! - the per-address limit on recording unauthenticated failures: a flood is counted, a
//!   summary says how many were not recorded, log lines are limited alike, and every
//!   authenticated request is recorded all the same.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{Server, AK, SK};
use serde_json::Value;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
/// The bound this test holds every unauthenticated entry to.
const ENTRY_BOUND: usize = 1024;

fn start(data: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
    ];
    env.extend_from_slice(extra_env);
    Server::start_with(data, &env)
}

/// An answer read off the wire, and the client port it was sent from (the audit entry's
/// `source` names it).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    port: u16,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON (status {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends `head` (request line and header lines, without the blank line; `Connection: close`
/// and `Content-Length` are added) and `body`, then reads the answer to the end.
fn raw(server: &Server, head: &str, body: &[u8]) -> Answer {
    raw_with(server, head, body, None)
}

/// [`raw`] with a declared length that may differ from what is sent: the connection's write
/// side is shut after `body`, so a shorter body ends early.
fn raw_with(server: &Server, head: &str, body: &[u8], declared: Option<usize>) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let port = s.local_addr().expect("local addr").port();
    let length = declared.unwrap_or(body.len());
    let text = format!("{head}\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n");
    s.write_all(text.as_bytes()).expect("send head");
    // The server may refuse before reading everything; what it does not read it drains.
    let _ = s.write_all(body);
    if declared.is_some() {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_answer(&out, port)
}

fn parse_answer(out: &[u8], port: u16) -> Answer {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(out)));
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: out[split + 4..].to_vec(),
        port,
    }
}

fn stop(server: Server) -> String {
    let log = server.log.clone();
    assert!(server.terminate(), "coffer did not stop cleanly");
    std::fs::read_to_string(log).unwrap_or_default()
}

/// The audit log's lines.
fn audit_lines(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("audit.log"))
        .expect("read the audit log")
        .split_terminator('\n')
        .map(str::to_string)
        .collect()
}

/// The one entry written for the request sent from `port`, with its size in the log.
fn entry_of(lines: &[String], port: u16) -> (Value, usize) {
    let source = format!("127.0.0.1:{port}");
    let found: Vec<(Value, usize)> = lines
        .iter()
        .map(|l| (serde_json::from_str::<Value>(l).expect("json"), l.len() + 1))
        .filter(|(e, _)| e["source"] == source.as_str())
        .collect();
    assert_eq!(found.len(), 1, "entries from {source}: {found:?}");
    found.into_iter().next().expect("one")
}

/// What one case expects: the API that answers and how.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Alibaba's JSON error with this status and code.
    Alibaba(u16, &'static str),
    /// Tencent's error inside `Response` (HTTP 200).
    Tencent(&'static str),
    /// Huawei's CSMS error body.
    Huawei(u16, &'static str),
    /// Huawei's KMS error body (`{"error": {...}}`).
    HuaweiKms(u16, &'static str),
    /// The admin API's error.
    Native(u16, &'static str),
    /// No API: the server's own JSON.
    Unknown(u16, &'static str),
}

impl Expect {
    fn dialect(self) -> &'static str {
        match self {
            Expect::Alibaba(..) => "alibaba",
            Expect::Tencent(..) => "tencent",
            Expect::Huawei(..) | Expect::HuaweiKms(..) => "huawei",
            Expect::Native(..) => "native",
            Expect::Unknown(..) => "unknown",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Expect::Alibaba(_, c)
            | Expect::Tencent(c)
            | Expect::Huawei(_, c)
            | Expect::HuaweiKms(_, c)
            | Expect::Native(_, c)
            | Expect::Unknown(_, c) => c,
        }
    }

    /// Checks the answer: status, content type, body shape, code and request id.
    fn check(self, a: &Answer, case: &str) {
        let ct = a.header("content-type").unwrap_or("");
        let body = a.json();
        let (status, code, request_id) = match self {
            Expect::Alibaba(status, _) => {
                assert_eq!(ct, "application/json;charset=utf-8", "{case}");
                assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
                assert_eq!(body["HttpStatus"], status, "{case}");
                (status, &body["Code"], &body["RequestId"])
            }
            Expect::Tencent(_) => {
                assert_eq!(ct, "application/json", "{case}");
                let r = &body["Response"];
                assert!(r["Error"]["Message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()));
                (200, &r["Error"]["Code"], &r["RequestId"])
            }
            Expect::Huawei(status, _) => {
                assert_eq!(ct, "application/json", "{case}");
                assert!(body["error_msg"].as_str().is_some_and(|m| !m.is_empty()));
                (status, &body["error_code"], &body["request_id"])
            }
            Expect::HuaweiKms(status, _) => {
                assert_eq!(ct, "application/json", "{case}");
                let e = &body["error"];
                (status, &e["error_code"], &e["request_id"])
            }
            Expect::Native(status, _) | Expect::Unknown(status, _) => {
                assert_eq!(ct, "application/json", "{case}");
                (status, &body["Code"], &body["RequestId"])
            }
        };
        assert_eq!(a.status, status, "{case}: {body}");
        assert_eq!(code, self.code(), "{case}: {body}");
        assert!(
            request_id.as_str().is_some_and(|r| !r.is_empty()),
            "{case}: {body}"
        );
    }
}

/// A case: its name, the request's head and body, and the expected answer.
struct Case {
    name: String,
    head: String,
    body: Vec<u8>,
    declared: Option<usize>,
    expect: Expect,
}

fn case(name: &str, head: String, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.to_string(),
        head,
        body,
        declared: None,
        expect,
    }
}

/// Sends every case, checks each answer, then (after the server stopped) each case's single
/// audit entry: API, result code, status, and size.
fn run(server: Server, data: &Path, cases: Vec<Case>) -> Vec<(String, usize)> {
    let mut sent = vec![];
    for c in &cases {
        let a = raw_with(&server, &c.head, &c.body, c.declared);
        c.expect.check(&a, &c.name);
        sent.push(a.port);
    }
    stop(server);
    let lines = audit_lines(data);
    let mut sizes = vec![];
    for (c, port) in cases.iter().zip(sent) {
        let (e, size) = entry_of(&lines, port);
        assert_eq!(e["dialect"], c.expect.dialect(), "{}: {e}", c.name);
        assert_eq!(e["result"], c.expect.code(), "{}: {e}", c.name);
        assert!(e["account"].is_null(), "{}: {e}", c.name);
        assert!(
            size <= ENTRY_BOUND,
            "{}: an entry of {size} bytes: {e}",
            c.name
        );
        sizes.push((c.name.clone(), size));
    }
    sizes
}

fn form() -> &'static str {
    "Content-Type: application/x-www-form-urlencoded"
}

/// An Alibaba RPC form body, `Action` first, padded with a long parameter to `len` bytes.
fn alibaba_form(len: usize) -> Vec<u8> {
    let mut b = b"Action=CreateSecret&Version=2016-01-20&SecretName=s&SecretData=".to_vec();
    b.resize(len, b'x');
    b
}

#[test]
fn oversized_bodies_are_refused_in_each_apis_format_and_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(
        &data,
        &[
            ("COFFER_MAX_BODY_BYTES", "65536"),
            ("COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", "0"),
        ],
    );
    let big = 65_537;
    let json_body = |len: usize| {
        let mut b = b"{\"SecretName\":\"s\",\"SecretString\":\"".to_vec();
        b.resize(len - 2, b'x');
        b.extend_from_slice(b"\"}");
        b
    };
    let cases = vec![
        case(
            "alibaba, Action in the query",
            format!("POST /?Action=CreateSecret&Version=2016-01-20 HTTP/1.1\r\nHost: k\r\n{}", form()),
            alibaba_form(big),
            Expect::Alibaba(413, "RequestEntityTooLarge"),
        ),
        case(
            "alibaba, Action only in the body",
            format!("POST / HTTP/1.1\r\nHost: k\r\n{}", form()),
            alibaba_form(big),
            Expect::Alibaba(413, "RequestEntityTooLarge"),
        ),
        case(
            "alibaba, no Action in the part read",
            format!("POST / HTTP/1.1\r\nHost: k\r\n{}", form()),
            {
                let mut b = b"SecretData=".to_vec();
                b.resize(big, b'x');
                b.extend_from_slice(b"&Action=CreateSecret");
                b
            },
            Expect::Alibaba(413, "RequestEntityTooLarge"),
        ),
        case(
            "alibaba, ACS3 (x-acs-action)",
            format!(
                "POST / HTTP/1.1\r\nHost: k\r\nx-acs-action: CreateSecret\r\nx-acs-version: 2016-01-20\r\n{}",
                form()
            ),
            alibaba_form(big),
            Expect::Alibaba(413, "RequestEntityTooLarge"),
        ),
        case(
            "tencent, TC3 JSON",
            "POST / HTTP/1.1\r\nHost: k\r\nX-TC-Action: CreateSecret\r\nX-TC-Version: 2019-09-23\r\nContent-Type: application/json".into(),
            json_body(big),
            Expect::Tencent("RequestSizeLimitExceeded"),
        ),
        case(
            "tencent, legacy form, Action first",
            format!("POST / HTTP/1.1\r\nHost: k\r\n{}", form()),
            {
                let mut b = b"Action=CreateSecret&Version=2019-09-23&SecretString=".to_vec();
                b.resize(big, b'x');
                b
            },
            Expect::Tencent("RequestSizeLimitExceeded"),
        ),
        case(
            "tencent, legacy form, Action last (as the SDK sends it)",
            format!("POST / HTTP/1.1\r\nHost: k\r\n{}", form()),
            {
                let mut b = b"SecretName=s&SecretString=".to_vec();
                b.resize(3 * big, b'x');
                b.extend_from_slice(b"&Action=CreateSecret&Nonce=1&Version=2019-09-23&Signature=x");
                b
            },
            Expect::Tencent("RequestSizeLimitExceeded"),
        ),
        case(
            "huawei, CSMS",
            format!("POST /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k\r\nContent-Type: application/json"),
            json_body(big),
            Expect::Huawei(413, "APIG.0201"),
        ),
        case(
            "huawei, KMS",
            format!("POST /v1.0/{PROJECT}/kms/create-key HTTP/1.1\r\nHost: k\r\nContent-Type: application/json"),
            json_body(big),
            Expect::HuaweiKms(413, "APIG.0201"),
        ),
        case(
            "native",
            "POST /coffer/v1/accounts HTTP/1.1\r\nHost: k\r\nContent-Type: application/json".into(),
            json_body(big),
            Expect::Native(413, "BodyTooLarge"),
        ),
        case(
            "no API",
            "POST /upload HTTP/1.1\r\nHost: k".into(),
            vec![b'x'; big],
            Expect::Unknown(413, "BodyTooLarge"),
        ),
        // Far larger than what is drained: refused at once, the connection closed after the
        // answer (which the client still reads here, as it has sent little).
        Case {
            name: "declared far over the limit".into(),
            head: format!("POST /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k\r\nContent-Type: application/json"),
            body: json_body(big),
            declared: Some(1 << 30),
            expect: Expect::Huawei(413, "APIG.0201"),
        },
        // Within the limit but shorter than declared: the client stopped sending.
        Case {
            name: "a body that ends early".into(),
            head: format!("POST /?Action=CreateSecret&Version=2016-01-20 HTTP/1.1\r\nHost: k\r\n{}", form()),
            body: b"SecretName=s".to_vec(),
            declared: Some(100),
            expect: Expect::Alibaba(400, "ParseRequestParameterException"),
        },
        // At the limit exactly: read, and judged as usual (unsigned).
        case(
            "at the limit",
            format!("POST /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k\r\nContent-Type: application/json"),
            json_body(65_536),
            Expect::Huawei(401, "APIGW.0301"),
        ),
    ];
    let sizes = run(server, &data, cases);
    eprintln!("audit bytes per oversized-body request: {sizes:?}");
}

#[test]
fn an_oversized_alibaba_body_asking_for_xml_gets_xml() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[("COFFER_MAX_BODY_BYTES", "1024")]);
    let a = raw(
        &server,
        &format!(
            "POST /?Action=CreateSecret&Version=2016-01-20&Format=XML HTTP/1.1\r\nHost: k\r\n{}",
            form()
        ),
        &alibaba_form(4096),
    );
    assert_eq!(a.status, 413);
    assert_eq!(a.header("content-type"), Some("text/xml;charset=utf-8"));
    let xml = String::from_utf8(a.body.clone()).expect("utf-8");
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>")
            && xml.contains("<Code>RequestEntityTooLarge</Code>")
            && xml.contains("<HttpStatus>413</HttpStatus>"),
        "{xml}"
    );
    stop(server);
}

#[test]
fn long_uris_and_too_many_headers_are_refused_in_each_apis_format_and_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    // The default URI limit (61440 bytes, below what the HTTP layer takes), and a header
    // limit below the HTTP layer's own so that this test does not depend on its settings.
    let server = start(
        &data,
        &[
            ("COFFER_MAX_HEADERS", "30"),
            ("COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", "0"),
        ],
    );
    let long = "x".repeat(62_000);
    let many: String = (0..40).map(|i| format!("\r\nX-Pad-{i}: {i}")).collect();
    let cases = vec![
        case(
            "alibaba, long URI (generation 1 puts the value in it)",
            format!("POST /?Action=CreateSecret&Version=2016-01-20&SecretData={long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Alibaba(414, "RequestURITooLong"),
        ),
        case(
            "tencent, long URI (TC3 GET)",
            format!("GET /?SecretName={long} HTTP/1.1\r\nHost: k\r\nX-TC-Action: GetSecretValue"),
            vec![],
            Expect::Tencent("RequestSizeLimitExceeded"),
        ),
        case(
            "huawei, long URI",
            format!("GET /v1/{PROJECT}/secrets/{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Huawei(414, "APIG.0201"),
        ),
        case(
            "native, long URI",
            format!("GET /coffer/v1/{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Native(414, "UriTooLong"),
        ),
        case(
            "no API, long URI",
            format!("GET /{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Unknown(414, "UriTooLong"),
        ),
        case(
            "alibaba, too many headers",
            format!("POST /?Action=ListSecrets&Version=2016-01-20 HTTP/1.1\r\nHost: k{many}"),
            vec![],
            Expect::Alibaba(431, "RequestHeaderFieldsTooLarge"),
        ),
        case(
            "tencent, too many headers",
            format!("POST / HTTP/1.1\r\nHost: k\r\nX-TC-Action: ListSecrets\r\nContent-Type: application/json{many}"),
            b"{}".to_vec(),
            Expect::Tencent("RequestSizeLimitExceeded"),
        ),
        case(
            "huawei, too many headers",
            format!("GET /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k{many}"),
            vec![],
            Expect::Huawei(494, "APIG.0201"),
        ),
        case(
            "native, too many headers",
            format!("GET /coffer/v1/accounts HTTP/1.1\r\nHost: k{many}"),
            vec![],
            Expect::Native(431, "TooManyHeaders"),
        ),
        case(
            "no API, too many headers",
            format!("GET /nothing HTTP/1.1\r\nHost: k{many}"),
            vec![],
            Expect::Unknown(431, "TooManyHeaders"),
        ),
        // A refused head with a body: the body is drained, the answer still arrives.
        case(
            "huawei, too many headers and a body",
            format!("POST /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k\r\nContent-Type: application/json{many}"),
            vec![b' '; 200_000],
            Expect::Huawei(494, "APIG.0201"),
        ),
    ];
    let sizes = run(server, &data, cases);
    eprintln!("audit bytes per long-URI / many-header request: {sizes:?}");
}

#[test]
fn methods_an_api_does_not_take_and_undecodable_huawei_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[("COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", "0")]);
    let rpc = "/?Action=ListSecrets&Version=2016-01-20&AccessKeyId=k&Signature=s";
    let mut cases = vec![];
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        cases.push(case(
            &format!("alibaba RPC {method}"),
            format!("{method} {rpc} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Alibaba(403, "UnsupportedHTTPMethod"),
        ));
    }
    cases.push(case(
        "alibaba ACS3 PUT",
        "PUT / HTTP/1.1\r\nHost: k\r\nx-acs-action: ListSecrets\r\nx-acs-version: 2016-01-20"
            .into(),
        vec![],
        Expect::Alibaba(403, "UnsupportedHTTPMethod"),
    ));
    for method in ["PUT", "DELETE"] {
        cases.push(case(
            &format!("tencent {method}"),
            format!("{method} / HTTP/1.1\r\nHost: k\r\nX-TC-Action: ListSecrets\r\nContent-Type: application/json"),
            b"{}".to_vec(),
            Expect::Tencent("UnsupportedProtocol"),
        ));
    }
    // Not UTF-8 once percent-decoded: the gateway's 400, before any signature is looked at
    // (these requests carry none, which would be a 401).
    cases.push(case(
        "huawei query value not UTF-8",
        format!("GET /v1/{PROJECT}/secrets?limit=%FF%FE HTTP/1.1\r\nHost: k"),
        vec![],
        Expect::Huawei(400, "APIG.0201"),
    ));
    cases.push(case(
        "huawei query name not UTF-8",
        format!("GET /v1/{PROJECT}/secrets?%C3=1 HTTP/1.1\r\nHost: k"),
        vec![],
        Expect::Huawei(400, "APIG.0201"),
    ));
    cases.push(case(
        "huawei path not UTF-8",
        format!("GET /v1/{PROJECT}/secrets/%E2%28%A1 HTTP/1.1\r\nHost: k"),
        vec![],
        Expect::Huawei(400, "APIG.0201"),
    ));
    cases.push(case(
        "huawei KMS query not UTF-8",
        format!("GET /v1.0/{PROJECT}/kms/list-keys?x=%80 HTTP/1.1\r\nHost: k"),
        vec![],
        Expect::HuaweiKms(400, "APIG.0201"),
    ));
    run(server, &data, cases);
}

#[test]
fn one_unauthenticated_request_adds_under_a_kilobyte_to_the_audit_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[("COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", "0")]);
    // Long fields, and fields of characters that take six bytes each once escaped.
    let long = "x".repeat(58_000);
    let esc = "%01".repeat(9_000);
    let signed_fields = "Signature=s&Timestamp=2020-01-01T00:00:00Z&SignatureNonce=n&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Version=2016-01-20";
    let tc3 = |action: &str, key: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\nX-TC-Action: {action}\r\nX-TC-Version: 2019-09-23\r\nX-TC-Timestamp: 1\r\nAuthorization: TC3-HMAC-SHA256 Credential={key}/2020-01-01/ssm/tc3_request, SignedHeaders=content-type;host, Signature={}",
            "0".repeat(64)
        )
    };
    let cases = vec![
        case(
            "no API, 60 KB path",
            format!("GET /{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Unknown(404, "UnknownApi"),
        ),
        case(
            "huawei, 60 KB secret name",
            format!("GET /v1/{PROJECT}/secrets/{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Huawei(401, "APIGW.0301"),
        ),
        case(
            "alibaba, long Action and access key id",
            format!(
                "GET /?{signed_fields}&Action={}&AccessKeyId={} HTTP/1.1\r\nHost: k",
                &long[..29_000],
                &long[..29_000]
            ),
            vec![],
            Expect::Alibaba(404, "InvalidAccessKeyId.NotFound"),
        ),
        case(
            "alibaba, escaped Action and access key id",
            format!("GET /?{signed_fields}&Action={esc}&AccessKeyId={esc} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Alibaba(404, "InvalidAccessKeyId.NotFound"),
        ),
        case(
            "tencent, long action and secret id",
            tc3(&"A".repeat(20_000), &"k".repeat(20_000)),
            b"{}".to_vec(),
            Expect::Tencent("AuthFailure.SignatureExpire"),
        ),
        case(
            "native, long path",
            format!("GET /coffer/v1/{long} HTTP/1.1\r\nHost: k"),
            vec![],
            Expect::Native(401, "InvalidSignature"),
        ),
    ];
    let sizes = run(server, &data, cases);
    eprintln!("audit bytes per unauthenticated request: {sizes:?}");
}

#[test]
fn a_flood_of_unauthenticated_failures_is_counted_not_recorded_and_authenticated_requests_are_all_recorded(
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(
        &data,
        &[
            ("COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", "1"),
            ("COFFER_AUDIT_UNAUTHENTICATED_BURST", "10"),
        ],
    );
    let client = server.client();
    let before = std::fs::metadata(data.join("audit.log"))
        .map(|m| m.len())
        .unwrap_or(0);
    let flood = 300;
    let mut authenticated = 0;
    for i in 0..flood {
        let a = raw(
            &server,
            &format!(
                "GET /v1/{PROJECT}/secrets/{} HTTP/1.1\r\nHost: k",
                "n".repeat(10_000)
            ),
            &[],
        );
        assert_eq!(a.status, 401, "every one is still answered");
        if i % 30 == 0 {
            client.ok("ListSecrets", &[]);
            authenticated += 1;
        }
    }
    // Past the burst, one token a second: one more failure is recorded, with the summary of
    // what was not before it.
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(
        raw(
            &server,
            &format!("GET /v1/{PROJECT}/secrets HTTP/1.1\r\nHost: k"),
            &[]
        )
        .status,
        401
    );
    let log = stop(server);
    let lines = audit_lines(&data);
    let grown: usize = lines.iter().map(|l| l.len() + 1).sum::<usize>() - before as usize;
    let entries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let failures = entries
        .iter()
        .filter(|e| e["dialect"] == "huawei" && e["result"] == "APIGW.0301")
        .count();
    let listed = entries
        .iter()
        .filter(|e| e["operation"] == "ListSecrets" && e["result"] == "OK")
        .count();
    let summaries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["operation"] == "AuditSuppressed")
        .collect();
    eprintln!(
        "{flood} unauthenticated failures and {authenticated} authenticated requests grew the audit log by {grown} bytes ({} per failure); {failures} failures recorded",
        grown / flood
    );
    assert_eq!(
        listed, authenticated,
        "every authenticated request is recorded"
    );
    // The burst, perhaps a token or two that came back while the flood ran, and the last.
    assert!(
        (11..=20).contains(&failures),
        "{failures} failures recorded"
    );
    let suppressed: u64 = summaries
        .iter()
        .map(|s| {
            assert_eq!(s["source"], "127.0.0.1");
            assert_eq!(s["dialect"], "server");
            assert_eq!(s["result"], "Suppressed");
            let text = s["resource"].as_str().expect("what was suppressed");
            text.split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("a count")
        })
        .sum();
    assert_eq!(
        suppressed as usize + failures,
        flood + 1,
        "every failure is either recorded or counted: {summaries:?}"
    );
    // Log lines are limited alike: one per recorded failure, one per summary.
    let refused_lines = log
        .lines()
        .filter(|l| l.contains("request refused") && l.contains("APIGW.0301"))
        .count();
    assert_eq!(refused_lines, failures, "{log}");
    assert!(log.contains("audit entries and log lines of unauthenticated failures suppressed"));
    assert!(grown < 64 * 1024, "the flood grew the log by {grown} bytes");
    // The chain is intact.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .env_remove("COFFER_ROOT_KEY")
        .output()
        .expect("run coffer audit verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
