//! `coffer backup`, `coffer restore` and `coffer migrate` through the real binary, on SQLite and
//! the machine's PostgreSQL (a throwaway database per test), with a managed database secret
//! rotated on the machine's MariaDB:
//! - a store holding every kind of row, filled through the core service so that everything
//!   is really sealed, is backed up and restored SQLite → PostgreSQL → SQLite; every account,
//!   access key, policy, attachment, project, key (with its versions and aliases), event
//!   rule, database instance, secret (versions, stages, tags, subscriptions, sealed values)
//!   and rotation task is the same after each move, every sealed thing (values, the
//!   instance's admin password, access key secrets) opens under the same root key, the
//!   restored installation rotates the managed password again, and a server started on it
//!   answers with the old credentials;
//! - `migrate` moves a served installation to PostgreSQL and back, and refuses a source that
//!   is still served and a target that holds anything;
//! - damaged files, stores in use and a wrong root key are refused, and nothing is written;
//! - a backup of a running server (SQLite, then PostgreSQL) under a steady load of creates
//!   and new versions is one snapshot: its counts add up, every secret has its versions and
//!   one current version, every value opens, and every secret acknowledged before the backup
//!   began is in it.

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_core::keyring::Keyring;
use coffer_core::service::{
    CreateSecret, DeleteMode, NewDatabaseSecret, NewDbInstance, NewEventRule, NewKey, PutValue,
    VersionSelector, WhenExists, WhenFull,
};
use coffer_core::store::{BackupCounts, BackupItem};
use coffer_core::*;
use coffer_crypto::SecretKey;
use coffer_store::backup::{BackupReader, RootKeys};
use coffer_store::conformance::backup::Collected;
use coffer_store::testkit::pg::TestDatabase;
use coffer_store::{PgOptions, PgStore, SqliteOptions, SqliteStore};
use common::{Server, AK, SK};
use zeroize::Zeroizing;

fn database() -> TestDatabase {
    TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"))
}

/// Runs the binary with `args`; returns whether it succeeded and what it printed on stderr.
fn coffer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env_remove("COFFER_ROOT_KEY")
        .env_remove("COFFER_ROOT_KEY_FILE")
        .env_remove("COFFER_DATABASE_URL")
        .env_remove("COFFER_DATA_DIR")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run coffer");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), err)
}

fn coffer_ok(args: &[&str]) -> String {
    let (ok, err) = coffer(args);
    assert!(ok, "coffer {args:?} failed:\n{err}");
    err
}

