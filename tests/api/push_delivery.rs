//! Pushes that are never lost and never doubled: PostgreSQL holds the record of every message
//! to send, so a Redis that forgets loses nothing; a send whose answer is lost is never repeated
//! (UNKNOWN); a slow send is never taken over by a second worker.
use std::time::Duration;

use serde_json::json;

use crate::{
    events::{
        OwnRedis, bind, deliveries, free_port, push_template, resident_with_consent,
        wait_for_status, with_push, with_push_timing_out_after,
    },
    fake_wechat::{Api, FakeWechat},
    helpers::{Backend, Options, TestApp, expect_data, fresh_postgres_database, postgres_backend},
};

async fn work(app: &TestApp, consumer: &str) -> usize {
    bangban_server::push::worker::run_once(&app.state, consumer, Duration::from_millis(200))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn a_redis_that_forgot_everything_between_commit_and_send_loses_no_push() {
    let (database, _) = postgres_backend().expect("PostgreSQL + Redis");
    let dir = std::env::temp_dir().join(format!("bangban-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = OwnRedis::start(free_port(), &dir);
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        sibling_of: Some(Backend {
            data_dir: dir.join("data"),
            database_url: Some(fresh_postgres_database(&database).await),
            redis_url: Some(format!("redis://127.0.0.1:{}/", redis.port)),
            redis_prefix: "flush:".into(),
        }),
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(|s| {
            s.push.templates = vec![push_template()];
            s.push.worker_enabled = false; // the test is the worker
        })),
        ..Options::default()
    })
    .await;
    let resident = resident_with_consent(&app, &fake, "openid-flushed", 5, true).await;
    // Warm the worker once, so that whatever it keeps in Redis exists before the flush.
    work(&app, "w").await;
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138090")).await);
    bangban_server::events::relay::drain(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();

    // Redis restarts without persistence: everything it was given is gone.
    let flushed = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "flushall"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&flushed.stdout).contains("OK"));

    for _ in 0..20 {
        work(&app, "w").await;
        if !fake.sent().is_empty() {
            break;
        }
    }
    for _ in 0..3 {
        work(&app, "w").await;
    }
    assert_eq!(fake.sent().len(), 1, "sent exactly once");
    let sent = wait_for_status(&app, &resident, "SENT").await;
    assert_eq!(sent["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_answer_is_lost_is_never_resent_and_reads_unknown() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(with_push_timing_out_after(&fake, 300)).await;
    let resident = resident_with_consent(&app, &fake, "openid-late-answer", 3, true).await;
    fake.answer_late_next(Api::SubscribeSend, 1, 1_500);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138091")).await);
    let unknown = wait_for_status(&app, &resident, "UNKNOWN").await;
    assert_eq!(unknown["attempts"], 1, "{unknown}");
    assert!(unknown["msgid"].is_null());
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        fake.sent().len(),
        1,
        "WeChat got it once; it is never resent"
    );
    assert_eq!(
        deliveries(&app, &resident).await[0]["status"],
        "UNKNOWN",
        "and it stays UNKNOWN"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_send_is_never_taken_over_by_a_second_worker() {
    let fake = FakeWechat::start().await;
    let mut options = with_push(&fake);
    options.tweak = Some(Box::new(|s| {
        s.push.templates = vec![push_template()];
        s.push.reclaim_after_ms = 100;
        s.push.worker_enabled = false; // the test runs two workers
    }));
    let app = TestApp::spawn_with(options).await;
    let resident = resident_with_consent(&app, &fake, "openid-slow-send", 3, true).await;
    fake.answer_late_next(Api::SubscribeSend, 1, 800);
    expect_data(&bind(&app, &resident, &fake.phone_code("13800138092")).await);
    bangban_server::events::relay::drain(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let state = app.state.clone();
    let first = tokio::spawn(async move {
        bangban_server::push::worker::run_once(&state, "w1", Duration::from_millis(200))
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    work(&app, "w2").await;
    first.await.unwrap();
    for _ in 0..3 {
        work(&app, "w2").await;
    }
    assert_eq!(fake.sent().len(), 1, "sent once");
    let all = deliveries(&app, &resident).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "SENT", "{all:?}");
    assert_eq!(all[0]["attempts"], 1, "{all:?}");
    let _ = json!({});
}
