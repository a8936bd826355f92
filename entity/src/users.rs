//! A resident or enterprise contact who signed in through the mini-program, keyed by openid.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub openid: String,
    pub unionid: Option<String>,
    /// AES-256-GCM ciphertext of the bound mobile number (never plain text).
    pub phone_enc: Option<String>,
    /// Keyed HMAC of the normalised number, for exact lookup without decrypting.
    pub phone_bidx: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_login_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
