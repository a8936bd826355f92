//! Lock order under races, on PostgreSQL: requests that touch the same rows from different
//! ends either wait for each other or are refused with a code — never a deadlock, never an
//! internal error — and what they compute from rows they read is never overwritten by a
//! transaction that read them before.
use serde_json::{Value, json};

use crate::{
    booking::{BOOK, Desk, desk_on},
    desk_races::{resident_with_phone, test_phone},
    duty::capacities,
    fake_wechat::FakeWechat,
    helpers::{Options, Session, TestApp, expect_data},
};

const BIND_PHONE: &str = "mutation($c: String!) { bindPhone(code: $c) { phone } }";
const CANCEL: &str = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";
const JOIN: &str =
    "mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { id status } }";

async fn racing_desk(agents: usize) -> (Desk, FakeWechat) {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(|s| {
            s.database.max_connections = Some(16);
            s.limits.book_per_user_per_minute = 10_000;
            s.limits.book_per_ip_per_minute = 10_000;
            s.limits.login_per_ip_per_minute = 10_000;
            s.limits.bind_phone_per_user_per_hour = 10_000;
            // No admission counter in front: every attempt reaches the database, as when the
            // shared store is down or the counter expired.
            s.limits.sold_out_flag_seconds = 0;
        })),
        ..Options::default()
    })
    .await;
    (desk_on(app, agents).await, fake)
}

/// Fails on an internal error or a deadlock; returns the error code, if any.
pub(crate) fn coded(response: &Value) -> Option<String> {
    let error = response["errors"].as_array()?.first()?.clone();
    let code = error["extensions"]["code"].as_str().unwrap_or("NO CODE");
    assert!(
        code != "INTERNAL_SERVER_ERROR" && code != "NO CODE",
        "a race ends in a coded answer, not {response}"
    );
    Some(code.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn two_residents_swapping_numbers_at_once_never_deadlock() {
    let (desk, fake) = racing_desk(1).await;
    let app = &desk.app;
    let (pa, pb) = (test_phone(41), test_phone(42));
    let a = resident_with_phone(app, &fake, "swap-a", &pa).await;
    let b = resident_with_phone(app, &fake, "swap-b", &pb).await;
    for round in 0..40 {
        // Each takes the other's number, at once; then back.
        let (to_a, to_b) = if round % 2 == 0 {
            (&pb, &pa)
        } else {
            (&pa, &pb)
        };
        let (ra, rb) = tokio::join!(
            app.as_(&a, BIND_PHONE, json!({"c": fake.phone_code(to_a)})),
            app.as_(&b, BIND_PHONE, json!({"c": fake.phone_code(to_b)})),
        );
        for response in [&ra, &rb] {
            if let Some(code) = coded(response) {
                assert_eq!(code, "CONFLICT", "{response}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn duty_days_set_at_once_for_several_agents_leave_the_capacity_the_roster_gives() {
    let (desk, _) = racing_desk(4).await;
    let app = &desk.app;
    let admin = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let (day, _) = desk.next_day_slots().await;
    let staff = expect_data(
        &app.as_(&admin, "{ staffMembers { id username } }", json!({}))
            .await,
    );
    let agents: Vec<String> = staff["staffMembers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["username"].as_str().unwrap().starts_with("lg.agent"))
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(agents.len(), 4);
    let duty = "mutation($s: ID!, $d: NaiveDate!, $on: Boolean!) { setStaffDutyDay(staffId: $s, day: $d, onDuty: $on) { overbookedSlots { id } } }";
    for round in 0..15 {
        let on = round % 2 == 1;
        let changes = agents
            .iter()
            .map(|agent| app.as_(&admin, duty, json!({"s": agent, "d": day, "on": on})));
        for response in futures_util::future::join_all(changes).await {
            assert!(coded(&response).is_none(), "{response}");
        }
        let expected = if on { 4 } else { 0 };
        let seen = capacities(&desk, &admin, &day).await;
        assert!(
            seen.iter().all(|c| *c == expected),
            "round {round}: every agent {}: capacity {expected} everywhere, saw {seen:?}",
            if on { "on duty" } else { "off duty" }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn a_waiting_resident_booking_while_a_seat_is_freed_and_offered_never_deadlocks() {
    let (desk, fake) = racing_desk(1).await;
    let app = &desk.app;
    let resident = |name: String| {
        let code = fake.login_code(&name);
        async move {
            Session::from_payload(&app.login_with_code(&code).await["data"]["loginWithWechat"])
        }
    };
    // The slots of the next few days (a race per slot).
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let found = expect_data(&app.graphql(None, "query($p: ID!, $f: NaiveDate!, $t: NaiveDate!) { availableSlots(servicePointId: $p, from: $f, to: $t) { id } }",
        json!({"p": desk.point, "f": (today + chrono::Duration::days(1)).to_string(), "t": (today + chrono::Duration::days(6)).to_string()})).await);
    let slots: Vec<String> = found["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(slots.len() >= 28, "{} slots", slots.len());
    let mut setups = Vec::new();
    for (n, slot) in slots.iter().enumerate() {
        // V holds the slot's one seat; U waits for it.
        let v = resident(format!("holder-{n}")).await;
        let u = resident(format!("waiter-{n}")).await;
        let held = expect_data(&app.as_(&v, BOOK, desk.input(slot, &format!("v-{n}"))).await);
        let held = held["bookAppointment"]["id"].as_str().unwrap().to_string();
        let join = json!({"input": {"servicePointId": desk.point, "slotId": slot, "itemId": desk.item, "kind": "HELP"}});
        expect_data(&app.as_(&u, JOIN, join).await);
        setups.push((slot.clone(), v, u, held));
    }
    // At once on every slot: U books it directly while V cancels (the freed seat is offered
    // to U's waitlist entry in V's transaction).
    let desk = &desk;
    let races = setups
        .iter()
        .enumerate()
        .map(|(n, (slot, v, u, held))| async move {
            let (booked, cancelled) = tokio::join!(
                app.as_(u, BOOK, desk.input(slot, &format!("u-{n}"))),
                app.as_(v, CANCEL, json!({"id": held})),
            );
            if let Some(code) = coded(&booked) {
                assert_eq!(code, "SLOT_FULL", "{booked}");
            }
            assert!(coded(&cancelled).is_none(), "{cancelled}");
        });
    futures_util::future::join_all(races).await;
}
