//! Making a booking, step by step: the rate limits and a cached answer for a retried key, the
//! admission counter in front of the database (a flash crowd is answered SLOT_FULL without a
//! query), then the database part in one transaction.
use std::time::Duration as StdDuration;

use entity::{bookings, idempotency_keys, slots, users};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::OnConflict};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{
        desk::ensure_desk,
        model::check_bookable,
        restrictions::active_restriction,
        seats::{seats_key, take_seat},
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::Tx,
    pii::{CreditCode, MobileNumber},
    state::AppState,
    store::Unit,
};

use super::model::{Channel, OnBehalf};
use super::service::{
    BookInput, Booker, IDEMPOTENCY_HOURS, NewBooking, idempotency_cache_key, insert_booking,
    limit_attempts, lock_user, replay, request_hash, resident_of, target, valid_key,
};

/// Books a slot. Residents book for themselves (restriction and booking window apply); staff of
/// the point book for a resident identified by the phone number bound to their account, with
/// the channel and consent recorded. Idempotent by key per actor (kept 48 h).
pub async fn book(
    state: &AppState,
    viewer: &Viewer,
    booker: Booker,
    input: BookInput,
) -> AppResult<bookings::Model> {
    let on_behalf = matches!(booker, Booker::Staff { .. });
    let result = book_as(state, viewer, booker, input).await;
    if on_behalf {
        result.map_err(on_behalf_field)
    } else {
        result
    }
}

/// `bookOnBehalf` nests the booking under `input.booking` and the channel under
/// `input.onBehalf`: its errors name those paths.
pub(super) fn on_behalf_field(error: AppError) -> AppError {
    match error {
        AppError::BadUserInput { field, message } => {
            let field = if field == "input.residentPhone" {
                field
            } else if field.starts_with("onBehalf") {
                format!("input.{field}")
            } else if let Some(rest) = field.strip_prefix("input") {
                format!("input.booking{rest}")
            } else {
                field
            };
            AppError::BadUserInput { field, message }
        }
        other => other,
    }
}

pub(super) async fn book_as(
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
            let staff_id = &viewer.require_staff()?;
            // Only the point's desk books for residents there: asked before anything is
            // admitted or held, so a stranger to the point leaves no trace (NOT_FOUND).
            ensure_desk(state, viewer, input.service_point_id).await?;
            let phone = MobileNumber::parse(resident_phone, "input.residentPhone")?;
            let on_behalf = on_behalf.clone().validate()?;
            (*staff_id, client_ip.as_str(), Some((phone, on_behalf)))
        }
    };
    let extra = staff
        .as_ref()
        .map(|(p, o)| {
            // The phone by its keyed blind index: the stored hash must not reveal the number.
            let phone = state.cipher.blind_index("phone", p.as_str());
            format!("{phone}|{}|{:?}", o.channel.as_str(), o.consent)
        })
        .unwrap_or_default();
    let hash = request_hash(&input, &extra);
    // The hot path, in one round trip to the shared store: the rate limits, a cached answer for
    // a retried key, and the slot's admission counter.
    let marker = admitted_marker(input.slot_id, actor);
    let peek = [
        idempotency_cache_key(actor, &key),
        seats_key(input.slot_id),
        marker.clone(),
    ];
    let (limited, cached) = tokio::join!(
        limit_attempts(state, actor, client_ip),
        state.store.get_many(&peek)
    );
    limited?;
    let cached = cached.unwrap_or_default();
    let retry = cached.first().is_some_and(Option::is_some);
    if retry && let Some(existing) = replay(&state.db, actor, &key, &hash).await? {
        return Ok(existing);
    }
    // The attempt's token: its key and its request (the same resident trying again with a new
    // key is a new attempt; the same key and request is the same one).
    let token = format!("{key}|{hash}");
    let attempt = Attempt {
        actor,
        key,
        hash,
        staff,
        enterprise,
        note,
    };
    let gate = if retry {
        Gate::Open
    } else {
        let counter = cached.get(1).cloned().flatten();
        let repeat = cached
            .get(2)
            .cloned()
            .flatten()
            .is_some_and(|held| held == token);
        let admitted_before = cached.get(2).cloned().flatten().is_some();
        match admit(state, &input, &attempt, &marker, &token, counter, repeat).await {
            // The counter says full. If this resident was let through to this slot before
            // (with another attempt: this very one would be a repeat), this key may hold a
            // seat whose cached answer the store never got or lost: the database has the last
            // word. Otherwise — the crowd, almost always — no query is made.
            Err(AppError::SlotFull) if admitted_before => {
                return match replay(&state.db, actor, &attempt.key, &attempt.hash).await? {
                    Some(existing) => Ok(existing),
                    None => Err(AppError::SlotFull),
                };
            }
            other => other?,
        }
    };
    let admitted = match gate {
        Gate::Answered(booking) => return Ok(*booking),
        Gate::Taken => true,
        Gate::Open => false,
    };
    let result = book_admitted(state, viewer, &input, attempt).await;
    if admitted {
        match &result {
            Ok((_, true)) => {}
            Err(AppError::SlotFull) => mark_sold_out(state, input.slot_id).await,
            // Refused for another reason, or answered from an earlier booking: the admission
            // goes back to the crowd.
            Ok((_, false)) | Err(_) => {
                if let Err(error) = state.store.adjust(&seats_key(input.slot_id), 1).await {
                    state
                        .metrics
                        .store_write_failed("admission_give_back", &error);
                }
            }
        }
    }
    result.map(|(booking, _)| booking)
}

