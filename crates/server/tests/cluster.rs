//! Several active nodes on one PostgreSQL database, as real `coffer serve --database-url`
//! binaries (two or three per test, a throwaway database each), driven concurrently with
//! signed requests. Each test checks one of the cluster's invariants with counts, and prints
//! them (`cargo test --test cluster -- --nocapture` shows them):
//!
//! - nodes started at the same moment on an empty database bootstrap exactly once;
//! - a node whose root key does not open the store refuses to start;
//! - races are decided by the database (one CreateSecret winner; every acknowledged
//!   PutSecretValue kept with one Current and Previous the one it replaced; atomic stage moves);
//! - a replayed signed request (Alibaba nonce, Tencent legacy nonce, TC3 signature) is refused
//!   by every node;
//! - a disabled access key, a disabled key and a changed policy take effect on every node
//!   within the bound (1 s of cache plus one request), measured;
//! - the purge sweep runs on one node (its lease) and moves to another when that node is
//!   SIGKILLed;
//! - a rotation task half done by a node that is SIGKILLed is finished by another;
//! - a node SIGKILLed mid-load loses nothing it acknowledged, every acknowledged request has its
//!   audit entry in the log of the node that answered, and `coffer audit verify` checks every
//!   node's log against the database's register.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use coffer_store::testkit::pg::TestDatabase;
use common::{Server, AK, SK};
use serde_json::{json, Value};

/// Lease time the nodes of these tests run with: a killed node's jobs move within it.
const LEASE_SECS: u64 = 2;
/// The bound this file holds the cross-node caches to.
const CACHE_BOUND: Duration = Duration::from_secs(2);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ----------------------------------------------------------------------------- the cluster

/// A throwaway database, a directory for the nodes' data dirs, and one root key file.
struct Cluster {
    db: TestDatabase,
    dir: tempfile::TempDir,
    root_key: PathBuf,
}

/// Writes a new random root key (base64, mode 0600) to `path`.
fn write_root_key(path: &Path) {
    use base64::Engine;
    use std::os::unix::fs::OpenOptionsExt;
    let mut raw = [0u8; 32];
    for chunk in raw.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("create a root key file");
    f.write_all(
        base64::engine::general_purpose::STANDARD
            .encode(raw)
            .as_bytes(),
    )
    .expect("write the root key");
}

impl Cluster {
    fn new() -> Cluster {
        let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let root_key = dir.path().join("root.key");
        write_root_key(&root_key);
        Cluster { db, dir, root_key }
    }

    fn url(&self) -> String {
        self.db.url()
    }

    fn data_dir(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }

    /// The environment of node `name`: the shared database and root key, a short lease and
    /// quick background passes, plus `extra`.
    fn env(&self, name: &str, root_key: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("COFFER_DATABASE_URL", self.url()),
            ("COFFER_ROOT_KEY_FILE", root_key.display().to_string()),
            ("COFFER_NODE_NAME", name.to_string()),
            ("COFFER_LEASE_SECS", LEASE_SECS.to_string()),
            ("COFFER_PURGE_INTERVAL_SECS", "1".to_string()),
            ("COFFER_ROTATION_CHECK_SECS", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    fn spawn_as(&self, name: &str, root_key: &Path, extra: &[(&str, &str)]) -> Server {
        let env = self.env(name, root_key, extra);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::spawn_with(&self.data_dir(name), &env)
    }

    /// A node with the test's bootstrap credentials, ready.
    fn node(&self, name: &str, extra: &[(&str, &str)]) -> Server {
        let mut all = vec![
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ];
        all.extend_from_slice(extra);
        let server = self.spawn_as(name, &self.root_key, &all);
        server.wait_ready();
        server
    }

    /// The first column of the first row of `sql`, as text ("" for none).
    fn query(&self, sql: &str) -> String {
        self.db
            .query_blocking(sql)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default()
    }

    fn count(&self, sql: &str) -> i64 {
        self.query(sql)
            .parse()
            .unwrap_or_else(|_| panic!("not a count: {sql}"))
    }

    /// Every row of `sql`, each row's columns joined by `|`.
    fn rows(&self, sql: &str) -> Vec<String> {
        let text = self.query(&format!(
            "SELECT COALESCE(string_agg(r, E'\\n'), '') FROM ({sql}) AS q(r)"
        ));
        text.lines().map(str::to_string).collect()
    }

    /// The node holding lease `name` now ("" when none does).
    fn holder(&self, lease: &str) -> String {
        self.query(&format!(
            "SELECT holder FROM leases WHERE name = '{lease}' AND valid_until > clock_timestamp()"
        ))
    }
}

/// SIGTERM, then wait for the exit; returns whether it was clean.
fn stop(server: &mut Server) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    server.wait_exit(Duration::from_secs(20)) == Some(true)
}

/// SIGKILL: the node gets no chance to give anything back.
fn kill(server: &mut Server) {
    let _ = server.child.kill();
    let _ = server.child.wait();
}

// ------------------------------------------------------------------------------- requests

/// Sends one HTTP request on a new connection from the address `source` to `port`, with the
/// headers exactly as given (the host header included), and returns the status and the JSON
/// body. `None` when the connection fails (a node that is down).
fn raw(
    source: [u8; 4],
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<(u16, Value)> {
    use std::net::SocketAddr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            let stream = socket
                .connect(SocketAddr::from(([127, 0, 0, 1], port)))
                .await?;
            stream.into_std()
        })
        .ok()?;
    let mut stream = stream;
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    Some((status, json))
}

const CLIENT: [u8; 4] = [127, 0, 0, 1];
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// An Alibaba RPC v1 request (signed with `ak`/`sk`, `nonce`) as the query string of a POST.
fn alibaba_query(ak: &str, sk: &str, action: &str, params: &[(&str, &str)], nonce: &str) -> String {
    let client = coffer_auth::alibaba::RpcV1Client {
        access_key_id: ak,
        access_key_secret: sk.as_bytes(),
        timestamp: &common::timestamp_now(),
        nonce,
    };
    coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client).expect("sign")
}

