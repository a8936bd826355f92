//! Directory use cases: regions, service points (and their QR codes), staff and the public
//! roster, staffing shortfalls, the item catalogue. Change registers are in `changes.rs`.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{items, regions, service_points, staff_accounts};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::{Role, Viewer, password::hash_password, service::revoke_all_sessions},
    directory::{
        jurisdiction::Jurisdiction,
        model::{
            HandlingType, OpeningHours, RegionLevel, STAFF_DUTY_CHANGED, ServicePointKind,
            StaffingUnit, staffing_shortfalls, text,
        },
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    pii::{Email, MobileNumber, ResidentIdNumber},
    state::AppState,
};

// ---------------------------------------------------------------- regions

pub fn level_of(region: &regions::Model) -> RegionLevel {
    region.level.parse().unwrap_or(RegionLevel::Village)
}

pub async fn region(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<regions::Model> {
    regions::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("region"))
}

/// Public: regions under a parent (or the roots), optionally of one level.
pub async fn list_regions(
    conn: &impl ConnectionTrait,
    parent_id: Option<Uuid>,
    level: Option<RegionLevel>,
) -> AppResult<Vec<regions::Model>> {
    let mut query = regions::Entity::find().order_by_asc(regions::Column::Code);
    match parent_id {
        Some(parent) => query = query.filter(regions::Column::ParentId.eq(parent)),
        None if level.is_none() => query = query.filter(regions::Column::ParentId.is_null()),
        None => {}
    }
    if let Some(level) = level {
        query = query.filter(regions::Column::Level.eq(level.as_str()));
    }
    Ok(query.all(conn).await?)
}

/// Every region inside `root` (itself included).
pub async fn subtree(
    conn: &impl ConnectionTrait,
    root: &regions::Model,
) -> AppResult<Vec<regions::Model>> {
    Ok(regions::Entity::find()
        .filter(regions::Column::Path.starts_with(&root.path))
        .order_by_asc(regions::Column::Code)
        .all(conn)
        .await?)
}

pub struct NewRegion {
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub demo: bool,
}

/// Inserts a region below its parent (or as the county root), checking the division code.
pub async fn insert_region(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    input: NewRegion,
) -> AppResult<regions::Model> {
    let name = text(&input.name, "input.name", 64)?;
    let (level, parent) = match input.parent_id {
        None => (RegionLevel::County, None),
        Some(parent_id) => {
            let parent = region(conn, parent_id).await?;
            let level = level_of(&parent).child().ok_or_else(|| {
                AppError::bad_input("input.parentId", "villages have no sub-regions")
            })?;
            (level, Some(parent))
        }
    };
    let code = input.code.trim().to_string();
    if code.len() != level.code_len() || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_input(
            "input.code",
            format!(
                "a {} division code has {} digits",
                level.as_str(),
                level.code_len()
            ),
        ));
    }
    if let Some(parent) = &parent
        && !code.starts_with(&parent.code)
    {
        return Err(AppError::bad_input(
            "input.code",
            format!("must start with the parent's code {}", parent.code),
        ));
    }
    let id = Uuid::now_v7();
    let path = format!(
        "{}{id}/",
        parent.as_ref().map(|p| p.path.as_str()).unwrap_or("/")
    );
    let inserted = regions::ActiveModel {
        id: Set(id),
        code: Set(code),
        name: Set(name),
        level: Set(level.as_str().into()),
        parent_id: Set(parent.map(|p| p.id)),
        path: Set(path),
        demo: Set(input.demo),
        created_at: Set(now),
    }
    .insert(conn)
    .await;
    match inserted {
        Ok(region) => Ok(region),
        Err(error) if crate::error::is_unique_violation(&error) => Err(AppError::bad_input(
            "input.code",
            "a region with this code exists",
        )),
        Err(error) => Err(error.into()),
    }
}

/// County admin: adds a region (the county loads its real village lists this way).
pub async fn create_region(
    state: &AppState,
    viewer: &Viewer,
    input: NewRegion,
) -> AppResult<regions::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    who.ensure_county_admin()?;
    let now = state.clock.now();
    let region = insert_region(
        &txn,
        now,
        NewRegion {
            demo: false,
            ..input
        },
    )
    .await?;
    audit::record_action(
        &txn,
        now,
        viewer,
        "region.create",
        "region",
        region.id,
        json!({"code": region.code, "name": region.name}),
    )
    .await?;
    txn.commit().await?;
    Ok(region)
}

