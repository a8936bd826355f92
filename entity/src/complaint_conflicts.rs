//! An inspector's declared conflict of interest in a complaint (never assigned it again).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaint_conflicts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub inspector_id: Uuid,
    pub reason: String,
    pub declared_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
