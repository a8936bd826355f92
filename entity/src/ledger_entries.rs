//! The ledger (台账): one entry per contact and per outcome.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub service_point_id: Uuid,
    pub booking_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    /// `online`, `phone`, `window`, `remote`.
    pub channel: String,
    /// `booked`, `accepted`, `refused`, `cancelled`, `no_show`, `served`.
    pub outcome: String,
    pub agent_id: Option<Uuid>,
    pub occurred_at: DateTimeUtc,
    pub backfilled: bool,
    pub entered_by: Option<Uuid>,
    pub entered_at: DateTimeUtc,
    /// For refusals: the reason code.
    pub reason_code: Option<String>,
    /// Encrypted applicant name for contacts without an account (walk-ins, phone calls).
    pub applicant_name_enc: Option<String>,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
