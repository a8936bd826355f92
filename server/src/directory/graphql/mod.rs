//! The directory in the API. Public queries (regions, service points, roster, catalogue) need
//! no login; everything else goes through the jurisdiction helper in the services. Types are in
//! `types`, inputs in `inputs`.
pub mod inputs;
pub mod types;

use async_graphql::{Context, ID, Object};
use entity::{item_change_requests, staff_change_requests};
use inputs::{
    CreateRegionInput, CreateServicePointInput, CreateStaffInput, GeoPointInput, ItemChangeInput,
    StaffChangeInput, UpdateServicePointInput,
};
use types::{
    Item, ItemChangeRequest, ItemInput, Region, RosterEntry, ServicePoint, StaffChangeRequest,
    StaffMember, StaffingShortfall, parse_hours, point,
};

use crate::{
    directory::{
        catalogue,
        changes::{
            self, ChangeStatus, ItemChangeInput as ItemChangeData,
            StaffChangeInput as StaffChangeData,
        },
        exports,
        model::{RegionLevel, ServicePointKind},
        service::{self, ServicePointUpdate},
        staff::{self, PersonalField},
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Directory queries: regions, service points, roster, catalogue, staff, change registers.
#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Public: regions under `parentId` (or the deployment's counties when omitted), or all of one
    /// `level`.
    async fn regions(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The region whose children to list; omit for the counties themselves (with `level`: all of that level)."
        )]
        parent_id: Option<ID>,
        #[graphql(desc = "Only regions of this level.")] level: Option<RegionLevel>,
    ) -> GqlResult<Vec<Region>> {
        let parent = parse_opt_id(parent_id, "parentId")?;
        Ok(service::list_regions(&ctx.state().db, parent, level)
            .await?
            .into_iter()
            .map(Region)
            .collect())
    }

    /// Public: one region.
    async fn region(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The region's id.")] id: ID,
    ) -> GqlResult<Region> {
        Ok(Region(
            service::region(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Public: active service points under a region (itself and below), of a kind, and/or within
    /// `radiusKm` (default 10) of `near`, nearest first.
    async fn service_points(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only points in this region or below it; omit for every county of the deployment."
        )]
        region_id: Option<ID>,
        #[graphql(desc = "Only points of this kind.")] kind: Option<ServicePointKind>,
        #[graphql(
            desc = "A position: only located points within `radiusKm` of it, nearest first."
        )]
        near: Option<GeoPointInput>,
        #[graphql(
            default = 10.0,
            desc = "Kilometres around `near` (over 0, at most 200); ignored without `near`."
        )]
        radius_km: f64,
    ) -> GqlResult<Vec<ServicePoint>> {
        let region = parse_opt_id(region_id, "regionId")?;
        let near = near.map(|n| (n.latitude, n.longitude, radius_km));
        Ok(
            service::list_service_points(&ctx.state().db, region, kind, near)
                .await?
                .into_iter()
                .map(|(model, distance_km)| ServicePoint { model, distance_km })
                .collect(),
        )
    }

    /// Public: one service point.
    async fn service_point(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point's id.")] id: ID,
    ) -> GqlResult<ServicePoint> {
        Ok(point(
            service::service_point(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Public: the point a scanned QR code names (`decodeURIComponent(query.scene)` in `onLoad`).
    async fn service_point_by_scene(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `scene` from the QR code, URI-decoded.")] scene: String,
    ) -> GqlResult<ServicePoint> {
        Ok(point(
            staff::service_point_by_scene(&ctx.state().db, &scene).await?,
        ))
    }

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

    /// Public: a county's active catalogue (each county keeps its own), optionally the items a
    /// level may handle, optionally matching `search` in the main item or business name.
    async fn items(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The county whose catalogue to list, or any region inside it (e.g. the service point's region). May be omitted only while the deployment serves one county; with several it answers BAD_USER_INPUT."
        )]
        region_id: Option<ID>,
        #[graphql(desc = "Only items the agents of this level may handle.")] level: Option<
            RegionLevel,
        >,
        #[graphql(
            desc = "Text to find in the main item or business name (at most 50 characters)."
        )]
        search: Option<String>,
    ) -> GqlResult<Vec<Item>> {
        let db = &ctx.state().db;
        let county = catalogue::catalogue_county(db, parse_opt_id(region_id, "regionId")?).await?;
        Ok(catalogue::list_items(db, county, level, search.as_deref())
            .await?
            .into_iter()
            .map(Item)
            .collect())
    }

    /// Public: one catalogue item.
    async fn item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The catalogue item's id.")] id: ID,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::item(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
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

    /// Admins and auditors: the staff change register (附件4) of the jurisdiction, newest first.
    async fn staff_change_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes in this state; omit for all.")] status: Option<ChangeStatus>,
    ) -> GqlResult<Vec<StaffChangeRequest>> {
        Ok(changes::staff_changes(ctx.state(), ctx.viewer(), status)
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
        Ok(changes::item_changes(ctx.state(), ctx.viewer(), status)
            .await?
            .into_iter()
            .map(ItemChangeRequest)
            .collect())
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

/// Directory mutations: regions, service points, staff, catalogue and change registers.
#[derive(Default)]
pub struct DirectoryMutation;

#[Object]
impl DirectoryMutation {
    /// County admin: add a township or village (e.g. the county's real village list).
    async fn create_region(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new region's parent, division code and name.")]
        input: CreateRegionInput,
    ) -> GqlResult<Region> {
        let parent = parse_id(&input.parent_id, "input.parentId")?;
        let data = service::NewRegion {
            parent_id: Some(parent),
            code: input.code,
            name: input.name,
            demo: false,
        };
        Ok(Region(
            service::create_region(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// Admins: add a service point inside their jurisdiction.
    async fn create_service_point(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new point's region, kind, name, address, contact and hours.")]
        input: CreateServicePointInput,
    ) -> GqlResult<ServicePoint> {
        let data = service::ServicePointInput {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            kind: input.kind,
            name: input.name,
            address: input.address,
            public_phone: input.phone,
            location: input.location.map(|l| (l.latitude, l.longitude)),
            opening_hours: parse_hours(input.opening_hours, "input.openingHours")?,
        };
        Ok(point(
            service::create_service_point(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// Admins: change a service point inside their jurisdiction.
    async fn update_service_point(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point's id.")] id: ID,
        #[graphql(desc = "The fields to change; those left out stay as they are.")]
        input: UpdateServicePointInput,
    ) -> GqlResult<ServicePoint> {
        let update = ServicePointUpdate {
            name: input.name,
            address: input.address,
            public_phone: input.phone.map(Some),
            location: input.location.map(|l| Some((l.latitude, l.longitude))),
            opening_hours: parse_hours(input.opening_hours, "input.openingHours")?,
            active: input.active,
        };
        Ok(point(
            service::update_service_point(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, update)
                .await?,
        ))
    }

    /// Admins: fetch and store the point's WeChat QR code (scene = the point's compact id).
    async fn generate_service_point_qr_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service point's id.")] id: ID,
    ) -> GqlResult<ServicePoint> {
        Ok(point(
            service::generate_qr_code(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

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

    /// County admin: publish a new catalogue item.
    async fn create_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 附件5 fields of the new item.")] input: ItemInput,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::upsert_item(ctx.state(), ctx.viewer(), None, input.into()).await?,
        ))
    }

    /// County admin: change a catalogue item.
    async fn update_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The catalogue item's id.")] id: ID,
        #[graphql(desc = "All 附件5 fields of the item, replacing the current ones.")]
        input: ItemInput,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::upsert_item(
                ctx.state(),
                ctx.viewer(),
                Some(parse_id(&id, "id")?),
                input.into(),
            )
            .await?,
        ))
    }

    /// County admin: withdraw (false) or restore (true) a catalogue item.
    async fn set_item_active(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The catalogue item's id.")] id: ID,
        #[graphql(desc = "false withdraws the item; true restores it.")] active: bool,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::set_item_active(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, active)
                .await?,
        ))
    }

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
            after: input.after.into(),
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
