//! Listing secrets on SQLite: a planner that picks the index a filtered list starts from, the
//! page and count queries it builds, and the page read itself.

use coffer_core::*;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

use std::collections::HashMap;

use super::rows::{account_sql, internal, secret_row, SECRET_COLUMNS};

//
// The first pages must cost the same at a million secrets as at ten. Without filters a page
// walks `secrets_by_creation` in order and stops after `offset + limit` rows, and the total
// comes from `secret_counts`. With filters the query is driven by the index that bounds the
// work best, chosen here rather than left to the planner, which has no statistics on a fresh
// database and guesses badly for tags (it would search the tag index once per secret):
//
// - `names`: the name index, a handful of rows;
// - pending deletion only: the partial index on `purge_at`, which holds few rows by nature;
// - a tag key or value that few tag rows carry (a bounded probe says so): the tag index,
//   then the matching secrets by id and a sort of at most `TAG_DRIVER_MAX` rows;
// - otherwise the creation index, each row checked (tags through the primary key of
//   `secret_tags`). Totals then count the scope's rows: linear, small constant.

/// Scopes smaller than this are scanned whatever the filter: a scan is cheaper than a probe.
const TAG_DRIVER_MIN_SCOPE: i64 = 5_000;
/// Most tag rows a tag-driven list may visit.
const TAG_DRIVER_MAX: i64 = 50_000;

/// Which index a filtered list starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Creation,
    Names,
    Purge,
    TagKeys,
    TagValues,
}

/// A list's `FROM ... WHERE ...` (over `secrets s`) and its arguments, in order.
struct ListQuery {
    driver: Driver,
    from_where: String,
    args: Vec<Value>,
}

fn placeholders(sql: &mut String, args: &mut Vec<Value>, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
        args.push(Value::Text(v.clone()));
    }
}

/// Appends `AND <expr> IN (?, ...)` for a non-empty list.
fn push_in(sql: &mut String, args: &mut Vec<Value>, expr: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    sql.push_str(" AND ");
    sql.push_str(expr);
    sql.push_str(" IN (");
    placeholders(sql, args, values);
    sql.push(')');
}

/// How many tag rows have `column` in `values`, counting no further than `cap`.
fn probe_tags(c: &Connection, column: &str, values: &[String], cap: i64) -> Result<i64> {
    let mut sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM secret_tags WHERE {column} IN (");
    let mut args = vec![];
    placeholders(&mut sql, &mut args, values);
    sql.push_str(") LIMIT ?)");
    args.push(Value::Integer(cap));
    c.prepare_cached(&sql)
        .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(|e| internal("probe tags", e))
}

fn choose_driver(c: &Connection, f: &SecretFilter, scope_count: i64) -> Result<Driver> {
    if !f.names.is_empty() {
        return Ok(Driver::Names);
    }
    if f.pending_delete == Some(true) {
        return Ok(Driver::Purge);
    }
    if scope_count < TAG_DRIVER_MIN_SCOPE {
        return Ok(Driver::Creation);
    }
    let cap = (scope_count / 4).min(TAG_DRIVER_MAX);
    let mut best: Option<(i64, Driver)> = None;
    for (driver, column, values) in [
        (Driver::TagKeys, "key", &f.tag_keys),
        (Driver::TagValues, "value", &f.tag_values),
    ] {
        if values.is_empty() {
            continue;
        }
        let n = probe_tags(c, column, values, cap)?;
        if n < cap && best.is_none_or(|(b, _)| n < b) {
            best = Some((n, driver));
        }
    }
    Ok(best.map_or(Driver::Creation, |(_, d)| d))
}

fn list_query(scope: &Scope, f: &SecretFilter, driver: Driver) -> ListQuery {
    let mut sql = String::new();
    let mut args = vec![];
    match driver {
        Driver::Creation => sql.push_str("secrets s"),
        Driver::Names => sql.push_str("secrets s INDEXED BY secrets_by_name"),
        Driver::Purge => sql.push_str("secrets s INDEXED BY secrets_by_purge"),
        Driver::TagKeys | Driver::TagValues => {
            let (column, values) = if driver == Driver::TagKeys {
                ("key", &f.tag_keys)
            } else {
                ("value", &f.tag_values)
            };
            sql.push_str(&format!(
                "(SELECT DISTINCT t.secret_id AS id FROM secret_tags t WHERE t.{column} IN ("
            ));
            placeholders(&mut sql, &mut args, values);
            // CROSS JOIN fixes the order: the few matching ids first, then their secrets.
            sql.push_str(")) m CROSS JOIN secrets s ON s.id = m.id");
        }
    }
    sql.push_str(" WHERE s.account = ? AND s.region = ?");
    args.push(Value::Integer(account_sql(scope.account)));
    args.push(Value::Text(scope.region.clone()));
    conditions(&mut sql, &mut args, f, driver);
    ListQuery {
        driver,
        from_where: sql,
        args,
    }
}

/// Appends the filter's conditions on `s` (` AND ...` each), but the tag condition `driver`
/// already applies.
fn conditions(sql: &mut String, args: &mut Vec<Value>, f: &SecretFilter, driver: Driver) {
    push_in(sql, args, "s.name", &f.names);
    push_in(sql, args, "s.description", &f.descriptions);
    push_in(sql, args, "s.kind_name", &f.kinds);
    if let Some(part) = &f.name_contains {
        // instr() matches the text literally: no LIKE wildcards to escape, case-sensitive.
        sql.push_str(" AND instr(s.name, ?) > 0");
        args.push(Value::Text(part.clone()));
    }
    for (tag_driver, column, values) in [
        (Driver::TagKeys, "+t.key", &f.tag_keys),
        (Driver::TagValues, "+t.value", &f.tag_values),
    ] {
        if values.is_empty() || driver == tag_driver {
            continue;
        }
        // The unary `+` keeps SQLite from searching the tag index once per secret (it
        // would, without statistics); it looks up this secret's few tags by primary key.
        sql.push_str(" AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id");
        push_in(sql, args, column, values);
        sql.push(')');
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
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM secret_subscriptions x WHERE x.secret_id = s.id \
             AND +x.rule_name = ?)",
        );
        args.push(Value::Text(rule.clone()));
    }
    for cond in &f.tags {
        // Same reasoning as above for the unary `+`: look up this secret's own tags.
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND +t.key = ?",
        );
        args.push(Value::Text(cond.key.clone()));
        push_in(sql, args, "+t.value", &cond.values);
        sql.push(')');
    }
}

