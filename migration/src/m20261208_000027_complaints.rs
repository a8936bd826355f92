//! Complaints about staff conduct (举报投诉): the complaint with its target, its content-check
//! state, its deadlines, finding, reply and one appeal; the exchanges of its handling (the
//! accused's statement, the complainant's answers, additions of merged duplicates); the
//! inspectors who declared a conflict of interest; and each county's published ways to
//! complain (seed §八(四)). An anonymous complaint keeps no account: only a keyed hash of its
//! receipt, and for a day a keyed hash of its filer (to merge duplicates and count the limits).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Complaints {
    Table,
    Id,
    CountyId,
    Category,
    Source,
    ReportedBy,
    CallbackTaskId,
    AccusedStaffId,
    AccusedUnitId,
    CaseId,
    Description,
    Evidence,
    TextState,
    TextChecks,
    Contact,
    Anonymous,
    ComplainantId,
    FilerHash,
    ReceiptHash,
    Status,
    AssignedInspectorId,
    ReceivedAt,
    AcknowledgeDueOn,
    ConcludeDueOn,
    ExtensionReason,
    ExtendedAt,
    AcknowledgedAt,
    InvestigatingAt,
    ConcludedAt,
    RepliedAt,
    ClosedAt,
    AcknowledgeOverdueAt,
    ConcludeOverdueAt,
    Finding,
    Serious,
    ActionsTaken,
    Conclusion,
    Reply,
    AppealReason,
    AppealedAt,
    AppealStatus,
    AppealReviewerId,
    AppealDecidedBy,
    AppealDecidedAt,
    AppealNote,
    OriginalFinding,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ComplaintExchanges {
    Table,
    Id,
    ComplaintId,
    Kind,
    AddressedTo,
    Question,
    AskedBy,
    AskedAt,
    Answer,
    AnswerState,
    AnsweredAt,
}

#[derive(DeriveIden)]
enum ComplaintConflicts {
    Table,
    ComplaintId,
    InspectorId,
    Reason,
    DeclaredAt,
}

#[derive(DeriveIden)]
enum ComplaintChannels {
    Table,
    Id,
    CountyId,
    Position,
    Kind,
    Label,
    Value,
    Hours,
    UpdatedAt,
}

