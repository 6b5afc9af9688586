//! A root key that is missing, wrong or unreadable stops the start with a message that says
//! what to do, and leaves nothing behind that would make the next start worse (a new key
//! beside a store it cannot open).

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;

/// A data dir holding a store, made by a first start that stopped cleanly.
fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "kept"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    assert!(server.terminate(), "coffer did not stop cleanly");
    (tmp, data)
}

/// Starts on `data`, which must fail: returns what it said.
fn start_fails(data: &Path) -> String {
    let mut server = Server::spawn_with(
        data,
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", common::AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", common::SK),
        ],
    );
    let exited = server.wait_exit(Duration::from_secs(20));
    let log = server.log_text();
    assert_eq!(
        exited,
        Some(false),
        "coffer did not stop with an error:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    log
}

fn write_key_file(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).expect("write key file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn says_what_to_do(log: &str) {
    for hint in ["backup", "--root-key-file", "COFFER_ROOT_KEY"] {
        assert!(
            log.contains(hint),
            "the message does not mention {hint}:\n{log}"
        );
    }
}

#[test]
fn a_missing_root_key_stops_the_start_and_no_new_key_is_made() {
    let (_tmp, data) = store();
    let key = data.join("root.key");
    let saved = std::fs::read(&key).expect("root key");
    std::fs::remove_file(&key).expect("remove the root key");
    let log = start_fails(&data);
    assert!(log.contains("root.key is missing"), "{log}");
    says_what_to_do(&log);
    assert!(
        !key.exists(),
        "a new root key was made for an existing store"
    );
    // Put back, the same data dir starts and serves what it held.
    write_key_file(&key, &saved);
    let server = Server::start(&data);
    server
        .client()
        .ok("GetSecretValue", &[("SecretName", "kept")]);
}

#[test]
fn another_root_key_stops_the_start() {
    let (_tmp, data) = store();
    let key = data.join("root.key");
    let other = coffer_crypto::SecretKey::generate();
    write_key_file(&key, other.to_base64().as_bytes());
    let log = start_fails(&data);
    assert!(log.contains("does not open"), "{log}");
    assert!(
        log.contains(key.to_str().expect("path")),
        "which key: {log}"
    );
    says_what_to_do(&log);
}

#[test]
fn an_unreadable_root_key_stops_the_start() {
    let (_tmp, data) = store();
    let key = data.join("root.key");
    // Not a key: damaged, or the wrong file copied there.
    write_key_file(&key, b"this is not a key\n");
    let log = start_fails(&data);
    assert!(log.contains("32 bytes"), "{log}");
    says_what_to_do(&log);
    // Not a file at all (a directory stands in for a file that cannot be read: the tests
    // run as root, whom file modes do not stop).
    std::fs::remove_file(&key).expect("remove");
    std::fs::create_dir(&key).expect("a directory in its place");
    let log = start_fails(&data);
    assert!(log.contains("reading the root key"), "{log}");
    says_what_to_do(&log);
}

#[test]
fn a_root_key_file_given_and_missing_stops_the_start() {
    let (_tmp, data) = store();
    let key = data.join("root.key");
    let moved = data.with_file_name("elsewhere.key");
    std::fs::rename(&key, &moved).expect("move the key");
    let nowhere = data.with_file_name("nowhere.key");
    let mut server = Server::spawn_with(
        &data,
        &[("COFFER_ROOT_KEY_FILE", nowhere.to_str().expect("path"))],
    );
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(false));
    let log = server.log_text();
    assert!(log.contains("nowhere.key: no such file"), "{log}");
    says_what_to_do(&log);
    assert!(!key.exists() && !nowhere.exists(), "a key file was made");
    // The right file given, the store opens.
    let server = Server::start_with(
        &data,
        &[("COFFER_ROOT_KEY_FILE", moved.to_str().expect("path"))],
    );
    server
        .client()
        .ok("GetSecretValue", &[("SecretName", "kept")]);
}

/// On PostgreSQL the data dir says nothing about the store: a node started there without its
/// key makes one (as on a first start), finds that it opens nothing, stops, and removes the
/// key it made, so that the next start (with the right key copied in) does not find a wrong
/// one in its place.
#[test]
fn a_key_made_for_a_postgresql_store_it_cannot_open_is_removed() {
    use coffer_store::testkit::pg::TestDatabase;
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = tmp.path().join("first");
    let url = db.url();
    let e = [
        ("COFFER_DATABASE_URL", url.as_str()),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", common::AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", common::SK),
    ];
    let server = Server::start_with(&first, &e);
    assert!(server.terminate(), "coffer did not stop cleanly");

    let second = tmp.path().join("second");
    let log = start_fails_with(&second, &e);
    assert!(
        log.contains("does not open the PostgreSQL database"),
        "{log}"
    );
    says_what_to_do(&log);
    assert!(
        !second.join("root.key").exists(),
        "the key made by the failed start was left behind"
    );
    // With the store's key copied in, the new node starts.
    std::fs::copy(first.join("root.key"), second.join("root.key")).expect("copy the key");
    let server = Server::start_with(&second, &e);
    assert!(server.terminate(), "coffer did not stop cleanly");
}

fn start_fails_with(data: &Path, env: &[(&str, &str)]) -> String {
    let mut server = Server::spawn_with(data, env);
    let exited = server.wait_exit(Duration::from_secs(20));
    let log = server.log_text();
    assert_eq!(
        exited,
        Some(false),
        "coffer did not stop with an error:\n{log}"
    );
    log
}
