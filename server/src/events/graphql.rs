//! Live events over the WebSocket: the viewer's own events, or one subject's. With `after`, the
//! server first replays from the database everything after that event, then switches to live
//! events — subscribed before the replay starts, so nothing falls in between, and deduplicated
//! by event id, so nothing arrives twice.
use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use async_graphql::{Context, ID, Json, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::{event_audience, events};
use futures_util::{StreamExt, stream::BoxStream};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    error::{AppError, AppResult},
    events::{
        Envelope,
        broker::load_envelopes,
        hub::{HubSubscription, audience_route, subject_route},
        model::{STAFF_KEY_FROM, STAFF_KEY_UNTIL},
        subjects::Sight,
        viewer_key,
    },
    graphql::context::{ContextExt, GqlResult},
    state::AppState,
};

/// Something that happened, as its audience sees it.
#[derive(SimpleObject, Clone)]
pub struct Event {
    /// The event id (UUIDv7). Pass the last one you saw as `after` when you reconnect.
    pub id: ID,
    /// What happened, e.g. `staff_change.decided`, `account.phone_bound`.
    pub kind: String,
    /// The kind of thing it happened to, e.g. `staff_change`, `account`.
    pub subject_kind: String,
    /// The id of the thing it happened to (for a queue, `queue:<servicePointId>:<date>`);
    /// pass it to `subjectEvents` to follow that thing.
    pub subject_id: ID,
    /// Details for display (no personal data in plain text).
    pub payload: Json<serde_json::Value>,
    /// UTC instant, ISO 8601.
    pub created_at: DateTime<Utc>,
}

impl From<&Envelope> for Event {
    fn from(e: &Envelope) -> Self {
        Self {
            id: ID(e.id.to_string()),
            kind: e.kind.clone(),
            subject_kind: e.subject_kind.clone(),
            subject_id: ID(e.subject_id.clone()),
            payload: Json(e.payload.clone()),
            created_at: e.created_at,
        }
    }
}

#[derive(Clone)]
enum Filter {
    Audience(String),
    /// A subject's events, as much of them as the viewer's sight admits: a resident, only
    /// those addressed to them (what staff record for themselves about a resident's case stays
    /// with staff); staff, all or (an anonymous rating's) those addressed to staff.
    Subject(String, Sight),
}

impl Filter {
    fn route(&self) -> String {
        match self {
            Filter::Audience(key) => audience_route(key),
            Filter::Subject(subject, _) => subject_route(subject),
        }
    }

    fn matches(&self, envelope: &Envelope) -> bool {
        match self {
            Filter::Audience(key) => envelope.is_for(key),
            Filter::Subject(subject, sight) => {
                envelope.subject_id == *subject && sight.admits(envelope)
            }
        }
    }
}

const PAGE: u64 = 500;
const REMEMBERED_IDS: usize = 4096;

/// The next page of what the filter sees after `after`, by position (publish order).
async fn replay_page(state: &AppState, filter: &Filter, after: i64) -> AppResult<Vec<Envelope>> {
    let mut query = events::Entity::find()
        .select_only()
        .column(events::Column::Seq)
        .filter(events::Column::Position.gt(after));
    let addressed_to = |key: &str| {
        events::Column::Seq.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(event_audience::Column::EventSeq)
                .from(event_audience::Entity)
                .and_where(event_audience::Column::AudienceKey.eq(key))
                .to_owned(),
        )
    };
    query = match filter {
        Filter::Audience(key) => query.filter(addressed_to(key)),
        Filter::Subject(subject, sight) => {
            let query = query.filter(events::Column::SubjectId.eq(subject.as_str()));
            match sight {
                Sight::Everything => query,
                Sight::AddressedTo(key) => query.filter(addressed_to(key)),
                // Addressed to some staff member: an audience key in the `staff:` range
                // (a range, not LIKE, so the audience key's index serves it), looked up
                // for each candidate event by its own seq.
                Sight::StaffAddressed => query.filter(Expr::exists(
                    sea_orm::sea_query::Query::select()
                        .expr(Expr::val(1))
                        .from(event_audience::Entity)
                        .and_where(
                            Expr::col((event_audience::Entity, event_audience::Column::EventSeq))
                                .equals((events::Entity, events::Column::Seq)),
                        )
                        .and_where(event_audience::Column::AudienceKey.gte(STAFF_KEY_FROM))
                        .and_where(event_audience::Column::AudienceKey.lt(STAFF_KEY_UNTIL))
                        .to_owned(),
                )),
            }
        }
    };
    let seqs: Vec<i64> = query
        .order_by_asc(events::Column::Position)
        .limit(PAGE)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut page = load_envelopes(&state.db, &seqs)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    page.sort_by_key(|e| e.position);
    Ok(page)
}

/// The position to replay after for the `after` event; BAD_USER_INPUT when it is unknown. An
/// event not positioned yet (its relay step was rolled back after a client saw it) is
/// published again later with a new position, so the replay starts at the current head.
async fn after_position(state: &AppState, after: Option<ID>) -> AppResult<i64> {
    let Some(after) = after else {
        return Ok(i64::MAX);
    };
    let id = Uuid::parse_str(after.as_str())
        .map_err(|_| AppError::bad_input("after", "not an event id"))?;
    let row = events::Entity::find()
        .filter(events::Column::Id.eq(id))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::bad_input("after", "no such event"))?;
    match row.position {
        Some(position) => Ok(position),
        None => Ok(entity::event_head::Entity::find_by_id(1)
            .one(&state.db)
            .await?
            .map(|head| head.position)
            .unwrap_or(0)),
    }
}

