//! Key lifecycle on a real service and store, and its effect on the secrets a key protects.

use coffer_core::error::Resource;
use coffer_core::service::{CreateSecret, NewKey, PutValue, VersionSelector, WhenExists, WhenFull};
use coffer_core::*;
use zeroize::Zeroizing;

fn text(v: &str) -> SecretValue {
    SecretValue::Text(Zeroizing::new(v.into()))
}

fn secret_under(name: &str, key: &str) -> CreateSecret {
    CreateSecret {
        name: name.into(),
        description: String::new(),
        kind: SecretKind::Generic,
        key: Some(key.into()),
        tags: vec![],
        version_id: "v1".into(),
        value: text("first"),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

fn put(version: &str) -> PutValue {
    PutValue {
        version_id: version.into(),
        value: text("next"),
        stages: None,
        when_full: WhenFull::Refuse,
        max_versions: 20,
        max_stages: 12,
        expires_at: None,
        when_exists: WhenExists::CompareValue,
    }
}

fn key_disabled(r: &Result<impl std::fmt::Debug>, id: &str) -> bool {
    matches!(r, Err(Error::Disabled { what: Resource::Key, name }) if name == id)
}

#[tokio::test]
async fn disabling_a_key_stops_its_secrets_and_enabling_restores_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("AK").await.expect("key").account,
        region: "default".into(),
    };
    let key = svc
        .create_key(
            &scope,
            NewKey {
                description: "app".into(),
                aliases: vec!["alias/app".into()],
                rotation_interval_secs: None,
            },
        )
        .await
        .expect("create key");
    svc.create_secret(&scope, secret_under("s", "alias/app"))
        .await
        .expect("secret under the key");
    let current = VersionSelector::default();
    let read = || svc.get_value(&scope, "s", &current);
    assert_eq!(read().await.expect("read").secret.key_id, key.id);

    svc.set_key_enabled(&scope, &key.id, false)
        .await
        .expect("disable");
    assert!(
        key_disabled(&read().await, &key.id),
        "a read after disabling"
    );
    let r = svc.put_value(&scope, "s", put("v2")).await;
    assert!(key_disabled(&r, &key.id), "{r:?}");
    let r = svc.create_secret(&scope, secret_under("t", &key.id)).await;
    assert!(key_disabled(&r, &key.id), "{r:?}");
    // Metadata stays readable.
    assert_eq!(
        svc.describe(&scope, "s").await.expect("describe").key_id,
        key.id
    );

    svc.set_key_enabled(&scope, "alias/app", true)
        .await
        .expect("enable");
    read().await.expect("readable again");
    svc.put_value(&scope, "s", put("v2"))
        .await
        .expect("writable again");

    // A key that protects a secret cannot be scheduled for deletion; the default key neither.
    let r = svc.schedule_key_deletion(&scope, &key.id, 7).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    let default = svc.default_key(&scope).await.expect("default");
    let r = svc.schedule_key_deletion(&scope, &default.id, 7).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
}

