//! A resident waiting for a seat in a full slot; a freed seat is held for the first in line.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub slot_id: Uuid,
    pub service_point_id: Uuid,
    pub user_id: Uuid,
    pub item_id: Uuid,
    pub kind: String,
    /// `waiting`, `offered`, `claimed`, `expired` or `left`.
    pub status: String,
    /// 1 while waiting or offered, NULL after (unique per slot and user).
    pub open_marker: Option<i32>,
    pub offered_until: Option<DateTimeUtc>,
    pub booking_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
