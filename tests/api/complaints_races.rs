//! Complaints under races, on PostgreSQL, many rounds each: the same complaint sent twice at
//! once is one complaint (the second merged into it); a request or an answer racing the
//! conclusion is either before it or refused with a code — the complainant is never asked, and
//! no answer is taken, after the complaint was concluded; two steps at once, one wins.
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::{
    complaints::{ComplaintDesk, about, mutation},
    helpers::{Session, expect_data},
    lock_order::coded,
};

const ROUNDS: usize = 12;

/// A desk with `inspectors` whose limits never refuse a racing round.
async fn racing_desk(inspectors: usize) -> ComplaintDesk {
    ComplaintDesk::start_with(inspectors, |s| {
        s.database.max_connections = Some(16);
        s.complaints.files_per_user_per_day = 10_000;
        s.complaints.files_per_ip_per_hour = 10_000;
        s.limits.login_per_ip_per_minute = 10_000;
    })
    .await
}

/// A new resident's real-name complaint about the agent, and the inspector it went to.
async fn round_complaint(
    desk: &ComplaintDesk,
    name: &str,
    category: &str,
    description: &str,
) -> (Session, String, Session) {
    let resident = desk.centre.resident(name).await;
    let input = about(
        &desk.centre.agent.user_id,
        category,
        description,
        "MINI_PROGRAM",
        false,
    );
    let id = desk.filed_id(&resident, input).await;
    let inspector = desk.assigned(&id).await;
    (resident, id, inspector)
}