fn coffer_fails(args: &[&str]) -> String {
    let (ok, err) = coffer(args);
    assert!(!ok, "coffer {args:?} succeeded but should not have:\n{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn maria(sql: &str) {
    let out = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            "-uroot",
            "--protocol=TCP",
            "-N",
            "-e",
            sql,
        ])
        .output()
        .expect("mysql client");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn maria_login(user: &str, password: &str) -> bool {
    Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            &format!("-u{user}"),
            &format!("-p{password}"),
            "--protocol=TCP",
            "-N",
            "-e",
            "SELECT 1",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn new_root_key(dir: &Path) -> (SecretKey, PathBuf) {
    std::fs::create_dir_all(dir).expect("data dir");
    let key = SecretKey::generate();
    let path = dir.join("root.key");
    coffer_crypto::write_private_file(&path, key.to_base64().as_bytes()).expect("root key");
    (key, path)
}

fn text(v: &str) -> SecretValue {
    SecretValue::Text(Zeroizing::new(v.into()))
}

fn new_secret(name: &str, key: Option<&str>, value: SecretValue) -> CreateSecret {
    CreateSecret {
        name: name.into(),
        description: format!("the secret {name}"),
        kind: SecretKind::Generic,
        key: key.map(str::to_string),
        tags: vec![],
        version_id: "v1".into(),
        value,
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

fn put(version: &str, value: &str) -> PutValue {
    PutValue {
        version_id: version.into(),
        value: text(value),
        stages: None,
        when_full: WhenFull::Refuse,
        max_versions: 10,
        max_stages: 10,
        expires_at: None,
        when_exists: WhenExists::Refuse,
    }
}

/// Fills the store under `svc` with every kind of row the stores keep, through the service.
/// Returns the operator's scope and the MariaDB account the managed secret rotates.
async fn fill(svc: &Service) -> (Scope, String) {
    let (operator, _, _) = svc
        .bootstrap(Some(AK.into()), Some(Zeroizing::new(SK.into())))
        .await
        .expect("bootstrap")
        .expect("a new store");
    let op = Scope {
        account: operator,
        region: "default".into(),
    };
    svc.ensure_project(&op, None).await.expect("project");
    // A tenant with two access keys (one disabled) and a policy attached to one of them.
    let (tenant, _) = svc
        .create_account("tenant", "default")
        .await
        .expect("tenant");
    let ts = Scope {
        account: tenant.id,
        region: "default".into(),
    };
    let (reader, _) = svc.create_access_key(tenant.id, false).await.expect("key");
    let (spare, _) = svc.create_access_key(tenant.id, true).await.expect("key");
    svc.set_access_key_enabled(&spare.id, false)
        .await
        .expect("disable");
    svc.put_policy(
        tenant.id,
        "read-app",
        &format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"secrets:GetValue","Resource":"crn:coffer:default:{}:secret/app/*"}}]}}"#,
            tenant.id
        ),
    )
    .await
    .expect("policy");
    svc.attach_policy(&reader.id, "read-app")
        .await
        .expect("attach");
    // Keys: one rotated (two versions) with an alias, one disabled, one pending deletion.
    let own = svc
        .create_key(
            &op,
            NewKey {
                description: "application key".into(),
                aliases: vec!["alias/app".into()],
                rotation_interval_secs: Some(30 * 86_400),
            },
        )
        .await
        .expect("key");
    for (description, disable) in [("disabled", true), ("doomed", false)] {
        let k = svc
            .create_key(
                &op,
                NewKey {
                    description: description.into(),
                    aliases: vec![],
                    rotation_interval_secs: None,
                },
            )
            .await
            .expect("key");
        if disable {
            svc.set_key_enabled(&op, &k.id, false)
                .await
                .expect("disable");
        } else {
            svc.schedule_key_deletion(&op, &k.id, 7)
                .await
                .expect("schedule deletion");
        }
    }
    svc.create_event_rule(
        &op,
        NewEventRule {
            name: "ops".into(),
            events: vec![SecretEvent::Rotated, SecretEvent::Deleted],
            enabled: true,
            target: NotifyTarget {
                kind: "SMN".into(),
                id: "urn:smn:cn-north-4:ops".into(),
                name: "ops topic".into(),
            },
        },
    )
    .await
    .expect("event rule");
    // Secrets: one with everything (tags, subscription, config, policy, three versions under
    // two key versions, a custom stage), a binary one, one pending deletion, a tenant's.
    let mut full = new_secret("app/db-url", Some(&own.id), text("postgres://first"));
    full.tags = vec![
        Tag {
            key: "env".into(),
            value: "prod".into(),
        },
        Tag {
            key: "team".into(),
            value: "core".into(),
        },
    ];
    full.subscriptions = vec!["ops".into()];
    full.extended_config = Some(r#"{"SecretSubType":"Generic"}"#.into());
    full.policy = Some(r#"{"Version":"1","Statement":[]}"#.into());
    svc.create_secret(&op, full).await.expect("secret");
    svc.rotate_key_material(&op, &own.id)
        .await
        .expect("rotate key");
    svc.put_value(&op, "app/db-url", put("v2", "postgres://second"))
        .await
        .expect("v2");
    svc.put_value(&op, "app/db-url", put("v3", "postgres://third"))
        .await
        .expect("v3");
    svc.update_stage(
        &op,
        "app/db-url",
        Stage::Custom("blue".into()),
        None,
        Some("v1".into()),
        10,
    )
    .await
    .expect("custom stage");
    svc.create_secret(
        &op,
        new_secret(
            "app/blob",
            None,
            SecretValue::Binary(Zeroizing::new(vec![0, 1, 2, 254, 255])),
        ),
    )
    .await
    .expect("binary secret");
    svc.create_secret(&op, new_secret("app/old", None, text("going away")))
        .await
        .expect("secret");
    svc.delete(&op, "app/old", DeleteMode::Window { days: 7 }, |_| Ok(()))
        .await
        .expect("delete");
    svc.create_secret(&ts, new_secret("tenant/token", None, text("tenant value")))
        .await
        .expect("tenant secret");
    // A managed MariaDB account, rotated once for real: an instance, a task, two versions.
    svc.add_db_instance(
        &op,
        NewDbInstance {
            id: "maria-local".into(),
            engine: DbEngine::MariaDb,
            host: "127.0.0.1".into(),
            port: 3306,
            admin_user: "root".into(),
            admin_password: Zeroizing::new(String::new()),
            check: true,
            tls: None,
            ca_pem: None,
            allow_cleartext_password: false,
            allowed_privileges: None,
        },
    )
    .await
    .expect("database instance");
    let app = format!("bk_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    maria(&format!(
        "CREATE USER '{app}'@'%' IDENTIFIED BY 'First-pw-1'; GRANT SELECT ON test.* TO '{app}'@'%'"
    ));
    svc.create_database_secret(
        &op,
        NewDatabaseSecret {
            name: "db/app".into(),
            description: "managed".into(),
            key: None,
            tags: vec![],
            version_id: "v1".into(),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            instance: "maria-local".into(),
            sub_type: DbSubType::SingleUser,
            format: CredentialFormat::Alibaba,
            accounts: vec![DbCredentials {
                account: app.clone(),
                password: Zeroizing::new("First-pw-1".into()),
            }],
            rotation_interval: Some(86_400),
        },
    )
    .await
    .expect("managed secret");
    let task = svc
        .rotate(&op, "db/app", Some("v2".into()))
        .await
        .expect("rotate");
    assert_eq!(task.status, TaskStatus::Succeeded, "{:?}", task.last_error);
    (op, app)
}

