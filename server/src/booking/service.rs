//! Booking use cases. A seat is taken with a guarded `UPDATE … SET booked = booked + 1 WHERE
//! booked < capacity` in the same transaction as the booking, its ledger entry, its idempotency
//! record and its event, so the count can never pass the capacity and nothing half-exists.
use std::time::Duration as StdDuration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    booking_policies, bookings, idempotency_keys, items, ledger_entries, service_points, slots,
    staff_accounts,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer, service::is_unique_violation},
    booking::model::{
        BookingKind, BookingStatus, Policy, check_bookable, china_instant, new_code, slot_times,
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
    pii::CreditCode,
    state::AppState,
};

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
            },
            None => Policy::default(),
        },
    )
}

const AGENT_ROLES: [&str; 3] = ["village_agent", "township_agent", "county_agent"];

/// On-duty agents serving at the point.
async fn agents_on_duty(conn: &impl ConnectionTrait, point_id: Uuid) -> AppResult<i64> {
    let agents = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::ServicePointId.eq(point_id))
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(staff_accounts::Column::OnDuty.eq(true))
        .filter(staff_accounts::Column::Role.is_in(AGENT_ROLES))
        .all(conn)
        .await?;
    Ok(agents.len() as i64)
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
/// working weekends not), capacity from the agents on duty.
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
    let capacity = agents_on_duty(&state.db, point.id).await? * policy.seats_per_agent;
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

