//! Unit tests for the pieces of the Alibaba schemes; the captured SDK requests are exercised
//! end to end in `tests/alibaba_captures.rs`.

use super::*;

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn request<'a>(
    method: &'a str,
    raw_query: &'a str,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> RequestParts<'a> {
    RequestParts {
        method,
        raw_query,
        headers,
        body,
    }
}

/// Worked example from the reference (capture 2): the RPC v1 string to sign.
#[test]
fn rpc_v1_worked_example() -> Result<(), AuthError> {
    let params = [
        ("SecretName", "demo-1"),
        ("VersionStage", "ACSCurrent"),
        ("Version", "2016-01-20"),
        ("Action", "GetSecretValue"),
        ("Format", "JSON"),
        ("RegionId", "cn-hangzhou"),
        ("Timestamp", "2026-11-23T19:28:35Z"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "212898a82f420d1c2eff3c6b28a03547"),
        ("AccessKeyId", "testid"),
    ];
    assert_eq!(
        rpc_v1_string_to_sign("post", &params),
        "POST&%2F&AccessKeyId%3Dtestid%26Action%3DGetSecretValue%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SecretName%3Ddemo-1%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D212898a82f420d1c2eff3c6b28a03547%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-23T19%253A28%253A35Z%26Version%3D2016-01-20%26VersionStage%3DACSCurrent"
    );
    assert_eq!(
        sign_rpc_v1("POST", &params, b"testsecret")?,
        "VhIqEJ+Oe8wa9jbCiNaBmHN+cBE="
    );
    Ok(())
}

