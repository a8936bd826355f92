//! The data key's check value: a keyed hash only the right master key gives, written on the
//! first start, so that a server started later with another key refuses to start instead of
//! writing personal data no other instance can read (see `server::pii::key_check`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DataKeyCheck {
    Table,
    Id,
    CheckValue,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataKeyCheck::Table)
                    .col(integer(DataKeyCheck::Id).primary_key())
                    .col(string_len(DataKeyCheck::CheckValue, 64))
                    .col(timestamp_with_time_zone(DataKeyCheck::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DataKeyCheck::Table).to_owned())
            .await
    }
}
