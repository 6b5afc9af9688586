//! Customer master keys: create, describe, list, enable and disable, scheduled deletion and
//! aliases. Dialects check their own wire rules (alias prefixes, window bounds) before
//! calling; the service keeps the invariants: a key that protects secrets is not deleted, the
//! default key stays, and a key that is not enabled opens and seals nothing.
//!
//! Also here: the default key each scope gets on first use, and the short-lived record of
//! which keys were seen enabled, which lets reads of values skip loading their key.

use coffer_crypto::SecretKey;
use uuid::Uuid;

use super::{Service, KEY_STATE_TTL_MS};
use crate::error::{Error, Resource, Result};
use crate::model::*;

/// Alias of the key each scope creates on first use for secrets that name no key.
pub const DEFAULT_KEY_ALIAS: &str = "alias/acs/secrets-manager";

/// The key id a ciphertext is judged under when it names no key of the caller's scope (it
/// does not parse, or its key is another scope's or gone). Key ids are UUIDs, so no key has
/// it; a policy that allows every key lets the operation go on and fail as it would have.
pub const UNKNOWN_KEY_ID: &str = "unknown";

/// A new symmetric key.
#[derive(Debug, Default)]
pub struct NewKey {
    pub description: String,
    pub aliases: Vec<String>,
    /// Automatic rotation interval in seconds; `None` leaves rotation off.
    pub rotation_interval_secs: Option<i64>,
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

    /// The id a policy judges a key reference by (a key id or an alias, `alias/...`): the id
    /// of the key of the scope it names, in whatever state, so that a policy on `key/<id>`
    /// holds however a request names the key. A reference that names no key of the scope is
    /// returned as it is, and so judged as a key of that name: the answer depends on the
    /// policy, not on what exists. Nothing is created (not even the default key).
    pub async fn key_id_to_authorize(&self, scope: &Scope, reference: &str) -> Result<String> {
        let found = if reference == DEFAULT_KEY_ALIAS {
            self.store.get_default_key(scope).await?
        } else if reference.starts_with("alias/") {
            self.store.get_key_by_alias(scope, reference).await?
        } else {
            self.store.get_key(scope, reference).await?
        };
        Ok(found.map_or_else(|| reference.to_string(), |k| k.id))
    }

    /// The id a policy judges a ciphertext blob by: the key of the scope that made it, or
    /// [`UNKNOWN_KEY_ID`] when the blob does not parse or names no key of the scope.
    pub async fn blob_key_id_to_authorize(&self, scope: &Scope, blob: &[u8]) -> Result<String> {
        let Some((key_id, _, _)) = decode_blob(blob) else {
            return Ok(UNKNOWN_KEY_ID.to_string());
        };
        Ok(match self.store.get_key(scope, &key_id).await? {
            Some(k) => k.id,
            None => UNKNOWN_KEY_ID.to_string(),
        })
    }