#[tokio::test]
async fn deletion_windows_aliases_and_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("AK").await.expect("key").account,
        region: "default".into(),
    };
    let a = svc.create_key(&scope, NewKey::default()).await.expect("a");
    let b = svc.create_key(&scope, NewKey::default()).await.expect("b");
    let page = svc
        .keys(
            &scope,
            PageRequest {
                offset: 0,
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .expect("list");
    assert_eq!(page.total, 3, "the default key is listed too");
    assert_eq!(page.items.iter().filter(|k| k.is_default).count(), 1);

    let k = svc
        .schedule_key_deletion(&scope, &a.id, 7)
        .await
        .expect("schedule");
    assert_eq!(
        k.state,
        KeyState::PendingDeletion {
            delete_at: Timestamp::from_secs(coffer_store::testkit::START_SECS).plus_days(7)
        }
    );
    let r = svc.set_key_enabled(&scope, &a.id, true).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    let r = svc.create_secret(&scope, secret_under("x", &a.id)).await;
    assert!(key_disabled(&r, &a.id), "{r:?}");
    let k = svc
        .cancel_key_deletion(&scope, &a.id, KeyState::Enabled)
        .await
        .expect("cancel");
    assert_eq!(k.state, KeyState::Enabled);
    let r = svc
        .cancel_key_deletion(&scope, &a.id, KeyState::Enabled)
        .await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");

    svc.set_alias(&scope, "alias/x", &a.id, false)
        .await
        .expect("alias");
    let r = svc.set_alias(&scope, "alias/x", &b.id, false).await;
    assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
    svc.set_alias(&scope, "alias/x", &b.id, true)
        .await
        .expect("move");
    assert_eq!(
        svc.find_key(&scope, "alias/x").await.expect("find").id,
        b.id
    );
    assert!(svc
        .find_key(&scope, &a.id)
        .await
        .expect("a")
        .aliases
        .is_empty());
    let r = svc.set_alias(&scope, "alias/y", &b.id, true).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    let r = svc
        .set_alias(
            &scope,
            coffer_core::service::DEFAULT_KEY_ALIAS,
            &b.id,
            false,
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    svc.delete_alias(&scope, "alias/x")
        .await
        .expect("delete alias");
    let r = svc.find_key(&scope, "alias/x").await;
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
    let r = svc.delete_alias(&scope, "alias/x").await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
}

#[tokio::test]
async fn encrypt_decrypt_binds_key_context_and_scope() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let account = svc.access_key("AK").await.expect("key").account;
    let scope = Scope {
        account,
        region: "default".into(),
    };
    let key = svc
        .create_key(&scope, NewKey::default())
        .await
        .expect("key");
    let ctx = vec![
        ("app".to_string(), "web".to_string()),
        ("env".into(), "prod".into()),
    ];
    let (k, blob) = svc
        .encrypt(&scope, &key.id, b"attack at dawn", &ctx)
        .await
        .expect("encrypt");
    assert_eq!(k.id, key.id);
    // The same pairs in another order are the same context.
    let reordered: Vec<_> = ctx.iter().rev().cloned().collect();
    let opened = svc
        .decrypt(&scope, &blob, &reordered)
        .await
        .expect("decrypt");
    assert_eq!(opened.plaintext.as_slice(), b"attack at dawn");
    assert_eq!(
        (opened.key.id.as_str(), opened.version.as_str()),
        (key.id.as_str(), key.primary_version.as_str())
    );

    let bad = |r: Result<service::Opened>| matches!(r, Err(Error::InvalidParameter { ref field, .. }) if field == "CiphertextBlob");
    assert!(
        bad(svc.decrypt(&scope, &blob, &[]).await),
        "another context"
    );
    for i in [0, 10, blob.len() / 2, blob.len() - 1] {
        let mut t = blob.clone();
        t[i] ^= 0x01;
        assert!(bad(svc.decrypt(&scope, &t, &ctx).await), "byte {i} changed");
    }
    assert!(bad(svc.decrypt(&scope, b"not a blob", &ctx).await));
    // Another region of the same account is another scope: its keys are not these.
    let elsewhere = Scope {
        account,
        region: "other".into(),
    };
    assert!(bad(svc.decrypt(&elsewhere, &blob, &ctx).await));

    let (_, dk, dk_blob) = svc
        .generate_data_key(&scope, &key.id, 32, &[])
        .await
        .expect("data key");
    assert_eq!(dk.len(), 32);
    let back = svc
        .decrypt(&scope, &dk_blob, &[])
        .await
        .expect("open data key");
    assert_eq!(back.plaintext.as_slice(), dk.as_slice());

    svc.set_key_enabled(&scope, &key.id, false)
        .await
        .expect("disable");
    let r = svc.decrypt(&scope, &blob, &ctx).await;
    assert!(key_disabled(&r, &key.id), "{r:?}");
    let r = svc.encrypt(&scope, &key.id, b"x", &[]).await;
    assert!(key_disabled(&r, &key.id), "{r:?}");
}

#[tokio::test]
async fn a_key_goes_when_its_deletion_date_comes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("AK").await.expect("key").account,
        region: "default".into(),
    };
    let key = svc
        .create_key(&scope, NewKey::default())
        .await
        .expect("key");
    let (_, blob) = svc
        .encrypt(&scope, &key.id, b"x", &[])
        .await
        .expect("encrypt");
    svc.schedule_key_deletion(&scope, &key.id, 7)
        .await
        .expect("schedule");
    clock.advance_millis(7 * Timestamp::MILLIS_PER_DAY - 1);
    assert!(svc.purge_due_keys(10).await.expect("purge").is_empty());
    clock.advance_millis(1);
    let purged = svc.purge_due_keys(10).await.expect("purge");
    assert_eq!(purged, vec![(scope.clone(), key.id.clone())]);
    let r = svc.find_key(&scope, &key.id).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    let r = svc.decrypt(&scope, &blob, &[]).await;
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
}

