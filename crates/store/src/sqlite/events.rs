//! The event rules area on SQLite: rules per scope, pages in creation order after a marker,
//! updates, and deletes that refuse a rule a secret still subscribes to.

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::EventRuleStore;
use coffer_core::*;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{
    account_from_sql, account_sql, internal, is_foreign_key_violation, is_unique_violation,
};
use super::SqliteStore;

pub(super) const EVENT_RULE_COLUMNS: &str =
    "id, account, region, name, events, enabled, target_kind, \
     target_id, target_name, created_at, updated_at";

fn events_text(events: &[SecretEvent]) -> String {
    events
        .iter()
        .map(|e| e.to_stored())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a row of [`EVENT_RULE_COLUMNS`]. The outer result is SQLite's, the inner one says
/// whether the stored text still parses.
pub(super) fn event_rule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<EventRule>> {
    let (id, events): (String, String) = (r.get(0)?, r.get(4)?);
    let rule = EventRule {
        id: Uuid::nil(),
        scope: Scope {
            account: account_from_sql(r.get(1)?),
            region: r.get(2)?,
        },
        name: r.get(3)?,
        events: vec![],
        enabled: r.get(5)?,
        target: NotifyTarget {
            kind: r.get(6)?,
            id: r.get(7)?,
            name: r.get(8)?,
        },
        created_at: Timestamp(r.get(9)?),
        updated_at: Timestamp(r.get(10)?),
    };
    let parse = move || -> Result<EventRule> {
        let events = events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| {
                SecretEvent::from_stored(e)
                    .ok_or_else(|| Error::internal(format!("sqlite: unknown event {e:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let id = Uuid::parse_str(&id).map_err(|e| internal("stored event rule id", e))?;
        Ok(EventRule { id, events, ..rule })
    };
    Ok(parse())
}

pub(super) fn create_event_rule(c: &Connection, rule: &EventRule) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO event_rules ({EVENT_RULE_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))
    .and_then(|mut st| {
        st.execute(params![
            rule.id.to_string(),
            account_sql(rule.scope.account),
            rule.scope.region,
            rule.name,
            events_text(&rule.events),
            rule.enabled,
            rule.target.kind,
            rule.target.id,
            rule.target.name,
            rule.created_at.0,
            rule.updated_at.0,
        ])
    })
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::AlreadyExists {
                what: Resource::EventRule,
                name: rule.name.clone(),
            }
        } else {
            internal("insert event rule", e)
        }
    })?;
    Ok(())
}

#[async_trait]
impl EventRuleStore for SqliteStore {
    async fn create_event_rule(&self, rule: &EventRule) -> Result<()> {
        let rule = rule.clone();
        self.write(move |c| create_event_rule(c, &rule)).await
    }

    async fn get_event_rule(&self, scope: &Scope, name: &str) -> Result<Option<EventRule>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                 WHERE account = ?1 AND region = ?2 AND name = ?3"
            ))
            .and_then(|mut st| {
                st.query_row(
                    params![account_sql(scope.account), scope.region, name],
                    event_rule_row,
                )
                .optional()
            })
            .map_err(|e| internal("read event rule", e))?
            .transpose()
        })
        .await
    }

    async fn list_event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>> {
        self.read(move |c| {
            // Without a marker every rule is after seq 0; a marker that names no rule of the
            // scope leaves nothing (the subquery is NULL and the comparison false).
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                     WHERE account = ?1 AND region = ?2 AND seq > CASE WHEN ?3 IS NULL THEN 0 \
                     ELSE (SELECT seq FROM event_rules WHERE account = ?1 AND region = ?2 \
                     AND name = ?3) END ORDER BY seq LIMIT ?4"
                ))
                .and_then(|mut st| {
                    st.query_map(
                        params![account_sql(scope.account), scope.region, after, limit],
                        event_rule_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| internal("list event rules", e))?;
            rows.into_iter().collect()
        })
        .await
    }

    async fn update_event_rule(&self, rule: &EventRule) -> Result<()> {
        let rule = rule.clone();
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE event_rules SET events = ?4, enabled = ?5, target_kind = ?6, \
                     target_id = ?7, target_name = ?8, updated_at = ?9 \
                     WHERE account = ?1 AND region = ?2 AND name = ?3",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        account_sql(rule.scope.account),
                        rule.scope.region,
                        rule.name,
                        events_text(&rule.events),
                        rule.enabled,
                        rule.target.kind,
                        rule.target.id,
                        rule.target.name,
                        rule.updated_at.0,
                    ])
                })
                .map_err(|e| internal("update event rule", e))?;
            if changed == 0 {
                return Err(Error::not_found(Resource::EventRule, rule.name));
            }
            Ok(())
        })
        .await
    }

    async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.write(move |c| {
            let deleted = c
                .prepare_cached(
                    "DELETE FROM event_rules WHERE account = ?1 AND region = ?2 AND name = ?3",
                )
                .and_then(|mut st| {
                    st.execute(params![account_sql(scope.account), scope.region, name])
                })
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        Error::InvalidState {
                            name: name.clone(),
                            reason: format!(
                                "the event {name:?} is still subscribed to by a secret"
                            ),
                        }
                    } else {
                        internal("delete event rule", e)
                    }
                })?;
            if deleted == 0 {
                return Err(Error::not_found(Resource::EventRule, name));
            }
            Ok(())
        })
        .await
    }
}
