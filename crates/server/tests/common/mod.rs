//! Shared by the end-to-end tests: runs the real `coffer` binary on a free port and talks to
//! it with RPC v1 signed requests, as the first Alibaba SDK generation does.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const AK: &str = "e2e-access-key";
pub const SK: &str = "e2e-access-key-secret-0123456789";

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts the binary on `data_dir` with the test access key, waiting until it is ready.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(
            data_dir,
            &[
                ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
                ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ],
        )
    }

    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let server = Self::spawn_with(data_dir, env);
        server.wait_ready();
        server
    }

    /// Starts the binary like [`Server::start_with`] without waiting for it to be ready (to
    /// start several at the same moment; then [`Server::wait_ready`] or
    /// [`Server::wait_exit`]).
    pub fn spawn_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::spawn_on(data_dir, env, free_port())
    }

    /// Starts the binary on `data_dir` and `port` with the test access key, waiting until it
    /// is ready: a restart where clients find the server they knew (TC3 signatures cover the
    /// port). The log goes on in the same file.
    pub fn restart_on(data_dir: &Path, port: u16) -> Server {
        let server = Self::spawn_on(
            data_dir,
            &[
                ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
                ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ],
            port,
        );
        server.wait_ready();
        server
    }

    fn spawn_on(data_dir: &Path, env: &[(&str, &str)], port: u16) -> Server {
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("COFFER_ROOT_KEY")
            .env_remove("COFFER_BOOTSTRAP_ACCESS_KEY_ID")
            .env_remove("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET")
            .env_remove("COFFER_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn coffer");
        Server {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    /// Like [`Server::spawn_with`], with more `serve` arguments, and the binary started
    /// through `wrapper` when it is not empty (e.g. `prlimit --nofile=256:256 --`, which
    /// executes the binary in its own place, so the child is still coffer itself).
    pub fn spawn_args(
        data_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
        wrapper: &[&str],
    ) -> Server {
        let port = free_port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create log file");
        let bin = env!("CARGO_BIN_EXE_coffer");
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env_remove("COFFER_ROOT_KEY")
            .env_remove("COFFER_BOOTSTRAP_ACCESS_KEY_ID")
            .env_remove("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET")
            .env_remove("COFFER_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn coffer");
        Server {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    /// Waits until the server stops by itself (within `within`) and returns whether it
    /// exited successfully; `None` when it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<bool> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = ureq::get(&format!("{}/healthz", self.base())).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("coffer did not become ready; log:\n{}", self.log_text());
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stdout_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base(),
            ak: AK.into(),
            sk: SK.into(),
        }
    }

    /// SIGTERM and wait; returns whether the process exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("wait for coffer");
        std::mem::forget(self);
        status.success()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

/// Sends one request as given (the `host` header is ureq's own, which is what the signers
/// signed) and returns the status and the body as JSON (`Null` when empty).
pub fn send(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut req = ureq::request(method, &format!("{}{path_and_query}", server.base()));
    for (k, v) in headers {
        if k != "host" {
            req = req.set(k, v);
        }
    }
    let (status, text) = match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    };
    let json = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON (status {status}): {text}"))
    };
    (status, json)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Client {
    pub base: String,
    pub ak: String,
    pub sk: String,
}

pub fn timestamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    format_timestamp(secs)
}

pub fn format_timestamp(secs: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate in tests.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Client {
    /// Sends an RPC v1 request (every parameter in the query, POST) and returns the status and
    /// the parsed JSON body.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.call_with(
            action,
            params,
            &timestamp_now(),
            &uuid::Uuid::new_v4().simple().to_string(),
        )
    }

    pub fn call_with(
        &self,
        action: &str,
        params: &[(&str, &str)],
        timestamp: &str,
        nonce: &str,
    ) -> (u16, serde_json::Value) {
        let client = coffer_auth::alibaba::RpcV1Client {
            access_key_id: &self.ak,
            access_key_secret: self.sk.as_bytes(),
            timestamp,
            nonce,
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
                .expect("sign");
        let resp = ureq::post(&format!("{}/?{query}", self.base)).send_bytes(&[]);
        let (status, body) = match resp {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("transport error: {e}"),
        };
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("body is not JSON (status {status}): {body}"));
        (status, json)
    }

    /// Like [`Client::call`], for a server that may die under the call: a transport error
    /// (or no answer within 30 s) is `None` instead of a panic.
    pub fn try_call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Option<(u16, serde_json::Value)> {
        let client = coffer_auth::alibaba::RpcV1Client {
            access_key_id: &self.ak,
            access_key_secret: self.sk.as_bytes(),
            timestamp: &timestamp_now(),
            nonce: &uuid::Uuid::new_v4().simple().to_string(),
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
                .expect("sign");
        let resp = ureq::post(&format!("{}/?{query}", self.base))
            .timeout(Duration::from_secs(30))
            .send_bytes(&[]);
        let (status, body) = match resp {
            Ok(r) => (r.status(), r.into_string().ok()?),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().ok()?),
            Err(_) => return None,
        };
        Some((status, serde_json::from_str(&body).ok()?))
    }

    pub fn ok(&self, action: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let (status, body) = self.call(action, params);
        assert_eq!(status, 200, "{action} failed: {body}");
        body
    }
}
