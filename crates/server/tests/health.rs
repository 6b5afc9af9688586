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
