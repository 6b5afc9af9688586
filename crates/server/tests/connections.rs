//! Connections against the real binary: slow and idle clients are closed after their
//! deadlines, the caps hold, and a server whose descriptors are few (256, soft and hard)
//! still answers a signed request within seconds while a thousand slowloris connections
//! keep arriving, from several source addresses or from one.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{timestamp_now, Server, AK, SK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The tests that measure time or load the machine run one at a time: a thousand churning
/// connections beside a deadline measured to a second would make either flaky.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

const BOOTSTRAP: &[(&str, &str)] = &[
    ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
    ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
];

fn start(dir: &std::path::Path, args: &[&str], wrapper: &[&str]) -> Server {
    let server = Server::spawn_args(dir, BOOTSTRAP, args, wrapper);
    server.wait_ready();
    server
}

fn addr(server: &Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port))
}

/// A signed GetSecretValue on a connection of its own (a pooled one may have been closed
/// to make room, which is not what is measured here); its status and how long it took.
fn signed_get(server: &Server, name: &str) -> (u16, Duration) {
    let timestamp = timestamp_now();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let client = coffer_auth::alibaba::RpcV1Client {
        access_key_id: AK,
        access_key_secret: SK.as_bytes(),
        timestamp: &timestamp,
        nonce: &nonce,
    };
    let query = coffer_auth::alibaba::rpc_v1_query(
        "POST",
        "GetSecretValue",
        "2016-01-20",
        &[("SecretName", name)],
        &client,
    )
    .expect("sign");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let started = Instant::now();
    let status = match agent
        .post(&format!("{}/?{query}", server.base()))
        .send_bytes(&[])
    {
        Ok(r) => {
            let body = r.into_string().unwrap_or_default();
            assert!(body.contains("the value"), "unexpected answer: {body}");
            200
        }
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "GetSecretValue answered {code}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("GetSecretValue failed after {:?}: {e}", started.elapsed()),
    };
    (status, started.elapsed())
}

/// Reads until the server closes the connection (or `within` passes); how long that took.
fn wait_closed(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while started.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// Whether the server has closed this connection (without waiting).
fn is_closed(mut stream: &TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = socket_from(source);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = rt
        .block_on(async { socket.connect(to).await })
        .expect("connect");
    let std = stream.into_std().expect("std stream");
    std.set_nonblocking(false).expect("blocking");
    std
}

fn socket_from(source: Ipv4Addr) -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .expect("bind a 127.0.0.x source address");
    socket
}

/// Lets this test process hold a thousand sockets whatever its soft limit was.
fn raise_own_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < 4096) {
        let wanted = l.maximum.map_or(4096, |m| m.min(65_536));
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: l.maximum,
            },
        );
    }
}

#[derive(Default)]
struct AttackStats {
    opened: AtomicU64,
    closed_by_server: AtomicU64,
}

