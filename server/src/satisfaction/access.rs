//! Who may see and act on the satisfaction room's records, decided through
//! `directory::jurisdiction`: staff whose jurisdiction covers a unit a rating is attributed to
//! read the rating (never who gave it, when it is anonymous); staff covering the unit that
//! must rectify read the order, and its agents, administrators over it and the county's
//! inspectors act on it. Anything outside answers NOT_FOUND.
use entity::{rating_attributions, ratings, rectifications, regions};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    directory::{jurisdiction::Jurisdiction, regions::region},
    error::{AppError, AppResult},
};

/// Whether `who` covers any unit the rating is attributed to.
pub async fn covers_rating(
    conn: &impl ConnectionTrait,
    who: &Jurisdiction,
    rating: &ratings::Model,
) -> AppResult<bool> {
    if who.county_id() != Some(rating.county_id) {
        return Ok(false);
    }
    let units: Vec<Uuid> = rating_attributions::Entity::find()
        .filter(rating_attributions::Column::RatingId.eq(rating.id))
        .filter(rating_attributions::Column::UnitId.is_not_null())
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|a| a.unit_id)
        .collect();
    let covered = regions::Entity::find()
        .filter(regions::Column::Id.is_in(units))
        .all(conn)
        .await?
        .iter()
        .any(|r| who.covers(r));
    Ok(covered)
}

/// The staff reader of a rating: NOT_FOUND `rating` unless they cover it.
pub async fn staff_reading_rating(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    rating: &ratings::Model,
) -> AppResult<Jurisdiction> {
    let who = Jurisdiction::of(conn, viewer).await?;
    if covers_rating(conn, &who, rating).await? {
        Ok(who)
    } else {
        Err(AppError::NotFound("rating"))
    }
}

/// Whether `who` reviews held texts of ratings they cover: administrators.
pub fn reviews_texts(who: &Jurisdiction) -> bool {
    who.is_admin()
}

/// The staff reader of an order: NOT_FOUND `rectification` unless they cover its unit.
pub async fn staff_reading_order(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    order: &rectifications::Model,
) -> AppResult<Jurisdiction> {
    let who = Jurisdiction::of(conn, viewer).await?;
    who.ensure_in_county(Some(order.county_id), "rectification")?;
    who.ensure_covers(&region(conn, order.unit_id).await?, "rectification")?;
    Ok(who)
}

/// The staff member acting on an order: its unit's own agents, administrators over it, or
/// the county's inspectors; other readers are FORBIDDEN.
pub async fn staff_acting_on_order(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    order: &rectifications::Model,
) -> AppResult<Jurisdiction> {
    let who = staff_reading_order(conn, viewer, order).await?;
    let own_agent = who.region.id == order.unit_id
        && matches!(
            who.role,
            Role::VillageAgent | Role::TownshipAgent | Role::CountyAgent
        );
    if own_agent || who.is_admin() || who.role == Role::Inspector {
        Ok(who)
    } else {
        Err(AppError::Forbidden(
            "only the unit's agents, administrators over it and inspectors act on a rectification"
                .into(),
        ))
    }
}
