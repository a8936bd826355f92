//! Identity end to end: WeChat login through the fake WeChat server, dev login, refresh-token
//! rotation and reuse detection, logout, JWT rejection (RFC 8725), staff login and lockout,
//! rate limits, and phone binding with the shared access-token cache.
use bangban_server::{auth::Role, clock::Clock, config::Settings};
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_wechat::{Api, FakeWechat},
    helpers::{Options, Session, TestApp, expect_data, expect_error},
};

const TEST_PHONE: &str = "13800138000";

#[tokio::test]
async fn wechat_login_returns_tokens_and_never_the_session_key() {
    let fake = FakeWechat::start().await;
    let app = TestApp::with_wechat(&fake).await;
    let first = app.login_with_code(&fake.login_code("openid-alice")).await;
    let body = first.to_string();
    assert!(!body.contains("fake-session-key"), "{body}");
    let payload = &expect_data(&first)["loginWithWechat"];
    assert_eq!(payload["viewer"]["kind"], "RESIDENT");
    assert!(
        payload["refreshToken"]
            .as_str()
            .unwrap()
            .starts_with("bbr_")
    );
    let again = app.login_with_code(&fake.login_code("openid-alice")).await;
    assert_eq!(
        again["data"]["loginWithWechat"]["viewer"]["id"],
        payload["viewer"]["id"]
    );
    let other = app.login_with_code(&fake.login_code("openid-bob")).await;
    assert_ne!(
        other["data"]["loginWithWechat"]["viewer"]["id"],
        payload["viewer"]["id"]
    );
}

#[tokio::test]
async fn invalid_used_or_expired_login_codes_answer_bad_user_input() {
    let fake = FakeWechat::start().await;
    let app = TestApp::with_wechat(&fake).await;
    let error = expect_error(&app.login_with_code("never-issued").await, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "code");

    let code = fake.login_code("openid-reuse");
    expect_data(&app.login_with_code(&code).await);
    expect_error(&app.login_with_code(&code).await, "BAD_USER_INPUT");

    let stale = fake.login_code("openid-late");
    fake.advance(301);
    expect_error(&app.login_with_code(&stale).await, "BAD_USER_INPUT");
    assert_eq!(
        fake.calls(Api::Code2Session),
        4,
        "40029/40163 are not retried"
    );
}

#[tokio::test]
async fn busy_and_throttled_wechat_is_retried_then_reported() {
    let fake = FakeWechat::start().await;
    let app = TestApp::with_wechat(&fake).await;
    fake.fail_next(Api::Code2Session, &[45011, -1]);
    expect_data(&app.login_with_code(&fake.login_code("openid-retry")).await);
    assert_eq!(fake.calls(Api::Code2Session), 3);

    fake.fail_next(Api::Code2Session, &[-1, -1, -1]);
    let response = app.login_with_code(&fake.login_code("openid-busy")).await;
    expect_error(&response, "UPSTREAM_WECHAT");
    assert_eq!(
        fake.calls(Api::Code2Session),
        6,
        "three attempts, then give up"
    );
}

#[tokio::test]
async fn an_unreachable_wechat_is_reported_as_upstream_wechat() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(|s| {
            s.wechat.base_url = "http://127.0.0.1:9".into()
        })),
        ..Options::default()
    })
    .await;
    let response = app.login_with_code("anything").await;
    expect_error(&response, "UPSTREAM_WECHAT");
}

#[tokio::test]
async fn dev_login_takes_the_code_as_openid_but_production_refuses_it() {
    let app = TestApp::spawn().await;
    let a = app.login_resident("dev-user-1").await;
    let b = app.login_resident("dev-user-1").await;
    assert_eq!(a.user_id, b.user_id);

    let settings = Settings {
        env: bangban_server::config::Environment::Production,
        ..Settings::default()
    };
    assert!(settings.validate().unwrap_err().contains("dev login"));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let first = app.login_resident("rotating").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.graphql(
                None,
                "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken viewer { id } } }",
                json!({"t": token}),
            )
            .await
        }
    };
    let rotated = refresh(first.refresh.clone()).await;
    let second = Session::from_payload(&expect_data(&rotated)["refreshSession"]);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.user_id, first.user_id);
    expect_data(
        &app.graphql(Some(&second.access), "{ me { id } }", json!({}))
            .await,
    );

    // The spent token comes back: someone copied it. Everything in the family dies.
    expect_error(&refresh(first.refresh.clone()).await, "UNAUTHENTICATED");
    expect_error(&refresh(second.refresh.clone()).await, "UNAUTHENTICATED");
    let me = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&second.access)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // A fresh login is unaffected.
    let other = app.login_resident("rotating").await;
    expect_data(
        &app.graphql(Some(&other.access), "{ me { id } }", json!({}))
            .await,
    );
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_succeeds_at_most_once() {
    let app = TestApp::spawn().await;
    let session = app.login_resident("racer").await;
    let query = "mutation($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }";
    let attempts = (0..6).map(|_| app.graphql(None, query, json!({"t": session.refresh})));
    let results = futures_util::future::join_all(attempts).await;
    let successes = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(successes, 1, "exactly one use wins: {results:?}");
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let session = app.login_resident("leaving").await;
    let out = app
        .graphql(Some(&session.access), "mutation { logout }", json!({}))
        .await;
    assert_eq!(expect_data(&out)["logout"], true);
    let me = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&session.access)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let refreshed = app
        .graphql(
            None,
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({"t": session.refresh}),
        )
        .await;
    expect_error(&refreshed, "UNAUTHENTICATED");
}