/// One slowloris connection slot: connects from `source`, sends the start of a request head
/// and then a byte every 200 ms, for ever; when the server closes it, opens the next one.
async fn trickle(
    to: SocketAddr,
    source: Ipv4Addr,
    stats: Arc<AttackStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let socket = socket_from(source);
        let mut stream =
            match tokio::time::timeout(Duration::from_secs(2), socket.connect(to)).await {
                Ok(Ok(s)) => s,
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
        stats.opened.fetch_add(1, Ordering::Relaxed);
        if stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                read = stream.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stream.write_all(b"a").await.is_err() {
                        stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

/// 1,000 trickling connections (from `sources` in turn) against a server limited to 256
/// descriptors, whose deadlines are long enough (60 s) not to be what saves it: signed
/// requests must still be answered within a few seconds.
fn slowloris_against_256_descriptors(sources: &[Ipv4Addr]) {
    let _serial = heavy();
    raise_own_file_limit();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &dir.path().join("data"),
        &[
            "--header-read-timeout-secs",
            "60",
            "--idle-timeout-secs",
            "60",
        ],
        &["prlimit", "--nofile=256:256", "--"],
    );
    let log = server.log_text();
    assert!(
        log.contains("\"soft\":\"256\"") && log.contains("\"hard\":\"256\""),
        "the start logs both open-file limits: {log}"
    );
    assert!(
        log.contains("\"max_connections\":128"),
        "the default cap is the limit less room for the rest: {log}"
    );
    let name = "slowloris-target";
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", name),
            ("SecretData", "the value"),
            ("VersionId", "v1"),
        ],
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stats = Arc::new(AttackStats::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let to = addr(&server);
    let attack_started = Instant::now();
    for i in 0..1000 {
        let source = sources[i % sources.len()];
        rt.spawn(trickle(to, source, stats.clone(), stop_rx.clone()));
    }
    // Until the attack holds the server full and keeps pushing.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.closed_by_server.load(Ordering::Relaxed) < 2000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        stats.closed_by_server.load(Ordering::Relaxed) >= 2000,
        "the attack never filled the server: {} opened, {} closed",
        stats.opened.load(Ordering::Relaxed),
        stats.closed_by_server.load(Ordering::Relaxed)
    );
    // The server's descriptors while it is under attack, sampled meanwhile.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let most_descriptors = {
        let sampling = sampling.clone();
        let pid = server.child.id();
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(Ordering::Relaxed) {
                let n = std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|d| d.count())
                    .unwrap_or(0);
                most = most.max(n);
                std::thread::sleep(Duration::from_millis(10));
            }
            most
        })
    };
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (status, took) = signed_get(&server, name);
        assert_eq!(status, 200);
        worst = worst.max(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    sampling.store(false, Ordering::Relaxed);
    let descriptors = most_descriptors.join().expect("sampler");
    let opened = stats.opened.load(Ordering::Relaxed);
    let rate = opened as f64 / attack_started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    rt.shutdown_timeout(Duration::from_secs(2));
    eprintln!(
        "sources {}: {opened} attacker connections opened ({rate:.0}/s), server held at most {descriptors} descriptors, slowest signed request {worst:?}",
        sources.len()
    );
    assert!(
        worst < Duration::from_secs(3),
        "a signed request took {worst:?} under attack"
    );
    // 128 connections, a few closing, and what the store and the runtime hold: never near
    // the limit, where the store or the audit log could fail to open a file.
    assert!(
        descriptors < 220,
        "the server held up to {descriptors} of its 256 descriptors"
    );
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
    assert!(
        server.terminate(),
        "the server stops cleanly after the attack"
    );
}

#[test]
fn slowloris_from_many_addresses_does_not_lock_out_a_signed_request() {
    let sources: Vec<Ipv4Addr> = (2..10).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    slowloris_against_256_descriptors(&sources);
}

#[test]
fn slowloris_from_the_client_s_own_address_does_not_lock_it_out() {
    slowloris_against_256_descriptors(&[Ipv4Addr::new(127, 0, 0, 1)]);
}

#[test]
fn stalled_and_idle_connections_are_closed_after_their_deadlines() {
    let _serial = heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &dir.path().join("data"),
        &[
            "--header-read-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "2",
            "--body-read-timeout-secs",
            "1.5",
        ],
        &[],
    );
    let to = addr(&server);
    let within = |took: Option<Duration>, expected: f64, what: &str| {
        let took = took.unwrap_or_else(|| panic!("{what}: never closed"));
        let secs = took.as_secs_f64();
        assert!(
            secs > expected - 0.15 && secs < expected + 1.0,
            "{what}: closed after {secs:.2}s, expected {expected}s"
        );
    };

    // The client: a request head begun and never finished.
    let mut stalled = TcpStream::connect(to).expect("connect");
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(to).expect("connect");
    // One that keeps the head coming a byte at a time: the deadline is for the whole head.
    let mut trickling = TcpStream::connect(to).expect("connect");
    trickling.write_all(b"GET / HTTP/1.1\r\n").expect("write");
    let t0 = Instant::now();
    let mut trickle_closed = None;
    while t0.elapsed() < Duration::from_secs(3) {
        if trickling.write_all(b"X").is_err() || is_closed(&trickling) {
            trickle_closed = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    within(trickle_closed, 1.0, "a head sent a byte at a time");
    let rest = Duration::from_secs(3).saturating_sub(t0.elapsed());
    within(
        wait_closed(&mut stalled, rest).map(|_| t0.elapsed()),
        1.0,
        "a head begun and not finished",
    );
    within(
        wait_closed(&mut silent, Duration::from_secs(3)).map(|_| t0.elapsed()),
        1.0,
        "a connection that sends nothing",
    );

    // Keep-alive: answered, then idle until the idle deadline; a request in time resets it.
    let mut idle = TcpStream::connect(to).expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut answer = [0u8; 1024];
    idle.write_all(request).expect("write");
    let n = idle.read(&mut answer).expect("answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(1500));
    idle.write_all(request)
        .expect("a second request within the idle deadline");
    let n = idle.read(&mut answer).expect("second answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "still open");
    within(
        wait_closed(&mut idle, Duration::from_secs(4)),
        2.0,
        "an idle keep-alive connection",
    );

    // A body promised and not sent.
    let mut body = TcpStream::connect(to).expect("connect");
    body.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("write");
    within(
        wait_closed(&mut body, Duration::from_secs(4)),
        1.5,
        "a body not finished",
    );

    // After all that, the server answers as before.
    let (status, _) = signed_get_after_create(&server);
    assert_eq!(status, 200);
    assert!(server.terminate());
}

fn signed_get_after_create(server: &Server) -> (u16, Duration) {
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "after"),
            ("SecretData", "the value"),
            ("VersionId", "v1"),
        ],
    );
    signed_get(server, "after")
}

