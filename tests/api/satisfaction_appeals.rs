//! Appeals of a rating end to end, on both backends: an administrator over the rated unit
//! appeals a bad rating once; the county's administrator — not the one who filed it — decides;
//! an upheld appeal keeps the rating, excluded; refusals write nothing.
use bangban_server::auth::Role;
use serde_json::json;

use crate::{
    directory::{CHENGNEI, LONGGANG},
    helpers::{Session, expect_data, expect_error},
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_counts_for_every_unit_that_held_the_case_and_each_sees_its_own_agents() {
    let centre = Centre::start().await;
    let resident = centre.resident("attr-rater").await;
    let case = centre.open_case(&resident).await;
    let cn_agent = centre
        .app()
        .staff_session("cn.attr-agent", Role::VillageAgent, CHENGNEI)
        .await;
    let lg_admin = centre
        .app()
        .staff_session("lg.attr-admin", Role::TownshipAdmin, LONGGANG)
        .await;
    // 龙港镇 takes the case in, then hands it to 城内村, which finishes it.
    let chengnei = centre.app().region_id(CHENGNEI).await;
    let transfer = centre.ok(&centre.agent, "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"属地办理\") { id } }", json!({"id": case, "u": chengnei})).await["transferCase"]["id"].clone();
    centre.ok(&cn_agent, "mutation($t: ID!) { respondToCaseTransfer(transferId: $t, accept: true, note: \"已接收\") { id } }", json!({"t": transfer})).await;
    centre
        .ok(
            &cn_agent,
            "mutation($id: ID!) { completeCase(id: $id, outcome: []) { status } }",
            json!({"id": case}),
        )
        .await;
    centre.invited(&resident, &case).await;
    let rating = expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    )["rateCase"]["id"]
        .clone();
    // Both units' staff read it: each held the case.
    for session in [&centre.agent, &cn_agent] {
        let seen = centre
            .ok(session, "{ ratings { ratings { id } } }", json!({}))
            .await;
        assert_eq!(seen["ratings"]["ratings"][0]["id"], rating, "{seen}");
    }
    let now = bangban_server::clock::Clock::now(centre.app().clock.as_ref());
    let period = json!({"f": (now - chrono::Duration::days(1)).to_rfc3339(), "t": (now + chrono::Duration::days(1)).to_rfc3339()});
    let stats = |who: &Session, by: &'static str| {
        let period = period.clone();
        let who = who.clone();
        let centre = &centre;
        async move {
            let query = format!(
                "query($f: DateTime!, $t: DateTime!) {{ satisfactionStatistics(from: $f, to: $t, by: {by}) {{ key bad }} }}"
            );
            let lines = centre.ok(&who, &query, period).await;
            let mut keys: Vec<String> = lines["satisfactionStatistics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| format!("{}:{}", l["key"].as_str().unwrap(), l["bad"]))
                .collect();
            keys.sort();
            keys
        }
    };
    let sorted = |mut keys: Vec<String>| {
        keys.sort();
        keys
    };
    let lg = centre.app().region_id(LONGGANG).await;
    let (lg_agent, cn) = (centre.agent.user_id.clone(), cn_agent.user_id.clone());
    // By unit: the bad rating counts for both units, each seen by who covers it.
    let both_units = sorted(vec![format!("{lg}:1"), format!("{chengnei}:1")]);
    assert_eq!(stats(&centre.admin, "UNIT").await, both_units);
    assert_eq!(stats(&lg_admin, "UNIT").await, both_units);
    assert_eq!(stats(&cn_agent, "UNIT").await, [format!("{chengnei}:1")]);
    // By agent: both agents for those covering both; the village sees its own agent only.
    let both_agents = sorted(vec![format!("{lg_agent}:1"), format!("{cn}:1")]);
    assert_eq!(stats(&centre.admin, "AGENT").await, both_agents);
    assert_eq!(stats(&lg_admin, "AGENT").await, both_agents);
    assert_eq!(stats(&cn_agent, "AGENT").await, [format!("{cn}:1")]);
    // By item: once, however many units it counts for.
    assert_eq!(stats(&lg_admin, "ITEM").await.len(), 1);
    centre.stop().await;
}
