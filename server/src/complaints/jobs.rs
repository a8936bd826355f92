//! The complaints room's scheduled jobs, on the test clock's China date: complaints past their
//! acknowledgement or conclusion day are flagged once each and escalated (their inspector and
//! the county's administrators outside the accused's chain are told); real-name texts WeChat
//! could not check are checked again; and an anonymous complaint's filer hash is dropped once
//! the duplicate window has passed (nothing then ties it to an account).
use async_trait::async_trait;
use chrono::Duration;
use entity::complaints;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;

use crate::{
    complaints::{access, handling::tell, model::ComplaintStatus, rules::overdue, texts},
    error::AppResult,
    events::{Tx, staff_key},
    jobs::{Counts, ScheduledJobs, counts_or_first_failure},
    state::AppState,
};

pub struct ComplaintJobs;

#[async_trait]
impl ScheduledJobs for ComplaintJobs {
    fn room(&self) -> &'static str {
        "complaints"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<Counts> {
        let results = [
            ("complaints_overdue", flag_overdue(state).await),
            ("complaint_texts_checked", texts::recheck(state).await),
            ("complaint_filers_forgotten", forget_filers(state).await),
        ];
        counts_or_first_failure(results)
    }
}

/// Flags each deadline missed once; returns how many flags were raised.
pub async fn flag_overdue(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let open = [
        ComplaintStatus::Received,
        ComplaintStatus::Acknowledged,
        ComplaintStatus::Investigating,
    ]
    .map(|s| s.as_str());
    let candidates = complaints::Entity::find()
        .filter(complaints::Column::Status.is_in(open))
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(complaints::Column::AcknowledgeDueOn.lt(today))
                        .add(complaints::Column::AcknowledgeOverdueAt.is_null()),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(complaints::Column::ConcludeDueOn.lt(today))
                        .add(complaints::Column::ConcludeOverdueAt.is_null()),
                ),
        )
        .all(&state.db)
        .await?;
    let mut flagged = 0;
    for complaint in candidates {
        let late = overdue(
            complaint.status.parse()?,
            complaint.acknowledge_due_on,
            complaint.conclude_due_on,
            today,
        );
        let flags = [
            (
                late.acknowledge && complaint.acknowledge_overdue_at.is_none(),
                complaints::Column::AcknowledgeOverdueAt,
                "acknowledge",
            ),
            (
                late.conclude && complaint.conclude_overdue_at.is_none(),
                complaints::Column::ConcludeOverdueAt,
                "conclude",
            ),
        ];
        for (due, column, deadline) in flags {
            if !due {
                continue;
            }
            let mut tx = Tx::begin(state).await?;
            let raised = complaints::Entity::update_many()
                .col_expr(column, Expr::value(Some(now)))
                .filter(complaints::Column::Id.eq(complaint.id))
                .filter(column.is_null())
                .filter(complaints::Column::Status.eq(complaint.status.as_str()))
                // An extension that came meanwhile moved the deadline: not late after all.
                .filter(complaints::Column::ConcludeDueOn.eq(complaint.conclude_due_on))
                .exec(&*tx)
                .await?;
            if raised.rows_affected == 0 {
                continue;
            }
            let mut audience = access::county_admins(&*tx, &complaint).await?;
            audience.extend(complaint.assigned_inspector_id.map(staff_key));
            tell(
                &mut tx,
                &complaint,
                "complaint.overdue",
                audience,
                json!({"deadline": deadline}),
            );
            tx.audit(crate::audit::Pending::system(
                now,
                Some(complaint.county_id),
                "complaint.overdue",
                "complaint",
                complaint.id,
                json!({"deadline": deadline}),
            ));
            tx.commit().await?;
            flagged += 1;
        }
    }
    Ok(flagged)
}

/// Drops the filer hash of anonymous complaints older than the duplicate window.
pub async fn forget_filers(state: &AppState) -> AppResult<u64> {
    let before =
        state.clock.now() - Duration::hours(state.settings.complaints.duplicate_window_hours);
    let forgotten = complaints::Entity::update_many()
        .col_expr(complaints::Column::FilerHash, Expr::value(None::<String>))
        .filter(complaints::Column::Anonymous.eq(true))
        .filter(complaints::Column::FilerHash.is_not_null())
        .filter(complaints::Column::ReceivedAt.lt(before))
        .exec(&state.db)
        .await?;
    Ok(forgotten.rows_affected)
}
