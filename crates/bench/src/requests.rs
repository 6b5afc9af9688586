//! Signed requests as each cloud's SDK sends them: the same headers, the same signature
//! scheme (coffer-auth's client side, which is checked against captures of the real SDKs),
//! a fresh timestamp and nonce every time.

use anyhow::Context;
use coffer_auth::alibaba as ali;
use serde_json::{json, Value};

/// Which wire protocol and signature a target is driven with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// Alibaba KMS 2016-01-20, ACS3-HMAC-SHA256 (generation-2 SDK).
    AlibabaAcs3,
    /// Alibaba KMS 2016-01-20, RPC v1 HMAC-SHA1 (generation-1 SDK).
    AlibabaRpc,
    /// Tencent SSM 2019-09-23, TC3-HMAC-SHA256 over JSON.
    Tencent,
    /// Huawei CSMS v1, SDK-HMAC-SHA256.
    Huawei,
    /// AWS Secrets Manager, SigV4 (for peers that speak it, such as moto).
    Aws,
}

impl Dialect {
    /// Every dialect the generator speaks.
    pub const ALL: [Dialect; 5] = [
        Dialect::AlibabaAcs3,
        Dialect::AlibabaRpc,
        Dialect::Tencent,
        Dialect::Huawei,
        Dialect::Aws,
    ];
}

/// One operation of a workload.
#[derive(Clone, Debug)]
pub enum Op {
    GetValue {
        name: String,
    },
    Describe {
        name: String,
    },
    /// The first page of 100.
    List,
    Create {
        name: String,
        value: String,
    },
    Put {
        name: String,
        version: String,
        value: String,
    },
}

/// A request ready to send: path with query, headers in wire order, body.
#[derive(Debug)]
pub struct Signed {
    pub method: &'static str,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Who signs, for which host. `host` is the `Host` header exactly as sent (`127.0.0.1:7080`).
#[derive(Clone, Debug)]
pub struct Signer {
    pub dialect: Dialect,
    pub host: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The region the SDK would be configured with.
    pub region: String,
    /// Huawei's project id (required for Huawei).
    pub project_id: Option<String>,
}

const ALIBABA_VERSION: &str = "2016-01-20";
const TENCENT_VERSION: &str = "2019-09-23";

impl Signer {
    /// The request for `op`, signed at `now` (Unix seconds) with `nonce`.
    pub fn sign(&self, op: &Op, now: i64, nonce: &str) -> anyhow::Result<Signed> {
        match self.dialect {
            Dialect::AlibabaAcs3 => self.alibaba_acs3(op, now, nonce),
            Dialect::AlibabaRpc => self.alibaba_rpc(op, now, nonce),
            Dialect::Tencent => Ok(self.tencent(op, now)),
            Dialect::Huawei => self.huawei(op, now),
            Dialect::Aws => self.aws(op, now),
        }
    }

    fn alibaba_params(op: &Op) -> (&'static str, Vec<(&'static str, String)>) {
        match op {
            Op::GetValue { name } => ("GetSecretValue", vec![("SecretName", name.clone())]),
            Op::Describe { name } => ("DescribeSecret", vec![("SecretName", name.clone())]),
            Op::List => (
                "ListSecrets",
                vec![("PageNumber", "1".into()), ("PageSize", "100".into())],
            ),
            Op::Create { name, value } => (
                "CreateSecret",
                vec![
                    ("SecretName", name.clone()),
                    ("VersionId", "v1".into()),
                    ("SecretData", value.clone()),
                ],
            ),
            Op::Put {
                name,
                version,
                value,
            } => (
                "PutSecretValue",
                vec![
                    ("SecretName", name.clone()),
                    ("VersionId", version.clone()),
                    ("SecretData", value.clone()),
                ],
            ),
        }
    }

