//! A remote consultation (三级联动, seed §五(四)): a village or township agent asks the county's
//! agents about a case or an item; a ledger contact with channel `remote`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consultations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub county_id: Uuid,
    pub case_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    /// The asking agent's unit (region).
    pub unit_id: Uuid,
    pub opened_by: Uuid,
    pub question: String,
    /// `open` or `closed`.
    pub status: String,
    pub ledger_entry_id: Uuid,
    pub created_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
