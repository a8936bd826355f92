//! Bangban benchmarks (see QUALITY.md). Every figure is printed beside a baseline measured in the
//! same run on the same machine, and their ratio; nothing here asserts a time.
//!
//! * live fan-out: N open `myEvents` subscriptions on one server instance, then split over two
//!   instances sharing PostgreSQL and Redis; events at a fixed rate; commit → client latency
//!   p50/p99 and server RSS per idle subscription. Baseline: raw Redis PUBLISH → SUBSCRIBE.
//! * push sender: a backlog of queued WeChat subscribe messages sent by one push worker to a fake
//!   WeChat server. Baseline: a plain HTTP POST loop to the same fake.
//! * flash crowd: 2,000 logged-in residents make 10,000 booking attempts at once for one slot of
//!   300 seats; attempts answered per second, p99, and the bookings made, checked in the
//!   database. Baseline: the guarded `UPDATE slots … WHERE booked < capacity` + `INSERT`
//!   transaction on one hot row, run directly by 64 connections.
//! * booking, spread: 64 clients book over 500 slots (every attempt a different resident and
//!   slot, every slot with room); bookings/s and p99. Baseline: the same SQL run directly over
//!   500 rows by 64 connections.
//!
//! Run it with `bash bench/run.sh` (it starts PostgreSQL and Redis and builds in release mode);
//! `--only booking` (or `--scenarios fanout,push,flash,spread`) picks scenarios.
use std::{
    collections::{BTreeMap, HashSet},
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

struct Args {
    postgres: String,
    redis: String,
    subscriptions: usize,
    residents: usize,
    events_per_second: u64,
    seconds: u64,
    push_messages: usize,
    /// Smaller runs: the fan-out on one instance only, and smaller booking scenarios. Alone
    /// (without `--scenarios`/`--only`) it runs the one-instance fan-out only.
    quick: bool,
    /// Open sockets without subscribing (to tell connection memory from subscription memory).
    no_subscribe: bool,
    scenarios: Scenarios,
    /// Residents logged in for the booking scenarios (the flash crowd; the spread reuses them).
    booking_residents: usize,
    flash_attempts: usize,
    flash_seats: usize,
    spread_bookings: usize,
    spread_slots: usize,
    spread_clients: usize,
}

/// Which scenarios to run.
#[derive(Clone, Copy)]
struct Scenarios {
    fanout: bool,
    push: bool,
    flash: bool,
    spread: bool,
}

impl Scenarios {
    /// A comma-separated list of `fanout`, `push`, `flash`, `spread`, `booking` (flash and
    /// spread) or `all`.
    fn parse(list: &str) -> anyhow::Result<Self> {
        let mut run = Self {
            fanout: false,
            push: false,
            flash: false,
            spread: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "fanout" | "fan-out" => run.fanout = true,
                "push" => run.push = true,
                "flash" => run.flash = true,
                "spread" => run.spread = true,
                "booking" => (run.flash, run.spread) = (true, true),
                "all" => (run.fanout, run.push, run.flash, run.spread) = (true, true, true, true),
                other => {
                    bail!("unknown scenario {other:?} (fanout, push, flash, spread, booking, all)")
                }
            }
        }
        Ok(run)
    }

    fn names(self) -> String {
        [
            (self.fanout, "fanout"),
            (self.push, "push"),
            (self.flash, "flash"),
            (self.spread, "spread"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

const USAGE: &str = "usage: bangban-bench --postgres URL --redis URL [--scenarios|--only fanout,push,flash,spread,booking,all] [--quick] [--no-subscribe] [--subscriptions N] [--residents N] [--events-per-second N] [--seconds N] [--push-messages N] [--booking-residents N] [--flash-attempts N] [--flash-seats N] [--spread-bookings N] [--spread-slots N] [--spread-clients N]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        postgres: String::new(),
        redis: String::new(),
        subscriptions: 10_000,
        residents: 2_000,
        events_per_second: 200,
        seconds: 10,
        push_messages: 2_000,
        quick: false,
        no_subscribe: false,
        scenarios: Scenarios::parse("all")?,
        booking_residents: 0,
        flash_attempts: 0,
        flash_seats: 0,
        spread_bookings: 0,
        spread_slots: 0,
        spread_clients: 0,
    };
    let mut scenarios = None;
    // Booking sizes: given, or the full (quick) defaults.
    let mut booking: [Option<usize>; 6] = [None; 6];
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context(format!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => args.postgres = value()?,
            "--redis" => args.redis = value()?,
            "--subscriptions" => args.subscriptions = value()?.parse()?,
            "--residents" => args.residents = value()?.parse()?,
            "--events-per-second" => args.events_per_second = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--push-messages" => args.push_messages = value()?.parse()?,
            "--quick" => args.quick = true,
            "--no-subscribe" => args.no_subscribe = true,
            "--scenarios" | "--only" => scenarios = Some(Scenarios::parse(&value()?)?),
            "--booking-residents" => booking[0] = Some(value()?.parse()?),
            "--flash-attempts" => booking[1] = Some(value()?.parse()?),
            "--flash-seats" => booking[2] = Some(value()?.parse()?),
            "--spread-bookings" => booking[3] = Some(value()?.parse()?),
            "--spread-slots" => booking[4] = Some(value()?.parse()?),
            "--spread-clients" => booking[5] = Some(value()?.parse()?),
            "--help" | "-h" => bail!(USAGE),
            other => bail!("unknown flag {other}\n{USAGE}"),
        }
    }
    if args.postgres.is_empty() || args.redis.is_empty() {
        bail!(USAGE);
    }
    args.scenarios = match scenarios {
        Some(run) => run,
        // As before: `--quick` alone is a quick look at the one-instance fan-out.
        None if args.quick => Scenarios::parse("fanout")?,
        None => Scenarios::parse("all")?,
    };
    let defaults = if args.quick {
        [200, 1_000, 30, 1_000, 100, 64]
    } else {
        [2_000, 10_000, 300, 5_000, 500, 64]
    };
    let [residents, attempts, seats, bookings, slots, clients] =
        std::array::from_fn(|i| booking[i].unwrap_or(defaults[i]));
    args.booking_residents = residents;
    args.flash_attempts = attempts;
    args.flash_seats = seats;
    args.spread_bookings = bookings;
    args.spread_slots = slots;
    args.spread_clients = clients;
    if [residents, attempts, seats, bookings, slots, clients].contains(&0) {
        bail!("booking sizes must be at least 1");
    }
    Ok(args)
}

// ---------------------------------------------------------------- server processes

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(env: &[(String, String)]) -> anyhow::Result<Self> {
        let binary = std::env::current_exe()?.with_file_name("bangban");
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .split_whitespace()
            .nth(3)
            .filter(|u| u.starts_with("http://"))
            .with_context(|| format!("unexpected start-up line {line:?}"))?
            .to_string();
        Ok(Self { child, url })
    }

    fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn server_env(
    database: &str,
    redis: &str,
    data_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("BANGBAN_DATABASE_URL", database),
        ("BANGBAN_REDIS_URL", redis),
        ("BANGBAN_REDIS_KEY_PREFIX", "bench:"),
        ("BANGBAN_DATA_DIR", &data_dir.display().to_string()),
        ("BANGBAN_HTTP_PORT", "0"),
        ("BANGBAN_LOG_FILTER", "error"),
        ("BANGBAN_JOBS_ENABLED", "false"),
        ("BANGBAN_SEED_DEMO", "false"),
        ("BANGBAN_LIMITS_LOGIN_PER_IP_PER_MINUTE", "100000000"),
        ("BANGBAN_LIMITS_BIND_PHONE_PER_USER_PER_HOUR", "100000000"),
        ("BANGBAN_DATABASE_MAX_CONNECTIONS", "32"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn fresh_database(server_url: &str) -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    let (base, _) = server_url
        .rsplit_once('/')
        .context("database URL has a path")?;
    Ok(format!("{base}/{name}"))
}

// ---------------------------------------------------------------- GraphQL helpers

/// The whole response body, errors included.
async fn graphql_body(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = client
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.json().await?)
}

async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let body = graphql_body(client, url, token, query, variables).await?;
    if body.get("errors").is_some() {
        bail!("GraphQL error: {body}");
    }
    Ok(body["data"].clone())
}

