//! What the server keeps on the machine stays with its own user, through the real binary:
//! every file of the data dir is 0600 and the dir 0700 (also when the dir was made wider
//! beforehand, or the files by an older version), a root key file that group or others may
//! read or write stops the start, a `.next` key whose mode differs from the root key file's is
//! not trusted, and a root key given in `COFFER_ROOT_KEY` is gone from the process's
//! environment once read.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Client, Server, AK, SK};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every entry of the data dir with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = std::fs::read_dir(dir)
        .expect("read data dir")
        .map(|e| e.expect("entry"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                mode(&e.path()),
            )
        })
        .collect();
    out.sort();
    out
}

fn assert_private(dir: &Path, expected_files: &[&str]) {
    assert_eq!(mode(dir), 0o700, "the data dir {}", dir.display());
    let found = modes(dir);
    for name in expected_files {
        assert!(
            found.iter().any(|(n, _)| n == name),
            "{name} missing in {found:?}"
        );
    }
    for (name, m) in &found {
        assert_eq!(*m, 0o600, "{name} has mode {m:04o}; all: {found:?}");
    }
}

fn random_key() -> String {
    let bytes: Vec<u8> = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .copied()
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs `coffer serve` expecting it to refuse to start; returns what it wrote to stderr.
fn start_refused(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(["--log-format", "text"])
        .args(extra_args)
        .env_remove("COFFER_ROOT_KEY")
        .env_remove("COFFER_ROOT_KEY_FILE")
        .env("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK)
        .env("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn coffer");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!status.success(), "coffer started: {err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("coffer kept running although it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn umask_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u.trim().to_string())
        .expect("Umask line")
}

#[test]
fn every_file_of_the_data_dir_is_private_even_in_a_dir_made_wide_beforehand() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    chmod(&data, 0o755);
    // No credentials given: the server writes bootstrap-credentials and the project id, and
    // makes its root key in the data dir.
    let server = Server::start_with(&data, &[]);
    assert_eq!(umask_of(server.child.id()), "0077");
    let creds = std::fs::read_to_string(data.join("bootstrap-credentials")).expect("creds");
    let field = |name: &str| {
        creds
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .expect("field")
            .to_string()
    };
    let client = Client {
        base: server.base(),
        ak: field("access_key_id"),
        sk: field("access_key_secret"),
    };
    client.ok(
        "CreateSecret",
        &[
            ("SecretName", "s"),
            ("VersionId", "v1"),
            ("SecretData", "x"),
        ],
    );
    // While it runs: the database with its log and shared memory, the lock, the audit log.
    assert_private(
        &data,
        &[
            "coffer.db",
            "coffer.db-wal",
            "coffer.db-shm",
            "coffer.db.lock",
            "audit.log",
            "root.key",
            "bootstrap-credentials",
            "huawei-project-id",
        ],
    );
    assert!(
        server
            .log_text()
            .contains("restricted it to the server's user"),
        "no warning about the wide data dir: {}",
        server.log_text()
    );
    assert!(server.terminate(), "SIGTERM did not shut down cleanly");
    assert_private(&data, &["coffer.db", "audit.log", "root.key"]);
}

#[test]
fn files_left_wide_by_an_earlier_run_are_restricted_at_start_with_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "kept"),
            ("VersionId", "v1"),
            ("SecretData", "kept-value"),
        ],
    );
    assert!(server.terminate());
    // As an older version, or a careless copy, would have left them.
    chmod(&data, 0o755);
    for (name, _) in modes(&data) {
        if name != "root.key" {
            chmod(&data.join(&name), 0o644);
        }
    }
    let server = Server::start(&data);
    let log = server.log_text();
    for name in ["coffer.db", "audit.log", "huawei-project-id"] {
        assert!(
            log.lines()
                .any(|l| l.contains(name) && l.contains("0644") && l.contains("restricted")),
            "no warning naming {name}: {log}"
        );
    }
    assert_private(&data, &["coffer.db", "audit.log", "huawei-project-id"]);
    let read = server
        .client()
        .ok("GetSecretValue", &[("SecretName", "kept")]);
    assert_eq!(read["SecretData"], "kept-value");
}

