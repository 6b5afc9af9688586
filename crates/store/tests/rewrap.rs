//! Key material rotation and rewrap on a real service and store: automatic rotation on an
//! injected clock, and a root key rotation interrupted, resumed after a restart, and finished
//! so that the old root key opens nothing.

use std::path::Path;
use std::sync::Arc;

use coffer_core::keyring::Keyring;
use coffer_core::service::{CreateSecret, NewKey, RewrapOptions, VersionSelector};
use coffer_core::*;
use coffer_crypto::{RootKeyFile, SecretKey};
use coffer_store::{testkit, SqliteOptions, SqliteStore};
use zeroize::Zeroizing;

fn text(v: &str) -> SecretValue {
    SecretValue::Text(Zeroizing::new(v.into()))
}

fn secret(name: &str, key: Option<&str>, value: &str) -> CreateSecret {
    CreateSecret {
        name: name.into(),
        description: String::new(),
        kind: SecretKind::Generic,
        key: key.map(str::to_string),
        tags: vec![],
        version_id: "v1".into(),
        value: text(value),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

async fn value(svc: &Service, scope: &Scope, name: &str) -> String {
    match svc
        .get_value(scope, name, &VersionSelector::default())
        .await
        .expect("read")
        .value
    {
        SecretValue::Text(t) => t.to_string(),
        SecretValue::Binary(_) => panic!("binary"),
    }
}

fn scope_of(account: AccountId) -> Scope {
    Scope {
        account,
        region: "default".into(),
    }
}

#[tokio::test]
async fn keys_rotate_on_schedule_and_old_material_still_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, clock) = testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    let scope = scope_of(svc.access_key("AK").await.expect("key").account);
    let key = svc
        .create_key(
            &scope,
            NewKey {
                description: "rotating".into(),
                aliases: vec![],
                rotation_interval_secs: Some(7 * 86_400),
            },
        )
        .await
        .expect("create key");
    assert!(key.rotation.enabled);
    assert_eq!(key.last_rotation(), None);
    svc.create_secret(&scope, secret("before", Some(&key.id), "old material"))
        .await
        .expect("secret");
    let (_, blob) = svc
        .encrypt(&scope, &key.id, b"sealed early", &[])
        .await
        .expect("encrypt");

    // Not due yet: nothing happens.
    clock.advance_millis((7 * 86_400 - 1) * 1000);
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 0);
    clock.advance_millis(1000);
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 1);
    let rotated = svc.find_key(&scope, &key.id).await.expect("key");
    assert_eq!(rotated.versions.len(), 2);
    assert_ne!(rotated.primary_version, key.primary_version);
    assert_eq!(rotated.last_rotation(), Some(clock.now()));
    assert_eq!(
        rotated.rotation.next_at,
        Some(clock.now().plus_days(7)),
        "the next rotation is one interval on"
    );
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 0);

    // What the old material sealed still opens; new data uses the new material.
    assert_eq!(value(&svc, &scope, "before").await, "old material");
    let opened = svc.decrypt(&scope, &blob, &[]).await.expect("decrypt");
    assert_eq!(opened.version, key.primary_version);
    let (_, fresh) = svc.encrypt(&scope, &key.id, b"x", &[]).await.expect("enc");
    let opened = svc.decrypt(&scope, &fresh, &[]).await.expect("decrypt");
    assert_eq!(opened.version, rotated.primary_version);

    // A disabled key waits; once enabled it rotates at the next sweep.
    svc.set_key_enabled(&scope, &key.id, false)
        .await
        .expect("disable");
    clock.advance_millis((8 * 86_400) * 1000);
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 0);
    svc.set_key_enabled(&scope, &key.id, true)
        .await
        .expect("enable");
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 1);

    // Turning rotation off keeps the interval and stops the schedule.
    let off = svc
        .set_key_rotation(&scope, &key.id, Some(false), None)
        .await
        .expect("off");
    assert_eq!(
        (
            off.rotation.enabled,
            off.rotation.interval_secs,
            off.rotation.next_at
        ),
        (false, 7 * 86_400, None)
    );
    clock.advance_millis((30 * 86_400) * 1000);
    assert_eq!(svc.rotate_due_keys(10).await.expect("sweep"), 0);

    // The rewrap moves every data key under the newest material, values untouched.
    svc.run_rewrap(RewrapOptions::default())
        .await
        .expect("rewrap");
    let status = svc.rewrap_status();
    assert_eq!(status.phase, "data keys");
    assert_eq!(value(&svc, &scope, "before").await, "old material");
}

async fn open_store(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("coffer.db"), SqliteOptions::default()).expect("store"))
}

fn service(store: Arc<dyn Store>, root: SecretKey) -> Service {
    Service::new(store, root, Arc::new(SystemClock), Limits::default())
}

