//! The broker behind the outbox: Redis streams in production (a stream per topic, consumer groups
//! with XACK, stuck entries reclaimed, a dead-letter stream after too many deliveries), and an
//! in-process implementation for the embedded default. The broker may lose its recent past (Redis
//! without persistence); nothing is lost because the relay re-publishes what was not published
//! and clients replay from the database.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use entity::{consumer_cursors, event_audience, events};
use redis::{
    AsyncCommands,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{StreamMaxlen, StreamPendingCountReply, StreamReadOptions, StreamReadReply},
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::OnConflict,
};
use tokio::sync::{Mutex, Notify, watch};

use crate::events::{Envelope, TOPICS, hub::Hub};

#[derive(Debug, thiserror::Error)]
#[error("broker unavailable: {0}")]
pub struct BrokerError(pub String);

impl From<redis::RedisError> for BrokerError {
    fn from(error: redis::RedisError) -> Self {
        Self(error.to_string())
    }
}

impl From<sea_orm::DbErr> for BrokerError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self(error.to_string())
    }
}

/// One event handed to a consumer group member.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Broker-specific id (a stream entry id, or the event seq in-process).
    pub id: String,
    pub envelope: Envelope,
    /// How many times this event has been handed out to the group (1 on first delivery).
    pub times_delivered: u64,
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Publishes one event to its topic.
    async fn publish(&self, envelope: &Envelope) -> Result<(), BrokerError>;
    /// This instance's single reader of every topic, feeding the local hub until shutdown.
    async fn run_fanout(&self, hub: Hub, shutdown: watch::Receiver<bool>);
    /// Up to `max` events for a member of `group`: entries another member left unacknowledged
    /// for longer than `reclaim_after` first, then new ones (waiting at most `block`).
    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<Delivery>, BrokerError>;
    async fn ack(&self, group: &str, delivery: &Delivery) -> Result<(), BrokerError>;
    /// Moves a delivery that keeps failing out of the group's way (and acknowledges it).
    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BrokerError>;
}

pub type SharedBroker = Arc<dyn Broker>;

// ------------------------------------------------------------------ in-process

/// Handed-out events of one group: seq → (handed out at, times delivered).
type PendingByGroup = std::collections::BTreeMap<i64, (tokio::time::Instant, u64)>;

/// The embedded default: publishing feeds the local hub; consumer groups read the `events` table
/// after a durable cursor, so a restart loses nothing. (Single instance; with SQLite, writes are
/// serialised, so event order is commit order.)
pub struct InProcessBroker {
    db: DatabaseConnection,
    hub: Hub,
    published: Notify,
    /// Deliveries handed out but not acknowledged, per group (redelivered after `reclaim_after`).
    pending: Mutex<std::collections::HashMap<String, PendingByGroup>>,
}

impl InProcessBroker {
    pub fn new(db: DatabaseConnection, hub: Hub) -> Self {
        Self {
            db,
            hub,
            published: Notify::new(),
            pending: Mutex::new(Default::default()),
        }
    }

    async fn cursor(&self, group: &str) -> Result<i64, BrokerError> {
        Ok(consumer_cursors::Entity::find_by_id(group.to_string())
            .one(&self.db)
            .await?
            .map(|c| c.last_seq)
            .unwrap_or(0))
    }

    async fn load(&self, seqs: &[i64]) -> Result<Vec<Envelope>, BrokerError> {
        load_envelopes(&self.db, seqs).await
    }
}

/// Events by seq, with their audiences, in seq order.
pub async fn load_envelopes(
    db: &impl sea_orm::ConnectionTrait,
    seqs: &[i64],
) -> Result<Vec<Envelope>, BrokerError> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = events::Entity::find()
        .filter(events::Column::Seq.is_in(seqs.to_vec()))
        .order_by_asc(events::Column::Seq)
        .all(db)
        .await?;
    let audience = event_audience::Entity::find()
        .filter(event_audience::Column::EventSeq.is_in(seqs.to_vec()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let keys = audience
                .iter()
                .filter(|a| a.event_seq == row.seq)
                .map(|a| a.audience_key.clone())
                .collect();
            Envelope::from_row(row, keys)
        })
        .collect())
}

