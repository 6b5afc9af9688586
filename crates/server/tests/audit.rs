//! The audit log against the real binary:
//! - an audit log that cannot be written stops every operation whose entry must be durable
//!   before it runs, in every dialect's own error format, and the store is left unchanged,
//!   while reads whose entries need not be durable go on;
//! - a request that sends a megabyte in a field still leaves an entry, bounded;
//! - `coffer audit verify` (keyed by the root key) catches an edited line and a tail
//!   rewritten with plain SHA-256, and with an anchor kept elsewhere a tail cut off;
//! - a root key rotation on the running server keeps the log verifiable with the new key.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{send, Server, AK, SK};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn start(data: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
        ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
        ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
    ];
    env.extend_from_slice(extra_env);
    Server::start_with(data, &env)
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn tencent(server: &Server, action: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string().into_bytes();
    let headers = coffer_auth::tencent::tc3_post_json_headers(
        action,
        "2019-09-23",
        Some("ap-guangzhou"),
        &host(server),
        &body,
        AK,
        SK.as_bytes(),
        now(),
    );
    send(server, "POST", "/", &headers, &body)
}

fn huawei(server: &Server, method: &str, route: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let path = format!("/v1/{PROJECT}{route}");
    let headers = coffer_auth::huawei::request_headers(
        method,
        &host(server),
        &path,
        "",
        &body,
        Some(PROJECT),
        AK,
        SK.as_bytes(),
        now(),
    );
    send(server, method, &path, &headers, &body)
}

fn admin_api(server: &Server, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let mut headers = vec![
        ("host".to_string(), host(server)),
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
        now(),
    )
    .expect("sign");
    send(server, method, path, &headers, &body)
}

/// Every row of every table of the store.
fn store_dump(data: &Path) -> BTreeMap<String, Vec<String>> {
    let db = rusqlite::Connection::open_with_flags(
        data.join("coffer.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store read-only");
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("list tables");
    let mut dump = BTreeMap::new();
    // The day a secret was last read is usage data, recorded after a read by a task of its
    // own (left out of backups too): the withheld read above may record it at any moment, so
    // it is no change made by the refused operations this dump is compared across.
    for t in tables.into_iter().filter(|t| t != "secret_access") {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    cells.push(format!("{:?}", r.get_ref(i)?));
                }
                Ok(cells.join("|"))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .expect("rows");
        rows.sort();
        dump.insert(t, rows);
    }
    dump
}

/// Runs `coffer audit <args>` with no root key in the environment; returns the exit code,
/// stdout and stderr.
fn audit_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("audit")
        .args(args)
        .env_remove("COFFER_ROOT_KEY")
        .env_remove("COFFER_ROOT_KEY_FILE")
        .env_remove("COFFER_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run coffer audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify(data: &Path, extra: &[&str]) -> (i32, String, String) {
    let dir = data.to_str().expect("utf-8 path");
    let mut args = vec!["verify", "--data-dir", dir];
    args.extend_from_slice(extra);
    audit_cli(&args, &[])
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read log")
        .split_terminator('\n')
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write log");
}

