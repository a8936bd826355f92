//! Whom the satisfaction room's events are for, besides a case's own audience.
use entity::staff_accounts;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{auth::Role, error::AppResult, events::staff_key};

/// The active agents and administrators of `unit`: those who must rectify there.
pub async fn unit_staff(conn: &impl ConnectionTrait, unit: Uuid) -> AppResult<Vec<String>> {
    Ok(staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.eq(unit))
        .filter(staff_accounts::Column::Active.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .filter(|s| {
            s.role
                .parse::<Role>()
                .is_ok_and(|r| !matches!(r, Role::Auditor | Role::Inspector))
        })
        .map(|s| staff_key(s.id))
        .collect())
}