fn to(table: &str) -> (Alias, Alias) {
    (Alias::new(table), Alias::new("id"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (regions, id) = to("regions");
        manager
            .create_table(
                Table::create()
                    .table(Complaints::Table)
                    .col(pk_uuid(Complaints::Id))
                    .col(uuid(Complaints::CountyId))
                    .col(string_len(Complaints::Category, 40))
                    .col(string_len(Complaints::Source, 16))
                    .col(uuid_null(Complaints::ReportedBy))
                    .col(uuid_null(Complaints::CallbackTaskId))
                    .col(uuid_null(Complaints::AccusedStaffId))
                    .col(uuid(Complaints::AccusedUnitId))
                    .col(uuid_null(Complaints::CaseId))
                    .col(text(Complaints::Description))
                    .col(text(Complaints::Evidence))
                    .col(string_len(Complaints::TextState, 16))
                    .col(integer(Complaints::TextChecks).default(0))
                    .col(string_len(Complaints::Contact, 16))
                    .col(boolean(Complaints::Anonymous))
                    .col(uuid_null(Complaints::ComplainantId))
                    .col(string_len_null(Complaints::FilerHash, 64))
                    .col(string_len_null(Complaints::ReceiptHash, 64).unique_key())
                    .col(string_len(Complaints::Status, 16))
                    .col(uuid_null(Complaints::AssignedInspectorId))
                    .col(timestamp_with_time_zone(Complaints::ReceivedAt))
                    .col(date(Complaints::AcknowledgeDueOn))
                    .col(date(Complaints::ConcludeDueOn))
                    .col(text_null(Complaints::ExtensionReason))
                    .col(timestamp_with_time_zone_null(Complaints::ExtendedAt))
                    .col(timestamp_with_time_zone_null(Complaints::AcknowledgedAt))
                    .col(timestamp_with_time_zone_null(Complaints::InvestigatingAt))
                    .col(timestamp_with_time_zone_null(Complaints::ConcludedAt))
                    .col(timestamp_with_time_zone_null(Complaints::RepliedAt))
                    .col(timestamp_with_time_zone_null(Complaints::ClosedAt))
                    .col(timestamp_with_time_zone_null(
                        Complaints::AcknowledgeOverdueAt,
                    ))
                    .col(timestamp_with_time_zone_null(Complaints::ConcludeOverdueAt))
                    .col(string_len_null(Complaints::Finding, 24))
                    .col(boolean_null(Complaints::Serious))
                    .col(text_null(Complaints::ActionsTaken))
                    .col(text_null(Complaints::Conclusion))
                    .col(text_null(Complaints::Reply))
                    .col(text_null(Complaints::AppealReason))
                    .col(timestamp_with_time_zone_null(Complaints::AppealedAt))
                    .col(string_len_null(Complaints::AppealStatus, 16))
                    .col(uuid_null(Complaints::AppealReviewerId))
                    .col(uuid_null(Complaints::AppealDecidedBy))
                    .col(timestamp_with_time_zone_null(Complaints::AppealDecidedAt))
                    .col(text_null(Complaints::AppealNote))
                    .col(string_len_null(Complaints::OriginalFinding, 24))
                    .col(timestamp_with_time_zone(Complaints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_complaints_county")
                            .from(Complaints::Table, Complaints::CountyId)
                            .to(regions.clone(), id.clone())
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_complaints_unit")
                            .from(Complaints::Table, Complaints::AccusedUnitId)
                            .to(regions.clone(), id.clone())
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_complaints_county_status",
                vec![Complaints::CountyId, Complaints::Status],
            ),
            (
                "idx_complaints_inspector",
                vec![Complaints::AssignedInspectorId, Complaints::Status],
            ),
            ("idx_complaints_filer", vec![Complaints::FilerHash]),
            (
                "idx_complaints_complainant",
                vec![Complaints::ComplainantId],
            ),
            ("idx_complaints_text", vec![Complaints::TextState]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Complaints::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ComplaintExchanges::Table)
                    .col(pk_uuid(ComplaintExchanges::Id))
                    .col(uuid(ComplaintExchanges::ComplaintId))
                    .col(string_len(ComplaintExchanges::Kind, 24))
                    .col(uuid_null(ComplaintExchanges::AddressedTo))
                    .col(text(ComplaintExchanges::Question))
                    .col(uuid_null(ComplaintExchanges::AskedBy))
                    .col(timestamp_with_time_zone(ComplaintExchanges::AskedAt))
                    .col(text_null(ComplaintExchanges::Answer))
                    .col(string_len(ComplaintExchanges::AnswerState, 16))
                    .col(timestamp_with_time_zone_null(
                        ComplaintExchanges::AnsweredAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_complaint_exchanges_complaint")
                            .from(ComplaintExchanges::Table, ComplaintExchanges::ComplaintId)
                            .to(Alias::new("complaints"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (
                "idx_complaint_exchanges_complaint",
                ComplaintExchanges::ComplaintId,
            ),
            (
                "idx_complaint_exchanges_addressed",
                ComplaintExchanges::AddressedTo,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ComplaintExchanges::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ComplaintConflicts::Table)
                    .col(uuid(ComplaintConflicts::ComplaintId))
                    .col(uuid(ComplaintConflicts::InspectorId))
                    .col(text(ComplaintConflicts::Reason))
                    .col(timestamp_with_time_zone(ComplaintConflicts::DeclaredAt))
                    .primary_key(
                        Index::create()
                            .col(ComplaintConflicts::ComplaintId)
                            .col(ComplaintConflicts::InspectorId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_complaint_conflicts_complaint")
                            .from(ComplaintConflicts::Table, ComplaintConflicts::ComplaintId)
                            .to(Alias::new("complaints"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ComplaintChannels::Table)
                    .col(pk_uuid(ComplaintChannels::Id))
                    .col(uuid(ComplaintChannels::CountyId))
                    .col(integer(ComplaintChannels::Position))
                    .col(string_len(ComplaintChannels::Kind, 16))
                    .col(string_len(ComplaintChannels::Label, 100))
                    .col(string_len(ComplaintChannels::Value, 200))
                    .col(string_len_null(ComplaintChannels::Hours, 100))
                    .col(timestamp_with_time_zone(ComplaintChannels::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_complaint_channels_county")
                            .from(ComplaintChannels::Table, ComplaintChannels::CountyId)
                            .to(regions, id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_complaint_channels_county")
                    .table(ComplaintChannels::Table)
                    .col(ComplaintChannels::CountyId)
                    .col(ComplaintChannels::Position)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ComplaintChannels::Table.into_iden(),
            ComplaintConflicts::Table.into_iden(),
            ComplaintExchanges::Table.into_iden(),
            Complaints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
