//! The contract every [`Store`] must keep, as async checks that take a fresh, empty store.
//!
//! A store's tests call [`run_all`] (or single checks from [`CHECKS`]) with a factory that
//! makes a new store per check:
//!
//! ```ignore
//! coffer_store::conformance::run_all(|| async { Arc::new(open_a_store().await) as Arc<dyn Store> }).await;
//! ```
//!
//! Checks panic (assert) on a breach; messages name what broke.
//!
//! Beyond the trait's documentation the checks pin down what callers rely on: reads return
//! versions oldest first (the order they were added) and each version's stages in `Stage`
//! order (built-ins, then custom labels by name); tags and key aliases keep their order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use uuid::Uuid;

type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the contract.
pub type Check = fn(Arc<dyn Store>) -> CheckFuture;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("secrets_round_trip", |s| Box::pin(secrets_round_trip(s))),
    ("projects_and_lookup_by_id", |s| {
        Box::pin(projects_and_lookup_by_id(s))
    }),
    ("state_and_tag_pair_filters", |s| {
        Box::pin(state_and_tag_pair_filters(s))
    }),
    ("names_are_unique_per_scope", |s| {
        Box::pin(names_are_unique_per_scope(s))
    }),
    ("failed_writes_leave_nothing", |s| {
        Box::pin(failed_writes_leave_nothing(s))
    }),
    ("updates_are_revision_checked", |s| {
        Box::pin(updates_are_revision_checked(s))
    }),
    ("racing_updates_have_one_winner", |s| {
        Box::pin(racing_updates_have_one_winner(s))
    }),
    ("stages_mark_one_version", |s| {
        Box::pin(stages_mark_one_version(s))
    }),
    ("tags_are_replaced", |s| Box::pin(tags_are_replaced(s))),
    ("versions_are_added_and_removed", |s| {
        Box::pin(versions_are_added_and_removed(s))
    }),
    ("delete_is_revision_checked", |s| {
        Box::pin(delete_is_revision_checked(s))
    }),
    ("listing_pages_and_totals", |s| {
        Box::pin(listing_pages_and_totals(s))
    }),
    ("listing_filters", |s| Box::pin(listing_filters(s))),
    ("purge_respects_cutoff_and_limit", |s| {
        Box::pin(purge_respects_cutoff_and_limit(s))
    }),
    ("keys", |s| Box::pin(keys(s))),
    ("accounts_and_access_keys", |s| {
        Box::pin(accounts_and_access_keys(s))
    }),
    ("event_rules_and_subscriptions", |s| {
        Box::pin(event_rules_and_subscriptions(s))
    }),
    ("key_updates_lists_and_use", |s| {
        Box::pin(key_updates_lists_and_use(s))
    }),
    ("policies_attachments_and_account_deletion", |s| {
        Box::pin(policies_attachments_and_account_deletion(s))
    }),
    ("key_rotation_schedule", |s| {
        Box::pin(key_rotation_schedule(s))
    }),
    ("rewrap_walks_and_swaps", |s| {
        Box::pin(rewrap_walks_and_swaps(s))
    }),
    ("reads_after_writes_see_them", |s| {
        Box::pin(reads_after_writes_see_them(s))
    }),
    ("database_instances", |s| Box::pin(database_instances(s))),
    ("rotation_tasks_and_schedule", |s| {
        Box::pin(rotation_tasks_and_schedule(s))
    }),
];

/// Runs every check, each on its own fresh store from `make`.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    for (name, check) in CHECKS {
        // Printed before the check so that a failure's output says which one it was.
        eprintln!("store conformance: {name}");
        check(make().await).await;
    }
}

// --- fixtures -------------------------------------------------------------------------------

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

fn version(id: &str, created: i64, stages: &[Stage]) -> VersionRecord {
    VersionRecord {
        version_id: id.into(),
        created_at: Timestamp(created),
        kind: ValueKind::Text,
        stages: stages.to_vec(),
        expires_at: None,
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

/// Creates `rec` with a value for each of its versions.
async fn create(store: &Arc<dyn Store>, rec: &SecretRecord) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: rec
                .versions
                .iter()
                .enumerate()
                .map(|(i, v)| (v.version_id.clone(), sealed(i as u8 + 1)))
                .collect(),
        })
        .await
}

