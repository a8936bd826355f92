//! An on-site queue number (取号) at a service point for one day.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub service_point_id: Uuid,
    pub day: Date,
    /// `A` for appointments, `B` for walk-ins.
    pub series: String,
    pub number: i32,
    /// What the screen shows, e.g. `A023`.
    pub label: String,
    pub booking_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub slot_starts_at: Option<DateTimeUtc>,
    /// `waiting`, `called`, `served`, `absent`, `withdrawn` (refused after check-in) or
    /// `unfinished` (never finished by the desk that day).
    pub status: String,
    pub checked_in_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub called_at: Option<DateTimeUtc>,
    pub called_by: Option<Uuid>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
