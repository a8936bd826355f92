//! Loading the calendar from the database, shipping the official tables, and admin edits.
use chrono::{DateTime, NaiveDate, Utc};
use entity::{calendar_days, calendar_years};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set, sea_query::OnConflict,
};
use serde_json::json;

use crate::{
    audit,
    auth::Viewer,
    calendar::model::{CalendarDay, OFFICIAL_YEARS, WorkingCalendar, official_days},
    clock::local_date,
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    state::AppState,
};

/// Loads the official tables for years not loaded yet. Never overwrites a day an admin edited.
pub async fn ensure_official(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<()> {
    let loaded: Vec<i32> = calendar_years::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|y| y.year)
        .collect();
    for year in OFFICIAL_YEARS {
        if loaded.contains(&year) {
            continue;
        }
        use chrono::Datelike;
        for day in official_days()
            .into_iter()
            .filter(|d| d.date.year() == year)
        {
            calendar_days::Entity::insert(calendar_days::ActiveModel {
                date: Set(day.date),
                is_workday: Set(day.is_workday),
                name: Set(day.name),
                source: Set("official".into()),
                updated_by: Set(None),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(calendar_days::Column::Date)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        }
        calendar_years::Entity::insert(calendar_years::ActiveModel { year: Set(year) })
            .on_conflict(
                OnConflict::column(calendar_years::Column::Year)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// The calendar as stored (a few hundred rows; read per use so that edits apply at once on
/// every instance).
pub async fn load(conn: &impl ConnectionTrait) -> AppResult<WorkingCalendar> {
    let years = calendar_years::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|y| y.year)
        .collect();
    let days = calendar_days::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|d| CalendarDay {
            date: d.date,
            is_workday: d.is_workday,
            name: d.name,
        });
    Ok(WorkingCalendar::new(days, years))
}

/// Days from `from` to `to` inclusive (at most 366).
pub async fn days(
    conn: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<(CalendarDay, bool)>> {
    if to < from {
        return Err(AppError::bad_input("to", "must not be before `from`"));
    }
    if (to - from).num_days() > 366 {
        return Err(AppError::bad_input("to", "at most 366 days at a time"));
    }
    let calendar = load(conn).await?;
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            let day = calendar.day(d);
            (day.value, day.provisional)
        })
        .collect())
}

/// The working calendar is the deployment's, shared by all its counties: its administrator
/// edits it only while the deployment serves one county (FORBIDDEN with several, where one
/// county's admin would change every county's working days). Its audit rows are deployment-wide
/// (no county), read by every county's auditors.
async fn ensure_calendar_admin(conn: &impl ConnectionTrait, who: &Jurisdiction) -> AppResult<()> {
    who.ensure_county_admin()?;
    let counties = entity::regions::Entity::find()
        .filter(entity::regions::Column::Level.eq("county"))
        .limit(2)
        .count(conn)
        .await?;
    if counties > 1 {
        return Err(AppError::Forbidden(
            "the working calendar is shared by every county of this deployment; a county's administrator cannot change it".into(),
        ));
    }
    Ok(())
}

/// County admin of a one-county deployment: sets a future day as a working or rest day (e.g. a
/// local closure, or the days of next year's table once it is announced). Days of a year that is
/// not published yet take effect when the year is published with `publish_year`.
pub async fn set_day(
    state: &AppState,
    viewer: &Viewer,
    date: NaiveDate,
    is_workday: bool,
    name: Option<&str>,
) -> AppResult<CalendarDay> {
    let name = name.map(|n| text(n, "name", 32)).transpose()?;
    let now = state.clock.now();
    if date <= local_date(now) {
        return Err(AppError::bad_input(
            "date",
            "only future days can be edited",
        ));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    ensure_calendar_admin(&txn, &who).await?;
    calendar_days::Entity::insert(calendar_days::ActiveModel {
        date: Set(date),
        is_workday: Set(is_workday),
        name: Set(name.clone()),
        source: Set("admin".into()),
        updated_by: Set(Some(who.staff_id)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(calendar_days::Column::Date)
            .update_columns([
                calendar_days::Column::IsWorkday,
                calendar_days::Column::Name,
                calendar_days::Column::Source,
                calendar_days::Column::UpdatedBy,
                calendar_days::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    audit::Pending::action(
        now,
        viewer,
        None,
        "calendar.set_day",
        "calendar_day",
        date,
        json!({"isWorkday": is_workday, "name": name}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(CalendarDay {
        date,
        is_workday,
        name,
    })
}

/// County admin of a one-county deployment: marks a future year's table as published (its days entered with `setCalendarDay`),
/// so answers about that year stop being provisional.
pub async fn publish_year(state: &AppState, viewer: &Viewer, year: i32) -> AppResult<bool> {
    use chrono::Datelike;
    let now = state.clock.now();
    if year < local_date(now).year() || year > local_date(now).year() + 2 {
        return Err(AppError::bad_input(
            "year",
            "only this year or the next two",
        ));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    ensure_calendar_admin(&txn, &who).await?;
    let exists = calendar_years::Entity::find()
        .filter(calendar_years::Column::Year.eq(year))
        .one(&txn)
        .await?
        .is_some();
    if !exists {
        calendar_years::ActiveModel { year: Set(year) }
            .insert(&txn)
            .await?;
        audit::Pending::action(
            now,
            viewer,
            None,
            "calendar.publish_year",
            "calendar_year",
            year,
            json!({}),
        )
        .append(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(!exists)
}
