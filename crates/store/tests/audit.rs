//! The keyed, chained audit log through its public API: concurrent appends, reopening, torn
//! writes, tampering (also by someone who recomputes plain SHA-256 hashes), root key changes,
//! logs from before keying, anchors, `tail`. The timing test is ignored by default; run it with
//! `cargo test -p coffer-store --release --test audit -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use coffer_core::{AuditEntry, AuditSink};
use coffer_crypto::SecretKey;
use coffer_store::audit::{entries_before, tail, verify, verify_with, Anchor, LogKey, VerifyError};
use coffer_store::FileAuditLog;
use hmac::Mac;
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const ROOT: [u8; 32] = [42u8; 32];

fn root() -> SecretKey {
    SecretKey::from_slice(&ROOT).expect("root key")
}

fn key() -> LogKey {
    LogKey::from_root(&root())
}

fn open(path: &Path) -> FileAuditLog {
    FileAuditLog::open(path, key(), None).expect("open")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The MAC a line's head gets, computed from the documented construction alone:
/// HMAC-SHA256(HMAC-SHA256(root key, label), head).
fn mac_of(root: &[u8], head: &str) -> String {
    let log_key = hmac(root, b"coffer/audit-log/hmac-sha256/v1");
    hex::encode(hmac(&log_key, head.as_bytes()))
}

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        time_ms: 1_700_000_000_000 + i as i64,
        request_id: format!("req-{i:05}"),
        account: (i % 2 == 1).then_some(i),
        access_key_id: Some(format!("LTAI{i:08}")),
        dialect: "alibaba".into(),
        operation: "GetSecretValue".into(),
        action: Some("secrets:GetValue".into()),
        resource: Some(format!("crn:coffer:default:{i}:secret/db-password")),
        source: "10.0.0.1:41000".into(),
        status: 200,
        result: "OK".into(),
        latency_us: 1234,
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read log");
    text.split_terminator('\n').map(str::to_string).collect()
}

fn write_raw(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write log");
}

fn seq_of(line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    v["seq"].as_u64().expect("seq")
}

