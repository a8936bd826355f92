//! Free text in the ledger — contact notes, and the consent a staff member recorded when booking
//! on a resident's behalf — may name people and give their numbers, so it follows the ledger's
//! masking: in full for admins and the point's own agents, withheld from everyone who sees the
//! applicants masked (inspectors, auditors, agents of other points).
use bangban_server::{auth::Role, clock::Clock};
use serde_json::{Value, json};

use crate::{
    desk_races::{ON_BEHALF, resident_with_phone, test_phone, wechat_desk},
    directory::COUNTY,
    helpers::{Session, TestApp, expect_data},
};

const CONSENT: &str = "电话确认：王小明本人同意代约，回拨13900000099";
const NOTE: &str = "李四光咨询社保，身份证尾号0019";

async fn notes(app: &TestApp, who: &Session) -> Vec<Value> {
    let now = app.clock.now();
    let window = json!({"f": (now - chrono::Duration::hours(1)).to_rfc3339(), "t": (now + chrono::Duration::hours(1)).to_rfc3339()});
    let page = expect_data(
        &app.as_(
            who,
            "query($f: DateTime!, $t: DateTime!) { ledger(from: $f, to: $t) { entries { outcome note } } }",
            window,
        )
        .await,
    );
    let mut notes: Vec<Value> = page["ledger"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["note"].clone())
        .collect();
    notes.sort_by_key(|n| n.to_string());
    notes
}

#[tokio::test]
async fn notes_and_consent_in_the_ledger_are_withheld_from_readers_who_see_applicants_masked() {
    let (desk, fake) = wechat_desk(1).await;
    let app = &desk.app;
    let agent = app
        .login_staff_session("lg.agent0", "initial-password-1")
        .await;
    let phone = test_phone(3);
    resident_with_phone(app, &fake, "consenting", &phone).await;
    let (day, slots) = desk.next_day_slots().await;
    let input = json!({"input": {"residentPhone": phone,
        "onBehalf": {"channel": "AGENT_ON_BEHALF", "consent": CONSENT},
        "booking": {"servicePointId": desk.point, "slotId": slots[0]["id"], "itemId": desk.item,
            "kind": "PROXY", "idempotencyKey": "consented"}}});
    expect_data(&app.as_(&agent, ON_BEHALF, input).await);
    expect_data(&app.as_(&agent, "mutation($p: ID!, $n: String) { recordContact(input: {servicePointId: $p, channel: WINDOW, outcome: CONSULTED, note: $n}) { id } }", json!({"p": desk.point, "n": NOTE})).await);

    let full = vec![json!(NOTE), json!(CONSENT)];
    let county = app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    assert_eq!(
        notes(app, &county).await,
        full,
        "an admin reads them in full"
    );
    assert_eq!(
        notes(app, &agent).await,
        full,
        "so does the point's own agent"
    );
    for role in [Role::Inspector, Role::Auditor] {
        let reader = app
            .staff_session(&format!("{role:?}").to_lowercase(), role, COUNTY)
            .await;
        let at_desk = expect_data(&app.as_(&reader, "query($p: ID!, $d: NaiveDate!) { pointBookings(servicePointId: $p, day: $d) { note consent } }", json!({"p": desk.point, "d": day})).await);
        assert_eq!(
            at_desk["pointBookings"],
            json!([{"note": null, "consent": "（已隐去）"}]),
            "{role:?} reads the booking's consent withheld too"
        );
        let seen = notes(app, &reader).await;
        assert_eq!(seen.len(), 2, "{role:?} sees both entries");
        for note in &seen {
            let note = note.as_str().unwrap_or_default();
            assert!(
                !note.contains("王小明") && !note.contains("1390000") && !note.contains("李四光"),
                "{role:?} reads no name or number: {seen:?}"
            );
            assert_eq!(note, "（已隐去）", "{role:?}: {seen:?}");
        }
    }
}