    /// Generation-2 RPC style: parameters in the query, an empty body, ACS3 headers.
    fn alibaba_acs3(&self, op: &Op, now: i64, nonce: &str) -> anyhow::Result<Signed> {
        let (action, params) = Self::alibaba_params(op);
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            ("x-acs-action".to_string(), action.to_string()),
            ("x-acs-version".to_string(), ALIBABA_VERSION.to_string()),
            ("x-acs-date".to_string(), iso8601(now)?),
            ("x-acs-signature-nonce".to_string(), nonce.to_string()),
            (
                "x-acs-content-sha256".to_string(),
                ali::content_sha256_hex(b""),
            ),
        ];
        let authorization = ali::sign_acs3(
            "POST",
            &params,
            &headers,
            &self.access_key_id,
            self.access_key_secret.as_bytes(),
        )
        .context("signing an ACS3 request")?;
        let mut headers = headers;
        headers.push(("authorization".to_string(), authorization));
        Ok(Signed {
            method: "POST",
            path_and_query: format!("/?{}", coffer_auth::encoding::encode_query(&params)),
            headers,
            body: vec![],
        })
    }

    /// Generation 1: every parameter, the signature included, in the URL of a GET.
    fn alibaba_rpc(&self, op: &Op, now: i64, nonce: &str) -> anyhow::Result<Signed> {
        let (action, params) = Self::alibaba_params(op);
        let timestamp = iso8601(now)?;
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = ali::rpc_v1_query(
            "GET",
            action,
            ALIBABA_VERSION,
            &borrowed,
            &ali::RpcV1Client {
                access_key_id: &self.access_key_id,
                access_key_secret: self.access_key_secret.as_bytes(),
                timestamp: &timestamp,
                nonce,
            },
        )
        .context("signing an RPC v1 request")?;
        Ok(Signed {
            method: "GET",
            path_and_query: format!("/?{query}"),
            headers: vec![("host".to_string(), self.host.clone())],
            body: vec![],
        })
    }

    fn tencent(&self, op: &Op, now: i64) -> Signed {
        let (action, body) = match op {
            Op::GetValue { name } => (
                "GetSecretValue",
                json!({"SecretName": name, "VersionId": "v1"}),
            ),
            Op::Describe { name } => ("DescribeSecret", json!({"SecretName": name})),
            Op::List => ("ListSecrets", json!({"Limit": 100})),
            Op::Create { name, value } => (
                "CreateSecret",
                json!({"SecretName": name, "VersionId": "v1", "SecretString": value}),
            ),
            Op::Put {
                name,
                version,
                value,
            } => (
                "PutSecretValue",
                json!({"SecretName": name, "VersionId": version, "SecretString": value}),
            ),
        };
        let body = body.to_string().into_bytes();
        let headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            TENCENT_VERSION,
            Some(&self.region),
            &self.host,
            &body,
            &self.access_key_id,
            self.access_key_secret.as_bytes(),
            now,
        );
        Signed {
            method: "POST",
            path_and_query: "/".into(),
            headers,
            body,
        }
    }

    fn huawei(&self, op: &Op, now: i64) -> anyhow::Result<Signed> {
        let project = self
            .project_id
            .as_deref()
            .context("Huawei requests need --huawei-project")?;
        let enc = |s: &str| {
            coffer_auth::encoding::encode_query(&[("", s)])
                .trim_start_matches('=')
                .to_string()
        };
        let (method, path, query, body): (&'static str, String, &str, Option<Value>) = match op {
            Op::GetValue { name } => (
                "GET",
                format!("/v1/{project}/secrets/{}/versions/latest", enc(name)),
                "",
                None,
            ),
            Op::Describe { name } => (
                "GET",
                format!("/v1/{project}/secrets/{}", enc(name)),
                "",
                None,
            ),
            Op::List => ("GET", format!("/v1/{project}/secrets"), "limit=100", None),
            Op::Create { name, value } => (
                "POST",
                format!("/v1/{project}/secrets"),
                "",
                Some(json!({"name": name, "secret_string": value})),
            ),
            Op::Put { name, value, .. } => (
                "POST",
                format!("/v1/{project}/secrets/{}/versions", enc(name)),
                "",
                Some(json!({"secret_string": value})),
            ),
        };
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = coffer_auth::huawei::request_headers(
            method,
            &self.host,
            &path,
            query,
            &body,
            Some(project),
            &self.access_key_id,
            self.access_key_secret.as_bytes(),
            now,
        );
        let path_and_query = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        Ok(Signed {
            method,
            path_and_query,
            headers,
            body,
        })
    }

    /// AWS Secrets Manager's JSON protocol, as boto3 sends it.
    fn aws(&self, op: &Op, now: i64) -> anyhow::Result<Signed> {
        let (target, body) = match op {
            Op::GetValue { name } => ("GetSecretValue", json!({"SecretId": name})),
            Op::Describe { name } => ("DescribeSecret", json!({"SecretId": name})),
            Op::List => ("ListSecrets", json!({"MaxResults": 100})),
            Op::Create { name, value } => {
                ("CreateSecret", json!({"Name": name, "SecretString": value}))
            }
            Op::Put { name, value, .. } => (
                "PutSecretValue",
                json!({"SecretId": name, "SecretString": value}),
            ),
        };
        let body = body.to_string().into_bytes();
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            (
                "x-amz-target".to_string(),
                format!("secretsmanager.{target}"),
            ),
        ];
        coffer_auth::sigv4::sign(
            "POST",
            "/",
            "",
            &mut headers,
            &body,
            &self.access_key_id,
            self.access_key_secret.as_bytes(),
            &self.region,
            "secretsmanager",
            now,
        )
        .map_err(|e| anyhow::anyhow!("signing a SigV4 request: {e}"))?;
        Ok(Signed {
            method: "POST",
            path_and_query: "/".into(),
            headers,
            body,
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn iso8601(unix_secs: i64) -> anyhow::Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs).context("timestamp")?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// A Lua string literal holding `s` exactly (wrk's scripts are Lua 5.1).
fn lua_string(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// A wrk script sending `signed` again and again on every connection, and writing wrk's
/// figures as one JSON line to stdout when it is done (latencies in microseconds; `errors`
/// are failed connections, reads, writes and timeouts, `non_2xx` answers that were not a
/// success).
pub fn wrk_lua(signed: &Signed) -> String {
    let mut lua = String::from("-- generated by coffer-bench wrk-script\n");
    lua.push_str(&format!(
        "wrk.method = {}\n",
        lua_string(signed.method.as_bytes())
    ));
    lua.push_str(&format!(
        "wrk.path = {}\n",
        lua_string(signed.path_and_query.as_bytes())
    ));
    for (name, value) in &signed.headers {
        lua.push_str(&format!(
            "wrk.headers[{}] = {}\n",
            lua_string(name.as_bytes()),
            lua_string(value.as_bytes())
        ));
    }
    if !signed.body.is_empty() {
        lua.push_str(&format!("wrk.body = {}\n", lua_string(&signed.body)));
    }
    lua.push_str(
        r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"#,
    );
    lua
}

/// Checks `signed` the way coffer's dialect for `dialect` checks a request it receives
/// (signature parsing and verification with `secret`): what the tests use to prove the
/// generator signs as the SDKs do, and what the micro-benchmarks time.
pub fn server_verifies(dialect: Dialect, signed: &Signed, secret: &[u8]) -> bool {
    let (path, query) = signed
        .path_and_query
        .split_once('?')
        .unwrap_or((&signed.path_and_query, ""));
    let headers: Vec<(String, String)> = signed
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let rp = coffer_auth::RequestParts {
        method: signed.method,
        raw_query: query,
        headers: &headers,
        body: &signed.body,
    };
    match dialect {
        Dialect::AlibabaAcs3 | Dialect::AlibabaRpc => {
            ali::parse(&rp).and_then(|p| p.verify(secret)).is_ok()
        }
        Dialect::Tencent => coffer_auth::tencent::parse(&rp)
            .and_then(|p| p.verify(secret))
            .is_ok(),
        Dialect::Huawei => coffer_auth::huawei::parse(&rp, path)
            .and_then(|p| p.verify(secret))
            .is_ok(),
        Dialect::Aws => coffer_auth::sigv4::parse(&rp, path)
            .and_then(|p| p.verify(secret))
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    //! Every request the generator makes must pass the server's own verification.
    use super::*;

    const NOW: i64 = 1_795_392_000;

    fn signer(dialect: Dialect) -> Signer {
        Signer {
            dialect,
            host: "127.0.0.1:7080".into(),
            access_key_id: "AKBENCH".into(),
            access_key_secret: "bench-secret".into(),
            region: "cn-hangzhou".into(),
            project_id: Some("0123456789abcdef0123456789abcdef".into()),
        }
    }

    fn ops() -> Vec<Op> {
        vec![
            Op::GetValue {
                name: "bench-000001".into(),
            },
            Op::Describe {
                name: "bench-000002".into(),
            },
            Op::List,
            Op::Create {
                name: "n".into(),
                value: "v a+b/c".into(),
            },
            Op::Put {
                name: "bench-000003".into(),
                version: "p1".into(),
                value: "v".into(),
            },
        ]
    }

    #[test]
    fn every_dialect_verifies_on_the_server_side() {
        for dialect in Dialect::ALL {
            let s = signer(dialect);
            for op in ops() {
                let req = s.sign(&op, NOW, "nonce-1").expect("sign");
                let verify = |secret: &[u8]| server_verifies(dialect, &req, secret);
                assert!(verify(b"bench-secret"), "{dialect:?} {op:?}: {req:?}");
                // A wrong secret must not verify, or the check above proves nothing.
                assert!(
                    !verify(b"other"),
                    "{dialect:?} {op:?} verified with the wrong secret"
                );
            }
        }
    }

    #[test]
    fn a_wrk_script_sends_the_signed_request_byte_for_byte() {
        let req = signer(Dialect::Huawei)
            .sign(
                &Op::GetValue {
                    name: "bench-000001".into(),
                },
                NOW,
                "unused",
            )
            .expect("sign");
        let lua = wrk_lua(&req);
        assert!(lua.contains("wrk.method = \"GET\"\n"), "{lua}");
        assert!(
            lua.contains(&format!("wrk.path = \"{}\"\n", req.path_and_query)),
            "{lua}"
        );
        for (name, value) in &req.headers {
            assert!(
                lua.contains(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n")),
                "{name} missing: {lua}"
            );
        }
        assert!(!lua.contains("wrk.body"), "a GET has no body: {lua}");
        // Quotes, backslashes and bytes outside printable ASCII are escaped for Lua.
        assert_eq!(lua_string(b"a\"b\\c\n\xff"), "\"a\\\"b\\\\c\\010\\255\"");
    }
}
