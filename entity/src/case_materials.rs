//! A material of a proxy case (申报材料移交清单) and where it is now.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_materials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub name: String,
    pub original: bool,
    pub copies: i32,
    /// `held`, `handed_on`, `returned` or `lost`.
    pub status: String,
    pub location: Option<String>,
    pub must_return: bool,
    pub holder_staff_id: Option<Uuid>,
    pub held_since: DateTimeUtc,
    pub received_at: DateTimeUtc,
    pub received_by: Uuid,
    pub handed_at: Option<DateTimeUtc>,
    pub handed_by: Option<Uuid>,
    pub returned_at: Option<DateTimeUtc>,
    pub returned_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
