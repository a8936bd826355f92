//! Many counties in one deployment. Two counties side by side: the second one's staff create
//! staff, items, change requests, a booking policy, and a resident's no-show there makes a
//! restriction and an appeal. Nothing of it reaches the first county's administrator or
//! auditor — no list, export, audit read or decision — and every attempt to act on it answers
//! as if it did not exist and writes nothing; the second county's own staff see all of it (so
//! the checks cannot pass by seeing nothing at all).
use bangban_server::{
    auth::Role,
    clock::{Clock, local_date},
    directory::seed::{DemoLoad, SECOND_COUNTY, load_county},
};
use chrono::{Duration, NaiveDate, NaiveTime};
use serde_json::{Value, json};

use crate::{
    booking::BOOK,
    directory::{COUNTY, ITEM, LONGGANG, staff_change},
    helpers::{Session, TestApp, expect_data, expect_error},
};

const SECOND: &str = "140522";
const SECOND_TOWN: &str = "140522100";
const SECOND_VILLAGE: &str = "140522100200";
/// Names and codes of the second county's regions: none may appear in the first county's
/// exports.
const SECOND_MARKS: [&str; 4] = ["阳城", "凤城镇", "东关社区", "140522"];

async fn point_of(app: &TestApp, region_code: &str) -> String {
    let points = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { servicePoints(regionId: $r, kind: TOWNSHIP_CENTER) { id } }",
            json!({"r": app.region_id(region_code).await}),
        )
        .await,
    );
    points["servicePoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The slots of the point on the next working day after the test clock's date.
async fn next_day_slots(app: &TestApp, point: &str) -> (String, Vec<Value>) {
    let today = local_date(app.clock.now());
    let next = expect_data(
        &app.graphql(
            None,
            "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 1) { date } }",
            json!({"d": today.to_string()}),
        )
        .await,
    );
    let day = next["addWorkingDays"]["date"].as_str().unwrap().to_string();
    let slots = expect_data(&app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id } }", json!({"p": point, "d": day})).await);
    (day, slots["availableSlots"].as_array().unwrap().clone())
}

async fn add_agent(app: &TestApp, admin: &Session, username: &str, town: &str, point: &str) {
    let input = json!({"input": {"username": username, "displayName": "窗口", "password": "initial-password-1",
        "role": "TOWNSHIP_AGENT", "regionId": app.region_id(town).await, "servicePointId": point}});
    expect_data(
        &app.as_(
            admin,
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
            input,
        )
        .await,
    );
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every table an administrator's write could touch, as text (compared before and after the
/// refused writes).
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "regions",
        "service_points",
        "staff_accounts",
        "items",
        "item_change_requests",
        "staff_change_requests",
        "booking_restrictions",
        "booking_policies",
        "calendar_days",
        "audit_log",
        "events",
    ] {
        out.push(app.dump_table(table).await);
    }
    out
}

