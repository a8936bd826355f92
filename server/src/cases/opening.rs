//! Opening a case: from an accepted booking (`openCase`) or from a contact in the ledger
//! (`openCaseFromContact`), with its human number per county and year — gap-free: the number
//! is taken under the counter row's lock in the case's own transaction, so a failed opening
//! rolls its number back and two openings never share one.
use chrono::Datelike;
use entity::{bookings, case_counters, cases, items, ledger_entries, regions, service_points};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::desk::ensure_desk,
    cases::{
        model::{CaseKind, CaseOrigin, CaseRole, CaseStatus, DueFlag},
        service::{Acting, Step, hold, record},
    },
    db::is_unique_violation,
    error::{AppError, AppResult, hidden_as_not_found},
    events::Tx,
    state::AppState,
};

/// The next case number of a county's year, taken under the counter row's lock (held to the
/// commit): `<county code>-<year>-<000123>`.
pub async fn next_number(
    conn: &impl ConnectionTrait,
    county: &regions::Model,
    year: i32,
) -> AppResult<String> {
    let backend = conn.get_database_backend();
    let insert = Query::insert()
        .into_table(case_counters::Entity)
        .columns([
            case_counters::Column::CountyId,
            case_counters::Column::Year,
            case_counters::Column::LastNumber,
        ])
        .values([county.id.into(), year.into(), 0i64.into()])
        .map_err(AppError::internal)?
        .on_conflict(
            OnConflict::columns([case_counters::Column::CountyId, case_counters::Column::Year])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute_raw(backend.build(&insert)).await?;
    let update = Query::update()
        .table(case_counters::Entity)
        .value(
            case_counters::Column::LastNumber,
            Expr::col(case_counters::Column::LastNumber).add(1),
        )
        .and_where(case_counters::Column::CountyId.eq(county.id))
        .and_where(case_counters::Column::Year.eq(year))
        .returning_col(case_counters::Column::LastNumber)
        .to_owned();
    let row = conn
        .query_one_raw(backend.build(&update))
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no case counter row")))?;
    let n: i64 = row.try_get_by_index(0)?;
    Ok(format!("{}-{year}-{n:06}", county.code))
}

/// Everything a new case needs.
struct NewCase {
    kind: CaseKind,
    origin: CaseOrigin,
    booking_id: Option<Uuid>,
    ledger_entry_id: Option<Uuid>,
    user_id: Option<Uuid>,
    enterprise: Option<(String, String)>,
    item: items::Model,
    point: service_points::Model,
}

/// Staff at the booking's desk: opens the case of an accepted (or served) help or proxy
/// booking. Its item, applicant, kind and point carry over; the booking shows its case.
pub async fn open_case(
    state: &AppState,
    viewer: &Viewer,
    booking_id: Uuid,
) -> AppResult<cases::Model> {
    viewer.require_staff()?;
    let booking = bookings::Entity::find_by_id(booking_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("booking"))?;
    let who = ensure_desk(state, viewer, booking.service_point_id)
        .await
        .map_err(hidden_as_not_found("booking"))?;
    let kind = match booking.kind.as_str() {
        "help" => CaseKind::Help,
        "proxy" => CaseKind::Proxy,
        _ => {
            return Err(AppError::bad_input(
                "bookingId",
                "a consultation booking opens no case; record a contact and open the case from it",
            ));
        }
    };
    if !matches!(booking.status.as_str(), "accepted" | "served") {
        return Err(AppError::InvalidTransition(format!(
            "the booking is {}; only an accepted booking opens a case",
            booking.status.to_uppercase()
        )));
    }
    let entry = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::BookingId.eq(booking.id))
        .order_by_desc(ledger_entries::Column::OccurredAt)
        .one(&state.db)
        .await?;
    let new = NewCase {
        kind,
        origin: CaseOrigin::Booking,
        booking_id: Some(booking.id),
        ledger_entry_id: entry.map(|e| e.id),
        user_id: Some(booking.user_id),
        enterprise: booking
            .enterprise_name
            .clone()
            .zip(booking.credit_code.clone()),
        item: item(&state.db, booking.item_id).await?,
        point: point(&state.db, booking.service_point_id).await?,
    };
    insert_case(state, viewer, who.staff_id, new).await
}

