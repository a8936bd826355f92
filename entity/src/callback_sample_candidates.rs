//! One case of a callback sample's period: a candidate, and whether the draw picked it, or a
//! case left out as called already that year. What a check of the draw re-runs.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_sample_candidates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sample_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: Uuid,
    /// The stratum: the unit that handled the case.
    pub unit_id: Uuid,
    pub drawn: bool,
    /// Left out of the draw: the case had a callback that year already.
    pub called: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
