//! Checks of [`KeyStore`]: key ids, aliases and the one default key per scope, updates,
//! pages, the in-use check, and the rotation schedule.

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::*;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("keys", |s| Box::pin(keys(s))),
    ("key_updates_lists_and_use", |s| {
        Box::pin(key_updates_lists_and_use(s))
    }),
    ("key_rotation_schedule", |s| {
        Box::pin(key_rotation_schedule(s))
    }),
];

/// Keys: ids, aliases per scope, one default per scope.
pub async fn keys(store: Arc<dyn Store>) {
    let s = scope(4);
    let key = |sc: &Scope, id: &str, default: bool, aliases: &[&str]| KeyRecord {
        id: id.into(),
        scope: sc.clone(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        description: format!("key {id}"),
        state: KeyState::Enabled,
        is_default: default,
        created_at: Timestamp(1),
        primary_version: "kv2".into(),
        versions: vec![
            KeyVersion {
                id: "kv1".into(),
                created_at: Timestamp(1),
                wrapped_material: vec![9; 40],
            },
            KeyVersion {
                id: "kv2".into(),
                created_at: Timestamp(2),
                wrapped_material: vec![8; 40],
            },
        ],
        rotation: KeyRotation::default(),
    };
    assert_eq!(store.get_default_key(&s).await.expect("get"), None);
    let k1 = key(&s, "key-1", true, &["alias/one", "alias/uno"]);
    store.create_key(&k1).await.expect("create key");
    assert_eq!(
        store.get_key(&s, "key-1").await.expect("get"),
        Some(k1.clone())
    );
    assert_eq!(
        store.get_default_key(&s).await.expect("get"),
        Some(k1.clone())
    );
    for alias in ["alias/one", "alias/uno"] {
        assert_eq!(
            store.get_key_by_alias(&s, alias).await.expect("get"),
            Some(k1.clone())
        );
    }
    assert_eq!(
        store.get_key_by_alias(&s, "alias/none").await.expect("get"),
        None
    );
    assert_eq!(store.get_key(&s, "key-9").await.expect("get"), None);

    // A second default in the scope is refused, and leaves nothing behind.
    let r = store
        .create_key(&key(&s, "key-2", true, &["alias/two"]))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::AlreadyExists {
                what: Resource::Key,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(store.get_key(&s, "key-2").await.expect("get"), None);
    assert_eq!(
        store.get_key_by_alias(&s, "alias/two").await.expect("get"),
        None
    );
    // A taken alias is refused, and leaves nothing behind.
    let r = store
        .create_key(&key(&s, "key-3", false, &["alias/three", "alias/one"]))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::AlreadyExists {
                what: Resource::Key,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(store.get_key(&s, "key-3").await.expect("get"), None);
    assert_eq!(
        store
            .get_key_by_alias(&s, "alias/three")
            .await
            .expect("get"),
        None
    );
    // A taken id is refused.
    let r = store
        .create_key(&key(&s, "key-1", false, &["alias/four"]))
        .await;
    assert!(already_exists(&r, Resource::Key, "key-1"), "{r:?}");
    // A non-default key with fresh aliases is fine.
    let mut k5 = key(&s, "key-5", false, &["alias/five"]);
    k5.state = KeyState::PendingDeletion {
        delete_at: Timestamp(77),
    };
    store.create_key(&k5).await.expect("second key");
    assert_eq!(store.get_key(&s, "key-5").await.expect("get"), Some(k5));
    assert_eq!(
        store.get_default_key(&s).await.expect("get").map(|k| k.id),
        Some("key-1".into())
    );

    // Another scope: its own default, and the same alias names another key.
    let o = scope(5);
    assert_eq!(store.get_key(&o, "key-1").await.expect("get"), None);
    assert_eq!(
        store.get_key_by_alias(&o, "alias/one").await.expect("get"),
        None
    );
    assert_eq!(store.get_default_key(&o).await.expect("get"), None);
    let k6 = key(&o, "key-6", true, &["alias/one"]);
    store
        .create_key(&k6)
        .await
        .expect("default of another scope");
    assert_eq!(
        store.get_key_by_alias(&o, "alias/one").await.expect("get"),
        Some(k6.clone())
    );
    assert_eq!(store.get_default_key(&o).await.expect("get"), Some(k6));
    assert_eq!(
        store.get_default_key(&s).await.expect("get").map(|k| k.id),
        Some("key-1".into())
    );
}

/// Keys change state, description, aliases and gain versions; lists page in creation order;
/// a key is in use while any secret is encrypted under it.
pub async fn key_updates_lists_and_use(store: Arc<dyn Store>) {
    let (s, other) = (scope(5), scope(6));
    for (i, id) in ["kc", "ka", "kb"].iter().enumerate() {
        store
            .create_key(&plain_key(&s, id, 10 + i as i64, &[]))
            .await
            .expect("create");
    }
    store
        .create_key(&plain_key(&other, "kz", 1, &["alias/z"]))
        .await
        .expect("other scope");
    let page = store.list_keys(&s, first(2)).await.expect("list");
    assert_eq!(page.total, 3);
    let ids: Vec<&str> = page.items.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["kc", "ka"]);
    let rest = store
        .list_keys(
            &s,
            PageRequest {
                offset: 2,
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].id, "kb");

    let mut k = plain_key(&s, "ka", 11, &[]);
    k.description = "changed".into();
    k.state = KeyState::PendingDeletion {
        delete_at: Timestamp(99),
    };
    k.aliases = vec!["alias/a1".into(), "alias/a2".into()];
    k.versions.push(KeyVersion {
        id: "v2".into(),
        created_at: Timestamp(20),
        wrapped_material: vec![2; 40],
    });
    k.primary_version = "v2".into();
    store.update_key(&k).await.expect("update");
    assert_eq!(store.get_key(&s, "ka").await.expect("get"), Some(k.clone()));
    assert_eq!(
        store.get_key_by_alias(&s, "alias/a2").await.expect("get"),
        Some(k.clone())
    );
    // An alias another key holds is refused; the scope's aliases are per scope.
    let mut b = plain_key(&s, "kb", 12, &["alias/a1"]);
    let r = store.update_key(&b).await;
    assert!(
        matches!(
            r,
            Err(Error::AlreadyExists {
                what: Resource::Key,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(
        store
            .get_key(&s, "kb")
            .await
            .expect("get")
            .map(|k| k.aliases),
        Some(vec![])
    );
    b.aliases = vec!["alias/z".into()];
    store
        .update_key(&b)
        .await
        .expect("alias/z is free in this scope");
    // Moving an alias: drop it from one key, give it to another.
    k.aliases = vec!["alias/a2".into()];
    store.update_key(&k).await.expect("drop alias");
    b.aliases.push("alias/a1".into());
    store.update_key(&b).await.expect("take alias");
    assert_eq!(
        store
            .get_key_by_alias(&s, "alias/a1")
            .await
            .expect("get")
            .map(|k| k.id),
        Some("kb".into())
    );
    let r = store.update_key(&plain_key(&s, "kz", 1, &[])).await;
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::Key,
                ..
            })
        ),
        "{r:?}"
    );

    assert!(!store.key_in_use("kc").await.expect("in use"));
    let mut sec = secret(&s, "uses-kc", 30);
    sec.key_id = "kc".into();
    create(&store, &sec).await.expect("secret");
    assert!(store.key_in_use("kc").await.expect("in use"));
    assert!(!store.key_in_use("ka").await.expect("in use"));

    // Purge: "ka" is pending deletion until 99; "kc" too, but it protects a secret.
    let mut kc = store.get_key(&s, "kc").await.expect("get").expect("kc");
    kc.state = KeyState::PendingDeletion {
        delete_at: Timestamp(50),
    };
    store.update_key(&kc).await.expect("pending");
    assert!(store
        .purge_due_keys(Timestamp(98), 10)
        .await
        .expect("purge")
        .is_empty());
    let purged = store
        .purge_due_keys(Timestamp(99), 10)
        .await
        .expect("purge");
    assert_eq!(purged, vec![(s.clone(), "ka".to_string())]);
    assert_eq!(store.get_key(&s, "ka").await.expect("get"), None);
    assert_eq!(
        store.get_key_by_alias(&s, "alias/a2").await.expect("get"),
        None
    );
    assert!(store.get_key(&s, "kc").await.expect("get").is_some());
}

/// Rotation settings round-trip; the due list holds enabled keys with rotation on whose time
/// has come, soonest first, across scopes, and respects the limit.
pub async fn key_rotation_schedule(store: Arc<dyn Store>) {
    let (s, other) = (scope(7), scope(8));
    let with_rotation = |sc: &Scope, id: &str, enabled: bool, next: Option<i64>| {
        let mut k = plain_key(sc, id, 1, &[]);
        k.rotation = KeyRotation {
            enabled,
            interval_secs: 7 * 86_400,
            next_at: next.map(Timestamp),
        };
        k
    };
    let due_late = with_rotation(&s, "r-late", true, Some(50));
    store.create_key(&due_late).await.expect("create");
    assert_eq!(
        store.get_key(&s, "r-late").await.expect("get"),
        Some(due_late.clone())
    );
    store
        .create_key(&with_rotation(&other, "r-early", true, Some(10)))
        .await
        .expect("create");
    store
        .create_key(&with_rotation(&s, "r-future", true, Some(500)))
        .await
        .expect("create");
    store
        .create_key(&with_rotation(&s, "r-off", false, None))
        .await
        .expect("create");
    let mut disabled = with_rotation(&s, "r-disabled", true, Some(5));
    disabled.state = KeyState::Disabled;
    store.create_key(&disabled).await.expect("create");

    let ids = |v: Vec<(Scope, String)>| v.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
    let due = store
        .due_key_rotations(Timestamp(100), 10)
        .await
        .expect("due");
    assert_eq!(ids(due), ["r-early", "r-late"]);
    let due = store
        .due_key_rotations(Timestamp(100), 1)
        .await
        .expect("due");
    assert_eq!(ids(due), ["r-early"]);

    // Turning rotation off takes the key out of the list; the interval is kept.
    let mut k = due_late;
    k.rotation.enabled = false;
    k.rotation.next_at = None;
    store.update_key(&k).await.expect("update");
    assert_eq!(store.get_key(&s, "r-late").await.expect("get"), Some(k));
    let due = store
        .due_key_rotations(Timestamp(100), 10)
        .await
        .expect("due");
    assert_eq!(ids(due), ["r-early"]);
}
