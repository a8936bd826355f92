//! Directory use cases for service points: listing and finding them (also by a scanned QR
//! code's scene), adding and changing them, and their WeChat QR codes.
use chrono::{DateTime, Utc};
use entity::service_points;
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::Viewer,
    directory::{
        jurisdiction::Jurisdiction,
        model::{OpeningHours, ServicePointKind, text},
        regions::{level_of, region, subtree},
    },
    error::{AppError, AppResult},
    state::AppState,
};

pub async fn service_point(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<service_points::Model> {
    service_points::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("service point"))
}

/// Public: active points inside a region (or everywhere), optionally of one kind, optionally
/// within `radius_km` of a point (nearest first).
pub async fn list_service_points(
    conn: &impl ConnectionTrait,
    region_id: Option<Uuid>,
    kind: Option<ServicePointKind>,
    near: Option<(f64, f64, f64)>,
) -> AppResult<Vec<(service_points::Model, Option<f64>)>> {
    let mut query = service_points::Entity::find()
        .filter(service_points::Column::Active.eq(true))
        .order_by_asc(service_points::Column::Name);
    if let Some(region_id) = region_id {
        let root = region(conn, region_id).await?;
        let ids: Vec<Uuid> = subtree(conn, &root)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        query = query.filter(service_points::Column::RegionId.is_in(ids));
    }
    if let Some(kind) = kind {
        query = query.filter(service_points::Column::Kind.eq(kind.as_str()));
    }
    let points = query.all(conn).await?;
    let Some((lat, lng, radius)) = near else {
        return Ok(points.into_iter().map(|p| (p, None)).collect());
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(AppError::bad_input(
            "near",
            "latitude must be within ±90 and longitude within ±180",
        ));
    }
    if !(radius > 0.0 && radius <= 200.0) {
        return Err(AppError::bad_input(
            "radiusKm",
            "must be greater than 0 and at most 200",
        ));
    }
    let mut located: Vec<_> = points
        .into_iter()
        .filter_map(|p| {
            let distance = haversine_km(lat, lng, p.latitude?, p.longitude?);
            (distance <= radius).then_some((p, Some(distance)))
        })
        .collect();
    located.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
    Ok(located)
}

/// Great-circle distance in kilometres.
pub fn haversine_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

/// A short QR scene: `p=` and 8 characters of `[0-9a-z]` (WeChat allows at most 32).
fn new_scene() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("p={tail}")
}

pub struct ServicePointInput {
    pub region_id: Uuid,
    pub kind: ServicePointKind,
    pub name: String,
    pub address: String,
    pub public_phone: Option<String>,
    pub location: Option<(f64, f64)>,
    pub opening_hours: Option<OpeningHours>,
}

pub(super) fn check_public_phone(raw: Option<String>, field: &str) -> AppResult<Option<String>> {
    let Some(raw) = raw.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let ok = raw.len() <= 20
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' '));
    if ok {
        Ok(Some(raw))
    } else {
        Err(AppError::bad_input(
            field,
            "a phone number: digits, '-', '+' and spaces, at most 20",
        ))
    }
}

fn check_location(location: Option<(f64, f64)>) -> AppResult<(Option<f64>, Option<f64>)> {
    match location {
        None => Ok((None, None)),
        Some((lat, lng)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng) => {
            Ok((Some(lat), Some(lng)))
        }
        Some(_) => Err(AppError::bad_input(
            "input.location",
            "latitude must be within ±90 and longitude within ±180",
        )),
    }
}

/// Inserts a point (validated) without permission checks: used by the seed and by `create_service_point`.
pub async fn insert_service_point(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    input: ServicePointInput,
) -> AppResult<service_points::Model> {
    let region =
        region(conn, input.region_id)
            .await
            .map_err(crate::error::missing_as_bad_input(
                "input.regionId",
                "no such region",
            ))?;
    if level_of(&region) != input.kind.level() {
        return Err(AppError::bad_input(
            "input.kind",
            format!(
                "a {:?} belongs to a {} region",
                input.kind,
                input.kind.level().as_str()
            ),
        ));
    }
    let (latitude, longitude) = check_location(input.location)?;
    let model = service_points::ActiveModel {
        id: Set(Uuid::now_v7()),
        region_id: Set(region.id),
        kind: Set(input.kind.as_str().into()),
        name: Set(text(&input.name, "input.name", 64)?),
        address: Set(text(&input.address, "input.address", 200)?),
        public_phone: Set(check_public_phone(input.public_phone, "input.phone")?),
        latitude: Set(latitude),
        longitude: Set(longitude),
        opening_hours: Set(input
            .opening_hours
            .unwrap_or_else(OpeningHours::standard)
            .to_json()),
        scene: Set(new_scene()),
        qr_code: Set(None),
        qr_generated_at: Set(None),
        active: Set(true),
        created_at: Set(now),
    };
    Ok(model.insert(conn).await?)
}

