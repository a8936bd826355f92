//! The directory's GraphQL types: regions, service points, the roster, staff, the catalogue
//! and change requests.
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    item_change_requests, items, regions, service_points, staff_accounts, staff_change_requests,
};
use uuid::Uuid;

use crate::{
    auth::Role,
    directory::{
        catalogue::{self, ItemFields},
        changes::ChangeStatus,
        model::{HandlingType, OpeningHours, RegionLevel, ServicePointKind, StaffingUnit},
        points, staff,
    },
    error::AppError,
    graphql::context::{ContextExt, GqlResult},
};

pub(super) fn id(uuid: Uuid) -> ID {
    ID(uuid.to_string())
}

/// A region: the county, a township (乡/镇) or a village/community (村/社区).
pub struct Region(pub regions::Model);

/// A region: the county, a township (乡/镇) or a village/community (村/社区).
#[Object]
impl Region {
    /// Stable id (UUID); pass it as `regionId` or `parentId`.
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Statutory division code (区划代码): 6 digits for the county, 9 for a township, 12 for a village.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Official name (at most 64 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// County (县), township (乡/镇) or village/community (村/社区).
    async fn level(&self) -> RegionLevel {
        crate::directory::regions::level_of(&self.0)
    }
    /// True for shipped demo data, to be replaced by the county's real lists.
    async fn demo(&self) -> bool {
        self.0.demo
    }
    /// The region one level up; null for the county.
    async fn parent(&self, ctx: &Context<'_>) -> GqlResult<Option<Region>> {
        match self.0.parent_id {
            Some(parent) => Ok(Some(Region(
                crate::directory::regions::region(&ctx.state().db, parent).await?,
            ))),
            None => Ok(None),
        }
    }
    /// The regions one level down, by code.
    async fn children(&self, ctx: &Context<'_>) -> GqlResult<Vec<Region>> {
        Ok(
            crate::directory::regions::list_regions(&ctx.state().db, Some(self.0.id), None)
                .await?
                .into_iter()
                .map(Region)
                .collect(),
        )
    }
}

/// One opening interval, `HH:MM` in China Standard Time.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "OpeningIntervalInput")]
pub struct OpeningInterval {
    /// Opening time, `HH:MM` (24-hour, China Standard Time), e.g. `09:00`.
    pub opens: String,
    /// Closing time, `HH:MM` (24-hour, China Standard Time); later than `opens`.
    pub closes: String,
}

/// The opening intervals of one weekday; the gaps between them are breaks.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "OpeningDayInput")]
pub struct OpeningDay {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: i32,
    /// Empty when closed.
    pub intervals: Vec<OpeningInterval>,
}

pub(super) fn parse_hours(
    days: Option<Vec<OpeningDay>>,
    field: &str,
) -> Result<Option<OpeningHours>, AppError> {
    days.map(|days| {
        let tuples: Vec<(i32, Vec<(String, String)>)> = days
            .into_iter()
            .map(|d| {
                (
                    d.weekday,
                    d.intervals
                        .into_iter()
                        .map(|i| (i.opens, i.closes))
                        .collect(),
                )
            })
            .collect();
        OpeningHours::parse(&tuples, field)
    })
    .transpose()
}

/// A place where residents get help.
pub struct ServicePoint {
    pub model: service_points::Model,
    pub distance_km: Option<f64>,
}

/// A place where residents get help: the county hall's 帮办代办 zone or a window unit, a
/// township 便民服务中心, or a village/community 便民服务点.
#[Object]
impl ServicePoint {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        id(self.model.id)
    }
    /// Which kind of point; null only if the stored kind is not recognised.
    async fn kind(&self) -> Option<ServicePointKind> {
        self.model.kind.parse().ok()
    }
    /// Display name (at most 64 characters).
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Street address for residents (at most 200 characters).
    async fn address(&self) -> &str {
        &self.model.address
    }
    /// The point's public contact number.
    async fn phone(&self) -> Option<&str> {
        self.model.public_phone.as_deref()
    }
    /// Latitude in GCJ-02 degrees (as `wx.openLocation` expects); null until located.
    async fn latitude(&self) -> Option<f64> {
        self.model.latitude
    }
    /// Longitude in GCJ-02 degrees (as `wx.openLocation` expects); null until located.
    async fn longitude(&self) -> Option<f64> {
        self.model.longitude
    }
    /// Distance from the `near` point of the query, in kilometres.
    /// Null when the query gave no `near`, and on single-point lookups.
    async fn distance_km(&self) -> Option<f64> {
        self.distance_km
    }
    /// False once an admin closes the point; public lists show active points only.
    async fn active(&self) -> bool {
        self.model.active
    }
    /// The region (县, 乡/镇 or 村/社区) the point belongs to.
    async fn region(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        Ok(Region(
            crate::directory::regions::region(&ctx.state().db, self.model.region_id).await?,
        ))
    }
    /// Monday first; closed days have no intervals.
    async fn opening_hours(&self) -> Vec<OpeningDay> {
        OpeningHours::from_json(&self.model.opening_hours)
            .0
            .iter()
            .enumerate()
            .map(|(i, intervals)| OpeningDay {
                weekday: i32::try_from(i + 1).unwrap_or(1),
                intervals: intervals
                    .iter()
                    .map(|(o, c)| OpeningInterval {
                        opens: o.clone(),
                        closes: c.clone(),
                    })
                    .collect(),
            })
            .collect()
    }
    /// The compact id carried by the point's WeChat QR code (`scene`); `servicePointByScene`
    /// resolves it.
    async fn scene(&self) -> &str {
        &self.model.scene
    }
    /// The point's WeChat QR code image (base64), once generated.
    /// Plain base64 without a `data:` prefix; null until `generateServicePointQrCode` has run.
    async fn qr_code_base64(&self) -> Option<String> {
        self.model.qr_code.as_ref().map(|png| B64.encode(png))
    }
    /// When the QR code was last generated: UTC instant, ISO 8601; null until generated.
    async fn qr_generated_at(&self) -> Option<DateTime<Utc>> {
        self.model.qr_generated_at
    }
}

