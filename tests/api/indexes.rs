//! Every lookup the event road makes on every relay step is served by an index: tables that
//! only grow (events, their audiences, the outbox) must never be scanned whole, or each step
//! costs more than the last (measured on the fan-out benchmark: the outbox marked published by
//! `event_seq`, and the audiences read by it, were sequential scans of every row ever written).
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::helpers::TestApp;

/// The first column of each index on `table`.
async fn leading_columns(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
             WHERE c.relname = $1"
        }
        _ => {
            "SELECT ii.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii \
             WHERE ii.seqno = 0"
        }
    };
    db.query_all_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn the_relays_lookups_by_event_are_served_by_an_index() {
    let app = TestApp::spawn().await;
    // (table, column): the relay's per-step lookups that name an event by its sequence.
    for (table, column) in [
        // Marking a batch published.
        ("outbox", "event_seq"),
        // The audiences of the events a step publishes (and of a replay's page).
        ("event_audience", "event_seq"),
        // Picking the next events to publish, in position order.
        ("events", "position"),
        // The unpublished outbox rows.
        ("outbox", "published_at"),
    ] {
        let leading = leading_columns(&app.state.db, table).await;
        assert!(
            leading.iter().any(|c| c == column),
            "no index on {table} leads with {column} (indexes lead with {leading:?})"
        );
    }
}
