//! Booking use cases. A seat is taken with a guarded `UPDATE … SET booked = booked + 1 WHERE
//! booked < capacity` in the same transaction as the booking, its ledger entry, its idempotency
//! record and its event, so the count can never pass the capacity and nothing half-exists.
//!
//! `slots.booked` counts seats taken by bookings and seats held for a waitlist offer. A freed
//! seat goes back to the slot and, in the same transaction, to the first resident waiting.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{
    booking_policies, booking_restrictions, bookings, idempotency_keys, items, ledger_entries,
    service_points, slots, staff_accounts, staff_duty_days, users, waitlist_entries,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer, service::is_unique_violation},
    booking::model::{
        BookingKind, BookingStatus, Policy, capacity, check_bookable, china_instant, new_code,
        slot_times,
    },
    calendar,
    directory::{
        changes::local_date,
        jurisdiction::Jurisdiction,
        model::{OpeningHours, RegionLevel, ServicePointKind, text},
        service::{ItemFields, region},
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key, staff_key},
    pii::{CreditCode, MobileNumber},
    state::AppState,
};

/// How a contact reached the point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum Channel {
    /// The resident, in the mini-program.
    Online,
    /// Staff, on the telephone with the resident.
    Phone,
    /// Staff, at the counter (窗口) with the resident present.
    Window,
    /// An agent acting for the resident (代办) under their recorded consent.
    AgentOnBehalf,
    /// A remote (video or messaging) consultation.
    Remote,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Phone => "phone",
            Self::Window => "window",
            Self::AgentOnBehalf => "agent_on_behalf",
            Self::Remote => "remote",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Online,
            Self::Phone,
            Self::Window,
            Self::AgentOnBehalf,
            Self::Remote,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Staff acting for a resident: how, and the consent they recorded.
#[derive(Clone, Debug)]
pub struct OnBehalf {
    pub channel: Channel,
    /// Required for AGENT_ON_BEHALF: how and when the resident consented.
    pub consent: Option<String>,
}

impl OnBehalf {
    fn validate(self) -> AppResult<Self> {
        let consent = self
            .consent
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| text(c, "onBehalf.consent", 300))
            .transpose()?;
        match self.channel {
            Channel::Online => Err(AppError::bad_input(
                "onBehalf.channel",
                "staff act by PHONE, WINDOW, AGENT_ON_BEHALF or REMOTE",
            )),
            Channel::AgentOnBehalf if consent.is_none() => Err(AppError::bad_input(
                "onBehalf.consent",
                "acting on a resident's behalf needs their recorded consent",
            )),
            channel => Ok(Self { channel, consent }),
        }
    }
}

/// The point's policy, or the defaults.
pub async fn policy(conn: &impl ConnectionTrait, point_id: Uuid) -> AppResult<Policy> {
    Ok(
        match booking_policies::Entity::find_by_id(point_id)
            .one(conn)
            .await?
        {
            Some(p) => Policy {
                slot_minutes: i64::from(p.slot_minutes),
                seats_per_agent: i64::from(p.seats_per_agent),
                window_days: i64::from(p.window_days),
                min_notice_minutes: i64::from(p.min_notice_minutes),
                cancel_cutoff_minutes: i64::from(p.cancel_cutoff_minutes),
                max_open_bookings: i64::from(p.max_open_bookings),
                no_show_limit: i64::from(p.no_show_limit),
                no_show_window_days: i64::from(p.no_show_window_days),
                no_show_ban_days: i64::from(p.no_show_ban_days),
                review_hours: i64::from(p.review_hours),
                grace_minutes: i64::from(p.grace_minutes),
                hold_minutes: i64::from(p.hold_minutes),
                remind_day_before_hour: i64::from(p.remind_day_before_hour),
                remind_before_minutes: i64::from(p.remind_before_minutes),
            },
            None => Policy::default(),
        },
    )
}

pub const AGENT_ROLES: [&str; 3] = ["village_agent", "township_agent", "county_agent"];

/// Agents serving at the point on `day`: active agents of the point whose duty that day (or,
/// without a day entry, their standing on-duty flag) is on.
pub async fn agents_on_duty(
    conn: &impl ConnectionTrait,
    point_id: Uuid,
    day: NaiveDate,
) -> AppResult<i64> {
    let agents = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::ServicePointId.eq(point_id))
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(staff_accounts::Column::Role.is_in(AGENT_ROLES))
        .all(conn)
        .await?;
    let overrides = staff_duty_days::Entity::find()
        .filter(staff_duty_days::Column::Day.eq(day))
        .filter(staff_duty_days::Column::StaffId.is_in(agents.iter().map(|a| a.id)))
        .all(conn)
        .await?;
    Ok(agents
        .iter()
        .filter(|a| {
            overrides
                .iter()
                .find(|o| o.staff_id == a.id)
                .map_or(a.on_duty, |o| o.on_duty)
        })
        .count() as i64)
}

async fn active_point(
    conn: &impl ConnectionTrait,
    id: Uuid,
    field: &str,
) -> AppResult<service_points::Model> {
    service_points::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| AppError::bad_input(field, "no such service point"))
}

/// The day's slots at a point, created on first use: none on rest days (holidays included, 调休
/// working weekends not), capacity from the agents on duty that day.
pub async fn ensure_slots(
    state: &AppState,
    point: &service_points::Model,
    day: NaiveDate,
) -> AppResult<Vec<slots::Model>> {
    let calendar = calendar::service::load(&state.db).await?;
    if !calendar.is_workday(day).value {
        return Ok(Vec::new());
    }
    let policy = policy(&state.db, point.id).await?;
    let hours = OpeningHours::from_json(&point.opening_hours);
    let weekday = chrono::Datelike::weekday(&day).num_days_from_monday() as usize;
    // A 调休 working weekend uses the hours of a weekday (Monday's).
    let intervals = if hours.0[weekday].is_empty() {
        &hours.0[0]
    } else {
        &hours.0[weekday]
    };
    let existing = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point.id))
        .filter(slots::Column::Day.eq(day))
        .count(&state.db)
        .await?;
    if existing == 0 {
        let capacity = capacity(
            agents_on_duty(&state.db, point.id, day).await?,
            policy.seats_per_agent,
            0,
        );
        let capacity = i32::try_from(capacity).unwrap_or(i32::MAX);
        for (start, end) in slot_times(intervals, policy.slot_minutes) {
            slots::Entity::insert(slots::ActiveModel {
                id: Set(Uuid::now_v7()),
                service_point_id: Set(point.id),
                day: Set(day),
                starts_at: Set(china_instant(day, start)),
                ends_at: Set(china_instant(day, end)),
                capacity: Set(capacity),
                booked: Set(0),
            })
            .on_conflict(
                OnConflict::columns([slots::Column::ServicePointId, slots::Column::StartsAt])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&state.db)
            .await?;
        }
    }
    Ok(slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point.id))
        .filter(slots::Column::Day.eq(day))
        .order_by_asc(slots::Column::StartsAt)
        .all(&state.db)
        .await?)
}

