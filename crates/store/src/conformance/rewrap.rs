//! Checks of [`RewrapStore`]: walking keys, access keys and secrets of every scope in id
//! order, and compare-and-swap replacement of what the root key wraps.

use std::sync::Arc;

use coffer_core::*;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[("rewrap_walks_and_swaps", |s| {
    Box::pin(rewrap_walks_and_swaps(s))
})];

/// A rewrap walks keys, access keys and secrets of every scope in id order, and replaces
/// wrapped material and sealed secrets only while they are what it read.
pub async fn rewrap_walks_and_swaps(store: Arc<dyn Store>) {
    let (s, other) = (scope(9), scope(10));
    for (sc, id) in [(&s, "w-b"), (&other, "w-a"), (&s, "w-c")] {
        store
            .create_key(&plain_key(sc, id, 3, &[]))
            .await
            .expect("create key");
    }
    let counts = store.rewrap_counts().await.expect("counts");
    assert_eq!(counts.key_versions, 3);
    let page = |v: Vec<KeyRecord>| v.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        page(store.keys_after(None, 2).await.expect("walk")),
        ["w-a", "w-b"]
    );
    assert_eq!(
        page(store.keys_after(Some("w-b"), 2).await.expect("walk")),
        ["w-c"]
    );

    let old = vec![3u8; 40];
    assert!(!store
        .replace_key_material("w-a", "v1", &[7; 40], &[1; 40])
        .await
        .expect("swap"));
    assert!(store
        .replace_key_material("w-a", "v1", &old, &[1; 40])
        .await
        .expect("swap"));
    let k = store
        .get_key(&other, "w-a")
        .await
        .expect("get")
        .expect("w-a");
    assert_eq!(k.versions[0].wrapped_material, vec![1; 40]);
    assert!(!store
        .replace_key_material("w-a", "no-such-version", &[1; 40], &[2; 40])
        .await
        .expect("swap"));

    for n in [9, 10] {
        store
            .create_account(&Account {
                id: AccountId(n),
                name: format!("account {n}"),
                operator: false,
                created_at: Timestamp(1),
                account_number: None,
            })
            .await
            .expect("account");
    }
    for (id, acct) in [("AK-2", 10), ("AK-1", 9)] {
        store
            .create_access_key(&access_key(id, acct, 1))
            .await
            .expect("access key");
    }
    let aks = store.access_keys_after(None, 10).await.expect("walk");
    assert_eq!(
        aks.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["AK-1", "AK-2"]
    );
    let sealed = aks[0].sealed_secret.clone();
    assert!(!store
        .replace_access_secret("AK-1", b"not what is stored", b"new")
        .await
        .expect("swap"));
    assert!(store
        .replace_access_secret("AK-1", &sealed, b"new")
        .await
        .expect("swap"));
    assert_eq!(
        store
            .get_access_key("AK-1")
            .await
            .expect("get")
            .map(|k| k.sealed_secret),
        Some(b"new".to_vec())
    );

    let mut ids = Vec::new();
    for (sc, name) in [(&s, "x1"), (&other, "x2"), (&s, "x3")] {
        let sec = secret(sc, name, 4);
        ids.push((sc.clone(), sec.id));
        create(&store, &sec).await.expect("secret");
    }
    ids.sort_by_key(|(_, id)| *id);
    let first_two = store.secrets_after(None, 2).await.expect("walk");
    assert_eq!(first_two, ids[..2].to_vec());
    let rest = store.secrets_after(Some(ids[1].1), 10).await.expect("walk");
    assert_eq!(rest, ids[2..].to_vec());
    let counts = store.rewrap_counts().await.expect("counts");
    assert_eq!((counts.access_keys, counts.secrets), (2, 3));
}
