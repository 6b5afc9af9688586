//! Every acknowledged write survives SIGKILL: the server answers only after the group commit
//! that holds the write is durable, and after the write's audit entry is on disk.

mod common;

use std::sync::{Arc, Mutex};

use common::Server;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let base = server.base();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let acked = acked.clone();
            let base = base.clone();
            std::thread::spawn(move || {
                let c = common::Client {
                    base,
                    ak: common::AK.into(),
                    sk: common::SK.into(),
                };
                for i in 0..25 {
                    let name = format!("durable-{t}-{i}");
                    let value = format!("value-{t}-{i}");
                    let (status, _) = c.call(
                        "CreateSecret",
                        &[
                            ("SecretName", &name),
                            ("VersionId", "v1"),
                            ("SecretData", &value),
                        ],
                    );
                    if status == 200 {
                        // Also a second version through PutSecretValue.
                        let v2 = format!("{value}-v2");
                        let (s2, _) = c.call(
                            "PutSecretValue",
                            &[
                                ("SecretName", &name),
                                ("VersionId", "v2"),
                                ("SecretData", &v2),
                            ],
                        );
                        let acked_value = if s2 == 200 { v2 } else { value };
                        acked.lock().expect("lock").push((name, acked_value));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    // Kill at once: no graceful shutdown, no flush.
    server.kill();

    let acked = acked.lock().expect("lock").clone();
    assert_eq!(acked.len(), 16 * 25, "some writes were not acknowledged");

    // Each acknowledged create has its audit entry, and the chain is intact after the kill.
    let audit = data.join("audit.log");
    let root = coffer_crypto::SecretKey::load_file(&data.join("root.key")).expect("root key");
    let key = coffer_store::audit::LogKey::from_root(&root);
    let report =
        coffer_store::audit::verify(&audit, &key).expect("the audit chain survives SIGKILL");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert_eq!(report.entries as usize, text.lines().count());
    let created: std::collections::HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["operation"] == "CreateSecret" && e["result"] == "OK")
        .filter_map(|e| e["resource"].as_str().map(str::to_string))
        .collect();
    for (name, value) in &acked {
        assert!(
            created
                .iter()
                .any(|r| r.ends_with(&format!(":secret/{name}"))),
            "no audit entry for the acknowledged create of {name}"
        );
        assert!(
            !text.contains(value.as_str()),
            "a value reached the audit log"
        );
    }
    let server = Server::start(&data);
    let c = server.client();
    for (name, value) in &acked {
        let got = c.ok("GetSecretValue", &[("SecretName", name)]);
        assert_eq!(got["SecretData"], value.as_str(), "lost write to {name}");
    }
}
