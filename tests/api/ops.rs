//! Operations: health, readiness, metrics, request ids, configuration refusals.
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_report_their_dependencies() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["storeStatus"], "ok");
    let expected = if crate::helpers::postgres_backend().is_some() {
        "redis"
    } else {
        "in-process"
    };
    assert_eq!(ready["store"], expected);
}

async fn metrics(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_count_operations_by_name_and_outcome() {
    let app = TestApp::spawn().await;
    app.http
        .post(app.url("/graphql"))
        .json(&json!({"query": "query ClockCheck { serverTime }", "operationName": "ClockCheck"}))
        .send()
        .await
        .unwrap();
    app.graphql(None, "query WhoAmI { me { id } }", json!({}))
        .await;
    let text = metrics(&app).await;
    assert!(
        text.contains(r#"bangban_graphql_operations_total{operation="ClockCheck",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"bangban_graphql_operations_total{operation="WhoAmI",outcome="error"} 1"#),
        "{text}"
    );
    assert!(text.contains("bangban_graphql_operation_duration_seconds_bucket"));
    assert!(text.contains("bangban_http_requests_total"));
    assert!(text.contains("bangban_websockets_open 0"));
    // A query over the socket is counted too (a subscription is a stream, not counted).
    let mut socket = crate::helpers::WsClient::connect(&app, None).await;
    socket
        .subscribe("q", "query SocketClock { serverTime }", json!({}))
        .await;
    socket
        .next_message(std::time::Duration::from_secs(5))
        .await
        .expect("an answer");
    let text = metrics(&app).await;
    assert!(
        text.contains(
            r#"bangban_graphql_operations_total{operation="SocketClock",outcome="ok"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let generated = app.http.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let echoed = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-id-42");
    let junk = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(junk.headers()["x-request-id"], "bad id with spaces");
}