// ---------------------------------------------------------------- service points

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

fn check_public_phone(raw: Option<String>, field: &str) -> AppResult<Option<String>> {
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
    who.ensure_covers(&target, "region")?;
    who.ensure_admin()?;
    let now = state.clock.now();
    let point = insert_service_point(&txn, now, input).await?;
    audit::record_action(
        &txn,
        now,
        viewer,
        "service_point.create",
        "service_point",
        point.id,
        json!({"name": point.name, "kind": point.kind}),
    )
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
    who.ensure_covers(&region(&txn, point.region_id).await?, "service point")?;
    who.ensure_admin()?;
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
    audit::record_action(
        &txn,
        now,
        viewer,
        "service_point.update",
        "service_point",
        point.id,
        json!({"name": point.name, "active": point.active}),
    )
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
    {
        let who = Jurisdiction::of(&state.db, viewer).await?;
        let point = service_point(&state.db, id).await?;
        who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
        who.ensure_admin()?;
    }
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
    audit::record_action(
        &txn,
        now,
        viewer,
        "service_point.qr_code",
        "service_point",
        point.id,
        json!({"scene": point.scene}),
    )
    .await?;
    txn.commit().await?;
    Ok(point)
}

// ---------------------------------------------------------------- staff

pub struct StaffInput {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub region_id: Uuid,
    pub service_point_id: Option<Uuid>,
    pub public_phone: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub post: Option<String>,
}

/// Checks that a role fits a region (and a point, for agents).
async fn check_placement(
    conn: &impl ConnectionTrait,
    role: Role,
    region: &regions::Model,
    service_point_id: Option<Uuid>,
    field_prefix: &str,
) -> AppResult<()> {
    if RegionLevel::of_role(role) != level_of(region) {
        return Err(AppError::bad_input(
            format!("{field_prefix}role"),
            format!(
                "a {} works in a {} region",
                role.as_str(),
                RegionLevel::of_role(role).as_str()
            ),
        ));
    }
    if let Some(point_id) = service_point_id {
        let point = service_point(conn, point_id).await.map_err(|_| {
            AppError::bad_input(
                format!("{field_prefix}servicePointId"),
                "no such service point",
            )
        })?;
        if point.region_id != region.id {
            return Err(AppError::bad_input(
                format!("{field_prefix}servicePointId"),
                "the service point is not in the staff member's region",
            ));
        }
    }
    Ok(())
}

/// Personal fields of a staff member, encrypted with blind indexes.
pub struct SealedPersonalData {
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_bidx: Option<String>,
}

pub fn seal(
    state: &AppState,
    id: Option<&ResidentIdNumber>,
    phone: Option<&MobileNumber>,
) -> AppResult<SealedPersonalData> {
    let cipher = &state.cipher;
    Ok(SealedPersonalData {
        id_number_enc: id
            .map(|v| cipher.encrypt(v.as_str()))
            .transpose()
            .map_err(AppError::internal)?,
        id_number_bidx: id.map(|v| cipher.blind_index("id_number", v.as_str())),
        phone_enc: phone
            .map(|v| cipher.encrypt(v.as_str()))
            .transpose()
            .map_err(AppError::internal)?,
        phone_bidx: phone.map(|v| cipher.blind_index("phone", v.as_str())),
    })
}

