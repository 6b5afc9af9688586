//! Group commit. One thread owns the only write connection. Callers queue requests on a
//! channel; the thread takes every request that is waiting (up to a cap; see
//! [`crate::batch`]), runs each inside its own savepoint of one transaction, commits once
//! (one fsync for the whole batch), and only then answers the callers. A request whose
//! statements fail rolls back its savepoint alone and gets its own error; a batch whose
//! transaction fails as a whole (BEGIN, COMMIT, or SQLite aborting the transaction) answers
//! every request it ran with an internal error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use coffer_core::{stats, Error, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::batch::fill as fill_batch;

/// Counters of the writer thread, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed; each holds one or more requests.
    pub batches: u64,
    /// Requests answered after a commit (including those whose own statements failed and
    /// were rolled back to their savepoint).
    pub writes: u64,
    /// Batches whose transaction failed as a whole; their requests got an internal error.
    pub failed_batches: u64,
    /// The most requests ever committed in one transaction.
    pub largest_batch: usize,
    /// Requests sent to the writer and not answered yet.
    pub queued: usize,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
    failed_batches: AtomicU64,
    largest_batch: AtomicUsize,
    queued: AtomicUsize,
}

/// A write request as the writer thread sees it.
trait Request: Send {
    /// Runs the request's statements. `false`: its savepoint must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether `run` may be called again (after the batch rolled back what it did), which
    /// spares the request a savepoint of its own (see [`run_rerunnable`]).
    fn rerunnable(&self) -> bool;
    /// Answers the caller. `failure` is `None` when the batch committed.
    fn answer(self: Box<Self>, failure: Option<&Failure>);
    /// Why the request failed, when the disk refused it (see [`Failure::fault`]).
    fn fault(&self) -> Option<String>;
}

/// Why a batch failed as a whole.
struct Failure {
    /// For the log.
    why: String,
    /// Set when the disk refused (full, read-only, failing): what each caller is told, as
    /// [`Error::Unavailable`]; nothing of the batch was written, and a retry may succeed.
    fault: Option<String>,
}

impl Failure {
    fn sqlite(context: &str, e: &rusqlite::Error) -> Self {
        Failure {
            why: format!("{context}: {e}"),
            fault: crate::sqlite::rows::storage_fault(e).map(str::to_string),
        }
    }
}

/// A request's statements: run once, or as often as its batch needs.
trait Work<T>: Send {
    /// Runs the statements; `None` when they ran already and cannot run again.
    fn call(&mut self, conn: &Connection) -> Option<Result<T>>;
    fn rerunnable(&self) -> bool;
}

/// Statements that run at most once: they get a savepoint of their own.
struct Once<F>(Option<F>);

impl<T, F> Work<T> for Once<F>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn call(&mut self, conn: &Connection) -> Option<Result<T>> {
        self.0.take().map(|f| f(conn))
    }
    fn rerunnable(&self) -> bool {
        false
    }
}

/// Statements that may run again. They must change the database only through row changes
/// (`INSERT`, `UPDATE`, `DELETE`, which SQLite counts), so that a failure that changed
/// nothing is told apart from one that must be undone.
struct Again<F>(F);

impl<T, F> Work<T> for Again<F>
where
    F: Fn(&Connection) -> Result<T> + Send,
{
    fn call(&mut self, conn: &Connection) -> Option<Result<T>> {
        Some((self.0)(conn))
    }
    fn rerunnable(&self) -> bool {
        true
    }
}

struct Typed<T, U, W, G> {
    work: W,
    result: Option<Result<T>>,
    /// Turns a committed result into the answer, on the writer thread (see
    /// [`Writer::submit_then`]).
    then: Option<G>,
    reply: oneshot::Sender<Result<U>>,
}

