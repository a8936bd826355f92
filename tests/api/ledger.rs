//! The ledger (台账): contacts recorded by hand or back-filled, masked per reader, filtered,
//! exported as defused CSV.
use bangban_server::{auth::Role, clock::CHINA};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::{
    booking::{Desk, desk},
    directory::{COUNTY, LONGGANG},
    helpers::{Session, expect_data, expect_error},
    queue::{
        OTHER_TOWN, agent, book, instant, ledger, ledger_entries, micros, now, slots_after, text,
    },
};

const RECORD: &str = "mutation($input: RecordContactInput!) { recordContact(input: $input) { id channel outcome reasonCode note applicant occurredAt backfilled enteredBy enteredAt bookingCode item { id } agentId } }";
const LEDGER_CSV: &str = "query($p: ID!, $f: DateTime!, $t: DateTime!, $filter: LedgerFilterInput) { ledgerCsv(servicePointId: $p, from: $f, to: $t, filter: $filter) }";

fn contact(desk: &Desk, channel: &str, outcome: &str, name: Option<&str>) -> Value {
    json!({"servicePointId": desk.point, "channel": channel, "itemId": desk.item, "applicantName": name,
        "outcome": outcome, "note": "电话咨询社保卡补办"})
}

async fn record(desk: &Desk, who: &Session, input: Value) -> Value {
    let recorded = expect_data(&desk.app.as_(who, RECORD, json!({"input": input})).await);
    recorded["recordContact"].clone()
}

