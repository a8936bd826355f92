//! Directory use cases for staff: accounts, duty, personal data (sealed, masked, revealed
//! under audit), the public roster and staffing shortfalls.
use std::collections::HashMap;

use entity::{regions, service_points, staff_accounts};
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
            RegionLevel, STAFF_DUTY_CHANGED, ServicePointKind, StaffingUnit, staffing_shortfalls,
            text,
        },
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    pii::{Email, MobileNumber, ResidentIdNumber},
    state::AppState,
};

use super::{
    points::{check_public_phone, service_point},
    regions::{level_of, region, subtree},
};

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
        // A point elsewhere answers as a missing one: nothing tells another county's (or
        // township's) points apart from none.
        let refused = || {
            AppError::bad_input(
                format!("{field_prefix}servicePointId"),
                "no such service point in the staff member's region",
            )
        };
        let point = service_point(conn, point_id).await.map_err(|_| refused())?;
        if point.region_id != region.id {
            return Err(refused());
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
    who.ensure_admin_over(&target, "region")?;
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
        target.county_id,
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
        now,
        viewer,
        who.county_id(),
        action,
        "staff",
        staff.id,
        details,
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

/// Deactivates an account; its sessions end at once and its WeChat binding is released.
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
        // Their WeChat is theirs again: it may be bound to another account at once.
        s.wechat_user_id = Set(None);
        s.wechat_bound_at = Set(None);
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
    audit::Pending::action(
        now,
        viewer,
        who.county_id(),
        "staff.password_reset",
        "staff",
        staff.id,
        json!({}),
    )
    .append(&txn)
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
    audit::Pending::action(
        state.clock.now(),
        viewer,
        who.county_id(),
        "pii.reveal",
        "staff",
        staff.id,
        json!({"field": format!("{field:?}"), "reason": reason}),
    )
    .append(&txn)
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
