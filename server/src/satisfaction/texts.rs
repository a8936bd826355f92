//! A rating's text after the content check: an administrator releases a held one; a job
//! checks again those WeChat could not check when they came (published, held, or withheld —
//! never refused after the fact, and never shown before it was checked).
use entity::ratings;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::signed_in,
    directory::regions::region,
    error::{AppError, AppResult},
    events::Tx,
    moderation::{self, Verdict},
    satisfaction::{access::staff_reading_rating, model::RatingTextState, rules::after_late_check},
    state::AppState,
    wechat::sec_check::Scene,
};

/// Texts checked again per job run.
const RECHECK_BATCH: u64 = 20;

/// `releaseRatingText`: an administrator over a unit the rating counts for shows a held text.
pub async fn release(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<ratings::Model> {
    signed_in(viewer)?;
    let rating = ratings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("rating"))?;
    let who = staff_reading_rating(&state.db, viewer, &rating).await?;
    // An administrator over the rated unit (not over any other unit the case passed through).
    who.ensure_admin_over(&region(&state.db, rating.unit_id).await?, "rating")?;
    if rating.text_state.parse::<RatingTextState>()? != RatingTextState::Held {
        return Err(AppError::InvalidTransition(
            "only a text held for review can be released".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let updated = ratings::Entity::update_many()
        .col_expr(
            ratings::Column::TextState,
            Expr::value(RatingTextState::Released.as_str()),
        )
        .filter(ratings::Column::Id.eq(id))
        .filter(ratings::Column::TextState.eq(RatingTextState::Held.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::Conflict("someone else released it first".into()));
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(rating.county_id),
        "rating.text_released",
        "rating",
        id,
        json!({}),
    ));
    tx.commit().await?;
    ratings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("rating"))
}

/// Checks again the texts left unchecked, oldest first; returns how many were settled. A text
/// WeChat still does not answer for is tried again next run, and after the configured tries it
/// waits for a human (held for an administrator). A run stops at the first unanswered check
/// (WeChat is likely down), so it never takes longer than one timeout of it.
pub async fn recheck(state: &AppState) -> AppResult<u64> {
    let settings = &state.settings.satisfaction;
    let waiting = ratings::Entity::find()
        .filter(ratings::Column::TextState.eq(RatingTextState::Unchecked.as_str()))
        .order_by_asc(ratings::Column::RatedAt)
        .order_by_asc(ratings::Column::Id)
        .limit(RECHECK_BATCH)
        .all(&state.db)
        .await?;
    let timeout = std::time::Duration::from_millis(settings.text_check_timeout_ms);
    let mut settled = 0;
    for rating in waiting {
        let Some(text) = rating.text.as_deref() else {
            continue;
        };
        let verdict = moderation::check(
            state,
            &state.db,
            rating.user_id,
            text,
            Scene::Comment,
            timeout,
        )
        .await?;
        let checks = rating.text_checks + 1;
        let Some((to, label)) = after_late_check(
            moderation::disposition(verdict),
            checks,
            settings.text_recheck_attempts,
        ) else {
            ratings::Entity::update_many()
                .col_expr(ratings::Column::TextChecks, Expr::value(checks))
                .filter(ratings::Column::Id.eq(rating.id))
                .filter(ratings::Column::TextState.eq(RatingTextState::Unchecked.as_str()))
                .exec(&state.db)
                .await?;
            break;
        };
        let now = state.clock.now();
        let mut tx = Tx::begin(state).await?;
        let updated = ratings::Entity::update_many()
            .col_expr(ratings::Column::TextState, Expr::value(to.as_str()))
            .col_expr(
                ratings::Column::TextLabel,
                Expr::value(label.and_then(|l| i32::try_from(l).ok())),
            )
            .col_expr(ratings::Column::TextChecks, Expr::value(checks))
            .col_expr(ratings::Column::TextCheckedAt, Expr::value(Some(now)))
            .filter(ratings::Column::Id.eq(rating.id))
            .filter(ratings::Column::TextState.eq(RatingTextState::Unchecked.as_str()))
            .exec(&*tx)
            .await?;
        if updated.rows_affected == 1 {
            // An anonymous rating's check goes into its own entry, written the day after
            // (`anonymous_audit`); once that is written, a later check tells its day only.
            // Read under the update's lock: the day's job may have written the entry meanwhile.
            let pending = ratings::Entity::find_by_id(rating.id)
                .one(&*tx)
                .await?
                .is_some_and(|r| r.audit_pending);
            if !pending {
                tx.audit(crate::audit::Pending::system(
                    if rating.anonymous {
                        crate::satisfaction::rules::day_of(now)
                    } else {
                        now
                    },
                    Some(rating.county_id),
                    "rating.text_checked",
                    "rating",
                    rating.id,
                    json!({"textState": to.as_str(), "answered": verdict != Verdict::Unavailable}),
                ));
            }
            tx.commit().await?;
            settled += 1;
        }
    }
    Ok(settled)
}
