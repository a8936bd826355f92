//! A rating or rectification result on its way to a provincial 好差评 platform.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provincial_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub county_id: Uuid,
    /// The configured target's name.
    pub target: String,
    /// `rating` or `rectification`.
    pub kind: String,
    /// The rating's or rectification's id.
    pub subject_id: Uuid,
    /// The JSON document sent (built once).
    pub body: String,
    /// `queued`, `sending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub next_at: DateTimeUtc,
    pub last_error: Option<String>,
    /// The last HTTP status answered, if any.
    pub last_status: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    /// The claim of the worker sending it (its answer is recorded only under that claim).
    pub claim: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
