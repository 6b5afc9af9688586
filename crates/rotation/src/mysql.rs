//! MariaDB and MySQL. An account there is `user@host`: one name may exist for several hosts,
//! and every statement below acts on each of them, so an application that connects from any
//! of its hosts sees the same password.

use coffer_core::database::{DbResult, Grant, GrantLevel};
use coffer_core::{DbEngine, DbFailure, DbTarget};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use sha1::{Digest, Sha1};

use crate::sql::{ident, literal, privilege_list, redact};

fn failure(e: mysql_async::Error) -> DbFailure {
    match e {
        // The server answered: the statement was refused and changed nothing.
        mysql_async::Error::Server(e) => DbFailure::Refused(format!("{} ({})", e.message, e.code)),
        other => DbFailure::Unreachable(other.to_string()),
    }
}

async fn connect(t: &DbTarget, user: &str, password: &str) -> DbResult<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(t.host.clone())
        .tcp_port(t.port)
        .user(Some(user))
        .pass(Some(password))
        // Over TCP to the address given: a socket would log in as another account
        // (`user@localhost` instead of `user@127.0.0.1`).
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
        run(&mut c, &format!("CREATE USER {target} {how}")).await?;
        let grants: Vec<String> = c
            .query(format!("SHOW GRANTS FOR {}", account_at(model, host)?))
            .await
            .map_err(failure)?;
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
