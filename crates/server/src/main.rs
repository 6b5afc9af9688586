//! `coffer`: the server binary.

mod admin_cli;
mod audit_limit;
mod backup_cli;
mod cluster;
mod config;
mod config_file;
mod http;
mod intake;
mod limits;
mod listener;
mod log_filter;
mod ops;
mod private;
mod rates;
mod replay_state;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use coffer_api::Dialect as _;
use coffer_auth::replay::ReplayStart;
use coffer_core::{RegionMap, Service, SystemClock};
use coffer_crypto::{RootKeyFile, SecretKey};
use zeroize::Zeroizing;

use config::{Cli, Command, LogFormat, ProjectCommand, ServeArgs};

/// mimalloc instead of the system allocator: a request allocates many small short-lived
/// buffers, and glibc's malloc/free took about a tenth of the server's CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Client addresses whose unauthenticated failures are counted apart (about 100 bytes each).
const UNAUTHENTICATED_SOURCES: usize = 65_536;

fn main() -> anyhow::Result<()> {
    // Before clap reads the environment, and while the process has one thread: the file's
    // settings become the COFFER_* variables that are not set already.
    let config_file = config_file::apply(&std::env::args_os().collect::<Vec<_>>())?;
    let cli = Cli::parse();
    // rustls is built with two providers (aws-lc-rs, and ring for the admin commands' HTTP
    // client), so code that asks rustls for "the" provider needs one named for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Serve(args) => {
            // Before anything is created, and before any thread exists (see
            // `private::take_env_secret`).
            private::restrict_umask();
            let secrets = EnvSecrets {
                root_key: private::take_env_secret("COFFER_ROOT_KEY")?,
                bootstrap_secret: private::take_env_secret("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET")?,
            };
            init_logging(args.log_format, &args.log)?;
            if let Some(path) = &config_file {
                tracing::info!(file = %path.display(), "settings read from the config file (where no flag or COFFER_* variable gave them)");
            }
            for (name, taken) in [
                ("COFFER_ROOT_KEY", &secrets.root_key),
                (
                    "COFFER_BOOTSTRAP_ACCESS_KEY_SECRET",
                    &secrets.bootstrap_secret,
                ),
            ] {
                if let Some(why) = taken.as_ref().and_then(|t| t.left_behind.as_ref()) {
                    tracing::warn!(
                        variable = name,
                        reason = %why,
                        "removed from the environment, but the copy the process started with could not be wiped: processes of the same user can read it in /proc/<pid>/environ"
                    );
                }
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(serve(args, secrets))
        }
        Command::Project(ProjectCommand::List {
            data_dir,
            database_url,
            json,
        }) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(list_projects(&data_dir, database_url.as_deref(), json))
        }
        Command::Backup(args) => {
            // The backup file and a restored database are the server's kind of files.
            private::restrict_umask();
            backup_cli::backup(&args)
        }
        Command::Restore(args) => {
            private::restrict_umask();
            backup_cli::restore(&args)
        }
        Command::Migrate(args) => {
            private::restrict_umask();
            backup_cli::migrate(&args)
        }
        Command::Config(config::ConfigCommand::Check { file }) => match config_file::check(&file) {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                Ok(())
            }
            Err(e) => {
                eprintln!("coffer: {e:#}");
                std::process::exit(2);
            }
        },
        Command::Account { client, command } => admin_cli::account(&client, &command),
        Command::AccessKey { client, command } => admin_cli::access_key(&client, &command),
        Command::Policy { client, command } => admin_cli::policy(&client, &command),
        Command::Admin { client, command } => admin_cli::admin(&client, &command),
        Command::DbInstance { client, command } => admin_cli::db_instance(&client, &command),
        Command::Audit { client, command } => {
            let code = admin_cli::audit(&client, &command)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
    }
}

/// The store a command opened: the embedded SQLite file or a shared PostgreSQL database.
enum OpenStore {
    Sqlite(Arc<coffer_store::SqliteStore>),
    Postgres(Arc<coffer_store::PgStore>),
}

