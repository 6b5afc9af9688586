//! `coffer backup`, `coffer restore` and `coffer migrate`: whole stores into files, files into
//! empty stores, and one kind of store into the other. The work is the stores' (their
//! `BackupStore` area) and `coffer_store::backup`'s (the file format); this module finds the
//! stores and the root key, draws progress, and says what the operator must copy by hand.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use coffer_core::store::{
    BackupCounts, BackupItem, BackupStore, ExportSink, ImportSource, SnapshotInfo,
};
use coffer_crypto::{RootKeyFile, SecretKey};
use coffer_store::backup::{self, BackupReader, BackupWriter, RootKeys};
use coffer_store::{PgOptions, PgStore, SqliteOptions, SqliteStore};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::config::{BackupArgs, MigrateArgs, RestoreArgs};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// One connection: enough for a tool, and what lets `other_coffer_sessions` count only
/// others.
fn pg_options() -> PgOptions {
    PgOptions {
        max_connections: 1,
        ..PgOptions::default()
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The root key as `serve` reads it: `--root-key-file`, else `COFFER_ROOT_KEY`, else
/// `root.key` in the first of `dirs` that has one (never created here). With a key file, its
/// `.next` (a root key rotation left unfinished) is taken too.
fn root_keys(file: Option<&Path>, dirs: &[&Path]) -> anyhow::Result<(RootKeys, String)> {
    let path = if let Some(path) = file {
        path.to_path_buf()
    } else if let Ok(text) = std::env::var("COFFER_ROOT_KEY") {
        let text = Zeroizing::new(text);
        let key =
            SecretKey::from_base64(&text).context("COFFER_ROOT_KEY must be base64 of 32 bytes")?;
        return Ok((RootKeys::new(key, None), "COFFER_ROOT_KEY".into()));
    } else {
        match dirs.iter().map(|d| d.join("root.key")).find(|p| p.exists()) {
            Some(p) => p,
            None => bail!(
                "no root key: a backup is authenticated with the root key, and the store's key \
                 material must open under it. Give it with --root-key-file or COFFER_ROOT_KEY{}",
                match dirs.first() {
                    Some(d) => format!(", or keep it at {}", d.join("root.key").display()),
                    None => String::new(),
                }
            ),
        }
    };
    let key = SecretKey::load_file(&path)
        .with_context(|| format!("reading the root key {}", path.display()))?;
    let root_file = RootKeyFile::new(&path);
    let next = root_file
        .load_next()
        .with_context(|| format!("reading {}", root_file.next_path().display()))?;
    let source = match &next {
        Some(_) => format!(
            "{} and {} (a root key rotation is unfinished)",
            path.display(),
            root_file.next_path().display()
        ),
        None => path.display().to_string(),
    };
    Ok((RootKeys::new(key, next), source))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} items ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_message(what.to_string());
    b
}

/// An export sink that moves a progress bar.
struct ShowExport<S> {
    inner: S,
    bar: ProgressBar,
}

#[async_trait::async_trait]
impl<S: ExportSink> ExportSink for ShowExport<S> {
    async fn begin(&mut self, info: &SnapshotInfo) -> coffer_core::Result<()> {
        self.bar.set_length(info.counts.items());
        self.inner.begin(info).await
    }
    async fn item(&mut self, item: BackupItem) -> coffer_core::Result<()> {
        self.inner.item(item).await?;
        self.bar.inc(1);
        Ok(())
    }
}

/// An import source that moves a progress bar.
struct ShowImport<S> {
    inner: S,
    bar: ProgressBar,
}

#[async_trait::async_trait]
impl<S: ImportSource> ImportSource for ShowImport<S> {
    async fn next(&mut self) -> coffer_core::Result<Option<BackupItem>> {
        let item = self.inner.next().await?;
        if item.is_some() {
            self.bar.inc(1);
        }
        Ok(item)
    }
}

/// Where a store is: a data dir's SQLite file or a PostgreSQL database.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    DataDir(PathBuf),
    Url(String),
}

impl Location {
    fn parse(text: &str) -> Self {
        let lower = text.trim().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Location::Url(text.trim().to_string())
        } else {
            Location::DataDir(PathBuf::from(text))
        }
    }

    fn of(data_dir: &Path, url: Option<&str>) -> Self {
        match url {
            Some(u) => Location::Url(u.to_string()),
            None => Location::DataDir(data_dir.to_path_buf()),
        }
    }

    /// For messages: the data dir, or the database without its password.
    fn describe(&self) -> String {
        match self {
            Location::DataDir(d) => d.display().to_string(),
            Location::Url(u) => coffer_store::postgres::describe_url(u),
        }
    }
}

