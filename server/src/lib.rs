//! Bangban server: a poem + async-graphql service for assisted (帮办) and proxy (代办)
//! government-service handling. `Application::build` assembles everything from explicit
//! settings and a clock; `main.rs` and the end-to-end tests both use it.
pub mod audit;
pub mod auth;
pub mod booking;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod db;
pub mod directory;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod pii;
pub mod push;
pub mod ratelimit;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod wechat;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{Server, listener::TcpAcceptor};
use tokio::sync::watch;

use crate::{
    auth::TokenKeys,
    clock::SharedClock,
    config::{JwtKey, Secret, Settings},
    metrics::Metrics,
    pii::FieldCipher,
    ratelimit::RateLimiter,
    state::AppState,
    store::{MemoryStore, RedisStore, Store},
    wechat::WechatClient,
};

/// A built server, bound to its port and ready to run.
pub struct Application {
    address: SocketAddr,
    acceptor: TcpAcceptor,
    state: Arc<AppState>,
    schema: graphql::AppSchema,
    shutdown: watch::Sender<bool>,
}

impl Application {
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        settings.validate().map_err(anyhow::Error::msg)?;
        let settings = Arc::new(settings);

        let db = db::connect(&settings).await?;
        db::migrate(&db).await?;
        calendar::service::ensure_official(&db, clock.now())
            .await
            .map_err(|e| anyhow::anyhow!("loading the official calendar: {}", e.message()))?;
        if settings.seeds_demo()
            && directory::seed::load_demo(&db, clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("loading the demo directory: {}", e.message()))?
        {
            tracing::warn!(
                "loaded the 沁水县 DEMO directory (regions, service points, items): replace it with the county's real lists"
            );
        }

        let store: Store = match &settings.redis.url {
            Some(url) => Arc::new(
                RedisStore::connect(url.expose(), &settings.redis.key_prefix)
                    .await
                    .context("connecting to Redis")?,
            ),
            None => Arc::new(MemoryStore::new()),
        };

        let jwt_keys = if settings.auth.jwt_keys.is_empty() {
            let secret = secrets::load_or_create(
                &settings.data_dir,
                "jwt.key",
                auth::jwt::generate_key_material,
            )?;
            vec![JwtKey {
                kid: "local".into(),
                secret: Secret::new(secret),
            }]
        } else {
            settings.auth.jwt_keys.clone()
        };
        let tokens = Arc::new(TokenKeys::new(&settings.auth, &jwt_keys)?);

        let data_key = match &settings.pii.data_key {
            Some(key) => key.expose().to_string(),
            None => pii::load_or_create_data_key(&settings.data_dir)?,
        };
        let cipher = Arc::new(FieldCipher::from_base64(&data_key)?);
        pii::ensure_data_key_matches(&db, &cipher, clock.now()).await?;

        let wechat = WechatClient::from_settings(&settings.wechat, store.clone())?;
        if wechat.is_none() {
            tracing::warn!(
                "DEV LOGIN IS ON: no WeChat AppID is configured, so any login code is accepted as \
                 the openid and any phone code as the number. Never expose this server to residents."
            );
        }

        let hub = events::hub::Hub::new(settings.events.hub_capacity);
        let broker: events::broker::SharedBroker = match &settings.redis.url {
            Some(url) => Arc::new(
                events::broker::RedisBroker::connect(url.expose(), &settings.redis.key_prefix)
                    .await
                    .context("connecting the event broker to Redis")?,
            ),
            None => Arc::new(events::broker::InProcessBroker::new(hub.clone())),
        };

        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            limiter: RateLimiter::new(store.clone()),
            settings: settings.clone(),
            db,
            store,
            clock,
            tokens,
            cipher,
            wechat,
            metrics: Arc::new(Metrics::new()?),
            hub,
            broker,
            relay_wake: Arc::new(tokio::sync::Notify::new()),
            push_wake: Arc::new(tokio::sync::Notify::new()),
            relay_lock: tokio::sync::Mutex::new(()),
            reactions: reactions(),
            shutdown: shutdown_rx,
        });
        let schema = graphql::build_schema(&settings, Some(state.clone()));

        let listener =
            tokio::net::TcpListener::bind((settings.http.host.as_str(), settings.http.port))
                .await
                .with_context(|| {
                    format!("binding {}:{}", settings.http.host, settings.http.port)
                })?;
        let address = listener.local_addr()?;
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        Ok(Self {
            address,
            acceptor,
            state,
            schema,
            shutdown,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `stop` resolves, then stops accepting, closes WebSockets with 1001 and
    /// lets in-flight requests finish (up to the configured grace period).
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.state.settings.http.shutdown_grace_seconds);
        let settings = self.state.settings.clone();
        if settings.jobs.enabled {
            tokio::spawn(jobs::run_forever(
                self.state.clone(),
                Duration::from_secs(settings.jobs.interval_seconds.max(1)),
            ));
        }
        if settings.events.relay_enabled {
            tokio::spawn(events::relay::run_forever(
                self.state.clone(),
                Duration::from_millis(settings.events.relay_poll_ms.max(10)),
            ));
        }
        {
            let state = self.state.clone();
            tokio::spawn(async move {
                state
                    .broker
                    .run_fanout(state.hub.clone(), state.shutdown.clone())
                    .await;
            });
        }
        if settings.events.reaction_worker_enabled {
            tokio::spawn(events::reactions::run_forever(
                self.state.clone(),
                Duration::from_millis(settings.events.reaction_poll_ms.max(10)),
            ));
        }
        if settings.push.worker_enabled {
            let consumer = format!("{}-{}", hostname_or("instance"), uuid::Uuid::now_v7());
            tokio::spawn(push::worker::run_forever(self.state.clone(), consumer));
        }
        let shutdown = self.shutdown;
        let signal = async move {
            stop.await;
            tracing::info!("shutting down: no new connections; finishing in-flight requests");
            let _ = shutdown.send(true);
        };
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(http::routes(self.state, self.schema), signal, Some(grace))
            .await
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Every room's reactions to events of other rooms (a new room adds its own here).
fn reactions() -> events::reactions::Reactions {
    events::reactions::Reactions::new(vec![Arc::new(booking::seats::CapacityFollowsDuty)])
}

fn hostname_or(fallback: &str) -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
