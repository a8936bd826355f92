//! The callback script is configuration: the questions asked, which "yes" reports misconduct
//! and which level measures satisfaction; answers keep the question as it was asked. End to end
//! on both backends.
use bangban_server::{
    auth::Role,
    clock::Clock,
    config::{CallbackQuestion, QuestionKind},
};
use serde_json::json;

use crate::{
    directory::COUNTY,
    helpers::{STAFF_PASSWORD, TestApp, expect_data, expect_error},
    satisfaction::Centre,
    satisfaction_callbacks::{ATTEMPT, TASKS},
};

fn question(key: &str, text: &str, kind: QuestionKind) -> CallbackQuestion {
    CallbackQuestion {
        key: key.into(),
        text: text.into(),
        kind,
        misconduct_when_yes: false,
        measures_satisfaction: false,
    }
}

/// Moves the test clock to the morning (China) of the first working day from today, so calls
/// may be made; true when it moved (sessions must sign in again).
pub(crate) async fn to_a_working_day(app: &TestApp) -> bool {
    let today = bangban_server::clock::local_date(app.clock.now());
    let days = expect_data(&app.graphql(None, "query($f: NaiveDate!, $t: NaiveDate!) { calendar(from: $f, to: $t) { date isWorkday } }", json!({"f": today.to_string(), "t": (today + chrono::Duration::days(20)).to_string()})).await);
    let first: chrono::NaiveDate = days["calendar"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["isWorkday"] == true)
        .expect("a working day within 20 days")["date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    if first == today {
        return false;
    }
    // 10:00 in China.
    app.clock.set(first.and_hms_opt(2, 0, 0).unwrap().and_utc());
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_script_is_asked_checked_counted_and_kept_with_its_questions() {
    let mut centre = Centre::start_with(|s| {
        let mut extra = question(
            "extra_material",
            "是否被要求提供清单以外的材料？",
            QuestionKind::YesNo,
        );
        extra.misconduct_when_yes = true;
        let mut overall = question(
            "overall",
            "您对这次帮办服务总体满意吗？",
            QuestionKind::Level,
        );
        overall.measures_satisfaction = true;
        s.satisfaction.callback_script = vec![
            question("done", "事项办好了吗？", QuestionKind::YesNo),
            extra,
            overall,
            question("note", "还有别的想说的吗？", QuestionKind::Text),
        ];
    })
    .await;
    let script = expect_data(
        &centre
            .app()
            .graphql(
                None,
                "{ callbackScript { key text kind misconductWhenYes measuresSatisfaction } }",
                json!({}),
            )
            .await,
    )["callbackScript"]
        .clone();
    assert_eq!(
        script,
        json!([
            {"key": "done", "text": "事项办好了吗？", "kind": "YES_NO", "misconductWhenYes": false, "measuresSatisfaction": false},
            {"key": "extra_material", "text": "是否被要求提供清单以外的材料？", "kind": "YES_NO", "misconductWhenYes": true, "measuresSatisfaction": false},
            {"key": "overall", "text": "您对这次帮办服务总体满意吗？", "kind": "LEVEL", "misconductWhenYes": false, "measuresSatisfaction": true},
            {"key": "note", "text": "还有别的想说的吗？", "kind": "TEXT", "misconductWhenYes": false, "measuresSatisfaction": false},
        ])
    );
    let resident = centre.resident("script-rater").await;
    let case = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    );
    let task = centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"][0]["id"].clone();
    let inspector = centre
        .app()
        .staff_session("script.inspector", Role::Inspector, COUNTY)
        .await;
    centre
        .ok(
            &centre.admin,
            "mutation($id: ID!, $c: ID!) { assignCallback(id: $id, callerId: $c) { id } }",
            json!({"id": task, "c": inspector.user_id}),
        )
        .await;
    let inspector = if to_a_working_day(centre.app()).await {
        centre.sign_in_again().await;
        centre
            .app()
            .login_staff_session("script.inspector", STAFF_PASSWORD)
            .await
    } else {
        inspector
    };
    // The default script's questions are no longer asked; the new ones must be answered.
    let before = centre.snapshot().await;
    let old = json!([
        {"key": "done", "yes": true},
        {"key": "charged", "yes": false},
        {"key": "attitude", "level": "SATISFIED"},
    ]);
    let refused = expect_error(
        &centre
            .app()
            .as_(
                &inspector,
                ATTEMPT,
                json!({"id": task, "o": "REACHED", "a": old}),
            )
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(
        refused["extensions"]["field"], "answers.charged",
        "{refused}"
    );
    let missing = expect_error(
        &centre
            .app()
            .as_(&inspector, ATTEMPT, json!({"id": task, "o": "REACHED", "a": [{"key": "done", "yes": true}, {"key": "extra_material", "yes": false}]}))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(
        missing["extensions"]["field"], "answers.overall",
        "{missing}"
    );
    assert_eq!(before, centre.snapshot().await, "refusals write nothing");
    let answers = json!([
        {"key": "overall", "level": "DISSATISFIED"},
        {"key": "done", "yes": true},
        {"key": "extra_material", "yes": true},
        {"key": "note", "text": "窗口让我多跑了一趟"},
    ]);
    let recorded = centre
        .ok(
            &inspector,
            ATTEMPT,
            json!({"id": task, "o": "REACHED", "a": answers}),
        )
        .await["recordCallbackAttempt"]
        .clone();
    assert_eq!(recorded["status"], "ANSWERED");
    assert_eq!(
        recorded["misconduct"], true,
        "the configured question reports misconduct"
    );
    let kept = centre
        .ok(
            &centre.admin,
            "{ callbackTasks { answers { key question yes level text } } }",
            json!({}),
        )
        .await["callbackTasks"][0]["answers"]
        .clone();
    assert_eq!(
        kept,
        json!([
            {"key": "done", "question": "事项办好了吗？", "yes": true, "level": null, "text": null},
            {"key": "extra_material", "question": "是否被要求提供清单以外的材料？", "yes": true, "level": null, "text": null},
            {"key": "overall", "question": "您对这次帮办服务总体满意吗？", "yes": null, "level": "DISSATISFIED", "text": null},
            {"key": "note", "question": "还有别的想说的吗？", "yes": null, "level": null, "text": "窗口让我多跑了一趟"},
        ]),
        "in the script's order, each with its question"
    );
    // The measuring question is the distribution.
    let today = bangban_server::clock::local_date(centre.app().clock.now());
    let results = centre.ok(&centre.admin, "query($f: NaiveDate!, $t: NaiveDate!) { callbackResults(from: $f, until: $t) { misconduct attitude } }", json!({"f": (today - chrono::Duration::days(30)).to_string(), "t": today.to_string()})).await["callbackResults"].clone();
    assert_eq!(
        results,
        json!([{"misconduct": 1, "attitude": [0, 0, 0, 1, 0]}]),
        "{results}"
    );
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_s_comment_waits_for_its_check_and_a_held_one_for_the_county_centre() {
    let centre = Centre::start().await;
    let answer = "mutation($id: ID!, $a: [CallbackAnswerInput!]!) { answerCallback(id: $id, answers: $a) { status } }";
    let staff_view = "query { callbackTasks { id caseId commentState answers { key text } } }";
    let with_comment = |text: &str| {
        let mut answers = crate::satisfaction_callbacks::full_answers(false);
        answers
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "comments", "text": text}));
        answers
    };
    let mut callbacks = Vec::new();
    for name in ["cb-comment-down", "cb-comment-review"] {
        let resident = centre.resident(name).await;
        let case = centre.completed_case(&resident).await;
        expect_data(
            &centre
                .rate(&resident, &case, "DISSATISFIED", None, false)
                .await,
        );
        let task = centre
            .ok(&resident, "{ myCallbacks { id } }", json!({}))
            .await["myCallbacks"][0]["id"]
            .clone();
        callbacks.push((resident, case, task));
    }
    let of = |tasks: &serde_json::Value, case: &str| {
        tasks["callbackTasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["caseId"] == case)
            .unwrap()
            .clone()
    };
    let comment_of = |task: &serde_json::Value| {
        task["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "comments")
            .map(|a| a["text"].clone())
    };
    // WeChat is down: the comment is kept unseen, and a job checks it later.
    let (down, down_case, down_task) = &callbacks[0];
    // (The client tries each call three times.)
    centre
        .fake
        .fail_next(crate::fake_wechat::Api::MsgSecCheck, &[-1; 3]);
    centre
        .ok(
            down,
            answer,
            json!({"id": down_task, "a": with_comment("服务热情周到")}),
        )
        .await;
    let tasks = centre.ok(&centre.admin, staff_view, json!({})).await;
    let task = of(&tasks, down_case);
    assert_eq!(task["commentState"], "UNCHECKED", "{task}");
    assert_eq!(comment_of(&task), None, "never shown unchecked");
    bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let task = of(
        &centre.ok(&centre.admin, staff_view, json!({})).await,
        down_case,
    );
    assert_eq!(task["commentState"], "PUBLISHED", "{task}");
    assert_eq!(comment_of(&task), Some(json!("服务热情周到")));

    // WeChat asks for a human: held until the county centre releases it.
    let (review, review_case, review_task) = &callbacks[1];
    centre
        .ok(
            review,
            answer,
            json!({"id": review_task, "a": with_comment(&format!("有{}", crate::fake_wechat::REVIEW_WORD))}),
        )
        .await;
    let task = of(
        &centre.ok(&centre.admin, staff_view, json!({})).await,
        review_case,
    );
    assert_eq!(task["commentState"], "HELD", "{task}");
    assert_eq!(comment_of(&task), None);
    let held = centre
        .ok(
            &centre.admin,
            "{ heldCallbackComments { id comment } }",
            json!({}),
        )
        .await;
    assert_eq!(
        held["heldCallbackComments"],
        json!([{"id": review_task, "comment": format!("有{}", crate::fake_wechat::REVIEW_WORD)}]),
        "the reviewer reads what they decide on"
    );
    let release = "mutation($id: ID!, $p: Boolean!) { reviewCallbackComment(id: $id, publish: $p) { commentState } }";
    let before = centre.snapshot().await;
    for (who, vars, code) in [
        (
            &centre.agent,
            json!({"id": review_task, "p": true}),
            "FORBIDDEN",
        ),
        (review, json!({"id": review_task, "p": true}), "FORBIDDEN"),
        (
            &centre.admin,
            json!({"id": down_task, "p": true}),
            "INVALID_TRANSITION",
        ),
    ] {
        expect_error(&centre.app().as_(who, release, vars).await, code);
    }
    expect_error(
        &centre
            .app()
            .as_(&centre.agent, "{ heldCallbackComments { id } }", json!({}))
            .await,
        "FORBIDDEN",
    );
    assert_eq!(before, centre.snapshot().await, "refusals write nothing");
    let released = centre
        .ok(
            &centre.admin,
            release,
            json!({"id": review_task, "p": true}),
        )
        .await;
    assert_eq!(
        released["reviewCallbackComment"]["commentState"],
        "RELEASED"
    );
    let task = of(
        &centre.ok(&centre.admin, staff_view, json!({})).await,
        review_case,
    );
    assert!(comment_of(&task).is_some(), "{task}");
    assert!(
        centre
            .app()
            .dump_table("audit_log")
            .await
            .contains("callback.comment_reviewed")
    );
    centre.stop().await;
}
