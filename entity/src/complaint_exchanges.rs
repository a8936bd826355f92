//! One exchange of a complaint's handling: a request to the accused for a statement or to the
//! complainant for more information, with its answer; or an addition (a merged duplicate).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaint_exchanges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub complaint_id: Uuid,
    /// `statement_request`, `information_request` or `addition`.
    pub kind: String,
    /// The staff member asked for a statement.
    pub addressed_to: Option<Uuid>,
    /// The question (or an addition's text).
    pub question: String,
    pub asked_by: Option<Uuid>,
    pub asked_at: DateTimeUtc,
    pub answer: Option<String>,
    /// The content check of a complainant's text: `none`, `passed`, `held`, `unchecked`.
    pub answer_state: String,
    pub answered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