/// Where a subscription stands: replaying pages from the database, then live from the hub.
struct Cursor {
    state: Arc<AppState>,
    filter: Filter,
    live: HubSubscription,
    /// Replay position, or None once live.
    replay_from: Option<i64>,
    page: VecDeque<Envelope>,
    seen: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    finished: bool,
}

impl Cursor {
    fn remember(&mut self, id: Uuid) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// The next item, or None when the subscription is over.
    async fn next(&mut self) -> Option<GqlResult<Event>> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(envelope) = self.page.pop_front() {
                self.remember(envelope.id);
                return Some(Ok(Event::from(&envelope)));
            }
            if let Some(from) = self.replay_from {
                match replay_page(&self.state, &self.filter, from).await {
                    Ok(page) => {
                        let full = page.len() as u64 == PAGE;
                        self.replay_from = match page.last() {
                            Some(last) if full => last.position,
                            _ => None,
                        };
                        self.page.extend(page);
                        continue;
                    }
                    Err(error) => {
                        self.finished = true;
                        return Some(Err(error.into()));
                    }
                }
            }
            match self.live.receiver.recv().await {
                Some(envelope) => {
                    if self.filter.matches(&envelope) && self.remember(envelope.id) {
                        return Some(Ok(Event::from(envelope.as_ref())));
                    }
                }
                None => {
                    self.finished = true;
                    if self.live.lagged() {
                        let error = AppError::Lagged(
                            "this subscription fell too far behind; subscribe again with `after` set to the last event id you received".into(),
                        );
                        return Some(Err(error.into()));
                    }
                    return None;
                }
            }
        }
    }
}

/// Replay (when `after` is given) then live. No task and no extra buffer per subscription: the
/// socket pulls from the hub's bounded channel, so an idle subscription costs little.
fn event_stream(
    state: Arc<AppState>,
    filter: Filter,
    after: i64,
) -> BoxStream<'static, GqlResult<Event>> {
    // Subscribed before the replay starts: whatever commits meanwhile is already buffered here.
    let live = state.hub.subscribe(filter.route());
    let cursor = Cursor {
        state,
        filter,
        live,
        replay_from: (after != i64::MAX).then_some(after),
        page: VecDeque::new(),
        seen: HashSet::new(),
        order: VecDeque::new(),
        finished: false,
    };
    futures_util::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|item| (item, cursor))
    })
    .boxed()
}

fn failed(error: AppError) -> BoxStream<'static, GqlResult<Event>> {
    futures_util::stream::once(async move { Err(error.into()) }).boxed()
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Every event addressed to the signed-in person, live. With `after` (an event id), first
    /// everything after it from the history, then live, with no gap and no duplicate. When the
    /// app falls too far behind the subscription ends with SUBSCRIPTION_LAGGED: subscribe again
    /// with `after`.
    async fn my_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The last event id received, to replay what followed it; omit for live events only."
        )]
        after: Option<ID>,
    ) -> BoxStream<'static, GqlResult<Event>> {
        let state = ctx.data_unchecked::<Arc<AppState>>().clone();
        let Some(key) = viewer_key(ctx.viewer()) else {
            return failed(AppError::Unauthenticated("log in first".into()));
        };
        match after_position(&state, after).await {
            Ok(after) => event_stream(state, Filter::Audience(key), after),
            Err(error) => failed(error),
        }
    }

    /// The events of one subject (a staff or item change for the staff who may see it; your own
    /// account, booking, waitlist entry, restriction or case; a booking for the point's desk),
    /// with the same replay-then-live rule as `myEvents`. A resident follows the subject's events
    /// addressed to them: a case's internal steps stay with staff. Staff who lose sight of the
    /// subject while they follow it (a transfer to their unit refused or withdrawn) receive one
    /// error and the subscription completes.
    async fn subject_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The subject to follow: an event's `subjectId`, e.g. a booking's id.")]
        subject_id: ID,
        #[graphql(
            desc = "The last event id received, to replay what followed it; omit for live events only."
        )]
        after: Option<ID>,
    ) -> BoxStream<'static, GqlResult<Event>> {
        let state = ctx.data_unchecked::<Arc<AppState>>().clone();
        let sight = match state
            .subjects
            .ensure_can_view(&state, ctx.viewer(), subject_id.as_str())
            .await
        {
            Ok(sight) => sight,
            Err(error) => return failed(error),
        };
        match after_position(&state, after).await {
            Ok(after) => {
                let events = event_stream(
                    state.clone(),
                    Filter::Subject(subject_id.to_string(), sight),
                    after,
                );
                match ctx.viewer() {
                    Viewer::Resident { .. } => events,
                    viewer => checked_again(state, viewer.clone(), subject_id.to_string(), events),
                }
            }
            Err(error) => failed(error),
        }
    }
}

/// A staff member's events of one subject, their sight of it checked again at each: staff can
/// lose a subject while they follow it (a transfer to their unit refused or withdrawn, their
/// account moved or closed). The stream then answers that refusal once and ends. (A resident's
/// own subjects stay theirs, and their events are filtered to those addressed to them.)
fn checked_again(
    state: Arc<AppState>,
    viewer: Viewer,
    subject: String,
    events: BoxStream<'static, GqlResult<Event>>,
) -> BoxStream<'static, GqlResult<Event>> {
    futures_util::stream::unfold(
        Some((events, state, viewer, subject)),
        |following| async move {
            let (mut events, state, viewer, subject) = following?;
            let item = events.next().await?;
            if item.is_ok()
                && let Err(error) = state
                    .subjects
                    .ensure_can_view(&state, &viewer, &subject)
                    .await
            {
                // Answered once; the stream ends with it.
                return Some((Err(error.into()), None));
            }
            Some((item, Some((events, state, viewer, subject))))
        },
    )
    .boxed()
}
