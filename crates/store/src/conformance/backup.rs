//! The backup area: an export is one snapshot of everything, in backup order; an import into
//! an empty store gives back the same store; an import refuses a store that holds anything,
//! and writes nothing unless it writes everything.
//!
//! These checks take two fresh stores (the one exported from and the one imported into), so
//! they are [`PairCheck`]s; [`run_all`](super::run_all) runs them with two stores from its
//! factory. A store's own tests can also hand them two different kinds of store.

use std::sync::Arc;

use coffer_core::database::{Grant, GrantLevel};
use coffer_core::store::{
    BackupCounts, BackupItem, BackupKind, ExportSink, ImportSource, SecretWrite, SnapshotInfo,
};
use coffer_core::*;
use uuid::Uuid;

use super::fixtures::{
    access_key, create, must_get, plain_key, scope, sealed, secret, tag, version,
};
use super::CheckFuture;

/// One check of the backup contract, on two fresh stores.
pub type PairCheck = fn(Arc<dyn Store>, Arc<dyn Store>) -> CheckFuture;

pub const CHECKS: &[(&str, PairCheck)] = &[
    ("backup: an import gives back the store exported", |a, b| {
        Box::pin(round_trip(a, b))
    }),
    ("backup: an export is one snapshot", |a, b| {
        Box::pin(export_is_one_snapshot(a, b))
    }),
    (
        "backup: an import refuses a store that holds anything",
        |a, b| Box::pin(import_refuses_a_store_in_use(a, b)),
    ),
    ("backup: an import is all or nothing", |a, b| {
        Box::pin(import_is_all_or_nothing(a, b))
    }),
    (
        "backup: an empty store exports and imports nothing",
        |a, b| Box::pin(empty_store(a, b)),
    ),
];

/// Keeps what an export hands out.
#[derive(Default)]
pub struct Collected {
    pub info: Option<SnapshotInfo>,
    pub items: Vec<BackupItem>,
}

#[async_trait::async_trait]
impl ExportSink for Collected {
    async fn begin(&mut self, info: &SnapshotInfo) -> Result<()> {
        assert!(self.info.is_none(), "begin twice");
        self.info = Some(info.clone());
        Ok(())
    }
    async fn item(&mut self, item: BackupItem) -> Result<()> {
        assert!(self.info.is_some(), "an item before begin");
        self.items.push(item);
        Ok(())
    }
}

/// Yields the items it holds, then fails instead of ending when `fail_at_end` is set.
pub struct Replay {
    pub items: std::vec::IntoIter<BackupItem>,
    pub fail_at_end: bool,
}

impl Replay {
    pub fn new(items: Vec<BackupItem>) -> Self {
        Self {
            items: items.into_iter(),
            fail_at_end: false,
        }
    }
}

#[async_trait::async_trait]
impl ImportSource for Replay {
    async fn next(&mut self) -> Result<Option<BackupItem>> {
        match self.items.next() {
            Some(item) => Ok(Some(item)),
            None if self.fail_at_end => Err(Error::internal("the source broke")),
            None => Ok(None),
        }
    }
}

/// Everything `store` holds, as an export hands it out.
pub async fn export_all(store: &Arc<dyn Store>) -> Collected {
    let mut sink = Collected::default();
    let counts = store.export(&mut sink).await.expect("export");
    let info = sink.info.as_ref().expect("the export began");
    assert_eq!(
        info.counts, counts,
        "what begin announced is what the export returned"
    );
    let mut added = BackupCounts::default();
    for item in &sink.items {
        added.add(item);
    }
    assert_eq!(added, counts, "the items add up to the snapshot's counts");
    let kinds: Vec<BackupKind> = sink.items.iter().map(BackupItem::kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "items come in backup order");
    sink
}

const T: i64 = 1_700_000_000_000;

