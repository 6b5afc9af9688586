//! AWS Secrets Manager's errors: a `__type` code, an HTTP status and a message, and the mapping
//! from coffer's neutral errors. The codes are the model's error shapes
//! (botocore `data/secretsmanager/2017-10-17/service-2.json`) and the common errors of AWS's
//! JSON protocol (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html).

use coffer_api::Refusal;
use coffer_auth::AuthError;
use coffer_core::error::Resource;
use coffer_core::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", 400, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 400, message)
    }

    pub fn exists(message: impl Into<String>) -> Self {
        Self::new("ResourceExistsException", 400, message)
    }

    pub fn invalid_next_token(message: impl Into<String>) -> Self {
        Self::new("InvalidNextTokenException", 400, message)
    }

    /// A member that breaks a constraint of the model (length, range, pattern), worded as
    /// AWS's request validation words it: `1 validation error detected: Value at 'name'
    /// failed to satisfy constraint: Member must ...`. `field` is the wire name; AWS shows it
    /// with a lower-case first letter.
    pub fn validation(field: &str, constraint: impl std::fmt::Display) -> Self {
        Self::new(
            "ValidationException",
            400,
            format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: {constraint}",
                member_name(field)
            ),
        )
    }

    /// A body that is not JSON, or a member of the wrong JSON type.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", 400, message)
    }

    pub fn missing(field: &str) -> Self {
        Self::validation(field, "Member must not be null")
    }

    /// An operation of the model that this server does not perform yet.
    pub fn not_available(operation: &str) -> Self {
        Self::invalid_request(format!("{operation} is not available on this server yet."))
    }
}

/// `SecretId` → `secretId`, `Filters.member.1.Key` kept as it is after the first letter.
fn member_name(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound {
                what: Resource::AccessKey,
                ..
            } => unrecognized_client(),
            Error::NotFound {
                what: Resource::Key,
                name,
            } => ApiError::not_found(format!("The KMS key {name:?} does not exist.")),
            Error::NotFound {
                what: Resource::Version,
                name,
            } => ApiError::not_found(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {name}"
            )),
            Error::NotFound { .. } => {
                ApiError::not_found("Secrets Manager can't find the specified secret.")
            }
            Error::AlreadyExists {
                what: Resource::Version,
                name,
            } => ApiError::exists(format!(
                "A version with the ClientRequestToken {name} already exists with a different value."
            )),
            Error::AlreadyExists { name, .. } => {
                ApiError::exists(format!("The operation failed because the secret {name} already exists."))
            }
            Error::InDeleteWindow { .. } => ApiError::invalid_request(
                "You can't perform this operation on the secret because it was marked for deletion.",
            ),
            Error::InvalidParameter { field, reason } => {
                ApiError::invalid_parameter(format!("Invalid {field}: {reason}"))
            }
            Error::MissingParameter { field } => ApiError::missing(&field),
            Error::InvalidState { reason, .. } => ApiError::invalid_request(reason),
            Error::Disabled {
                what: Resource::Key,
                name,
            } => ApiError::new(
                "EncryptionFailure",
                400,
                format!("The KMS key {name:?} is disabled."),
            ),
            Error::Disabled { name, .. } => ApiError::invalid_request(format!(
                "You can't perform this operation on the secret {name} because it is disabled."
            )),
            Error::LimitExceeded { what } => ApiError::new(
                "LimitExceededException",
                400,
                format!("Limit exceeded: {what}."),
            ),
            Error::Unsupported(why) => ApiError::invalid_request(why),
            Error::Database {
                instance,
                reason,
                reachable,
            } => ApiError::invalid_request(if reachable {
                format!("The database instance {instance:?} refused the request: {reason}.")
            } else {
                format!("The database instance {instance:?} cannot be reached: {reason}.")
            }),
            // The SDKs retry this code with backoff.
            Error::Throttled { .. } => ApiError::new("ThrottlingException", 400, "Rate exceeded"),
            Error::AccessDenied { action, resource } => ApiError::new(
                "AccessDeniedException",
                400,
                format!("User is not authorized to perform: {action} on resource: {resource}"),
            ),
            Error::Conflict => ApiError::new(
                "InternalServiceError",
                500,
                "The secret is being changed by another request; retry.",
            ),
            // A 5xx: the SDKs retry it; the operation was not performed.
            Error::Unavailable { reason } => ApiError::new(
                "ServiceUnavailable",
                503,
                format!("The operation was not performed: {reason}"),
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new("InternalServiceError", 500, "An internal error occurred.")
            }
        }
    }
}

/// An access key this server does not know (or a disabled one), worded as AWS words it.
pub fn unrecognized_client() -> ApiError {
    ApiError::new(
        "UnrecognizedClientException",
        400,
        "The security token included in the request is invalid.",
    )
}

/// A signature that does not check out, or a request too garbled to check.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::SignatureMismatch { .. } => ApiError::new(
            "InvalidSignatureException",
            400,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
        AuthError::ContentHashMismatch => ApiError::new(
            "InvalidSignatureException",
            400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ),
        AuthError::BadTimestampFormat => ApiError::new(
            "IncompleteSignature",
            400,
            "Date must be in ISO-8601 'basic format'. Got a value of another form. See \
             http://en.wikipedia.org/wiki/ISO_8601",
        ),
        other => ApiError::new("IncompleteSignature", 400, other.to_string()),
    }
}

/// A request refused for its shape before it was read. AWS answers an oversized request
/// with HTTP 413 (`RequestEntityTooLarge`) before the service sees it.
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::IncompleteBody => ApiError::serialization(r.describe()),
        Refusal::BodyTooLarge { .. } => ApiError::new("RequestEntityTooLarge", 413, r.describe()),
        Refusal::UriTooLong { .. } => ApiError::new("RequestURITooLong", 414, r.describe()),
        Refusal::TooManyHeaders { .. } => {
            ApiError::new("RequestHeaderFieldsTooLarge", 431, r.describe())
        }
    }
}

/// The JSON protocol takes POST only.
pub fn wrong_method(method: &str) -> ApiError {
    let shown = if method.len() <= 16 {
        method
    } else {
        "this method"
    };
    ApiError::new(
        "UnknownOperationException",
        405,
        format!("Secrets Manager takes POST requests only, not {shown}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_name_the_member_as_aws_does() {
        let e = ApiError::validation(
            "SecretId",
            "Member must have length less than or equal to 2048",
        );
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value at 'secretId' failed to satisfy constraint: \
             Member must have length less than or equal to 2048"
        );
    }
}
