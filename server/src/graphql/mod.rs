//! Schema assembly (one Query/Mutation/Subscription merged from the domains), the per-request
//! context, limits, and the two transports: GraphQL over HTTP and over WebSocket.
pub mod extensions;
pub mod http;
mod system;
pub mod ws;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};

use crate::{
    audit::graphql::AuditQuery,
    auth::{
        Viewer,
        graphql::{AuthMutation, AuthQuery},
    },
    booking::graphql::{BookingMutation, BookingQuery, QueueSubscription},
    calendar::graphql::{CalendarMutation, CalendarQuery},
    config::Settings,
    directory::graphql::{DirectoryMutation, DirectoryQuery},
    events::graphql::EventSubscription,
    push::graphql::{PushMutation, PushQuery},
    state::AppState,
};

pub type GqlResult<T> = async_graphql::Result<T>;

/// Reading: the viewer, the public directory and catalogue, the calendar, and staff views.
#[derive(MergedObject, Default)]
pub struct Query(
    AuthQuery,
    system::SystemQuery,
    DirectoryQuery,
    CalendarQuery,
    AuditQuery,
    PushQuery,
    BookingQuery,
);

/// Changing: logins and sessions, directory administration, change registers, the calendar.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    DirectoryMutation,
    CalendarMutation,
    PushMutation,
    BookingMutation,
);

/// Live updates over the WebSocket endpoint (`graphql-transport-ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    system::SystemSubscription,
    EventSubscription,
    QueueSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Per request (HTTP) or per connection (WebSocket): who is asking, and from where.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub viewer: Viewer,
    pub request_id: String,
    pub client_ip: String,
}

/// Typed access to what every resolver needs.
pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn viewer(&self) -> &Viewer;
    fn client_ip(&self) -> &str;
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
}

/// The schema with its limits. Introspection and suggestions are off in production.
pub fn build_schema(settings: &Settings, state: Option<Arc<AppState>>) -> AppSchema {
    let limits = &settings.graphql;
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(32)
    .limit_directives(16)
    .extension(extensions::AliasLimit::new(limits.max_aliases));
    if settings.is_production() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder
            .extension(extensions::Telemetry::new(state.metrics.clone()))
            .data(state);
    }
    builder.finish()
}

/// The SDL that `schema.graphql` must equal (development settings, so nothing is hidden).
pub fn sdl() -> String {
    build_schema(&Settings::default(), None).sdl()
}
