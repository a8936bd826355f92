//! Complaints' confidentiality end to end, on both backends: the accused — whatever their
//! role — never handles, reads, lists, follows or hears of a complaint about them; an inspector
//! with a conflict of interest hands it on; nobody but the assigned inspector learns who
//! complained (a county admin only by an audited reveal), and nobody outside the complaint
//! reads what was written, over every read path: the complaint, the lists, the statement
//! requests, pushes, live and replayed events, the audit log; staff outside it can act on
//! nothing, told exactly what a complaint that does not exist would tell them.
use std::time::Duration;

use bangban_server::auth::Role;
use serde_json::{Value, json};

use crate::{
    complaints::{COMPLAINT, ComplaintDesk, PUSHES, STATEMENT, about, audiences, my_mutation},
    directory::{CHENGNEI, COUNTY, LONGGANG},
    helpers::{Session, TestApp, WsClient, expect_data, expect_error},
};

/// 中村镇, a township other than 龙港镇.
const ZHONGCUN: &str = "140521101";
/// Written into a description, to be looked for in everything staff outside it are answered.
const MARKER: &str = "机密标记7Q3Z";

/// The oldest event's id (to replay a subscription from).
pub(crate) async fn first_event(app: &TestApp) -> String {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::events::Entity::find()
        .order_by_asc(entity::events::Column::Seq)
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("an event")
        .id
        .to_string()
}

/// Every message of a subscription until it ends or goes quiet.
async fn drain(app: &TestApp, who: &Session, query: &str, vars: Value) -> Vec<Value> {
    let mut live = WsClient::connect(app, Some(&who.access)).await;
    live.subscribe("s", query, vars).await;
    let mut all = Vec::new();
    while let Some(message) = live.next_message(Duration::from_millis(1500)).await {
        let done = message["type"] != "next";
        all.push(message);
        if done {
            break;
        }
    }
    all
}

/// `subjectEvents` of `subject` as `who`, replayed from the first event.
pub(crate) async fn subject_messages(app: &TestApp, who: &Session, subject: &str) -> Vec<Value> {
    let after = first_event(app).await;
    drain(app, who, "subscription($s: ID!, $a: ID) { subjectEvents(subjectId: $s, after: $a) { id kind subjectKind subjectId payload } }", json!({"s": subject, "a": after})).await
}

/// `myEvents` as `who`, replayed from the first event.
pub(crate) async fn my_messages(app: &TestApp, who: &Session) -> Vec<Value> {
    let after = first_event(app).await;
    drain(
        app,
        who,
        "subscription($a: ID) { myEvents(after: $a) { id kind subjectKind subjectId payload } }",
        json!({"a": after}),
    )
    .await
}

/// The code a refused subscription answered with.
pub(crate) fn refusal(messages: &[Value]) -> String {
    let first = messages.first().expect("an answer");
    let errors = if first["payload"].is_array() {
        &first["payload"]
    } else {
        &first["payload"]["errors"]
    };
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not refused: {messages:?}"))
        .to_string()
}

