//! The Tencent schemes against requests captured from Tencent's unmodified Python SDK and tccli
//! (`fixtures/tencent-captures.txt`, SecretId `AKIDcofferTestId`, SecretKey
//! `cofferTestSecretKey`), Tencent's published signature examples, and hostile inputs.

mod common;

use coffer_auth::tencent::{self, Scheme, Service, TencentRequest, V1Algorithm};
use coffer_auth::{skew, AuthError, RequestParts};
use serde_json::{json, Value};

const CAPTURES: &str = include_str!("fixtures/tencent-captures.txt");
const SECRET_ID: &str = "AKIDcofferTestId";
const SECRET: &[u8] = b"cofferTestSecretKey";

/// One captured request, as a server would hand it to the crate.
#[derive(Clone, Debug)]
struct Captured {
    number: usize,
    method: String,
    raw_query: String,
    headers: Vec<(String, String)>,
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

    fn parse(&self) -> Result<TencentRequest, AuthError> {
        tencent::parse(&self.parts())
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
}

fn captures() -> Vec<Captured> {
    common::parse_captures(CAPTURES)
        .into_iter()
        .map(|r| Captured {
            number: r.number,
            method: r.method,
            raw_query: r.raw_query,
            headers: r.headers,
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

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ------------------------------------------------------------------------------ captures

#[test]
fn fixture_holds_the_thirteen_requests() {
    let all = captures();
    assert_eq!(
        all.iter().map(|c| c.number).collect::<Vec<_>>(),
        (1..=13).collect::<Vec<_>>()
    );
    assert_eq!(all[3].method, "GET");
    assert!(all[3]
        .raw_query
        .starts_with("Offset=0&Limit=2&SearchSecretName=a+b%2Fc"));
    assert_eq!(all[8].header("host"), Some("http://127.0.0.1:28417"));
    assert_eq!(
        all[1].body,
        br#"{"SecretName": "demo-secret_1", "VersionId": "v1"}"#
    );
}

#[test]
fn every_capture_verifies_and_a_wrong_key_does_not() -> Result<(), AuthError> {
    for c in captures() {
        let parsed = c.parse()?;
        assert_eq!(parsed.secret_id, SECRET_ID, "request {}", c.number);
        parsed.verify(SECRET)?;
        assert!(
            is_mismatch(parsed.verify(b"cofferTestSecretKeyx")),
            "request {}",
            c.number
        );
        assert!(is_mismatch(parsed.verify(b"")), "request {}", c.number);
        // Parameters of every capture are readable once verified.
        assert!(parsed.params()?.is_object(), "request {}", c.number);
    }
    Ok(())
}

#[test]
fn captures_expose_the_request_metadata() -> Result<(), AuthError> {
    let expect = |n: usize, scheme: Scheme, action: &str, service: Option<Service>| {
        let p = capture(n).parse().expect("parses");
        assert_eq!(p.scheme, scheme, "request {n}");
        assert_eq!(p.action.as_deref(), Some(action), "request {n}");
        assert_eq!(p.service(), service, "request {n}");
        p
    };
    let tc3 = Scheme::Tc3;
    let ssm = Some(Service::Ssm);
    let p = expect(1, tc3, "CreateSecret", ssm);
    assert_eq!(p.timestamp, 1_795_462_108);
    assert_eq!(p.version.as_deref(), Some("2019-09-23"));
    assert_eq!(p.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(p.language.as_deref(), Some("zh-CN"));
    assert_eq!(p.credential_date.as_deref(), Some("2026-11-23"));
    assert_eq!(p.credential_service.as_deref(), Some("ssm"));
    assert_eq!((p.token.as_deref(), p.nonce.as_deref()), (None, None));
    assert_eq!(
        expect(3, tc3, "ListSecrets", ssm).language.as_deref(),
        Some("en-US")
    );
    expect(4, tc3, "ListSecrets", ssm);

    let p = expect(5, Scheme::V1(V1Algorithm::HmacSha256), "DeleteSecret", None);
    assert_eq!(p.nonce.as_deref(), Some("7079789244301956543"));
    assert_eq!(p.timestamp, 1_795_462_108);
    assert_eq!(p.version.as_deref(), Some("2019-09-23"));
    assert_eq!(p.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(p.language.as_deref(), Some("zh-CN"));
    assert_eq!(p.credential_date, None);
    let p = expect(6, Scheme::V1(V1Algorithm::HmacSha1), "DescribeSecret", None);
    assert_eq!(p.nonce.as_deref(), Some("4131867450665571331"));

    // The token is reported (the dialect refuses it) and, being unsigned, does not change the
    // signature: request 7 carries request 2's.
    let p = expect(7, tc3, "GetSecretValue", ssm);
    assert_eq!(p.token.as_deref(), Some("tmpSessionToken123"));
    assert!(!format!("{p:?}").contains("tmpSessionToken123"));
    assert_eq!(expect(8, tc3, "CreateSecret", ssm).region, None);
    expect(9, tc3, "PutSecretValue", ssm);
    expect(
        10,
        Scheme::V1(V1Algorithm::HmacSha256),
        "ListSecretVersionIds",
        None,
    );
    let p = expect(11, tc3, "Encrypt", Some(Service::Kms));
    assert_eq!(p.version.as_deref(), Some(tencent::KMS_VERSION));
    assert_eq!(
        expect(12, tc3, "GetSecretValue", ssm).timestamp,
        1_795_462_117
    );
    expect(13, tc3, "ListSecrets", ssm);
    Ok(())
}

#[test]
fn host_with_scheme_prefix_verifies_as_sent() -> Result<(), AuthError> {
    // tccli (12, 13) and an SDK endpoint with `http://` (9) sign Host literally.
    for n in [9, 12, 13] {
        let mut c = capture(n);
        assert_eq!(c.header("host"), Some("http://127.0.0.1:28417"));
        c.parse()?.verify(SECRET)?;
        // Normalising the Host (dropping the scheme) would break the signature.
        c.set_header("host", "127.0.0.1:28417");
        assert!(is_mismatch(c.parse()?.verify(SECRET)), "request {n}");
    }
    Ok(())
}

#[test]
fn the_skew_window_is_not_part_of_verify() -> Result<(), AuthError> {
    // The captures are signed at a fixed instant; verify accepts them whatever the clock says.
    // The dialect is the one to call skew::within_window.
    let p = capture(2).parse()?;
    let later = p.timestamp + tencent::SKEW_WINDOW_SECS + 1;
    assert!(!skew::within_window(
        p.timestamp,
        later,
        tencent::SKEW_WINDOW_SECS
    ));
    assert!(skew::within_window(
        p.timestamp,
        later - 1,
        tencent::SKEW_WINDOW_SECS
    ));
    p.verify(SECRET)?;
    let v1 = capture(6).parse()?;
    assert!(!skew::within_window(
        v1.timestamp,
        0,
        tencent::SKEW_WINDOW_SECS
    ));
    v1.verify(SECRET)?;
    Ok(())
}

// ------------------------------------------------------------------------- client helpers

#[test]
fn sign_tc3_reproduces_every_captured_authorization() -> Result<(), AuthError> {
    for c in captures()
        .into_iter()
        .filter(|c| c.header("authorization").is_some())
    {
        let p = c.parse()?;
        let service = p.credential_service.clone().expect("tc3 service");
        let headers = [
            (
                "Content-Type",
                c.header("content-type").expect("content-type"),
            ),
            ("Host", c.header("host").expect("host")),
        ];
        let auth = tencent::sign_tc3(
            &c.method,
            &c.raw_query,
            &headers,
            &c.body,
            SECRET_ID,
            SECRET,
            p.timestamp,
            &service,
        );
        assert_eq!(
            Some(auth.as_str()),
            c.header("authorization"),
            "request {}",
            c.number
        );
    }
    // The second vector of the reference (request 2) by its published signature.
    assert!(capture(2).header("authorization").is_some_and(
        |a| a.ends_with("630bd1d6e1f1314633d0432359362226cf25fbc1be9fe6a0b74e62769ad4cc56")
    ));
    Ok(())
}

#[test]
fn sign_v1_reproduces_every_captured_signature() -> Result<(), AuthError> {
    for n in [5, 6, 10] {
        let c = capture(n);
        let raw = if c.method == "GET" {
            c.raw_query.as_bytes()
        } else {
            &c.body[..]
        };
        let fields = coffer_auth::encoding::form_decode(raw, "fields")?;
        let sent = fields
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone())
            .expect("signature");
        let unsigned: Vec<_> = fields
            .into_iter()
            .filter(|(k, _)| k != "Signature")
            .collect();
        let algorithm = match c.parse()?.scheme {
            Scheme::V1(a) => a,
            Scheme::Tc3 => panic!("request {n} is v1"),
        };
        let got = tencent::sign_v1(
            &c.method,
            c.header("host").expect("host"),
            &unsigned,
            SECRET,
            algorithm,
        );
        assert_eq!(got, sent, "request {n}");
    }
    Ok(())
}

#[test]
fn tc3_post_json_headers_make_a_request_that_verifies() -> Result<(), AuthError> {
    let body = br#"{"SecretName":"x","VersionId":"v1"}"#;
    let headers = tencent::tc3_post_json_headers(
        "GetSecretValue",
        tencent::SSM_VERSION,
        Some("ap-guangzhou"),
        "localhost:7080",
        body,
        SECRET_ID,
        SECRET,
        1_795_462_108,
    );
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "content-type",
            "host",
            "x-tc-action",
            "x-tc-timestamp",
            "x-tc-version",
            "x-tc-region",
            "authorization"
        ]
    );
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body,
    };
    let p = tencent::parse(&req)?;
    p.verify(SECRET)?;
    assert_eq!(p.service(), Some(Service::Ssm));
    assert_eq!(p.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(p.params()?, json!({"SecretName": "x", "VersionId": "v1"}));

    // KMS's version selects the kms scope; no region means no X-TC-Region header.
    let headers = tencent::tc3_post_json_headers(
        "Encrypt",
        tencent::KMS_VERSION,
        None,
        "localhost:7080",
        b"{}",
        SECRET_ID,
        SECRET,
        1_795_462_108,
    );
    assert!(!headers.iter().any(|(k, _)| k == "x-tc-region"));
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body: b"{}",
    };
    let p = tencent::parse(&req)?;
    p.verify(SECRET)?;
    assert_eq!(p.service(), Some(Service::Kms));
    assert_eq!(p.region, None);
    Ok(())
}

// ---------------------------------------------------------------------- published vectors

#[test]
fn tencent_published_tc3_example() -> Result<(), AuthError> {
    let key = b"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    let id = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    // The six-character \uXXXX escapes are literal bytes of the body.
    let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let ct = "application/json; charset=utf-8";
    let host = "cvm.tencentcloudapi.com";
    let auth = tencent::sign_tc3(
        "POST",
        "",
        &[("content-type", ct), ("host", host)],
        body,
        id,
        key,
        1_551_113_065,
        "cvm",
    );
    assert_eq!(
        auth,
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
         SignedHeaders=content-type;host, \
         Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );

    // The server side builds the same string to sign (canonical request hash included)...
    let headers = owned(&[
        ("content-type", ct),
        ("host", host),
        ("x-tc-action", "DescribeInstances"),
        ("x-tc-timestamp", "1551113065"),
        ("authorization", &auth),
    ]);
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body,
    };
    let p = tencent::parse(&req)?;
    assert_eq!(
        p.string_to_sign(),
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
         5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    );
    // ...but coffer serves only ssm and kms, so a correct cvm signature is still refused.
    assert_eq!(p.service(), None);
    assert!(is_mismatch(p.verify(key)));
    Ok(())
}

#[test]
fn tencent_published_v1_example() -> Result<(), AuthError> {
    let key = b"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    let fields = [
        ("Action", "DescribeInstances"),
        ("InstanceIds.0", "ins-09dx96dg"),
        ("Limit", "20"),
        ("Nonce", "11886"),
        ("Offset", "0"),
        ("Region", "ap-guangzhou"),
        ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
        ("Timestamp", "1465185768"),
        ("Version", "2017-03-12"),
    ];
    let sig = tencent::sign_v1(
        "GET",
        "cvm.tencentcloudapi.com",
        &fields,
        key,
        V1Algorithm::HmacSha1,
    );
    assert_eq!(sig, "EliP9YW3pW28FpsEdkXt/+WcGeI=");