/// An admin creates a staff account inside their jurisdiction.
pub async fn create_staff(
    state: &AppState,
    viewer: &Viewer,
    input: StaffInput,
) -> AppResult<staff_accounts::Model> {
    let id_number = input
        .id_number
        .as_deref()
        .map(|v| ResidentIdNumber::parse(v, "input.idNumber"))
        .transpose()?;
    let phone = input
        .phone
        .as_deref()
        .map(|v| MobileNumber::parse(v, "input.phone"))
        .transpose()?;
    let email = input
        .email
        .as_deref()
        .map(|v| Email::parse(v, "input.email"))
        .transpose()?;
    let post = input
        .post
        .as_deref()
        .map(|v| text(v, "input.post", 64))
        .transpose()?;
    let public_phone = check_public_phone(input.public_phone, "input.publicPhone")?;
    let mut txn = Tx::begin(state).await?;
    let who = Jurisdiction::of(&*txn, viewer).await?;
    let target = region(&*txn, input.region_id)
        .await
        .map_err(crate::error::hidden_as_not_found("region"))?;
    who.ensure_covers(&target, "region")?;
    who.ensure_admin()?;
    if who.role == Role::TownshipAdmin
        && !matches!(
            input.role,
            Role::TownshipAgent | Role::VillageAgent | Role::TownshipAdmin
        )
    {
        return Err(AppError::Forbidden(
            "a township administrator creates township and village staff only".into(),
        ));
    }
    check_placement(&*txn, input.role, &target, input.service_point_id, "input.").await?;
    let now = state.clock.now();
    let staff = crate::auth::service::create_staff(
        &*txn,
        now,
        crate::auth::service::NewStaff {
            username: input.username,
            display_name: input.display_name,
            password: input.password,
            role: input.role,
            unit_id: Some(target.id),
        },
    )
    .await?;
    let sealed = seal(state, id_number.as_ref(), phone.as_ref())?;
    let mut active: staff_accounts::ActiveModel = staff.into();
    active.service_point_id = Set(input.service_point_id);
    active.public_phone = Set(public_phone);
    active.id_number_enc = Set(sealed.id_number_enc);
    active.id_number_bidx = Set(sealed.id_number_bidx);
    active.phone_enc = Set(sealed.phone_enc);
    active.phone_bidx = Set(sealed.phone_bidx);
    active.email = Set(email.map(|e| e.as_str().to_string()));
    active.post = Set(post);
    let staff = active.update(&*txn).await?;
    txn.audit(audit::Pending::action(
        now,
        viewer,
        "staff.create",
        "staff",
        staff.id,
        json!({"username": staff.username, "role": staff.role, "region": target.code}),
    ));
    // A new agent at a point adds seats to its days already generated.
    txn.emit_all(duty_changed(&staff));
    txn.commit().await?;
    Ok(staff)
}

/// A staff member as another viewer may see them: NOT_FOUND outside the jurisdiction.
pub async fn staff_in_jurisdiction(
    conn: &impl ConnectionTrait,
    who: &Jurisdiction,
    staff_id: Uuid,
) -> AppResult<staff_accounts::Model> {
    let staff = staff_accounts::Entity::find_by_id(staff_id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("staff member"))?;
    let Some(unit) = staff.unit_id else {
        return Err(AppError::NotFound("staff member"));
    };
    who.ensure_covers(&region(conn, unit).await?, "staff member")?;
    Ok(staff)
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

/// One staff member inside the viewer's jurisdiction (NOT_FOUND outside it).
pub async fn staff_member(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<staff_accounts::Model> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    staff_in_jurisdiction(&state.db, &who, id).await
}

/// Staff inside the viewer's jurisdiction (optionally one region's subtree).
pub async fn list_staff(
    state: &AppState,
    viewer: &Viewer,
    region_id: Option<Uuid>,
) -> AppResult<Vec<staff_accounts::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let root = match region_id {
        Some(id) => {
            let r = region(&state.db, id).await?;
            who.ensure_covers(&r, "region")?;
            r
        }
        None => who.region.clone(),
    };
    let regions: Vec<Uuid> = subtree(&state.db, &root)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.is_in(regions))
        .order_by_asc(staff_accounts::Column::Username)
        .all(&state.db)
        .await?)
}

async fn guarded_staff_change(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
    action: &str,
    apply: impl FnOnce(&mut staff_accounts::ActiveModel),
) -> AppResult<staff_accounts::Model> {
    let mut txn = Tx::begin(state).await?;
    let who = Jurisdiction::of(&*txn, viewer).await?;
    let staff = staff_in_jurisdiction(&*txn, &who, staff_id).await?;
    who.ensure_admin()?;
    let before = (staff.on_duty, staff.active);
    let mut active: staff_accounts::ActiveModel = staff.into();
    apply(&mut active);
    let staff = active.update(&*txn).await?;
    let now = state.clock.now();
    if !staff.active {
        revoke_all_sessions(&*txn, staff.id, "deactivated", now).await?;
    }
    let details = json!({"onDuty": staff.on_duty, "active": staff.active});
    txn.audit(audit::Pending::action(
        now, viewer, action, "staff", staff.id, details,
    ));
    // Capacities of the point's generated days follow (never below what is booked).
    if before != (staff.on_duty, staff.active) {
        txn.emit_all(duty_changed(&staff));
    }
    txn.commit().await?;
    Ok(staff)
}

