//! Booking over time: the waitlist hand-over, the no-show rule and its appeal, reminders,
//! review deadlines, rescheduling, staff acting on a resident's behalf, per-day duty, and the
//! sold-out flag — every scheduled step driven by moving the test clock and running the jobs.
use bangban_server::{auth::Role, booking::model::china_instant, clock::Clock};
use chrono::{Duration, NaiveDate, NaiveTime};
use serde_json::{Value, json};

use crate::{
    booking::{BOOK, Desk, desk, desk_on},
    directory::LONGGANG,
    fake_wechat::FakeWechat,
    helpers::{Options, Session, TestApp, WsClient, expect_data, expect_error},
};

const CANCEL: &str = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";
const MY_WAITLIST: &str = "{ myWaitlist { id status ahead offeredUntil slot { id remaining } } }";
const JOIN: &str =
    "mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { id status ahead } }";

async fn run_jobs(app: &TestApp) -> bangban_server::jobs::Ran {
    bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap()
}

fn at(day: &str, time: &str) -> chrono::DateTime<chrono::Utc> {
    china_instant(
        NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
        NaiveTime::parse_from_str(time, "%H:%M").unwrap(),
    )
}

/// The China date before `day` (YYYY-MM-DD).
fn previous_day(day: &str) -> String {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .pred_opt()
        .unwrap()
        .to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn event_count(app: &TestApp, kind: &str) -> usize {
    app.dump_table("events")
        .await
        .lines()
        .filter(|l| l.contains(kind))
        .count()
}

fn join_input(desk: &Desk, slot: &str) -> Value {
    json!({"input": {"servicePointId": desk.point, "slotId": slot, "itemId": desk.item, "kind": "CONSULT"}})
}

#[tokio::test]
async fn a_freed_seat_is_held_for_the_first_in_line_and_passes_on_when_unclaimed() {
    let desk = desk(1).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let slot = id(&slots[0]);
    let holder = app.login_resident("holder").await;
    let first = app.login_resident("first-in-line").await;
    let second = app.login_resident("second-in-line").await;
    let outsider = app.login_resident("outsider").await;
    let booking =
        expect_data(&app.as_(&holder, BOOK, desk.input(&slot, "h")).await)["bookAppointment"]
            .clone();
    expect_error(
        &app.as_(&first, BOOK, desk.input(&slot, "f")).await,
        "SLOT_FULL",
    );

    // Joining: only full slots, once, not by the holder.
    expect_error(
        &app.as_(&first, JOIN, join_input(&desk, &id(&slots[1])))
            .await,
        "INVALID_TRANSITION",
    );
    expect_error(
        &app.as_(&holder, JOIN, join_input(&desk, &slot)).await,
        "CONFLICT",
    );
    let a =
        expect_data(&app.as_(&first, JOIN, join_input(&desk, &slot)).await)["joinWaitlist"].clone();
    assert_eq!(
        (a["status"].as_str(), a["ahead"].as_u64()),
        (Some("WAITING"), Some(0))
    );
    expect_error(
        &app.as_(&first, JOIN, join_input(&desk, &slot)).await,
        "CONFLICT",
    );
    let b = expect_data(&app.as_(&second, JOIN, join_input(&desk, &slot)).await)["joinWaitlist"]
        .clone();
    assert_eq!(b["ahead"], 1);

    // The holder cancels: the seat is held for the first in line, not put back on sale.
    expect_data(&app.as_(&holder, CANCEL, json!({"id": booking["id"]})).await);
    let mine = expect_data(&app.as_(&first, MY_WAITLIST, json!({})).await)["myWaitlist"][0].clone();
    assert_eq!(mine["status"], "OFFERED");
    assert_eq!(mine["slot"]["remaining"], 0, "the seat is held");
    let until =
        chrono::DateTime::parse_from_rfc3339(mine["offeredUntil"].as_str().unwrap()).unwrap();
    let expected = app.clock.now() + Duration::minutes(15);
    assert!(
        (until.with_timezone(&chrono::Utc) - expected)
            .num_milliseconds()
            .abs()
            < 1,
        "held for the point's 15 minutes: {until} vs {expected}"
    );
    expect_error(
        &app.as_(&outsider, BOOK, desk.input(&slot, "o")).await,
        "SLOT_FULL",
    );
    assert_eq!(
        expect_data(&app.as_(&second, MY_WAITLIST, json!({})).await)["myWaitlist"][0]["ahead"],
        0
    );
    assert!(
        event_count(app, "waitlist.offered").await >= 1,
        "the offer is an event (push + live)"
    );

    // Unclaimed for the hold time: the offer passes to the next in line.
    app.clock.advance(Duration::minutes(16));
    let ran = run_jobs(app).await;
    assert_eq!(ran.count("booking", "waitlist_ended"), 1);
    let first = app.refresh(&first).await;
    let second = app.refresh(&second).await;
    expect_error(
        &app.as_(
            &first,
            "mutation($id: ID!) { claimWaitlistOffer(id: $id) { id } }",
            json!({"id": a["id"]}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    let offered =
        expect_data(&app.as_(&second, MY_WAITLIST, json!({})).await)["myWaitlist"][0].clone();
    assert_eq!(offered["status"], "OFFERED");
    // Someone else's offer is not theirs to claim.
    expect_error(
        &app.as_(
            &first,
            "mutation($id: ID!) { claimWaitlistOffer(id: $id) { id } }",
            json!({"id": b["id"]}),
        )
        .await,
        "NOT_FOUND",
    );
    let claimed = expect_data(&app.as_(&second, "mutation($id: ID!) { claimWaitlistOffer(id: $id) { code status slot { id remaining } } }", json!({"id": b["id"]})).await)["claimWaitlistOffer"].clone();
    assert_eq!(claimed["status"], "BOOKED");
    assert_eq!(claimed["slot"]["id"], slot.as_str());
    assert_eq!(claimed["slot"]["remaining"], 0);
    expect_error(
        &app.as_(
            &second,
            "mutation($id: ID!) { claimWaitlistOffer(id: $id) { id } }",
            json!({"id": b["id"]}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    assert_eq!(app.dump_table("bookings").await.lines().count(), 2);
    assert_eq!(
        run_jobs(app).await.count("booking", "waitlist_ended"),
        0,
        "nothing left to expire"
    );
}

#[tokio::test]
async fn leaving_with_an_offer_passes_the_seat_on_and_an_empty_line_puts_it_back_on_sale() {
    let desk = desk(1).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let slot = id(&slots[0]);
    let holder = app.login_resident("holder").await;
    let waiting = app.login_resident("waiting").await;
    let booking =
        expect_data(&app.as_(&holder, BOOK, desk.input(&slot, "h")).await)["bookAppointment"]
            .clone();
    let entry =
        expect_data(&app.as_(&waiting, JOIN, join_input(&desk, &slot)).await)["joinWaitlist"]
            .clone();
    expect_data(&app.as_(&holder, CANCEL, json!({"id": booking["id"]})).await);
    let left = expect_data(
        &app.as_(
            &waiting,
            "mutation($id: ID!) { leaveWaitlist(id: $id) { status slot { remaining } } }",
            json!({"id": entry["id"]}),
        )
        .await,
    )["leaveWaitlist"]
        .clone();
    assert_eq!(left["status"], "LEFT");
    assert_eq!(
        left["slot"]["remaining"], 1,
        "nobody else waits: the seat is on sale again"
    );
    expect_data(&app.as_(&holder, BOOK, desk.input(&slot, "again")).await);
}

async fn admin_policy(app: &TestApp, admin: &Session, point: &str, overrides: Value) {
    let mut input = json!({"slotMinutes": 30, "seatsPerAgent": 1, "windowDays": 14, "minNoticeMinutes": 60,
        "cancelCutoffMinutes": 120, "maxOpenBookings": 3});
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    expect_data(&app.as_(admin, "mutation($p: ID!, $i: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $i) { noShowLimit } }", json!({"p": point, "i": input})).await);
}

#[tokio::test]
async fn repeated_no_shows_suspend_online_booking_until_the_county_lifts_it_on_appeal() {
    let desk = desk(2).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    admin_policy(
        app,
        &county,
        &desk.point,
        json!({"noShowLimit": 2, "noShowBanDays": 30, "graceMinutes": 15}),
    )
    .await;
    // A later change names only what it changes; the rest stays.
    let kept = expect_data(&app.as_(&county, "mutation($p: ID!) { setBookingPolicy(servicePointId: $p, input: {holdMinutes: 20}) { noShowLimit holdMinutes windowDays } }", json!({"p": desk.point})).await);
    assert_eq!(
        kept["setBookingPolicy"],
        json!({"noShowLimit": 2, "holdMinutes": 20, "windowDays": 14})
    );
    let (day, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("absent-minded").await;
    let other = app.login_resident("someone-else").await;
    for (n, slot) in slots.iter().take(2).enumerate() {
        expect_data(
            &app.as_(
                &resident,
                BOOK,
                desk.input(slot["id"].as_str().unwrap(), &format!("n{n}")),
            )
            .await,
        );
    }
    let kept = expect_data(
        &app.as_(
            &other,
            BOOK,
            desk.input(slots[0]["id"].as_str().unwrap(), "kept"),
        )
        .await,
    )["bookAppointment"]
        .clone();

    // The first slot ends at 09:30; 14 minutes later is still within the grace period.
    app.clock.set(at(&day, "09:44"));
    let ran = run_jobs(app).await;
    assert_eq!(ran.count("booking", "no_shows"), 0);
    // The other resident checks in at the desk in time and is not a no-show.
    let county = app.refresh(&county).await;
    let code = kept["code"].as_str().unwrap();
    expect_data(&app.as_(&county, "mutation($p: ID!, $c: String) { checkInAtDesk(servicePointId: $p, bookingCode: $c) { label } }", json!({"p": desk.point, "c": code})).await);

    app.clock.set(at(&day, "23:00"));
    let ran = run_jobs(app).await;
    assert_eq!(
        (
            ran.count("booking", "no_shows"),
            ran.count("booking", "restrictions")
        ),
        (2, 1)
    );
    assert_eq!(
        run_jobs(app).await.count("booking", "no_shows"),
        0,
        "each booking becomes a no-show once"
    );
    let resident = app.refresh(&resident).await;
    let other = app.refresh(&other).await;
    let county = app.refresh(&county).await;
    let statuses: Vec<String> = expect_data(
        &app.as_(&resident, "{ myBookings { status } }", json!({}))
            .await,
    )["myBookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, vec!["NO_SHOW", "NO_SHOW"]);
    assert_eq!(
        expect_data(
            &app.as_(&other, "{ myBookings { status } }", json!({}))
                .await
        )["myBookings"][0]["status"],
        "BOOKED"
    );

    let (_, later) = desk.next_day_slots().await;
    let later_slot = later[0]["id"].as_str().unwrap().to_string();
    expect_error(
        &app.as_(&resident, BOOK, desk.input(&later_slot, "blocked"))
            .await,
        "BOOKING_RESTRICTED",
    );
    let restriction = expect_data(
        &app.as_(
            &resident,
            "{ myBookingRestrictions { id status reason until } }",
            json!({}),
        )
        .await,
    )["myBookingRestrictions"][0]
        .clone();
    assert_eq!(restriction["status"], "ACTIVE");

    // Appeal: once, by the resident only; decided by the county only.
    let appeal = "mutation($id: ID!, $r: String!) { appealBookingRestriction(id: $id, reason: $r) { status appeal } }";
    expect_error(
        &app.as_(&other, appeal, json!({"id": restriction["id"], "r": "x"}))
            .await,
        "NOT_FOUND",
    );
    expect_error(
        &app.as_(
            &resident,
            appeal,
            json!({"id": restriction["id"], "r": "  "}),
        )
        .await,
        "BAD_USER_INPUT",
    );
    let appealed = expect_data(
        &app.as_(
            &resident,
            appeal,
            json!({"id": restriction["id"], "r": "家中有急事，已提前电话告知"}),
        )
        .await,
    )["appealBookingRestriction"]
        .clone();
    assert_eq!(appealed["status"], "APPEALED");
    expect_error(
        &app.as_(
            &resident,
            appeal,
            json!({"id": restriction["id"], "r": "again"}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    expect_error(
        &app.as_(&resident, BOOK, desk.input(&later_slot, "still"))
            .await,
        "BOOKING_RESTRICTED",
    );
    let decide = "mutation($id: ID!, $l: Boolean!, $d: String!) { decideRestrictionAppeal(id: $id, lift: $l, decision: $d) { status decision } }";
    let town = app.refresh(&town).await;
    expect_error(
        &app.as_(
            &town,
            decide,
            json!({"id": restriction["id"], "l": true, "d": "x"}),
        )
        .await,
        "FORBIDDEN",
    );
    let pending = expect_data(
        &app.as_(&county, "{ restrictionAppeals { id } }", json!({}))
            .await,
    )["restrictionAppeals"]
        .clone();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let lifted = expect_data(
        &app.as_(
            &county,
            decide,
            json!({"id": restriction["id"], "l": true, "d": "情况属实，予以解除"}),
        )
        .await,
    )["decideRestrictionAppeal"]
        .clone();
    assert_eq!(lifted["status"], "LIFTED");
    expect_error(
        &app.as_(
            &county,
            decide,
            json!({"id": restriction["id"], "l": false, "d": "x"}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    expect_data(
        &app.as_(&resident, BOOK, desk.input(&later_slot, "free-again"))
            .await,
    );
    let ledger = app.dump_table("ledger_entries").await;
    assert_eq!(
        ledger.lines().filter(|l| l.contains("no_show")).count(),
        2,
        "each no-show is in the ledger"
    );
}

#[tokio::test]
async fn reminders_go_the_day_before_and_shortly_before_only_to_active_bookings_once() {
    let desk = desk(2).await;
    let app = &desk.app;
    let (day, slots) = desk.next_day_slots().await;
    // Booked on the morning before, so the day-before reminder's moment is still ahead
    // whatever the time of day the suite runs at.
    app.clock.set(at(&previous_day(&day), "08:00"));
    let resident = app.login_resident("reminded").await;
    let quitter = app.login_resident("quitter").await;
    let slot = slots[2]["id"].as_str().unwrap().to_string(); // 10:00
    let starts = chrono::DateTime::parse_from_rfc3339(slots[2]["startsAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    expect_data(&app.as_(&resident, BOOK, desk.input(&slot, "r")).await);
    let cancelled =
        expect_data(&app.as_(&quitter, BOOK, desk.input(&slot, "q")).await)["bookAppointment"]
            .clone();
    expect_data(
        &app.as_(&quitter, CANCEL, json!({"id": cancelled["id"]}))
            .await,
    );

    let day_before = previous_day(&day);
    let table = [
        (at(&day_before, "17:59"), 0),
        (at(&day_before, "18:00"), 1),
        (at(&day_before, "18:05"), 0),
        (starts - Duration::minutes(61), 0),
        (starts - Duration::minutes(60), 1),
        (starts - Duration::minutes(30), 0),
    ];
    for (now, expected) in table {
        app.clock.set(now);
        assert_eq!(
            run_jobs(app).await.count("booking", "reminders"),
            expected,
            "at {now}"
        );
    }
    let events = app.dump_table("events").await;
    let reminders: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("booking.reminder"))
        .collect();
    assert_eq!(
        reminders.len(),
        2,
        "two, both for the active booking: {events}"
    );
    assert!(reminders.iter().any(|l| l.contains("day_before")));
    assert!(reminders.iter().any(|l| l.contains("soon")));
}

#[tokio::test]
async fn unreviewed_bookings_are_flagged_overdue_after_the_review_hours() {
    let desk = desk(1).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("waiting-for-review").await;
    let later = slots.last().unwrap()["id"].as_str().unwrap().to_string();
    let booking =
        expect_data(&app.as_(&resident, BOOK, desk.input(&later, "k")).await)["bookAppointment"]
            .clone();
    app.clock.advance(Duration::minutes(30));
    assert_eq!(run_jobs(app).await.count("booking", "overdue"), 0);
    // Well past eight opening hours of working days.
    app.clock.advance(Duration::days(4));
    let ran = run_jobs(app).await;
    assert_eq!(ran.count("booking", "overdue"), 1);
    assert_eq!(
        run_jobs(app).await.count("booking", "overdue"),
        0,
        "flagged once"
    );
    assert!(
        ran.count("booking", "keys_pruned") >= 1,
        "idempotency keys older than 48 h are pruned"
    );
    let resident = app.refresh(&resident).await;
    let mine = expect_data(
        &app.as_(&resident, "{ myBookings { id reviewOverdue } }", json!({}))
            .await,
    )["myBookings"][0]
        .clone();
    assert_eq!(mine["id"], booking["id"]);
    assert_eq!(mine["reviewOverdue"], true);
    assert!(event_count(app, "booking.review_overdue").await >= 1);
}

use crate::desk_races::{ON_BEHALF, resident_with_phone};

#[tokio::test]
async fn residents_reschedule_and_staff_act_on_their_behalf_with_the_channel_recorded() {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        ..Options::default()
    })
    .await;
    let desk = desk_on(app, 2).await;
    let app = &desk.app;
    let (day, slots) = desk.next_day_slots().await;
    let resident = resident_with_phone(app, &fake, "mover", "13800138011").await;
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let booked = expect_data(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[0]), "m"))
            .await,
    )["bookAppointment"]
        .clone();

    // The resident moves it: same booking and code, seats follow.
    let reschedule = "mutation($id: ID!, $s: ID!, $o: OnBehalfInput) { rescheduleBooking(id: $id, slotId: $s, onBehalf: $o) { id code status channel slot { id remaining } } }";
    let moved = expect_data(
        &app.as_(
            &resident,
            reschedule,
            json!({"id": booked["id"], "s": slots[1]["id"]}),
        )
        .await,
    )["rescheduleBooking"]
        .clone();
    assert_eq!(
        (moved["id"].clone(), moved["code"].clone()),
        (booked["id"].clone(), booked["code"].clone())
    );
    assert_eq!(moved["slot"]["id"], slots[1]["id"]);
    assert_eq!(moved["slot"]["remaining"], 1);
    let (_, now_slots) = desk.next_day_slots().await;
    assert_eq!(now_slots[0]["remaining"], 2, "the old seat is back");
    expect_error(
        &app.as_(
            &resident,
            reschedule,
            json!({"id": booked["id"], "s": slots[1]["id"]}),
        )
        .await,
        "BAD_USER_INPUT",
    );
    expect_error(
        &app.as_(
            &resident,
            reschedule,
            json!({"id": booked["id"], "s": uuid::Uuid::now_v7().to_string()}),
        )
        .await,
        "BAD_USER_INPUT",
    );
    expect_error(
        &app.as_(
            &resident,
            reschedule,
            json!({"id": booked["id"], "s": slots[2]["id"], "o": {"channel": "PHONE"}}),
        )
        .await,
        "BAD_USER_INPUT",
    );

    // Staff book for the resident by their bound phone number.
    let input = |channel: &str, consent: Value, phone: &str, key: &str| {
        json!({"input": {"residentPhone": phone,
        "onBehalf": {"channel": channel, "consent": consent},
        "booking": {"servicePointId": desk.point, "slotId": slots[3]["id"], "itemId": desk.item, "kind": "PROXY", "idempotencyKey": key}}})
    };
    let consent = expect_error(
        &app.as_(
            &agent,
            ON_BEHALF,
            input("AGENT_ON_BEHALF", Value::Null, "13800138011", "a"),
        )
        .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(consent["extensions"]["field"], "input.onBehalf.consent");
    let unknown = expect_error(
        &app.as_(
            &agent,
            ON_BEHALF,
            input("PHONE", Value::Null, "13900139099", "b"),
        )
        .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(unknown["extensions"]["field"], "input.residentPhone");
    let mut other_slot = input("PHONE", Value::Null, "13800138011", "s");
    other_slot["input"]["booking"]["slotId"] = json!(uuid::Uuid::now_v7().to_string());
    let refused = expect_error(
        &app.as_(&agent, ON_BEHALF, other_slot).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(refused["extensions"]["field"], "input.booking.slotId");
    expect_error(
        &app.as_(
            &agent,
            ON_BEHALF,
            input("ONLINE", Value::Null, "13800138011", "c"),
        )
        .await,
        "BAD_USER_INPUT",
    );
    expect_error(
        &app.as_(
            &resident,
            ON_BEHALF,
            input("PHONE", Value::Null, "13800138011", "d"),
        )
        .await,
        "FORBIDDEN",
    );
    let on_behalf = expect_data(
        &app.as_(
            &agent,
            ON_BEHALF,
            input(
                "AGENT_ON_BEHALF",
                json!("2026-11-27 电话录音 #1024"),
                "13800138011",
                "e",
            ),
        )
        .await,
    )["bookOnBehalf"]
        .clone();
    assert_eq!(on_behalf["channel"], "AGENT_ON_BEHALF");
    let again = expect_data(
        &app.as_(
            &agent,
            ON_BEHALF,
            input(
                "AGENT_ON_BEHALF",
                json!("2026-11-27 电话录音 #1024"),
                "13800138011",
                "e",
            ),
        )
        .await,
    )["bookOnBehalf"]
        .clone();
    assert_eq!(again["id"], on_behalf["id"], "idempotent for staff too");
    let mine = expect_data(
        &app.as_(&resident, "{ myBookings { id channel } }", json!({}))
            .await,
    )["myBookings"]
        .clone();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == on_behalf["id"])
    );

    // The agent moves the other booking to a later slot the same day.
    let moved_by_staff = expect_data(
        &app.as_(
            &agent,
            reschedule,
            json!({"id": booked["id"], "s": slots[5]["id"], "o": {"channel": "WINDOW"}}),
        )
        .await,
    )["rescheduleBooking"]
        .clone();
    assert_eq!(moved_by_staff["slot"]["id"], slots[5]["id"]);

    // Inside the cancel cutoff the resident must call; the agent cancels for them.
    let starts = chrono::DateTime::parse_from_rfc3339(slots[3]["startsAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.set(starts - Duration::minutes(30));
    let resident = app.refresh(&resident).await;
    let agent = app.refresh(&agent).await;
    let cancel =
        "mutation($id: ID!, $o: OnBehalfInput) { cancelBooking(id: $id, onBehalf: $o) { status } }";
    expect_error(
        &app.as_(&resident, cancel, json!({"id": on_behalf["id"]}))
            .await,
        "INVALID_TRANSITION",
    );
    let field = expect_error(
        &app.as_(&agent, cancel, json!({"id": on_behalf["id"]}))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(field["extensions"]["field"], "onBehalf");
    let done = expect_data(
        &app.as_(
            &agent,
            cancel,
            json!({"id": on_behalf["id"], "o": {"channel": "PHONE"}}),
        )
        .await,
    );
    assert_eq!(done["cancelBooking"]["status"], "CANCELLED");
    let ledger = app.dump_table("ledger_entries").await;
    for needle in [
        "agent_on_behalf",
        "phone",
        "window",
        "rescheduled",
        "cancelled",
    ] {
        assert!(ledger.contains(needle), "ledger records {needle}: {ledger}");
    }
    let _ = day;
}

#[tokio::test]
async fn an_agent_off_duty_for_a_day_lowers_capacity_but_never_below_what_is_booked() {
    let desk = desk(2).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let (day, slots) = desk.next_day_slots().await;
    assert_eq!(slots[0]["remaining"], 2);
    let a = app.login_resident("a").await;
    let b = app.login_resident("b").await;
    expect_data(&app.as_(&a, BOOK, desk.input(&id(&slots[0]), "a")).await);
    let b_booking =
        expect_data(&app.as_(&b, BOOK, desk.input(&id(&slots[0]), "b")).await)["bookAppointment"]
            ["id"]
            .clone();
    expect_data(&app.as_(&a, BOOK, desk.input(&id(&slots[1]), "a1")).await);
    let agents = expect_data(
        &app.as_(
            &county,
            "query($r: ID) { staffMembers(regionId: $r) { id username } }",
            json!({"r": app.region_id(LONGGANG).await}),
        )
        .await,
    )["staffMembers"]
        .clone();
    let agent = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["username"] == "lg.agent1")
        .unwrap()["id"]
        .clone();
    let duty = "mutation($s: ID!, $d: NaiveDate!, $on: Boolean!) { setStaffDutyDay(staffId: $s, day: $d, onDuty: $on) { overbookedSlots { id booked capacity } } }";
    let change = expect_data(
        &app.as_(&county, duty, json!({"s": agent, "d": day, "on": false}))
            .await,
    )["setStaffDutyDay"]
        .clone();
    let overbooked = change["overbookedSlots"].as_array().unwrap();
    assert_eq!(overbooked.len(), 1, "{change}");
    assert_eq!(overbooked[0]["id"], slots[0]["id"]);
    assert_eq!(
        (
            overbooked[0]["booked"].as_i64(),
            overbooked[0]["capacity"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let all = expect_data(&app.as_(&county, "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { id capacity booked } }", json!({"p": desk.point, "d": day})).await)["pointSlots"].clone();
    assert_eq!(all[1]["capacity"], 1);
    assert_eq!(all[2]["capacity"], 1, "one agent left: one seat");
    // A booking leaves the overbooked slot: it shrinks back to one seat, not back on sale.
    expect_data(&app.as_(&b, CANCEL, json!({"id": b_booking})).await);
    let c = app.login_resident("c").await;
    expect_error(
        &app.as_(&c, BOOK, desk.input(&id(&slots[0]), "c")).await,
        "SLOT_FULL",
    );
    let all = expect_data(&app.as_(&county, "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { capacity booked } }", json!({"p": desk.point, "d": day})).await)["pointSlots"].clone();
    assert_eq!(all[0], json!({"capacity": 1, "booked": 1}));
    // Back on duty: capacity returns.
    expect_data(
        &app.as_(&county, duty, json!({"s": agent, "d": day, "on": true}))
            .await,
    );
    let all = expect_data(&app.as_(&county, "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { capacity } }", json!({"p": desk.point, "d": day})).await)["pointSlots"].clone();
    assert_eq!(all[2]["capacity"], 2);
    expect_error(
        &app.as_(
            &county,
            duty,
            json!({"s": agent, "d": "2020-01-06", "on": false}),
        )
        .await,
        "BAD_USER_INPUT",
    );
    let town_agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let refused = app
        .as_(
            &town_agent,
            duty,
            json!({"s": agent, "d": day, "on": false}),
        )
        .await;
    let code = refused["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default();
    assert!(
        code == "FORBIDDEN" || code == "NOT_FOUND",
        "agents do not set duty: {refused}"
    );
}

#[tokio::test]
async fn a_full_slot_is_answered_from_the_admission_counter_until_a_seat_comes_free() {
    let desk = desk(2).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let slot = id(&slots[0]);
    let counter = bangban_server::booking::seats::seats_key(uuid::Uuid::parse_str(&slot).unwrap());
    let seats = || async { app.state.store.get(&counter).await.unwrap() };
    let a = app.login_resident("a").await;
    let b = app.login_resident("b").await;
    let c = app.login_resident("c").await;
    assert_eq!(seats().await, None, "created by the first attempt");
    let booking =
        expect_data(&app.as_(&a, BOOK, desk.input(&slot, "a")).await)["bookAppointment"].clone();
    assert_eq!(
        seats().await.as_deref(),
        Some("1"),
        "two seats, one admitted"
    );
    // A refused attempt (a bad note) gives its admission back.
    let mut bad = desk.input(&slot, "bad");
    bad["input"]["note"] = json!("x".repeat(201));
    expect_error(&app.as_(&b, BOOK, bad).await, "BAD_USER_INPUT");
    assert_eq!(seats().await.as_deref(), Some("1"));
    expect_data(&app.as_(&b, BOOK, desk.input(&slot, "b")).await);
    assert_eq!(seats().await.as_deref(), Some("0"));
    // Sold out: answered from the counter; a retry of a winning request still gets its booking.
    expect_error(
        &app.as_(&c, BOOK, desk.input(&slot, "c")).await,
        "SLOT_FULL",
    );
    let retry =
        expect_data(&app.as_(&a, BOOK, desk.input(&slot, "a")).await)["bookAppointment"].clone();
    assert_eq!(retry["id"], booking["id"]);
    // A freed seat resets the counter; the next attempt reads the seats left again.
    expect_data(&app.as_(&a, CANCEL, json!({"id": booking["id"]})).await);
    assert_eq!(seats().await, None, "reset when a seat frees");
    expect_data(&app.as_(&c, BOOK, desk.input(&slot, "c2")).await);
    assert_eq!(seats().await.as_deref(), Some("0"));
    assert_eq!(app.dump_table("bookings").await.lines().count(), 3);
}

#[tokio::test]
async fn booking_attempts_are_limited_per_address_and_per_resident_with_a_retry_after() {
    let app = TestApp::spawn_with(Options {
        demo: true,
        tweak: Some(Box::new(|s| {
            s.limits.book_per_ip_per_minute = 4;
            s.limits.book_per_user_per_minute = 3;
        })),
        ..Options::default()
    })
    .await;
    let desk = desk_on(app, 3).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let a = app.login_resident("eager").await;
    let b = app.login_resident("also-eager").await;
    for (n, slot) in slots.iter().take(3).enumerate() {
        expect_data(
            &app.as_(&a, BOOK, desk.input(&id(slot), &format!("a{n}")))
                .await,
        );
    }
    // The resident's fourth attempt in a minute is refused; it still counts for the address.
    let limited = expect_error(
        &app.as_(&a, BOOK, desk.input(&id(&slots[3]), "a3")).await,
        "RATE_LIMITED",
    );
    assert!(
        limited["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{limited}"
    );
    // Same address, another resident well within their own limit: the address allows four.
    // (Attempts: a0 a1 a2 a3 → the address is spent.)
    expect_error(
        &app.as_(&b, BOOK, desk.input(&id(&slots[5]), "b0")).await,
        "RATE_LIMITED",
    );
    assert_eq!(
        app.dump_table("bookings").await.lines().count(),
        3,
        "refused attempts wrote nothing"
    );
}

#[tokio::test]
async fn the_booking_window_and_the_minimum_notice_are_enforced_with_the_field_named() {
    let desk = desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let resident = app.login_resident("planner").await;
    // Slots a week ahead exist; then the window shrinks to two days.
    let today = bangban_server::clock::local_date(app.clock.now());
    let week = expect_data(
        &app.graphql(
            None,
            "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 5) { date } }",
            json!({"d": today.to_string()}),
        )
        .await,
    )["addWorkingDays"]["date"]
        .as_str()
        .unwrap()
        .to_string();
    let far = expect_data(&app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id } }", json!({"p": desk.point, "d": week})).await)["availableSlots"][0]["id"].as_str().unwrap().to_string();
    admin_policy(app, &county, &desk.point, json!({"windowDays": 2})).await;
    let refused = expect_error(
        &app.as_(&resident, BOOK, desk.input(&far, "far")).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(refused["extensions"]["field"], "input.slotId");
    assert!(
        refused["message"].as_str().unwrap().contains("2 days"),
        "{refused}"
    );
    // Minimum notice: 60 minutes before the first slot of the next working day.
    admin_policy(app, &county, &desk.point, json!({})).await;
    let (_, slots) = desk.next_day_slots().await;
    let starts = chrono::DateTime::parse_from_rfc3339(slots[0]["startsAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.set(starts - Duration::minutes(59));
    let resident = app.refresh(&resident).await;
    let near = expect_error(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[0]), "near"))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(near["extensions"]["field"], "input.slotId");
    app.clock.set(starts + Duration::minutes(1));
    let resident = app.refresh(&resident).await;
    expect_error(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[0]), "past"))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(app.dump_table("bookings").await.lines().count(), 0);
}

#[tokio::test]
async fn numbers_the_desk_never_finished_are_closed_after_the_day_so_bookings_stop_counting() {
    let desk = desk(1).await;
    let app = &desk.app;
    let (day, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("forgotten").await;
    let booking = expect_data(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[0]), "f"))
            .await,
    )["bookAppointment"]
        .clone();
    app.clock.set(at(&day, "08:50"));
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let check_in = "mutation($p: ID!, $c: String) { checkInAtDesk(servicePointId: $p, bookingCode: $c) { id label status } }";
    expect_data(
        &app.as_(
            &county,
            check_in,
            json!({"p": desk.point, "c": booking["code"]}),
        )
        .await,
    );
    expect_data(&app.as_(&county, check_in, json!({"p": desk.point})).await);
    app.clock.set(at(&day, "23:30"));
    assert_eq!(
        run_jobs(app).await.count("booking", "unfinished"),
        0,
        "not before the day is over"
    );
    let next = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .unwrap()
        .succ_opt()
        .unwrap()
        .to_string();
    app.clock.set(at(&next, "00:05"));
    let ran = run_jobs(app).await;
    assert_eq!(
        (
            ran.count("booking", "unfinished"),
            ran.count("booking", "no_shows")
        ),
        (2, 0)
    );
    assert_eq!(
        run_jobs(app).await.count("booking", "unfinished"),
        0,
        "closed once"
    );
    let resident = app.refresh(&resident).await;
    let mine = expect_data(
        &app.as_(&resident, "{ myBookings { status } }", json!({}))
            .await,
    );
    assert_eq!(mine["myBookings"][0]["status"], "UNFINISHED");
    let ledger = app.dump_table("ledger_entries").await;
    assert_eq!(
        ledger.lines().filter(|l| l.contains("unfinished")).count(),
        2,
        "{ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_reach_wechat_as_subscribe_messages_within_the_residents_consent() {
    const TEMPLATE: &str = "TPL-BOOKING-REMINDER";
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(|s| {
            s.push.templates = vec![bangban_server::config::TemplateSettings {
                event_kind: "booking.reminder".into(),
                template_id: TEMPLATE.into(),
                page: Some("pages/bookings/index".into()),
                long_term: false,
                data: [
                    ("thing1", "point"),
                    ("time2", "startsAt"),
                    ("character_string3", "code"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                recipients: Default::default(),
            }];
        })),
        ..Options::default()
    })
    .await;
    let desk = desk_on(app, 2).await;
    let app = &desk.app;
    let (day, slots) = desk.next_day_slots().await;
    // Booked on the morning before (see above): the day-before reminder is still due.
    app.clock.set(at(&previous_day(&day), "08:00"));
    let login = |openid: &'static str| {
        let fake = fake.clone();
        async move {
            Session::from_payload(
                &app.login_with_code(&fake.login_code(openid)).await["data"]["loginWithWechat"],
            )
        }
    };
    let resident = login("openid-reminded").await;
    let quitter = login("openid-quitter").await;
    for (openid, session) in [("openid-reminded", &resident), ("openid-quitter", &quitter)] {
        fake.grant(openid, TEMPLATE, 2);
        expect_data(&app.as_(session, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-BOOKING-REMINDER\", status: ACCEPT}, {templateId: \"TPL-BOOKING-REMINDER\", status: ACCEPT}]) { credits } }", json!({})).await);
    }
    let booking = expect_data(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[2]), "r"))
            .await,
    )["bookAppointment"]
        .clone();
    let dropped = expect_data(
        &app.as_(&quitter, BOOK, desk.input(&id(&slots[2]), "q"))
            .await,
    )["bookAppointment"]
        .clone();
    expect_data(
        &app.as_(&quitter, CANCEL, json!({"id": dropped["id"]}))
            .await,
    );

    let day_before = previous_day(&day);
    app.clock.set(at(&day_before, "18:00"));
    assert_eq!(run_jobs(app).await.count("booking", "reminders"), 1);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while fake.sent().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["touser"], "openid-reminded");
    assert_eq!(sent[0]["template_id"], TEMPLATE);
    assert_eq!(
        sent[0]["data"]["character_string3"]["value"],
        booking["code"]
    );
    assert!(
        sent[0]["data"]["time2"]["value"]
            .as_str()
            .unwrap()
            .contains("10:00"),
        "{sent:?}"
    );
    assert!(
        !sent[0]["data"]["thing1"]["value"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // Running the jobs again sends nothing more; the cancelled booking never gets a message.
    assert_eq!(run_jobs(app).await.count("booking", "reminders"), 0);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(fake.sent().len(), 1);
    assert!(fake.sent().iter().all(|m| m["touser"] != "openid-quitter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_in_opposite_directions_at_once_never_deadlock_or_overbook() {
    let desk = desk(2).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let (s0, s1) = (id(&slots[0]), id(&slots[1]));
    let a = app.login_resident("east").await;
    let b = app.login_resident("west").await;
    let ba = expect_data(&app.as_(&a, BOOK, desk.input(&s0, "a")).await)["bookAppointment"]["id"]
        .clone();
    let bb = expect_data(&app.as_(&b, BOOK, desk.input(&s1, "b")).await)["bookAppointment"]["id"]
        .clone();
    let reschedule =
        "mutation($id: ID!, $s: ID!) { rescheduleBooking(id: $id, slotId: $s) { slot { id } } }";
    for round in 0..6 {
        let (to_a, to_b) = if round % 2 == 0 {
            (&s1, &s0)
        } else {
            (&s0, &s1)
        };
        let (ra, rb) = tokio::join!(
            app.as_(&a, reschedule, json!({"id": ba, "s": to_a})),
            app.as_(&b, reschedule, json!({"id": bb, "s": to_b}))
        );
        assert_eq!(
            expect_data(&ra)["rescheduleBooking"]["slot"]["id"],
            to_a.as_str()
        );
        assert_eq!(
            expect_data(&rb)["rescheduleBooking"]["slot"]["id"],
            to_b.as_str()
        );
    }
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let day = expect_data(
        &app.as_(
            &county,
            "query($p: ID!, $d: NaiveDate!) { pointSlots(servicePointId: $p, day: $d) { booked } }",
            json!({"p": desk.point, "d": slots[0]["startsAt"].as_str().unwrap()[..10].to_string()}),
        )
        .await,
    );
    let booked: i64 = day["pointSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["booked"].as_i64().unwrap())
        .sum();
    assert_eq!(booked, 2, "two bookings, two seats: {day}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_requests_of_one_resident_never_pass_the_open_booking_cap() {
    let desk = desk(2).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("racer").await;
    let attempts = slots
        .iter()
        .take(6)
        .enumerate()
        .map(|(n, slot)| app.as_(&resident, BOOK, desk.input(&id(slot), &format!("race-{n}"))));
    let results = futures_util::future::join_all(attempts).await;
    let made = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(
        made, 3,
        "the default cap is three open bookings: {results:?}"
    );
    for refused in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(
            expect_error(refused, "BAD_USER_INPUT")["extensions"]["field"],
            "input"
        );
    }
    assert_eq!(app.dump_table("bookings").await.lines().count(), 3);
}

#[tokio::test]
async fn the_ledger_of_a_whole_jurisdiction_names_applicants_in_full_only_at_the_readers_desk() {
    let desk = desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let other_town = app
        .staff_session("zc.admin", Role::TownshipAdmin, "140521101")
        .await;
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let village_point = |code: &'static str| async move {
        let region = app.region_id(code).await;
        expect_data(
            &app.graphql(
                None,
                "query($r: ID) { servicePoints(regionId: $r, kind: VILLAGE_POINT) { id } }",
                json!({"r": region}),
            )
            .await,
        )["servicePoints"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let chengnei = village_point(crate::directory::CHENGNEI).await;
    let zhongcun = village_point(crate::directory::ZHONGCUN_VILLAGE).await;
    let record = "mutation($p: ID!, $n: String) { recordContact(input: {servicePointId: $p, channel: WINDOW, outcome: CONSULTED, applicantName: $n}) { id } }";
    expect_data(
        &app.as_(&agent, record, json!({"p": desk.point, "n": "张三丰"}))
            .await,
    );
    expect_data(
        &app.as_(&town, record, json!({"p": chengnei, "n": "李四光"}))
            .await,
    );
    expect_data(
        &app.as_(&other_town, record, json!({"p": zhongcun, "n": "王五"}))
            .await,
    );

    let now = app.clock.now();
    let window = json!({"f": (now - Duration::hours(1)).to_rfc3339(), "t": (now + Duration::hours(1)).to_rfc3339()});
    let read = |who: Session| {
        let window = window.clone();
        async move {
            let page = expect_data(&app.as_(&who, "query($f: DateTime!, $t: DateTime!) { ledger(from: $f, to: $t) { entries { applicant } } }", window).await);
            let mut names: Vec<String> = page["ledger"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["applicant"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(read(county.clone()).await, vec!["张三丰", "李四光", "王五"]);
    assert_eq!(read(town).await, vec!["张三丰", "李四光"]);
    assert_eq!(read(other_town).await, vec!["王五"]);
    let agents_view = read(agent).await;
    assert_eq!(agents_view.len(), 2);
    assert!(
        agents_view.contains(&"张三丰".to_string()),
        "their own desk: in full"
    );
    assert!(
        agents_view
            .iter()
            .any(|n| n.starts_with('李') && n != "李四光"),
        "another point's walk-in: masked: {agents_view:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_a_booking_reaches_the_resident_live_and_on_replay() {
    const MY_EVENTS: &str =
        "subscription($after: ID) { myEvents(after: $after) { id kind subjectId payload } }";
    let wait = std::time::Duration::from_secs(15);
    let desk = desk(2).await;
    let app = &desk.app;
    let (day, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("followed").await;
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let mut ws = WsClient::connect(app, Some(&resident.access)).await;
    ws.subscribe("mine", MY_EVENTS, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let book = |slot: &Value, key: &str| desk.input(&id(slot), key);
    let a =
        expect_data(&app.as_(&resident, BOOK, book(&slots[0], "a")).await)["bookAppointment"]["id"]
            .clone();
    expect_data(
        &app.as_(
            &agent,
            "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
            json!({"id": a}),
        )
        .await,
    );
    expect_data(
        &app.as_(
            &resident,
            "mutation($id: ID!, $s: ID!) { rescheduleBooking(id: $id, slotId: $s) { status } }",
            json!({"id": a, "s": slots[1]["id"]}),
        )
        .await,
    );
    let b =
        expect_data(&app.as_(&resident, BOOK, book(&slots[2], "b")).await)["bookAppointment"]["id"]
            .clone();
    expect_data(&app.as_(&agent, "mutation($id: ID!) { refuseBooking(id: $id, reasonCode: \"LEVEL\", explanation: \"请到县中心办理\") { status } }", json!({"id": b})).await);
    let c =
        expect_data(&app.as_(&resident, BOOK, book(&slots[3], "c")).await)["bookAppointment"]["id"]
            .clone();
    expect_data(&app.as_(&resident, CANCEL, json!({"id": c})).await);

    let expected = [
        ("booking.created", &a),
        ("booking.accepted", &a),
        ("booking.rescheduled", &a),
        ("booking.created", &b),
        ("booking.refused", &b),
        ("booking.created", &c),
        ("booking.cancelled", &c),
    ];
    let mut last = Value::Null;
    for (kind, subject) in expected {
        let event = ws.next_event("mine", "myEvents", wait).await;
        assert_eq!(
            (event["kind"].as_str(), &event["subjectId"]),
            (Some(kind), subject),
            "{event}"
        );
        last = event["id"].clone();
    }
    drop(ws);

    // The slot passes unattended: the no-show is waiting when the app reconnects.
    app.clock.set(at(&day, "23:00"));
    assert_eq!(run_jobs(app).await.count("booking", "no_shows"), 1);
    let resident = app.refresh(&resident).await;
    let mut ws = WsClient::connect(app, Some(&resident.access)).await;
    ws.subscribe("again", MY_EVENTS, json!({"after": last}))
        .await;
    let event = ws.next_event("again", "myEvents", wait).await;
    assert_eq!(
        (event["kind"].as_str(), &event["subjectId"]),
        (Some("booking.no_show"), &a)
    );
    assert_eq!(event["payload"]["status"], "no_show");
}

#[tokio::test]
async fn absent_when_called_counts_as_a_no_show_and_an_upheld_appeal_keeps_the_suspension() {
    let desk = desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    admin_policy(app, &county, &desk.point, json!({"noShowLimit": 1})).await;
    let (day, slots) = desk.next_day_slots().await;
    let resident = app.login_resident("wandered-off").await;
    let booking = expect_data(
        &app.as_(&resident, BOOK, desk.input(&id(&slots[0]), "w"))
            .await,
    )["bookAppointment"]
        .clone();
    app.clock.set(at(&day, "08:50"));
    let county = app.refresh(&county).await;
    let resident = app.refresh(&resident).await;
    expect_data(&app.as_(&county, "mutation($p: ID!, $c: String) { checkInAtDesk(servicePointId: $p, bookingCode: $c) { id } }", json!({"p": desk.point, "c": booking["code"]})).await);
    app.clock.set(at(&day, "09:05"));
    let county = app.refresh(&county).await;
    let resident = app.refresh(&resident).await;
    let called = expect_data(
        &app.as_(
            &county,
            "mutation($p: ID!) { callNext(servicePointId: $p) { id } }",
            json!({"p": desk.point}),
        )
        .await,
    )["callNext"]["id"]
        .clone();
    expect_data(
        &app.as_(
            &county,
            "mutation($id: ID!) { finishTicket(id: $id, served: false) { status } }",
            json!({"id": called}),
        )
        .await,
    );
    let restriction = expect_data(
        &app.as_(
            &resident,
            "{ myBookings { status } myBookingRestrictions { id status } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(restriction["myBookings"][0]["status"], "NO_SHOW");
    assert_eq!(
        restriction["myBookingRestrictions"][0]["status"], "ACTIVE",
        "{restriction}"
    );
    let restriction_id = restriction["myBookingRestrictions"][0]["id"].clone();
    expect_data(&app.as_(&resident, "mutation($id: ID!) { appealBookingRestriction(id: $id, reason: \"我当时在场\") { status } }", json!({"id": restriction_id})).await);
    let upheld = expect_data(&app.as_(&county, "mutation($id: ID!) { decideRestrictionAppeal(id: $id, lift: false, decision: \"叫号三次未到\") { status } }", json!({"id": restriction_id})).await);
    assert_eq!(upheld["decideRestrictionAppeal"]["status"], "UPHELD");
    let (_, later) = desk.next_day_slots().await;
    expect_error(
        &app.as_(&resident, BOOK, desk.input(&id(&later[0]), "after"))
            .await,
        "BOOKING_RESTRICTED",
    );
}

#[tokio::test]
async fn a_retry_after_a_restart_gets_its_booking_not_slot_full() {
    let desk = desk(1).await;
    let (_, slots) = desk.next_day_slots().await;
    let resident = desk.app.login_resident("patient").await;
    let input = desk.input(&id(&slots[0]), "once");
    let made = expect_data(&desk.app.as_(&resident, BOOK, input.clone()).await)["bookAppointment"]
        ["id"]
        .clone();
    // The same deployment restarted: a new instance (the in-process store starts empty).
    let restarted = TestApp::spawn_with(Options {
        sibling_of: Some(desk.app.backend.clone()),
        demo: true,
        ..Options::default()
    })
    .await;
    let resident = restarted.refresh(&resident).await;
    let again =
        expect_data(&restarted.as_(&resident, BOOK, input).await)["bookAppointment"]["id"].clone();
    assert_eq!(
        again, made,
        "the slot is full now, but this request already has its seat"
    );
}