fn request_hash(input: &BookInput) -> String {
    let canonical = json!({
        "point": input.service_point_id, "slot": input.slot_id, "item": input.item_id, "kind": input.kind.as_str(),
        "enterprise": input.enterprise.as_ref().map(|e| (e.name.clone(), e.credit_code.clone())),
        "note": input.note,
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
    user_id: Uuid,
    key: &str,
    hash: &str,
) -> AppResult<Option<bookings::Model>> {
    let Some(record) = idempotency_keys::Entity::find_by_id((user_id, key.to_string()))
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

/// A resident books a slot. Idempotent by key (kept 24 h and more).
pub async fn book(
    state: &AppState,
    viewer: &Viewer,
    input: BookInput,
) -> AppResult<bookings::Model> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::Forbidden(
                "residents book for themselves; staff booking on behalf is not available yet"
                    .into(),
            ),
        });
    };
    let user_id = *user_id;
    let key = input.idempotency_key.trim().to_string();
    if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_input(
            "input.idempotencyKey",
            "1–64 printable ASCII characters",
        ));
    }
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
    let hash = request_hash(&input);
    if let Some(existing) = replay(&state.db, user_id, &key, &hash).await? {
        return Ok(existing);
    }
    state
        .limiter
        .check(
            &format!("book:user:{user_id}"),
            30,
            StdDuration::from_secs(60),
        )
        .await?;

    let point = active_point(&state.db, input.service_point_id, "input.servicePointId").await?;
    let item = items::Entity::find_by_id(input.item_id)
        .one(&state.db)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| AppError::bad_input("input.itemId", "no such item in the catalogue"))?;
    let level: RegionLevel = point
        .kind
        .parse::<ServicePointKind>()
        .map(|k| k.level())
        .unwrap_or(RegionLevel::County);
    if !ItemFields::of(&item).levels.contains(&level) {
        return Err(AppError::bad_input(
            "input.itemId",
            "this item is not handled at this service point's level",
        ));
    }
    let slot = slots::Entity::find_by_id(input.slot_id)
        .one(&state.db)
        .await?
        .filter(|s| s.service_point_id == point.id)
        .ok_or_else(|| AppError::bad_input("input.slotId", "no such slot at this service point"))?;
    let policy = policy(&state.db, point.id).await?;
    let now = state.clock.now();
    check_bookable(now, slot.starts_at, &policy)?;

    let mut tx = Tx::begin(state).await?;
    // Under the write lock (SQLite) a request with the same key may have committed meanwhile.
    if let Some(existing) = replay(&*tx, user_id, &key, &hash).await? {
        return Ok(existing);
    }
    let open = bookings::Entity::find()
        .filter(bookings::Column::UserId.eq(user_id))
        .filter(bookings::Column::OpenMarker.eq(1))
        .all(&*tx)
        .await?
        .len() as i64;
    if open >= policy.max_open_bookings {
        return Err(AppError::bad_input(
            "input",
            format!(
                "you have {open} open bookings; at most {} at a time",
                policy.max_open_bookings
            ),
        ));
    }
    let taken = slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).add(1),
        )
        .filter(slots::Column::Id.eq(slot.id))
        .filter(Expr::col(slots::Column::Booked).lt(Expr::col(slots::Column::Capacity)))
        .exec(&*tx)
        .await?;
    if taken.rows_affected == 0 {
        return Err(AppError::SlotFull);
    }
    let id = Uuid::now_v7();
    let mut inserted = None;
    for _ in 0..5 {
        let attempt = bookings::ActiveModel {
            id: Set(id),
            code: Set(new_code()),
            slot_id: Set(slot.id),
            service_point_id: Set(point.id),
            item_id: Set(item.id),
            user_id: Set(user_id),
            kind: Set(input.kind.as_str().into()),
            enterprise_name: Set(enterprise.as_ref().map(|(n, _)| n.clone())),
            credit_code: Set(enterprise.as_ref().map(|(_, c)| c.as_str().to_string())),
            note: Set(note.clone()),
            status: Set(BookingStatus::Booked.as_str().into()),
            open_marker: Set(Some(1)),
            channel: Set("online".into()),
            reason_code: Set(None),
            explanation: Set(None),
            reviewed_by: Set(None),
            reviewed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*tx)
        .await;
        match attempt {
            Ok(booking) => {
                inserted = Some(booking);
                break;
            }
            Err(error) if is_unique_violation(&error) => {
                // Either this resident already holds an open booking for the slot — perhaps made
                // by a concurrent request with the same idempotency key — or the code collided.
                let code_collision = bookings::Entity::find()
                    .filter(bookings::Column::SlotId.eq(slot.id))
                    .filter(bookings::Column::UserId.eq(user_id))
                    .filter(bookings::Column::OpenMarker.eq(1))
                    .one(&*tx)
                    .await
                    .is_ok_and(|b| b.is_none());
                if !code_collision {
                    drop(tx);
                    if let Some(existing) = replay(&state.db, user_id, &key, &hash).await? {
                        return Ok(existing);
                    }
                    return Err(AppError::Conflict(
                        "you already have a booking for this slot".into(),
                    ));
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    let booking = inserted
        .ok_or_else(|| AppError::Conflict("could not allocate a booking code; try again".into()))?;
    let recorded = idempotency_keys::ActiveModel {
        user_id: Set(user_id),
        key: Set(key.clone()),
        request_hash: Set(hash.clone()),
        booking_id: Set(booking.id),
        created_at: Set(now),
    }
    .insert(&*tx)
    .await;
    if let Err(error) = recorded {
        if is_unique_violation(&error) {
            // The same key raced in another request, which won: answer as it did.
            drop(tx);
            return replay(&state.db, user_id, &key, &hash)
                .await?
                .ok_or_else(|| {
                    AppError::Conflict("a concurrent request with this key is in progress".into())
                });
        }
        return Err(error.into());
    }
    ledger(&*tx, &booking, "booked", None, now).await?;
    tx.emit(EventDraft {
        kind: "booking.created",
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(user_id)],
        payload: json!({"code": booking.code, "point": point.name, "item": item.business_name, "startsAt": slot.starts_at.to_rfc3339(), "status": "booked"}),
    });
    tx.commit().await?;
    Ok(booking)
}

async fn ledger(
    conn: &impl ConnectionTrait,
    booking: &bookings::Model,
    outcome: &str,
    agent: Option<Uuid>,
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
        channel: Set(booking.channel.clone()),
        outcome: Set(outcome.into()),
        agent_id: Set(agent),
        occurred_at: Set(now),
        backfilled: Set(false),
        entered_by: Set(agent),
        entered_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Closes an open booking (guarded on its status) and frees its seat.
async fn close_booking(
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
    slots::Entity::update_many()
        .col_expr(
            slots::Column::Booked,
            Expr::col(slots::Column::Booked).sub(1),
        )
        .filter(slots::Column::Id.eq(booking.slot_id))
        .filter(slots::Column::Booked.gt(0))
        .exec(conn)
        .await?;
    Ok(())
}

/// The resident cancels their booking, up to the point's cutoff before the slot.
pub async fn cancel(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<bookings::Model> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::NotFound("booking"),
        });
    };
    let booking = bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|b| b.user_id == *user_id)
        .ok_or(AppError::NotFound("booking"))?;
    let slot = slots::Entity::find_by_id(booking.slot_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("slot"))?;
    let policy = policy(&state.db, booking.service_point_id).await?;
    let now = state.clock.now();
    if slot.starts_at - now < chrono::Duration::minutes(policy.cancel_cutoff_minutes) {
        return Err(AppError::InvalidTransition(format!(
            "online cancellation closes {} minutes before the slot; please call the service point",
            policy.cancel_cutoff_minutes
        )));
    }
    let mut tx = Tx::begin(state).await?;
    close_booking(&*tx, &booking, BookingStatus::Cancelled, None, None, now).await?;
    ledger(&*tx, &booking, "cancelled", None, now).await?;
    tx.emit(EventDraft {
        kind: "booking.cancelled",
        topic: "booking",
        subject_kind: "booking",
        subject_id: booking.id.to_string(),
        audience: vec![resident_key(booking.user_id)],
        payload: json!({"code": booking.code, "status": "cancelled"}),
    });
    tx.commit().await?;
    bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))
}

