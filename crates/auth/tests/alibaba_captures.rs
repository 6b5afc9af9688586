//! The Alibaba schemes against requests captured from Alibaba's unmodified Python SDKs
//! (`fixtures/alibaba-captures.txt`, access key `testid`, secret `testsecret`), with the strings
//! to sign an independent implementation computed for them
//! (`fixtures/alibaba-string-to-sign.txt`).

use std::time::Duration;

use coffer_auth::alibaba::{self, AlibabaRequest, Scheme};
use coffer_auth::nonce::NonceCache;
use coffer_auth::{skew, AuthError, RequestParts};

const CAPTURES: &str = include_str!("fixtures/alibaba-captures.txt");
const STRINGS_TO_SIGN: &str = include_str!("fixtures/alibaba-string-to-sign.txt");
const SECRET: &[u8] = b"testsecret";

/// One captured request, as a server would hand it to the crate.
#[derive(Clone)]
struct Captured {
    number: usize,
    /// `old`, `new` or `v2sig` (which SDK configuration sent it).
    generation: String,
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

    fn parse(&self) -> Result<AlibabaRequest, AuthError> {
        alibaba::parse(&self.parts())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn expected_scheme(&self) -> Scheme {
        if self.generation == "new" {
            Scheme::Acs3
        } else {
            Scheme::RpcV1
        }
    }
}

/// Reads the capture format: `# Request N [gen]` comment, then the raw request between
/// `=====BEGIN REQUEST=====` and `=====END REQUEST=====`; the body is Content-Length bytes.
fn captures() -> Vec<Captured> {
    let mut out = Vec::new();
    let mut rest = CAPTURES;
    let mut number = 0;
    let mut generation = String::new();
    while let Some(pos) = rest.find("=====BEGIN REQUEST=====\n") {
        // The last "# Request N [gen]" line before this block names it.
        for line in rest[..pos].lines() {
            if let Some(r) = line.strip_prefix("# Request ") {
                let (n, g) = r.split_once(' ').expect("request header line");
                number = n.parse().expect("request number");
                generation = g.trim_matches(['[', ']']).to_string();
            }
        }
        let block_start = pos + "=====BEGIN REQUEST=====\n".len();
        let end = rest[block_start..]
            .find("=====END REQUEST=====\n")
            .expect("END marker")
            + block_start;
        let block = &rest[block_start..end];
        let (head, after) = block.split_once("\n\n").expect("blank line after headers");
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let mut rl = request_line.splitn(3, ' ');
        let method = rl.next().expect("method").to_string();
        let target = rl.next().expect("target");
        let (_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .unwrap_or(0);
        let body = after.as_bytes()[..len].to_vec();
        out.push(Captured {
            number,
            generation: generation.clone(),
            method,
            raw_query: raw_query.to_string(),
            headers,
            body,
        });
        rest = &rest[end..];
    }
    out
}

fn expected_string_to_sign(number: usize) -> String {
    STRINGS_TO_SIGN
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, sts) = l.split_once('\t')?;
            (n.parse::<usize>().ok()? == number).then(|| sts.replace("\\n", "\n"))
        })
        .expect("expected string to sign")
}

#[test]
fn fixture_has_all_requests_we_rely_on() {
    let all = captures();
    assert_eq!(all.len(), 27);
    let numbers: Vec<usize> = all.iter().map(|c| c.number).collect();
    assert_eq!(numbers, (1..=27).collect::<Vec<_>>());
    // Spot checks that the parser read what we think it read.
    assert_eq!(all[8].method, "GET");
    assert_eq!(
        all[9].body,
        b"SecretData=caf%C3%A9+a%2Bb%2Ac~d+%2Fx%3Dy%26z"
    );
    assert_eq!(all[22].header("host"), Some("http://127.0.0.1:28471"));
    assert_eq!(all[19].generation, "v2sig");
}

