//! Replays and unsigned fields, over the wire against the real binary.
//!
//! Tencent's TC3 signature covers neither `X-TC-Action`, `X-TC-Version` nor `X-TC-Region`, and
//! has no nonce: these tests capture a request signed exactly as the SDK signs it (only
//! `content-type;host`) and send it again as an attacker would, from another address
//! (127.0.0.2; the client is 127.0.0.1), with those headers changed. They also check that what
//! the SDK itself does still works: an identical retry, two reads that share a signature, and
//! two consecutive calls of one client that share a signature because their parameters and
//! second are the same. Then the unsigned body (`UNSIGNED-PAYLOAD`), Alibaba ACS3 without a
//! signed `content-type`, and a full replay cache.

mod common;

use coffer_auth::tencent::{self, KMS_VERSION, SSM_VERSION, UNSIGNED_PAYLOAD};
use common::{Server, AK, SK};
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The client's address; the attacker's is [`ATTACKER`]. Linux routes all of 127/8 to the
/// loopback interface, so the server sees two different peers.
const CLIENT: [u8; 4] = [127, 0, 0, 1];
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// Sends one request on a new connection from `source` and returns the status and the body
/// as JSON. Headers go out exactly as given (`host` included); the connection is closed after
/// the answer.
fn send(
    source: [u8; 4],
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    use std::io::{Read, Write};
    use std::net::SocketAddr;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let mut stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            let stream = socket
                .connect(SocketAddr::from(([127, 0, 0, 1], server.port)))
                .await?;
            stream.into_std()
        })
        .expect("connect");
    stream.set_nonblocking(false).expect("blocking");
    let mut head = format!("{method} {path_and_query} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {}\r\n", host(server)));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "the server answers with a length: {head}"
    );
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let json =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON (status {status}): {body}"));
    (status, json)
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

/// A TC3 POST JSON request as the Tencent SDK signs it (`content-type;host` only).
struct Tc3 {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Tc3 {
    fn new(server: &Server, action: &str, version: &str, body: &Value, timestamp: i64) -> Self {
        let body = body.to_string().into_bytes();
        let headers = tencent::tc3_post_json_headers(
            action,
            version,
            Some("ap-guangzhou"),
            &host(server),
            &body,
            AK,
            SK.as_bytes(),
            timestamp,
        );
        Tc3 { headers, body }
    }

    /// The same request with header `name` set to `value` (added when absent): what an
    /// attacker holding the captured request can send without the secret key.
    fn with_header(&self, name: &str, value: &str) -> Self {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .collect();
        headers.push((name.to_string(), value.to_string()));
        Tc3 {
            headers,
            body: self.body.clone(),
        }
    }

    /// Sends the request from `source` and returns Tencent's `Response` object.
    fn send(&self, source: [u8; 4], server: &Server) -> Value {
        let (status, body) = send(source, server, "POST", "/", &self.headers, &self.body);
        assert_eq!(
            status, 200,
            "Tencent answers every request with 200: {body}"
        );
        body["Response"].clone()
    }
}

fn error_code(response: &Value) -> Option<&str> {
    response["Error"]["Code"].as_str()
}

/// A fresh TC3 call (its own signature) that must succeed.
fn tc3_ok(server: &Server, action: &str, body: Value) -> Value {
    let r = Tc3::new(server, action, SSM_VERSION, &body, now()).send(CLIENT, server);
    assert_eq!(error_code(&r), None, "{action}: {r}");
    r
}

/// The secret's status and the value of its version `v1`, read with fresh signatures.
fn state_of(server: &Server, name: &str) -> (String, String) {
    let d = tc3_ok(server, "DescribeSecret", json!({"SecretName": name}));
    let g = tc3_ok(
        server,
        "GetSecretValue",
        json!({"SecretName": name, "VersionId": "v1"}),
    );
    (
        d["Status"].as_str().unwrap_or_default().to_string(),
        g["SecretString"].as_str().unwrap_or_default().to_string(),
    )
}

fn assert_replay_refused(r: &Value) {
    assert_eq!(error_code(r), Some("AuthFailure.SignatureFailure"), "{r}");
    assert!(
        r["Error"]["Message"]
            .as_str()
            .is_some_and(|m| m.contains("already used")),
        "{r}"
    );
}

#[test]
fn a_tc3_signature_cannot_be_replayed_as_another_action_version_or_region() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    tc3_ok(
        &server,
        "CreateSecret",
        json!({"SecretName": "target", "VersionId": "v1", "SecretString": "precious"}),
    );
    let before = state_of(&server, "target");
    assert_eq!(before, ("Enabled".to_string(), "precious".to_string()));

