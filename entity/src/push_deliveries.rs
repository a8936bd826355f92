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
    /// `resident` (`user_id` is a user) or `staff` (`user_id` is a staff account).
    pub recipient: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
