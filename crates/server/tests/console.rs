//! The web console fails closed, over the wire against the real binary, for every one of its
//! operations: the list comes from the console's own `OperationKind`, and the sample request of
//! each kind is an exhaustive `match`, so a new page does not compile here until it has one.
//!
//! A key of the owner's account that is not an admin and has no policy signs in (any valid
//! key may) and is then refused every page and form that reads or changes anything, and the
//! owner's secret is unchanged afterwards. Requests without a session are refused before any
//! operation runs. (The browser flows are tested in Chromium by `clients/console`.)

mod common;

use coffer_api::strum::IntoEnumIterator;
use coffer_console::OperationKind;
use common::{Server, AK, SK};

struct Http {
    agent: ureq::Agent,
    base: String,
    host: String,
}

struct Reply {
    status: u16,
    body: String,
    set_cookie: Option<String>,
    location: Option<String>,
}

impl Http {
    fn new(server: &Server) -> Self {
        Self {
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            base: server.base(),
            host: format!("127.0.0.1:{}", server.port),
        }
    }

    fn send(&self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        for (k, v) in headers {
            if k != "host" {
                req = req.set(k, v);
            }
        }
        let resp = match req.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let set_cookie = resp.header("set-cookie").map(str::to_string);
        let location = resp.header("location").map(str::to_string);
        Reply {
            status: resp.status(),
            set_cookie,
            location,
            body: resp.into_string().unwrap_or_default(),
        }
    }

    /// Signs in with SigV4 as the sign-in page's script does; returns the cookie value.
    fn sign_in(&self, ak: &str, sk: &str) -> String {
        let mut headers = vec![("host".to_string(), self.host.clone())];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        coffer_auth::sigv4::sign(
            "POST",
            "/console/session",
            "",
            &mut headers,
            b"",
            ak,
            sk.as_bytes(),
            "console",
            "coffer",
            now,
        )
        .expect("sign");
        let r = self.send("POST", "/console/session", &headers, b"");
        assert_eq!(r.status, 200, "sign-in: {}", r.body);
        // Replayed, the same signed request makes no second session.
        let again = self.send("POST", "/console/session", &headers, b"");
        assert_eq!(again.status, 401, "a replayed sign-in: {}", again.body);
        assert!(again.body.contains("SignInReplayed"));
        let cookie = r.set_cookie.expect("a session cookie");
        let value = cookie
            .strip_prefix("coffer_console=")
            .and_then(|v| v.split(';').next())
            .expect("cookie value")
            .to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        value
    }

    fn page(&self, cookie: &str, path: &str) -> Reply {
        let headers = [("cookie".to_string(), format!("coffer_console={cookie}"))];
        self.send("GET", path, &headers, b"")
    }

    fn post(&self, cookie: &str, csrf: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        let headers = [
            ("cookie".to_string(), format!("coffer_console={cookie}")),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("origin".to_string(), self.base.clone()),
        ];
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.append_pair("csrf", csrf);
        for (k, v) in form {
            body.append_pair(k, v);
        }
        self.send("POST", path, &headers, body.finish().as_bytes())
    }

    fn csrf(&self, cookie: &str) -> String {
        let page = self.page(cookie, "/console/secrets/new");
        assert_eq!(page.status, 200, "{}", page.body);
        between(&page.body, "name=\"csrf\" value=\"", "\"").expect("a csrf token")
    }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// A sample request: method, path (with query) and form.
type Sample = (&'static str, String, Vec<(&'static str, String)>);

