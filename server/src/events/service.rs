//! The events room's service: [`Tx`], the one way to write an event (with its audience, its
//! outbox row and what each [`Recorder`] adds, in the transaction of the change), and the audit
//! entries that transaction appends last.
use std::ops::Deref;

use chrono::SubsecRound;
use entity::{event_audience, events, outbox};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, Set,
    Statement,
};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    error::AppResult,
    events::{
        model::{Envelope, EventDraft, viewer_key},
        reactions,
    },
    state::AppState,
};

/// Work another room records about events in the events' own transaction, so that it is
/// never lost (the push room's delivery rows). Registered where the application is assembled
/// (`lib.rs`); the event road calls each recorder and knows none of them.
#[async_trait::async_trait]
pub trait Recorder: Send + Sync + 'static {
    /// Inside the transaction, after the events are written: records this room's work about
    /// them; returns how many rows of work it queued. `actors[i]` is the audience key of
    /// whoever caused `written[i]`, when it was emitted with [`Tx::emit_by`] (known only to the
    /// writing transaction: it is not stored).
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        state: &AppState,
        written: &[Envelope],
        actors: &[Option<String>],
    ) -> AppResult<usize>;

    /// After the commit, when `record` queued work: wakes whoever does it.
    fn committed(&self, state: &AppState, queued: usize);
}

/// A write transaction that may emit events. `commit` writes the events, their audiences and
/// outbox rows in the same transaction as the state change, then wakes the relay.
pub struct Tx<'a> {
    txn: DatabaseTransaction,
    state: &'a AppState,
    /// Each queued event, with the audience key of whoever caused it when known.
    drafts: Vec<(EventDraft, Option<String>)>,
    audits: Vec<crate::audit::Pending>,
    /// Entries kept for the next day's audit job (`audit::deferred`).
    late_audits: Vec<crate::audit::Pending>,
    written: Vec<Envelope>,
    /// Who caused each written event (by the index in `written`).
    actors: Vec<Option<String>>,
    /// What each recorder wrote, by its index in `state.recorders`.
    recorded: Vec<usize>,
    reaction_tasks: Vec<i64>,
}

impl<'a> Tx<'a> {
    pub async fn begin(state: &'a AppState) -> AppResult<Self> {
        Ok(Self {
            txn: crate::db::begin_write(&state.db).await?,
            state,
            drafts: Vec::new(),
            audits: Vec::new(),
            late_audits: Vec::new(),
            written: Vec::new(),
            actors: Vec::new(),
            recorded: Vec::new(),
            reaction_tasks: Vec::new(),
        })
    }

