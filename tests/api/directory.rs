//! The directory end to end: public queries, staff within jurisdiction, staffing shortfalls,
//! the catalogue, the change registers and their scheduled application, QR codes.
use bangban_server::auth::Role;
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_wechat::{FakeWechat, PNG},
    helpers::{Options, Session, TestApp, expect_data, expect_error},
};

pub const COUNTY: &str = "140521";
pub const LONGGANG: &str = "140521100";
pub const CHENGNEI: &str = "140521100200";
pub const XINGYUAN: &str = "140521100201";
pub const ZHONGCUN_VILLAGE: &str = "140521101200";

/// A valid, generated resident ID number (GB 11643 check character computed), never a real person's.
pub fn test_id_number(seq: u32) -> String {
    let body = format!("14052119900101{:03}", seq % 1000);
    let check = bangban_server::pii::id_check_char(body.as_bytes()).expect("digits");
    format!("{body}{}", char::from(check))
}

const CREATE_STAFF: &str = "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id username role idNumber phone unit { code } } }";

fn staff_input(username: &str, role: &str, region_id: &str) -> Value {
    json!({"input": {"username": username, "displayName": "王五", "password": "initial-password-1", "role": role, "regionId": region_id}})
}

async fn county_admin(app: &TestApp) -> Session {
    app.staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await
}

#[tokio::test]
async fn the_public_directory_needs_no_login() {
    let app = TestApp::with_demo().await;
    let roots = expect_data(
        &app.graphql(
            None,
            "{ regions { code name level demo children { code name level } } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(roots["regions"][0]["code"], COUNTY);
    assert_eq!(roots["regions"][0]["demo"], true);
    let townships = roots["regions"][0]["children"].as_array().unwrap();
    assert_eq!(townships.len(), 12);
    let names: Vec<&str> = townships
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "龙港镇",
        "中村镇",
        "郑庄镇",
        "端氏镇",
        "嘉峰镇",
        "郑村镇",
        "柿庄镇",
        "土沃乡",
        "张村乡",
        "胡底乡",
        "固县乡",
        "十里乡",
    ] {
        assert!(names.contains(&expected), "{expected}");
    }

    let longgang = app.region_id(LONGGANG).await;
    let points = expect_data(
        &app.graphql(None, "query($r: ID) { servicePoints(regionId: $r) { name kind scene openingHours { weekday intervals { opens closes } } region { code } } }", json!({"r": longgang})).await,
    );
    let points = points["servicePoints"].as_array().unwrap();
    assert_eq!(
        points.len(),
        3,
        "the township centre and two village points"
    );
    assert!(points.iter().any(|p| p["kind"] == "TOWNSHIP_CENTER"));
    assert_eq!(
        points[0]["openingHours"][0]["intervals"][1]["opens"], "13:30",
        "Monday afternoon after the lunch break"
    );
    assert_eq!(
        points[0]["openingHours"][6]["intervals"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "closed on Sunday"
    );

    let near = expect_data(
        &app.graphql(None, "{ servicePoints(near: {latitude: 35.60, longitude: 112.10}, radiusKm: 5) { name distanceKm } }", json!({})).await,
    );
    let near = near["servicePoints"].as_array().unwrap();
    assert_eq!(near[0]["name"], "龙港镇综合便民服务中心");
    assert!(near[0]["distanceKm"].as_f64().unwrap() < 0.1);

    let items = expect_data(
        &app.graphql(
            None,
            "{ items(level: VILLAGE) { businessName levels handlingType } }",
            json!({}),
        )
        .await,
    );
    assert!(
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["levels"].as_array().unwrap().contains(&json!("VILLAGE")))
    );
    let search = expect_data(
        &app.graphql(
            None,
            "{ items(search: \"宅基地\") { businessName } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(search["items"].as_array().unwrap().len(), 1);

    let scene = points[0]["scene"].as_str().unwrap();
    assert!(scene.len() <= 32);
    let by_scene = expect_data(
        &app.graphql(
            None,
            "query($s: String!) { servicePointByScene(scene: $s) { name } }",
            json!({"s": scene}),
        )
        .await,
    );
    assert_eq!(by_scene["servicePointByScene"]["name"], points[0]["name"]);
}

#[tokio::test]
async fn the_public_roster_shows_agents_but_never_personal_data() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let village = app.region_id(CHENGNEI).await;
    let mut input = staff_input("agent.chengnei", "VILLAGE_AGENT", &village);
    input["input"]["idNumber"] = json!(test_id_number(1));
    input["input"]["phone"] = json!("13900000001");
    input["input"]["publicPhone"] = json!("0356-7002000");
    expect_data(&app.as_(&admin, CREATE_STAFF, input).await);

    let roster = expect_data(
        &app.graphql(
            None,
            "{ roster { name role phone unit { name } servicePoint { name } } }",
            json!({}),
        )
        .await,
    );
    let text = roster.to_string();
    assert!(
        text.contains("王五") && text.contains("0356-7002000") && text.contains("城内社区"),
        "{text}"
    );
    assert!(!text.contains(&test_id_number(1)) && !text.contains("13900000001"));
    let fields = expect_data(
        &app.graphql(
            None,
            "{ __type(name: \"RosterEntry\") { fields { name } } }",
            json!({}),
        )
        .await,
    );
    let names: Vec<&str> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "role", "phone", "unit", "servicePoint"]);
}