#[tokio::test]
async fn contacts_are_recorded_or_back_filled_and_bad_ones_are_refused_writing_nothing() {
    let desk = desk(1).await;
    let agent = agent(&desk, 0).await;
    let county = desk
        .app
        .login_staff_session("county.admin", crate::helpers::STAFF_PASSWORD)
        .await;
    let floater = desk
        .app
        .staff_session("lg.floater", Role::TownshipAgent, LONGGANG)
        .await;
    let other_agent = desk
        .app
        .staff_session("zc.agent", Role::TownshipAgent, OTHER_TOWN)
        .await;
    let inspector = desk
        .app
        .staff_session("inspector", Role::Inspector, COUNTY)
        .await;
    let resident = desk.app.login_resident("not-staff").await;
    let at = now(&desk.app);
    let base = contact(&desk, "PHONE", "CONSULTED", Some("张三丰"));
    let with = |changes: Value| {
        let mut input = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            input[key] = value.clone();
        }
        input
    };

    let cases: Vec<(&str, &Session, Value, &str, Option<&str>)> = vec![
        (
            "in the future",
            &agent,
            with(json!({"occurredAt": (at + Duration::hours(1)).to_rfc3339()})),
            "BAD_USER_INPUT",
            Some("input.occurredAt"),
        ),
        (
            "more than a year back",
            &agent,
            with(json!({"occurredAt": (at - Duration::days(400)).to_rfc3339()})),
            "BAD_USER_INPUT",
            Some("input.occurredAt"),
        ),
        (
            "refused without a reason",
            &agent,
            with(json!({"outcome": "REFUSED"})),
            "BAD_USER_INPUT",
            Some("input.reasonCode"),
        ),
        (
            "refused with a blank reason",
            &agent,
            with(json!({"outcome": "REFUSED", "reasonCode": "  "})),
            "BAD_USER_INPUT",
            Some("input.reasonCode"),
        ),
        (
            "online",
            &agent,
            with(json!({"channel": "ONLINE"})),
            "BAD_USER_INPUT",
            Some("input.channel"),
        ),
        (
            "unknown item",
            &agent,
            with(json!({"itemId": uuid::Uuid::now_v7().to_string()})),
            "BAD_USER_INPUT",
            Some("input.itemId"),
        ),
        (
            "malformed item",
            &agent,
            with(json!({"itemId": "not-an-id"})),
            "BAD_USER_INPUT",
            Some("input.itemId"),
        ),
        (
            "long name",
            &agent,
            with(json!({"applicantName": "张".repeat(51)})),
            "BAD_USER_INPUT",
            Some("input.applicantName"),
        ),
        (
            "long note",
            &agent,
            with(json!({"note": "记".repeat(501)})),
            "BAD_USER_INPUT",
            Some("input.note"),
        ),
        (
            "unknown point",
            &agent,
            with(json!({"servicePointId": uuid::Uuid::now_v7().to_string()})),
            "NOT_FOUND",
            None,
        ),
        (
            "an agent of this town at no desk",
            &floater,
            base.clone(),
            "FORBIDDEN",
            None,
        ),
        (
            "an agent of another town",
            &other_agent,
            base.clone(),
            "NOT_FOUND",
            None,
        ),
        ("an inspector", &inspector, base.clone(), "FORBIDDEN", None),
        ("a resident", &resident, base.clone(), "FORBIDDEN", None),
    ];
    for (what, who, input, expected, field) in cases {
        let response = desk.app.as_(who, RECORD, json!({"input": input})).await;
        let error = expect_error(&response, expected);
        if let Some(field) = field {
            assert_eq!(error["extensions"]["field"], field, "{what}: {response}");
        }
    }
    assert_eq!(
        desk.app.dump_table("ledger_entries").await,
        "",
        "nothing written"
    );

    // Live (now, or within ten minutes) and back-filled from paper (older).
    let three_hours_ago = (at - Duration::hours(3)).trunc_subsecs(0);
    let five_minutes_ago = (at - Duration::minutes(5)).trunc_subsecs(0);
    let made: Vec<(Value, DateTime<Utc>, bool)> = vec![
        (base.clone(), micros(at), false),
        (
            with(json!({"occurredAt": five_minutes_ago.to_rfc3339()})),
            five_minutes_ago,
            false,
        ),
        (
            with(
                json!({"channel": "REMOTE", "outcome": "REFERRED", "occurredAt": three_hours_ago.to_rfc3339()}),
            ),
            three_hours_ago,
            true,
        ),
        (
            with(json!({"channel": "WINDOW", "outcome": "REFUSED", "reasonCode": "NOT_OUR_LEVEL"})),
            micros(at),
            false,
        ),
    ];
    let mut ids = Vec::new();
    for (input, occurred, backfilled) in made {
        let entry = record(&desk, &agent, input.clone()).await;
        assert_eq!(entry["backfilled"], backfilled, "{input}");
        assert_eq!(instant(&entry["occurredAt"]), occurred, "{input}");
        assert_eq!(
            instant(&entry["enteredAt"]),
            micros(at),
            "entered now: {entry}"
        );
        assert_eq!(entry["enteredBy"], agent.user_id.as_str());
        assert_eq!(entry["agentId"], agent.user_id.as_str());
        assert_eq!(
            entry["applicant"], "张三丰",
            "the desk sees the name in full"
        );
        assert_eq!(entry["item"]["id"], desk.item.as_str());
        assert_eq!(entry["note"], "电话咨询社保卡补办");
        assert!(entry["bookingCode"].is_null());
        assert_eq!(entry["channel"], input["channel"].as_str().unwrap());
        assert_eq!(entry["outcome"], input["outcome"].as_str().unwrap());
        ids.push(text(&entry["id"]));
    }
    let entries = ledger_entries(&desk, &agent, Value::Null).await;
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[0]["id"],
        ids[2].as_str(),
        "oldest first, by occurrence"
    );
    let refused = entries.iter().find(|e| e["outcome"] == "REFUSED").unwrap();
    assert_eq!(refused["reasonCode"], "NOT_OUR_LEVEL");

    let filtered: Vec<(Value, Vec<&str>)> = vec![
        (json!({"backfilled": true}), vec![&ids[2]]),
        (
            json!({"backfilled": false}),
            vec![&ids[1], &ids[0], &ids[3]],
        ),
        (
            json!({"backfilled": false, "channel": "PHONE"}),
            vec![&ids[1], &ids[0]],
        ),
    ];
    for (filter, expected) in filtered {
        let got: Vec<String> = ledger_entries(&desk, &agent, filter.clone())
            .await
            .iter()
            .map(|e| text(&e["id"]))
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got_sorted, want, "{filter}");
    }

    // The back-fill (only it) is audited.
    let log = expect_data(
        &desk
            .app
            .as_(
                &county,
                "{ auditLog(first: 200) { action targetId } }",
                json!({}),
            )
            .await,
    );
    let backfills: Vec<&Value> = log["auditLog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "ledger.backfilled")
        .collect();
    assert_eq!(backfills.len(), 1, "{log}");
    assert_eq!(backfills[0]["targetId"], ids[2].as_str());
}

/// A point's ledger with two online bookings (one resident with a bound phone, one without) and
/// four contacts recorded at the desk.
async fn seeded_ledger() -> (Desk, Session) {
    let desk = desk(1).await;
    let (_, slots) = slots_after(&desk, 1).await;
    let phoned = desk.app.login_resident("with-phone").await;
    expect_data(
        &desk
            .app
            .as_(
                &phoned,
                "mutation { bindPhone(code: \"13800138001\") { phone } }",
                json!({}),
            )
            .await,
    );
    book(&desk, "with-phone", &slots[0]).await;
    book(&desk, "without-phone", &slots[1]).await;
    let agent = agent(&desk, 0).await;
    let mut refused = contact(&desk, "WINDOW", "REFUSED", Some("李四"));
    refused["reasonCode"] = json!("NOT_OUR_LEVEL");
    for input in [
        contact(&desk, "PHONE", "CONSULTED", Some("张三丰")),
        refused,
        contact(&desk, "AGENT_ON_BEHALF", "SERVED", Some("王小二")),
        contact(&desk, "REMOTE", "REFERRED", None),
    ] {
        record(&desk, &agent, input).await;
    }
    (desk, agent)
}

