//! Who may read and act on a complaint, decided through `directory::jurisdiction` and the pure
//! chain rule (`rules::in_chain`): its assigned inspector, the reviewer of its appeal, and the
//! county's administrators — never the accused or anyone in their chain, who are told NOT_FOUND
//! as if it did not exist. Only the assigned inspector handles it; a county administrator
//! reassigns it, decides its appeal, or reveals its complainant (audited). The audiences of its
//! events are chosen here too, with the same rule.
use entity::{complaints, regions, staff_accounts};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    complaints::rules::{Accused, StaffFacts, in_chain},
    directory::{jurisdiction::Jurisdiction, model::RegionLevel, regions::region},
    error::{AppError, AppResult},
    events::staff_key,
};

/// In what capacity a member of staff reads a complaint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// Its inspector: handles it and sees who complained.
    Assigned,
    /// The inspector reviewing its appeal.
    AppealReviewer,
    /// A county administrator (not accused): oversees, reassigns, decides appeals, reveals.
    CountyAdmin,
}

/// A staff reader with their capacity.
pub struct Reader {
    pub who: Jurisdiction,
    pub capacity: Capacity,
}

/// The accused of a complaint, as the chain rule sees them.
pub async fn accused(
    conn: &impl ConnectionTrait,
    complaint: &complaints::Model,
) -> AppResult<Accused> {
    let unit = region(conn, complaint.accused_unit_id).await?;
    Ok(Accused {
        staff_id: complaint.accused_staff_id,
        unit_level: unit.level.parse::<RegionLevel>()?,
        unit_path: unit.path,
    })
}

/// The chain rule's view of a jurisdiction.
pub fn facts(who: &Jurisdiction) -> StaffFacts {
    StaffFacts {
        id: who.staff_id,
        role: who.role,
        unit_path: who.region.path.clone(),
    }
}

/// The staff reader of a complaint: NOT_FOUND `complaint` for anyone but its inspector, its
/// appeal's reviewer and the county's administrators outside the accused's chain.
pub async fn staff_reading(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    complaint: &complaints::Model,
) -> AppResult<Reader> {
    let who = Jurisdiction::of(conn, viewer).await?;
    who.ensure_in_county(Some(complaint.county_id), "complaint")?;
    if in_chain(&facts(&who), &accused(conn, complaint).await?) {
        return Err(AppError::NotFound("complaint"));
    }
    let capacity = if complaint.assigned_inspector_id == Some(who.staff_id) {
        Capacity::Assigned
    } else if complaint.appeal_reviewer_id == Some(who.staff_id) {
        Capacity::AppealReviewer
    } else if who.role == Role::CountyAdmin {
        Capacity::CountyAdmin
    } else {
        return Err(AppError::NotFound("complaint"));
    };
    Ok(Reader { who, capacity })
}

/// The inspector handling a complaint: its assigned inspector; other readers are FORBIDDEN.
pub async fn handling(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    complaint: &complaints::Model,
) -> AppResult<Reader> {
    let reader = staff_reading(conn, viewer, complaint).await?;
    if reader.capacity == Capacity::Assigned {
        Ok(reader)
    } else {
        Err(AppError::Forbidden(
            "only the complaint's assigned inspector handles it".into(),
        ))
    }
}

/// A county administrator overseeing a complaint; other readers are FORBIDDEN.
pub async fn overseeing(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    complaint: &complaints::Model,
) -> AppResult<Reader> {
    let reader = staff_reading(conn, viewer, complaint).await?;
    if reader.who.role == Role::CountyAdmin && reader.capacity != Capacity::Assigned {
        Ok(reader)
    } else {
        Err(AppError::Forbidden(
            "only the county centre's administrator may do this".into(),
        ))
    }
}

/// The county's active staff of `role` who are outside the accused's chain (the audience of
/// a complaint's escalations, and its candidate inspectors).
pub async fn outside_chain(
    conn: &impl ConnectionTrait,
    county_id: Uuid,
    accused: &Accused,
    role: Role,
) -> AppResult<Vec<staff_accounts::Model>> {
    let county = regions::Entity::find_by_id(county_id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("county"))?;
    Ok(staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.eq(county.id))
        .filter(staff_accounts::Column::Role.eq(role.as_str()))
        .filter(staff_accounts::Column::Active.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .filter(|s| {
            !in_chain(
                &StaffFacts {
                    id: s.id,
                    role,
                    unit_path: county.path.clone(),
                },
                accused,
            )
        })
        .collect())
}

/// The audience keys of the county administrators outside the complaint's chain.
pub async fn county_admins(
    conn: &impl ConnectionTrait,
    complaint: &complaints::Model,
) -> AppResult<Vec<String>> {
    let accused = accused(conn, complaint).await?;
    Ok(
        outside_chain(conn, complaint.county_id, &accused, Role::CountyAdmin)
            .await?
            .into_iter()
            .map(|s| staff_key(s.id))
            .collect(),
    )
}

/// Who is told of a complaint's handling among staff: its inspector, or (when nobody could
/// be assigned) the county administrators outside its chain.
pub async fn handlers(
    conn: &impl ConnectionTrait,
    complaint: &complaints::Model,
) -> AppResult<Vec<String>> {
    match complaint.assigned_inspector_id {
        Some(inspector) => Ok(vec![staff_key(inspector)]),
        None => county_admins(conn, complaint).await,
    }
}

/// NOT_FOUND `complaint` unless the signed-in resident filed it under their name.
pub fn ensure_complainant(viewer: &Viewer, complaint: &complaints::Model) -> AppResult<Uuid> {
    match viewer {
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Resident { user_id, .. } if complaint.complainant_id == Some(*user_id) => {
            Ok(*user_id)
        }
        _ => Err(AppError::NotFound("complaint")),
    }
}
