//! Making a booking (the steps of an attempt are in `admission.rs`). A seat is taken with a guarded `UPDATE … SET booked = booked + 1 WHERE
//! booked < capacity` in the same transaction as the booking, its ledger entry, its idempotency
//! record and its event, so the count can never pass the capacity and nothing half-exists.
//! Also the pieces every booking use case shares (channels, acting on behalf, the desk guard,
//! the ledger entry of a booking) and the re-exports of the sibling modules' use cases.
//!
//! `slots.booked` counts seats taken by bookings and seats held for a waitlist offer. A freed
//! seat goes back to the slot and, in the same transaction, to the first resident waiting.
use std::time::Duration as StdDuration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{bookings, idempotency_keys, items, service_points, slots, staff_accounts};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{
        model::{BookingKind, BookingStatus, Channel, OnBehalf, Policy, new_code},
        schedule::{active_point, policy},
    },
    directory::{
        catalogue::ItemFields,
        jurisdiction::Jurisdiction,
        model::{RegionLevel, ServicePointKind},
        regions::{county_of_point, region},
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    pii::CreditCode,
    state::AppState,
};

pub(super) fn idempotency_cache_key(user_id: Uuid, key: &str) -> String {
    format!("booking:idem:{user_id}:{key}")
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

pub(super) fn request_hash(input: &BookInput, extra: &str) -> String {
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
pub(super) async fn replay(
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

pub(crate) fn resident_of(viewer: &Viewer) -> AppResult<Uuid> {
    viewer.require_resident("residents only; staff act on a resident's behalf with `onBehalf`")
}

pub(super) fn valid_key(key: &str) -> AppResult<String> {
    let key = key.trim();
    if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_input(
            "input.idempotencyKey",
            "1–64 printable ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// The booking attempt rate limits: per resident (or staff member) and per client address,
/// counted together (one round trip to the shared store); every attempt counts for both.
pub(crate) async fn limit_attempts(
    state: &AppState,
    actor: Uuid,
    client_ip: &str,
) -> AppResult<()> {
    let limits = &state.settings.limits;
    let minute = StdDuration::from_secs(60);
    let (user_bucket, address_bucket) =
        (format!("book:user:{actor}"), format!("book:ip:{client_ip}"));
    let (user, address) = tokio::join!(
        state
            .limiter
            .check(&user_bucket, limits.book_per_user_per_minute, minute),
        state
            .limiter
            .check(&address_bucket, limits.book_per_ip_per_minute, minute)
    );
    user.and(address)
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
    // Only an item of the catalogue of the point's own county.
    let item = items::Entity::find_by_id(item_id)
        .filter(items::Column::CountyId.in_subquery(county_of_point(point_id)))
        .one(conn)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| {
            AppError::bad_input(
                format!("{field}.itemId"),
                "no such item in the catalogue of the service point's county",
            )
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

/// Takes the resident's row lock for the rest of the transaction (the first lock it takes).
pub(crate) async fn lock_user(conn: &impl ConnectionTrait, user_id: Uuid) -> AppResult<()> {
    crate::auth::service::lock_people(conn, vec![user_id]).await
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
}

/// Inside the caller's transaction: the open-bookings cap, the booking row (with a fresh code),
/// its ledger entry and its event. The caller takes the seat (last, so the slot's row lock is
/// held only until the commit) or already holds it (a waitlist offer).
pub(crate) async fn insert_booking(
    tx: &mut Tx<'_>,
    target: &Target,
    new: NewBooking,
    id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bookings::Model> {
    // The resident's row is locked first: their concurrent bookings run one after the other, so
    // the cap below cannot be passed by racing requests.
    lock_user(&**tx, new.user_id).await?;
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
    // Booked: the resident no longer waits for this slot.
    entity::waitlist_entries::Entity::update_many()
        .col_expr(
            entity::waitlist_entries::Column::Status,
            Expr::value("left"),
        )
        .col_expr(
            entity::waitlist_entries::Column::OpenMarker,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(
            entity::waitlist_entries::Column::UpdatedAt,
            Expr::value(now),
        )
        .filter(entity::waitlist_entries::Column::SlotId.eq(target.slot.id))
        .filter(entity::waitlist_entries::Column::UserId.eq(new.user_id))
        .filter(entity::waitlist_entries::Column::Status.eq("waiting"))
        .exec(&**tx)
        .await?;
    ledger(
        &**tx,
        &booking,
        Contact {
            outcome: "booked",
            channel: new.channel,
            agent: new.created_by,
            reason_code: None,
            note: new.consent.clone(),
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

/// How long idempotency keys are kept (at least the 24 h promised).
pub const IDEMPOTENCY_HOURS: u64 = 48;

/// What a ledger entry records about a contact.
pub(crate) struct Contact<'a> {
    pub outcome: &'a str,
    pub channel: Channel,
    pub agent: Option<Uuid>,
    pub reason_code: Option<String>,
    /// For staff acting on a resident's behalf: the consent they recorded.
    pub note: Option<String>,
}

pub(crate) async fn ledger(
    conn: &impl ConnectionTrait,
    booking: &bookings::Model,
    contact: Contact<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    crate::booking::ledger::write(
        conn,
        crate::booking::ledger::NewEntry {
            service_point_id: booking.service_point_id,
            booking_id: Some(booking.id),
            user_id: Some(booking.user_id),
            item_id: Some(booking.item_id),
            channel: contact.channel,
            outcome: contact.outcome.into(),
            agent_id: contact.agent,
            occurred_at: now,
            entered_at: now,
            backfilled: false,
            reason_code: contact.reason_code,
            applicant_name_enc: None,
            note: contact.note,
        },
    )
    .await?;
    Ok(())
}

pub(crate) async fn load_booking(state: &AppState, id: Uuid) -> AppResult<bookings::Model> {
    bookings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))
}

/// The resident's bookings, newest first, each with its slot, point, item and case: one
/// joined statement for the whole list.
pub async fn mine(
    state: &AppState,
    viewer: &Viewer,
) -> AppResult<Vec<(bookings::Model, crate::graphql::loaders::Joined)>> {
    let user_id = resident_of(viewer)?;
    Ok(crate::graphql::loaders::bookings_joined(&state.db, user_id).await?)
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
    let mut bookings = bookings::Entity::find()
        .filter(bookings::Column::SlotId.is_in(slot_ids))
        .order_by_asc(bookings::Column::CreatedAt)
        .all(&state.db)
        .await?;
    // Free text (the resident's note, the consent staff recorded) as in the ledger: in full
    // for admins and the point's own agents, withheld from everyone else who may look.
    let own_point = staff_accounts::Entity::find_by_id(who.staff_id)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.service_point_id == Some(point_id));
    if !(who.is_admin() || own_point) {
        let withheld = |text: &mut Option<String>| {
            if text.is_some() {
                *text = Some(super::ledger::WITHHELD.to_string());
            }
        };
        for booking in &mut bookings {
            withheld(&mut booking.note);
            withheld(&mut booking.consent);
        }
    }
    Ok(bookings)
}
