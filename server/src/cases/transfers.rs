//! Between the three levels (seed §五(四), §六(二)2): a case is transferred down (转办) to a
//! township or village unit below, or escalated up (上报) to the township or county above. The
//! receiving unit accepts or refuses with a reason within the configured hours; until it
//! accepts, the sender still holds the case. Each holding is a row (unit, from, until), so the
//! trail shows who held the case when.
use chrono::{DateTime, Duration, Utc};
use entity::{case_transfers, cases, regions};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::{
        model::{CaseRole, TransferDirection, TransferStatus},
        service::{
            Acting, Step, case_for, hold, load_case, note, optional_note, record, status_of,
        },
    },
    directory::{jurisdiction::Jurisdiction, regions::region},
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// Whether `to` lies in the right direction from `from` (a unit below for a transfer down, one
/// above for an escalation), inside the same county.
pub fn direction_fits(
    direction: TransferDirection,
    from: &regions::Model,
    to: &regions::Model,
) -> bool {
    from.id != to.id
        && from.county_id.is_some()
        && from.county_id == to.county_id
        && match direction {
            TransferDirection::Down => to.path.starts_with(&from.path),
            TransferDirection::Up => from.path.starts_with(&to.path),
        }
}

/// The holding unit's staff send the case to another unit; the case stays with them until
/// the receiving unit accepts.
pub async fn request(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    direction: TransferDirection,
    to_unit: Uuid,
    reason: &str,
) -> AppResult<case_transfers::Model> {
    let reason = note(reason, "reason")?;
    let (case, acting) = case_for(state, viewer, case_id).await?;
    if !matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
        return Err(AppError::Forbidden(
            "the holding unit's staff send a case on".into(),
        ));
    }
    if !status_of(&case)?.is_open() || case.accepted_on.is_none() {
        return Err(AppError::InvalidTransition(format!(
            "an accepted open case is sent on; this one is {}",
            case.status.to_uppercase()
        )));
    }
    let from = region(&state.db, case.unit_id).await?;
    let to = region(&state.db, to_unit)
        .await
        .map_err(crate::error::missing_as_bad_input(
            "toUnitId",
            "no such unit",
        ))?;
    if !direction_fits(direction, &from, &to) {
        return Err(AppError::bad_input(
            "toUnitId",
            match direction {
                TransferDirection::Down => {
                    "a transfer goes to a unit below the one holding the case"
                }
                TransferDirection::Up => {
                    "an escalation goes to a unit above the one holding the case"
                }
            },
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The case row first (lock order); one transfer pending at a time.
    crate::cases::service::lock_case(&*tx, &case, now).await?;
    let pending = case_transfers::Entity::find()
        .filter(case_transfers::Column::CaseId.eq(case_id))
        .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .one(&*tx)
        .await?;
    if pending.is_some() {
        return Err(AppError::Conflict(
            "a transfer of this case is already waiting for an answer".into(),
        ));
    }
    let transfer = case_transfers::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case_id),
        direction: Set(direction.as_str().into()),
        from_unit: Set(from.id),
        to_unit: Set(to.id),
        status: Set(TransferStatus::Pending.as_str().into()),
        reason: Set(reason.clone()),
        requested_by: Set(acting.person),
        requested_at: Set(now),
        respond_by: Set(now + Duration::hours(state.settings.cases.transfer_response_hours)),
        responded_by: Set(None),
        responded_at: Set(None),
        response_note: Set(None),
        overdue_flagged_at: Set(None),
    }
    .insert(&*tx)
    .await?;
    let public = match direction {
        TransferDirection::Down => format!("转办至{}", to.name),
        TransferDirection::Up => format!("上报至{}协调办理", to.name),
    };
    trail(&mut tx, viewer, &case, "transfer_requested", Some(public), json!({"transfer": transfer.id, "direction": direction.as_str(), "toUnit": to.id, "reason": reason}), &[to.id], acting.person, now).await?;
    tx.commit().await?;
    Ok(transfer)
}

