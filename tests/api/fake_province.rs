//! A fake provincial 好差评 platform: it checks each delivery's HMAC-SHA256 signature over
//! `timestamp.delivery id.body` and refuses replays outside a 300 s window (401), answers scripted
//! failures (an HTTP status, or a stall past the sender's timeout) and records what it took.
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use hmac::{Hmac, Mac};
use poem::{
    EndpointExt, Request, Response, Route, handler, http::StatusCode, listener::TcpAcceptor, post,
    web::Data,
};
use serde_json::Value;
use sha2::Sha256;

/// What the next request gets instead of a 200.
#[derive(Clone, Copy, Debug)]
pub enum Script {
    Status(u16),
    Stall(u64),
}

#[derive(Default)]
struct Inner {
    secret: Vec<u8>,
    script: VecDeque<Script>,
    /// Bodies taken (2xx), with their delivery id.
    taken: Vec<(String, Value)>,
    refused_signatures: usize,
    requests: usize,
}

#[derive(Clone)]
pub struct FakeProvince {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn lock(inner: &Arc<Mutex<Inner>>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

fn signed(secret: &[u8], timestamp: &str, delivery: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(delivery.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[handler]
async fn take(req: &Request, body: String, Data(inner): Data<&Arc<Mutex<Inner>>>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (timestamp, signature, delivery) = (
        header("X-Bangban-Timestamp"),
        header("X-Bangban-Signature"),
        header("X-Bangban-Delivery"),
    );
    let script = {
        let mut inner = lock(inner);
        inner.requests += 1;
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
        if !fresh || signed(&inner.secret, &timestamp, &delivery, &body) != signature {
            inner.refused_signatures += 1;
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .finish();
        }
        inner.script.pop_front()
    };
    match script {
        Some(Script::Status(code)) => {
            return Response::builder()
                .status(StatusCode::from_u16(code).expect("status"))
                .finish();
        }
        Some(Script::Stall(millis)) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            return Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .finish();
        }
        None => {}
    }
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    lock(inner).taken.push((delivery, parsed));
    Response::builder()
        .status(StatusCode::OK)
        .body("{\"code\":0}")
}

impl FakeProvince {
    pub async fn start(secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inner = Arc::new(Mutex::new(Inner {
            secret: secret.as_bytes().to_vec(),
            ..Inner::default()
        }));
        let app = Route::new()
            .at("/evaluations", post(take))
            .data(inner.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/evaluations"),
            inner,
        }
    }

    /// The next requests (with a good signature) get these instead of a 200, in order.
    pub fn script(&self, steps: &[Script]) {
        lock(&self.inner).script.extend(steps.iter().copied());
    }

    /// Documents taken, with their delivery ids, in order.
    pub fn taken(&self) -> Vec<(String, Value)> {
        lock(&self.inner).taken.clone()
    }

    pub fn refused_signatures(&self) -> usize {
        lock(&self.inner).refused_signatures
    }

    pub fn requests(&self) -> usize {
        lock(&self.inner).requests
    }
}
