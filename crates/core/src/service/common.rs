//! Helpers that several areas of the service share: loading a secret (or refusing one that
//! waits for deletion), changing it and retrying until no other writer got in between, the
//! error for a name that is taken, and the stage and version bookkeeping that both values
//! written by hand and rotation do. It imports no area module, so the areas can lean on it
//! without leaning on each other.

use super::{Service, MAX_RETRIES};
use crate::error::{Error, Resource, Result};
use crate::model::*;
use crate::store::SecretWrite;

impl Service {
    pub(super) async fn load(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        self.store
            .get_secret(scope, name)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Secret, name))
    }

    pub(super) async fn load_active(&self, scope: &Scope, name: &str) -> Result<SecretRecord> {
        let rec = self.load(scope, name).await?;
        if rec.is_pending_delete() {
            return Err(Error::InDeleteWindow { name: rec.name });
        }
        Ok(rec)
    }

    /// Runs `change` on fresh state until it commits without a concurrent change in between.
    /// `change` returns `Ok(false)` when there is nothing to write.
    pub(super) async fn modify(
        &self,
        scope: &Scope,
        name: &str,
        allow_pending: bool,
        mut change: impl FnMut(&mut SecretRecord) -> Result<bool>,
    ) -> Result<SecretRecord> {
        for _ in 0..MAX_RETRIES {
            let mut secret = if allow_pending {
                self.load(scope, name).await?
            } else {
                self.load_active(scope, name).await?
            };
            if !change(&mut secret)? {
                return Ok(secret);
            }
            secret.updated_at = self.now();
            let write = SecretWrite::Update {
                record: secret.clone(),
                new_values: vec![],
                removed_versions: vec![],
            };
            match self
                .store
                .write_secret(self.with_replicas(write).await?)
                .await
            {
                Ok(()) => {
                    secret.revision += 1;
                    return Ok(secret);
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }
}

pub(super) fn name_taken(existing: SecretRecord) -> Error {
    if existing.is_pending_delete() {
        Error::InDeleteWindow {
            name: existing.name,
        }
    } else {
        Error::AlreadyExists {
            what: Resource::Secret,
            name: existing.name,
        }
    }
}

/// Puts `stage` on `version_id`, taking it off any other version. Moving `Current` makes the
/// version that held it `Previous`.
pub(super) fn attach_stage(secret: &mut SecretRecord, stage: &Stage, version_id: &str) {
    let old_holder = secret
        .version_with_stage(stage)
        .map(|v| v.version_id.clone());
    if old_holder.as_deref() == Some(version_id) {
        return;
    }
    for v in secret.versions.iter_mut() {
        v.stages.retain(|s| s != stage);
    }
    if let Some(v) = secret
        .versions
        .iter_mut()
        .find(|v| v.version_id == version_id)
    {
        v.stages.push(stage.clone());
    }
    if *stage == Stage::Current {
        if let Some(old) = old_holder {
            attach_stage(secret, &Stage::Previous, &old);
        }
    }
}

/// Drops the oldest versions without stages until at most `max` remain. Returns their ids.
pub(super) fn prune_versions(secret: &mut SecretRecord, max: usize) -> Result<Vec<String>> {
    let mut removed = vec![];
    while secret.versions.len() > max {
        let idx = secret
            .versions
            .iter()
            .position(|v| v.stages.is_empty())
            .ok_or_else(|| Error::LimitExceeded {
                what: format!(
                    "a secret keeps at most {max} versions and every version carries a stage"
                ),
            })?;
        removed.push(secret.versions.remove(idx).version_id);
    }
    Ok(removed)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use uuid::Uuid;

    pub(in crate::service) fn secret_with(versions: &[(&str, &[Stage])]) -> SecretRecord {
        SecretRecord {
            id: Uuid::nil(),
            scope: Scope {
                account: AccountId(1),
                region: "r".into(),
            },
            name: "n".into(),
            kind: SecretKind::Generic,
            description: String::new(),
            key_id: "k".into(),
            tags: vec![],
            state: SecretState::Enabled,
            rotation: RotationPolicy::default(),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            revision: 0,
            versions: versions
                .iter()
                .map(|(id, st)| VersionRecord {
                    version_id: id.to_string(),
                    created_at: Timestamp(0),
                    kind: ValueKind::Text,
                    stages: st.to_vec(),
                    expires_at: None,
                })
                .collect(),
        }
    }

    fn holder(s: &SecretRecord, st: &Stage) -> Option<String> {
        s.version_with_stage(st).map(|v| v.version_id.clone())
    }

    #[test]
    fn moving_current_makes_old_current_previous() {
        let mut s = secret_with(&[
            ("v1", &[Stage::Previous]),
            ("v2", &[Stage::Current]),
            ("v3", &[]),
        ]);
        attach_stage(&mut s, &Stage::Current, "v3");
        assert_eq!(holder(&s, &Stage::Current).as_deref(), Some("v3"));
        assert_eq!(holder(&s, &Stage::Previous).as_deref(), Some("v2"));
        assert!(s.version("v1").unwrap().stages.is_empty());
        // Re-attaching to the holder changes nothing.
        attach_stage(&mut s, &Stage::Current, "v3");
        assert_eq!(holder(&s, &Stage::Previous).as_deref(), Some("v2"));
    }

    #[test]
    fn custom_stage_moves_alone() {
        let mut s = secret_with(&[
            ("v1", &[Stage::Custom("x".into()), Stage::Current]),
            ("v2", &[]),
        ]);
        attach_stage(&mut s, &Stage::Custom("x".into()), "v2");
        assert_eq!(
            holder(&s, &Stage::Custom("x".into())).as_deref(),
            Some("v2")
        );
        assert_eq!(holder(&s, &Stage::Current).as_deref(), Some("v1"));
        assert_eq!(holder(&s, &Stage::Previous), None);
    }

    #[test]
    fn pruning_drops_oldest_unlabelled_or_refuses() {
        let mut s = secret_with(&[
            ("a", &[]),
            ("b", &[Stage::Previous]),
            ("c", &[]),
            ("d", &[Stage::Current]),
        ]);
        assert_eq!(prune_versions(&mut s, 3).unwrap(), vec!["a".to_string()]);
        assert_eq!(prune_versions(&mut s, 2).unwrap(), vec!["c".to_string()]);
        assert!(matches!(
            prune_versions(&mut s, 1),
            Err(Error::LimitExceeded { .. })
        ));
    }
}
