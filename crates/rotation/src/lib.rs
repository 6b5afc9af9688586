//! Managed database credentials: the drivers that change passwords and create accounts on
//! real MariaDB/MySQL and PostgreSQL servers, and the scheduler that runs due rotations.
//! The state machine itself lives in the core (`Service::drive_task`); this crate is what
//! it talks to the databases through, and what wakes it up.

mod mysql;
mod postgres;
mod scheduler;
mod sql;
mod tls;

use std::time::Duration;

use async_trait::async_trait;
use coffer_core::database::{DbResult, Grant};
use coffer_core::{DatabaseDriver, DbEngine, DbFailure, DbTarget};

pub use scheduler::{spawn_scheduler, SchedulerOptions};

/// Longest any one database call may take before coffer calls the database unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver for every engine coffer supports; it picks the protocol by the instance's
/// engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Databases;

/// Runs a database call with the timeout every call gets.
async fn bounded<T>(
    what: &str,
    call: impl std::future::Future<Output = DbResult<T>>,
) -> DbResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(r) => r,
        Err(_) => Err(DbFailure::Unreachable(format!(
            "{what} took longer than {}s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

#[async_trait]
impl DatabaseDriver for Databases {
    async fn check_admin(&self, t: &DbTarget) -> DbResult<()> {
        bounded("checking the admin account", async {
            if t.engine.is_mysql_family() {
                mysql::check_admin(t).await
            } else {
                postgres::check_admin(t).await
            }
        })
        .await
    }

    async fn account_exists(&self, t: &DbTarget, account: &str) -> DbResult<bool> {
        bounded("looking up the account", async {
            if t.engine.is_mysql_family() {
                mysql::account_exists(t, account).await
            } else {
                postgres::role_exists(&postgres::admin(t).await?, account).await
            }
        })
        .await
    }

    async fn set_password(&self, t: &DbTarget, account: &str, password: &str) -> DbResult<()> {
        sql::check_literal("password", password)?;
        bounded("setting the password", async {
            if t.engine.is_mysql_family() {
                mysql::set_password(t, account, password).await
            } else {
                postgres::set_password(t, account, password).await
            }
        })
        .await
    }

    async fn clone_account(
        &self,
        t: &DbTarget,
        model: &str,
        account: &str,
        password: &str,
    ) -> DbResult<()> {
        sql::check_literal("password", password)?;
        bounded("creating the second account", async {
            if t.engine.is_mysql_family() {
                mysql::clone_account(t, model, account, password).await
            } else {
                postgres::clone_account(t, model, account, password).await
            }
        })
        .await
    }

    async fn create_account(
        &self,
        t: &DbTarget,
        account: &str,
        password: &str,
        hosts: &[String],
        grants: &[Grant],
    ) -> DbResult<()> {
        sql::check_literal("password", password)?;
        sql::check_grants(t.engine, grants).map_err(DbFailure::Refused)?;
        // Checked again here, where the statements are made, whoever called.
        coffer_core::database::check_grants_allowed(
            &t.allowed_privileges,
            &t.instance,
            t.engine,
            grants,
        )
        .map_err(DbFailure::Refused)?;
        bounded("creating the account", async {
            if t.engine.is_mysql_family() {
                mysql::create_account(t, account, password, hosts, grants).await
            } else {
                postgres::create_account(t, account, password, grants).await
            }
        })
        .await
    }

    async fn login(&self, t: &DbTarget, account: &str, password: &str) -> DbResult<()> {
        bounded("logging in", async {
            if t.engine.is_mysql_family() {
                mysql::login(t, account, password).await
            } else {
                postgres::login(t, account, password).await
            }
        })
        .await
    }

    fn check_grants(&self, engine: DbEngine, grants: &[Grant]) -> Result<(), String> {
        sql::check_grants(engine, grants)
    }
}
