//! Accounts on the machine's MariaDB and PostgreSQL for rotation tests. Every test makes its
//! own accounts with a random suffix, so tests run side by side and leave nothing that
//! another run trips over.

#![allow(dead_code)]

use coffer_core::{DbEngine, DbTarget};
use mysql_async::prelude::Queryable;
use zeroize::Zeroizing;

pub fn suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| (b'a' + rng.gen_range(0..26)) as char)
        .collect()
}

pub fn mariadb() -> DbTarget {
    DbTarget::new(
        "maria",
        DbEngine::MariaDb,
        "127.0.0.1",
        3306,
        "root",
        Zeroizing::new(String::new()),
    )
}

pub fn postgres() -> DbTarget {
    DbTarget::new(
        "pg",
        DbEngine::Postgres,
        "127.0.0.1",
        5432,
        "postgres",
        Zeroizing::new(String::new()),
    )
}

pub fn target(engine: DbEngine) -> DbTarget {
    match engine {
        DbEngine::Postgres => postgres(),
        _ => mariadb(),
    }
}

async fn maria_root() -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"))
        .prefer_socket(false);
    mysql_async::Conn::new(opts)
        .await
        .expect("MariaDB on 127.0.0.1:3306")
}

/// Runs statements as the MariaDB root account.
pub async fn maria_exec(statements: &[String]) {
    let mut c = maria_root().await;
    for s in statements {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.ok();
}

pub async fn maria_query(statement: &str) -> Vec<String> {
    let mut c = maria_root().await;
    let rows: Vec<String> = c
        .query(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    c.disconnect().await.ok();
    rows
}

/// Runs statements as the PostgreSQL superuser, after making sure that members of
/// `coffer_rotated` must log in with their password (scripts/pg-test-auth).
pub async fn pg_exec(statements: &[String]) {
    ensure_pg_password_auth();
    // Grants on the shared database and group role from tests running side by side would
    // update one catalog row at once, which PostgreSQL refuses ("tuple concurrently
    // updated"); test setup takes turns.
    static SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = SETUP.lock().await;
    let (c, conn) = tokio_postgres::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        tokio_postgres::NoTls,
    )
    .await
    .expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    for s in statements {
        if let Err(e) = c.batch_execute(s).await {
            panic!("{s}: {e} {:?}", e.as_db_error().map(|d| d.message()));
        }
    }
}

pub fn ensure_pg_password_auth() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-test-auth");
        let status = std::process::Command::new(script)
            .status()
            .expect("running scripts/pg-test-auth");
        assert!(status.success(), "scripts/pg-test-auth failed");
    });
}

/// Creates an application account with a password and a grant, on either engine.
pub async fn create_app_account(engine: DbEngine, name: &str, password: &str) {
    match engine {
        DbEngine::Postgres => {
            pg_exec(&[format!(
                "CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE coffer_rotated; \
                 GRANT CONNECT ON DATABASE test TO \"{name}\""
            )])
            .await
        }
        _ => {
            maria_exec(&[
                format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
                format!("GRANT SELECT ON test.* TO '{name}'@'%'"),
            ])
            .await
        }
    }
}

pub async fn drop_account(engine: DbEngine, name: &str) {
    match engine {
        DbEngine::Postgres => {
            pg_exec(&[format!(
                "REVOKE ALL ON DATABASE test FROM \"{name}\"; DROP ROLE IF EXISTS \"{name}\""
            )])
            .await
        }
        _ => maria_exec(&[format!("DROP USER IF EXISTS '{name}'@'%'")]).await,
    }
}

/// Whether `name`/`password` logs in over TCP, judged by a fresh connection of each engine's
/// own client library (not coffer's driver).
pub async fn can_log_in(engine: DbEngine, name: &str, password: &str) -> bool {
    match engine {
        DbEngine::Postgres => tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(5432)
            .user(name)
            .password(password)
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .is_ok(),
        _ => {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname("127.0.0.1")
                .tcp_port(3306)
                .user(Some(name))
                .pass(Some(password))
                .prefer_socket(false);
            match mysql_async::Conn::new(opts).await {
                Ok(c) => {
                    c.disconnect().await.ok();
                    true
                }
                Err(_) => false,
            }
        }
    }
}

/// The directory of the test CA and certificates (scripts/db-test-tls), after making sure
/// that the machine's PostgreSQL serves TLS with them.
pub fn test_tls_dir() -> std::path::PathBuf {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/db-test-tls");
        let status = std::process::Command::new(script)
            .status()
            .expect("running scripts/db-test-tls");
        assert!(status.success(), "scripts/db-test-tls failed");
    });
    std::env::var_os("COFFER_TEST_TLS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/var/lib/coffer-test-tls".into())
}

/// A PEM file of the test TLS directory (`ca.pem`, `other-ca.pem`).
pub fn test_pem(name: &str) -> String {
    let path = test_tls_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
