//! Scheduled booking work, all clock-injected and idempotent (every row is claimed with a
//! guarded update, so any number of instances may run it): no-shows and the restriction they
//! trigger, review deadlines, reminders, waitlist offers that lapse, and old idempotency keys.
use chrono::Duration;
use entity::{
    booking_restrictions, bookings, idempotency_keys, queue_tickets, service_points, slots,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    booking::{
        changes::{Closing, close_booking},
        model::{
            BookingStatus, Channel, Reminder, add_opening_minutes, is_no_show, reminders_due,
            restriction_due,
        },
        restrictions::RESTRICTING,
        schedule::policy,
        service::{Contact, IDEMPOTENCY_HOURS, ledger, lock_user},
        waitlist,
    },
    calendar,
    directory::model::OpeningHours,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key, staff_key},
    jobs::{Counts, ScheduledJobs},
    state::AppState,
};

/// The booking desk's scheduled jobs: review deadlines, no-shows (and the restrictions they
/// lead to), days the desk left unfinished, reminders, ended waitlists, old idempotency keys.
pub struct BookingJobs;

const BATCH: u64 = 500;

#[async_trait::async_trait]
impl ScheduledJobs for BookingJobs {
    fn room(&self) -> &'static str {
        "booking"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<Counts> {
        // Each job runs whatever the others did: one failing is logged, the rest still run,
        // and the run then reports the first failure (every job is retried next run).
        fn logged<T: Default>(failed: &mut Option<AppError>, job: &str, done: AppResult<T>) -> T {
            done.unwrap_or_else(|error| {
                tracing::error!(job, error = error.message(), "booking job failed");
                failed.get_or_insert(error);
                T::default()
            })
        }
        let mut failed = None;
        // Overdue first: a booking left unreviewed past its deadline stays flagged even when it
        // becomes a no-show in the same run.
        let overdue = logged(
            &mut failed,
            "review deadlines",
            flag_overdue_reviews(state).await,
        );
        let (no_shows, restrictions) = logged(&mut failed, "no-shows", mark_no_shows(state).await);
        // Numbers (and their bookings) left open by the desk on days that have ended.
        let unfinished = logged(
            &mut failed,
            "unfinished days",
            close_unfinished_days(state).await,
        );
        let reminders = logged(&mut failed, "reminders", send_reminders(state).await);
        let waitlist_ended = logged(&mut failed, "waitlist", waitlist::expire_due(state).await);
        let keys_pruned = logged(
            &mut failed,
            "idempotency keys",
            prune_idempotency_keys(state).await,
        );
        if let Some(error) = failed {
            return Err(error);
        }
        Ok(Counts::from([
            ("overdue", overdue),
            ("no_shows", no_shows),
            ("restrictions", restrictions),
            ("unfinished", unfinished),
            ("reminders", reminders),
            ("waitlist_ended", waitlist_ended),
            ("keys_pruned", keys_pruned),
        ]))
    }
}

fn open_statuses() -> [&'static str; 2] {
    [
        BookingStatus::Booked.as_str(),
        BookingStatus::Accepted.as_str(),
    ]
}

