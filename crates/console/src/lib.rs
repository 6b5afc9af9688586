//! The web console at `/console/`: HTML pages rendered on the server from templates compiled
//! into the binary, with a little JavaScript for what HTML cannot do (signing in, copying to
//! the clipboard, checking a policy's JSON before it is sent).
//!
//! The console is one more [`Dialect`]: every page and every form post is an operation of its
//! own enum, with a permission from an exhaustive match, run through the same pipeline as the
//! cloud APIs (authenticate → authorize every target → admission → execute → audit). A
//! signed-in key sees and does exactly what its policies allow through the APIs; revealing a
//! value is a `secrets:GetValue` and is audited as one.
//!
//! Authentication: the sign-in page's script signs `POST /console/session` with the access
//! key's secret (AWS SigV4, service `coffer`, with the Web Crypto API), so the secret never
//! leaves the browser. The server checks it like an admin API request and answers with a
//! short-lived session cookie (see [`session`]). Every later request is authenticated by that
//! cookie; every form post also by its CSRF token and its origin.

pub mod cursor;
mod pages;
pub mod session;

use std::sync::Arc;

use coffer_api::{AuditFacts, AuthenticatedKey, Dialect, HttpRequest, Permission, Reply};
use coffer_auth::sigv4::SigV4Request;
use coffer_core::{AuditSink, Scope, Service};
use serde_json::{json, Value};

use cursor::Cursors;
pub use pages::{Operation, OperationKind};
use session::{Session, SessionProblem, Sessions};

/// Where the console lives.
pub const PATH_PREFIX: &str = "/console";
/// The SigV4 service name sign-in requests are signed for (the admin API's).
pub const SIGN_IN_SERVICE: &str = "coffer";

/// Runs the audit chain check for the overview and the audit page: `Ok(summary)` when the
/// chain holds, `Err(reason)` when it does not or cannot be checked.
pub type ChainCheck = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Request counts of one dialect and outcome over the rate window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RateRow {
    pub dialect: String,
    pub outcome: String,
    pub count: u64,
    /// Rounded to hundredths.
    pub per_sec: f64,
}

/// What the overview shows of the request rates: measured by the server's own metrics
/// (the counters `/metrics` exports), over the last `window_secs`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Rates {
    pub window_secs: u64,
    /// By dialect, then outcome; rows with no request in the window are left out.
    pub rows: Vec<RateRow>,
    /// Rounded to hundredths.
    pub total_per_sec: f64,
    /// Requests refused over their rate (`--limits`) in the window.
    pub throttled: u64,
    /// Authenticated requests their policies did not allow, in the window.
    pub denied: u64,
}

/// Reads the request rates for the overview (`None`: not measured yet).
pub type RateSource = Arc<dyn Fn() -> Option<Rates> + Send + Sync>;

pub struct Console {
    service: Arc<Service>,
    audit: Arc<dyn AuditSink>,
    region: String,
    sessions: Arc<Sessions>,
    /// Whether the server speaks TLS: the cookie is then `Secure`, and origins are `https`.
    secure: bool,
    chain_check: Option<ChainCheck>,
    cursors: Arc<Cursors>,
    rates: Option<RateSource>,
    /// The origin browsers reach the console at, when it is not the server's own address
    /// (behind a TLS proxy): form posts must come from it.
    public_origin: Option<String>,
    templates: minijinja::Environment<'static>,
}

/// A console error: an HTTP status, a short code for the audit log, and a message for people.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Not signed in (or no longer): the answer sends the browser to the sign-in page.
    pub sign_in: Option<SessionProblem>,
}

impl ConsoleError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            sign_in: None,
        }
    }

    fn invalid(field: &str, reason: &str) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The field {field:?} is not valid: {reason}."),
        )
    }

    fn session(problem: SessionProblem) -> Self {
        let message = match problem {
            SessionProblem::Missing => "Sign in to use the console.",
            SessionProblem::Unknown => "Your session has ended. Sign in again.",
            SessionProblem::Expired => "Your session expired. Sign in again.",
        };
        Self {
            status: 401,
            code: match problem {
                SessionProblem::Missing => "NotSignedIn",
                SessionProblem::Unknown => "UnknownSession",
                SessionProblem::Expired => "SessionExpired",
            },
            message: message.into(),
            sign_in: Some(problem),
        }
    }

    fn forged(reason: &str) -> Self {
        Self::new(
            403,
            "ForgedRequest",
            format!("The request was refused: {reason}. Reload the page and try again."),
        )
    }
}

