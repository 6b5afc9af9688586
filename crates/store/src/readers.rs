//! A small pool of read-only connections. Each read runs on a blocking thread (never on the
//! async runtime) inside one read transaction, so everything it returns comes from a single
//! snapshot; in WAL mode that snapshot never waits for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::sqlite::internal;

pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: at most that many reads run at once, the rest wait
    /// asynchronously instead of piling up blocking threads.
    permits: Arc<Semaphore>,
}

impl Readers {
    /// Opens `size` connections now, so that a database that cannot be read fails at start.
    pub(crate) fn open(path: &Path, size: usize, busy_timeout: Duration) -> Result<Arc<Self>> {
        let size = size.max(1);
        let readers = Self {
            path: path.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
        };
        let mut conns = Vec::with_capacity(size);
        for _ in 0..size {
            conns.push(readers.connect()?);
        }
        if let Ok(mut idle) = readers.idle.lock() {
            *idle = conns;
        }
        Ok(Arc::new(readers))
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| internal("open reader", e))?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| internal("configure reader", e))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection, on a blocking thread, in one read transaction.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("sqlite readers are closed"))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = this.idle.lock().ok().and_then(|mut idle| idle.pop());
            let conn = match pooled {
                Some(c) => c,
                // Only after a read panicked and took its connection with it.
                None => this.connect()?,
            };
            let result = in_read_transaction(&conn, f);
            // A connection left inside a transaction would pin an old snapshot: drop it.
            if conn.is_autocommit() {
                if let Ok(mut idle) = this.idle.lock() {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| internal("read task", e))?
    }
}

fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN")
        .map_err(|e| internal("begin read", e))?;
    let result = f(conn);
    if let Err(e) = conn.execute_batch("COMMIT") {
        // What was read came from one snapshot and stands; just leave the transaction.
        tracing::warn!(error = %e, "ending a sqlite read transaction failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
