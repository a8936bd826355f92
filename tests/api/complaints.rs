//! Complaints (投诉) end to end over the API, on both backends, with the fake WeChat's content
//! check: a real-name complaint is assigned to a county inspector, acknowledged, investigated
//! (a statement from the accused, more information from the complainant), concluded, replied
//! to (live), closed, appealed and decided by another inspector; an anonymous complaint is
//! followed by its receipt alone (rate-limited); refusals are coded and write nothing; the
//! content check holds or defers; duplicates merge; deadlines are flagged once on the test
//! clock and extended once; the published ways to complain.
use std::time::Duration;

use bangban_server::auth::Role;
use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use crate::{
    directory::{COUNTY, LONGGANG},
    helpers::{STAFF_PASSWORD, Session, TestApp, WsClient, expect_data, expect_error},
    satisfaction::{Centre, next_kind},
};

// contract: the contract's BAD_INPUT is the house code of `AppError::BadUserInput`
// (`BAD_USER_INPUT`, error.rs), naming the input in `extensions.field`.
pub(crate) const BAD_INPUT: &str = "BAD_USER_INPUT";

/// Every field of the staff view.
pub(crate) const COMPLAINT: &str = "id category status source textState description evidence accusedStaffId accusedUnitId caseId contact anonymous assignedInspectorId receivedAt acknowledgeDueOn concludeDueOn extended extensionReason acknowledgeOverdue concludeOverdue finding serious actionsTaken conclusion reply exchanges { id kind question askedAt answer answeredAt } appeal { reason filedAt status decidedAt note } complainant { userId phone }";
/// Every field of the complainant's view.
pub(crate) const MY_COMPLAINT: &str = "id category status description receivedAt acknowledgedAt concludedAt repliedAt finding reply appealableUntil appeal { reason filedAt status decidedAt note } requests { id question askedAt answer answeredAt }";
/// Every field of the accused's view of a request to them.
pub(crate) const STATEMENT: &str = "id category question askedAt statement answeredAt";
pub(crate) const MY_EVENTS: &str = "subscription { myEvents { id kind subjectId payload } }";
pub(crate) const PUSHES: &str = "query($s: ID!) { pushDeliveries(subjectId: $s) { eventId subjectId templateId status lastError } }";

/// A mutation answering the staff view: `mutation(<vars>) { <call> { …COMPLAINT } }`.
pub(crate) fn mutation(vars: &str, call: &str) -> String {
    format!("mutation({vars}) {{ {call} {{ {COMPLAINT} }} }}")
}

/// A mutation answering the complainant's view.
pub(crate) fn my_mutation(vars: &str, call: &str) -> String {
    format!("mutation({vars}) {{ {call} {{ {MY_COMPLAINT} }} }}")
}

/// A `fileComplaint` input about a staff member.
pub(crate) fn about(
    staff: &str,
    category: &str,
    description: &str,
    contact: &str,
    anonymous: bool,
) -> Value {
    json!({"input": {"staffId": staff, "category": category, "description": description,
        "evidence": [], "contact": contact, "anonymous": anonymous}})
}

/// The same input with `change` applied to its fields.
pub(crate) fn with(mut input: Value, change: impl FnOnce(&mut Map<String, Value>)) -> Value {
    change(input["input"].as_object_mut().expect("an input"));
    input
}

/// The last exchange of `kind` in a staff view.
pub(crate) fn exchange(complaint: &Value, kind: &str) -> Value {
    let exchanges = complaint["exchanges"].as_array().unwrap();
    let found = exchanges.iter().rev().find(|e| e["kind"] == kind);
    found
        .unwrap_or_else(|| panic!("no {kind} exchange in {complaint}"))
        .clone()
}

/// The centre of `satisfaction` (county admin `admin`, 龙港镇's agent `agent` "lg.agent0")
/// with the county's inspectors (usernames and sessions).
pub(crate) struct ComplaintDesk {
    pub(crate) centre: Centre,
    pub(crate) inspectors: Vec<(String, Session)>,
}

impl ComplaintDesk {
    pub(crate) async fn start() -> Self {
        Self::with_inspectors(2).await
    }

    pub(crate) async fn with_inspectors(n: usize) -> Self {
        Self::start_with(n, |_| {}).await
    }

