//! The append-only, hash-chained audit log. Every staff action, approval and reveal of personal
//! data is recorded in the same transaction as the change it describes. Appends are serialised
//! through the single `audit_head` row; `verify` walks the chain and names the first broken link.
//! Nothing here ever updates or deletes a log row. `model` holds what is recorded, `service` the
//! appending, reading and checking, `graphql` the read-only API.
pub mod deferred;
pub mod graphql;
pub mod model;
pub mod service;

pub use model::{Actor, Entry, Pending, chain_hash};
pub use service::{Verification, entries, record, verify};
