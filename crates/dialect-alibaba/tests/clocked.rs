//! The dialect in process with a manual clock: signature windows, replay, disabled keys and
//! the deletion window are checked at exact instants instead of by sleeping.

use std::sync::Arc;

use coffer_api::{Dialect, HttpRequest, Reply};
use coffer_core::{ManualClock, RegionMap, Service, Timestamp};
use coffer_dialect_alibaba::Alibaba;

const AK: &str = "clock-ak";
const SK: &str = "clock-sk";

struct Harness {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    service: Arc<Service>,
    dialect: Alibaba,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    let dialect = Alibaba::new(service.clone(), RegionMap::default());
    Harness {
        _dir: dir,
        clock,
        service,
        dialect,
    }
}

fn iso(secs: i64) -> String {
    Timestamp::from_secs(secs).to_iso8601_seconds()
}

impl Harness {
    async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
        at: i64,
        nonce: &str,
    ) -> (u16, serde_json::Value) {
        let r = self.reply(action, params, at, nonce).await;
        (
            r.status,
            serde_json::from_slice(&r.body).expect("json body"),
        )
    }

    async fn reply(&self, action: &str, params: &[(&str, &str)], at: i64, nonce: &str) -> Reply {
        let client = coffer_auth::alibaba::RpcV1Client {
            access_key_id: AK,
            access_key_secret: SK.as_bytes(),
            timestamp: &iso(at),
            nonce,
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
                .expect("sign");
        let headers = vec![("host".to_string(), "localhost".to_string())];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            raw_query: &query,
            headers: &headers,
            body: b"",
            request_id: "req-1",
            peer: None,
        };
        coffer_api::handle(&self.dialect, &coffer_api::AdmitAll, &req)
            .await
            .reply
    }

    fn now(&self) -> i64 {
        self.service.now().as_secs()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_window_is_fifteen_minutes_each_way() {
    let h = harness().await;
    let now = h.now();
    for (offset, ok) in [(-900, true), (900, true), (-901, false), (901, false)] {
        let (status, body) = h
            .call(
                "GetRandomPassword",
                &[],
                now + offset,
                &format!("n{offset}"),
            )
            .await;
        if ok {
            assert_eq!(status, 200, "offset {offset}: {body}");
        } else {
            assert_eq!(
                (status, body["Code"].as_str()),
                (400, Some("InvalidTimeStamp.Expired")),
                "offset {offset}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_single_use_for_the_whole_window() {
    let h = harness().await;
    let t = h.now();
    assert_eq!(h.call("GetRandomPassword", &[], t, "same").await.0, 200);
    let (status, body) = h.call("GetRandomPassword", &[], t, "same").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );
    // 14 minutes later the timestamp is still inside the window, so the nonce still counts.
    h.clock.advance_millis(14 * 60_000);
    let (status, _) = h.call("GetRandomPassword", &[], t, "same").await;
    assert_eq!(status, 400);
    // A refused request does not burn its nonce.
    let (status, _) = h.call("GetRandomPassword", &[], t - 3600, "fresh").await;
    assert_eq!(status, 400);
    assert_eq!(
        h.call("GetRandomPassword", &[], h.now(), "fresh").await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_keys_are_refused_and_enabled_keys_work_again() {
    let h = harness().await;
    h.service
        .set_access_key_enabled(AK, false)
        .await
        .expect("disable");
    let (status, body) = h.call("GetRandomPassword", &[], h.now(), "d1").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("Forbidden.AccessKey")),
        "{body}"
    );
    assert!(body["RequestId"].is_string());
    h.service
        .set_access_key_enabled(AK, true)
        .await
        .expect("enable");
    assert_eq!(h.call("GetRandomPassword", &[], h.now(), "d2").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_purged_when_the_recovery_window_ends() {
    let h = harness().await;
    let create = [
        ("SecretName", "doomed"),
        ("VersionId", "v1"),
        ("SecretData", "x"),
    ];
    assert_eq!(h.call("CreateSecret", &create, h.now(), "c1").await.0, 200);
    let (status, body) = h
        .call(
            "DeleteSecret",
            &[("SecretName", "doomed"), ("RecoveryWindowInDays", "7")],
            h.now(),
            "c2",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["PlannedDeleteTime"], iso(h.now() + 7 * 86_400));
    // One second before the end: still there, and the name is still taken.
    h.clock.advance_millis(7 * 86_400_000 - 1000);
    assert!(h.service.purge_due(100).await.expect("purge").is_empty());
    let (status, body) = h.call("CreateSecret", &create, h.now(), "c3").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("Rejected.ResourceInDeleteWindow"))
    );
    // At the end: purged, and the name is free.
    h.clock.advance_millis(1000);
    let purged = h.service.purge_due(100).await.expect("purge");
    assert_eq!(purged.len(), 1);
    let (status, body) = h
        .call("DescribeSecret", &[("SecretName", "doomed")], h.now(), "c4")
        .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("Forbidden.ResourceNotFound"))
    );
    assert_eq!(h.call("CreateSecret", &create, h.now(), "c5").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_the_request_id_and_errors_echo_the_host() {
    let h = harness().await;
    let ok = h.reply("GetRandomPassword", &[], h.now(), "r1").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.content_type, "application/json;charset=utf-8");
    assert_eq!(ok.headers, vec![("x-acs-request-id", "req-1".to_string())]);
    let body: serde_json::Value = serde_json::from_slice(&ok.body).expect("json body");
    assert_eq!(body["RequestId"], "req-1");

    // Unsigned, and asking for XML: the refusal is XML and names the host it was sent to.
    let headers = vec![("host".to_string(), "kms.example".to_string())];
    let req = HttpRequest {
        method: "POST",
        path: "/",
        raw_query: "Action=GetRandomPassword&Format=xml",
        headers: &headers,
        body: b"",
        request_id: "req-2",
        peer: None,
    };
    assert!(h.dialect.recognises(&req));
    let handled = coffer_api::handle(&h.dialect, &coffer_api::AdmitAll, &req).await;
    let r = handled.reply;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type, "text/xml;charset=utf-8");
    assert_eq!(r.headers, vec![("x-acs-request-id", "req-2".to_string())]);
    let xml = String::from_utf8(r.body).expect("utf-8");
    assert!(
        xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>req-2</RequestId><HostId>kms.example</HostId>"
        ),
        "{xml}"
    );
    assert_eq!(handled.audit.action, None);
    assert!(!h.dialect.recognises(&HttpRequest { path: "/v1", ..req }));
}
