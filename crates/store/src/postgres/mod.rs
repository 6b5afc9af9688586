//! The PostgreSQL store, for several coffer nodes that share one database and all serve
//! reads and writes.
//!
//! - Connections come from a pool (deadpool-postgres). Opening the store applies pending
//!   migrations under an advisory lock (see [`schema`]), so nodes that start together
//!   migrate once.
//! - Every write is one transaction; its call returns after `COMMIT`, which is durable
//!   (coffer's sessions run with `synchronous_commit = on` unless the URL says otherwise).
//!   Uniqueness (names, aliases, the default key, one version per stage) is enforced by
//!   constraints; a secret update carries the revision it read and changes nothing when the
//!   row has moved on (`Error::Conflict`, and the core retries on fresh state), exactly as
//!   in the SQLite store. Two nodes racing on one secret therefore cannot both win.
//! - Reads are single statements (each one snapshot), or a revision-checked pair for a value
//!   read (see `secrets`).
//! - Nothing waits forever: connecting and taking a pooled connection are bounded, every
//!   statement runs under `statement_timeout`, a session idle inside a transaction is ended
//!   by the server, and each call as a whole is bounded on this side too (a database that
//!   stops answering is an error after [`PgOptions::operation_timeout`], not a hung request).
//!   Failures to reach the database, and its timeouts, are [`Error::Unavailable`]: each
//!   dialect's own "service unavailable" answer, which tells the client to retry. The
//!   driver's details go to the log (one line a second at most, "postgres unavailable").
//! - After an outage the pool heals by itself: a connection the server closed is dropped
//!   when it is next taken, and one that sat idle for a while is asked a round trip first
//!   (see `verify_idle`), so the first request after the database is back does not fail
//!   on a connection from before.
//!
//! **A cache that asks first.** Reads of a secret by name go through this node's cache
//! ([`cache`]): an entry is served only after one primary-key probe finds the secret's revision
//! unchanged, so a write acknowledged on any node is what the next read on every node sees.
//! Creates are pipelined (see `secret_writes::create_pipelined`), and the replay records of
//! concurrent requests are inserted in batches (see [`cluster`]).
//!
//! Each area of the contract is implemented in its own module, like the SQLite store's:
//! [`accounts`], [`keys`], [`secrets`] (with [`list`] and [`secret_writes`]), [`events`],
//! [`rotation`], [`rewrap`], [`backup`] and [`leases`]; what several nodes share besides the
//! store's contract (replay records, the register of audit logs) is in [`cluster`]. [`rows`]
//! holds what they share; [`schema`] the migrations.

mod accounts;
mod backup;
mod cache;
mod cluster;
mod events;
mod keys;
mod leases;
mod list;
mod rewrap;
mod rotation;
pub(crate) mod rows;
mod schema;
mod secret_writes;
mod secrets;

use std::future::Future;
use std::time::Duration;

use coffer_core::*;
use deadpool_postgres::{
    ClientWrapper, HookError, Manager, ManagerConfig, Metrics, Object, Pool, PoolError,
    RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use rows::{timed_out, unavailable, with_causes, UNAVAILABLE};

pub use cluster::{AuditChain, ReplayRecord};
pub use schema::MIGRATIONS as POSTGRES_MIGRATIONS;

/// How to open a [`PgStore`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Most connections the pool keeps open to the database.
    pub max_connections: usize,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long a call waits for a pooled connection when all are busy.
    pub acquire_timeout: Duration,
    /// The server-side `statement_timeout` of every statement (lock waits included).
    pub statement_timeout: Duration,
    /// The most one store call (all its statements and its commit) may take, measured here:
    /// the bound that holds even when the database stops answering altogether.
    pub operation_timeout: Duration,
    /// A pooled connection unused for longer than this is asked a round trip before a call
    /// gets it, so that one broken while it sat idle (the database restarted, a network path
    /// died) is replaced instead of failing the call.
    pub verify_after_idle: Duration,
}

