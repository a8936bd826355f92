//! Plans for complex matters (申报计划, seed §六(二)3): for an investment project, say, the agent
//! and the applicant agree milestones with due dates in working days from the plan's start;
//! the applicant acknowledges each; progress is recorded and pushed; milestones overdue are
//! flagged by the deadline job, and the progress reports due to the county centre are tracked
//! (they feed the assessment's 信息互动 item).
use chrono::{DateTime, Utc};
use entity::{case_milestones, cases};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    calendar,
    cases::{
        model::CaseRole,
        service::{Acting, Step, case_for, load_case, lock_case, optional_note, record, status_of},
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// A milestone as agreed.
pub struct MilestoneInput {
    pub title: String,
    /// Working days from the plan's start (1–365), not before the previous milestone's.
    pub working_days: i32,
    pub report_to_county: bool,
}

/// The most milestones a plan holds.
pub const MAX_MILESTONES: usize = 30;

fn staff(acting: &Acting) -> AppResult<()> {
    if matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "the holding unit's staff keep the plan".into(),
        ))
    }
}

/// A case's plan, in order.
pub async fn of_case(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
) -> AppResult<Vec<case_milestones::Model>> {
    Ok(case_milestones::Entity::find()
        .filter(case_milestones::Column::CaseId.eq(case_id))
        .order_by_asc(case_milestones::Column::Seq)
        .all(conn)
        .await?)
}

