//! Throwaway PostgreSQL databases for tests: [`TestDatabase::create`] makes
//! `coffer_test_<random>` on the test server and dropping the value drops it again (`WITH
//! (FORCE)`, so connections a failed test left open do not keep it alive), also when the
//! test panics.
//!
//! The server is `COFFER_TEST_DATABASE_URL` when set (a URL whose database part is ignored,
//! e.g. `postgres://postgres@127.0.0.1:5432/`), else the machine's PostgreSQL at
//! `postgres://postgres@127.0.0.1:5432` (user `postgres`, trust authentication).

use std::future::Future;

use tokio_postgres::NoTls;

/// The environment variable naming the test server.
pub const SERVER_ENV: &str = "COFFER_TEST_DATABASE_URL";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// `postgres://user@host:port` of the test server, without a database or parameters.
pub fn server_url() -> String {
    let url = std::env::var(SERVER_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let url = url.trim();
    // Keep the scheme and authority; the path (database) and query are the test's to choose.
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_string()
}

/// Runs `make()`'s future to completion on a thread of its own with its own runtime, so
/// that it can be called from synchronous code, from inside an async test, and from `Drop`
/// (also while a failed test unwinds: it never panics itself).
fn blocking<T, F, Fut>(make: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>>,
{
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("test database helper: no runtime: {e}"))?;
        rt.block_on(make())
    });
    worker
        .join()
        .map_err(|_| "test database helper thread panicked".to_string())?
}

/// Runs `sql` (one or more statements) in `database` of the test server.
async fn execute(database: &str, sql: &str) -> Result<(), String> {
    let url = format!("{}/{database}", server_url());
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let task = tokio::spawn(conn);
    let result = client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
    result
}

/// The first column of the first row of `sql`, as text (`NULL` as `None`), in `database`.
async fn query_text(database: &str, sql: &str) -> Result<Option<String>, String> {
    let url = format!("{}/{database}", server_url());
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let task = tokio::spawn(conn);
    let result = client
        .simple_query(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))
        .map(|messages| {
            messages.into_iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).map(str::to_string))
                }
                _ => None,
            })
        });
    drop(client);
    let _ = task.await;
    result.map(Option::flatten)
}

/// A database that exists while this value lives.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Creates `coffer_test_<random>` on the test server.
    pub fn create() -> Result<Self, String> {
        let name = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
        let sql = format!("CREATE DATABASE {name}");
        blocking(move || async move { execute("postgres", &sql).await })?;
        Ok(Self { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// The database's URL with `schema` as the only schema on the search path: a store opened
    /// with it keeps all its tables there (one database can hold many stores this way).
    pub fn url_with_schema(&self, schema: &str) -> String {
        format!(
            "{}/{}?options=-c%20search_path%3D{schema}",
            server_url(),
            self.name
        )
    }

    /// Runs `sql` in this database.
    pub async fn execute(&self, sql: &str) -> Result<(), String> {
        execute(&self.name, sql).await
    }

    /// Runs `sql` in this database from synchronous code.
    pub fn execute_blocking(&self, sql: &str) -> Result<(), String> {
        let (name, sql) = (self.name.clone(), sql.to_string());
        blocking(move || async move { execute(&name, &sql).await })
    }

    /// The first column of the first row of `sql` in this database, as text.
    pub async fn query(&self, sql: &str) -> Result<Option<String>, String> {
        query_text(&self.name, sql).await
    }

    /// [`query`](Self::query) from synchronous code.
    pub fn query_blocking(&self, sql: &str) -> Result<Option<String>, String> {
        let (name, sql) = (self.name.clone(), sql.to_string());
        blocking(move || async move { query_text(&name, &sql).await })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let result = blocking(move || async move { execute("postgres", &sql).await });
        if let Err(e) = result {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}
