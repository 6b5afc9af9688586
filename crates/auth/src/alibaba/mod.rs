//! Alibaba Cloud POP request signatures (used by KMS API 2016-01-20 and every other RPC-style
//! Alibaba API).
//!
//! Two schemes arrive on the same endpoint:
//! - **RPC v1** (HMAC-SHA1): all common parameters (`AccessKeyId`, `SignatureNonce`,
//!   `Timestamp`, ...) and the `Signature` itself are request parameters. Used by the
//!   generation-1 SDKs and by generation 2 with `signature_algorithm='v2'`.
//! - **ACS3-HMAC-SHA256**: an `Authorization` header names the key, the signed headers and the
//!   signature; timestamp, nonce and action are `x-acs-*` headers. The generation-2 default.
//!
//! [`parse`] does everything that does not need the secret (scheme detection, parameter
//! decoding, structural checks, building the string to sign); the caller then looks up the
//! secret for [`AlibabaRequest::access_key_id`] and calls [`AlibabaRequest::verify`]. The clock
//! window ([`crate::skew`], [`SKEW_WINDOW_SECS`]) and nonce replay ([`crate::nonce`],
//! [`NONCE_WINDOW`]) checks come after a successful verify, in that order.

mod sign;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use subtle::ConstantTimeEq;
use time::macros::format_description;
use time::PrimitiveDateTime;

pub use sign::{
    acs3_string_to_sign, content_sha256_hex, rpc_v1_query, rpc_v1_string_to_sign, sign_acs3,
    sign_rpc_v1, RpcV1Client, ACS3_ALGORITHM,
};

use crate::encoding::form_decode;
use crate::{AuthError, RequestParts};

/// Alibaba rejects requests whose timestamp is more than 15 minutes away from server time.
pub const SKEW_WINDOW_SECS: i64 = 15 * 60;

/// How long Alibaba promises a nonce cannot be reused.
pub const NONCE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Headers an ACS3 request must sign (coffer's rule; Alibaba's is "every x-acs-* header").
/// Without them the action, time or nonce could be swapped on a captured request.
/// `content-type` must be signed too whenever it is sent (see `parse_acs3`).
pub const ACS3_REQUIRED_SIGNED_HEADERS: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

/// Which scheme signed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// RPC v1, HMAC-SHA1, signature in the `Signature` parameter.
    RpcV1,
    /// ACS3-HMAC-SHA256, signature in the `Authorization` header.
    Acs3,
}

/// A request whose signature has been parsed (not yet verified).
pub struct AlibabaRequest {
    /// The signing scheme.
    pub scheme: Scheme,
    /// `AccessKeyId` parameter (RPC v1) or `Credential` (ACS3).
    pub access_key_id: String,
    /// `SignatureNonce` parameter (RPC v1) or `x-acs-signature-nonce` header (ACS3).
    pub nonce: String,
    /// `Timestamp` parameter (RPC v1) or `x-acs-date` header (ACS3), as Unix seconds.
    pub timestamp: i64,
    /// The action from the signed source: `Action` parameter (RPC v1) or `x-acs-action` header
    /// (ACS3). `None` only for an RPC v1 request without `Action`.
    pub action: Option<String>,
    /// `Version` parameter (RPC v1) or `x-acs-version` header (ACS3).
    pub version: Option<String>,
    /// STS token: `SecurityToken` parameter (RPC v1) or `x-acs-security-token` header (ACS3).
    pub security_token: Option<String>,
    /// Every decoded parameter, query first then form body, in wire order, without `Signature`.
    /// Names are unique (repeats are rejected by [`parse`]).
    pub params: Vec<(String, String)>,
    string_to_sign: String,
    signature: ReceivedSignature,
}

enum ReceivedSignature {
    /// The `Signature` parameter as sent (standard base64 of 20 bytes).
    RpcV1(String),
    /// The 32 bytes the `Signature=` hex in the Authorization header stands for.
    Acs3([u8; 32]),
}

impl AlibabaRequest {
    /// Checks the signature against `access_key_secret`, in constant time.
    ///
    /// On mismatch the error carries the string to sign the server computed.
    pub fn verify(&self, access_key_secret: &[u8]) -> Result<(), AuthError> {
        let ok = match &self.signature {
            ReceivedSignature::RpcV1(sent) => {
                let mac = sign::rpc_v1_mac(&self.string_to_sign, access_key_secret)?;
                let want = base64::engine::general_purpose::STANDARD.encode(mac);
                // ct_eq on slices of different lengths is simply false; the length of a
                // base64 SHA-1 is public anyway.
                bool::from(want.as_bytes().ct_eq(sent.as_bytes()))
            }
            ReceivedSignature::Acs3(sent) => {
                // The secret keys the MAC; its keyed state is remembered per access key.
                let mac = crate::hmac_request::keyed_mac_cached(
                    &self.access_key_id,
                    b"",
                    access_key_secret,
                    &[],
                    &self.string_to_sign,
                );
                bool::from(mac.ct_eq(sent))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::SignatureMismatch {
                string_to_sign: self.string_to_sign.clone(),
            })
        }
    }

