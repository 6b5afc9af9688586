//! A secret's resource policy in the one authorization check every API runs: its Deny beats
//! every Allow (admin keys included), its Allow lets a plain key of the account in, and a key
//! of another account gets only what the policy grants it. On the real SQLite store.
#![allow(clippy::unwrap_used)] // a test: a failed step should stop it where it failed

use std::sync::Arc;

use coffer_core::access::{Action, Target};
use coffer_core::service::CreateSecret;
use coffer_core::{Error, Scope, SecretKind, SecretValue, Service};
use zeroize::Zeroizing;

struct World {
    _dir: tempfile::TempDir,
    svc: Arc<Service>,
    scope: Scope,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _clock) = coffer_store::testkit::clocked_service(dir.path(), "AKIDowner", "sk")
        .await
        .unwrap();
    let account = svc.access_key("AKIDowner").await.unwrap().account;
    let scope = Scope {
        account,
        region: "default".into(),
    };
    svc.create_secret(
        &scope,
        CreateSecret {
            name: "app/db".into(),
            description: String::new(),
            kind: SecretKind::Generic,
            key: None,
            tags: vec![],
            version_id: "v1".into(),
            value: SecretValue::Text(Zeroizing::new("hunter2".into())),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
        },
    )
    .await
    .unwrap();
    World {
        _dir: dir,
        svc,
        scope,
    }
}

fn secret() -> Target {
    Target::Secret {
        name: "app/db".into(),
        tags: None,
    }
}

async fn may(w: &World, key: &str, action: Action) -> bool {
    let caller = w.svc.access_key(key).await.unwrap();
    match w.svc.authorize(&caller, action, &w.scope, &secret()).await {
        Ok(_) => true,
        Err(Error::AccessDenied { .. }) => false,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

#[tokio::test]
async fn deny_in_the_resource_policy_beats_an_admin_key() {
    let w = world().await;
    let (plain, _) = w
        .svc
        .create_access_key(w.scope.account, true)
        .await
        .unwrap();
    assert!(may(&w, "AKIDowner", Action::SecretsGetValue).await);
    let doc = policy(&format!(
        r#"{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{}:user/AKIDowner"}},
             "Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        w.scope.account
    ));
    w.svc
        .put_resource_policy(&w.scope, "app/db", doc, true)
        .await
        .unwrap();
    assert!(!may(&w, "AKIDowner", Action::SecretsGetValue).await);
    // Only the named key and the named action.
    assert!(may(&w, "AKIDowner", Action::SecretsDescribe).await);
    assert!(may(&w, &plain.id, Action::SecretsGetValue).await);
    // Removing the policy restores access.
    w.svc
        .delete_resource_policy(&w.scope, "app/db")
        .await
        .unwrap();
    assert!(may(&w, "AKIDowner", Action::SecretsGetValue).await);
}

#[tokio::test]
async fn a_deny_of_everyone_never_locks_the_owner_out_of_the_policy() {
    let w = world().await;
    let doc = policy(r#"{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#);
    w.svc
        .put_resource_policy(&w.scope, "app/db", doc, true)
        .await
        .unwrap();
    assert!(!may(&w, "AKIDowner", Action::SecretsGetValue).await);
    assert!(!may(&w, "AKIDowner", Action::SecretsDelete).await);
    assert!(may(&w, "AKIDowner", Action::SecretsGetPolicy).await);
    assert!(may(&w, "AKIDowner", Action::SecretsPutPolicy).await);
}

#[tokio::test]
async fn allow_lets_a_plain_key_of_the_account_in() {
    let w = world().await;
    let (plain, _) = w
        .svc
        .create_access_key(w.scope.account, false)
        .await
        .unwrap();
    assert!(!may(&w, &plain.id, Action::SecretsGetValue).await);
    let doc = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:user/{}"}},
             "Action":["secretsmanager:GetSecretValue"],"Resource":"*"}}"#,
        w.scope.account, plain.id
    ));
    w.svc
        .put_resource_policy(&w.scope, "app/db", doc, true)
        .await
        .unwrap();
    assert!(may(&w, &plain.id, Action::SecretsGetValue).await);
    assert!(!may(&w, &plain.id, Action::SecretsPutValue).await);
}

#[tokio::test]
async fn another_account_gets_only_what_the_policy_grants() {
    let w = world().await;
    let (other, _) = w.svc.create_account("other", "default").await.unwrap();
    let (admin, _) = w.svc.create_access_key(other.id, true).await.unwrap();
    let (plain, _) = w.svc.create_access_key(other.id, false).await.unwrap();
    assert!(!may(&w, &admin.id, Action::SecretsGetValue).await);
    let doc = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},
             "Action":"secretsmanager:GetSecretValue"}}"#,
        other.id
    ));
    w.svc
        .put_resource_policy(&w.scope, "app/db", doc, true)
        .await
        .unwrap();
    assert!(may(&w, &admin.id, Action::SecretsGetValue).await);
    assert!(!may(&w, &admin.id, Action::SecretsPutValue).await);
    // The other account's own policies must allow it too: a plain key without one may not.
    assert!(!may(&w, &plain.id, Action::SecretsGetValue).await);
    // Nothing but secrets is shared across accounts.
    let caller = w.svc.access_key(&admin.id).await.unwrap();
    assert!(w
        .svc
        .authorize(&caller, Action::SecretsList, &w.scope, &Target::AllSecrets)
        .await
        .is_err());
}

#[tokio::test]
async fn bad_documents_are_refused_and_nothing_is_written() {
    let w = world().await;
    for (doc, field) in [
        ("{not json".to_string(), "ResourcePolicy"),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#.to_string(),
            "ResourcePolicy",
        ),
        (
            policy(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:*"}"#),
            "BlockPublicPolicy",
        ),
    ] {
        match w
            .svc
            .put_resource_policy(&w.scope, "app/db", doc, true)
            .await
        {
            Err(Error::InvalidParameter { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a refusal naming {field}, got {other:?}"),
        }
    }
    let s = w.svc.describe(&w.scope, "app/db").await.unwrap();
    assert_eq!(s.policy, None);
    // Without BlockPublicPolicy a public policy is the owner's choice.
    let public = policy(r#"{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*"}"#);
    w.svc
        .put_resource_policy(&w.scope, "app/db", public.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        w.svc.describe(&w.scope, "app/db").await.unwrap().policy,
        Some(public)
    );
    // The other APIs' policy writes are held to the same grammar.
    assert!(matches!(
        w.svc
            .set_policy(&w.scope, "app/db", r#"{"foo":1}"#.into())
            .await,
        Err(Error::InvalidParameter { .. })
    ));
}
