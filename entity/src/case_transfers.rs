//! A transfer down (转办) or escalation up (上报) of a case to another unit, and its answer.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// `down` or `up`.
    pub direction: String,
    pub from_unit: Uuid,
    pub to_unit: Uuid,
    /// `pending`, `accepted`, `refused` or `withdrawn`.
    pub status: String,
    pub reason: String,
    pub requested_by: Uuid,
    pub requested_at: DateTimeUtc,
    pub respond_by: DateTimeUtc,
    pub responded_by: Option<Uuid>,
    pub responded_at: Option<DateTimeUtc>,
    pub response_note: Option<String>,
    /// When the job flagged it still unanswered past `respond_by`.
    pub overdue_flagged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
