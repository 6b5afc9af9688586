//! Hostile input in process: `Format=XML` answers are always well-formed XML (checked by an XML
//! parser and against XML 1.0's character set), texts XML cannot carry get an error in XML
//! instead, methods other than GET and POST are refused, and requests refused for their shape
//! get Alibaba's codes.

use std::sync::Arc;

use coffer_api::{Dialect, HttpRequest, Refusal, Reply};
use coffer_core::{RegionMap, Service};
use coffer_dialect_alibaba::Alibaba;
use quick_xml::events::Event;

const AK: &str = "xml-ak";
const SK: &str = "xml-sk";

struct Harness {
    _dir: tempfile::TempDir,
    service: Arc<Service>,
    dialect: Alibaba,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (service, _clock) = coffer_store::testkit::clocked_service(dir.path(), AK, SK)
        .await
        .expect("service");
    let dialect = Alibaba::new(service.clone(), RegionMap::default());
    Harness {
        _dir: dir,
        service,
        dialect,
    }
}

impl Harness {
    /// A signed RPC v1 request, every parameter in the query, in `format` (`JSON` or `XML`).
    async fn reply_in(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, &str)],
        format: &str,
    ) -> Reply {
        let timestamp = self.service.now().to_iso8601_seconds();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.extend([
            ("Action", action),
            ("Version", "2016-01-20"),
            ("Format", format),
            ("AccessKeyId", AK),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ]);
        let signature =
            coffer_auth::alibaba::sign_rpc_v1(method, &all, SK.as_bytes()).expect("sign");
        all.push(("Signature", &signature));
        let query = coffer_auth::encoding::encode_query(&all);
        let headers = vec![("host".to_string(), "localhost".to_string())];
        let req = HttpRequest {
            method,
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

    async fn reply(&self, method: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        self.reply_in(method, action, params, "JSON").await
    }

    async fn xml(&self, action: &str, params: &[(&str, &str)]) -> (u16, Xml) {
        let r = self.reply_in("POST", action, params, "XML").await;
        assert_eq!(r.content_type, "text/xml;charset=utf-8");
        (r.status, parse_xml(&r.body))
    }

    async fn json(&self, action: &str, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let r = self.reply("POST", action, params).await;
        (r.status, serde_json::from_slice(&r.body).expect("json"))
    }
}

/// An XML document's elements and their texts, as a parser reads them.
struct Xml(Vec<(String, String)>);

impl Xml {
    fn text(&self, element: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == element)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `body` as XML 1.0: every character is one XML allows, and a parser reads it to the
/// end, every element closed. Panics otherwise.
fn parse_xml(body: &[u8]) -> Xml {
    let text = std::str::from_utf8(body).expect("utf-8");
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    if let Some(c) = text.chars().find(|c| {
        !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }) {
        panic!("U+{:04X} is not an XML 1.0 character: {text:?}", c as u32);
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = vec![];
    let mut open: Vec<String> = vec![];
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("{e}: {text}"))
        {
            Event::Start(e) => open.push(String::from_utf8_lossy(e.name().as_ref()).into()),
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                let value = t.unescape().unwrap_or_else(|e| panic!("{e}: {text}"));
                let name = open.last().cloned().unwrap_or_default();
                out.push((name, value.into_owned()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed {open:?}: {text}");
    Xml(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_answers_keep_markup_and_carriage_returns_exactly() {
    let h = harness().await;
    let value = "line one\r\nline two\rthree <&> ]]> \"quoted\" 'single' \t tab é 中 😀";
    let (status, _) = h
        .json(
            "CreateSecret",
            &[
                ("SecretName", "xml-exact"),
                ("VersionId", "v1"),
                ("SecretData", value),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (status, xml) = h
        .xml("GetSecretValue", &[("SecretName", "xml-exact")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(xml.text("SecretData"), Some(value));
    // A conforming XML parser turns a literal CR (and CR LF) into LF; the value comes back
    // unchanged only because CR is written as a character reference.
    let raw = h
        .reply_in(
            "POST",
            "GetSecretValue",
            &[("SecretName", "xml-exact")],
            "XML",
        )
        .await;
    let text = String::from_utf8(raw.body).expect("utf-8");
    assert!(
        text.contains("line one&#13;\nline two&#13;three &lt;&amp;&gt; ]]&gt;"),
        "{text}"
    );
    assert!(!text.contains('\r'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_xml_cannot_carry_is_an_xml_error_and_json_still_carries_it() {
    let h = harness().await;
    let value = "before\u{1}\u{1b}[31mafter";
    let (status, body) = h
        .json(
            "CreateSecret",
            &[
                ("SecretName", "xml-ctl"),
                ("VersionId", "v1"),
                ("SecretData", value),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, xml) = h.xml("GetSecretValue", &[("SecretName", "xml-ctl")]).await;
    assert_eq!(status, 400);
    assert_eq!(xml.text("Code"), Some("InvalidParameter"));
    let message = xml.text("Message").expect("message");
    assert!(
        message.contains("\"Format\"")
            && message.contains("SecretData")
            && message.contains("U+0001"),
        "{message}"
    );
    assert!(!message.contains('\u{1}'), "the value itself is not echoed");
    let (status, body) = h.json("GetSecretValue", &[("SecretName", "xml-ctl")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["SecretData"], value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_description_xml_cannot_carry_is_refused_before_an_xml_request_runs() {
    let h = harness().await;
    // Asked for in XML: refused before anything is created, since the answer could not echo it.
    let (status, xml) = h
        .xml(
            "CreateSecret",
            &[
                ("SecretName", "xml-desc"),
                ("VersionId", "v1"),
                ("SecretData", "v"),
                ("Description", "bell\u{7}"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(xml.text("Code"), Some("InvalidParameter"));
    assert!(xml
        .text("Message")
        .is_some_and(|m| m.contains("Description")));
    let (status, _) = h
        .json("DescribeSecret", &[("SecretName", "xml-desc")])
        .await;
    assert_eq!(status, 404, "nothing was created");

    // In JSON it is stored (Alibaba publishes no rule against it); an XML read of it is then
    // an error naming the field, and a JSON read shows it.
    let (status, _) = h
        .json(
            "CreateSecret",
            &[
                ("SecretName", "xml-desc"),
                ("VersionId", "v1"),
                ("SecretData", "v"),
                ("Description", "bell\u{7}"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (status, xml) = h.xml("DescribeSecret", &[("SecretName", "xml-desc")]).await;
    assert_eq!(status, 400);
    assert!(xml
        .text("Message")
        .is_some_and(|m| m.contains("Description")));
    let (status, xml) = h.xml("ListSecrets", &[]).await;
    assert_eq!(status, 200, "descriptions are not listed");
    assert_eq!(xml.text("SecretName"), Some("xml-desc"));
    let (_, body) = h
        .json("DescribeSecret", &[("SecretName", "xml-desc")])
        .await;
    assert_eq!(body["Description"], "bell\u{7}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_tags_with_control_characters_are_refused_on_input() {
    let h = harness().await;
    for (param, value) in [
        ("SecretName", "bad\u{1}name"),
        ("Tags", "[{\"TagKey\":\"k\",\"TagValue\":\"v\\u0001\"}]"),
        ("VersionId", "v\u{1}"),
    ] {
        let mut params = vec![
            ("SecretName", "ctl-ok"),
            ("VersionId", "v1"),
            ("SecretData", "v"),
        ];
        params.retain(|(k, _)| *k != param);
        params.push((param, value));
        let (status, body) = h.json("CreateSecret", &params).await;
        assert_eq!(status, 400, "{param}: {body}");
        assert_eq!(body["Code"], "InvalidParameter", "{param}");
        assert!(
            body["Message"].as_str().is_some_and(|m| m.contains(param)),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_operations_take_get_and_post_only() {
    let h = harness().await;
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let (status, body) = {
            let r = h.reply(method, "ListSecrets", &[]).await;
            (
                r.status,
                serde_json::from_slice::<serde_json::Value>(&r.body).expect("json"),
            )
        };
        assert_eq!(status, 403, "{method}");
        assert_eq!(body["Code"], "UnsupportedHTTPMethod", "{method}");
    }
    for method in ["GET", "POST"] {
        assert_eq!(
            h.reply(method, "ListSecrets", &[]).await.status,
            200,
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_for_their_shape_get_alibabas_codes_in_either_format() {
    let h = harness().await;
    let headers = vec![("host".to_string(), "kms.example".to_string())];
    for (query, xml) in [
        ("Action=CreateSecret", false),
        ("Action=CreateSecret&Format=XML", true),
    ] {
        let req = HttpRequest {
            method: "POST",
            path: "/",
            raw_query: query,
            headers: &headers,
            body: b"",
            request_id: "req-9",
            peer: None,
        };
        for (refusal, status, code) in [
            (
                Refusal::BodyTooLarge { limit: 10 },
                413,
                "RequestEntityTooLarge",
            ),
            (
                Refusal::UriTooLong {
                    length: 20,
                    limit: 10,
                },
                414,
                "RequestURITooLong",
            ),
            (
                Refusal::TooManyHeaders {
                    count: 20,
                    limit: 10,
                },
                431,
                "RequestHeaderFieldsTooLarge",
            ),
            (
                Refusal::IncompleteBody,
                400,
                "ParseRequestParameterException",
            ),
        ] {
            let handled = coffer_api::refuse(&h.dialect, &req, refusal);
            assert_eq!(handled.reply.status, status);
            assert_eq!(handled.audit.result, code);
            assert_eq!(handled.audit.account, None);
            if xml {
                let doc = parse_xml(&handled.reply.body);
                assert_eq!(doc.text("Code"), Some(code));
                assert_eq!(doc.text("HostId"), Some("kms.example"));
            } else {
                let body: serde_json::Value =
                    serde_json::from_slice(&handled.reply.body).expect("json");
                assert_eq!(body["Code"], code);
                assert_eq!(body["HttpStatus"], status);
                assert_eq!(body["RequestId"], "req-9");
            }
        }
    }
    // Reading the request does not depend on the dialect being asked to recognise it first.
    assert!(h.dialect.recognises(&HttpRequest {
        method: "PUT",
        path: "/",
        raw_query: "Action=X",
        headers: &headers,
        body: b"",
        request_id: "r",
        peer: None,
    }));
}
