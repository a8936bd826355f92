//! A period in which a resident may not book online (the no-show rule), and its appeal.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_restrictions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The county whose no-show rule made it: it suspends online booking there, and that
    /// county's administration decides its appeal.
    pub county_id: Option<Uuid>,
    pub starts_at: DateTimeUtc,
    pub until: DateTimeUtc,
    pub reason: String,
    /// `active`, `appealed`, `lifted` or `upheld`.
    pub status: String,
    pub appeal: Option<String>,
    pub appealed_at: Option<DateTimeUtc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
