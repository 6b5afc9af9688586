//! The rotation state machine (DESIGN.md, "Rotation"). A task is born with its `Pending`
//! version in one transaction (`create`), then runs `Set` (the database takes the new
//! password), `Test` (the new password logs in) and `Finish` (`Current` moves to the new
//! version and the old one becomes `Previous`). Each step is recorded before the next, so
//! a restart resumes a task where it stopped.
//!
//! The invariant: the database's password is always one coffer holds. Until `Finish` the
//! old credentials stay `Current` and the new ones wait as `Pending`; whichever the database
//! has, coffer has it. A `Set` the database refused before it ever took the password changed
//! nothing, so the task rolls back (the pending version goes); a `Set` whose answer was lost
//! may or may not have happened, and once a `Set` succeeded the database may hold the new
//! password whatever fails later, so in both cases the task is retried (setting the same
//! password again is harmless) until it succeeds.

use std::collections::HashSet;
use std::sync::Mutex;

use super::common::{attach_stage, prune_versions};
use super::{Service, VersionSelector, MAX_RETRIES};
use crate::database::DbFailure;
use crate::error::{Error, Resource, Result};
use crate::model::*;
use crate::store::SecretWrite;

/// First retry of a failed step after this long; each further failure doubles it.
const RETRY_BASE_SECS: i64 = 30;
/// Longest wait between retries of a task.
const RETRY_MAX_SECS: i64 = 3_600;
/// Longest wait before an automatic rotation that failed is tried again.
const FAILED_ROTATION_RETRY_MAX_SECS: i64 = 6 * 3_600;
/// Suffix of the account a double-users secret creates when it was given only one.
const CLONE_SUFFIX: &str = "_clone";

/// How long to wait after the `n`th failure in a row (n >= 1), capped at `max`.
pub(crate) fn backoff_secs(n: u32, max: i64) -> i64 {
    let doublings = n.saturating_sub(1).min(20);
    (RETRY_BASE_SECS << doublings).min(max)
}

/// Where a crash test stops rotations: after the `create`, `set` or `test` step is recorded,
/// the task waits forever, so the test can kill the server at exactly that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltPoint {
    Created,
    Set,
    Tested,
}

impl HaltPoint {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(HaltPoint::Created),
            "set" => Some(HaltPoint::Set),
            "test" => Some(HaltPoint::Tested),
            _ => None,
        }
    }
}

/// What the scheduler did with one secret or task.
#[derive(Debug)]
pub struct RotationOutcome {
    pub scope: Scope,
    pub secret_name: String,
    pub task: Option<RotationTask>,
    /// Why the rotation could not start, when it could not.
    pub error: Option<String>,
}

/// A task with the name of its secret, for the clouds that report tasks by secret name.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: RotationTask,
    pub secret_name: Option<String>,
}

/// Marks a task as being driven on this node; dropped when the drive ends.
pub(crate) struct Claim<'a> {
    set: &'a Mutex<HashSet<i64>>,
    id: i64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

/// The account a double-users rotation moves to: the other of the two, or a new one named
/// after the current account when the secret has only ever had one.
fn alternate_account(engine: DbEngine, current: &str, previous: Option<&str>) -> String {
    if let Some(p) = previous.filter(|p| *p != current) {
        return p.to_string();
    }
    if let Some(base) = current.strip_suffix(CLONE_SUFFIX) {
        if !base.is_empty() {
            return base.to_string();
        }
    }
    // MySQL allows 32 characters in an account name, PostgreSQL 63 bytes.
    let max = if engine.is_mysql_family() { 32 } else { 63 };
    let mut base: String = current.to_string();
    while base.len() + CLONE_SUFFIX.len() > max {
        base.pop();
    }
    format!("{base}{CLONE_SUFFIX}")
}

impl Service {
    /// For crash tests: every rotation stops for good once `point` is recorded.
    pub fn with_halt_after(mut self, point: HaltPoint) -> Self {
        self.halt_after = Some(point);
        self
    }

