//! The drivers against the machine's real MariaDB and PostgreSQL: every statement coffer
//! sends to change a password, clone an account or create one, and the failures it must tell
//! apart (refused: nothing changed; unreachable: unknown).

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use coffer_core::database::{Grant, GrantLevel};
use coffer_core::{DatabaseDriver, DbEngine, DbFailure};
use coffer_rotation::Databases;
use common::*;

const ENGINES: [DbEngine; 2] = [DbEngine::MariaDb, DbEngine::Postgres];

#[tokio::test]
async fn the_admin_is_checked_and_a_wrong_password_or_port_is_told_apart() {
    for engine in ENGINES {
        let d = Databases;
        d.check_admin(&target(engine)).await.unwrap();
        // An application account may log in but not manage accounts.
        let app = format!("ct_admin_{}", suffix());
        create_app_account(engine, &app, "Start-pw-1").await;
        let mut weak = target(engine);
        weak.admin_user = app.clone();
        weak.admin_password = "Start-pw-1".to_string().into();
        match d.check_admin(&weak).await {
            Err(DbFailure::Refused(r)) => assert!(r.contains(&app), "{engine:?}: {r}"),
            other => panic!("{engine:?}: {other:?}"),
        }
        weak.admin_password = "wrong".to_string().into();
        assert!(
            matches!(d.check_admin(&weak).await, Err(DbFailure::Refused(_))),
            "{engine:?}: a wrong admin password is a refusal"
        );
        let mut nowhere = target(engine);
        nowhere.port = 1;
        assert!(
            matches!(
                d.check_admin(&nowhere).await,
                Err(DbFailure::Unreachable(_))
            ),
            "{engine:?}: a closed port is unreachable"
        );
        drop_account(engine, &app).await;
    }
}

#[tokio::test]
async fn a_new_password_logs_in_and_the_old_one_no_longer_does() {
    for engine in ENGINES {
        let d = Databases;
        let t = target(engine);
        let app = format!("ct_set_{}", suffix());
        create_app_account(engine, &app, "Old-pw-1").await;
        assert!(d.account_exists(&t, &app).await.unwrap());
        assert!(!d.account_exists(&t, "ct_nobody_here").await.unwrap());
        d.set_password(&t, &app, "New-pw-2!").await.unwrap();
        assert!(can_log_in(engine, &app, "New-pw-2!").await, "{engine:?}");
        assert!(!can_log_in(engine, &app, "Old-pw-1").await, "{engine:?}");
        d.login(&t, &app, "New-pw-2!").await.unwrap();
        assert!(matches!(
            d.login(&t, &app, "Old-pw-1").await,
            Err(DbFailure::Refused(_))
        ));
        // Setting the same password again is harmless (a resumed step does it).
        d.set_password(&t, &app, "New-pw-2!").await.unwrap();
        assert!(can_log_in(engine, &app, "New-pw-2!").await);
        match d.set_password(&t, "ct_nobody_here", "x-Y-1").await {
            Err(DbFailure::Refused(r)) => assert!(r.contains("ct_nobody_here"), "{r}"),
            other => panic!("{engine:?}: {other:?}"),
        }
        drop_account(engine, &app).await;
    }
}

#[tokio::test]
async fn a_clone_gets_the_privileges_of_its_model_and_its_own_password() {
    for engine in ENGINES {
        let d = Databases;
        let t = target(engine);
        let app = format!("ct_model_{}", suffix());
        let clone = format!("{app}_clone");
        create_app_account(engine, &app, "Model-pw-1").await;
        d.clone_account(&t, &app, &clone, "Clone-pw-1")
            .await
            .unwrap();
        assert!(can_log_in(engine, &clone, "Clone-pw-1").await, "{engine:?}");
        assert!(
            can_log_in(engine, &app, "Model-pw-1").await,
            "{engine:?}: model untouched"
        );
        match engine {
            DbEngine::Postgres => {
                pg_exec(&[format!(
                    "DO $$ BEGIN IF NOT pg_has_role('{clone}', '{app}', 'MEMBER') \
                     OR NOT has_database_privilege('{clone}', 'test', 'CONNECT') \
                     THEN RAISE EXCEPTION 'clone lacks the model''s privileges'; END IF; END $$"
                )])
                .await
            }
            _ => {
                let grants = maria_query(&format!("SHOW GRANTS FOR '{clone}'@'%'")).await;
                assert!(
                    grants.iter().any(|g| g.contains("SELECT ON `test`.*")),
                    "{grants:?}"
                );
                // The model's password hash is not copied.
                assert!(!can_log_in(engine, &clone, "Model-pw-1").await);
            }
        }
        // Cloning onto an existing clone only sets its password.
        d.clone_account(&t, &app, &clone, "Clone-pw-2")
            .await
            .unwrap();
        assert!(can_log_in(engine, &clone, "Clone-pw-2").await);
        assert!(!can_log_in(engine, &clone, "Clone-pw-1").await);
        drop_account(engine, &clone).await;
        drop_account(engine, &app).await;
    }
}

