//! `coffer serve --config FILE` and `coffer config check FILE` on the real binary: the file's
//! settings apply, the environment and flags win over them, and a bad key or value stops the
//! start (or fails the check) with the key named.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, AK, SK};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn coffer() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("COFFER_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Whether something answers `/healthz` on `port` within 20 s.
fn answers(port: u16) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(1))
            .call()
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_file_applies_and_the_environment_and_flags_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let file = dir.path().join("coffer.toml");
    std::fs::write(
        &file,
        format!(
            "# a comment\nlisten = \"127.0.0.1:{file_port}\"\ndata_dir = {:?}\nlimits = \"cloud\"\n[limit]\n\"alibaba.rate.*\" = \"1/min\"\n",
            data.display().to_string()
        ),
    )
    .expect("write");
    let spawn = |extra_env: &[(&str, String)], extra_args: &[String]| {
        let mut cmd = coffer();
        cmd.arg("serve").arg("--config").arg(&file).args(extra_args);
        cmd.env("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK)
            .env("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn")
    };
    let stop = |mut child: std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    };

    // The file alone: its port, its data dir, its limits.
    let child = spawn(&[], &[]);
    assert!(answers(file_port), "the file's listen address was not used");
    assert!(
        data.join("coffer.db").exists(),
        "the file's data dir was not used"
    );
    let client = common::Client {
        base: format!("http://127.0.0.1:{file_port}"),
        ak: AK.into(),
        sk: SK.into(),
    };
    assert_eq!(client.call("ListSecrets", &[]).0, 200);
    let (status, body) = client.call("ListSecrets", &[]);
    assert_eq!(
        (status, body["Code"].as_str()),
        (429, Some("Rejected.Throttling")),
        "the file's [limit] table was not applied: {body}"
    );
    stop(child);

    // The environment over the file.
    let child = spawn(&[("COFFER_LISTEN", format!("127.0.0.1:{env_port}"))], &[]);
    assert!(answers(env_port), "COFFER_LISTEN did not win over the file");
    stop(child);

    // A flag over both.
    let child = spawn(
        &[("COFFER_LISTEN", format!("127.0.0.1:{env_port}"))],
        &["--listen".into(), format!("127.0.0.1:{flag_port}")],
    );
    assert!(
        answers(flag_port),
        "--listen did not win over COFFER_LISTEN"
    );
    stop(child);
}

#[test]
fn a_bad_file_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, needle) in [
        ("listn = \"127.0.0.1:1\"\n", "unknown key \"listn\""),
        ("lease-secs = 0\n", "key \"lease-secs\""),
        ("listen = \"not an address\"\n", "key \"listen\""),
        ("limits = \"cheap\"\n", "key \"limits\""),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).expect("write");
        let out = coffer()
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}: started");
        assert!(
            stderr.contains(needle) && stderr.contains("bad.toml"),
            "{text}: {stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "{text}: the refused start created the data dir"
        );
    }
}

#[test]
fn config_check_summarises_a_good_file_and_names_a_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "listen = \"0.0.0.0:7080\"\ndatabase-url = \"postgres://coffer:hunter2@db/coffer\"\nmetrics-listen = \"127.0.0.1:9100\"\ntls-self-signed = true\nregion = [\"eu=eu-west-1\"]\n",
    )
    .expect("write");
    let out = coffer()
        .args(["config", "check"])
        .arg(&good)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 key(s), all valid"), "{stdout}");
    assert!(
        stdout.contains("metrics-listen = \"127.0.0.1:9100\""),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");

    // The environment plays no part in a check.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "tls-cert = \"/c.pem\"\n").expect("write");
    let out = coffer()
        .args(["config", "check"])
        .arg(&bad)
        .env("COFFER_TLS_KEY", "/k.pem")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");

    for (text, needle) in [
        ("max-headers = \"many\"\n", "key \"max-headers\""),
        ("[limit]\nvalue-bytes = \"lots\"\n", "key \"limit\""),
        ("nonsense = 1\n", "unknown key \"nonsense\""),
    ] {
        std::fs::write(&bad, text).expect("write");
        let out = coffer()
            .args(["config", "check"])
            .arg(&bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{text}: {stderr}");
    }
}

#[test]
fn the_server_started_from_a_file_serves_metrics() {
    // Server's helper passes --listen and --data-dir as flags; the file gives the rest.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("coffer.toml");
    std::fs::write(&file, "metrics-public = true\nlog-format = \"text\"\n").expect("write");
    let server = Server::spawn_args(
        &dir.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ],
        &["--config", file.to_str().expect("utf-8 path")],
        &[],
    );
    server.wait_ready();
    let r = ureq::get(&format!("{}/metrics", server.base()))
        .call()
        .expect("metrics");
    assert_eq!(r.status(), 200);
    // Text log lines, not JSON: the file's log-format was applied.
    let log = server.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("coffer is ready") && !l.starts_with('{')),
        "{log}"
    );
}
