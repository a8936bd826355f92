//! The directory in the API: the item catalogue (事项目录, 附件5), each county its own.
use async_graphql::{Context, ID, Object};

use crate::{
    directory::{
        catalogue::{self, ItemFields},
        graphql::types::Item,
        model::RegionLevel,
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

/// Part of `DirectoryQuery`.
#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
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
        let region = parse_opt_id(region_id, "regionId")?;
        Ok(
            catalogue::list_items(&ctx.state().db, region, level, search.as_deref())
                .await?
                .into_iter()
                .map(Item)
                .collect(),
        )
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
}

/// Part of `DirectoryMutation`.
#[derive(Default)]
pub struct CatalogueMutation;

#[Object]
impl CatalogueMutation {
    /// County admin: publish a new catalogue item.
    async fn create_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 附件5 fields of the new item.")] input: ItemFields,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::upsert_item(ctx.state(), ctx.viewer(), None, input).await?,
        ))
    }

    /// County admin: change a catalogue item.
    async fn update_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The catalogue item's id.")] id: ID,
        #[graphql(desc = "All 附件5 fields of the item, replacing the current ones.")]
        input: ItemFields,
    ) -> GqlResult<Item> {
        Ok(Item(
            catalogue::upsert_item(ctx.state(), ctx.viewer(), Some(parse_id(&id, "id")?), input)
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
}
