//! Hostile input in process: what Huawei's API gateway refuses before any signature is looked
//! at (paths and queries that are not UTF-8), and requests refused for their shape, in the CSMS
//! and KMS error bodies.

use coffer_api::{HttpRequest, Refusal};
use coffer_dialect_huawei::Huawei;
use serde_json::Value;

const AK: &str = "hostile-ak";
const SK: &str = "hostile-sk";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

async fn dialect() -> (tempfile::TempDir, Huawei) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, _clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    (dir, Huawei::new(service))
}

fn req<'a>(method: &'a str, path: &'a str, query: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        method,
        path,
        raw_query: query,
        headers: &[],
        body: b"",
        request_id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        peer: None,
    }
}

fn body(b: &[u8]) -> Value {
    serde_json::from_slice(b).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_undecodable_requests_before_the_signature() {
    let (_dir, d) = dialect().await;
    let secrets = format!("/v1/{PROJECT}/secrets");
    let bad_name = format!("/v1/{PROJECT}/secrets/%FF");
    let kms = format!("/v1.0/{PROJECT}/kms/list-keys");
    for (method, path, query, status, code) in [
        ("GET", secrets.as_str(), "limit=%FF", 400, "APIG.0201"),
        ("GET", secrets.as_str(), "%E2%28=1", 400, "APIG.0201"),
        ("GET", secrets.as_str(), "a=1&b=%C3", 400, "APIG.0201"),
        ("GET", bad_name.as_str(), "", 400, "APIG.0201"),
        ("POST", kms.as_str(), "x=%80", 400, "APIG.0201"),
        // Decodable and unsigned: the signature is what is wrong.
        (
            "GET",
            secrets.as_str(),
            "limit=10&name=%E4%B8%AD",
            401,
            "APIGW.0301",
        ),
    ] {
        let out = coffer_api::handle(&d, &coffer_api::AdmitAll, &req(method, path, query)).await;
        assert_eq!(out.reply.status, status, "{method} {path}?{query}");
        let b = body(&out.reply.body);
        let e = if path.starts_with("/v1.0/") {
            &b["error"]
        } else {
            &b
        };
        assert_eq!(e["error_code"], code, "{method} {path}?{query}: {b}");
        assert_eq!(e["request_id"], "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
        assert_eq!(out.audit.result, code);
        assert!(out.audit.operation.starts_with(method));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_for_their_shape_get_the_gateways_statuses() {
    let (_dir, d) = dialect().await;
    let csms = format!("/v1/{PROJECT}/secrets");
    let kms = format!("/v1.0/{PROJECT}/kms/create-key");
    for path in [csms.as_str(), kms.as_str()] {
        for (refusal, status, code) in [
            (Refusal::BodyTooLarge { limit: 1 }, 413, "APIG.0201"),
            (
                Refusal::UriTooLong {
                    length: 9,
                    limit: 1,
                },
                414,
                "APIG.0201",
            ),
            (
                Refusal::TooManyHeaders { count: 9, limit: 1 },
                494,
                "APIG.0201",
            ),
            (Refusal::IncompleteBody, 400, "CSMS.0004"),
        ] {
            let out = coffer_api::refuse(&d, &req("POST", path, ""), refusal);
            assert_eq!(out.reply.status, status, "{path} {refusal:?}");
            let b = body(&out.reply.body);
            let e = if path == kms { &b["error"] } else { &b };
            assert_eq!(e["error_code"], code, "{b}");
            assert!(e["error_msg"].as_str().is_some_and(|m| !m.is_empty()));
            assert_eq!(
                out.reply.headers,
                vec![(
                    "x-request-id",
                    "0f1e2d3c4b5a69788796a5b4c3d2e1f0".to_string()
                )]
            );
        }
    }
}
