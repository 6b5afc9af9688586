//! Console sessions and cross-site request forgery protection.
//!
//! A session is made by a sign-in request that the browser signs itself with the access key's
//! secret (SigV4, Web Crypto), so the secret never travels. The server keeps, per session, only
//! the SHA-256 of a random cookie value, the access key id, a CSRF token and an expiry: a copy
//! of the table gives no usable cookie, and what a session may do is looked up from the access
//! key on every request (a key disabled or re-policied mid-session is honoured at once).
//!
//! Every state-changing request must carry the session's CSRF token in its form and come from
//! this server's own origin (`Origin`, or `Referer` when a browser sends no `Origin`).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coffer_core::AccountId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "coffer_console";

/// Most sessions kept at once; past it the one closest to expiry is ended for a new one.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub access_key_id: String,
    pub account: AccountId,
    /// Sent back in every form; compared in constant time.
    pub csrf: String,
    /// Milliseconds since the epoch, by the service's clock.
    pub expires_ms: i64,
}

/// Why a request has no usable session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionProblem {
    /// No session cookie at all.
    Missing,
    /// A cookie this server does not know (signed out, restarted, or made up).
    Unknown,
    /// The session's time is over.
    Expired,
}

#[derive(Default)]
struct Inner {
    /// Keyed by the SHA-256 of the cookie value.
    sessions: HashMap<[u8; 32], Session>,
    /// Sign-in signatures already used, with when they stop being acceptable anyway: a
    /// captured sign-in request cannot be replayed for a second session.
    used_signatures: HashMap<String, i64>,
}

pub struct Sessions {
    lifetime_ms: i64,
    inner: Mutex<Inner>,
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new(lifetime_secs: u64) -> Self {
        Self {
            lifetime_ms: i64::try_from(lifetime_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_ms / 1000
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a sign-in signature; false when it was used before (a replay).
    pub fn first_use_of_signature(&self, signature: &str, now_ms: i64, window_ms: i64) -> bool {
        let mut inner = self.lock();
        inner.used_signatures.retain(|_, until| *until > now_ms);
        if inner.used_signatures.contains_key(signature) {
            return false;
        }
        // Bounded like the sessions: the window is short, so old entries go first.
        if inner.used_signatures.len() >= MAX_SESSIONS * 4 {
            return false;
        }
        inner
            .used_signatures
            .insert(signature.to_string(), now_ms.saturating_add(window_ms));
        true
    }

    /// Starts a session; returns the cookie value (given to the browser only) and the session.
    pub fn create(
        &self,
        access_key_id: &str,
        account: AccountId,
        now_ms: i64,
    ) -> (String, Session) {
        let cookie = random_token();
        let session = Session {
            access_key_id: access_key_id.to_string(),
            account,
            csrf: random_token(),
            expires_ms: now_ms.saturating_add(self.lifetime_ms),
        };
        let mut inner = self.lock();
        inner.sessions.retain(|_, s| s.expires_ms > now_ms);
        if inner.sessions.len() >= MAX_SESSIONS {
            if let Some(k) = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| *k)
            {
                inner.sessions.remove(&k);
            }
        }
        inner.sessions.insert(digest(&cookie), session.clone());
        (cookie, session)
    }

    /// The session a cookie value names, if it is still running. An expired one is forgotten.
    pub fn lookup(&self, cookie: Option<&str>, now_ms: i64) -> Result<Session, SessionProblem> {
        let cookie = cookie.ok_or(SessionProblem::Missing)?;
        let key = digest(cookie);
        let mut inner = self.lock();
        match inner.sessions.get(&key) {
            None => Err(SessionProblem::Unknown),
            Some(s) if s.expires_ms <= now_ms => {
                inner.sessions.remove(&key);
                Err(SessionProblem::Expired)
            }
            Some(s) => Ok(s.clone()),
        }
    }

    /// Ends a session (sign-out).
    pub fn end(&self, cookie: &str) {
        self.lock().sessions.remove(&digest(cookie));
    }

    /// Ends every session of an access key (it was deleted or disabled through the console).
    pub fn end_all_of(&self, access_key_id: &str) {
        self.lock()
            .sessions
            .retain(|_, s| s.access_key_id != access_key_id);
    }
}

/// Whether a form's token is the session's, in constant time.
pub fn csrf_matches(session: &Session, token: Option<&str>) -> bool {
    match token {
        Some(t) if !t.is_empty() => bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())),
        _ => false,
    }
}

