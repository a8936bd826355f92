//! The one place that decides what a staff viewer may see and do. A village agent sees its
//! village; a township its own region and its villages; the county everything in the county.
//! One deployment serves many counties: nothing reaches across a county's border. Objects outside
//! the viewer's jurisdiction answer NOT_FOUND (their existence is not revealed); actions the
//! role may not take inside it answer FORBIDDEN.
use entity::{regions, staff_accounts};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    error::{AppError, AppResult},
};

/// The staff member acting, with the region subtree they govern.
#[derive(Clone, Debug)]
pub struct Jurisdiction {
    pub staff_id: Uuid,
    pub role: Role,
    pub region: regions::Model,
}

impl Jurisdiction {
    /// Resolves a viewer into a jurisdiction: UNAUTHENTICATED for anonymous callers,
    /// FORBIDDEN for residents and for staff without a unit.
    pub async fn of(conn: &impl ConnectionTrait, viewer: &Viewer) -> AppResult<Self> {
        let (staff_id, role) = match viewer {
            Viewer::Anonymous => return Err(AppError::Unauthenticated("log in first".into())),
            Viewer::Resident { .. } => return Err(AppError::Forbidden("staff only".into())),
            Viewer::Staff { staff_id, role, .. } => (*staff_id, *role),
        };
        // The unit is read fresh: a transfer takes effect without a new login.
        let staff = staff_accounts::Entity::find_by_id(staff_id)
            .one(conn)
            .await?
            .filter(|s| s.active)
            .ok_or_else(|| AppError::Unauthenticated("the account is no longer active".into()))?;
        let region_id = staff
            .unit_id
            .ok_or_else(|| AppError::Forbidden("this account has no unit yet".into()))?;
        let region = regions::Entity::find_by_id(region_id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::Forbidden("this account's unit no longer exists".into()))?;
        Ok(Self {
            staff_id,
            role,
            region,
        })
    }

    /// Whether a region (by its path) lies inside this jurisdiction.
    pub fn covers_path(&self, path: &str) -> bool {
        path.starts_with(&self.region.path)
    }

    /// The county this jurisdiction lies in (None only for a level above the county, which the
    /// region tree does not hold yet).
    pub fn county_id(&self) -> Option<Uuid> {
        self.region.county_id
    }

    /// The counties this jurisdiction oversees: its own county, or (for a level above the
    /// county, once the tree holds one) every county below it. Audit rows and restrictions are
    /// listed through this.
    pub async fn counties(&self, conn: &impl ConnectionTrait) -> AppResult<Vec<Uuid>> {
        if let Some(county) = self.region.county_id {
            return Ok(vec![county]);
        }
        Ok(regions::Entity::find()
            .filter(regions::Column::Path.starts_with(&self.region.path))
            .filter(regions::Column::Level.eq("county"))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect())
    }

    /// NOT_FOUND `what` unless a row tagged with `county` is inside this jurisdiction's counties
    /// (a row of another county is not revealed).
    pub fn ensure_in_county(&self, county: Option<Uuid>, what: &'static str) -> AppResult<()> {
        match (self.region.county_id, county) {
            (Some(own), Some(theirs)) if own == theirs => Ok(()),
            _ => Err(AppError::NotFound(what)),
        }
    }

    pub fn covers(&self, region: &regions::Model) -> bool {
        self.covers_path(&region.path)
    }

    /// NOT_FOUND unless the region is inside the jurisdiction.
    pub fn ensure_covers(&self, region: &regions::Model, what: &'static str) -> AppResult<()> {
        if self.covers(region) {
            Ok(())
        } else {
            Err(AppError::NotFound(what))
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.role, Role::CountyAdmin | Role::TownshipAdmin)
    }

    /// FORBIDDEN unless the viewer administers staff, points or registers (county or township admin).
    pub fn ensure_admin(&self) -> AppResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only a county or township administrator may do this".into(),
            ))
        }
    }

    /// "Admin over this region": NOT_FOUND `what` unless the region is inside the jurisdiction
    /// (its existence is not told), then FORBIDDEN unless the viewer is a county or township
    /// administrator.
    pub fn ensure_admin_over(&self, region: &regions::Model, what: &'static str) -> AppResult<()> {
        self.ensure_covers(region, what)?;
        self.ensure_admin()
    }

    /// FORBIDDEN unless the viewer administers (county or township admin) or audits.
    pub fn ensure_admin_or_auditor(&self) -> AppResult<()> {
        self.ensure_admin().or_else(|_| self.ensure_auditor())
    }

    /// FORBIDDEN unless the viewer is the county centre's administrator.
    pub fn ensure_county_admin(&self) -> AppResult<()> {
        if self.role == Role::CountyAdmin {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only the county centre's administrator may do this".into(),
            ))
        }
    }

    /// Roles that may read the audit log.
    pub fn ensure_auditor(&self) -> AppResult<()> {
        if matches!(self.role, Role::CountyAdmin | Role::Auditor) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only auditors and the county administrator read the audit log".into(),
            ))
        }
    }

    /// Roles that may see full personal data of staff (through an audited reveal).
    pub fn ensure_may_reveal(&self) -> AppResult<()> {
        self.ensure_admin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(path: &str, level: &str) -> regions::Model {
        regions::Model {
            id: Uuid::now_v7(),
            code: "140521".into(),
            name: "x".into(),
            level: level.into(),
            parent_id: None,
            path: path.into(),
            county_id: None,
            demo: true,
            created_at: chrono::Utc::now(),
        }
    }

    fn jurisdiction(path: &str, role: Role) -> Jurisdiction {
        Jurisdiction {
            staff_id: Uuid::now_v7(),
            role,
            region: region(path, "township"),
        }
    }

    #[test]
    fn subtrees_decide_what_is_covered() {
        let county = "/c/";
        let town_a = "/c/a/";
        let village_a1 = "/c/a/1/";
        let town_b = "/c/b/";
        let table = [
            (county, Role::CountyAdmin, village_a1, true),
            (county, Role::CountyAgent, town_b, true),
            (town_a, Role::TownshipAdmin, town_a, true),
            (town_a, Role::TownshipAdmin, village_a1, true),
            (town_a, Role::TownshipAgent, town_b, false),
            (town_a, Role::TownshipAdmin, county, false),
            (village_a1, Role::VillageAgent, village_a1, true),
            (village_a1, Role::VillageAgent, town_a, false),
            ("/c/a/12/", Role::VillageAgent, village_a1, false),
        ];
        for (own, role, target, expected) in table {
            assert_eq!(
                jurisdiction(own, role).covers_path(target),
                expected,
                "{own} {role:?} {target}"
            );
        }
    }

    #[test]
    fn only_admins_administer() {
        assert!(
            jurisdiction("/c/", Role::CountyAdmin)
                .ensure_county_admin()
                .is_ok()
        );
        assert!(
            jurisdiction("/c/a/", Role::TownshipAdmin)
                .ensure_county_admin()
                .is_err()
        );
        assert!(
            jurisdiction("/c/a/", Role::TownshipAdmin)
                .ensure_admin()
                .is_ok()
        );
        assert!(
            jurisdiction("/c/a/", Role::TownshipAgent)
                .ensure_admin()
                .is_err()
        );
        assert!(jurisdiction("/c/", Role::Auditor).ensure_auditor().is_ok());
        assert!(
            jurisdiction("/c/", Role::Inspector)
                .ensure_auditor()
                .is_err()
        );
    }
}
