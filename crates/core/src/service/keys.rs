//! Customer master keys: create, describe, list, enable and disable, scheduled deletion and
//! aliases. Dialects check their own wire rules (alias prefixes, window bounds) before
//! calling; the service keeps the invariants: a key that protects secrets is not deleted, the
//! default key stays, and a key that is not enabled opens and seals nothing.

use uuid::Uuid;

use super::{Service, DEFAULT_KEY_ALIAS};
use crate::error::{Error, Resource, Result};
use crate::model::*;

/// A new symmetric key.
#[derive(Debug, Default)]
pub struct NewKey {
    pub description: String,
    pub aliases: Vec<String>,
}

fn not_default_alias(alias: &str) -> Result<()> {
    if alias == DEFAULT_KEY_ALIAS {
        return Err(Error::invalid(
            "AliasName",
            format!("{DEFAULT_KEY_ALIAS} belongs to the default key"),
        ));
    }
    Ok(())
}

impl Service {
    /// A key by id or alias, whatever its state.
    pub async fn find_key(&self, scope: &Scope, reference: &str) -> Result<KeyRecord> {
        let found = if reference == DEFAULT_KEY_ALIAS {
            Some(self.default_key(scope).await?)
        } else if reference.starts_with("alias/") {
            self.store.get_key_by_alias(scope, reference).await?
        } else {
            self.store.get_key(scope, reference).await?
        };
        found.ok_or_else(|| Error::not_found(Resource::Key, reference))
    }

    pub async fn create_key(&self, scope: &Scope, req: NewKey) -> Result<KeyRecord> {
        for a in &req.aliases {
            not_default_alias(a)?;
        }
        let id = Uuid::new_v4().to_string();
        let version = Uuid::new_v4().to_string();
        let now = self.now();
        let key = KeyRecord {
            id: id.clone(),
            scope: scope.clone(),
            aliases: req.aliases,
            description: req.description,
            state: KeyState::Enabled,
            is_default: false,
            created_at: now,
            primary_version: version.clone(),
            versions: vec![KeyVersion {
                wrapped_material: self.keyring.new_key_material(scope, &id, &version),
                id: version,
                created_at: now,
            }],
        };
        self.store.create_key(&key).await?;
        Ok(key)
    }

    /// A page of the scope's keys, in creation order. The default key is created first so
    /// that it is always listed.
    pub async fn keys(&self, scope: &Scope, page: PageRequest) -> Result<Page<KeyRecord>> {
        self.default_key(scope).await?;
        self.store.list_keys(scope, page).await
    }

    async fn change_key(
        &self,
        scope: &Scope,
        reference: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<()>,
    ) -> Result<KeyRecord> {
        let mut key = self.find_key(scope, reference).await?;
        change(&mut key)?;
        self.store.update_key(&key).await?;
        if key.state == KeyState::Enabled {
            self.note_key_state(&key);
        } else {
            self.forget_key_state(&key.id);
        }
        Ok(key)
    }

    /// Enables or disables a key. A key pending deletion must have its deletion cancelled
    /// first.
    pub async fn set_key_enabled(
        &self,
        scope: &Scope,
        reference: &str,
        enabled: bool,
    ) -> Result<KeyRecord> {
        self.change_key(scope, reference, |k| {
            if let KeyState::PendingDeletion { .. } = k.state {
                return Err(Error::InvalidState {
                    name: k.id.clone(),
                    reason: format!("the key {} is pending deletion", k.id),
                });
            }
            k.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        })
        .await
    }

    /// Schedules the key's deletion after `days`. Refused for the default key and for a key
    /// that still protects a secret (in any state).
    pub async fn schedule_key_deletion(
        &self,
        scope: &Scope,
        reference: &str,
        days: i64,
    ) -> Result<KeyRecord> {
        let key = self.find_key(scope, reference).await?;
        if key.is_default {
            return Err(Error::InvalidState {
                name: key.id.clone(),
                reason: "the default key cannot be deleted".into(),
            });
        }
        if self.store.key_in_use(&key.id).await? {
            return Err(Error::InvalidState {
                name: key.id.clone(),
                reason: format!("the key {} still protects secrets", key.id),
            });
        }
        let delete_at = self.now().plus_days(days);
        self.change_key(scope, &key.id, |k| {
            k.state = KeyState::PendingDeletion { delete_at };
            Ok(())
        })
        .await
    }

    /// Cancels a scheduled deletion; the key comes back in `to` (each cloud has its own).
    pub async fn cancel_key_deletion(
        &self,
        scope: &Scope,
        reference: &str,
        to: KeyState,
    ) -> Result<KeyRecord> {
        self.change_key(scope, reference, |k| {
            if !matches!(k.state, KeyState::PendingDeletion { .. }) {
                return Err(Error::InvalidState {
                    name: k.id.clone(),
                    reason: format!("the key {} is not pending deletion", k.id),
                });
            }
            k.state = to;
            Ok(())
        })
        .await
    }

    pub async fn update_key_description(
        &self,
        scope: &Scope,
        reference: &str,
        description: String,
    ) -> Result<KeyRecord> {
        self.change_key(scope, reference, |k| {
            k.description = description;
            Ok(())
        })
        .await
    }

    /// Points `alias` at a key: a new alias (`replace` false: refused when it exists) or a
    /// moved one (`replace` true: refused when it does not).
    pub async fn set_alias(
        &self,
        scope: &Scope,
        alias: &str,
        reference: &str,
        replace: bool,
    ) -> Result<KeyRecord> {
        not_default_alias(alias)?;
        let holder = self.store.get_key_by_alias(scope, alias).await?;
        match (&holder, replace) {
            (Some(_), false) => {
                return Err(Error::AlreadyExists {
                    what: Resource::Key,
                    name: alias.to_string(),
                })
            }
            (None, true) => return Err(Error::not_found(Resource::Key, alias)),
            _ => {}
        }
        let target = self.find_key(scope, reference).await?;
        if let Some(old) = holder.filter(|h| h.id != target.id) {
            self.change_key(scope, &old.id, |k| {
                k.aliases.retain(|a| a != alias);
                Ok(())
            })
            .await?;
        }
        self.change_key(scope, &target.id, |k| {
            if !k.aliases.iter().any(|a| a == alias) {
                k.aliases.push(alias.to_string());
            }
            Ok(())
        })
        .await
    }

    pub async fn delete_alias(&self, scope: &Scope, alias: &str) -> Result<()> {
        not_default_alias(alias)?;
        let holder = self
            .store
            .get_key_by_alias(scope, alias)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Key, alias))?;
        self.change_key(scope, &holder.id, |k| {
            k.aliases.retain(|a| a != alias);
            Ok(())
        })
        .await?;
        Ok(())
    }
}
