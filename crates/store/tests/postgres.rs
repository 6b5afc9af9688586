//! The PostgreSQL store on the machine's PostgreSQL (see `coffer_store::testkit::pg` for which
//! server; every test makes a throwaway database and drops it at the end, also on failure):
//! the whole store contract, migrations when nodes start together, races between two stores
//! (two nodes) on one database, and failures that must be clean errors, not hangs or panics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::error::Resource;
use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::store::{serving_request, SecretWrite};
use coffer_core::*;
use coffer_store::conformance::{sealed, secret};
use coffer_store::postgres::POSTGRES_MIGRATIONS;
use coffer_store::testkit::pg::TestDatabase;
use coffer_store::{PgOptions, PgStore};
use tokio::sync::Barrier;

fn scope() -> Scope {
    Scope {
        account: AccountId(1),
        region: "default".into(),
    }
}

fn database() -> TestDatabase {
    TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"))
}

async fn open(url: &str) -> Arc<PgStore> {
    Arc::new(
        PgStore::open(url, PgOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening the store: {e}")),
    )
}

async fn create(store: &PgStore, rec: &SecretRecord) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: vec![("v1".into(), sealed(1))],
            max_secrets: None,
        })
        .await
}

/// Every conformance check, each on a fresh schema of one throwaway database (a schema is
/// much cheaper to make than a database, and just as empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_store_contract() {
    let db = database();
    let started = Instant::now();
    let mut n = 0;
    let db_ref = &db;
    coffer_store::conformance::run_all(|| {
        n += 1;
        let schema = format!("check_{n}");
        async move {
            db_ref
                .execute(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            open(&db_ref.url_with_schema(&schema)).await as Arc<dyn Store>
        }
    })
    .await;
    eprintln!(
        "{n} conformance checks on postgres in {:?}",
        started.elapsed()
    );
}

/// Nodes that start together on an empty database: one migrates, the others wait for it and
/// apply nothing; every one of them works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_opening_together_migrate_once() {
    let db = database();
    let url = db.url();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(&url, PgOptions::default()).await })
        })
        .collect();
    let mut stores = vec![];
    for o in opens {
        stores.push(o.await.expect("task").expect("every node opens"));
    }
    let known = POSTGRES_MIGRATIONS.len();
    let recorded = db
        .query("SELECT COUNT(*) || '/' || MAX(version) FROM schema_migrations")
        .await
        .expect("query");
    assert_eq!(recorded, Some(format!("{known}/{known}")));
    // What one node writes, every other reads.
    let rec = secret(&scope(), "shared", 1);
    create(&stores[0], &rec).await.expect("create");
    for s in &stores[1..] {
        assert_eq!(
            s.get_secret(&scope(), "shared").await.expect("read"),
            Some(rec.clone())
        );
    }
    // Opening again applies nothing.
    let again = open(&url).await;
    assert!(again
        .get_secret(&scope(), "shared")
        .await
        .expect("read")
        .is_some());
    let recorded = db
        .query("SELECT COUNT(*) FROM schema_migrations")
        .await
        .expect("query");
    assert_eq!(recorded, Some(known.to_string()));
}

