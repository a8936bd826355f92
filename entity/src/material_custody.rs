//! One holding of a material: who held it, from when to when.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "material_custody")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub material_id: Uuid,
    pub case_id: Uuid,
    /// `staff`, `window` (the approving window), `applicant` or `lost`.
    pub holder: String,
    pub holder_staff_id: Option<Uuid>,
    pub note: Option<String>,
    pub from_at: DateTimeUtc,
    pub until_at: Option<DateTimeUtc>,
    pub recorded_by: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