impl OpenStore {
    /// Opens PostgreSQL when a database URL is given, else `<data-dir>/coffer.db` with
    /// `sqlite` options.
    async fn open(
        data_dir: &Path,
        database_url: Option<&str>,
        sqlite: coffer_store::SqliteOptions,
    ) -> anyhow::Result<Self> {
        match database_url {
            Some(url) => {
                let store = coffer_store::PgStore::open(url, coffer_store::PgOptions::default())
                    .await
                    .context("opening the PostgreSQL store (--database-url)")?;
                Ok(Self::Postgres(Arc::new(store)))
            }
            None => {
                let db = data_dir.join("coffer.db");
                let store = coffer_store::SqliteStore::open(&db, sqlite)
                    .with_context(|| format!("opening {}", db.display()))?;
                Ok(Self::Sqlite(Arc::new(store)))
            }
        }
    }

    fn store(&self) -> Arc<dyn coffer_core::Store> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    /// Commits what is queued (SQLite) or closes the pool (PostgreSQL).
    async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}

/// Prints every account's Huawei project ids, straight from the database.
async fn list_projects(
    data_dir: &Path,
    database_url: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if database_url.is_none() && !data_dir.join("coffer.db").exists() {
        bail!(
            "no database at {} (has the server run with this --data-dir? A server on \
             PostgreSQL needs --database-url here too)",
            data_dir.join("coffer.db").display()
        );
    }
    // Only reads, and usually beside a running server: no exclusive lock.
    let options = coffer_store::SqliteOptions {
        exclusive: false,
        ..Default::default()
    };
    let opened = OpenStore::open(data_dir, database_url, options).await?;
    let store = opened.store();
    let mut rows = vec![];
    for account in store.list_accounts().await? {
        for p in store.list_projects(account.id).await? {
            rows.push((account.id, p.scope.region, p.id));
        }
    }
    opened.close().await;
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(a, r, p)| serde_json::json!({"AccountId": a.to_string(), "Region": r, "ProjectId": p}))
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        println!("{:<20} {:<16} PROJECT ID", "ACCOUNT", "REGION");
        for (a, r, p) in rows {
            println!("{:<20} {:<16} {p}", a.to_string(), r);
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let statements_capped = log_filter::statements_capped();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .finish()
            .with(statements_capped)
            .init(),
        LogFormat::Text => builder.finish().with(statements_capped).init(),
    }
    Ok(())
}

/// Secrets the server was given in its environment, taken out of it before anything else.
struct EnvSecrets {
    root_key: Option<private::EnvSecret>,
    bootstrap_secret: Option<private::EnvSecret>,
}

/// Where the root key came from: a file (which a root key rotation may replace; with the key
/// of a rotation left unfinished, if any) or the environment.
struct RootKey {
    key: SecretKey,
    file: Option<(RootKeyFile, Option<SecretKey>)>,
    /// The key file this start created (`<data-dir>/root.key` on a first start): removed
    /// again if the store turns out to need another key, so that it is not mistaken later
    /// for the store's key.
    created: Option<PathBuf>,
    /// Where the key came from, for messages.
    source: String,
}

/// What to do about a root key file that cannot be used.
const ROOT_KEY_HELP: &str = "a root key file holds 32 bytes, or their base64, readable by the \
     server's user only (mode 0600); restore the one this store was created or last rewrapped \
     with from your backup, or give it with --root-key-file or COFFER_ROOT_KEY";

