//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! - Writes go through [`Writer`](crate::writer): one thread, one connection, group commit.
//!   A call returns only after the transaction holding its change is durable.
//! - Reads go through [`Readers`](crate::readers): a few read-only connections used on the
//!   calling thread, each read inside one snapshot. Readers never wait for the writer.
//!
//! Uniqueness (names, aliases, the default key, one version per stage) is enforced by the
//! schema and mapped to precise errors; revisions are checked in the `UPDATE` itself.
//!
//! This module opens the store and holds what every area uses (the writer, the readers, the
//! read cache). Each area of the contract is implemented in its own module: [`accounts`],
//! [`keys`], [`secrets`] (with [`list`], the list planner, and [`secret_writes`]), [`events`],
//! [`rotation`], [`rewrap`] and [`backup`]. [`rows`] holds what they share; [`schema`] the
//! migrations.

mod accounts;
mod backup;
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

use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_core::*;
use rusqlite::{Connection, OpenFlags};

use crate::access_days::AccessDays;
use crate::cache::{KeyLookup, ReadCache};
use crate::checkpoint::Checkpointer;
use crate::readers::Readers;
use crate::writer::{Writer, WriterStats};
use rows::internal;
use schema::migrate;

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read-only connections opened at start (more are opened when more threads read at
    /// once).
    pub read_connections: usize,
    /// Most write requests committed together in one transaction.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Hold `<database>.lock` while the store is open, and refuse to open when another
    /// process holds it. The read cache is right only while this process is the database's
    /// only writer, so the server and every tool that writes open it exclusively; a one-off
    /// reader (`coffer project list` beside a running server) need not.
    pub exclusive: bool,
    /// Commits reach the disk before they are acknowledged (`synchronous=FULL`). Always, but
    /// for the test that shows the power-loss test catches a server that does not sync.
    pub sync_commits: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            read_connections: 4,
            max_batch: 256,
            busy_timeout: Duration::from_secs(10),
            exclusive: true,
            sync_commits: true,
        }
    }
}

/// Takes the lock file beside the database, or says who holds it.
fn lock_database(path: &Path) -> Result<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        // Like every file of the data dir: the server's user only.
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&lock_path)
        .map_err(|e| Error::internal(format!("opening {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::internal(format!(
            "{} is in use by another coffer process (it holds {}); stop it first",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::internal(format!(
            "locking {}: {e}",
            lock_path.display()
        ))),
    }
}

/// Sets how a connection that writes (the writer, the checkpointer) syncs, and returns the
/// setting as SQLite reads it back. FULL: in WAL mode the log is fsynced at every commit, and
/// a checkpoint fsyncs the log before it copies pages and the database after, before the log
/// may start over; so an acknowledged commit survives a power cut, not only a crash of the
/// process (which `NORMAL` would already survive).
pub(crate) fn set_synchronous(conn: &Connection, sync: bool) -> Result<i64> {
    let pragma = if sync {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = OFF"
    };
    conn.execute_batch(pragma)
        .map_err(|e| internal("synchronous", e))?;
    conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(|e| internal("synchronous", e))
}

/// The settings durability rests on, as the store's connections report them (see
/// [`SqliteStore::durability`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteDurability {
    /// `PRAGMA journal_mode` of the database: `wal`.
    pub journal_mode: String,
    /// `PRAGMA synchronous` of the writer's connection: 2 (FULL).
    pub writer_synchronous: i64,
    /// `PRAGMA synchronous` of the checkpointer's connection: 2 (FULL).
    pub checkpointer_synchronous: i64,
    /// `PRAGMA fullfsync` of the writer (macOS only; 0 elsewhere).
    pub writer_fullfsync: i64,
    /// `PRAGMA wal_autocheckpoint` of the writer, in pages.
    pub writer_autocheckpoint: i64,
}

/// Makes a directory's entries durable: a file created in it (the database, on first start)
/// is otherwise not certain to be found after a power cut, even when its data was synced.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)?.sync_all()
}

