//! A callback's free comment has a content-check state, as a rating's text does, so that one
//! WeChat could not check is checked again by a job and one WeChat held waits for the county
//! centre; and an anonymous rating's audit entry waits for the next day's job (its place in the
//! log would tell when it came). Columns with defaults, no table rewrite.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Ratings {
    Table,
    AuditPending,
}

#[derive(DeriveIden)]
enum CallbackTasks {
    Table,
    CommentState,
    CommentChecks,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CallbackTasks::Table)
                    .add_column(string_len(CallbackTasks::CommentState, 16).default("none"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CallbackTasks::Table)
                    .add_column(integer(CallbackTasks::CommentChecks).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Ratings::Table)
                    .add_column(boolean(Ratings::AuditPending).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Ratings::Table)
                    .drop_column(Ratings::AuditPending)
                    .to_owned(),
            )
            .await?;
        for column in [CallbackTasks::CommentChecks, CallbackTasks::CommentState] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CallbackTasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
