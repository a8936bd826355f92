//! Booking, continued: the no-show rule and its restrictions, review deadlines, reminders,
//! per-day duty, the waitlist with seat holds, on-site queue tickets, and richer ledger entries.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BookingPolicies {
    Table,
    NoShowLimit,
    NoShowWindowDays,
    NoShowBanDays,
    ReviewHours,
    GraceMinutes,
    HoldMinutes,
    RemindDayBeforeHour,
    RemindBeforeMinutes,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    CheckedInAt,
    ReviewOverdue,
    RemindedDayBefore,
    RemindedSoon,
    CreatedBy,
    Consent,
    RescheduledFrom,
}

#[derive(DeriveIden)]
enum Slots {
    Table,
    DutyCapacity,
    Capacity,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    ReasonCode,
    ApplicantNameEnc,
    Note,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffDutyDays {
    Table,
    StaffId,
    Day,
    OnDuty,
    SetBy,
    SetAt,
}

#[derive(DeriveIden)]
enum BookingRestrictions {
    Table,
    Id,
    UserId,
    StartsAt,
    Until,
    Reason,
    Status,
    Appeal,
    AppealedAt,
    DecidedBy,
    DecidedAt,
    Decision,
}

#[derive(DeriveIden)]
enum WaitlistEntries {
    Table,
    Id,
    SlotId,
    ServicePointId,
    UserId,
    ItemId,
    Kind,
    Status,
    OpenMarker,
    OfferedUntil,
    BookingId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum QueueTickets {
    Table,
    Id,
    ServicePointId,
    Day,
    Series,
    Number,
    Label,
    BookingId,
    UserId,
    SlotStartsAt,
    Status,
    CheckedInBy,
    CreatedAt,
    CalledAt,
    CalledBy,
    FinishedAt,
}

/// SQLite adds one column per ALTER TABLE.
async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, default) in [
            (BookingPolicies::NoShowLimit, 3),
            (BookingPolicies::NoShowWindowDays, 90),
            (BookingPolicies::NoShowBanDays, 30),
            (BookingPolicies::ReviewHours, 8),
            (BookingPolicies::GraceMinutes, 15),
            (BookingPolicies::HoldMinutes, 15),
            (BookingPolicies::RemindDayBeforeHour, 18),
            (BookingPolicies::RemindBeforeMinutes, 60),
        ] {
            add(
                manager,
                BookingPolicies::Table,
                integer(column).default(default).to_owned(),
            )
            .await?;
        }
        // The seats the agents on duty can serve; `capacity` is never below `booked`, so it stays
        // above this after agents go off duty until bookings leave the slot.
        add(
            manager,
            Slots::Table,
            integer(Slots::DutyCapacity).default(0).to_owned(),
        )
        .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Slots::Table)
                    .value(Slots::DutyCapacity, Expr::col(Slots::Capacity))
                    .to_owned(),
            )
            .await?;
        add(
            manager,
            Bookings::Table,
            timestamp_with_time_zone_null(Bookings::CheckedInAt),
        )
        .await?;
        for column in [
            Bookings::ReviewOverdue,
            Bookings::RemindedDayBefore,
            Bookings::RemindedSoon,
        ] {
            add(
                manager,
                Bookings::Table,
                boolean(column).default(false).to_owned(),
            )
            .await?;
        }
        add(manager, Bookings::Table, uuid_null(Bookings::CreatedBy)).await?;
        add(manager, Bookings::Table, text_null(Bookings::Consent)).await?;
        add(
            manager,
            Bookings::Table,
            uuid_null(Bookings::RescheduledFrom),
        )
        .await?;
        add(
            manager,
            LedgerEntries::Table,
            string_len_null(LedgerEntries::ReasonCode, 32),
        )
        .await?;
        add(
            manager,
            LedgerEntries::Table,
            text_null(LedgerEntries::ApplicantNameEnc),
        )
        .await?;
        add(
            manager,
            LedgerEntries::Table,
            text_null(LedgerEntries::Note),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffDutyDays::Table)
                    .col(uuid(StaffDutyDays::StaffId))
                    .col(date(StaffDutyDays::Day))
                    .col(boolean(StaffDutyDays::OnDuty))
                    .col(uuid(StaffDutyDays::SetBy))
                    .col(timestamp_with_time_zone(StaffDutyDays::SetAt))
                    .primary_key(
                        Index::create()
                            .col(StaffDutyDays::StaffId)
                            .col(StaffDutyDays::Day),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BookingRestrictions::Table)
                    .col(pk_uuid(BookingRestrictions::Id))
                    .col(uuid(BookingRestrictions::UserId))
                    .col(timestamp_with_time_zone(BookingRestrictions::StartsAt))
                    .col(timestamp_with_time_zone(BookingRestrictions::Until))
                    .col(text(BookingRestrictions::Reason))
                    .col(string_len(BookingRestrictions::Status, 16))
                    .col(text_null(BookingRestrictions::Appeal))
                    .col(timestamp_with_time_zone_null(
                        BookingRestrictions::AppealedAt,
                    ))
                    .col(uuid_null(BookingRestrictions::DecidedBy))
                    .col(timestamp_with_time_zone_null(
                        BookingRestrictions::DecidedAt,
                    ))
                    .col(text_null(BookingRestrictions::Decision))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_restrictions_user")
                    .table(BookingRestrictions::Table)
                    .col(BookingRestrictions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WaitlistEntries::Table)
                    .col(pk_uuid(WaitlistEntries::Id))
                    .col(uuid(WaitlistEntries::SlotId))
                    .col(uuid(WaitlistEntries::ServicePointId))
                    .col(uuid(WaitlistEntries::UserId))
                    .col(uuid(WaitlistEntries::ItemId))
                    .col(string_len(WaitlistEntries::Kind, 16))
                    .col(string_len(WaitlistEntries::Status, 16))
                    .col(integer_null(WaitlistEntries::OpenMarker))
                    .col(timestamp_with_time_zone_null(WaitlistEntries::OfferedUntil))
                    .col(uuid_null(WaitlistEntries::BookingId))
                    .col(timestamp_with_time_zone(WaitlistEntries::CreatedAt))
                    .col(timestamp_with_time_zone(WaitlistEntries::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_waitlist_open_per_slot")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::SlotId)
                    .col(WaitlistEntries::UserId)
                    .col(WaitlistEntries::OpenMarker)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_waitlist_slot_status")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::SlotId)
                    .col(WaitlistEntries::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QueueTickets::Table)
                    .col(pk_uuid(QueueTickets::Id))
                    .col(uuid(QueueTickets::ServicePointId))
                    .col(date(QueueTickets::Day))
                    .col(string_len(QueueTickets::Series, 1))
                    .col(integer(QueueTickets::Number))
                    .col(string_len(QueueTickets::Label, 8))
                    .col(uuid_null(QueueTickets::BookingId))
                    .col(uuid_null(QueueTickets::UserId))
                    .col(timestamp_with_time_zone_null(QueueTickets::SlotStartsAt))
                    .col(string_len(QueueTickets::Status, 16))
                    .col(uuid_null(QueueTickets::CheckedInBy))
                    .col(timestamp_with_time_zone(QueueTickets::CreatedAt))
                    .col(timestamp_with_time_zone_null(QueueTickets::CalledAt))
                    .col(uuid_null(QueueTickets::CalledBy))
                    .col(timestamp_with_time_zone_null(QueueTickets::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_queue_number")
                    .table(QueueTickets::Table)
                    .col(QueueTickets::ServicePointId)
                    .col(QueueTickets::Day)
                    .col(QueueTickets::Series)
                    .col(QueueTickets::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_queue_booking")
                    .table(QueueTickets::Table)
                    .col(QueueTickets::BookingId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            QueueTickets::Table.into_iden(),
            WaitlistEntries::Table.into_iden(),
            BookingRestrictions::Table.into_iden(),
            StaffDutyDays::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