#[tokio::test]
async fn the_ledger_shows_names_to_the_desk_masks_them_for_others_and_filters() {
    let (desk, agent) = seeded_ledger().await;
    let town_admin = desk
        .app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let floater = desk
        .app
        .staff_session("lg.floater", Role::TownshipAgent, LONGGANG)
        .await;
    let inspector = desk
        .app
        .staff_session("inspector", Role::Inspector, COUNTY)
        .await;
    let auditor = desk
        .app
        .staff_session("auditor", Role::Auditor, COUNTY)
        .await;
    let readers: Vec<(&str, &Session, [&str; 3])> = vec![
        ("the point's agent", &agent, ["张三丰", "李四", "王小二"]),
        (
            "the admin over it",
            &town_admin,
            ["张三丰", "李四", "王小二"],
        ),
        (
            "an agent of the town at no desk",
            &floater,
            ["张**", "李*", "王**"],
        ),
        ("an inspector", &inspector, ["张**", "李*", "王**"]),
        ("an auditor", &auditor, ["张**", "李*", "王**"]),
    ];
    for (who, session, names) in readers {
        let response = ledger(&desk, session, Value::Null).await;
        let entries = expect_data(&response)["ledger"]["entries"]
            .as_array()
            .unwrap()
            .clone();
        let applicants: Vec<Value> = entries.iter().map(|e| e["applicant"].clone()).collect();
        assert_eq!(
            applicants,
            vec![
                json!("138****8001"),
                json!("居民（未绑定手机）"),
                json!(names[0]),
                json!(names[1]),
                json!(names[2]),
                Value::Null,
            ],
            "{who}"
        );
        assert!(
            !response.to_string().contains("13800138001"),
            "{who}: no plain phone"
        );
    }
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    let resident = desk.app.login_resident("with-phone").await;
    expect_error(&ledger(&desk, &other_town, Value::Null).await, "NOT_FOUND");
    expect_error(&ledger(&desk, &resident, Value::Null).await, "FORBIDDEN");

    let filters: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({"channel": "PHONE"}), vec![("phone", "consulted")]),
        (
            json!({"channel": "ONLINE"}),
            vec![("online", "booked"), ("online", "booked")],
        ),
        (json!({"outcome": "REFUSED"}), vec![("window", "refused")]),
        (
            json!({"outcome": "BOOKED"}),
            vec![("online", "booked"), ("online", "booked")],
        ),
        (json!({"channel": "WINDOW", "outcome": "SERVED"}), vec![]),
        (
            json!({"channel": "AGENT_ON_BEHALF", "outcome": "SERVED"}),
            vec![("agent_on_behalf", "served")],
        ),
        (json!({"outcome": "REFERRED"}), vec![("remote", "referred")]),
        (json!({"backfilled": true}), vec![]),
    ];
    for (filter, expected) in filters {
        let got: Vec<(String, String)> = ledger_entries(&desk, &auditor, filter.clone())
            .await
            .iter()
            .map(|e| (text(&e["channel"]), text(&e["outcome"])))
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(c, o)| (c.to_uppercase(), o.to_uppercase()))
            .collect();
        assert_eq!(got, want, "{filter}");
    }
    assert_eq!(
        ledger_entries(&desk, &auditor, json!({"backfilled": false}))
            .await
            .len(),
        6
    );
}

