//! Checks of [`SecretStore`]: round trips, unique names, atomic and revision-checked writes,
//! stages, tags and versions, deletes, listing with its pages, totals and filters, the purge,
//! and reads that see every acknowledged write (whatever the store caches).

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;
use uuid::Uuid;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("secrets_round_trip", |s| Box::pin(secrets_round_trip(s))),
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
    ("state_and_tag_pair_filters", |s| {
        Box::pin(state_and_tag_pair_filters(s))
    }),
    ("listing_filters", |s| Box::pin(listing_filters(s))),
    ("name_walks_page_by_resume_point", |s| {
        Box::pin(name_walks_page_by_resume_point(s))
    }),
    ("inventory_counts_by_state", |s| {
        Box::pin(inventory_counts_by_state(s))
    }),
    ("purge_respects_cutoff_and_limit", |s| {
        Box::pin(purge_respects_cutoff_and_limit(s))
    }),
    ("reads_after_writes_see_them", |s| {
        Box::pin(reads_after_writes_see_them(s))
    }),
    ("creates_count_against_a_quota", |s| {
        Box::pin(creates_count_against_a_quota(s))
    }),
    ("racing_creates_for_the_last_place", |s| {
        Box::pin(racing_creates_for_the_last_place(s))
    }),
    ("batches_commit_whole_or_not_at_all", |s| {
        Box::pin(batches_commit_whole_or_not_at_all(s))
    }),
    ("replication_is_recorded_with_the_secret", |s| {
        Box::pin(replication_is_recorded_with_the_secret(s))
    }),
    ("last_access_keeps_the_latest_day", |s| {
        Box::pin(last_access_keeps_the_latest_day(s))
    }),
    ("stages_of_several_secrets", |s| {
        Box::pin(stages_of_several_secrets(s))
    }),
];

/// The staged versions of several secrets in one call match what a read of each shows;
/// secrets without stages, and ids of no secret, are left out.
pub async fn stages_of_several_secrets(store: Arc<dyn Store>) {
    let s = scope(1);
    let (a, b) = (secret(&s, "a", 1), secret(&s, "b", 2));
    create(&store, &a).await.expect("create a");
    create(&store, &b).await.expect("create b");
    let mut b2 = must_get(&store, &s, "b").await;
    b2.versions.push(version(
        "v2",
        3,
        &[Stage::Current, Stage::Custom("blue".into())],
    ));
    b2.versions[0].stages = vec![Stage::Previous];
    update(&store, &b2, vec![("v2".into(), sealed(2))], vec![])
        .await
        .expect("update b");
    let got = store
        .stages_of(&[a.id, b.id, Uuid::new_v4()])
        .await
        .expect("stages");
    assert_eq!(got.len(), 2, "{got:?}");
    for (id, name) in [(a.id, "a"), (b.id, "b")] {
        let mut pairs = got.get(&id).cloned().unwrap_or_default();
        pairs.sort();
        let mut want: Vec<(String, Stage)> = must_get(&store, &s, name)
            .await
            .versions
            .iter()
            .flat_map(|v| v.stages.iter().map(|st| (v.version_id.clone(), st.clone())))
            .collect();
        want.sort();
        assert_eq!(pairs, want, "{name}");
    }
    assert_eq!(got[&b.id].len(), 3);
    assert!(store.stages_of(&[]).await.expect("stages").is_empty());
}

