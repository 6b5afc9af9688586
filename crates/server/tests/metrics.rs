//! `/metrics` after a known sequence of signed requests: the request counters by dialect,
//! operation and outcome are exactly what was sent, and the store, audit and inventory
//! metrics are there. Also `--metrics-listen`, which serves the operator paths on an
//! address of their own.

mod common;

use common::{Server, AK, SK};
use serde_json::{json, Value};

/// One admin API request signed with SigV4 by `(id, secret)`.
fn admin(server: &Server, key: (&str, &str), method: &str, path: &str, body: Value) -> Value {
    let body = body.to_string().into_bytes();
    let mut headers = vec![
        ("host".to_string(), format!("127.0.0.1:{}", server.port)),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    coffer_auth::sigv4::sign(
        method,
        path,
        "",
        &mut headers,
        &body,
        key.0,
        key.1.as_bytes(),
        "coffer",
        "coffer",
        now,
    )
    .expect("sign");
    let (status, json) = common::send(server, method, path, &headers, &body);
    assert_eq!(status, 200, "{method} {path}: {json}");
    json
}

fn scrape(base: &str) -> String {
    let r = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap_or_else(|e| panic!("scraping {base}/metrics: {e}"));
    assert_eq!(r.status(), 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        r.header("content-type")
    );
    r.into_string().expect("metrics text")
}

/// The value of the sample named exactly `series` (name and labels as the text has them).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[test]
fn a_scrape_counts_what_was_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let client = server.client();

    client.ok(
        "CreateSecret",
        &[
            ("SecretName", "metrics-a"),
            ("SecretData", "value-a"),
            ("VersionId", "v1"),
        ],
    );
    for _ in 0..2 {
        client.ok("GetSecretValue", &[("SecretName", "metrics-a")]);
    }
    let (status, _) = client.call("GetSecretValue", &[("SecretName", "no-such-secret")]);
    assert_eq!(status, 404);
    let mut wrong = server.client();
    wrong.sk = format!("{SK}-wrong");
    let (status, _) = wrong.call("GetSecretValue", &[("SecretName", "metrics-a")]);
    assert_eq!(status, 400, "a wrong signature");
    // A key with no policy, in another account: authenticated, then denied.
    let account = admin(
        &server,
        (AK, SK),
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "metrics"}),
    );
    let account = account["AccountId"].as_str().expect("account id");
    let key = admin(
        &server,
        (AK, SK),
        "POST",
        &format!("/coffer/v1/accounts/{account}/access-keys"),
        json!({"Admin": false}),
    );
    let mut plain = server.client();
    plain.ak = key["AccessKeyId"].as_str().expect("id").into();
    plain.sk = key["AccessKeySecret"].as_str().expect("secret").into();
    let (status, _) = plain.call("GetSecretValue", &[("SecretName", "metrics-a")]);
    assert_eq!(status, 403);
    // Paths no API owns: counted as dialect "unknown", never by their path.
    let _ = ureq::get(&format!("{}/no/such/path/abc123", server.base())).call();

    let text = scrape(&server.base());
    let requests = |labels: &str| sample(&text, &format!("coffer_requests_total{{{labels}}}"));
    assert_eq!(
        requests(r#"dialect="alibaba",operation="CreateSecret",outcome="ok""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="alibaba",operation="GetSecretValue",outcome="ok""#),
        Some(2.0)
    );
    assert_eq!(
        requests(r#"dialect="alibaba",operation="GetSecretValue",outcome="failed""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="alibaba",operation="unknown",outcome="unauthenticated""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="unknown",operation="unknown",outcome="malformed""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="alibaba",operation="GetSecretValue",outcome="denied""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="native",operation="CreateAccount",outcome="ok""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"dialect="native",operation="CreateAccessKey",outcome="ok""#),
        Some(1.0)
    );
    // Nothing else was counted: the series above are every request sent.
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("coffer_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 9.0, "{text}");
    assert_eq!(
        value(
            &text,
            r#"coffer_authentication_failures_total{dialect="alibaba"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"coffer_request_duration_seconds_count{dialect="alibaba",operation="GetSecretValue"}"#
        ),
        4.0
    );
    assert_eq!(
        value(
            &text,
            r#"coffer_authorization_failures_total{dialect="alibaba"}"#
        ),
        1.0
    );
    // No label carries what a request named.
    assert!(!text.contains("metrics-a") && !text.contains("no-such-secret"));
    assert!(!text.contains("abc123") && !text.contains(AK) && !text.contains(account));

    // The store and the audit log.
    assert!(
        value(
            &text,
            r#"coffer_store_commit_batch_size_count{backend="sqlite"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"coffer_store_commit_duration_seconds_count{backend="sqlite"}"#
        ) >= 1.0
    );
    assert!(value(&text, "coffer_audit_sync_duration_seconds_count") >= 1.0);
    assert_eq!(value(&text, "coffer_audit_queue_depth"), 0.0);
    assert!(
        value(&text, "coffer_read_cache_hits_total") >= 1.0,
        "{text}"
    );
    assert!(value(&text, "coffer_read_cache_misses_total") >= 1.0);
    // What the store holds: the one secret, and the account's default key made for it.
    assert_eq!(value(&text, r#"coffer_secrets{state="enabled"}"#), 1.0);
    assert!(value(&text, r#"coffer_keys{state="enabled"}"#) >= 1.0);
    assert_eq!(value(&text, "coffer_rotation_tasks_waiting"), 0.0);
    assert!(text.trim_end().ends_with("# EOF"));

    // Scrapes are not requests of any API and are not audited.
    let again = scrape(&server.base());
    assert_eq!(
        sample(
            &again,
            r#"coffer_requests_total{dialect="alibaba",operation="GetSecretValue",outcome="ok"}"#
        ),
        Some(2.0)
    );
}

#[test]
fn a_throttled_request_is_counted_by_its_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::spawn_args(
        &dir.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ],
        &["--limit", "alibaba.rate.*=1/min"],
        &[],
    );
    server.wait_ready();
    let client = server.client();
    let (first, _) = client.call("ListSecrets", &[]);
    assert_eq!(first, 200);
    let (second, _) = client.call("ListSecrets", &[]);
    assert_ne!(second, 200);
    let text = scrape(&server.base());
    let throttled: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("coffer_throttled_requests_total{dialect=\"alibaba\""))
        .collect();
    assert_eq!(throttled.len(), 1, "{text}");
    assert!(throttled[0].ends_with(" 1"), "{throttled:?}");
    assert_eq!(
        value(
            &text,
            r#"coffer_requests_total{dialect="alibaba",operation="ListSecrets",outcome="refused"}"#
        ),
        1.0
    );
}

#[test]
fn metrics_listen_serves_the_operator_paths_on_their_own_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::spawn_args(
        &dir.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ],
        &["--metrics-listen", &addr],
        &[],
    );
    server.wait_ready();
    server.client().ok("ListSecrets", &[]);
    let base = format!("http://{addr}");
    let text = scrape(&base);
    assert_eq!(
        value(
            &text,
            r#"coffer_requests_total{dialect="alibaba",operation="ListSecrets",outcome="ok"}"#
        ),
        1.0
    );
    let ready = ureq::get(&format!("{base}/readyz")).call().expect("readyz");
    assert_eq!(ready.status(), 200);
    // No API is served there.
    match ureq::post(&format!("{base}/")).send_bytes(b"") {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("the API answered on the metrics address: {other:?}"),
    }
}

/// This machine's address on the interface a packet to a private range would leave by: not
/// loopback, yet reachable from here.
fn own_address() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    // No packet is sent: connecting a UDP socket only picks the route.
    probe.connect("10.255.255.255:9").expect("a route");
    let ip = probe.local_addr().expect("local address").ip();
    assert!(!ip.is_loopback(), "no address other than loopback: {ip}");
    ip
}

#[test]
fn metrics_on_the_api_port_answer_loopback_unless_public() {
    let ip = own_address();
    for public in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("0.0.0.0:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg(format!("0.0.0.0:{port}"))
            .env_remove("COFFER_METRICS_PUBLIC")
            .env_remove("COFFER_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if public {
            cmd.arg("--metrics-public");
        }
        let mut child = cmd.spawn().expect("spawn");
        let outside = format!("http://{ip}:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ureq::get(&format!("{outside}/healthz")).call().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let from_outside = match ureq::get(&format!("{outside}/metrics")).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{e}"),
        };
        let from_loopback = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .map(|r| r.status())
            .unwrap_or(0);
        // Readiness is for load balancers wherever they are.
        let ready = ureq::get(&format!("{outside}/readyz"))
            .call()
            .map(|r| r.status())
            .unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(from_loopback, 200);
        assert_eq!(ready, 200);
        assert_eq!(
            from_outside,
            if public { 200 } else { 403 },
            "public: {public}"
        );
    }
}
