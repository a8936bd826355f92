//! A domain event: written in the same transaction as the change that causes it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// Insert order (the row's key). Not commit order: never replay by it.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id (UUIDv7), the `after` cursor clients pass when they reconnect.
    #[sea_orm(unique)]
    pub id: Uuid,
    pub kind: String,
    pub topic: String,
    pub subject_kind: String,
    pub subject_id: String,
    /// JSON, public to the audience (no plain personal data).
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// Publish order, given by the relay under the `event_head` lock once the event has
    /// committed; none until then. Replay and the live stream follow it.
    pub position: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
