//! Booking (咨询预约, seed §六(一)1, §六(二)1): slots on the working calendar, bookings that never
//! overbook, idempotency, cancellation and rescheduling (also by staff on a resident's behalf),
//! review (受理/不予受理), the waitlist, on-site check-in and queue numbers, reminders, the
//! no-show rule, and the ledger (台账).
pub mod admission;
pub mod changes;
pub mod check_in_code;
pub mod desk;
pub mod graphql;
pub mod jobs;
pub mod ledger;
pub mod model;
pub mod queue;
pub mod restrictions;
pub mod schedule;
pub mod seats;
pub mod service;
pub mod subjects;
pub mod waitlist;
