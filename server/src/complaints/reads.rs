//! Reading complaints: one by id, a staff member's list, a resident's own (real-name), the
//! accused's statement requests, a complaint's exchanges, and a county administrator's audited
//! reveal of who complained. Everything goes through `access`: the accused and their chain are
//! told NOT_FOUND, as if nothing existed.
use entity::{complaint_exchanges, complaints, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::service::signed_in,
    complaints::{
        access::{Capacity, Reader, overseeing, staff_reading},
        model::{ComplaintExchangeKind, ComplaintStatus},
        rules::chain_is_the_person,
    },
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// The most a list returns.
const LIST_MAX: u64 = 200;

/// The complaint with this id (NOT_FOUND `complaint`).
pub async fn load(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<complaints::Model> {
    complaints::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("complaint"))
}

/// `complaint(id)`: for its inspector, its appeal's reviewer and the county's administrators.
pub async fn one(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(complaints::Model, Capacity)> {
    signed_in(viewer)?;
    let complaint = load(&state.db, id).await?;
    let Reader { capacity, .. } = staff_reading(&state.db, viewer, &complaint).await?;
    Ok((complaint, capacity))
}

/// One page of complaints, and the cursor of the next (None at the end).
pub struct Page {
    pub complaints: Vec<(complaints::Model, Capacity)>,
    pub next: Option<String>,
}

/// `complaints`: an inspector's own (assigned, or whose appeal they review); a county
/// administrator's county's, without those about them. Newest first, `first` (1–200) at a time
/// after the cursor `after` (BAD_USER_INPUT `first` or `after` otherwise).
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    status: Option<ComplaintStatus>,
    first: i32,
    after: Option<&str>,
) -> AppResult<Page> {
    signed_in(viewer)?;
    let first = u64::try_from(first)
        .ok()
        .filter(|n| (1..=LIST_MAX).contains(n))
        .ok_or_else(|| AppError::bad_input("first", "between 1 and 200"))?;
    let after = after.map(crate::db::parse_page_cursor).transpose()?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let mut query = complaints::Entity::find()
        .filter(complaints::Column::CountyId.eq(who.county_id().unwrap_or_default()));
    query = match who.role {
        Role::Inspector => query.filter(
            sea_orm::Condition::any()
                .add(complaints::Column::AssignedInspectorId.eq(who.staff_id))
                .add(complaints::Column::AppealReviewerId.eq(who.staff_id)),
        ),
        Role::CountyAdmin => query,
        _ => {
            return Err(AppError::Forbidden(
                "complaints are read by inspectors and the county centre's administrators".into(),
            ));
        }
    };
    if let Some(status) = status {
        query = query.filter(complaints::Column::Status.eq(status.as_str()));
    }
    // Readers here sit at the county centre, where the chain is the accused alone: what is
    // about them is left out in the query (no lookup per row, and a full page of the rest).
    if !chain_is_the_person(who.role) {
        return Err(AppError::internal(anyhow::anyhow!(
            "complaint lists are read at the county centre only"
        )));
    }
    query = query.filter(
        sea_orm::Condition::any()
            .add(complaints::Column::AccusedStaffId.is_null())
            .add(complaints::Column::AccusedStaffId.ne(who.staff_id)),
    );
    if let Some((at, id)) = after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(complaints::Column::ReceivedAt.lt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(complaints::Column::ReceivedAt.eq(at))
                        .add(complaints::Column::Id.lt(id)),
                ),
        );
    }
    let mut rows = query
        .order_by_desc(complaints::Column::ReceivedAt)
        .order_by_desc(complaints::Column::Id)
        .limit(first + 1)
        .all(&state.db)
        .await?;
    let more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let next = rows
        .last()
        .filter(|_| more)
        .map(|c| crate::db::page_cursor(c.received_at, c.id));
    let mut out = Vec::with_capacity(rows.len());
    for complaint in rows {
        let capacity = if complaint.assigned_inspector_id == Some(who.staff_id) {
            Capacity::Assigned
        } else if complaint.appeal_reviewer_id == Some(who.staff_id) {
            Capacity::AppealReviewer
        } else {
            Capacity::CountyAdmin
        };
        out.push((complaint, capacity));
    }
    Ok(Page {
        complaints: out,
        next,
    })
}

