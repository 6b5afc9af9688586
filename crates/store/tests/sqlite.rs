use std::sync::Arc;

use coffer_core::store::SecretWrite;
use coffer_core::*;
use coffer_store::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    coffer_store::conformance::run_all(|| {
        n += 1;
        let store = SqliteStore::open(
            &dir.path().join(format!("c{n}.db")),
            SqliteOptions::default(),
        )
        .expect("open");
        Arc::new(store) as Arc<dyn Store>
    })
    .await;
}

fn scope() -> Scope {
    Scope {
        account: AccountId(1),
        region: "default".into(),
    }
}

fn record(name: &str) -> SecretRecord {
    coffer_store::conformance::secret(&scope(), name, 1)
}

fn sealed() -> SealedValue {
    coffer_store::conformance::sealed(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_share_batches_and_failures_stay_isolated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).expect("open"));
    let mut tasks = vec![];
    for t in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = vec![];
            for i in 0..4 {
                let rec = record(&format!("s-{t}-{i}"));
                outcomes.push(
                    store
                        .write_secret(SecretWrite::Create {
                            record: rec,
                            values: vec![("v1".into(), sealed())],
                        })
                        .await,
                );
                // Every writer also tries a duplicate, which must fail alone.
                let dup = record(&format!("s-{t}-{i}"));
                let r = store
                    .write_secret(SecretWrite::Create {
                        record: dup,
                        values: vec![("v1".into(), sealed())],
                    })
                    .await;
                assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
            }
            outcomes
        }));
    }
    for t in tasks {
        for r in t.await.expect("task") {
            r.expect("create");
        }
    }
    let scope = Scope {
        account: AccountId(1),
        region: "default".into(),
    };
    let page = store
        .list_secrets(
            &scope,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 1,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert_eq!(page.total, 200);
    store.close().await;
    // Closed means closed.
    assert!(store
        .write_secret(SecretWrite::Create {
            record: record("late"),
            values: vec![("v1".into(), sealed())]
        })
        .await
        .is_err());
    // Everything is there after reopening.
    let again = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
    for t in 0..50 {
        for i in 0..4 {
            assert!(again
                .get_secret(&scope, &format!("s-{t}-{i}"))
                .await
                .expect("get")
                .is_some());
        }
    }
    let page = again
        .list_secrets(
            &scope,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await
        .expect("count");
    assert_eq!(page.total, 200);
}
