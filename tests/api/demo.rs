//! A first run on the embedded default gets a demo county with demo staff — a county admin and
//! an agent at every demo point, marked demo, with one generated password shown once — so a
//! booking can be made and served within minutes. Production refuses demo data.
use bangban_server::config::{Environment, Secret, Settings};
use entity::staff_accounts;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Options, TestApp, expect_data};

fn with_staff() -> Options {
    Options {
        demo: true,
        demo_staff: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn the_demo_county_comes_with_demo_staff_who_sign_in_with_the_password_shown_once() {
    let app = TestApp::spawn_with(with_staff()).await;
    let demo = app
        .demo_staff
        .clone()
        .expect("demo staff on a fresh database");
    assert_eq!(demo.password.chars().count(), 16);

    // An agent at every demo point, each on duty at its point, and one county admin; all demo.
    let points = expect_data(
        &app.graphql(None, "{ servicePoints { id } }", json!({}))
            .await,
    )["servicePoints"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(demo.agents.len(), points);
    let rows = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Demo.eq(true))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), points + 1);
    let agent_points: std::collections::HashSet<_> = rows
        .iter()
        .filter(|r| r.username.starts_with("demo-agent-"))
        .map(|r| r.service_point_id.expect("an agent has a point"))
        .collect();
    assert_eq!(agent_points.len(), points, "one agent at every point");

    // The password shown works for the admin and for an agent at its own desk.
    let admin = app.login_staff_session(&demo.admin, &demo.password).await;
    let me = expect_data(&app.as_(&admin, "{ me { role } }", json!({})).await);
    assert_eq!(me["me"]["role"], "COUNTY_ADMIN");
    let first = rows.iter().find(|r| r.username == demo.agents[0]).unwrap();
    let agent = app
        .login_staff_session(&demo.agents[0], &demo.password)
        .await;
    let code = expect_data(
        &app.as_(
            &agent,
            "query($p: ID!) { pointCheckInCode(servicePointId: $p) { code } }",
            json!({"p": first.service_point_id.unwrap().to_string()}),
        )
        .await,
    );
    assert_eq!(code["pointCheckInCode"]["code"].as_str().unwrap().len(), 6);

    // A wrong password is refused like any other.
    let refused = app.login_staff(&demo.admin, "not-the-password").await;
    assert!(refused["errors"].is_array(), "{refused}");
}

#[tokio::test]
async fn a_second_start_on_the_same_database_creates_no_more_demo_staff() {
    let first = TestApp::spawn_with(with_staff()).await;
    assert!(first.demo_staff.is_some());
    let second = TestApp::spawn_with(Options {
        sibling_of: Some(first.backend.clone()),
        ..with_staff()
    })
    .await;
    assert!(
        second.demo_staff.is_none(),
        "the password is shown only once"
    );
}

#[test]
fn production_refuses_demo_data() {
    let mut settings = Settings {
        env: Environment::Production,
        ..Settings::default()
    };
    settings.wechat.appid = Some("wx0000000000000000".into());
    settings.wechat.secret = Some(Secret::new("secret"));
    settings.pii.data_key = Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    settings.auth.jwt_keys = vec![bangban_server::config::JwtKey {
        kid: "k".into(),
        secret: Secret::new("test-signing-key-test-signing-key-0123456789"),
    }];
    settings.database.url = Some(Secret::new("postgres://localhost/bangban"));
    assert!(settings.validate().is_ok(), "{:?}", settings.validate());
    settings.seed_demo = Some(true);
    let refused = settings.validate().unwrap_err();
    assert!(refused.contains("demo"), "{refused}");
}

#[tokio::test]
async fn without_demo_staff_the_demo_county_has_no_staff_and_no_password_is_shown() {
    // The demo directory with demo staff turned off (as the benchmark and most tests run).
    let app = TestApp::with_demo().await;
    assert!(
        app.demo_staff.is_none(),
        "no demo staff, so no password to show: {:?}",
        app.demo_staff
    );
    let staff = staff_accounts::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(staff.is_empty(), "{} staff accounts", staff.len());
}
