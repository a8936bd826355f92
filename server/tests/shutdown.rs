//! The real binary: prints its URL on start, and on SIGTERM stops accepting, finishes what is in
//! flight, closes WebSockets with 1001 and exits 0. Uses PostgreSQL + Redis when
//! `BANGBAN_TEST_BACKEND=postgres` (with `BANGBAN_TEST_DATABASE_URL`, `BANGBAN_TEST_REDIS_URL`).
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[allow(
    clippy::expect_used,
    reason = "test setup: a failure is the test failing"
)]
async fn fresh_database(server_url: &str) -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("bin_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(server_url)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database");
    admin.close().await.ok();
    let (base, _) = server_url.rsplit_once('/').expect("a database path");
    format!("{base}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_closes_sockets_with_1001_and_exits_zero() {
    let data_dir =
        std::env::temp_dir().join(format!("bangban-bin-{}", uuid::Uuid::new_v4().simple()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_bangban"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BANGBAN_DATA_DIR", &data_dir)
        .env("BANGBAN_HTTP_PORT", "0")
        .env("BANGBAN_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if std::env::var("BANGBAN_TEST_BACKEND").ok().as_deref() == Some("postgres") {
        let redis = std::env::var("BANGBAN_TEST_REDIS_URL").expect("redis url");
        let server = std::env::var("BANGBAN_TEST_DATABASE_URL").expect("database url");
        // A database of its own: its personal data is sealed with this run's fresh data key.
        let db = fresh_database(&server).await;
        command
            .env("BANGBAN_DATABASE_URL", db)
            .env("BANGBAN_REDIS_URL", redis)
            .env(
                "BANGBAN_REDIS_KEY_PREFIX",
                format!("bin:{}:", uuid::Uuid::new_v4().simple()),
            );
    }
    let mut child = command.spawn().expect("start bangban");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return None;
            }
            if line.starts_with("Bangban listening on ") {
                return Some(line.trim().to_string());
            }
        }
    })
    .await
    .unwrap()
    .expect("the one start-up line");
    let url = line
        .trim_start_matches("Bangban listening on ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/graphql"),
        "{line}"
    );

    let mut request = url
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(r#"{"type":"connection_init"}"#.into()))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"));

    // Requests in flight when the signal arrives still get their whole answer.
    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..20)
        .map(|n| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                client
                    .post(&url)
                    .json(&serde_json::json!({"query": format!("mutation {{ loginWithWechat(code: \"drain-{n}\") {{ accessToken }} }}")}))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    for request in in_flight {
        if let Ok(response) = request.await.unwrap() {
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.expect("a whole body");
            assert!(
                body["data"]["loginWithWechat"]["accessToken"].is_string(),
                "{body}"
            );
        }
    }

    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("socket closed in time")
    .expect("a close frame");
    assert_eq!(u16::from(close.code), 1001);

    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
