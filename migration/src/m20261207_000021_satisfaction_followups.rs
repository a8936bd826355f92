//! Appeals of a rating (申诉: one per rating, decided by the county's administrator; an upheld
//! one keeps the rating on record but out of the statistics), and deliveries to the provincial
//! 好差评 platforms: one row per (target, rating or rectification),
//! with the document as it was first built (a redrive sends the same), its status, attempts and
//! when it is due next. The unique index makes building a delivery twice harmless. Also: how
//! many times a rating's text was checked again without an answer (after a few it waits for a
//! human), a column with a constant default (no table rewrite on PostgreSQL 11 or later).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProvincialDeliveries {
    Table,
    Id,
    CountyId,
    Target,
    Kind,
    SubjectId,
    Body,
    Status,
    Attempts,
    NextAt,
    LastError,
    LastStatus,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum RatingAppeals {
    Table,
    Id,
    RatingId,
    CountyId,
    UnitId,
    Reason,
    Explanation,
    Evidence,
    FiledBy,
    FiledAt,
    Status,
    DecidedBy,
    DecidedAt,
    DecisionNote,
}

#[derive(DeriveIden)]
enum Ratings {
    Table,
    TextChecks,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RatingAppeals::Table)
                    .col(pk_uuid(RatingAppeals::Id))
                    .col(uuid_uniq(RatingAppeals::RatingId))
                    .col(uuid(RatingAppeals::CountyId))
                    .col(uuid(RatingAppeals::UnitId))
                    .col(string_len(RatingAppeals::Reason, 16))
                    .col(text(RatingAppeals::Explanation))
                    .col(text(RatingAppeals::Evidence))
                    .col(uuid(RatingAppeals::FiledBy))
                    .col(timestamp_with_time_zone(RatingAppeals::FiledAt))
                    .col(string_len(RatingAppeals::Status, 16))
                    .col(uuid_null(RatingAppeals::DecidedBy))
                    .col(timestamp_with_time_zone_null(RatingAppeals::DecidedAt))
                    .col(text_null(RatingAppeals::DecisionNote))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rating_appeals_rating")
                            .from(RatingAppeals::Table, RatingAppeals::RatingId)
                            .to(Alias::new("ratings"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rating_appeals_county_status")
                    .table(RatingAppeals::Table)
                    .col(RatingAppeals::CountyId)
                    .col(RatingAppeals::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Ratings::Table)
                    .add_column(integer(Ratings::TextChecks).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProvincialDeliveries::Table)
                    .col(pk_uuid(ProvincialDeliveries::Id))
                    .col(uuid(ProvincialDeliveries::CountyId))
                    .col(string_len(ProvincialDeliveries::Target, 64))
                    .col(string_len(ProvincialDeliveries::Kind, 24))
                    .col(uuid(ProvincialDeliveries::SubjectId))
                    .col(text(ProvincialDeliveries::Body))
                    .col(string_len(ProvincialDeliveries::Status, 16))
                    .col(integer(ProvincialDeliveries::Attempts))
                    .col(timestamp_with_time_zone(ProvincialDeliveries::NextAt))
                    .col(text_null(ProvincialDeliveries::LastError))
                    .col(integer_null(ProvincialDeliveries::LastStatus))
                    .col(timestamp_with_time_zone(ProvincialDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(ProvincialDeliveries::UpdatedAt))
                    .col(timestamp_with_time_zone_null(
                        ProvincialDeliveries::DeliveredAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_provincial_deliveries_county")
                            .from(ProvincialDeliveries::Table, ProvincialDeliveries::CountyId)
                            .to(Alias::new("regions"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_provincial_deliveries_subject")
                    .table(ProvincialDeliveries::Table)
                    .col(ProvincialDeliveries::Target)
                    .col(ProvincialDeliveries::Kind)
                    .col(ProvincialDeliveries::SubjectId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_provincial_deliveries_due")
                    .table(ProvincialDeliveries::Table)
                    .col(ProvincialDeliveries::Status)
                    .col(ProvincialDeliveries::NextAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_provincial_deliveries_county")
                    .table(ProvincialDeliveries::Table)
                    .col(ProvincialDeliveries::CountyId)
                    .col(ProvincialDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProvincialDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RatingAppeals::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Ratings::Table)
                    .drop_column(Ratings::TextChecks)
                    .to_owned(),
            )
            .await
    }
}
