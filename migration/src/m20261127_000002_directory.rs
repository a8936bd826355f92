//! The county's directory: regions, service points, staff units and personal data, the item
//! catalogue, the change registers, the working calendar and the hash-chained audit log.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Regions {
    Table,
    Id,
    Code,
    Name,
    Level,
    ParentId,
    Path,
    Demo,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ServicePoints {
    Table,
    Id,
    RegionId,
    Kind,
    Name,
    Address,
    PublicPhone,
    Latitude,
    Longitude,
    OpeningHours,
    Scene,
    QrCode,
    QrGeneratedAt,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffAccounts {
    Table,
    ServicePointId,
    PublicPhone,
    OnDuty,
    IdNumberEnc,
    IdNumberBidx,
    PhoneEnc,
    PhoneBidx,
    Email,
    Post,
}

#[derive(DeriveIden)]
enum Items {
    Table,
    Id,
    MainItem,
    InProvincialList,
    BusinessName,
    ItemType,
    OnIntegratedPlatform,
    HandlingType,
    AtMostOneVisit,
    PromisedWorkingDays,
    Materials,
    Levels,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StaffChangeRequests {
    Table,
    Id,
    RegionId,
    SubmittedBy,
    SubmittedAt,
    BeforeStaffId,
    BeforeName,
    Post,
    AfterName,
    AfterUsername,
    AfterRole,
    AfterServicePointId,
    AfterIdNumberEnc,
    AfterIdNumberBidx,
    AfterPhoneEnc,
    AfterEmail,
    ArrivalDate,
    Status,
    DecidedBy,
    DecidedAt,
    DecisionReason,
    AppliedAt,
    AppliedStaffId,
}

#[derive(DeriveIden)]
enum ItemChangeRequests {
    Table,
    Id,
    RegionId,
    SubmittedBy,
    SubmittedAt,
    BeforeItemId,
    BeforeItemName,
    BeforeItemType,
    After,
    EffectiveDate,
    Status,
    DecidedBy,
    DecidedAt,
    DecisionReason,
    AppliedAt,
    AppliedItemId,
}

#[derive(DeriveIden)]
enum CalendarDays {
    Table,
    Date,
    IsWorkday,
    Name,
    Source,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CalendarYears {
    Table,
    Year,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Seq,
    At,
    ActorKind,
    ActorId,
    Action,
    TargetKind,
    TargetId,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

async fn add_column(manager: &SchemaManager<'_>, column: ColumnDef) -> Result<(), DbErr> {
    // One column per statement: SQLite takes a single alteration at a time.
    manager
        .alter_table(
            Table::alter()
                .table(StaffAccounts::Table)
                .add_column(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Regions::Table)
                    .col(pk_uuid(Regions::Id))
                    .col(string_len_uniq(Regions::Code, 12))
                    .col(string_len(Regions::Name, 64))
                    .col(string_len(Regions::Level, 16))
                    .col(uuid_null(Regions::ParentId))
                    .col(string_len(Regions::Path, 160))
                    .col(boolean(Regions::Demo))
                    .col(timestamp_with_time_zone(Regions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_regions_parent")
                            .from(Regions::Table, Regions::ParentId)
                            .to(Regions::Table, Regions::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_regions_parent")
                    .table(Regions::Table)
                    .col(Regions::ParentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_regions_path")
                    .table(Regions::Table)
                    .col(Regions::Path)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ServicePoints::Table)
                    .col(pk_uuid(ServicePoints::Id))
                    .col(uuid(ServicePoints::RegionId))
                    .col(string_len(ServicePoints::Kind, 24))
                    .col(string_len(ServicePoints::Name, 64))
                    .col(string_len(ServicePoints::Address, 200))
                    .col(string_len_null(ServicePoints::PublicPhone, 32))
                    .col(double_null(ServicePoints::Latitude))
                    .col(double_null(ServicePoints::Longitude))
                    .col(text(ServicePoints::OpeningHours))
                    .col(string_len_uniq(ServicePoints::Scene, 32))
                    .col(blob_null(ServicePoints::QrCode))
                    .col(timestamp_with_time_zone_null(ServicePoints::QrGeneratedAt))
                    .col(boolean(ServicePoints::Active))
                    .col(timestamp_with_time_zone(ServicePoints::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_service_points_region")
                            .from(ServicePoints::Table, ServicePoints::RegionId)
                            .to(Regions::Table, Regions::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_service_points_region")
                    .table(ServicePoints::Table)
                    .col(ServicePoints::RegionId)
                    .to_owned(),
            )
            .await?;

        add_column(manager, uuid_null(StaffAccounts::ServicePointId)).await?;
        add_column(manager, string_len_null(StaffAccounts::PublicPhone, 32)).await?;
        add_column(
            manager,
            boolean(StaffAccounts::OnDuty).default(true).to_owned(),
        )
        .await?;
        add_column(manager, text_null(StaffAccounts::IdNumberEnc)).await?;
        add_column(manager, string_len_null(StaffAccounts::IdNumberBidx, 64)).await?;
        add_column(manager, text_null(StaffAccounts::PhoneEnc)).await?;
        add_column(manager, string_len_null(StaffAccounts::PhoneBidx, 64)).await?;
        add_column(manager, string_len_null(StaffAccounts::Email, 254)).await?;
        add_column(manager, string_len_null(StaffAccounts::Post, 64)).await?;

        manager
            .create_table(
                Table::create()
                    .table(Items::Table)
                    .col(pk_uuid(Items::Id))
                    .col(string_len(Items::MainItem, 200))
                    .col(boolean(Items::InProvincialList))
                    .col(string_len(Items::BusinessName, 200))
                    .col(string_len(Items::ItemType, 32))
                    .col(boolean(Items::OnIntegratedPlatform))
                    .col(string_len(Items::HandlingType, 16))
                    .col(boolean(Items::AtMostOneVisit))
                    .col(integer(Items::PromisedWorkingDays))
                    .col(text(Items::Materials))
                    .col(string_len(Items::Levels, 64))
                    .col(boolean(Items::Active))
                    .col(timestamp_with_time_zone(Items::CreatedAt))
                    .col(timestamp_with_time_zone(Items::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffChangeRequests::Table)
                    .col(pk_uuid(StaffChangeRequests::Id))
                    .col(uuid(StaffChangeRequests::RegionId))
                    .col(uuid(StaffChangeRequests::SubmittedBy))
                    .col(timestamp_with_time_zone(StaffChangeRequests::SubmittedAt))
                    .col(uuid_null(StaffChangeRequests::BeforeStaffId))
                    .col(string_len_null(StaffChangeRequests::BeforeName, 64))
                    .col(string_len(StaffChangeRequests::Post, 64))
                    .col(string_len(StaffChangeRequests::AfterName, 64))
                    .col(string_len(StaffChangeRequests::AfterUsername, 64))
                    .col(string_len(StaffChangeRequests::AfterRole, 32))
                    .col(uuid_null(StaffChangeRequests::AfterServicePointId))
                    .col(text(StaffChangeRequests::AfterIdNumberEnc))
                    .col(string_len(StaffChangeRequests::AfterIdNumberBidx, 64))
                    .col(text(StaffChangeRequests::AfterPhoneEnc))
                    .col(string_len(StaffChangeRequests::AfterEmail, 254))
                    .col(date(StaffChangeRequests::ArrivalDate))
                    .col(string_len(StaffChangeRequests::Status, 16))
                    .col(uuid_null(StaffChangeRequests::DecidedBy))
                    .col(timestamp_with_time_zone_null(
                        StaffChangeRequests::DecidedAt,
                    ))
                    .col(text_null(StaffChangeRequests::DecisionReason))
                    .col(timestamp_with_time_zone_null(
                        StaffChangeRequests::AppliedAt,
                    ))
                    .col(uuid_null(StaffChangeRequests::AppliedStaffId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ItemChangeRequests::Table)
                    .col(pk_uuid(ItemChangeRequests::Id))
                    .col(uuid(ItemChangeRequests::RegionId))
                    .col(uuid(ItemChangeRequests::SubmittedBy))
                    .col(timestamp_with_time_zone(ItemChangeRequests::SubmittedAt))
                    .col(uuid_null(ItemChangeRequests::BeforeItemId))
                    .col(string_len_null(ItemChangeRequests::BeforeItemName, 200))
                    .col(string_len_null(ItemChangeRequests::BeforeItemType, 32))
                    .col(text(ItemChangeRequests::After))
                    .col(date(ItemChangeRequests::EffectiveDate))
                    .col(string_len(ItemChangeRequests::Status, 16))
                    .col(uuid_null(ItemChangeRequests::DecidedBy))
                    .col(timestamp_with_time_zone_null(ItemChangeRequests::DecidedAt))
                    .col(text_null(ItemChangeRequests::DecisionReason))
                    .col(timestamp_with_time_zone_null(ItemChangeRequests::AppliedAt))
                    .col(uuid_null(ItemChangeRequests::AppliedItemId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CalendarDays::Table)
                    .col(date(CalendarDays::Date).primary_key())
                    .col(boolean(CalendarDays::IsWorkday))
                    .col(string_len_null(CalendarDays::Name, 32))
                    .col(string_len(CalendarDays::Source, 16))
                    .col(uuid_null(CalendarDays::UpdatedBy))
                    .col(timestamp_with_time_zone(CalendarDays::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarYears::Table)
                    .col(integer(CalendarYears::Year).primary_key())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_integer(AuditLog::Seq).primary_key())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len(AuditLog::ActorKind, 16))
                    .col(uuid_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::TargetKind, 32))
                    .col(string_len_null(AuditLog::TargetId, 64))
                    .col(text(AuditLog::Details))
                    .col(string_len(AuditLog::PrevHash, 64))
                    .col(string_len(AuditLog::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::Seq))
                    .col(string_len(AuditHead::Hash, 64))
                    .to_owned(),
            )
            .await?;
        let mut genesis = Query::insert();
        genesis
            .into_table(AuditHead::Table)
            .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
            .values([1.into(), 0i64.into(), "0".repeat(64).into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        manager.exec_stmt(genesis).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditHead::Table.into_iden(),
            AuditLog::Table.into_iden(),
            CalendarYears::Table.into_iden(),
            CalendarDays::Table.into_iden(),
            ItemChangeRequests::Table.into_iden(),
            StaffChangeRequests::Table.into_iden(),
            Items::Table.into_iden(),
            ServicePoints::Table.into_iden(),
            Regions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [
            StaffAccounts::ServicePointId,
            StaffAccounts::PublicPhone,
            StaffAccounts::OnDuty,
            StaffAccounts::IdNumberEnc,
            StaffAccounts::IdNumberBidx,
            StaffAccounts::PhoneEnc,
            StaffAccounts::PhoneBidx,
            StaffAccounts::Email,
            StaffAccounts::Post,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(StaffAccounts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
