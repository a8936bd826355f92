//! The cases of each callback sample's period: the candidates, with whether the draw picked
//! them, and those left out as called already that year. Anyone in the county centre can then
//! check a past draw: the recorded seed over the recorded candidates must pick exactly the
//! recorded cases, the record must hold every case of the period, and the sample's callbacks
//! must be exactly the drawn cases. Samples drawn before have nothing recorded (their check
//! says so).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallbackSampleCandidates {
    Table,
    SampleId,
    CaseId,
    UnitId,
    Drawn,
    Called,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallbackSampleCandidates::Table)
                    .col(uuid(CallbackSampleCandidates::SampleId))
                    .col(uuid(CallbackSampleCandidates::CaseId))
                    .col(uuid(CallbackSampleCandidates::UnitId))
                    .col(boolean(CallbackSampleCandidates::Drawn))
                    .col(boolean(CallbackSampleCandidates::Called))
                    .primary_key(
                        Index::create()
                            .col(CallbackSampleCandidates::SampleId)
                            .col(CallbackSampleCandidates::CaseId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_callback_sample_candidates_sample")
                            .from(
                                CallbackSampleCandidates::Table,
                                CallbackSampleCandidates::SampleId,
                            )
                            .to(Alias::new("callback_samples"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_callback_sample_candidates_case")
                            .from(
                                CallbackSampleCandidates::Table,
                                CallbackSampleCandidates::CaseId,
                            )
                            .to(Alias::new("cases"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(CallbackSampleCandidates::Table)
                    .to_owned(),
            )
            .await
    }
}
