//! A case (办件): a matter handled for an applicant, assisted (帮办) or by proxy (代办).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The human number, per county and year: `<county code>-<year>-<000123>`.
    #[sea_orm(unique)]
    pub number: String,
    pub county_id: Uuid,
    pub year: i32,
    /// `help` or `proxy`.
    pub kind: String,
    pub status: String,
    /// `booking`, `contact` or `transfer`.
    pub origin: String,
    pub booking_id: Option<Uuid>,
    pub ledger_entry_id: Option<Uuid>,
    /// The applicant's resident account.
    pub user_id: Option<Uuid>,
    pub enterprise_name: Option<String>,
    pub credit_code: Option<String>,
    pub item_id: Uuid,
    /// The unit (region) that opened the case.
    pub origin_unit_id: Uuid,
    /// The unit (region) holding the case now.
    pub unit_id: Uuid,
    pub service_point_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub promised_days: i32,
    pub accepted_on: Option<Date>,
    pub due_on: Option<Date>,
    pub due_provisional: bool,
    /// `on_track`, `due_soon` or `overdue`, set by the deadline job.
    pub due_flag: String,
    /// The clock is stopped since this China date (waiting for the applicant).
    pub waiting_since: Option<Date>,
    pub reason_code: Option<String>,
    pub explanation: Option<String>,
    pub submitted_ref: Option<String>,
    pub termination_reason: Option<String>,
    /// JSON: the outcome documents.
    pub outcome: Option<String>,
    /// JSON: how the outcome reached the applicant.
    pub delivery: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    /// JSON: the last three steps, newest first (for staff), rewritten with every step; NULL
    /// for a case not written since this column came.
    pub latest_steps: Option<String>,
    /// JSON: the last three steps with a public note, newest first (for the applicant).
    pub latest_public_steps: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