impl<T, U, W, G> Request for Typed<T, U, W, G>
where
    T: Send + 'static,
    U: Send + 'static,
    W: Work<T> + 'static,
    G: FnOnce(T) -> U + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A bug in one request must not take the writer (and every later write) down.
        let work = &mut self.work;
        let result = match catch_unwind(AssertUnwindSafe(|| work.call(conn))) {
            Ok(Some(result)) => result,
            Ok(None) => return false,
            Err(_) => Err(Error::internal("sqlite write: the request panicked")),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn rerunnable(&self) -> bool {
        self.work.rerunnable()
    }

    fn fault(&self) -> Option<String> {
        match &self.result {
            Some(Err(Error::Unavailable { reason })) => Some(reason.clone()),
            _ => None,
        }
    }

    fn answer(mut self: Box<Self>, failure: Option<&Failure>) {
        let outcome = match (failure, self.result.take()) {
            (None, Some(Ok(value))) => match self.then.take() {
                Some(then) => catch_unwind(AssertUnwindSafe(|| then(value))).map_err(|_| {
                    Error::internal("sqlite write: the step after the commit panicked")
                }),
                None => Err(Error::internal("sqlite write: answered twice")),
            },
            (None, Some(Err(e))) => Err(e),
            (None, None) => Err(Error::internal("sqlite write: the request never ran")),
            (
                Some(Failure {
                    fault: Some(reason),
                    ..
                }),
                _,
            ) => Err(Error::Unavailable {
                reason: reason.clone(),
            }),
            (Some(Failure { why, .. }), _) => {
                Err(Error::internal(format!("sqlite write batch failed: {why}")))
            }
        };
        // The caller may have gone away (cancelled future); the write stands regardless.
        let _ = self.reply.send(outcome);
    }
}

type Queued = Box<dyn Request>;

/// A request for `work` and the receiver of its answer.
#[cfg(test)]
fn request<T, F>(work: F) -> (Queued, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    request_then(work, |v| v)
}

/// A request for `work`, whose committed result `then` turns into the answer on the writer
/// thread, and the receiver of that answer.
fn request_then<T, U, F, G>(work: F, then: G) -> (Queued, oneshot::Receiver<Result<U>>)
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    G: FnOnce(T) -> U + Send + 'static,
{
    typed(Once(Some(work)), then)
}

fn typed<T, U, W, G>(work: W, then: G) -> (Queued, oneshot::Receiver<Result<U>>)
where
    T: Send + 'static,
    U: Send + 'static,
    W: Work<T> + 'static,
    G: FnOnce(T) -> U + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let request = Box::new(Typed {
        work,
        result: None,
        then: Some(then),
        reply,
    });
    (request, answer)
}

/// A request whose `work` may run again, and the receiver of its answer.
#[cfg(test)]
fn rerunnable<T, F>(work: F) -> (Queued, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T> + Send + 'static,
{
    typed(Again(work), |v| v)
}

pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<Queued>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which must be configured and migrated.
    pub(crate) fn start(conn: Connection, max_batch: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Queued>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let max_batch = max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name("coffer-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch, c))
            .map_err(|e| Error::internal(format!("sqlite: starting the writer thread: {e}")))?;
        Ok(Self {
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    /// Runs `work` in the writer thread, inside a savepoint of the current batch, and returns
    /// its result once the batch's commit is durable.
    pub(crate) async fn submit<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit_then(work, |v| v).await
    }

    /// As [`Writer::submit`], and once the batch is durable, `then` runs on the writer
    /// thread with `work`'s result before the caller hears back. The writer answers the
    /// requests of a batch in order, and a batch only after the one before it, so what
    /// `then` does (keep the written state in the read cache) happens in commit order: a
    /// later write's `then` never runs before an earlier one's. `then` does not run when the
    /// request or its batch failed.
    pub(crate) async fn submit_then<T, U, F, G>(&self, work: F, then: G) -> Result<U>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        G: FnOnce(T) -> U + Send + 'static,
    {
        let (request, answer) = request_then(work, then);
        self.queue(request, answer).await
    }

    /// As [`Writer::submit_then`] for `work` that may run more than once: it runs without a
    /// savepoint of its own, and runs again if its batch must be rolled back and re-run (see
    /// [`run_rerunnable`]). `work` must change the database only by `INSERT`, `UPDATE` and
    /// `DELETE` statements.
    pub(crate) async fn submit_rerunnable_then<T, U, F, G>(&self, work: F, then: G) -> Result<U>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
        G: FnOnce(T) -> U + Send + 'static,
    {
        let (request, answer) = typed(Again(work), then);
        self.queue(request, answer).await
    }

    async fn queue<U>(&self, request: Queued, answer: oneshot::Receiver<Result<U>>) -> Result<U> {
        {
            let guard = self
                .sender
                .lock()
                .map_err(|_| Error::internal("sqlite writer: lock poisoned"))?;
            let sender = guard
                .as_ref()
                .ok_or_else(|| Error::internal("sqlite writer: the store is closed"))?;
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            if sender.send(request).is_err() {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(Error::internal("sqlite writer: the writer thread stopped"));
            }
        }
        answer
            .await
            .map_err(|_| Error::internal("sqlite writer: the request was dropped unanswered"))?
    }

    /// Stops accepting writes, lets the thread commit everything already queued, and waits
    /// for it to finish. Idempotent.
    pub(crate) async fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            match tokio::task::spawn_blocking(move || thread.join()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!("the sqlite writer thread panicked"),
                Err(e) => tracing::error!(error = %e, "waiting for the sqlite writer failed"),
            }
        }
    }

    pub(crate) fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            batches: c.batches.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Queued>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    // Requests that a broken batch never attempted; they go first in the next one.
    let mut carried: Vec<Queued> = Vec::new();
    loop {
        let mut batch: Vec<Queued> = std::mem::take(&mut carried);
        if batch.is_empty() {
            match rx.recv() {
                Ok(r) => batch.push(r),
                // Every sender is gone and nothing is queued: closed.
                Err(_) => break,
            }
        }
        fill_batch(&rx, &mut batch, max_batch);
        carried = run_batch(&conn, batch, &counters);
    }
    // Fold the WAL into the main file so a stopped server leaves one self-contained database.
    // (No `PRAGMA optimize`: list queries choose their indexes explicitly, and statistics
    // appearing later would only make plans differ between old and new databases.)
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "sqlite checkpoint at close failed");
    }
}

