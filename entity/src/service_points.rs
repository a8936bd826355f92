//! A place where residents get help: the county hall's zone or a window unit, a township
//! centre, or a village point.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "service_points")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub region_id: Uuid,
    /// `county_zone`, `window_unit`, `township_center` or `village_point`.
    pub kind: String,
    pub name: String,
    pub address: String,
    pub public_phone: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// JSON: seven weekdays (Monday first), each a list of `["09:00","12:00"]` intervals.
    pub opening_hours: String,
    /// Compact id used as the WeChat QR code scene.
    #[sea_orm(unique)]
    pub scene: String,
    pub qr_code: Option<Vec<u8>>,
    pub qr_generated_at: Option<DateTimeUtc>,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