/// Open bookings not checked in by the end of their slot and the grace period become no-shows;
/// a resident reaching the point's limit within its window is restricted from online booking.
async fn mark_no_shows(state: &AppState) -> AppResult<(u64, u64)> {
    let now = state.clock.now();
    let candidates: Vec<(bookings::Model, Option<slots::Model>)> = bookings::Entity::find()
        .filter(bookings::Column::Status.is_in(open_statuses()))
        .filter(bookings::Column::CheckedInAt.is_null())
        .find_also_related(slots::Entity)
        .filter(slots::Column::EndsAt.lte(now))
        .order_by_asc(slots::Column::EndsAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let (mut marked, mut restricted) = (0, 0);
    for (booking, slot) in candidates {
        let Some(slot) = slot else { continue };
        let policy = policy(&state.db, booking.service_point_id).await?;
        if !is_no_show(slot.ends_at, policy.grace_minutes, now) {
            continue;
        }
        let mut tx = Tx::begin(state).await?;
        // The resident first (the lock order): the no-show rule reads their no-shows and
        // restrictions, and must not race the desk recording another no-show of theirs.
        lock_user(&*tx, booking.user_id).await?;
        let closing = Closing {
            before_check_in: true,
            ..Closing::to(BookingStatus::NoShow)
        };
        if close_booking(&*tx, &booking, closing, now).await.is_err() {
            continue;
        }
        ledger(
            &*tx,
            &booking,
            Contact {
                outcome: "no_show",
                channel: booking
                    .channel
                    .parse::<Channel>()
                    .ok()
                    .unwrap_or(Channel::Online),
                agent: None,
                reason_code: None,
                note: None,
            },
            now,
        )
        .await?;
        tx.emit(EventDraft {
            kind: "booking.no_show",
            topic: "booking",
            subject_kind: "booking",
            subject_id: booking.id.to_string(),
            audience: vec![resident_key(booking.user_id)],
            payload: json!({"code": booking.code, "status": "no_show"}),
        });
        if apply_no_show_rule(&mut tx, &booking, &policy, now).await? {
            restricted += 1;
        }
        tx.commit().await?;
        marked += 1;
    }
    Ok((marked, restricted))
}

/// The no-show rule, after `booking` was recorded in `tx` as a no-show: when the resident's
/// no-shows (by the end of their slots) at the points of the booking's county within the point's
/// window reach its limit, and no restriction of that county is in force, online booking in the
/// county is suspended for the ban days (the rule is the county's: another county's no-shows
/// and restrictions do not count). True when a restriction was made.
pub(crate) async fn apply_no_show_rule(
    tx: &mut Tx<'_>,
    booking: &bookings::Model,
    policy: &crate::booking::model::Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<bool> {
    if policy.no_show_ban_days <= 0 {
        return Ok(false);
    }
    let user_id = booking.user_id;
    let Some(county) =
        crate::directory::regions::region(&**tx, point_region(&**tx, booking).await?)
            .await?
            .county_id
    else {
        return Ok(false);
    };
    let since = now - Duration::days(policy.no_show_window_days);
    let count = bookings::Entity::find()
        .inner_join(slots::Entity)
        .filter(bookings::Column::UserId.eq(user_id))
        .filter(bookings::Column::ServicePointId.in_subquery(points_of_county(county)))
        // A booking checked in but never finished by the desk counts too: a check-in proves
        // presence only at that moment, and someone who left before being served was absent.
        .filter(bookings::Column::Status.is_in([
            BookingStatus::NoShow.as_str(),
            BookingStatus::Unfinished.as_str(),
        ]))
        .filter(slots::Column::EndsAt.gte(since))
        .count(&**tx)
        .await? as i64;
    if !restriction_due(count, policy) {
        return Ok(false);
    }
    let already = booking_restrictions::Entity::find()
        .filter(booking_restrictions::Column::UserId.eq(user_id))
        .filter(booking_restrictions::Column::CountyId.eq(county))
        .filter(booking_restrictions::Column::Status.is_in(RESTRICTING))
        .filter(booking_restrictions::Column::Until.gt(now))
        .count(&**tx)
        .await?;
    if already > 0 {
        return Ok(false);
    }
    let until = now + Duration::days(policy.no_show_ban_days);
    let restriction = booking_restrictions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        county_id: Set(Some(county)),
        starts_at: Set(now),
        until: Set(until),
        reason: Set(format!(
            "{count} no-shows within {} days",
            policy.no_show_window_days
        )),
        status: Set("active".into()),
        appeal: Set(None),
        appealed_at: Set(None),
        decided_by: Set(None),
        decided_at: Set(None),
        decision: Set(None),
    }
    .insert(&**tx)
    .await?;
    tx.emit(EventDraft {
        kind: "booking.restricted",
        topic: "booking",
        subject_kind: "restriction",
        subject_id: restriction.id.to_string(),
        audience: vec![resident_key(user_id)],
        payload: json!({"until": until.to_rfc3339(), "noShows": count, "status": "active"}),
    });
    Ok(true)
}

/// The region of a booking's service point.
async fn point_region(
    conn: &impl sea_orm::ConnectionTrait,
    booking: &bookings::Model,
) -> AppResult<Uuid> {
    Ok(service_points::Entity::find_by_id(booking.service_point_id)
        .one(conn)
        .await?
        .ok_or(crate::error::AppError::NotFound("service point"))?
        .region_id)
}

/// The service points of a county, as a subquery.
fn points_of_county(county: Uuid) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    Query::select()
        .column((service_points::Entity, service_points::Column::Id))
        .from(service_points::Entity)
        .inner_join(
            entity::regions::Entity,
            Expr::col((entity::regions::Entity, entity::regions::Column::Id))
                .equals((service_points::Entity, service_points::Column::RegionId)),
        )
        .and_where(
            Expr::col((entity::regions::Entity, entity::regions::Column::CountyId)).eq(county),
        )
        .to_owned()
}

