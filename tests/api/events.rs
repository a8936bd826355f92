//! Events end to end: written with their change, relayed, fanned out to live subscriptions
//! (replay with `after`, no gap, no duplicate, across instances), and pushed as WeChat subscribe
//! messages with consent credits and delivery status; faults included.
use std::time::Duration;

use bangban_server::{auth::Role, config::TemplateSettings};
use serde_json::{Value, json};

use crate::{
    directory::{CHENGNEI, COUNTY, LONGGANG, test_id_number},
    fake_wechat::{Api, FakeWechat},
    helpers::{Options, Session, TestApp, WsClient, expect_data, expect_error, postgres_backend},
};

const MY_EVENTS: &str = "subscription($after: ID) { myEvents(after: $after) { id kind subjectKind subjectId payload } }";
pub(crate) const TEMPLATE: &str = "TPL-PHONE-BOUND";
const WAIT: Duration = Duration::from_secs(15);

pub(crate) fn push_template() -> TemplateSettings {
    TemplateSettings {
        event_kind: "account.phone_bound".into(),
        template_id: TEMPLATE.into(),
        page: Some("pages/me/index".into()),
        long_term: false,
        data: [
            ("thing1", "title"),
            ("character_string2", "phone"),
            ("time3", "at"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        recipients: Default::default(),
    }
}

pub(crate) fn with_push(fake: &FakeWechat) -> Options {
    Options {
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(|s| {
            s.push.templates = vec![push_template()];
            s.push.reclaim_after_ms = 200;
        })),
        ..Options::default()
    }
}

/// Pushes on, with WeChat calls timing out after `ms`.
pub(crate) fn with_push_timing_out_after(fake: &FakeWechat, ms: u64) -> Options {
    let mut options = with_push(fake);
    options.tweak = Some(Box::new(move |s| {
        s.push.templates = vec![push_template()];
        s.wechat.timeout_ms = ms;
    }));
    options
}

pub(crate) async fn bind(app: &TestApp, session: &Session, code: &str) -> Value {
    app.as_(
        session,
        "mutation($c: String!) { bindPhone(code: $c) { phone } }",
        json!({"c": code}),
    )
    .await
}

pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_events_arrive_live_and_replay_after_a_reconnect_without_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let resident = app.login_resident("events-live").await;
    let mut ws = WsClient::connect(&app, Some(&resident.access)).await;
    ws.subscribe("live", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    expect_data(&bind(&app, &resident, "13800138001").await);
    let first = ws.next_event("live", "myEvents", WAIT).await;
    assert_eq!(first["kind"], "account.phone_bound");
    assert_eq!(first["subjectId"], resident.user_id.as_str());
    assert_eq!(first["payload"]["phone"], "138****8001");
    assert!(
        !first.to_string().contains("13800138001"),
        "no plain phone in events"
    );

    expect_data(&bind(&app, &resident, "13800138002").await);
    let second = ws.next_event("live", "myEvents", WAIT).await;
    drop(ws);

    // Offline: two more happen; a reconnect with `after` = first gets 2nd, 3rd, 4th, then live.
    expect_data(&bind(&app, &resident, "13800138003").await);
    expect_data(&bind(&app, &resident, "13800138004").await);
    let mut ws = WsClient::connect(&app, Some(&resident.access)).await;
    ws.subscribe("again", MY_EVENTS, json!({"after": first["id"]}))
        .await;
    let replayed: Vec<Value> = vec![
        ws.next_event("again", "myEvents", WAIT).await,
        ws.next_event("again", "myEvents", WAIT).await,
        ws.next_event("again", "myEvents", WAIT).await,
    ];
    assert_eq!(replayed[0]["id"], second["id"]);
    let phones: Vec<&str> = replayed
        .iter()
        .map(|e| e["payload"]["phone"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["138****8002", "138****8003", "138****8004"]);
    expect_data(&bind(&app, &resident, "13800138005").await);
    let live = ws.next_event("again", "myEvents", WAIT).await;
    assert_eq!(live["payload"]["phone"], "138****8005");
    assert!(
        ws.next_message(Duration::from_millis(700)).await.is_none(),
        "nothing twice"
    );

    // Another resident hears none of it.
    let other = app.login_resident("events-other").await;
    let mut ws = WsClient::connect(&app, Some(&other.access)).await;
    ws.subscribe("other", MY_EVENTS, json!({"after": first["id"]}))
        .await;
    assert!(ws.next_message(Duration::from_millis(700)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_refuse_bad_cursors_and_subjects_outside_the_jurisdiction() {
    let app = TestApp::with_demo().await;
    let county = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let other_town = app
        .staff_session("zc.admin", Role::TownshipAdmin, "140521101")
        .await;
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let submitted = expect_data(&app.as_(&town, "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id } }", json!({"input": {
        "regionId": app.region_id(CHENGNEI).await, "post": "帮办员", "name": "李四", "username": "li.si", "role": "VILLAGE_AGENT",
        "idNumber": test_id_number(11), "phone": "13900000011", "email": "li@example.cn", "arrivalDate": (today + chrono::Duration::days(5)).to_string()}})).await);
    let change_id = submitted["submitStaffChange"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut submitter = WsClient::connect(&app, Some(&town.access)).await;
    submitter.subscribe("mine", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    expect_data(&app.as_(&county, "mutation($id: ID!) { decideStaffChange(id: $id, approve: false, reason: \"材料不全\") { status } }", json!({"id": change_id})).await);
    let decided = submitter.next_event("mine", "myEvents", WAIT).await;
    assert_eq!(decided["kind"], "staff_change.decided");
    assert_eq!(decided["payload"]["reason"], "材料不全");

    let subject_query =
        "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }";
    let mut own = WsClient::connect(&app, Some(&county.access)).await;
    own.subscribe(
        "s",
        subject_query,
        json!({"s": change_id, "a": "00000000-0000-7000-8000-000000000000"}),
    )
    .await;
    let refused = own.next_message(WAIT).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );

    let mut outsider = WsClient::connect(&app, Some(&other_town.access)).await;
    outsider
        .subscribe("s", subject_query, json!({"s": change_id}))
        .await;
    let refused = outsider.next_message(WAIT).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );

    let mut anonymous = WsClient::connect(&app, None).await;
    anonymous.subscribe("m", MY_EVENTS, json!({})).await;
    let refused = anonymous.next_message(WAIT).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "several instances need the shared backend: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn an_event_committed_through_one_instance_reaches_a_subscriber_on_another() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options {
        sibling_of: Some(a.backend.clone()),
        ..Options::default()
    })
    .await;
    let resident = a.login_resident("two-instances").await;
    let mut ws = WsClient::connect(&b, Some(&resident.access)).await;
    ws.subscribe("b", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_data(&bind(&a, &resident, "13800138010").await);
    let event = ws.next_event("b", "myEvents", WAIT).await;
    assert_eq!(event["payload"]["phone"], "138****8010");
    assert!(
        ws.next_message(Duration::from_millis(700)).await.is_none(),
        "once, although two relays run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_crash_are_delivered_after_restart() {
    let fake = FakeWechat::start().await;
    let mut options = with_push(&fake);
    options.tweak = Some(Box::new(|s| {
        s.push.templates = vec![push_template()];
        // The first instance dies before its relay publishes anything.
        s.events.relay_enabled = false;
        s.push.worker_enabled = false;
    }));
    let first = TestApp::spawn_with(options).await;
    let openid = "openid-crash";
    let resident = Session::from_payload(
        &first.login_with_code(&fake.login_code(openid)).await["data"]["loginWithWechat"],
    );
    fake.grant(openid, TEMPLATE, 1);
    expect_data(&first.as_(&resident, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-PHONE-BOUND\", status: ACCEPT}]) { credits } }", json!({})).await);
    expect_data(&bind(&first, &resident, &fake.phone_code("13800138020")).await);
    let unpublished = first.dump_table("outbox").await;
    assert!(
        unpublished.contains("published_at=None"),
        "the outbox row waits: {unpublished}"
    );
    let backend = first.backend.clone();
    first.stop().await;

    let restarted = TestApp::spawn_with(Options {
        sibling_of: Some(backend),
        ..with_push(&fake)
    })
    .await;
    wait_for("the push after restart", || {
        let fake = fake.clone();
        async move { fake.sent().len() == 1 }
    })
    .await;
    let sent = fake.sent();
    assert_eq!(sent[0]["touser"], openid);
    assert_eq!(sent[0]["data"]["character_string2"]["value"], "138****8020");
    drop(restarted);
}

pub(crate) async fn resident_with_consent(
    app: &TestApp,
    fake: &FakeWechat,
    openid: &str,
    at_wechat: u32,
    here: bool,
) -> Session {
    let resident = Session::from_payload(
        &app.login_with_code(&fake.login_code(openid)).await["data"]["loginWithWechat"],
    );
    fake.grant(openid, TEMPLATE, at_wechat);
    if here {
        let credits = expect_data(&app.as_(&resident, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-PHONE-BOUND\", status: ACCEPT}, {templateId: \"TPL-PHONE-BOUND\", status: ACCEPT}]) { templateId credits longTerm } }", json!({})).await);
        assert_eq!(
            credits["recordSubscribeConsent"],
            json!([{"templateId": TEMPLATE, "credits": 2, "longTerm": false}])
        );
    }
    resident
}

pub(crate) async fn deliveries(app: &TestApp, resident: &Session) -> Vec<Value> {
    let response = app
        .as_(
            resident,
            "{ myPushDeliveries { eventId status attempts lastError msgid } }",
            json!({}),
        )
        .await;
    expect_data(&response)["myPushDeliveries"]
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) async fn wait_for_status(app: &TestApp, resident: &Session, status: &str) -> Value {
    let mut last = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        last = deliveries(app, resident).await;
        if let Some(d) = last.iter().find(|d| d["status"] == status) {
            return d.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {status} delivery: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consented_event_is_pushed_once_with_fitted_values_and_its_msgid() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(with_push(&fake)).await;
    let resident = resident_with_consent(&app, &fake, "openid-push", 5, true).await;
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138030")).await);
    let sent = wait_for_status(&app, &resident, "SENT").await;
    let msgid: u64 = sent["msgid"].as_str().unwrap().parse().unwrap();
    assert!(msgid > (1u64 << 53), "msgid kept as a u64: {msgid}");
    let messages = fake.sent();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["template_id"], TEMPLATE);
    assert_eq!(messages[0]["page"], "pages/me/index");
    assert_eq!(messages[0]["data"]["thing1"]["value"], "手机号绑定成功");
    assert!(
        messages[0]["data"]["time3"]["value"]
            .as_str()
            .unwrap()
            .contains('年')
    );
    let credits = expect_data(&app.as_(&resident, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-PHONE-BOUND\", status: REJECT}]) { credits } }", json!({})).await);
    assert_eq!(
        credits["recordSubscribeConsent"][0]["credits"], 1,
        "the push used one credit"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.sent().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_nothing_is_sent_and_43101_resets_the_credits() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(with_push(&fake)).await;
    let silent = resident_with_consent(&app, &fake, "openid-no-consent", 0, false).await;
    expect_data(&bind(&app, &silent, &fake.phone_code("13800138040")).await);
    let delivery = wait_for_status(&app, &silent, "NO_CONSENT").await;
    assert_eq!(delivery["attempts"], 0);
    assert!(fake.sent().is_empty());

    // Our credits say yes, WeChat says 43101 (the user revoked in settings): NO_CONSENT, credits 0.
    let revoked = resident_with_consent(&app, &fake, "openid-revoked", 0, true).await;
    expect_data(&bind(&app, &revoked, &fake.phone_code("13800138041")).await);
    let delivery = wait_for_status(&app, &revoked, "NO_CONSENT").await;
    assert!(delivery["lastError"].as_str().unwrap().starts_with("43101"));
    let credits = expect_data(&app.as_(&revoked, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-PHONE-BOUND\", status: REJECT}]) { credits } }", json!({})).await);
    assert_eq!(credits["recordSubscribeConsent"][0]["credits"], 0);

    let unknown = app.as_(&revoked, "mutation { recordSubscribeConsent(results: [{templateId: \"NOT-OURS\", status: ACCEPT}]) { credits } }", json!({})).await;
    assert_eq!(
        expect_error(&unknown, "BAD_USER_INPUT")["extensions"]["field"],
        "results[0].templateId"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_faults_are_retried_refreshed_or_recorded() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(with_push(&fake)).await;
    let resident = resident_with_consent(&app, &fake, "openid-faults", 10, true).await;

    // 47003: permanent, with WeChat's field.
    fake.fail_next(Api::SubscribeSend, &[47003]);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138050")).await);
    let permanent = wait_for_status(&app, &resident, "FAILED_PERMANENT").await;
    assert!(
        permanent["lastError"]
            .as_str()
            .unwrap()
            .starts_with("47003")
    );

    // -1 then 45011, then success: retried with backoff.
    fake.fail_next(Api::SubscribeSend, &[-1, 45011]);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138051")).await);
    wait_for_status(&app, &resident, "SENT").await;

    // Busy beyond the attempts: FAILED_TEMPORARY (WeChat never took it; the credit is back).
    fake.fail_next(Api::SubscribeSend, &[-1, -1, -1, -1]);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138052")).await);
    let temporary = wait_for_status(&app, &resident, "FAILED_TEMPORARY").await;
    assert_eq!(
        temporary["attempts"], 4,
        "four sends (the configured attempts), then given up"
    );

    // An invalidated access token: one refresh, one retry, sent.
    fake.invalidate_tokens();
    let before = fake.tokens_issued();
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138053")).await);
    wait_for("the fourth delivery", || {
        let app = &app;
        let resident = &resident;
        async move {
            deliveries(app, resident)
                .await
                .iter()
                .filter(|d| d["status"] == "SENT")
                .count()
                == 2
        }
    })
    .await;
    assert_eq!(fake.tokens_issued(), before + 1);
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_send_is_never_retried_and_reads_unknown() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(with_push_timing_out_after(&fake, 300)).await;
    let resident = resident_with_consent(&app, &fake, "openid-timeout", 3, true).await;
    // The request is lost on the way; the server cannot tell that from a lost answer.
    fake.stall_next(Api::SubscribeSend, 1, 1_500);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138080")).await);
    let unknown = wait_for_status(&app, &resident, "UNKNOWN").await;
    assert_eq!(unknown["attempts"], 1, "one send, no retry: {unknown}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(
        fake.sent().is_empty(),
        "never sent again (a resend would go through)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_sending_by_a_stopped_worker_reads_unknown_and_is_never_resent() {
    let fake = FakeWechat::start().await;
    let mut options = with_push(&fake);
    options.tweak = Some(Box::new(|s| {
        s.push.templates = vec![push_template()];
        s.push.reclaim_after_ms = 100;
        s.wechat.timeout_ms = 200;
        s.push.worker_enabled = false; // the test is the worker
    }));
    let app = TestApp::spawn_with(options).await;
    let resident = resident_with_consent(&app, &fake, "openid-crashing-worker", 5, true).await;
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138060")).await);

    // What a worker that claimed the message, sent it and died leaves behind.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let claimed = entity::push_deliveries::Entity::update_many()
        .col_expr(
            entity::push_deliveries::Column::Status,
            Expr::value("sending"),
        )
        .col_expr(entity::push_deliveries::Column::Attempts, Expr::value(1))
        .col_expr(
            entity::push_deliveries::Column::ClaimedAt,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::minutes(2))),
        )
        .filter(entity::push_deliveries::Column::Status.eq("queued"))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(claimed.rows_affected, 1);

    let handled =
        bangban_server::push::worker::run_once(&app.state, "worker-2", Duration::from_millis(200))
            .await
            .unwrap();
    assert_eq!(handled, 0, "nothing is due to send");
    let unknown = wait_for_status(&app, &resident, "UNKNOWN").await;
    assert_eq!(unknown["attempts"], 1);
    assert!(fake.sent().is_empty(), "not sent again");
}

/// A Redis of the test's own, to stop and restart without disturbing other tests.
pub(crate) struct OwnRedis {
    pub(crate) port: u16,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    pub(crate) fn start(port: u16, dir: &std::path::Path) -> Self {
        let status = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
            ])
            .arg("--dir")
            .arg(dir)
            .status()
            .expect("redis-server");
        assert!(status.success());
        let redis = Self {
            port,
            dir: dir.to_path_buf(),
        };
        for _ in 0..50 {
            if redis.ping() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start");
    }

    fn ping(&self) -> bool {
        std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "ping"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
    }

    pub(crate) fn stop(&self) {
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "shutdown", "nosave"])
            .status();
        for _ in 0..50 {
            if !self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn restart(&self) -> Self {
        Self::start(self.port, &self.dir)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "the fault needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn with_redis_stopped_mutations_still_commit_and_their_events_arrive_once_it_is_back() {
    let (database, _) = postgres_backend().expect("PostgreSQL + Redis");
    let dir = std::env::temp_dir().join(format!("bangban-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = OwnRedis::start(free_port(), &dir);
    let backend = crate::helpers::Backend {
        data_dir: dir.join("data"),
        database_url: Some(crate::helpers::fresh_postgres_database(&database).await),
        redis_url: Some(format!("redis://127.0.0.1:{}/", redis.port)),
        redis_prefix: "fault:".into(),
    };
    let app = TestApp::spawn_with(Options {
        sibling_of: Some(backend),
        ..Options::default()
    })
    .await;
    let resident = app.login_resident("redis-outage").await;
    let mut ws = WsClient::connect(&app, Some(&resident.access)).await;
    ws.subscribe("live", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    redis.stop();
    expect_data(&bind(&app, &resident, "13800138070").await);
    expect_data(&bind(&app, &resident, "13800138071").await);
    assert!(
        ws.next_message(Duration::from_millis(500)).await.is_none(),
        "nothing can be relayed yet"
    );

    let _back = redis.restart();
    let first = ws
        .next_event("live", "myEvents", Duration::from_secs(30))
        .await;
    let second = ws
        .next_event("live", "myEvents", Duration::from_secs(30))
        .await;
    assert_eq!(first["payload"]["phone"], "138****8070");
    assert_eq!(second["payload"]["phone"], "138****8071");
    std::mem::forget(redis); // `_back` stops the same server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_without_stalling_the_others() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| {
            s.http.ws_stall_timeout_ms = 300;
            // Headroom for the fast reader on a busy machine; fewer than the events sent, so
            // the slow one still overflows.
            s.events.hub_capacity = 2048;
        })),
        ..Options::default()
    })
    .await;
    let resident = app.login_resident("slow-and-fast").await;
    let mut fast = WsClient::connect(&app, Some(&resident.access)).await;
    fast.subscribe("fast", MY_EVENTS, json!({})).await;

    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut slow, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::SinkExt;
    slow.send(Message::Text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", resident.access)}}).to_string().into())).await.unwrap();
    slow.send(Message::Text(
        json!({"id": "slow", "type": "subscribe", "payload": {"query": MY_EVENTS}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    const EVENTS: usize = 3000;
    let key =
        bangban_server::events::resident_key(uuid::Uuid::parse_str(&resident.user_id).unwrap());
    let hub = app.state.hub.clone();
    let publisher = tokio::spawn(async move {
        for n in 0..EVENTS {
            hub.publish(std::sync::Arc::new(bangban_server::events::Envelope {
                id: uuid::Uuid::now_v7(),
                seq: n as i64 + 1,
                position: Some(n as i64 + 1),
                kind: "test.padding".into(),
                topic: "account".into(),
                subject_kind: "account".into(),
                subject_id: "padding".into(),
                audience: vec![key.clone()],
                payload: json!({"n": n, "pad": "x".repeat(8192)}),
                created_at: chrono::Utc::now(),
            }));
            if n % 8 == 7 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let mut received = 0;
    while received < EVENTS {
        let event = fast
            .next_event("fast", "myEvents", Duration::from_secs(20))
            .await;
        assert_eq!(event["payload"]["n"], received, "in order, none missing");
        received += 1;
    }
    publisher.await.unwrap();

    let close = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.next().await {
                Some(Ok(Message::Close(frame))) => return Ok(frame),
                Some(Ok(_)) => continue,
                // The server gave up writing into the full socket and dropped it: the close
                // frame may then never arrive, but the connection is closed all the same.
                Some(Err(error)) => return Err(error.to_string()),
                None => return Err("ended".into()),
            }
        }
    })
    .await
    .expect("the slow client is closed in time");
    if let Ok(frame) = close {
        let frame = frame.expect("a close frame with a code");
        assert_eq!(u16::from(frame.code), 1013);
        assert!(frame.reason.contains("after"), "{}", frame.reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departing_agent_is_disconnected_when_the_change_takes_effect() {
    let app = TestApp::spawn_with(Options {
        demo: true,
        tweak: Some(Box::new(|s| s.http.ws_session_check_seconds = 1)),
        ..Options::default()
    })
    .await;
    let county = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let departing = app
        .staff_session("leaving.agent", Role::VillageAgent, CHENGNEI)
        .await;
    let staff_id = departing.user_id.clone();
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let change = expect_data(&app.as_(&county, "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id } }", json!({"input": {
        "regionId": app.region_id(CHENGNEI).await, "beforeStaffId": staff_id, "post": "帮办员", "name": "接替者", "username": "successor",
        "role": "VILLAGE_AGENT", "idNumber": test_id_number(21), "phone": "13900000021", "email": "s@example.cn",
        "arrivalDate": (today + chrono::Duration::days(3)).to_string()}})).await);
    let id = change["submitStaffChange"]["id"].as_str().unwrap();
    expect_data(
        &app.as_(
            &county,
            "mutation($id: ID!) { decideStaffChange(id: $id, approve: true) { status } }",
            json!({"id": id}),
        )
        .await,
    );

    app.clock.advance(chrono::Duration::days(3));
    let departing = app.refresh(&departing).await;
    let mut ws = WsClient::connect(&app, Some(&departing.access)).await;
    ws.subscribe("mine", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let applied = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(applied.count("directory", "staff_changes"), 1);

    // The applied change is announced to the departing agent, then the socket closes.
    let event = ws.next_event("mine", "myEvents", WAIT).await;
    assert_eq!(event["kind"], "staff_change.applied");
    assert_eq!(
        ws.close_code(WAIT).await,
        Some(4403),
        "signed out that moment"
    );
}

#[tokio::test]
async fn published_outbox_rows_are_pruned_by_age_and_events_stay() {
    // The test is the only relay, so that it knows when the row was published.
    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| s.events.relay_enabled = false)),
        ..Options::default()
    })
    .await;
    let resident = app.login_resident("prune").await;
    expect_data(&bind(&app, &resident, "13800138090").await);
    bangban_server::events::relay::drain(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let kept = bangban_server::events::relay::prune(&app.state, chrono::Duration::days(7))
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(kept, 0, "young rows stay");
    app.clock.advance(chrono::Duration::days(8));
    let pruned = bangban_server::events::relay::prune(&app.state, chrono::Duration::days(7))
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(
        app.dump_table("events")
            .await
            .contains("account.phone_bound"),
        "the event itself stays"
    );
}