/// Marks an agent on or off duty (off-duty agents do not count toward staffing minimums).
pub async fn set_staff_on_duty(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
    on_duty: bool,
) -> AppResult<staff_accounts::Model> {
    let staff = guarded_staff_change(state, viewer, staff_id, "staff.on_duty", |s| {
        s.on_duty = Set(on_duty)
    })
    .await?;
    Ok(staff)
}

/// Deactivates an account; its sessions end at once.
pub async fn deactivate_staff(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
) -> AppResult<staff_accounts::Model> {
    if viewer_staff_id(viewer) == Some(staff_id) {
        return Err(AppError::bad_input(
            "staffId",
            "you cannot deactivate yourself",
        ));
    }
    let staff = guarded_staff_change(state, viewer, staff_id, "staff.deactivate", |s| {
        s.active = Set(false);
        s.on_duty = Set(false);
    })
    .await?;
    Ok(staff)
}

/// The directory's word that a staff member's standing duty changed (created, marked on or
/// off duty, deactivated, replaced by a staff change), for the rooms that plan by duty: the
/// booking desk's slot capacities follow it through a durable reaction. Nothing for staff
/// who serve at no point.
pub(crate) fn duty_changed(staff: &staff_accounts::Model) -> Option<EventDraft> {
    let point = staff.service_point_id?;
    Some(EventDraft {
        kind: STAFF_DUTY_CHANGED,
        topic: "directory",
        subject_kind: "staff",
        subject_id: staff.id.to_string(),
        audience: vec![staff_key(staff.id)],
        payload: json!({"servicePointId": point, "onDuty": staff.on_duty, "active": staff.active}),
    })
}

fn viewer_staff_id(viewer: &Viewer) -> Option<Uuid> {
    match viewer {
        Viewer::Staff { staff_id, .. } => Some(*staff_id),
        _ => None,
    }
}

/// Sets a new random one-time password and returns it to the admin (audited). The account's
/// open sessions end.
pub async fn reset_staff_password(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
) -> AppResult<String> {
    let password: String = {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
        let mut rng = rand::thread_rng();
        (0..16)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect()
    };
    let hash = hash_password(password.clone()).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let staff = staff_in_jurisdiction(&txn, &who, staff_id).await?;
    who.ensure_admin()?;
    let now = state.clock.now();
    let mut active: staff_accounts::ActiveModel = staff.into();
    active.password_hash = Set(hash);
    active.failed_logins = Set(0);
    active.locked_until = Set(None);
    let staff = active.update(&txn).await?;
    revoke_all_sessions(&txn, staff.id, "password_reset", now).await?;
    audit::record_action(
        &txn,
        now,
        viewer,
        "staff.password_reset",
        "staff",
        staff.id,
        json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(password)
}

/// Which personal field to reveal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum PersonalField {
    /// 身份证号: the full resident ID number.
    IdNumber,
    /// 手机号: the full private mobile number.
    Phone,
}

/// Reveals a staff member's full ID number or phone: admins only, inside their jurisdiction,
/// and every reveal is written to the audit log with the reason given.
pub async fn reveal_staff_field(
    state: &AppState,
    viewer: &Viewer,
    staff_id: Uuid,
    field: PersonalField,
    reason: &str,
) -> AppResult<Option<String>> {
    let reason = text(reason, "reason", 200)?;
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let staff = staff_in_jurisdiction(&txn, &who, staff_id).await?;
    who.ensure_may_reveal()?;
    let sealed = match field {
        PersonalField::IdNumber => staff.id_number_enc.as_deref(),
        PersonalField::Phone => staff.phone_enc.as_deref(),
    };
    let plain = sealed
        .map(|v| state.cipher.decrypt(v))
        .transpose()
        .map_err(AppError::internal)?;
    audit::record_action(
        &txn,
        state.clock.now(),
        viewer,
        "pii.reveal",
        "staff",
        staff.id,
        json!({"field": format!("{field:?}"), "reason": reason}),
    )
    .await?;
    txn.commit().await?;
    Ok(plain)
}