/// The value of the console's cookie in a `Cookie` header, if any.
pub fn cookie_value<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that gives the browser its session: never readable by scripts, sent
/// only to the console's own paths and never on cross-site requests, and over TLS only when the
/// server speaks TLS. No `Max-Age`: the server ends the session at its expiry and the browser
/// forgets the cookie when it closes, so that an expired session can say so on the sign-in
/// page instead of looking like no session at all.
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!("{}; Max-Age=0", set_cookie("", secure))
}

/// Whether a state-changing request comes from this server's own pages: its `Origin` (or,
/// without one, its `Referer`) must be `scheme://host` of the request itself. A request with
/// neither is refused: every browser that runs the console sends `Origin` on a POST.
pub fn same_origin(
    origin: Option<&str>,
    referer: Option<&str>,
    host: Option<&str>,
    secure: bool,
) -> bool {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    let expected = format!("{}://{}", if secure { "https" } else { "http" }, host);
    origin_is(origin, referer, &expected)
}

/// Whether a request's `Origin` (or, without one, its `Referer`) is `expected`
/// (`scheme://host[:port]`).
pub fn origin_is(origin: Option<&str>, referer: Option<&str>, expected: &str) -> bool {
    match (origin, referer) {
        (Some(o), _) => o.eq_ignore_ascii_case(expected),
        (None, Some(r)) => {
            r.get(..expected.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(expected))
                && matches!(r.as_bytes().get(expected.len()), None | Some(b'/'))
        }
        (None, None) => false,
    }
}

