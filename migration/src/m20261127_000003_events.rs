//! Domain events (written with the change that causes them), their audiences, the transactional
//! outbox, WeChat subscribe-message consent credits and push deliveries.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Id,
    Kind,
    Topic,
    SubjectKind,
    SubjectId,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EventAudience {
    Table,
    EventSeq,
    AudienceKey,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    EventSeq,
    Topic,
    CreatedAt,
    PublishedAt,
    Attempts,
}

#[derive(DeriveIden)]
enum PushConsents {
    Table,
    UserId,
    TemplateId,
    Credits,
    LongTerm,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
    EventId,
    UserId,
    TemplateId,
    SubjectId,
    Status,
    Attempts,
    LastError,
    Msgid,
    CreatedAt,
    UpdatedAt,
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
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Seq))
                    .col(uuid_uniq(Events::Id))
                    .col(string_len(Events::Kind, 64))
                    .col(string_len(Events::Topic, 32))
                    .col(string_len(Events::SubjectKind, 32))
                    .col(string_len(Events::SubjectId, 64))
                    .col(text(Events::Payload))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_subject")
                    .table(Events::Table)
                    .col(Events::SubjectId)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_created")
                    .table(Events::Table)
                    .col(Events::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventAudience::Table)
                    .col(big_integer(EventAudience::EventSeq))
                    .col(string_len(EventAudience::AudienceKey, 64))
                    .primary_key(
                        Index::create()
                            .col(EventAudience::AudienceKey)
                            .col(EventAudience::EventSeq),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Seq))
                    .col(big_integer(Outbox::EventSeq))
                    .col(string_len(Outbox::Topic, 32))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::PublishedAt))
                    .col(integer(Outbox::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unpublished")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushConsents::Table)
                    .col(uuid(PushConsents::UserId))
                    .col(string_len(PushConsents::TemplateId, 128))
                    .col(integer(PushConsents::Credits))
                    .col(boolean(PushConsents::LongTerm))
                    .col(timestamp_with_time_zone(PushConsents::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PushConsents::UserId)
                            .col(PushConsents::TemplateId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushDeliveries::Table)
                    .col(uuid(PushDeliveries::EventId))
                    .col(uuid(PushDeliveries::UserId))
                    .col(string_len(PushDeliveries::TemplateId, 128))
                    .col(string_len(PushDeliveries::SubjectId, 64))
                    .col(string_len(PushDeliveries::Status, 24))
                    .col(integer(PushDeliveries::Attempts))
                    .col(text_null(PushDeliveries::LastError))
                    .col(string_len_null(PushDeliveries::Msgid, 24))
                    .col(timestamp_with_time_zone(PushDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(PushDeliveries::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PushDeliveries::EventId)
                            .col(PushDeliveries::UserId),
                    )
                    .to_owned(),
            )
            .await?;
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
            .create_index(
                Index::create()
                    .name("idx_push_deliveries_user")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConsumerCursors::Table.into_iden(),
            PushDeliveries::Table.into_iden(),
            PushConsents::Table.into_iden(),
            Outbox::Table.into_iden(),
            EventAudience::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
