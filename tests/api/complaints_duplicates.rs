//! Obvious duplicates (the same filer, target and category within a day) are merged into the
//! first complaint while it is being handled, keeping everything the duplicate brought (its
//! text as an addition, its evidence, its latest contact wish) and telling the filer; once the
//! first is concluded, the same complaint again is a new one.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    complaints::{BAD_INPUT, ComplaintDesk, about, audiences, exchange},
    fake_wechat::Api,
    satisfaction::count,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_within_a_day_is_merged_into_the_first() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-twice").await;
    let first = desk
        .filed(
            &resident,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                "第一次：态度冷淡",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    assert_eq!(first["merged"], false);
    let id = first["complaint"]["id"].as_str().unwrap().to_string();
    let second = desk
        .filed(
            &resident,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                "第二次：又被冷落",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    assert_eq!(second["merged"], true);
    assert_eq!(second["complaint"]["id"], id.as_str(), "no new complaint");
    assert_eq!(second["receipt"], Value::Null);
    assert_eq!(count(app, "complaints").await, 1);
    let inspector = desk.assigned(&id).await;
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["description"], "第一次：态度冷淡");
    assert_eq!(exchange(&seen, "ADDITION")["question"], "第二次：又被冷落");
    // Another category, or another resident, is another complaint.
    let other = desk
        .filed(
            &resident,
            about(
                &agent.user_id,
                "SHIRKING",
                "推诿不办",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    assert_eq!(other["merged"], false);
    assert_ne!(other["complaint"]["id"], id.as_str());
    let neighbour = desk.centre.resident("cp-neighbour").await;
    let theirs = desk
        .filed(
            &neighbour,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                "我也遇到态度冷淡",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    assert_eq!(theirs["merged"], false);
    assert_ne!(theirs["complaint"]["id"], id.as_str());
    assert_eq!(count(app, "complaints").await, 3);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_duplicate_keeps_its_evidence_and_contact_and_a_concluded_one_is_not_merged_into()
{
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-more").await;
    let mut input = about(
        &agent.user_id,
        "GIFTS_OR_BANQUETS",
        "暗示要红包",
        "MINI_PROGRAM",
        false,
    );
    input["input"]["evidence"] = json!(["photo/a.jpg"]);
    let id = desk.filed_id(&resident, input.clone()).await;
    let mut again = input.clone();
    again["input"]["description"] = json!("补充：收了购物卡");
    again["input"]["evidence"] = json!(["photo/b.jpg", "photo/a.jpg"]);
    again["input"]["contact"] = json!("PHONE");
    let merged = desk.filed(&resident, again).await;
    assert_eq!(merged["merged"], true, "{merged}");
    let inspector = desk.assigned(&id).await;
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(
        seen["evidence"],
        json!(["photo/a.jpg", "photo/b.jpg"]),
        "the duplicate's evidence is kept, once each: {seen}"
    );
    assert_eq!(seen["contact"], "PHONE", "the latest wish: {seen}");
    assert_eq!(exchange(&seen, "ADDITION")["question"], "补充：收了购物卡");

    // Concluded: the same complaint again is a new one, not an addition nobody reads.
    desk.to_investigating(&inspector, &id).await;
    desk.conclude(&inspector, &id, "SUBSTANTIATED").await;
    let after = desk.filed(&resident, input).await;
    assert_eq!(after["merged"], false, "{after}");
    assert_ne!(after["complaint"]["id"], id.as_str());
    assert_eq!(count(app, "complaints").await, 2);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_keeps_the_evidence_limit_its_no_reply_wish_and_a_checked_text() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-more-limits").await;
    let refs = |from: usize, n: usize| {
        (from..from + n)
            .map(|k| format!("photo/{k}.jpg"))
            .collect::<Vec<_>>()
    };
    let mut input = about(
        &agent.user_id,
        "ILLEGAL_CHARGES",
        "收了工本费",
        "MINI_PROGRAM",
        false,
    );
    input["input"]["evidence"] = json!(refs(0, 6));
    let id = desk.filed_id(&resident, input.clone()).await;

    // Past ten references in all: refused, nothing written.
    let mut more = input.clone();
    more["input"]["evidence"] = json!(refs(6, 5));
    let before = desk.snapshot().await;
    let refused = desk.file(&resident, more).await;
    let error = crate::helpers::expect_error(&refused, BAD_INPUT);
    assert_eq!(error["extensions"]["field"], "evidence", "{refused}");
    assert_eq!(desk.snapshot().await, before, "a refusal writes nothing");

    // A duplicate wanting no reply: the filer is not told of the merge.
    let mut quiet = input.clone();
    quiet["input"]["description"] = json!("补充：不需要回复");
    quiet["input"]["contact"] = json!("NO_REPLY");
    // WeChat down for its text: it waits for a human, since nothing checks an addition later.
    desk.centre.fake.fail_next(Api::MsgSecCheck, &[-1; 3]);
    let merged = desk.filed(&resident, quiet).await;
    assert_eq!(merged["merged"], true, "{merged}");
    let told = audiences(app, &id).await;
    assert!(
        !told
            .iter()
            .any(|(kind, key)| kind == "complaint.merged" && key.contains(&resident.user_id)),
        "not told when no reply is wanted: {told:?}"
    );
    let addition = entity::complaint_exchanges::Entity::find()
        .filter(entity::complaint_exchanges::Column::Kind.eq("addition"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(addition.answer_state, "held", "{addition:?}");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_case_is_another_complaint_and_evidence_is_kept_as_checked() {
    let desk = ComplaintDesk::start().await;
    let app = desk.app();
    let resident = desk.centre.resident("cp-two-cases").await;
    let unit = app.region_id(crate::directory::LONGGANG).await;
    let (first_case, second_case) = (
        desk.centre.open_case(&resident).await,
        desk.centre.open_case(&resident).await,
    );
    let about_case = |case: &str, evidence: Value| {
        json!({"input": {"unitId": unit, "caseId": case, "category": "SHIRKING",
            "description": "一直拖着不办", "evidence": evidence, "contact": "MINI_PROGRAM",
            "anonymous": false}})
    };
    let first = desk
        .filed(&resident, about_case(&first_case, json!(["a"])))
        .await;
    let id = first["complaint"]["id"].as_str().unwrap().to_string();
    let other = desk
        .filed(&resident, about_case(&second_case, json!(["b"])))
        .await;
    assert_eq!(other["merged"], false, "another case: {other}");
    // The same case again: merged, its evidence kept as a new complaint would keep it.
    let again = desk
        .filed(&resident, about_case(&first_case, json!([" a ", "c"])))
        .await;
    assert_eq!(again["merged"], true, "{again}");
    let inspector = desk.assigned(&id).await;
    let seen = desk.seen(&inspector, &id).await;
    assert_eq!(seen["evidence"], json!(["a", "c"]), "{seen}");
    assert_eq!(count(app, "complaints").await, 2);
    desk.stop().await;
}
