//! Huawei's error bodies and codes (Huawei's CSMS API reference) and the mapping from
//! coffer's neutral errors.

use coffer_api::Refusal;
use coffer_auth::AuthError;
use coffer_core::error::Resource;
use coffer_core::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// A throttled request's wait, sent as `Retry-After` (whole seconds, rounded up): the
    /// SDK's urllib3 retry (`HttpConfig.retry_times`, status 429 only) sleeps that long.
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// Over a secret quota: `CSMS.0202` (Huawei's error code table).
    pub fn secret_quota(what: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "CSMS.0202",
            format!("The number of secret has reached the upper limit: {what}."),
        )
    }

    /// A field that breaks its rule: the message names the field.
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "CSMS.0002",
            format!("The value of parameter {field} is invalid: {why}"),
        )
    }

    pub fn bad_body(why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "CSMS.0004",
            format!("The requested body format is wrong: {why}"),
        )
    }

    pub fn bad_request(why: impl std::fmt::Display) -> Self {
        Self::new(400, "CSMS.0003", format!("The request is invalid: {why}"))
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "CSMS.0005",
            format!("The resource does not exist: {what}"),
        )
    }

    pub fn auth(why: impl std::fmt::Display) -> Self {
        Self::new(
            401,
            "APIGW.0301",
            format!("Incorrect IAM authentication information: {why}"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound {
                what: Resource::Secret,
                name,
            } => ApiError::new(
                404,
                "CSMS.0106",
                format!("The secret name not found in the db: {name:?}."),
            ),
            Error::NotFound {
                what: Resource::Key,
                name,
            } => ApiError::invalid("kms_key_id", format!("the key {name:?} does not exist")),
            Error::NotFound {
                what: Resource::AccessKey,
                ..
            } => ApiError::auth("Get secretKey failed, ak not exist"),
            Error::NotFound { what, name } => {
                ApiError::not_found(&format!("the {} {name:?}", what.as_str()))
            }
            Error::AlreadyExists { what, name } => ApiError::invalid(
                "name",
                format!("the {} {name:?} already exists", what.as_str()),
            ),
            Error::InDeleteWindow { name } => ApiError::new(
                400,
                "CSMS.0103",
                format!("The secret {name:?} is in the scheduled deletion state."),
            ),
            Error::InvalidParameter { field, reason } => ApiError::invalid(&field, reason),
            Error::MissingParameter { field } => {
                ApiError::invalid(&field, "the parameter is required")
            }
            Error::InvalidState { reason, .. } => ApiError::new(
                400,
                "CSMS.0003",
                format!("The request is invalid: {reason}."),
            ),
            Error::Disabled {
                what: Resource::Key,
                name,
            } => ApiError::new(
                400,
                "CSMS.0401",
                format!("Can not use the KMS key {name:?}: it is disabled."),
            ),
            Error::Disabled { name, .. } => ApiError::new(
                403,
                "CSMS.0109",
                format!("The secret state is not enabled: {name:?}."),
            ),
            Error::LimitExceeded { what } => {
                ApiError::invalid("request", format!("limit exceeded: {what}"))
            }
            Error::Unsupported(why) => ApiError::invalid("request", why),
            Error::Database {
                instance,
                reason,
                reachable: true,
            } => ApiError::new(
                400,
                "CSMS.0003",
                format!("The database instance {instance:?} refused the request: {reason}."),
            ),
            Error::Database {
                instance, reason, ..
            } => ApiError::new(
                503,
                "CSMS.0503",
                format!("The database instance {instance:?} cannot be reached: {reason}."),
            ),
            // Requests reach CSMS through Huawei's API gateway, which throttles them with
            // APIG.0308 ("The throttling threshold has been reached", the gateway's error
            // code page; spelled APIGW like the gateway's authentication code). The SDK reads
            // only the status of a 429: its error_code becomes "429".
            Error::Throttled { retry_after_ms } => ApiError {
                retry_after_ms,
                ..ApiError::new(
                    429,
                    "APIGW.0308",
                    "The throttling threshold has been reached: policy user over ratelimit",
                )
            },
            Error::AccessDenied { action, resource } => ApiError::new(
                403,
                "CSMS.0403",
                format!("Not authorized to perform {action} on {resource}."),
            ),
            Error::Conflict => ApiError::new(
                409,
                "CSMS.0409",
                "The secret is being changed by other requests; retry.",
            ),
            // 503 with the service's code for it, as for an unreachable database: the
            // operation was not performed and may be retried.
            Error::Unavailable { reason } => ApiError::new(
                503,
                "CSMS.0503",
                format!("The service is temporarily unavailable: {reason}"),
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new(500, "CSMS.0500", "An internal error occurred.")
            }
        }
    }
}

/// A signature that is missing, malformed or wrong, in the gateway's words.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } => ApiError::auth("verify aksk signature fail"),
        // Undecodable input is the gateway's bad request, before any signature is judged.
        AuthError::BadEncoding(what) => gateway_bad_request(what),
        AuthError::BadTimestampFormat => {
            ApiError::auth("X-Sdk-Date is not formatted as YYYYMMDDTHHMMSSZ")
        }
        other => ApiError::auth(format!(
            "the request signature is missing or malformed: {other}"
        )),
    }
}

/// Huawei's API gateway answers before CSMS sees a request, with its own codes (Huawei's API
/// Gateway error codes, https://support.huaweicloud.com/intl/en-us/usermanual-apig/apig-ug-180530090.html):
/// `APIG.0201` with the status that says what was wrong (400 for a request it cannot read,
/// 413 for the body, 414 for the URI, 494 for the headers).
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::BodyTooLarge { .. } => ApiError::new(
            413,
            "APIG.0201",
            format!("Request entity too large. {}", r.describe()),
        ),
        Refusal::UriTooLong { .. } => ApiError::new(
            414,
            "APIG.0201",
            format!("Request URI too large. {}", r.describe()),
        ),
        Refusal::TooManyHeaders { .. } => ApiError::new(
            494,
            "APIG.0201",
            format!("Request headers too large. {}", r.describe()),
        ),
        Refusal::IncompleteBody => ApiError::bad_body(r.describe()),
    }
}

/// The gateway's answer to a request it cannot read (a path or query that does not decode).
pub fn gateway_bad_request(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(400, "APIG.0201", format!("API request error: {why}"))
}