    // The client reads the secret; the attacker sees the requests go by.
    let ts = now();
    let describe = Tc3::new(
        &server,
        "DescribeSecret",
        SSM_VERSION,
        &json!({"SecretName": "target"}),
        ts,
    );
    let r = describe.send(CLIENT, &server);
    assert_eq!(r["SecretName"], "target", "{r}");
    let read = Tc3::new(
        &server,
        "GetSecretValue",
        SSM_VERSION,
        &json!({"SecretName": "target", "VersionId": "v1"}),
        ts,
    );
    let r = read.send(CLIENT, &server);
    assert_eq!(r["SecretString"], "precious", "{r}");

    // The attacker resends them as something else. Each is refused before it does anything.
    let attacks = [
        describe.with_header("x-tc-action", "DisableSecret"),
        // Without RecoveryWindowInDays, DeleteSecret deletes at once.
        describe.with_header("x-tc-action", "DeleteSecret"),
        read.with_header("x-tc-action", "DeleteSecretVersion"),
        describe.with_header("x-tc-version", KMS_VERSION),
        describe
            .with_header("x-tc-action", "DeleteSecret")
            .with_header("x-tc-region", "na-ashburn"),
    ];
    for attack in &attacks {
        assert_replay_refused(&attack.send(ATTACKER, &server));
    }
    // Another version is refused from the client's own address too: the SDK signs each API
    // for its own service, so its calls never share a signature across versions.
    assert_replay_refused(
        &describe
            .with_header("x-tc-version", KMS_VERSION)
            .send(CLIENT, &server),
    );
    assert_eq!(
        state_of(&server, "target"),
        before,
        "the secret is unchanged"
    );

    // An identical resend is a retry of what was signed and passes, from anywhere.
    let r = describe.send(ATTACKER, &server);
    assert_eq!((error_code(&r), &r["SecretName"]), (None, &json!("target")));
    let r = read.send(ATTACKER, &server);
    assert_eq!(r["SecretString"], "precious", "{r}");
    // And a refused attempt did not become what the signature means.
    assert_replay_refused(
        &describe
            .with_header("x-tc-action", "DeleteSecret")
            .send(ATTACKER, &server),
    );
    assert_eq!(
        state_of(&server, "target"),
        before,
        "the secret is unchanged"
    );
}

