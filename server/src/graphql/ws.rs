//! GraphQL over WebSocket, written against the protocol texts rather than delegated, so that
//! every close code is the one the spec names:
//!
//! * `graphql-transport-ws` (the `graphql-ws` npm client) — also assumed when the handshake
//!   names no sub-protocol (some mini-program devices omit it);
//! * the legacy `graphql-ws` sub-protocol (subscriptions-transport-ws).
//!
//! Authentication travels in the `connection_init` payload (`{"Authorization": "Bearer …"}`, or
//! `{"token": "…"}`), or in the handshake's `Authorization` header. Close codes: 4400 malformed
//! message, 4401 subscribe before ack, 4403 bad, expired or revoked token, 4408 no
//! `connection_init` in time, 4409 duplicate subscription id, 4429 second `connection_init`,
//! 1001 server shutting down. Queries and mutations run over the socket too.
use std::{collections::HashMap, sync::Arc, time::Duration};

use async_graphql::{Request as GqlRequest, Response as GqlResponse};
use futures_util::{SinkExt, StreamExt};
use poem::{
    IntoResponse, Request, Response,
    http::{StatusCode, header},
    web::websocket::{CloseCode, Message, WebSocket, WebSocketStream},
};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};
use tracing::Instrument;

use crate::{
    auth::{
        Viewer,
        service::{authenticate, session_is_open},
    },
    graphql::{
        AppSchema, RequestContext,
        http::{failed_before_execution, finish},
    },
    state::AppState,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`
    TransportWs,
    /// legacy `graphql-ws` (subscriptions-transport-ws)
    LegacyWs,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

/// Only unknown sub-protocols were requested.
#[derive(Debug, PartialEq, Eq)]
pub struct UnsupportedProtocol;

/// The sub-protocol for a handshake: `Ok(None)` when none was requested (treated as
/// `graphql-transport-ws`, not echoed); `Err` when only unknown ones were requested.
pub fn choose_protocol(header: Option<&str>) -> Result<Option<Protocol>, UnsupportedProtocol> {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let offered: Vec<&str> = header.split(',').map(str::trim).collect();
    if offered.contains(&"graphql-transport-ws") {
        Ok(Some(Protocol::TransportWs))
    } else if offered.contains(&"graphql-ws") {
        Ok(Some(Protocol::LegacyWs))
    } else {
        Err(UnsupportedProtocol)
    }
}

/// Finishes the handshake and serves the connection.
pub fn upgrade(
    req: &Request,
    websocket: WebSocket,
    state: Arc<AppState>,
    schema: AppSchema,
    context: RequestContext,
) -> Response {
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let Ok(chosen) = choose_protocol(offered) else {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported WebSocket sub-protocol: use graphql-transport-ws",
        )
            .into_response();
    };
    let handshake_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_string);
    let protocol = chosen.unwrap_or(Protocol::TransportWs);
    // Small buffers: an idle subscription should cost kilobytes, not the 2 × 128 KiB default;
    // inbound messages are GraphQL operations, never large.
    let config = poem::web::websocket::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let websocket = websocket.config(config);
    let websocket = match chosen {
        Some(p) => websocket.protocols([p.name()]),
        None => websocket,
    };
    let span = tracing::info_span!("websocket", request_id = %context.request_id, protocol = protocol.name());
    websocket
        .on_upgrade(move |socket| {
            let connection = Connection {
                protocol,
                state,
                schema,
                context,
                handshake_token,
            };
            connection.serve(socket).instrument(span)
        })
        .into_response()
}

fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The token from a `connection_init` payload, if any.
fn token_from_payload(payload: &Value) -> Option<String> {
    for key in ["Authorization", "authorization"] {
        if let Some(value) = payload.get(key).and_then(Value::as_str) {
            return Some(bearer(value).unwrap_or(value).to_string());
        }
    }
    for key in ["token", "accessToken"] {
        if let Some(value) = payload.get(key).and_then(Value::as_str) {
            return Some(value.to_string());
        }
    }
    None
}

/// Close reasons are at most 123 bytes (RFC 6455 §5.5): cut on a character boundary.
pub fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

enum Outgoing {
    Next { id: String, payload: Value },
    Error { id: String, payload: Value },
    Complete { id: String },
}

/// Why the connection must close: a close code and reason.
enum Flow {
    Close(u16, String),
}

struct Connection {
    protocol: Protocol,
    state: Arc<AppState>,
    schema: AppSchema,
    context: RequestContext,
    handshake_token: Option<String>,
}

struct Session {
    acknowledged: bool,
    init_seen: bool,
    context: RequestContext,
    subscriptions: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    async fn serve(self, socket: WebSocketStream) {
        let metrics = self.state.metrics.clone();
        metrics.websockets_open.inc();
        let (mut sink, mut incoming) = socket.split();
        let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(256);
        let stalled = Arc::new(tokio::sync::Notify::new());
        let mut shutdown = self.state.shutdown.clone();
        let settings = &self.state.settings.http;
        let init_deadline = Instant::now() + Duration::from_millis(settings.ws_init_timeout_ms);
        let ping_every = Duration::from_secs(settings.ws_ping_interval_seconds.max(1));
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut session_check = tokio::time::interval(Duration::from_secs(
            settings.ws_session_check_seconds.max(1),
        ));
        let mut session = Session {
            acknowledged: false,
            init_seen: false,
            context: self.context.clone(),
            subscriptions: HashMap::new(),
        };

        let close: Option<(u16, String)> = loop {
            let expiry = session
                .context
                .viewer
                .expires_at()
                .filter(|_| session.acknowledged)
                .map(|at| {
                    let left = (at - self.state.clock.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    Instant::now() + left
                });
            tokio::select! {
                _ = tokio::time::sleep_until(init_deadline), if !session.init_seen => {
                    break Some((4408, "Connection initialisation timeout".into()));
                }
                _ = async { tokio::time::sleep_until(expiry.unwrap_or_else(Instant::now)).await }, if expiry.is_some() => {
                    break Some((4403, "Forbidden: the access token has expired".into()));
                }
                _ = session_check.tick(), if session.acknowledged && !session.context.viewer.is_anonymous() => {
                    if !session_is_open(&self.state, &session.context.viewer).await.unwrap_or(true) {
                        break Some((4403, "Forbidden: the session has ended".into()));
                    }
                }
                _ = shutdown.changed() => {
                    break Some((1001, "Server shutting down".into()));
                }
                _ = stalled.notified() => {
                    break Some((1013, "Try again later: the client stopped reading; subscribe again with `after`".into()));
                }
                _ = ping.tick(), if session.acknowledged => {
                    let frame = match self.protocol {
                        Protocol::TransportWs => json!({"type": "ping"}),
                        Protocol::LegacyWs => json!({"type": "ka"}),
                    };
                    if sink.send(Message::Text(frame.to_string())).await.is_err() {
                        break None;
                    }
                }
                Some(out) = out_rx.recv() => {
                    if let Some(frame) = self.frame_for(&mut session, out)
                        && sink.send(Message::Text(frame.to_string())).await.is_err()
                    {
                        break None;
                    }
                }
                message = incoming.next() => {
                    let text = match message {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => {
                            break Some((4400, "Invalid message received: binary frames are not accepted".into()));
                        }
                        Some(Ok(Message::Text(text))) => text,
                    };
                    let replies = match self.handle(&mut session, &text, &out_tx, &stalled).await {
                        Ok(replies) => replies,
                        Err(Flow::Close(code, reason)) => break Some((code, reason)),
                    };
                    let mut failed = false;
                    for reply in replies {
                        if sink.send(Message::Text(reply.to_string())).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break None;
                    }
                }
            }
        };

        for (_, task) in session.subscriptions.drain() {
            task.abort();
        }
        tracing::debug!(close = ?close, "websocket closed");
        if let Some((code, reason)) = close {
            let _ = sink
                .send(Message::Close(Some((
                    CloseCode::from(code),
                    close_reason(&reason),
                ))))
                .await;
        }
        let _ = sink.close().await;
        metrics.websockets_open.dec();
    }

    /// Turns a subscription task's output into a frame, dropping output of operations that the
    /// client has completed meanwhile.
    fn frame_for(&self, session: &mut Session, out: Outgoing) -> Option<Value> {
        let legacy = self.protocol == Protocol::LegacyWs;
        match out {
            Outgoing::Next { id, payload } => session.subscriptions.contains_key(&id).then(|| {
                json!({"id": id, "type": if legacy { "data" } else { "next" }, "payload": payload})
            }),
            Outgoing::Error { id, payload } => session
                .subscriptions
                .remove(&id)
                .map(|_| json!({"id": id, "type": "error", "payload": payload})),
            Outgoing::Complete { id } => session
                .subscriptions
                .remove(&id)
                .map(|_| json!({"id": id, "type": "complete"})),
        }
    }

    /// Handles one client message; returns the frames to answer with.
    async fn handle(
        &self,
        session: &mut Session,
        text: &str,
        out: &mpsc::Sender<Outgoing>,
        stalled: &Arc<tokio::sync::Notify>,
    ) -> Result<Vec<Value>, Flow> {
        let invalid = |why: &str| Flow::Close(4400, format!("Invalid message received: {why}"));
        let message: Value = serde_json::from_str(text).map_err(|_| invalid("not JSON"))?;
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no type"))?;
        let legacy = self.protocol == Protocol::LegacyWs;
        match (kind, legacy) {
            ("connection_init", _) => {
                if session.init_seen {
                    return Err(Flow::Close(4429, "Too many initialisation requests".into()));
                }
                session.init_seen = true;
                let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                if !(payload.is_null() || payload.is_object()) {
                    return Err(invalid("connection_init payload must be an object"));
                }
                let token = token_from_payload(&payload).or_else(|| self.handshake_token.clone());
                if let Some(token) = token {
                    match authenticate(&self.state, &token).await {
                        Ok(viewer) => session.context.viewer = viewer,
                        Err(error) => {
                            let reason = format!("Forbidden: {}", error.message());
                            return Err(Flow::Close(4403, reason));
                        }
                    }
                } else {
                    session.context.viewer = Viewer::Anonymous;
                }
                session.acknowledged = true;
                Ok(vec![json!({"type": "connection_ack"})])
            }
            ("ping", false) => {
                let mut pong = json!({"type": "pong"});
                if let Some(payload) = message.get("payload") {
                    pong["payload"] = payload.clone();
                }
                Ok(vec![pong])
            }
            ("pong", false) => Ok(vec![]),
            ("subscribe", false) | ("start", true) => {
                if !session.acknowledged {
                    return Err(Flow::Close(4401, "Unauthorized".into()));
                }
                let id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty() && id.len() <= 128)
                    .ok_or_else(|| invalid("subscribe needs an id"))?
                    .to_string();
                let payload = message
                    .get("payload")
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid("subscribe needs a payload"))?;
                let request = request_from_payload(payload).map_err(|why| invalid(&why))?;
                if session.subscriptions.contains_key(&id) {
                    if legacy {
                        // subscriptions-transport-ws replaces an operation with the same id.
                        if let Some(old) = session.subscriptions.remove(&id) {
                            old.abort();
                        }
                    } else {
                        return Err(Flow::Close(
                            4409,
                            format!("Subscriber for {id} already exists"),
                        ));
                    }
                }
                let task = self.spawn_operation(
                    id.clone(),
                    request,
                    session.context.clone(),
                    out.clone(),
                    stalled.clone(),
                );
                session.subscriptions.insert(id, task);
                Ok(vec![])
            }
            ("complete", false) | ("stop", true) => {
                let id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(task) = session.subscriptions.remove(id) {
                    task.abort();
                    if legacy {
                        return Ok(vec![json!({"id": id, "type": "complete"})]);
                    }
                }
                Ok(vec![])
            }
            ("connection_terminate", true) => Err(Flow::Close(1000, "Normal closure".into())),
            _ => Err(invalid("unknown message type")),
        }
    }

    fn spawn_operation(
        &self,
        id: String,
        request: GqlRequest,
        context: RequestContext,
        out: mpsc::Sender<Outgoing>,
        stalled: Arc<tokio::sync::Notify>,
    ) -> JoinHandle<()> {
        let request_id = context.request_id.clone();
        let stall = Duration::from_millis(self.state.settings.http.ws_stall_timeout_ms.max(1));
        let mut stream = self.schema.execute_stream(request.data(context));
        tokio::spawn(async move {
            let mut first = true;
            while let Some(response) = stream.next().await {
                let response: GqlResponse = response;
                if first && failed_before_execution(&response) {
                    let finished = finish(response, &request_id);
                    let errors = finished
                        .get("errors")
                        .cloned()
                        .unwrap_or(Value::Array(vec![]));
                    let _ = out
                        .send(Outgoing::Error {
                            id,
                            payload: errors,
                        })
                        .await;
                    return;
                }
                first = false;
                let payload = finish(response, &request_id);
                let next = Outgoing::Next {
                    id: id.clone(),
                    payload,
                };
                // A client that stops reading must not hold events for ever: past the stall
                // timeout its connection is closed (1013) and it resubscribes with `after`.
                match tokio::time::timeout(stall, out.send(next)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) => return,
                    Err(_) => {
                        stalled.notify_one();
                        return;
                    }
                }
            }
            let _ = out.send(Outgoing::Complete { id }).await;
        })
    }
}

fn request_from_payload(payload: &serde_json::Map<String, Value>) -> Result<GqlRequest, String> {
    let query = payload
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| "the payload needs a query string".to_string())?;
    let mut request = GqlRequest::new(query);
    match payload.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name.clone()),
        Some(_) => return Err("operationName must be a string".into()),
    }
    match payload.get("variables") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(v.clone()))
        }
        Some(_) => return Err("variables must be an object".into()),
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_choice() {
        assert_eq!(choose_protocol(None), Ok(None));
        assert_eq!(
            choose_protocol(Some("graphql-transport-ws")),
            Ok(Some(Protocol::TransportWs))
        );
        assert_eq!(
            choose_protocol(Some("graphql-ws")),
            Ok(Some(Protocol::LegacyWs))
        );
        assert_eq!(
            choose_protocol(Some("graphql-ws, graphql-transport-ws")),
            Ok(Some(Protocol::TransportWs))
        );
        assert_eq!(choose_protocol(Some("mqtt")), Err(UnsupportedProtocol));
    }

    #[test]
    fn close_reasons_fit_in_a_control_frame() {
        let long = "拒".repeat(100);
        let reason = close_reason(&long);
        assert!(reason.len() <= 123);
        assert!(long.starts_with(&reason));
        assert_eq!(close_reason("short"), "short");
    }

    #[test]
    fn tokens_are_read_from_common_payload_shapes() {
        assert_eq!(
            token_from_payload(&json!({"Authorization": "Bearer abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_payload(&json!({"authorization": "abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_payload(&json!({"token": "abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(token_from_payload(&json!({})), None);
    }
}