impl From<coffer_core::Error> for ConsoleError {
    fn from(e: coffer_core::Error) -> Self {
        use coffer_core::Error as E;
        let (status, code) = match &e {
            E::NotFound { .. } => (404, "NotFound"),
            E::AlreadyExists { .. } => (409, "AlreadyExists"),
            E::InDeleteWindow { .. } => (409, "InDeleteWindow"),
            E::InvalidParameter { .. } => (400, "InvalidParameter"),
            E::MissingParameter { .. } => (400, "MissingParameter"),
            E::InvalidState { .. } => (409, "InvalidState"),
            E::Disabled { .. } => (409, "Disabled"),
            E::LimitExceeded { .. } => (409, "LimitExceeded"),
            E::Throttled { .. } => (429, "Throttled"),
            E::AccessDenied { .. } => (403, "AccessDenied"),
            E::Unavailable { .. } => (503, "Unavailable"),
            E::Conflict => (409, "Conflict"),
            E::Internal(_) => (500, "InternalError"),
            _ => (400, "RequestFailed"),
        };
        let message = match &e {
            // The detail of an internal error is for the server's log, not the page.
            E::Internal(_) => "The server failed to handle the request.".to_string(),
            other => {
                let text = other.to_string();
                let mut c = text.chars();
                match c.next() {
                    Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
                    None => text,
                }
            }
        };
        ConsoleError::new(status, code, message)
    }
}

/// What a request carries before it is trusted.
pub enum Signed {
    /// The sign-in exchange: a SigV4-signed request.
    SignIn(Box<SigV4Request>),
    /// Any other request: the session cookie (maybe none) and the form.
    Cookie {
        cookie: Option<String>,
        form: Vec<(String, String)>,
    },
}

/// An authorized operation's surroundings.
pub struct Call {
    pub service: Arc<Service>,
    pub audit: Arc<dyn AuditSink>,
    pub scope: Scope,
    pub caller: Arc<AuthenticatedKey>,
    /// `None` for the sign-in itself.
    pub session: Option<Session>,
    pub cookie: Option<String>,
    pub sessions: Arc<Sessions>,
    pub secure: bool,
    pub chain_check: Option<ChainCheck>,
    pub cursors: Arc<Cursors>,
    pub rates: Option<RateSource>,
    pub now_ms: i64,
    /// The posted form (values included); wiped when the call ends.
    form: Vec<(String, String)>,
    /// `done=` of a page after a post-redirect-get: which confirmation to show.
    query_done: Option<String>,
}

impl Drop for Call {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (k, v) in &mut self.form {
            k.zeroize();
            v.zeroize();
        }
    }
}

/// What an operation answers, before rendering.
pub enum Page {
    /// A page from `template` with `context` (the layout's own fields are added).
    Html {
        template: &'static str,
        context: Value,
        session: Session,
    },
    /// Post-redirect-get: send the browser to `to`.
    Redirect {
        to: String,
        set_cookie: Option<String>,
    },
    /// The sign-in's answer to its script.
    Json { body: Value, set_cookie: String },
}