/// A database that a newer coffer migrated is refused, not half-used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let db = database();
    drop(open(&db.url()).await);
    db.execute("INSERT INTO schema_migrations (version) VALUES (9999)")
        .await
        .expect("pretend a newer coffer ran");
    match PgStore::open(&db.url(), PgOptions::default()).await {
        Err(Error::Internal(m)) => assert!(m.contains("schema version 9999"), "{m}"),
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// Two nodes create the same name at the same moment, many times: exactly one wins each time
/// and the other hears `AlreadyExists`; the winner's secret is what both then read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_on_two_nodes_have_one_winner() {
    let db = database();
    let nodes = [open(&db.url()).await, open(&db.url()).await];
    const ROUNDS: usize = 25;
    let barrier = Arc::new(Barrier::new(2));
    let tasks: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(node, store)| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut results = vec![];
                for round in 0..ROUNDS {
                    let mut rec = secret(&scope(), &format!("race-{round}"), round as i64);
                    rec.description = format!("node {node}");
                    barrier.wait().await;
                    results.push((rec.clone(), create(&store, &rec).await));
                }
                results
            })
        })
        .collect();
    let mut per_node = vec![];
    for t in tasks {
        per_node.push(t.await.expect("task"));
    }
    for round in 0..ROUNDS {
        let name = format!("race-{round}");
        let outcomes: Vec<&(SecretRecord, Result<()>)> =
            per_node.iter().map(|results| &results[round]).collect();
        let winners: Vec<&SecretRecord> = outcomes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(rec, _)| rec)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        for (_, r) in &outcomes {
            match r {
                Ok(()) => {}
                Err(Error::AlreadyExists {
                    what: Resource::Secret,
                    name: n,
                }) if *n == name => {}
                Err(e) => panic!("the loser of {name} heard {e:?}, not AlreadyExists"),
            }
        }
        for store in &nodes {
            let got = store.get_secret(&scope(), &name).await.expect("read");
            assert_eq!(got.as_ref(), Some(winners[0]), "{name}");
        }
    }
    let total = nodes[1]
        .list_secrets(
            &scope(),
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await
        .expect("count")
        .total;
    assert_eq!(total, ROUNDS as u64, "the losers were counted");
}

/// Two nodes update one secret from the same revision, many times: one commits, the other
/// hears `Conflict` and changed nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_on_two_nodes_have_one_winner() {
    let db = database();
    let nodes = [open(&db.url()).await, open(&db.url()).await];
    create(&nodes[0], &secret(&scope(), "contended", 1))
        .await
        .expect("create");
    for round in 0..25 {
        let read = nodes[0]
            .get_secret(&scope(), "contended")
            .await
            .expect("read")
            .expect("exists");
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(node, store)| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let mut mine = read.clone();
                mine.description = format!("node {node} round {round}");
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = store
                        .write_secret(SecretWrite::Update {
                            record: mine.clone(),
                            new_values: vec![],
                            removed_versions: vec![],
                        })
                        .await;
                    (mine.description, r)
                })
            })
            .collect();
        let mut won = vec![];
        for t in tasks {
            match t.await.expect("task") {
                (d, Ok(())) => won.push(d),
                (_, Err(Error::Conflict)) => {}
                (_, Err(e)) => panic!("a racing update failed with {e:?}, not Conflict"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}");
        let now = nodes[1]
            .get_secret(&scope(), "contended")
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(
            (now.revision, &now.description),
            (read.revision + 1, &won[0])
        );
    }
}

fn text(s: &str) -> SecretValue {
    SecretValue::Text(s.to_string().into())
}

fn service(store: Arc<PgStore>, root: &coffer_crypto::SecretKey) -> Service {
    Service::new(
        store,
        coffer_crypto::SecretKey::from_base64(&root.to_base64()).expect("copy the root key"),
        Arc::new(SystemClock),
        Limits {
            max_versions_per_secret: 100,
            ..Limits::default()
        },
    )
}