async fn update(
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

async fn get(store: &Arc<dyn Store>, s: &Scope, name: &str) -> Option<SecretRecord> {
    store.get_secret(s, name).await.expect("get_secret")
}

async fn must_get(store: &Arc<dyn Store>, s: &Scope, name: &str) -> SecretRecord {
    get(store, s, name)
        .await
        .unwrap_or_else(|| panic!("the secret {name:?} is missing"))
}

/// Deletes the secret named `name` at the revision it has now.
async fn delete_current(store: &Arc<dyn Store>, s: &Scope, name: &str) {
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
fn bumped(rec: &SecretRecord) -> SecretRecord {
    let mut r = sorted(rec);
    r.revision += 1;
    r
}

/// `rec` with each version's stages in the order reads return them.
fn sorted(rec: &SecretRecord) -> SecretRecord {
    let mut r = rec.clone();
    for v in &mut r.versions {
        v.stages.sort();
    }
    r
}

async fn total(store: &Arc<dyn Store>, s: &Scope, filter: SecretFilter) -> u64 {
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

async fn names(
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

fn first(limit: u32) -> PageRequest {
    PageRequest {
        offset: 0,
        limit,
        newest_first: false,
    }
}

fn already_exists(r: &Result<()>, what: Resource, name: &str) -> bool {
    matches!(r, Err(Error::AlreadyExists { what: w, name: n }) if *w == what && n == name)
}

// --- checks ---------------------------------------------------------------------------------

/// Everything a record holds comes back as written; scopes do not see each other.
pub async fn secrets_round_trip(store: Arc<dyn Store>) {
    let s = scope(1);
    let mut rec = secret(&s, "alpha", 10);
    rec.description = "a long description, with ünïcode".into();
    rec.tags = vec![tag("zeta", "1"), tag("alpha", ""), tag("zeta", "2")];
    rec.state = SecretState::Disabled;
    rec.rotation = RotationPolicy {
        enabled: true,
        interval_secs: Some(86_400),
        next: Some(Timestamp(99_000)),
        last: Some(Timestamp(9_000)),
        last_error: Some("the account \"app\" does not exist".into()),
        failures: 2,
    };
    rec.extended_config = Some(r#"{"SecretSubType":"x"}"#.into());
    rec.policy = Some(r#"{"Version":"1","Statement":[]}"#.into());
    rec.updated_at = Timestamp(11);
    rec.versions = vec![
        version("v1", 10, &[Stage::Previous]),
        VersionRecord {
            kind: ValueKind::Binary,
            ..version(
                "v2",
                11,
                &[
                    Stage::Current,
                    Stage::Pending,
                    Stage::Custom("blue".into()),
                    Stage::Custom("@current".into()),
                ],
            )
        },
        version("v0", 12, &[]),
    ];
    create(&store, &rec).await.expect("create");
    assert_eq!(get(&store, &s, "alpha").await, Some(sorted(&rec)));
    assert_eq!(
        store.read_value(rec.id, "v1").await.expect("read"),
        Some(sealed(1))
    );
    assert_eq!(
        store.read_value(rec.id, "v2").await.expect("read"),
        Some(sealed(2))
    );
    assert_eq!(
        store.read_value(rec.id, "v0").await.expect("read"),
        Some(sealed(3))
    );
    assert_eq!(store.read_value(rec.id, "v9").await.expect("read"), None);
    assert_eq!(
        store.read_value(Uuid::new_v4(), "v1").await.expect("read"),
        None
    );
    // Names are exact.
    assert!(get(&store, &s, "Alpha").await.is_none());
    assert!(get(&store, &s, "alph").await.is_none());
    // Another account or region does not see it.
    assert!(get(&store, &scope(2), "alpha").await.is_none());
    let other_region = Scope {
        account: AccountId(1),
        region: "other".into(),
    };
    assert!(get(&store, &other_region, "alpha").await.is_none());
    // Large account ids survive.
    let big = scope(u64::MAX);
    let rec = secret(&big, "big", 1);
    create(&store, &rec).await.expect("create");
    assert_eq!(get(&store, &big, "big").await, Some(rec));
    assert_eq!(total(&store, &big, SecretFilter::default()).await, 1);
}

/// A name is taken in its scope by live secrets and by those waiting for deletion.
pub async fn names_are_unique_per_scope(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "alpha", 10);
    create(&store, &rec).await.expect("create");
    let dup = create(&store, &secret(&s, "alpha", 11)).await;
    assert!(already_exists(&dup, Resource::Secret, "alpha"), "{dup:?}");
    assert_eq!(
        must_get(&store, &s, "alpha").await,
        rec,
        "the loser changed it"
    );

    let mut pending = rec.clone();
    pending.state = SecretState::PendingDelete {
        purge_at: Timestamp(1000),
    };
    update(&store, &pending, vec![], vec![])
        .await
        .expect("schedule deletion");
    let dup = create(&store, &secret(&s, "alpha", 12)).await;
    assert!(already_exists(&dup, Resource::Secret, "alpha"), "{dup:?}");
    assert_eq!(must_get(&store, &s, "alpha").await, bumped(&pending));
    // The same name in another account or region is another secret.
    create(&store, &secret(&scope(2), "alpha", 13))
        .await
        .expect("other account");
    let other_region = Scope {
        account: AccountId(1),
        region: "elsewhere".into(),
    };
    create(&store, &secret(&other_region, "alpha", 14))
        .await
        .expect("other region");
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 1);
}

/// A write that fails part-way leaves no trace.
pub async fn failed_writes_leave_nothing(store: Arc<dyn Store>) {
    let s = scope(1);
    create(&store, &secret(&s, "keep", 1))
        .await
        .expect("create");
    // Tags and a first version are written before the stage clash is found.
    let mut bad = secret(&s, "broken", 2);
    bad.tags.push(tag("more", "tags"));
    bad.versions.push(version("v2", 2, &[Stage::Current]));
    let r = create(&store, &bad).await;
    assert!(r.is_err(), "a stage on two versions was accepted");
    assert!(get(&store, &s, "broken").await.is_none());
    assert_eq!(store.read_value(bad.id, "v1").await.expect("read"), None);
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 1);
    let (listed, _) = names(&store, &s, SecretFilter::default(), first(10)).await;
    assert_eq!(listed, vec!["keep"]);
    // The name is free.
    create(&store, &secret(&s, "broken", 3))
        .await
        .expect("create after a failed create");
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 2);
}

/// An update commits only at the revision it read, and bumps it.
pub async fn updates_are_revision_checked(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "beta", 10);
    create(&store, &rec).await.expect("create");
    let mut next = rec.clone();
    next.description = "changed".into();
    next.key_id = "k2".into();
    next.updated_at = Timestamp(20);
    next.rotation.enabled = true;
    next.extended_config = Some("{}".into());
    next.policy = Some("p".into());
    update(&store, &next, vec![], vec![]).await.expect("update");
    let got = must_get(&store, &s, "beta").await;
    assert_eq!(got, bumped(&next));
    assert_eq!(got.revision, 1);
    assert_eq!(got.created_at, rec.created_at);

    // A writer that read revision 0 loses and changes nothing.
    let mut stale = rec.clone();
    stale.description = "stale".into();
    let r = update(&store, &stale, vec![], vec![]).await;
    assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    let r = update(
        &store,
        &stale,
        vec![("v9".into(), sealed(9))],
        vec!["v1".into()],
    )
    .await;
    assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    assert_eq!(must_get(&store, &s, "beta").await, got);
    assert_eq!(
        store.read_value(rec.id, "v1").await.expect("read"),
        Some(sealed(1))
    );
    // A revision from the future loses too.
    let mut ahead = got.clone();
    ahead.revision = 7;
    let r = update(&store, &ahead, vec![], vec![]).await;
    assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    // The fresh revision wins.
    let mut fresh = got.clone();
    fresh.state = SecretState::Enabled;
    fresh.description = "fresh".into();
    update(&store, &fresh, vec![], vec![])
        .await
        .expect("update at the current revision");
    assert_eq!(must_get(&store, &s, "beta").await.revision, 2);
}

/// Writers racing from one revision: exactly one commits.
pub async fn racing_updates_have_one_winner(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "race", 10);
    create(&store, &rec).await.expect("create");
    let mut tasks = vec![];
    for i in 0..8 {
        let store = store.clone();
        let mut mine = rec.clone();
        mine.description = format!("writer {i}");
        tasks.push(tokio::spawn(async move {
            update(&store, &mine, vec![], vec![]).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => won += 1,
            Err(Error::Conflict) => {}
            Err(e) => panic!("a racing update failed with {e:?}, not Conflict"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(must_get(&store, &s, "race").await.revision, 1);
}

/// A stage marks at most one version; moving stages between versions is one update.
pub async fn stages_mark_one_version(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "gamma", 10);
    create(&store, &rec).await.expect("create");
    // Put a new value: Current moves to v2, Previous to v1.
    let mut next = rec.clone();
    next.versions = vec![
        version("v1", 10, &[Stage::Previous]),
        version("v2", 20, &[Stage::Current, Stage::Custom("blue".into())]),
    ];
    update(&store, &next, vec![("v2".into(), sealed(2))], vec![])
        .await
        .expect("move stages");
    let got = must_get(&store, &s, "gamma").await;
    assert_eq!(got, bumped(&next));
    assert_eq!(
        got.version_with_stage(&Stage::Current)
            .map(|v| v.version_id.as_str()),
        Some("v2")
    );
    // The same label on two versions is refused, for built-ins and custom labels alike.
    for stage in [Stage::Current, Stage::Custom("blue".into())] {
        let mut bad = got.clone();
        bad.versions[0].stages.push(stage.clone());
        let r = update(&store, &bad, vec![], vec![]).await;
        assert!(r.is_err(), "{stage:?} on two versions was accepted");
        assert_eq!(
            must_get(&store, &s, "gamma").await,
            got,
            "a failed write changed something"
        );
    }
    // A custom label spelled like a built-in is its own stage.
    let mut custom = got.clone();
    custom.versions[0].stages = vec![Stage::Custom("@current".into()), Stage::Previous];
    update(&store, &custom, vec![], vec![])
        .await
        .expect("custom label");
    let got = must_get(&store, &s, "gamma").await;
    assert_eq!(got, bumped(&custom));
    // Unstaging a version keeps it.
    let mut unstaged = got.clone();
    unstaged.versions[0].stages.clear();
    update(&store, &unstaged, vec![], vec![])
        .await
        .expect("unstage");
    assert_eq!(must_get(&store, &s, "gamma").await, bumped(&unstaged));
}

/// An update replaces the whole tag list, order included.
pub async fn tags_are_replaced(store: Arc<dyn Store>) {
    let s = scope(1);
    let mut rec = secret(&s, "delta", 10);
    rec.tags = vec![tag("a", "1"), tag("b", "2"), tag("c", "3")];
    create(&store, &rec).await.expect("create");
    let mut next = rec.clone();
    next.tags = vec![tag("c", "30"), tag("a", "1")];
    update(&store, &next, vec![], vec![]).await.expect("retag");
    let got = must_get(&store, &s, "delta").await;
    assert_eq!(got.tags, next.tags);
    let by_key = |k: &str| SecretFilter {
        tag_keys: vec![k.into()],
        ..Default::default()
    };
    assert_eq!(
        total(&store, &s, by_key("b")).await,
        0,
        "an old tag still matches"
    );
    assert_eq!(total(&store, &s, by_key("c")).await, 1);
    let listed = store
        .list_secrets(&s, &SecretFilter::default(), first(10))
        .await
        .expect("list");
    assert_eq!(listed.items[0].tags, next.tags);
    let mut none = got.clone();
    none.tags.clear();
    update(&store, &none, vec![], vec![]).await.expect("untag");
    assert!(must_get(&store, &s, "delta").await.tags.is_empty());
    assert_eq!(total(&store, &s, by_key("c")).await, 0);
}

/// Versions come and go with their values; reads list them oldest first.
pub async fn versions_are_added_and_removed(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "eps", 10);
    create(&store, &rec).await.expect("create");
    let mut next = rec.clone();
    next.versions = vec![
        version("v1", 10, &[]),
        version("v2", 20, &[Stage::Previous]),
        VersionRecord {
            kind: ValueKind::Binary,
            ..version("v3", 30, &[Stage::Current])
        },
    ];
    update(
        &store,
        &next,
        vec![("v2".into(), sealed(2)), ("v3".into(), sealed(3))],
        vec![],
    )
    .await
    .expect("add two versions");
    let got = must_get(&store, &s, "eps").await;
    assert_eq!(got, bumped(&next));
    assert_eq!(
        store.read_value(rec.id, "v3").await.expect("read"),
        Some(sealed(3))
    );
    // Adding a version id the secret already has fails and changes nothing.
    let mut dup = got.clone();
    dup.versions.push(version("v2", 40, &[]));
    let r = update(&store, &dup, vec![("v2".into(), sealed(9))], vec![]).await;
    assert!(r.is_err(), "a second v2 was accepted");
    assert_eq!(must_get(&store, &s, "eps").await, got);
    assert_eq!(
        store.read_value(rec.id, "v2").await.expect("read"),
        Some(sealed(2))
    );
    // Removing a version removes its value; a new one is added at the end.
    let mut pruned = got.clone();
    pruned.versions.remove(0);
    pruned.versions.push(version("v4", 40, &[Stage::Pending]));
    update(
        &store,
        &pruned,
        vec![("v4".into(), sealed(4))],
        vec!["v1".into()],
    )
    .await
    .expect("prune and add");
    assert_eq!(store.read_value(rec.id, "v1").await.expect("read"), None);
    let got = must_get(&store, &s, "eps").await;
    assert_eq!(got, bumped(&pruned));
    let ids: Vec<_> = got.versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(ids, vec!["v2", "v3", "v4"]);
}

/// Delete checks the revision, then removes the secret with all it holds.
pub async fn delete_is_revision_checked(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "zeta", 10);
    create(&store, &rec).await.expect("create");
    create(&store, &secret(&s, "other", 11))
        .await
        .expect("create");
    let mut next = rec.clone();
    next.versions.push(version("v2", 20, &[Stage::Pending]));
    update(&store, &next, vec![("v2".into(), sealed(2))], vec![])
        .await
        .expect("update");
    let stale = store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: 0,
        })
        .await;
    assert!(matches!(stale, Err(Error::Conflict)), "{stale:?}");
    assert!(get(&store, &s, "zeta").await.is_some());
    store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: 1,
        })
        .await
        .expect("delete");
    assert!(get(&store, &s, "zeta").await.is_none());
    for v in ["v1", "v2"] {
        assert_eq!(store.read_value(rec.id, v).await.expect("read"), None);
    }
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 1);
    assert_eq!(
        total(
            &store,
            &s,
            SecretFilter {
                tag_keys: vec!["env".into()],
                ..Default::default()
            }
        )
        .await,
        1
    );
    // Deleting it again finds nothing at that revision.
    let again = store
        .write_secret(SecretWrite::Delete {
            id: rec.id,
            revision: 1,
        })
        .await;
    assert!(again.is_err());
    // The name is free.
    create(&store, &secret(&s, "zeta", 30))
        .await
        .expect("re-create");
}

