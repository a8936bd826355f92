//! Events get a position in publish order. A sequence taken at INSERT follows insert order,
//! and concurrent transactions commit out of it; the relay instead gives each committed event
//! the next position under one lock (`event_head`) as it publishes, so replay by position
//! never skips an event that committed late. Events already written keep their order.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Position,
}

#[derive(DeriveIden)]
enum EventHead {
    Table,
    Id,
    Position,
    PublishedPosition,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(big_integer_null(Events::Position))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_position")
                    .table(Events::Table)
                    .col(Events::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventHead::Table)
                    .col(integer(EventHead::Id).primary_key())
                    .col(big_integer(EventHead::Position))
                    .col(big_integer(EventHead::PublishedPosition))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE events SET position = seq")
            .await?;
        db.execute_unprepared(
            "INSERT INTO event_head (id, position, published_position) SELECT 1, \
             COALESCE(MAX(seq), 0), \
             COALESCE((SELECT MIN(event_seq) - 1 FROM outbox WHERE published_at IS NULL), \
                      MAX(seq), 0) \
             FROM events",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventHead::Table).to_owned())
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_events_position")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::Position)
                    .to_owned(),
            )
            .await
    }
}