/// The root key: `--root-key-file`, else `COFFER_ROOT_KEY` (base64), else `<data-dir>/root.key`
/// created with mode 0600 on first start. A key file that group or others may read or write
/// is refused, and so is a `.next` whose owner or mode differ from the key file's.
fn load_root_key(
    args: &ServeArgs,
    from_env: Option<&private::EnvSecret>,
) -> anyhow::Result<RootKey> {
    let mut created = None;
    let (key, file, source) = if let Some(path) = &args.root_key_file {
        let key = SecretKey::load_file(path).with_context(|| {
            format!(
                "reading --root-key-file {}: {ROOT_KEY_HELP}",
                path.display()
            )
        })?;
        (key, RootKeyFile::new(path), path.display().to_string())
    } else if let Some(text) = from_env {
        let key = SecretKey::from_base64(&text.value)
            .context("COFFER_ROOT_KEY must be base64 of 32 bytes")?;
        return Ok(RootKey {
            key,
            file: None,
            created: None,
            source: "COFFER_ROOT_KEY".into(),
        });
    } else {
        let path = args.data_dir.join("root.key");
        let database = args.data_dir.join("coffer.db");
        // A store without its key opens nothing: creating a new key here would only leave a
        // wrong one behind, and the message would be about the wrong key instead of the
        // missing one.
        if args.database_url.is_none()
            && database.exists()
            && std::fs::symlink_metadata(&path).is_err()
        {
            bail!(
                "the root key {} is missing, but {} holds a store encrypted under it: restore \
                 the key file from your backup (mode 0600), or give the key with \
                 --root-key-file or COFFER_ROOT_KEY. coffer does not create a new root key for \
                 an existing store: it could not open anything in it",
                path.display(),
                database.display()
            );
        }
        let (key, new) = SecretKey::load_or_create_file(&path)
            .with_context(|| format!("reading the root key {}: {ROOT_KEY_HELP}", path.display()))?;
        if new {
            tracing::info!(path = %path.display(), "created a new root key");
            created = Some(path.clone());
        }
        let source = path.display().to_string();
        (key, RootKeyFile::new(path), source)
    };
    let next = file
        .load_next()
        .with_context(|| format!("reading {}", file.next_path().display()))?;
    if next.is_some() {
        tracing::warn!(
            next = %file.next_path().display(),
            "a root key rotation was left unfinished; serving with both keys until `coffer admin rewrap` finishes it"
        );
    }
    Ok(RootKey {
        key,
        file: Some((file, next)),
        created,
        source,
    })
}

fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))
}

