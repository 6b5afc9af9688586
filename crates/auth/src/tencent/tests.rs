//! Unit tests for the Tencent schemes; the captured SDK requests are exercised end to end in
//! `tests/tencent_captures.rs`.

use super::*;

const SECRET: &[u8] = b"cofferTestSecretKey";
const BODY: &[u8] = br#"{"SecretName": "demo-secret_1", "VersionId": "v1"}"#;

/// A TC3 POST for capture 2's body signed with an explicit credential date, the way a client
/// with a wrong date would sign it (the signature is right for the scope it names).
fn signed_with_date(timestamp: i64, date: &str) -> Vec<(String, String)> {
    let ts = timestamp.to_string();
    let signed = [
        ("content-type", "application/json"),
        ("host", "127.0.0.1:28417"),
    ];
    let canonical =
        sign::tc3_canonical_request("POST", "", &signed, &sign::tc3_payload_hash(BODY, false));
    let sts = sign::tc3_string_to_sign(&ts, date, "ssm", &canonical);
    let mac = sign::tc3_mac(SECRET, date, "ssm", &sts);
    let auth = format!(
        "TC3-HMAC-SHA256 Credential=AKIDcofferTestId/{date}/ssm/tc3_request, \
         SignedHeaders=content-type;host, Signature={}",
        hex::encode(mac)
    );
    vec![
        ("content-type".into(), "application/json".into()),
        ("host".into(), "127.0.0.1:28417".into()),
        ("x-tc-timestamp".into(), ts),
        ("authorization".into(), auth),
    ]
}

fn verify_with_date(timestamp: i64, date: &str) -> Result<(), AuthError> {
    let headers = signed_with_date(timestamp, date);
    let req = RequestParts {
        method: "POST",
        raw_query: "",
        headers: &headers,
        body: BODY,
    };
    parse(&req)?.verify(SECRET)
}

#[test]
fn credential_date_must_be_the_utc_date_of_the_timestamp() {
    // Capture 2: 1795462108 is 2026-11-23 UTC, and that signature reproduces.
    assert!(verify_with_date(1_795_462_108, "2026-11-23").is_ok());
    assert_eq!(
        signed_with_date(1_795_462_108, "2026-11-23")[3].1,
        "TC3-HMAC-SHA256 Credential=AKIDcofferTestId/2026-11-23/ssm/tc3_request, \
         SignedHeaders=content-type;host, \
         Signature=630bd1d6e1f1314633d0432359362226cf25fbc1be9fe6a0b74e62769ad4cc56"
    );
    // Correctly signed, but for another day: refused as a signature failure.
    for date in ["2026-11-22", "2026-11-24", "2025-11-23", "0000-00-00"] {
        assert!(
            matches!(
                verify_with_date(1_795_462_108, date),
                Err(AuthError::SignatureMismatch { .. })
            ),
            "{date}"
        );
    }
    // Just after midnight UTC a client in UTC+8 using its local date is already a day ahead.
    let midnight = 1_795_392_000; // 2026-11-23T00:00:00Z
    assert!(verify_with_date(midnight, "2026-11-23").is_ok());
    assert!(verify_with_date(midnight - 1, "2026-11-22").is_ok());
    assert!(verify_with_date(midnight - 1, "2026-11-23").is_err());
    // Timestamps with no representable date never match.
    assert!(verify_with_date(i64::MAX, "9999-12-31").is_err());
}

#[test]
fn utc_date_formats_and_bounds() {
    assert_eq!(sign::utc_date(0).as_deref(), Some("1970-01-01"));
    assert_eq!(sign::utc_date(1_551_113_065).as_deref(), Some("2019-02-25"));
    assert_eq!(sign::utc_date(1_795_462_108).as_deref(), Some("2026-11-23"));
    assert_eq!(
        sign::utc_date(253_402_300_799).as_deref(),
        Some("9999-12-31")
    );
    assert_eq!(sign::utc_date(253_402_300_800), None);
    assert_eq!(sign::utc_date(i64::MAX), None);
    assert_eq!(sign::utc_date(i64::MIN), None);
}