    // The same request as the server receives it, fields in another order.
    let mut wire: Vec<(&str, &str)> = fields.iter().rev().copied().collect();
    wire.push(("Signature", &sig));
    let query = coffer_auth::encoding::encode_query(&wire);
    let headers = owned(&[("host", "cvm.tencentcloudapi.com")]);
    let req = RequestParts {
        method: "GET",
        raw_query: &query,
        headers: &headers,
        body: b"",
    };
    let p = tencent::parse(&req)?;
    assert_eq!(
        p.string_to_sign(),
        "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20\
         &Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE\
         &Timestamp=1465185768&Version=2017-03-12"
    );
    assert_eq!(p.scheme, Scheme::V1(V1Algorithm::HmacSha1));
    p.verify(key)?;
    assert_eq!(
        p.params()?,
        json!({"InstanceIds": ["ins-09dx96dg"], "Limit": "20", "Offset": "0"})
    );
    Ok(())
}

// -------------------------------------------------------------------------------- params

#[test]
fn params_of_each_shape() -> Result<(), AuthError> {
    assert_eq!(
        capture(1).parse()?.params()?,
        json!({
            "SecretName": "demo-secret_1", "VersionId": "v1", "Description": "café first",
            "SecretString": "hello world",
            "Tags": [{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "team", "TagValue": "a b"}]
        })
    );
    // TC3 GET: decoded (`+` is space, %2F is '/'), unflattened, values as strings.
    assert_eq!(
        capture(4).parse()?.params()?,
        json!({
            "Offset": "0", "Limit": "2", "SearchSecretName": "a b/c",
            "TagFilters": [{"TagKey": "env", "TagValue": ["dev"]}]
        })
    );
    // v1 form and v1 GET: the common fields are not parameters.
    assert_eq!(
        capture(5).parse()?.params()?,
        json!({"SecretName": "demo-secret_1", "RecoveryWindowInDays": "0"})
    );
    assert_eq!(
        capture(10).parse()?.params()?,
        json!({"SecretName": "demo-secret_1"})
    );
    Ok(())
}