/// Runs one batch and answers the requests it ran. Returns the requests it did not attempt.
fn run_batch(conn: &Connection, batch: Vec<Queued>, counters: &Counters) -> Vec<Queued> {
    let started = std::time::Instant::now();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        stats::commit_failed("sqlite");
        let failure = Failure::sqlite("begin", &e);
        tracing::error!(error = %failure.why, requests = batch.len(), "sqlite write batch failed");
        counters.failed_batches.fetch_add(1, Ordering::Relaxed);
        answer_all(batch, Some(&failure), counters);
        return Vec::new();
    }
    let mut ran: Vec<Queued> = Vec::with_capacity(batch.len());
    // The requests of a batch were all waiting at once, so any order among them is one they
    // could have had: those that may run again go last, without savepoints of their own.
    let (again, once): (Vec<Queued>, Vec<Queued>) = batch.into_iter().partition(|r| r.rerunnable());
    let mut once = once.into_iter();
    let mut broken: Option<Failure> = None;
    for request in once.by_ref() {
        if let Err(failure) = run_in_savepoint(conn, request, &mut ran) {
            broken = Some(failure);
            break;
        }
    }
    let mut again = again.into_iter();
    if broken.is_none() {
        broken = run_rerunnable(conn, &mut again, &mut ran).err();
    }
    let not_attempted: Vec<Queued> = once.chain(again).collect();

    let failure = match broken {
        Some(failure) => Some(failure),
        None => conn
            .execute_batch("COMMIT")
            .err()
            .map(|e| Failure::sqlite("commit", &e)),
    };
    match &failure {
        None => {
            stats::commit("sqlite", ran.len(), started.elapsed().as_secs_f64());
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .writes
                .fetch_add(ran.len() as u64, Ordering::Relaxed);
            counters
                .largest_batch
                .fetch_max(ran.len(), Ordering::Relaxed);
        }
        Some(failure) => {
            stats::commit_failed("sqlite");
            if !conn.is_autocommit() {
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    tracing::error!(error = %e, "sqlite rollback after a failed batch failed");
                }
            }
            tracing::error!(error = %failure.why, requests = ran.len(), "sqlite write batch failed");
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
        }
    }
    answer_all(ran, failure.as_ref(), counters);
    not_attempted
}

/// Runs a prepared statement of the writer's own (savepoints), parsed once per connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute([]).map(|_| ()))
}

/// Runs `request` inside a savepoint of its own, rolled back if it fails, and adds it to
/// `ran` (to be answered). `Err`: the transaction is no longer usable.
fn run_in_savepoint(
    conn: &Connection,
    mut request: Queued,
    ran: &mut Vec<Queued>,
) -> std::result::Result<(), Failure> {
    if let Err(e) = exec(conn, "SAVEPOINT request") {
        ran.push(request);
        return Err(Failure::sqlite("savepoint", &e));
    }
    let ok = request.run(conn);
    let fault = request.fault();
    ran.push(request);
    let end = if ok {
        exec(conn, "RELEASE request")
    } else {
        exec(conn, "ROLLBACK TO request").and_then(|()| exec(conn, "RELEASE request"))
    };
    if let Err(e) = end {
        return Err(Failure::sqlite("ending a savepoint", &e));
    }
    // Some errors (I/O, disk full) make SQLite roll back the whole transaction. What ran
    // before is gone, so nothing of this batch may be reported as written.
    if conn.is_autocommit() {
        return Err(Failure {
            why: "sqlite rolled the transaction back".into(),
            fault,
        });
    }
    Ok(())
}

