//! The read paths' cost in SQL statements, counted by the server (`bangban_db_statements_per_
//! request` in `/metrics`): a resident's booking list with slot, point, item and case, and a
//! resident's case list with item, unit and agent, cost the same number of statements whatever
//! their length (batch loads, never one query per row).
use bangban_server::auth::Role;
use serde_json::json;

use crate::{
    booking::{BOOK, desk},
    directory::COUNTY,
    helpers::{Session, TestApp, expect_data},
};

/// The statements of one request: the histogram's sum before and after it.
async fn statements_of(app: &TestApp, who: &Session, query: &str) -> u64 {
    async fn sum(app: &TestApp) -> f64 {
        let text = reqwest::get(app.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("bangban_db_statements_per_request_sum "))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }
    let before = sum(app).await;
    expect_data(&app.as_(who, query, json!({})).await);
    let after = sum(app).await;
    (after - before) as u64
}

const BOOKINGS: &str = "{ myBookings { id code status slot { id startsAt remaining } servicePoint { id name } item { id businessName } caseId } }";
const CASES: &str = "{ myCases(first: 20) { cases { id number status itemName unitName agentName dueOn latestSteps { action publicNote } } nextCursor } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_residents_lists_cost_the_same_statements_whatever_their_length() {
    let desk = desk(1).await;
    let app = &desk.app;
    app.staff_session("reads.county", Role::CountyAdmin, COUNTY)
        .await;
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let resident = app.login_resident("reads-resident").await;
    let (_, slots) = desk.next_day_slots().await;
    let mut figures = Vec::new();
    for (n, slot) in slots.iter().take(3).enumerate() {
        let booked = expect_data(
            &app.as_(
                &resident,
                BOOK,
                desk.input(slot["id"].as_str().unwrap(), &format!("reads-{n}")),
            )
            .await,
        );
        let booking = booked["bookAppointment"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect_data(
            &app.as_(
                &agent,
                "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
                json!({"id": booking}),
            )
            .await,
        );
        expect_data(
            &app.as_(
                &agent,
                "mutation($b: ID!) { openCase(bookingId: $b) { id } }",
                json!({"b": booking}),
            )
            .await,
        );
        let listed = expect_data(&app.as_(&resident, CASES, json!({})).await);
        let first = &listed["myCases"]["cases"][0];
        assert_eq!(first["latestSteps"][0]["action"], "opened", "{listed}");
        let bookings = statements_of(app, &resident, BOOKINGS).await;
        let cases = statements_of(app, &resident, CASES).await;
        figures.push((n + 1, bookings, cases));
    }
    eprintln!("statements per request (rows, booking list, case list): {figures:?}");
    let (_, one_b, one_c) = figures[0];
    for (rows, bookings, cases) in &figures {
        assert_eq!(
            *bookings, one_b,
            "booking list with {rows} rows: {figures:?}"
        );
        assert_eq!(*cases, one_c, "case list with {rows} rows: {figures:?}");
    }
    assert!(one_b > 0 && one_c > 0, "the counter counts: {figures:?}");
    assert_eq!(one_c, 2, "the sign-in check and the page: {figures:?}");
    // The case list: the viewer and the page, joined to its names, with the latest steps kept
    // on each case's row.
    assert!(
        one_c <= 4,
        "the case list within the goal of 4 statements: {figures:?}"
    );
}

/// What the lists and the trail show of a step, to compare them.
const STEP: &str = "action toStatus publicNote internalNote details actorKind";