/// A closed, verified log of `n` entries, appended one by one (every third durable).
async fn log_of(dir: &Path, name: &str, n: u64) -> PathBuf {
    let path = dir.join(name);
    let log = open(&path);
    for i in 1..=n {
        log.append(entry(i), i % 3 == 0).await.expect("append");
    }
    log.close().await;
    assert_eq!(verify(&path, &key()).expect("intact").entries, n);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_make_one_intact_chain_and_reopening_continues_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let log = Arc::new(open(&path));
    assert_eq!(log.path(), path);
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            // 1000 entries in all: tasks 0..8 take 32, the others 31.
            let count = if t < 8 { 32 } else { 31 };
            for k in 0..count {
                let i = t * 1000 + k;
                log.append(entry(i), (t + k) % 2 == 0)
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    log.close().await;
    assert!(
        log.append(entry(0), true).await.is_err(),
        "append after close"
    );
    assert!(
        log.append(entry(0), false).await.is_err(),
        "append after close"
    );

    let report = verify(&path, &key()).expect("intact");
    assert_eq!(report.entries, 1000);
    let lines = read_lines(&path);
    let seqs: Vec<u64> = lines.iter().map(|l| seq_of(l)).collect();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    let last_hash = &lines[999][lines[999].len() - 66..lines[999].len() - 2];
    assert_eq!(report.last_hash, last_hash);
    // Every entry exactly once.
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["request_id"].as_str().expect("request_id").to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let log = open(&path);
    log.append(entry(5000), true).await.expect("append");
    let anchor = log.close().await.expect("an anchor");
    let again = verify(&path, &key()).expect("intact after reopen");
    assert_eq!(again.anchor(), Some(anchor));
    assert_eq!(again.entries, 1001);
    let last = tail(&path, 1).expect("tail");
    assert_eq!(seq_of(&last[0]), 1001);
    assert!(last[0].contains(&format!("\"prev\":\"{}\"", report.last_hash)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_is_exactly_seq_prev_the_entry_and_its_mac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let log = open(&path);
    let e = entry(2);
    log.append(e.clone(), true).await.expect("append");
    log.close().await;
    let text = std::fs::read_to_string(&path).expect("read");
    let fields = serde_json::to_string(&e).expect("json");
    let fields = &fields[1..fields.len() - 1];
    let head = format!("{{\"seq\":1,\"prev\":\"{GENESIS}\",{fields}");
    let mac = mac_of(&ROOT, &head);
    assert_eq!(text, format!("{head},\"mac\":\"{mac}\"}}\n"));
    // The exact text above fixes the order (seq, prev, the entry's fields in struct order,
    // mac); the keys are those and no others.
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text.trim_end()).expect("json");
    let fields = serde_json::to_value(&e).expect("json");
    let mut want: Vec<&str> = fields
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    want.extend(["seq", "prev", "mac"]);
    want.sort();
    assert_eq!(v.keys().map(String::as_str).collect::<Vec<_>>(), want);
    // Only what the entry holds: nothing of a request body or a secret value gets in, and
    // neither the root key nor the log key.
    assert!(!text.contains("s3cr3t-P@ssw0rd"));
    assert!(!text.contains("SecretData"));
    let log_key = hmac(&ROOT, b"coffer/audit-log/hmac-sha256/v1");
    for k in [&ROOT[..], &log_key[..]] {
        assert!(!text.contains(&hex::encode(k)));
        assert!(!text.as_bytes().windows(k.len()).any(|w| w == k));
    }
}

/// A fresh copy of a verified 20-line log, for one tampering.
fn copy_of(original: &Path, dir: &Path, name: &str) -> (PathBuf, Vec<String>) {
    let path = dir.join(name);
    std::fs::copy(original, &path).expect("copy");
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 20);
    (path, lines)
}

fn broken_at(path: &Path) -> (u64, String) {
    let err = verify(path, &key()).expect_err("tampering went unnoticed");
    let line = err.line().expect("a line");
    (line, err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_line_that_was_tampered_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = log_of(dir.path(), "original.log", 20).await;

    // One byte of a value in line 7.
    let (path, mut lines) = copy_of(&original, dir.path(), "flip.log");
    lines[6] = lines[6].replace("\"status\":200", "\"status\":201");
    write_raw(&path, &lines);
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 7);
    assert_eq!(msg, "line 7: hash does not match its content");

    // A byte flipped to something that breaks the JSON is still caught at line 7.
    let (path, lines) = copy_of(&original, dir.path(), "flip2.log");
    let mut bytes = lines[6].clone().into_bytes();
    let at = lines[6].find("req-").expect("request id") + 2;
    bytes[at] = b'"';
    let mut lines = lines;
    lines[6] = String::from_utf8(bytes).expect("utf-8");
    write_raw(&path, &lines);
    assert_eq!(broken_at(&path).0, 7);

    // Line 7 deleted.
    let (path, mut lines) = copy_of(&original, dir.path(), "delete.log");
    lines.remove(6);
    write_raw(&path, &lines);
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 7);
    assert_eq!(msg, "line 7: seq is 8, expected 7");

    // Lines 7 and 8 swapped.
    let (path, mut lines) = copy_of(&original, dir.path(), "swap.log");
    lines.swap(6, 7);
    write_raw(&path, &lines);
    assert_eq!(broken_at(&path).0, 7);

    // Line 7's hash edited.
    let (path, mut lines) = copy_of(&original, dir.path(), "hash.log");
    let l = &lines[6];
    let last = l.len() - 3;
    let flipped = if &l[last..last + 1] == "0" { "1" } else { "0" };
    lines[6] = format!("{}{flipped}{}", &l[..last], &l[last + 1..]);
    write_raw(&path, &lines);
    let (line, _) = broken_at(&path);
    assert!(line == 7 || line == 8, "{line}");

    // Line 7 edited and given a new plain SHA-256 "MAC" (all one can compute without the
    // key): line 7 itself is caught.
    let (path, mut lines) = copy_of(&original, dir.path(), "rehash.log");
    let edited = lines[6].replace("\"status\":200", "\"status\":404");
    let cut = edited.rfind(",\"mac\":\"").expect("mac field");
    let head = &edited[..cut];
    lines[6] = format!(
        "{head},\"mac\":\"{}\"}}",
        hex::encode(Sha256::digest(head.as_bytes()))
    );
    write_raw(&path, &lines);
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 7);
    assert_eq!(msg, "line 7: hash does not match its content");

    // The same line written the way unkeyed logs were ("hash", plain SHA-256): after keyed
    // lines, that is refused as such.
    let (path, mut lines) = copy_of(&original, dir.path(), "rehash-legacy.log");
    lines[6] = format!(
        "{head},\"hash\":\"{}\"}}",
        hex::encode(Sha256::digest(head.as_bytes()))
    );
    write_raw(&path, &lines);
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 7);
    assert!(msg.starts_with("line 7: not keyed"), "{msg}");

    // The whole tail from line 15 rewritten and re-chained with plain SHA-256, each line's
    // prev the new hash of the one before: still caught at line 15, the first rewritten one.
    for (name, field) in [("tail-mac.log", "mac"), ("tail-hash.log", "hash")] {
        let (path, mut lines) = copy_of(&original, dir.path(), name);
        let cut = lines[13].rfind(",\"mac\":\"").expect("mac field");
        let mut prev = lines[13][cut + 8..cut + 8 + 64].to_string();
        for l in lines.iter_mut().skip(14) {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let old_prev = v["prev"].as_str().expect("prev").to_string();
            let cut = l.rfind(",\"mac\":\"").expect("mac field");
            let head = l[..cut]
                .replace(&old_prev, &prev)
                .replace("\"status\":200", "\"status\":403");
            let hash = hex::encode(Sha256::digest(head.as_bytes()));
            *l = format!("{head},\"{field}\":\"{hash}\"}}");
            prev = hash;
        }
        write_raw(&path, &lines);
        assert_eq!(broken_at(&path).0, 15, "{name}");
    }

    // The final newline cut off.
    let (path, _) = copy_of(&original, dir.path(), "newline.log");
    let len = std::fs::metadata(&path).expect("metadata").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len - 1)
        .expect("truncate");
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 20);
    assert_eq!(msg, "line 20: missing final newline");

    // A garbage line appended.
    let (path, mut lines) = copy_of(&original, dir.path(), "garbage.log");
    lines.push("{\"seq\":21,\"note\":\"nothing to see\"}".into());
    write_raw(&path, &lines);
    let (line, msg) = broken_at(&path);
    assert_eq!(line, 21);
    assert!(msg.starts_with("line 21: not a valid entry ("), "{msg}");

    // An empty line in the middle is caught where it is.
    let (path, mut lines) = copy_of(&original, dir.path(), "empty.log");
    lines.insert(10, String::new());
    write_raw(&path, &lines);
    assert_eq!(broken_at(&path).0, 11);

    // Another root key's log key verifies nothing.
    let other = LogKey::from_root(&SecretKey::from_slice(&[1u8; 32]).expect("key"));
    let err = verify(&original, &other).expect_err("verified under another key");
    assert_eq!(err.to_string(), "line 1: hash does not match its content");

    // The original is untouched by all this.
    assert_eq!(verify(&original, &key()).expect("intact").entries, 20);
}

