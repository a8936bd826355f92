//! A sample of finished cases drawn for satisfaction callbacks, reproducible from its seed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub county_id: Uuid,
    pub from_day: Date,
    pub until_day: Date,
    /// The seed (decimal u64) that reproduces the draw from the same candidates.
    pub seed: String,
    /// `count:<n>` or `percent:<p>`.
    pub requested: String,
    pub candidates: i32,
    pub drawn: i32,
    pub drawn_by: Uuid,
    pub drawn_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
