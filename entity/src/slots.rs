//! A bookable time at a service point. `booked <= capacity` is guarded by every booking's UPDATE
//! and backed by a CHECK constraint.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub service_point_id: Uuid,
    /// The China date of the slot.
    pub day: Date,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    /// Seats, never below `booked`.
    pub capacity: i32,
    pub booked: i32,
    /// Seats the agents on duty can serve (capacity falls back to it as bookings leave).
    pub duty_capacity: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
