//! An audit entry waiting for its day to end before it is written into the chain (its moment
//! would tell when a protected person acted); the fields are those of `audit_log`, with the day
//! in place of the moment.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_deferred")]
pub struct Model {
    /// Random: a batch chosen by id follows no order of the acts.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The China midnight of the day of the act: all the entry will tell of when.
    pub day: DateTimeUtc,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    /// JSON; never personal data in plain text.
    pub details: String,
    pub county_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
