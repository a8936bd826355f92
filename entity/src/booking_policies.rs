//! A service point's booking policy (defaults apply when a point has none).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub service_point_id: Uuid,
    pub slot_minutes: i32,
    pub seats_per_agent: i32,
    pub window_days: i32,
    pub min_notice_minutes: i32,
    pub cancel_cutoff_minutes: i32,
    pub max_open_bookings: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
