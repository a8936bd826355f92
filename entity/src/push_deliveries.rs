//! One WeChat subscribe message per (event, user): written before sending, so it is sent at most once.
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
    /// `queued`, `sending`, `sent`, `no_consent`, `failed_temporary`, `failed_permanent`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// WeChat's msgid (a u64, kept as decimal text).
    pub msgid: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
