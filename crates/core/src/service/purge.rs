//! The purge sweep the server runs in the background: secrets whose recovery window has ended,
//! and keys whose deletion date has come, are removed for good. Nothing a request does calls
//! it, which is why it is not part of the secret or key operations.

use super::Service;
use crate::error::Result;
use crate::model::*;

impl Service {
    /// Purges secrets whose deletion window has ended. Called periodically by the server.
    pub async fn purge_due(&self, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.store.purge_due(self.now(), limit).await
    }

    /// Deletes keys whose deletion date has come (their material is gone for good). Returns
    /// their scopes and ids.
    pub async fn purge_due_keys(&self, limit: u32) -> Result<Vec<(Scope, String)>> {
        let purged = self.store.purge_due_keys(self.now(), limit).await?;
        for (_, id) in &purged {
            self.forget_key_state(id);
        }
        Ok(purged)
    }
}
