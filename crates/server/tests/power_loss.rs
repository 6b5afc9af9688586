//! Every acknowledged write, and its audit entry, survives a power cut.
//!
//! coffer runs with its data dir on `coffer-testfs`, a FUSE filesystem that keeps what was
//! written since the last `fsync` apart and forgets it when it "loses power", names of files
//! included when their directory was not synced (see that crate's docs). Writers create
//! secrets and put new versions through the Alibaba dialect (signed), recording every answer;
//! the power goes while they are still writing; then the data dir holds exactly what the disk
//! would hold. The server started again on it must return every acknowledged version with its
//! value, the audit log must hold every acknowledged request and verify (`coffer audit
//! verify`), and a secret's current value is the last acknowledged one or a later attempt
//! (a write the server finished but never got to answer may survive; a write it answered may
//! not be lost). A few cycles, each starting from what the last cut left.
//!
//! A SIGKILL (crates/server/tests/durability.rs) cannot catch a missing fsync: the kernel
//! still holds what the process wrote. This can, and
//! `power_loss_catches_commits_that_are_not_synced` shows it: the same cut against a server
//! whose SQLite commits are not synced loses acknowledged writes.
//!
//! Needs root and /dev/fuse (see `coffer_testfs::TestFs::available`).

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_testfs::TestFs;
use common::Server;

const WRITERS: usize = 8;
const CYCLES: usize = 3;

/// One write a writer sent.
#[derive(Clone, Debug)]
struct Attempt {
    name: String,
    version: u32,
    value: String,
    /// The request id of the success answer, when there was one.
    acked: Option<String>,
}

struct Dirs {
    _tmp: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
}

fn dirs() -> Dirs {
    if let Err(why) = TestFs::available() {
        panic!("the power-loss test needs FUSE: {why}");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let backing = tmp.path().join("backing");
    let mnt = tmp.path().join("data");
    std::fs::create_dir(&backing).expect("backing dir");
    std::fs::create_dir(&mnt).expect("mountpoint");
    Dirs {
        _tmp: tmp,
        backing,
        mnt,
    }
}

fn start(mnt: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", common::AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", common::SK),
    ];
    env.extend_from_slice(extra_env);
    Server::start_with(mnt, &env)
}

