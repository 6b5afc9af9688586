//! Every acknowledged write survives SIGKILL while writes are in flight: the server answers
//! only after the group commit that holds the write is durable, and after the write's audit
//! entry is on disk, so killing it mid-batch loses only what nobody was told about.
//!
//! A SIGKILL leaves the kernel holding whatever the process wrote, synced or not, so this
//! test alone would pass with `synchronous=OFF`; crates/server/tests/power_loss.rs cuts the
//! power instead and catches that. This one checks what a crash of the process does: a torn
//! batch, a torn audit line, requests half-way through the pipeline.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

const WRITERS: usize = 16;

/// One write: secret, version, value; the request id of its success answer.
type Attempt = (String, u32, String, Option<String>);

#[test]
fn acknowledged_writes_survive_sigkill_in_flight() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
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
                    let name = format!("durable-{t}-{i}");
                    i += 1;
                    for version in 1..=2u32 {
                        let value = format!("value-{t}-{i}-v{version}");
                        let slot = {
                            let mut a = attempts.lock().expect("lock");
                            a.push((name.clone(), version, value.clone(), None));
                            a.len() - 1
                        };
                        let action = if version == 1 {
                            "CreateSecret"
                        } else {
                            "PutSecretValue"
                        };
                        let vid = format!("v{version}");
                        let params = [
                            ("SecretName", name.as_str()),
                            ("VersionId", vid.as_str()),
                            ("SecretData", value.as_str()),
                        ];
                        match c.try_call(action, &params) {
                            Some((200, body)) => {
                                let id = body["RequestId"].as_str().expect("RequestId");
                                attempts.lock().expect("lock")[slot].3 = Some(id.to_string());
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            Some((status, body)) => {
                                panic!("{action} failed before the kill: {status} {body}")
                            }
                            // The server is gone.
                            None => break 'names,
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < 300 {
        assert!(
            Instant::now() < deadline,
            "too few writes acknowledged in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Kill at once, with every writer mid-request: no graceful shutdown, no flush.
    stop.store(true, Ordering::Relaxed);
    server.kill();
    for t in threads {
        t.join().expect("writer thread");
    }
    let attempts = attempts.lock().expect("lock").clone();
    let in_flight = attempts.iter().filter(|a| a.3.is_none()).count();
    assert!(in_flight > 0, "no write was in flight at the kill");
    eprintln!(
        "{} writes acknowledged, {in_flight} in flight at the kill",
        attempts.len() - in_flight
    );

    // Each acknowledged write has its audit entry, and the chain is intact after the kill.
    let audit = data.join("audit.log");
    let root = coffer_crypto::SecretKey::load_file(&data.join("root.key")).expect("root key");
    let key = coffer_store::audit::LogKey::from_root(&root);
    let report =
        coffer_store::audit::verify(&audit, &key).expect("the audit chain survives SIGKILL");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert_eq!(report.entries as usize, text.lines().count());
    let audited: HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["status"] == 200)
        .filter_map(|e| e["request_id"].as_str().map(str::to_string))
        .collect();
    for (name, version, value, id) in &attempts {
        assert!(
            !text.contains(value.as_str()),
            "a value reached the audit log"
        );
        if let Some(id) = id {
            assert!(
                audited.contains(id),
                "no audit entry for the acknowledged write of {name} v{version}"
            );
        }
    }

    // Every acknowledged version is there with its value; the current value is the last
    // acknowledged one or the write in flight after it (committed, never answered).
    let server = Server::start(&data);
    let c = server.client();
    let mut by_name: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for a in &attempts {
        by_name.entry(&a.0).or_default().push(a);
    }
    for (name, tries) in by_name {
        let Some(last) = tries.iter().filter(|a| a.3.is_some()).map(|a| a.1).max() else {
            continue;
        };
        for (_, version, value, _) in tries.iter().filter(|a| a.3.is_some()) {
            let got = c.ok(
                "GetSecretValue",
                &[("SecretName", name), ("VersionId", &format!("v{version}"))],
            );
            assert_eq!(got["SecretData"], value.as_str(), "lost write to {name}");
        }
        let got = c.ok("GetSecretValue", &[("SecretName", name)]);
        assert!(
            tries
                .iter()
                .filter(|a| a.1 >= last)
                .any(|a| got["SecretData"] == a.2.as_str()),
            "{name}'s current value is older than its last acknowledged write: {got}"
        );
    }
}
