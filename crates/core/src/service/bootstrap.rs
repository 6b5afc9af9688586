//! What a server does when it starts, before it serves anyone: check that the root key it was
//! given opens what the store holds, and on an empty store create the operator account with
//! its first admin key. Separate because it runs once per start, not per request.

use rand::Rng;
use zeroize::Zeroizing;

use super::access::{generate_access_key_id, generate_access_key_secret};
use super::Service;
use crate::error::{Error, Result};
use crate::model::*;

impl Service {
    /// Checks that the root key opens this store's keys and access keys: a wrong key file
    /// stops the start with a clear message instead of failing every request later.
    pub async fn check_root_key(&self) -> Result<()> {
        for key in self.store.keys_after(None, 1).await? {
            for v in &key.versions {
                self.keyring.rewrap_material(&key, v).map_err(|_| {
                    Error::internal(format!(
                        "the root key does not open the material of key {} (wrong key file, or \
                         one replaced by a root key rotation)",
                        key.id
                    ))
                })?;
            }
        }
        for ak in self.store.access_keys_after(None, 1).await? {
            self.keyring
                .open_access_secret(&ak.id, &ak.sealed_secret)
                .map_err(|_| {
                    Error::internal(format!(
                        "the root key does not open the secret of access key {} (wrong key file, \
                     or one replaced by a root key rotation)",
                        ak.id
                    ))
                })?;
        }
        Ok(())
    }

    /// On an empty store, creates the admin account and its first access key. The key id and
    /// secret come from the caller when given, else are generated. Returns the account and the
    /// credentials when it created them, `None` when the store was already initialised.
    pub async fn bootstrap(
        &self,
        key_id: Option<String>,
        key_secret: Option<Zeroizing<String>>,
    ) -> Result<Option<(AccountId, String, Zeroizing<String>)>> {
        if self.store.count_accounts().await? > 0 {
            return Ok(None);
        }
        let now = self.now();
        let account = Account {
            id: AccountId(
                rand::rngs::OsRng.gen_range(1_000_000_000_000_000..10_000_000_000_000_000),
            ),
            name: "admin".into(),
            operator: true,
            created_at: now,
        };
        self.store.create_account(&account).await?;
        let id = key_id.unwrap_or_else(generate_access_key_id);
        let secret = key_secret.unwrap_or_else(generate_access_key_secret);
        self.store
            .create_access_key(&AccessKeyRecord {
                id: id.clone(),
                account: account.id,
                sealed_secret: self.keyring.seal_access_secret(&id, &secret),
                enabled: true,
                admin: true,
                created_at: now,
            })
            .await?;
        Ok(Some((account.id, id, secret)))
    }
}