#[test]
fn a_tc3_write_cannot_be_pointed_at_another_region() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // ap-shanghai is a coffer region of its own; every other region id is the default one.
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_REGIONS", "shanghai=ap-shanghai"),
        ],
    );
    let create = json!({"SecretName": "target", "VersionId": "v1", "SecretString": "x",
                        "Description": "as created"});
    for region in ["ap-guangzhou", "ap-shanghai"] {
        let r = Tc3::new(&server, "CreateSecret", SSM_VERSION, &create, now())
            .with_header("x-tc-region", region)
            .send(CLIENT, &server);
        assert_eq!(error_code(&r), None, "{region}: {r}");
    }
    let describe_in = |region: &str| {
        Tc3::new(
            &server,
            "DescribeSecret",
            SSM_VERSION,
            &json!({"SecretName": "target"}),
            now(),
        )
        .with_header("x-tc-region", region)
        .send(CLIENT, &server)
    };

    // (The two creates above shared a signature when they fell in one second: the client's
    // own address may do that at once.) The client changes the description in Guangzhou; the
    // attacker points the same request at Shanghai, and as a deletion there.
    let update = Tc3::new(
        &server,
        "UpdateDescription",
        SSM_VERSION,
        &json!({"SecretName": "target", "Description": "changed"}),
        now(),
    );
    let r = update.send(CLIENT, &server);
    assert_eq!(error_code(&r), None, "{r}");
    let elsewhere = update.with_header("x-tc-region", "ap-shanghai");
    assert_replay_refused(&elsewhere.send(ATTACKER, &server));
    assert_replay_refused(
        &elsewhere
            .with_header("x-tc-action", "DeleteSecret")
            .send(ATTACKER, &server),
    );
    assert_eq!(describe_in("ap-guangzhou")["Description"], "changed");
    let r = describe_in("ap-shanghai");
    assert_eq!(
        (&r["Description"], &r["Status"]),
        (&json!("as created"), &json!("Enabled"))
    );
}

#[test]
fn one_clients_consecutive_calls_may_share_a_signature_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    for name in ["gone", "later"] {
        tc3_ok(
            &server,
            "CreateSecret",
            json!({"SecretName": name, "VersionId": "v1", "SecretString": "x"}),
        );
    }
    // Tencent's deletion sequence, as the SDK (or two tccli runs) sends it within one second:
    // the parameters are the same, so is the signature; only X-TC-Action differs.
    let ts = now();
    let body = json!({"SecretName": "gone"});
    let disable = Tc3::new(&server, "DisableSecret", SSM_VERSION, &body, ts);
    let delete = Tc3::new(&server, "DeleteSecret", SSM_VERSION, &body, ts);
    let describe = Tc3::new(&server, "DescribeSecret", SSM_VERSION, &body, ts);
    assert_eq!(
        disable.headers.last(),
        delete.headers.last(),
        "one signature for both"
    );
    let r = disable.send(CLIENT, &server);
    assert_eq!(error_code(&r), None, "{r}");
    // From another address the same signature as another action is a replay...
    assert_replay_refused(&delete.send(ATTACKER, &server));
    assert_replay_refused(&describe.send(ATTACKER, &server));
    // ...from the client's own (a new connection, as a second tccli run makes) it is the
    // client's next call.
    let r = delete.send(CLIENT, &server);
    assert_eq!(error_code(&r), None, "{r}");
    let r = describe.send(CLIENT, &server);
    assert_eq!(error_code(&r), Some("ResourceNotFound"), "{r}");

    // Only at once: seconds later, even the client's own address cannot change the action.
    let body = json!({"SecretName": "later"});
    let disable = Tc3::new(&server, "DisableSecret", SSM_VERSION, &body, now());
    let r = disable.send(CLIENT, &server);
    assert_eq!(error_code(&r), None, "{r}");
    std::thread::sleep(tencent::SAME_CLIENT_GRACE + std::time::Duration::from_secs(2));
    assert_replay_refused(
        &disable
            .with_header("x-tc-action", "DeleteSecret")
            .send(CLIENT, &server),
    );
    let r = tc3_ok(&server, "DescribeSecret", json!({"SecretName": "later"}));
    assert_eq!(r["Status"], "Disabled", "{r}");
}

