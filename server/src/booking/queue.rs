//! On site: check-in and queue numbers (取号叫号). A resident scans the point's QR code (with
//! their booking code, or as a walk-in) or staff check them in; the day's number comes from an
//! atomic counter in the shared store (Redis in production) and is recorded in the database,
//! whose unique index is the final word — a counter lost with the store is raised to the
//! recorded maximum and the allocation retried. Appointments (`A…`) go first within their slot,
//! walk-ins (`B…`) in order of arrival.
use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{bookings, queue_tickets, service_points, slots};
use futures_util::{StreamExt, stream::BoxStream};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::check_in_code::check_in_code_matches;
use crate::{
    auth::Viewer,
    booking::{
        changes::{Closing, close_booking},
        desk::ensure_desk,
        model::{BookingStatus, Channel, Waiting, call_order, is_no_show, queue_label},
        schedule::policy,
        service::{Contact, ledger, lock_user},
    },
    clock::local_date,
    db::is_unique_violation,
    directory::points::service_point_by_scene,
    error::{AppError, AppResult},
    events::{
        EventDraft, Tx,
        hub::{HubSubscription, subject_route},
        resident_key,
    },
    state::AppState,
};

/// The subject id of a point's queue on a day (live position updates subscribe to it).
pub fn queue_subject(point_id: Uuid, day: NaiveDate) -> String {
    format!("queue:{point_id}:{day}")
}

fn counter_key(point_id: Uuid, day: NaiveDate, series: &str) -> String {
    format!("queue:{point_id}:{day}:{series}")
}

const COUNTER_TTL: StdDuration = StdDuration::from_secs(2 * 24 * 3600);

/// Who checks in: the resident by scanning, or staff at the desk.
pub enum CheckIn {
    /// The resident scanned the point's printed QR code (its public `scene`) and entered the
    /// rotating code shown at the desk: only someone on site has both.
    Scan {
        scene: String,
        code: String,
    },
    Desk {
        point_id: Uuid,
    },
}

/// The highest number handed out at the point today in the series (0 for none).
async fn highest_number(
    state: &AppState,
    point_id: Uuid,
    day: NaiveDate,
    series: &str,
) -> AppResult<i32> {
    let max: Option<i32> = queue_tickets::Entity::find()
        .select_only()
        .column_as(queue_tickets::Column::Number.max(), "max")
        .filter(queue_tickets::Column::ServicePointId.eq(point_id))
        .filter(queue_tickets::Column::Day.eq(day))
        .filter(queue_tickets::Column::Series.eq(series))
        .into_tuple()
        .one(&state.db)
        .await?
        .flatten();
    Ok(max.unwrap_or(0))
}

