//! The README's "Try it" walkthrough, run exactly as written against the embedded default with
//! its demo county and demo staff: every `graphql` block that follows a `<!-- try-it: … -->`
//! line is sent in order. The comment says whose token it carries (`as=`), which values from
//! earlier answers it takes as variables (`vars=`), and which answers it keeps (`save=name=path`,
//! a dotted path into `data`, numbers indexing lists). A block that errors fails the test, so the
//! walkthrough cannot drift from the API.
use std::collections::BTreeMap;

use bangban_server::clock::Clock;
use chrono::{Duration, NaiveTime, TimeZone};
use serde_json::{Map, Value, json};

use crate::helpers::{Options, TestApp};

/// One step of the walkthrough.
struct Step {
    directive: String,
    query: String,
}

fn steps(readme: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(directive) = line
            .trim()
            .strip_prefix("<!-- try-it:")
            .and_then(|d| d.strip_suffix("-->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```graphql"),
            "a try-it comment is followed by a graphql block"
        );
        let query: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        steps.push(Step {
            directive: directive.trim().to_string(),
            query: query.join("\n"),
        });
    }
    steps
}

fn at<'a>(data: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(data, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[key],
        })
}

#[tokio::test]
async fn the_readme_walkthrough_books_accepts_checks_in_and_calls_a_number() {
    let app = TestApp::spawn_with(Options {
        demo: true,
        demo_staff: true,
        ..Options::default()
    })
    .await;
    let demo = app.demo_staff.clone().expect("demo staff");
    // The reader's morning: 07:30 on the next working day, so the first slot (from 09:00) can
    // be booked (an hour's notice) and checked in to (three hours before) without waiting.
    let today = bangban_server::clock::local_date(app.clock.now());
    let next = app
        .graphql(
            None,
            "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 1) { date } }",
            json!({"d": today.to_string()}),
        )
        .await;
    let day: chrono::NaiveDate = next["data"]["addWorkingDays"]["date"]
        .as_str()
        .unwrap_or_else(|| panic!("next working day: {next}"))
        .parse()
        .unwrap();
    let morning = bangban_server::clock::CHINA
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(7, 30, 0).unwrap()))
        .unwrap();
    app.clock.set(morning.with_timezone(&chrono::Utc));

    let mut saved: BTreeMap<String, Value> = BTreeMap::new();
    saved.insert("from".into(), json!(day.to_string()));
    saved.insert("to".into(), json!((day + Duration::days(7)).to_string()));
    saved.insert("password".into(), json!(demo.password));
    let steps = steps(include_str!("../../README.md"));
    assert!(steps.len() >= 9, "the walkthrough has its steps");
    for step in &steps {
        let mut token = None;
        let mut variables = Map::new();
        let mut saves = Vec::new();
        let mut saving = false;
        for part in step.directive.split_whitespace() {
            // `save` is followed by the `name=path` pairs to keep.
            if part == "save" {
                saving = true;
                continue;
            }
            let (key, value) = part.split_once('=').expect("key=value");
            if saving {
                saves.push(part.to_string());
                continue;
            }
            match key {
                "as" if value == "anonymous" => {}
                "as" => {
                    token = Some(
                        saved
                            .get(value)
                            .and_then(Value::as_str)
                            .unwrap_or_else(|| panic!("no token {value} yet"))
                            .to_string(),
                    )
                }
                "vars" => {
                    for name in value.split(',') {
                        let v = saved
                            .get(name)
                            .unwrap_or_else(|| panic!("no value {name} yet"));
                        variables.insert(name.to_string(), v.clone());
                    }
                }
                other => panic!("unknown try-it key {other}"),
            }
        }
        let answer = app
            .graphql(token.as_deref(), &step.query, Value::Object(variables))
            .await;
        assert!(
            answer.get("errors").is_none(),
            "step `{}` failed: {answer}",
            step.directive
        );
        for save in saves {
            let (name, path) = save.split_once('=').expect("name=path");
            let value = at(&answer["data"], path);
            assert!(!value.is_null(), "step `{}` gave no {path}", step.directive);
            saved.insert(name.to_string(), value.clone());
        }
    }
    // The number called is the one the resident got at check-in.
    assert_eq!(saved["called"], saved["label"]);
}
