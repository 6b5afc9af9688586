//! Tencent Cloud API 3.0 request signatures (SSM `2019-09-23`, KMS `2019-01-18`).
//!
//! One endpoint (`/`) receives four request shapes, all produced by Tencent's own SDKs:
//!
//! | shape | signature | parameters |
//! |---|---|---|
//! | POST, `application/json` (SDK and tccli default) | TC3-HMAC-SHA256 in `Authorization` | JSON body |
//! | GET (`HttpProfile(reqMethod="GET")`) | TC3-HMAC-SHA256 in `Authorization` | flattened in the query |
//! | POST, form (`signMethod="HmacSHA1"/"HmacSHA256"`) | legacy v1 `Signature` field | flattened form fields |
//! | GET + legacy v1 | legacy v1 `Signature` field | flattened in the query |
//!
//! [`parse`] does everything that needs no secret: it picks the scheme (an `Authorization`
//! header means TC3, otherwise the request must carry a `Signature` field), checks the
//! structure and builds the string to sign. The caller looks up the secret for
//! [`TencentRequest::secret_id`] and calls [`TencentRequest::verify`]. Only after that should it
//! look at [`TencentRequest::params`], whose errors ([`AuthError::BadBody`]) are parameter
//! errors, not authentication errors.
//!
//! What `verify` does **not** do, on purpose:
//! - **The 300-second clock window.** Checking it needs the server's clock, which this crate
//!   does not own; the dialect calls [`crate::skew::within_window`] with
//!   [`TencentRequest::timestamp`] and [`SKEW_WINDOW_SECS`] (Tencent checks the window before
//!   the key lookup, so the dialect can answer `AuthFailure.SignatureExpire` first).
//! - **Replay**, which [`TencentRequest::admit`] decides after a successful verify (below).
//! - **Tokens.** `X-TC-Token` / `Token` is only reported; coffer issues no temporary
//!   credentials, so the dialect refuses any token.
//!
//! What the TC3 signature does not cover (Tencent's design, which the SDKs follow):
//! `X-TC-Action`, `X-TC-Version`, `X-TC-Region`, `X-TC-Token` and `X-TC-Language` are unsigned
//! unless a client chooses to sign them (the Python SDK's `_build_req_with_tc3_signature` in
//! `tencentcloud/common/abstract_client.py` signs only `content-type;host`), TC3 has no nonce,
//! and with `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` the body is unsigned too. A captured
//! `DescribeSecret {"SecretName":"x"}` is therefore, byte for byte, also a signed
//! `DeleteSecret` of `x` in another region. coffer closes that as follows:
//! - [`TencentRequest::admit`] remembers each accepted TC3 signature for the replay window with
//!   the action, version and region it was first used for, whether that action only reads,
//!   and the client's IP address. The same signature passes again for the same action,
//!   version and region (a retry, from anywhere, at any time in the window). For another
//!   action or region it passes only when both actions only read (change nothing, return no
//!   secret), or when it comes from the same IP address within [`SAME_CLIENT_GRACE`] of the
//!   first use with the same version. Anything else is a replay. (Another version names the
//!   other service, which the signature's credential scope does not: the dialect refuses that
//!   too.)
//!
//!   The two exceptions exist because the SDK's own calls share signatures: two calls with the
//!   same parameters signed in the same second carry one signature whatever their action or
//!   region, as `DisableSecret` then `DeleteSecret` of one secret (Tencent's deletion
//!   sequence, from one program or from two `tccli` runs), `GetServiceStatus` and `GetRegions`
//!   from two clients, or one `CreateSecret` sent to several regions. What stays open is
//!   narrow: a read replayed as another read (in any region), and a request replayed as
//!   something else from the client's own address (its host, or a NAT or proxy it shares: all
//!   clients share the address of a reverse proxy in front of coffer) within seconds of the
//!   original. Legacy v1 requests sign every field and carry a `Nonce`, which is remembered
//!   instead.
//! - The dialect refuses `UNSIGNED-PAYLOAD` with a non-empty body
//!   ([`TencentRequest::unsigned_payload`]): nothing would bind the parameters to the
//!   signature.

