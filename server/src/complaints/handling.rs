//! The inspector's handling of a complaint, step by step through the pure state machine
//! (`rules::next`): acknowledge (受理), investigate, extend the deadline once with a reason,
//! conclude with a finding, reply, close. Each step is one transaction: the guarded move (a
//! moving step's `WHERE status = <as read>` leaves exactly one of racing steps standing, the
//! other told CONFLICT; a step that keeps the status is guarded on any state allowing it),
//! its event (built from the row as it is under the lock) — the real-name complainant is told at acknowledgement, conclusion and
//! reply (push and live), the anonymous one reads it with the receipt — and the audit entry,
//! last.
use chrono::{DateTime, Utc};
use entity::complaints;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, SimpleExpr},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    calendar,
    cases::service::signed_in,
    complaints::{
        access::{self, handling},
        model::{ComplaintContact, ComplaintFinding, ComplaintStatus},
        reads::load,
        rules::{Step, allowing, keeps_status, next},
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    state::AppState,
};

/// Inside `tx`: moves the complaint by `step` from its status as read, setting `columns` too;
/// INVALID_TRANSITION when the step does not apply, CONFLICT when someone moved it meanwhile
/// or (`inspector`) it is no longer that inspector's. A step that keeps the status (a request,
/// an answer, an extension) is guarded on any state that allows it and writes no status, so a
/// move between those states meanwhile neither refuses it nor is undone by it.
pub async fn guarded(
    tx: &Tx<'_>,
    complaint: &complaints::Model,
    step: Step,
    now: DateTime<Utc>,
    columns: Vec<(complaints::Column, SimpleExpr)>,
    inspector: Option<Uuid>,
) -> AppResult<ComplaintStatus> {
    let from = complaint.status.parse::<ComplaintStatus>()?;
    let to = next(from, step).map_err(|why| AppError::InvalidTransition(why.into()))?;
    let mut update =
        complaints::Entity::update_many().col_expr(complaints::Column::UpdatedAt, Expr::value(now));
    update = if keeps_status(step) {
        update.filter(complaints::Column::Status.is_in(allowing(step).iter().map(|s| s.as_str())))
    } else {
        update
            .col_expr(complaints::Column::Status, Expr::value(to.as_str()))
            .filter(complaints::Column::Status.eq(from.as_str()))
    };
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    if let Some(inspector) = inspector {
        update = update.filter(complaints::Column::AssignedInspectorId.eq(inspector));
    }
    let moved = update
        .filter(complaints::Column::Id.eq(complaint.id))
        .exec(&**tx)
        .await?;
    if moved.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this complaint first".into(),
        ));
    }
    Ok(to)
}

/// Inside `tx`, after a guarded update has taken its row: the complaint as it now is.
pub async fn current(tx: &Tx<'_>, id: Uuid) -> AppResult<complaints::Model> {
    complaints::Entity::find_by_id(id)
        .one(&**tx)
        .await?
        .ok_or(AppError::NotFound("complaint"))
}

/// Inside `tx`: takes the complaint's row (the lock order: the complaint before its exchanges,
/// the audit last) and reads it as it now is, for a step that decides from more than its
/// status (an appeal's reviewer is chosen away from whoever holds it now).
pub async fn locked(tx: &Tx<'_>, id: Uuid, now: DateTime<Utc>) -> AppResult<complaints::Model> {
    complaints::Entity::update_many()
        .col_expr(complaints::Column::UpdatedAt, Expr::value(now))
        .filter(complaints::Column::Id.eq(id))
        .exec(&**tx)
        .await?;
    current(tx, id).await
}

/// The audience a complaint's news reaches on the complainant's side: a real-name complainant
/// who wants a reply (an anonymous one reads it with the receipt).
pub fn complainant_audience(complaint: &complaints::Model) -> Vec<String> {
    match complaint.complainant_id {
        Some(user) if complaint.contact != ComplaintContact::NoReply.as_str() => {
            vec![resident_key(user)]
        }
        _ => Vec::new(),
    }
}

/// Emits `kind` about the complaint to `audience` (nothing when it is empty).
pub fn tell(
    tx: &mut Tx<'_>,
    complaint: &complaints::Model,
    kind: &'static str,
    audience: Vec<String>,
    extra: Value,
) {
    if audience.is_empty() {
        return;
    }
    let mut payload =
        json!({"complaintId": complaint.id, "category": complaint.category.to_uppercase()});
    if let (Value::Object(into), Value::Object(from)) = (&mut payload, extra) {
        into.extend(from);
    }
    tx.emit(EventDraft {
        kind,
        topic: "complaints",
        subject_kind: "complaint",
        subject_id: complaint.id.to_string(),
        audience,
        payload,
    });
}

/// One handling step by the assigned inspector: the move, the complainant told (`notify`), the
/// audit entry.
async fn step(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    step: Step,
    columns: impl FnOnce(
        &complaints::Model,
        DateTime<Utc>,
    ) -> AppResult<Vec<(complaints::Column, SimpleExpr)>>,
    notify: Option<&'static str>,
    (action, details): (&'static str, Value),
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let complaint = load(&state.db, id).await?;
    let reader = handling(&state.db, viewer, &complaint).await?;
    let now = state.clock.now();
    let columns = columns(&complaint, now)?;
    let mut tx = Tx::begin(state).await?;
    let to = guarded(
        &tx,
        &complaint,
        step,
        now,
        columns,
        Some(reader.who.staff_id),
    )
    .await?;
    if let Some(kind) = notify {
        // Told as the complaint is now, under the step's lock (a merge may have changed the
        // contact wish since it was read).
        let current = current(&tx, id).await?;
        tell(
            &mut tx,
            &current,
            kind,
            complainant_audience(&current),
            json!({"status": to.as_str().to_uppercase()}),
        );
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        action,
        "complaint",
        id,
        details,
    ));
    tx.commit().await?;
    load(&state.db, id).await
}

