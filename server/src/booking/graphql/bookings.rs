//! Booking in the API: slots and booking policies, booking, cancelling, moving and reviewing bookings.
use async_graphql::{Context, ID, Object};
use chrono::NaiveDate;

use crate::{
    booking::{
        admission, changes,
        graphql::types::{
            BookAppointmentInput, BookOnBehalfInput, Booking, BookingPolicy, BookingPolicyInput,
            DutyChangeResult, OnBehalfInput, Slot,
        },
        schedule, seats,
        service::{self, Booker},
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// Part of `BookingQuery`.
#[derive(Default)]
pub struct BookingsQuery;

#[Object]
impl BookingsQuery {
    /// Public: the slots of a service point from `from` to `to` (China dates) that can still be
    /// booked. Rest days (holidays) have none; 调休 working weekends have slots.
    async fn available_slots(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point (an active one).")] service_point_id: ID,
        #[graphql(desc = "First China date, inclusive.")] from: NaiveDate,
        #[graphql(desc = "Last China date, inclusive; at most `windowDays` after `from`.")]
        to: NaiveDate,
    ) -> GqlResult<Vec<Slot>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(schedule::available_slots(ctx.state(), point, from, to)
            .await?
            .into_iter()
            .map(Slot)
            .collect())
    }

    /// Staff: every slot of a point on a day, full or past ones included.
    async fn point_slots(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point, inside the viewer's jurisdiction.")]
        service_point_id: ID,
        #[graphql(desc = "The China date.")] day: NaiveDate,
    ) -> GqlResult<Vec<Slot>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(schedule::point_slots(ctx.state(), ctx.viewer(), point, day)
            .await?
            .into_iter()
            .map(Slot)
            .collect())
    }

    /// Public: a service point's booking rules (the defaults until an admin sets them).
    async fn booking_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point.")] service_point_id: ID,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(schedule::point_policy(&ctx.state().db, point).await?.into())
    }

    /// Residents: their bookings, newest first.
    async fn my_bookings(&self, ctx: &Context<'_>) -> GqlResult<Vec<Booking>> {
        Ok(service::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(|(model, joined)| Booking(model, Some(std::sync::Arc::new(joined))))
            .collect())
    }

    /// Staff: a service point's bookings on a day (inside the viewer's jurisdiction).
    async fn point_bookings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point, inside the viewer's jurisdiction.")]
        service_point_id: ID,
        #[graphql(desc = "The China date of the slots.")] day: NaiveDate,
    ) -> GqlResult<Vec<Booking>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(service::at_point(ctx.state(), ctx.viewer(), point, day)
            .await?
            .into_iter()
            .map(Booking::of)
            .collect())
    }
}

/// Part of `BookingMutation`.
#[derive(Default)]
pub struct BookingsMutation;

#[Object]
impl BookingsMutation {
    /// Residents: book a slot. SLOT_FULL when no seat is left; BAD_USER_INPUT naming the field for
    /// a past or too-near slot, a slot of another point, an item not handled here, a bad credit
    /// code, or too many open bookings; BOOKING_RESTRICTED after repeated no-shows;
    /// RATE_LIMITED (with `retryAfter`) when booking too fast.
    async fn book_appointment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point, slot, item and kind to book, with an idempotency key.")]
        input: BookAppointmentInput,
    ) -> GqlResult<Booking> {
        let booker = Booker::Resident {
            client_ip: ctx.client_ip().to_string(),
        };
        Ok(Booking::of(
            admission::book(ctx.state(), ctx.viewer(), booker, input.into_service()?).await?,
        ))
    }

    /// The point's desk: book for a resident (found by the phone number bound to their account)
    /// who called or came to the counter, with the channel and consent recorded (audited).
    async fn book_on_behalf(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The resident's phone number, the booking, and how the resident asked.")]
        input: BookOnBehalfInput,
    ) -> GqlResult<Booking> {
        let booker = Booker::Staff {
            client_ip: ctx.client_ip().to_string(),
            resident_phone: input.resident_phone,
            on_behalf: input.on_behalf.into(),
        };
        Ok(Booking::of(
            admission::book(
                ctx.state(),
                ctx.viewer(),
                booker,
                input.booking.into_service()?,
            )
            .await?,
        ))
    }

    /// Cancel a booking: the resident up to the point's cutoff before the slot; the point's desk
    /// on the resident's behalf (with `onBehalf`) until the slot starts. The seat goes to the
    /// first on the waitlist, or back on sale.
    async fn cancel_booking(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The booking's id.")] id: ID,
        #[graphql(desc = "Required from staff: the channel (and consent); residents omit it.")]
        on_behalf: Option<OnBehalfInput>,
    ) -> GqlResult<Booking> {
        Ok(Booking::of(
            changes::cancel(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                on_behalf.map(Into::into),
            )
            .await?,
        ))
    }

    /// Move a booking to another slot of the same point, keeping its code: the resident within
    /// the cutoff and the booking window; the point's desk on the resident's behalf.
    async fn reschedule_booking(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The booking's id.")] id: ID,
        #[graphql(desc = "The new slot, at the same service point.")] slot_id: ID,
        #[graphql(desc = "Required from staff: the channel (and consent); residents omit it.")]
        on_behalf: Option<OnBehalfInput>,
    ) -> GqlResult<Booking> {
        Ok(Booking::of(
            changes::reschedule(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                parse_id(&slot_id, "slotId")?,
                on_behalf.map(Into::into),
            )
            .await?,
        ))
    }

    /// Admins over the point: change its booking rules (audited); fields left out keep their
    /// current value. Days already generated keep their slots; later days follow the new rules.
    async fn set_booking_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose rules change.")] service_point_id: ID,
        #[graphql(desc = "The rules to change; fields left out keep their current value.")]
        input: BookingPolicyInput,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(
            schedule::set_policy(ctx.state(), ctx.viewer(), point, input.into())
                .await?
                .into(),
        )
    }

    /// Admins over an agent: mark them on or off duty for one day (audited). That day's slots
    /// change capacity at once, never below what is booked; returns the slots whose bookings
    /// now exceed the agents left, to be moved.
    async fn set_staff_duty_day(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The agent, assigned to a service point.")] staff_id: ID,
        #[graphql(desc = "The China date, from today up to 366 days ahead.")] day: NaiveDate,
        #[graphql(desc = "true: on duty that day; false: off duty that day.")] on_duty: bool,
    ) -> GqlResult<DutyChangeResult> {
        let staff = parse_id(&staff_id, "staffId")?;
        let change = seats::set_duty_day(ctx.state(), ctx.viewer(), staff, day, on_duty).await?;
        Ok(DutyChangeResult {
            overbooked_slots: change.overbooked.into_iter().map(Slot).collect(),
        })
    }

    /// Agents of the point: accept (受理) a booking.
    async fn accept_booking(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The booking's id; only a BOOKED booking can be accepted.")] id: ID,
    ) -> GqlResult<Booking> {
        Ok(Booking::of(
            changes::review(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, true, None).await?,
        ))
    }

    /// Agents of the point: refuse (不予受理) with a reason code and an explanation for the resident.
    async fn refuse_booking(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The booking's id.")] id: ID,
        #[graphql(desc = "A short reason code, 1–32 characters.")] reason_code: String,
        #[graphql(desc = "The explanation shown to the resident, 1–500 characters.")]
        explanation: String,
    ) -> GqlResult<Booking> {
        let reason = Some((reason_code, explanation));
        Ok(Booking::of(
            changes::review(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                false,
                reason,
            )
            .await?,
        ))
    }
}
