//! `coffer`: the server binary.

mod admin_cli;
mod backup_cli;
mod cluster;
mod config;
mod config_file;
mod http;
mod limits;
mod private;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use coffer_api::Dialect as _;
use coffer_core::{RegionMap, Service, SystemClock};
use coffer_crypto::{RootKeyFile, SecretKey};
use zeroize::Zeroizing;

use config::{Cli, Command, LogFormat, ProjectCommand, ServeArgs};

/// mimalloc instead of the system allocator: a request allocates many small short-lived
/// buffers, and glibc's malloc/free took about a tenth of the server's CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Before clap reads the environment, and while the process has one thread: the file's
    // settings become the COFFER_* variables that are not set already.
    let config_file = config_file::apply(&std::env::args_os().collect::<Vec<_>>())?;
    let cli = Cli::parse();
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
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
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
}

/// The root key: `--root-key-file`, else `COFFER_ROOT_KEY` (base64), else `<data-dir>/root.key`
/// created with mode 0600 on first start. A key file that group or others may read or write
/// is refused, and so is a `.next` whose owner or mode differ from the key file's.
fn load_root_key(
    args: &ServeArgs,
    from_env: Option<&private::EnvSecret>,
) -> anyhow::Result<RootKey> {
    let file = if let Some(path) = &args.root_key_file {
        let key = SecretKey::load_file(path).context("reading --root-key-file")?;
        (key, RootKeyFile::new(path))
    } else if let Some(text) = from_env {
        let key = SecretKey::from_base64(&text.value)
            .context("COFFER_ROOT_KEY must be base64 of 32 bytes")?;
        return Ok(RootKey { key, file: None });
    } else {
        let path = args.data_dir.join("root.key");
        let (key, created) =
            SecretKey::load_or_create_file(&path).context("reading the root key")?;
        if created {
            tracing::info!(path = %path.display(), "created a new root key");
        }
        (key, RootKeyFile::new(path))
    };
    let (key, file) = file;
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
    create_data_dir(&args.data_dir)?;
    private::tighten_data_dir(&args.data_dir)?;
    let root_key = load_root_key(&args, secrets.root_key.as_ref())?;
    let mut regions = RegionMap::new(args.default_region.clone());
    for spec in &args.regions {
        if let Err(e) = regions.add_spec(spec) {
            bail!("--region: {e}");
        }
    }
    let db_hosts = coffer_dialect_native::DbHostAllowList::parse(&args.db_hosts_allowed)
        .map_err(|e| anyhow::anyhow!("--db-hosts-allowed: {e}"))?;
    let limits = limits::resolve(args.limits, &args.limit, args.max_secrets_per_region)?;
    tracing::info!(profile = ?limits.profile, limits = %limits, "limits");
    let store = OpenStore::open(
        &args.data_dir,
        args.database_url.as_deref(),
        coffer_store::SqliteOptions::default(),
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
    let node = cluster::node_name(args.node_name.as_deref(), args.listen);
    service = service.with_node(node.clone(), Duration::from_secs(args.lease_secs));
    let store_name = match &store {
        OpenStore::Sqlite(s) => format!("the database {}", s.path().display()),
        OpenStore::Postgres(s) => format!("the PostgreSQL database {}", s.database()),
    };
    let wrong_root_key = || {
        format!(
            "the root key does not open {store_name}: every node of a store must use the root \
             key the store was last rewrapped with (copy that key file to this node, or give it \
             with --root-key-file or COFFER_ROOT_KEY)"
        )
    };
    service
        .check_root_key()
        .await
        .with_context(wrong_root_key)?;
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

    let mut alibaba = coffer_dialect_alibaba::Alibaba::new(service.clone(), regions.clone())
        .with_replay_capacity(args.replay_cache_entries)
        .with_secret_quota(limits.secret_quota(coffer_dialect_alibaba::Alibaba::NAME));
    let mut tencent = coffer_dialect_tencent::Tencent::new(service.clone(), regions)
        .with_replay_capacity(args.replay_cache_entries)
        .with_secret_quota(limits.secret_quota(coffer_dialect_tencent::Tencent::NAME));
    let shared = match &store {
        OpenStore::Postgres(pg) => Some(pg.clone()),
        OpenStore::Sqlite(_) => None,
    };
    if let Some(pg) = &shared {
        // Every node must refuse a request any node has seen: nonces and TC3 signatures are
        // recorded in the database instead of this process's memory.
        alibaba = alibaba.with_shared_replay(cluster::PgReplayLedger(pg.clone()));
        tencent = tencent.with_shared_replay(cluster::PgReplayLedger(pg.clone()));
    }
    let state = Arc::new(http::AppState {
        alibaba,
        tencent,
        huawei: coffer_dialect_huawei::Huawei::new(service.clone())
            .with_secret_quota(limits.secret_quota(coffer_dialect_huawei::Huawei::NAME)),
        native: coffer_dialect_native::Native::new(
            service.clone(),
            audit.clone(),
            args.default_region.clone(),
        )
        .with_db_hosts(db_hosts),
        service: service.clone(),
        audit: audit.clone(),
        gate: http::Gate::new(audit.clone()).with_rates(&limits.rates, Arc::new(SystemClock)),
    });
    let app = http::router(state.clone(), args.max_body_bytes)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
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
    tracing::info!(listen = %args.listen, data_dir = %args.data_dir.display(), %database, %node, "coffer is ready");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    purge.abort();
    rotations.abort();
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
