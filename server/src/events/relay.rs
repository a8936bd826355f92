//! The relay: gives committed events their position and publishes them in that order.
//!
//! A step takes the `event_head` row's lock (PostgreSQL: `FOR UPDATE`; SQLite: the write lock
//! of `BEGIN IMMEDIATE`), so one relay at a time, whatever the number of instances, hands out
//! positions. It reads the unpublished outbox rows — only committed ones are visible, which is
//! the point: an event inserted early but committed late gets a later position — positions the
//! new ones after the head, and publishes them one by one in position order, marking each one
//! published as the broker takes it (a failure stops the step; the rest waits for the next).
//! On PostgreSQL the lock is held through the publishing, so two instances never interleave
//! their streams. On SQLite (one instance) the positions are committed first and the
//! publishing happens outside the write transaction, which would otherwise hold the whole
//! database's write lock across network calls.
use std::{sync::Arc, time::Duration};

use chrono::Duration as ChronoDuration;
use entity::{event_head, events, outbox};
use sea_orm::{
    ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{CaseStatement, Expr, ExprTrait, LockType},
};

use crate::{
    error::{AppError, AppResult},
    events::{Envelope, broker::load_envelopes},
    state::AppState,
};

/// Positions and publishes one batch; returns how many events it published.
pub async fn publish_batch(state: &AppState, limit: u64) -> AppResult<usize> {
    let postgres = state.db.get_database_backend() == DatabaseBackend::Postgres;
    let txn = crate::db::begin_write(&state.db).await?;
    let mut head_query = event_head::Entity::find_by_id(1);
    if postgres {
        head_query = head_query.lock(LockType::Update);
    }
    let head = head_query
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("event head row missing")))?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .limit(limit)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let event_seqs: Vec<i64> = rows.iter().map(|r| r.event_seq).collect();
    let mut envelopes = load_envelopes(&txn, &event_seqs)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    // Positioned before (a publish failed after positioning) go first, in their order; the new
    // ones follow in insert order.
    envelopes.sort_by_key(|e| (e.position.is_none(), e.position, e.seq));
    let mut next = head.position;
    let mut case = CaseStatement::new();
    let mut positioned = Vec::new();
    for envelope in envelopes.iter_mut().filter(|e| e.position.is_none()) {
        next += 1;
        envelope.position = Some(next);
        case = case.case(events::Column::Seq.eq(envelope.seq), Expr::val(next));
        positioned.push(envelope.seq);
    }
    if !positioned.is_empty() {
        events::Entity::update_many()
            .col_expr(events::Column::Position, case.into())
            .filter(events::Column::Seq.is_in(positioned))
            .exec(&txn)
            .await?;
        event_head::Entity::update_many()
            .col_expr(event_head::Column::Position, Expr::val(next))
            .filter(event_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
    }
    let outbox_of = |envelope: &Envelope| {
        rows.iter()
            .find(|r| r.event_seq == envelope.seq)
            .map(|r| r.seq)
    };
    if postgres {
        let published = publish_in_order(state, &envelopes).await;
        let seqs: Vec<i64> = envelopes[..published]
            .iter()
            .filter_map(outbox_of)
            .collect();
        mark_published(state, &txn, seqs).await?;
        txn.commit().await?;
        finish(published, envelopes.len())
    } else {
        txn.commit().await?;
        let published = publish_in_order(state, &envelopes).await;
        let seqs: Vec<i64> = envelopes[..published]
            .iter()
            .filter_map(outbox_of)
            .collect();
        let txn = crate::db::begin_write(&state.db).await?;
        mark_published(state, &txn, seqs).await?;
        txn.commit().await?;
        finish(published, envelopes.len())
    }
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

async fn mark_published(
    state: &AppState,
    conn: &impl sea_orm::ConnectionTrait,
    outbox_seqs: Vec<i64>,
) -> AppResult<()> {
    if outbox_seqs.is_empty() {
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
        .filter(outbox::Column::Seq.is_in(outbox_seqs))
        .exec(conn)
        .await?;
    Ok(())
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