mod flat;
mod sign;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use base64::Engine as _;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

pub use sign::{
    sign_tc3, sign_v1, tc3_post_json_headers, V1Algorithm, TC3_ALGORITHM, UNSIGNED_PAYLOAD,
};

use crate::encoding::form_decode;
use crate::nonce::Admission;
#[cfg(doc)]
use crate::nonce::SignatureCache;
use crate::replay::{ReplayGuard, ReplayUnavailable, SignedUse};
use crate::{AuthError, RequestParts};

/// Tencent rejects requests whose timestamp is more than 300 seconds from server time
/// (`AuthFailure.SignatureExpire`). Checked by the dialect, not by [`TencentRequest::verify`].
pub const SKEW_WINDOW_SECS: i64 = 300;

/// How long after a TC3 signature's first use the same client address may use it for another
/// action (see the module documentation). The SDK's calls share a signature only when they are
/// signed in the same second, so the second call arrives within about a second of the first
/// (plus network jitter); the rest is margin.
pub const SAME_CLIENT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// API version of Secrets Manager.
pub const SSM_VERSION: &str = "2019-09-23";

/// API version of KMS.
pub const KMS_VERSION: &str = "2019-01-18";

/// The v1 common fields: request metadata, never action parameters, so they are left out of
/// [`TencentRequest::params`].
pub const V1_COMMON_FIELDS: [&str; 11] = [
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "SignatureMethod",
    "Signature",
    "RequestClient",
    "Language",
    "Token",
];

/// Which scheme signed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// TC3-HMAC-SHA256, signature in the `Authorization` header.
    Tc3,
    /// Legacy v1, signature in the `Signature` field, HMAC per `SignatureMethod`.
    V1(V1Algorithm),
}

/// The service a TC3 credential scope names, among those coffer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `ssm`: Secrets Manager.
    Ssm,
    /// `kms`: Key Management Service.
    Kms,
}

impl Service {
    /// The service for a credential-scope name; `None` for services coffer does not serve.
    pub fn from_scope(name: &str) -> Option<Self> {
        match name {
            "ssm" => Some(Self::Ssm),
            "kms" => Some(Self::Kms),
            _ => None,
        }
    }

    /// The credential-scope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssm => "ssm",
            Self::Kms => "kms",
        }
    }
}

/// A request whose signature has been parsed (not yet verified).
pub struct TencentRequest {
    /// The signing scheme.
    pub scheme: Scheme,
    /// The access key id: from `Credential=` (TC3) or the `SecretId` field (v1).
    pub secret_id: String,
    /// Unix seconds: `X-TC-Timestamp` (TC3) or the `Timestamp` field (v1).
    pub timestamp: i64,
    /// `X-TC-Action` (TC3) or `Action` (v1); `None` when absent (the dialect answers
    /// `MissingParameter`).
    pub action: Option<String>,
    /// `X-TC-Version` (TC3) or `Version` (v1).
    pub version: Option<String>,
    /// `X-TC-Region` (TC3) or `Region` (v1); the SDK omits it for a client without a region.
    pub region: Option<String>,
    /// `X-TC-Token` (TC3) or `Token` (v1): temporary-credential token, if any.
    pub token: Option<String>,
    /// `X-TC-Language` (TC3) or `Language` (v1): `zh-CN` or `en-US` from the SDKs.
    pub language: Option<String>,
    /// TC3 only: the `YYYY-MM-DD` of the credential scope, as sent.
    pub credential_date: Option<String>,
    /// TC3 only: the service of the credential scope, as sent (see [`TencentRequest::service`]).
    pub credential_service: Option<String>,
    /// v1 only: the `Nonce` field.
    pub nonce: Option<String>,
    /// TC3 only: `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` took the body out of the signature.
    pub unsigned_payload: bool,
    string_to_sign: String,
    /// TC3 only, when the Host header carries a port: the string to sign with the host signed
    /// without it, as the Node.js SDK signs (see [`TencentRequest::verify`]).
    port_free_string_to_sign: Option<String>,
    /// TC3 only: the Host header as received (trimmed); its first label may be the scope's
    /// service (see [`TencentRequest::verify`]).
    host: String,
    signature: ReceivedSignature,
    params: ParamSource,
}

