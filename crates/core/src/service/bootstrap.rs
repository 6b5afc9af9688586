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
    ///
    /// A first start that stopped between the account and its key (a crash) left the operator
    /// account alone and keyless: that start is finished here, with a key for that account.
    /// Nodes that share a store call this under the bootstrap lease (see
    /// [`super::lease::BOOTSTRAP_LEASE`]), so that one of them initialises it.
    pub async fn bootstrap(
        &self,
        key_id: Option<String>,
        key_secret: Option<Zeroizing<String>>,
    ) -> Result<Option<(AccountId, String, Zeroizing<String>)>> {
        let now = self.now();
        let account = match self.store.count_accounts().await? {
            0 => {
                let id = AccountId(
                    rand::rngs::OsRng.gen_range(1_000_000_000_000_000..10_000_000_000_000_000),
                );
                let account = Account {
                    id,
                    name: "admin".into(),
                    operator: true,
                    created_at: now,
                    account_number: Some(
                        self.bootstrap_account_number
                            .clone()
                            .unwrap_or_else(|| Account::derived_number(id)),
                    ),
                };
                self.store.create_account(&account).await?;
                account
            }
            1 => {
                let Some(account) = self.store.list_accounts().await?.into_iter().next() else {
                    return Ok(None);
                };
                if !account.operator || !self.store.list_access_keys(account.id).await?.is_empty() {
                    return Ok(None);
                }
                tracing::warn!(account = %account.id, "the operator account has no access key (a first start stopped half-way); creating its first key now");
                account
            }
            _ => return Ok(None),
        };
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
