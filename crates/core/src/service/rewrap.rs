//! Rewrap: moves everything the root key wraps under a new root key, and every secret's data
//! keys under the newest material of its key, while the server keeps serving. Values are
//! never re-encrypted: only wrapped keys change.
//!
//! Every step is idempotent (a row already under the newest key is left alone) and every
//! write is a compare-and-swap or a revision-checked secret write, so a rewrap can run beside
//! live traffic, stop at any point and start again where the rows say it is. A root key
//! rotation keeps both root keys until a last pass finds nothing under the old one; only then
//! does the new key file replace the old.

use std::sync::Arc;

use uuid::Uuid;

use super::Service;
use crate::error::{Error, Resource, Result};
use crate::keyring::Rewrapped;
use crate::model::*;
use crate::store::SecretWrite;

/// Rows read per store call.
const BATCH: u32 = 256;
/// Passes over the root-wrapped rows before giving up on a store that keeps receiving rows
/// wrapped by the old root key (another node still running with it).
const ROOT_PASSES: usize = 3;

/// What to renew.
#[derive(Clone, Copy, Debug, Default)]
pub struct RewrapOptions {
    /// A new root key replaces the current one (it must come from a file).
    pub new_root_key: bool,
    /// Every enabled key gets new material first, so that every data key moves.
    pub new_key_material: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RewrapState {
    #[default]
    Idle,
    Running,
    Done,
    Failed,
}

impl RewrapState {
    pub fn as_str(self) -> &'static str {
        match self {
            RewrapState::Idle => "idle",
            RewrapState::Running => "running",
            RewrapState::Done => "done",
            RewrapState::Failed => "failed",
        }
    }
}

/// The last or current rewrap, for progress reports.
#[derive(Clone, Debug, Default)]
pub struct RewrapStatus {
    pub state: RewrapState,
    pub new_root_key: bool,
    pub new_key_material: bool,
    /// What is being walked now: `key material`, `root key`, `data keys` or `verify`.
    pub phase: &'static str,
    /// Rows of this phase seen so far, of `total`.
    pub done: u64,
    pub total: u64,
    /// Keys given new material, root-wrapped rows moved and secret versions moved, so far.
    pub keys_rotated: u64,
    pub root_wrapped_moved: u64,
    pub data_keys_moved: u64,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
}

