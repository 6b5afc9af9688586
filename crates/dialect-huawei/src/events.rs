//! Secret events (Huawei's CSMS API reference): named rules that say
//! which events of their subscribed secrets are announced to which SMN topic. Secrets
//! subscribe by name through `event_subscriptions`; a rule in use cannot be deleted.

use coffer_core::service::{EventRuleChange, NewEventRule};
use coffer_core::{EventRule, NotifyTarget, SecretEvent};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::params::{str_field, valid_name};
use crate::render::page_info;
use crate::request::{limit, no_content, ok, Call, OpResult};

/// Most event types one rule may list.
const MAX_EVENT_TYPES: usize = 12;

const EVENT_TYPES: [(&str, SecretEvent); 6] = [
    ("SECRET_VERSION_CREATED", SecretEvent::VersionCreated),
    ("SECRET_VERSION_EXPIRED", SecretEvent::VersionExpired),
    ("SECRET_VERSION_NEAR_EXPIRY", SecretEvent::VersionNearExpiry),
    ("SECRET_ROTATED", SecretEvent::Rotated),
    ("SECRET_ROTATED_FAILED", SecretEvent::RotationFailed),
    ("SECRET_DELETED", SecretEvent::Deleted),
];

fn event_type_name(e: SecretEvent) -> &'static str {
    EVENT_TYPES
        .iter()
        .find(|(_, ev)| *ev == e)
        .map_or("", |(n, _)| n)
}

fn event_json(r: &EventRule) -> Value {
    json!({
        "name": r.name,
        "event_id": r.id.to_string(),
        "event_types": r.events.iter().map(|e| event_type_name(*e)).collect::<Vec<_>>(),
        "state": if r.enabled { "ENABLED" } else { "DISABLED" },
        "create_time": r.created_at.as_millis(),
        "update_time": r.updated_at.as_millis(),
        "notification": {
            "target_type": r.target.kind,
            "target_id": r.target.id,
            "target_name": r.target.name,
        },
    })
}

fn event_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            "it must match ^[a-zA-Z0-9_-]{1,64}$",
        ))
    }
}

fn event_types(v: &Value) -> Result<Vec<SecretEvent>, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::invalid("event_types", "it must be a list"));
    };
    if items.is_empty() || items.len() > MAX_EVENT_TYPES {
        return Err(ApiError::invalid(
            "event_types",
            format!("it must list 1 to {MAX_EVENT_TYPES} event types"),
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| ApiError::invalid("event_types", "each entry must be a string"))?;
        let event = EVENT_TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
            .ok_or_else(|| {
                ApiError::invalid("event_types", format!("unknown event type {name:?}"))
            })?;
        if events.contains(&event) {
            return Err(ApiError::invalid(
                "event_types",
                format!("{name} is listed twice"),
            ));
        }
        events.push(event);
    }
    Ok(events)
}

fn event_state(v: &Value) -> Result<bool, ApiError> {
    match v.as_str() {
        Some("ENABLED") => Ok(true),
        Some("DISABLED") => Ok(false),
        _ => Err(ApiError::invalid("state", "it must be ENABLED or DISABLED")),
    }
}

fn notification(v: &Value) -> Result<NotifyTarget, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError::invalid("notification", "it must be an object"));
    };
    let field = |name: &str| -> Result<String, ApiError> {
        let full = format!("notification.{name}");
        str_field(m, name)
            .map_err(|_| ApiError::invalid(&full, "it must be a string"))?
            .map(str::to_string)
            .ok_or_else(|| ApiError::invalid(&full, "the parameter is required"))
    };
    let (kind, id, name) = (
        field("target_type")?,
        field("target_id")?,
        field("target_name")?,
    );
    if kind != "SMN" {
        return Err(ApiError::invalid(
            "notification.target_type",
            "the only target type is SMN",
        ));
    }
    let id_ok = (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
    if !id_ok {
        return Err(ApiError::invalid(
            "notification.target_id",
            "it must match ^[a-zA-Z0-9\\-._:]{1,256}$",
        ));
    }
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            "notification.target_name",
            "it must match ^[a-zA-Z0-9_-]{1,64}$",
        ));
    }
    Ok(NotifyTarget { kind, id, name })
}

fn required<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ApiError> {
    body.get(name)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::invalid(name, "the parameter is required"))
}

pub async fn create(c: &Call) -> OpResult {
    let body = c.json()?;
    let name = str_field(body, "name")?
        .ok_or_else(|| ApiError::invalid("name", "the parameter is required"))?;
    event_name(name)?;
    let req = NewEventRule {
        name: name.to_string(),
        events: event_types(required(body, "event_types")?)?,
        enabled: event_state(required(body, "state")?)?,
        target: notification(required(body, "notification")?)?,
    };
    let rule = c.service.create_event_rule(&c.scope, req).await?;
    ok(json!({ "event": event_json(&rule) }))
}

pub async fn show(c: &Call, name: &str) -> OpResult {
    event_name(name)?;
    let rule = c.service.event_rule(&c.scope, name).await?;
    ok(json!({ "event": event_json(&rule) }))
}

pub async fn update(c: &Call, name: &str) -> OpResult {
    let body = c.json()?;
    event_name(name)?;
    let present = |f: &str| body.get(f).filter(|v| !v.is_null());
    let change = EventRuleChange {
        events: present("event_types").map(event_types).transpose()?,
        enabled: present("state").map(event_state).transpose()?,
        target: present("notification").map(notification).transpose()?,
    };
    let rule = c.service.update_event_rule(&c.scope, name, change).await?;
    ok(json!({ "event": event_json(&rule) }))
}

pub async fn delete(c: &Call, name: &str) -> OpResult {
    event_name(name)?;
    c.service.delete_event_rule(&c.scope, name).await?;
    no_content()
}

/// Pages in creation order; `marker` is the name of the last event of the previous page.
pub async fn list(c: &Call) -> OpResult {
    let limit = limit(c, 50)?;
    let marker = c.query("marker").filter(|m| !m.is_empty());
    if let Some(m) = marker {
        // The documented pattern also allows dots; such a name matches no event.
        let ok_marker = m.len() <= 64
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !ok_marker {
            return Err(ApiError::invalid("marker", "it must be an event name"));
        }
    }
    let mut rules = c.service.event_rules(&c.scope, marker, limit + 1).await?;
    let more = rules.len() > limit as usize;
    rules.truncate(limit as usize);
    let info = page_info(
        rules.first().map(|r| r.name.as_str()),
        rules.last().map(|r| r.name.as_str()),
        rules.len(),
        more,
    );
    let events: Vec<Value> = rules.iter().map(event_json).collect();
    ok(json!({ "events": events, "page_info": info }))
}

/// `GET csms/notification-records`: coffer sends no event notifications yet, so there is
/// nothing to list.
pub fn notification_records() -> OpResult {
    ok(
        json!({"records": [], "page_info": {"next_marker": null, "previous_marker": null, "current_count": 0}}),
    )
}
