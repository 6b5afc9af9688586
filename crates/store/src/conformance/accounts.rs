//! Checks of [`AccountStore`]: accounts and their access keys, policies and their
//! attachments, deleting an account with what it owns, and projects (with the lookup of a
//! secret by id in its scope, which projects exist for).

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::*;
use uuid::Uuid;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("accounts_and_access_keys", |s| {
        Box::pin(accounts_and_access_keys(s))
    }),
    ("policies_attachments_and_account_deletion", |s| {
        Box::pin(policies_attachments_and_account_deletion(s))
    }),
    ("projects_and_lookup_by_id", |s| {
        Box::pin(projects_and_lookup_by_id(s))
    }),
];

/// Projects map one id to one account and region; secrets can be found by id in their scope.
pub async fn projects_and_lookup_by_id(store: Arc<dyn Store>) {
    let acct = Account {
        id: AccountId(77),
        name: "p".into(),
        operator: false,
        created_at: Timestamp(1),
        account_number: None,
    };
    store.create_account(&acct).await.expect("account");
    let p = |id: &str, region: &str| Project {
        id: id.into(),
        scope: Scope {
            account: AccountId(77),
            region: region.into(),
        },
    };
    store.create_project(&p("aa", "r1")).await.expect("project");
    store.create_project(&p("bb", "r2")).await.expect("project");
    let dup_id = store.create_project(&p("aa", "r3")).await;
    assert!(
        matches!(dup_id, Err(Error::AlreadyExists { .. })),
        "{dup_id:?}"
    );
    let second = store.create_project(&p("cc", "r1")).await;
    assert!(
        matches!(second, Err(Error::AlreadyExists { .. })),
        "one project per region: {second:?}"
    );
    let orphan = Project {
        id: "dd".into(),
        scope: scope(12345),
    };
    assert!(matches!(
        store.create_project(&orphan).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store.get_project("bb").await.expect("get"),
        Some(p("bb", "r2"))
    );
    assert_eq!(store.get_project("zz").await.expect("get"), None);
    assert_eq!(
        store.list_projects(AccountId(77)).await.expect("list"),
        vec![p("aa", "r1"), p("bb", "r2")]
    );
    assert!(store
        .list_projects(AccountId(78))
        .await
        .expect("list")
        .is_empty());
    let accounts = store.list_accounts().await.expect("accounts");
    assert!(accounts.iter().any(|a| a == &acct), "{accounts:?}");

    let s = scope(1);
    let rec = secret(&s, "by-id", 5);
    create(&store, &rec).await.expect("create");
    let got = store
        .get_secret_by_id(&s, rec.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.name, "by-id");
    assert_eq!(got.versions, rec.versions);
    assert!(
        store
            .get_secret_by_id(&scope(2), rec.id)
            .await
            .expect("get")
            .is_none(),
        "another account's id"
    );
    assert!(store
        .get_secret_by_id(&s, Uuid::new_v4())
        .await
        .expect("get")
        .is_none());
}

/// Accounts and access keys: create, read, duplicates, enable and disable.
pub async fn accounts_and_access_keys(store: Arc<dyn Store>) {
    assert_eq!(store.count_accounts().await.expect("count"), 0);
    assert_eq!(store.get_account(AccountId(42)).await.expect("get"), None);
    let acct = Account {
        id: AccountId(42),
        name: "a".into(),
        operator: false,
        created_at: Timestamp(1),
        account_number: Some("123456789012".into()),
    };
    store.create_account(&acct).await.expect("account");
    let r = store
        .create_account(&Account {
            name: "again".into(),
            ..acct.clone()
        })
        .await;
    assert!(already_exists(&r, Resource::Account, "42"), "{r:?}");
    assert_eq!(
        store.get_account(AccountId(42)).await.expect("get"),
        Some(acct.clone())
    );
    let big = Account {
        id: AccountId(9_999_999_999_999_999_999),
        name: "big".into(),
        operator: false,
        created_at: Timestamp(2),
        account_number: None,
    };
    store.create_account(&big).await.expect("big account");
    assert_eq!(store.get_account(big.id).await.expect("get"), Some(big));
    assert_eq!(store.count_accounts().await.expect("count"), 2);

    let ak = AccessKeyRecord {
        id: "AK1".into(),
        account: AccountId(42),
        sealed_secret: vec![1, 2, 3],
        enabled: true,
        admin: true,
        created_at: Timestamp(1),
    };
    store.create_access_key(&ak).await.expect("access key");
    let r = store
        .create_access_key(&AccessKeyRecord {
            admin: false,
            ..ak.clone()
        })
        .await;
    assert!(already_exists(&r, Resource::AccessKey, "AK1"), "{r:?}");
    assert_eq!(
        store.get_access_key("AK1").await.expect("get"),
        Some(ak.clone())
    );
    let ak2 = AccessKeyRecord {
        id: "AK2".into(),
        admin: false,
        enabled: false,
        sealed_secret: vec![4; 60],
        ..ak.clone()
    };
    store.create_access_key(&ak2).await.expect("second key");
    assert_eq!(store.get_access_key("AK2").await.expect("get"), Some(ak2));
    assert_eq!(
        store.get_access_key("ak1").await.expect("get"),
        None,
        "ids are exact"
    );

    store
        .set_access_key_enabled("AK1", false)
        .await
        .expect("disable");
    let got = store.get_access_key("AK1").await.expect("get");
    assert_eq!(
        got,
        Some(AccessKeyRecord {
            enabled: false,
            ..ak.clone()
        })
    );
    store
        .set_access_key_enabled("AK1", false)
        .await
        .expect("disable twice");
    store
        .set_access_key_enabled("AK1", true)
        .await
        .expect("enable");
    assert_eq!(store.get_access_key("AK1").await.expect("get"), Some(ak));
    let r = store.set_access_key_enabled("nope", true).await;
    assert!(
        matches!(&r, Err(Error::NotFound { what: Resource::AccessKey, name }) if name == "nope"),
        "{r:?}"
    );
    assert_eq!(store.get_access_key("nope").await.expect("get"), None);
}

fn policy(account: u64, name: &str, doc: &str, at: i64) -> PolicyRecord {
    PolicyRecord {
        account: AccountId(account),
        name: name.into(),
        document: doc.into(),
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

/// Policies belong to an account and are attached to its keys; an attached policy cannot be
/// deleted; deleting a key drops its attachments; an account goes only when it holds no
/// secrets and no keys of its own, and takes its access keys, policies and projects with it.
pub async fn policies_attachments_and_account_deletion(store: Arc<dyn Store>) {
    for (id, name) in [(1, "one"), (2, "two")] {
        store
            .create_account(&Account {
                id: AccountId(id),
                name: name.into(),
                operator: id == 1,
                created_at: Timestamp(id as i64),
                account_number: None,
            })
            .await
            .expect("account");
    }
    assert!(
        store
            .get_account(AccountId(1))
            .await
            .expect("get")
            .expect("one")
            .operator
    );
    let r = store.put_policy(&policy(9, "p", "{}", 1)).await;
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
    store
        .put_policy(&policy(2, "zeta", "{\"z\":1}", 5))
        .await
        .expect("put");
    store
        .put_policy(&policy(2, "alpha", "{\"a\":1}", 6))
        .await
        .expect("put");
    store
        .put_policy(&policy(1, "alpha", "{\"other\":1}", 6))
        .await
        .expect("put");
    // Replacing keeps the creation time the caller passes; the document and update change.
    store
        .put_policy(&policy(2, "zeta", "{\"z\":2}", 9))
        .await
        .expect("replace");
    let got = store
        .get_policy(AccountId(2), "zeta")
        .await
        .expect("get")
        .expect("zeta");
    assert_eq!(
        (got.document.as_str(), got.updated_at),
        ("{\"z\":2}", Timestamp(9))
    );
    assert_eq!(
        got.created_at,
        Timestamp(5),
        "creation time survives a replace"
    );
    let names: Vec<String> = store
        .list_policies(AccountId(2))
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(
        store.get_policy(AccountId(2), "nope").await.expect("get"),
        None
    );

    store
        .create_access_key(&access_key("K2a", 2, 1))
        .await
        .expect("key");
    store
        .create_access_key(&access_key("K2b", 2, 2))
        .await
        .expect("key");
    store
        .create_access_key(&access_key("K1", 1, 1))
        .await
        .expect("key");
    let ids: Vec<String> = store
        .list_access_keys(AccountId(2))
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["K2a", "K2b"]);

    store.attach_policy("K2a", "zeta").await.expect("attach");
    store.attach_policy("K2a", "alpha").await.expect("attach");
    store
        .attach_policy("K2a", "alpha")
        .await
        .expect("attaching twice is fine");
    store.attach_policy("K2b", "zeta").await.expect("attach");
    let r = store.attach_policy("K2a", "nope").await;
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::Policy,
                ..
            })
        ),
        "{r:?}"
    );
    let r = store.attach_policy("nokey", "zeta").await;
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::AccessKey,
                ..
            })
        ),
        "{r:?}"
    );
    // A key carries policies of its own account only: account 1's "alpha" is another policy.
    let docs: Vec<(String, String)> = store
        .key_policies("K2a")
        .await
        .expect("policies")
        .into_iter()
        .map(|p| (p.name, p.document))
        .collect();
    assert_eq!(
        docs,
        [
            ("alpha".to_string(), "{\"a\":1}".to_string()),
            ("zeta".to_string(), "{\"z\":2}".to_string())
        ]
    );
    let r = store.delete_policy(AccountId(2), "zeta").await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    store.detach_policy("K2b", "zeta").await.expect("detach");
    let r = store.detach_policy("K2b", "zeta").await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    store.delete_access_key("K2a").await.expect("delete key");
    let r = store.delete_access_key("K2a").await;
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::AccessKey,
                ..
            })
        ),
        "{r:?}"
    );
    store
        .delete_policy(AccountId(2), "zeta")
        .await
        .expect("free now");
    let r = store.delete_policy(AccountId(2), "zeta").await;
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: Resource::Policy,
                ..
            })
        ),
        "{r:?}"
    );

    // Account deletion.
    let s2 = scope(2);
    store
        .create_project(&Project {
            id: "0123456789abcdef0123456789abcdef".into(),
            scope: s2.clone(),
        })
        .await
        .expect("project");
    store.attach_policy("K2b", "alpha").await.expect("attach");
    create(&store, &secret(&s2, "held", 10))
        .await
        .expect("secret");
    let r = store.delete_account(AccountId(2)).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    delete_current(&store, &s2, "held").await;
    store
        .delete_account(AccountId(2))
        .await
        .expect("delete account");
    assert_eq!(store.get_account(AccountId(2)).await.expect("get"), None);
    assert_eq!(store.get_access_key("K2b").await.expect("get"), None);
    assert!(store
        .list_policies(AccountId(2))
        .await
        .expect("list")
        .is_empty());
    assert!(store
        .list_projects(AccountId(2))
        .await
        .expect("list")
        .is_empty());
    let r = store.delete_account(AccountId(2)).await;
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
    // The other account is untouched.
    assert!(store.get_access_key("K1").await.expect("get").is_some());
    assert_eq!(
        store.list_policies(AccountId(1)).await.expect("list").len(),
        1
    );
}
