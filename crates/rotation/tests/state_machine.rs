//! The rotation state machine end to end on the real databases: a service over a real SQLite
//! store, the real drivers (wrapped so a test can make a step fail) and a manual clock for
//! the scheduler. After every rotation, crash, failure and retry, the database password must
//! be one that a version of the secret holds.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coffer_core::database::{DbResult, Grant};
use coffer_core::service::{NewDatabaseSecret, NewDbInstance};
use coffer_core::*;
use coffer_rotation::Databases;
use common::*;
use zeroize::Zeroizing;

const T0: i64 = 1_800_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// The real driver, except that `set` steps fail as told, a given number of times, and so
/// do logins.
#[derive(Default)]
struct Faulty {
    set_failure: Mutex<Option<DbFailure>>,
    set_failures_left: AtomicUsize,
    login_failures_left: AtomicUsize,
}

impl Faulty {
    fn fail_sets(&self, failure: DbFailure, times: usize) {
        *self.set_failure.lock().unwrap() = Some(failure);
        self.set_failures_left.store(times, Ordering::SeqCst);
    }
    fn injected(&self) -> DbResult<()> {
        let left = self.set_failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.set_failures_left.store(left - 1, Ordering::SeqCst);
            if let Some(f) = self.set_failure.lock().unwrap().clone() {
                return Err(f);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DatabaseDriver for Faulty {
    async fn check_admin(&self, t: &DbTarget) -> DbResult<()> {
        Databases.check_admin(t).await
    }
    async fn account_exists(&self, t: &DbTarget, a: &str) -> DbResult<bool> {
        Databases.account_exists(t, a).await
    }
    async fn set_password(&self, t: &DbTarget, a: &str, p: &str) -> DbResult<()> {
        self.injected()?;
        Databases.set_password(t, a, p).await
    }
    async fn clone_account(&self, t: &DbTarget, m: &str, a: &str, p: &str) -> DbResult<()> {
        self.injected()?;
        Databases.clone_account(t, m, a, p).await
    }
    async fn create_account(
        &self,
        t: &DbTarget,
        a: &str,
        p: &str,
        h: &[String],
        g: &[Grant],
    ) -> DbResult<()> {
        self.injected()?;
        Databases.create_account(t, a, p, h, g).await
    }
    async fn login(&self, t: &DbTarget, a: &str, p: &str) -> DbResult<()> {
        let left = self.login_failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.login_failures_left.store(left - 1, Ordering::SeqCst);
            return Err(DbFailure::Refused("too many connections".into()));
        }
        Databases.login(t, a, p).await
    }
    fn check_grants(&self, e: DbEngine, g: &[Grant]) -> Result<(), String> {
        Databases.check_grants(e, g)
    }
}

struct World {
    service: Arc<Service>,
    store: Arc<coffer_store::SqliteStore>,
    clock: Arc<ManualClock>,
    driver: Arc<Faulty>,
    scope: Scope,
    root: coffer_crypto::SecretKey,
}

async fn open(
    dir: &Path,
    root: &coffer_crypto::SecretKey,
    clock: Arc<ManualClock>,
    driver: Arc<Faulty>,
) -> (Arc<Service>, Arc<coffer_store::SqliteStore>) {
    let store = Arc::new(
        coffer_store::SqliteStore::open(&dir.join("coffer.db"), Default::default()).unwrap(),
    );
    let root = root.clone();
    let service =
        Service::new(store.clone(), root, clock, Limits::default()).with_database_driver(driver);
    (Arc::new(service), store)
}

impl World {
    async fn new(dir: &Path) -> World {
        let root = coffer_crypto::SecretKey::generate();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let driver = Arc::new(Faulty::default());
        let (service, store) = open(dir, &root, clock.clone(), driver.clone()).await;
        let (account, _, _) = service.bootstrap(None, None).await.unwrap().unwrap();
        let scope = Scope {
            account,
            region: "default".into(),
        };
        for engine in [DbEngine::MariaDb, DbEngine::Postgres] {
            let t = target(engine);
            service
                .add_db_instance(
                    &scope,
                    NewDbInstance {
                        id: instance_id(engine).into(),
                        engine,
                        host: t.host,
                        port: t.port,
                        admin_user: t.admin_user,
                        admin_password: t.admin_password,
                        check: true,
                        tls: None,
                        ca_pem: None,
                        allow_cleartext_password: false,
                        allowed_privileges: None,
                    },
                )
                .await
                .unwrap();
        }
        World {
            service,
            store,
            clock,
            driver,
            scope,
            root,
        }
    }

    /// Stops this service as a crash would (nothing is finished or flushed beyond what was
    /// committed) and starts another over the same files.
    async fn restart(self, dir: &Path) -> World {
        self.store.close().await;
        let World {
            service,
            store,
            clock,
            driver,
            scope,
            root,
        } = self;
        drop(service);
        drop(store);
        let (service, store) = open(dir, &root, clock.clone(), driver.clone()).await;
        World {
            service,
            store,
            clock,
            driver,
            scope,
            root,
        }
    }

    async fn create(
        &self,
        engine: DbEngine,
        name: &str,
        sub: DbSubType,
        accounts: &[(&str, &str)],
    ) -> SecretRecord {
        self.service
            .create_database_secret(
                &self.scope,
                NewDatabaseSecret {
                    name: name.into(),
                    description: String::new(),
                    key: None,
                    tags: vec![],
                    version_id: "v1".into(),
                    extended_config: None,
                    policy: None,
                    subscriptions: vec![],
                    instance: instance_id(engine).into(),
                    sub_type: sub,
                    format: CredentialFormat::Alibaba,
                    accounts: accounts
                        .iter()
                        .map(|(a, p)| DbCredentials {
                            account: a.to_string(),
                            password: Zeroizing::new(p.to_string()),
                        })
                        .collect(),
                    rotation_interval: Some(6 * 3600),
                },
            )
            .await
            .unwrap()
    }

    /// A fresh application account (password `First-pw-1`) and a single-user secret over it
    /// with automatic rotation every 6 hours. Returns the account's name.
    async fn single(&self, engine: DbEngine, name: &str, prefix: &str) -> String {
        let app = format!("{prefix}_{}", suffix());
        create_app_account(engine, &app, "First-pw-1").await;
        self.create(engine, name, DbSubType::SingleUser, &[(&app, "First-pw-1")])
            .await;
        app
    }

    async fn creds(&self, name: &str, stage: Stage) -> Option<DbCredentials> {
        let sel = service_selector(stage);
        match self.service.get_value(&self.scope, name, &sel).await {
            Ok(read) => DbCredentials::decode(std::str::from_utf8(read.value.as_bytes()).unwrap()),
            Err(Error::NotFound { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// The invariant: the account's password on the database is one a version holds.
    async fn assert_database_matches_a_version(&self, engine: DbEngine, name: &str, account: &str) {
        let secret = self.service.describe(&self.scope, name).await.unwrap();
        let mut held = vec![];
        for v in &secret.versions {
            let sel = coffer_core::service::VersionSelector {
                version_id: Some(v.version_id.clone()),
                stage: None,
            };
            let read = self
                .service
                .get_value(&self.scope, name, &sel)
                .await
                .unwrap();
            let c =
                DbCredentials::decode(std::str::from_utf8(read.value.as_bytes()).unwrap()).unwrap();
            if c.account == account {
                held.push(c.password.to_string());
            }
        }
        let mut works = false;
        for p in &held {
            works |= can_log_in(engine, account, p).await;
        }
        assert!(
            works,
            "{engine:?}: no version of {name} holds the password of {account}"
        );
    }
}

fn service_selector(stage: Stage) -> coffer_core::service::VersionSelector {
    coffer_core::service::VersionSelector {
        version_id: None,
        stage: Some(stage),
    }
}

fn instance_id(engine: DbEngine) -> &'static str {
    match engine {
        DbEngine::Postgres => "pg-local",
        _ => "maria-local",
    }
}

const ENGINES: [DbEngine; 2] = [DbEngine::MariaDb, DbEngine::Postgres];

#[tokio::test]
async fn single_user_rotation_replaces_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    for engine in ENGINES {
        let app = format!("ct_su_{}", suffix());
        create_app_account(engine, &app, "First-pw-1").await;
        let name = format!("single-{engine:?}");
        w.create(
            engine,
            &name,
            DbSubType::SingleUser,
            &[(&app, "First-pw-1")],
        )
        .await;
        let task = w
            .service
            .rotate(&w.scope, &name, Some("v2".into()))
            .await
            .unwrap();
        assert_eq!(
            task.status,
            TaskStatus::Succeeded,
            "{engine:?}: {:?}",
            task.last_error
        );
        let current = w.creds(&name, Stage::Current).await.unwrap();
        assert_eq!(current.account, app);
        assert!(
            can_log_in(engine, &app, &current.password).await,
            "{engine:?}"
        );
        assert!(
            !can_log_in(engine, &app, "First-pw-1").await,
            "{engine:?}: old password still works"
        );
        let previous = w.creds(&name, Stage::Previous).await.unwrap();
        assert_eq!(previous.password.as_str(), "First-pw-1");
        assert!(w.creds(&name, Stage::Pending).await.is_none());
        let s = w.service.describe(&w.scope, &name).await.unwrap();
        assert_eq!(s.rotation.last, Some(Timestamp(T0)));
        assert_eq!(s.rotation.next, Some(Timestamp(T0 + 6 * HOUR_MS)));
        // The same VersionId again is the same rotation, not another one.
        let again = w
            .service
            .rotate(&w.scope, &name, Some("v2".into()))
            .await
            .unwrap();
        assert_eq!(again.id, task.id);
        assert_eq!(
            w.creds(&name, Stage::Current).await.unwrap().password,
            current.password
        );
        drop_account(engine, &app).await;
    }
}

#[tokio::test]
async fn double_users_alternate_and_the_previous_account_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    for engine in ENGINES {
        let app = format!("ct_du_{}", suffix());
        let clone = format!("{app}_clone");
        create_app_account(engine, &app, "First-pw-1").await;
        let name = format!("double-{engine:?}");
        w.create(
            engine,
            &name,
            DbSubType::DoubleUsers,
            &[(&app, "First-pw-1")],
        )
        .await;

        let t = w.service.rotate(&w.scope, &name, None).await.unwrap();
        assert_eq!(
            t.status,
            TaskStatus::Succeeded,
            "{engine:?}: {:?}",
            t.last_error
        );
        let cur = w.creds(&name, Stage::Current).await.unwrap();
        assert_eq!(
            cur.account, clone,
            "{engine:?}: the second account is created"
        );
        assert!(
            can_log_in(engine, &clone, &cur.password).await,
            "{engine:?}"
        );
        assert!(
            can_log_in(engine, &app, "First-pw-1").await,
            "{engine:?}: previous still works"
        );

        let t = w.service.rotate(&w.scope, &name, None).await.unwrap();
        assert_eq!(
            t.status,
            TaskStatus::Succeeded,
            "{engine:?}: {:?}",
            t.last_error
        );
        let cur2 = w.creds(&name, Stage::Current).await.unwrap();
        assert_eq!(cur2.account, app, "{engine:?}: back to the first account");
        assert!(can_log_in(engine, &app, &cur2.password).await);
        assert!(!can_log_in(engine, &app, "First-pw-1").await);
        assert!(
            can_log_in(engine, &clone, &cur.password).await,
            "{engine:?}: the clone keeps working until the next rotation"
        );
        let prev = w.creds(&name, Stage::Previous).await.unwrap();
        assert_eq!(prev.account, clone);
        drop_account(engine, &clone).await;
        drop_account(engine, &app).await;
    }
}

#[tokio::test]
async fn creation_checks_the_instance_and_every_account_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    let app = format!("ct_chk_{}", suffix());
    create_app_account(DbEngine::MariaDb, &app, "Right-pw-1").await;
    let mk = |instance: &str, account: &str, password: &str| NewDatabaseSecret {
        name: "checked".into(),
        description: String::new(),
        key: None,
        tags: vec![],
        version_id: "v1".into(),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
        instance: instance.into(),
        sub_type: DbSubType::SingleUser,
        format: CredentialFormat::Alibaba,
        accounts: vec![DbCredentials {
            account: account.into(),
            password: Zeroizing::new(password.into()),
        }],
        rotation_interval: None,
    };
    let err = w
        .service
        .create_database_secret(&w.scope, mk("no-such-db", &app, "Right-pw-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: coffer_core::error::Resource::DbInstance,
                ..
            }
        ),
        "{err:?}"
    );
    let err = w
        .service
        .create_database_secret(&w.scope, mk("maria-local", "ct_nobody", "x-Y-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database { reason, reachable: true, .. } if reason.contains("does not exist")),
        "{err:?}"
    );
    let err = w
        .service
        .create_database_secret(&w.scope, mk("maria-local", &app, "Wrong-pw-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database { reason, .. } if reason.contains("does not log in")),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("Wrong-pw-1"),
        "no password in errors: {err}"
    );
    // Nothing was created by the refusals.
    assert!(w.service.describe(&w.scope, "checked").await.is_err());
    // An instance that does not answer is refused when registered (unless told not to check).
    let err = w
        .service
        .add_db_instance(
            &w.scope,
            NewDbInstance {
                id: "closed".into(),
                engine: DbEngine::MariaDb,
                host: "127.0.0.1".into(),
                port: 1,
                admin_user: "root".into(),
                admin_password: Zeroizing::new("x".into()),
                check: true,
                tls: None,
                ca_pem: None,
                allow_cleartext_password: false,
                allowed_privileges: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Database {
                reachable: false,
                ..
            }
        ),
        "{err:?}"
    );
    // A used instance cannot be removed; values of a managed secret change only by rotation.
    w.create(
        DbEngine::MariaDb,
        "in-use",
        DbSubType::SingleUser,
        &[(&app, "Right-pw-1")],
    )
    .await;
    let err = w
        .service
        .remove_db_instance(&w.scope, "maria-local")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidState { .. }), "{err:?}");
    drop_account(DbEngine::MariaDb, &app).await;
}

#[tokio::test]
async fn a_refused_set_rolls_back_and_the_scheduler_retries_after_a_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    let engine = DbEngine::MariaDb;
    let app = w.single(engine, "refused", "ct_rb").await;

