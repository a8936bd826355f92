//! A case's latest steps kept on its row, for the lists: `latest_steps` (the last three steps,
//! for staff) and `latest_public_steps` (the last three with a public note, for the
//! applicant), each a JSON array newest first, rewritten in the transaction that writes a
//! step. A list then reads a page of cases with their steps in one statement.
//!
//! Both columns are nullable (no table rewrite on PostgreSQL 11 or later). A case written
//! before this migration has NULL there until its next step; readers then read its steps from
//! `case_steps`, as before. A trigger forgets what a row keeps (sets both NULL) whenever a step
//! of it is written, changed or removed, before the writer rewrites it: a writer that does not
//! (a binary of before this migration, still running during a rolling upgrade or after a
//! rollback) leaves the case read from `case_steps`, never stale.
use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DbBackend},
};

/// The trigger's statements on each backend (PostgreSQL: one function, one trigger for the
/// three events; SQLite: one trigger per event).
fn forget_kept(backend: DbBackend) -> Vec<&'static str> {
    match backend {
        DbBackend::Postgres => vec![
            r#"CREATE OR REPLACE FUNCTION "case_steps_forget_kept"() RETURNS trigger
               LANGUAGE plpgsql AS $$
               BEGIN
                 IF TG_OP = 'DELETE' OR TG_OP = 'UPDATE' THEN
                   UPDATE "cases" SET "latest_steps" = NULL, "latest_public_steps" = NULL
                     WHERE "id" = OLD."case_id";
                 END IF;
                 IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
                   UPDATE "cases" SET "latest_steps" = NULL, "latest_public_steps" = NULL
                     WHERE "id" = NEW."case_id";
                 END IF;
                 RETURN NULL;
               END $$"#,
            r#"CREATE TRIGGER "case_steps_forget_kept" AFTER INSERT OR UPDATE OR DELETE
               ON "case_steps" FOR EACH ROW EXECUTE FUNCTION "case_steps_forget_kept"()"#,
        ],
        _ => {
            vec![
                r#"CREATE TRIGGER "case_steps_forget_kept_insert" AFTER INSERT ON "case_steps"
                   BEGIN UPDATE "cases" SET "latest_steps" = NULL, "latest_public_steps" = NULL
                   WHERE "id" = NEW."case_id"; END"#,
                r#"CREATE TRIGGER "case_steps_forget_kept_update" AFTER UPDATE ON "case_steps"
                   BEGIN UPDATE "cases" SET "latest_steps" = NULL, "latest_public_steps" = NULL
                   WHERE "id" IN (OLD."case_id", NEW."case_id"); END"#,
                r#"CREATE TRIGGER "case_steps_forget_kept_delete" AFTER DELETE ON "case_steps"
                   BEGIN UPDATE "cases" SET "latest_steps" = NULL, "latest_public_steps" = NULL
                   WHERE "id" = OLD."case_id"; END"#,
            ]
        }
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cases {
    Table,
    LatestSteps,
    LatestPublicSteps,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Cases::LatestSteps, Cases::LatestPublicSteps] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cases::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for statement in forget_kept(db.get_database_backend()) {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let drops: &[&str] = match db.get_database_backend() {
            DbBackend::Postgres => &[
                r#"DROP TRIGGER IF EXISTS "case_steps_forget_kept" ON "case_steps""#,
                r#"DROP FUNCTION IF EXISTS "case_steps_forget_kept"()"#,
            ],
            _ => &[
                r#"DROP TRIGGER IF EXISTS "case_steps_forget_kept_insert""#,
                r#"DROP TRIGGER IF EXISTS "case_steps_forget_kept_update""#,
                r#"DROP TRIGGER IF EXISTS "case_steps_forget_kept_delete""#,
            ],
        };
        for statement in drops {
            db.execute_unprepared(statement).await?;
        }
        for column in [Cases::LatestPublicSteps, Cases::LatestSteps] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cases::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
