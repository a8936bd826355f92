//! Cases end to end over the API: the help flow and the proxy flow from the booking to the
//! archive (entrustment, materials, transfer down and back, escalation, the clock, completion,
//! EMS delivery), every termination reason, concurrent moves and case numbers, the deadline
//! job on the test clock, refusals that write nothing, and the applicant following each step
//! live and on their timeline.
use std::time::Duration;

use bangban_server::{auth::Role, clock::Clock};
use serde_json::{Value, json};

use crate::{
    booking::{Desk, desk},
    directory::{CHENGNEI, COUNTY, LONGGANG, test_id_number},
    helpers::{Session, WsClient, expect_data, expect_error},
};

const CASE_FIELDS: &str = "id number kind status dueOn dueFlag waitingSince agentName unitName itemName outcome { kind name number } deliveryMethod terminationReason";

fn q(mutation: &str, args: &str, params: &str) -> String {
    format!("mutation({params}) {{ {mutation}({args}) {{ {CASE_FIELDS} }} }}")
}

pub(crate) struct Flow {
    pub(crate) desk: Desk,
    pub(crate) agent: Session,
    pub(crate) resident: Session,
    pub(crate) county: Session,
    pub(crate) booking: String,
}

impl Flow {
    pub(crate) async fn act(
        &self,
        who: &Session,
        mutation: &str,
        args: &str,
        params: &str,
        vars: Value,
    ) -> Value {
        let response = self
            .desk
            .app
            .as_(who, &q(mutation, args, params), vars)
            .await;
        expect_data(&response)[mutation].clone()
    }

    async fn refused(
        &self,
        who: &Session,
        mutation: &str,
        args: &str,
        params: &str,
        vars: Value,
        code: &str,
    ) -> Value {
        let response = self
            .desk
            .app
            .as_(who, &q(mutation, args, params), vars)
            .await;
        expect_error(&response, code)
    }

    pub(crate) async fn on(&self, who: &Session, mutation: &str, id: &str) -> Value {
        self.act(who, mutation, "id: $id", "$id: ID!", json!({"id": id}))
            .await
    }

    /// The case tables, to prove a refused call wrote nothing.
    async fn snapshot(&self) -> String {
        let mut all = String::new();
        for table in [
            "cases",
            "case_steps",
            "case_pauses",
            "case_holdings",
            "entrustments",
            "case_materials",
            "material_custody",
            "case_transfers",
            "case_counters",
            "events",
            "audit_log",
        ] {
            all.push_str(&self.desk.app.dump_table(table).await);
        }
        all
    }
}

/// A resident's booking of `kind` at 龙港镇's centre, accepted by its agent.
async fn accepted_booking(kind: &str) -> Flow {
    accepted_booking_on(desk(1).await, kind, None).await
}

/// The same on a desk of the caller's app; with a fake WeChat the resident signs in through it.
pub(crate) async fn accepted_booking_on(
    mut desk: Desk,
    kind: &str,
    wechat: Option<&crate::fake_wechat::FakeWechat>,
) -> Flow {
    // A promised item (承诺件), so its clock has working days to count.
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
    let county = desk
        .app
        .staff_session("cases.county", Role::CountyAdmin, COUNTY)
        .await;
    let agent = desk
        .app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let resident = match wechat {
        Some(fake) => Session::from_payload(
            &desk
                .app
                .login_with_code(&fake.login_code(&format!("case-{kind}")))
                .await["data"]["loginWithWechat"],
        ),
        None => desk.app.login_resident(&format!("case-{kind}")).await,
    };
    let (_, slots) = desk.next_day_slots().await;
    let mut input = desk.input(slots[0]["id"].as_str().unwrap(), "case-key");
    input["input"]["kind"] = json!(kind);
    let booked = expect_data(&desk.app.as_(&resident, crate::booking::BOOK, input).await);
    let booking = booked["bookAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_data(
        &desk
            .app
            .as_(
                &agent,
                "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
                json!({"id": booking}),
            )
            .await,
    );
    Flow {
        desk,
        agent,
        resident,
        county,
        booking,
    }
}

pub(crate) async fn open(flow: &Flow) -> Value {
    flow.act(
        &flow.agent,
        "openCase",
        "bookingId: $b",
        "$b: ID!",
        json!({"b": flow.booking}),
    )
    .await
}