/// Reads `--console-public-origin`: `http://` or `https://`, a host, maybe a port, nothing
/// else (no path, no user, no trailing slash), as a browser writes an `Origin` header
/// (RFC 6454 section 6.1). Returned in lower case.
pub fn parse_public_origin(text: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not an origin ({why}); write it as https://host or https://host:port"
        ))
    };
    let lower = text.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return bad("no scheme");
    };
    if scheme != "http" && scheme != "https" {
        return bad("the scheme must be http or https");
    }
    let (host, port) = if rest.starts_with('[') {
        // An IPv6 address: `[...]`, then maybe `:port`.
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return bad("text follows the address"),
            },
            None => return bad("the address has no closing bracket"),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return bad("the host is missing or has characters a host cannot have");
    }
    if let Some(p) = port {
        if p.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
            return bad("the port must be a number from 1 to 65535");
        }
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_for_its_lifetime_and_no_longer() {
        let s = Sessions::new(60);
        let (cookie, session) = s.create("AK1", AccountId(7), 1_000);
        assert_eq!(session.expires_ms, 61_000);
        assert_eq!(s.lookup(Some(&cookie), 60_999), Ok(session));
        assert_eq!(
            s.lookup(Some(&cookie), 61_000),
            Err(SessionProblem::Expired)
        );
        // Forgotten once expired.
        assert_eq!(s.lookup(Some(&cookie), 1_000), Err(SessionProblem::Unknown));
    }

    #[test]
    fn unknown_missing_and_ended_sessions_are_refused() {
        let s = Sessions::new(60);
        assert_eq!(s.lookup(None, 0), Err(SessionProblem::Missing));
        assert_eq!(s.lookup(Some("made-up"), 0), Err(SessionProblem::Unknown));
        let (cookie, _) = s.create("AK1", AccountId(7), 0);
        s.end(&cookie);
        assert_eq!(s.lookup(Some(&cookie), 1), Err(SessionProblem::Unknown));
        let (a, _) = s.create("AK1", AccountId(7), 0);
        let (b, _) = s.create("AK2", AccountId(7), 0);
        s.end_all_of("AK1");
        assert!(s.lookup(Some(&a), 1).is_err());
        assert!(s.lookup(Some(&b), 1).is_ok());
    }

    #[test]
    fn cookies_and_tokens_are_random_and_only_their_hash_is_kept() {
        let s = Sessions::new(60);
        let (c1, s1) = s.create("AK1", AccountId(7), 0);
        let (c2, s2) = s.create("AK1", AccountId(7), 0);
        assert_ne!(c1, c2);
        assert_ne!(s1.csrf, s2.csrf);
        assert_ne!(c1, s1.csrf);
        assert!(c1.len() >= 43);
        let inner = s.lock();
        assert!(inner.sessions.contains_key(&digest(&c1)));
        assert!(inner.sessions.values().all(|v| v.csrf != c1));
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let s = Sessions::new(60);
        let (_, session) = s.create("AK1", AccountId(7), 0);
        assert!(csrf_matches(&session, Some(&session.csrf.clone())));
        assert!(!csrf_matches(&session, None));
        assert!(!csrf_matches(&session, Some("")));
        assert!(!csrf_matches(&session, Some(&session.csrf[1..])));
        let mut other = session.csrf.clone();
        other.push('x');
        assert!(!csrf_matches(&session, Some(&other)));
    }

    #[test]
    fn a_sign_in_signature_is_good_once() {
        let s = Sessions::new(60);
        assert!(s.first_use_of_signature("sig", 0, 300_000));
        assert!(!s.first_use_of_signature("sig", 1, 300_000));
        assert!(s.first_use_of_signature("other", 1, 300_000));
        // Past the window it is forgotten (the clock window refuses it by then anyway).
        assert!(s.first_use_of_signature("sig", 300_001, 300_000));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = ["a=1; coffer_console=xyz ; b=2"];
        assert_eq!(cookie_value(h.iter().copied()), Some("xyz"));
        let h = ["coffer_console_x=1", "coffer_console="];
        assert_eq!(cookie_value(h.iter().copied()), None);
        assert_eq!(cookie_value([].iter().copied()), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let c = set_cookie("v", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(c.contains("Path=/console"));
        assert!(!set_cookie("v", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn only_the_servers_own_origin_may_change_anything() {
        let host = Some("127.0.0.1:7080");
        assert!(same_origin(
            Some("http://127.0.0.1:7080"),
            None,
            host,
            false
        ));
        assert!(!same_origin(
            Some("https://127.0.0.1:7080"),
            None,
            host,
            false
        ));
        assert!(same_origin(
            Some("https://127.0.0.1:7080"),
            None,
            host,
            true
        ));
        assert!(!same_origin(Some("http://evil.example"), None, host, false));
        assert!(!same_origin(Some("null"), None, host, false));
        // Origin wins over Referer.
        assert!(!same_origin(
            Some("http://evil.example"),
            Some("http://127.0.0.1:7080/console/"),
            host,
            false
        ));
        assert!(same_origin(
            None,
            Some("http://127.0.0.1:7080/console/x"),
            host,
            false
        ));
        assert!(!same_origin(
            None,
            Some("http://127.0.0.1:70800/console/"),
            host,
            false
        ));
        assert!(!same_origin(None, None, host, false));
        assert!(!same_origin(
            Some("http://127.0.0.1:7080"),
            None,
            None,
            false
        ));
    }

    #[test]
    fn a_public_origin_is_a_scheme_a_host_and_maybe_a_port() {
        assert_eq!(
            parse_public_origin("https://Secrets.Example.com").as_deref(),
            Ok("https://secrets.example.com")
        );
        assert!(parse_public_origin("https://secrets.example.com:8443").is_ok());
        assert!(parse_public_origin("http://127.0.0.1:7080").is_ok());
        assert!(parse_public_origin("https://[::1]:8443").is_ok());
        assert!(parse_public_origin("https://[::1]").is_ok());
        for bad in [
            "secrets.example.com",
            "ftp://secrets.example.com",
            "https://",
            "https://secrets.example.com/",
            "https://secrets.example.com/console",
            "https://user@secrets.example.com",
            "https://secrets.example.com:0",
            "https://secrets.example.com:99999",
            "https://secrets.example.com:x",
        ] {
            assert!(parse_public_origin(bad).is_err(), "{bad}");
        }
        let public = "https://secrets.example.com";
        assert!(origin_is(Some(public), None, public));
        assert!(origin_is(
            None,
            Some("https://secrets.example.com/console/secrets"),
            public
        ));
        assert!(!origin_is(Some("http://secrets.example.com"), None, public));
        assert!(!origin_is(
            Some("https://secrets.example.com.evil.example"),
            None,
            public
        ));
        assert!(!origin_is(
            None,
            Some("https://secrets.example.com.evil.example/"),
            public
        ));
    }
}
