//! The drivers' connections as an attacker between coffer and the database would meet them:
//! TLS verified against the instance's CA (and refused with another CA, or against a server
//! without TLS), PostgreSQL passwords never sent in cleartext to a server that is not
//! verified, and accounts given only what the instance's allow-list permits. Needs
//! scripts/db-test-tls (run here on first use).

#![allow(clippy::unwrap_used)]

mod common;

use coffer_core::database::{Grant, GrantLevel};
use coffer_core::{DatabaseDriver, DbEngine, DbFailure, TlsMode};
use coffer_rotation::Databases;
use common::*;

fn pg_with(tls: TlsMode, ca: Option<&str>) -> coffer_core::DbTarget {
    let mut t = postgres();
    t.tls = tls;
    t.ca_pem = ca.map(test_pem);
    t
}

#[tokio::test]
async fn postgres_verify_full_trusts_the_instance_ca_and_nothing_else() {
    let d = Databases;
    d.check_admin(&pg_with(TlsMode::VerifyFull, Some("ca.pem")))
        .await
        .unwrap();
    // The certificate names 127.0.0.1 and localhost; either works.
    let mut by_name = pg_with(TlsMode::VerifyFull, Some("ca.pem"));
    by_name.host = "localhost".into();
    d.check_admin(&by_name).await.unwrap();
    // A CA that did not issue the server's certificate: as a man in the middle with his
    // own certificate would be met.
    let other = d
        .check_admin(&pg_with(TlsMode::VerifyFull, Some("other-ca.pem")))
        .await;
    match other {
        Err(f) => assert!(
            f.reason().to_ascii_lowercase().contains("certificate"),
            "{f:?}"
        ),
        Ok(()) => panic!("a certificate from another CA was accepted"),
    }
    // Without a CA file, the public web roots: the test CA is not one of them.
    assert!(d
        .check_admin(&pg_with(TlsMode::VerifyFull, None))
        .await
        .is_err());
    // `require` encrypts with any certificate; `disable` still works without TLS.
    d.check_admin(&pg_with(TlsMode::Require, None))
        .await
        .unwrap();
    d.check_admin(&pg_with(TlsMode::Disable, None))
        .await
        .unwrap();
}

#[tokio::test]
async fn passwords_change_over_verified_tls() {
    let d = Databases;
    let t = pg_with(TlsMode::VerifyFull, Some("ca.pem"));
    let app = format!("ct_tls_{}", suffix());
    create_app_account(DbEngine::Postgres, &app, "Old-pw-1").await;
    d.set_password(&t, &app, "New-pw-2!").await.unwrap();
    d.login(&t, &app, "New-pw-2!").await.unwrap();
    assert!(can_log_in(DbEngine::Postgres, &app, "New-pw-2!").await);
    assert!(!can_log_in(DbEngine::Postgres, &app, "Old-pw-1").await);
    drop_account(DbEngine::Postgres, &app).await;
}

/// The role `coffer_cleartext` logs in with the `password` method: the server asks for the
/// password itself, as a man in the middle would.
#[tokio::test]
async fn a_cleartext_password_goes_only_to_a_verified_server_or_when_allowed() {
    let d = Databases;
    test_tls_dir();
    let refused = |r: Result<(), DbFailure>, what: &str| match r {
        Err(DbFailure::Refused(reason)) => {
            assert!(reason.contains("cleartext"), "{what}: {reason}")
        }
        other => panic!("{what}: {other:?}"),
    };
    refused(
        d.login(
            &pg_with(TlsMode::Disable, None),
            "coffer_cleartext",
            "Cleartext-pw-1",
        )
        .await,
        "no TLS",
    );
    refused(
        d.login(
            &pg_with(TlsMode::Require, None),
            "coffer_cleartext",
            "Cleartext-pw-1",
        )
        .await,
        "unverified TLS",
    );
    d.login(
        &pg_with(TlsMode::VerifyFull, Some("ca.pem")),
        "coffer_cleartext",
        "Cleartext-pw-1",
    )
    .await
    .unwrap();
    let mut allowed = pg_with(TlsMode::Disable, None);
    allowed.allow_cleartext_password = true;
    d.login(&allowed, "coffer_cleartext", "Cleartext-pw-1")
        .await
        .unwrap();
    // SCRAM roles (coffer_rotated members) are not affected without TLS.
    let app = format!("ct_scram_{}", suffix());
    create_app_account(DbEngine::Postgres, &app, "Scram-pw-1").await;
    d.login(&pg_with(TlsMode::Disable, None), &app, "Scram-pw-1")
        .await
        .unwrap();
    drop_account(DbEngine::Postgres, &app).await;
}

/// The machine's MariaDB has no TLS (turning it on needs a restart of a server other tests
/// share; the one with TLS is a second server on 3307): `require` and `verify-full` must
/// refuse it rather than fall back to cleartext.
#[tokio::test]
async fn mariadb_without_tls_is_refused_when_tls_is_asked_for() {
    let d = Databases;
    for (mode, ca) in [
        (TlsMode::Require, None),
        (TlsMode::VerifyFull, Some("ca.pem")),
    ] {
        let mut t = mariadb();
        t.tls = mode;
        t.ca_pem = ca.map(test_pem);
        let r = d.check_admin(&t).await;
        assert!(r.is_err(), "{mode:?}: {r:?}");
        assert!(
            d.login(&t, "root", "").await.is_err(),
            "{mode:?}: a login without TLS"
        );
    }
    d.check_admin(&mariadb()).await.unwrap();
}

