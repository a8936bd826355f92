//! Complaints (投诉) end to end, continued: an anonymous complaint followed by its receipt
//! alone (rate-limited); refusals coded and writing nothing; the content check holding or
//! deferring; deadlines flagged once on the test clock and extended once;
//! the published ways to complain.
use std::time::Duration;

use bangban_server::{auth::Role, clock::Clock};
use serde_json::{Value, json};

use crate::{
    complaints::{
        BAD_INPUT, ComplaintDesk, MY_COMPLAINT, MY_EVENTS, about, add_working_days, audiences,
        china_noon, date, exchange, mutation, my_mutation, with,
    },
    directory::{COUNTY, LONGGANG},
    fake_wechat::{Api, REVIEW_WORD, RISKY_WORD},
    helpers::{TestApp, WsClient, expect_data, expect_error},
    satisfaction::{count, next_kind},
    satisfaction_script::to_a_working_day,
};
async fn by_receipt(app: &TestApp, receipt: &str) -> Value {
    let query =
        format!("query($r: String!) {{ complaintByReceipt(receipt: $r) {{ {MY_COMPLAINT} }} }}");
    app.graphql(None, &query, json!({"r": receipt})).await
}

/// Well-formed receipts other than `receipt` (its characters rotated and reversed).
fn other_receipts(receipt: &str) -> Vec<String> {
    let chars: Vec<char> = receipt[3..].chars().filter(|c| *c != '-').collect();
    let form = |c: &[char]| {
        let groups: Vec<String> = c.chunks(4).map(|g| g.iter().collect()).collect();
        format!("TS-{}", groups.join("-"))
    };
    let mut out = Vec::new();
    for reversed in [false, true] {
        for n in 0..chars.len() {
            let mut c = chars.clone();
            if reversed {
                c.reverse();
            }
            c.rotate_left(n);
            let other = form(c.as_slice());
            if other != receipt && !out.contains(&other) {
                out.push(other);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_complaint_is_followed_by_its_receipt_alone() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-anonymous").await;
    let description = "办理时被要求另交二十元材料费";
    let filed = desk
        .filed(
            &resident,
            about(
                &agent.user_id,
                "ILLEGAL_CHARGES",
                description,
                "RECEIPT",
                true,
            ),
        )
        .await;
    assert_eq!(filed["merged"], false);
    let receipt = filed["receipt"]
        .as_str()
        .expect("a receipt, shown once")
        .to_string();
    let groups: Vec<&str> = receipt.split('-').collect();
    assert_eq!(groups.len(), 6, "{receipt}");
    assert_eq!(groups[0], "TS");
    assert!(
        groups[1..].iter().all(|g| g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())),
        "{receipt}"
    );
    let id = filed["complaint"]["id"].as_str().unwrap().to_string();
    // Their real-name complaints are theirs to list; the anonymous one never.
    let named = desk
        .filed_id(
            &resident,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                "态度生硬",
                "NO_REPLY",
                false,
            ),
        )
        .await;
    let listed = desk
        .centre
        .ok(&resident, "{ myComplaints { id } }", json!({}))
        .await;
    assert_eq!(listed["myComplaints"], json!([{"id": named}]), "{listed}");

    // The receipt opens it without any login, whatever its case and dashes.
    let read = expect_data(&by_receipt(app, &receipt).await)["complaintByReceipt"].clone();
    assert_eq!(read["id"], id.as_str());
    assert_eq!(read["status"], "RECEIVED");
    assert_eq!(read["description"], description);
    let loose = receipt.to_lowercase().replace('-', "");
    assert_eq!(
        expect_data(&by_receipt(app, &loose).await)["complaintByReceipt"]["id"],
        id.as_str()
    );

    // The inspector handles it without learning who filed it.
    let inspector = desk.assigned(&id).await;
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["anonymous"], true);
    assert_eq!(seen["contact"], "RECEIPT");
    assert_eq!(seen["complainant"], Value::Null);
    assert!(!seen.to_string().contains(&resident.user_id), "{seen}");
    desk.to_investigating(&inspector, &id).await;
    let question = desk
        .request_information(&inspector, &id, "请说明收费人员的窗口号")
        .await;
    let answer = my_mutation(
        "$t: String!, $r: ID!, $a: String!",
        "answerComplaintRequestByReceipt(receipt: $t, requestId: $r, answer: $a)",
    );
    let answered = expect_data(
        &app.graphql(
            None,
            &answer,
            json!({"t": receipt, "r": question, "a": "三号窗口"}),
        )
        .await,
    );
    let answered = &answered["answerComplaintRequestByReceipt"];
    assert_eq!(answered["requests"][0]["id"], question.as_str());
    assert_eq!(answered["requests"][0]["answer"], "三号窗口");
    assert_eq!(
        exchange(&desk.seen(&inspector, &id).await, "INFORMATION_REQUEST")["answer"],
        "三号窗口"
    );
    desk.conclude(&inspector, &id, "NOT_SUBSTANTIATED").await;
    desk.reply(&inspector, &id, "经调阅收费记录，未发现违规收费")
        .await;
    let read = expect_data(&by_receipt(app, &receipt).await)["complaintByReceipt"].clone();
    assert_eq!(read["status"], "REPLIED");
    assert_eq!(read["finding"], "NOT_SUBSTANTIATED");
    assert_eq!(read["reply"], "经调阅收费记录，未发现违规收费");
    let appeal = my_mutation(
        "$t: String!, $r: String!",
        "appealComplaintByReceipt(receipt: $t, reason: $r)",
    );
    let appealed = expect_data(
        &app.graphql(None, &appeal, json!({"t": receipt, "r": "收费确有其事"}))
            .await,
    );
    assert_eq!(appealed["appealComplaintByReceipt"]["status"], "APPEALED");
    assert_eq!(
        appealed["appealComplaintByReceipt"]["appeal"]["status"],
        "PENDING"
    );
    let reviewer = desk.other_than(&inspector.user_id);
    let decide = mutation(
        "$id: ID!",
        "decideComplaintAppeal(id: $id, upheld: true, note: \"维持原结论\")",
    );
    let decided = desk.act(&reviewer, &decide, json!({"id": id})).await;
    assert_eq!(decided["status"], "CLOSED");
    assert_eq!(decided["appeal"]["status"], "UPHELD");
    assert_eq!(decided["finding"], "NOT_SUBSTANTIATED");

    // A wrong receipt opens nothing; many from one client are refused.
    let wrong = other_receipts(&receipt);
    let missing = by_receipt(app, &wrong[0]).await;
    assert!(
        expect_error(&missing, "NOT_FOUND")["message"]
            .as_str()
            .unwrap()
            .contains("complaint")
    );
    let mut limited = false;
    for guess in &wrong[1..] {
        let answer = by_receipt(app, guess).await;
        let code = answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if code == "RATE_LIMITED" {
            limited = true;
            break;
        }
        assert_eq!(code, "NOT_FOUND", "{answer}");
    }
    assert!(limited, "{} wrong receipts were never limited", wrong.len());
    // contract: the limit is per client address, so the right receipt waits too.
    expect_error(&by_receipt(app, &receipt).await, "RATE_LIMITED");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_complaints_are_coded_and_write_nothing() {
    // Every attempt past the input counts against the limits (`complaints_limits`): room for
    // the whole table here.
    let desk = ComplaintDesk::start_with(2, |s| {
        s.complaints.files_per_user_per_day = 1_000;
        s.complaints.files_per_ip_per_hour = 1_000;
    })
    .await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-refused").await;
    let stranger = desk.centre.resident("cp-stranger").await;
    let own_case = desk.centre.open_case(&resident).await;
    let strangers_case = desk.centre.open_case(&stranger).await;
    let good = || {
        about(
            &agent.user_id,
            "COLD_SERVICE",
            "窗口人员态度冷淡",
            "MINI_PROGRAM",
            false,
        )
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    // (what, input, code, the field named — or for NOT_FOUND what was not found)
    let cases = [
        (
            "empty description",
            with(good(), |i| {
                i.insert("description".into(), json!(""));
            }),
            BAD_INPUT,
            "description",
        ),
        (
            "blank description",
            with(good(), |i| {
                i.insert("description".into(), json!("  \n "));
            }),
            BAD_INPUT,
            "description",
        ),
        (
            "1001 characters",
            with(good(), |i| {
                i.insert("description".into(), json!("长".repeat(1001)));
            }),
            BAD_INPUT,
            "description",
        ),
        (
            "11 evidence items",
            with(good(), |i| {
                i.insert(
                    "evidence".into(),
                    json!(
                        (0..11)
                            .map(|n| format!("photo/{n}.jpg"))
                            .collect::<Vec<_>>()
                    ),
                );
            }),
            BAD_INPUT,
            "evidence",
        ),
        (
            "a 201-character evidence item",
            with(good(), |i| {
                i.insert("evidence".into(), json!(["x".repeat(201)]));
            }),
            BAD_INPUT,
            "evidence",
        ),
        (
            "no target",
            with(good(), |i| {
                i.remove("staffId");
            }),
            BAD_INPUT,
            "staffId",
        ),
        (
            "unknown staff",
            with(good(), |i| {
                i.insert("staffId".into(), json!(unknown));
            }),
            "NOT_FOUND",
            "staff",
        ),
        (
            "unknown unit",
            with(good(), |i| {
                i.remove("staffId");
                i.insert("unitId".into(), json!(unknown));
            }),
            "NOT_FOUND",
            "unit",
        ),
        (
            "someone else's case",
            with(good(), |i| {
                i.remove("staffId");
                i.insert("caseId".into(), json!(strangers_case));
            }),
            "NOT_FOUND",
            "case",
        ),
        (
            "anonymous with a case",
            with(good(), |i| {
                i.remove("staffId");
                i.insert("caseId".into(), json!(own_case));
                i.insert("anonymous".into(), json!(true));
                i.insert("contact".into(), json!("RECEIPT"));
            }),
            BAD_INPUT,
            "caseId",
        ),
        (
            "a receipt for a real name",
            with(good(), |i| {
                i.insert("contact".into(), json!("RECEIPT"));
            }),
            BAD_INPUT,
            "contact",
        ),
        (
            "a phone for the anonymous",
            with(good(), |i| {
                i.insert("anonymous".into(), json!(true));
                i.insert("contact".into(), json!("PHONE"));
            }),
            BAD_INPUT,
            "contact",
        ),
        (
            "prohibited text",
            with(good(), |i| {
                i.insert("description".into(), json!(format!("他说{RISKY_WORD}")));
            }),
            "CONTENT_REJECTED",
            "description",
        ),
    ];
    // Whatever the cases' own steps still write is written before the snapshot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = desk.snapshot().await;
    for (what, input, code, detail) in cases {
        let refused = desk.file(&resident, input).await;
        let error = expect_error(&refused, code);
        if code == "NOT_FOUND" {
            // contract: NOT_FOUND "staff" / "unit" / "case" names what was not found.
            assert!(
                error["message"].as_str().unwrap().contains(detail),
                "{what}: {refused}"
            );
        } else {
            let field = error["extensions"]["field"].as_str().unwrap_or_default();
            assert!(
                field.starts_with(detail),
                "{what}: field {field} in {refused}"
            );
        }
    }
    let query = "mutation($input: ComplaintInput!) { fileComplaint(input: $input) { merged } }";
    expect_error(&app.graphql(None, query, good()).await, "UNAUTHENTICATED");
    expect_error(&desk.file(&agent, good()).await, "FORBIDDEN");
    assert_eq!(
        before,
        desk.snapshot().await,
        "refused complaints write nothing"
    );

    // The limits themselves are accepted: 1000 characters, and the resident's own case.
    let longest = "长".repeat(1000);
    let filed = desk
        .filed(
            &resident,
            with(good(), |i| {
                i.insert("description".into(), json!(longest));
            }),
        )
        .await;
    assert_eq!(filed["complaint"]["description"], longest.as_str());
    let about_case = with(good(), |i| {
        i.remove("staffId");
        i.insert("caseId".into(), json!(own_case));
        i.insert("category".into(), json!("SHIRKING"));
    });
    let id = desk.filed_id(&resident, about_case).await;
    let seen = desk.seen(&desk.centre.admin, &id).await;
    // The case names its applicant: only the assigned inspector sees it.
    assert!(seen["caseId"].is_null(), "{seen}");
    let inspector = desk.assigned(&id).await;
    assert_eq!(
        desk.seen(&inspector, &id).await["caseId"],
        own_case.as_str()
    );
    assert_eq!(
        seen["accusedUnitId"],
        app.region_id(LONGGANG).await.as_str(),
        "the case's unit"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_check_holds_or_defers_a_complaint_but_never_loses_it() {
    let desk = ComplaintDesk::start().await;
    let agent = desk.centre.agent.clone();
    // WeChat wants a human: accepted, held, read by the inspector.
    let held_text = format!("窗口人员{REVIEW_WORD}的言语");
    let reviewer = desk.centre.resident("cp-review").await;
    let id = desk
        .filed_id(
            &reviewer,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                &held_text,
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    let inspector = desk.assigned(&id).await;
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["textState"], "HELD");
    // contract: held "for the inspector", who reads it (complaints are never published).
    assert_eq!(seen["description"], held_text.as_str());

    // WeChat down: accepted unchecked, and checked by the job once WeChat is back.
    let resident = desk.centre.resident("cp-unchecked").await;
    desk.centre.fake.fail_next(Api::MsgSecCheck, &[-1; 3]);
    let id = desk
        .filed_id(
            &resident,
            about(
                &agent.user_id,
                "SHIRKING",
                "一直推说系统故障不给办理",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    let inspector = desk.assigned(&id).await;
    assert_eq!(desk.seen(&inspector, &id).await["textState"], "UNCHECKED");
    desk.run_jobs().await;
    let checked = desk.seen(&inspector, &id).await;
    assert_eq!(checked["textState"], "PASSED");
    assert_eq!(checked["description"], "一直推说系统故障不给办理");
    let asked = desk.centre.fake.checked();
    assert!(
        asked
            .iter()
            .any(|c| c["content"] == "一直推说系统故障不给办理" && c["openid"] == "cp-unchecked"),
        "{asked:?}"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_flagged_once_and_extended_once() {
    let mut desk = ComplaintDesk::start().await;
    if to_a_working_day(desk.app()).await {
        desk.sign_in_again().await;
    }
    let resident = desk.centre.resident("cp-late").await;
    let agent = desk.centre.agent.user_id.clone();
    let today = bangban_server::clock::local_date(desk.app().clock.now());
    let id = desk
        .filed_id(
            &resident,
            about(
                &agent,
                "SHIRKING",
                "材料齐全却不予受理",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    let seen = desk.seen(&desk.centre.admin, &id).await;
    let acknowledge_by = add_working_days(desk.app(), today, 1).await;
    let conclude_by = add_working_days(desk.app(), today, 15).await;
    assert_eq!(date(&seen["acknowledgeDueOn"]), acknowledge_by);
    assert_eq!(date(&seen["concludeDueOn"]), conclude_by);
    assert_eq!(
        (
            seen["acknowledgeOverdue"].clone(),
            seen["concludeOverdue"].clone()
        ),
        (json!(false), json!(false))
    );

    // On the acknowledgement day it is on time …
    desk.app().clock.set(china_noon(acknowledge_by));
    desk.run_jobs().await;
    desk.sign_in_again().await;
    assert_eq!(
        desk.seen(&desk.centre.admin, &id).await["acknowledgeOverdue"],
        false
    );
    // … and overdue the day after: the county admin is told, once.
    desk.app()
        .clock
        .set(china_noon(acknowledge_by + chrono::Duration::days(1)));
    desk.sign_in_again().await;
    let mut live = WsClient::connect(desk.app(), Some(&desk.centre.admin.access)).await;
    live.subscribe("a", MY_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    desk.run_jobs().await;
    let told = next_kind(&mut live, "a", "myEvents", "complaint.overdue").await;
    assert_eq!(told["subjectId"], id.as_str());
    assert_eq!(
        desk.seen(&desk.centre.admin, &id).await["acknowledgeOverdue"],
        true
    );
    let flagged = format!("events WHERE kind = 'complaint.overdue' AND subject_id = '{id}'");
    let once = count(desk.app(), &flagged).await;
    assert!(once >= 1);
    desk.run_jobs().await;
    assert_eq!(count(desk.app(), &flagged).await, once, "flagged once");
    let inspector = desk.assigned(&id).await;
    let told: Vec<String> = audiences(desk.app(), &id)
        .await
        .into_iter()
        .filter(|(k, _)| k == "complaint.overdue")
        .map(|(_, a)| a)
        .collect();
    assert!(
        told.iter().any(|a| a.contains(&inspector.user_id)),
        "{told:?}"
    );
    assert!(
        told.iter().any(|a| a.contains(&desk.centre.admin.user_id)),
        "{told:?}"
    );
    assert!(
        told.iter().all(|a| !a.contains(&agent)),
        "never the accused: {told:?}"
    );

    // A guarded step done twice, and the one extension.
    let acknowledged = expect_data(&desk.step(&inspector, "acknowledgeComplaint", &id).await);
    assert_eq!(
        acknowledged["acknowledgeComplaint"]["status"],
        "ACKNOWLEDGED"
    );
    let before = desk.snapshot().await;
    expect_error(
        &desk.step(&inspector, "acknowledgeComplaint", &id).await,
        "INVALID_TRANSITION",
    );
    assert_eq!(before, desk.snapshot().await);
    let extend = mutation(
        "$id: ID!, $r: String!",
        "extendComplaint(id: $id, reason: $r)",
    );
    let extended = desk
        .act(
            &inspector,
            &extend,
            json!({"id": id, "r": "需调取监控录像"}),
        )
        .await;
    assert_eq!(extended["extended"], true);
    assert_eq!(extended["extensionReason"], "需调取监控录像");
    assert_eq!(
        date(&extended["concludeDueOn"]),
        add_working_days(desk.app(), conclude_by, 15).await
    );
    assert!(date(&extended["concludeDueOn"]) > conclude_by);
    let before = desk.snapshot().await;
    let twice = desk
        .app()
        .as_(&inspector, &extend, json!({"id": id, "r": "再延一次"}))
        .await;
    expect_error(&twice, "INVALID_TRANSITION");
    assert_eq!(before, desk.snapshot().await, "one extension only");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ways_to_complain_are_public_and_set_by_the_county_admin() {
    let desk = ComplaintDesk::with_inspectors(0).await;
    let app = desk.app();
    let county = app.region_id(COUNTY).await;
    let read = "query($c: ID!) { complaintChannels(countyId: $c) { kind label value hours } }";
    let initial =
        expect_data(&app.graphql(None, read, json!({"c": county})).await)["complaintChannels"]
            .clone();
    let defaults = initial.as_array().unwrap();
    assert!(!defaults.is_empty(), "a documented default list");
    for channel in defaults {
        assert!(channel["kind"].is_string(), "{channel}");
        for field in ["label", "value"] {
            assert!(
                channel[field]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{channel}"
            );
        }
    }
    let set = "mutation($c: ID!, $ch: [ComplaintChannelInput!]!) { setComplaintChannels(countyId: $c, channels: $ch) { kind label value hours } }";
    let channels = json!([
        {"kind": "PHONE", "label": "投诉电话", "value": "0356-7020000", "hours": "工作日 8:30—17:30"},
        {"kind": "WINDOW", "label": "投诉窗口", "value": "县政务服务中心一楼 12 号窗口"},
    ]);
    let town = app
        .staff_session("cp.town", Role::TownshipAdmin, LONGGANG)
        .await;
    let before = desk.snapshot().await;
    for who in [&town, &desk.centre.agent] {
        expect_error(
            &app.as_(who, set, json!({"c": county, "ch": channels}))
                .await,
            "FORBIDDEN",
        );
    }
    for label in ["", "  "] {
        let bad = json!([{"kind": "PHONE", "label": label, "value": "0356-7020000"}]);
        let refused = app
            .as_(&desk.centre.admin, set, json!({"c": county, "ch": bad}))
            .await;
        let field = expect_error(&refused, BAD_INPUT)["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // contract: the field is named (e.g. `channels[0].label`).
        assert!(field.contains("label"), "{refused}");
    }
    assert_eq!(
        before,
        desk.snapshot().await,
        "refused settings write nothing"
    );
    assert_eq!(
        expect_data(&app.graphql(None, read, json!({"c": county})).await)["complaintChannels"],
        initial
    );

    let expected = json!([
        {"kind": "PHONE", "label": "投诉电话", "value": "0356-7020000", "hours": "工作日 8:30—17:30"},
        {"kind": "WINDOW", "label": "投诉窗口", "value": "县政务服务中心一楼 12 号窗口", "hours": null},
    ]);
    let saved = desk
        .act(
            &desk.centre.admin,
            set,
            json!({"c": county, "ch": channels}),
        )
        .await;
    assert_eq!(saved, expected);
    assert_eq!(
        expect_data(&app.graphql(None, read, json!({"c": county})).await)["complaintChannels"],
        expected
    );
    // Set again, the list is replaced, not added to.
    let one = json!([{"kind": "MINI_PROGRAM", "label": "小程序投诉", "value": "帮办代办小程序"}]);
    desk.act(&desk.centre.admin, set, json!({"c": county, "ch": one}))
        .await;
    assert_eq!(
        expect_data(&app.graphql(None, read, json!({"c": county})).await)["complaintChannels"],
        json!([{"kind": "MINI_PROGRAM", "label": "小程序投诉", "value": "帮办代办小程序", "hours": null}])
    );
    desk.stop().await;
}
