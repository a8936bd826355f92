//! Slots and the rules behind them: a point's booking policy, the agents on duty on a day, the
//! day's slots cut from opening hours on working days, and what may be booked now.

use chrono::NaiveDate;
use entity::{booking_policies, service_points, slots, staff_accounts, staff_duty_days};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::OnConflict,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::model::{Policy, PolicyPatch, capacity, check_bookable, china_instant, slot_times},
    calendar::{self, model::WorkingCalendar},
    clock::local_date,
    directory::{jurisdiction::Jurisdiction, model::OpeningHours, regions::region},
    error::{AppError, AppResult},
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
                no_show_limit: i64::from(p.no_show_limit),
                no_show_window_days: i64::from(p.no_show_window_days),
                no_show_ban_days: i64::from(p.no_show_ban_days),
                review_hours: i64::from(p.review_hours),
                grace_minutes: i64::from(p.grace_minutes),
                hold_minutes: i64::from(p.hold_minutes),
                remind_day_before_hour: i64::from(p.remind_day_before_hour),
                remind_before_minutes: i64::from(p.remind_before_minutes),
                check_in_opens_minutes: i64::from(p.check_in_opens_minutes),
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

pub(crate) async fn active_point(
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
    calendar: &WorkingCalendar,
    point: &service_points::Model,
    policy: &Policy,
    day: NaiveDate,
) -> AppResult<Vec<slots::Model>> {
    if !calendar.is_workday(day).value {
        return Ok(Vec::new());
    }
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
                duty_capacity: Set(capacity),
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

/// A slot by id.
pub async fn slot(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<slots::Model> {
    slots::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("slot"))
}

/// Public: a service point's booking rules (the defaults until an admin sets them).
pub async fn point_policy(conn: &impl ConnectionTrait, point_id: Uuid) -> AppResult<Policy> {
    crate::directory::points::service_point(conn, point_id).await?;
    policy(conn, point_id).await
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
    let calendar = calendar::service::load(&state.db).await?;
    let mut out = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        if day < local_date(now) || (day - local_date(now)).num_days() > policy.window_days {
            continue;
        }
        for slot in ensure_slots(state, &calendar, &point, &policy, day).await? {
            if slot.booked < slot.capacity && check_bookable(now, slot.starts_at, &policy).is_ok() {
                out.push(slot);
            }
        }
    }
    Ok(out)
}

/// Staff: every slot of a point on a day, full and past ones included (for moving bookings);
/// days inside the booking window are generated on first use.
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
    let policy = policy(&state.db, point.id).await?;
    let today = local_date(state.clock.now());
    if day < today || (day - today).num_days() > policy.window_days {
        // Outside the booking window nothing is generated: the day shows what exists.
        return Ok(slots::Entity::find()
            .filter(slots::Column::ServicePointId.eq(point.id))
            .filter(slots::Column::Day.eq(day))
            .order_by_asc(slots::Column::StartsAt)
            .all(&state.db)
            .await?);
    }
    let calendar = calendar::service::load(&state.db).await?;
    ensure_slots(state, &calendar, &point, &policy, day).await
}

/// An admin over the point changes its booking policy (audited). Existing slots keep their
/// length; days generated afterwards use the new one.
pub async fn set_policy(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
    patch: PolicyPatch,
) -> AppResult<Policy> {
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_admin_over(&region(&txn, point.region_id).await?, "service point")?;
    // Values left out keep what the point has now.
    let policy = policy(&txn, point_id).await?.patched(patch);
    let ranges: [(&str, i64, i64, i64); 15] = [
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
        (
            "input.checkInOpensMinutes",
            policy.check_in_opens_minutes,
            0,
            8 * 60,
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
        check_in_opens_minutes: Set(int(policy.check_in_opens_minutes)),
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
                booking_policies::Column::CheckInOpensMinutes,
                booking_policies::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let details = policy_json(&policy);
    crate::audit::Pending::action(
        now,
        viewer,
        who.county_id(),
        "booking.policy",
        "service_point",
        point_id,
        details,
    )
    .append(&txn)
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
        "checkInOpensMinutes": p.check_in_opens_minutes,
    })
}