#[tokio::test]
async fn two_counties_share_a_deployment_and_nothing_crosses_between_them() {
    let app = TestApp::with_demo().await;
    let loaded = load_county(&app.state.db, app.clock.now(), &SECOND_COUNTY, false)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert!(matches!(loaded, DemoLoad::Loaded { .. }));
    let a_admin = app
        .staff_session("a.admin", Role::CountyAdmin, COUNTY)
        .await;
    let a_auditor = app.staff_session("a.auditor", Role::Auditor, COUNTY).await;
    let b_admin = app
        .staff_session("b.admin", Role::CountyAdmin, SECOND)
        .await;
    let b_auditor = app.staff_session("b.auditor", Role::Auditor, SECOND).await;

    // The second county at work.
    let b_point = point_of(&app, SECOND_TOWN).await;
    add_agent(&app, &b_admin, "b.agent", SECOND_TOWN, &b_point).await;
    expect_data(&app.as_(&b_admin, "mutation($p: ID!) { setBookingPolicy(servicePointId: $p, input: {noShowLimit: 1}) { noShowLimit } }", json!({"p": b_point})).await);
    let mut item: Value = serde_json::from_str(ITEM).unwrap();
    item["businessName"] = json!("阳城县临时救助申请");
    let b_item = expect_data(
        &app.as_(
            &b_admin,
            "mutation($input: ItemInput!) { createItem(input: $input) { id countyId } }",
            json!({"input": item}),
        )
        .await,
    )["createItem"]
        .clone();
    assert_eq!(b_item["countyId"], json!(app.region_id(SECOND).await));
    let b_item = b_item["id"].as_str().unwrap().to_string();
    let today = local_date(app.clock.now());
    let effective = (today + Duration::days(5)).to_string();
    let b_item_change = expect_data(&app.as_(&b_admin, "mutation($input: ItemChangeInput!) { submitItemChange(input: $input) { id } }",
        json!({"input": {"regionId": app.region_id(SECOND_TOWN).await, "beforeItemId": b_item, "after": item, "effectiveDate": effective}})).await)["submitItemChange"]["id"].clone();
    let b_staff_change = expect_data(
        &app.as_(
            &b_admin,
            "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id } }",
            staff_change(&app.region_id(SECOND_VILLAGE).await, None, &effective),
        )
        .await,
    )["submitStaffChange"]["id"]
        .clone();

    // A resident books there with the first county's item: refused, that item is not in the
    // second county's catalogue. With the second county's item: booked, then missed.
    let a_item = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { items(regionId: $r, level: TOWNSHIP) { id } }",
            json!({"r": app.region_id(COUNTY).await}),
        )
        .await,
    )["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resident = app.login_resident("two-county-resident").await;
    let (day, slots) = next_day_slots(&app, &b_point).await;
    let input = |item: &str, key: &str| json!({"input": {"servicePointId": b_point, "slotId": slots[0]["id"], "itemId": item, "kind": "HELP", "idempotencyKey": key}});
    let refused = expect_error(
        &app.as_(&resident, BOOK, input(&a_item, "cross")).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(refused["extensions"]["field"], "input.itemId");
    expect_data(&app.as_(&resident, BOOK, input(&b_item, "b")).await);
    let day_date = NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
    app.clock.set(bangban_server::booking::model::china_instant(
        day_date,
        NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
    ));
    let ran = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(ran.count("booking", "restrictions"), 1);
    // A day has passed: the sessions are refreshed.
    let (a_admin, a_auditor, b_admin, b_auditor, resident) = (
        app.refresh(&a_admin).await,
        app.refresh(&a_auditor).await,
        app.refresh(&b_admin).await,
        app.refresh(&b_auditor).await,
        app.refresh(&resident).await,
    );
    let restriction = expect_data(
        &app.as_(
            &resident,
            "{ myBookingRestrictions { id status } }",
            json!({}),
        )
        .await,
    )["myBookingRestrictions"][0]["id"]
        .clone();
    expect_data(&app.as_(&resident, "mutation($id: ID!) { appealBookingRestriction(id: $id, reason: \"当天生病\") { status } }", json!({"id": restriction})).await);

    // The restriction is the second county's: the resident still books in the first.
    let a_point = point_of(&app, LONGGANG).await;
    add_agent(&app, &a_admin, "a.agent", LONGGANG, &a_point).await;
    let (_, a_slots) = next_day_slots(&app, &a_point).await;
    expect_data(&app.as_(&resident, BOOK, json!({"input": {"servicePointId": a_point, "slotId": a_slots[0]["id"], "itemId": a_item, "kind": "HELP", "idempotencyKey": "a"}})).await);

    // Lists and exports: the second county's staff see their own; the first county's see none.
    let from = (app.clock.now() - Duration::days(30)).to_rfc3339();
    let to = (app.clock.now() + Duration::days(30)).to_rfc3339();
    let reads: Vec<(&str, String, Value)> = vec![
        ("staffMembers", "{ staffMembers { username } }".into(), json!({})),
        ("staffingShortfalls", "{ staffingShortfalls { region { code } } }".into(), json!({})),
        ("staffChangeRequests", "{ staffChangeRequests { id } }".into(), json!({})),
        ("itemChangeRequests", "{ itemChangeRequests { id } }".into(), json!({})),
        ("staffChangeRegisterCsv", "{ staffChangeRegisterCsv }".into(), json!({})),
        ("itemChangeRegisterCsv", "{ itemChangeRegisterCsv }".into(), json!({})),
        ("ledger", "query($f: DateTime!, $t: DateTime!) { ledger(from: $f, to: $t, first: 200) { entries { servicePointId } } }".into(), json!({"f": from, "t": to})),
        ("ledgerCsv", "query($f: DateTime!, $t: DateTime!) { ledgerCsv(from: $f, to: $t) }".into(), json!({"f": from, "t": to})),
        ("restrictionAppeals", "{ restrictionAppeals { id } }".into(), json!({})),
        ("auditLog", "{ auditLog(first: 200) { actorId targetId } }".into(), json!({})),
    ];
    let b_agent_and_admin = ["b.agent", "b.admin", "b.auditor"];
    let b_ids = [
        b_item.clone(),
        b_item_change.as_str().unwrap().to_string(),
        b_staff_change.as_str().unwrap().to_string(),
        restriction.as_str().unwrap().to_string(),
        b_point.clone(),
    ];
    let mentions_b = |name: &str, data: &Value| -> bool {
        let text = data.to_string();
        match name {
            "staffMembers" => ids(&data[name], "username")
                .iter()
                .any(|u| b_agent_and_admin.contains(&u.as_str())),
            "staffingShortfalls" => text.contains(SECOND),
            "staffChangeRegisterCsv" | "itemChangeRegisterCsv" | "ledgerCsv" => {
                SECOND_MARKS.iter().any(|m| text.contains(m))
            }
            _ => b_ids.iter().any(|id| text.contains(id.as_str())),
        }
    };
    for (name, query, vars) in &reads {
        let reader = if *name == "auditLog" {
            &b_auditor
        } else {
            &b_admin
        };
        let seen_by_b = expect_data(&app.as_(reader, query, vars.clone()).await);
        assert!(
            mentions_b(name, &seen_by_b),
            "{name}: the second county sees its own: {seen_by_b}"
        );
        for (who, session) in [("admin", &a_admin), ("auditor", &a_auditor)] {
            let response = app.as_(session, query, vars.clone()).await;
            if response.get("errors").is_some() {
                // Not for this role at all (an auditor does not run the desk's ledger).
                expect_error(&response, "FORBIDDEN");
                continue;
            }
            let data = expect_data(&response);
            assert!(
                !mentions_b(name, &data),
                "{name} shows the first county's {who} the second county's rows: {data}"
            );
        }
    }
    // The audit rows of the first county's own work are still there for its auditor.
    let a_audit = expect_data(
        &app.as_(&a_auditor, "{ auditLog(first: 200) { action } }", json!({}))
            .await,
    );
    assert!(a_audit.to_string().contains("staff.create"), "{a_audit}");

    // The catalogue: each county's own, and with two counties the reader must name one.
    let catalogue = "query($r: ID) { items(regionId: $r) { id } }";
    let first = expect_data(
        &app.graphql(None, catalogue, json!({"r": app.region_id(COUNTY).await}))
            .await,
    );
    assert!(!first.to_string().contains(&b_item), "{first}");
    let second = expect_data(
        &app.graphql(
            None,
            catalogue,
            json!({"r": app.region_id(SECOND_VILLAGE).await}),
        )
        .await,
    );
    assert!(second.to_string().contains(&b_item), "{second}");
    assert!(!second.to_string().contains(&a_item), "{second}");
    let unnamed = expect_error(
        &app.graphql(None, catalogue, json!({})).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(unnamed["extensions"]["field"], "regionId");

    // Acting on the second county's rows: NOT_FOUND (nothing told), and nothing written.
    let before = snapshot(&app).await;
    let b_town = app.region_id(SECOND_TOWN).await;
    let writes: Vec<(&str, &str, Value)> = vec![
        (
            "updateItem",
            "mutation($id: ID!, $i: ItemInput!) { updateItem(id: $id, input: $i) { id } }",
            json!({"id": b_item, "i": item}),
        ),
        (
            "setItemActive",
            "mutation($id: ID!) { setItemActive(id: $id, active: false) { id } }",
            json!({"id": b_item}),
        ),
        (
            "decideItemChange",
            "mutation($id: ID!) { decideItemChange(id: $id, approve: true) { id } }",
            json!({"id": b_item_change}),
        ),
        (
            "decideStaffChange",
            "mutation($id: ID!) { decideStaffChange(id: $id, approve: true) { id } }",
            json!({"id": b_staff_change}),
        ),
        (
            "decideRestrictionAppeal",
            "mutation($id: ID!) { decideRestrictionAppeal(id: $id, lift: true, decision: \"x\") { id } }",
            json!({"id": restriction}),
        ),
        (
            "createRegion",
            "mutation($p: ID!) { createRegion(input: {parentId: $p, code: \"140522100299\", name: \"新村\"}) { id } }",
            json!({"p": b_town}),
        ),
        (
            "createStaff",
            "mutation($r: ID!) { createStaff(input: {username: \"intruder\", displayName: \"x\", password: \"initial-password-1\", role: \"TOWNSHIP_AGENT\", regionId: $r}) { id } }",
            json!({"r": b_town}),
        ),
        (
            "setBookingPolicy",
            "mutation($p: ID!) { setBookingPolicy(servicePointId: $p, input: {noShowLimit: 9}) { noShowLimit } }",
            json!({"p": b_point}),
        ),
        (
            "pointBookings",
            "query($p: ID!, $d: NaiveDate!) { pointBookings(servicePointId: $p, day: $d) { id } }",
            json!({"p": b_point, "d": day}),
        ),
        (
            "pointSlots",
            "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { id } }",
            json!({"p": b_point, "d": day}),
        ),
        (
            "pointQueue",
            "query($p: ID!) { pointQueue(servicePointId: $p) { id } }",
            json!({"p": b_point}),
        ),
        (
            "pointCheckInCode",
            "query($p: ID!) { pointCheckInCode(servicePointId: $p) { code } }",
            json!({"p": b_point}),
        ),
        (
            "ledger of the point",
            "query($p: ID!, $f: DateTime!, $t: DateTime!) { ledger(servicePointId: $p, from: $f, to: $t) { nextCursor } }",
            json!({"p": b_point, "f": from, "t": to}),
        ),
        (
            "pushDeliveries",
            "query($s: ID!) { pushDeliveries(subjectId: $s) { status } }",
            json!({"s": b_item_change}),
        ),
    ];
    for (name, query, vars) in &writes {
        let response = app.as_(&a_admin, query, vars.clone()).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{name}: {response}"
        );
    }
    let borrowed = expect_error(&app.as_(&a_admin, "mutation($input: ItemChangeInput!) { submitItemChange(input: $input) { id } }",
        json!({"input": {"regionId": app.region_id(LONGGANG).await, "beforeItemId": b_item, "after": item, "effectiveDate": effective}})).await, "BAD_USER_INPUT");
    assert_eq!(borrowed["extensions"]["field"], "input.beforeItemId");
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused write changed nothing"
    );

    // The working calendar is shared: no county's admin changes it for every county.
    let later = (today + Duration::days(40)).to_string();
    for admin in [&a_admin, &b_admin] {
        expect_error(
            &app.as_(
                admin,
                "mutation($d: NaiveDate!) { setCalendarDay(date: $d, isWorkday: false, name: \"闭馆\") { date } }",
                json!({"d": later}),
            )
            .await,
            "FORBIDDEN",
        );
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused calendar edit changed nothing"
    );

    // Booking on a resident's behalf at another county's point: NOT_FOUND, and the seat is not
    // held — a resident books it next.
    let (_, b_slots) = next_day_slots(&app, &b_point).await;
    let on_behalf = json!({"input": {"residentPhone": "13900001234", "onBehalf": {"channel": "PHONE"},
        "booking": {"servicePointId": b_point, "slotId": b_slots[0]["id"], "itemId": b_item, "kind": "HELP", "idempotencyKey": "cross-county"}}});
    let refused = app
        .as_(
            &a_admin,
            "mutation($input: BookOnBehalfInput!) { bookOnBehalf(input: $input) { id } }",
            on_behalf,
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    let other = app.login_resident("second-county-resident").await;
    expect_data(&app.as_(&other, BOOK, json!({"input": {"servicePointId": b_point, "slotId": b_slots[0]["id"], "itemId": b_item, "kind": "HELP", "idempotencyKey": "b2"}})).await);

    // Naming another county's point for a new colleague answers exactly as a point that does
    // not exist: nothing tells the other county's points apart from nothing.
    let a_town = app.region_id(LONGGANG).await;
    let create = "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }";
    let answer = |point: String| {
        json!({"input": {"username": "a.new", "displayName": "新人", "password": "initial-password-1",
            "role": "TOWNSHIP_AGENT", "regionId": a_town, "servicePointId": point}})
    };
    let foreign = expect_error(
        &app.as_(&a_admin, create, answer(b_point.clone())).await,
        "BAD_USER_INPUT",
    );
    let missing = expect_error(
        &app.as_(&a_admin, create, answer(uuid::Uuid::now_v7().to_string()))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(foreign["message"], missing["message"]);
    assert_eq!(foreign["extensions"], missing["extensions"]);

    // The second county's admin decides its own appeal.
    expect_data(&app.as_(&b_admin, "mutation($id: ID!) { decideRestrictionAppeal(id: $id, lift: true, decision: \"情况属实\") { status } }", json!({"id": restriction})).await);
}

const COUNTIES_MIGRATION: &str = "m20261202_000015_counties";

/// A database of its own, migrated to just before the counties migration, holding the given
/// counties (by code) and one catalogue item.
async fn database_before_counties(codes: &[&str]) -> sea_orm::DatabaseConnection {
    let data_dir =
        std::env::temp_dir().join(format!("bangban-test-{}", uuid::Uuid::new_v4().simple()));
    let url = match crate::helpers::postgres_backend() {
        Some((server, _)) => Some(crate::helpers::fresh_postgres_database(&server).await),
        None => None,
    };
    database_before_counties_at(codes, data_dir, url).await.0
}

/// The database of these settings (a data directory, or a PostgreSQL URL).
async fn open(data_dir: std::path::PathBuf, url: Option<String>) -> sea_orm::DatabaseConnection {
    let mut settings = bangban_server::config::Settings {
        data_dir,
        ..bangban_server::config::Settings::default()
    };
    settings.database.url = url.map(bangban_server::config::Secret::new);
    bangban_server::db::connect(&settings).await.unwrap()
}

async fn database_before_counties_at(
    codes: &[&str],
    data_dir: std::path::PathBuf,
    url: Option<String>,
) -> (
    sea_orm::DatabaseConnection,
    std::path::PathBuf,
    Option<String>,
) {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};
    let db = open(data_dir.clone(), url.clone()).await;
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == COUNTIES_MIGRATION)
        .expect("the counties migration");
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    let backend = db.get_database_backend();
    for (n, code) in codes.iter().enumerate() {
        let id = uuid::Uuid::now_v7();
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => "INSERT INTO regions (id, code, name, level, parent_id, path, demo, created_at) VALUES ($1, $2, $3, 'county', NULL, $4, false, $5)",
                _ => "INSERT INTO regions (id, code, name, level, parent_id, path, demo, created_at) VALUES (?, ?, ?, 'county', NULL, ?, false, ?)",
            },
            [
                id.into(),
                (*code).into(),
                format!("县{n}").into(),
                format!("/{id}/").into(),
                (chrono::Utc::now() + Duration::seconds(n as i64)).into(),
            ],
        ))
        .await
        .unwrap();
    }
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DatabaseBackend::Postgres => "INSERT INTO items (id, main_item, in_provincial_list, business_name, item_type, on_integrated_platform, handling_type, at_most_one_visit, promised_working_days, materials, levels, active, created_at, updated_at) VALUES ($1, 'x', true, 'y', '公共服务', true, 'immediate', true, 0, '[]', 'county', true, $2, $2)",
            _ => "INSERT INTO items (id, main_item, in_provincial_list, business_name, item_type, on_integrated_platform, handling_type, at_most_one_visit, promised_working_days, materials, levels, active, created_at, updated_at) VALUES (?, 'x', true, 'y', '公共服务', true, 'immediate', true, 0, '[]', 'county', true, ?, ?)",
        },
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                vec![uuid::Uuid::now_v7().into(), chrono::Utc::now().into()]
            }
            _ => vec![
                uuid::Uuid::now_v7().into(),
                chrono::Utc::now().into(),
                chrono::Utc::now().into(),
            ],
        },
    ))
    .await
    .unwrap();
    (db, data_dir, url)
}

