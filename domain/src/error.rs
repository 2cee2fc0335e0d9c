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
    /// A refusal of one of the specification's rules, by its id (`E3`).
    #[error("{error}")]
    Rule { rule: &'static str, error: Box<DomainError> },
}

impl DomainError {
    /// A validation error of one input field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid { field, message: message.into() }
    }

    /// This refusal, as one of the specification's rule `rule` (its id:
    /// `E3`, `A7`, ...), which clients and tests may tell it by.
    #[must_use]
    pub fn by_rule(self, rule: &'static str) -> Self {
        DomainError::Rule { rule, error: Box::new(self) }
    }

    /// The id of the specification's rule that refused, when one is named.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            DomainError::Rule { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// The class of this refusal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::Rule { error, .. } => error.kind(),
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
            DomainError::Rule { error, .. } => error.field(),
            _ => None,
        }
    }
}