async fn login_all(
    client: &reqwest::Client,
    url: &str,
    codes: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<String>> = stream::iter(codes)
        .map(|code| async move {
            let data = graphql(
                client,
                url,
                None,
                "mutation($c: String!) { loginWithWechat(code: $c) { accessToken } }",
                json!({"c": code}),
            )
            .await?;
            Ok(data["loginWithWechat"]["accessToken"]
                .as_str()
                .context("token")?
                .to_string())
        })
        .buffered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------- live fan-out

struct FanOut {
    p50_ms: f64,
    p99_ms: f64,
    delivered: usize,
    expected: usize,
    rss_per_subscription_kib: f64,
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

async fn fan_out(
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
async fn redis_baseline(redis_url: &str, rate: u64, count: usize) -> anyhow::Result<(f64, f64)> {
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

// ---------------------------------------------------------------- push sender

const APPID: &str = "wxbench000000001";
const TEMPLATE: &str = "TPL-BENCH";

/// A fake WeChat server: logins and phone codes accepted as given, a stable token, and
/// subscribe sends counted.
async fn fake_wechat(sent: Arc<AtomicU64>) -> anyhow::Result<String> {
    use poem::{
        EndpointExt, Route, get, handler, post,
        web::{Data, Json, Query},
    };
    #[handler]
    fn code2session(Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
        let code = q.get("js_code").cloned().unwrap_or_default();
        Json(json!({"openid": code, "session_key": "k"}))
    }
    #[handler]
    fn stable_token() -> Json<Value> {
        Json(json!({"access_token": "bench-token", "expires_in": 7200}))
    }
    #[handler]
    fn phone(Json(body): Json<Value>) -> Json<Value> {
        let code = body["code"].as_str().unwrap_or_default();
        Json(
            json!({"errcode": 0, "errmsg": "ok", "phone_info": {"phoneNumber": code, "purePhoneNumber": code, "countryCode": "86", "watermark": {"appid": APPID, "timestamp": 0}}}),
        )
    }
    #[handler]
    fn send(Data(sent): Data<&Arc<AtomicU64>>) -> poem::Response {
        let n = sent.fetch_add(1, Ordering::Relaxed) + 1;
        poem::Response::builder()
            .content_type("application/json")
            .body(format!(
                "{{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":{}}}",
                1_988_810_812_324_364_291u64 + n
            ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = Route::new()
        .at("/sns/jscode2session", get(code2session))
        .at("/cgi-bin/stable_token", post(stable_token))
        .at("/wxa/business/getuserphonenumber", post(phone))
        .at("/cgi-bin/message/subscribe/send", post(send))
        .data(sent);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    Ok(format!("http://127.0.0.1:{port}"))
}

async fn push_scenario(args: &Args) -> anyhow::Result<(f64, f64)> {
    let sent = Arc::new(AtomicU64::new(0));
    let wechat = fake_wechat(sent.clone()).await?;
    let database = fresh_database(&args.postgres).await?;
    let data_dir = std::env::temp_dir().join(format!(
        "bangban-bench-push-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir)?;
    let config = data_dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[wechat]\nappid = \"{APPID}\"\nsecret = \"bench-secret\"\nbase_url = \"{wechat}\"\n\n[[push.templates]]\nevent_kind = \"account.phone_bound\"\ntemplate_id = \"{TEMPLATE}\"\npage = \"pages/me/index\"\ndata = {{ thing1 = \"title\", character_string2 = \"phone\", time3 = \"at\" }}\n"
        ),
    )?;
    let config = config.display().to_string();
    let prefix = format!("bench-push-{}:", uuid::Uuid::new_v4().simple());
    let base = |worker: &str| {
        let mut env = server_env(
            &database,
            &args.redis,
            &data_dir,
            &[
                ("BANGBAN_CONFIG", &config),
                ("BANGBAN_PUSH_WORKER_ENABLED", worker),
            ],
        );
        env.retain(|(k, _)| k != "BANGBAN_REDIS_KEY_PREFIX");
        env.push(("BANGBAN_REDIS_KEY_PREFIX".into(), prefix.clone()));
        env
    };

    // 1. A producer instance without a push worker builds the backlog.
    let producer = Server::start(&base("false"))?;
    let client = reqwest::Client::new();
    let residents = (args.push_messages / 10).max(1);
    let tokens = login_all(
        &client,
        &producer.url,
        (0..residents).map(|n| format!("push-{n}")).collect(),
    )
    .await?;
    let consent = json!({"results": (0..10).map(|_| json!({"templateId": TEMPLATE, "status": "ACCEPT"})).collect::<Vec<_>>()});
    for token in &tokens {
        graphql(&client, &producer.url, Some(token), "mutation($results: [ConsentResultInput!]!) { recordSubscribeConsent(results: $results) { credits } }", consent.clone()).await?;
    }
    let jobs: Vec<(String, String)> = (0..args.push_messages)
        .map(|n| (tokens[n % tokens.len()].clone(), format!("138{:08}", n)))
        .collect();
    let results: Vec<anyhow::Result<Value>> = stream::iter(jobs)
        .map(|(token, phone)| {
            let client = client.clone();
            let url = producer.url.clone();
            async move {
                graphql(
                    &client,
                    &url,
                    Some(&token),
                    "mutation($c: String!) { bindPhone(code: $c) { phone } }",
                    json!({"c": phone}),
                )
                .await
            }
        })
        .buffered(16)
        .collect()
        .await;
    for result in results {
        result?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the relay publishes the backlog
    producer.stop();

    // 2. One push worker drains it.
    let started = Instant::now();
    let worker = Server::start(&base("true"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while (sent.load(Ordering::Relaxed) as usize) < args.push_messages && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let delivered = sent.load(Ordering::Relaxed) as f64;
    worker.stop();
    let push_rate = delivered / elapsed;

    // 3. Baseline: a plain HTTP POST loop to the same fake, one request at a time.
    let body = json!({"touser": "openid", "template_id": TEMPLATE, "data": {"thing1": {"value": "手机号绑定成功"}}});
    let started = Instant::now();
    for _ in 0..args.push_messages {
        client
            .post(format!(
                "{wechat}/cgi-bin/message/subscribe/send?access_token=bench-token"
            ))
            .json(&body)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let baseline_rate = args.push_messages as f64 / started.elapsed().as_secs_f64();
    Ok((push_rate, baseline_rate))
}

// ---------------------------------------------------------------- booking

const STAFF_PASSWORD: &str = "bench-staff-password";
const BOOK: &str =
    "mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { id } }";
/// Concurrent connections of the hot-row baseline.
const HOT_ROW_CONNECTIONS: usize = 64;
/// How far ahead the benchmark's points take bookings (their policy's window, in days).
const WINDOW_DAYS: i64 = 30;

/// Sets `key` in a server environment, replacing an earlier value.
fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

/// The first county admin, made with `bangban create-staff` as an operator would.
fn create_admin(env: &[(String, String)], username: &str) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("bangban");
    let mut command = Command::new(&binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .env("BANGBAN_STAFF_PASSWORD", STAFF_PASSWORD)
        .args([
            "create-staff",
            "--username",
            username,
            "--display-name",
            "压测管理员",
            "--role",
            "county_admin",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} create-staff", binary.display()))?;
    if !output.status.success() {
        bail!(
            "create-staff failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Today in China (UTC+8 all year).
fn china_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// `agents × seats per agent = seats`, with at most 20 seats per agent (the policy's limit).
fn staffing(seats: usize) -> (usize, usize) {
    let agents = (seats.div_ceil(20).max(1)..=seats.max(1))
        .find(|a| seats.is_multiple_of(*a))
        .unwrap_or(seats.max(1));
    (agents, seats / agents)
}

/// A booking server on the demo county, its county admin and logged-in residents.
struct Desk {
    url: String,
    database: String,
    client: reqwest::Client,
    admin: String,
    /// A catalogue item handled at township level.
    item: String,
    residents: Vec<String>,
}

/// A township centre: (service point id, township region id).
type Point = (String, String);

/// Puts agents on duty at a township centre so that each slot has `seats` seats (capacity =
/// on-duty agents × seats per agent) and returns the ids of its slots that stay bookable for the
/// whole run (starting 3 h from now or later, inside the booking window).
async fn open_point(
    desk: &Desk,
    point: &Point,
    tag: &str,
    seats: usize,
) -> anyhow::Result<Vec<String>> {
    let (agents, per_agent) = staffing(seats);
    for n in 0..agents {
        let input = json!({"input": {"username": format!("bench.{tag}.{n}"), "displayName": format!("窗口{n}"),
            "password": STAFF_PASSWORD, "role": "TOWNSHIP_AGENT", "regionId": point.1, "servicePointId": point.0}});
        graphql(
            &desk.client,
            &desk.url,
            Some(&desk.admin),
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
            input,
        )
        .await?;
    }
    let policy = json!({"p": point.0, "input": {"slotMinutes": 30, "seatsPerAgent": per_agent, "windowDays": WINDOW_DAYS,
        "minNoticeMinutes": 60, "cancelCutoffMinutes": 120, "maxOpenBookings": 20}});
    graphql(
        &desk.client,
        &desk.url,
        Some(&desk.admin),
        "mutation($p: ID!, $input: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $input) { seatsPerAgent } }",
        policy,
    )
    .await?;
    let today = china_today();
    let data = graphql(
        &desk.client,
        &desk.url,
        None,
        "query($p: ID!, $from: NaiveDate!, $to: NaiveDate!) { availableSlots(servicePointId: $p, from: $from, to: $to) { id startsAt remaining } }",
        json!({"p": point.0, "from": today.to_string(), "to": (today + chrono::Duration::days(WINDOW_DAYS)).to_string()}),
    )
    .await?;
    let earliest = chrono::Utc::now() + chrono::Duration::hours(3);
    let mut slots = Vec::new();
    for slot in data["availableSlots"]
        .as_array()
        .context("availableSlots")?
    {
        let starts =
            chrono::DateTime::parse_from_rfc3339(slot["startsAt"].as_str().unwrap_or_default())?;
        if starts.with_timezone(&chrono::Utc) < earliest {
            continue;
        }
        if slot["remaining"].as_u64() != Some(seats as u64) {
            bail!("slot {slot} should have {seats} seats ({agents} agents × {per_agent})");
        }
        slots.push(slot["id"].as_str().context("slot id")?.to_string());
    }
    Ok(slots)
}

/// Opens the clients' connections before the clock starts (the residents have the app open).
async fn warm_up(desk: &Desk, clients: usize) -> anyhow::Result<()> {
    let answers: Vec<anyhow::Result<Value>> = stream::iter(desk.residents.iter().take(clients))
        .map(|token| {
            graphql(
                &desk.client,
                &desk.url,
                Some(token),
                "{ __typename }",
                json!({}),
            )
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    answers.into_iter().try_for_each(|a| a.map(drop))
}

/// A booking attempt's answer: the booking id, or the error code and message.
type Outcome = Result<String, (String, String)>;

/// One `bookAppointment`: its latency in ms and its answer.
async fn attempt(client: &reqwest::Client, url: &str, token: &str, input: Value) -> (f64, Outcome) {
    let began = Instant::now();
    let outcome = match graphql_body(client, url, Some(token), BOOK, input).await {
        Ok(body) => match body["data"]["bookAppointment"]["id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => {
                let error = &body["errors"][0];
                Err((
                    error["extensions"]["code"]
                        .as_str()
                        .unwrap_or("NO_CODE")
                        .to_string(),
                    error["message"].as_str().unwrap_or_default().to_string(),
                ))
            }
        },
        Err(error) => Err(("TRANSPORT".to_string(), error.to_string())),
    };
    (began.elapsed().as_secs_f64() * 1000.0, outcome)
}

/// The answers of a run of booking attempts.
#[derive(Default)]
struct Tally {
    /// Sorted once the run is over.
    latencies_ms: Vec<f64>,
    booked: Vec<String>,
    /// Refusals by error code, with the first message seen.
    refused: BTreeMap<String, (usize, String)>,
}

impl Tally {
    fn of(answers: impl IntoIterator<Item = (f64, Outcome)>) -> Self {
        let mut tally = Self::default();
        for (ms, outcome) in answers {
            tally.latencies_ms.push(ms);
            match outcome {
                Ok(id) => tally.booked.push(id),
                Err((code, message)) => tally.refused.entry(code).or_insert((0, message)).0 += 1,
            }
        }
        tally.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        tally
    }

    fn attempts(&self) -> usize {
        self.latencies_ms.len()
    }

    fn refused(&self, code: &str) -> usize {
        self.refused.get(code).map_or(0, |(n, _)| *n)
    }

    /// Refusals other than `expected`: their number and `CODE ×n` (or "none"); the first
    /// message of each goes to stderr.
    fn failures(&self, scenario: &str, expected: &[&str]) -> (usize, String) {
        let others: Vec<_> = self
            .refused
            .iter()
            .filter(|(code, _)| !expected.contains(&code.as_str()))
            .collect();
        for (code, (_, message)) in &others {
            eprintln!("{scenario}: {code}: {message}");
        }
        let count = others.iter().map(|(_, (n, _))| n).sum();
        let list = others
            .iter()
            .map(|(code, (n, _))| format!("{code} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        (count, if list.is_empty() { "none".into() } else { list })
    }
}

struct Baseline {
    per_second: f64,
    p99_ms: f64,
}

/// The raw seat transaction run directly against the database: `connections` connections, each
/// looping `BEGIN; UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity;
/// INSERT INTO bookings …; COMMIT` over `rows` slot rows (one: the hot row), `transactions` in
/// all. The tables are scratch copies shaped like `slots` and `bookings` (same checks and unique
/// indexes), with room for every transaction.
async fn seat_sql_baseline(
    database: &str,
    tag: &str,
    rows: usize,
    transactions: usize,
    connections: usize,
) -> anyhow::Result<Baseline> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let mut options = sea_orm::ConnectOptions::new(database);
    options
        .max_connections(u32::try_from(connections)?)
        .min_connections(u32::try_from(connections)?)
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let slots = format!("baseline_{tag}_slots");
    let bookings = format!("baseline_{tag}_bookings");
    for ddl in [
        format!(
            "CREATE TABLE {slots} (id uuid PRIMARY KEY, capacity integer NOT NULL, booked integer NOT NULL, CHECK (booked <= capacity), CHECK (booked >= 0))"
        ),
        format!(
            "CREATE TABLE {bookings} (id uuid PRIMARY KEY, code varchar(8) NOT NULL UNIQUE, slot_id uuid NOT NULL, user_id uuid NOT NULL, status varchar(16) NOT NULL, open_marker integer, created_at timestamptz NOT NULL, UNIQUE (slot_id, user_id, open_marker))"
        ),
        format!("CREATE INDEX ON {bookings} (user_id)"),
    ] {
        db.execute_unprepared(&ddl).await?;
    }
    let ids: Vec<uuid::Uuid> = (0..rows).map(|_| uuid::Uuid::now_v7()).collect();
    let capacity = i32::try_from(transactions)?;
    for id in &ids {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("INSERT INTO {slots} (id, capacity, booked) VALUES ($1, $2, 0)"),
            [(*id).into(), capacity.into()],
        ))
        .await?;
    }
    // Every connection open before the clock starts.
    let opened: Vec<Result<_, sea_orm::DbErr>> = stream::iter(0..connections)
        .map(|_| db.execute_unprepared("SELECT pg_sleep(0.05)"))
        .buffer_unordered(connections)
        .collect()
        .await;
    for result in opened {
        result?;
    }

    let update = Arc::new(format!(
        "UPDATE {slots} SET booked = booked + 1 WHERE id = $1 AND booked < capacity"
    ));
    let insert = Arc::new(format!(
        "INSERT INTO {bookings} (id, code, slot_id, user_id, status, open_marker, created_at) VALUES ($1, $2, $3, $4, 'booked', 1, now())"
    ));
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (db, ids, next) = (db.clone(), ids.clone(), next.clone());
            let (update, insert) = (update.clone(), insert.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= transactions {
                        break;
                    }
                    let slot = ids[n % ids.len()];
                    let began = Instant::now();
                    let txn = db.begin().await?;
                    let taken = txn
                        .execute_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            update.as_str(),
                            [slot.into()],
                        ))
                        .await?;
                    if taken.rows_affected() != 1 {
                        bail!("baseline: the guarded UPDATE took no seat");
                    }
                    txn.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        insert.as_str(),
                        [
                            uuid::Uuid::now_v7().into(),
                            format!("{n:08}").into(),
                            slot.into(),
                            uuid::Uuid::new_v4().into(),
                        ],
                    ))
                    .await?;
                    txn.commit().await?;
                    latencies.push(began.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(transactions);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    db.close().await?;
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(Baseline {
        per_second: latencies.len() as f64 / elapsed,
        p99_ms: percentile(&latencies, 0.99),
    })
}

struct Flash {
    residents: usize,
    seats: usize,
    per_second: f64,
    tally: Tally,
    /// From the database: rows in `bookings` for the slot, their distinct residents, and the
    /// slot's `booked` and `capacity`.
    rows: i64,
    distinct_residents: i64,
    slot_booked: i64,
    slot_capacity: i64,
    /// Bookings answered to a resident but not in the database.
    lost: usize,
    /// Authenticated no-op requests per second from the same crowd (the server's ceiling here).
    ceiling_per_second: f64,
    baseline: Baseline,
}

/// The flash crowd: every resident at once on one slot of `seats` seats, each trying until they
/// hold a seat or the crowd's attempts are spent.
async fn flash_crowd(args: &Args, desk: &Desk, point: &Point) -> anyhow::Result<Flash> {
    let slots = open_point(desk, point, "flash", args.flash_seats).await?;
    let slot = slots
        .first()
        .context("no bookable slot at the flash-crowd point")?
        .as_str();
    warm_up(desk, desk.residents.len()).await?;
    eprintln!(
        "flash crowd: {} attempts from {} residents for {} seats",
        args.flash_attempts,
        desk.residents.len(),
        args.flash_seats
    );
    let next = AtomicUsize::new(0);
    let next = &next;
    let started = Instant::now();
    let answers: Vec<Vec<(f64, Outcome)>> = stream::iter(desk.residents.iter())
        .map(|token| async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= args.flash_attempts {
                    break;
                }
                let input = json!({"input": {"servicePointId": point.0, "slotId": slot, "itemId": desk.item,
                    "kind": "HELP", "idempotencyKey": format!("flash-{n}")}});
                let answer = attempt(&desk.client, &desk.url, token, input).await;
                let booked = answer.1.is_ok();
                answers.push(answer);
                if booked {
                    break;
                }
            }
            answers
        })
        .buffer_unordered(desk.residents.len())
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Tally::of(answers.into_iter().flatten());
    let answered = tally.booked.len() + tally.refused("SLOT_FULL");

    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = sea_orm::Database::connect(&desk.database).await?;
    let slot_id = uuid::Uuid::parse_str(slot)?;
    let query =
        |sql: &str| Statement::from_sql_and_values(DbBackend::Postgres, sql, [slot_id.into()]);
    let counts = db
        .query_one_raw(query("SELECT count(*)::bigint, count(DISTINCT user_id)::bigint FROM bookings WHERE slot_id = $1"))
        .await?
        .context("booking counts")?;
    let seats = db
        .query_one_raw(query(
            "SELECT booked::bigint, capacity::bigint FROM slots WHERE id = $1",
        ))
        .await?
        .context("the flash-crowd slot")?;
    let stored = db
        .query_all_raw(query("SELECT id::text FROM bookings WHERE slot_id = $1"))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<HashSet<String>, _>>()?;
    db.close().await?;
    let lost = tally
        .booked
        .iter()
        .filter(|id| !stored.contains(*id))
        .count();

    // The ceiling: the same crowd sending the cheapest authenticated request (token check,
    // session lookup, GraphQL) — what any answer costs before booking logic starts.
    eprintln!("flash crowd: ceiling, an authenticated no-op per attempt");
    let next = AtomicUsize::new(0);
    let next = &next;
    let started = Instant::now();
    let noops: Vec<usize> = stream::iter(desk.residents.iter())
        .map(|token| async move {
            let mut ok = 0;
            while next.fetch_add(1, Ordering::Relaxed) < args.flash_attempts {
                if graphql(
                    &desk.client,
                    &desk.url,
                    Some(token),
                    "{ __typename }",
                    json!({}),
                )
                .await
                .is_ok()
                {
                    ok += 1;
                }
            }
            ok
        })
        .buffer_unordered(desk.residents.len())
        .collect()
        .await;
    let ceiling_per_second = noops.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64();

    eprintln!("flash crowd: baseline, the hot row directly");
    let baseline = seat_sql_baseline(
        &desk.database,
        "hot",
        1,
        args.flash_attempts,
        HOT_ROW_CONNECTIONS,
    )
    .await?;
    Ok(Flash {
        residents: desk.residents.len(),
        seats: args.flash_seats,
        per_second: answered as f64 / elapsed,
        tally,
        rows: counts.try_get_by_index(0)?,
        distinct_residents: counts.try_get_by_index(1)?,
        slot_booked: seats.try_get_by_index(0)?,
        slot_capacity: seats.try_get_by_index(1)?,
        lost,
        ceiling_per_second,
        baseline,
    })
}

struct Spread {
    slots: usize,
    clients: usize,
    per_second: f64,
    tally: Tally,
    /// From the database: rows in `bookings` for the run's slots, the sum of their `booked`,
    /// and how many are over capacity.
    rows: i64,
    booked_sum: i64,
    over_capacity: i64,
    baseline: Baseline,
}

/// Bookings spread over many slots: attempt `i` books slot `i mod slots` for resident
/// `i / per_resident`, so no resident books a slot twice and every slot has room for its share.
async fn spread(args: &Args, desk: &Desk, points: &[Point]) -> anyhow::Result<Spread> {
    let per_slot = args.spread_bookings.div_ceil(args.spread_slots);
    let per_resident = args.spread_bookings.div_ceil(desk.residents.len());
    if per_resident >= 20 || per_resident > args.spread_slots {
        bail!(
            "{} bookings need {per_resident} per resident (at most 19 and at most the slots): raise --booking-residents",
            args.spread_bookings
        );
    }
    let mut open = Vec::new();
    for (n, point) in points.iter().enumerate() {
        let slots = open_point(desk, point, &format!("spread{n}"), per_slot).await?;
        open.push(
            slots
                .into_iter()
                .map(|slot| (point.0.clone(), slot))
                .collect::<Vec<_>>(),
        );
    }
    // Round robin over the points, so that neighbouring attempts land at different points.
    let longest = open.iter().map(Vec::len).max().unwrap_or(0);
    let slots: Vec<&(String, String)> = (0..longest)
        .flat_map(|i| open.iter().filter_map(move |list| list.get(i)))
        .take(args.spread_slots)
        .collect();
    if slots.len() < args.spread_slots {
        bail!(
            "only {} bookable slots at {} township centres: lower --spread-slots",
            slots.len(),
            points.len()
        );
    }
    warm_up(desk, args.spread_clients).await?;
    eprintln!(
        "booking, spread: {} bookings over {} slots, {} clients",
        args.spread_bookings, args.spread_slots, args.spread_clients
    );
    let started = Instant::now();
    let answers: Vec<(f64, Outcome)> = stream::iter(0..args.spread_bookings)
        .map(|i| {
            let (point, slot) = slots[i % slots.len()];
            let input = json!({"input": {"servicePointId": point, "slotId": slot, "itemId": desk.item,
                "kind": "HELP", "idempotencyKey": format!("spread-{i}")}});
            attempt(&desk.client, &desk.url, &desk.residents[i / per_resident], input)
        })
        .buffer_unordered(args.spread_clients)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Tally::of(answers);

    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let ids = slots
        .iter()
        .map(|(_, slot)| uuid::Uuid::parse_str(slot).map(|id| format!("'{id}'")))
        .collect::<Result<Vec<_>, _>>()?
        .join(",");
    let db = sea_orm::Database::connect(&desk.database).await?;
    let query = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    let rows = db
        .query_one_raw(query(format!(
            "SELECT count(*)::bigint FROM bookings WHERE slot_id IN ({ids})"
        )))
        .await?
        .context("booking count")?;
    let seats = db
        .query_one_raw(query(format!("SELECT COALESCE(sum(booked), 0)::bigint, count(*) FILTER (WHERE booked > capacity)::bigint FROM slots WHERE id IN ({ids})")))
        .await?
        .context("slot counts")?;
    db.close().await?;

    eprintln!("booking, spread: baseline, the same SQL directly");
    let baseline = seat_sql_baseline(
        &desk.database,
        "spread",
        args.spread_slots,
        args.spread_bookings,
        args.spread_clients,
    )
    .await?;
    Ok(Spread {
        slots: slots.len(),
        clients: args.spread_clients,
        per_second: tally.booked.len() as f64 / elapsed,
        tally,
        rows: rows.try_get_by_index(0)?,
        booked_sum: seats.try_get_by_index(0)?,
        over_capacity: seats.try_get_by_index(1)?,
        baseline,
    })
}

/// The booking scenarios on one server (PostgreSQL + Redis) with the demo county: the flash
/// crowd at the first township centre, the spread over the others.
async fn booking_scenarios(args: &Args) -> anyhow::Result<(Option<Flash>, Option<Spread>)> {
    let database = fresh_database(&args.postgres).await?;
    let data_dir = std::env::temp_dir().join(format!(
        "bangban-bench-booking-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir)?;
    let mut env = server_env(
        &database,
        &args.redis,
        &data_dir,
        &[
            // Only the booking path is measured (no WeChat here, so no pushes to send).
            ("BANGBAN_PUSH_WORKER_ENABLED", "false"),
            ("BANGBAN_LIMITS_BOOK_PER_USER_PER_MINUTE", "100000000"),
            ("BANGBAN_LIMITS_BOOK_PER_IP_PER_MINUTE", "100000000"),
        ],
    );
    set_env(&mut env, "BANGBAN_SEED_DEMO", "true");
    // The scenarios staff their points themselves (seats follow the agents on duty).
    set_env(&mut env, "BANGBAN_SEED_DEMO_STAFF", "false");
    let prefix = format!("bench-booking-{}:", uuid::Uuid::new_v4().simple());
    set_env(&mut env, "BANGBAN_REDIS_KEY_PREFIX", &prefix);
    let server = Server::start(&env)?;
    let result = booking_on(args, &server, &env, database).await;
    server.stop();
    result
}

async fn booking_on(
    args: &Args,
    server: &Server,
    env: &[(String, String)],
    database: String,
) -> anyhow::Result<(Option<Flash>, Option<Spread>)> {
    eprintln!("booking: setting up the demo county");
    create_admin(env, "bench.admin")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let login = graphql(
        &client,
        &server.url,
        None,
        "mutation($u: String!, $p: String!) { loginStaff(username: $u, password: $p) { accessToken } }",
        json!({"u": "bench.admin", "p": STAFF_PASSWORD}),
    )
    .await?;
    let admin = login["loginStaff"]["accessToken"]
        .as_str()
        .context("admin token")?
        .to_string();
    let data = graphql(
        &client,
        &server.url,
        None,
        "{ servicePoints(kind: TOWNSHIP_CENTER) { id region { id } } items(level: TOWNSHIP) { id } }",
        json!({}),
    )
    .await?;
    let points: Vec<Point> = data["servicePoints"]
        .as_array()
        .context("servicePoints")?
        .iter()
        .filter_map(|p| {
            Some((
                p["id"].as_str()?.to_string(),
                p["region"]["id"].as_str()?.to_string(),
            ))
        })
        .collect();
    if points.len() < 2 {
        bail!(
            "the demo county should have township centres; found {}",
            points.len()
        );
    }
    let item = data["items"][0]["id"]
        .as_str()
        .context("a township-level item")?
        .to_string();
    eprintln!("booking: logging in {} residents", args.booking_residents);
    let residents = login_all(
        &client,
        &server.url,
        (0..args.booking_residents)
            .map(|n| format!("booking-{n}"))
            .collect(),
    )
    .await?;
    let desk = Desk {
        url: server.url.clone(),
        database,
        client,
        admin,
        item,
        residents,
    };
    let flash = if args.scenarios.flash {
        Some(flash_crowd(args, &desk, &points[0]).await?)
    } else {
        None
    };
    let spread = if args.scenarios.spread {
        Some(spread(args, &desk, &points[1..]).await?)
    } else {
        None
    };
    Ok((flash, spread))
}

// ---------------------------------------------------------------- report

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let run = args.scenarios;
    println!("Bangban benchmarks — {}", run.names());
    let mut rows = Vec::new();

    if run.fanout {
        println!(
            "live fan-out: {} subscriptions over {} residents, {} events/s for {} s",
            args.subscriptions, args.residents, args.events_per_second, args.seconds
        );
        let database = fresh_database(&args.postgres).await?;
        let data_dir =
            std::env::temp_dir().join(format!("bangban-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)?;
        let env = server_env(
            &database,
            &args.redis,
            &data_dir,
            &[("BANGBAN_PUSH_WORKER_ENABLED", "false")],
        );
        let a = Server::start(&env)?;
        let client = reqwest::Client::new();
        let tokens = login_all(
            &client,
            &a.url,
            (0..args.residents).map(|n| format!("bench-{n}")).collect(),
        )
        .await?;

        let (redis_p50, redis_p99) = redis_baseline(
            &args.redis,
            args.events_per_second,
            (args.events_per_second * args.seconds) as usize,
        )
        .await?;
        let one = fan_out(&args, &[&a], &tokens, &a).await?;
        a.stop();
        if args.quick {
            println!(
                "quick: p50 {:.1} ms, p99 {:.1} ms, {} of {} delivered, RSS per idle subscription {:.1} KiB (Redis p99 {:.2} ms)",
                one.p50_ms,
                one.p99_ms,
                one.delivered,
                one.expected,
                one.rss_per_subscription_kib,
                redis_p99
            );
        } else {
            // Fresh instances, so that each RSS figure starts from an idle process.
            let a = Server::start(&env)?;
            let b = Server::start(&env)?;
            let two = fan_out(&args, &[&a, &b], &tokens, &a).await?;
            a.stop();
            b.stop();
            for (name, fan) in [
                ("live fan-out, 1 instance", &one),
                ("live fan-out, 2 instances", &two),
            ] {
                rows.push(format!(
                    "| {name}: commit → client p50 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p50 {:.2} ms | {:.1}× | — |",
                    fan.p50_ms,
                    redis_p50,
                    fan.p50_ms / redis_p50
                ));
                rows.push(format!(
                    "| {name}: commit → client p99 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p99 {:.2} ms | {:.1}× | ≤ 50 ms |",
                    fan.p99_ms,
                    redis_p99,
                    fan.p99_ms / redis_p99
                ));
                rows.push(format!(
                    "| {name}: deliveries | {} of {} | — | — | all |",
                    fan.delivered, fan.expected
                ));
                rows.push(format!(
                    "| {name}: RSS per idle subscription | {:.1} KiB | — | — | ≤ 20 KiB |",
                    fan.rss_per_subscription_kib
                ));
            }
        }
    }

    if run.push {
        let (push_rate, push_baseline) = push_scenario(&args).await?;
        rows.push(format!(
            "| push sender | {:.0} msg/s | plain HTTP POST loop {:.0} msg/s | {:.2} | ≥ 0.5 |",
            push_rate,
            push_baseline,
            push_rate / push_baseline
        ));
    }

    if run.flash || run.spread {
        let (flash, spread) = booking_scenarios(&args).await?;
        if let Some(f) = flash {
            let (failed, failures) = f.tally.failures("flash crowd", &["SLOT_FULL"]);
            let seats = f.seats as i64;
            let exact = f.tally.booked.len() == f.seats
                && f.rows == seats
                && f.distinct_residents == seats
                && f.slot_booked == seats
                && f.lost == 0;
            rows.push(format!(
                "| flash crowd: attempts answered/s ({} attempts, {} residents, {} seats) | {:.0}/s | guarded UPDATE + INSERT on one hot row, {HOT_ROW_CONNECTIONS} connections: {:.0} tx/s | {:.2} | ≥ 5 |",
                f.tally.attempts(),
                f.residents,
                f.seats,
                f.per_second,
                f.baseline.per_second,
                f.per_second / f.baseline.per_second
            ));
            rows.push(format!(
                "| flash crowd: attempt p99 | {:.1} ms (p50 {:.1} ms) | one hot-row transaction p99 {:.1} ms | {:.1}× | — |",
                percentile(&f.tally.latencies_ms, 0.99),
                percentile(&f.tally.latencies_ms, 0.50),
                f.baseline.p99_ms,
                percentile(&f.tally.latencies_ms, 0.99) / f.baseline.p99_ms
            ));
            rows.push(format!(
                "| flash crowd: bookings made | {} answered; database: {} rows, {} distinct residents, slot booked {} of {}; {} lost — {} | — | — | exactly {}, 0 lost, 0 duplicate |",
                f.tally.booked.len(),
                f.rows,
                f.distinct_residents,
                f.slot_booked,
                f.slot_capacity,
                f.lost,
                if exact { "ok" } else { "WRONG" },
                f.seats
            ));
            rows.push(format!(
                "| flash crowd: answers | {} booked, {} SLOT_FULL, {failed} other: {failures} | — | — | no other |",
                f.tally.booked.len(),
                f.tally.refused("SLOT_FULL")
            ));
            rows.push(format!(
                "| flash crowd: the server's ceiling here (authenticated `{{ __typename }}`, same crowd) | {:.0}/s | hot row {:.0} tx/s | {:.2} | — |",
                f.ceiling_per_second,
                f.baseline.per_second,
                f.ceiling_per_second / f.baseline.per_second
            ));
        }
        if let Some(s) = spread {
            let (failed, failures) = s.tally.failures("booking, spread", &[]);
            let booked = s.tally.booked.len() as i64;
            let consistent = s.rows == booked && s.booked_sum == booked && s.over_capacity == 0;
            rows.push(format!(
                "| booking, spread: bookings/s ({} over {} slots, {} clients) | {:.0}/s | the same SQL directly over {} rows, {} connections: {:.0} tx/s | {:.2} | ≥ 0.7 |",
                s.tally.attempts(),
                s.slots,
                s.clients,
                s.per_second,
                s.slots,
                s.clients,
                s.baseline.per_second,
                s.per_second / s.baseline.per_second
            ));
            rows.push(format!(
                "| booking, spread: p99 | {:.1} ms (p50 {:.1} ms) | one transaction p99 {:.1} ms | {:.1}× | — |",
                percentile(&s.tally.latencies_ms, 0.99),
                percentile(&s.tally.latencies_ms, 0.50),
                s.baseline.p99_ms,
                percentile(&s.tally.latencies_ms, 0.99) / s.baseline.p99_ms
            ));
            rows.push(format!(
                "| booking, spread: bookings made | {booked} of {}; database: {} rows, slots booked {}, {} over capacity — {}; refused: {failed} ({failures}) | — | — | all |",
                s.tally.attempts(),
                s.rows,
                s.booked_sum,
                s.over_capacity,
                if consistent { "ok" } else { "WRONG" }
            ));
        }
    }

    if !rows.is_empty() {
        println!();
        println!("| scenario | figure | baseline (same run) | ratio | goal |");
        println!("|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    }
    Ok(())
}
