//! Directory use cases for the item catalogue (附件5).

use chrono::{DateTime, Utc};
use entity::{items, regions};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::Viewer,
    directory::{
        jurisdiction::Jurisdiction,
        model::{HandlingType, RegionLevel, text},
    },
    error::{AppError, AppResult},
    state::AppState,
};

/// The 附件5 fields of a catalogue item: given as `ItemInput` (checked when submitted), shown as
/// `ItemDetails` (an item change's `after`).
#[derive(
    Clone,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    async_graphql::InputObject,
    async_graphql::SimpleObject,
)]
#[graphql(name = "ItemDetails", input_name = "ItemInput")]
pub struct ItemFields {
    /// 事项清单目录（主项）: the main catalogue entry, 1–200 characters.
    pub main_item: String,
    /// 是否列入省“四级四同”清单: true when on the provincial 四级四同 list.
    pub in_provincial_list: bool,
    /// 业务办理项目名称: the business name residents search for, 1–200 characters.
    pub business_name: String,
    /// 事项类型, e.g. 行政许可 or 公共服务; 1–32 characters.
    pub item_type: String,
    /// 事项是否在一体化平台办理: true when handled on the integrated government-service platform.
    pub on_integrated_platform: bool,
    /// 办件类型: 即办件 (handled on the spot) or 承诺件 (within the promised working days).
    pub handling_type: HandlingType,
    /// 是否最多跑一次办理: true when residents need to come in at most once.
    pub at_most_one_visit: bool,
    /// 承诺办结时限 in working days: 0–1 for 即办件, 1–365 for 承诺件.
    pub promised_working_days: i32,
    /// 申报材料: the documents required, at most 50, each 1–100 characters.
    pub materials: Vec<String>,
    /// The levels whose agents may handle the item; at least one (duplicates are ignored).
    pub levels: Vec<RegionLevel>,
}

impl ItemFields {
    /// Validates every field; `prefix` names the input (`input.` or `input.after.`).
    pub fn validate(mut self, prefix: &str) -> AppResult<Self> {
        let f = |name: &str| format!("{prefix}{name}");
        self.main_item = text(&self.main_item, &f("mainItem"), 200)?;
        self.business_name = text(&self.business_name, &f("businessName"), 200)?;
        self.item_type = text(&self.item_type, &f("itemType"), 32)?;
        let days_ok = match self.handling_type {
            HandlingType::Immediate => (0..=1).contains(&self.promised_working_days),
            HandlingType::Promised => (1..=365).contains(&self.promised_working_days),
        };
        if !days_ok {
            return Err(AppError::bad_input(
                f("promisedWorkingDays"),
                "即办件 take 0–1 working days; 承诺件 1–365",
            ));
        }
        if self.materials.len() > 50 {
            return Err(AppError::bad_input(f("materials"), "at most 50 materials"));
        }
        self.materials = self
            .materials
            .iter()
            .map(|m| text(m, &f("materials"), 100))
            .collect::<AppResult<_>>()?;
        self.levels.sort();
        self.levels.dedup();
        if self.levels.is_empty() {
            return Err(AppError::bad_input(
                f("levels"),
                "name at least one level that may handle the item",
            ));
        }
        Ok(self)
    }

    pub fn levels_csv(&self) -> String {
        self.levels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn of(item: &items::Model) -> Self {
        Self {
            main_item: item.main_item.clone(),
            in_provincial_list: item.in_provincial_list,
            business_name: item.business_name.clone(),
            item_type: item.item_type.clone(),
            on_integrated_platform: item.on_integrated_platform,
            handling_type: item
                .handling_type
                .parse::<HandlingType>()
                .ok()
                .unwrap_or(HandlingType::Promised),
            at_most_one_visit: item.at_most_one_visit,
            promised_working_days: item.promised_working_days,
            materials: serde_json::from_str(&item.materials).unwrap_or_default(),
            levels: item
                .levels
                .split(',')
                .filter_map(|l| l.parse().ok())
                .collect(),
        }
    }
}

pub async fn item(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<items::Model> {
    items::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("item"))
}

/// An item of `county`'s catalogue: NOT_FOUND for another county's (its existence is not told).
pub async fn county_item(
    conn: &impl ConnectionTrait,
    county: Uuid,
    id: Uuid,
) -> AppResult<items::Model> {
    Some(item(conn, id).await?)
        .filter(|i| i.county_id == Some(county))
        .ok_or(AppError::NotFound("item"))
}

/// The county a county administrator acts for: FORBIDDEN for anyone else.
fn admins_county(who: &Jurisdiction) -> AppResult<Uuid> {
    who.ensure_county_admin()?;
    who.county_id()
        .ok_or_else(|| AppError::Forbidden("this account's unit lies in no county".into()))
}

/// The county whose catalogue a public reader means: the county of `region` (a county or any
/// region inside it), or, when none is named, the deployment's only county. BAD_USER_INPUT
/// `regionId` when the deployment serves several counties and none is named.
pub async fn catalogue_county(
    conn: &impl ConnectionTrait,
    region: Option<Uuid>,
) -> AppResult<Uuid> {
    if let Some(id) = region {
        return crate::directory::regions::region(conn, id)
            .await?
            .county_id
            .ok_or(AppError::NotFound("region"));
    }
    let counties = regions::Entity::find()
        .filter(regions::Column::Level.eq(RegionLevel::County.as_str()))
        .limit(2)
        .all(conn)
        .await?;
    match counties.as_slice() {
        [only] => Ok(only.id),
        [] => Err(AppError::NotFound("county")),
        _ => Err(AppError::bad_input(
            "regionId",
            "this deployment serves several counties: name the county (or a region inside it)",
        )),
    }
}

/// Public: a county's active catalogue items (the county of `region`, see
/// [`catalogue_county`]), optionally those a level may handle, optionally matching text.
pub async fn list_items(
    conn: &impl ConnectionTrait,
    region: Option<Uuid>,
    level: Option<RegionLevel>,
    search: Option<&str>,
) -> AppResult<Vec<items::Model>> {
    let county = catalogue_county(conn, region).await?;
    let mut query = items::Entity::find()
        .filter(items::Column::CountyId.eq(county))
        .filter(items::Column::Active.eq(true))
        .order_by_asc(items::Column::MainItem)
        .order_by_asc(items::Column::BusinessName);
    if let Some(level) = level {
        query = query.filter(items::Column::Levels.contains(level.as_str()));
    }
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        if search.chars().count() > 50 {
            return Err(AppError::bad_input("search", "at most 50 characters"));
        }
        query = query.filter(
            sea_orm::Condition::any()
                .add(items::Column::MainItem.contains(search))
                .add(items::Column::BusinessName.contains(search)),
        );
    }
    Ok(query.all(conn).await?)
}

