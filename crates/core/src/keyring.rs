//! The bridge between the model and crypto: wraps key material under the root key, seals and
//! opens values with the associated data that binds them to their row, and caches unwrapped
//! key material so a read costs one AES unwrap of the data key, not two.

use std::collections::HashMap;
use std::sync::RwLock;

use coffer_crypto::{Envelope, SecretKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::*;

/// Builds associated data from fields, each prefixed with its length so that no two field
/// lists produce the same bytes (a version id containing a separator cannot forge another).
pub(crate) fn aad(domain: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for f in std::iter::once(domain.as_bytes()).chain(fields.iter().copied()) {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn key_aad(scope: &Scope, key_id: &str, version: &str) -> Vec<u8> {
    aad(
        "coffer/key-material/v1",
        &[
            scope.account.0.to_string().as_bytes(),
            scope.region.as_bytes(),
            key_id.as_bytes(),
            version.as_bytes(),
        ],
    )
}

/// The AAD of a secret version's value: account, region, secret id and version id.
pub fn value_aad(scope: &Scope, secret_id: &uuid::Uuid, version_id: &str) -> Vec<u8> {
    aad(
        "coffer/secret-value/v1",
        &[
            scope.account.0.to_string().as_bytes(),
            scope.region.as_bytes(),
            secret_id.as_bytes(),
            version_id.as_bytes(),
        ],
    )
}

/// The AAD of a database instance's admin password: account, region and instance id.
fn instance_aad(scope: &Scope, instance_id: &str) -> Vec<u8> {
    aad(
        "coffer/db-instance/v1",
        &[
            scope.account.0.to_string().as_bytes(),
            scope.region.as_bytes(),
            instance_id.as_bytes(),
        ],
    )
}

/// The root keys: `current` wraps everything new. While a root key rotation is under way,
/// `previous` still opens what it wrapped and the rewrap moves that, row by row, under
/// `current`.
struct Roots {
    current: SecretKey,
    previous: Option<SecretKey>,
}

fn access_aad(key_id: &str) -> Vec<u8> {
    aad("coffer/access-key/v1", &[key_id.as_bytes()])
}

/// Whether root-wrapped bytes were already under the current root, or moved under it now.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrapped {
    AlreadyCurrent,
    Moved(Vec<u8>),
}

pub struct Keyring {
    roots: RwLock<Roots>,
    /// Unwrapped key material by (key id, key version). Key ids are UUIDs, unique across
    /// scopes, and the material was unwrapped with its scope in the AAD.
    cache: RwLock<HashMap<(String, String), SecretKey>>,
}

impl Keyring {
    pub fn new(root: SecretKey) -> Self {
        Self {
            roots: RwLock::new(Roots {
                current: root,
                previous: None,
            }),
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn current_root(&self) -> SecretKey {
        match self.roots.read() {
            Ok(r) => r.current.clone(),
            Err(poisoned) => poisoned.into_inner().current.clone(),
        }
    }

    fn root_keys(&self) -> (SecretKey, Option<SecretKey>) {
        let r = match self.roots.read() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        (r.current.clone(), r.previous.clone())
    }

    /// Starts a root key rotation: `next` wraps everything from now on, and the root key in
    /// use so far only opens what it wrapped until [`Keyring::finish_root_rotation`].
    /// Starting again with the same `next` (a resumed rotation) changes nothing.
    pub fn begin_root_rotation(&self, next: SecretKey) {
        let mut r = match self.roots.write() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if r.current.ct_eq(&next) {
            return;
        }
        let old = std::mem::replace(&mut r.current, next);
        r.previous = Some(old);
    }

    /// Forgets the previous root key: nothing it wrapped is left.
    pub fn finish_root_rotation(&self) {
        let mut r = match self.roots.write() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        r.previous = None;
    }

    /// Whether a root key rotation is under way.
    pub fn rotating_root(&self) -> bool {
        self.root_keys().1.is_some()
    }

    /// Opens root-wrapped bytes with the current root key, else the previous one; says which.
    fn open_root<T>(
        &self,
        open: impl Fn(&SecretKey) -> std::result::Result<T, coffer_crypto::CryptoError>,
    ) -> Result<(T, bool)> {
        let (current, previous) = self.root_keys();
        match open(&current) {
            Ok(v) => Ok((v, true)),
            Err(e) => match previous {
                Some(p) => Ok((open(&p)?, false)),
                None => Err(e.into()),
            },
        }
    }

    /// New key material for (scope, key, version), returned wrapped by the root key.
    pub fn new_key_material(&self, scope: &Scope, key_id: &str, version: &str) -> Vec<u8> {
        let material = SecretKey::generate();
        let wrapped = self
            .current_root()
            .wrap(&key_aad(scope, key_id, version), &material);
        if let Ok(mut c) = self.cache.write() {
            c.insert((key_id.to_string(), version.to_string()), material);
        }
        wrapped
    }

    /// Material already unwrapped by this process, if any: lets a read skip loading the key.
    pub fn cached_material(&self, key_id: &str, version: &str) -> Option<SecretKey> {
        self.cache
            .read()
            .ok()
            .and_then(|c| c.get(&(key_id.to_string(), version.to_string())).cloned())
    }

    /// Drops every unwrapped version of a key (it was disabled or is going away).
    pub fn evict(&self, key_id: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.retain(|(id, _), _| id != key_id);
        }
    }

    /// The unwrapped material of one version of a key.
    pub fn material(&self, key: &KeyRecord, version: &str) -> Result<SecretKey> {
        let cache_key = (key.id.clone(), version.to_string());
        if let Some(k) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(&cache_key).cloned())
        {
            return Ok(k);
        }
        let kv = key
            .versions
            .iter()
            .find(|v| v.id == version)
            .ok_or_else(|| Error::internal(format!("key {} has no version {version}", key.id)))?;
        let aad = key_aad(&key.scope, &key.id, version);
        let (material, _) = self.open_root(|root| root.unwrap_key(&aad, &kv.wrapped_material))?;
        if let Ok(mut c) = self.cache.write() {
            c.insert(cache_key, material.clone());
        }
        Ok(material)
    }

    pub fn seal_value(
        &self,
        key: &KeyRecord,
        secret: &SecretRecord,
        version_id: &str,
        plaintext: &[u8],
    ) -> Result<SealedValue> {
        let material = self.material(key, &key.primary_version)?;
        let envelope = coffer_crypto::seal(
            &material,
            &value_aad(&secret.scope, &secret.id, version_id),
            plaintext,
        );
        Ok(SealedValue {
            key_id: key.id.clone(),
            key_version: key.primary_version.clone(),
            envelope,
        })
    }

    /// Seals a database instance's admin password under `key`, bound to the instance.
    pub fn seal_instance_password(
        &self,
        key: &KeyRecord,
        scope: &Scope,
        instance_id: &str,
        password: &[u8],
    ) -> Result<SealedValue> {
        let material = self.material(key, &key.primary_version)?;
        Ok(SealedValue {
            key_id: key.id.clone(),
            key_version: key.primary_version.clone(),
            envelope: coffer_crypto::seal(&material, &instance_aad(scope, instance_id), password),
        })
    }

    pub fn open_instance_password(
        &self,
        material: &SecretKey,
        instance: &DbInstance,
    ) -> Result<Zeroizing<Vec<u8>>> {
        Ok(coffer_crypto::open(
            material,
            &instance_aad(&instance.scope, &instance.id),
            &instance.admin_password.envelope,
        )?)
    }

    /// Opens a value with the material of the key version that sealed it.
    pub fn open_value(
        &self,
        material: &SecretKey,
        secret: &SecretRecord,
        version_id: &str,
        sealed: &SealedValue,
    ) -> Result<Zeroizing<Vec<u8>>> {
        Ok(coffer_crypto::open(
            material,
            &value_aad(&secret.scope, &secret.id, version_id),
            &sealed.envelope,
        )?)
    }

    /// The same value under another key: its data key is unwrapped with `from` and wrapped by
    /// `to`'s primary version; the value's ciphertext is not touched.
    pub fn rewrap_value(
        &self,
        from: &SecretKey,
        to: &KeyRecord,
        secret: &SecretRecord,
        version_id: &str,
        sealed: &SealedValue,
    ) -> Result<SealedValue> {
        let material = self.material(to, &to.primary_version)?;
        let envelope = coffer_crypto::rewrap(
            from,
            &material,
            &value_aad(&secret.scope, &secret.id, version_id),
            &sealed.envelope,
        )?;
        Ok(SealedValue {
            key_id: to.id.clone(),
            key_version: to.primary_version.clone(),
            envelope,
        })
    }

    /// Moves one version's wrapped material under the current root key (its plaintext
    /// material is unchanged, so nothing it sealed needs touching).
    pub fn rewrap_material(&self, key: &KeyRecord, version: &KeyVersion) -> Result<Rewrapped> {
        let aad = key_aad(&key.scope, &key.id, &version.id);
        let (material, current) =
            self.open_root(|root| root.unwrap_key(&aad, &version.wrapped_material))?;
        Ok(if current {
            Rewrapped::AlreadyCurrent
        } else {
            Rewrapped::Moved(self.current_root().wrap(&aad, &material))
        })
    }

    /// Access key secrets are sealed directly under the root key, bound to the key id.
    pub fn seal_access_secret(&self, key_id: &str, secret: &str) -> Vec<u8> {
        seal_access(&self.current_root(), key_id, secret.as_bytes())
    }

    pub fn open_access_secret(&self, key_id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let env = access_envelope(sealed)?;
        let aad = access_aad(key_id);
        Ok(self
            .open_root(|root| coffer_crypto::open(root, &aad, &env))?
            .0)
    }

    /// Moves an access key's sealed secret under the current root key.
    pub fn rewrap_access_secret(&self, key_id: &str, sealed: &[u8]) -> Result<Rewrapped> {
        let env = access_envelope(sealed)?;
        let aad = access_aad(key_id);
        let (secret, current) = self.open_root(|root| coffer_crypto::open(root, &aad, &env))?;
        Ok(if current {
            Rewrapped::AlreadyCurrent
        } else {
            Rewrapped::Moved(seal_access(&self.current_root(), key_id, &secret))
        })
    }
}

/// Stored as one blob: 4-byte length of the wrapped data key, then both parts.
fn seal_access(root: &SecretKey, key_id: &str, secret: &[u8]) -> Vec<u8> {
    let env = coffer_crypto::seal(root, &access_aad(key_id), secret);
    let mut out = (env.wrapped_data_key.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&env.wrapped_data_key);
    out.extend_from_slice(&env.ciphertext);
    out
}

fn access_envelope(sealed: &[u8]) -> Result<Envelope> {
    let bad = || Error::internal("access key secret blob is malformed");
    let len_bytes: [u8; 4] = sealed
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let rest = &sealed[4..];
    if rest.len() < len {
        return Err(bad());
    }
    Ok(Envelope {
        wrapped_data_key: rest[..len].to_vec(),
        ciphertext: rest[len..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_is_unambiguous() {
        assert_ne!(aad("d", &[b"a|b", b"c"]), aad("d", &[b"a", b"b|c"]));
        assert_ne!(aad("d", &[b"ab", b""]), aad("d", &[b"a", b"b"]));
    }

    #[test]
    fn access_secret_round_trip_and_binding() {
        let kr = Keyring::new(SecretKey::generate());
        let blob = kr.seal_access_secret("AK1", "s3cret");
        assert_eq!(&kr.open_access_secret("AK1", &blob).unwrap()[..], b"s3cret");
        assert!(kr.open_access_secret("AK2", &blob).is_err());
        assert!(kr.open_access_secret("AK1", &blob[..3]).is_err());
        assert!(kr.open_access_secret("AK1", &[0, 0, 0, 200, 1]).is_err());
    }
}
