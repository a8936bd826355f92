//! Appeals of a bad rating (申诉复核, 51号: to exclude 误评 and 恶意评价): an administrator over the
//! rated unit files one per rating, with its reason and evidence; the county's administrator —
//! not the one who filed it — decides. An upheld appeal keeps the rating on record and out of
//! the statistics. Each step is one transaction with its event and the audit entry last.
use entity::{rating_appeals, ratings, staff_accounts};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::service::signed_in,
    directory::{jurisdiction::Jurisdiction, model::text, regions::region},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    satisfaction::{
        access::staff_reading_rating,
        model::{RatingAppealReason, RatingAppealStatus, RatingLevel},
        rules::{appealable, decide_appeal},
    },
    state::AppState,
};

/// `appealRating`.
pub async fn file(
    state: &AppState,
    viewer: &Viewer,
    rating_id: Uuid,
    reason: RatingAppealReason,
    raw_explanation: &str,
    evidence: &[String],
) -> AppResult<rating_appeals::Model> {
    signed_in(viewer)?;
    let explanation = text(raw_explanation, "explanation", 1000)?;
    if evidence.len() > 10 {
        return Err(AppError::bad_input("evidence", "at most 10 references"));
    }
    let evidence = evidence
        .iter()
        .enumerate()
        .map(|(n, e)| text(e, &format!("evidence[{n}]"), 200))
        .collect::<AppResult<Vec<_>>>()?;
    let rating = ratings::Entity::find_by_id(rating_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("rating"))?;
    let who = staff_reading_rating(&state.db, viewer, &rating).await?;
    who.ensure_admin_over(&region(&state.db, rating.unit_id).await?, "rating")?;
    appealable(rating.level.parse::<RatingLevel>()?, rating.excluded)
        .map_err(|m| AppError::InvalidTransition(m.into()))?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let appeal = rating_appeals::ActiveModel {
        id: Set(Uuid::now_v7()),
        rating_id: Set(rating.id),
        county_id: Set(rating.county_id),
        unit_id: Set(rating.unit_id),
        reason: Set(reason.as_str().into()),
        explanation: Set(explanation),
        evidence: Set(json!(evidence).to_string()),
        filed_by: Set(who.staff_id),
        filed_at: Set(now),
        status: Set(RatingAppealStatus::Pending.as_str().into()),
        decided_by: Set(None),
        decided_at: Set(None),
        decision_note: Set(None),
    }
    .insert(&*tx)
    .await
    .map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            AppError::Conflict("this rating has been appealed already".into())
        } else {
            error.into()
        }
    })?;
    tx.emit_by(
        viewer,
        EventDraft {
            kind: "rating.appeal_filed",
            topic: "satisfaction",
            subject_kind: "rating",
            subject_id: rating.id.to_string(),
            audience: county_admins(&*tx, rating.county_id).await?,
            payload: json!({"appealId": appeal.id, "ratingId": rating.id, "reason": reason.as_str().to_uppercase()}),
        },
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(rating.county_id),
        "rating.appeal_filed",
        "rating_appeal",
        appeal.id,
        json!({"rating": rating.id, "reason": reason.as_str()}),
    ));
    tx.commit().await?;
    Ok(appeal)
}

/// The county administrators of `county` (who decide appeals).
async fn county_admins(conn: &impl ConnectionTrait, county: Uuid) -> AppResult<Vec<String>> {
    Ok(staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.eq(county))
        .filter(staff_accounts::Column::Role.eq(Role::CountyAdmin.as_str()))
        .filter(staff_accounts::Column::Active.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| staff_key(s.id))
        .collect())
}

/// `decideRatingAppeal`.
pub async fn decide(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    upheld: bool,
    raw_note: &str,
) -> AppResult<rating_appeals::Model> {
    signed_in(viewer)?;
    let note = text(raw_note, "note", 1000)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let appeal = rating_appeals::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("appeal"))?;
    who.ensure_in_county(Some(appeal.county_id), "appeal")?;
    who.ensure_county_admin()?;
    if appeal.filed_by == who.staff_id {
        return Err(AppError::Forbidden(
            "an appeal is decided by someone other than who filed it".into(),
        ));
    }
    let from = appeal.status.parse::<RatingAppealStatus>()?;
    let to = decide_appeal(from, upheld).map_err(|m| AppError::InvalidTransition(m.into()))?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let updated = rating_appeals::Entity::update_many()
        .col_expr(rating_appeals::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            rating_appeals::Column::DecidedBy,
            Expr::value(Some(who.staff_id)),
        )
        .col_expr(rating_appeals::Column::DecidedAt, Expr::value(Some(now)))
        .col_expr(
            rating_appeals::Column::DecisionNote,
            Expr::value(Some(note)),
        )
        .filter(rating_appeals::Column::Id.eq(id))
        .filter(rating_appeals::Column::Status.eq(from.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::Conflict("someone else decided it first".into()));
    }
    if upheld {
        ratings::Entity::update_many()
            .col_expr(ratings::Column::Excluded, Expr::value(true))
            .filter(ratings::Column::Id.eq(appeal.rating_id))
            .exec(&*tx)
            .await?;
    }
    tx.emit_by(
        viewer,
        EventDraft {
            kind: "rating.appeal_decided",
            topic: "satisfaction",
            subject_kind: "rating",
            subject_id: appeal.rating_id.to_string(),
            audience: vec![staff_key(appeal.filed_by)],
            payload: json!({"appealId": id, "ratingId": appeal.rating_id, "status": to.as_str().to_uppercase()}),
        },
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(appeal.county_id),
        "rating.appeal_decided",
        "rating_appeal",
        id,
        json!({"rating": appeal.rating_id, "status": to.as_str()}),
    ));
    tx.commit().await?;
    rating_appeals::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("appeal"))
}

/// Staff: appeals of units in their jurisdiction, newest first (at most 200).
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    status: Option<RatingAppealStatus>,
) -> AppResult<Vec<rating_appeals::Model>> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_admin()?;
    let units = sea_orm::sea_query::Query::select()
        .column(entity::regions::Column::Id)
        .from(entity::regions::Entity)
        .cond_where(entity::regions::Column::Path.starts_with(&who.region.path))
        .to_owned();
    let mut query = rating_appeals::Entity::find()
        .filter(rating_appeals::Column::CountyId.eq(who.county_id().unwrap_or_default()))
        .filter(rating_appeals::Column::UnitId.in_subquery(units));
    if let Some(status) = status {
        query = query.filter(rating_appeals::Column::Status.eq(status.as_str()));
    }
    Ok(query
        .order_by_desc(rating_appeals::Column::FiledAt)
        .limit(200)
        .all(&state.db)
        .await?)
}
