//! The signing forms of the Node.js SDKs through the real binary (DESIGN.md, "Signing forms of
//! the SDKs"): a Tencent TC3 request signed with the host without its port and the endpoint's
//! first label as the scope's service, and a Huawei request whose path is escaped twice, are
//! served; the same requests tampered in any signed part, signed with another key, outside the
//! clock window or replayed as another action are refused, each in its cloud's own words.

mod common;

use coffer_auth::huawei;
use coffer_auth::tencent::{self, SSM_VERSION};
use common::{send, Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn start() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
        ],
    );
    (tmp, server)
}

/// A TC3 POST as `tencentcloud-sdk-nodejs-common` signs it at the endpoint `127.0.0.1:PORT`:
/// host line `127.0.0.1`, scope service `127`. `service` and `secret` may be changed to forge.
fn node_tc3(
    action: &str,
    version: &str,
    body: &[u8],
    ts: i64,
    service: &str,
    secret: &str,
) -> Vec<(String, String)> {
    let content_type = "application/json";
    let auth = tencent::sign_tc3(
        "POST",
        "",
        &[("content-type", content_type), ("host", "127.0.0.1")],
        body,
        AK,
        secret.as_bytes(),
        ts,
        service,
    );
    vec![
        ("content-type".into(), content_type.into()),
        ("x-tc-action".into(), action.into()),
        ("x-tc-version".into(), version.into()),
        ("x-tc-region".into(), "ap-guangzhou".into()),
        ("x-tc-timestamp".into(), ts.to_string()),
        ("authorization".into(), auth),
    ]
}

fn tc_error(resp: &(u16, Value)) -> Option<String> {
    resp.1["Response"]["Error"]["Code"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn the_node_tc3_form_is_served_and_every_forgery_refused() {
    let (_tmp, server) = start();
    let tc = |headers: &[(String, String)], body: &[u8]| send(&server, "POST", "/", headers, body);

    let create = br#"{"SecretName":"node-form","VersionId":"v1","SecretString":"s3cret"}"#;
    let r = tc(
        &node_tc3("CreateSecret", SSM_VERSION, create, now(), "127", SK),
        create,
    );
    assert_eq!(tc_error(&r), None, "{}", r.1);

    let get = br#"{"SecretName":"node-form","VersionId":"v1"}"#;
    let ts = now();
    let good = node_tc3("GetSecretValue", SSM_VERSION, get, ts, "127", SK);
    let r = tc(&good, get);
    assert_eq!(r.1["Response"]["SecretString"], "s3cret", "{}", r.1);
    // KMS through the same endpoint label (the common client signs `127` for it too).
    let r = tc(
        &node_tc3("GetServiceStatus", "2019-01-18", b"{}", now(), "127", SK),
        b"{}",
    );
    assert_eq!(tc_error(&r), None, "{}", r.1);

    let refused = |headers: &[(String, String)], body: &[u8], what: &str| {
        let r = tc(headers, body);
        assert_eq!(
            tc_error(&r).as_deref(),
            Some("AuthFailure.SignatureFailure"),
            "{what}: {}",
            r.1
        );
    };
    // Every signed part: the body, the content type, the timestamp, the scope's service and
    // date, the signature itself; and another key.
    refused(
        &good,
        br#"{"SecretName":"node-form","VersionId":"v2"}"#,
        "body",
    );
    let mut h = good.clone();
    h[0].1 = "application/json; charset=utf-8".into();
    refused(&h, get, "content type");
    let mut h = good.clone();
    h[4].1 = (ts + 1).to_string();
    refused(&h, get, "timestamp");
    for (from, to) in [("/127/", "/128/"), ("/127/", "/ssm/"), ("/127/", "/kms/")] {
        let mut h = good.clone();
        h[5].1 = h[5].1.replacen(from, to, 1);
        refused(&h, get, "scope service");
    }
    let mut h = good.clone();
    let date = utc_date(ts);
    h[5].1 = h[5].1.replacen(&date, "2000-01-01", 1);
    refused(&h, get, "scope date");
    let mut h = good.clone();
    let last = h[5].1.pop().unwrap_or('0');
    h[5].1.push(if last == '0' { '1' } else { '0' });
    refused(&h, get, "signature");
    refused(
        &node_tc3(
            "GetSecretValue",
            SSM_VERSION,
            get,
            ts,
            "127",
            "another secret",
        ),
        get,
        "another key",
    );
    // A scope that is neither an API nor the Host's first label.
    refused(
        &node_tc3("GetSecretValue", SSM_VERSION, get, ts, "localhost", SK),
        get,
        "another label",
    );

    // The clock window still applies.
    let old = node_tc3("GetSecretValue", SSM_VERSION, get, now() - 400, "127", SK);
    let r = tc(&old, get);
    assert_eq!(
        tc_error(&r).as_deref(),
        Some("AuthFailure.SignatureExpire"),
        "{}",
        r.1
    );

    // So does the replay guard: after the same client's grace, the signature of the read is
    // refused as a write of the same secret.
    std::thread::sleep(tencent::SAME_CLIENT_GRACE + std::time::Duration::from_secs(1));
    let mut delete = good.clone();
    delete[1].1 = "DeleteSecret".into();
    refused(&delete, get, "replayed as DeleteSecret");
    let r = tc(&good, get);
    assert_eq!(
        r.1["Response"]["SecretString"], "s3cret",
        "a retry of the same request: {}",
        r.1
    );
}

fn utc_date(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// Huawei headers as the Node.js SDK core sends and signs them (no User-Agent signed).
fn node_huawei(
    method: &str,
    path: &str,
    body: &[u8],
    unix: i64,
    secret: &str,
    host: &str,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), host.to_string()),
        ("x-project-id".to_string(), PROJECT.to_string()),
        ("x-sdk-date".to_string(), huawei::format_sdk_date(unix)),
    ];
    let auth = huawei::sign_as_node(method, path, "", &headers, body, AK, secret.as_bytes());
    headers.push(("authorization".into(), auth));
    headers
}

