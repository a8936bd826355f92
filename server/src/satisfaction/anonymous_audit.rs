//! The audit entries of anonymous ratings, written a day late. Entries are numbered in the
//! order they are written and sit between entries of exact moments, so an anonymous rating's
//! entry written as it came would place it to the minute for anyone reading the log. Its rating
//! row records instead that the entry is due (`audit_pending`, in the rating's transaction, so
//! nothing is lost), and this job writes the entries of the days that have ended, in random
//! order, each stamped with its day, in one transaction (the audit append last).
use entity::ratings;
use rand::seq::SliceRandom;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::json;

use crate::{error::AppResult, events::Tx, satisfaction::rules::day_of, state::AppState};

/// Entries written per run.
const BATCH: u64 = 500;

/// Writes the due entries of anonymous ratings given before today (China); returns how many.
pub async fn write_due(state: &AppState) -> AppResult<u64> {
    let today = day_of(state.clock.now());
    // Chosen by id (random for anonymous ratings: no batch follows the order they came in).
    let due: Vec<uuid::Uuid> = ratings::Entity::find()
        .select_only()
        .column(ratings::Column::Id)
        .filter(ratings::Column::AuditPending.eq(true))
        .filter(ratings::Column::RatedAt.lt(today))
        .order_by_asc(ratings::Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&state.db)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = Tx::begin(state).await?;
    // Claimed in id order (the lock order: domain rows by id), then read as they are now,
    // under the claim: a text check that came meanwhile is in the entry.
    let mut claimed = Vec::with_capacity(due.len());
    for id in due {
        let taken = ratings::Entity::update_many()
            .col_expr(ratings::Column::AuditPending, Expr::value(false))
            .filter(ratings::Column::Id.eq(id))
            .filter(ratings::Column::AuditPending.eq(true))
            .exec(&*tx)
            .await?;
        if taken.rows_affected == 1
            && let Some(rating) = ratings::Entity::find_by_id(id).one(&*tx).await?
        {
            claimed.push(rating);
        }
    }
    // Appended in random order: the log tells no order of the day's anonymous ratings.
    claimed.shuffle(&mut rand::rngs::OsRng);
    let written = u64::try_from(claimed.len()).unwrap_or(u64::MAX);
    for rating in claimed {
        // The rater of an anonymous rating is not recorded where staff read (the audit log).
        tx.audit(crate::audit::Pending::system(
            rating.rated_at,
            Some(rating.county_id),
            "rating.recorded",
            "rating",
            rating.id,
            json!({"round": rating.round, "level": rating.level, "anonymous": true, "textState": rating.text_state}),
        ));
    }
    tx.commit().await?;
    Ok(written)
}