    w.driver
        .fail_sets(DbFailure::Refused("no privilege".into()), 1);
    w.clock.advance_millis(6 * HOUR_MS);
    let out = w.service.run_due_rotations(10).await.unwrap();
    let task = out[0].task.clone().unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(task.last_error.unwrap().contains("no privilege"));
    let s = w.service.describe(&w.scope, "refused").await.unwrap();
    assert_eq!(s.versions.len(), 1, "the pending version is gone");
    assert_eq!(s.rotation.failures, 1);
    assert!(s.rotation.last_error.is_some());
    assert_eq!(
        w.service.rotation_problem(&s).await.unwrap().as_deref(),
        s.rotation.last_error.as_deref()
    );
    assert!(
        can_log_in(engine, &app, "First-pw-1").await,
        "the current credentials keep working"
    );
    w.assert_database_matches_a_version(engine, "refused", &app)
        .await;

    // Not due again until the backoff (30 s after one failure) has passed.
    w.clock.advance_millis(29_000);
    assert!(w.service.run_due_rotations(10).await.unwrap().is_empty());
    w.clock.advance_millis(1_000);
    let out = w.service.run_due_rotations(10).await.unwrap();
    assert_eq!(out[0].task.as_ref().unwrap().status, TaskStatus::Succeeded);
    let s = w.service.describe(&w.scope, "refused").await.unwrap();
    assert_eq!(
        (s.rotation.failures, s.rotation.last_error.clone()),
        (0, None)
    );
    assert!(!can_log_in(engine, &app, "First-pw-1").await);
    w.assert_database_matches_a_version(engine, "refused", &app)
        .await;
    drop_account(engine, &app).await;
}