/// Writers on two nodes put values into one secret at once, through the core (which retries
/// a lost race on fresh state): every version a writer was told is stored is there with its
/// value, readable from both nodes, and exactly one version is Current (one Previous).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_on_two_nodes_keep_every_acknowledged_version() {
    let db = database();
    let root = coffer_crypto::SecretKey::generate();
    let nodes = [
        Arc::new(service(open(&db.url()).await, &root)),
        Arc::new(service(open(&db.url()).await, &root)),
    ];
    let s = scope();
    nodes[0]
        .create_secret(
            &s,
            CreateSecret {
                name: "busy".into(),
                description: String::new(),
                kind: SecretKind::Generic,
                key: None,
                tags: vec![],
                version_id: "v0".into(),
                value: text("v0"),
                extended_config: None,
                policy: None,
                subscriptions: vec![],
            },
        )
        .await
        .expect("create");
    let barrier = Arc::new(Barrier::new(6));
    let mut tasks = vec![];
    for (n, node) in nodes.iter().enumerate() {
        for t in 0..3 {
            let (node, barrier, s) = (node.clone(), barrier.clone(), s.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let mut acked = vec![];
                for i in 0..4 {
                    let id = format!("n{n}-t{t}-{i}");
                    let put = new_version(&id, &format!("value of {id}"));
                    match node.put_value(&s, "busy", put).await {
                        Ok(_) => acked.push(id),
                        // Lost every retry to the other writers: not acknowledged, so not
                        // promised. Anything else is a failure.
                        Err(Error::Conflict) => {}
                        Err(e) => panic!("put {id}: {e:?}"),
                    }
                }
                acked
            }));
        }
    }
    let mut acked = vec![];
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    assert!(
        acked.len() >= 12,
        "most puts should win eventually: {acked:?}"
    );
    for node in &nodes {
        let rec = node.describe(&s, "busy").await.expect("describe");
        let with = |stage: &Stage| rec.versions.iter().filter(|v| v.has_stage(stage)).count();
        assert_eq!(with(&Stage::Current), 1, "{:?}", rec.versions);
        assert_eq!(with(&Stage::Previous), 1, "{:?}", rec.versions);
        let current = rec
            .version_with_stage(&Stage::Current)
            .map(|v| v.version_id.clone())
            .expect("a current version");
        assert!(acked.contains(&current), "{current} was never acknowledged");
        for id in &acked {
            assert!(rec.version(id).is_some(), "acknowledged {id} is missing");
            let read = node
                .get_value(
                    &s,
                    "busy",
                    &VersionSelector {
                        version_id: Some(id.clone()),
                        stage: None,
                    },
                )
                .await
                .expect("read");
            assert!(
                read.value.ct_eq(&text(&format!("value of {id}"))),
                "{id} holds another value"
            );
        }
    }
}

/// A create is pipelined on one connection: it runs in order on a connection whose cache
/// already holds some of its statements (an update prepared them) and not others; one that
/// fails (a taken name, a full quota) leaves nothing behind and the connection serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_creates_run_in_order_and_fail_cleanly() {
    let db = database();
    let other = open(&db.url()).await;
    let one = Arc::new(
        PgStore::open(
            &db.url(),
            PgOptions {
                max_connections: 1,
                ..PgOptions::default()
            },
        )
        .await
        .expect("open"),
    );
    let s = scope();
    create(&other, &secret(&s, "first", 1))
        .await
        .expect("create");
    // An update on the fresh connection prepares the version, stage and tag inserts only.
    let mut rec = one
        .get_secret(&s, "first")
        .await
        .expect("read")
        .expect("there");
    rec.versions[0].stages.clear();
    let mut v2 = rec.versions[0].clone();
    v2.version_id = "v2".into();
    v2.stages = vec![Stage::Current];
    rec.versions.push(v2);
    one.write_secret(SecretWrite::Update {
        record: rec,
        new_values: vec![("v2".into(), sealed(2))],
        removed_versions: vec![],
    })
    .await
    .expect("update");
    let with_quota = |name: &str, max: u64| SecretWrite::Create {
        record: secret(&s, name, 2),
        values: vec![("v1".into(), sealed(1))],
        max_secrets: Some(max),
    };
    one.write_secret(with_quota("second", 10))
        .await
        .expect("a create after an update on the same connection");
    assert!(matches!(
        one.write_secret(with_quota("second", 10)).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        one.write_secret(with_quota("third", 2)).await,
        Err(Error::LimitExceeded { .. })
    ));
    for (sql, expected) in [
        ("SELECT COUNT(*) FROM secrets", "2"),
        ("SELECT SUM(n) FROM secret_counts", "2"),
        ("SELECT COUNT(*) FROM versions", "3"),
        ("SELECT COUNT(*) FROM secret_tags", "2"),
    ] {
        let found = db.query(sql).await.expect("query").unwrap_or_default();
        assert_eq!(found, expected, "{sql}");
    }
    let second = one
        .get_secret(&s, "second")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(second.versions.len(), 1);
    assert_eq!(second.tags.len(), 1);
}