/// Pages follow creation time (then id), in both directions, with the total of all matches.
pub async fn listing_pages_and_totals(store: Arc<dyn Store>) {
    let s = scope(7);
    // Created out of order, so that order must come from created_at, not insertion.
    for i in (0..25).rev() {
        create(&store, &secret(&s, &format!("svc-{i:02}"), 100 + i))
            .await
            .expect("create");
    }
    create(&store, &secret(&scope(8), "svc-other", 1))
        .await
        .expect("create");
    // The same account in another region is another scope.
    let elsewhere = Scope {
        account: AccountId(7),
        region: "elsewhere".into(),
    };
    create(&store, &secret(&elsewhere, "svc-elsewhere", 105))
        .await
        .expect("create");
    let (page, total_) = names(
        &store,
        &s,
        SecretFilter::default(),
        PageRequest {
            offset: 10,
            limit: 10,
            newest_first: false,
        },
    )
    .await;
    assert_eq!(total_, 25);
    let expected: Vec<_> = (10..20).map(|i| format!("svc-{i:02}")).collect();
    assert_eq!(page, expected);
    let (page, _) = names(
        &store,
        &s,
        SecretFilter::default(),
        PageRequest {
            offset: 20,
            limit: 10,
            newest_first: true,
        },
    )
    .await;
    let expected: Vec<_> = (0..5).rev().map(|i| format!("svc-{i:02}")).collect();
    assert_eq!(page, expected);
    let full = store
        .list_secrets(&s, &SecretFilter::default(), first(100))
        .await
        .expect("list");
    assert_eq!(full.items.len(), 25);
    for r in &full.items {
        assert!(r.versions.is_empty(), "a list result carries versions");
        assert_eq!(r.tags, vec![tag("env", "dev")]);
        assert_eq!(r.scope, s);
    }
    // Past the end: no items, same total.
    let (page, total_) = names(
        &store,
        &s,
        SecretFilter::default(),
        PageRequest {
            offset: 100,
            limit: 10,
            newest_first: false,
        },
    )
    .await;
    assert!(page.is_empty());
    assert_eq!(total_, 25);
    // A limit of zero counts only.
    let p = store
        .list_secrets(&s, &SecretFilter::default(), first(0))
        .await
        .expect("count");
    assert_eq!((p.items.len(), p.total), (0, 25));
    assert_eq!(total(&store, &scope(9), SecretFilter::default()).await, 0);
    // Equal creation times are ordered by id.
    let t = scope(10);
    let mut same: Vec<SecretRecord> = (0..6)
        .map(|i| secret(&t, &format!("same-{i}"), 500))
        .collect();
    for r in &same {
        create(&store, r).await.expect("create");
    }
    same.sort_by_key(|r| r.id.to_string());
    let want: Vec<_> = same.iter().map(|r| r.name.clone()).collect();
    let (got, _) = names(&store, &t, SecretFilter::default(), first(10)).await;
    assert_eq!(got, want);
    let (mut got, _) = names(
        &store,
        &t,
        SecretFilter::default(),
        PageRequest {
            offset: 0,
            limit: 10,
            newest_first: true,
        },
    )
    .await;
    got.reverse();
    assert_eq!(got, want);
}