    async fn maybe_halt(&self, point: HaltPoint, task: &RotationTask) {
        if self.halt_after == Some(point) {
            tracing::warn!(task = task.id, point = ?point, "rotation halted for a crash test");
            std::future::pending::<()>().await;
        }
    }

    fn claim(&self, id: i64) -> Option<Claim<'_>> {
        let mut set = self.running_tasks.lock().ok()?;
        // `then`, not `then_some`: a claim made for a task already claimed would be dropped
        // here, under this lock, and its drop takes the lock again (and would unclaim the
        // task that is running).
        set.insert(id).then(|| Claim {
            set: &self.running_tasks,
            id,
        })
    }

    /// The credentials a managed version holds.
    async fn version_credentials(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<DbCredentials> {
        let sealed = self
            .store
            .read_value(secret.id, version_id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Version, version_id))?;
        let material = self
            .read_material(&secret.scope, &sealed.key_id, &sealed.key_version)
            .await?;
        let plain = self
            .keyring
            .open_value(&material, secret, version_id, &sealed)?;
        let text = std::str::from_utf8(&plain)
            .map_err(|_| Error::internal("a managed version is not UTF-8"))?;
        DbCredentials::decode(text).ok_or_else(|| {
            Error::internal(format!(
                "version {version_id} of {} holds no account credentials",
                secret.name
            ))
        })
    }

    async fn stage_credentials(
        &self,
        secret: &SecretRecord,
        stage: &Stage,
    ) -> Result<Option<DbCredentials>> {
        match secret.version_with_stage(stage) {
            Some(v) => Ok(Some(self.version_credentials(secret, &v.version_id).await?)),
            None => Ok(None),
        }
    }

    /// Starts a rotation of a managed secret and drives it as far as it goes now. A task
    /// still open for the secret is resumed instead of starting another; `version_id` names
    /// the new version (a repeat with the id of a version that a task made returns that task).
    pub async fn rotate(
        &self,
        scope: &Scope,
        name: &str,
        version_id: Option<String>,
    ) -> Result<RotationTask> {
        let task = self.start_rotation(scope, name, version_id).await?;
        if self.halt_after == Some(HaltPoint::Created) {
            // Held, so that the scheduler (of this node or another) does not run the task past
            // the halt either.
            let _claim = self.claim(task.id);
            let _lease = self.try_lease(&super::lease::task_lease(task.id)).await?;
            self.maybe_halt(HaltPoint::Created, &task).await;
        }
        self.drive_task(task).await
    }

    /// The `create` step: the pending version and the task, in one write.
    pub async fn start_rotation(
        &self,
        scope: &Scope,
        name: &str,
        version_id: Option<String>,
    ) -> Result<RotationTask> {
        for _ in 0..MAX_RETRIES {
            let mut secret = self.load_active(scope, name).await?;
            let SecretKind::Database {
                engine,
                sub_type,
                format,
                ..
            } = secret.kind.clone()
            else {
                return Err(Error::Unsupported(format!(
                    "the secret {name:?} is not a managed secret; only managed secrets rotate"
                )));
            };
            if secret.state == SecretState::Disabled {
                return Err(Error::Disabled {
                    what: Resource::Secret,
                    name: secret.name,
                });
            }
            let recent = self.store.secret_tasks(secret.id, 50).await?;
            if let Some(open) = recent.iter().find(|t| t.status == TaskStatus::Running) {
                return Ok(open.clone());
            }
            if let Some(v) = &version_id {
                if secret.version(v).is_some() {
                    return match recent.into_iter().find(|t| &t.version_id == v) {
                        Some(t) => Ok(t),
                        None => Err(Error::AlreadyExists {
                            what: Resource::Version,
                            name: v.clone(),
                        }),
                    };
                }
            }
            let current = self
                .stage_credentials(&secret, &Stage::Current)
                .await?
                .ok_or_else(|| Error::InvalidState {
                    name: secret.name.clone(),
                    reason: format!(
                        "the secret {:?} has no current credentials to rotate",
                        secret.name
                    ),
                })?;
            let account = match sub_type {
                DbSubType::SingleUser => current.account.clone(),
                DbSubType::DoubleUsers => {
                    let previous = self.stage_credentials(&secret, &Stage::Previous).await?;
                    alternate_account(
                        engine,
                        &current.account,
                        previous.as_ref().map(|p| p.account.as_str()),
                    )
                }
            };
            let creds = DbCredentials {
                account,
                password: self.database_password()?,
            };
            let value = SecretValue::Text(creds.encode(format));
            let new_id = version_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let now = self.now();
            secret.versions.push(VersionRecord {
                version_id: new_id.clone(),
                created_at: now,
                kind: value.kind(),
                stages: vec![],
                expires_at: None,
            });
            attach_stage(&mut secret, &Stage::Pending, &new_id);
            let removed = prune_versions(&mut secret, self.limits.max_versions_per_secret)?;
            // The schedule moves when a rotation starts, so that a task waiting to retry is
            // not started again by the scheduler.
            if let (true, Some(i)) = (secret.rotation.enabled, secret.rotation.interval_secs) {
                secret.rotation.next = Some(Timestamp(now.0 + i * 1000));
            }
            secret.updated_at = now;
            let key = self.usable_key(scope, &secret.key_id).await?;
            let sealed = self
                .keyring
                .seal_value(&key, &secret, &new_id, value.as_bytes())?;
            let task = RotationTask::start(
                super::databases::new_task_id(),
                scope.clone(),
                secret.id,
                TaskKind::Rotate,
                new_id.clone(),
                now,
            );
            let write = SecretWrite::Update {
                record: secret,
                new_values: vec![(new_id, sealed)],
                removed_versions: removed,
            };
            match self
                .store
                .write_task(&task, Some(self.with_replicas(write).await?))
                .await
            {
                Ok(()) => return Ok(task),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Runs a task's steps until it finishes, rolls back, or a step fails and the task waits
    /// for its next attempt. A task already being driven (on this node: the claim; on another
    /// node sharing the store: the task's lease) is left to that drive. Returns the task as it
    /// stands afterwards.
    pub async fn drive_task(&self, task: RotationTask) -> Result<RotationTask> {
        let Some(_claim) = self.claim(task.id) else {
            return Ok(task);
        };
        let Some(lease) = self.try_lease(&super::lease::task_lease(task.id)).await? else {
            return Ok(task);
        };
        // Read after the lease: a node that drove the task before (and died, or let go) may
        // have moved it on.
        let mut task = self
            .store
            .get_task(&task.scope, task.id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Task, task.id.to_string()))?;
        while task.status == TaskStatus::Running {
            // A lease that lapsed (the store unreachable for its whole time) may be another
            // node's by now: that node resumes the task from its last recorded step.
            if !lease.is_held() {
                break;
            }
            let Some(secret) = self
                .store
                .get_secret_by_id(&task.scope, task.secret_id)
                .await?
            else {
                task.status = TaskStatus::Failed;
                task.last_error = Some("the secret was deleted".into());
                task.updated_at = self.now();
                self.store.write_task(&task, None).await?;
                break;
            };
            if task.step == TaskStep::Finish {
                self.finish_task(&mut task).await?;
                continue;
            }
            let SecretKind::Database {
                instance, sub_type, ..
            } = &secret.kind
            else {
                return Err(Error::internal(
                    "a rotation task on a secret that is not managed",
                ));
            };
            // What the steps need; when it cannot be had (the instance's key disabled, say),
            // the task waits and says why instead of failing every scheduler pass.
            let prepared = async {
                let instance = self.db_instance(&task.scope, instance).await?;
                let target = self.db_target(&instance).await?;
                let pending = self.version_credentials(&secret, &task.version_id).await?;
                Ok::<_, Error>((target, pending, self.driver()?.clone()))
            }
            .await;
            let (target, pending, driver) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    let step = task.step;
                    self.retry_later(&mut task, step, format!("cannot start the step: {e}"))
                        .await?;
                    break;
                }
            };
            match task.step {
                TaskStep::Set => {
                    let applied = match (&task.kind, sub_type) {
                        (TaskKind::Provision { hosts, grants }, _) => {
                            driver
                                .create_account(
                                    &target,
                                    &pending.account,
                                    &pending.password,
                                    hosts,
                                    grants,
                                )
                                .await
                        }
                        (TaskKind::Rotate, _) => {
                            let current = self.stage_credentials(&secret, &Stage::Current).await?;
                            match current {
                                Some(c) if c.account != pending.account => {
                                    driver
                                        .clone_account(
                                            &target,
                                            &c.account,
                                            &pending.account,
                                            &pending.password,
                                        )
                                        .await
                                }
                                _ => {
                                    driver
                                        .set_password(&target, &pending.account, &pending.password)
                                        .await
                                }
                            }
                        }
                    };
                    if !lease.is_held() {
                        break;
                    }
                    match applied {
                        Ok(()) => {
                            task.applied = true;
                            self.advance(&mut task, TaskStep::Test).await?;
                            self.maybe_halt(HaltPoint::Set, &task).await;
                        }
                        // Refused the first time: the database never had the new password.
                        Err(DbFailure::Refused(reason)) if !task.applied => {
                            self.roll_back(&mut task, format!("setting the password: {reason}"))
                                .await?
                        }
                        // It took the password before (a later test failed): it may hold it
                        // now, so the pending version stays and the task retries.
                        Err(DbFailure::Refused(reason)) => {
                            self.retry_later(
                                &mut task,
                                TaskStep::Set,
                                format!("setting the password again: {reason}"),
                            )
                            .await?;
                            break;
                        }
                        Err(DbFailure::Unreachable(reason)) => {
                            self.retry_later(
                                &mut task,
                                TaskStep::Set,
                                format!(
                                    "database unreachable while setting the password: {reason}"
                                ),
                            )
                            .await?;
                            // The next attempt is the scheduler's.
                            break;
                        }
                    }
                }
                TaskStep::Test => {
                    let logged_in = driver
                        .login(&target, &pending.account, &pending.password)
                        .await;
                    if !lease.is_held() {
                        break;
                    }
                    match logged_in {
                        Ok(()) => {
                            self.advance(&mut task, TaskStep::Finish).await?;
                            self.maybe_halt(HaltPoint::Tested, &task).await;
                        }
                        // The database may hold the new password: never roll back from here;
                        // set it again and test again later.
                        Err(f) => {
                            self.retry_later(
                                &mut task,
                                TaskStep::Set,
                                format!("the new password does not log in: {}", f.reason()),
                            )
                            .await?;
                            break;
                        }
                    }
                }
                TaskStep::Finish => {}
            }
        }
        Ok(task)
    }

    async fn advance(&self, task: &mut RotationTask, step: TaskStep) -> Result<()> {
        task.step = step;
        task.updated_at = self.now();
        self.store.write_task(task, None).await
    }

    async fn retry_later(
        &self,
        task: &mut RotationTask,
        step: TaskStep,
        reason: String,
    ) -> Result<()> {
        let now = self.now();
        task.attempts += 1;
        task.step = step;
        task.next_attempt = Timestamp(now.0 + backoff_secs(task.attempts, RETRY_MAX_SECS) * 1000);
        task.last_error = Some(reason);
        task.updated_at = now;
        self.store.write_task(task, None).await
    }

    /// The database refused the new password, so it still has the old one: the pending
    /// version goes, the task fails and the secret records why (automatic rotation backs off).
    async fn roll_back(&self, task: &mut RotationTask, reason: String) -> Result<()> {
        task.attempts += 1;
        self.settle(task, |task, secret, now| {
            task.status = TaskStatus::Failed;
            task.last_error = Some(reason.clone());
            secret.versions.retain(|v| v.version_id != task.version_id);
            let r = &mut secret.rotation;
            r.failures = r.failures.saturating_add(1);
            r.last_error = Some(reason.clone());
            if let (true, Some(i)) = (r.enabled, r.interval_secs) {
                let wait = backoff_secs(r.failures, FAILED_ROTATION_RETRY_MAX_SECS).min(i);
                r.next = Some(Timestamp(now.0 + wait * 1000));
            }
            Ok(vec![task.version_id.clone()])
        })
        .await
    }

    /// The `finish` step: `Current` moves to the new version (the old current becomes
    /// `Previous`), `Pending` comes off, and the task succeeds, in one write.
    async fn finish_task(&self, task: &mut RotationTask) -> Result<()> {
        let max_versions = self.limits.max_versions_per_secret;
        self.settle(task, |task, secret, now| {
            if secret.version(&task.version_id).is_none() {
                task.status = TaskStatus::Failed;
                task.last_error = Some("the pending version was removed".into());
                return Ok(vec![]);
            }
            attach_stage(secret, &Stage::Current, &task.version_id);
            for v in secret.versions.iter_mut() {
                v.stages.retain(|s| *s != Stage::Pending);
            }
            let removed = prune_versions(secret, max_versions)?;
            let r = &mut secret.rotation;
            r.last = Some(now);
            r.failures = 0;
            r.last_error = None;
            if let (true, Some(i), TaskKind::Rotate) = (r.enabled, r.interval_secs, &task.kind) {
                r.next = Some(Timestamp(now.0 + i * 1000));
            }
            task.status = TaskStatus::Succeeded;
            task.last_error = None;
            Ok(removed)
        })
        .await
    }

    /// Ends a task together with the change `end` makes to its secret (returning the versions
    /// it removes), in one write, on fresh state until no concurrent writer intervenes. A
    /// secret deleted meanwhile fails the task alone.
    async fn settle(
        &self,
        task: &mut RotationTask,
        mut end: impl FnMut(&mut RotationTask, &mut SecretRecord, Timestamp) -> Result<Vec<String>>,
    ) -> Result<()> {
        let before = task.clone();
        for _ in 0..MAX_RETRIES {
            *task = before.clone();
            let now = self.now();
            task.updated_at = now;
            let Some(mut secret) = self
                .store
                .get_secret_by_id(&task.scope, task.secret_id)
                .await?
            else {
                task.status = TaskStatus::Failed;
                task.last_error = Some("the secret was deleted".into());
                return self.store.write_task(task, None).await;
            };
            let removed = end(task, &mut secret, now)?;
            secret.updated_at = now;
            let write = SecretWrite::Update {
                record: secret,
                new_values: vec![],
                removed_versions: removed,
            };
            match self
                .store
                .write_task(task, Some(self.with_replicas(write).await?))
                .await
            {
                Ok(()) => return Ok(()),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        *task = before;
        Err(Error::Conflict)
    }

    /// One pass of the scheduler: resumes tasks whose next attempt has come (including
    /// tasks a crash interrupted), then starts the automatic rotations that are due.
    pub async fn run_due_rotations(&self, limit: u32) -> Result<Vec<RotationOutcome>> {
        let mut outcomes = vec![];
        for task in self.store.due_tasks(self.now(), limit).await? {
            let secret_name = self
                .store
                .get_secret_by_id(&task.scope, task.secret_id)
                .await?
                .map(|s| s.name)
                .unwrap_or_default();
            let scope = task.scope.clone();
            let (task, error) = match self.drive_task(task).await {
                Ok(t) => (Some(t), None),
                Err(e) => (None, Some(e.to_string())),
            };
            outcomes.push(RotationOutcome {
                scope,
                secret_name,
                task,
                error,
            });
        }
        for (scope, name) in self.store.due_secret_rotations(self.now(), limit).await? {
            let (task, error) = match self.rotate(&scope, &name, None).await {
                Ok(t) => (Some(t), None),
                Err(e) => {
                    let reason = e.to_string();
                    self.postpone_rotation(&scope, &name, &reason).await?;
                    (None, Some(reason))
                }
            };
            outcomes.push(RotationOutcome {
                scope,
                secret_name: name,
                task,
                error,
            });
        }
        Ok(outcomes)
    }

    /// A due rotation that could not even start: recorded on the secret and tried again
    /// after a back-off, so that the scheduler does not retry it on every pass.
    async fn postpone_rotation(&self, scope: &Scope, name: &str, reason: &str) -> Result<()> {
        let now = self.now();
        let result = self
            .modify(scope, name, false, |s| {
                let r = &mut s.rotation;
                r.failures = r.failures.saturating_add(1);
                r.last_error = Some(reason.to_string());
                let wait = backoff_secs(r.failures, FAILED_ROTATION_RETRY_MAX_SECS);
                r.next = Some(Timestamp(now.0 + wait * 1000));
                Ok(true)
            })
            .await;
        match result {
            Ok(_) | Err(Error::NotFound { .. }) | Err(Error::InDeleteWindow { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A task of the scope, with its secret's name (none once the secret is gone).
    pub async fn task(&self, scope: &Scope, id: i64) -> Result<TaskView> {
        let task = self
            .store
            .get_task(scope, id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Task, id.to_string()))?;
        let secret_name = self
            .store
            .get_secret_by_id(scope, task.secret_id)
            .await?
            .map(|s| s.name);
        Ok(TaskView { task, secret_name })
    }

    /// The secret's tasks, newest first.
    pub async fn secret_tasks(
        &self,
        scope: &Scope,
        name: &str,
        limit: u32,
    ) -> Result<(SecretRecord, Vec<RotationTask>)> {
        let secret = self.load(scope, name).await?;
        let tasks = self.store.secret_tasks(secret.id, limit).await?;
        Ok((secret, tasks))
    }

    /// The scope's tasks with their secrets' names, newest first.
    pub async fn scope_tasks(
        &self,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<(RotationTask, String)>> {
        self.store.scope_tasks(scope, limit).await
    }

    /// The secret's newest task, if it has one.
    pub async fn latest_task(&self, secret: &SecretRecord) -> Result<Option<RotationTask>> {
        Ok(self
            .store
            .secret_tasks(secret.id, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Why rotation of a managed secret is broken, if it is: the last rotation failed, or
    /// the one under way is waiting to retry a failed step.
    pub async fn rotation_problem(&self, secret: &SecretRecord) -> Result<Option<String>> {
        if !secret.kind.is_managed() {
            return Ok(None);
        }
        if let Some(e) = &secret.rotation.last_error {
            return Ok(Some(e.clone()));
        }
        Ok(self
            .latest_task(secret)
            .await?
            .filter(|t| t.status == TaskStatus::Running)
            .and_then(|t| t.last_error))
    }

    /// The current credentials of a managed secret, read like any value.
    pub async fn current_credentials(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<(SecretRecord, DbCredentials)> {
        let read = self
            .get_value(scope, name, &VersionSelector::default())
            .await?;
        let text = std::str::from_utf8(read.value.as_bytes())
            .map_err(|_| Error::internal("a managed version is not UTF-8"))?;
        let creds = DbCredentials::decode(text)
            .ok_or_else(|| Error::internal("a managed version holds no credentials"))?;
        Ok((read.secret, creds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff_secs(1, 3600), 30);
        assert_eq!(backoff_secs(2, 3600), 60);
        assert_eq!(backoff_secs(5, 3600), 480);
        assert_eq!(backoff_secs(8, 3600), 3600);
        assert_eq!(backoff_secs(u32::MAX, 3600), 3600);
    }

    #[test]
    fn double_users_alternate_between_two_accounts() {
        assert_eq!(
            alternate_account(DbEngine::MariaDb, "app", None),
            "app_clone"
        );
        assert_eq!(
            alternate_account(DbEngine::MariaDb, "app", Some("app_clone")),
            "app_clone"
        );
        assert_eq!(
            alternate_account(DbEngine::MariaDb, "app_clone", Some("app")),
            "app"
        );
        assert_eq!(
            alternate_account(DbEngine::Postgres, "app_clone", None),
            "app"
        );
        assert_eq!(
            alternate_account(DbEngine::Postgres, "app", Some("app")),
            "app_clone"
        );
        let long = "a".repeat(30);
        let alt = alternate_account(DbEngine::MySql, &long, None);
        assert!(alt.len() <= 32 && alt.ends_with(CLONE_SUFFIX), "{alt}");
    }
}