#[tokio::test]
async fn a_root_key_rotation_resumes_after_a_restart_and_leaves_the_old_key_useless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = RootKeyFile::new(dir.path().join("root.key"));
    let (old_root, created) = SecretKey::load_or_create_file(file.path()).expect("root key");
    assert!(created);

    // Before the rotation: an account, keys, secrets under the default and a customer key.
    let store = open_store(dir.path()).await;
    let svc = service(store.clone(), old_root.clone()).with_root_key_file(file.clone(), None);
    svc.bootstrap(
        Some("AKADMIN".into()),
        Some(Zeroizing::new("admin-secret".into())),
    )
    .await
    .expect("bootstrap");
    let scope = scope_of(svc.access_key("AKADMIN").await.expect("key").account);
    let key = svc
        .create_key(&scope, NewKey::default())
        .await
        .expect("key");
    svc.create_secret(&scope, secret("on-default", None, "one"))
        .await
        .expect("secret");
    svc.create_secret(&scope, secret("on-customer", Some(&key.id), "two"))
        .await
        .expect("secret");

    // The rotation begins (the new key file is written) and the process dies before any
    // row moved, after new rows were already wrapped by the new key.
    let next = file.prepare_next().expect("next key");
    let svc = service(store.clone(), old_root.clone())
        .with_root_key_file(file.clone(), Some(next.clone()));
    svc.create_secret(&scope, secret("during", Some(&key.id), "three"))
        .await
        .expect("secret");
    let (extra, extra_secret) = svc
        .create_access_key(scope.account, false)
        .await
        .expect("access key");
    let extra = extra.id;
    drop(svc);

    // Restart: both files are there; everything is readable with both keys in hand.
    let (reloaded, _) = SecretKey::load_or_create_file(file.path()).expect("root key");
    let pending = file
        .load_next()
        .expect("next")
        .expect("a rotation is pending");
    let svc = service(store.clone(), reloaded).with_root_key_file(file.clone(), Some(pending));
    assert!(svc.root_rotation_pending());
    svc.check_root_key()
        .await
        .expect("both keys open the store");
    for (name, want) in [
        ("on-default", "one"),
        ("on-customer", "two"),
        ("during", "three"),
    ] {
        assert_eq!(value(&svc, &scope, name).await, want);
    }

    svc.run_rewrap(RewrapOptions {
        new_root_key: false,
        new_key_material: true,
    })
    .await
    .expect("resumed rewrap");
    assert!(!svc.root_rotation_pending());
    assert!(
        !file.next_path().exists(),
        "the next key file was installed"
    );
    let installed = SecretKey::load_file(file.path()).expect("root key");
    assert!(
        installed.ct_eq(&next),
        "the root key file holds the new key"
    );
    let status = svc.rewrap_status();
    assert!(status.root_wrapped_moved > 0, "{status:?}");
    assert_eq!(status.keys_rotated, 2, "the default and the customer key");
    assert!(status.data_keys_moved >= 3, "{status:?}");

    // The old root key opens no key material and no access key secret.
    let old = Keyring::new(old_root.clone());
    let mut checked = 0;
    for k in store.keys_after(None, 100).await.expect("keys") {
        for v in &k.versions {
            assert!(old.material(&k, &v.id).is_err(), "key {} {}", k.id, v.id);
            checked += 1;
        }
    }
    assert!(checked >= 4, "two keys with two versions each at least");
    for ak in store
        .access_keys_after(None, 100)
        .await
        .expect("access keys")
    {
        assert!(old.open_access_secret(&ak.id, &ak.sealed_secret).is_err());
    }
    // A service on the old key refuses to start; one on the new key reads everything.
    let stale = service(store.clone(), old_root);
    assert!(stale.check_root_key().await.is_err());
    let fresh = service(store.clone(), installed);
    fresh
        .check_root_key()
        .await
        .expect("the new key opens the store");
    for (name, want) in [
        ("on-default", "one"),
        ("on-customer", "two"),
        ("during", "three"),
    ] {
        assert_eq!(value(&fresh, &scope, name).await, want);
    }
    let ak = fresh.access_key(&extra).await.expect("access key");
    assert_eq!(ak.secret.as_slice(), extra_secret.as_bytes());

    // Every data key is now under its key's newest material.
    let key = fresh.find_key(&scope, &key.id).await.expect("key");
    let sealed_under = |name: &'static str| {
        let (fresh, scope) = (&fresh, &scope);
        async move {
            let s = fresh.describe(scope, name).await.expect("describe");
            fresh
                .store()
                .read_value(s.id, "v1")
                .await
                .expect("read")
                .expect("value")
                .key_version
        }
    };
    assert_eq!(sealed_under("on-customer").await, key.primary_version);
    assert_eq!(sealed_under("during").await, key.primary_version);
}