/// The day a secret was last read: unknown until recorded, then the latest day recorded (an
/// earlier day, as a slow node may write late, does not move it back); a secret that is gone
/// records nothing; recording changes nothing else of the secret (no revision, no change a
/// read would see); deleting the secret forgets it.
pub async fn last_access_keeps_the_latest_day(store: Arc<dyn Store>) {
    const DAY: i64 = 86_400_000;
    let s = scope(1);
    let (a, b) = (secret(&s, "a", 1), secret(&s, "b", 2));
    create(&store, &a).await.expect("create a");
    create(&store, &b).await.expect("create b");
    let before = must_get(&store, &s, "a").await;
    assert!(store
        .last_accessed(&[a.id, b.id])
        .await
        .expect("read")
        .is_empty());
    store
        .record_access(a.id, Timestamp(20 * DAY))
        .await
        .expect("record");
    store
        .record_access(a.id, Timestamp(19 * DAY))
        .await
        .expect("record older");
    store
        .record_access(b.id, Timestamp(3 * DAY))
        .await
        .expect("record b");
    let gone = Uuid::new_v4();
    store
        .record_access(gone, Timestamp(5 * DAY))
        .await
        .expect("a missing secret is ignored");
    let days = store
        .last_accessed(&[a.id, b.id, gone])
        .await
        .expect("read");
    assert_eq!(days.len(), 2, "{days:?}");
    assert_eq!(days.get(&a.id), Some(&Timestamp(20 * DAY)));
    assert_eq!(days.get(&b.id), Some(&Timestamp(3 * DAY)));
    store
        .record_access(a.id, Timestamp(21 * DAY))
        .await
        .expect("record newer");
    assert_eq!(
        store.last_accessed(&[a.id]).await.expect("read").get(&a.id),
        Some(&Timestamp(21 * DAY))
    );
    assert_eq!(
        must_get(&store, &s, "a").await,
        before,
        "the secret itself is unchanged"
    );
    delete_current(&store, &s, "a").await;
    assert!(store.last_accessed(&[a.id]).await.expect("read").is_empty());
    assert_eq!(store.last_accessed(&[]).await.expect("read").len(), 0);
}

/// A batch (a primary and its replica in two regions) commits every part or none: a stale
/// revision in its last part leaves the parts before it unwritten.
pub async fn batches_commit_whole_or_not_at_all(store: Arc<dyn Store>) {
    let east = scope(1);
    let west = Scope {
        account: east.account,
        region: "west".into(),
    };
    let primary = secret(&east, "shared", 1);
    store
        .write_secret(SecretWrite::Batch(vec![
            SecretWrite::Create {
                record: primary.clone(),
                values: vec![("v1".into(), sealed(1))],
                max_secrets: None,
            },
            SecretWrite::SetReplication {
                id: primary.id,
                info: Some("primary".into()),
            },
        ]))
        .await
        .expect("a batch of one create");
    let replica = secret(&west, "shared", 1);
    let mut changed = must_get(&store, &east, "shared").await;
    changed.description = "changed".into();
    let mut stale = changed.clone();
    stale.revision += 7;
    let failed = store
        .write_secret(SecretWrite::Batch(vec![
            SecretWrite::Create {
                record: replica.clone(),
                values: vec![("v1".into(), sealed(2))],
                max_secrets: None,
            },
            SecretWrite::SetReplication {
                id: replica.id,
                info: Some("replica".into()),
            },
            SecretWrite::Update {
                record: stale,
                new_values: vec![],
                removed_versions: vec![],
            },
        ]))
        .await;
    assert!(matches!(failed, Err(Error::Conflict)), "{failed:?}");
    assert!(get(&store, &west, "shared").await.is_none(), "half a batch");
    assert_eq!(store.get_replication(replica.id).await.expect("read"), None);
    assert_eq!(
        must_get(&store, &east, "shared").await.description,
        "about shared"
    );
    // The same batch at the right revision commits whole.
    store
        .write_secret(SecretWrite::Batch(vec![
            SecretWrite::Create {
                record: replica.clone(),
                values: vec![("v1".into(), sealed(2))],
                max_secrets: None,
            },
            SecretWrite::SetReplication {
                id: replica.id,
                info: Some("replica".into()),
            },
            SecretWrite::Update {
                record: changed,
                new_values: vec![],
                removed_versions: vec![],
            },
        ]))
        .await
        .expect("the batch");
    assert_eq!(must_get(&store, &west, "shared").await.id, replica.id);
    assert_eq!(
        must_get(&store, &east, "shared").await.description,
        "changed"
    );
    assert_eq!(
        store
            .get_replication(replica.id)
            .await
            .expect("read")
            .as_deref(),
        Some("replica")
    );
}

