//! Indexes for the relay's lookups by event: marking outbox rows published by `event_seq`, and
//! reading the audiences of the events it publishes. Without them every relay step scanned the
//! whole outbox and every audience row ever written (the tables only grow).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    EventSeq,
}

#[derive(DeriveIden)]
enum EventAudience {
    Table,
    EventSeq,
}

const OUTBOX: &str = "idx_outbox_event";
const AUDIENCE: &str = "idx_event_audience_event";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OUTBOX)
                    .table(Outbox::Table)
                    .col(Outbox::EventSeq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(AUDIENCE)
                    .table(EventAudience::Table)
                    .col(EventAudience::EventSeq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [(OUTBOX, "outbox"), (AUDIENCE, "event_audience")] {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
