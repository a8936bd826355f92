//! A rating of a case by its applicant: round 1, or round 2 after a rectification (二次评价).
//! The rater is kept for the once-per-case rule and their own view; staff never read it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ratings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// 1 (首次评价) or 2 (二次评价).
    pub round: i32,
    pub county_id: Uuid,
    /// The unit rated: the one holding the case when it ended.
    pub unit_id: Uuid,
    pub item_id: Uuid,
    pub user_id: Uuid,
    pub anonymous: bool,
    pub level: String,
    /// JSON object: indicator → level.
    pub indicators: String,
    pub text: Option<String>,
    /// `none`, `published`, `held`, `unchecked`, `released` or `withheld`.
    pub text_state: String,
    /// The content check's label when it did not pass.
    pub text_label: Option<i32>,
    pub text_checked_at: Option<DateTimeUtc>,
    pub rated_at: DateTimeUtc,
    /// An upheld appeal keeps the rating on record but out of the statistics.
    pub excluded: bool,
    /// Checks of the text again that got no answer (after a few it waits for a human).
    pub text_checks: i32,
    /// An anonymous rating whose audit entry the next China day's job is still to write.
    pub audit_pending: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
