//! Who may see an event: one row per (audience key, event), e.g. `resident:<id>`, `staff:<id>`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_audience")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub audience_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