#[tokio::test]
async fn a_secret_moves_to_another_key_with_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("AK").await.expect("key").account,
        region: "default".into(),
    };
    let old = svc
        .create_key(&scope, NewKey::default())
        .await
        .expect("old");
    let new = svc
        .create_key(&scope, NewKey::default())
        .await
        .expect("new");
    svc.create_secret(&scope, secret_under("m", &old.id))
        .await
        .expect("secret");
    svc.put_value(&scope, "m", put("v2")).await.expect("v2");
    let before = svc.describe(&scope, "m").await.expect("describe");

    let moved = svc
        .change_secret_key(&scope, "m", &new.id)
        .await
        .expect("move");
    assert_eq!(moved.key_id, new.id);
    let after = svc.describe(&scope, "m").await.expect("describe");
    assert_eq!(after.key_id, new.id);
    assert_eq!(
        after.versions, before.versions,
        "versions and stages are kept"
    );

    // The old key no longer matters; the new one does.
    svc.set_key_enabled(&scope, &old.id, false)
        .await
        .expect("disable old");
    for (v, want) in [("v1", "first"), ("v2", "next")] {
        let sel = VersionSelector {
            version_id: Some(v.into()),
            stage: None,
        };
        let read = svc.get_value(&scope, "m", &sel).await.expect("read");
        assert_eq!(read.value.as_bytes(), want.as_bytes());
    }
    svc.set_key_enabled(&scope, &new.id, false)
        .await
        .expect("disable new");
    let r = svc
        .get_value(&scope, "m", &VersionSelector::default())
        .await;
    assert!(key_disabled(&r, &new.id), "{r:?}");
    // Moving to a disabled key is refused and changes nothing.
    svc.set_key_enabled(&scope, &new.id, true)
        .await
        .expect("enable");
    let r = svc.change_secret_key(&scope, "m", &old.id).await;
    assert!(key_disabled(&r, &old.id), "{r:?}");
    assert_eq!(svc.describe(&scope, "m").await.expect("d").key_id, new.id);
}