fn read_signing_key(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir.join("jwt.key"))
        .unwrap()
        .trim()
        .to_string()
}

fn claims_for(app: &TestApp, session: &Session) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let part = session.access.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    claims["iat"] = json!(app.clock.now().timestamp());
    claims
}

async fn status_with_token(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn forged_and_misused_tokens_are_rejected() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let app = TestApp::spawn().await;
    let session = app.login_resident("jwt-target").await;
    assert_eq!(
        status_with_token(&app, &session.access).await,
        StatusCode::OK
    );
    let key = read_signing_key(&app);
    let claims = claims_for(&app, &session);
    let sign = |alg: Algorithm, kid: &str, claims: &Value, secret: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        header.typ = Some("at+jwt".into());
        encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    // Sanity: the test's own signing with the real key is accepted.
    assert_eq!(
        status_with_token(&app, &sign(Algorithm::HS256, "local", &claims, &key)).await,
        StatusCode::OK
    );

    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("evil");
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-app");
    let mut not_access = claims.clone();
    not_access["typ"] = json!("refresh");
    let alg_none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "at+jwt", "kid": "local"}).to_string()),
        B64.encode(claims.to_string())
    );
    let cases = [
        ("alg none", alg_none),
        (
            "HS512 with the real key",
            sign(Algorithm::HS512, "local", &claims, &key),
        ),
        (
            "wrong key",
            sign(
                Algorithm::HS256,
                "local",
                &claims,
                "a-completely-different-secret-key-000",
            ),
        ),
        (
            "wrong issuer",
            sign(Algorithm::HS256, "local", &wrong_iss, &key),
        ),
        (
            "wrong audience",
            sign(Algorithm::HS256, "local", &wrong_aud, &key),
        ),
        (
            "not an access token",
            sign(Algorithm::HS256, "local", &not_access, &key),
        ),
        ("refresh token as access token", session.refresh.clone()),
    ];
    for (name, token) in cases {
        assert_eq!(
            status_with_token(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }

    app.clock.advance(Duration::hours(2));
    assert_eq!(
        status_with_token(&app, &session.access).await,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
}

#[tokio::test]
async fn staff_log_in_with_a_password_and_are_locked_out_after_repeated_failures() {
    let app = TestApp::spawn().await;
    app.create_staff("County.Admin", "correct horse battery", Role::CountyAdmin)
        .await;
    let ok = app
        .login_staff("county.admin", "correct horse battery")
        .await;
    let viewer = &expect_data(&ok)["loginStaff"]["viewer"];
    assert_eq!(viewer["kind"], "STAFF");
    assert_eq!(viewer["role"], "COUNTY_ADMIN");
    assert_eq!(viewer["displayName"], "测试员");

    let unknown = app.login_staff("nobody", "whatever-password").await;
    let wrong = app.login_staff("county.admin", "wrong password").await;
    assert_eq!(
        expect_error(&unknown, "UNAUTHENTICATED")["message"],
        expect_error(&wrong, "UNAUTHENTICATED")["message"]
    );
    for _ in 0..4 {
        expect_error(
            &app.login_staff("county.admin", "wrong password").await,
            "UNAUTHENTICATED",
        );
    }
    let locked = app
        .login_staff("county.admin", "correct horse battery")
        .await;
    let error = expect_error(&locked, "RATE_LIMITED");
    assert!(error["extensions"]["retryAfter"].as_u64().unwrap() > 0);

    app.clock.advance(Duration::minutes(16));
    expect_data(
        &app.login_staff("county.admin", "correct horse battery")
            .await,
    );
}

#[tokio::test]
async fn logins_from_one_address_are_rate_limited_with_retry_after() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(Box::new(|s| s.limits.login_per_ip_per_minute = 3)),
        ..Options::default()
    })
    .await;
    for n in 0..3 {
        expect_data(&app.login_with_code(&format!("limited-{n}")).await);
    }
    let error = expect_error(&app.login_with_code("limited-4").await, "RATE_LIMITED");
    let retry = error["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn bind_phone_stores_the_number_encrypted_and_shows_it_masked() {
    let fake = FakeWechat::start().await;
    let app = TestApp::with_wechat(&fake).await;
    let session = Session::from_payload(
        &app.login_with_code(&fake.login_code("openid-phone")).await["data"]["loginWithWechat"],
    );
    let bind = |code: String| {
        let app = &app;
        let token = session.access.clone();
        async move {
            app.graphql(
                Some(&token),
                "mutation($c: String!) { bindPhone(code: $c) { phone } }",
                json!({"c": code}),
            )
            .await
        }
    };
    let bound = bind(fake.phone_code(TEST_PHONE)).await;
    assert_eq!(expect_data(&bound)["bindPhone"]["phone"], "138****8000");
    let me = app
        .graphql(Some(&session.access), "{ me { phone } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["phone"], "138****8000");

    let dump = app.dump_table("users").await;
    assert!(
        dump.contains("phone_enc=Some(\"v1:"),
        "the row was read: {dump}"
    );
    assert!(
        !dump.contains(TEST_PHONE),
        "plain phone number in the users table"
    );
    assert!(
        !dump.contains("13800138"),
        "partial phone number in the users table"
    );

    let error = expect_error(&bind("not-a-code".into()).await, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "code");
}

#[tokio::test]
async fn a_rejected_access_token_is_refreshed_once_and_the_call_retried() {
    let fake = FakeWechat::start().await;
    let app = TestApp::with_wechat(&fake).await;
    let session = Session::from_payload(
        &app.login_with_code(&fake.login_code("openid-token")).await["data"]["loginWithWechat"],
    );
    let bind = |phone: &str| {
        let code = fake.phone_code(phone);
        let app = &app;
        let token = session.access.clone();
        async move {
            app.graphql(
                Some(&token),
                "mutation($c: String!) { bindPhone(code: $c) { phone } }",
                json!({"c": code}),
            )
            .await
        }
    };
    expect_data(&bind("13900139000").await);
    assert_eq!(fake.tokens_issued(), 1);
    expect_data(&bind("13900139001").await);
    assert_eq!(fake.tokens_issued(), 1, "the token is cached");

    fake.invalidate_tokens(); // 40001
    assert_eq!(
        expect_data(&bind("13900139002").await)["bindPhone"]["phone"],
        "139****9002"
    );
    assert_eq!(fake.tokens_issued(), 2);

    fake.expire_current_token(); // 42001
    expect_data(&bind("13900139003").await);
    assert_eq!(fake.tokens_issued(), 3);
    assert_eq!(fake.calls(Api::StableToken), 3);
}

#[tokio::test]
async fn only_signed_in_residents_bind_a_phone() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .graphql(
            None,
            "mutation { bindPhone(code: \"13800138000\") { phone } }",
            json!({}),
        )
        .await;
    expect_error(&anonymous, "UNAUTHENTICATED");
    app.create_staff("village.agent", "correct horse battery", Role::VillageAgent)
        .await;
    let staff = app
        .login_staff("village.agent", "correct horse battery")
        .await;
    let token = staff["data"]["loginStaff"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let forbidden = app
        .graphql(
            Some(&token),
            "mutation { bindPhone(code: \"13800138000\") { phone } }",
            json!({}),
        )
        .await;
    expect_error(&forbidden, "FORBIDDEN");

    // Dev login: the code is the number; a bad number names the field.
    let resident = app.login_resident("dev-phone").await;
    let bad = app
        .graphql(
            Some(&resident.access),
            "mutation { bindPhone(code: \"12345\") { phone } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expect_error(&bad, "BAD_USER_INPUT")["extensions"]["field"],
        "code"
    );
    let good = app
        .graphql(
            Some(&resident.access),
            "mutation { bindPhone(code: \"+8613800138000\") { phone } }",
            json!({}),
        )
        .await;
    assert_eq!(expect_data(&good)["bindPhone"]["phone"], "138****8000");
}
