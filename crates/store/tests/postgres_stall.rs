//! A PostgreSQL that stops answering without closing anything (a hung server, a network path
//! that goes silent, then comes back), between the store and the machine's PostgreSQL: a
//! proxy that holds every byte while paused. Only this test's connections go through it, so
//! it runs beside the other tests on the shared server.
//!
//! What it proves: every call made while the database is silent fails with
//! `Error::Unavailable` within 5 seconds (no hang), the calls the stall cut off left nothing
//! behind, what was acknowledged before is all there, and the first call after the database
//! answers again succeeds (the pool does not hand out a connection still stuck behind a
//! statement from before).

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::store::SecretWrite;
use coffer_core::*;
use coffer_store::conformance::{sealed, secret};
use coffer_store::testkit::pg::{server_url, TestDatabase};
use coffer_store::{PgOptions, PgStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn scope() -> Scope {
    Scope {
        account: AccountId(1),
        region: "default".into(),
    }
}

/// `host:port` of the test server, from its URL.
fn upstream() -> String {
    let url = server_url();
    let authority = url.split("://").nth(1).unwrap_or(&url);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// A TCP proxy to PostgreSQL that can be paused: while paused it accepts and reads but
/// forwards nothing, in either direction, and keeps every connection open.
struct Proxy {
    port: u16,
    paused: watch::Sender<bool>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (paused, _) = watch::channel(false);
        let gate = paused.clone();
        let target = upstream();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, gate.subscribe()));
                tokio::spawn(pump(sr, cw, gate.subscribe()));
            }
        });
        Proxy { port, paused }
    }

    fn pause(&self, on: bool) {
        self.paused.send_replace(on);
    }
}

/// Copies `from` to `to`, holding each chunk while the gate says paused.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn create(store: &PgStore, name: &str) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: secret(&scope(), name, 1),
            values: vec![("v1".into(), sealed(1))],
            max_secrets: None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_fails_calls_within_5_seconds_and_the_pool_recovers() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let proxy = Proxy::start().await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, db.name());
    let store = Arc::new(
        PgStore::open(&url, PgOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening the store: {e}")),
    );

    // Acknowledged before the stall, on several pooled connections at once.
    let mut acknowledged = vec![];
    let mut tasks = vec![];
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("before-{i}");
            create(&store, &name).await.map(|()| name)
        }));
    }
    for t in tasks {
        acknowledged.push(t.await.expect("task").expect("create before the stall"));
    }

    // Silence: reads and writes, 24 at once (more than the pool's 16 connections).
    proxy.pause(true);
    let stalled_at = Instant::now();
    let mut tasks = vec![];
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = if i % 2 == 0 {
                store.get_secret(&scope(), "before-0").await.map(|_| ())
            } else {
                create(&store, &format!("during-{i}")).await
            };
            (result, started.elapsed())
        }));
    }
    let mut longest = Duration::ZERO;
    for t in tasks {
        let (result, took) = t.await.expect("task");
        longest = longest.max(took);
        match result {
            Err(Error::Unavailable { reason }) => {
                assert!(reason.starts_with("the database"), "{reason}");
                assert!(
                    !reason.contains("127.0.0.1"),
                    "the reason names the host: {reason}"
                );
            }
            other => panic!("a call to a silent database answered {other:?}"),
        }
    }
    assert!(
        longest < Duration::from_secs(5),
        "a call took {longest:?} to fail"
    );
    eprintln!(
        "24 calls to a silent database: all Unavailable, the longest after {longest:?} \
         ({:?} after the stall began)",
        stalled_at.elapsed()
    );

    // The database answers again: the very first call succeeds, then many at once.
    proxy.pause(false);
    let resumed = Instant::now();
    let first = store.get_secret(&scope(), "before-0").await;
    assert!(
        matches!(first, Ok(Some(_))),
        "the first read after the stall: {first:?}"
    );
    create(&store, "after-first")
        .await
        .expect("the first write after the stall");
    let first_ok = resumed.elapsed();
    let mut tasks = vec![];
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            create(&store, &format!("after-{i}")).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("a write after the stall");
    }
    for name in &acknowledged {
        assert!(
            store
                .get_secret(&scope(), name)
                .await
                .expect("read")
                .is_some(),
            "{name}, acknowledged before the stall, is gone"
        );
    }
    // The writes the stall cut off never reached COMMIT: none of them is there.
    let during = db
        .query("SELECT COUNT(*) FROM secrets WHERE name LIKE 'during-%'")
        .await
        .expect("count");
    assert_eq!(during.as_deref(), Some("0"));
    eprintln!(
        "after the stall: first read and write served {first_ok:?} after the database \
         answered again; 16 acknowledged before, all present; 32 writes after, all served"
    );
}
