//! Satisfaction callbacks (满意度回访) end to end, on both backends: a real-name bad rating is
//! called back automatically; the county administrator draws a sample (seed recorded, cases
//! called this year left out) and assigns callers; calls are rescheduled on later working days
//! by the test clock and closed as unreachable; answers reporting fees tell the inspectors; the
//! applicant answers in the mini-program; the phone is revealed to the caller only, audited;
//! refusals write nothing.
use bangban_server::{auth::Role, clock::Clock};
use serde_json::{Value, json};

use crate::{
    directory::{COUNTY, LONGGANG},
    fake_wechat::RISKY_WORD,
    helpers::{STAFF_PASSWORD, Session, expect_data, expect_error},
    satisfaction::Centre,
};

pub(crate) const TASKS: &str = "{ callbackTasks { id caseId source status attempts nextAttemptOn assignedTo misconduct answers { key yes level text } calls { outcome } } }";
pub(crate) const ATTEMPT: &str = "mutation($id: ID!, $o: CallOutcome!, $a: [CallbackAnswerInput!]) { recordCallbackAttempt(id: $id, outcome: $o, answers: $a) { status attempts nextAttemptOn misconduct } }";
const DRAW: &str = "mutation($f: NaiveDate!, $u: NaiveDate!, $n: Int, $p: Int) { drawCallbackSample(from: $f, until: $u, count: $n, percent: $p) { id seed candidates drawn opened } }";
const VERIFY: &str = "query($id: ID!) { verifyCallbackSample(id: $id) { sampleId seed requested candidates drawn reproduced candidatesMatch tasksMatch } }";

pub(crate) fn full_answers(charged: bool) -> Value {
    json!([
        {"key": "done", "yes": true},
        {"key": "charged", "yes": charged},
        {"key": "attitude", "level": "SATISFIED"},
        {"key": "timeliness", "level": "VERY_SATISFIED"},
        {"key": "gifts", "yes": false},
    ])
}

async fn callback_snapshot(centre: &Centre) -> String {
    let mut all = String::new();
    for table in [
        "callback_samples",
        "callback_tasks",
        "callback_attempts",
        "events",
        "audit_log",
    ] {
        all.push_str(&centre.app().dump_table(table).await);
    }
    all
}

