//! The accept loop: every connection under a deadline, and a cap on how many are open.
//!
//! `axum::serve` sets no timer, so a client that sends half a request head and then nothing
//! holds its connection (and a file descriptor) for ever; about a thousand such connections
//! used up a 1,024-descriptor limit and every real request then timed out. Here each
//! connection is served by hyper's HTTP/1 state machine with axum's `Router` as the service,
//! and a watchdog beside it closes the connection when the phase it is in lasts too long:
//!
//! | phase | from | closed after |
//! |---|---|---|
//! | fresh | accept (TLS handshake and first head included) | header read timeout |
//! | idle | the answer before | idle timeout |
//! | head | the first byte of the next head | header read timeout |
//! | body | the head (the body is being read) | body read timeout |
//! | handling | the whole request read | never: a request being executed is not cut short |
//!
//! Connections are counted, in all and per client address. When a cap is reached, a new
//! connection closes the open connection (of that address, for the per-address cap) that
//! has been in a phase other than `handling` the longest: a slowloris attacker, from any
//! number of addresses, then only ever pushes out its own oldest connections, while a client
//! that sends a request at once is served. The new connection is refused only when every
//! connection has a request being executed. Executing requests are never cut (a request cut
//! after its write and before its audit entry would leave the write unrecorded); a request
//! is only executed once its body is read whole, so closing a connection in `body` cuts
//! nothing that has begun.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// Limits and deadlines of the server's connections.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
}

/// Most request headers hyper parses (its own default is 100). Coffer's own limit on the
/// number of headers is checked in the handler, so that a refusal comes in the cloud's error
/// format; hyper's, which answers a bare 431, must not be reached first.
pub const MAX_HEADERS: usize = 200;
/// Most bytes of a request head (request line and headers) hyper reads, and its read
/// buffer's ceiling (hyper's default, ~400 KB, is what a stalled connection could make the
/// server hold). Room for the longest URI hyper parses at all (65,534 bytes, fixed in hyper)
/// and 8 KiB of headers: generation-1 Alibaba SDKs put a whole secret value in the URL, and
/// coffer's own URI and header limits must be reached before this one.
pub const MAX_HEAD_BYTES: usize = 72 * 1024;

/// Descriptors left for everything but client connections: the store (SQLite's files and
/// read connections, or the PostgreSQL pools), the audit log, database connections of
/// rotations, the runtime and the listener.
const RESERVED_DESCRIPTORS: usize = 128;
/// The default cap on connections is never above this: past a few thousand, the memory of
/// buffers and TLS state matters more than descriptors.
const DEFAULT_MAX_CONNECTIONS_CEILING: usize = 8192;
/// Nor below this, whatever the descriptor limit says (accept failures are then handled).
const DEFAULT_MAX_CONNECTIONS_FLOOR: usize = 16;

/// Connections the kernel queues for the accept loop. The standard library's (and so
/// tokio's) 128 overflowed while a slowloris churned through evictions, and a client whose
/// connection attempt was dropped waited a second or three for its retransmission; the
/// kernel caps this at `net.core.somaxconn` (4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listening socket (with `SO_REUSEADDR`, as tokio's own bind does, so a restart
/// is not refused while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The process's open-file limits, before and after [`raise_open_file_limit`].
#[derive(Clone, Copy, Debug)]
pub struct FileLimit {
    pub soft_before: Option<u64>,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Raises the soft open-file limit to the hard limit (a process may always do that), so that
/// the usual soft default (1,024 under systemd) does not decide how many clients coffer
/// serves. `None` is unlimited.
#[cfg(unix)]
pub fn raise_open_file_limit() -> (FileLimit, Option<std::io::Error>) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    // An unlimited hard limit (not on Linux, whose hard limit is at most nr_open) is not a
    // soft value every system takes; a million descriptors is plenty.
    let wanted = before.maximum.or(Some(1 << 20));
    let mut error = None;
    if before.current != wanted && (before.current.is_some() && before.current < wanted) {
        if let Err(e) = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: wanted,
                maximum: before.maximum,
            },
        ) {
            error = Some(std::io::Error::from(e));
        }
    }
    let after = getrlimit(Resource::Nofile);
    (
        FileLimit {
            soft_before: before.current,
            soft: after.current,
            hard: after.maximum,
        },
        error,
    )
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> (FileLimit, Option<std::io::Error>) {
    (
        FileLimit {
            soft_before: None,
            soft: None,
            hard: None,
        },
        None,
    )
}

