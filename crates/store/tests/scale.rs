//! Listing at a million secrets. Ignored by default (it builds a ~1 GB database); run with
//! `cargo test -p coffer-store --release --test scale -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use coffer_core::*;
use coffer_store::{SqliteOptions, SqliteStore};

const N: i64 = 1_000_000;

fn scope() -> Scope {
    Scope {
        account: AccountId(1),
        region: "default".into(),
    }
}

/// Fills the schema with `N` secrets straight through SQL (the store API would spend minutes
/// on fsyncs): every 1000th pending deletion, two tags each, one version with `@current`.
fn bulk_load(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).expect("open raw");
    c.execute_batch(&format!(
        r#"
        PRAGMA synchronous = OFF;
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
        INSERT INTO secrets (id, account, region, name, kind, kind_name, description, key_id,
                             state, purge_at, rotation, extended_config, policy, created_at,
                             updated_at, revision)
        SELECT printf('%08x-0000-4000-8000-%012x', i, i), 1, 'default', 'secret-' || i,
               '{{"type":"Generic"}}', 'Generic', 'd' || (i % 1000), 'k',
               CASE WHEN i % 1000 = 0 THEN 'pending_delete' ELSE 'enabled' END,
               CASE WHEN i % 1000 = 0 THEN 5000 ELSE NULL END,
               '{{"enabled":false,"interval_secs":null,"next":null,"last":null}}',
               NULL, NULL, 1000 + i, 1000 + i, 0
        FROM n;
        INSERT INTO secret_tags (secret_id, position, key, value)
            SELECT id, 0, 'env', CASE created_at % 3 WHEN 0 THEN 'dev' WHEN 1 THEN 'test' ELSE 'prod' END FROM secrets;
        INSERT INTO secret_tags (secret_id, position, key, value)
            SELECT id, 1, 'team', 't' || (created_at % 100) FROM secrets;
        INSERT INTO versions (secret_id, version_id, seq, created_at, kind, key_id, key_version,
                              wrapped_data_key, ciphertext)
            SELECT id, 'v1', 1, created_at, 'text', 'k', 'kv', zeroblob(60), zeroblob(48) FROM secrets;
        INSERT INTO stages (secret_id, stage, version_id) SELECT id, '@current', 'v1' FROM secrets;
        INSERT INTO secret_counts (account, region, n) VALUES (1, 'default', {N});
        COMMIT;
        PRAGMA wal_checkpoint(TRUNCATE);
        "#,
        last = N - 1
    ))
    .expect("bulk load");
}

fn page(offset: u64, newest_first: bool) -> PageRequest {
    PageRequest {
        offset,
        limit: 20,
        newest_first,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "builds a million-secret database; run explicitly"]
async fn listing_stays_fast_at_a_million_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.db");
    SqliteStore::open(&path, SqliteOptions::default())
        .expect("create schema")
        .close()
        .await;
    let t = Instant::now();
    bulk_load(&path);
    println!("bulk load: {:?}", t.elapsed());
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");

    let cases: Vec<(&str, SecretFilter, PageRequest, Option<u64>)> = vec![
        (
            "unfiltered, oldest first",
            SecretFilter::default(),
            page(0, false),
            Some(N as u64),
        ),
        (
            "unfiltered, newest first",
            SecretFilter::default(),
            page(0, true),
            Some(N as u64),
        ),
        (
            "unfiltered, page 50",
            SecretFilter::default(),
            page(1000, true),
            Some(N as u64),
        ),
        (
            "names",
            SecretFilter {
                names: vec!["secret-5".into(), "secret-500000".into(), "nope".into()],
                ..Default::default()
            },
            page(0, false),
            Some(2),
        ),
        (
            "name contains (rare)",
            SecretFilter {
                name_contains: Some("-99999".into()),
                ..Default::default()
            },
            page(0, false),
            Some(11),
        ),
        (
            "name contains (common)",
            SecretFilter {
                name_contains: Some("-1".into()),
                ..Default::default()
            },
            page(0, false),
            None,
        ),
        (
            "description",
            SecretFilter {
                descriptions: vec!["d7".into()],
                ..Default::default()
            },
            page(0, false),
            Some(1000),
        ),
        (
            "kind",
            SecretFilter {
                kinds: vec!["Generic".into()],
                ..Default::default()
            },
            page(0, false),
            Some(N as u64),
        ),
        (
            "pending delete",
            SecretFilter {
                pending_delete: Some(true),
                ..Default::default()
            },
            page(0, false),
            Some(1000),
        ),
        (
            "not pending delete",
            SecretFilter {
                pending_delete: Some(false),
                ..Default::default()
            },
            page(0, false),
            Some(999_000),
        ),
        (
            "tag key (every secret)",
            SecretFilter {
                tag_keys: vec!["team".into()],
                ..Default::default()
            },
            page(0, false),
            Some(N as u64),
        ),
        (
            "tag key (none)",
            SecretFilter {
                tag_keys: vec!["owner".into()],
                ..Default::default()
            },
            page(0, false),
            Some(0),
        ),
        (
            "tag value (1%)",
            SecretFilter {
                tag_values: vec!["t7".into()],
                ..Default::default()
            },
            page(0, false),
            Some(10_000),
        ),
    ];
    let mut slow = vec![];
    for (what, filter, req, expect_total) in cases {
        // Twice: the first run also warms the page cache.
        let mut took = Duration::ZERO;
        let mut total = 0;
        for _ in 0..2 {
            let t = Instant::now();
            let p = store
                .list_secrets(&scope(), &filter, req)
                .await
                .expect("list");
            took = t.elapsed();
            total = p.total;
            if total > req.offset {
                assert!(!p.items.is_empty(), "{what}: empty page");
            }
        }
        println!("{what:28} total {total:>8}  {took:?}");
        if let Some(t) = expect_total {
            assert_eq!(total, t, "{what}");
        }
        if took > Duration::from_millis(50) {
            slow.push((what, took));
        }
    }
    println!("slower than 50 ms: {slow:?}");
    let t = Instant::now();
    store
        .get_secret(&scope(), "secret-123456")
        .await
        .expect("get")
        .expect("exists");
    println!("get_secret: {:?}", t.elapsed());
    // Unfiltered first pages are the path every client's list takes: they must stay cheap.
    assert!(
        slow.iter().all(|(what, _)| !what.starts_with("unfiltered")),
        "{slow:?}"
    );
}
