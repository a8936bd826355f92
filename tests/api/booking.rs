//! Booking end to end: slots on the working calendar, no overbooking under concurrency,
//! idempotency, every refusal coded with nothing written, cancellation, review by the point's
//! agents only.
use bangban_server::auth::Role;
use chrono::{NaiveDate, TimeZone};
use serde_json::{Value, json};

use crate::{
    directory::{COUNTY, LONGGANG},
    helpers::{TestApp, expect_data, expect_error},
};

pub const BOOK: &str = "mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { id code status kind slot { id remaining } } }";

pub struct Desk {
    pub app: TestApp,
    pub point: String,
    pub item: String,
}

/// The demo county with `agents` on duty at 龙港镇's centre.
pub async fn desk(agents: usize) -> Desk {
    desk_on(TestApp::with_demo().await, agents).await
}

/// The same desk on an app spawned with other options (it must load the demo).
pub async fn desk_on(app: TestApp, agents: usize) -> Desk {
    let county = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let points = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { servicePoints(regionId: $r, kind: TOWNSHIP_CENTER) { id } }",
            json!({"r": app.region_id(LONGGANG).await}),
        )
        .await,
    );
    let point = points["servicePoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 0..agents {
        let input = json!({"input": {"username": format!("lg.agent{n}"), "displayName": "窗口", "password": "initial-password-1",
            "role": "TOWNSHIP_AGENT", "regionId": app.region_id(LONGGANG).await, "servicePointId": point}});
        expect_data(
            &app.as_(
                &county,
                "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
                input,
            )
            .await,
        );
    }
    let items = expect_data(
        &app.graphql(
            None,
            "{ items(level: TOWNSHIP) { id businessName } }",
            json!({}),
        )
        .await,
    );
    let item = items["items"][0]["id"].as_str().unwrap().to_string();
    Desk { app, point, item }
}

impl Desk {
    /// The slots of the next working day after the test clock's date.
    pub async fn next_day_slots(&self) -> (String, Vec<Value>) {
        let today = bangban_server::clock::local_date(bangban_server::clock::Clock::now(
            self.app.clock.as_ref(),
        ));
        let next = expect_data(
            &self
                .app
                .graphql(
                    None,
                    "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 1) { date } }",
                    json!({"d": today.to_string()}),
                )
                .await,
        );
        let day = next["addWorkingDays"]["date"].as_str().unwrap().to_string();
        let slots = expect_data(&self.app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id startsAt remaining } }", json!({"p": self.point, "d": day})).await);
        (day, slots["availableSlots"].as_array().unwrap().clone())
    }

    pub fn input(&self, slot: &str, key: &str) -> Value {
        json!({"input": {"servicePointId": self.point, "slotId": slot, "itemId": self.item, "kind": "HELP", "idempotencyKey": key}})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_on_the_last_seat_make_exactly_one_booking() {
    let desk = desk(1).await;
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    assert_eq!(slots[0]["remaining"], 1);
    let mut residents = Vec::new();
    for n in 0..8 {
        residents.push(desk.app.login_resident(&format!("crowd-{n}")).await);
    }
    let attempts = residents.iter().enumerate().map(|(n, r)| {
        desk.app
            .as_(r, BOOK, desk.input(&slot, &format!("key-{n}")))
    });
    let results = futures_util::future::join_all(attempts).await;
    let made: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("errors").is_none())
        .collect();
    assert_eq!(made.len(), 1, "{results:?}");
    for refused in results.iter().filter(|r| r.get("errors").is_some()) {
        expect_error(refused, "SLOT_FULL");
    }
    assert_eq!(made[0]["data"]["bookAppointment"]["slot"]["remaining"], 0);
    let code = made[0]["data"]["bookAppointment"]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    let (_, after) = desk.next_day_slots().await;
    assert!(
        after.iter().all(|s| s["id"] != slot.as_str()),
        "a full slot is never offered"
    );
    assert_eq!(desk.app.dump_table("bookings").await.lines().count(), 1);
    assert_eq!(
        desk.app.dump_table("ledger_entries").await.lines().count(),
        1,
        "a booking never exists without its ledger entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_gives_the_same_booking_and_a_different_input_conflicts() {
    let desk = desk(3).await;
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let resident = desk.app.login_resident("retrying-phone").await;
    let tries = (0..4).map(|_| desk.app.as_(&resident, BOOK, desk.input(&slot, "same-key")));
    let results = futures_util::future::join_all(tries).await;
    let ids: Vec<&Value> = results
        .iter()
        .map(|r| &r["data"]["bookAppointment"]["id"])
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0] && id.is_string()),
        "{results:?}"
    );
    assert_eq!(
        results[0]["data"]["bookAppointment"]["slot"]["remaining"], 2,
        "one seat taken, once"
    );

    let other_slot = slots[1]["id"].as_str().unwrap();
    expect_error(
        &desk
            .app
            .as_(&resident, BOOK, desk.input(other_slot, "same-key"))
            .await,
        "CONFLICT",
    );
    let someone_else = desk.app.login_resident("another-phone").await;
    expect_data(
        &desk
            .app
            .as_(&someone_else, BOOK, desk.input(&slot, "same-key"))
            .await,
    );
    expect_error(
        &desk
            .app
            .as_(&resident, BOOK, desk.input(&slot, "new-key"))
            .await,
        "CONFLICT",
    );
}

