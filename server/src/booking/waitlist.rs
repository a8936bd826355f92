//! The waitlist (候补): residents wait for a full slot in the order they joined; a freed seat is
//! held for the first in line for the point's hold time and offered by push and live event; an
//! offer not claimed in time passes to the next.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use entity::{bookings, waitlist_entries};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{
        model::{BookingKind, Channel, check_bookable},
        restrictions::active_restriction,
        seats::{offer_seats, release_seat, seats_freed},
        service::{NewBooking, insert_booking, lock_user, target},
    },
    db::is_unique_violation,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    state::AppState,
};

fn resident(viewer: &Viewer) -> AppResult<Uuid> {
    viewer.require_resident("residents only")
}

/// Joins the waitlist of a full slot.
pub async fn join(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    slot_id: Uuid,
    item_id: Uuid,
    kind: BookingKind,
) -> AppResult<waitlist_entries::Model> {
    let user_id = resident(viewer)?;
    state
        .limiter
        .check(
            &format!("book:user:{user_id}"),
            state.settings.limits.book_per_user_per_minute,
            StdDuration::from_secs(60),
        )
        .await?;
    let target = target(&state.db, point_id, item_id, slot_id, "input").await?;
    let now = state.clock.now();
    check_bookable(now, target.slot.starts_at, &target.policy)?;
    if target.slot.booked < target.slot.capacity {
        return Err(AppError::InvalidTransition(
            "this slot has free seats; book it instead".into(),
        ));
    }
    if let Some(restriction) = active_restriction(&state.db, user_id, point_id, now).await? {
        return Err(AppError::BookingRestricted(format!(
            "online booking is suspended until {}",
            restriction.until.to_rfc3339()
        )));
    }
    let holding = bookings::Entity::find()
        .filter(bookings::Column::SlotId.eq(slot_id))
        .filter(bookings::Column::UserId.eq(user_id))
        .filter(bookings::Column::OpenMarker.eq(1))
        .count(&state.db)
        .await?;
    if holding > 0 {
        return Err(AppError::Conflict(
            "you already have a booking for this slot".into(),
        ));
    }
    // As many places in lines as open bookings allowed: a resident cannot queue everywhere.
    let waiting = waitlist_entries::Entity::find()
        .filter(waitlist_entries::Column::UserId.eq(user_id))
        .filter(waitlist_entries::Column::OpenMarker.eq(1))
        .count(&state.db)
        .await?;
    if waiting as i64 >= target.policy.max_open_bookings {
        return Err(AppError::InvalidTransition(format!(
            "you are on {waiting} waitlists already, the most this point allows; leave one first"
        )));
    }
    let entry = waitlist_entries::ActiveModel {
        id: Set(Uuid::now_v7()),
        slot_id: Set(slot_id),
        service_point_id: Set(point_id),
        user_id: Set(user_id),
        item_id: Set(item_id),
        kind: Set(kind.as_str().into()),
        status: Set("waiting".into()),
        open_marker: Set(Some(1)),
        offered_until: Set(None),
        booking_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await;
    let entry = match entry {
        Ok(entry) => entry,
        Err(error) if is_unique_violation(&error) => {
            return Err(AppError::Conflict(
                "you are already on this slot's waitlist".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    // A seat may have come free between the check and the insert: offer it now.
    let mut tx = Tx::begin(state).await?;
    offer_seats(&mut tx, slot_id, now).await?;
    tx.commit().await?;
    load(state, entry.id).await
}

async fn load(state: &AppState, id: Uuid) -> AppResult<waitlist_entries::Model> {
    waitlist_entries::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("waitlist entry"))
}

async fn own(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<waitlist_entries::Model> {
    let user_id = resident(viewer)?;
    Some(load(state, id).await?)
        .filter(|e| e.user_id == user_id)
        .ok_or(AppError::NotFound("waitlist entry"))
}

/// How many residents are ahead in the line (0 = next), for an entry still waiting.
pub async fn ahead(state: &AppState, entry: &waitlist_entries::Model) -> AppResult<Option<u64>> {
    if entry.status != "waiting" {
        return Ok(None);
    }
    let before = waitlist_entries::Entity::find()
        .filter(waitlist_entries::Column::SlotId.eq(entry.slot_id))
        .filter(waitlist_entries::Column::Status.eq("waiting"))
        .filter(
            sea_orm::Condition::any()
                .add(waitlist_entries::Column::CreatedAt.lt(entry.created_at))
                .add(
                    sea_orm::Condition::all()
                        .add(waitlist_entries::Column::CreatedAt.eq(entry.created_at))
                        .add(waitlist_entries::Column::Id.lt(entry.id)),
                ),
        )
        .count(&state.db)
        .await?;
    Ok(Some(before))
}

/// Leaves the waitlist; a held seat passes to the next in line.
pub async fn leave(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<waitlist_entries::Model> {
    let entry = own(state, viewer, id).await?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // Decided inside the transaction, by which guarded update matches: an offer made since the
    // entry was read holds a seat that must go back.
    let mut held_a_seat = false;
    for (from, holds) in [("offered", true), ("waiting", false)] {
        let left = waitlist_entries::Entity::update_many()
            .col_expr(waitlist_entries::Column::Status, Expr::value("left"))
            .col_expr(
                waitlist_entries::Column::OpenMarker,
                Expr::value(Option::<i32>::None),
            )
            .col_expr(waitlist_entries::Column::UpdatedAt, Expr::value(now))
            .filter(waitlist_entries::Column::Id.eq(id))
            .filter(waitlist_entries::Column::Status.eq(from))
            .exec(&*tx)
            .await?;
        if left.rows_affected == 1 {
            held_a_seat = holds;
            break;
        }
        if !holds {
            return Err(AppError::InvalidTransition(format!(
                "the entry is {} already",
                entry.status
            )));
        }
    }
    if held_a_seat {
        release_seat(&mut tx, entry.slot_id, now).await?;
    }
    tx.commit().await?;
    seats_freed(state, entry.slot_id).await;
    load(state, id).await
}

/// Claims an offered seat before the hold ends: the booking is made on the held seat.
pub async fn claim(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<bookings::Model> {
    let entry = own(state, viewer, id).await?;
    let now = state.clock.now();
    if entry.status != "offered" {
        return Err(AppError::InvalidTransition(format!(
            "no seat is offered to this entry (it is {})",
            entry.status
        )));
    }
    let starts_at = entity::slots::Entity::find_by_id(entry.slot_id)
        .one(&state.db)
        .await?
        .map(|slot| slot.starts_at);
    if starts_at.is_some_and(|starts| starts <= now) {
        return Err(AppError::InvalidTransition(
            "the slot has started; the offer can no longer be claimed".into(),
        ));
    }
    if entry.offered_until.is_some_and(|until| until <= now) {
        return Err(AppError::InvalidTransition(
            "the offer has expired and passed to the next in line".into(),
        ));
    }
    if let Some(restriction) =
        active_restriction(&state.db, entry.user_id, entry.service_point_id, now).await?
    {
        return Err(AppError::BookingRestricted(format!(
            "online booking is suspended until {}",
            restriction.until.to_rfc3339()
        )));
    }
    let target = target(
        &state.db,
        entry.service_point_id,
        entry.item_id,
        entry.slot_id,
        "input",
    )
    .await?;
    let mut tx = Tx::begin(state).await?;
    // Lock order: the resident first, then their entry (as a booking of theirs takes them).
    lock_user(&*tx, entry.user_id).await?;
    let claimed = waitlist_entries::Entity::update_many()
        .col_expr(waitlist_entries::Column::Status, Expr::value("claimed"))
        .col_expr(
            waitlist_entries::Column::OpenMarker,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(waitlist_entries::Column::UpdatedAt, Expr::value(now))
        .filter(waitlist_entries::Column::Id.eq(id))
        .filter(waitlist_entries::Column::Status.eq("offered"))
        .filter(waitlist_entries::Column::OfferedUntil.gt(now))
        .exec(&*tx)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(AppError::InvalidTransition(
            "the offer is no longer open".into(),
        ));
    }
    let new = NewBooking {
        user_id: entry.user_id,
        kind: entry
            .kind
            .parse::<BookingKind>()
            .ok()
            .unwrap_or(BookingKind::Consult),
        enterprise: None,
        note: None,
        channel: Channel::Online,
        created_by: None,
        consent: None,
    };
    let booking = insert_booking(&mut tx, &target, new, Uuid::now_v7(), now).await?;
    waitlist_entries::Entity::update_many()
        .col_expr(
            waitlist_entries::Column::BookingId,
            Expr::value(Some(booking.id)),
        )
        .filter(waitlist_entries::Column::Id.eq(id))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(booking)
}

/// The resident's open waitlist entries (waiting or offered), soonest slot first.
pub async fn mine(state: &AppState, viewer: &Viewer) -> AppResult<Vec<waitlist_entries::Model>> {
    let user_id = resident(viewer)?;
    Ok(waitlist_entries::Entity::find()
        .filter(waitlist_entries::Column::UserId.eq(user_id))
        .filter(waitlist_entries::Column::OpenMarker.eq(1))
        .order_by_asc(waitlist_entries::Column::CreatedAt)
        .all(&state.db)
        .await?)
}

/// Scheduled: offers past their hold expire and pass on; entries for slots that can no longer
/// be booked end. Returns how many entries ended.
pub async fn expire_due(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let mut ended = 0;
    let lapsed = waitlist_entries::Entity::find()
        .filter(waitlist_entries::Column::Status.eq("offered"))
        .filter(waitlist_entries::Column::OfferedUntil.lte(now))
        .limit_to(500)
        .all(&state.db)
        .await?;
    for entry in lapsed {
        let mut tx = Tx::begin(state).await?;
        if !end(&tx, &entry, "offered", now).await? {
            continue;
        }
        tx.emit(expired_event(&entry));
        release_seat(&mut tx, entry.slot_id, now).await?;
        tx.commit().await?;
        seats_freed(state, entry.slot_id).await;
        ended += 1;
    }
    // Waiting for a slot that has started: nothing can come of it any more.
    let stale = waitlist_entries::Entity::find()
        .filter(waitlist_entries::Column::Status.eq("waiting"))
        .filter(
            waitlist_entries::Column::SlotId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(entity::slots::Column::Id)
                    .from(entity::slots::Entity)
                    .and_where(entity::slots::Column::StartsAt.lte(now))
                    .to_owned(),
            ),
        )
        .limit_to(500)
        .all(&state.db)
        .await?;
    for entry in stale {
        let mut tx = Tx::begin(state).await?;
        if end(&tx, &entry, "waiting", now).await? {
            tx.emit(expired_event(&entry));
            tx.commit().await?;
            ended += 1;
        }
    }
    Ok(ended)
}

async fn end(
    tx: &Tx<'_>,
    entry: &waitlist_entries::Model,
    from: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let done = waitlist_entries::Entity::update_many()
        .col_expr(waitlist_entries::Column::Status, Expr::value("expired"))
        .col_expr(
            waitlist_entries::Column::OpenMarker,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(waitlist_entries::Column::UpdatedAt, Expr::value(now))
        .filter(waitlist_entries::Column::Id.eq(entry.id))
        .filter(waitlist_entries::Column::Status.eq(from))
        .exec(&**tx)
        .await?;
    Ok(done.rows_affected == 1)
}

fn expired_event(entry: &waitlist_entries::Model) -> EventDraft {
    EventDraft {
        kind: "waitlist.expired",
        topic: "booking",
        subject_kind: "waitlist",
        subject_id: entry.id.to_string(),
        audience: vec![resident_key(entry.user_id)],
        payload: json!({"slotId": entry.slot_id, "status": "expired"}),
    }
}

trait LimitTo {
    fn limit_to(self, n: u64) -> Self;
}
impl<E: EntityTrait> LimitTo for sea_orm::Select<E> {
    fn limit_to(self, n: u64) -> Self {
        sea_orm::QuerySelect::limit(self, n)
    }
}
