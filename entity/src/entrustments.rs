//! A proxy case's entrustment (代办服务委托书, 附件6): the rendered text, its hash, and both confirmations.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "entrustments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub case_id: Uuid,
    pub html: String,
    pub content_hash: String,
    pub valid_until: Date,
    pub created_at: DateTimeUtc,
    pub applicant_confirmed_at: Option<DateTimeUtc>,
    pub agent_confirmed_at: Option<DateTimeUtc>,
    pub agent_id: Option<Uuid>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
