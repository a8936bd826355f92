//! The desk guard: who works a point's desk (its own agents, and admins covering its region).
use entity::{service_points, staff_accounts};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    directory::{jurisdiction::Jurisdiction, regions::region},
    error::{AppError, AppResult},
    state::AppState,
};

/// Staff who work a point's desk: its own agents, and admins covering its region.
pub(crate) async fn ensure_desk(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<Jurisdiction> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let point = service_points::Entity::find_by_id(point_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("service point"))?;
    who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
    let own_point = staff_accounts::Entity::find_by_id(who.staff_id)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.service_point_id == Some(point_id));
    if own_point || who.is_admin() {
        Ok(who)
    } else if matches!(who.role, Role::Inspector | Role::Auditor) {
        Err(AppError::Forbidden(
            "inspectors and auditors watch; they do not work the desk".into(),
        ))
    } else {
        Err(AppError::Forbidden(
            "only the agents of this service point work its desk".into(),
        ))
    }
}
