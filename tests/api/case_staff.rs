//! Staff hear what concerns them: a staff member binds WeChat with `bindStaffWechat(code)` (the
//! code2Session road, one openid per staff account and one account per openid), consents to a
//! staff template, and a case transferred to their unit reaches them by subscribe message; an
//! agent without WeChat gets no delivery, and unbinding stops the pushes. A transfer left
//! unanswered past its `respondBy` is flagged once by the deadline job, heard by both units.
use std::time::Duration;

use bangban_server::{
    auth::Role,
    config::{Recipients, TemplateSettings},
};
use serde_json::{Value, json};

use crate::{
    booking::desk_on,
    cases::{Flow, TRAIL, accepted_booking_on, open},
    directory::{CHENGNEI, LONGGANG},
    fake_wechat::FakeWechat,
    helpers::{Options, Session, TestApp, WsClient, expect_data, expect_error},
};

const STAFF_TEMPLATE: &str = "TPL-STAFF-TRANSFER";
const SERVICE_TEMPLATE: &str = "TPL-STAFF-SERVICE";
const BIND: &str = "mutation($c: String!) { bindStaffWechat(code: $c) { id wechatBound } }";
const TRANSFER: &str = "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"就近办理\") { id respondBy overdueFlaggedAt } }";

fn staff_template(kind: &str, template_id: &str) -> TemplateSettings {
    TemplateSettings {
        event_kind: kind.into(),
        template_id: template_id.into(),
        page: Some("pages/staff/cases".into()),
        long_term: false,
        data: [("character_string1", "number"), ("thing2", "=有新的转办件")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        recipients: Recipients::Staff,
    }
}

async fn flow_with_push(fake: &FakeWechat) -> Flow {
    flow_with_templates(
        fake,
        vec![
            staff_template("case.transfer_requested", STAFF_TEMPLATE),
            staff_template("case.transfer_overdue", "TPL-STAFF-LATE"),
            staff_template("case.service_given", SERVICE_TEMPLATE),
        ],
    )
    .await
}

async fn flow_with_templates(fake: &FakeWechat, templates: Vec<TemplateSettings>) -> Flow {
    let app = TestApp::spawn_with(Options {
        demo: true,
        wechat: Some(fake.clone()),
        tweak: Some(Box::new(move |s| {
            s.push.templates = templates;
            s.push.reclaim_after_ms = 200;
        })),
        ..Options::default()
    })
    .await;
    accepted_booking_on(desk_on(app, 1).await, "HELP", Some(fake)).await
}

async fn staff_deliveries(app: &TestApp, who: &Session) -> Vec<Value> {
    let response = app
        .as_(
            who,
            "{ myPushDeliveries { eventId templateId status } }",
            json!({}),
        )
        .await;
    expect_data(&response)["myPushDeliveries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn wait_until_sent(fake: &FakeWechat, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let sent = fake.sent();
        if sent.len() >= count {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {:?} sent", fake.sent());
}

/// Records `who`'s consent to one message of `template`, and lets the fake WeChat send it.
async fn consent_to(app: &TestApp, fake: &FakeWechat, who: &Session, openid: &str, template: &str) {
    let consent = format!(
        "mutation {{ recordSubscribeConsent(results: [{{templateId: \"{template}\", status: ACCEPT}}]) {{ credits }} }}"
    );
    expect_data(&app.as_(who, &consent, json!({})).await);
    fake.grant(openid, template, 1);
}

/// Binds the WeChat of `openid` to the staff member `who`, who then consents to `template`.
async fn bind_and_consent(
    app: &TestApp,
    fake: &FakeWechat,
    who: &Session,
    openid: &str,
    template: &str,
) {
    expect_data(
        &app.as_(who, BIND, json!({"c": fake.login_code(openid)}))
            .await,
    );
    consent_to(app, fake, who, openid, template).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_who_bound_wechat_hears_a_transfer_to_their_unit_by_push() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_push(&fake).await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let village = app
        .staff_session("cn.bound", Role::VillageAgent, CHENGNEI)
        .await;
    let silent = app
        .staff_session("cn.unbound", Role::VillageAgent, CHENGNEI)
        .await;

    // Consent before binding is refused: staff credits belong to a bound WeChat.
    let consent = "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-STAFF-TRANSFER\", status: ACCEPT}]) { templateId credits } }";
    expect_error(&app.as_(&village, consent, json!({})).await, "FORBIDDEN");
    // Residents bind WeChat by signing in; anonymous callers sign in first; a bad code says so.
    let code = fake.login_code("openid-village-agent");
    expect_error(
        &app.as_(&flow.resident, BIND, json!({"c": code})).await,
        "FORBIDDEN",
    );
    expect_error(
        &app.graphql(None, BIND, json!({"c": code})).await,
        "UNAUTHENTICATED",
    );
    expect_error(
        &app.as_(&village, BIND, json!({"c": "bad code"})).await,
        "BAD_USER_INPUT",
    );
    let me = "{ me { wechatBound } }";
    assert_eq!(
        expect_data(&app.as_(&village, me, json!({})).await)["me"]["wechatBound"],
        false
    );

    let bound = expect_data(&app.as_(&village, BIND, json!({"c": code})).await);
    assert_eq!(bound["bindStaffWechat"]["wechatBound"], true);
    // The same WeChat cannot serve a second staff account, and the refusal writes nothing.
    let tables = || async {
        let mut all = String::new();
        for table in ["staff_accounts", "users", "push_consents", "audit_log"] {
            all.push_str(&app.dump_table(table).await);
        }
        all
    };
    let before = tables().await;
    expect_error(
        &app.as_(
            &silent,
            BIND,
            json!({"c": fake.login_code("openid-village-agent")}),
        )
        .await,
        "CONFLICT",
    );
    let after = tables().await;
    assert_eq!(before, after, "a refused bind writes nothing");
    // Binding it again to the same account changes nothing.
    expect_data(
        &app.as_(
            &village,
            BIND,
            json!({"c": fake.login_code("openid-village-agent")}),
        )
        .await,
    );
    let credits = expect_data(&app.as_(&village, consent, json!({})).await);
    assert_eq!(
        credits["recordSubscribeConsent"],
        json!([{"templateId": STAFF_TEMPLATE, "credits": 1}])
    );
    fake.grant("openid-village-agent", STAFF_TEMPLATE, 1);

    let u = app.region_id(CHENGNEI).await;
    expect_data(
        &app.as_(&flow.agent, TRANSFER, json!({"id": id, "u": u}))
            .await,
    );
    let sent = wait_until_sent(&fake, 1).await;
    assert_eq!(sent.len(), 1, "only the bound agent is pushed: {sent:?}");
    assert_eq!(sent[0]["touser"], "openid-village-agent");
    assert_eq!(sent[0]["template_id"], STAFF_TEMPLATE);
    assert_eq!(sent[0]["data"]["thing2"]["value"], "有新的转办件");
    let number = sent[0]["data"]["character_string1"]["value"]
        .as_str()
        .unwrap();
    assert!(number.contains("-2026-"), "{number}");
    // The agent sees the delivery as theirs; the resident's list has no staff message.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mine = staff_deliveries(app, &village).await;
        if mine.len() == 1 && mine[0]["status"] == "SENT" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{mine:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        staff_deliveries(app, &flow.resident).await,
        Vec::<Value>::new()
    );
    // The agent without WeChat has no delivery row at all.
    let rows = app.dump_table("push_deliveries").await;
    assert_eq!(
        rows.matches("recipient=Some(\"staff\")").count(),
        1,
        "{rows}"
    );

    // Unbound: the next transfer to the unit reaches nobody, and the consent is gone.
    let unbound = expect_data(
        &app.as_(
            &village,
            "mutation { unbindStaffWechat { wechatBound } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(unbound["unbindStaffWechat"]["wechatBound"], false);
    expect_error(&app.as_(&village, consent, json!({})).await, "FORBIDDEN");
    let transfers = expect_data(
        &app.as_(&village, "{ caseTransfersWaiting { id } }", json!({}))
            .await,
    );
    let t = transfers["caseTransfersWaiting"][0]["id"].clone();
    expect_data(
        &app.as_(
            &flow.agent,
            "mutation($t: ID!) { withdrawCaseTransfer(transferId: $t, reason: \"改派\") { status } }",
            json!({"t": t}),
        )
        .await,
    );
    expect_data(
        &app.as_(&flow.agent, TRANSFER, json!({"id": id, "u": u}))
            .await,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.sent().len(), 1, "nothing after unbinding");
    // Both binds and the unbind are audited, without the openid.
    let audit = app.dump_table("audit_log").await;
    assert_eq!(audit.matches("staff.wechat_bound").count(), 1, "{audit}");
    assert_eq!(audit.matches("staff.wechat_unbound").count(), 1);
    assert!(!audit.contains("openid-village-agent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_is_not_pushed_about_their_own_step_but_their_colleagues_are() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_push(&fake).await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    flow.on(&flow.agent, "startCaseService", &id).await;
    let colleague = app
        .staff_session("lg.colleague", Role::TownshipAgent, LONGGANG)
        .await;
    let consent = "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-STAFF-SERVICE\", status: ACCEPT}]) { credits } }";
    for (who, openid) in [
        (&flow.agent, "openid-acting-agent"),
        (&colleague, "openid-colleague"),
    ] {
        expect_data(
            &app.as_(who, BIND, json!({"c": fake.login_code(openid)}))
                .await,
        );
        expect_data(&app.as_(who, consent, json!({})).await);
        fake.grant(openid, SERVICE_TEMPLATE, 1);
    }

    let mut live = WsClient::connect(app, Some(&flow.agent.access)).await;
    live.subscribe("m", "subscription { myEvents { kind } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_data(
        &app.as_(
            &flow.agent,
            "mutation($id: ID!) { recordCaseService(id: $id, service: POLICY_ADVICE) { id } }",
            json!({"id": id}),
        )
        .await,
    );
    wait_until_sent(&fake, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["touser"], "openid-colleague");
    assert_eq!(sent[0]["template_id"], SERVICE_TEMPLATE);
    assert_eq!(
        staff_deliveries(app, &flow.agent).await,
        Vec::<Value>::new(),
        "no delivery row for the one who acted"
    );
    // The one who acted still hears it live (their other devices refresh). The case's earlier
    // steps may still be on their way to the live bus when the subscription starts (the relay
    // is asynchronous on both backends): they may come first, nothing else.
    let mut heard = live
        .next_event("m", "myEvents", Duration::from_secs(10))
        .await;
    let mut earlier = ["case.opened", "case.accepted", "case.service_started"].into_iter();
    while heard["kind"] != "case.service_given" && earlier.any(|kind| heard["kind"] == kind) {
        heard = live
            .next_event("m", "myEvents", Duration::from_secs(10))
            .await;
    }
    assert_eq!(heard["kind"], "case.service_given");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_unanswered_past_its_deadline_is_flagged_once_to_both_units() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_push(&fake).await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let village = app
        .staff_session("cn.late", Role::VillageAgent, CHENGNEI)
        .await;
    expect_data(
        &app.as_(
            &village,
            BIND,
            json!({"c": fake.login_code("openid-late-agent")}),
        )
        .await,
    );
    expect_data(&app.as_(&village, "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-STAFF-LATE\", status: ACCEPT}]) { credits } }", json!({})).await);
    fake.grant("openid-late-agent", "TPL-STAFF-LATE", 1);
    let u = app.region_id(CHENGNEI).await;
    let requested = expect_data(
        &app.as_(&flow.agent, TRANSFER, json!({"id": id, "u": u}))
            .await,
    );
    assert_eq!(requested["transferCase"]["overdueFlaggedAt"], Value::Null);
    let respond_by = chrono::DateTime::parse_from_rfc3339(
        requested["transferCase"]["respondBy"].as_str().unwrap(),
    )
    .unwrap()
    .with_timezone(&chrono::Utc);
    let run = || async {
        bangban_server::jobs::run_due(&app.state)
            .await
            .map_err(|e| e.message())
            .unwrap()
            .count("cases", "transfers_overdue")
    };
    assert_eq!(run().await, 0, "on time");
    app.clock.set(respond_by + chrono::Duration::minutes(1));
    assert_eq!(run().await, 1);
    assert_eq!(run().await, 0, "flagged once");
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let village = app
        .login_staff_session("cn.late", crate::helpers::STAFF_PASSWORD)
        .await;
    let waiting = expect_data(
        &app.as_(
            &village,
            "{ caseTransfersWaiting { id overdueFlaggedAt } }",
            json!({}),
        )
        .await,
    );
    assert!(waiting["caseTransfersWaiting"][0]["overdueFlaggedAt"].is_string());
    let trail = expect_data(&app.as_(&agent, TRAIL, json!({"id": id})).await);
    let late: Vec<&Value> = trail["case"]["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "transfer_overdue")
        .collect();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["actorKind"], "system");
    assert_eq!(late[0]["publicNote"], Value::Null, "internal to the units");
    // The lists show each case's latest steps: staff every step, the applicant public ones.
    let staff_list = expect_data(
        &app.as_(
            &agent,
            "{ cases { cases { id latestSteps { action } } } }",
            json!({}),
        )
        .await,
    );
    let mine = staff_list["cases"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        mine["latestSteps"][0]["action"], "transfer_overdue",
        "{mine}"
    );
    assert_eq!(mine["latestSteps"].as_array().unwrap().len(), 3);
    let resident = app.login_with_code(&fake.login_code("case-HELP")).await;
    let resident = Session::from_payload(&resident["data"]["loginWithWechat"]);
    let theirs = expect_data(
        &app.as_(
            &resident,
            "{ myCases { cases { latestSteps { action publicNote internalNote details actorKind } } } }",
            json!({}),
        )
        .await,
    );
    let steps = theirs["myCases"]["cases"][0]["latestSteps"]
        .as_array()
        .unwrap();
    assert_eq!(steps[0]["action"], "transfer_requested", "{theirs}");
    assert!(
        steps.iter().all(|s| s["publicNote"].is_string()),
        "{theirs}"
    );
    for hidden in ["internalNote", "details", "actorKind"] {
        assert!(
            steps.iter().all(|s| s[hidden].is_null()),
            "{hidden}: {theirs}"
        );
    }
    // The receiving unit's bound agent is told by push (the event reached both units' agents).
    let sent = wait_until_sent(&fake, 1).await;
    assert!(
        sent.iter()
            .any(|m| m["touser"] == "openid-late-agent" && m["template_id"] == "TPL-STAFF-LATE"),
        "{sent:?}"
    );
    // Answered late, it is still answered; nothing is flagged again.
    expect_data(
        &app.as_(
            &village,
            "mutation($t: ID!) { respondToCaseTransfer(transferId: $t, accept: true) { status } }",
            json!({"t": waiting["caseTransfersWaiting"][0]["id"]}),
        )
        .await,
    );
    assert_eq!(run().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_passed_on_to_a_colleague_carries_none_of_the_first_staff_members_pushes() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_push(&fake).await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let first = app
        .staff_session("cn.first", Role::VillageAgent, CHENGNEI)
        .await;
    let second = app
        .staff_session("cn.second", Role::VillageAgent, CHENGNEI)
        .await;
    let county = app
        .staff_session("cn.county", Role::CountyAdmin, crate::directory::COUNTY)
        .await;
    let consent = "mutation { recordSubscribeConsent(results: [{templateId: \"TPL-STAFF-TRANSFER\", status: ACCEPT}]) { credits } }";
    expect_data(
        &app.as_(
            &first,
            BIND,
            json!({"c": fake.login_code("openid-desk-phone")}),
        )
        .await,
    );
    expect_data(&app.as_(&first, consent, json!({})).await);
    fake.grant("openid-desk-phone", STAFF_TEMPLATE, 1);
    let u = app.region_id(CHENGNEI).await;
    expect_data(
        &app.as_(&flow.agent, TRANSFER, json!({"id": id, "u": u}))
            .await,
    );
    wait_until_sent(&fake, 1).await;
    assert_eq!(staff_deliveries(app, &first).await.len(), 1);

    // The first agent unbinds; a colleague binds the same phone's WeChat: none of the first
    // agent's messages are theirs to read.
    expect_data(
        &app.as_(
            &first,
            "mutation { unbindStaffWechat { wechatBound } }",
            json!({}),
        )
        .await,
    );
    expect_data(
        &app.as_(
            &second,
            BIND,
            json!({"c": fake.login_code("openid-desk-phone")}),
        )
        .await,
    );
    assert_eq!(staff_deliveries(app, &second).await, Vec::<Value>::new());

    // A staff member who leaves lets go of their WeChat: it may be bound again at once.
    let third = app
        .staff_session("cn.third", Role::VillageAgent, CHENGNEI)
        .await;
    let second_id =
        expect_data(&app.as_(&second, "{ me { id } }", json!({})).await)["me"]["id"].clone();
    expect_data(
        &app.as_(
            &county,
            "mutation($id: ID!) { deactivateStaff(staffId: $id) { id } }",
            json!({"id": second_id}),
        )
        .await,
    );
    let bound = expect_data(
        &app.as_(
            &third,
            BIND,
            json!({"c": fake.login_code("openid-desk-phone")}),
        )
        .await,
    );
    assert_eq!(bound["bindStaffWechat"]["wechatBound"], true);
    let audit = app.dump_table("audit_log").await;
    assert_eq!(audit.matches("staff.wechat_unbound").count(), 1, "{audit}");
    assert_eq!(audit.matches("staff.deactivate").count(), 1, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_is_both_the_applicant_and_staff_hearing_of_a_step_gets_one_message() {
    let fake = FakeWechat::start().await;
    let resident_template = TemplateSettings {
        recipients: Recipients::Residents,
        ..staff_template("case.accepted", "TPL-RES-ACCEPTED")
    };
    let flow = flow_with_templates(
        &fake,
        vec![
            resident_template,
            staff_template("case.accepted", "TPL-STAFF-ACCEPTED"),
        ],
    )
    .await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    // A colleague of the agent binds the applicant's own WeChat (the applicant works at the
    // township centre), and both sides consent to their template. Another colleague, with a
    // WeChat of their own, shows that the staff template does reach the unit.
    let colleague = app
        .staff_session("lg.applicant", Role::TownshipAgent, LONGGANG)
        .await;
    let control = app
        .staff_session("lg.control", Role::TownshipAgent, LONGGANG)
        .await;
    bind_and_consent(app, &fake, &colleague, "case-HELP", "TPL-STAFF-ACCEPTED").await;
    bind_and_consent(app, &fake, &control, "openid-control", "TPL-STAFF-ACCEPTED").await;
    consent_to(app, &fake, &flow.resident, "case-HELP", "TPL-RES-ACCEPTED").await;

    flow.on(&flow.agent, "acceptCase", &id).await;
    wait_until_sent(&fake, 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut sent: Vec<(String, String)> = fake
        .sent()
        .iter()
        .map(|m| {
            (
                m["touser"].as_str().unwrap().to_string(),
                m["template_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("case-HELP".to_string(), "TPL-RES-ACCEPTED".to_string()),
            (
                "openid-control".to_string(),
                "TPL-STAFF-ACCEPTED".to_string()
            ),
        ],
        "one message per event and person, the resident's"
    );
    let rows = app.dump_table("push_deliveries").await;
    assert_eq!(rows.matches("TPL-STAFF-ACCEPTED").count(), 1, "{rows}");
    assert_eq!(rows.matches("TPL-RES-ACCEPTED").count(), 1, "{rows}");
    assert_eq!(staff_deliveries(app, &colleague).await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_refuses_a_transfer_stops_hearing_the_case_it_was_following() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_templates(&fake, Vec::new()).await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    flow.on(&flow.agent, "startCaseService", &id).await;
    let village = app
        .staff_session("cn.follower", Role::VillageAgent, CHENGNEI)
        .await;
    let u = app.region_id(CHENGNEI).await;
    expect_data(
        &app.as_(&flow.agent, TRANSFER, json!({"id": id, "u": u}))
            .await,
    );
    // While the transfer waits, the unit it addresses may follow the case.
    let mut live = WsClient::connect(app, Some(&village.access)).await;
    live.subscribe(
        "s",
        "subscription($id: ID!) { subjectEvents(subjectId: $id) { kind } }",
        json!({"id": id}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let service =
        "mutation($id: ID!) { recordCaseService(id: $id, service: POLICY_ADVICE) { id } }";
    expect_data(&app.as_(&flow.agent, service, json!({"id": id})).await);
    // The transfer's own event may still be on its way to the live bus when the subscription
    // starts (the relay is asynchronous on PostgreSQL + Redis); it may come first, nothing else.
    let mut heard = live
        .next_event("s", "subjectEvents", Duration::from_secs(10))
        .await;
    if heard["kind"] == "case.transfer_requested" {
        heard = live
            .next_event("s", "subjectEvents", Duration::from_secs(10))
            .await;
    }
    assert_eq!(heard["kind"], "case.service_given");

    // It refuses: from then on nothing of the case reaches it, and its subscription ends.
    let waiting = expect_data(
        &app.as_(&village, "{ caseTransfersWaiting { id } }", json!({}))
            .await,
    );
    expect_data(
        &app.as_(
            &village,
            "mutation($t: ID!) { respondToCaseTransfer(transferId: $t, accept: false, note: \"不在本村\") { status } }",
            json!({"t": waiting["caseTransfersWaiting"][0]["id"]}),
        )
        .await,
    );
    expect_data(&app.as_(&flow.agent, service, json!({"id": id})).await);
    let mut after = Vec::new();
    while let Some(message) = live.next_message(Duration::from_secs(3)).await {
        after.push(message);
    }
    assert!(
        after
            .iter()
            .all(|m| m["payload"]["data"]["subjectEvents"].is_null()),
        "nothing of the case after the refusal: {after:?}"
    );
    assert!(
        after.iter().any(|m| m["type"] == "complete"),
        "the subscription ends: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_not_pushed_about_their_own_booking_review() {
    let fake = FakeWechat::start().await;
    let flow = flow_with_templates(
        &fake,
        vec![staff_template("booking.accepted", "TPL-STAFF-REVIEWED")],
    )
    .await;
    let app = &flow.desk.app;
    bind_and_consent(
        app,
        &fake,
        &flow.agent,
        "openid-reviewer",
        "TPL-STAFF-REVIEWED",
    )
    .await;
    let (_, slots) = flow.desk.next_day_slots().await;
    let input = flow
        .desk
        .input(slots[1]["id"].as_str().unwrap(), "second-key");
    let booked = expect_data(&app.as_(&flow.resident, crate::booking::BOOK, input).await);
    expect_data(
        &app.as_(
            &flow.agent,
            "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
            json!({"id": booked["bookAppointment"]["id"]}),
        )
        .await,
    );
    // Deliveries are queued in the review's own transaction: none is the reviewer's.
    let rows = app.dump_table("push_deliveries").await;
    assert_eq!(rows.matches("TPL-STAFF-REVIEWED").count(), 0, "{rows}");
    assert_eq!(
        staff_deliveries(app, &flow.agent).await,
        Vec::<Value>::new()
    );
}