#[tokio::test]
async fn slots_follow_the_working_calendar() {
    let desk = desk(1).await;
    // Friday 2026-09-18, 10:00 in China: the window covers the 调休 Sunday and National Day.
    let now = bangban_server::clock::CHINA
        .with_ymd_and_hms(2026, 9, 18, 10, 0, 0)
        .unwrap();
    desk.app.clock.set(now.with_timezone(&chrono::Utc));
    let slots = expect_data(&desk.app.graphql(None, "query($p: ID!) { availableSlots(servicePointId: $p, from: \"2026-09-19\", to: \"2026-10-02\") { startsAt } }", json!({"p": desk.point})).await);
    let days: std::collections::BTreeSet<NaiveDate> = slots["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s["startsAt"].as_str().unwrap())
                .unwrap()
                .with_timezone(&bangban_server::clock::CHINA)
                .date_naive()
        })
        .collect();
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
    assert!(days.contains(&d(9, 20)), "the 调休 Sunday is a working day");
    assert!(!days.contains(&d(9, 19)), "an ordinary Saturday is not");
    for off in [d(9, 25), d(9, 26), d(9, 27), d(10, 1), d(10, 2)] {
        assert!(!days.contains(&off), "{off} is a holiday");
    }
    assert!(days.contains(&d(9, 21)) && days.contains(&d(9, 30)));
}

