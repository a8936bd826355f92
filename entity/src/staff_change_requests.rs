//! 附件4: a request to replace or add a 帮办代办 agent, approved by the county centre and applied
//! on the arrival date.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_change_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub region_id: Uuid,
    pub submitted_by: Uuid,
    pub submitted_at: DateTimeUtc,
    pub before_staff_id: Option<Uuid>,
    pub before_name: Option<String>,
    pub post: String,
    pub after_name: String,
    pub after_username: String,
    pub after_role: String,
    pub after_service_point_id: Option<Uuid>,
    pub after_id_number_enc: String,
    pub after_id_number_bidx: String,
    pub after_phone_enc: String,
    pub after_email: String,
    pub arrival_date: Date,
    /// `pending`, `approved`, `rejected` or `applied`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_reason: Option<String>,
    pub applied_at: Option<DateTimeUtc>,
    pub applied_staff_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