/// Signs a TC3 GET with the given raw query, as the SDK would.
fn tc3_get(raw_query: &str) -> (String, Vec<(String, String)>) {
    let ct = "application/x-www-form-urlencoded";
    let host = "127.0.0.1:8200";
    let auth = tencent::sign_tc3(
        "GET",
        raw_query,
        &[("content-type", ct), ("host", host)],
        b"",
        SECRET_ID,
        SECRET,
        1_795_462_108,
        "ssm",
    );
    let headers = owned(&[
        ("content-type", ct),
        ("host", host),
        ("x-tc-action", "ListSecrets"),
        ("x-tc-timestamp", "1795462108"),
        ("x-tc-version", "2019-09-23"),
        ("authorization", &auth),
    ]);
    (raw_query.to_string(), headers)
}

/// Signs a v1 POST form request with the given action parameters.
fn v1_post(params: &[(&str, &str)], algorithm: V1Algorithm) -> (Vec<(String, String)>, Vec<u8>) {
    let host = "127.0.0.1:8200";
    let mut fields: Vec<(&str, &str)> = params.to_vec();
    fields.extend([
        ("Action", "CreateSecret"),
        ("Version", "2019-09-23"),
        ("Region", "ap-guangzhou"),
        ("Timestamp", "1795462108"),
        ("Nonce", "12345"),
        ("SecretId", SECRET_ID),
        ("SignatureMethod", algorithm.as_str()),
        ("RequestClient", "SDK_PYTHON_3.1.192"),
        ("Language", "en-US"),
    ]);
    let sig = tencent::sign_v1("POST", host, &fields, SECRET, algorithm);
    fields.push(("Signature", &sig));
    let body = coffer_auth::encoding::encode_query(&fields).into_bytes();
    let headers = owned(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", host),
    ]);
    (headers, body)
}