fn service(store: Arc<dyn Store>, root: &SecretKey) -> Service {
    Service::new(
        store,
        root.clone(),
        Arc::new(SystemClock),
        Limits::default(),
    )
    .with_database_driver(Arc::new(coffer_rotation::Databases))
}

async fn export(store: &Arc<dyn Store>) -> Vec<BackupItem> {
    let mut c = Collected::default();
    store.export(&mut c).await.expect("export");
    c.items
}

/// Opens everything in `items` that is sealed: each version's value, each database
/// instance's admin password (with the key material that seals them) and each access key's
/// secret (under the root key). Returns them by what they are.
fn open_everything(items: &[BackupItem], root: &SecretKey) -> BTreeMap<String, Vec<u8>> {
    let keyring = Keyring::new(root.clone());
    let keys: BTreeMap<&str, &KeyRecord> = items
        .iter()
        .filter_map(|i| match i {
            BackupItem::Key(k) => Some((k.id.as_str(), k)),
            _ => None,
        })
        .collect();
    let material = |key_id: &str, version: &str| {
        let key = keys
            .get(key_id)
            .unwrap_or_else(|| panic!("no key {key_id} in the backup"));
        keyring
            .material(key, version)
            .unwrap_or_else(|e| panic!("key {key_id} version {version}: {e}"))
    };
    let mut opened = BTreeMap::new();
    for item in items {
        match item {
            BackupItem::Secret { record, values, .. } => {
                for (version, sealed) in values {
                    let m = material(&sealed.key_id, &sealed.key_version);
                    let plain = keyring
                        .open_value(&m, record, version, sealed)
                        .unwrap_or_else(|e| panic!("{} {version}: {e}", record.name));
                    opened.insert(
                        format!("value {}/{} {version}", record.scope.account, record.name),
                        plain.to_vec(),
                    );
                }
            }
            BackupItem::DbInstance(i) => {
                let m = material(&i.admin_password.key_id, &i.admin_password.key_version);
                let plain = keyring
                    .open_instance_password(&m, i)
                    .unwrap_or_else(|e| panic!("instance {}: {e}", i.id));
                opened.insert(format!("instance {}", i.id), plain.to_vec());
            }
            BackupItem::AccessKey(k) => {
                let plain = keyring
                    .open_access_secret(&k.id, &k.sealed_secret)
                    .unwrap_or_else(|e| panic!("access key {}: {e}", k.id));
                opened.insert(format!("access key {}", k.id), plain.to_vec());
            }
            _ => {}
        }
    }
    opened
}