pub(crate) const TRAIL: &str = "query($id: ID!) { case(id: $id) { trail { action toStatus publicNote internalNote details actorKind } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_help_case_runs_from_the_booking_to_closed_and_the_applicant_follows_it() {
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let case = open(&flow).await;
    let id = case["id"].as_str().unwrap().to_string();
    assert_eq!(case["status"], "REGISTERED");
    assert_eq!(case["kind"], "HELP");
    let year = bangban_server::clock::local_date(app.clock.now())
        .format("%Y")
        .to_string();
    assert_eq!(case["number"], format!("140521-{year}-000001"));
    let booking = expect_data(
        &app.as_(&flow.resident, "{ myBookings { id caseId } }", json!({}))
            .await,
    )["myBookings"][0]["caseId"]
        .clone();
    assert_eq!(booking, id, "the booking shows its case");
    // A second case of the same booking is refused and writes nothing.
    let before = flow.snapshot().await;
    flow.refused(
        &flow.agent,
        "openCase",
        "bookingId: $b",
        "$b: ID!",
        json!({"b": flow.booking}),
        "CONFLICT",
    )
    .await;
    assert_eq!(before, flow.snapshot().await);

    let mut live = WsClient::connect(app, Some(&flow.resident.access)).await;
    live.subscribe(
        "c",
        "subscription($s: ID!) { subjectEvents(subjectId: $s) { id kind payload } }",
        json!({"s": id}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let accepted = flow.on(&flow.agent, "acceptCase", &id).await;
    assert_eq!(accepted["status"], "ACCEPTED");
    assert!(accepted["dueOn"].is_string(), "{accepted}");
    let event = live
        .next_event("c", "subjectEvents", Duration::from_secs(10))
        .await;
    assert_eq!(event["kind"], "case.accepted");
    assert_eq!(event["payload"]["status"], "ACCEPTED");
    assert!(event["payload"].get("explanation").is_none());

    // The applicant may not move their own case, and a wrong move names the current status.
    let before = flow.snapshot().await;
    flow.refused(
        &flow.resident,
        "startCaseService",
        "id: $id",
        "$id: ID!",
        json!({"id": id}),
        "FORBIDDEN",
    )
    .await;
    let wrong = flow
        .refused(
            &flow.agent,
            "submitCase",
            "id: $id, reference: \"X1\"",
            "$id: ID!",
            json!({"id": id}),
            "INVALID_TRANSITION",
        )
        .await;
    assert!(
        wrong["message"].as_str().unwrap().contains("accepted"),
        "{wrong}"
    );
    assert_eq!(before, flow.snapshot().await, "refused moves write nothing");

    flow.on(&flow.agent, "startCaseService", &id).await;
    for service in ["POLICY_ADVICE", "FORM_HELP", "ONLINE_FILING"] {
        flow.act(
            &flow.agent,
            "recordCaseService",
            "id: $id, service: $s",
            "$id: ID!, $s: HelpService!",
            json!({"id": id, "s": service}),
        )
        .await;
    }
    let submitted = flow
        .act(
            &flow.agent,
            "submitCase",
            "id: $id, reference: $r",
            "$id: ID!, $r: String!",
            json!({"id": id, "r": "QS2026-0001"}),
        )
        .await;
    assert_eq!(submitted["status"], "SUBMITTED");
    flow.act(
        &flow.agent,
        "recordCaseReturn",
        "id: $id, reason: $r",
        "$id: ID!, $r: String!",
        json!({"id": id, "r": "缺少房屋租赁合同"}),
    )
    .await;
    flow.on(&flow.agent, "resumeCase", &id).await;
    flow.act(
        &flow.agent,
        "submitCase",
        "id: $id, reference: $r",
        "$id: ID!, $r: String!",
        json!({"id": id, "r": "QS2026-0002"}),
    )
    .await;
    let done = flow.act(&flow.agent, "completeCase", "id: $id, outcome: $o", "$id: ID!, $o: [OutcomeInput!]!", json!({"id": id, "o": [{"kind": "APPROVAL", "name": "临时救助审批表", "number": "LZ-1"}]})).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["outcome"][0]["number"], "LZ-1");
    // Closing is an administrator's (or the system's).
    flow.refused(
        &flow.agent,
        "closeCase",
        "id: $id",
        "$id: ID!",
        json!({"id": id}),
        "FORBIDDEN",
    )
    .await;
    let closed = flow.on(&flow.county, "closeCase", &id).await;
    assert_eq!(closed["status"], "CLOSED");

    // The applicant's timeline: public notes only, no internal fields.
    let mine = expect_data(&app.as_(&flow.resident, TRAIL, json!({"id": id})).await);
    let steps = mine["case"]["trail"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["internalNote"].is_null()
            && s["details"].is_null()
            && s["actorKind"].is_null()),
        "{steps:?}"
    );
    assert!(
        steps.iter().all(|s| s["action"] != "service_given"),
        "services without a public note stay internal"
    );
    let staff = expect_data(&app.as_(&flow.agent, TRAIL, json!({"id": id})).await);
    let actions: Vec<&str> = staff["case"]["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "opened",
            "accepted",
            "service_started",
            "service_given",
            "service_given",
            "service_given",
            "submitted",
            "returned",
            "resumed",
            "submitted",
            "completed",
            "closed"
        ]
    );
    let list = expect_data(
        &app.as_(
            &flow.resident,
            "{ myCases { cases { id status } nextCursor } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(list["myCases"]["cases"][0]["status"], "CLOSED");
    // Replay: the applicant's events of the case, in order.
    let mut replay = WsClient::connect(app, Some(&flow.resident.access)).await;
    replay
        .subscribe(
            "r",
            "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }",
            json!({"s": id, "a": event["id"]}),
        )
        .await;
    let mut replayed = Vec::new();
    for _ in 0..8 {
        let event = replay
            .next_event("r", "subjectEvents", Duration::from_secs(5))
            .await;
        replayed.push(event["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(
        replayed,
        [
            "case.service_started",
            "case.submitted",
            "case.returned",
            "case.resumed",
            "case.submitted",
            "case.completed",
            "rating.invited",
            "case.closed"
        ],
        "the applicant replays, in order, every step after the one they saw that moved the case \
         or is on their timeline, and the invitation to rate it"
    );
    assert_eq!(
        replay.next_message(Duration::from_millis(500)).await,
        None,
        "internal steps (services given without a public note) never reach the applicant"
    );
    // Their own live feed holds the same: no internal step of the case.
    let mut mine = WsClient::connect(app, Some(&flow.resident.access)).await;
    mine.subscribe(
        "m",
        "subscription($a: ID) { myEvents(after: $a) { kind subjectId } }",
        json!({"a": event["id"]}),
    )
    .await;
    let mut heard = Vec::new();
    while let Some(message) = mine.next_message(Duration::from_millis(800)).await {
        heard.push(message["payload"]["data"]["myEvents"]["kind"].clone());
    }
    // The seven steps and the invitation to rate the case.
    assert_eq!(heard.len(), 8, "{heard:?}");
    assert!(!heard.contains(&json!("case.service_given")), "{heard:?}");
    // Staff who may read the case follow all of it.
    let mut desk = WsClient::connect(app, Some(&flow.agent.access)).await;
    desk.subscribe(
        "s",
        "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { kind } }",
        json!({"s": id, "a": event["id"]}),
    )
    .await;
    let mut all = Vec::new();
    for _ in 0..10 {
        let event = desk
            .next_event("s", "subjectEvents", Duration::from_secs(5))
            .await;
        all.push(event["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(
        all.iter().filter(|k| *k == "case.service_given").count(),
        3,
        "{all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_case_runs_through_entrustment_custody_transfers_and_ems_to_the_archive() {
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    // Proxy handling cannot pass ACCEPTED without the entrustment.
    flow.refused(
        &flow.agent,
        "confirmCaseMaterialsReceived",
        "caseId: $id",
        "$id: ID!",
        json!({"id": id}),
        "INVALID_TRANSITION",
    )
    .await;
    let prepare = "mutation($id: ID!, $i: EntrustmentInput!) { prepareEntrustment(caseId: $id, input: $i) { contentHash applicantConfirmedAt } }";
    let principal = |n: &str| json!({"contactName": "赵六", "contactPhone": "13900000021", "idNumber": n, "enterpriseName": "沁水县某某农业有限公司", "creditCode": "91140521TEMP00013X", "validUntil": "2027-12-31"});
    let bad = app
        .as_(
            &flow.agent,
            prepare,
            json!({"id": id, "i": principal("140521199001010000")}),
        )
        .await;
    assert_eq!(
        expect_error(&bad, "BAD_USER_INPUT")["extensions"]["field"],
        "input.idNumber"
    );
    let entrustment = expect_data(
        &app.as_(
            &flow.agent,
            prepare,
            json!({"id": id, "i": principal(&test_id_number(21))}),
        )
        .await,
    );
    let entrustment = &entrustment["prepareEntrustment"];
    let hash = entrustment["contentHash"].as_str().unwrap().to_string();

    // The applicant opens the text at the signed link; a tampered link is not found.
    let link = expect_data(
        &app.as_(
            &flow.resident,
            "query($id: ID!) { entrustmentLink(caseId: $id) { path expiresAt } }",
            json!({"id": id}),
        )
        .await,
    );
    let path = link["entrustmentLink"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let page = reqwest::get(app.url(&path)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("代办服务委托书") && html.contains("(7) "),
        "{html}"
    );
    assert_eq!(
        bangban_server::cases::entrustment::content_hash(&app.state.cipher, &html),
        hash,
        "the hash is of the text shown"
    );
    let tampered = reqwest::get(app.url(&path.replace("signature=", "signature=0")))
        .await
        .unwrap();
    assert_eq!(tampered.status(), 404);

    let confirm = "mutation($id: ID!, $h: String!) { confirmEntrustment(caseId: $id, contentHash: $h) { applicantConfirmedAt agentConfirmedAt } }";
    expect_error(
        &app.as_(
            &flow.resident,
            confirm,
            json!({"id": id, "h": "0".repeat(64)}),
        )
        .await,
        "CONFLICT",
    );
    expect_data(
        &app.as_(&flow.resident, confirm, json!({"id": id, "h": hash}))
            .await,
    );
    expect_error(
        &app.as_(&flow.resident, confirm, json!({"id": id, "h": hash}))
            .await,
        "INVALID_TRANSITION",
    );
    expect_data(
        &app.as_(&flow.agent, confirm, json!({"id": id, "h": hash}))
            .await,
    );
    let case = expect_data(
        &app.as_(
            &flow.resident,
            "query($id: ID!) { case(id: $id) { status } }",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(case["case"]["status"], "ENTRUSTED");

    let receive = "mutation($id: ID!, $i: MaterialInput!) { receiveCaseMaterial(caseId: $id, input: $i) { id status } }";
    let licence = expect_data(
        &app.as_(
            &flow.agent,
            receive,
            json!({"id": id, "i": {"name": "营业执照副本", "original": true, "mustReturn": true}}),
        )
        .await,
    )["receiveCaseMaterial"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let form = expect_data(&app.as_(&flow.agent, receive, json!({"id": id, "i": {"name": "申请表", "original": true, "copies": 2, "mustReturn": false}})).await)["receiveCaseMaterial"]["id"].as_str().unwrap().to_string();
    flow.act(
        &flow.agent,
        "confirmCaseMaterialsReceived",
        "caseId: $id",
        "$id: ID!",
        json!({"id": id}),
    )
    .await;
    let progress = flow.on(&flow.agent, "startCaseProgress", &id).await;
    assert_eq!(progress["status"], "IN_PROGRESS");

    // Down to 城内村 and back up.
    let village = app
        .staff_session("cn.agent", Role::VillageAgent, CHENGNEI)
        .await;
    let transfer = "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"村级帮办员就近办理\") { id status } }";
    let escalate = "mutation($id: ID!, $u: ID!) { escalateCase(caseId: $id, toUnitId: $u, reason: \"需乡镇协调\") { id status } }";
    let respond = "mutation($t: ID!, $a: Boolean!, $n: String) { respondToCaseTransfer(transferId: $t, accept: $a, note: $n) { status } }";
    let wrong_way = app
        .as_(
            &flow.agent,
            escalate,
            json!({"id": id, "u": app.region_id(CHENGNEI).await}),
        )
        .await;
    assert_eq!(
        expect_error(&wrong_way, "BAD_USER_INPUT")["extensions"]["field"],
        "toUnitId"
    );
    let down = expect_data(
        &app.as_(
            &flow.agent,
            transfer,
            json!({"id": id, "u": app.region_id(CHENGNEI).await}),
        )
        .await,
    )["transferCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        &app.as_(
            &flow.agent,
            transfer,
            json!({"id": id, "u": app.region_id(CHENGNEI).await}),
        )
        .await,
        "CONFLICT",
    );
    let waiting = expect_data(
        &app.as_(&village, "{ caseTransfersWaiting { id } }", json!({}))
            .await,
    );
    assert_eq!(waiting["caseTransfersWaiting"][0]["id"], down);
    expect_error(
        &app.as_(&village, respond, json!({"t": down, "a": false}))
            .await,
        "BAD_USER_INPUT",
    );
    assert_eq!(
        expect_data(
            &app.as_(&village, respond, json!({"t": down, "a": true}))
                .await
        )["respondToCaseTransfer"]["status"],
        "ACCEPTED"
    );
    let held = expect_data(
        &app.as_(
            &village,
            "query($id: ID!) { case(id: $id) { unitName agentName status } }",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(
        held["case"]["status"], "IN_PROGRESS",
        "a transfer does not change the status"
    );
    // The township still sees the case it opened but no longer acts on it.
    flow.refused(
        &flow.agent,
        "stopCaseClock",
        "id: $id, note: \"x\"",
        "$id: ID!",
        json!({"id": id}),
        "FORBIDDEN",
    )
    .await;
    let up = expect_data(
        &app.as_(
            &village,
            escalate,
            json!({"id": id, "u": app.region_id(LONGGANG).await}),
        )
        .await,
    )["escalateCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_data(
        &app.as_(&flow.agent, respond, json!({"t": up, "a": true}))
            .await,
    );

    // The clock stops while waiting for the applicant and restarts.
    let stopped = flow
        .act(
            &flow.agent,
            "stopCaseClock",
            "id: $id, note: $n",
            "$id: ID!, $n: String!",
            json!({"id": id, "n": "补充法人授权书"}),
        )
        .await;
    assert!(
        stopped["waitingSince"].is_string() && stopped["dueOn"].is_null(),
        "{stopped}"
    );
    let restarted = flow.on(&flow.agent, "restartCaseClock", &id).await;
    assert!(
        restarted["waitingSince"].is_null() && restarted["dueOn"].is_string(),
        "{restarted}"
    );

    let move_ = "mutation($m: ID!, $i: MaterialMoveInput!) { moveCaseMaterial(materialId: $m, input: $i) { status } }";
    expect_data(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": form, "i": {"to": "WINDOW", "window": "县市场监管局窗口"}}),
        )
        .await,
    );
    expect_error(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": form, "i": {"to": "APPLICANT"}}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    let proxy_without_outcome = app
        .as_(
            &flow.agent,
            &q("completeCase", "id: $id, outcome: []", "$id: ID!"),
            json!({"id": id}),
        )
        .await;
    expect_error(&proxy_without_outcome, "BAD_USER_INPUT");
    flow.act(&flow.agent, "completeCase", "id: $id, outcome: $o", "$id: ID!, $o: [OutcomeInput!]!", json!({"id": id, "o": [{"kind": "CERTIFICATE", "name": "食品经营许可证", "number": "JY11405210000001"}]})).await;

    // Archiving too early is refused as a transition; after delivery, as incomplete.
    flow.refused(
        &flow.agent,
        "archiveCase",
        "id: $id",
        "$id: ID!",
        json!({"id": id}),
        "INVALID_TRANSITION",
    )
    .await;
    let now = app.clock.now();
    let ems = json!({"method": "EMS", "trackingNumber": "EA123456789CN", "sentAt": (now - chrono::Duration::hours(20)).to_rfc3339(), "receivedAt": (now - chrono::Duration::hours(1)).to_rfc3339()});
    let delivered = flow
        .act(
            &flow.agent,
            "deliverCase",
            "id: $id, input: $i",
            "$id: ID!, $i: DeliveryInput!",
            json!({"id": id, "i": ems}),
        )
        .await;
    assert_eq!(delivered["deliveryMethod"], "EMS");
    let before = flow.snapshot().await;
    let incomplete = flow
        .refused(
            &flow.agent,
            "archiveCase",
            "id: $id",
            "$id: ID!",
            json!({"id": id}),
            "CASE_INCOMPLETE",
        )
        .await;
    assert_eq!(
        incomplete["extensions"]["missing"],
        json!(["MATERIAL:营业执照副本"])
    );
    assert_eq!(
        before,
        flow.snapshot().await,
        "a refused archive writes nothing"
    );
    expect_data(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": licence, "i": {"to": "APPLICANT"}}),
        )
        .await,
    );
    assert_eq!(
        flow.on(&flow.agent, "archiveCase", &id).await["status"],
        "ARCHIVED"
    );
    assert_eq!(
        flow.on(&flow.county, "closeCase", &id).await["status"],
        "CLOSED"
    );

    let custody = expect_data(&app.as_(&flow.agent, "query($id: ID!) { case(id: $id) { materials { name status custody { holder until } } } }", json!({"id": id})).await);
    let licence_rows = &custody["case"]["materials"][0]["custody"];
    assert_eq!(licence_rows.as_array().unwrap().len(), 2);
    assert_eq!(licence_rows[1]["holder"], "APPLICANT");
    assert!(licence_rows[0]["until"].is_string());
    let held = expect_data(
        &app.as_(
            &flow.agent,
            "query($id: ID!) { case(id: $id) { holdings { unitId from until } } }",
            json!({"id": id}),
        )
        .await,
    );
    let holdings = held["case"]["holdings"].as_array().unwrap();
    let units: Vec<&str> = holdings
        .iter()
        .map(|h| h["unitId"].as_str().unwrap())
        .collect();
    let longgang = app.region_id(LONGGANG).await;
    let chengnei = app.region_id(CHENGNEI).await;
    assert_eq!(
        units,
        [longgang.as_str(), chengnei.as_str(), longgang.as_str()],
        "township, village, township again"
    );
    assert!(holdings[..2].iter().all(|h| h["until"].is_string()) && holdings[2]["until"].is_null());
    let applicant_view = expect_data(&app.as_(&flow.resident, "query($id: ID!) { case(id: $id) { agentId transfers { id } holdings { unitId } trail { action } materials { location custody { holder } } } }", json!({"id": id})).await);
    assert!(applicant_view["case"]["agentId"].is_null());
    assert_eq!(applicant_view["case"]["transfers"], json!([]));
    assert_eq!(applicant_view["case"]["holdings"], json!([]));
    assert_eq!(applicant_view["case"]["materials"][0]["custody"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_termination_reason_records_what_it_needs() {
    let reasons = [
        ("REQUESTED_BY_APPLICANT", json!({})),
        (
            "DISHONEST_ENTERPRISE",
            json!({"creditCheck": {"source": "信用中国", "checkedAt": "2026-01-05T02:00:00Z", "result": "列入严重失信主体名单", "evidence": "截图 2026-001"}}),
        ),
        ("NOT_COMPLETABLE", json!({})),
        ("FALSE_MATERIALS", json!({})),
        ("APPLICANT_BREACH", json!({})),
        (
            "LONG_STANDSTILL",
            json!({"conversation": {"heldAt": "2026-01-05T02:00:00Z", "summary": "电话沟通，申请人表示暂不办理"}}),
        ),
    ];
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let terminate = "mutation($id: ID!, $r: TerminationReason!, $c: CreditCheckInput, $t: ConversationInput) { terminateCase(id: $id, reason: $r, note: \"说明\", creditCheck: $c, conversation: $t) { status terminationReason } }";
    let before = flow.snapshot().await;
    for (reason, field) in [
        ("DISHONEST_ENTERPRISE", "creditCheck"),
        ("LONG_STANDSTILL", "conversation"),
        ("MATTER_COMPLETED", "reason"),
    ] {
        let refused = app
            .as_(&flow.agent, terminate, json!({"id": id, "r": reason}))
            .await;
        assert_eq!(
            expect_error(&refused, "BAD_USER_INPUT")["extensions"]["field"],
            field,
            "{reason}"
        );
    }
    assert_eq!(before, flow.snapshot().await);
    // One case per reason: each terminates from an open status with its record.
    for (n, (reason, extra)) in reasons.iter().enumerate() {
        let case_id = if n == 0 {
            id.clone()
        } else {
            let (_, slots) = flow.desk.next_day_slots().await;
            let resident = app.login_resident(&format!("terminated-{n}")).await;
            let mut input = flow.desk.input(
                slots[n % slots.len()]["id"].as_str().unwrap(),
                &format!("t{n}"),
            );
            input["input"]["kind"] = json!("PROXY");
            let booking = expect_data(&app.as_(&resident, crate::booking::BOOK, input).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
            expect_data(
                &app.as_(
                    &flow.agent,
                    "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
                    json!({"id": booking}),
                )
                .await,
            );
            expect_data(
                &app.as_(
                    &flow.agent,
                    "mutation($b: ID!) { openCase(bookingId: $b) { id } }",
                    json!({"b": booking}),
                )
                .await,
            )["openCase"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut vars = json!({"id": case_id, "r": reason});
        if let Some(c) = extra.get("creditCheck") {
            vars["c"] = c.clone();
        }
        if let Some(t) = extra.get("conversation") {
            vars["t"] = t.clone();
        }
        let who = if n == 0 { &flow.resident } else { &flow.agent };
        let ended = expect_data(&app.as_(who, terminate, vars).await);
        assert_eq!(ended["terminateCase"]["status"], "TERMINATED", "{reason}");
        assert_eq!(ended["terminateCase"]["terminationReason"], *reason);
        let trail = expect_data(&app.as_(&flow.agent, TRAIL, json!({"id": case_id})).await);
        let last = trail["case"]["trail"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        let details: Value = serde_json::from_str(last["details"].as_str().unwrap()).unwrap();
        assert_eq!(details["reason"].as_str().unwrap().to_uppercase(), *reason);
        match *reason {
            "DISHONEST_ENTERPRISE" => assert_eq!(details["creditCheck"]["source"], "信用中国"),
            "LONG_STANDSTILL" => assert!(details["conversation"]["summary"].is_string()),
            "FALSE_MATERIALS" => assert_eq!(details["filingReturned"], true),
            _ => {}
        }
        // Terminated is final.
        expect_error(
            &app.as_(
                &flow.agent,
                terminate,
                json!({"id": case_id, "r": "NOT_COMPLETABLE"}),
            )
            .await,
            "INVALID_TRANSITION",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_job_flags_due_soon_and_overdue_once_by_the_test_clock() {
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    let accepted = flow.on(&flow.agent, "acceptCase", &id).await;
    let due =
        chrono::NaiveDate::parse_from_str(accepted["dueOn"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let run = || async {
        bangban_server::jobs::run_due(&app.state)
            .await
            .map_err(|e| e.message())
            .unwrap()
    };
    let at = |day: chrono::NaiveDate| {
        bangban_server::booking::model::china_instant(
            day,
            chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        )
    };
    app.clock.set(at(due));
    assert_eq!(run().await.count("cases", "due_soon"), 1);
    assert_eq!(run().await.count("cases", "due_soon"), 0, "flagged once");
    app.clock.set(at(due + chrono::Duration::days(1)));
    assert_eq!(run().await.count("cases", "overdue"), 1);
    // The clock moved past the sessions' access tokens: sign in again.
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let resident = app.login_resident("case-HELP").await;
    let overdue = expect_data(
        &app.as_(
            &agent,
            "{ cases(filter: {overdue: true}) { cases { id dueFlag } } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(overdue["cases"]["cases"][0]["id"], id);
    let trail = expect_data(&app.as_(&resident, TRAIL, json!({"id": id})).await);
    let actions: Vec<&str> = trail["case"]["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert!(actions.ends_with(&["due_soon", "overdue"]), "{actions:?}");

    // Waiting for the applicant for ten days moves the deadline on: the flag is judged afresh.
    flow.act(
        &agent,
        "stopCaseClock",
        "id: $id, note: $n",
        "$id: ID!, $n: String!",
        json!({"id": id, "n": "补充材料"}),
    )
    .await;
    app.clock.set(at(due + chrono::Duration::days(11)));
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let restarted = flow.on(&agent, "restartCaseClock", &id).await;
    assert_eq!(restarted["dueFlag"], "ON_TRACK", "{restarted}");
    let new_due =
        chrono::NaiveDate::parse_from_str(restarted["dueOn"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    // The next run judges the new deadline: overdue again only if it has passed too.
    let today = bangban_server::clock::local_date(app.clock.now());
    let flagged = run().await;
    assert_eq!(
        flagged.count("cases", "overdue"),
        u64::from(new_due < today),
        "{new_due} {today}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_let_exactly_one_win_and_case_numbers_have_no_gaps() {
    let rounds = if crate::helpers::postgres_backend().is_some() {
        8
    } else {
        3
    };
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let second = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let mut numbers = Vec::new();
    let first = open(&flow).await;
    numbers.push(first["number"].as_str().unwrap().to_string());
    let mut ids = vec![first["id"].as_str().unwrap().to_string()];
    // More bookings, opened concurrently.
    let mut bookings = Vec::new();
    for n in 0..rounds {
        let (_, slots) = flow.desk.next_day_slots().await;
        let resident = app.login_resident(&format!("race-{n}")).await;
        let slot = slots[(n + 1) % slots.len()]["id"].as_str().unwrap();
        let booking = expect_data(
            &app.as_(
                &resident,
                crate::booking::BOOK,
                flow.desk.input(slot, &format!("r{n}")),
            )
            .await,
        )["bookAppointment"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect_data(
            &app.as_(
                &flow.agent,
                "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
                json!({"id": booking}),
            )
            .await,
        );
        bookings.push(booking);
    }
    let opened = futures_util::future::join_all(bookings.iter().map(|b| {
        app.as_(
            &flow.agent,
            "mutation($b: ID!) { openCase(bookingId: $b) { id number } }",
            json!({"b": b}),
        )
    }))
    .await;
    for o in &opened {
        let o = expect_data(o);
        numbers.push(o["openCase"]["number"].as_str().unwrap().to_string());
        ids.push(o["openCase"]["id"].as_str().unwrap().to_string());
    }
    let mut seq: Vec<u32> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seq.sort();
    assert_eq!(
        seq,
        (1..=u32::try_from(rounds + 1).unwrap()).collect::<Vec<_>>(),
        "{numbers:?}"
    );

    // Two staff accept the same case at once, for each case: exactly one wins.
    for id in &ids {
        let both = futures_util::future::join(
            app.as_(
                &flow.agent,
                "mutation($id: ID!) { acceptCase(id: $id) { status } }",
                json!({"id": id}),
            ),
            app.as_(
                &second,
                "mutation($id: ID!) { acceptCase(id: $id) { status } }",
                json!({"id": id}),
            ),
        )
        .await;
        let results = [both.0, both.1];
        let won = results.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(won, 1, "{results:?}");
        let lost = results.iter().find(|r| r.get("errors").is_some()).unwrap();
        let code = lost["errors"][0]["extensions"]["code"].as_str().unwrap();
        assert!(code == "CONFLICT" || code == "INVALID_TRANSITION", "{lost}");
    }
    let steps = app.dump_table("case_steps").await;
    assert_eq!(
        steps.lines().filter(|l| l.contains("accepted")).count(),
        ids.len(),
        "one acceptance step per case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_jurisdictions_and_other_residents_see_no_case() {
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    let other_town = app
        .staff_session("zc.admin", Role::TownshipAdmin, "140521101")
        .await;
    let other_resident = app.login_resident("someone-else").await;
    let before = flow.snapshot().await;
    for who in [&other_town, &other_resident] {
        expect_error(
            &app.as_(
                who,
                "query($id: ID!) { case(id: $id) { id } }",
                json!({"id": id}),
            )
            .await,
            "NOT_FOUND",
        );
        flow.refused(
            who,
            "acceptCase",
            "id: $id",
            "$id: ID!",
            json!({"id": id}),
            "NOT_FOUND",
        )
        .await;
    }
    let listed = expect_data(
        &app.as_(&other_town, "{ cases { cases { id } } }", json!({}))
            .await,
    );
    assert_eq!(listed["cases"]["cases"], json!([]));
    expect_error(
        &app.as_(
            &other_town,
            "query($u: ID) { cases(filter: {unitId: $u}) { cases { id } } }",
            json!({"u": app.region_id(LONGGANG).await}),
        )
        .await,
        "NOT_FOUND",
    );
    let mine = expect_data(
        &app.as_(&other_resident, "{ myCases { cases { id } } }", json!({}))
            .await,
    );
    assert_eq!(mine["myCases"]["cases"], json!([]));
    let note = app
        .as_(
            &flow.agent,
            &q(
                "refuseCase",
                "id: $id, reasonCode: \"NOT_ELIGIBLE\", explanation: $e",
                "$id: ID!, $e: String!",
            ),
            json!({"id": id, "e": "a\u{0}b"}),
        )
        .await;
    assert_eq!(
        expect_error(&note, "BAD_USER_INPUT")["extensions"]["field"],
        "explanation"
    );
    assert_eq!(before, flow.snapshot().await);
    let refused = flow
        .act(
            &flow.agent,
            "refuseCase",
            "id: $id, reasonCode: \"NOT_ELIGIBLE\", explanation: $e",
            "$id: ID!, $e: String!",
            json!({"id": id, "e": "该事项不属于帮办代办范围，请至县市场监管局窗口办理"}),
        )
        .await;
    assert_eq!(refused["status"], "REFUSED");
}

#[tokio::test]
async fn an_item_is_high_frequency_from_twenty_completed_cases_a_month_over_twelve_months() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let opened = open(&flow).await;
    let template = entity::cases::Entity::find_by_id(
        uuid::Uuid::parse_str(opened["id"].as_str().unwrap()).unwrap(),
    )
    .one(&app.state.db)
    .await
    .unwrap()
    .unwrap();
    let now = app.clock.now();
    let (start, _) = bangban_server::directory::catalogue::last_twelve_months(now);
    // 239 cases completed over the last twelve months: not yet; the 240th makes the average 20.
    for n in 0..240 {
        let id = uuid::Uuid::now_v7();
        entity::cases::ActiveModel::from(entity::cases::Model {
            id,
            number: format!("T-{n}"),
            booking_id: None,
            ledger_entry_id: None,
            latest_steps: None,
            latest_public_steps: None,
            ..template.clone()
        })
        .insert(&app.state.db)
        .await
        .unwrap();
        entity::case_steps::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            case_id: Set(id),
            at: Set(start + chrono::Duration::days(n % 360)),
            action: Set("completed".into()),
            from_status: Set(None),
            to_status: Set(None),
            actor_kind: Set("staff".into()),
            actor_id: Set(None),
            unit_id: Set(None),
            public_note: Set(None),
            internal_note: Set(None),
            details: Set("{}".into()),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
        if n == 238 {
            let item = expect_data(
                &app.graphql(
                    None,
                    "query($id: ID!) { item(id: $id) { highFrequency } }",
                    json!({"id": flow.desk.item}),
                )
                .await,
            );
            assert_eq!(item["item"]["highFrequency"], false);
        }
    }
    let item = expect_data(
        &app.graphql(
            None,
            "query($id: ID!) { item(id: $id) { highFrequency } }",
            json!({"id": flow.desk.item}),
        )
        .await,
    );
    assert_eq!(item["item"]["highFrequency"], true);
}

/// A proxy case accepted, its entrustment signed by both sides (ENTRUSTED); returns the case id
/// and the entrustment's hash.
async fn entrusted(flow: &Flow) -> (String, String) {
    let app = &flow.desk.app;
    let id = open(flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let prepared = expect_data(&app.as_(&flow.agent, "mutation($id: ID!, $n: String!) { prepareEntrustment(caseId: $id, input: {contactName: \"钱七\", contactPhone: \"13900000041\", idNumber: $n, validUntil: \"2027-12-31\"}) { contentHash } }", json!({"id": id, "n": test_id_number(41)})).await);
    let hash = prepared["prepareEntrustment"]["contentHash"]
        .as_str()
        .unwrap()
        .to_string();
    let confirm = "mutation($id: ID!, $h: String!) { confirmEntrustment(caseId: $id, contentHash: $h) { agentConfirmedAt } }";
    expect_data(
        &app.as_(&flow.resident, confirm, json!({"id": id, "h": hash}))
            .await,
    );
    expect_data(
        &app.as_(&flow.agent, confirm, json!({"id": id, "h": hash}))
            .await,
    );
    (id, hash)
}

const LINK: &str = "query($id: ID!) { entrustmentLink(caseId: $id) { path } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entrustment_is_opened_only_by_its_parties_and_a_revocation_terminates_the_case() {
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let (id, _) = entrusted(&flow).await;
    // Watchers (an inspector, an auditor) see the case but not the document with its ID number.
    for (name, role) in [
        ("cases.inspector", Role::Inspector),
        ("cases.auditor", Role::Auditor),
    ] {
        let watcher = app.staff_session(name, role, COUNTY).await;
        expect_data(
            &app.as_(
                &watcher,
                "query($id: ID!) { case(id: $id) { id } }",
                json!({"id": id}),
            )
            .await,
        );
        expect_error(
            &app.as_(&watcher, LINK, json!({"id": id})).await,
            "FORBIDDEN",
        );
    }
    let audit_before = app
        .dump_table("audit_log")
        .await
        .lines()
        .filter(|l| l.contains("entrustment_opened"))
        .count();
    let path = expect_data(&app.as_(&flow.resident, LINK, json!({"id": id})).await)["entrustmentLink"]["path"].as_str().unwrap().to_string();
    let audit_after = app
        .dump_table("audit_log")
        .await
        .lines()
        .filter(|l| l.contains("entrustment_opened"))
        .count();
    assert_eq!(
        audit_after,
        audit_before + 1,
        "every link given out is audited"
    );
    assert_eq!(reqwest::get(app.url(&path)).await.unwrap().status(), 200);
    // The signature binds the case: the same query on another case's path is not found.
    let elsewhere = path.replacen(&id, &uuid::Uuid::now_v7().to_string(), 1);
    assert_eq!(
        reqwest::get(app.url(&elsewhere)).await.unwrap().status(),
        404
    );

    let receive = "mutation($id: ID!, $i: MaterialInput!) { receiveCaseMaterial(caseId: $id, input: $i) { id } }";
    let deed = expect_data(
        &app.as_(
            &flow.agent,
            receive,
            json!({"id": id, "i": {"name": "土地使用证", "original": true, "mustReturn": true}}),
        )
        .await,
    )["receiveCaseMaterial"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let copy = expect_data(&app.as_(&flow.agent, receive, json!({"id": id, "i": {"name": "委托人身份证复印件", "original": false, "mustReturn": false}})).await)["receiveCaseMaterial"]["id"].as_str().unwrap().to_string();
    let move_ = "mutation($m: ID!, $i: MaterialMoveInput!) { moveCaseMaterial(materialId: $m, input: $i) { status flag } }";
    let lost = expect_data(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": copy, "i": {"to": "LOST", "note": "归档时未找到"}}),
        )
        .await,
    );
    assert_eq!(lost["moveCaseMaterial"]["flag"], "LOST");
    expect_error(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": copy, "i": {"to": "APPLICANT"}}),
        )
        .await,
        "INVALID_TRANSITION",
    );

    // Only the applicant revokes; the case terminates for reason (2) with what goes back listed.
    expect_error(
        &app.as_(
            &flow.agent,
            "mutation($id: ID!) { revokeEntrustment(caseId: $id, reason: \"x\") { id } }",
            json!({"id": id}),
        )
        .await,
        "FORBIDDEN",
    );
    let revoked = expect_data(&app.as_(&flow.resident, "mutation($id: ID!) { revokeEntrustment(caseId: $id, reason: \"不再需要办理\") { status terminationReason } }", json!({"id": id})).await);
    assert_eq!(revoked["revokeEntrustment"]["status"], "TERMINATED");
    assert_eq!(
        revoked["revokeEntrustment"]["terminationReason"],
        "REQUESTED_BY_APPLICANT"
    );
    let trail = expect_data(&app.as_(&flow.agent, TRAIL, json!({"id": id})).await);
    let last = trail["case"]["trail"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let details: Value = serde_json::from_str(last["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["toReturn"], json!(["土地使用证"]));
    // The revoked text is gone from its link; what must go back still goes back.
    assert_eq!(reqwest::get(app.url(&path)).await.unwrap().status(), 404);
    expect_error(
        &app.as_(&flow.resident, LINK, json!({"id": id})).await,
        "NOT_FOUND",
    );
    expect_error(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": deed, "i": {"to": "WINDOW", "window": "x"}}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    let back = expect_data(
        &app.as_(
            &flow.agent,
            move_,
            json!({"m": deed, "i": {"to": "APPLICANT"}}),
        )
        .await,
    );
    assert_eq!(back["moveCaseMaterial"]["status"], "RETURNED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrustment_link_expires() {
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let (id, _) = entrusted(&flow).await;
    let path = expect_data(&app.as_(&flow.agent, LINK, json!({"id": id})).await)["entrustmentLink"]
        ["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reqwest::get(app.url(&path)).await.unwrap().status(), 200);
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(11));
    assert_eq!(reqwest::get(app.url(&path)).await.unwrap().status(), 404);
}

const PLAN_FIELDS: &str =
    "id seq title dueOn acknowledgedAt doneAt overdue reportToCounty reportedAt reportOverdue";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_agreed_acknowledged_followed_and_its_overdue_milestones_flagged() {
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    let set = format!(
        "mutation($id: ID!, $m: [MilestoneInput!]!) {{ setCasePlan(caseId: $id, milestones: $m) {{ {PLAN_FIELDS} }} }}"
    );
    let plan = json!([
        {"title": "项目备案", "workingDays": 3},
        {"title": "环评批复", "workingDays": 10, "reportToCounty": true},
        {"title": "施工许可", "workingDays": 20},
    ]);
    // Not before acceptance, not by the applicant, not out of order.
    expect_error(
        &app.as_(&flow.agent, &set, json!({"id": id, "m": plan}))
            .await,
        "INVALID_TRANSITION",
    );
    flow.on(&flow.agent, "acceptCase", &id).await;
    expect_error(
        &app.as_(&flow.resident, &set, json!({"id": id, "m": plan}))
            .await,
        "FORBIDDEN",
    );
    let backwards = json!([{"title": "a", "workingDays": 5}, {"title": "b", "workingDays": 2}]);
    let refused = app
        .as_(&flow.agent, &set, json!({"id": id, "m": backwards}))
        .await;
    assert_eq!(
        expect_error(&refused, "BAD_USER_INPUT")["extensions"]["field"],
        "milestones[1].workingDays"
    );
    let milestones = expect_data(
        &app.as_(&flow.agent, &set, json!({"id": id, "m": plan}))
            .await,
    )["setCasePlan"]
        .clone();
    assert_eq!(milestones.as_array().unwrap().len(), 3);
    let first = milestones[0]["id"].as_str().unwrap().to_string();
    let second = milestones[1]["id"].as_str().unwrap().to_string();

    let ack = format!(
        "mutation($m: ID!) {{ acknowledgeMilestone(milestoneId: $m) {{ {PLAN_FIELDS} }} }}"
    );
    expect_error(
        &app.as_(&flow.agent, &ack, json!({"m": first})).await,
        "FORBIDDEN",
    );
    let other = app.login_resident("not-the-applicant").await;
    expect_error(
        &app.as_(&other, &ack, json!({"m": first})).await,
        "NOT_FOUND",
    );
    assert!(expect_data(&app.as_(&flow.resident, &ack, json!({"m": first})).await)["acknowledgeMilestone"]["acknowledgedAt"].is_string());
    expect_error(
        &app.as_(&flow.resident, &ack, json!({"m": first})).await,
        "INVALID_TRANSITION",
    );
    // Acknowledged: the plan is no longer replaced, only followed.
    expect_error(
        &app.as_(&flow.agent, &set, json!({"id": id, "m": plan}))
            .await,
        "CONFLICT",
    );

    let progress = format!(
        "mutation($m: ID!, $n: String!, $d: Boolean) {{ recordMilestoneProgress(milestoneId: $m, note: $n, done: $d) {{ {PLAN_FIELDS} }} }}"
    );
    let done = expect_data(
        &app.as_(
            &flow.agent,
            &progress,
            json!({"m": first, "n": "已取得备案证明", "d": true}),
        )
        .await,
    );
    assert!(done["recordMilestoneProgress"]["doneAt"].is_string());
    let report = format!(
        "mutation($m: ID!) {{ reportMilestoneToCounty(milestoneId: $m) {{ {PLAN_FIELDS} }} }}"
    );
    expect_error(
        &app.as_(&flow.agent, &report, json!({"m": first})).await,
        "INVALID_TRANSITION",
    );

    // Past the second milestone's day: flagged overdue once, its report to the county missing.
    let due =
        chrono::NaiveDate::parse_from_str(milestones[1]["dueOn"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    app.clock.set(bangban_server::booking::model::china_instant(
        due + chrono::Duration::days(1),
        chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
    ));
    let run = || async {
        bangban_server::jobs::run_due(&app.state)
            .await
            .map_err(|e| e.message())
            .unwrap()
    };
    assert_eq!(run().await.count("cases", "milestones_overdue"), 1);
    assert_eq!(
        run().await.count("cases", "milestones_overdue"),
        0,
        "flagged once"
    );
    let resident = app.login_resident("case-PROXY").await;
    let seen = expect_data(&app.as_(&resident, &format!("query($id: ID!) {{ case(id: $id) {{ plan {{ {PLAN_FIELDS} }} trail {{ action publicNote }} }} }}"), json!({"id": id})).await);
    let plan_now = &seen["case"]["plan"];
    assert_eq!(plan_now[0]["overdue"], false, "done in time");
    assert_eq!(plan_now[1]["overdue"], true);
    assert_eq!(plan_now[1]["reportOverdue"], true);
    let notes: Vec<&str> = seen["case"]["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["publicNote"].as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("已取得备案证明")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("环评批复") && n.contains("超期")),
        "{notes:?}"
    );
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let reported = expect_data(&app.as_(&agent, &report, json!({"m": second})).await);
    assert_eq!(reported["reportMilestoneToCounty"]["reportOverdue"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_township_agent_consults_the_county_and_the_answer_is_recorded() {
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    let county_agent = app
        .staff_session("cases.county.agent", Role::CountyAgent, COUNTY)
        .await;
    let other_town = app
        .staff_session("zc.agent", Role::TownshipAgent, "140521101")
        .await;
    let mut live = WsClient::connect(app, Some(&county_agent.access)).await;
    live.subscribe(
        "m",
        "subscription { myEvents { kind subjectId } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ask = "mutation($c: ID, $q: String!) { openConsultation(caseId: $c, question: $q) { id status ledgerEntryId } }";
    expect_error(
        &app.as_(&county_agent, ask, json!({"c": id, "q": "x"}))
            .await,
        "FORBIDDEN",
    );
    expect_error(
        &app.as_(&other_town, ask, json!({"c": id, "q": "x"})).await,
        "NOT_FOUND",
    );
    let refused = app
        .as_(&flow.agent, ask, json!({"q": "没有对象的问题"}))
        .await;
    assert_eq!(
        expect_error(&refused, "BAD_USER_INPUT")["extensions"]["field"],
        "caseId"
    );
    let opened = expect_data(
        &app.as_(
            &flow.agent,
            ask,
            json!({"c": id, "q": "宅基地审批需要哪些村级证明？"}),
        )
        .await,
    )["openConsultation"]
        .clone();
    let consultation = opened["id"].as_str().unwrap().to_string();
    let event = live
        .next_event("m", "myEvents", Duration::from_secs(10))
        .await;
    assert_eq!(event["kind"], "consultation.opened");
    assert_eq!(event["subjectId"], consultation);
    let ledger = app.dump_table("ledger_entries").await;
    assert!(
        ledger
            .lines()
            .any(|l| l.contains(opened["ledgerEntryId"].as_str().unwrap()) && l.contains("remote")),
        "{ledger}"
    );

    // The contact is among staff: it names no applicant and opens no case in their name.
    let entry = opened["ledgerEntryId"].as_str().unwrap();
    assert!(
        ledger
            .lines()
            .any(|l| l.contains(entry) && l.contains("user_id=None")),
        "{ledger}"
    );
    let reused = app
        .as_(
            &flow.agent,
            "mutation($e: ID!) { openCaseFromContact(ledgerEntryId: $e, kind: PROXY) { id } }",
            json!({"e": entry}),
        )
        .await;
    assert_eq!(
        expect_error(&reused, "BAD_USER_INPUT")["extensions"]["field"],
        "ledgerEntryId"
    );
    let theirs = expect_data(
        &app.as_(&flow.resident, "{ myCases { cases { id } } }", json!({}))
            .await,
    );
    assert_eq!(theirs["myCases"]["cases"].as_array().unwrap().len(), 1);
    let reply =
        "mutation($id: ID!, $b: String!) { replyToConsultation(id: $id, body: $b) { at body } }";
    expect_error(
        &app.as_(&other_town, reply, json!({"id": consultation, "b": "x"}))
            .await,
        "NOT_FOUND",
    );
    expect_data(
        &app.as_(
            &county_agent,
            reply,
            json!({"id": consultation, "b": "需村委会出具的申请人家庭情况证明"}),
        )
        .await,
    );
    let listed = expect_data(
        &app.as_(
            &county_agent,
            "{ consultations { id question replies { body } } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(listed["consultations"][0]["id"], consultation);
    let mine = expect_data(
        &app.as_(
            &flow.agent,
            "{ consultations { id replies { body authorId } } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        mine["consultations"][0]["replies"][0]["body"],
        "需村委会出具的申请人家庭情况证明"
    );
    let none = expect_data(
        &app.as_(&other_town, "{ consultations { id } }", json!({}))
            .await,
    );
    assert_eq!(none["consultations"], json!([]));
    expect_error(
        &app.as_(
            &county_agent,
            "mutation($id: ID!) { closeConsultation(id: $id) { status } }",
            json!({"id": consultation}),
        )
        .await,
        "FORBIDDEN",
    );
    let closed = expect_data(
        &app.as_(
            &flow.agent,
            "mutation($id: ID!) { closeConsultation(id: $id) { status closedAt } }",
            json!({"id": consultation}),
        )
        .await,
    );
    assert_eq!(closed["closeConsultation"]["status"], "CLOSED");
    expect_error(
        &app.as_(&county_agent, reply, json!({"id": consultation, "b": "x"}))
            .await,
        "INVALID_TRANSITION",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transfers_answers_and_signatures_leave_one_outcome_each() {
    let rounds = if crate::helpers::postgres_backend().is_some() {
        6
    } else {
        2
    };
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let village = app
        .staff_session("cn.race.a", Role::VillageAgent, CHENGNEI)
        .await;
    let village_admin = app
        .staff_session("lg.race.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let chengnei = app.region_id(CHENGNEI).await;
    let transfer = "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"就近办理\") { id } }";
    let respond =
        "mutation($t: ID!) { respondToCaseTransfer(transferId: $t, accept: true) { status } }";
    let confirm = "mutation($id: ID!, $h: String!) { confirmEntrustment(caseId: $id, contentHash: $h) { applicantConfirmedAt } }";
    let ok = |r: &Value| r.get("errors").is_none();
    let lost_code = |r: &Value| {
        r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for round in 0..rounds {
        // A fresh proxy case for the round (another resident, another slot).
        let resident = app.login_resident(&format!("race-proxy-{round}")).await;
        let (_, slots) = flow.desk.next_day_slots().await;
        let mut input = flow.desk.input(
            slots[(round + 1) % slots.len()]["id"].as_str().unwrap(),
            &format!("rp{round}"),
        );
        input["input"]["kind"] = json!("PROXY");
        let booking =
            expect_data(&app.as_(&resident, crate::booking::BOOK, input).await)["bookAppointment"]
                ["id"]
                .as_str()
                .unwrap()
                .to_string();
        expect_data(
            &app.as_(
                &flow.agent,
                "mutation($id: ID!) { acceptBooking(id: $id) { status } }",
                json!({"id": booking}),
            )
            .await,
        );
        let id = expect_data(
            &app.as_(
                &flow.agent,
                "mutation($b: ID!) { openCase(bookingId: $b) { id } }",
                json!({"b": booking}),
            )
            .await,
        )["openCase"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        flow.on(&flow.agent, "acceptCase", &id).await;
        let hash = expect_data(&app.as_(&flow.agent, "mutation($id: ID!, $n: String!) { prepareEntrustment(caseId: $id, input: {contactName: \"孙八\", contactPhone: \"13900000051\", idNumber: $n, validUntil: \"2027-12-31\"}) { contentHash } }", json!({"id": id, "n": test_id_number(51)})).await)["prepareEntrustment"]["contentHash"].as_str().unwrap().to_string();

        // The applicant's two taps on "confirm": one confirmation.
        let (a, b) = futures_util::future::join(
            app.as_(&resident, confirm, json!({"id": id, "h": hash})),
            app.as_(&resident, confirm, json!({"id": id, "h": hash})),
        )
        .await;
        assert_eq!([&a, &b].iter().filter(|r| ok(r)).count(), 1, "{a} {b}");

        // Two transfers of one case at once: one waits for an answer.
        let (a, b) = futures_util::future::join(
            app.as_(&flow.agent, transfer, json!({"id": id, "u": chengnei})),
            app.as_(&flow.agent, transfer, json!({"id": id, "u": chengnei})),
        )
        .await;
        let made: Vec<&Value> = [&a, &b].into_iter().filter(|r| ok(r)).collect();
        assert_eq!(made.len(), 1, "{a} {b}");
        let t = made[0]["data"]["transferCase"]["id"]
            .as_str()
            .unwrap()
            .to_string();

        // The village agent and the township admin accept at once: one answer counts.
        let (a, b) = futures_util::future::join(
            app.as_(&village, respond, json!({"t": t})),
            app.as_(&village_admin, respond, json!({"t": t})),
        )
        .await;
        assert_eq!([&a, &b].iter().filter(|r| ok(r)).count(), 1, "{a} {b}");
        for lost in [&a, &b].into_iter().filter(|r| !ok(r)) {
            assert!(
                matches!(lost_code(lost).as_str(), "CONFLICT" | "INVALID_TRANSITION"),
                "{lost}"
            );
        }
        let holdings = app.dump_table("case_holdings").await;
        let open_holdings = holdings
            .lines()
            .filter(|l| l.contains(&id) && l.trim_end().ends_with("NULL"))
            .count();
        let all = holdings.lines().filter(|l| l.contains(&id)).count();
        assert_eq!(all, 2, "the opener's holding and the village's: {holdings}");
        assert!(
            open_holdings <= 1,
            "one unit holds the case at a time: {holdings}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_withdraws_a_transfer_never_answered_and_may_send_again() {
    let flow = accepted_booking("HELP").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    let village = app
        .staff_session("cn.silent", Role::VillageAgent, CHENGNEI)
        .await;
    let transfer = "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"就近办理\") { id } }";
    let withdraw = "mutation($t: ID!) { withdrawCaseTransfer(transferId: $t, reason: \"村里无人接收\") { status responseNote } }";
    let u = app.region_id(CHENGNEI).await;
    let t = expect_data(
        &app.as_(&flow.agent, transfer, json!({"id": id, "u": u}))
            .await,
    )["transferCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        &app.as_(&village, withdraw, json!({"t": t})).await,
        "FORBIDDEN",
    );
    expect_error(
        &app.as_(&flow.resident, withdraw, json!({"t": t})).await,
        "FORBIDDEN",
    );
    let stranger = app.login_resident("withdraw-stranger").await;
    expect_error(
        &app.as_(&stranger, withdraw, json!({"t": t})).await,
        "NOT_FOUND",
    );
    let withdrawn = expect_data(&app.as_(&flow.agent, withdraw, json!({"t": t})).await);
    assert_eq!(withdrawn["withdrawCaseTransfer"]["status"], "WITHDRAWN");
    expect_error(
        &app.as_(&flow.agent, withdraw, json!({"t": t})).await,
        "INVALID_TRANSITION",
    );
    expect_error(
        &app.as_(
            &village,
            "mutation($t: ID!) { respondToCaseTransfer(transferId: $t, accept: true) { status } }",
            json!({"t": t}),
        )
        .await,
        "INVALID_TRANSITION",
    );
    let waiting = expect_data(
        &app.as_(&village, "{ caseTransfersWaiting { id } }", json!({}))
            .await,
    );
    assert_eq!(waiting["caseTransfersWaiting"], json!([]));
    expect_data(
        &app.as_(&flow.agent, transfer, json!({"id": id, "u": u}))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_still_held_days_after_the_case_ended_is_flagged_whatever_moved_since() {
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let (id, _) = entrusted(&flow).await;
    let receive = "mutation($id: ID!, $i: MaterialInput!) { receiveCaseMaterial(caseId: $id, input: $i) { id } }";
    let mut ids = Vec::new();
    for name in ["营业执照正本", "法人身份证原件"] {
        let made = expect_data(
            &app.as_(
                &flow.agent,
                receive,
                json!({"id": id, "i": {"name": name, "original": true, "mustReturn": true}}),
            )
            .await,
        );
        ids.push(
            made["receiveCaseMaterial"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    flow.act(
        &flow.agent,
        "confirmCaseMaterialsReceived",
        "caseId: $id",
        "$id: ID!",
        json!({"id": id}),
    )
    .await;
    flow.on(&flow.agent, "startCaseProgress", &id).await;
    flow.act(
        &flow.agent,
        "completeCase",
        "id: $id, outcome: $o",
        "$id: ID!, $o: [OutcomeInput!]!",
        json!({"id": id, "o": [{"kind": "CERTIFICATE", "name": "许可证", "number": "X1"}]}),
    )
    .await;
    let flags = "query($id: ID!) { case(id: $id) { materials { name flag } } }";
    let now = expect_data(&app.as_(&flow.agent, flags, json!({"id": id})).await);
    assert!(
        now["case"]["materials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["flag"].is_null()),
        "{now}"
    );
    app.clock.set(app.clock.now() + chrono::Duration::days(6));
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    // One goes back late; the other is still held: it is flagged, the later move changes nothing.
    expect_data(&app.as_(&agent, "mutation($m: ID!) { moveCaseMaterial(materialId: $m, input: {to: APPLICANT}) { status } }", json!({"m": ids[0]})).await);
    let later = expect_data(&app.as_(&agent, flags, json!({"id": id})).await);
    let materials = later["case"]["materials"].as_array().unwrap();
    assert_eq!(materials[0]["flag"], Value::Null, "{later}");
    assert_eq!(materials[1]["flag"], "NOT_HANDED_ON", "{later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_countys_staff_see_no_case_and_each_county_numbers_its_own() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let flow = accepted_booking("PROXY").await;
    let app = &flow.desk.app;
    let id = open(&flow).await["id"].as_str().unwrap().to_string();
    flow.on(&flow.agent, "acceptCase", &id).await;
    bangban_server::directory::seed::load_county(
        &app.state.db,
        app.clock.now(),
        &bangban_server::directory::seed::SECOND_COUNTY,
        false,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    let before = flow.snapshot().await;
    for (name, role) in [
        ("b.cases.admin", Role::CountyAdmin),
        ("b.cases.agent", Role::CountyAgent),
        ("b.cases.auditor", Role::Auditor),
    ] {
        let outsider = app.staff_session(name, role, "140522").await;
        for query in [
            "query($id: ID!) { case(id: $id) { id } }",
            "query($id: ID!) { entrustmentLink(caseId: $id) { path } }",
            "mutation($id: ID!) { terminateCase(id: $id, reason: NOT_COMPLETABLE, note: \"x\") { id } }",
            "mutation($id: ID!) { stopCaseClock(id: $id, note: \"x\") { id } }",
        ] {
            expect_error(
                &app.as_(&outsider, query, json!({"id": id})).await,
                "NOT_FOUND",
            );
        }
        let listed = expect_data(
            &app.as_(
                &outsider,
                "{ cases { cases { id } } consultations { id } }",
                json!({}),
            )
            .await,
        );
        assert_eq!(listed["cases"]["cases"], json!([]), "{name}");
        assert_eq!(listed["consultations"], json!([]), "{name}");
    }
    assert_eq!(before, flow.snapshot().await, "the refusals wrote nothing");

    // Numbers are per county: the second county's first case of the year is its 000001.
    let county = |code: &'static str| async move {
        entity::regions::Entity::find()
            .filter(entity::regions::Column::Code.eq(code))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
    };
    let year = chrono::Datelike::year(&bangban_server::clock::local_date(app.clock.now()));
    let b =
        bangban_server::cases::opening::next_number(&app.state.db, &county("140522").await, year)
            .await
            .map_err(|e| e.message())
            .unwrap();
    assert_eq!(b, format!("140522-{year}-000001"));
    let a =
        bangban_server::cases::opening::next_number(&app.state.db, &county("140521").await, year)
            .await
            .map_err(|e| e.message())
            .unwrap();
    assert_eq!(
        a,
        format!("140521-{year}-000002"),
        "after the case opened above"
    );
}
