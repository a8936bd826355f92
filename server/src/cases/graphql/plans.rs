//! Cases in the API: the plan of a complex matter (申报计划) and its milestones.
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use entity::case_milestones;

use crate::{
    cases::plans::{self, MilestoneInput as NewMilestone},
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// A milestone of a case's plan.
pub struct Milestone(pub case_milestones::Model, pub NaiveDate);

/// A milestone of a case's plan (申报计划节点).
#[Object]
impl Milestone {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its place in the plan, from 1.
    async fn seq(&self) -> i32 {
        self.0.seq
    }
    /// What is to be done.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Working days from the plan's start.
    async fn working_days(&self) -> i32 {
        self.0.working_days
    }
    /// The last working day for it.
    async fn due_on(&self) -> NaiveDate {
        self.0.due_on
    }
    /// When the applicant acknowledged it; null until then.
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    /// When it was done.
    async fn done_at(&self) -> Option<DateTime<Utc>> {
        self.0.done_at
    }
    /// Past its due day and not done.
    async fn overdue(&self) -> bool {
        self.0.done_at.is_none() && self.1 > self.0.due_on
    }
    /// A progress report to the county centre is due with it.
    async fn report_to_county(&self) -> bool {
        self.0.report_to_county
    }
    /// When the report reached the county centre.
    async fn reported_at(&self) -> Option<DateTime<Utc>> {
        self.0.reported_at
    }
    /// The report to the county centre is due and missing.
    async fn report_overdue(&self) -> bool {
        plans::report_overdue(&self.0, self.1)
    }
}

/// A milestone as agreed.
#[derive(InputObject)]
pub struct MilestoneInput {
    /// What is to be done, 1–100 characters.
    pub title: String,
    /// Working days from the plan's start (today), 1–365, not before the previous milestone's.
    pub working_days: i32,
    /// A progress report to the county centre is due with it.
    #[graphql(default = false)]
    pub report_to_county: bool,
}

pub(crate) fn milestones(ctx: &Context<'_>, rows: Vec<case_milestones::Model>) -> Vec<Milestone> {
    let today = crate::clock::local_date(ctx.state().clock.now());
    rows.into_iter().map(|m| Milestone(m, today)).collect()
}

/// Part of `CaseMutation`.
#[derive(Default)]
pub struct PlansMutation;

#[Object]
impl PlansMutation {
    /// The holding unit's staff: sets the plan of an accepted open case (again, until the
    /// applicant acknowledges a milestone of it).
    async fn set_case_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "The milestones in order (1–30).")] milestones: Vec<MilestoneInput>,
    ) -> GqlResult<Vec<Milestone>> {
        let id = parse_id(&case_id, "caseId")?;
        let input = milestones
            .into_iter()
            .map(|m| NewMilestone {
                title: m.title,
                working_days: m.working_days,
                report_to_county: m.report_to_county,
            })
            .collect();
        let rows = plans::set_plan(ctx.state(), ctx.viewer(), id, input).await?;
        Ok(self::milestones(ctx, rows))
    }

    /// The applicant: acknowledges a milestone of their plan.
    async fn acknowledge_milestone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The milestone.")] milestone_id: ID,
    ) -> GqlResult<Milestone> {
        let id = parse_id(&milestone_id, "milestoneId")?;
        let row = plans::acknowledge(ctx.state(), ctx.viewer(), id).await?;
        Ok(self::milestones(ctx, vec![row]).remove(0))
    }

    /// The holding unit's staff: records progress on a milestone (pushed to the applicant).
    async fn record_milestone_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The milestone.")] milestone_id: ID,
        #[graphql(desc = "What happened, 1–1000 characters (the applicant reads it).")]
        note: String,
        #[graphql(default = false, desc = "The milestone is done.")] done: bool,
    ) -> GqlResult<Milestone> {
        let id = parse_id(&milestone_id, "milestoneId")?;
        let row = plans::record_progress(ctx.state(), ctx.viewer(), id, &note, done).await?;
        Ok(self::milestones(ctx, vec![row]).remove(0))
    }

    /// The holding unit's staff: the milestone's progress report reached the county centre.
    async fn report_milestone_to_county(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The milestone.")] milestone_id: ID,
    ) -> GqlResult<Milestone> {
        let id = parse_id(&milestone_id, "milestoneId")?;
        let row = plans::report_to_county(ctx.state(), ctx.viewer(), id).await?;
        Ok(self::milestones(ctx, vec![row]).remove(0))
    }
}