enum ReceivedSignature {
    /// The 32 bytes behind `Signature=<hex>`, and the scope the key is derived for.
    Tc3 {
        date: String,
        service: String,
        mac: [u8; 32],
    },
    /// The `Signature` field as sent (base64).
    V1(V1Algorithm, String),
}

/// Where the action parameters come from; decoded on demand by [`TencentRequest::params`].
enum ParamSource {
    /// TC3 POST: the raw body, a JSON object.
    Json(Vec<u8>),
    /// TC3 GET: the raw query (it is signed raw, so decoding waits until it is needed).
    Query(String),
    /// v1: the decoded fields, common fields already removed.
    Fields(Vec<(String, String)>),
}

impl TencentRequest {
    /// Checks the signature against `secret_key`, in constant time.
    ///
    /// For TC3 the credential scope must also be right: its date must be the UTC date of
    /// [`Self::timestamp`], and its service either `ssm` or `kms` or the first label of the
    /// Host header (below; the dialect checks that a scope naming an API, see
    /// [`Self::api_named_by_scope`], names the one of the request's version); otherwise this is a [`AuthError::SignatureMismatch`] too (Tencent answers
    /// `AuthFailure.SignatureFailure`). The clock window is not checked here (see the module
    /// docs).
    ///
    /// Two ways of signing are accepted, each only when the signature proves the secret key
    /// over the request as that SDK canonicalises it:
    /// - **Canonical** (the Python SDK, tccli, Tencent's documentation): the `host` line is the
    ///   Host header as sent (`127.0.0.1:7080`), the scope's service names the API (`ssm`,
    ///   `kms`).
    /// - **Node.js SDK** (`tencentcloud-sdk-nodejs-common` 4.x, `tencentcloud/common/sign.js`
    ///   `Sign.sign3` and `abstract_client.js` `doRequestWithSign3`): the `host` line is
    ///   `new URL(url).hostname`, the Host header *without its port*, and the scope's service is
    ///   `endpoint.split(".")[0]`, the first dot-separated label of the endpoint the client was
    ///   given (`127` for `127.0.0.1:7080`, `localhost:7080` for `localhost:7080`, `coffer` for
    ///   `coffer.internal:7080`), which is also the first label of the Host header it sends.
    ///
    /// The canonical host line is tried first; the port-free one only when that fails and the
    /// Host header has a port. A service that is neither `ssm`/`kms` nor the Host's first label
    /// is refused, and so is one taken from a Host of Tencent's own API domain
    /// (`*.tencentcloudapi.com`, where a signature is for Tencent and names its real service),
    /// so a signature made for another Tencent service is never accepted. A scope that is the
    /// endpoint's label names no API, so the version (unsigned in TC3 like the action and
    /// region) is then bound only by the replay rules of [`Self::admit`].
    ///
    /// The mismatch error carries the server's string to sign to keep the variant's shape;
    /// Tencent does not echo it to clients.
    pub fn verify(&self, secret_key: &[u8]) -> Result<(), AuthError> {
        let ok = match &self.signature {
            ReceivedSignature::Tc3 { date, service, mac } => {
                let scope_ok = sign::utc_date(self.timestamp).as_deref() == Some(date.as_str())
                    && (Service::from_scope(service).is_some()
                        || sign::is_endpoint_label(&self.host, service));
                let want = sign::tc3_mac_cached(
                    &self.secret_id,
                    secret_key,
                    date,
                    service,
                    &self.string_to_sign,
                );
                // The scope facts and which host form matched are public; only the MAC
                // comparisons need constant time.
                let mut mac_ok = bool::from(want.ct_eq(mac));
                if !mac_ok {
                    if let Some(alt) = &self.port_free_string_to_sign {
                        let want =
                            sign::tc3_mac_cached(&self.secret_id, secret_key, date, service, alt);
                        mac_ok = bool::from(want.ct_eq(mac));
                    }
                }
                mac_ok && scope_ok
            }
            ReceivedSignature::V1(algorithm, sent) => {
                let mac = sign::v1_mac(*algorithm, secret_key, &self.string_to_sign);
                let want = base64::engine::general_purpose::STANDARD.encode(mac);
                // ct_eq of slices of different lengths is false; the length is public.
                bool::from(want.as_bytes().ct_eq(sent.as_bytes()))
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

    /// The replay check of a verified request, at `now_unix_secs` (call it after
    /// [`Self::verify`] and the clock window, so that only authentic requests take room).
    ///
    /// Legacy v1: the (`SecretId`, `Nonce`) pair must be new to `guard`. TC3: the signature is
    /// shown to `guard` (see [`SignatureCache`] for the rules) with its meaning (action,
    /// version, region), whether the action only reads (`reads_only`: the dialect's judgement,
    /// for actions that change nothing and return no secret value or key material), and the
    /// client (its IP address from `peer`, with the version). See the module documentation for
    /// why. [`Admission::Full`] when the guard cannot remember the request.
    pub async fn admit(
        &self,
        guard: &dyn ReplayGuard,
        peer: Option<SocketAddr>,
        reads_only: bool,
        now_unix_secs: i64,
    ) -> Result<Admission, ReplayUnavailable> {
        match &self.signature {
            ReceivedSignature::V1(..) => {
                guard
                    .admit_nonce(
                        &self.secret_id,
                        self.nonce.as_deref().unwrap_or(""),
                        self.timestamp,
                        now_unix_secs,
                    )
                    .await
            }
            ReceivedSignature::Tc3 { mac, .. } => {
                // Every header this type hands the dialect that no TC3 signature is required to
                // cover, except the token (refused when present) and the language (only the
                // language of messages, which coffer does not translate).
                let version = self.version.as_deref();
                let used = SignedUse::new(
                    &[self.action.as_deref(), version, self.region.as_deref()],
                    reads_only,
                    peer.map(|p| p.ip()),
                    &[version],
                );
                guard
                    .admit_signature(&self.secret_id, mac, used, self.timestamp, now_unix_secs)
                    .await
            }
        }
    }

    /// The string the server computed: the TC3 StringToSign, or the v1 source string.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The service of a TC3 credential scope when it names one coffer serves; `None` for v1
    /// requests (their signature names no service) and for a scope that is the endpoint's
    /// first label (the Node.js SDK's, see [`Self::verify`]), which names no API.
    pub fn service(&self) -> Option<Service> {
        self.credential_service
            .as_deref()
            .and_then(Service::from_scope)
    }

    /// The API a TC3 scope binds the request to: its service when that is `ssm` or `kms` and
    /// not also the Host's first label. A scope that is the Host's first label may be the
    /// Node.js SDK's endpoint label (`ssm` for the endpoint `ssm.example:7080`, whatever API
    /// the client calls), so it binds no API; neither does a v1 request.
    pub fn api_named_by_scope(&self) -> Option<Service> {
        let service = self.credential_service.as_deref()?;
        if sign::is_endpoint_label(&self.host, service) {
            return None;
        }
        Service::from_scope(service)
    }

    /// The action parameters as a JSON object.
    ///
    /// TC3 POST: the body parsed as JSON (an empty body is `{}`). GET and form requests: the
    /// flattened names rebuilt into objects and arrays (`Tags.0.TagKey`), every value a JSON
    /// string, the v1 common fields left out. Anything unusable is [`AuthError::BadBody`];
    /// call this only after [`Self::verify`] succeeded, so that a forged request gets an
    /// authentication error rather than a parameter error.
    /// Whether the parameters arrived as typed JSON (a TC3 POST body), where every value has
    /// its declared JSON type, rather than as text fields (a query or a form) rebuilt into the
    /// same shape, where every value is a string.
    pub fn params_are_typed(&self) -> bool {
        matches!(self.params, ParamSource::Json(_))
    }

    pub fn params(&self) -> Result<Value, AuthError> {
        let map = match &self.params {
            ParamSource::Json(body) => json_object(body)?,
            ParamSource::Query(raw) => {
                let pairs = form_decode(raw.as_bytes(), "query")
                    .map_err(|e| AuthError::BadBody(e.to_string()))?;
                reject_duplicates(&pairs).map_err(|e| AuthError::BadBody(e.to_string()))?;
                let pairs: Vec<(String, String)> = pairs
                    .into_iter()
                    .filter(|(k, _)| !V1_COMMON_FIELDS.contains(&k.as_str()))
                    .collect();
                flat::unflatten(&pairs).map_err(AuthError::BadBody)?
            }
            ParamSource::Fields(pairs) => flat::unflatten(pairs).map_err(AuthError::BadBody)?,
        };
        Ok(Value::Object(map))
    }
}

impl fmt::Debug for TencentRequest {
    // Parameter values can be secrets being stored and tokens are credentials: neither is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentRequest")
            .field("scheme", &self.scheme)
            .field("secret_id", &self.secret_id)
            .field("timestamp", &self.timestamp)
            .field("action", &self.action)
            .field("version", &self.version)
            .field("region", &self.region)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("language", &self.language)
            .field("credential_date", &self.credential_date)
            .field("credential_service", &self.credential_service)
            .field("nonce", &self.nonce)
            .field("unsigned_payload", &self.unsigned_payload)
            .finish_non_exhaustive()
    }
}

/// Parses and structurally checks a request signed with TC3-HMAC-SHA256 or legacy v1.
///
/// Errors: [`AuthError::Incomplete`] for a missing or malformed signature (garbled
/// `Authorization`, another algorithm, `content-type` or `host` not signed, a signed header
/// absent, a required v1 field missing, a method other than GET/POST);
/// [`AuthError::BadTimestampFormat`] for a timestamp that is not decimal Unix seconds;
/// [`AuthError::BadEncoding`] / [`AuthError::DuplicateParameter`] for v1 fields that cannot be
/// decoded unambiguously (the v1 signature is over the decoded fields, so this must be known
/// before verifying). Never looks at the clock.
pub fn parse(req: &RequestParts<'_>) -> Result<TencentRequest, AuthError> {
    // Both schemes put the method into what is signed; the SDKs only ever use these two.
    if req.method != "GET" && req.method != "POST" {
        return Err(AuthError::Incomplete("method must be GET or POST".into()));
    }
    match req.single_header("authorization")? {
        Some(auth) => parse_tc3(req, auth),
        None => parse_v1(req),
    }
}

// ----------------------------------------------------------------------------------- TC3

struct Tc3Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Result<Tc3Authorization<'_>, AuthError> {
    let [credential, signed, signature] = crate::hmac_request::authorization_fields(
        value,
        TC3_ALGORITHM,
        ["Credential", "SignedHeaders", "Signature"],
    )?;

    // <SecretId>/<YYYY-MM-DD>/<service>/tc3_request. A well-formed but wrong date or service
    // is a signature failure decided in `verify`; a malformed one is not a TC3 credential.
    let parts: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, terminator] = parts[..] else {
        return Err(AuthError::Incomplete("malformed Credential".into()));
    };
    let date_shape = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    // `ssm`/`kms`, or the first label of an endpoint as the Node.js SDK takes it (a host
    // name label, an IPv4 address's first number, or a whole `name:port` / `[v6]:port`).
    let service_shape = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:[]".contains(&b));
    if secret_id.is_empty() || !date_shape || !service_shape || terminator != sign::TC3_TERMINATOR {
        return Err(AuthError::Incomplete("malformed Credential".into()));
    }