/// What a policy judges a key by: its id, however the request names it; a reference that
/// names nothing stays as written; a blob is judged by the key of the scope that made it.
#[tokio::test]
async fn keys_are_judged_by_their_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _) = coffer_store::testkit::clocked_service(dir.path(), "OPKEY", "op-secret")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("OPKEY").await.expect("key").account,
        region: "default".into(),
    };
    let (other, _) = svc
        .create_account("other", "default")
        .await
        .expect("account");
    let other = Scope {
        account: other.id,
        region: "default".into(),
    };
    let key = svc
        .create_key(
            &scope,
            NewKey {
                description: String::new(),
                aliases: vec!["alias/app".into()],
                rotation_interval_secs: None,
            },
        )
        .await
        .expect("create key");
    let judged = |r: &'static str| svc.key_id_to_authorize(&scope, r);
    assert_eq!(judged("alias/app").await.expect("alias"), key.id);
    assert_eq!(
        svc.key_id_to_authorize(&scope, &key.id).await.expect("id"),
        key.id
    );
    assert_eq!(judged("alias/none").await.expect("none"), "alias/none");
    assert_eq!(
        svc.key_id_to_authorize(&other, &key.id)
            .await
            .expect("other scope"),
        key.id,
        "another scope's key id is judged as written"
    );
    // The default key is not created by a lookup.
    assert_eq!(
        judged(service::DEFAULT_KEY_ALIAS).await.expect("default"),
        service::DEFAULT_KEY_ALIAS
    );
    let default = svc.default_key(&scope).await.expect("default");
    assert_eq!(
        judged(service::DEFAULT_KEY_ALIAS).await.expect("default"),
        default.id
    );
    // A disabled key is still judged by its id.
    svc.set_key_enabled(&scope, &key.id, false)
        .await
        .expect("disable");
    assert_eq!(judged("alias/app").await.expect("alias"), key.id);
    svc.set_key_enabled(&scope, &key.id, true)
        .await
        .expect("enable");

    let (_, blob) = svc
        .encrypt(&scope, "alias/app", b"x", &[])
        .await
        .expect("encrypt");
    let blob_key = |s: &Scope, b: Vec<u8>| {
        let svc = svc.clone();
        let s = s.clone();
        async move { svc.blob_key_id_to_authorize(&s, &b).await.expect("blob") }
    };
    assert_eq!(blob_key(&scope, blob.clone()).await, key.id);
    assert_eq!(
        blob_key(&other, blob.clone()).await,
        service::UNKNOWN_KEY_ID
    );
    assert_eq!(
        blob_key(&scope, b"not a blob".to_vec()).await,
        service::UNKNOWN_KEY_ID
    );
    let mut tampered = blob;
    tampered[6] ^= 1;
    assert_eq!(blob_key(&scope, tampered).await, service::UNKNOWN_KEY_ID);
}

/// A put whose version id exists answers the same whatever the stored value is, unless the
/// caller may compare values.
#[tokio::test]
async fn a_put_that_may_not_compare_refuses_an_existing_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _) = coffer_store::testkit::clocked_service(dir.path(), "OPKEY", "op-secret")
        .await
        .expect("service");
    let scope = Scope {
        account: svc.access_key("OPKEY").await.expect("key").account,
        region: "default".into(),
    };
    svc.create_secret(&scope, secret_under("s", service::DEFAULT_KEY_ALIAS))
        .await
        .expect("secret");
    assert!(svc.version_exists(&scope, "s", "v1").await.expect("v1"));
    assert!(!svc.version_exists(&scope, "s", "v2").await.expect("v2"));
    assert!(!svc
        .version_exists(&scope, "none", "v1")
        .await
        .expect("none"));
    let stored = svc
        .get_value(&scope, "s", &VersionSelector::default())
        .await
        .expect("read")
        .value;
    let again = |value: SecretValue, when_exists: WhenExists| PutValue {
        version_id: "v1".into(),
        value,
        when_exists,
        ..put("v1")
    };
    let other = SecretValue::Text(Zeroizing::new("a guess".into()));
    for value in [stored.clone(), other.clone()] {
        let r = svc
            .put_value(&scope, "s", again(value, WhenExists::Refuse))
            .await;
        assert!(
            matches!(
                r,
                Err(Error::AlreadyExists {
                    what: Resource::Version,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    svc.put_value(&scope, "s", again(stored, WhenExists::CompareValue))
        .await
        .expect("the same value again");
    let r = svc
        .put_value(&scope, "s", again(other, WhenExists::CompareValue))
        .await;
    assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
}
