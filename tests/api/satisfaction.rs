//! Satisfaction end to end over the API, on both backends, with the fake WeChat's content
//! check: a completed case invites its applicant (live), a bad rating opens a rectification
//! that is called back, resolved and replied to (live), and a second rating follows; one
//! rating stands among concurrent attempts; the windows; anonymity over every field staff
//! read, every event and the audit log; the content check's four outcomes; overdue orders on
//! the test clock; refusals that write nothing.
use std::time::Duration;

use bangban_server::{auth::Role, clock::Clock};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{
    booking::{BOOK, Desk, desk_on},
    directory::{COUNTY, LONGGANG},
    fake_wechat::FakeWechat,
    helpers::{Options, Session, TestApp, WsClient, expect_data, expect_error},
};

pub(crate) const RATING: &str = "id round level bad indicators { indicator level } text textState anonymous caseId caseNumber unitId itemId ratedAt excluded";
pub(crate) const RATE: &str = "mutation($c: ID!, $l: RatingLevel!, $t: String, $a: Boolean, $i: [IndicatorInput!]) { rateCase(caseId: $c, level: $l, text: $t, anonymous: $a, indicators: $i) { id round level textState text anonymous caseId caseNumber } }";
pub(crate) const ORDERS: &str = "{ rectifications { rectifications { id status dueOn reached verification classification result reply overdueFlaggedAt rating { id level text anonymous caseId caseNumber } } } }";

/// A desk at 龙港镇's centre on an app that talks to the fake WeChat, with its county admin
/// and its agent.
pub(crate) struct Centre {
    pub(crate) desk: Desk,
    pub(crate) fake: FakeWechat,
    pub(crate) agent: Session,
    pub(crate) admin: Session,
    pub(crate) slots: Vec<Value>,
    pub(crate) used: std::cell::Cell<usize>,
}

