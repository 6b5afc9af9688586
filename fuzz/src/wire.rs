//! The fuzz input format: an HTTP/1.1 request as text, so that the corpus is real requests
//! (the SDK captures under `crates/auth/tests/fixtures/` are seeds as they are) and a crash
//! file can be read and turned into a test by hand.
//!
//! ```text
//! METHOD TARGET [HTTP/1.1]\n
//! Name: value\n
//! ...\n
//! \n
//! body (every remaining byte)
//! ```
//!
//! `\r\n` works as well as `\n`. Parsing never fails: whatever the bytes are, they become
//! some request, so the fuzzer's mutations always reach the code under test. Headers are
//! handed on the way the server hands them to dialects (`header_pairs` in the server's
//! `http.rs`): names lower-cased, values trimmed as the HTTP parser does, a value that is
//! not visible ASCII dropped (`HeaderValue::to_str` fails on it), and a line whose name is not
//! a token dropped (the HTTP parser refuses the request).

/// Whether `b` may appear in a header name (`tchar` of RFC 9110, section 5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One request, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireRequest {
    pub method: String,
    /// Percent-encoded, as on the request line.
    pub path: String,
    /// After `?`, percent-encoded; empty when there is none.
    pub raw_query: String,
    /// Lower-case names, values as received, in wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireRequest {
    /// Reads `data` as a request (see the module documentation).
    pub fn parse(data: &[u8]) -> WireRequest {
        let (head, body) = split_head(data);
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ').filter(|p| !p.is_empty());
        let method = parts.next().unwrap_or("GET").to_string();
        let target = parts.next().unwrap_or("/");
        let (path, raw_query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            let value = value.trim_matches(|c| c == ' ' || c == '\t');
            // The server's HTTP parser refuses a request whose header name is not a token
            // (RFC 9110, section 5.6.2), so no dialect ever sees one: such a line is dropped.
            if name.is_empty()
                || !name.bytes().all(is_token_byte)
                || !value.bytes().all(|b| b == b'\t' || (32..127).contains(&b))
            {
                continue;
            }
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
        WireRequest {
            method,
            path,
            raw_query,
            headers,
            body: body.to_vec(),
        }
    }

    /// The request in the input format; [`WireRequest::parse`] reads it back unchanged.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path.as_bytes());
        if !self.raw_query.is_empty() {
            out.push(b'?');
            out.extend_from_slice(self.raw_query.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// Replaces every value of header `name` with one `value` (appended last).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_string(), value.into()));
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// Whether the content type makes the body a form (as the dialects and schemes decide).
    pub fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    }

    /// The view the signature schemes take.
    pub fn parts(&self) -> coffer_auth::RequestParts<'_> {
        coffer_auth::RequestParts {
            method: &self.method,
            raw_query: &self.raw_query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// The view the dialects take.
    pub fn http<'a>(&'a self, request_id: &'a str) -> coffer_api::HttpRequest<'a> {
        coffer_api::HttpRequest {
            method: &self.method,
            path: &self.path,
            raw_query: &self.raw_query,
            headers: &self.headers,
            body: &self.body,
            request_id,
            peer: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))),
        }
    }
}

/// Splits at the first empty line (`\n\n` or `\r\n\r\n`); no empty line means no body.
fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    for i in 0..data.len() {
        if data[i..].starts_with(b"\n\n") {
            return (&data[..i], &data[i + 2..]);
        }
        if data[i..].starts_with(b"\r\n\r\n") {
            return (&data[..i], &data[i + 4..]);
        }
    }
    (data, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_captured_request() {
        let raw = b"POST /?Action=X&b=%20 HTTP/1.1\r\nHost: h:1\r\nX-Acs-Date:  d \r\nbad\r\nx: caf\xc3\xa9\r\n\r\nbody\n";
        let r = WireRequest::parse(raw);
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/");
        assert_eq!(r.raw_query, "Action=X&b=%20");
        assert_eq!(
            r.headers,
            vec![
                ("host".to_string(), "h:1".to_string()),
                ("x-acs-date".to_string(), "d".to_string())
            ]
        );
        assert_eq!(r.body, b"body\n");
    }

    #[test]
    fn round_trips_and_never_fails() {
        let r = WireRequest {
            method: "GET".into(),
            path: "/v1/p/secrets".into(),
            raw_query: "a=1".into(),
            headers: vec![("host".into(), "x".into())],
            body: b"\n\nbody".to_vec(),
        };
        assert_eq!(WireRequest::parse(&r.to_bytes()), r);
        for junk in [&b""[..], b"\n", b"\xff\xfe", b" ? ", b"GET"] {
            let _ = WireRequest::parse(junk);
        }
    }
}
