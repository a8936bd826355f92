//! Schema assembly (one Query/Mutation/Subscription merged from the domains) with its limits,
//! and the two transports: GraphQL over HTTP and over WebSocket. What resolvers share (the
//! request context, `ContextExt`, `GqlResult`, `parse_id`) is in the leaf `context`.
pub mod context;
pub mod extensions;
pub mod http;
pub mod loaders;
mod system;
pub mod ws;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::{
    audit::graphql::AuditQuery,
    auth::graphql::{AuthMutation, AuthQuery},
    booking::graphql::{BookingMutation, BookingQuery, queue::QueueSubscription},
    calendar::graphql::{CalendarMutation, CalendarQuery},
    cases::graphql::{CaseMutation, CaseQuery},
    complaints::graphql::{ComplaintsMutation, ComplaintsQuery},
    config::Settings,
    directory::graphql::{DirectoryMutation, DirectoryQuery},
    events::graphql::EventSubscription,
    push::graphql::{PushMutation, PushQuery},
    satisfaction::graphql::{SatisfactionMutation, SatisfactionQuery},
    state::AppState,
};

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
    CaseQuery,
    SatisfactionQuery,
    ComplaintsQuery,
);

/// Changing: logins and sessions, directory administration, change registers, the calendar.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    DirectoryMutation,
    CalendarMutation,
    PushMutation,
    BookingMutation,
    CaseMutation,
    SatisfactionMutation,
    ComplaintsMutation,
);

/// Live updates over the WebSocket endpoint (`graphql-transport-ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    system::SystemSubscription,
    EventSubscription,
    QueueSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

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
    .limit_directives(16);
    // No schema extensions: the alias limit and telemetry run around execution in the
    // transports (see `extensions`), so fields resolve without an extension chain.
    if settings.is_production() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(loaders::loaders(state.db.clone())).data(state);
    }
    builder.finish()
}

/// The SDL that `schema.graphql` must equal (development settings, so nothing is hidden).
pub fn sdl() -> String {
    build_schema(&Settings::default(), None).sdl()
}
