//! The dialect through `coffer_api::handle` on a real service: the reply the server sends
//! (status, JSON body, `X-Request-Id`), what the audit entry learns, tag routes that address a
//! secret by id, and the errors of routes that do not exist.

use std::sync::Arc;

use coffer_api::{Action, Dialect, Handled, HttpRequest};
use coffer_core::{Scope, Service};
use coffer_dialect_huawei::Huawei;
use serde_json::{json, Value};

const AK: &str = "HWPIPELINEAK";
const SK: &str = "pipeline-secret-key";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const REQUEST_ID: &str = "6f1c2e4a-8b3d-4f5e-9a7b-1c2d3e4f5a6b";
const HUAWEI_ID: &str = "6f1c2e4a8b3d4f5e9a7b1c2d3e4f5a6b";

struct Harness {
    _dir: tempfile::TempDir,
    service: Arc<Service>,
    dialect: Huawei,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, _clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    let account = service.access_key(AK).await.expect("key").account;
    let scope = Scope {
        account,
        region: "cn-north-4".into(),
    };
    service
        .ensure_project(&scope, Some(PROJECT))
        .await
        .expect("project");
    Harness {
        _dir: dir,
        dialect: Huawei::new(service.clone()),
        service,
    }
}

impl Harness {
    /// One signed request; `path` is the wire path.
    async fn send(&self, method: &str, path: &str, body: &str) -> Handled {
        let headers: Vec<(String, String)> = coffer_auth::huawei::request_headers(
            method,
            "localhost:7080",
            path,
            "",
            body.as_bytes(),
            Some(PROJECT),
            AK,
            SK.as_bytes(),
            self.service.now().as_secs(),
        )
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
        let req = HttpRequest {
            method,
            path,
            raw_query: "",
            headers: &headers,
            body: body.as_bytes(),
            request_id: REQUEST_ID,
            peer: None,
        };
        assert!(self.dialect.recognises(&req));
        coffer_api::handle(&self.dialect, &coffer_api::AdmitAll, &req).await
    }
}

fn json_of(h: &Handled) -> Value {
    serde_json::from_slice(&h.reply.body).expect("json body")
}

