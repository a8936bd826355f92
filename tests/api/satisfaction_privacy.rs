//! Satisfaction's privacy and content rules end to end, on both backends: anonymity towards
//! staff over every field, event and the audit log, and sticking to the case; the content
//! check's outcomes; the limits on checks.
use bangban_server::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{
    directory::LONGGANG,
    fake_wechat::{Api, REVIEW_WORD, RISKY_WORD},
    helpers::{expect_data, expect_error},
    satisfaction::{Centre, ORDERS, RATING, count},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_never_learn_who_gave_an_anonymous_rating() {
    let centre = Centre::start().await;
    let resident = centre.resident("sat-anonymous").await;
    let case = centre.completed_case(&resident).await;
    let number = centre
        .ok(
            &centre.agent,
            "query($id: ID!) { case(id: $id) { number } }",
            json!({"id": case}),
        )
        .await["case"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let rated = expect_data(
        &centre
            .rate(
                &resident,
                &case,
                "VERY_DISSATISFIED",
                Some("办事拖沓"),
                true,
            )
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(
        rated["caseId"],
        case.as_str(),
        "the rater sees their own case"
    );
    let rating = rated["id"].as_str().unwrap().to_string();
    let secrets = [
        case.as_str(),
        number.as_str(),
        resident.user_id.as_str(),
        "sat-anonymous",
    ];
    let leaks = |what: &str, value: &Value| {
        let text = value.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    };
    let order_id = centre
        .ok(
            &centre.agent,
            "{ rectifications { rectifications { id } } }",
            json!({}),
        )
        .await["rectifications"]["rectifications"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (who, session) in [("agent", &centre.agent), ("county admin", &centre.admin)] {
        let list = centre
            .ok(
                session,
                &format!("{{ ratings {{ ratings {{ {RATING} }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(
            list["ratings"]["ratings"][0]["id"],
            rating.as_str(),
            "{who}"
        );
        assert_eq!(list["ratings"]["ratings"][0]["text"], "办事拖沓", "{who}");
        leaks(who, &list);
        leaks(who, &centre.ok(session, &format!("query($id: ID!) {{ rating(id: $id) {{ {RATING} rectificationReply {{ reply }} }} }}"), json!({"id": rating})).await);
        leaks(who, &centre.ok(session, ORDERS, json!({})).await);
        leaks(who, &centre.ok(session, "query($id: ID!) { rectification(id: $id) { id status unitId rating { id caseId caseNumber } } }", json!({"id": order_id})).await);
        let of_case = centre
            .ok(
                session,
                "query($c: ID!) { caseRatings(caseId: $c) { id } }",
                json!({"c": case}),
            )
            .await;
        assert_eq!(
            of_case["caseRatings"],
            json!([]),
            "{who}: an anonymous rating is not linked to its case"
        );
    }
    // An anonymous rater cannot be called back; the order is resolved directly.
    let before = centre.snapshot().await;
    expect_error(&centre.app().as_(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"x\") { status } }", json!({"id": order_id})).await, "INVALID_TRANSITION");
    assert_eq!(before, centre.snapshot().await);
    let resolved = centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: IMMEDIATE, result: \"已改进\", reply: \"已改进流程\") { status rating { caseId } } }", json!({"id": order_id})).await;
    assert_eq!(resolved["resolveRectification"]["status"], "RESOLVED");
    leaks("the resolution", &resolved);
    // No event staff hear, and no audit entry, names the rater or the case.
    let db = &centre.app().state.db;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT kind, subject_kind, subject_id, payload FROM events WHERE kind LIKE 'rating.%' OR kind LIKE 'rectification.%'",
        ))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    for row in rows {
        let kind: String = row.try_get("", "kind").unwrap();
        let subject: String = row.try_get("", "subject_id").unwrap();
        let payload: String = row.try_get("", "payload").unwrap();
        if kind != "rating.invited" {
            leaks(&kind, &json!([subject, payload]));
        }
        kinds.push(kind);
    }
    for kind in ["rating.invited", "rating.replied", "rectification.resolved"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // The moment of an anonymous rating is no event at all.
    for kind in ["rating.recorded", "rectification.opened"] {
        assert!(!kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // Nor does the audit log, where the rating's entry waits for the next day (see
    // `satisfaction_anonymity`).
    let audit = centre.app().dump_table("audit_log").await;
    assert!(!audit.contains(&rating), "no entry of the rating today");
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_check_decides_what_staff_read() {
    let centre = Centre::start_with(|s| s.satisfaction.text_check_timeout_ms = 500).await;
    let resident = centre.resident("sat-texts").await;
    let held = centre.completed_case(&resident).await;
    // Risky: refused, nothing written.
    let before = centre.snapshot().await;
    let risky = centre
        .rate(
            &resident,
            &held,
            "DISSATISFIED",
            Some(&format!("这里有{RISKY_WORD}")),
            false,
        )
        .await;
    assert_eq!(
        expect_error(&risky, "CONTENT_REJECTED")["extensions"]["field"],
        "text"
    );
    assert_eq!(
        before,
        centre.snapshot().await,
        "a refused text writes nothing"
    );
    // Review: held until an administrator releases it.
    let rated = expect_data(
        &centre
            .rate(
                &resident,
                &held,
                "SATISFIED",
                Some(&format!("请{REVIEW_WORD}")),
                false,
            )
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(rated["textState"], "HELD");
    assert!(rated["text"].is_string(), "the rater reads their own text");
    let id = rated["id"].as_str().unwrap().to_string();
    let read = "query($id: ID!) { rating(id: $id) { text textState } }";
    assert_eq!(
        centre.ok(&centre.agent, read, json!({"id": id})).await["rating"]["text"],
        Value::Null
    );
    assert!(
        centre.ok(&centre.admin, read, json!({"id": id})).await["rating"]["text"].is_string(),
        "the reviewer reads it"
    );
    let release = "mutation($id: ID!) { releaseRatingText(id: $id) { textState text } }";
    expect_error(
        &centre
            .app()
            .as_(&centre.agent, release, json!({"id": id}))
            .await,
        "FORBIDDEN",
    );
    let released = centre.ok(&centre.admin, release, json!({"id": id})).await;
    assert_eq!(released["releaseRatingText"]["textState"], "RELEASED");
    assert!(centre.ok(&centre.agent, read, json!({"id": id})).await["rating"]["text"].is_string());
    expect_error(
        &centre
            .app()
            .as_(&centre.admin, release, json!({"id": id}))
            .await,
        "INVALID_TRANSITION",
    );

    // WeChat down, then slow: stored hidden from everyone on staff, checked again by the job.
    let down = centre.completed_case(&resident).await;
    centre.fake.fail_next(Api::MsgSecCheck, &[-1, -1, -1]);
    let unchecked = expect_data(
        &centre
            .rate(&resident, &down, "SATISFIED", Some("整体不错"), false)
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(unchecked["textState"], "UNCHECKED");
    let slow = centre.completed_case(&resident).await;
    centre.fake.stall_next(Api::MsgSecCheck, 1, 2_000);
    let late = expect_data(
        &centre
            .rate(
                &resident,
                &slow,
                "SATISFIED",
                Some(&format!("也{RISKY_WORD}")),
                false,
            )
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(late["textState"], "UNCHECKED");
    for rating in [&unchecked, &late] {
        let seen = centre
            .ok(&centre.admin, read, json!({"id": rating["id"]}))
            .await;
        assert_eq!(seen["rating"]["text"], Value::Null, "never shown unchecked");
    }
    let ran = bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(ran.count("satisfaction", "texts_checked"), 2);
    let published = centre
        .ok(&centre.agent, read, json!({"id": unchecked["id"]}))
        .await;
    assert_eq!(published["rating"]["textState"], "PUBLISHED");
    assert_eq!(published["rating"]["text"], "整体不错");
    let withheld = centre
        .ok(&centre.admin, read, json!({"id": late["id"]}))
        .await;
    assert_eq!(withheld["rating"]["textState"], "WITHHELD");
    assert_eq!(withheld["rating"]["text"], Value::Null);
    let again = bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(again.count("satisfaction", "texts_checked"), 0);
    centre.stop().await;
}

/// Events about ratings or orders addressed to any staff member.
async fn staff_heard(centre: &Centre) -> Vec<String> {
    let db = &centre.app().state.db;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT e.kind AS kind FROM events e JOIN event_audience a ON a.event_seq = e.seq \
         WHERE (e.kind LIKE 'rating.%' OR e.kind LIKE 'rectification.%') AND a.audience_key LIKE 'staff:%'",
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "kind").unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymity_sticks_to_the_case_and_tells_staff_no_moment_item_or_trail() {
    let centre = Centre::start().await;
    let named = centre.resident("sat-named").await;
    let case = centre.completed_case(&named).await;
    expect_data(
        &centre
            .rate(&named, &case, "DISSATISFIED", None, false)
            .await,
    );
    let order = centre.ok(&centre.admin, ORDERS, json!({})).await["rectifications"]["rectifications"][0]["id"].clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"已回访\") { status } }", json!({"id": order})).await;
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: IMMEDIATE, result: \"已整改\", reply: \"已整改\") { status } }", json!({"id": order})).await;
    // A real-name first rating makes the second real-name too: an anonymous one would be
    // linked to the case by the first.
    let before = centre.snapshot().await;
    let switched = centre.rate(&named, &case, "SATISFIED", None, true).await;
    assert_eq!(
        expect_error(&switched, "BAD_USER_INPUT")["extensions"]["field"],
        "anonymous"
    );
    assert_eq!(before, centre.snapshot().await);

    let hidden = centre.resident("sat-hidden").await;
    let secret = centre.completed_case(&hidden).await;
    let heard_before = staff_heard(&centre).await.len();
    let rated = expect_data(
        &centre
            .rate(&hidden, &secret, "VERY_DISSATISFIED", None, true)
            .await,
    )["rateCase"]
        .clone();
    let id = rated["id"].as_str().unwrap().to_string();
    assert_ne!(
        &id[14..15],
        "7",
        "an anonymous rating's id tells no time: {id}"
    );
    for session in [&centre.agent, &centre.admin] {
        let seen = centre
            .ok(
                session,
                &format!("query($id: ID!) {{ rating(id: $id) {{ {RATING} }} }}"),
                json!({"id": id}),
            )
            .await;
        assert_eq!(seen["rating"]["itemId"], Value::Null, "{seen}");
        assert!(
            seen["rating"]["ratedAt"]
                .as_str()
                .unwrap()
                .ends_with("T16:00:00+00:00"),
            "the day only (China midnight): {seen}"
        );
        let orders = centre.ok(session, "{ rectifications(filter: {status: OPEN}) { rectifications { id createdAt rating { id } } } }", json!({})).await;
        let order = orders["rectifications"]["rectifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["rating"]["id"] == id.as_str())
            .unwrap()
            .clone();
        assert!(
            order["createdAt"]
                .as_str()
                .unwrap()
                .ends_with("T16:00:00+00:00"),
            "{order}"
        );
        assert_ne!(&order["id"].as_str().unwrap()[14..15], "7", "{order}");
    }
    assert_eq!(
        staff_heard(&centre).await.len(),
        heard_before,
        "no live word to staff of an anonymous rating's moment"
    );
    // Every agent of the unit gets the same answer on the anonymous order, whether or not they
    // worked on its case (a difference would tell them whose it is).
    let other_agent = centre
        .app()
        .staff_session("sat.other-agent", Role::TownshipAgent, LONGGANG)
        .await;
    let open_order = centre
        .ok(
            &centre.admin,
            "{ rectifications(filter: {status: OPEN}) { rectifications { id rating { id } } } }",
            json!({}),
        )
        .await["rectifications"]["rectifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["rating"]["id"] == id.as_str())
        .unwrap()["id"]
        .clone();
    let mut answers = Vec::new();
    for agent in [&centre.agent, &other_agent] {
        for mutation in [
            "mutation($id: ID!) { verifyRectification(id: $id, reached: false, note: \"x\") { id } }",
            "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"x\", reply: \"y\") { id } }",
        ] {
            let error = expect_error(
                &centre
                    .app()
                    .as_(agent, mutation, json!({"id": open_order}))
                    .await,
                "FORBIDDEN",
            );
            answers.push(error["message"].clone());
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // Its order is resolved, and the second rating stays anonymous.
    let order = centre
        .ok(
            &centre.admin,
            "{ rectifications(filter: {status: OPEN}) { rectifications { id } } }",
            json!({}),
        )
        .await["rectifications"]["rectifications"][0]["id"]
        .clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"已说明\", reply: \"已说明\") { status } }", json!({"id": order})).await;
    let second = expect_data(
        &centre
            .app()
            .as_(
                &hidden,
                crate::satisfaction::RATE,
                json!({"c": secret, "l": "DISSATISFIED"}),
            )
            .await,
    );
    assert_eq!(
        second["rateCase"]["anonymous"], true,
        "the second rating inherits the first's anonymity"
    );
    // A bad second rating's order promises no third rating.
    let third = centre
        .ok(
            &centre.admin,
            "{ rectifications(filter: {status: OPEN}) { rectifications { id } } }",
            json!({}),
        )
        .await["rectifications"]["rectifications"][0]["id"]
        .clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"已说明\", reply: \"再次说明\") { status } }", json!({"id": third})).await;
    let events = centre.app().dump_table("events").await;
    let reply = events
        .lines()
        .find(|l| l.contains("再次说明"))
        .expect("the reply");
    assert!(!reply.contains("secondRatingBy"), "{reply}");
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_given_before_the_invitation_reaction_ran_still_counts() {
    let centre = Centre::start_with(|s| {
        s.events.reactions_inline = false;
        s.events.reaction_worker_enabled = false;
    })
    .await;
    let resident = centre.resident("sat-early").await;
    let case = centre.open_case(&resident).await;
    centre
        .ok(
            &centre.agent,
            "mutation($id: ID!) { completeCase(id: $id, outcome: []) { status } }",
            json!({"id": case}),
        )
        .await;
    let rated = centre
        .rate(&resident, &case, "SATISFIED", None, false)
        .await;
    assert_eq!(expect_data(&rated)["rateCase"]["round"], 1);
    assert_eq!(count(centre.app(), "rating_invitations").await, 1);
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_checks_are_limited_per_resident_and_a_text_never_checked_goes_to_a_human() {
    let centre = Centre::start().await;
    let resident = centre.resident("sat-spammer").await;
    let case = centre.completed_case(&resident).await;
    let mut limited = 0;
    for _ in 0..25 {
        let response = centre
            .rate(
                &resident,
                &case,
                "SATISFIED",
                Some(&format!("又是{RISKY_WORD}")),
                false,
            )
            .await;
        let code = response["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            code == "CONTENT_REJECTED" || code == "RATE_LIMITED",
            "{response}"
        );
        limited += usize::from(code == "RATE_LIMITED");
    }
    assert_eq!(limited, 5, "20 checks an hour per resident");
    assert_eq!(centre.fake.calls(Api::MsgSecCheck), 20);

    // WeChat never answers for one text: after the configured tries it waits for a human.
    let other = centre.resident("sat-unlucky").await;
    let stuck = centre.completed_case(&other).await;
    centre.fake.fail_next(Api::MsgSecCheck, &[-1; 60]);
    let rated = expect_data(
        &centre
            .rate(&other, &stuck, "SATISFIED", Some("还可以"), false)
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(rated["textState"], "UNCHECKED");
    for _ in 0..5 {
        bangban_server::jobs::run_due(&centre.app().state)
            .await
            .map_err(|e| e.message())
            .unwrap();
    }
    let seen = centre
        .ok(
            &centre.admin,
            "query($id: ID!) { rating(id: $id) { textState text } }",
            json!({"id": rated["id"]}),
        )
        .await;
    assert_eq!(seen["rating"]["textState"], "HELD", "{seen}");
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_rated_does_not_close_their_own_order() {
    let centre = Centre::start().await;
    let resident = centre.resident("sat-own").await;
    let case = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    );
    let order = centre.ok(&centre.agent, ORDERS, json!({})).await["rectifications"]["rectifications"][0]["id"].clone();
    let before = centre.snapshot().await;
    for mutation in [
        "mutation($id: ID!) { verifyRectification(id: $id, reached: false, note: \"无人接听\") { status } }",
        "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"x\", reply: \"y\") { status } }",
    ] {
        expect_error(
            &centre
                .app()
                .as_(&centre.agent, mutation, json!({"id": order}))
                .await,
            "FORBIDDEN",
        );
    }
    assert_eq!(before, centre.snapshot().await);
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_anonymous_rater_is_told_stays_theirs() {
    let centre = Centre::start_with(|s| {
        s.push
            .templates
            .push(bangban_server::config::TemplateSettings {
                event_kind: "rating.replied".into(),
                template_id: "TPL-RATING-REPLY".into(),
                page: Some("pages/me/ratings".into()),
                long_term: false,
                data: [("thing1".to_string(), "=您的评价已回复".to_string())]
                    .into_iter()
                    .collect(),
                recipients: bangban_server::config::Recipients::Residents,
            });
    })
    .await;
    let town = centre
        .app()
        .staff_session("sat.private-town", Role::TownshipAdmin, LONGGANG)
        .await;
    let hidden = centre.resident("sat-private").await;
    let case = centre.completed_case(&hidden).await;
    let rating = expect_data(
        &centre
            .rate(&hidden, &case, "VERY_DISSATISFIED", None, true)
            .await,
    )["rateCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let order = centre.ok(&centre.admin, ORDERS, json!({})).await["rectifications"]
        ["rectifications"][0]["id"]
        .clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"已说明\", reply: \"已向您说明\") { status } }", json!({"id": order})).await;
    // The county administrator follows the rating from its reply on (a rating has one reply,
    // so no reply can follow live): what staff are told arrives, and nothing before it.
    let replied = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::events::Entity::find()
            .filter(entity::events::Column::Kind.eq("rating.replied"))
            .one(&centre.app().state.db)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string()
    };
    let mut live =
        crate::helpers::WsClient::connect(centre.app(), Some(&centre.admin.access)).await;
    live.subscribe(
        "l",
        "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }",
        json!({"s": rating, "a": replied}),
    )
    .await;
    // The unit appeals: an event about the rating that staff are meant to hear.
    centre.ok(&town, "mutation($r: ID!) { appealRating(ratingId: $r, reason: MISTAKEN, explanation: \"误评\", evidence: []) { id } }", json!({"r": rating})).await;
    let first_event = {
        use sea_orm::{EntityTrait, QueryOrder};
        entity::events::Entity::find()
            .order_by_asc(entity::events::Column::Seq)
            .one(&centre.app().state.db)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string()
    };
    // The rater follows their rating and replays the reply.
    let mut rater = crate::helpers::WsClient::connect(centre.app(), Some(&hidden.access)).await;
    rater
        .subscribe(
            "r",
            "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }",
            json!({"s": rating, "a": first_event}),
        )
        .await;
    let told = rater
        .next_event("r", "subjectEvents", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(told["kind"], "rating.replied");
    let heard_live = live
        .next_event("l", "subjectEvents", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(heard_live["kind"], "rating.appeal_filed", "{heard_live}");
    // The county administrator replays the same subject: the appeal, never the rater's reply.
    let mut admin =
        crate::helpers::WsClient::connect(centre.app(), Some(&centre.admin.access)).await;
    admin
        .subscribe(
            "a",
            "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }",
            json!({"s": rating, "a": first_event}),
        )
        .await;
    let heard = admin
        .next_event("a", "subjectEvents", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(heard["kind"], "rating.appeal_filed", "{heard}");
    // Nor the message WeChat carried to the rater.
    let pushed = centre
        .ok(&hidden, "{ myPushDeliveries { status } }", json!({}))
        .await;
    assert_eq!(
        pushed["myPushDeliveries"].as_array().unwrap().len(),
        1,
        "the rater's reply was queued to WeChat: {pushed}"
    );
    for session in [&centre.admin, &town] {
        let seen = centre
            .ok(
                session,
                "query($s: ID!) { pushDeliveries(subjectId: $s) { status } }",
                json!({"s": rating}),
            )
            .await;
        assert_eq!(seen["pushDeliveries"], json!([]), "{seen}");
    }
    centre.stop().await;
}
