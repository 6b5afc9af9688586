//! Checks of [`RotationStore`]: database instances and the secrets that use them, rotation
//! tasks written with the version change they stand for, and what is due.

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::store::SecretWrite;
use coffer_core::*;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("database_instances", |s| Box::pin(database_instances(s))),
    ("database_instance_connection_settings", |s| {
        Box::pin(database_instance_connection_settings(s))
    }),
    ("rotation_tasks_and_schedule", |s| {
        Box::pin(rotation_tasks_and_schedule(s))
    }),
];

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
        tls: TlsMode::Disable,
        ca_pem: None,
        allow_cleartext_password: false,
        allowed_privileges: coffer_core::database::default_allowed_privileges(),
    }
}

/// How an instance is reached (TLS mode, CA, cleartext passwords) and what accounts may be
/// given there come back as they were registered, for each mode, and differ per instance.
pub async fn database_instance_connection_settings(store: Arc<dyn Store>) {
    let s = scope(1);
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let strict = DbInstance {
        tls: TlsMode::VerifyFull,
        ca_pem: Some(pem.into()),
        allow_cleartext_password: true,
        allowed_privileges: vec!["SELECT".into(), "GRANT OPTION".into(), "GLOBAL".into()],
        ..instance(&s, "tls-full")
    };
    let required = DbInstance {
        tls: TlsMode::Require,
        allowed_privileges: vec![],
        ..instance(&s, "tls-require")
    };
    let plain = instance(&s, "tls-off");
    for i in [&strict, &required, &plain] {
        store.create_db_instance(i).await.expect("create");
    }
    for i in [&strict, &required, &plain] {
        let back = store.get_db_instance(&s, &i.id).await.expect("get");
        assert_eq!(back.as_ref(), Some(i), "{}", i.id);
    }
    let listed = store.list_db_instances(&s).await.expect("list");
    assert_eq!(listed.len(), 3);
    for i in &listed {
        let want = [&strict, &required, &plain]
            .into_iter()
            .find(|w| w.id == i.id)
            .expect("one of ours");
        assert_eq!(i, want);
    }
    for i in [&strict, &required, &plain] {
        store.delete_db_instance(&s, &i.id).await.expect("delete");
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
    assert!(store
        .scope_tasks(&scope(2), 10)
        .await
        .expect("scope tasks")
        .is_empty());
    // Tasks go with their secret.
    delete_current(&store, &s, "app").await;
    assert_eq!(store.get_task(&s, 42).await.expect("get"), None);
}
