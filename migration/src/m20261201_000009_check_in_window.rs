//! Check-in opens a configured time before the slot (per point, default three hours).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BookingPolicies {
    Table,
    CheckInOpensMinutes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BookingPolicies::Table)
                    .add_column(integer(BookingPolicies::CheckInOpensMinutes).default(180))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BookingPolicies::Table)
                    .drop_column(BookingPolicies::CheckInOpensMinutes)
                    .to_owned(),
            )
            .await
    }
}
