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
use std::{collections::HashSet, sync::Arc, time::Duration};

use async_graphql::{Request as GqlRequest, Response as GqlResponse};
use futures_util::{SinkExt, StreamExt, stream::BoxStream};
use poem::{
    IntoResponse, Request, Response,
    http::{StatusCode, header},
    web::websocket::{CloseCode, Message, WebSocket, WebSocketStream},
};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_stream::StreamMap;
use tracing::Instrument;

use crate::{
    auth::{
        Viewer,
        service::{authenticate, session_is_open},
    },
    error::AppError,
    graphql::{
        AppSchema,
        context::{RequestContext, bearer},
        extensions,
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

/// Why the connection must close: a close code and reason.
enum Flow {
    Close(u16, String),
}

/// A running operation: its responses, then `None` once it has completed.
type Operation = BoxStream<'static, Option<GqlResponse>>;

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
    /// Operations by client id, polled by the connection itself: no task per subscription.
    operations: StreamMap<String, Operation>,
    /// Operations that have produced a response (the first one decides `error` vs `next`).
    started: HashSet<String>,
}

impl Connection {
    /// The connection's loop. Its future is allocated once per socket and lives as long as the
    /// socket, so the big futures it awaits (database calls) are boxed and exist only while used.
    async fn serve(self, socket: WebSocketStream) {
        let metrics = self.state.metrics.clone();
        metrics.websockets_open.inc();
        let (mut sink, mut incoming) = socket.split();
        let mut shutdown = self.state.shutdown.clone();
        let settings = &self.state.settings.http;
        let stall = Duration::from_millis(settings.ws_stall_timeout_ms.max(1));
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
            operations: StreamMap::new(),
            started: HashSet::new(),
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
            let frames: Vec<Value> = tokio::select! {
                _ = tokio::time::sleep_until(init_deadline), if !session.init_seen => {
                    break Some((4408, "Connection initialisation timeout".into()));
                }
                _ = async { tokio::time::sleep_until(expiry.unwrap_or_else(Instant::now)).await }, if expiry.is_some() => {
                    break Some((4403, "Forbidden: the access token has expired".into()));
                }
                _ = session_check.tick(), if session.acknowledged && !session.context.viewer.is_anonymous() => {
                    // Boxed: the connection's own future stays small while it idles.
                    let open = Box::pin(session_is_open(&self.state, &session.context.viewer)).await;
                    if !open.unwrap_or(true) {
                        break Some((4403, "Forbidden: the session has ended".into()));
                    }
                    continue;
                }
                _ = shutdown.changed() => {
                    break Some((1001, "Server shutting down".into()));
                }
                _ = ping.tick(), if session.acknowledged => {
                    vec![match self.protocol {
                        Protocol::TransportWs => json!({"type": "ping"}),
                        Protocol::LegacyWs => json!({"type": "ka"}),
                    }]
                }
                Some((id, item)) = session.operations.next(), if !session.operations.is_empty() => {
                    vec![self.frame_for(&mut session, id, item)]
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
                    match Box::pin(self.handle(&mut session, &text)).await {
                        Ok(replies) => replies,
                        Err(Flow::Close(code, reason)) => break Some((code, reason)),
                    }
                }
            };
            // A client that stops reading must not hold the server: past the stall timeout its
            // connection is closed (1013) and it resubscribes with `after`.
            let mut outcome = None;
            for frame in frames {
                match tokio::time::timeout(stall, sink.send(Message::Text(frame.to_string()))).await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => {
                        outcome = Some(None);
                        break;
                    }
                    Err(_) => {
                        outcome = Some(Some((
                            1013,
                            "Try again later: the client stopped reading; subscribe again with `after`".to_string(),
                        )));
                        break;
                    }
                }
            }
            if let Some(outcome) = outcome {
                break outcome;
            }
        };

        drop(session);
        tracing::debug!(close = ?close, "websocket closed");
        if let Some((code, reason)) = close {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                sink.send(Message::Close(Some((
                    CloseCode::from(code),
                    close_reason(&reason),
                )))),
            )
            .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        metrics.websockets_open.dec();
    }

    /// The frame for one item of an operation: `next`/`data`, `error` (a request that failed
    /// before execution), or `complete`.
    fn frame_for(&self, session: &mut Session, id: String, item: Option<GqlResponse>) -> Value {
        let legacy = self.protocol == Protocol::LegacyWs;
        let Some(response) = item else {
            session.operations.remove(&id);
            session.started.remove(&id);
            return json!({"id": id, "type": "complete"});
        };
        let first = session.started.insert(id.clone());
        if first && failed_before_execution(&response) {
            session.operations.remove(&id);
            session.started.remove(&id);
            let finished = finish(response, &session.context.request_id);
            let errors = finished
                .get("errors")
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            return json!({"id": id, "type": "error", "payload": errors});
        }
        let payload = finish(response, &session.context.request_id);
        json!({"id": id, "type": if legacy { "data" } else { "next" }, "payload": payload})
    }

    /// Handles one client message; returns the frames to answer with.
    async fn handle(&self, session: &mut Session, text: &str) -> Result<Vec<Value>, Flow> {
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
                        Err(error @ AppError::Unauthenticated(_)) => {
                            let reason = format!("Forbidden: {}", error.message());
                            return Err(Flow::Close(4403, reason));
                        }
                        Err(error) => {
                            // Not the client's fault: logged, and closed as retryable (4500),
                            // without the cause and without ending the session.
                            let _: async_graphql::Error = error.into();
                            return Err(Flow::Close(4500, "Internal server error".into()));
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
                if session.operations.contains_key(&id) {
                    if legacy {
                        // subscriptions-transport-ws replaces an operation with the same id.
                        session.operations.remove(&id);
                        session.started.remove(&id);
                    } else {
                        return Err(Flow::Close(
                            4409,
                            format!("Subscriber for {id} already exists"),
                        ));
                    }
                }
                let mut request = request.data(session.context.clone());
                let answers = match extensions::refuse_aliases(
                    &mut request,
                    self.state.settings.graphql.max_aliases,
                ) {
                    Some(refused) => futures_util::stream::once(async { refused }).boxed(),
                    None if extensions::is_subscription(&mut request) => {
                        self.schema.execute_stream(request).boxed()
                    }
                    // A query or mutation over the socket is counted like one over HTTP.
                    None => {
                        let state = self.state.clone();
                        let name = extensions::operation_name(&mut request);
                        let started = std::time::Instant::now();
                        self.schema
                            .execute_stream(request)
                            .map(move |response| {
                                extensions::observe(
                                    &state.metrics,
                                    name.as_deref(),
                                    &response,
                                    started,
                                );
                                response
                            })
                            .boxed()
                    }
                };
                let stream = answers
                    .map(Some)
                    .chain(futures_util::stream::once(async { None }))
                    .boxed();
                session.operations.insert(id, stream);
                Ok(vec![])
            }
            ("complete", false) | ("stop", true) => {
                let id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                session.started.remove(id);
                if session.operations.remove(id).is_some() && legacy {
                    return Ok(vec![json!({"id": id, "type": "complete"})]);
                }
                Ok(vec![])
            }
            ("connection_terminate", true) => Err(Flow::Close(1000, "Normal closure".into())),
            _ => Err(invalid("unknown message type")),
        }
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
