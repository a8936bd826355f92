//! An item of the 帮办代办 catalogue (事项目录), with the 附件5 fields.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The county whose catalogue this item belongs to (each county keeps its own).
    pub county_id: Option<Uuid>,
    /// 事项清单目录（主项）
    pub main_item: String,
    /// 是否列入省“四级四同”清单
    pub in_provincial_list: bool,
    /// 业务办理项目名称
    pub business_name: String,
    /// 事项类型 (行政许可, 行政确认, 公共服务 …)
    pub item_type: String,
    /// 事项是否在一体化平台办理
    pub on_integrated_platform: bool,
    /// `immediate` (即办件) or `promised` (承诺件)
    pub handling_type: String,
    /// 是否最多跑一次办理
    pub at_most_one_visit: bool,
    pub promised_working_days: i32,
    /// JSON list of required materials.
    pub materials: String,
    /// Comma-separated levels that may handle it: `county,township,village`.
    pub levels: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