#[test]
fn flattened_tags_and_tag_filters_unflatten() -> Result<(), AuthError> {
    let (query, headers) = tc3_get(
        "TagFilters.0.TagKey=env&TagFilters.0.TagValue.1=prod&TagFilters.0.TagValue.0=dev\
         &TagFilters.1.TagKey=team&Limit=20&SearchSecretName=caf%C3%A9+x%2By",
    );
    let req = RequestParts {
        method: "GET",
        raw_query: &query,
        headers: &headers,
        body: b"",
    };
    let p = tencent::parse(&req)?;
    p.verify(SECRET)?;
    assert_eq!(
        p.params()?,
        json!({
            "TagFilters": [{"TagKey": "env", "TagValue": ["dev", "prod"]}, {"TagKey": "team"}],
            "Limit": "20",
            "SearchSecretName": "café x+y",
        })
    );

    for algorithm in [V1Algorithm::HmacSha1, V1Algorithm::HmacSha256] {
        let (headers, body) = v1_post(
            &[
                ("SecretName", "db"),
                ("Tags.0.TagKey", "env"),
                ("Tags.0.TagValue", "dev x"),
                ("Tags.1.TagKey", "team"),
                ("Tags.1.TagValue", "a&b=c"),
            ],
            algorithm,
        );
        let req = RequestParts {
            method: "POST",
            raw_query: "",
            headers: &headers,
            body: &body,
        };
        let p = tencent::parse(&req)?;
        p.verify(SECRET)?;
        assert_eq!(p.scheme, Scheme::V1(algorithm));
        assert_eq!(
            p.params()?,
            json!({
                "SecretName": "db",
                "Tags": [{"TagKey": "env", "TagValue": "dev x"}, {"TagKey": "team", "TagValue": "a&b=c"}]
            })
        );
    }
    Ok(())
}

