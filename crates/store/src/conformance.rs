//! The contract every [`Store`] must keep, as functions that a test of each implementation
//! calls with a fresh store.

use std::sync::Arc;

use coffer_core::store::SecretWrite;
use coffer_core::*;
use uuid::Uuid;

fn scope(n: u64) -> Scope {
    Scope {
        account: AccountId(n),
        region: "default".into(),
    }
}

/// A stand-in sealed value; stores never look inside.
pub fn sealed(tag: u8) -> SealedValue {
    SealedValue {
        key_id: "k".into(),
        key_version: "kv".into(),
        envelope: coffer_crypto::Envelope {
            wrapped_data_key: vec![tag; 8],
            ciphertext: vec![tag; 16],
        },
    }
}

/// A generic secret with one current version `v1` and one tag.
pub fn secret(scope: &Scope, name: &str, created: i64) -> SecretRecord {
    SecretRecord {
        id: Uuid::new_v4(),
        scope: scope.clone(),
        name: name.into(),
        kind: SecretKind::Generic,
        description: format!("about {name}"),
        key_id: "k".into(),
        tags: vec![Tag {
            key: "env".into(),
            value: "dev".into(),
        }],
        state: SecretState::Enabled,
        rotation: RotationPolicy::default(),
        extended_config: None,
        policy: None,
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
        revision: 0,
        versions: vec![VersionRecord {
            version_id: "v1".into(),
            created_at: Timestamp(created),
            kind: ValueKind::Text,
            stages: vec![Stage::Current],
        }],
    }
}

async fn create(store: &Arc<dyn Store>, rec: &SecretRecord) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: vec![("v1".into(), sealed(1))],
        })
        .await
}

fn all() -> PageRequest {
    PageRequest {
        offset: 0,
        limit: 100,
        newest_first: false,
    }
}

pub async fn secrets_round_trip(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "alpha", 10);
    create(&store, &rec).await.expect("create");
    let got = store
        .get_secret(&s, "alpha")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, rec);
    assert_eq!(
        store.read_value(rec.id, "v1").await.expect("read"),
        Some(sealed(1))
    );
    assert_eq!(store.read_value(rec.id, "v2").await.expect("read"), None);
    // Another account or region does not see it.
    assert!(store
        .get_secret(&scope(2), "alpha")
        .await
        .expect("get")
        .is_none());
    let other_region = Scope {
        account: AccountId(1),
        region: "other".into(),
    };
    assert!(store
        .get_secret(&other_region, "alpha")
        .await
        .expect("get")
        .is_none());
    // The name is taken, also while the secret waits for deletion.
    let dup = create(&store, &secret(&s, "alpha", 11)).await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })), "{dup:?}");
    let mut pending = got.clone();
    pending.state = SecretState::PendingDelete {
        purge_at: Timestamp(1000),
    };
    store
        .write_secret(SecretWrite::Update {
            record: pending,
            new_values: vec![],
            removed_versions: vec![],
        })
        .await
        .expect("schedule");
    let dup = create(&store, &secret(&s, "alpha", 12)).await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })), "{dup:?}");
    // The same name in another account is fine.
    create(&store, &secret(&scope(2), "alpha", 13))
        .await
        .expect("other account");
}