/// The sample request of each operation.
fn sample(kind: OperationKind, admin_key: &str) -> Option<Sample> {
    use OperationKind as K;
    let s = |v: &str| v.to_string();
    let get = |p: &str| Some(("GET", s(p), vec![]));
    let post = |p: &str, f: Vec<(&'static str, String)>| Some(("POST", s(p), f));
    match kind {
        // Tested by the sign-in itself, and at the end.
        K::SignIn | K::SignOut => None,
        K::Overview => get("/console/"),
        K::NewSecretForm => get("/console/secrets/new"),
        K::ListSecrets => get("/console/secrets?name=owned"),
        K::CreateSecret => post(
            "/console/secrets/create",
            vec![("name", s("intruder")), ("value", s("v"))],
        ),
        K::ShowSecret => get("/console/secret?name=owned"),
        K::RevealValue => post("/console/secret/reveal", vec![("name", s("owned"))]),
        K::PutValue => post(
            "/console/secret/put",
            vec![("name", s("owned")), ("value", s("changed"))],
        ),
        K::MoveStage => post(
            "/console/secret/stage",
            vec![
                ("name", s("owned")),
                ("stage", s("Current")),
                ("version", s("v0")),
            ],
        ),
        K::DeleteSecret => post(
            "/console/secret/delete",
            vec![("name", s("owned")), ("days", s("7"))],
        ),
        K::RestoreSecret => post("/console/secret/restore", vec![("name", s("owned"))]),
        K::ListKeys => get("/console/keys"),
        K::SetKeyEnabled => post("/console/keys/disable", vec![("key", s("alias/none"))]),
        K::ScheduleKeyDeletion => post(
            "/console/keys/delete",
            vec![("key", s("alias/none")), ("days", s("7"))],
        ),
        K::CancelKeyDeletion => post(
            "/console/keys/cancel-delete",
            vec![("key", s("alias/none"))],
        ),
        K::ListAccessKeys => get("/console/access-keys"),
        K::CreateAccessKey => post("/console/access-keys/create", vec![("admin", s("on"))]),
        K::SetAccessKeyEnabled => post("/console/access-keys/disable", vec![("key", s(admin_key))]),
        K::DeleteAccessKey => post("/console/access-keys/delete", vec![("key", s(admin_key))]),
        K::ListPolicies => get("/console/policies"),
        K::ShowPolicy => get("/console/policy?name=p"),
        K::SavePolicy => post(
            "/console/policy/save",
            vec![("name", s("p")), ("document", s("{\"Statement\":[]}"))],
        ),
        K::Audit => get("/console/audit"),
        K::ListAccounts => get("/console/accounts"),
        K::ListDbInstances => get("/console/databases"),
    }
}

/// Pages that read nothing and so are every signed-in key's.
fn public(kind: OperationKind) -> bool {
    matches!(kind, OperationKind::Overview | OperationKind::NewSecretForm)
}

#[test]
fn every_console_operation_fails_closed_for_a_key_without_rights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let http = Http::new(&server);

    // The owner (the bootstrap admin key) makes a secret and a plain key without a policy.
    let owner = http.sign_in(AK, SK);
    let owner_csrf = http.csrf(&owner);
    let made = http.post(
        &owner,
        &owner_csrf,
        "/console/secrets/create",
        &[
            ("name", "owned"),
            ("value", "owner-value-1"),
            ("tags", "env=prod"),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    let created = http.post(&owner, &owner_csrf, "/console/access-keys/create", &[]);
    assert_eq!(created.status, 200, "{}", created.body);
    let plain_id = between(&created.body, "id=\"new-key-id\">", "<").expect("new key id");
    let plain_secret =
        between(&created.body, "id=\"new-key-secret\">", "<").expect("new key secret");
    let before = http.page(&owner, "/console/secret?name=owned").body;

    let plain = http.sign_in(&plain_id, &plain_secret);
    let csrf = http.csrf(&plain);
    for kind in OperationKind::iter() {
        let Some((method, path, form)) = sample(kind, AK) else {
            continue;
        };
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = if method == "GET" {
            http.page(&plain, &path)
        } else {
            http.post(&plain, &csrf, &path, &form)
        };
        if public(kind) {
            assert_eq!(r.status, 200, "{kind:?}: {}", r.body);
        } else {
            assert_eq!(r.status, 403, "{kind:?}: {}", r.body);
            assert!(r.body.contains("AccessDenied"), "{kind:?}: {}", r.body);
            assert!(
                !r.body.contains("owner-value-1"),
                "{kind:?} leaked the value"
            );
        }
        // Without a session nothing runs: a page goes to sign-in, a post is refused.
        let none = if method == "GET" {
            http.send("GET", &path, &[], b"")
        } else {
            http.post("made-up", &csrf, &path, &form)
        };
        assert!(
            matches!(none.status, 303 | 401),
            "{kind:?} without a session: {}",
            none.status
        );
        if none.status == 303 {
            assert!(none
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with("/console/sign-in")));
        }
    }
    // The owner's secret and key are as they were.
    let after = http.page(&owner, "/console/secret?name=owned").body;
    let facts = |page: &str| between(page, "<dl class=\"facts\">", "</dl>");
    assert_eq!(facts(&before), facts(&after));
    let revealed = http.post(
        &owner,
        &owner_csrf,
        "/console/secret/reveal",
        &[("name", "owned")],
    );
    assert!(revealed.body.contains("owner-value-1"));
    assert!(http.page(&owner, "/console/access-keys").body.contains(AK));

    // Signing out ends the session: its cookie then names nothing.
    let out = http.post(&plain, &csrf, "/console/sign-out", &[]);
    assert_eq!(out.status, 303);
    let gone = http.page(&plain, "/console/");
    assert_eq!(
        gone.location.as_deref(),
        Some("/console/sign-in?reason=ended")
    );
    assert!(server.terminate(), "the server stops cleanly");
}