fn today(centre: &Centre) -> chrono::NaiveDate {
    bangban_server::clock::local_date(centre.app().clock.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_leaves_out_cases_called_this_year_and_bad_ratings_are_called_back() {
    let centre = Centre::start().await;
    let mut residents: Vec<Session> = Vec::new();
    let mut cases = Vec::new();
    for n in 0..4 {
        let resident = centre.resident(&format!("cb-sample-{n}")).await;
        cases.push(centre.completed_case(&resident).await);
        residents.push(resident);
    }
    // A real-name bad rating is called back automatically; an anonymous one cannot be.
    expect_data(
        &centre
            .rate(&residents[0], &cases[0], "DISSATISFIED", None, false)
            .await,
    );
    expect_data(
        &centre
            .rate(&residents[1], &cases[1], "DISSATISFIED", None, true)
            .await,
    );
    let tasks = centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"].clone();
    assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
    assert_eq!(tasks[0]["source"], "BAD_RATING");
    assert_eq!(tasks[0]["caseId"], cases[0].as_str());
    // Coverage: of the four cases that ended, one has a callback so far.
    let period = today(&centre).to_string();
    let coverage = centre.ok(&centre.admin, "query($f: NaiveDate!) { callbackResults(from: $f, until: $f) { finished covered coverage tasks } }", json!({"f": period})).await["callbackResults"].clone();
    assert_eq!(
        coverage,
        json!([{"finished": 4, "covered": 1, "coverage": 0.25, "tasks": 1}])
    );

    let day = today(&centre).to_string();
    let town = centre
        .app()
        .staff_session("cb.town", Role::TownshipAdmin, LONGGANG)
        .await;
    let before = callback_snapshot(&centre).await;
    for (who, vars, code) in [
        (
            &centre.agent,
            json!({"f": day, "u": day, "n": 1}),
            "FORBIDDEN",
        ),
        (&town, json!({"f": day, "u": day, "n": 1}), "FORBIDDEN"),
        (
            &centre.admin,
            json!({"f": day, "u": day, "n": 0}),
            "BAD_USER_INPUT",
        ),
        (&centre.admin, json!({"f": day, "u": day}), "BAD_USER_INPUT"),
        (
            &centre.admin,
            json!({"f": day, "u": day, "n": 1, "p": 10}),
            "BAD_USER_INPUT",
        ),
        (
            &centre.admin,
            json!({"f": day, "u": "2020-01-01", "n": 1}),
            "BAD_USER_INPUT",
        ),
    ] {
        expect_error(&centre.app().as_(who, DRAW, vars.clone()).await, code);
    }
    // The drawer does not choose the seed: one chosen could be tried until it pleased.
    let chosen = centre.app().as_(&centre.admin, "mutation($f: NaiveDate!) { drawCallbackSample(from: $f, until: $f, count: 1, seed: \"42\") { id } }", json!({"f": day})).await;
    assert!(
        chosen["errors"].is_array() && chosen["data"].is_null(),
        "{chosen}"
    );
    assert_eq!(
        before,
        callback_snapshot(&centre).await,
        "refused draws write nothing"
    );

    // A while after the cases ended (a check expects every case that ended a minute before).
    centre.app().clock.advance(chrono::Duration::minutes(2));
    let drawn = centre
        .ok(&centre.admin, DRAW, json!({"f": day, "u": day, "n": 2}))
        .await["drawCallbackSample"]
        .clone();
    assert!(
        drawn["seed"].as_str().unwrap().parse::<u64>().is_ok(),
        "{drawn}"
    );
    assert_eq!(
        drawn["candidates"], 3,
        "the case called back already is left out"
    );
    assert_eq!(
        (drawn["drawn"].as_i64(), drawn["opened"].as_i64()),
        (Some(2), Some(2))
    );
    // The next draw of the period finds only the case not yet called.
    let again = centre
        .ok(&centre.admin, DRAW, json!({"f": day, "u": day, "p": 100}))
        .await["drawCallbackSample"]
        .clone();
    assert_eq!(
        (again["candidates"].as_i64(), again["drawn"].as_i64()),
        (Some(1), Some(1))
    );
    let tasks = centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"].clone();
    let mut called: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["caseId"].as_str().unwrap())
        .collect();
    called.sort_unstable();
    let mut all: Vec<&str> = cases.iter().map(String::as_str).collect();
    all.sort_unstable();
    assert_eq!(called, all, "every case once");
    // Anyone of the county centre checks a past draw: its recorded seed over its recorded
    // candidates draws exactly its cases, and its callbacks are those.
    let auditor = centre
        .app()
        .staff_session("cb.auditor", Role::Auditor, COUNTY)
        .await;
    let check = centre
        .ok(&auditor, VERIFY, json!({"id": drawn["id"]}))
        .await["verifyCallbackSample"]
        .clone();
    assert_eq!(
        check,
        json!({"sampleId": drawn["id"], "seed": drawn["seed"], "requested": "count:2", "candidates": 3, "drawn": 2, "reproduced": true, "candidatesMatch": true, "tasksMatch": true})
    );
    for who in [&centre.agent, &town] {
        expect_error(
            &centre
                .app()
                .as_(who, VERIFY, json!({"id": drawn["id"]}))
                .await,
            "FORBIDDEN",
        );
    }
    expect_error(
        &centre
            .app()
            .as_(
                &auditor,
                VERIFY,
                json!({"id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        "NOT_FOUND",
    );
    // A record changed afterwards no longer holds: one drawn case swapped for one left.
    let db = &centre.app().state.db;
    let sample_id = drawn["id"].as_str().unwrap();
    let flags = |drawn: bool| {
        let db = db.clone();
        let sample_id = sample_id.to_string();
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            entity::callback_sample_candidates::Entity::find()
                .filter(
                    entity::callback_sample_candidates::Column::SampleId
                        .eq(uuid::Uuid::parse_str(&sample_id).unwrap()),
                )
                .filter(entity::callback_sample_candidates::Column::Drawn.eq(drawn))
                .filter(entity::callback_sample_candidates::Column::Called.eq(false))
                .all(&db)
                .await
                .unwrap()
        }
    };
    let (picked, left) = (flags(true).await, flags(false).await);
    assert_eq!((picked.len(), left.len()), (2, 1));
    {
        use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
        let mut one = picked[0].clone().into_active_model();
        one.drawn = Set(false);
        one.update(db).await.unwrap();
        let mut other = left[0].clone().into_active_model();
        other.drawn = Set(true);
        other.update(db).await.unwrap();
    }
    let swapped = centre
        .ok(&auditor, VERIFY, json!({"id": drawn["id"]}))
        .await["verifyCallbackSample"]
        .clone();
    assert_eq!(
        (
            &swapped["reproduced"],
            &swapped["candidatesMatch"],
            &swapped["tasksMatch"]
        ),
        (&json!(false), &json!(true), &json!(false)),
        "the seed no longer draws what is recorded: {swapped}"
    );
    // A candidate struck from the record and the rest made to fit: the draw and the callbacks
    // agree again, and only the period's own cases tell.
    {
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, ModelTrait, Set};
        entity::callback_sample_candidates::Entity::find_by_id((
            left[0].sample_id,
            left[0].case_id,
        ))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .delete(db)
        .await
        .unwrap();
        let mut back = picked[0].clone().into_active_model();
        back.drawn = Set(true);
        back.update(db).await.unwrap();
        let mut sample = entity::callback_samples::Entity::find_by_id(left[0].sample_id)
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .into_active_model();
        sample.candidates = Set(2);
        sample.update(db).await.unwrap();
    }
    let struck = centre
        .ok(&auditor, VERIFY, json!({"id": drawn["id"]}))
        .await["verifyCallbackSample"]
        .clone();
    assert_eq!(
        (
            &struck["reproduced"],
            &struck["candidatesMatch"],
            &struck["tasksMatch"]
        ),
        (&json!(true), &json!(false), &json!(true)),
        "{struck}"
    );
    // Each sampled applicant is invited to answer in the mini-program.
    let mut invited = 0;
    for resident in &residents[1..] {
        invited += centre
            .ok(resident, "{ myCallbacks { id status } }", json!({}))
            .await["myCallbacks"]
            .as_array()
            .unwrap()
            .len();
    }
    assert_eq!(invited, 3);
    assert!(
        centre
            .app()
            .dump_table("events")
            .await
            .contains("callback.invited")
    );
    assert!(
        centre
            .app()
            .dump_table("audit_log")
            .await
            .contains("callback.sample_drawn")
    );
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_move_to_later_working_days_then_close_and_answers_reporting_fees_tell_the_inspectors()
 {
    let centre = Centre::start().await;
    let inspector = centre
        .app()
        .staff_session("cb.inspector", Role::Inspector, COUNTY)
        .await;
    let watcher = centre
        .app()
        .staff_session("cb.watcher", Role::Inspector, COUNTY)
        .await;
    let mut ids = Vec::new();
    let mut residents = Vec::new();
    for n in 0..3 {
        let resident = centre.resident(&format!("cb-call-{n}")).await;
        let case = centre.completed_case(&resident).await;
        expect_data(
            &centre
                .rate(&resident, &case, "DISSATISFIED", None, false)
                .await,
        );
        residents.push(resident);
    }
    for task in centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"]
        .as_array()
        .unwrap()
    {
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 3);
    let assign =
        "mutation($id: ID!, $c: ID!) { assignCallback(id: $id, callerId: $c) { assignedTo } }";
    let inspector_id = json!(inspector.user_id);
    let before = callback_snapshot(&centre).await;
    expect_error(
        &centre
            .app()
            .as_(
                &centre.agent,
                assign,
                json!({"id": ids[0], "c": inspector_id}),
            )
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &centre
            .app()
            .as_(
                &centre.admin,
                assign,
                json!({"id": ids[0], "c": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(before, callback_snapshot(&centre).await);
    for id in &ids {
        centre
            .ok(&centre.admin, assign, json!({"id": id, "c": inspector_id}))
            .await;
    }
    // Every inspector of the county reads the callbacks (to act on a misconduct report); only
    // the assigned caller calls — not even the administrator — and sees the number, audited.
    let seen = centre.ok(&watcher, TASKS, json!({})).await["callbackTasks"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(seen, 3, "an unassigned inspector reads them");
    expect_error(
        &centre
            .app()
            .as_(
                &centre.admin,
                ATTEMPT,
                json!({"id": ids[0], "o": "WRONG_NUMBER"}),
            )
            .await,
        "FORBIDDEN",
    );
    let reveal = "mutation($id: ID!) { revealCallbackPhone(id: $id, reason: \"回访\") }";
    expect_error(
        &centre
            .app()
            .as_(&watcher, reveal, json!({"id": ids[0]}))
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &centre
            .app()
            .as_(&watcher, ATTEMPT, json!({"id": ids[0], "o": "NO_ANSWER"}))
            .await,
        "FORBIDDEN",
    );
    let phone = centre.ok(&inspector, reveal, json!({"id": ids[0]})).await;
    assert_eq!(phone["revealCallbackPhone"], Value::Null, "no phone bound");
    assert!(
        centre
            .app()
            .dump_table("audit_log")
            .await
            .contains("pii.reveal")
    );

    // No answer three times, each on a later working day, closes it as unreachable. (Calls
    // are made on working days: a run on a day off starts on the next working day.)
    let inspector = if crate::satisfaction_script::to_a_working_day(centre.app()).await {
        centre
            .app()
            .login_staff_session("cb.inspector", STAFF_PASSWORD)
            .await
    } else {
        inspector
    };
    let first = centre
        .ok(&inspector, ATTEMPT, json!({"id": ids[0], "o": "NO_ANSWER"}))
        .await["recordCallbackAttempt"]
        .clone();
    assert_eq!(first["attempts"], 1);
    let next = first["nextAttemptOn"].as_str().unwrap().to_string();
    let expected = expect_data(
        &centre
            .app()
            .graphql(
                None,
                "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 1) { date } }",
                json!({"d": today(&centre).to_string()}),
            )
            .await,
    );
    assert_eq!(next, expected["addWorkingDays"]["date"].as_str().unwrap());
    let before = callback_snapshot(&centre).await;
    expect_error(
        &centre
            .app()
            .as_(&inspector, ATTEMPT, json!({"id": ids[0], "o": "NO_ANSWER"}))
            .await,
        "INVALID_TRANSITION",
    );
    assert_eq!(
        before,
        callback_snapshot(&centre).await,
        "not twice on one day"
    );
    let mut inspector = inspector;
    let mut day = next;
    for attempt in 2..=3 {
        let at: chrono::NaiveDate = day.parse().unwrap();
        let morning = at.and_hms_opt(2, 0, 0).unwrap().and_utc();
        centre.app().clock.set(morning);
        inspector = centre
            .app()
            .login_staff_session("cb.inspector", STAFF_PASSWORD)
            .await;
        let step = centre
            .ok(&inspector, ATTEMPT, json!({"id": ids[0], "o": "NO_ANSWER"}))
            .await["recordCallbackAttempt"]
            .clone();
        assert_eq!(step["attempts"], attempt);
        day = step["nextAttemptOn"].as_str().unwrap().to_string();
        if attempt == 3 {
            assert_eq!(step["status"], "UNREACHABLE");
        }
    }

    // A reached call records the whole script; fees charged tell the inspectors.
    let before = callback_snapshot(&centre).await;
    expect_error(
        &centre
            .app()
            .as_(&inspector, ATTEMPT, json!({"id": ids[1], "o": "REACHED"}))
            .await,
        "BAD_USER_INPUT",
    );
    let mut partial = full_answers(false);
    partial.as_array_mut().unwrap().remove(2);
    let missing = centre
        .app()
        .as_(
            &inspector,
            ATTEMPT,
            json!({"id": ids[1], "o": "REACHED", "a": partial}),
        )
        .await;
    assert_eq!(
        expect_error(&missing, "BAD_USER_INPUT")["extensions"]["field"],
        "answers.attitude"
    );
    let both = centre.app().as_(&inspector, ATTEMPT, json!({"id": ids[1], "o": "REACHED", "a": [{"key": "done", "yes": true, "level": "SATISFIED"}]})).await;
    expect_error(&both, "BAD_USER_INPUT");
    assert_eq!(before, callback_snapshot(&centre).await);
    let answered = centre
        .ok(
            &inspector,
            ATTEMPT,
            json!({"id": ids[1], "o": "REACHED", "a": full_answers(true)}),
        )
        .await["recordCallbackAttempt"]
        .clone();
    assert_eq!(answered["status"], "ANSWERED");
    assert_eq!(answered["misconduct"], true);
    assert!(
        centre
            .app()
            .dump_table("events")
            .await
            .contains("callback.misconduct_reported")
    );
    // The report opens a complaint record for the inspectors, real-name, with the caller as
    // its source, about the unit that handled the case.
    let admin = centre
        .app()
        .login_staff_session("sat.county", crate::helpers::STAFF_PASSWORD)
        .await;
    let opened = centre
        .ok(
            &admin,
            "{ complaints { complaints { source category caseId anonymous status } } }",
            json!({}),
        )
        .await["complaints"]["complaints"]
        .clone();
    let opened = opened.as_array().unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["source"], "CALLBACK");
    assert_eq!(opened[0]["status"], "RECEIVED");
    assert_eq!(opened[0]["anonymous"], false);
    // The case names its applicant: an administrator does not see it without the reveal.
    assert!(opened[0]["caseId"].is_null(), "{opened:?}");
    assert!(
        !centre
            .app()
            .dump_table("events")
            .await
            .lines()
            .any(|l| l.contains("callback.misconduct_reported") && l.contains("complaintId")),
        "the callback's event does not name the complaint"
    );
    assert!(
        ["ILLEGAL_CHARGES", "GIFTS_OR_BANQUETS"].contains(&opened[0]["category"].as_str().unwrap())
    );
    expect_error(
        &centre
            .app()
            .as_(&inspector, ATTEMPT, json!({"id": ids[1], "o": "NO_ANSWER"}))
            .await,
        "INVALID_TRANSITION",
    );

    // The applicant answers the third themselves; a prohibited comment is refused.
    let answer = "mutation($id: ID!, $a: [CallbackAnswerInput!]!) { answerCallback(id: $id, answers: $a) { status answers { key } } }";
    let mut mine_id = None;
    let mut mine_resident = None;
    // The test clock moved past their tokens: the applicants sign in again.
    let mut fresh = Vec::new();
    for n in 0..3 {
        fresh.push(centre.resident(&format!("cb-call-{n}")).await);
    }
    let residents = fresh;
    for resident in &residents {
        let mine = centre
            .ok(resident, "{ myCallbacks { id } }", json!({}))
            .await;
        if let Some(id) = mine["myCallbacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == ids[2].as_str())
        {
            mine_id = Some(id["id"].clone());
            mine_resident = Some(resident.clone());
        }
    }
    let (id, resident) = (mine_id.expect("the open callback"), mine_resident.unwrap());
    expect_error(
        &centre
            .app()
            .as_(
                &resident,
                answer,
                json!({"id": ids[0], "a": full_answers(false)}),
            )
            .await,
        "NOT_FOUND",
    );
    let mut risky = full_answers(false);
    risky
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "comments", "text": format!("有{RISKY_WORD}")}));
    expect_error(
        &centre
            .app()
            .as_(&resident, answer, json!({"id": id, "a": risky}))
            .await,
        "CONTENT_REJECTED",
    );
    let mut kind = full_answers(false);
    kind.as_array_mut()
        .unwrap()
        .push(json!({"key": "comments", "text": "服务很好"}));
    let own = centre
        .ok(&resident, answer, json!({"id": id, "a": kind}))
        .await["answerCallback"]
        .clone();
    assert_eq!(own["status"], "SELF_ANSWERED");
    assert_eq!(own["answers"].as_array().unwrap().len(), 6);
    expect_error(
        &centre
            .app()
            .as_(
                &resident,
                answer,
                json!({"id": id, "a": full_answers(false)}),
            )
            .await,
        "INVALID_TRANSITION",
    );
    // The results are the county centre's: a unit's own agent does not read them.
    let agent = centre
        .app()
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    expect_error(
        &centre.app().as_(&agent, "query($f: NaiveDate!, $t: NaiveDate!) { callbackResults(from: $f, until: $t) { unitId } }", json!({"f": "2026-01-01", "t": "2026-12-31"})).await,
        "FORBIDDEN",
    );
    // The results per unit (the administrator signs in again: the test clock moved).
    let admin = centre
        .app()
        .login_staff_session("sat.county", STAFF_PASSWORD)
        .await;
    let now = centre.app().clock.now();
    let results = centre.ok(&admin, "query($f: NaiveDate!, $t: NaiveDate!) { callbackResults(from: $f, until: $t) { unitId tasks reached unreachable refused open reachedRate misconduct attitude finished covered coverage } }", json!({"f": (bangban_server::clock::local_date(now) - chrono::Duration::days(30)).to_string(), "t": bangban_server::clock::local_date(now).to_string()})).await["callbackResults"].clone();
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    let unit = &results[0];
    assert_eq!(
        unit["unitId"],
        centre.app().region_id(LONGGANG).await.as_str()
    );
    assert_eq!(
        (
            unit["tasks"].as_i64(),
            unit["reached"].as_i64(),
            unit["unreachable"].as_i64(),
            unit["open"].as_i64()
        ),
        (Some(3), Some(2), Some(1), Some(0))
    );
    assert_eq!(unit["misconduct"], 1);
    assert_eq!(unit["attitude"], json!([0, 2, 0, 0, 0]));
    assert_eq!(
        (&unit["finished"], &unit["covered"], &unit["coverage"]),
        (&json!(3), &json!(3), &json!(1.0)),
        "every bad rating's case has its callback"
    );
    assert!((unit["reachedRate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_name_bad_rating_is_called_back_even_when_its_case_was_sampled() {
    let centre = Centre::start().await;
    let resident = centre.resident("cb-both").await;
    let case = centre.completed_case(&resident).await;
    let day = today(&centre).to_string();
    centre
        .ok(&centre.admin, DRAW, json!({"f": day, "u": day, "p": 100}))
        .await;
    let task = centre
        .ok(&resident, "{ myCallbacks { id } }", json!({}))
        .await["myCallbacks"][0]["id"]
        .clone();
    centre
        .ok(&resident, "mutation($id: ID!, $a: [CallbackAnswerInput!]!) { answerCallback(id: $id, answers: $a) { status } }", json!({"id": task, "a": full_answers(false)}))
        .await;
    expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    );
    let tasks = centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"].clone();
    let sources: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"BAD_RATING"),
        "100 % return visits of real-name bad ratings: {sources:?}"
    );
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_made_on_working_days_only() {
    let centre = Centre::start().await;
    let inspector = centre
        .app()
        .staff_session("cb.weekday", Role::Inspector, COUNTY)
        .await;
    let resident = centre.resident("cb-weekday").await;
    let case = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    );
    let id = centre.ok(&centre.admin, TASKS, json!({})).await["callbackTasks"][0]["id"].clone();
    centre
        .ok(
            &centre.admin,
            "mutation($id: ID!, $c: ID!) { assignCallback(id: $id, callerId: $c) { id } }",
            json!({"id": id, "c": inspector.user_id}),
        )
        .await;
    // The first day off after today, from the published calendar.
    let from = today(&centre);
    let days = expect_data(&centre.app().graphql(None, "query($f: NaiveDate!, $t: NaiveDate!) { calendar(from: $f, to: $t) { date isWorkday } }", json!({"f": from.to_string(), "t": (from + chrono::Duration::days(20)).to_string()})).await);
    let off = days["calendar"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["isWorkday"] == false)
        .expect("a day off")["date"]
        .as_str()
        .unwrap()
        .to_string();
    let at: chrono::NaiveDate = off.parse().unwrap();
    centre
        .app()
        .clock
        .set(at.and_hms_opt(2, 0, 0).unwrap().and_utc());
    let inspector = centre
        .app()
        .login_staff_session("cb.weekday", STAFF_PASSWORD)
        .await;
    let before = callback_snapshot(&centre).await;
    let refused = centre
        .app()
        .as_(&inspector, ATTEMPT, json!({"id": id, "o": "NO_ANSWER"}))
        .await;
    assert!(
        expect_error(&refused, "INVALID_TRANSITION")["message"]
            .as_str()
            .unwrap()
            .contains("working days")
    );
    assert_eq!(before, callback_snapshot(&centre).await);
    // And a percentage out of range is reported under its own name.
    let admin = centre
        .app()
        .login_staff_session("sat.county", STAFF_PASSWORD)
        .await;
    let day = today(&centre).to_string();
    let bad = centre
        .app()
        .as_(&admin, DRAW, json!({"f": day, "u": day, "p": 101}))
        .await;
    assert_eq!(
        expect_error(&bad, "BAD_USER_INPUT")["extensions"]["field"],
        "percent"
    );
    centre.stop().await;
}