impl Service {
    /// The rewrap under way, or the last one this process ran.
    pub fn rewrap_status(&self) -> RewrapStatus {
        self.rewrap.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether a root key rotation was begun and not finished (the server started with both
    /// key files, or a rewrap is under way).
    pub fn root_rotation_pending(&self) -> bool {
        self.keyring.rotating_root()
    }

    /// Starts a rewrap in the background and returns its first status; while one runs, returns
    /// that one's status instead. A root key rotation left unfinished is always completed.
    /// With several nodes on one store, one rewrap runs at a time across them (its lease);
    /// asking another node while it runs is refused.
    pub async fn start_rewrap(self: &Arc<Self>, opts: RewrapOptions) -> Result<RewrapStatus> {
        if self.rewrap_status().state == RewrapState::Running {
            return Ok(self.rewrap_status());
        }
        let Some(lease) = self.try_lease(super::lease::REWRAP_LEASE).await? else {
            if self.rewrap_status().state == RewrapState::Running {
                return Ok(self.rewrap_status());
            }
            return Err(Error::InvalidState {
                name: "rewrap".into(),
                reason: "a rewrap is running on another node sharing this store; follow it \
                         there (GET /coffer/v1/rewrap on that node), or ask again once it ended"
                    .into(),
            });
        };
        let mut status = self
            .rewrap
            .lock()
            .map_err(|_| Error::internal("rewrap status lock poisoned"))?;
        if status.state == RewrapState::Running {
            return Ok(status.clone());
        }
        if opts.new_root_key {
            let file = self.root_file.as_ref().ok_or_else(|| {
                Error::Unsupported(
                    "the root key comes from COFFER_ROOT_KEY, which coffer cannot replace; start \
                     the server with --root-key-file (or the default <data-dir>/root.key) to \
                     rotate it"
                        .into(),
                )
            })?;
            let next = file
                .prepare_next()
                .map_err(|e| Error::internal(format!("writing the new root key: {e}")))?;
            self.keyring.begin_root_rotation(next);
        }
        *status = RewrapStatus {
            state: RewrapState::Running,
            new_root_key: self.keyring.rotating_root(),
            new_key_material: opts.new_key_material,
            started_at: Some(self.now()),
            ..RewrapStatus::default()
        };
        let first = status.clone();
        drop(status);
        let service = Arc::clone(self);
        tokio::spawn(async move {
            // Held until the rewrap ends, whichever way.
            let _lease = lease;
            let outcome = service.run_rewrap(opts).await;
            let now = service.now();
            service.update_rewrap(|s| {
                s.finished_at = Some(now);
                match outcome {
                    Ok(()) => s.state = RewrapState::Done,
                    Err(e) => {
                        tracing::error!(error = %e, "rewrap failed; running it again resumes it");
                        s.state = RewrapState::Failed;
                        s.error = Some(e.to_string());
                    }
                }
            });
        });
        Ok(first)
    }

    fn update_rewrap(&self, f: impl FnOnce(&mut RewrapStatus)) {
        if let Ok(mut s) = self.rewrap.lock() {
            f(&mut s);
        }
    }

    fn enter_phase(&self, phase: &'static str, total: u64) {
        tracing::info!(phase, total, "rewrap phase");
        self.update_rewrap(|s| {
            s.phase = phase;
            s.done = 0;
            s.total = total;
        });
    }

    /// Runs every phase to the end; the public entry point for a rewrap in the foreground
    /// (tests, and the background task).
    pub async fn run_rewrap(&self, opts: RewrapOptions) -> Result<()> {
        if opts.new_key_material {
            self.renew_all_key_material().await?;
        }
        if self.keyring.rotating_root() {
            // The audit log first: once the rotation finishes, the old root key (and the log
            // key derived from it) is gone, so the log must already be keyed from the new one.
            if let Some(audit) = &self.audit {
                audit.root_key_changed(&self.keyring.current_root()).await?;
            }
            self.move_root_wrapped().await?;
        }
        self.move_all_data_keys().await?;
        if self.keyring.rotating_root() {
            self.finish_root_rotation().await?;
        }
        Ok(())
    }

    /// The next batch of keys of every scope after `cursor`, which moves past them; empty at
    /// the end.
    async fn next_keys(&self, cursor: &mut Option<String>) -> Result<Vec<KeyRecord>> {
        let keys = self.store.keys_after(cursor.as_deref(), BATCH).await?;
        if let Some(last) = keys.last() {
            *cursor = Some(last.id.clone());
        }
        Ok(keys)
    }

    async fn renew_all_key_material(&self) -> Result<()> {
        let counts = self.store.rewrap_counts().await?;
        self.enter_phase("key material", counts.key_versions);
        let mut after: Option<String> = None;
        loop {
            let keys = self.next_keys(&mut after).await?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                // Disabled keys and keys on their way out keep their material: nothing new is
                // sealed with them.
                let renewed = if key.state == KeyState::Enabled {
                    match self.rotate_key_material(&key.scope, &key.id).await {
                        Ok(_) => 1,
                        Err(Error::Disabled { .. } | Error::NotFound { .. }) => 0,
                        Err(e) => return Err(e),
                    }
                } else {
                    0
                };
                let versions = key.versions.len() as u64;
                self.update_rewrap(|s| {
                    s.done += versions;
                    s.keys_rotated += renewed;
                });
            }
        }
        Ok(())
    }

    /// One pass over key material and access key secrets, moving what the previous root key
    /// wraps under the current one. Returns how many rows moved.
    async fn move_root_wrapped(&self) -> Result<u64> {
        let counts = self.store.rewrap_counts().await?;
        self.enter_phase("root key", counts.key_versions + counts.access_keys);
        let mut moved = 0;
        let mut after: Option<String> = None;
        loop {
            let keys = self.next_keys(&mut after).await?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                for version in &key.versions {
                    let n = self.move_key_version(&key, version).await?;
                    moved += n;
                    self.update_rewrap(|s| {
                        s.done += 1;
                        s.root_wrapped_moved += n;
                    });
                }
            }
        }
        let mut after: Option<String> = None;
        loop {
            let access_keys = self
                .store
                .access_keys_after(after.as_deref(), BATCH)
                .await?;
            let Some(last) = access_keys.last() else {
                break;
            };
            after = Some(last.id.clone());
            for ak in access_keys {
                let n = self.move_access_secret(ak).await?;
                moved += n;
                self.update_rewrap(|s| {
                    s.done += 1;
                    s.root_wrapped_moved += n;
                });
            }
        }
        Ok(moved)
    }

    async fn move_key_version(&self, key: &KeyRecord, version: &KeyVersion) -> Result<u64> {
        let mut current = version.wrapped_material.clone();
        for _ in 0..super::MAX_RETRIES {
            let v = KeyVersion {
                wrapped_material: current.clone(),
                ..version.clone()
            };
            let Rewrapped::Moved(new) = self.keyring.rewrap_material(key, &v)? else {
                return Ok(0);
            };
            if self
                .store
                .replace_key_material(&key.id, &version.id, &current, &new)
                .await?
            {
                return Ok(1);
            }
            // Changed or gone since it was read: read it again.
            let fresh = self.store.get_key(&key.scope, &key.id).await?;
            match fresh.and_then(|k| k.versions.into_iter().find(|x| x.id == version.id)) {
                Some(x) => current = x.wrapped_material,
                None => return Ok(0),
            }
        }
        Err(Error::Conflict)
    }

