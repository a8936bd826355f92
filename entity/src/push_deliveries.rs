//! One WeChat subscribe message per (event, user): written in the event's own transaction and
//! claimed by a push worker, so it is sent at most once and never lost.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub template_id: String,
    pub subject_id: String,
    /// `queued`, `sending`, `sent`, `no_consent`, `failed_temporary`, `failed_permanent`, `unknown`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// WeChat's msgid (a u64, kept as decimal text).
    pub msgid: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The template's `data` object, fitted when the event was written (JSON).
    pub data: Option<String>,
    /// A queued row is not claimed before this instant (retry backoff); none means now.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// When a worker claimed it for the current send.
    pub claimed_at: Option<DateTimeUtc>,
    /// `resident`, or `staff`: sent to the WeChat user `user_id` on behalf of the staff
    /// account `staff_id`, and only while that account is active and still bound to it.
    pub recipient: String,
    /// The staff account a `staff` message is for; none for a resident's.
    pub staff_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
