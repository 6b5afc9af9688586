//! PostgreSQL. Passwords are sent as SCRAM-SHA-256 verifiers computed here, so the password
//! itself never reaches the server (nor its statement log). Logins go to the `postgres`
//! database, which every cluster has and every role may connect to by default.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use coffer_core::database::{DbResult, Grant, GrantLevel};
use coffer_core::{DbFailure, DbTarget, TlsMode};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::sql::{ident, literal, privilege_list, redact};
use crate::tls;

fn failure(e: tokio_postgres::Error) -> DbFailure {
    match e.as_db_error() {
        // The server answered: the statement was refused and changed nothing.
        Some(db) => DbFailure::Refused(format!("{} ({})", db.message(), db.code().code())),
        None => DbFailure::Unreachable(with_causes(&e)),
    }
}

/// The error and its causes: tokio-postgres says "error performing TLS handshake" and keeps
/// why (an unknown issuer, a wrong name) in the source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Connects over TCP, with TLS as the instance's mode says, and with the cleartext-password
/// guard of [`crate::tls::AuthGuard`] above the TLS layer (or on the socket without TLS).
async fn connect(t: &DbTarget, user: &str, password: &str) -> DbResult<Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&t.host)
        .port(t.port)
        .user(user)
        .password(password)
        .dbname("postgres");
    let tcp = tokio::time::timeout(
        crate::CALL_TIMEOUT,
        tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
    )
    .await
    .map_err(|_| DbFailure::Unreachable("connecting took too long".into()))?
    .map_err(|e| DbFailure::Unreachable(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let refuse = tls::refuses_cleartext(t);
    let refused = Arc::new(AtomicBool::new(false));
    let failed = |e: tokio_postgres::Error| connect_failure(e, &refused);
    let client = match t.tls {
        TlsMode::Disable => {
            config.ssl_mode(SslMode::Disable);
            let stream = tls::AuthGuard::new(tcp, refuse, refused.clone());
            let (client, connection) = config.connect_raw(stream, NoTls).await.map_err(failed)?;
            spawn_connection(connection);
            client
        }
        TlsMode::Require | TlsMode::VerifyFull => {
            // A server without TLS answers the request for it with "no": refused, never
            // continued in the clear.
            config.ssl_mode(SslMode::Require);
            let mut make = MakeRustlsConnect::new(tls::client_config(t)?);
            let inner =
                <MakeRustlsConnect as MakeTlsConnect<tokio::net::TcpStream>>::make_tls_connect(
                    &mut make, &t.host,
                )
                .map_err(|e| DbFailure::Refused(format!("TLS setup for {:?}: {e}", t.host)))?;
            let guarded = tls::GuardedTls {
                inner,
                refuse,
                refused: refused.clone(),
            };
            let (client, connection) = config.connect_raw(tcp, guarded).await.map_err(failed)?;
            spawn_connection(connection);
            client
        }
    };
    Ok(client)
}

fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
}

/// A failed connection: refused when the guard stopped a cleartext password (nothing was
/// sent, and trying again will not help), else as [`failure`] says.
fn connect_failure(e: tokio_postgres::Error, refused: &AtomicBool) -> DbFailure {
    if refused.load(Ordering::SeqCst) {
        return DbFailure::Refused(
            "the server asked for the password in cleartext over a connection that is not verified TLS; coffer does not send it (register the instance with --tls verify-full, or allow it with --allow-cleartext-password)".into(),
        );
    }
    failure(e)
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
    check_model_allowed(t, &c, model).await?;
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

/// A member of a role may `SET ROLE` to it and to every role it belongs to, so the clone
/// holds whatever any of them holds: each role attribute that administers the server (and
/// membership in the roles that read or write server files or run programs, named `FILE`
/// like MariaDB's privilege) must be on the instance's allow-list.
async fn check_model_allowed(t: &DbTarget, c: &Client, model: &str) -> DbResult<()> {
    let rows = c
        .query(
            "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, \
                    r.rolbypassrls \
             FROM pg_roles r WHERE pg_has_role($1, r.oid, 'MEMBER')",
            &[&model],
        )
        .await
        .map_err(failure)?;
    for row in rows {
        let name: String = row.get(0);
        let mut held = vec![];
        for (i, attribute) in [
            (1, "SUPERUSER"),
            (2, "CREATEROLE"),
            (3, "CREATEDB"),
            (4, "REPLICATION"),
            (5, "BYPASSRLS"),
        ] {
            if row.get::<_, bool>(i) {
                held.push(attribute);
            }
        }
        if matches!(
            name.as_str(),
            "pg_read_server_files" | "pg_write_server_files" | "pg_execute_server_program"
        ) {
            held.push("FILE");
        }
        if let Some(p) = held.into_iter().find(|p| !t.allows(p)) {
            return Err(DbFailure::Refused(format!(
                "the role {model:?} holds {p} (through {name:?}), which the instance {:?} does not allow coffer to give the second account",
                t.instance
            )));
        }
    }
    Ok(())
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
