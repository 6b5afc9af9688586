//! One error type for every operation. Variants are precise so that each dialect can map them
//! to its cloud's code, status and message. Messages never contain secret values.

use std::borrow::Cow;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of thing an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Secret,
    Version,
    Stage,
    Key,
    Account,
    AccessKey,
    EventRule,
    Policy,
    DbInstance,
    Task,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Secret => "secret",
            Resource::Version => "secret version",
            Resource::Stage => "version stage",
            Resource::Key => "key",
            Resource::Account => "account",
            Resource::AccessKey => "access key",
            Resource::EventRule => "event",
            Resource::Policy => "policy",
            Resource::DbInstance => "database instance",
            Resource::Task => "task",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the {} {name:?} does not exist", what.as_str())]
    NotFound { what: Resource, name: String },

    #[error("the {} {name:?} already exists", what.as_str())]
    AlreadyExists { what: Resource, name: String },

    /// The secret (or the name a create asks for) is scheduled for deletion.
    #[error("the secret {name:?} is scheduled for deletion")]
    InDeleteWindow { name: String },

    /// A field's value is not acceptable. `field` is the neutral or wire field name that the
    /// dialect passes in, so the message can name what the client sent.
    #[error("the parameter {field} is not valid: {reason}")]
    InvalidParameter {
        field: Cow<'static, str>,
        reason: String,
    },

    #[error("the parameter {field} is required")]
    MissingParameter { field: Cow<'static, str> },

    /// The operation is not allowed in the state the resource is in (for example restoring
    /// a secret that is not scheduled for deletion).
    #[error("{reason}")]
    InvalidState { name: String, reason: String },

    #[error("the {} {name:?} is disabled", what.as_str())]
    Disabled { what: Resource, name: String },

    #[error("limit exceeded: {what}")]
    LimitExceeded { what: String },

    /// The operation is valid in general but not for this resource (for example rotating a
    /// generic secret).
    #[error("{0}")]
    Unsupported(String),

    /// A managed database could not be reached (`reachable: false`) or refused what coffer
    /// asked of it: wrong admin credentials, a missing account or privilege. The reason names
    /// the instance and account, never a password.
    #[error("database instance {instance:?}: {reason}")]
    Database {
        instance: String,
        reason: String,
        reachable: bool,
    },

    /// Too many requests: a rate limit of the server, or a cache that bounds what it
    /// remembers, is full. `retry_after_ms`, when known, is how long until a retry can pass.
    #[error("the request rate limit is exceeded")]
    Throttled { retry_after_ms: Option<u64> },

    #[error("access denied: {action} on {resource}")]
    AccessDenied { action: String, resource: String },

    /// The server cannot take this request now, and did not perform it: something it needs
    /// first (the audit log, for an operation whose entry must be durable) is not working.
    /// A retry later may succeed. The reason is for the client and names no secret.
    #[error("service unavailable: {reason}")]
    Unavailable { reason: String },

    /// A concurrent change won the race; retry with fresh state.
    #[error("the resource was changed concurrently")]
    Conflict,

    /// The server failed; the message is for logs, dialects answer with a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn missing(field: impl Into<Cow<'static, str>>) -> Self {
        Error::MissingParameter {
            field: field.into(),
        }
    }
    pub fn not_found(what: Resource, name: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            name: name.into(),
        }
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
}

impl From<coffer_crypto::CryptoError> for Error {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        // A stored blob that fails to open is corruption or tampering: a server-side failure.
        Error::Internal(format!("decryption failed: {e}"))
    }
}
