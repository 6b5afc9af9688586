//! Event rules: named rules of a scope that say which secret events are sent where. Secrets
//! subscribe to them by name; a rule a secret still subscribes to cannot be deleted.

use uuid::Uuid;

use super::Service;
use crate::error::{Error, Resource, Result};
use crate::model::*;

/// A new event rule.
#[derive(Debug)]
pub struct NewEventRule {
    pub name: String,
    pub events: Vec<SecretEvent>,
    pub enabled: bool,
    pub target: NotifyTarget,
}

/// A change to an event rule; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EventRuleChange {
    pub events: Option<Vec<SecretEvent>>,
    pub enabled: Option<bool>,
    pub target: Option<NotifyTarget>,
}

impl Service {
    pub async fn create_event_rule(&self, scope: &Scope, req: NewEventRule) -> Result<EventRule> {
        check_events(&req.events)?;
        let now = self.now();
        let rule = EventRule {
            id: Uuid::new_v4(),
            scope: scope.clone(),
            name: req.name,
            events: req.events,
            enabled: req.enabled,
            target: req.target,
            created_at: now,
            updated_at: now,
        };
        self.store.create_event_rule(&rule).await?;
        Ok(rule)
    }

    pub async fn event_rule(&self, scope: &Scope, name: &str) -> Result<EventRule> {
        self.store
            .get_event_rule(scope, name)
            .await?
            .ok_or_else(|| Error::not_found(Resource::EventRule, name))
    }

    /// Up to `limit` rules in creation order, after the rule named `after`.
    pub async fn event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>> {
        self.store.list_event_rules(scope, after, limit).await
    }

    pub async fn update_event_rule(
        &self,
        scope: &Scope,
        name: &str,
        change: EventRuleChange,
    ) -> Result<EventRule> {
        if let Some(events) = &change.events {
            check_events(events)?;
        }
        let mut rule = self.event_rule(scope, name).await?;
        if let Some(events) = change.events {
            rule.events = events;
        }
        if let Some(enabled) = change.enabled {
            rule.enabled = enabled;
        }
        if let Some(target) = change.target {
            rule.target = target;
        }
        rule.updated_at = self.now().max(rule.updated_at);
        self.store.update_event_rule(&rule).await?;
        Ok(rule)
    }

    /// Refused while a secret subscribes to the rule.
    pub async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        self.store.delete_event_rule(scope, name).await
    }
}

fn check_events(events: &[SecretEvent]) -> Result<()> {
    if events.is_empty() {
        return Err(Error::invalid(
            "event_types",
            "at least one event type is required",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = events.iter().find(|e| !seen.insert(**e)) {
        return Err(Error::invalid(
            "event_types",
            format!("{dup:?} is listed twice"),
        ));
    }
    Ok(())
}
