//! Spawning the real server on 127.0.0.1:0 against a fresh database, and talking to it like
//! the mini-program does. The backend comes from the environment:
//! `BANGBAN_TEST_BACKEND=postgres` with `BANGBAN_TEST_DATABASE_URL` (a server URL whose user may
//! create databases) and `BANGBAN_TEST_REDIS_URL`; otherwise SQLite + in-process.
use std::{path::PathBuf, sync::Arc, time::Duration};

use bangban_server::{
    Application,
    clock::{Clock, ManualClock, SharedClock, SystemClock},
    config::{Environment, Secret, Settings},
    state::AppState,
};
use chrono::Utc;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::fake_wechat::{self, FakeWechat};

pub fn postgres_backend() -> Option<(String, String)> {
    if std::env::var("BANGBAN_TEST_BACKEND").ok().as_deref() != Some("postgres") {
        return None;
    }
    let db = std::env::var("BANGBAN_TEST_DATABASE_URL").expect("BANGBAN_TEST_DATABASE_URL");
    let redis = std::env::var("BANGBAN_TEST_REDIS_URL").expect("BANGBAN_TEST_REDIS_URL");
    Some((db, redis))
}

/// Creates an empty PostgreSQL database for one test and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server_url)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, _) = server_url
        .rsplit_once('/')
        .expect("database URL has a path");
    format!("{base}/{name}")
}

pub struct TestApp {
    pub address: String,
    /// The backend this instance uses, so that a sibling instance can share it.
    pub backend: Backend,
    pub state: Arc<AppState>,
    pub clock: Arc<ManualClock>,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    /// The demo staff this start created (with `demo: true` on a fresh database).
    pub demo_staff: Option<bangban_server::directory::seed::DemoStaff>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Where an instance keeps its state: data directory (SQLite file and generated keys),
/// PostgreSQL URL and Redis key prefix.
#[derive(Clone, Debug)]
pub struct Backend {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
}

/// Adjusts the settings before the server is built.
pub type Tweak = Box<dyn FnOnce(&mut Settings) + Send>;

#[derive(Default)]
pub struct Options {
    pub wechat: Option<FakeWechat>,
    /// Use the wall clock (for subscriptions that tick) instead of the manual test clock.
    pub system_clock: bool,
    pub production: bool,
    /// Load the 沁水县 demo directory (regions, service points, items).
    pub demo: bool,
    /// With the demo directory, also its demo staff (tests that build their own roster leave
    /// them out).
    pub demo_staff: bool,
    /// Share another instance's database, keys and Redis (several instances, one deployment).
    pub sibling_of: Option<Backend>,
    pub tweak: Option<Tweak>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn with_wechat(fake: &FakeWechat) -> Self {
        Self::spawn_with(Options {
            wechat: Some(fake.clone()),
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let backend = match options.sibling_of.clone() {
            Some(backend) => backend,
            None => {
                let data_dir = std::env::temp_dir()
                    .join(format!("bangban-test-{}", uuid::Uuid::new_v4().simple()));
                match postgres_backend() {
                    Some((db, redis)) => Backend {
                        data_dir,
                        database_url: Some(fresh_postgres_database(&db).await),
                        redis_url: Some(redis),
                        redis_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
                    },
                    None => Backend {
                        data_dir,
                        database_url: None,
                        redis_url: None,
                        redis_prefix: "bangban:".into(),
                    },
                }
            }
        };
        let data_dir = backend.data_dir.clone();
        let mut settings = Settings {
            data_dir: data_dir.clone(),
            ..Settings::default()
        };
        settings.http.port = 0;
        settings.http.ws_init_timeout_ms = 1_000;
        settings.http.shutdown_grace_seconds = 2;
        settings.wechat.retry_base_ms = 10;
        settings.push.retry_base_ms = 10;
        settings.events.relay_poll_ms = 200;
        settings.database.max_connections = Some(4);
        settings.seed_demo = Some(options.demo);
        settings.seed_demo_staff = options.demo_staff;
        // Tests run scheduled jobs themselves, after moving the clock.
        settings.jobs.enabled = false;
        settings.database.url = backend.database_url.clone().map(Secret::new);
        settings.redis.url = backend.redis_url.clone().map(Secret::new);
        settings.redis.key_prefix = backend.redis_prefix.clone();
        if let Some(fake) = &options.wechat {
            settings.wechat.appid = Some(fake_wechat::APPID.into());
            settings.wechat.secret = Some(Secret::new(fake_wechat::SECRET));
            settings.wechat.base_url = fake.base_url.clone();
        }
        if options.production {
            settings.env = Environment::Production;
            settings.pii.data_key =
                Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
            settings.auth.jwt_keys = vec![bangban_server::config::JwtKey {
                kid: "test".into(),
                secret: Secret::new("test-signing-key-test-signing-key-0123456789"),
            }];
        }
        if let Some(tweak) = options.tweak {
            tweak(&mut settings);
        }
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let shared: SharedClock = if options.system_clock {
            Arc::new(SystemClock)
        } else {
            clock.clone()
        };
        let app = Application::build(settings, shared)
            .await
            .expect("build application");
        let address = format!("127.0.0.1:{}", app.port());
        let state = app.state();
        let demo_staff = app.demo_staff().cloned();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            backend,
            state,
            clock,
            data_dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            demo_staff,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.address)
    }

    /// Asks the server to stop and waits for it (graceful shutdown).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }

    /// POSTs one GraphQL operation as JSON; returns the body (whatever the status).
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        response.json().await.expect("JSON body")
    }

