//! Appeals of a rating end to end, on both backends: an administrator over the rated unit
//! appeals a bad rating once; the county's administrator — not the one who filed it — decides;
//! an upheld appeal keeps the rating, excluded; refusals write nothing.
use bangban_server::auth::Role;
use serde_json::json;

use crate::{
    directory::LONGGANG,
    helpers::{expect_data, expect_error},
    satisfaction::Centre,
};

const APPEAL: &str = "mutation($r: ID!, $why: RatingAppealReason!) { appealRating(ratingId: $r, reason: $why, explanation: \"评价人误选了办件\", evidence: [\"通话录音 2026-12-07\"]) { id status reason evidence } }";
const DECIDE: &str = "mutation($id: ID!, $u: Boolean!) { decideRatingAppeal(id: $id, upheld: $u, note: \"核实属实\") { id status decisionNote } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_appeals_a_bad_rating_once_and_the_county_decides() {
    let centre = Centre::start().await;
    let town = centre
        .app()
        .staff_session("sat.town", Role::TownshipAdmin, LONGGANG)
        .await;
    let resident = centre.resident("appeal-rater").await;
    let bad_case = centre.completed_case(&resident).await;
    let good_case = centre.completed_case(&resident).await;
    let bad = expect_data(
        &centre
            .rate(&resident, &bad_case, "VERY_DISSATISFIED", None, false)
            .await,
    )["rateCase"]["id"]
        .clone();
    let good = expect_data(
        &centre
            .rate(&resident, &good_case, "SATISFIED", None, false)
            .await,
    )["rateCase"]["id"]
        .clone();
    let before = centre.snapshot().await;
    expect_error(
        &centre
            .app()
            .as_(&centre.agent, APPEAL, json!({"r": bad, "why": "MISTAKEN"}))
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &centre
            .app()
            .as_(&town, APPEAL, json!({"r": good, "why": "MISTAKEN"}))
            .await,
        "INVALID_TRANSITION",
    );
    expect_error(
        &centre
            .app()
            .as_(&resident, APPEAL, json!({"r": bad, "why": "MISTAKEN"}))
            .await,
        "FORBIDDEN",
    );
    assert_eq!(
        before,
        centre.snapshot().await,
        "refused appeals write nothing"
    );

    let appeal = centre
        .ok(&town, APPEAL, json!({"r": bad, "why": "MALICIOUS"}))
        .await["appealRating"]
        .clone();
    assert_eq!(appeal["status"], "PENDING");
    assert_eq!(appeal["evidence"], json!(["通话录音 2026-12-07"]));
    expect_error(
        &centre
            .app()
            .as_(&town, APPEAL, json!({"r": bad, "why": "MISTAKEN"}))
            .await,
        "CONFLICT",
    );
    // Only the county's administrator decides.
    expect_error(
        &centre
            .app()
            .as_(&town, DECIDE, json!({"id": appeal["id"], "u": true}))
            .await,
        "FORBIDDEN",
    );
    let listed = centre
        .ok(
            &centre.admin,
            "{ ratingAppeals(status: PENDING) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["ratingAppeals"][0]["id"], appeal["id"]);
    let decided = centre
        .ok(
            &centre.admin,
            DECIDE,
            json!({"id": appeal["id"], "u": true}),
        )
        .await;
    assert_eq!(decided["decideRatingAppeal"]["status"], "UPHELD");
    expect_error(
        &centre
            .app()
            .as_(
                &centre.admin,
                DECIDE,
                json!({"id": appeal["id"], "u": false}),
            )
            .await,
        "INVALID_TRANSITION",
    );
    let kept = centre
        .ok(
            &centre.admin,
            "query($id: ID!) { rating(id: $id) { excluded level } }",
            json!({"id": bad}),
        )
        .await;
    assert_eq!(
        kept["rating"]["excluded"], true,
        "kept on record, out of the statistics"
    );
    assert_eq!(kept["rating"]["level"], "VERY_DISSATISFIED");
    // Whoever files an appeal does not decide it.
    let other = centre.resident("appeal-other").await;
    let third = centre.completed_case(&other).await;
    let rated = expect_data(
        &centre
            .rate(&other, &third, "DISSATISFIED", None, false)
            .await,
    )["rateCase"]["id"]
        .clone();
    let own = centre
        .ok(
            &centre.admin,
            APPEAL,
            json!({"r": rated, "why": "MISTAKEN"}),
        )
        .await["appealRating"]["id"]
        .clone();
    expect_error(
        &centre
            .app()
            .as_(&centre.admin, DECIDE, json!({"id": own, "u": true}))
            .await,
        "FORBIDDEN",
    );
    // The statistics count the excluded rating apart.
    let now = bangban_server::clock::Clock::now(centre.app().clock.as_ref());
    let period =
        json!({"f": now - chrono::Duration::days(1), "t": now + chrono::Duration::days(1)});
    let by_unit = centre.ok(&centre.admin, "query($f: DateTime!, $t: DateTime!) { satisfactionStatistics(from: $f, to: $t) { key name ratings excluded satisfied bad satisfactionRate badRate rectifiedOnTime rectifiedLate onTimeRate } }", period.clone()).await;
    let rows = by_unit["satisfactionStatistics"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["key"],
        centre.app().region_id(LONGGANG).await.as_str()
    );
    assert_eq!(
        (
            rows[0]["ratings"].as_i64(),
            rows[0]["excluded"].as_i64(),
            rows[0]["satisfied"].as_i64(),
            rows[0]["bad"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(1))
    );
    assert_eq!(rows[0]["satisfactionRate"], 0.5);
    assert_eq!(
        rows[0]["onTimeRate"],
        serde_json::Value::Null,
        "no order is due yet"
    );
    let by_agent = centre.ok(&centre.agent, "query($f: DateTime!, $t: DateTime!) { satisfactionStatistics(from: $f, to: $t, by: AGENT) { name ratings excluded } }", period.clone()).await;
    assert_eq!(by_agent["satisfactionStatistics"][0]["ratings"], 2);
    expect_error(&centre.app().as_(&resident, "query($f: DateTime!, $t: DateTime!) { satisfactionStatistics(from: $f, to: $t) { key } }", period.clone()).await, "FORBIDDEN");
    expect_error(&centre.app().as_(&centre.admin, "query($f: DateTime!, $t: DateTime!) { satisfactionStatistics(from: $t, to: $f) { key } }", period).await, "BAD_USER_INPUT");
    centre.stop().await;
}