/// Public: the slots of a point from `from` to `to` (at most the booking window) that can still
/// be booked now — never one that cannot.
pub async fn available_slots(
    state: &AppState,
    point_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<slots::Model>> {
    let point = active_point(&state.db, point_id, "servicePointId").await?;
    let policy = policy(&state.db, point.id).await?;
    if to < from {
        return Err(AppError::bad_input("to", "must not be before `from`"));
    }
    if (to - from).num_days() > policy.window_days {
        return Err(AppError::bad_input(
            "to",
            format!("at most {} days at a time", policy.window_days),
        ));
    }
    let now = state.clock.now();
    let mut out = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        if day < local_date(now) || (day - local_date(now)).num_days() > policy.window_days {
            continue;
        }
        for slot in ensure_slots(state, &point, day).await? {
            if slot.booked < slot.capacity && check_bookable(now, slot.starts_at, &policy).is_ok() {
                out.push(slot);
            }
        }
    }
    Ok(out)
}

/// Staff: every slot of a point on a day, full ones included (for moving bookings).
pub async fn point_slots(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    day: NaiveDate,
) -> AppResult<Vec<slots::Model>> {
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
    ensure_slots(state, &point, day).await
}

// ---------------------------------------------------------------- seats and the sold-out flag

/// The shared-store key that says a slot is full.
pub fn full_key(slot_id: Uuid) -> String {
    format!("booking:full:{slot_id}")
}

fn idempotency_cache_key(user_id: Uuid, key: &str) -> String {
    format!("booking:idem:{user_id}:{key}")
}

/// Takes a seat (guarded); false when the slot is full.
pub(crate) async fn take_seat(conn: &impl ConnectionTrait, slot_id: Uuid) -> AppResult<bool> {
    let taken = slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).add(1),
        )
        .filter(slots::Column::Id.eq(slot_id))
        .filter(Expr::col(slots::Column::Booked).lt(Expr::col(slots::Column::Capacity)))
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives a seat back and offers free seats to the waitlist, in the caller's transaction. The
/// caller clears the sold-out flag after committing ([`seats_freed`]).
pub(crate) async fn release_seat(
    tx: &mut Tx<'_>,
    slot_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).sub(1),
        )
        .filter(slots::Column::Id.eq(slot_id))
        .filter(slots::Column::Booked.gt(0))
        .exec(&**tx)
        .await?;
    offer_seats(tx, slot_id, now).await
}

/// While the slot has free seats and residents wait for it, holds a seat for the first in line
/// and tells them. Nothing is offered for a slot that can no longer be booked.
pub(crate) async fn offer_seats(
    tx: &mut Tx<'_>,
    slot_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(slot) = slots::Entity::find_by_id(slot_id).one(&**tx).await? else {
        return Ok(());
    };
    let policy = policy(&**tx, slot.service_point_id).await?;
    if slot.starts_at - now < Duration::minutes(policy.min_notice_minutes) {
        return Ok(());
    }
    for _ in 0..1000 {
        let Some(entry) = waitlist_entries::Entity::find()
            .filter(waitlist_entries::Column::SlotId.eq(slot_id))
            .filter(waitlist_entries::Column::Status.eq("waiting"))
            .order_by_asc(waitlist_entries::Column::CreatedAt)
            .order_by_asc(waitlist_entries::Column::Id)
            .one(&**tx)
            .await?
        else {
            return Ok(());
        };
        if !take_seat(&**tx, slot_id).await? {
            return Ok(());
        }
        let until = now + Duration::minutes(policy.hold_minutes);
        let offered = waitlist_entries::Entity::update_many()
            .col_expr(waitlist_entries::Column::Status, Expr::value("offered"))
            .col_expr(
                waitlist_entries::Column::OfferedUntil,
                Expr::value(Some(until)),
            )
            .col_expr(waitlist_entries::Column::UpdatedAt, Expr::value(now))
            .filter(waitlist_entries::Column::Id.eq(entry.id))
            .filter(waitlist_entries::Column::Status.eq("waiting"))
            .exec(&**tx)
            .await?;
        if offered.rows_affected == 0 {
            // The resident left meanwhile: give the seat back and look at the next.
            slots::Entity::update_many()
                .col_expr(
                    slots::Column::Booked,
                    Expr::col(slots::Column::Booked).sub(1),
                )
                .filter(slots::Column::Id.eq(slot_id))
                .exec(&**tx)
                .await?;
            continue;
        }
        tx.emit(EventDraft {
            kind: "waitlist.offered",
            topic: "booking",
            subject_kind: "waitlist",
            subject_id: entry.id.to_string(),
            audience: vec![resident_key(entry.user_id)],
            payload: json!({"slotId": slot_id, "startsAt": slot.starts_at.to_rfc3339(), "offeredUntil": until.to_rfc3339(), "status": "offered"}),
        });
    }
    Ok(())
}

/// After a commit that freed seats: the slot is no longer sold out.
pub(crate) async fn seats_freed(state: &AppState, slot_id: Uuid) {
    if let Err(error) = state.store.delete(&full_key(slot_id)).await {
        tracing::warn!(error = %error, "could not clear a sold-out flag; it expires by itself");
    }
}

