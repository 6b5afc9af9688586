//! The capture fixture format the Huawei, Tencent and SigV4 tests share: a `# Request N: ...`
//! comment, then the raw request between `=====BEGIN REQUEST=====` and `=====END REQUEST=====`
//! (the body is Content-Length bytes), then whatever the fixture adds before the next request.

pub struct RawRequest {
    pub number: usize,
    pub method: String,
    #[allow(dead_code)] // Tencent routes by header, not path
    pub path: String,
    pub raw_query: String,
    /// Lower-case names, trimmed values, in wire order.
    pub headers: Vec<(String, String)>,
    /// Header names as they went on the wire (the fixture's case).
    #[allow(dead_code)] // only the Huawei tests look at them
    pub wire_names: Vec<String>,
    pub body: Vec<u8>,
    /// The text between this request's END marker and the next request's BEGIN marker.
    #[allow(dead_code)] // only the SigV4 tests read it
    pub trailer: String,
}

const BEGIN: &str = "=====BEGIN REQUEST=====\n";
const END: &str = "=====END REQUEST=====";

pub fn parse_captures(text: &str) -> Vec<RawRequest> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut number = 0;
    while let Some(pos) = rest.find(BEGIN) {
        for line in rest[..pos].lines() {
            if let Some(r) = line.strip_prefix("# Request ") {
                let (n, _) = r.split_once(':').expect("request header line");
                number = n.parse().expect("request number");
            }
        }
        let start = pos + BEGIN.len();
        let end = rest[start..].find(END).expect("END marker") + start;
        let (head, after) = rest[start..end]
            .split_once("\n\n")
            .expect("blank line after headers");
        let mut lines = head.lines();
        let mut rl = lines.next().expect("request line").splitn(3, ' ');
        let method = rl.next().expect("method").to_string();
        let target = rl.next().expect("target");
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = Vec::new();
        let mut wire_names = Vec::new();
        for l in lines {
            let (k, v) = l.split_once(':').expect("header line");
            wire_names.push(k.to_string());
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .unwrap_or(0);
        rest = &rest[end + END.len()..];
        let trailer_end = rest.find(BEGIN).unwrap_or(rest.len());
        out.push(RawRequest {
            number,
            method,
            path: path.to_string(),
            raw_query: raw_query.to_string(),
            headers,
            wire_names,
            body: after.as_bytes()[..len].to_vec(),
            trailer: rest[..trailer_end].to_string(),
        });
    }
    out
}
