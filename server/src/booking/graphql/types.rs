//! The booking room's GraphQL types: slots, bookings, ledger entries, waitlist entries,
//! queue tickets, restrictions, policies, and the inputs that carry them.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{booking_restrictions, bookings, queue_tickets, slots, waitlist_entries};

use crate::{
    booking::{
        ledger::{self, LedgerFilter},
        model::{BookingKind, BookingStatus, Channel, OnBehalf},
        queue,
        service::{BookInput, Enterprise},
        waitlist,
    },
    directory::graphql::types::{Item, ServicePoint},
    error::AppError,
    graphql::{
        context::{ContextExt, GqlResult, parse_id},
        loaders::{BookingRefs, CaseOfBooking, Joined, Refs, SlotId},
    },
};

/// A bookable time at a service point.
pub struct Slot(pub slots::Model);

/// A bookable time at a service point.
#[Object]
impl Slot {
    /// Pass this as `slotId` to `bookAppointment`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// UTC instant, ISO 8601.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    /// UTC instant, ISO 8601.
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    /// Seats left.
    async fn remaining(&self) -> i32 {
        (self.0.capacity - self.0.booked).max(0)
    }
    /// Seats in all (on-duty agents × seats per agent, never below what is booked).
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    /// Seats taken by bookings or held for a waitlist offer.
    async fn booked(&self) -> i32 {
        self.0.booked
    }
}

/// An appointment (预约), with what a list already read about it (its slot, point and item and
/// the case opened from it, joined into the list's own statement), if anything.
pub struct Booking(pub bookings::Model, pub Option<Arc<Joined>>);

impl Booking {
    pub fn of(model: bookings::Model) -> Self {
        Self(model, None)
    }

    /// The booking's slot, point and item: as the list read them, or loaded with the other
    /// bookings of the answer in one joined statement.
    async fn refs(&self, ctx: &Context<'_>) -> GqlResult<Arc<Refs>> {
        if let Some(joined) = &self.1 {
            return Ok(joined.refs.clone());
        }
        Ok(Arc::new(
            ctx.loaders()?
                .load_one(BookingRefs(self.0.id))
                .await
                .map_err(AppError::from)?
                .ok_or(AppError::NotFound("booking"))?,
        ))
    }
}

/// An appointment (预约).
#[Object]
impl Booking {
    /// Stable id (UUID); pass it as `id` to the booking mutations.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Show this code at the counter.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Where the booking stands.
    async fn status(&self) -> GqlResult<BookingStatus> {
        Ok(self.0.status.parse::<BookingStatus>()?)
    }
    /// What the resident wants (咨询, 帮办 or 代办); null only for an unrecognised stored value.
    async fn kind(&self) -> Option<BookingKind> {
        self.0.kind.parse::<BookingKind>().ok()
    }
    /// The booked slot (the new one after a move).
    async fn slot(&self, ctx: &Context<'_>) -> GqlResult<Slot> {
        Ok(Slot(self.refs(ctx).await?.slot.clone()))
    }
    /// The service point where it is booked.
    async fn service_point(&self, ctx: &Context<'_>) -> GqlResult<ServicePoint> {
        Ok(ServicePoint {
            model: self.refs(ctx).await?.point.clone(),
            distance_km: None,
        })
    }
    /// The catalogue item (事项) it is for.
    async fn item(&self, ctx: &Context<'_>) -> GqlResult<Item> {
        Ok(Item(self.refs(ctx).await?.item.clone()))
    }
    /// For an enterprise applicant: its name.
    async fn enterprise_name(&self) -> Option<&str> {
        self.0.enterprise_name.as_deref()
    }
    /// The resident's note. For staff outside the point's desk (inspectors, auditors, agents
    /// of other points) it reads `（已隐去）`: free text may name people.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Why it was refused (不予受理): a reason code …
    async fn reason_code(&self) -> Option<&str> {
        self.0.reason_code.as_deref()
    }
    /// … and an explanation for the resident.
    async fn explanation(&self) -> Option<&str> {
        self.0.explanation.as_deref()
    }
    /// UTC instant, ISO 8601.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// How it was made: ONLINE by the resident, or by staff on their behalf.
    async fn channel(&self) -> Option<Channel> {
        self.0.channel.parse::<Channel>().ok()
    }
    /// When the resident checked in on site.
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
    /// Not reviewed within the point's review hours.
    async fn review_overdue(&self) -> bool {
        self.0.review_overdue
    }
    /// When it was accepted or refused (UTC, ISO 8601), and by whom.
    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_at
    }
    /// The staff member who accepted or refused it; null until reviewed.
    async fn reviewed_by(&self) -> Option<ID> {
        self.0.reviewed_by.map(|id| ID(id.to_string()))
    }
    /// The staff member who booked it on the resident's behalf, and the consent they recorded.
    async fn created_by(&self) -> Option<ID> {
        self.0.created_by.map(|id| ID(id.to_string()))
    }
    /// How the resident consented to a booking made on their behalf; `（已隐去）` for staff
    /// outside the point's desk, as for `note`.
    async fn consent(&self) -> Option<&str> {
        self.0.consent.as_deref()
    }
    /// The case opened from this booking (`openCase`), once there is one.
    async fn case_id(&self, ctx: &Context<'_>) -> GqlResult<Option<ID>> {
        if let Some(joined) = &self.1 {
            return Ok(joined.case_id.map(|id| ID(id.to_string())));
        }
        let case = ctx
            .loaders()?
            .load_one(CaseOfBooking(self.0.id))
            .await
            .map_err(AppError::from)?;
        Ok(case.map(|id| ID(id.to_string())))
    }
}