#[tokio::test]
async fn an_unreachable_database_leaves_the_task_to_retry_with_growing_waits() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    let engine = DbEngine::Postgres;
    let app = w.single(engine, "unreachable", "ct_un").await;

    w.driver
        .fail_sets(DbFailure::Unreachable("connection reset".into()), 2);
    let t = w
        .service
        .rotate(&w.scope, "unreachable", None)
        .await
        .unwrap();
    assert_eq!(
        (t.status, t.attempts, t.step),
        (TaskStatus::Running, 1, TaskStep::Set)
    );
    assert_eq!(t.next_attempt, Timestamp(T0 + 30_000));
    let s = w.service.describe(&w.scope, "unreachable").await.unwrap();
    assert!(w
        .service
        .rotation_problem(&s)
        .await
        .unwrap()
        .unwrap()
        .contains("connection reset"));
    // The pending version waits with the task; the database still has the current password.
    assert!(w.creds("unreachable", Stage::Pending).await.is_some());
    w.assert_database_matches_a_version(engine, "unreachable", &app)
        .await;

    assert!(
        w.service.run_due_rotations(10).await.unwrap().is_empty(),
        "not before its time"
    );
    w.clock.advance_millis(30_000);
    let out = w.service.run_due_rotations(10).await.unwrap();
    let t = out[0].task.clone().unwrap();
    assert_eq!((t.status, t.attempts), (TaskStatus::Running, 2));
    assert_eq!(
        t.next_attempt,
        Timestamp(T0 + 30_000 + 60_000),
        "the wait doubles"
    );
    w.clock.advance_millis(60_000);
    let out = w.service.run_due_rotations(10).await.unwrap();
    assert_eq!(out[0].task.as_ref().unwrap().status, TaskStatus::Succeeded);
    let cur = w.creds("unreachable", Stage::Current).await.unwrap();
    assert!(can_log_in(engine, &app, &cur.password).await);
    assert!(!can_log_in(engine, &app, "First-pw-1").await);
    drop_account(engine, &app).await;
}

