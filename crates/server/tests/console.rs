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

    // The overview's request rates (an operator's view) count the refusals just made, read
    // from the same counters as /metrics.
    let overview = http.page(&owner, "/console/");
    assert!(overview.body.contains("id=\"rates\""), "{}", overview.body);
    let denied: u64 = between(&overview.body, "id=\"rate-denied\">", "<")
        .and_then(|n| n.parse().ok())
        .expect("a denied count");
    assert!(denied >= 15, "denied {denied}");
    assert!(overview
        .body
        .contains("<td data-label=\"API\">console</td>"));
    // A key without the operator's rights sees no rates.
    assert!(!http.page(&plain, "/console/").body.contains("id=\"rates\""));

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

/// The `href` of the anchor with this id.
fn href(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let start = body[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + body[start..].find('"')?;
    // As the template escaped it (minijinja escapes `/` too).
    Some(
        body[start..end]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

fn names_on(body: &str) -> Vec<String> {
    body.split("<td data-label=\"Name\"><a href=\"/console/secret?name=")
        .skip(1)
        .filter_map(|rest| between(rest, ">", "</a>"))
        .collect()
}

/// The secrets list pages in name order by a link that resumes after the last name, with
/// prefix, substring, tag and state searches; a page link that was changed, belongs to
/// another search or to another account is refused with a clear error.
#[test]
fn the_secrets_list_pages_by_checked_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let http = Http::new(&server);
    let owner = http.sign_in(AK, SK);
    let csrf = http.csrf(&owner);
    let mut all = vec![];
    for i in 0..120 {
        // Created in an order unlike the names'.
        let name = format!("app-{:03}", (i * 37) % 120);
        let tags = if i % 10 == 0 { "team=blue" } else { "team=red" };
        let r = http.post(
            &owner,
            &csrf,
            "/console/secrets/create",
            &[("name", &name), ("value", "v"), ("tags", tags)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        all.push(name);
    }
    for name in ["db-main", "db-replica"] {
        let r = http.post(
            &owner,
            &csrf,
            "/console/secrets/create",
            &[("name", name), ("value", "v")],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        all.push(name.to_string());
    }
    all.sort();

    // Walk every page by its next link.
    let walk = |start: &str| {
        let mut seen = vec![];
        let mut path = Some(start.to_string());
        let mut pages = 0;
        while let Some(p) = path {
            pages += 1;
            assert!(pages < 20, "the pages do not end");
            let page = http.page(&owner, &p);
            assert_eq!(page.status, 200, "{p}: {}", page.body);
            let names = names_on(&page.body);
            assert!(names.len() <= 50);
            seen.extend(names);
            path = href(&page.body, "next-page");
        }
        (seen, pages)
    };
    let (seen, pages) = walk("/console/secrets");
    assert_eq!(seen, all);
    assert_eq!(pages, 3);
    let first = http.page(&owner, "/console/secrets");
    assert!(first.body.contains("122 secrets in all"), "{}", first.body);

    let (seen, _) = walk("/console/secrets?name=app-1");
    let want: Vec<_> = all
        .iter()
        .filter(|n| n.starts_with("app-1"))
        .cloned()
        .collect();
    assert_eq!(seen, want);
    let (seen, _) = walk("/console/secrets?name=-0&match=contains");
    let want: Vec<_> = all.iter().filter(|n| n.contains("-0")).cloned().collect();
    assert_eq!(seen.len(), 100);
    assert_eq!(seen, want);
    let (seen, _) = walk("/console/secrets?tag=team%3Dblue");
    assert_eq!(seen.len(), 12);
    let (seen, _) = walk("/console/secrets?name=db&state=enabled");
    assert_eq!(seen, vec!["db-main", "db-replica"]);

    // Page links are checked.
    let next = href(&first.body, "next-page").expect("a next link");
    let cursor = next.rsplit("after=").next().unwrap_or_default().to_string();
    let mut forged = cursor.clone().into_bytes();
    forged[2] = if forged[2] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap_or_default();
    for bad in [
        format!("/console/secrets?after={forged}"),
        format!("/console/secrets?name=app&after={cursor}"),
        "/console/secrets?after=%FF%FE%00".to_string(),
        format!("/console/secrets?after={}", "A".repeat(3000)),
    ] {
        let r = http.page(&owner, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("InvalidPageLink"), "{bad}: {}", r.body);
        assert!(r.body.contains("first page"), "{bad}");
    }
    // (A link of another account's session fails the same check: see the cursor's unit test.)
    assert!(server.terminate(), "the server stops cleanly");
}

/// The audit page searches the whole log, newest first, a bounded number of entries per
/// request, and pages backwards by checked links.
#[test]
fn the_audit_page_filters_and_pages_back_through_the_whole_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let http = Http::new(&server);
    let owner = http.sign_in(AK, SK);
    let csrf = http.csrf(&owner);
    let r = http.post(
        &owner,
        &csrf,
        "/console/secrets/create",
        &[("name", "watched"), ("value", "v")],
    );
    assert_eq!(r.status, 303);
    // 230 reads of one secret, 20 of a missing one, among other entries.
    for i in 0..250 {
        let name = if i % 25 == 0 { "missing" } else { "watched" };
        http.page(&owner, &format!("/console/secret?name={name}"));
        if i % 3 == 0 {
            http.page(&owner, "/console/keys");
        }
    }
    let walk = |start: &str| {
        let mut rows = 0usize;
        let mut path = Some(start.to_string());
        let mut pages = 0;
        while let Some(p) = path {
            pages += 1;
            assert!(pages < 50, "the pages do not end");
            let page = http.page(&owner, &p);
            assert_eq!(page.status, 200, "{p}: {}", page.body);
            let body = between(&page.body, "<tbody>", "</tbody>").unwrap_or_default();
            rows += body.matches("<tr>").count();
            path = href(&page.body, "older-page");
        }
        (rows, pages)
    };
    let (rows, pages) = walk("/console/audit?action=ShowSecret&resource=watched");
    assert_eq!(rows, 240);
    assert_eq!(pages, 3, "100 a page");
    let (rows, _) = walk("/console/audit?action=ShowSecret&outcome=failed");
    assert_eq!(rows, 10);
    let (rows, _) = walk("/console/audit?action=ListKeys&key=");
    assert_eq!(rows, 84);
    // Time ranges: everything is from today, nothing from 2001.
    let (rows, _) = walk("/console/audit?action=ListKeys&until=2001-01-01");
    assert_eq!(rows, 0);
    let (rows, _) = walk("/console/audit?action=ListKeys&since=2001-01-01");
    assert_eq!(rows, 84);
    let r = http.page(&owner, "/console/audit?since=yesterday");
    assert_eq!(r.status, 400);
    // Checked links.
    let page = http.page(&owner, "/console/audit?action=ShowSecret");
    let older = href(&page.body, "older-page").expect("an older link");
    let cursor = older
        .rsplit("before=")
        .next()
        .unwrap_or_default()
        .to_string();
    let other_search = format!("/console/audit?action=ListKeys&before={cursor}");
    let r = http.page(&owner, &other_search);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("InvalidPageLink"));
    let r = http.page(&owner, "/console/audit?before=MTIzNDU2Nzg5MDEyMzQ1Njc4OTA");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(server.terminate(), "the server stops cleanly");
}

/// Behind a TLS proxy the console names its public origin: form posts must come from it,
/// and the session cookie is `Secure`.
#[test]
fn behind_a_proxy_form_posts_come_from_the_public_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &dir.path().join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            (
                "COFFER_CONSOLE_PUBLIC_ORIGIN",
                "https://Secrets.Example.com",
            ),
        ],
    );
    let http = Http::new(&server);
    let owner = http.sign_in(AK, SK);
    let csrf = http.csrf(&owner);
    let post_from = |origin: &str, path: &str, body: &str| {
        let headers = [
            ("cookie".to_string(), format!("coffer_console={owner}")),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("origin".to_string(), origin.to_string()),
        ];
        http.send("POST", path, &headers, body.as_bytes())
    };
    let create = format!("csrf={csrf}&name=via-proxy&value=v");
    // The server's own address is not where users are: refused, as are look-alikes.
    for origin in [
        server.base(),
        "https://secrets.example.com.evil.example".to_string(),
        "http://secrets.example.com".to_string(),
        "null".to_string(),
    ] {
        let r = post_from(&origin, "/console/secrets/create", &create);
        assert_eq!(r.status, 403, "{origin}: {}", r.body);
        assert!(r.body.contains("ForgedRequest"), "{origin}");
    }
    assert_eq!(
        http.page(&owner, "/console/secret?name=via-proxy").status,
        404
    );
    // The configured origin (as browsers write it, lower case) is accepted.
    let r = post_from(
        "https://secrets.example.com",
        "/console/secrets/create",
        &create,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        http.page(&owner, "/console/secret?name=via-proxy").status,
        200
    );
    // The session cookie is Secure (the public origin is https).
    let out = post_from(
        "https://secrets.example.com",
        "/console/sign-out",
        &format!("csrf={csrf}"),
    );
    assert_eq!(out.status, 303);
    assert!(out.set_cookie.is_some_and(|c| c.contains("Secure")));
    assert!(server.terminate(), "the server stops cleanly");
}
