//! The complainant's own acts are audited a day late: an entry written as they came would sit
//! in the log between entries of exact moments and tell the auditors — who may be the accused —
//! when the complainant acted (filing, a merged duplicate, an answer, an appeal). Each such
//! entry waits for the end of its China day and is then written, stamped with its day, in
//! random order with the day's others; staff acts are audited as they happen.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::{
    complaints::{ComplaintDesk, about},
    helpers::expect_data,
};

async fn entries_of(desk: &ComplaintDesk, id: &str) -> Vec<entity::audit_log::Model> {
    entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::TargetId.eq(id))
        .order_by_asc(entity::audit_log::Column::Seq)
        .all(&desk.app().state.db)
        .await
        .unwrap()
}

/// Moves the test clock to 09:00 (China) of the next China day.
fn to_the_next_china_day(desk: &ComplaintDesk) {
    let now = bangban_server::clock::Clock::now(desk.app().clock.as_ref());
    let tomorrow = bangban_server::clock::local_date(now).succ_opt().unwrap();
    desk.app()
        .clock
        .set(tomorrow.and_hms_opt(1, 0, 0).unwrap().and_utc());
}

async fn run_jobs(desk: &ComplaintDesk) {
    bangban_server::jobs::run_due(&desk.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_audited_the_day_after_it_came_after_what_followed_it() {
    let mut desk = ComplaintDesk::start().await;
    let agent = desk.centre.agent.clone();
    let named = desk.centre.resident("cp-audit-named").await;
    let hidden = desk.centre.resident("cp-audit-hidden").await;
    let input = |text: &str, anonymous| {
        let contact = if anonymous { "RECEIPT" } else { "MINI_PROGRAM" };
        about(&agent.user_id, "COLD_SERVICE", text, contact, anonymous)
    };
    let first = desk
        .filed_id(&named, input("窗口人员态度冷淡", false))
        .await;
    // The same again the same day: merged, and that is the complainant's act too.
    let merged = desk.filed(&named, input("窗口人员态度冷淡", false)).await;
    assert_eq!(merged["merged"], true, "{merged}");
    let anonymous = desk.filed_id(&hidden, input("收取了材料费", true)).await;
    for id in [&first, &anonymous] {
        assert!(
            entries_of(&desk, id).await.is_empty(),
            "nothing while the day it came is still on"
        );
    }
    // Staff acts the same day are audited as they happen.
    let inspector = desk.assigned(&first).await;
    expect_data(&desk.step(&inspector, "acknowledgeComplaint", &first).await);
    let acknowledged = entries_of(&desk, &first).await;
    assert_eq!(
        acknowledged
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["complaint.acknowledged"],
        "{acknowledged:?}"
    );
    let later = acknowledged[0].seq;
    run_jobs(&desk).await;
    assert!(
        entries_of(&desk, &anonymous).await.is_empty(),
        "the job waits for the day to end"
    );

    // The next China day: written, stamped with its day, after what followed it, naming no one.
    to_the_next_china_day(&desk);
    desk.sign_in_again().await;
    run_jobs(&desk).await;
    let of_first = entries_of(&desk, &first).await;
    let actions = of_first
        .iter()
        .map(|e| e.action.as_str())
        .collect::<Vec<_>>();
    assert_eq!(actions.len(), 3, "{of_first:?}");
    for action in [
        "complaint.received",
        "complaint.duplicate_merged",
        "complaint.acknowledged",
    ] {
        assert!(actions.contains(&action), "{action} in {of_first:?}");
    }
    let of_anonymous = entries_of(&desk, &anonymous).await;
    assert_eq!(of_anonymous.len(), 1, "{of_anonymous:?}");
    for entry in of_first
        .iter()
        .chain(&of_anonymous)
        .filter(|e| e.action != "complaint.acknowledged")
    {
        assert_eq!(entry.actor_kind, "system", "{entry:?}");
        assert!(entry.seq > later, "after what followed it: {entry:?}");
        assert!(
            entry.at.to_rfc3339().ends_with("T16:00:00+00:00"),
            "the day only: {entry:?}"
        );
        for secret in [named.user_id.as_str(), hidden.user_id.as_str()] {
            assert!(
                !format!("{entry:?}").contains(secret),
                "names no one: {entry:?}"
            );
        }
    }
    // Once.
    run_jobs(&desk).await;
    assert_eq!(entries_of(&desk, &first).await.len(), 3);
    assert_eq!(entries_of(&desk, &anonymous).await.len(), 1);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_content_check_is_audited_the_day_after_too() {
    let desk = ComplaintDesk::start().await;
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-audit-late").await;
    // WeChat down at filing: the job checks it minutes later, which would place the filing.
    desk.centre
        .fake
        .fail_next(crate::fake_wechat::Api::MsgSecCheck, &[-1; 3]);
    let input = about(
        &agent.user_id,
        "SHIRKING",
        "推说系统故障",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    run_jobs(&desk).await;
    let inspector = desk.assigned(&id).await;
    assert_eq!(desk.seen(&inspector, &id).await["textState"], "PASSED");
    assert!(
        entries_of(&desk, &id).await.is_empty(),
        "nothing the same day: {:?}",
        entries_of(&desk, &id).await
    );
    to_the_next_china_day(&desk);
    run_jobs(&desk).await;
    let entries = entries_of(&desk, &id).await;
    let mut actions = entries
        .iter()
        .map(|e| e.action.as_str())
        .collect::<Vec<_>>();
    actions.sort();
    assert_eq!(
        actions,
        ["complaint.received", "complaint.text_checked"],
        "{entries:?}"
    );
    for entry in &entries {
        assert!(
            entry.at.to_rfc3339().ends_with("T16:00:00+00:00"),
            "{entry:?}"
        );
    }
    desk.stop().await;
}

/// The ids the audit log names, as `who` reads it through the API, page by page.
async fn audit_targets(desk: &ComplaintDesk, who: &crate::helpers::Session) -> Vec<String> {
    let mut after = 0;
    let mut targets = Vec::new();
    loop {
        let query = format!("{{ auditLog(afterSeq: {after}, first: 200) {{ seq targetId }} }}");
        let page = expect_data(&desk.app().as_(who, &query, serde_json::json!({})).await);
        let rows = page["auditLog"].as_array().cloned().unwrap_or_default();
        let Some(last) = rows.last() else {
            return targets;
        };
        after = last["seq"].as_i64().unwrap();
        targets.extend(
            rows.iter()
                .filter_map(|r| r["targetId"].as_str().map(String::from)),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accused_auditor_never_reads_the_trail_of_the_complaint_about_them() {
    use bangban_server::auth::Role;
    let mut desk = ComplaintDesk::start().await;
    let app = desk.app();
    let accused = app
        .staff_session(
            "cp.accused-auditor",
            Role::Auditor,
            crate::directory::COUNTY,
        )
        .await;
    let auditor = app
        .staff_session("cp.other-auditor", Role::Auditor, crate::directory::COUNTY)
        .await;
    let resident = desk.centre.resident("cp-audit-accused").await;
    let input = about(
        &accused.user_id,
        "COLD_SERVICE",
        "审计窗口态度差",
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let inspector = desk.assigned(&id).await;
    desk.to_investigating(&inspector, &id).await;
    desk.request_statement(&inspector, &id, "请说明情况").await;
    let check = |targets: Vec<String>| targets.contains(&id);
    assert!(
        check(audit_targets(&desk, &auditor).await),
        "other auditors audit it"
    );
    assert!(
        !check(audit_targets(&desk, &accused).await),
        "the accused reads none of its trail"
    );
    // Nor once the day's entries are written.
    to_the_next_china_day(&desk);
    run_jobs(&desk).await;
    desk.sign_in_again().await;
    let accused = desk
        .app()
        .login_staff_session("cp.accused-auditor", crate::helpers::STAFF_PASSWORD)
        .await;
    assert!(!check(audit_targets(&desk, &accused).await));
    // Their statement request tells them the category and the question, not the complaint.
    let asked = expect_data(
        &desk
            .app()
            .as_(
                &accused,
                "{ myStatementRequests { id category question } }",
                serde_json::json!({}),
            )
            .await,
    );
    assert_eq!(
        asked["myStatementRequests"].as_array().unwrap().len(),
        1,
        "{asked}"
    );
    desk.stop().await;
}
