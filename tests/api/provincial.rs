//! Delivery to the provincial 好差评 platforms end to end, on both backends, against two fake
//! platforms that check signatures and number the levels the two opposite ways: each rating,
//! second rating and rectification result reaches each once, signed and coded for it; 5xx and
//! timeouts are retried with backoff, a 4xx and an exhausted delivery are dead-lettered, and a
//! county administrator sends a dead one again.
use std::time::Duration;

use bangban_server::config::{DeliveryTarget, LevelCodingSetting, Secret};
use serde_json::{Value, json};

use crate::{
    fake_province::{FakeProvince, Script},
    helpers::{expect_data, expect_error},
    satisfaction::Centre,
};

const SECRET_A: &str = "province-a-secret-of-at-least-32-bytes";
const SECRET_B: &str = "province-b-secret-of-at-least-32-bytes";
const DELIVERIES: &str = "query($s: ProvincialDeliveryStatus) { provincialDeliveries(status: $s) { deliveries { id target kind subjectId status attempts lastError lastStatus deliveredAt } } }";

async fn with_provinces() -> (Centre, FakeProvince, FakeProvince) {
    let a = FakeProvince::start(SECRET_A).await;
    let b = FakeProvince::start(SECRET_B).await;
    let targets = vec![
        DeliveryTarget {
            name: "province-a".into(),
            url: a.url.clone(),
            secret: Secret::new(SECRET_A),
            level_coding: LevelCodingSetting::BestIsFive,
            timeout_ms: 500,
            max_attempts: 3,
            retry_base_ms: 50,
        },
        DeliveryTarget {
            name: "province-b".into(),
            url: b.url.clone(),
            secret: Secret::new(SECRET_B),
            level_coding: LevelCodingSetting::BestIsOne,
            timeout_ms: 500,
            max_attempts: 3,
            retry_base_ms: 50,
        },
    ];
    let centre = Centre::start_with(move |s| {
        s.satisfaction.targets = targets;
        s.satisfaction.delivery_poll_ms = 50;
    })
    .await;
    (centre, a, b)
}

