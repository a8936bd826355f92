//! The cases room's scheduled job: the deadline scanner. Each run reckons every open accepted
//! case's urgency on the test-clock's China date and, when it changed to due soon or overdue,
//! flags the case and tells its agent and applicant (event, push, live) — once per change, in
//! the transaction that flags it. It also flags plan milestones past their due day and
//! transfers left unanswered past their `respond_by`, once each.
use async_trait::async_trait;
use entity::cases;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use crate::{
    auth::Viewer,
    calendar,
    cases::{
        deadline::{Urgency, urgency},
        model::{CaseRole, CaseStatus, DueFlag},
        service::{Acting, Step, record},
    },
    error::AppResult,
    events::Tx,
    jobs::{Counts, ScheduledJobs},
    state::AppState,
};

pub struct CaseJobs;

#[async_trait]
impl ScheduledJobs for CaseJobs {
    fn room(&self) -> &'static str {
        "cases"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<Counts> {
        let (soon, overdue) = flag_deadlines(state).await?;
        let milestones = crate::cases::plans::flag_overdue(state, state.clock.now()).await?;
        let transfers = crate::cases::transfers::flag_overdue(state, state.clock.now()).await?;
        Ok(Counts::from([
            ("due_soon", soon),
            ("overdue", overdue),
            ("milestones_overdue", milestones),
            ("transfers_overdue", transfers),
        ]))
    }
}

/// Flags open cases whose urgency changed; returns how many became due soon and overdue.
pub async fn flag_deadlines(state: &AppState) -> AppResult<(u64, u64)> {
    let open: Vec<&str> = CaseStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let candidates = cases::Entity::find()
        .filter(cases::Column::Status.is_in(open))
        .filter(cases::Column::DueOn.is_not_null())
        .filter(cases::Column::WaitingSince.is_null())
        .filter(cases::Column::DueFlag.ne(DueFlag::Overdue.as_str()))
        .all(&state.db)
        .await?;
    if candidates.is_empty() {
        return Ok((0, 0));
    }
    let calendar = calendar::service::load(&state.db).await?;
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let (mut soon, mut overdue) = (0, 0);
    for case in candidates {
        let Some(due) = case.due_on else { continue };
        let flag = match urgency(
            &calendar,
            today,
            due,
            state.settings.cases.due_soon_working_days,
        ) {
            Urgency::OnTrack => continue,
            Urgency::DueSoon => DueFlag::DueSoon,
            Urgency::Overdue => DueFlag::Overdue,
        };
        if case.due_flag == flag.as_str() {
            continue;
        }
        let mut tx = Tx::begin(state).await?;
        // Guarded on what was read: a case that moved or was flagged meanwhile is left alone.
        let changed = cases::Entity::update_many()
            .col_expr(cases::Column::DueFlag, Expr::value(flag.as_str()))
            .filter(cases::Column::Id.eq(case.id))
            .filter(cases::Column::Status.eq(case.status.as_str()))
            .filter(cases::Column::DueFlag.eq(case.due_flag.as_str()))
            .filter(cases::Column::DueOn.eq(due))
            .filter(cases::Column::WaitingSince.is_null())
            .exec(&*tx)
            .await?;
        if changed.rows_affected == 0 {
            continue;
        }
        let (name, public) = match flag {
            DueFlag::Overdue => ("overdue", format!("已超过承诺办结时限（{due}）")),
            _ => ("due_soon", format!("临近承诺办结时限（{due}）")),
        };
        let system = Acting {
            role: Some(CaseRole::System),
            who: None,
            person: uuid::Uuid::nil(),
        };
        let step = Step {
            public_note: Some(public),
            details: serde_json::json!({"dueOn": due}),
            ..Step::default()
        };
        record(
            &mut tx,
            &Viewer::Anonymous,
            &case,
            &system,
            name,
            None,
            step,
            now,
        )
        .await?;
        tx.commit().await?;
        match flag {
            DueFlag::Overdue => overdue += 1,
            _ => soon += 1,
        }
    }
    Ok((soon, overdue))
}