#[tokio::test]
async fn bad_booking_input_is_refused_by_field_and_writes_nothing() {
    let desk = desk(1).await;
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let resident = desk.app.login_resident("careless").await;
    let county_items = expect_data(
        &desk
            .app
            .graphql(
                None,
                "{ items(search: \"有限责任公司\") { id } }",
                json!({}),
            )
            .await,
    );
    let county_only = county_items["items"][0]["id"].as_str().unwrap().to_string();
    let zone = expect_data(
        &desk
            .app
            .graphql(
                None,
                "{ servicePoints(kind: COUNTY_ZONE) { id } }",
                json!({}),
            )
            .await,
    )["servicePoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut input = desk.input(&slot, "k1");
    input["input"]["itemId"] = json!(county_only);
    cases.push((input, "input.itemId"));
    let mut input = desk.input(&slot, "k2");
    input["input"]["itemId"] = json!(uuid::Uuid::now_v7().to_string());
    cases.push((input, "input.itemId"));
    let mut input = desk.input(&slot, "k3");
    input["input"]["servicePointId"] = json!(zone);
    cases.push((input, "input.slotId"));
    let mut input = desk.input(&slot, "k4");
    input["input"]["enterprise"] =
        json!({"name": "沁水某公司", "creditCode": "9144030071526726XH"});
    cases.push((input, "input.enterprise.creditCode"));
    cases.push((desk.input(&slot, ""), "input.idempotencyKey"));
    let mut input = desk.input(&slot, "k5");
    input["input"]["slotId"] = json!("not-an-id");
    cases.push((input, "input.slotId"));
    let mut input = desk.input(&slot, "k6");
    input["input"]["note"] = json!("x".repeat(201));
    cases.push((input, "input.note"));
    for (input, field) in cases {
        let error = expect_error(
            &desk.app.as_(&resident, BOOK, input.clone()).await,
            "BAD_USER_INPUT",
        );
        assert_eq!(error["extensions"]["field"], field, "{input}");
    }
    // A slot of another point.
    let zone_slots = expect_data(&desk.app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id } }", json!({"p": zone, "d": desk.next_day_slots().await.0})).await);
    assert!(
        zone_slots["availableSlots"].as_array().unwrap().is_empty(),
        "no agents at the zone, no seats"
    );
    // A slot that has started.
    desk.app.clock.advance(chrono::Duration::days(4));
    let resident = desk.app.login_resident("careless").await;
    let county = desk
        .app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let late = expect_error(
        &desk.app.as_(&resident, BOOK, desk.input(&slot, "k7")).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(late["extensions"]["field"], "input.slotId");
    assert_eq!(desk.app.dump_table("bookings").await, "", "nothing written");
    assert_eq!(desk.app.dump_table("ledger_entries").await, "");
    assert_eq!(desk.app.dump_table("idempotency_keys").await, "");
    assert!(
        !desk.app.dump_table("events").await.contains("booking."),
        "no event for a refusal"
    );
    let slots = desk.app.dump_table("slots").await;
    assert_eq!(
        slots.matches("booked=Some(0)").count(),
        slots.lines().count(),
        "no seat taken: {slots}"
    );
    let anonymous = desk.app.graphql(None, BOOK, desk.input(&slot, "k8")).await;
    expect_error(&anonymous, "UNAUTHENTICATED");
    expect_error(
        &desk.app.as_(&county, BOOK, desk.input(&slot, "k9")).await,
        "FORBIDDEN",
    );
}

#[tokio::test]
async fn residents_cancel_agents_review_and_limits_hold() {
    let desk = desk(2).await;
    let (_, slots) = desk.next_day_slots().await;
    let resident = desk.app.login_resident("reviewed").await;
    let mut made = Vec::new();
    for (n, slot) in slots.iter().take(3).enumerate() {
        let booked = expect_data(
            &desk
                .app
                .as_(
                    &resident,
                    BOOK,
                    desk.input(slot["id"].as_str().unwrap(), &format!("b{n}")),
                )
                .await,
        );
        made.push(booked["bookAppointment"].clone());
    }
    let fourth = expect_error(
        &desk
            .app
            .as_(
                &resident,
                BOOK,
                desk.input(slots[3]["id"].as_str().unwrap(), "b3"),
            )
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(
        fourth["extensions"]["field"], "input",
        "at most 3 open bookings"
    );

    let cancel = "mutation($id: ID!) { cancelBooking(id: $id) { status slot { remaining } } }";
    let cancelled = expect_data(
        &desk
            .app
            .as_(&resident, cancel, json!({"id": made[0]["id"]}))
            .await,
    );
    assert_eq!(cancelled["cancelBooking"]["status"], "CANCELLED");
    assert_eq!(
        cancelled["cancelBooking"]["slot"]["remaining"], 2,
        "the seat is free again"
    );
    expect_error(
        &desk
            .app
            .as_(&resident, cancel, json!({"id": made[0]["id"]}))
            .await,
        "INVALID_TRANSITION",
    );
    let stranger = desk.app.login_resident("stranger").await;
    expect_error(
        &desk
            .app
            .as_(&stranger, cancel, json!({"id": made[1]["id"]}))
            .await,
        "NOT_FOUND",
    );

    let agent = desk
        .app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let village_agent = desk
        .app
        .staff_session("cn.agent", Role::VillageAgent, crate::directory::CHENGNEI)
        .await;
    let accept = "mutation($id: ID!) { acceptBooking(id: $id) { status } }";
    let refuse = "mutation($id: ID!, $c: String!, $e: String!) { refuseBooking(id: $id, reasonCode: $c, explanation: $e) { status reasonCode explanation slot { remaining } } }";
    expect_error(
        &desk
            .app
            .as_(&village_agent, accept, json!({"id": made[1]["id"]}))
            .await,
        "NOT_FOUND",
    );
    expect_error(
        &desk
            .app
            .as_(&resident, accept, json!({"id": made[1]["id"]}))
            .await,
        "FORBIDDEN",
    );
    // An agent of the same township who is not at this point's desk may see it, not review it.
    let roaming = desk
        .app
        .staff_session("lg.roaming", Role::TownshipAgent, LONGGANG)
        .await;
    expect_error(
        &desk
            .app
            .as_(&roaming, accept, json!({"id": made[1]["id"]}))
            .await,
        "FORBIDDEN",
    );
    assert_eq!(
        expect_data(
            &desk
                .app
                .as_(&agent, accept, json!({"id": made[1]["id"]}))
                .await
        )["acceptBooking"]["status"],
        "ACCEPTED"
    );
    expect_error(
        &desk
            .app
            .as_(&agent, accept, json!({"id": made[1]["id"]}))
            .await,
        "INVALID_TRANSITION",
    );
    let no_reason = desk
        .app
        .as_(
            &agent,
            refuse,
            json!({"id": made[2]["id"], "c": " ", "e": "x"}),
        )
        .await;
    assert_eq!(
        expect_error(&no_reason, "BAD_USER_INPUT")["extensions"]["field"],
        "reasonCode"
    );
    let refused = expect_data(&desk.app.as_(&agent, refuse, json!({"id": made[2]["id"], "c": "NOT_OUR_LEVEL", "e": "该事项需到县政务服务中心办理"})).await);
    assert_eq!(refused["refuseBooking"]["status"], "REFUSED");
    assert_eq!(refused["refuseBooking"]["slot"]["remaining"], 2);

    // Online cancellation closes before the slot.
    let (_, later) = desk.next_day_slots().await;
    let open = expect_data(
        &desk
            .app
            .as_(
                &resident,
                BOOK,
                desk.input(later[5]["id"].as_str().unwrap(), "b9"),
            )
            .await,
    );
    let starts = chrono::DateTime::parse_from_rfc3339(later[5]["startsAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    desk.app.clock.set(starts - chrono::Duration::minutes(30));
    let resident = desk.app.login_resident("reviewed").await;
    expect_error(
        &desk
            .app
            .as_(
                &resident,
                cancel,
                json!({"id": open["bookAppointment"]["id"]}),
            )
            .await,
        "INVALID_TRANSITION",
    );
    let listed = expect_data(
        &desk
            .app
            .as_(&resident, "{ myBookings { code status } }", json!({}))
            .await,
    );
    assert_eq!(listed["myBookings"].as_array().unwrap().len(), 4);
    let ledger = desk.app.dump_table("ledger_entries").await;
    for outcome in ["booked", "cancelled", "accepted", "refused"] {
        assert!(
            ledger.contains(&format!("outcome=Some(\"{outcome}\")")),
            "{outcome}: {ledger}"
        );
    }
}

const SET_POLICY: &str = "mutation($p: ID!, $input: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $input) { slotMinutes seatsPerAgent } }";

fn policy(slot_minutes: i32, seats: i32) -> Value {
    json!({"slotMinutes": slot_minutes, "seatsPerAgent": seats, "windowDays": 14, "minNoticeMinutes": 60, "cancelCutoffMinutes": 120, "maxOpenBookings": 3})
}

#[tokio::test]
async fn admins_over_a_point_set_its_booking_rules() {
    let desk = desk(1).await;
    let town = desk
        .app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let other = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, "140521101")
        .await;
    let agent = desk
        .app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let read = "query($p: ID!) { bookingPolicy(servicePointId: $p) { slotMinutes windowDays maxOpenBookings } }";
    let defaults = expect_data(&desk.app.graphql(None, read, json!({"p": desk.point})).await);
    assert_eq!(
        defaults["bookingPolicy"],
        json!({"slotMinutes": 30, "windowDays": 14, "maxOpenBookings": 3})
    );

    expect_error(
        &desk
            .app
            .as_(
                &agent,
                SET_POLICY,
                json!({"p": desk.point, "input": policy(60, 2)}),
            )
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &desk
            .app
            .as_(
                &other,
                SET_POLICY,
                json!({"p": desk.point, "input": policy(60, 2)}),
            )
            .await,
        "NOT_FOUND",
    );
    let bad = desk
        .app
        .as_(
            &town,
            SET_POLICY,
            json!({"p": desk.point, "input": policy(3, 2)}),
        )
        .await;
    assert_eq!(
        expect_error(&bad, "BAD_USER_INPUT")["extensions"]["field"],
        "input.slotMinutes"
    );
    expect_data(
        &desk
            .app
            .as_(
                &town,
                SET_POLICY,
                json!({"p": desk.point, "input": policy(60, 2)}),
            )
            .await,
    );

    let (_, slots) = desk.next_day_slots().await;
    let starts: Vec<chrono::DateTime<chrono::Utc>> = slots
        .iter()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s["startsAt"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        })
        .collect();
    assert_eq!(starts[1] - starts[0], chrono::Duration::minutes(60));
    assert!(
        slots.iter().all(|s| s["remaining"] == 2),
        "two seats per agent"
    );
}

#[tokio::test]
async fn the_ledger_pages_through_every_contact_in_order() {
    let desk = desk(3).await;
    let (_, slots) = desk.next_day_slots().await;
    for n in 0..5 {
        let resident = desk.app.login_resident(&format!("ledger-{n}")).await;
        expect_data(
            &desk
                .app
                .as_(
                    &resident,
                    BOOK,
                    desk.input(slots[n % 3]["id"].as_str().unwrap(), "k"),
                )
                .await,
        );
    }
    let agent = desk
        .app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let query = "query($p: ID!, $f: DateTime!, $t: DateTime!, $a: String) { ledger(servicePointId: $p, from: $f, to: $t, first: 2, after: $a) { entries { id outcome channel bookingCode backfilled } nextCursor } }";
    let now = bangban_server::clock::Clock::now(desk.app.clock.as_ref());
    let range = |after: Option<String>| json!({"p": desk.point, "f": (now - chrono::Duration::hours(1)).to_rfc3339(), "t": (now + chrono::Duration::hours(1)).to_rfc3339(), "a": after});
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..5 {
        let page = expect_data(&desk.app.as_(&agent, query, range(after.clone())).await);
        for entry in page["ledger"]["entries"].as_array().unwrap() {
            assert_eq!(entry["outcome"], "BOOKED");
            assert_eq!(entry["channel"], "ONLINE");
            assert_eq!(entry["backfilled"], false);
            assert_eq!(entry["bookingCode"].as_str().unwrap().len(), 6);
            seen.push(entry["id"].as_str().unwrap().to_string());
        }
        after = page["ledger"]["nextCursor"].as_str().map(str::to_string);
        if after.is_none() {
            break;
        }
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (5, 5), "every entry once");

    let bad = desk
        .app
        .as_(&agent, query, range(Some("nonsense".into())))
        .await;
    assert_eq!(
        expect_error(&bad, "BAD_USER_INPUT")["extensions"]["field"],
        "after"
    );
    let other = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, "140521101")
        .await;
    expect_error(&desk.app.as_(&other, query, range(None)).await, "NOT_FOUND");
    let resident = desk.app.login_resident("ledger-0").await;
    expect_error(
        &desk.app.as_(&resident, query, range(None)).await,
        "FORBIDDEN",
    );
}
