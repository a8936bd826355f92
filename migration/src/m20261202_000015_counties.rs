//! One deployment serves many counties. Every region knows its county (a county is its own;
//! a level above the county, when there is one, has none), and the rows a county admin reads
//! are tagged with the county they belong to: catalogue items (each county keeps its own
//! catalogue), booking restrictions (the no-show rule is a county's rule) and audit rows (a
//! county's auditors read their county's log). Existing rows go to the county they lie in; rows
//! with no region of their own go to the county (before this, the product served one county per
//! deployment). A database that already holds several counties and such rows is refused with a
//! clear error rather than guessed at: nothing tells whose they are.
//! The audit tag is a reading scope, not part of the hash chain: old rows still verify.
use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables that gain a `county_id`, with the index each one's reads need.
const TABLES: [(&str, &str); 4] = [
    ("regions", "idx_regions_county"),
    ("items", "idx_items_county"),
    ("booking_restrictions", "idx_booking_restrictions_county"),
    ("audit_log", "idx_audit_log_county"),
];

const OLDEST_COUNTY: &str =
    "(SELECT c.id FROM regions c WHERE c.level = 'county' ORDER BY c.created_at, c.id LIMIT 1)";

/// Several counties and rows that name none: which county owns an existing catalogue item, a
/// restriction or a system's audit row cannot be told, so the migration stops before its first
/// write.
/// Returns the SQL naming the county that receives the rows naming none: the only county, or
/// the one whose code `BANGBAN_MIGRATE_UNOWNED_TO` gives.
async fn owner_of_unowned_rows(db: &SchemaManagerConnection<'_>) -> Result<String, DbErr> {
    if let Ok(code) = std::env::var("BANGBAN_MIGRATE_UNOWNED_TO") {
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(DbErr::Migration(format!(
                "BANGBAN_MIGRATE_UNOWNED_TO must be a county's six-digit code, not {code:?}"
            )));
        }
        let owner =
            format!("(SELECT c.id FROM regions c WHERE c.level = 'county' AND c.code = '{code}')");
        // A code naming no county would leave the rows without one: refuse it instead.
        let found = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) FROM regions WHERE level = 'county' AND code = '{code}'"),
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if found != 1 {
            return Err(DbErr::Migration(format!(
                "BANGBAN_MIGRATE_UNOWNED_TO names {code}, which is no county of this database"
            )));
        }
        return Ok(owner);
    }
    refuse_to_guess(db).await?;
    Ok(OLDEST_COUNTY.to_string())
}

async fn refuse_to_guess(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let count = |sql: &'static str| async move {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?;
        Ok::<i64, DbErr>(match row {
            Some(row) => row.try_get_by_index::<i64>(0)?,
            None => 0,
        })
    };
    let counties = count("SELECT COUNT(*) FROM regions WHERE level = 'county'").await?;
    if counties <= 1 {
        return Ok(());
    }
    let unowned = count(
        "SELECT (SELECT COUNT(*) FROM items) + (SELECT COUNT(*) FROM booking_restrictions) \
         + (SELECT COUNT(*) FROM audit_log WHERE actor_kind <> 'staff')",
    )
    .await?;
    if unowned == 0 {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "this database holds {counties} counties and {unowned} catalogue items, restrictions or \
         system audit rows that name no county, and cannot tell whose they are: set \
         BANGBAN_MIGRATE_UNOWNED_TO to the code of the county that owns them and migrate again \
         (then move any that belong to another county), or give each county its own database"
    )))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let owner = owner_of_unowned_rows(manager.get_connection()).await?;
        for (table, index) in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("county_id")).uuid().null())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(index)
                        .table(Alias::new(table))
                        .col(Alias::new("county_id"))
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        // A region lies in the county whose path starts its own.
        db.execute_unprepared(
            "UPDATE regions SET county_id = (SELECT c.id FROM regions c \
             WHERE c.level = 'county' AND regions.path LIKE c.path || '%')",
        )
        .await?;
        // A staff member's audit rows go to their unit's county.
        db.execute_unprepared(
            "UPDATE audit_log SET county_id = (SELECT r.county_id FROM staff_accounts s \
             JOIN regions r ON r.id = s.unit_id \
             WHERE audit_log.actor_kind = 'staff' AND s.id = audit_log.actor_id)",
        )
        .await?;
        for table in ["items", "booking_restrictions", "audit_log"] {
            db.execute_unprepared(&format!(
                "UPDATE {table} SET county_id = {owner} WHERE county_id IS NULL"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("county_id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
