//! The directory in the API: the change registers (附件4 staff, 附件5 items) and their CSV exports.
use async_graphql::{Context, ID, Object};
use entity::{item_change_requests, staff_change_requests};

use crate::{
    directory::{
        changes::{
            self, ChangeStatus, ItemChangeInput as ItemChangeData,
            StaffChangeInput as StaffChangeData,
        },
        exports,
        graphql::{
            inputs::{ItemChangeInput, StaffChangeInput},
            types::{ItemChangeRequest, StaffChangeRequest},
        },
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Part of `DirectoryQuery`.
#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// Admins and auditors: the staff change register (附件4) of the jurisdiction, newest first.
    async fn staff_change_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes in this state; omit for all.")] status: Option<ChangeStatus>,
    ) -> GqlResult<Vec<StaffChangeRequest>> {
        Ok(changes::list_changes::<staff_change_requests::Entity>(
            ctx.state(),
            ctx.viewer(),
            status,
        )
        .await?
        .into_iter()
        .map(StaffChangeRequest)
        .collect())
    }

    /// Admins and auditors: the item change register (附件5), newest first.
    async fn item_change_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes in this state; omit for all.")] status: Option<ChangeStatus>,
    ) -> GqlResult<Vec<ItemChangeRequest>> {
        Ok(
            changes::list_changes::<item_change_requests::Entity>(
                ctx.state(),
                ctx.viewer(),
                status,
            )
            .await?
            .into_iter()
            .map(ItemChangeRequest)
            .collect(),
        )
    }

    /// The staff change register as CSV (UTF-8 with BOM) in 附件4 column order; personal data masked.
    async fn staff_change_register_csv(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(exports::staff_change_csv(ctx.state(), ctx.viewer()).await?)
    }

    /// The item change register as CSV (UTF-8 with BOM) in 附件5 column order.
    async fn item_change_register_csv(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(exports::item_change_csv(ctx.state(), ctx.viewer()).await?)
    }
}

/// Part of `DirectoryMutation`.
#[derive(Default)]
pub struct ChangesMutation;

#[Object]
impl ChangesMutation {
    /// Admins: register a staff change (附件4) at least 3 days before the arrival date.
    async fn submit_staff_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 附件4 entry: a replacement or an added agent.")]
        input: StaffChangeInput,
    ) -> GqlResult<StaffChangeRequest> {
        let data = StaffChangeData {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            before_staff_id: parse_opt_id(input.before_staff_id, "input.beforeStaffId")?,
            post: input.post,
            name: input.name,
            username: input.username,
            role: input.role,
            service_point_id: parse_opt_id(input.service_point_id, "input.servicePointId")?,
            id_number: input.id_number,
            phone: input.phone,
            email: input.email,
            arrival_date: input.arrival_date,
        };
        Ok(StaffChangeRequest(
            changes::submit_staff_change(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// County admin: approve or reject (reason required) a pending staff change. An approved
    /// change takes effect on its arrival date: the departing agent is signed out and deactivated,
    /// the new agent's account is created.
    async fn decide_staff_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pending staff change's id.")] id: ID,
        #[graphql(desc = "true approves the change; false rejects it.")] approve: bool,
        #[graphql(desc = "审核意见, 1–500 characters; required to reject.")] reason: Option<String>,
    ) -> GqlResult<StaffChangeRequest> {
        Ok(StaffChangeRequest(
            changes::decide_change::<staff_change_requests::Entity>(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                approve,
                reason.as_deref(),
            )
            .await?,
        ))
    }

    /// Admins: register an item change (附件5) at least 3 days before it takes effect.
    async fn submit_item_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 附件5 entry: a new item or a change to an existing one.")]
        input: ItemChangeInput,
    ) -> GqlResult<ItemChangeRequest> {
        let data = ItemChangeData {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            before_item_id: parse_opt_id(input.before_item_id, "input.beforeItemId")?,
            after: input.after,
            effective_date: input.effective_date,
        };
        Ok(ItemChangeRequest(
            changes::submit_item_change(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// County admin: approve or reject (reason required) a pending item change.
    async fn decide_item_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pending item change's id.")] id: ID,
        #[graphql(desc = "true approves the change; false rejects it.")] approve: bool,
        #[graphql(desc = "审核意见, 1–500 characters; required to reject.")] reason: Option<String>,
    ) -> GqlResult<ItemChangeRequest> {
        Ok(ItemChangeRequest(
            changes::decide_change::<item_change_requests::Entity>(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                approve,
                reason.as_deref(),
            )
            .await?,
        ))
    }
}
