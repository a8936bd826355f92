//! Changes to a booking after it is made: cancelling and moving it (by the resident, or by the
//! point's desk on their behalf), review (受理 / 不予受理), and closing a booking (the guarded
//! status change every closing path — cancel, refusal, no-show, the desk — goes through).
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use entity::bookings;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{
        desk::ensure_desk,
        model::{BookingStatus, Channel, OnBehalf, check_bookable},
        schedule::{policy, slot},
        seats::{lock_slot, release_seat, seats_freed, take_seat},
        service::{Contact, ledger, load_booking, lock_user, target},
    },
    db::is_unique_violation,
    directory::model::text,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key, staff_key},
    state::AppState,
};

/// Who may change a booking, and how: its resident (online, within the cutoff) or the point's
/// staff on the resident's behalf (until the slot starts).
/// Who changes a booking: the resident online, or staff at the desk on their behalf.
struct Actor {
    channel: Channel,
    /// The staff member acting on the resident's behalf.
    staff: Option<Uuid>,
    /// The resident's consent, when staff act for them.
    consent: Option<String>,
    /// The acting staff member's county (for the audit row).
    county: Option<Uuid>,
}

async fn actor_for(
    state: &AppState,
    viewer: &Viewer,
    booking: &bookings::Model,
    on_behalf: Option<OnBehalf>,
) -> AppResult<Actor> {
    match (viewer, on_behalf) {
        (Viewer::Resident { user_id, .. }, None) if *user_id == booking.user_id => Ok(Actor {
            channel: Channel::Online,
            staff: None,
            consent: None,
            county: None,
        }),
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
            Ok(Actor {
                channel: on_behalf.channel,
                staff: Some(who.staff_id),
                consent: on_behalf.consent,
                county: who.county_id(),
            })
        }
        (Viewer::Anonymous, _) => Err(AppError::Unauthenticated("log in first".into())),
        _ => Err(AppError::NotFound("booking")),
    }
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
    let Actor {
        channel,
        staff,
        consent,
        county,
    } = actor_for(state, viewer, &booking, on_behalf).await?;
    let slot = slot(&state.db, booking.slot_id).await?;
    let policy = policy(&state.db, booking.service_point_id).await?;
    let now = state.clock.now();
    if !booking.status.parse::<BookingStatus>()?.is_open() {
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
    // The slot's row before the booking's, as a move takes them.
    lock_slot(&*tx, booking.slot_id).await?;
    let closing = Closing {
        before_check_in: true,
        ..Closing::to(BookingStatus::Cancelled)
    };
    close_booking(&*tx, &booking, closing, now).await?;
    release_seat(&mut tx, booking.slot_id, now).await?;
    ledger(
        &*tx,
        &booking,
        Contact {
            outcome: "cancelled",
            channel,
            agent: staff,
            reason_code: None,
            note: consent.clone(),
        },
        now,
    )
    .await?;
    if staff.is_some() {
        tx.audit(crate::audit::Pending::action(
            now,
            viewer,
            county,
            "booking.cancelled_on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "consent": consent.is_some()}),
        ));
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
    let Actor {
        channel,
        staff,
        consent,
        county,
    } = actor_for(state, viewer, &booking, on_behalf).await?;
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
    if !booking.status.parse::<BookingStatus>()?.is_open() || booking.checked_in_at.is_some() {
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
    let old = slot(&state.db, booking.slot_id).await?;
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
    // Locks in one order everywhere: the resident's row (as a new booking takes it), then both
    // slot rows in id order, so no two changes can deadlock.
    lock_user(&*tx, booking.user_id).await?;
    let (first, second) = if old.id < slot_id {
        (old.id, slot_id)
    } else {
        (slot_id, old.id)
    };
    lock_slot(&*tx, first).await?;
    lock_slot(&*tx, second).await?;
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
        .filter(bookings::Column::CheckedInAt.is_null())
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
            note: consent.clone(),
        },
        now,
    )
    .await?;
    if staff.is_some() {
        tx.audit(crate::audit::Pending::action(
            now,
            viewer,
            county,
            "booking.moved_on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "consent": consent.is_some(), "from": old.id, "to": slot_id}),
        ));
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
        lock_slot(&*tx, booking.slot_id).await?;
        let closing = Closing {
            reviewed_by: Some(who.staff_id),
            reason: reason.clone(),
            ..Closing::to(BookingStatus::Refused)
        };
        close_booking(&*tx, &booking, closing, now).await?;
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
            channel: booking
                .channel
                .parse::<Channel>()
                .ok()
                .unwrap_or(Channel::Online),
            agent: Some(who.staff_id),
            reason_code: reason.as_ref().map(|r| r.0.clone()),
            note: None,
        },
        now,
    )
    .await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        who.county_id(),
        format!("booking.{outcome}"),
        "booking",
        booking.id,
        json!({"reasonCode": reason.as_ref().map(|r| r.0.clone())}),
    ));
    let decided = EventDraft {
        kind: if accept {
            "booking.accepted"
        } else {
            "booking.refused"
        },
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(booking.user_id), staff_key(who.staff_id)],
        payload: json!({"code": booking.code, "status": outcome, "reasonCode": reason.as_ref().map(|r| r.0.clone()), "explanation": reason.map(|r| r.1)}),
    };
    // The reviewer hears it live on their other devices, and is not pushed about it.
    tx.emit_by(viewer, decided);
    tx.commit().await?;
    if !accept {
        seats_freed(state, booking.slot_id).await;
    }
    load_booking(state, id).await
}

/// How a booking is closed.
pub(crate) struct Closing {
    pub to: BookingStatus,
    pub reviewed_by: Option<Uuid>,
    pub reason: Option<(String, String)>,
    /// Only while the resident has not checked in (cancellation, the no-show job): a check-in
    /// committed meanwhile wins.
    pub before_check_in: bool,
}

impl Closing {
    pub fn to(to: BookingStatus) -> Self {
        Self {
            to,
            reviewed_by: None,
            reason: None,
            before_check_in: false,
        }
    }
}

/// Closes an open booking (guarded on its status). The caller decides about the seat.
pub(crate) async fn close_booking(
    conn: &impl ConnectionTrait,
    booking: &bookings::Model,
    closing: Closing,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Closing {
        to,
        reviewed_by,
        reason,
        before_check_in,
    } = closing;
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
    if before_check_in {
        update = update.filter(bookings::Column::CheckedInAt.is_null());
    }
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
            "the booking is {} already, or the resident has checked in",
            booking.status
        )));
    }
    Ok(())
}