/// The holding unit's staff set the plan of an accepted open case, its days counted on the
/// working calendar from today; a plan may be set again until the applicant has acknowledged a
/// milestone of it.
pub async fn set_plan(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    milestones: Vec<MilestoneInput>,
) -> AppResult<Vec<case_milestones::Model>> {
    crate::cases::service::signed_in(viewer)?;
    if milestones.is_empty() || milestones.len() > MAX_MILESTONES {
        return Err(AppError::bad_input(
            "milestones",
            format!("1–{MAX_MILESTONES} milestones"),
        ));
    }
    let mut previous = 0;
    let mut checked = Vec::new();
    for (n, m) in milestones.into_iter().enumerate() {
        let title = text(&m.title, &format!("milestones[{n}].title"), 100)?;
        if !(1..=365).contains(&m.working_days) || m.working_days < previous {
            return Err(AppError::bad_input(
                format!("milestones[{n}].workingDays"),
                "1–365, not before the previous milestone",
            ));
        }
        previous = m.working_days;
        checked.push((title, m.working_days, m.report_to_county));
    }
    let (case, acting) = case_for(state, viewer, case_id).await?;
    staff(&acting)?;
    if !status_of(&case)?.is_open() || case.accepted_on.is_none() {
        return Err(AppError::InvalidTransition(format!(
            "a plan is agreed on an accepted open case; this one is {}",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let calendar = calendar::service::load(&state.db).await?;
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, &case, now).await?;
    let existing = of_case(&*tx, case_id).await?;
    // A plan with a record (acknowledged, done, reported, flagged or past a due day) is
    // followed, never replaced: replacing it would erase what the assessment reads.
    if existing.iter().any(|m| {
        m.acknowledged_at.is_some()
            || m.done_at.is_some()
            || m.reported_at.is_some()
            || m.overdue_flagged
            || m.due_on < today
    }) {
        return Err(AppError::Conflict(
            "this plan has a record already (acknowledged, done, reported or due); record progress instead".into(),
        ));
    }
    case_milestones::Entity::delete_many()
        .filter(case_milestones::Column::CaseId.eq(case_id))
        .exec(&*tx)
        .await?;
    let mut provisional = false;
    for (n, (title, days, report)) in checked.iter().enumerate() {
        let due = calendar.add_working_days(today, i64::from(*days));
        provisional |= due.provisional;
        case_milestones::ActiveModel {
            id: Set(Uuid::now_v7()),
            case_id: Set(case_id),
            seq: Set(i32::try_from(n + 1).unwrap_or(i32::MAX)),
            title: Set(title.clone()),
            working_days: Set(*days),
            due_on: Set(due.value),
            report_to_county: Set(*report),
            acknowledged_at: Set(None),
            done_at: Set(None),
            reported_at: Set(None),
            overdue_flagged: Set(false),
            created_at: Set(now),
        }
        .insert(&*tx)
        .await?;
    }
    let step = Step {
        public_note: Some(format!(
            "已制定申报计划（{} 个节点），请逐项确认",
            checked.len()
        )),
        details: json!({"milestones": checked.len(), "provisional": provisional}),
        ..Step::default()
    };
    record(&mut tx, viewer, &case, &acting, "plan_set", None, step, now).await?;
    tx.commit().await?;
    of_case(&state.db, case_id).await
}

async fn milestone_for(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(case_milestones::Model, cases::Model, Acting)> {
    crate::cases::service::signed_in(viewer)?;
    let milestone = case_milestones::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("milestone"))?;
    let (case, acting) = case_for(state, viewer, milestone.case_id)
        .await
        .map_err(crate::error::hidden_as_not_found("milestone"))?;
    Ok((milestone, case, acting))
}

/// The applicant acknowledges a milestone of their plan.
pub async fn acknowledge(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<case_milestones::Model> {
    let (milestone, case, acting) = milestone_for(state, viewer, id).await?;
    if acting.role()? != CaseRole::Applicant {
        return Err(AppError::Forbidden(
            "the applicant acknowledges the plan".into(),
        ));
    }
    let step = Step {
        public_note: Some(format!("申请人已确认计划节点「{}」", milestone.title)),
        details: json!({"milestone": id}),
        ..Step::default()
    };
    update_milestone(
        state,
        viewer,
        &case,
        &acting,
        id,
        Field::Acknowledged,
        "milestone_acknowledged",
        step,
    )
    .await
}

/// The holding unit's staff record progress on a milestone (pushed to the applicant), and
/// whether it is done.
pub async fn record_progress(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    note: &str,
    done: bool,
) -> AppResult<case_milestones::Model> {
    let note = optional_note(Some(note), "note")?;
    let (milestone, case, acting) = milestone_for(state, viewer, id).await?;
    staff(&acting)?;
    let step = Step {
        public_note: note.map(|n| format!("「{}」进展：{n}", milestone.title)),
        details: json!({"milestone": id, "done": done}),
        ..Step::default()
    };
    let field = if done { Field::Done } else { Field::Progress };
    update_milestone(
        state,
        viewer,
        &case,
        &acting,
        id,
        field,
        "milestone_progress",
        step,
    )
    .await
}

/// The holding unit's staff record that the milestone's progress report reached the county
/// centre.
pub async fn report_to_county(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<case_milestones::Model> {
    let (milestone, case, acting) = milestone_for(state, viewer, id).await?;
    staff(&acting)?;
    if !milestone.report_to_county {
        return Err(AppError::InvalidTransition(
            "no report to the county centre is due with this milestone".into(),
        ));
    }
    let step = Step {
        details: json!({"milestone": id}),
        ..Step::default()
    };
    update_milestone(
        state,
        viewer,
        &case,
        &acting,
        id,
        Field::Reported,
        "milestone_reported",
        step,
    )
    .await
}

enum Field {
    Acknowledged,
    Progress,
    Done,
    Reported,
}

#[allow(clippy::too_many_arguments)]
async fn update_milestone(
    state: &AppState,
    viewer: &Viewer,
    case: &cases::Model,
    acting: &Acting,
    id: Uuid,
    field: Field,
    name: &'static str,
    step: Step,
) -> AppResult<case_milestones::Model> {
    if !status_of(case)?.is_open() {
        return Err(AppError::InvalidTransition(format!(
            "the case is {}; its plan is closed",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, case, now).await?;
    let update = case_milestones::Entity::update_many().filter(case_milestones::Column::Id.eq(id));
    let update = match field {
        Field::Acknowledged => update
            .col_expr(
                case_milestones::Column::AcknowledgedAt,
                Expr::value(Some(now)),
            )
            .filter(case_milestones::Column::AcknowledgedAt.is_null()),
        Field::Done => update
            .col_expr(case_milestones::Column::DoneAt, Expr::value(Some(now)))
            .filter(case_milestones::Column::DoneAt.is_null()),
        Field::Progress => update
            .col_expr(
                case_milestones::Column::CreatedAt,
                Expr::col(case_milestones::Column::CreatedAt),
            )
            .filter(case_milestones::Column::DoneAt.is_null()),
        Field::Reported => update
            .col_expr(case_milestones::Column::ReportedAt, Expr::value(Some(now)))
            .filter(case_milestones::Column::ReportedAt.is_null()),
    };
    if update.exec(&*tx).await?.rows_affected == 0 {
        return Err(AppError::InvalidTransition(
            "the milestone is already so".into(),
        ));
    }
    record(&mut tx, viewer, case, acting, name, None, step, now).await?;
    tx.commit().await?;
    case_milestones::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("milestone"))
}

/// Whether the milestone's report to the county centre is overdue on `today`.
pub fn report_overdue(milestone: &case_milestones::Model, today: chrono::NaiveDate) -> bool {
    milestone.report_to_county && milestone.reported_at.is_none() && today > milestone.due_on
}

/// The deadline job's part: flags, once each, the milestones of open cases past their due day
/// and not done (a step and an event to the agent and the applicant).
pub async fn flag_overdue(state: &AppState, now: DateTime<Utc>) -> AppResult<u64> {
    let today = crate::clock::local_date(now);
    let open: Vec<&str> = crate::cases::model::CaseStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let due = case_milestones::Entity::find()
        .filter(
            case_milestones::Column::CaseId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(cases::Column::Id)
                    .from(cases::Entity)
                    .and_where(cases::Column::Status.is_in(open))
                    .to_owned(),
            ),
        )
        .filter(case_milestones::Column::DoneAt.is_null())
        .filter(case_milestones::Column::OverdueFlagged.eq(false))
        .filter(case_milestones::Column::DueOn.lt(today))
        .all(&state.db)
        .await?;
    let mut flagged = 0;
    for milestone in due {
        let case = load_case(&state.db, milestone.case_id).await?;
        if !status_of(&case)?.is_open() {
            continue;
        }
        let mut tx = Tx::begin(state).await?;
        // The case row first (lock order): a case closed or transferred meanwhile is left for
        // the next run.
        match lock_case(&*tx, &case, now).await {
            Ok(()) => {}
            Err(AppError::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
        let changed = case_milestones::Entity::update_many()
            .col_expr(case_milestones::Column::OverdueFlagged, Expr::value(true))
            .filter(case_milestones::Column::Id.eq(milestone.id))
            .filter(case_milestones::Column::OverdueFlagged.eq(false))
            .filter(case_milestones::Column::DoneAt.is_null())
            .exec(&*tx)
            .await?;
        if changed.rows_affected == 0 {
            continue;
        }
        let system = Acting {
            role: Some(CaseRole::System),
            who: None,
            person: Uuid::nil(),
        };
        let step = Step {
            public_note: Some(format!(
                "计划节点「{}」已超期（{}）",
                milestone.title, milestone.due_on
            )),
            details: json!({"milestone": milestone.id}),
            ..Step::default()
        };
        record(
            &mut tx,
            &Viewer::Anonymous,
            &case,
            &system,
            "milestone_overdue",
            None,
            step,
            now,
        )
        .await?;
        tx.commit().await?;
        flagged += 1;
    }
    Ok(flagged)
}
