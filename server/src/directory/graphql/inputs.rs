//! The directory's GraphQL inputs.
use async_graphql::{ID, InputObject};
use chrono::NaiveDate;

use crate::{
    auth::Role,
    directory::{catalogue::ItemFields, graphql::types::OpeningDay, model::ServicePointKind},
};

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
    pub after: ItemFields,
    /// At least 3 days after today.
    pub effective_date: NaiveDate,
}