#[async_trait]
impl Broker for InProcessBroker {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, envelope: &Envelope) -> Result<(), BrokerError> {
        self.hub.publish(Arc::new(envelope.clone()));
        self.published.notify_waiters();
        Ok(())
    }

    async fn run_fanout(&self, _hub: Hub, mut shutdown: watch::Receiver<bool>) {
        // Publishing feeds the hub directly; nothing to read.
        let _ = shutdown.changed().await;
    }

    async fn read_group(
        &self,
        group: &str,
        _consumer: &str,
        max: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let now = tokio::time::Instant::now();
        let mut out = Vec::new();
        {
            let mut pending = self.pending.lock().await;
            let group_pending = pending.entry(group.to_string()).or_default();
            let stuck: Vec<i64> = group_pending
                .iter()
                .filter(|(_, (since, _))| now.duration_since(*since) >= reclaim_after)
                .map(|(seq, _)| *seq)
                .take(max)
                .collect();
            for seq in &stuck {
                if let Some(entry) = group_pending.get_mut(seq) {
                    entry.0 = now;
                    entry.1 += 1;
                }
            }
            let counts: Vec<u64> = stuck
                .iter()
                .map(|s| group_pending.get(s).map(|e| e.1).unwrap_or(1))
                .collect();
            drop(pending);
            for (envelope, times) in self.load(&stuck).await?.into_iter().zip(counts) {
                out.push(Delivery {
                    id: envelope.seq.to_string(),
                    envelope,
                    times_delivered: times,
                });
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        for attempt in 0..2 {
            let after = {
                let pending = self.pending.lock().await;
                let cursor = self.cursor(group).await?;
                pending
                    .get(group)
                    .and_then(|p| p.keys().next_back().copied())
                    .unwrap_or(cursor)
                    .max(cursor)
            };
            let seqs: Vec<i64> = events::Entity::find()
                .select_only()
                .column(events::Column::Seq)
                .filter(events::Column::Seq.gt(after))
                .order_by_asc(events::Column::Seq)
                .limit(u64::try_from(max).unwrap_or(100))
                .into_tuple()
                .all(&self.db)
                .await?;
            if !seqs.is_empty() {
                let mut pending = self.pending.lock().await;
                let group_pending = pending.entry(group.to_string()).or_default();
                for seq in &seqs {
                    group_pending.insert(*seq, (now, 1));
                }
                drop(pending);
                return Ok(self
                    .load(&seqs)
                    .await?
                    .into_iter()
                    .map(|envelope| Delivery {
                        id: envelope.seq.to_string(),
                        envelope,
                        times_delivered: 1,
                    })
                    .collect());
            }
            if attempt == 0 {
                let _ = tokio::time::timeout(block, self.published.notified()).await;
            }
        }
        Ok(Vec::new())
    }

    async fn ack(&self, group: &str, delivery: &Delivery) -> Result<(), BrokerError> {
        let mut pending = self.pending.lock().await;
        let group_pending = pending.entry(group.to_string()).or_default();
        group_pending.remove(&delivery.envelope.seq);
        // The durable cursor moves to just below the oldest event still pending.
        let next_pending = group_pending.keys().next().copied();
        let done_up_to = match next_pending {
            Some(seq) => seq - 1,
            None => delivery.envelope.seq.max(self.cursor(group).await?),
        };
        drop(pending);
        consumer_cursors::Entity::insert(consumer_cursors::ActiveModel {
            consumer_group: Set(group.to_string()),
            last_seq: Set(done_up_to),
        })
        .on_conflict(
            OnConflict::column(consumer_cursors::Column::ConsumerGroup)
                .update_column(consumer_cursors::Column::LastSeq)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BrokerError> {
        tracing::error!(group, event_id = %delivery.envelope.id, reason, "event dead-lettered");
        self.ack(group, delivery).await
    }
}

// ------------------------------------------------------------------ Redis

/// Redis streams: `<prefix>stream:<topic>`, dead letters in `<prefix>dlq:<group>`.
pub struct RedisBroker {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: String,
    /// A dedicated connection for blocking group reads (a blocked multiplexed connection would
    /// stall every other command on it).
    group_conn: Mutex<Option<MultiplexedConnection>>,
    max_len: usize,
}

impl RedisBroker {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self {
            client,
            manager,
            prefix: prefix.to_string(),
            group_conn: Mutex::new(None),
            max_len: 100_000,
        })
    }

    fn stream(&self, topic: &str) -> String {
        format!("{}stream:{topic}", self.prefix)
    }

    async fn blocking_connection(&self) -> Result<MultiplexedConnection, BrokerError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    async fn ensure_groups(
        &self,
        conn: &mut MultiplexedConnection,
        group: &str,
    ) -> Result<(), BrokerError> {
        for topic in TOPICS {
            let created: Result<(), redis::RedisError> = conn
                .xgroup_create_mkstream(self.stream(topic), group, "0")
                .await;
            if let Err(error) = created
                && error.code() != Some("BUSYGROUP")
            {
                return Err(error.into());
            }
        }
        Ok(())
    }
}

fn envelope_of(map: &std::collections::HashMap<String, redis::Value>) -> Option<Envelope> {
    let raw = map.get("e")?;
    let text: String = redis::from_redis_value_ref(raw).ok()?;
    serde_json::from_str(&text).ok()
}

#[async_trait]
impl Broker for RedisBroker {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, envelope: &Envelope) -> Result<(), BrokerError> {
        let mut conn = self.manager.clone();
        let body = serde_json::to_string(envelope).map_err(|e| BrokerError(e.to_string()))?;
        let _: String = conn
            .xadd_maxlen(
                self.stream(&envelope.topic),
                StreamMaxlen::Approx(self.max_len),
                "*",
                &[("e", body)],
            )
            .await?;
        Ok(())
    }

    async fn run_fanout(&self, hub: Hub, mut shutdown: watch::Receiver<bool>) {
        let keys: Vec<String> = TOPICS.iter().map(|t| self.stream(t)).collect();
        let mut last_ids: Vec<String> = vec!["$".to_string(); keys.len()];
        let mut conn: Option<MultiplexedConnection> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if conn.is_none() {
                match self.blocking_connection().await {
                    Ok(c) => conn = Some(c),
                    Err(error) => {
                        tracing::warn!(%error, "event fan-out waiting for Redis");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            if last_ids.iter().any(|id| id == "$") {
                // Start from an explicit position taken from Redis's own clock, so that a
                // reconnect resumes where it was instead of skipping what arrived meanwhile.
                match redis::cmd("TIME").query_async::<(u64, u64)>(c).await {
                    Ok((seconds, micros)) => {
                        let start = format!("{}-0", seconds * 1000 + micros / 1000);
                        for id in last_ids.iter_mut().filter(|id| *id == "$") {
                            *id = start.clone();
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event fan-out lost Redis; reconnecting");
                        conn = None;
                        continue;
                    }
                }
            }
            let options = StreamReadOptions::default().block(2_000).count(512);
            let read: Result<Option<StreamReadReply>, redis::RedisError> = tokio::select! {
                r = c.xread_options(&keys, &last_ids, &options) => r,
                _ = shutdown.changed() => return,
            };
            match read {
                Ok(Some(reply)) => {
                    for stream in reply.keys {
                        let Some(index) = keys.iter().position(|k| *k == stream.key) else {
                            continue;
                        };
                        for entry in stream.ids {
                            last_ids[index] = entry.id.clone();
                            if let Some(envelope) = envelope_of(&entry.map) {
                                hub.publish(Arc::new(envelope));
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "event fan-out lost Redis; reconnecting");
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let mut guard = self.group_conn.lock().await;
        if guard.is_none() {
            let mut conn = self.blocking_connection().await?;
            self.ensure_groups(&mut conn, group).await?;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let result = self
            .read_group_on(conn, group, consumer, max, block, reclaim_after)
            .await;
        if let Err(error) = &result {
            // A restarted Redis has forgotten the groups: recreate them on the next read.
            tracing::warn!(error = %error, "consumer group read failed; reconnecting");
            *guard = None;
        }
        result
    }

    async fn ack(&self, group: &str, delivery: &Delivery) -> Result<(), BrokerError> {
        let mut conn = self.manager.clone();
        let _: i64 = conn
            .xack(
                self.stream(&delivery.envelope.topic),
                group,
                &[&delivery.id],
            )
            .await?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BrokerError> {
        let mut conn = self.manager.clone();
        let body =
            serde_json::to_string(&delivery.envelope).map_err(|e| BrokerError(e.to_string()))?;
        let _: String = conn
            .xadd(
                format!("{}dlq:{group}", self.prefix),
                "*",
                &[
                    ("e", body.as_str()),
                    ("reason", reason),
                    ("entry", delivery.id.as_str()),
                ],
            )
            .await?;
        tracing::error!(group, event_id = %delivery.envelope.id, reason, "event dead-lettered");
        self.ack(group, delivery).await
    }
}

impl RedisBroker {
    async fn read_group_on(
        &self,
        conn: &mut MultiplexedConnection,
        group: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let mut out = Vec::new();
        let idle_ms = u64::try_from(reclaim_after.as_millis()).unwrap_or(u64::MAX);
        for topic in TOPICS {
            let key = self.stream(topic);
            let pending: StreamPendingCountReply =
                conn.xpending_count(&key, group, "-", "+", max).await?;
            let stuck: Vec<_> = pending
                .ids
                .into_iter()
                .filter(|p| p.last_delivered_ms as u64 >= idle_ms)
                .collect();
            if stuck.is_empty() {
                continue;
            }
            let ids: Vec<String> = stuck.iter().map(|p| p.id.clone()).collect();
            let claimed: redis::streams::StreamClaimReply =
                conn.xclaim(&key, group, consumer, idle_ms, &ids).await?;
            for entry in claimed.ids {
                let times = stuck
                    .iter()
                    .find(|p| p.id == entry.id)
                    .map(|p| p.times_delivered as u64 + 1)
                    .unwrap_or(2);
                if let Some(envelope) = envelope_of(&entry.map) {
                    out.push(Delivery {
                        id: entry.id,
                        envelope,
                        times_delivered: times,
                    });
                }
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        let keys: Vec<String> = TOPICS.iter().map(|t| self.stream(t)).collect();
        let ids: Vec<&str> = keys.iter().map(|_| ">").collect();
        let options = StreamReadOptions::default()
            .group(group, consumer)
            .count(max)
            .block(usize::try_from(block.as_millis()).unwrap_or(1000));
        let reply: Option<StreamReadReply> = conn.xread_options(&keys, &ids, &options).await?;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                match envelope_of(&entry.map) {
                    Some(envelope) => out.push(Delivery {
                        id: entry.id,
                        envelope,
                        times_delivered: 1,
                    }),
                    None => {
                        // Not ours to read: acknowledge so it never blocks the group.
                        let _: i64 = conn.xack(&stream.key, group, &[&entry.id]).await?;
                    }
                }
            }
        }
        Ok(out)
    }
}
