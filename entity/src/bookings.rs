//! A resident's appointment at a service point.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Short code for the counter, e.g. `QS7K2P`.
    #[sea_orm(unique)]
    pub code: String,
    pub slot_id: Uuid,
    pub service_point_id: Uuid,
    pub item_id: Uuid,
    pub user_id: Uuid,
    /// `consult`, `help` or `proxy`.
    pub kind: String,
    pub enterprise_name: Option<String>,
    /// Unified social credit code when booking for an enterprise.
    pub credit_code: Option<String>,
    pub note: Option<String>,
    /// `booked`, `accepted`, `refused`, `cancelled`, `no_show`, `served`.
    pub status: String,
    /// 1 while open, NULL after (unique per slot and user).
    pub open_marker: Option<i32>,
    pub channel: String,
    pub reason_code: Option<String>,
    pub explanation: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the resident checked in on site (a queue ticket exists).
    pub checked_in_at: Option<DateTimeUtc>,
    /// Not reviewed within the point's review hours (an assessment deduction).
    pub review_overdue: bool,
    pub reminded_day_before: bool,
    pub reminded_soon: bool,
    /// The staff member who booked on the resident's behalf.
    pub created_by: Option<Uuid>,
    /// How the resident's consent was obtained, for bookings made on their behalf.
    pub consent: Option<String>,
    /// The slot this booking was moved from by its last reschedule (the booking moves in place).
    pub rescheduled_from: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::slots::Entity",
        from = "Column::SlotId",
        to = "super::slots::Column::Id"
    )]
    Slot,
}

impl Related<super::slots::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Slot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
