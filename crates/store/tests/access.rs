//! Authorization and the account, key and policy operations, on a real service and store.

use coffer_core::error::Resource;
use coffer_core::service::CreateSecret;
use coffer_core::*;
use zeroize::Zeroizing;

async fn service() -> (tempfile::TempDir, std::sync::Arc<Service>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, _) = coffer_store::testkit::clocked_service(dir.path(), "OPKEY", "op-secret")
        .await
        .expect("service");
    (dir, svc)
}

fn new_secret(name: &str, tags: &[(&str, &str)]) -> CreateSecret {
    CreateSecret {
        name: name.into(),
        description: String::new(),
        kind: SecretKind::Generic,
        key: None,
        tags: tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        version_id: "v1".into(),
        value: SecretValue::Text(Zeroizing::new("s3cret".into())),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

fn scope(a: AccountId) -> Scope {
    Scope {
        account: a,
        region: "default".into(),
    }
}

/// A non-admin key of a fresh account carrying `policies` (documents).
async fn key_with(svc: &Service, account: AccountId, policies: &[&str]) -> String {
    let (k, _) = svc.create_access_key(account, false).await.expect("key");
    for (i, doc) in policies.iter().enumerate() {
        let name = format!("p{i}-{}", k.id);
        svc.put_policy(account, &name, doc).await.expect("policy");
        svc.attach_policy(&k.id, &name).await.expect("attach");
    }
    k.id
}

async fn allowed(svc: &Service, key: &str, action: Action, s: &Scope, t: Target) -> bool {
    let caller = svc.access_key(key).await.expect("caller");
    match svc.authorize(&caller, action, s, &t).await {
        Ok(resource) => {
            assert_eq!(resource, t.resource(s));
            true
        }
        Err(Error::AccessDenied {
            action: a,
            resource,
        }) => {
            assert_eq!(a, action.as_str());
            assert_eq!(resource, t.resource(s));
            false
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn admin_keys_need_no_policy_and_others_need_one() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    let (admin, _) = svc.create_access_key(acct.id, true).await.expect("admin");
    let bare = key_with(&svc, acct.id, &[]).await;
    for action in [
        Action::SecretsGetValue,
        Action::SecretsDelete,
        Action::SecretsList,
    ] {
        assert!(allowed(&svc, &admin.id, action, &s, Target::secret("x")).await);
        assert!(!allowed(&svc, &bare, action, &s, Target::secret("x")).await);
    }
    // An admin key is still bound by an explicit deny.
    svc.put_policy(
        acct.id,
        "no-delete",
        r#"{"Statement":{"Effect":"Deny","Action":"secrets:Delete","Resource":"*"}}"#,
    )
    .await
    .expect("policy");
    svc.attach_policy(&admin.id, "no-delete")
        .await
        .expect("attach");
    assert!(
        !allowed(
            &svc,
            &admin.id,
            Action::SecretsDelete,
            &s,
            Target::secret("x")
        )
        .await
    );
    assert!(
        allowed(
            &svc,
            &admin.id,
            Action::SecretsGetValue,
            &s,
            Target::secret("x")
        )
        .await
    );
}

#[tokio::test]
async fn paths_tags_and_explicit_deny() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    svc.create_secret(&s, new_secret("app/db", &[("env", "prod")]))
        .await
        .expect("secret");
    svc.create_secret(&s, new_secret("app/cache", &[("env", "dev")]))
        .await
        .expect("secret");
    let one_path = key_with(
        &svc,
        acct.id,
        &[r#"{"Statement":[{"Effect":"Allow","Action":"secrets:GetValue","Resource":"crn:coffer:*:*:secret/app/*"}]}"#],
    )
    .await;
    assert!(
        allowed(
            &svc,
            &one_path,
            Action::SecretsGetValue,
            &s,
            Target::secret("app/db")
        )
        .await
    );
    assert!(
        !allowed(
            &svc,
            &one_path,
            Action::SecretsGetValue,
            &s,
            Target::secret("other")
        )
        .await
    );
    assert!(
        !allowed(
            &svc,
            &one_path,
            Action::SecretsPutValue,
            &s,
            Target::secret("app/db")
        )
        .await
    );
    assert!(!allowed(&svc, &one_path, Action::SecretsList, &s, Target::AllSecrets).await);

    let not_prod = key_with(
        &svc,
        acct.id,
        &[
            r#"{"Statement":{"Effect":"Allow","Action":"secrets:*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Deny","Action":"secrets:GetValue","Resource":"*",
                "Condition":{"StringEquals":{"coffer:ResourceTag/env":"prod"}}}}"#,
        ],
    )
    .await;
    let get = |name: &str| Target::secret(name);
    assert!(!allowed(&svc, &not_prod, Action::SecretsGetValue, &s, get("app/db")).await);
    assert!(
        allowed(
            &svc,
            &not_prod,
            Action::SecretsGetValue,
            &s,
            get("app/cache")
        )
        .await
    );
    assert!(allowed(&svc, &not_prod, Action::SecretsDescribe, &s, get("app/db")).await);
    // A secret that does not exist has no tags: judged like an untagged one.
    assert!(allowed(&svc, &not_prod, Action::SecretsGetValue, &s, get("nowhere")).await);
    // A create is judged on the tags it asks for.
    let tagged = |env: &str| Target::Secret {
        name: "new".into(),
        tags: Some(vec![Tag {
            key: "env".into(),
            value: env.into(),
        }]),
    };
    let deny_prod_create = key_with(
        &svc,
        acct.id,
        &[
            r#"{"Statement":[{"Effect":"Allow","Action":"secrets:Create","Resource":"*"},
              {"Effect":"Deny","Action":"secrets:Create","Resource":"*",
               "Condition":{"StringEquals":{"coffer:ResourceTag/env":"prod"}}}]}"#,
        ],
    )
    .await;
    assert!(
        !allowed(
            &svc,
            &deny_prod_create,
            Action::SecretsCreate,
            &s,
            tagged("prod")
        )
        .await
    );
    assert!(
        allowed(
            &svc,
            &deny_prod_create,
            Action::SecretsCreate,
            &s,
            tagged("dev")
        )
        .await
    );
}