/// Raises or lowers the capacity of a point's slots on `day` to match the agents on duty, never
/// below what is booked; freed seats go to the waitlist. Returns the slots that hold more
/// bookings than the new duty can serve (their bookings must be moved by staff).
pub(crate) async fn recompute_capacity(
    tx: &mut Tx<'_>,
    point_id: Uuid,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<Vec<slots::Model>> {
    let policy = policy(&**tx, point_id).await?;
    let target = agents_on_duty(&**tx, point_id, day).await? * policy.seats_per_agent;
    let target = i32::try_from(target).unwrap_or(i32::MAX);
    let day_slots = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.eq(day))
        .order_by_asc(slots::Column::StartsAt)
        .all(&**tx)
        .await?;
    let mut overbooked = Vec::new();
    for slot in day_slots {
        // In SQL, so a concurrent booking is never undercut: capacity = max(target, booked).
        slots::Entity::update_many()
            .col_expr(
                slots::Column::Capacity,
                Expr::case(
                    Expr::col(slots::Column::Booked).gt(target),
                    Expr::col(slots::Column::Booked),
                )
                .finally(target)
                .into(),
            )
            .filter(slots::Column::Id.eq(slot.id))
            .exec(&**tx)
            .await?;
        offer_seats(tx, slot.id, now).await?;
        let after = slots::Entity::find_by_id(slot.id)
            .one(&**tx)
            .await?
            .ok_or(AppError::NotFound("slot"))?;
        if after.booked > target {
            overbooked.push(after);
        }
    }
    Ok(overbooked)
}

// ---------------------------------------------------------------- booking

/// An enterprise applicant (企业): name and unified social credit code.
pub struct Enterprise {
    pub name: String,
    pub credit_code: String,
}

pub struct BookInput {
    pub service_point_id: Uuid,
    pub slot_id: Uuid,
    pub item_id: Uuid,
    pub kind: BookingKind,
    pub enterprise: Option<Enterprise>,
    pub note: Option<String>,
    pub idempotency_key: String,
}

