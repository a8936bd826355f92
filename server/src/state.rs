//! The application state shared by every request: settings, connections and facilities.
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::{
    auth::TokenKeys, clock::SharedClock, config::Settings, metrics::Metrics, pii::FieldCipher,
    ratelimit::RateLimiter, store::Store, wechat::WechatClient,
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
    /// Flips to `true` when the server starts shutting down (sockets close with 1001).
    pub shutdown: watch::Receiver<bool>,
}