/// Staff at the contact's point: opens a case from a ledger contact (phone, window, remote)
/// that names its item.
pub async fn open_case_from_contact(
    state: &AppState,
    viewer: &Viewer,
    entry_id: Uuid,
    kind: CaseKind,
) -> AppResult<cases::Model> {
    viewer.require_staff()?;
    let entry = ledger_entries::Entity::find_by_id(entry_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("ledger entry"))?;
    let who = ensure_desk(state, viewer, entry.service_point_id)
        .await
        .map_err(hidden_as_not_found("ledger entry"))?;
    if entity::consultations::Entity::find()
        .filter(entity::consultations::Column::LedgerEntryId.eq(entry.id))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(AppError::bad_input(
            "ledgerEntryId",
            "this contact is a consultation among staff; it opens no case",
        ));
    }
    if entry.booking_id.is_some() {
        return Err(AppError::bad_input(
            "ledgerEntryId",
            "this contact belongs to a booking; open the case from the booking",
        ));
    }
    let item_id = entry.item_id.ok_or_else(|| {
        AppError::bad_input(
            "ledgerEntryId",
            "the contact names no item; a case needs one",
        )
    })?;
    if cases::Entity::find()
        .filter(cases::Column::LedgerEntryId.eq(entry.id))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict("this contact already has a case".into()));
    }
    let new = NewCase {
        kind,
        origin: CaseOrigin::Contact,
        booking_id: None,
        ledger_entry_id: Some(entry.id),
        user_id: entry.user_id,
        enterprise: None,
        item: item(&state.db, item_id).await?,
        point: point(&state.db, entry.service_point_id).await?,
    };
    insert_case(state, viewer, who.staff_id, new).await
}

async fn item(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<items::Model> {
    items::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the item {id} is gone")))
}

async fn point(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<service_points::Model> {
    service_points::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("service point"))
}

async fn insert_case(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
    new: NewCase,
) -> AppResult<cases::Model> {
    let now = state.clock.now();
    let unit = crate::directory::regions::region(&state.db, new.point.region_id).await?;
    let county_id = unit
        .county_id
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a unit outside any county")))?;
    let county = crate::directory::regions::region(&state.db, county_id).await?;
    let year = crate::clock::local_date(now).year();
    let mut tx = Tx::begin(state).await?;
    if let Some(user) = new.user_id {
        crate::auth::service::lock_people(&*tx, vec![user]).await?;
    }
    if let Some(booking) = new.booking_id {
        // The booking's row, guarded on its status (lock order: the person, the booking, the
        // counter, the case): a cancellation committed meanwhile wins.
        let still = bookings::Entity::update_many()
            .col_expr(
                bookings::Column::UpdatedAt,
                Expr::col(bookings::Column::UpdatedAt),
            )
            .filter(bookings::Column::Id.eq(booking))
            .filter(bookings::Column::Status.is_in(["accepted", "served"]))
            .exec(&*tx)
            .await?;
        if still.rows_affected == 0 {
            return Err(AppError::InvalidTransition(
                "the booking changed meanwhile; only an accepted booking opens a case".into(),
            ));
        }
    }
    let number = next_number(&*tx, &county, year).await?;
    let case = cases::Model {
        id: Uuid::now_v7(),
        number,
        county_id,
        year,
        kind: new.kind.as_str().into(),
        status: CaseStatus::Registered.as_str().into(),
        origin: new.origin.as_str().into(),
        booking_id: new.booking_id,
        ledger_entry_id: new.ledger_entry_id,
        user_id: new.user_id,
        enterprise_name: new.enterprise.as_ref().map(|e| e.0.clone()),
        credit_code: new.enterprise.map(|e| e.1),
        item_id: new.item.id,
        origin_unit_id: unit.id,
        unit_id: unit.id,
        service_point_id: Some(new.point.id),
        agent_id: Some(staff_id),
        promised_days: new.item.promised_working_days,
        accepted_on: None,
        due_on: None,
        due_provisional: false,
        due_flag: DueFlag::OnTrack.as_str().into(),
        waiting_since: None,
        reason_code: None,
        explanation: None,
        submitted_ref: None,
        termination_reason: None,
        outcome: None,
        delivery: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
        latest_steps: None,
        latest_public_steps: None,
    };
    let inserted = cases::ActiveModel::from(case.clone()).insert(&*tx).await;
    match inserted {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(AppError::Conflict("this booking already has a case".into()));
        }
        Err(error) => return Err(error.into()),
    }
    hold(&*tx, case.id, unit.id, now).await?;
    let acting = Acting {
        role: Some(CaseRole::HandlingAgent),
        who: None,
        person: staff_id,
    };
    let step = Step {
        public_note: Some(format!("已登记，办件编号 {}", case.number)),
        details: json!({"origin": new.origin.as_str(), "kind": new.kind.as_str()}),
        ..Step::default()
    };
    record(&mut tx, viewer, &case, &acting, "opened", None, step, now).await?;
    tx.commit().await?;
    Ok(case)
}
