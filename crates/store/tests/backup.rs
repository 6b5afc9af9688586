//! Backup files on both stores: a file written from one kind of store restores into the other
//! with every value still opening under the same root key; a file that was cut short, edited,
//! reordered, extended or made with another root key is refused before anything is written;
//! a backup refuses a root key that does not open the store. And the table lists of both
//! schemas are covered: every table is backed up or rebuilt by a restore.

use std::io::Cursor;
use std::sync::Arc;

use coffer_core::service::{CreateSecret, NewKey, PutValue, VersionSelector, WhenExists, WhenFull};
use coffer_core::store::BackupCounts;
use coffer_core::*;
use coffer_crypto::SecretKey;
use coffer_store::backup::{self, BackupReader, BackupWriter, RootKeys};
use coffer_store::conformance::backup::Collected;
use coffer_store::testkit::pg::TestDatabase;
use coffer_store::{PgOptions, PgStore, SqliteOptions, SqliteStore};
use zeroize::Zeroizing;

const T: i64 = 1_750_000_000_000;

fn text(v: &str) -> SecretValue {
    SecretValue::Text(Zeroizing::new(v.into()))
}

/// A service over `store` with `root`, filled with a few of everything sealed for real.
/// Returns the scope and every (secret, version, plaintext) it wrote.
async fn fill(store: Arc<dyn Store>, root: &SecretKey) -> (Scope, Vec<(String, String, String)>) {
    let svc = Service::new(
        store,
        root.clone(),
        Arc::new(ManualClock::new(Timestamp(T))),
        Limits::default(),
    );
    let (account, _, _) = svc
        .bootstrap(
            Some("AK-backup".into()),
            Some(Zeroizing::new("SK-backup-secret".into())),
        )
        .await
        .expect("bootstrap")
        .expect("a new store");
    let scope = Scope {
        account,
        region: "default".into(),
    };
    let (tenant, _) = svc
        .create_account("tenant", "default")
        .await
        .expect("account");
    svc.create_access_key(tenant.id, true)
        .await
        .expect("access key");
    let key = svc
        .create_key(
            &scope,
            NewKey {
                description: "own key".into(),
                aliases: vec!["alias/own".into()],
                rotation_interval_secs: Some(86_400),
            },
        )
        .await
        .expect("key");
    let mut written = vec![];
    for i in 0..6 {
        let name = format!("app/{i}");
        let value = format!("plaintext-{i}-{}", uuid::Uuid::new_v4());
        svc.create_secret(
            &scope,
            CreateSecret {
                name: name.clone(),
                description: String::new(),
                kind: SecretKind::Generic,
                key: (i % 2 == 0).then(|| key.id.clone()),
                tags: vec![Tag {
                    key: "n".into(),
                    value: i.to_string(),
                }],
                version_id: "v1".into(),
                value: text(&value),
                extended_config: None,
                policy: None,
                subscriptions: vec![],
            },
        )
        .await
        .expect("secret");
        written.push((name.clone(), "v1".to_string(), value));
        if i == 3 {
            // A second version under new key material: both versions must open.
            svc.rotate_key_material(&scope, &key.id)
                .await
                .expect("rotate");
        }
        if i % 3 == 0 {
            let value = format!("second-{i}");
            svc.put_value(
                &scope,
                &name,
                PutValue {
                    version_id: "v2".into(),
                    value: text(&value),
                    stages: None,
                    when_full: WhenFull::Refuse,
                    max_versions: 10,
                    max_stages: 10,
                    expires_at: None,
                    when_exists: WhenExists::Refuse,
                },
            )
            .await
            .expect("put");
            written.push((name, "v2".to_string(), value));
        }
    }
    (scope, written)
}