    /// With `n` inspectors and the settings changed by `tweak`.
    pub(crate) async fn start_with(
        n: usize,
        tweak: impl FnOnce(&mut bangban_server::config::Settings) + Send + 'static,
    ) -> Self {
        let centre = Centre::start_with(tweak).await;
        let mut inspectors = Vec::new();
        for k in 0..n {
            let name = format!("cp.inspector{k}");
            let session = centre
                .app()
                .staff_session(&name, Role::Inspector, COUNTY)
                .await;
            inspectors.push((name, session));
        }
        Self { centre, inspectors }
    }

    pub(crate) fn app(&self) -> &TestApp {
        self.centre.app()
    }

    pub(crate) async fn stop(self) {
        self.centre.stop().await;
    }

    /// Signs the centre's staff and the inspectors in again (after the clock moved).
    pub(crate) async fn sign_in_again(&mut self) {
        self.centre.sign_in_again().await;
        for (name, session) in &mut self.inspectors {
            *session = self
                .centre
                .app()
                .login_staff_session(name, STAFF_PASSWORD)
                .await;
        }
    }

    /// `fileComplaint`, the whole response.
    pub(crate) async fn file(&self, who: &Session, input: Value) -> Value {
        let query = format!(
            "mutation($input: ComplaintInput!) {{ fileComplaint(input: $input) {{ receipt merged complaint {{ {MY_COMPLAINT} }} }} }}"
        );
        self.app().as_(who, &query, input).await
    }

    pub(crate) async fn filed(&self, who: &Session, input: Value) -> Value {
        expect_data(&self.file(who, input).await)["fileComplaint"].clone()
    }

