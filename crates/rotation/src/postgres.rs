//! PostgreSQL. Passwords are sent as SCRAM-SHA-256 verifiers computed here, so the password
//! itself never reaches the server (nor its statement log). Logins go to the `postgres`
//! database, which every cluster has and every role may connect to by default.

use coffer_core::database::{DbResult, Grant, GrantLevel};
use coffer_core::{DbFailure, DbTarget};
use tokio_postgres::{Client, NoTls};

use crate::sql::{ident, literal, privilege_list, redact};

fn failure(e: tokio_postgres::Error) -> DbFailure {
    match e.as_db_error() {
        // The server answered: the statement was refused and changed nothing.
        Some(db) => DbFailure::Refused(format!("{} ({})", db.message(), db.code().code())),
        None => DbFailure::Unreachable(e.to_string()),
    }
}

async fn connect(t: &DbTarget, user: &str, password: &str) -> DbResult<Client> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(&t.host)
        .port(t.port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(crate::CALL_TIMEOUT)
        .connect(NoTls)
        .await
        .map_err(failure)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
    Ok(client)
}

pub(crate) async fn admin(t: &DbTarget) -> DbResult<Client> {
    connect(t, &t.admin_user, &t.admin_password).await
}

/// The admin must be a superuser or hold CREATEROLE to change other roles' passwords.
pub(crate) async fn check_admin(t: &DbTarget) -> DbResult<()> {
    let c = admin(t).await?;
    let row = c
        .query_one(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(failure)?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(DbFailure::Refused(format!(
            "the admin role {:?} is neither superuser nor CREATEROLE, which changing passwords needs",
            t.admin_user
        )))
    }
}

pub(crate) async fn role_exists(c: &Client, role: &str) -> DbResult<bool> {
    let rows = c
        .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(failure)?;
    Ok(!rows.is_empty())
}

fn verifier(password: &str) -> DbResult<String> {
    literal(
        "password verifier",
        &postgres_protocol::password::scram_sha_256(password.as_bytes()),
    )
}

async fn run(c: &Client, statement: &str) -> DbResult<()> {
    c.batch_execute(statement)
        .await
        .map_err(|e| redact(failure(e), statement))
}

pub(crate) async fn set_password(t: &DbTarget, role: &str, password: &str) -> DbResult<()> {
    let c = admin(t).await?;
    if !role_exists(&c, role).await? {
        return Err(DbFailure::Refused(format!(
            "the role {role:?} does not exist"
        )));
    }
    run(
        &c,
        &format!(
            "ALTER ROLE {} WITH PASSWORD {}",
            ident('"', role)?,
            verifier(password)?
        ),
    )
    .await
}

/// The second account is a member of the first, so it holds every privilege the first has
/// (now and later), and can log in.
pub(crate) async fn clone_account(
    t: &DbTarget,
    model: &str,
    role: &str,
    password: &str,
) -> DbResult<()> {
    let c = admin(t).await?;
    if !role_exists(&c, model).await? {
        return Err(DbFailure::Refused(format!(
            "the role {model:?} does not exist"
        )));
    }
    let name = ident('"', role)?;
    let how = format!("WITH LOGIN PASSWORD {}", verifier(password)?);
    if role_exists(&c, role).await? {
        run(&c, &format!("ALTER ROLE {name} {how}")).await
    } else {
        run(
            &c,
            &format!("CREATE ROLE {name} {how} IN ROLE {}", ident('"', model)?),
        )
        .await
    }
}

pub(crate) async fn create_account(
    t: &DbTarget,
    role: &str,
    password: &str,
    grants: &[Grant],
) -> DbResult<()> {
    let c = admin(t).await?;
    let name = ident('"', role)?;
    let existed = role_exists(&c, role).await?;
    let verb = if existed { "ALTER" } else { "CREATE" };
    run(
        &c,
        &format!(
            "{verb} ROLE {name} WITH LOGIN PASSWORD {}",
            verifier(password)?
        ),
    )
    .await?;
    let granted = grant_all(&c, &name, grants).await;
    // A refused grant leaves no half-made role behind: a role this call created goes.
    if let (Err(DbFailure::Refused(_)), false) = (&granted, existed) {
        let _ = run(&c, &format!("DROP OWNED BY {name}; DROP ROLE {name}")).await;
    }
    granted
}

async fn grant_all(c: &Client, name: &str, grants: &[Grant]) -> DbResult<()> {
    for g in grants {
        let object = match &g.level {
            GrantLevel::Database(d) => format!("DATABASE {}", ident('"', d)?),
            GrantLevel::Table { database, table } => {
                // The database part names the schema on PostgreSQL.
                format!("TABLE {}.{}", ident('"', database)?, ident('"', table)?)
            }
            GrantLevel::Global => {
                return Err(DbFailure::Refused(
                    "PostgreSQL has no global privileges".into(),
                ))
            }
        };
        run(
            c,
            &format!("GRANT {} ON {object} TO {name}", privilege_list(g)),
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn login(t: &DbTarget, role: &str, password: &str) -> DbResult<()> {
    let c = connect(t, role, password).await?;
    let row = c.query_one("SELECT 1", &[]).await.map_err(failure)?;
    if row.get::<_, i32>(0) == 1 {
        Ok(())
    } else {
        Err(DbFailure::Refused(
            "the login answered an unexpected row".into(),
        ))
    }
}