pub(super) fn point(model: service_points::Model) -> ServicePoint {
    ServicePoint {
        model,
        distance_km: None,
    }
}

/// One line of the public roster (帮办代办人员公示, seed §四).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct RosterEntry {
    /// The agent's name, published in full (公示).
    pub name: String,
    /// The agent's role: a village, township or county 帮办代办员.
    pub role: Role,
    /// The public contact number of the agent's unit.
    pub phone: Option<String>,
    #[graphql(skip)]
    pub(super) region: regions::Model,
    #[graphql(skip)]
    pub(super) service_point: Option<service_points::Model>,
}

#[ComplexObject]
impl RosterEntry {
    /// The unit (region) the agent belongs to.
    async fn unit(&self) -> Region {
        Region(self.region.clone())
    }
    /// The service point the agent staffs; null when not assigned to one.
    async fn service_point(&self) -> Option<ServicePoint> {
        self.service_point.clone().map(point)
    }
}

/// A staff member, as an administrator or colleague in the same jurisdiction sees them.
/// Personal data is masked; `revealStaffPersonalData` shows it in full (audited).
pub struct StaffMember(pub staff_accounts::Model);

/// A staff member, as an administrator or colleague in the same jurisdiction sees them.
/// Personal data is masked; `revealStaffPersonalData` shows it in full (audited).
#[Object]
impl StaffMember {
    /// Stable id (UUID); pass it as `staffId` to the admin mutations.
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Login name: 3–64 lowercase letters, digits, `.`, `_` or `-`.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Name shown to residents and on the public roster (公示), 1–32 characters.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// The role that decides what the person may do; null only for an unrecognised stored value.
    async fn role(&self) -> Option<Role> {
        self.0.role.parse().ok()
    }
    /// 岗位
    /// The person's post (position), at most 64 characters; null when not given.
    async fn post(&self) -> Option<&str> {
        self.0.post.as_deref()
    }
    /// The unit (单位): the region the person works for; null for accounts without one.
    async fn unit(&self, ctx: &Context<'_>) -> GqlResult<Option<Region>> {
        match self.0.unit_id {
            Some(unit) => Ok(Some(Region(
                crate::directory::regions::region(&ctx.state().db, unit).await?,
            ))),
            None => Ok(None),
        }
    }
    /// The service point the person staffs, if any.
    async fn service_point(&self, ctx: &Context<'_>) -> GqlResult<Option<ServicePoint>> {
        match self.0.service_point_id {
            Some(p) => Ok(Some(point(
                points::service_point(&ctx.state().db, p).await?,
            ))),
            None => Ok(None),
        }
    }
    /// False once deactivated: the person can no longer sign in.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// Counted toward staffing minimums only when on duty.
    async fn on_duty(&self) -> bool {
        self.0.on_duty
    }
    /// The published contact number.
    async fn public_phone(&self) -> Option<&str> {
        self.0.public_phone.as_deref()
    }
    /// Resident ID number, masked (`110105********002X`).
    async fn id_number(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        Ok(staff::masked_personal(ctx.state(), &self.0)?.id_number)
    }
    /// Private mobile number, masked (`138****5678`).
    async fn phone(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        Ok(staff::masked_personal(ctx.state(), &self.0)?.phone)
    }
    /// Work email (邮箱), lowercase; null when not given.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Locked after repeated failed logins until this time.
    /// UTC instant, ISO 8601; null when the account is not locked.
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.0.locked_until
    }
}

