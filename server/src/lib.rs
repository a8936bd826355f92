//! Bangban server: a poem + async-graphql service for assisted (帮办) and proxy (代办)
//! government-service handling. `Application::build` assembles everything from explicit
//! settings and a clock; `main.rs` and the end-to-end tests both use it.
//!
//! # The map of the house
//!
//! **Rooms** (one folder or file each; a domain room has `model` — types and pure rules —,
//! services split by concern, and a `graphql` part that only parses, calls a service and wraps
//! the result):
//! - `directory` owns regions, service points, staff, the item catalogue and the change
//!   registers, and the one place access is decided: `directory::jurisdiction`. It never
//!   imports a domain that uses it. One deployment serves many counties: every region knows its
//!   county (`regions.county_id`), and a row that belongs to a county but to no region of its own
//!   (a catalogue item, a restriction, an audit row) carries the county. Restriction and audit
//!   reads go through `Jurisdiction::counties`, a decision on a restriction through
//!   `Jurisdiction::ensure_in_county`, the catalogue through `catalogue::catalogue_county` (public
//!   reads) and `catalogue::county_item` (writes, and items named by a change).
//! - `calendar` owns working days (holidays and 调休) and their arithmetic.
//! - `cases` (being built, issue 11) owns cases (办件): so far their model and the two state
//!   machines, as a pure function (`cases::state::transition`).
//! - `booking` owns slots, bookings, the waitlist, check-in and queue numbers, restrictions and
//!   the ledger. It reads the directory and the calendar, and learns of roster changes only
//!   through the directory's `staff.duty_changed` event (a durable reaction).
//! - `auth` owns accounts, sessions and tokens (`Viewer`); `pii` the field cipher, blind
//!   indexes and masking; `audit` the hash-chained log; `wechat` the WeChat client.
//! - `events` is the one road for events (`events::Tx`, the outbox, the relay, the broker, the
//!   hub, durable reactions). It knows no domain: each domain answers for its own subject kinds
//!   (`events::subjects::SubjectAccess`) and its own reactions, registered below.
//! - `push` turns events into WeChat subscribe messages: delivery rows written in the event's
//!   transaction, sent by workers that claim them.
//! - `jobs` runs each room's scheduled jobs (`jobs::ScheduledJobs`, registered below).
//! - `graphql` assembles the schema from the domains' objects and serves it over HTTP and
//!   WebSocket; what resolvers share is the leaf `graphql::context`. `http` is the routes and
//!   the observe middleware. Services never import GraphQL.
//!
//! **How a change flows**: resolver (parse input, viewer) → service (rules, access through the
//! jurisdiction) → one transaction (`events::Tx`: guarded writes, then the events with their
//! audiences, outbox rows, push deliveries and reaction tasks, then the audit entries) → commit
//! → the relay positions committed events in commit order and publishes them → every instance's
//! hub → live subscriptions; replay reads the same positions from the database.
//!
//! **Lock order** (one order everywhere, so PostgreSQL never deadlocks): the row of the person
//! the change is about (`auth::service::lock_people`, several in id order: the resident booking,
//! or the resident a desk or job records a no-show for) → the domain rows in id order (the
//! service point for capacity changes, then slots, then the booking) → the audit head, last,
//! appended by `Tx::commit`. The relay's `event_head` row is only ever taken alone.
//!
//! **Dependencies point one way**: the module graph has no cycle (checked by a unit test,
//! `import_graph`).
pub mod assessment;
pub mod audit;
pub mod auth;
pub mod booking;
pub mod calendar;
pub mod cases;
pub mod clock;
pub mod complaints;
pub mod config;
pub mod csv;
pub mod db;
pub mod directory;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
#[cfg(test)]
mod import_graph;
pub mod jobs;
pub mod metrics;
pub mod moderation;
pub mod pii;
pub mod push;
pub mod ratelimit;
pub mod rows;
pub mod satisfaction;
pub mod secrets;
pub mod state;
pub mod store;
pub mod stored;
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
    demo_staff: Option<directory::seed::DemoStaff>,
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
        let loaded = if settings.seeds_demo() {
            directory::seed::load_demo(&db, clock.now(), settings.seed_demo_staff)
                .await
                .map_err(|e| anyhow::anyhow!("loading the demo directory: {}", e.message()))?
        } else {
            directory::seed::DemoLoad::Existed
        };
        let demo_staff = match loaded {
            directory::seed::DemoLoad::Loaded { staff } => {
                tracing::warn!(
                    "loaded the 沁水县 DEMO directory (regions, service points, items{}): replace it with the county's real lists",
                    if staff.is_some() { ", demo staff" } else { "" }
                );
                staff
            }
            directory::seed::DemoLoad::Existed => None,
        };
        if let Some(demo) = &demo_staff {
            // Once, on the console only (never in the structured log): the demo staff's password.
            eprintln!(
                "demo staff (development only): county admin `{}` and an agent at every demo point (`{}` … `{}`), password: {}",
                demo.admin,
                demo.agents.first().map(String::as_str).unwrap_or_default(),
                demo.agents.last().map(String::as_str).unwrap_or_default(),
                demo.password
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
            subjects: subjects()?,
            recorders: vec![Arc::new(push::service::PushDeliveries)],
            schedule: schedule(),
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
            demo_staff,
        })
    }

    /// The demo staff this start created with the demo directory (their password is shown only
    /// now, on the console), if it created any.
    pub fn demo_staff(&self) -> Option<&directory::seed::DemoStaff> {
        self.demo_staff.as_ref()
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
        if settings.satisfaction.delivery_worker_enabled
            && !settings.satisfaction.targets.is_empty()
        {
            tokio::spawn(satisfaction::sender::run_forever(self.state.clone()));
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
    events::reactions::Reactions::new(vec![
        Arc::new(booking::seats::CapacityFollowsDuty),
        Arc::new(satisfaction::invite::InviteToRate),
    ])
}

/// Every room's scheduled jobs, in the order they run (a new room adds its own here).
fn schedule() -> jobs::Schedule {
    jobs::Schedule::new(vec![
        Arc::new(directory::apply::DirectoryJobs),
        Arc::new(booking::jobs::BookingJobs),
        Arc::new(cases::jobs::CaseJobs),
        Arc::new(satisfaction::jobs::SatisfactionJobs),
        Arc::new(complaints::jobs::ComplaintJobs),
        Arc::new(audit::deferred::AuditJobs),
    ])
}

/// Every room's answer for who may follow its subjects' events (a new room adds its own here).
fn subjects() -> anyhow::Result<events::subjects::Subjects> {
    events::subjects::Subjects::new(vec![
        Arc::new(auth::subjects::AccountSubjects),
        Arc::new(booking::subjects::BookingSubjects),
        Arc::new(cases::subjects::CaseSubjects),
        Arc::new(directory::subjects::DirectorySubjects),
        Arc::new(satisfaction::subjects::SatisfactionSubjects),
        Arc::new(complaints::subjects::ComplaintSubjects),
    ])
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
