//! Quotas and request rates against the real binary: each API's throttling error (with the
//! wait its SDK reads), rates per account and group, each API's quota of secrets per region
//! on one shared store, creates racing for the last place (SQLite and PostgreSQL), and the
//! precedence of flags, `COFFER_*` variables and the `--config` file.

mod common;

use std::time::Instant;

use coffer_auth::alibaba::RpcV1Client;
use coffer_store::testkit::pg::TestDatabase;
use common::{Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone)]
struct Key {
    id: String,
    secret: String,
}

fn admin() -> Key {
    Key {
        id: AK.into(),
        secret: SK.into(),
    }
}

/// An answer: status, headers (names lower-cased) and the JSON body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Tencent's error code (its errors are HTTP 200).
    fn tencent_code(&self) -> Option<&str> {
        self.body["Response"]["Error"]["Code"].as_str()
    }
}

fn send(
    server: &Server,
    method: &str,
    pq: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut req = ureq::request(method, &format!("{}{pq}", server.base()));
    for (k, v) in headers {
        if k != "host" {
            req = req.set(k, v);
        }
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| Some((n.to_ascii_lowercase(), resp.header(&n)?.to_string())))
        .collect();
    let text = resp.into_string().unwrap_or_default();
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn alibaba(server: &Server, key: &Key, action: &str, params: &[(&str, &str)]) -> Answer {
    let (ts, n) = (common::format_timestamp(now()), nonce());
    let client = RpcV1Client {
        access_key_id: &key.id,
        access_key_secret: key.secret.as_bytes(),
        timestamp: &ts,
        nonce: &n,
    };
    let query = coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
        .expect("sign");
    send(server, "POST", &format!("/?{query}"), &[], &[])
}

/// A TC3 request signed at `at` (TC3 has no nonce: requests with one body in one second
/// share a signature, so repeated reads are signed at different seconds of the window).
fn tencent_at(server: &Server, key: &Key, action: &str, body: &Value, at: i64) -> Answer {
    let body = body.to_string().into_bytes();
    let headers = coffer_auth::tencent::tc3_post_json_headers(
        action,
        "2019-09-23",
        Some("ap-guangzhou"),
        &host(server),
        &body,
        &key.id,
        key.secret.as_bytes(),
        at,
    );
    send(server, "POST", "/", &headers, &body)
}

fn tencent(server: &Server, key: &Key, action: &str, body: &Value) -> Answer {
    tencent_at(server, key, action, body, now())
}

fn huawei(server: &Server, key: &Key, method: &str, route: &str, body: &Value) -> Answer {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let path = format!("/v1/{PROJECT}{route}");
    let headers = coffer_auth::huawei::request_headers(
        method,
        &host(server),
        &path,
        "",
        &body,
        Some(PROJECT),
        &key.id,
        key.secret.as_bytes(),
        now(),
    );
    send(server, method, &path, &headers, &body)
}

fn admin_api(server: &Server, key: &Key, method: &str, path: &str, body: Value) -> Answer {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let mut headers = vec![
        ("host".to_string(), host(server)),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    coffer_auth::sigv4::sign(
        method,
        path,
        "",
        &mut headers,
        &body,
        &key.id,
        key.secret.as_bytes(),
        "local",
        "coffer",
        now(),
    )
    .expect("sign");
    send(server, method, path, &headers, &body)
}

/// A second account with an admin key.
fn other_account(server: &Server) -> Key {
    let a = admin_api(
        server,
        &admin(),
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "other"}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let account = a.body["AccountId"].as_str().unwrap_or_default().to_string();
    let k = admin_api(
        server,
        &admin(),
        "POST",
        &format!("/coffer/v1/accounts/{account}/access-keys"),
        json!({"Admin": true}),
    );
    assert_eq!(k.status, 200, "{}", k.body);
    Key {
        id: k.body["AccessKeyId"].as_str().unwrap_or_default().into(),
        secret: k.body["AccessKeySecret"]
            .as_str()
            .unwrap_or_default()
            .into(),
    }
}

fn start(args_env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut env = vec![
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
    ];
    env.extend_from_slice(args_env);
    let server = Server::start_with(&tmp.path().join("data"), &env);
    (tmp, server)
}

/// Under `--limits cloud` with two reads a minute per API, the third read of each API is
/// refused in that API's own format, with the wait its SDK reads; other groups, other
/// accounts and the admin API go on; every refusal is audited, and the log sums them up
/// instead of writing a line each.
#[test]
fn each_api_throttles_in_its_own_format() {
    let (_tmp, server) = start(&[
        ("COFFER_LIMITS", "cloud"),
        (
            "COFFER_LIMIT",
            "alibaba.rate.secret-read=2/min,tencent.rate.GetSecretValue=2/min,huawei.rate.csms=3/min",
        ),
    ]);
    let me = admin();

    // Alibaba: GetSecretValue is in the "secret-read" group; CreateSecret is not.
    let created = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "ali"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );
    assert_eq!(created.status, 200, "{}", created.body);
    for _ in 0..2 {
        let a = alibaba(&server, &me, "GetSecretValue", &[("SecretName", "ali")]);
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let refused = alibaba(&server, &me, "GetSecretValue", &[("SecretName", "ali")]);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["Code"], "Rejected.Throttling");
    let wait: u64 = refused
        .header("x-acs-retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no x-acs-retry-after: {:?}", refused.headers));
    assert!((1..=30_000).contains(&wait), "{wait} ms");
    // DescribeSecret shares the group, ListSecrets does not.
    let same_group = alibaba(&server, &me, "DescribeSecret", &[("SecretName", "ali")]);
    assert_eq!(same_group.status, 429, "{}", same_group.body);
    let other_group = alibaba(&server, &me, "ListSecrets", &[]);
    assert_eq!(other_group.status, 200, "{}", other_group.body);

    // Tencent: RequestLimitExceeded at HTTP 200, per API.
    let t = tencent(
        &server,
        &me,
        "CreateSecret",
        &json!({"SecretName": "tc", "SecretString": "y"}),
    );
    assert_eq!(t.tencent_code(), None, "{}", t.body);
    let read = json!({"SecretName": "tc", "VersionId": "SSM_Current"});
    let at = now();
    for i in 0..2 {
        let t = tencent_at(&server, &me, "GetSecretValue", &read, at - i);
        assert_eq!(t.tencent_code(), None, "{}", t.body);
    }
    let t = tencent_at(&server, &me, "GetSecretValue", &read, at - 2);
    assert_eq!(t.status, 200);
    assert_eq!(t.tencent_code(), Some("RequestLimitExceeded"), "{}", t.body);
    let t = tencent(&server, &me, "DescribeSecret", &json!({"SecretName": "tc"}));
    assert_eq!(
        t.tencent_code(),
        None,
        "another API has its own limit: {}",
        t.body
    );

    // Huawei: 429 from the gateway, with Retry-After in seconds.
    for _ in 0..3 {
        let h = huawei(&server, &me, "GET", "/secrets", &Value::Null);
        assert_eq!(h.status, 200, "{}", h.body);
    }
    let h = huawei(&server, &me, "GET", "/secrets/tc", &Value::Null);
    assert_eq!(h.status, 429, "{}", h.body);
    assert_eq!(h.body["error_code"], "APIGW.0308");
    let secs: u64 = h
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", h.headers));
    assert!((1..=20).contains(&secs), "{secs} s");

    // Buckets are per account: another account reads on.
    let other = other_account(&server);
    let o = alibaba(
        &server,
        &other,
        "CreateSecret",
        &[
            ("SecretName", "mine"),
            ("VersionId", "v1"),
            ("SecretData", "z"),
        ],
    );
    assert_eq!(o.status, 200, "{}", o.body);
    let o = alibaba(&server, &other, "GetSecretValue", &[("SecretName", "mine")]);
    assert_eq!(o.status, 200, "{}", o.body);
    // The admin API is never throttled.
    for _ in 0..5 {
        let a = admin_api(&server, &me, "GET", "/coffer/v1/accounts", Value::Null);
        assert_eq!(a.status, 200, "{}", a.body);
    }

    // The log sums refusals up: one line for the first, none per request.
    let log = server.log_text();
    assert_eq!(
        log.matches("requests refused over their rate").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("\"request refused\""), "{log}");
    // Every refusal is in the audit log (refusals are queued, not flushed one by one, so it
    // is read once the server has stopped).
    let audit_log = server.data_dir.join("audit.log");
    assert!(server.terminate());
    let audit = std::fs::read_to_string(audit_log).unwrap_or_default();
    assert_eq!(
        audit.matches("\"Rejected.Throttling\"").count(),
        2,
        "{audit}"
    );
    assert_eq!(
        audit.matches("\"RequestLimitExceeded\"").count(),
        1,
        "{audit}"
    );
    assert_eq!(audit.matches("\"APIGW.0308\"").count(), 1, "{audit}");
}