pub async fn updates_are_revision_checked(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "beta", 10);
    create(&store, &rec).await.expect("create");
    let mut next = rec.clone();
    next.versions[0].stages = vec![Stage::Previous];
    next.versions.push(VersionRecord {
        version_id: "v2".into(),
        created_at: Timestamp(20),
        kind: ValueKind::Binary,
        stages: vec![Stage::Current, Stage::Custom("blue".into())],
    });
    next.tags = vec![Tag {
        key: "team".into(),
        value: "a".into(),
    }];
    next.description = "changed".into();
    store
        .write_secret(SecretWrite::Update {
            record: next.clone(),
            new_values: vec![("v2".into(), sealed(2))],
            removed_versions: vec![],
        })
        .await
        .expect("update");
    // A writer that read revision 0 loses.
    let stale = store
        .write_secret(SecretWrite::Update {
            record: rec.clone(),
            new_values: vec![],
            removed_versions: vec![],
        })
        .await;
    assert!(matches!(stale, Err(Error::Conflict)), "{stale:?}");
    let got = store
        .get_secret(&s, "beta")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.revision, 1);
    assert_eq!(got.description, "changed");
    assert_eq!(got.tags, next.tags);
    assert_eq!(got.versions, next.versions);
    assert_eq!(
        store.read_value(rec.id, "v2").await.expect("read"),
        Some(sealed(2))
    );
    // Two versions may not share a stage.
    let mut bad = got.clone();
    bad.versions[0].stages.push(Stage::Current);
    let r = store
        .write_secret(SecretWrite::Update {
            record: bad,
            new_values: vec![],
            removed_versions: vec![],
        })
        .await;
    assert!(r.is_err(), "a stage on two versions was accepted");
    let after = store
        .get_secret(&s, "beta")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after, got, "a failed write changed something");
    // Removing a version removes its value.
    let mut pruned = after.clone();
    pruned.versions.remove(0);
    store
        .write_secret(SecretWrite::Update {
            record: pruned,
            new_values: vec![],
            removed_versions: vec!["v1".into()],
        })
        .await
        .expect("prune");
    assert_eq!(store.read_value(rec.id, "v1").await.expect("read"), None);
    let after = store
        .get_secret(&s, "beta")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.versions.len(), 1);
    // Delete checks the revision, then removes everything.
    let stale = store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: 0,
        })
        .await;
    assert!(matches!(stale, Err(Error::Conflict)));
    store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: after.revision,
        })
        .await
        .expect("delete");
    assert!(store.get_secret(&s, "beta").await.expect("get").is_none());
    assert_eq!(store.read_value(rec.id, "v2").await.expect("read"), None);
}

