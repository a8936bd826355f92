//! The relay: gives committed events their position, then publishes them in that order.
//!
//! A step has two parts, each under the `event_head` row's lock (PostgreSQL: `FOR UPDATE`;
//! SQLite: the write lock of `BEGIN IMMEDIATE`), and one relay of this instance at a time.
//! 1. **Position**: read the unpublished outbox rows (only committed ones are visible — the
//!    point: an event inserted early but committed late gets a later position), give the new
//!    ones the next positions, commit. Positions are durable before anyone can see the events,
//!    so a replay by position sees every event a live subscriber could have been sent.
//! 2. **Publish**: every positioned, unpublished event, in position order, one at a time, each
//!    marked published as the broker takes it (a failure stops the step; the rest waits). On
//!    PostgreSQL the head lock is held through the publishing, so two instances never
//!    interleave their streams; on SQLite (one instance) the in-process lock is enough, and the
//!    database's write lock is not held across network calls.
use std::{sync::Arc, time::Duration};

use chrono::Duration as ChronoDuration;
use entity::{event_head, events, outbox};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
    sea_query::{CaseStatement, Expr, ExprTrait, LockType, Order, Query},
};

use crate::{
    error::{AppError, AppResult},
    events::{Envelope, broker::with_audience},
    state::AppState,
};

/// Locks the head row for the rest of the transaction and returns its position.
async fn lock_head(
    state: &AppState,
    txn: &sea_orm::DatabaseTransaction,
) -> AppResult<event_head::Model> {
    let mut query = event_head::Entity::find_by_id(1);
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock(LockType::Update);
    }
    query
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("event head row missing")))
}

/// Positions and publishes one batch; returns how many events it published.
pub async fn publish_batch(state: &AppState, limit: u64) -> AppResult<usize> {
    let _one_relay_here = state.relay_lock.lock().await;
    position_batch(state, limit).await?;
    publish_positioned(state, limit).await
}