/// Masked personal data of a staff member, for listings.
pub struct MaskedPersonal {
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

/// An error when a stored value does not decrypt (a wrong data key): never "absent".
pub fn masked_personal(
    state: &AppState,
    staff: &staff_accounts::Model,
) -> AppResult<MaskedPersonal> {
    Ok(MaskedPersonal {
        id_number: staff
            .id_number_enc
            .as_deref()
            .map(|v| state.cipher.masked_id_number(v))
            .transpose()
            .map_err(AppError::internal)?,
        phone: staff
            .phone_enc
            .as_deref()
            .map(|v| state.cipher.masked_phone(v))
            .transpose()
            .map_err(AppError::internal)?,
    })
}

/// One line of the public roster (公示): never ID numbers or private phones.
pub struct RosterEntry {
    pub name: String,
    pub role: Role,
    pub region: regions::Model,
    pub service_point: Option<service_points::Model>,
    pub public_phone: Option<String>,
}

const AGENT_ROLES: [&str; 3] = ["village_agent", "township_agent", "county_agent"];

/// Public: active agents inside a region (or everywhere), with their unit and point.
pub async fn roster(
    conn: &impl ConnectionTrait,
    region_id: Option<Uuid>,
) -> AppResult<Vec<RosterEntry>> {
    let regions: HashMap<Uuid, regions::Model> = match region_id {
        Some(id) => subtree(conn, &region(conn, id).await?).await?,
        None => regions::Entity::find().all(conn).await?,
    }
    .into_iter()
    .map(|r| (r.id, r))
    .collect();
    let staff = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(staff_accounts::Column::Role.is_in(AGENT_ROLES))
        .filter(staff_accounts::Column::UnitId.is_in(regions.keys().copied().collect::<Vec<_>>()))
        .order_by_asc(staff_accounts::Column::DisplayName)
        .all(conn)
        .await?;
    let points: HashMap<Uuid, service_points::Model> = service_points::Entity::find()
        .filter(
            service_points::Column::Id.is_in(
                staff
                    .iter()
                    .filter_map(|s| s.service_point_id)
                    .collect::<Vec<_>>(),
            ),
        )
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(staff
        .into_iter()
        .filter_map(|s| {
            let region = regions.get(&s.unit_id?)?.clone();
            Some(RosterEntry {
                name: s.display_name,
                role: s.role.parse().ok()?,
                region,
                service_point: s.service_point_id.and_then(|p| points.get(&p).cloned()),
                public_phone: s.public_phone,
            })
        })
        .collect())
}

/// A unit below its staffing minimum.
pub struct StaffingGap {
    pub kind: StaffingUnit,
    pub region: regions::Model,
    pub service_point: Option<service_points::Model>,
    pub required: i64,
    pub on_duty: i64,
}

/// Units inside the viewer's jurisdiction that have fewer on-duty agents than seed §四 requires.
pub async fn staffing_gaps(state: &AppState, viewer: &Viewer) -> AppResult<Vec<StaffingGap>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let regions = subtree(&state.db, &who.region).await?;
    let region_ids: Vec<Uuid> = regions.iter().map(|r| r.id).collect();
    let points = service_points::Entity::find()
        .filter(service_points::Column::RegionId.is_in(region_ids.clone()))
        .filter(service_points::Column::Active.eq(true))
        .all(&state.db)
        .await?;
    let agents = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(staff_accounts::Column::OnDuty.eq(true))
        .filter(staff_accounts::Column::Role.is_in(AGENT_ROLES))
        .filter(staff_accounts::Column::UnitId.is_in(region_ids))
        .all(&state.db)
        .await?;
    let per_point = |id: Uuid| {
        agents
            .iter()
            .filter(|a| a.service_point_id == Some(id))
            .count() as i64
    };
    let per_region = |id: Uuid| agents.iter().filter(|a| a.unit_id == Some(id)).count() as i64;
    #[derive(Clone)]
    enum Unit {
        Point(usize),
        Region(usize),
    }
    let mut units = Vec::new();
    for (i, point) in points.iter().enumerate() {
        match point.kind.parse::<ServicePointKind>() {
            Ok(ServicePointKind::CountyZone) => units.push((
                Unit::Point(i),
                StaffingUnit::CountyZone,
                per_point(point.id),
            )),
            Ok(ServicePointKind::WindowUnit) => units.push((
                Unit::Point(i),
                StaffingUnit::WindowUnit,
                per_point(point.id),
            )),
            _ => {}
        }
    }
    for (i, region) in regions.iter().enumerate() {
        match level_of(region) {
            RegionLevel::Township => units.push((
                Unit::Region(i),
                StaffingUnit::Township,
                per_region(region.id),
            )),
            RegionLevel::Village => units.push((
                Unit::Region(i),
                StaffingUnit::Village,
                per_region(region.id),
            )),
            RegionLevel::County => {}
        }
    }
    Ok(staffing_shortfalls(&units)
        .into_iter()
        .map(|s| {
            let (region, service_point) = match s.unit {
                Unit::Point(i) => {
                    let point = points[i].clone();
                    let region = regions
                        .iter()
                        .find(|r| r.id == point.region_id)
                        .cloned()
                        .unwrap_or_else(|| who.region.clone());
                    (region, Some(point))
                }
                Unit::Region(i) => (regions[i].clone(), None),
            };
            StaffingGap {
                kind: s.kind,
                region,
                service_point,
                required: s.required,
                on_duty: s.on_duty,
            }
        })
        .collect())
}