#[test]
fn the_per_address_cap_holds_and_the_newest_connection_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &dir.path().join("data"),
        &[
            "--max-connections-per-address",
            "10",
            "--max-connections",
            "40",
        ],
        &[],
    );
    let to = addr(&server);
    let attacker = Ipv4Addr::new(127, 0, 0, 7);
    let mut conns: Vec<TcpStream> = Vec::new();
    for _ in 0..25 {
        let mut c = connect_from(attacker, to);
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .expect("write");
        conns.push(c);
        // In order: each new one pushes out the address's oldest.
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let open: Vec<bool> = conns.iter().map(|c| !is_closed(c)).collect();
    assert_eq!(
        open.iter().filter(|o| **o).count(),
        10,
        "exactly the cap is open: {open:?}"
    );
    assert!(
        open[15..].iter().all(|o| *o),
        "the newest ten are the open ones: {open:?}"
    );
    // Another address is not held to this one's count...
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 8), to);
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = [0u8; 256];
    let n = other.read(&mut answer).expect("answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    // ... and the capped address itself still gets an answer on a new connection.
    let mut again = connect_from(attacker, to);
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let n = again.read(&mut answer).expect("answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(100));
    let still_open = conns.iter().filter(|c| !is_closed(c)).count();
    assert!(
        still_open <= 9,
        "the cap counts the new connection too: {still_open} old ones open"
    );
    assert!(server.terminate());
}

#[test]
fn shutdown_does_not_wait_for_stalled_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &dir.path().join("data"),
        &[
            "--header-read-timeout-secs",
            "60",
            "--idle-timeout-secs",
            "60",
        ],
        &[],
    );
    let to = addr(&server);
    let mut stalled = TcpStream::connect(to).expect("connect");
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut idle = TcpStream::connect(to).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = [0u8; 256];
    let _ = idle.read(&mut answer).expect("answer");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(server.terminate(), "stops cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM took {:?} with a stalled and an idle connection open",
        started.elapsed()
    );
    assert!(is_closed(&stalled) && is_closed(&idle));
}

/// hyper's own head limits (which answer a bare 431 or 414, in no cloud's format) sit above
/// what coffer checks itself: the longest URI hyper parses, 150 headers, 8 KiB of them.
#[test]
fn long_heads_reach_coffer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &[], &[]);
    let to = addr(&server);
    let ask = |head: String| -> String {
        let mut c = TcpStream::connect(to).expect("connect");
        c.write_all(head.as_bytes()).expect("write");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = vec![0u8; 512];
        let n = c.read(&mut answer).expect("answer");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    let uri = format!("/healthz?v={}", "a".repeat(65_534 - 11));
    assert_eq!(uri.len(), 65_534);
    let answer = ask(format!(
        "GET {uri} HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(7 * 1024)
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let headers: String = (0..150).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let answer = ask(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Past hyper's ceiling the connection gets hyper's refusal, not a stalled read.
    let answer = ask(format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(80 * 1024)
    ));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(server.terminate());
}
