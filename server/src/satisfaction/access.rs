//! Who may see and act on the satisfaction room's records, decided through
//! `directory::jurisdiction`: staff whose jurisdiction covers a unit a real-name rating is
//! attributed to, or an anonymous rating's rated unit, read the rating (never who gave it, when
//! it is anonymous); administrators over the rated unit review its held text; staff covering
//! the unit that must rectify read the order, and its agents (except those who worked on the
//! case), administrators over it and the county's inspectors act on it. Anything outside
//! answers NOT_FOUND.
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
    if rating.anonymous {
        // Only the rated unit: the units a case passed through would tell which case it was.
        return Ok(who.covers(&region(conn, rating.unit_id).await?));
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

/// Whether `staff` is an agent the rating counts for (who worked on its case).
async fn worked_on(conn: &impl ConnectionTrait, rating: Uuid, staff: Uuid) -> AppResult<bool> {
    Ok(rating_attributions::Entity::find()
        .filter(rating_attributions::Column::RatingId.eq(rating))
        .filter(rating_attributions::Column::AgentId.eq(staff))
        .one(conn)
        .await?
        .is_some())
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

/// Whether `who` reviews the held texts of a unit's ratings (`unit` the rated unit's region):
/// an administrator over it.
pub fn reviews_texts(who: &Jurisdiction, unit: &regions::Model) -> bool {
    who.is_admin() && who.covers(unit)
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
    let anonymous = ratings::Entity::find_by_id(order.rating_id)
        .one(conn)
        .await?
        .is_some_and(|r| r.anonymous);
    if own_agent && anonymous {
        // Every agent is told the same (one who worked on the case must not learn it is theirs).
        return Err(AppError::Forbidden(
            "an anonymous rating's order is handled by administrators and inspectors".into(),
        ));
    }
    if own_agent && worked_on(conn, order.rating_id, who.staff_id).await? {
        return Err(AppError::Forbidden(
            "an agent who worked on the case does not verify or resolve its bad rating".into(),
        ));
    }
    if own_agent || who.is_admin() || who.role == Role::Inspector {
        Ok(who)
    } else {
        Err(AppError::Forbidden(
            "only the unit's agents, administrators over it and inspectors act on a rectification"
                .into(),
        ))
    }
}

/// The region path staff read under: their jurisdiction, or a unit inside it (NOT_FOUND `unit`
/// otherwise).
pub async fn scope_path(
    conn: &impl ConnectionTrait,
    who: &Jurisdiction,
    unit_id: Option<Uuid>,
) -> AppResult<String> {
    match unit_id {
        Some(unit) => {
            let unit = region(conn, unit)
                .await
                .map_err(crate::error::hidden_as_not_found("unit"))?;
            who.ensure_covers(&unit, "unit")?;
            Ok(unit.path)
        }
        None => Ok(who.region.path.clone()),
    }
}
