//! The entrustment (代办服务委托书, 附件6): rendered from data as printable HTML (every value
//! escaped, no script), stored encrypted with the SHA-256 of its content, opened by the
//! mini-program's web-view at a short-lived signed URL, confirmed by the applicant (bound to
//! the hash they saw) and by the agent. Both confirmations move the proxy case to ENTRUSTED in
//! the same transaction; nothing else can. The applicant may revoke it, which terminates the
//! case for reason (2).
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{cases, entrustments, items, regions, staff_accounts};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::{
        model::{CaseAction, CaseKind, CaseRole, CaseStatus, TerminationReason},
        service::{
            Move, Step, apply, case_for, kind_of, load_case, lock_case, note, record, status_of,
        },
    },
    error::{AppError, AppResult},
    events::Tx,
    pii::{CreditCode, MobileNumber, ResidentIdNumber},
    state::AppState,
};

/// How long a signed URL to the entrustment stays valid.
pub const URL_MINUTES: i64 = 10;

/// The principal (委托方): a person with a validated ID number, or an enterprise with its credit
/// code and contact.
pub struct EntrustmentInput {
    pub contact_name: String,
    pub contact_phone: String,
    pub id_number: String,
    pub enterprise_name: Option<String>,
    pub credit_code: Option<String>,
    pub valid_until: NaiveDate,
}

/// What the document says, checked.
struct Content {
    principal: String,
    contact_name: String,
    contact_phone: String,
    id_number: String,
    matter: String,
    unit: String,
    agent: String,
    agent_phone: String,
    case_number: String,
    valid_until: NaiveDate,
    issued: NaiveDate,
}

/// HTML-escapes text for an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const TERMS: [&str; 7] = [
    "委托代办事项办结后，代办自行终止。",
    "申请人请求终止的，代办机构应将已办理的审批文件、证照和相关资料移交申请人。",
    "经核实，如申请人为失信企业，不予办理，代办终止。",
    "因代办事项与现行法律、法规相冲突、本身不再具备办结条件的，在说明理由后，代办终止。",
    "申请人在申报过程中弄虚作假提交虚假材料或隐瞒重要事实的情况，代办终止，并做退件处理。",
    "申请人不按相关规定申报审批材料、拒不履行代办协议约定职责行为的，终止代办服务。",
    "因服务对象自身原因造成事项办理长期停滞、代办事项难以完成的，代办服务机构与服务对象沟通后，委托代办服务终止。",
];

/// The document (附件6's text with the case's data), as one printable page.
fn render(c: &Content) -> String {
    let e = escape;
    let terms: String = TERMS
        .iter()
        .enumerate()
        .map(|(n, t)| format!("<li>({}) {}</li>", n + 1, e(t)))
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>代办服务委托书 {number}</title>\
<style>body{{font-family:serif;max-width:40em;margin:2em auto;line-height:1.7}}h1{{text-align:center}}ol{{list-style:none;padding-left:0}}</style>\
</head><body><h1>代办服务委托书</h1><p>编号：{number}</p>\
<p>受{principal}委托，开展{matter}代办服务，现对服务约定如下：</p>\
<h2>一、代办服务事项</h2><p>{matter}</p>\
<h2>二、双方职责</h2><p>1、委托方职责：负责配合代办员及时提供完善的申报材料，并对资料的真实性做出书面承诺。</p>\
<p>2、代办机构职责：负责一次性告知委托人代办事项需准备的材料；负责委托人申报材料的收集、保管和转递；负责跟踪督促审批窗口在承诺时限办结审批服务事项；负责将办理结果及时通知委托方。</p>\
<h2>三、双方联系人</h2><p>1、委托方联系人：{contact}，联系电话：{phone}，身份证号：{id}。</p>\
<p>2、{unit}{agent}为该事项代办人员，联系电话：{agent_phone}。</p>\
<h2>四、代办终止</h2><p>代办人员仅负责约定服务事项的代办，相关法律责任由委托方承担。在委托代办期间出现下列情况之一的，代办服务终止，由此产生的损失由委托人承担。情况包括但不限于：</p>\
<ol>{terms}</ol>\
<p>本委托书自签发之日（{issued}）起生效，有效期至{valid}，一式两份，委托方一份，代办中心一份。</p>\
<p>附件：申报材料移交清单（一式三份）</p>\
<p>委托方：{principal}　　代办中心：{unit}</p></body></html>",
        number = e(&c.case_number),
        principal = e(&c.principal),
        matter = e(&c.matter),
        contact = e(&c.contact_name),
        phone = e(&c.contact_phone),
        id = e(&c.id_number),
        unit = e(&c.unit),
        agent = e(&c.agent),
        agent_phone = e(&c.agent_phone),
        issued = c.issued,
        valid = c.valid_until,
    )
}

