//! Booking: per-point policy, slots with a guarded seat count, bookings, idempotency keys and
//! the ledger (台账) of every contact.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BookingPolicies {
    Table,
    ServicePointId,
    SlotMinutes,
    SeatsPerAgent,
    WindowDays,
    MinNoticeMinutes,
    CancelCutoffMinutes,
    MaxOpenBookings,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Slots {
    Table,
    Id,
    ServicePointId,
    Day,
    StartsAt,
    EndsAt,
    Capacity,
    Booked,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    Id,
    Code,
    SlotId,
    ServicePointId,
    ItemId,
    UserId,
    Kind,
    EnterpriseName,
    CreditCode,
    Note,
    Status,
    OpenMarker,
    Channel,
    ReasonCode,
    Explanation,
    ReviewedBy,
    ReviewedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    RequestHash,
    BookingId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    ServicePointId,
    BookingId,
    UserId,
    ItemId,
    Channel,
    Outcome,
    AgentId,
    OccurredAt,
    Backfilled,
    EnteredBy,
    EnteredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BookingPolicies::Table)
                    .col(uuid(BookingPolicies::ServicePointId).primary_key())
                    .col(integer(BookingPolicies::SlotMinutes))
                    .col(integer(BookingPolicies::SeatsPerAgent))
                    .col(integer(BookingPolicies::WindowDays))
                    .col(integer(BookingPolicies::MinNoticeMinutes))
                    .col(integer(BookingPolicies::CancelCutoffMinutes))
                    .col(integer(BookingPolicies::MaxOpenBookings))
                    .col(timestamp_with_time_zone(BookingPolicies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Slots::Table)
                    .col(pk_uuid(Slots::Id))
                    .col(uuid(Slots::ServicePointId))
                    .col(date(Slots::Day))
                    .col(timestamp_with_time_zone(Slots::StartsAt))
                    .col(timestamp_with_time_zone(Slots::EndsAt))
                    .col(integer(Slots::Capacity))
                    .col(integer(Slots::Booked))
                    .check(Expr::col(Slots::Booked).lte(Expr::col(Slots::Capacity)))
                    .check(Expr::col(Slots::Booked).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_slots_point_start")
                    .table(Slots::Table)
                    .col(Slots::ServicePointId)
                    .col(Slots::StartsAt)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Bookings::Table)
                    .col(pk_uuid(Bookings::Id))
                    .col(string_len_uniq(Bookings::Code, 8))
                    .col(uuid(Bookings::SlotId))
                    .col(uuid(Bookings::ServicePointId))
                    .col(uuid(Bookings::ItemId))
                    .col(uuid(Bookings::UserId))
                    .col(string_len(Bookings::Kind, 16))
                    .col(string_len_null(Bookings::EnterpriseName, 100))
                    .col(string_len_null(Bookings::CreditCode, 18))
                    .col(text_null(Bookings::Note))
                    .col(string_len(Bookings::Status, 16))
                    // 1 while the booking is open, NULL after: NULLs never collide in a unique
                    // index, so "one open booking per resident per slot" needs no partial index.
                    .col(integer_null(Bookings::OpenMarker))
                    .col(string_len(Bookings::Channel, 24))
                    .col(string_len_null(Bookings::ReasonCode, 32))
                    .col(text_null(Bookings::Explanation))
                    .col(uuid_null(Bookings::ReviewedBy))
                    .col(timestamp_with_time_zone_null(Bookings::ReviewedAt))
                    .col(timestamp_with_time_zone(Bookings::CreatedAt))
                    .col(timestamp_with_time_zone(Bookings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_bookings_open_per_slot")
                    .table(Bookings::Table)
                    .col(Bookings::SlotId)
                    .col(Bookings::UserId)
                    .col(Bookings::OpenMarker)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bookings_user")
                    .table(Bookings::Table)
                    .col(Bookings::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::Key, 64))
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    .col(uuid(IdempotencyKeys::BookingId))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(pk_uuid(LedgerEntries::Id))
                    .col(uuid(LedgerEntries::ServicePointId))
                    .col(uuid_null(LedgerEntries::BookingId))
                    .col(uuid_null(LedgerEntries::UserId))
                    .col(uuid_null(LedgerEntries::ItemId))
                    .col(string_len(LedgerEntries::Channel, 24))
                    .col(string_len(LedgerEntries::Outcome, 24))
                    .col(uuid_null(LedgerEntries::AgentId))
                    .col(timestamp_with_time_zone(LedgerEntries::OccurredAt))
                    .col(boolean(LedgerEntries::Backfilled))
                    .col(uuid_null(LedgerEntries::EnteredBy))
                    .col(timestamp_with_time_zone(LedgerEntries::EnteredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_point_time")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::ServicePointId)
                    .col(LedgerEntries::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LedgerEntries::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            Bookings::Table.into_iden(),
            Slots::Table.into_iden(),
            BookingPolicies::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
