//! Signing a fuzzed request with coffer's own client-side signers (`coffer_auth::*::sign*`), so
//! that it passes authentication and the fuzzer reaches what comes after: the operation
//! parsers, the core and the renderers. The same signers are what the round-trip target checks
//! the verifiers against.
//!
//! Each function replaces whatever signature, credential, timestamp and nonce the request
//! carries and leaves everything else as the fuzzer made it. It returns `false`, leaving the
//! request as it was, when the request cannot be signed at all (parameters that are not valid
//! encoding: the server refuses them before looking at any signature).

use coffer_auth::encoding::{encode_query, form_decode};
use coffer_auth::{alibaba, huawei, sigv4, tencent};

use crate::wire::WireRequest;

/// Who signs, and when.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// A nonce nobody used before (schemes that sign one).
    pub nonce: &'a str,
}

/// Host sent when the fuzzed request has none (every scheme signs one).
pub const DEFAULT_HOST: &str = "127.0.0.1:7080";

/// The signature schemes coffer verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    AlibabaRpc,
    AlibabaAcs3,
    Tc3,
    TencentV1,
    Huawei,
    SigV4,
    /// SigV4 for Secrets Manager (`secretsmanager`, the request's region).
    SigV4Aws,
}

impl Scheme {
    /// The scheme a request is meant for, judged as the server's dispatch and the dialects do:
    /// the admin API and Huawei by path, Tencent by its headers or its `SecretId` field,
    /// Alibaba otherwise (ACS3 when it has an `Authorization` header).
    pub fn of(req: &WireRequest) -> Scheme {
        let auth = req.header("authorization").unwrap_or("");
        if req.path.starts_with("/coffer/") {
            Scheme::SigV4
        } else if req.path.starts_with("/v1/") || req.path.starts_with("/v1.0/") {
            Scheme::Huawei
        } else if auth.starts_with("TC3") || req.has_header("x-tc-action") {
            Scheme::Tc3
        } else if auth.starts_with("ACS3") {
            Scheme::AlibabaAcs3
        } else if has_field(&req.raw_query, "SecretId")
            || (req.is_form() && has_field(&String::from_utf8_lossy(&req.body), "SecretId"))
        {
            Scheme::TencentV1
        } else {
            Scheme::AlibabaRpc
        }
    }

    /// Signs `req` with this scheme.
    pub fn sign(self, req: &mut WireRequest, signer: &Signer<'_>) -> bool {
        match self {
            Scheme::AlibabaRpc => alibaba_rpc(req, signer),
            Scheme::AlibabaAcs3 => alibaba_acs3(req, signer),
            Scheme::Tc3 => tc3(req, signer),
            Scheme::TencentV1 => tencent_v1(req, signer),
            Scheme::Huawei => huawei_sdk(req, signer),
            Scheme::SigV4 => sigv4_coffer(req, signer),
            Scheme::SigV4Aws => sigv4_aws(req, signer),
        }
    }
}

fn has_field(raw: &str, name: &str) -> bool {
    raw.split('&')
        .any(|kv| kv.split('=').next().is_some_and(|k| k == name))
}

