//! The complainant's one appeal of a finding (复查), within the configured days of the reply:
//! reviewed by a different inspector — chosen like the first, never the assigned one — or a
//! county administrator outside the accused's chain, who upholds the finding or changes it (the
//! first finding is kept). Each step is one transaction with its event and the audit entry
//! last; the complainant's appeal is not audited under their name.
use entity::{complaint_conflicts, complaints};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::signed_in,
    complaints::{
        access::{self, Capacity, ensure_complainant, staff_reading},
        handling::{complainant_audience, current, guarded, locked, tell},
        model::{ComplaintAppealStatus, ComplaintFinding},
        reads::load,
        receipts, routing,
        rules::{Step, may_appeal},
        texts,
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// `appealComplaint`: a real-name complainant appeals.
pub async fn appeal(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_reason: &str,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let reason = text(raw_reason, "reason", 1000)?;
    let complaint = load(&state.db, id).await?;
    let user = ensure_complainant(viewer, &complaint)?;
    file(state, complaint, reason, Some(user)).await
}

/// `appealComplaintByReceipt`: an anonymous complainant appeals through the receipt.
pub async fn appeal_by_receipt(
    state: &AppState,
    client_ip: &str,
    receipt: &str,
    raw_reason: &str,
) -> AppResult<complaints::Model> {
    let reason = text(raw_reason, "reason", 1000)?;
    let complaint = receipts::open(state, client_ip, receipt).await?;
    // Never checked as the signed-in account: that would tie the anonymous complaint to it in
    // WeChat and in the shared store. A human (its reviewer) reads it instead.
    file(state, complaint, reason, None).await
}

/// INVALID_TRANSITION unless the complaint, as read, may be appealed now (`rules::may_appeal`).
fn appealable(
    complaint: &complaints::Model,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> AppResult<()> {
    may_appeal(
        complaint.status.parse()?,
        complaint.appeal_status.is_some(),
        complaint.replied_at,
        now,
        window,
    )
    .map_err(|why| AppError::InvalidTransition(why.into()))
}

async fn file(
    state: &AppState,
    complaint: complaints::Model,
    reason: String,
    checked_as: Option<Uuid>,
) -> AppResult<complaints::Model> {
    let now = state.clock.now();
    let window = chrono::Duration::days(state.settings.complaints.appeal_window_days);
    appealable(&complaint, now, window)?;
    texts::check(state, checked_as, &reason, "reason", false).await?;
    let mut tx = Tx::begin(state).await?;
    // The row as it is now, under its lock: the content check may have taken seconds, and a
    // reassignment meanwhile must not make its new inspector the appeal's reviewer too.
    let complaint = locked(&tx, complaint.id, now).await?;
    appealable(&complaint, now, window)?;
    let accused = access::accused(&*tx, &complaint).await?;
    let mut excluded: Vec<Uuid> = complaint_conflicts::Entity::find()
        .filter(complaint_conflicts::Column::ComplaintId.eq(complaint.id))
        .all(&*tx)
        .await?
        .into_iter()
        .map(|c| c.inspector_id)
        .collect();
    excluded.extend(complaint.assigned_inspector_id);
    let reviewer = routing::choose(&*tx, complaint.county_id, &accused, &excluded).await?;
    guarded(
        &tx,
        &complaint,
        Step::Appeal,
        now,
        vec![
            (complaints::Column::AppealReason, Expr::value(Some(reason))),
            (complaints::Column::AppealedAt, Expr::value(Some(now))),
            (
                complaints::Column::AppealStatus,
                Expr::value(Some(ComplaintAppealStatus::Pending.as_str())),
            ),
            (complaints::Column::AppealReviewerId, Expr::value(reviewer)),
        ],
        None,
    )
    .await?;
    let audience = match reviewer {
        Some(inspector) => vec![crate::events::staff_key(inspector)],
        None => access::county_admins(&*tx, &complaint).await?,
    };
    tell(
        &mut tx,
        &complaint,
        "complaint.appealed",
        audience,
        json!({}),
    );
    tx.audit_next_day(crate::audit::Pending::system(
        now,
        Some(complaint.county_id),
        "complaint.appealed",
        "complaint",
        complaint.id,
        json!({"by": "complainant", "reviewerAssigned": reviewer.is_some()}),
    ));
    tx.commit().await?;
    load(&state.db, complaint.id).await
}

/// `decideComplaintAppeal`: the reviewer or a county administrator (never the assigned
/// inspector) upholds the finding, or changes it to `finding` (and `serious`).
pub async fn decide(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    upheld: bool,
    finding: Option<ComplaintFinding>,
    serious: Option<bool>,
    raw_note: &str,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let note = text(raw_note, "note", 1000)?;
    let complaint = load(&state.db, id).await?;
    let reader = staff_reading(&state.db, viewer, &complaint).await?;
    if reader.capacity == Capacity::Assigned
        || (reader.capacity == Capacity::CountyAdmin
            && reader.who.role != crate::auth::Role::CountyAdmin)
    {
        return Err(AppError::Forbidden(
            "an appeal is reviewed by another inspector or the county centre's administrator"
                .into(),
        ));
    }
    let first = complaint
        .finding
        .as_deref()
        .map(str::parse::<ComplaintFinding>)
        .transpose()?;
    let (status, new_finding, new_serious) = if upheld {
        if finding.is_some() || serious.is_some() {
            return Err(AppError::bad_input(
                "finding",
                "an upheld finding stands as it is",
            ));
        }
        (ComplaintAppealStatus::Upheld, first, complaint.serious)
    } else {
        let Some(changed) = finding else {
            return Err(AppError::bad_input(
                "finding",
                "a changed finding names the new finding",
            ));
        };
        if Some(changed) == first && serious.is_none_or(|s| Some(s) == complaint.serious) {
            return Err(AppError::bad_input(
                "finding",
                "a changed finding differs from the first",
            ));
        }
        let serious = serious.unwrap_or(complaint.serious.unwrap_or(false)) && changed.holds();
        (ComplaintAppealStatus::Changed, Some(changed), Some(serious))
    };
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    guarded(
        &tx,
        &complaint,
        Step::DecideAppeal,
        now,
        vec![
            (
                complaints::Column::AppealStatus,
                Expr::value(Some(status.as_str())),
            ),
            (
                complaints::Column::AppealDecidedBy,
                Expr::value(Some(reader.who.staff_id)),
            ),
            (complaints::Column::AppealDecidedAt, Expr::value(Some(now))),
            (complaints::Column::AppealNote, Expr::value(Some(note))),
            (
                complaints::Column::OriginalFinding,
                Expr::value(complaint.finding.clone()),
            ),
            (
                complaints::Column::Finding,
                Expr::value(new_finding.map(|f| f.as_str())),
            ),
            (complaints::Column::Serious, Expr::value(new_serious)),
            (complaints::Column::ClosedAt, Expr::value(Some(now))),
        ],
        None,
    )
    .await?;
    // Told as the complaint is now, under the decision's lock.
    let complaint = current(&tx, complaint.id).await?;
    let mut audience = complainant_audience(&complaint);
    audience.extend(
        complaint
            .assigned_inspector_id
            .map(crate::events::staff_key),
    );
    tell(
        &mut tx,
        &complaint,
        "complaint.appeal_decided",
        audience,
        json!({"appealStatus": status.as_str().to_uppercase()}),
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        "complaint.appeal_decided",
        "complaint",
        id,
        json!({"appealStatus": status.as_str(), "finding": new_finding.map(|f| f.as_str())}),
    ));
    tx.commit().await?;
    load(&state.db, id).await
}