/// A secret's replication record is replaced, cleared, refused for a missing secret and
/// removed with the secret.
pub async fn replication_is_recorded_with_the_secret(store: Arc<dyn Store>) {
    let s = scope(1);
    let rec = secret(&s, "r", 1);
    create(&store, &rec).await.expect("create");
    assert_eq!(store.get_replication(rec.id).await.expect("read"), None);
    for info in ["one", "two"] {
        store
            .write_secret(SecretWrite::SetReplication {
                id: rec.id,
                info: Some(info.into()),
            })
            .await
            .expect("set");
        assert_eq!(
            store
                .get_replication(rec.id)
                .await
                .expect("read")
                .as_deref(),
            Some(info)
        );
    }
    store
        .write_secret(SecretWrite::SetReplication {
            id: rec.id,
            info: None,
        })
        .await
        .expect("clear");
    assert_eq!(store.get_replication(rec.id).await.expect("read"), None);
    let missing = store
        .write_secret(SecretWrite::SetReplication {
            id: Uuid::new_v4(),
            info: Some("x".into()),
        })
        .await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    store
        .write_secret(SecretWrite::SetReplication {
            id: rec.id,
            info: Some("again".into()),
        })
        .await
        .expect("set");
    delete_current(&store, &s, "r").await;
    assert_eq!(store.get_replication(rec.id).await.expect("read"), None);
}

/// Creates `rec` unless its scope holds `max` secrets already.
async fn create_within(store: &Arc<dyn Store>, rec: &SecretRecord, max: Option<u64>) -> Result<()> {
    store
        .write_secret(SecretWrite::Create {
            record: rec.clone(),
            values: vec![("v1".into(), sealed(1))],
            max_secrets: max,
        })
        .await
}

/// A create with `max_secrets` is refused (`LimitExceeded`, nothing written) once its scope
/// holds that many secrets, pending deletion included; other scopes and creates without a
/// quota are not counted against it.
pub async fn creates_count_against_a_quota(store: Arc<dyn Store>) {
    let (s, other) = (scope(1), scope(2));
    for name in ["q1", "q2"] {
        create_within(&store, &secret(&s, name, 10), Some(2))
            .await
            .expect("room for two");
    }
    let over = create_within(&store, &secret(&s, "q3", 10), Some(2)).await;
    assert!(
        matches!(&over, Err(Error::LimitExceeded { what }) if what.contains('2')),
        "{over:?}"
    );
    assert!(
        get(&store, &s, "q3").await.is_none(),
        "a refused create left a row"
    );
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 2);
    // Another scope has its own count; a create without a quota is not limited.
    create_within(&store, &secret(&other, "q1", 10), Some(2))
        .await
        .expect("another scope");
    create_within(&store, &secret(&s, "q3", 10), None)
        .await
        .expect("no quota");
    // A secret waiting for deletion still holds its place; one deleted frees it.
    let mut pending = must_get(&store, &s, "q1").await;
    pending.state = SecretState::PendingDelete {
        purge_at: Timestamp(1_000_000),
    };
    update(&store, &pending, vec![], vec![])
        .await
        .expect("schedule deletion");
    let over = create_within(&store, &secret(&s, "q4", 10), Some(3)).await;
    assert!(matches!(over, Err(Error::LimitExceeded { .. })), "{over:?}");
    delete_current(&store, &s, "q2").await;
    create_within(&store, &secret(&s, "q4", 10), Some(3))
        .await
        .expect("a deleted secret's place");
}

/// Creates racing for the last place under a quota: exactly one is written, the rest get
/// `LimitExceeded` (a store may also answer `Conflict`, asking for the same write again).
pub async fn racing_creates_for_the_last_place(store: Arc<dyn Store>) {
    let s = scope(1);
    for i in 0..3 {
        create_within(&store, &secret(&s, &format!("held-{i}"), 10), Some(4))
            .await
            .expect("below the quota");
    }
    let mut tasks = vec![];
    for i in 0..8 {
        let store = store.clone();
        let rec = secret(&s, &format!("racer-{i}"), 10);
        tasks.push(tokio::spawn(async move {
            loop {
                match create_within(&store, &rec, Some(4)).await {
                    Err(Error::Conflict) => continue,
                    other => return other,
                }
            }
        }));
    }
    let (mut won, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => won += 1,
            Err(Error::LimitExceeded { .. }) => refused += 1,
            Err(e) => panic!("a racing create failed with {e:?}"),
        }
    }
    assert_eq!((won, refused), (1, 7));
    assert_eq!(total(&store, &s, SecretFilter::default()).await, 4);
}

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