/// The defaults promise that a request needing a database that is down, or that stopped
/// answering, fails within 5 seconds with "service unavailable" rather than waiting: the
/// calls of one request are point reads and small transactions that take milliseconds, so
/// a call still running after 4 seconds is an outage, not a slow query.
impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(3),
            // Below the call bound, so that the server cancels a statement (and says so)
            // before this side gives up on it.
            statement_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(4),
            verify_after_idle: Duration::from_secs(1),
        }
    }
}

/// [`Store`] on a PostgreSQL database that several coffer nodes may share. See the module
/// docs.
pub struct PgStore {
    pool: Pool,
    /// Connections whose commits do not wait for the disk, for replay records only.
    replay_pool: Pool,
    options: PgOptions,
    /// The URL without its password, for messages.
    display: String,
    /// Secrets as this node last read them, trusted only after a revision probe (see
    /// [`cache`]).
    cache: cache::SecretCache,
    /// Asks for cached secrets' revisions, many reads at once.
    probe: cache::RevisionProbe<uuid::Uuid>,
    /// Keys as this node last read them, trusted only after a probe of their revision.
    keys: cache::KeyCache,
    /// Asks for cached keys' revisions, many reads at once.
    key_probe: cache::RevisionProbe<String>,
    /// Batches the replay records of concurrent requests (see [`cluster`]).
    replay_writer: cluster::ReplayWriter,
}

/// `postgres://user@host:port/db` without the password, for logs and errors.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// A pool of connections made with `config`, each checked before reuse once it has been idle
/// for [`PgOptions::verify_after_idle`] (see `verify_idle`).
fn build_pool(
    config: tokio_postgres::Config,
    max_size: usize,
    options: &PgOptions,
) -> Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection the server closed is noticed (is_closed) and replaced; no extra
            // round trip per call to prove a busy one healthy. Idle ones are checked by
            // `verify_idle` below.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let idle = options.verify_after_idle;
    let answer_within = options.connect_timeout;
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .post_recycle(deadpool_postgres::Hook::async_fn(move |client, metrics| {
            verify_idle(client, metrics, idle, answer_within)
        }))
        .build()
        .map_err(|e| Error::internal(format!("postgres: building the pool: {e}")))
}