fn request_hash(input: &BookInput, extra: &str) -> String {
    let canonical = json!({
        "point": input.service_point_id, "slot": input.slot_id, "item": input.item_id, "kind": input.kind.as_str(),
        "enterprise": input.enterprise.as_ref().map(|e| (e.name.clone(), e.credit_code.clone())),
        "note": input.note, "extra": extra,
    });
    Sha256::digest(canonical.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The booking an idempotency key already produced: the same booking for the same request,
/// CONFLICT for a different one.
async fn replay(
    conn: &impl ConnectionTrait,
    actor: Uuid,
    key: &str,
    hash: &str,
) -> AppResult<Option<bookings::Model>> {
    let Some(record) = idempotency_keys::Entity::find_by_id((actor, key.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if record.request_hash != hash {
        return Err(AppError::Conflict(
            "this idempotency key was used for a different request".into(),
        ));
    }
    Ok(bookings::Entity::find_by_id(record.booking_id)
        .one(conn)
        .await?)
}

fn resident_of(viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::Resident { user_id, .. } => Ok(*user_id),
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Staff { .. } => Err(AppError::Forbidden(
            "residents only; staff act on a resident's behalf with `onBehalf`".into(),
        )),
    }
}

fn valid_key(key: &str) -> AppResult<String> {
    let key = key.trim();
    if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_input(
            "input.idempotencyKey",
            "1–64 printable ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// The booking attempt rate limits: per resident (or staff member) and per client address.
async fn limit_attempts(state: &AppState, actor: Uuid, client_ip: &str) -> AppResult<()> {
    let limits = &state.settings.limits;
    let minute = StdDuration::from_secs(60);
    state
        .limiter
        .check(
            &format!("book:user:{actor}"),
            limits.book_per_user_per_minute,
            minute,
        )
        .await?;
    state
        .limiter
        .check(
            &format!("book:ip:{client_ip}"),
            limits.book_per_ip_per_minute,
            minute,
        )
        .await
}

/// An active restriction of online booking (the no-show rule), if any.
pub async fn active_restriction(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<booking_restrictions::Model>> {
    Ok(booking_restrictions::Entity::find()
        .filter(booking_restrictions::Column::UserId.eq(user_id))
        .filter(booking_restrictions::Column::Status.is_in(["active", "appealed"]))
        .filter(booking_restrictions::Column::Until.gt(now))
        .one(conn)
        .await?)
}

/// What a booking is for, validated.
pub(crate) struct Target {
    pub point: service_points::Model,
    pub item: items::Model,
    pub slot: slots::Model,
    pub policy: Policy,
}

/// Checks point, item and slot: the item must be handled at the point's level and the slot
/// must belong to the point. `field` prefixes the field names in errors.
pub(crate) async fn target(
    conn: &impl ConnectionTrait,
    point_id: Uuid,
    item_id: Uuid,
    slot_id: Uuid,
    field: &str,
) -> AppResult<Target> {
    let point = active_point(conn, point_id, &format!("{field}.servicePointId")).await?;
    let item = items::Entity::find_by_id(item_id)
        .one(conn)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| {
            AppError::bad_input(format!("{field}.itemId"), "no such item in the catalogue")
        })?;
    let level: RegionLevel = point
        .kind
        .parse::<ServicePointKind>()
        .map(|k| k.level())
        .unwrap_or(RegionLevel::County);
    if !ItemFields::of(&item).levels.contains(&level) {
        return Err(AppError::bad_input(
            format!("{field}.itemId"),
            "this item is not handled at this service point's level",
        ));
    }
    let slot = slots::Entity::find_by_id(slot_id)
        .one(conn)
        .await?
        .filter(|s| s.service_point_id == point.id)
        .ok_or_else(|| {
            AppError::bad_input(
                format!("{field}.slotId"),
                "no such slot at this service point",
            )
        })?;
    let policy = policy(conn, point.id).await?;
    Ok(Target {
        point,
        item,
        slot,
        policy,
    })
}

/// Everything a new booking row needs besides its target.
pub(crate) struct NewBooking {
    pub user_id: Uuid,
    pub kind: BookingKind,
    pub enterprise: Option<(String, CreditCode)>,
    pub note: Option<String>,
    pub channel: Channel,
    pub created_by: Option<Uuid>,
    pub consent: Option<String>,
    /// The seat is already held (a waitlist offer being claimed).
    pub seat_held: bool,
}

/// Inside the caller's transaction: the open-bookings cap, the seat, the booking row (with a
/// fresh code), its ledger entry and its event.
pub(crate) async fn insert_booking(
    tx: &mut Tx<'_>,
    target: &Target,
    new: NewBooking,
    id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bookings::Model> {
    // One read for both rules: the cap on open bookings, and one open booking per slot.
    let open: Vec<Uuid> = bookings::Entity::find()
        .select_only()
        .column(bookings::Column::SlotId)
        .filter(bookings::Column::UserId.eq(new.user_id))
        .filter(bookings::Column::OpenMarker.eq(1))
        .into_tuple()
        .all(&**tx)
        .await?;
    if open.contains(&target.slot.id) {
        return Err(AppError::Conflict(
            "there is already a booking for this resident in this slot".into(),
        ));
    }
    if open.len() as i64 >= target.policy.max_open_bookings {
        return Err(AppError::bad_input(
            "input",
            format!(
                "{} open bookings already; at most {} at a time",
                open.len(),
                target.policy.max_open_bookings
            ),
        ));
    }
    if !new.seat_held && !take_seat(&**tx, target.slot.id).await? {
        return Err(AppError::SlotFull);
    }
    let mut inserted = None;
    for _ in 0..5 {
        let row = bookings::Model {
            id,
            code: new_code(),
            slot_id: target.slot.id,
            service_point_id: target.point.id,
            item_id: target.item.id,
            user_id: new.user_id,
            kind: new.kind.as_str().into(),
            enterprise_name: new.enterprise.as_ref().map(|(n, _)| n.clone()),
            credit_code: new.enterprise.as_ref().map(|(_, c)| c.as_str().to_string()),
            note: new.note.clone(),
            status: BookingStatus::Booked.as_str().into(),
            open_marker: Some(1),
            channel: new.channel.as_str().into(),
            reason_code: None,
            explanation: None,
            reviewed_by: None,
            reviewed_at: None,
            created_at: now,
            updated_at: now,
            checked_in_at: None,
            review_overdue: false,
            reminded_day_before: false,
            reminded_soon: false,
            created_by: new.created_by,
            consent: new.consent.clone(),
            rescheduled_from: None,
        };
        // ON CONFLICT DO NOTHING keeps the transaction usable when the code collides (or a
        // concurrent duplicate slipped in), without a savepoint round trip.
        let written = bookings::Entity::insert(bookings::ActiveModel::from(row.clone()))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(&**tx)
            .await?;
        if written == 1 {
            inserted = Some(row);
            break;
        }
        let open_here = bookings::Entity::find()
            .filter(bookings::Column::SlotId.eq(target.slot.id))
            .filter(bookings::Column::UserId.eq(new.user_id))
            .filter(bookings::Column::OpenMarker.eq(1))
            .count(&**tx)
            .await?;
        if open_here > 0 {
            return Err(AppError::Conflict(
                "there is already a booking for this resident in this slot".into(),
            ));
        }
    }
    let booking = inserted
        .ok_or_else(|| AppError::Conflict("could not allocate a booking code; try again".into()))?;
    ledger(
        &**tx,
        &booking,
        Contact {
            outcome: "booked",
            channel: new.channel,
            agent: new.created_by,
            reason_code: None,
        },
        now,
    )
    .await?;
    tx.emit(EventDraft {
        kind: "booking.created",
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(new.user_id)],
        payload: json!({"code": booking.code, "point": target.point.name, "item": target.item.business_name,
            "startsAt": target.slot.starts_at.to_rfc3339(), "status": "booked", "channel": new.channel.as_str()}),
    });
    Ok(booking)
}

/// Who books: a resident for themselves, or staff for a resident found by their bound phone.
pub enum Booker {
    Resident {
        client_ip: String,
    },
    Staff {
        client_ip: String,
        resident_phone: String,
        on_behalf: OnBehalf,
    },
}

/// Books a slot. Residents book for themselves (restriction and booking window apply); staff of
/// the point book for a resident identified by the phone number bound to their account, with
/// the channel and consent recorded. Idempotent by key per actor (kept 48 h).
pub async fn book(
    state: &AppState,
    viewer: &Viewer,
    booker: Booker,
    input: BookInput,
) -> AppResult<bookings::Model> {
    let key = valid_key(&input.idempotency_key)?;
    let note = input
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| text(n, "input.note", 200))
        .transpose()?;
    let enterprise = match &input.enterprise {
        Some(e) => Some((
            text(&e.name, "input.enterprise.name", 100)?,
            CreditCode::parse(&e.credit_code, "input.enterprise.creditCode")?,
        )),
        None => None,
    };
    let (actor, client_ip, staff) = match &booker {
        Booker::Resident { client_ip } => (resident_of(viewer)?, client_ip.as_str(), None),
        Booker::Staff {
            client_ip,
            resident_phone,
            on_behalf,
        } => {
            let Viewer::Staff { staff_id, .. } = viewer else {
                return Err(match viewer {
                    Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
                    _ => AppError::Forbidden("staff only".into()),
                });
            };
            let phone = MobileNumber::parse(resident_phone, "input.residentPhone")?;
            let on_behalf = on_behalf.clone().validate()?;
            (*staff_id, client_ip.as_str(), Some((phone, on_behalf)))
        }
    };
    let extra = staff
        .as_ref()
        .map(|(p, o)| format!("{}|{}|{:?}", p.as_str(), o.channel.as_str(), o.consent))
        .unwrap_or_default();
    let hash = request_hash(&input, &extra);
    limit_attempts(state, actor, client_ip).await?;

    // The hot path: a cached answer for a retried key, or a sold-out flag, costs no query.
    let cached = state
        .store
        .get_many(&[idempotency_cache_key(actor, &key), full_key(input.slot_id)])
        .await
        .unwrap_or_default();
    let retry = cached.first().is_some_and(Option::is_some);
    if !retry && cached.get(1).is_some_and(Option::is_some) {
        return Err(AppError::SlotFull);
    }
    if let Some(existing) = replay(&state.db, actor, &key, &hash).await? {
        return Ok(existing);
    }

    let target = target(
        &state.db,
        input.service_point_id,
        input.item_id,
        input.slot_id,
        "input",
    )
    .await?;
    let now = state.clock.now();
    let (user_id, channel, created_by, consent) = match staff {
        None => {
            check_bookable(now, target.slot.starts_at, &target.policy)?;
            (actor, Channel::Online, None, None)
        }
        Some((phone, on_behalf)) => {
            ensure_desk(state, viewer, target.point.id).await?;
            if target.slot.starts_at <= now {
                return Err(AppError::bad_input(
                    "input.slotId",
                    "this slot has already started",
                ));
            }
            let bidx = state.cipher.blind_index("phone", phone.as_str());
            let user = users::Entity::find()
                .filter(users::Column::PhoneBidx.eq(bidx))
                .one(&state.db)
                .await?
                .ok_or_else(|| {
                    AppError::bad_input(
                        "input.residentPhone",
                        "no resident has bound this number in the mini-program; record the contact in the ledger instead",
                    )
                })?;
            (user.id, on_behalf.channel, Some(actor), on_behalf.consent)
        }
    };

    let booking_id = Uuid::now_v7();
    let mut tx = Tx::begin(state).await?;
    // The key is claimed first: a concurrent request with the same key waits on it (PostgreSQL)
    // or runs after this one (SQLite), fails to insert it, and answers as this one did.
    let claimed = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
        user_id: Set(actor),
        key: Set(key.clone()),
        request_hash: Set(hash.clone()),
        booking_id: Set(booking_id),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_keys::Column::UserId,
            idempotency_keys::Column::Key,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&*tx)
    .await?;
    if claimed == 0 {
        drop(tx);
        return replay(&state.db, actor, &key, &hash).await?.ok_or_else(|| {
            AppError::Conflict("a concurrent request with this key is in progress".into())
        });
    }
    if channel == Channel::Online
        && let Some(restriction) = active_restriction(&*tx, user_id, now).await?
    {
        return Err(AppError::BookingRestricted(format!(
            "online booking is suspended until {} after repeated no-shows; you may appeal",
            restriction.until.to_rfc3339()
        )));
    }
    let new = NewBooking {
        user_id,
        kind: input.kind,
        enterprise,
        note,
        channel,
        created_by,
        consent,
        seat_held: false,
    };
    let booking = match insert_booking(&mut tx, &target, new, booking_id, now).await {
        Err(AppError::SlotFull) => {
            drop(tx);
            let ttl = StdDuration::from_secs(state.settings.limits.sold_out_flag_seconds);
            if !ttl.is_zero() {
                let _ = state.store.set(&full_key(target.slot.id), "1", ttl).await;
            }
            return Err(AppError::SlotFull);
        }
        other => other?,
    };
    if let Some(staff_id) = created_by {
        crate::audit::record_action(
            &*tx,
            now,
            viewer,
            "booking.on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "staff": staff_id}),
        )
        .await?;
    }
    tx.commit().await?;
    let _ = state
        .store
        .set(
            &idempotency_cache_key(actor, &key),
            &booking.id.to_string(),
            StdDuration::from_secs(IDEMPOTENCY_HOURS * 3600),
        )
        .await;
    Ok(booking)
}

/// How long idempotency keys are kept (at least the 24 h promised).
pub const IDEMPOTENCY_HOURS: u64 = 48;

/// What a ledger entry records about a contact.
pub(crate) struct Contact<'a> {
    pub outcome: &'a str,
    pub channel: Channel,
    pub agent: Option<Uuid>,
    pub reason_code: Option<String>,
}

pub(crate) async fn ledger(
    conn: &impl ConnectionTrait,
    booking: &bookings::Model,
    contact: Contact<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // Microsecond precision, as both databases store it, so that page cursors compare exactly.
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    ledger_entries::ActiveModel {
        id: Set(Uuid::now_v7()),
        service_point_id: Set(booking.service_point_id),
        booking_id: Set(Some(booking.id)),
        user_id: Set(Some(booking.user_id)),
        item_id: Set(Some(booking.item_id)),
        channel: Set(contact.channel.as_str().into()),
        outcome: Set(contact.outcome.into()),
        agent_id: Set(contact.agent),
        occurred_at: Set(now),
        backfilled: Set(false),
        entered_by: Set(contact.agent),
        entered_at: Set(now),
        reason_code: Set(contact.reason_code),
        applicant_name_enc: Set(None),
        note: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Closes an open booking (guarded on its status). The caller decides about the seat.
pub(crate) async fn close_booking(
    conn: &impl ConnectionTrait,
    booking: &bookings::Model,
    to: BookingStatus,
    reviewed_by: Option<Uuid>,
    reason: Option<(String, String)>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut update = bookings::Entity::update_many()
        .col_expr(bookings::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            bookings::Column::OpenMarker,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(bookings::Column::UpdatedAt, Expr::value(now))
        .filter(bookings::Column::Id.eq(booking.id))
        .filter(bookings::Column::Status.is_in([
            BookingStatus::Booked.as_str(),
            BookingStatus::Accepted.as_str(),
        ]));
    if let Some(by) = reviewed_by {
        update = update
            .col_expr(bookings::Column::ReviewedBy, Expr::value(Some(by)))
            .col_expr(bookings::Column::ReviewedAt, Expr::value(Some(now)));
    }
    if let Some((code, explanation)) = reason {
        update = update
            .col_expr(bookings::Column::ReasonCode, Expr::value(Some(code)))
            .col_expr(
                bookings::Column::Explanation,
                Expr::value(Some(explanation)),
            );
    }
    if update.exec(conn).await?.rows_affected == 0 {
        return Err(AppError::InvalidTransition(format!(
            "the booking is {} already",
            booking.status
        )));
    }
    Ok(())
}

/// Who may change a booking, and how: its resident (online, within the cutoff) or the point's
/// staff on the resident's behalf (until the slot starts).
async fn actor_for(
    state: &AppState,
    viewer: &Viewer,
    booking: &bookings::Model,
    on_behalf: Option<OnBehalf>,
) -> AppResult<(Channel, Option<Uuid>, Option<String>)> {
    match (viewer, on_behalf) {
        (Viewer::Resident { user_id, .. }, None) if *user_id == booking.user_id => {
            Ok((Channel::Online, None, None))
        }
        (Viewer::Resident { user_id, .. }, Some(_)) if *user_id == booking.user_id => Err(
            AppError::bad_input("onBehalf", "only staff act on a resident's behalf"),
        ),
        (Viewer::Staff { .. }, on_behalf) => {
            let who = ensure_desk(state, viewer, booking.service_point_id)
                .await
                .map_err(|e| match e {
                    AppError::NotFound(_) => AppError::NotFound("booking"),
                    other => other,
                })?;
            let on_behalf = on_behalf
                .ok_or_else(|| {
                    AppError::bad_input(
                        "onBehalf",
                        "staff give the channel (and consent) when acting for a resident",
                    )
                })?
                .validate()?;
            Ok((on_behalf.channel, Some(who.staff_id), on_behalf.consent))
        }
        (Viewer::Anonymous, _) => Err(AppError::Unauthenticated("log in first".into())),
        _ => Err(AppError::NotFound("booking")),
    }
}

async fn load_booking(state: &AppState, id: Uuid) -> AppResult<bookings::Model> {
    bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))
}

async fn load_slot(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<slots::Model> {
    slots::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("slot"))
}

/// The resident cancels their booking up to the point's cutoff; staff cancel on their behalf
/// until the slot starts. The seat goes to the waitlist or back on sale.
pub async fn cancel(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    on_behalf: Option<OnBehalf>,
) -> AppResult<bookings::Model> {
    let booking = load_booking(state, id).await?;
    let (channel, staff, consent) = actor_for(state, viewer, &booking, on_behalf).await?;
    let slot = load_slot(&state.db, booking.slot_id).await?;
    let policy = policy(&state.db, booking.service_point_id).await?;
    let now = state.clock.now();
    if !BookingStatus::parse(&booking.status).is_open() {
        return Err(AppError::InvalidTransition(format!(
            "the booking is {} already",
            booking.status
        )));
    }
    if booking.checked_in_at.is_some() {
        return Err(AppError::InvalidTransition(
            "the resident has checked in and holds a queue number; finish it at the counter".into(),
        ));
    }
    if staff.is_none() && slot.starts_at - now < Duration::minutes(policy.cancel_cutoff_minutes) {
        return Err(AppError::InvalidTransition(format!(
            "online cancellation closes {} minutes before the slot; please call the service point",
            policy.cancel_cutoff_minutes
        )));
    }
    if slot.starts_at <= now {
        return Err(AppError::InvalidTransition(
            "the slot has started; the booking is served or becomes a no-show".into(),
        ));
    }
    let mut tx = Tx::begin(state).await?;
    close_booking(&*tx, &booking, BookingStatus::Cancelled, None, None, now).await?;
    release_seat(&mut tx, booking.slot_id, now).await?;
    ledger(
        &*tx,
        &booking,
        Contact {
            outcome: "cancelled",
            channel,
            agent: staff,
            reason_code: None,
        },
        now,
    )
    .await?;
    if staff.is_some() {
        crate::audit::record_action(
            &*tx,
            now,
            viewer,
            "booking.cancelled_on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "consent": consent.is_some()}),
        )
        .await?;
    }
    tx.emit(EventDraft {
        kind: "booking.cancelled",
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(booking.user_id)],
        payload: json!({"code": booking.code, "status": "cancelled", "channel": channel.as_str()}),
    });
    tx.commit().await?;
    seats_freed(state, booking.slot_id).await;
    load_booking(state, id).await
}

/// Moves a booking to another slot of the same point, keeping its code and review: the
/// resident within the cancel cutoff and the booking window, staff on the resident's behalf.
pub async fn reschedule(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    slot_id: Uuid,
    on_behalf: Option<OnBehalf>,
) -> AppResult<bookings::Model> {
    let booking = load_booking(state, id).await?;
    let (channel, staff, consent) = actor_for(state, viewer, &booking, on_behalf).await?;
    if let Viewer::Resident { .. } = viewer {
        state
            .limiter
            .check(
                &format!("book:user:{}", booking.user_id),
                state.settings.limits.book_per_user_per_minute,
                StdDuration::from_secs(60),
            )
            .await?;
    }
    if !BookingStatus::parse(&booking.status).is_open() || booking.checked_in_at.is_some() {
        return Err(AppError::InvalidTransition(format!(
            "a booking that is {}{} cannot be moved",
            booking.status,
            if booking.checked_in_at.is_some() {
                " and checked in"
            } else {
                ""
            }
        )));
    }
    if slot_id == booking.slot_id {
        return Err(AppError::bad_input("slotId", "that is the booking's slot"));
    }
    let old = load_slot(&state.db, booking.slot_id).await?;
    let target = target(
        &state.db,
        booking.service_point_id,
        booking.item_id,
        slot_id,
        "input",
    )
    .await
    .map_err(|e| match e {
        AppError::BadUserInput { message, .. } => AppError::bad_input("slotId", message),
        other => other,
    })?;
    let now = state.clock.now();
    if staff.is_none() {
        if old.starts_at - now < Duration::minutes(target.policy.cancel_cutoff_minutes) {
            return Err(AppError::InvalidTransition(format!(
                "online changes close {} minutes before the slot; please call the service point",
                target.policy.cancel_cutoff_minutes
            )));
        }
        check_bookable(now, target.slot.starts_at, &target.policy)
            .map_err(|e| AppError::bad_input("slotId", e.message()))?;
    } else if target.slot.starts_at <= now || old.starts_at <= now {
        return Err(AppError::bad_input(
            "slotId",
            "only bookings for future slots move, and only to future slots",
        ));
    }
    let mut tx = Tx::begin(state).await?;
    if !take_seat(&*tx, slot_id).await? {
        drop(tx);
        return Err(AppError::SlotFull);
    }
    let moved = bookings::Entity::update_many()
        .col_expr(bookings::Column::SlotId, Expr::value(slot_id))
        .col_expr(bookings::Column::RescheduledFrom, Expr::value(Some(old.id)))
        .col_expr(bookings::Column::RemindedDayBefore, Expr::value(false))
        .col_expr(bookings::Column::RemindedSoon, Expr::value(false))
        .col_expr(bookings::Column::UpdatedAt, Expr::value(now))
        .filter(bookings::Column::Id.eq(id))
        .filter(bookings::Column::SlotId.eq(old.id))
        .filter(bookings::Column::OpenMarker.eq(1))
        .exec(&*tx)
        .await;
    match moved {
        Ok(done) if done.rows_affected == 1 => {}
        Ok(_) => {
            return Err(AppError::InvalidTransition(
                "the booking changed meanwhile; reload it".into(),
            ));
        }
        Err(error) if is_unique_violation(&error) => {
            return Err(AppError::Conflict(
                "there is already a booking for this resident in that slot".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    release_seat(&mut tx, old.id, now).await?;
    ledger(
        &*tx,
        &booking,
        Contact {
            outcome: "rescheduled",
            channel,
            agent: staff,
            reason_code: None,
        },
        now,
    )
    .await?;
    if staff.is_some() {
        crate::audit::record_action(
            &*tx,
            now,
            viewer,
            "booking.moved_on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "consent": consent.is_some(), "from": old.id, "to": slot_id}),
        )
        .await?;
    }
    tx.emit(EventDraft {
        kind: "booking.rescheduled",
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(booking.user_id)],
        payload: json!({"code": booking.code, "status": booking.status, "startsAt": target.slot.starts_at.to_rfc3339(), "channel": channel.as_str()}),
    });
    tx.commit().await?;
    seats_freed(state, old.id).await;
    load_booking(state, id).await
}

/// Staff who work a point's desk: its own agents, and admins covering its region.
pub(crate) async fn ensure_desk(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<Jurisdiction> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
    let own_point = staff_accounts::Entity::find_by_id(who.staff_id)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.service_point_id == Some(point_id));
    if own_point || who.is_admin() {
        Ok(who)
    } else if matches!(who.role, Role::Inspector | Role::Auditor) {
        Err(AppError::Forbidden(
            "inspectors and auditors watch; they do not work the desk".into(),
        ))
    } else {
        Err(AppError::Forbidden(
            "only the agents of this service point work its desk".into(),
        ))
    }
}

/// An agent of the point accepts (受理) or refuses (不予受理, with a reason code and an explanation).
pub async fn review(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    accept: bool,
    reason: Option<(String, String)>,
) -> AppResult<bookings::Model> {
    let booking = load_booking(state, id).await?;
    let who = ensure_desk(state, viewer, booking.service_point_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound("booking"),
            other => other,
        })?;
    let reason = match (accept, reason) {
        (true, _) => None,
        (false, Some((code, explanation))) => Some((
            text(&code, "reasonCode", 32)?,
            text(&explanation, "explanation", 500)?,
        )),
        (false, None) => {
            return Err(AppError::bad_input(
                "reasonCode",
                "a refusal needs a reason code and an explanation",
            ));
        }
    };
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    if accept {
        let updated = bookings::Entity::update_many()
            .col_expr(
                bookings::Column::Status,
                Expr::value(BookingStatus::Accepted.as_str()),
            )
            .col_expr(
                bookings::Column::ReviewedBy,
                Expr::value(Some(who.staff_id)),
            )
            .col_expr(bookings::Column::ReviewedAt, Expr::value(Some(now)))
            .col_expr(bookings::Column::UpdatedAt, Expr::value(now))
            .filter(bookings::Column::Id.eq(id))
            .filter(bookings::Column::Status.eq(BookingStatus::Booked.as_str()))
            .exec(&*tx)
            .await?;
        if updated.rows_affected == 0 {
            return Err(AppError::InvalidTransition(format!(
                "the booking is {} already",
                booking.status
            )));
        }
    } else {
        close_booking(
            &*tx,
            &booking,
            BookingStatus::Refused,
            Some(who.staff_id),
            reason.clone(),
            now,
        )
        .await?;
        release_seat(&mut tx, booking.slot_id, now).await?;
        // Refused at the counter after checking in: the number leaves the queue.
        entity::queue_tickets::Entity::update_many()
            .col_expr(
                entity::queue_tickets::Column::Status,
                Expr::value("withdrawn"),
            )
            .col_expr(
                entity::queue_tickets::Column::FinishedAt,
                Expr::value(Some(now)),
            )
            .filter(entity::queue_tickets::Column::BookingId.eq(booking.id))
            .filter(entity::queue_tickets::Column::Status.is_in(["waiting", "called"]))
            .exec(&*tx)
            .await?;
    }
    let outcome = if accept { "accepted" } else { "refused" };
    ledger(
        &*tx,
        &booking,
        Contact {
            outcome,
            channel: Channel::parse(&booking.channel).unwrap_or(Channel::Online),
            agent: Some(who.staff_id),
            reason_code: reason.as_ref().map(|r| r.0.clone()),
        },
        now,
    )
    .await?;
    crate::audit::record_action(
        &*tx,
        now,
        viewer,
        &format!("booking.{outcome}"),
        "booking",
        booking.id,
        json!({"reasonCode": reason.as_ref().map(|r| r.0.clone())}),
    )
    .await?;
    tx.emit(EventDraft {
        kind: if accept { "booking.accepted" } else { "booking.refused" },
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(booking.user_id), staff_key(who.staff_id)],
        payload: json!({"code": booking.code, "status": outcome, "reasonCode": reason.as_ref().map(|r| r.0.clone()), "explanation": reason.map(|r| r.1)}),
    });
    tx.commit().await?;
    if !accept {
        seats_freed(state, booking.slot_id).await;
    }
    load_booking(state, id).await
}

/// The resident's bookings, newest first.
pub async fn mine(state: &AppState, viewer: &Viewer) -> AppResult<Vec<bookings::Model>> {
    let user_id = resident_of(viewer)?;
    Ok(bookings::Entity::find()
        .filter(bookings::Column::UserId.eq(user_id))
        .order_by_desc(bookings::Column::CreatedAt)
        .all(&state.db)
        .await?)
}

/// Staff: a point's bookings on a day.
pub async fn at_point(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    day: NaiveDate,
) -> AppResult<Vec<bookings::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
    let slot_ids: Vec<Uuid> = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.eq(day))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    Ok(bookings::Entity::find()
        .filter(bookings::Column::SlotId.is_in(slot_ids))
        .order_by_asc(bookings::Column::CreatedAt)
        .all(&state.db)
        .await?)
}

