//! One deployment serves many counties. Every region knows its county (a county is its own;
//! a level above the county, when there is one, has none), and the rows a county admin reads
//! are tagged with the county they belong to: catalogue items (each county keeps its own
//! catalogue), booking restrictions (the no-show rule is a county's rule) and audit rows (a
//! county's auditors read their county's log). Existing rows go to the county they lie in; rows
//! with no region of their own go to the oldest county (before this, a deployment served one).
//! The audit tag is a reading scope, not part of the hash chain: old rows still verify.
use sea_orm_migration::prelude::*;

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
                "UPDATE {table} SET county_id = {OLDEST_COUNTY} WHERE county_id IS NULL"
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
