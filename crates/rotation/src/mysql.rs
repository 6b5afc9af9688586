//! MariaDB and MySQL. An account there is `user@host`: one name may exist for several hosts,
//! and every statement below acts on each of them, so an application that connects from any
//! of its hosts sees the same password.

use coffer_core::database::{DbResult, Grant, GrantLevel};
use coffer_core::{DbEngine, DbFailure, DbTarget, TlsMode};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use sha1::{Digest, Sha1};

use crate::sql::{ident, literal, privilege_list, redact};

fn failure(e: mysql_async::Error) -> DbFailure {
    match e {
        // The server answered: the statement was refused and changed nothing.
        mysql_async::Error::Server(e) => DbFailure::Refused(format!("{} ({})", e.message, e.code)),
        other => DbFailure::Unreachable(other.to_string()),
    }
}

/// TLS as the instance's mode says. mysql_async verifies `verify-full` against the
/// instance's CA and, always, the public web roots as well (its rustls layer adds them);
/// `require` accepts any certificate. A server without TLS is refused in either mode. The
/// cleartext password plugin stays off (mysql_async's default), so the login password is
/// never sent as such; the statements that carry a MySQL password need TLS for that.
fn ssl_opts(t: &DbTarget) -> Option<SslOpts> {
    match t.tls {
        TlsMode::Disable => None,
        TlsMode::Require => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
        TlsMode::VerifyFull => Some(
            SslOpts::default().with_root_certs(
                t.ca_pem
                    .iter()
                    .map(|pem| pem.as_bytes().to_vec().into())
                    .collect(),
            ),
        ),
    }
}

async fn connect(t: &DbTarget, user: &str, password: &str) -> DbResult<Conn> {
    if let Some(pem) = &t.ca_pem {
        // Checked here, where the reason can be told, rather than inside the driver.
        crate::tls::pem_certificates(pem)?;
    }
    crate::tls::install_default_provider();
    let opts = OptsBuilder::default()
        .ip_or_hostname(t.host.clone())
        .tcp_port(t.port)
        .user(Some(user))
        .pass(Some(password))
        .ssl_opts(ssl_opts(t))
        // Over TCP to the address given: a socket would log in as another account
        // (`user@localhost` instead of `user@127.0.0.1`), and would skip TLS.
        .prefer_socket(false);
    Conn::new(opts).await.map_err(failure)
}

async fn admin(t: &DbTarget) -> DbResult<Conn> {
    connect(t, &t.admin_user, &t.admin_password).await
}

/// The admin must hold `CREATE USER` (or everything) on `*.*` to change other accounts.
pub(crate) async fn check_admin(t: &DbTarget) -> DbResult<()> {
    let mut c = admin(t).await?;
    let grants: Vec<String> = c.query("SHOW GRANTS").await.map_err(failure)?;
    let _ = c.disconnect().await;
    let able = grants.iter().any(|g| {
        let g = g.to_ascii_uppercase();
        g.contains(" ON *.* ") && (g.contains("ALL PRIVILEGES") || g.contains("CREATE USER"))
    });
    if able {
        Ok(())
    } else {
        Err(DbFailure::Refused(format!(
            "the admin account {:?} lacks the CREATE USER privilege on *.*, which changing passwords needs",
            t.admin_user
        )))
    }
}

pub(crate) async fn account_exists(t: &DbTarget, account: &str) -> DbResult<bool> {
    let mut c = admin(t).await?;
    let hosts = hosts_of(&mut c, account).await;
    let _ = c.disconnect().await;
    Ok(!hosts?.is_empty())
}

/// The hosts the account name exists for.
async fn hosts_of(c: &mut Conn, account: &str) -> DbResult<Vec<String>> {
    c.exec(
        "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host",
        (account,),
    )
    .await
    .map_err(failure)
}

/// `'user'@'host'`.
fn account_at(account: &str, host: &str) -> DbResult<String> {
    Ok(format!(
        "{}@{}",
        literal("account name", account)?,
        literal("host", host)?
    ))
}

/// How a password is given in `IDENTIFIED ...`. MariaDB takes the native hash, so the
/// password itself never reaches the server's logs; MySQL masks passwords in its logs and
/// may not offer the native plugin, so it gets the password.
fn identified(engine: DbEngine, password: &str) -> DbResult<String> {
    if engine == DbEngine::MariaDb {
        let hash = Sha1::digest(Sha1::digest(password.as_bytes()));
        Ok(format!(
            "IDENTIFIED BY PASSWORD '*{}'",
            hex::encode_upper(hash)
        ))
    } else {
        Ok(format!("IDENTIFIED BY {}", literal("password", password)?))
    }
}

async fn run(c: &mut Conn, statement: &str) -> DbResult<()> {
    c.query_drop(statement)
        .await
        .map_err(|e| redact(failure(e), statement))
}

