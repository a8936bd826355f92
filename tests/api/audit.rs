//! Personal data at rest and on the way out, audited reveals, and the hash-chained audit log.
use bangban_server::auth::Role;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::{
    directory::{CHENGNEI, COUNTY, LONGGANG, test_id_number},
    helpers::{TestApp, expect_data, expect_error},
};

const PHONE: &str = "13900000042";

async fn staff_with_personal_data(app: &TestApp, admin: &crate::helpers::Session) -> String {
    let village = app.region_id(CHENGNEI).await;
    let created = app
        .as_(
            admin,
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id idNumber phone } }",
            json!({"input": {"username": "pii.agent", "displayName": "钱七", "password": "initial-password-1", "role": "VILLAGE_AGENT",
                "regionId": village, "idNumber": test_id_number(42), "phone": PHONE, "email": "qian@example.cn"}}),
        )
        .await;
    let created = expect_data(&created)["createStaff"].clone();
    assert_eq!(
        created["idNumber"],
        format!("140521********{}", &test_id_number(42)[14..])
    );
    assert_eq!(created["phone"], "139****0042");
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn id_numbers_and_phones_are_never_stored_in_plain_text() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    staff_with_personal_data(&app, &admin).await;
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    expect_data(
        &app.as_(
            &admin,
            "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id } }",
            json!({"input": {"regionId": app.region_id(CHENGNEI).await, "post": "帮办员", "name": "孙八", "username": "sun.ba",
                "role": "VILLAGE_AGENT", "idNumber": test_id_number(43), "phone": "13900000043", "email": "sun@example.cn",
                "arrivalDate": (today + chrono::Duration::days(5)).to_string()}}),
        )
        .await,
    );
    for table in [
        "staff_accounts",
        "staff_change_requests",
        "audit_log",
        "users",
    ] {
        let dump = app.dump_table(table).await;
        if table == "staff_accounts" {
            assert!(
                dump.contains("id_number_enc=Some(\"v1:"),
                "encrypted at rest: {dump}"
            );
        }
        for secret in [
            test_id_number(42),
            test_id_number(43),
            PHONE.to_string(),
            "13900000043".to_string(),
        ] {
            assert!(
                !dump.contains(&secret),
                "{table} holds {secret} in plain text"
            );
        }
    }
}

#[tokio::test]
async fn revealing_personal_data_is_for_admins_and_always_audited() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let staff_id = staff_with_personal_data(&app, &admin).await;
    let reveal = "mutation($s: ID!, $f: PersonalField!, $r: String!) { revealStaffPersonalData(staffId: $s, field: $f, reason: $r) }";
    let agent = app
        .staff_session("other.agent", Role::VillageAgent, CHENGNEI)
        .await;
    expect_error(
        &app.as_(
            &agent,
            reveal,
            json!({"s": staff_id, "f": "ID_NUMBER", "r": "好奇"}),
        )
        .await,
        "FORBIDDEN",
    );
    let no_reason = app
        .as_(
            &admin,
            reveal,
            json!({"s": staff_id, "f": "PHONE", "r": " "}),
        )
        .await;
    assert_eq!(
        expect_error(&no_reason, "BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );

    let id = expect_data(
        &app.as_(
            &admin,
            reveal,
            json!({"s": staff_id, "f": "ID_NUMBER", "r": "核对人员变动登记"}),
        )
        .await,
    );
    assert_eq!(id["revealStaffPersonalData"], test_id_number(42));
    let phone = expect_data(
        &app.as_(
            &admin,
            reveal,
            json!({"s": staff_id, "f": "PHONE", "r": "联系本人"}),
        )
        .await,
    );
    assert_eq!(phone["revealStaffPersonalData"], PHONE);

    let log = expect_data(
        &app.as_(
            &admin,
            "{ auditLog(first: 200) { action actorKind targetId details } }",
            json!({}),
        )
        .await,
    );
    let reveals: Vec<_> = log["auditLog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "pii.reveal")
        .collect();
    assert_eq!(
        reveals.len(),
        2,
        "one record per reveal; refused attempts reveal nothing"
    );
    assert!(
        reveals
            .iter()
            .all(|e| e["targetId"] == staff_id.as_str() && e["actorKind"] == "staff")
    );
    assert!(
        reveals[0]["details"]
            .as_str()
            .unwrap()
            .contains("核对人员变动登记")
    );
    assert!(!log.to_string().contains(PHONE));

    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    expect_error(
        &app.as_(&town, "{ auditLog { seq } }", json!({})).await,
        "FORBIDDEN",
    );
    let auditor = app.staff_session("auditor", Role::Auditor, COUNTY).await;
    expect_data(&app.as_(&auditor, "{ auditLog { seq } }", json!({})).await);
}

#[tokio::test]
async fn the_audit_chain_verifies_and_a_tampered_row_is_caught() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    staff_with_personal_data(&app, &admin).await;
    let town = app.region_id(LONGGANG).await;
    for n in 0..3 {
        let input = json!({"input": {"username": format!("lg.agent{n}"), "displayName": "周九", "password": "initial-password-1", "role": "TOWNSHIP_AGENT", "regionId": town}});
        expect_data(
            &app.as_(
                &admin,
                "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
                input,
            )
            .await,
        );
    }
    let report = bangban_server::audit::verify(&app.state.db)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(report.rows_checked, 4);
    assert_eq!(report.first_broken, None);

    let log = expect_data(
        &app.as_(&admin, "{ auditLog { seq prevHash hash } }", json!({}))
            .await,
    );
    let entries = log["auditLog"].as_array().unwrap();
    assert_eq!(entries[0]["prevHash"], "0".repeat(64));
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"]);
    }

    let db = &app.state.db;
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "UPDATE audit_log SET details = '{\"username\":\"someone-else\"}' WHERE seq = 3",
    ))
    .await
    .unwrap();
    let report = bangban_server::audit::verify(db)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(report.first_broken.map(|(seq, _)| seq), Some(3));
    assert_eq!(report.rows_checked, 2);
}

#[tokio::test]
async fn a_deleted_last_row_is_caught() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    staff_with_personal_data(&app, &admin).await;
    staff_with_personal_data_second(&app, &admin).await;
    let db = &app.state.db;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "DELETE FROM audit_log WHERE seq = 2",
    ))
    .await
    .unwrap();
    let report = bangban_server::audit::verify(db)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(report.first_broken.map(|(seq, _)| seq), Some(2));
}

async fn staff_with_personal_data_second(app: &TestApp, admin: &crate::helpers::Session) {
    let village = app.region_id(CHENGNEI).await;
    let input = json!({"input": {"username": "second.agent", "displayName": "吴十", "password": "initial-password-1", "role": "VILLAGE_AGENT", "regionId": village}});
    expect_data(
        &app.as_(
            admin,
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
            input,
        )
        .await,
    );
}
