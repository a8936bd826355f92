//! GraphQL over HTTP, per the GraphQL-over-HTTP specification: `application/graphql-response+json`
//! when the client accepts it (400 without `data` for requests that fail before execution),
//! `application/json` otherwise (200); POST needs `Content-Type: application/json`; GET runs
//! queries only — a mutation over GET is refused with 405.
use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, Request as GqlRequest, Response as GqlResponse, Variables,
    parser::types::{DocumentOperations, OperationType},
};
use poem::{
    Body, Request, Response, handler,
    http::{HeaderValue, Method, StatusCode, header},
    web::Data,
};
use serde_json::{Map, Value, json};

use crate::{
    auth::{Viewer, service::authenticate},
    error::{AppError, INTERNAL_CODE, UNAVAILABLE_CODE, transport},
    graphql::{
        AppSchema,
        context::{RequestContext, bearer},
        extensions,
    },
    state::AppState,
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from `Accept`: `None` when neither is acceptable (406).
/// The GraphQL media type is chosen only when named explicitly and not ranked below JSON.
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(MediaType::Json);
    };
    let mut graphql_exact: Option<f32> = None;
    let mut json_q: Option<f32> = None;
    let mut wildcard_q: Option<f32> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => graphql_exact = Some(graphql_exact.unwrap_or(0.0).max(q)),
            APPLICATION_JSON => json_q = Some(json_q.unwrap_or(0.0).max(q)),
            "*/*" | "application/*" => wildcard_q = Some(wildcard_q.unwrap_or(0.0).max(q)),
            _ => {}
        }
    }
    let json = json_q.or(wildcard_q).unwrap_or(0.0);
    let graphql = graphql_exact.or(wildcard_q).unwrap_or(0.0);
    if graphql_exact.is_some() && graphql > 0.0 && graphql >= json {
        Some(MediaType::GraphqlResponseJson)
    } else if json > 0.0 {
        Some(MediaType::Json)
    } else if graphql > 0.0 {
        Some(MediaType::GraphqlResponseJson)
    } else {
        None
    }
}

/// An error answered before GraphQL runs: a status and a message in the `errors` shape.
fn transport_error(status: StatusCode, media: MediaType, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type(media.content_type())
        .body(json!({"errors": [{"message": message, "extensions": {"code": code}}]}).to_string())
}

fn bad_request(media: MediaType, message: &str) -> Response {
    transport_error(
        StatusCode::BAD_REQUEST,
        media,
        transport::BAD_REQUEST,
        message,
    )
}

/// Builds a request from a JSON object of GraphQL-over-HTTP parameters.
fn request_from_params(params: &Map<String, Value>) -> Result<GqlRequest, String> {
    let query = match params.get("query") {
        Some(Value::String(q)) => q.clone(),
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("the `query` parameter is missing".into()),
    };
    let mut request = GqlRequest::new(query);
    match params.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name.clone()),
        Some(_) => return Err("`operationName` must be a string or null".into()),
    }
    match params.get("variables") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => request = request.variables(Variables::from_json(v.clone())),
        Some(_) => return Err("`variables` must be an object or null".into()),
    }
    match params.get("extensions") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => {
            request.extensions = serde_json::from_value(v.clone())
                .map_err(|_| "`extensions` is not valid".to_string())?;
        }
        Some(_) => return Err("`extensions` must be an object or null".into()),
    }
    Ok(request)
}

/// GET parameters: `query`, `operationName`, and JSON-encoded `variables` and `extensions`.
fn request_from_query_string(query: &str) -> Result<GqlRequest, String> {
    let mut params = Map::new();
    for (key, value) in url_decode_pairs(query) {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| format!("`{key}` must be URL-encoded JSON"))?,
            "query" | "operationName" => Value::String(value),
            _ => continue,
        };
        params.insert(key, value);
    }
    request_from_params(&params)
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The operation a request would run, if it parses: used to refuse mutations over GET.
fn operation_type(request: &GqlRequest) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// True when the request failed before execution (parse, validation, variables, limits):
/// no data and no error carries a path.
pub fn failed_before_execution(response: &GqlResponse) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A response as it goes on the wire (see [`tag`]), serialised straight from the executor's
/// values: no intermediate JSON tree.
#[derive(serde::Serialize)]
pub struct Wire {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<async_graphql::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<async_graphql::ServerError>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: std::collections::BTreeMap<String, async_graphql::Value>,
}

/// Readies a response for the wire: `data` omitted when the request never executed, internal
/// errors tagged with the request id, request-level errors given a code, argument errors
/// found while executing given BAD_USER_INPUT.
pub fn tag(mut response: GqlResponse, request_id: &str) -> Wire {
    let before_execution = failed_before_execution(&response);
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        let code = extensions.get("code").cloned();
        match code {
            Some(async_graphql::Value::String(code))
                if code == INTERNAL_CODE || code == UNAVAILABLE_CODE =>
            {
                error.message = format!("internal error (request id {request_id})");
                extensions.set("requestId", request_id);
            }
            Some(_) => {}
            None if before_execution => {
                extensions.set("code", transport::GRAPHQL_VALIDATION_FAILED)
            }
            // Every use case's error carries its code; one without comes from GraphQL coercing
            // an argument while executing (a nullable variable left out for a non-null
            // argument): the caller's input.
            None => extensions.set("code", "BAD_USER_INPUT"),
        }
    }
    Wire {
        data: (!before_execution).then_some(response.data),
        errors: response.errors,
        extensions: response.extensions,
    }
}

