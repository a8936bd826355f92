//! One phone number, one account: the blind index of a bound number becomes unique. Where two
//! accounts hold the same number already, the account that signed in last keeps it and the
//! others lose it (they bind it again if it is theirs); the migration reports how many.
use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    PhoneBidx,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Portable on both backends: every holder but the latest sign-in gives the number up.
        let cleared = db
            .execute_unprepared(
                "UPDATE users SET phone_enc = NULL, phone_bidx = NULL \
                 WHERE phone_bidx IS NOT NULL AND EXISTS ( \
                   SELECT 1 FROM users newer WHERE newer.phone_bidx = users.phone_bidx \
                   AND (newer.last_login_at > users.last_login_at \
                        OR (newer.last_login_at = users.last_login_at AND newer.id > users.id)))",
            )
            .await?
            .rows_affected();
        if cleared > 0 {
            eprintln!(
                "phone numbers held by more than one account: {cleared} older holders cleared"
            );
        }
        db.execute_unprepared("DROP INDEX IF EXISTS idx_users_phone_bidx")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_phone_owner")
                    .table(Users::Table)
                    .col(Users::PhoneBidx)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_users_phone_owner")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_phone_bidx")
                    .table(Users::Table)
                    .col(Users::PhoneBidx)
                    .to_owned(),
            )
            .await
    }
}