/// The deadline job's part: a transfer or escalation still pending past its `respond_by` is
/// flagged once, with a step heard by both units' agents (and so pushed to those who bound
/// WeChat, when a staff template is configured). Returns how many were flagged.
pub async fn flag_overdue(state: &AppState, now: DateTime<Utc>) -> AppResult<u64> {
    let late = case_transfers::Entity::find()
        .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .filter(case_transfers::Column::RespondBy.lt(now))
        .filter(case_transfers::Column::OverdueFlaggedAt.is_null())
        .order_by_asc(case_transfers::Column::RespondBy)
        .all(&state.db)
        .await?;
    let mut flagged = 0;
    for transfer in late {
        let case = load_case(&state.db, transfer.case_id).await?;
        let mut tx = Tx::begin(state).await?;
        // Lock order: the case row, then its transfer. A case that changed since it was read
        // is left for the next run.
        match crate::cases::service::lock_case(&*tx, &case, now).await {
            Ok(()) => {}
            Err(AppError::Conflict(_)) => continue,
            Err(error) => return Err(error),
        }
        let changed = case_transfers::Entity::update_many()
            .col_expr(
                case_transfers::Column::OverdueFlaggedAt,
                Expr::value(Some(now)),
            )
            .filter(case_transfers::Column::Id.eq(transfer.id))
            .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
            .filter(case_transfers::Column::OverdueFlaggedAt.is_null())
            .exec(&*tx)
            .await?;
        if changed.rows_affected == 0 {
            continue;
        }
        let details = json!({
            "transfer": transfer.id,
            "toUnit": transfer.to_unit,
            "respondBy": transfer.respond_by,
        });
        trail(
            &mut tx,
            &Viewer::Anonymous,
            &case,
            "transfer_overdue",
            None,
            details,
            &[transfer.to_unit],
            Uuid::nil(),
            now,
        )
        .await?;
        tx.commit().await?;
        flagged += 1;
    }
    Ok(flagged)
}

/// Writes a transfer's step (its units' agents in the audience).
#[allow(clippy::too_many_arguments)]
async fn trail(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    case: &cases::Model,
    name: &'static str,
    public_note: Option<String>,
    details: serde_json::Value,
    also: &[Uuid],
    person: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    // The transfer's step is a case step like any other, heard by both units' agents.
    let acting = Acting {
        role: None,
        who: None,
        person,
    };
    let step = Step {
        public_note,
        details,
        also_units: also.to_vec(),
        ..Step::default()
    };
    record(tx, viewer, case, &acting, name, None, step, now).await
}

/// The receiving unit's agent or an administrator over it accepts (the unit now holds the case,
/// the accepting agent becomes its agent) or refuses with a reason (the sender keeps it).
pub async fn respond(
    state: &AppState,
    viewer: &Viewer,
    transfer_id: Uuid,
    accept: bool,
    response: Option<&str>,
) -> AppResult<case_transfers::Model> {
    let response = optional_note(response, "note")?;
    if !accept && response.is_none() {
        return Err(AppError::bad_input("note", "a refusal needs its reason"));
    }
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let transfer = case_transfers::Entity::find_by_id(transfer_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("transfer"))?;
    let to = region(&state.db, transfer.to_unit).await?;
    if !who.covers(&to) {
        return Err(AppError::NotFound("transfer"));
    }
    let agent_of_unit = who.region.id == to.id
        && matches!(
            who.role,
            Role::VillageAgent | Role::TownshipAgent | Role::CountyAgent
        );
    if !agent_of_unit && !who.is_admin() {
        return Err(AppError::Forbidden(
            "the receiving unit's agents or an administrator over it answer".into(),
        ));
    }
    if transfer.status != TransferStatus::Pending.as_str() {
        return Err(AppError::InvalidTransition(format!(
            "the transfer is {} already",
            transfer.status.to_uppercase()
        )));
    }
    let case = load_case(&state.db, transfer.case_id).await?;
    if !status_of(&case)?.is_open() {
        return Err(AppError::InvalidTransition(format!(
            "the case is {}; it can no longer be received",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // Lock order: the case row, then the transfer.
    let mut update = cases::Entity::update_many()
        .col_expr(cases::Column::UpdatedAt, Expr::value(now))
        .filter(cases::Column::Id.eq(case.id))
        .filter(cases::Column::UnitId.eq(transfer.from_unit))
        .filter(cases::Column::Status.eq(case.status.as_str()));
    if accept {
        update = update
            .col_expr(cases::Column::UnitId, Expr::value(to.id))
            .col_expr(
                cases::Column::AgentId,
                Expr::value(agent_of_unit.then_some(who.staff_id)),
            );
    }
    if update.exec(&*tx).await?.rows_affected == 0 {
        return Err(AppError::Conflict(
            "the case changed while the transfer waited; ask again".into(),
        ));
    }
    let status = if accept {
        TransferStatus::Accepted
    } else {
        TransferStatus::Refused
    };
    let answered = case_transfers::Entity::update_many()
        .col_expr(case_transfers::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            case_transfers::Column::RespondedBy,
            Expr::value(Some(who.staff_id)),
        )
        .col_expr(case_transfers::Column::RespondedAt, Expr::value(Some(now)))
        .col_expr(
            case_transfers::Column::ResponseNote,
            Expr::value(response.clone()),
        )
        .filter(case_transfers::Column::Id.eq(transfer_id))
        .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .exec(&*tx)
        .await?;
    if answered.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else answered this transfer first".into(),
        ));
    }
    if accept {
        hold(&*tx, case.id, to.id, now).await?;
    }
    let (name, public) = if accept {
        ("transfer_accepted", format!("{}已接收，继续办理", to.name))
    } else {
        (
            "transfer_refused",
            format!("{}未接收，原单位继续办理", to.name),
        )
    };
    let case_now = load_case(&*tx, case.id).await?;
    trail(
        &mut tx,
        viewer,
        &case_now,
        name,
        Some(public),
        json!({"transfer": transfer_id, "late": now > transfer.respond_by, "note": response}),
        &[transfer.from_unit],
        who.staff_id,
        now,
    )
    .await?;
    tx.commit().await?;
    case_transfers::Entity::find_by_id(transfer_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("transfer"))
}

/// A case's transfers, oldest first.
pub async fn of_case(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
) -> AppResult<Vec<case_transfers::Model>> {
    Ok(case_transfers::Entity::find()
        .filter(case_transfers::Column::CaseId.eq(case_id))
        .order_by_asc(case_transfers::Column::RequestedAt)
        .all(conn)
        .await?)
}

/// Staff: the transfers waiting for an answer from units in the viewer's jurisdiction.
pub async fn waiting_for(
    state: &AppState,
    viewer: &Viewer,
) -> AppResult<Vec<case_transfers::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let units: Vec<Uuid> = regions::Entity::find()
        .filter(regions::Column::Path.starts_with(&who.region.path))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(case_transfers::Entity::find()
        .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .filter(case_transfers::Column::ToUnit.is_in(units))
        .order_by_asc(case_transfers::Column::RequestedAt)
        .all(&state.db)
        .await?)
}