/// The page query; its last two arguments are LIMIT and OFFSET.
fn page_sql(q: &ListQuery, newest_first: bool) -> String {
    let order = if newest_first { "DESC" } else { "ASC" };
    format!(
        "SELECT {SECRET_COLUMNS} FROM {} ORDER BY s.created_at {order}, s.id {order} \
         LIMIT ? OFFSET ?",
        q.from_where
    )
}

fn page_args(q: &ListQuery, page: PageRequest) -> Vec<Value> {
    let mut args = q.args.clone();
    args.push(Value::Integer(i64::from(page.limit)));
    args.push(Value::Integer(page.offset.min(i64::MAX as u64) as i64));
    args
}

fn count(c: &Connection, sql: &str, args: &[Value]) -> Result<i64> {
    c.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(|e| internal("count secrets", e))
}

pub(crate) fn list_secrets(
    c: &Connection,
    scope: &Scope,
    f: &SecretFilter,
    page: PageRequest,
) -> Result<Page<SecretRecord>> {
    let scope_args = [
        Value::Integer(account_sql(scope.account)),
        Value::Text(scope.region.clone()),
    ];
    let in_scope = c
        .prepare_cached("SELECT n FROM secret_counts WHERE account = ?1 AND region = ?2")
        .and_then(|mut st| {
            st.query_row(params_from_iter(scope_args.iter()), |r| r.get::<_, i64>(0))
                .optional()
        })
        .map_err(|e| internal("read count", e))?
        .unwrap_or(0);
    let q = list_query(scope, f, choose_driver(c, f, in_scope)?);
    let only_live = SecretFilter {
        pending_delete: Some(false),
        ..Default::default()
    };
    let total = if *f == SecretFilter::default() {
        in_scope
    } else if *f == only_live {
        let pending = count(
            c,
            "SELECT COUNT(*) FROM secrets s INDEXED BY secrets_by_purge \
             WHERE s.purge_at IS NOT NULL AND s.account = ? AND s.region = ?",
            &scope_args,
        )?;
        in_scope - pending
    } else {
        count(
            c,
            &format!("SELECT COUNT(*) FROM {}", q.from_where),
            &q.args,
        )?
    };
    let total = total.max(0) as u64;
    if page.limit == 0 || page.offset >= total {
        return Ok(Page {
            items: vec![],
            total,
        });
    }
    let args = page_args(&q, page);
    let rows = c
        .prepare_cached(&page_sql(&q, page.newest_first))
        .and_then(|mut st| {
            st.query_map(params_from_iter(args.iter()), secret_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("list secrets", e))?;
    tracing::trace!(driver = ?q.driver, rows = rows.len(), total, "listed secrets");
    let mut ids = Vec::with_capacity(rows.len());
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, record) = row.into_record()?;
        ids.push(id);
        items.push(record);
    }
    attach_tags_and_subscriptions(c, &ids, &mut items)?;
    Ok(Page { items, total })
}

