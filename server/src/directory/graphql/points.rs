//! The directory in the API: service points and their QR codes.
use async_graphql::{Context, ID, Object};

use crate::{
    directory::{
        graphql::{
            inputs::{CreateServicePointInput, GeoPointInput, UpdateServicePointInput},
            types::{ServicePoint, parse_hours, point},
        },
        model::ServicePointKind,
        points::{self, ServicePointUpdate},
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Part of `DirectoryQuery`.
#[derive(Default)]
pub struct PointsQuery;

#[Object]
impl PointsQuery {
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
            points::list_service_points(&ctx.state().db, region, kind, near)
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
            points::service_point(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Public: the point a scanned QR code names (`decodeURIComponent(query.scene)` in `onLoad`).
    async fn service_point_by_scene(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `scene` from the QR code, URI-decoded.")] scene: String,
    ) -> GqlResult<ServicePoint> {
        Ok(point(
            points::service_point_by_scene(&ctx.state().db, &scene).await?,
        ))
    }
}

/// Part of `DirectoryMutation`.
#[derive(Default)]
pub struct PointsMutation;

#[Object]
impl PointsMutation {
    /// Admins: add a service point inside their jurisdiction.
    async fn create_service_point(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new point's region, kind, name, address, contact and hours.")]
        input: CreateServicePointInput,
    ) -> GqlResult<ServicePoint> {
        let data = points::ServicePointInput {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            kind: input.kind,
            name: input.name,
            address: input.address,
            public_phone: input.phone,
            location: input.location.map(|l| (l.latitude, l.longitude)),
            opening_hours: parse_hours(input.opening_hours, "input.openingHours")?,
        };
        Ok(point(
            points::create_service_point(ctx.state(), ctx.viewer(), data).await?,
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
            points::update_service_point(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, update)
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
            points::generate_qr_code(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }
}