#[tokio::test]
async fn upgrading_a_one_county_database_gives_its_rows_to_that_county() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::EntityTrait;
    let db = database_before_counties(&[COUNTY]).await;
    Migrator::up(&db, None).await.unwrap();
    let county = entity::regions::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(county.county_id, Some(county.id), "a county is its own");
    let item = entity::items::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.county_id, Some(county.id));
}

#[tokio::test]
async fn upgrading_a_database_of_several_counties_refuses_to_guess_whose_rows_are_whose() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::EntityTrait;
    let db = database_before_counties(&[COUNTY, SECOND]).await;
    let refused = Migrator::up(&db, None)
        .await
        .expect_err("an item of no known county stops it")
        .to_string();
    assert!(
        refused.contains("2 counties") && refused.contains("BANGBAN_MIGRATE_UNOWNED_TO"),
        "{refused}"
    );
    let pending = Migrator::get_pending_migrations(&db).await.unwrap();
    assert_eq!(pending[0].name(), COUNTIES_MIGRATION, "it did not run");
    // Without such rows, nothing is guessed and the migration runs.
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM items").await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let counties = entity::regions::Entity::find().all(&db).await.unwrap();
    assert!(counties.iter().all(|c| c.county_id == Some(c.id)));
}

/// Run by the test below as a child process, with `BANGBAN_MIGRATE_UNOWNED_TO` set (the
/// environment is the process's): migrates the database it is given.
#[tokio::test]
#[ignore = "run as a child process by the operator-override test"]
async fn migrate_the_given_database_in_this_process() {
    use migration::{Migrator, MigratorTrait};
    let data_dir = std::env::var("BANGBAN_TEST_CHILD_DATA_DIR").expect("a data directory");
    let url = std::env::var("BANGBAN_TEST_CHILD_DATABASE_URL").ok();
    let db = open(data_dir.into(), url).await;
    Migrator::up(&db, None).await.unwrap();
}