    pub(crate) async fn filed_id(&self, who: &Session, input: Value) -> String {
        self.filed(who, input).await["complaint"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `complaint(id)`, the whole response.
    pub(crate) async fn view(&self, who: &Session, id: &str) -> Value {
        let query = format!("query($id: ID!) {{ complaint(id: $id) {{ {COMPLAINT} }} }}");
        self.app().as_(who, &query, json!({"id": id})).await
    }

    pub(crate) async fn seen(&self, who: &Session, id: &str) -> Value {
        expect_data(&self.view(who, id).await)["complaint"].clone()
    }

    /// `complaints`, the whole response.
    pub(crate) async fn listed(&self, who: &Session) -> Value {
        self.app()
            .as_(who, "{ complaints { complaints { id } } }", json!({}))
            .await
    }

    pub(crate) async fn lists(&self, who: &Session, id: &str) -> bool {
        let listed = expect_data(&self.listed(who).await);
        listed["complaints"]["complaints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id)
    }

    /// The complainant's view of one of their complaints (from `myComplaints`).
    pub(crate) async fn mine(&self, who: &Session, id: &str) -> Value {
        let query = format!("{{ myComplaints {{ {MY_COMPLAINT} }} }}");
        let mine = self.centre.ok(who, &query, json!({})).await;
        let found = mine["myComplaints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id);
        found
            .unwrap_or_else(|| panic!("{id} is not among {mine}"))
            .clone()
    }

    /// Runs `op` successfully and returns its (only) field.
    pub(crate) async fn act(&self, who: &Session, op: &str, vars: Value) -> Value {
        let data = expect_data(&self.app().as_(who, op, vars).await);
        data.as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// `<name>(id: $id)` answering the staff view, the whole response.
    pub(crate) async fn step(&self, who: &Session, name: &str, id: &str) -> Value {
        let op = mutation("$id: ID!", &format!("{name}(id: $id)"));
        self.app().as_(who, &op, json!({"id": id})).await
    }

    pub(crate) fn inspector(&self, id: &str) -> Session {
        let found = self.inspectors.iter().find(|(_, s)| s.user_id == id);
        found
            .unwrap_or_else(|| panic!("{id} is none of the inspectors"))
            .1
            .clone()
    }

    pub(crate) fn other_than(&self, id: &str) -> Session {
        let found = self.inspectors.iter().find(|(_, s)| s.user_id != id);
        found.expect("another inspector").1.clone()
    }

    /// The inspector a complaint is assigned to, as the county admin reads it.
    pub(crate) async fn assigned(&self, id: &str) -> Session {
        let seen = self.seen(&self.centre.admin, id).await;
        let inspector = seen["assignedInspectorId"].as_str();
        self.inspector(inspector.unwrap_or_else(|| panic!("nobody assigned: {seen}")))
    }

    pub(crate) async fn to_investigating(&self, inspector: &Session, id: &str) {
        for (step, status) in [
            ("acknowledgeComplaint", "ACKNOWLEDGED"),
            ("investigateComplaint", "INVESTIGATING"),
        ] {
            let done = expect_data(&self.step(inspector, step, id).await);
            assert_eq!(done[step]["status"], status, "{done}");
        }
    }

    /// Asks the accused (`STATEMENT_REQUEST`) or the complainant (`INFORMATION_REQUEST`);
    /// the request's id.
    async fn ask(&self, inspector: &Session, id: &str, q: &str, call: &str, kind: &str) -> String {
        let op = mutation(
            "$id: ID!, $q: String!",
            &format!("{call}(id: $id, question: $q)"),
        );
        let seen = self.act(inspector, &op, json!({"id": id, "q": q})).await;
        let asked = exchange(&seen, kind);
        assert_eq!(
            (asked["question"].clone(), asked["answer"].clone()),
            (json!(q), Value::Null)
        );
        asked["id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn request_statement(&self, inspector: &Session, id: &str, q: &str) -> String {
        self.ask(
            inspector,
            id,
            q,
            "requestComplaintStatement",
            "STATEMENT_REQUEST",
        )
        .await
    }

    pub(crate) async fn request_information(
        &self,
        inspector: &Session,
        id: &str,
        q: &str,
    ) -> String {
        self.ask(
            inspector,
            id,
            q,
            "requestComplaintInformation",
            "INFORMATION_REQUEST",
        )
        .await
    }

    pub(crate) async fn conclude(&self, inspector: &Session, id: &str, finding: &str) -> Value {
        let op = mutation(
            "$id: ID!, $f: ComplaintFinding!",
            "concludeComplaint(id: $id, finding: $f, serious: false, actionsTaken: \"已约谈当事人并通报\", conclusion: \"经调查核实\")",
        );
        self.act(inspector, &op, json!({"id": id, "f": finding}))
            .await
    }

    pub(crate) async fn reply(&self, inspector: &Session, id: &str, reply: &str) -> Value {
        let op = mutation(
            "$id: ID!, $r: String!",
            "replyComplaint(id: $id, reply: $r)",
        );
        self.act(inspector, &op, json!({"id": id, "r": reply}))
            .await
    }

    /// The complaints tables, events and audit log, to prove a refusal wrote nothing.
    pub(crate) async fn snapshot(&self) -> String {
        let mut all = String::new();
        for table in [
            "complaints",
            "complaint_exchanges",
            "complaint_conflicts",
            "complaint_channels",
            "events",
            "audit_log",
        ] {
            all.push_str(&self.app().dump_table(table).await);
        }
        all
    }

    pub(crate) async fn run_jobs(&self) -> bangban_server::jobs::Ran {
        let ran = bangban_server::jobs::run_due(&self.app().state).await;
        ran.map_err(|e| e.message()).unwrap()
    }
}

pub(crate) async fn add_working_days(app: &TestApp, from: NaiveDate, days: i64) -> NaiveDate {
    let query =
        format!("query($d: NaiveDate!) {{ addWorkingDays(date: $d, days: {days}) {{ date }} }}");
    let added = expect_data(
        &app.graphql(None, &query, json!({"d": from.to_string()}))
            .await,
    );
    added["addWorkingDays"]["date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub(crate) fn date(value: &Value) -> NaiveDate {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a date: {value}"))
        .parse()
        .unwrap()
}

/// Noon, China time, on `day`.
pub(crate) fn china_noon(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(4, 0, 0).unwrap().and_utc()
}

/// (kind, audience key) of every event about `subject`.
pub(crate) async fn audiences(app: &TestApp, subject: &str) -> Vec<(String, String)> {
    let db = &app.state.db;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!("SELECT e.kind AS kind, a.audience_key AS k FROM events e JOIN event_audience a ON a.event_seq = e.seq WHERE e.subject_id = '{subject}'"),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| (r.try_get::<String>("", "kind").unwrap(), r.try_get::<String>("", "k").unwrap()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_name_complaint_is_handled_replied_to_and_its_appeal_decided_by_another_inspector() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-flow").await;
    let mut heard = WsClient::connect(app, Some(&resident.access)).await;
    heard.subscribe("m", MY_EVENTS, json!({})).await;
    let mut accused = WsClient::connect(app, Some(&agent.access)).await;
    accused.subscribe("m", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let description = "窗口人员态度冷淡，拒绝解释材料要求";
    let mut input = about(
        &agent.user_id,
        "COLD_SERVICE",
        description,
        "MINI_PROGRAM",
        false,
    );
    input["input"]["evidence"] = json!(["photo/window-3.jpg"]);
    let filed = desk.filed(&resident, input).await;
    assert_eq!(filed["merged"], false);
    assert_eq!(
        filed["receipt"],
        Value::Null,
        "a receipt is for anonymous complaints"
    );
    assert_eq!(filed["complaint"]["status"], "RECEIVED");
    assert_eq!(filed["complaint"]["description"], description);
    let id = filed["complaint"]["id"].as_str().unwrap().to_string();

    // One of the county's two inspectors has it; the other does not even see it.
    let inspector = desk.assigned(&id).await;
    let other = desk.other_than(&inspector.user_id);
    let seen = desk.seen(&inspector, &id).await;
    for (field, expected) in [
        ("status", json!("RECEIVED")),
        ("source", json!("MINI_PROGRAM")),
        ("textState", json!("PASSED")),
        ("category", json!("COLD_SERVICE")),
        ("description", json!(description)),
        ("evidence", json!(["photo/window-3.jpg"])),
        ("accusedStaffId", json!(agent.user_id)),
        ("accusedUnitId", json!(app.region_id(LONGGANG).await)),
        ("caseId", Value::Null),
        ("contact", json!("MINI_PROGRAM")),
        ("anonymous", json!(false)),
        ("extended", json!(false)),
        ("exchanges", json!([])),
    ] {
        assert_eq!(seen[field], expected, "{field} in {seen}");
    }
    assert_eq!(seen["complainant"]["userId"], resident.user_id.as_str());
    assert!(desk.lists(&inspector, &id).await);
    expect_error(&desk.view(&other, &id).await, "NOT_FOUND");
    assert!(!desk.lists(&other, &id).await);
    desk.to_investigating(&inspector, &id).await;

    // The accused is asked for a statement, reads the question only, and answers it.
    let request = desk
        .request_statement(&inspector, &id, "请说明当日接待情况")
        .await;
    let told = next_kind(
        &mut accused,
        "m",
        "myEvents",
        "complaint.statement_requested",
    )
    .await;
    assert_eq!(told["subjectId"], request.as_str());
    let text = told.to_string();
    assert!(
        !text.contains(description) && !text.contains(&resident.user_id),
        "{text}"
    );
    let statements = format!("{{ myStatementRequests {{ {STATEMENT} }} }}");
    let asked = desk.act(&agent, &statements, json!({})).await;
    assert_eq!(asked.as_array().unwrap().len(), 1, "{asked}");
    for (field, expected) in [
        ("id", json!(request)),
        ("category", json!("COLD_SERVICE")),
        ("question", json!("请说明当日接待情况")),
        ("statement", Value::Null),
    ] {
        assert_eq!(asked[0][field], expected, "{field} in {asked}");
    }
    let give = format!(
        "mutation($r: ID!, $s: String!) {{ giveComplaintStatement(requestId: $r, statement: $s) {{ {STATEMENT} }} }}"
    );
    let given = desk
        .act(
            &agent,
            &give,
            json!({"r": request, "s": "当日排队人多，解释不够耐心"}),
        )
        .await;
    assert_eq!(given["statement"], "当日排队人多，解释不够耐心");
    assert!(given["answeredAt"].is_string());

    // The complainant is asked for more, and answers in the mini-program.
    let question = desk
        .request_information(&inspector, &id, "请补充办事的具体时间")
        .await;
    let mine = desk.mine(&resident, &id).await;
    assert_eq!(mine["status"], "INVESTIGATING");
    assert_eq!(
        mine["requests"].as_array().unwrap().len(),
        1,
        "only questions to them: {mine}"
    );
    assert_eq!(mine["requests"][0]["id"], question.as_str());
    assert_eq!(mine["requests"][0]["question"], "请补充办事的具体时间");
    assert_eq!(mine["requests"][0]["answer"], Value::Null);
    let answer = my_mutation(
        "$r: ID!, $a: String!",
        "answerComplaintRequest(requestId: $r, answer: $a)",
    );
    let answered = desk
        .act(
            &resident,
            &answer,
            json!({"r": question, "a": "上周三上午十点"}),
        )
        .await;
    assert_eq!(answered["requests"][0]["answer"], "上周三上午十点");
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(
        exchange(&seen, "STATEMENT_REQUEST")["answer"],
        "当日排队人多，解释不够耐心"
    );
    assert_eq!(
        exchange(&seen, "INFORMATION_REQUEST")["answer"],
        "上周三上午十点"
    );

    // Concluded: the complainant learns the finding with the reply, not before.
    let concluded = desk.conclude(&inspector, &id, "SUBSTANTIATED").await;
    assert_eq!(concluded["status"], "CONCLUDED");
    assert_eq!(concluded["finding"], "SUBSTANTIATED");
    assert_eq!(concluded["serious"], false);
    assert_eq!(concluded["actionsTaken"], "已约谈当事人并通报");
    let mine = desk.mine(&resident, &id).await;
    assert_eq!(mine["status"], "CONCLUDED");
    assert_eq!(
        mine["finding"],
        Value::Null,
        "the finding comes with the reply"
    );
    // contract: the appeal window runs from the reply, so there is none before it.
    assert_eq!(mine["appealableUntil"], Value::Null);
    let replied = desk
        .reply(&inspector, &id, "经核实情况属实，已对窗口人员批评教育")
        .await;
    assert_eq!(replied["status"], "REPLIED");
    let mine = desk.mine(&resident, &id).await;
    assert_eq!(mine["status"], "REPLIED");
    assert_eq!(mine["finding"], "SUBSTANTIATED");
    assert_eq!(mine["reply"], "经核实情况属实，已对窗口人员批评教育");
    for field in [
        "acknowledgedAt",
        "concludedAt",
        "repliedAt",
        "appealableUntil",
    ] {
        assert!(mine[field].is_string(), "{field} in {mine}");
    }
    for kind in [
        "complaint.acknowledged",
        "complaint.concluded",
        "complaint.replied",
    ] {
        let event = next_kind(&mut heard, "m", "myEvents", kind).await;
        assert_eq!(event["subjectId"], id.as_str(), "{kind}");
    }

    // Closed, then appealed; another inspector reviews it.
    let closed = expect_data(&desk.step(&inspector, "closeComplaint", &id).await);
    assert_eq!(closed["closeComplaint"]["status"], "CLOSED");
    let appeal = my_mutation(
        "$id: ID!, $r: String!",
        "appealComplaint(id: $id, reason: $r)",
    );
    let appealed = desk
        .act(&resident, &appeal, json!({"id": id, "r": "处理过轻"}))
        .await;
    assert_eq!(appealed["status"], "APPEALED");
    assert_eq!(appealed["appeal"]["status"], "PENDING");
    assert_eq!(appealed["appeal"]["reason"], "处理过轻");
    assert!(
        desk.lists(&other, &id).await,
        "the other inspector reviews the appeal"
    );
    let reviewed = desk.seen(&other, &id).await;
    assert_eq!(reviewed["status"], "APPEALED");
    assert_eq!(
        reviewed["complainant"],
        Value::Null,
        "only the assigned inspector sees who"
    );
    let decide = mutation(
        "$id: ID!, $f: ComplaintFinding, $n: String!",
        "decideComplaintAppeal(id: $id, upheld: false, finding: $f, serious: false, note: $n)",
    );
    let before = desk.snapshot().await;
    let own = app
        .as_(
            &inspector,
            &decide,
            json!({"id": id, "f": "PARTLY_SUBSTANTIATED", "n": "复核"}),
        )
        .await;
    expect_error(&own, "FORBIDDEN");
    let unchanged = app
        .as_(&other, &decide, json!({"id": id, "f": null, "n": "复核"}))
        .await;
    assert_eq!(
        expect_error(&unchanged, BAD_INPUT)["extensions"]["field"],
        "finding"
    );
    assert_eq!(
        before,
        desk.snapshot().await,
        "refused decisions write nothing"
    );
    let decided = desk
        .act(
            &other,
            &decide,
            json!({"id": id, "f": "PARTLY_SUBSTANTIATED", "n": "部分情节不能认定"}),
        )
        .await;
    assert_eq!(decided["status"], "CLOSED");
    assert_eq!(decided["finding"], "PARTLY_SUBSTANTIATED");
    assert_eq!(decided["appeal"]["status"], "CHANGED");
    assert_eq!(decided["appeal"]["note"], "部分情节不能认定");
    let mine = desk.mine(&resident, &id).await;
    assert_eq!(mine["status"], "CLOSED");
    assert_eq!(mine["finding"], "PARTLY_SUBSTANTIATED");
    assert_eq!(mine["appeal"]["status"], "CHANGED");
    assert!(mine["appeal"]["decidedAt"].is_string());
    // contract: "once" — a second appeal is a state the complaint no longer allows.
    let again = app
        .as_(&resident, &appeal, json!({"id": id, "r": "再次申诉"}))
        .await;
    expect_error(&again, "INVALID_TRANSITION");
    desk.stop().await;
}