/// A store opened to be written by a restore or a migration.
enum Target {
    Sqlite {
        store: Arc<SqliteStore>,
        /// The database file, when this run created it (removed again if nothing is written).
        created: Option<PathBuf>,
    },
    Postgres(Arc<PgStore>),
}

impl Target {
    /// Opens the target and refuses one that holds anything, or that coffer still serves.
    async fn open(at: &Location) -> anyhow::Result<Self> {
        let target = match at {
            Location::DataDir(dir) => {
                create_private_dir(dir)?;
                let db = dir.join("coffer.db");
                let created = (!db.exists()).then(|| db.clone());
                let store = SqliteStore::open(&db, SqliteOptions::default())
                    .with_context(|| format!("opening {}", db.display()))?;
                Target::Sqlite {
                    store: Arc::new(store),
                    created,
                }
            }
            Location::Url(url) => {
                // Look before changing anything: a database in use, of another schema, or
                // holding tables that are not coffer's is refused as it was found.
                let store = PgStore::open_unmigrated(url, pg_options())?;
                let refusal = async {
                    let others = store.other_coffer_sessions().await?;
                    if others > 0 {
                        bail!(
                            "{} has {others} other coffer session(s) connected: stop every \
                             node that uses it before restoring into it",
                            at.describe()
                        );
                    }
                    let known = coffer_store::postgres::POSTGRES_MIGRATIONS.len() as i64;
                    match store.schema_state().await? {
                        (0, 0) => store.migrate().await.context("creating coffer's schema")?,
                        (0, tables) => bail!(
                            "{} holds {tables} table(s) that are not coffer's: restore into \
                             an empty database",
                            at.describe()
                        ),
                        (v, _) if v == known => {}
                        (v, _) => bail!(
                            "{} has coffer's schema version {v} (this coffer's is {known}): \
                             restore into an empty database",
                            at.describe()
                        ),
                    }
                    Ok(())
                }
                .await;
                if let Err(e) = refusal {
                    store.close().await;
                    return Err(e);
                }
                Target::Postgres(Arc::new(store))
            }
        };
        let holds = target.store().backup_counts().await?;
        if !holds.is_empty() {
            target.close(false).await;
            bail!(
                "{} is not empty (it holds {}): restore only into a new data dir or an empty \
                 database",
                at.describe(),
                holds.summary()
            );
        }
        Ok(target)
    }

    fn store(&self) -> Arc<dyn coffer_core::Store> {
        match self {
            Target::Sqlite { store, .. } => store.clone(),
            Target::Postgres(s) => s.clone(),
        }
    }

