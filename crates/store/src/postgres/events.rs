//! The event rules area on PostgreSQL: rules per scope, pages in creation order after a
//! marker, updates, and deletes that refuse a rule a secret still subscribes to (the foreign
//! key from subscriptions decides, so the check and the delete are one step on every node).

use async_trait::async_trait;
use coffer_core::error::Resource;
use coffer_core::store::EventRuleStore;
use coffer_core::*;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{
    account_from_sql, account_sql, all, col, exec, is_foreign_key, is_unique, limit_sql, one,
    pg_error,
};
use super::{pg_read, pg_write, PgStore};

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

/// Reads a row of [`EVENT_RULE_COLUMNS`].
pub(super) fn event_rule_row(r: &Row) -> Result<EventRule> {
    let events: String = col(r, 4)?;
    let events = events
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            SecretEvent::from_stored(e)
                .ok_or_else(|| Error::internal(format!("postgres: unknown event {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EventRule {
        id: col::<Uuid>(r, 0)?,
        scope: Scope {
            account: account_from_sql(col(r, 1)?),
            region: col(r, 2)?,
        },
        name: col(r, 3)?,
        events,
        enabled: col(r, 5)?,
        target: NotifyTarget {
            kind: col(r, 6)?,
            id: col(r, 7)?,
            name: col(r, 8)?,
        },
        created_at: Timestamp(col(r, 9)?),
        updated_at: Timestamp(col(r, 10)?),
    })
}

pub(super) async fn create_event_rule<C: GenericClient>(c: &C, rule: &EventRule) -> Result<()> {
    exec(
        c,
        &format!(
            "INSERT INTO event_rules ({EVENT_RULE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &rule.id,
            &account_sql(rule.scope.account),
            &rule.scope.region,
            &rule.name,
            &events_text(&rule.events),
            &rule.enabled,
            &rule.target.kind,
            &rule.target.id,
            &rule.target.name,
            &rule.created_at.0,
            &rule.updated_at.0,
        ],
    )
    .await
    .map_err(|e| {
        if is_unique(&e) {
            Error::AlreadyExists {
                what: Resource::EventRule,
                name: rule.name.clone(),
            }
        } else {
            pg_error("insert event rule", e)
        }
    })?;
    Ok(())
}

#[async_trait]
impl EventRuleStore for PgStore {
    async fn create_event_rule(&self, rule: &EventRule) -> Result<()> {
        pg_write!(self, "create event rule", |tx| create_event_rule(&tx, rule)).await
    }

    async fn get_event_rule(&self, scope: &Scope, name: &str) -> Result<Option<EventRule>> {
        pg_read!(self, "read event rule", |c| one(
            &c,
            "read event rule",
            &format!(
                "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                 WHERE account = $1 AND region = $2 AND name = $3"
            ),
            &[&account_sql(scope.account), &scope.region, &name],
            event_rule_row
        ))
        .await
    }

    async fn list_event_rules(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRule>> {
        // Without a marker every rule is after seq 0; a marker that names no rule of the
        // scope leaves nothing (the subquery is NULL and the comparison not true).
        pg_read!(self, "list event rules", |c| all(
            &c,
            "list event rules",
            &format!(
                "SELECT {EVENT_RULE_COLUMNS} FROM event_rules \
                 WHERE account = $1 AND region = $2 AND seq > CASE WHEN $3::text IS NULL THEN 0 \
                 ELSE (SELECT seq FROM event_rules WHERE account = $1 AND region = $2 \
                 AND name = $3) END ORDER BY seq LIMIT $4"
            ),
            &[
                &account_sql(scope.account),
                &scope.region,
                &after,
                &limit_sql(limit)
            ],
            event_rule_row
        ))
        .await
    }

    async fn update_event_rule(&self, rule: &EventRule) -> Result<()> {
        pg_write!(self, "update event rule", |tx| async {
            let changed = exec(
                &tx,
                "UPDATE event_rules SET events = $4, enabled = $5, target_kind = $6, \
                 target_id = $7, target_name = $8, updated_at = $9 \
                 WHERE account = $1 AND region = $2 AND name = $3",
                &[
                    &account_sql(rule.scope.account),
                    &rule.scope.region,
                    &rule.name,
                    &events_text(&rule.events),
                    &rule.enabled,
                    &rule.target.kind,
                    &rule.target.id,
                    &rule.target.name,
                    &rule.updated_at.0,
                ],
            )
            .await
            .map_err(|e| pg_error("update event rule", e))?;
            if changed == 0 {
                return Err(Error::not_found(Resource::EventRule, rule.name.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn delete_event_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        pg_write!(self, "delete event rule", |tx| async {
            let deleted = exec(
                &tx,
                "DELETE FROM event_rules WHERE account = $1 AND region = $2 AND name = $3",
                &[&account_sql(scope.account), &scope.region, &name],
            )
            .await
            .map_err(|e| {
                if is_foreign_key(&e) {
                    Error::InvalidState {
                        name: name.to_string(),
                        reason: format!("the event {name:?} is still subscribed to by a secret"),
                    }
                } else {
                    pg_error("delete event rule", e)
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