/// A unit with fewer on-duty agents than seed §四 requires (feeds assessment item 1).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct StaffingShortfall {
    /// The kind of unit that is short; it sets the minimum (county zone 2, others 1).
    pub kind: StaffingUnit,
    /// The minimum number of on-duty agents for this unit.
    pub required: i64,
    /// Agents now active and on duty in the unit; always below `required`.
    pub on_duty: i64,
    #[graphql(skip)]
    pub(super) region: regions::Model,
    #[graphql(skip)]
    pub(super) service_point: Option<service_points::Model>,
}

#[ComplexObject]
impl StaffingShortfall {
    /// The short township or village; for a county zone or window unit, the region of its point.
    async fn region(&self) -> Region {
        Region(self.region.clone())
    }
    /// For the county zone and window units: the point that is short.
    async fn service_point(&self) -> Option<ServicePoint> {
        self.service_point.clone().map(point)
    }
}

/// An item of the 帮办代办 catalogue (事项目录) with the 附件5 fields.
pub struct Item(pub items::Model);

/// An item of the 帮办代办 catalogue (事项目录) with the 附件5 fields.
#[Object]
impl Item {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// The county whose catalogue it belongs to (a region id).
    async fn county_id(&self) -> Option<ID> {
        self.0.county_id.map(id)
    }
    /// 事项清单目录（主项）
    /// The main catalogue entry the business belongs to.
    async fn main_item(&self) -> &str {
        &self.0.main_item
    }
    /// 是否列入省“四级四同”清单
    /// True when the item is on the provincial 四级四同 list.
    async fn in_provincial_list(&self) -> bool {
        self.0.in_provincial_list
    }
    /// 业务办理项目名称
    /// The business name residents see and search for.
    async fn business_name(&self) -> &str {
        &self.0.business_name
    }
    /// 事项类型
    /// The item type as the catalogue names it, e.g. 行政许可 or 公共服务.
    async fn item_type(&self) -> &str {
        &self.0.item_type
    }
    /// 事项是否在一体化平台办理
    /// True when the item is handled on the integrated government-service platform.
    async fn on_integrated_platform(&self) -> bool {
        self.0.on_integrated_platform
    }
    /// 办件类型: 即办件 or 承诺件
    async fn handling_type(&self) -> Option<HandlingType> {
        self.0.handling_type.parse::<HandlingType>().ok()
    }
    /// 是否最多跑一次办理
    /// True when residents need to come in at most once.
    async fn at_most_one_visit(&self) -> bool {
        self.0.at_most_one_visit
    }
    /// 承诺办结时限 (working days)
    /// 0–1 for 即办件, 1–365 for 承诺件; `addWorkingDays` turns it into a due date.
    async fn promised_working_days(&self) -> i32 {
        self.0.promised_working_days
    }
    /// 是否高频事项 (附件5): its cases completed in the last twelve full months average at least
    /// 20 a month.
    async fn high_frequency(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let state = ctx.state();
        Ok(catalogue::is_high_frequency_item(&state.db, self.0.id, state.clock.now()).await?)
    }
    /// 申报材料
    /// The documents the resident must provide, one per entry.
    async fn materials(&self) -> Vec<String> {
        ItemFields::of(&self.0).materials
    }
    /// The levels whose agents may handle the item.
    async fn levels(&self) -> Vec<RegionLevel> {
        ItemFields::of(&self.0).levels
    }
    /// False once withdrawn by the county admin; public lists show active items only.
    async fn active(&self) -> bool {
        self.0.active
    }
}

/// A staff change (附件4 人员变动登记).
pub struct StaffChangeRequest(pub staff_change_requests::Model);