    /// `loginWithWechat` with a code; returns the whole payload.
    pub async fn login_with_code(&self, code: &str) -> Value {
        self.graphql(
            None,
            "mutation($code: String!) { loginWithWechat(code: $code) { accessToken refreshToken expiresAt viewer { id kind phone } } }",
            json!({"code": code}),
        )
        .await
    }

    /// A resident signed in through dev login (no WeChat configured).
    pub async fn login_resident(&self, openid: &str) -> Session {
        Session::from_payload(&self.login_with_code(openid).await["data"]["loginWithWechat"])
    }

    pub async fn login_staff(&self, username: &str, password: &str) -> Value {
        self.graphql(
            None,
            "mutation($u: String!, $p: String!) { loginStaff(username: $u, password: $p) { accessToken refreshToken viewer { id kind role displayName } } }",
            json!({"u": username, "p": password}),
        )
        .await
    }

    pub async fn create_staff(
        &self,
        username: &str,
        password: &str,
        role: bangban_server::auth::Role,
    ) {
        bangban_server::auth::service::create_staff(
            &self.state.db,
            self.clock.now(),
            bangban_server::auth::service::NewStaff {
                username: username.into(),
                display_name: "测试员".into(),
                password: password.into(),
                role,
                unit_id: None,
            },
        )
        .await
        .map_err(|e| e.message())
        .expect("create staff");
    }
}

impl TestApp {
    /// A fresh app with the demo directory loaded.
    pub async fn with_demo() -> Self {
        Self::spawn_with(Options {
            demo: true,
            ..Options::default()
        })
        .await
    }

    /// The id of the region with this division code.
    pub async fn region_id(&self, code: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::regions::Entity::find()
            .filter(entity::regions::Column::Code.eq(code))
            .one(&self.state.db)
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("no region {code}"))
            .id
            .to_string()
    }

    /// Bootstraps a staff account the way the CLI does (`bangban create-staff`) and logs it in.
    pub async fn staff_session(
        &self,
        username: &str,
        role: bangban_server::auth::Role,
        region_code: &str,
    ) -> Session {
        let unit = uuid::Uuid::parse_str(&self.region_id(region_code).await).expect("uuid");
        bangban_server::auth::service::create_staff(
            &self.state.db,
            self.clock.now(),
            bangban_server::auth::service::NewStaff {
                username: username.into(),
                display_name: format!("{username}-名"),
                password: STAFF_PASSWORD.into(),
                role,
                unit_id: Some(unit),
            },
        )
        .await
        .map_err(|e| e.message())
        .expect("create staff");
        self.login_staff_session(username, STAFF_PASSWORD).await
    }

    pub async fn login_staff_session(&self, username: &str, password: &str) -> Session {
        let response = self.login_staff(username, password).await;
        Session::from_payload(&expect_data(&response)["loginStaff"])
    }

    /// Exchanges the session's refresh token for a new session.
    pub async fn refresh(&self, session: &Session) -> Session {
        let response = self
            .graphql(
                None,
                "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken viewer { id } } }",
                json!({"t": session.refresh}),
            )
            .await;
        Session::from_payload(&expect_data(&response)["refreshSession"])
    }

