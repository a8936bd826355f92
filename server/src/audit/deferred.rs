//! Audit entries written a day late. Entries are numbered in the order they are written and
//! sit between entries of exact moments, so the entry of an act whose moment would identify a
//! protected person — a complainant filing, answering or appealing, whom the auditors, maybe
//! the accused, must not place — would tell them when it came. Such an entry is kept instead
//! in `audit_deferred`, in the act's own transaction ([`crate::events::Tx::audit_next_day`],
//! at its commit, before the audit appends), so it cannot be lost. This job writes the entries
//! of the days that have ended into the chain, in random order, each stamped with its day, in
//! one transaction whose only other writes are the claims. A deliberate exception to "the
//! audit append in the same transaction", documented here.
use async_trait::async_trait;
use entity::audit_deferred;
use rand::seq::SliceRandom;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{Actor, Pending},
    clock::day_of,
    error::AppResult,
    jobs::{Counts, ScheduledJobs, counts_or_first_failure},
    state::AppState,
};

/// Entries written per run.
const BATCH: u64 = 500;

/// Keeps `entry` for the job, stamped with its day only (inside the act's transaction).
pub(crate) async fn keep(conn: &impl ConnectionTrait, entry: Pending) -> AppResult<()> {
    let (actor_kind, actor_id) = entry.actor.parts();
    audit_deferred::ActiveModel {
        id: Set(Uuid::new_v4()),
        day: Set(day_of(entry.at)),
        actor_kind: Set(actor_kind.into()),
        actor_id: Set(actor_id),
        action: Set(entry.action),
        target_kind: Set(entry.target_kind),
        target_id: Set(entry.target_id),
        details: Set(entry.details.to_string()),
        county_id: Set(entry.county),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Writes the kept entries of the days before today (China); returns how many.
pub async fn write_due(state: &AppState) -> AppResult<u64> {
    let today = day_of(state.clock.now());
    // Chosen by id, which is random: no batch follows the order the acts came in.
    let due: Vec<Uuid> = audit_deferred::Entity::find()
        .select_only()
        .column(audit_deferred::Column::Id)
        .filter(audit_deferred::Column::Day.lt(today))
        .order_by_asc(audit_deferred::Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&state.db)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let txn = crate::db::begin_write(&state.db).await?;
    // Claimed in id order (the lock order) by deleting each: a concurrent run claims none twice.
    let mut claimed = Vec::with_capacity(due.len());
    for id in due {
        let Some(kept) = audit_deferred::Entity::find_by_id(id).one(&txn).await? else {
            continue;
        };
        let taken = audit_deferred::Entity::delete_many()
            .filter(audit_deferred::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if taken.rows_affected == 1 {
            claimed.push(kept);
        }
    }
    // Appended in random order: the log tells no order of the day's acts.
    claimed.shuffle(&mut rand::rngs::OsRng);
    let written = u64::try_from(claimed.len()).unwrap_or(u64::MAX);
    for kept in claimed {
        let actor = match (kept.actor_kind.as_str(), kept.actor_id) {
            ("staff", Some(id)) => Actor::Staff(id),
            ("resident", Some(id)) => Actor::Resident(id),
            _ => Actor::System,
        };
        Pending {
            at: kept.day,
            actor,
            action: kept.action,
            target_kind: kept.target_kind,
            target_id: kept.target_id,
            details: serde_json::from_str(&kept.details)
                .unwrap_or(serde_json::Value::String(kept.details)),
            county: kept.county_id,
        }
        .append(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(written)
}

/// The audit log's own job: the day-late entries.
pub struct AuditJobs;

#[async_trait]
impl ScheduledJobs for AuditJobs {
    fn room(&self) -> &'static str {
        "audit"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<Counts> {
        counts_or_first_failure([("audit_entries_written_late", write_due(state).await)])
    }
}
