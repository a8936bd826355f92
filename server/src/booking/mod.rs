//! Booking (咨询预约, seed §六(一)1, §六(二)1): slots on the working calendar, bookings that never
//! overbook, idempotency, cancellation, review (受理/不予受理) and the ledger (台账).
pub mod graphql;
pub mod model;
pub mod service;
