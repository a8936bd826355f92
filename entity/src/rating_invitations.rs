//! The invitation to rate a finished case (一事一评): when it was made and until when the
//! applicant may rate.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rating_invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: Uuid,
    pub county_id: Uuid,
    /// The applicant invited.
    pub user_id: Uuid,
    /// `completed` or `terminated`.
    pub outcome: String,
    pub invited_at: DateTimeUtc,
    pub rate_by: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