    let mut mac = [0u8; 32];
    hex::decode_to_slice(signature, &mut mac).map_err(|_| {
        AuthError::Incomplete("Authorization Signature is not 64 hex digits".into())
    })?;

    let mut signed_headers = Vec::new();
    let mut seen = HashSet::new();
    for name in signed.split(';') {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(AuthError::Incomplete(
                "SignedHeaders must be lower-case header names separated by ';'".into(),
            ));
        }
        if !seen.insert(name) {
            return Err(AuthError::Incomplete("SignedHeaders repeats a name".into()));
        }
        signed_headers.push(name);
    }
    // Without these two a signature could be moved to another host or content type; Tencent
    // refuses such requests too.
    for must in ["content-type", "host"] {
        if !seen.contains(must) {
            return Err(AuthError::Incomplete(format!(
                "header {must} must be signed"
            )));
        }
    }
    Ok(Tc3Authorization {
        secret_id,
        date,
        service,
        signed_headers,
        signature: mac,
    })
}

fn parse_tc3(req: &RequestParts<'_>, authorization: &str) -> Result<TencentRequest, AuthError> {
    let auth = parse_authorization(authorization)?;

    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        match req.single_header(name)? {
            Some(value) => signed.push((*name, value)),
            None => {
                return Err(AuthError::Incomplete(format!(
                    "signed header {name} is not present"
                )))
            }
        }
    }

    // The text as received goes into the string to sign; the number is for the window check.
    let timestamp_text = match req.single_header("x-tc-timestamp")? {
        Some(t) => t.trim(),
        None => {
            return Err(AuthError::Incomplete(
                "header X-TC-Timestamp is missing".into(),
            ))
        }
    };
    let timestamp = parse_unix(timestamp_text)?;

    let unsigned_payload = req
        .single_header("x-tc-content-sha256")?
        .is_some_and(|v| v.trim() == UNSIGNED_PAYLOAD);
    // GET signs the query exactly as it arrived (unsorted, `+` for space); POST signs none, so
    // a query on a POST is unsigned and therefore ignored.
    let (canonical_query, params) = if req.method == "GET" {
        (req.raw_query, ParamSource::Query(req.raw_query.to_owned()))
    } else {
        ("", ParamSource::Json(req.body.to_vec()))
    };
    // The body is hashed for GET too: clients send none, and a GET body must not be
    // unsigned data.
    let canonical = sign::tc3_canonical_request(
        req.method,
        canonical_query,
        &signed,
        &sign::tc3_payload_hash(req.body, unsigned_payload),
    );
    let string_to_sign =
        sign::tc3_string_to_sign(timestamp_text, auth.date, auth.service, &canonical);
    // `host` is always signed (parse_authorization requires it), so it is in `signed`.
    let host = signed
        .iter()
        .find(|(n, _)| *n == "host")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let port_free_string_to_sign = sign::host_without_port(&host).map(|name| {
        let port_free: Vec<(&str, &str)> = signed
            .iter()
            .map(|(n, v)| if *n == "host" { (*n, name) } else { (*n, *v) })
            .collect();
        let canonical = sign::tc3_canonical_request(
            req.method,
            canonical_query,
            &port_free,
            &sign::tc3_payload_hash(req.body, unsigned_payload),
        );
        sign::tc3_string_to_sign(timestamp_text, auth.date, auth.service, &canonical)
    });

    let header = |name: &str| -> Result<Option<String>, AuthError> {
        Ok(req.single_header(name)?.map(|v| v.trim().to_owned()))
    };
    Ok(TencentRequest {
        scheme: Scheme::Tc3,
        secret_id: auth.secret_id.to_owned(),
        timestamp,
        action: header("x-tc-action")?,
        version: header("x-tc-version")?,
        region: header("x-tc-region")?,
        token: header("x-tc-token")?,
        language: header("x-tc-language")?,
        credential_date: Some(auth.date.to_owned()),
        credential_service: Some(auth.service.to_owned()),
        nonce: None,
        unsigned_payload,
        string_to_sign,
        port_free_string_to_sign,
        host,
        signature: ReceivedSignature::Tc3 {
            date: auth.date.to_owned(),
            service: auth.service.to_owned(),
            mac: auth.signature,
        },
        params,
    })
}