    /// The string to sign the server computed for this request.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The value of parameter `name`, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        find(&self.params, name)
    }
}

impl fmt::Debug for AlibabaRequest {
    // Parameter values can be secrets being stored (SecretData), so only names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlibabaRequest")
            .field("scheme", &self.scheme)
            .field("access_key_id", &self.access_key_id)
            .field("nonce", &self.nonce)
            .field("timestamp", &self.timestamp)
            .field("action", &self.action)
            .field("version", &self.version)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "params",
                &self
                    .params
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Parses and structurally checks a request signed with either Alibaba scheme.
///
/// Parameters are the form-decoded query plus, when the content type is
/// `application/x-www-form-urlencoded`, the form-decoded body. The scheme is ACS3 when an
/// `Authorization` header is present, RPC v1 when a `Signature` parameter is; neither is
/// [`AuthError::Incomplete`].
pub fn parse(req: &RequestParts<'_>) -> Result<AlibabaRequest, AuthError> {
    let authorization = req.single_header("authorization")?;
    if req.header_values("x-acs-bearer-token").next().is_some() {
        return Err(AuthError::Incomplete(
            "bearer tokens are not supported".into(),
        ));
    }

    let mut params = form_decode(req.raw_query.as_bytes(), "query")?;
    let query_len = params.len();
    if is_form_body(req)? {
        params.extend(form_decode(req.body, "body")?);
    }
    reject_duplicates(&params)?;

    match authorization {
        Some(auth) => parse_acs3(req, auth, params, query_len),
        None if find(&params, "Signature").is_some() => parse_rpc_v1(req, params),
        None => Err(AuthError::Incomplete(
            "neither an Authorization header nor a Signature parameter".into(),
        )),
    }
}

fn parse_rpc_v1(
    req: &RequestParts<'_>,
    mut params: Vec<(String, String)>,
) -> Result<AlibabaRequest, AuthError> {
    let required = |name: &str| -> Result<String, AuthError> {
        match find(&params, name) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(AuthError::Incomplete(format!(
                "parameter {name} is missing"
            ))),
        }
    };
    // Only the values we can verify are accepted; error messages never echo what was sent.
    if find(&params, "SignatureMethod") != Some("HMAC-SHA1") {
        return Err(AuthError::Incomplete(
            "SignatureMethod must be HMAC-SHA1".into(),
        ));
    }
    if find(&params, "SignatureVersion") != Some("1.0") {
        return Err(AuthError::Incomplete("SignatureVersion must be 1.0".into()));
    }
    // Generation 1 sends an empty SignatureType; anything else (BEARERTOKEN) is a scheme
    // coffer does not implement.
    if !find(&params, "SignatureType").unwrap_or("").is_empty() {
        return Err(AuthError::Incomplete(
            "SignatureType is not supported".into(),
        ));
    }
    let signature = required("Signature")?;
    let access_key_id = required("AccessKeyId")?;
    let nonce = required("SignatureNonce")?;
    let timestamp = parse_timestamp(&required("Timestamp")?)?;
    let action = find(&params, "Action").map(str::to_owned);
    let version = find(&params, "Version").map(str::to_owned);
    let security_token = find(&params, "SecurityToken").map(str::to_owned);

    params.retain(|(k, _)| k != "Signature");
    let string_to_sign = rpc_v1_string_to_sign(req.method, &params);
    Ok(AlibabaRequest {
        scheme: Scheme::RpcV1,
        access_key_id,
        nonce,
        timestamp,
        action,
        version,
        security_token,
        params,
        string_to_sign,
        signature: ReceivedSignature::RpcV1(signature),
    })
}

/// The three parts of an ACS3 Authorization header.
struct Acs3Authorization<'a> {
    credential: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Result<Acs3Authorization<'_>, AuthError> {
    let [credential, signed, signature] = crate::hmac_request::authorization_fields(
        value,
        ACS3_ALGORITHM,
        ["Credential", "SignedHeaders", "Signature"],
    )?;
    if credential.is_empty() {
        return Err(AuthError::Incomplete(
            "Authorization lacks Credential".into(),
        ));
    }
    let mut sig = [0u8; 32];
    hex::decode_to_slice(signature, &mut sig).map_err(|_| {
        AuthError::Incomplete("Authorization Signature is not 64 hex digits".into())
    })?;

    let mut signed_headers = Vec::new();
    let mut seen = HashSet::new();
    for name in signed.split(';') {
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace())
        {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be lower-case header names separated by ';'".into(),
            ));
        }
        if !seen.insert(name) {
            return Err(AuthError::Incomplete("SignedHeaders repeats a name".into()));
        }
        signed_headers.push(name);
    }
    Ok(Acs3Authorization {
        credential,
        signed_headers,
        signature: sig,
    })
}

