//! The calendar in the API: public day lists and working-day arithmetic; admin edits.
use async_graphql::{Context, Object, SimpleObject};
use chrono::NaiveDate;

use crate::{
    calendar::service,
    graphql::context::{ContextExt, GqlResult},
};

/// One day of the working calendar (工作日历).
#[derive(SimpleObject)]
pub struct CalendarDayType {
    /// The calendar day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// True on working days, including 调休 make-up working weekends.
    pub is_workday: bool,
    /// The holiday, or `…调休上班` on a make-up working day.
    pub name: Option<String>,
    /// True when the year's official table is not published yet (Monday–Friday assumed).
    pub provisional: bool,
}

/// A date computed on the working calendar.
#[derive(SimpleObject)]
pub struct WorkingDate {
    /// The resulting date, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// True when the computation crossed a year whose table is not published yet.
    pub provisional: bool,
}

/// A count of working days.
#[derive(SimpleObject)]
pub struct WorkingDayCount {
    /// Number of working days (工作日); negative when `to` is before `from`.
    pub days: i64,
    /// True when the count crossed a year whose table is not published yet.
    pub provisional: bool,
}

/// Working-calendar queries (工作日历); public, no login needed.
#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// Days from `from` to `to` inclusive (at most 366), with holidays and 调休. No login needed.
    async fn calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day, inclusive.")] from: NaiveDate,
        #[graphql(desc = "Last day, inclusive; at most 366 days after `from`.")] to: NaiveDate,
    ) -> GqlResult<Vec<CalendarDayType>> {
        Ok(service::days(&ctx.state().db, from, to)
            .await?
            .into_iter()
            .map(|(d, provisional)| CalendarDayType {
                date: d.date,
                is_workday: d.is_workday,
                name: d.name,
                provisional,
            })
            .collect())
    }

    /// The date `days` working days after `date` (negative: before). E.g. a 承诺件 due date.
    async fn add_working_days(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The start date (not itself counted).")] date: NaiveDate,
        #[graphql(desc = "Working days to add, -3650 to 3650; negative counts backwards.")]
        days: i32,
    ) -> GqlResult<WorkingDate> {
        if !(-3650..=3650).contains(&days) {
            return Err(crate::error::AppError::bad_input(
                "days",
                "at most 3650 working days either way",
            )
            .into());
        }
        let calendar = service::load(&ctx.state().db).await?;
        let result = calendar.add_working_days(date, i64::from(days));
        Ok(WorkingDate {
            date: result.value,
            provisional: result.provisional,
        })
    }

    /// Working days after `from` up to and including `to`.
    async fn working_days_between(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The start date (not itself counted).")] from: NaiveDate,
        #[graphql(desc = "The end date (counted); may be before `from`, at most ten years apart.")]
        to: NaiveDate,
    ) -> GqlResult<WorkingDayCount> {
        if (to - from).num_days().abs() > 3660 {
            return Err(crate::error::AppError::bad_input("to", "at most ten years apart").into());
        }
        let calendar = service::load(&ctx.state().db).await?;
        let result = calendar.working_days_between(from, to);
        Ok(WorkingDayCount {
            days: result.value,
            provisional: result.provisional,
        })
    }
}

/// Working-calendar edits, for the county admin.
#[derive(Default)]
pub struct CalendarMutation;

#[Object]
impl CalendarMutation {
    /// County admin of a one-county deployment: make a future day a working or rest day
    /// (audited). The calendar is shared by every county of a deployment: with several, this
    /// answers FORBIDDEN.
    async fn set_calendar_day(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day to set; only days after today (China time).")] date: NaiveDate,
        #[graphql(desc = "true: a working day; false: a rest day.")] is_workday: bool,
        #[graphql(desc = "The holiday, or e.g. `…调休上班`, 1–32 characters; omit for none.")]
        name: Option<String>,
    ) -> GqlResult<CalendarDayType> {
        let day =
            service::set_day(ctx.state(), ctx.viewer(), date, is_workday, name.as_deref()).await?;
        Ok(CalendarDayType {
            date: day.date,
            is_workday: day.is_workday,
            name: day.name,
            provisional: false,
        })
    }

    /// County admin of a one-county deployment (FORBIDDEN with several): declare a year's table
    /// complete (after entering its holidays and 调休 with `setCalendarDay`); answers about that
    /// year stop being provisional. False if it already was.
    async fn publish_calendar_year(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "This year or one of the next two.")] year: i32,
    ) -> GqlResult<bool> {
        Ok(service::publish_year(ctx.state(), ctx.viewer(), year).await?)
    }
}