/// A token comes back at the rate: a refused client that waits the time it was told passes.
#[test]
fn a_refused_client_passes_after_the_wait_it_was_given() {
    let (_tmp, server) = start(&[("COFFER_LIMIT", "alibaba.rate.secret-read=2/s")]);
    let me = admin();
    let c = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "s"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );
    assert_eq!(c.status, 200, "{}", c.body);
    let mut refused = None;
    for _ in 0..10 {
        let a = alibaba(&server, &me, "GetSecretValue", &[("SecretName", "s")]);
        if a.status == 429 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let refused = refused.expect("two reads a second were not limited");
    let wait: u64 = refused
        .header("x-acs-retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a wait");
    assert!((1..=500).contains(&wait), "{wait} ms at 2/s");
    std::thread::sleep(std::time::Duration::from_millis(wait + 20));
    let a = alibaba(&server, &me, "GetSecretValue", &[("SecretName", "s")]);
    assert_eq!(a.status, 200, "after the wait: {}", a.body);
}

/// One store, three quotas: each create is judged by the quota of the API it came through,
/// against every secret of the region, and each API answers in its own words.
#[test]
fn each_api_has_its_own_quota_of_secrets_on_one_store() {
    let (_tmp, server) = start(&[(
        "COFFER_LIMIT",
        "tencent.secrets-per-region=2,huawei.secrets-per-region=3,alibaba.secrets-per-region=4",
    )]);
    let me = admin();
    for name in ["t1", "t2"] {
        let t = tencent(
            &server,
            &me,
            "CreateSecret",
            &json!({"SecretName": name, "SecretString": "v"}),
        );
        assert_eq!(t.tencent_code(), None, "{}", t.body);
    }
    let t = tencent(
        &server,
        &me,
        "CreateSecret",
        &json!({"SecretName": "t3", "SecretString": "v"}),
    );
    assert_eq!(t.tencent_code(), Some("LimitExceeded"), "{}", t.body);
    let status = tencent(&server, &me, "GetServiceStatus", &json!({}));
    assert_eq!(status.body["Response"]["SecretLimit"], 2, "{}", status.body);

    let h = huawei(
        &server,
        &me,
        "POST",
        "/secrets",
        &json!({"name": "h1", "secret_string": "v"}),
    );
    assert_eq!(h.status, 200, "{}", h.body);
    let h = huawei(
        &server,
        &me,
        "POST",
        "/secrets",
        &json!({"name": "h2", "secret_string": "v"}),
    );
    assert_eq!(h.status, 400, "{}", h.body);
    assert_eq!(h.body["error_code"], "CSMS.0202", "{}", h.body);

    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "a1"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "a2"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["Code"], "Rejected.LimitExceeded", "{}", a.body);
    assert!(
        a.body["Message"].as_str().unwrap_or_default().contains("4"),
        "{}",
        a.body
    );

    // A place freed (deleted at once) is a place again; the count includes secrets waiting
    // for deletion, whose names are still taken.
    let d = alibaba(
        &server,
        &me,
        "DeleteSecret",
        &[("SecretName", "a1"), ("ForceDeleteWithoutRecovery", "true")],
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "a3"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let d = alibaba(&server, &me, "DeleteSecret", &[("SecretName", "a3")]);
    assert_eq!(d.status, 200, "{}", d.body);
    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "a4"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.body["Code"], "Rejected.LimitExceeded", "{}", a.body);
    // Another account's region is its own.
    let other = other_account(&server);
    let t = tencent(
        &server,
        &other,
        "CreateSecret",
        &json!({"SecretName": "t1", "SecretString": "v"}),
    );
    assert_eq!(t.tencent_code(), None, "{}", t.body);
}

