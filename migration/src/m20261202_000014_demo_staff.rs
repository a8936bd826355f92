//! Staff accounts may be demo accounts (the demo county's agents and admin, created with the
//! demo directory on a development machine), told apart from real staff.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffAccounts {
    Table,
    Demo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .add_column(
                        ColumnDef::new(StaffAccounts::Demo)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .drop_column(StaffAccounts::Demo)
                    .to_owned(),
            )
            .await
    }
}