/// The duty of an agent on one day changed (or their standing flag): capacities follow.
pub struct DutyChange {
    pub overbooked: Vec<slots::Model>,
}

/// Admins over an agent's point mark them on or off duty for one day (audited). That day's
/// slots change capacity at once — never below what is booked; slots left holding more
/// bookings than the remaining agents can serve are returned so staff move those bookings.
pub async fn set_duty_day(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
    day: NaiveDate,
    on_duty: bool,
) -> AppResult<DutyChange> {
    let now = state.clock.now();
    if day < local_date(now) {
        return Err(AppError::bad_input("day", "a past day cannot change"));
    }
    let agent = crate::directory::service::staff_member(state, viewer, staff_id).await?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_admin()?;
    let Some(point_id) = agent
        .service_point_id
        .filter(|_| AGENT_ROLES.contains(&agent.role.as_str()))
    else {
        return Err(AppError::bad_input(
            "staffId",
            "only agents assigned to a service point have duty days",
        ));
    };
    let mut tx = Tx::begin(state).await?;
    staff_duty_days::Entity::insert(staff_duty_days::ActiveModel {
        staff_id: Set(staff_id),
        day: Set(day),
        on_duty: Set(on_duty),
        set_by: Set(who.staff_id),
        set_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            staff_duty_days::Column::StaffId,
            staff_duty_days::Column::Day,
        ])
        .update_columns([
            staff_duty_days::Column::OnDuty,
            staff_duty_days::Column::SetBy,
            staff_duty_days::Column::SetAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&*tx)
    .await?;
    let overbooked = recompute_capacity(&mut tx, point_id, day, now).await?;
    crate::audit::record_action(
        &*tx,
        now,
        viewer,
        "staff.duty_day",
        "staff",
        staff_id,
        json!({"day": day.to_string(), "onDuty": on_duty}),
    )
    .await?;
    tx.commit().await?;
    let freed = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.eq(day))
        .all(&state.db)
        .await?;
    for slot in freed {
        seats_freed(state, slot.id).await;
    }
    Ok(DutyChange { overbooked })
}

