//! Failures that are not the client's: they reach it as coded, retryable errors with a request
//! id, never as internal text and never as a forced sign-in.
use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{TestApp, WsClient};

#[tokio::test]
async fn a_session_lookup_that_fails_is_503_with_a_request_id_not_401_with_its_cause() {
    let app = TestApp::spawn().await;
    let resident = app.login_resident("blip").await;
    // The session table becomes unreadable, as in a database fault.
    app.state
        .db
        .execute_unprepared("ALTER TABLE auth_sessions RENAME TO auth_sessions_away")
        .await
        .unwrap();

    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&resident.access)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("www-authenticate").is_none());
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{body}"
    );
    assert!(error["extensions"]["requestId"].is_string(), "{body}");
    let text = body.to_string();
    for leak in ["auth_sessions", "no such table", "relation", "database"] {
        assert!(!text.contains(leak), "the cause leaked ({leak}): {text}");
    }

    // Over the WebSocket: closed as retryable, not as a bad token.
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = WsClient::from_socket(socket);
    client
        .send_raw(Message::Text(
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", resident.access)}})
                .to_string()
                .into(),
        ))
        .await;
    assert_eq!(client.close_code(Duration::from_secs(5)).await, Some(4500));

    // Back to normal: the same token works, no sign-in needed.
    app.state
        .db
        .execute_unprepared("ALTER TABLE auth_sessions_away RENAME TO auth_sessions")
        .await
        .unwrap();
    let again = app.as_(&resident, "{ me { id } }", json!({})).await;
    crate::helpers::expect_data(&again);
}
