//! Listing secrets on PostgreSQL: the page and count queries a filter becomes, and the page
//! read itself.
//!
//! Unlike SQLite's, PostgreSQL's planner keeps statistics (autovacuum analyzes the tables),
//! so the query states what matches and leaves the choice of index to it: the name, purge and
//! tag indexes and `secrets_by_creation` are the same ones the SQLite planner picks from. The
//! unfiltered total (and the live total) comes from `secret_counts`, as in the SQLite store,
//! so that the first page costs the same at a million secrets as at ten.

use coffer_core::*;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::rows::{account_sql, col, pg_error, secret_row, secret_select, PgError};

/// A statement under construction: its text and its parameters, numbered as they are added.
struct Query {
    sql: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    /// Adds a parameter and returns its placeholder.
    fn arg(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.args.push(Box::new(v));
        format!("${}", self.args.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The `WHERE` of a list over `secrets s`, with its parameters.
fn filter_query(scope: &Scope, f: &SecretFilter) -> Query {
    let mut q = Query {
        sql: String::new(),
        args: vec![],
    };
    let account = q.arg(account_sql(scope.account));
    let region = q.arg(scope.region.clone());
    let mut sql = format!("s.account = {account} AND s.region = {region}");
    for (column, values) in [
        ("s.name", &f.names),
        ("s.description", &f.descriptions),
        ("s.kind_name", &f.kinds),
    ] {
        if !values.is_empty() {
            let p = q.arg(values.clone());
            sql.push_str(&format!(" AND {column} = ANY({p})"));
        }
    }
    if let Some(part) = &f.name_contains {
        // strpos matches the text literally: no LIKE wildcards to escape, case-sensitive.
        let p = q.arg(part.clone());
        sql.push_str(&format!(" AND strpos(s.name, {p}) > 0"));
    }
    for (column, values) in [("t.key", &f.tag_keys), ("t.value", &f.tag_values)] {
        if !values.is_empty() {
            let p = q.arg(values.clone());
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id \
                 AND {column} = ANY({p}))"
            ));
        }
    }
    match f.pending_delete {
        Some(true) => sql.push_str(" AND s.purge_at IS NOT NULL"),
        Some(false) => sql.push_str(" AND s.purge_at IS NULL"),
        None => {}
    }
    match f.disabled {
        Some(true) => sql.push_str(" AND s.state = 'disabled'"),
        Some(false) => sql.push_str(" AND s.state <> 'disabled'"),
        None => {}
    }
    if let Some(rule) = &f.subscribed_to {
        let p = q.arg(rule.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM secret_subscriptions x WHERE x.secret_id = s.id \
             AND x.rule_name = {p})"
        ));
    }
    for cond in &f.tags {
        let key = q.arg(cond.key.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND t.key = {key}"
        ));
        if !cond.values.is_empty() {
            let values = q.arg(cond.values.clone());
            sql.push_str(&format!(" AND t.value = ANY({values})"));
        }
        sql.push(')');
    }
    q.sql = sql;
    q
}

/// Runs a built statement. Statements whose shape comes from a bounded set (every filter
/// field present or not) are prepared once per connection; the rest (any number of tag
/// conditions) are prepared for this call alone, so the statement cache stays bounded.
async fn run<C: GenericClient>(
    c: &C,
    sql: &str,
    q: &Query,
    cacheable: bool,
) -> std::result::Result<Vec<tokio_postgres::Row>, PgError> {
    let st = if cacheable {
        c.prepare_cached(sql).await?
    } else {
        c.prepare(sql).await?
    };
    c.query(&st, &q.params()).await
}

/// The scope's total from the count rows.
async fn scope_total<C: GenericClient>(c: &C, scope: &Scope) -> Result<i64> {
    let rows = super::rows::rows(
        c,
        "SELECT COALESCE(SUM(n), 0)::bigint FROM secret_counts WHERE account = $1 AND region = $2",
        &[&account_sql(scope.account), &scope.region],
    )
    .await
    .map_err(|e| pg_error("read count", e))?;
    match rows.first() {
        Some(r) => col(r, 0),
        None => Ok(0),
    }
}