/// `acknowledgeComplaint` (受理).
pub async fn acknowledge(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<complaints::Model> {
    step(
        state,
        viewer,
        id,
        Step::Acknowledge,
        |_, now| {
            Ok(vec![(
                complaints::Column::AcknowledgedAt,
                Expr::value(Some(now)),
            )])
        },
        Some("complaint.acknowledged"),
        ("complaint.acknowledged", json!({})),
    )
    .await
}

/// `investigateComplaint`.
pub async fn investigate(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<complaints::Model> {
    step(
        state,
        viewer,
        id,
        Step::Investigate,
        |_, now| {
            Ok(vec![(
                complaints::Column::InvestigatingAt,
                Expr::value(Some(now)),
            )])
        },
        None,
        ("complaint.investigating", json!({})),
    )
    .await
}

/// What a conclusion records.
pub struct Conclusion {
    pub finding: ComplaintFinding,
    pub serious: bool,
    pub actions_taken: String,
    pub conclusion: String,
}

/// `concludeComplaint`: the finding the assessment reads (the unit and person, the category,
/// whether substantiated and whether serious).
pub async fn conclude(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    finding: ComplaintFinding,
    serious: bool,
    raw_actions: &str,
    raw_conclusion: &str,
) -> AppResult<complaints::Model> {
    let actions = text(raw_actions, "actionsTaken", 1000)?;
    let conclusion = text(raw_conclusion, "conclusion", 2000)?;
    if serious && !finding.holds() {
        return Err(AppError::bad_input(
            "serious",
            "only a substantiated complaint is serious",
        ));
    }
    step(
        state,
        viewer,
        id,
        Step::Conclude,
        move |_, now| {
            Ok(vec![
                (complaints::Column::ConcludedAt, Expr::value(Some(now))),
                (
                    complaints::Column::Finding,
                    Expr::value(Some(finding.as_str())),
                ),
                (complaints::Column::Serious, Expr::value(Some(serious))),
                (complaints::Column::ActionsTaken, Expr::value(Some(actions))),
                (
                    complaints::Column::Conclusion,
                    Expr::value(Some(conclusion)),
                ),
            ])
        },
        Some("complaint.concluded"),
        (
            "complaint.concluded",
            json!({"finding": finding.as_str(), "serious": serious}),
        ),
    )
    .await
}

/// `replyComplaint`: the answer to the complainant (recorded even when they wanted none).
pub async fn reply(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_reply: &str,
) -> AppResult<complaints::Model> {
    let reply = text(raw_reply, "reply", 2000)?;
    step(
        state,
        viewer,
        id,
        Step::Reply,
        move |_, now| {
            Ok(vec![
                (complaints::Column::RepliedAt, Expr::value(Some(now))),
                (complaints::Column::Reply, Expr::value(Some(reply))),
            ])
        },
        Some("complaint.replied"),
        ("complaint.replied", json!({})),
    )
    .await
}

/// `closeComplaint`.
pub async fn close(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<complaints::Model> {
    step(
        state,
        viewer,
        id,
        Step::Close,
        |_, now| Ok(vec![(complaints::Column::ClosedAt, Expr::value(Some(now)))]),
        None,
        ("complaint.closed", json!({})),
    )
    .await
}

/// `extendComplaint`: once, with a reason; the conclusion deadline moves by the configured
/// working days. The county's administrators are told.
pub async fn extend(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_reason: &str,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let reason = text(raw_reason, "reason", 500)?;
    let complaint = load(&state.db, id).await?;
    let reader = handling(&state.db, viewer, &complaint).await?;
    next(complaint.status.parse()?, Step::Extend)
        .map_err(|why| AppError::InvalidTransition(why.into()))?;
    if complaint.extended_at.is_some() {
        return Err(AppError::InvalidTransition(
            "a complaint's deadline is extended once".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let calendar = calendar::service::load(&*tx).await?;
    let due = calendar
        .add_working_days(
            complaint.conclude_due_on,
            state.settings.complaints.extension_working_days,
        )
        .value;
    let moved = complaints::Entity::update_many()
        .col_expr(complaints::Column::ConcludeDueOn, Expr::value(due))
        .col_expr(complaints::Column::ExtendedAt, Expr::value(Some(now)))
        .col_expr(
            complaints::Column::ExtensionReason,
            Expr::value(Some(reason)),
        )
        .col_expr(complaints::Column::UpdatedAt, Expr::value(now))
        .filter(complaints::Column::Id.eq(id))
        .filter(complaints::Column::Status.is_in(allowing(Step::Extend).iter().map(|s| s.as_str())))
        .filter(complaints::Column::ExtendedAt.is_null())
        .filter(complaints::Column::AssignedInspectorId.eq(reader.who.staff_id))
        .exec(&*tx)
        .await?;
    if moved.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this complaint first".into(),
        ));
    }
    let admins = access::county_admins(&*tx, &complaint).await?;
    tell(
        &mut tx,
        &complaint,
        "complaint.extended",
        admins,
        json!({"concludeDueOn": due}),
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        "complaint.extended",
        "complaint",
        id,
        json!({"concludeDueOn": due}),
    ));
    tx.commit().await?;
    load(&state.db, id).await
}
