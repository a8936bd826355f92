//! The booking scenarios' baseline: the raw seat transaction (guarded `UPDATE slots` + `INSERT`)
//! run directly against the database.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use anyhow::bail;
use futures_util::{StreamExt, stream};

use crate::stats::percentile;

/// Concurrent connections of the hot-row baseline.
pub(crate) const HOT_ROW_CONNECTIONS: usize = 64;

/// A baseline run's figures.
pub(crate) struct Baseline {
    pub(crate) per_second: f64,
    pub(crate) p99_ms: f64,
}

/// The raw seat transaction run directly against the database: `connections` connections, each
/// looping `BEGIN; UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity;
/// INSERT INTO bookings …; COMMIT` over `rows` slot rows (one: the hot row), `transactions` in
/// all. The tables are scratch copies shaped like `slots` and `bookings` (same checks and unique
/// indexes), with room for every transaction.
pub(crate) async fn seat_sql_baseline(
    database: &str,
    tag: &str,
    rows: usize,
    transactions: usize,
    connections: usize,
) -> anyhow::Result<Baseline> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let mut options = sea_orm::ConnectOptions::new(database);
    options
        .max_connections(u32::try_from(connections)?)
        .min_connections(u32::try_from(connections)?)
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let slots = format!("baseline_{tag}_slots");
    let bookings = format!("baseline_{tag}_bookings");
    for ddl in [
        format!(
            "CREATE TABLE {slots} (id uuid PRIMARY KEY, capacity integer NOT NULL, booked integer NOT NULL, CHECK (booked <= capacity), CHECK (booked >= 0))"
        ),
        format!(
            "CREATE TABLE {bookings} (id uuid PRIMARY KEY, code varchar(8) NOT NULL UNIQUE, slot_id uuid NOT NULL, user_id uuid NOT NULL, status varchar(16) NOT NULL, open_marker integer, created_at timestamptz NOT NULL, UNIQUE (slot_id, user_id, open_marker))"
        ),
        format!("CREATE INDEX ON {bookings} (user_id)"),
    ] {
        db.execute_unprepared(&ddl).await?;
    }
    let ids: Vec<uuid::Uuid> = (0..rows).map(|_| uuid::Uuid::now_v7()).collect();
    let capacity = i32::try_from(transactions)?;
    for id in &ids {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("INSERT INTO {slots} (id, capacity, booked) VALUES ($1, $2, 0)"),
            [(*id).into(), capacity.into()],
        ))
        .await?;
    }
    // Every connection open before the clock starts.
    let opened: Vec<Result<_, sea_orm::DbErr>> = stream::iter(0..connections)
        .map(|_| db.execute_unprepared("SELECT pg_sleep(0.05)"))
        .buffer_unordered(connections)
        .collect()
        .await;
    for result in opened {
        result?;
    }

    let update = Arc::new(format!(
        "UPDATE {slots} SET booked = booked + 1 WHERE id = $1 AND booked < capacity"
    ));
    let insert = Arc::new(format!(
        "INSERT INTO {bookings} (id, code, slot_id, user_id, status, open_marker, created_at) VALUES ($1, $2, $3, $4, 'booked', 1, now())"
    ));
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (db, ids, next) = (db.clone(), ids.clone(), next.clone());
            let (update, insert) = (update.clone(), insert.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= transactions {
                        break;
                    }
                    let slot = ids[n % ids.len()];
                    let began = Instant::now();
                    let txn = db.begin().await?;
                    let taken = txn
                        .execute_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            update.as_str(),
                            [slot.into()],
                        ))
                        .await?;
                    if taken.rows_affected() != 1 {
                        bail!("baseline: the guarded UPDATE took no seat");
                    }
                    txn.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        insert.as_str(),
                        [
                            uuid::Uuid::now_v7().into(),
                            format!("{n:08}").into(),
                            slot.into(),
                            uuid::Uuid::new_v4().into(),
                        ],
                    ))
                    .await?;
                    txn.commit().await?;
                    latencies.push(began.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(transactions);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    db.close().await?;
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(Baseline {
        per_second: latencies.len() as f64 / elapsed,
        p99_ms: percentile(&latencies, 0.99),
    })
}
