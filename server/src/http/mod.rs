//! The HTTP surface: routes, the observe middleware (request id, client address, access log,
//! metrics), health, readiness, metrics, the SDL and (in development) GraphiQL.
use std::{sync::Arc, time::Instant};

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response, Route, get, handler,
    http::{HeaderValue, StatusCode},
    web::{Data, Html, websocket::WebSocket},
};
use serde_json::json;
use tracing::Instrument;

use crate::{
    graphql::{
        AppSchema,
        context::{ClientIp, RequestContext, RequestId},
        http::graphql_http,
        ws,
    },
    state::AppState,
};

pub fn routes(state: Arc<AppState>, schema: AppSchema) -> impl Endpoint {
    let observe = Observe {
        state: state.clone(),
    };
    Route::new()
        .at("/graphql", get(graphql_get).post(graphql_http))
        .at("/graphql/ws", get(graphql_ws))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(prometheus_metrics))
        .at("/schema.graphql", get(schema_sdl))
        .at("/graphiql", get(graphiql))
        .at("/entrustments/:case_id", get(entrustment_document))
        .data(state)
        .data(schema)
        .with(observe)
}

/// `GET /graphql`: a WebSocket upgrade (same path as HTTP) or a query over GET.
#[handler]
async fn graphql_get(
    req: &Request,
    body: Body,
    websocket: Option<WebSocket>,
    Data(state): Data<&Arc<AppState>>,
    Data(schema): Data<&AppSchema>,
) -> poem::Result<Response> {
    if let Some(websocket) = websocket {
        return Ok(ws::upgrade(
            req,
            websocket,
            state.clone(),
            schema.clone(),
            RequestContext::of(req),
        ));
    }
    graphql_http.call(rebuild(req, body)).await
}

/// A copy of the request for the HTTP handler (same head, extensions and body).
fn rebuild(req: &Request, body: Body) -> Request {
    let mut copy = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .version(req.version())
        .body(body);
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// `GET /graphql/ws`: the WebSocket endpoint under its own path, for proxies that route by path.
#[handler]
async fn graphql_ws(
    req: &Request,
    websocket: WebSocket,
    Data(state): Data<&Arc<AppState>>,
    Data(schema): Data<&AppSchema>,
) -> Response {
    ws::upgrade(
        req,
        websocket,
        state.clone(),
        schema.clone(),
        RequestContext::of(req),
    )
}

/// Liveness: the process answers.
#[handler]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database and the shared store (Redis or in-process) answer.
#[handler]
async fn readyz(Data(state): Data<&Arc<AppState>>) -> Response {
    let database = state.db.ping().await.is_ok();
    let store = state.store.ping().await.is_ok();
    let status = if database && store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "database": if database { "ok" } else { "unavailable" },
        "store": state.store.kind(),
        "storeStatus": if store { "ok" } else { "unavailable" },
    });
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
async fn prometheus_metrics(Data(state): Data<&Arc<AppState>>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// The SDL: always in development, in production only when `graphql.publish_sdl` is set.
#[handler]
async fn schema_sdl(Data(state): Data<&Arc<AppState>>, Data(schema): Data<&AppSchema>) -> Response {
    if state.settings.is_production() && !state.settings.graphql.publish_sdl {
        return StatusCode::NOT_FOUND.into_response();
    }
    Response::builder()
        .content_type("text/plain; charset=utf-8")
        .body(schema.sdl())
}

/// Query of a signed entrustment link (see `cases::entrustment::signed_path`).
#[derive(serde::Deserialize)]
struct SignedLink {
    expires: i64,
    signature: String,
}

/// `GET /entrustments/<case>?expires=…&signature=…`: the entrustment's printable text for the
/// mini-program's web-view. A wrong or expired signature is answered 404, like a missing
/// document. The page may run no script and load nothing.
#[handler]
async fn entrustment_document(
    poem::web::Path(case_id): poem::web::Path<String>,
    poem::web::Query(link): poem::web::Query<SignedLink>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let Ok(case_id) = uuid::Uuid::parse_str(&case_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match crate::cases::entrustment::open_signed(state, case_id, link.expires, &link.signature)
        .await
    {
        Ok(Some(html)) => Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
            )
            .header("X-Content-Type-Options", "nosniff")
            .header("Cache-Control", "no-store")
            .header("Referrer-Policy", "no-referrer")
            .body(html),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(error = error.message(), "entrustment document");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// GraphiQL, development only.
#[handler]
async fn graphiql(Data(state): Data<&Arc<AppState>>) -> Response {
    if state.settings.is_production() {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("Bangban GraphiQL (development)")
            .finish(),
    )
    .into_response()
}

struct Observe {
    state: Arc<AppState>,
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ObserveEndpoint {
            inner: ep,
            state: self.state.clone(),
        }
    }
}

struct ObserveEndpoint<E> {
    inner: E,
    state: Arc<AppState>,
}

fn well_formed_request_id(value: &str) -> bool {
    (8..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/graphql" => "/graphql",
        "/graphql/ws" => "/graphql/ws",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/schema.graphql" => "/schema.graphql",
        "/graphiql" => "/graphiql",
        _ => "other",
    }
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| well_formed_request_id(v))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let forwarded = self
            .state
            .settings
            .http
            .trust_forwarded_for
            .then(|| {
                req.headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(|v| v.trim().to_string())
            })
            .flatten();
        let client_ip = forwarded.unwrap_or_else(|| {
            req.remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".into())
        });
        req.extensions_mut().insert(RequestId(request_id.clone()));
        req.extensions_mut().insert(ClientIp(client_ip));
        let method = req.method().to_string();
        let route = route_label(req.uri().path());
        let span =
            tracing::info_span!("request", request_id = %request_id, method = %method, route);
        let mut response = self.inner.get_response(req).instrument(span.clone()).await;
        let status = response.status();
        let elapsed = started.elapsed();
        let metrics = &self.state.metrics;
        metrics
            .http_requests
            .with_label_values(&[method.as_str(), route, status.as_str()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        span.in_scope(|| {
            tracing::info!(
                status = status.as_u16(),
                elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                "request"
            )
        });
        Ok(response)
    }
}