/// The default connection cap for an open-file limit: the limit less what else needs
/// descriptors (an eighth of the limit, at least [`RESERVED_DESCRIPTORS`]), within
/// [`DEFAULT_MAX_CONNECTIONS_FLOOR`] and [`DEFAULT_MAX_CONNECTIONS_CEILING`].
pub fn default_max_connections(soft_limit: Option<u64>) -> usize {
    let Some(limit) = soft_limit else {
        return DEFAULT_MAX_CONNECTIONS_CEILING;
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let reserved = RESERVED_DESCRIPTORS.max(limit / 8);
    limit.saturating_sub(reserved).clamp(
        DEFAULT_MAX_CONNECTIONS_FLOOR,
        DEFAULT_MAX_CONNECTIONS_CEILING,
    )
}

/// What a connection is doing, as the watchdog and the caps see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fresh = 0,
    Idle = 1,
    Head = 2,
    Body = 3,
    Handling = 4,
}

impl Phase {
    fn from_bits(bits: u64) -> Phase {
        match bits {
            0 => Phase::Fresh,
            1 => Phase::Idle,
            2 => Phase::Head,
            3 => Phase::Body,
            _ => Phase::Handling,
        }
    }

    /// Whether a cap may close a connection in this phase to make room.
    fn evictable(self) -> bool {
        self != Phase::Handling
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Fresh => "no request head in time",
            Phase::Idle => "idle",
            Phase::Head => "request head not finished in time",
            Phase::Body => "request body not finished in time",
            Phase::Handling => "handling",
        }
    }
}

/// Bits of the packed state left for the phase's start (milliseconds since the server's
/// epoch): 2^60 ms is far beyond any uptime.
const PHASE_SHIFT: u32 = 60;
const SINCE_MASK: u64 = (1 << PHASE_SHIFT) - 1;

/// One connection's phase and when it began, shared by the connection's IO, its service,
/// its watchdog and the registry. Packed in one atomic: the IO path only loads it.
struct Tracker {
    state: AtomicU64,
    epoch: Instant,
    close: Notify,
}

impl Tracker {
    fn new(epoch: Instant) -> Self {
        let t = Tracker {
            state: AtomicU64::new(0),
            epoch,
            close: Notify::new(),
        };
        t.set(Phase::Fresh);
        t
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 & SINCE_MASK
    }

    fn pack(phase: Phase, since_ms: u64) -> u64 {
        ((phase as u64) << PHASE_SHIFT) | (since_ms & SINCE_MASK)
    }

    fn get(&self) -> (Phase, u64) {
        let v = self.state.load(Ordering::Acquire);
        (Phase::from_bits(v >> PHASE_SHIFT), v & SINCE_MASK)
    }

    fn set(&self, phase: Phase) {
        self.state
            .store(Self::pack(phase, self.now_ms()), Ordering::Release);
    }

