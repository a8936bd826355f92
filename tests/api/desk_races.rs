//! The booking desk under races and faults: staff booking and cancelling for residents at once
//! on one slot, one phone number per account, check-in only on site, retries that find their
//! booking, waitlist holds only for those who can claim them, queue numbers without the store.
use bangban_server::auth::Role;
use serde_json::{Value, json};

use crate::{
    booking::{Desk, desk_on},
    directory::COUNTY,
    fake_wechat::FakeWechat,
    helpers::{Options, Session, TestApp, expect_data},
};

pub const ON_BEHALF: &str = "mutation($input: BookOnBehalfInput!) { bookOnBehalf(input: $input) { id code status channel slot { id remaining } } }";
const CANCEL_ON_BEHALF: &str =
    "mutation($id: ID!, $o: OnBehalfInput) { cancelBooking(id: $id, onBehalf: $o) { status } }";
const BIND_PHONE: &str = "mutation($c: String!) { bindPhone(code: $c) { phone } }";

/// A generated mobile number (valid prefix, never a real person's on purpose).
pub fn test_phone(n: usize) -> String {
    format!("1390000{n:04}")
}

/// A resident signed in through (fake) WeChat who has bound their phone number.
pub async fn resident_with_phone(
    app: &TestApp,
    fake: &FakeWechat,
    openid: &str,
    phone: &str,
) -> Session {
    let session = Session::from_payload(
        &app.login_with_code(&fake.login_code(openid)).await["data"]["loginWithWechat"],
    );
    expect_data(
        &app.as_(&session, BIND_PHONE, json!({"c": fake.phone_code(phone)}))
            .await,
    );
    session
}

pub async fn wechat_desk(agents: usize) -> (Desk, FakeWechat) {
    let fake = FakeWechat::start().await;
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        // One agent books for many residents here: the per-account limit is not under test.
        tweak: Some(Box::new(|s| {
            s.limits.book_per_user_per_minute = 10_000;
            s.limits.book_per_ip_per_minute = 10_000;
        })),
        ..Options::default()
    })
    .await;
    (desk_on(app, agents).await, fake)
}

fn on_behalf_input(desk: &Desk, phone: &str, slot: &str, key: &str) -> Value {
    json!({"input": {"residentPhone": phone,
        "onBehalf": {"channel": "PHONE"},
        "booking": {"servicePointId": desk.point, "slotId": slot, "itemId": desk.item, "kind": "PROXY", "idempotencyKey": key}}})
}

