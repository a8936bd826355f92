//! A satisfaction callback (满意度回访) of one case: who calls, the attempts' count and next day,
//! and the answers (given on the phone, or by the applicant in the mini-program).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub county_id: Uuid,
    pub case_id: Uuid,
    /// The unit that handled the case (for the results per unit).
    pub unit_id: Uuid,
    /// The China year of the task (a case is called at most once a year).
    pub year: i32,
    /// `sample` or `bad_rating`.
    pub source: String,
    pub sample_id: Option<Uuid>,
    pub rating_id: Option<Uuid>,
    pub assigned_to: Option<Uuid>,
    /// `open`, `answered`, `self_answered`, `refused` or `unreachable`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_on: Date,
    /// JSON: the answers, each with its question as asked.
    pub answers: Option<String>,
    /// The answers report fees, gifts or misconduct.
    pub misconduct: bool,
    pub answered_at: Option<DateTimeUtc>,
    /// The caller; None when the applicant answered themselves.
    pub answered_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// The free comment's content check, as a rating text's: `none`, `published`, `held`,
    /// `unchecked`, `released` or `withheld`.
    pub comment_state: String,
    /// Checks of the comment WeChat did not answer for.
    pub comment_checks: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
