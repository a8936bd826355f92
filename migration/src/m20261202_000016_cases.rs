//! Cases (办件): the case with its human number per county and year, its trail of steps (the
//! timeline the applicant follows and the internal notes they never see), the units that held
//! it, the pauses of its clock, the entrustment (代办服务委托书), the materials in custody
//! (申报材料移交清单) with every move, and transfers between the three levels.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CaseCounters {
    Table,
    CountyId,
    Year,
    LastNumber,
}

#[derive(DeriveIden)]
enum Cases {
    Table,
    Id,
    Number,
    CountyId,
    Year,
    Kind,
    Status,
    Origin,
    BookingId,
    LedgerEntryId,
    UserId,
    EnterpriseName,
    CreditCode,
    ItemId,
    OriginUnitId,
    UnitId,
    ServicePointId,
    AgentId,
    PromisedDays,
    AcceptedOn,
    DueOn,
    DueProvisional,
    DueFlag,
    WaitingSince,
    ReasonCode,
    Explanation,
    SubmittedRef,
    TerminationReason,
    Outcome,
    Delivery,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum CaseSteps {
    Table,
    Id,
    CaseId,
    At,
    Action,
    FromStatus,
    ToStatus,
    ActorKind,
    ActorId,
    UnitId,
    PublicNote,
    InternalNote,
    Details,
}

#[derive(DeriveIden)]
enum CasePauses {
    Table,
    Id,
    CaseId,
    FromDay,
    UntilDay,
    Note,
}

#[derive(DeriveIden)]
enum CaseHoldings {
    Table,
    Id,
    CaseId,
    UnitId,
    FromAt,
    UntilAt,
}

#[derive(DeriveIden)]
enum Entrustments {
    Table,
    Id,
    CaseId,
    Html,
    ContentHash,
    ValidUntil,
    CreatedAt,
    ApplicantConfirmedAt,
    AgentConfirmedAt,
    AgentId,
    RevokedAt,
}

#[derive(DeriveIden)]
enum CaseMaterials {
    Table,
    Id,
    CaseId,
    Name,
    Original,
    Copies,
    Status,
    Location,
    MustReturn,
    HolderStaffId,
    HeldSince,
    ReceivedAt,
    ReceivedBy,
    HandedAt,
    HandedBy,
    ReturnedAt,
    ReturnedBy,
}

#[derive(DeriveIden)]
enum MaterialCustody {
    Table,
    Id,
    MaterialId,
    CaseId,
    Holder,
    HolderStaffId,
    Note,
    FromAt,
    UntilAt,
    RecordedBy,
}

#[derive(DeriveIden)]
enum CaseTransfers {
    Table,
    Id,
    CaseId,
    Direction,
    FromUnit,
    ToUnit,
    Status,
    Reason,
    RequestedBy,
    RequestedAt,
    RespondBy,
    RespondedBy,
    RespondedAt,
    ResponseNote,
}

fn child_of_case<T: IntoIden + 'static>(
    table: T,
    column: T,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Cases::Table, Cases::Id)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseCounters::Table)
                    .col(uuid(CaseCounters::CountyId))
                    .col(integer(CaseCounters::Year))
                    .col(big_integer(CaseCounters::LastNumber))
                    .primary_key(
                        Index::create()
                            .col(CaseCounters::CountyId)
                            .col(CaseCounters::Year),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Cases::Table)
                    .col(pk_uuid(Cases::Id))
                    .col(string_len_uniq(Cases::Number, 32))
                    .col(uuid(Cases::CountyId))
                    .col(integer(Cases::Year))
                    .col(string_len(Cases::Kind, 16))
                    .col(string_len(Cases::Status, 24))
                    .col(string_len(Cases::Origin, 16))
                    .col(uuid_null(Cases::BookingId).unique_key())
                    .col(uuid_null(Cases::LedgerEntryId))
                    .col(uuid_null(Cases::UserId))
                    .col(string_len_null(Cases::EnterpriseName, 100))
                    .col(string_len_null(Cases::CreditCode, 18))
                    .col(uuid(Cases::ItemId))
                    .col(uuid(Cases::OriginUnitId))
                    .col(uuid(Cases::UnitId))
                    .col(uuid_null(Cases::ServicePointId))
                    .col(uuid_null(Cases::AgentId))
                    .col(integer(Cases::PromisedDays))
                    .col(date_null(Cases::AcceptedOn))
                    .col(date_null(Cases::DueOn))
                    .col(boolean(Cases::DueProvisional).default(false))
                    .col(string_len(Cases::DueFlag, 16).default("on_track"))
                    .col(date_null(Cases::WaitingSince))
                    .col(string_len_null(Cases::ReasonCode, 32))
                    .col(text_null(Cases::Explanation))
                    .col(string_len_null(Cases::SubmittedRef, 64))
                    .col(string_len_null(Cases::TerminationReason, 32))
                    .col(text_null(Cases::Outcome))
                    .col(text_null(Cases::Delivery))
                    .col(timestamp_with_time_zone(Cases::CreatedAt))
                    .col(timestamp_with_time_zone(Cases::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Cases::ClosedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cases_item")
                            .from(Cases::Table, Cases::ItemId)
                            .to(Alias::new("items"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cases_booking")
                            .from(Cases::Table, Cases::BookingId)
                            .to(Alias::new("bookings"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_cases_unit",
                vec![Cases::UnitId, Cases::CreatedAt, Cases::Id],
            ),
            (
                "idx_cases_user",
                vec![Cases::UserId, Cases::CreatedAt, Cases::Id],
            ),
            (
                "idx_cases_county",
                vec![Cases::CountyId, Cases::CreatedAt, Cases::Id],
            ),
            ("idx_cases_due", vec![Cases::Status, Cases::DueOn]),
            ("idx_cases_item", vec![Cases::ItemId]),
        ] {
            let mut index = Index::create().name(name).table(Cases::Table).to_owned();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        // One case per ledger contact (NULLs, cases from bookings, are distinct).
        manager
            .create_index(
                Index::create()
                    .name("idx_cases_ledger_entry")
                    .table(Cases::Table)
                    .col(Cases::LedgerEntryId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseSteps::Table)
                    .col(pk_uuid(CaseSteps::Id))
                    .col(uuid(CaseSteps::CaseId))
                    .col(timestamp_with_time_zone(CaseSteps::At))
                    .col(string_len(CaseSteps::Action, 32))
                    .col(string_len_null(CaseSteps::FromStatus, 24))
                    .col(string_len_null(CaseSteps::ToStatus, 24))
                    .col(string_len(CaseSteps::ActorKind, 16))
                    .col(uuid_null(CaseSteps::ActorId))
                    .col(uuid_null(CaseSteps::UnitId))
                    .col(text_null(CaseSteps::PublicNote))
                    .col(text_null(CaseSteps::InternalNote))
                    .col(text(CaseSteps::Details))
                    .foreign_key(&mut child_of_case(
                        CaseSteps::Table,
                        CaseSteps::CaseId,
                        "fk_case_steps_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_steps_case")
                    .table(CaseSteps::Table)
                    .col(CaseSteps::CaseId)
                    .col(CaseSteps::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CasePauses::Table)
                    .col(pk_uuid(CasePauses::Id))
                    .col(uuid(CasePauses::CaseId))
                    .col(date(CasePauses::FromDay))
                    .col(date_null(CasePauses::UntilDay))
                    .col(text(CasePauses::Note))
                    .foreign_key(&mut child_of_case(
                        CasePauses::Table,
                        CasePauses::CaseId,
                        "fk_case_pauses_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseHoldings::Table)
                    .col(pk_uuid(CaseHoldings::Id))
                    .col(uuid(CaseHoldings::CaseId))
                    .col(uuid(CaseHoldings::UnitId))
                    .col(timestamp_with_time_zone(CaseHoldings::FromAt))
                    .col(timestamp_with_time_zone_null(CaseHoldings::UntilAt))
                    .foreign_key(&mut child_of_case(
                        CaseHoldings::Table,
                        CaseHoldings::CaseId,
                        "fk_case_holdings_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Entrustments::Table)
                    .col(pk_uuid(Entrustments::Id))
                    .col(uuid_uniq(Entrustments::CaseId))
                    .col(text(Entrustments::Html))
                    .col(string_len(Entrustments::ContentHash, 64))
                    .col(date(Entrustments::ValidUntil))
                    .col(timestamp_with_time_zone(Entrustments::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        Entrustments::ApplicantConfirmedAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        Entrustments::AgentConfirmedAt,
                    ))
                    .col(uuid_null(Entrustments::AgentId))
                    .col(timestamp_with_time_zone_null(Entrustments::RevokedAt))
                    .foreign_key(&mut child_of_case(
                        Entrustments::Table,
                        Entrustments::CaseId,
                        "fk_entrustments_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseMaterials::Table)
                    .col(pk_uuid(CaseMaterials::Id))
                    .col(uuid(CaseMaterials::CaseId))
                    .col(string_len(CaseMaterials::Name, 100))
                    .col(boolean(CaseMaterials::Original))
                    .col(integer(CaseMaterials::Copies))
                    .col(string_len(CaseMaterials::Status, 16))
                    .col(string_len_null(CaseMaterials::Location, 100))
                    .col(boolean(CaseMaterials::MustReturn))
                    .col(uuid_null(CaseMaterials::HolderStaffId))
                    .col(timestamp_with_time_zone(CaseMaterials::HeldSince))
                    .col(timestamp_with_time_zone(CaseMaterials::ReceivedAt))
                    .col(uuid(CaseMaterials::ReceivedBy))
                    .col(timestamp_with_time_zone_null(CaseMaterials::HandedAt))
                    .col(uuid_null(CaseMaterials::HandedBy))
                    .col(timestamp_with_time_zone_null(CaseMaterials::ReturnedAt))
                    .col(uuid_null(CaseMaterials::ReturnedBy))
                    .foreign_key(&mut child_of_case(
                        CaseMaterials::Table,
                        CaseMaterials::CaseId,
                        "fk_case_materials_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MaterialCustody::Table)
                    .col(pk_uuid(MaterialCustody::Id))
                    .col(uuid(MaterialCustody::MaterialId))
                    .col(uuid(MaterialCustody::CaseId))
                    .col(string_len(MaterialCustody::Holder, 16))
                    .col(uuid_null(MaterialCustody::HolderStaffId))
                    .col(text_null(MaterialCustody::Note))
                    .col(timestamp_with_time_zone(MaterialCustody::FromAt))
                    .col(timestamp_with_time_zone_null(MaterialCustody::UntilAt))
                    .col(uuid(MaterialCustody::RecordedBy))
                    .foreign_key(&mut child_of_case(
                        MaterialCustody::Table,
                        MaterialCustody::CaseId,
                        "fk_material_custody_case",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseTransfers::Table)
                    .col(pk_uuid(CaseTransfers::Id))
                    .col(uuid(CaseTransfers::CaseId))
                    .col(string_len(CaseTransfers::Direction, 8))
                    .col(uuid(CaseTransfers::FromUnit))
                    .col(uuid(CaseTransfers::ToUnit))
                    .col(string_len(CaseTransfers::Status, 16))
                    .col(text(CaseTransfers::Reason))
                    .col(uuid(CaseTransfers::RequestedBy))
                    .col(timestamp_with_time_zone(CaseTransfers::RequestedAt))
                    .col(timestamp_with_time_zone(CaseTransfers::RespondBy))
                    .col(uuid_null(CaseTransfers::RespondedBy))
                    .col(timestamp_with_time_zone_null(CaseTransfers::RespondedAt))
                    .col(text_null(CaseTransfers::ResponseNote))
                    .foreign_key(&mut child_of_case(
                        CaseTransfers::Table,
                        CaseTransfers::CaseId,
                        "fk_case_transfers_case",
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, table, col) in [
            (
                "idx_case_pauses_case",
                CasePauses::Table.into_iden(),
                CasePauses::CaseId.into_iden(),
            ),
            (
                "idx_case_holdings_case",
                CaseHoldings::Table.into_iden(),
                CaseHoldings::CaseId.into_iden(),
            ),
            (
                "idx_case_materials_case",
                CaseMaterials::Table.into_iden(),
                CaseMaterials::CaseId.into_iden(),
            ),
            (
                "idx_material_custody_material",
                MaterialCustody::Table.into_iden(),
                MaterialCustody::MaterialId.into_iden(),
            ),
            (
                "idx_case_transfers_case",
                CaseTransfers::Table.into_iden(),
                CaseTransfers::CaseId.into_iden(),
            ),
            (
                "idx_case_transfers_to",
                CaseTransfers::Table.into_iden(),
                CaseTransfers::ToUnit.into_iden(),
            ),
        ] {
            manager
                .create_index(Index::create().name(name).table(table).col(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CaseTransfers::Table.into_iden(),
            MaterialCustody::Table.into_iden(),
            CaseMaterials::Table.into_iden(),
            Entrustments::Table.into_iden(),
            CaseHoldings::Table.into_iden(),
            CasePauses::Table.into_iden(),
            CaseSteps::Table.into_iden(),
            Cases::Table.into_iden(),
            CaseCounters::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
