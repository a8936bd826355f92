//! On site: check-in by QR scene or at the desk, queue numbers (A = appointment, B = walk-in) in
//! call order, finishing numbers into the booking and the ledger, live queue positions over
//! WebSocket, counters lost with the store. The ledger's own tests are in `ledger`.
use std::{collections::HashSet, time::Duration as StdDuration};

use bangban_server::{auth::Role, clock::Clock};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::{
    booking::{BOOK, Desk, desk},
    directory::LONGGANG,
    helpers::{Options, Session, TestApp, WsClient, expect_data, expect_error},
};

const CHECK_IN: &str = "mutation($s: String!, $k: String!, $c: String) { checkIn(pointScene: $s, checkInCode: $k, bookingCode: $c) { id label status day bookingId } }";
const AT_DESK: &str = "mutation($p: ID!, $c: String) { checkInAtDesk(servicePointId: $p, bookingCode: $c) { id label status day bookingId } }";
const CALL_NEXT: &str =
    "mutation($p: ID!) { callNext(servicePointId: $p) { id label status calledAt } }";
const FINISH: &str =
    "mutation($id: ID!, $s: Boolean!) { finishTicket(id: $id, served: $s) { id label status } }";
const POINT_QUEUE: &str = "query($p: ID!) { pointQueue(servicePointId: $p) { label status } }";
const POSITION: &str =
    "query($t: ID!) { queuePosition(ticketId: $t) { ahead nowCalling ticket { label status } } }";
const FOLLOW: &str = "subscription($t: ID!) { queuePosition(ticketId: $t) { ahead nowCalling ticket { label status } } }";
const LEDGER: &str = "query($p: ID!, $f: DateTime!, $t: DateTime!, $filter: LedgerFilterInput) { ledger(servicePointId: $p, from: $f, to: $t, filter: $filter, first: 200) { entries { id channel outcome reasonCode note applicant occurredAt backfilled enteredBy enteredAt bookingCode item { id } agentId } nextCursor } }";
const AGENT_PASSWORD: &str = "initial-password-1";
const WAIT: StdDuration = StdDuration::from_secs(15);
pub(crate) const OTHER_TOWN: &str = "140521101";

/// What is tried (who scans with which variables) and the refusal expected (code, field).
type ScanCase<'a> = (
    &'a str,
    Option<&'a Session>,
    Value,
    &'a str,
    Option<&'a str>,
);

pub(crate) fn now(app: &TestApp) -> DateTime<Utc> {
    Clock::now(app.clock.as_ref())
}

pub(crate) fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .with_timezone(&Utc)
}

/// Microsecond precision, as both databases keep it.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

pub(crate) fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

pub(crate) async fn agent(desk: &Desk, n: usize) -> Session {
    desk.app
        .login_staff_session(&format!("lg.agent{n}"), AGENT_PASSWORD)
        .await
}

/// The slots of the `n`th working day after the test clock's date.
pub(crate) async fn slots_after(desk: &Desk, n: i64) -> (String, Vec<Value>) {
    let today = bangban_server::clock::local_date(now(&desk.app));
    let next = expect_data(
        &desk
            .app
            .graphql(
                None,
                "query($d: NaiveDate!, $n: Int!) { addWorkingDays(date: $d, days: $n) { date } }",
                json!({"d": today.to_string(), "n": n}),
            )
            .await,
    );
    let day = text(&next["addWorkingDays"]["date"]);
    let slots = expect_data(&desk.app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id startsAt remaining } }", json!({"p": desk.point, "d": day})).await);
    let slots = slots["availableSlots"].as_array().unwrap().clone();
    assert!(slots.len() >= 4, "a working day has slots: {slots:?}");
    (day, slots)
}

/// A resident books a slot online; returns the booking (`id`, `code`).
pub(crate) async fn book(desk: &Desk, openid: &str, slot: &Value) -> Value {
    let resident = desk.app.login_resident(openid).await;
    let booked = expect_data(
        &desk
            .app
            .as_(
                &resident,
                BOOK,
                desk.input(&text(&slot["id"]), &format!("{openid}-{}", slot["id"])),
            )
            .await,
    );
    booked["bookAppointment"].clone()
}

pub(crate) async fn scene_of(app: &TestApp, point: &str) -> String {
    let found = expect_data(
        &app.graphql(
            None,
            "query($id: ID!) { servicePoint(id: $id) { scene } }",
            json!({"id": point}),
        )
        .await,
    );
    text(&found["servicePoint"]["scene"])
}

/// Moves the clock to `minutes` after (negative: before) a slot's start; sessions must be
/// renewed afterwards (access tokens do not survive days).
pub(crate) fn move_to(app: &TestApp, slot: &Value, minutes: i64) {
    app.clock
        .set(instant(&slot["startsAt"]) + Duration::minutes(minutes));
}

