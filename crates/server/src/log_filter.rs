//! What the log never gets, whatever `--log` says.
//!
//! The drivers of the managed databases write every statement below the info level:
//! tokio-postgres its text and parameters at debug, mysql_async its text in its spans. Some of
//! coffer's statements carry password verifiers (PostgreSQL's `PASSWORD 'SCRAM-SHA-256$...'`,
//! MariaDB's `IDENTIFIED BY PASSWORD '*...'`), which let whoever also sees one login exchange
//! log in as that account. So nothing of theirs below info is written.

/// The crates (and their modules) capped at info.
const STATEMENT_LOGGERS: &[&str] = &["tokio_postgres", "mysql_async", "mysql_common"];

/// Whether an event or span of `target` at `level` may be written at all.
fn loggable(target: &str, level: tracing::Level) -> bool {
    level <= tracing::Level::INFO
        || !STATEMENT_LOGGERS.iter().any(|crate_name| {
            target
                .strip_prefix(crate_name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// A filter to put over the subscriber, beside the user's own (both must let a line through).
pub fn statements_capped(
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| loggable(meta.target(), *meta.level()))
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    #[test]
    fn database_drivers_write_nothing_below_info() {
        for target in [
            "tokio_postgres",
            "tokio_postgres::simple_query",
            "tokio_postgres::query",
            "mysql_async::conn::routines::query",
        ] {
            assert!(!super::loggable(target, Level::DEBUG), "{target}");
            assert!(!super::loggable(target, Level::TRACE), "{target}");
            assert!(super::loggable(target, Level::WARN), "{target}");
        }
        for target in [
            "coffer",
            "coffer_rotation::postgres",
            "tokio_postgresql",
            "hyper",
        ] {
            assert!(super::loggable(target, Level::DEBUG), "{target}");
        }
    }
}