    /// Runs a GraphQL operation as a session and returns the body.
    pub async fn as_(&self, session: &Session, query: &str, variables: Value) -> Value {
        self.graphql(Some(&session.access), query, variables).await
    }

    /// Raw rows of a table as text: every column of every row read back as whatever type it
    /// holds (for "no plain personal data at rest" checks).
    pub async fn dump_table(&self, table: &str) -> String {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.state.db.get_database_backend();
        let rows = self
            .state
            .db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT * FROM {table}"),
            ))
            .await
            .expect("dump");
        let mut out = String::new();
        for row in rows {
            for (index, column) in row.column_names().iter().enumerate() {
                // An event's position is given later by the relay, on its own time: not a write
                // of the request a snapshot is about.
                if table == "events" && column == "position" {
                    continue;
                }
                let value = if let Ok(v) = row.try_get_by_index::<Option<String>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<i64>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<i32>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<bool>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<f64>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<uuid::Uuid>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) =
                    row.try_get_by_index::<Option<chrono::DateTime<chrono::Utc>>>(index)
                {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<chrono::NaiveDate>>(index) {
                    format!("{v:?}")
                } else if let Ok(v) = row.try_get_by_index::<Option<Vec<u8>>>(index) {
                    format!("{:?}", v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                } else {
                    panic!("cannot read column {column} of {table}")
                };
                out.push_str(&format!("{column}={value} "));
            }
            out.push('\n');
        }
        out
    }
}

pub const STAFF_PASSWORD: &str = "correct horse battery staple";

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Sibling instances share the directory; it is left for the system's temp cleaner.
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl Session {
    pub fn from_payload(payload: &Value) -> Self {
        Self {
            access: payload["accessToken"]
                .as_str()
                .expect("accessToken")
                .to_string(),
            refresh: payload["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_string(),
            user_id: payload["viewer"]["id"]
                .as_str()
                .expect("viewer.id")
                .to_string(),
        }
    }
}

/// Asserts that the response failed with `code` (in the first error's extensions) and returns
/// that error.
pub fn expect_error(response: &Value, code: &str) -> Value {
    let error = response["errors"]
        .as_array()
        .and_then(|e| e.first())
        .unwrap_or_else(|| panic!("expected error {code}, got {response}"))
        .clone();
    assert_eq!(error["extensions"]["code"], code, "in {response}");
    error
}

/// Asserts success and returns `data`.
pub fn expect_data(response: &Value) -> Value {
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response}"
    );
    response["data"].clone()
}

/// Runs a script of the Node conformance project (tests/node), failing with its output.
pub async fn run_node(script: &str, args: &[&str]) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules").exists(),
        "tests/node/node_modules is missing: run `npm ci --prefix tests/node` (the test script does)"
    );
    let output = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "node {script} failed:\n{text}");
    text
}

/// A graphql-transport-ws client for tests: one socket, subscriptions by id.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsClient {
    /// Wraps a socket whose handshake the test made itself (no `connection_init` sent).
    pub fn from_socket(
        socket: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Self {
        Self { socket }
    }

    pub async fn send_raw(&mut self, message: tokio_tungstenite::tungstenite::Message) {
        use futures_util::SinkExt;
        self.socket.send(message).await.expect("send");
    }

    /// Opens a socket and completes `connection_init` with the token (anonymous without one).
    pub async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url().into_client_request().expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("handshake");
        let mut client = Self { socket };
        let payload = token
            .map(|t| json!({"Authorization": format!("Bearer {t}")}))
            .unwrap_or(json!({}));
        client
            .socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                json!({"type": "connection_init", "payload": payload})
                    .to_string()
                    .into(),
            ))
            .await
            .expect("send init");
        let ack = client
            .next_message(Duration::from_secs(10))
            .await
            .expect("ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        use futures_util::SinkExt;
        let message = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                message.to_string().into(),
            ))
            .await
            .expect("send subscribe");
    }

    /// The next protocol message other than a ping, or None after `wait`.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).ok()?;
                if value["type"] == "ping" {
                    continue;
                }
                return Some(value);
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
            {
                Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                    return frame.map(|f| u16::from(f.code));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next event payload (`data.<field>`) of subscription `id`; panics on anything else.
    pub async fn next_event(&mut self, id: &str, field: &str, wait: Duration) -> Value {
        let message = self
            .next_message(wait)
            .await
            .unwrap_or_else(|| panic!("no event on {id} within {wait:?}"));
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"][field].clone()
    }
}