#[test]
fn reads_may_share_a_signature_across_clients_but_never_become_writes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    tc3_ok(
        &server,
        "CreateSecret",
        json!({"SecretName": "shared", "VersionId": "v1", "SecretString": "x"}),
    );
    // Two SDK clients (here on two addresses, in two regions) asking for parameterless reads in
    // the same second send one signature.
    let ts = now();
    let status = Tc3::new(&server, "GetServiceStatus", SSM_VERSION, &json!({}), ts);
    let regions = Tc3::new(&server, "GetRegions", SSM_VERSION, &json!({}), ts)
        .with_header("x-tc-region", "ap-shanghai");
    let r = status.send(CLIENT, &server);
    assert_eq!(r["ServiceEnabled"], true, "{r}");
    let r = regions.send(ATTACKER, &server);
    assert!(r["Regions"].is_array(), "{r}");

    // A read may be followed by another read from anywhere; a write is refused, and so is a
    // read of a value.
    let body = json!({"SecretName": "shared"});
    let describe = Tc3::new(&server, "DescribeSecret", SSM_VERSION, &body, ts);
    let r = describe.send(CLIENT, &server);
    assert_eq!(r["Status"], "Enabled", "{r}");
    let r = describe
        .with_header("x-tc-action", "ListSecretVersionIds")
        .send(ATTACKER, &server);
    assert_eq!(error_code(&r), None, "{r}");
    for action in [
        "DisableSecret",
        "DeleteSecret",
        "RestoreSecret",
        "GetSecretValue",
    ] {
        assert_replay_refused(
            &describe
                .with_header("x-tc-action", action)
                .send(ATTACKER, &server),
        );
    }
    assert_eq!(state_of(&server, "shared").0, "Enabled");
}

#[test]
fn an_unsigned_payload_with_a_body_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    let h = host(&server);
    let unsigned = |action: &str, body: &[u8]| -> Vec<(String, String)> {
        let ts = now();
        let signed = [
            ("content-type", "application/json"),
            ("host", h.as_str()),
            ("x-tc-content-sha256", UNSIGNED_PAYLOAD),
        ];
        let authorization =
            tencent::sign_tc3("POST", "", &signed, body, AK, SK.as_bytes(), ts, "ssm");
        let mut headers: Vec<(String, String)> = signed
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.extend([
            ("x-tc-action".to_string(), action.to_string()),
            ("x-tc-version".to_string(), SSM_VERSION.to_string()),
            ("x-tc-timestamp".to_string(), ts.to_string()),
            ("x-tc-region".to_string(), "ap-guangzhou".to_string()),
            ("authorization".to_string(), authorization),
        ]);
        headers
    };

    // The signature covers no body, so any body would do: refused.
    let body = json!({"SecretName": "unsigned", "VersionId": "v1", "SecretString": "x"})
        .to_string()
        .into_bytes();
    let headers = unsigned("CreateSecret", &body);
    let (_, r) = send(CLIENT, &server, "POST", "/", &headers, &body);
    let r = &r["Response"];
    assert_eq!(error_code(r), Some("AuthFailure.SignatureFailure"), "{r}");
    assert!(
        r["Error"]["Message"]
            .as_str()
            .is_some_and(|m| m.contains("UNSIGNED-PAYLOAD")),
        "{r}"
    );
    let (_, r) = send(CLIENT, &server, "POST", "/", &headers, b"{}");
    assert_eq!(
        error_code(&r["Response"]),
        Some("AuthFailure.SignatureFailure")
    );
    let r = Tc3::new(
        &server,
        "DescribeSecret",
        SSM_VERSION,
        &json!({"SecretName": "unsigned"}),
        now(),
    )
    .send(CLIENT, &server);
    assert_eq!(
        error_code(&r),
        Some("ResourceNotFound"),
        "nothing was created"
    );

    // Without a body there is nothing unsigned: accepted.
    let headers = unsigned("ListSecrets", b"");
    let (_, r) = send(CLIENT, &server, "POST", "/", &headers, b"");
    assert_eq!(error_code(&r["Response"]), None, "{r}");
}

