//! Satisfaction (好差评): the invitation to rate a finished case (with its window), the ratings
//! (one per case and round — the unique index is what makes concurrent attempts end in exactly
//! one), the units and agents each rating is attributed to (every one that held the case), and
//! the rectification order every bad rating opens.
//!
//! New tables only: nothing existing is locked or rewritten.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RatingInvitations {
    Table,
    CaseId,
    CountyId,
    UserId,
    Outcome,
    InvitedAt,
    RateBy,
}

#[derive(DeriveIden)]
enum Ratings {
    Table,
    Id,
    CaseId,
    Round,
    CountyId,
    UnitId,
    ItemId,
    UserId,
    Anonymous,
    Level,
    Indicators,
    Text,
    TextState,
    TextLabel,
    TextCheckedAt,
    RatedAt,
    Excluded,
}

#[derive(DeriveIden)]
enum RatingAttributions {
    Table,
    Id,
    RatingId,
    UnitId,
    AgentId,
}

#[derive(DeriveIden)]
enum Rectifications {
    Table,
    Id,
    RatingId,
    CaseId,
    CountyId,
    UnitId,
    Status,
    DueOn,
    DueProvisional,
    Reached,
    Verification,
    VerifiedAt,
    VerifiedBy,
    Classification,
    Result,
    Reply,
    ResolvedAt,
    ResolvedBy,
    OverdueFlaggedAt,
    CreatedAt,
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
                    .table(RatingInvitations::Table)
                    .col(pk_uuid(RatingInvitations::CaseId))
                    .col(uuid(RatingInvitations::CountyId))
                    .col(uuid(RatingInvitations::UserId))
                    .col(string_len(RatingInvitations::Outcome, 16))
                    .col(timestamp_with_time_zone(RatingInvitations::InvitedAt))
                    .col(timestamp_with_time_zone(RatingInvitations::RateBy))
                    .foreign_key(&mut fk(
                        "fk_rating_invitations_case",
                        (RatingInvitations::Table, RatingInvitations::CaseId),
                        "cases",
                    ))
                    .foreign_key(&mut fk(
                        "fk_rating_invitations_user",
                        (RatingInvitations::Table, RatingInvitations::UserId),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rating_invitations_user")
                    .table(RatingInvitations::Table)
                    .col(RatingInvitations::UserId)
                    .col(RatingInvitations::InvitedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Ratings::Table)
                    .col(pk_uuid(Ratings::Id))
                    .col(uuid(Ratings::CaseId))
                    .col(integer(Ratings::Round))
                    .col(uuid(Ratings::CountyId))
                    .col(uuid(Ratings::UnitId))
                    .col(uuid(Ratings::ItemId))
                    .col(uuid(Ratings::UserId))
                    .col(boolean(Ratings::Anonymous))
                    .col(string_len(Ratings::Level, 24))
                    .col(text(Ratings::Indicators))
                    .col(text_null(Ratings::Text))
                    .col(string_len(Ratings::TextState, 16))
                    .col(integer_null(Ratings::TextLabel))
                    .col(timestamp_with_time_zone_null(Ratings::TextCheckedAt))
                    .col(timestamp_with_time_zone(Ratings::RatedAt))
                    .col(boolean(Ratings::Excluded).default(false))
                    .foreign_key(&mut fk(
                        "fk_ratings_case",
                        (Ratings::Table, Ratings::CaseId),
                        "cases",
                    ))
                    .foreign_key(&mut fk(
                        "fk_ratings_unit",
                        (Ratings::Table, Ratings::UnitId),
                        "regions",
                    ))
                    .foreign_key(&mut fk(
                        "fk_ratings_user",
                        (Ratings::Table, Ratings::UserId),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_ratings_case_round")
                    .table(Ratings::Table)
                    .col(Ratings::CaseId)
                    .col(Ratings::Round)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ratings_county_rated")
                    .table(Ratings::Table)
                    .col(Ratings::CountyId)
                    .col(Ratings::RatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ratings_text_state")
                    .table(Ratings::Table)
                    .col(Ratings::TextState)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RatingAttributions::Table)
                    .col(pk_uuid(RatingAttributions::Id))
                    .col(uuid(RatingAttributions::RatingId))
                    .col(uuid_null(RatingAttributions::UnitId))
                    .col(uuid_null(RatingAttributions::AgentId))
                    .foreign_key(&mut fk(
                        "fk_rating_attributions_rating",
                        (RatingAttributions::Table, RatingAttributions::RatingId),
                        "ratings",
                    ))
                    .foreign_key(&mut fk(
                        "fk_rating_attributions_unit",
                        (RatingAttributions::Table, RatingAttributions::UnitId),
                        "regions",
                    ))
                    .foreign_key(&mut fk(
                        "fk_rating_attributions_agent",
                        (RatingAttributions::Table, RatingAttributions::AgentId),
                        "staff_accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (
                "idx_rating_attributions_rating",
                RatingAttributions::RatingId,
            ),
            ("idx_rating_attributions_unit", RatingAttributions::UnitId),
            ("idx_rating_attributions_agent", RatingAttributions::AgentId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(RatingAttributions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Rectifications::Table)
                    .col(pk_uuid(Rectifications::Id))
                    .col(uuid_uniq(Rectifications::RatingId))
                    .col(uuid(Rectifications::CaseId))
                    .col(uuid(Rectifications::CountyId))
                    .col(uuid(Rectifications::UnitId))
                    .col(string_len(Rectifications::Status, 16))
                    .col(date(Rectifications::DueOn))
                    .col(boolean(Rectifications::DueProvisional))
                    .col(boolean_null(Rectifications::Reached))
                    .col(text_null(Rectifications::Verification))
                    .col(timestamp_with_time_zone_null(Rectifications::VerifiedAt))
                    .col(uuid_null(Rectifications::VerifiedBy))
                    .col(string_len_null(Rectifications::Classification, 16))
                    .col(text_null(Rectifications::Result))
                    .col(text_null(Rectifications::Reply))
                    .col(timestamp_with_time_zone_null(Rectifications::ResolvedAt))
                    .col(uuid_null(Rectifications::ResolvedBy))
                    .col(timestamp_with_time_zone_null(
                        Rectifications::OverdueFlaggedAt,
                    ))
                    .col(timestamp_with_time_zone(Rectifications::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_rectifications_rating",
                        (Rectifications::Table, Rectifications::RatingId),
                        "ratings",
                    ))
                    .foreign_key(&mut fk(
                        "fk_rectifications_unit",
                        (Rectifications::Table, Rectifications::UnitId),
                        "regions",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rectifications_due")
                    .table(Rectifications::Table)
                    .col(Rectifications::Status)
                    .col(Rectifications::DueOn)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rectifications_unit")
                    .table(Rectifications::Table)
                    .col(Rectifications::UnitId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Rectifications::Table.into_iden(),
            RatingAttributions::Table.into_iden(),
            Ratings::Table.into_iden(),
            RatingInvitations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
