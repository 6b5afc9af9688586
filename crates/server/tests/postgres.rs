//! The real binary on PostgreSQL (`--database-url`, here through `COFFER_DATABASE_URL`): a
//! throwaway database per test, signed requests, restarts, and two servers (nodes) sharing
//! one database.

mod common;

use coffer_store::testkit::pg::TestDatabase;
use common::{Server, AK, SK};

fn database() -> TestDatabase {
    TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"))
}

fn count(db: &TestDatabase, sql: &str) -> String {
    db.query_blocking(sql)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default()
}

/// Create and read a secret through the server on PostgreSQL, restart it, read again: the
/// store lives in the database (nothing in the data dir but the root key, the audit log and
/// the bootstrap files), and the database holds the value sealed, never in plaintext.
#[test]
fn serves_from_postgres_and_keeps_everything_across_a_restart() {
    let db = database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let url = db.url();
    let env = [
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_DATABASE_URL", url.as_str()),
    ];
    let value = "pg-smoke-plaintext-7f3a9c";
    let server = Server::start_with(&data, &env);
    let c = server.client();
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "pg-smoke"),
            ("VersionId", "v1"),
            ("SecretData", value),
        ],
    );
    let got = c.ok("GetSecretValue", &[("SecretName", "pg-smoke")]);
    assert_eq!(got["SecretData"], value);
    c.ok(
        "PutSecretValue",
        &[
            ("SecretName", "pg-smoke"),
            ("VersionId", "v2"),
            ("SecretData", "second"),
        ],
    );
    assert!(
        !data.join("coffer.db").exists(),
        "a SQLite database was made beside PostgreSQL"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM secrets WHERE name = 'pg-smoke'"),
        "1"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM versions"),
        "2",
        "both versions are rows of the database"
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT COUNT(*) FROM versions \
                 WHERE position(convert_to('{value}', 'UTF8') IN ciphertext) > 0"
            )
        ),
        "0",
        "a value is stored in plaintext"
    );
    assert!(server.terminate(), "the server did not stop cleanly");

    let server = Server::start_with(&data, &env);
    let log = server.log_text();
    assert!(log.contains("opened the postgres store"), "{log}");
    let c = server.client();
    let got = c.ok("GetSecretValue", &[("SecretName", "pg-smoke")]);
    assert_eq!(got["SecretData"], "second");
    assert_eq!(got["VersionId"], "v2");
    let old = c.ok(
        "GetSecretValue",
        &[("SecretName", "pg-smoke"), ("VersionStage", "ACSPrevious")],
    );
    assert_eq!(old["SecretData"], value);
    // The first start bootstrapped once; the restart found the account in the database.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM accounts"), "1");
    assert!(server.terminate(), "the server did not stop cleanly");
    assert!(!log.contains(value), "a value reached the log");
}

/// Two servers on one database with the same root key: what one node writes, the other
/// reads at once (neither caches), and a write on either is seen by both.
#[test]
fn two_nodes_on_one_database_see_each_others_writes() {
    let db = database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = db.url();
    let first_data = tmp.path().join("node-a");
    let env = [
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_DATABASE_URL", url.as_str()),
    ];
    let a = Server::start_with(&first_data, &env);
    // The second node shares the root key (which never lives in the database).
    let root_key = first_data.join("root.key");
    let root_key = root_key.to_str().expect("utf-8 path");
    let b = Server::start_with(
        &tmp.path().join("node-b"),
        &[
            ("COFFER_DATABASE_URL", url.as_str()),
            ("COFFER_ROOT_KEY_FILE", root_key),
        ],
    );
    let (ca, cb) = (a.client(), b.client());
    ca.ok(
        "CreateSecret",
        &[
            ("SecretName", "shared"),
            ("VersionId", "v1"),
            ("SecretData", "from a"),
        ],
    );
    let got = cb.ok("GetSecretValue", &[("SecretName", "shared")]);
    assert_eq!(got["SecretData"], "from a");
    cb.ok(
        "PutSecretValue",
        &[
            ("SecretName", "shared"),
            ("VersionId", "v2"),
            ("SecretData", "from b"),
        ],
    );
    for c in [&ca, &cb] {
        let got = c.ok("GetSecretValue", &[("SecretName", "shared")]);
        assert_eq!(
            (&got["SecretData"], &got["VersionId"]),
            (&"from b".into(), &"v2".into())
        );
    }
    // A name taken on one node is taken on the other.
    let (status, body) = cb.call(
        "CreateSecret",
        &[
            ("SecretName", "shared"),
            ("VersionId", "v1"),
            ("SecretData", "again"),
        ],
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["Code"], "Rejected.ResourceExist", "{body}");
    assert!(
        a.terminate() && b.terminate(),
        "a node did not stop cleanly"
    );
}
