//! A milestone of a complex case's plan (申报计划, seed §六(二)3): what is to be done by when, in
//! working days from the plan's start, acknowledged by the applicant.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_milestones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// Order within the plan, from 1.
    pub seq: i32,
    pub title: String,
    /// Working days from the plan's start.
    pub working_days: i32,
    pub due_on: Date,
    /// A progress report to the county centre is due with this milestone.
    pub report_to_county: bool,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub done_at: Option<DateTimeUtc>,
    pub reported_at: Option<DateTimeUtc>,
    /// The deadline job has flagged it overdue (once).
    pub overdue_flagged: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
