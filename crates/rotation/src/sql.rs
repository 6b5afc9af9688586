//! Building statements safely. Account management statements (`ALTER USER`, `CREATE ROLE`,
//! `GRANT`) take no bind parameters on either engine, so names and hashes go into the text:
//! identifiers are quoted with their quote doubled, and string literals are refused outright
//! when they hold a quote, a backslash or NUL (whether a backslash escapes depends on the
//! server's SQL mode, so no escaping is trusted).

use coffer_core::database::{DbResult, Grant, GrantLevel};
use coffer_core::{DbEngine, DbFailure};

pub(crate) fn check_literal(what: &str, s: &str) -> DbResult<()> {
    if s.contains(['\'', '\\', '\0']) {
        return Err(DbFailure::Refused(format!(
            "the {what} contains a quote, a backslash or NUL, which coffer does not send to a database"
        )));
    }
    Ok(())
}

/// `'text'`, after [`check_literal`].
pub(crate) fn literal(what: &str, s: &str) -> DbResult<String> {
    check_literal(what, s)?;
    Ok(format!("'{s}'"))
}

/// An identifier in `quote` (backtick for MySQL, double quote for PostgreSQL).
pub(crate) fn ident(quote: char, s: &str) -> DbResult<String> {
    if s.is_empty() || s.contains('\0') {
        return Err(DbFailure::Refused(format!(
            "{s:?} is not a valid identifier"
        )));
    }
    let doubled: String = s
        .chars()
        .flat_map(|c| {
            let n = if c == quote { 2 } else { 1 };
            std::iter::repeat_n(c, n)
        })
        .collect();
    Ok(format!("{quote}{doubled}{quote}"))
}

/// A failure whose message cannot echo the password (or its hash) that `statement` carried:
/// servers quote the statement near a syntax error, and the reason is stored and shown.
pub(crate) fn redact(failure: DbFailure, statement: &str) -> DbFailure {
    let mut secrets = vec![];
    for marker in ["BY '", "PASSWORD '"] {
        let mut rest = statement;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            if let Some(end) = rest.find('\'') {
                secrets.push(&rest[..end]);
            }
        }
    }
    let clean = |mut m: String| {
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            m = m.replace(s, "[redacted]");
        }
        m
    };
    match failure {
        DbFailure::Refused(m) => DbFailure::Refused(clean(m)),
        DbFailure::Unreachable(m) => DbFailure::Unreachable(clean(m)),
    }
}

const MYSQL_PRIVILEGES: &[&str] = &[
    "ALL",
    "ALL PRIVILEGES",
    "ALTER",
    "ALTER ROUTINE",
    "CREATE",
    "CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "CREATE VIEW",
    "DELETE",
    "DROP",
    "EVENT",
    "EXECUTE",
    "INDEX",
    "INSERT",
    "LOCK TABLES",
    "PROCESS",
    "REFERENCES",
    "RELOAD",
    "REPLICATION CLIENT",
    "REPLICATION SLAVE",
    "SELECT",
    "SHOW DATABASES",
    "SHOW VIEW",
    "TRIGGER",
    "UPDATE",
];

const POSTGRES_DATABASE_PRIVILEGES: &[&str] = &[
    "ALL",
    "ALL PRIVILEGES",
    "CONNECT",
    "CREATE",
    "TEMP",
    "TEMPORARY",
];
const POSTGRES_TABLE_PRIVILEGES: &[&str] = &[
    "ALL",
    "ALL PRIVILEGES",
    "DELETE",
    "INSERT",
    "REFERENCES",
    "SELECT",
    "TRIGGER",
    "TRUNCATE",
    "UPDATE",
];

/// Global privileges exist only at the server level of MySQL; per-database and per-table
/// ones also on PostgreSQL, where a table name may carry its schema (`schema.table`).
pub(crate) fn check_grants(engine: DbEngine, grants: &[Grant]) -> Result<(), String> {
    for g in grants {
        if g.privileges.is_empty() {
            return Err("a privilege list is empty".into());
        }
        let known = match (&g.level, engine.is_mysql_family()) {
            (_, true) => MYSQL_PRIVILEGES,
            (GrantLevel::Global, false) => {
                return Err(
                    "PostgreSQL has no global privileges; grant on a database or table".into(),
                )
            }
            (GrantLevel::Database(_), false) => POSTGRES_DATABASE_PRIVILEGES,
            (GrantLevel::Table { .. }, false) => POSTGRES_TABLE_PRIVILEGES,
        };
        for p in &g.privileges {
            if !known.contains(&p.to_ascii_uppercase().as_str()) {
                return Err(format!(
                    "{p:?} is not a privilege coffer grants on {} at this level",
                    engine.as_str()
                ));
            }
        }
        let names: &[&String] = match &g.level {
            GrantLevel::Global => &[],
            GrantLevel::Database(d) => &[d],
            GrantLevel::Table { database, table } => &[database, table],
        };
        if names
            .iter()
            .any(|n| n.is_empty() || n.contains('\0') || n.len() > 64)
        {
            return Err("a database or table name is empty, too long or holds NUL".into());
        }
    }
    Ok(())
}

/// The privilege list of a `GRANT`, upper-cased (each was checked against the engine's list).
pub(crate) fn privilege_list(g: &Grant) -> String {
    g.privileges
        .iter()
        .map(|p| p.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quote() {
        assert_eq!(ident('`', "a`b").unwrap(), "`a``b`");
        assert_eq!(ident('"', "x\"y").unwrap(), "\"x\"\"y\"");
        assert!(ident('"', "").is_err());
    }

    #[test]
    fn literals_with_quotes_or_backslashes_are_refused() {
        assert_eq!(literal("p", "abc!").unwrap(), "'abc!'");
        for bad in ["a'b", "a\\b", "a\0b"] {
            assert!(
                matches!(literal("p", bad), Err(DbFailure::Refused(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_in_a_statement_never_reach_the_reason() {
        let stmt = "ALTER USER 'app'@'%' IDENTIFIED BY 'S3cret!pw' ; ALTER ROLE \"x\" WITH PASSWORD 'SCRAM-SHA-256$4096:abc'";
        let f = DbFailure::Refused(
            "syntax error near 'S3cret!pw' and 'SCRAM-SHA-256$4096:abc' for 'app'".into(),
        );
        match redact(f, stmt) {
            DbFailure::Refused(m) => {
                assert_eq!(
                    m,
                    "syntax error near '[redacted]' and '[redacted]' for 'app'"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grants_are_checked_per_engine_and_level() {
        let g = |level, p: &[&str]| Grant {
            level,
            privileges: p.iter().map(|s| s.to_string()).collect(),
        };
        let db = || GrantLevel::Database("app".into());
        assert!(check_grants(
            DbEngine::MariaDb,
            &[g(GrantLevel::Global, &["select", "INSERT"])]
        )
        .is_ok());
        assert!(check_grants(DbEngine::MariaDb, &[g(db(), &["SELECT; DROP"])]).is_err());
        assert!(check_grants(DbEngine::Postgres, &[g(GrantLevel::Global, &["SELECT"])]).is_err());
        assert!(check_grants(DbEngine::Postgres, &[g(db(), &["CONNECT"])]).is_ok());
        assert!(check_grants(DbEngine::Postgres, &[g(db(), &["SELECT"])]).is_err());
        assert!(check_grants(DbEngine::MySql, &[g(db(), &[])]).is_err());
    }
}
