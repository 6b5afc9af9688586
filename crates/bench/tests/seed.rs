//! `coffer-bench seed` on a real data dir: what it writes is what a server would have
//! written (encrypted values that open, versions, tags), and a second run adds nothing.

use std::sync::Arc;

use coffer_bench::seed::{seed, SeedArgs};
use coffer_core::service::VersionSelector;
use coffer_core::{
    Limits, PageRequest, Scope, SecretFilter, SecretStore, SecretValue, Service, Stage, SystemClock,
};
use coffer_crypto::SecretKey;

fn args(dir: &std::path::Path, secrets: u64) -> SeedArgs {
    SeedArgs {
        data_dir: dir.to_path_buf(),
        root_key_file: None,
        secrets,
        versions: 3,
        tags: 2,
        region: "default".into(),
        account: None,
        prefix: "t-".into(),
        concurrency: 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_writes_what_the_server_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What a first server start leaves: the root key, the database, the operator account.
    let (root, _) = SecretKey::load_or_create_file(&dir.path().join("root.key")).expect("root key");
    let open = || {
        Arc::new(
            coffer_store::SqliteStore::open(
                &dir.path().join("coffer.db"),
                coffer_store::SqliteOptions::default(),
            )
            .expect("store"),
        )
    };
    let store = open();
    let service = Service::new(
        store.clone(),
        root.clone(),
        Arc::new(SystemClock),
        Limits::default(),
    );
    let (account, _, _) = service
        .bootstrap(None, None)
        .await
        .expect("bootstrap")
        .expect("a new store");
    store.close().await;
    drop(service);
    drop(store);

    seed(args(dir.path(), 25)).await.expect("seed");
    // Again: the names exist, nothing is added.
    seed(args(dir.path(), 25)).await.expect("seed again");

    let store = open();
    let service = Service::new(
        store.clone(),
        root,
        Arc::new(SystemClock),
        Limits::default(),
    );
    let scope = Scope {
        account,
        region: "default".into(),
    };
    let page = store
        .list_secrets(
            &scope,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 100,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert_eq!(page.total, 25);
    let read = service
        .get_value(&scope, "t-000007", &VersionSelector::default())
        .await
        .expect("read");
    assert_eq!(read.version.version_id, "v3");
    assert_eq!(read.secret.versions.len(), 3);
    assert_eq!(read.secret.tags.len(), 2);
    assert!(read
        .secret
        .version("v2")
        .expect("v2")
        .has_stage(&Stage::Previous));
    match read.value {
        SecretValue::Text(t) => assert!(t.contains("seeded-7-3"), "{}", t.as_str()),
        SecretValue::Binary(_) => panic!("a text value was seeded"),
    }
    store.close().await;
}