/// After an agent's standing on-duty flag changed: every generated future day of their point.
pub async fn duty_flag_changed(state: &AppState, staff: &staff_accounts::Model) -> AppResult<()> {
    let Some(point_id) = staff.service_point_id else {
        return Ok(());
    };
    let now = state.clock.now();
    let days: Vec<NaiveDate> = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.gte(local_date(now)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| s.day)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for day in days {
        let mut tx = Tx::begin(state).await?;
        recompute_capacity(&mut tx, point_id, day, now).await?;
        tx.commit().await?;
    }
    let ids: Vec<Uuid> = slots::Entity::find()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.gte(local_date(now)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    for id in ids {
        seats_freed(state, id).await;
    }
    Ok(())
}

/// An admin over the point changes its booking policy (audited). Existing slots keep their
/// length; days generated afterwards use the new one.
pub async fn set_policy(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    policy: Policy,
) -> AppResult<Policy> {
    let ranges: [(&str, i64, i64, i64); 14] = [
        ("input.slotMinutes", policy.slot_minutes, 5, 240),
        ("input.seatsPerAgent", policy.seats_per_agent, 1, 20),
        ("input.windowDays", policy.window_days, 1, 60),
        (
            "input.minNoticeMinutes",
            policy.min_notice_minutes,
            0,
            7 * 24 * 60,
        ),
        (
            "input.cancelCutoffMinutes",
            policy.cancel_cutoff_minutes,
            0,
            7 * 24 * 60,
        ),
        ("input.maxOpenBookings", policy.max_open_bookings, 1, 20),
        ("input.noShowLimit", policy.no_show_limit, 0, 20),
        ("input.noShowWindowDays", policy.no_show_window_days, 1, 365),
        ("input.noShowBanDays", policy.no_show_ban_days, 0, 365),
        ("input.reviewHours", policy.review_hours, 1, 80),
        ("input.graceMinutes", policy.grace_minutes, 0, 240),
        ("input.holdMinutes", policy.hold_minutes, 1, 24 * 60),
        (
            "input.remindDayBeforeHour",
            policy.remind_day_before_hour,
            0,
            23,
        ),
        (
            "input.remindBeforeMinutes",
            policy.remind_before_minutes,
            5,
            24 * 60,
        ),
    ];
    for (field, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            return Err(AppError::bad_input(
                field,
                format!("must be between {min} and {max}"),
            ));
        }
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_covers(&region(&txn, point.region_id).await?, "service point")?;
    who.ensure_admin()?;
    let now = state.clock.now();
    let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    booking_policies::Entity::insert(booking_policies::ActiveModel {
        service_point_id: Set(point_id),
        slot_minutes: Set(int(policy.slot_minutes)),
        seats_per_agent: Set(int(policy.seats_per_agent)),
        window_days: Set(int(policy.window_days)),
        min_notice_minutes: Set(int(policy.min_notice_minutes)),
        cancel_cutoff_minutes: Set(int(policy.cancel_cutoff_minutes)),
        max_open_bookings: Set(int(policy.max_open_bookings)),
        no_show_limit: Set(int(policy.no_show_limit)),
        no_show_window_days: Set(int(policy.no_show_window_days)),
        no_show_ban_days: Set(int(policy.no_show_ban_days)),
        review_hours: Set(int(policy.review_hours)),
        grace_minutes: Set(int(policy.grace_minutes)),
        hold_minutes: Set(int(policy.hold_minutes)),
        remind_day_before_hour: Set(int(policy.remind_day_before_hour)),
        remind_before_minutes: Set(int(policy.remind_before_minutes)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(booking_policies::Column::ServicePointId)
            .update_columns([
                booking_policies::Column::SlotMinutes,
                booking_policies::Column::SeatsPerAgent,
                booking_policies::Column::WindowDays,
                booking_policies::Column::MinNoticeMinutes,
                booking_policies::Column::CancelCutoffMinutes,
                booking_policies::Column::MaxOpenBookings,
                booking_policies::Column::NoShowLimit,
                booking_policies::Column::NoShowWindowDays,
                booking_policies::Column::NoShowBanDays,
                booking_policies::Column::ReviewHours,
                booking_policies::Column::GraceMinutes,
                booking_policies::Column::HoldMinutes,
                booking_policies::Column::RemindDayBeforeHour,
                booking_policies::Column::RemindBeforeMinutes,
                booking_policies::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let details = policy_json(&policy);
    crate::audit::record_action(
        &txn,
        now,
        viewer,
        "booking.policy",
        "service_point",
        point_id,
        details,
    )
    .await?;
    txn.commit().await?;
    Ok(policy)
}

fn policy_json(p: &Policy) -> serde_json::Value {
    json!({
        "slotMinutes": p.slot_minutes, "seatsPerAgent": p.seats_per_agent, "windowDays": p.window_days,
        "minNoticeMinutes": p.min_notice_minutes, "cancelCutoffMinutes": p.cancel_cutoff_minutes,
        "maxOpenBookings": p.max_open_bookings, "noShowLimit": p.no_show_limit,
        "noShowWindowDays": p.no_show_window_days, "noShowBanDays": p.no_show_ban_days,
        "reviewHours": p.review_hours, "graceMinutes": p.grace_minutes, "holdMinutes": p.hold_minutes,
        "remindDayBeforeHour": p.remind_day_before_hour, "remindBeforeMinutes": p.remind_before_minutes,
    })
}