/// Projects map one id to one account and region; secrets can be found by id in their scope.
pub async fn projects_and_lookup_by_id(store: Arc<dyn Store>) {
    let acct = Account {
        id: AccountId(77),
        name: "p".into(),
        operator: false,
        created_at: Timestamp(1),
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

/// State filters, and tag conditions that pair a key with its allowed values (every
/// condition must hold; no values means the key is enough).
pub async fn state_and_tag_pair_filters(store: Arc<dyn Store>) {
    let s = scope(9);
    let states = [
        SecretState::Enabled,
        SecretState::Disabled,
        SecretState::PendingDelete {
            purge_at: Timestamp(500),
        },
    ];
    for i in 0..9 {
        let mut rec = secret(&s, &format!("st-{i}"), i);
        rec.state = states[(i % 3) as usize];
        rec.tags = vec![
            tag("env", if i < 5 { "dev" } else { "prod" }),
            tag(&format!("n{}", i % 2), "x"),
        ];
        create(&store, &rec).await.expect("create");
    }
    let count = |f: SecretFilter| {
        let store = store.clone();
        let s = s.clone();
        async move { total(&store, &s, f).await }
    };
    let live = |disabled| SecretFilter {
        pending_delete: Some(false),
        disabled: Some(disabled),
        ..Default::default()
    };
    assert_eq!(count(live(false)).await, 3, "enabled");
    assert_eq!(count(live(true)).await, 3, "disabled");
    let cond = |k: &str, v: &[&str]| TagCondition {
        key: k.into(),
        values: v.iter().map(|x| x.to_string()).collect(),
    };
    let tags = |c: Vec<TagCondition>| SecretFilter {
        tags: c,
        ..Default::default()
    };
    assert_eq!(count(tags(vec![cond("env", &["dev"])])).await, 5);
    assert_eq!(count(tags(vec![cond("env", &["dev", "prod"])])).await, 9);
    assert_eq!(count(tags(vec![cond("env", &[])])).await, 9);
    assert_eq!(
        count(tags(vec![cond("env", &["prod"]), cond("n0", &[])])).await,
        2,
        "i = 6, 8"
    );
    assert_eq!(
        count(tags(vec![cond("env", &["dev"]), cond("n1", &["x"])])).await,
        2,
        "i = 1, 3"
    );
    assert_eq!(
        count(tags(vec![cond("n1", &["dev"])])).await,
        0,
        "a value of another key does not match"
    );
    let f = SecretFilter {
        disabled: Some(true),
        tags: vec![cond("env", &["dev"])],
        ..Default::default()
    };
    assert_eq!(count(f).await, 2, "i = 1, 4");
}

/// Values within a filter field are alternatives; fields must all hold. Text matches exactly.
pub async fn listing_filters(store: Arc<dyn Store>) {
    let s = scope(7);
    for i in 0..25 {
        let mut rec = secret(&s, &format!("svc-{i:02}"), 100 + i);
        rec.tags = vec![tag(&format!("k{}", i % 3), &format!("v{}", i % 5))];
        if i % 10 == 0 {
            rec.state = SecretState::PendingDelete {
                purge_at: Timestamp(10_000),
            };
        }
        create(&store, &rec).await.expect("create");
    }
    for name in ["a_b", "axb", "100%", "1000", "Svc-01"] {
        create(&store, &secret(&s, name, 1)).await.expect("create");
    }
    // Twins in another account and in another region of the same account match every
    // filter below and must never be counted.
    for sc in [
        scope(8),
        Scope {
            account: AccountId(7),
            region: "elsewhere".into(),
        },
    ] {
        let mut twin = secret(&sc, "svc-15", 115);
        twin.tags = vec![tag("k0", "v0")];
        create(&store, &twin).await.expect("create");
        let mut twin = secret(&sc, "svc-20", 120);
        twin.tags = vec![tag("k2", "v0")];
        twin.state = SecretState::PendingDelete {
            purge_at: Timestamp(10_000),
        };
        create(&store, &twin).await.expect("create");
    }

    let count = |f: SecretFilter| {
        let store = store.clone();
        let s = s.clone();
        async move { total(&store, &s, f).await }
    };
    assert_eq!(count(SecretFilter::default()).await, 30);
    let f = SecretFilter {
        names: vec!["svc-03".into(), "svc-04".into(), "nope".into()],
        ..Default::default()
    };
    assert_eq!(count(f.clone()).await, 2);
    let (got, _) = names(&store, &s, f, first(10)).await;
    assert_eq!(got, vec!["svc-03", "svc-04"]);
    let contains = |t: &str| SecretFilter {
        name_contains: Some(t.into()),
        ..Default::default()
    };
    assert_eq!(count(contains("-1")).await, 10);
    assert_eq!(
        count(contains("svc")).await,
        25,
        "name_contains is case-sensitive"
    );
    assert_eq!(count(contains("_")).await, 1, "`_` is not a wildcard");
    assert_eq!(count(contains("%")).await, 1, "`%` is not a wildcard");
    assert_eq!(count(contains("100")).await, 2);
    assert_eq!(count(contains("")).await, 30);
    let (got, _) = names(&store, &s, contains("_"), first(10)).await;
    assert_eq!(got, vec!["a_b"]);
    assert_eq!(
        count(SecretFilter {
            descriptions: vec!["about svc-05".into(), "about svc-06".into()],
            ..Default::default()
        })
        .await,
        2
    );
    let keys = |k: &[&str]| k.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        count(SecretFilter {
            tag_keys: keys(&["k0"]),
            ..Default::default()
        })
        .await,
        9
    );
    assert_eq!(
        count(SecretFilter {
            tag_keys: keys(&["k0", "k1"]),
            ..Default::default()
        })
        .await,
        17
    );
    assert_eq!(
        count(SecretFilter {
            tag_values: keys(&["v0"]),
            ..Default::default()
        })
        .await,
        5
    );
    let f = SecretFilter {
        tag_keys: keys(&["k0"]),
        tag_values: keys(&["v0"]),
        ..Default::default()
    };
    assert_eq!(count(f.clone()).await, 2); // i = 0, 15
    let (got, _) = names(&store, &s, f, first(10)).await;
    assert_eq!(got, vec!["svc-00", "svc-15"]);
    assert_eq!(
        count(SecretFilter {
            kinds: keys(&["Generic"]),
            ..Default::default()
        })
        .await,
        30
    );
    assert_eq!(
        count(SecretFilter {
            kinds: keys(&["Rds"]),
            ..Default::default()
        })
        .await,
        0
    );
    let pending = |p: bool| SecretFilter {
        pending_delete: Some(p),
        ..Default::default()
    };
    assert_eq!(count(pending(true)).await, 3);
    assert_eq!(count(pending(false)).await, 27);
    let (got, _) = names(&store, &s, pending(true), first(10)).await;
    assert_eq!(got, vec!["svc-00", "svc-10", "svc-20"]);
    // Every field at once.
    let f = SecretFilter {
        names: keys(&["svc-15", "svc-20", "svc-21"]),
        name_contains: Some("svc-".into()),
        descriptions: keys(&["about svc-15", "about svc-20", "about svc-21"]),
        tag_keys: keys(&["k0", "k2"]),
        tag_values: keys(&["v0", "v1"]),
        kinds: keys(&["Generic"]),
        pending_delete: Some(false),
        disabled: Some(false),
        tags: vec![TagCondition {
            key: "k0".into(),
            values: vec![],
        }],
        subscribed_to: None,
    };
    // 15: k0/v0 live; 20: k2/v0 pending; 21: k0/v1 live.
    let (got, t) = names(&store, &s, f, first(10)).await;
    assert_eq!((got, t), (vec!["svc-15".to_string(), "svc-21".into()], 2));
    // Filtered pages page too.
    let (got, t) = names(
        &store,
        &s,
        contains("-1"),
        PageRequest {
            offset: 8,
            limit: 5,
            newest_first: false,
        },
    )
    .await;
    assert_eq!((got, t), (vec!["svc-18".to_string(), "svc-19".into()], 10));
}

/// Purge deletes what is due at the cutoff, at most `limit` per call, in every scope.
pub async fn purge_respects_cutoff_and_limit(store: Arc<dyn Store>) {
    let s = scope(3);
    let t = scope(4);
    for (sc, name, purge_at) in [
        (&s, "p1", 100),
        (&s, "p2", 200),
        (&s, "p3", 300),
        (&t, "q1", 150),
    ] {
        let mut rec = secret(sc, name, 1);
        rec.state = SecretState::PendingDelete {
            purge_at: Timestamp(purge_at),
        };
        create(&store, &rec).await.expect("create");
    }
    create(&store, &secret(&s, "kept", 1))
        .await
        .expect("create");
    assert!(store
        .purge_due(Timestamp(99), 10)
        .await
        .expect("purge")
        .is_empty());
    let one = store.purge_due(Timestamp(200), 1).await.expect("purge");
    assert_eq!(one.len(), 1, "limit ignored: {one:?}");
    let rest = store.purge_due(Timestamp(200), 10).await.expect("purge");
    let mut purged: Vec<_> = one.into_iter().chain(rest).collect();
    purged.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        purged,
        vec![
            (s.clone(), "p1".to_string()),
            (s.clone(), "p2".to_string()),
            (t.clone(), "q1".to_string())
        ]
    );
    assert!(store
        .purge_due(Timestamp(200), 10)
        .await
        .expect("purge")
        .is_empty());
    assert!(get(&store, &s, "p1").await.is_none());
    assert!(get(&store, &s, "p3").await.is_some());
    assert!(get(&store, &s, "kept").await.is_some());
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 2);
    assert_eq!(total(&store, &t, SecretFilter::default()).await, 0);
    // The name is free again.
    create(&store, &secret(&s, "p1", 5))
        .await
        .expect("re-create");
}

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

