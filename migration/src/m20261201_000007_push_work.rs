//! Push deliveries become the work queue: each row is written with its event (template data
//! already fitted), claimed by workers with `FOR UPDATE SKIP LOCKED`, retried at
//! `next_attempt_at`, and a row left `sending` past a bound reads `unknown`. The consumer
//! cursors of the old stream-group worker go.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
    Data,
    NextAttemptAt,
    ClaimedAt,
    Status,
}

#[derive(DeriveIden)]
enum ConsumerCursors {
    Table,
    ConsumerGroup,
    LastSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            text_null(PushDeliveries::Data),
            timestamp_with_time_zone_null(PushDeliveries::NextAttemptAt),
            timestamp_with_time_zone_null(PushDeliveries::ClaimedAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(PushDeliveries::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Rows written before: due from when they were written, and a row a worker was sending
        // counts as claimed when it was last touched (so it can be closed as unknown). Their
        // template data is fitted from the event when they are sent.
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE push_deliveries SET next_attempt_at = created_at")
            .await?;
        db.execute_unprepared(
            "UPDATE push_deliveries SET claimed_at = updated_at WHERE status = 'sending'",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_push_deliveries_due")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::Status)
                    .col(PushDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ConsumerCursors::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsumerCursors::Table)
                    .col(string_len(ConsumerCursors::ConsumerGroup, 64).primary_key())
                    .col(big_integer(ConsumerCursors::LastSeq))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_push_deliveries_due")
                    .table(PushDeliveries::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            PushDeliveries::Data,
            PushDeliveries::NextAttemptAt,
            PushDeliveries::ClaimedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PushDeliveries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