/// Splits one CSV line into its fields (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[tokio::test]
async fn the_ledger_exports_as_csv_with_bom_chinese_header_and_defused_formulas() {
    let desk = desk(1).await;
    let agent = agent(&desk, 0).await;
    let at = now(&desk.app);
    let mut refused = contact(&desk, "WINDOW", "REFUSED", Some("-2+3"));
    refused["reasonCode"] = json!("=1+1");
    let mut backfilled = contact(&desk, "REMOTE", "CONSULTED", Some("赵六"));
    backfilled["occurredAt"] = json!((at - Duration::hours(2)).trunc_subsecs(0).to_rfc3339());
    for input in [
        backfilled,
        contact(
            &desk,
            "PHONE",
            "CONSULTED",
            Some("=HYPERLINK(\"http://evil.example\",\"点我\")"),
        ),
        refused,
        contact(&desk, "AGENT_ON_BEHALF", "SERVED", Some("@SUM(A1:A9)")),
        contact(&desk, "PHONE", "REFERRED", Some("+8613800138000")),
    ] {
        record(&desk, &agent, input).await;
    }
    let auditor = desk
        .app
        .staff_session("auditor", Role::Auditor, COUNTY)
        .await;
    let export = |who: Session, filter: Value| {
        let at = now(&desk.app);
        let app = &desk.app;
        let point = desk.point.clone();
        async move {
            app.as_(&who, LEDGER_CSV, json!({"p": point, "f": (at - Duration::days(1)).to_rfc3339(), "t": (at + Duration::hours(1)).to_rfc3339(), "filter": filter}))
                .await
        }
    };

    let csv = text(&expect_data(&export(agent.clone(), Value::Null).await)["ledgerCsv"]);
    assert!(csv.starts_with('\u{feff}'), "UTF-8 BOM first");
    let lines: Vec<&str> = csv['\u{feff}'.len_utf8()..]
        .split_terminator("\r\n")
        .collect();
    assert_eq!(
        lines[0],
        "时间,服务点,渠道,申请人,事项,结果,原因代码,经办人,补录,录入时间"
    );
    let entries = ledger_entries(&desk, &agent, Value::Null).await;
    assert_eq!(lines.len(), entries.len() + 1, "{csv}");
    assert_eq!(entries.len(), 5);
    for (line, entry) in lines[1..].iter().zip(&entries) {
        let fields = csv_fields(line);
        assert_eq!(fields.len(), 10, "{line}");
        for field in &fields {
            assert!(
                !field.starts_with(['=', '+', '-', '@']),
                "a cell that a spreadsheet would evaluate: {field:?} in {line}"
            );
        }
        let occurred = instant(&entry["occurredAt"]).with_timezone(&CHINA);
        assert_eq!(fields[0], occurred.format("%Y-%m-%d %H:%M").to_string());
        assert!(!fields[1].is_empty(), "the point's name: {line}");
        assert_eq!(fields[2], text(&entry["channel"]).to_lowercase());
        assert_eq!(
            fields[3].trim_start_matches('\''),
            text(&entry["applicant"]),
            "the applicant, defused"
        );
        assert_eq!(fields[5], text(&entry["outcome"]).to_lowercase());
        assert_eq!(
            fields[6].trim_start_matches('\''),
            entry["reasonCode"].as_str().unwrap_or("")
        );
        assert_eq!(
            fields[8],
            if entry["backfilled"] == true {
                "是"
            } else {
                "否"
            }
        );
        let entered = instant(&entry["enteredAt"]).with_timezone(&CHINA);
        assert_eq!(fields[9], entered.format("%Y-%m-%d %H:%M").to_string());
    }
    let applicants: Vec<String> = lines[1..]
        .iter()
        .map(|l| csv_fields(l)[3].clone())
        .collect();
    assert_eq!(
        applicants,
        [
            "赵六",
            "'=HYPERLINK(\"http://evil.example\",\"点我\")",
            "'-2+3",
            "'@SUM(A1:A9)",
            "'+8613800138000",
        ]
    );
    assert_eq!(csv_fields(lines[3])[6], "'=1+1");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"点我\"\")\""),
        "quoted as RFC 4180: {csv}"
    );

    // The auditor's export is masked, and filters apply.
    let masked = text(&expect_data(&export(auditor.clone(), Value::Null).await)["ledgerCsv"]);
    assert!(
        !masked.contains("赵六") && masked.contains("赵*"),
        "{masked}"
    );
    assert!(!masked.contains("HYPERLINK"), "{masked}");
    let phone_only = text(
        &expect_data(&export(auditor.clone(), json!({"channel": "PHONE"})).await)["ledgerCsv"],
    );
    let phone_lines: Vec<&str> = phone_only.split_terminator("\r\n").collect();
    assert_eq!(phone_lines.len(), 3, "{phone_only}");
    assert!(phone_lines[1..].iter().all(|l| csv_fields(l)[2] == "phone"));
    let backfilled_only =
        text(&expect_data(&export(agent.clone(), json!({"backfilled": true})).await)["ledgerCsv"]);
    let rows: Vec<&str> = backfilled_only.split_terminator("\r\n").skip(1).collect();
    assert_eq!(rows.len(), 1, "{backfilled_only}");
    assert_eq!(csv_fields(rows[0])[3], "赵六");
    assert_eq!(csv_fields(rows[0])[8], "是");

    let resident = desk.app.login_resident("curious").await;
    let other_town = desk
        .app
        .staff_session("zc.admin", Role::TownshipAdmin, OTHER_TOWN)
        .await;
    expect_error(&export(resident, Value::Null).await, "FORBIDDEN");
    expect_error(&export(other_town, Value::Null).await, "NOT_FOUND");
}
