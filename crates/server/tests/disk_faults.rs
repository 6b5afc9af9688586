//! A full disk and a read-only disk under a running server (its data dir on `coffer-testfs`,
//! which answers ENOSPC or EROFS on demand; see that crate).
//!
//! - Writes fail cleanly, each API in its own format: Alibaba HTTP 503 `ServiceUnavailable`,
//!   Tencent `FailedOperation` (HTTP 200, as every Tencent error), Huawei HTTP 503
//!   `CSMS.0503`, the admin API HTTP 503 `ServiceUnavailable`. Each is its cloud's answer for
//!   "the server failed, nothing was done, retry later", which is what a disk fault is: the
//!   request was fine, and the same request succeeds once an operator makes room. (An
//!   internal error, 500, would also be a server-side failure, but says "bug" rather than
//!   "try again"; the SDKs retry 503s.) Nothing of a refused write is left behind.
//! - The server keeps serving, without a panic. On a full disk, reads keep working, value
//!   reads included: the audit log keeps space allocated ahead, so their entries (and those
//!   of the refusals) are still recorded. On a read-only disk the audit log cannot record
//!   anything: value reads and admin reads, whose entries must be durable, are refused like
//!   writes; metadata reads of secrets go on.
//! - When space returns, or the disk is writable again, writes resume without a restart,
//!   and the audit log verifies, with a line counting the entries a read-only spell lost.
//!
//! Needs root and /dev/fuse (see `coffer_testfs::TestFs::available`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use coffer_testfs::TestFs;
use common::{timestamp_now, Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Alibaba,
    Tencent,
    Huawei,
    Admin,
}

const APIS: [Api; 4] = [Api::Alibaba, Api::Tencent, Api::Huawei, Api::Admin];

/// One request's outcome as the test judges it.
#[derive(Debug)]
enum Answer {
    Ok(Value),
    /// The API's own "service unavailable", with its message.
    Unavailable(String),
    /// Anything else.
    Other(String),
}

impl Answer {
    fn ok(self, what: &str) -> Value {
        match self {
            Answer::Ok(v) => v,
            other => panic!("{what}: {other:?}"),
        }
    }

