//! The directory in the API. Public queries (regions, service points, roster, catalogue) need
//! no login; everything else goes through the jurisdiction helper in the services.
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
        changes::{
            self, ChangeStatus, ItemChangeInput as ItemChangeData,
            StaffChangeInput as StaffChangeData,
        },
        model::{HandlingType, OpeningHours, RegionLevel, ServicePointKind, StaffingUnit},
        service::{self, ItemFields, PersonalField, ServicePointUpdate},
    },
    error::AppError,
    graphql::{ContextExt, GqlResult},
};

/// Parses an `ID` argument as a UUID; BAD_USER_INPUT naming the field otherwise.
pub fn parse_id(id: &ID, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(field, "not a valid id"))
}

fn id(uuid: Uuid) -> ID {
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
        service::level_of(&self.0)
    }
    /// True for shipped demo data, to be replaced by the county's real lists.
    async fn demo(&self) -> bool {
        self.0.demo
    }
    /// The region one level up; null for the county.
    async fn parent(&self, ctx: &Context<'_>) -> GqlResult<Option<Region>> {
        match self.0.parent_id {
            Some(parent) => Ok(Some(Region(
                service::region(&ctx.state().db, parent).await?,
            ))),
            None => Ok(None),
        }
    }
    /// The regions one level down, by code.
    async fn children(&self, ctx: &Context<'_>) -> GqlResult<Vec<Region>> {
        Ok(
            service::list_regions(&ctx.state().db, Some(self.0.id), None)
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

fn parse_hours(
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
            service::region(&ctx.state().db, self.model.region_id).await?,
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

fn point(model: service_points::Model) -> ServicePoint {
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
    region: regions::Model,
    #[graphql(skip)]
    service_point: Option<service_points::Model>,
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
            Some(unit) => Ok(Some(Region(service::region(&ctx.state().db, unit).await?))),
            None => Ok(None),
        }
    }
    /// The service point the person staffs, if any.
    async fn service_point(&self, ctx: &Context<'_>) -> GqlResult<Option<ServicePoint>> {
        match self.0.service_point_id {
            Some(p) => Ok(Some(point(
                service::service_point(&ctx.state().db, p).await?,
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
        Ok(service::masked_personal(ctx.state(), &self.0)?.id_number)
    }
    /// Private mobile number, masked (`138****5678`).
    async fn phone(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        Ok(service::masked_personal(ctx.state(), &self.0)?.phone)
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
    region: regions::Model,
    #[graphql(skip)]
    service_point: Option<service_points::Model>,
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
        HandlingType::parse(&self.0.handling_type)
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

/// The 附件5 fields of an item.
#[derive(InputObject)]
pub struct ItemInput {
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

impl From<ItemInput> for ItemFields {
    fn from(i: ItemInput) -> Self {
        ItemFields {
            main_item: i.main_item,
            in_provincial_list: i.in_provincial_list,
            business_name: i.business_name,
            item_type: i.item_type,
            on_integrated_platform: i.on_integrated_platform,
            handling_type: i.handling_type,
            at_most_one_visit: i.at_most_one_visit,
            promised_working_days: i.promised_working_days,
            materials: i.materials,
            levels: i.levels,
        }
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
        Ok(ChangeStatus::parse(&self.0.status)?)
    }
    /// 单位
    /// The unit (region) whose agent changes.
    async fn unit(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        Ok(Region(
            service::region(&ctx.state().db, self.0.region_id).await?,
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
        Ok(ChangeStatus::parse(&self.0.status)?)
    }
    /// 单位: the region that registered the change.
    async fn unit(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        Ok(Region(
            service::region(&ctx.state().db, self.0.region_id).await?,
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
    /// The item after the change: the 附件5 fields as JSON.
    async fn after(&self) -> &str {
        &self.0.after
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

/// A position for "near me" searches (GCJ-02 as `wx.getLocation` returns with type `gcj02`).
#[derive(InputObject)]
pub struct GeoPointInput {
    /// Latitude in GCJ-02 degrees, from -90 to 90.
    pub latitude: f64,
    /// Longitude in GCJ-02 degrees, from -180 to 180.
    pub longitude: f64,
}

/// A new township or village (乡/镇 or 村/社区) below an existing region.
#[derive(InputObject)]
pub struct CreateRegionInput {
    /// The township for a village; the county for a township.
    pub parent_id: ID,
    /// 区划代码: 9 digits for a township, 12 for a village; starts with the parent's code; unique.
    pub code: String,
    /// Official name, 1–64 characters.
    pub name: String,
}

/// A new service point inside the admin's jurisdiction.
#[derive(InputObject)]
pub struct CreateServicePointInput {
    /// The region the point belongs to; its level must fit `kind`.
    pub region_id: ID,
    /// The kind of point: COUNTY_ZONE and WINDOW_UNIT in the county, TOWNSHIP_CENTER in a
    /// township, VILLAGE_POINT in a village.
    pub kind: ServicePointKind,
    /// Display name, 1–64 characters.
    pub name: String,
    /// Street address for residents, 1–200 characters.
    pub address: String,
    /// Public contact number: digits, `-`, `+` and spaces, at most 20 characters.
    pub phone: Option<String>,
    /// Position in GCJ-02 degrees (e.g. from `wx.chooseLocation`); omit when unknown.
    pub location: Option<GeoPointInput>,
    /// Defaults to Monday–Friday 09:00–12:00 and 13:30–17:30.
    pub opening_hours: Option<Vec<OpeningDay>>,
}

/// Only the fields given change.
#[derive(InputObject)]
pub struct UpdateServicePointInput {
    /// New display name, 1–64 characters.
    pub name: Option<String>,
    /// New street address, 1–200 characters.
    pub address: Option<String>,
    /// New public contact number (digits, `-`, `+`, spaces; at most 20); an empty string clears it.
    pub phone: Option<String>,
    /// New position in GCJ-02 degrees.
    pub location: Option<GeoPointInput>,
    /// New weekly hours, replacing the old ones entirely; weekdays left out are closed.
    pub opening_hours: Option<Vec<OpeningDay>>,
    /// False closes the point (hidden from public lists); true reopens it.
    pub active: Option<bool>,
}

/// A new staff account, created directly by an admin (outside the 附件4 change register).
#[derive(InputObject)]
pub struct CreateStaffInput {
    /// Login name: 3–64 letters, digits, `.`, `_` or `-`; stored lowercase; must be unused.
    pub username: String,
    /// Name shown to residents and on the roster (公示), 1–32 characters.
    pub display_name: String,
    /// At least 10 characters.
    pub password: String,
    /// The role; township admins may create township and village roles only.
    pub role: Role,
    /// The unit: a village for village agents, a township for township roles, the county otherwise.
    pub region_id: ID,
    /// The service point the person staffs; it must lie in `regionId`.
    pub service_point_id: Option<ID>,
    /// The number published on the roster (an office line).
    pub public_phone: Option<String>,
    /// Resident ID number (GB 11643); stored encrypted.
    pub id_number: Option<String>,
    /// Private mobile number; stored encrypted.
    pub phone: Option<String>,
    /// Work email (邮箱).
    pub email: Option<String>,
    /// 岗位
    /// The post (position), 1–64 characters.
    pub post: Option<String>,
}

/// 附件4: a replacement (with `beforeStaffId`) or an added agent.
#[derive(InputObject)]
pub struct StaffChangeInput {
    /// 单位: the unit (region) whose agent changes; its level must match `role`.
    pub region_id: ID,
    /// 变动前人员: the departing agent (same unit); omit when adding an agent.
    pub before_staff_id: Option<ID>,
    /// 岗位: the post (position), 1–64 characters.
    pub post: String,
    /// 姓名: the new person's name, 1–32 characters.
    pub name: String,
    /// The new person's login name; the account is created when the change takes effect.
    pub username: String,
    /// The new person's role: VILLAGE_AGENT, TOWNSHIP_AGENT or COUNTY_AGENT only.
    pub role: Role,
    /// The service point the new person will staff; it must lie in the unit.
    pub service_point_id: Option<ID>,
    /// 身份证号: the new person's 18-character resident ID number (GB 11643); stored encrypted.
    pub id_number: String,
    /// 联系电话: the new person's mobile number (`+86` optional); stored encrypted.
    pub phone: String,
    /// Required (附件4: 邮箱（必填）).
    pub email: String,
    /// 到岗时间: at least 3 days after today.
    pub arrival_date: NaiveDate,
}

/// 附件5: a new item, or a change to `beforeItemId`.
#[derive(InputObject)]
pub struct ItemChangeInput {
    /// 单位: the region registering the change, inside the submitter's jurisdiction.
    pub region_id: ID,
    /// The catalogue item to change; omit to add a new item.
    pub before_item_id: Option<ID>,
    /// All 附件5 fields of the item as it will be after the change.
    pub after: ItemInput,
    /// At least 3 days after today.
    pub effective_date: NaiveDate,
}

fn opt_id(value: Option<ID>, field: &str) -> Result<Option<Uuid>, AppError> {
    value.map(|v| parse_id(&v, field)).transpose()
}

/// Directory queries: regions, service points, roster, catalogue, staff, change registers.
#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Public: regions under `parentId` (or the county when omitted), or all of one `level`.
    async fn regions(
        &self,
        ctx: &Context<'_>,
        parent_id: Option<ID>,
        level: Option<RegionLevel>,
    ) -> GqlResult<Vec<Region>> {
        let parent = opt_id(parent_id, "parentId")?;
        Ok(service::list_regions(&ctx.state().db, parent, level)
            .await?
            .into_iter()
            .map(Region)
            .collect())
    }

    /// Public: one region.
    async fn region(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Region> {
        Ok(Region(
            service::region(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Public: active service points under a region (itself and below), of a kind, and/or within
    /// `radiusKm` (default 10) of `near`, nearest first.
    async fn service_points(
        &self,
        ctx: &Context<'_>,
        region_id: Option<ID>,
        kind: Option<ServicePointKind>,
        near: Option<GeoPointInput>,
        #[graphql(default = 10.0)] radius_km: f64,
    ) -> GqlResult<Vec<ServicePoint>> {
        let region = opt_id(region_id, "regionId")?;
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
    async fn service_point(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ServicePoint> {
        Ok(point(
            service::service_point(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Public: the point a scanned QR code names (`decodeURIComponent(query.scene)` in `onLoad`).
    async fn service_point_by_scene(
        &self,
        ctx: &Context<'_>,
        scene: String,
    ) -> GqlResult<ServicePoint> {
        Ok(point(
            service::service_point_by_scene(&ctx.state().db, &scene).await?,
        ))
    }

    /// Public roster (公示): the active 帮办代办 agents under a region with their unit, point and
    /// public contact number. Never ID numbers or private phones.
    async fn roster(
        &self,
        ctx: &Context<'_>,
        region_id: Option<ID>,
    ) -> GqlResult<Vec<RosterEntry>> {
        let region = opt_id(region_id, "regionId")?;
        Ok(service::roster(&ctx.state().db, region)
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

    /// Public: the active catalogue, optionally the items a level may handle, optionally
    /// matching `search` in the main item or business name.
    async fn items(
        &self,
        ctx: &Context<'_>,
        level: Option<RegionLevel>,
        search: Option<String>,
    ) -> GqlResult<Vec<Item>> {
        Ok(
            service::list_items(&ctx.state().db, level, search.as_deref())
                .await?
                .into_iter()
                .map(Item)
                .collect(),
        )
    }

    /// Public: one catalogue item.
    async fn item(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Item> {
        Ok(Item(
            service::item(&ctx.state().db, parse_id(&id, "id")?).await?,
        ))
    }

    /// Staff: colleagues inside the viewer's jurisdiction (optionally one region's subtree).
    async fn staff_members(
        &self,
        ctx: &Context<'_>,
        region_id: Option<ID>,
    ) -> GqlResult<Vec<StaffMember>> {
        let region = opt_id(region_id, "regionId")?;
        Ok(service::list_staff(ctx.state(), ctx.viewer(), region)
            .await?
            .into_iter()
            .map(StaffMember)
            .collect())
    }

    /// Staff: one colleague inside the viewer's jurisdiction (NOT_FOUND outside it).
    async fn staff_member(&self, ctx: &Context<'_>, id: ID) -> GqlResult<StaffMember> {
        let id = parse_id(&id, "id")?;
        Ok(StaffMember(
            service::staff_member(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Staff: units inside the viewer's jurisdiction that lack on-duty agents (seed §四 minimums).
    async fn staffing_shortfalls(&self, ctx: &Context<'_>) -> GqlResult<Vec<StaffingShortfall>> {
        Ok(service::staffing_gaps(ctx.state(), ctx.viewer())
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
        status: Option<ChangeStatus>,
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
        status: Option<ChangeStatus>,
    ) -> GqlResult<Vec<ItemChangeRequest>> {
        Ok(changes::item_changes(ctx.state(), ctx.viewer(), status)
            .await?
            .into_iter()
            .map(ItemChangeRequest)
            .collect())
    }

    /// The staff change register as CSV (UTF-8 with BOM) in 附件4 column order; personal data masked.
    async fn staff_change_register_csv(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(changes::staff_change_csv(ctx.state(), ctx.viewer()).await?)
    }

    /// The item change register as CSV (UTF-8 with BOM) in 附件5 column order.
    async fn item_change_register_csv(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(changes::item_change_csv(ctx.state(), ctx.viewer()).await?)
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
        id: ID,
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
        id: ID,
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
        input: CreateStaffInput,
    ) -> GqlResult<StaffMember> {
        let data = service::StaffInput {
            username: input.username,
            display_name: input.display_name,
            password: input.password,
            role: input.role,
            region_id: parse_id(&input.region_id, "input.regionId")?,
            service_point_id: opt_id(input.service_point_id, "input.servicePointId")?,
            public_phone: input.public_phone,
            id_number: input.id_number,
            phone: input.phone,
            email: input.email,
            post: input.post,
        };
        Ok(StaffMember(
            service::create_staff(ctx.state(), ctx.viewer(), data).await?,
        ))
    }

    /// Admins: mark a staff member on or off duty.
    async fn set_staff_on_duty(
        &self,
        ctx: &Context<'_>,
        staff_id: ID,
        on_duty: bool,
    ) -> GqlResult<StaffMember> {
        Ok(StaffMember(
            service::set_staff_on_duty(
                ctx.state(),
                ctx.viewer(),
                parse_id(&staff_id, "staffId")?,
                on_duty,
            )
            .await?,
        ))
    }

    /// Admins: deactivate an account; its sessions end at once.
    async fn deactivate_staff(&self, ctx: &Context<'_>, staff_id: ID) -> GqlResult<StaffMember> {
        Ok(StaffMember(
            service::deactivate_staff(ctx.state(), ctx.viewer(), parse_id(&staff_id, "staffId")?)
                .await?,
        ))
    }

    /// Admins: issue a one-time password (returned once; the person changes it later). Ends the
    /// account's sessions. Audited.
    async fn reset_staff_password(&self, ctx: &Context<'_>, staff_id: ID) -> GqlResult<String> {
        Ok(service::reset_staff_password(
            ctx.state(),
            ctx.viewer(),
            parse_id(&staff_id, "staffId")?,
        )
        .await?)
    }

    /// Admins: show a staff member's full ID number or phone. Each reveal is audited with the reason.
    async fn reveal_staff_personal_data(
        &self,
        ctx: &Context<'_>,
        staff_id: ID,
        field: PersonalField,
        reason: String,
    ) -> GqlResult<Option<String>> {
        Ok(service::reveal_staff_field(
            ctx.state(),
            ctx.viewer(),
            parse_id(&staff_id, "staffId")?,
            field,
            &reason,
        )
        .await?)
    }

    /// County admin: publish a new catalogue item.
    async fn create_item(&self, ctx: &Context<'_>, input: ItemInput) -> GqlResult<Item> {
        Ok(Item(
            service::upsert_item(ctx.state(), ctx.viewer(), None, input.into()).await?,
        ))
    }

    /// County admin: change a catalogue item.
    async fn update_item(&self, ctx: &Context<'_>, id: ID, input: ItemInput) -> GqlResult<Item> {
        Ok(Item(
            service::upsert_item(
                ctx.state(),
                ctx.viewer(),
                Some(parse_id(&id, "id")?),
                input.into(),
            )
            .await?,
        ))
    }

    /// County admin: withdraw (false) or restore (true) a catalogue item.
    async fn set_item_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> GqlResult<Item> {
        Ok(Item(
            service::set_item_active(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, active)
                .await?,
        ))
    }

    /// Admins: register a staff change (附件4) at least 3 days before the arrival date.
    async fn submit_staff_change(
        &self,
        ctx: &Context<'_>,
        input: StaffChangeInput,
    ) -> GqlResult<StaffChangeRequest> {
        let data = StaffChangeData {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            before_staff_id: opt_id(input.before_staff_id, "input.beforeStaffId")?,
            post: input.post,
            name: input.name,
            username: input.username,
            role: input.role,
            service_point_id: opt_id(input.service_point_id, "input.servicePointId")?,
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
        id: ID,
        approve: bool,
        reason: Option<String>,
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
        input: ItemChangeInput,
    ) -> GqlResult<ItemChangeRequest> {
        let data = ItemChangeData {
            region_id: parse_id(&input.region_id, "input.regionId")?,
            before_item_id: opt_id(input.before_item_id, "input.beforeItemId")?,
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
        id: ID,
        approve: bool,
        reason: Option<String>,
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
