//! One domain's reaction to one event, to run at least once (see `server::events::reactions`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reaction_tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The reaction's registered name, e.g. `booking.capacity`.
    pub reaction: String,
    pub event_seq: i64,
    pub attempts: i32,
    /// When a worker may next take it (a running task's lease ends here too).
    pub due_at: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