fn ensure_host(req: &mut WireRequest) {
    if req.header("host").is_none_or(str::is_empty) {
        req.set_header("host", DEFAULT_HOST);
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, Alibaba's timestamp, from Huawei's `YYYYMMDDTHHMMSSZ`.
fn iso8601(unix: i64) -> String {
    let d = huawei::format_sdk_date(unix);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

const ALIBABA_COMMON: [&str; 7] = [
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "SignatureType",
];

fn alibaba_rpc(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    let Ok(mut query) = form_decode(req.raw_query.as_bytes(), "query") else {
        return false;
    };
    let form = req.is_form();
    let mut body = if form {
        match form_decode(&req.body, "body") {
            Ok(b) => b,
            Err(_) => return false,
        }
    } else {
        Vec::new()
    };
    query.retain(|(k, _)| !ALIBABA_COMMON.contains(&k.as_str()));
    body.retain(|(k, _)| !ALIBABA_COMMON.contains(&k.as_str()));
    for (k, v) in [
        ("AccessKeyId", s.access_key_id.to_string()),
        ("SignatureMethod", "HMAC-SHA1".to_string()),
        ("SignatureVersion", "1.0".to_string()),
        ("SignatureNonce", s.nonce.to_string()),
        ("Timestamp", iso8601(s.now)),
    ] {
        query.push((k.to_string(), v));
    }
    let all: Vec<(String, String)> = query.iter().chain(body.iter()).cloned().collect();
    let Ok(signature) = alibaba::sign_rpc_v1(&req.method, &all, s.secret.as_bytes()) else {
        return false;
    };
    query.push(("Signature".to_string(), signature));
    req.raw_query = encode_query(&query);
    if form {
        req.body = encode_query(&body).into_bytes();
    }
    req.remove_header("authorization");
    true
}

fn alibaba_acs3(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    let Ok(query) = form_decode(req.raw_query.as_bytes(), "query") else {
        return false;
    };
    req.remove_header("authorization");
    ensure_host(req);
    req.set_header("x-acs-date", iso8601(s.now));
    req.set_header("x-acs-signature-nonce", s.nonce);
    req.set_header(
        "x-acs-content-sha256",
        alibaba::content_sha256_hex(&req.body),
    );
    if req.has_header("x-acs-accesskey-id") {
        req.set_header("x-acs-accesskey-id", s.access_key_id);
    }
    match alibaba::sign_acs3(
        &req.method,
        &query,
        &req.headers,
        s.access_key_id,
        s.secret.as_bytes(),
    ) {
        Ok(auth) => {
            req.headers.push(("authorization".to_string(), auth));
            true
        }
        Err(_) => false,
    }
}

fn tc3(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    req.remove_header("authorization");
    ensure_host(req);
    if !req.has_header("content-type") {
        req.set_header("content-type", "application/json");
    }
    req.set_header("x-tc-timestamp", s.now.to_string());
    let service = if req.header("x-tc-version") == Some(tencent::KMS_VERSION) {
        "kms"
    } else {
        "ssm"
    };
    // What the SDK signs, plus the content digest header when the request has one (it decides
    // whether the body is signed, so signing it keeps an UNSIGNED-PAYLOAD request valid).
    let signed: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| matches!(n.as_str(), "content-type" | "host" | "x-tc-content-sha256"))
        .cloned()
        .collect();
    let auth = tencent::sign_tc3(
        &req.method,
        &req.raw_query,
        &signed,
        &req.body,
        s.access_key_id,
        s.secret.as_bytes(),
        s.now,
        service,
    );
    req.headers.push(("authorization".to_string(), auth));
    true
}

const TENCENT_SIGNATURE_FIELDS: [&str; 4] = ["SecretId", "Nonce", "Timestamp", "Signature"];

fn tencent_v1(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    let in_query = req.method == "GET";
    if !in_query && !req.is_form() {
        return false;
    }
    let source = if in_query {
        req.raw_query.as_bytes()
    } else {
        &req.body[..]
    };
    let Ok(mut fields) = form_decode(source, "fields") else {
        return false;
    };
    fields.retain(|(k, _)| !TENCENT_SIGNATURE_FIELDS.contains(&k.as_str()));
    let algorithm = match fields.iter().find(|(k, _)| k == "SignatureMethod") {
        Some((_, m)) if m == "HmacSHA256" => tencent::V1Algorithm::HmacSha256,
        _ => tencent::V1Algorithm::HmacSha1,
    };
    for (k, v) in [
        ("SecretId", s.access_key_id.to_string()),
        ("Nonce", s.nonce.to_string()),
        ("Timestamp", s.now.to_string()),
    ] {
        fields.push((k.to_string(), v));
    }
    req.remove_header("authorization");
    ensure_host(req);
    let host = req.header("host").unwrap_or(DEFAULT_HOST).to_string();
    let signature = tencent::sign_v1(&req.method, &host, &fields, s.secret.as_bytes(), algorithm);
    fields.push(("Signature".to_string(), signature));
    let encoded = encode_query(&fields);
    if in_query {
        req.raw_query = encoded;
    } else {
        req.body = encoded.into_bytes();
    }
    true
}

fn huawei_sdk(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    req.remove_header("authorization");
    ensure_host(req);
    req.set_header("x-sdk-date", huawei::format_sdk_date(s.now));
    let auth = huawei::sign(
        &req.method,
        &req.path,
        &req.raw_query,
        &req.headers,
        &req.body,
        s.access_key_id,
        s.secret.as_bytes(),
    );
    req.headers.push(("authorization".to_string(), auth));
    true
}

fn sigv4_coffer(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    sigv4_for(req, s, "cn-north-1", "coffer")
}

/// Secrets Manager's SigV4: service `secretsmanager`, region `us-east-1` (any region id maps to
/// the harness's one region).
fn sigv4_aws(req: &mut WireRequest, s: &Signer<'_>) -> bool {
    sigv4_for(req, s, "us-east-1", "secretsmanager")
}

/// Signs `req` with SigV4 for `service` in `region`; the headers change only when it signs.
fn sigv4_for(req: &mut WireRequest, s: &Signer<'_>, region: &str, service: &str) -> bool {
    ensure_host(req);
    let mut headers = req.headers.clone();
    let signed = sigv4::sign(
        &req.method,
        &req.path,
        &req.raw_query,
        &mut headers,
        &req.body,
        s.access_key_id,
        s.secret.as_bytes(),
        region,
        service,
        s.now,
    );
    if signed.is_ok() {
        req.headers = headers;
    }
    signed.is_ok()
}
