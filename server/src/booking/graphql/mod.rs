//! Booking in the API: the queries, mutations and the queue subscription (types in `types`).
pub mod types;

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, stream::BoxStream};

use crate::{
    booking::{
        admission, changes, check_in_code,
        graphql::types::{
            BookAppointmentInput, BookOnBehalfInput, Booking, BookingPolicy, BookingPolicyInput,
            BookingRestriction, ContactOutcome, DutyChangeResult, JoinWaitlistInput, LedgerEntry,
            LedgerFilterInput, LedgerPageType, OnBehalfInput, QueuePosition, QueueTicket,
            RecordContactInput, Slot, WaitlistEntry,
        },
        ledger::{self, ContactInput},
        queue::{self, CheckIn},
        restrictions, schedule, seats,
        service::{self, Booker},
        waitlist,
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
    state::AppState,
};

#[derive(Default)]
pub struct BookingQuery;

/// The check-in code the desk shows (on its screen, or as a dynamic QR code beside the printed
/// one); residents enter it with `checkIn`.
#[derive(SimpleObject)]
pub struct CheckInCode {
    /// Six digits, changing every minute; the previous one is accepted for another minute.
    pub code: String,
    /// When this code stops being shown: fetch the next one then.
    pub valid_until: DateTime<Utc>,
}

#[Object]
impl BookingQuery {
    /// The point's desk (its agents and admins over it): the current check-in code to show.
    async fn point_check_in_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk shows the code.")] service_point_id: ID,
    ) -> GqlResult<CheckInCode> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        let (code, valid_until) =
            check_in_code::point_check_in_code(ctx.state(), ctx.viewer(), point).await?;
        Ok(CheckInCode { code, valid_until })
    }

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

    /// Staff: the ledger (台账) of a service point in their jurisdiction — or, without
    /// `servicePointId`, of every point in it — between two instants, oldest first, `first`
    /// (1–200) at a time after the `after` cursor.
    #[allow(clippy::too_many_arguments)]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One point; omit for every point in the viewer's jurisdiction.")]
        service_point_id: Option<ID>,
        #[graphql(desc = "Start of the period by `occurredAt` (a UTC instant), inclusive.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period by `occurredAt`, inclusive; not before `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "Narrow by channel, outcome or back-filling; omit for every entry.")]
        filter: Option<LedgerFilterInput>,
        #[graphql(default = 50, desc = "Entries per page, 1–200 (default 50).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<LedgerPageType> {
        let point = service_point_id
            .as_ref()
            .map(|id| parse_id(id, "servicePointId"))
            .transpose()?;
        let first = u64::try_from(first).unwrap_or(0);
        let page = ledger::page(
            ctx.state(),
            ctx.viewer(),
            point,
            from,
            to,
            &filter.into(),
            first,
            after.as_deref(),
        )
        .await?;
        Ok(LedgerPageType {
            entries: page.entries.into_iter().map(LedgerEntry).collect(),
            next_cursor: page.next,
        })
    }

    /// Staff: the same ledger as CSV (UTF-8 with BOM; at most 10,000 rows — narrow the period
    /// for more). Applicants are masked as in `ledger`.
    async fn ledger_csv(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One point; omit for every point in the viewer's jurisdiction.")]
        service_point_id: Option<ID>,
        #[graphql(desc = "Start of the period by `occurredAt` (a UTC instant), inclusive.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period by `occurredAt`, inclusive; not before `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "Narrow by channel, outcome or back-filling; omit for every entry.")]
        filter: Option<LedgerFilterInput>,
    ) -> GqlResult<String> {
        let point = service_point_id
            .as_ref()
            .map(|id| parse_id(id, "servicePointId"))
            .transpose()?;
        Ok(ledger::csv(ctx.state(), ctx.viewer(), point, from, to, &filter.into()).await?)
    }

    /// Residents: their bookings, newest first.
    async fn my_bookings(&self, ctx: &Context<'_>) -> GqlResult<Vec<Booking>> {
        Ok(service::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(Booking)
            .collect())
    }

    /// Residents: their open waitlist entries.
    async fn my_waitlist(&self, ctx: &Context<'_>) -> GqlResult<Vec<WaitlistEntry>> {
        Ok(waitlist::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(WaitlistEntry)
            .collect())
    }

    /// Residents: suspensions of their online booking, newest first.
    async fn my_booking_restrictions(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<BookingRestriction>> {
        Ok(restrictions::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(BookingRestriction)
            .collect())
    }

    /// County administrators: appeals against booking restrictions awaiting a decision.
    async fn restriction_appeals(&self, ctx: &Context<'_>) -> GqlResult<Vec<BookingRestriction>> {
        Ok(restrictions::appeals(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(BookingRestriction)
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
            .map(Booking)
            .collect())
    }

    /// The point's desk: today's queue — waiting numbers in call order, then the others.
    async fn point_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
    ) -> GqlResult<Vec<QueueTicket>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(queue::today(ctx.state(), ctx.viewer(), point)
            .await?
            .into_iter()
            .map(QueueTicket)
            .collect())
    }

    /// Where a queue number stands now (its resident, or the point's desk).
    async fn queue_position(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The queue number's id (`QueueTicket.id`).")] ticket_id: ID,
    ) -> GqlResult<QueuePosition> {
        let id = parse_id(&ticket_id, "ticketId")?;
        queue::visible_ticket(ctx.state(), ctx.viewer(), id).await?;
        Ok(QueuePosition(queue::position(ctx.state(), id).await?))
    }
}