#[test]
fn every_capture_verifies_with_the_right_secret() -> Result<(), AuthError> {
    for c in captures() {
        let req = c.parse()?;
        assert_eq!(req.scheme, c.expected_scheme(), "request {}", c.number);
        assert_eq!(req.access_key_id, "testid", "request {}", c.number);
        assert_eq!(
            req.version.as_deref(),
            Some("2016-01-20"),
            "request {}",
            c.number
        );
        assert!(req.action.is_some(), "request {}", c.number);
        // Gen-1 sends the action twice (signed parameter, unsigned header); they agree here.
        assert_eq!(
            req.action.as_deref(),
            c.header("x-acs-action"),
            "request {}",
            c.number
        );
        assert!(!req.nonce.is_empty());
        assert!(req.param("Signature").is_none());
        assert_eq!(
            req.string_to_sign(),
            expected_string_to_sign(c.number),
            "request {}",
            c.number
        );
        req.verify(SECRET).map_err(|e| {
            eprintln!("request {} failed: {e}", c.number);
            e
        })?;
    }
    Ok(())
}

#[test]
fn parsed_fields_of_representative_captures() -> Result<(), AuthError> {
    let all = captures();
    // 1: RPC v1, everything in the query, percent-encoded UTF-8 and reserved characters.
    let r1 = all[0].parse()?;
    assert_eq!(r1.param("SecretData"), Some("café a+b*c~d /x=y&z"));
    assert_eq!(r1.param("SignatureType"), Some(""));
    assert_eq!(r1.nonce, "38bbe9564cf2c9bbce3828b421ef57ae");
    assert_eq!(r1.timestamp, 1_795_462_115);
    assert_eq!(
        r1.params.first().map(|(k, _)| k.as_str()),
        Some("SecretName")
    );
    // 10: ACS3 with the value in a form body ('+' is space there).
    let r10 = all[9].parse()?;
    assert_eq!(r10.param("SecretData"), Some("café a+b*c~d /x=y&z"));
    assert_eq!(r10.param("Description"), Some("first one"));
    assert_eq!(r10.action.as_deref(), Some("CreateSecret"));
    assert_eq!(r10.nonce, "eeb96c2c8cffa3f7c560c44bec57af18");
    assert_eq!(r10.timestamp, 1_795_462_116);
    assert_eq!(
        r10.params.last().map(|(k, _)| k.as_str()),
        Some("SecretData")
    );
    // 20: RPC v1 (v2sig) with a form body: query and body are signed together.
    let r20 = all[19].parse()?;
    assert_eq!(r20.scheme, Scheme::RpcV1);
    assert_eq!(r20.param("SecretData"), Some("café a+b*c~d /x=y&z"));
    assert_eq!(r20.param("Format"), Some("json"));
    // 23: STS token in a signed header; host carries a scheme.
    let r23 = all[22].parse()?;
    assert_eq!(r23.security_token.as_deref(), Some("sts-token-123"));
    assert_eq!(r23.timestamp, 1_795_462_182);
    // 24: flattened arrays are plain, distinct parameter names.
    let r24 = all[23].parse()?;
    assert_eq!(r24.param("Tag.2.Value"), Some("a b"));
    assert_eq!(r24.param("ResourceId.1"), Some("demo-4"));
    Ok(())
}

#[test]
fn wrong_secret_reports_the_expected_string_to_sign() -> Result<(), AuthError> {
    for c in captures() {
        let req = c.parse()?;
        for wrong in [&b"wrongsecret"[..], b"", b"testsecret&", b"testsecreT"] {
            match req.verify(wrong) {
                Err(AuthError::SignatureMismatch { string_to_sign }) => {
                    assert_eq!(string_to_sign, expected_string_to_sign(c.number));
                    // Generation 1 takes `Message.split(':')[1]` as the string to sign, so it
                    // must not contain a ':' of its own.
                    assert!(!string_to_sign.contains(':'), "request {}", c.number);
                }
                other => panic!("request {}: expected mismatch, got {other:?}", c.number),
            }
        }
    }
    Ok(())
}

