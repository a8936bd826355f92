//! The invitation to rate (一事一评): the satisfaction room's reaction to a case's
//! `case.completed` and `case.terminated`. It records the invitation with its window (from the
//! event's time) and tells the applicant — event, push and live — once: a second run finds
//! the invitation and does nothing. A case without a resident account (a walk-in contact) is
//! not invited.
use entity::{cases, rating_invitations};
use sea_orm::{EntityTrait, Set, sea_query::OnConflict};
use serde_json::json;
use uuid::Uuid;

use crate::{
    error::{AppError, AppResult},
    events::{Envelope, EventDraft, Tx, reactions::Reaction, resident_key},
    satisfaction::model::CaseEnding,
    state::AppState,
};

/// The event that invites the applicant.
pub const RATING_INVITED: &str = "rating.invited";

pub struct InviteToRate;

#[async_trait::async_trait]
impl Reaction for InviteToRate {
    fn name(&self) -> &'static str {
        "satisfaction.invite"
    }

    fn follows(&self, kind: &str) -> bool {
        matches!(kind, "case.completed" | "case.terminated")
    }

    async fn react(&self, state: &AppState, event: &Envelope) -> AppResult<()> {
        let ending = if event.kind == "case.completed" {
            CaseEnding::Completed
        } else {
            CaseEnding::Terminated
        };
        let case_id = Uuid::parse_str(&event.subject_id).map_err(|_| {
            AppError::internal(anyhow::anyhow!("event {} is not about a case", event.seq))
        })?;
        invite(state, case_id, ending, event.created_at, true).await
    }
}

/// Records the invitation of `case_id`'s applicant (if any, and if not done) and, when
/// `announce`, tells them.
pub async fn invite(
    state: &AppState,
    case_id: Uuid,
    ending: CaseEnding,
    ended_at: chrono::DateTime<chrono::Utc>,
    announce: bool,
) -> AppResult<()> {
    let case = cases::Entity::find_by_id(case_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("case"))?;
    let Some(user) = case.user_id else {
        return Ok(());
    };
    let rate_by = ended_at + chrono::Duration::days(state.settings.satisfaction.rating_window_days);
    let mut tx = Tx::begin(state).await?;
    let inserted = rating_invitations::Entity::insert(rating_invitations::ActiveModel {
        case_id: Set(case.id),
        county_id: Set(case.county_id),
        user_id: Set(user),
        outcome: Set(ending.as_str().into()),
        invited_at: Set(ended_at),
        rate_by: Set(rate_by),
    })
    .on_conflict(
        OnConflict::column(rating_invitations::Column::CaseId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&*tx)
    .await?;
    if inserted == 0 {
        return Ok(());
    }
    if !announce || state.clock.now() > rate_by {
        // Recorded (a late reaction), but an invitation that can no longer be used is not sent.
        tx.commit().await?;
        return Ok(());
    }
    tx.emit(EventDraft {
        kind: RATING_INVITED,
        topic: "satisfaction",
        subject_kind: "case",
        subject_id: case.id.to_string(),
        audience: vec![resident_key(user)],
        payload: json!({
            "number": case.number,
            "outcome": ending.as_str().to_uppercase(),
            "rateBy": rate_by,
        }),
    });
    tx.commit().await?;
    Ok(())
}
