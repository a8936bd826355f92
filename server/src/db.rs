//! Database connection: PostgreSQL when `database.url` is set, else SQLite (WAL) under the data
//! directory. Migrations are applied by `connect_and_migrate`.
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::Settings;

/// The URL in force: the configured one, or the embedded SQLite file.
pub fn database_url(settings: &Settings) -> anyhow::Result<String> {
    if let Some(url) = &settings.database.url {
        return Ok(url.expose().to_string());
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    Ok(format!(
        "sqlite:{}?mode=rwc",
        settings.data_dir.join("bangban.db").display()
    ))
}

pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = database_url(settings)?;
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(
            settings
                .database
                .max_connections
                .unwrap_or(if sqlite { 4 } else { 16 }),
        )
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if sqlite {
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sqlx_sqlite_journal_wal())
                .synchronous(sqlx_sqlite_sync_normal())
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    let mut db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    db.set_metric_callback(|_| {
        let _ = STATEMENTS.try_with(|count| count.fetch_add(1, Ordering::Relaxed));
    });
    Ok(db)
}

tokio::task_local! {
    /// The statements sent by the work running in this scope (see [`counting`]).
    static STATEMENTS: Arc<AtomicU64>;
}

/// Runs `work`, counting the SQL statements it sends (and those of the batch loads it
/// starts, see `graphql::loaders`): how the read paths are measured.
pub async fn counting<F: Future>(work: F) -> (F::Output, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let out = STATEMENTS.scope(count.clone(), work).await;
    (out, count.load(Ordering::Relaxed))
}

/// The counter of the scope this runs in, to hand to work spawned from it.
pub fn statement_counter() -> Option<Arc<AtomicU64>> {
    STATEMENTS.try_with(Clone::clone).ok()
}

/// Runs spawned `work` in the counting scope it was started from, if any.
pub async fn counted_by<F: Future>(counter: Option<Arc<AtomicU64>>, work: F) -> F::Output {
    match counter {
        Some(count) => STATEMENTS.scope(count, work).await,
        None => work.await,
    }
}

fn sqlx_sqlite_journal_wal() -> sea_orm::sqlx::sqlite::SqliteJournalMode {
    sea_orm::sqlx::sqlite::SqliteJournalMode::Wal
}

fn sqlx_sqlite_sync_normal() -> sea_orm::sqlx::sqlite::SqliteSynchronous {
    sea_orm::sqlx::sqlite::SqliteSynchronous::Normal
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// A transaction that will write: on SQLite it takes the write lock at `BEGIN` (IMMEDIATE), so
/// that two read-then-write transactions cannot deadlock on lock upgrade; on PostgreSQL it is
/// an ordinary transaction.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// True when a write failed on a unique index (someone else took the value first).
pub fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The opaque cursor of a list ordered by (instant, id) — the ledger, the case lists:
/// `<microseconds>_<uuid>`, exact on both databases (they store microseconds).
pub fn page_cursor(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    format!("{}_{id}", at.timestamp_micros())
}

/// A cursor back into its (instant, id); BAD_USER_INPUT `after` when it is not one.
pub fn parse_page_cursor(
    cursor: &str,
) -> crate::error::AppResult<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> {
    let bad = || crate::error::AppError::bad_input("after", "not a cursor from a previous page");
    let (micros, id) = cursor.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, uuid::Uuid::parse_str(id).map_err(|_| bad())?))
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_anything_else_is_refused() {
        let at = chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let id = uuid::Uuid::now_v7();
        assert_eq!(parse_page_cursor(&page_cursor(at, id)).unwrap(), (at, id));
        for bad in ["", "123", "x_y", "123_not-a-uuid", &format!("abc_{id}")] {
            assert_eq!(
                parse_page_cursor(bad).unwrap_err().code(),
                "BAD_USER_INPUT",
                "{bad}"
            );
        }
    }
}
