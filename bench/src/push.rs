//! Push sender: a backlog of queued WeChat subscribe messages sent by one push worker to a fake
//! WeChat server; the baseline is a plain HTTP POST loop to the same fake.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::{
    args::Args,
    server::{Server, fresh_database, graphql, login_all, server_env},
};

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

/// The push scenario: (messages sent per second by one push worker, the baseline's rate).
pub(crate) async fn push_scenario(args: &Args) -> anyhow::Result<(f64, f64)> {
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
