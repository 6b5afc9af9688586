//! What the rotation state machine asks of a database server. The service decides when and
//! with which password; a [`DatabaseDriver`] (in `coffer-rotation`) speaks each engine's
//! protocol. Keeping the trait here lets the core run and test rotations without knowing SQL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::model::DbEngine;

/// Where a database is and how its administrator logs in.
pub struct DbTarget {
    pub instance: String,
    pub engine: DbEngine,
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: Zeroizing<String>,
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTarget")
            .field("instance", &self.instance)
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin_user", &self.admin_user)
            .finish_non_exhaustive()
    }
}

/// Why a database step failed. The difference matters to the state machine: a refused
/// statement changed nothing, so a rotation can roll back; after a lost connection the
/// database may or may not have applied it, so the rotation must be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFailure {
    /// No connection, or it broke before an answer came.
    Unreachable(String),
    /// The server answered with an error: wrong credentials, no such account, no privilege.
    Refused(String),
}

impl DbFailure {
    pub fn reason(&self) -> &str {
        match self {
            DbFailure::Unreachable(r) | DbFailure::Refused(r) => r,
        }
    }
    pub fn into_error(self, instance: &str) -> crate::Error {
        let reachable = matches!(self, DbFailure::Refused(_));
        crate::Error::Database {
            instance: instance.to_string(),
            reason: match self {
                DbFailure::Unreachable(r) => format!("unreachable: {r}"),
                DbFailure::Refused(r) => r,
            },
            reachable,
        }
    }
}

pub type DbResult<T> = Result<T, DbFailure>;

/// One grant the account of a product secret is created with (Tencent `PrivilegesList`).
/// `privileges` are SQL privilege keywords, checked against the engine's list by the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub level: GrantLevel,
    pub privileges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantLevel {
    Global,
    Database(String),
    Table { database: String, table: String },
}

#[async_trait]
pub trait DatabaseDriver: Send + Sync + 'static {
    /// Logs in as the administrator and checks it may manage accounts.
    async fn check_admin(&self, target: &DbTarget) -> DbResult<()>;
    /// Whether the account exists.
    async fn account_exists(&self, target: &DbTarget, account: &str) -> DbResult<bool>;
    /// Sets an existing account's password. Idempotent: setting the same password again
    /// succeeds.
    async fn set_password(&self, target: &DbTarget, account: &str, password: &str) -> DbResult<()>;
    /// Creates `account` with the same privileges as `model` and the given password; when it
    /// exists already, only sets the password.
    async fn clone_account(
        &self,
        target: &DbTarget,
        model: &str,
        account: &str,
        password: &str,
    ) -> DbResult<()>;
    /// Creates `account` (on each of `hosts` for engines with host-qualified accounts) with
    /// the password and grants; when it exists already, sets the password and grants again.
    async fn create_account(
        &self,
        target: &DbTarget,
        account: &str,
        password: &str,
        hosts: &[String],
        grants: &[Grant],
    ) -> DbResult<()>;
    /// Logs in as `account` with `password` (not as the administrator).
    async fn login(&self, target: &DbTarget, account: &str, password: &str) -> DbResult<()>;
    /// Whether `grants` are privileges the engine knows, at the levels it has; the reason
    /// names the first that is not. Checked before a secret is created, not when its task
    /// runs.
    fn check_grants(&self, engine: DbEngine, grants: &[Grant]) -> Result<(), String>;
}
