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
    // The case list: the viewer, the page, one joined statement for its names, and one for the
    // latest steps of every case on it.
    assert!(
        one_c <= 4,
        "the case list within the goal of 4 statements: {figures:?}"
    );
}