/// Runs requests that may run again, adding each to `ran`, without a savepoint each: under
/// a write load a savepoint per request made SQLite copy the batch's hot pages (index and
/// table leaves every request touches) once per request, a tenth of the writer's time.
///
/// A request that fails without having changed a row (SQLite's count of changed rows did
/// not move: a revision check or a unique name refused its first write, a quota refused it
/// before any) needs nothing undone. One that fails after changing rows does: everything
/// since the savepoint taken before the first of these requests is rolled back, and they
/// all run again from there, each in a savepoint of its own, as every request used to. The
/// answers are those of the runs that count. `Err`: the transaction is no longer usable.
fn run_rerunnable(
    conn: &Connection,
    requests: &mut impl Iterator<Item = Queued>,
    ran: &mut Vec<Queued>,
) -> std::result::Result<(), Failure> {
    let mut requests = requests.peekable();
    if requests.peek().is_none() {
        return Ok(());
    }
    exec(conn, "SAVEPOINT rerunnable").map_err(|e| Failure::sqlite("savepoint", &e))?;
    let first = ran.len();
    let mut savepoints = false;
    for mut request in requests {
        if savepoints {
            run_in_savepoint(conn, request, ran)?;
            continue;
        }
        let before = conn.total_changes();
        let ok = request.run(conn);
        let fault = request.fault();
        let dirty = !ok && conn.total_changes() != before;
        ran.push(request);
        if conn.is_autocommit() {
            return Err(Failure {
                why: "sqlite rolled the transaction back".into(),
                fault,
            });
        }
        if dirty {
            exec(conn, "ROLLBACK TO rerunnable")
                .map_err(|e| Failure::sqlite("rolling back to re-run", &e))?;
            savepoints = true;
            let mut rerun = ran.drain(first..).collect::<Vec<_>>().into_iter();
            while let Some(r) = rerun.next() {
                if let Err(failure) = run_in_savepoint(conn, r, ran) {
                    // Those not re-run are answered with the failure, like the rest.
                    ran.extend(rerun);
                    return Err(failure);
                }
            }
        }
    }
    exec(conn, "RELEASE rerunnable").map_err(|e| Failure::sqlite("ending a savepoint", &e))
}

