//! Plans for complex matters (申报计划: milestones in working days, acknowledged by the
//! applicant) and remote consultations with the county's agents (三级联动), with their replies.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CaseMilestones {
    Table,
    Id,
    CaseId,
    Seq,
    Title,
    WorkingDays,
    DueOn,
    ReportToCounty,
    AcknowledgedAt,
    DoneAt,
    ReportedAt,
    OverdueFlagged,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    Id,
    CountyId,
    CaseId,
    ItemId,
    UnitId,
    OpenedBy,
    Question,
    Status,
    LedgerEntryId,
    CreatedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum ConsultationReplies {
    Table,
    Id,
    ConsultationId,
    AuthorId,
    Body,
    At,
}

fn fk(name: &str, from: (impl IntoIden, impl IntoIden), to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseMilestones::Table)
                    .col(pk_uuid(CaseMilestones::Id))
                    .col(uuid(CaseMilestones::CaseId))
                    .col(integer(CaseMilestones::Seq))
                    .col(string_len(CaseMilestones::Title, 100))
                    .col(integer(CaseMilestones::WorkingDays))
                    .col(date(CaseMilestones::DueOn))
                    .col(boolean(CaseMilestones::ReportToCounty))
                    .col(timestamp_with_time_zone_null(
                        CaseMilestones::AcknowledgedAt,
                    ))
                    .col(timestamp_with_time_zone_null(CaseMilestones::DoneAt))
                    .col(timestamp_with_time_zone_null(CaseMilestones::ReportedAt))
                    .col(boolean(CaseMilestones::OverdueFlagged).default(false))
                    .col(timestamp_with_time_zone(CaseMilestones::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_case_milestones_case",
                        (CaseMilestones::Table, CaseMilestones::CaseId),
                        "cases",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_milestones_seq")
                    .table(CaseMilestones::Table)
                    .col(CaseMilestones::CaseId)
                    .col(CaseMilestones::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Consultations::Table)
                    .col(pk_uuid(Consultations::Id))
                    .col(uuid(Consultations::CountyId))
                    .col(uuid_null(Consultations::CaseId))
                    .col(uuid_null(Consultations::ItemId))
                    .col(uuid(Consultations::UnitId))
                    .col(uuid(Consultations::OpenedBy))
                    .col(text(Consultations::Question))
                    .col(string_len(Consultations::Status, 16))
                    .col(uuid_uniq(Consultations::LedgerEntryId))
                    .col(timestamp_with_time_zone(Consultations::CreatedAt))
                    .col(timestamp_with_time_zone_null(Consultations::ClosedAt))
                    .foreign_key(&mut fk(
                        "fk_consultations_county",
                        (Consultations::Table, Consultations::CountyId),
                        "regions",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultations_unit",
                        (Consultations::Table, Consultations::UnitId),
                        "regions",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultations_case",
                        (Consultations::Table, Consultations::CaseId),
                        "cases",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultations_item",
                        (Consultations::Table, Consultations::ItemId),
                        "items",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultations_opener",
                        (Consultations::Table, Consultations::OpenedBy),
                        "staff_accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultations_ledger",
                        (Consultations::Table, Consultations::LedgerEntryId),
                        "ledger_entries",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsultationReplies::Table)
                    .col(pk_uuid(ConsultationReplies::Id))
                    .col(uuid(ConsultationReplies::ConsultationId))
                    .col(uuid(ConsultationReplies::AuthorId))
                    .col(text(ConsultationReplies::Body))
                    .col(timestamp_with_time_zone(ConsultationReplies::At))
                    .foreign_key(&mut fk(
                        "fk_consultation_replies_consultation",
                        (
                            ConsultationReplies::Table,
                            ConsultationReplies::ConsultationId,
                        ),
                        "consultations",
                    ))
                    .foreign_key(&mut fk(
                        "fk_consultation_replies_author",
                        (ConsultationReplies::Table, ConsultationReplies::AuthorId),
                        "staff_accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, table, cols) in [
            (
                "idx_consultations_county",
                Consultations::Table.into_iden(),
                vec![
                    Consultations::CountyId.into_iden(),
                    Consultations::Status.into_iden(),
                ],
            ),
            (
                "idx_consultations_unit",
                Consultations::Table.into_iden(),
                vec![
                    Consultations::UnitId.into_iden(),
                    Consultations::Status.into_iden(),
                ],
            ),
            (
                "idx_consultation_replies_consultation",
                ConsultationReplies::Table.into_iden(),
                vec![ConsultationReplies::ConsultationId.into_iden()],
            ),
        ] {
            let mut index = Index::create().name(name).table(table).to_owned();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConsultationReplies::Table.into_iden(),
            Consultations::Table.into_iden(),
            CaseMilestones::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
