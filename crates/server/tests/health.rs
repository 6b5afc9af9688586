//! `/healthz` and `/readyz`: alive, and ready only while the store answers and the audit log
//! takes entries. The PostgreSQL case makes the test database refuse connections under a
//! running server, then accept them again.

mod common;

use std::time::{Duration, Instant};

use coffer_store::testkit::pg::TestDatabase;
use common::{Server, AK, SK};
use serde_json::Value;

fn get(base: &str, path: &str) -> (u16, Value) {
    let (status, text) = match ureq::get(&format!("{base}{path}")).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {path}: {e}"),
    };
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

/// Polls `/readyz` until it answers `status` (within 30 s) and returns the body.
fn wait_readyz(base: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (got, body) = get(base, "/readyz");
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz stayed {got}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_running_server_is_alive_and_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let (status, body) = get(&server.base(), "/healthz");
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = get(&server.base(), "/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"]["status"], "ok");
    assert_eq!(body["checks"]["audit_log"]["status"], "ok");
}

#[test]
fn readyz_follows_the_postgres_database() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::spawn_args(
        &dir.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ],
        &["--database-url", &db.url()],
        &[],
    );
    server.wait_ready();
    let base = server.base();
    wait_readyz(&base, 200);
    // The PostgreSQL store's metrics: its commits and its inventory.
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "pg-a"),
            ("SecretData", "v"),
            ("VersionId", "v1"),
        ],
    );
    let text = ureq::get(&format!("{base}/metrics"))
        .call()
        .expect("metrics")
        .into_string()
        .expect("text");
    let value = |series: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(value(r#"coffer_secrets{state="enabled"}"#), 1.0);
    assert!(value(r#"coffer_store_commit_duration_seconds_count{backend="postgres"}"#) >= 1.0);

    // The database goes away for coffer: no new connections, and its open ones are cut.
    let admin = |sql: &str| {
        let out = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-v", "ON_ERROR_STOP=1", "-tAqc", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let name = db.name().to_string();
    admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    let body = wait_readyz(&base, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["store"]["status"], "failing", "{body}");
    assert_eq!(body["checks"]["audit_log"]["status"], "ok", "{body}");
    // Alive all along.
    assert_eq!(get(&base, "/healthz").0, 200);

    admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let body = wait_readyz(&base, 200);
    assert_eq!(body["checks"]["store"]["status"], "ok");
    drop(server);
}

/// A start-up that cannot finish (another node holds the first start's lease) shows on
/// `--metrics-listen` as alive but `starting`, with the API port still closed; once the lease
/// is free the start finishes and the node is ready.
#[test]
fn a_blocked_start_is_alive_but_not_ready() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let env = [
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
    ];
    let url = db.url();
    // A first start makes the schema.
    let first = Server::spawn_args(&data, &env, &["--database-url", &url], &[]);
    first.wait_ready();
    assert!(first.terminate(), "the first start did not stop cleanly");

    db.execute_blocking(
        "INSERT INTO leases (name, holder, valid_until) \
         VALUES ('bootstrap', 'another-node', now() + interval '10 minutes') \
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, valid_until = EXCLUDED.valid_until",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let ops = format!("127.0.0.1:{port}");
    let server = Server::spawn_args(
        &data,
        &env,
        &[
            "--database-url",
            &url,
            "--metrics-listen",
            &ops,
            "--lease-secs",
            "60",
        ],
        &[],
    );
    let base = format!("http://{ops}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{base}/healthz")).call().is_err() {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = wait_readyz(&base, 503);
    assert_eq!(body["status"], "starting", "{body}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(get(&base, "/readyz").1["status"], "starting");
    assert_eq!(get(&base, "/healthz").0, 200);
    assert!(
        ureq::get(&format!("{}/healthz", server.base()))
            .call()
            .is_err(),
        "the API port opened before start-up finished"
    );

    db.execute_blocking("DELETE FROM leases WHERE name = 'bootstrap'")
        .unwrap_or_else(|e| panic!("{e}"));
    let body = wait_readyz(&base, 200);
    assert_eq!(body["status"], "ready");
    server.wait_ready();
}
