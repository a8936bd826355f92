//! Referential integrity for the booking desk and the push tables: the id columns that name a
//! row elsewhere get a foreign key (all but two, see `KEYS`), `ON DELETE RESTRICT` (bookings, ledger entries and the rest
//! are records: nothing they name may disappear under them; staff and residents are deactivated,
//! never deleted).
//!
//! Before anything changes, every prospective key is checked for orphan rows; if there are any,
//! the migration stops with a report of each (table, column, count, and a query that lists
//! them) and changes nothing, so an operator decides what they are instead of a migration
//! deleting records. PostgreSQL adds the constraints in place; SQLite cannot, so each table is
//! rebuilt from its own definition with the keys appended (parents before children, indexes
//! recreated), inside the migration's one transaction. Indexes are added where lookups follow
//! a key (a point's bookings, a resident's waitlist entries and tickets, a booking's ledger).
use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Child tables in rebuild order (a table's parents come before it), with (column, parent).
/// The parent key is `id`; a column list `a, b` names the parent's `id, b` (a booking's slot
/// *and* the point that slot belongs to).
///
/// Not keyed, on purpose: the catalogue item and the service point of each booking, waitlist
/// entry and ledger entry. On PostgreSQL a key check locks the parent row (`FOR KEY SHARE`)
/// until the commit, and every booking at a point, or of a popular item, would lock the same
/// row: measured on the spread benchmark, these keys cost about a quarter of its bookings per
/// second. The point is held through the slot instead (the composite key), and items are
/// never deleted (nothing in the server deletes a catalogue row).
const KEYS: &[(&str, &[(&str, &str)])] = &[
    ("slots", &[("service_point_id", "service_points")]),
    (
        "booking_policies",
        &[("service_point_id", "service_points")],
    ),
    (
        "bookings",
        &[
            ("slot_id, service_point_id", "slots"),
            ("user_id", "users"),
            ("reviewed_by", "staff_accounts"),
            ("created_by", "staff_accounts"),
            // The slot its last reschedule moved it from (a booking moves in place).
            ("rescheduled_from", "slots"),
        ],
    ),
    // Its `user_id` is the acting person (a resident, or staff booking on one's behalf): no key.
    ("idempotency_keys", &[("booking_id", "bookings")]),
    (
        "ledger_entries",
        &[
            ("booking_id", "bookings"),
            ("user_id", "users"),
            ("agent_id", "staff_accounts"),
            ("entered_by", "staff_accounts"),
        ],
    ),
    (
        "queue_tickets",
        &[
            ("service_point_id", "service_points"),
            ("booking_id", "bookings"),
            ("user_id", "users"),
            ("checked_in_by", "staff_accounts"),
            ("called_by", "staff_accounts"),
        ],
    ),
    (
        "waitlist_entries",
        &[
            ("slot_id, service_point_id", "slots"),
            ("user_id", "users"),
            ("booking_id", "bookings"),
        ],
    ),
    (
        "booking_restrictions",
        &[("user_id", "users"), ("decided_by", "staff_accounts")],
    ),
    (
        "staff_duty_days",
        &[("staff_id", "staff_accounts"), ("set_by", "staff_accounts")],
    ),
    ("push_consents", &[("user_id", "users")]),
    (
        "push_deliveries",
        &[("event_id", "events"), ("user_id", "users")],
    ),
];

/// (name, table, column): lookups that follow a key and had no index leading with it.
const INDEXES: &[(&str, &str, &str)] = &[
    ("idx_bookings_point", "bookings", "service_point_id"),
    ("idx_ledger_booking", "ledger_entries", "booking_id"),
    ("idx_waitlist_user", "waitlist_entries", "user_id"),
    ("idx_queue_user", "queue_tickets", "user_id"),
];

/// Keys checked at commit, not per statement: the idempotency key is claimed, naming its
/// booking, before the booking is written in the same transaction.
const DEFERRED: &[(&str, &str)] = &[("idempotency_keys", "booking_id")];

fn key_name(table: &str, column: &str) -> String {
    format!("fk_{table}_{}", column.split(", ").next().unwrap_or(column))
}

/// The child's columns and the parent's, quoted and comma-separated.
fn key_columns(column: &str) -> (String, String) {
    let child: Vec<&str> = column.split(", ").collect();
    let parent: Vec<&str> = std::iter::once("id")
        .chain(child[1..].iter().copied())
        .collect();
    let quote = |cols: &[&str]| {
        cols.iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (quote(&child), quote(&parent))
}

fn key_clause(table: &str, column: &str, parent: &str) -> String {
    let deferred = if DEFERRED.contains(&(table, column)) {
        " DEFERRABLE INITIALLY DEFERRED"
    } else {
        ""
    };
    let (child, parent_key) = key_columns(column);
    format!(
        ", CONSTRAINT \"{}\" FOREIGN KEY ({child}) REFERENCES \"{parent}\" ({parent_key}) ON DELETE RESTRICT{deferred}",
        key_name(table, column)
    )
}

/// The query that lists a key's orphans: rows naming a parent that does not exist.
fn orphans_query(table: &str, column: &str, parent: &str) -> String {
    let child: Vec<&str> = column.split(", ").collect();
    let matches = std::iter::once(format!("p.\"id\" = c.\"{}\"", child[0]))
        .chain(child[1..].iter().map(|c| format!("p.\"{c}\" = c.\"{c}\"")))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "SELECT * FROM \"{table}\" c WHERE c.\"{}\" IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM \"{parent}\" p WHERE {matches})",
        child[0]
    )
}

/// Every key's orphan count; an error naming each one that has any.
pub async fn report_orphans(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for (table, keys) in KEYS {
        for (column, parent) in *keys {
            let query = orphans_query(table, column, parent);
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM ({query}) o"),
                ))
                .await?;
            let count: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
            if count > 0 {
                found.push(format!(
                    "  {table}.{column} -> {parent}.id: {count} row(s); list them with: {query}"
                ));
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "cannot add foreign keys: some rows name rows that do not exist (nothing was changed; \
         decide what each is, repair or remove it, and start again):\n{}",
        found.join("\n")
    )))
}