/// A crash after each recorded step: the next server resumes the task and finishes it, and
/// at every point the database has a password that a version holds.
#[tokio::test]
async fn a_crash_after_any_step_resumes_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path()).await;
    for engine in ENGINES {
        for crash_after in [None, Some(TaskStep::Set), Some(TaskStep::Test)] {
            let app = format!("ct_cr_{}", suffix());
            create_app_account(engine, &app, "First-pw-1").await;
            let name = format!("crash-{engine:?}-{crash_after:?}");
            w.create(
                engine,
                &name,
                DbSubType::SingleUser,
                &[(&app, "First-pw-1")],
            )
            .await;
            // `create` is recorded.
            let mut task = w
                .service
                .start_rotation(&w.scope, &name, None)
                .await
                .unwrap();
            let pending = w.creds(&name, Stage::Pending).await.unwrap();
            // Then, step by step as the state machine runs them, up to the crash point.
            if crash_after.is_some() {
                Databases
                    .set_password(&target(engine), &app, &pending.password)
                    .await
                    .unwrap();
                task.step = TaskStep::Test;
                w.store.write_task(&task, None).await.unwrap();
            }
            if crash_after == Some(TaskStep::Test) {
                Databases
                    .login(&target(engine), &app, &pending.password)
                    .await
                    .unwrap();
                task.step = TaskStep::Finish;
                w.store.write_task(&task, None).await.unwrap();
            }
            w.assert_database_matches_a_version(engine, &name, &app)
                .await;
            w = w.restart(dir.path()).await;
            w.assert_database_matches_a_version(engine, &name, &app)
                .await;
            let out = w.service.run_due_rotations(10).await.unwrap();
            let done = out
                .iter()
                .find(|o| o.secret_name == name)
                .and_then(|o| o.task.clone())
                .unwrap();
            assert_eq!(
                done.status,
                TaskStatus::Succeeded,
                "{engine:?} {crash_after:?}: {:?}",
                done.last_error
            );
            let cur = w.creds(&name, Stage::Current).await.unwrap();
            assert_eq!(
                cur.password, pending.password,
                "the pending version became current"
            );
            assert!(can_log_in(engine, &app, &cur.password).await);
            assert!(!can_log_in(engine, &app, "First-pw-1").await);
            w.assert_database_matches_a_version(engine, &name, &app)
                .await;
            drop_account(engine, &app).await;
        }
    }
}