#[test]
fn unusable_params_are_body_errors_after_verification() -> Result<(), AuthError> {
    // TC3 POST bodies: signed correctly, so verify passes and only params() complains.
    for (body, want) in [
        (&b""[..], Some(json!({}))),
        (b"{}", Some(json!({}))),
        (b"[1, 2]", None),
        (b"\"text\"", None),
        (b"null", None),
        (b"{\"a\": ", None),
        (b"{\"a\": 1}}", None),
        (b"\xff\xfe{}", None),
        (b"{\"a\": \"\xff\"}", None),
    ] {
        let headers = tencent::tc3_post_json_headers(
            "ListSecrets",
            tencent::SSM_VERSION,
            None,
            "h",
            body,
            SECRET_ID,
            SECRET,
            1_795_462_108,
        );
        let req = RequestParts {
            method: "POST",
            raw_query: "",
            headers: &headers,
            body,
        };
        let p = tencent::parse(&req)?;
        p.verify(SECRET)?;
        match want {
            Some(v) => assert_eq!(p.params()?, v),
            None => assert!(
                matches!(p.params(), Err(AuthError::BadBody(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
    // TC3 GET: the query is signed raw, so bad escapes, duplicates and ambiguous names only
    // surface from params().
    for query in [
        "a=%zz",
        "a=%C3",
        "a=1&a=2",
        "Tags.0=x&Tags.0.TagKey=y",
        "Tags.1.TagKey=k",
        "A..B=1",
    ] {
        let (query, headers) = tc3_get(query);
        let req = RequestParts {
            method: "GET",
            raw_query: &query,
            headers: &headers,
            body: b"",
        };
        let p = tencent::parse(&req)?;
        p.verify(SECRET)?;
        assert!(matches!(p.params(), Err(AuthError::BadBody(_))), "{query}");
    }
    // v1: ambiguous names after a valid signature.
    let (headers, body) = v1_post(
        &[("Tags.0", "x"), ("Tags.0.TagKey", "y")],
        V1Algorithm::HmacSha1,
    );
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body: &body,
    };
    let p = tencent::parse(&req)?;
    p.verify(SECRET)?;
    assert!(matches!(p.params(), Err(AuthError::BadBody(_))));
    Ok(())
}

// ------------------------------------------------------------------------------ tampering

#[test]
fn tampering_breaks_the_signature() -> Result<(), AuthError> {
    // Body of a TC3 POST.
    let mut c = capture(2);
    c.body = br#"{"SecretName": "demo-secret_2", "VersionId": "v1"}"#.to_vec();
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    // Query of a TC3 GET, even a change that decodes to the same parameters (raw is signed).
    for q in [
        "Offset=0&Limit=3&SearchSecretName=a+b%2Fc&TagFilters.0.TagKey=env&TagFilters.0.TagValue.0=dev",
        "Offset=0&Limit=2&SearchSecretName=a%20b%2Fc&TagFilters.0.TagKey=env&TagFilters.0.TagValue.0=dev",
        "Limit=2&Offset=0&SearchSecretName=a+b%2Fc&TagFilters.0.TagKey=env&TagFilters.0.TagValue.0=dev",
    ] {
        let mut c = capture(4);
        c.raw_query = q.to_string();
        assert!(is_mismatch(c.parse()?.verify(SECRET)), "{q}");
    }
    // A signed header's value, and the timestamp (it is in the string to sign).
    let mut c = capture(2);
    c.set_header("content-type", "application/json; charset=utf-8");
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    let mut c = capture(2);
    c.set_header("x-tc-timestamp", "1795462109");
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    // GET turned into POST.
    let mut c = capture(4);
    c.method = "POST".into();
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    // v1: a field value, the Host, and the method.
    let mut c = capture(6);
    c.body = String::from_utf8(c.body.clone())
        .expect("utf-8")
        .replace("demo-secret_1", "demo-secret_2")
        .into_bytes();
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    let mut c = capture(6);
    c.set_header("host", "127.0.0.1:28418");
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    let mut c = capture(10);
    c.set_header("host", "127.0.0.1:28418");
    assert!(is_mismatch(c.parse()?.verify(SECRET)));
    // The unsigned headers do not matter (Tencent's design; see the module docs).
    let mut c = capture(2);
    c.set_header("x-tc-action", "DeleteSecret");
    c.set_header("x-tc-region", "ap-beijing");
    c.parse()?.verify(SECRET)?;
    Ok(())
}

#[test]
fn wrong_service_in_scope_fails_even_when_correctly_signed() -> Result<(), AuthError> {
    for (service, ok) in [
        ("ssm", true),
        ("kms", true),
        ("cvm", false),
        ("ssmx", false),
    ] {
        let mut c = capture(2);
        let auth = tencent::sign_tc3(
            "POST",
            "",
            &[
                ("content-type", "application/json"),
                ("host", "127.0.0.1:28417"),
            ],
            &c.body,
            SECRET_ID,
            SECRET,
            1_795_462_108,
            service,
        );
        c.set_header("authorization", &auth);
        let p = c.parse()?;
        assert_eq!(p.verify(SECRET).is_ok(), ok, "{service}");
    }
    Ok(())
}

#[test]
fn unsigned_payload_takes_the_body_out_of_the_signature() -> Result<(), AuthError> {
    let signed = [
        ("content-type", "application/json"),
        ("host", "h"),
        ("x-tc-content-sha256", tencent::UNSIGNED_PAYLOAD),
    ];
    let auth = tencent::sign_tc3(
        "POST",
        "",
        &signed,
        b"{\"a\":1}",
        SECRET_ID,
        SECRET,
        1_795_462_108,
        "ssm",
    );
    let mut headers = owned(&signed);
    headers.push(("x-tc-timestamp".into(), "1795462108".into()));
    headers.push(("authorization".into(), auth));
    for body in [&b"{\"a\":1}"[..], b"{\"b\":2}"] {
        let req = RequestParts {
            method: "POST",
            raw_query: "",
            headers: &headers,
            body,
        };
        tencent::parse(&req)?.verify(SECRET)?;
    }
    // Without the header the body hash is of the body again.
    let c = capture(2);
    let mut headers = c.headers.clone();
    headers.retain(|(k, _)| k != "authorization");
    let auth = tencent::sign_tc3(
        "POST",
        "",
        &[
            ("content-type", "application/json"),
            ("host", "127.0.0.1:28417"),
        ],
        b"x",
        SECRET_ID,
        SECRET,
        1_795_462_108,
        "ssm",
    );
    headers.push(("authorization".into(), auth));
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body: b"y",
    };
    assert!(is_mismatch(tencent::parse(&req)?.verify(SECRET)));
    Ok(())
}

// ----------------------------------------------------------------------- malformed input

#[test]
fn malformed_authorization_is_incomplete() {
    let good = capture(2)
        .header("authorization")
        .expect("authorization")
        .to_string();
    let sig = good.rsplit_once("Signature=").expect("sig").1.to_string();
    let cred = "Credential=AKIDcofferTestId/2026-11-23/ssm/tc3_request";
    let bad: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        "TC3-HMAC-SHA256".into(),
        "TC3-HMAC-SHA256 ".into(),
        "Bearer abc".into(),
        good.replace("TC3-HMAC-SHA256", "TC3-HMAC-SHA512"),
        good.replace("TC3-HMAC-SHA256", "tc3-hmac-sha256"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host"),
        format!("TC3-HMAC-SHA256 {cred}, Signature={sig}"),
        format!("TC3-HMAC-SHA256 SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=Content-Type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host, Signature={}", &sig[..63]),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host, Signature={sig}0"),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host, Signature=zz{}", &sig[2..]),
        format!("TC3-HMAC-SHA256 {cred}, SignedHeaders=content-type;host, Signature={sig}, Extra=1"),
        format!("TC3-HMAC-SHA256 {cred}, {cred}, SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 {cred} SignedHeaders=content-type;host Signature={sig}"),
        format!("TC3-HMAC-SHA256 Credential=AKIDcofferTestId/2026-11-23/ssm, SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 Credential=/2026-11-23/ssm/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 Credential=AKIDcofferTestId/2026-11-23/ssm/tc3_requestx, SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 Credential=AKIDcofferTestId/20261123/ssm/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
        format!("TC3-HMAC-SHA256 Credential=a/b/2026-11-23/ssm/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
        "TC3-HMAC-SHA256 Credential=\u{e9}/\u{e9}\u{e9}\u{e9}/\u{e9}/\u{e9}, SignedHeaders=\u{e9}, Signature=\u{e9}".into(),
    ];
    for auth in bad {
        let mut c = capture(2);
        c.set_header("authorization", &auth);
        assert!(is_incomplete(c.parse()), "{auth:?}");
    }
    // An upper-case service is well formed (the Node.js SDK takes the scope's service from the
    // endpoint as typed), but `SSM` is neither an API's name nor this Host's first label.
    let mut c = capture(2);
    c.set_header(
        "authorization",
        &format!("TC3-HMAC-SHA256 Credential=AKIDcofferTestId/2026-11-23/SSM/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
    );
    assert!(is_mismatch(c.parse().and_then(|p| p.verify(SECRET))));
    // Spacing after the commas is optional; leading/trailing whitespace is tolerated.
    let mut c = capture(2);
    c.set_header("authorization", &format!("  {}  ", good.replace(", ", ",")));
    assert!(c.parse().and_then(|p| p.verify(SECRET)).is_ok());
}

#[test]
fn missing_or_repeated_pieces_are_refused() {
    // Signed headers absent; repeated security-relevant headers.
    for name in ["host", "content-type", "x-tc-timestamp"] {
        let mut c = capture(2);
        c.remove_header(name);
        assert!(is_incomplete(c.parse()), "{name}");
    }
    for name in [
        "host",
        "authorization",
        "x-tc-timestamp",
        "x-tc-action",
        "x-tc-token",
    ] {
        let mut c = capture(2);
        let v = c.header(name).unwrap_or("x").to_string();
        if c.header(name).is_none() {
            c.headers.push((name.to_string(), v.clone()));
        }
        c.headers.push((name.to_string(), v));
        assert!(is_incomplete(c.parse()), "{name}");
    }
    // Timestamps that are not decimal seconds.
    for ts in [
        "",
        "-1",
        "+1795462108",
        "1795462108.5",
        "0x10",
        "99999999999999999999",
        "1 2",
    ] {
        let mut c = capture(2);
        c.set_header("x-tc-timestamp", ts);
        let r = c.parse();
        assert!(
            matches!(r, Err(AuthError::BadTimestampFormat)) || is_incomplete(r),
            "{ts:?}"
        );
    }
    // Methods other than GET and POST.
    for m in ["PUT", "post", "", "DELETE"] {
        let mut c = capture(2);
        c.method = m.to_string();
        assert!(is_incomplete(c.parse()), "{m:?}");
    }
    // No signature at all: JSON POST without Authorization, bare GET.
    let mut c = capture(2);
    c.remove_header("authorization");
    assert!(is_incomplete(c.parse()));
    let mut c = capture(4);
    c.remove_header("authorization");
    assert!(is_incomplete(c.parse()));
}

#[test]
fn malformed_v1_fields_are_refused() {
    let base = String::from_utf8(capture(6).body).expect("utf-8");
    let cases: Vec<(String, &str)> = vec![
        (base.replace("SecretId=AKIDcofferTestId&", ""), "incomplete"),
        (base.replace("Nonce=4131867450665571331&", ""), "incomplete"),
        (base.replace("Timestamp=1795462108&", ""), "incomplete"),
        (
            base.replace("SignatureMethod=HmacSHA1", "SignatureMethod=HmacMD5"),
            "incomplete",
        ),
        (
            base.replace("SignatureMethod=HmacSHA1", "SignatureMethod=hmacsha1"),
            "incomplete",
        ),
        (
            base.replace("Timestamp=1795462108", "Timestamp=2026-11-23"),
            "timestamp",
        ),
        (
            base.replace("Timestamp=1795462108", "Timestamp=-5"),
            "timestamp",
        ),
        (format!("{base}&Nonce=1"), "duplicate"),
        (format!("{base}&Signature=abc"), "duplicate"),
        (base.replace("demo-secret_1", "demo%zz"), "encoding"),
        (base.replace("demo-secret_1", "demo%C3"), "encoding"),
        (base.replace("demo-secret_1", "demo%FF"), "encoding"),
        (
            base.replace("&Signature=l2oRyQRhQ%2BgXeCs62v4cSxo8sEU%3D", ""),
            "incomplete",
        ),
        (
            base.replace("Signature=l2oRyQRhQ%2BgXeCs62v4cSxo8sEU%3D", "Signature="),
            "incomplete",
        ),
    ];
    for (body, kind) in cases {
        let mut c = capture(6);
        c.body = body.clone().into_bytes();
        let r = c.parse();
        let ok = match kind {
            "incomplete" => is_incomplete(r),
            "timestamp" => matches!(r, Err(AuthError::BadTimestampFormat)),
            "duplicate" => matches!(r, Err(AuthError::DuplicateParameter(_))),
            _ => matches!(r, Err(AuthError::BadEncoding(_))),
        };
        assert!(ok, "{kind}: {body}");
    }
    // Raw non-UTF-8 bytes in a form body.
    let mut c = capture(6);
    c.body = [b"SecretName=\xff\xfe&".as_slice(), &c.body].concat();
    assert!(matches!(c.parse(), Err(AuthError::BadEncoding(_))));
    // A form body needs the form content type, and v1 needs a Host.
    let mut c = capture(6);
    c.set_header("content-type", "application/json");
    assert!(is_incomplete(c.parse()));
    let mut c = capture(6);
    c.remove_header("host");
    assert!(is_incomplete(c.parse()));
    // A wrong (but well-formed) signature is a mismatch, not a parse error.
    let mut c = capture(6);
    c.body = base
        .replace("l2oRyQRhQ%2BgXeCs62v4cSxo8sEU%3D", "AAAA")
        .into_bytes();
    assert!(c.parse().is_ok_and(|p| is_mismatch(p.verify(SECRET))));
}

#[test]
fn hostile_sizes_and_bytes_never_panic() {
    // A 16 MiB body: hashed, not verified, and params() of a signed huge body still works.
    let huge = vec![b'{'; 16 << 20];
    let mut c = capture(2);
    c.body = huge.clone();
    assert!(c.parse().is_ok_and(|p| is_mismatch(p.verify(SECRET))));
    let headers = tencent::tc3_post_json_headers(
        "ListSecrets",
        tencent::SSM_VERSION,
        None,
        "h",
        &huge,
        SECRET_ID,
        SECRET,
        1_795_462_108,
    );
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body: &huge,
    };
    let p = tencent::parse(&req).expect("parses");
    p.verify(SECRET).expect("verifies");
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    assert!(matches!(p.params(), Err(AuthError::BadBody(_))));

    // A v1 form with many fields and a very long, deeply dotted name.
    let mut body = String::from(std::str::from_utf8(&capture(6).body).expect("utf-8"));
    for i in 0..5000 {
        body.push_str(&format!("&F{i}=x"));
    }
    body.push_str(&format!("&{}=1", vec!["A"; 100_000].join(".")));
    let mut c = capture(6);
    c.body = body.into_bytes();
    let p = c.parse().expect("parses");
    assert!(is_mismatch(p.verify(SECRET)));
    assert!(matches!(p.params(), Err(AuthError::BadBody(_))));

    // A huge array index in a signed GET query does not allocate.
    let (query, headers) = tc3_get("Tags.18446744073709551615.TagKey=x");
    let req = RequestParts {
        method: "GET",
        raw_query: &query,
        headers: &headers,
        body: b"",
    };
    let p = tencent::parse(&req).expect("parses");
    p.verify(SECRET).expect("verifies");
    assert!(matches!(p.params(), Err(AuthError::BadBody(_))));

    // Arbitrary bytes and odd header values.
    for body in [&b"\x00\x01\x02"[..], b"\xff", b"%", b"&&&===", b"Signature"] {
        let mut c = capture(6);
        c.body = body.to_vec();
        let _ = c.parse().map(|p| p.verify(SECRET));
        let mut c = capture(2);
        c.body = body.to_vec();
        let _ = c.parse().map(|p| (p.verify(SECRET), p.params()));
    }
    for v in [
        "",
        " ",
        "\u{0}",
        "\u{e9}\u{e9}",
        "TC3-HMAC-SHA256 \u{e9}=\u{e9},\u{e9}",
    ] {
        for name in [
            "authorization",
            "host",
            "x-tc-timestamp",
            "content-type",
            "x-tc-content-sha256",
        ] {
            let mut c = capture(2);
            c.set_header(name, v);
            let _ = c.parse().map(|p| (p.verify(SECRET), p.params()));
        }
    }
}

#[test]
fn debug_output_hides_values() -> Result<(), AuthError> {
    let p = capture(1).parse()?;
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("hello world"));
    assert!(dbg.contains("CreateSecret"));
    let e = AuthError::BadBody("the request body must be a JSON object".into());
    assert!(format!("{e:?}").contains("BadBody"));
    let _: Value = capture(13).parse()?.params()?;
    Ok(())
}
