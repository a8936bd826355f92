//! Booking in the API.
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{booking_restrictions, bookings, queue_tickets, slots, waitlist_entries};
use futures_util::{StreamExt, stream::BoxStream};

use crate::{
    booking::{
        ledger::{self, ContactInput, LedgerFilter},
        model::{BookingKind, BookingStatus},
        queue::{self, CheckIn},
        restrictions,
        service::{self, BookInput, Booker, Channel, Enterprise, OnBehalf},
        waitlist,
    },
    directory::graphql::{Item, ServicePoint, parse_id},
    error::AppError,
    graphql::{ContextExt, GqlResult},
    state::AppState,
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

/// An appointment (预约).
pub struct Booking(pub bookings::Model);

/// An appointment (预约).
#[Object]
impl Booking {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Show this code at the counter.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn status(&self) -> GqlResult<BookingStatus> {
        Ok(BookingStatus::parse(&self.0.status)?)
    }
    async fn kind(&self) -> Option<BookingKind> {
        BookingKind::parse(&self.0.kind)
    }
    async fn slot(&self, ctx: &Context<'_>) -> GqlResult<Slot> {
        Ok(Slot(service::slot(&ctx.state().db, self.0.slot_id).await?))
    }
    async fn service_point(&self, ctx: &Context<'_>) -> GqlResult<ServicePoint> {
        let point =
            crate::directory::service::service_point(&ctx.state().db, self.0.service_point_id)
                .await?;
        Ok(ServicePoint {
            model: point,
            distance_km: None,
        })
    }
    async fn item(&self, ctx: &Context<'_>) -> GqlResult<Item> {
        Ok(Item(
            crate::directory::service::item(&ctx.state().db, self.0.item_id).await?,
        ))
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
        Channel::parse(&self.0.channel)
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
}

/// One ledger (台账) entry: a contact and its outcome.
pub struct LedgerEntry(pub ledger::LedgerView);

/// One ledger (台账) entry: a contact and its outcome.
#[Object]
impl LedgerEntry {
    async fn id(&self) -> ID {
        ID(self.0.entry.id.to_string())
    }
    /// `online`, `phone`, `window`, `agent_on_behalf` or `remote`.
    async fn channel(&self) -> &str {
        &self.0.entry.channel
    }
    /// `booked`, `accepted`, `refused`, `cancelled`, `rescheduled`, `no_show`, `served`,
    /// `absent`, `unfinished`, `consulted` or `referred`.
    async fn outcome(&self) -> &str {
        &self.0.entry.outcome
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
    pub entries: Vec<LedgerEntry>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Outcomes to filter the ledger by.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum LedgerOutcome {
    Booked,
    Accepted,
    Refused,
    Cancelled,
    Rescheduled,
    NoShow,
    Served,
    Absent,
    Consulted,
    Referred,
    Unfinished,
}

impl LedgerOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Cancelled => "cancelled",
            Self::Rescheduled => "rescheduled",
            Self::NoShow => "no_show",
            Self::Served => "served",
            Self::Absent => "absent",
            Self::Consulted => "consulted",
            Self::Referred => "referred",
            Self::Unfinished => "unfinished",
        }
    }
}

/// Narrows the ledger.
#[derive(InputObject, Default)]
pub struct LedgerFilterInput {
    pub channel: Option<Channel>,
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
    pub service_point_id: ID,
    /// PHONE, WINDOW, AGENT_ON_BEHALF or REMOTE.
    pub channel: Channel,
    pub item_id: Option<ID>,
    /// Stored encrypted; shown in full only to the point's own desk.
    pub applicant_name: Option<String>,
    pub outcome: ContactOutcome,
    /// Required for REFUSED.
    pub reason_code: Option<String>,
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
    pub name: String,
    /// 统一社会信用代码 (checked).
    pub credit_code: String,
}

#[derive(InputObject)]
pub struct BookAppointmentInput {
    pub service_point_id: ID,
    /// From `availableSlots`.
    pub slot_id: ID,
    /// A catalogue item handled at this point's level.
    pub item_id: ID,
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
    fn into_service(self) -> Result<BookInput, AppError> {
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
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `waiting`, `offered` (a seat is held for you until `offeredUntil`), `claimed`, `expired`,
    /// `left`, or `skipped` (a seat came free but you could not have claimed it: a booking
    /// restriction, a booking in this slot already, or your open bookings at the point's cap;
    /// event `waitlist.skipped` says which).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// Claim with `claimWaitlistOffer` before this instant (UTC, ISO 8601).
    async fn offered_until(&self) -> Option<DateTime<Utc>> {
        self.0.offered_until
    }
    /// Residents ahead in line (0 = next); null unless waiting.
    async fn ahead(&self, ctx: &Context<'_>) -> GqlResult<Option<u64>> {
        Ok(waitlist::ahead(ctx.state(), &self.0).await?)
    }
    async fn slot(&self, ctx: &Context<'_>) -> GqlResult<Slot> {
        Ok(Slot(service::slot(&ctx.state().db, self.0.slot_id).await?))
    }
    /// The booking made when the offer was claimed.
    async fn booking_id(&self) -> Option<ID> {
        self.0.booking_id.map(|id| ID(id.to_string()))
    }
}

#[derive(InputObject)]
pub struct JoinWaitlistInput {
    pub service_point_id: ID,
    pub slot_id: ID,
    pub item_id: ID,
    pub kind: BookingKind,
}

/// A queue number (取号).
pub struct QueueTicket(pub queue_tickets::Model);

/// A queue number at a service point for the day.
#[Object]
impl QueueTicket {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What the screen shows, e.g. `A023` (A = appointment, B = walk-in).
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// `waiting`, `called`, `served`, `absent`, `withdrawn` (refused after check-in) or
    /// `unfinished` (never finished by the desk that day).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// The China date the number is for.
    async fn day(&self) -> NaiveDate {
        self.0.day
    }
    async fn booking_id(&self) -> Option<ID> {
        self.0.booking_id.map(|id| ID(id.to_string()))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn called_at(&self) -> Option<DateTime<Utc>> {
        self.0.called_at
    }
}

/// Where a queue number stands.
pub struct QueuePosition(pub queue::Position);

/// Where a queue number stands.
#[Object]
impl QueuePosition {
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
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn until(&self) -> DateTime<Utc> {
        self.0.until
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// `active`, `appealed`, `lifted` or `upheld`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn appeal(&self) -> Option<&str> {
        self.0.appeal.as_deref()
    }
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

#[derive(InputObject)]
pub struct BookOnBehalfInput {
    /// The mobile number the resident bound in the mini-program.
    pub resident_phone: String,
    pub booking: BookAppointmentInput,
    pub on_behalf: OnBehalfInput,
}

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
        service_point_id: ID,
    ) -> GqlResult<CheckInCode> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        let (code, valid_until) =
            queue::point_check_in_code(ctx.state(), ctx.viewer(), point).await?;
        Ok(CheckInCode { code, valid_until })
    }

    /// Public: the slots of a service point from `from` to `to` (China dates) that can still be
    /// booked. Rest days (holidays) have none; 调休 working weekends have slots.
    async fn available_slots(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
        from: NaiveDate,
        to: NaiveDate,
    ) -> GqlResult<Vec<Slot>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(service::available_slots(ctx.state(), point, from, to)
            .await?
            .into_iter()
            .map(Slot)
            .collect())
    }

    /// Staff: every slot of a point on a day, full or past ones included.
    async fn point_slots(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
        day: NaiveDate,
    ) -> GqlResult<Vec<Slot>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(service::point_slots(ctx.state(), ctx.viewer(), point, day)
            .await?
            .into_iter()
            .map(Slot)
            .collect())
    }

    /// Public: a service point's booking rules (the defaults until an admin sets them).
    async fn booking_policy(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(service::point_policy(&ctx.state().db, point).await?.into())
    }

    /// Staff: the ledger (台账) of a service point in their jurisdiction — or, without
    /// `servicePointId`, of every point in it — between two instants, oldest first, `first`
    /// (1–200) at a time after the `after` cursor.
    #[allow(clippy::too_many_arguments)]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        service_point_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: Option<LedgerFilterInput>,
        #[graphql(default = 50)] first: i32,
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
        service_point_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
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
        service_point_id: ID,
        day: NaiveDate,
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
        service_point_id: ID,
    ) -> GqlResult<Vec<QueueTicket>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(queue::today(ctx.state(), ctx.viewer(), point)
            .await?
            .into_iter()
            .map(QueueTicket)
            .collect())
    }

    /// Where a queue number stands now (its resident, or the point's desk).
    async fn queue_position(&self, ctx: &Context<'_>, ticket_id: ID) -> GqlResult<QueuePosition> {
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
        input: BookAppointmentInput,
    ) -> GqlResult<Booking> {
        let booker = Booker::Resident {
            client_ip: ctx.client_ip().to_string(),
        };
        Ok(Booking(
            service::book(ctx.state(), ctx.viewer(), booker, input.into_service()?).await?,
        ))
    }

    /// The point's desk: book for a resident (found by the phone number bound to their account)
    /// who called or came to the counter, with the channel and consent recorded (audited).
    async fn book_on_behalf(
        &self,
        ctx: &Context<'_>,
        input: BookOnBehalfInput,
    ) -> GqlResult<Booking> {
        let booker = Booker::Staff {
            client_ip: ctx.client_ip().to_string(),
            resident_phone: input.resident_phone,
            on_behalf: input.on_behalf.into(),
        };
        Ok(Booking(
            service::book(
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
        id: ID,
        on_behalf: Option<OnBehalfInput>,
    ) -> GqlResult<Booking> {
        Ok(Booking(
            service::cancel(
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
        id: ID,
        slot_id: ID,
        on_behalf: Option<OnBehalfInput>,
    ) -> GqlResult<Booking> {
        Ok(Booking(
            service::reschedule(
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
        service_point_id: ID,
        input: BookingPolicyInput,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(
            service::set_policy(ctx.state(), ctx.viewer(), point, input.into())
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
        staff_id: ID,
        day: NaiveDate,
        on_duty: bool,
    ) -> GqlResult<DutyChangeResult> {
        let staff = parse_id(&staff_id, "staffId")?;
        let change = service::set_duty_day(ctx.state(), ctx.viewer(), staff, day, on_duty).await?;
        Ok(DutyChangeResult {
            overbooked_slots: change.overbooked.into_iter().map(Slot).collect(),
        })
    }

    /// Agents of the point: accept (受理) a booking.
    async fn accept_booking(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Booking> {
        Ok(Booking(
            service::review(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, true, None).await?,
        ))
    }

    /// Agents of the point: refuse (不予受理) with a reason code and an explanation for the resident.
    async fn refuse_booking(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason_code: String,
        explanation: String,
    ) -> GqlResult<Booking> {
        let reason = Some((reason_code, explanation));
        Ok(Booking(
            service::review(
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
    async fn leave_waitlist(&self, ctx: &Context<'_>, id: ID) -> GqlResult<WaitlistEntry> {
        Ok(WaitlistEntry(
            waitlist::leave(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Residents: take the seat held for you before `offeredUntil`.
    async fn claim_waitlist_offer(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Booking> {
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
        point_scene: String,
        check_in_code: String,
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
        service_point_id: ID,
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
        service_point_id: ID,
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
        id: ID,
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
        input: RecordContactInput,
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
        id: ID,
        reason: String,
    ) -> GqlResult<BookingRestriction> {
        Ok(BookingRestriction(
            restrictions::appeal(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, &reason).await?,
        ))
    }

    /// County administrators: lift or uphold an appealed restriction, with the reason (audited).
    async fn decide_restriction_appeal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        lift: bool,
        decision: String,
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
        ticket_id: ID,
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