#[test]
fn the_node_huawei_path_form_is_served_and_every_forgery_refused() {
    let (_tmp, server) = start();
    let host = server
        .base()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let hw = |method: &str, path: &str, headers: &[(String, String)], body: &[u8]| {
        send(&server, method, path, headers, body)
    };
    let python = |method: &str, path: &str, body: &[u8]| {
        let headers = huawei::request_headers(
            method,
            &host,
            path,
            "",
            body,
            Some(PROJECT),
            AK,
            SK.as_bytes(),
            now(),
        );
        hw(method, path, &headers, body)
    };
    let create = serde_json::to_vec(&json!({"name": "node_form", "secret_string": "s3cret"}))
        .unwrap_or_default();
    let r = python("POST", &format!("/v1/{PROJECT}/secrets"), &create);
    assert_eq!(r.0, 200, "{}", r.1);
    let id = r.1["secret"]["id"].as_str().unwrap_or_default().to_string();
    let tags = format!("/v1/{PROJECT}/csms/{id}/tags");
    for key in ["two words", "k 中"] {
        let body =
            serde_json::to_vec(&json!({"tag": {"key": key, "value": "v"}})).unwrap_or_default();
        let r = python("POST", &tags, &body);
        assert_eq!(r.0, 204, "{}", r.1);
    }

    let path = format!("{tags}/two%20words");
    let good = node_huawei("DELETE", &path, b"", now(), SK, &host);
    let refused =
        |method: &str, path: &str, headers: &[(String, String)], body: &[u8], what: &str| {
            let r = hw(method, path, headers, body);
            assert_eq!(
                (r.0, r.1["error_code"].as_str()),
                (401, Some("APIGW.0301")),
                "{what}: {}",
                r.1
            );
        };
    // Tampered before the real request is sent: the path (another key, the twice-escaped text
    // read literally), the method, each signed header, the signature; another key.
    refused("DELETE", &format!("{tags}/two%20wordz"), &good, b"", "path");
    // The twice-escaped text read literally decodes to a '%', which no name may hold: refused
    // as a malformed request before any signature is looked at.
    let r = hw("DELETE", &format!("{tags}/two%2520words"), &good, b"");
    assert_eq!(
        (r.0, r.1["error_code"].as_str()),
        (400, Some("APIG.0201")),
        "path read the canonical way: {}",
        r.1
    );
    refused("GET", &path, &good, b"", "method");
    for (i, value) in [
        (0, "text/plain"),
        (2, "fedcba9876543210fedcba9876543210"),
        (3, "20000101T000000Z"),
    ] {
        let mut h = good.clone();
        h[i].1 = value.into();
        let r = hw("DELETE", &path, &h, b"");
        assert!(
            matches!(r.0, 400 | 401 | 403),
            "header {i}: {} {}",
            r.0,
            r.1
        );
        assert_ne!(r.0, 204);
    }
    let mut h = good.clone();
    let last = h[4].1.pop().unwrap_or('0');
    h[4].1.push(if last == '0' { '1' } else { '0' });
    refused("DELETE", &path, &h, b"", "signature");
    refused(
        "DELETE",
        &path,
        &node_huawei("DELETE", &path, b"", now(), "another secret", &host),
        b"",
        "another key",
    );
    // A body the signature does not cover.
    refused("DELETE", &path, &good, b"{}", "body");
    // The clock window (15 minutes) still applies.
    refused(
        "DELETE",
        &path,
        &node_huawei("DELETE", &path, b"", now() - 16 * 60, SK, &host),
        b"",
        "old date",
    );

    // The genuine requests are served: both keys go, and nothing else was deleted before.
    let r = hw("DELETE", &path, &good, b"");
    assert_eq!(r.0, 204, "{}", r.1);
    let path = format!("{tags}/k%20%E4%B8%AD");
    let r = hw(
        "DELETE",
        &path,
        &node_huawei("DELETE", &path, b"", now(), SK, &host),
        b"",
    );
    assert_eq!(r.0, 204, "{}", r.1);
    let r = python("GET", &tags, b"");
    assert_eq!(r.1["tags"], json!([]), "{}", r.1);
}