fn new_secret(name: &str, value: &str) -> CreateSecret {
    CreateSecret {
        name: name.into(),
        description: String::new(),
        kind: SecretKind::Generic,
        key: None,
        tags: vec![],
        version_id: "v0".into(),
        value: text(value),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

/// A new version `version_id` holding `value`, made current, with the default limits.
fn new_version(version_id: &str, value: &str) -> PutValue {
    PutValue {
        version_id: version_id.into(),
        value: text(value),
        stages: None,
        when_full: WhenFull::PruneUnstaged,
        max_versions: 100,
        max_stages: 12,
        expires_at: None,
        when_exists: WhenExists::Refuse,
    }
}

/// What node `n` reads now as the value of `name` (its current version, or `version`).
async fn value_on(n: &Service, name: &str, version: Option<&str>) -> Result<String> {
    let read = n
        .get_value(
            &scope(),
            name,
            &VersionSelector {
                version_id: version.map(str::to_string),
                stage: None,
            },
        )
        .await?;
    match read.value {
        SecretValue::Text(t) => Ok(t.to_string()),
        SecretValue::Binary(_) => panic!("a text value read back as binary"),
    }
}

/// Node b reads a secret over and over (from its cache once it has read it), and every change
/// node a acknowledges is what b's very next read returns: a new value, a stage moved back,
/// another version asked for by id, a description, a deletion window and a restore, an
/// immediate delete, and a secret created again under the same name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_read_on_one_node_sees_every_write_acknowledged_on_another() {
    let db = database();
    let root = coffer_crypto::SecretKey::generate();
    let a = service(open(&db.url()).await, &root);
    let b = service(open(&db.url()).await, &root);
    let s = scope();
    a.create_secret(&s, new_secret("c", "zero"))
        .await
        .expect("create");
    for _ in 0..3 {
        assert_eq!(value_on(&b, "c", None).await.expect("read"), "zero");
    }
    let put = new_version("v1", "one");
    a.put_value(&s, "c", put).await.expect("put");
    assert_eq!(value_on(&b, "c", None).await.expect("read"), "one");
    assert_eq!(value_on(&b, "c", Some("v0")).await.expect("read"), "zero");
    assert_eq!(value_on(&b, "c", None).await.expect("read"), "one");

    a.update_stage(
        &s,
        "c",
        Stage::Current,
        Some("v1".into()),
        Some("v0".into()),
        12,
    )
    .await
    .expect("move the current stage back");
    assert_eq!(value_on(&b, "c", None).await.expect("read"), "zero");

    a.update_description(&s, "c", "changed on a".into())
        .await
        .expect("describe");
    assert_eq!(
        b.describe(&s, "c").await.expect("describe").description,
        "changed on a"
    );

    a.delete(&s, "c", DeleteMode::Window { days: 7 }, |_| Ok(()))
        .await
        .expect("delete with a window");
    assert!(matches!(
        value_on(&b, "c", None).await,
        Err(Error::InDeleteWindow { .. })
    ));
    a.restore(&s, "c", SecretState::Enabled)
        .await
        .expect("restore");
    assert_eq!(value_on(&b, "c", None).await.expect("read"), "zero");

    a.delete(&s, "c", DeleteMode::Immediate, |_| Ok(()))
        .await
        .expect("delete now");
    assert!(matches!(
        value_on(&b, "c", None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        b.describe(&s, "c").await,
        Err(Error::NotFound { .. })
    ));
    a.create_secret(&s, new_secret("c", "again"))
        .await
        .expect("create again");
    assert_eq!(value_on(&b, "c", None).await.expect("read"), "again");
    assert_eq!(b.describe(&s, "c").await.expect("describe").description, "");
}

/// Within one request a node asks the database once per secret: a GetSecretValue reads the
/// secret for its resource policy and then its value, and the value read takes the check the
/// first read made (a write acknowledged before the request began is seen by that check). A
/// write another node acknowledges between the two reads belongs after the request; the next
/// request sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_checks_a_cached_secret_once_and_the_next_request_again() {
    let db = database();
    let root = coffer_crypto::SecretKey::generate();
    let a = Arc::new(service(open(&db.url()).await, &root));
    let b = service(open(&db.url()).await, &root);
    let s = scope();
    a.create_secret(&s, new_secret("once", "zero"))
        .await
        .expect("create");
    // b caches the secret and its current value.
    assert_eq!(value_on(&b, "once", None).await.expect("read"), "zero");
    let put = |value: &str, version: &str| new_version(version, value);
    serving_request(async {
        b.describe(&s, "once").await.expect("describe");
        // Node a's write, in a task of its own (not part of b's request).
        let (a2, s2, one) = (a.clone(), s.clone(), put("one", "v1"));
        tokio::spawn(async move { a2.put_value(&s2, "once", one).await })
            .await
            .expect("join")
            .expect("put");
        assert_eq!(
            value_on(&b, "once", None).await.expect("read"),
            "zero",
            "the value read of the request took its first check"
        );
    })
    .await;
    serving_request(async {
        assert_eq!(value_on(&b, "once", None).await.expect("read"), "one");
    })
    .await;
    // Outside of a request (background work) every read asks.
    a.put_value(&s, "once", put("two", "v2"))
        .await
        .expect("put");
    b.describe(&s, "once").await.expect("describe");
    assert_eq!(value_on(&b, "once", None).await.expect("read"), "two");
}

/// Many writers on two nodes: every create commits, is readable on the other node at once
/// (its cache asks the database first), and the totals (kept in count rows split per scope) add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_on_two_nodes_all_commit_and_are_readable() {
    let db = database();
    let nodes = [open(&db.url()).await, open(&db.url()).await];
    let mut tasks = vec![];
    for t in 0..16 {
        let (writer, reader) = (nodes[t % 2].clone(), nodes[(t + 1) % 2].clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..4 {
                let name = format!("s-{t}-{i}");
                create(&writer, &secret(&scope(), &name, (t * 10 + i) as i64))
                    .await
                    .expect("create");
                assert!(reader
                    .get_secret(&scope(), &name)
                    .await
                    .expect("read")
                    .is_some());
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut listed = vec![];
    for offset in (0..64).step_by(10) {
        let page = nodes[0]
            .list_secrets(
                &scope(),
                &SecretFilter::default(),
                PageRequest {
                    offset,
                    limit: 10,
                    newest_first: false,
                },
            )
            .await
            .expect("list");
        assert_eq!(page.total, 64);
        listed.extend(page.items.into_iter().map(|r| r.name));
    }
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 64);
    // Purged on one node: gone from the other's total.
    let doomed = nodes[1]
        .get_secret(&scope(), "s-0-0")
        .await
        .expect("read")
        .expect("exists");
    let mut pending = doomed.clone();
    pending.state = SecretState::PendingDelete {
        purge_at: Timestamp(5),
    };
    nodes[1]
        .write_secret(SecretWrite::Update {
            record: pending,
            new_values: vec![],
            removed_versions: vec![],
        })
        .await
        .expect("schedule deletion");
    let purged = nodes[0].purge_due(Timestamp(10), 10).await.expect("purge");
    assert_eq!(purged, vec![(scope(), "s-0-0".to_string())]);
    let total = nodes[1]
        .list_secrets(
            &scope(),
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await
        .expect("count")
        .total;
    assert_eq!(total, 63);
}

/// A statement stuck behind another session's lock ends at the statement timeout with a
/// clear error, and the store works again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stuck_on_a_lock_times_out_cleanly() {
    let db = database();
    let store = PgStore::open(
        &db.url(),
        PgOptions {
            statement_timeout: Duration::from_millis(300),
            ..PgOptions::default()
        },
    )
    .await
    .expect("open");
    let rec = secret(&scope(), "locked", 1);
    create(&store, &rec).await.expect("create");
    // Another session holds the row lock in an open transaction.
    let (holder, conn) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    let conn = tokio::spawn(conn);
    holder
        .batch_execute("BEGIN; SELECT 1 FROM secrets FOR UPDATE")
        .await
        .expect("lock");
    let mut next = rec.clone();
    next.description = "changed".into();
    let update = SecretWrite::Update {
        record: next.clone(),
        new_values: vec![],
        removed_versions: vec![],
    };
    let started = Instant::now();
    match store.write_secret(update.clone()).await {
        // Each dialect's "service unavailable": the client may retry.
        Err(Error::Unavailable { reason }) => assert!(
            reason.starts_with("the database did not answer in time"),
            "{reason}"
        ),
        other => panic!("a blocked write answered {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    holder.batch_execute("ROLLBACK").await.expect("unlock");
    store
        .write_secret(update)
        .await
        .expect("update after the lock");
    assert_eq!(
        store
            .get_secret(&scope(), "locked")
            .await
            .expect("read")
            .map(|r| r.description),
        Some("changed".to_string())
    );
    drop(holder);
    let _ = conn.await;
}

/// A database that cannot be reached is a prompt, clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_a_clear_error() {
    let started = Instant::now();
    // Nothing listens on port 1 of the loopback address.
    let r = PgStore::open(
        "postgres://postgres@127.0.0.1:1/coffer",
        PgOptions {
            connect_timeout: Duration::from_secs(2),
            ..PgOptions::default()
        },
    )
    .await;
    match r {
        Err(Error::Internal(m)) => assert!(
            m.starts_with("postgres unavailable") && m.to_lowercase().contains("refused"),
            "the message should say why: {m}"
        ),
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("opened a store on a closed port"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = PgStore::open("postgres://[not a url", PgOptions::default()).await;
    assert!(matches!(r, Err(Error::Internal(_))), "{:?}", r.err());
    // TLS is not spoken yet: said plainly, before any connection is tried.
    let r = PgStore::open(
        "postgres://postgres@127.0.0.1:5432/postgres?sslmode=require",
        PgOptions::default(),
    )
    .await;
    match r {
        Err(Error::Internal(m)) => assert!(m.contains("sslmode=require"), "{m}"),
        other => panic!("sslmode=require answered {:?}", other.err()),
    }
}

/// Text PostgreSQL cannot store (a NUL character, which SQLite keeps) is the client's error,
/// not the server's, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_postgres_cannot_store_is_an_invalid_parameter() {
    let db = database();
    let store = open(&db.url()).await;
    let mut rec = secret(&scope(), "nul", 1);
    rec.description = "before\0after".into();
    let r = create(&store, &rec).await;
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    assert!(store
        .get_secret(&scope(), "nul")
        .await
        .expect("read")
        .is_none());
}

/// The backup checks across kinds of store: exported from SQLite and imported into PostgreSQL,
/// and the other way round (each store a fresh file or a fresh schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_move_between_sqlite_and_postgres() {
    let db = database();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (db_ref, dir_ref) = (&db, dir.path());
    let n = std::sync::atomic::AtomicUsize::new(0);
    let n_ref = &n;
    let sqlite = || {
        let i = n_ref.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir_ref.join(format!("s{i}.db"));
        async move {
            Arc::new(
                coffer_store::SqliteStore::open(&path, coffer_store::SqliteOptions::default())
                    .expect("open sqlite"),
            ) as Arc<dyn Store>
        }
    };
    let postgres = || {
        let i = n_ref.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let schema = format!("b{i}");
        async move {
            db_ref
                .execute(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            open(&db_ref.url_with_schema(&schema)).await as Arc<dyn Store>
        }
    };
    coffer_store::conformance::run_backup_checks(sqlite, postgres).await;
    coffer_store::conformance::run_backup_checks(postgres, sqlite).await;
    eprintln!(
        "backup checks sqlite → postgres and back in {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------- several nodes

/// Leases: one holder at a time across nodes, renewed by its holder, taken by another node
/// once it lapses, given back only by its holder; eight nodes asking for a fresh lease at the
/// same moment give it to exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_has_one_holder_across_nodes_and_moves_when_it_lapses() {
    let db = database();
    let (a, b) = (open(&db.url()).await, open(&db.url()).await);
    assert!(a.leases_are_shared());
    let take = |s: &Arc<PgStore>, holder: &'static str, ttl: u64| {
        let s = s.clone();
        async move {
            s.try_acquire_lease("job", holder, ttl)
                .await
                .expect("lease")
        }
    };
    assert!(take(&a, "a", 60_000).await);
    assert!(!take(&b, "b", 60_000).await, "held by a");
    assert!(take(&a, "a", 400).await, "renewed by its holder");
    // Only the holder gives it back.
    b.release_lease("job", "b").await.expect("release");
    assert!(!take(&b, "b", 60_000).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(take(&b, "b", 60_000).await, "lapsed: another node takes it");
    assert!(!take(&a, "a", 60_000).await, "a's renewal comes too late");
    b.release_lease("job", "b").await.expect("release");
    assert!(take(&a, "a", 60_000).await, "given back: taken at once");

    let start = Arc::new(Barrier::new(8));
    let askers: Vec<_> = (0..8)
        .map(|i| {
            let (s, start) = (
                if i % 2 == 0 { a.clone() } else { b.clone() },
                start.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                s.try_acquire_lease("fresh", &format!("node-{i}"), 60_000)
                    .await
                    .expect("lease")
            })
        })
        .collect();
    let mut holders = 0;
    for t in askers {
        holders += usize::from(t.await.expect("task"));
    }
    assert_eq!(holders, 1);
}

/// The service's leases on two nodes: renewed in the background while held (past several
/// lease times), trusted no longer than the lease time, given back when dropped so that the
/// other node takes it at once, and taken over by another node within the lease time when
/// its holder stops renewing (it was killed: here, its runtime ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nodes_lease_is_renewed_while_held_and_taken_over_after_it_stops() {
    let db = database();
    let root = coffer_crypto::SecretKey::generate();
    let ttl = Duration::from_millis(600);
    let a = service(open(&db.url()).await, &root).with_node("a", ttl);
    let b = service(open(&db.url()).await, &root).with_node("b", ttl);
    let held = a.try_lease("job").await.expect("ask").expect("free");
    tokio::time::sleep(ttl * 3).await;
    assert!(held.is_held(), "renewed in the background");
    assert!(b.try_lease("job").await.expect("ask").is_none());
    assert!(
        a.try_lease("job").await.expect("ask").is_none(),
        "one value per lease"
    );
    drop(held);
    let t0 = Instant::now();
    let held = loop {
        if let Some(l) = b.try_lease("job").await.expect("ask") {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(t0.elapsed() < ttl, "given back, not left to lapse");
    drop(held);

    // A node that dies holding a lease: its runtime (and the renewer on it) ends without
    // giving the lease back. Another node takes it once it lapses, within the lease time.
    let url = db.url();
    let dead_root = coffer_crypto::SecretKey::from_base64(&root.to_base64()).expect("copy");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let c = service(open(&url).await, &dead_root).with_node("c", ttl);
            let lease = loop {
                if let Some(l) = c.try_lease("job").await.expect("ask") {
                    break l;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            // Never dropped: as if the process was killed.
            std::mem::forget(lease);
        });
    })
    .join()
    .expect("the dying node");
    let t0 = Instant::now();
    assert!(
        a.try_lease("job").await.expect("ask").is_none(),
        "still c's"
    );
    let taken = loop {
        if let Some(l) = a.try_lease("job").await.expect("ask") {
            break l;
        }
        assert!(t0.elapsed() < ttl * 3, "never lapsed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        t0.elapsed() <= ttl + Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    assert!(taken.is_held());
}

/// Replay records: the first use of a fingerprint is recorded on any node, a second use on any
/// node finds it (with what it was first used for), a record past its expiry is reused, eight
/// nodes recording one fingerprint at once record it once, and the sweep deletes expired
/// records only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_record_is_seen_by_every_node() {
    use coffer_store::postgres::ReplayRecord;
    let db = database();
    let (a, b) = (open(&db.url()).await, open(&db.url()).await);
    let fp = [7u8; 16];
    let t = 1_795_000_000;
    assert_eq!(
        a.record_replay("ak", &fp, b"first", t, t + 600, true)
            .await
            .expect("record"),
        ReplayRecord::Recorded
    );
    assert_eq!(
        b.record_replay("ak", &fp, b"second", t + 10, t + 610, true)
            .await
            .expect("record"),
        ReplayRecord::Seen(Some(b"first".to_vec()))
    );
    assert_eq!(
        b.record_replay("ak", &fp, b"", t + 10, t + 610, false)
            .await
            .expect("record"),
        ReplayRecord::Seen(None)
    );
    // Another key, the same fingerprint: another record.
    assert_eq!(
        b.record_replay("ak2", &fp, b"", t, t + 600, false)
            .await
            .expect("record"),
        ReplayRecord::Recorded
    );
    // Past its expiry, the record is written anew.
    assert_eq!(
        b.record_replay("ak", &fp, b"later", t + 600, t + 1200, true)
            .await
            .expect("record"),
        ReplayRecord::Recorded
    );
    let start = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (s, start) = (
                if i % 2 == 0 { a.clone() } else { b.clone() },
                start.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                s.record_replay("ak", &[9u8; 16], b"", t, t + 600, false)
                    .await
                    .expect("record")
            })
        })
        .collect();
    let mut recorded = 0;
    for r in racers {
        recorded += usize::from(r.await.expect("task") == ReplayRecord::Recorded);
    }
    assert_eq!(recorded, 1);
    assert_eq!(a.replay_record_count().await.expect("count"), 3);
    // At t + 600 the records made at t (expiring then) go; the renewed one stays.
    assert_eq!(
        a.sweep_cluster_records(t + 600, 100).await.expect("sweep"),
        2
    );
    assert_eq!(a.replay_record_count().await.expect("count"), 1);
}

/// The register of audit logs: each log by its first line's MAC, only ever moved forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_register_moves_forward_only() {
    let db = database();
    let store = open(&db.url()).await;
    let mac = |c: char| c.to_string().repeat(64);
    store
        .record_audit_chain(&mac('a'), "n1", "h:/a/audit.log", 5, &mac('5'))
        .await
        .expect("record");
    store
        .record_audit_chain(&mac('a'), "n2", "h:/a/audit.log", 9, &mac('9'))
        .await
        .expect("record");
    store
        .record_audit_chain(&mac('a'), "n1", "h:/a/audit.log", 7, &mac('7'))
        .await
        .expect("record");
    store
        .record_audit_chain(&mac('b'), "n3", "h:/b/audit.log", 1, &mac('1'))
        .await
        .expect("record");
    let chains = store.audit_chains().await.expect("list");
    assert_eq!(chains.len(), 2);
    assert_eq!(
        (
            chains[0].node.as_str(),
            chains[0].last_seq,
            chains[0].last_mac.as_str()
        ),
        ("n2", 9, mac('9').as_str())
    );
    assert_eq!(chains[1].location, "h:/b/audit.log");
}

