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