#[tokio::test]
async fn a_key_never_acts_in_another_account() {
    let (_d, svc) = service().await;
    let (a, _) = svc.create_account("a", "default").await.expect("a");
    let (b, _) = svc.create_account("b", "default").await.expect("b");
    let (admin_a, _) = svc.create_access_key(a.id, true).await.expect("key");
    let caller = svc.access_key(&admin_a.id).await.expect("caller");
    let r = svc
        .authorize(
            &caller,
            Action::SecretsGetValue,
            &scope(b.id),
            &Target::secret("x"),
        )
        .await;
    assert!(matches!(r, Err(Error::AccessDenied { .. })), "{r:?}");
}

#[tokio::test]
async fn policy_changes_apply_at_once() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    let key = key_with(&svc, acct.id, &[]).await;
    assert!(!allowed(&svc, &key, Action::SecretsList, &s, Target::AllSecrets).await);
    svc.put_policy(
        acct.id,
        "lister",
        r#"{"Statement":{"Effect":"Allow","Action":"secrets:List","Resource":"*"}}"#,
    )
    .await
    .expect("policy");
    svc.attach_policy(&key, "lister").await.expect("attach");
    assert!(allowed(&svc, &key, Action::SecretsList, &s, Target::AllSecrets).await);
    // Replacing the document takes effect for keys already cached.
    svc.put_policy(
        acct.id,
        "lister",
        r#"{"Statement":{"Effect":"Allow","Action":"secrets:Describe","Resource":"*"}}"#,
    )
    .await
    .expect("replace");
    assert!(!allowed(&svc, &key, Action::SecretsList, &s, Target::AllSecrets).await);
    svc.detach_policy(&key, "lister").await.expect("detach");
    assert!(!allowed(&svc, &key, Action::SecretsDescribe, &s, Target::secret("x")).await);
    let r = svc.detach_policy(&key, "lister").await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
}

