//! `coffer-bench seed`: fills a stopped server's data dir with secrets, straight through the
//! core service (so every value is encrypted and every row written exactly as the API would
//! write it) but without HTTP, signatures or the audit log in the way. Many creates are in
//! flight at once so that the store's group commit batches them. It opens the embedded SQLite
//! store only; a server on PostgreSQL (`--database-url`) is filled through the API
//! (`coffer-bench populate`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use coffer_core::service::{CreateSecret, PutValue, WhenExists, WhenFull};
use coffer_core::{
    AccountStore, Limits, Scope, SecretKind, SecretValue, Service, SystemClock, Tag,
};
use coffer_crypto::SecretKey;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The data dir of a coffer that has started once and is stopped now.
    #[arg(long, default_value = "./coffer-data")]
    pub data_dir: PathBuf,
    /// The root key file, when the server is not using `<data-dir>/root.key`.
    #[arg(long)]
    pub root_key_file: Option<PathBuf>,
    /// How many secrets to create.
    #[arg(long)]
    pub secrets: u64,
    /// Versions per secret (the first at creation, the rest put after it).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=10))]
    pub versions: u64,
    /// Tags per secret.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=20))]
    pub tags: u64,
    /// The coffer region (not a cloud region id): `default` unless the server maps regions.
    #[arg(long, default_value = "default")]
    pub region: String,
    /// The account; by default the operator account the first start created.
    #[arg(long)]
    pub account: Option<u64>,
    /// Names are `<prefix><number>`, numbered from 000000.
    #[arg(long, default_value = "seed-")]
    pub prefix: String,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
}

pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let db = args.data_dir.join("coffer.db");
    if !db.exists() {
        bail!(
            "no database at {} (start coffer once with this --data-dir, then stop it; \
             seed fills the embedded SQLite store only, not a PostgreSQL database)",
            db.display()
        );
    }
    let root_key = match (&args.root_key_file, std::env::var("COFFER_ROOT_KEY")) {
        (Some(path), _) => SecretKey::load_file(path).context("reading --root-key-file")?,
        (None, Ok(text)) => SecretKey::from_base64(&Zeroizing::new(text))
            .context("COFFER_ROOT_KEY must be base64 of 32 bytes")?,
        (None, Err(_)) => SecretKey::load_file(&args.data_dir.join("root.key"))
            .context("reading <data-dir>/root.key")?,
    };
    let store = Arc::new(
        coffer_store::SqliteStore::open(&db, coffer_store::SqliteOptions::default())
            .with_context(|| format!("opening {}", db.display()))?,
    );
    let account = match args.account {
        Some(id) => coffer_core::AccountId(id),
        None => store
            .list_accounts()
            .await?
            .into_iter()
            .find(|a| a.operator)
            .map(|a| a.id)
            .context("the store has no operator account (has the server started once?)")?,
    };
    let limits = Limits {
        max_secrets_per_scope: u64::MAX,
        ..Limits::default()
    };
    let service = Arc::new(Service::new(
        store.clone(),
        root_key,
        Arc::new(SystemClock),
        limits,
    ));
    service
        .check_root_key()
        .await
        .context("the root key does not fit this data dir")?;
    let scope = Scope {
        account,
        region: args.region.clone(),
    };

    let bar = indicatif::ProgressBar::new(args.secrets);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} seeding [{bar:40}] {pos}/{len} secrets, {per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let args = Arc::new(args);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (service, scope, next, bar, args) = (
            service.clone(),
            scope.clone(),
            next.clone(),
            bar.clone(),
            args.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.secrets {
                    return Ok::<(), anyhow::Error>(());
                }
                seed_one(&service, &scope, &args, i).await?;
                bar.inc(1);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} secrets ({} versions, {} tags each) in {seconds:.1} s: {:.0} secrets/s",
        args.secrets,
        args.versions,
        args.tags,
        args.secrets as f64 / seconds
    );
    store.close().await;
    Ok(())
}

async fn seed_one(service: &Service, scope: &Scope, args: &SeedArgs, i: u64) -> anyhow::Result<()> {
    let name = format!("{}{i:06}", args.prefix);
    let tags = (0..args.tags)
        .map(|t| Tag {
            key: format!("tag{t}"),
            value: format!("value{}", (i + t) % 100),
        })
        .collect();
    let created = service
        .create_secret(
            scope,
            CreateSecret {
                name: name.clone(),
                description: format!("seeded secret {i}"),
                kind: SecretKind::Generic,
                key: None,
                tags,
                version_id: "v1".into(),
                value: value(i, 1),
                extended_config: None,
                policy: None,
                subscriptions: vec![],
            },
        )
        .await;
    match created {
        Ok(_) => {}
        // Seeding again over the same names adds nothing.
        Err(coffer_core::Error::AlreadyExists { .. }) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("creating {name}")),
    }
    for v in 2..=args.versions {
        service
            .put_value(
                scope,
                &name,
                PutValue {
                    version_id: format!("v{v}"),
                    value: value(i, v),
                    stages: None,
                    when_full: WhenFull::PruneUnstaged,
                    max_versions: 100,
                    max_stages: 100,
                    expires_at: None,
                    when_exists: WhenExists::CompareValue,
                },
            )
            .await
            .with_context(|| format!("adding version {v} to {name}"))?;
    }
    Ok(())
}

fn value(i: u64, version: u64) -> SecretValue {
    SecretValue::Text(Zeroizing::new(format!(
        "{{\"user\":\"app{i}\",\"password\":\"seeded-{i}-{version}\"}}"
    )))
}
