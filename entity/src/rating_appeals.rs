//! A unit's appeal of a rating as mistaken or malicious (申诉), and the county's decision.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rating_appeals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub rating_id: Uuid,
    pub county_id: Uuid,
    /// The rated unit, which appeals.
    pub unit_id: Uuid,
    /// `mistaken` (误评) or `malicious` (恶意评价).
    pub reason: String,
    pub explanation: String,
    /// JSON array of evidence references (material names, file references).
    pub evidence: String,
    pub filed_by: Uuid,
    pub filed_at: DateTimeUtc,
    /// `pending`, `upheld` or `rejected`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
