//! What the checks of every area build on: the type of a check, scopes, sealed values and
//! records to store, and short ways to write and read secrets through the contract. [`sealed`]
//! and [`secret`] are public so that a store's own tests can use them too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use uuid::Uuid;

pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the contract.
pub type Check = fn(Arc<dyn Store>) -> CheckFuture;

pub(super) fn scope(n: u64) -> Scope {
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

/// A generic secret with one current version `v1` and one tag `env=dev`.
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
        subscriptions: vec![],
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
        revision: 0,
        versions: vec![version("v1", created, &[Stage::Current])],
    }
}

pub(super) fn version(id: &str, created: i64, stages: &[Stage]) -> VersionRecord {
    VersionRecord {
        version_id: id.into(),
        created_at: Timestamp(created),
        kind: ValueKind::Text,
        stages: stages.to_vec(),
        expires_at: None,
    }
}

pub(super) fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

/// Creates `rec` with a value for each of its versions.
pub(super) async fn create(store: &Arc<dyn Store>, rec: &SecretRecord) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: rec
                .versions
                .iter()
                .enumerate()
                .map(|(i, v)| (v.version_id.clone(), sealed(i as u8 + 1)))
                .collect(),
            max_secrets: None,
        })
        .await
}

pub(super) async fn update(
    store: &Arc<dyn Store>,
    rec: &SecretRecord,
    new_values: Vec<(String, SealedValue)>,
    removed_versions: Vec<String>,
) -> Result<()> {
    store
        .write_secret(SecretWrite::Update {
            record: rec.clone(),
            new_values,
            removed_versions,
        })
        .await
}

pub(super) async fn get(store: &Arc<dyn Store>, s: &Scope, name: &str) -> Option<SecretRecord> {
    store.get_secret(s, name).await.expect("get_secret")
}

pub(super) async fn must_get(store: &Arc<dyn Store>, s: &Scope, name: &str) -> SecretRecord {
    get(store, s, name)
        .await
        .unwrap_or_else(|| panic!("the secret {name:?} is missing"))
}

/// Deletes the secret named `name` at the revision it has now.
pub(super) async fn delete_current(store: &Arc<dyn Store>, s: &Scope, name: &str) {
    let rec = must_get(store, s, name).await;
    store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: rec.revision,
        })
        .await
        .unwrap_or_else(|e| panic!("deleting {name:?}: {e}"));
}

/// What a reader sees after a committed update of `rec`.
pub(super) fn bumped(rec: &SecretRecord) -> SecretRecord {
    let mut r = sorted(rec);
    r.revision += 1;
    r
}

/// `rec` with each version's stages in the order reads return them.
pub(super) fn sorted(rec: &SecretRecord) -> SecretRecord {
    let mut r = rec.clone();
    for v in &mut r.versions {
        v.stages.sort();
    }
    r
}

pub(super) async fn total(store: &Arc<dyn Store>, s: &Scope, filter: SecretFilter) -> u64 {
    store
        .list_secrets(
            s,
            &filter,
            PageRequest {
                offset: 0,
                limit: 0,
                newest_first: false,
            },
        )
        .await
        .expect("list_secrets")
        .total
}

pub(super) async fn names(
    store: &Arc<dyn Store>,
    s: &Scope,
    filter: SecretFilter,
    page: PageRequest,
) -> (Vec<String>, u64) {
    let p = store
        .list_secrets(s, &filter, page)
        .await
        .expect("list_secrets");
    (p.items.into_iter().map(|r| r.name).collect(), p.total)
}

pub(super) fn first(limit: u32) -> PageRequest {
    PageRequest {
        offset: 0,
        limit,
        newest_first: false,
    }
}

pub(super) fn already_exists(r: &Result<()>, what: Resource, name: &str) -> bool {
    matches!(r, Err(Error::AlreadyExists { what: w, name: n }) if *w == what && n == name)
}

pub(super) fn access_key(id: &str, account: u64, at: i64) -> AccessKeyRecord {
    AccessKeyRecord {
        id: id.into(),
        account: AccountId(account),
        sealed_secret: vec![7; 40],
        enabled: true,
        admin: false,
        created_at: Timestamp(at),
    }
}

pub(super) fn plain_key(scope: &Scope, id: &str, created: i64, aliases: &[&str]) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        scope: scope.clone(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        description: format!("key {id}"),
        state: KeyState::Enabled,
        is_default: false,
        created_at: Timestamp(created),
        primary_version: "v1".into(),
        versions: vec![KeyVersion {
            id: "v1".into(),
            created_at: Timestamp(created),
            wrapped_material: vec![created as u8; 40],
        }],
        rotation: KeyRotation::default(),
    }
}
