//! What the rotation state machine asks of a database server. The service decides when and
//! with which password; a [`DatabaseDriver`] (in `coffer-rotation`) speaks each engine's
//! protocol. Keeping the trait here lets the core run and test rotations without knowing SQL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::model::{DbEngine, TlsMode};

/// Where a database is, how its administrator logs in, how the connection is protected and
/// what coffer may give accounts there.
pub struct DbTarget {
    pub instance: String,
    pub engine: DbEngine,
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: Zeroizing<String>,
    pub tls: TlsMode,
    /// PEM certificates `VerifyFull` trusts; `None`: the public web roots.
    pub ca_pem: Option<String>,
    /// Whether a PostgreSQL server may be sent a password in cleartext over a connection
    /// that is not verified TLS.
    pub allow_cleartext_password: bool,
    /// Privileges (upper case) an account may be given or copied with.
    pub allowed_privileges: Vec<String>,
}

impl DbTarget {
    /// A target with coffer's defaults for everything but the address and the admin login
    /// (TLS by host, the default privilege list).
    pub fn new(
        instance: impl Into<String>,
        engine: DbEngine,
        host: impl Into<String>,
        port: u16,
        admin_user: impl Into<String>,
        admin_password: Zeroizing<String>,
    ) -> Self {
        let host = host.into();
        DbTarget {
            instance: instance.into(),
            engine,
            tls: TlsMode::default_for_host(&host),
            host,
            port,
            admin_user: admin_user.into(),
            admin_password,
            ca_pem: None,
            allow_cleartext_password: false,
            allowed_privileges: default_allowed_privileges(),
        }
    }

    /// Whether `privilege` (any case) may be given on this instance.
    pub fn allows(&self, privilege: &str) -> bool {
        privilege_allowed(&self.allowed_privileges, privilege)
    }
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTarget")
            .field("instance", &self.instance)
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin_user", &self.admin_user)
            .field("tls", &self.tls)
            .field("allow_cleartext_password", &self.allow_cleartext_password)
            .field("allowed_privileges", &self.allowed_privileges)
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

/// The privileges an instance lets coffer give accounts when its registration names none:
/// what an application needs inside its own databases. Left out: everything that
/// administers the server or other accounts (`ALL PRIVILEGES`, `GRANT OPTION`, `SUPER`,
/// `CREATE USER`, `FILE`, `PROCESS`, `RELOAD`, `SHUTDOWN`, `SHOW DATABASES`, `REPLICATION ...`,
/// `PROXY`; PostgreSQL's `SUPERUSER`, `CREATEROLE`, `CREATEDB`, `REPLICATION`, `BYPASSRLS`) and
/// [`GLOBAL`].
pub const DEFAULT_ALLOWED_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "REFERENCES",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "EXECUTE",
    "TRIGGER",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "TRUNCATE",
    "CONNECT",
    "TEMPORARY",
];

/// The allow-list entry that lets grants reach the whole server: MariaDB/MySQL's global
/// level (`*.*`) and the system databases (`mysql`, `sys`, `performance_schema`,
/// `information_schema`), where `INSERT` or `UPDATE` on the grant tables is a way to any
/// privilege.
pub const GLOBAL: &str = "GLOBAL";

/// Every name an allow-list may hold: the privileges of both engines, PostgreSQL's role
/// attributes, and [`GLOBAL`].
pub const KNOWN_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "REFERENCES",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "EXECUTE",
    "TRIGGER",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "TRUNCATE",
    "CONNECT",
    "TEMPORARY",
    "TEMP",
    "USAGE",
    "ALL PRIVILEGES",
    "GRANT OPTION",
    "SUPER",
    "CREATE USER",
    "FILE",
    "PROCESS",
    "RELOAD",
    "SHUTDOWN",
    "SHOW DATABASES",
    "REPLICATION CLIENT",
    "REPLICATION SLAVE",
    "PROXY",
    "CREATE TABLESPACE",
    "SUPERUSER",
    "CREATEROLE",
    "CREATEDB",
    "REPLICATION",
    "BYPASSRLS",
    GLOBAL,
];

pub fn default_allowed_privileges() -> Vec<String> {
    DEFAULT_ALLOWED_PRIVILEGES
        .iter()
        .map(|p| p.to_string())
        .collect()
}

/// A privilege name as allow-lists hold it: upper case, single spaces, `ALL` spelt
/// `ALL PRIVILEGES` and `TEMP` spelt `TEMPORARY`.
pub fn normalize_privilege(p: &str) -> String {
    let upper = p
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match upper.as_str() {
        "ALL" => "ALL PRIVILEGES".into(),
        "TEMP" => "TEMPORARY".into(),
        _ => upper,
    }
}

/// Parses an operator's allow-list (names separated by commas), refusing names that are no
/// privilege either engine has. The reason names the first unknown one.
pub fn parse_allowed_privileges(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = vec![];
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = normalize_privilege(name);
        if !KNOWN_PRIVILEGES.contains(&p.as_str()) {
            return Err(format!(
                "{name:?} is not a privilege coffer knows (known: {})",
                KNOWN_PRIVILEGES.join(", ")
            ));
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Whether `privilege` is on `allowed`. `USAGE` (no privilege at all) always is.
pub fn privilege_allowed(allowed: &[String], privilege: &str) -> bool {
    let p = normalize_privilege(privilege);
    p == "USAGE" || allowed.iter().any(|a| normalize_privilege(a) == p)
}

/// Whether a grant at `level` reaches the whole server on `engine` (see [`GLOBAL`]).
pub fn reaches_server(engine: DbEngine, level: &GrantLevel) -> bool {
    if !engine.is_mysql_family() {
        return false;
    }
    let system = |db: &str| {
        matches!(
            db.to_ascii_lowercase().as_str(),
            "mysql" | "sys" | "performance_schema" | "information_schema"
        )
    };
    match level {
        GrantLevel::Global => true,
        GrantLevel::Database(d) => system(d),
        GrantLevel::Table { database, .. } => system(database),
    }
}

/// Whether every grant is within the instance's allow-list; the reason names the first
/// privilege (or level) that is not, and the instance.
pub fn check_grants_allowed(
    target_allowed: &[String],
    instance: &str,
    engine: DbEngine,
    grants: &[Grant],
) -> Result<(), String> {
    for g in grants {
        if reaches_server(engine, &g.level) && !privilege_allowed(target_allowed, GLOBAL) {
            return Err(format!(
                "grants at the server level or on a system database reach the grant tables; the instance {instance:?} does not allow them (its allow-list lacks {GLOBAL})"
            ));
        }
        for p in &g.privileges {
            if !privilege_allowed(target_allowed, p) {
                return Err(format!(
                    "the privilege {:?} is not on the allow-list of the instance {instance:?} ({})",
                    normalize_privilege(p),
                    target_allowed.join(", ")
                ));
            }
        }
    }
    Ok(())
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