fn csms(rest: &str) -> String {
    format!("/v1/{PROJECT}/{rest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_the_request_id_in_the_header_and_the_body() {
    let h = harness().await;
    let created = h
        .send(
            "POST",
            &csms("secrets"),
            &json!({"name": "db-pass", "secret_string": "s3cret"}).to_string(),
        )
        .await;
    assert_eq!(created.reply.status, 200, "{:?}", json_of(&created));
    assert_eq!(created.reply.content_type, "application/json");
    assert_eq!(
        created.reply.headers,
        vec![("x-request-id", HUAWEI_ID.to_string())]
    );
    let body = json_of(&created);
    assert_eq!(body["request_id"], HUAWEI_ID);
    assert_eq!(body["secret"]["name"], "db-pass");
    assert_eq!(created.audit.operation, "POST /v1/{project_id}/secrets");
    assert_eq!(created.audit.access_key_id.as_deref(), Some(AK));
    assert_eq!(created.audit.action, Some(Action::SecretsCreate));
    assert!(created
        .audit
        .resource
        .as_deref()
        .is_some_and(|r| r.ends_with(":secret/db-pass")));
    assert_eq!(created.audit.result, "OK");

    // An immediate delete answers 200 with no body at all.
    let deleted = h.send("DELETE", &csms("secrets/db-pass"), "").await;
    assert_eq!(deleted.reply.status, 200);
    assert!(deleted.reply.body.is_empty());
    assert_eq!(deleted.reply.content_type, "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_routes_judge_and_act_on_the_secret_their_id_names() {
    let h = harness().await;
    let created = h
        .send(
            "POST",
            &csms("secrets"),
            &json!({"name": "tagged", "secret_string": "x"}).to_string(),
        )
        .await;
    let id = json_of(&created)["secret"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let tag = h
        .send(
            "POST",
            &csms(&format!("csms/{id}/tags")),
            &json!({"tag": {"key": "team", "value": "red"}}).to_string(),
        )
        .await;
    assert_eq!(tag.reply.status, 204, "{:?}", tag.reply);
    assert!(tag.reply.body.is_empty());
    assert_eq!(tag.audit.action, Some(Action::SecretsTag));
    assert!(tag
        .audit
        .resource
        .as_deref()
        .is_some_and(|r| r.ends_with(":secret/tagged")));
    assert_eq!(
        tag.audit.operation,
        format!("POST /v1/{{project_id}}/csms/{id}/tags")
    );
    let listed = h.send("GET", &csms(&format!("csms/{id}/tags")), "").await;
    assert_eq!(listed.reply.status, 200);
    assert_eq!(
        json_of(&listed)["tags"],
        json!([{"key": "team", "value": "red"}])
    );
    assert_eq!(listed.audit.action, Some(Action::SecretsDescribe));

    // An id that names no secret is judged as a secret of that name, then not found.
    let stranger = "00000000-0000-4000-8000-000000000000";
    let missing = h
        .send("GET", &csms(&format!("csms/{stranger}/tags")), "")
        .await;
    assert_eq!(missing.reply.status, 404);
    assert_eq!(json_of(&missing)["error_code"], "CSMS.0005");
    assert!(missing
        .audit
        .resource
        .as_deref()
        .is_some_and(|r| r.ends_with(&format!(":secret/{stranger}"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_refused_in_their_api_s_shape() {
    let h = harness().await;
    let csms_route = h.send("PATCH", &csms("secrets/x"), "").await;
    assert_eq!(csms_route.reply.status, 400);
    assert_eq!(
        json_of(&csms_route),
        json!({
            "error_code": "CSMS.0003",
            "error_msg": "The request is invalid: no operation PATCH /v1/{project_id}/secrets/x",
            "request_id": HUAWEI_ID,
        })
    );
    assert_eq!(csms_route.audit.action, None);
    assert_eq!(csms_route.audit.result, "CSMS.0003");

    let kms_route = h
        .send("POST", &format!("/v1.0/{PROJECT}/kms/no-such-thing"), "")
        .await;
    assert_eq!(kms_route.reply.status, 400);
    assert_eq!(
        json_of(&kms_route),
        json!({"error": {
            "error_code": "KMS.0201",
            "error_msg": "There is no KMS operation POST /v1.0/{project_id}/kms/no-such-thing.",
            "request_id": HUAWEI_ID,
        }})
    );
    assert_eq!(
        kms_route.reply.headers,
        vec![("x-request-id", HUAWEI_ID.to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_before_anything_is_read() {
    let h = harness().await;
    let path = csms("secrets");
    let headers: Vec<(String, String)> = coffer_auth::huawei::request_headers(
        "GET",
        "localhost:7080",
        &path,
        "",
        b"",
        Some(PROJECT),
        AK,
        b"not-the-secret",
        h.service.now().as_secs(),
    )
    .into_iter()
    .map(|(k, v)| (k.to_ascii_lowercase(), v))
    .collect();
    let req = HttpRequest {
        method: "GET",
        path: &path,
        raw_query: "",
        headers: &headers,
        body: b"",
        request_id: REQUEST_ID,
        peer: None,
    };
    let refused = coffer_api::handle(&h.dialect, &coffer_api::AdmitAll, &req).await;
    assert_eq!(refused.reply.status, 401);
    assert_eq!(json_of(&refused)["error_code"], "APIGW.0301");
    assert_eq!(refused.audit.operation, "GET /v1/{project_id}/secrets");
    assert_eq!(refused.audit.access_key_id.as_deref(), Some(AK));
    assert_eq!(refused.audit.account, None);
}