/// `myComplaints`: the signed-in resident's real-name complaints, newest first (anonymous ones
/// are followed by receipt only: the account keeps no link to them).
pub async fn mine(state: &AppState, viewer: &Viewer) -> AppResult<Vec<complaints::Model>> {
    let Viewer::Resident { user_id, .. } = viewer else {
        signed_in(viewer)?;
        return Err(AppError::Forbidden("residents only".into()));
    };
    Ok(complaints::Entity::find()
        .filter(complaints::Column::ComplainantId.eq(*user_id))
        .order_by_desc(complaints::Column::ReceivedAt)
        .limit(LIST_MAX)
        .all(&state.db)
        .await?)
}

/// A complaint's exchanges, oldest first.
pub async fn exchanges(
    conn: &impl ConnectionTrait,
    complaint: Uuid,
) -> AppResult<Vec<complaint_exchanges::Model>> {
    Ok(complaint_exchanges::Entity::find()
        .filter(complaint_exchanges::Column::ComplaintId.eq(complaint))
        .order_by_asc(complaint_exchanges::Column::AskedAt)
        .order_by_asc(complaint_exchanges::Column::Id)
        .all(conn)
        .await?)
}

/// `myStatementRequests`: what inspectors asked the signed-in staff member as the accused,
/// with the category of the complaint (nothing else of it), newest first.
pub async fn statement_requests(
    state: &AppState,
    viewer: &Viewer,
) -> AppResult<Vec<(complaint_exchanges::Model, String)>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let requests = complaint_exchanges::Entity::find()
        .filter(complaint_exchanges::Column::AddressedTo.eq(who.staff_id))
        .filter(
            complaint_exchanges::Column::Kind.eq(ComplaintExchangeKind::StatementRequest.as_str()),
        )
        .order_by_desc(complaint_exchanges::Column::AskedAt)
        .limit(LIST_MAX)
        .all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let category = load(&state.db, request.complaint_id).await?.category;
        out.push((request, category));
    }
    Ok(out)
}

/// Who complained, as the county administrator is shown it.
pub struct Revealed {
    pub user_id: Uuid,
    pub phone: Option<String>,
}

/// The real-name complainant's masked phone (for the assigned inspector).
pub async fn masked_phone(state: &AppState, user: Uuid) -> AppResult<Option<String>> {
    let Some(stored) = users::Entity::find_by_id(user)
        .one(&state.db)
        .await?
        .and_then(|u| u.phone_enc)
    else {
        return Ok(None);
    };
    Ok(Some(
        state
            .cipher
            .masked_phone(&stored)
            .map_err(AppError::internal)?,
    ))
}

/// `revealComplainant`: a county administrator outside the accused's chain sees who complained,
/// with a reason; the audit entry keeps the reason, never the identity.
pub async fn reveal(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_reason: &str,
) -> AppResult<Revealed> {
    signed_in(viewer)?;
    let reason = text(raw_reason, "reason", 500)?;
    let complaint = load(&state.db, id).await?;
    overseeing(&state.db, viewer, &complaint).await?;
    let Some(user) = complaint.complainant_id else {
        return Err(AppError::InvalidTransition(
            "an anonymous complaint keeps no complainant".into(),
        ));
    };
    let phone = match users::Entity::find_by_id(user)
        .one(&state.db)
        .await?
        .and_then(|u| u.phone_enc)
    {
        Some(stored) => Some(state.cipher.decrypt(&stored).map_err(AppError::internal)?),
        None => None,
    };
    let mut tx = Tx::begin(state).await?;
    tx.audit(crate::audit::Pending::action(
        state.clock.now(),
        viewer,
        Some(complaint.county_id),
        "complaint.complainant_revealed",
        "complaint",
        id,
        json!({"reason": reason}),
    ));
    tx.commit().await?;
    Ok(Revealed {
        user_id: user,
        phone,
    })
}