/// Fills a store with every kind of row, in every state the model has, through the contract.
pub async fn fill(store: &Arc<dyn Store>) {
    let (s, s2) = (scope(1), scope(2));
    let west = Scope {
        account: AccountId(1),
        region: "west".into(),
    };
    for (id, name, operator) in [(1, "operator", true), (2, "tenant", false)] {
        store
            .create_account(&Account {
                id: AccountId(id),
                name: name.into(),
                operator,
                created_at: Timestamp(T + id as i64),
                account_number: None,
            })
            .await
            .expect("account");
    }
    let mut admin = access_key("AK-admin", 1, T + 10);
    admin.admin = true;
    let mut off = access_key("AK-off", 2, T + 12);
    off.enabled = false;
    off.sealed_secret = vec![1, 2, 3, 250];
    for k in [&admin, &access_key("AK-app", 1, T + 11), &off] {
        store.create_access_key(k).await.expect("access key");
    }
    for (account, name) in [(1, "read-only"), (1, "deny-prod"), (2, "tenant-all")] {
        store
            .put_policy(&PolicyRecord {
                account: AccountId(account),
                name: name.into(),
                document: format!(r#"{{"Version":"1","Statement":[],"Name":"{name}"}}"#),
                created_at: Timestamp(T + 20),
                updated_at: Timestamp(T + 21),
            })
            .await
            .expect("policy");
    }
    for (key, policy) in [
        ("AK-app", "read-only"),
        ("AK-app", "deny-prod"),
        ("AK-off", "tenant-all"),
    ] {
        store.attach_policy(key, policy).await.expect("attach");
    }
    for (id, sc) in [
        ("0123456789abcdef0123456789abcdef", &s),
        ("fedcba9876543210fedcba9876543210", &west),
    ] {
        store
            .create_project(&Project {
                id: id.into(),
                scope: sc.clone(),
            })
            .await
            .expect("project");
    }
    // Keys: a default key, one with two versions, aliases and rotation on, one disabled and
    // one pending deletion; ids chosen so that id order is not creation order.
    let mut default = plain_key(&s, "k", T + 30, &[]);
    default.is_default = true;
    let mut rotated = plain_key(&s, "k-zz-rotated", T + 31, &["alias/b", "alias/a"]);
    rotated.versions.push(KeyVersion {
        id: "v2".into(),
        created_at: Timestamp(T + 40),
        wrapped_material: vec![42; 40],
    });
    rotated.primary_version = "v2".into();
    rotated.rotation = KeyRotation {
        enabled: true,
        interval_secs: 86_400,
        next_at: Some(Timestamp(T + 86_400_000)),
    };
    let mut disabled = plain_key(&s, "k-aa-disabled", T + 32, &[]);
    disabled.state = KeyState::Disabled;
    let mut doomed = plain_key(&s2, "k-doomed", T + 33, &["alias/bye"]);
    doomed.state = KeyState::PendingDeletion {
        delete_at: Timestamp(T + 7 * 86_400_000),
    };
    for k in [&default, &rotated, &disabled, &doomed] {
        store.create_key(k).await.expect("key");
    }
    let rule = |sc: &Scope, name: &str, at: i64| EventRule {
        id: Uuid::new_v4(),
        scope: sc.clone(),
        name: name.into(),
        events: vec![SecretEvent::Rotated, SecretEvent::VersionExpired],
        enabled: at % 2 == 0,
        target: NotifyTarget {
            kind: "SMN".into(),
            id: format!("urn:smn:{name}"),
            name: format!("topic {name}"),
        },
        created_at: Timestamp(at),
        updated_at: Timestamp(at + 1),
    };
    for r in [
        rule(&s, "zeta", T + 50),
        rule(&s, "alpha", T + 51),
        rule(&s2, "ops", T + 52),
    ] {
        store.create_event_rule(&r).await.expect("event rule");
    }
    let instance = DbInstance {
        id: "db-1".into(),
        scope: s.clone(),
        engine: DbEngine::MariaDb,
        host: "db.internal".into(),
        port: 3306,
        admin_user: "root".into(),
        admin_password: sealed(77),
        created_at: Timestamp(T + 60),
        tls: TlsMode::VerifyFull,
        ca_pem: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
        allow_cleartext_password: true,
        allowed_privileges: vec!["SELECT".into(), "INSERT".into()],
    };
    store.create_db_instance(&instance).await.expect("instance");

    // A secret with every part: three versions (one binary, one expiring), built-in and
    // custom stages, tags in a chosen order, a subscription, config, policy and rotation.
    let mut full = secret(&s, "app/full", T + 100);
    full.description = "every part".into();
    full.key_id = "k-zz-rotated".into();
    full.tags = vec![tag("team", "core"), tag("env", "prod"), tag("a", "")];
    full.subscriptions = vec!["alpha".into()];
    full.extended_config = Some(r#"{"SecretSubType":"Generic"}"#.into());
    full.policy = Some(r#"{"Statement":[]}"#.into());
    full.rotation = RotationPolicy {
        enabled: true,
        interval_secs: Some(3600),
        next: Some(Timestamp(T + 3_600_000)),
        last: Some(Timestamp(T)),
        last_error: Some("the last try failed".into()),
        failures: 2,
    };
    full.versions = vec![
        version("v1", T + 100, &[Stage::Previous]),
        version(
            "v2",
            T + 101,
            &[Stage::Current, Stage::Custom("blue".into())],
        ),
        version("v3", T + 102, &[Stage::Pending]),
    ];
    full.versions[1].kind = ValueKind::Binary;
    full.versions[2].expires_at = Some(Timestamp(T + 999));
    full.revision = 7;
    full.updated_at = Timestamp(T + 150);
    create(store, &full).await.expect("full secret");
    let mut deleted = secret(&s, "app/deleted", T + 110);
    deleted.state = SecretState::PendingDelete {
        purge_at: Timestamp(T + 30 * 86_400_000),
    };
    create(store, &deleted).await.expect("deleted secret");
    let mut off = secret(&s2, "tenant/off", T + 120);
    off.state = SecretState::Disabled;
    off.subscriptions = vec!["ops".into()];
    create(store, &off).await.expect("disabled secret");
    // A managed secret with a rotation under way (its pending version written with the task)
    // and one that succeeded.
    let mut managed = secret(&s, "db/app", T + 130);
    managed.kind = SecretKind::Database {
        engine: DbEngine::MariaDb,
        instance: "db-1".into(),
        sub_type: DbSubType::DoubleUsers,
        format: CredentialFormat::Tencent,
    };
    create(store, &managed).await.expect("managed secret");
    let done = RotationTask {
        id: 9_000_000_001,
        scope: s.clone(),
        secret_id: managed.id,
        kind: TaskKind::Provision {
            hosts: vec!["%".into(), "10.0.0.%".into()],
            grants: vec![Grant {
                level: GrantLevel::Database("app".into()),
                privileges: vec!["SELECT".into()],
            }],
        },
        version_id: "v1".into(),
        step: TaskStep::Finish,
        status: TaskStatus::Succeeded,
        attempts: 0,
        applied: true,
        last_error: None,
        next_attempt: Timestamp(T + 130),
        created_at: Timestamp(T + 130),
        updated_at: Timestamp(T + 131),
    };
    store.write_task(&done, None).await.expect("finished task");
    let mut pending = must_get(store, &s, "db/app").await;
    pending
        .versions
        .push(version("v2", T + 140, &[Stage::Pending]));
    let running = RotationTask {
        id: 17,
        kind: TaskKind::Rotate,
        version_id: "v2".into(),
        step: TaskStep::Test,
        status: TaskStatus::Running,
        attempts: 3,
        last_error: Some("login refused".into()),
        next_attempt: Timestamp(T + 200),
        created_at: Timestamp(T + 140),
        updated_at: Timestamp(T + 141),
        ..done.clone()
    };
    store
        .write_task(
            &running,
            Some(SecretWrite::Update {
                record: pending,
                new_values: vec![("v2".into(), sealed(33))],
                removed_versions: vec![],
            }),
        )
        .await
        .expect("running task");
}

/// Export A, import into B, export B: the same items in the same order, and the contract's
/// reads answer the same on both.
pub async fn round_trip(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    fill(&a).await;
    // A replication record travels with its secret.
    let replicated = must_get(&a, &scope(1), "app/full").await.id;
    a.write_secret(SecretWrite::SetReplication {
        id: replicated,
        info: Some(r#"{"role":"Primary","replicas":[]}"#.into()),
    })
    .await
    .expect("replication");
    let out = export_all(&a).await;
    let counts = out.info.as_ref().expect("began").counts;
    assert_eq!(counts.accounts, 2);
    assert_eq!(counts.access_keys, 3);
    assert_eq!(counts.policies, 3);
    assert_eq!(counts.attachments, 3);
    assert_eq!(counts.projects, 2);
    assert_eq!(
        (counts.keys, counts.key_versions, counts.key_aliases),
        (4, 5, 3)
    );
    assert_eq!(counts.event_rules, 3);
    assert_eq!(counts.db_instances, 1);
    assert_eq!((counts.secrets, counts.versions, counts.stages), (4, 7, 8));
    assert_eq!((counts.tags, counts.subscriptions), (6, 2));
    assert_eq!(counts.rotation_tasks, 2);
    assert_eq!(a.backup_counts().await.expect("counts"), counts);

    let written = b
        .import(&mut Replay::new(out.items.clone()))
        .await
        .expect("import");
    assert_eq!(written, counts);
    assert_eq!(b.backup_counts().await.expect("counts"), counts);
    let back = export_all(&b).await;
    assert_eq!(back.items.len(), out.items.len());
    for (x, y) in out.items.iter().zip(&back.items) {
        assert_eq!(x, y, "an item changed on its way through a backup");
    }

    assert_eq!(
        b.get_replication(replicated).await.expect("read"),
        a.get_replication(replicated).await.expect("read")
    );
    assert!(b.get_replication(replicated).await.expect("read").is_some());

    // The contract's own reads, which is what the core sees.
    let s = scope(1);
    for store in [&a, &b] {
        let full = must_get(store, &s, "app/full").await;
        assert_eq!(
            full.revision, 7,
            "revisions are kept, so writers' checks go on"
        );
        assert_eq!(
            store.read_value(full.id, "v2").await.expect("value"),
            Some(sealed(2))
        );
    }
    assert_eq!(
        a.get_secret(&s, "db/app").await.expect("get"),
        b.get_secret(&s, "db/app").await.expect("get")
    );
    let keys = |st: Arc<dyn Store>| async move {
        st.list_keys(
            &s_of(1),
            PageRequest {
                offset: 0,
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .expect("list keys")
        .items
        .into_iter()
        .map(|k| k.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(keys(a.clone()).await, keys(b.clone()).await);
    assert_eq!(
        keys(b.clone()).await,
        ["k", "k-zz-rotated", "k-aa-disabled"],
        "keys keep their creation order"
    );
    assert_eq!(
        b.get_key_by_alias(&s, "alias/a")
            .await
            .expect("alias")
            .map(|k| k.id),
        Some("k-zz-rotated".into())
    );
    assert_eq!(
        b.get_default_key(&s).await.expect("default").map(|k| k.id),
        Some("k".into())
    );
    let rules = |st: Arc<dyn Store>| async move {
        st.list_event_rules(&s_of(1), None, 10)
            .await
            .expect("rules")
            .into_iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rules(b.clone()).await,
        ["zeta", "alpha"],
        "rules keep their creation order"
    );
    let names = |v: Vec<PolicyRecord>| v.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(b.key_policies("AK-app").await.expect("policies")),
        ["deny-prod", "read-only"]
    );
    let managed = must_get(&b, &s, "db/app").await;
    let tasks = b.secret_tasks(managed.id, 10).await.expect("tasks");
    assert_eq!(
        tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [17, 9_000_000_001],
        "tasks newest first"
    );
    assert_eq!(
        b.due_tasks(Timestamp(T + 200), 10)
            .await
            .expect("due")
            .len(),
        1,
        "the running task is still due where it was"
    );
    assert_eq!(
        b.get_project("fedcba9876543210fedcba9876543210")
            .await
            .expect("project")
            .map(|p| p.scope.region),
        Some("west".into())
    );
    // The secret counts of each scope were rebuilt: lists total what they hold.
    let total = b
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
        .expect("list")
        .total;
    assert_eq!(total, 3);
    // And the imported store keeps working as a store: a write at the kept revision.
    let mut full = must_get(&b, &s, "app/full").await;
    full.description = "changed after the restore".into();
    b.write_secret(SecretWrite::Update {
        record: full,
        new_values: vec![],
        removed_versions: vec![],
    })
    .await
    .expect("update after import");
}

fn s_of(n: u64) -> Scope {
    scope(n)
}

/// Writes made while an export runs (here by its sink, after the snapshot began) are not in
/// it, and what it hands out adds up to what it announced.
pub async fn export_is_one_snapshot(a: Arc<dyn Store>, _b: Arc<dyn Store>) {
    fill(&a).await;
    let before = a.backup_counts().await.expect("counts");

    struct WritesWhileReading {
        store: Arc<dyn Store>,
        inner: Collected,
        wrote: bool,
    }
    #[async_trait::async_trait]
    impl ExportSink for WritesWhileReading {
        async fn begin(&mut self, info: &SnapshotInfo) -> Result<()> {
            self.inner.begin(info).await
        }
        async fn item(&mut self, item: BackupItem) -> Result<()> {
            if !self.wrote {
                self.wrote = true;
                let s = scope(1);
                for i in 0..20 {
                    create(&self.store, &secret(&s, &format!("late/{i}"), T + 1000 + i))
                        .await
                        .expect("create during export");
                }
                let gone = must_get(&self.store, &s, "app/deleted").await;
                self.store
                    .write_secret(SecretWrite::Delete {
                        id: gone.id,
                        revision: gone.revision,
                    })
                    .await
                    .expect("delete during export");
                self.store
                    .create_account(&Account {
                        id: AccountId(99),
                        name: "late".into(),
                        operator: false,
                        created_at: Timestamp(T),
                        account_number: None,
                    })
                    .await
                    .expect("account during export");
            }
            self.inner.item(item).await
        }
    }
    let mut sink = WritesWhileReading {
        store: a.clone(),
        inner: Collected::default(),
        wrote: false,
    };
    let counts = a.export(&mut sink).await.expect("export");
    assert!(sink.wrote);
    assert_eq!(
        counts, before,
        "the snapshot is the store as the export began"
    );
    let names: Vec<&str> = sink
        .inner
        .items
        .iter()
        .filter_map(|i| match i {
            BackupItem::Secret { record, .. } => Some(record.name.as_str()),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"app/deleted"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("late/")), "{names:?}");
    assert!(!sink
        .inner
        .items
        .iter()
        .any(|i| matches!(i, BackupItem::Account(a) if a.id == AccountId(99))));
    // The next export sees them.
    let after = a.backup_counts().await.expect("counts");
    assert_eq!(after.secrets, before.secrets + 19);
    assert_eq!(after.accounts, before.accounts + 1);
    assert_eq!(export_all(&a).await.info.expect("began").counts, after);
}

/// A store that holds anything (one account) is refused, and left as it was.
pub async fn import_refuses_a_store_in_use(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    fill(&a).await;
    let items = export_all(&a).await.items;
    let held = Account {
        id: AccountId(5),
        name: "already here".into(),
        operator: true,
        created_at: Timestamp(T),
        account_number: None,
    };
    b.create_account(&held).await.expect("account");
    let r = b.import(&mut Replay::new(items.clone())).await;
    match r {
        Err(Error::InvalidState { reason, .. }) => {
            assert!(reason.contains("not empty"), "{reason}");
            assert!(reason.contains("1 accounts"), "{reason}");
        }
        other => panic!("an import into a store in use: {other:?}"),
    }
    let holds = b.backup_counts().await.expect("counts");
    assert_eq!(holds.items(), 1, "{}", holds.summary());
    assert_eq!(b.get_account(AccountId(5)).await.expect("get"), Some(held));
    // A itself, full, refuses its own backup too.
    let again = a.import(&mut Replay::new(items)).await;
    assert!(
        matches!(again, Err(Error::InvalidState { .. })),
        "{again:?}"
    );
}

/// A source that fails after every item, or an item the store refuses, leaves the store
/// empty: nothing is written unless everything is.
pub async fn import_is_all_or_nothing(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    fill(&a).await;
    let items = export_all(&a).await.items;
    let mut broken = Replay::new(items.clone());
    broken.fail_at_end = true;
    let r = b.import(&mut broken).await;
    assert!(r.is_err(), "a source that fails: {r:?}");
    assert!(
        b.backup_counts().await.expect("counts").is_empty(),
        "a failed import left rows behind"
    );
    // The last item refers to a secret the backup does not hold: refused at the very end.
    let mut bad = items.clone();
    if let Some(BackupItem::RotationTask(t)) = bad.last_mut() {
        t.secret_id = Uuid::new_v4();
    } else {
        panic!("the backup ends with a rotation task");
    }
    let r = b.import(&mut Replay::new(bad)).await;
    assert!(r.is_err(), "a task of an unknown secret: {r:?}");
    assert!(b.backup_counts().await.expect("counts").is_empty());
    // A duplicate secret name (the second copy under another id) is refused the same way.
    let mut dup = items.clone();
    let copy = dup
        .iter()
        .find_map(|i| match i {
            BackupItem::Secret { record, values, .. } => Some((record.clone(), values.clone())),
            _ => None,
        })
        .expect("a secret");
    let (mut record, values) = copy;
    record.id = Uuid::new_v4();
    let at = dup
        .iter()
        .position(|i| i.kind() == BackupKind::RotationTask)
        .expect("tasks");
    dup.insert(
        at,
        BackupItem::Secret {
            record,
            values,
            replication: None,
        },
    );
    let r = b.import(&mut Replay::new(dup)).await;
    assert!(
        matches!(r, Err(Error::AlreadyExists { .. })),
        "a name twice: {r:?}"
    );
    assert!(b.backup_counts().await.expect("counts").is_empty());
    // And after all that, the real thing goes in.
    b.import(&mut Replay::new(items)).await.expect("import");
}

pub async fn empty_store(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let out = export_all(&a).await;
    assert!(out.items.is_empty());
    let info = out.info.expect("began");
    assert!(info.counts.is_empty());
    assert!(
        info.store == "sqlite" || info.store == "postgres",
        "{}",
        info.store
    );
    assert!(info.schema > 0);
    let written = b.import(&mut Replay::new(vec![])).await.expect("import");
    assert!(written.is_empty());
    // Empty once more: an empty import leaves it open to a real one.
    fill(&a).await;
    let items = export_all(&a).await.items;
    b.import(&mut Replay::new(items)).await.expect("import");
}
