//! The relay: moves committed outbox rows to the broker in seq order, in batches claimed with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL (so any number of instances may run it), woken right
//! after each commit and by polling as a fallback. A row is marked published only after the
//! broker took it; when the broker is down the rows wait and are published once it is back.
use std::{sync::Arc, time::Duration};

use chrono::Duration as ChronoDuration;
use entity::outbox;
use sea_orm::{
    ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};

use crate::{
    error::{AppError, AppResult},
    events::broker::load_envelopes,
    state::AppState,
};

/// Publishes one batch; returns how many rows it published.
pub async fn publish_batch(state: &AppState, limit: u64) -> AppResult<usize> {
    let txn = crate::db::begin_write(&state.db).await?;
    let mut query = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .limit(limit);
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = query.all(&txn).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let event_seqs: Vec<i64> = rows.iter().map(|r| r.event_seq).collect();
    let envelopes = load_envelopes(&txn, &event_seqs)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    for envelope in &envelopes {
        if let Err(error) = state.broker.publish(envelope).await {
            // Roll back: the rows stay unpublished and are retried.
            drop(txn);
            return Err(AppError::internal(anyhow::anyhow!(error)));
        }
    }
    let outbox_seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::PublishedAt,
            Expr::value(Some(state.clock.now())),
        )
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .filter(outbox::Column::Seq.is_in(outbox_seqs))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows.len())
}

/// Publishes until nothing is left.
pub async fn drain(state: &AppState) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let published = publish_batch(state, 200).await?;
        if published == 0 {
            return Ok(total);
        }
        total += published;
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