/// Numbers the desk never finished on a day that has ended: the ticket and its booking are
/// closed as `unfinished` (so the booking stops counting as open), with a ledger entry; such a
/// booking counts for the no-show rule.
async fn close_unfinished_days(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let stale = queue_tickets::Entity::find()
        .filter(queue_tickets::Column::Day.lt(today))
        .filter(queue_tickets::Column::Status.is_in(["waiting", "called"]))
        .order_by_asc(queue_tickets::Column::Day)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut closed = 0;
    for ticket in stale {
        let mut tx = Tx::begin(state).await?;
        // The resident first (the lock order), for the no-show rule.
        if let Some(user) = ticket.user_id {
            lock_user(&*tx, user).await?;
        }
        let done = queue_tickets::Entity::update_many()
            .col_expr(queue_tickets::Column::Status, Expr::value("unfinished"))
            .col_expr(queue_tickets::Column::FinishedAt, Expr::value(Some(now)))
            .filter(queue_tickets::Column::Id.eq(ticket.id))
            .filter(queue_tickets::Column::Status.is_in(["waiting", "called"]))
            .exec(&*tx)
            .await?;
        if done.rows_affected == 0 {
            continue;
        }
        let booking = match ticket.booking_id {
            Some(id) => bookings::Entity::find_by_id(id).one(&*tx).await?,
            None => None,
        };
        match booking {
            Some(booking) => {
                let closed =
                    close_booking(&*tx, &booking, Closing::to(BookingStatus::Unfinished), now)
                        .await;
                // Closed meanwhile (refused, served): nothing to record. Any other error aborts.
                if !matches!(closed, Err(AppError::InvalidTransition(_))) {
                    closed?;
                    ledger(
                        &*tx,
                        &booking,
                        Contact {
                            outcome: "unfinished",
                            channel: Channel::Window,
                            agent: None,
                            reason_code: None,
                            note: None,
                        },
                        now,
                    )
                    .await?;
                    let policy = policy(&*tx, booking.service_point_id).await?;
                    apply_no_show_rule(&mut tx, &booking, &policy, now).await?;
                }
            }
            None => {
                crate::booking::ledger::write(
                    &*tx,
                    crate::booking::ledger::NewEntry::walk_in(
                        &ticket,
                        "unfinished",
                        None,
                        now,
                        format!("取号 {} {}", ticket.label, ticket.day),
                    ),
                )
                .await?;
            }
        }
        tx.commit().await?;
        closed += 1;
    }
    Ok(closed)
}

