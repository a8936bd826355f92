//! The application state shared by every request: settings, connections and facilities.
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

use crate::{
    auth::TokenKeys,
    clock::SharedClock,
    config::Settings,
    events::{broker::SharedBroker, hub::Hub, reactions::Reactions, subjects::Subjects},
    metrics::Metrics,
    pii::FieldCipher,
    ratelimit::RateLimiter,
    store::Store,
    wechat::WechatClient,
};

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub store: Store,
    pub limiter: RateLimiter,
    pub clock: SharedClock,
    pub tokens: Arc<TokenKeys>,
    pub cipher: Arc<FieldCipher>,
    /// `None` in dev login (no AppID configured).
    pub wechat: Option<Arc<WechatClient>>,
    pub metrics: Arc<Metrics>,
    /// This instance's fan-out of live events to its subscriptions.
    pub hub: Hub,
    /// Where the relay publishes and consumer groups read (Redis streams or in-process).
    pub broker: SharedBroker,
    /// Woken after every commit that wrote events, so the relay publishes at once.
    pub relay_wake: Arc<Notify>,
    /// One relay step at a time in this instance (the database lock orders instances).
    pub relay_lock: tokio::sync::Mutex<()>,
    /// Each room's durable reactions to other rooms' events.
    pub reactions: Reactions,
    /// Each room's answer for who may follow its subjects' events.
    pub subjects: Subjects,
    /// Each room's work recorded in the events' own transaction (push deliveries).
    pub recorders: Vec<Arc<dyn crate::events::Recorder>>,
    /// Each room's scheduled jobs.
    pub schedule: crate::jobs::Schedule,
    /// Wakes this instance's push worker when a commit queued deliveries.
    pub push_wake: Arc<Notify>,
    /// Flips to `true` when the server starts shutting down (sockets close with 1001).
    pub shutdown: watch::Receiver<bool>,
}