fn answer_all(requests: Vec<Queued>, failure: Option<&Failure>, counters: &Counters) {
    for request in requests {
        // Counted out before the caller hears back, so a caller that reads the stats after
        // its answer never sees its own request still queued.
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        request.answer(failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().expect("memory db");
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE t (v TEXT PRIMARY KEY);
             CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .expect("schema");
        c
    }

    fn insert(v: &'static str) -> (Queued, oneshot::Receiver<Result<()>>) {
        request(move |c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map(|_| ())
                .map_err(|e| Error::internal(e.to_string()))
        })
    }

    fn rows(c: &Connection) -> Vec<String> {
        let mut st = c.prepare("SELECT v FROM t ORDER BY v").expect("prepare");
        let rows = st.query_map([], |r| r.get(0)).expect("query");
        rows.map(|r| r.expect("row")).collect()
    }

    fn answer<T>(mut rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        rx.try_recv().expect("answered")
    }

    #[test]
    fn a_failing_request_rolls_back_alone() {
        let c = conn();
        let counters = Counters::default();
        let (a, ra) = insert("a");
        // Inserts a row, then fails: its row must go, the others' stay.
        let (b, rb) = request(|c: &Connection| -> Result<()> {
            c.execute("INSERT INTO t (v) VALUES ('b')", [])
                .map_err(|e| Error::internal(e.to_string()))?;
            Err(Error::Conflict)
        });
        let (dup, rdup) = insert("a");
        let (d, rd) = insert("d");
        let left = run_batch(&c, vec![a, b, dup, d], &counters);
        assert!(left.is_empty());
        assert!(answer(ra).is_ok());
        assert!(matches!(answer(rb), Err(Error::Conflict)));
        assert!(matches!(answer(rdup), Err(Error::Internal(_))));
        assert!(answer(rd).is_ok());
        assert_eq!(rows(&c), vec!["a", "d"]);
        assert!(c.is_autocommit(), "the transaction is still open");
        assert_eq!(counters.batches.load(Ordering::Relaxed), 1);
        assert_eq!(counters.writes.load(Ordering::Relaxed), 4);
    }

    /// A re-runnable insert of `v` that counts its runs.
    fn insert_again(
        v: &'static str,
        runs: &Arc<AtomicUsize>,
    ) -> (Queued, oneshot::Receiver<Result<()>>) {
        let runs = runs.clone();
        rerunnable(move |c: &Connection| {
            runs.fetch_add(1, Ordering::Relaxed);
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map(|_| ())
                .map_err(|e| Error::internal(e.to_string()))
        })
    }

    #[test]
    fn rerunnable_requests_that_fail_cleanly_run_once() {
        let c = conn();
        let counters = Counters::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, ra) = insert_again("a", &runs);
        // Refused by the primary key: its statement changed nothing.
        let (dup, rdup) = insert_again("a", &runs);
        let (once, ronce) = insert("o");
        let (b, rb) = insert_again("b", &runs);
        let left = run_batch(&c, vec![a, dup, once, b], &counters);
        assert!(left.is_empty());
        assert!(answer(ra).is_ok());
        assert!(matches!(answer(rdup), Err(Error::Internal(_))));
        assert!(answer(ronce).is_ok());
        assert!(answer(rb).is_ok());
        assert_eq!(rows(&c), vec!["a", "b", "o"]);
        assert_eq!(runs.load(Ordering::Relaxed), 3, "nothing ran twice");
        assert!(c.is_autocommit());
    }

    #[test]
    fn a_rerunnable_request_that_fails_after_writing_is_undone_alone() {
        let c = conn();
        let counters = Counters::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (once, ronce) = insert("o");
        let (a, ra) = insert_again("a", &runs);
        // Writes a row, then fails: with no savepoint of its own, the batch's re-runnable
        // part is rolled back and run again, each in a savepoint.
        let dirty_runs = Arc::new(AtomicUsize::new(0));
        let d = dirty_runs.clone();
        let (bad, rbad) = rerunnable(move |c: &Connection| -> Result<()> {
            d.fetch_add(1, Ordering::Relaxed);
            c.execute("INSERT INTO t (v) VALUES ('bad')", [])
                .map_err(|e| Error::internal(e.to_string()))?;
            Err(Error::Conflict)
        });
        let (b, rb) = insert_again("b", &runs);
        let (panics, rpanics) = rerunnable(|c: &Connection| -> Result<()> {
            c.execute("INSERT INTO t (v) VALUES ('p')", [])
                .map_err(|e| Error::internal(e.to_string()))?;
            panic!("a bug");
        });
        let left = run_batch(&c, vec![once, a, bad, b, panics], &counters);
        assert!(left.is_empty());
        assert!(answer(ronce).is_ok());
        assert!(answer(ra).is_ok());
        assert!(matches!(answer(rbad), Err(Error::Conflict)));
        assert!(answer(rb).is_ok());
        assert!(matches!(answer(rpanics), Err(Error::Internal(_))));
        assert_eq!(rows(&c), vec!["a", "b", "o"]);
        // `a` ran before the failure and again after it; `b` only after.
        assert_eq!(runs.load(Ordering::Relaxed), 3);
        assert_eq!(dirty_runs.load(Ordering::Relaxed), 2);
        assert_eq!(counters.batches.load(Ordering::Relaxed), 1);
        assert_eq!(counters.writes.load(Ordering::Relaxed), 5);
        assert!(c.is_autocommit());
    }

    #[test]
    fn a_transaction_lost_in_the_rerunnable_part_fails_what_ran() {
        let c = conn();
        let counters = Counters::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (once, ronce) = insert("o");
        let (a, ra) = insert_again("a", &runs);
        let (lost, rlost) = rerunnable(|c: &Connection| {
            c.execute_batch("ROLLBACK")
                .map_err(|e| Error::internal(e.to_string()))
        });
        let (b, rb) = insert_again("b", &runs);
        let left = run_batch(&c, vec![once, a, lost, b], &counters);
        for r in [answer(ronce), answer(ra), answer(rlost)] {
            assert!(matches!(r, Err(Error::Internal(_))), "{r:?}");
        }
        assert!(rows(&c).is_empty());
        assert_eq!(left.len(), 1, "b was not attempted");
        assert!(run_batch(&c, left, &counters).is_empty());
        assert!(answer(rb).is_ok());
        assert_eq!(rows(&c), vec!["b"]);
    }

    #[test]
    fn a_failed_commit_fails_every_request_of_the_batch() {
        let c = conn();
        let counters = Counters::default();
        let (a, ra) = insert("a");
        // A deferred foreign key is checked at COMMIT, which then fails.
        let (bad, rbad) = request(|c: &Connection| {
            c.execute("INSERT INTO child (p) VALUES (42)", [])
                .map(|_| ())
                .map_err(|e| Error::internal(e.to_string()))
        });
        let (b, rb) = insert("b");
        let left = run_batch(&c, vec![a, bad, b], &counters);
        assert!(left.is_empty());
        for r in [answer(ra), answer(rbad), answer(rb)] {
            assert!(matches!(r, Err(Error::Internal(_))), "{r:?}");
        }
        assert!(rows(&c).is_empty(), "a failed batch left rows");
        assert!(c.is_autocommit());
        assert_eq!(counters.failed_batches.load(Ordering::Relaxed), 1);
        // The connection is usable again.
        let (e, re) = insert("e");
        run_batch(&c, vec![e], &counters);
        assert!(answer(re).is_ok());
        assert_eq!(rows(&c), vec!["e"]);
    }

    #[test]
    fn a_transaction_lost_mid_batch_fails_what_ran_and_keeps_the_rest() {
        let c = conn();
        let counters = Counters::default();
        let (a, ra) = insert("a");
        // Stands in for SQLite aborting the transaction (I/O error, disk full).
        let (lost, rlost) = request(|c: &Connection| {
            c.execute_batch("ROLLBACK")
                .map_err(|e| Error::internal(e.to_string()))
        });
        let (b, rb) = insert("b");
        let left = run_batch(&c, vec![a, lost, b], &counters);
        assert!(matches!(answer(ra), Err(Error::Internal(_))));
        assert!(matches!(answer(rlost), Err(Error::Internal(_))));
        assert!(rows(&c).is_empty());
        // `b` never ran; it goes into the next batch.
        assert_eq!(left.len(), 1);
        assert!(run_batch(&c, left, &counters).is_empty());
        assert!(answer(rb).is_ok());
        assert_eq!(rows(&c), vec!["b"]);
    }

    #[test]
    fn a_panicking_request_fails_alone() {
        let c = conn();
        let counters = Counters::default();
        let (a, ra) = insert("a");
        let (p, rp) = request(|c: &Connection| -> Result<()> {
            c.execute("INSERT INTO t (v) VALUES ('p')", [])
                .map_err(|e| Error::internal(e.to_string()))?;
            panic!("a bug");
        });
        let (b, rb) = insert("b");
        run_batch(&c, vec![a, p, b], &counters);
        assert!(answer(ra).is_ok());
        assert!(matches!(answer(rp), Err(Error::Internal(_))));
        assert!(answer(rb).is_ok());
        assert_eq!(rows(&c), vec!["a", "b"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_wait_for_the_commit_and_close_drains_the_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        let c = Connection::open(&path).expect("open");
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT PRIMARY KEY);")
            .expect("schema");
        c.busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        let writer = Arc::new(Writer::start(c, 64).expect("start"));
        // Another connection holds the write lock: nothing can commit.
        let blocker = Connection::open(&path).expect("open");
        blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let mut pending = vec![];
        for i in 0..20 {
            let w = writer.clone();
            pending.push(tokio::spawn(async move {
                w.submit(move |c: &Connection| {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [format!("v{i}")])
                        .map_err(|e| Error::internal(e.to_string()))
                })
                .await
            }));
        }
        while writer.stats().queued < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            pending.iter().all(|p| !p.is_finished()),
            "a write was answered before its commit"
        );
        let w = writer.clone();
        let closing = tokio::spawn(async move { w.close().await });
        blocker.execute_batch("COMMIT").expect("unlock");
        closing.await.expect("close");
        for p in pending {
            assert_eq!(p.await.expect("task").expect("write"), 1);
        }
        let stats = writer.stats();
        assert_eq!((stats.writes, stats.queued), (20, 0));
        assert!(stats.batches <= 2, "{stats:?}");
        let late = writer.submit(|_: &Connection| Ok(())).await;
        assert!(matches!(late, Err(Error::Internal(_))), "{late:?}");
        let n: i64 = blocker
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 20);
    }
}