/// Stops the server with SIGTERM and returns what it logged.
fn stop(server: Server) -> String {
    let log = server.log.clone();
    assert!(server.terminate(), "coffer did not stop cleanly");
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn an_unwritable_audit_log_refuses_every_change_before_it_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[]);
    let c = server.client();
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "kept"),
            ("VersionId", "v1"),
            ("SecretData", "value-one"),
        ],
    );
    stop(server);

    // The audit log becomes a device on which every write fails (ENOSPC), the way a full
    // disk does; the original log is kept aside to be put back.
    let log = data.join("audit.log");
    let aside = tmp.path().join("audit.log.aside");
    std::fs::rename(&log, &aside).expect("move the log aside");
    std::os::unix::fs::symlink("/dev/full", &log).expect("symlink /dev/full");
    let server = start(&data, &[]);
    let c = server.client();

    // The first write to the log fails while a value read is answered: the value is withheld
    // (the read happened; its entry could not be written), in the dialect's own format.
    let (status, body) = c.call("GetSecretValue", &[("SecretName", "kept")]);
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains("result is withheld")),
        "{body}"
    );
    assert!(!body.to_string().contains("value-one"), "{body}");
    let before = store_dump(&data);

    // From now on the gate refuses, before they run, every operation whose entry must be
    // durable, each in its dialect's own format.
    let (status, body) = c.call(
        "PutSecretValue",
        &[
            ("SecretName", "kept"),
            ("VersionId", "v2"),
            ("SecretData", "value-two"),
        ],
    );
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains("audit log")),
        "{body}"
    );
    let (status, body) = c.call(
        "CreateSecret",
        &[
            ("SecretName", "never"),
            ("VersionId", "v1"),
            ("SecretData", "value-never"),
        ],
    );
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    let (status, body) = c.call("GetSecretValue", &[("SecretName", "kept")]);
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    assert!(!body.to_string().contains("value-one"), "{body}");
    // Tencent answers errors with HTTP 200 and the code in the body.
    let (status, body) = tencent(
        &server,
        "PutSecretValue",
        &json!({"SecretName": "kept", "VersionId": "tc-v2", "SecretString": "value-tc"}),
    );
    assert_eq!(
        (status, body["Response"]["Error"]["Code"].as_str()),
        (200, Some("FailedOperation")),
        "{body}"
    );
    let (status, body) = huawei(
        &server,
        "POST",
        "/secrets/kept/versions",
        &json!({"secret_string": "value-hw"}),
    );
    assert_eq!(
        (status, body["error_code"].as_str()),
        (503, Some("CSMS.0503")),
        "{body}"
    );
    let (status, body) = admin_api(
        &server,
        "POST",
        "/coffer/v1/accounts",
        &json!({"Name": "never"}),
    );
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );

    // Reads whose entries need not be durable still work.
    let described = c.ok("DescribeSecret", &[("SecretName", "kept")]);
    assert_eq!(described["SecretName"], "kept");
    let versions = c.ok("ListSecretVersionIds", &[("SecretName", "kept")]);
    let ids: Vec<&str> = versions["VersionIds"]["VersionId"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["VersionId"].as_str())
        .collect();
    assert_eq!(ids, vec!["v1"], "{versions}");
    let (status, shown) = huawei(&server, "GET", "/secrets/kept", &Value::Null);
    assert_eq!(status, 200, "{shown}");

    // Nothing changed in the store, and each refusal was offered to the log (and logged as
    // not recorded).
    assert_eq!(
        store_dump(&data),
        before,
        "a refused operation changed the store"
    );
    let server_log = stop(server);
    assert!(
        server_log
            .matches("refused an operation the audit log cannot record")
            .count()
            >= 6,
        "{server_log}"
    );
    // A refusal at admission performed nothing, so its entry is queued rather than synced:
    // the log reports it lost when it cannot write it, instead of refusing it on the spot.
    assert!(
        server_log.matches("the audit log refused an entry").count()
            + server_log
                .matches("a non-durable audit entry was lost")
                .count()
            >= 7,
        "{server_log}"
    );

    // With the log back, the store reads as before the outage: no second version, no new
    // secret, no new account, and the log's chain is intact.
    std::fs::remove_file(&log).expect("remove the symlink");
    std::fs::rename(&aside, &log).expect("put the log back");
    let server = start(&data, &[]);
    let c = server.client();
    let got = c.ok("GetSecretValue", &[("SecretName", "kept")]);
    assert_eq!(
        (got["SecretData"].as_str(), got["VersionId"].as_str()),
        (Some("value-one"), Some("v1"))
    );
    let (status, body) = c.call("DescribeSecret", &[("SecretName", "never")]);
    assert_eq!(status, 404, "{body}");
    let (status, accounts) = admin_api(&server, "GET", "/coffer/v1/accounts", &Value::Null);
    assert_eq!(status, 200, "{accounts}");
    assert_eq!(
        accounts["Accounts"].as_array().map(Vec::len),
        Some(1),
        "{accounts}"
    );
    stop(server);
    let (code, out, err) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_megabyte_in_a_request_field_still_leaves_a_bounded_entry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[("COFFER_MAX_BODY_BYTES", "8388608")]);
    let huge_action = "A".repeat(1 << 20);

    // Signed by a real key, with a 1 MiB Action, the parameters in a form body.
    let client = coffer_auth::alibaba::RpcV1Client {
        access_key_id: AK,
        access_key_secret: SK.as_bytes(),
        timestamp: &common::timestamp_now(),
        nonce: "huge-action-nonce-1",
    };
    let form = coffer_auth::alibaba::rpc_v1_query("POST", &huge_action, "2016-01-20", &[], &client)
        .expect("sign");
    let form_headers = [(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    let (status, body) = send(&server, "POST", "/", &form_headers, form.as_bytes());
    assert_ne!(status, 503, "{body}");
    assert_ne!(status, 200, "{body}");

    // Unsigned, with a 1 MiB Action and a half-megabyte access key id.
    let huge_key = "K".repeat(1 << 19);
    let form = format!(
        "Action={huge_action}&Version=2016-01-20&Format=JSON&AccessKeyId={huge_key}\
         &SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=n2\
         &Timestamp={}&Signature=AAAA",
        common::timestamp_now()
    );
    let (status, body) = send(&server, "POST", "/", &form_headers, form.as_bytes());
    assert_ne!(status, 503, "{body}");

    // A path of 60,000 bytes (near the longest URI the HTTP layer takes) that matches no API.
    let path = format!("/{}", "p".repeat(60_000));
    let (status, body) = send(&server, "GET", &path, &[], &[]);
    assert_eq!(status, 404, "{body}");
    stop(server);

    let lines = read_lines(&data.join("audit.log"));
    let entries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for l in &lines {
        assert!(l.len() < 16 * 1024, "an entry of {} bytes", l.len());
    }
    // A cut field keeps its start and ends with how many bytes were cut and a digest of the
    // whole value.
    let cut_from = |field: &str, whole: &str| -> bool {
        let Some(at) = field.rfind("...(+") else {
            return false;
        };
        let digest: String = Sha256::digest(whole.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        whole.starts_with(&field[..at])
            && field[at..] == format!("...(+{} bytes, sha256:{digest})", whole.len() - at)
    };
    let huge: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["operation"]
                .as_str()
                .is_some_and(|o| cut_from(o, &huge_action))
        })
        .collect();
    assert_eq!(huge.len(), 2, "{lines:?}");
    assert_eq!(huge[0]["access_key_id"], AK);
    assert!(huge[1]["access_key_id"]
        .as_str()
        .is_some_and(|k| cut_from(k, &huge_key)));
    let path_entry = entries
        .iter()
        .find(|e| e["result"] == "UnknownApi")
        .expect("the unknown path's entry");
    assert!(
        path_entry["operation"]
            .as_str()
            .is_some_and(|o| cut_from(o, &format!("GET {path}"))),
        "{path_entry}"
    );
    let (code, out, err) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The MAC field of a line.
fn mac_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).expect("json");
    v["mac"].as_str().expect("mac").to_string()
}

