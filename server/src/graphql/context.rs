//! What every resolver and both transports share, and nothing else: the result type, who is
//! asking and from where, typed access to the application state, id parsing, and reading a
//! bearer token. A leaf: it imports no domain and no transport, so domain `graphql` modules
//! import it while `graphql/mod.rs` (which imports them) only assembles the schema.
use std::sync::Arc;

use async_graphql::{Context, ID};
use uuid::Uuid;

use crate::{auth::Viewer, error::AppError, state::AppState};

pub type GqlResult<T> = async_graphql::Result<T>;

/// The id of one request: taken from a well-formed `X-Request-Id`, else a new UUIDv7. Set by
/// the HTTP layer's observe middleware as a request extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The client's address (the first `X-Forwarded-For` hop when configured to trust it). Set by
/// the HTTP layer's observe middleware as a request extension.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

/// Per request (HTTP) or per connection (WebSocket): who is asking, and from where.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub viewer: Viewer,
    pub request_id: String,
    pub client_ip: String,
}

impl RequestContext {
    /// An anonymous caller with the request's id and address (the transport resolves the
    /// viewer from the token afterwards).
    pub fn of(req: &poem::Request) -> Self {
        let extensions = req.extensions();
        Self {
            viewer: Viewer::Anonymous,
            request_id: extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            client_ip: extensions
                .get::<ClientIp>()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        }
    }
}

/// Typed access to what every resolver needs.
pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn viewer(&self) -> &Viewer;
    fn client_ip(&self) -> &str;
    /// The schema's batch loader (see `loaders`).
    fn loaders(&self) -> Result<&crate::graphql::loaders::Loaders, AppError>;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        self.data_unchecked::<Arc<AppState>>()
    }
    fn viewer(&self) -> &Viewer {
        &self.data_unchecked::<RequestContext>().viewer
    }
    fn client_ip(&self) -> &str {
        &self.data_unchecked::<RequestContext>().client_ip
    }
    fn loaders(&self) -> Result<&crate::graphql::loaders::Loaders, AppError> {
        self.data::<crate::graphql::loaders::Loaders>()
            .map_err(|_| AppError::internal(anyhow::anyhow!("the schema has no loaders")))
    }
}

/// Parses an `ID` argument as a UUID; BAD_USER_INPUT naming the field otherwise.
pub fn parse_id(id: &ID, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(field, "not a valid id"))
}

/// An optional `ID` argument as a UUID.
pub fn parse_opt_id(id: Option<ID>, field: &str) -> Result<Option<Uuid>, AppError> {
    id.map(|id| parse_id(&id, field)).transpose()
}

/// The token of an `Authorization` value (`Bearer <token>`, scheme case as clients send it);
/// none when the scheme is missing or the token empty.
pub fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_value_gives_its_token_and_anything_else_none() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("  Bearer  abc  ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(bearer(value), token, "{value:?}");
        }
    }
}