/// `racers` creates at once through Tencent, with one place left of a quota of `quota`:
/// exactly one passes, every other one gets `LimitExceeded`, and the store holds `quota`.
fn race_for_the_last_place(server: &Server, quota: usize, racers: usize) {
    let me = admin();
    for i in 0..quota - 1 {
        let t = tencent(
            server,
            &me,
            "CreateSecret",
            &json!({"SecretName": format!("pre-{i}"), "SecretString": "v"}),
        );
        assert_eq!(t.tencent_code(), None, "{}", t.body);
    }
    let start = std::sync::Barrier::new(racers);
    let codes: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..racers)
            .map(|i| {
                let (me, start) = (me.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    let t = tencent(
                        server,
                        &me,
                        "CreateSecret",
                        &json!({"SecretName": format!("racer-{i}"), "SecretString": "v"}),
                    );
                    t.tencent_code().map(str::to_string)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Some("panicked".into())))
            .collect()
    });
    let passed = codes.iter().filter(|c| c.is_none()).count();
    let refused = codes
        .iter()
        .filter(|c| c.as_deref() == Some("LimitExceeded"))
        .count();
    assert_eq!((passed, refused), (1, racers - 1), "{codes:?}");
    let list = tencent(server, &me, "ListSecrets", &json!({"Limit": 1000}));
    assert_eq!(list.body["Response"]["TotalCount"], quota, "{}", list.body);
}

