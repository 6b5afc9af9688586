//! Copies the write-ahead log back into the database file on a thread of its own.
//!
//! SQLite checkpoints inside the commit that takes the log past a threshold: that batch
//! waits while megabytes of pages are copied, and under a CreateSecret load those
//! checkpoints were 9% of the writer's time. This thread runs a PASSIVE checkpoint (which
//! never blocks the writer or readers) every [`EVERY`], and the writer's own threshold is
//! raised to 10,000 pages, so the writer rarely checkpoints and then finds little left to
//! copy. The writer's checkpoint stays: only a checkpoint that catches up with the end of the
//! log, which one running beside a busy writer rarely does, lets the next transaction start
//! the log over; without it the log grows without bound.

use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use coffer_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};

use crate::sqlite::rows::internal;

/// How often the log is folded back.
const EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Checkpointer {
    /// `PRAGMA synchronous` of its connection, as read back at start.
    synchronous: i64,
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, busy_timeout: Duration, sync: bool) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| internal("open checkpointer", e))?;
        conn.busy_timeout(busy_timeout)
            .map_err(|e| internal("configure checkpointer", e))?;
        // A checkpoint must sync the database before the writer may start the log over, or a
        // power cut loses what the log held: the same setting as the writer's, set here
        // rather than left to SQLite's compiled-in default.
        let synchronous = crate::sqlite::set_synchronous(&conn, sync)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("coffer-sqlite-checkpoint".into())
            .spawn(move || run(conn, stopped))
            .map_err(|e| Error::internal(format!("sqlite: starting the checkpointer: {e}")))?;
        Ok(Self {
            synchronous,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn synchronous(&self) -> i64 {
        self.synchronous
    }

    /// Stops the thread and waits for it. Idempotent.
    pub(crate) async fn close(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            if tokio::task::spawn_blocking(move || thread.join())
                .await
                .is_err()
            {
                tracing::error!("waiting for the sqlite checkpointer failed");
            }
        }
    }
}

fn run(conn: Connection, stopped: mpsc::Receiver<()>) {
    // The sender is only ever dropped: a timeout means "go on", anything else "stop".
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "sqlite checkpoint failed; retrying later");
        }
    }
}