/// Every page of a walk, from the start to its end, and how many requests it took.
async fn walk_all(
    store: &Arc<dyn Store>,
    s: &Scope,
    f: &SecretFilter,
    prefix: Option<&str>,
    limit: u32,
    scan_limit: u32,
) -> (Vec<String>, usize, bool) {
    let mut walk = NameWalk {
        prefix: prefix.map(str::to_string),
        after: None,
        limit,
        scan_limit,
    };
    let (mut all, mut requests, mut ever_stopped) = (vec![], 0, false);
    loop {
        requests += 1;
        assert!(requests < 1000, "the walk does not end");
        let page = store.list_secrets_by_name(s, f, &walk).await.expect("walk");
        assert!(
            page.items.len() <= limit as usize,
            "a page is over its limit"
        );
        for r in &page.items {
            assert_eq!(&r.scope, s, "a walk left its scope");
            assert!(r.versions.is_empty(), "a walk result carries versions");
        }
        ever_stopped |= page.stopped;
        all.extend(page.items.into_iter().map(|r| r.name));
        match page.resume_after {
            Some(after) => {
                assert!(
                    walk.after.as_ref().is_none_or(|a| *a < after),
                    "the walk went backwards"
                );
                walk.after = Some(after);
            }
            None => return (all, requests, ever_stopped),
        }
    }
}

