//! Durable reactions: how one room acts on another room's events without importing it.
//!
//! A room that must follow a change made elsewhere (the booking room resizing slots when the
//! directory changes a staff member's duty) implements [`Reaction`] and is registered where the
//! application is assembled. When a [`super::Tx`] writes an event some reaction follows, it also
//! writes a task row in the same transaction, so the reaction cannot be forgotten: after the
//! commit the task is tried at once in the committing instance, and any worker on any instance
//! takes it again if that attempt failed or the instance died. Tasks are claimed with a guarded
//! update that leases them (`due_at` moves past the lease), so two workers never run one task at
//! the same time, and a task whose worker stopped mid-way is due again when the lease ends.
//! Reactions therefore run at least once — twice at the same time if a run outlasts its lease —
//! and must be idempotent: recompute from the current state, never add a delta, and put any
//! message they send through the push queue (which sends each once) rather than sending it
//! themselves. A reaction's own commits queue their reactions for the workers (never inline),
//! so reactions do not nest. A task that keeps failing is retried every 10 minutes, counted
//! in `reaction_failures_total` and logged with its error; it is never dropped.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use entity::reaction_tasks;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};

use super::{broker::load_envelopes, model::Envelope};
use crate::{
    error::{AppError, AppResult},
    state::AppState,
};

/// One room's reaction to some event kinds. Runs at least once per event, possibly more than
/// once and possibly late: it reads the current state and makes its own rows agree with it.
#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// A stable name, stored with each task (`<room>.<what>`, at most 64 characters).
    fn name(&self) -> &'static str;
    /// Whether events of this kind concern it.
    fn follows(&self, kind: &str) -> bool;
    /// Acts on one event, in transactions of its own.
    async fn react(&self, state: &AppState, event: &Envelope) -> AppResult<()>;
}

/// The reactions of every room, registered where the application is assembled.
#[derive(Clone, Default)]
pub struct Reactions {
    list: Vec<Arc<dyn Reaction>>,
}

impl Reactions {
    pub fn new(list: Vec<Arc<dyn Reaction>>) -> Self {
        Self { list }
    }

    fn following<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Arc<dyn Reaction>> {
        self.list.iter().filter(move |r| r.follows(kind))
    }

    fn named(&self, name: &str) -> Option<&Arc<dyn Reaction>> {
        self.list.iter().find(|r| r.name() == name)
    }
}

/// How long a claimed task is left to its worker before another may take it.
pub const LEASE: Duration = Duration::minutes(2);

/// Pure: how long after its `attempts`-th failed attempt a task is due again (1 s doubling,
/// at most 10 minutes; it is never given up: the failure is counted and logged instead).
pub fn retry_after(attempts: i32) -> Duration {
    let exponent = Ord::min(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0), 16);
    Duration::seconds(Ord::min(1_i64 << exponent, 600))
}

/// Writes one task per (event, reaction following it); called by `Tx` before its commit.
/// Returns the new tasks' ids, to be tried right after the commit.
pub(crate) async fn queue(
    txn: &impl ConnectionTrait,
    reactions: &Reactions,
    written: &[Envelope],
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    for event in written {
        for reaction in reactions.following(&event.kind) {
            let task = reaction_tasks::ActiveModel {
                reaction: Set(reaction.name().into()),
                event_seq: Set(event.seq),
                attempts: Set(0),
                due_at: Set(now),
                last_error: Set(None),
                created_at: Set(now),
                done_at: Set(None),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            ids.push(task.id);
        }
    }
    Ok(ids)
}

/// What became of one task a worker looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done now.
    Done,
    /// Failed; due again later.
    Retry,
    /// Not due, already done, or taken by another worker.
    Skipped,
}