/// Changing any single byte of the query must never leave a request that verifies: it either
/// fails to parse (bad escape, missing parameter, duplicate) or fails the signature.
#[test]
fn tampering_any_query_byte_fails() {
    let mut checked = 0;
    for c in captures() {
        for i in 0..c.raw_query.len() {
            let mut bytes = c.raw_query.clone().into_bytes();
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let mut t = c.clone();
            t.raw_query = String::from_utf8(bytes).expect("ascii");
            let verdict = t.parse().and_then(|r| r.verify(SECRET));
            assert!(
                verdict.is_err(),
                "request {} byte {i} tampered still verifies",
                c.number
            );
            checked += 1;
        }
        // Adding a parameter also breaks it.
        let mut t = c.clone();
        t.raw_query.push_str("&X=1");
        assert!(t.parse().and_then(|r| r.verify(SECRET)).is_err());
    }
    assert!(checked > 5000);
}

#[test]
fn tampering_signed_headers_or_body_fails() -> Result<(), AuthError> {
    for c in captures() {
        // Change the value of each signed header in turn (ACS3) / the body (all with one).
        if c.expected_scheme() == Scheme::Acs3 {
            let req = c.parse()?;
            let auth = c.header("authorization").unwrap_or_default().to_string();
            let signed = auth
                .split("SignedHeaders=")
                .nth(1)
                .and_then(|s| s.split(',').next())
                .unwrap_or_default()
                .to_string();
            assert!(req.verify(SECRET).is_ok());
            for name in signed.split(';') {
                let mut t = c.clone();
                for (k, v) in t.headers.iter_mut() {
                    if k == name {
                        v.push('0');
                    }
                }
                let verdict = t.parse().and_then(|r| r.verify(SECRET));
                assert!(verdict.is_err(), "request {} header {name}", c.number);
            }
            // Unsigned headers do not matter.
            let mut t = c.clone();
            for (k, v) in t.headers.iter_mut() {
                if k == "accept-encoding" {
                    v.push_str(", gzip");
                }
            }
            t.parse()?.verify(SECRET)?;
        }
        if !c.body.is_empty() {
            let mut t = c.clone();
            let last = t.body.len() - 1;
            t.body[last] = b'Z';
            let verdict = t.parse().and_then(|r| r.verify(SECRET));
            match c.expected_scheme() {
                Scheme::Acs3 => assert!(
                    matches!(verdict, Err(AuthError::ContentHashMismatch)),
                    "request {}",
                    c.number
                ),
                Scheme::RpcV1 => assert!(
                    matches!(verdict, Err(AuthError::SignatureMismatch { .. })),
                    "request {}",
                    c.number
                ),
            }
        }
        // The method is signed too.
        let mut t = c.clone();
        t.method = if c.method == "GET" { "POST" } else { "GET" }.into();
        assert!(matches!(
            t.parse().and_then(|r| r.verify(SECRET)),
            Err(AuthError::SignatureMismatch { .. })
        ));
    }
    Ok(())
}

#[test]
fn client_helpers_reproduce_captured_signatures() -> Result<(), AuthError> {
    for c in captures() {
        match c.expected_scheme() {
            Scheme::RpcV1 => {
                let req = c.parse()?;
                let sent = coffer_auth::encoding::form_decode(c.raw_query.as_bytes(), "query")?
                    .into_iter()
                    .find(|(k, _)| k == "Signature")
                    .map(|(_, v)| v)
                    .expect("Signature parameter");
                // Sign from the parameter list alone, the way a client would.
                let sig = alibaba::sign_rpc_v1(&c.method, &req.params, SECRET)?;
                assert_eq!(sig, sent, "request {}", c.number);
                assert_eq!(
                    alibaba::rpc_v1_string_to_sign(&c.method, &req.params),
                    expected_string_to_sign(c.number)
                );
            }
            Scheme::Acs3 => {
                let auth = c.header("authorization").expect("authorization");
                let signed: Vec<&str> = auth
                    .split("SignedHeaders=")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .expect("SignedHeaders")
                    .split(';')
                    .collect();
                // The headers the SDK signed, in wire order (the helper sorts them itself).
                let to_sign: Vec<(String, String)> = c
                    .headers
                    .iter()
                    .filter(|(k, _)| signed.contains(&k.as_str()))
                    .cloned()
                    .collect();
                let query = coffer_auth::encoding::form_decode(c.raw_query.as_bytes(), "query")?;
                assert_eq!(
                    alibaba::content_sha256_hex(&c.body),
                    c.header("x-acs-content-sha256").unwrap_or_default()
                );
                assert_eq!(
                    alibaba::acs3_string_to_sign(&c.method, &query, &to_sign)?,
                    expected_string_to_sign(c.number)
                );
                let header = alibaba::sign_acs3(&c.method, &query, &to_sign, "testid", SECRET)?;
                assert_eq!(header, auth, "request {}", c.number);
            }
        }
    }
    Ok(())
}