fn counts_of(items: &[BackupItem]) -> BackupCounts {
    let mut c = BackupCounts::default();
    for i in items {
        c.add(i);
    }
    c
}

/// The same items in the same order, each kind compared on its own so that a difference
/// names what differs (and never prints a sealed value).
fn same_items(a: &[BackupItem], b: &[BackupItem], what: &str) {
    assert_eq!(counts_of(a), counts_of(b), "{what}: counts differ");
    for (x, y) in a.iter().zip(b) {
        let name = match x {
            BackupItem::Account(a) => format!("account {}", a.id),
            BackupItem::AccessKey(k) => format!("access key {}", k.id),
            BackupItem::Policy(p) => format!("policy {}", p.name),
            BackupItem::Attachment {
                access_key_id,
                policy,
            } => {
                format!("attachment {access_key_id} {policy}")
            }
            BackupItem::Project(p) => format!("project {}", p.id),
            BackupItem::Key(k) => format!("key {}", k.id),
            BackupItem::EventRule(r) => format!("event rule {}", r.name),
            BackupItem::DbInstance(i) => format!("database instance {}", i.id),
            BackupItem::Secret { record, .. } => format!("secret {}", record.name),
            BackupItem::RotationTask(t) => format!("rotation task {}", t.id),
        };
        assert!(x == y, "{what}: the {name} differs");
    }
}

fn assert_every_kind(c: &BackupCounts) {
    for (what, n) in [
        ("accounts", c.accounts),
        ("access keys", c.access_keys),
        ("policies", c.policies),
        ("attachments", c.attachments),
        ("projects", c.projects),
        ("keys", c.keys),
        ("key versions", c.key_versions),
        ("key aliases", c.key_aliases),
        ("event rules", c.event_rules),
        ("database instances", c.db_instances),
        ("secrets", c.secrets),
        ("versions", c.versions),
        ("stages", c.stages),
        ("tags", c.tags),
        ("subscriptions", c.subscriptions),
        ("rotation tasks", c.rotation_tasks),
    ] {
        assert!(n > 0, "the filled store holds no {what}");
    }
}