// ------------------------------------------------------------------------------------ v1

fn parse_v1(req: &RequestParts<'_>) -> Result<TencentRequest, AuthError> {
    // The fields live in the query (GET) or the form body (POST), never both: the v1 signature
    // covers only that one source.
    let fields = if req.method == "GET" {
        form_decode(req.raw_query.as_bytes(), "query")?
    } else if is_form(req)? {
        form_decode(req.body, "body")?
    } else {
        return Err(AuthError::Incomplete(
            "neither an Authorization header nor a form-encoded Signature".into(),
        ));
    };
    reject_duplicates(&fields)?;
    let find = |name: &str| -> Option<&str> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str| -> Result<String, AuthError> {
        match find(name) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(AuthError::Incomplete(format!("field {name} is missing"))),
        }
    };
    let signature = required("Signature")?;
    let algorithm = match find("SignatureMethod") {
        None | Some("HmacSHA1") => V1Algorithm::HmacSha1,
        Some("HmacSHA256") => V1Algorithm::HmacSha256,
        // Error messages never echo what was sent.
        Some(_) => {
            return Err(AuthError::Incomplete(
                "SignatureMethod must be HmacSHA1 or HmacSHA256".into(),
            ))
        }
    };
    let secret_id = required("SecretId")?;
    let nonce = required("Nonce")?;
    let timestamp = parse_unix(&required("Timestamp")?)?;
    let host = match req.single_header("host")? {
        Some(h) if !h.trim().is_empty() => h.trim(),
        _ => return Err(AuthError::Incomplete("header Host is missing".into())),
    };
    let optional = |name: &str| find(name).map(str::to_owned);
    let (action, version, region, token, language) = (
        optional("Action"),
        optional("Version"),
        optional("Region"),
        optional("Token"),
        optional("Language"),
    );

    let unsigned: Vec<&(String, String)> =
        fields.iter().filter(|(k, _)| k != "Signature").collect();
    let pairs: Vec<(&str, &str)> = unsigned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let string_to_sign = sign::v1_source(req.method, host, &pairs);

    let params = fields
        .iter()
        .filter(|(k, _)| !V1_COMMON_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(TencentRequest {
        scheme: Scheme::V1(algorithm),
        secret_id,
        timestamp,
        action,
        version,
        region,
        token,
        language,
        credential_date: None,
        credential_service: None,
        nonce: Some(nonce),
        unsigned_payload: false,
        string_to_sign,
        port_free_string_to_sign: None,
        host: host.to_owned(),
        signature: ReceivedSignature::V1(algorithm, signature),
        params: ParamSource::Fields(params),
    })
}

