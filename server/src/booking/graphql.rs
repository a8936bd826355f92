//! Booking in the API.
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{bookings, slots};

use crate::{
    booking::{
        model::{BookingKind, BookingStatus},
        service::{self, BookInput, Enterprise},
    },
    directory::graphql::{Item, ServicePoint, parse_id},
    graphql::{ContextExt, GqlResult},
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
    async fn status(&self) -> BookingStatus {
        BookingStatus::parse(&self.0.status)
    }
    async fn kind(&self) -> Option<BookingKind> {
        BookingKind::parse(&self.0.kind)
    }
    async fn slot(&self, ctx: &Context<'_>) -> GqlResult<Option<Slot>> {
        use sea_orm::EntityTrait;
        let slot = slots::Entity::find_by_id(self.0.slot_id)
            .one(&ctx.state().db)
            .await
            .map_err(crate::error::AppError::from)?;
        Ok(slot.map(Slot))
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
}

/// One ledger (台账) entry: a contact and its outcome.
pub struct LedgerEntry(pub entity::ledger_entries::Model);

/// One ledger (台账) entry: a contact and its outcome.
#[Object]
impl LedgerEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `online`, `phone`, `window` or `remote`.
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    /// `booked`, `accepted`, `refused`, `cancelled`, `no_show` or `served`.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// When it happened (UTC, ISO 8601); for back-filled entries, the original time.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Entered later from paper (补录).
    async fn backfilled(&self) -> bool {
        self.0.backfilled
    }
    /// The booking's code, when the contact was a booking.
    async fn booking_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        use sea_orm::EntityTrait;
        let Some(id) = self.0.booking_id else {
            return Ok(None);
        };
        let booking = bookings::Entity::find_by_id(id)
            .one(&ctx.state().db)
            .await
            .map_err(crate::error::AppError::from)?;
        Ok(booking.map(|b| b.code))
    }
    /// The catalogue item, when known.
    async fn item(&self, ctx: &Context<'_>) -> GqlResult<Option<Item>> {
        match self.0.item_id {
            Some(id) => Ok(Some(Item(
                crate::directory::service::item(&ctx.state().db, id).await?,
            ))),
            None => Ok(None),
        }
    }
    /// The staff member who handled or entered it.
    async fn agent_id(&self) -> Option<ID> {
        self.0.agent_id.map(|id| ID(id.to_string()))
    }
}

/// A page of the ledger.
#[derive(async_graphql::SimpleObject)]
pub struct LedgerPageType {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A service point's booking rules (预约规则).
#[derive(async_graphql::SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "BookingPolicyInput")]
pub struct BookingPolicy {
    /// Length of a slot in minutes (5–240).
    pub slot_minutes: i32,
    /// Seats per on-duty agent in each slot (1–20).
    pub seats_per_agent: i32,
    /// How many days ahead residents may book (1–60).
    pub window_days: i32,
    /// How many minutes before a slot a booking must be made.
    pub min_notice_minutes: i32,
    /// Until how many minutes before a slot residents may cancel online.
    pub cancel_cutoff_minutes: i32,
    /// Open bookings a resident may hold at once (1–20).
    pub max_open_bookings: i32,
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
        }
    }
}

impl From<BookingPolicy> for crate::booking::model::Policy {
    fn from(p: BookingPolicy) -> Self {
        Self {
            slot_minutes: i64::from(p.slot_minutes),
            seats_per_agent: i64::from(p.seats_per_agent),
            window_days: i64::from(p.window_days),
            min_notice_minutes: i64::from(p.min_notice_minutes),
            cancel_cutoff_minutes: i64::from(p.cancel_cutoff_minutes),
            max_open_bookings: i64::from(p.max_open_bookings),
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
    pub idempotency_key: String,
}

#[derive(Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
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

    /// Public: a service point's booking rules (the defaults until an admin sets them).
    async fn booking_policy(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        crate::directory::service::service_point(&ctx.state().db, point).await?;
        Ok(service::policy(&ctx.state().db, point).await?.into())
    }

    /// Staff: a service point's ledger (台账) between two instants, oldest first, `first` (1–200)
    /// at a time after the `after` cursor.
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> GqlResult<LedgerPageType> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        let first = u64::try_from(first).unwrap_or(0);
        let page = service::ledger_page(
            ctx.state(),
            ctx.viewer(),
            point,
            from,
            to,
            first,
            after.as_deref(),
        )
        .await?;
        Ok(LedgerPageType {
            entries: page.entries.into_iter().map(LedgerEntry).collect(),
            next_cursor: page.next,
        })
    }

    /// Residents: their bookings, newest first.
    async fn my_bookings(&self, ctx: &Context<'_>) -> GqlResult<Vec<Booking>> {
        Ok(service::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(Booking)
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
}

#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Residents: book a slot. SLOT_FULL when no seat is left; BAD_USER_INPUT naming the field for
    /// a past or too-near slot, a slot of another point, an item not handled here, a bad credit
    /// code, or too many open bookings; RATE_LIMITED when booking too fast.
    async fn book_appointment(
        &self,
        ctx: &Context<'_>,
        input: BookAppointmentInput,
    ) -> GqlResult<Booking> {
        let data = BookInput {
            service_point_id: parse_id(&input.service_point_id, "input.servicePointId")?,
            slot_id: parse_id(&input.slot_id, "input.slotId")?,
            item_id: parse_id(&input.item_id, "input.itemId")?,
            kind: input.kind,
            enterprise: input.enterprise.map(|e| Enterprise {
                name: e.name,
                credit_code: e.credit_code,
            }),
            note: input.note,
            idempotency_key: input.idempotency_key,
        };
        Ok(Booking(
            service::book(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// Residents: cancel a booking (up to the point's cutoff before the slot; later, call the point).
    async fn cancel_booking(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Booking> {
        Ok(Booking(
            service::cancel(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Admins over the point: set its booking rules (audited). Days already generated keep their
    /// slots; later days follow the new rules.
    async fn set_booking_policy(
        &self,
        ctx: &Context<'_>,
        service_point_id: ID,
        input: BookingPolicy,
    ) -> GqlResult<BookingPolicy> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(
            service::set_policy(ctx.state(), ctx.viewer(), point, input.into())
                .await?
                .into(),
        )
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
}
