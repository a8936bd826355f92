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