pub(crate) async fn list_secrets<C: GenericClient>(
    c: &C,
    scope: &Scope,
    f: &SecretFilter,
    page: PageRequest,
) -> Result<Page<SecretRecord>> {
    let cacheable = f.tags.is_empty();
    let only_live = SecretFilter {
        pending_delete: Some(false),
        ..Default::default()
    };
    let q = filter_query(scope, f);
    let total = if *f == SecretFilter::default() {
        scope_total(c, scope).await?
    } else if *f == only_live {
        let pending = super::rows::rows(
            c,
            "SELECT COUNT(*) FROM secrets s \
             WHERE s.purge_at IS NOT NULL AND s.account = $1 AND s.region = $2",
            &[&account_sql(scope.account), &scope.region],
        )
        .await
        .map_err(|e| pg_error("count secrets", e))?;
        let pending: i64 = match pending.first() {
            Some(r) => col(r, 0)?,
            None => 0,
        };
        scope_total(c, scope).await? - pending
    } else {
        let sql = format!("SELECT COUNT(*) FROM secrets s WHERE {}", q.sql);
        let rows = run(c, &sql, &q, cacheable)
            .await
            .map_err(|e| pg_error("count secrets", e))?;
        match rows.first() {
            Some(r) => col(r, 0)?,
            None => 0,
        }
    };
    let total = total.max(0) as u64;
    if page.limit == 0 || page.offset >= total {
        return Ok(Page {
            items: vec![],
            total,
        });
    }
    let mut q = q;
    let limit = q.arg(i64::from(page.limit));
    let offset = q.arg(page.offset.min(i64::MAX as u64) as i64);
    let order = if page.newest_first { "DESC" } else { "ASC" };
    // The page is chosen first and only its rows get their tags and subscriptions.
    let order_by = format!("ORDER BY s.created_at {order}, s.id {order}");
    let page_rows = format!(
        "(SELECT * FROM secrets s WHERE {} {order_by} LIMIT {limit} OFFSET {offset}) s",
        q.sql
    );
    let sql = format!("{} {order_by}", secret_select(&page_rows));
    let rows = run(c, &sql, &q, cacheable)
        .await
        .map_err(|e| pg_error("list secrets", e))?;
    let items = rows
        .iter()
        .map(|r| secret_row(r, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { items, total })
}

/// The name range of a walk over `secrets s`, added to `q`: the scope, after the resume
/// point, inside the prefix. Every term bounds `secrets_by_name` (whose `name` is
/// `COLLATE "C"`: byte order, as SQLite's).
fn walk_range(q: &mut Query, scope: &Scope, walk: &NameWalk) -> String {
    let account = q.arg(account_sql(scope.account));
    let region = q.arg(scope.region.clone());
    let mut sql = format!("s.account = {account} AND s.region = {region}");
    if let Some(after) = &walk.after {
        let p = q.arg(after.clone());
        sql.push_str(&format!(" AND s.name > {p}"));
    }
    if let Some(prefix) = walk.prefix.as_ref().filter(|p| !p.is_empty()) {
        let p = q.arg(prefix.clone());
        sql.push_str(&format!(" AND s.name >= {p}"));
        if let Some(end) = prefix_end(prefix) {
            let p = q.arg(end);
            sql.push_str(&format!(" AND s.name < {p}"));
        }
    }
    sql
}

pub(crate) async fn list_secrets_by_name<C: GenericClient>(
    c: &C,
    scope: &Scope,
    f: &SecretFilter,
    walk: &NameWalk,
) -> Result<NamePage> {
    if walk.limit == 0 {
        return Ok(NamePage {
            items: vec![],
            resume_after: walk.after.clone(),
            stopped: false,
        });
    }
    let cacheable = f.tags.is_empty();
    // Without conditions every examined row is a result: the page itself bounds the scan.
    let filtered = *f != SecretFilter::default();
    let scan = if filtered {
        walk.scan_limit.max(1)
    } else {
        walk.limit.saturating_add(1)
    };
    let mut q = filter_query(scope, f);
    let range = walk_range(&mut q, scope, walk);
    let scan_p = q.arg(i64::from(scan));
    let limit_p = q.arg(i64::from(walk.limit) + 1);
    // At most `scan` rows of the name range, in order, then the filter over them: the
    // LIMIT inside bounds the work whatever the conditions outside let through.
    let page_rows = format!(
        "(SELECT * FROM (SELECT * FROM secrets s WHERE {range} ORDER BY s.name LIMIT {scan_p}) s \
         WHERE {} ORDER BY s.name LIMIT {limit_p}) s",
        q.sql
    );
    let sql = format!("{} ORDER BY s.name", secret_select(&page_rows));
    let rows = run(c, &sql, &q, cacheable)
        .await
        .map_err(|e| pg_error("walk secrets", e))?;
    let mut items = rows
        .iter()
        .map(|r| secret_row(r, false))
        .collect::<Result<Vec<_>>>()?;
    if items.len() > walk.limit as usize {
        items.truncate(walk.limit as usize);
        let resume_after = items.last().map(|r| r.name.clone());
        return Ok(NamePage {
            items,
            resume_after,
            stopped: false,
        });
    }
    let boundary = if filtered {
        let mut b = Query {
            sql: String::new(),
            args: vec![],
        };
        let range = walk_range(&mut b, scope, walk);
        let offset = b.arg(i64::from(scan) - 1);
        let sql = format!(
            "SELECT s.name FROM secrets s WHERE {range} ORDER BY s.name LIMIT 1 OFFSET {offset}"
        );
        let rows = run(c, &sql, &b, true)
            .await
            .map_err(|e| pg_error("walk secrets", e))?;
        match rows.first() {
            Some(r) => Some(col::<String>(r, 0)?),
            None => None,
        }
    } else {
        None
    };
    Ok(NamePage {
        items,
        stopped: boundary.is_some(),
        resume_after: boundary,
    })
}
