//! The satisfaction room's scheduled jobs: texts and callback comments WeChat could not check are
//! checked again, anonymous ratings' audit entries are written the day after, and
//! rectification orders past their due day are flagged once each (the unit's staff told by
//! event, push and live), on the test clock's China date.
use async_trait::async_trait;
use entity::rectifications;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;

use crate::{
    error::AppResult,
    events::{EventDraft, Tx},
    jobs::{Counts, ScheduledJobs, counts_or_first_failure},
    satisfaction::{
        anonymous_audit, audience::unit_staff, comments, model::RectificationStatus,
        rules::is_overdue, texts,
    },
    state::AppState,
};

pub struct SatisfactionJobs;

#[async_trait]
impl ScheduledJobs for SatisfactionJobs {
    fn room(&self) -> &'static str {
        "satisfaction"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<Counts> {
        // Each runs whatever the others do: one failing (WeChat, say) must not starve the rest.
        let results = [
            ("rectifications_overdue", flag_overdue(state).await),
            ("texts_checked", texts::recheck(state).await),
            ("callback_comments_checked", comments::recheck(state).await),
            (
                "anonymous_ratings_audited",
                anonymous_audit::write_due(state).await,
            ),
        ];
        counts_or_first_failure(results)
    }
}

/// Flags each unresolved order past its due day once; returns how many.
pub async fn flag_overdue(state: &AppState) -> AppResult<u64> {
    let now = state.clock.now();
    let today = crate::clock::local_date(now);
    let candidates = rectifications::Entity::find()
        .filter(rectifications::Column::Status.ne(RectificationStatus::Resolved.as_str()))
        .filter(rectifications::Column::DueOn.lt(today))
        .filter(rectifications::Column::OverdueFlaggedAt.is_null())
        .all(&state.db)
        .await?;
    let mut flagged = 0;
    for order in candidates {
        if !is_overdue(order.status.parse()?, order.due_on, today) {
            continue;
        }
        let mut tx = Tx::begin(state).await?;
        let updated = rectifications::Entity::update_many()
            .col_expr(
                rectifications::Column::OverdueFlaggedAt,
                Expr::value(Some(now)),
            )
            .filter(rectifications::Column::Id.eq(order.id))
            .filter(rectifications::Column::OverdueFlaggedAt.is_null())
            .filter(rectifications::Column::Status.ne(RectificationStatus::Resolved.as_str()))
            .exec(&*tx)
            .await?;
        if updated.rows_affected == 0 {
            continue;
        }
        tx.emit(EventDraft {
            kind: "rectification.overdue",
            topic: "satisfaction",
            subject_kind: "rectification",
            subject_id: order.id.to_string(),
            audience: unit_staff(&*tx, order.unit_id).await?,
            payload: json!({"rectificationId": order.id, "dueOn": order.due_on}),
        });
        tx.audit(crate::audit::Pending::system(
            now,
            Some(order.county_id),
            "rectification.overdue",
            "rectification",
            order.id,
            json!({"dueOn": order.due_on}),
        ));
        tx.commit().await?;
        flagged += 1;
    }
    Ok(flagged)
}
