//! The admin API's error: `{"Code", "Message", "RequestId"}` with an HTTP status.

/// An error as the admin API writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(400, "InvalidParameter", format!("{field}: {why}"))
    }

    pub(crate) fn auth(why: impl std::fmt::Display) -> Self {
        Self::new(401, "InvalidSignature", why.to_string())
    }

    pub(crate) fn unknown_key() -> Self {
        Self::new(
            401,
            "InvalidAccessKeyId",
            "The access key id does not exist.",
        )
    }
}

impl From<coffer_core::Error> for ApiError {
    fn from(e: coffer_core::Error) -> Self {
        use coffer_core::Error as E;
        match e {
            E::NotFound { what, name } => ApiError::new(
                404,
                "NotFound",
                format!("The {} {name:?} does not exist.", what.as_str()),
            ),
            E::AlreadyExists { what, name } => ApiError::new(
                409,
                "AlreadyExists",
                format!("The {} {name:?} already exists.", what.as_str()),
            ),
            E::InvalidParameter { field, reason } => ApiError::invalid(&field, reason),
            E::MissingParameter { field } => ApiError::invalid(&field, "it is required"),
            E::InvalidState { reason, .. } => ApiError::new(409, "Conflict", reason),
            E::AccessDenied { action, resource } => ApiError::new(
                403,
                "AccessDenied",
                format!("This access key may not perform {action} on {resource}."),
            ),
            E::Conflict => ApiError::new(409, "Conflict", "A concurrent change won; retry."),
            E::Database {
                instance,
                reason,
                reachable: true,
            } => ApiError::new(
                400,
                "DatabaseRefused",
                format!("The database instance {instance:?} refused: {reason}."),
            ),
            E::Database {
                instance, reason, ..
            } => ApiError::new(
                503,
                "DatabaseUnreachable",
                format!("The database instance {instance:?} cannot be reached: {reason}."),
            ),
            E::Unavailable { reason } => ApiError::new(
                503,
                "ServiceUnavailable",
                format!("The service is temporarily unavailable: {reason}"),
            ),
            E::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                ApiError::new(500, "InternalError", "An internal error occurred.")
            }
            other => ApiError::new(400, "InvalidRequest", other.to_string()),
        }
    }
}

/// A signature problem, as the admin API reports it.
pub(crate) fn auth_error(e: coffer_auth::AuthError) -> ApiError {
    use coffer_auth::AuthError;
    match e {
        AuthError::SignatureMismatch { .. } => {
            ApiError::auth("the signature does not match; check the secret and the signing method")
        }
        AuthError::BadTimestampFormat => {
            ApiError::auth("x-amz-date is not formatted as YYYYMMDDTHHMMSSZ")
        }
        other => ApiError::auth(format!(
            "the request signature is missing or malformed: {other}"
        )),
    }
}

/// A request refused for its shape before it was read, with the status that says why.
pub fn refusal(r: coffer_api::Refusal) -> ApiError {
    use coffer_api::Refusal as R;
    let (status, code) = match r {
        R::BodyTooLarge { .. } => (413, "BodyTooLarge"),
        R::UriTooLong { .. } => (414, "UriTooLong"),
        R::TooManyHeaders { .. } => (431, "TooManyHeaders"),
        R::IncompleteBody => (400, "IncompleteBody"),
    };
    ApiError::new(status, code, r.describe())
}