/// The document's content hash: a keyed HMAC (the deployment's blind-index key) over its
/// text, hex. Keyed, because the text holds an ID number a plain hash would let anyone with a
/// copy of the database guess back.
pub fn content_hash(cipher: &crate::pii::FieldCipher, html: &str) -> String {
    cipher.blind_index("entrustment-text", html)
}

async fn current(
    conn: &impl sea_orm::ConnectionTrait,
    case_id: Uuid,
) -> AppResult<Option<entrustments::Model>> {
    Ok(entrustments::Entity::find()
        .filter(entrustments::Column::CaseId.eq(case_id))
        .one(conn)
        .await?)
}

/// A proxy case's entrustment, if one was prepared (for its readers).
pub async fn of_case(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<Option<entrustments::Model>> {
    case_for(state, viewer, case_id).await?;
    current(&state.db, case_id).await
}

/// Staff of the holding unit: prepares (or, while neither side has confirmed, prepares again)
/// the entrustment of an ACCEPTED proxy case.
pub async fn prepare(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    input: EntrustmentInput,
) -> AppResult<entrustments::Model> {
    let contact_name = crate::directory::model::text(&input.contact_name, "input.contactName", 50)?;
    let contact_phone = MobileNumber::parse(&input.contact_phone, "input.contactPhone")?;
    let id_number = ResidentIdNumber::parse(&input.id_number, "input.idNumber")?;
    let principal = match (&input.enterprise_name, &input.credit_code) {
        (Some(name), Some(code)) => {
            let name = crate::directory::model::text(name, "input.enterpriseName", 100)?;
            let code = CreditCode::parse(code, "input.creditCode")?;
            format!("{name}（统一社会信用代码 {}）", code.as_str())
        }
        (None, None) => contact_name.clone(),
        _ => {
            return Err(AppError::bad_input(
                "input.creditCode",
                "an enterprise principal needs both its name and its credit code",
            ));
        }
    };
    let (case, acting) = case_for(state, viewer, case_id).await?;
    if !matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
        return Err(AppError::Forbidden(
            "the holding unit's staff prepare the entrustment".into(),
        ));
    }
    if kind_of(&case)? != CaseKind::Proxy {
        return Err(AppError::InvalidTransition(
            "only a proxy case has an entrustment".into(),
        ));
    }
    if status_of(&case)? != CaseStatus::Accepted {
        return Err(AppError::InvalidTransition(format!(
            "the entrustment is prepared while the case is ACCEPTED; it is {}",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let issued = crate::clock::local_date(now);
    if input.valid_until <= issued {
        return Err(AppError::bad_input(
            "input.validUntil",
            "must be after today",
        ));
    }
    let item = items::Entity::find_by_id(case.item_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("item"))?;
    let unit = regions::Entity::find_by_id(case.unit_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("region"))?;
    let agent = match case.agent_id {
        Some(id) => {
            staff_accounts::Entity::find_by_id(id)
                .one(&state.db)
                .await?
        }
        None => None,
    };
    let content = Content {
        principal,
        contact_name,
        contact_phone: contact_phone.as_str().to_string(),
        id_number: id_number.as_str().to_string(),
        matter: item.business_name.clone(),
        unit: unit.name.clone(),
        agent: agent
            .as_ref()
            .map(|a| a.display_name.clone())
            .unwrap_or_default(),
        agent_phone: agent.and_then(|a| a.public_phone).unwrap_or_default(),
        case_number: case.number.clone(),
        valid_until: input.valid_until,
        issued,
    };
    let html = render(&content);
    let hash = content_hash(&state.cipher, &html);
    let sealed = state.cipher.encrypt(&html).map_err(AppError::internal)?;
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, &case, now).await?;
    if let Some(existing) = current(&*tx, case_id).await? {
        if existing.applicant_confirmed_at.is_some() || existing.agent_confirmed_at.is_some() {
            return Err(AppError::Conflict(
                "the entrustment was already confirmed; it can no longer be changed".into(),
            ));
        }
        entrustments::Entity::delete_by_id(existing.id)
            .exec(&*tx)
            .await?;
    }
    let row = entrustments::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case_id),
        html: Set(sealed),
        content_hash: Set(hash.clone()),
        valid_until: Set(input.valid_until),
        created_at: Set(now),
        applicant_confirmed_at: Set(None),
        agent_confirmed_at: Set(None),
        agent_id: Set(None),
        revoked_at: Set(None),
    }
    .insert(&*tx)
    .await?;
    let step = Step {
        public_note: Some("代办服务委托书已生成，请阅读后确认".into()),
        details: json!({"contentHash": hash}),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "entrustment_prepared",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The applicant (bound to the hash of the text they saw) or the holding unit's agent
/// confirms the entrustment; the second confirmation moves the case to ENTRUSTED.
pub async fn confirm(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    seen_hash: &str,
) -> AppResult<entrustments::Model> {
    let (case, acting) = case_for(state, viewer, case_id).await?;
    let role = acting.role()?;
    if !matches!(role, CaseRole::Applicant | CaseRole::HandlingAgent) {
        return Err(AppError::Forbidden(
            "the applicant and the holding unit's agent sign the entrustment".into(),
        ));
    }
    if kind_of(&case)? != CaseKind::Proxy || status_of(&case)? != CaseStatus::Accepted {
        return Err(AppError::InvalidTransition(format!(
            "the entrustment is signed while the proxy case is ACCEPTED; it is {}",
            case.status.to_uppercase()
        )));
    }
    if role == CaseRole::HandlingAgent && case.agent_id.is_some_and(|a| a != acting.person) {
        return Err(AppError::Forbidden(
            "the agent named in the entrustment signs it".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // Guarded on the status and unit read above: a case moved or transferred meanwhile is
    // CONFLICT.
    lock_case(&*tx, &case, now).await?;
    let entrustment = current(&*tx, case_id)
        .await?
        .ok_or_else(|| AppError::InvalidTransition("no entrustment has been prepared".into()))?;
    if entrustment.valid_until < crate::clock::local_date(now) {
        return Err(AppError::InvalidTransition(
            "the entrustment's validity has passed; prepare it again".into(),
        ));
    }
    if entrustment.content_hash != seen_hash.trim() {
        return Err(AppError::Conflict(
            "the entrustment is not the text you read; open it again".into(),
        ));
    }
    let already = match role {
        CaseRole::Applicant => entrustment.applicant_confirmed_at.is_some(),
        _ => entrustment.agent_confirmed_at.is_some(),
    };
    if already || entrustment.revoked_at.is_some() {
        return Err(AppError::InvalidTransition(
            "this side has already confirmed the entrustment".into(),
        ));
    }
    let mut update = entrustments::Entity::update_many();
    update = match role {
        CaseRole::Applicant => update.col_expr(
            entrustments::Column::ApplicantConfirmedAt,
            Expr::value(Some(now)),
        ),
        _ => update
            .col_expr(
                entrustments::Column::AgentConfirmedAt,
                Expr::value(Some(now)),
            )
            .col_expr(
                entrustments::Column::AgentId,
                Expr::value(Some(acting.person)),
            ),
    };
    update
        .filter(entrustments::Column::Id.eq(entrustment.id))
        .exec(&*tx)
        .await?;
    let both = match role {
        CaseRole::Applicant => entrustment.agent_confirmed_at.is_some(),
        _ => entrustment.applicant_confirmed_at.is_some(),
    };
    let step = Step {
        public_note: Some(match role {
            CaseRole::Applicant => "委托方已确认委托书".into(),
            _ => "代办人员已确认委托书".into(),
        }),
        details: json!({"contentHash": entrustment.content_hash, "by": if role == CaseRole::Applicant { "applicant" } else { "agent" }}),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "entrustment_confirmed",
        None,
        step,
        now,
    )
    .await?;
    if both {
        // The move is the system's: both sides have signed (a role-neutral step).
        let signed = crate::cases::service::Acting {
            role: Some(CaseRole::HandlingAgent),
            ..acting.clone()
        };
        let locked = load_case(&*tx, case_id).await?;
        let mv = Move::new(CaseAction::Entrust, "entrusted").step(Step {
            public_note: Some("委托书双方已签署，一式两份".into()),
            details: json!({"contentHash": entrustment.content_hash}),
            ..Step::default()
        });
        apply(&mut tx, viewer, &locked, &signed, mv, now).await?;
    }
    tx.commit().await?;
    current(&state.db, case_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("entrustment gone")))
}

/// The applicant revokes their confirmed entrustment: the case terminates for reason (2);
/// what was obtained and their materials are listed to go back to them.
pub async fn revoke(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    reason: &str,
) -> AppResult<cases::Model> {
    let reason = note(reason, "reason")?;
    let (case, acting) = case_for(state, viewer, case_id).await?;
    if acting.role()? != CaseRole::Applicant {
        return Err(AppError::Forbidden(
            "only the applicant revokes their entrustment".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let entrustment = current(&*tx, case_id)
        .await?
        .filter(|e| e.applicant_confirmed_at.is_some() && e.revoked_at.is_none())
        .ok_or_else(|| {
            AppError::InvalidTransition("there is no confirmed entrustment to revoke".into())
        })?;
    crate::cases::ending::terminate_in(
        &mut tx,
        viewer,
        &case,
        &acting,
        TerminationReason::RequestedByApplicant,
        reason,
        json!({"revokedEntrustment": entrustment.content_hash}),
        now,
    )
    .await?;
    entrustments::Entity::update_many()
        .col_expr(entrustments::Column::RevokedAt, Expr::value(Some(now)))
        .filter(entrustments::Column::Id.eq(entrustment.id))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    load_case(&state.db, case_id).await
}

fn signature(
    state: &AppState,
    case_id: Uuid,
    entrustment: &entrustments::Model,
    expires: i64,
) -> String {
    state.cipher.blind_index(
        "entrustment-url",
        &format!(
            "{case_id}:{}:{}:{expires}",
            entrustment.id, entrustment.content_hash
        ),
    )
}

/// A short-lived signed path to the document, for its parties: the applicant, the holding
/// unit's agent and administrators over it (the text holds the applicant's ID number and
/// phone). Every link given out is audited.
pub async fn signed_path(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<(String, DateTime<Utc>)> {
    let (case, acting) = case_for(state, viewer, case_id).await?;
    if !matches!(
        acting.role()?,
        CaseRole::Applicant | CaseRole::HandlingAgent | CaseRole::Admin
    ) {
        return Err(AppError::Forbidden(
            "only the entrustment's parties open it".into(),
        ));
    }
    let entrustment = current(&state.db, case_id)
        .await?
        .filter(|e| e.revoked_at.is_none())
        .ok_or(AppError::NotFound("entrustment"))?;
    let now = state.clock.now();
    let expires_at = now + Duration::minutes(URL_MINUTES);
    let expires = expires_at.timestamp();
    let mut tx = Tx::begin(state).await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(case.county_id),
        "case.entrustment_opened",
        "case",
        case.id,
        json!({"number": case.number, "expiresAt": expires_at}),
    ));
    tx.commit().await?;
    Ok((
        format!(
            "/entrustments/{case_id}?expires={expires}&signature={}",
            signature(state, case_id, &entrustment, expires)
        ),
        expires_at,
    ))
}

/// The document behind a signed path, or None when the signature is wrong or has expired, or
/// the entrustment was revoked or prepared again since (the caller answers 404 either way).
pub async fn open_signed(
    state: &AppState,
    case_id: Uuid,
    expires: i64,
    signature_given: &str,
) -> AppResult<Option<String>> {
    if state.clock.now().timestamp() > expires {
        return Ok(None);
    }
    let Some(row) = current(&state.db, case_id)
        .await?
        .filter(|e| e.revoked_at.is_none())
    else {
        return Ok(None);
    };
    let expected = signature(state, case_id, &row, expires);
    let valid = expected.len() == signature_given.len()
        && expected
            .bytes()
            .zip(signature_given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !valid {
        return Ok(None);
    }
    Ok(Some(
        state
            .cipher
            .decrypt(&row.html)
            .map_err(AppError::internal)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(principal: &str) -> Content {
        Content {
            principal: principal.into(),
            contact_name: "李四".into(),
            contact_phone: "13900000001".into(),
            id_number: "X".into(),
            matter: "食品经营许可".into(),
            unit: "龙港镇".into(),
            agent: "王五".into(),
            agent_phone: "0356-0000000".into(),
            case_number: "140521-2026-000001".into(),
            valid_until: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            issued: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        }
    }

    #[test]
    fn the_document_escapes_every_value_and_carries_the_seven_conditions() {
        let html = render(&content("<script>alert(1)</script>\"'&"));
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        for (n, term) in TERMS.iter().enumerate() {
            assert!(html.contains(&format!("({}) {term}", n + 1)));
        }
        assert!(html.contains("一式两份"));
    }

    #[test]
    fn the_hash_follows_the_content_under_the_key() {
        let key = crate::pii::FieldCipher::new(&[7u8; 32]).unwrap();
        let other = crate::pii::FieldCipher::new(&[8u8; 32]).unwrap();
        let a = render(&content("甲公司"));
        let b = render(&content("乙公司"));
        assert_eq!(
            content_hash(&key, &a),
            content_hash(&key, &render(&content("甲公司")))
        );
        assert_ne!(content_hash(&key, &a), content_hash(&key, &b));
        assert_ne!(content_hash(&key, &a), content_hash(&other, &a), "keyed");
    }
}