async fn serve(args: ServeArgs, secrets: EnvSecrets) -> anyhow::Result<()> {
    let connection_limits = connection_limits(&args);
    let throttled = prometheus_client::metrics::family::Family::default();
    let ops = Arc::new(ops::Ops::new(
        ops::Metrics::new(throttled.clone()),
        args.metrics_public,
    ));
    // Opened first, so that a long start-up (a PostgreSQL server still coming up, a rewrap
    // being resumed) shows as alive but not ready rather than as a closed port.
    let (stop_ops, ops_stopped) = tokio::sync::watch::channel(false);
    let ops_listener = match args.metrics_listen {
        Some(addr) => {
            let listener = listener::bind(addr)
                .with_context(|| format!("listening on {addr} (--metrics-listen)"))?;
            tracing::info!(listen = %addr, "serving /metrics, /healthz and /readyz");
            let limits = listener::ConnectionLimits {
                max_connections: 64,
                max_per_address: 64,
                ..connection_limits.clone()
            };
            let mut stopped = ops_stopped.clone();
            Some(tokio::spawn(listener::serve(
                listener,
                ops::dedicated(&ops),
                limits,
                None,
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };
    create_data_dir(&args.data_dir)?;
    private::tighten_data_dir(&args.data_dir)?;
    let tls = start_tls(&args)?;
    let root_key = load_root_key(&args, secrets.root_key.as_ref())?;
    let (created_root_key, root_key_source) = (root_key.created.clone(), root_key.source.clone());
    let mut regions = RegionMap::new(args.default_region.clone());
    for spec in &args.regions {
        if let Err(e) = regions.add_spec(spec) {
            bail!("--region: {e}");
        }
    }
    let db_hosts = coffer_dialect_native::DbHostAllowList::parse(&args.db_hosts_allowed)
        .map_err(|e| anyhow::anyhow!("--db-hosts-allowed: {e}"))?;
    // Before the store creates its files: a data dir that held neither a store nor an audit
    // log has never served a request (see `replay_state`).
    let new_data_dir = ["coffer.db", "audit.log"]
        .iter()
        .all(|f| !args.data_dir.join(f).exists());
    if args.database_url.is_none() {
        replay_state::check_writable(&args.data_dir)?;
    }
    // Only the test that shows the power-loss test catches a server whose commits are not
    // synced sets this; the store logs a warning when it does.
    let sync_commits = std::env::var_os("COFFER_TEST_UNSYNCED_COMMITS").is_none();
    let limits = limits::resolve(args.limits, &args.limit, args.max_secrets_per_region)?;
    tracing::info!(profile = ?limits.profile, limits = %limits, "limits");
    let store = OpenStore::open(
        &args.data_dir,
        args.database_url.as_deref(),
        coffer_store::SqliteOptions {
            sync_commits,
            ..Default::default()
        },
    )
    .await?;
    // The audit log is keyed by a key derived from the root key in use; during a rotation left
    // unfinished that is the new one, and the log may still be under the old one.
    let (log_key, previous_log_key) = match &root_key.file {
        Some((_, Some(next))) => (
            coffer_store::audit::LogKey::from_root(next),
            Some(coffer_store::audit::LogKey::from_root(&root_key.key)),
        ),
        _ => (coffer_store::audit::LogKey::from_root(&root_key.key), None),
    };
    // The same keys again, for the console's check of the audit chain.
    let console_log_keys: Vec<coffer_store::audit::LogKey> = match &root_key.file {
        Some((_, Some(next))) => vec![
            coffer_store::audit::LogKey::from_root(next),
            coffer_store::audit::LogKey::from_root(&root_key.key),
        ],
        _ => vec![coffer_store::audit::LogKey::from_root(&root_key.key)],
    };
    // The replay records a clean stop left were written under the root key then in use: this
    // one, or the new key of a rotation left unfinished.
    let replay_keys: Vec<replay_state::FileKeys> = std::iter::once(&root_key.key)
        .chain(root_key.file.as_ref().and_then(|(_, next)| next.as_ref()))
        .map(replay_state::FileKeys::from_root)
        .collect();
    let mut service = Service::new(
        store.store(),
        root_key.key,
        Arc::new(SystemClock),
        limits.core.clone(),
    )
    .with_database_driver(Arc::new(coffer_rotation::Databases));
    // Crash tests stop rotations after a step so that they can kill the server right there.
    if let Ok(point) = std::env::var("COFFER_TEST_HALT_AFTER_STEP") {
        let point = coffer_core::service::HaltPoint::parse(&point).with_context(|| {
            format!("COFFER_TEST_HALT_AFTER_STEP={point:?}: use create, set or test")
        })?;
        tracing::warn!(?point, "rotations halt after this step (crash tests only)");
        service = service.with_halt_after(point);
    }
    if let Some((file, next)) = root_key.file {
        service = service.with_root_key_file(file, next);
    }
    // The operator account's AWS account number, taken when the first start creates it.
    let aws_account = std::env::var("COFFER_BOOTSTRAP_AWS_ACCOUNT_ID")
        .ok()
        .filter(|s| !s.is_empty());
    service = service
        .with_bootstrap_account_number(aws_account)
        .context("COFFER_BOOTSTRAP_AWS_ACCOUNT_ID must be 12 digits (an AWS account id)")?;
    let node = cluster::node_name(args.node_name.as_deref(), args.listen);
    service = service.with_node(node.clone(), Duration::from_secs(args.lease_secs));
    let store_name = match &store {
        OpenStore::Sqlite(s) => format!("the database {}", s.path().display()),
        OpenStore::Postgres(s) => format!("the PostgreSQL database {}", s.database()),
    };
    let wrong_root_key = || {
        format!(
            "the root key does not open {store_name} (the key from {root_key_source}): use the \
             root key the store was created or last rewrapped with (restore that key file from \
             your backup, or give it with --root-key-file or COFFER_ROOT_KEY); every node of a \
             store uses the same key"
        )
    };
    if let Err(e) = service.check_root_key().await {
        // A key made by this very start wraps nothing yet: leave no wrong key behind.
        if let Some(path) = &created_root_key {
            if let Err(rm) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %rm, "could not remove the root key this start created");
            }
        }
        return Err(anyhow::Error::new(e).context(wrong_root_key()));
    }
    let audit_path = args.data_dir.join("audit.log");
    let audit = Arc::new(
        coffer_store::FileAuditLog::open(&audit_path, log_key, previous_log_key)
            .with_context(|| format!("opening the audit log {}", audit_path.display()))?,
    );
    let service = Arc::new(service.with_audit(audit.clone()));
    bootstrap(
        &service,
        &args.data_dir,
        &args.default_region,
        secrets.bootstrap_secret.map(|s| s.value),
    )
    .await?;
    // Again now that the store holds keys for certain: on an empty database the first check
    // had nothing to open, and another node may have bootstrapped it with its own root key.
    service
        .check_root_key()
        .await
        .with_context(wrong_root_key)?;

    let shared = match &store {
        OpenStore::Postgres(pg) => Some(pg.clone()),
        OpenStore::Sqlite(_) => None,
    };
    // A single node's replay records: what the last clean stop left, or, when it left nothing,
    // a refusal of requests signed before now (`replay_state`). Shared records need neither.
    let handover = match shared {
        Some(_) => None,
        None => {
            Some(replay_state::start(&args.data_dir, new_data_dir, &replay_keys, &service).await?)
        }
    };
    drop(replay_keys);
    let (alibaba_start, tencent_start) = handover
        .map_or((ReplayStart::Fresh, ReplayStart::Fresh), |h| {
            (h.alibaba, h.tencent)
        });
    let mut alibaba = coffer_dialect_alibaba::Alibaba::new(service.clone(), regions.clone())
        .with_memory_replay(args.replay_cache_entries, alibaba_start)
        .with_secret_quota(limits.secret_quota(coffer_dialect_alibaba::Alibaba::NAME));
    let aws = coffer_dialect_aws::Aws::new(service.clone(), regions.clone())
        .with_secret_quota(limits.secret_quota(coffer_dialect_aws::Aws::NAME));
    let mut tencent = coffer_dialect_tencent::Tencent::new(service.clone(), regions)
        .with_memory_replay(args.replay_cache_entries, tencent_start)
        .with_secret_quota(limits.secret_quota(coffer_dialect_tencent::Tencent::NAME));
    if let Some(pg) = &shared {
        // Every node must refuse a request any node has seen: nonces and TC3 signatures are
        // recorded in the database instead of this process's memory.
        alibaba = alibaba.with_shared_replay(cluster::PgReplayLedger(pg.clone()));
        tencent = tencent.with_shared_replay(cluster::PgReplayLedger(pg.clone()));
    }
    let state = Arc::new(http::AppState {
        alibaba,
        tencent,
        aws,
        huawei: coffer_dialect_huawei::Huawei::new(service.clone())
            .with_secret_quota(limits.secret_quota(coffer_dialect_huawei::Huawei::NAME)),
        native: coffer_dialect_native::Native::new(
            service.clone(),
            audit.clone(),
            args.default_region.clone(),
        )
        .with_db_hosts(db_hosts),
        console: coffer_console::Console::new(
            service.clone(),
            audit.clone(),
            args.default_region.clone(),
            args.console_session_secs,
            args.tls.tls_self_signed || args.tls.tls_cert.is_some(),
        )
        .with_public_origin(args.console_public_origin.clone())
        .with_rates({
            let ops = ops.clone();
            Arc::new(move || ops.rates.rates(&ops.metrics))
        })
        .with_chain_check(console_chain_check(audit_path.clone(), console_log_keys)),
        service: service.clone(),
        audit: audit.clone(),
        gate: http::Gate::new(audit.clone())
            .with_rates(&limits.rates, Arc::new(SystemClock))
            .with_throttled(throttled),
        input: intake::InputLimits {
            max_body_bytes: args.max_body_bytes,
            max_uri_bytes: args.max_uri_bytes,
            max_headers: args.max_headers,
        },
        unauthenticated: audit_limit::UnauthenticatedAudit::new(
            args.audit_unauthenticated_per_sec,
            args.audit_unauthenticated_burst,
            UNAUTHENTICATED_SOURCES,
        ),
        ops: ops.clone(),
    });
    let summaries = http::spawn_summaries(state.clone(), Duration::from_secs(10));
    let rate_sampler = rates::spawn_sampler(ops.clone());
    let app = http::router(state.clone());
    let listener =
        listener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let reload = reload_on_sighup(tls.clone())?;
    let purge = cluster::spawn_purge(
        service.clone(),
        Duration::from_secs(args.purge_interval_secs),
        shared.clone(),
    );
    let audit_reporter = shared.as_ref().map(|pg| {
        cluster::spawn_audit_reporter(
            pg.clone(),
            audit.clone(),
            node.clone(),
            Duration::from_secs(1),
        )
    });
    let rotations = coffer_rotation::spawn_scheduler(
        service.clone(),
        audit.clone(),
        coffer_rotation::SchedulerOptions {
            every: Duration::from_secs(args.rotation_check_secs),
            ..Default::default()
        },
    );
    let database = match &store {
        OpenStore::Sqlite(s) => s.path().display().to_string(),
        OpenStore::Postgres(s) => s.database().to_string(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    if tls.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %args.listen,
            "serving plain HTTP on an address other machines can reach: requests, their signatures and the secret values in answers cross the network unencrypted; use --tls-cert/--tls-key or --tls-self-signed"
        );
    }
    ops.serving(service.clone(), audit.clone());
    tracing::info!(listen = %args.listen, scheme, data_dir = %args.data_dir.display(), %database, %node, "coffer is ready");
    let stopping = {
        let ops = ops.clone();
        async move {
            shutdown_signal().await;
            ops.stopping();
        }
    };
    listener::serve(
        listener,
        app,
        connection_limits,
        tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone())),
        stopping,
    )
    .await;
    let _ = stop_ops.send(true);
    if let Some(task) = ops_listener {
        let _ = task.await;
    }
    reload.abort();
    // Every request is answered: what the replay caches hold now is all this process saw.
    if shared.is_none() {
        let sections = [
            ("alibaba", state.alibaba.replay_state()),
            ("tencent", state.tencent.replay_state()),
        ];
        replay_state::stop(&args.data_dir, &service, sections);
    }
    purge.abort();
    rotations.abort();
    summaries.abort();
    rate_sampler.abort();
    http::flush_summaries(&state).await;
    if let Some(r) = audit_reporter {
        r.abort();
    }
    // So that another node takes the jobs over at once rather than when the leases lapse.
    service.release_leases().await;
    tracing::info!(
        throttled = state.gate.throttled_total(),
        "in-flight requests done; flushing the audit log and the store"
    );
    let closed = audit.close().await;
    if let Some(pg) = &shared {
        let location = cluster::audit_location(&audit);
        cluster::report_audit_head(pg, &audit, &node, &location, &mut None).await;
    }
    match closed {
        // Kept outside the data dir, this lets `coffer audit verify --anchor` tell whether
        // lines were later cut off the end of the log, which the file alone cannot show.
        Some(anchor) => tracing::info!(
            anchor = %anchor,
            "audit log closed; its anchor (keep it elsewhere; check with `coffer audit verify --anchor`)"
        ),
        None => tracing::info!("audit log closed; it is empty"),
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the open-file limit (logging both limits) and works out the connection limits.
fn connection_limits(args: &ServeArgs) -> listener::ConnectionLimits {
    let (files, error) = listener::raise_open_file_limit();
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
    if let Some(e) = error {
        tracing::warn!(soft = %show(files.soft), hard = %show(files.hard), error = %e, "could not raise the open-file limit to its hard limit");
    }
    let c = &args.connections;
    let max_connections = c
        .max_connections
        .unwrap_or_else(|| listener::default_max_connections(files.soft));
    let limits = listener::ConnectionLimits {
        max_connections,
        max_per_address: c.max_connections_per_address.min(max_connections),
        header_read_timeout: Duration::from_secs_f64(c.header_read_timeout_secs),
        idle_timeout: Duration::from_secs_f64(c.idle_timeout_secs),
        body_read_timeout: Duration::from_secs_f64(c.body_read_timeout_secs),
    };
    tracing::info!(
        soft_was = %show(files.soft_before),
        soft = %show(files.soft),
        hard = %show(files.hard),
        max_connections = limits.max_connections,
        max_connections_per_address = limits.max_per_address,
        header_read_timeout_secs = c.header_read_timeout_secs,
        idle_timeout_secs = c.idle_timeout_secs,
        body_read_timeout_secs = c.body_read_timeout_secs,
        "open-file limit and connection limits"
    );
    if let (Some(soft), Some(_)) = (files.soft, c.max_connections) {
        if max_connections as u64 + 64 > soft {
            tracing::warn!(
                max_connections,
                open_file_limit = soft,
                "--max-connections leaves fewer than 64 descriptors of the open-file limit for the store and the audit log"
            );
        }
    }
    limits
}

/// The certificate to serve HTTPS with, if any: the files given, or the data dir's
/// self-signed one (made on first start, its fingerprint printed then).
fn start_tls(args: &ServeArgs) -> anyhow::Result<Option<Arc<tls::Tls>>> {
    let files = if args.tls.tls_self_signed {
        let (files, made) = tls::self_signed(&args.data_dir, args.listen)?;
        Some((files, made))
    } else {
        match (&args.tls.tls_cert, &args.tls.tls_key) {
            (Some(cert), Some(key)) => Some((
                tls::CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                false,
            )),
            _ => None,
        }
    };
    let Some((files, made)) = files else {
        return Ok(None);
    };
    let tls = tls::Tls::from_files(files.clone())?;
    if made {
        let pem = std::fs::read(&files.cert).unwrap_or_default();
        let fingerprint = rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
            .next()
            .and_then(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.ok())
            .map(|c| tls::fingerprint(&c))
            .unwrap_or_default();
        // On stdout (logs go to stderr), like the bootstrap credentials, for whoever starts
        // the server to check what clients will see.
        println!(
            "coffer: made a self-signed TLS certificate: {}\n  SHA-256 fingerprint: {fingerprint}\n  (clients trust it with that file as their CA bundle)",
            files.cert.display()
        );
    }
    Ok(Some(Arc::new(tls)))
}

/// SIGHUP reloads the TLS certificate; without TLS it is logged and ignored (rather than
/// ending the process, the signal's default).
fn reload_on_sighup(tls: Option<Arc<tls::Tls>>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        if let Some(tls) = tls {
            return tls.spawn_reload_on_sighup();
        }
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: nothing to reload (no TLS certificate)");
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        Ok(tokio::spawn(async {}))
    }
}

/// First start: create the admin account and key. Generated credentials are written to
/// `<data-dir>/bootstrap-credentials` (0600) and printed once; credentials given through the
/// environment are neither written nor printed. `secret` is `COFFER_BOOTSTRAP_ACCESS_KEY_SECRET`,
/// already taken out of the environment.
async fn bootstrap(
    service: &Service,
    data_dir: &Path,
    region: &str,
    secret: Option<Zeroizing<String>>,
) -> anyhow::Result<()> {
    let id = std::env::var("COFFER_BOOTSTRAP_ACCESS_KEY_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let secret = secret.filter(|s| !s.is_empty());
    if id.is_some() != secret.is_some() {
        bail!("set both COFFER_BOOTSTRAP_ACCESS_KEY_ID and COFFER_BOOTSTRAP_ACCESS_KEY_SECRET, or neither");
    }
    let from_env = id.is_some();
    // Nodes started together on an empty database: one of them (the first to take the lease)
    // initialises it, the others wait for it and then find it initialised. A node that dies
    // holding the lease lets it lapse, and the next one finishes the first start.
    let wait = service.lease_ttl() * 2 + Duration::from_secs(30);
    let Some(_lease) = service
        .wait_for_lease(coffer_core::service::lease::BOOTSTRAP_LEASE, wait)
        .await?
    else {
        bail!(
            "another node held the first start's lease for over {}s; is it stuck? (its name is \
             in the database's leases table)",
            wait.as_secs()
        );
    };
    let Some((account, key_id, key_secret)) = service.bootstrap(id, secret).await? else {
        tracing::info!(
            node = %service.node_id(),
            "the store is initialised already (by another node, or an earlier start): no account created and no bootstrap credentials written here"
        );
        return Ok(());
    };
    tracing::info!(account = %account, access_key_id = %key_id, "created the admin account");
    // The admin account's Huawei project for the default region.
    let wanted = std::env::var("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let scope = coffer_core::Scope {
        account,
        region: region.to_string(),
    };
    let (project, _) = service
        .ensure_project(&scope, wanted.as_deref())
        .await
        .context("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID")?;
    tracing::info!(account = %account, region, project_id = %project.id, "created the admin account's project");
    if wanted.is_none() {
        let path = data_dir.join("huawei-project-id");
        coffer_crypto::write_private_file(&path, format!("{}\n", project.id).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if from_env {
        return Ok(());
    }
    let text = Zeroizing::new(format!(
        "account_id={account}\naccess_key_id={key_id}\naccess_key_secret={}\nhuawei_project_id={}\n",
        key_secret.as_str(),
        project.id
    ));
    let path = data_dir.join("bootstrap-credentials");
    coffer_crypto::write_private_file(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    // Printed once, to stdout (logs go to stderr), so an operator can capture it.
    println!(
        "coffer: admin account {account} created.\n  AccessKeyId:     {key_id}\n  AccessKeySecret: {}\n  Huawei project:  {}\n  (also saved to {}; this is shown only once)",
        key_secret.as_str(),
        project.id,
        path.display()
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// The console's audit chain check: the whole log verified as `coffer audit verify` does, with
/// the log keys of the root key this server started with. (After a root key rotation in this
/// run the log is checked with the start's keys, and says so if they no longer open it.)
/// A check reads the whole log, so one runs at a time and its result serves every page for
/// [`CHAIN_CHECK_REUSE`]: operators opening pages together cost one pass over the file.
fn console_chain_check(
    path: std::path::PathBuf,
    keys: Vec<coffer_store::audit::LogKey>,
) -> coffer_console::ChainCheck {
    type Checked = (std::time::Instant, Result<String, String>);
    let last: std::sync::Mutex<Option<Checked>> = std::sync::Mutex::new(None);
    Arc::new(move || {
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, result)) = &*last {
            if at.elapsed() < CHAIN_CHECK_REUSE {
                return result.clone();
            }
        }
        let result = match coffer_store::audit::verify_with(&path, &keys, None) {
            Ok(report) => Ok(format!(
                "intact: {} entries, each naming the one before it",
                report.entries
            )),
            Err(e) => Err(format!("the chain does not hold: {e}")),
        };
        *last = Some((std::time::Instant::now(), result.clone()));
        result
    })
}

/// How long one console chain check answers for every page.
const CHAIN_CHECK_REUSE: std::time::Duration = std::time::Duration::from_secs(10);
