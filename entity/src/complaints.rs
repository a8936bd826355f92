//! A complaint about staff conduct (举报投诉): its target, text, deadlines, finding, reply and
//! appeal. The complainant's account is kept only for real-name complaints.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub county_id: Uuid,
    /// `cold_service`, `shirking`, … (the seed's categories).
    pub category: String,
    /// `mini_program` or `callback`.
    pub source: String,
    /// The caller whose satisfaction callback reported it.
    pub reported_by: Option<Uuid>,
    pub callback_task_id: Option<Uuid>,
    pub accused_staff_id: Option<Uuid>,
    /// The unit complained about (the accused's unit, the case's, or the one named).
    pub accused_unit_id: Uuid,
    pub case_id: Option<Uuid>,
    pub description: String,
    /// JSON array of evidence references.
    pub evidence: String,
    /// `passed`, `held`, `unchecked` or `withheld`.
    pub text_state: String,
    pub text_checks: i32,
    /// `mini_program`, `phone`, `receipt` or `no_reply`.
    pub contact: String,
    pub anonymous: bool,
    /// The real-name complainant (None when anonymous).
    pub complainant_id: Option<Uuid>,
    /// Keyed hash of the filing account (an anonymous complaint's for its first day only).
    pub filer_hash: Option<String>,
    /// Keyed hash of an anonymous complaint's receipt code.
    #[sea_orm(unique)]
    pub receipt_hash: Option<String>,
    /// `received`, `acknowledged`, `investigating`, `concluded`, `replied`, `appealed`, `closed`.
    pub status: String,
    pub assigned_inspector_id: Option<Uuid>,
    pub received_at: DateTimeUtc,
    pub acknowledge_due_on: Date,
    pub conclude_due_on: Date,
    pub extension_reason: Option<String>,
    pub extended_at: Option<DateTimeUtc>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub investigating_at: Option<DateTimeUtc>,
    pub concluded_at: Option<DateTimeUtc>,
    pub replied_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub acknowledge_overdue_at: Option<DateTimeUtc>,
    pub conclude_overdue_at: Option<DateTimeUtc>,
    /// `substantiated`, `partly_substantiated` or `not_substantiated`.
    pub finding: Option<String>,
    /// 严重 (with public impact): fails the unit in the assessment.
    pub serious: Option<bool>,
    pub actions_taken: Option<String>,
    pub conclusion: Option<String>,
    pub reply: Option<String>,
    pub appeal_reason: Option<String>,
    pub appealed_at: Option<DateTimeUtc>,
    /// `pending`, `upheld` or `changed`.
    pub appeal_status: Option<String>,
    pub appeal_reviewer_id: Option<Uuid>,
    pub appeal_decided_by: Option<Uuid>,
    pub appeal_decided_at: Option<DateTimeUtc>,
    pub appeal_note: Option<String>,
    /// The finding before an appeal changed it.
    pub original_finding: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