/// [`Store`] on one SQLite database file. See the module docs.
pub struct SqliteStore {
    path: PathBuf,
    checkpointer_synchronous: i64,
    /// The lock file, held while the store lives (see [`SqliteOptions::exclusive`]).
    _lock: Option<std::fs::File>,
    checkpointer: Checkpointer,
    cache: std::sync::Arc<ReadCache>,
    writer: std::sync::Arc<Writer>,
    readers: Readers,
    access_days: std::sync::Arc<AccessDays>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, opens
    /// the read connections and starts the writer thread. The parent directory must exist.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let lock = if options.exclusive {
            Some(lock_database(path)?)
        } else {
            None
        };
        let created = !path.exists();
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| internal("open", e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| internal("busy timeout", e))?;
        // WAL lets readers run during commits; FULL makes a commit durable (the WAL is
        // fsynced) before COMMIT returns, which is what we promise before answering.
        if !options.sync_commits {
            tracing::warn!(
                path = %path.display(),
                "sqlite: commits are NOT synced to disk (synchronous=OFF): a power cut loses acknowledged writes; for tests only"
            );
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| internal("journal mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::internal(format!(
                "sqlite: {} cannot use write-ahead logging (journal mode stays {mode:?})",
                path.display()
            )));
        }
        // The writer checkpoints only when the log passes 10,000 pages (40 MB): below that the
        // checkpoint thread keeps it short (see `checkpoint`), and a checkpoint inside a commit
        // was 9% of the writer's time under a CreateSecret load at SQLite's default of 1,000.
        set_synchronous(&conn, options.sync_commits)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 10000;")
            .map_err(|e| internal("pragmas", e))?;
        migrate(&mut conn)?;
        if created {
            // SQLite syncs the directory when it creates the write-ahead log, not when it
            // creates the database file itself.
            let dir = path.parent().unwrap_or(Path::new("."));
            sync_dir(dir)
                .map_err(|e| internal(&format!("syncing the directory {}", dir.display()), e))?;
        }
        let readers = Readers::open(path, options.read_connections, options.busy_timeout)?;
        let writer = Writer::start(conn, options.max_batch)?;
        let checkpointer = Checkpointer::start(path, options.busy_timeout, options.sync_commits)?;
        Ok(Self {
            path: path.to_path_buf(),
            checkpointer_synchronous: checkpointer.synchronous(),
            _lock: lock,
            checkpointer,
            cache: std::sync::Arc::new(ReadCache::new()),
            writer: std::sync::Arc::new(writer),
            readers,
            access_days: Default::default(),
        })
    }

    /// Stops the writer after it has committed every write already queued. Later writes
    /// fail with an internal error; reads keep working. Idempotent. Dropping the store
    /// without calling this also drains the queue, on the writer thread, without waiting.
    pub async fn close(&self) {
        // Days of reads still waiting for their batch's delay go down with the rest.
        self.access_days.flush(&self.writer).await;
        self.checkpointer.close().await;
        self.writer.close().await;
    }

    /// The settings every acknowledged write's durability rests on, read back from the
    /// connections that write (the writer's through the writer thread itself).
    pub async fn durability(&self) -> Result<SqliteDurability> {
        let (journal_mode, writer_synchronous, writer_fullfsync, writer_autocheckpoint) = self
            .writer
            .submit(|c: &Connection| {
                let read = |pragma: &str| -> Result<i64> {
                    c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                        .map_err(|e| internal(pragma, e))
                };
                let mode: String = c
                    .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(|e| internal("journal_mode", e))?;
                Ok((
                    mode,
                    read("synchronous")?,
                    read("fullfsync")?,
                    read("wal_autocheckpoint")?,
                ))
            })
            .await?;
        Ok(SqliteDurability {
            journal_mode,
            writer_synchronous,
            checkpointer_synchronous: self.checkpointer_synchronous,
            writer_fullfsync,
            writer_autocheckpoint,
        })
    }

    /// Counters of the writer (batches, writes, queue depth).
    pub fn stats(&self) -> WriterStats {
        self.writer.stats()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let result = self.writer.submit(f).await;
        // Not knowing what the write touched, the cache forgets everything (see `cache`).
        self.cache.forget_all();
        result
    }

    /// A key lookup through the read cache: `f` reads it from the store on a miss.
    async fn cached_key(
        &self,
        scope: &Scope,
        lookup: KeyLookup<'_>,
        f: impl FnOnce(&Connection) -> Result<Option<KeyRecord>>,
    ) -> Result<Option<KeyRecord>> {
        if let Some(hit) = self.cache.key(scope, &lookup) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let found = self.read(f).await?;
        self.cache
            .fill_key(generation, scope, &lookup, found.clone());
        Ok(found)
    }

    async fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.readers.run(f)
    }
}
