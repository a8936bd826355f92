//! Satisfaction callbacks (满意度回访): the county centre's samples of finished cases (with the
//! seed that reproduces each), the callback tasks (one per case and year: a sampled case, or a
//! real-name bad rating's automatic one), and every call attempt. Also the claim a delivery
//! worker holds on a provincial delivery (so that a late answer of an expired claim cannot
//! overwrite a newer one): a nullable column, no table rewrite.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallbackSamples {
    Table,
    Id,
    CountyId,
    FromDay,
    UntilDay,
    Seed,
    Requested,
    Candidates,
    Drawn,
    DrawnBy,
    DrawnAt,
}

#[derive(DeriveIden)]
enum CallbackTasks {
    Table,
    Id,
    CountyId,
    CaseId,
    UnitId,
    Year,
    Source,
    SampleId,
    RatingId,
    AssignedTo,
    Status,
    Attempts,
    NextAttemptOn,
    Answers,
    Misconduct,
    AnsweredAt,
    AnsweredBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ProvincialDeliveries {
    Table,
    Claim,
}

#[derive(DeriveIden)]
enum CallbackAttempts {
    Table,
    Id,
    TaskId,
    At,
    Outcome,
    CallerId,
    Note,
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
            .alter_table(
                Table::alter()
                    .table(ProvincialDeliveries::Table)
                    .add_column(uuid_null(ProvincialDeliveries::Claim))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallbackSamples::Table)
                    .col(pk_uuid(CallbackSamples::Id))
                    .col(uuid(CallbackSamples::CountyId))
                    .col(date(CallbackSamples::FromDay))
                    .col(date(CallbackSamples::UntilDay))
                    .col(string_len(CallbackSamples::Seed, 32))
                    .col(string_len(CallbackSamples::Requested, 32))
                    .col(integer(CallbackSamples::Candidates))
                    .col(integer(CallbackSamples::Drawn))
                    .col(uuid(CallbackSamples::DrawnBy))
                    .col(timestamp_with_time_zone(CallbackSamples::DrawnAt))
                    .foreign_key(&mut fk(
                        "fk_callback_samples_county",
                        (CallbackSamples::Table, CallbackSamples::CountyId),
                        "regions",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallbackTasks::Table)
                    .col(pk_uuid(CallbackTasks::Id))
                    .col(uuid(CallbackTasks::CountyId))
                    .col(uuid(CallbackTasks::CaseId))
                    .col(uuid(CallbackTasks::UnitId))
                    .col(integer(CallbackTasks::Year))
                    .col(string_len(CallbackTasks::Source, 16))
                    .col(uuid_null(CallbackTasks::SampleId))
                    .col(uuid_null(CallbackTasks::RatingId))
                    .col(uuid_null(CallbackTasks::AssignedTo))
                    .col(string_len(CallbackTasks::Status, 16))
                    .col(integer(CallbackTasks::Attempts))
                    .col(date(CallbackTasks::NextAttemptOn))
                    .col(text_null(CallbackTasks::Answers))
                    .col(boolean(CallbackTasks::Misconduct).default(false))
                    .col(timestamp_with_time_zone_null(CallbackTasks::AnsweredAt))
                    .col(uuid_null(CallbackTasks::AnsweredBy))
                    .col(timestamp_with_time_zone(CallbackTasks::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_callback_tasks_case",
                        (CallbackTasks::Table, CallbackTasks::CaseId),
                        "cases",
                    ))
                    .foreign_key(&mut fk(
                        "fk_callback_tasks_unit",
                        (CallbackTasks::Table, CallbackTasks::UnitId),
                        "regions",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_callback_tasks_case_year")
                    .table(CallbackTasks::Table)
                    .col(CallbackTasks::CaseId)
                    .col(CallbackTasks::Year)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_callback_tasks_county_status")
                    .table(CallbackTasks::Table)
                    .col(CallbackTasks::CountyId)
                    .col(CallbackTasks::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallbackAttempts::Table)
                    .col(pk_uuid(CallbackAttempts::Id))
                    .col(uuid(CallbackAttempts::TaskId))
                    .col(timestamp_with_time_zone(CallbackAttempts::At))
                    .col(string_len(CallbackAttempts::Outcome, 16))
                    .col(uuid(CallbackAttempts::CallerId))
                    .col(text_null(CallbackAttempts::Note))
                    .foreign_key(&mut fk(
                        "fk_callback_attempts_task",
                        (CallbackAttempts::Table, CallbackAttempts::TaskId),
                        "callback_tasks",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_callback_attempts_task")
                    .table(CallbackAttempts::Table)
                    .col(CallbackAttempts::TaskId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CallbackAttempts::Table.into_iden(),
            CallbackTasks::Table.into_iden(),
            CallbackSamples::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ProvincialDeliveries::Table)
                    .drop_column(ProvincialDeliveries::Claim)
                    .to_owned(),
            )
            .await
    }
}