/// A validated booking attempt.
struct Attempt {
    actor: Uuid,
    key: String,
    hash: String,
    staff: Option<(MobileNumber, OnBehalf)>,
    enterprise: Option<(String, CreditCode)>,
    note: Option<String>,
}

/// Admission to the database for an attempt on a slot. Every instance shares one counter per
/// slot in the store, initialised from the database with the seats left and living
/// `limits.sold_out_flag_seconds`; each attempt takes one, and once they are gone the crowd is
/// answered SLOT_FULL without a query. The database stays the judge: an admitted attempt may
/// still find the slot full, and a freed seat deletes the counter. True when a unit was taken
/// (to give back if the attempt fails for another reason); false when the gate is off or the
/// store is unavailable (the attempt goes on to the database).
async fn admit(
    state: &AppState,
    input: &BookInput,
    attempt: &Attempt,
    marker: &str,
    token: &str,
    peeked: Option<String>,
    repeat: bool,
) -> AppResult<Gate> {
    let ttl = StdDuration::from_secs(state.settings.limits.sold_out_flag_seconds);
    if ttl.is_zero() {
        return Ok(Gate::Open);
    }
    let key = seats_key(input.slot_id);
    match peeked.map(|v| v.parse::<i64>().unwrap_or(0)) {
        // This very attempt was let through before (a retry racing it): the database answers.
        _ if repeat => return Ok(Gate::Open),
        Some(left) if left <= 0 => return Err(AppError::SlotFull),
        Some(_) => {}
        None => {
            // No counter (first attempt, or the store lost it): one database round trip reads
            // an earlier answer for this key — a retry after a restart gets its booking — and
            // the seats left.
            let (earlier, slot) = tokio::join!(
                replay(&state.db, attempt.actor, &attempt.key, &attempt.hash),
                slots::Entity::find_by_id(input.slot_id).one(&state.db)
            );
            if let Some(booking) = earlier? {
                return Ok(Gate::Answered(Box::new(booking)));
            }
            let Some(slot) = slot?.filter(|s| s.service_point_id == input.service_point_id) else {
                // Not a slot of this point: validation answers.
                return Ok(Gate::Open);
            };
            let left = i64::from(slot.capacity - slot.booked);
            if left <= 0 {
                mark_sold_out(state, slot.id).await;
                return Err(AppError::SlotFull);
            }
            if state
                .store
                .set_if_absent(&key, &left.to_string(), ttl)
                .await
                .is_err()
            {
                return Ok(Gate::Open);
            }
        }
    }
    // The marker outlives the counter (a day): a key let through long ago, whose counter was
    // created again since, is still known to have been let through.
    let marker_ttl = ttl.max(StdDuration::from_secs(24 * 3600));
    match state.store.take_unit(&key, marker, token, marker_ttl).await {
        Ok(Unit::Left(left)) if left < 0 => Err(AppError::SlotFull),
        Ok(Unit::Left(_)) => Ok(Gate::Taken),
        // The same attempt again (a retry racing its original): the database answers it.
        Ok(Unit::Repeat) | Ok(Unit::Missing) | Err(_) => Ok(Gate::Open),
    }
}

/// What the admission counter decided.
enum Gate {
    /// A unit was taken: give it back if the attempt fails for another reason.
    Taken,
    /// Let through without a unit (gate off, store unavailable, a repeat, not this point's slot).
    Open,
    /// An earlier request with this key already made the booking.
    Answered(Box<bookings::Model>),
}

/// Which attempt of this resident on this slot the counter last let through (by request hash).
fn admitted_marker(slot_id: Uuid, actor: Uuid) -> String {
    format!("booking:admitted:{slot_id}:{actor}")
}