/// SQLite → backup → PostgreSQL → backup → SQLite, through the binary, comparing everything
/// after each move and using the restored installations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_row_moves_from_sqlite_to_postgres_and_back() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let (root, key_file) = new_root_key(&first);
    let db = database();
    let url = db.url();

    // Fill the SQLite store through the service, then close it.
    let sqlite: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&first.join("coffer.db"), SqliteOptions::default()).expect("open"),
    );
    let (op, app) = fill(&service(sqlite.clone(), &root)).await;
    let before = export(&sqlite).await;
    let counts = counts_of(&before);
    assert_every_kind(&counts);
    let opened = open_everything(&before, &root);
    drop(sqlite);
    eprintln!(
        "filled: {}; {} sealed things open",
        counts.summary(),
        opened.len()
    );

    // SQLite → file → PostgreSQL.
    let file1 = tmp.path().join("first.backup");
    let said = coffer_ok(&["backup", "--data-dir", s(&first), "--out", s(&file1)]);
    assert!(said.contains(&counts.summary()), "{said}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file1)
            .expect("backup file")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the backup file is private: {mode:o}");
    coffer_ok(&[
        "restore",
        "--from",
        s(&file1),
        "--database-url",
        &url,
        "--root-key-file",
        s(&key_file),
    ]);
    let pg: Arc<dyn Store> = Arc::new(PgStore::open(&url, PgOptions::default()).await.expect("pg"));
    let on_pg = export(&pg).await;
    same_items(&before, &on_pg, "sqlite → postgres");
    assert_eq!(
        open_everything(&on_pg, &root),
        opened,
        "sealed things after the move"
    );

    // The restored installation works: it rotates the managed password again on MariaDB
    // (which needs the instance's admin password and the key material), and reads values.
    let svc = service(pg.clone(), &root);
    svc.check_root_key().await.expect("root key");
    let task = svc
        .rotate(&op, "db/app", Some("v3".into()))
        .await
        .expect("rotate");
    assert_eq!(task.status, TaskStatus::Succeeded, "{:?}", task.last_error);
    let current = svc
        .get_value(&op, "db/app", &VersionSelector::default())
        .await
        .expect("credentials");
    let creds =
        DbCredentials::decode(std::str::from_utf8(current.value.as_bytes()).expect("utf-8"))
            .expect("credentials");
    assert_eq!(creds.account, app);
    assert!(
        maria_login(&app, &creds.password),
        "the rotated password logs in"
    );
    let after_rotation = export(&pg).await;
    drop(svc);
    drop(pg);

    // PostgreSQL → file → SQLite (a new data dir with the root key copied into it).
    let file2 = tmp.path().join("second.backup");
    coffer_ok(&[
        "backup",
        "--database-url",
        &url,
        "--root-key-file",
        s(&key_file),
        "--out",
        s(&file2),
    ]);
    coffer_ok(&[
        "restore",
        "--from",
        s(&file2),
        "--data-dir",
        s(&second),
        "--root-key-file",
        s(&key_file),
    ]);
    let back: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&second.join("coffer.db"), SqliteOptions::default()).expect("open"),
    );
    let on_sqlite = export(&back).await;
    same_items(&after_rotation, &on_sqlite, "postgres → sqlite");
    let reopened = open_everything(&on_sqlite, &root);
    assert_eq!(
        reopened.len(),
        opened.len() + 1,
        "one more version after the rotation"
    );
    for (what, plain) in &opened {
        assert_eq!(reopened.get(what), Some(plain), "{what}");
    }
    drop(back);

    // A server on the restored data dir answers with the operator's key from the first store.
    std::fs::copy(&key_file, second.join("root.key")).expect("copy the root key");
    let server = Server::start(&second);
    let c = server.client();
    let got = c.ok(
        "GetSecretValue",
        &[("SecretName", "app/db-url"), ("VersionStage", "ACSCurrent")],
    );
    assert_eq!(got["SecretData"], "postgres://third");
    let got = c.ok(
        "GetSecretValue",
        &[("SecretName", "app/db-url"), ("VersionId", "v1")],
    );
    assert_eq!(got["SecretData"], "postgres://first");
    assert!(server.terminate());
    maria(&format!("DROP USER IF EXISTS '{app}'@'%'"));
    eprintln!(
        "{} items compared after two moves, {} sealed things opened, in {:?}",
        on_sqlite.len(),
        reopened.len(),
        started.elapsed()
    );
}