/// The last three of a trail (oldest first), newest first: what a list's `latestSteps` holds.
fn latest_of(trail: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut steps = trail.as_array().unwrap().clone();
    steps.reverse();
    steps.truncate(3);
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_latest_steps_are_the_trails_latest_kept_on_the_case_or_not() {
    let flow = crate::cases::accepted_booking_on(desk(1).await, "HELP", None).await;
    let app = &flow.desk.app;
    let id = crate::cases::open(&flow).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = &flow.agent;
    let act = |mutation: &'static str, args: serde_json::Value| {
        let vars = json!({"id": id, "note": args["note"], "service": args["service"]});
        async move {
            let query = match mutation {
                "recordCaseService" => {
                    "mutation($id: ID!, $service: HelpService!, $note: String) { recordCaseService(id: $id, service: $service, note: $note) { id } }"
                }
                "startCaseService" => {
                    "mutation($id: ID!, $note: String) { startCaseService(id: $id, note: $note) { id } }"
                }
                _ => "mutation($id: ID!) { acceptCase(id: $id) { id } }",
            };
            expect_data(&app.as_(agent, query, vars).await);
        }
    };
    // Public and internal steps mixed: the applicant's latest differ from staff's.
    act("acceptCase", json!({})).await;
    act("startCaseService", json!({})).await;
    act(
        "recordCaseService",
        json!({"service": "POLICY_ADVICE", "note": "已讲解政策"}),
    )
    .await;
    act("recordCaseService", json!({"service": "FORM_HELP"})).await;
    act(
        "recordCaseService",
        json!({"service": "QUESTIONS_ANSWERED"}),
    )
    .await;
    let trail_query = format!("query($id: ID!) {{ case(id: $id) {{ trail {{ {STEP} }} }} }}");
    let staff_list = format!("{{ cases {{ cases {{ id latestSteps {{ {STEP} }} }} }} }}");
    let resident_list = format!("{{ myCases {{ cases {{ id latestSteps {{ {STEP} }} }} }} }}");
    let answers = || async {
        let staff_trail = expect_data(&app.as_(&flow.agent, &trail_query, json!({"id": id})).await);
        let their_trail = expect_data(
            &app.as_(&flow.resident, &trail_query, json!({"id": id}))
                .await,
        );
        let staff = expect_data(&app.as_(&flow.agent, &staff_list, json!({})).await);
        let theirs = expect_data(&app.as_(&flow.resident, &resident_list, json!({})).await);
        let listed = |list: &serde_json::Value, field: &str| {
            list[field]["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id.as_str())
                .unwrap()["latestSteps"]
                .as_array()
                .unwrap()
                .clone()
        };
        let staff_listed = listed(&staff, "cases");
        let their_listed = listed(&theirs, "myCases");
        assert_eq!(staff_listed, latest_of(&staff_trail["case"]["trail"]));
        assert_eq!(their_listed, latest_of(&their_trail["case"]["trail"]));
        (staff_listed, their_listed)
    };
    let (staff, theirs) = answers().await;
    assert_eq!(staff.len(), 3);
    assert_eq!(staff[0]["action"], "service_given", "{staff:?}");
    assert!(
        theirs
            .iter()
            .all(|s| s["publicNote"].is_string() && s["internalNote"].is_null()),
        "the applicant's are public, without staff fields: {theirs:?}"
    );
    assert_ne!(staff, theirs, "internal steps are staff's only");
    // The applicant's kept list holds nothing of staff's, whatever the API would mask.
    {
        use sea_orm::EntityTrait;
        let row = entity::cases::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let public: serde_json::Value =
            serde_json::from_str(row.latest_public_steps.as_deref().unwrap()).unwrap();
        let staff: serde_json::Value =
            serde_json::from_str(row.latest_steps.as_deref().unwrap()).unwrap();
        assert!(
            staff.to_string().contains("policy_advice") && staff[0]["actor_id"].is_string(),
            "staff's list keeps details and actors: {staff}"
        );
        for step in public.as_array().unwrap() {
            assert_eq!(step["details"], "{}", "{public}");
            assert!(
                step["actor_id"].is_null() && step["internal_note"].is_null(),
                "{public}"
            );
        }
    }
    // Kept on the row: the list is the sign-in check and its page statement.
    assert_eq!(statements_of(app, &flow.resident, &resident_list).await, 2);
    // A step written by a writer that does not keep the latest (a binary of before, during a
    // rolling upgrade): the row forgets them, and the lists read the trail.
    use bangban_server::clock::Clock;
    use sea_orm::{ActiveModelTrait, Set};
    entity::case_steps::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        case_id: Set(uuid::Uuid::parse_str(&id).unwrap()),
        at: Set(app.clock.now()),
        action: Set("service_given".into()),
        from_status: Set(None),
        to_status: Set(None),
        actor_kind: Set("staff".into()),
        actor_id: Set(None),
        unit_id: Set(None),
        public_note: Set(Some("旧版本写下的一步".into())),
        internal_note: Set(None),
        details: Set("{}".into()),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    let (staff_after, theirs_after) = answers().await;
    assert_eq!(theirs_after[0]["publicNote"], "旧版本写下的一步");
    assert_eq!(staff_after[0]["publicNote"], "旧版本写下的一步");
    assert_eq!(
        statements_of(app, &flow.resident, &resident_list).await,
        3,
        "read through the batch loader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races steps of one case on PostgreSQL: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn steps_written_at_once_are_all_in_the_case_lists_latest() {
    let app = crate::helpers::TestApp::spawn_with(crate::helpers::Options {
        demo: true,
        tweak: Some(Box::new(|s| s.database.max_connections = Some(16))),
        ..crate::helpers::Options::default()
    })
    .await;
    let flow =
        crate::cases::accepted_booking_on(crate::booking::desk_on(app, 1).await, "HELP", None)
            .await;
    let app = &flow.desk.app;
    let id = crate::cases::open(&flow).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for mutation in ["acceptCase", "startCaseService"] {
        flow.on(&flow.agent, mutation, &id).await;
    }
    const SERVICE: &str = "mutation($id: ID!, $service: HelpService!, $note: String) { recordCaseService(id: $id, service: $service, note: $note) { id } }";
    let trail_query = format!("query($id: ID!) {{ case(id: $id) {{ trail {{ {STEP} }} }} }}");
    let staff_list = format!("{{ cases {{ cases {{ id latestSteps {{ {STEP} }} }} }} }}");
    for round in 0..12 {
        // Four services recorded at once, each a step (two of them public).
        let writes = (0..4).map(|n| {
            let note = (n % 2 == 0).then(|| format!("第{round}轮第{n}项"));
            app.as_(
                &flow.agent,
                SERVICE,
                json!({"id": id, "service": "QUESTIONS_ANSWERED", "note": note}),
            )
        });
        for answer in futures_util::future::join_all(writes).await {
            expect_data(&answer);
        }
        let trail = expect_data(&app.as_(&flow.agent, &trail_query, json!({"id": id})).await);
        let listed = expect_data(&app.as_(&flow.agent, &staff_list, json!({})).await);
        let kept = listed["cases"]["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap()["latestSteps"]
            .clone();
        assert_eq!(
            kept.as_array().unwrap(),
            &latest_of(&trail["case"]["trail"]),
            "round {round}: a step written at the same time was lost from the kept latest"
        );
        let their_trail = expect_data(
            &app.as_(&flow.resident, &trail_query, json!({"id": id}))
                .await,
        );
        let theirs = expect_data(
            &app.as_(
                &flow.resident,
                &format!("{{ myCases {{ cases {{ latestSteps {{ {STEP} }} }} }} }}"),
                json!({}),
            )
            .await,
        );
        assert_eq!(
            theirs["myCases"]["cases"][0]["latestSteps"]
                .as_array()
                .unwrap(),
            &latest_of(&their_trail["case"]["trail"]),
            "round {round}: the applicant's kept latest"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_list_costs_the_same_statements_whatever_its_length() {
    let centre = crate::satisfaction::Centre::start().await;
    let query = "{ callbackTasks { id status calls { outcome at } } }";
    let mut figures = Vec::new();
    for n in 0..3 {
        let resident = centre.resident(&format!("reads-callback-{n}")).await;
        let case = centre.completed_case(&resident).await;
        expect_data(
            &centre
                .rate(&resident, &case, "DISSATISFIED", None, false)
                .await,
        );
        let listed = centre.ok(&centre.admin, query, json!({})).await;
        assert_eq!(
            listed["callbackTasks"].as_array().unwrap().len(),
            n + 1,
            "{listed}"
        );
        figures.push(statements_of(centre.app(), &centre.admin, query).await);
    }
    assert!(
        figures.windows(2).all(|w| w[0] == w[1]),
        "one, two and three callbacks: {figures:?} statements"
    );
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complaint_list_costs_the_same_statements_whatever_its_length() {
    let desk = crate::complaints::ComplaintDesk::start().await;
    let query = "{ complaints { complaints { id status category accusedStaffId } } }";
    let agent = desk.centre.agent.user_id.clone();
    let mut figures = Vec::new();
    for n in 0..3 {
        let resident = desk.centre.resident(&format!("reads-complaint-{n}")).await;
        let input =
            crate::complaints::about(&agent, "COLD_SERVICE", "态度差", "MINI_PROGRAM", false);
        desk.filed_id(&resident, input).await;
        let listed = desk.centre.ok(&desk.centre.admin, query, json!({})).await;
        assert_eq!(
            listed["complaints"]["complaints"].as_array().unwrap().len(),
            n + 1,
            "{listed}"
        );
        figures.push(statements_of(desk.app(), &desk.centre.admin, query).await);
    }
    assert!(
        figures.windows(2).all(|w| w[0] == w[1]),
        "one, two and three complaints: {figures:?} statements"
    );
    desk.stop().await;
}
