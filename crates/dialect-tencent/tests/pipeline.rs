//! The dialect through `coffer_api::handle`: which requests it claims, what the audit entry
//! learns, the one shape of every answer, and the API a request's version picks.

use coffer_api::{Action, Dialect, HttpRequest};
use coffer_core::RegionMap;
use coffer_dialect_tencent::{Tencent, API_VERSION, KMS_VERSION};
use serde_json::{json, Value};

const AK: &str = "AKIDpipeline";
const SK: &str = "pipeline-secret-key";

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

fn headers(action: &str, version: &str, body: &str, at: i64) -> Vec<(String, String)> {
    coffer_auth::tencent::tc3_post_json_headers(
        action,
        version,
        Some("ap-guangzhou"),
        "localhost:7080",
        body.as_bytes(),
        AK,
        SK.as_bytes(),
        at,
    )
}

fn post<'a>(headers: &'a [(String, String)], body: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        method: "POST",
        path: "/",
        raw_query: "",
        headers,
        body: body.as_bytes(),
        request_id: "rid-1",
        peer: None,
    }
}

fn response(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).expect("json");
    v["Response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_claims_tc3_and_legacy_requests_at_the_root_only() {
    let h = harness().await;
    let tc3 = vec![("x-tc-action".to_string(), "ListSecrets".to_string())];
    assert!(h.dialect.recognises(&post(&tc3, "")));
    let elsewhere = HttpRequest {
        path: "/v1/secrets",
        ..post(&tc3, "")
    };
    assert!(!h.dialect.recognises(&elsewhere));
    for version in [API_VERSION, KMS_VERSION] {
        let query = format!("Action=ListSecrets&Version={version}");
        let legacy = HttpRequest {
            raw_query: &query,
            ..post(&[], "")
        };
        assert!(h.dialect.recognises(&legacy), "{version}");
    }
    let alibaba = HttpRequest {
        raw_query: "Action=ListSecrets&Version=2016-01-20",
        ..post(&[], "")
    };
    assert!(!h.dialect.recognises(&alibaba));
    let form_body = format!("Action=ListSecrets&Version={API_VERSION}");
    let form = vec![(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    assert!(h.dialect.recognises(&post(&form, &form_body)));
    // The same fields in a body that is not a form are not looked at.
    assert!(!h.dialect.recognises(&post(&[], &form_body)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_audit_facts() {
    let h = harness().await;
    let body = json!({"SecretName": "s1", "VersionId": "SSM_Current"}).to_string();
    let hs = headers("GetSecretValue", API_VERSION, &body, h.now);
    let out = coffer_api::handle(&h.dialect, &coffer_api::AdmitAll, &post(&hs, &body)).await;
    assert_eq!(out.reply.status, 200);
    assert_eq!(out.reply.content_type, "application/json");
    assert!(out.reply.headers.is_empty());
    let r = response(&out.reply.body);
    assert_eq!(r["Error"]["Code"], "ResourceNotFound", "{r}");
    assert_eq!(r["RequestId"], "rid-1");
    let a = &out.audit;
    assert_eq!(a.operation, "GetSecretValue");
    assert_eq!(a.access_key_id.as_deref(), Some(AK));
    assert!(a.account.is_some());
    assert_eq!(a.action, Some(Action::SecretsGetValue));
    assert!(
        a.resource
            .as_deref()
            .is_some_and(|r| r.ends_with(":secret/s1")),
        "{a:?}"
    );
    assert_eq!(a.result, "ResourceNotFound");

    // Answers the same to everybody: no action, no resource.
    let hs = headers("GetRegions", API_VERSION, "{}", h.now);
    let out = coffer_api::handle(&h.dialect, &coffer_api::AdmitAll, &post(&hs, "{}")).await;
    let r = response(&out.reply.body);
    assert_eq!(r["Regions"], json!(["ap-guangzhou"]), "{r}");
    assert_eq!((out.audit.action, out.audit.resource), (None, None));
    assert_eq!(out.audit.result, "OK");

    // A bad signature is refused before anything about the operation is known.
    let hs = coffer_auth::tencent::tc3_post_json_headers(
        "GetSecretValue",
        API_VERSION,
        None,
        "localhost:7080",
        body.as_bytes(),
        AK,
        b"not-the-secret-key",
        h.now,
    );
    let out = coffer_api::handle(&h.dialect, &coffer_api::AdmitAll, &post(&hs, &body)).await;
    assert_eq!(out.audit.result, "AuthFailure.SignatureFailure");
    assert_eq!(out.audit.operation, "GetSecretValue");
    assert_eq!((out.audit.account, out.audit.action), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_picks_ssm_or_kms_and_the_scope_must_agree() {
    let h = harness().await;
    // Each call signed at its own second: calls that agreed in parameters and second would
    // share one signature, and a signature is not used for another version.
    let second = std::sync::atomic::AtomicI64::new(h.now);
    let call = |action: &'static str, version: &'static str, signed_for: &'static str| {
        let at = second.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let hs: Vec<(String, String)> = headers(action, signed_for, "{}", at)
            .into_iter()
            .map(|(k, v)| {
                // The version header is not signed, so it can disagree with the scope.
                if k == "x-tc-version" {
                    (k, version.to_string())
                } else {
                    (k, v)
                }
            })
            .collect();
        let dialect = &h.dialect;
        async move {
            let out = coffer_api::handle(dialect, &coffer_api::AdmitAll, &post(&hs, "{}")).await;
            (response(&out.reply.body), out.audit)
        }
    };
    let (r, audit) = call("GetServiceStatus", KMS_VERSION, KMS_VERSION).await;
    assert_eq!(r["InvalidType"], 0, "{r}");
    assert_eq!(audit.action, None);
    let (r, audit) = call("GetServiceStatus", API_VERSION, API_VERSION).await;
    assert_eq!(r["InvalidType"], 1, "{r}");
    assert_eq!(audit.action, Some(Action::SecretsList));
    let (r, _) = call("GetServiceStatus", KMS_VERSION, API_VERSION).await;
    assert_eq!(r["Error"]["Code"], "AuthFailure.SignatureFailure", "{r}");
    let (r, _) = call("GetServiceStatus", "2020-01-01", API_VERSION).await;
    assert_eq!(r["Error"]["Code"], "NoSuchVersion", "{r}");
    let (r, _) = call("CreateSSHKeyPairSecret", API_VERSION, API_VERSION).await;
    assert_eq!(r["Error"]["Code"], "UnsupportedOperation", "{r}");
    let (r, _) = call("GetRegions", KMS_VERSION, KMS_VERSION).await;
    assert_eq!(r["Error"]["Code"], "InvalidAction", "{r}");
}