#[test]
fn creates_racing_for_the_last_place_on_sqlite_let_exactly_one_in() {
    let (_tmp, server) = start(&[("COFFER_LIMIT", "tencent.secrets-per-region=5")]);
    race_for_the_last_place(&server, 5, 16);
}

/// On PostgreSQL the creates run in concurrent transactions (a pool of connections, no
/// single writer): near the quota they take the scope's lock one at a time. Two nodes share
/// the database here, so the racers also come from two processes.
#[test]
fn creates_racing_for_the_last_place_on_postgres_let_exactly_one_in() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let url = db.url();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = |extra: &'static str| {
        vec![
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_DATABASE_URL", url.as_str()),
            // Every node of a store has the same root key.
            (
                "COFFER_ROOT_KEY",
                "bGltaXRzLXRlc3Qtcm9vdC1rZXktMzItYnl0ZXMhISE=",
            ),
            ("COFFER_LIMIT", extra),
        ]
    };
    let a = Server::start_with(&tmp.path().join("a"), &env("tencent.secrets-per-region=6"));
    let b = Server::start_with(&tmp.path().join("b"), &env("tencent.secrets-per-region=6"));
    let me = admin();
    for i in 0..5 {
        let t = tencent(
            &a,
            &me,
            "CreateSecret",
            &json!({"SecretName": format!("pre-{i}"), "SecretString": "v"}),
        );
        assert_eq!(t.tencent_code(), None, "{}", t.body);
    }
    let started = Instant::now();
    let start = std::sync::Barrier::new(16);
    let codes: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (me, start) = (me.clone(), &start);
                let node = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || {
                    start.wait();
                    tencent(
                        node,
                        &me,
                        "CreateSecret",
                        &json!({"SecretName": format!("racer-{i}"), "SecretString": "v"}),
                    )
                    .tencent_code()
                    .map(str::to_string)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Some("panicked".into())))
            .collect()
    });
    let passed = codes.iter().filter(|c| c.is_none()).count();
    let refused = codes
        .iter()
        .filter(|c| c.as_deref() == Some("LimitExceeded"))
        .count();
    assert_eq!((passed, refused), (1, 15), "{codes:?}");
    let held = db
        .query_blocking("SELECT COUNT(*) FROM secrets")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(held, "6");
    eprintln!("16 racers on two nodes answered in {:?}", started.elapsed());
    assert!(a.terminate() && b.terminate());
}

