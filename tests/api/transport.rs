//! GraphQL over HTTP: the graphql-http audits, GET/POST rules, limits, production hardening.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, expect_data, expect_error, run_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_http_audits_pass_every_must_and_should() {
    let app = TestApp::spawn().await;
    let output = run_node("audit.mjs", &[&app.url("/graphql")]).await;
    assert!(output.contains(", 0 failed"), "{output}");
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { loginWithWechat(code: \"get-user\") { accessToken } }",
        )])
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let users: Vec<entity::users::Model> = <entity::users::Entity as sea_orm::EntityTrait>::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(users.is_empty(), "the mutation must not have run");
}

#[tokio::test]
async fn a_query_over_get_works() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "{ serverTime }")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        expect_data(&body)["serverTime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );
}

#[tokio::test]
async fn a_post_without_json_content_type_is_refused() {
    let app = TestApp::spawn().await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/json; charset=latin1"),
    ] {
        let mut request = app
            .http
            .post(app.url("/graphql"))
            .body(r#"{"query":"{ serverTime }"}"#);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| {
            s.http.body_limit = 1024;
            s.graphql.max_batch = 3;
        })),
        ..Options::default()
    })
    .await;
    let big = json!({"query": format!("{{ serverTime }} # {}", "x".repeat(2000))});
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let batch: Vec<Value> = (0..4).map(|_| json!({"query": "{ serverTime }"})).collect();
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let batch: Vec<Value> = (0..3).map(|_| json!({"query": "{ serverTime }"})).collect();
    let body: Value = app
        .http
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn depth_complexity_and_alias_limits_apply() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| {
            s.graphql.max_aliases = 3;
            s.graphql.max_depth = 3;
            s.graphql.max_complexity = 5;
        })),
        ..Options::default()
    })
    .await;
    let aliases = app
        .graphql(
            None,
            "{ a: serverTime b: serverTime c: serverTime d: serverTime }",
            json!({}),
        )
        .await;
    assert!(
        aliases["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{aliases}"
    );
    assert!(aliases.get("data").is_none());
    // The same limit over WebSocket, and in a batch (each operation judged on its own).
    let mut socket = crate::helpers::WsClient::connect(&app, None).await;
    socket
        .subscribe(
            "too-many",
            "{ a: serverTime b: serverTime c: serverTime d: serverTime }",
            json!({}),
        )
        .await;
    let answer = socket
        .next_message(std::time::Duration::from_secs(5))
        .await
        .expect("an answer");
    assert!(answer.to_string().contains("aliases"), "{answer}");
    let batch: Value = app
        .http
        .post(app.url("/graphql"))
        .json(&json!([
            {"query": "{ a: serverTime b: serverTime c: serverTime d: serverTime }"},
            {"query": "{ serverTime }"},
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        batch[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{batch}"
    );
    assert!(batch[1]["data"]["serverTime"].is_string(), "{batch}");

    let deep = app
        .graphql(
            None,
            "{ __schema { types { fields { type { name } } } } }",
            json!({}),
        )
        .await;
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{deep}"
    );

    let complex = app
        .graphql(
            None,
            "{ a: serverTime b: serverTime c: serverTime }",
            json!({}),
        )
        .await;
    assert!(
        expect_data(&complex).is_object(),
        "three fields are within the limit"
    );
    let too_complex = app
        .graphql(
            None,
            "{ serverTime me { id kind role unitId displayName phone } }",
            json!({}),
        )
        .await;
    assert!(
        too_complex["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{too_complex}"
    );
}

#[tokio::test]
async fn production_hides_introspection_suggestions_graphiql_and_the_sdl() {
    let app = TestApp::spawn_with(Options {
        production: true,
        wechat: Some(crate::fake_wechat::FakeWechat::start().await),
        ..Options::default()
    })
    .await;
    let introspection = app
        .graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        introspection["data"]["__schema"].is_null(),
        "introspection must reveal nothing: {introspection}"
    );
    let typo = app.graphql(None, "{ serverTme }", json!({})).await;
    let message = typo["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    for path in ["/graphiql", "/schema.graphql"] {
        let status = app.http.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn development_serves_graphiql_the_sdl_and_suggestions() {
    let app = TestApp::spawn().await;
    let sdl = app
        .http
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sdl, bangban_server::graphql::sdl());
    let page = app.http.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let typo = app.graphql(None, "{ serverTme }", json!({})).await;
    assert!(
        typo["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean")
    );
}

#[tokio::test]
async fn errors_carry_stable_codes_and_validation_failures_omit_data() {
    let app = TestApp::spawn().await;
    let unauthenticated = app.graphql(None, "{ me { id } }", json!({})).await;
    expect_error(&unauthenticated, "UNAUTHENTICATED");
    let invalid = app.graphql(None, "{ nope }", json!({})).await;
    expect_error(&invalid, "GRAPHQL_VALIDATION_FAILED");
    assert!(invalid.get("data").is_none());
}

#[tokio::test]
async fn an_argument_the_schema_cannot_coerce_is_a_coded_bad_input() {
    let app = TestApp::with_demo().await;
    let staff = app
        .staff_session(
            "coercion.admin",
            bangban_server::auth::Role::CountyAdmin,
            "140521",
        )
        .await;
    // A nullable variable left out, for a non-null argument with a default: GraphQL coerces it
    // while executing, after validation; the error still carries a code.
    let response = app
        .as_(
            &staff,
            "query($o: Boolean) { consultations(openOnly: $o) { id } }",
            json!({}),
        )
        .await;
    expect_error(&response, "BAD_USER_INPUT");
}