/// An Alibaba ACS3 request (generation-2 RPC style): `query` in the URL, `form` as the body,
/// every header in `signed` in the signature, `unsigned` sent outside it.
fn acs3(
    server: &Server,
    action: &str,
    query: &[(&str, &str)],
    form: &[(&str, &str)],
    signed: &[(&str, &str)],
    unsigned: &[(&str, &str)],
) -> (u16, Value) {
    let body = coffer_auth::encoding::encode_query(form).into_bytes();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let (host, date) = (host(server), common::format_timestamp(now()));
    let sha = coffer_auth::alibaba::content_sha256_hex(&body);
    let mut headers: Vec<(String, String)> = [
        ("host", host.as_str()),
        ("x-acs-action", action),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-date", &date),
        ("x-acs-signature-nonce", &nonce),
        ("x-acs-content-sha256", &sha),
    ]
    .iter()
    .chain(signed)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let authorization =
        coffer_auth::alibaba::sign_acs3("POST", query, &headers, AK, SK.as_bytes()).expect("sign");
    headers.extend(unsigned.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    headers.push(("authorization".to_string(), authorization));
    let path = format!("/?{}", coffer_auth::encoding::encode_query(query));
    send(CLIENT, server, "POST", &path, &headers, &body)
}

#[test]
fn an_acs3_form_body_needs_a_signed_content_type() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client();
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "ali"),
            ("VersionId", "v1"),
            ("SecretData", "one"),
        ],
    );
    let versions = |c: &common::Client| {
        let b = c.ok("ListSecretVersionIds", &[("SecretName", "ali")]);
        b["VersionIds"]["VersionId"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(versions(&c), 1);

    let query = [("SecretName", "ali"), ("VersionId", "v2")];
    let form = [("SecretData", "two")];
    let form_type = ("content-type", "application/x-www-form-urlencoded");

    // Signed as the SDK signs it: the body's fields are parameters.
    let (status, body) = acs3(&server, "PutSecretValue", &query, &form, &[form_type], &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(versions(&c), 2);

    // The same request with the content type outside the signature: a relay could change it
    // and so drop (or change the meaning of) every body field while the signature verifies.
    // Refused whatever the content type says, and nothing is written.
    let query = [("SecretName", "ali"), ("VersionId", "v3")];
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let (status, body) = acs3(
            &server,
            "PutSecretValue",
            &query,
            &form,
            &[],
            &[("content-type", content_type)],
        );
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("IncompleteSignature")),
            "{content_type}: {body}"
        );
        assert!(
            body["Message"]
                .as_str()
                .is_some_and(|m| m.contains("content-type")),
            "{body}"
        );
    }
    assert_eq!(versions(&c), 2, "nothing was written");
}

#[test]
fn a_full_replay_cache_refuses_new_requests_and_forgets_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_REPLAY_CACHE_ENTRIES", "3"),
        ],
    );

    // Alibaba: three nonces fill the cache.
    let c = server.client();
    let ts = common::timestamp_now();
    let nonces = ["n-1", "n-2", "n-3"];
    for n in nonces {
        let (status, body) = c.call_with("GetRandomPassword", &[], &ts, n);
        assert_eq!(status, 200, "{body}");
    }
    // A fourth is a throttle (the request is authentic), not a replay.
    let (status, body) = c.call_with("GetRandomPassword", &[], &ts, "n-4");
    assert_eq!(
        (status, body["Code"].as_str()),
        (429, Some("Rejected.Throttling")),
        "{body}"
    );
    // Nothing was forgotten to make room: the first nonce is still a replay.
    let (status, body) = c.call_with("GetRandomPassword", &[], &ts, "n-1");
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "{body}"
    );

    // Tencent: three TC3 signatures fill its cache; a fourth is RequestLimitExceeded, and an
    // identical retry of a remembered one still passes (as a replay of it as a write still
    // fails).
    let ts = now();
    let calls: Vec<Tc3> = (1..=4)
        .map(|limit| {
            Tc3::new(
                &server,
                "ListSecrets",
                SSM_VERSION,
                &json!({"Limit": limit}),
                ts,
            )
        })
        .collect();
    for call in &calls[..3] {
        let r = call.send(CLIENT, &server);
        assert_eq!(error_code(&r), None, "{r}");
    }
    let r = calls[3].send(CLIENT, &server);
    assert_eq!(error_code(&r), Some("RequestLimitExceeded"), "{r}");
    let r = calls[0].send(ATTACKER, &server);
    assert_eq!(error_code(&r), None, "{r}");
    assert_replay_refused(
        &calls[0]
            .with_header("x-tc-action", "DeleteSecret")
            .send(ATTACKER, &server),
    );
}