#[tokio::test]
async fn the_scheduler_rotates_when_the_interval_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    let engine = DbEngine::MariaDb;
    let app = w.single(engine, "scheduled", "ct_sch").await;
    assert!(w.service.run_due_rotations(10).await.unwrap().is_empty());
    w.clock.advance_millis(6 * HOUR_MS - 1);
    assert!(
        w.service.run_due_rotations(10).await.unwrap().is_empty(),
        "one millisecond early"
    );
    w.clock.advance_millis(1);
    let out = w.service.run_due_rotations(10).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].task.as_ref().unwrap().status, TaskStatus::Succeeded);
    let s = w.service.describe(&w.scope, "scheduled").await.unwrap();
    assert_eq!(s.rotation.next, Some(Timestamp(T0 + 12 * HOUR_MS)));
    assert!(w.service.run_due_rotations(10).await.unwrap().is_empty());
    // Turning automatic rotation off stops it.
    w.service
        .set_rotation_policy(&w.scope, "scheduled", false, None, None)
        .await
        .unwrap();
    w.clock.advance_millis(24 * HOUR_MS);
    assert!(w.service.run_due_rotations(10).await.unwrap().is_empty());
    drop_account(engine, &app).await;
}

/// Once the database has taken the new password, a later refusal must not roll back: the
/// pending version may be the database's password, so the task keeps it and retries.
#[tokio::test]
async fn after_the_password_was_set_a_refusal_retries_instead_of_rolling_back() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path()).await;
    let engine = DbEngine::MariaDb;
    let app = w.single(engine, "applied", "ct_ap").await;
    // Set works, the test login fails: retried later from Set.
    w.driver.login_failures_left.store(1, Ordering::SeqCst);
    let t = w.service.rotate(&w.scope, "applied", None).await.unwrap();
    assert_eq!(
        (t.status, t.step, t.applied),
        (TaskStatus::Running, TaskStep::Set, true)
    );
    let pending = w.creds("applied", Stage::Pending).await.unwrap();
    assert!(
        can_log_in(engine, &app, &pending.password).await,
        "the database took it"
    );
    // The retry's Set is refused: still no roll-back.
    w.driver
        .fail_sets(DbFailure::Refused("no privilege".into()), 1);
    w.clock.advance_millis(30_000);
    let out = w.service.run_due_rotations(10).await.unwrap();
    let t = out[0].task.clone().unwrap();
    assert_eq!(
        (t.status, t.attempts),
        (TaskStatus::Running, 2),
        "{:?}",
        t.last_error
    );
    assert!(
        w.creds("applied", Stage::Pending).await.is_some(),
        "the pending version stays"
    );
    w.assert_database_matches_a_version(engine, "applied", &app)
        .await;
    // Then it goes through.
    w.clock.advance_millis(60_000);
    let out = w.service.run_due_rotations(10).await.unwrap();
    assert_eq!(out[0].task.as_ref().unwrap().status, TaskStatus::Succeeded);
    let cur = w.creds("applied", Stage::Current).await.unwrap();
    assert_eq!(cur.password, pending.password);
    w.assert_database_matches_a_version(engine, "applied", &app)
        .await;
    drop_account(engine, &app).await;
}