/// The kinds in subscription messages.
pub(crate) fn kinds(messages: &[Value], field: &str) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| {
            m["payload"]["data"][field]["kind"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// FORBIDDEN for the list, or a list without `id`.
pub(crate) fn forbidden_or_without(listed: &Value, id: &str) -> bool {
    match listed["errors"].as_array() {
        Some(errors) => errors[0]["extensions"]["code"] == "FORBIDDEN",
        None => listed["data"]["complaints"]["complaints"]
            .as_array()
            .is_some_and(|l| l.iter().all(|c| c["id"] != id)),
    }
}

/// Asserts `who` is refused `op` (whose `vars` name the complaint as `id`) just as for a
/// complaint that does not exist — NOT_FOUND or FORBIDDEN, nothing to tell it is there — and
/// returns the code.
async fn as_if_missing(app: &TestApp, who: &Session, op: &str, vars: Value) -> String {
    let real = app.as_(who, op, vars.clone()).await;
    let mut none = vars;
    none["id"] = json!(uuid::Uuid::new_v4().to_string());
    let missing = app.as_(who, op, none).await;
    let code = |r: &Value| {
        r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let refused = code(&real);
    assert!(
        refused == "NOT_FOUND" || refused == "FORBIDDEN",
        "{op}: {real}"
    );
    assert_eq!(refused, code(&missing), "{op}: {real} / {missing}");
    refused
}

/// The whole audit log as `who` reads it, page by page (or its refusal).
async fn audit_all(app: &TestApp, who: &Session) -> Value {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let query = format!(
            "{{ auditLog(afterSeq: {after}, first: 200) {{ seq at actorKind actorId action targetKind targetId details }} }}"
        );
        let page = app.as_(who, &query, json!({})).await;
        let Some(rows) = page["data"]["auditLog"].as_array().cloned() else {
            return page;
        };
        let Some(last) = rows.last() else { break };
        after = last["seq"].as_i64().unwrap();
        all.extend(rows);
    }
    Value::Array(all)
}

/// Everything `who` is answered about complaint `id` and its statement request `request`,
/// refusals included.
async fn gather(desk: &ComplaintDesk, who: &Session, id: &str, request: &str) -> Value {
    let app = desk.app();
    let complaint = desk.view(who, id).await;
    let complaints = app
        .as_(
            who,
            &format!("{{ complaints {{ complaints {{ {COMPLAINT} }} }} }}"),
            json!({}),
        )
        .await;
    let statements = app
        .as_(
            who,
            &format!("{{ myStatementRequests {{ {STATEMENT} }} }}"),
            json!({}),
        )
        .await;
    let pushed = app.as_(who, PUSHES, json!({"s": id})).await;
    let pushed_request = app.as_(who, PUSHES, json!({"s": request})).await;
    let audit = audit_all(app, who).await;
    let (followed, followed_request, mine) = tokio::join!(
        subject_messages(app, who, id),
        subject_messages(app, who, request),
        my_messages(app, who)
    );
    json!({"complaint": complaint, "complaints": complaints, "statements": statements,
        "pushDeliveries": pushed, "requestPushDeliveries": pushed_request, "auditLog": audit,
        "subjectEvents": followed, "requestSubjectEvents": followed_request, "myEvents": mine})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accused_never_handles_reads_or_hears_of_a_complaint_whatever_their_role() {
    let desk = ComplaintDesk::with_inspectors(1).await;
    let app = desk.app();
    let inspector = desk.inspectors[0].1.clone();
    let roles = [
        (Role::VillageAgent, CHENGNEI, "village-agent"),
        (Role::TownshipAgent, LONGGANG, "township-agent"),
        (Role::TownshipAdmin, LONGGANG, "township-admin"),
        (Role::CountyAgent, COUNTY, "county-agent"),
        (Role::CountyAdmin, COUNTY, "county-admin"),
        (Role::Auditor, COUNTY, "auditor"),
        // Last: a second inspector, holding nothing, whom the least-loaded rule would choose
        // were being accused not to rule them out.
        (Role::Inspector, COUNTY, "inspector"),
    ];
    for (n, (role, region, name)) in roles.into_iter().enumerate() {
        let accused = app
            .staff_session(&format!("cf.accused-{name}"), role, region)
            .await;
        let resident = desk.centre.resident(&format!("cf-routing-{n}")).await;
        let input = about(
            &accused.user_id,
            "SHIRKING",
            "推诿不办",
            "MINI_PROGRAM",
            false,
        );
        let id = desk.filed_id(&resident, input).await;
        // A county admin who is not the accused reads who has it: never the accused.
        let seen = desk.seen(&desk.centre.admin, &id).await;
        assert_eq!(seen["accusedStaffId"], accused.user_id.as_str(), "{name}");
        assert_ne!(
            seen["assignedInspectorId"],
            accused.user_id.as_str(),
            "{name}"
        );
        assert_eq!(
            seen["assignedInspectorId"],
            inspector.user_id.as_str(),
            "{name}"
        );
        let handled = desk.seen(&inspector, &id).await;
        assert_eq!(
            handled["complainant"]["userId"],
            resident.user_id.as_str(),
            "{name}"
        );
        // The accused: no such complaint, in no list, nothing to follow, never told.
        expect_error(&desk.view(&accused, &id).await, "NOT_FOUND");
        let listed = desk.listed(&accused).await;
        assert!(forbidden_or_without(&listed, &id), "{name}: {listed}");
        let followed = subject_messages(app, &accused, &id).await;
        assert_eq!(refusal(&followed), "NOT_FOUND", "{name}: {followed:?}");
        let told = audiences(app, &id).await;
        assert!(
            told.iter().any(|(_, key)| key.contains(&inspector.user_id)),
            "{name}: {told:?}"
        );
        assert!(
            told.iter().all(|(_, key)| !key.contains(&accused.user_id)),
            "{name}: {told:?}"
        );
        // Nor may they act on it.
        let acknowledge = "mutation($id: ID!) { acknowledgeComplaint(id: $id) { id } }";
        as_if_missing(app, &accused, acknowledge, json!({"id": id})).await;
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_with_a_conflict_of_interest_hands_the_complaint_on() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let resident = desk.centre.resident("cf-conflict").await;
    let input = about(
        &desk.centre.agent.user_id,
        "COLD_SERVICE",
        "态度恶劣",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let first = desk.assigned(&id).await;
    let second = desk.other_than(&first.user_id);
    let declare =
        "mutation($id: ID!, $r: String!) { declareComplaintConflict(id: $id, reason: $r) { id } }";
    let declared = expect_data(
        &app.as_(
            &first,
            declare,
            json!({"id": id, "r": "被投诉人是我的亲属"}),
        )
        .await,
    );
    assert_eq!(
        declared["declareComplaintConflict"],
        Value::Null,
        "no longer theirs"
    );
    let seen = desk.seen(&desk.centre.admin, &id).await;
    assert_eq!(seen["assignedInspectorId"], second.user_id.as_str());
    expect_error(&desk.view(&first, &id).await, "NOT_FOUND");
    assert!(!desk.lists(&first, &id).await);
    assert!(desk.lists(&second, &id).await);
    assert_eq!(
        desk.seen(&second, &id).await["complainant"]["userId"],
        resident.user_id.as_str()
    );
    // contract: `complaint.assigned` tells the inspector it now goes to.
    let told = audiences(app, &id).await;
    assert!(
        told.iter()
            .any(|(kind, key)| kind == "complaint.assigned" && key.contains(&second.user_id)),
        "{told:?}"
    );
    // The declaration stands: the county admin cannot hand it back.
    let before = desk.snapshot().await;
    let assign = "mutation($id: ID!, $i: ID!) { assignComplaint(id: $id, inspectorId: $i) { id } }";
    let back = app
        .as_(
            &desk.centre.admin,
            assign,
            json!({"id": id, "i": first.user_id}),
        )
        .await;
    // contract: "the inspector must be eligible (… no conflict)"; the code is not given.
    assert!(
        back["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{back}"
    );
    assert_eq!(
        before,
        desk.snapshot().await,
        "a refused assignment writes nothing"
    );
    // The second inspector handles it; the first no longer can.
    let acknowledged = expect_data(&desk.step(&second, "acknowledgeComplaint", &id).await);
    assert_eq!(
        acknowledged["acknowledgeComplaint"]["status"],
        "ACKNOWLEDGED"
    );
    expect_error(
        &desk.step(&first, "investigateComplaint", &id).await,
        "NOT_FOUND",
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_assigned_inspector_learns_who_complained_and_outsiders_read_nothing() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let accused = desk.centre.agent.clone();
    let town = app
        .staff_session("cf.town", Role::TownshipAdmin, LONGGANG)
        .await;
    let county_agent = app
        .staff_session("cf.county-agent", Role::CountyAgent, COUNTY)
        .await;
    let auditor = app.staff_session("cf.auditor", Role::Auditor, COUNTY).await;
    let village = app
        .staff_session("cf.village", Role::VillageAgent, CHENGNEI)
        .await;
    let resident = desk.centre.resident("cf-secret").await;
    let description = format!("{MARKER}：窗口人员暗示请吃饭才给加急");
    let input = about(
        &accused.user_id,
        "GIFTS_OR_BANQUETS",
        &description,
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let inspector = desk.assigned(&id).await;
    let other = desk.other_than(&inspector.user_id);
    desk.to_investigating(&inspector, &id).await;
    let request = desk
        .request_statement(&inspector, &id, "请说明是否有此事")
        .await;
    let give = format!(
        "mutation($r: ID!, $s: String!) {{ giveComplaintStatement(requestId: $r, statement: $s) {{ {STATEMENT} }} }}"
    );
    desk.act(&accused, &give, json!({"r": request, "s": "没有此事"}))
        .await;
    let question = desk
        .request_information(&inspector, &id, "请提供聊天记录")
        .await;
    let answer = my_mutation(
        "$r: ID!, $a: String!",
        "answerComplaintRequest(requestId: $r, answer: $a)",
    );
    desk.act(
        &resident,
        &answer,
        json!({"r": question, "a": "已截图保存"}),
    )
    .await;
    desk.conclude(&inspector, &id, "PARTLY_SUBSTANTIATED").await;
    desk.reply(&inspector, &id, "已核实并处理").await;

    // The assigned inspector reads it all, who complained included.
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["complainant"]["userId"], resident.user_id.as_str());
    assert_eq!(seen["description"], description.as_str());
    // The accused's request has no field for the complaint's text or who made it.
    let introspected = "{ __type(name: \"ComplaintStatementRequest\") { fields { name } } }";
    let fields = expect_data(&app.graphql(None, introspected, json!({})).await);
    let mut names: Vec<String> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    // contract: exactly the fields the contract gives `ComplaintStatementRequest`.
    assert_eq!(
        names,
        [
            "answeredAt",
            "askedAt",
            "category",
            "id",
            "question",
            "statement"
        ]
    );

    // Every other member of staff, the accused first: every answer, refusals included.
    let staff = [
        ("the accused", &accused),
        ("their township's admin", &town),
        ("a county agent", &county_agent),
        ("an auditor", &auditor),
        ("a village agent", &village),
        ("the other inspector", &other),
    ];
    for (who, session) in staff {
        let heard = gather(&desk, session, &id, &request).await;
        let text = heard.to_string();
        for secret in [resident.user_id.as_str(), MARKER] {
            assert!(!text.contains(secret), "{who} learns {secret}: {text}");
        }
        // Told exactly what a complaint that does not exist would tell them.
        let refused = expect_error(&heard["complaint"], "NOT_FOUND");
        let missing = desk.view(session, &uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(refused["message"], missing["errors"][0]["message"], "{who}");
        assert!(
            forbidden_or_without(&heard["complaints"], &id),
            "{who}: {}",
            heard["complaints"]
        );
        let followed = refusal(heard["subjectEvents"].as_array().unwrap());
        let statements = &heard["statements"]["data"]["myStatementRequests"];
        if session.user_id != accused.user_id {
            assert!(
                followed == "NOT_FOUND" || followed == "FORBIDDEN",
                "{who}: {followed}"
            );
            assert_eq!(*statements, json!([]), "{who}");
            continue;
        }
        assert_eq!(followed, "NOT_FOUND");
        assert_eq!(statements.as_array().map(Vec::len), Some(1), "{statements}");
        assert_eq!(statements[0]["id"], request.as_str());
        assert_eq!(statements[0]["statement"], "没有此事");
        let asked = "complaint.statement_requested".to_string();
        assert!(
            kinds(
                heard["requestSubjectEvents"].as_array().unwrap(),
                "subjectEvents"
            )
            .contains(&asked),
            "{}",
            heard["requestSubjectEvents"]
        );
        assert!(
            kinds(heard["myEvents"].as_array().unwrap(), "myEvents").contains(&asked),
            "{}",
            heard["myEvents"]
        );
    }

    // The county admin reads the complaint, not who filed it …
    let admin = desk.centre.admin.clone();
    let overseen = gather(&desk, &admin, &id, &request).await;
    assert_eq!(
        overseen["complaint"]["data"]["complaint"]["description"],
        description.as_str()
    );
    assert_eq!(
        overseen["complaint"]["data"]["complaint"]["complainant"],
        Value::Null
    );
    assert!(
        !overseen.to_string().contains(&resident.user_id),
        "{overseen}"
    );
    // … until they reveal it, with a reason, audited without naming the complainant.
    let reveal = "mutation($id: ID!, $r: String!) { revealComplainant(id: $id, reason: $r) { userId phone } }";
    let revealed = desk
        .act(&admin, reveal, json!({"id": id, "r": "需当面核实情况"}))
        .await;
    assert_eq!(revealed["userId"], resident.user_id.as_str());
    let log = audit_all(app, &admin).await;
    let reveals: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "complaint.complainant_revealed")
        .collect();
    assert_eq!(reveals.len(), 1, "{log}");
    // contract: audited against the complaint, with the reason.
    assert_eq!(reveals[0]["targetId"], id.as_str());
    let details = reveals[0]["details"].as_str().unwrap();
    assert!(details.contains("需当面核实情况"), "{details}");
    assert!(!details.contains(&resident.user_id), "{details}");
    // The log auditors read names nobody and quotes nothing, the reveal included.
    let read = audit_all(app, &auditor).await.to_string();
    assert!(
        !read.contains(&resident.user_id) && !read.contains(MARKER),
        "{read}"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_outside_a_complaint_can_neither_act_on_nor_read_it() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let elsewhere = app
        .staff_session("cf.zc-admin", Role::TownshipAdmin, ZHONGCUN)
        .await;
    let village = app
        .staff_session("cf.village-agent", Role::VillageAgent, CHENGNEI)
        .await;
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cf-outsiders").await;
    let input = about(
        &agent.user_id,
        "SHIRKING",
        "推诿不办",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let inspector = desk.assigned(&id).await;
    let other = desk.other_than(&inspector.user_id);
    let ops = [
        "mutation($id: ID!) { acknowledgeComplaint(id: $id) { id } }",
        "mutation($id: ID!) { investigateComplaint(id: $id) { id } }",
        "mutation($id: ID!) { requestComplaintStatement(id: $id, question: \"x\") { id } }",
        "mutation($id: ID!) { requestComplaintInformation(id: $id, question: \"x\") { id } }",
        "mutation($id: ID!) { extendComplaint(id: $id, reason: \"x\") { id } }",
        "mutation($id: ID!) { concludeComplaint(id: $id, finding: NOT_SUBSTANTIATED, serious: false, actionsTaken: \"x\", conclusion: \"y\") { id } }",
        "mutation($id: ID!) { replyComplaint(id: $id, reply: \"x\") { id } }",
        "mutation($id: ID!) { closeComplaint(id: $id) { id } }",
        "mutation($id: ID!) { decideComplaintAppeal(id: $id, upheld: true, note: \"x\") { id } }",
        "mutation($id: ID!) { declareComplaintConflict(id: $id, reason: \"x\") { id } }",
        "mutation($id: ID!, $i: ID!) { assignComplaint(id: $id, inspectorId: $i) { id } }",
        "mutation($id: ID!) { revealComplainant(id: $id, reason: \"x\") { userId } }",
        "query($id: ID!) { complaint(id: $id) { id } }",
    ];
    let before = desk.snapshot().await;
    let outsiders = [
        ("another township's admin", &elsewhere),
        ("a village agent", &village),
        ("the accused", &agent),
        ("the complainant", &resident),
    ];
    for (who, session) in outsiders {
        for op in ops {
            let mut vars = json!({"id": id});
            if op.contains("$i") {
                vars["i"] = json!(other.user_id);
            }
            let code = if session.user_id == resident.user_id {
                // A resident may be refused as one (FORBIDDEN) before any complaint is looked up.
                let answer = app.as_(session, op, vars).await;
                let code = answer["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(
                    code == "NOT_FOUND" || code == "FORBIDDEN",
                    "{who}: {answer}"
                );
                code
            } else {
                as_if_missing(app, session, op, vars).await
            };
            // contract: `complaint(id)` is NOT_FOUND for any member of staff but its readers.
            if op.starts_with("query") && session.user_id != resident.user_id {
                assert_eq!(code, "NOT_FOUND", "{who}");
            }
        }
        let listed = desk.listed(session).await;
        assert!(forbidden_or_without(&listed, &id), "{who}: {listed}");
    }
    assert_eq!(before, desk.snapshot().await, "refusals write nothing");
    // Nothing moved: its inspector still has it, received, and acknowledges it.
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["status"], "RECEIVED");
    assert_eq!(seen["assignedInspectorId"], inspector.user_id.as_str());
    expect_data(&desk.step(&inspector, "acknowledgeComplaint", &id).await);
    desk.stop().await;
}