pub async fn listing_filters_and_pages(store: Arc<dyn Store>) {
    let s = scope(7);
    for i in 0..25 {
        let mut rec = secret(&s, &format!("svc-{i:02}"), 100 + i);
        rec.tags = vec![Tag {
            key: format!("k{}", i % 3),
            value: format!("v{}", i % 5),
        }];
        create(&store, &rec).await.expect("create");
    }
    create(&store, &secret(&scope(8), "svc-other", 1))
        .await
        .expect("create");
    let page = store
        .list_secrets(
            &s,
            &SecretFilter::default(),
            PageRequest {
                offset: 10,
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert_eq!(page.total, 25);
    let names: Vec<_> = page.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"svc-10"));
    assert_eq!(names.len(), 10);
    assert!(page
        .items
        .iter()
        .all(|r| r.versions.is_empty() && r.tags.len() == 1));
    let newest = store
        .list_secrets(
            &s,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 1,
                newest_first: true,
            },
        )
        .await
        .expect("list");
    assert_eq!(newest.items[0].name, "svc-24");
    let past_end = store
        .list_secrets(
            &s,
            &SecretFilter::default(),
            PageRequest {
                offset: 100,
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert!(past_end.items.is_empty());
    assert_eq!(past_end.total, 25);
    let by = |f: SecretFilter| {
        let store = store.clone();
        let s = s.clone();
        async move { store.list_secrets(&s, &f, all()).await.expect("list") }
    };
    let p = by(SecretFilter {
        names: vec!["svc-03".into(), "svc-04".into(), "nope".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 2);
    let p = by(SecretFilter {
        tag_keys: vec!["k0".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 9);
    let p = by(SecretFilter {
        tag_keys: vec!["k0".into()],
        tag_values: vec!["v0".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 2); // i = 0, 15
    let p = by(SecretFilter {
        name_contains: Some("-1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 10);
    let p = by(SecretFilter {
        descriptions: vec!["about svc-05".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 1);
    let p = by(SecretFilter {
        kinds: vec!["Generic".into()],
        pending_delete: Some(false),
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 25);
    let p = by(SecretFilter {
        pending_delete: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 0);
    let count_only = store
        .list_secrets(
            &s,
            &SecretFilter::default(),
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await
        .expect("count");
    assert_eq!((count_only.total, count_only.items.len()), (25, 0));
}

pub async fn purge_respects_the_cutoff(store: Arc<dyn Store>) {
    let s = scope(3);
    for (name, purge_at) in [("p1", 100), ("p2", 200), ("p3", 300)] {
        let mut rec = secret(&s, name, 1);
        rec.state = SecretState::PendingDelete {
            purge_at: Timestamp(purge_at),
        };
        create(&store, &rec).await.expect("create");
    }
    create(&store, &secret(&s, "kept", 1))
        .await
        .expect("create");
    let purged = store.purge_due(Timestamp(200), 10).await.expect("purge");
    let mut names: Vec<_> = purged.iter().map(|(_, n)| n.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["p1", "p2"]);
    assert!(store.get_secret(&s, "p1").await.expect("get").is_none());
    assert!(store.get_secret(&s, "p3").await.expect("get").is_some());
    let total = store
        .list_secrets(
            &s,
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
    assert_eq!(total, 2);
    // The name is free again.
    create(&store, &secret(&s, "p1", 5))
        .await
        .expect("re-create");
}

pub async fn keys_and_access_keys(store: Arc<dyn Store>) {
    let s = scope(4);
    let key = |id: &str, default: bool, alias: &str| KeyRecord {
        id: id.into(),
        scope: s.clone(),
        aliases: vec![alias.into()],
        description: String::new(),
        state: KeyState::Enabled,
        is_default: default,
        created_at: Timestamp(1),
        primary_version: "kv1".into(),
        versions: vec![KeyVersion {
            id: "kv1".into(),
            created_at: Timestamp(1),
            wrapped_material: vec![9; 40],
        }],
    };
    store
        .create_key(&key("key-1", true, "alias/one"))
        .await
        .expect("create key");
    let second_default = store.create_key(&key("key-2", true, "alias/two")).await;
    assert!(matches!(second_default, Err(Error::AlreadyExists { .. })));
    assert!(
        store.get_key(&s, "key-2").await.expect("get").is_none(),
        "half-written key"
    );
    let alias_taken = store.create_key(&key("key-3", false, "alias/one")).await;
    assert!(matches!(alias_taken, Err(Error::AlreadyExists { .. })));
    assert_eq!(
        store.get_default_key(&s).await.expect("get").map(|k| k.id),
        Some("key-1".into())
    );
    assert_eq!(
        store.get_key_by_alias(&s, "alias/one").await.expect("get"),
        Some(key("key-1", true, "alias/one"))
    );
    assert!(
        store
            .get_key(&scope(5), "key-1")
            .await
            .expect("get")
            .is_none(),
        "key visible in another scope"
    );

    assert_eq!(store.count_accounts().await.expect("count"), 0);
    let acct = Account {
        id: AccountId(42),
        name: "a".into(),
        created_at: Timestamp(1),
    };
    store.create_account(&acct).await.expect("account");
    assert!(matches!(
        store.create_account(&acct).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(
        store.get_account(AccountId(42)).await.expect("get"),
        Some(acct)
    );
    assert_eq!(store.count_accounts().await.expect("count"), 1);
    let ak = AccessKeyRecord {
        id: "AK1".into(),
        account: AccountId(42),
        sealed_secret: vec![1, 2, 3],
        enabled: true,
        admin: true,
        created_at: Timestamp(1),
    };
    store.create_access_key(&ak).await.expect("access key");
    assert!(matches!(
        store.create_access_key(&ak).await,
        Err(Error::AlreadyExists { .. })
    ));
    store
        .set_access_key_enabled("AK1", false)
        .await
        .expect("disable");
    assert!(
        !store
            .get_access_key("AK1")
            .await
            .expect("get")
            .expect("exists")
            .enabled
    );
    assert!(matches!(
        store.set_access_key_enabled("nope", true).await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.get_access_key("nope").await.expect("get").is_none());
}

/// Runs every check, each on its own fresh store from `make`.
pub async fn run_all<F: FnMut() -> Arc<dyn Store>>(mut make: F) {
    secrets_round_trip(make()).await;
    updates_are_revision_checked(make()).await;
    listing_filters_and_pages(make()).await;
    purge_respects_the_cutoff(make()).await;
    keys_and_access_keys(make()).await;
}