/// Checks a booking in (or a walk-in without one) and hands out the day's queue number. Checking
/// in twice returns the same ticket.
pub async fn check_in(
    state: &AppState,
    viewer: &Viewer,
    how: CheckIn,
    booking_code: Option<String>,
) -> AppResult<queue_tickets::Model> {
    let (point, staff, user) = match (&how, viewer) {
        (CheckIn::Scan { scene, code }, Viewer::Resident { user_id, .. }) => {
            if scene.chars().count() > 32 {
                return Err(AppError::bad_input("pointScene", "at most 32 characters"));
            }
            state
                .limiter
                .check(
                    &format!("check-in:{user_id}"),
                    state.settings.limits.check_in_per_user_per_minute,
                    std::time::Duration::from_secs(60),
                )
                .await?;
            let point = service_point_by_scene(&state.db, scene)
                .await
                .map_err(|e| match e {
                    AppError::NotFound(_) => {
                        AppError::bad_input("pointScene", "not a service point's QR code")
                    }
                    other => other,
                })?;
            let code = code.trim();
            if code.is_empty() || code.len() > 16 {
                return Err(AppError::bad_input(
                    "checkInCode",
                    "enter the check-in code shown at the desk",
                ));
            }
            if !check_in_code_matches(&state.cipher, point.id, code, state.clock.now()) {
                return Err(AppError::bad_input(
                    "checkInCode",
                    "not this point's current check-in code; check in at the service point",
                ));
            }
            (point, None, Some(*user_id))
        }
        (CheckIn::Scan { .. }, Viewer::Anonymous) | (CheckIn::Desk { .. }, Viewer::Anonymous) => {
            return Err(AppError::Unauthenticated("log in first".into()));
        }
        (CheckIn::Scan { .. }, Viewer::Staff { .. }) => {
            return Err(AppError::Forbidden(
                "staff check residents in with checkInAtDesk".into(),
            ));
        }
        (CheckIn::Desk { point_id }, Viewer::Staff { .. }) => {
            let who = ensure_desk(state, viewer, *point_id).await?;
            let point = service_points::Entity::find_by_id(*point_id)
                .one(&state.db)
                .await?
                .ok_or(AppError::NotFound("service point"))?;
            (point, Some(who.staff_id), None)
        }
        (CheckIn::Desk { .. }, Viewer::Resident { .. }) => {
            return Err(AppError::Forbidden("staff only".into()));
        }
    };
    if !point.active {
        let field = match how {
            CheckIn::Scan { .. } => "pointScene",
            CheckIn::Desk { .. } => "servicePointId",
        };
        return Err(AppError::bad_input(field, "this service point is closed"));
    }
    if booking_code
        .as_deref()
        .is_some_and(|c| c.chars().count() > 16)
    {
        return Err(AppError::bad_input("bookingCode", "at most 16 characters"));
    }
    let now = state.clock.now();
    let today = local_date(now);
    let booking = match booking_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(code) => {
            let booking = bookings::Entity::find()
                .filter(bookings::Column::Code.eq(code.to_ascii_uppercase()))
                .filter(bookings::Column::ServicePointId.eq(point.id))
                .one(&state.db)
                .await?
                .filter(|b| user.is_none_or(|u| b.user_id == u))
                .ok_or_else(|| {
                    AppError::bad_input("bookingCode", "no such booking at this service point")
                })?;
            if let Some(ticket) = queue_tickets::Entity::find()
                .filter(queue_tickets::Column::BookingId.eq(booking.id))
                .one(&state.db)
                .await?
            {
                return Ok(ticket);
            }
            if !booking.status.parse::<BookingStatus>()?.is_open() {
                return Err(AppError::InvalidTransition(format!(
                    "the booking is {}",
                    booking.status
                )));
            }
            let slot = slots::Entity::find_by_id(booking.slot_id)
                .one(&state.db)
                .await?
                .ok_or(AppError::NotFound("slot"))?;
            if slot.day != today {
                return Err(AppError::InvalidTransition(format!(
                    "the booking is for {}; check in on that day",
                    slot.day
                )));
            }
            let policy = policy(&state.db, point.id).await?;
            let opens = slot.starts_at - chrono::Duration::minutes(policy.check_in_opens_minutes);
            if now < opens {
                return Err(AppError::InvalidTransition(format!(
                    "check-in opens {} minutes before the slot, at {}",
                    policy.check_in_opens_minutes,
                    opens.with_timezone(&crate::clock::CHINA).format("%H:%M")
                )));
            }
            if is_no_show(slot.ends_at, policy.grace_minutes, now) {
                return Err(AppError::InvalidTransition(
                    "the slot and its grace period are over; please take a walk-in number".into(),
                ));
            }
            Some((booking, slot))
        }
    };
    if booking.is_none()
        && let Some(user_id) = user
        && let Some(ticket) = queue_tickets::Entity::find()
            .filter(queue_tickets::Column::ServicePointId.eq(point.id))
            .filter(queue_tickets::Column::Day.eq(today))
            .filter(queue_tickets::Column::UserId.eq(user_id))
            .filter(queue_tickets::Column::BookingId.is_null())
            .filter(queue_tickets::Column::Status.is_in(["waiting", "called"]))
            .one(&state.db)
            .await?
    {
        // A second scan without a code: the same walk-in number while it is still open.
        return Ok(ticket);
    }
    let series = if booking.is_some() { "A" } else { "B" };
    let key = counter_key(point.id, today, series);
    for _ in 0..5 {
        let number = match state.store.incr(&key, COUNTER_TTL).await {
            Ok(number) => number,
            Err(error) => {
                // The store is down: the database's highest number of the day + 1, under the
                // unique index (a racing check-in makes this loop try again).
                tracing::warn!(%error, "queue counter unavailable; numbering from the database");
                i64::from(highest_number(state, point.id, today, series).await?) + 1
            }
        };
        let mut tx = Tx::begin(state).await?;
        let inserted = queue_tickets::ActiveModel {
            id: Set(Uuid::now_v7()),
            service_point_id: Set(point.id),
            day: Set(today),
            series: Set(series.into()),
            number: Set(i32::try_from(number).unwrap_or(i32::MAX)),
            label: Set(queue_label(series, number)),
            booking_id: Set(booking.as_ref().map(|(b, _)| b.id)),
            user_id: Set(user.or(booking.as_ref().map(|(b, _)| b.user_id))),
            slot_starts_at: Set(booking.as_ref().map(|(_, s)| s.starts_at)),
            status: Set("waiting".into()),
            checked_in_by: Set(staff),
            created_at: Set(now),
            called_at: Set(None),
            called_by: Set(None),
            finished_at: Set(None),
        }
        .insert(&*tx)
        .await;
        let ticket = match inserted {
            Ok(ticket) => ticket,
            Err(error) if is_unique_violation(&error) => {
                drop(tx);
                if let Some((b, _)) = &booking
                    && let Some(ticket) = queue_tickets::Entity::find()
                        .filter(queue_tickets::Column::BookingId.eq(b.id))
                        .one(&state.db)
                        .await?
                {
                    return Ok(ticket);
                }
                // The counter was behind the database (the store lost it): catch it up.
                let max = highest_number(state, point.id, today, series).await?;
                if let Err(error) = state
                    .store
                    .raise_to(&key, i64::from(max), COUNTER_TTL)
                    .await
                {
                    tracing::warn!(%error, "queue counter could not be caught up");
                }
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        if let Some((b, _)) = &booking {
            // Guarded: a cancellation or the no-show job committed meanwhile wins, and the ticket
            // is not issued (the transaction rolls back).
            let checked_in = bookings::Entity::update_many()
                .col_expr(bookings::Column::CheckedInAt, Expr::value(Some(now)))
                .filter(bookings::Column::Id.eq(b.id))
                .filter(bookings::Column::CheckedInAt.is_null())
                .filter(bookings::Column::Status.is_in([
                    BookingStatus::Booked.as_str(),
                    BookingStatus::Accepted.as_str(),
                ]))
                .exec(&*tx)
                .await?;
            if checked_in.rows_affected == 0 {
                return Err(AppError::InvalidTransition(
                    "the booking changed meanwhile (cancelled, or checked in already); reload it"
                        .into(),
                ));
            }
        }
        tx.emit(queue_event("queue.checked_in", &ticket));
        tx.commit().await?;
        return Ok(ticket);
    }
    Err(AppError::Conflict(
        "could not allocate a queue number; try again".into(),
    ))
}

fn queue_event(kind: &'static str, ticket: &queue_tickets::Model) -> EventDraft {
    EventDraft {
        kind,
        topic: "booking",
        subject_kind: "queue",
        subject_id: queue_subject(ticket.service_point_id, ticket.day),
        audience: ticket.user_id.map(resident_key).into_iter().collect(),
        payload: json!({"ticketId": ticket.id, "label": ticket.label, "status": ticket.status}),
    }
}

async fn waiting(
    state: &AppState,
    point_id: Uuid,
    day: NaiveDate,
) -> AppResult<Vec<queue_tickets::Model>> {
    Ok(queue_tickets::Entity::find()
        .filter(queue_tickets::Column::ServicePointId.eq(point_id))
        .filter(queue_tickets::Column::Day.eq(day))
        .filter(queue_tickets::Column::Status.eq("waiting"))
        .order_by_asc(queue_tickets::Column::CreatedAt)
        .all(&state.db)
        .await?)
}

fn ordered(tickets: &[queue_tickets::Model], now: DateTime<Utc>) -> Vec<Uuid> {
    call_order(
        tickets
            .iter()
            .map(|t| Waiting {
                id: t.id,
                series: t.series.clone(),
                number: i64::from(t.number),
                slot_starts_at: t.slot_starts_at,
            })
            .collect(),
        now,
    )
    .into_iter()
    .map(|w| w.id)
    .collect()
}

/// Staff call the next number at their point: the first in call order is claimed with a
/// guarded update, so two counters calling at once never call the same ticket. None when
/// nobody waits.
pub async fn call_next(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<Option<queue_tickets::Model>> {
    let who = ensure_desk(state, viewer, point_id).await?;
    let now = state.clock.now();
    let today = local_date(now);
    for _ in 0..20 {
        let tickets = waiting(state, point_id, today).await?;
        let Some(next) = ordered(&tickets, now).first().copied() else {
            return Ok(None);
        };
        let mut tx = Tx::begin(state).await?;
        let called = queue_tickets::Entity::update_many()
            .col_expr(queue_tickets::Column::Status, Expr::value("called"))
            .col_expr(queue_tickets::Column::CalledAt, Expr::value(Some(now)))
            .col_expr(
                queue_tickets::Column::CalledBy,
                Expr::value(Some(who.staff_id)),
            )
            .filter(queue_tickets::Column::Id.eq(next))
            .filter(queue_tickets::Column::Status.eq("waiting"))
            .exec(&*tx)
            .await?;
        if called.rows_affected == 0 {
            continue;
        }
        let ticket = queue_tickets::Entity::find_by_id(next)
            .one(&*tx)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        tx.emit(queue_event("queue.called", &ticket));
        tx.commit().await?;
        return Ok(Some(ticket));
    }
    Err(AppError::Conflict("the queue is busy; call again".into()))
}

/// Staff finish a called ticket: served, or absent when called. A served booking is recorded
/// as served in the ledger; an absent one as a no-show.
pub async fn finish(
    state: &AppState,
    viewer: &Viewer,
    ticket_id: Uuid,
    served: bool,
) -> AppResult<queue_tickets::Model> {
    let ticket = queue_tickets::Entity::find_by_id(ticket_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let who = ensure_desk(state, viewer, ticket.service_point_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound("ticket"),
            other => other,
        })?;
    let now = state.clock.now();
    let to = if served { "served" } else { "absent" };
    let mut tx = Tx::begin(state).await?;
    // The resident first (the lock order): an absent number runs the no-show rule, which must
    // not race another no-show of theirs being recorded (two desks, or the no-show job).
    if let Some(user) = ticket.user_id {
        lock_user(&*tx, user).await?;
    }
    let done = queue_tickets::Entity::update_many()
        .col_expr(queue_tickets::Column::Status, Expr::value(to))
        .col_expr(queue_tickets::Column::FinishedAt, Expr::value(Some(now)))
        .filter(queue_tickets::Column::Id.eq(ticket_id))
        .filter(queue_tickets::Column::Status.eq("called"))
        .exec(&*tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::InvalidTransition(format!(
            "only a called ticket can be finished; this one is {}",
            ticket.status
        )));
    }
    let booking = match ticket.booking_id {
        Some(id) => bookings::Entity::find_by_id(id).one(&*tx).await?,
        None => None,
    };
    match booking {
        Some(booking) if booking.status.parse::<BookingStatus>()?.is_open() => {
            let status = if served {
                BookingStatus::Served
            } else {
                BookingStatus::NoShow
            };
            close_booking(&*tx, &booking, Closing::to(status), now).await?;
            ledger(
                &*tx,
                &booking,
                Contact {
                    outcome: if served { "served" } else { "no_show" },
                    channel: Channel::Window,
                    agent: Some(who.staff_id),
                    reason_code: None,
                    note: None,
                },
                now,
            )
            .await?;
            if !served {
                // Absent when called counts like any no-show.
                let policy = policy(&*tx, booking.service_point_id).await?;
                crate::booking::jobs::apply_no_show_rule(&mut tx, &booking, &policy, now).await?;
            }
            tx.emit(EventDraft {
                kind: if served {
                    "booking.served"
                } else {
                    "booking.no_show"
                },
                topic: "booking",
                subject_kind: "booking",
                subject_id: booking.id.to_string(),
                audience: vec![resident_key(booking.user_id)],
                payload: json!({"code": booking.code, "status": status.as_str()}),
            });
        }
        Some(_) => {}
        None => {
            crate::booking::ledger::write(
                &*tx,
                crate::booking::ledger::NewEntry::walk_in(
                    &ticket,
                    to,
                    Some(who.staff_id),
                    now,
                    format!("取号 {}", ticket.label),
                ),
            )
            .await?;
        }
    }
    let ticket = queue_tickets::Entity::find_by_id(ticket_id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    tx.emit(queue_event("queue.finished", &ticket));
    tx.commit().await?;
    Ok(ticket)
}

/// Where a ticket stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub ticket: queue_tickets::Model,
    /// Tickets to be called before this one (None once it has been called).
    pub ahead: Option<u64>,
    /// The number most recently called at the point today.
    pub now_calling: Option<String>,
}

/// A ticket the viewer may follow: the resident's own, or one at a point whose desk they work.
pub async fn visible_ticket(
    state: &AppState,
    viewer: &Viewer,
    ticket_id: Uuid,
) -> AppResult<queue_tickets::Model> {
    let ticket = queue_tickets::Entity::find_by_id(ticket_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    match viewer {
        Viewer::Resident { user_id, .. } if ticket.user_id == Some(*user_id) => Ok(ticket),
        Viewer::Staff { .. } => {
            ensure_desk(state, viewer, ticket.service_point_id)
                .await
                .map_err(crate::error::hidden_as_not_found("ticket"))?;
            Ok(ticket)
        }
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Resident { .. } => Err(AppError::NotFound("ticket")),
    }
}

pub async fn position(state: &AppState, ticket_id: Uuid) -> AppResult<Position> {
    let ticket = queue_tickets::Entity::find_by_id(ticket_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let now = state.clock.now();
    let ahead = if ticket.status == "waiting" {
        let tickets = waiting(state, ticket.service_point_id, ticket.day).await?;
        ordered(&tickets, now)
            .iter()
            .position(|id| *id == ticket.id)
            .map(|p| p as u64)
    } else {
        None
    };
    let now_calling = queue_tickets::Entity::find()
        .filter(queue_tickets::Column::ServicePointId.eq(ticket.service_point_id))
        .filter(queue_tickets::Column::Day.eq(ticket.day))
        .filter(queue_tickets::Column::CalledAt.is_not_null())
        .order_by_desc(queue_tickets::Column::CalledAt)
        .order_by_desc(queue_tickets::Column::Id)
        .one(&state.db)
        .await?
        .map(|t| t.label);
    Ok(Position {
        ticket,
        ahead,
        now_calling,
    })
}

/// Staff: today's queue at a point, in call order, then the called and finished tickets.
pub async fn today(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<Vec<queue_tickets::Model>> {
    ensure_desk(state, viewer, point_id).await?;
    let now = state.clock.now();
    let all = queue_tickets::Entity::find()
        .filter(queue_tickets::Column::ServicePointId.eq(point_id))
        .filter(queue_tickets::Column::Day.eq(local_date(now)))
        .order_by_asc(queue_tickets::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let (waiting, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.status == "waiting");
    let order = ordered(&waiting, now);
    let mut sorted: Vec<queue_tickets::Model> = order
        .iter()
        .filter_map(|id| waiting.iter().find(|t| t.id == *id).cloned())
        .collect();
    sorted.extend(rest);
    Ok(sorted)
}

/// A ticket's position, now and after every change at its point (and at least every 30 s, as
/// slots begin), until it is finished. A follower that falls behind the hub subscribes again:
/// the position is state, not a log, so nothing is lost.
pub fn follow(
    state: Arc<AppState>,
    ticket: queue_tickets::Model,
) -> BoxStream<'static, AppResult<Position>> {
    // Subscribe before reading, so no change falls in between.
    let route = subject_route(&queue_subject(ticket.service_point_id, ticket.day));
    let live = state.hub.subscribe(route.clone());
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Follow {
        state,
        route,
        live,
        tick,
        id: ticket.id,
        last: None,
        done: false,
    };
    futures_util::stream::unfold(start, |mut follow| async move {
        if follow.done {
            return None;
        }
        loop {
            if follow.last.is_some() {
                tokio::select! {
                    got = follow.live.receiver.recv() => {
                        if got.is_none() {
                            // Dropped for falling behind: the position is state, not a log,
                            // so subscribe again and read it afresh — nothing is lost.
                            follow.live = follow.state.hub.subscribe(follow.route.clone());
                        }
                    }
                    _ = follow.tick.tick() => {}
                }
            }
            match position(&follow.state, follow.id).await {
                Ok(position) if Some(&position) == follow.last.as_ref() => continue,
                Ok(position) => {
                    follow.done = matches!(
                        position.ticket.status.as_str(),
                        "served" | "absent" | "withdrawn" | "unfinished"
                    );
                    follow.last = Some(position.clone());
                    return Some((Ok(position), follow));
                }
                Err(error) => {
                    follow.done = true;
                    return Some((Err(error), follow));
                }
            }
        }
    })
    .boxed()
}

/// The state of one follower.
struct Follow {
    state: Arc<AppState>,
    route: String,
    live: HubSubscription,
    tick: tokio::time::Interval,
    id: Uuid,
    last: Option<Position>,
    done: bool,
}
