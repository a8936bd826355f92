//! The directory in the API: staff: the public roster, colleagues, staffing shortfalls, accounts
//! and the audited reveal of personal data.
use async_graphql::{Context, ID, Object};

use crate::{
    directory::{
        graphql::{
            inputs::CreateStaffInput,
            types::{RosterEntry, StaffMember, StaffingShortfall},
        },
        staff::{self, PersonalField},
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Part of `DirectoryQuery`.
#[derive(Default)]
pub struct StaffQuery;

#[Object]
impl StaffQuery {
    /// Public roster (公示): the active 帮办代办 agents under a region with their unit, point and
    /// public contact number. Never ID numbers or private phones.
    async fn roster(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only agents of this region and below; omit for every county of the deployment."
        )]
        region_id: Option<ID>,
    ) -> GqlResult<Vec<RosterEntry>> {
        let region = parse_opt_id(region_id, "regionId")?;
        Ok(staff::roster(&ctx.state().db, region)
            .await?
            .into_iter()
            .map(|r| RosterEntry {
                name: r.name,
                role: r.role,
                phone: r.public_phone,
                region: r.region,
                service_point: r.service_point,
            })
            .collect())
    }

    /// Staff: colleagues inside the viewer's jurisdiction (optionally one region's subtree).
    async fn staff_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only staff of this region and below; omit for the whole jurisdiction.")]
        region_id: Option<ID>,
    ) -> GqlResult<Vec<StaffMember>> {
        let region = parse_opt_id(region_id, "regionId")?;
        Ok(staff::list_staff(ctx.state(), ctx.viewer(), region)
            .await?
            .into_iter()
            .map(StaffMember)
            .collect())
    }

    /// Staff: one colleague inside the viewer's jurisdiction (NOT_FOUND outside it).
    async fn staff_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The staff member's id.")] id: ID,
    ) -> GqlResult<StaffMember> {
        let id = parse_id(&id, "id")?;
        Ok(StaffMember(
            staff::staff_member(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Staff: units inside the viewer's jurisdiction that lack on-duty agents (seed §四 minimums).
    async fn staffing_shortfalls(&self, ctx: &Context<'_>) -> GqlResult<Vec<StaffingShortfall>> {
        Ok(staff::staffing_gaps(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(|g| StaffingShortfall {
                kind: g.kind,
                required: g.required,
                on_duty: g.on_duty,
                region: g.region,
                service_point: g.service_point,
            })
            .collect())
    }
}

/// Part of `DirectoryMutation`.
#[derive(Default)]
pub struct StaffMutation;

#[Object]
impl StaffMutation {
    /// Admins: create a staff account inside their jurisdiction (township admins: township and
    /// village staff only).
    async fn create_staff(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account: login, role, unit and personal data.")]
        input: CreateStaffInput,
    ) -> GqlResult<StaffMember> {
        let data = staff::StaffInput {
            username: input.username,
            display_name: input.display_name,
            password: input.password,
            role: input.role,
            region_id: parse_id(&input.region_id, "input.regionId")?,
            service_point_id: parse_opt_id(input.service_point_id, "input.servicePointId")?,
            public_phone: input.public_phone,
            id_number: input.id_number,
            phone: input.phone,
            email: input.email,
            post: input.post,
        };
        Ok(StaffMember(
            staff::create_staff(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// Admins: mark a staff member on or off duty.
    async fn set_staff_on_duty(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The staff member's id.")] staff_id: ID,
        #[graphql(desc = "true: on duty; false: off duty (for one day, see `setStaffDutyDay`).")]
        on_duty: bool,
    ) -> GqlResult<StaffMember> {
        Ok(StaffMember(
            staff::set_staff_on_duty(
                ctx.state(),
                ctx.viewer(),
                parse_id(&staff_id, "staffId")?,
                on_duty,
            )
            .await?,
        ))
    }

    /// Admins: deactivate an account; its sessions end at once.
    async fn deactivate_staff(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The staff member's id (not your own).")] staff_id: ID,
    ) -> GqlResult<StaffMember> {
        Ok(StaffMember(
            staff::deactivate_staff(ctx.state(), ctx.viewer(), parse_id(&staff_id, "staffId")?)
                .await?,
        ))
    }

    /// Admins: issue a one-time password (returned once; the person changes it later). Ends the
    /// account's sessions. Audited.
    async fn reset_staff_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The staff member's id.")] staff_id: ID,
    ) -> GqlResult<String> {
        Ok(
            staff::reset_staff_password(ctx.state(), ctx.viewer(), parse_id(&staff_id, "staffId")?)
                .await?,
        )
    }

    /// Admins: show a staff member's full ID number or phone. Each reveal is audited with the reason.
    async fn reveal_staff_personal_data(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The staff member's id.")] staff_id: ID,
        #[graphql(desc = "Which field to show in full.")] field: PersonalField,
        #[graphql(desc = "Why it is needed, 1–200 characters (written to the audit log).")]
        reason: String,
    ) -> GqlResult<Option<String>> {
        Ok(staff::reveal_staff_field(
            ctx.state(),
            ctx.viewer(),
            parse_id(&staff_id, "staffId")?,
            field,
            &reason,
        )
        .await?)
    }
}
