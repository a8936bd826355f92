//! Referential integrity of the booking desk: rows that name other rows are held to them by the
//! database itself (on both backends), and the migration that adds the keys refuses to run over
//! orphans, reporting each, without changing anything.
use bangban_server::config::{Secret, Settings};
use chrono::Utc;
use entity::{slots, staff_duty_days};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use uuid::Uuid;

use crate::{
    booking::{BOOK, desk},
    helpers::{expect_data, fresh_postgres_database, postgres_backend},
};

fn orphan_duty_day() -> staff_duty_days::ActiveModel {
    staff_duty_days::ActiveModel {
        staff_id: Set(Uuid::now_v7()),
        day: Set(Utc::now().date_naive()),
        on_duty: Set(false),
        set_by: Set(Uuid::now_v7()),
        set_at: Set(Utc::now()),
    }
}

#[tokio::test]
async fn rows_naming_missing_rows_are_refused_and_named_rows_cannot_be_deleted() {
    let desk = desk(1).await;
    let app = &desk.app;
    let refused = orphan_duty_day().insert(&app.state.db).await;
    assert!(
        refused.is_err(),
        "a duty day for a staff member who does not exist"
    );
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap();
    let resident = app.login_resident("held").await;
    expect_data(&app.as_(&resident, BOOK, desk.input(slot, "k")).await);
    let deleted = slots::Entity::delete_by_id(Uuid::parse_str(slot).unwrap())
        .exec(&app.state.db)
        .await;
    assert!(deleted.is_err(), "a booked slot cannot be deleted");
    let still = slots::Entity::find_by_id(Uuid::parse_str(slot).unwrap())
        .one(&app.state.db)
        .await
        .unwrap();
    assert!(still.is_some());
}

const FOREIGN_KEYS: &str = "m20261202_000011_booking_foreign_keys";

/// A database of its own, migrated to just before the foreign keys.
async fn database_before_the_keys() -> DatabaseConnection {
    let mut settings = Settings {
        data_dir: std::env::temp_dir().join(format!("bangban-test-{}", Uuid::new_v4().simple())),
        ..Settings::default()
    };
    if let Some((server, _)) = postgres_backend() {
        settings.database.url = Some(Secret::new(fresh_postgres_database(&server).await));
    }
    let db = bangban_server::db::connect(&settings).await.unwrap();
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == FOREIGN_KEYS)
        .expect("the foreign key migration");
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn the_foreign_key_migration_reports_orphans_and_changes_nothing() {
    let db = database_before_the_keys().await;
    orphan_duty_day().insert(&db).await.unwrap();
    let refused = Migrator::up(&db, None).await.expect_err("orphans stop it");
    let report = refused.to_string();
    for needle in [
        "staff_duty_days.staff_id -> staff_accounts.id: 1 row(s)",
        "staff_duty_days.set_by -> staff_accounts.id: 1 row(s)",
        "nothing was changed",
        "SELECT * FROM \"staff_duty_days\"",
    ] {
        assert!(report.contains(needle), "{needle} in {report}");
    }
    assert!(
        !report.contains("bookings."),
        "only keys with orphans: {report}"
    );
    let pending = Migrator::get_pending_migrations(&db).await.unwrap();
    assert_eq!(pending[0].name(), FOREIGN_KEYS, "it did not run");
    // Nothing changed: an orphan is still accepted.
    orphan_duty_day().insert(&db).await.unwrap();

    staff_duty_days::Entity::delete_many()
        .exec(&db)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(orphan_duty_day().insert(&db).await.is_err());
}

/// A database of its own with every migration applied.
async fn database_migrated() -> DatabaseConnection {
    let mut settings = Settings {
        data_dir: std::env::temp_dir().join(format!("bangban-test-{}", Uuid::new_v4().simple())),
        ..Settings::default()
    };
    if let Some((server, _)) = postgres_backend() {
        settings.database.url = Some(Secret::new(fresh_postgres_database(&server).await));
    }
    let db = bangban_server::db::connect(&settings).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

#[tokio::test]
async fn every_migration_goes_down_and_up_again() {
    let db = database_migrated().await;
    let all = Migrator::migrations().len();
    // Down one at a time from the newest, naming the one that cannot.
    for step in 0..all {
        let name = Migrator::migrations()[all - 1 - step].name().to_string();
        Migrator::down(&db, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{name} does not go down: {e}"));
    }
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        all,
        "all undone"
    );
    Migrator::up(&db, None)
        .await
        .unwrap_or_else(|e| panic!("up again: {e}"));
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
}