#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
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
        Ok(Booking(
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
        Ok(Booking(
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
        Ok(Booking(
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
        Ok(Booking(
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
        Ok(Booking(
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
        Ok(Booking(
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

    /// Residents: wait for a seat in a full slot. A freed seat is held for the first in line
    /// (push and live event `waitlist.offered`) for the point's hold time.
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The full slot to wait for, and what the booking will be for.")]
        input: JoinWaitlistInput,
    ) -> GqlResult<WaitlistEntry> {
        let entry = waitlist::join(
            ctx.state(),
            ctx.viewer(),
            parse_id(&input.service_point_id, "input.servicePointId")?,
            parse_id(&input.slot_id, "input.slotId")?,
            parse_id(&input.item_id, "input.itemId")?,
            input.kind,
        )
        .await?;
        Ok(WaitlistEntry(entry))
    }

    /// Residents: leave a waitlist (a held seat passes to the next in line).
    async fn leave_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The waitlist entry's id.")] id: ID,
    ) -> GqlResult<WaitlistEntry> {
        Ok(WaitlistEntry(
            waitlist::leave(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Residents: take the seat held for you before `offeredUntil`.
    async fn claim_waitlist_offer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The waitlist entry holding the offered seat.")] id: ID,
    ) -> GqlResult<Booking> {
        Ok(Booking(
            waitlist::claim(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Residents, on site: check in by scanning the point's printed QR code (its scene) and
    /// entering the check-in code shown at the desk (it changes every minute; the printed code
    /// alone only opens the point's page), with the booking code for an appointment — from the
    /// point's `checkInOpensMinutes` before its slot — or without one for a walk-in number.
    /// Twice returns the same number. BAD_USER_INPUT `checkInCode` for a wrong or old code.
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `scene` of the point's printed QR code (URI-decoded).")]
        point_scene: String,
        #[graphql(desc = "The check-in code the desk shows now.")] check_in_code: String,
        #[graphql(desc = "The booking code (any case) for an appointment; omit for a walk-in.")]
        booking_code: Option<String>,
    ) -> GqlResult<QueueTicket> {
        Ok(QueueTicket(
            queue::check_in(
                ctx.state(),
                ctx.viewer(),
                CheckIn::Scan {
                    scene: point_scene,
                    code: check_in_code,
                },
                booking_code,
            )
            .await?,
        ))
    }

    /// The point's desk: check a resident in (booking code) or give a walk-in a number.
    async fn check_in_at_desk(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
        #[graphql(desc = "The resident's booking code (any case); omit for a walk-in.")]
        booking_code: Option<String>,
    ) -> GqlResult<QueueTicket> {
        let point_id = parse_id(&service_point_id, "servicePointId")?;
        Ok(QueueTicket(
            queue::check_in(
                ctx.state(),
                ctx.viewer(),
                CheckIn::Desk { point_id },
                booking_code,
            )
            .await?,
        ))
    }

    /// The point's desk: call the next number (appointments first within their slot); null
    /// when nobody waits.
    async fn call_next(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
    ) -> GqlResult<Option<QueueTicket>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(queue::call_next(ctx.state(), ctx.viewer(), point)
            .await?
            .map(QueueTicket))
    }

    /// The point's desk: finish a called number — served, or absent when called.
    async fn finish_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The called queue number's id (`QueueTicket.id`).")] id: ID,
        #[graphql(desc = "true: served; false: absent when called (a booking becomes a no-show).")]
        served: bool,
    ) -> GqlResult<QueueTicket> {
        Ok(QueueTicket(
            queue::finish(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, served).await?,
        ))
    }

    /// The point's desk: record a contact in the ledger (a call, a walk-in, a remote
    /// consultation), or back-fill one from the paper register with its original time.
    async fn record_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact to record.")] input: RecordContactInput,
    ) -> GqlResult<LedgerEntry> {
        let state = ctx.state();
        let point = parse_id(&input.service_point_id, "input.servicePointId")?;
        let data = ContactInput {
            service_point_id: point,
            channel: input.channel,
            item_id: input
                .item_id
                .as_ref()
                .map(|i| parse_id(i, "input.itemId"))
                .transpose()?,
            applicant_name: input.applicant_name,
            outcome: match input.outcome {
                ContactOutcome::Consulted => "consulted",
                ContactOutcome::Served => "served",
                ContactOutcome::Refused => "refused",
                ContactOutcome::Referred => "referred",
            }
            .to_string(),
            reason_code: input.reason_code,
            note: input.note,
            occurred_at: input.occurred_at,
        };
        Ok(LedgerEntry(
            ledger::record(state, ctx.viewer(), data).await?,
        ))
    }

    /// Residents: appeal a booking restriction (once, while it is active).
    async fn appeal_booking_restriction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The resident's own active restriction (`BookingRestriction.id`).")]
        id: ID,
        #[graphql(desc = "Why it should be lifted, 1–500 characters.")] reason: String,
    ) -> GqlResult<BookingRestriction> {
        Ok(BookingRestriction(
            restrictions::appeal(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, &reason).await?,
        ))
    }

    /// County administrators: lift or uphold an appealed restriction, with the reason (audited).
    async fn decide_restriction_appeal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The appealed restriction's id.")] id: ID,
        #[graphql(desc = "true lifts the restriction at once; false upholds it.")] lift: bool,
        #[graphql(desc = "The reason, told to the resident, 1–500 characters.")] decision: String,
    ) -> GqlResult<BookingRestriction> {
        Ok(BookingRestriction(
            restrictions::decide(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                lift,
                &decision,
            )
            .await?,
        ))
    }
}

#[derive(Default)]
pub struct QueueSubscription;

#[Subscription]
impl QueueSubscription {
    /// A queue number's position, now and after every change at the point (and at least every
    /// 30 seconds, as slots begin); ends once the number is served or absent.
    async fn queue_position(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The queue number's id (`QueueTicket.id`).")] ticket_id: ID,
    ) -> BoxStream<'static, GqlResult<QueuePosition>> {
        let state = ctx.data_unchecked::<Arc<AppState>>().clone();
        let ticket = match parse_id(&ticket_id, "ticketId") {
            Ok(id) => queue::visible_ticket(&state, ctx.viewer(), id).await,
            Err(error) => Err(error),
        };
        let ticket = match ticket {
            Ok(ticket) => ticket,
            Err(error) => {
                return futures_util::stream::once(async move { Err(error.into()) }).boxed();
            }
        };
        queue::follow(state, ticket)
            .map(|position| {
                position
                    .map(QueuePosition)
                    .map_err(async_graphql::Error::from)
            })
            .boxed()
    }
}