/// A flag on the command line beats its variable, which beats the `--config` file, which
/// beats the default; an unknown key stops the server with the key and the file named.
#[test]
fn config_file_precedence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("coffer.toml");
    std::fs::write(
        &file,
        r#"
        # The helper passes --listen on the command line: the flag wins.
        listen = "127.0.0.1:9"
        # No variable sets this: the file wins over the default (1000000).
        max_secrets_per_region = 3
        # COFFER_LIMIT is set below: the variable wins over the file.
        [limit]
        "tencent.secrets-per-region" = 1
        "#,
    )
    .expect("write the config file");
    let path = file.to_string_lossy().to_string();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_CONFIG", path.as_str()),
            ("COFFER_LIMIT", "tencent.secrets-per-region=2"),
        ],
    );
    let me = admin();
    // Tencent may create 2 (the variable), not 1 (the file).
    for name in ["a", "b"] {
        let t = tencent(
            &server,
            &me,
            "CreateSecret",
            &json!({"SecretName": name, "SecretString": "v"}),
        );
        assert_eq!(t.tencent_code(), None, "{}", t.body);
    }
    let t = tencent(
        &server,
        &me,
        "CreateSecret",
        &json!({"SecretName": "c", "SecretString": "v"}),
    );
    assert_eq!(t.tencent_code(), Some("LimitExceeded"), "{}", t.body);
    // Alibaba has no quota of its own; the file's ceiling of 3 holds.
    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "d"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = alibaba(
        &server,
        &me,
        "CreateSecret",
        &[
            ("SecretName", "e"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert_eq!(a.body["Code"], "Rejected.LimitExceeded", "{}", a.body);
    assert!(server.log_text().contains("coffer.toml"));
    assert!(server.terminate());

    // A misspelt key: the server does not start, and says which key of which file.
    std::fs::write(&file, "limts = \"cloud\"\n").expect("write");
    let mut bad = Server::spawn_with(
        &tmp.path().join("data2"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_CONFIG", path.as_str()),
        ],
    );
    assert_eq!(
        bad.wait_exit(std::time::Duration::from_secs(20)),
        Some(false),
        "a server with an unknown config key started"
    );
    let log = bad.log_text();
    assert!(
        log.contains("unknown key \"limts\"") && log.contains("coffer.toml"),
        "{log}"
    );
}

/// Many creates on two nodes fill a PostgreSQL quota exactly. The quota is set just past
/// where creates stop sharing the scope's quota lock (twice `max_connections` below it), so
/// they run through all three regimes: shared far from it, the switch, and one at a time
/// near it. Exactly the quota's number pass, whatever the interleaving.
#[test]
fn creates_fill_a_postgres_quota_exactly() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let conns: u64 = db
        .query_blocking("SHOW max_connections")
        .unwrap_or_else(|e| panic!("{e}"))
        .and_then(|v| v.parse().ok())
        .expect("max_connections");
    let quota = 2 * conns + 40;
    let url = db.url();
    let limit = format!("tencent.secrets-per-region={quota}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_DATABASE_URL", url.as_str()),
        (
            "COFFER_ROOT_KEY",
            "bGltaXRzLXRlc3Qtcm9vdC1rZXktMzItYnl0ZXMhISE=",
        ),
        ("COFFER_LIMIT", limit.as_str()),
    ];
    let a = Server::start_with(&tmp.path().join("a"), &env);
    let b = Server::start_with(&tmp.path().join("b"), &env);
    let me = admin();
    let started = Instant::now();
    let passed = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..12 {
            let (me, passed) = (me.clone(), &passed);
            let node = if t % 2 == 0 { &a } else { &b };
            s.spawn(move || {
                for i in 0.. {
                    let r = tencent(
                        node,
                        &me,
                        "CreateSecret",
                        &json!({"SecretName": format!("fill-{t}-{i}"), "SecretString": "v"}),
                    );
                    match r.tencent_code() {
                        None => {
                            passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Some("LimitExceeded") => break,
                        Some(other) => panic!("{other}: {}", r.body),
                    }
                }
            });
        }
    });
    assert_eq!(passed.into_inner(), quota);
    let held = db
        .query_blocking("SELECT COUNT(*) FROM secrets")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(held, quota.to_string());
    eprintln!(
        "{quota} creates from 12 clients on two nodes in {:?}",
        started.elapsed()
    );
    assert!(a.terminate() && b.terminate());
}