#[tokio::test]
async fn an_operator_names_the_county_that_owns_the_rows_that_name_none() {
    use sea_orm::EntityTrait;
    let data_dir =
        std::env::temp_dir().join(format!("bangban-test-{}", uuid::Uuid::new_v4().simple()));
    let url = match crate::helpers::postgres_backend() {
        Some((server, _)) => Some(crate::helpers::fresh_postgres_database(&server).await),
        None => None,
    };
    let (db, data_dir, url) = database_before_counties_at(&[COUNTY, SECOND], data_dir, url).await;
    let migrate = |owner: &str| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "counties::migrate_the_given_database_in_this_process",
                "--exact",
                "--ignored",
            ])
            .env("BANGBAN_MIGRATE_UNOWNED_TO", owner)
            .env("BANGBAN_TEST_CHILD_DATA_DIR", &data_dir);
        if let Some(url) = &url {
            child.env("BANGBAN_TEST_CHILD_DATABASE_URL", url);
        }
        child.output().unwrap()
    };
    // A code that names no county is refused, and nothing is tagged.
    let refused = migrate("149999");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("no county of this database"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let pending = {
        use migration::{Migrator, MigratorTrait};
        Migrator::get_pending_migrations(&db).await.unwrap()
    };
    assert_eq!(pending[0].name(), COUNTIES_MIGRATION, "it did not run");
    // The second county named: its rows are the unowned ones.
    let done = migrate(SECOND);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
    let db = open(data_dir.clone(), url.clone()).await;
    let second = entity::regions::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.code == SECOND)
        .unwrap();
    let item = entity::items::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.county_id, Some(second.id));
}