fn no_internal(response: &Value) {
    if let Some(errors) = response["errors"].as_array() {
        for error in errors {
            assert_ne!(
                error["extensions"]["code"], "INTERNAL_SERVER_ERROR",
                "an internal error reached the client: {response}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_booking_and_cancelling_on_behalf_at_once_on_one_slot_never_deadlock() {
    let (desk, fake) = wechat_desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    expect_data(&app.as_(&county, "mutation($p: ID!, $i: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $i) { seatsPerAgent } }",
        json!({"p": desk.point, "i": {"seatsPerAgent": 20}})).await);
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    const PER_ROUND: usize = 3;
    let mut phones = Vec::new();
    for n in 0..2 * PER_ROUND {
        let phone = test_phone(n);
        resident_with_phone(app, &fake, &format!("racer-{n}"), &phone).await;
        phones.push(phone);
    }
    // Group A holds bookings; each round books group B and cancels group A at once, then swaps.
    let mut held: Vec<String> = Vec::new();
    for (n, phone) in phones.iter().take(PER_ROUND).enumerate() {
        let booked = app
            .as_(
                &agent,
                ON_BEHALF,
                on_behalf_input(&desk, phone, &slot, &format!("seed-{n}")),
            )
            .await;
        held.push(
            expect_data(&booked)["bookOnBehalf"]["id"]
                .as_str()
                .unwrap()
                .into(),
        );
    }
    let mut free: Vec<&String> = phones.iter().skip(PER_ROUND).collect();
    let mut holders: Vec<&String> = phones.iter().take(PER_ROUND).collect();
    for round in 0..50 {
        let books = free.iter().enumerate().map(|(n, phone)| {
            app.as_(
                &agent,
                ON_BEHALF,
                on_behalf_input(&desk, phone, &slot, &format!("r{round}-{n}")),
            )
        });
        let cancels = held.iter().map(|id| {
            app.as_(
                &agent,
                CANCEL_ON_BEHALF,
                json!({"id": id, "o": {"channel": "PHONE"}}),
            )
        });
        let (booked, cancelled) = tokio::join!(
            futures_util::future::join_all(books),
            futures_util::future::join_all(cancels)
        );
        for response in booked.iter().chain(cancelled.iter()) {
            no_internal(response);
            expect_data(response);
        }
        held = booked
            .iter()
            .map(|b| {
                b["data"]["bookOnBehalf"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        std::mem::swap(&mut free, &mut holders);
    }
    let _ = COUNTY;
    let verified = bangban_server::audit::verify(&app.state.db)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(verified.first_broken, None, "the audit chain still links");
}

#[tokio::test]
async fn a_phone_number_belongs_to_one_account_and_binding_it_elsewhere_moves_it() {
    let (desk, fake) = wechat_desk(1).await;
    let app = &desk.app;
    let phone = test_phone(77);
    let first = resident_with_phone(app, &fake, "first-owner", &phone).await;
    let second = resident_with_phone(app, &fake, "second-owner", &phone).await;
    let me = "{ me { id phone } }";
    let first_me = expect_data(&app.as_(&first, me, json!({})).await)["me"].clone();
    let second_me = expect_data(&app.as_(&second, me, json!({})).await)["me"].clone();
    assert!(
        first_me["phone"].is_null(),
        "the number moved away: {first_me}"
    );
    assert!(second_me["phone"].is_string(), "{second_me}");

    // Staff booking by that number reach the account that holds it now.
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap();
    expect_data(
        &app.as_(&agent, ON_BEHALF, on_behalf_input(&desk, &phone, slot, "k"))
            .await,
    );
    let theirs = expect_data(&app.as_(&second, "{ myBookings { id } }", json!({})).await);
    assert_eq!(theirs["myBookings"].as_array().unwrap().len(), 1);
    let mine = expect_data(&app.as_(&first, "{ myBookings { id } }", json!({})).await);
    assert_eq!(mine["myBookings"].as_array().unwrap().len(), 0);

    // The previous owner is told, as a security notice on their own event stream.
    let events = app.dump_table("events").await;
    let notice = events
        .lines()
        .find(|l| l.contains("account.phone_moved"))
        .unwrap_or_else(|| panic!("a security notice event: {events}"));
    assert!(
        !notice.contains(&phone),
        "the notice carries no plain number"
    );
    let audience = app.dump_table("event_audience").await;
    assert!(
        audience.contains(&format!("resident:{}", first.user_id)),
        "{audience}"
    );

    // Binding it again to the account that holds it changes nothing.
    expect_data(
        &app.as_(&second, BIND_PHONE, json!({"c": fake.phone_code(&phone)}))
            .await,
    );
    let again = app.dump_table("events").await;
    assert_eq!(
        again.matches("account.phone_moved").count(),
        1,
        "no second notice"
    );
    let _ = Role::CountyAdmin;
}

#[tokio::test]
async fn check_in_needs_the_code_shown_at_the_desk_and_opens_only_shortly_before_the_slot() {
    use crate::queue::{agent, book, move_to, scan, scene_of, slots_after, text};
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let scene = scene_of(app, &desk.point).await;
    let (_, slots) = slots_after(&desk, 1).await;
    let booking = book(&desk, "at-home", &slots[2]).await;
    let code = text(&booking["code"]);

    // Four hours before the slot, with only what the public directory shows: refused.
    move_to(app, &slots[2], -240);
    let resident = app.login_resident("at-home").await;
    let check_in = "mutation($s: String!, $k: String!, $c: String) { checkIn(pointScene: $s, checkInCode: $k, bookingCode: $c) { label } }";
    let without = app
        .as_(&resident, check_in, json!({"s": scene, "k": "", "c": code}))
        .await;
    assert_eq!(
        crate::helpers::expect_error(&without, "BAD_USER_INPUT")["extensions"]["field"],
        "checkInCode"
    );
    // The desk's screen shows the code; residents may not read it from home.
    let desk_agent = agent(&desk, 0).await;
    let shown = "query($p: ID!) { pointCheckInCode(servicePointId: $p) { code validUntil } }";
    crate::helpers::expect_error(
        &app.as_(&resident, shown, json!({"p": desk.point})).await,
        "FORBIDDEN",
    );
    let on_screen =
        expect_data(&app.as_(&desk_agent, shown, json!({"p": desk.point})).await)["pointCheckInCode"]
            .clone();
    let site = text(&on_screen["code"]);
    assert_eq!(site.len(), 6, "{on_screen}");
    // Even on site, four hours early is too early.
    let early = app
        .as_(
            &resident,
            check_in,
            json!({"s": scene, "k": site, "c": code}),
        )
        .await;
    crate::helpers::expect_error(&early, "INVALID_TRANSITION");
    assert_eq!(app.dump_table("queue_tickets").await, "", "no number yet");

    // Within the point's three hours before the slot, on site: a number.
    move_to(app, &slots[2], -100);
    let resident = app.refresh(&resident).await;
    let ticket = expect_data(&scan(app, &resident, &scene, Some(&code)).await)["checkIn"].clone();
    assert_eq!(ticket["label"], "A001");
}

#[tokio::test]
async fn a_checked_in_booking_the_desk_never_finished_counts_for_the_no_show_rule() {
    use crate::queue::{book, move_to, scan, scene_of, slots_after, text};
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    expect_data(&app.as_(&county, "mutation($p: ID!, $i: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $i) { noShowLimit } }",
        json!({"p": desk.point, "i": {"noShowLimit": 1}})).await);
    let scene = scene_of(app, &desk.point).await;
    let (_, slots) = slots_after(&desk, 1).await;
    let booking = book(&desk, "checks-in-and-leaves", &slots[1]).await;
    move_to(app, &slots[1], -10);
    let resident = app.login_resident("checks-in-and-leaves").await;
    expect_data(&scan(app, &resident, &scene, Some(&text(&booking["code"]))).await);

    // The day ends with the number never called or finished.
    move_to(app, &slots[1], 24 * 60);
    let ran = bangban_server::jobs::run_due(&app.state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(ran.count("booking", "unfinished"), 1);
    let restrictions = app.dump_table("booking_restrictions").await;
    assert!(
        restrictions.contains(&resident.user_id),
        "restricted after one unfinished booking with a limit of one: {restrictions}"
    );
}

#[tokio::test]
async fn a_retried_booking_whose_cached_answer_was_lost_gets_its_booking_not_slot_full() {
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let (_, slots) = desk.next_day_slots().await;
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let resident = app.login_resident("lost-answer").await;
    let input = desk.input(&slot, "only-once");
    let made = expect_data(
        &app.as_(&resident, crate::booking::BOOK, input.clone())
            .await,
    )["bookAppointment"]["id"]
        .clone();
    // The shared store never got the cached answer (it is written after the commit, and the
    // store blinked then); the slot's counter says no seat is left. The mark that this attempt
    // was let through is written with the admission itself, atomically, so it is there.
    app.state
        .store
        .delete(&format!("booking:idem:{}:only-once", resident.user_id))
        .await
        .unwrap();
    let other = app.login_resident("someone-else").await;
    crate::helpers::expect_error(
        &app.as_(&other, crate::booking::BOOK, desk.input(&slot, "x"))
            .await,
        "SLOT_FULL",
    );
    let again = app.as_(&resident, crate::booking::BOOK, input).await;
    assert_eq!(
        expect_data(&again)["bookAppointment"]["id"],
        made,
        "the retry is answered with its booking"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "stops its own Redis: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn queue_numbers_continue_from_the_database_while_the_store_is_down() {
    use crate::events::{OwnRedis, free_port};
    use crate::queue::{book, move_to, scan, scene_of, slots_after, text};
    let (database, _) = crate::helpers::postgres_backend().expect("PostgreSQL + Redis");
    let dir = std::env::temp_dir().join(format!("bangban-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = OwnRedis::start(free_port(), &dir);
    let app = TestApp::spawn_with(Options {
        demo: true,
        sibling_of: Some(crate::helpers::Backend {
            data_dir: dir.join("data"),
            database_url: Some(crate::helpers::fresh_postgres_database(&database).await),
            redis_url: Some(format!("redis://127.0.0.1:{}/", redis.port)),
            redis_prefix: "queue:".into(),
        }),
        ..Options::default()
    })
    .await;
    let desk = desk_on(app, 1).await;
    let app = &desk.app;
    let scene = scene_of(app, &desk.point).await;
    let (_, slots) = slots_after(&desk, 1).await;
    let first = book(&desk, "first-arrival", &slots[0]).await;
    let second = book(&desk, "second-arrival", &slots[1]).await;
    move_to(app, &slots[0], -30);
    let one = app.login_resident("first-arrival").await;
    let two = app.login_resident("second-arrival").await;
    let a = expect_data(&scan(app, &one, &scene, Some(&text(&first["code"]))).await);
    assert_eq!(a["checkIn"]["label"], "A001");

    redis.stop();
    let b = scan(app, &two, &scene, Some(&text(&second["code"]))).await;
    no_internal(&b);
    assert_eq!(expect_data(&b)["checkIn"]["label"], "A002", "{b}");
}

#[tokio::test]
async fn a_freed_seat_is_held_only_for_someone_who_can_claim_it_and_never_after_the_slot_starts() {
    use crate::booking::BOOK;
    use crate::helpers::expect_error;
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    expect_data(&app.as_(&county, "mutation($p: ID!, $i: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $i) { maxOpenBookings } }",
        json!({"p": desk.point, "i": {"maxOpenBookings": 1, "holdMinutes": 240}})).await);
    let (_, slots) = desk.next_day_slots().await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let join = "mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { id status } }";
    let entry_for = |slot: &str| json!({"input": {"servicePointId": desk.point, "slotId": slot, "itemId": desk.item, "kind": "CONSULT"}});
    let holder = app.login_resident("holder").await;
    let other_holder = app.login_resident("other-holder").await;
    let capped = app.login_resident("at-the-cap").await;
    let free = app.login_resident("free-to-book").await;
    let held = expect_data(
        &app.as_(&holder, BOOK, desk.input(&id(&slots[0]), "h"))
            .await,
    )["bookAppointment"]
        .clone();
    expect_data(
        &app.as_(&other_holder, BOOK, desk.input(&id(&slots[2]), "o"))
            .await,
    );
    expect_data(
        &app.as_(&capped, BOOK, desk.input(&id(&slots[1]), "c"))
            .await,
    );

    // Lines are capped like bookings: one place in line at most here.
    let capped_entry =
        expect_data(&app.as_(&capped, join, entry_for(&id(&slots[0]))).await)["joinWaitlist"]
            .clone();
    expect_error(
        &app.as_(&capped, join, entry_for(&id(&slots[2]))).await,
        "INVALID_TRANSITION",
    );
    let free_entry =
        expect_data(&app.as_(&free, join, entry_for(&id(&slots[0]))).await)["joinWaitlist"].clone();

    // The seat comes free: the first in line is at the cap and could not claim it, so it is
    // held for the next one.
    expect_data(
        &app.as_(
            &holder,
            "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
            json!({"id": held["id"]}),
        )
        .await,
    );
    let mine = "{ myWaitlist { id status } }";
    let capped_now = expect_data(&app.as_(&capped, mine, json!({})).await)["myWaitlist"].clone();
    let free_now = expect_data(&app.as_(&free, mine, json!({})).await)["myWaitlist"].clone();
    let status_of = |list: &Value, entry: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == entry["id"])
            .map(|e| e["status"].clone())
    };
    assert_eq!(
        status_of(&capped_now, &capped_entry),
        None,
        "no longer waiting: {capped_now}"
    );
    let entries = app.dump_table("waitlist_entries").await;
    let capped_row = entries
        .lines()
        .find(|l| l.contains(capped_entry["id"].as_str().unwrap()))
        .unwrap();
    assert!(capped_row.contains("\"skipped\""), "{capped_row}");
    assert!(
        app.dump_table("events").await.contains("waitlist.skipped"),
        "the resident is told"
    );
    assert_eq!(
        status_of(&free_now, &free_entry),
        Some(json!("OFFERED")),
        "{free_now}"
    );

    // The hold outlasts the slot's start, but a started slot cannot be claimed.
    let starts = chrono::DateTime::parse_from_rfc3339(slots[0]["startsAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.set(starts + chrono::Duration::minutes(1));
    let free = app.refresh(&free).await;
    expect_error(
        &app.as_(
            &free,
            "mutation($id: ID!) { claimWaitlistOffer(id: $id) { id } }",
            json!({"id": free_entry["id"]}),
        )
        .await,
        "INVALID_TRANSITION",
    );
}

#[tokio::test]
async fn a_duty_day_more_than_a_year_ahead_is_refused_and_changes_nothing() {
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let staff = expect_data(
        &app.as_(&county, "{ staffMembers { id username } }", json!({}))
            .await,
    )["staffMembers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["username"] == "lg.agent0")
        .unwrap()["id"]
        .clone();
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let duty = "mutation($s: ID!, $d: NaiveDate!) { setStaffDutyDay(staffId: $s, day: $d, onDuty: false) { overbookedSlots { id } } }";
    let far = (today + chrono::Duration::days(400)).to_string();
    let refused = app.as_(&county, duty, json!({"s": staff, "d": far})).await;
    assert_eq!(
        crate::helpers::expect_error(&refused, "BAD_USER_INPUT")["extensions"]["field"],
        "day"
    );
    assert_eq!(
        app.dump_table("staff_duty_days").await,
        "",
        "nothing written"
    );
    let near = (today + chrono::Duration::days(30)).to_string();
    expect_data(&app.as_(&county, duty, json!({"s": staff, "d": near})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "a race between transactions: SQLite runs one writer at a time"
)]
async fn the_desk_and_the_no_show_job_recording_a_residents_no_shows_at_once_make_one_restriction()
{
    use crate::queue::{agent, book, move_to, scan, scene_of, slots_after, text};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let desk = crate::booking::desk(1).await;
    let app = &desk.app;
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    expect_data(&app.as_(&county, "mutation($p: ID!, $i: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $i) { noShowLimit } }",
        json!({"p": desk.point, "i": {"noShowLimit": 1}})).await);
    let scene = scene_of(app, &desk.point).await;
    for round in 0..8 {
        // A resident misses an early slot and is absent when called for a later one; the job
        // records the first no-show while the desk records the second.
        let (_, slots) = slots_after(&desk, 1).await;
        let openid = format!("absent-twice-{round}");
        book(&desk, &openid, &slots[0]).await;
        let called = book(&desk, &openid, &slots[2]).await;
        move_to(app, &slots[2], -10);
        let resident = app.login_resident(&openid).await;
        expect_data(&scan(app, &resident, &scene, Some(&text(&called["code"]))).await);
        let agent = agent(&desk, 0).await;
        let ticket = expect_data(
            &app.as_(
                &agent,
                "mutation($p: ID!) { callNext(servicePointId: $p) { id } }",
                json!({"p": desk.point}),
            )
            .await,
        )["callNext"]["id"]
            .clone();
        let (job, finished) = tokio::join!(
            bangban_server::jobs::run_due(&app.state),
            app.as_(
                &agent,
                "mutation($id: ID!) { finishTicket(id: $id, served: false) { status } }",
                json!({"id": ticket}),
            )
        );
        job.map_err(|e| e.message()).unwrap();
        expect_data(&finished);
        let user = uuid::Uuid::parse_str(&resident.user_id).unwrap();
        let restrictions = entity::booking_restrictions::Entity::find()
            .filter(entity::booking_restrictions::Column::UserId.eq(user))
            .count(&app.state.db)
            .await
            .unwrap();
        assert_eq!(
            restrictions, 1,
            "round {round}: one restriction, not one per no-show"
        );
    }
}
