//! Directory use cases for regions (county → 乡/镇 → 村/社区): reading the tree, the county a
//! region or point lies in, and adding a region.
use chrono::{DateTime, Utc};
use entity::{regions, service_points};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::Viewer,
    directory::{
        jurisdiction::Jurisdiction,
        model::{RegionLevel, text},
    },
    error::{AppError, AppResult},
    state::AppState,
};

pub fn level_of(region: &regions::Model) -> RegionLevel {
    region.level.parse().unwrap_or(RegionLevel::Village)
}

pub async fn region(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<regions::Model> {
    regions::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("region"))
}

/// Public: regions under a parent (or the roots), optionally of one level.
pub async fn list_regions(
    conn: &impl ConnectionTrait,
    parent_id: Option<Uuid>,
    level: Option<RegionLevel>,
) -> AppResult<Vec<regions::Model>> {
    let mut query = regions::Entity::find().order_by_asc(regions::Column::Code);
    match parent_id {
        Some(parent) => query = query.filter(regions::Column::ParentId.eq(parent)),
        None if level.is_none() => query = query.filter(regions::Column::ParentId.is_null()),
        None => {}
    }
    if let Some(level) = level {
        query = query.filter(regions::Column::Level.eq(level.as_str()));
    }
    Ok(query.all(conn).await?)
}

/// The counties a service point lies in (one, or none for a point without a county), as a
/// subquery: a county's rows are matched against it without a round trip of their own.
pub fn county_of_point(point_id: Uuid) -> SelectStatement {
    Query::select()
        .column((regions::Entity, regions::Column::CountyId))
        .from(regions::Entity)
        .inner_join(
            service_points::Entity,
            Expr::col((service_points::Entity, service_points::Column::RegionId))
                .equals((regions::Entity, regions::Column::Id)),
        )
        .and_where(Expr::col((service_points::Entity, service_points::Column::Id)).eq(point_id))
        .to_owned()
}

/// Every region inside `root` (itself included).
pub async fn subtree(
    conn: &impl ConnectionTrait,
    root: &regions::Model,
) -> AppResult<Vec<regions::Model>> {
    Ok(regions::Entity::find()
        .filter(regions::Column::Path.starts_with(&root.path))
        .order_by_asc(regions::Column::Code)
        .all(conn)
        .await?)
}

pub struct NewRegion {
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub demo: bool,
}

/// Inserts a region below its parent (or, without one, a county root), checking the division
/// code.
pub async fn insert_region(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    input: NewRegion,
) -> AppResult<regions::Model> {
    let name = text(&input.name, "input.name", 64)?;
    let (level, parent) = match input.parent_id {
        None => (RegionLevel::County, None),
        Some(parent_id) => {
            let parent = region(conn, parent_id).await?;
            let level = level_of(&parent).child().ok_or_else(|| {
                AppError::bad_input("input.parentId", "villages have no sub-regions")
            })?;
            (level, Some(parent))
        }
    };
    let code = input.code.trim().to_string();
    if code.len() != level.code_len() || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_input(
            "input.code",
            format!(
                "a {} division code has {} digits",
                level.as_str(),
                level.code_len()
            ),
        ));
    }
    if let Some(parent) = &parent
        && !code.starts_with(&parent.code)
    {
        return Err(AppError::bad_input(
            "input.code",
            format!("must start with the parent's code {}", parent.code),
        ));
    }
    let id = Uuid::now_v7();
    let path = format!(
        "{}{id}/",
        parent.as_ref().map(|p| p.path.as_str()).unwrap_or("/")
    );
    let inserted = regions::ActiveModel {
        id: Set(id),
        code: Set(code),
        name: Set(name),
        level: Set(level.as_str().into()),
        county_id: Set(match level {
            RegionLevel::County => Some(id),
            _ => parent.as_ref().and_then(|p| p.county_id),
        }),
        parent_id: Set(parent.map(|p| p.id)),
        path: Set(path),
        demo: Set(input.demo),
        created_at: Set(now),
    }
    .insert(conn)
    .await;
    match inserted {
        Ok(region) => Ok(region),
        Err(error) if crate::db::is_unique_violation(&error) => Err(AppError::bad_input(
            "input.code",
            "a region with this code exists",
        )),
        Err(error) => Err(error.into()),
    }
}

/// County admin: adds a region (the county loads its real village lists this way).
pub async fn create_region(
    state: &AppState,
    viewer: &Viewer,
    input: NewRegion,
) -> AppResult<regions::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    // A county is added by the deployment's operator (`bangban add-county`); an administrator
    // adds regions inside their own county only.
    let parent_id = input.parent_id.ok_or_else(|| {
        AppError::bad_input(
            "input.parentId",
            "name the township or county the region lies in (a new county is added by the deployment's operator)",
        )
    })?;
    who.ensure_covers(&region(&txn, parent_id).await?, "region")?;
    who.ensure_county_admin()?;
    let now = state.clock.now();
    let region = insert_region(
        &txn,
        now,
        NewRegion {
            demo: false,
            ..input
        },
    )
    .await?;
    audit::Pending::action(
        now,
        viewer,
        region.county_id,
        "region.create",
        "region",
        region.id,
        json!({"code": region.code, "name": region.name}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(region)
}
