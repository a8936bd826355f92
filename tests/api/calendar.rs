//! The working calendar through the API: the shipped 2026 tables, arithmetic, provisional years,
//! and admin edits.
use bangban_server::auth::Role;
use serde_json::json;

use crate::{
    directory::{COUNTY, LONGGANG},
    helpers::{TestApp, expect_data, expect_error},
};

#[tokio::test]
async fn the_spring_festival_and_its_make_up_saturdays_are_public() {
    let app = TestApp::spawn().await;
    let days = expect_data(&app.graphql(None, "{ calendar(from: \"2026-02-13\", to: \"2026-03-01\") { date isWorkday name provisional } }", json!({})).await);
    let days = days["calendar"].as_array().unwrap();
    let find = |date: &str| days.iter().find(|d| d["date"] == date).unwrap().clone();
    assert_eq!(find("2026-02-14")["isWorkday"], true);
    assert_eq!(find("2026-02-14")["name"], "春节调休上班");
    assert_eq!(find("2026-02-16")["isWorkday"], false);
    assert_eq!(find("2026-02-16")["name"], "春节");
    assert_eq!(find("2026-02-28")["isWorkday"], true);
    assert_eq!(find("2026-03-01")["isWorkday"], false);
    assert!(days.iter().all(|d| d["provisional"] == false));

    let added = expect_data(&app.graphql(None, "{ a: addWorkingDays(date: \"2026-02-14\", days: 1) { date provisional } b: addWorkingDays(date: \"2026-09-30\", days: 3) { date } c: workingDaysBetween(from: \"2026-09-30\", to: \"2026-10-10\") { days provisional } }", json!({})).await);
    assert_eq!(
        added["a"],
        json!({"date": "2026-02-24", "provisional": false})
    );
    assert_eq!(added["b"]["date"], "2026-10-10");
    assert_eq!(added["c"], json!({"days": 3, "provisional": false}));

    let later = expect_data(
        &app.graphql(
            None,
            "{ addWorkingDays(date: \"2026-12-28\", days: 10) { date provisional } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        later["addWorkingDays"],
        json!({"date": "2027-01-11", "provisional": true})
    );

    let too_long = app
        .graphql(
            None,
            "{ calendar(from: \"2026-01-01\", to: \"2027-06-01\") { date } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expect_error(&too_long, "BAD_USER_INPUT")["extensions"]["field"],
        "to"
    );
}

#[tokio::test]
async fn the_county_admin_edits_future_days_only() {
    let app = TestApp::with_demo().await;
    let admin = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let set = "mutation($d: NaiveDate!, $w: Boolean!, $n: String) { setCalendarDay(date: $d, isWorkday: $w, name: $n) { date isWorkday name } }";
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let tomorrow = today + chrono::Duration::days(1);
    expect_error(
        &app.as_(
            &town,
            set,
            json!({"d": tomorrow.to_string(), "w": false, "n": "停电"}),
        )
        .await,
        "FORBIDDEN",
    );
    let past = expect_error(
        &app.as_(&admin, set, json!({"d": today.to_string(), "w": false}))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(past["extensions"]["field"], "date");
    expect_data(
        &app.as_(
            &admin,
            set,
            json!({"d": tomorrow.to_string(), "w": false, "n": "县城停电"}),
        )
        .await,
    );
    let day = expect_data(
        &app.graphql(
            None,
            "query($d: NaiveDate!) { calendar(from: $d, to: $d) { isWorkday name provisional } }",
            json!({"d": tomorrow.to_string()}),
        )
        .await,
    );
    if day["calendar"][0]["provisional"] == false {
        assert_eq!(day["calendar"][0]["isWorkday"], false);
        assert_eq!(day["calendar"][0]["name"], "县城停电");
    }
    let log = expect_data(
        &app.as_(&admin, "{ auditLog { action targetId } }", json!({}))
            .await,
    );
    assert!(
        log["auditLog"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "calendar.set_day")
    );
}