/// Sends an Alibaba request (`query` from [`alibaba_query`]) to `server`; `None` when the
/// node cannot be reached.
fn send_alibaba(server: &Server, query: &str) -> Option<(u16, Value)> {
    raw(CLIENT, server.port, "POST", &format!("/?{query}"), &[], b"")
}

/// A fresh Alibaba request with the test's admin key.
fn ali(server: &Server, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    ali_as(server, AK, SK, action, params)
}

fn ali_as(
    server: &Server,
    ak: &str,
    sk: &str,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    send_alibaba(server, &alibaba_query(ak, sk, action, params, &nonce))
        .unwrap_or_else(|| panic!("{action}: the node did not answer"))
}

fn ali_ok(server: &Server, action: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = ali(server, action, params);
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// An admin API request signed (SigV4) with the test's admin key.
fn admin(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let mut headers = vec![
        ("host".to_string(), format!("127.0.0.1:{}", server.port)),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    coffer_auth::sigv4::sign(
        method,
        path,
        "",
        &mut headers,
        &body,
        AK,
        SK.as_bytes(),
        "coffer",
        "coffer",
        now(),
    )
    .expect("sign");
    raw(CLIENT, server.port, method, path, &headers, &body)
        .unwrap_or_else(|| panic!("{method} {path}: the node did not answer"))
}

fn admin_ok(server: &Server, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = admin(server, method, path, body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// The operator account's id.
fn operator_account(server: &Server) -> String {
    let accounts = admin_ok(server, "GET", "/coffer/v1/accounts", Value::Null);
    accounts["Accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["Operator"] == true))
        .and_then(|a| a["AccountId"].as_str())
        .expect("the operator account")
        .to_string()
}

/// How long after `t0` the request `attempt` first fails (polled every 20 ms, at most 10 s).
fn time_until_refused(t0: Instant, mut attempt: impl FnMut() -> (u16, Value)) -> Duration {
    loop {
        let (status, body) = attempt();
        if status != 200 {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still served after 10 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// -------------------------------------------------------------------------------- bootstrap

/// Three nodes started at the same moment on an empty database: one admin account with one
/// access key and one project, whichever node won; only the winner wrote
/// `bootstrap-credentials` and printed the key; the credentials work on every node. Twice:
/// with generated credentials, and with the same credentials given to every node.
#[test]
fn nodes_started_together_on_an_empty_database_bootstrap_once() {
    for round in ["generated", "given"] {
        let c = Cluster::new();
        let names = ["a", "b", "c"];
        let started = Instant::now();
        let given: &[(&str, &str)] = if round == "given" {
            &[
                ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
                ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ]
        } else {
            &[]
        };
        let mut nodes: Vec<Server> = names
            .iter()
            .map(|n| c.spawn_as(n, &c.root_key, given))
            .collect();
        for n in &nodes {
            n.wait_ready();
        }
        let ready = started.elapsed();
        assert_eq!(c.count("SELECT COUNT(*) FROM accounts"), 1, "{round}");
        assert_eq!(c.count("SELECT COUNT(*) FROM accounts WHERE operator"), 1);
        assert_eq!(c.count("SELECT COUNT(*) FROM access_keys"), 1, "{round}");
        assert_eq!(c.count("SELECT COUNT(*) FROM projects"), 1, "{round}");
        let written: Vec<PathBuf> = nodes
            .iter()
            .map(|n| n.data_dir.join("bootstrap-credentials"))
            .filter(|f| f.exists())
            .collect();
        let (ak, sk) = if round == "generated" {
            assert_eq!(written.len(), 1, "exactly one node writes the credentials");
            let text = std::fs::read_to_string(&written[0]).expect("read the credentials");
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}=")))
                    .expect("a credentials field")
                    .to_string()
            };
            (field("access_key_id"), field("access_key_secret"))
        } else {
            assert!(written.is_empty(), "given credentials are never written");
            (AK.to_string(), SK.to_string())
        };
        // The winner's credentials open every node.
        for n in &nodes {
            let (status, body) = ali_as(n, &ak, &sk, "ListSecrets", &[]);
            assert_eq!(status, 200, "{body}");
        }
        let mut winners = 0;
        let mut printed = 0;
        for n in &mut nodes {
            let log = n.log_text();
            assert!(stop(n), "a node did not stop cleanly: {log}");
            let out = n.stdout_text();
            let won = log.contains("created the admin account");
            let lost = log.contains("the store is initialised already");
            assert!(
                won != lost,
                "each node either bootstrapped or found it done: {log}"
            );
            winners += usize::from(won);
            printed += usize::from(out.contains("admin account"));
            if !won {
                assert!(out.trim().is_empty(), "a node that lost printed: {out}");
            }
        }
        assert_eq!(winners, 1, "{round}");
        assert_eq!(printed, usize::from(round == "generated"), "{round}");
        eprintln!(
            "bootstrap ({round}): 3 nodes started at once, ready in {ready:?}: 1 account, 1 \
             access key, 1 project, 1 winner, {} credentials file(s)",
            written.len()
        );
    }
}

// --------------------------------------------------------------------------------- root key

/// A node whose root key is not the store's refuses to start and says so: after the store was
/// bootstrapped, and when it starts at the same moment as a node with the right key on an
/// empty database (whichever key bootstraps, the other node stops).
#[test]
fn a_node_whose_root_key_does_not_open_the_store_refuses_to_start() {
    let c = Cluster::new();
    let mut a = c.node("a", &[]);
    ali_ok(
        &a,
        "CreateSecret",
        &[
            ("SecretName", "rk"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );
    let other_key = c.dir.path().join("other.key");
    write_root_key(&other_key);
    let mut b = c.spawn_as("b", &other_key, &[]);
    assert_eq!(
        b.wait_exit(Duration::from_secs(20)),
        Some(false),
        "a node with another root key must not serve"
    );
    let log = b.log_text();
    assert!(
        log.contains("the root key does not open the PostgreSQL database"),
        "{log}"
    );
    assert!(stop(&mut a));

    // Both at once on an empty database, each with its own key.
    let c = Cluster::new();
    let mut nodes = [
        c.spawn_as("x", &c.root_key, &[]),
        c.spawn_as("y", &other_key, &[]),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut exited = vec![];
    let mut serving = vec![];
    while exited.len() + serving.len() < 2 && Instant::now() < deadline {
        exited.clear();
        serving.clear();
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Ok(Some(status)) = n.child.try_wait() {
                assert!(!status.success());
                exited.push(i);
            } else if ureq::get(&format!("{}/healthz", n.base())).call().is_ok() {
                serving.push(i);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        (exited.len(), serving.len()),
        (1, 1),
        "one serves, one stops"
    );
    let log = nodes[exited[0]].log_text();
    assert!(
        log.contains("the root key does not open the PostgreSQL database"),
        "{log}"
    );
    assert_eq!(c.count("SELECT COUNT(*) FROM accounts"), 1);
    eprintln!("root key: 2 nodes with another root key, 2 refused to start with the message");
}

// ------------------------------------------------------------------------------------ races

/// Races between two nodes, decided by the database: 20 CreateSecret races (one name each,
/// sent to both nodes at once) have one winner each and a Rejected.ResourceExist loser; 9
/// PutSecretValue on one secret sent at once over both nodes (twice) keep every acknowledged
/// version, with Current on the last committed and Previous on the one it replaced; 40 moves of a
/// custom stage from both nodes, while readers on both watch, never show it on two versions.
#[test]
fn races_between_nodes_are_decided_by_the_database() {
    let c = Cluster::new();
    let a = Arc::new(c.node("a", &[]));
    let b = Arc::new(c.node("b", &[]));
    let nodes = [a.clone(), b.clone()];

    // CreateSecret of one name on both nodes at once.
    let races = 20;
    let (mut won, mut lost) = (0, 0);
    for i in 0..races {
        let name = format!("race-create-{i}");
        let barrier = Arc::new(Barrier::new(2));
        let answers: Vec<(u16, Value)> = nodes
            .iter()
            .map(|n| {
                let (n, name, barrier) = (n.clone(), name.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let query = alibaba_query(
                        AK,
                        SK,
                        "CreateSecret",
                        &[
                            ("SecretName", &name),
                            ("VersionId", "v1"),
                            ("SecretData", "x"),
                        ],
                        &uuid::Uuid::new_v4().simple().to_string(),
                    );
                    barrier.wait();
                    send_alibaba(&n, &query).expect("an answer")
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        for (status, body) in &answers {
            match status {
                200 => won += 1,
                409 => {
                    assert_eq!(body["Code"], "Rejected.ResourceExist", "{body}");
                    lost += 1;
                }
                _ => panic!("CreateSecret: {status} {body}"),
            }
        }
    }
    assert_eq!((won, lost), (races, races));
    assert_eq!(
        c.count("SELECT COUNT(*) FROM secrets WHERE name LIKE 'race-create-%'"),
        races
    );

    // PutSecretValue on one secret from both nodes: 9 at once (Alibaba keeps 10 versions, so
    // with the first one every version stays), twice.
    let mut put_total = 0;
    let mut acked_total = 0;
    let mut by_seq: Vec<String> = vec![];
    let mut stages: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..2 {
        let secret = format!("race-put-{round}");
        ali_ok(
            &a,
            "CreateSecret",
            &[
                ("SecretName", &secret),
                ("VersionId", "v0"),
                ("SecretData", "v0"),
            ],
        );
        let barrier = Arc::new(Barrier::new(9));
        let threads: Vec<_> = (0..9)
            .map(|t| {
                let (n, barrier, secret) = (nodes[t % 2].clone(), barrier.clone(), secret.clone());
                std::thread::spawn(move || {
                    let v = format!("t{t}");
                    let query = alibaba_query(
                        AK,
                        SK,
                        "PutSecretValue",
                        &[
                            ("SecretName", &secret),
                            ("VersionId", &v),
                            ("SecretData", &v),
                        ],
                        &uuid::Uuid::new_v4().simple().to_string(),
                    );
                    barrier.wait();
                    match send_alibaba(&n, &query) {
                        Some((200, _)) => Some(v),
                        other => {
                            eprintln!("a put was not acknowledged: {other:?}");
                            None
                        }
                    }
                })
            })
            .collect();
        let acked: Vec<String> = threads
            .into_iter()
            .filter_map(|t| t.join().expect("thread"))
            .collect();
        put_total += 9;
        acked_total += acked.len();
        by_seq = c.rows(&format!(
            "SELECT v.version_id FROM versions v JOIN secrets s ON s.id = v.secret_id \
             WHERE s.name = '{secret}' ORDER BY v.seq"
        ));
        stages = c
            .rows(&format!(
                "SELECT st.stage || '|' || st.version_id FROM stages st \
                 JOIN secrets s ON s.id = st.secret_id WHERE s.name = '{secret}'"
            ))
            .iter()
            .filter_map(|r| r.split_once('|'))
            .map(|(s, v)| (s.to_string(), v.to_string()))
            .collect();
        for v in &acked {
            assert!(
                by_seq.contains(v),
                "acknowledged version {v} is missing: {by_seq:?} {acked:?}"
            );
        }
        assert_eq!(
            by_seq.len(),
            acked.len() + 1,
            "only acknowledged versions exist"
        );
        assert_eq!(
            stages.get("@current"),
            by_seq.last(),
            "{stages:?} {by_seq:?}"
        );
        assert_eq!(
            stages.get("@previous"),
            by_seq.get(by_seq.len().saturating_sub(2)),
            "Previous is the version Current replaced"
        );
        assert_eq!(stages.len(), 2, "no other stage: {stages:?}");
        // Both nodes read the same Current.
        for n in &nodes {
            let got = ali_ok(n, "GetSecretValue", &[("SecretName", &secret)]);
            assert_eq!(got["VersionId"].as_str(), by_seq.last().map(String::as_str));
        }
    }

    // A custom stage moved by both nodes while readers on both watch it.
    let versions: Vec<String> = by_seq.iter().take(6).cloned().collect();
    ali_ok(
        &a,
        "UpdateSecretVersionStage",
        &[
            ("SecretName", "race-put-1"),
            ("VersionStage", "blue"),
            ("MoveToVersion", &versions[0]),
        ],
    );
    let stop_reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (n, stop_reading) = (n.clone(), stop_reading.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop_reading.load(std::sync::atomic::Ordering::SeqCst) {
                    let list = ali_ok(
                        &n,
                        "ListSecretVersionIds",
                        &[
                            ("SecretName", "race-put-1"),
                            ("IncludeDeprecated", "true"),
                            ("PageSize", "100"),
                        ],
                    );
                    let holders = list["VersionIds"]["VersionId"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .filter(|v| {
                                    v["VersionStages"]["VersionStage"]
                                        .as_array()
                                        .is_some_and(|s| s.iter().any(|s| s == "blue"))
                                })
                                .count()
                        })
                        .unwrap_or(0);
                    assert_eq!(
                        holders, 1,
                        "the stage is on one version at every read: {list}"
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let movers: Vec<_> = (0..4)
        .map(|t| {
            let (n, versions) = (nodes[t % 2].clone(), versions.clone());
            std::thread::spawn(move || {
                let mut moved = 0;
                for i in 0..10 {
                    // The version that has it now is read first; a concurrent move may take it
                    // meanwhile, and then this move is refused, not applied on top.
                    let to = &versions[(t * 7 + i) % versions.len()];
                    let list = ali_ok(
                        &n,
                        "ListSecretVersionIds",
                        &[
                            ("SecretName", "race-put-1"),
                            ("IncludeDeprecated", "true"),
                            ("PageSize", "100"),
                        ],
                    );
                    let from = list["VersionIds"]["VersionId"]
                        .as_array()
                        .and_then(|vs| {
                            vs.iter().find(|v| {
                                v["VersionStages"]["VersionStage"]
                                    .as_array()
                                    .is_some_and(|s| s.iter().any(|s| s == "blue"))
                            })
                        })
                        .and_then(|v| v["VersionId"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    let (status, _) = ali(
                        &n,
                        "UpdateSecretVersionStage",
                        &[
                            ("SecretName", "race-put-1"),
                            ("VersionStage", "blue"),
                            ("MoveToVersion", to),
                            ("RemoveFromVersion", &from),
                        ],
                    );
                    moved += usize::from(status == 200);
                }
                moved
            })
        })
        .collect();
    let moved: usize = movers.into_iter().map(|t| t.join().expect("mover")).sum();
    stop_reading.store(true, std::sync::atomic::Ordering::SeqCst);
    let reads: usize = readers.into_iter().map(|t| t.join().expect("reader")).sum();
    assert_eq!(
        c.count(
            "SELECT COUNT(*) FROM stages st JOIN secrets s ON s.id = st.secret_id \
             WHERE s.name = 'race-put-1' AND st.stage = '=blue'"
        ),
        1
    );
    eprintln!(
        "races: {races} CreateSecret races -> {won} won, {lost} Rejected.ResourceExist; \
         {acked_total} of {put_total} concurrent PutSecretValue acknowledged and kept ({} versions \
         in the last round), Current {:?} (the last committed), Previous {:?} (the one it \
         replaced); 40 stage moves ({moved} applied) under {reads} reads, never two holders",
        by_seq.len(),
        stages.get("@current"),
        stages.get("@previous"),
    );
}

// ----------------------------------------------------------------------------------- replay

/// A signed request replayed to another node is refused there, for each scheme that carries
/// replay protection: Alibaba's nonce (10 requests, each replayed to the other node and the
/// same node: 20 refusals; 10 more sent to both nodes at once: one success each), Tencent's
/// legacy nonce, and a TC3 signature replayed as another action from another address.
#[test]
fn a_replayed_request_is_refused_by_every_node() {
    let c = Cluster::new();
    let a = c.node("a", &[]);
    let b = c.node("b", &[]);
    ali_ok(
        &a,
        "CreateSecret",
        &[
            ("SecretName", "replayed"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );

    // Alibaba: first use on one node, replays on both.
    let (mut first_ok, mut refused) = (0, 0);
    for i in 0..10 {
        let (first, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let q = alibaba_query(
            AK,
            SK,
            "GetSecretValue",
            &[("SecretName", "replayed")],
            &nonce,
        );
        let (s, body) = send_alibaba(first, &q).expect("answer");
        assert_eq!(s, 200, "{body}");
        first_ok += 1;
        for n in [other, first] {
            let (s, body) = send_alibaba(n, &q).expect("answer");
            assert_eq!(
                (s, body["Code"].as_str()),
                (400, Some("SignatureNonceUsed")),
                "{body}"
            );
            refused += 1;
        }
    }
    // The same request to both nodes at the same moment: one of them serves it.
    let mut simultaneous_ok = 0;
    for _ in 0..10 {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let q = Arc::new(alibaba_query(
            AK,
            SK,
            "GetSecretValue",
            &[("SecretName", "replayed")],
            &nonce,
        ));
        let barrier = Arc::new(Barrier::new(2));
        let ports = [a.port, b.port];
        let answers: Vec<u16> = ports
            .iter()
            .map(|&port| {
                let (q, barrier) = (q.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    raw(CLIENT, port, "POST", &format!("/?{q}"), &[], b"")
                        .map(|(s, _)| s)
                        .unwrap_or(0)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(
            answers.iter().filter(|&&s| s == 200).count(),
            1,
            "{answers:?}"
        );
        assert_eq!(answers.iter().filter(|&&s| s == 400).count(), 1);
        simultaneous_ok += 1;
    }

    // Tencent's legacy signature: its nonce, first on a, then replayed to b.
    let host = "coffer.cluster.test";
    let ts = now().to_string();
    let nonce = (now() % 1_000_000_000 + 12_345).to_string();
    let mut params = vec![
        ("Action", "GetSecretValue"),
        ("Version", "2019-09-23"),
        ("Region", "ap-guangzhou"),
        ("Timestamp", ts.as_str()),
        ("Nonce", nonce.as_str()),
        ("SecretId", AK),
        ("SecretName", "replayed"),
        ("VersionId", "v1"),
    ];
    let signature = coffer_auth::tencent::sign_v1(
        "GET",
        host,
        &params,
        SK.as_bytes(),
        coffer_auth::tencent::V1Algorithm::HmacSha1,
    );
    params.push(("Signature", &signature));
    let query = coffer_auth::encoding::encode_query(&params);
    let headers = vec![("host".to_string(), host.to_string())];
    let legacy = |n: &Server| {
        raw(CLIENT, n.port, "GET", &format!("/?{query}"), &headers, b"")
            .expect("answer")
            .1["Response"]
            .clone()
    };
    let first = legacy(&a);
    assert!(first["Error"].is_null(), "{first}");
    let again = legacy(&b);
    assert_eq!(
        again["Error"]["Code"], "AuthFailure.SignatureFailure",
        "{again}"
    );
    assert!(
        again["Error"]["Message"].to_string().contains("Nonce"),
        "{again}"
    );

    // TC3: DisableSecret signed on a, replayed to b from another address as DeleteSecret.
    ali_ok(
        &a,
        "CreateSecret",
        &[
            ("SecretName", "tc3-target"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );
    let body = json!({"SecretName": "tc3-target"}).to_string().into_bytes();
    let signed = coffer_auth::tencent::tc3_post_json_headers(
        "DisableSecret",
        "2019-09-23",
        Some("ap-guangzhou"),
        host,
        &body,
        AK,
        SK.as_bytes(),
        now(),
    );
    let with_action = |action: &str| -> Vec<(String, String)> {
        signed
            .iter()
            .map(|(k, v)| {
                if k == "x-tc-action" {
                    (k.clone(), action.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    let tc3 = |source, n: &Server, headers: &[(String, String)]| {
        raw(source, n.port, "POST", "/", headers, &body)
            .expect("answer")
            .1["Response"]
            .clone()
    };
    let r = tc3(CLIENT, &a, &signed);
    assert!(r["Error"].is_null(), "{r}");
    let r = tc3(ATTACKER, &b, &with_action("DeleteSecret"));
    assert_eq!(r["Error"]["Code"], "AuthFailure.SignatureFailure", "{r}");
    assert!(
        r["Error"]["Message"].to_string().contains("already used"),
        "{r}"
    );
    // The identical request is a retry, which passes on any node.
    let r = tc3(ATTACKER, &b, &signed);
    assert!(r["Error"].is_null(), "{r}");
    let d = ali_ok(&b, "DescribeSecret", &[("SecretName", "tc3-target")]);
    assert!(
        d["PlannedDeleteTime"].is_null(),
        "the replay deleted it: {d}"
    );
    let records = c.count("SELECT COUNT(*) FROM replay_records");
    assert!(records >= 22, "{records} replay records");
    eprintln!(
        "replay: Alibaba {first_ok} first uses, {refused} replays refused on both nodes, \
         {simultaneous_ok} requests sent to both nodes at once served once each; Tencent legacy \
         nonce refused on the other node; TC3 signature refused as another action on the other \
         node; {records} records in the database"
    );
}

// ------------------------------------------------------------------------------ cache bound

/// A change on node a takes effect on node b within the bound: a disabled access key, a
/// disabled key (reads of its secrets) and a policy turned to Deny, three times each, node b's
/// cache warm each time. Prints the worst time seen.
#[test]
fn a_change_on_one_node_takes_effect_on_every_node_within_the_bound() {
    let c = Cluster::new();
    let a = c.node("a", &[]);
    let b = c.node("b", &[]);
    let account = operator_account(&a);
    let mut worst: HashMap<&str, Duration> = HashMap::new();
    let mut note = |what: &'static str, d: Duration| {
        let w = worst.entry(what).or_default();
        *w = (*w).max(d);
        assert!(d < CACHE_BOUND, "{what} took {d:?} to reach the other node");
    };
    for round in 0..3 {
        // An access key disabled on a.
        let key = admin_ok(
            &a,
            "POST",
            &format!("/coffer/v1/accounts/{account}/access-keys"),
            json!({"Admin": true}),
        );
        let (kid, ksecret) = (
            key["AccessKeyId"].as_str().expect("id").to_string(),
            key["AccessKeySecret"].as_str().expect("secret").to_string(),
        );
        let (s, body) = ali_as(&b, &kid, &ksecret, "ListSecrets", &[]);
        assert_eq!(s, 200, "{body}");
        admin_ok(
            &a,
            "POST",
            &format!("/coffer/v1/access-keys/{kid}/disable"),
            Value::Null,
        );
        let t0 = Instant::now();
        note(
            "disabled access key",
            time_until_refused(t0, || ali_as(&b, &kid, &ksecret, "ListSecrets", &[])),
        );

        // A key disabled on a: its secret stops being readable on b.
        let made = ali_ok(&a, "CreateKey", &[]);
        let key_id = made["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("key id")
            .to_string();
        let name = format!("under-key-{round}");
        ali_ok(
            &a,
            "CreateSecret",
            &[
                ("SecretName", &name),
                ("VersionId", "v1"),
                ("SecretData", "x"),
                ("EncryptionKeyId", &key_id),
            ],
        );
        ali_ok(&b, "GetSecretValue", &[("SecretName", &name)]);
        // b also creates under the key, so that it holds the key as read for a create.
        let create_on_b = |n: &str| {
            ali(
                &b,
                "CreateSecret",
                &[
                    ("SecretName", n),
                    ("VersionId", "v1"),
                    ("SecretData", "x"),
                    ("EncryptionKeyId", &key_id),
                ],
            )
        };
        let (s, body) = create_on_b(&format!("{name}-b"));
        assert_eq!(s, 200, "{body}");
        ali_ok(&a, "DisableKey", &[("KeyId", &key_id)]);
        let t0 = Instant::now();
        note(
            "disabled key",
            time_until_refused(t0, || ali(&b, "GetSecretValue", &[("SecretName", &name)])),
        );
        // ... and stops taking new secrets on b.
        let t0 = Instant::now();
        let mut attempt = 0;
        note(
            "disabled key, creates",
            time_until_refused(t0, || {
                attempt += 1;
                let (s, body) = create_on_b(&format!("{name}-b{attempt}"));
                if s != 200 {
                    assert!(
                        body.to_string().contains("Disabled"),
                        "refused for another reason: {body}"
                    );
                }
                (s, body)
            }),
        );

        // A policy turned from Allow to Deny on a.
        let plain = admin_ok(
            &a,
            "POST",
            &format!("/coffer/v1/accounts/{account}/access-keys"),
            json!({"Admin": false}),
        );
        let (pid, psecret) = (
            plain["AccessKeyId"].as_str().expect("id").to_string(),
            plain["AccessKeySecret"]
                .as_str()
                .expect("secret")
                .to_string(),
        );
        let policy = format!("reader-{round}");
        let doc = |effect: &str| {
            json!({"Document": json!({"Version": "1", "Statement": [
                {"Effect": effect, "Action": "secrets:*", "Resource": "*"}]}).to_string()})
        };
        admin_ok(
            &a,
            "PUT",
            &format!("/coffer/v1/accounts/{account}/policies/{policy}"),
            doc("Allow"),
        );
        admin_ok(
            &a,
            "PUT",
            &format!("/coffer/v1/access-keys/{pid}/policies/{policy}"),
            Value::Null,
        );
        let (s, body) = ali_as(
            &b,
            &pid,
            &psecret,
            "DescribeSecret",
            &[("SecretName", &name)],
        );
        assert_eq!(s, 200, "{body}");
        admin_ok(
            &a,
            "PUT",
            &format!("/coffer/v1/accounts/{account}/policies/{policy}"),
            doc("Deny"),
        );
        let t0 = Instant::now();
        note(
            "changed policy",
            time_until_refused(t0, || {
                ali_as(
                    &b,
                    &pid,
                    &psecret,
                    "DescribeSecret",
                    &[("SecretName", &name)],
                )
            }),
        );
    }
    let mut seen: Vec<_> = worst.into_iter().collect();
    seen.sort();
    eprintln!("cache bound: worst of 3 rounds on the other node (bound {CACHE_BOUND:?}): {seen:?}");
}

// ----------------------------------------------------------------------------------- leases

/// Secrets whose recovery window ended, made due in the database (the window is days long).
fn delete_and_make_due(c: &Cluster, node: &Server, prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    for name in &names {
        ali_ok(
            node,
            "CreateSecret",
            &[
                ("SecretName", name),
                ("VersionId", "v1"),
                ("SecretData", "x"),
            ],
        );
        ali_ok(
            node,
            "DeleteSecret",
            &[("SecretName", name), ("RecoveryWindowInDays", "7")],
        );
    }
    c.db.execute_blocking(&format!(
        "UPDATE secrets SET purge_at = 0 WHERE name LIKE '{prefix}-%'"
    ))
    .expect("make the secrets due");
    names
}

/// The names each node logged purging, by node.
fn purged_by(nodes: &[(&str, &Server)]) -> BTreeMap<String, Vec<String>> {
    nodes
        .iter()
        .map(|(name, n)| {
            let purged = n
                .log_text()
                .lines()
                .filter(|l| l.contains("purged a deleted secret"))
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| v["secret"].as_str().map(str::to_string))
                .collect();
            (name.to_string(), purged)
        })
        .collect()
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// The purge sweep runs on the one node holding its lease: 10 due secrets and 2 due keys are
/// purged once, all by the holder. The holder is SIGKILLed; another node takes the lease within the lease time
/// and purges 10 more, once each. The rotation scheduler's lease has one holder throughout.
#[test]
fn the_purge_sweep_runs_on_one_node_and_moves_when_it_is_killed() {
    let c = Cluster::new();
    let mut nodes: Vec<(&str, Server)> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, c.node(n, &[])))
        .collect();
    wait_for("a purge lease holder", Duration::from_secs(10), || {
        !c.holder("purge").is_empty()
    });
    let holder = c.holder("purge");
    assert_eq!(
        c.count("SELECT COUNT(*) FROM leases WHERE name = 'rotation-scheduler' AND valid_until > clock_timestamp()"),
        1
    );
    let first = delete_and_make_due(&c, &nodes[0].1, "purge-one", 10);
    // Two keys whose deletion date has come (made so in the database: the window is days).
    let mut keys = vec![];
    for _ in 0..2 {
        let made = ali_ok(&nodes[1].1, "CreateKey", &[]);
        let id = made["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("key id")
            .to_string();
        ali_ok(
            &nodes[1].1,
            "ScheduleKeyDeletion",
            &[("KeyId", &id), ("PendingWindowInDays", "7")],
        );
        keys.push(id);
    }
    c.db.execute_blocking("UPDATE keys SET state_at = 0 WHERE state = 'pending_deletion'")
        .expect("make the keys due");
    wait_for("the first purge", Duration::from_secs(10), || {
        c.count("SELECT COUNT(*) FROM secrets WHERE name LIKE 'purge-one-%'") == 0
            && c.count("SELECT COUNT(*) FROM keys WHERE state = 'pending_deletion'") == 0
    });
    let keys_deleted: Vec<(&str, usize)> = nodes
        .iter()
        .map(|(n, s)| {
            (
                *n,
                s.log_text()
                    .matches("deleted a key whose deletion date came")
                    .count(),
            )
        })
        .collect();
    for (n, deleted) in &keys_deleted {
        assert_eq!(
            *deleted,
            if *n == holder { keys.len() } else { 0 },
            "{keys_deleted:?}"
        );
    }
    let view: Vec<(&str, &Server)> = nodes.iter().map(|(n, s)| (*n, s)).collect();
    let by = purged_by(&view);
    for (node, names) in &by {
        if *node == holder {
            let mut got = names.clone();
            got.sort();
            let mut want = first.clone();
            want.sort();
            assert_eq!(got, want, "the holder purged each secret once");
        } else {
            assert!(
                names.is_empty(),
                "{node} purged while {holder} held the lease"
            );
        }
    }

    // SIGKILL the holder: its lease lapses and another node sweeps.
    let i = nodes
        .iter()
        .position(|(n, _)| *n == holder)
        .expect("holder");
    let (_, mut dead) = nodes.remove(i);
    let second = delete_and_make_due(&c, &nodes[0].1, "purge-two", 10);
    kill(&mut dead);
    let t0 = Instant::now();
    wait_for("the second purge", Duration::from_secs(15), || {
        c.count("SELECT COUNT(*) FROM secrets WHERE name LIKE 'purge-two-%'") == 0
    });
    let takeover = t0.elapsed();
    let new_holder = c.holder("purge");
    assert!(
        !new_holder.is_empty() && new_holder != holder,
        "{new_holder}"
    );
    let view: Vec<(&str, &Server)> = nodes.iter().map(|(n, s)| (*n, s)).collect();
    let by = purged_by(&view);
    let all: Vec<&String> = by.values().flatten().collect();
    assert_eq!(all.len(), second.len(), "each secret purged once: {by:?}");
    assert_eq!(
        all.iter().copied().collect::<HashSet<_>>().len(),
        second.len()
    );
    assert!(
        takeover < Duration::from_secs(LEASE_SECS + 4),
        "took {takeover:?}"
    );
    for (_, n) in &mut nodes {
        assert!(stop(n));
    }
    eprintln!(
        "purge lease: 3 nodes; {} secrets and {} keys purged by the holder {holder} alone; holder \
         SIGKILLed, {new_holder} took over and purged {} more in {takeover:?} (lease {LEASE_SECS} \
         s); 0 purged twice",
        first.len(),
        keys.len(),
        second.len()
    );
}

// ------------------------------------------------------------------------------- rotation

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tAqc",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `role` logs in to the machine's PostgreSQL with `password`.
fn pg_login(role: &str, password: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            role,
            "-d",
            "postgres",
            "-tAqc",
            "SELECT 1",
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A rotation of a managed PostgreSQL account, started on node a, which stops right after the
/// new password is set (a crash test hook) and is SIGKILLed while it holds the task's lease.
/// Node b leaves the task alone while a holds it, then takes it over within the lease time,
/// resumes it at its recorded step (test), and finishes it: the new password logs in, the old
/// one does not, and Current is the new version.
#[test]
fn a_rotation_half_done_by_a_killed_node_is_finished_by_another() {
    let script = format!("{}/../../scripts/pg-test-auth", env!("CARGO_MANIFEST_DIR"));
    assert!(
        Command::new(&script)
            .status()
            .expect("run pg-test-auth")
            .success(),
        "pg-test-auth failed"
    );
    let role = format!(
        "cluster_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    psql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'Start-pw-1' IN ROLE coffer_rotated"
    ));
    let c = Cluster::new();
    let mut a = c.node("a", &[("COFFER_TEST_HALT_AFTER_STEP", "set")]);
    let mut b = c.node("b", &[]);
    admin_ok(
        &a,
        "POST",
        "/coffer/v1/db-instances",
        json!({"DBInstanceId": "pg-cluster", "Engine": "postgres", "Host": "127.0.0.1",
               "Port": 5432, "AdminUser": "postgres", "AdminPassword": ""}),
    );
    let config = r#"{"SecretSubType":"SingleUser","DBInstanceId":"pg-cluster"}"#;
    let data =
        format!(r#"{{"Accounts":[{{"AccountName":"{role}","AccountPassword":"Start-pw-1"}}]}}"#);
    ali_ok(
        &a,
        "CreateSecret",
        &[
            ("SecretName", "managed"),
            ("VersionId", "v1"),
            ("SecretType", "Rds"),
            ("SecretData", &data),
            ("ExtendedConfig", config),
        ],
    );
    // RotateSecret waits for the rotation, which halts on a: it is answered by the kill.
    let port = a.port;
    let rotate = alibaba_query(
        AK,
        SK,
        "RotateSecret",
        &[("SecretName", "managed"), ("VersionId", "v2")],
        &uuid::Uuid::new_v4().simple().to_string(),
    );
    let waiting =
        std::thread::spawn(move || raw(CLIENT, port, "POST", &format!("/?{rotate}"), &[], b""));
    let step = || {
        c.query(
            "SELECT lower(trim(both '\"' from step)) || '|' || status FROM rotation_tasks \
             WHERE version_id = 'v2'",
        )
    };
    wait_for(
        "the rotation to set the password",
        Duration::from_secs(20),
        || step() == "test|running",
    );
    let task_lease = c.query("SELECT holder FROM leases WHERE name LIKE 'rotation-task/%'");
    assert_eq!(task_lease, "a");
    // b's scheduler passes every second; the task is a's while a lives.
    std::thread::sleep(Duration::from_secs(LEASE_SECS + 1));
    assert_eq!(step(), "test|running", "another node drove a task a holds");
    kill(&mut a);
    let _ = waiting.join();
    let t0 = Instant::now();
    wait_for("b to finish the rotation", Duration::from_secs(20), || {
        step() == "finish|succeeded"
    });
    let takeover = t0.elapsed();
    let got = ali_ok(&b, "GetSecretValue", &[("SecretName", "managed")]);
    assert_eq!(got["VersionId"], "v2", "{got}");
    let value: Value =
        serde_json::from_str(got["SecretData"].as_str().unwrap_or_default()).expect("credentials");
    let new_password = value["AccountPassword"].as_str().unwrap_or_default();
    assert!(
        pg_login(&role, new_password),
        "the new password does not log in"
    );
    assert!(
        !pg_login(&role, "Start-pw-1"),
        "the old password still logs in"
    );
    assert!(b.log_text().contains("rotated a managed secret"));
    assert!(stop(&mut b));
    psql(&format!("DROP ROLE IF EXISTS {role}"));
    eprintln!(
        "rotation: task halted after set on a, a SIGKILLed holding its lease; b resumed it at \
         test and finished it {takeover:?} later (lease {LEASE_SECS} s); new password logs in, \
         old one refused"
    );
}

// ------------------------------------------------------------------------- kill under load

/// One acknowledged write: which node answered, the request id, the secret and version.
#[derive(Clone, Debug)]
struct Acked {
    node: usize,
    request_id: String,
    name: String,
    version: String,
    value: String,
}

/// Three nodes under a write load from six clients (two per node); node c is SIGKILLed half
/// way. Every write any node acknowledged (c's included) is read back from the survivors with
/// its value; every acknowledged request has its entry in the audit log of the node that
/// answered; and `coffer audit verify` over the three logs and the database passes, while
/// leaving c's log out fails and names it.
#[test]
fn a_node_killed_mid_load_loses_nothing_it_acknowledged() {
    let c = Cluster::new();
    let nodes: Vec<Arc<Server>> = ["a", "b", "c"]
        .into_iter()
        .map(|n| Arc::new(c.node(n, &[])))
        .collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let port = ports[w % 3];
            std::thread::spawn(move || {
                let mut acked = vec![];
                let mut failed = 0;
                let mut i = 0;
                while Instant::now() < deadline {
                    let name = format!("load-{w}-{}", i / 3);
                    let version = format!("v{}", i % 3);
                    let value = format!("value-{w}-{i}");
                    let action = if i % 3 == 0 {
                        "CreateSecret"
                    } else {
                        "PutSecretValue"
                    };
                    let q = alibaba_query(
                        AK,
                        SK,
                        action,
                        &[
                            ("SecretName", &name),
                            ("VersionId", &version),
                            ("SecretData", &value),
                        ],
                        &uuid::Uuid::new_v4().simple().to_string(),
                    );
                    match raw(CLIENT, port, "POST", &format!("/?{q}"), &[], b"") {
                        Some((200, body)) => acked.push(Acked {
                            node: w % 3,
                            request_id: body["RequestId"].as_str().unwrap_or_default().to_string(),
                            name,
                            version,
                            value,
                        }),
                        _ => {
                            failed += 1;
                            // A node that is down refuses at once: no need to spin on it.
                            std::thread::sleep(Duration::from_millis(50));
                            // Not acknowledged: this secret's later writes would fail too.
                            i += 3 - i % 3;
                            continue;
                        }
                    }
                    i += 1;
                }
                (acked, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = nodes[2].child.id();
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let mut acked: Vec<Acked> = vec![];
    let mut failed = 0;
    for w in workers {
        let (a, f) = w.join().expect("worker");
        acked.extend(a);
        failed += f;
    }
    let nodes: Vec<Server> = nodes
        .into_iter()
        .map(|n| Arc::try_unwrap(n).unwrap_or_else(|_| panic!("a node is still shared")))
        .collect();
    let [mut a, mut b, mut dead] = <[Server; 3]>::try_from(nodes).unwrap_or_else(|_| panic!("3"));
    let _ = dead.child.wait();
    let on_c = acked.iter().filter(|x| x.node == 2).count();
    assert!(on_c > 0 && failed > 0, "the kill came during the load");

    // Every acknowledged write is there, on either survivor.
    for (i, x) in acked.iter().enumerate() {
        let reader = if i % 2 == 0 { &a } else { &b };
        let got = ali_ok(
            reader,
            "GetSecretValue",
            &[("SecretName", &x.name), ("VersionId", &x.version)],
        );
        assert_eq!(got["SecretData"], x.value.as_str(), "{x:?}");
    }
    // Every acknowledged request is in the log of the node that answered it.
    let logs: Vec<String> = [&a, &b, &dead]
        .iter()
        .map(|n| std::fs::read_to_string(n.data_dir.join("audit.log")).expect("audit log"))
        .collect();
    let ids: Vec<HashSet<String>> = logs
        .iter()
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| v["request_id"].as_str().map(str::to_string))
                .collect()
        })
        .collect();
    for x in &acked {
        assert!(
            ids[x.node].contains(&x.request_id),
            "the entry of {x:?} is not in its node's log"
        );
    }
    assert!(stop(&mut a) && stop(&mut b));

    // The cluster's audit logs, checked against the database's register.
    let verify = |logs: &[&Path]| {
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["audit", "verify", "--root-key-file"])
            .arg(&c.root_key)
            .arg("--database-url")
            .arg(c.url())
            .args(logs)
            .env_remove("COFFER_DATABASE_URL")
            .output()
            .expect("coffer audit verify")
    };
    let registered = c.count("SELECT COUNT(*) FROM audit_chains");
    assert_eq!(registered, 3, "every node reported its log");
    let all = verify(&[&a.data_dir, &b.data_dir, &dead.data_dir]);
    let text =
        String::from_utf8_lossy(&all.stdout).to_string() + &String::from_utf8_lossy(&all.stderr);
    assert!(all.status.success(), "{text}");
    assert!(
        text.contains("every log the database knows of was checked"),
        "{text}"
    );
    let without_c = verify(&[&a.data_dir, &b.data_dir]);
    let text = String::from_utf8_lossy(&without_c.stderr).to_string();
    assert!(!without_c.status.success());
    assert!(
        text.contains("MISSING") && text.contains("node c"),
        "{text}"
    );
    eprintln!(
        "kill under load: {} writes acknowledged ({on_c} by c before its SIGKILL), {failed} not \
         acknowledged, 0 lost; {} audit entries found in the answering node's log; \
         `audit verify` of 3 logs against {registered} registered passes, of 2 fails naming c",
        acked.len(),
        acked.len()
    );
}