    /// The application state the transaction runs in (its settings, its clock).
    pub fn state(&self) -> &'a AppState {
        self.state
    }

    /// Queues an event; it is written only if the transaction commits.
    pub fn emit(&mut self, draft: EventDraft) {
        self.drafts.push((draft, None));
    }

    /// Queues an event caused by `actor`: they hear it live like the rest of its audience, and
    /// the recorders know who acted (a staff member is not pushed about their own step).
    pub fn emit_by(&mut self, actor: &Viewer, draft: EventDraft) {
        self.drafts.push((draft, viewer_key(actor)));
    }

    /// Queues each of some events (none, one or several).
    pub fn emit_all(&mut self, drafts: impl IntoIterator<Item = EventDraft>) {
        self.drafts.extend(drafts.into_iter().map(|d| (d, None)));
    }

    /// Queues an audit entry; it is appended at the commit, after the events. Lock order: the
    /// audit head is the last lock a transaction takes (acting person → domain rows in id order
    /// → audit), so audited actions never deadlock with the rows they change and never hold the
    /// county-wide audit lock while they wait for a busy row.
    pub fn audit(&mut self, entry: crate::audit::Pending) {
        self.audits.push(entry);
    }

    /// Queues an audit entry to be written into the log after its China day has ended, stamped
    /// with the day, in random order with the day's others (`audit::deferred`): for an act whose
    /// moment would identify a protected person, such as a complainant's. It is kept in this
    /// transaction, so it cannot be lost; it takes no audit lock.
    pub fn audit_next_day(&mut self, entry: crate::audit::Pending) {
        self.late_audits.push(entry);
    }

    /// Writes the queued events with their audiences, outbox rows, push deliveries (the
    /// record of every message to send) and reaction tasks (the record of what other rooms
    /// must do about them), just before the commit. Their order for readers is
    /// given later, by the relay (see `relay`): the sequence taken here is insert order only.
    async fn write_events(&mut self) -> AppResult<()> {
        // Microseconds, as both databases store it: what the commit hands on equals what a
        // replay reads back.
        let now = self.state.clock.now().trunc_subsecs(6);
        for (draft, actor) in std::mem::take(&mut self.drafts) {
            let mut audience = draft.audience;
            audience.sort();
            audience.dedup();
            let row = events::Model {
                seq: 0,
                id: Uuid::now_v7(),
                kind: draft.kind.into(),
                topic: draft.topic.into(),
                subject_kind: draft.subject_kind.into(),
                subject_id: draft.subject_id,
                payload: draft.payload.to_string(),
                created_at: now,
                position: None,
            };
            let row = insert_event(&self.txn, row, &audience).await?;
            self.written.push(Envelope::from_row(row, audience));
            self.actors.push(actor);
        }
        self.recorded.clear();
        for recorder in &self.state.recorders {
            let n = recorder
                .record(&self.txn, self.state, &self.written, &self.actors)
                .await?;
            self.recorded.push(n);
        }
        self.reaction_tasks =
            reactions::queue(&self.txn, &self.state.reactions, &self.written, now).await?;
        Ok(())
    }

    /// Commits; then wakes the relay and push worker, and tries the reactions it queued (their
    /// failure does not fail the commit: the tasks stay due for the workers).
    pub async fn commit(mut self) -> AppResult<Vec<Envelope>> {
        self.write_events().await?;
        for entry in std::mem::take(&mut self.late_audits) {
            crate::audit::deferred::keep(&self.txn, entry).await?;
        }
        for entry in std::mem::take(&mut self.audits) {
            entry.append(&self.txn).await?;
        }
        self.txn.commit().await?;
        if !self.written.is_empty() {
            self.state.relay_wake.notify_one();
        }
        for (recorder, n) in self.state.recorders.iter().zip(&self.recorded) {
            if *n > 0 {
                recorder.committed(self.state, *n);
            }
        }
        if !self.reaction_tasks.is_empty()
            && self.state.settings.events.reactions_inline
            && !reactions::in_reaction()
        {
            reactions::run_now(self.state, &self.reaction_tasks).await;
        }
        Ok(self.written)
    }
}

/// Writes one event with its audience and outbox row; returns it with its sequence number. On
/// PostgreSQL one statement (the three inserts as one round trip, inside the caller's
/// transaction); SQLite has no writing `WITH`, so three.
async fn insert_event(
    txn: &DatabaseTransaction,
    mut row: events::Model,
    audience: &[String],
) -> AppResult<events::Model> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        let mut values: Vec<sea_orm::Value> = vec![
            row.id.into(),
            row.kind.clone().into(),
            row.topic.clone().into(),
            row.subject_kind.clone().into(),
            row.subject_id.clone().into(),
            row.payload.clone().into(),
            row.created_at.into(),
        ];
        let keys = (0..audience.len())
            .map(|n| format!("(${})", n + 8))
            .collect::<Vec<_>>()
            .join(", ");
        values.extend(audience.iter().map(|k| sea_orm::Value::from(k.clone())));
        let audience_insert = if audience.is_empty() {
            String::new()
        } else {
            format!(
                ", a AS (INSERT INTO event_audience (audience_key, event_seq) \
                 SELECT k.key, e.seq FROM e, (VALUES {keys}) AS k(key))"
            )
        };
        let sql = format!(
            "WITH e AS (INSERT INTO events (id, kind, topic, subject_kind, subject_id, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq){audience_insert}, \
             o AS (INSERT INTO outbox (event_seq, topic, created_at, attempts) \
             SELECT e.seq, $3, $7, 0 FROM e) \
             SELECT seq FROM e"
        );
        let written = txn
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql,
                values,
            ))
            .await?
            .ok_or_else(|| {
                crate::error::AppError::internal(anyhow::anyhow!("event not written"))
            })?;
        row.seq = written.try_get_by_index(0)?;
        return Ok(row);
    }
    let row = events::ActiveModel {
        id: Set(row.id),
        kind: Set(row.kind),
        topic: Set(row.topic),
        subject_kind: Set(row.subject_kind),
        subject_id: Set(row.subject_id),
        payload: Set(row.payload),
        created_at: Set(row.created_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    if !audience.is_empty() {
        event_audience::Entity::insert_many(audience.iter().map(|key| {
            event_audience::ActiveModel {
                audience_key: Set(key.clone()),
                event_seq: Set(row.seq),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    outbox::Entity::insert(outbox::ActiveModel {
        event_seq: Set(row.seq),
        topic: Set(row.topic.clone()),
        created_at: Set(row.created_at),
        published_at: Set(None),
        attempts: Set(0),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(row)
}

impl Deref for Tx<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