pub(crate) async fn set_password(t: &DbTarget, account: &str, password: &str) -> DbResult<()> {
    let mut c = admin(t).await?;
    let hosts = hosts_of(&mut c, account).await?;
    if hosts.is_empty() {
        return Err(DbFailure::Refused(format!(
            "the account {account:?} does not exist"
        )));
    }
    let how = identified(t.engine, password)?;
    for host in &hosts {
        run(
            &mut c,
            &format!("ALTER USER {} {how}", account_at(account, host)?),
        )
        .await?;
    }
    let _ = c.disconnect().await;
    Ok(())
}

/// The grant statements of `model@host` rewritten for `account@host`. The part after the
/// grantee (MariaDB prints the model's password hash there) is dropped; only `WITH GRANT
/// OPTION` is kept.
fn rewrite_grant(line: &str, account: &str, host: &str) -> DbResult<Option<String>> {
    let upper = line.to_ascii_uppercase();
    if !upper.starts_with("GRANT ") {
        return Ok(None);
    }
    let Some(to) = upper.rfind(" TO ") else {
        return Ok(None);
    };
    let mut out = format!("{} TO {}", &line[..to], account_at(account, host)?);
    if upper.contains("WITH GRANT OPTION") {
        out.push_str(" WITH GRANT OPTION");
    }
    Ok(Some(out))
}

/// Whether a `SHOW GRANTS` line of `model` may be copied to the second account under the
/// instance's allow-list: each privilege, `WITH GRANT OPTION`, and the level (the server
/// level or a system database needs `GLOBAL`, unless the line grants nothing but `USAGE`).
/// A role granted to the model is refused: what it holds is not on the line.
fn check_grant_line(t: &DbTarget, model: &str, line: &str) -> DbResult<()> {
    let upper = line.to_ascii_uppercase();
    if !upper.starts_with("GRANT ") {
        return Ok(());
    }
    let refuse = |what: String| {
        Err(DbFailure::Refused(format!(
            "the account {model:?} holds {what}, which the instance {:?} does not allow coffer to give the second account",
            t.instance
        )))
    };
    let Some(on) = upper.find(" ON ") else {
        return refuse("a role".into());
    };
    let privileges = split_privileges(&line[6..on]);
    for p in &privileges {
        if !t.allows(p) {
            return refuse(format!("the privilege {p}"));
        }
    }
    if upper.contains("WITH GRANT OPTION") && !t.allows("GRANT OPTION") {
        return refuse("GRANT OPTION".into());
    }
    let object = upper[on + 4..].trim_start();
    let database = object
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_matches('`');
    let server_level = object.starts_with("*.*")
        || matches!(
            database.to_ascii_lowercase().as_str(),
            "mysql" | "sys" | "performance_schema" | "information_schema"
        );
    let only_usage = privileges.iter().all(|p| p == "USAGE");
    if server_level && !only_usage && !t.allows(coffer_core::database::GLOBAL) {
        return refuse("privileges at the server level or on a system database".into());
    }
    Ok(())
}

/// `SELECT, INSERT (a, b), UPDATE` → `["SELECT", "INSERT", "UPDATE"]` (column lists dropped).
fn split_privileges(list: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut current = String::new();
    for ch in list.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(coffer_core::database::normalize_privilege(&current));
                current.clear();
            }
            _ if depth == 0 => current.push(ch),
            _ => {}
        }
    }
    if !current.trim().is_empty() {
        out.push(coffer_core::database::normalize_privilege(&current));
    }
    out
}

pub(crate) async fn clone_account(
    t: &DbTarget,
    model: &str,
    account: &str,
    password: &str,
) -> DbResult<()> {
    let mut c = admin(t).await?;
    let hosts = hosts_of(&mut c, model).await?;
    if hosts.is_empty() {
        return Err(DbFailure::Refused(format!(
            "the account {model:?} does not exist"
        )));
    }
    let existing = hosts_of(&mut c, account).await?;
    let how = identified(t.engine, password)?;
    for host in &hosts {
        let target = account_at(account, host)?;
        if existing.contains(host) {
            run(&mut c, &format!("ALTER USER {target} {how}")).await?;
            continue;
        }
        let grants: Vec<String> = c
            .query(format!("SHOW GRANTS FOR {}", account_at(model, host)?))
            .await
            .map_err(failure)?;
        // Nothing is created unless every grant may be copied.
        for line in &grants {
            check_grant_line(t, model, line)?;
        }
        run(&mut c, &format!("CREATE USER {target} {how}")).await?;
        for line in grants {
            if let Some(stmt) = rewrite_grant(&line, account, host)? {
                run(&mut c, &stmt).await?;
            }
        }
    }
    let _ = c.disconnect().await;
    Ok(())
}