/// [`tag`], as a JSON value (for the WebSocket's frames).
pub fn finish(response: GqlResponse, request_id: &str) -> Value {
    serde_json::to_value(tag(response, request_id)).unwrap_or(Value::Null)
}

fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if media != APPLICATION_JSON {
        return false;
    }
    for param in parts {
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return false;
        }
    }
    true
}

/// Resolves the caller from `Authorization: Bearer …`; no header means anonymous.
async fn viewer_from_header(state: &AppState, req: &Request) -> Result<Viewer, AppError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(Viewer::Anonymous);
    };
    let token = bearer(value.to_str().unwrap_or_default()).ok_or_else(|| {
        AppError::Unauthenticated("use `Authorization: Bearer <accessToken>`".into())
    })?;
    authenticate(state, token).await
}

#[handler]
pub async fn graphql_http(
    req: &Request,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
    Data(schema): Data<&AppSchema>,
) -> Response {
    let (response, statements) = crate::db::counting(serve_graphql(req, body, state, schema)).await;
    state.metrics.db_statements.observe(statements as f64);
    response
}

/// One GraphQL-over-HTTP request: negotiation, the viewer, the batch, the response.
async fn serve_graphql(
    req: &Request,
    body: Body,
    state: &Arc<AppState>,
    schema: &AppSchema,
) -> Response {
    let mut context = RequestContext::of(req);
    let request_id = context.request_id.clone();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let Some(media) = negotiate(accept) else {
        return transport_error(
            StatusCode::NOT_ACCEPTABLE,
            MediaType::Json,
            transport::NOT_ACCEPTABLE,
            "accept application/graphql-response+json or application/json",
        );
    };

    let batch = match *req.method() {
        Method::GET => {
            let request = match request_from_query_string(req.uri().query().unwrap_or("")) {
                Ok(request) => request,
                Err(message) => return bad_request(media, &message),
            };
            if operation_type(&request) == Some(OperationType::Mutation) {
                let mut response = transport_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    media,
                    transport::METHOD_NOT_ALLOWED,
                    "mutations are only accepted over POST",
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                return response;
            }
            BatchRequest::Single(request)
        }
        Method::POST => {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if content_type.is_none_or(|ct| !is_json_content_type(ct)) {
                return transport_error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    media,
                    transport::UNSUPPORTED_MEDIA_TYPE,
                    "send the request as Content-Type: application/json (UTF-8)",
                );
            }
            let bytes = match body.into_bytes_limit(state.settings.http.body_limit).await {
                Ok(bytes) => bytes,
                Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                    return transport_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        media,
                        transport::PAYLOAD_TOO_LARGE,
                        "the request body is too large",
                    );
                }
                Err(_) => return bad_request(media, "the request body could not be read"),
            };
            if bytes.is_empty() {
                return bad_request(media, "the request body is empty");
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(params)) => match request_from_params(&params) {
                    Ok(request) => BatchRequest::Single(request),
                    Err(message) => return bad_request(media, &message),
                },
                Ok(Value::Array(items)) => {
                    if items.is_empty() || items.len() > state.settings.graphql.max_batch {
                        return bad_request(
                            media,
                            &format!(
                                "a batch must hold 1 to {} operations",
                                state.settings.graphql.max_batch
                            ),
                        );
                    }
                    let mut requests = Vec::with_capacity(items.len());
                    for item in items {
                        let Value::Object(params) = item else {
                            return bad_request(media, "each batch item must be an object");
                        };
                        match request_from_params(&params) {
                            Ok(request) => requests.push(request),
                            Err(message) => return bad_request(media, &message),
                        }
                    }
                    BatchRequest::Batch(requests)
                }
                Ok(_) => return bad_request(media, "the body must be a JSON object"),
                Err(_) => return bad_request(media, "the body is not valid JSON"),
            }
        }
        _ => {
            let mut response = transport_error(
                StatusCode::METHOD_NOT_ALLOWED,
                media,
                transport::METHOD_NOT_ALLOWED,
                "use GET for queries or POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
    };

    let viewer = match viewer_from_header(state, req).await {
        Ok(viewer) => viewer,
        Err(error @ AppError::Unauthenticated(_)) => {
            // Only a bad, expired or revoked token is 401: the app signs in again.
            let mut response = transport_error(
                StatusCode::UNAUTHORIZED,
                media,
                error.code(),
                &error.message(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        }
        Err(error) => {
            // The session could not be looked up (a database blip): 503, retry; never the
            // cause, and never a forced re-login.
            let code = error.code();
            let gql: async_graphql::Error = error.into();
            let body = json!({"errors": [{
                "message": format!("{} (request id {request_id})", gql.message),
                "extensions": {"code": code, "requestId": request_id},
            }]});
            return Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1")
                .content_type(media.content_type())
                .body(body.to_string());
        }
    };
    context.viewer = viewer;
    let batch = batch.data(context);
    let (status, body) = match execute(state, schema, batch).await {
        BatchResponse::Single(response) => {
            let failed_early = failed_before_execution(&response);
            let status = if failed_early && media == MediaType::GraphqlResponseJson {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (status, serde_json::to_string(&tag(response, &request_id)))
        }
        BatchResponse::Batch(responses) => {
            let wires: Vec<Wire> = responses.into_iter().map(|r| tag(r, &request_id)).collect();
            (StatusCode::OK, serde_json::to_string(&wires))
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            // Like every internal error: opaque, with the request id to find the log line.
            tracing::error!(request_id = %request_id, %error, "a response could not be serialised");
            let body = json!({"errors": [{
                "message": format!("internal error (request id {request_id})"),
                "extensions": {"code": INTERNAL_CODE, "requestId": request_id},
            }]});
            return Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type(media.content_type())
                .body(body.to_string());
        }
    };
    Response::builder()
        .status(status)
        .content_type(media.content_type())
        .body(body)
}

/// Executes each operation of the batch in turn, behind the alias limit and with telemetry.
async fn execute(state: &AppState, schema: &AppSchema, batch: BatchRequest) -> BatchResponse {
    let max = state.settings.graphql.max_aliases;
    let one = |mut request: async_graphql::Request| async move {
        if let Some(refused) = extensions::refuse_aliases(&mut request, max) {
            return refused;
        }
        let started = std::time::Instant::now();
        let name = extensions::operation_name(&mut request);
        let response = schema.execute(request).await;
        extensions::observe(&state.metrics, name.as_deref(), &response, started);
        response
    };
    match batch {
        BatchRequest::Single(request) => BatchResponse::Single(one(request).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(one(request).await);
            }
            BatchResponse::Batch(responses)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_negotiation() {
        use MediaType::*;
        let table: [(Option<&str>, Option<MediaType>); 10] = [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (
                Some("application/graphql-response+json"),
                Some(GraphqlResponseJson),
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Some(GraphqlResponseJson),
            ),
            (
                Some("application/graphql-response+json;q=0.5, application/json"),
                Some(Json),
            ),
            (Some("application/*"), Some(Json)),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
        ];
        for (accept, expected) in table {
            assert_eq!(negotiate(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn content_type_must_be_json_in_utf8() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("Application/JSON; charset=\"UTF-8\""));
        assert!(!is_json_content_type("application/json; charset=latin1"));
        assert!(!is_json_content_type("text/plain;charset=UTF-8"));
    }

    #[test]
    fn parameters_are_checked_by_type() {
        let ok = json!({"query": "{ __typename }", "variables": null, "operationName": null, "extensions": {"a": 1}});
        assert!(request_from_params(ok.as_object().unwrap()).is_ok());
        for bad in [
            json!({"notquery": "{ __typename }"}),
            json!({"query": 0}),
            json!({"query": "{ a }", "variables": "x"}),
            json!({"query": "{ a }", "operationName": false}),
            json!({"query": "{ a }", "extensions": []}),
        ] {
            assert!(
                request_from_params(bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn internal_errors_are_opaque_and_carry_the_request_id() {
        let error: async_graphql::Error =
            AppError::internal(anyhow::anyhow!("connection refused to 10.0.0.5")).into();
        let mut server_error = error.into_server_error(async_graphql::Pos::default());
        server_error.path = vec![async_graphql::PathSegment::Field("me".into())];
        let response = GqlResponse::from_errors(vec![server_error]);
        let body = finish(response, "req-123");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert_eq!(message, "internal error (request id req-123)");
        assert_eq!(body["errors"][0]["extensions"]["requestId"], "req-123");
        assert!(!body.to_string().contains("10.0.0.5"));
        assert!(
            body.get("data").is_some(),
            "an execution error keeps `data`"
        );
    }

    #[test]
    fn validation_failures_drop_data_and_get_a_code() {
        let response =
            GqlResponse::from_errors(vec![async_graphql::ServerError::new("Unknown field", None)]);
        let body = finish(response, "r");
        assert!(body.get("data").is_none());
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
    }

    #[test]
    fn get_mutations_are_recognised() {
        let q = |s: &str| operation_type(&GqlRequest::new(s));
        assert_eq!(q("mutation { logout }"), Some(OperationType::Mutation));
        assert_eq!(q("{ me { id } }"), Some(OperationType::Query));
        let named =
            GqlRequest::new("query A { me { id } } mutation B { logout }").operation_name("B");
        assert_eq!(operation_type(&named), Some(OperationType::Mutation));
    }
}
