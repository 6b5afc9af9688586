//! Alibaba's error codes and statuses (Alibaba's KMS API reference), and the mappings to
//! them from coffer's neutral errors and from signature failures.

use coffer_api::Refusal;
use coffer_auth::AuthError;
use coffer_core::error::Resource;
use coffer_core::Error;

use crate::render::{render, Format, Node};

/// An error as Alibaba reports it: HTTP status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// A throttled request's wait, sent as `x-acs-retry-after` (milliseconds): the
    /// generation-2 SDK raises `ThrottlingException(retry_after=...)` for it and its retry
    /// policy waits that long (alibabacloud_tea_openapi `get_throttling_time_left`).
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

    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{param}\" is not valid. {why}"),
        )
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!("The parameter \"{param}\" is needed but not provided."),
        )
    }

    pub fn unsupported(why: impl Into<String>) -> Self {
        Self::new(400, "UnsupportedOperation", why)
    }

    /// The body both SDK generations parse: JSON unless the request asked for XML.
    pub fn body(&self, format: Format, request_id: &str, host: &str) -> Vec<u8> {
        let fields = [
            ("RequestId", Node::str(request_id)),
            ("HostId", Node::str(host)),
            ("Code", Node::str(self.code)),
            ("Message", Node::str(self.message.clone())),
            (
                "Recommend",
                Node::str(format!(
                    "https://api.aliyun.com/troubleshoot?q={}",
                    self.code
                )),
            ),
            ("HttpStatus", Node::Int(self.status as i64)),
        ];
        render(format, "Error", &fields)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound {
                what: Resource::Key,
                name,
            } => ApiError::new(
                404,
                "Forbidden.KeyNotFound",
                format!("The specified key {name:?} is not found."),
            ),
            Error::NotFound {
                what: Resource::AccessKey,
                ..
            } => ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "The AccessKey ID provided does not exist in our records.",
            ),
            Error::NotFound { what, name } => ApiError::new(
                404,
                "Forbidden.ResourceNotFound",
                format!(
                    "The resource is not found: the {} {name:?} does not exist.",
                    what.as_str()
                ),
            ),
            Error::AlreadyExists { what, name } => ApiError::new(
                409,
                "Rejected.ResourceExist",
                format!(
                    "The resource already exists: the {} {name:?}.",
                    what.as_str()
                ),
            ),
            Error::InDeleteWindow { name } => ApiError::new(
                409,
                "Rejected.ResourceInDeleteWindow",
                format!("The secret {name:?} is planned to be deleted."),
            ),
            Error::InvalidParameter { field, reason } => ApiError::invalid(&field, reason),
            Error::InvalidState { reason, .. } => ApiError::invalid("SecretName", reason),
            Error::MissingParameter { field } => ApiError::missing(&field),
            Error::Disabled { what, name } => ApiError::new(
                409,
                "Rejected.Disabled",
                format!("The {} {name:?} is disabled.", what.as_str()),
            ),
            Error::LimitExceeded { what } => ApiError::new(
                400,
                "Rejected.LimitExceeded",
                format!("The quota is exceeded: {what}."),
            ),
            Error::Unsupported(why) => ApiError::unsupported(why),
            Error::Database {
                instance,
                reason,
                reachable: true,
            } => ApiError::new(
                400,
                "InvalidParameter",
                format!("The database instance {instance:?} refused the request: {reason}."),
            ),
            Error::Database {
                instance, reason, ..
            } => ApiError::new(
                503,
                "ServiceUnavailableTemporary",
                format!("The database instance {instance:?} cannot be reached: {reason}."),
            ),
            // KMS's quota page ("Performance data") shows this body for a throttled call.
            Error::Throttled { retry_after_ms } => ApiError {
                retry_after_ms,
                ..ApiError::new(429, "Rejected.Throttling", "QPS Limit Exceeded")
            },
            Error::AccessDenied { action, resource } => ApiError::new(
                403,
                "Forbidden.NoPermission",
                format!("You are not authorized to perform the operation {action} on {resource}."),
            ),
            Error::Conflict => ApiError::new(
                503,
                "ServiceUnavailableTemporary",
                "The resource is being changed by other requests; retry.",
            ),
            // Alibaba's common code for a temporary failure of the server (HTTP 503): the
            // operation was not performed and may be retried.
            Error::Unavailable { reason } => ApiError::new(
                503,
                "ServiceUnavailable",
                format!(
                    "The request has failed due to a temporary failure of the server: {reason}"
                ),
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new(500, "InternalFailure", "An internal error occurred.")
            }
        }
    }
}

/// A request whose signature envelope is malformed or does not verify.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { string_to_sign } => ApiError::new(
            400,
            "SignatureDoesNotMatch",
            // The first SDK generation splits this message on ':' and compares the second part
            // with its own string to sign, so the text before it must contain no colon.
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ),
        AuthError::BadTimestampFormat => ApiError::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ),
        AuthError::ContentHashMismatch => ApiError::new(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. The x-acs-content-sha256 header does not match the body.",
        ),
        AuthError::BadEncoding(what) => ApiError::new(
            400,
            "ParseRequestParameterException",
            format!("Server parse parameters exception: {what}"),
        ),
        AuthError::DuplicateParameter(name) => {
            ApiError::invalid(&name, "It is given more than once.")
        }
        other => ApiError::new(
            400,
            "IncompleteSignature",
            format!("The request signature does not conform to Alibaba Cloud standards: {other}"),
        ),
    }
}

/// A request refused for its shape before it was read. Alibaba publishes no codes for its
/// gateway's size limits, so these are coffer's: the HTTP status that says it, with its reason
/// phrase as the code, which both SDK generations report (generation 1 as
/// `ServerException.error_code`, generation 2 as `ClientException.code`). A body that ends
/// early gets Alibaba's code for input it cannot decode.
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::BodyTooLarge { .. } => ApiError::new(413, "RequestEntityTooLarge", r.describe()),
        Refusal::UriTooLong { .. } => ApiError::new(
            414,
            "RequestURITooLong",
            format!(
                "{} (Generation-1 SDKs put every parameter, the secret value too, in the URI; \
                 generation 2 sends SecretData in the body.)",
                r.describe()
            ),
        ),
        Refusal::TooManyHeaders { .. } => {
            ApiError::new(431, "RequestHeaderFieldsTooLarge", r.describe())
        }
        Refusal::IncompleteBody => ApiError::new(
            400,
            "ParseRequestParameterException",
            format!("Server parse parameters exception: {}", r.describe()),
        ),
    }
}

/// Alibaba's answer to an RPC operation sent with a method other than GET or POST (every KMS
/// operation is RPC style, in both signature versions).
pub fn unsupported_method(method: &str) -> ApiError {
    // Methods are tokens of the client's choosing: a long one is not echoed.
    let shown = if method.len() <= 16 {
        method
    } else {
        "this method"
    };
    ApiError::new(
        403,
        "UnsupportedHTTPMethod",
        format!("This http method is not supported: {shown}. KMS operations take POST or GET."),
    )
}

/// A text an XML answer cannot carry (see `render::xml_char`): the request asked for
/// `Format=XML`, so the fault is named as `Format`'s, with the field that holds it.
pub fn unfit_for_xml(field: &str, c: char) -> ApiError {
    // A parameter's name is the client's choice: a long one is not echoed.
    let field = if field.len() <= 64 {
        field
    } else {
        "A parameter"
    };
    ApiError::invalid(
        "Format",
        format!(
            "{field} holds the character U+{:04X}, which XML 1.0 cannot carry; ask for \
             Format=JSON.",
            c as u32
        ),
    )
}
