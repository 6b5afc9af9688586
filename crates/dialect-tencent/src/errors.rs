//! Tencent's error codes (Tencent's SSM API reference) and the mapping from coffer's
//! neutral errors. Tencent answers every error with HTTP 200 and the code in the body; any
//! other status makes the SDK lose the code.

use coffer_api::Refusal;
use coffer_auth::AuthError;
use coffer_core::error::Resource;
use coffer_core::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A value that breaks a rule (regex, length, range, enum, encoding).
    pub fn invalid_value(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidParameterValue",
            format!("The value of {param} is invalid: {why}"),
        )
    }

    /// A value of the wrong JSON type, or a body that is not JSON.
    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidParameter",
            format!("The parameter {param} is invalid: {why}"),
        )
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The parameter {param} is required."),
        )
    }

    pub fn denied(why: impl Into<String>) -> Self {
        Self::new("OperationDenied", why)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound {
                what: Resource::AccessKey,
                ..
            } => ApiError::new("AuthFailure.SecretIdNotFound", "The SecretId is not found."),
            Error::NotFound {
                what: Resource::Key,
                name,
            } => ApiError::invalid_value("KmsKeyId", format!("the key {name:?} does not exist")),
            Error::NotFound { what, name } => ApiError::new(
                "ResourceNotFound",
                format!("The {} {name:?} does not exist.", what.as_str()),
            ),
            Error::AlreadyExists {
                what: Resource::Version,
                name,
            } => ApiError::new(
                "ResourceInUse.VersionIdExists",
                format!("The version {name:?} already exists."),
            ),
            Error::AlreadyExists { what, name } => ApiError::new(
                "ResourceInUse.SecretExists",
                format!("The {} {name:?} already exists.", what.as_str()),
            ),
            Error::InDeleteWindow { name } => ApiError::new(
                "ResourceUnavailable.ResourcePendingDeleted",
                format!("The secret {name:?} is scheduled for deletion."),
            ),
            Error::InvalidParameter { field, reason } => ApiError::invalid_value(&field, reason),
            Error::MissingParameter { field } => ApiError::missing(&field),
            Error::InvalidState { reason, .. } => {
                ApiError::denied(format!("Operation denied: {reason}."))
            }
            Error::Disabled {
                what: Resource::Key,
                name,
            } => ApiError::new(
                "FailedOperation.AccessKmsError",
                format!("The key {name:?} is disabled."),
            ),
            Error::Disabled { what, name } => ApiError::new(
                "ResourceUnavailable.ResourceDisabled",
                format!("The {} {name:?} is disabled.", what.as_str()),
            ),
            Error::LimitExceeded { what } => {
                ApiError::new("LimitExceeded", format!("Limit exceeded: {what}."))
            }
            Error::Unsupported(why) => ApiError::new("UnsupportedOperation", why),
            Error::Database {
                instance,
                reason,
                reachable,
            } => ApiError::new(
                "FailedOperation",
                if reachable {
                    format!("The database instance {instance:?} refused the request: {reason}.")
                } else {
                    format!("The database instance {instance:?} cannot be reached: {reason}.")
                },
            ),
            // The SDK's StandardRetryer retries this code with a backoff of its own; Tencent
            // sends no wait time.
            Error::Throttled { .. } => ApiError::new(
                "RequestLimitExceeded",
                "The request frequency limit of this API is exceeded; retry later.",
            ),
            Error::AccessDenied { action, resource } => ApiError::new(
                "UnauthorizedOperation",
                format!("Not authorized to perform {action} on {resource}."),
            ),
            Error::Conflict => ApiError::new(
                "FailedOperation",
                "The secret is being changed by other requests; retry.",
            ),
            // Tencent's common code `FailedOperation` ("the operation failed"; Tencent's
            // API 3.0 common error codes): the operation was not performed. Like every
            // Tencent error it travels with HTTP 200.
            Error::Unavailable { reason } => ApiError::new(
                "FailedOperation",
                format!("The operation was not performed: {reason}"),
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new("InternalError", "An internal error occurred.")
            }
        }
    }
}

/// A signature that does not check out, or a request too garbled to check.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } | AuthError::ContentHashMismatch => ApiError::new(
            "AuthFailure.SignatureFailure",
            "The request signature does not match the one computed by the server.",
        ),
        other => ApiError::new(
            "AuthFailure.InvalidAuthorization",
            format!("The Authorization of the request is invalid: {other}"),
        ),
    }
}

/// A request refused for its shape before it was read. Tencent's API 3.0 names one common
/// code for a request over its size limits, `RequestSizeLimitExceeded` (Tencent's common
/// error codes, https://www.tencentcloud.com/document/api/1140/40525); it covers the URI and
/// the header block as much as the body. Like every Tencent error it travels with HTTP 200,
/// so that the SDK reads the code.
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::IncompleteBody => ApiError::invalid("body", r.describe()),
        Refusal::BodyTooLarge { .. }
        | Refusal::UriTooLong { .. }
        | Refusal::TooManyHeaders { .. } => ApiError::new("RequestSizeLimitExceeded", r.describe()),
    }
}

/// Tencent's API 3.0 takes GET and POST only; other methods get its common code for it.
pub fn unsupported_method(method: &str) -> ApiError {
    ApiError::new(
        "UnsupportedProtocol",
        format!(
            "HTTP(S) request protocol error: only GET and POST requests are supported, not {}.",
            shown_method(method)
        ),
    )
}

/// A method as an error message may show it: methods are tokens of the client's choosing,
/// so a long one is not echoed.
pub fn shown_method(method: &str) -> &str {
    if method.len() <= 16 {
        method
    } else {
        "this method"
    }
}
