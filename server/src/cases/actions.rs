//! The moves of a case's working life: acceptance or refusal, the help case's service, filing,
//! return and follow-up, the proxy case's start of handling, and the clock stopped while
//! waiting for the applicant (补正材料). Each is one transaction: the guarded move, its step,
//! event and audit entry (see `service::apply`).
use entity::{case_pauses, cases};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::{
        model::{CaseAction, CaseRole, CaseStatus, HelpService},
        service::{
            Move, Step, apply, case_for, close_open_pause, load_case, lock_case, note,
            optional_note, record, status_of, store_deadline,
        },
    },
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// 受理: the case is accepted; its clock starts today (China date) with the item's promised
/// working days, and the accepting agent becomes its agent.
pub async fn accept(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<cases::Model> {
    let (case, acting) = case_for(state, viewer, id).await?;
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let mut mv = Move::new(CaseAction::Accept, "accepted")
        .set(cases::Column::AcceptedOn, Expr::value(Some(today)))
        .step(Step {
            public_note: Some("已受理".into()),
            ..Step::default()
        });
    if acting.role == Some(CaseRole::HandlingAgent) {
        mv = mv.set(cases::Column::AgentId, Expr::value(Some(acting.person)));
    }
    let mut tx = Tx::begin(state).await?;
    apply(&mut tx, viewer, &case, &acting, mv, now).await?;
    store_deadline(&*tx, &load_case(&*tx, id).await?).await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// 不予受理: refused, with a reason code and the explanation the applicant is given (seed
/// §六(一)3).
pub async fn refuse(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reason_code: &str,
    explanation: &str,
) -> AppResult<cases::Model> {
    let code = crate::directory::model::text(reason_code, "reasonCode", 32)?;
    let explanation = note(explanation, "explanation")?;
    let (case, acting) = case_for(state, viewer, id).await?;
    let mv = Move::new(CaseAction::Refuse, "refused")
        .set(cases::Column::ReasonCode, Expr::value(Some(code.clone())))
        .set(
            cases::Column::Explanation,
            Expr::value(Some(explanation.clone())),
        )
        .step(Step {
            public_note: Some(explanation),
            details: json!({"reasonCode": code}),
            ..Step::default()
        });
    one_move(state, viewer, &case, &acting, mv).await
}

/// A move with nothing else to it (start of service, resumption, start of handling, close).
pub async fn simple(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    action: CaseAction,
    public_note: Option<&str>,
) -> AppResult<cases::Model> {
    let name = match action {
        CaseAction::StartService => "service_started",
        CaseAction::Resume => "resumed",
        CaseAction::StartProgress => "progress_started",
        CaseAction::Close => "closed",
        _ => {
            return Err(AppError::internal(anyhow::anyhow!(
                "{action:?} is not a simple move"
            )));
        }
    };
    let public_note = optional_note(public_note, "note")?;
    let (case, acting) = case_for(state, viewer, id).await?;
    let mv = Move::new(action, name).step(Step {
        public_note,
        ..Step::default()
    });
    one_move(state, viewer, &case, &acting, mv).await
}

async fn one_move(
    state: &AppState,
    viewer: &Viewer,
    case: &cases::Model,
    acting: &crate::cases::service::Acting,
    mv: Move,
) -> AppResult<cases::Model> {
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    apply(&mut tx, viewer, case, acting, mv, now).await?;
    tx.commit().await?;
    load_case(&state.db, case.id).await
}

/// Help: records a service given (policy advice, questions answered, the process explained,
/// help with the forms, online filing for the applicant), while the case is in service.
pub async fn record_service(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    service: HelpService,
    public_note: Option<&str>,
) -> AppResult<cases::Model> {
    let public_note = optional_note(public_note, "note")?;
    let (case, acting) = case_for(state, viewer, id).await?;
    let role = acting.role()?;
    if !matches!(role, CaseRole::HandlingAgent | CaseRole::Admin) {
        return Err(AppError::Forbidden(
            "staff record the services given".into(),
        ));
    }
    let status = status_of(&case)?;
    if !matches!(status, CaseStatus::InService | CaseStatus::Returned) {
        return Err(AppError::InvalidTransition(format!(
            "services are recorded while a help case is IN_SERVICE; it is {}",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The row is locked first (lock order: the case, then its steps), and a concurrent move
    // out of service is seen.
    lock_case(&*tx, &case, now).await?;
    let step = Step {
        public_note,
        details: json!({"service": service.as_str()}),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "service_given",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// Help: filed with the approving department, with its reference number.
pub async fn submit(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reference: &str,
) -> AppResult<cases::Model> {
    let reference = crate::directory::model::text(reference, "reference", 64)?;
    let (case, acting) = case_for(state, viewer, id).await?;
    let mv = Move::new(CaseAction::Submit, "submitted")
        .set(
            cases::Column::SubmittedRef,
            Expr::value(Some(reference.clone())),
        )
        .step(Step {
            public_note: Some(format!("已提交审批部门，受理编号 {reference}")),
            details: json!({"reference": reference}),
            ..Step::default()
        });
    one_move(state, viewer, &case, &acting, mv).await
}

/// Help: the department returned the filing, with its reason (followed up until done).
pub async fn record_return(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reason: &str,
) -> AppResult<cases::Model> {
    let reason = note(reason, "reason")?;
    let (case, acting) = case_for(state, viewer, id).await?;
    let mv = Move::new(CaseAction::Return, "returned").step(Step {
        public_note: Some(reason.clone()),
        details: json!({"reason": reason}),
        ..Step::default()
    });
    one_move(state, viewer, &case, &acting, mv).await
}

/// Stops the clock while waiting for the applicant (补正材料): the working days from tomorrow
/// do not count until the clock restarts.
pub async fn stop_clock(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    what_is_needed: &str,
) -> AppResult<cases::Model> {
    let needed = note(what_is_needed, "note")?;
    let (case, acting) = case_for(state, viewer, id).await?;
    staff_on_open_accepted(&case, &acting)?;
    if case.waiting_since.is_some() {
        return Err(AppError::InvalidTransition(
            "the clock is already stopped".into(),
        ));
    }
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let mut tx = Tx::begin(state).await?;
    let moved = cases::Entity::update_many()
        .col_expr(cases::Column::WaitingSince, Expr::value(Some(today)))
        .col_expr(cases::Column::UpdatedAt, Expr::value(now))
        .filter(cases::Column::Id.eq(id))
        .filter(cases::Column::Status.eq(case.status.as_str()))
        .filter(cases::Column::UnitId.eq(case.unit_id))
        .filter(cases::Column::WaitingSince.is_null())
        .exec(&*tx)
        .await?;
    if moved.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this case first".into(),
        ));
    }
    case_pauses::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(id),
        from_day: Set(today),
        until_day: Set(None),
        note: Set(needed.clone()),
    }
    .insert(&*tx)
    .await?;
    store_deadline(&*tx, &case).await?;
    let step = Step {
        public_note: Some(format!("等待补正材料：{needed}")),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "clock_stopped",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// Restarts the clock: the applicant answered; the deadline moves by the days it stood still.
pub async fn restart_clock(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<cases::Model> {
    let (case, acting) = case_for(state, viewer, id).await?;
    staff_on_open_accepted(&case, &acting)?;
    if case.waiting_since.is_none() {
        return Err(AppError::InvalidTransition("the clock is running".into()));
    }
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let mut tx = Tx::begin(state).await?;
    let moved = cases::Entity::update_many()
        .col_expr(
            cases::Column::WaitingSince,
            Expr::value(Option::<chrono::NaiveDate>::None),
        )
        .col_expr(cases::Column::UpdatedAt, Expr::value(now))
        .filter(cases::Column::Id.eq(id))
        .filter(cases::Column::Status.eq(case.status.as_str()))
        .filter(cases::Column::UnitId.eq(case.unit_id))
        .filter(cases::Column::WaitingSince.is_not_null())
        .exec(&*tx)
        .await?;
    if moved.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this case first".into(),
        ));
    }
    close_open_pause(&*tx, id, today).await?;
    store_deadline(&*tx, &case).await?;
    let step = Step {
        public_note: Some("材料已补正，继续办理".into()),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "clock_restarted",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// The clock is the staff's to stop, on an accepted case still open.
fn staff_on_open_accepted(
    case: &cases::Model,
    acting: &crate::cases::service::Acting,
) -> AppResult<()> {
    if !matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
        return Err(AppError::Forbidden(
            "staff stop and restart the clock".into(),
        ));
    }
    let status = status_of(case)?;
    if !status.is_open() || case.accepted_on.is_none() {
        return Err(AppError::InvalidTransition(format!(
            "the clock runs on an accepted open case; this one is {}",
            case.status.to_uppercase()
        )));
    }
    Ok(())
}
