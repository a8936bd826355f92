//! The published ways to complain in a county (seed §八(四) 向社会公布监督投诉方式): public to read;
//! the county centre's administrator replaces the list (audited). A county that has set none
//! shows the default: the mini-program, the 12345 hotline and the hall's window.
use entity::{complaint_channels, regions};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::signed_in,
    complaints::model::ComplaintChannelKind,
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// One way to complain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub kind: ComplaintChannelKind,
    pub label: String,
    pub value: String,
    pub hours: Option<String>,
}

/// The default list (shown until the county sets its own).
pub fn defaults() -> Vec<Channel> {
    let channel = |kind, label: &str, value: &str, hours: &str| Channel {
        kind,
        label: label.into(),
        value: value.into(),
        hours: Some(hours.into()),
    };
    vec![
        channel(
            ComplaintChannelKind::MiniProgram,
            "帮办代办小程序",
            "我的 → 投诉举报",
            "全天",
        ),
        channel(
            ComplaintChannelKind::Phone,
            "12345政务服务便民热线",
            "12345",
            "7×24小时",
        ),
        channel(
            ComplaintChannelKind::Window,
            "县政务服务中心投诉受理窗口",
            "县政务服务中心一楼",
            "工作日 9:00–17:00",
        ),
    ]
}

async fn county(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<regions::Model> {
    regions::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|r| r.level == "county")
        .ok_or(AppError::NotFound("county"))
}

/// `complaintChannels(countyId)`.
pub async fn list(conn: &impl ConnectionTrait, county_id: Uuid) -> AppResult<Vec<Channel>> {
    county(conn, county_id).await?;
    let rows = complaint_channels::Entity::find()
        .filter(complaint_channels::Column::CountyId.eq(county_id))
        .order_by_asc(complaint_channels::Column::Position)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(defaults());
    }
    rows.into_iter()
        .map(|r| {
            Ok(Channel {
                kind: r.kind.parse()?,
                label: r.label,
                value: r.value,
                hours: r.hours,
            })
        })
        .collect()
}

/// `setComplaintChannels`: the county's administrator replaces the list (1–10 channels).
pub async fn set(
    state: &AppState,
    viewer: &Viewer,
    county_id: Uuid,
    channels: Vec<Channel>,
) -> AppResult<Vec<Channel>> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_in_county(Some(county_id), "county")?;
    who.ensure_county_admin()?;
    county(&state.db, county_id).await?;
    if channels.is_empty() || channels.len() > 10 {
        return Err(AppError::bad_input("channels", "1–10 channels"));
    }
    let mut kept = Vec::with_capacity(channels.len());
    for (n, c) in channels.into_iter().enumerate() {
        kept.push(Channel {
            kind: c.kind,
            label: text(&c.label, &format!("channels[{n}].label"), 50)?,
            value: text(&c.value, &format!("channels[{n}].value"), 100)?,
            hours: c
                .hours
                .as_deref()
                .map(|h| text(h, &format!("channels[{n}].hours"), 50))
                .transpose()?,
        });
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    complaint_channels::Entity::delete_many()
        .filter(complaint_channels::Column::CountyId.eq(county_id))
        .exec(&*tx)
        .await?;
    for (position, c) in kept.iter().enumerate() {
        complaint_channels::ActiveModel {
            id: Set(Uuid::now_v7()),
            county_id: Set(county_id),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
            kind: Set(c.kind.as_str().into()),
            label: Set(c.label.clone()),
            value: Set(c.value.clone()),
            hours: Set(c.hours.clone()),
            updated_at: Set(now),
        }
        .insert(&*tx)
        .await?;
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(county_id),
        "complaint.channels_set",
        "county",
        county_id,
        json!({"channels": kept.len()}),
    ));
    tx.commit().await?;
    Ok(kept)
}
