//! HTTPS against the real binary: a self-signed certificate made once and reused, with the
//! fingerprint it prints; certificates reloaded on SIGHUP (and kept when the new pair does
//! not load); the admin commands over https with `--ca-file`; the warning for plain HTTP
//! on an address other machines reach.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, AK, SK};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

const BOOTSTRAP: &[(&str, &str)] = &[
    ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
    ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
];

/// An HTTPS client that trusts only the certificates in `ca_pem`.
fn agent_trusting(ca_pem: &[u8]) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("PEM")).expect("a trust anchor");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .timeout(Duration::from_secs(10))
        .build()
}

/// `GET /healthz` over https; the error text when the handshake or request fails.
fn healthz(agent: &ureq::Agent, host: &str, port: u16) -> Result<(), String> {
    match agent.get(&format!("https://{host}:{port}/healthz")).call() {
        Ok(r) if r.status() == 200 => Ok(()),
        Ok(r) => Err(format!("status {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

fn wait_https(server: &Server, ca_pem: &[u8]) {
    let agent = agent_trusting(ca_pem);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        match healthz(&agent, "127.0.0.1", server.port) {
            Ok(()) => return,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "coffer did not answer over https ({last}); log:\n{}",
        server.log_text()
    );
}

fn der_fingerprint(pem: &[u8]) -> String {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .expect("a certificate")
        .expect("PEM");
    Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn make_cert(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("sign");
    (cert.pem(), key.serialize_pem())
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn sighup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits until the log has grown by a line containing `needle` after `from` bytes.
fn wait_log(server: &Server, from: usize, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log_text();
        let new = log.get(from..).unwrap_or("").to_string();
        if new.contains(needle) {
            return new;
        }
        assert!(
            Instant::now() < deadline,
            "the log never said {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn self_signed_certificate_is_made_once_and_its_fingerprint_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = Server::spawn_args(&data, BOOTSTRAP, &["--tls-self-signed"], &[]);
    let cert_path = data.join("tls-cert.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cert_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Read once both files are whole (the key is written first, then the certificate).
    std::thread::sleep(Duration::from_millis(200));
    let pem = std::fs::read(&cert_path).expect("tls-cert.pem");
    wait_https(&server, &pem);
    let fingerprint = der_fingerprint(&pem);

    // The names: the listen address and localhost.
    let agent = agent_trusting(&pem);
    healthz(&agent, "localhost", server.port).expect("localhost is a name of the certificate");
    // A client that does not trust it is refused.
    let stranger = agent_trusting(make_cert("someone else").0.as_bytes());
    let refused = healthz(&stranger, "127.0.0.1", server.port).expect_err("untrusted");
    assert!(
        refused.to_lowercase().contains("certificate") || refused.contains("UnknownIssuer"),
        "{refused}"
    );
    // Plain HTTP on the HTTPS port gets nothing.
    assert!(
        ureq::get(&format!("http://127.0.0.1:{}/healthz", server.port))
            .timeout(Duration::from_secs(5))
            .call()
            .is_err()
    );

    {
        use std::os::unix::fs::PermissionsExt;
        let key_mode = std::fs::metadata(data.join("tls-key.pem"))
            .expect("tls-key.pem")
            .permissions()
            .mode();
        assert_eq!(
            key_mode & 0o777,
            0o600,
            "the private key is the server's only"
        );
    }
    let log = server.log_text();
    assert!(
        log.contains(&fingerprint),
        "the log names the fingerprint {fingerprint}: {log}"
    );
    let pid = server.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = server.child.wait();
    let stdout = server.stdout_text();
    assert!(
        stdout.contains("made a self-signed TLS certificate") && stdout.contains(&fingerprint),
        "stdout shows the new certificate's fingerprint {fingerprint}: {stdout}"
    );
    drop(server);

    // A second start reuses it.
    let mut again = Server::spawn_args(&data, BOOTSTRAP, &["--tls-self-signed"], &[]);
    wait_https(&again, &pem);
    assert_eq!(std::fs::read(&cert_path).expect("cert"), pem, "reused");
    assert!(again.log_text().contains(&fingerprint));
    let pid = again.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = again.child.wait();
    assert!(
        !again.stdout_text().contains("made a self-signed"),
        "nothing new was made"
    );
}

struct Pair {
    cert: PathBuf,
    key: PathBuf,
}

#[test]
fn sighup_serves_a_new_certificate_and_keeps_the_old_one_when_the_new_does_not_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = Pair {
        cert: dir.path().join("server.crt"),
        key: dir.path().join("server.key"),
    };
    let (cert_a, key_a) = make_cert("first");
    let (cert_b, key_b) = make_cert("second");
    let (cert_c, _) = make_cert("third");
    write_private(&files.cert, &cert_a);
    write_private(&files.key, &key_a);
    let server = Server::spawn_args(
        &dir.path().join("data"),
        BOOTSTRAP,
        &[
            "--tls-cert",
            files.cert.to_str().expect("path"),
            "--tls-key",
            files.key.to_str().expect("path"),
        ],
        &[],
    );
    wait_https(&server, cert_a.as_bytes());
    let trusts_a = agent_trusting(cert_a.as_bytes());
    let trusts_b = agent_trusting(cert_b.as_bytes());
    assert!(healthz(&trusts_b, "127.0.0.1", server.port).is_err());

    // A new pair in place, then SIGHUP: the next handshakes get it.
    write_private(&files.cert, &cert_b);
    write_private(&files.key, &key_b);
    let from = server.log_text().len();
    sighup(&server);
    wait_log(&server, from, "TLS certificate reloaded");
    healthz(&trusts_b, "127.0.0.1", server.port).expect("the new certificate is served");
    assert!(
        healthz(&trusts_a, "127.0.0.1", server.port).is_err(),
        "the old one no longer"
    );

    // A certificate file that is not PEM: the reload fails and says why; B stays.
    std::fs::write(&files.cert, "not a certificate\n").expect("write");
    let from = server.log_text().len();
    sighup(&server);
    let said = wait_log(&server, from, "could not be reloaded");
    assert!(said.contains("holds no certificate"), "{said}");
    healthz(&trusts_b, "127.0.0.1", server.port).expect("B is still served");

    // A certificate whose key is not the key file's: refused too.
    write_private(&files.cert, &cert_c);
    let from = server.log_text().len();
    sighup(&server);
    let said = wait_log(&server, from, "could not be reloaded");
    assert!(said.contains("does not fit the certificate"), "{said}");
    healthz(&trusts_b, "127.0.0.1", server.port).expect("B is still served");

    // A key others may read: refused.
    write_private(&files.cert, &cert_a);
    write_private(&files.key, &key_a);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    let from = server.log_text().len();
    sighup(&server);
    let said = wait_log(&server, from, "could not be reloaded");
    assert!(said.contains("chmod 600"), "{said}");
    healthz(&trusts_b, "127.0.0.1", server.port).expect("B is still served");

    // The key fixed: the next SIGHUP loads A again.
    write_private(&files.key, &key_a);
    let from = server.log_text().len();
    sighup(&server);
    wait_log(&server, from, "TLS certificate reloaded");
    healthz(&trusts_a, "127.0.0.1", server.port).expect("A again");
    assert!(server.terminate(), "SIGHUPs did not end the server");
}

#[test]
fn admin_commands_reach_an_https_server_with_ca_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::spawn_args(&data, BOOTSTRAP, &["--tls-self-signed"], &[]);
    let cert_path = data.join("tls-cert.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cert_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    wait_https(&server, &std::fs::read(&cert_path).expect("cert"));
    let endpoint = format!("https://127.0.0.1:{}", server.port);
    let admin = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["account", "list", "--json", "--endpoint", &endpoint])
            .args(["--access-key-id", AK, "--access-key-secret", SK])
            .args(extra)
            .env_remove("COFFER_CA_FILE")
            .env_remove("COFFER_ENDPOINT")
            .output()
            .expect("run coffer")
    };
    let ok = admin(&["--ca-file", cert_path.to_str().expect("path")]);
    assert!(
        ok.status.success(),
        "account list over https: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    let accounts = listed["Accounts"].as_array().expect("Accounts");
    assert_eq!(accounts.len(), 1, "the operator account: {listed}");

    // Without the CA the public roots do not vouch for it.
    let refused = admin(&[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("cannot reach coffer") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    // A CA file that holds no certificate says so.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let bad = admin(&["--ca-file", empty.to_str().expect("path")]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("holds no PEM certificate"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(server.terminate());
}

/// Plain HTTP on an address other machines reach is logged as a warning; on loopback not.
/// SIGHUP without TLS is logged and ignored (its default would end the process).
#[test]
fn plain_http_beyond_loopback_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let log_path = dir.path().join("wide.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .envs(BOOTSTRAP.iter().copied())
        .env_remove("COFFER_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while Instant::now() < deadline {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("coffer is ready") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(log.contains("coffer is ready"), "{log}");
    assert!(
        log.contains("serving plain HTTP on an address other machines can reach"),
        "{log}"
    );
    let _ = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("nothing to reload")
    {
        assert!(Instant::now() < deadline, "SIGHUP was not logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "SIGHUP ended the server"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success());

    let loopback = Server::start(&dir.path().join("data2"));
    assert!(!loopback.log_text().contains("serving plain HTTP"));
    assert!(loopback.terminate());
}