/// Rewrites lines `from..` (0-based) the way someone without the key would: edited, and
/// re-chained with plain SHA-256 hashes under `field` ("mac" or "hash").
fn rewrite_tail(lines: &[String], from: usize, field: &str) -> Vec<String> {
    let mut out = lines.to_vec();
    let mut prev = mac_of(&lines[from - 1]);
    for l in out.iter_mut().skip(from) {
        let v: Value = serde_json::from_str(l).expect("json");
        let cut = l.rfind(",\"mac\":\"").expect("mac field");
        let head = l[..cut]
            .replace(v["prev"].as_str().expect("prev"), &prev)
            .replace("\"result\":\"OK\"", "\"result\":\"Forbidden.NoPermission\"");
        let hash = hex::encode(Sha256::digest(head.as_bytes()));
        *l = format!("{head},\"{field}\":\"{hash}\"}}");
        prev = hash;
    }
    out
}

#[test]
fn verify_needs_the_root_key_and_catches_edits_rewritten_tails_and_cut_tails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[]);
    let c = server.client();
    for i in 0..6 {
        let name = format!("s{i}");
        c.ok(
            "CreateSecret",
            &[
                ("SecretName", &name),
                ("VersionId", "v1"),
                ("SecretData", "v"),
            ],
        );
        c.ok("GetSecretValue", &[("SecretName", &name)]);
    }
    let server_log = stop(server);

    // The server logged the anchor at shutdown; `coffer audit anchor` prints the same.
    let logged = server_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["anchor"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no anchor in the server log:\n{server_log}"));
    let dir = data.to_str().expect("utf-8");
    let (code, printed, err) = audit_cli(&["anchor", "--data-dir", dir], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed.trim(), logged);
    let lines = read_lines(&data.join("audit.log"));
    assert_eq!(
        logged,
        format!("{}:{}", lines.len(), mac_of(&lines[lines.len() - 1]))
    );
    let (code, out, err) = verify(&data, &["--anchor", &logged]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("intact") && out.contains("reaches the anchor"),
        "{out}"
    );

    // A copy without the root key cannot be verified; given the key (file or environment),
    // it can. A wrong key fails.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    let copy_log = copy.join("audit.log");
    std::fs::copy(data.join("audit.log"), &copy_log).expect("copy");
    let (code, _, err) = verify(&copy, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("root key"), "{err}");
    let root_file = data.join("root.key");
    let root_arg = root_file.to_str().expect("utf-8");
    let (code, out, err) = verify(&copy, &["--root-key-file", root_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let root_b64 = std::fs::read_to_string(&root_file).expect("root key");
    let (code, out, err) = audit_cli(
        &["verify", "--data-dir", copy.to_str().expect("utf-8")],
        &[("COFFER_ROOT_KEY", root_b64.trim())],
    );
    assert_eq!(code, 0, "{out}{err}");
    let wrong = tmp.path().join("wrong.key");
    std::fs::write(
        &wrong,
        coffer_crypto::SecretKey::generate().to_base64().as_bytes(),
    )
    .expect("write");
    // Private like every root key file: a wider one is refused before it is even tried.
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, _, err) = verify(&copy, &["--root-key-file", wrong.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(err.contains("BROKEN") && err.contains("line 1"), "{err}");

    let with_key = ["--root-key-file", root_arg];
    let broken = |lines: &[String]| -> String {
        write_lines(&copy_log, lines);
        let (code, out, err) = verify(&copy, &with_key);
        assert_eq!(code, 1, "tampering went unnoticed: {out}");
        err
    };
    // One byte of line 4.
    let mut edited = lines.clone();
    edited[3] = edited[3].replace("\"status\":200", "\"status\":201");
    assert!(broken(&edited).contains("line 4:"));
    // The tail from line 5 rewritten and re-chained with plain SHA-256, under either name.
    let err = broken(&rewrite_tail(&lines, 4, "mac"));
    assert!(err.contains("line 5: hash does not match"), "{err}");
    let err = broken(&rewrite_tail(&lines, 4, "hash"));
    assert!(err.contains("line 5: not keyed"), "{err}");

    // The last three lines cut off: a clean chain on its own, caught with the anchor.
    write_lines(&copy_log, &lines[..lines.len() - 3]);
    let (code, out, err) = verify(&copy, &with_key);
    assert_eq!(code, 0, "{out}{err}");
    let mut anchored = with_key.to_vec();
    anchored.extend(["--anchor", &logged]);
    let (code, _, err) = verify(&copy, &anchored);
    assert_eq!(code, 1);
    assert!(err.contains("cut off"), "{err}");
    let anchor_file = tmp.path().join("anchor.txt");
    std::fs::write(&anchor_file, format!("{logged}\n")).expect("write");
    let mut from_file = with_key.to_vec();
    from_file.extend(["--anchor-file", anchor_file.to_str().expect("utf-8")]);
    let (code, _, err) = verify(&copy, &from_file);
    assert_eq!(code, 1);
    assert!(err.contains("cut off"), "{err}");
    let (code, out, _) = audit_cli(
        &[
            "verify",
            "--data-dir",
            copy.to_str().expect("utf-8"),
            "--root-key-file",
            root_arg,
            "--anchor",
            &logged,
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["Intact"], false);

    // The live log is untouched by all this.
    assert_eq!(verify(&data, &["--anchor", &logged]).0, 0);
}

#[test]
fn a_log_from_before_keying_is_sealed_at_start_and_stays_verifiable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[]);
    server.client().ok("ListSecrets", &[]);
    stop(server);
    // Rewrite the log the way earlier versions wrote it: plain SHA-256 under "hash".
    let log = data.join("audit.log");
    let lines = read_lines(&log);
    let mut prev = "0".repeat(64);
    let legacy: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            let cut = l.rfind(",\"mac\":\"").expect("mac field");
            let head = l[..cut].replace(v["prev"].as_str().expect("prev"), &prev);
            let hash = hex::encode(Sha256::digest(head.as_bytes()));
            prev = hash.clone();
            format!("{head},\"hash\":\"{hash}\"}}")
        })
        .collect();
    write_lines(&log, &legacy);
    let (code, _, err) = verify(&data, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("none of the"), "{err}");

    let server = start(&data, &[]);
    server.client().ok("ListSecrets", &[]);
    stop(server);
    let (code, out, err) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("written before the log was keyed"), "{out}");
    let now = read_lines(&log);
    assert_eq!(&now[..legacy.len()], &legacy[..]);
    assert!(now[legacy.len()].contains("AuditLogKeyed"));
}