/// Every written value read back through a service over `store` with `root`.
async fn assert_values(
    store: Arc<dyn Store>,
    root: &SecretKey,
    scope: &Scope,
    written: &[(String, String, String)],
) {
    let svc = Service::new(
        store,
        root.clone(),
        Arc::new(ManualClock::new(Timestamp(T))),
        Limits::default(),
    );
    svc.check_root_key()
        .await
        .expect("the root key opens the store");
    for (name, version, plaintext) in written {
        let read = svc
            .get_value(
                scope,
                name,
                &VersionSelector {
                    version_id: Some(version.clone()),
                    stage: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{name} {version}: {e}"));
        assert_eq!(
            read.value.as_bytes(),
            plaintext.as_bytes(),
            "{name} {version}"
        );
    }
    let ak = svc
        .access_key_record("AK-backup")
        .await
        .expect("access key");
    assert!(ak.admin);
}

async fn to_file(store: &Arc<dyn Store>, keys: RootKeys) -> Vec<u8> {
    let mut writer = BackupWriter::new(Vec::new(), keys, T);
    store.export(&mut writer).await.expect("export");
    writer.finish().expect("finish").0
}

fn verify(bytes: &[u8], root: &SecretKey) -> Result<(backup::Header, BackupCounts)> {
    backup::verify(
        Cursor::new(bytes),
        &RootKeys::new(root.clone(), None),
        |_| {},
    )
}

fn sqlite(dir: &std::path::Path, name: &str) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(&dir.join(name), SqliteOptions::default()).expect("open sqlite"))
}

async fn postgres(db: &TestDatabase) -> Arc<PgStore> {
    Arc::new(
        PgStore::open(&db.url(), PgOptions::default())
            .await
            .expect("open postgres"),
    )
}

/// SQLite → file → PostgreSQL → file → SQLite: each file checks out, each store holds the same
/// items, and every value opens under the same root key at the far end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_file_moves_a_store_between_both_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create().expect("test database");
    let root = SecretKey::generate();
    let first: Arc<dyn Store> = sqlite(dir.path(), "first.db");
    let (scope, written) = fill(first.clone(), &root).await;

    let file = to_file(&first, RootKeys::new(root.clone(), None)).await;
    let (header, counts) = verify(&file, &root).expect("the file checks out");
    assert_eq!(header.store, "sqlite");
    assert_eq!(header.counts, counts);
    assert_eq!(counts.secrets, 6);
    assert_eq!(counts.versions, 8);
    assert!(counts.key_versions >= 3, "{}", counts.summary());
    // Nothing the store keeps sealed is in the file in the clear.
    let whole = String::from_utf8(file.clone()).expect("utf-8");
    for (_, _, plaintext) in &written {
        assert!(!whole.contains(plaintext.as_str()), "a value in the clear");
    }
    assert!(
        !whole.contains("SK-backup-secret"),
        "an access key secret in the clear"
    );
    assert!(
        !whole.contains(root.to_base64().as_str()),
        "the root key in the file"
    );

    let pg: Arc<dyn Store> = postgres(&db).await;
    let mut reader = BackupReader::open(Cursor::new(&file), &RootKeys::new(root.clone(), None))
        .expect("open the file");
    let restored = pg.import(&mut reader).await.expect("restore into postgres");
    assert_eq!(restored, counts);
    assert_values(pg.clone(), &root, &scope, &written).await;

    let again = to_file(&pg, RootKeys::new(root.clone(), None)).await;
    let (header, counts_pg) = verify(&again, &root).expect("the second file checks out");
    assert_eq!(header.store, "postgres");
    assert_eq!(counts_pg, counts);
    let last: Arc<dyn Store> = sqlite(dir.path(), "last.db");
    let mut reader =
        BackupReader::open(Cursor::new(&again), &RootKeys::new(root.clone(), None)).expect("open");
    last.import(&mut reader).await.expect("restore into sqlite");
    assert_values(last.clone(), &root, &scope, &written).await;

    // Item for item the same on all three.
    let items = |s: Arc<dyn Store>| async move {
        let mut c = Collected::default();
        s.export(&mut c).await.expect("export");
        c.items
    };
    let (a, b, c) = (items(first).await, items(pg).await, items(last).await);
    same_items(&a, &b, "sqlite and its copy on postgres");
    same_items(&a, &c, "sqlite and its copy back on sqlite");
    // So a backup of a copy is the backup of the original, line for line between the header
    // and the end line (which differ by the kind of store and so by the checksum).
    let (x, y) = (lines(&file), lines(&again));
    assert_eq!(x.len(), y.len());
    assert!(
        x[1..x.len() - 1] == y[1..y.len() - 1],
        "the item lines differ"
    );
}

