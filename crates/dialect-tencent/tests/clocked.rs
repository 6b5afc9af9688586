//! The Tencent dialect in process with a manual clock: the 300-second window, unknown and
//! disabled SecretIds, tokens, the state machine and purge at the end of the window.

use std::sync::Arc;

use coffer_api::HttpRequest;
use coffer_core::{ManualClock, RegionMap, Service};
use coffer_dialect_tencent::Tencent;
use serde_json::{json, Value};

const AK: &str = "AKIDclocked";
const SK: &str = "clocked-secret-key";

struct Harness {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    service: Arc<Service>,
    dialect: Tencent,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    let dialect = Tencent::new(service.clone(), RegionMap::default());
    Harness {
        _dir: dir,
        clock,
        service,
        dialect,
    }
}

impl Harness {
    fn now(&self) -> i64 {
        self.service.now().as_secs()
    }

    async fn call_signed(
        &self,
        action: &str,
        body: Value,
        at: i64,
        extra: &[(&str, &str)],
    ) -> Value {
        let body = body.to_string();
        let mut headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            "2019-09-23",
            Some("ap-guangzhou"),
            "localhost:7080",
            body.as_bytes(),
            AK,
            SK.as_bytes(),
            at,
        );
        for (k, v) in extra {
            headers.push((k.to_string(), v.to_string()));
        }
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let req = HttpRequest {
            method: "POST",
            path: "/",
            raw_query: "",
            headers: &headers,
            body: body.as_bytes(),
            request_id: "req",
            // One client: with the clock frozen its calls with equal parameters share a
            // signature, which only the same client address may use for another action.
            peer: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 50_000))),
        };
        let handled = coffer_api::handle(&self.dialect, &coffer_api::AdmitAll, &req).await;
        let v: Value = serde_json::from_slice(&handled.reply.body).expect("json");
        v["Response"].clone()
    }

    async fn call(&self, action: &str, body: Value) -> Value {
        self.call_signed(action, body, self.now(), &[]).await
    }
}

fn code(r: &Value) -> &str {
    r["Error"]["Code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_window_is_five_minutes() {
    let h = harness().await;
    let now = h.now();
    for (offset, ok) in [(-300, true), (300, true), (-301, false), (301, false)] {
        let r = h
            .call_signed("GetServiceStatus", json!({}), now + offset, &[])
            .await;
        if ok {
            assert_eq!(r["ServiceEnabled"], true, "offset {offset}: {r}");
        } else {
            assert_eq!(code(&r), "AuthFailure.SignatureExpire", "offset {offset}");
        }
        assert!(r["RequestId"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_keys_and_tokens_are_refused() {
    let h = harness().await;
    let r = h
        .call_signed(
            "GetServiceStatus",
            json!({}),
            h.now(),
            &[("X-TC-Token", "tok")],
        )
        .await;
    assert_eq!(code(&r), "AuthFailure.TokenFailure");
    h.service
        .set_access_key_enabled(AK, false)
        .await
        .expect("disable");
    let r = h.call("GetServiceStatus", json!({})).await;
    assert_eq!(code(&r), "AuthFailure.SecretIdNotFound");
    h.service
        .set_access_key_enabled(AK, true)
        .await
        .expect("enable");
    assert_eq!(
        h.call("GetServiceStatus", json!({})).await["InvalidType"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_and_purge() {
    let h = harness().await;
    let r = h
        .call(
            "CreateSecret",
            json!({"SecretName": "s1", "SecretString": "one"}),
        )
        .await;
    assert_eq!(r["VersionId"], "SSM_Current", "{r}");
    // Enabled secrets cannot be deleted.
    let r = h
        .call(
            "DeleteSecret",
            json!({"SecretName": "s1", "RecoveryWindowInDays": 3}),
        )
        .await;
    assert_eq!(code(&r), "OperationDenied");
    h.call("DisableSecret", json!({"SecretName": "s1"})).await;
    let r = h
        .call(
            "GetSecretValue",
            json!({"SecretName": "s1", "VersionId": "SSM_Current"}),
        )
        .await;
    assert_eq!(code(&r), "ResourceUnavailable.ResourceDisabled");
    let r = h
        .call(
            "DeleteSecret",
            json!({"SecretName": "s1", "RecoveryWindowInDays": 3}),
        )
        .await;
    assert_eq!(r["DeleteTime"], h.now() + 3 * 86_400, "{r}");
    let r = h
        .call(
            "DeleteSecret",
            json!({"SecretName": "s1", "RecoveryWindowInDays": 3}),
        )
        .await;
    assert_eq!(code(&r), "OperationDenied");
    let r = h.call("EnableSecret", json!({"SecretName": "s1"})).await;
    assert_eq!(code(&r), "ResourceUnavailable.ResourcePendingDeleted");
    // Restore lands in Disabled.
    h.call("RestoreSecret", json!({"SecretName": "s1"})).await;
    let r = h.call("DescribeSecret", json!({"SecretName": "s1"})).await;
    assert_eq!(
        (r["Status"].as_str(), r["DeleteTime"].as_i64()),
        (Some("Disabled"), Some(0))
    );
    // Schedule again and let the window run out.
    h.call(
        "DeleteSecret",
        json!({"SecretName": "s1", "RecoveryWindowInDays": 1}),
    )
    .await;
    h.clock.advance_millis(86_400_000 - 1000);
    assert!(h.service.purge_due(10).await.expect("purge").is_empty());
    h.clock.advance_millis(1000);
    assert_eq!(h.service.purge_due(10).await.expect("purge").len(), 1);
    let r = h.call("DescribeSecret", json!({"SecretName": "s1"})).await;
    assert_eq!(code(&r), "ResourceNotFound");
}
