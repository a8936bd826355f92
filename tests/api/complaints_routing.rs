//! The paths off the main road: with no inspector who may handle it (the county's only one is
//! the accused), a complaint waits for the county's administrators, who are told and assign it
//! once someone eligible is there — never to the accused; a text WeChat never manages to check
//! waits for a human after the configured tries.
use bangban_server::auth::Role;
use serde_json::{Value, json};

use crate::{
    complaints::{BAD_INPUT, ComplaintDesk, about, audiences},
    directory::COUNTY,
    fake_wechat::Api,
    helpers::{expect_data, expect_error},
};

const ASSIGN: &str = "mutation($id: ID!, $i: ID!) { assignComplaint(id: $id, inspectorId: $i) { id assignedInspectorId } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_eligible_a_complaint_waits_for_the_administrators_who_assign_it() {
    let desk = ComplaintDesk::with_inspectors(1).await;
    let app = desk.app();
    let (_, accused) = desk.inspectors[0].clone();
    let resident = desk.centre.resident("cp-nobody").await;
    let input = about(
        &accused.user_id,
        "COLD_SERVICE",
        "督查员态度恶劣",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let admin = desk.centre.admin.clone();
    let seen = desk.seen(&admin, &id).await;
    assert_eq!(seen["assignedInspectorId"], Value::Null, "{seen}");
    let told = audiences(app, &id).await;
    assert!(
        told.iter()
            .any(|(kind, key)| kind == "complaint.received" && key.contains(&admin.user_id)),
        "the administrators are told: {told:?}"
    );
    assert!(
        !told.iter().any(|(_, key)| key.contains(&accused.user_id)),
        "never the accused: {told:?}"
    );
    expect_error(&desk.view(&accused, &id).await, "NOT_FOUND");

    // Not to the accused, nor to someone who is no inspector: refused, nothing written.
    let before = desk.snapshot().await;
    for who in [&accused.user_id, &admin.user_id, &desk.centre.agent.user_id] {
        let refused = app.as_(&admin, ASSIGN, json!({"id": id, "i": who})).await;
        let error = expect_error(&refused, BAD_INPUT);
        assert_eq!(error["extensions"]["field"], "inspectorId", "{refused}");
    }
    assert_eq!(desk.snapshot().await, before, "refusals write nothing");

    // A new inspector joins: the administrator gives it to them, who handles it.
    let joined = app
        .staff_session("cp.inspector-new", Role::Inspector, COUNTY)
        .await;
    let assigned = expect_data(
        &app.as_(&admin, ASSIGN, json!({"id": id, "i": joined.user_id}))
            .await,
    );
    assert_eq!(
        assigned["assignComplaint"]["assignedInspectorId"],
        joined.user_id.as_str()
    );
    assert!(
        audiences(app, &id)
            .await
            .iter()
            .any(|(kind, key)| kind == "complaint.assigned" && key.contains(&joined.user_id)),
        "the new inspector is told"
    );
    let acknowledged = expect_data(&desk.step(&joined, "acknowledgeComplaint", &id).await);
    assert_eq!(
        acknowledged["acknowledgeComplaint"]["status"],
        "ACKNOWLEDGED"
    );
    assert_eq!(
        desk.seen(&joined, &id).await["complainant"]["userId"],
        resident.user_id.as_str()
    );
    expect_error(&desk.view(&accused, &id).await, "NOT_FOUND");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_wechat_never_checks_waits_for_a_human_after_the_tries() {
    let desk = ComplaintDesk::start_with(1, |s| s.complaints.text_recheck_attempts = 2).await;
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-never-checked").await;
    desk.centre.fake.fail_next(Api::MsgSecCheck, &[-1; 60]);
    let input = about(
        &agent.user_id,
        "SHIRKING",
        "说系统坏了不给办",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let inspector = desk.assigned(&id).await;
    assert_eq!(desk.seen(&inspector, &id).await["textState"], "UNCHECKED");
    desk.run_jobs().await;
    assert_eq!(
        desk.seen(&inspector, &id).await["textState"],
        "UNCHECKED",
        "tried again, once"
    );
    desk.run_jobs().await;
    let held = desk.seen(&inspector, &id).await;
    assert_eq!(held["textState"], "HELD", "after the tries: {held}");
    // The inspector reads it; the job asks no more.
    assert_eq!(held["description"], "说系统坏了不给办");
    let asked = desk.centre.fake.calls(Api::MsgSecCheck);
    desk.run_jobs().await;
    assert_eq!(
        desk.centre.fake.calls(Api::MsgSecCheck),
        asked,
        "no more tries"
    );
    assert_eq!(desk.seen(&inspector, &id).await["textState"], "HELD");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complaint_list_pages_newest_first_without_losing_or_repeating_one() {
    let desk = ComplaintDesk::start_with(1, |s| {
        s.complaints.files_per_user_per_day = 100;
        s.complaints.files_per_ip_per_hour = 100;
    })
    .await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let mut filed = Vec::new();
    for n in 0..5 {
        let resident = desk.centre.resident(&format!("cp-page-{n}")).await;
        let input = about(
            &agent.user_id,
            "COLD_SERVICE",
            "态度差",
            "MINI_PROGRAM",
            false,
        );
        filed.push(desk.filed_id(&resident, input).await);
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let query =
        "query($a: String) { complaints(first: 2, after: $a) { complaints { id } nextCursor } }";
    let (mut seen, mut after, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let page = expect_data(
            &app.as_(&desk.centre.admin, query, json!({"a": after}))
                .await,
        );
        let ids = page["complaints"]["complaints"].as_array().unwrap().clone();
        assert!(ids.len() <= 2, "{page}");
        seen.extend(ids.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        pages += 1;
        after = page["complaints"]["nextCursor"].clone();
        if after.is_null() {
            break;
        }
    }
    assert_eq!(pages, 3);
    filed.reverse();
    assert_eq!(seen, filed, "newest first, each once");
    // Bad paging input is coded and names the argument.
    for (vars, field) in [(json!({"a": "not-a-cursor"}), "after")] {
        let refused = app.as_(&desk.centre.admin, query, vars).await;
        assert_eq!(
            expect_error(&refused, BAD_INPUT)["extensions"]["field"],
            field,
            "{refused}"
        );
    }
    let too_many = "{ complaints(first: 201) { nextCursor } }";
    let refused = app.as_(&desk.centre.admin, too_many, json!({})).await;
    assert_eq!(
        expect_error(&refused, BAD_INPUT)["extensions"]["field"],
        "first"
    );
    desk.stop().await;
}
