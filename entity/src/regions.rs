//! A region of the division tree: the county, a township (乡/镇), or a village/community (村/社区).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "regions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Statutory division code (6, 9 or 12 digits).
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    /// `county`, `township` or `village`.
    pub level: String,
    pub parent_id: Option<Uuid>,
    /// `/<county id>/<township id>/<village id>/`: a region is inside another when its path
    /// starts with the other's.
    pub path: String,
    /// The county this region lies in (a county is its own; a level above the county has none).
    pub county_id: Option<Uuid>,
    /// Shipped demo data, to be replaced by the county's real lists.
    pub demo: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
