//! Cross-account replicas through the service, on SQLite and on PostgreSQL: a replica made in
//! one account waits for its primary's owner, takes the primary's versions (sealed under its
//! own key) when associated and every later write of the primary in the same batch, refuses
//! writes of its own, and keeps what it had once disassociated. The replication records are
//! JSON in the store's existing `secret_replication`, so this runs the batches of each store.

use std::sync::Arc;

use coffer_core::service::{
    CreateSecret, DeleteMode, NewKey, PutValue, Replication, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::*;
use coffer_store::testkit::pg::TestDatabase;
use coffer_store::{PgOptions, PgStore};

const PRIMARY_ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000011:secret:p-AbCdEf";

fn text(s: &str) -> SecretValue {
    SecretValue::Text(s.to_string().into())
}

fn scope(account: u64) -> Scope {
    Scope {
        account: AccountId(account),
        region: "default".into(),
    }
}

fn put(version: &str, value: &str) -> PutValue {
    PutValue {
        version_id: version.into(),
        value: text(value),
        stages: None,
        when_full: WhenFull::PruneUnstaged,
        max_versions: 100,
        max_stages: 12,
        expires_at: None,
        when_exists: WhenExists::Refuse,
    }
}

async fn read(svc: &Service, s: &Scope, name: &str, version: Option<&str>) -> Result<String> {
    let got = svc
        .get_value(
            s,
            name,
            &VersionSelector {
                version_id: version.map(str::to_string),
                stage: None,
            },
        )
        .await?;
    match got.value {
        SecretValue::Text(t) => Ok(t.to_string()),
        SecretValue::Binary(_) => panic!("a text value read back as binary"),
    }
}

async fn status(svc: &Service, id: uuid::Uuid) -> Option<String> {
    match svc.replication(id).await.expect("replication") {
        Some(Replication::CrossAccountReplica { status, .. }) => Some(status),
        _ => None,
    }
}

fn in_state(r: &Result<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(Error::InvalidState { .. }))
}

async fn round_trip(svc: &Service) {
    let (a, b) = (scope(11), scope(22));
    svc.create_secret(
        &a,
        CreateSecret {
            name: "p".into(),
            description: String::new(),
            kind: SecretKind::Generic,
            key: None,
            tags: vec![],
            version_id: "v1".into(),
            value: text("one"),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
        },
    )
    .await
    .expect("primary");
    let key = svc
        .create_key(
            &b,
            NewKey {
                description: "replica key".into(),
                aliases: vec![],
                rotation_interval_secs: None,
            },
        )
        .await
        .expect("key of the replica account");
    let replica = svc
        .create_cross_account_replica(
            &b,
            "r".into(),
            key.id.clone(),
            vec![],
            None,
            PRIMARY_ARN.into(),
        )
        .await
        .expect("replica");
    assert_eq!(status(svc, replica.id).await.as_deref(), Some("Pending"));
    assert!(replica.versions.is_empty());

    // A replica naming another primary is refused and nothing changes.
    let r = svc
        .associate_cross_account(&a, "p", &b, "r", "arn:r", &|_| false)
        .await;
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    assert!(svc.replication(replica.id).await.expect("read").is_some());
    assert_eq!(status(svc, replica.id).await.as_deref(), Some("Pending"));
    let primary = svc.describe(&a, "p").await.expect("primary");
    assert!(svc.replication(primary.id).await.expect("read").is_none());

    let names = |arn: &str| arn == PRIMARY_ARN;
    let (_, link) = svc
        .associate_cross_account(&a, "p", &b, "r", "arn:r", &names)
        .await
        .expect("associate");
    assert_eq!(link.status, "InSync");
    assert_eq!(
        read(svc, &b, "r", None).await.expect("replica value"),
        "one"
    );
    assert_eq!(
        svc.describe(&b, "r").await.expect("replica").key_id,
        key.id,
        "the replica keeps its own key"
    );

    // The primary's writes reach the replica; the replica's own are refused.
    svc.put_value(&a, "p", put("v2", "two")).await.expect("put");
    assert_eq!(read(svc, &b, "r", None).await.expect("v2"), "two");
    assert_eq!(read(svc, &b, "r", Some("v1")).await.expect("v1"), "one");
    assert!(in_state(&svc.put_value(&b, "r", put("v3", "mine")).await));
    assert!(in_state(
        &svc.delete(&b, "r", DeleteMode::Immediate, |_| Ok(())).await
    ));
    assert!(in_state(
        &svc.delete(&a, "p", DeleteMode::Immediate, |_| Ok(())).await
    ));
    assert!(in_state(&svc.promote_replica(&b, "r").await));

    // Disassociated: Detached, with what it had.
    let (_, gone) = svc
        .disassociate_cross_account(&a, "p", &|l| l.name == "r", "arn:r")
        .await
        .expect("disassociate");
    assert_eq!(gone.status, "Detached");
    assert_eq!(status(svc, replica.id).await.as_deref(), Some("Detached"));
    svc.put_value(&a, "p", put("v3", "three"))
        .await
        .expect("put");
    assert_eq!(read(svc, &b, "r", None).await.expect("still v2"), "two");
    assert!(matches!(
        svc.disassociate_cross_account(&a, "p", &|_| true, "arn:r")
            .await,
        Err(Error::InvalidParameter { .. })
    ));
    assert!(in_state(&svc.put_value(&b, "r", put("v4", "mine")).await));
    svc.promote_replica(&b, "r").await.expect("promote");
    assert!(svc.replication(replica.id).await.expect("read").is_none());
    svc.put_value(&b, "r", put("v4", "mine"))
        .await
        .expect("standalone");
    svc.delete(&a, "p", DeleteMode::Immediate, |_| Ok(()))
        .await
        .expect("primary deleted");
}

#[tokio::test]
async fn cross_account_replicas_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AK", "SK")
        .await
        .expect("service");
    round_trip(&svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_account_replicas_on_postgres() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let store = Arc::new(
        PgStore::open(&db.url(), PgOptions::default())
            .await
            .expect("open"),
    );
    let svc = Service::new(
        store,
        coffer_crypto::SecretKey::generate(),
        Arc::new(SystemClock),
        Limits::default(),
    );
    round_trip(&svc).await;
}