/// A staff change (附件4 人员变动登记): registered by an admin, decided by the county centre,
/// applied on its 到岗时间.
#[Object]
impl StaffChangeRequest {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// PENDING until the county centre decides, then APPROVED or REJECTED; APPLIED once in effect.
    async fn status(&self) -> GqlResult<ChangeStatus> {
        Ok(self.0.status.parse::<ChangeStatus>()?)
    }
    /// 单位
    /// The unit (region) whose agent changes.
    async fn unit(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        Ok(Region(
            crate::directory::regions::region(&ctx.state().db, self.0.region_id).await?,
        ))
    }
    /// When the change was registered: UTC instant, ISO 8601.
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }
    /// 变动前人员 (null when an agent is added)
    async fn before_staff_id(&self) -> Option<ID> {
        self.0.before_staff_id.map(id)
    }
    /// 变动前人员姓名: the departing agent's name; null when an agent is added.
    async fn before_name(&self) -> Option<&str> {
        self.0.before_name.as_deref()
    }
    /// 岗位
    /// The post (position) being filled.
    async fn post(&self) -> &str {
        &self.0.post
    }
    /// 变动后人员姓名
    async fn name(&self) -> &str {
        &self.0.after_name
    }
    /// The new person's login name (lowercase); the account is created when the change applies.
    async fn username(&self) -> &str {
        &self.0.after_username
    }
    /// The new person's role (an agent role); null only for an unrecognised stored value.
    async fn role(&self) -> Option<Role> {
        self.0.after_role.parse().ok()
    }
    /// 身份证号, masked.
    async fn id_number(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(ctx
            .state()
            .cipher
            .masked_id_number(&self.0.after_id_number_enc)
            .map_err(AppError::internal)?)
    }
    /// 联系电话, masked.
    async fn phone(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(ctx
            .state()
            .cipher
            .masked_phone(&self.0.after_phone_enc)
            .map_err(AppError::internal)?)
    }
    /// 邮箱
    /// The new person's email (required by 附件4).
    async fn email(&self) -> &str {
        &self.0.after_email
    }
    /// 到岗时间: the change takes effect on this date.
    async fn arrival_date(&self) -> NaiveDate {
        self.0.arrival_date
    }
    /// When the county centre approved or rejected it: UTC instant, ISO 8601; null while pending.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// 审核意见: the county centre's comment; always given on rejection, null while pending.
    async fn decision_reason(&self) -> Option<&str> {
        self.0.decision_reason.as_deref()
    }
    /// When the change took effect (status APPLIED): UTC instant, ISO 8601; null until then.
    async fn applied_at(&self) -> Option<DateTime<Utc>> {
        self.0.applied_at
    }
    /// The account created when the change took effect.
    async fn applied_staff_id(&self) -> Option<ID> {
        self.0.applied_staff_id.map(id)
    }
}

/// An item change (附件5 事项变动登记).
pub struct ItemChangeRequest(pub item_change_requests::Model);

/// An item change (附件5 事项变动登记): registered by an admin, decided by the county centre,
/// applied on its 生效日期.
#[Object]
impl ItemChangeRequest {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// PENDING until the county centre decides, then APPROVED or REJECTED; APPLIED once in effect.
    async fn status(&self) -> GqlResult<ChangeStatus> {
        Ok(self.0.status.parse::<ChangeStatus>()?)
    }
    /// 单位: the region that registered the change.
    async fn unit(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        Ok(Region(
            crate::directory::regions::region(&ctx.state().db, self.0.region_id).await?,
        ))
    }
    /// When the change was registered: UTC instant, ISO 8601.
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }
    /// The catalogue item being changed; null when a new item is added.
    async fn before_item_id(&self) -> Option<ID> {
        self.0.before_item_id.map(id)
    }
    /// 变动前事项名称
    async fn before_item_name(&self) -> Option<&str> {
        self.0.before_item_name.as_deref()
    }
    /// The item after the change: its 附件5 fields.
    async fn after(&self) -> GqlResult<ItemFields> {
        Ok(serde_json::from_str(&self.0.after).map_err(crate::error::AppError::internal)?)
    }
    /// 生效日期: the China date the change takes effect.
    async fn effective_date(&self) -> NaiveDate {
        self.0.effective_date
    }
    /// 审核意见: the county centre's comment; always given on rejection, null while pending.
    async fn decision_reason(&self) -> Option<&str> {
        self.0.decision_reason.as_deref()
    }
    /// When the change took effect (status APPLIED): UTC instant, ISO 8601; null until then.
    async fn applied_at(&self) -> Option<DateTime<Utc>> {
        self.0.applied_at
    }
    /// The catalogue item written when the change took effect; null until APPLIED.
    async fn applied_item_id(&self) -> Option<ID> {
        self.0.applied_item_id.map(id)
    }
}