/// Part 1: the next positions for committed, unpositioned events (in insert order), committed.
async fn position_batch(state: &AppState, limit: u64) -> AppResult<()> {
    let txn = crate::db::begin_write(&state.db).await?;
    let head = lock_head(state, &txn).await?;
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        // One statement: the committed, unpositioned events (read after the lock is taken, so
        // every earlier step's positions are seen) get the next positions in insert order, and
        // the head moves past them.
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH new AS (SELECT e.seq, $1 + row_number() OVER (ORDER BY o.seq) AS pos \
               FROM outbox o JOIN events e ON e.seq = o.event_seq \
               WHERE o.published_at IS NULL AND e.position IS NULL ORDER BY o.seq LIMIT $2), \
             moved AS (UPDATE events SET position = new.pos FROM new \
               WHERE events.seq = new.seq RETURNING new.pos) \
             UPDATE event_head SET position = (SELECT max(pos) FROM moved) \
             WHERE id = 1 AND EXISTS (SELECT 1 FROM moved)",
            [
                head.position.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        return Ok(());
    }
    // The committed events still unpositioned, in insert order: one query (the outbox's
    // unpublished rows, joined to their events).
    let query = Query::select()
        .column((events::Entity, events::Column::Seq))
        .from(outbox::Entity)
        .inner_join(
            events::Entity,
            Expr::col((events::Entity, events::Column::Seq))
                .equals((outbox::Entity, outbox::Column::EventSeq)),
        )
        .and_where(Expr::col((outbox::Entity, outbox::Column::PublishedAt)).is_null())
        .and_where(Expr::col((events::Entity, events::Column::Position)).is_null())
        .order_by((outbox::Entity, outbox::Column::Seq), Order::Asc)
        .limit(limit)
        .to_owned();
    let new: Vec<i64> = txn
        .query_all(&query)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    if new.is_empty() {
        txn.commit().await?;
        return Ok(());
    }
    let mut next = head.position;
    let mut case = CaseStatement::new();
    for seq in &new {
        next += 1;
        case = case.case(events::Column::Seq.eq(*seq), Expr::val(next));
    }
    events::Entity::update_many()
        .col_expr(events::Column::Position, case.into())
        .filter(events::Column::Seq.is_in(new))
        .exec(&txn)
        .await?;
    event_head::Entity::update_many()
        .col_expr(event_head::Column::Position, Expr::val(next))
        .filter(event_head::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Part 2: publishes positioned, unpublished events in position order; returns how many.
async fn publish_positioned(state: &AppState, limit: u64) -> AppResult<usize> {
    let postgres = state.db.get_database_backend() == DatabaseBackend::Postgres;
    let txn = crate::db::begin_write(&state.db).await?;
    // SQLite reads the head without keeping the write lock (the relay lock orders steps here).
    let head = lock_head(state, &txn).await?;
    // In position order after the last published one (not outbox order: a late committer has
    // a low insert number and a high position); publishing is strictly in that order.
    let rows = events::Entity::find()
        .filter(events::Column::Position.gt(head.published_position))
        .order_by_asc(events::Column::Position)
        .limit(limit)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let envelopes = with_audience(&txn, rows)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    let held = if postgres {
        Some(txn)
    } else {
        // SQLite: the write lock is not held across the network calls.
        txn.commit().await?;
        None
    };
    let published = publish_in_order(state, &envelopes).await;
    let seqs: Vec<i64> = envelopes[..published].iter().map(|e| e.seq).collect();
    let txn = match held {
        Some(txn) => txn,
        None => crate::db::begin_write(&state.db).await?,
    };
    let last = envelopes[..published].last().and_then(|e| e.position);
    if postgres && let Some(last) = last {
        // The head and the outbox rows in one statement.
        let list = (0..seqs.len())
            .map(|n| format!("${}", n + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let mut values: Vec<sea_orm::Value> = vec![last.into(), state.clock.now().into()];
        values.extend(seqs.into_iter().map(sea_orm::Value::from));
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!(
                "WITH head AS (UPDATE event_head SET published_position = $1 WHERE id = 1) \
                 UPDATE outbox SET published_at = $2, attempts = attempts + 1 \
                 WHERE event_seq IN ({list}) AND published_at IS NULL"
            ),
            values,
        ))
        .await?;
        txn.commit().await?;
        return finish(published, envelopes.len());
    }
    if let Some(last) = last {
        event_head::Entity::update_many()
            .col_expr(event_head::Column::PublishedPosition, Expr::val(last))
            .filter(event_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
    }
    mark_published(state, &txn, seqs).await?;
    txn.commit().await?;
    finish(published, envelopes.len())
}

/// Publishes in order until the broker refuses one; returns how many it took.
async fn publish_in_order(state: &AppState, envelopes: &[Envelope]) -> usize {
    for (index, envelope) in envelopes.iter().enumerate() {
        if let Err(error) = state.broker.publish(envelope).await {
            tracing::warn!(%error, "the broker refused an event; the rest of the batch waits");
            return index;
        }
    }
    envelopes.len()
}

fn finish(published: usize, of: usize) -> AppResult<usize> {
    if published < of && published == 0 {
        return Err(AppError::internal(anyhow::anyhow!(
            "the broker is unavailable"
        )));
    }
    Ok(published)
}

/// Marks the outbox rows of these events (by event seq) published.
async fn mark_published(
    state: &AppState,
    conn: &impl sea_orm::ConnectionTrait,
    event_seqs: Vec<i64>,
) -> AppResult<()> {
    if event_seqs.is_empty() {
        return Ok(());
    }
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::PublishedAt,
            Expr::value(Some(state.clock.now())),
        )
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .filter(outbox::Column::EventSeq.is_in(event_seqs))
        .filter(outbox::Column::PublishedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Publishes until nothing is left. A batch smaller than the limit took everything there was,
/// so no further (empty) step is taken: an event committed meanwhile has woken the relay again
/// (the wake is kept until the relay waits for it).
pub async fn drain(state: &AppState) -> AppResult<usize> {
    const BATCH: u64 = 200;
    let mut total = 0;
    loop {
        let published = publish_batch(state, BATCH).await?;
        total += published;
        if (published as u64) < BATCH {
            return Ok(total);
        }
    }
}

/// Deletes published outbox rows older than `keep` (the events themselves stay).
pub async fn prune(state: &AppState, keep: ChronoDuration) -> AppResult<u64> {
    let cutoff = state.clock.now() - keep;
    let result = outbox::Entity::delete_many()
        .filter(outbox::Column::PublishedAt.lt(cutoff))
        .exec(&state.db)
        .await?;
    Ok(result.rows_affected)
}

/// Runs the relay until shutdown.
pub async fn run_forever(state: Arc<AppState>, poll: Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut failures: u32 = 0;
    let mut rounds: u64 = 0;
    loop {
        let wait = if failures == 0 {
            poll
        } else {
            Duration::from_millis(100 * 2u64.pow(std::cmp::min(failures, 5)))
        };
        tokio::select! {
            _ = state.relay_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        match drain(&state).await {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(
                        error = error.message(),
                        "outbox relay cannot publish yet; will retry"
                    );
                }
            }
        }
        rounds += 1;
        if rounds.is_multiple_of(1000)
            && let Err(error) = prune(&state, ChronoDuration::days(7)).await
        {
            tracing::warn!(error = error.message(), "outbox pruning failed");
        }
    }
}