/// The kinds of a complaint's events, in insert order.
async fn kinds_of(desk: &ComplaintDesk, id: &str) -> Vec<String> {
    entity::events::Entity::find()
        .filter(entity::events::Column::SubjectKind.eq("complaint"))
        .filter(entity::events::Column::SubjectId.eq(id))
        .order_by_asc(entity::events::Column::Seq)
        .all(&desk.app().state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// `kind` comes only before `concluded` in `kinds`, when both are there.
fn before_conclusion(kinds: &[String], kind: &str) {
    if let Some(concluded) = kinds.iter().position(|k| k == "complaint.concluded") {
        assert!(
            !kinds[concluded..].iter().any(|k| k == kind),
            "{kind} after the conclusion: {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn the_same_complaint_sent_twice_at_once_is_one_complaint() {
    let desk = racing_desk(2).await;
    let agent = desk.centre.agent.clone();
    for round in 0..ROUNDS {
        let anonymous = round % 2 == 1;
        let resident = desk.centre.resident(&format!("cp-race-{round}")).await;
        let contact = if anonymous { "RECEIPT" } else { "MINI_PROGRAM" };
        let input = about(
            &agent.user_id,
            "COLD_SERVICE",
            "窗口无人",
            contact,
            anonymous,
        );
        let before = entity::complaints::Entity::find()
            .count(&desk.app().state.db)
            .await
            .unwrap();
        let sent = join_all((0..2).map(|_| desk.file(&resident, input.clone()))).await;
        let mut merged = Vec::new();
        for response in &sent {
            assert_eq!(coded(response), None, "round {round}: {response}");
            merged.push(response["data"]["fileComplaint"]["merged"].clone());
        }
        merged.sort_by_key(|m| m.to_string());
        assert_eq!(
            merged,
            [json!(false), json!(true)],
            "round {round}: {sent:?}"
        );
        let after = entity::complaints::Entity::find()
            .count(&desk.app().state.db)
            .await
            .unwrap();
        assert_eq!(after, before + 1, "round {round}: one complaint");
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn a_request_or_an_answer_racing_the_conclusion_never_comes_after_it() {
    let desk = racing_desk(2).await;
    let conclude = mutation(
        "$id: ID!",
        "concludeComplaint(id: $id, finding: NOT_SUBSTANTIATED, serious: false, actionsTaken: \"无\", conclusion: \"经调查不属实\")",
    );
    let ask = mutation(
        "$id: ID!, $q: String!",
        "requestComplaintInformation(id: $id, question: $q)",
    );
    let answer = "mutation($r: ID!, $a: String!) { answerComplaintRequest(requestId: $r, answer: $a) { id } }";
    for round in 0..ROUNDS {
        let (resident, id, inspector) = round_complaint(
            &desk,
            &format!("cp-conclude-{round}"),
            "SHIRKING",
            "推诿不办",
        )
        .await;
        desk.to_investigating(&inspector, &id).await;
        let app = desk.app();
        if round % 2 == 0 {
            // The inspector asks while (in another tab) concluding.
            let (asked, concluded) = tokio::join!(
                app.as_(&inspector, &ask, json!({"id": id, "q": "请补充时间"})),
                app.as_(&inspector, &conclude, json!({"id": id})),
            );
            coded(&asked);
            assert_eq!(coded(&concluded), None, "round {round}: {concluded}");
            before_conclusion(
                &kinds_of(&desk, &id).await,
                "complaint.information_requested",
            );
        } else {
            // The complainant answers while the inspector concludes.
            let request = desk
                .request_information(&inspector, &id, "请补充时间")
                .await;
            let (answered, concluded) = tokio::join!(
                app.as_(&resident, answer, json!({"r": request, "a": "上午十点"})),
                app.as_(&inspector, &conclude, json!({"id": id})),
            );
            coded(&answered);
            assert_eq!(coded(&concluded), None, "round {round}: {concluded}");
            before_conclusion(&kinds_of(&desk, &id).await, "complaint.request_answered");
        }
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn the_same_step_twice_at_once_is_taken_once() {
    let desk = racing_desk(2).await;
    for round in 0..ROUNDS {
        let (_, id, inspector) =
            round_complaint(&desk, &format!("cp-step-{round}"), "COLD_SERVICE", "态度差").await;
        let both =
            join_all((0..2).map(|_| desk.step(&inspector, "acknowledgeComplaint", &id))).await;
        let codes = both.iter().map(coded).collect::<Vec<_>>();
        let refused = codes.iter().flatten().collect::<Vec<_>>();
        assert_eq!(refused.len(), 1, "round {round}: one wins: {both:?}");
        assert!(
            ["CONFLICT", "INVALID_TRANSITION"].contains(&refused[0].as_str()),
            "round {round}: {both:?}"
        );
        let kinds = kinds_of(&desk, &id).await;
        let told = kinds
            .iter()
            .filter(|k| *k == "complaint.acknowledged")
            .count();
        assert_eq!(told, 1, "round {round}: told once: {kinds:?}");
        expect_data(&desk.step(&inspector, "investigateComplaint", &id).await);
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn a_conflict_declared_twice_at_once_hands_the_complaint_on_once() {
    let desk = racing_desk(3).await;
    let declare =
        "mutation($id: ID!) { declareComplaintConflict(id: $id, reason: \"亲属关系\") { id } }";
    for round in 0..ROUNDS {
        let (_, id, inspector) = round_complaint(
            &desk,
            &format!("cp-conflict-{round}"),
            "COLD_SERVICE",
            "态度差",
        )
        .await;
        let both =
            join_all((0..2).map(|_| desk.app().as_(&inspector, declare, json!({"id": id})))).await;
        let refused = both.iter().filter_map(coded).collect::<Vec<_>>();
        assert!(refused.len() <= 1, "round {round}: one is taken: {both:?}");
        let kinds = kinds_of(&desk, &id).await;
        let handed = kinds.iter().filter(|k| *k == "complaint.assigned").count();
        assert_eq!(handed, 1, "round {round}: handed on once: {kinds:?}");
        let now = desk.seen(&desk.centre.admin, &id).await;
        assert_ne!(
            now["assignedInspectorId"],
            inspector.user_id.as_str(),
            "round {round}"
        );
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn an_answer_is_taken_while_the_inspector_moves_the_complaint_on() {
    let desk = racing_desk(2).await;
    let answer = "mutation($r: ID!, $a: String!) { answerComplaintRequest(requestId: $r, answer: $a) { id } }";
    for round in 0..ROUNDS {
        let (resident, id, inspector) =
            round_complaint(&desk, &format!("cp-move-{round}"), "SHIRKING", "推诿不办").await;
        expect_data(&desk.step(&inspector, "acknowledgeComplaint", &id).await);
        let request = desk
            .request_information(&inspector, &id, "请补充时间")
            .await;
        let app = desk.app();
        let (answered, moved) = tokio::join!(
            app.as_(&resident, answer, json!({"r": request, "a": "上午十点"})),
            desk.step(&inspector, "investigateComplaint", &id),
        );
        assert_eq!(
            coded(&answered),
            None,
            "round {round}: the answer is taken: {answered}"
        );
        assert_eq!(coded(&moved), None, "round {round}: {moved}");
        let now = desk.seen(&inspector, &id).await;
        assert_eq!(
            now["status"], "INVESTIGATING",
            "round {round}: not undone: {now}"
        );
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "races need the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn an_appeal_racing_a_reassignment_is_never_reviewed_by_the_inspector_who_holds_it() {
    let desk = racing_desk(3).await;
    let appeal = "mutation($id: ID!) { appealComplaint(id: $id, reason: \"处理过轻\") { id } }";
    let declare =
        "mutation($id: ID!) { declareComplaintConflict(id: $id, reason: \"亲属关系\") { id } }";
    let mut reviewed = 0;
    for round in 0..ROUNDS {
        let (resident, id, inspector) = round_complaint(
            &desk,
            &format!("cp-appeal-{round}"),
            "COLD_SERVICE",
            "态度差",
        )
        .await;
        desk.to_investigating(&inspector, &id).await;
        desk.conclude(&inspector, &id, "NOT_SUBSTANTIATED").await;
        desk.reply(&inspector, &id, "经核实不属实").await;
        let app = desk.app();
        let (appealed, declared) = tokio::join!(
            app.as_(&resident, appeal, json!({"id": id})),
            app.as_(&inspector, declare, json!({"id": id})),
        );
        coded(&appealed);
        coded(&declared);
        let row = entity::complaints::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&desk.app().state.db)
            .await
            .unwrap()
            .unwrap();
        if row.appeal_reviewer_id.is_some() {
            reviewed += 1;
            assert_ne!(
                row.appeal_reviewer_id, row.assigned_inspector_id,
                "round {round}: the reviewer is someone else: {appealed} {declared}"
            );
        }
    }
    assert!(
        reviewed > 0,
        "some appeals got their reviewer: the check ran"
    );
    desk.stop().await;
}
