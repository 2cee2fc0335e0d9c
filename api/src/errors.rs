//! The one place where failures become GraphQL errors with a stable
//! `extensions.code`. Internal details go to the log, never to the client.

use async_graphql::{ErrorExtensions, FieldError};
use commands::CommandError;
use domain::{DomainError, ErrorKind};

/// The error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    Validation,
    NotFound,
    Conflict,
    LimitExceeded,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::Validation => "VALIDATION",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
            Code::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of a plain (non-GraphQL) endpoint answering with this
    /// code. An internal failure is a 503: the client may try again.
    pub fn http_status(self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::Validation => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict => StatusCode::CONFLICT,
            Code::LimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Internal => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub field: Option<&'static str>,
    /// The id of the specification's rule that refused (`E3`), if any.
    pub rule: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None, rule: None }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// This refusal, as one of the specification's rule `rule` (see
    /// [`DomainError::by_rule`]).
    #[must_use]
    pub fn by_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// A failure the client cannot fix: logged in full, reported briefly.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(Code::Internal, "the server could not complete the request; try again later")
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = match e.kind() {
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::Forbidden => Code::Forbidden,
            ErrorKind::Validation => Code::Validation,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::Conflict => Code::Conflict,
            ErrorKind::LimitExceeded => Code::LimitExceeded,
        };
        Self { code, message: e.to_string(), field: e.field(), rule: e.rule() }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected(rule) => rule.into(),
            CommandError::Contention(_) => Self::new(Code::Conflict, "the data changed while saving; try again"),
            CommandError::CommandIdReused(id) => {
                Self::new(Code::Conflict, format!("the command id {id} was already used for another request"))
            }
            CommandError::Store(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

/// Input a store cannot take (NUL in a name, a key or a cursor) is the
/// client's to fix: `VALIDATION`, with nothing written.
impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::InvalidInput(reason) => Self::new(Code::Validation, reason),
            store::StoreError::Unavailable(detail) => {
                tracing::error!(error = %detail, "event store unavailable");
                Self::new(Code::Internal, "the event store is unavailable; nothing was saved, try again later")
            }
            other @ store::StoreError::Conflict { .. } => Self::internal(other),
        }
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(e: projections::ProjectionError) -> Self {
        match e {
            projections::ProjectionError::InvalidInput(reason) => Self::new(Code::Validation, reason),
            other => Self::internal(other),
        }
    }
}

impl From<ApiError> for FieldError {
    fn from(e: ApiError) -> Self {
        FieldError::new(e.message).extend_with(|_, ext| {
            ext.set("code", e.code.as_str());
            if let Some(field) = e.field {
                ext.set("field", field);
            }
            if let Some(rule) = e.rule {
                ext.set("rule", rule);
            }
        })
    }
}

/// Shorthand for resolvers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    // What a store cannot take (NUL in a name, a key, a cursor) is the
    // client's to fix; a store that is away is not.
    #[test]
    fn input_a_store_refuses_is_validation_and_a_failing_store_internal() {
        let refused = store::StoreError::InvalidInput("a stream name cannot hold NUL".into());
        assert_eq!(ApiError::from(refused.clone()).code, Code::Validation);
        assert_eq!(ApiError::from(CommandError::Store(refused)).code, Code::Validation);
        let away = store::StoreError::Unavailable("connection refused".into());
        assert_eq!(ApiError::from(CommandError::Store(away)).code, Code::Internal);
        let key = projections::ProjectionError::InvalidInput("a read-model key cannot hold NUL".into());
        assert_eq!(ApiError::from(key).code, Code::Validation);
        assert_eq!(ApiError::from(projections::ProjectionError::Store("timeout".into())).code, Code::Internal);
    }
}