    fn unavailable(self, what: &str) -> String {
        match self {
            Answer::Unavailable(m) => m,
            other => panic!("{what} was not refused as unavailable: {other:?}"),
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Target {
    agent: ureq::Agent,
    base: String,
    host: String,
}

impl Target {
    fn new(server: &Server) -> Target {
        Target {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
            base: server.base(),
            host: format!("127.0.0.1:{}", server.port),
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        for (k, v) in headers {
            if k != "host" {
                req = req.set(k, v);
            }
        }
        let (status, text) = match req.send_bytes(body) {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("transport error (did the server die?): {e}"),
        };
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("not JSON (status {status}): {text}"))
        };
        (status, json)
    }

    fn alibaba(&self, action: &str, params: &[(&str, &str)]) -> Answer {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let timestamp = timestamp_now();
        let client = coffer_auth::alibaba::RpcV1Client {
            access_key_id: AK,
            access_key_secret: SK.as_bytes(),
            timestamp: &timestamp,
            nonce: &nonce,
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
                .expect("sign");
        match self.send("POST", &format!("/?{query}"), &[], &[]) {
            (200, body) => Answer::Ok(body),
            (503, body) if body["Code"] == "ServiceUnavailable" => {
                Answer::Unavailable(body["Message"].as_str().unwrap_or_default().into())
            }
            (status, body) => Answer::Other(format!("{status} {body}")),
        }
    }

    fn tencent(&self, action: &str, body: &Value) -> Answer {
        let body = body.to_string().into_bytes();
        let headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            "2019-09-23",
            Some("ap-guangzhou"),
            &self.host,
            &body,
            AK,
            SK.as_bytes(),
            now_secs(),
        );
        match self.send("POST", "/", &headers, &body) {
            // Tencent answers errors with HTTP 200 and the code in the body.
            (200, body) => match body["Response"]["Error"]["Code"].as_str() {
                None => Answer::Ok(body["Response"].clone()),
                Some("FailedOperation") => Answer::Unavailable(
                    body["Response"]["Error"]["Message"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                ),
                Some(_) => Answer::Other(body.to_string()),
            },
            (status, body) => Answer::Other(format!("{status} {body}")),
        }
    }

    fn huawei(&self, method: &str, route: &str, body: &Value) -> Answer {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let path = format!("/v1/{PROJECT}{route}");
        let headers = coffer_auth::huawei::request_headers(
            method,
            &self.host,
            &path,
            "",
            &body,
            Some(PROJECT),
            AK,
            SK.as_bytes(),
            now_secs(),
        );
        match self.send(method, &path, &headers, &body) {
            (200, body) => Answer::Ok(body),
            (503, body) if body["error_code"] == "CSMS.0503" => {
                Answer::Unavailable(body["error_msg"].as_str().unwrap_or_default().into())
            }
            (status, body) => Answer::Other(format!("{status} {body}")),
        }
    }

    fn admin(&self, method: &str, path: &str, body: &Value) -> Answer {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        coffer_auth::sigv4::sign(
            method,
            path,
            "",
            &mut headers,
            &body,
            AK,
            SK.as_bytes(),
            "local",
            "coffer",
            now_secs(),
        )
        .expect("sign");
        match self.send(method, path, &headers, &body) {
            (200, body) => Answer::Ok(body),
            (503, body) if body["Code"] == "ServiceUnavailable" => {
                Answer::Unavailable(body["Message"].as_str().unwrap_or_default().into())
            }
            (status, body) => Answer::Other(format!("{status} {body}")),
        }
    }

    /// Creates a secret (an account for the admin API) named `name` through `api`.
    fn write(&self, api: Api, name: &str) -> Answer {
        let value = format!("value of {name}");
        match api {
            Api::Alibaba => self.alibaba(
                "CreateSecret",
                &[
                    ("SecretName", name),
                    ("VersionId", "v1"),
                    ("SecretData", &value),
                ],
            ),
            Api::Tencent => self.tencent(
                "CreateSecret",
                &json!({"SecretName": name, "VersionId": "v1", "SecretString": value}),
            ),
            Api::Huawei => self.huawei(
                "POST",
                "/secrets",
                &json!({"name": name, "secret_string": value}),
            ),
            Api::Admin => self.admin("POST", "/coffer/v1/accounts", &json!({"Name": name})),
        }
    }

    /// Reads the value of the secret `name` wrote through `api` (metadata only with `value`
    /// false). The admin API reads the account list.
    fn read(&self, api: Api, name: &str, value: bool) -> Answer {
        match (api, value) {
            (Api::Alibaba, true) => self.alibaba("GetSecretValue", &[("SecretName", name)]),
            (Api::Alibaba, false) => self.alibaba("DescribeSecret", &[("SecretName", name)]),
            (Api::Tencent, true) => self.tencent(
                "GetSecretValue",
                &json!({"SecretName": name, "VersionId": "v1"}),
            ),
            (Api::Tencent, false) => self.tencent("DescribeSecret", &json!({"SecretName": name})),
            (Api::Huawei, true) => self.huawei(
                "GET",
                &format!("/secrets/{name}/versions/latest"),
                &Value::Null,
            ),
            (Api::Huawei, false) => self.huawei("GET", &format!("/secrets/{name}"), &Value::Null),
            (Api::Admin, _) => self.admin("GET", "/coffer/v1/accounts", &Value::Null),
        }
    }

    /// Whether what `name` wrote through `api` exists.
    fn exists(&self, api: Api, name: &str) -> bool {
        match (api, self.read(api, name, false)) {
            (Api::Admin, Answer::Ok(list)) => list.to_string().contains(&format!("\"{name}\"")),
            (_, Answer::Ok(_)) => true,
            _ => false,
        }
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
}

/// `/readyz`'s status and body.
fn readyz(server: &Server) -> (u16, Value) {
    let (status, text) = match ureq::get(&format!("{}/readyz", server.base())).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("readyz: {e}"),
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn setup() -> Setup {
    if let Err(why) = TestFs::available() {
        panic!("the disk fault tests need FUSE: {why}");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let backing = tmp.path().join("backing");
    let mnt = tmp.path().join("data");
    std::fs::create_dir(&backing).expect("backing dir");
    std::fs::create_dir(&mnt).expect("mountpoint");
    Setup {
        _tmp: tmp,
        backing,
        mnt,
    }
}

fn start(mnt: &Path) -> Server {
    Server::start_with(
        mnt,
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
        ],
    )
}

/// One write through each API, each of which must succeed (retried for `within`: the server
/// may need a moment to notice the disk came back).
fn writes_succeed(t: &Target, tag: &str, within: Duration) -> Vec<(Api, String)> {
    let deadline = Instant::now() + within;
    let mut written = vec![];
    for api in APIS {
        let name = format!("{tag}-{api:?}").to_lowercase();
        loop {
            match t.write(api, &name) {
                Answer::Ok(_) => break,
                Answer::Unavailable(m) if Instant::now() < deadline => {
                    eprintln!("{api:?} still unavailable: {m}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => panic!("{api:?} write {name}: {other:?}"),
            }
        }
        written.push((api, name));
    }
    written
}

/// Writes through each API until one is refused as unavailable (on a full disk SQLite may
/// still commit some writes into the part of its log it reuses; those must then be whole);
/// returns each API's refused name and message. Nothing of a refused write may exist.
fn writes_refused(t: &Target, tag: &str) -> Vec<(Api, String, String)> {
    APIS.iter()
        .map(|&api| {
            for i in 0..50 {
                let name = format!("{tag}-{api:?}-{i}").to_lowercase();
                match t.write(api, &name) {
                    Answer::Ok(_) => {
                        assert!(t.exists(api, &name), "{api:?} {name} acknowledged, missing")
                    }
                    Answer::Unavailable(message) => return (api, name, message),
                    Answer::Other(o) => panic!("{api:?} write {name}: {o}"),
                }
            }
            panic!("50 {api:?} writes succeeded on a faulty disk")
        })
        .collect()
}

/// `coffer audit verify` on a data dir; returns the audit log's text.
fn audit_verifies(data_dir: &Path) -> String {
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
        "the audit log does not verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(data_dir.join("audit.log")).expect("audit log")
}

fn no_panic(server: &Server) {
    let log = server.log_text();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

#[test]
fn a_full_disk_refuses_writes_cleanly_keeps_reads_and_takes_writes_again_when_space_returns() {
    let s = setup();
    let fs = TestFs::mount(&s.backing, &s.mnt).expect("mount the test filesystem");
    let server = start(&s.mnt);
    let t = Target::new(&server);
    let seeded = writes_succeed(&t, "seed", Duration::ZERO);

    fs.fill();
    // SQLite may still commit a few writes into the part of its log it reuses; soon it
    // needs space it cannot have.
    let mut committed_on_full = vec![];
    for i in 0.. {
        assert!(i < 300, "300 writes succeeded on a full disk");
        let name = format!("fill-{i}");
        match t.write(Api::Alibaba, &name) {
            Answer::Ok(_) => committed_on_full.push(name),
            Answer::Unavailable(m) => {
                assert!(m.contains("disk is full"), "{m}");
                assert!(
                    !t.exists(Api::Alibaba, &name),
                    "a refused write left {name}"
                );
                break;
            }
            Answer::Other(o) => panic!("write {name} on a full disk: {o}"),
        }
    }
    let refused = writes_refused(&t, "full");
    for (api, name, message) in &refused {
        assert!(message.contains("disk is full"), "{api:?}: {message}");
        assert!(
            !message.contains(s.mnt.to_str().expect("path")),
            "a path in {message}"
        );
        assert!(
            !t.exists(*api, name),
            "the refused {api:?} write left {name}"
        );
    }
    // Reads keep working, value reads included (their entries go to the audit log's
    // reserve), and so does what was committed.
    for (api, name) in &seeded {
        t.read(*api, name, true)
            .ok(&format!("{api:?} value read on a full disk"));
        t.read(*api, name, false)
            .ok(&format!("{api:?} metadata read on a full disk"));
    }
    for name in &committed_on_full {
        t.read(Api::Alibaba, name, true)
            .ok("a write committed on the full disk");
    }

    fs.make_room();
    let after = writes_succeed(&t, "after", Duration::from_secs(5));
    for (api, name) in after.iter().chain(&seeded) {
        assert!(t.exists(*api, name), "{api:?} {name} missing");
    }
    no_panic(&server);
    assert!(server.terminate(), "coffer did not stop cleanly");
    fs.unmount().expect("unmount");
    // The refusals are in the audit log, as refusals.
    let text = audit_verifies(&s.backing);
    let refusals = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["operation"] == "CreateSecret" && e["status"] == 503)
        .count();
    assert!(
        refusals >= 2,
        "{refusals} refused CreateSecret in the audit log"
    );
}

#[test]
fn a_read_only_disk_refuses_writes_and_value_reads_cleanly_and_writes_resume_after() {
    let s = setup();
    let fs = TestFs::mount(&s.backing, &s.mnt).expect("mount the test filesystem");
    let server = start(&s.mnt);
    let t = Target::new(&server);
    let seeded = writes_succeed(&t, "seed", Duration::ZERO);

    fs.set_read_only(true);
    // The first write finds out (the database refuses it; so does the audit log, which then
    // refuses every operation whose entry must be durable); every one is refused.
    let refused = writes_refused(&t, "ro");
    let again = writes_refused(&t, "ro-again");
    for (api, name, message) in refused.iter().chain(&again) {
        assert!(!message.is_empty(), "{api:?}: no message");
        assert!(
            !t.exists(*api, name),
            "the refused {api:?} write left {name}"
        );
    }
    // Metadata reads of secrets go on (their entries need not be durable; the ones the log
    // could not write are counted when it resumes). A value read must be recorded first, and
    // so must everything of the admin API: refused.
    for (api, name) in &seeded {
        if *api == Api::Admin {
            let m = t
                .read(*api, name, false)
                .unavailable("an admin read on a read-only disk");
            assert!(m.contains("audit log"), "{m}");
            continue;
        }
        t.read(*api, name, false)
            .ok(&format!("{api:?} metadata read on a read-only disk"));
        let m = t
            .read(*api, name, true)
            .unavailable(&format!("{api:?} value read on a read-only disk"));
        assert!(m.contains("audit log"), "{m}");
    }

    // Not ready while the audit log cannot write; alive all along.
    let (status, body) = readyz(&server);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["audit_log"]["status"], "failing", "{body}");
    assert_eq!(
        ureq::get(&format!("{}/healthz", server.base()))
            .call()
            .map(|r| r.status())
            .unwrap_or(0),
        200
    );

    fs.set_read_only(false);
    let after = writes_succeed(&t, "after", Duration::from_secs(10));
    let (status, body) = readyz(&server);
    assert_eq!(status, 200, "ready again once the log writes: {body}");
    for (api, name) in after.iter().chain(&seeded) {
        assert!(t.exists(*api, name), "{api:?} {name} missing");
        if *api != Api::Admin {
            t.read(*api, name, true)
                .ok(&format!("{api:?} value read once writable"));
        }
    }
    no_panic(&server);
    assert!(server.terminate(), "coffer did not stop cleanly");
    fs.unmount().expect("unmount");
    let text = audit_verifies(&s.backing);
    let resumed: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["operation"] == "AuditLogResumed")
        .collect();
    assert_eq!(resumed.len(), 1, "{text}");
    let lost: u64 = resumed[0]["resource"]
        .as_str()
        .and_then(|r| r.strip_prefix("lost-entries:"))
        .and_then(|n| n.parse().ok())
        .expect("lost-entries:N");
    assert!(
        lost >= 8,
        "only {lost} entries counted lost while read-only"
    );
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The same on a real filesystem, the kernel's own ENOSPC (a small tmpfs filled up with a
/// ballast file): the audit log's reserve works there (tmpfs allocates with `fallocate`), the
/// database refuses, reads go on, and deleting the ballast brings writes back.
#[test]
fn a_really_full_tmpfs_refuses_writes_and_takes_them_again_once_space_is_freed() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("data");
    std::fs::create_dir(&mnt).expect("mountpoint");
    let _tmpfs = Tmpfs::mount(&mnt, "16m");
    let server = start(&mnt);
    let t = Target::new(&server);
    let seeded = writes_succeed(&t, "seed", Duration::ZERO);

    let ballast = mnt.join("ballast");
    let mut f = std::fs::File::create(&ballast).expect("ballast");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    drop(f);
    let mut refused = false;
    for i in 0..300 {
        match t.write(Api::Alibaba, &format!("fill-{i}")) {
            Answer::Ok(_) => {}
            Answer::Unavailable(m) => {
                assert!(m.contains("disk is full"), "{m}");
                refused = true;
                break;
            }
            Answer::Other(o) => panic!("a write on a full disk: {o}"),
        }
    }
    assert!(refused, "300 writes succeeded on a full disk");
    for (api, name, message) in writes_refused(&t, "full") {
        assert!(message.contains("disk is full"), "{api:?}: {message}");
        assert!(
            !t.exists(api, &name),
            "the refused {api:?} write left {name}"
        );
    }
    for (api, name) in &seeded {
        t.read(*api, name, true)
            .ok(&format!("{api:?} value read on a full disk"));
    }

    std::fs::remove_file(&ballast).expect("free the space");
    writes_succeed(&t, "after", Duration::from_secs(5));
    no_panic(&server);
    assert!(server.terminate(), "coffer did not stop cleanly");
    audit_verifies(&mnt);
}
