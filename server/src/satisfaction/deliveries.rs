//! The county administrator's view of the provincial deliveries: their status, and sending a
//! dead one again (audited).
use std::collections::HashSet;

use entity::{provincial_deliveries, ratings};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::signed_in,
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    events::Tx,
    satisfaction::delivery::{ProvincialDeliveryKind, ProvincialDeliveryStatus},
    state::AppState,
};

/// A delivery as a county administrator reads it. An anonymous rating's tells the day only:
/// when it was queued, sent or is due again is (nearly) when it was given.
pub struct SeenDelivery {
    pub row: provincial_deliveries::Model,
    pub anonymous: bool,
}

async fn seen(
    state: &AppState,
    rows: Vec<provincial_deliveries::Model>,
) -> AppResult<Vec<SeenDelivery>> {
    let of_ratings: Vec<Uuid> = rows
        .iter()
        .filter(|d| d.kind == ProvincialDeliveryKind::Rating.as_str())
        .map(|d| d.subject_id)
        .collect();
    let anonymous: HashSet<Uuid> = if of_ratings.is_empty() {
        HashSet::new()
    } else {
        ratings::Entity::find()
            .select_only()
            .column(ratings::Column::Id)
            .filter(ratings::Column::Id.is_in(of_ratings))
            .filter(ratings::Column::Anonymous.eq(true))
            .into_tuple::<Uuid>()
            .all(&state.db)
            .await?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|row| SeenDelivery {
            anonymous: row.kind == ProvincialDeliveryKind::Rating.as_str()
                && anonymous.contains(&row.subject_id),
            row,
        })
        .collect())
}

async fn county_admin(state: &AppState, viewer: &Viewer) -> AppResult<Jurisdiction> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_county_admin()?;
    Ok(who)
}

/// The county's deliveries, newest first, optionally of one status.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    status: Option<ProvincialDeliveryStatus>,
    first: i32,
    after: Option<&str>,
) -> AppResult<(Vec<SeenDelivery>, Option<String>)> {
    let who = county_admin(state, viewer).await?;
    let first = crate::satisfaction::reads::page_size(first)?;
    let mut query = provincial_deliveries::Entity::find()
        .filter(provincial_deliveries::Column::CountyId.eq(who.county_id().unwrap_or_default()));
    if let Some(status) = status {
        query = query.filter(provincial_deliveries::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        let (at, id) = crate::db::parse_page_cursor(after)?;
        query = query.filter(
            Condition::any()
                .add(provincial_deliveries::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(provincial_deliveries::Column::CreatedAt.eq(at))
                        .add(provincial_deliveries::Column::Id.lt(id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(provincial_deliveries::Column::CreatedAt)
        .order_by_desc(provincial_deliveries::Column::Id)
        .limit(first + 1)
        .all(&state.db)
        .await?;
    let (rows, next) = crate::satisfaction::reads::split_page(rows, first, |d| {
        crate::db::page_cursor(d.created_at, d.id)
    });
    Ok((seen(state, rows).await?, next))
}

/// `redriveProvincialDelivery`: a dead delivery is queued again with fresh attempts.
pub async fn redrive(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<SeenDelivery> {
    let who = county_admin(state, viewer).await?;
    let delivery = provincial_deliveries::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("delivery"))?;
    who.ensure_in_county(Some(delivery.county_id), "delivery")?;
    if delivery.status != ProvincialDeliveryStatus::Dead.as_str() {
        return Err(AppError::InvalidTransition(
            "only a dead delivery can be sent again".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let updated = provincial_deliveries::Entity::update_many()
        .col_expr(
            provincial_deliveries::Column::Status,
            Expr::value(ProvincialDeliveryStatus::Queued.as_str()),
        )
        .col_expr(provincial_deliveries::Column::Attempts, Expr::value(0))
        .col_expr(
            provincial_deliveries::Column::Claim,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(provincial_deliveries::Column::NextAt, Expr::value(now))
        .col_expr(provincial_deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(provincial_deliveries::Column::Id.eq(id))
        .filter(provincial_deliveries::Column::Status.eq(ProvincialDeliveryStatus::Dead.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else sent it again first".into(),
        ));
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(delivery.county_id),
        "delivery.redriven",
        "delivery",
        id,
        json!({"target": delivery.target, "kind": delivery.kind, "attempts": delivery.attempts}),
    ));
    tx.commit().await?;
    let row = provincial_deliveries::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("delivery"))?;
    seen(state, vec![row])
        .await?
        .pop()
        .ok_or(AppError::NotFound("delivery"))
}
