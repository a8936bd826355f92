//! `schema.graphql` at the repository root is generated from the code and must not drift.
//! `UPDATE_SCHEMA=1 cargo test --test api schema` rewrites it.
use std::path::PathBuf;

#[test]
fn the_committed_schema_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let generated = bangban_server::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test --test api schema` and commit it"
    );
}

/// The README's case flowcharts (附件1) are generated from the cases' state machines and must
/// not drift; `UPDATE_SCHEMA=1` rewrites them.
#[test]
fn the_readme_case_diagrams_match_the_state_machines() {
    use bangban_server::cases::{model::CaseKind, state::mermaid};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let mut updated = readme.clone();
    for kind in [CaseKind::Help, CaseKind::Proxy] {
        let open = format!("<!-- case-diagram: {} -->\n", kind.as_str());
        let close = "<!-- /case-diagram -->";
        let start = updated
            .find(&open)
            .unwrap_or_else(|| panic!("README.md lacks {open}"))
            + open.len();
        let end = start + updated[start..].find(close).expect("the closing marker");
        updated.replace_range(start..end, &format!("```mermaid\n{}```\n", mermaid(kind)));
    }
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &updated).expect("write README.md");
        return;
    }
    assert!(
        readme == updated,
        "the README's case diagrams are out of date: run `UPDATE_SCHEMA=1 cargo test --test api schema` and commit it"
    );
}

/// Every type, field, argument, input field and enum value of the API has a description for
/// the mini-program's developers (the schema reads like a manual).
#[tokio::test]
async fn every_part_of_the_schema_is_described() {
    let schema =
        bangban_server::graphql::build_schema(&bangban_server::config::Settings::default(), None);
    let response = schema
        .execute(
            "{ __schema { types { name kind description \
               fields(includeDeprecated: true) { name description args { name description } } \
               inputFields { name description } \
               enumValues(includeDeprecated: true) { name description } } } }",
        )
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let described = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap_or_default();
        // The introspection types and the built-in scalars are described by the GraphQL spec.
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_string());
        }
        let none = Vec::new();
        for field in ty["fields"].as_array().unwrap_or(&none) {
            let field_name = field["name"].as_str().unwrap_or_default();
            if !described(field) {
                missing.push(format!("{name}.{field_name}"));
            }
            for arg in field["args"].as_array().unwrap_or(&none) {
                if !described(arg) {
                    missing.push(format!(
                        "{name}.{field_name}({})",
                        arg["name"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
        for field in ty["inputFields"].as_array().unwrap_or(&none) {
            if !described(field) {
                missing.push(format!(
                    "{name}.{}",
                    field["name"].as_str().unwrap_or_default()
                ));
            }
        }
        for value in ty["enumValues"].as_array().unwrap_or(&none) {
            if !described(value) {
                missing.push(format!(
                    "{name}::{}",
                    value["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} part(s) of the schema have no description (add a `///` comment):\n{}",
        missing.len(),
        missing.join("\n")
    );
}
