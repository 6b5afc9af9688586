//! What the pipeline hands a dialect, and what it gets back.

use coffer_auth::RequestParts;

/// One HTTP request, as received. Header names are lower case; values are exactly as sent
/// (signature schemes sign some of them verbatim).
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub path: &'a str,
    /// The query after `?`, still percent-encoded; empty when there is none.
    pub raw_query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The server's id for this request (a UUID), echoed in answers and the audit log.
    pub request_id: &'a str,
    /// The client's address and port (`None` when there is no connection, as in tests).
    /// Tencent's replay rule lets only the address that first used a TC3 signature use it,
    /// at once, for another action.
    pub peer: Option<std::net::SocketAddr>,
}

impl<'a> HttpRequest<'a> {
    /// The parts the signature schemes look at.
    pub fn parts(&self) -> RequestParts<'a> {
        RequestParts {
            method: self.method,
            raw_query: self.raw_query,
            headers: self.headers,
            body: self.body,
        }
    }

    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is an HTML form (`application/x-www-form-urlencoded`).
    pub fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|v| {
            v.get(..33)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        })
    }

    /// The body when it is a form, for dialects that read parameters from either place.
    pub fn form_body(&self) -> Option<&'a [u8]> {
        self.is_form().then_some(self.body)
    }
}

/// An answer ready for the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers (request-id headers each cloud names its own way).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a [(String, String)]) -> HttpRequest<'a> {
        HttpRequest {
            method: "POST",
            path: "/",
            raw_query: "",
            headers,
            body: b"a=b",
            request_id: "r",
            peer: None,
        }
    }

    #[test]
    fn form_bodies_are_recognised_whatever_the_case_and_charset() {
        let h = vec![(
            "content-type".to_string(),
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8".to_string(),
        )];
        assert_eq!(req(&h).form_body(), Some(&b"a=b"[..]));
        let json = vec![("content-type".to_string(), "application/json".to_string())];
        assert_eq!(req(&json).form_body(), None);
        assert_eq!(req(&[]).form_body(), None);
    }
}
