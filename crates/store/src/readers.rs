//! A small pool of read-only connections. Each read runs inside one read transaction, so
//! everything it returns comes from a single snapshot; in WAL mode that snapshot never waits
//! for the writer.
//!
//! Reads run on the calling thread, the async runtime's worker included. Every read coffer
//! makes is an indexed lookup or one bounded page, answered from the connection's page cache
//! (or the OS's) in microseconds. Handing each one to a blocking thread and back cost more
//! than the read itself: under a GetSecretValue load the hops (spawn, wake, park) took about
//! 40% of the server's CPU time. A read never awaits while it holds a connection, so no more
//! connections are in use at once than there are threads reading.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use coffer_core::Result;
use rusqlite::{Connection, OpenFlags};

use crate::sqlite::rows::internal;

/// Idle connections kept beyond this are closed instead of pooled.
const MAX_IDLE: usize = 16;

/// How much of the database file a reader maps: all of it, up to SQLite's own limit.
const READER_MAP_BYTES: u64 = 1 << 40;

pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Opens `size` connections now, so that a database that cannot be read fails at start.
    pub(crate) fn open(path: &Path, size: usize, busy_timeout: Duration) -> Result<Self> {
        let readers = Self {
            path: path.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(Vec::new()),
        };
        let mut conns = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            conns.push(readers.connect()?);
        }
        if let Ok(mut idle) = readers.idle.lock() {
            *idle = conns;
        }
        Ok(readers)
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| internal("open reader", e))?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| internal("configure reader", e))?;
        // Every commit empties the page cache of every other connection (that is how SQLite
        // keeps a snapshot right), so under writes each read copied its pages in again with
        // `pread`; and on a store larger than a connection's page cache (a million secrets is
        // 2 GB) a random read copied a dozen pages that way, each a system call. Mapped, the
        // database file is read where the kernel already keeps it, without a copy. The whole
        // file is mapped (SQLite caps the map at its compiled limit, 2 GB; past it, reads
        // copy pages as before). Mapped pages show in the process's file-backed resident
        // memory (`RssFile`), which is the kernel's page cache, shared, and given back under
        // memory pressure; the server's own memory (`RssAnon`) does not grow with the store.
        conn.execute_batch(&format!("PRAGMA mmap_size = {READER_MAP_BYTES};"))
            .map_err(|e| internal("configure reader", e))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection (a new one when all are in use) in one read
    /// transaction.
    pub(crate) fn run<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let result = in_read_transaction(&conn, f);
        // A connection left inside a transaction would pin an old snapshot: drop it.
        if conn.is_autocommit() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
        result
    }
}

fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.prepare_cached("BEGIN")
        .and_then(|mut s| s.execute([]))
        .map_err(|e| internal("begin read", e))?;
    let result = f(conn);
    if let Err(e) = conn
        .prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
    {
        // What was read came from one snapshot and stands; just leave the transaction.
        tracing::warn!(error = %e, "ending a sqlite read transaction failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
