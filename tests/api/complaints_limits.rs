//! Filing is rate-limited per resident (a day) and per client address (an hour), and the limit
//! comes before anything is looked up: a refused filing writes nothing, and probing which staff
//! members exist costs a filing each, like any other.
use crate::{
    complaints::{ComplaintDesk, about},
    helpers::expect_error,
    satisfaction::count,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_is_limited_per_resident_and_per_address_before_the_target_is_looked_up() {
    let desk = ComplaintDesk::start_with(2, |s| {
        s.complaints.files_per_user_per_day = 2;
        s.complaints.files_per_ip_per_hour = 4;
    })
    .await;
    let app = desk.app();
    let agent = desk.centre.agent.clone();
    let prober = desk.centre.resident("cp-prober").await;
    // Two probes of staff who do not exist: NOT_FOUND, and each counts.
    for n in 0..2u128 {
        let nobody = uuid::Uuid::from_u128(0xdead_0000 + n).to_string();
        let probe = about(&nobody, "COLD_SERVICE", "试探", "MINI_PROGRAM", false);
        expect_error(&desk.file(&prober, probe).await, "NOT_FOUND");
    }
    let real = about(
        &agent.user_id,
        "COLD_SERVICE",
        "态度差",
        "MINI_PROGRAM",
        false,
    );
    let before = desk.snapshot().await;
    let refused = desk.file(&prober, real.clone()).await;
    let error = expect_error(&refused, "RATE_LIMITED");
    assert!(
        !error.to_string().contains(&agent.user_id),
        "the refusal names nobody: {error}"
    );
    assert_eq!(desk.snapshot().await, before, "a refusal writes nothing");
    assert_eq!(count(app, "complaints").await, 0);

    // Per address: another resident from the same address has one filing left this hour.
    let neighbour = desk.centre.resident("cp-neighbour-limit").await;
    let filed = desk.filed(&neighbour, real.clone()).await;
    assert_eq!(filed["merged"], false);
    let other = about(&agent.user_id, "SHIRKING", "推诿", "MINI_PROGRAM", false);
    expect_error(&desk.file(&neighbour, other).await, "RATE_LIMITED");
    assert_eq!(count(app, "complaints").await, 1);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_refused_without_a_lookup_costs_no_filing() {
    let desk = ComplaintDesk::start_with(1, |s| s.complaints.files_per_user_per_day = 2).await;
    let agent = desk.centre.agent.clone();
    let resident = desk.centre.resident("cp-bad-inputs").await;
    let case = desk.centre.open_case(&resident).await;
    for _ in 0..3 {
        let mut nameless = about(
            &agent.user_id,
            "COLD_SERVICE",
            "态度差",
            "MINI_PROGRAM",
            false,
        );
        nameless["input"]["staffId"] = serde_json::Value::Null;
        expect_error(&desk.file(&resident, nameless).await, "BAD_USER_INPUT");
        let mut anonymous_case = about(&agent.user_id, "COLD_SERVICE", "态度差", "RECEIPT", true);
        anonymous_case["input"]["caseId"] = serde_json::json!(case);
        expect_error(
            &desk.file(&resident, anonymous_case).await,
            "BAD_USER_INPUT",
        );
    }
    let filed = desk
        .filed(
            &resident,
            about(
                &agent.user_id,
                "COLD_SERVICE",
                "态度差",
                "MINI_PROGRAM",
                false,
            ),
        )
        .await;
    assert_eq!(filed["merged"], false, "{filed}");
    desk.stop().await;
}