    /// Closes the store; when nothing was written into a database file this run created,
    /// removes it, so that a failed restore leaves the data dir as it found it.
    async fn close(&self, written: bool) {
        match self {
            Target::Sqlite { store, created } => {
                store.close().await;
                if let (false, Some(db)) = (written, created) {
                    for suffix in ["", "-wal", "-shm", ".lock"] {
                        let mut name = db.as_os_str().to_owned();
                        name.push(suffix);
                        let _ = std::fs::remove_file(PathBuf::from(name));
                    }
                }
            }
            Target::Postgres(s) => s.close().await,
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    crate::private::tighten_data_dir(dir)
}

/// The output of a backup: standard output, or `<file>.partial` renamed over `<file>` once
/// complete and on disk.
enum Output {
    Stdout,
    File { partial: PathBuf, path: PathBuf },
}

impl Output {
    fn open(path: &Path, force: bool) -> anyhow::Result<(Self, Box<dyn Write + Send>)> {
        if path == Path::new("-") {
            return Ok((Output::Stdout, Box::new(BufWriter::new(std::io::stdout()))));
        }
        if path.exists() && !force {
            bail!(
                "{} exists; choose another name, or replace it with --force",
                path.display()
            );
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        Ok((
            Output::File {
                partial,
                path: path.to_path_buf(),
            },
            Box::new(BufWriter::new(file)),
        ))
    }

    /// Makes the written file durable and gives it its name.
    fn commit(&self) -> anyhow::Result<()> {
        let Output::File { partial, path } = self else {
            return Ok(());
        };
        std::fs::File::open(partial)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", partial.display()))?;
        std::fs::rename(partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn abandon(&self) {
        if let Output::File { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}

pub fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let (keys, key_source) = root_keys(args.key.root_key_file.as_deref(), &[&args.data_dir])?;
    let at = Location::of(&args.data_dir, args.database_url.as_deref());
    let (output, writer) = Output::open(&args.out, args.force)?;
    let started = Instant::now();
    let result = runtime()?.block_on(async {
        let mut sink = ShowExport {
            inner: BackupWriter::new(writer, keys, now_millis()),
            bar: bar(0, "backup"),
        };
        match &at {
            Location::Url(url) => {
                let store = PgStore::open_existing(url, pg_options())
                    .await
                    .context("opening the PostgreSQL database")?;
                let r = store.export(&mut sink).await;
                store.close().await;
                r?;
            }
            Location::DataDir(dir) => {
                SqliteStore::export_file(&dir.join("coffer.db"), &mut sink).await?;
            }
        }
        sink.bar.finish_and_clear();
        let (mut out, counts) = sink.inner.finish()?;
        out.flush().context("writing the backup")?;
        Ok::<BackupCounts, anyhow::Error>(counts)
    });
    let counts = match result {
        Ok(c) => c,
        Err(e) => {
            output.abandon();
            return Err(e);
        }
    };
    if let Err(e) = output.commit() {
        output.abandon();
        return Err(e);
    }
    eprintln!(
        "coffer: backed up {} from {} in {:.1?}{}\n  root key: {key_source} (not in the file: keep it, it is needed to restore)",
        counts.summary(),
        at.describe(),
        started.elapsed(),
        match &output {
            Output::File { path, .. } => format!(" to {}", path.display()),
            Output::Stdout => " to standard output".into(),
        },
    );
    Ok(())
}

fn open_file(path: &Path) -> anyhow::Result<BufReader<std::fs::File>> {
    if path == Path::new("-") {
        bail!("restore reads its file twice (a check, then the writes): give a file, not standard input");
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

pub fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let (keys, _) = root_keys(args.key.root_key_file.as_deref(), &[&args.data_dir])?;
    let started = Instant::now();
    // First the whole file, so that a damaged one is refused before anything is written.
    let check = bar(0, "check");
    let (header, counts) = backup::verify(open_file(&args.from)?, &keys, |read| {
        check.set_position(read.items());
    })
    .with_context(|| format!("{} cannot be restored", args.from.display()))?;
    check.finish_and_clear();
    eprintln!(
        "coffer: {} is a whole backup of a {} store (schema {}) taken at {} by coffer {}: {}",
        args.from.display(),
        header.store,
        header.schema,
        coffer_core::Timestamp(header.created_at).to_iso8601_seconds(),
        header.coffer,
        counts.summary()
    );
    if args.check_only {
        return Ok(());
    }
    let at = Location::of(&args.data_dir, args.database_url.as_deref());
    runtime()?.block_on(async {
        let target = Target::open(&at).await?;
        let reader = BackupReader::open(open_file(&args.from)?, &keys)?;
        let mut source = ShowImport {
            inner: reader,
            bar: bar(counts.items(), "restore"),
        };
        let written = target.store().import(&mut source).await;
        source.bar.finish_and_clear();
        target.close(written.is_ok()).await;
        let written = written.with_context(|| format!("restoring into {}", at.describe()))?;
        if written != counts {
            bail!(
                "the restore wrote {} but the file holds {}",
                written.summary(),
                counts.summary()
            );
        }
        Ok(())
    })?;
    eprintln!(
        "coffer: restored {} into {} in {:.1?}\n{}",
        counts.summary(),
        at.describe(),
        started.elapsed(),
        next_steps(&at, args.key.root_key_file.as_deref())
    );
    Ok(())
}

/// What the operator does next: start a server on the store, with the root key.
fn next_steps(at: &Location, key_file: Option<&Path>) -> String {
    let key = match key_file {
        Some(f) => format!("--root-key-file {}", f.display()),
        None => "the same root key".into(),
    };
    match at {
        Location::DataDir(dir) => format!(
            "  start it with: coffer serve --data-dir {} ({key}; without --root-key-file the \
             server reads {}, which must hold this root key, mode 0600)",
            dir.display(),
            dir.join("root.key").display()
        ),
        Location::Url(_) => format!(
            "  start each node with --database-url and {key} (every node needs the same root \
             key); each node keeps its audit log in its own --data-dir"
        ),
    }
}

/// Hands what an export gives to an import running beside it.
struct Pipe {
    tx: mpsc::Sender<BackupItem>,
    keys: RootKeys,
    bar: ProgressBar,
    counts: Option<BackupCounts>,
}

#[async_trait::async_trait]
impl ExportSink for Pipe {
    async fn begin(&mut self, info: &SnapshotInfo) -> coffer_core::Result<()> {
        self.bar.set_length(info.counts.items());
        self.counts = Some(info.counts);
        Ok(())
    }
    async fn item(&mut self, item: BackupItem) -> coffer_core::Result<()> {
        // The same check as a backup's: a source whose keys the root key does not open is not
        // moved anywhere.
        self.keys.check(&item)?;
        self.tx
            .send(item)
            .await
            .map_err(|_| coffer_core::Error::internal("the target stopped taking items"))?;
        self.bar.inc(1);
        Ok(())
    }
}

struct Drain(mpsc::Receiver<BackupItem>);

#[async_trait::async_trait]
impl ImportSource for Drain {
    async fn next(&mut self) -> coffer_core::Result<Option<BackupItem>> {
        Ok(self.0.recv().await)
    }
}

/// A store opened to be read by a migration, with no server on it.
enum Source {
    Sqlite(Box<SqliteStore>),
    Postgres(Box<PgStore>),
}

impl Source {
    async fn open(at: &Location) -> anyhow::Result<Self> {
        match at {
            Location::DataDir(dir) => {
                let db = dir.join("coffer.db");
                if !db.exists() {
                    bail!("there is no database at {}", db.display());
                }
                // With its lock: a server still running on it would keep writing after the
                // snapshot, and those writes would not move.
                let store =
                    SqliteStore::open(&db, SqliteOptions::default()).with_context(|| {
                        format!(
                            "opening {} (stop its server before moving it)",
                            db.display()
                        )
                    })?;
                Ok(Source::Sqlite(Box::new(store)))
            }
            Location::Url(url) => {
                let store = PgStore::open_existing(url, pg_options())
                    .await
                    .context("opening the PostgreSQL database")?;
                let others = store.other_coffer_sessions().await?;
                if others > 0 {
                    store.close().await;
                    bail!(
                        "{} has {others} other coffer session(s) connected: stop every node \
                         before moving it (writes after the snapshot would not move)",
                        at.describe()
                    );
                }
                Ok(Source::Postgres(Box::new(store)))
            }
        }
    }

    async fn export(&self, sink: &mut dyn ExportSink) -> coffer_core::Result<BackupCounts> {
        match self {
            Source::Sqlite(s) => s.export(sink).await,
            Source::Postgres(s) => s.export(sink).await,
        }
    }

    async fn close(&self) {
        match self {
            Source::Sqlite(s) => s.close().await,
            Source::Postgres(s) => s.close().await,
        }
    }
}

pub fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let (from, to) = (Location::parse(&args.from), Location::parse(&args.to));
    if from == to {
        bail!("--from and --to name the same store");
    }
    let dirs: Vec<&Path> = [&from, &to]
        .into_iter()
        .filter_map(|l| match l {
            Location::DataDir(d) => Some(d.as_path()),
            Location::Url(_) => None,
        })
        .collect();
    let (keys, key_source) = root_keys(args.root_key_file.as_deref(), &dirs)?;
    let started = Instant::now();
    let counts = runtime()?.block_on(async {
        let source = Source::open(&from).await?;
        let target = match Target::open(&to).await {
            Ok(t) => t,
            Err(e) => {
                source.close().await;
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel(256);
        let pipe = Pipe {
            tx,
            keys,
            bar: bar(0, "migrate"),
            counts: None,
        };
        let mut drain = Drain(rx);
        let store = target.store();
        let source_ref = &source;
        let export = async move {
            let mut pipe = pipe;
            let r = source_ref.export(&mut pipe).await;
            pipe.bar.finish_and_clear();
            // The import ends when the export's end of the channel goes, with the pipe.
            drop(pipe);
            r
        };
        let (exported, imported) = tokio::join!(export, store.import(&mut drain));
        source.close().await;
        target.close(imported.is_ok() && exported.is_ok()).await;
        // The target's refusal explains more than the export's "stopped taking items".
        let imported = imported.with_context(|| format!("writing {}", to.describe()))?;
        let exported = exported.with_context(|| format!("reading {}", from.describe()))?;
        if imported != exported {
            bail!(
                "the target took {} but the source gave {}",
                imported.summary(),
                exported.summary()
            );
        }
        Ok(exported)
    })?;
    eprintln!(
        "coffer: moved {} from {} to {} in {:.1?}\n  root key: {key_source} (the target uses the same one)\n{}",
        counts.summary(),
        from.describe(),
        to.describe(),
        started.elapsed(),
        after_migrate(&from, &to)
    );
    Ok(())
}

fn after_migrate(from: &Location, to: &Location) -> String {
    match (from, to) {
        (Location::DataDir(dir), Location::Url(_)) => format!(
            "  start the nodes with --database-url and the root key. The first one can keep \
             --data-dir {} (its root.key and audit.log go on); other nodes need a copy of the \
             root key (mode 0600) in their own data dir or through --root-key-file. {} is no \
             longer used: remove it once the new store is checked.",
            dir.display(),
            dir.join("coffer.db").display()
        ),
        (Location::Url(_), Location::DataDir(dir)) => format!(
            "  start the server with: coffer serve --data-dir {}. Copy the root key there as \
             root.key (mode 0600) unless it is already, or give --root-key-file. Keep the \
             nodes' audit logs (each node's <data-dir>/audit.log): they record the requests \
             before the move.",
            dir.display()
        ),
        _ => format!(
            "  start servers on {} with the same root key; the audit logs stay where they were.",
            to.describe()
        ),
    }
}