#[tokio::test]
async fn an_account_is_created_with_its_grants_on_each_host() {
    let d = Databases;
    let t = mariadb();
    let name = format!("ct_new_{}", suffix());
    let grants = [Grant {
        level: GrantLevel::Database("test".into()),
        privileges: vec!["select".into(), "INSERT".into()],
    }];
    let hosts = ["%".to_string(), "127.0.0.1".to_string()];
    d.create_account(&t, &name, "Made-pw-1", &hosts, &grants)
        .await
        .unwrap();
    assert!(can_log_in(DbEngine::MariaDb, &name, "Made-pw-1").await);
    for host in &hosts {
        let shown = maria_query(&format!("SHOW GRANTS FOR '{name}'@'{host}'")).await;
        assert!(
            shown
                .iter()
                .any(|g| g.contains("SELECT, INSERT ON `test`.*")),
            "{host}: {shown:?}"
        );
    }
    // Created again (a resumed task): the password is set, nothing fails.
    d.create_account(&t, &name, "Made-pw-2", &hosts, &grants)
        .await
        .unwrap();
    assert!(can_log_in(DbEngine::MariaDb, &name, "Made-pw-2").await);
    // A privilege the engine does not have is refused before anything is sent.
    let bad = [Grant {
        level: GrantLevel::Global,
        privileges: vec!["SELECT; DROP DATABASE test".into()],
    }];
    assert!(matches!(
        d.create_account(&t, &name, "x-Y-1", &hosts, &bad).await,
        Err(DbFailure::Refused(_))
    ));
    maria_exec(&[
        format!("DROP USER '{name}'@'%'"),
        format!("DROP USER '{name}'@'127.0.0.1'"),
    ])
    .await;

    let t = postgres();
    let role = format!("ct_new_{}", suffix());
    // (On the `postgres` database: the test setup grants on `test` from other tests.)
    let grants = [Grant {
        level: GrantLevel::Database("postgres".into()),
        privileges: vec!["CONNECT".into()],
    }];
    d.create_account(&t, &role, "Made-pw-1", &[], &grants)
        .await
        .unwrap();
    pg_exec(&[format!("GRANT coffer_rotated TO \"{role}\"")]).await;
    assert!(can_log_in(DbEngine::Postgres, &role, "Made-pw-1").await);
    assert!(!can_log_in(DbEngine::Postgres, &role, "Made-pw-0").await);
    pg_exec(&[format!(
        "REVOKE ALL ON DATABASE postgres FROM \"{role}\"; DROP ROLE \"{role}\""
    )])
    .await;
}

#[tokio::test]
async fn names_with_quotes_never_reach_the_database() {
    let d = Databases;
    for engine in ENGINES {
        let t = target(engine);
        let r = d.set_password(&t, "x", "it's").await;
        assert!(matches!(r, Err(DbFailure::Refused(_))), "{engine:?}: {r:?}");
    }
    let r = d
        .set_password(&mariadb(), "a'; DROP USER root; --", "Safe-pw-1")
        .await;
    assert!(matches!(r, Err(DbFailure::Refused(_))), "{r:?}");
    // The PostgreSQL role name is quoted as an identifier: no such role, nothing else.
    let r = d
        .set_password(&postgres(), "a\"; DROP ROLE postgres; --", "Safe-pw-1")
        .await;
    assert!(matches!(r, Err(DbFailure::Refused(_))), "{r:?}");
}