pub async fn create_service_point(
    state: &AppState,
    viewer: &Viewer,
    input: ServicePointInput,
) -> AppResult<service_points::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let target = region(&txn, input.region_id)
        .await
        .map_err(crate::error::hidden_as_not_found("region"))?;
    who.ensure_admin_over(&target, "region")?;
    let now = state.clock.now();
    let point = insert_service_point(&txn, now, input).await?;
    audit::Pending::action(
        now,
        viewer,
        target.county_id,
        "service_point.create",
        "service_point",
        point.id,
        json!({"name": point.name, "kind": point.kind}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(point)
}

pub struct ServicePointUpdate {
    pub name: Option<String>,
    pub address: Option<String>,
    pub public_phone: Option<Option<String>>,
    pub location: Option<Option<(f64, f64)>>,
    pub opening_hours: Option<OpeningHours>,
    pub active: Option<bool>,
}

pub async fn update_service_point(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    update: ServicePointUpdate,
) -> AppResult<service_points::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let point = service_point(&txn, id).await?;
    who.ensure_admin_over(&region(&txn, point.region_id).await?, "service point")?;
    let mut active: service_points::ActiveModel = point.into();
    if let Some(name) = update.name {
        active.name = Set(text(&name, "input.name", 64)?);
    }
    if let Some(address) = update.address {
        active.address = Set(text(&address, "input.address", 200)?);
    }
    if let Some(phone) = update.public_phone {
        active.public_phone = Set(check_public_phone(phone, "input.phone")?);
    }
    if let Some(location) = update.location {
        let (lat, lng) = check_location(location)?;
        active.latitude = Set(lat);
        active.longitude = Set(lng);
    }
    if let Some(hours) = update.opening_hours {
        active.opening_hours = Set(hours.to_json());
    }
    if let Some(flag) = update.active {
        active.active = Set(flag);
    }
    let point = active.update(&txn).await?;
    let now = state.clock.now();
    audit::Pending::action(
        now,
        viewer,
        who.county_id(),
        "service_point.update",
        "service_point",
        point.id,
        json!({"name": point.name, "active": point.active}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(point)
}

/// Fetches the point's WeChat QR code (getUnlimitedQRCode, scene = the point's compact id) and
/// stores the image.
pub async fn generate_qr_code(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<service_points::Model> {
    let county = {
        let who = Jurisdiction::of(&state.db, viewer).await?;
        let point = service_point(&state.db, id).await?;
        who.ensure_admin_over(&region(&state.db, point.region_id).await?, "service point")?;
        who.county_id()
    };
    let point = service_point(&state.db, id).await?;
    let wechat = state.wechat.as_ref().ok_or_else(|| {
        AppError::UpstreamWechat(
            "QR codes need WeChat credentials (BANGBAN_WECHAT_APPID); dev login has none".into(),
        )
    })?;
    let png = wechat
        .unlimited_qr_code(&point.scene, "pages/checkin/index")
        .await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let mut active: service_points::ActiveModel = point.into();
    active.qr_code = Set(Some(png));
    active.qr_generated_at = Set(Some(now));
    let point = active.update(&txn).await?;
    audit::Pending::action(
        now,
        viewer,
        county,
        "service_point.qr_code",
        "service_point",
        point.id,
        json!({"scene": point.scene}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(point)
}

/// Public: the point a scanned QR code names.
pub async fn service_point_by_scene(
    conn: &impl ConnectionTrait,
    scene: &str,
) -> AppResult<service_points::Model> {
    service_points::Entity::find()
        .filter(service_points::Column::Scene.eq(scene.trim()))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("service point"))
}
