//! A staff member who signs in with a username and password (argon2id hash).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    /// One of the role codes in `server::auth::Role` (snake_case).
    pub role: String,
    /// The region the person belongs to (county, township or village).
    pub unit_id: Option<Uuid>,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// Agents: the service point they serve at.
    pub service_point_id: Option<Uuid>,
    /// The contact number published on the roster (an office line, not a private phone).
    pub public_phone: Option<String>,
    pub on_duty: bool,
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_bidx: Option<String>,
    pub email: Option<String>,
    /// 岗位
    pub post: Option<String>,
    /// A demo account (the demo county's agents and admin on a development machine).
    pub demo: bool,
    /// The WeChat user (`users` row of the openid) bound with `bindStaffWechat`: staff pushes
    /// go to that openid, with that user's consent credits.
    pub wechat_user_id: Option<Uuid>,
    pub wechat_bound_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
