//! Seats: the guarded count on each slot, the waitlist offer a freed seat goes to, the admission
//! counter in the shared store, and capacity that follows the agents on duty.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{slots, staff_duty_days, waitlist_entries};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{
        restrictions::active_restriction,
        schedule::{AGENT_ROLES, agents_on_duty, policy},
    },
    clock::local_date,
    directory::{jurisdiction::Jurisdiction, model::STAFF_DUTY_CHANGED, staff},
    error::{AppError, AppResult},
    events::{Envelope, EventDraft, Tx, reactions::Reaction, resident_key},
    state::AppState,
};

/// The shared-store key of a slot's admission counter (seats left as the crowd sees them; 0 or
/// less: sold out).
pub fn seats_key(slot_id: Uuid) -> String {
    format!("booking:seats:{slot_id}")
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

/// Takes the slot row's write lock for the rest of the transaction (a no-op update).
pub(crate) async fn lock_slot(conn: &impl ConnectionTrait, slot_id: Uuid) -> AppResult<()> {
    slots::Entity::update_many()
        .col_expr(slots::Column::Booked, Expr::col(slots::Column::Booked))
        .filter(slots::Column::Id.eq(slot_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Gives a seat back and offers free seats to the waitlist, in the caller's transaction. The
/// caller resets the admission counter after committing ([`seats_freed`]).
pub(crate) async fn release_seat(
    tx: &mut Tx<'_>,
    slot_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // An overbooked slot (agents went off duty) shrinks back towards its duty capacity as
    // bookings leave, instead of putting the seat back on sale. Both right-hand sides read the
    // row as it was.
    slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).sub(1),
        )
        .col_expr(
            slots::Column::Capacity,
            Expr::case(
                Expr::col(slots::Column::Booked)
                    .sub(1)
                    .gt(Expr::col(slots::Column::DutyCapacity)),
                Expr::col(slots::Column::Booked).sub(1),
            )
            .finally(Expr::col(slots::Column::DutyCapacity))
            .into(),
        )
        .filter(slots::Column::Id.eq(slot_id))
        .filter(slots::Column::Booked.gt(0))
        .exec(&**tx)
        .await?;
    offer_seats(tx, slot_id, now).await
}

/// While the slot has free seats and residents wait for it, holds a seat for the first in line
/// and tells them. Nothing is offered for a slot that can no longer be booked.
/// Undoes a `take_seat` of this transaction.
async fn give_back_seat(conn: &impl ConnectionTrait, slot_id: Uuid) -> AppResult<()> {
    slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).sub(1),
        )
        .filter(slots::Column::Id.eq(slot_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Why the resident of a waiting entry could not claim a seat now (a restriction, a booking in
/// the slot already, the cap on open bookings reached), or None when they could.
async fn cannot_claim(
    conn: &impl ConnectionTrait,
    entry: &waitlist_entries::Model,
    max_open_bookings: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<&'static str>> {
    if active_restriction(conn, entry.user_id, entry.service_point_id, now)
        .await?
        .is_some()
    {
        return Ok(Some("restricted"));
    }
    let open: Vec<Uuid> = entity::bookings::Entity::find()
        .select_only()
        .column(entity::bookings::Column::SlotId)
        .filter(entity::bookings::Column::UserId.eq(entry.user_id))
        .filter(entity::bookings::Column::OpenMarker.eq(1))
        .into_tuple()
        .all(conn)
        .await?;
    if open.contains(&entry.slot_id) {
        return Ok(Some("already_booked"));
    }
    if open.len() as i64 >= max_open_bookings {
        return Ok(Some("open_booking_cap"));
    }
    Ok(None)
}

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
        // An entry locked by its resident's own transaction (booking this slot directly,
        // leaving) is passed over: waiting for it would invert the lock order (person →
        // their entry → slot) while this transaction holds the slot.
        let Some(entry) = waitlist_entries::Entity::find()
            .filter(waitlist_entries::Column::SlotId.eq(slot_id))
            .filter(waitlist_entries::Column::Status.eq("waiting"))
            .order_by_asc(waitlist_entries::Column::CreatedAt)
            .order_by_asc(waitlist_entries::Column::Id)
            .lock_with_behavior(
                sea_orm::sea_query::LockType::NoKeyUpdate,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            )
            .one(&**tx)
            .await?
        else {
            return Ok(());
        };
        if !take_seat(&**tx, slot_id).await? {
            return Ok(());
        }
        if let Some(why) = cannot_claim(&**tx, &entry, policy.max_open_bookings, now).await? {
            // A seat is held only for someone who could claim it: the seat goes back, this
            // entry ends, and the next in line is looked at.
            give_back_seat(&**tx, slot_id).await?;
            waitlist_entries::Entity::update_many()
                .col_expr(waitlist_entries::Column::Status, Expr::value("skipped"))
                .col_expr(
                    waitlist_entries::Column::OpenMarker,
                    Expr::value(Option::<i32>::None),
                )
                .col_expr(waitlist_entries::Column::UpdatedAt, Expr::value(now))
                .filter(waitlist_entries::Column::Id.eq(entry.id))
                .filter(waitlist_entries::Column::Status.eq("waiting"))
                .exec(&**tx)
                .await?;
            tx.emit(EventDraft {
                kind: "waitlist.skipped",
                topic: "booking",
                subject_kind: "waitlist",
                subject_id: entry.id.to_string(),
                audience: vec![resident_key(entry.user_id)],
                payload: json!({"slotId": slot_id, "status": "skipped", "reason": why}),
            });
            continue;
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
            give_back_seat(&**tx, slot_id).await?;
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
    if let Err(error) = state.store.delete(&seats_key(slot_id)).await {
        tracing::warn!(error = %error, "could not reset an admission counter; it expires by itself");
    }
}

/// Lock order for duty: the point's row, before the roster and the slots. Every change of
/// duty at a point recomputes under it, so two at once never write capacities from a roster
/// the other has not seen (bookings only refer to the point; they never lock it).
async fn lock_point(conn: &impl ConnectionTrait, point_id: Uuid) -> AppResult<()> {
    entity::service_points::Entity::find_by_id(point_id)
        .select_only()
        .column(entity::service_points::Column::Id)
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?;
    Ok(())
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
    lock_point(&**tx, point_id).await?;
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
            .col_expr(slots::Column::DutyCapacity, Expr::value(target))
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

/// How far ahead a day's duty may be set (a year: rosters are planned, not written forever).
pub const MAX_DUTY_DAYS_AHEAD: i64 = 366;

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
    if day > local_date(now) + Duration::days(MAX_DUTY_DAYS_AHEAD) {
        return Err(AppError::bad_input(
            "day",
            format!("at most {MAX_DUTY_DAYS_AHEAD} days ahead"),
        ));
    }
    let agent = staff::staff_member(state, viewer, staff_id).await?;
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
    lock_point(&*tx, point_id).await?;
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
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        who.county_id(),
        "staff.duty_day",
        "staff",
        staff_id,
        json!({"day": day.to_string(), "onDuty": on_duty}),
    ));
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

/// The booking room's reaction to the directory's `staff.duty_changed`: the capacities of
/// every generated day of the staff member's point, from today, follow the agents now on duty
/// (recomputed from the roster, so running it twice or late is harmless).
pub struct CapacityFollowsDuty;

#[async_trait::async_trait]
impl Reaction for CapacityFollowsDuty {
    fn name(&self) -> &'static str {
        "booking.capacity_follows_duty"
    }

    fn follows(&self, kind: &str) -> bool {
        kind == STAFF_DUTY_CHANGED
    }

    async fn react(&self, state: &AppState, event: &Envelope) -> AppResult<()> {
        let point = event.payload["servicePointId"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "event {} has no service point to resize",
                    event.seq
                ))
            })?;
        resize_point(state, point).await
    }
}

/// Every generated day of a point from today, one transaction per day.
async fn resize_point(state: &AppState, point_id: Uuid) -> AppResult<()> {
    let now = state.clock.now();
    let days: Vec<NaiveDate> = slots::Entity::find()
        .select_only()
        .column(slots::Column::Day)
        .distinct()
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.gte(local_date(now)))
        .into_tuple()
        .all(&state.db)
        .await?;
    for day in days {
        let mut tx = Tx::begin(state).await?;
        recompute_capacity(&mut tx, point_id, day, now).await?;
        tx.commit().await?;
    }
    let ids: Vec<Uuid> = slots::Entity::find()
        .select_only()
        .column(slots::Column::Id)
        .filter(slots::Column::ServicePointId.eq(point_id))
        .filter(slots::Column::Day.gte(local_date(now)))
        .into_tuple()
        .all(&state.db)
        .await?;
    for id in ids {
        seats_freed(state, id).await;
    }
    Ok(())
}