#[test]
fn a_root_key_file_others_may_read_or_write_stops_the_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    assert!(server.terminate());
    let key = data.join("root.key");
    for wide in [0o644, 0o640, 0o620, 0o606] {
        chmod(&key, wide);
        let err = start_refused(&data, &[], &[]);
        assert!(
            err.contains(&key.display().to_string())
                && err.contains(&format!("{wide:04o}"))
                && err.contains("chmod 600"),
            "{err}"
        );
        // Refused, not repaired: the operator decides (the key may have been read).
        assert_eq!(mode(&key), wide);
    }
    // The same for a key file given with --root-key-file, outside the data dir.
    let outside = tmp.path().join("elsewhere.key");
    std::fs::write(&outside, random_key()).expect("write key");
    chmod(&outside, 0o644);
    let other = tmp.path().join("other-data");
    let err = start_refused(
        &other,
        &["--root-key-file", &outside.display().to_string()],
        &[],
    );
    assert!(
        err.contains("elsewhere.key") && err.contains("0644") && err.contains("chmod 600"),
        "{err}"
    );
    // Fixed as the message says, it starts.
    chmod(&key, 0o600);
    let server = Server::start(&data);
    assert!(server.terminate());
    chmod(&outside, 0o600);
    let server = Server::start_with(
        &other,
        &[
            ("COFFER_ROOT_KEY_FILE", &outside.display().to_string()),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ],
    );
    assert!(server.terminate());
}

#[test]
fn a_next_root_key_is_trusted_only_with_the_root_key_files_owner_and_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "s"),
            ("VersionId", "v1"),
            ("SecretData", "value"),
        ],
    );
    assert!(server.terminate());
    // A key of an unfinished rotation, as `coffer admin rewrap` would have left it, but with
    // another mode than root.key (0600).
    let next = data.join("root.key.next");
    std::fs::write(&next, random_key()).expect("write next");
    chmod(&next, 0o400);
    let err = start_refused(&data, &[], &[]);
    assert!(
        err.contains("root.key.next") && err.contains("0400") && err.contains("0600"),
        "{err}"
    );
    // Private, but readable by others: refused for that.
    chmod(&next, 0o604);
    let err = start_refused(&data, &[], &[]);
    assert!(
        err.contains("root.key.next") && err.contains("chmod 600"),
        "{err}"
    );
    // Same mode but another owner (only root may give a file away; elsewhere this part is
    // skipped): refused, naming both owners.
    chmod(&next, 0o600);
    if std::os::unix::fs::chown(&next, Some(65534), None).is_ok() {
        let err = start_refused(&data, &[], &[]);
        assert!(
            err.contains("root.key.next") && err.contains("uid 65534"),
            "{err}"
        );
        let own = std::fs::metadata(data.join("root.key"))
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .expect("root.key");
        std::os::unix::fs::chown(&next, Some(own), None).expect("chown back");
    }
    // With the root key file's mode (and owner) it is trusted: the server resumes the
    // rotation with both keys and still reads what the old key wrapped.
    chmod(&next, 0o600);
    let server = Server::start(&data);
    assert!(
        server
            .log_text()
            .contains("root key rotation was left unfinished"),
        "{}",
        server.log_text()
    );
    let read = server.client().ok("GetSecretValue", &[("SecretName", "s")]);
    assert_eq!(read["SecretData"], "value");
}

#[test]
fn a_root_key_from_the_environment_is_gone_from_it_once_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let key = random_key();
    let env = [
        ("COFFER_ROOT_KEY", key.as_str()),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_TEST_MARKER", "still-here"),
    ];
    let server = Server::start_with(&data, &env);
    let environ =
        std::fs::read(format!("/proc/{}/environ", server.child.id())).expect("read environ");
    let has = |needle: &str| {
        environ
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(
        has("COFFER_TEST_MARKER=still-here"),
        "not the server's environment"
    );
    assert!(
        !has("COFFER_ROOT_KEY"),
        "the variable is still in the environment"
    );
    assert!(!has(&key), "the root key is still in the environment");
    // The bootstrap secret goes the same way.
    assert!(!has(SK), "the bootstrap secret is still in the environment");
    assert!(has("COFFER_BOOTSTRAP_ACCESS_KEY_ID"));
    // The key was used, not dropped: no key file was made, and a restart with the same key
    // reads what this one wrote.
    server.client().ok(
        "CreateSecret",
        &[
            ("SecretName", "s"),
            ("VersionId", "v1"),
            ("SecretData", "env-value"),
        ],
    );
    assert!(!data.join("root.key").exists());
    assert!(server.terminate());
    let server = Server::start_with(&data, &env);
    let read = server.client().ok("GetSecretValue", &[("SecretName", "s")]);
    assert_eq!(read["SecretData"], "env-value");
    assert!(!server.log_text().contains(&key));
}
