//! Database schema, one migration per capability. Migrations are forward-only in production;
//! `down` exists for development. They run automatically on server start (embedded default)
//! or with `bangban migrate` (production deploys).
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_identity;
mod m20261127_000002_directory;
mod m20261127_000003_events;
mod m20261127_000004_booking;
mod m20261127_000005_booking_desk;
mod m20261201_000006_phone_owner;
mod m20261201_000007_push_work;
mod m20261201_000008_event_position;
mod m20261201_000009_check_in_window;
mod m20261202_000010_reaction_tasks;
pub mod m20261202_000011_booking_foreign_keys;
mod m20261202_000012_data_key_check;
mod m20261202_000013_event_lookups;
mod m20261202_000014_demo_staff;
mod m20261202_000015_counties;
mod m20261202_000016_cases;
mod m20261202_000017_plans_consultations;
mod m20261202_000018_staff_push;
mod m20261203_000019_case_latest_steps;
mod m20261207_000020_satisfaction;
mod m20261207_000021_satisfaction_followups;
mod m20261207_000022_callbacks;
mod m20261207_000023_callback_sources;
mod m20261207_000024_sample_candidates;
mod m20261207_000025_callback_comments;
mod m20261207_000026_comment_backfill;
mod m20261208_000027_complaints;
mod m20261208_000028_audit_deferred;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_identity::Migration),
            Box::new(m20261127_000002_directory::Migration),
            Box::new(m20261127_000003_events::Migration),
            Box::new(m20261127_000004_booking::Migration),
            Box::new(m20261127_000005_booking_desk::Migration),
            Box::new(m20261201_000006_phone_owner::Migration),
            Box::new(m20261201_000007_push_work::Migration),
            Box::new(m20261201_000008_event_position::Migration),
            Box::new(m20261201_000009_check_in_window::Migration),
            Box::new(m20261202_000010_reaction_tasks::Migration),
            Box::new(m20261202_000011_booking_foreign_keys::Migration),
            Box::new(m20261202_000012_data_key_check::Migration),
            Box::new(m20261202_000013_event_lookups::Migration),
            Box::new(m20261202_000014_demo_staff::Migration),
            Box::new(m20261202_000015_counties::Migration),
            Box::new(m20261202_000016_cases::Migration),
            Box::new(m20261202_000017_plans_consultations::Migration),
            Box::new(m20261202_000018_staff_push::Migration),
            Box::new(m20261203_000019_case_latest_steps::Migration),
            Box::new(m20261207_000020_satisfaction::Migration),
            Box::new(m20261207_000021_satisfaction_followups::Migration),
            Box::new(m20261207_000022_callbacks::Migration),
            Box::new(m20261207_000023_callback_sources::Migration),
            Box::new(m20261207_000024_sample_candidates::Migration),
            Box::new(m20261207_000025_callback_comments::Migration),
            Box::new(m20261207_000026_comment_backfill::Migration),
            Box::new(m20261208_000027_complaints::Migration),
            Box::new(m20261208_000028_audit_deferred::Migration),
        ]
    }
}