/// Waits until the platform took `n` documents; returns them.
async fn took(province: &FakeProvince, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let taken = province.taken();
        if taken.len() >= n {
            return taken.into_iter().map(|(_, body)| body).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the platform took {} of {n}", province.taken().len());
}

/// Waits until the county's deliveries satisfy `done`, moving the test clock a second a round
/// (retries are due by it).
async fn deliveries_until(centre: &Centre, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..200 {
        let list = centre.ok(&centre.admin, DELIVERIES, json!({})).await;
        last = list["provincialDeliveries"]["deliveries"]
            .as_array()
            .unwrap()
            .clone();
        if done(&last) {
            return last;
        }
        centre.app().clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries never settled: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_and_results_reach_each_platform_once_signed_and_coded_for_it() {
    let (centre, a, b) = with_provinces().await;
    let resident = centre.resident("prov-rater").await;
    let case = centre.completed_case(&resident).await;
    let number = centre
        .ok(
            &centre.agent,
            "query($id: ID!) { case(id: $id) { number } }",
            json!({"id": case}),
        )
        .await["case"]["number"]
        .clone();
    expect_data(&centre.app().as_(&resident, crate::satisfaction::RATE, json!({"c": case, "l": "DISSATISFIED", "t": "等候时间太长", "i": [{"indicator": "ATTITUDE", "level": "SATISFIED"}]})).await);
    let first_a = took(&a, 1).await[0].clone();
    let first_b = took(&b, 1).await[0].clone();
    assert_eq!(first_a["dataType"], "rating");
    assert_eq!(first_a["projectNo"], number);
    assert_eq!(first_a["pf"], 2, "a mini-program reports as 移动端");
    assert_eq!(first_a["isAnonymous"], 2);
    assert_eq!(first_a["assessNumber"], 1);
    assert_eq!(first_a["satisfaction"], 2, "不满意 where 5 is best");
    assert_eq!(
        first_b["satisfaction"], 4,
        "不满意 where 1 is best (GB/T 39046 A.8)"
    );
    assert_eq!(
        first_a["evalDetail"][0],
        json!({"indicator": "服务态度", "satisfaction": 4})
    );
    assert_eq!(first_b["evalDetail"][0]["satisfaction"], 2);
    assert_eq!(first_a["writingEvaluation"], "等候时间太长");
    let time = first_a["assessTime"].as_str().unwrap();
    assert!(
        time.len() == 15 && time.as_bytes()[8] == b'T',
        "YYYYMMDDThhmmss: {time}"
    );
    // The rectification's result follows, then the second rating.
    let order = centre
        .ok(
            &centre.admin,
            "{ rectifications { rectifications { id } } }",
            json!({}),
        )
        .await["rectifications"]["rectifications"][0]["id"]
        .clone();
    centre.ok(&centre.admin, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"已回访\") { id } }", json!({"id": order})).await;
    centre.ok(&centre.admin, "mutation($id: ID!) { resolveRectification(id: $id, classification: IMMEDIATE, result: \"增开窗口\", reply: \"已增开窗口\") { id } }", json!({"id": order})).await;
    let result = took(&a, 2).await[1].clone();
    assert_eq!(result["dataType"], "rectification");
    assert_eq!(result["rectifyType"], "立行立改");
    assert_eq!(result["replyContent"], "已增开窗口");
    assert_eq!(result["projectNo"], number);
    expect_data(
        &centre
            .rate(&resident, &case, "VERY_SATISFIED", None, false)
            .await,
    );
    let second = took(&a, 3).await[2].clone();
    assert_eq!(second["assessNumber"], 2);
    assert_eq!(second["satisfaction"], 5);
    assert_eq!(took(&b, 3).await[2]["satisfaction"], 1);
    // An anonymous rating says so, and names no one.
    let hidden = centre.resident("prov-hidden").await;
    let other = centre.completed_case(&hidden).await;
    expect_data(&centre.rate(&hidden, &other, "SATISFIED", None, true).await);
    let anonymous = took(&a, 4).await[3].clone();
    assert_eq!(anonymous["isAnonymous"], 1);
    assert!(
        !anonymous.to_string().contains(&hidden.user_id),
        "{anonymous}"
    );
    let all = deliveries_until(&centre, |d| {
        d.len() == 8 && d.iter().all(|x| x["status"] == "DELIVERED")
    })
    .await;
    assert!(all.iter().all(|d| d["attempts"] == 1), "{all:?}");
    // An anonymous rating's deliveries tell its readers the day only: the moment it reached
    // the platform is (nearly) the moment it was given.
    let exact = centre
        .ok(&centre.admin, "{ provincialDeliveries { deliveries { kind subjectId nextAt deliveredAt createdAt } } }", json!({}))
        .await["provincialDeliveries"]["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    let anonymous_id = centre
        .ok(
            &centre.admin,
            "{ ratings { ratings { id anonymous } } }",
            json!({}),
        )
        .await["ratings"]["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["anonymous"] == true)
        .unwrap()["id"]
        .clone();
    let of_anonymous: Vec<&Value> = exact
        .iter()
        .filter(|d| d["subjectId"] == anonymous_id)
        .collect();
    assert_eq!(of_anonymous.len(), 2, "{exact:?}");
    for delivery in of_anonymous {
        for field in ["nextAt", "deliveredAt", "createdAt"] {
            assert!(
                delivery[field]
                    .as_str()
                    .unwrap()
                    .ends_with("T16:00:00+00:00"),
                "{field}: the day only (China midnight): {delivery}"
            );
        }
    }
    assert!(
        exact.iter().any(|d| d["subjectId"] != anonymous_id
            && !d["deliveredAt"]
                .as_str()
                .unwrap()
                .ends_with("T16:00:00+00:00")),
        "real-name deliveries keep their moment: {exact:?}"
    );
    assert_eq!(a.refused_signatures() + b.refused_signatures(), 0);
    assert_eq!(a.requests(), 4, "each once");
    // Only the county's administrator reads them.
    expect_error(
        &centre.app().as_(&centre.agent, DELIVERIES, json!({})).await,
        "FORBIDDEN",
    );
    centre.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_then_dead_lettered_and_an_administrator_sends_them_again() {
    let (centre, a, b) = with_provinces().await;
    // Province A fails twice (a 500, then no answer within the timeout), then takes it.
    a.script(&[Script::Status(500), Script::Stall(1_500)]);
    // Province B refuses for good.
    b.script(&[Script::Status(400)]);
    let resident = centre.resident("prov-retry").await;
    let case = centre.completed_case(&resident).await;
    expect_data(
        &centre
            .rate(&resident, &case, "SATISFIED", None, false)
            .await,
    );
    let settled = deliveries_until(&centre, |d| {
        d.len() == 2
            && d.iter()
                .all(|x| x["status"] == "DELIVERED" || x["status"] == "DEAD")
    })
    .await;
    let to = |name: &str| {
        settled
            .iter()
            .find(|d| d["target"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(to("province-a")["status"], "DELIVERED");
    assert_eq!(to("province-a")["attempts"], 3);
    assert_eq!(
        to("province-b")["status"],
        "DEAD",
        "a 4xx is not sent again"
    );
    assert_eq!(to("province-b")["attempts"], 1);
    assert_eq!(to("province-b")["lastStatus"], 400);
    assert_eq!(took(&a, 1).await.len(), 1, "taken once despite the retries");

    // Out of attempts: three 503s are the limit.
    a.script(&[
        Script::Status(503),
        Script::Status(503),
        Script::Status(503),
    ]);
    let other = centre.resident("prov-dead").await;
    let second = centre.completed_case(&other).await;
    expect_data(
        &centre
            .rate(&other, &second, "BASICALLY_SATISFIED", None, false)
            .await,
    );
    let settled = deliveries_until(&centre, |d| {
        d.len() == 4
            && d.iter()
                .all(|x| x["status"] == "DELIVERED" || x["status"] == "DEAD")
    })
    .await;
    let dead: Vec<&Value> = settled.iter().filter(|d| d["status"] == "DEAD").collect();
    assert_eq!(dead.len(), 2, "{settled:?}");
    let exhausted = dead.iter().find(|d| d["target"] == "province-a").unwrap();
    assert_eq!(exhausted["attempts"], 3);
    assert_eq!(exhausted["lastError"], "HTTP 503");

    // The county administrator sends the dead ones again; a delivered one cannot be.
    let redrive = "mutation($id: ID!) { redriveProvincialDelivery(id: $id) { status attempts } }";
    let delivered = settled.iter().find(|d| d["status"] == "DELIVERED").unwrap();
    expect_error(
        &centre
            .app()
            .as_(&centre.admin, redrive, json!({"id": delivered["id"]}))
            .await,
        "INVALID_TRANSITION",
    );
    expect_error(
        &centre
            .app()
            .as_(&centre.agent, redrive, json!({"id": dead[0]["id"]}))
            .await,
        "FORBIDDEN",
    );
    for delivery in &dead {
        let queued = centre
            .ok(&centre.admin, redrive, json!({"id": delivery["id"]}))
            .await;
        assert_eq!(queued["redriveProvincialDelivery"]["attempts"], 0);
    }
    let all = deliveries_until(&centre, |d| d.iter().all(|x| x["status"] == "DELIVERED")).await;
    assert_eq!(all.len(), 4);
    assert!(
        centre
            .app()
            .dump_table("audit_log")
            .await
            .contains("delivery.redriven")
    );
    assert_eq!(a.refused_signatures() + b.refused_signatures(), 0);
    centre.stop().await;
}
