//! Comments answered before their content-check state existed get one: a comment kept hidden
//! (`"unchecked":true` in the kept answers, or the older `_comments_unchecked` key) is
//! `unchecked`, so the job checks it; any other comment is `published`. (Only the text answer
//! can be kept hidden, and a quote inside an answer is escaped, so the patterns match fields
//! only.) Indexes for the jobs that look for work: comments waiting, anonymous ratings' audit
//! entries due.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallbackTasks {
    Table,
    CommentState,
}

#[derive(DeriveIden)]
enum Ratings {
    Table,
    AuditPending,
    RatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            r#"UPDATE callback_tasks SET comment_state = 'unchecked'
               WHERE comment_state = 'none'
                 AND (answers LIKE '%"unchecked":true%' OR answers LIKE '%"_comments_unchecked"%')"#,
        )
        .await?;
        db.execute_unprepared(
            r#"UPDATE callback_tasks SET comment_state = 'published'
               WHERE comment_state = 'none'
                 AND (answers LIKE '%"kind":"text"%' OR answers LIKE '%"comments":"%')"#,
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_callback_tasks_comment_state")
                    .table(CallbackTasks::Table)
                    .col(CallbackTasks::CommentState)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ratings_audit_pending")
                    .table(Ratings::Table)
                    .col(Ratings::AuditPending)
                    .col(Ratings::RatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_ratings_audit_pending")
                    .table(Ratings::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_callback_tasks_comment_state")
                    .table(CallbackTasks::Table)
                    .to_owned(),
            )
            .await
    }
}