/// Static assets, served without a session.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/console/static/app.css",
        "text/css; charset=utf-8",
        include_str!("../static/app.css"),
    ),
    (
        "/console/static/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    ),
    (
        "/console/static/sign-in.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/sign-in.js"),
    ),
];

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("sign-in.html", include_str!("../templates/sign-in.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("secrets.html", include_str!("../templates/secrets.html")),
    ("secret.html", include_str!("../templates/secret.html")),
    (
        "new-secret.html",
        include_str!("../templates/new-secret.html"),
    ),
    ("keys.html", include_str!("../templates/keys.html")),
    (
        "access-keys.html",
        include_str!("../templates/access-keys.html"),
    ),
    ("policies.html", include_str!("../templates/policies.html")),
    ("policy.html", include_str!("../templates/policy.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("accounts.html", include_str!("../templates/accounts.html")),
    (
        "databases.html",
        include_str!("../templates/databases.html"),
    ),
];

/// The headers every console answer carries: no framing, no inline script or style, no
/// referrer beyond this origin, no content sniffing, and no caching of pages that may show a
/// secret value.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
];

impl Console {
    /// `session_secs`: how long a session lasts. `secure`: the server speaks TLS.
    pub fn new(
        service: Arc<Service>,
        audit: Arc<dyn AuditSink>,
        region: String,
        session_secs: u64,
        secure: bool,
    ) -> Self {
        let mut templates = minijinja::Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and checked by the tests; one that does
            // not parse shows as an error page naming it rather than stopping the server.
            if let Err(e) = templates.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a console template does not parse");
            }
        }
        Self {
            service,
            audit,
            region,
            sessions: Arc::new(Sessions::new(session_secs)),
            secure,
            chain_check: None,
            cursors: Arc::new(Cursors::new()),
            public_origin: None,
            rates: None,
            templates,
        }
    }

    /// The origin (`https://host[:port]`, see [`session::parse_public_origin`]) users reach
    /// the console at through a proxy: form posts must come from it instead of from the
    /// server's own address, and an `https` origin makes the session cookie `Secure`.
    pub fn with_public_origin(mut self, origin: Option<String>) -> Self {
        if let Some(o) = &origin {
            self.secure |= o.starts_with("https://");
        }
        self.public_origin = origin;
        self
    }

    /// Where the overview reads request rates from.
    pub fn with_rates(mut self, rates: RateSource) -> Self {
        self.rates = Some(rates);
        self
    }

    /// How the overview and the audit page check the audit chain.
    pub fn with_chain_check(mut self, check: ChainCheck) -> Self {
        self.chain_check = Some(check);
        self
    }

    /// Answers the requests that need no session and are not operations: the sign-in page and
    /// the static assets. `None`: the request is for the pipeline.
    pub fn public(&self, req: &HttpRequest<'_>) -> Option<Reply> {
        if req.method != "GET" && req.method != "HEAD" {
            return None;
        }
        if let Some((_, ctype, body)) = ASSETS.iter().find(|(p, _, _)| *p == req.path) {
            let reply = Reply::new(200, ctype, body.as_bytes().to_vec());
            return Some(with_security_headers(reply));
        }
        if req.path == "/console/sign-in" {
            let reason = query_value(req.raw_query, "reason");
            let message = match reason.as_deref() {
                Some("expired") => Some("Your session expired. Sign in again."),
                Some("ended") => Some("Your session has ended. Sign in again."),
                Some("signed-out") => Some("You are signed out."),
                _ => None,
            };
            let ctx = json!({ "message": message, "title": "Sign in" });
            return Some(self.html(200, "sign-in.html", &ctx));
        }
        None
    }

    fn html(&self, status: u16, template: &str, context: &Value) -> Reply {
        let body = self
            .templates
            .get_template(template)
            .and_then(|t| t.render(context));
        match body {
            Ok(text) => with_security_headers(Reply::new(
                status,
                "text/html; charset=utf-8",
                text.into_bytes(),
            )),
            Err(e) => {
                tracing::error!(template, error = %e, "a console page failed to render");
                with_security_headers(Reply::new(
                    500,
                    "text/plain; charset=utf-8",
                    b"The console failed to render this page.".to_vec(),
                ))
            }
        }
    }

    fn layout(&self, session: &Session) -> Value {
        json!({
            "csrf": session.csrf,
            "access_key_id": session.access_key_id,
            "account": session.account.to_string(),
            "expires": coffer_core::Timestamp(session.expires_ms).to_iso8601_seconds(),
        })
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn with_security_headers(mut reply: Reply) -> Reply {
    for (k, v) in SECURITY_HEADERS {
        reply = reply.with_header(k, *v);
    }
    reply
}

/// A query parameter, decoded.
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Dialect for Console {
    const NAME: &'static str = "console";
    type Signed = Signed;
    type Call = Call;
    type Operation = Operation;
    type Output = Page;
    type Error = ConsoleError;

    fn service(&self) -> &Service {
        &self.service
    }

    fn recognises(&self, req: &HttpRequest<'_>) -> bool {
        req.path
            .strip_prefix(PATH_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    fn parse(&self, req: &HttpRequest<'_>, audit: &mut AuditFacts) -> Result<Signed, ConsoleError> {
        audit.operation = pages::operation_name(req.method, req.path).to_string();
        if req.method == "POST" && req.path == "/console/session" {
            let sig = coffer_auth::sigv4::parse(&req.parts(), req.path).map_err(|e| {
                ConsoleError::new(
                    401,
                    "SignatureInvalid",
                    format!("The sign-in request is not signed correctly: {e}."),
                )
            })?;
            audit.access_key_id = Some(sig.access_key_id.clone());
            return Ok(Signed::SignIn(Box::new(sig)));
        }
        let cookie = session::cookie_value(
            req.headers
                .iter()
                .filter(|(k, _)| k == "cookie")
                .map(|(_, v)| v.as_str()),
        )
        .map(str::to_string);
        let form = if req.method == "POST" {
            if !req.is_form() {
                return Err(ConsoleError::new(
                    415,
                    "UnsupportedMediaType",
                    "Console forms are sent as application/x-www-form-urlencoded.",
                ));
            }
            form_urlencoded::parse(req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            vec![]
        };
        Ok(Signed::Cookie { cookie, form })
    }

    async fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &Signed,
        audit: &mut AuditFacts,
    ) -> Result<Arc<AuthenticatedKey>, ConsoleError> {
        let now_ms = self.service.now().as_millis();
        match signed {
            Signed::SignIn(sig) => {
                let refused = || {
                    ConsoleError::new(
                        401,
                        "SignInFailed",
                        "The access key id or secret is wrong, or the key is disabled.",
                    )
                };
                if sig.service != SIGN_IN_SERVICE {
                    return Err(refused());
                }
                let key = match self.service.access_key(&sig.access_key_id).await {
                    Ok(k) => k,
                    Err(coffer_core::Error::NotFound { .. }) => return Err(refused()),
                    Err(e) => return Err(e.into()),
                };
                sig.verify(&key.secret).map_err(|_| refused())?;
                audit.account = Some(key.account.0);
                if !key.enabled || sig.security_token.is_some() || sig.unsigned_payload() {
                    return Err(refused());
                }
                let window = coffer_auth::sigv4::SKEW_WINDOW_SECS;
                if !coffer_auth::skew::within_window(sig.timestamp, now_ms / 1000, window) {
                    return Err(ConsoleError::new(
                        401,
                        "RequestTimeTooSkewed",
                        "This computer's clock is more than 5 minutes from the server's; set it right and sign in again.",
                    ));
                }
                // What was signed (time, body and all) identifies the request: the same one
                // sent twice is a replay.
                let signed_text = format!("{}\n{}", sig.access_key_id, sig.string_to_sign());
                let fingerprint = hex_digest(signed_text.as_bytes());
                if !self
                    .sessions
                    .first_use_of_signature(&fingerprint, now_ms, 2 * window * 1000)
                {
                    return Err(ConsoleError::new(
                        401,
                        "SignInReplayed",
                        "This sign-in request was already used.",
                    ));
                }
                Ok(key)
            }
            Signed::Cookie { cookie, form } => {
                let session = self
                    .sessions
                    .lookup(cookie.as_deref(), now_ms)
                    .map_err(ConsoleError::session)?;
                audit.access_key_id = Some(session.access_key_id.clone());
                audit.account = Some(session.account.0);
                if req.method != "GET" && req.method != "HEAD" {
                    // Cross-site request forgery: the token of this session, from a page of
                    // this origin. Checked before anything else about the form.
                    let token = form
                        .iter()
                        .find(|(k, _)| k == "csrf")
                        .map(|(_, v)| v.as_str());
                    if !session::csrf_matches(&session, token) {
                        return Err(ConsoleError::forged(
                            "the form's security token is missing or wrong",
                        ));
                    }
                    let (origin, referer) = (req.header("origin"), req.header("referer"));
                    let from_console = match &self.public_origin {
                        Some(public) => session::origin_is(origin, referer, public),
                        None => {
                            session::same_origin(origin, referer, req.header("host"), self.secure)
                        }
                    };
                    if !from_console {
                        return Err(ConsoleError::forged(
                            "it did not come from this console's own pages",
                        ));
                    }
                }
                let key = match self.service.access_key(&session.access_key_id).await {
                    Ok(k) => k,
                    Err(coffer_core::Error::NotFound { .. }) => {
                        return Err(ConsoleError::session(SessionProblem::Unknown))
                    }
                    Err(e) => return Err(e.into()),
                };
                if !key.enabled {
                    return Err(ConsoleError::session(SessionProblem::Unknown));
                }
                Ok(key)
            }
        }
    }

    async fn operation(
        &self,
        req: &HttpRequest<'_>,
        signed: Signed,
        caller: &AuthenticatedKey,
    ) -> Result<(Call, Operation), ConsoleError> {
        let scope = Scope {
            account: caller.account,
            region: self.region.clone(),
        };
        let (session, cookie, form) = match signed {
            Signed::SignIn(_) => (None, None, vec![]),
            Signed::Cookie { cookie, form } => {
                let session = self
                    .sessions
                    .lookup(cookie.as_deref(), self.service.now().as_millis())
                    .map_err(ConsoleError::session)?;
                (Some(session), cookie, form)
            }
        };
        let op = pages::parse(&self.service, &scope, &self.cursors, req, &form).await?;
        // The caller's key again, as an Arc the pages can ask about their buttons with.
        let caller = self
            .service
            .access_key(&caller.id)
            .await
            .map_err(ConsoleError::from)?;
        let call = Call {
            service: self.service.clone(),
            audit: self.audit.clone(),
            scope,
            caller,
            session,
            cookie,
            sessions: self.sessions.clone(),
            secure: self.secure,
            chain_check: self.chain_check.clone(),
            cursors: self.cursors.clone(),
            rates: self.rates.clone(),
            now_ms: self.service.now().as_millis(),
            form,
            query_done: query_value(req.raw_query, "done"),
        };
        Ok((call, op))
    }

    fn scope(call: &Call) -> &Scope {
        &call.scope
    }

    fn permission(op: &Operation) -> Permission {
        pages::permission(op)
    }

    /// People clicking through pages are not throttled like API clients; what they do is
    /// limited by the same authorization.
    fn operation_name(op: &Operation) -> &'static str {
        pages::OperationKind::from(op).into()
    }

    fn rate_group(_op: &Operation) -> Option<&'static str> {
        None
    }

    async fn execute(&self, call: &Call, op: Operation) -> Result<Page, ConsoleError> {
        pages::execute(call, op).await
    }

    fn error_code(error: &ConsoleError) -> &str {
        error.code
    }

    fn refusal(&self, _req: &HttpRequest<'_>, refusal: coffer_api::Refusal) -> ConsoleError {
        ConsoleError::new(413, "RequestRefused", refusal.describe())
    }

    fn render(&self, req: &HttpRequest<'_>, outcome: Result<Page, ConsoleError>) -> Reply {
        match outcome {
            Ok(Page::Html {
                template,
                mut context,
                session,
            }) => {
                if let Value::Object(m) = &mut context {
                    m.insert("session".into(), self.layout(&session));
                }
                self.html(200, template, &context)
            }
            Ok(Page::Redirect { to, set_cookie }) => {
                let mut reply = Reply::new(303, "text/plain; charset=utf-8", vec![])
                    .with_header("location", to);
                if let Some(c) = set_cookie {
                    reply = reply.with_header("set-cookie", c);
                }
                with_security_headers(reply)
            }
            Ok(Page::Json { body, set_cookie }) => with_security_headers(
                Reply::new(
                    200,
                    "application/json",
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
                .with_header("set-cookie", set_cookie),
            ),
            Err(e) => {
                if req.path == "/console/session" {
                    let body =
                        json!({"Code": e.code, "Message": e.message, "RequestId": req.request_id});
                    return with_security_headers(Reply::new(
                        e.status,
                        "application/json",
                        serde_json::to_vec(&body).unwrap_or_default(),
                    ));
                }
                if let Some(problem) = e.sign_in {
                    // A page asked for without a session goes to the sign-in page, which says
                    // why; the cookie of an ended session is removed.
                    let reason = match problem {
                        SessionProblem::Missing => "",
                        SessionProblem::Unknown => "?reason=ended",
                        SessionProblem::Expired => "?reason=expired",
                    };
                    if req.method == "GET" {
                        return with_security_headers(
                            Reply::new(303, "text/plain; charset=utf-8", vec![])
                                .with_header("location", format!("/console/sign-in{reason}"))
                                .with_header("set-cookie", session::clear_cookie(self.secure)),
                        );
                    }
                }
                let ctx = json!({
                    "title": "Error",
                    "status": e.status,
                    "code": e.code,
                    "message": e.message,
                    "request_id": req.request_id,
                    "sign_in": e.sign_in.is_some(),
                });
                self.html(e.status, "error.html", &ctx)
            }
        }
    }
}