fn parse_acs3(
    req: &RequestParts<'_>,
    authorization: &str,
    mut params: Vec<(String, String)>,
    query_len: usize,
) -> Result<AlibabaRequest, AuthError> {
    let auth = parse_authorization(authorization)?;
    for must in ACS3_REQUIRED_SIGNED_HEADERS {
        if !auth.signed_headers.contains(&must) {
            return Err(AuthError::Incomplete(format!(
                "header {must} must be signed"
            )));
        }
    }
    // A single, present value for each header whose meaning we take from it.
    let header = |name: &str| -> Result<&str, AuthError> {
        match req.single_header(name)? {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => Err(AuthError::Incomplete(format!("header {name} is missing"))),
        }
    };
    // Host is only checked for presence and uniqueness: its value is signed exactly as
    // received, so whatever the client put there (port, even a scheme prefix) is what counts.
    header("host")?;
    let action = header("x-acs-action")?.to_owned();
    let version = header("x-acs-version")?.to_owned();
    let content_sha = header("x-acs-content-sha256")?;
    let nonce = header("x-acs-signature-nonce")?.to_owned();
    let timestamp = parse_timestamp(header("x-acs-date")?)?;

    let security_token = match req.single_header("x-acs-security-token")? {
        Some(token) => {
            if !auth.signed_headers.contains(&"x-acs-security-token") {
                return Err(AuthError::Incomplete(
                    "header x-acs-security-token must be signed".into(),
                ));
            }
            Some(token.trim().to_owned())
        }
        None => None,
    };
    // The content type decides whether the body is read as form parameters (`is_form_body`),
    // and the signature covers the body only as bytes: a content type outside the signature
    // could be changed on the way to drop every body parameter (or make a body that was not
    // meant as a form into parameters) without touching the signature. Alibaba's
    // generation-2 SDKs sign it whenever they send it (`alibabacloud_openapi_util`'s
    // `get_canonicalized_headers` signs every header of the request; `@alicloud/openapi-util`
    // signs `x-acs-*`, `host` and `content-type`).
    if req.single_header("content-type")?.is_some()
        && !auth.signed_headers.contains(&"content-type")
    {
        return Err(AuthError::Incomplete(
            "header content-type must be signed".into(),
        ));
    }
    // STS clients repeat the key id in a header; two different ids would be ambiguous.
    if let Some(id) = req.single_header("x-acs-accesskey-id")? {
        if id.trim() != auth.credential {
            return Err(AuthError::Incomplete(
                "x-acs-accesskey-id does not match Credential".into(),
            ));
        }
    }

    // The signature covers the body only through this digest, so it must match what arrived.
    if !content_sha.eq_ignore_ascii_case(&content_sha256_hex(req.body)) {
        return Err(AuthError::ContentHashMismatch);
    }

    let query = params.get(..query_len).unwrap_or(&params[..]);
    let canonical = sign::acs3_canonical_request(
        req.method,
        query,
        &auth.signed_headers,
        req.headers,
        content_sha,
    )?;
    let string_to_sign = sign::acs3_string_to_sign_from_canonical(&canonical);

    // `Signature` means nothing in ACS3 (it is signed like any query parameter above), but the
    // parameter list handed to dialects never contains it, whatever the scheme.
    params.retain(|(k, _)| k != "Signature");
    Ok(AlibabaRequest {
        scheme: Scheme::Acs3,
        access_key_id: auth.credential.to_owned(),
        nonce,
        timestamp,
        action: Some(action),
        version: Some(version),
        security_token,
        params,
        string_to_sign,
        signature: ReceivedSignature::Acs3(auth.signature),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, no fraction) to Unix seconds.
fn parse_timestamp(s: &str) -> Result<i64, AuthError> {
    // The shape is checked by hand first so that nothing looser than the documented format
    // (signs, more year digits) gets through whatever the date library tolerates.
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(AuthError::BadTimestampFormat);
    }
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    PrimitiveDateTime::parse(s, format)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| AuthError::BadTimestampFormat)
}

fn is_form_body(req: &RequestParts<'_>) -> Result<bool, AuthError> {
    Ok(match req.single_header("content-type")? {
        Some(ct) => ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded"),
        None => false,
    })
}

fn reject_duplicates(params: &[(String, String)]) -> Result<(), AuthError> {
    let mut seen = HashSet::with_capacity(params.len());
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            return Err(AuthError::DuplicateParameter(name.clone()));
        }
    }
    Ok(())
}

fn find<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests;