#[tokio::test]
async fn admins_create_staff_only_inside_their_jurisdiction() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let longgang = app.region_id(LONGGANG).await;
    expect_data(
        &app.as_(
            &admin,
            CREATE_STAFF,
            staff_input("lg.admin", "TOWNSHIP_ADMIN", &longgang),
        )
        .await,
    );
    let town_admin = app
        .login_staff_session("lg.admin", "initial-password-1")
        .await;

    let own_village = app.region_id(CHENGNEI).await;
    let created = expect_data(
        &app.as_(
            &town_admin,
            CREATE_STAFF,
            staff_input("lg.village", "VILLAGE_AGENT", &own_village),
        )
        .await,
    );
    assert_eq!(created["createStaff"]["unit"]["code"], CHENGNEI);

    let other_village = app.region_id(ZHONGCUN_VILLAGE).await;
    expect_error(
        &app.as_(
            &town_admin,
            CREATE_STAFF,
            staff_input("zc.village", "VILLAGE_AGENT", &other_village),
        )
        .await,
        "NOT_FOUND",
    );
    expect_error(
        &app.as_(
            &town_admin,
            CREATE_STAFF,
            staff_input("lg.county", "COUNTY_AGENT", &longgang),
        )
        .await,
        "FORBIDDEN",
    );
    let mismatch = expect_error(
        &app.as_(
            &town_admin,
            CREATE_STAFF,
            staff_input("lg.wrong", "VILLAGE_AGENT", &longgang),
        )
        .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(mismatch["extensions"]["field"], "input.role");

    let agent = app
        .login_staff_session("lg.village", "initial-password-1")
        .await;
    expect_error(
        &app.as_(
            &agent,
            CREATE_STAFF,
            staff_input("x.y", "VILLAGE_AGENT", &own_village),
        )
        .await,
        "FORBIDDEN",
    );
    let resident = app.login_resident("resident-1").await;
    expect_error(
        &app.as_(
            &resident,
            CREATE_STAFF,
            staff_input("x.z", "VILLAGE_AGENT", &own_village),
        )
        .await,
        "FORBIDDEN",
    );

    // A village agent sees its village's colleagues only; the township admin sees its villages.
    let seen = expect_data(
        &app.as_(&agent, "{ staffMembers { username } }", json!({}))
            .await,
    );
    assert_eq!(seen["staffMembers"].as_array().unwrap().len(), 1);
    let seen = expect_data(
        &app.as_(&town_admin, "{ staffMembers { username } }", json!({}))
            .await,
    );
    assert_eq!(seen["staffMembers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_staff_input_is_refused_by_field_and_nothing_is_written() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let village = app.region_id(CHENGNEI).await;
    let cases = [
        ("idNumber", json!("110105194912310021"), "input.idNumber"),
        ("phone", json!("12345"), "input.phone"),
        ("email", json!("not-an-email"), "input.email"),
        ("publicPhone", json!("call me"), "input.publicPhone"),
        ("password", json!("short"), "password"),
        ("username", json!("x"), "username"),
        ("displayName", json!("a\u{0007}b"), "displayName"),
    ];
    for (key, value, field) in cases {
        let mut input = staff_input("bad.input", "VILLAGE_AGENT", &village);
        input["input"][key] = value;
        let error = expect_error(
            &app.as_(&admin, CREATE_STAFF, input).await,
            "BAD_USER_INPUT",
        );
        assert_eq!(error["extensions"]["field"], field, "{key}");
    }
    let listed = expect_data(
        &app.as_(&admin, "{ staffMembers { username } }", json!({}))
            .await,
    );
    assert_eq!(
        listed["staffMembers"].as_array().unwrap().len(),
        1,
        "only the admin: {listed}"
    );
}

#[tokio::test]
async fn staffing_shortfalls_follow_the_seed_minimums() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let query =
        "{ staffingShortfalls { kind required onDuty region { code } servicePoint { name } } }";
    let before = expect_data(&app.as_(&admin, query, json!({})).await);
    let before = before["staffingShortfalls"].as_array().unwrap().clone();
    // 1 county zone + 2 window units + 12 townships + 24 villages, none staffed.
    assert_eq!(before.len(), 39);
    let zone = before.iter().find(|s| s["kind"] == "COUNTY_ZONE").unwrap();
    assert_eq!(
        (zone["required"].as_i64(), zone["onDuty"].as_i64()),
        (Some(2), Some(0))
    );

    let village = app.region_id(CHENGNEI).await;
    let created = expect_data(
        &app.as_(
            &admin,
            CREATE_STAFF,
            staff_input("cn.agent", "VILLAGE_AGENT", &village),
        )
        .await,
    );
    let after = expect_data(&app.as_(&admin, query, json!({})).await);
    assert_eq!(after["staffingShortfalls"].as_array().unwrap().len(), 38);

    let staff_id = created["createStaff"]["id"].as_str().unwrap();
    let off = app
        .as_(
            &admin,
            "mutation($s: ID!) { setStaffOnDuty(staffId: $s, onDuty: false) { onDuty } }",
            json!({"s": staff_id}),
        )
        .await;
    assert_eq!(expect_data(&off)["setStaffOnDuty"]["onDuty"], false);
    let again = expect_data(&app.as_(&admin, query, json!({})).await);
    assert_eq!(
        again["staffingShortfalls"].as_array().unwrap().len(),
        39,
        "off duty does not count"
    );
}

const SUBMIT_STAFF_CHANGE: &str = "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id status idNumber phone arrivalDate } }";

pub fn staff_change(region_id: &str, before: Option<&str>, arrival: &str) -> Value {
    json!({"input": {
        "regionId": region_id, "beforeStaffId": before, "post": "村级帮办代办员", "name": "赵六",
        "username": "zhao.liu", "role": "VILLAGE_AGENT", "idNumber": test_id_number(7),
        "phone": "13900000007", "email": "zhao.liu@example.cn", "arrivalDate": arrival}})
}

#[tokio::test]
async fn a_staff_change_is_approved_and_applies_itself_on_its_date() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let longgang = app.region_id(LONGGANG).await;
    let village = app.region_id(CHENGNEI).await;
    expect_data(
        &app.as_(
            &admin,
            CREATE_STAFF,
            staff_input("lg.admin", "TOWNSHIP_ADMIN", &longgang),
        )
        .await,
    );
    let town_admin = app
        .login_staff_session("lg.admin", "initial-password-1")
        .await;
    let old = expect_data(
        &app.as_(
            &admin,
            CREATE_STAFF,
            staff_input("old.agent", "VILLAGE_AGENT", &village),
        )
        .await,
    );
    let old_id = old["createStaff"]["id"].as_str().unwrap().to_string();
    let departing = app
        .login_staff_session("old.agent", "initial-password-1")
        .await;
    // The departing agent's WeChat is bound to their account until the change applies.
    let bind = "mutation { bindStaffWechat(code: \"wechat-of-the-desk-phone\") { wechatBound } }";
    expect_data(&app.as_(&departing, bind, json!({})).await);

    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let too_soon = (today + Duration::days(2)).to_string();
    let error = expect_error(
        &app.as_(
            &town_admin,
            SUBMIT_STAFF_CHANGE,
            staff_change(&village, Some(&old_id), &too_soon),
        )
        .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(error["extensions"]["field"], "input.arrivalDate");
    let mut bad_email = staff_change(
        &village,
        Some(&old_id),
        &(today + Duration::days(5)).to_string(),
    );
    bad_email["input"]["email"] = json!("");
    assert_eq!(
        expect_error(
            &app.as_(&town_admin, SUBMIT_STAFF_CHANGE, bad_email).await,
            "BAD_USER_INPUT"
        )["extensions"]["field"],
        "input.email"
    );
    let register = expect_data(
        &app.as_(&admin, "{ staffChangeRequests { id } }", json!({}))
            .await,
    );
    assert!(
        register["staffChangeRequests"]
            .as_array()
            .unwrap()
            .is_empty(),
        "refused input writes nothing"
    );

    let arrival = today + Duration::days(3);
    let submitted = expect_data(
        &app.as_(
            &town_admin,
            SUBMIT_STAFF_CHANGE,
            staff_change(&village, Some(&old_id), &arrival.to_string()),
        )
        .await,
    );
    let change = &submitted["submitStaffChange"];
    assert_eq!(change["status"], "PENDING");
    assert_eq!(
        change["idNumber"],
        format!("140521********{}", &test_id_number(7)[14..])
    );
    assert_eq!(change["phone"], "139****0007");
    let id = change["id"].as_str().unwrap();

    let decide = "mutation($id: ID!, $ok: Boolean!, $r: String) { decideStaffChange(id: $id, approve: $ok, reason: $r) { status decisionReason } }";
    expect_error(
        &app.as_(&town_admin, decide, json!({"id": id, "ok": true}))
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &app.as_(&admin, decide, json!({"id": id, "ok": false}))
            .await,
        "BAD_USER_INPUT",
    );
    let approved = expect_data(
        &app.as_(&admin, decide, json!({"id": id, "ok": true, "r": "同意"}))
            .await,
    );
    assert_eq!(approved["decideStaffChange"]["status"], "APPROVED");
    expect_error(
        &app.as_(
            &admin,
            decide,
            json!({"id": id, "ok": false, "r": "改主意"}),
        )
        .await,
        "INVALID_TRANSITION",
    );

    // Not yet: the job applies nothing before the arrival date.
    let applied = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(applied.count("directory", "staff_changes"), 0);
    expect_data(&app.as_(&departing, "{ me { id } }", json!({})).await);

    app.clock.advance(Duration::days(3));
    // Access tokens expired meanwhile: everyone refreshes, the departing agent too.
    let admin = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let town_admin = app
        .login_staff_session("lg.admin", "initial-password-1")
        .await;
    let departing = app.refresh(&departing).await;
    expect_data(&app.as_(&departing, "{ me { id } }", json!({})).await);
    let applied = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(applied.count("directory", "staff_changes"), 1);
    let again = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(again.count("directory", "staff_changes"), 0, "idempotent");

    let me = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&departing.access)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "the departing agent is signed out"
    );
    let refreshed = app
        .graphql(
            None,
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({"t": departing.refresh}),
        )
        .await;
    expect_error(&refreshed, "UNAUTHENTICATED");
    expect_error(
        &app.login_staff("old.agent", "initial-password-1").await,
        "UNAUTHENTICATED",
    );
    let status = expect_data(
        &app.as_(
            &admin,
            "{ staffChangeRequests { status appliedStaffId } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(status["staffChangeRequests"][0]["status"], "APPLIED");
    let members = expect_data(
        &app.as_(
            &town_admin,
            "{ staffMembers { username active idNumber } }",
            json!({}),
        )
        .await,
    );
    let text = members.to_string();
    assert!(text.contains("zhao.liu"), "{text}");
    assert!(!text.contains(&test_id_number(7)));

    // The new agent has no password until an admin issues one.
    let new_id = status["staffChangeRequests"][0]["appliedStaffId"]
        .as_str()
        .unwrap();
    let password = expect_data(
        &app.as_(
            &town_admin,
            "mutation($s: ID!) { resetStaffPassword(staffId: $s) }",
            json!({"s": new_id}),
        )
        .await,
    );
    let password = password["resetStaffPassword"].as_str().unwrap();
    expect_data(&app.login_staff("zhao.liu", password).await);
    // The change released the departing agent's WeChat: the newcomer binds it at once.
    let arrived = app.login_staff_session("zhao.liu", password).await;
    let bound = expect_data(&app.as_(&arrived, bind, json!({})).await);
    assert_eq!(bound["bindStaffWechat"]["wechatBound"], true);

    let csv = expect_data(
        &app.as_(&admin, "{ staffChangeRegisterCsv }", json!({}))
            .await,
    )["staffChangeRegisterCsv"]
        .as_str()
        .unwrap()
        .to_string();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    assert_eq!(
        lines.next().unwrap(),
        "单位名称,变动前人员姓名,岗位,姓名,身份证号,联系电话,邮箱,到岗时间,状态,审核意见"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("城内社区,王五,村级帮办代办员,赵六,140521********"),
        "{row}"
    );
    assert!(!csv.contains(&test_id_number(7)) && !csv.contains("13900000007"));
}

pub const ITEM: &str = r#"{"mainItem": "民政事项", "inProvincialList": true, "businessName": "临时救助申请", "itemType": "行政给付", "onIntegratedPlatform": true, "handlingType": "PROMISED", "atMostOneVisit": true, "promisedWorkingDays": 5, "materials": ["申请书", "居民身份证"], "levels": ["TOWNSHIP", "VILLAGE"]}"#;

#[tokio::test]
async fn the_county_owns_the_catalogue_and_item_changes_apply_on_their_date() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let town_admin = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let item: Value = serde_json::from_str(ITEM).unwrap();
    let create = "mutation($input: ItemInput!) { createItem(input: $input) { id businessName levels handlingType } }";
    expect_error(
        &app.as_(&town_admin, create, json!({"input": item})).await,
        "FORBIDDEN",
    );
    let mut bad = item.clone();
    bad["promisedWorkingDays"] = json!(0);
    assert_eq!(
        expect_error(
            &app.as_(&admin, create, json!({"input": bad})).await,
            "BAD_USER_INPUT"
        )["extensions"]["field"],
        "input.promisedWorkingDays"
    );
    let mut bad = item.clone();
    bad["levels"] = json!([]);
    assert_eq!(
        expect_error(
            &app.as_(&admin, create, json!({"input": bad})).await,
            "BAD_USER_INPUT"
        )["extensions"]["field"],
        "input.levels"
    );
    let created = expect_data(&app.as_(&admin, create, json!({"input": item})).await);
    assert_eq!(
        created["createItem"]["levels"],
        json!(["TOWNSHIP", "VILLAGE"])
    );

    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let mut after = item.clone();
    after["businessName"] = json!("临时救助申请（急难型）");
    let submit =
        "mutation($input: ItemChangeInput!) { submitItemChange(input: $input) { id status } }";
    let input = json!({"input": {"regionId": app.region_id(LONGGANG).await, "beforeItemId": created["createItem"]["id"], "after": after, "effectiveDate": (today + Duration::days(4)).to_string()}});
    let submitted = expect_data(&app.as_(&town_admin, submit, input).await);
    let id = submitted["submitItemChange"]["id"].as_str().unwrap();
    let decide = "mutation($id: ID!) { decideItemChange(id: $id, approve: true) { status } }";
    expect_data(&app.as_(&admin, decide, json!({"id": id})).await);
    app.clock.advance(Duration::days(4));
    let admin = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let applied = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(applied.count("directory", "item_changes"), 1);
    let items = expect_data(
        &app.graphql(
            None,
            "{ items(search: \"临时救助\") { businessName } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        items["items"],
        json!([{"businessName": "临时救助申请（急难型）"}])
    );

    let csv = expect_data(
        &app.as_(&admin, "{ itemChangeRegisterCsv }", json!({}))
            .await,
    )["itemChangeRegisterCsv"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(csv.trim_start_matches('\u{feff}').starts_with("单位名称,变动前事项名称,事项类型,事项清单目录（主项）,是否列入省“四级四同”清单,业务办理项目名称"));
    assert!(
        csv.contains("龙港镇,临时救助申请,行政给付,民政事项,是,临时救助申请（急难型）"),
        "{csv}"
    );
    // The register shows the item after the change as typed fields.
    let register = expect_data(
        &app.as_(
            &admin,
            "{ itemChangeRequests { after { businessName handlingType promisedWorkingDays materials levels } } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        register["itemChangeRequests"][0]["after"],
        json!({"businessName": "临时救助申请（急难型）", "handlingType": "PROMISED", "promisedWorkingDays": 5,
            "materials": ["申请书", "居民身份证"], "levels": ["TOWNSHIP", "VILLAGE"]})
    );
}

#[tokio::test]
async fn service_points_get_their_wechat_qr_code() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        ..Options::default()
    })
    .await;
    let admin = county_admin(&app).await;
    let points = expect_data(
        &app.graphql(
            None,
            "{ servicePoints(kind: COUNTY_ZONE) { id qrCodeBase64 } }",
            json!({}),
        )
        .await,
    );
    let id = points["servicePoints"][0]["id"].as_str().unwrap();
    assert!(points["servicePoints"][0]["qrCodeBase64"].is_null());
    let generated = expect_data(&app.as_(&admin, "mutation($id: ID!) { generateServicePointQrCode(id: $id) { qrCodeBase64 qrGeneratedAt } }", json!({"id": id})).await);
    let png = B64
        .decode(
            generated["generateServicePointQrCode"]["qrCodeBase64"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(png, PNG);

    let agent = app
        .staff_session("cn.agent", Role::VillageAgent, CHENGNEI)
        .await;
    expect_error(
        &app.as_(
            &agent,
            "mutation($id: ID!) { generateServicePointQrCode(id: $id) { scene } }",
            json!({"id": id}),
        )
        .await,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn without_wechat_credentials_qr_codes_are_refused_clearly() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let points = expect_data(
        &app.graphql(
            None,
            "{ servicePoints(kind: COUNTY_ZONE) { id } }",
            json!({}),
        )
        .await,
    );
    let id = points["servicePoints"][0]["id"].as_str().unwrap();
    expect_error(
        &app.as_(
            &admin,
            "mutation($id: ID!) { generateServicePointQrCode(id: $id) { scene } }",
            json!({"id": id}),
        )
        .await,
        "UPSTREAM_WECHAT",
    );
}

#[tokio::test]
async fn admins_manage_service_points_and_regions_within_bounds() {
    let app = TestApp::with_demo().await;
    let admin = county_admin(&app).await;
    let town_admin = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let create_point = "mutation($input: CreateServicePointInput!) { createServicePoint(input: $input) { id name kind openingHours { weekday intervals { opens } } } }";
    let village = app.region_id(XINGYUAN).await;
    let input = json!({"input": {"regionId": village, "kind": "VILLAGE_POINT", "name": "杏园社区第二服务点", "address": "杏园路1号",
        "openingHours": [{"weekday": 6, "intervals": [{"opens": "09:00", "closes": "11:00"}]}]}});
    let created = expect_data(&app.as_(&town_admin, create_point, input).await);
    assert_eq!(
        created["createServicePoint"]["openingHours"][5]["intervals"][0]["opens"],
        "09:00"
    );
    let wrong_kind = json!({"input": {"regionId": village, "kind": "TOWNSHIP_CENTER", "name": "x", "address": "y"}});
    assert_eq!(
        expect_error(
            &app.as_(&town_admin, create_point, wrong_kind).await,
            "BAD_USER_INPUT"
        )["extensions"]["field"],
        "input.kind"
    );
    let other = json!({"input": {"regionId": app.region_id(ZHONGCUN_VILLAGE).await, "kind": "VILLAGE_POINT", "name": "x", "address": "y"}});
    expect_error(
        &app.as_(&town_admin, create_point, other).await,
        "NOT_FOUND",
    );

    let create_region =
        "mutation($input: CreateRegionInput!) { createRegion(input: $input) { code level demo } }";
    let longgang = app.region_id(LONGGANG).await;
    expect_error(
        &app.as_(
            &town_admin,
            create_region,
            json!({"input": {"parentId": longgang, "code": "140521100210", "name": "新村"}}),
        )
        .await,
        "FORBIDDEN",
    );
    let region = expect_data(
        &app.as_(
            &admin,
            create_region,
            json!({"input": {"parentId": longgang, "code": "140521100210", "name": "新村"}}),
        )
        .await,
    );
    assert_eq!(
        region["createRegion"],
        json!({"code": "140521100210", "level": "VILLAGE", "demo": false})
    );
    let bad_code = expect_error(
        &app.as_(
            &admin,
            create_region,
            json!({"input": {"parentId": longgang, "code": "140521101210", "name": "错村"}}),
        )
        .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(bad_code["extensions"]["field"], "input.code");
}
