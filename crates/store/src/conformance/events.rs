//! Checks of [`EventRuleStore`]: rule names unique per scope, pages after a marker, updates,
//! and the subscriptions of secrets, which only name rules of their own scope and keep a rule
//! from going while they hold it.

use std::sync::Arc;

use coffer_core::error::Resource;
use coffer_core::*;
use uuid::Uuid;

use super::fixtures::*;

/// The checks of this area, by name.
pub const CHECKS: &[(&str, Check)] = &[("event_rules_and_subscriptions", |s| {
    Box::pin(event_rules_and_subscriptions(s))
})];

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