impl Centre {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(
        tweak: impl FnOnce(&mut bangban_server::config::Settings) + Send + 'static,
    ) -> Self {
        let fake = FakeWechat::start().await;
        let app = TestApp::spawn_with(Options {
            demo: true,
            wechat: Some(fake.clone()),
            tweak: Some(Box::new(tweak)),
            ..Options::default()
        })
        .await;
        let mut desk = desk_on(app, 1).await;
        let items = expect_data(
            &desk
                .app
                .graphql(
                    None,
                    "{ items(level: TOWNSHIP) { id promisedWorkingDays } }",
                    json!({}),
                )
                .await,
        );
        desk.item = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["promisedWorkingDays"].as_i64().unwrap() >= 3)
            .expect("a promised item")["id"]
            .as_str()
            .unwrap()
            .to_string();
        let agent = desk
            .app
            .login_staff_session("lg.agent0", "initial-password-1")
            .await;
        let admin = desk
            .app
            .staff_session("sat.county", Role::CountyAdmin, COUNTY)
            .await;
        let (_, slots) = desk.next_day_slots().await;
        Centre {
            desk,
            fake,
            agent,
            admin,
            slots,
            used: std::cell::Cell::new(0),
        }
    }

    pub(crate) async fn stop(self) {
        self.desk.app.stop().await;
    }

    /// Signs the staff in again (after the test clock moved past their tokens' lifetime).
    pub(crate) async fn sign_in_again(&mut self) {
        self.agent = self
            .app()
            .login_staff_session("lg.agent0", "initial-password-1")
            .await;
        self.admin = self
            .app()
            .login_staff_session("sat.county", crate::helpers::STAFF_PASSWORD)
            .await;
    }

    pub(crate) fn app(&self) -> &TestApp {
        &self.desk.app
    }

    pub(crate) async fn resident(&self, name: &str) -> Session {
        Session::from_payload(
            &self
                .app()
                .login_with_code(&self.fake.login_code(name))
                .await["data"]["loginWithWechat"],
        )
    }

    pub(crate) async fn ok(&self, who: &Session, query: &str, vars: Value) -> Value {
        expect_data(&self.app().as_(who, query, vars).await)
    }

    /// A help case of `resident`'s, from a booking to COMPLETED; its id.
    pub(crate) async fn completed_case(&self, resident: &Session) -> String {
        let case = self.open_case(resident).await;
        self.ok(
            &self.agent,
            "mutation($id: ID!) { completeCase(id: $id, outcome: []) { status } }",
            json!({"id": case}),
        )
        .await;
        self.invited(resident, &case).await;
        case
    }

    /// A help case of `resident`'s, from a booking to SUBMITTED; its id.
    pub(crate) async fn open_case(&self, resident: &Session) -> String {
        let used = self.used.get();
        self.used.set(used + 1);
        let slot = self.slots[used]["id"].as_str().unwrap().to_string();
        let booking = self
            .ok(
                resident,
                BOOK,
                self.desk.input(&slot, &format!("sat-{used}")),
            )
            .await["bookAppointment"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let agent = self.agent.clone();
        self.ok(
            &agent,
            "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
            json!({"id": booking}),
        )
        .await;
        let case = self
            .ok(
                &agent,
                "mutation($id: ID!) { openCase(bookingId: $id) { id } }",
                json!({"id": booking}),
            )
            .await["openCase"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        for step in ["acceptCase", "startCaseService"] {
            self.ok(
                &agent,
                &format!("mutation($id: ID!) {{ {step}(id: $id) {{ id }} }}"),
                json!({"id": case}),
            )
            .await;
        }
        self.ok(
            &agent,
            "mutation($id: ID!) { submitCase(id: $id, reference: \"QS-1\") { id } }",
            json!({"id": case}),
        )
        .await;
        case
    }

    /// Waits for `case`'s invitation to reach `resident`.
    pub(crate) async fn invited(&self, resident: &Session, case: &str) {
        // The invitation comes from the satisfaction room's reaction to `case.completed`.
        for _ in 0..100 {
            let invited = self
                .ok(
                    resident,
                    "{ myRatingInvitations { invitations { caseId } } }",
                    json!({}),
                )
                .await;
            if invited["myRatingInvitations"]["invitations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["caseId"] == case)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("case {case} was never invited to be rated");
    }

    pub(crate) async fn rate(
        &self,
        who: &Session,
        case: &str,
        level: &str,
        text: Option<&str>,
        anonymous: bool,
    ) -> Value {
        self.app()
            .as_(
                who,
                RATE,
                json!({"c": case, "l": level, "t": text, "a": anonymous}),
            )
            .await
    }

    /// The satisfaction tables, events and audit log, to prove a refusal wrote nothing.
    pub(crate) async fn snapshot(&self) -> String {
        let mut all = String::new();
        for table in [
            "ratings",
            "rating_attributions",
            "rectifications",
            "rating_invitations",
            "callback_samples",
            "callback_tasks",
            "callback_attempts",
            "events",
            "audit_log",
        ] {
            all.push_str(&self.app().dump_table(table).await);
        }
        all
    }
}

pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    let db = &app.state.db;
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

pub(crate) async fn next_kind(live: &mut WsClient, id: &str, field: &str, kind: &str) -> Value {
    for _ in 0..20 {
        let event = live.next_event(id, field, Duration::from_secs(10)).await;
        if event["kind"] == kind {
            return event;
        }
    }
    panic!("no {kind} event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rating_is_rectified_replied_to_and_rated_again() {
    let centre = Centre::start().await;
    let resident = centre.resident("sat-rater").await;
    let app = centre.app();
    let mut live = WsClient::connect(app, Some(&resident.access)).await;
    live.subscribe(
        "m",
        "subscription { myEvents { kind subjectId payload } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let case = centre.completed_case(&resident).await;
    let invited = next_kind(&mut live, "m", "myEvents", "rating.invited").await;
    assert_eq!(invited["subjectId"], case.as_str());
    assert_eq!(invited["payload"]["outcome"], "COMPLETED");
    let invitations = centre
        .ok(&resident, "{ myRatingInvitations { invitations { caseId caseNumber outcome rateBy ratings { id } } } }", json!({}))
        .await;
    let invitation = &invitations["myRatingInvitations"]["invitations"][0];
    assert_eq!(invitation["caseId"], case.as_str());
    assert_eq!(invitation["ratings"], json!([]));

    // Bad input is coded and writes nothing.
    let before = centre.snapshot().await;
    let twice = centre
        .app()
        .as_(&resident, RATE, json!({"c": case, "l": "DISSATISFIED", "i": [{"indicator": "ATTITUDE", "level": "SATISFIED"}, {"indicator": "ATTITUDE", "level": "DISSATISFIED"}]}))
        .await;
    assert_eq!(
        expect_error(&twice, "BAD_USER_INPUT")["extensions"]["field"],
        "indicators"
    );
    let long = "长".repeat(501);
    let too_long = centre
        .rate(&resident, &case, "DISSATISFIED", Some(&long), false)
        .await;
    assert_eq!(
        expect_error(&too_long, "BAD_USER_INPUT")["extensions"]["field"],
        "text"
    );
    expect_error(
        &centre
            .rate(&centre.agent, &case, "SATISFIED", None, false)
            .await,
        "FORBIDDEN",
    );
    let stranger = centre.resident("sat-stranger").await;
    expect_error(
        &centre
            .rate(&stranger, &case, "SATISFIED", None, false)
            .await,
        "NOT_FOUND",
    );
    expect_error(
        &app.graphql(None, RATE, json!({"c": case, "l": "SATISFIED"}))
            .await,
        "UNAUTHENTICATED",
    );
    assert_eq!(
        before,
        centre.snapshot().await,
        "refused ratings write nothing"
    );

    let rated = centre
        .app()
        .as_(&resident, RATE, json!({"c": case, "l": "DISSATISFIED", "t": "窗口人员态度冷淡", "i": [{"indicator": "ATTITUDE", "level": "VERY_DISSATISFIED"}]}))
        .await;
    let rating = expect_data(&rated)["rateCase"].clone();
    assert_eq!(rating["round"], 1);
    assert_eq!(rating["textState"], "PUBLISHED");
    assert_eq!(rating["caseId"], case.as_str());
    let checked = centre.fake.checked();
    assert_eq!(checked.len(), 1, "{checked:?}");
    assert_eq!(checked[0]["content"], "窗口人员态度冷淡");
    assert_eq!(checked[0]["scene"], 2);
    assert_eq!(checked[0]["openid"], "sat-rater");
    // Once rated badly, the next rating waits for the rectification.
    expect_error(
        &centre
            .rate(&resident, &case, "SATISFIED", None, false)
            .await,
        "INVALID_TRANSITION",
    );

    // The bad rating opened an order for the unit that handled it, due in 15 working days.
    let orders = centre.ok(&centre.agent, ORDERS, json!({})).await;
    let order = orders["rectifications"]["rectifications"][0].clone();
    assert_eq!(order["status"], "OPEN");
    assert_eq!(
        order["rating"]["caseId"],
        case.as_str(),
        "a real-name rating names its case"
    );
    let today = bangban_server::clock::local_date(app.clock.now());
    let due = expect_data(
        &app.graphql(
            None,
            "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 15) { date } }",
            json!({"d": today.to_string()}),
        )
        .await,
    );
    assert_eq!(order["dueOn"], due["addWorkingDays"]["date"]);
    let id = order["id"].as_str().unwrap().to_string();
    let resolve = "mutation($id: ID!, $c: RectificationClassification!) { resolveRectification(id: $id, classification: $c, result: \"已约谈窗口人员并整改\", reply: \"感谢监督，已整改\") { status classification reply } }";
    // A real-name rater is called back before the order is resolved.
    let before = centre.snapshot().await;
    expect_error(
        &app.as_(&centre.admin, resolve, json!({"id": id, "c": "IMMEDIATE"}))
            .await,
        "INVALID_TRANSITION",
    );
    expect_error(&app.as_(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"  \") { status } }", json!({"id": id})).await, "BAD_USER_INPUT");
    assert_eq!(before, centre.snapshot().await);
    let verified = centre
        .ok(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"电话回访，情况属实\") { status reached verification } }", json!({"id": id}))
        .await;
    assert_eq!(verified["verifyRectification"]["status"], "VERIFIED");
    // A second rating waits for the resolution.
    expect_error(
        &centre
            .rate(&resident, &case, "SATISFIED", None, false)
            .await,
        "INVALID_TRANSITION",
    );
    let resolved = centre
        .ok(&centre.admin, resolve, json!({"id": id, "c": "IMMEDIATE"}))
        .await;
    assert_eq!(resolved["resolveRectification"]["status"], "RESOLVED");
    expect_error(
        &app.as_(&centre.admin, resolve, json!({"id": id, "c": "IMMEDIATE"}))
            .await,
        "INVALID_TRANSITION",
    );

    // The rater hears the reply live, and reads it under their rating.
    let replied = next_kind(&mut live, "m", "myEvents", "rating.replied").await;
    assert_eq!(replied["payload"]["reply"], "感谢监督，已整改");
    assert_eq!(replied["subjectId"], rating["id"]);
    let mine = centre
        .ok(&resident, "query($c: ID!) { caseRatings(caseId: $c) { round rectificationReply { status classification reply } } }", json!({"c": case}))
        .await;
    assert_eq!(
        mine["caseRatings"][0]["rectificationReply"]["reply"],
        "感谢监督，已整改"
    );
    assert_eq!(
        mine["caseRatings"][0]["rectificationReply"]["classification"],
        "IMMEDIATE"
    );

    // The second rating (二次评价), once.
    let second = expect_data(
        &centre
            .rate(&resident, &case, "SATISFIED", None, false)
            .await,
    )["rateCase"]
        .clone();
    assert_eq!(second["round"], 2);
    expect_error(
        &centre
            .rate(&resident, &case, "VERY_SATISFIED", None, false)
            .await,
        "CONFLICT",
    );
    let staff_view = centre
        .ok(&centre.agent, &format!("query($c: ID!) {{ caseRatings(caseId: $c) {{ {RATING} rectificationReply {{ reply }} }} }}"), json!({"c": case}))
        .await;
    let rounds: Vec<i64> = staff_view["caseRatings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round"].as_i64().unwrap())
        .collect();
    assert_eq!(rounds, vec![1, 2]);
    assert_eq!(
        staff_view["caseRatings"][0]["rectificationReply"],
        Value::Null,
        "staff read orders, not the rater's view"
    );
    // The rating counts for the unit and the agent; the county admin finds it by unit.
    let longgang = app.region_id(LONGGANG).await;
    let by_unit = centre
        .ok(
            &centre.admin,
            "query($u: ID) { ratings(filter: {unitId: $u, bad: true}) { ratings { id round } } }",
            json!({"u": longgang}),
        )
        .await;
    assert_eq!(by_unit["ratings"]["ratings"].as_array().unwrap().len(), 1);
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_leave_exactly_one_rating() {
    let centre = Centre::start().await;
    let resident = centre.resident("sat-racer").await;
    let case = centre.completed_case(&resident).await;
    let rounds = if crate::helpers::postgres_backend().is_some() {
        12
    } else {
        3
    };
    for round in 0..rounds {
        let attempts = (0..8).map(|n| {
            let level = if n % 2 == 0 {
                "SATISFIED"
            } else {
                "DISSATISFIED"
            };
            centre.rate(&resident, &case, level, None, n % 3 == 0)
        });
        let results = futures_util::future::join_all(attempts).await;
        let made = results.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(made, 1, "round {round}: {results:?}");
        // A loser collided with the winner (CONFLICT) or came after it: rated already, or
        // waiting for the winner's rectification (INVALID_TRANSITION).
        for refused in results.iter().filter(|r| r.get("errors").is_some()) {
            let code = refused["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or_default();
            assert!(
                code == "CONFLICT" || code == "INVALID_TRANSITION",
                "round {round}: {refused}"
            );
        }
        let db = &centre.app().state.db;
        assert_eq!(count(centre.app(), "ratings").await, 1, "round {round}");
        let orders = count(centre.app(), "rectifications").await;
        let bad = centre
            .app()
            .dump_table("ratings")
            .await
            .contains("dissatisfied");
        assert_eq!(
            orders == 1,
            bad,
            "round {round}: an order exactly for a bad rating"
        );
        // Start the next round from no rating.
        for table in ["rectifications", "rating_attributions", "ratings"] {
            db.execute_unprepared(&format!("DELETE FROM {table}"))
                .await
                .unwrap();
        }
    }
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_open_only_while_their_windows_do() {
    let mut centre = Centre::start_with(|s| {
        s.satisfaction.rating_window_days = 2;
        s.satisfaction.second_rating_window_days = 1;
    })
    .await;
    let resident = centre.resident("sat-window").await;
    // A case still open cannot be rated.
    let waiting = centre.resident("sat-window-open").await;
    let open = centre.open_case(&waiting).await;
    let before = centre.snapshot().await;
    let early = centre.rate(&waiting, &open, "SATISFIED", None, false).await;
    assert!(
        expect_error(&early, "INVALID_TRANSITION")["message"]
            .as_str()
            .unwrap()
            .contains("not been completed")
    );
    assert_eq!(before, centre.snapshot().await);

    let late = centre.completed_case(&resident).await;
    let bad = centre.completed_case(&resident).await;
    let third = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &bad, "VERY_DISSATISFIED", None, false)
            .await,
    );
    expect_data(
        &centre
            .rate(&resident, &third, "DISSATISFIED", None, false)
            .await,
    );
    centre.app().clock.advance(chrono::Duration::days(3));
    centre.sign_in_again().await;
    let resident = centre.resident("sat-window").await;
    let before = centre.snapshot().await;
    let closed = centre
        .rate(&resident, &late, "SATISFIED", None, false)
        .await;
    assert!(
        expect_error(&closed, "INVALID_TRANSITION")["message"]
            .as_str()
            .unwrap()
            .contains("passed")
    );
    assert_eq!(
        before,
        centre.snapshot().await,
        "a closed window writes nothing"
    );

    // The second rating's window runs from the reply, however late it comes.
    let orders = centre.ok(&centre.agent, ORDERS, json!({})).await;
    let id = orders["rectifications"]["rectifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["rating"]["caseId"] == bad.as_str())
        .unwrap()["id"]
        .clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: false, note: \"无人接听\") { status } }", json!({"id": id})).await;
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: EXPLANATION, result: \"已说明政策\", reply: \"已书面说明\") { status } }", json!({"id": id})).await;
    let second = centre
        .rate(&resident, &bad, "BASICALLY_SATISFIED", None, false)
        .await;
    assert_eq!(expect_data(&second)["rateCase"]["round"], 2);
    let orders = centre
        .ok(
            &centre.agent,
            "{ rectifications(filter: {status: OPEN}) { rectifications { id } } }",
            json!({}),
        )
        .await;
    let id = orders["rectifications"]["rectifications"][0]["id"].clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"已回访\") { status } }", json!({"id": id})).await;
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: DEADLINE, result: \"限期整改完成\", reply: \"已整改\") { status } }", json!({"id": id})).await;
    centre.app().clock.advance(chrono::Duration::hours(25));
    centre.sign_in_again().await;
    let resident = centre.resident("sat-window").await;
    let before = centre.snapshot().await;
    let gone = centre
        .rate(&resident, &third, "SATISFIED", None, false)
        .await;
    assert!(
        expect_error(&gone, "INVALID_TRANSITION")["message"]
            .as_str()
            .unwrap()
            .contains("second rating")
    );
    assert_eq!(before, centre.snapshot().await);
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_past_its_working_days_is_flagged_once() {
    let mut centre = Centre::start().await;
    let resident = centre.resident("sat-overdue").await;
    let case = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &case, "DISSATISFIED", None, false)
            .await,
    );
    let order =
        centre.ok(&centre.agent, ORDERS, json!({})).await["rectifications"]["rectifications"][0]
            .clone();
    let due: chrono::NaiveDate = order["dueOn"].as_str().unwrap().parse().unwrap();
    let jobs = |centre: &Centre| {
        let state = centre.app().state.clone();
        async move {
            bangban_server::jobs::run_due(&state)
                .await
                .map_err(|e| e.message())
                .unwrap()
        }
    };
    // On the due day it is on time …
    let on_due = due
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .unwrap();
    centre.app().clock.set(on_due.with_timezone(&chrono::Utc));
    assert_eq!(
        jobs(&centre)
            .await
            .count("satisfaction", "rectifications_overdue"),
        0
    );
    // … and overdue the day after, flagged once.
    centre.app().clock.advance(chrono::Duration::days(1));
    assert_eq!(
        jobs(&centre)
            .await
            .count("satisfaction", "rectifications_overdue"),
        1
    );
    assert_eq!(
        jobs(&centre)
            .await
            .count("satisfaction", "rectifications_overdue"),
        0
    );
    centre.sign_in_again().await;
    let flagged = centre.ok(&centre.agent, "{ rectifications(filter: {overdue: true}) { rectifications { id overdueFlaggedAt } } }", json!({})).await;
    assert_eq!(
        flagged["rectifications"]["rectifications"][0]["id"],
        order["id"]
    );
    assert!(
        centre
            .app()
            .dump_table("events")
            .await
            .contains("rectification.overdue")
    );
    centre.stop().await;
}