/// The same items in the same order; a difference is named by its place and kind (values
/// stay out of the message).
fn same_items(
    a: &[coffer_core::store::BackupItem],
    b: &[coffer_core::store::BackupItem],
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}: item counts differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x == y,
            "{what}: item {i} ({} / {}) differs",
            x.kind().name(),
            y.kind().name()
        );
    }
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn refusal(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::InvalidState { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every way a file can be damaged is refused, with a message saying which, and a restore
/// that checks first writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_foreign_backup_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = SecretKey::generate();
    let store: Arc<dyn Store> = sqlite(dir.path(), "source.db");
    fill(store.clone(), &root).await;
    let file = to_file(&store, RootKeys::new(root.clone(), None)).await;
    verify(&file, &root).expect("intact");
    let all = lines(&file);
    assert!(all.len() > 10);

    // Cut short anywhere: at every line end, and inside lines.
    let mut cuts = 0;
    for cut in (0..file.len())
        .step_by(97)
        .chain([file.len() - 1, file.len() - 2])
    {
        let r = verify(&file[..cut], &root);
        assert!(r.is_err(), "cut at {cut} of {} was accepted", file.len());
        cuts += 1;
    }
    for n in 1..all.len() {
        let reason = refusal(verify(&join(&all[..n]), &root));
        assert!(
            reason.contains("cut short") || reason.contains("empty"),
            "{n} lines: {reason}"
        );
        cuts += 1;
    }
    eprintln!("{cuts} cut-short files refused");

    // One character of an item changed.
    let mut edited = all.clone();
    edited[3] = edited[3].replacen("\"created_at\":", "\"created_at\":1", 1);
    assert_ne!(edited[3], all[3]);
    let reason = refusal(verify(&join(&edited), &root));
    assert!(reason.contains("checksum"), "{reason}");

    // Edited, with the checksum recomputed by someone without the root key.
    let mut forged = edited.clone();
    let body = join(&forged[..forged.len() - 1]);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let last = forged.len() - 1;
    let mut end: serde_json::Value = serde_json::from_str(&forged[last]).expect("end line");
    end["sha256"] = digest.into();
    forged[last] = end.to_string();
    let reason = refusal(verify(&join(&forged), &root));
    assert!(reason.contains("MAC"), "{reason}");

    // Two lines swapped, a line dropped, a line repeated.
    let mut swapped = all.clone();
    swapped.swap(2, 5);
    assert!(verify(&join(&swapped), &root).is_err());
    let mut dropped = all.clone();
    dropped.remove(4);
    assert!(verify(&join(&dropped), &root).is_err());
    let mut repeated = all.clone();
    repeated.insert(4, all[4].clone());
    assert!(verify(&join(&repeated), &root).is_err());

    // Text after the end.
    let mut extended = file.clone();
    extended.extend_from_slice(b"{\"kind\":\"account\"}\n");
    let reason = refusal(verify(&extended, &root));
    assert!(reason.contains("after the end"), "{reason}");

    // Another root key; another format version; not a backup at all.
    let reason = refusal(verify(&file, &SecretKey::generate()));
    assert!(reason.contains("another root key"), "{reason}");
    let mut newer = all.clone();
    newer[0] = newer[0].replacen("\"version\":1", "\"version\":2", 1);
    let reason = refusal(verify(&join(&newer), &root));
    assert!(reason.contains("format version 2"), "{reason}");
    assert!(refusal(verify(b"", &root)).contains("empty"));
    assert!(refusal(verify(b"hello\n", &root)).contains("not a coffer backup"));

    // A restore checks first: a target store stays empty when the file is bad.
    let target: Arc<dyn Store> = sqlite(dir.path(), "target.db");
    for bad in [
        join(&edited),
        join(&forged),
        file[..file.len() / 2].to_vec(),
    ] {
        assert!(verify(&bad, &root).is_err());
        // Even fed straight in, the import fails at the bad line or the end and rolls back.
        if let Ok(mut reader) =
            BackupReader::open(Cursor::new(&bad), &RootKeys::new(root.clone(), None))
        {
            assert!(target.import(&mut reader).await.is_err());
        }
        assert!(target.backup_counts().await.expect("counts").is_empty());
    }
}

/// A backup made with a root key that does not open the store's keys is refused, before the
/// file is complete; during a root key rotation left unfinished, the old and new keys
/// together back it up, and the file belongs to the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_needs_the_root_key_of_its_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = SecretKey::generate();
    let store: Arc<dyn Store> = sqlite(dir.path(), "source.db");
    fill(store.clone(), &root).await;

    let mut writer = BackupWriter::new(Vec::new(), RootKeys::new(SecretKey::generate(), None), T);
    let reason = refusal(store.export(&mut writer).await);
    assert!(reason.contains("does not open"), "{reason}");

    let next = SecretKey::generate();
    let file = to_file(&store, RootKeys::new(root.clone(), Some(next.clone()))).await;
    verify(&file, &next).expect("the new key reads it");
    backup::verify(
        Cursor::new(&file),
        &RootKeys::new(root.clone(), Some(next.clone())),
        |_| {},
    )
    .expect("so do both keys");
    let reason = refusal(verify(&file, &root));
    assert!(reason.contains("another root key"), "{reason}");
}

