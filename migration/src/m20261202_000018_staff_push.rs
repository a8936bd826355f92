//! Staff on WeChat: the WeChat user (the `users` row of an openid) a staff account bound with
//! `bindStaffWechat` (one per account, and one account per WeChat user), whom each push delivery
//! is for (a resident, or which staff account), and when a transfer or escalation left
//! unanswered past its `respond_by` was flagged.
//!
//! Every change adds a nullable column or one with a constant default (no table rewrite on
//! PostgreSQL 11 or later); the unique index is on the small staff table.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffAccounts {
    Table,
    WechatUserId,
    WechatBoundAt,
}

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
    Recipient,
    StaffId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CaseTransfers {
    Table,
    OverdueFlaggedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .add_column(
                        uuid_null(StaffAccounts::WechatUserId)
                            .extra("REFERENCES \"users\" (\"id\") ON DELETE SET NULL"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .add_column(timestamp_with_time_zone_null(StaffAccounts::WechatBoundAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_staff_accounts_wechat_user")
                    .table(StaffAccounts::Table)
                    .col(StaffAccounts::WechatUserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PushDeliveries::Table)
                    .add_column(string_len(PushDeliveries::Recipient, 16).default("resident"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PushDeliveries::Table)
                    .add_column(
                        uuid_null(PushDeliveries::StaffId)
                            .extra("REFERENCES \"staff_accounts\" (\"id\") ON DELETE RESTRICT"),
                    )
                    .to_owned(),
            )
            .await?;
        // A staff member's own messages are listed by this key, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_push_deliveries_staff")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::StaffId)
                    .col(PushDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CaseTransfers::Table)
                    .add_column(timestamp_with_time_zone_null(
                        CaseTransfers::OverdueFlaggedAt,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CaseTransfers::Table)
                    .drop_column(CaseTransfers::OverdueFlaggedAt)
                    .to_owned(),
            )
            .await?;
        // Staff messages mean nothing to the code before this migration (it would list them
        // as the WeChat user's own): they go with the columns.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM \"push_deliveries\" WHERE \"recipient\" = 'staff'")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_push_deliveries_staff")
                    .table(PushDeliveries::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PushDeliveries::Table)
                    .drop_column(PushDeliveries::StaffId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PushDeliveries::Table)
                    .drop_column(PushDeliveries::Recipient)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_staff_accounts_wechat_user")
                    .table(StaffAccounts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .drop_column(StaffAccounts::WechatBoundAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(StaffAccounts::Table)
                    .drop_column(StaffAccounts::WechatUserId)
                    .to_owned(),
            )
            .await
    }
}
