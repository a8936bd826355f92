//! Replay follows commit order: an event inserted early but committed late is still replayed to
//! a client that reconnects after a later event it saw live.
use std::time::Duration;

use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;

use crate::{
    events::bind,
    helpers::{TestApp, WsClient},
};

const MY_EVENTS: &str = "subscription($after: ID) { myEvents(after: $after) { id kind } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs concurrent writers (PostgreSQL): SQLite commits in insert order"
)]
async fn an_event_committed_after_a_later_one_is_still_replayed_once_in_order() {
    let app = TestApp::spawn().await;
    let resident = app.login_resident("late-committer").await;
    let key = format!("resident:{}", resident.user_id);

    // Transaction A writes its event first (taking the lower sequence number) and stays open.
    let late = app.state.db.begin().await.unwrap();
    let late_id = uuid::Uuid::now_v7();
    let row = entity::events::ActiveModel {
        id: Set(late_id),
        kind: Set("test.late".into()),
        topic: Set("account".into()),
        subject_kind: Set("account".into()),
        subject_id: Set(resident.user_id.clone()),
        payload: Set("{}".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&late)
    .await
    .unwrap();
    entity::event_audience::ActiveModel {
        audience_key: Set(key.clone()),
        event_seq: Set(row.seq),
    }
    .insert(&late)
    .await
    .unwrap();
    entity::outbox::ActiveModel {
        event_seq: Set(row.seq),
        topic: Set("account".into()),
        created_at: Set(chrono::Utc::now()),
        published_at: Set(None),
        attempts: Set(0),
        ..Default::default()
    }
    .insert(&late)
    .await
    .unwrap();

    // Transaction B (a real mutation) inserts later and commits first; the client sees it live.
    let mut ws = WsClient::connect(&app, Some(&resident.access)).await;
    ws.subscribe("live", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    crate::helpers::expect_data(&bind(&app, &resident, "13800138100").await);
    let early = ws
        .next_event("live", "myEvents", Duration::from_secs(15))
        .await;
    assert_eq!(early["kind"], "account.phone_bound");
    drop(ws);

    // A commits and is relayed while the client is away; it reconnects after B and must get
    // A, once.
    late.commit().await.unwrap();
    bangban_server::events::relay::drain(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ws = WsClient::connect(&app, Some(&resident.access)).await;
    ws.subscribe("again", MY_EVENTS, json!({"after": early["id"]}))
        .await;
    let replayed = ws
        .next_event("again", "myEvents", Duration::from_secs(15))
        .await;
    assert_eq!(replayed["id"], late_id.to_string(), "{replayed}");
    assert!(
        ws.next_message(Duration::from_millis(1_000))
            .await
            .is_none(),
        "nothing twice"
    );
}
