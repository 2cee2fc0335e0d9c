//! The one error type of the domain: a rule said no.

/// The broad class of a refusal, which the API maps to an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Unauthenticated,
    Forbidden,
    Validation,
    NotFound,
    Conflict,
    LimitExceeded,
}

/// Why the domain refuses a command. Each message is meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("the domain {0} is a public portal domain; sign up with a domain your company owns")]
    PublicPortalDomain(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    LimitExceeded(String),
}

impl DomainError {
    /// A validation error of one input field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid { field, message: message.into() }
    }

    /// The class of this refusal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            DomainError::Forbidden(_) => ErrorKind::Forbidden,
            DomainError::Invalid { .. } | DomainError::PublicPortalDomain(_) => ErrorKind::Validation,
            DomainError::NotFound(_) => ErrorKind::NotFound,
            DomainError::Conflict(_) => ErrorKind::Conflict,
            DomainError::LimitExceeded(_) => ErrorKind::LimitExceeded,
        }
    }

    /// The input field the error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::Invalid { field, .. } => Some(field),
            DomainError::PublicPortalDomain(_) => Some("domain"),
            _ => None,
        }
    }
}