// ---------------------------------------------------------------- items

/// The 附件5 fields of a catalogue item, validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ItemFields {
    pub main_item: String,
    pub in_provincial_list: bool,
    pub business_name: String,
    pub item_type: String,
    pub on_integrated_platform: bool,
    pub handling_type: HandlingType,
    pub at_most_one_visit: bool,
    pub promised_working_days: i32,
    pub materials: Vec<String>,
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
            handling_type: HandlingType::parse(&item.handling_type)
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

/// Public: active catalogue items, optionally those a level may handle, optionally matching text.
pub async fn list_items(
    conn: &impl ConnectionTrait,
    level: Option<RegionLevel>,
    search: Option<&str>,
) -> AppResult<Vec<items::Model>> {
    let mut query = items::Entity::find()
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

/// Writes an item (new when `id` is None) without permission checks: used by the seed, by
/// `upsert_item` and by applied change requests.
pub async fn write_item(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    id: Option<Uuid>,
    fields: &ItemFields,
) -> AppResult<items::Model> {
    let base = match id {
        Some(id) => item(conn, id).await?.into(),
        None => items::ActiveModel {
            id: Set(Uuid::now_v7()),
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

/// County admin: publishes a new item or changes one (the county centre owns the catalogue).
pub async fn upsert_item(
    state: &AppState,
    viewer: &Viewer,
    id: Option<Uuid>,
    fields: ItemFields,
) -> AppResult<items::Model> {
    let fields = fields.validate("input.")?;
    let txn = crate::db::begin_write(&state.db).await?;
    Jurisdiction::of(&txn, viewer)
        .await?
        .ensure_county_admin()?;
    let now = state.clock.now();
    let item = write_item(&txn, now, id, &fields).await?;
    audit::record_action(
        &txn,
        now,
        viewer,
        if id.is_some() {
            "item.update"
        } else {
            "item.create"
        },
        "item",
        item.id,
        json!({"businessName": item.business_name}),
    )
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
    Jurisdiction::of(&txn, viewer)
        .await?
        .ensure_county_admin()?;
    let mut active: items::ActiveModel = item(&txn, id).await?.into();
    active.active = Set(active_flag);
    active.updated_at = Set(state.clock.now());
    let item = active.update(&txn).await?;
    audit::record_action(
        &txn,
        state.clock.now(),
        viewer,
        "item.active",
        "item",
        item.id,
        json!({"active": active_flag}),
    )
    .await?;
    txn.commit().await?;
    Ok(item)
}
