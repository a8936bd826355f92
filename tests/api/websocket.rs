//! GraphQL over WebSocket: the npm graphql-ws client, and raw frames for every close code.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

use crate::helpers::{Options, TestApp, run_node};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, protocol: Option<&str>) -> (Socket, Option<String>) {
    let mut request = app.ws_url().into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    let (socket, response) = connect_async(request).await.expect("handshake");
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    (socket, chosen)
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message, skipping server pings.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ping" && value["type"] != "ka" {
                return value;
            }
        }
    }
}

/// Waits for the server's close frame and returns its code and reason.
async fn closed_with(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                let reason = frame.reason.to_string();
                assert!(reason.len() <= 123, "close reason too long: {reason}");
                return (u16::from(frame.code), reason);
            }
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("socket error: {error}"),
        }
    }
}

async fn init(socket: &mut Socket, payload: Value) {
    send(
        socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    assert_eq!(next_json(socket).await["type"], "connection_ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_ws_npm_client_subscribes_queries_pings_and_is_refused_a_bad_token() {
    let app = TestApp::spawn_with(Options {
        system_clock: true,
        ..Options::default()
    })
    .await;
    let session = app.login_resident("ws-npm-user").await;
    let output = run_node("ws.mjs", &[&app.ws_url(), &session.access]).await;
    assert!(output.contains("ws: 6 passed, 0 failed"), "{output}");
}

#[tokio::test]
async fn without_connection_init_the_socket_closes_with_4408() {
    let app = TestApp::spawn().await;
    let (mut socket, chosen) = open(&app, Some("graphql-transport-ws")).await;
    assert_eq!(chosen.as_deref(), Some("graphql-transport-ws"));
    assert_eq!(closed_with(&mut socket).await.0, 4408);
}

#[tokio::test]
async fn subscribe_before_ack_closes_with_4401() {
    let app = TestApp::spawn().await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "{ serverTime }"}}),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await.0, 4401);
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = TestApp::spawn().await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(&mut socket, json!({})).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(closed_with(&mut socket).await.0, 4429);
}

#[tokio::test]
async fn malformed_messages_close_with_4400() {
    let app = TestApp::spawn().await;
    for bad in [
        "not json",
        r#"{"no":"type"}"#,
        r#"{"type":"bogus"}"#,
        r#"{"type":"subscribe","id":"1"}"#,
    ] {
        let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
        init(&mut socket, json!({})).await;
        socket.send(Message::Text(bad.into())).await.unwrap();
        assert_eq!(closed_with(&mut socket).await.0, 4400, "{bad}");
    }
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await.0, 4400);
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_with_4409() {
    let app = TestApp::spawn().await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(&mut socket, json!({})).await;
    let subscribe = json!({"id": "same", "type": "subscribe", "payload": {"query": "subscription { clock(intervalSeconds: 60) { now } }"}});
    send(&mut socket, subscribe.clone()).await;
    assert_eq!(next_json(&mut socket).await["type"], "next");
    send(&mut socket, subscribe).await;
    assert_eq!(closed_with(&mut socket).await.0, 4409);
}

#[tokio::test]
async fn a_handshake_without_a_subprotocol_speaks_graphql_transport_ws() {
    let app = TestApp::spawn().await;
    let session = app.login_resident("no-protocol-device").await;
    let (mut socket, chosen) = open(&app, None).await;
    assert_eq!(chosen, None, "nothing requested, nothing echoed");
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {}", session.access)}),
    )
    .await;
    send(
        &mut socket,
        json!({"id": "q", "type": "subscribe", "payload": {"query": "{ me { id kind } }"}}),
    )
    .await;
    let next = next_json(&mut socket).await;
    assert_eq!(next["type"], "next");
    assert_eq!(
        next["payload"]["data"]["me"]["id"],
        session.user_id.as_str()
    );
    assert_eq!(
        next_json(&mut socket).await,
        json!({"id": "q", "type": "complete"})
    );
}

#[tokio::test]
async fn an_unknown_subprotocol_is_refused_at_the_handshake() {
    let app = TestApp::spawn().await;
    let mut request = app.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    assert!(connect_async(request).await.is_err());
}

#[tokio::test]
async fn mutations_run_over_the_socket_and_validation_errors_answer_error() {
    let app = TestApp::spawn().await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(&mut socket, Value::Null).await;
    send(
        &mut socket,
        json!({"id": "m", "type": "subscribe", "payload": {"query": "mutation($c: String!) { loginWithWechat(code: $c) { viewer { kind } } }", "variables": {"c": "socket-user"}}}),
    )
    .await;
    let next = next_json(&mut socket).await;
    assert_eq!(
        next["payload"]["data"]["loginWithWechat"]["viewer"]["kind"], "RESIDENT",
        "{next}"
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");
    send(
        &mut socket,
        json!({"id": "v", "type": "subscribe", "payload": {"query": "{ nope }"}}),
    )
    .await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "v");
    assert!(error["payload"].is_array());
}

#[tokio::test]
async fn an_expiring_access_token_ends_the_socket_with_4403() {
    let app = TestApp::spawn_with(Options {
        system_clock: true,
        tweak: Some(Box::new(|s| s.auth.access_ttl_seconds = 2)),
        ..Options::default()
    })
    .await;
    let session = app.login_resident("short-lived").await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {}", session.access)}),
    )
    .await;
    let (code, reason) = closed_with(&mut socket).await;
    assert_eq!(code, 4403, "{reason}");
}

#[tokio::test]
async fn logging_out_ends_the_sessions_sockets_with_4403() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| s.http.ws_session_check_seconds = 1)),
        ..Options::default()
    })
    .await;
    let session = app.login_resident("logout-socket").await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {}", session.access)}),
    )
    .await;
    let logout = app
        .graphql(Some(&session.access), "mutation { logout }", json!({}))
        .await;
    assert_eq!(logout["data"]["logout"], true);
    assert_eq!(closed_with(&mut socket).await.0, 4403);
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_streams_subscriptions() {
    let app = TestApp::spawn().await;
    let (mut socket, chosen) = open(&app, Some("graphql-ws")).await;
    assert_eq!(chosen.as_deref(), Some("graphql-ws"));
    init(&mut socket, json!({})).await;
    send(&mut socket, json!({"id": "1", "type": "start", "payload": {"query": "subscription { clock(intervalSeconds: 60) { now } }"}})).await;
    let data = next_json(&mut socket).await;
    assert_eq!(data["type"], "data");
    assert!(data["payload"]["data"]["clock"]["now"].is_string());
    send(&mut socket, json!({"id": "1", "type": "stop"})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"id": "1", "type": "complete"})
    );
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_1001() {
    let app = TestApp::spawn().await;
    let (mut socket, _) = open(&app, Some("graphql-transport-ws")).await;
    init(&mut socket, json!({})).await;
    let url = app.url("/healthz");
    app.stop().await;
    let (code, _) = closed_with(&mut socket).await;
    assert_eq!(code, u16::from(CloseCode::Away));
    assert!(
        reqwest::get(url).await.is_err(),
        "no new connections after shutdown"
    );
}