/// One ledger (台账) entry: a contact and its outcome.
pub struct LedgerEntry(pub ledger::LedgerView);

/// One ledger (台账) entry: a contact and its outcome.
#[Object]
impl LedgerEntry {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.entry.id.to_string())
    }
    /// How the contact reached the point.
    async fn channel(&self) -> GqlResult<Channel> {
        self.0.entry.channel.parse::<Channel>().ok().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "unknown channel {:?} in the ledger",
                self.0.entry.channel
            ))
            .into()
        })
    }
    /// What came of it.
    async fn outcome(&self) -> GqlResult<LedgerOutcome> {
        Ok(self.0.entry.outcome.parse()?)
    }
    /// For refusals: the reason code.
    async fn reason_code(&self) -> Option<&str> {
        self.0.entry.reason_code.as_deref()
    }
    /// The note; for a booking made on the resident's behalf, the consent recorded. In full
    /// for admins and the point's own agents; `（已隐去）` (withheld) for everyone who sees
    /// applicants masked, as free text may name people and give their numbers.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// The applicant: an enterprise by name, a resident by masked phone number, a walk-in by
    /// name (in full for admins and the point's own agents, masked for everyone else).
    async fn applicant(&self) -> Option<&str> {
        self.0.applicant.as_deref()
    }
    /// The service point.
    async fn service_point_id(&self) -> ID {
        ID(self.0.entry.service_point_id.to_string())
    }
    /// When it happened (UTC, ISO 8601); for back-filled entries, the original time.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.entry.occurred_at
    }
    /// Entered later from paper (补录).
    async fn backfilled(&self) -> bool {
        self.0.entry.backfilled
    }
    /// Who entered it, and when (UTC, ISO 8601).
    async fn entered_by(&self) -> Option<ID> {
        self.0.entry.entered_by.map(|id| ID(id.to_string()))
    }
    /// When it was entered (UTC, ISO 8601); for back-filled entries, after `occurredAt`.
    async fn entered_at(&self) -> DateTime<Utc> {
        self.0.entry.entered_at
    }
    /// The booking's code, when the contact was a booking.
    async fn booking_code(&self) -> Option<&str> {
        self.0.booking_code.as_deref()
    }
    /// The catalogue item, when known.
    async fn item(&self) -> Option<Item> {
        self.0.item.clone().map(Item)
    }
    /// The staff member who handled it.
    async fn agent_id(&self) -> Option<ID> {
        self.0.entry.agent_id.map(|id| ID(id.to_string()))
    }
    /// Their display name.
    async fn agent_name(&self) -> Option<&str> {
        self.0.agent_name.as_deref()
    }
}