fn grant_object(level: &GrantLevel) -> DbResult<String> {
    Ok(match level {
        GrantLevel::Global => "*.*".into(),
        GrantLevel::Database(d) => format!("{}.*", ident('`', d)?),
        GrantLevel::Table { database, table } => {
            format!("{}.{}", ident('`', database)?, ident('`', table)?)
        }
    })
}

pub(crate) async fn create_account(
    t: &DbTarget,
    account: &str,
    password: &str,
    hosts: &[String],
    grants: &[Grant],
) -> DbResult<()> {
    let mut c = admin(t).await?;
    let mut created = vec![];
    let result = create_on_hosts(&mut c, t, account, password, hosts, grants, &mut created).await;
    // A refused grant leaves no half-made account behind: what this call created goes.
    if let Err(DbFailure::Refused(_)) = &result {
        for target in &created {
            let _ = run(&mut c, &format!("DROP USER {target}")).await;
        }
    }
    let _ = c.disconnect().await;
    result
}

/// Creates (or re-passwords) the account on each host with its grants; `created` collects
/// the `user@host` accounts this call made.
async fn create_on_hosts(
    c: &mut Conn,
    t: &DbTarget,
    account: &str,
    password: &str,
    hosts: &[String],
    grants: &[Grant],
    created: &mut Vec<String>,
) -> DbResult<()> {
    let existing = hosts_of(c, account).await?;
    let how = identified(t.engine, password)?;
    for host in hosts {
        let target = account_at(account, host)?;
        if existing.contains(host) {
            run(c, &format!("ALTER USER {target} {how}")).await?;
        } else {
            run(c, &format!("CREATE USER {target} {how}")).await?;
            created.push(target.clone());
        }
        for g in grants {
            let stmt = format!(
                "GRANT {} ON {} TO {target}",
                privilege_list(g),
                grant_object(&g.level)?
            );
            run(c, &stmt).await?;
        }
    }
    Ok(())
}

pub(crate) async fn login(t: &DbTarget, account: &str, password: &str) -> DbResult<()> {
    let mut c = connect(t, account, password).await?;
    let one: Option<i64> = c.query_first("SELECT 1").await.map_err(failure)?;
    let _ = c.disconnect().await;
    match one {
        Some(1) => Ok(()),
        _ => Err(DbFailure::Refused("the login answered no row".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_rewritten_for_the_clone_without_the_model_password() {
        let line = "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABCDEF'";
        assert_eq!(
            rewrite_grant(line, "app_clone", "%").unwrap().unwrap(),
            "GRANT USAGE ON *.* TO 'app_clone'@'%'"
        );
        let line = "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%` WITH GRANT OPTION";
        assert_eq!(
            rewrite_grant(line, "app_clone", "%").unwrap().unwrap(),
            "GRANT SELECT, INSERT ON `shop`.* TO 'app_clone'@'%' WITH GRANT OPTION"
        );
        assert_eq!(
            rewrite_grant("SET DEFAULT ROLE r FOR app", "x", "%").unwrap(),
            None
        );
    }

    #[test]
    fn grant_lines_are_copied_only_within_the_allow_list() {
        let t = DbTarget::new(
            "maria",
            DbEngine::MariaDb,
            "127.0.0.1",
            3306,
            "root",
            String::new().into(),
        );
        for ok in [
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'",
            "GRANT SELECT, INSERT (a, b), UPDATE ON `shop`.* TO `app`@`%`",
            "SET DEFAULT ROLE NONE FOR `app`@`%`",
        ] {
            assert!(check_grant_line(&t, "app", ok).is_ok(), "{ok}");
        }
        for bad in [
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
            "GRANT SELECT ON `shop`.* TO `app`@`%` WITH GRANT OPTION",
            "GRANT SELECT ON *.* TO `app`@`%`",
            "GRANT UPDATE ON `mysql`.`global_priv` TO `app`@`%`",
            "GRANT SUPER ON *.* TO `app`@`%`",
            "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
            "GRANT `dba` TO `app`@`%`",
        ] {
            assert!(
                matches!(check_grant_line(&t, "app", bad), Err(DbFailure::Refused(_))),
                "{bad}"
            );
        }
        let mut wide = t;
        wide.allowed_privileges = vec![
            "ALL PRIVILEGES".into(),
            "GRANT OPTION".into(),
            "GLOBAL".into(),
        ];
        assert!(check_grant_line(
            &wide,
            "root",
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"
        )
        .is_ok());
    }

    #[test]
    fn mariadb_gets_the_native_hash_not_the_password() {
        // The hash of "password" as MariaDB's PASSWORD() prints it.
        assert_eq!(
            identified(DbEngine::MariaDb, "password").unwrap(),
            "IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'"
        );
        assert_eq!(
            identified(DbEngine::MySql, "pw!").unwrap(),
            "IDENTIFIED BY 'pw!'"
        );
    }
}