/// A rewrap runs on one node at a time: while one node holds the rewrap's lease, another node
/// asked to start one refuses and says why; once the lease is given back, it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrap_runs_on_one_node_at_a_time() {
    use coffer_core::service::lease::REWRAP_LEASE;
    use coffer_core::service::{RewrapOptions, RewrapState};
    let db = database();
    let root = coffer_crypto::SecretKey::generate();
    let ttl = Duration::from_secs(5);
    let a = service(open(&db.url()).await, &root).with_node("a", ttl);
    let b = Arc::new(service(open(&db.url()).await, &root).with_node("b", ttl));
    let opts = RewrapOptions {
        new_root_key: false,
        new_key_material: false,
    };
    let running_on_a = a.try_lease(REWRAP_LEASE).await.expect("ask").expect("free");
    match b.start_rewrap(opts).await {
        Err(Error::InvalidState { reason, .. }) => {
            assert!(reason.contains("another node"), "{reason}")
        }
        other => panic!("a second rewrap started: {other:?}"),
    }
    drop(running_on_a);
    let t0 = Instant::now();
    let status = loop {
        match b.start_rewrap(opts).await {
            Ok(s) => break s,
            Err(Error::InvalidState { .. }) if t0.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status.state, RewrapState::Running);
    while b.rewrap_status().state == RewrapState::Running {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.rewrap_status().state, RewrapState::Done);
}
