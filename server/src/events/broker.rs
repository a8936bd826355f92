//! The broker behind the outbox: carries positioned events to every instance's live
//! subscriptions — one Redis stream in production, the local hub in the embedded default. It
//! may lose its recent past (Redis without persistence); nothing is lost, because clients replay
//! from the database and the work that must happen (pushes) is recorded there, not here.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use entity::{event_audience, events};
use redis::{
    AsyncCommands,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{StreamMaxlen, StreamReadOptions, StreamReadReply},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::watch;

use crate::events::{hub::Hub, model::Envelope};

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

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Publishes one event (the relay calls it in position order, one at a time).
    async fn publish(&self, envelope: &Envelope) -> Result<(), BrokerError>;
    /// This instance's single reader of the event stream, feeding the local hub until shutdown.
    async fn run_fanout(&self, hub: Hub, shutdown: watch::Receiver<bool>);
}

pub type SharedBroker = Arc<dyn Broker>;

// ------------------------------------------------------------------ in-process

/// The embedded default: publishing feeds the local hub (one instance).
pub struct InProcessBroker {
    hub: Hub,
}

impl InProcessBroker {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
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
    with_audience(db, rows).await
}

/// Event rows as envelopes, with their audiences (one query), in the rows' order.
pub async fn with_audience(
    db: &impl sea_orm::ConnectionTrait,
    rows: Vec<events::Model>,
) -> Result<Vec<Envelope>, BrokerError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let audience = event_audience::Entity::find()
        .filter(event_audience::Column::EventSeq.is_in(seqs))
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
        Ok(())
    }

    async fn run_fanout(&self, _hub: Hub, mut shutdown: watch::Receiver<bool>) {
        // Publishing feeds the hub directly; nothing to read.
        let _ = shutdown.changed().await;
    }
}

// ------------------------------------------------------------------ Redis

/// One Redis stream, `<prefix>stream:events`, in position order: the relay appends to it one
/// event at a time, and every instance's fan-out reader follows it. (One stream, not one per
/// topic: a read across several streams would not come back in position order.) It only
/// carries events to live subscribers; nothing durable depends on what Redis keeps.
pub struct RedisBroker {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: String,
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
            max_len: 100_000,
        })
    }

    fn stream(&self) -> String {
        format!("{}stream:events", self.prefix)
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
                self.stream(),
                StreamMaxlen::Approx(self.max_len),
                "*",
                &[("e", body)],
            )
            .await?;
        Ok(())
    }

    async fn run_fanout(&self, hub: Hub, mut shutdown: watch::Receiver<bool>) {
        let keys = vec![self.stream()];
        let mut last_ids: Vec<String> = vec!["$".to_string()];
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
}