#[test]
fn published_canonical_request_text() {
    // Tencent's cvm example, line by line.
    let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let hash = sign::tc3_payload_hash(body, false);
    assert_eq!(
        hash,
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    let canonical = sign::tc3_canonical_request(
        "POST",
        "",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("host", "cvm.tencentcloudapi.com"),
        ],
        &hash,
    );
    assert_eq!(
        canonical,
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
         content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    let sts = sign::tc3_string_to_sign("1551113065", "2019-02-25", "cvm", &canonical);
    assert!(sts.ends_with("5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"));
    assert_eq!(
        hex::encode(sign::tc3_mac(
            b"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "2019-02-25",
            "cvm",
            &sts
        )),
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );
    // Values are trimmed, never lower-cased.
    let c = sign::tc3_canonical_request("GET", "A=1", &[("host", "  HTTP://X:1 \t")], "h");
    assert_eq!(c, "GET\n/\nA=1\nhost:HTTP://X:1\n\nhost\nh");
    // UNSIGNED-PAYLOAD hashes the literal text.
    assert_eq!(
        sign::tc3_payload_hash(b"anything", true),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"UNSIGNED-PAYLOAD"))
    );
}

#[test]
fn hmac_matches_rfc_4231_case_6() {
    // A key longer than the block size exercises the hashing of long keys.
    let key = [0xaa_u8; 131];
    let mac = sign::hmac_sha256(
        &key,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
    );
    assert_eq!(
        hex::encode(mac),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn v1_source_sorts_by_name_and_keeps_values_decoded() {
    assert_eq!(
        sign::v1_source("POST", "h:1", &[("b", "x y"), ("B", "+"), ("a", "é&=")]),
        "POSTh:1/?B=+&a=é&=&b=x y"
    );
    assert_eq!(sign::v1_source::<&str, &str>("GET", "h", &[]), "GETh/?");
}

#[test]
fn a_tc3_signature_is_bound_to_its_action_version_and_region() -> Result<(), AuthError> {
    let ts = 1_795_462_108;
    let sdk = |action: &str, region: &str| {
        let mut h = sign::tc3_post_json_headers(
            action,
            SSM_VERSION,
            Some(region),
            "127.0.0.1:28417",
            BODY,
            "AKIDcofferTestId",
            SECRET,
            ts,
        );
        h.sort();
        h
    };
    let (describe, delete, elsewhere) = (
        sdk("DescribeSecret", "ap-guangzhou"),
        sdk("DeleteSecret", "ap-guangzhou"),
        sdk("DescribeSecret", "ap-shanghai"),
    );
    let parsed = |h: &[(String, String)]| {
        parse(&RequestParts {
            method: "POST",
            raw_query: "",
            headers: h,
            body: BODY,
        })
    };
    let (describe, delete, elsewhere) = (parsed(&describe)?, parsed(&delete)?, parsed(&elsewhere)?);
    // The SDK signs none of the three headers: all three verify.
    for r in [&describe, &delete, &elsewhere] {
        r.verify(SECRET)?;
    }
    let guard = crate::replay::MemoryReplayGuard::new(
        std::time::Duration::from_secs(600),
        SAME_CLIENT_GRACE,
        1000,
    );
    let here: Option<SocketAddr> = "10.0.0.1:40000".parse().ok();
    let there: Option<SocketAddr> = "10.0.0.2:40000".parse().ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| AuthError::BadBody(e.to_string()))?;
    let admit = |r: &TencentRequest, peer, reads| {
        runtime
            .block_on(r.admit(&guard, peer, reads, ts))
            .unwrap_or(Admission::Replay)
    };
    assert_eq!(admit(&describe, here, true), Admission::Fresh);
    assert_eq!(admit(&describe, there, true), Admission::Again);
    assert_eq!(admit(&delete, there, false), Admission::Replay);
    assert_eq!(admit(&delete, None, false), Admission::Replay);
    // Reads may change region; the client's own address may change anything but the version,
    // at once.
    assert_eq!(admit(&elsewhere, there, true), Admission::Again);
    assert_eq!(admit(&delete, here, false), Admission::Again);
    assert_eq!(guard.nonces_held(), 0, "TC3 uses no nonce");
    assert_eq!(guard.signatures_held(), 1);
    Ok(())
}

#[test]
fn unsigned_payload_is_reported() -> Result<(), AuthError> {
    let ts = 1_795_462_108;
    let signed = [
        ("content-type", "application/json"),
        ("host", "127.0.0.1:28417"),
        ("x-tc-content-sha256", UNSIGNED_PAYLOAD),
    ];
    let auth = sign_tc3(
        "POST",
        "",
        &signed,
        b"",
        "AKIDcofferTestId",
        SECRET,
        ts,
        "ssm",
    );
    let mut headers: Vec<(String, String)> = signed
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.push(("x-tc-timestamp".into(), ts.to_string()));
    headers.push(("authorization".into(), auth));
    // Any body verifies: the signature does not cover it, which the request reports.
    for body in [&b""[..], BODY] {
        let r = parse(&RequestParts {
            method: "POST",
            raw_query: "",
            headers: &headers,
            body,
        })?;
        r.verify(SECRET)?;
        assert!(r.unsigned_payload);
    }
    Ok(())
}

// ------------------------------------------------------------ the Node.js SDK's signing form

/// A request signed as `tencentcloud-sdk-nodejs-common` 4.x signs it (`sign.js` `sign3`): the
/// `host` line is `hostname` (the Host header without its port) and the scope's service is
/// `service`. `host_header` goes on the wire as the SDK sends it (`new URL(url).host`).
struct NodeSigned {
    method: &'static str,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl NodeSigned {
    fn new(method: &'static str, host_header: &str, hostname: &str, service: &str) -> Self {
        let ts = 1_795_462_108;
        let (content_type, raw_query, body) = if method == "GET" {
            (
                "application/x-www-form-urlencoded",
                "SecretName=demo-secret_1&VersionId=v1".to_string(),
                Vec::new(),
            )
        } else {
            ("application/json", String::new(), BODY.to_vec())
        };
        let auth = sign_tc3(
            method,
            &raw_query,
            &[("content-type", content_type), ("host", hostname)],
            &body,
            "AKIDcofferTestId",
            SECRET,
            ts,
            service,
        );
        let headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("host".to_string(), host_header.to_string()),
            ("x-tc-action".to_string(), "GetSecretValue".to_string()),
            ("x-tc-version".to_string(), SSM_VERSION.to_string()),
            ("x-tc-timestamp".to_string(), ts.to_string()),
            ("authorization".to_string(), auth),
        ];
        NodeSigned {
            method,
            raw_query,
            headers,
            body,
        }
    }

    fn verify(&self) -> Result<TencentRequest, AuthError> {
        let r = parse(&RequestParts {
            method: self.method,
            raw_query: &self.raw_query,
            headers: &self.headers,
            body: &self.body,
        })?;
        r.verify(SECRET)?;
        Ok(r)
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n == name {
                *v = value.to_string();
            }
        }
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// The endpoint forms a user types, what the Node SDK sends as Host and signs as host, and
/// the service it puts in the scope (`endpoint.split(".")[0]`).
const NODE_ENDPOINTS: [(&str, &str, &str); 6] = [
    ("127.0.0.1:7080", "127.0.0.1", "127"),
    ("localhost:7080", "localhost", "localhost:7080"),
    ("coffer.internal:7080", "coffer.internal", "coffer"),
    ("ssm.coffer.internal:7080", "ssm.coffer.internal", "ssm"),
    ("[::1]:7080", "[::1]", "[::1]:7080"),
    // No port (a TLS proxy on 443): the host line is the Host header, only the scope differs.
    ("coffer.internal", "coffer.internal", "coffer"),
];

#[test]
fn the_node_sdk_forms_verify() -> Result<(), AuthError> {
    for method in ["POST", "GET"] {
        for (host, hostname, service) in NODE_ENDPOINTS {
            let r = NodeSigned::new(method, host, hostname, service)
                .verify()
                .map_err(|e| AuthError::BadBody(format!("{method} {host}: {e}")))?;
            // Only `ssm`/`kms` name an API; an endpoint label names none.
            let names_api = service == "ssm";
            assert_eq!(r.service().is_some(), names_api, "{host}");
            assert_eq!(r.credential_service.as_deref(), Some(service));
        }
    }
    Ok(())
}

#[test]
fn host_without_port_and_endpoint_labels() {
    assert_eq!(sign::host_without_port("127.0.0.1:7080"), Some("127.0.0.1"));
    assert_eq!(sign::host_without_port("[::1]:7080"), Some("[::1]"));
    assert_eq!(sign::host_without_port("a.b:1"), Some("a.b"));
    for no_port in [
        "a.b",
        "[::1]",
        "::1",
        "a:",
        ":80",
        "a:8x",
        "[::1]x:80",
        "a:b:80",
        "",
    ] {
        assert_eq!(sign::host_without_port(no_port), None, "{no_port}");
    }
    assert!(sign::is_endpoint_label("coffer.internal:7080", "coffer"));
    assert!(sign::is_endpoint_label("Coffer.Internal:7080", "coffer"));
    assert!(sign::is_endpoint_label("localhost:7080", "localhost:7080"));
    assert!(!sign::is_endpoint_label("localhost:7080", "localhost"));
    assert!(!sign::is_endpoint_label("coffer.internal:7080", "internal"));
    assert!(!sign::is_endpoint_label("coffer.internal:7080", ""));
    // Tencent's own API domain: its scopes name Tencent's real services.
    assert!(!sign::is_endpoint_label("cvm.tencentcloudapi.com", "cvm"));
    assert!(!sign::is_endpoint_label(
        "cvm.ap-guangzhou.tencentcloudapi.com:443",
        "cvm"
    ));
    assert!(!sign::is_endpoint_label("SSM.TencentCloudAPI.com", "ssm"));
}

#[test]
fn every_signed_part_is_still_bound_under_the_node_forms() {
    let is_mismatch = |r: Result<TencentRequest, AuthError>| {
        matches!(r, Err(AuthError::SignatureMismatch { .. }))
    };
    for method in ["POST", "GET"] {
        for (host, hostname, service) in NODE_ENDPOINTS {
            let fresh = || NodeSigned::new(method, host, hostname, service);
            assert!(fresh().verify().is_ok(), "{method} {host}");
            let label = format!("{method} {host}");

            // The body (POST) and the query (GET).
            let mut t = fresh();
            if method == "POST" {
                t.body = br#"{"SecretName": "demo-secret_2", "VersionId": "v1"}"#.to_vec();
            } else {
                t.raw_query = "SecretName=demo-secret_2&VersionId=v1".to_string();
            }
            assert!(is_mismatch(t.verify()), "{label}: parameters");
            // The content type.
            let mut t = fresh();
            t.set("content-type", "text/plain");
            assert!(is_mismatch(t.verify()), "{label}: content-type");
            // The host name (its port is not signed by this SDK, see below).
            for other in ["other.internal:7080", "127.0.0.2:7080", "other.internal"] {
                let mut t = fresh();
                t.set("host", other);
                assert!(is_mismatch(t.verify()), "{label}: host {other}");
            }
            // The timestamp, the scope's date and service, the signature, the key.
            let mut t = fresh();
            t.set("x-tc-timestamp", "1795462109");
            assert!(is_mismatch(t.verify()), "{label}: timestamp");
            let auth = fresh().header("authorization");
            for (from, to) in [
                ("2026-11-23/", "2026-11-22/"),
                (&format!("/{service}/")[..], "/ssm/"),
                (&format!("/{service}/")[..], "/kms/"),
                (&format!("/{service}/")[..], "/cvm/"),
            ] {
                if from == to {
                    continue;
                }
                let mut t = fresh();
                t.set("authorization", &auth.replacen(from, to, 1));
                let r = t.verify();
                assert!(
                    is_mismatch(r) || matches!(t.verify(), Err(AuthError::Incomplete(_))),
                    "{label}: scope {from} -> {to}"
                );
            }
            let mut t = fresh();
            let sig_at = auth.len() - 1;
            let flipped = if auth.ends_with('0') { "1" } else { "0" };
            t.set("authorization", &format!("{}{flipped}", &auth[..sig_at]));
            assert!(is_mismatch(t.verify()), "{label}: signature");
            let t = fresh();
            let parsed = parse(&RequestParts {
                method: t.method,
                raw_query: &t.raw_query,
                headers: &t.headers,
                body: &t.body,
            });
            assert!(
                matches!(
                    parsed.map(|r| r.verify(b"another secret")),
                    Ok(Err(AuthError::SignatureMismatch { .. }))
                ),
                "{label}: secret"
            );
        }
    }
}

#[test]
fn a_scope_must_be_an_api_or_the_hosts_own_label() {
    let mismatch = |host: &str, hostname: &str, service: &str| {
        matches!(
            NodeSigned::new("POST", host, hostname, service).verify(),
            Err(AuthError::SignatureMismatch { .. })
        )
    };
    // Correctly signed, but the scope names neither an API nor this Host's first label.
    assert!(mismatch("coffer.internal:7080", "coffer.internal", "cvm"));
    assert!(mismatch(
        "coffer.internal:7080",
        "coffer.internal",
        "internal"
    ));
    // (A dotted scope service is not even a well-formed credential.)
    assert!(matches!(
        NodeSigned::new("POST", "127.0.0.1:7080", "127.0.0.1", "127.0.0.1:7080").verify(),
        Err(AuthError::Incomplete(_))
    ));
    // A signature made for Tencent's own API (service `cvm` at its domain) stays refused
    // even when its Host is sent to coffer.
    assert!(mismatch(
        "cvm.tencentcloudapi.com",
        "cvm.tencentcloudapi.com",
        "cvm"
    ));
    assert!(mismatch(
        "cvm.tencentcloudapi.com:443",
        "cvm.tencentcloudapi.com",
        "cvm"
    ));
    // The canonical form at that domain still works for the APIs coffer serves.
    assert!(!mismatch(
        "ssm.tencentcloudapi.com",
        "ssm.tencentcloudapi.com",
        "ssm"
    ));
    // The port-free host line is only the Node SDK's: a host line with another port, or a
    // host without its port where the Host header has none, never verifies.
    assert!(mismatch(
        "coffer.internal:7080",
        "coffer.internal:7081",
        "coffer"
    ));
    assert!(mismatch("coffer.internal", "coffer", "coffer"));
}

#[test]
fn the_port_is_the_one_part_the_node_form_does_not_sign() -> Result<(), AuthError> {
    // The Node SDK signs the host name only: the same request verifies on another port of
    // the same host (another coffer there would need the same key; the replay guard of a
    // shared store still sees it). The canonical form signs the port.
    let mut t = NodeSigned::new("POST", "coffer.internal:7080", "coffer.internal", "coffer");
    t.set("host", "coffer.internal:7081");
    t.verify()?;
    let mut canonical = NodeSigned::new(
        "POST",
        "coffer.internal:7080",
        "coffer.internal:7080",
        "ssm",
    );
    canonical.verify()?;
    canonical.set("host", "coffer.internal:7081");
    assert!(matches!(
        canonical.verify(),
        Err(AuthError::SignatureMismatch { .. })
    ));
    Ok(())
}

#[test]
fn only_a_scope_that_is_not_the_hosts_label_names_an_api() -> Result<(), AuthError> {
    let named = |host: &str, hostname: &str, service: &str| {
        NodeSigned::new("POST", host, hostname, service)
            .verify()
            .map(|r| r.api_named_by_scope())
    };
    // The Python SDK's scopes name the API.
    assert_eq!(
        named("127.0.0.1:7080", "127.0.0.1:7080", "ssm")?,
        Some(Service::Ssm)
    );
    assert_eq!(
        named("127.0.0.1:7080", "127.0.0.1:7080", "kms")?,
        Some(Service::Kms)
    );
    assert_eq!(
        named("ssm.tencentcloudapi.com", "ssm.tencentcloudapi.com", "ssm")?,
        Some(Service::Ssm)
    );
    // At `ssm.example:7080` the Node SDK signs `ssm` for KMS calls too: no API is named.
    assert_eq!(named("ssm.example:7080", "ssm.example", "ssm")?, None);
    assert_eq!(named("kms.example:7080", "kms.example", "kms")?, None);
    assert_eq!(named("127.0.0.1:7080", "127.0.0.1", "127")?, None);
    // A Python-style scope at such a host that is not the label still names its API.
    assert_eq!(
        named("ssm.example:7080", "ssm.example:7080", "kms")?,
        Some(Service::Kms)
    );
    Ok(())
}