/// Huawei's and SigV4's canonical queries sort the pairs, so the order of a repeated name is
/// not signed: whichever copy a route read would be the relay's choice. Both APIs refuse a
/// repeated name (none of their routes takes a list in the query).
#[test]
fn a_repeated_query_name_is_refused_where_its_order_is_unsigned() {
    const PROJECT: &str = "0123456789abcdef0123456789abcdef";
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
        ],
    );
    let huawei = |query: &str| {
        let path = format!("/v1/{PROJECT}/secrets");
        let headers = coffer_auth::huawei::request_headers(
            "GET",
            &host(&server),
            &path,
            query,
            b"",
            Some(PROJECT),
            AK,
            SK.as_bytes(),
            now(),
        );
        send(
            CLIENT,
            &server,
            "GET",
            &format!("{path}?{query}"),
            &headers,
            b"",
        )
    };
    let (status, body) = huawei("limit=1");
    assert_eq!(status, 200, "{body}");
    for query in ["limit=1&limit=50", "limit=50&limit=1"] {
        let (status, body) = huawei(query);
        assert_eq!(
            (status, body["error_code"].as_str()),
            (400, Some("CSMS.0002")),
            "{body}"
        );
        assert!(
            body["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains("limit")),
            "{body}"
        );
    }

    let admin = |query: &str| {
        let path = "/coffer/v1/db-instances";
        let mut headers = vec![("host".to_string(), host(&server))];
        coffer_auth::sigv4::sign(
            "GET",
            path,
            query,
            &mut headers,
            b"",
            AK,
            SK.as_bytes(),
            "local",
            "coffer",
            now(),
        )
        .expect("sign");
        send(
            CLIENT,
            &server,
            "GET",
            &format!("{path}?{query}"),
            &headers,
            b"",
        )
    };
    let (status, body) = admin("Region=default");
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin("Region=default&Region=other");
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains("Region")),
        "{body}"
    );
}

// ------------------------------------------------------------------ across restarts