/// Refusals: a store in use, a store that is not empty, a damaged file, a wrong root key, an
/// existing output file. Nothing is written by any of them.
#[test]
fn damaged_files_busy_stores_and_wrong_keys_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let c = server.client();
    for i in 0..5 {
        c.ok(
            "CreateSecret",
            &[
                ("SecretName", &format!("s{i}")),
                ("VersionId", "v1"),
                ("SecretData", &format!("value {i}")),
            ],
        );
    }
    let file = tmp.path().join("ok.backup");
    coffer_ok(&["backup", "--data-dir", s(&data), "--out", s(&file)]);
    let key = data.join("root.key");

    // The running server's own data dir: its lock refuses a restore and a move.
    let said = coffer_fails(&["restore", "--from", s(&file), "--data-dir", s(&data)]);
    assert!(said.contains("in use"), "{said}");
    let said = coffer_fails(&[
        "migrate",
        "--from",
        s(&data),
        "--to",
        s(&tmp.path().join("elsewhere")),
    ]);
    assert!(said.contains("in use"), "{said}");
    assert!(!tmp.path().join("elsewhere").join("coffer.db").exists());
    // An existing output file is kept unless --force.
    let said = coffer_fails(&["backup", "--data-dir", s(&data), "--out", s(&file)]);
    assert!(said.contains("exists"), "{said}");
    // Another root key: the backup stops and leaves no file.
    let (_, wrong) = new_root_key(&tmp.path().join("wrong"));
    let out = tmp.path().join("wrong.backup");
    let said = coffer_fails(&[
        "backup",
        "--data-dir",
        s(&data),
        "--root-key-file",
        s(&wrong),
        "--out",
        s(&out),
    ]);
    assert!(said.contains("does not open"), "{said}");
    assert!(!out.exists());
    assert!(!tmp.path().join("wrong.backup.partial").exists());
    let said = coffer_fails(&[
        "restore",
        "--from",
        s(&file),
        "--check-only",
        "--root-key-file",
        s(&wrong),
    ]);
    assert!(said.contains("another root key"), "{said}");

    // Damaged copies: cut short, edited; each refused, and the target data dir gets no store.
    let bytes = std::fs::read(&file).expect("read");
    let target = tmp.path().join("target");
    let damaged = [
        (
            "cut short",
            bytes[..bytes.len() * 2 / 3].to_vec(),
            "cut short",
        ),
        (
            "without its end line",
            {
                let text = String::from_utf8(bytes.clone()).expect("utf-8");
                let mut lines: Vec<&str> = text.lines().collect();
                lines.pop();
                (lines.join("\n") + "\n").into_bytes()
            },
            "cut short",
        ),
        (
            "edited",
            String::from_utf8(bytes.clone())
                .expect("utf-8")
                .replacen("\"name\":\"s1\"", "\"name\":\"s9\"", 1)
                .into_bytes(),
            "checksum",
        ),
    ];
    for (what, content, expect) in damaged {
        assert_ne!(content, bytes, "{what}");
        let path = tmp.path().join("damaged.backup");
        std::fs::write(&path, content).expect("write");
        let said = coffer_fails(&[
            "restore",
            "--from",
            s(&path),
            "--data-dir",
            s(&target),
            "--root-key-file",
            s(&key),
        ]);
        assert!(said.contains(expect), "{what}: {said}");
        assert!(
            !target.join("coffer.db").exists(),
            "{what}: a store was made"
        );
    }
    // A PostgreSQL database that holds tables of something else is refused, and left alone.
    let db = database();
    db.execute_blocking("CREATE TABLE not_coffers (x integer)")
        .expect("a foreign table");
    let said = coffer_fails(&[
        "restore",
        "--from",
        s(&file),
        "--database-url",
        &db.url(),
        "--root-key-file",
        s(&key),
    ]);
    assert!(said.contains("not coffer's"), "{said}");
    let tables = db
        .query_blocking(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .expect("tables");
    assert_eq!(tables.as_deref(), Some("1"), "the database was changed");
    // The intact file restores once; a second time the store is not empty.
    coffer_ok(&[
        "restore",
        "--from",
        s(&file),
        "--data-dir",
        s(&target),
        "--root-key-file",
        s(&key),
    ]);
    let said = coffer_fails(&[
        "restore",
        "--from",
        s(&file),
        "--data-dir",
        s(&target),
        "--root-key-file",
        s(&key),
    ]);
    assert!(said.contains("not empty"), "{said}");
    assert!(server.terminate());
}

/// A served SQLite installation moves to PostgreSQL (and is served from there with the same
/// data dir), then back to a new data dir; a source still served is refused, and so is a
/// target that holds anything.
#[test]
fn migrate_moves_a_served_installation_both_ways() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let db = database();
    let url = db.url();
    let server = Server::start(&data);
    let c = server.client();
    for i in 0..20 {
        c.ok(
            "CreateSecret",
            &[
                ("SecretName", &format!("m/{i}")),
                ("VersionId", "v1"),
                ("SecretData", &format!("value {i}")),
            ],
        );
    }
    c.ok(
        "PutSecretValue",
        &[
            ("SecretName", "m/3"),
            ("VersionId", "v2"),
            ("SecretData", "newer"),
        ],
    );
    assert!(server.terminate());

    let said = coffer_ok(&["migrate", "--from", s(&data), "--to", &url]);
    assert!(said.contains("20 secrets, 21 versions"), "{said}");
    // The target now holds it: a second move there is refused.
    let said = coffer_fails(&["migrate", "--from", s(&data), "--to", &url]);
    assert!(said.contains("not empty"), "{said}");

    // Served from PostgreSQL with the same data dir (root key and audit log go on).
    let node = Server::start_with(
        &data,
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_DATABASE_URL", &url),
        ],
    );
    let c = node.client();
    assert_eq!(
        c.ok("GetSecretValue", &[("SecretName", "m/3")])["SecretData"],
        "newer"
    );
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "on-pg"),
            ("VersionId", "v1"),
            ("SecretData", "written on pg"),
        ],
    );
    // While the node serves the database, moving it away is refused.
    let back = tmp.path().join("back");
    let said = coffer_fails(&[
        "migrate",
        "--from",
        &url,
        "--to",
        s(&back),
        "--root-key-file",
        s(&data.join("root.key")),
    ]);
    assert!(said.contains("other coffer session"), "{said}");
    assert!(!back.join("coffer.db").exists());
    assert!(node.terminate());

    coffer_ok(&[
        "migrate",
        "--from",
        &url,
        "--to",
        s(&back),
        "--root-key-file",
        s(&data.join("root.key")),
    ]);
    std::fs::copy(data.join("root.key"), back.join("root.key")).expect("copy the root key");
    let server = Server::start(&back);
    let c = server.client();
    assert_eq!(
        c.ok("GetSecretValue", &[("SecretName", "on-pg")])["SecretData"],
        "written on pg"
    );
    assert_eq!(
        c.ok("GetSecretValue", &[("SecretName", "m/19")])["SecretData"],
        "value 19"
    );
    assert!(server.terminate());
}

