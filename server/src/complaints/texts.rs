//! The content check of a complainant's texts (WeChat msgSecCheck v2, before anything is
//! stored): prohibited text is refused (CONTENT_REJECTED); text WeChat wants a human for is
//! accepted and marked held for the inspector; text WeChat could not check is accepted and
//! checked again by the job (real-name, whose account can be asked again) or held for the
//! inspector (anonymous, whose account is not kept). Complaints are never published: the
//! check guards what staff are shown, and nothing is ever lost.
use std::time::Duration;

use entity::{complaints, users};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    complaints::model::ComplaintTextState,
    error::AppResult,
    events::Tx,
    moderation::{self, Disposition, Verdict},
    state::AppState,
    wechat::sec_check::Scene,
};

/// Texts checked again per job run.
const RECHECK_BATCH: u64 = 20;

/// Checks `text` written by resident `user` (None: nobody to ask WeChat for — held for the
/// inspector). `recheckable`: the account is kept, so an unchecked text waits for the job.
pub async fn check(
    state: &AppState,
    user: Option<Uuid>,
    text: &str,
    field: &str,
    recheckable: bool,
) -> AppResult<ComplaintTextState> {
    let Some(user) = user else {
        return Ok(ComplaintTextState::Held);
    };
    // Each check costs the AppID's quota: counted with the resident's other texts.
    state
        .limiter
        .check(
            &format!("text-check:{user}"),
            state.settings.satisfaction.text_checks_per_user_per_hour,
            Duration::from_secs(3600),
        )
        .await?;
    let verdict = moderation::check(
        state,
        &state.db,
        user,
        text,
        Scene::Comment,
        Duration::from_millis(state.settings.complaints.text_check_timeout_ms),
    )
    .await?;
    Ok(match moderation::disposition(verdict) {
        Disposition::Publish => ComplaintTextState::Passed,
        Disposition::Hold { .. } => ComplaintTextState::Held,
        Disposition::Recheck if recheckable => ComplaintTextState::Unchecked,
        Disposition::Recheck => ComplaintTextState::Held,
        Disposition::Reject { .. } => return Err(moderation::rejected(field)),
    })
}

/// Pure: what a late check makes of an unchecked complaint text (None: still no answer).
pub fn after_late_check(verdict: Verdict) -> Option<ComplaintTextState> {
    match verdict {
        Verdict::Pass => Some(ComplaintTextState::Passed),
        Verdict::Review { .. } => Some(ComplaintTextState::Held),
        Verdict::Risky { .. } => Some(ComplaintTextState::Withheld),
        Verdict::Unavailable => None,
    }
}

/// Checks again the real-name complaint texts left unchecked, oldest first; returns how many
/// were settled. After the configured tries without an answer a text is held for its
/// inspector. A run stops at the first unanswered check (WeChat is likely down).
pub async fn recheck(state: &AppState) -> AppResult<u64> {
    let settings = &state.settings.complaints;
    let waiting = complaints::Entity::find()
        .filter(complaints::Column::TextState.eq(ComplaintTextState::Unchecked.as_str()))
        .order_by_asc(complaints::Column::ReceivedAt)
        .order_by_asc(complaints::Column::Id)
        .limit(RECHECK_BATCH)
        .all(&state.db)
        .await?;
    let mut settled = 0;
    for complaint in waiting {
        let verdict = match complaint.complainant_id {
            Some(user)
                if users::Entity::find_by_id(user)
                    .one(&state.db)
                    .await?
                    .is_some() =>
            {
                moderation::check(
                    state,
                    &state.db,
                    user,
                    &complaint.description,
                    Scene::Comment,
                    Duration::from_millis(settings.text_check_timeout_ms),
                )
                .await?
            }
            // Nobody to ask WeChat for: a human reads it.
            _ => Verdict::Review { label: 0 },
        };
        let tries = complaint.text_checks + 1;
        let outcome = match after_late_check(verdict) {
            Some(state) => Some(state),
            None if tries >= settings.text_recheck_attempts => Some(ComplaintTextState::Held),
            None => None,
        };
        let mut tx = Tx::begin(state).await?;
        let mut update = complaints::Entity::update_many()
            .col_expr(complaints::Column::TextChecks, Expr::value(tries))
            .filter(complaints::Column::Id.eq(complaint.id))
            .filter(complaints::Column::TextState.eq(ComplaintTextState::Unchecked.as_str()));
        if let Some(to) = outcome {
            update = update.col_expr(complaints::Column::TextState, Expr::value(to.as_str()));
        }
        let changed = update.exec(&*tx).await?.rows_affected == 1;
        if let (true, Some(to)) = (changed, outcome) {
            // A day late like the filing (`audit::deferred`): a check minutes after it, or a
            // fixed number of runs after it, would place the filing in the log.
            tx.audit_next_day(crate::audit::Pending::system(
                state.clock.now(),
                Some(complaint.county_id),
                "complaint.text_checked",
                "complaint",
                complaint.id,
                json!({"textState": to.as_str()}),
            ));
            settled += 1;
        }
        tx.commit().await?;
        if outcome.is_none() {
            break;
        }
    }
    Ok(settled)
}