#[test]
fn client_signed_requests_verify_on_the_server() -> Result<(), AuthError> {
    // RPC v1, the way the load generator builds one.
    let mut params: Vec<(String, String)> = [
        ("Action", "PutSecretValue"),
        ("Version", "2016-01-20"),
        ("Format", "JSON"),
        ("Timestamp", "2026-11-23T19:28:35Z"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "bench-1"),
        ("AccessKeyId", "bench"),
        ("SecretName", "db/password+1"),
        ("SecretData", "s3cr3t ✓ & = + %"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = alibaba::sign_rpc_v1("POST", &params, b"bench-secret")?;
    params.push(("Signature".into(), sig));
    let query = coffer_auth::encoding::encode_query(&params);
    let req = alibaba::parse(&RequestParts {
        method: "POST",
        raw_query: &query,
        headers: &[],
        body: b"",
    })?;
    req.verify(b"bench-secret")?;
    assert_eq!(req.param("SecretData"), Some("s3cr3t ✓ & = + %"));

    // ACS3 with a form body.
    let body = b"SecretData=s3cr3t+%E2%9C%93";
    let query = [("SecretName", "db/password"), ("VersionId", "v 1")];
    let mut headers: Vec<(String, String)> = [
        ("host", "localhost:7080"),
        ("x-acs-action", "PutSecretValue"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-date", "2026-11-23T19:28:36Z"),
        ("x-acs-signature-nonce", "bench-2"),
        ("content-type", "application/x-www-form-urlencoded"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    headers.push((
        "x-acs-content-sha256".into(),
        alibaba::content_sha256_hex(body),
    ));
    let auth = alibaba::sign_acs3("POST", &query, &headers, "bench", b"bench-secret")?;
    headers.push(("authorization".into(), auth));
    let raw_query = coffer_auth::encoding::encode_query(&query);
    let req = alibaba::parse(&RequestParts {
        method: "POST",
        raw_query: &raw_query,
        headers: &headers,
        body,
    })?;
    req.verify(b"bench-secret")?;
    assert_eq!(req.access_key_id, "bench");
    assert_eq!(req.param("SecretData"), Some("s3cr3t ✓"));
    assert_eq!(req.param("VersionId"), Some("v 1"));

    // Without x-acs-content-sha256 the helper refuses.
    let no_sha: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k != "x-acs-content-sha256" && k != "authorization")
        .cloned()
        .collect();
    assert!(matches!(
        alibaba::sign_acs3("POST", &query, &no_sha, "bench", b"k"),
        Err(AuthError::Incomplete(_))
    ));
    Ok(())
}

/// The whole server-side sequence on a captured request: verify, clock window, nonce.
#[test]
fn replaying_a_capture_is_detected() -> Result<(), AuthError> {
    let cache = NonceCache::new(alibaba::NONCE_WINDOW);
    let admit = |c: &Captured, now: i64| -> Result<bool, AuthError> {
        let req = c.parse()?;
        req.verify(SECRET)?;
        if !skew::within_window(req.timestamp, now, alibaba::SKEW_WINDOW_SECS) {
            return Ok(false);
        }
        Ok(cache.check_and_insert(&req.access_key_id, &req.nonce, now))
    };
    let all = captures();
    let now = all[1].parse()?.timestamp + 30;
    for c in &all {
        assert!(admit(c, now)?, "first sight of request {}", c.number);
    }
    for c in &all {
        assert!(!admit(c, now + 60)?, "replay of request {}", c.number);
    }
    // Outside the clock window the timestamp check refuses, whatever the cache says.
    assert!(!admit(&all[1], now + 16 * 60)?);
    assert!(!admit(&all[1], now - 16 * 60)?);
    // Once the window has passed the cache has forgotten (the clock check guards that time).
    let cache2 = NonceCache::new(Duration::from_secs(900));
    assert!(cache2.check_and_insert("testid", "n", now));
    assert!(!cache2.check_and_insert("testid", "n", now + 900));
    assert!(cache2.check_and_insert("testid", "n", now + 900 + 120));
    Ok(())
}

#[test]
fn duplicate_parameters_in_captures_are_rejected() {
    let all = captures();
    // Twice in the query.
    let mut t = all[1].clone();
    t.raw_query.push_str("&SecretName=other");
    assert!(matches!(t.parse(), Err(AuthError::DuplicateParameter(n)) if n == "SecretName"));
    // In the query and in the body (ACS3 and v2sig captures carry SecretData in the body).
    for idx in [9, 19] {
        let mut t = all[idx].clone();
        t.raw_query.push_str("&SecretData=x");
        assert!(
            matches!(t.parse(), Err(AuthError::DuplicateParameter(ref n)) if n == "SecretData"),
            "request {}",
            idx + 1
        );
    }
    // Twice in the body.
    let mut t = all[19].clone();
    t.body.extend_from_slice(b"&SecretData=y");
    assert!(matches!(t.parse(), Err(AuthError::DuplicateParameter(n)) if n == "SecretData"));
}

#[test]
fn malformed_inputs_give_errors() {
    let all = captures();
    // Bad percent escapes and non-UTF-8 in query and body.
    for bad in ["%", "%G0", "a=%E2%9C", "SecretName=%ZZ", "x=%C0%AF"] {
        let mut t = all[1].clone();
        t.raw_query = format!("{}&{bad}", t.raw_query);
        assert!(matches!(t.parse(), Err(AuthError::BadEncoding(_))), "{bad}");
        let mut t = all[9].clone();
        t.body = bad.as_bytes().to_vec();
        assert!(t.parse().is_err(), "{bad}");
    }
    let mut t = all[19].clone();
    t.body = b"SecretData=\xff\xfe".to_vec();
    assert!(matches!(t.parse(), Err(AuthError::BadEncoding(_))));

    // Authorization parts missing, one at a time.
    let c = &all[10];
    let auth = c.header("authorization").unwrap_or_default().to_string();
    let (scheme, rest) = auth.split_once(' ').unwrap_or_default();
    let parts: Vec<&str> = rest.split(',').collect();
    for skip in 0..parts.len() {
        let kept: Vec<&str> = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        let mut t = c.clone();
        for (k, v) in t.headers.iter_mut() {
            if k == "authorization" {
                *v = format!("{scheme} {}", kept.join(","));
            }
        }
        assert!(
            matches!(t.parse(), Err(AuthError::Incomplete(_))),
            "without {}",
            parts[skip]
        );
    }

    // Garbage requests.
    let junk_headers = [
        (
            "authorization".to_string(),
            "\u{0}\u{1}garbage ===,,,;;;".to_string(),
        ),
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    for (query, headers, body) in [
        ("", &[][..], &b""[..]),
        ("&&&===&&", &[][..], b""),
        ("Signature", &[][..], b""),
        ("Signature=%", &[][..], b""),
        ("", &junk_headers[..], b"\xff\x00=&=%"),
        ("=&=", &junk_headers[1..], b"Signature=x&=&&"),
    ] {
        let parts = RequestParts {
            method: "\u{1F980}",
            raw_query: query,
            headers,
            body,
        };
        assert!(alibaba::parse(&parts).is_err(), "{query:?}");
    }
}

/// Deterministic pseudo-random mutation of every capture: whatever comes out, no panic, and
/// anything that still verifies must decode to the same parameters and headers.
#[test]
fn random_mutations_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let all = captures();
    let alphabet = b"%&=+;,: aZ09.~-_/\\\"'\x00\x7f";
    for round in 0..4000 {
        let c = &all[round % all.len()];
        let mut t = c.clone();
        let n = (next() % 4) as usize + 1;
        for _ in 0..n {
            let pick = |r: u64| alphabet[(r % alphabet.len() as u64) as usize];
            match next() % 5 {
                0 if !t.raw_query.is_empty() => {
                    let mut b = t.raw_query.clone().into_bytes();
                    let i = (next() % b.len() as u64) as usize;
                    b[i] = pick(next());
                    t.raw_query = String::from_utf8_lossy(&b).into_owned();
                }
                1 => {
                    let cut = (next() % (t.raw_query.len() as u64 + 1)) as usize;
                    t.raw_query.truncate(cut);
                }
                2 if !t.headers.is_empty() => {
                    let h = (next() % t.headers.len() as u64) as usize;
                    let v = &mut t.headers[h].1;
                    if v.is_empty() || next() % 2 == 0 {
                        v.push(pick(next()) as char);
                    } else {
                        let cut = (next() % v.len() as u64) as usize;
                        let cut = (0..=cut)
                            .rev()
                            .find(|&i| v.is_char_boundary(i))
                            .unwrap_or(0);
                        v.truncate(cut);
                    }
                }
                3 => t.body.push(pick(next())),
                _ => {
                    if !t.body.is_empty() {
                        let i = (next() % t.body.len() as u64) as usize;
                        t.body[i] = pick(next());
                    }
                }
            }
        }
        // Must not panic. A mutation that still verifies can only have touched what the
        // signature does not cover (unsigned headers, equivalent escapes such as %2b for %2B):
        // the request must mean exactly what was signed.
        let Ok(req) = t.parse() else { continue };
        if req.verify(SECRET).is_ok() {
            let orig = c.parse().expect("capture parses");
            let sorted = |r: &AlibabaRequest| {
                let mut p = r.params.clone();
                p.sort();
                p
            };
            assert_eq!(
                sorted(&req),
                sorted(&orig),
                "request {} round {round}",
                c.number
            );
            assert_eq!(req.action, orig.action);
            assert_eq!(req.nonce, orig.nonce);
            assert_eq!(req.timestamp, orig.timestamp);
            assert_eq!(req.access_key_id, orig.access_key_id);
            assert_eq!(req.security_token, orig.security_token);
        }
    }
}

#[test]
fn huge_inputs_are_handled() {
    // Many parameters (all distinct) and a very long value: parses, does not verify.
    let mut q: String = (0..50_000).map(|i| format!("P{i}=v&")).collect();
    q.push_str("Signature=abc&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=a&SignatureNonce=n&Timestamp=2026-11-23T19%3A28%3A35Z&Big=");
    q.push_str(&"%41".repeat(300_000));
    let parts = RequestParts {
        method: "POST",
        raw_query: &q,
        headers: &[],
        body: b"",
    };
    let req = alibaba::parse(&parts).expect("large but valid");
    assert_eq!(req.param("Big").map(str::len), Some(300_000));
    assert!(matches!(
        req.verify(SECRET),
        Err(AuthError::SignatureMismatch { .. })
    ));
    // A huge Authorization header and a huge body.
    let mut c = captures()[9].clone();
    for (k, v) in c.headers.iter_mut() {
        if k == "authorization" {
            v.push_str(&",X=1".repeat(100_000));
        }
    }
    assert!(matches!(c.parse(), Err(AuthError::Incomplete(_))));
    let mut c = captures()[9].clone();
    c.body = vec![b'a'; 4 << 20];
    assert!(matches!(c.parse(), Err(AuthError::ContentHashMismatch)));
}
