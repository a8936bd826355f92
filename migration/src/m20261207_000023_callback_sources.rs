//! A case may have one callback of each source a year: a sampled one and the return visit of a
//! real-name bad rating (which must happen even when the case was sampled and answered first).
//! The unique index on the small callback table is replaced.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallbackTasks {
    Table,
    CaseId,
    Year,
    Source,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_callback_tasks_case_year")
                    .table(CallbackTasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_callback_tasks_case_year_source")
                    .table(CallbackTasks::Table)
                    .col(CallbackTasks::CaseId)
                    .col(CallbackTasks::Year)
                    .col(CallbackTasks::Source)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_callback_tasks_case_year_source")
                    .table(CallbackTasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_callback_tasks_case_year")
                    .table(CallbackTasks::Table)
                    .col(CallbackTasks::CaseId)
                    .col(CallbackTasks::Year)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
