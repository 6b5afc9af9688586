use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use coffer_store::conformance::{sealed, secret};
use coffer_store::{SqliteOptions, SqliteStore};

fn scope() -> Scope {
    Scope {
        account: AccountId(1),
        region: "default".into(),
    }
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).expect("open")
}

async fn run_conformance(options: SqliteOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    coffer_store::conformance::run_all(|| {
        n += 1;
        let path: PathBuf = dir.path().join(format!("c{n}.db"));
        let options = options.clone();
        async move { Arc::new(SqliteStore::open(&path, options).expect("open")) as Arc<dyn Store> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_store_contract() {
    run_conformance(SqliteOptions::default()).await;
}

/// One reader and batches of one: every path without concurrency help.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_store_contract_with_minimal_resources() {
    run_conformance(SqliteOptions {
        read_connections: 1,
        max_batch: 1,
        ..Default::default()
    })
    .await;
}

async fn create(store: &SqliteStore, rec: &SecretRecord) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: vec![("v1".into(), sealed(1))],
            max_secrets: None,
        })
        .await
}

async fn count(store: &SqliteStore) -> u64 {
    store
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
        .total
}

/// Holds the database's write lock from another connection, so that the store's writer
/// waits (in its busy handler) and requests pile up in its queue.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(path: &Path) -> Self {
        let c = rusqlite::Connection::open(path).expect("open");
        c.execute_batch("BEGIN IMMEDIATE").expect("lock");
        WriteLock(c)
    }
    fn release(self) {
        self.0.execute_batch("ROLLBACK").expect("unlock");
    }
}