    async fn move_access_secret(&self, ak: AccessKeyRecord) -> Result<u64> {
        let mut current = ak.sealed_secret;
        for _ in 0..super::MAX_RETRIES {
            let Rewrapped::Moved(new) = self.keyring.rewrap_access_secret(&ak.id, &current)? else {
                return Ok(0);
            };
            if self
                .store
                .replace_access_secret(&ak.id, &current, &new)
                .await?
            {
                return Ok(1);
            }
            match self.store.get_access_key(&ak.id).await? {
                Some(fresh) => current = fresh.sealed_secret,
                None => return Ok(0),
            }
        }
        Err(Error::Conflict)
    }

    async fn move_all_data_keys(&self) -> Result<()> {
        let counts = self.store.rewrap_counts().await?;
        self.enter_phase("data keys", counts.secrets);
        let mut after: Option<Uuid> = None;
        loop {
            let batch = self.store.secrets_after(after, BATCH).await?;
            let Some((_, last)) = batch.last() else { break };
            after = Some(*last);
            for (scope, id) in batch {
                let n = self.move_secret_data_keys(&scope, id).await?;
                self.update_rewrap(|s| {
                    s.done += 1;
                    s.data_keys_moved += n;
                });
            }
        }
        Ok(())
    }

    /// Moves every version of one secret whose data key is not under its key's primary
    /// version; returns how many moved. A secret deleted meanwhile has nothing to move.
    async fn move_secret_data_keys(&self, scope: &Scope, id: Uuid) -> Result<u64> {
        for _ in 0..super::MAX_RETRIES {
            let Some(secret) = self.store.get_secret_by_id(scope, id).await? else {
                return Ok(0);
            };
            let key = self.stored_key(scope, &secret.key_id).await?;
            let values = self.rewrap_versions(&secret, &key).await?;
            if values.is_empty() {
                return Ok(0);
            }
            let n = values.len() as u64;
            let removed = values.iter().map(|(v, _)| v.clone()).collect();
            let write = SecretWrite::Update {
                record: secret,
                new_values: values,
                removed_versions: removed,
            };
            match self.store.write_secret(write).await {
                Ok(()) => return Ok(n),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    async fn stored_key(&self, scope: &Scope, id: &str) -> Result<KeyRecord> {
        self.store
            .get_key(scope, id)
            .await?
            .ok_or_else(|| Error::internal(format!("key {id} of a stored value is missing")))
    }

    /// Each version of `secret` whose data key is not wrapped by `target`'s primary version,
    /// with its data key rewrapped so; the values' ciphertexts are unchanged.
    pub(super) async fn rewrap_versions(
        &self,
        secret: &SecretRecord,
        target: &KeyRecord,
    ) -> Result<Vec<(String, SealedValue)>> {
        let mut out = Vec::new();
        for v in &secret.versions {
            let sealed = self
                .store
                .read_value(secret.id, &v.version_id)
                .await?
                .ok_or_else(|| Error::not_found(Resource::Version, &v.version_id))?;
            if sealed.key_id == target.id && sealed.key_version == target.primary_version {
                continue;
            }
            let source = if sealed.key_id == target.id {
                target.clone()
            } else {
                self.stored_key(&secret.scope, &sealed.key_id).await?
            };
            let from = self.keyring.material(&source, &sealed.key_version)?;
            let moved = self
                .keyring
                .rewrap_value(&from, target, secret, &v.version_id, &sealed)?;
            out.push((v.version_id.clone(), moved));
        }
        Ok(out)
    }

    /// Confirms that nothing is left under the previous root key (moving stragglers written
    /// meanwhile), then makes the new key file the root key file and forgets the old key.
    async fn finish_root_rotation(&self) -> Result<()> {
        for _ in 0..ROOT_PASSES {
            let moved = self.move_root_wrapped().await?;
            self.update_rewrap(|s| s.phase = "verify");
            if moved == 0 {
                if let Some(file) = &self.root_file {
                    file.commit_next().map_err(|e| {
                        Error::internal(format!("installing the new root key: {e}"))
                    })?;
                }
                self.keyring.finish_root_rotation();
                tracing::info!("root key rotation finished; the old root key opens nothing");
                return Ok(());
            }
        }
        Err(Error::internal(
            "rows wrapped by the old root key keep appearing; is another node still running \
             with it?",
        ))
    }
}
