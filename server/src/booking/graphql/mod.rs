//! Booking in the API, one file per part: bookings (slots, policies, booking and its changes),
//! the waitlist, the queue (check-in, numbers, the live position), the ledger and the
//! restrictions, merged here (types in `types`).
pub mod bookings;
pub mod ledger;
pub mod queue;
pub mod restrictions;
pub mod types;
pub mod waitlist;

use async_graphql::MergedObject;

/// Booking queries: slots, bookings, the waitlist, the queue, the ledger and restrictions.
#[derive(MergedObject, Default)]
pub struct BookingQuery(
    bookings::BookingsQuery,
    waitlist::WaitlistQuery,
    queue::QueueQuery,
    ledger::LedgerQuery,
    restrictions::RestrictionsQuery,
);

/// Booking mutations: booking and its changes, the waitlist, the desk's queue, the ledger and
/// restriction appeals.
#[derive(MergedObject, Default)]
pub struct BookingMutation(
    bookings::BookingsMutation,
    waitlist::WaitlistMutation,
    queue::QueueMutation,
    ledger::LedgerMutation,
    restrictions::RestrictionsMutation,
);