/// What the writers of the consistency test acknowledged: each secret's name and versions,
/// and when the first was acknowledged.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Backs up a running server while clients create secrets and add versions, twice, and
/// checks each backup: it restores, its counts add up, every secret has its versions and one
/// current version, every value opens to what was written, and every secret acknowledged
/// before the backup began is in it.
fn backup_while_writing(data: &Path, server: &Server, database_url: Option<&str>, label: &str) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, acked) = (stop.clone(), acked.clone());
            let c = server.client();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("load/{w}/{i}");
                    c.ok(
                        "CreateSecret",
                        &[
                            ("SecretName", &name),
                            ("VersionId", "v1"),
                            ("SecretData", &format!("{name} v1")),
                        ],
                    );
                    if let Ok(mut a) = acked.lock() {
                        a.push((name.clone(), Instant::now()));
                    }
                    c.ok(
                        "PutSecretValue",
                        &[
                            ("SecretName", &name),
                            ("VersionId", "v2"),
                            ("SecretData", &format!("{name} v2")),
                        ],
                    );
                    i += 1;
                }
                i
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let root = SecretKey::load_file(&data.join("root.key")).expect("root key");
    let mut checked = 0;
    for round in 0..2 {
        let file = data.with_extension(format!("{round}.backup"));
        let began = Instant::now();
        let mut args = vec!["backup", "--data-dir", s(data), "--out", s(&file)];
        if let Some(url) = database_url {
            args.extend(["--database-url", url]);
        }
        coffer_ok(&args);
        let took = began.elapsed();
        let before: Vec<String> = acked
            .lock()
            .expect("acked")
            .iter()
            .filter(|(_, at)| *at < began)
            .map(|(n, _)| n.clone())
            .collect();
        // Read it back and check it whole.
        let bytes = std::fs::read(&file).expect("read");
        let keys = RootKeys::new(root.clone(), None);
        let mut reader = BackupReader::open(Cursor::new(&bytes), &keys).expect("header");
        let mut items = vec![];
        while let Some(item) = reader.next_item().expect("a whole, intact backup") {
            items.push(item);
        }
        let counts = counts_of(&items);
        assert_eq!(counts, reader.header().counts, "counts add up");
        let mut names = std::collections::HashSet::new();
        for item in &items {
            if let BackupItem::Secret { record, values, .. } = item {
                names.insert(record.name.clone());
                assert!(
                    !record.versions.is_empty(),
                    "{} has no version",
                    record.name
                );
                assert_eq!(values.len(), record.versions.len(), "{}", record.name);
                let current = record
                    .versions
                    .iter()
                    .filter(|v| v.stages.contains(&Stage::Current))
                    .count();
                assert_eq!(current, 1, "{} has {current} current versions", record.name);
            }
        }
        let opened = open_everything(&items, &root);
        for (what, plain) in &opened {
            if let Some(rest) = what.strip_prefix("value ") {
                // "<account>/load/<w>/<i> <version>" holds "load/<w>/<i> <version>".
                if let Some((_, name_version)) = rest.split_once('/') {
                    if name_version.starts_with("load/") || name_version.starts_with("seed/") {
                        assert_eq!(plain.as_slice(), name_version.as_bytes(), "{what}");
                        checked += 1;
                    }
                }
            }
        }
        let missing: Vec<&String> = before.iter().filter(|n| !names.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{label}: {} secrets acknowledged before the backup are missing from it: {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        eprintln!(
            "{label} backup {round}: {} in {took:?} while writing; {} acknowledged before it began, all in it",
            counts.summary(),
            before.len()
        );
        // The file restores into a new store of the other kind's neighbour: a new data dir.
        let target = data.with_extension(format!("restored{round}"));
        coffer_ok(&[
            "restore",
            "--from",
            s(&file),
            "--data-dir",
            s(&target),
            "--root-key-file",
            s(&data.join("root.key")),
        ]);
    }
    stop.store(true, Ordering::SeqCst);
    let mut written = 0;
    for w in writers {
        written += w.join().expect("writer");
    }
    assert!(
        written > 20,
        "{label}: only {written} secrets written during the test"
    );
    eprintln!("{label}: {written} secrets written during the backups; {checked} values checked");
}

/// Seeds `store` (before any server opens it) with the bootstrap account and `n` secrets of
/// two versions each, so that a backup takes long enough for writes to land while it reads.
fn seed(data: &Path, store: Arc<dyn Store>, n: usize) {
    let (root, _) = new_root_key(data);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let svc = Arc::new(service(store, &root));
        let (account, _, _) = svc
            .bootstrap(Some(AK.into()), Some(Zeroizing::new(SK.into())))
            .await
            .expect("bootstrap")
            .expect("new");
        let scope = Scope {
            account,
            region: "default".into(),
        };
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..16 {
            let (svc, scope) = (svc.clone(), scope.clone());
            tasks.spawn(async move {
                for i in (w..n).step_by(16) {
                    let name = format!("seed/{i}");
                    svc.create_secret(&scope, new_secret(&name, None, text(&format!("{name} v1"))))
                        .await
                        .expect("seed");
                    svc.put_value(&scope, &name, put("v2", &format!("{name} v2")))
                        .await
                        .expect("seed v2");
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("seeding task");
        }
        eprintln!("seeded {n} secrets in {:?}", started.elapsed());
    });
}

const SEEDED: usize = 3000;

#[test]
fn a_backup_of_a_running_sqlite_server_is_one_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = SqliteStore::open(
        &{
            std::fs::create_dir_all(&data).expect("data dir");
            data.join("coffer.db")
        },
        SqliteOptions::default(),
    )
    .expect("open");
    let store = Arc::new(store);
    seed(&data, store.clone(), SEEDED);
    drop(store);
    let server = Server::start(&data);
    backup_while_writing(&data, &server, None, "sqlite");
    assert!(server.terminate());
}

#[test]
fn a_backup_of_a_running_postgres_node_is_one_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let db = database();
    let url = db.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt
        .block_on(PgStore::open(&url, PgOptions::default()))
        .expect("open postgres");
    drop(rt);
    seed(&data, Arc::new(store), SEEDED);
    let server = Server::start_with(
        &data,
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_DATABASE_URL", &url),
        ],
    );
    backup_while_writing(&data, &server, Some(&url), "postgres");
    assert!(server.terminate());
}

/// `coffer --help` lists the three commands, and each one's help says what it reads and
/// writes and what the operator must copy by hand.
#[test]
fn help_describes_backup_restore_and_migrate() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .output()
            .expect("run coffer");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let top = help(&["--help"]);
    for command in ["backup", "restore", "migrate"] {
        assert!(
            top.contains(&format!("  {command} ")),
            "{command} missing:\n{top}"
        );
    }
    let backup = help(&["backup", "--help"]);
    for needle in [
        "--out",
        "--database-url",
        "--root-key-file",
        "--force",
        "audit log",
        "MAC",
    ] {
        assert!(backup.contains(needle), "backup --help lacks {needle:?}");
    }
    let restore = help(&["restore", "--help"]);
    for needle in [
        "--from",
        "--check-only",
        "root.key",
        "audit.log",
        "one transaction",
        "empty",
    ] {
        assert!(restore.contains(needle), "restore --help lacks {needle:?}");
    }
    let migrate = help(&["migrate", "--help"]);
    for needle in [
        "--from",
        "--to",
        "postgres://",
        "root key",
        "audit log",
        "Stop",
    ] {
        assert!(migrate.contains(needle), "migrate --help lacks {needle:?}");
    }
}
