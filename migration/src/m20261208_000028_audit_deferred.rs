//! Audit entries written a day late (`audit_deferred`): an entry whose moment would tell when
//! someone protected acted (a complainant filing or answering) waits here, written in the
//! transaction of the act so it cannot be lost, until the job writes the ended days' entries
//! into the chain in random order, each stamped with its day.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditDeferred {
    Table,
    Id,
    Day,
    ActorKind,
    ActorId,
    Action,
    TargetKind,
    TargetId,
    Details,
    CountyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditDeferred::Table)
                    .col(pk_uuid(AuditDeferred::Id))
                    .col(timestamp_with_time_zone(AuditDeferred::Day))
                    .col(string_len(AuditDeferred::ActorKind, 16))
                    .col(uuid_null(AuditDeferred::ActorId))
                    .col(string_len(AuditDeferred::Action, 64))
                    .col(string_len(AuditDeferred::TargetKind, 32))
                    .col(string_len_null(AuditDeferred::TargetId, 64))
                    .col(text(AuditDeferred::Details))
                    .col(uuid_null(AuditDeferred::CountyId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_deferred_day")
                    .table(AuditDeferred::Table)
                    .col(AuditDeferred::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditDeferred::Table).to_owned())
            .await
    }
}