#[tokio::test]
async fn policies_are_checked_named_and_kept_while_attached() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let r = svc
        .put_policy(
            acct.id,
            "bad",
            r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
        )
        .await;
    match r {
        Err(Error::InvalidParameter { field, reason }) => {
            assert_eq!(field, "PolicyDocument");
            assert!(reason.contains("Statement[0].Effect"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        svc.put_policy(acct.id, "bad name", "{}").await,
        Err(Error::InvalidParameter { .. })
    ));
    let key = key_with(
        &svc,
        acct.id,
        &[r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#],
    )
    .await;
    let name = svc.attached_policies(&key).await.expect("names")[0].clone();
    let r = svc.delete_policy(acct.id, &name).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    svc.detach_policy(&key, &name).await.expect("detach");
    svc.delete_policy(acct.id, &name).await.expect("delete");
    assert!(matches!(
        svc.policy(acct.id, &name).await,
        Err(Error::NotFound {
            what: Resource::Policy,
            ..
        })
    ));
}

#[tokio::test]
async fn accounts_are_deleted_only_when_empty_and_the_operator_keeps_a_key() {
    let (_d, svc) = service().await;
    let (acct, project) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    assert_eq!(project.scope, scope(acct.id));
    // Looked up once, so that the node remembers it: deleting the account forgets it too.
    assert_eq!(
        svc.project(&project.id).await.expect("project").as_ref(),
        Some(&project)
    );
    let s = scope(acct.id);
    let key = key_with(
        &svc,
        acct.id,
        &[r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#],
    )
    .await;
    svc.create_secret(&s, new_secret("held", &[]))
        .await
        .expect("secret");
    let r = svc.delete_account(acct.id).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    svc.delete(&s, "held", service::DeleteMode::Immediate, |_| Ok(()))
        .await
        .expect("delete secret");
    svc.delete_account(acct.id).await.expect("delete account");
    assert!(matches!(
        svc.access_key(&key).await,
        Err(Error::NotFound { .. })
    ));
    assert!(svc.project(&project.id).await.expect("project").is_none());

    // The operator account stays, and so does its last enabled admin key.
    let operator = svc.access_key("OPKEY").await.expect("op").account;
    assert!(matches!(
        svc.delete_account(operator).await,
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        svc.enable_access_key("OPKEY", false).await,
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        svc.delete_access_key("OPKEY").await,
        Err(Error::InvalidState { .. })
    ));
    let (second, _) = svc.create_access_key(operator, true).await.expect("second");
    svc.enable_access_key("OPKEY", false)
        .await
        .expect("now allowed");
    assert!(!svc.access_key("OPKEY").await.expect("key").enabled);
    svc.delete_access_key("OPKEY").await.expect("delete");
    assert!(matches!(
        svc.delete_access_key(&second.id).await,
        Err(Error::InvalidState { .. })
    ));
}

/// The pipeline's one check: every target is judged, a rule naming nothing is refused, and
/// the admin API's rules admit only admin keys of the right account.
#[tokio::test]
async fn permissions_are_checked_target_by_target_and_fail_closed() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let (other, _) = svc
        .create_account("other", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    let (admin, _) = svc.create_access_key(acct.id, true).await.expect("admin");
    let admin = svc.access_key(&admin.id).await.expect("caller");
    let reader = key_with(
        &svc,
        acct.id,
        &[r#"{"Statement":{"Effect":"Allow","Action":"secrets:GetValue","Resource":"crn:coffer:*:*:secret/app/*"}}"#],
    )
    .await;
    let reader = svc.access_key(&reader).await.expect("caller");
    let get = |names: &[&str]| {
        Permission::each(
            Action::SecretsGetValue,
            names.iter().map(|n| Target::secret(*n)).collect(),
        )
    };
    let ok = |r: Result<()>| r.is_ok();
    assert!(ok(svc
        .authorize_permission(&reader, &s, &get(&["app/a", "app/b"]))
        .await));
    // One target outside the policy refuses the whole request.
    assert!(!ok(svc
        .authorize_permission(&reader, &s, &get(&["app/a", "db/x"]))
        .await));
    // No target at all is refused, even for an admin key.
    assert!(!ok(svc.authorize_permission(&admin, &s, &get(&[])).await));
    assert!(ok(svc
        .authorize_permission(&reader, &s, &Permission::Public)
        .await));
    // A conjunction needs every part, and an empty one proves nothing.
    let both = Permission::All(vec![get(&["app/a"]), get(&["db/x"])]);
    assert!(!ok(svc.authorize_permission(&reader, &s, &both).await));
    let fine = Permission::All(vec![get(&["app/a"]), Permission::Public]);
    assert!(ok(svc.authorize_permission(&reader, &s, &fine).await));
    let none = Permission::All(vec![]);
    assert!(!ok(svc.authorize_permission(&admin, &s, &none).await));
    // Each on its own (a batch that reports the targets it may not touch): one allowed
    // target lets the request through, none refuses it, and no target proves nothing.
    let each = |names: &[&str]| Permission::EachOnItsOwn {
        action: Action::SecretsGetValue,
        targets: names.iter().map(|n| Target::secret(*n)).collect(),
    };
    assert!(ok(svc
        .authorize_permission(&reader, &s, &each(&["db/x", "app/a"]))
        .await));
    let refused = svc
        .authorize_permission(&reader, &s, &each(&["db/x", "db/y"]))
        .await;
    assert!(
        matches!(&refused, Err(Error::AccessDenied { resource, .. }) if resource.ends_with("secret/db/x")),
        "{refused:?}"
    );
    assert!(!ok(svc.authorize_permission(&admin, &s, &each(&[])).await));
    // The admin API's rules: the account's admin keys, not its other keys nor another's.
    let list = |a: AccountId| {
        Permission::admin(
            AdminRole::AccountAdmin(a),
            Action::AdminListAccessKeys,
            Target::AllAccessKeys(a),
        )
    };
    let own = list(acct.id);
    assert!(ok(svc.authorize_permission(&admin, &s, &own).await));
    assert!(!ok(svc.authorize_permission(&reader, &s, &own).await));
    let theirs = list(other.id);
    assert!(!ok(svc.authorize_permission(&admin, &s, &theirs).await));
    let operate = Permission::admin(
        AdminRole::Operator,
        Action::AdminListAccounts,
        Target::AllAccounts,
    );
    assert!(!ok(svc.authorize_permission(&admin, &s, &operate).await));
}

/// An admin key of `account` carrying `policies` (documents).
async fn admin_with(svc: &Service, account: AccountId, policies: &[&str]) -> String {
    let (k, _) = svc.create_access_key(account, true).await.expect("key");
    for (i, doc) in policies.iter().enumerate() {
        let name = format!("a{i}-{}", k.id);
        svc.put_policy(account, &name, doc).await.expect("policy");
        svc.attach_policy(&k.id, &name).await.expect("attach");
    }
    k.id
}

/// Admin operations obey the caller's own policies: an explicit Deny wins over the role, an
/// admin key without a policy may do what its role allows, and a key with a policy needs an
/// explicit Allow for the actions that can give a key more rights.
#[tokio::test]
async fn admin_operations_obey_the_callers_policies() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let a = acct.id;
    let s = scope(a);
    let check = |key: String, action: Action, targets: Vec<Target>| {
        let (svc, s) = (svc.clone(), s.clone());
        async move {
            let caller = svc.access_key(&key).await.expect("caller");
            let p = Permission::Admin {
                role: AdminRole::AccountAdmin(a),
                action,
                targets,
            };
            svc.authorize_permission(&caller, &s, &p).await.is_ok()
        }
    };
    let key_t = |id: &str| Target::AccessKey {
        account: a,
        id: id.into(),
    };
    let pol_t = |name: &str| Target::Policy {
        account: a,
        name: name.into(),
    };
    let plain = admin_with(&svc, a, &[]).await;
    // Restricted only on a secret: no admin action denied, but none that grants rights.
    let narrow = admin_with(
        &svc,
        a,
        &[r#"{"Statement":{"Effect":"Deny","Action":"secrets:GetValue","Resource":"crn:coffer:*:*:secret/prod/*"}}"#],
    )
    .await;
    // Denies detaching anything from itself.
    let guarded = admin_with(
        &svc,
        a,
        &[r#"{"Statement":{"Effect":"Deny","Action":"admin:DetachPolicy","Resource":"*"}}"#],
    )
    .await;
    // Explicitly allowed to make admin keys and attach one policy, but not to enable keys.
    let delegated = admin_with(
        &svc,
        a,
        &[r#"{"Statement":[
            {"Effect":"Allow","Action":"admin:CreateAdminAccessKey","Resource":"*"},
            {"Effect":"Allow","Action":"admin:AttachPolicy","Resource":["crn:coffer:*:*:access-key/*","crn:coffer:*:*:policy/readers"]},
            {"Effect":"Deny","Action":"admin:EnableAccessKey","Resource":"*"}]}"#],
    )
    .await;
    let all_keys = || vec![Target::AllAccessKeys(a)];
    let attach = |k: &str, p: &str| vec![key_t(k), pol_t(p)];

    // The key without a policy: everything its role allows.
    for (action, targets) in [
        (Action::AdminCreateAdminAccessKey, all_keys()),
        (Action::AdminEnableAccessKey, vec![key_t("K")]),
        (Action::AdminPutPolicy, vec![pol_t("p")]),
        (Action::AdminAttachPolicy, attach("K", "p")),
        (Action::AdminDetachPolicy, attach(&plain, "p")),
    ] {
        assert!(check(plain.clone(), action, targets).await, "{action}");
    }
    // The narrow key: what takes rights away or reads, yes; what grants them, no.
    for (action, targets, expected) in [
        (Action::AdminListAccessKeys, all_keys(), true),
        (Action::AdminCreateAccessKey, all_keys(), true),
        (Action::AdminDisableAccessKey, vec![key_t("K")], true),
        (Action::AdminDeleteAccessKey, vec![key_t("K")], true),
        (Action::AdminDeletePolicy, vec![pol_t("p")], true),
        (Action::AdminGetPolicy, vec![pol_t("p")], true),
        (Action::AdminCreateAdminAccessKey, all_keys(), false),
        (Action::AdminEnableAccessKey, vec![key_t("K")], false),
        (Action::AdminPutPolicy, vec![pol_t("p")], false),
        (Action::AdminAttachPolicy, attach("K", "p"), false),
        (Action::AdminDetachPolicy, attach(&narrow, "p"), false),
    ] {
        assert_eq!(
            check(narrow.clone(), action, targets).await,
            expected,
            "{action}"
        );
    }
    // An explicit Deny of an admin action refuses it; other admin actions stay open.
    assert!(
        !check(
            guarded.clone(),
            Action::AdminDetachPolicy,
            attach(&guarded, "p")
        )
        .await
    );
    assert!(
        check(
            guarded.clone(),
            Action::AdminShowAccount,
            vec![Target::Account(a)]
        )
        .await
    );
    // An explicit Allow opens a granting action, on the resources it names only; every
    // target of the request must be allowed.
    assert!(
        check(
            delegated.clone(),
            Action::AdminCreateAdminAccessKey,
            all_keys()
        )
        .await
    );
    assert!(
        check(
            delegated.clone(),
            Action::AdminAttachPolicy,
            attach("K", "readers")
        )
        .await
    );
    assert!(
        !check(
            delegated.clone(),
            Action::AdminAttachPolicy,
            attach("K", "writers")
        )
        .await
    );
    assert!(
        !check(
            delegated.clone(),
            Action::AdminEnableAccessKey,
            vec![key_t("K")]
        )
        .await
    );
    // No target proves nothing, even for the key without a policy.
    assert!(!check(plain.clone(), Action::AdminListAccessKeys, vec![]).await);
    // A key that is no admin gets nothing from a policy that allows every admin action.
    let non_admin = key_with(
        &svc,
        a,
        &[r#"{"Statement":{"Effect":"Allow","Action":"admin:*","Resource":"*"}}"#],
    )
    .await;
    assert!(!check(non_admin, Action::AdminListAccessKeys, all_keys()).await);
    // A refusal names the admin action and the resource.
    let caller = svc.access_key(&narrow).await.expect("caller");
    let err = svc
        .authorize_permission(
            &caller,
            &s,
            &Permission::admin(
                AdminRole::AccountAdmin(a),
                Action::AdminCreateAdminAccessKey,
                Target::AllAccessKeys(a),
            ),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, Error::AccessDenied { action, resource }
            if action == "admin:CreateAdminAccessKey"
                && *resource == format!("crn:coffer:*:{a}:access-key/*")),
        "{err:?}"
    );
}

/// A tag change is judged on the secret's tags before it and after it: a key allowed to tag
/// only `team=a` secrets can neither retag one out of that set nor tag another into it.
#[tokio::test]
async fn a_tag_change_is_judged_before_and_after() {
    let (_d, svc) = service().await;
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    svc.create_secret(&s, new_secret("a", &[("team", "a")]))
        .await
        .expect("secret");
    svc.create_secret(&s, new_secret("b", &[("team", "b")]))
        .await
        .expect("secret");
    let team_a = key_with(
        &svc,
        acct.id,
        &[
            r#"{"Statement":{"Effect":"Allow","Action":"secrets:Tag","Resource":"*",
              "Condition":{"StringEquals":{"coffer:ResourceTag/team":"a"}}}}"#,
        ],
    )
    .await;
    let tag = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    let retag = |name: &str, change: TagChange| Target::SecretRetag {
        name: name.into(),
        change,
    };
    let may = |t: Target| allowed(&svc, &team_a, Action::SecretsTag, &s, t);
    // Within the set: other tags come and go.
    assert!(may(retag("a", TagChange::Set(vec![tag("env", "x")]))).await);
    assert!(may(retag("a", TagChange::Set(vec![tag("team", "a")]))).await);
    assert!(may(retag("a", TagChange::Remove(vec!["env".into()]))).await);
    // Out of it: retagging, removing the tag, removing every tag.
    assert!(!may(retag("a", TagChange::Set(vec![tag("team", "b")]))).await);
    assert!(!may(retag("a", TagChange::Remove(vec!["team".into()]))).await);
    assert!(!may(retag("a", TagChange::RemoveAll)).await);
    // Into it: a secret of another team, and one that does not exist.
    assert!(!may(retag("b", TagChange::Set(vec![tag("team", "a")]))).await);
    assert!(!may(retag("nowhere", TagChange::Set(vec![tag("team", "a")]))).await);

    // A Deny on the tags after the change holds too, even for an admin key.
    let (admin, _) = svc.create_access_key(acct.id, true).await.expect("admin");
    for (i, doc) in [
        r#"{"Statement":{"Effect":"Deny","Action":"secrets:Tag","Resource":"*",
              "Condition":{"StringEquals":{"coffer:ResourceTag/team":"root"}}}}"#,
    ]
    .iter()
    .enumerate()
    {
        let name = format!("d{i}");
        svc.put_policy(acct.id, &name, doc).await.expect("policy");
        svc.attach_policy(&admin.id, &name).await.expect("attach");
    }
    let admin_may = |t: Target| allowed(&svc, &admin.id, Action::SecretsTag, &s, t);
    assert!(admin_may(retag("a", TagChange::Set(vec![tag("env", "x")]))).await);
    assert!(!admin_may(retag("a", TagChange::Set(vec![tag("team", "root")]))).await);
}