/// A database URL as messages may show it: `postgres://user@host:port/db`, without its
/// password (or a placeholder when it does not parse).
pub fn describe_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => describe(&config),
        Err(_) => "the PostgreSQL database (its URL does not parse)".into(),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`, or
    /// key=value form), applies pending migrations and returns the store. Fails, without
    /// waiting longer than the connect timeout, when the database cannot be reached.
    pub async fn open(url: &str, options: PgOptions) -> Result<Self> {
        let store = Self::connect(url, options)?;
        // At start the operator wants the driver's own words (refused, unknown host, bad
        // password), which requests only ever see in the log.
        let mut conn = store.pool.get().await.map_err(|e| {
            Error::internal(format!(
                "{UNAVAILABLE} (connect): {}",
                store.pool_failure(e)
            ))
        })?;
        schema::migrate(&mut conn).await?;
        drop(conn);
        tracing::info!(database = %store.display, "opened the postgres store");
        Ok(store)
    }

    /// Like [`open`](Self::open), for a database some coffer already serves: applies no
    /// migration, and refuses a database whose schema is not exactly this build's (a tool such
    /// as `coffer backup` must not migrate a database under the nodes that serve it).
    pub async fn open_existing(url: &str, options: PgOptions) -> Result<Self> {
        let store = Self::connect(url, options)?;
        let conn = store.conn().await?;
        let version = schema::applied_version(&conn).await?;
        drop(conn);
        let known = schema::MIGRATIONS.len() as i64;
        if version != known {
            return Err(Error::InvalidState {
                name: store.display.clone(),
                reason: if version == 0 {
                    format!("{} holds no coffer store", store.display)
                } else {
                    format!(
                        "{} has schema version {version}, and this coffer reads version {known}: \
                         use the coffer version that serves it{}",
                        store.display,
                        if version < known {
                            " (or start this version's server on it once, which migrates it)"
                        } else {
                            ""
                        }
                    )
                },
            });
        }
        Ok(store)
    }

    /// Opens the pool for a database that is to receive a restore: applies no migration yet,
    /// so that the caller can look first ([`other_coffer_sessions`](Self::other_coffer_sessions),
    /// [`schema_state`](Self::schema_state)) and refuse a database in use without having
    /// changed it; [`migrate`](Self::migrate) then creates the schema.
    pub fn open_unmigrated(url: &str, options: PgOptions) -> Result<Self> {
        Self::connect(url, options)
    }

    /// The schema version coffer gave the database (0: none) and how many tables its schema
    /// (the first on the search path) holds, coffer's or not.
    pub async fn schema_state(&self) -> Result<(i64, u64)> {
        self.bounded("read schema", async {
            let c = self.conn().await?;
            let version = schema::applied_version(&c).await?;
            let row = c
                .query_one(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema()",
                    &[],
                )
                .await
                .map_err(|e| rows::pg_error("read schema", e))?;
            let tables: i64 = rows::col(&row, 0)?;
            Ok((version, tables.max(0) as u64))
        })
        .await
    }

    /// Applies the migrations the database has not had (see [`open`](Self::open)).
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        schema::migrate(&mut conn).await
    }

    /// How many other sessions of coffer (application name `coffer`, as coffer's nodes
    /// connect) are connected to this database now. Counts this store's own pooled
    /// connections too, apart from the one asking: a tool that wants to know whether nodes
    /// still serve the database opens the store with one connection.
    pub async fn other_coffer_sessions(&self) -> Result<u64> {
        self.bounded("count sessions", async {
            let c = self.conn().await?;
            let row = c
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND application_name = 'coffer'",
                    &[],
                )
                .await
                .map_err(|e| rows::pg_error("count sessions", e))?;
            let n: i64 = rows::col(&row, 0)?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    /// The pool, without touching the database yet.
    fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            // The parser's message names the part it could not read, never the password.
            Error::internal(format!("postgres: the database URL is not valid: {e}"))
        })?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            // Said up front: the handshake error alone would not tell why.
            return Err(Error::internal(
                "postgres: the database URL asks for TLS (sslmode=require), which coffer does \
                 not speak to PostgreSQL yet; use sslmode=disable or prefer on a trusted network",
            ));
        }
        config.connect_timeout(options.connect_timeout);
        // A peer that vanished (a partition, a dead host) is noticed within the call bound,
        // not after the kernel's two hours of keepalive silence: probes start after 2 idle
        // seconds, and the user timeout closes a connection whose data or probes go
        // unanswered that long.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(2));
        config.keepalives_interval(Duration::from_secs(1));
        #[cfg(target_os = "linux")]
        config.tcp_user_timeout(options.operation_timeout);
        if config.get_application_name().is_none() {
            config.application_name("coffer");
        }
        // Session settings ahead of the URL's own `options`, so that an operator's explicit
        // choice (given later) wins. `synchronous_commit = on`: an acknowledged write is on
        // disk whatever the server's default.
        let statement_ms = options.statement_timeout.as_millis();
        let idle_ms = options.operation_timeout.as_millis() * 2;
        let ours = format!(
            "-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={idle_ms} \
             -c synchronous_commit=on"
        );
        let session = match config.get_options() {
            Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
            _ => ours,
        };
        // Replay records are written by every signed request, reads included. Their commits
        // need not wait for the disk: see `cluster` for what a PostgreSQL crash can cost.
        let mut replay_config = config.clone();
        replay_config.options(format!("{session} -c synchronous_commit=off"));
        config.options(session);
        let display = describe(&config);
        let pool = build_pool(config, options.max_connections, &options)?;
        let replay_pool = build_pool(
            replay_config,
            (options.max_connections / 2).max(2),
            &options,
        )?;
        Ok(Self {
            pool,
            replay_pool,
            options,
            display,
            cache: cache::SecretCache::default(),
            probe: cache::RevisionProbe::new(
                "SELECT id, revision FROM secrets WHERE id = ANY($1)",
                "check cached secrets",
            ),
            keys: cache::KeyCache::default(),
            key_probe: cache::RevisionProbe::new(
                "SELECT id, revision FROM keys WHERE id = ANY($1)",
                "check cached keys",
            ),
            replay_writer: cluster::ReplayWriter::default(),
        })
    }

    /// Closes the pool: connections are closed as calls give them back, and later calls
    /// fail. Idempotent.
    pub async fn close(&self) {
        self.pool.close();
        self.replay_pool.close();
    }

    /// The database this store uses, without its password.
    pub fn database(&self) -> &str {
        &self.display
    }

    /// What went wrong taking a connection, in the driver's words.
    fn pool_failure(&self, e: PoolError) -> String {
        match e {
            PoolError::Timeout(_) => format!(
                "no connection to {} within {:?}",
                self.display, self.options.acquire_timeout
            ),
            PoolError::Backend(e) => format!("{}: {}", self.display, with_causes(&e)),
            PoolError::Closed => "the store is closed".to_string(),
            other => format!("{}: {other}", self.display),
        }
    }

    /// A pooled connection, or [`Error::Unavailable`] when none can be had in time.
    async fn conn(&self) -> Result<Object> {
        self.conn_from(&self.pool).await
    }

    /// A connection of `pool` (this store's, or its replay records' own).
    async fn conn_from(&self, pool: &Pool) -> Result<Object> {
        pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) if e.as_db_error().is_some() => rows::pg_error("connect", e),
            e @ PoolError::Timeout(_) => {
                let detail = self.pool_failure(e);
                timed_out("connect", detail)
            }
            e => {
                let detail = self.pool_failure(e);
                unavailable("connect", detail)
            }
        })
    }

    /// Runs one store call with the [`PgOptions::operation_timeout`] bound.
    async fn bounded<T>(&self, what: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
        let bound = self.options.operation_timeout;
        match tokio::time::timeout(bound, call).await {
            Ok(result) => result,
            Err(_) => {
                // The call's connection went back to the pool with a statement unanswered.
                // It, and any other connection not taken within the bound, is closed rather
                // than handed to the next call, which would queue behind that statement.
                self.pool.retain(|_, metrics| metrics.last_used() < bound);
                self.replay_pool
                    .retain(|_, metrics| metrics.last_used() < bound);
                Err(timed_out(
                    what,
                    format!(
                        "{} did not answer within {:?}",
                        self.display, self.options.operation_timeout
                    ),
                ))
            }
        }
    }
}

/// The pool's check of a connection about to be handed out (after `is_closed`): one that
/// was last taken more than `idle` ago must answer an empty query within `within`, or it is
/// dropped and the pool tries the next or opens a new one. A connection the database
/// restarted under is usually closed already; this catches the ones whose end never
/// arrived (a network path that died, a database moved to another host), without a round
/// trip on the busy connections of a loaded node.
fn verify_idle<'a>(
    client: &'a mut ClientWrapper,
    metrics: &'a Metrics,
    idle: Duration,
    within: Duration,
) -> std::pin::Pin<Box<dyn Future<Output = std::result::Result<(), HookError>> + Send + 'a>> {
    Box::pin(async move {
        if metrics.last_used() < idle {
            return Ok(());
        }
        match tokio::time::timeout(within, client.simple_query("")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(HookError::Backend(e)),
            Err(_) => Err(HookError::Message(
                "an idle connection did not answer".into(),
            )),
        }
    })
}

/// `pg_read!(store, "what", |c| future)`: runs `future`, which reads through `c`, a pooled
/// connection (each statement its own snapshot), bounded like every call.
macro_rules! pg_read {
    ($store:expr, $what:expr, |$c:ident| $body:expr) => {
        $store.bounded($what, async {
            let $c = $store.conn().await?;
            $body.await
        })
    };
}

/// `pg_write!(store, "what", |tx| future)`: runs `future` in a transaction `tx`, committing when
/// it succeeds and rolling back when it fails, bounded like every call.
macro_rules! pg_write {
    ($store:expr, $what:expr, |$tx:ident| $body:expr) => {
        $store.bounded($what, async {
            coffer_core::store::request_writes();
            let mut conn = $store.conn().await?;
            let $tx = $crate::postgres::rows::begin(&mut conn).await?;
            let result = $body.await;
            $crate::postgres::rows::finish($tx, result).await
        })
    };
}

pub(crate) use {pg_read, pg_write};