#[test]
fn verify_of_a_missing_file_is_an_io_error_and_of_an_empty_one_is_an_empty_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = verify(&dir.path().join("nope.log"), &key());
    assert!(matches!(missing, Err(VerifyError::Io(_))), "{missing:?}");
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").expect("write");
    let report = verify(&empty, &key()).expect("empty is intact");
    assert_eq!((report.entries, report.last_hash.as_str()), (0, GENESIS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_is_cut_on_open_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_of(dir.path(), "torn.log", 5).await;
    let intact = std::fs::read(&path).expect("read");
    let line = read_lines(&path).pop().expect("a line");
    let half = &line[..line.len() / 2];
    let mut torn = intact.clone();
    torn.extend_from_slice(half.as_bytes());
    std::fs::write(&path, &torn).expect("write");
    assert!(matches!(
        verify(&path, &key()),
        Err(VerifyError::MissingNewline { line: 6 })
    ));
    // Tail never shows a torn line.
    assert_eq!(tail(&path, 1).expect("tail"), vec![line.clone()]);

    let log = open(&path);
    assert_eq!(std::fs::read(&path).expect("read"), intact, "not cut");
    log.append(entry(6), true).await.expect("append");
    log.close().await;
    assert_eq!(verify(&path, &key()).expect("intact").entries, 6);
    assert_eq!(seq_of(&tail(&path, 1).expect("tail")[0]), 6);

    // A log that is nothing but a torn line starts over.
    let only = dir.path().join("only-torn.log");
    std::fs::write(&only, half).expect("write");
    let log = open(&only);
    log.append(entry(1), true).await.expect("append");
    log.close().await;
    assert_eq!(verify(&only, &key()).expect("intact").entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_last_line_stops_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_of(dir.path(), "damaged.log", 3).await;
    let mut lines = read_lines(&path);
    lines[2] = lines[2].replace("\"status\":200", "\"status\":500");
    write_raw(&path, &lines);
    let err = FileAuditLog::open(&path, key(), None)
        .err()
        .expect("opened a damaged log");
    assert!(
        err.to_string().contains("run `coffer audit verify`"),
        "{err}"
    );

    // A sound log under another root key is not continued.
    let path = log_of(dir.path(), "foreign.log", 3).await;
    let other = LogKey::from_root(&SecretKey::from_slice(&[1u8; 32]).expect("key"));
    let err = FileAuditLog::open(&path, other, None)
        .err()
        .expect("opened another root key's log");
    assert!(
        err.to_string().contains("does not match this root key"),
        "{err}"
    );

    write_raw(&path, &["not json at all".to_string()]);
    assert!(FileAuditLog::open(&path, key(), None).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_entry_is_bounded_and_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.log");
    let log = open(&path);
    log.append(entry(1), true).await.expect("append");
    let mut big = entry(2);
    big.request_id = "x".repeat(coffer_store::audit::MAX_LINE + 1);
    big.operation = "A".repeat(1 << 20);
    big.access_key_id = Some("K".repeat(1 << 20));
    big.resource = Some("r".repeat(1 << 20));
    log.append(big, true)
        .await
        .expect("a huge entry is written, bounded");
    log.append(entry(3), true).await.expect("append");
    log.close().await;
    assert_eq!(verify(&path, &key()).expect("intact").entries, 3);
    let lines = read_lines(&path);
    assert!(lines[1].len() < 8 * 1024, "{} bytes", lines[1].len());
    let v: serde_json::Value = serde_json::from_str(&lines[1]).expect("json");
    let op = v["operation"].as_str().expect("operation");
    assert!(
        op.starts_with("AAAA") && op.contains("...(+") && op.ends_with(')'),
        "{op}"
    );
    assert!(v["access_key_id"]
        .as_str()
        .expect("key id")
        .starts_with("KKKK"));
}

/// Writes a log the way coffer wrote them before lines were keyed: plain SHA-256, `"hash"`.
fn write_legacy(path: &Path, n: u64) {
    let mut prev = GENESIS.to_string();
    let mut text = String::new();
    for i in 1..=n {
        let fields = serde_json::to_string(&entry(i)).expect("json");
        let head = format!(
            "{{\"seq\":{i},\"prev\":\"{prev}\",{}",
            &fields[1..fields.len() - 1]
        );
        let hash = hex::encode(Sha256::digest(head.as_bytes()));
        text.push_str(&format!("{head},\"hash\":\"{hash}\"}}\n"));
        prev = hash;
    }
    std::fs::write(path, text).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_from_before_keying_is_sealed_on_open_and_only_keyed_lines_follow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("legacy.log");
    write_legacy(&path, 5);
    // Not keyed at all: verify says so and fails.
    let err = verify(&path, &key()).expect_err("an unkeyed log passed");
    assert!(
        matches!(err, VerifyError::NoKeyedLine { lines: 5 }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("start the server on this data dir once"),
        "{err}"
    );

    // Opening it seals it at once with a keyed line, before any entry arrives.
    let log = open(&path);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 6);
    assert!(
        lines[5].contains("\"operation\":\"AuditLogKeyed\""),
        "{}",
        lines[5]
    );
    assert!(lines[5].ends_with("\"}") && lines[5].contains(",\"mac\":\""));
    log.append(entry(6), true).await.expect("append");
    log.close().await;
    let report = verify(&path, &key()).expect("intact");
    assert_eq!((report.entries, report.unkeyed), (7, 5));

    // The old lines are covered by the first keyed line's MAC: editing one (and rehashing it
    // and every old line after it) is caught where the keyed lines begin.
    let mut lines = read_lines(&path);
    let original = lines.clone();
    let mut prev = GENESIS.to_string();
    for (i, l) in lines.iter_mut().enumerate().take(5) {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        let cut = l.rfind(",\"hash\":\"").expect("hash");
        let mut head = l[..cut].replace(v["prev"].as_str().expect("prev"), &prev);
        if i == 2 {
            head = head.replace("\"status\":200", "\"status\":401");
        }
        let hash = hex::encode(Sha256::digest(head.as_bytes()));
        *l = format!("{head},\"hash\":\"{hash}\"}}");
        prev = hash;
    }
    write_raw(&path, &lines);
    assert_eq!(broken_at(&path).0, 6);
    // And cutting every keyed line off leaves a log that does not verify.
    write_raw(&path, &lines[..5]);
    assert!(matches!(
        verify(&path, &key()),
        Err(VerifyError::NoKeyedLine { .. })
    ));
    write_raw(&path, &original);
    assert!(verify(&path, &key()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_key_change_keeps_the_whole_log_verifiable_with_the_new_key_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rotated.log");
    let root2 = SecretKey::from_slice(&[43u8; 32]).expect("key");
    let root3 = SecretKey::from_slice(&[44u8; 32]).expect("key");
    let (k2, k3) = (LogKey::from_root(&root2), LogKey::from_root(&root3));

    // A running log moves to a new root key: a key change line, then lines under the new key.
    let log = open(&path);
    log.append(entry(1), true).await.expect("append");
    log.append(entry(2), false).await.expect("append");
    log.root_key_changed(&root2).await.expect("rekey");
    // The same key again (a resumed rotation) changes nothing.
    log.root_key_changed(&root2).await.expect("rekey");
    log.append(entry(4), true).await.expect("append");
    log.close().await;
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4);
    assert!(lines[2].contains("\"rekey\":\"") && lines[2].contains("AuditLogKeyChanged"));
    let report = verify(&path, &k2).expect("intact under the new key alone");
    assert_eq!((report.entries, report.key_changes), (4, 1));
    // The old key alone does not: it cannot open the key change, so it is not the log's key.
    let err = verify(&path, &key()).expect_err("verified under the old key");
    assert!(
        matches!(err, VerifyError::Rekey { line: 1, change: 3 }),
        "{err}"
    );

    // A rotation left unfinished at a restart: the server opens with the new key and the
    // previous one, and the log moves on with a key change line.
    let log = FileAuditLog::open(&path, k3.clone(), Some(k2.clone())).expect("open");
    log.append(entry(6), true).await.expect("append");
    log.close().await;
    let report = verify(&path, &k3).expect("intact under the newest key");
    assert_eq!((report.entries, report.key_changes), (6, 2));
    // Opened again with the newest key only, it just goes on.
    let log = FileAuditLog::open(&path, k3.clone(), None).expect("open");
    log.append(entry(7), true).await.expect("append");
    log.close().await;
    assert_eq!(verify(&path, &k3).expect("intact").entries, 7);
    // Trying several keys (as `verify` does during an unfinished rotation) finds the one.
    assert!(verify_with(&path, &[key(), k2.clone(), k3.clone()], None).is_ok());
    let err = verify_with(&path, &[key(), k2.clone()], None).expect_err("no key fits");
    assert!(matches!(err, VerifyError::Rekey { change: 5, .. }), "{err}");

    // A key change line whose sealed key is altered: lines before it cannot be checked, and
    // verify says which change does not open.
    let mut lines = read_lines(&path);
    let at = lines[4].find("\"rekey\":\"").expect("rekey") + 9;
    let flipped = if &lines[4][at..at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    lines[4] = format!("{}{flipped}{}", &lines[4][..at], &lines[4][at + 1..]);
    write_raw(&path, &lines);
    let err = verify(&path, &k3).expect_err("an altered key change passed");
    assert!(
        matches!(err, VerifyError::Rekey { line: 1, change: 5 }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_kept_elsewhere_catches_a_tail_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = log_of(dir.path(), "anchored.log", 20).await;
    let report = verify(&original, &key()).expect("intact");
    let anchor = report.anchor().expect("anchor");
    assert_eq!(anchor.seq, 20);
    let anchored = verify_with(&original, &[key()], Some(&anchor)).expect("reaches it");
    assert!(anchored.anchored);
    // An anchor of an earlier line is reached too.
    let lines = read_lines(&original);
    let early: Anchor = format!("7:{}", &lines[6][lines[6].len() - 66..lines[6].len() - 2])
        .parse()
        .expect("anchor");
    assert!(verify_with(&original, &[key()], Some(&early)).is_ok());

    // The last 5 lines cut off: intact as a chain, but short of the anchor.
    let (path, lines) = copy_of(&original, dir.path(), "cut.log");
    write_raw(&path, &lines[..15]);
    assert_eq!(verify(&path, &key()).expect("a clean cut").entries, 15);
    let err = verify_with(&path, &[key()], Some(&anchor)).expect_err("cut went unnoticed");
    assert!(
        matches!(
            err,
            VerifyError::AnchorBeyondEnd {
                seq: 20,
                entries: 15
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cut off"), "{err}");
    // An anchor that is not the line's MAC at that seq.
    let wrong = Anchor {
        seq: 7,
        mac: "0".repeat(64),
    };
    let err = verify_with(&original, &[key()], Some(&wrong)).expect_err("a wrong anchor passed");
    assert!(
        matches!(err, VerifyError::AnchorMismatch { seq: 7 }),
        "{err}"
    );
}

/// Paging backwards by position visits every line once, newest page first, and refuses a
/// position that is not the start of a line or lies past the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_page_backwards_by_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_of(dir.path(), "back.log", 500).await;
    let lines = read_lines(&path);
    let mut seen: Vec<String> = vec![];
    let mut before = None;
    let mut reads = 0;
    loop {
        reads += 1;
        let page = entries_before(&path, before, 37).expect("read back");
        assert!(page.len() <= 37);
        let Some((first, _)) = page.first() else {
            break;
        };
        let first = *first;
        for w in page.windows(2) {
            assert!(w[0].0 < w[1].0, "positions grow within a page");
        }
        let mut texts: Vec<String> = page.into_iter().map(|(_, l)| l).collect();
        texts.extend(seen);
        seen = texts;
        if first == 0 {
            break;
        }
        before = Some(first);
    }
    assert_eq!(seen, lines);
    assert_eq!(reads, 500usize.div_ceil(37));
    // The same pages from a live log's own reader.
    let log = FileAuditLog::open(&path, key(), None).expect("open");
    let last = log.entries_before(None, 2).await.expect("read back");
    assert_eq!(
        last.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(),
        lines[498..].to_vec()
    );
    log.close().await;
    // A position inside a line, past the end, and the very start.
    let mid = entries_before(&path, None, 1).expect("read back")[0].0 + 3;
    assert!(entries_before(&path, Some(mid), 5).is_err());
    let len = std::fs::metadata(&path).expect("metadata").len();
    assert!(entries_before(&path, Some(len + 1), 5).is_err());
    assert!(entries_before(&path, Some(0), 5).expect("start").is_empty());
    assert_eq!(
        entries_before(&path, Some(len), 500).expect("all").len(),
        500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_reads_the_last_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_of(dir.path(), "tail.log", 20).await;
    let lines = read_lines(&path);
    assert_eq!(tail(&path, 3).expect("tail"), lines[17..].to_vec());
    assert!(tail(&path, 0).expect("tail").is_empty());
    assert_eq!(tail(&path, 1000).expect("tail"), lines);
    assert_eq!(tail(&path, 20).expect("tail"), lines);
    assert_eq!(tail(&path, 19).expect("tail"), lines[1..].to_vec());

    // Across many backward reads (the log is several chunks long).
    let long = log_of(dir.path(), "long.log", 2000).await;
    let lines = read_lines(&long);
    assert!(std::fs::metadata(&long).expect("metadata").len() > 4 * 64 * 1024);
    for n in [1, 2, 150, 151, 999, 1999, 2000, 2001] {
        let got = tail(&long, n).expect("tail");
        assert_eq!(
            got,
            lines[lines.len().saturating_sub(n)..].to_vec(),
            "n = {n}"
        );
    }

    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").expect("write");
    assert!(tail(&empty, 3).expect("tail").is_empty());
}

/// 10,000 durable appends from 64 tasks: group commit at work.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn timing_of_durable_appends_from_many_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("timing.log");
    let log = Arc::new(open(&path));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..10_000 / 64 + u64::from(t < 10_000 % 64) {
                log.append(entry(t * 100_000 + k), true)
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed();
    log.close().await;
    let report = verify(&path, &key()).expect("intact");
    assert_eq!(report.entries, 10_000);
    println!(
        "10000 durable appends from 64 tasks: {elapsed:?} ({:.0}/s)",
        10_000.0 / elapsed.as_secs_f64()
    );
    let started = Instant::now();
    verify(&path, &key()).expect("intact");
    println!("verify of 10000 lines: {:?}", started.elapsed());
}