/// A walk in name order resumes after the last name it gave: every secret of the scope once,
/// in byte order, in pages of the limit; a prefix is a range; filters hold; a walk whose
/// filter lets few through stops at its scan limit and says where to resume.
pub async fn name_walks_page_by_resume_point(store: Arc<dyn Store>) {
    let s = scope(11);
    let mut expected = vec![];
    for i in 0..23 {
        // Created in an order unlike the names', so that the order must come from names.
        let name = format!("app/{:02}", (i * 7) % 23);
        let mut rec = secret(&s, &name, 1_000 - i);
        if i % 5 == 0 {
            rec.tags = vec![tag("team", "blue")];
        }
        if i % 4 == 0 {
            rec.state = SecretState::Disabled;
        }
        create(&store, &rec).await.expect("create");
        expected.push(name);
    }
    // Names that sort around the prefix and non-ASCII names (byte order, not a locale's).
    for name in [
        "ap",
        "app0",
        "apq",
        "Zeta",
        "zeta",
        "\u{e9}t\u{e9}",
        "app\u{10FFFF}",
    ] {
        create(&store, &secret(&s, name, 5)).await.expect("create");
        expected.push(name.to_string());
    }
    // Twins in other scopes never show.
    create(&store, &secret(&scope(12), "app/00x", 1))
        .await
        .expect("create");
    let elsewhere = Scope {
        account: AccountId(11),
        region: "elsewhere".into(),
    };
    create(&store, &secret(&elsewhere, "app/00y", 1))
        .await
        .expect("create");
    expected.sort();
    let none = SecretFilter::default();
    let (all, requests, stopped) = walk_all(&store, &s, &none, None, 4, 100).await;
    assert_eq!(all, expected);
    assert_eq!(requests, expected.len().div_ceil(4));
    assert!(!stopped);

    let (app, _, _) = walk_all(&store, &s, &none, Some("app/"), 5, 100).await;
    let want: Vec<_> = expected
        .iter()
        .filter(|n| n.starts_with("app/"))
        .cloned()
        .collect();
    assert_eq!(app.len(), 23);
    assert_eq!(app, want);
    let (app, _, _) = walk_all(&store, &s, &none, Some("app"), 50, 100).await;
    let want: Vec<_> = expected
        .iter()
        .filter(|n| n.starts_with("app"))
        .cloned()
        .collect();
    assert_eq!(app, want, "the prefix range includes the last code point");
    let (nothing, _, _) = walk_all(&store, &s, &none, Some("nope"), 5, 100).await;
    assert!(nothing.is_empty());

    // Filters: tag, state, substring; with a scan limit larger than the scope, one request.
    let blue = SecretFilter {
        tags: vec![TagCondition {
            key: "team".into(),
            values: vec!["blue".into()],
        }],
        ..Default::default()
    };
    let (got, requests, stopped) = walk_all(&store, &s, &blue, None, 50, 1000).await;
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..23)
            .filter(|i| i % 5 == 0)
            .map(|i| format!("app/{:02}", (i * 7) % 23))
            .collect();
        v.sort();
        v
    };
    assert_eq!(got, want);
    assert_eq!(requests, 1);
    assert!(!stopped);
    // The same walk with a scan limit of 3: more requests, each examining at most 3 secrets,
    // the same result.
    let (got, requests, stopped) = walk_all(&store, &s, &blue, None, 50, 3).await;
    assert_eq!(got, want);
    assert!(stopped, "a walk over its scan limit says it stopped");
    assert!(requests >= expected.len() / 3, "{requests} requests");
    let disabled = SecretFilter {
        disabled: Some(true),
        ..Default::default()
    };
    let (got, _, _) = walk_all(&store, &s, &disabled, Some("app/"), 2, 4).await;
    let mut want: Vec<String> = (0..23)
        .filter(|i| i % 4 == 0)
        .map(|i| format!("app/{:02}", (i * 7) % 23))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let contains = SecretFilter {
        name_contains: Some("/1".into()),
        ..Default::default()
    };
    let (got, _, _) = walk_all(&store, &s, &contains, None, 3, 7).await;
    let want: Vec<String> = (10..20).map(|i| format!("app/{i}")).collect();
    assert_eq!(got, want);

    // A resume point that is no name (typed by hand) is only a position.
    let page = store
        .list_secrets_by_name(
            &s,
            &none,
            &NameWalk {
                prefix: None,
                after: Some("app/10a".into()),
                limit: 2,
                scan_limit: 10,
            },
        )
        .await
        .expect("walk");
    let got: Vec<_> = page.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(got, vec!["app/11", "app/12"]);
    assert_eq!(page.resume_after.as_deref(), Some("app/12"));
    // A zero limit reads nothing.
    let page = store
        .list_secrets_by_name(
            &s,
            &none,
            &NameWalk {
                limit: 0,
                ..Default::default()
            },
        )
        .await
        .expect("walk");
    assert!(page.items.is_empty());
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

/// The counts `/metrics` shows: secrets by state over every account and region.
pub async fn inventory_counts_by_state(store: Arc<dyn Store>) {
    let before = store.inventory().await.expect("inventory");
    let states = [
        SecretState::Enabled,
        SecretState::Enabled,
        SecretState::Disabled,
        SecretState::PendingDelete {
            purge_at: Timestamp(500),
        },
    ];
    for (i, state) in states.into_iter().enumerate() {
        let mut rec = secret(&scope(20 + i as u64 % 2), &format!("inv-{i}"), i as i64);
        rec.state = state;
        create(&store, &rec).await.expect("create");
    }
    let after = store.inventory().await.expect("inventory");
    let count = |inv: &coffer_core::store::Inventory, state: &str| {
        inv.secrets_by_state
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(count(&after, "enabled") - count(&before, "enabled"), 2);
    let total = |inv: &coffer_core::store::Inventory| -> u64 {
        inv.secrets_by_state.iter().map(|(_, n)| n).sum()
    };
    assert_eq!(total(&after) - total(&before), 4);
    // Three states, each named once.
    let named: std::collections::BTreeSet<_> = after
        .secrets_by_state
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert_eq!(named.len(), after.secrets_by_state.len());
    assert!(named.len() >= 3, "{:?}", after.secrets_by_state);
    assert_eq!(after.rotation_tasks_waiting, before.rotation_tasks_waiting);
}