// ------------------------------------------------------------------------------- helpers

/// Decimal Unix seconds, digits only (no sign, no fraction, no spaces inside).
fn parse_unix(s: &str) -> Result<i64, AuthError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::BadTimestampFormat);
    }
    s.parse().map_err(|_| AuthError::BadTimestampFormat)
}

fn is_form(req: &RequestParts<'_>) -> Result<bool, AuthError> {
    Ok(req.single_header("content-type")?.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    }))
}

fn reject_duplicates(fields: &[(String, String)]) -> Result<(), AuthError> {
    let mut seen = HashSet::with_capacity(fields.len());
    for (name, _) in fields {
        if !seen.insert(name.as_str()) {
            return Err(AuthError::DuplicateParameter(name.clone()));
        }
    }
    Ok(())
}

/// A TC3 POST body as a JSON object; an empty body is an empty object (actions without
/// parameters, such as GetRegions, may be sent that way).
fn json_object(body: &[u8]) -> Result<Map<String, Value>, AuthError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::BadBody(
            "the request body must be a JSON object".into(),
        )),
        // Position only: serde_json's syntax messages do not quote input, but the position is
        // all a client needs and certainly leaks nothing.
        Err(e) => Err(AuthError::BadBody(format!(
            "the request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

#[cfg(test)]
mod tests;