/// The MariaDB with TLS that scripts/db-test-tls starts on 127.0.0.1:3307.
fn maria_tls(tls: TlsMode, ca: Option<&str>) -> coffer_core::DbTarget {
    let mut t = mariadb();
    t.port = 3307;
    t.tls = tls;
    t.ca_pem = ca.map(test_pem);
    t
}

#[tokio::test]
async fn mariadb_verify_full_trusts_the_instance_ca_and_nothing_else() {
    let d = Databases;
    test_tls_dir();
    d.check_admin(&maria_tls(TlsMode::VerifyFull, Some("ca.pem")))
        .await
        .unwrap();
    // The certificate's other name: verified by name too.
    let mut by_name = maria_tls(TlsMode::VerifyFull, Some("ca.pem"));
    by_name.host = "localhost".into();
    d.check_admin(&by_name).await.unwrap();
    match d
        .check_admin(&maria_tls(TlsMode::VerifyFull, Some("other-ca.pem")))
        .await
    {
        Err(f) => assert!(
            f.reason().to_ascii_lowercase().contains("certificate")
                || f.reason().to_ascii_lowercase().contains("issuer"),
            "{f:?}"
        ),
        Ok(()) => panic!("a certificate from another CA was accepted"),
    }
    d.check_admin(&maria_tls(TlsMode::Require, None))
        .await
        .unwrap();
    d.check_admin(&maria_tls(TlsMode::Disable, None))
        .await
        .unwrap();

    // A password changes over verified TLS.
    let t = maria_tls(TlsMode::VerifyFull, Some("ca.pem"));
    let app = format!("ct_mtls_{}", suffix());
    let plain = maria_tls(TlsMode::Disable, None);
    d.create_account(&t, &app, "Old-pw-1", &["%".into()], &[])
        .await
        .unwrap();
    d.set_password(&t, &app, "New-pw-2!").await.unwrap();
    d.login(&t, &app, "New-pw-2!").await.unwrap();
    assert!(matches!(
        d.login(&plain, &app, "Old-pw-1").await,
        Err(DbFailure::Refused(_))
    ));
    d.login(&plain, &app, "New-pw-2!").await.unwrap();
    // (The server on 3307 is a throwaway; its accounts go with it.)
}

#[tokio::test]
async fn accounts_get_only_what_the_instance_allows() {
    let d = Databases;
    let t = mariadb();
    let name = format!("ct_priv_{}", suffix());
    for (level, privileges) in [
        (GrantLevel::Global, vec!["ALL PRIVILEGES"]),
        (GrantLevel::Global, vec!["SELECT"]),
        (GrantLevel::Database("mysql".into()), vec!["UPDATE"]),
        (GrantLevel::Database("test".into()), vec!["SELECT", "all"]),
        (GrantLevel::Database("test".into()), vec!["PROCESS"]),
    ] {
        let grants = [Grant {
            level: level.clone(),
            privileges: privileges.iter().map(|p| p.to_string()).collect(),
        }];
        match d
            .create_account(&t, &name, "Made-pw-1", &["%".into()], &grants)
            .await
        {
            Err(DbFailure::Refused(r)) => assert!(r.contains("maria"), "{r}"),
            other => panic!("{level:?} {privileges:?}: {other:?}"),
        }
        assert!(!d.account_exists(&t, &name).await.unwrap(), "nothing made");
    }
    // What the operator allowed is given.
    let mut wide = mariadb();
    wide.allowed_privileges = vec!["SELECT".into(), "PROCESS".into()];
    let grants = [Grant {
        level: GrantLevel::Database("test".into()),
        privileges: vec!["SELECT".into()],
    }];
    d.create_account(&wide, &name, "Made-pw-1", &["%".into()], &grants)
        .await
        .unwrap();
    drop_account(DbEngine::MariaDb, &name).await;
}

#[tokio::test]
async fn a_clone_copies_only_what_the_instance_allows() {
    let d = Databases;
    // MariaDB: a model with a privilege of the server level.
    let t = mariadb();
    let model = format!("ct_wide_{}", suffix());
    create_app_account(DbEngine::MariaDb, &model, "Model-pw-1").await;
    maria_exec(&[format!("GRANT PROCESS ON *.* TO '{model}'@'%'")]).await;
    let clone = format!("{model}_clone");
    match d.clone_account(&t, &model, &clone, "Clone-pw-1").await {
        Err(DbFailure::Refused(r)) => assert!(r.contains("PROCESS"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(!d.account_exists(&t, &clone).await.unwrap());
    let mut wide = mariadb();
    wide.allowed_privileges
        .extend(["PROCESS".into(), "GLOBAL".into()]);
    d.clone_account(&wide, &model, &clone, "Clone-pw-1")
        .await
        .unwrap();
    drop_account(DbEngine::MariaDb, &clone).await;
    drop_account(DbEngine::MariaDb, &model).await;

    // PostgreSQL: a member of a role with CREATEROLE could SET ROLE to it.
    let t = postgres();
    let model = format!("ct_wide_{}", suffix());
    let power = format!("ct_power_{}", suffix());
    create_app_account(DbEngine::Postgres, &model, "Model-pw-1").await;
    pg_exec(&[
        format!("CREATE ROLE \"{power}\" NOLOGIN CREATEROLE"),
        format!("GRANT \"{power}\" TO \"{model}\""),
    ])
    .await;
    let clone = format!("{model}_clone");
    match d.clone_account(&t, &model, &clone, "Clone-pw-1").await {
        Err(DbFailure::Refused(r)) => {
            assert!(r.contains("CREATEROLE") && r.contains(&power), "{r}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!d.account_exists(&t, &clone).await.unwrap());
    pg_exec(&[format!("DROP ROLE \"{power}\"")]).await;
    drop_account(DbEngine::Postgres, &model).await;
}
