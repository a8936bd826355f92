//! 附件5: a request to add or change a catalogue item, approved by the county centre and applied
//! on its effective date.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "item_change_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub region_id: Uuid,
    pub submitted_by: Uuid,
    pub submitted_at: DateTimeUtc,
    pub before_item_id: Option<Uuid>,
    pub before_item_name: Option<String>,
    pub before_item_type: Option<String>,
    /// JSON of the item after the change (the 附件5 fields).
    pub after: String,
    pub effective_date: Date,
    /// `pending`, `approved`, `rejected` or `applied`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_reason: Option<String>,
    pub applied_at: Option<DateTimeUtc>,
    pub applied_item_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