#[test]
fn a_root_key_rotation_keeps_the_log_verifiable_with_the_new_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start(&data, &[]);
    let c = server.client();
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "r"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ],
    );
    let old_root = std::fs::read(data.join("root.key")).expect("root key");
    let (status, started) = admin_api(
        &server,
        "POST",
        "/coffer/v1/rewrap",
        &json!({"NewRootKey": true}),
    );
    assert_eq!(status, 200, "{started}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, st) = admin_api(&server, "GET", "/coffer/v1/rewrap", &Value::Null);
        assert_eq!(status, 200, "{st}");
        match st["State"].as_str() {
            Some("done") => break,
            Some("failed") => panic!("rewrap failed: {st}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "rewrap did not finish: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        std::fs::read(data.join("root.key")).expect("root key"),
        old_root
    );
    c.ok("GetSecretValue", &[("SecretName", "r")]);
    stop(server);

    let lines = read_lines(&data.join("audit.log"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"rekey\":\"") && l.contains("AuditLogKeyChanged"))
            .count(),
        1
    );
    // Only the new root key is left, and it verifies the whole log.
    let (code, out, err) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}{err}");
    // The old one does not.
    let old = tmp.path().join("old-root.key");
    std::fs::write(&old, &old_root).expect("write");
    let (code, _, _) = verify(&data, &["--root-key-file", old.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    // And a server restarted on it goes on under the new key.
    let server = start(&data, &[]);
    server.client().ok("ListSecrets", &[]);
    stop(server);
    assert_eq!(verify(&data, &[]).0, 0);
}