/// A Tencent legacy (v1) request as the SDK's form signature sends it: every field in a form
/// body, signed with HmacSHA1 over `POST<host>/?<fields>`.
fn tc_v1(server: &Server, action: &str, fields: &[(&str, &str)], ts: i64, nonce: &str) -> Value {
    let ts = ts.to_string();
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.extend([
        ("Action", action),
        ("Version", SSM_VERSION),
        ("Region", "ap-guangzhou"),
        ("Timestamp", ts.as_str()),
        ("Nonce", nonce),
        ("SecretId", AK),
    ]);
    let signature = tencent::sign_v1(
        "POST",
        &host(server),
        &all,
        SK.as_bytes(),
        tencent::V1Algorithm::HmacSha1,
    );
    all.push(("Signature", &signature));
    let body = coffer_auth::encoding::encode_query(&all).into_bytes();
    let headers = vec![(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    let (status, body) = send(CLIENT, server, "POST", "/", &headers, &body);
    assert_eq!(status, 200, "{body}");
    body["Response"].clone()
}

/// Captured requests, each sent once before the restart that the test then replays.
struct Captured {
    /// Alibaba RPC v1 DeleteSecret of "ali": its timestamp and nonce (the same two make the
    /// same signed request).
    ali_delete: (String, String),
    /// Tencent TC3 DisableSecret of "tc".
    tc3_disable: Tc3,
    /// Tencent v1 DisableSecret of "tc": its timestamp and nonce.
    v1_disable: (i64, String),
}

/// Sends each request once (as its client did), puts the secrets back with fresh requests,
/// and returns the requests to replay.
fn capture(server: &Server) -> Captured {
    let c = server.client();
    let ali_delete = (
        common::timestamp_now(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    let (status, body) = c.call_with(
        "DeleteSecret",
        &[("SecretName", "ali")],
        &ali_delete.0,
        &ali_delete.1,
    );
    assert_eq!(status, 200, "{body}");
    c.ok("RestoreSecret", &[("SecretName", "ali")]);
    let tc3_disable = Tc3::new(
        server,
        "DisableSecret",
        SSM_VERSION,
        &json!({"SecretName": "tc"}),
        now(),
    );
    assert_eq!(error_code(&tc3_disable.send(CLIENT, server)), None);
    tc3_ok(server, "EnableSecret", json!({"SecretName": "tc"}));
    let v1_disable = (now(), uuid::Uuid::new_v4().simple().to_string());
    let r = tc_v1(
        server,
        "DisableSecret",
        &[("SecretName", "tc")],
        v1_disable.0,
        &v1_disable.1,
    );
    assert_eq!(error_code(&r), None, "{r}");
    tc3_ok(server, "EnableSecret", json!({"SecretName": "tc"}));
    Captured {
        ali_delete,
        tc3_disable,
        v1_disable,
    }
}

/// Neither secret was deleted or disabled by a replay.
fn assert_untouched(server: &Server) {
    let (status, body) = server
        .client()
        .call("GetSecretValue", &[("SecretName", "ali")]);
    assert_eq!(status, 200, "ali is not pending deletion: {body}");
    let d = tc3_ok(server, "DescribeSecret", json!({"SecretName": "tc"}));
    assert_eq!(d["Status"], "Enabled", "{d}");
}

/// The replay-state file: private, and nothing of any request in it.
fn assert_private_and_opaque(data_dir: &std::path::Path, captured: &Captured) {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join("replay-state");
    let meta = std::fs::metadata(&path).expect("a clean stop writes replay-state");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&path).expect("read");
    let signature = captured
        .tc3_disable
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.rsplit("Signature=").next())
        .expect("a TC3 signature")
        .to_string();
    for needle in [
        captured.ali_delete.1.as_str(),
        captured.v1_disable.1.as_str(),
        signature.as_str(),
        AK,
        SK,
        "DeleteSecret",
        "DisableSecret",
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "replay-state holds {needle:?}"
        );
    }
    let raw_signature = hex::decode(&signature).expect("hex");
    assert!(!bytes
        .windows(raw_signature.len())
        .any(|w| w == raw_signature));
}

/// A captured Alibaba DeleteSecret and Tencent v1 and TC3 DisableSecret, replayed after a
/// restart: after a clean stop (SIGTERM) the records were handed over, so each is refused as
/// it was before (a TC3 signature still passes again for exactly what it was first used for,
/// as within one run); after a SIGKILL nothing was handed over, so every request signed
/// before the start is refused with the cloud's stale-timestamp error, while requests signed
/// after it work from the first moment the server is ready.
#[test]
fn replays_are_refused_across_a_clean_restart_and_a_kill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let port = server.port;
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "ali"),
            ("VersionId", "v1"),
            ("SecretData", "one"),
        ],
    );
    tc3_ok(
        &server,
        "CreateSecret",
        json!({"SecretName": "tc", "VersionId": "v1", "SecretString": "x"}),
    );
    let first = capture(&server);

    // A clean stop hands the records over.
    assert!(server.terminate(), "a clean stop");
    assert_private_and_opaque(&data, &first);
    let server = Server::restart_on(&data, port);
    assert!(
        !data.join("replay-state").exists(),
        "the records are taken once: a later crash must not find them"
    );
    assert!(server
        .log_text()
        .contains("replay records of the last clean stop restored"));
    let c = server.client();
    let (ts, nonce) = &first.ali_delete;
    let (status, body) = c.call_with("DeleteSecret", &[("SecretName", "ali")], ts, nonce);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "{body}"
    );
    let r = tc_v1(
        &server,
        "DisableSecret",
        &[("SecretName", "tc")],
        first.v1_disable.0,
        &first.v1_disable.1,
    );
    assert_eq!(error_code(&r), Some("AuthFailure.SignatureFailure"), "{r}");
    assert_replay_refused(
        &first
            .tc3_disable
            .with_header("x-tc-action", "DeleteSecret")
            .send(ATTACKER, &server),
    );
    assert_untouched(&server);
    // As within one run, a TC3 signature passes again for what it was first used for.
    let r = first.tc3_disable.send(ATTACKER, &server);
    assert_eq!(error_code(&r), None, "{r}");
    tc3_ok(&server, "EnableSecret", json!({"SecretName": "tc"}));

    // A kill hands nothing over.
    let second = capture(&server);
    server.kill();
    assert!(!data.join("replay-state").exists());
    let server = Server::restart_on(&data, port);
    // Fresh requests pass from the first moment the server is ready (it waits for the second
    // its records begin before it listens).
    let (status, body) = server.client().call("GetRandomPassword", &[]);
    assert_eq!(status, 200, "{body}");
    tc3_ok(&server, "ListSecrets", json!({}));
    assert!(server
        .log_text()
        .contains("replay records of the previous run are lost"));
    let c = server.client();
    for (ts, nonce) in [&first.ali_delete, &second.ali_delete] {
        let (status, body) = c.call_with("DeleteSecret", &[("SecretName", "ali")], ts, nonce);
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("InvalidTimeStamp.Expired")),
            "{body}"
        );
        assert!(
            body["Message"]
                .as_str()
                .is_some_and(|m| m.contains("sign the request again")),
            "{body}"
        );
    }
    let r = tc_v1(
        &server,
        "DisableSecret",
        &[("SecretName", "tc")],
        second.v1_disable.0,
        &second.v1_disable.1,
    );
    assert_eq!(error_code(&r), Some("AuthFailure.SignatureExpire"), "{r}");
    for replay in [
        second
            .tc3_disable
            .with_header("x-tc-action", "DisableSecret"),
        second
            .tc3_disable
            .with_header("x-tc-action", "DeleteSecret"),
    ] {
        let r = replay.send(ATTACKER, &server);
        assert_eq!(error_code(&r), Some("AuthFailure.SignatureExpire"), "{r}");
        assert!(
            r["Error"]["Message"]
                .as_str()
                .is_some_and(|m| m.contains("Sign the request again")),
            "{r}"
        );
    }
    assert_untouched(&server);
    // The client signs again: accepted.
    let r = Tc3::new(
        &server,
        "DisableSecret",
        SSM_VERSION,
        &json!({"SecretName": "tc"}),
        now(),
    )
    .send(CLIENT, &server);
    assert_eq!(error_code(&r), None, "{r}");
    assert!(server.terminate());
}

/// A replay-state file that was changed is refused as a whole: the start treats the stop as
/// unclean (and says why), so an edit can only make the server stricter.
#[test]
fn an_edited_replay_state_file_counts_as_lost_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let port = server.port;
    let c = server.client();
    let (ts, nonce) = (
        common::timestamp_now(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    let (status, body) = c.call_with("GetRandomPassword", &[], &ts, &nonce);
    assert_eq!(status, 200, "{body}");
    assert!(server.terminate());
    let path = data.join("replay-state");
    let mut bytes = std::fs::read(&path).expect("replay-state");
    let last = bytes.len() - 40;
    bytes[last] ^= 0x20;
    std::fs::write(&path, &bytes).expect("write");

    let server = Server::restart_on(&data, port);
    assert!(
        server.log_text().contains("its MAC does not hold"),
        "{}",
        server.log_text()
    );
    assert!(!path.exists(), "a refused file is removed");
    let (status, body) = server
        .client()
        .call_with("GetRandomPassword", &[], &ts, &nonce);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired")),
        "{body}"
    );
}