/// Every table of both schemas is carried by a backup, rebuilt by a restore, or the running
/// nodes' own (leases, replay records, the audit log register), so a table added later cannot
/// be left out of backups unnoticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_is_backed_up_or_rebuilt() {
    let mut known: Vec<&str> = backup::BACKED_UP_TABLES
        .iter()
        .chain(backup::DERIVED_TABLES)
        .chain(backup::CLUSTER_TABLES)
        .chain(backup::USAGE_TABLES)
        .copied()
        .collect();
    known.sort();

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tables.db");
    drop(SqliteStore::open(&path, SqliteOptions::default()).expect("open"));
    let conn = rusqlite_tables(&path);
    for t in &conn {
        assert!(
            known.contains(&t.as_str()),
            "the SQLite table {t} is neither backed up nor rebuilt (coffer_store::backup)"
        );
    }
    for t in backup::BACKED_UP_TABLES {
        assert!(conn.iter().any(|c| c == t), "SQLite has no table {t}");
    }

    let db = TestDatabase::create().expect("test database");
    drop(postgres(&db).await);
    let names = db
        .query(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables \
             WHERE table_schema = current_schema()",
        )
        .await
        .expect("tables")
        .unwrap_or_default();
    let names: Vec<&str> = names.split(',').collect();
    for t in &names {
        assert!(
            known.contains(t),
            "the PostgreSQL table {t} is neither backed up nor rebuilt (coffer_store::backup)"
        );
    }
    for t in backup::BACKED_UP_TABLES {
        assert!(names.contains(t), "PostgreSQL has no table {t}");
    }
    // Sanity: the export of an empty store is a header and an end line only.
    let store: Arc<dyn Store> = sqlite(dir.path(), "empty.db");
    let file = to_file(&store, RootKeys::new(SecretKey::generate(), None)).await;
    assert_eq!(lines(&file).len(), 2);
}

fn rusqlite_tables(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut st = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .expect("prepare");
    let names = st
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("names");
    names
}