/// A value read records the day of the read (midnight UTC) for the secret, off the read's own
/// path; a read on a later day moves it on; reading nothing records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_record_the_day_a_secret_was_last_accessed() {
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (svc, clock) = coffer_store::testkit::clocked_service(dir.path(), "OPKEY", "op-secret")
        .await
        .expect("service");
    let (acct, _) = svc
        .create_account("team", "default")
        .await
        .expect("account");
    let s = scope(acct.id);
    let read = svc
        .create_secret(&s, new_secret("read", &[]))
        .await
        .expect("create");
    let unread = svc
        .create_secret(&s, new_secret("unread", &[]))
        .await
        .expect("create");
    let ids = [read.id, unread.id];
    assert!(svc.last_accessed(&ids).await.expect("days").is_empty());
    let day = 20_000 * DAY;
    clock.set(Timestamp(day + 13 * 3_600_000 + 17));
    let sel = coffer_core::service::VersionSelector::default();
    svc.get_value(&s, "read", &sel).await.expect("read");
    svc.get_value(&s, "read", &sel).await.expect("read again");
    let recorded = |want: i64| {
        let svc = svc.clone();
        async move {
            for _ in 0..200 {
                let days = svc.last_accessed(&ids).await.expect("days");
                if days.get(&ids[0]) == Some(&Timestamp(want)) {
                    assert_eq!(days.len(), 1, "{days:?}");
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("the read of day {want} was not recorded");
        }
    };
    recorded(day).await;
    clock.set(Timestamp(day + 2 * DAY + 5));
    svc.get_value(&s, "read", &sel).await.expect("read later");
    recorded(day + 2 * DAY).await;
    // A refused read (no such version) is no access.
    let missing = coffer_core::service::VersionSelector {
        version_id: Some("nope".into()),
        stage: None,
    };
    assert!(svc.get_value(&s, "unread", &missing).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!svc
        .last_accessed(&ids)
        .await
        .expect("days")
        .contains_key(&ids[1]));
}

/// Two nodes on one store: a project one node looked up (and keeps for the hot path) is gone
/// there within a second of the other node deleting its account, and a project the other node
/// creates is found at once.
#[tokio::test]
async fn a_project_deleted_on_another_node_is_forgotten_within_a_second() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        coffer_store::SqliteStore::open(
            &dir.path().join("coffer.db"),
            coffer_store::SqliteOptions::default(),
        )
        .expect("store"),
    );
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(
        coffer_store::testkit::START_SECS,
    )));
    let root = coffer_crypto::SecretKey::generate();
    let one = Service::new(
        store.clone(),
        root.clone(),
        clock.clone(),
        Limits::default(),
    );
    let two = Service::new(store, root, clock.clone(), Limits::default());
    one.bootstrap(
        Some("OPKEY".to_string()),
        Some(Zeroizing::new("op-secret".to_string())),
    )
    .await
    .expect("bootstrap");

    let (acct, project) = one
        .create_account("team", "default")
        .await
        .expect("account");
    assert_eq!(
        two.project(&project.id).await.expect("project"),
        Some(project.clone()),
        "created on the other node: found at once"
    );
    one.delete_account(acct.id).await.expect("delete");
    clock.advance_millis(999);
    assert_eq!(
        two.project(&project.id).await.expect("project"),
        Some(project.clone()),
        "still remembered within the second"
    );
    clock.advance_millis(1);
    assert_eq!(two.project(&project.id).await.expect("project"), None);
    assert_eq!(one.project(&project.id).await.expect("project"), None);
}
