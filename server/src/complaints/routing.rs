//! Which inspector handles a complaint: one outside the accused's chain, without a declared
//! conflict of interest, the least loaded (`rules::pick`). Chosen at intake, again when the
//! inspector declares a conflict (the declaration is kept: they are never chosen again for
//! it), and by hand by a county administrator. Nobody eligible: the complaint waits,
//! unassigned, for the county's administrators (who are told).
use entity::{complaint_conflicts, complaints};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::service::signed_in,
    complaints::{
        access::{self, handling, overseeing},
        model::ComplaintStatus,
        rules::{Accused, StaffFacts, may_handle, pick},
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    state::AppState,
};

/// The inspectors who may handle a complaint about `accused` in `county`, without those in
/// `conflicts`, with the open complaints each holds.
async fn candidates(
    conn: &impl ConnectionTrait,
    county: Uuid,
    accused: &Accused,
    conflicts: &[Uuid],
) -> AppResult<Vec<(Uuid, u64)>> {
    let inspectors = access::outside_chain(conn, county, accused, Role::Inspector).await?;
    let mut out = Vec::with_capacity(inspectors.len());
    for inspector in inspectors {
        let facts = StaffFacts {
            id: inspector.id,
            role: Role::Inspector,
            unit_path: String::new(),
        };
        if !may_handle(&facts, accused, conflicts) {
            continue;
        }
        let load: i64 = complaints::Entity::find()
            .select_only()
            .column_as(complaints::Column::Id.count(), "n")
            .filter(complaints::Column::AssignedInspectorId.eq(inspector.id))
            .filter(complaints::Column::Status.ne(ComplaintStatus::Closed.as_str()))
            .into_tuple()
            .one(conn)
            .await?
            .unwrap_or(0);
        out.push((inspector.id, u64::try_from(load).unwrap_or(0)));
    }
    Ok(out)
}

/// The inspector to give a complaint about `accused` (None: nobody may).
pub async fn choose(
    conn: &impl ConnectionTrait,
    county: Uuid,
    accused: &Accused,
    conflicts: &[Uuid],
) -> AppResult<Option<Uuid>> {
    Ok(pick(&candidates(conn, county, accused, conflicts).await?))
}

/// The inspectors who declared a conflict in a complaint.
async fn conflicts_of(conn: &impl ConnectionTrait, complaint: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(complaint_conflicts::Entity::find()
        .filter(complaint_conflicts::Column::ComplaintId.eq(complaint))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| c.inspector_id)
        .collect())
}

/// Moves a complaint from `from` (its inspector as read) to `to`, guarded: CONFLICT when it
/// changed hands meanwhile. Tells the new inspector, or the administrators when nobody.
async fn hand_over(
    tx: &mut Tx<'_>,
    complaint: &complaints::Model,
    to: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let mut update = complaints::Entity::update_many()
        .col_expr(complaints::Column::AssignedInspectorId, Expr::value(to))
        .col_expr(complaints::Column::UpdatedAt, Expr::value(now))
        .filter(complaints::Column::Id.eq(complaint.id))
        .filter(complaints::Column::Status.eq(complaint.status.as_str()));
    update = match complaint.assigned_inspector_id {
        Some(current) => update.filter(complaints::Column::AssignedInspectorId.eq(current)),
        None => update.filter(complaints::Column::AssignedInspectorId.is_null()),
    };
    if update.exec(&**tx).await?.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this complaint first".into(),
        ));
    }
    let audience = match to {
        Some(inspector) => vec![staff_key(inspector)],
        None => access::county_admins(&**tx, complaint).await?,
    };
    tx.emit(EventDraft {
        kind: "complaint.assigned",
        topic: "complaints",
        subject_kind: "complaint",
        subject_id: complaint.id.to_string(),
        audience,
        payload: json!({"complaintId": complaint.id, "category": complaint.category.to_uppercase(), "assigned": to.is_some()}),
    });
    Ok(())
}

/// `declareComplaintConflict`: the assigned inspector steps aside with a reason; the complaint
/// goes to another inspector (or waits for the administrators). None: it is no longer theirs.
pub async fn declare_conflict(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_reason: &str,
) -> AppResult<Option<complaints::Model>> {
    signed_in(viewer)?;
    let reason = text(raw_reason, "reason", 500)?;
    let complaint = crate::complaints::reads::load(&state.db, id).await?;
    let reader = handling(&state.db, viewer, &complaint).await?;
    if complaint.status == ComplaintStatus::Closed.as_str() {
        return Err(AppError::InvalidTransition(
            "the complaint is closed".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The complaint's row first (the lock order), while it is still theirs: a twin declaration
    // or a reassignment that came meanwhile is refused (CONFLICT), never a duplicate key.
    let held = complaints::Entity::update_many()
        .col_expr(complaints::Column::UpdatedAt, Expr::value(now))
        .filter(complaints::Column::Id.eq(id))
        .filter(complaints::Column::AssignedInspectorId.eq(reader.who.staff_id))
        .filter(complaints::Column::Status.ne(ComplaintStatus::Closed.as_str()))
        .exec(&*tx)
        .await?;
    if held.rows_affected == 0 {
        return Err(AppError::Conflict(
            "this complaint was handed on meanwhile".into(),
        ));
    }
    complaint_conflicts::ActiveModel {
        complaint_id: Set(id),
        inspector_id: Set(reader.who.staff_id),
        reason: Set(reason),
        declared_at: Set(now),
    }
    .insert(&*tx)
    .await?;
    let accused = access::accused(&*tx, &complaint).await?;
    let mut conflicts = conflicts_of(&*tx, id).await?;
    // The appeal's reviewer stays a different person from its inspector.
    conflicts.extend(complaint.appeal_reviewer_id);
    let to = choose(&*tx, complaint.county_id, &accused, &conflicts).await?;
    hand_over(&mut tx, &complaint, to, now).await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        "complaint.conflict_declared",
        "complaint",
        id,
        json!({"reassigned": to.is_some()}),
    ));
    tx.commit().await?;
    Ok(None)
}

/// `assignComplaint`: a county administrator gives a complaint to an inspector who may handle it.
pub async fn assign(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    inspector: Uuid,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let complaint = crate::complaints::reads::load(&state.db, id).await?;
    overseeing(&state.db, viewer, &complaint).await?;
    if complaint.status == ComplaintStatus::Closed.as_str() {
        return Err(AppError::InvalidTransition(
            "the complaint is closed".into(),
        ));
    }
    let accused = access::accused(&state.db, &complaint).await?;
    let mut conflicts = conflicts_of(&state.db, id).await?;
    conflicts.extend(complaint.appeal_reviewer_id);
    let eligible = candidates(&state.db, complaint.county_id, &accused, &conflicts).await?;
    if !eligible
        .iter()
        .any(|(candidate, _)| *candidate == inspector)
    {
        return Err(AppError::bad_input(
            "inspectorId",
            "not an inspector of this county who may handle this complaint",
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    hand_over(&mut tx, &complaint, Some(inspector), now).await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        "complaint.assigned",
        "complaint",
        id,
        json!({"inspector": inspector}),
    ));
    tx.commit().await?;
    crate::complaints::reads::load(&state.db, id).await
}
