//! The one application error. Every variant has a stable `extensions.code` that the
//! mini-program may branch on; the mapping lives here and nowhere else.
use async_graphql::ErrorExtensions;

/// What a use case can answer instead of a result.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error without
/// extensions, and every error we send must carry its code. Use [`AppError::message`].
#[derive(Debug)]
pub enum AppError {
    /// No valid access token, or the token was revoked or has expired.
    Unauthenticated(String),
    /// Authenticated, but this viewer may not do this.
    Forbidden(String),
    /// The object does not exist, or the viewer may not know that it exists.
    NotFound(&'static str),
    /// An input was refused; `field` names it (GraphQL argument path, e.g. `input.phone`).
    BadUserInput { field: String, message: String },
    /// The object's state does not allow this action.
    InvalidTransition(String),
    /// Someone else changed the object first, or a unique value is taken.
    Conflict(String),
    /// The booking slot has no seats left.
    SlotFull,
    /// The resident may not book for now (no-show rule); the message says until when.
    BookingRestricted(String),
    /// Too many attempts; try again after `retry_after_seconds`.
    RateLimited { retry_after_seconds: u64 },
    /// A live subscription fell too far behind and was ended; subscribe again with `after`.
    Lagged(String),
    /// The WeChat server API failed or is unavailable.
    UpstreamWechat(String),
    /// A case cannot be archived yet; `missing` lists everything still to record.
    CaseIncomplete(Vec<String>),
    /// The content check refused a text (WeChat judged it risky); the field is named, and
    /// nothing was stored.
    ContentRejected(String),
    /// The database cannot be reached right now (restarting, failing over, pool exhausted):
    /// nothing was changed; retry shortly. The cause goes to the log only.
    Unavailable(anyhow::Error),
    /// Anything else: logged in full, shown to the client only as an opaque message.
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// The code of an internal error, matched when responses are finished (request id added).
pub const INTERNAL_CODE: &str = "INTERNAL_SERVER_ERROR";
/// The code of [`AppError::Unavailable`]: retry shortly (request id added).
pub const UNAVAILABLE_CODE: &str = "SERVICE_UNAVAILABLE";

/// Codes answered by the transport (HTTP, WebSocket) or by GraphQL itself before any use case
/// runs. With [`AppError::code`] these are every `extensions.code` the server sends.
pub mod transport {
    /// A malformed GraphQL-over-HTTP request (parameters, JSON, GET with a mutation…).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The document does not parse or does not validate against the schema.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const ALL: [&str; 6] = [
        BAD_REQUEST,
        GRAPHQL_VALIDATION_FAILED,
        NOT_ACCEPTABLE,
        METHOD_NOT_ALLOWED,
        UNSUPPORTED_MEDIA_TYPE,
        PAYLOAD_TOO_LARGE,
    ];
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The message for the client (internal errors: their cause, for the log only).
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::InvalidTransition(m)
            | Self::Conflict(m)
            | Self::BookingRestricted(m)
            | Self::Lagged(m) => m.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadUserInput { message, .. } => message.clone(),
            Self::SlotFull => "this slot is fully booked".into(),
            Self::RateLimited {
                retry_after_seconds,
            } => format!("too many requests; retry after {retry_after_seconds} s"),
            Self::UpstreamWechat(m) => format!("WeChat is unavailable: {m}"),
            Self::CaseIncomplete(missing) => {
                format!("the case is not complete: {}", missing.join(", "))
            }
            Self::ContentRejected(field) => format!(
                "{field} cannot be accepted: the content check found prohibited content; please rewrite it"
            ),
            Self::Unavailable(cause) => format!("service unavailable: {cause:#}"),
            Self::Internal(cause) => format!("{cause:#}"),
        }
    }

    /// The stable code sent as `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::InvalidTransition(_) => "INVALID_TRANSITION",
            Self::Conflict(_) => "CONFLICT",
            Self::SlotFull => "SLOT_FULL",
            Self::BookingRestricted(_) => "BOOKING_RESTRICTED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Lagged(_) => "SUBSCRIPTION_LAGGED",
            Self::UpstreamWechat(_) => "UPSTREAM_WECHAT",
            Self::CaseIncomplete(_) => "CASE_INCOMPLETE",
            Self::ContentRejected(_) => "CONTENT_REJECTED",
            Self::Unavailable(_) => UNAVAILABLE_CODE,
            Self::Internal(_) => INTERNAL_CODE,
        }
    }
}

/// For lookups that must not tell "missing" from "not yours": a NOT_FOUND or FORBIDDEN becomes
/// NOT_FOUND of `what`; anything else (a database failure) stays what it is.
pub fn hidden_as_not_found(what: &'static str) -> impl FnOnce(AppError) -> AppError {
    move |error| match error {
        AppError::NotFound(_) | AppError::Forbidden(_) => AppError::NotFound(what),
        other => other,
    }
}

/// For a looked-up input: NOT_FOUND becomes BAD_USER_INPUT naming the field; anything else (a
/// database failure) stays what it is.
pub fn missing_as_bad_input(
    field: &'static str,
    message: &'static str,
) -> impl FnOnce(AppError) -> AppError {
    move |error| match error {
        AppError::NotFound(_) => AppError::bad_input(field, message),
        other => other,
    }
}

impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        if is_connection_error(&error) {
            return Self::Unavailable(anyhow::Error::new(error).context("database unreachable"));
        }
        Self::Internal(anyhow::Error::new(error).context("database"))
    }
}

/// True when the database could not be reached (as opposed to a statement that failed).
fn is_connection_error(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let runtime = match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(sqlx) => {
            matches!(
                sqlx.as_ref(),
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
                    | sea_orm::sqlx::Error::Tls(_)
            ) || sqlx
                .as_database_error()
                .and_then(|e| e.code())
                // Class 57P (operator intervention: shutdown, restart) and 08 (connection);
                // and a transaction PostgreSQL chose to abort (40P01 deadlock, 40001
                // serialization): nothing was written, and trying again is the remedy.
                .is_some_and(|code| {
                    code.starts_with("57P")
                        || code.starts_with("08")
                        || code == "40P01"
                        || code == "40001"
                })
        }
        _ => false,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(error: sea_orm::TransactionError<AppError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        let message = match &error {
            AppError::Internal(cause) => {
                // The full chain goes to the log; the client sees an opaque message to which the
                // response finisher appends the request id.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                "internal error".to_string()
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                "the service is briefly unavailable; nothing was changed, please retry".to_string()
            }
            other => other.message(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", error.code());
            match &error {
                AppError::BadUserInput { field, .. } => ext.set("field", field.as_str()),
                AppError::RateLimited {
                    retry_after_seconds,
                } => ext.set("retryAfter", *retry_after_seconds),
                AppError::CaseIncomplete(missing) => ext.set("missing", missing.clone()),
                AppError::ContentRejected(field) => ext.set("field", field.as_str()),
                _ => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(error: AppError) -> (String, serde_json::Value) {
        let gql: async_graphql::Error = error.into();
        let ext = serde_json::to_value(gql.extensions).unwrap_or_default();
        (gql.message, ext)
    }

    #[test]
    fn every_variant_maps_to_its_stable_code() {
        let table: Vec<(AppError, &str)> = vec![
            (AppError::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (AppError::Forbidden("x".into()), "FORBIDDEN"),
            (AppError::NotFound("booking"), "NOT_FOUND"),
            (AppError::bad_input("code", "bad"), "BAD_USER_INPUT"),
            (
                AppError::InvalidTransition("x".into()),
                "INVALID_TRANSITION",
            ),
            (AppError::Conflict("x".into()), "CONFLICT"),
            (AppError::SlotFull, "SLOT_FULL"),
            (
                AppError::BookingRestricted("x".into()),
                "BOOKING_RESTRICTED",
            ),
            (
                AppError::RateLimited {
                    retry_after_seconds: 3,
                },
                "RATE_LIMITED",
            ),
            (AppError::UpstreamWechat("x".into()), "UPSTREAM_WECHAT"),
            (
                AppError::CaseIncomplete(vec!["OUTCOME".into()]),
                "CASE_INCOMPLETE",
            ),
            (AppError::Lagged("x".into()), "SUBSCRIPTION_LAGGED"),
            (AppError::ContentRejected("text".into()), "CONTENT_REJECTED"),
            (
                AppError::internal(anyhow::anyhow!("disk on fire")),
                "INTERNAL_SERVER_ERROR",
            ),
            (
                AppError::from(sea_orm::DbErr::ConnectionAcquire(
                    sea_orm::ConnAcquireErr::Timeout,
                )),
                "SERVICE_UNAVAILABLE",
            ),
        ];
        // The README's list of codes is the mini-program developers' contract: it names each.
        let readme = include_str!("../../README.md");
        for code in table.iter().map(|(_, code)| *code).chain(transport::ALL) {
            assert!(
                readme.contains(&format!("`{code}`")),
                "README.md does not list {code}"
            );
        }
        for (error, code) in table {
            assert_eq!(error.code(), code);
            let (_, ext) = extensions(error);
            assert_eq!(ext["code"], code);
        }
    }

    #[test]
    fn bad_input_names_the_field_and_rate_limit_gives_retry_after() {
        let (message, ext) = extensions(AppError::bad_input("input.phone", "not a mobile number"));
        assert_eq!(message, "not a mobile number");
        assert_eq!(ext["field"], "input.phone");
        let (_, ext) = extensions(AppError::RateLimited {
            retry_after_seconds: 42,
        });
        assert_eq!(ext["retryAfter"], 42);
    }

    #[test]
    fn lookups_hide_only_missing_or_foreign_objects_never_a_database_failure() {
        let hide = |e| hidden_as_not_found("ticket")(e);
        assert_eq!(hide(AppError::NotFound("x")).code(), "NOT_FOUND");
        assert_eq!(hide(AppError::Forbidden("x".into())).code(), "NOT_FOUND");
        let db = || AppError::from(sea_orm::DbErr::Custom("disk I/O error".into()));
        assert_eq!(hide(db()).code(), "INTERNAL_SERVER_ERROR");
        let missing = |e| missing_as_bad_input("input.regionId", "no such region")(e);
        assert_eq!(
            missing(AppError::NotFound("region")).code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(missing(db()).code(), "INTERNAL_SERVER_ERROR");
    }

    #[test]
    fn internal_errors_never_reach_the_client() {
        let (message, _) = extensions(AppError::internal(anyhow::anyhow!(
            "password authentication failed for user postgres"
        )));
        assert_eq!(message, "internal error");
    }
}
