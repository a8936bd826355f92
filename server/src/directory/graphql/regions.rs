//! The directory in the API: regions (county → 乡/镇 → 村/社区).
use async_graphql::{Context, ID, Object};

use crate::{
    directory::{
        graphql::{inputs::CreateRegionInput, types::Region},
        model::RegionLevel,
        regions,
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Part of `DirectoryQuery`.
#[derive(Default)]
pub struct RegionsQuery;

#[Object]
impl RegionsQuery {
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
        Ok(regions::list_regions(&ctx.state().db, parent, level)
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
            regions::region(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }
}

/// Part of `DirectoryMutation`.
#[derive(Default)]
pub struct RegionsMutation;

#[Object]
impl RegionsMutation {
    /// County admin: add a township or village (e.g. the county's real village list).
    async fn create_region(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new region's parent, division code and name.")]
        input: CreateRegionInput,
    ) -> GqlResult<Region> {
        let parent = parse_id(&input.parent_id, "input.parentId")?;
        let data = regions::NewRegion {
            parent_id: Some(parent),
            code: input.code,
            name: input.name,
            demo: false,
        };
        Ok(Region(
            regions::create_region(ctx.state(), ctx.viewer(), data).await?,
        ))
    }
}