async fn execute(db: &impl ConnectionTrait, sql: String) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(|_| ())
}

async fn sqlite_definition(
    db: &impl ConnectionTrait,
    kind: &str,
    table: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL \
             ORDER BY name",
            [kind.into(), table.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "sql"))
        .collect()
}

/// Rebuilds one SQLite table with `edit` applied to its column list (the text between the
/// outer parentheses of its CREATE TABLE); rows, indexes and the name are kept. A key to the
/// table itself is written against the new name, which the rename then carries.
async fn rebuild_sqlite_table(
    db: &impl ConnectionTrait,
    table: &str,
    edit: impl FnOnce(&str) -> String,
) -> Result<(), DbErr> {
    let create = sqlite_definition(db, "table", table)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| DbErr::Migration(format!("no table {table}")))?;
    let indexes = sqlite_definition(db, "index", table).await?;
    let open = create
        .find('(')
        .ok_or_else(|| DbErr::Migration(format!("cannot read the definition of {table}")))?;
    let close = create
        .rfind(')')
        .ok_or_else(|| DbErr::Migration(format!("cannot read the definition of {table}")))?;
    let columns = edit(&create[open + 1..close]);
    let staging = format!("{table}__rebuild");
    let columns = columns.replace(
        &format!("REFERENCES \"{table}\" "),
        &format!("REFERENCES \"{staging}\" "),
    );
    execute(db, format!("CREATE TABLE \"{staging}\" ({columns})")).await?;
    execute(
        db,
        format!("INSERT INTO \"{staging}\" SELECT * FROM \"{table}\""),
    )
    .await?;
    execute(db, format!("DROP TABLE \"{table}\"")).await?;
    execute(
        db,
        format!("ALTER TABLE \"{staging}\" RENAME TO \"{table}\""),
    )
    .await?;
    for index in indexes {
        execute(db, index).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on both backends: a failure leaves the schema as it was.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        report_orphans(db).await?;
        // The parent key of the composite keys: a slot together with its point.
        execute(
            db,
            "CREATE UNIQUE INDEX \"uq_slots_id_point\" ON \"slots\" (\"id\", \"service_point_id\")"
                .into(),
        )
        .await?;
        for (table, keys) in KEYS {
            match db.get_database_backend() {
                DbBackend::Sqlite => {
                    rebuild_sqlite_table(db, table, |columns| {
                        let mut columns = columns.trim_end().to_string();
                        for (column, parent) in *keys {
                            columns.push_str(&key_clause(table, column, parent));
                        }
                        columns
                    })
                    .await?;
                }
                _ => {
                    for (column, parent) in *keys {
                        let clause = key_clause(table, column, parent);
                        let constraint = clause.trim_start_matches(", ");
                        execute(db, format!("ALTER TABLE \"{table}\" ADD {constraint}")).await?;
                    }
                }
            }
        }
        for (name, table, column) in INDEXES {
            execute(
                db,
                format!("CREATE INDEX \"{name}\" ON \"{table}\" (\"{column}\")"),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _, _) in INDEXES {
            execute(db, format!("DROP INDEX \"{name}\"")).await?;
        }
        let after_keys = "DROP INDEX \"uq_slots_id_point\"".to_string();
        for (table, keys) in KEYS.iter().rev() {
            match db.get_database_backend() {
                DbBackend::Sqlite => {
                    rebuild_sqlite_table(db, table, |columns| {
                        let mut columns = columns.to_string();
                        for (column, parent) in *keys {
                            // Written against the staging name by the rebuild of `up`, and
                            // renamed back since: remove the clause whichever it names.
                            columns = columns.replace(&key_clause(table, column, parent), "");
                        }
                        columns
                    })
                    .await?;
                }
                _ => {
                    for (column, _) in *keys {
                        execute(
                            db,
                            format!(
                                "ALTER TABLE \"{table}\" DROP CONSTRAINT \"{}\"",
                                key_name(table, column)
                            ),
                        )
                        .await?;
                    }
                }
            }
        }
        execute(db, after_keys).await
    }
}