/// Runs one task if it is due: leases it, reacts, and marks it done or due again.
pub async fn run_task(state: &AppState, id: i64) -> AppResult<Outcome> {
    let now = state.clock.now();
    let claimed = reaction_tasks::Entity::update_many()
        .col_expr(
            reaction_tasks::Column::Attempts,
            Expr::col(reaction_tasks::Column::Attempts).add(1),
        )
        .col_expr(reaction_tasks::Column::DueAt, Expr::value(now + LEASE))
        .filter(reaction_tasks::Column::Id.eq(id))
        .filter(reaction_tasks::Column::DoneAt.is_null())
        .filter(reaction_tasks::Column::DueAt.lte(now))
        .exec(&state.db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(Outcome::Skipped);
    }
    let task = reaction_tasks::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("reaction task"))?;
    let result = IN_REACTION.scope((), react(state, &task)).await;
    let later = state.clock.now();
    let outcome = match &result {
        Ok(()) => Outcome::Done,
        Err(error) => {
            state
                .metrics
                .reaction_failures
                .with_label_values(&[task.reaction.as_str()])
                .inc();
            tracing::warn!(
                reaction = task.reaction,
                event_seq = task.event_seq,
                attempts = task.attempts,
                error = error.message(),
                "a reaction to an event failed; it will be retried"
            );
            Outcome::Retry
        }
    };
    // Fenced by the attempt this worker claimed: a worker whose lease ran out (another took
    // the task meanwhile) does not overwrite the newer attempt's record.
    let finish = reaction_tasks::Entity::update_many()
        .filter(reaction_tasks::Column::Id.eq(id))
        .filter(reaction_tasks::Column::Attempts.eq(task.attempts));
    let finish = match result {
        Ok(()) => finish
            .col_expr(reaction_tasks::Column::DoneAt, Expr::value(Some(later)))
            .col_expr(
                reaction_tasks::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Err(error) => finish
            .col_expr(
                reaction_tasks::Column::DueAt,
                Expr::value(later + retry_after(task.attempts)),
            )
            .col_expr(
                reaction_tasks::Column::LastError,
                Expr::value(Some(error.message().chars().take(500).collect::<String>())),
            ),
    };
    finish.exec(&state.db).await?;
    Ok(outcome)
}

async fn react(state: &AppState, task: &reaction_tasks::Model) -> AppResult<()> {
    let Some(reaction) = state.reactions.named(&task.reaction) else {
        return Err(AppError::internal(anyhow::anyhow!(
            "no reaction named {} is registered",
            task.reaction
        )));
    };
    let event = load_envelopes(&state.db, &[task.event_seq])
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!(e.to_string())))?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound("event"))?;
    reaction.react(state, &event).await
}

tokio::task_local! {
    /// Set while a reaction runs: the tasks its own commits queue are left to the workers
    /// rather than run inline, so reactions never nest (and a cycle of reactions never
    /// recurses inside one request).
    static IN_REACTION: ();
}

/// Whether the current task is running a reaction.
pub(crate) fn in_reaction() -> bool {
    IN_REACTION.try_with(|_| ()).is_ok()
}

/// Tries the tasks a commit just wrote, in the committing instance. A failure is left to the
/// workers (it is logged and counted, never returned: the change itself has committed).
pub(crate) async fn run_now(state: &AppState, ids: &[i64]) {
    for &id in ids {
        if let Err(error) = run_task(state, id).await {
            tracing::warn!(
                task = id,
                error = error.message(),
                "could not run a reaction right after its commit; a worker will"
            );
        }
    }
}

/// One round of a worker: the due tasks, oldest first (at most `limit`). Returns how many it
/// completed.
pub async fn run_due(state: &AppState, limit: u64) -> AppResult<usize> {
    let now = state.clock.now();
    let due: Vec<i64> = reaction_tasks::Entity::find()
        .select_only()
        .column(reaction_tasks::Column::Id)
        .filter(reaction_tasks::Column::DoneAt.is_null())
        .filter(reaction_tasks::Column::DueAt.lte(now))
        .order_by_asc(reaction_tasks::Column::DueAt)
        .limit(limit)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut done = 0;
    for id in due {
        if run_task(state, id).await? == Outcome::Done {
            done += 1;
        }
    }
    Ok(done)
}

/// Runs rounds every `poll` until shutdown.
pub async fn run_forever(state: Arc<AppState>, poll: std::time::Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match run_due(&state, 64).await {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(
                        error = error.message(),
                        "reaction worker cannot reach the database; will retry"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_ten_minutes() {
        for (attempts, seconds) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (5, 16),
            (10, 512),
            (11, 600),
            (40, 600),
            (i32::MAX, 600),
        ] {
            assert_eq!(
                retry_after(attempts),
                Duration::seconds(seconds),
                "after {attempts} attempts"
            );
        }
    }
}
