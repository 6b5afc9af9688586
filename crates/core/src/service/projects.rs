//! Projects: the 32-hex id Huawei's API puts in every request path, naming an account and a
//! region at once. An account has at most one project per region, created with the account
//! or when first needed. Kept apart from accounts because only the Huawei dialect addresses
//! requests by project; the other clouds name the region and the caller's key instead.

use super::{Service, MAX_PROJECTS_REMEMBERED, PROJECT_TTL_MS};
use crate::error::{Error, Result};
use crate::model::*;

impl Service {
    /// The account's project in `scope.region`, created when it has none. `wanted` names the
    /// id to create (it must be 32 lower-case hex characters); without it a random id is drawn.
    /// Returns the project and whether it was created.
    pub async fn ensure_project(
        &self,
        scope: &Scope,
        wanted: Option<&str>,
    ) -> Result<(Project, bool)> {
        if let Some(p) = self
            .store
            .list_projects(scope.account)
            .await?
            .into_iter()
            .find(|p| p.scope.region == scope.region)
        {
            return Ok((p, false));
        }
        let id = match wanted {
            Some(id) if is_project_id(id) => id.to_string(),
            Some(_) => {
                return Err(Error::invalid(
                    "project_id",
                    "a project id is 32 lower-case hexadecimal characters",
                ))
            }
            None => {
                let mut bytes = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        let project = Project {
            id,
            scope: scope.clone(),
        };
        self.store.create_project(&project).await?;
        Ok((project, true))
    }

    /// The project `id`, from this node's memory when it was read less than
    /// [`PROJECT_TTL_MS`] ago. Only found projects are kept, so a project created on another
    /// node is found at once.
    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        let now = self.now();
        let fresh = self.projects.lock().ok().and_then(|m| {
            m.get(id)
                .filter(|(at, _)| now.0 - at.0 < PROJECT_TTL_MS)
                .map(|(_, p)| p.clone())
        });
        if fresh.is_some() {
            return Ok(fresh);
        }
        let found = self.store.get_project(id).await?;
        if let (Some(p), Ok(mut m)) = (&found, self.projects.lock()) {
            if m.len() >= MAX_PROJECTS_REMEMBERED {
                m.clear();
            }
            m.insert(id.to_string(), (now, p.clone()));
        }
        Ok(found)
    }

    /// Forgets the projects of `account` (deleted on this node).
    pub(super) fn forget_projects(&self, account: AccountId) {
        if let Ok(mut m) = self.projects.lock() {
            m.retain(|_, (_, p)| p.scope.account != account);
        }
    }

    pub async fn projects(&self, account: AccountId) -> Result<Vec<Project>> {
        self.store.list_projects(account).await
    }
}

/// Huawei project ids are 32 lower-case hexadecimal characters.
pub fn is_project_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