/// Accounts and access keys: create, read, duplicates, enable and disable.
pub async fn accounts_and_access_keys(store: Arc<dyn Store>) {
    assert_eq!(store.count_accounts().await.expect("count"), 0);
    assert_eq!(store.get_account(AccountId(42)).await.expect("get"), None);
    let acct = Account {
        id: AccountId(42),
        name: "a".into(),
        operator: false,
        created_at: Timestamp(1),
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

fn rule(scope: &Scope, name: &str, created: i64) -> EventRule {
    EventRule {
        id: Uuid::new_v4(),
        scope: scope.clone(),
        name: name.into(),
        events: vec![SecretEvent::Deleted, SecretEvent::VersionCreated],
        enabled: true,
        target: NotifyTarget {
            kind: "SMN".into(),
            id: format!("urn:smn:{name}"),
            name: "topic".into(),
        },
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
    }
}

/// Event rules: unique names per scope, creation-order pages after a marker, updates; secrets
/// subscribe only to existing rules of their own scope, and a rule in use cannot go.
pub async fn event_rules_and_subscriptions(store: Arc<dyn Store>) {
    let (s, other) = (scope(1), scope(2));
    // Names chosen so that name order differs from creation order.
    let rules: Vec<EventRule> = ["zeta", "alpha", "mid"]
        .iter()
        .enumerate()
        .map(|(i, n)| rule(&s, n, 10 + i as i64))
        .collect();
    for r in &rules {
        store.create_event_rule(r).await.expect("create rule");
    }
    let r = store.create_event_rule(&rule(&s, "alpha", 99)).await;
    assert!(already_exists(&r, Resource::EventRule, "alpha"), "{r:?}");
    store
        .create_event_rule(&rule(&other, "alpha", 1))
        .await
        .expect("same name in another scope");
    assert_eq!(
        store.get_event_rule(&s, "alpha").await.expect("get"),
        Some(rules[1].clone())
    );
    assert_eq!(store.get_event_rule(&s, "nope").await.expect("get"), None);

    let page = |after: Option<&'static str>, limit| {
        let store = store.clone();
        let s = s.clone();
        async move {
            store
                .list_event_rules(&s, after, limit)
                .await
                .expect("list rules")
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 10).await, ["zeta", "alpha", "mid"]);
    assert_eq!(page(None, 2).await, ["zeta", "alpha"]);
    assert_eq!(page(Some("alpha"), 10).await, ["mid"]);
    assert_eq!(page(Some("mid"), 10).await, Vec::<String>::new());
    assert_eq!(page(Some("nope"), 10).await, Vec::<String>::new());

    let mut changed = rules[2].clone();
    changed.events = vec![SecretEvent::Rotated];
    changed.enabled = false;
    changed.target.id = "urn:smn:other".into();
    changed.updated_at = Timestamp(50);
    store.update_event_rule(&changed).await.expect("update");
    assert_eq!(
        store.get_event_rule(&s, "mid").await.expect("get"),
        Some(changed)
    );
    let r = store.update_event_rule(&rule(&s, "nope", 1)).await;
    assert!(
        matches!(&r, Err(Error::NotFound { what: Resource::EventRule, name }) if name == "nope"),
        "{r:?}"
    );

    // Subscriptions name rules of the secret's own scope.
    let mut sec = secret(&s, "sub", 100);
    sec.subscriptions = vec!["nope".into()];
    let r = create(&store, &sec).await;
    assert!(
        matches!(&r, Err(Error::NotFound { what: Resource::EventRule, name }) if name == "nope"),
        "{r:?}"
    );
    assert_eq!(get(&store, &s, "sub").await, None, "nothing half-written");
    sec.subscriptions = vec!["zeta".into()];
    create(&store, &sec).await.expect("subscribed secret");
    create(&store, &secret(&s, "plain", 101))
        .await
        .expect("plain secret");
    assert_eq!(must_get(&store, &s, "sub").await.subscriptions, ["zeta"]);
    let subscribed = |rule: &str| SecretFilter {
        subscribed_to: Some(rule.into()),
        ..Default::default()
    };
    let (got, t) = names(&store, &s, subscribed("zeta"), first(10)).await;
    assert_eq!((got, t), (vec!["sub".to_string()], 1));
    let listed = store
        .list_secrets(&s, &subscribed("zeta"), first(10))
        .await
        .expect("list");
    assert_eq!(listed.items[0].subscriptions, ["zeta"], "lists carry them");
    assert_eq!(total(&store, &s, subscribed("alpha")).await, 0);

    let r = store.delete_event_rule(&s, "zeta").await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    assert!(store
        .get_event_rule(&s, "zeta")
        .await
        .expect("get")
        .is_some());

    // Moving the subscription: a rule of another scope is not a rule of this one.
    let cur = must_get(&store, &s, "sub").await;
    let mut moved = cur.clone();
    moved.subscriptions = vec!["alpha".into()];
    update(&store, &moved, vec![], vec![]).await.expect("move");
    let mut foreign = bumped(&moved);
    foreign.subscriptions = vec!["ghost".into()];
    store
        .create_event_rule(&rule(&other, "ghost", 2))
        .await
        .expect("rule of another scope");
    let r = update(&store, &foreign, vec![], vec![]).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert_eq!(must_get(&store, &s, "sub").await.subscriptions, ["alpha"]);
    store.delete_event_rule(&s, "zeta").await.expect("now free");

    // Deleting the secret releases its subscription.
    delete_current(&store, &s, "sub").await;
    store
        .delete_event_rule(&s, "alpha")
        .await
        .expect("free too");
    let r = store.delete_event_rule(&s, "alpha").await;
    assert!(
        matches!(
            &r,
            Err(Error::NotFound {
                what: Resource::EventRule,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(page(None, 10).await, ["mid"]);
    assert!(store
        .get_event_rule(&other, "alpha")
        .await
        .expect("get")
        .is_some());
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

fn access_key(id: &str, account: u64, at: i64) -> AccessKeyRecord {
    AccessKeyRecord {
        id: id.into(),
        account: AccountId(account),
        sealed_secret: vec![7; 40],
        enabled: true,
        admin: false,
        created_at: Timestamp(at),
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

fn plain_key(scope: &Scope, id: &str, created: i64, aliases: &[&str]) -> KeyRecord {
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

/// A store may keep what it read (the SQLite store caches secrets): a read that follows an
/// acknowledged write must still see that write, through every read path.
async fn reads_after_writes_see_them(store: Arc<dyn Store>) {
    let s = scope(1);
    let current = |r: &SecretRecord| {
        r.version_with_stage(&Stage::Current)
            .map(|v| v.version_id.clone())
    };
    let mut rec = secret(&s, "hot", 1_000);
    create(&store, &rec).await.expect("create");
    // Read twice, so that the second read may come from whatever the store kept.
    for _ in 0..2 {
        let (read, sealed_v1) = store
            .get_secret_with_value(&s, "hot", &current)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read, sorted(&rec));
        assert_eq!(sealed_v1, Some(sealed(1)));
    }
    rec = must_get(&store, &s, "hot").await;
    // A new current version moves the stage: the next read returns it and its value.
    let mut next = rec.clone();
    next.versions[0].stages.clear();
    next.versions[0].stages.push(Stage::Previous);
    next.versions.push(version("v2", 2_000, &[Stage::Current]));
    next.description = "changed".into();
    update(&store, &next, vec![("v2".into(), sealed(9))], vec![])
        .await
        .expect("update");
    let (read, value) = store
        .get_secret_with_value(&s, "hot", &current)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(read.description, "changed");
    assert_eq!(
        value,
        Some(sealed(9)),
        "the value of the new current version"
    );
    assert_eq!(must_get(&store, &s, "hot").await.description, "changed");
    // Asking for the older version still finds it.
    let (_, old) = store
        .get_secret_with_value(&s, "hot", &|_: &SecretRecord| Some("v1".to_string()))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(old, Some(sealed(1)));
    // Deleted: gone for every read path.
    delete_current(&store, &s, "hot").await;
    assert!(get(&store, &s, "hot").await.is_none());
    assert!(store
        .get_secret_with_value(&s, "hot", &current)
        .await
        .expect("read")
        .is_none());
    // Purged by the deletion window: gone too.
    let mut doomed = secret(&s, "doomed", 1_000);
    doomed.state = SecretState::PendingDelete {
        purge_at: Timestamp(5_000),
    };
    create(&store, &doomed).await.expect("create");
    assert!(get(&store, &s, "doomed").await.is_some());
    store.purge_due(Timestamp(6_000), 10).await.expect("purge");
    assert!(get(&store, &s, "doomed").await.is_none());
}

fn instance(scope: &Scope, id: &str) -> DbInstance {
    DbInstance {
        id: id.into(),
        scope: scope.clone(),
        engine: DbEngine::Postgres,
        host: "db.example".into(),
        port: 5432,
        admin_user: "admin".into(),
        admin_password: sealed(9),
        created_at: Timestamp(5),
    }
}

fn managed(scope: &Scope, name: &str, instance: &str) -> SecretRecord {
    let mut rec = secret(scope, name, 1);
    rec.kind = SecretKind::Database {
        engine: DbEngine::Postgres,
        instance: instance.into(),
        sub_type: DbSubType::SingleUser,
        format: CredentialFormat::Alibaba,
    };
    rec
}

pub async fn database_instances(store: Arc<dyn Store>) {
    let (s, other) = (scope(1), scope(2));
    let db = instance(&s, "db-1");
    store.create_db_instance(&db).await.expect("create");
    assert_eq!(
        store.get_db_instance(&s, "db-1").await.expect("get"),
        Some(db.clone())
    );
    // Ids are per scope: another account may use the same id, and sees only its own.
    assert_eq!(
        store.get_db_instance(&other, "db-1").await.expect("get"),
        None
    );
    store
        .create_db_instance(&instance(&other, "db-1"))
        .await
        .expect("same id, other scope");
    let again = store.create_db_instance(&db).await;
    assert!(
        already_exists(&again, Resource::DbInstance, "db-1"),
        "{again:?}"
    );
    store
        .create_db_instance(&instance(&s, "db-0"))
        .await
        .expect("create");
    let ids: Vec<String> = store
        .list_db_instances(&s)
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["db-0", "db-1"]);
    // The key sealing an admin password counts as in use.
    assert!(store.key_in_use("k").await.expect("in use"));
    // In use by a secret (in any state): refused, and kept.
    let rec = managed(&s, "app", "db-1");
    create(&store, &rec).await.expect("create secret");
    let busy = store.delete_db_instance(&s, "db-1").await;
    assert!(matches!(busy, Err(Error::InvalidState { .. })), "{busy:?}");
    assert!(store
        .get_db_instance(&s, "db-1")
        .await
        .expect("get")
        .is_some());
    delete_current(&store, &s, "app").await;
    store.delete_db_instance(&s, "db-1").await.expect("delete");
    let gone = store.delete_db_instance(&s, "db-1").await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    assert!(store
        .get_db_instance(&other, "db-1")
        .await
        .expect("get")
        .is_some());
}

fn task(secret: &SecretRecord, id: i64, version: &str, at: i64) -> RotationTask {
    RotationTask {
        id,
        scope: secret.scope.clone(),
        secret_id: secret.id,
        kind: TaskKind::Rotate,
        version_id: version.into(),
        step: TaskStep::Set,
        status: TaskStatus::Running,
        attempts: 0,
        applied: false,
        last_error: None,
        next_attempt: Timestamp(at),
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

pub async fn rotation_tasks_and_schedule(store: Arc<dyn Store>) {
    let s = scope(1);
    let mut rec = managed(&s, "app", "db-1");
    rec.rotation = RotationPolicy {
        enabled: true,
        interval_secs: Some(3600),
        next: Some(Timestamp(100)),
        ..Default::default()
    };
    create(&store, &rec).await.expect("create");
    let mut quiet = managed(&s, "quiet", "db-1");
    quiet.rotation.next = Some(Timestamp(50));
    create(&store, &quiet).await.expect("create");
    let due = |at: i64| {
        let store = store.clone();
        async move {
            store
                .due_secret_rotations(Timestamp(at), 10)
                .await
                .expect("due")
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
        }
    };
    // Only enabled rotation counts, from its time on.
    assert!(due(99).await.is_empty());
    assert_eq!(due(100).await, ["app"]);

    // A task is written with its pending version in one step...
    let stored = must_get(&store, &s, "app").await;
    let mut next = bumped(&stored);
    next.versions.push(version("v2", 3, &[Stage::Pending]));
    next.rotation.next = Some(Timestamp(4000));
    let t = task(&stored, 42, "v2", 3);
    store
        .write_task(
            &t,
            Some(SecretWrite::Update {
                record: SecretRecord {
                    revision: stored.revision,
                    ..next
                },
                new_values: vec![("v2".into(), sealed(2))],
                removed_versions: vec![],
            }),
        )
        .await
        .expect("write task");
    assert_eq!(store.get_task(&s, 42).await.expect("get"), Some(t.clone()));
    assert_eq!(store.get_task(&scope(2), 42).await.expect("get"), None);
    assert!(must_get(&store, &s, "app").await.version("v2").is_some());
    assert!(
        due(100).await.is_empty(),
        "the schedule moved with the write"
    );
    // ...and a stale secret write leaves the task unwritten too.
    let stale = store
        .write_task(
            &task(&stored, 43, "v3", 4),
            Some(SecretWrite::Update {
                record: stored.clone(),
                new_values: vec![],
                removed_versions: vec![],
            }),
        )
        .await;
    assert!(matches!(stale, Err(Error::Conflict)), "{stale:?}");
    assert_eq!(store.get_task(&s, 43).await.expect("get"), None);

    // Due tasks: running ones whose next attempt has come.
    assert_eq!(
        store.due_tasks(Timestamp(2), 10).await.expect("due").len(),
        0
    );
    assert_eq!(
        store.due_tasks(Timestamp(3), 10).await.expect("due"),
        vec![t.clone()]
    );
    let mut waiting = t.clone();
    waiting.attempts = 1;
    waiting.applied = true;
    waiting.last_error = Some("unreachable".into());
    waiting.next_attempt = Timestamp(30);
    waiting.step = TaskStep::Test;
    store.write_task(&waiting, None).await.expect("update");
    assert!(store
        .due_tasks(Timestamp(29), 10)
        .await
        .expect("due")
        .is_empty());
    assert_eq!(
        store.get_task(&s, 42).await.expect("get"),
        Some(waiting.clone())
    );
    let mut done = waiting.clone();
    done.status = TaskStatus::Succeeded;
    store.write_task(&done, None).await.expect("update");
    assert!(store
        .due_tasks(Timestamp(1_000), 10)
        .await
        .expect("due")
        .is_empty());
    store
        .write_task(&task(&stored, 44, "v4", 9), None)
        .await
        .expect("write");
    let ids: Vec<i64> = store
        .secret_tasks(stored.id, 10)
        .await
        .expect("list")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [44, 42], "newest first");
    let in_scope: Vec<(i64, String)> = store
        .scope_tasks(&s, 10)
        .await
        .expect("scope tasks")
        .into_iter()
        .map(|(t, name)| (t.id, name))
        .collect();
    assert_eq!(in_scope, [(44, "app".to_string()), (42, "app".to_string())]);
    assert!(store.scope_tasks(&scope(2), 10).await.expect("scope tasks").is_empty());
    // Tasks go with their secret.
    delete_current(&store, &s, "app").await;
    assert_eq!(store.get_task(&s, 42).await.expect("get"), None);
}