fn capture_11_headers() -> Vec<(String, String)> {
    headers(&[
        ("accept-encoding", "identity"),
        ("host", "127.0.0.1:28471"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-action", "GetSecretValue"),
        (
            "user-agent",
            "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        ),
        ("x-acs-date", "2026-11-23T19:28:36Z"),
        ("x-acs-signature-nonce", "c8040ab1fc1a664e43d4a85fab8c0517"),
        ("accept", "application/json"),
        ("content-type", "application/x-www-form-urlencoded"),
        (
            "x-acs-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("x-acs-credentials-provider", "static_ak"),
        (
            "authorization",
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=b2edbc4a5a859380d1ad4d3e38404a26ac9a8cdf6b2bbcf79c73d1aabbc089d8",
        ),
        ("content-length", "0"),
    ])
}
const CAPTURE_11_QUERY: &str = "FetchExtendedConfig=True&SecretName=demo-2&VersionStage=ACSCurrent";

/// Worked example from the reference (capture 11): the ACS3 canonical request, byte for byte.
#[test]
fn acs3_worked_example() -> Result<(), AuthError> {
    let h = capture_11_headers();
    let signed = [
        "accept",
        "content-type",
        "host",
        "user-agent",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-credentials-provider",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ];
    let query = crate::encoding::form_decode(CAPTURE_11_QUERY.as_bytes(), "query")?;
    let canonical = sign::acs3_canonical_request(
        "POST",
        &query,
        &signed,
        &h,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )?;
    let want = "POST\n/\nFetchExtendedConfig=True&SecretName=demo-2&VersionStage=ACSCurrent\n\
accept:application/json\n\
content-type:application/x-www-form-urlencoded\n\
host:127.0.0.1:28471\n\
user-agent:AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n\
x-acs-action:GetSecretValue\n\
x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
x-acs-credentials-provider:static_ak\n\
x-acs-date:2026-11-23T19:28:36Z\n\
x-acs-signature-nonce:c8040ab1fc1a664e43d4a85fab8c0517\n\
x-acs-version:2016-01-20\n\
\n\
accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(canonical, want);
    assert_eq!(
        sign::acs3_string_to_sign_from_canonical(&canonical),
        "ACS3-HMAC-SHA256\n65ccdcacf18d7166dde9edc987688f42ff7b6fe674afbb5c220f5b6423406398"
    );

    let parsed = parse(&request("POST", CAPTURE_11_QUERY, &h, b""))?;
    assert_eq!(parsed.scheme, Scheme::Acs3);
    assert_eq!(parsed.access_key_id, "testid");
    assert_eq!(parsed.nonce, "c8040ab1fc1a664e43d4a85fab8c0517");
    assert_eq!(parsed.timestamp, 1_795_462_116);
    assert_eq!(parsed.action.as_deref(), Some("GetSecretValue"));
    assert_eq!(parsed.version.as_deref(), Some("2016-01-20"));
    assert_eq!(parsed.param("FetchExtendedConfig"), Some("True"));
    parsed.verify(b"testsecret")
}

fn with_authorization(h: &[(String, String)], auth: &str) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            if k == "authorization" {
                (k.clone(), auth.to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

const C11_SIGNED: &str = "accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version";
const C11_SIG: &str = "b2edbc4a5a859380d1ad4d3e38404a26ac9a8cdf6b2bbcf79c73d1aabbc089d8";

#[test]
fn authorization_tolerates_spaces_and_any_order() -> Result<(), AuthError> {
    let base = capture_11_headers();
    for auth in [
        format!("ACS3-HMAC-SHA256 Credential=testid, SignedHeaders={C11_SIGNED}, Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256  Credential=testid ,SignedHeaders={C11_SIGNED},  Signature={C11_SIG} "),
        format!("ACS3-HMAC-SHA256 Signature={C11_SIG},Credential=testid,SignedHeaders={C11_SIGNED}"),
    ] {
        let h = with_authorization(&base, &auth);
        parse(&request("POST", CAPTURE_11_QUERY, &h, b""))?.verify(b"testsecret")?;
    }
    Ok(())
}

#[test]
fn malformed_authorization_is_incomplete() {
    let base = capture_11_headers();
    let cases = [
        String::new(),
        "ACS3-HMAC-SHA256".into(),
        "ACS3-HMAC-SHA256 ".into(),
        format!("ACS3-HMAC-SM3 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-RSA-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        format!("acs3-hmac-sha256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        "Bearer abc.def".into(),
        "Basic dGVzdDp0ZXN0".into(),
        format!("ACS3-HMAC-SHA256 SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=,SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature=zz"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG}00"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={}", &C11_SIG[..63]),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG},Extra=1"),
        format!("ACS3-HMAC-SHA256 Credential=testid,Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED},Signature={C11_SIG},"),
        format!("ACS3-HMAC-SHA256 Credential=testid;SignedHeaders={C11_SIGNED};Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=Host;{C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;;{C11_SIGNED},Signature={C11_SIG}"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;{C11_SIGNED},Signature={C11_SIG}"),
        // Required headers not signed.
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host,Signature={C11_SIG}"),
        format!(
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={},Signature={C11_SIG}",
            C11_SIGNED.replace(";x-acs-date", "")
        ),
        format!(
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={},Signature={C11_SIG}",
            C11_SIGNED.replace(";x-acs-signature-nonce", "")
        ),
        // A signed header the request does not carry.
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={C11_SIGNED};x-missing,Signature={C11_SIG}"),
    ];
    for auth in cases {
        let h = with_authorization(&base, &auth);
        let got = parse(&request("POST", CAPTURE_11_QUERY, &h, b""));
        assert!(
            matches!(got, Err(AuthError::Incomplete(_))),
            "{auth:?}: {got:?}"
        );
    }
}

#[test]
fn repeated_or_missing_core_headers_are_incomplete() {
    let base = capture_11_headers();
    for name in ACS3_REQUIRED_SIGNED_HEADERS {
        // Missing.
        let h: Vec<_> = base.iter().filter(|(k, _)| k != name).cloned().collect();
        let got = parse(&request("POST", CAPTURE_11_QUERY, &h, b""));
        assert!(
            matches!(got, Err(AuthError::Incomplete(_))),
            "missing {name}: {got:?}"
        );
        // Repeated.
        let mut h = base.clone();
        let value = base
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        h.push((name.to_string(), value));
        let got = parse(&request("POST", CAPTURE_11_QUERY, &h, b""));
        assert!(
            matches!(got, Err(AuthError::Incomplete(_))),
            "repeated {name}: {got:?}"
        );
    }
    let mut h = base.clone();
    h.push(("authorization".into(), "x".into()));
    assert!(matches!(
        parse(&request("POST", CAPTURE_11_QUERY, &h, b"")),
        Err(AuthError::Incomplete(_))
    ));
}

#[test]
fn acs3_body_must_match_digest() {
    let h = capture_11_headers();
    // Digest says empty body, a body arrived.
    let got = parse(&request("POST", CAPTURE_11_QUERY, &h, b"SecretData=x"));
    assert!(
        matches!(got, Err(AuthError::ContentHashMismatch)),
        "{got:?}"
    );
}

#[test]
fn unsigned_security_token_or_mismatched_key_header_is_incomplete() {
    let mut h = capture_11_headers();
    h.push(("x-acs-security-token".into(), "tok".into()));
    assert!(matches!(
        parse(&request("POST", CAPTURE_11_QUERY, &h, b"")),
        Err(AuthError::Incomplete(_))
    ));
    let mut h = capture_11_headers();
    h.push(("x-acs-accesskey-id".into(), "other".into()));
    assert!(matches!(
        parse(&request("POST", CAPTURE_11_QUERY, &h, b"")),
        Err(AuthError::Incomplete(_))
    ));
    let mut h = capture_11_headers();
    h.push(("x-acs-bearer-token".into(), "tok".into()));
    assert!(matches!(
        parse(&request("POST", CAPTURE_11_QUERY, &h, b"")),
        Err(AuthError::Incomplete(_))
    ));
}

/// Builds a valid RPC v1 query (signed with the helper) from business parameters.
fn rpc_query(extra: &[(&str, &str)], secret: &[u8]) -> Result<String, AuthError> {
    let mut params: Vec<(String, String)> = [
        ("Action", "GetSecretValue"),
        ("Version", "2016-01-20"),
        ("Format", "JSON"),
        ("Timestamp", "2026-11-23T19:28:35Z"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "n-1"),
        ("AccessKeyId", "testid"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = sign_rpc_v1("POST", &params, secret)?;
    params.push(("Signature".into(), sig));
    Ok(crate::encoding::encode_query(&params))
}

#[test]
fn rpc_v1_round_trip_and_fields() -> Result<(), AuthError> {
    let q = rpc_query(&[("SecretName", "a b+c/é"), ("SecurityToken", "tok")], b"k")?;
    let parsed = parse(&request("POST", &q, &[], b""))?;
    assert_eq!(parsed.scheme, Scheme::RpcV1);
    assert_eq!(parsed.access_key_id, "testid");
    assert_eq!(parsed.nonce, "n-1");
    assert_eq!(parsed.action.as_deref(), Some("GetSecretValue"));
    assert_eq!(parsed.version.as_deref(), Some("2016-01-20"));
    assert_eq!(parsed.security_token.as_deref(), Some("tok"));
    assert_eq!(parsed.param("SecretName"), Some("a b+c/é"));
    assert!(parsed.param("Signature").is_none());
    assert_eq!(parsed.params.len(), 10);
    assert_eq!(parsed.params[0].0, "Action");
    parsed.verify(b"k")?;
    assert!(matches!(
        parsed.verify(b"k2"),
        Err(AuthError::SignatureMismatch { .. })
    ));
    assert!(matches!(
        parsed.verify(b""),
        Err(AuthError::SignatureMismatch { .. })
    ));
    Ok(())
}

#[test]
fn rpc_v1_unsupported_methods_are_incomplete() -> Result<(), AuthError> {
    let valid = rpc_query(&[], b"k")?;
    for q in [
        valid.replace("SignatureMethod=HMAC-SHA1", "SignatureMethod=HMAC-SHA256"),
        valid.replace("SignatureMethod=HMAC-SHA1", "SignatureMethod=hmac-sha1"),
        valid.replace("SignatureVersion=1.0", "SignatureVersion=2.0"),
        format!("{valid}&SignatureType=BEARERTOKEN&BearerToken=abc"),
    ] {
        assert_ne!(q, valid);
        let got = parse(&request("POST", &q, &[], b""));
        assert!(matches!(got, Err(AuthError::Incomplete(_))), "{q}: {got:?}");
    }
    // The empty SignatureType generation 1 sends is fine.
    let with_type = rpc_query(&[("SignatureType", "")], b"k")?;
    parse(&request("POST", &with_type, &[], b""))?.verify(b"k")?;
    // Missing common parameters.
    for name in [
        "AccessKeyId",
        "SignatureNonce",
        "Timestamp",
        "SignatureMethod",
        "SignatureVersion",
    ] {
        let q = rpc_query(&[], b"k")?;
        let q: Vec<&str> = q
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect();
        let got = parse(&request("POST", &q.join("&"), &[], b""));
        assert!(
            matches!(got, Err(AuthError::Incomplete(_))),
            "{name}: {got:?}"
        );
    }
    // Empty signature.
    let got = parse(&request("POST", "Signature=&AccessKeyId=a&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=n&Timestamp=2026-11-23T19%3A28%3A35Z", &[], b""));
    assert!(matches!(got, Err(AuthError::Incomplete(_))), "{got:?}");
    Ok(())
}

#[test]
fn rpc_v1_form_body_joins_parameters() -> Result<(), AuthError> {
    // Sign with SecretData among the parameters, then move it to a form body.
    let q = rpc_query(&[("SecretData", "v2 data")], b"k")?;
    let query: Vec<&str> = q
        .split('&')
        .filter(|p| !p.starts_with("SecretData="))
        .collect();
    let query = query.join("&");
    let body = "SecretData=v2+data";
    let form = headers(&[(
        "content-type",
        "application/x-www-form-urlencoded; charset=UTF-8",
    )]);
    let parsed = parse(&request("POST", &query, &form, body.as_bytes()))?;
    assert_eq!(parsed.param("SecretData"), Some("v2 data"));
    assert_eq!(
        parsed.params.last().map(|(k, _)| k.as_str()),
        Some("SecretData")
    );
    parsed.verify(b"k")?;
    // Without the form content type the body is not parameters, so the signature breaks.
    let other = headers(&[("content-type", "application/json")]);
    let parsed = parse(&request("POST", &query, &other, body.as_bytes()))?;
    assert!(parsed.param("SecretData").is_none());
    assert!(parsed.verify(b"k").is_err());
    // The same name in query and body is a duplicate.
    let dup = format!("{query}&SecretData=x");
    let got = parse(&request("POST", &dup, &form, body.as_bytes()));
    assert!(
        matches!(got, Err(AuthError::DuplicateParameter(ref n)) if n == "SecretData"),
        "{got:?}"
    );
    // Two content types: ambiguous.
    let two = headers(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "text/plain"),
    ]);
    assert!(parse(&request("POST", &query, &two, body.as_bytes())).is_err());
    Ok(())
}

#[test]
fn duplicate_parameters_are_rejected() -> Result<(), AuthError> {
    let q = rpc_query(&[("SecretName", "a")], b"k")?;
    let got = parse(&request("POST", &format!("{q}&SecretName=b"), &[], b""));
    assert!(
        matches!(got, Err(AuthError::DuplicateParameter(ref n)) if n == "SecretName"),
        "{got:?}"
    );
    let got = parse(&request("POST", &format!("{q}&Signature=abc"), &[], b""));
    assert!(
        matches!(got, Err(AuthError::DuplicateParameter(ref n)) if n == "Signature"),
        "{got:?}"
    );
    // Same name spelled with an escape is still the same name.
    let got = parse(&request("POST", &format!("{q}&Secret%4Eame=b"), &[], b""));
    assert!(
        matches!(got, Err(AuthError::DuplicateParameter(ref n)) if n == "SecretName"),
        "{got:?}"
    );
    Ok(())
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").ok(), Some(0));
    assert_eq!(
        parse_timestamp("2026-11-23T19:28:35Z").ok(),
        Some(1_795_462_115)
    );
    assert_eq!(
        parse_timestamp("2024-02-29T23:59:59Z").ok(),
        Some(1_709_251_199)
    );
    for bad in [
        "",
        "2026-11-23T19:28:35",
        "2026-11-23 19:28:35Z",
        "2026-11-23T19:28:35.000Z",
        "2026-11-23T19:28:35+00:00",
        "+026-11-23T19:28:35Z",
        "2026-13-23T19:28:35Z",
        "2026-02-30T19:28:35Z",
        "2025-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T19:60:00Z",
        "2026-11-23T19:28:60Z",
        "2026-11-23t19:28:35z",
        "２０２６-11-23T19:28:35Z",
        "1795462115",
    ] {
        assert!(
            matches!(parse_timestamp(bad), Err(AuthError::BadTimestampFormat)),
            "{bad}"
        );
    }
}

#[test]
fn bad_timestamp_in_request() -> Result<(), AuthError> {
    let q = rpc_query(&[], b"k")?.replace("2026-11-23T19%3A28%3A35Z", "yesterday");
    assert!(matches!(
        parse(&request("POST", &q, &[], b"")),
        Err(AuthError::BadTimestampFormat)
    ));
    let h: Vec<_> = capture_11_headers()
        .into_iter()
        .map(|(k, v)| {
            if k == "x-acs-date" {
                (k, "2026-11-23T19:28:36.5Z".into())
            } else {
                (k, v)
            }
        })
        .collect();
    assert!(matches!(
        parse(&request("POST", CAPTURE_11_QUERY, &h, b"")),
        Err(AuthError::BadTimestampFormat)
    ));
    Ok(())
}

#[test]
fn no_signature_at_all_is_incomplete() {
    let got = parse(&request("POST", "Action=GetSecretValue", &[], b""));
    assert!(matches!(got, Err(AuthError::Incomplete(_))), "{got:?}");
    let got = parse(&request("GET", "", &[], b""));
    assert!(matches!(got, Err(AuthError::Incomplete(_))), "{got:?}");
}

#[test]
fn debug_redacts_parameter_values() -> Result<(), AuthError> {
    let q = rpc_query(
        &[("SecretData", "hunter2"), ("SecurityToken", "tok-secret")],
        b"k",
    )?;
    let parsed = parse(&request("POST", &q, &[], b""))?;
    let dbg = format!("{parsed:?}");
    assert!(dbg.contains("SecretData"));
    assert!(!dbg.contains("hunter2"));
    assert!(!dbg.contains("tok-secret"));
    Ok(())
}

/// An ACS3 request with a form body: every header in `signed` goes into the signature, the
/// headers in `unsigned` are sent outside it.
fn acs3_form(
    body: &[u8],
    signed: &[(&str, &str)],
    unsigned: &[(&str, &str)],
) -> Result<Vec<(String, String)>, AuthError> {
    let sha = content_sha256_hex(body);
    let mut h = headers(&[
        ("host", "kms.example"),
        ("x-acs-action", "DeleteSecret"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-date", "2026-11-23T19:28:35Z"),
        ("x-acs-signature-nonce", "n-ct"),
        ("x-acs-content-sha256", &sha),
    ]);
    h.extend(headers(signed));
    let query = [("SecretName", "app")];
    let auth = sign_acs3("POST", &query, &h, "ak", b"sk")?;
    h.extend(headers(unsigned));
    h.push(("authorization".into(), auth));
    Ok(h)
}

#[test]
fn acs3_content_type_must_be_signed_when_sent() -> Result<(), AuthError> {
    let body = b"ForceDeleteWithoutRecovery=false&RecoveryWindowInDays=30";
    let query = "SecretName=app";
    let form = ("content-type", "application/x-www-form-urlencoded");

    // As the SDK sends it: signed, and the body's fields are parameters.
    let h = acs3_form(body, &[form], &[])?;
    let parsed = parse(&request("POST", query, &h, body))?;
    parsed.verify(b"sk")?;
    assert_eq!(parsed.param("RecoveryWindowInDays"), Some("30"));

    // Sent but outside the signature: whoever relays the request could change it and so drop
    // (or invent) every body parameter while the signature still verifies.
    for ct in [form.1, "text/plain", "application/json"] {
        let h = acs3_form(body, &[], &[("content-type", ct)])?;
        let got = parse(&request("POST", query, &h, body));
        assert!(
            matches!(got, Err(AuthError::Incomplete(ref why)) if why.contains("content-type")),
            "{ct}: {got:?}"
        );
    }

    // Not sent at all: the body is not parameters, which is what was signed.
    let h = acs3_form(b"", &[], &[])?;
    parse(&request("POST", query, &h, b""))?.verify(b"sk")?;
    Ok(())
}