/// A page of the ledger.
#[derive(SimpleObject)]
pub struct LedgerPageType {
    /// Up to `first` entries, oldest first.
    pub entries: Vec<LedgerEntry>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

crate::stored_enum! {
    /// What came of a contact recorded in the ledger (台账).
    pub enum LedgerOutcome {
        /// A booking was made, online or on the resident's behalf.
        Booked = "booked",
        /// A booking was accepted (受理).
        Accepted = "accepted",
        /// A booking or a contact was refused (不予受理), with a reason code.
        Refused = "refused",
        /// A booking was cancelled.
        Cancelled = "cancelled",
        /// A booking was moved to another slot.
        Rescheduled = "rescheduled",
        /// A missed booking (爽约): not checked in by its slot's end and grace, or absent when called.
        NoShow = "no_show",
        /// Served at the counter: a booking, a walk-in number or a recorded contact.
        Served = "served",
        /// A walk-in number absent when called.
        Absent = "absent",
        /// Advice given (a recorded contact).
        Consulted = "consulted",
        /// Sent to another point or department (a recorded contact).
        Referred = "referred",
        /// A checked-in number the desk never finished that day.
        Unfinished = "unfinished",
    }
}

/// Narrows the ledger.
#[derive(InputObject, Default)]
pub struct LedgerFilterInput {
    /// Only entries made through this channel.
    pub channel: Option<Channel>,
    /// Only entries with this outcome.
    pub outcome: Option<LedgerOutcome>,
    /// true: only entries back-filled from paper; false: only live ones.
    pub backfilled: Option<bool>,
}

impl From<Option<LedgerFilterInput>> for LedgerFilter {
    fn from(f: Option<LedgerFilterInput>) -> Self {
        let f = f.unwrap_or_default();
        Self {
            channel: f.channel,
            outcome: f.outcome.map(|o| o.as_str().to_string()),
            backfilled: f.backfilled,
        }
    }
}

/// Outcomes of a contact recorded by hand.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactOutcome {
    /// Advice given.
    Consulted,
    /// Handled to the end.
    Served,
    /// Refused, with a reason code.
    Refused,
    /// Sent to another point or department.
    Referred,
}