/// Staff allowed to review a point's bookings: its own agents, and admins covering its region.
async fn ensure_reviewer(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<Jurisdiction> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "booking")?;
    let own_point = staff_accounts::Entity::find_by_id(who.staff_id)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.service_point_id == Some(point_id));
    if own_point || who.is_admin() {
        Ok(who)
    } else if matches!(who.role, Role::Inspector | Role::Auditor) {
        Err(AppError::Forbidden(
            "inspectors and auditors do not review bookings".into(),
        ))
    } else {
        Err(AppError::Forbidden(
            "only the agents of this service point review its bookings".into(),
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
    let booking = bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))?;
    let who = ensure_reviewer(state, viewer, booking.service_point_id).await?;
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
    }
    let outcome = if accept { "accepted" } else { "refused" };
    ledger(&*tx, &booking, outcome, Some(who.staff_id), now).await?;
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
    bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))
}

/// The resident's bookings, newest first.
pub async fn mine(state: &AppState, viewer: &Viewer) -> AppResult<Vec<bookings::Model>> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::Forbidden("residents only".into()),
        });
    };
    Ok(bookings::Entity::find()
        .filter(bookings::Column::UserId.eq(*user_id))
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

/// An admin over the point changes its booking policy (audited). Existing slots keep their
/// length; days generated afterwards use the new one.
pub async fn set_policy(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    policy: Policy,
) -> AppResult<Policy> {
    let ranges: [(&str, i64, i64, i64); 6] = [
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
                booking_policies::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let details = json!({
        "slotMinutes": policy.slot_minutes, "seatsPerAgent": policy.seats_per_agent, "windowDays": policy.window_days,
        "minNoticeMinutes": policy.min_notice_minutes, "cancelCutoffMinutes": policy.cancel_cutoff_minutes,
        "maxOpenBookings": policy.max_open_bookings,
    });
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

/// One page of a point's ledger (台账), oldest first, after an opaque cursor.
pub struct LedgerPage {
    pub entries: Vec<ledger_entries::Model>,
    /// Pass as `after` for the next page; None at the end.
    pub next: Option<String>,
}

fn cursor_of(entry: &ledger_entries::Model) -> String {
    format!("{}_{}", entry.occurred_at.timestamp_micros(), entry.id)
}

fn parse_cursor(cursor: &str) -> AppResult<(DateTime<Utc>, Uuid)> {
    let bad = || AppError::bad_input("after", "not a cursor from a previous page");
    let (micros, id) = cursor.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// Staff: the ledger of a point inside their jurisdiction between two instants.
pub async fn ledger_page(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first: u64,
    after: Option<&str>,
) -> AppResult<LedgerPage> {
    if to < from {
        return Err(AppError::bad_input("to", "must not be before `from`"));
    }
    if !(1..=200).contains(&first) {
        return Err(AppError::bad_input("first", "between 1 and 200"));
    }
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
    let mut query = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::ServicePointId.eq(point_id))
        .filter(ledger_entries::Column::OccurredAt.gte(from))
        .filter(ledger_entries::Column::OccurredAt.lte(to))
        .order_by_asc(ledger_entries::Column::OccurredAt)
        .order_by_asc(ledger_entries::Column::Id);
    if let Some(after) = after {
        let (at, id) = parse_cursor(after)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(ledger_entries::Column::OccurredAt.gt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(ledger_entries::Column::OccurredAt.eq(at))
                        .add(ledger_entries::Column::Id.gt(id)),
                ),
        );
    }
    let mut entries = sea_orm::QuerySelect::limit(query, first + 1)
        .all(&state.db)
        .await?;
    let more = entries.len() as u64 > first;
    entries.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let next = if more {
        entries.last().map(cursor_of)
    } else {
        None
    };
    Ok(LedgerPage { entries, next })
}