    /// Moves to `to` only from `from` (a later phase set meanwhile wins).
    fn advance(&self, from: Phase, to: Phase) {
        let current = self.state.load(Ordering::Acquire);
        if Phase::from_bits(current >> PHASE_SHIFT) == from {
            let _ = self.state.compare_exchange(
                current,
                Self::pack(to, self.now_ms()),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// When the current phase runs out, and which phase that is.
    fn deadline(&self, t: &ConnectionLimits) -> (Phase, Option<Instant>) {
        let (phase, since) = self.get();
        let start = self.epoch + Duration::from_millis(since);
        let limit = match phase {
            Phase::Fresh | Phase::Head => Some(t.header_read_timeout),
            Phase::Idle => Some(t.idle_timeout),
            Phase::Body => Some(t.body_read_timeout),
            Phase::Handling => None,
        };
        (phase, limit.map(|l| start + l))
    }
}

/// Client addresses as the per-address cap counts them: IPv4 addresses, and IPv6 /64
/// networks (one host is usually given a whole /64, so counting its addresses one by one
/// would cap nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddrKey {
    V4(u32),
    V6(u64),
}

impl AddrKey {
    fn of(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

struct Entry {
    addr: AddrKey,
    tracker: Arc<Tracker>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    per_addr: HashMap<AddrKey, usize>,
    /// Connections told to close whose tasks have not closed them yet: their descriptors
    /// are still held.
    closing: HashSet<u64>,
}

impl Open {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.conns.remove(&id)?;
        if let Some(n) = self.per_addr.get_mut(&entry.addr) {
            *n -= 1;
            if *n == 0 {
                self.per_addr.remove(&entry.addr);
            }
        }
        Some(entry)
    }

    /// The connection (of `addr`, when given) that has been in an evictable phase longest.
    fn oldest_evictable(&self, addr: Option<AddrKey>) -> Option<u64> {
        self.conns
            .iter()
            .filter(|(_, e)| addr.is_none_or(|a| e.addr == a))
            .filter_map(|(id, e)| {
                let (phase, since) = e.tracker.get();
                phase.evictable().then_some((since, *id))
            })
            .min()
            .map(|(_, id)| id)
    }
}

/// Counts of what the caps and deadlines did, logged now and then (every close is at debug
/// level: an attack would otherwise flood the log).
#[derive(Default)]
struct Counters {
    evicted: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    accept_errors: AtomicU64,
}

/// Evicted connections whose sockets may still be open before the accept loop waits for
/// them: evicting only marks a connection, its task closes it when next scheduled, and under
/// a churning attack the accept loop would otherwise run ahead of those tasks until the
/// descriptors ran out (observed: all 256 used with a cap of 128).
const CLOSING_SLACK: usize = 16;

/// Every open connection, for the caps.
struct Registry {
    limits: ConnectionLimits,
    epoch: Instant,
    open: Mutex<Open>,
    counters: Counters,
    /// Told when an evicted connection has been closed.
    freed: Notify,
}

/// Whether a new connection may open, and which connection it pushed out if any.
enum Admit {
    Open(u64, Arc<Tracker>),
    Refused(&'static str),
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // A panic while holding this lock leaves only counts behind; go on with them.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self, ip: IpAddr) -> Admit {
        let addr = AddrKey::of(ip);
        let mut open = self.lock();
        if open.per_addr.get(&addr).copied().unwrap_or(0) >= self.limits.max_per_address {
            match open.oldest_evictable(Some(addr)) {
                Some(victim) => self.evict(&mut open, victim),
                None => return Admit::Refused("per-address"),
            }
        }
        if open.conns.len() >= self.limits.max_connections {
            match open.oldest_evictable(None) {
                Some(victim) => self.evict(&mut open, victim),
                None => return Admit::Refused("total"),
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        let tracker = Arc::new(Tracker::new(self.epoch));
        open.conns.insert(
            id,
            Entry {
                addr,
                tracker: tracker.clone(),
            },
        );
        *open.per_addr.entry(addr).or_insert(0) += 1;
        Admit::Open(id, tracker)
    }

    /// Takes the connection out of the counts at once, so that the next accept does not
    /// pick it again; it stays among those closing until its task has closed its socket.
    fn evict(&self, open: &mut Open, id: u64) {
        if let Some(entry) = open.remove(id) {
            open.closing.insert(id);
            entry.tracker.close.notify_one();
            self.counters.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether few enough evicted connections are still closing to accept another.
    fn may_accept(&self) -> bool {
        self.lock().closing.len() <= CLOSING_SLACK
    }

    /// Frees a descriptor when accept ran out of them: closes the oldest evictable one.
    fn evict_one(&self) -> bool {
        let mut open = self.lock();
        match open.oldest_evictable(None) {
            Some(victim) => {
                self.evict(&mut open, victim);
                true
            }
            None => false,
        }
    }

    /// The connection's task has closed it.
    fn remove(&self, id: u64) {
        let mut open = self.lock();
        if open.remove(id).is_none() && open.closing.remove(&id) {
            self.freed.notify_one();
        }
    }

    fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

/// The IO of a connection, telling its tracker when bytes of a new request arrive.
struct Tracked<S> {
    inner: S,
    tracker: Arc<Tracker>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // An idle connection starts its next head: from now, the header deadline.
            self.tracker.advance(Phase::Idle, Phase::Head);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that moves its connection from `body` to `handling` once read whole.
struct ObservedBody {
    inner: Incoming,
    tracker: Arc<Tracker>,
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.tracker.advance(Phase::Body, Phase::Handling);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Logs at most one line per `every` about what the caps and deadlines did meanwhile.
async fn report(registry: Arc<Registry>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let c = &registry.counters;
        let evicted = c.evicted.swap(0, Ordering::Relaxed);
        let refused = c.refused.swap(0, Ordering::Relaxed);
        let timed_out = c.timed_out.swap(0, Ordering::Relaxed);
        let accept_errors = c.accept_errors.swap(0, Ordering::Relaxed);
        if evicted + refused + accept_errors > 0 {
            tracing::warn!(
                evicted,
                refused,
                timed_out,
                accept_errors,
                open = registry.len(),
                max_connections = registry.limits.max_connections,
                max_per_address = registry.limits.max_per_address,
                seconds = every.as_secs(),
                "connection limits reached: connections that were idle or had not sent a whole request were closed to make room (evicted), or new ones refused when every open connection had a request being handled"
            );
        } else if timed_out > 0 {
            tracing::debug!(
                timed_out,
                open = registry.len(),
                "connections closed for being idle or slow"
            );
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// requests being handled finish, and returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's own head deadline also runs while a keep-alive connection is idle, so it is
        // set to the longer of the two as a backstop; the watchdog enforces each exactly.
        .header_read_timeout(limits.header_read_timeout.max(limits.idle_timeout))
        .keep_alive(true)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let builder = Arc::new(builder);
    let registry = Arc::new(Registry {
        limits: limits.clone(),
        epoch: Instant::now(),
        open: Mutex::new(Open::default()),
        counters: Counters::default(),
        freed: Notify::new(),
    });
    let reporter = tokio::spawn(report(registry.clone(), Duration::from_secs(10)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let may_accept = registry.may_accept();
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            // New connections wait in the kernel's queue meanwhile, holding no descriptor.
            () = registry.freed.notified(), if !may_accept => continue,
            accepted = listener.accept(), if may_accept => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                registry
                    .counters
                    .accept_errors
                    .fetch_add(1, Ordering::Relaxed);
                if out_of_descriptors(&e) {
                    // Free one and give its task a moment to close it, rather than spin on
                    // an accept that keeps failing.
                    registry.evict_one();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                continue;
            }
        };
        let (id, tracker) = match registry.admit(peer.ip()) {
            Admit::Open(id, tracker) => (id, tracker),
            Admit::Refused(cap) => {
                registry.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, cap, "refused a connection: every open one has a request being handled");
                drop(stream);
                continue;
            }
        };
        // Answers are written whole; without Nagle's delay each goes out at once.
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            peer,
            tracker,
            registry: registry.clone(),
            builder: builder.clone(),
            router: router.clone(),
            stop: stop_rx.clone(),
        };
        let tls = tls.clone();
        let registered = Registered {
            id,
            registry: registry.clone(),
        };
        tasks.spawn(async move {
            // Dropped when the task ends, however it ends (a panic included), after the
            // socket is closed: the counts never keep a connection that is gone.
            let _registered = registered;
            match tls {
                None => conn.run(stream).await,
                Some(acceptor) => conn.run_tls(stream, acceptor).await,
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    reporter.abort();
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        let code = e.raw_os_error();
        code == Some(rustix::io::Errno::MFILE.raw_os_error())
            || code == Some(rustix::io::Errno::NFILE.raw_os_error())
            || code == Some(rustix::io::Errno::NOBUFS.raw_os_error())
            || code == Some(rustix::io::Errno::NOMEM.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// A connection's place in the counts, given up when dropped.
struct Registered {
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

struct Connection {
    peer: SocketAddr,
    tracker: Arc<Tracker>,
    registry: Arc<Registry>,
    builder: Arc<http1::Builder>,
    router: Router,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// The TLS handshake, under the same deadline as the first request head, then HTTP.
    async fn run_tls(self, stream: TcpStream, acceptor: TlsAcceptor) {
        let (_, deadline) = self.tracker.deadline(&self.registry.limits);
        let deadline = deadline.unwrap_or_else(Instant::now);
        let mut stop = self.stop.clone();
        let handshake = tokio::select! {
            r = acceptor.accept(stream) => r,
            () = tokio::time::sleep_until(deadline.into()) => {
                tracing::debug!(peer = %self.peer, "TLS handshake not finished in time");
                self.registry.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                return;
            }
            () = self.tracker.close.notified() => return,
            _ = stop.wait_for(|s| *s) => return,
        };
        match handshake {
            Ok(tls) => self.run(tls).await,
            Err(e) => {
                // Scanners and clients that do not trust the certificate end up here.
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
            }
        }
    }

    async fn run<S>(self, io: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            tracker,
            registry,
            builder,
            router,
            mut stop,
        } = self;
        let io = TokioIo::new(Tracked {
            inner: io,
            tracker: tracker.clone(),
        });
        let service = {
            let tracker = tracker.clone();
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let tracker = tracker.clone();
                let mut router = router.clone();
                async move {
                    let phase = if http_body::Body::is_end_stream(req.body()) {
                        Phase::Handling
                    } else {
                        Phase::Body
                    };
                    tracker.set(phase);
                    let mut req = req.map(|inner| {
                        axum::body::Body::new(ObservedBody {
                            inner,
                            tracker: tracker.clone(),
                        })
                    });
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let response = router.call(req).await;
                    // The answer is written next; until the next request's first byte, idle.
                    tracker.set(Phase::Idle);
                    response
                }
            })
        };
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let limits = &registry.limits;
        // Rechecks a phase without a deadline (handling) this often, so that the deadline of
        // the phase after it is never missed by more than this.
        let recheck = limits
            .header_read_timeout
            .min(limits.idle_timeout)
            .min(limits.body_read_timeout);
        let mut stopping = false;
        loop {
            let (phase, deadline) = tracker.deadline(limits);
            if stopping && matches!(phase, Phase::Fresh | Phase::Idle | Phase::Head) {
                // Shutting down: nothing of value is in flight here.
                break;
            }
            let wake = deadline.unwrap_or_else(|| Instant::now() + recheck);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let (phase, deadline) = tracker.deadline(limits);
                    if deadline.is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(%peer, reason = phase.name(), "closed a connection");
                        registry.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                () = tracker.close.notified() => {
                    tracing::debug!(%peer, "closed a connection to make room for a new one");
                    break;
                }
                _ = stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_per_address: per,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
        }
    }

    fn registry(max: usize, per: usize) -> Registry {
        Registry {
            limits: limits(max, per),
            epoch: Instant::now(),
            open: Mutex::new(Open::default()),
            counters: Counters::default(),
            freed: Notify::new(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn open(r: &Registry, addr: &str) -> (u64, Arc<Tracker>) {
        match r.admit(ip(addr)) {
            Admit::Open(id, t) => (id, t),
            Admit::Refused(cap) => panic!("refused ({cap})"),
        }
    }

    #[test]
    fn default_cap_leaves_room_for_the_store() {
        assert_eq!(default_max_connections(Some(256)), 128);
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(65_536)), 8192);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(default_max_connections(None), 8192);
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(
            AddrKey::of(ip("2001:db8:1:2::1")),
            AddrKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            AddrKey::of(ip("2001:db8:1:2::1")),
            AddrKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddrKey::of(ip("::ffff:10.0.0.1")),
            AddrKey::of(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_full_server_closes_its_oldest_waiting_connection() {
        let r = registry(3, 10);
        let (a, ta) = open(&r, "10.0.0.1");
        std::thread::sleep(Duration::from_millis(3));
        let (_b, tb) = open(&r, "10.0.0.2");
        std::thread::sleep(Duration::from_millis(3));
        let (_c, _) = open(&r, "10.0.0.3");
        // The oldest is handling a request: the next oldest goes.
        ta.set(Phase::Handling);
        let (_d, _) = open(&r, "10.0.0.4");
        assert_eq!(r.len(), 3);
        assert!(r.lock().conns.contains_key(&a));
        // b was told to close (its permit is stored).
        let notified = tb.close.notified();
        tokio_test_block_on(notified);
    }

    /// Polls a future to completion on a throwaway runtime.
    fn tokio_test_block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn evicted_connections_count_until_closed() {
        let r = registry(1, 1);
        let (mut last, _) = open(&r, "10.0.0.1");
        for _ in 0..=CLOSING_SLACK {
            assert!(r.may_accept());
            let (id, _) = open(&r, "10.0.0.1");
            last = id;
        }
        assert!(!r.may_accept(), "too many evicted sockets not closed yet");
        assert_eq!(r.len(), 1);
        let evicted = *r.lock().closing.iter().next().expect("one closing");
        r.remove(evicted);
        assert!(r.may_accept());
        r.remove(last);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_full_server_refuses_when_every_connection_is_busy() {
        let r = registry(2, 10);
        let (_, t1) = open(&r, "10.0.0.1");
        let (_, t2) = open(&r, "10.0.0.2");
        t1.set(Phase::Handling);
        t2.set(Phase::Handling);
        assert!(matches!(r.admit(ip("10.0.0.3")), Admit::Refused("total")));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn the_per_address_cap_closes_that_address_s_oldest() {
        let r = registry(100, 2);
        let (a1, _) = open(&r, "10.0.0.1");
        std::thread::sleep(Duration::from_millis(3));
        let (other, _) = open(&r, "10.0.0.2");
        let (a2, _) = open(&r, "10.0.0.1");
        let (a3, _) = open(&r, "10.0.0.1");
        let open_ids: Vec<u64> = r.lock().conns.keys().copied().collect();
        assert!(!open_ids.contains(&a1), "the address's oldest went");
        assert!(
            open_ids.contains(&other),
            "another address's older one stays"
        );
        assert!(open_ids.contains(&a2) && open_ids.contains(&a3));
        assert_eq!(
            r.lock().per_addr.get(&AddrKey::of(ip("10.0.0.1"))),
            Some(&2)
        );
    }

    #[test]
    fn idle_becomes_head_on_the_first_byte_only() {
        let t = Tracker::new(Instant::now());
        t.advance(Phase::Idle, Phase::Head);
        assert_eq!(
            t.get().0,
            Phase::Fresh,
            "a fresh connection keeps its deadline"
        );
        t.set(Phase::Idle);
        t.advance(Phase::Idle, Phase::Head);
        assert_eq!(t.get().0, Phase::Head);
        let l = limits(1, 1);
        let (phase, deadline) = t.deadline(&l);
        assert_eq!(phase, Phase::Head);
        assert!(deadline.is_some());
        t.set(Phase::Handling);
        assert_eq!(t.deadline(&l).1, None);
    }
}