/// The name range of a walk over `secrets` (no alias): the scope, after the resume point,
/// inside the prefix. Every term is a bound on `secrets_by_name`.
fn walk_range(scope: &Scope, walk: &NameWalk) -> (String, Vec<Value>) {
    let mut sql = String::from("account = ? AND region = ?");
    let mut args = vec![
        Value::Integer(account_sql(scope.account)),
        Value::Text(scope.region.clone()),
    ];
    if let Some(after) = &walk.after {
        sql.push_str(" AND name > ?");
        args.push(Value::Text(after.clone()));
    }
    if let Some(prefix) = walk.prefix.as_ref().filter(|p| !p.is_empty()) {
        sql.push_str(" AND name >= ?");
        args.push(Value::Text(prefix.clone()));
        if let Some(end) = prefix_end(prefix) {
            sql.push_str(" AND name < ?");
            args.push(Value::Text(end));
        }
    }
    (sql, args)
}

/// The page query of a walk: at most `scan` rows of the name range, in order, then the filter
/// over them. Its last argument is the page's LIMIT.
fn walk_sql(scope: &Scope, f: &SecretFilter, walk: &NameWalk, scan: u32) -> (String, Vec<Value>) {
    let (range, mut args) = walk_range(scope, walk);
    args.push(Value::Integer(i64::from(scan)));
    // The LIMIT inside keeps SQLite from flattening the subquery: the scan stops after `scan`
    // index entries whatever the conditions outside let through.
    let mut sql = format!(
        "SELECT {SECRET_COLUMNS} FROM (SELECT * FROM secrets INDEXED BY secrets_by_name \
         WHERE {range} ORDER BY name LIMIT ?) s WHERE 1"
    );
    conditions(&mut sql, &mut args, f, Driver::Creation);
    sql.push_str(" ORDER BY s.name LIMIT ?");
    args.push(Value::Integer(i64::from(walk.limit) + 1));
    (sql, args)
}

/// The last name a walk of `scan` entries examines, when the range holds that many.
fn walk_boundary(
    c: &Connection,
    scope: &Scope,
    walk: &NameWalk,
    scan: u32,
) -> Result<Option<String>> {
    let (range, mut args) = walk_range(scope, walk);
    args.push(Value::Integer(i64::from(scan) - 1));
    let sql = format!(
        "SELECT name FROM secrets INDEXED BY secrets_by_name WHERE {range} \
         ORDER BY name LIMIT 1 OFFSET ?"
    );
    c.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_row(params_from_iter(args.iter()), |r| r.get(0))
                .optional()
        })
        .map_err(|e| internal("walk secrets", e))
}

pub(crate) fn list_secrets_by_name(
    c: &Connection,
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
    // Without conditions every examined row is a result: the page itself bounds the scan.
    let filtered = *f != SecretFilter::default();
    let scan = if filtered {
        walk.scan_limit.max(1)
    } else {
        walk.limit.saturating_add(1)
    };
    let (sql, args) = walk_sql(scope, f, walk, scan);
    let rows = c
        .prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(params_from_iter(args.iter()), secret_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| internal("walk secrets", e))?;
    let full = rows.len() > walk.limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(walk.limit as usize));
    let mut ids = Vec::with_capacity(items.capacity());
    for row in rows.into_iter().take(walk.limit as usize) {
        let (id, record) = row.into_record()?;
        ids.push(id);
        items.push(record);
    }
    attach_tags_and_subscriptions(c, &ids, &mut items)?;
    if full {
        let resume_after = items.last().map(|r| r.name.clone());
        return Ok(NamePage {
            items,
            resume_after,
            stopped: false,
        });
    }
    let boundary = if filtered {
        walk_boundary(c, scope, walk, scan)?
    } else {
        None
    };
    Ok(NamePage {
        items,
        stopped: boundary.is_some(),
        resume_after: boundary,
    })
}

