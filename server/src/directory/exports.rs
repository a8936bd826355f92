//! The change registers as CSV (UTF-8 with BOM), for the county centre's records.
use entity::{item_change_requests, staff_change_requests};

use crate::{
    auth::Viewer,
    csv::Csv,
    directory::{catalogue::ItemFields, regions::region},
    error::{AppError, AppResult},
    state::AppState,
};

use super::changes::list_changes;

/// 附件4 in its column order: 单位名称, 变动前人员姓名, 岗位, then the new person's 姓名, 身份证号
/// (masked), 联系电话 (masked), 邮箱, 到岗时间; then the register's own status columns.
pub async fn staff_change_csv(state: &AppState, viewer: &Viewer) -> AppResult<String> {
    let rows = list_changes::<staff_change_requests::Entity>(state, viewer, None).await?;
    let mut out = Csv::with_header(&[
        "单位名称",
        "变动前人员姓名",
        "岗位",
        "姓名",
        "身份证号",
        "联系电话",
        "邮箱",
        "到岗时间",
        "状态",
        "审核意见",
    ]);
    for row in rows {
        let unit = region(&state.db, row.region_id).await?.name;
        let id = state
            .cipher
            .masked_id_number(&row.after_id_number_enc)
            .map_err(AppError::internal)?;
        let phone = state
            .cipher
            .masked_phone(&row.after_phone_enc)
            .map_err(AppError::internal)?;
        out.row(&[
            unit,
            row.before_name.unwrap_or_default(),
            row.post,
            row.after_name,
            id,
            phone,
            row.after_email,
            row.arrival_date.to_string(),
            row.status,
            row.decision_reason.unwrap_or_default(),
        ]);
    }
    Ok(out.finish())
}

/// 附件5 in its column order: 单位名称, 变动前事项名称, 事项类型, then the item after the change
/// (主项, 四级四同, 业务办理项目名称, 事项类型, 一体化平台, 高频, 办件类型), 是否最多跑一次办理; then the
/// register's own columns.
pub async fn item_change_csv(state: &AppState, viewer: &Viewer) -> AppResult<String> {
    let rows = list_changes::<item_change_requests::Entity>(state, viewer, None).await?;
    let mut out = Csv::with_header(&[
        "单位名称",
        "变动前事项名称",
        "事项类型",
        "事项清单目录（主项）",
        "是否列入省“四级四同”清单",
        "业务办理项目名称",
        "事项类型",
        "事项是否在一体化平台办理",
        "是否高频事项",
        "办件类型",
        "是否最多跑一次办理",
        "生效日期",
        "状态",
        "审核意见",
    ]);
    let yes_no = |b: bool| {
        if b {
            "是".to_string()
        } else {
            "否".to_string()
        }
    };
    for row in rows {
        let unit = region(&state.db, row.region_id).await?.name;
        let after: ItemFields = serde_json::from_str(&row.after).map_err(AppError::internal)?;
        out.row(&[
            unit,
            row.before_item_name.unwrap_or_default(),
            row.before_item_type.unwrap_or_default(),
            after.main_item,
            yes_no(after.in_provincial_list),
            after.business_name,
            after.item_type,
            yes_no(after.on_integrated_platform),
            // 是否高频事项: computed from the completed cases of the item changed (a new item
            // has none yet).
            yes_no(match row.before_item_id {
                Some(item) => {
                    crate::directory::catalogue::is_high_frequency_item(
                        &state.db,
                        item,
                        state.clock.now(),
                    )
                    .await?
                }
                None => false,
            }),
            match after.handling_type {
                crate::directory::model::HandlingType::Immediate => "即办件".into(),
                crate::directory::model::HandlingType::Promised => "承诺件".into(),
            },
            yes_no(after.at_most_one_visit),
            row.effective_date.to_string(),
            row.status,
            row.decision_reason.unwrap_or_default(),
        ]);
    }
    Ok(out.finish())
}