async fn wait_for_queue(store: &SqliteStore, n: usize) {
    for _ in 0..2000 {
        if store.stats().queued >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the queue never reached {n}: {:?}", store.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_all_commit_and_are_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir.path().join("c.db")));
    let mut tasks = vec![];
    for t in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut names = vec![];
            for i in 0..4 {
                let name = format!("s-{t}-{i}");
                create(&store, &secret(&scope(), &name, t * 10 + i))
                    .await
                    .expect("create");
                // Read-your-write: acknowledged means committed and visible.
                assert!(store
                    .get_secret(&scope(), &name)
                    .await
                    .expect("get")
                    .is_some());
                names.push(name);
            }
            names
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    assert_eq!(all.len(), 200);
    for name in &all {
        let got = store
            .get_secret(&scope(), name)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            store.read_value(got.id, "v1").await.expect("read"),
            Some(sealed(1))
        );
    }
    // Paging through everything yields each secret once.
    let mut listed = vec![];
    for offset in (0..200).step_by(30) {
        let page = store
            .list_secrets(
                &scope(),
                &SecretFilter::default(),
                PageRequest {
                    offset,
                    limit: 30,
                    newest_first: false,
                },
            )
            .await
            .expect("list");
        assert_eq!(page.total, 200);
        listed.extend(page.items.into_iter().map(|r| r.name));
    }
    listed.sort();
    all.sort();
    assert_eq!(listed, all);
    let stats = store.stats();
    assert_eq!(
        (stats.writes, stats.queued, stats.failed_batches),
        (200, 0, 0)
    );
    println!("{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_does_not_affect_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("b.db");
    let store = Arc::new(open(&path));
    let stale = secret(&scope(), "stale", 1);
    let fresh = secret(&scope(), "fresh", 2);
    for r in [&stale, &fresh] {
        create(&store, r).await.expect("create");
    }
    let mut moved = stale.clone();
    moved.description = "moved on".into();
    store
        .write_secret(SecretWrite::Update {
            record: moved,
            new_values: vec![],
            removed_versions: vec![],
        })
        .await
        .expect("update");

    let lock = WriteLock::take(&path);
    // A first write takes the writer into its wait, so the requests below queue together.
    let first = {
        let store = store.clone();
        tokio::spawn(async move { create(&store, &secret(&scope(), "first", 3)).await })
    };
    wait_for_queue(&store, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = store.stats();

    type Outcome = tokio::task::JoinHandle<Result<()>>;
    let spawn_create = |rec: SecretRecord| -> Outcome {
        let store = store.clone();
        tokio::spawn(async move { create(&store, &rec).await })
    };
    let good: Vec<Outcome> = (0..10)
        .map(|i| spawn_create(secret(&scope(), &format!("good-{i}"), 10 + i)))
        .collect();
    let dups: Vec<Outcome> = (0..2)
        .map(|i| spawn_create(secret(&scope(), "dup", 20 + i)))
        .collect();
    let taken = spawn_create(secret(&scope(), "fresh", 30));
    // Fails after writing its row, tags and first version: a stage on two versions.
    let mut clash = secret(&scope(), "clash", 31);
    clash.versions.push(VersionRecord {
        version_id: "v2".into(),
        created_at: Timestamp(31),
        kind: ValueKind::Text,
        stages: vec![Stage::Current],
        expires_at: None,
    });
    let clash_id = clash.id;
    let clash = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write_secret(SecretWrite::Create {
                    record: clash,
                    values: vec![("v1".into(), sealed(1)), ("v2".into(), sealed(2))],
                    max_secrets: None,
                })
                .await
        })
    };
    let conflict = {
        let store = store.clone();
        let mut old = stale.clone();
        old.description = "lost race".into();
        tokio::spawn(async move {
            store
                .write_secret(SecretWrite::Update {
                    record: old,
                    new_values: vec![],
                    removed_versions: vec![],
                })
                .await
        })
    };
    let update = {
        let store = store.clone();
        let mut next = fresh.clone();
        next.description = "updated in the batch".into();
        tokio::spawn(async move {
            store
                .write_secret(SecretWrite::Update {
                    record: next,
                    new_values: vec![],
                    removed_versions: vec![],
                })
                .await
        })
    };
    let orphan_key = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_access_key(&AccessKeyRecord {
                    id: "AK-orphan".into(),
                    account: AccountId(404),
                    sealed_secret: vec![1],
                    enabled: true,
                    admin: false,
                    created_at: Timestamp(1),
                })
                .await
        })
    };
    let requests = 10 + 2 + 4 + 1;
    wait_for_queue(&store, 1 + requests).await;

    // Reads neither wait for the blocked writer nor see uncommitted writes.
    let read = tokio::time::timeout(Duration::from_secs(5), store.get_secret(&scope(), "fresh"))
        .await
        .expect("a read waited for the writer")
        .expect("get")
        .expect("exists");
    assert_eq!(read.description, fresh.description);
    assert_eq!(count(&store).await, 2);
    assert!(!first.is_finished(), "answered before the commit");

    lock.release();
    first.await.expect("task").expect("first");
    for g in good {
        g.await.expect("task").expect("good create");
    }
    let mut dup_results = vec![];
    for d in dups {
        dup_results.push(d.await.expect("task"));
    }
    assert_eq!(dup_results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(dup_results.iter().any(|r| matches!(
        r,
        Err(Error::AlreadyExists { what: Resource::Secret, name }) if name == "dup"
    )));
    let r = taken.await.expect("task");
    assert!(
        matches!(&r, Err(Error::AlreadyExists { what: Resource::Secret, name }) if name == "fresh"),
        "{r:?}"
    );
    assert!(clash.await.expect("task").is_err());
    let r = conflict.await.expect("task");
    assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    update.await.expect("task").expect("update");
    let r = orphan_key.await.expect("task");
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::Account,
                ..
            })
        ),
        "{r:?}"
    );

    // The queued requests shared at most two transactions (normally exactly one).
    let after = store.stats();
    assert!(after.batches - before.batches <= 2, "{before:?} {after:?}");
    assert!(after.largest_batch >= requests, "{after:?}");
    assert_eq!(after.failed_batches, 0);

    // What failed left nothing; what succeeded is all there.
    assert!(store
        .get_secret(&scope(), "clash")
        .await
        .expect("get")
        .is_none());
    assert_eq!(store.read_value(clash_id, "v1").await.expect("read"), None);
    assert_eq!(
        store
            .get_secret(&scope(), "stale")
            .await
            .expect("get")
            .expect("exists")
            .description,
        "moved on"
    );
    assert_eq!(
        store
            .get_secret(&scope(), "fresh")
            .await
            .expect("get")
            .expect("exists")
            .description,
        "updated in the batch"
    );
    assert!(store
        .get_access_key("AK-orphan")
        .await
        .expect("get")
        .is_none());
    // stale, fresh, first, good-0..9, dup
    assert_eq!(count(&store).await, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_persists_across_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let store = open(&path);
    let a = secret(&scope(), "a", 1);
    let mut b = secret(&scope(), "b", 2);
    b.state = SecretState::PendingDelete {
        purge_at: Timestamp(50),
    };
    create(&store, &a).await.expect("create");
    create(&store, &b).await.expect("create");
    let mut a2 = a.clone();
    a2.versions[0].stages = vec![Stage::Previous];
    a2.versions.push(VersionRecord {
        version_id: "v2".into(),
        created_at: Timestamp(5),
        kind: ValueKind::Binary,
        stages: vec![Stage::Current],
        expires_at: None,
    });
    store
        .write_secret(SecretWrite::Update {
            record: a2.clone(),
            new_values: vec![("v2".into(), sealed(2))],
            removed_versions: vec![],
        })
        .await
        .expect("update");
    store
        .create_account(&Account {
            id: AccountId(1),
            name: "one".into(),
            operator: false,
            created_at: Timestamp(1),
            account_number: None,
        })
        .await
        .expect("account");
    store.close().await;
    store.close().await; // idempotent

    // Closed means closed for writes; reads still work.
    let late = create(&store, &secret(&scope(), "late", 3)).await;
    assert!(matches!(late, Err(Error::Internal(_))), "{late:?}");
    assert!(store
        .get_secret(&scope(), "a")
        .await
        .expect("get")
        .is_some());
    drop(store);

    let again = open(&path);
    let mut want = a2.clone();
    want.revision = 1;
    assert_eq!(
        again.get_secret(&scope(), "a").await.expect("get"),
        Some(want)
    );
    assert_eq!(
        again.read_value(a.id, "v2").await.expect("read"),
        Some(sealed(2))
    );
    assert_eq!(
        again.get_secret(&scope(), "b").await.expect("get"),
        Some(b.clone())
    );
    assert!(again
        .get_secret(&scope(), "late")
        .await
        .expect("get")
        .is_none());
    assert_eq!(count(&again).await, 2);
    assert_eq!(again.count_accounts().await.expect("count"), 1);
    // The counters and indexes carry on after reopening.
    let purged = again.purge_due(Timestamp(100), 10).await.expect("purge");
    assert_eq!(purged, vec![(scope(), "b".to_string())]);
    assert_eq!(count(&again).await, 1);
    drop(again);

    // Dropping without close loses nothing that was acknowledged.
    let third = open(&path);
    create(&third, &secret(&scope(), "c", 9))
        .await
        .expect("create");
    drop(third);
    let fourth = open(&path);
    assert_eq!(count(&fourth).await, 2);
    assert!(fourth
        .get_secret(&scope(), "c")
        .await
        .expect("get")
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_every_queued_write_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.db");
    let store = Arc::new(open(&path));
    let lock = WriteLock::take(&path);
    let mut pending = vec![];
    for i in 0..100 {
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            create(&store, &secret(&scope(), &format!("q-{i}"), i)).await
        }));
    }
    wait_for_queue(&store, 100).await;
    let closing = {
        let store = store.clone();
        tokio::spawn(async move { store.close().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!closing.is_finished(), "close did not wait for the queue");
    lock.release();
    closing.await.expect("close");
    for p in pending {
        p.await.expect("task").expect("queued write");
    }
    drop(store);
    let again = open(&path);
    assert_eq!(count(&again).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sets_up_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("o.db");
    let store = open(&path);
    let c = rusqlite::Connection::open(&path).expect("open");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert!(version >= 1);
    drop(store);
    // A database from a newer coffer is refused rather than misread.
    c.execute_batch("PRAGMA user_version = 9999").expect("bump");
    drop(c);
    assert!(matches!(
        SqliteStore::open(&path, SqliteOptions::default()),
        Err(Error::Internal(_))
    ));
    // A path that cannot be opened is an error, not a panic.
    assert!(SqliteStore::open(
        &dir.path().join("missing-dir").join("x.db"),
        SqliteOptions::default()
    )
    .is_err());
}

/// The read cache is right only while one process writes the database: a second exclusive
/// open is refused until the first store is gone, while a non-exclusive reader may look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_at_a_time_opens_a_database_for_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let first = open(&path);
    create(&first, &secret(&scope(), "a", 1))
        .await
        .expect("create");
    let second = SqliteStore::open(&path, SqliteOptions::default());
    match second {
        Err(Error::Internal(why)) => assert!(why.contains("in use"), "{why}"),
        Err(other) => panic!("a second exclusive open failed oddly: {other:?}"),
        Ok(_) => panic!("a second exclusive open succeeded"),
    }
    let reader = SqliteStore::open(
        &path,
        SqliteOptions {
            exclusive: false,
            ..Default::default()
        },
    )
    .expect("a non-exclusive open");
    assert!(reader
        .get_secret(&scope(), "a")
        .await
        .expect("get")
        .is_some());
    drop(reader);
    first.close().await;
    drop(first);
    let again = open(&path);
    assert!(again
        .get_secret(&scope(), "a")
        .await
        .expect("get")
        .is_some());
}