/// A contact recorded by staff: a call, a walk-in, a remote consultation — now, or back-filled
/// from the paper register with its original time.
#[derive(InputObject)]
pub struct RecordContactInput {
    /// The point whose ledger it goes into (the viewer works its desk).
    pub service_point_id: ID,
    /// PHONE, WINDOW, AGENT_ON_BEHALF or REMOTE.
    pub channel: Channel,
    /// The catalogue item concerned, if known.
    pub item_id: Option<ID>,
    /// Stored encrypted; shown in full only to the point's own desk.
    pub applicant_name: Option<String>,
    /// What came of it; REFUSED needs `reasonCode`.
    pub outcome: ContactOutcome,
    /// Required for REFUSED.
    pub reason_code: Option<String>,
    /// Free text, up to 500 characters; in full only for admins and the point's own agents.
    pub note: Option<String>,
    /// When it happened; omit for now. More than 10 minutes ago marks it back-filled (补录).
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A service point's booking rules (预约规则).
#[derive(SimpleObject, Clone, Copy)]
pub struct BookingPolicy {
    /// Length of a slot in minutes (5–240).
    pub slot_minutes: i32,
    /// Seats per on-duty agent in each slot (1–20).
    pub seats_per_agent: i32,
    /// How many days ahead residents may book (1–60).
    pub window_days: i32,
    /// How many minutes before a slot a booking must be made.
    pub min_notice_minutes: i32,
    /// Until how many minutes before a slot residents may cancel or move online.
    pub cancel_cutoff_minutes: i32,
    /// Open bookings a resident may hold at once (1–20).
    pub max_open_bookings: i32,
    /// No-shows within `noShowWindowDays` that suspend online booking (0 = never).
    pub no_show_limit: i32,
    /// The past days within which no-shows count toward `noShowLimit`.
    pub no_show_window_days: i32,
    /// Days online booking stays suspended (appealable to the county administration).
    pub no_show_ban_days: i32,
    /// Working hours (of the point's opening hours) to review a booking before it is overdue.
    pub review_hours: i32,
    /// Minutes after a slot ends before an absent booking becomes a no-show.
    pub grace_minutes: i32,
    /// Minutes a freed seat is held for the first resident on the waitlist.
    pub hold_minutes: i32,
    /// Hour (China time) of the reminder on the day before.
    pub remind_day_before_hour: i32,
    /// Minutes before the slot of the second reminder.
    pub remind_before_minutes: i32,
    /// Minutes before its slot a booking may be checked in on site (签到).
    pub check_in_opens_minutes: i32,
}

impl From<crate::booking::model::Policy> for BookingPolicy {
    fn from(p: crate::booking::model::Policy) -> Self {
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Self {
            slot_minutes: int(p.slot_minutes),
            seats_per_agent: int(p.seats_per_agent),
            window_days: int(p.window_days),
            min_notice_minutes: int(p.min_notice_minutes),
            cancel_cutoff_minutes: int(p.cancel_cutoff_minutes),
            max_open_bookings: int(p.max_open_bookings),
            no_show_limit: int(p.no_show_limit),
            no_show_window_days: int(p.no_show_window_days),
            no_show_ban_days: int(p.no_show_ban_days),
            review_hours: int(p.review_hours),
            grace_minutes: int(p.grace_minutes),
            hold_minutes: int(p.hold_minutes),
            remind_day_before_hour: int(p.remind_day_before_hour),
            remind_before_minutes: int(p.remind_before_minutes),
            check_in_opens_minutes: int(p.check_in_opens_minutes),
        }
    }
}

/// Changes to a point's booking rules: the fields given replace the current values, the
/// others stay as they are.
#[derive(InputObject, Clone, Copy, Default)]
pub struct BookingPolicyInput {
    /// Length of a slot in minutes (5–240).
    pub slot_minutes: Option<i32>,
    /// Seats per on-duty agent in each slot (1–20).
    pub seats_per_agent: Option<i32>,
    /// How many days ahead residents may book (1–60).
    pub window_days: Option<i32>,
    /// How many minutes before a slot a booking must be made (0–10080).
    pub min_notice_minutes: Option<i32>,
    /// Until how many minutes before a slot residents may cancel or move online (0–10080).
    pub cancel_cutoff_minutes: Option<i32>,
    /// Open bookings a resident may hold at once (1–20).
    pub max_open_bookings: Option<i32>,
    /// No-shows within `noShowWindowDays` that suspend online booking (0–20; 0 = never).
    pub no_show_limit: Option<i32>,
    /// 1–365.
    pub no_show_window_days: Option<i32>,
    /// Days online booking stays suspended (0–365).
    pub no_show_ban_days: Option<i32>,
    /// Working hours (of the point's opening hours) to review a booking (1–80).
    pub review_hours: Option<i32>,
    /// Minutes after a slot ends before an absent booking becomes a no-show (0–240).
    pub grace_minutes: Option<i32>,
    /// Minutes a freed seat is held for the first on the waitlist (1–1440).
    pub hold_minutes: Option<i32>,
    /// Hour (China time) of the reminder on the day before (0–23).
    pub remind_day_before_hour: Option<i32>,
    /// Minutes before the slot of the second reminder (5–1440).
    pub remind_before_minutes: Option<i32>,
    /// Minutes before its slot a booking may be checked in on site (0–480).
    pub check_in_opens_minutes: Option<i32>,
}

impl From<BookingPolicyInput> for crate::booking::model::PolicyPatch {
    fn from(p: BookingPolicyInput) -> Self {
        Self {
            slot_minutes: p.slot_minutes.map(i64::from),
            seats_per_agent: p.seats_per_agent.map(i64::from),
            window_days: p.window_days.map(i64::from),
            min_notice_minutes: p.min_notice_minutes.map(i64::from),
            cancel_cutoff_minutes: p.cancel_cutoff_minutes.map(i64::from),
            max_open_bookings: p.max_open_bookings.map(i64::from),
            no_show_limit: p.no_show_limit.map(i64::from),
            no_show_window_days: p.no_show_window_days.map(i64::from),
            no_show_ban_days: p.no_show_ban_days.map(i64::from),
            review_hours: p.review_hours.map(i64::from),
            grace_minutes: p.grace_minutes.map(i64::from),
            hold_minutes: p.hold_minutes.map(i64::from),
            remind_day_before_hour: p.remind_day_before_hour.map(i64::from),
            remind_before_minutes: p.remind_before_minutes.map(i64::from),
            check_in_opens_minutes: p.check_in_opens_minutes.map(i64::from),
        }
    }
}

/// Booking for an enterprise (企业办事).
#[derive(InputObject)]
pub struct EnterpriseInput {
    /// The enterprise's name, 1–100 characters.
    pub name: String,
    /// 统一社会信用代码 (checked).
    pub credit_code: String,
}

/// A booking: a slot at a service point, the catalogue item and what the resident wants.
#[derive(InputObject)]
pub struct BookAppointmentInput {
    /// The service point to book at.
    pub service_point_id: ID,
    /// From `availableSlots`.
    pub slot_id: ID,
    /// A catalogue item handled at this point's level.
    pub item_id: ID,
    /// What the resident wants: consultation (咨询), assisted (帮办) or proxy (代办) handling.
    pub kind: BookingKind,
    /// Only when booking for an enterprise.
    pub enterprise: Option<EnterpriseInput>,
    /// Up to 200 characters.
    pub note: Option<String>,
    /// Required: generate one per booking attempt (e.g. a UUID) and reuse it on retries; the same
    /// key with the same input returns the same booking, with a different input CONFLICT.
    /// Kept 48 hours.
    pub idempotency_key: String,
}

impl BookAppointmentInput {
    pub(super) fn into_service(self) -> Result<BookInput, AppError> {
        Ok(BookInput {
            service_point_id: parse_id(&self.service_point_id, "input.servicePointId")?,
            slot_id: parse_id(&self.slot_id, "input.slotId")?,
            item_id: parse_id(&self.item_id, "input.itemId")?,
            kind: self.kind,
            enterprise: self.enterprise.map(|e| Enterprise {
                name: e.name,
                credit_code: e.credit_code,
            }),
            note: self.note,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// Staff acting for a resident: the channel, and for AGENT_ON_BEHALF the recorded consent.
#[derive(InputObject, Clone)]
pub struct OnBehalfInput {
    /// PHONE, WINDOW, AGENT_ON_BEHALF or REMOTE.
    pub channel: Channel,
    /// How and when the resident consented (required for AGENT_ON_BEHALF; up to 300 characters).
    pub consent: Option<String>,
}

impl From<OnBehalfInput> for OnBehalf {
    fn from(o: OnBehalfInput) -> Self {
        Self {
            channel: o.channel,
            consent: o.consent,
        }
    }
}

/// A waitlist entry (候补).
pub struct WaitlistEntry(pub waitlist_entries::Model);

/// A resident's place on a full slot's waitlist.
#[Object]
impl WaitlistEntry {
    /// Stable id (UUID); pass it to `leaveWaitlist` or `claimWaitlistOffer`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Where the entry stands.
    async fn status(&self) -> GqlResult<WaitlistStatus> {
        Ok(self.0.status.parse()?)
    }
    /// Claim with `claimWaitlistOffer` before this instant (UTC, ISO 8601).
    async fn offered_until(&self) -> Option<DateTime<Utc>> {
        self.0.offered_until
    }
    /// Residents ahead in line (0 = next); null unless waiting.
    async fn ahead(&self, ctx: &Context<'_>) -> GqlResult<Option<u64>> {
        Ok(waitlist::ahead(ctx.state(), &self.0).await?)
    }
    /// The full slot waited for.
    async fn slot(&self, ctx: &Context<'_>) -> GqlResult<Slot> {
        let slot = ctx
            .loaders()?
            .load_one(SlotId(self.0.slot_id))
            .await
            .map_err(AppError::from)?;
        Ok(Slot(slot.ok_or(AppError::NotFound("slot"))?))
    }
    /// The booking made when the offer was claimed.
    async fn booking_id(&self) -> Option<ID> {
        self.0.booking_id.map(|id| ID(id.to_string()))
    }
}

/// A place on the waitlist (候补) of a full slot.
#[derive(InputObject)]
pub struct JoinWaitlistInput {
    /// The service point of the slot.
    pub service_point_id: ID,
    /// A full slot of that point (e.g. the one `bookAppointment` answered SLOT_FULL for).
    pub slot_id: ID,
    /// The catalogue item the booking will be for, handled at this point's level.
    pub item_id: ID,
    /// What the booking will be: 咨询, 帮办 or 代办.
    pub kind: BookingKind,
}

/// A queue number (取号).
pub struct QueueTicket(pub queue_tickets::Model);

/// A queue number at a service point for the day.
#[Object]
impl QueueTicket {
    /// Stable id (UUID); pass it as `ticketId` to `queuePosition`, or as `id` to `finishTicket`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What the screen shows, e.g. `A023` (A = appointment, B = walk-in).
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// Where the number stands.
    async fn status(&self) -> GqlResult<TicketStatus> {
        Ok(self.0.status.parse()?)
    }
    /// The China date the number is for.
    async fn day(&self) -> NaiveDate {
        self.0.day
    }
    /// The booking checked in with this number; null for a walk-in.
    async fn booking_id(&self) -> Option<ID> {
        self.0.booking_id.map(|id| ID(id.to_string()))
    }
    /// When the number was handed out at check-in (UTC, ISO 8601).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the desk called it (UTC, ISO 8601); null until called.
    async fn called_at(&self) -> Option<DateTime<Utc>> {
        self.0.called_at
    }
}

/// Where a queue number stands.
pub struct QueuePosition(pub queue::Position);

/// Where a queue number stands.
#[Object]
impl QueuePosition {
    /// The queue number itself, as it stands now.
    async fn ticket(&self) -> QueueTicket {
        QueueTicket(self.0.ticket.clone())
    }
    /// Numbers to be called before this one (0 = next); null once it has been called.
    async fn ahead(&self) -> Option<u64> {
        self.0.ahead
    }
    /// The number called most recently at the point.
    async fn now_calling(&self) -> Option<&str> {
        self.0.now_calling.as_deref()
    }
}

/// A suspension of online booking after repeated no-shows.
pub struct BookingRestriction(pub booking_restrictions::Model);

/// A suspension of online booking after repeated no-shows (appealable).
#[Object]
impl BookingRestriction {
    /// Stable id (UUID); pass it to `appealBookingRestriction` or `decideRestrictionAppeal`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The county whose no-show rule made it (a region id): online booking is suspended there.
    async fn county_id(&self) -> Option<ID> {
        self.0.county_id.map(|id| ID(id.to_string()))
    }
    /// When the suspension began (UTC, ISO 8601).
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    /// When the suspension ends (UTC, ISO 8601), unless lifted earlier on appeal.
    async fn until(&self) -> DateTime<Utc> {
        self.0.until
    }
    /// Why it was imposed, e.g. `3 no-shows within 90 days`.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// Where the suspension stands.
    async fn status(&self) -> GqlResult<RestrictionStatus> {
        Ok(self.0.status.parse()?)
    }
    /// The resident's appeal; null until appealed.
    async fn appeal(&self) -> Option<&str> {
        self.0.appeal.as_deref()
    }
    /// The county administration's reason for lifting or upholding it; null until decided.
    async fn decision(&self) -> Option<&str> {
        self.0.decision.as_deref()
    }
}

/// What a duty change did to the day's slots.
#[derive(SimpleObject)]
pub struct DutyChangeResult {
    /// Slots holding more bookings than the remaining agents can serve: move some of them.
    pub overbooked_slots: Vec<Slot>,
}

/// A booking the point's desk makes for a resident who called or came to the counter.
#[derive(InputObject)]
pub struct BookOnBehalfInput {
    /// The mobile number the resident bound in the mini-program.
    pub resident_phone: String,
    /// The booking itself, as for `bookAppointment`.
    pub booking: BookAppointmentInput,
    /// The channel the resident used, and for AGENT_ON_BEHALF their consent.
    pub on_behalf: OnBehalfInput,
}

crate::stored_enum! {
    /// Where a waitlist entry stands.
    pub enum WaitlistStatus {
        /// In line for a seat.
        Waiting = "waiting",
        /// A seat is held for the resident until `offeredUntil`: claim it with `claimWaitlistOffer`.
        Offered = "offered",
        /// The offer was claimed: the resident has a booking.
        Claimed = "claimed",
        /// The offer lapsed, or the slot started, before it was claimed.
        Expired = "expired",
        /// The resident left the waitlist, or booked the slot directly.
        Left = "left",
        /// A seat came free but the resident could not have claimed it (a booking restriction,
        /// a booking in this slot already, or open bookings at the point's cap); event
        /// `waitlist.skipped` says which.
        Skipped = "skipped",
    }
}

crate::stored_enum! {
    /// Where a queue number (排队号) stands.
    pub enum TicketStatus {
        /// Checked in, waiting to be called.
        Waiting = "waiting",
        /// Called to the desk.
        Called = "called",
        /// Served at the desk.
        Served = "served",
        /// Not there when called.
        Absent = "absent",
        /// Withdrawn: the booking was refused after check-in.
        Withdrawn = "withdrawn",
        /// Never finished by the desk that day (closed by the end-of-day job).
        Unfinished = "unfinished",
    }
}

crate::stored_enum! {
    /// Where a suspension of online booking stands.
    pub enum RestrictionStatus {
        /// In force until `until`.
        Active = "active",
        /// Appealed by the resident; still in force until decided.
        Appealed = "appealed",
        /// Lifted on appeal.
        Lifted = "lifted",
        /// Upheld on appeal; in force until `until`.
        Upheld = "upheld",
    }
}
