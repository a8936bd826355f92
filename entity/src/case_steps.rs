//! One step of a case's trail: a transition or a recorded fact, with its public note (the applicant's timeline) and internal note (staff only).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub at: DateTimeUtc,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// `staff`, `resident` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub public_note: Option<String>,
    pub internal_note: Option<String>,
    /// JSON object: what the step records (reference numbers, services, checks).
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
