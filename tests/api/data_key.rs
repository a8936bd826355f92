//! The data key: personal data that does not decrypt is a server fault (coded, with a request
//! id, and logged), never shown as "no phone"; and a server started with a key other than the
//! one its database was written with refuses to start instead of writing a second key's data.
use bangban_server::{
    Application,
    config::{Secret, Settings},
};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::{
    directory::{COUNTY, test_id_number},
    helpers::{TestApp, expect_data, expect_error},
};

#[tokio::test]
async fn personal_data_that_does_not_decrypt_is_an_error_not_an_absent_value() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session(
            "county.admin",
            bangban_server::auth::Role::CountyAdmin,
            COUNTY,
        )
        .await;
    let input = json!({"input": {"username": "with.phone", "displayName": "王五",
        "password": "initial-password-1", "role": "COUNTY_AGENT",
        "regionId": app.region_id(COUNTY).await, "phone": "13900000031",
        "idNumber": test_id_number(31)}});
    let created = expect_data(
        &app.as_(
            &admin,
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id phone } }",
            input,
        )
        .await,
    );
    assert_eq!(created["createStaff"]["phone"], "139****0031");
    // Sealed with another key (as after a key mix-up): it no longer authenticates.
    let other = bangban_server::pii::FieldCipher::new(&[9u8; 32]).unwrap();
    let foreign = other.encrypt("13900000031").unwrap();
    let db = &app.state.db;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        format!("UPDATE staff_accounts SET phone_enc = '{foreign}' WHERE username = 'with.phone'"),
    ))
    .await
    .unwrap();
    let listed = app
        .as_(&admin, "{ staffMembers { username phone } }", json!({}))
        .await;
    let error = expect_error(&listed, "INTERNAL_SERVER_ERROR");
    assert!(error["extensions"]["requestId"].is_string(), "{error}");
    assert!(
        !listed.to_string().contains("0031"),
        "no part of the number leaks: {listed}"
    );
}

#[tokio::test]
async fn a_server_started_with_another_data_key_refuses_to_start() {
    let app = TestApp::with_demo().await;
    let backend = app.backend.clone();
    app.stop().await;
    let mut settings = Settings {
        data_dir: backend.data_dir.clone(),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.jobs.enabled = false;
    settings.database.url = backend.database_url.clone().map(Secret::new);
    settings.redis.url = backend.redis_url.clone().map(Secret::new);
    settings.redis.key_prefix = backend.redis_prefix.clone();
    // Another 32-byte key than the one the database was written with.
    settings.pii.data_key = Some(Secret::new("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="));
    let refused = Application::build(
        settings.clone(),
        std::sync::Arc::new(bangban_server::clock::SystemClock),
    )
    .await;
    let error = format!("{:#}", refused.err().expect("another key refuses to start"));
    assert!(error.contains("data key"), "{error}");
    assert!(
        !error.contains("BwcHBwcH"),
        "the key is never printed: {error}"
    );
    // With its own key again it starts.
    settings.pii.data_key = None;
    let started = Application::build(
        settings,
        std::sync::Arc::new(bangban_server::clock::SystemClock),
    )
    .await;
    assert!(started.is_ok(), "{:?}", started.err());
}
