//! Slot capacities follow the roster wherever the roster changes: a staff change applied on its
//! date, an agent marked off duty, an account deactivated. The directory announces each with a
//! `staff.duty_changed` event and the booking room reacts to it durably: the reaction is
//! recorded in the change's own transaction, so it happens even when nothing runs it at once.
use std::time::Duration;

use bangban_server::directory::changes::NOTICE_DAYS;
use chrono::{Duration as Days, NaiveDate};
use serde_json::{Value, json};

use crate::{
    booking::{Desk, desk_on},
    directory::{LONGGANG, test_id_number},
    helpers::{Options, Session, TestApp, expect_data},
};

fn app_options(inline: bool) -> Options {
    Options {
        demo: true,
        tweak: Some(Box::new(move |s| {
            s.events.reactions_inline = inline;
            s.events.reaction_poll_ms = 100;
        })),
        ..Options::default()
    }
}

async fn county(desk: &Desk) -> Session {
    desk.app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await
}

/// The capacities of the point's slots on `day`, in time order.
pub(crate) async fn capacities(desk: &Desk, admin: &Session, day: &str) -> Vec<i64> {
    let slots = expect_data(
        &desk
            .app
            .as_(
                admin,
                "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { capacity } }",
                json!({"p": desk.point, "d": day}),
            )
            .await,
    );
    slots["pointSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["capacity"].as_i64().unwrap())
        .collect()
}

/// Waits (up to 10 s) until every slot of `day` has `capacity`; returns what it saw last.
async fn settle(desk: &Desk, admin: &Session, day: &str, capacity: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = capacities(desk, admin, day).await;
        if !seen.is_empty() && seen.iter().all(|c| *c == capacity) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

async fn agent_id(desk: &Desk, admin: &Session, username: &str) -> String {
    let staff = expect_data(
        &desk
            .app
            .as_(admin, "{ staffMembers { id username } }", json!({}))
            .await,
    );
    staff["staffMembers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["username"] == username)
        .unwrap_or_else(|| panic!("no {username} in {staff}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

const SUBMIT: &str =
    "mutation($input: StaffChangeInput!) { submitStaffChange(input: $input) { id } }";
const DECIDE: &str =
    "mutation($id: ID!) { decideStaffChange(id: $id, approve: true, reason: \"同意\") { status } }";

async fn approved_change(
    desk: &Desk,
    admin: &Session,
    before: Option<&str>,
    point: Option<&str>,
    n: u32,
    arrival: NaiveDate,
) {
    let region = desk.app.region_id(LONGGANG).await;
    let input = json!({"input": {
        "regionId": region, "beforeStaffId": before, "post": "乡镇帮办代办员", "name": "赵六",
        "username": format!("lg.new{n}"), "role": "TOWNSHIP_AGENT", "servicePointId": point,
        "idNumber": test_id_number(20 + n), "phone": format!("1390000{:04}", 20 + n),
        "email": format!("new{n}@example.cn"), "arrivalDate": arrival.to_string()}});
    let id = expect_data(&desk.app.as_(admin, SUBMIT, input).await)["submitStaffChange"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let decided = expect_data(&desk.app.as_(admin, DECIDE, json!({"id": id})).await);
    assert_eq!(decided["decideStaffChange"]["status"], "APPROVED");
}

fn today(desk: &Desk) -> NaiveDate {
    bangban_server::clock::local_date(bangban_server::clock::Clock::now(desk.app.clock.as_ref()))
}

/// The first working day at least `after` days from the test clock's today, its slots
/// generated (as a resident looking at the calendar does).
async fn working_day_after(desk: &Desk, after: i64) -> String {
    let from = (today(desk) + Days::days(after)).to_string();
    let slots: Value = expect_data(&desk.app.graphql(None, "query($f: NaiveDate!, $t: NaiveDate!, $p: ID!) { availableSlots(servicePointId: $p, from: $f, to: $t) { startsAt } }", json!({"p": desk.point, "f": from, "t": (today(desk) + Days::days(after + 7)).to_string()})).await);
    let first = slots["availableSlots"][0]["startsAt"]
        .as_str()
        .unwrap_or_else(|| panic!("no slots after {from}: {slots}"));
    let at = chrono::DateTime::parse_from_rfc3339(first).unwrap();
    at.with_timezone(&bangban_server::clock::CHINA)
        .date_naive()
        .to_string()
}

/// Runs the scheduled jobs on the arrival date: the one approved change applies.
async fn arrive(desk: &Desk, arrival: NaiveDate) -> Session {
    let days = (arrival - today(desk)).num_days();
    desk.app.clock.advance(Days::days(days));
    let ran = bangban_server::jobs::run_due(&desk.app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(ran.count("directory", "staff_changes"), 1);
    // Access tokens expired meanwhile.
    county(desk).await
}

async fn staff_changes_resize_the_point(inline: bool) {
    let desk = desk_on(TestApp::spawn_with(app_options(inline)).await, 2).await;
    let admin = county(&desk).await;
    let start = today(&desk);
    let day = working_day_after(&desk, 5).await;
    assert_eq!(settle(&desk, &admin, &day, 2).await.first(), Some(&2));
    let departing = agent_id(&desk, &admin, "lg.agent0").await;
    // lg.agent0 leaves for a post at no point.
    let arrival = start + Days::days(NOTICE_DAYS);
    approved_change(&desk, &admin, Some(&departing), None, 1, arrival).await;
    let admin = arrive(&desk, arrival).await;
    let seen = settle(&desk, &admin, &day, 1).await;
    assert!(
        seen.iter().all(|c| *c == 1),
        "one agent left at the point: one seat per slot, saw {seen:?}"
    );

    // A new agent arrives at the desk.
    let later = working_day_after(&desk, NOTICE_DAYS + 2).await;
    assert_eq!(settle(&desk, &admin, &later, 1).await.first(), Some(&1));
    let arrival = today(&desk) + Days::days(NOTICE_DAYS);
    approved_change(&desk, &admin, None, Some(&desk.point), 2, arrival).await;
    let admin = arrive(&desk, arrival).await;
    let seen = settle(&desk, &admin, &later, 2).await;
    assert!(
        seen.iter().all(|c| *c == 2),
        "a new agent at the point: two seats per slot, saw {seen:?}"
    );
}

#[tokio::test]
async fn a_staff_change_applied_on_its_date_resizes_the_points_slots() {
    staff_changes_resize_the_point(true).await;
}

#[tokio::test]
async fn a_staff_change_resizes_slots_even_when_nothing_reacts_at_commit() {
    // As if the instance died right after the change committed: the workers do it.
    staff_changes_resize_the_point(false).await;
}

#[tokio::test]
async fn off_duty_and_deactivation_resize_slots_through_the_recorded_reaction() {
    let desk = desk_on(TestApp::spawn_with(app_options(false)).await, 3).await;
    let admin = county(&desk).await;
    let day = working_day_after(&desk, 2).await;
    assert_eq!(settle(&desk, &admin, &day, 3).await.first(), Some(&3));
    let one = agent_id(&desk, &admin, "lg.agent1").await;
    let two = agent_id(&desk, &admin, "lg.agent2").await;
    expect_data(
        &desk
            .app
            .as_(
                &admin,
                "mutation($s: ID!) { setStaffOnDuty(staffId: $s, onDuty: false) { onDuty } }",
                json!({"s": one}),
            )
            .await,
    );
    let seen = settle(&desk, &admin, &day, 2).await;
    assert!(seen.iter().all(|c| *c == 2), "{seen:?}");
    expect_data(
        &desk
            .app
            .as_(
                &admin,
                "mutation($s: ID!) { deactivateStaff(staffId: $s) { id } }",
                json!({"s": two}),
            )
            .await,
    );
    let seen = settle(&desk, &admin, &day, 1).await;
    assert!(seen.iter().all(|c| *c == 1), "{seen:?}");
    // Every reaction is recorded, once per event, and done (a worker may still be finishing
    // one whose work an earlier one already did).
    let mut tasks = String::new();
    for _ in 0..100 {
        tasks = desk.app.dump_table("reaction_tasks").await;
        if tasks.matches("done_at=Some(").count() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        tasks.matches("booking.capacity_follows_duty").count(),
        5,
        "{tasks}"
    );
    assert_eq!(tasks.matches("done_at=Some(").count(), 5, "{tasks}");
}