/// Bookings still waiting for review past the point's review hours (counted in its opening
/// hours on working days) are flagged overdue, once, and the point's agents are told.
async fn flag_overdue_reviews(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let pending = bookings::Entity::find()
        .filter(bookings::Column::Status.eq(BookingStatus::Booked.as_str()))
        .filter(bookings::Column::ReviewOverdue.eq(false))
        .filter(bookings::Column::CreatedAt.gte(now - Duration::days(60)))
        .order_by_asc(bookings::Column::CreatedAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let calendar = calendar::service::load(&state.db).await?;
    let mut flagged = 0;
    for booking in pending {
        let Some(point) = service_points::Entity::find_by_id(booking.service_point_id)
            .one(&state.db)
            .await?
        else {
            continue;
        };
        let policy = policy(&state.db, point.id).await?;
        let hours = OpeningHours::from_json(&point.opening_hours);
        let deadline = add_opening_minutes(
            &calendar,
            &hours,
            booking.created_at,
            policy.review_hours * 60,
        );
        if now < deadline {
            continue;
        }
        let mut tx = Tx::begin(state).await?;
        let done = bookings::Entity::update_many()
            .col_expr(bookings::Column::ReviewOverdue, Expr::value(true))
            .filter(bookings::Column::Id.eq(booking.id))
            .filter(bookings::Column::ReviewOverdue.eq(false))
            .filter(bookings::Column::Status.eq(BookingStatus::Booked.as_str()))
            .exec(&*tx)
            .await?;
        if done.rows_affected == 0 {
            continue;
        }
        let agents = entity::staff_accounts::Entity::find()
            .filter(entity::staff_accounts::Column::ServicePointId.eq(point.id))
            .filter(entity::staff_accounts::Column::Active.eq(true))
            .all(&*tx)
            .await?;
        tx.emit(EventDraft {
            kind: "booking.review_overdue",
            topic: "booking",
            subject_kind: "booking",
            subject_id: booking.id.to_string(),
            audience: agents.iter().map(|a| staff_key(a.id)).collect(),
            payload: json!({"code": booking.code, "deadline": deadline.to_rfc3339()}),
        });
        tx.commit().await?;
        flagged += 1;
    }
    Ok(flagged)
}

/// Reminders for active bookings: the day before at the point's hour, and shortly before the
/// slot. Each is claimed by a guarded update, so it is sent once even with many instances.
async fn send_reminders(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let upcoming: Vec<(bookings::Model, Option<slots::Model>)> = bookings::Entity::find()
        .filter(bookings::Column::Status.is_in(open_statuses()))
        .filter(
            sea_orm::Condition::any()
                .add(bookings::Column::RemindedDayBefore.eq(false))
                .add(bookings::Column::RemindedSoon.eq(false)),
        )
        .find_also_related(slots::Entity)
        .filter(slots::Column::StartsAt.gt(now))
        .filter(slots::Column::StartsAt.lte(now + Duration::hours(48)))
        .order_by_asc(slots::Column::StartsAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut sent = 0;
    for (booking, slot) in upcoming {
        let Some(slot) = slot else { continue };
        let policy = policy(&state.db, booking.service_point_id).await?;
        for reminder in reminders_due(
            &policy,
            booking.created_at,
            slot.starts_at,
            now,
            (booking.reminded_day_before, booking.reminded_soon),
        ) {
            let column = match reminder {
                Reminder::DayBefore => bookings::Column::RemindedDayBefore,
                Reminder::Soon => bookings::Column::RemindedSoon,
            };
            let mut tx = Tx::begin(state).await?;
            let claimed = bookings::Entity::update_many()
                .col_expr(column, Expr::value(true))
                .filter(bookings::Column::Id.eq(booking.id))
                .filter(column.eq(false))
                .filter(bookings::Column::Status.is_in(open_statuses()))
                .filter(bookings::Column::SlotId.eq(slot.id))
                .exec(&*tx)
                .await?;
            if claimed.rows_affected == 0 {
                continue;
            }
            let point = service_points::Entity::find_by_id(booking.service_point_id)
                .one(&*tx)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            let item = entity::items::Entity::find_by_id(booking.item_id)
                .one(&*tx)
                .await?
                .map(|i| i.business_name)
                .unwrap_or_default();
            tx.emit(EventDraft {
                kind: "booking.reminder",
                topic: "booking",
                subject_kind: "booking",
                subject_id: booking.id.to_string(),
                audience: vec![resident_key(booking.user_id)],
                payload: json!({"code": booking.code, "startsAt": slot.starts_at.to_rfc3339(), "point": point, "item": item,
                    "reminder": match reminder { Reminder::DayBefore => "day_before", Reminder::Soon => "soon" },
                    "status": booking.status}),
            });
            tx.commit().await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Idempotency keys older than the promise (48 h ≥ the 24 h required) are forgotten.
async fn prune_idempotency_keys(state: &AppState) -> AppResult<u64> {
    let cutoff = state.clock.now() - Duration::hours(IDEMPOTENCY_HOURS as i64);
    Ok(idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::CreatedAt.lt(cutoff))
        .exec(&state.db)
        .await?
        .rows_affected)
}