/// Writes an item of `county`'s catalogue (new when `id` is None) without permission checks:
/// used by the seed, by `upsert_item` and by applied change requests. NOT_FOUND when `id` names
/// an item of another county.
pub async fn write_item(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    county: Uuid,
    id: Option<Uuid>,
    fields: &ItemFields,
) -> AppResult<items::Model> {
    let base = match id {
        Some(id) => county_item(conn, county, id).await?.into(),
        None => items::ActiveModel {
            id: Set(Uuid::now_v7()),
            county_id: Set(Some(county)),
            active: Set(true),
            created_at: Set(now),
            ..Default::default()
        },
    };
    let mut active: items::ActiveModel = base;
    active.main_item = Set(fields.main_item.clone());
    active.in_provincial_list = Set(fields.in_provincial_list);
    active.business_name = Set(fields.business_name.clone());
    active.item_type = Set(fields.item_type.clone());
    active.on_integrated_platform = Set(fields.on_integrated_platform);
    active.handling_type = Set(fields.handling_type.as_str().into());
    active.at_most_one_visit = Set(fields.at_most_one_visit);
    active.promised_working_days = Set(fields.promised_working_days);
    active.materials =
        Set(serde_json::to_string(&fields.materials).unwrap_or_else(|_| "[]".into()));
    active.levels = Set(fields.levels_csv());
    active.updated_at = Set(now);
    Ok(match id {
        Some(_) => active.update(conn).await?,
        None => active.insert(conn).await?,
    })
}

/// County admin: publishes a new item of their county's catalogue or changes one (the county
/// centre owns its catalogue; another county's items answer NOT_FOUND).
pub async fn upsert_item(
    state: &AppState,
    viewer: &Viewer,
    id: Option<Uuid>,
    fields: ItemFields,
) -> AppResult<items::Model> {
    let fields = fields.validate("input.")?;
    let txn = crate::db::begin_write(&state.db).await?;
    let county = admins_county(&Jurisdiction::of(&txn, viewer).await?)?;
    let now = state.clock.now();
    let item = write_item(&txn, now, county, id, &fields).await?;
    audit::Pending::action(
        now,
        viewer,
        Some(county),
        if id.is_some() {
            "item.update"
        } else {
            "item.create"
        },
        "item",
        item.id,
        json!({"businessName": item.business_name}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(item)
}

/// County admin: withdraws or restores an item.
pub async fn set_item_active(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    active_flag: bool,
) -> AppResult<items::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let county = admins_county(&Jurisdiction::of(&txn, viewer).await?)?;
    let mut active: items::ActiveModel = county_item(&txn, county, id).await?.into();
    active.active = Set(active_flag);
    active.updated_at = Set(state.clock.now());
    let item = active.update(&txn).await?;
    audit::Pending::action(
        state.clock.now(),
        viewer,
        Some(county),
        "item.active",
        "item",
        item.id,
        json!({"active": active_flag}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(item)
}

/// The twelve full China-calendar months before `now`'s month: `[start, end)` in UTC.
pub fn last_twelve_months(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    use chrono::Datelike;
    let today = crate::clock::local_date(now);
    let first = today.with_day(1).unwrap_or(today);
    let start = first.with_year(first.year() - 1).unwrap_or(first);
    let at = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(crate::clock::CHINA).single())
            .map_or(now, |t| t.with_timezone(&Utc))
    };
    (at(start), at(first))
}

/// 附件5's 是否高频事项: the item's cases completed (办结) in the last twelve full months average
/// at least 20 a month (see `model::is_high_frequency`). Counted from the cases' completion
/// steps, in one statement.
pub async fn is_high_frequency_item(
    conn: &impl ConnectionTrait,
    item_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    use entity::{case_steps, cases};
    use sea_orm::sea_query::Query;
    let (start, end) = last_twelve_months(now);
    let completed = case_steps::Entity::find()
        .select_only()
        .column(case_steps::Column::CaseId)
        .distinct()
        .filter(case_steps::Column::Action.eq("completed"))
        .filter(case_steps::Column::At.gte(start))
        .filter(case_steps::Column::At.lt(end))
        .filter(
            case_steps::Column::CaseId.in_subquery(
                Query::select()
                    .column(cases::Column::Id)
                    .from(cases::Entity)
                    .and_where(cases::Column::ItemId.eq(item_id))
                    .to_owned(),
            ),
        )
        .count(conn)
        .await?;
    // Only the total over the twelve months decides their average.
    let mut months = [0u32; 12];
    months[0] = u32::try_from(completed).unwrap_or(u32::MAX);
    Ok(crate::directory::model::is_high_frequency(&months))
}
