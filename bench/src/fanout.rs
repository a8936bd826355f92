//! Live fan-out: open `myEvents` subscriptions on one or two server instances, events at a fixed
//! rate, commit → client latency and RSS per idle subscription; the baseline is raw Redis
//! PUBLISH → SUBSCRIBE.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::{
    args::Args,
    server::{Server, graphql},
    stats::percentile,
};

/// One fan-out run's figures.
pub(crate) struct FanOut {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) delivered: usize,
    pub(crate) expected: usize,
    pub(crate) rss_per_subscription_kib: f64,
}

/// Opens one socket with one `myEvents` subscription; records commit → receive latencies.
async fn subscriber(
    ws_url: String,
    token: String,
    latencies: Arc<Mutex<Vec<f64>>>,
    ready: Arc<AtomicU64>,
    subscribe: bool,
) -> anyhow::Result<()> {
    let mut request = ws_url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket.send(Message::Text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}).to_string().into())).await?;
    if subscribe {
        socket.send(Message::Text(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { myEvents { createdAt } }"}}).to_string().into())).await?;
    }
    let mut counted = false;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("connection_ack") if !counted => {
                counted = true;
                ready.fetch_add(1, Ordering::Relaxed);
            }
            Some("next") => {
                let created = value["payload"]["data"]["myEvents"]["createdAt"]
                    .as_str()
                    .unwrap_or_default();
                if let Ok(at) = chrono::DateTime::parse_from_rfc3339(created) {
                    let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                        .num_microseconds()
                        .unwrap_or(0) as f64
                        / 1000.0;
                    latencies.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                }
            }
            Some("ping") => {
                socket
                    .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                    .await?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Opens `args.subscriptions` subscriptions spread over `instances`, then binds phones through
/// `producer` at `args.events_per_second` for `args.seconds` and measures the deliveries.
pub(crate) async fn fan_out(
    args: &Args,
    instances: &[&Server],
    tokens: &[String],
    producer: &Server,
) -> anyhow::Result<FanOut> {
    let client = reqwest::Client::new();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let ready = Arc::new(AtomicU64::new(0));
    let rss_before: u64 = instances.iter().map(|s| s.rss_kib()).sum();
    let mut tasks = Vec::new();
    for n in 0..args.subscriptions {
        let server = instances[n % instances.len()];
        let token = tokens[n % tokens.len()].clone();
        tasks.push(tokio::spawn(subscriber(
            server.ws_url(),
            token,
            latencies.clone(),
            ready.clone(),
            !args.no_subscribe,
        )));
        if n % 64 == 63 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (ready.load(Ordering::Relaxed) as usize) < args.subscriptions && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after: u64 = instances.iter().map(|s| s.rss_kib()).sum();
    let opened = ready.load(Ordering::Relaxed) as usize;
    let rss_per_subscription_kib =
        rss_after.saturating_sub(rss_before) as f64 / opened.max(1) as f64;

    // Events: phone bindings of residents in turn, at a fixed rate.
    let total = (args.events_per_second * args.seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(
        1_000_000 / args.events_per_second.max(1),
    ));
    // Numbers not bound before in this deployment: binding a resident's own number again
    // changes nothing and emits no event.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let first_number = RUNS.fetch_add(1, Ordering::Relaxed) as usize * total;
    let mut requests = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let token = tokens[n % tokens.len()].clone();
        let client = client.clone();
        let url = producer.url.clone();
        requests.push(tokio::spawn(async move {
            let phone = format!("139{:08}", first_number + n);
            graphql(
                &client,
                &url,
                Some(&token),
                "mutation($c: String!) { bindPhone(code: $c) { phone } }",
                json!({"c": phone}),
            )
            .await
        }));
    }
    for request in requests {
        request.await??;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for task in &tasks {
        task.abort();
    }
    let subscriptions_per_resident = args.subscriptions as f64 / tokens.len() as f64;
    let expected = (total as f64 * subscriptions_per_resident).round() as usize;
    let mut measured = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    measured.sort_by(|a, b| a.total_cmp(b));
    Ok(FanOut {
        p50_ms: percentile(&measured, 0.50),
        p99_ms: percentile(&measured, 0.99),
        delivered: measured.len(),
        expected,
        rss_per_subscription_kib,
    })
}

/// Baseline: raw Redis PUBLISH → SUBSCRIBE latency at the same event rate.
pub(crate) async fn redis_baseline(
    redis_url: &str,
    rate: u64,
    count: usize,
) -> anyhow::Result<(f64, f64)> {
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe("bench:baseline").await?;
    let publisher_client = client.clone();
    let publisher = tokio::spawn(async move {
        let mut conn = publisher_client.get_multiplexed_async_connection().await?;
        let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
        for _ in 0..count {
            ticker.tick().await;
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            let _: i64 = redis::cmd("PUBLISH")
                .arg("bench:baseline")
                .arg(now)
                .query_async(&mut conn)
                .await?;
        }
        anyhow::Ok(())
    });
    let mut latencies = Vec::with_capacity(count);
    let mut messages = pubsub.on_message();
    while latencies.len() < count {
        let Some(message) = tokio::time::timeout(Duration::from_secs(10), messages.next()).await?
        else {
            break;
        };
        let sent: i64 = message.get_payload()?;
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        latencies.push((now - sent) as f64 / 1e6);
    }
    publisher.await??;
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}
