//! Durable reactions: when an event has a domain that reacts to it (the booking room resizing
//! slots when a staff member's duty changed, say), a task row is written in the event's own
//! transaction. Workers claim due tasks with a guarded update that leases them, run the
//! reaction, and mark them done; a failed or interrupted task is due again after a back-off.
//! So a reaction happens at least once even if the instance dies right after the commit.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReactionTasks {
    Table,
    Id,
    Reaction,
    EventSeq,
    Attempts,
    DueAt,
    LastError,
    CreatedAt,
    DoneAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReactionTasks::Table)
                    .col(big_pk_auto(ReactionTasks::Id))
                    .col(string_len(ReactionTasks::Reaction, 64))
                    .col(big_integer(ReactionTasks::EventSeq))
                    .col(integer(ReactionTasks::Attempts))
                    .col(timestamp_with_time_zone(ReactionTasks::DueAt))
                    .col(text_null(ReactionTasks::LastError))
                    .col(timestamp_with_time_zone(ReactionTasks::CreatedAt))
                    .col(timestamp_with_time_zone_null(ReactionTasks::DoneAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reaction_tasks_event")
                            .from(ReactionTasks::Table, ReactionTasks::EventSeq)
                            .to(Events::Table, Events::Seq)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reaction_tasks_once")
                    .table(ReactionTasks::Table)
                    .col(ReactionTasks::Reaction)
                    .col(ReactionTasks::EventSeq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Workers look only at open tasks; done ones stay as the record.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_reaction_tasks_due ON reaction_tasks (due_at) \
                 WHERE done_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReactionTasks::Table).to_owned())
            .await
    }
}