    pub async fn create_key(&self, scope: &Scope, req: NewKey) -> Result<KeyRecord> {
        for a in &req.aliases {
            not_default_alias(a)?;
        }
        let id = Uuid::new_v4().to_string();
        let version = Uuid::new_v4().to_string();
        let now = self.now();
        let rotation = match req.rotation_interval_secs {
            Some(secs) => KeyRotation {
                enabled: true,
                interval_secs: secs,
                next_at: Some(now.plus_millis(secs.saturating_mul(1000))),
            },
            None => KeyRotation::default(),
        };
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
            rotation,
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

    /// Moves a secret to another key: every version's data key is rewrapped under the new
    /// key, in one write; values are not re-encrypted. Both keys must be enabled.
    pub async fn change_secret_key(
        &self,
        scope: &Scope,
        name: &str,
        reference: &str,
    ) -> Result<SecretRecord> {
        let target = self.resolve_key(scope, reference).await?;
        for _ in 0..super::MAX_RETRIES {
            let mut secret = self.load_active(scope, name).await?;
            if secret.key_id == target.id {
                return Ok(secret);
            }
            // The key the values are under must be usable too.
            self.usable_key(scope, &secret.key_id).await?;
            let values = self.rewrap_versions(&secret, &target).await?;
            secret.key_id = target.id.clone();
            secret.updated_at = self.now();
            // Only the versions rewritten are replaced.
            let ids = values.iter().map(|(v, _)| v.clone()).collect();
            let write = crate::store::SecretWrite::Update {
                record: secret.clone(),
                new_values: values,
                removed_versions: ids,
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

    /// Turns automatic rotation on or off and changes its interval; `None` keeps a setting as
    /// it is. While rotation is on, the next one is an interval after this change.
    pub async fn set_key_rotation(
        &self,
        scope: &Scope,
        reference: &str,
        enabled: Option<bool>,
        interval_secs: Option<i64>,
    ) -> Result<KeyRecord> {
        let now = self.now();
        self.change_key(scope, reference, |k| {
            if let KeyState::PendingDeletion { .. } = k.state {
                return Err(Error::InvalidState {
                    name: k.id.clone(),
                    reason: format!("the key {} is pending deletion", k.id),
                });
            }
            let r = &mut k.rotation;
            r.enabled = enabled.unwrap_or(r.enabled);
            r.interval_secs = interval_secs.unwrap_or(r.interval_secs);
            r.next_at = r
                .enabled
                .then(|| now.plus_millis(r.interval_secs.saturating_mul(1000)));
            Ok(())
        })
        .await
    }

    /// Gives an enabled key new material: a new version becomes primary and seals from now
    /// on, while the older versions still open what they sealed. Moves the next automatic
    /// rotation one interval on.
    pub async fn rotate_key_material(&self, scope: &Scope, reference: &str) -> Result<KeyRecord> {
        let now = self.now();
        let version = Uuid::new_v4().to_string();
        let key = self.resolve_key(scope, reference).await?;
        let wrapped = self.keyring.new_key_material(&key.scope, &key.id, &version);
        self.change_key(scope, &key.id, |k| {
            k.versions.push(KeyVersion {
                id: version.clone(),
                created_at: now,
                wrapped_material: wrapped,
            });
            k.primary_version = version;
            if k.rotation.enabled {
                k.rotation.next_at =
                    Some(now.plus_millis(k.rotation.interval_secs.saturating_mul(1000)));
            }
            Ok(())
        })
        .await
    }

    /// Rotates up to `limit` keys whose automatic rotation is due, across every scope. A key
    /// that is not enabled waits: its rotation happens once it is enabled again. Returns how
    /// many keys were rotated.
    pub async fn rotate_due_keys(&self, limit: u32) -> Result<usize> {
        let due = self.store.due_key_rotations(self.now(), limit).await?;
        let mut rotated = 0;
        for (scope, id) in due {
            match self.rotate_key_material(&scope, &id).await {
                Ok(_) => rotated += 1,
                // Disabled or deleted since the sweep looked: nothing to do.
                Err(Error::Disabled { .. } | Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rotated)
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

// The default key, and what values are read and written under: the key-state cache that lets
// reads skip loading a key seen enabled a moment ago.
impl Service {
    /// The scope's default key, created on first use. Two racing creators both end up with the
    /// one that the store accepted.
    pub async fn default_key(&self, scope: &Scope) -> Result<KeyRecord> {
        if let Some(k) = self.store.get_default_key(scope).await? {
            return Ok(k);
        }
        let id = Uuid::new_v4().to_string();
        let version = Uuid::new_v4().to_string();
        let now = self.now();
        let key = KeyRecord {
            id: id.clone(),
            scope: scope.clone(),
            aliases: vec![DEFAULT_KEY_ALIAS.to_string()],
            description: "Default key for secrets that name no key".into(),
            state: KeyState::Enabled,
            is_default: true,
            created_at: now,
            primary_version: version.clone(),
            versions: vec![KeyVersion {
                wrapped_material: self.keyring.new_key_material(scope, &id, &version),
                id: version,
                created_at: now,
            }],
            rotation: KeyRotation::default(),
        };
        match self.store.create_key(&key).await {
            Ok(()) => Ok(key),
            Err(Error::AlreadyExists { .. }) => self
                .store
                .get_default_key(scope)
                .await?
                .ok_or_else(|| Error::internal("default key vanished after a create race")),
            Err(e) => Err(e),
        }
    }

    /// Resolves a key reference (a key id or an alias, `alias/...`) to a key that may be used.
    /// The default key's alias resolves even before the key exists, creating it.
    pub async fn resolve_key(&self, scope: &Scope, reference: &str) -> Result<KeyRecord> {
        let key = self.find_key(scope, reference).await?;
        match key.state {
            KeyState::Enabled => Ok(key),
            KeyState::Disabled | KeyState::PendingDeletion { .. } => Err(Error::Disabled {
                what: Resource::Key,
                name: key.id,
            }),
        }
    }

    /// The key a secret is encrypted under, refused unless it is enabled: a disabled key (or
    /// one pending deletion) neither opens nor seals values.
    pub(super) async fn usable_key(&self, scope: &Scope, id: &str) -> Result<KeyRecord> {
        let key = self
            .store
            .get_key(scope, id)
            .await?
            .ok_or_else(|| Error::internal(format!("key {id} of a stored value is missing")))?;
        self.note_key_state(&key);
        match key.state {
            KeyState::Enabled => Ok(key),
            _ => Err(Error::Disabled {
                what: Resource::Key,
                name: key.id,
            }),
        }
    }

    fn note_key_state(&self, key: &KeyRecord) {
        if let Ok(mut m) = self.enabled_keys.lock() {
            if key.state == KeyState::Enabled {
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(key.id.clone(), self.now());
            } else {
                m.remove(&key.id);
            }
        }
    }

    pub(super) fn forget_key_state(&self, key_id: &str) {
        if let Ok(mut m) = self.enabled_keys.lock() {
            m.remove(key_id);
        }
        self.keyring.evict(key_id);
    }

    /// The material that opens a stored value. Reads are the hot path: a key seen enabled a
    /// moment ago and already unwrapped is used without loading it again.
    pub(super) async fn read_material(
        &self,
        scope: &Scope,
        key_id: &str,
        version: &str,
    ) -> Result<SecretKey> {
        let fresh = self
            .enabled_keys
            .lock()
            .ok()
            .and_then(|m| m.get(key_id).copied())
            .is_some_and(|at| self.now().0 - at.0 < KEY_STATE_TTL_MS);
        if fresh {
            if let Some(m) = self.keyring.cached_material(key_id, version) {
                return Ok(m);
            }
        }
        let key = self.usable_key(scope, key_id).await?;
        self.keyring.material(&key, version)
    }
}

/// An encryption context as the KMS APIs send it: JSON text of an object whose values are
/// strings. `None` when the text is not one.
pub fn parse_encryption_context(text: &str) -> Option<Vec<(String, String)>> {
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The first bytes of every ciphertext blob coffer hands out, and its format version.
const BLOB_MAGIC: &[u8; 4] = b"cfk1";

/// A ciphertext blob as the KMS operations hand it out: it names the key and key version that
/// made it, so Decrypt needs no key id (Alibaba's KMS API reference):
/// `cfk1 | len | key id | len | version id | AES-256-GCM(nonce, ciphertext, tag)`.
fn encode_blob(key_id: &str, version: &str, sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + key_id.len() + version.len() + sealed.len());
    out.extend_from_slice(BLOB_MAGIC);
    for part in [key_id, version] {
        out.push(part.len() as u8);
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(sealed);
    out
}

/// Splits a blob into key id, version id and the sealed bytes; `None` when it is not one.
fn decode_blob(blob: &[u8]) -> Option<(String, String, &[u8])> {
    let mut rest = blob.strip_prefix(BLOB_MAGIC.as_slice())?;
    let mut parts = Vec::with_capacity(2);
    for _ in 0..2 {
        let (&len, tail) = rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || tail.len() < len {
            return None;
        }
        parts.push(String::from_utf8(tail[..len].to_vec()).ok()?);
        rest = &tail[len..];
    }
    let version = parts.pop()?;
    let key = parts.pop()?;
    Some((key, version, rest))
}

/// What a blob is bound to: the key version and the caller's encryption context, in a
/// canonical order so that the same pairs in another order are the same context.
fn data_aad(key: &KeyRecord, version: &str, context: &[(String, String)]) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = context.iter().collect();
    pairs.sort();
    let mut fields: Vec<&[u8]> = vec![key.id.as_bytes(), version.as_bytes()];
    for (k, v) in &pairs {
        fields.push(k.as_bytes());
        fields.push(v.as_bytes());
    }
    crate::keyring::aad("coffer/kms-data/v1", &fields)
}

/// The result of a decrypt: the key and version that opened the blob, and the plaintext.
/// `Debug` leaves the plaintext out.
pub struct Opened {
    pub key: KeyRecord,
    pub version: String,
    pub plaintext: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("key", &self.key.id)
            .field("version", &self.version)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

fn bad_blob() -> Error {
    Error::invalid(
        "CiphertextBlob",
        "it is not a ciphertext of a key of this account and region, or it was changed, or the encryption context differs",
    )
}

impl Service {
    /// Encrypts `plaintext` under the key's primary version, bound to `context`. Returns the
    /// key (resolved from the reference) and the blob.
    pub async fn encrypt(
        &self,
        scope: &Scope,
        reference: &str,
        plaintext: &[u8],
        context: &[(String, String)],
    ) -> Result<(KeyRecord, Vec<u8>)> {
        let key = self.resolve_key(scope, reference).await?;
        let material = self.keyring.material(&key, &key.primary_version)?;
        let sealed = material.encrypt(&data_aad(&key, &key.primary_version, context), plaintext);
        let blob = encode_blob(&key.id, &key.primary_version, &sealed);
        Ok((key, blob))
    }

    /// Opens a blob made by [`Service::encrypt`] in this scope with the same context. Any
    /// blob that does not open (another scope's key, a changed byte, another context) gets
    /// the same answer, so a failure tells nothing about other accounts' keys.
    pub async fn decrypt(
        &self,
        scope: &Scope,
        blob: &[u8],
        context: &[(String, String)],
    ) -> Result<Opened> {
        let (key_id, version, sealed) = decode_blob(blob).ok_or_else(bad_blob)?;
        let key = match self.store.get_key(scope, &key_id).await? {
            Some(k) => k,
            None => return Err(bad_blob()),
        };
        if key.state != KeyState::Enabled {
            return Err(Error::Disabled {
                what: Resource::Key,
                name: key.id,
            });
        }
        if !key.versions.iter().any(|v| v.id == version) {
            return Err(bad_blob());
        }
        let material = self.keyring.material(&key, &version)?;
        let plaintext = material
            .decrypt(&data_aad(&key, &version, context), sealed)
            .map_err(|_| bad_blob())?;
        Ok(Opened {
            key,
            version,
            plaintext,
        })
    }

    /// A fresh data key of `len` bytes: its plaintext and its blob under the key.
    pub async fn generate_data_key(
        &self,
        scope: &Scope,
        reference: &str,
        len: usize,
        context: &[(String, String)],
    ) -> Result<(KeyRecord, zeroize::Zeroizing<Vec<u8>>, Vec<u8>)> {
        let mut data_key = zeroize::Zeroizing::new(vec![0u8; len]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data_key);
        let (key, blob) = self.encrypt(scope, reference, &data_key, context).await?;
        Ok((key, data_key, blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_refuse_garbage() {
        let blob = encode_blob("key-1", "ver-9", b"sealed-bytes");
        let (k, v, rest) = decode_blob(&blob).expect("decodes");
        assert_eq!(
            (k.as_str(), v.as_str(), rest),
            ("key-1", "ver-9", &b"sealed-bytes"[..])
        );
        for bad in [
            &b""[..],
            b"cfk",
            b"cfk2\x01a\x01bxyz",
            b"cfk1\x00\x01b",
            b"cfk1\x05ab",
            b"cfk1\x01a\x09b",
        ] {
            assert!(decode_blob(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_of_a_decrypt_result_hides_the_plaintext() {
        let opened = Opened {
            key: KeyRecord {
                id: "key-1".into(),
                scope: Scope {
                    account: AccountId(1),
                    region: "r".into(),
                },
                aliases: vec![],
                description: String::new(),
                state: KeyState::Enabled,
                is_default: false,
                created_at: Timestamp(0),
                primary_version: "v".into(),
                versions: vec![],
                rotation: KeyRotation::default(),
            },
            version: "v".into(),
            plaintext: zeroize::Zeroizing::new(b"plain-marker".to_vec()),
        };
        let shown = format!("{opened:?}");
        assert!(shown.contains("key-1"), "{shown}");
        assert!(!shown.contains("plain-marker"), "{shown}");
        assert!(
            !shown.contains(&format!("{:?}", b"plain-marker")[1..20]),
            "{shown}"
        );
    }
}
