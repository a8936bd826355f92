//! Bangban benchmarks (see QUALITY.md). Every figure is printed beside a baseline measured in the
//! same run on the same machine, and their ratio; nothing here asserts a time.
//!
//! * live fan-out: N open `myEvents` subscriptions on one server instance, then split over two
//!   instances sharing PostgreSQL and Redis; events at a fixed rate; commit → client latency
//!   p50/p99 and server RSS per idle subscription. Baseline: raw Redis PUBLISH → SUBSCRIBE.
//! * push sender: a backlog of queued WeChat subscribe messages sent by one push worker to a fake
//!   WeChat server. Baseline: a plain HTTP POST loop to the same fake.
//!
//! Run it with `bash bench/run.sh` (it starts PostgreSQL and Redis and builds in release mode).
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
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
    /// Run only the one-instance fan-out (a quick look at latency and memory).
    quick: bool,
    /// Open sockets without subscribing (to tell connection memory from subscription memory).
    no_subscribe: bool,
}

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
    };
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
            other => bail!("unknown flag {other}"),
        }
    }
    if args.postgres.is_empty() || args.redis.is_empty() {
        bail!(
            "usage: bangban-bench --postgres URL --redis URL [--subscriptions N] [--residents N] [--events-per-second N] [--seconds N] [--push-messages N]"
        );
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

async fn graphql(
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
    let body: Value = request.send().await?.json().await?;
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
    let mut requests = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let token = tokens[n % tokens.len()].clone();
        let client = client.clone();
        let url = producer.url.clone();
        requests.push(tokio::spawn(async move {
            let phone = format!("139{:08}", n);
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

// ---------------------------------------------------------------- report

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    println!(
        "Bangban benchmarks — {} subscriptions over {} residents, {} events/s for {} s",
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
        return Ok(());
    }
    // Fresh instances, so that each RSS figure starts from an idle process.
    let a = Server::start(&env)?;
    let b = Server::start(&env)?;
    let two = fan_out(&args, &[&a, &b], &tokens, &a).await?;
    a.stop();
    b.stop();
    let (push_rate, push_baseline) = push_scenario(&args).await?;

    println!();
    println!("| scenario | figure | baseline (same run) | ratio | goal |");
    println!("|---|---|---|---|---|");
    for (name, run) in [
        ("live fan-out, 1 instance", &one),
        ("live fan-out, 2 instances", &two),
    ] {
        println!(
            "| {name}: commit → client p50 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p50 {:.2} ms | {:.1}× | — |",
            run.p50_ms,
            redis_p50,
            run.p50_ms / redis_p50
        );
        println!(
            "| {name}: commit → client p99 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p99 {:.2} ms | {:.1}× | ≤ 50 ms |",
            run.p99_ms,
            redis_p99,
            run.p99_ms / redis_p99
        );
        println!(
            "| {name}: deliveries | {} of {} | — | — | all |",
            run.delivered, run.expected
        );
        println!(
            "| {name}: RSS per idle subscription | {:.1} KiB | — | — | ≤ 20 KiB |",
            run.rss_per_subscription_kib
        );
    }
    println!(
        "| push sender | {:.0} msg/s | plain HTTP POST loop {:.0} msg/s | {:.2} | ≥ 0.5 |",
        push_rate,
        push_baseline,
        push_rate / push_baseline
    );
    Ok(())
}