/// Runs writers against `server` until the power goes, which happens once they have had
/// some writes acknowledged, at a moment that varies from cycle to cycle. Returns every
/// attempt.
fn write_until_the_power_goes(server: Server, fs: TestFs, cycle: usize) -> Vec<Attempt> {
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (attempts, acked, stop) = (attempts.clone(), acked.clone(), stop.clone());
            let c = server.client();
            std::thread::spawn(move || {
                let mut i = 0;
                'names: while !stop.load(Ordering::Relaxed) {
                    let name = format!("pl-{cycle}-{t}-{i}");
                    i += 1;
                    for version in 1..=3u32 {
                        let value = format!("value of {name} v{version}");
                        let slot = {
                            let mut a = attempts.lock().expect("lock");
                            a.push(Attempt {
                                name: name.clone(),
                                version,
                                value: value.clone(),
                                acked: None,
                            });
                            a.len() - 1
                        };
                        let vid = format!("v{version}");
                        let action = if version == 1 {
                            "CreateSecret"
                        } else {
                            "PutSecretValue"
                        };
                        let answer = c.try_call(
                            action,
                            &[
                                ("SecretName", &name),
                                ("VersionId", &vid),
                                ("SecretData", &value),
                            ],
                        );
                        match answer {
                            Some((200, body)) => {
                                let id = body["RequestId"].as_str().expect("RequestId").to_string();
                                attempts.lock().expect("lock")[slot].acked = Some(id);
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            // Refused (the disk is gone) or no answer (the server is gone):
                            // this writer is done.
                            _ => break 'names,
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < 40 {
        assert!(
            Instant::now() < deadline,
            "the writers got only {} answers in 30 s; log:\n{}",
            acked.load(Ordering::Relaxed),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A different moment each cycle, while every writer is mid-request.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(u64::from(nanos % 150)));
    let before = acked.load(Ordering::Relaxed);
    fs.lose_power().expect("lose power");
    stop.store(true, Ordering::Relaxed);
    server.kill();
    for t in threads {
        t.join().expect("writer thread");
    }
    let attempts = attempts.lock().expect("lock").clone();
    let after = attempts.iter().filter(|a| a.acked.is_some()).count();
    eprintln!(
        "cycle {cycle}: {after} writes acknowledged ({before} before the cut), {} not",
        attempts.len() - after
    );
    assert!(
        attempts.iter().any(|a| a.acked.is_none()),
        "no write was in flight when the power went"
    );
    attempts
}

/// `coffer audit verify` on the data dir as the cut left it.
fn audit_verifies(data_dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env_remove("COFFER_ROOT_KEY")
        .env_remove("COFFER_ROOT_KEY_FILE")
        .env_remove("COFFER_DATA_DIR")
        .output()
        .expect("run coffer audit verify");
    assert!(
        out.status.success(),
        "the audit log does not verify after the cut: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Request ids of the successful requests in the audit log; and that no value is in it.
fn audited_successes(data_dir: &Path, attempts: &[Attempt]) -> HashSet<String> {
    let text = std::fs::read_to_string(data_dir.join("audit.log")).expect("audit log");
    for a in attempts {
        assert!(
            !text.contains(&a.value),
            "a secret value reached the audit log"
        );
    }
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["status"] == 200)
        .filter_map(|e| e["request_id"].as_str().map(str::to_string))
        .collect()
}

/// Through a server on what the cuts left: every acknowledged version is there with its
/// value, and each secret's current value is its last acknowledged one or a later attempt.
/// Returns how many acknowledged writes are missing or wrong.
fn lost_writes(server: &Server, attempts: &[Attempt]) -> usize {
    let c = server.client();
    let mut lost = 0;
    let mut by_name: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for a in attempts {
        by_name.entry(&a.name).or_default().push(a);
    }
    for (name, tries) in by_name {
        let Some(last_acked) = tries
            .iter()
            .filter(|a| a.acked.is_some())
            .map(|a| a.version)
            .max()
        else {
            continue;
        };
        for a in tries.iter().filter(|a| a.acked.is_some()) {
            let vid = format!("v{}", a.version);
            let (status, body) = c.call(
                "GetSecretValue",
                &[("SecretName", name), ("VersionId", &vid)],
            );
            if status != 200 || body["SecretData"] != a.value.as_str() {
                if lost < 5 {
                    eprintln!("lost: {name} v{} ({status}: {body})", a.version);
                }
                lost += 1;
            }
        }
        let (status, body) = c.call("GetSecretValue", &[("SecretName", name)]);
        let current = body["SecretData"].as_str().unwrap_or_default();
        let allowed: Vec<&str> = tries
            .iter()
            .filter(|a| a.version >= last_acked)
            .map(|a| a.value.as_str())
            .collect();
        if status != 200 || !allowed.contains(&current) {
            if lost < 5 {
                eprintln!("wrong current value of {name}: {status}: {body}");
            }
            lost += 1;
        }
    }
    lost
}

#[test]
fn acknowledged_writes_and_their_audit_entries_survive_power_loss() {
    let d = dirs();
    let mut all: Vec<Attempt> = Vec::new();
    for cycle in 0..CYCLES {
        // Each cycle starts from what the last cut left (the first from nothing: the root
        // key, the database and the audit log are created on the test filesystem too).
        let fs = TestFs::mount(&d.backing, &d.mnt).expect("mount the test filesystem");
        let server = start(&d.mnt, &[]);
        assert_eq!(
            lost_writes(&server, &all),
            0,
            "acknowledged writes were lost; log:\n{}",
            server.log_text()
        );
        let attempts = write_until_the_power_goes(server, fs, cycle);
        all.extend(attempts);
        // The backing dir is now what the disk held at the cut.
        audit_verifies(&d.backing);
        let audited = audited_successes(&d.backing, &all);
        for a in &all {
            if let Some(id) = &a.acked {
                assert!(
                    audited.contains(id),
                    "the acknowledged write of {} v{} (request {id}) is not in the audit log",
                    a.name,
                    a.version
                );
            }
        }
    }
    let fs = TestFs::mount(&d.backing, &d.mnt).expect("mount the test filesystem");
    let server = start(&d.mnt, &[]);
    assert_eq!(
        lost_writes(&server, &all),
        0,
        "acknowledged writes were lost"
    );
    assert!(server.terminate(), "coffer did not stop cleanly");
    fs.unmount().expect("unmount");
    audit_verifies(&d.backing);
}

/// The test above is not vacuous: the same cut against a server whose SQLite commits are
/// not synced (`synchronous=OFF`) loses acknowledged writes, and the check finds them.
#[test]
fn power_loss_catches_commits_that_are_not_synced() {
    let d = dirs();
    let fs = TestFs::mount(&d.backing, &d.mnt).expect("mount the test filesystem");
    // The first start (bootstrap) synced and stopped cleanly, so that only the writes of the
    // server that does not sync are at stake.
    assert!(
        start(&d.mnt, &[]).terminate(),
        "coffer did not stop cleanly"
    );
    let server = start(&d.mnt, &[("COFFER_TEST_UNSYNCED_COMMITS", "1")]);
    let attempts = write_until_the_power_goes(server, fs, 0);
    let fs = TestFs::mount(&d.backing, &d.mnt).expect("mount the test filesystem");
    let server = start(&d.mnt, &[]);
    let lost = lost_writes(&server, &attempts);
    let acked = attempts.iter().filter(|a| a.acked.is_some()).count();
    assert!(
        lost > 0,
        "all {acked} acknowledged writes survived a power cut without syncs: the test cannot \
         tell a durable server from one that is not"
    );
    drop(server);
    drop(fs);
}
