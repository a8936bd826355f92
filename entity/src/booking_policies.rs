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
    /// No-shows within `no_show_window_days` that trigger a restriction.
    pub no_show_limit: i32,
    pub no_show_window_days: i32,
    /// Days without online booking after the limit is reached.
    pub no_show_ban_days: i32,
    /// Working hours within which a booking must be reviewed before it is flagged overdue.
    pub review_hours: i32,
    /// Minutes after a slot's end before an absent booking becomes a no-show.
    pub grace_minutes: i32,
    /// Minutes a waitlist offer holds the freed seat.
    pub hold_minutes: i32,
    /// China-time hour of the day-before reminder.
    pub remind_day_before_hour: i32,
    /// Minutes before the slot of the second reminder.
    pub remind_before_minutes: i32,
    /// Minutes before its slot a booking may be checked in on site.
    pub check_in_opens_minutes: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
