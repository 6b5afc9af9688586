//! Start-up, bootstrap, restart and graceful shutdown of the real binary.

mod common;

use common::Server;

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn read_credentials(data: &std::path::Path) -> (String, String) {
    let text =
        std::fs::read_to_string(data.join("bootstrap-credentials")).expect("credentials file");
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing in credentials file"))
            .to_string()
    };
    (get("access_key_id"), get("access_key_secret"))
}

/// SIGTERM, wait, and return (clean exit, everything printed on stdout).
fn stop(mut server: Server) -> (bool, String) {
    let pid = server.child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = server.child.wait().expect("wait");
    (status.success(), server.stdout_text())
}

#[test]
fn first_start_bootstraps_and_restart_keeps_everything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start_with(&data, &[]);
    let (ak, sk) = read_credentials(&data);
    #[cfg(unix)]
    {
        assert_eq!(mode(&data.join("bootstrap-credentials")), 0o600);
        assert_eq!(mode(&data.join("root.key")), 0o600);
    }
    let c = common::Client {
        base: server.base(),
        ak: ak.clone(),
        sk: sk.clone(),
    };
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "kept"),
            ("VersionId", "v1"),
            ("SecretData", "one"),
        ],
    );
    assert!(server.log_text().contains("coffer is ready"));
    let (clean, stdout) = stop(server);
    assert!(clean, "SIGTERM did not end the server cleanly");
    assert!(
        stdout.contains(&ak) && stdout.contains(&sk),
        "credentials not printed on first start"
    );

    // Second start: nothing printed, same credentials, same data.
    let server = Server::start_with(&data, &[]);
    let c = common::Client {
        base: server.base(),
        ak,
        sk,
    };
    let got = c.ok("GetSecretValue", &[("SecretName", "kept")]);
    assert_eq!(got["SecretData"], "one");
    let (clean, stdout) = stop(server);
    assert!(clean);
    assert!(
        !stdout.contains("AccessKeySecret"),
        "credentials printed twice"
    );
}

#[test]
fn healthz_and_unknown_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    let r = ureq::get(&format!("{}/healthz", server.base()))
        .call()
        .expect("healthz");
    assert_eq!(r.status(), 200);
    match ureq::get(&format!("{}/nothing-here", server.base())).call() {
        Err(ureq::Error::Status(404, r)) => {
            let body: serde_json::Value =
                serde_json::from_str(&r.into_string().expect("body")).expect("json");
            assert!(body["Message"]
                .as_str()
                .unwrap_or("")
                .contains("2016-01-20"));
        }
        other => panic!("expected 404, got {other:?}"),
    }
}