/// The sending unit's staff withdraw a transfer still waiting for an answer (the receiving
/// unit never answered, or the case is better kept): the case stays with them.
pub async fn withdraw(
    state: &AppState,
    viewer: &Viewer,
    transfer_id: Uuid,
    reason: &str,
) -> AppResult<case_transfers::Model> {
    crate::cases::service::signed_in(viewer)?;
    let transfer = case_transfers::Entity::find_by_id(transfer_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("transfer"))?;
    let (case, acting) = case_for(state, viewer, transfer.case_id)
        .await
        .map_err(crate::error::hidden_as_not_found("transfer"))?;
    let reason = note(reason, "reason")?;
    if !matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin)
        || case.unit_id != transfer.from_unit
    {
        return Err(AppError::Forbidden(
            "the sending unit's staff withdraw a transfer".into(),
        ));
    }
    if transfer.status != TransferStatus::Pending.as_str() {
        return Err(AppError::InvalidTransition(format!(
            "the transfer is {} already",
            transfer.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    crate::cases::service::lock_case(&*tx, &case, now).await?;
    let withdrawn = case_transfers::Entity::update_many()
        .col_expr(
            case_transfers::Column::Status,
            Expr::value(TransferStatus::Withdrawn.as_str()),
        )
        .col_expr(case_transfers::Column::RespondedAt, Expr::value(Some(now)))
        .col_expr(
            case_transfers::Column::ResponseNote,
            Expr::value(Some(reason.clone())),
        )
        .filter(case_transfers::Column::Id.eq(transfer_id))
        .filter(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .exec(&*tx)
        .await?;
    if withdrawn.rows_affected == 0 {
        return Err(AppError::Conflict(
            "the receiving unit answered first".into(),
        ));
    }
    trail(
        &mut tx,
        viewer,
        &case,
        "transfer_withdrawn",
        Some("转办/上报已撤回，原单位继续办理".into()),
        json!({"transfer": transfer_id, "reason": reason, "late": now > transfer.respond_by}),
        &[transfer.to_unit],
        acting.person,
        now,
    )
    .await?;
    tx.commit().await?;
    case_transfers::Entity::find_by_id(transfer_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("transfer"))
}
