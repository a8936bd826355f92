//! The rectification order (差评整改) a bad rating opens: the unit responsible, the call-back
//! that verified it, the classification, the deadline in working days, the result and the
//! reply to the rater.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rectifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub rating_id: Uuid,
    pub case_id: Uuid,
    pub county_id: Uuid,
    /// The unit that must rectify.
    pub unit_id: Uuid,
    /// `open`, `verified` or `resolved`.
    pub status: String,
    pub due_on: Date,
    pub due_provisional: bool,
    /// Whether the call-back reached the rater.
    pub reached: Option<bool>,
    pub verification: Option<String>,
    pub verified_at: Option<DateTimeUtc>,
    pub verified_by: Option<Uuid>,
    /// `immediate` (立行立改), `deadline` (限期整改) or `explanation` (解释说明).
    pub classification: Option<String>,
    pub result: Option<String>,
    pub reply: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<Uuid>,
    pub overdue_flagged_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