/// The database part of a booking, once admitted: the booking, and whether this call made it
/// (false when an earlier request with the same key had).
async fn book_admitted(
    state: &AppState,
    viewer: &Viewer,
    input: &BookInput,
    attempt: Attempt,
) -> AppResult<(bookings::Model, bool)> {
    let Attempt {
        actor,
        key,
        hash,
        staff,
        enterprise,
        note,
    } = attempt;
    let target = target(
        &state.db,
        input.service_point_id,
        input.item_id,
        input.slot_id,
        "input",
    )
    .await?;
    let now = state.clock.now();
    // The desk's county, for the audit row of a booking made on a resident's behalf.
    let mut desk_county = None;
    let (user_id, channel, created_by, consent, by_number) = match staff {
        None => {
            check_bookable(now, target.slot.starts_at, &target.policy)?;
            (actor, Channel::Online, None, None, None)
        }
        Some((phone, on_behalf)) => {
            desk_county = ensure_desk(state, viewer, target.point.id)
                .await?
                .county_id();
            if target.slot.starts_at <= now {
                return Err(AppError::bad_input(
                    "input.slotId",
                    "this slot has already started",
                ));
            }
            let bidx = state.cipher.blind_index("phone", phone.as_str());
            let user = users::Entity::find()
                .filter(users::Column::PhoneBidx.eq(bidx.as_str()))
                .one(&state.db)
                .await?
                .ok_or_else(|| {
                    AppError::bad_input(
                        "input.residentPhone",
                        "no resident has bound this number in the mini-program; record the contact in the ledger instead",
                    )
                })?;
            (
                user.id,
                on_behalf.channel,
                Some(actor),
                on_behalf.consent,
                Some(bidx),
            )
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
        let earlier = replay(&state.db, actor, &key, &hash)
            .await?
            .ok_or_else(|| {
                AppError::Conflict("a concurrent request with this key is in progress".into())
            })?;
        return Ok((earlier, false));
    }
    if channel == Channel::Online
        && let Some(restriction) = active_restriction(&*tx, user_id, target.point.id, now).await?
    {
        return Err(AppError::BookingRestricted(format!(
            "online booking is suspended until {} after repeated no-shows; you may appeal",
            restriction.until.to_rfc3339()
        )));
    }
    if let Some(bidx) = by_number {
        // Found by their number before the transaction: under their lock, the number must
        // still be theirs (it may have moved to another account meanwhile).
        lock_user(&*tx, user_id).await?;
        let still = users::Entity::find_by_id(user_id)
            .one(&*tx)
            .await?
            .is_some_and(|u| u.phone_bidx.as_deref() == Some(bidx.as_str()));
        if !still {
            return Err(AppError::Conflict(
                "this number moved to another account meanwhile; try again".into(),
            ));
        }
    }
    let new = NewBooking {
        user_id,
        kind: input.kind,
        enterprise,
        note,
        channel,
        created_by,
        consent,
    };
    let booking = insert_booking(&mut tx, &target, new, booking_id, now).await?;
    if let Some(staff_id) = created_by {
        tx.audit(crate::audit::Pending::action(
            now,
            viewer,
            desk_county,
            "booking.on_behalf",
            "booking",
            booking.id,
            json!({"channel": channel.as_str(), "staff": staff_id}),
        ));
    }
    // The seat last: the slot's row — the hot one in a flash crowd — is locked only from here to
    // the commit (the events, push deliveries and audit entry the commit writes).
    if !take_seat(&*tx, target.slot.id).await? {
        drop(tx);
        return Err(AppError::SlotFull);
    }
    tx.commit().await?;
    if let Err(error) = state
        .store
        .set(
            &idempotency_cache_key(actor, &key),
            &booking.id.to_string(),
            StdDuration::from_secs(IDEMPOTENCY_HOURS * 3600),
        )
        .await
    {
        // A retry then finds its booking in the database (see the admission gate).
        state
            .metrics
            .store_write_failed("idempotency_cache", &error);
    }
    Ok((booking, true))
}

/// Closes the slot's admission counter for `limits.sold_out_flag_seconds` (a failure only costs
/// the next attempts a database read).
async fn mark_sold_out(state: &AppState, slot_id: Uuid) {
    let ttl = StdDuration::from_secs(state.settings.limits.sold_out_flag_seconds);
    if !ttl.is_zero()
        && let Err(error) = state.store.set(&seats_key(slot_id), "0", ttl).await
    {
        tracing::warn!(%error, "could not close an admission counter");
    }
}
