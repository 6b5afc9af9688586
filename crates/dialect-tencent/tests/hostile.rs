//! Hostile input in process: wrongly typed JSON parameters are refused with
//! `InvalidParameter` whatever the operation, methods other than GET and POST with
//! `UnsupportedProtocol`, and requests refused for their shape with `RequestSizeLimitExceeded`,
//! all inside Tencent's HTTP 200 envelope.

use coffer_api::{HttpRequest, Refusal};
use coffer_core::RegionMap;
use coffer_dialect_tencent::{Tencent, API_VERSION, KMS_VERSION};
use serde_json::{json, Value};

const AK: &str = "AKIDhostile";
const SK: &str = "hostile-secret-key";

struct Harness {
    _dir: tempfile::TempDir,
    dialect: Tencent,
    now: i64,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, _clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    let now = service.now().as_secs();
    Harness {
        _dir: dir,
        dialect: Tencent::new(service, RegionMap::default()),
        now,
    }
}

impl Harness {
    /// A TC3 POST of `body` (typed JSON), sent with `method`; the `Response` object.
    async fn call_as(&self, method: &str, action: &str, version: &str, body: &Value) -> Value {
        let body = body.to_string();
        let headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            version,
            Some("ap-guangzhou"),
            "localhost:7080",
            body.as_bytes(),
            AK,
            SK.as_bytes(),
            self.now,
        );
        let req = HttpRequest {
            method,
            path: "/",
            raw_query: "",
            headers: &headers,
            body: body.as_bytes(),
            request_id: "rid-h",
            peer: None,
        };
        let out = coffer_api::handle(&self.dialect, &coffer_api::AdmitAll, &req).await;
        assert_eq!(
            out.reply.status, 200,
            "Tencent answers every error with 200"
        );
        let v: Value = serde_json::from_slice(&out.reply.body).expect("json");
        v["Response"].clone()
    }

    async fn call(&self, action: &str, body: Value) -> Value {
        self.call_as("POST", action, API_VERSION, &body).await
    }
}

fn error(r: &Value) -> (&str, &str) {
    (
        r["Error"]["Code"].as_str().unwrap_or("OK"),
        r["Error"]["Message"].as_str().unwrap_or(""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_typed_json_is_refused_for_every_operation() {
    let h = harness().await;
    let r = h
        .call(
            "CreateSecret",
            json!({"SecretName": "typed", "SecretString": "v"}),
        )
        .await;
    assert_eq!(error(&r).0, "OK", "{r}");
    // Each case: an operation and a body with one field of the wrong JSON type.
    let cases = [
        ("ListSecrets", json!({"Limit": "10"}), "Limit"),
        ("ListSecrets", json!({"Offset": 1.5}), "Offset"),
        ("ListSecrets", json!({"OrderType": true}), "OrderType"),
        (
            "ListSecrets",
            json!({"SearchSecretName": 5}),
            "SearchSecretName",
        ),
        (
            "ListSecrets",
            json!({"TagFilters": {"TagKey": "k"}}),
            "TagFilters",
        ),
        ("DescribeSecret", json!({"SecretName": 7}), "SecretName"),
        (
            "GetSecretValue",
            json!({"SecretName": "typed", "VersionId": ["v"]}),
            "VersionId",
        ),
        (
            "CreateSecret",
            json!({"SecretName": "t2", "SecretString": "v", "Tags": {"k": "v"}}),
            "Tags",
        ),
        (
            "CreateSecret",
            json!({"SecretName": "t3", "SecretString": 12}),
            "SecretString",
        ),
        (
            "CreateSecret",
            json!({"SecretName": "t4", "SecretString": "v", "SecretType": "0"}),
            "SecretType",
        ),
        (
            "UpdateDescription",
            json!({"SecretName": "typed", "Description": false}),
            "Description",
        ),
        (
            "DeleteSecret",
            json!({"SecretName": "typed", "RecoveryWindowInDays": "7"}),
            "RecoveryWindowInDays",
        ),
        (
            "DeleteSecret",
            json!({"SecretName": "typed", "CleanSSHKey": "true"}),
            "CleanSSHKey",
        ),
        (
            "UpdateRotationStatus",
            json!({"SecretName": "typed", "EnableRotation": "true"}),
            "EnableRotation",
        ),
    ];
    for (action, body, field) in cases {
        let r = h.call(action, body.clone()).await;
        let (code, message) = error(&r);
        assert_eq!(code, "InvalidParameter", "{action} {body}: {r}");
        assert!(message.contains(field), "{action}: {message}");
        assert_eq!(r["RequestId"], "rid-h");
    }
    // KMS shares the parameter layer.
    let r = h
        .call_as("POST", "ListKeys", KMS_VERSION, &json!({"Limit": "5"}))
        .await;
    assert_eq!(error(&r).0, "InvalidParameter", "{r}");
    let r = h
        .call_as(
            "POST",
            "DescribeKeys",
            KMS_VERSION,
            &json!({"KeyIds": ["k", 1]}),
        )
        .await;
    assert_eq!(error(&r).0, "InvalidParameter", "{r}");
    // The same fields with their declared types are accepted, and nothing was changed above.
    let r = h
        .call("ListSecrets", json!({"Limit": 10, "Offset": 0}))
        .await;
    assert_eq!(r["TotalCount"], 1, "{r}");
    let r = h
        .call(
            "GetSecretValue",
            json!({"SecretName": "typed", "VersionId": "SSM_Current"}),
        )
        .await;
    assert_eq!(r["SecretString"], "v", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_other_than_get_and_post_are_refused_before_the_signature() {
    let h = harness().await;
    for method in ["PUT", "DELETE", "PATCH"] {
        let r = h
            .call_as(method, "ListSecrets", API_VERSION, &json!({}))
            .await;
        let (code, message) = error(&r);
        assert_eq!(code, "UnsupportedProtocol", "{method}: {r}");
        assert!(message.contains("GET and POST"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_for_their_shape_keep_the_envelope() {
    let h = harness().await;
    let headers = vec![("x-tc-action".to_string(), "CreateSecret".to_string())];
    let req = HttpRequest {
        method: "POST",
        path: "/",
        raw_query: "",
        headers: &headers,
        body: b"",
        request_id: "rid-r",
        peer: None,
    };
    for (refusal, code) in [
        (
            Refusal::BodyTooLarge { limit: 1 },
            "RequestSizeLimitExceeded",
        ),
        (
            Refusal::UriTooLong {
                length: 9,
                limit: 1,
            },
            "RequestSizeLimitExceeded",
        ),
        (
            Refusal::TooManyHeaders { count: 9, limit: 1 },
            "RequestSizeLimitExceeded",
        ),
        (Refusal::IncompleteBody, "InvalidParameter"),
    ] {
        let out = coffer_api::refuse(&h.dialect, &req, refusal);
        assert_eq!(out.reply.status, 200);
        assert_eq!(out.reply.content_type, "application/json");
        let v: Value = serde_json::from_slice(&out.reply.body).expect("json");
        assert_eq!(v["Response"]["Error"]["Code"], code);
        assert_eq!(v["Response"]["RequestId"], "rid-r");
        assert_eq!(out.audit.result, code);
    }
}
