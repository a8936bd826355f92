//! The one road for events. A domain event is written in the same transaction as the change that
//! causes it, with its audience and an outbox row ([`Tx`] is the only way to emit one, and it
//! commits both or neither). A relay moves outbox rows to the broker (Redis streams in
//! production, in-process otherwise); each instance reads the broker once and fans events out to
//! its live GraphQL subscriptions; the push worker consumes them as a group. PostgreSQL stays the
//! source of truth: a reconnecting client replays what it missed from the `events` table.
pub mod broker;
pub mod graphql;
pub mod hub;
pub mod model;
pub mod reactions;
pub mod relay;
pub mod service;
pub mod subjects;

pub use model::{Envelope, EventDraft, resident_key, staff_key, viewer_key};
pub use service::{Recorder, Tx};