/// The tags of the secrets whose ids `?1` lists (a JSON array), each secret's in position
/// order; each id is looked up in the primary key.
const PAGE_TAGS: &str = "SELECT t.secret_id, t.key, t.value FROM secret_tags t \
     WHERE t.secret_id IN (SELECT value FROM json_each(?1)) ORDER BY t.secret_id, t.position";
/// The same for subscriptions.
const PAGE_SUBSCRIPTIONS: &str = "SELECT x.secret_id, x.rule_name FROM secret_subscriptions x \
     WHERE x.secret_id IN (SELECT value FROM json_each(?1)) ORDER BY x.secret_id, x.position";

/// Fills in the tags and subscriptions of a page's secrets (`ids[i]` is `items[i]`'s id) with
/// one query each for the whole page, not two per secret: a page of 100 made 200 queries,
/// most of a ListSecrets request's time. The ids go in as one JSON array (`json_each`), so
/// the statement text, and the prepared statement, is the same for any page.
fn attach_tags_and_subscriptions(
    c: &Connection,
    ids: &[String],
    items: &mut [SecretRecord],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let list = serde_json::to_string(ids).map_err(|e| internal("encode page ids", e))?;
    // Each secret's rows come in position order, as `load_tags` gives them.
    let mut st = c
        .prepare_cached(PAGE_TAGS)
        .map_err(|e| internal("prepare page tags", e))?;
    let mut rows = st
        .query([&list])
        .map_err(|e| internal("query page tags", e))?;
    while let Some(r) = rows.next().map_err(|e| internal("read page tags", e))? {
        let id = r.get_ref(0).map_err(|e| internal("read page tags", e))?;
        let id = id.as_str().map_err(|e| internal("read page tags", e))?;
        if let Some(&i) = index.get(id) {
            items[i].tags.push(Tag {
                key: r.get(1).map_err(|e| internal("read page tags", e))?,
                value: r.get(2).map_err(|e| internal("read page tags", e))?,
            });
        }
    }
    let mut st = c
        .prepare_cached(PAGE_SUBSCRIPTIONS)
        .map_err(|e| internal("prepare page subscriptions", e))?;
    let mut rows = st
        .query([&list])
        .map_err(|e| internal("query page subscriptions", e))?;
    while let Some(r) = rows
        .next()
        .map_err(|e| internal("read page subscriptions", e))?
    {
        let id = r
            .get_ref(0)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(|e| internal("read page subscriptions", e))?;
        if let Some(&i) = index.get(id) {
            items[i].subscriptions.push(
                r.get(1)
                    .map_err(|e| internal("read page subscriptions", e))?,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::schema::testing::{migrated, plan};

    fn scope() -> Scope {
        Scope {
            account: AccountId(1),
            region: "r".into(),
        }
    }

    #[test]
    fn page_tags_and_subscriptions_are_looked_up_by_id() {
        let c = migrated();
        for sql in [PAGE_TAGS, PAGE_SUBSCRIPTIONS] {
            let p = plan(&c, sql, &[Value::Text("[\"a\",\"b\"]".into())]);
            assert!(p.contains("USING INDEX sqlite_autoindex_"), "{p}");
            assert!(p.contains("(secret_id=?)"), "{p}");
            assert!(!p.contains("SCAN t") && !p.contains("SCAN x"), "{p}");
        }
    }

    fn list_plan(c: &Connection, f: &SecretFilter, scope_count: i64, newest: bool) -> String {
        let driver = choose_driver(c, f, scope_count).expect("driver");
        let q = list_query(&scope(), f, driver);
        let page = PageRequest {
            offset: 0,
            limit: 10,
            newest_first: newest,
        };
        let pages = plan(c, &page_sql(&q, newest), &page_args(&q, page));
        let count = plan(
            c,
            &format!("SELECT COUNT(*) FROM {}", q.from_where),
            &q.args,
        );
        format!("{driver:?}\n{pages}\n--\n{count}")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unfiltered_pages_walk_the_creation_index_without_sorting() {
        let c = migrated();
        for newest_first in [false, true] {
            let p = list_plan(&c, &SecretFilter::default(), 1_000_000, newest_first);
            let page = p.split("--").next().unwrap_or_default();
            assert!(page.contains("secrets_by_creation"), "{p}");
            assert!(!page.contains("TEMP B-TREE"), "{p}");
        }
    }

    #[test]
    fn filtered_lists_start_from_the_narrowest_index() {
        let c = migrated();
        let names = SecretFilter {
            names: strings(&["a", "b"]),
            tag_keys: strings(&["k"]),
            ..Default::default()
        };
        let p = list_plan(&c, &names, 1_000_000, false);
        assert!(p.starts_with("Names"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");

        let pending = SecretFilter {
            pending_delete: Some(true),
            ..Default::default()
        };
        let p = list_plan(&c, &pending, 1_000_000, true);
        assert!(p.starts_with("Purge"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");

        // A big scope and a rare tag (the empty table makes every tag rare).
        let tags = SecretFilter {
            tag_keys: strings(&["k"]),
            tag_values: strings(&["v"]),
            ..Default::default()
        };
        let p = list_plan(&c, &tags, 1_000_000, false);
        assert!(p.starts_with("TagKeys"), "{p}");
        assert!(p.contains("secret_tags_by_key"), "{p}");
        assert!(!p.contains("secrets_by_creation"), "{p}");
        // The other tag condition is checked by primary key, never by a tag index search.
        assert!(p.contains("sqlite_autoindex_secret_tags_1"), "{p}");
        assert!(!p.contains("secret_tags_by_value"), "{p}");
    }

    #[test]
    fn tag_conditions_in_a_scan_never_search_the_tag_indexes_per_row() {
        // This plan once searched `secret_tags_by_key` for every secret: quadratic when a
        // key is common.
        let c = migrated();
        let tags = SecretFilter {
            tag_keys: strings(&["k"]),
            tag_values: strings(&["v"]),
            ..Default::default()
        };
        let p = list_plan(&c, &tags, 10, false);
        assert!(p.starts_with("Creation"), "{p}");
        assert!(!p.contains("secret_tags_by_"), "{p}");
        assert!(p.contains("sqlite_autoindex_secret_tags_1"), "{p}");
    }

    fn walk_plan(c: &Connection, f: &SecretFilter, walk: &NameWalk) -> String {
        let (sql, args) = walk_sql(&scope(), f, walk, 500);
        plan(c, &sql, &args)
    }

    /// A walk page, first or deep, with or without a prefix, is a range search of the name
    /// index: never a scan of the table, never a sort of the scope.
    #[test]
    fn name_walks_search_the_name_index() {
        let c = migrated();
        let deep = NameWalk {
            prefix: None,
            after: Some("svc-0999999".into()),
            limit: 50,
            scan_limit: 500,
        };
        let prefixed = NameWalk {
            prefix: Some("svc-".into()),
            ..deep.clone()
        };
        let first = NameWalk {
            after: None,
            ..prefixed.clone()
        };
        let tags = SecretFilter {
            name_contains: Some("x".into()),
            tags: vec![TagCondition {
                key: "env".into(),
                values: vec!["prod".into()],
            }],
            disabled: Some(false),
            ..Default::default()
        };
        for f in [SecretFilter::default(), tags] {
            for walk in [
                &NameWalk {
                    limit: 50,
                    ..Default::default()
                },
                &deep,
                &prefixed,
                &first,
            ] {
                let p = walk_plan(&c, &f, walk);
                assert!(
                    p.contains(
                        "SEARCH secrets USING INDEX secrets_by_name (account=? AND region=?"
                    ),
                    "{p}"
                );
                assert!(!p.contains("SCAN secrets"), "{p}");
                assert!(!p.contains("secrets_by_creation"), "{p}");
                assert!(!p.contains("secret_tags_by_"), "{p}");
                let range_bounds =
                    usize::from(walk.after.is_some()) + usize::from(walk.prefix.is_some());
                if range_bounds > 0 {
                    assert!(p.contains("name>?"), "{p}");
                }
            }
        }
        // The boundary read is an index-only walk.
        let (range, args) = walk_range(&scope(), &prefixed);
        let p = plan(
            &c,
            &format!(
                "SELECT name FROM secrets INDEXED BY secrets_by_name WHERE {range} \
                 ORDER BY name LIMIT 1 OFFSET 499"
            ),
            &args,
        );
        assert!(p.contains("COVERING INDEX secrets_by_name"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}