/// The check-in code the point's desk shows now (what a resident on site reads off it).
pub async fn site_code(app: &TestApp, scene: &str) -> String {
    match bangban_server::directory::points::service_point_by_scene(&app.state.db, scene).await {
        Ok(point) => {
            bangban_server::booking::check_in_code::check_in_code(
                &app.state.cipher,
                point.id,
                now(app),
            )
            .0
        }
        Err(_) => "000000".into(),
    }
}

pub(crate) async fn scan(app: &TestApp, who: &Session, scene: &str, code: Option<&str>) -> Value {
    let site = site_code(app, scene).await;
    app.as_(who, CHECK_IN, json!({"s": scene, "k": site, "c": code}))
        .await
}

async fn queue_labels(desk: &Desk, who: &Session) -> Vec<(String, String)> {
    let queue = expect_data(
        &desk
            .app
            .as_(who, POINT_QUEUE, json!({"p": desk.point}))
            .await,
    );
    queue["pointQueue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (text(&t["label"]), text(&t["status"])))
        .collect()
}

pub(crate) async fn ledger(desk: &Desk, who: &Session, filter: Value) -> Value {
    let at = now(&desk.app);
    desk.app
        .as_(
            who,
            LEDGER,
            json!({"p": desk.point, "f": (at - Duration::days(7)).to_rfc3339(), "t": (at + Duration::hours(1)).to_rfc3339(), "filter": filter}),
        )
        .await
}

pub(crate) async fn ledger_entries(desk: &Desk, who: &Session, filter: Value) -> Vec<Value> {
    let page = expect_data(&ledger(desk, who, filter).await);
    assert!(page["ledger"]["nextCursor"].is_null(), "one page: {page}");
    page["ledger"]["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_in_hands_out_one_number_per_booking_and_refuses_every_bad_scan_writing_nothing() {
    let desk = desk(1).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let (day, slots) = slots_after(&desk, 1).await;
    let (_, later) = slots_after(&desk, 2).await;
    let mine = book(&desk, "arriving", &slots[2]).await;
    let tomorrow = book(&desk, "arriving", &later[0]).await;
    let theirs = book(&desk, "neighbour", &slots[3]).await;
    let cancelled = book(&desk, "arriving", &slots[4]).await;
    let early = desk.app.login_resident("arriving").await;
    let cancel = expect_data(
        &desk
            .app
            .as_(
                &early,
                "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
                json!({"id": cancelled["id"]}),
            )
            .await,
    );
    assert_eq!(cancel["cancelBooking"]["status"], "CANCELLED");
    let zone = expect_data(
        &desk
            .app
            .graphql(
                None,
                "{ servicePoints(kind: COUNTY_ZONE) { id scene } }",
                json!({}),
            )
            .await,
    )["servicePoints"][0]["scene"]
        .clone();
    let zone_scene = text(&zone);
    assert_ne!(zone_scene, scene);

    // 07:50 on the booked day in China (still the day before in UTC), before the slots begin.
    move_to(&desk.app, &slots[0], -70);
    assert_ne!(
        now(&desk.app).date_naive().to_string(),
        day,
        "the UTC date differs from the China date"
    );
    let resident = desk.app.login_resident("arriving").await;
    let neighbour = desk.app.login_resident("neighbour").await;
    let agent = agent(&desk, 0).await;
    let code = text(&mine["code"]);
    let other_code = text(&theirs["code"]);
    let tomorrow_code = text(&tomorrow["code"]);
    let cancelled_code = text(&cancelled["code"]);
    let site = site_code(&desk.app, &scene).await;
    let zone_site = site_code(&desk.app, &zone_scene).await;
    let at = |scene: &str, code: Option<&str>| {
        let k = if scene == zone_scene {
            &zone_site
        } else {
            &site
        };
        json!({"s": scene, "k": k, "c": code})
    };
    let old_site = {
        let point = uuid::Uuid::parse_str(&desk.point).unwrap();
        bangban_server::booking::check_in_code::check_in_code(
            &desk.app.state.cipher,
            point,
            now(&desk.app) - Duration::minutes(3),
        )
        .0
    };
    let cases: Vec<ScanCase> = vec![
        (
            "only the printed QR code, no check-in code",
            Some(&resident),
            json!({"s": scene, "k": "", "c": code}),
            "BAD_USER_INPUT",
            Some("checkInCode"),
        ),
        (
            "a check-in code three minutes old",
            Some(&resident),
            json!({"s": scene, "k": old_site, "c": code}),
            "BAD_USER_INPUT",
            Some("checkInCode"),
        ),
        (
            "the check-in code of another point",
            Some(&resident),
            json!({"s": scene, "k": zone_site, "c": code}),
            "BAD_USER_INPUT",
            Some("checkInCode"),
        ),
        (
            "an oversized booking code",
            Some(&resident),
            at(&scene, Some(&"A".repeat(200))),
            "BAD_USER_INPUT",
            Some("bookingCode"),
        ),
        (
            "unknown scene",
            Some(&resident),
            at("no-such-scene", Some(&code)),
            "BAD_USER_INPUT",
            Some("pointScene"),
        ),
        (
            "empty scene",
            Some(&resident),
            at("", None),
            "BAD_USER_INPUT",
            Some("pointScene"),
        ),
        (
            "code of another point",
            Some(&resident),
            at(&zone_scene, Some(&code)),
            "BAD_USER_INPUT",
            Some("bookingCode"),
        ),
        (
            "code of another resident",
            Some(&resident),
            at(&scene, Some(&other_code)),
            "BAD_USER_INPUT",
            Some("bookingCode"),
        ),
        (
            "no such code",
            Some(&resident),
            at(&scene, Some("ZZZZZZ")),
            "BAD_USER_INPUT",
            Some("bookingCode"),
        ),
        (
            "booking for another day",
            Some(&resident),
            at(&scene, Some(&tomorrow_code)),
            "INVALID_TRANSITION",
            None,
        ),
        (
            "cancelled booking",
            Some(&resident),
            at(&scene, Some(&cancelled_code)),
            "INVALID_TRANSITION",
            None,
        ),
        (
            "staff scanning",
            Some(&agent),
            at(&scene, Some(&code)),
            "FORBIDDEN",
            None,
        ),
        (
            "staff scanning as a walk-in",
            Some(&agent),
            at(&scene, None),
            "FORBIDDEN",
            None,
        ),
        (
            "anonymous",
            None,
            at(&scene, Some(&code)),
            "UNAUTHENTICATED",
            None,
        ),
    ];
    for (what, who, variables, expected, field) in cases {
        let response = match who {
            Some(who) => desk.app.as_(who, CHECK_IN, variables).await,
            None => desk.app.graphql(None, CHECK_IN, variables).await,
        };
        let error = expect_error(&response, expected);
        if let Some(field) = field {
            assert_eq!(error["extensions"]["field"], field, "{what}: {response}");
        }
    }
    assert_eq!(
        desk.app.dump_table("queue_tickets").await,
        "",
        "no number handed out"
    );

    // The resident's own code, typed in lower case: an appointment number, once.
    let first = expect_data(&scan(&desk.app, &resident, &scene, Some(&code.to_lowercase())).await)
        ["checkIn"]
        .clone();
    assert_eq!(first["label"], "A001");
    assert_eq!(first["status"], "WAITING");
    assert_eq!(first["day"], day.as_str());
    assert_eq!(first["bookingId"], mine["id"]);
    let again =
        expect_data(&scan(&desk.app, &resident, &scene, Some(&code)).await)["checkIn"].clone();
    assert_eq!(again, first, "checking in twice returns the same ticket");
    let booking = expect_data(
        &desk
            .app
            .as_(&resident, "{ myBookings { code checkedInAt } }", json!({}))
            .await,
    );
    let checked: Vec<&Value> = booking["myBookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["checkedInAt"].is_null())
        .collect();
    assert_eq!(checked.len(), 1, "{booking}");
    assert_eq!(checked[0]["code"], code.as_str());

    // Walk-ins without a code: the B series.
    let walker = desk.app.login_resident("walk-in").await;
    let walk_in = expect_data(&scan(&desk.app, &walker, &scene, None).await)["checkIn"].clone();
    assert_eq!(walk_in["label"], "B001");
    assert!(walk_in["bookingId"].is_null());

    // At the desk: the point's agents and the admins over it; nobody else.
    let floater = desk
        .app
        .staff_session("lg.floater", Role::TownshipAgent, LONGGANG)
        .await;
    let town_admin = desk
        .app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    let neighbour_code = text(&theirs["code"]);
    let refused: Vec<(&Session, Option<&str>, &str)> = vec![
        (&neighbour, Some(&neighbour_code), "FORBIDDEN"),
        (&floater, Some(&neighbour_code), "FORBIDDEN"),
        (&floater, None, "FORBIDDEN"),
        (&other_town, None, "NOT_FOUND"),
    ];
    for (who, code, expected) in refused {
        expect_error(
            &desk
                .app
                .as_(who, AT_DESK, json!({"p": desk.point, "c": code}))
                .await,
            expected,
        );
    }
    let at_desk: Vec<(&Session, Option<&str>, &str)> = vec![
        (&agent, Some(&neighbour_code), "A002"),
        (&agent, Some(&neighbour_code), "A002"),
        (&agent, None, "B002"),
        (&town_admin, None, "B003"),
    ];
    for (who, code, label) in at_desk {
        let ticket = expect_data(
            &desk
                .app
                .as_(who, AT_DESK, json!({"p": desk.point, "c": code}))
                .await,
        );
        assert_eq!(ticket["checkInAtDesk"]["label"], label);
    }
    assert_eq!(
        desk.app.dump_table("queue_tickets").await.lines().count(),
        5,
        "A001, A002, B001..B003"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_are_called_begun_appointments_first_then_walk_ins_then_early_arrivals() {
    let desk = desk(2).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let (_, slots) = slots_after(&desk, 1).await;
    // slots[0] 09:00, slots[1] 09:30, slots[2] 10:00 (consecutive half hours).
    assert_eq!(
        instant(&slots[1]["startsAt"]) - instant(&slots[0]["startsAt"]),
        Duration::minutes(30)
    );
    assert_eq!(
        instant(&slots[2]["startsAt"]) - instant(&slots[1]["startsAt"]),
        Duration::minutes(30)
    );
    let first_slot = book(&desk, "first-slot", &slots[0]).await;
    let second_slot = book(&desk, "second-slot", &slots[1]).await;
    let third_slot = book(&desk, "third-slot", &slots[2]).await;

    move_to(&desk.app, &slots[0], -20);
    let arrivals: Vec<(&str, Option<&Value>, &str)> = vec![
        ("second-slot", Some(&second_slot), "A001"),
        ("first-slot", Some(&first_slot), "A002"),
        ("walker-1", None, "B001"),
        ("walker-2", None, "B002"),
        ("third-slot", Some(&third_slot), "A003"),
    ];
    let mut tickets = std::collections::HashMap::new();
    for (openid, booking, label) in arrivals {
        let resident = desk.app.login_resident(openid).await;
        let code = booking.map(|b| text(&b["code"]));
        let ticket =
            expect_data(&scan(&desk.app, &resident, &scene, code.as_deref()).await)["checkIn"]
                .clone();
        assert_eq!(ticket["label"], label, "{openid}");
        tickets.insert(label, (resident, text(&ticket["id"])));
    }
    let agents = [agent(&desk, 0).await, agent(&desk, 1).await];
    let waiting = |labels: &[&str]| -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.to_string(), "WAITING".to_string()))
            .collect()
    };
    // Before any slot begins, the walk-ins go first and the early appointments wait.
    assert_eq!(
        queue_labels(&desk, &agents[0]).await,
        waiting(&["B001", "B002", "A002", "A001", "A003"])
    );
    // 09:35: the 09:00 and 09:30 slots have begun; the 10:00 one has not.
    move_to(&desk.app, &slots[0], 35);
    let agents = [agent(&desk, 0).await, agent(&desk, 1).await];
    let order = ["A002", "A001", "B001", "B002", "A003"];
    assert_eq!(queue_labels(&desk, &agents[0]).await, waiting(&order));
    let (early, early_ticket) = &tickets["A003"];
    let position = expect_data(
        &desk
            .app
            .as_(early, POSITION, json!({"t": early_ticket}))
            .await,
    );
    assert_eq!(position["queuePosition"]["ahead"], 4);
    assert!(position["queuePosition"]["nowCalling"].is_null());

    // Neither a resident nor another town calls numbers here.
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    for (who, expected) in [
        (&tickets["B001"].0, "FORBIDDEN"),
        (&other_town, "NOT_FOUND"),
    ] {
        expect_error(
            &desk.app.as_(who, CALL_NEXT, json!({"p": desk.point})).await,
            expected,
        );
    }
    assert_eq!(queue_labels(&desk, &agents[0]).await, waiting(&order));

    // Both counters call twice at once: four different numbers, the first four in order.
    let calls = (0..4).map(|n| {
        desk.app
            .as_(&agents[n % 2], CALL_NEXT, json!({"p": desk.point}))
    });
    let called: Vec<Value> = futures_util::future::join_all(calls).await;
    let labels: HashSet<String> = called
        .iter()
        .map(|r| text(&expect_data(r)["callNext"]["label"]))
        .collect();
    assert_eq!(
        labels,
        order[..4].iter().map(|l| l.to_string()).collect(),
        "{called:?}"
    );
    for response in &called {
        assert_eq!(response["data"]["callNext"]["status"], "CALLED");
    }
    desk.app.clock.advance(Duration::minutes(1));
    let last = expect_data(
        &desk
            .app
            .as_(&agents[1], CALL_NEXT, json!({"p": desk.point}))
            .await,
    );
    assert_eq!(last["callNext"]["label"], "A003");
    let none = expect_data(
        &desk
            .app
            .as_(&agents[0], CALL_NEXT, json!({"p": desk.point}))
            .await,
    );
    assert!(none["callNext"].is_null(), "nobody waits: {none}");
    let queue = queue_labels(&desk, &agents[0]).await;
    assert_eq!(queue.len(), 5);
    assert!(
        queue.iter().all(|(_, status)| status == "CALLED"),
        "{queue:?}"
    );
    let position = expect_data(
        &desk
            .app
            .as_(early, POSITION, json!({"t": early_ticket}))
            .await,
    );
    assert_eq!(
        position["queuePosition"],
        json!({"ahead": null, "nowCalling": "A003", "ticket": {"label": "A003", "status": "CALLED"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_a_called_number_closes_its_booking_and_writes_the_ledger() {
    let desk = desk(1).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let (day, slots) = slots_after(&desk, 1).await;
    let served_booking = book(&desk, "will-be-served", &slots[0]).await;
    let absent_booking = book(&desk, "will-be-absent", &slots[1]).await;
    // 09:35: both slots have begun, the second within its grace period.
    move_to(&desk.app, &slots[1], 5);
    let agent = agent(&desk, 0).await;
    for (openid, booking, label) in [
        ("will-be-served", Some(&served_booking), "A001"),
        ("will-be-absent", Some(&absent_booking), "A002"),
        ("walk-in", None, "B001"),
    ] {
        let resident = desk.app.login_resident(openid).await;
        let code = booking.map(|b| text(&b["code"]));
        let ticket = expect_data(&scan(&desk.app, &resident, &scene, code.as_deref()).await);
        assert_eq!(ticket["checkIn"]["label"], label);
    }
    let desk_walk_in = expect_data(
        &desk
            .app
            .as_(&agent, AT_DESK, json!({"p": desk.point}))
            .await,
    );
    assert_eq!(desk_walk_in["checkInAtDesk"]["label"], "B002");
    let ledger_before = desk.app.dump_table("ledger_entries").await;
    assert_eq!(ledger_before.lines().count(), 2, "the two bookings");

    // A waiting number cannot be finished; nor can a stranger or another town finish it.
    let queue = expect_data(
        &desk
            .app
            .as_(
                &agent,
                "query($p: ID!) { pointQueue(servicePointId: $p) { id label } }",
                json!({"p": desk.point}),
            )
            .await,
    );
    assert_eq!(queue["pointQueue"][0]["label"], "A001");
    let a001 = text(&queue["pointQueue"][0]["id"]);
    let resident = desk.app.login_resident("will-be-served").await;
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    let refused: Vec<(&Session, String, bool, &str)> = vec![
        (&agent, a001.clone(), true, "INVALID_TRANSITION"),
        (&agent, a001.clone(), false, "INVALID_TRANSITION"),
        (&resident, a001.clone(), true, "FORBIDDEN"),
        (&other_town, a001.clone(), true, "NOT_FOUND"),
        (&agent, uuid::Uuid::now_v7().to_string(), true, "NOT_FOUND"),
    ];
    for (who, id, served, expected) in refused {
        expect_error(
            &desk
                .app
                .as_(who, FINISH, json!({"id": id, "s": served}))
                .await,
            expected,
        );
    }
    assert_eq!(desk.app.dump_table("ledger_entries").await, ledger_before);

    // Called in order, finished served / absent, a minute apart.
    let outcomes = [
        ("A001", true, "SERVED"),
        ("A002", false, "ABSENT"),
        ("B001", true, "SERVED"),
        ("B002", false, "ABSENT"),
    ];
    let mut finished = Vec::new();
    for (label, served, status) in outcomes {
        desk.app.clock.advance(Duration::minutes(1));
        let called = expect_data(
            &desk
                .app
                .as_(&agent, CALL_NEXT, json!({"p": desk.point}))
                .await,
        );
        assert_eq!(called["callNext"]["label"], label);
        let id = text(&called["callNext"]["id"]);
        let done = expect_data(
            &desk
                .app
                .as_(&agent, FINISH, json!({"id": id, "s": served}))
                .await,
        );
        assert_eq!(done["finishTicket"]["status"], status, "{label}");
        finished.push(id);
    }
    let ledger_after = desk.app.dump_table("ledger_entries").await;
    for id in &finished {
        expect_error(
            &desk
                .app
                .as_(&agent, FINISH, json!({"id": id, "s": true}))
                .await,
            "INVALID_TRANSITION",
        );
    }
    assert_eq!(
        desk.app.dump_table("ledger_entries").await,
        ledger_after,
        "finishing twice writes nothing"
    );

    let bookings = expect_data(
        &desk
            .app
            .as_(
                &agent,
                "query($p: ID!, $d: NaiveDate!) { pointBookings(servicePointId: $p, day: $d) { code status } }",
                json!({"p": desk.point, "d": day}),
            )
            .await,
    );
    let status_of = |code: &Value| {
        bookings["pointBookings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["code"] == *code)
            .map(|b| b["status"].clone())
            .unwrap_or_else(|| panic!("{code} in {bookings}"))
    };
    assert_eq!(status_of(&served_booking["code"]), "SERVED");
    assert_eq!(status_of(&absent_booking["code"]), "NO_SHOW");

    let entries = ledger_entries(&desk, &agent, Value::Null).await;
    let seen: Vec<(String, String, Value)> = entries
        .iter()
        .map(|e| {
            (
                text(&e["channel"]),
                text(&e["outcome"]),
                e["bookingCode"].clone(),
            )
        })
        .collect();
    let entry = |c: &str, o: &str, b: &Value| (c.to_uppercase(), o.to_uppercase(), b.clone());
    assert_eq!(
        seen,
        vec![
            entry("online", "booked", &served_booking["code"]),
            entry("online", "booked", &absent_booking["code"]),
            entry("window", "served", &served_booking["code"]),
            entry("window", "no_show", &absent_booking["code"]),
            entry("window", "served", &Value::Null),
            entry("window", "absent", &Value::Null),
        ]
    );
    for finished in &entries[2..] {
        assert_eq!(finished["agentId"], agent.user_id.as_str(), "{finished}");
        assert_eq!(finished["backfilled"], false);
    }
    let no_shows = ledger_entries(&desk, &agent, json!({"outcome": "NO_SHOW"})).await;
    assert_eq!(no_shows.len(), 1);
    assert_eq!(no_shows[0]["bookingCode"], absent_booking["code"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_follows_their_number_live_until_it_is_finished() {
    let desk = desk(1).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let agent = agent(&desk, 0).await;
    let mut walkers = Vec::new();
    for (n, label) in ["B001", "B002", "B003", "B004"].into_iter().enumerate() {
        let resident = desk.app.login_resident(&format!("walker-{n}")).await;
        let ticket =
            expect_data(&scan(&desk.app, &resident, &scene, None).await)["checkIn"].clone();
        assert_eq!(ticket["label"], label);
        walkers.push((resident, text(&ticket["id"])));
    }
    let (follower, ticket) = &walkers[2];

    // Only its resident and the point's desk may look.
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    let lookers: Vec<(&Session, Option<&str>)> = vec![
        (follower, None),
        (&agent, None),
        (&walkers[0].0, Some("NOT_FOUND")),
        (&other_town, Some("NOT_FOUND")),
    ];
    for (who, refused) in lookers {
        let response = desk.app.as_(who, POSITION, json!({"t": ticket})).await;
        match refused {
            Some(code) => {
                expect_error(&response, code);
            }
            None => assert_eq!(expect_data(&response)["queuePosition"]["ahead"], 2),
        }
    }
    let mut stranger = WsClient::connect(&desk.app, Some(&walkers[0].0.access)).await;
    stranger.subscribe("s", FOLLOW, json!({"t": ticket})).await;
    let refused = stranger.next_message(WAIT).await.expect("an answer");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );

    let mut ws = WsClient::connect(&desk.app, Some(&follower.access)).await;
    ws.subscribe("q", FOLLOW, json!({"t": ticket})).await;
    let at_once = ws.next_event("q", "queuePosition", WAIT).await;
    assert_eq!(
        at_once,
        json!({"ahead": 2, "nowCalling": null, "ticket": {"label": "B003", "status": "WAITING"}})
    );
    let call = || async {
        desk.app.clock.advance(Duration::seconds(30));
        expect_data(
            &desk
                .app
                .as_(&agent, CALL_NEXT, json!({"p": desk.point}))
                .await,
        )
    };
    call().await;
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": 1, "nowCalling": "B001", "ticket": {"label": "B003", "status": "WAITING"}})
    );
    call().await;
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": 0, "nowCalling": "B002", "ticket": {"label": "B003", "status": "WAITING"}})
    );
    // A newcomer behind does not move this number: nothing is sent.
    let late = desk.app.login_resident("walker-late").await;
    let newcomer = expect_data(&scan(&desk.app, &late, &scene, None).await);
    assert_eq!(newcomer["checkIn"]["label"], "B005");
    assert!(
        ws.next_message(StdDuration::from_millis(1_500))
            .await
            .is_none(),
        "no event without a change of position"
    );
    let called = call().await;
    assert_eq!(called["callNext"]["label"], "B003");
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": null, "nowCalling": "B003", "ticket": {"label": "B003", "status": "CALLED"}})
    );
    expect_data(
        &desk
            .app
            .as_(&agent, FINISH, json!({"id": ticket, "s": true}))
            .await,
    );
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": null, "nowCalling": "B003", "ticket": {"label": "B003", "status": "SERVED"}})
    );
    let end = ws.next_message(WAIT).await.expect("the subscription ends");
    assert_eq!(end, json!({"id": "q", "type": "complete"}));

    // The next number, followed by the desk this time, ends absent.
    let (_, next_ticket) = &walkers[3];
    let mut desk_ws = WsClient::connect(&desk.app, Some(&agent.access)).await;
    desk_ws
        .subscribe("d", FOLLOW, json!({"t": next_ticket}))
        .await;
    assert_eq!(
        desk_ws.next_event("d", "queuePosition", WAIT).await,
        json!({"ahead": 0, "nowCalling": "B003", "ticket": {"label": "B004", "status": "WAITING"}})
    );
    call().await;
    assert_eq!(
        desk_ws.next_event("d", "queuePosition", WAIT).await["ticket"]["status"],
        "CALLED"
    );
    expect_data(
        &desk
            .app
            .as_(&agent, FINISH, json!({"id": next_ticket, "s": false}))
            .await,
    );
    assert_eq!(
        desk_ws.next_event("d", "queuePosition", WAIT).await["ticket"]["status"],
        "ABSENT"
    );
    assert_eq!(
        desk_ws.next_message(WAIT).await,
        Some(json!({"id": "d", "type": "complete"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_continue_from_the_database_when_the_store_loses_its_counter() {
    let desk = desk(1).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let (day, slots) = slots_after(&desk, 1).await;
    let first = book(&desk, "early-bird", &slots[0]).await;
    let second = book(&desk, "second-bird", &slots[1]).await;
    // 07:50 in China: the day of the counter is the China date, not yet the UTC one.
    move_to(&desk.app, &slots[0], -70);
    let agent = agent(&desk, 0).await;
    let walk_in = || async {
        let ticket = expect_data(
            &desk
                .app
                .as_(&agent, AT_DESK, json!({"p": desk.point}))
                .await,
        );
        text(&ticket["checkInAtDesk"]["label"])
    };
    assert_eq!(walk_in().await, "B001");
    assert_eq!(walk_in().await, "B002");
    let early = desk.app.login_resident("early-bird").await;
    let ticket = expect_data(&scan(&desk.app, &early, &scene, Some(&text(&first["code"]))).await);
    assert_eq!(ticket["checkIn"]["label"], "A001");

    let second_code = text(&second["code"]);
    let cases: Vec<(&str, &str, Option<&str>, &str)> = vec![
        ("B", "2", None, "B003"),
        ("A", "1", Some(&second_code), "A002"),
    ];
    for (series, counted, code, expected) in cases {
        let key = format!("queue:{}:{day}:{series}", desk.point);
        assert_eq!(
            desk.app.state.store.get(&key).await.unwrap().as_deref(),
            Some(counted),
            "the counter lives under {key}"
        );
        desk.app.state.store.delete(&key).await.unwrap();
        assert_eq!(desk.app.state.store.get(&key).await.unwrap(), None);
        let ticket = expect_data(
            &desk
                .app
                .as_(&agent, AT_DESK, json!({"p": desk.point, "c": code}))
                .await,
        );
        assert_eq!(
            ticket["checkInAtDesk"]["label"], expected,
            "series {series}"
        );
        assert_eq!(
            desk.app.state.store.get(&key).await.unwrap().as_deref(),
            Some(expected[1..].trim_start_matches('0')),
            "the counter caught up"
        );
    }
    assert_eq!(walk_in().await, "B004", "and goes on from there");
    let labels: Vec<String> = queue_labels(&desk, &agent)
        .await
        .into_iter()
        .map(|(label, _)| label)
        .collect();
    let unique: HashSet<&String> = labels.iter().collect();
    assert_eq!((labels.len(), unique.len()), (6, 6), "{labels:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_falls_behind_is_not_told_its_number_is_done() {
    // A small per-subscription buffer, so that a burst at the point overflows it at once.
    const CAPACITY: usize = 4;
    let app = TestApp::spawn_with(Options {
        demo: true,
        tweak: Some(Box::new(|s| s.events.hub_capacity = CAPACITY)),
        ..Options::default()
    })
    .await;
    let points = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { servicePoints(regionId: $r, kind: TOWNSHIP_CENTER) { id scene } }",
            json!({"r": app.region_id(LONGGANG).await}),
        )
        .await,
    );
    let point = text(&points["servicePoints"][0]["id"]);
    let scene = text(&points["servicePoints"][0]["scene"]);
    let town_admin = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let follower = app.login_resident("busy-morning").await;
    let ticket = expect_data(&scan(&app, &follower, &scene, None).await)["checkIn"].clone();
    assert_eq!(ticket["label"], "B001");
    let mut ws = WsClient::connect(&app, Some(&follower.access)).await;
    ws.subscribe("q", FOLLOW, json!({"t": ticket["id"]})).await;
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": 0, "nowCalling": null, "ticket": {"label": "B001", "status": "WAITING"}})
    );

    // A burst of check-ins behind B001, published to the point's queue subject faster than the
    // subscription reads them (as the relay does with a batch after a database stall).
    let point_id = uuid::Uuid::parse_str(&point).unwrap();
    let day = bangban_server::clock::local_date(now(&app));
    let subject = bangban_server::booking::queue::queue_subject(point_id, day);
    for n in 0..CAPACITY * 10 {
        app.state
            .hub
            .publish(std::sync::Arc::new(bangban_server::events::Envelope {
                id: uuid::Uuid::now_v7(),
                seq: n as i64 + 1,
                position: Some(n as i64 + 1),
                kind: "queue.checked_in".into(),
                topic: "booking".into(),
                subject_kind: "queue".into(),
                subject_id: subject.clone(),
                audience: vec![],
                payload: json!({"label": format!("B{:03}", n + 2), "status": "waiting"}),
                created_at: now(&app),
            }));
    }
    // B001 still waits, first in line: the subscription must not end as if it had been finished.
    // Carrying on sends nothing (the position did not change); giving up must say so
    // (SUBSCRIPTION_LAGGED, as `myEvents` does) so that the app subscribes again.
    if let Some(message) = ws.next_message(StdDuration::from_secs(2)).await {
        assert_eq!(
            message["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIPTION_LAGGED",
            "a waiting number's subscription ended without its number being finished: {message}"
        );
        return;
    }
    let called = expect_data(&app.as_(&town_admin, CALL_NEXT, json!({"p": point})).await);
    assert_eq!(called["callNext"]["label"], "B001");
    assert_eq!(
        ws.next_event("q", "queuePosition", WAIT).await,
        json!({"ahead": null, "nowCalling": "B001", "ticket": {"label": "B001", "status": "CALLED"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_closed_after_check_in_leaves_no_number_to_call() {
    let desk = desk(1).await;
    let scene = scene_of(&desk.app, &desk.point).await;
    let (day, slots) = slots_after(&desk, 1).await;
    // 10:00 and 10:30; at 07:50 both are still outside the 120-minute cancellation cutoff.
    let to_cancel = book(&desk, "changes-mind", &slots[2]).await;
    let to_refuse = book(&desk, "wrong-level", &slots[3]).await;
    move_to(&desk.app, &slots[0], -70);
    let staff = agent(&desk, 0).await;
    let cancelling = desk.app.login_resident("changes-mind").await;
    let refused = desk.app.login_resident("wrong-level").await;
    for (who, booking, label) in [
        (&cancelling, &to_cancel, "A001"),
        (&refused, &to_refuse, "A002"),
    ] {
        let ticket =
            expect_data(&scan(&desk.app, who, &scene, Some(&text(&booking["code"]))).await);
        assert_eq!(ticket["checkIn"]["label"], label);
    }

    // The resident cancels online, the agent refuses the other: once checked in, a booking is
    // either kept (INVALID_TRANSITION, as rescheduling is) or closed together with its number.
    let closing = [
        desk.app
            .as_(
                &cancelling,
                "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
                json!({"id": to_cancel["id"]}),
            )
            .await,
        desk.app
            .as_(
                &staff,
                "mutation($id: ID!) { refuseBooking(id: $id, reasonCode: \"NOT_OUR_LEVEL\", explanation: \"请到县中心办理\") { status } }",
                json!({"id": to_refuse["id"]}),
            )
            .await,
    ];
    for response in &closing {
        if response.get("errors").is_some() {
            expect_error(response, "INVALID_TRANSITION");
        }
    }
    let bookings = expect_data(
        &desk
            .app
            .as_(
                &staff,
                "query($p: ID!, $d: NaiveDate!) { pointBookings(servicePointId: $p, day: $d) { id status } }",
                json!({"p": desk.point, "d": day}),
            )
            .await,
    );
    let open: HashSet<String> = bookings["pointBookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "BOOKED" || b["status"] == "ACCEPTED")
        .map(|b| text(&b["id"]))
        .collect();

    // Whatever the desk calls now belongs to a booking that is still open, and serving it closes
    // the booking as SERVED in the ledger; nothing else is called.
    move_to(&desk.app, &slots[3], 1);
    let staff = agent(&desk, 0).await;
    let mut served = 0;
    loop {
        let called = expect_data(
            &desk
                .app
                .as_(
                    &staff,
                    "mutation($p: ID!) { callNext(servicePointId: $p) { id label bookingId } }",
                    json!({"p": desk.point}),
                )
                .await,
        );
        if called["callNext"].is_null() {
            break;
        }
        let booking = text(&called["callNext"]["bookingId"]);
        assert!(
            open.contains(&booking),
            "{} was called although its booking was closed after check-in: {closing:?}",
            called["callNext"]["label"]
        );
        expect_data(
            &desk
                .app
                .as_(
                    &staff,
                    FINISH,
                    json!({"id": called["callNext"]["id"], "s": true}),
                )
                .await,
        );
        served += 1;
    }
    assert_eq!(served, open.len(), "every open booking's number is called");
    let ledger_served = ledger_entries(&desk, &staff, json!({"outcome": "SERVED"})).await;
    assert_eq!(
        ledger_served.len(),
        served,
        "each visit served is in the ledger"
    );
}
