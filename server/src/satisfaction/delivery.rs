//! Delivery to the provincial 好差评 platforms: what each rating and rectification result is
//! sent as (the GB/T 39046 表9 data items, the level coded for the target), how it is signed
//! (HMAC-SHA256 over `timestamp.delivery id.body`, so the receiver can refuse replays outside its window),
//! and what an answer means for the delivery (pure). A rating's and a rectification result's
//! deliveries, one per configured target, are written in the transaction that records them
//! (the delivery table is their outbox), and `sender` sends them.
use chrono::{DateTime, Duration, Utc};
use entity::{cases, items, provincial_deliveries, ratings, rectifications, regions};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, EntityTrait, Set, sea_query::OnConflict};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::{
    config::{DeliveryTarget, LevelCodingSetting},
    error::{AppError, AppResult},
    satisfaction::{
        model::{RatingIndicator, RatingLevel, RatingTextState, RectificationClassification},
        rules::{LevelCoding, level_code},
    },
    state::AppState,
};

crate::stored_enum! {
    /// Where a delivery stands.
    pub enum ProvincialDeliveryStatus {
        /// Waiting for its (next) send.
        Queued = "queued",
        /// A worker is sending it.
        Sending = "sending",
        /// The platform answered 2xx.
        Delivered = "delivered",
        /// Refused for good (a 4xx) or out of attempts: an administrator may send it again.
        Dead = "dead",
    }
}

crate::stored_enum! {
    /// What a delivery carries.
    pub enum ProvincialDeliveryKind {
        /// A rating (first or second).
        Rating = "rating",
        /// A rectification's result.
        Rectification = "rectification",
    }
}

/// What became of one send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// No answer: a timeout or a broken connection.
    NoAnswer(String),
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAfter(Duration),
    Dead,
}

/// Pure: the next step after `attempts` sends ended in `answer`. A 2xx delivers; any other 4xx
/// than 408 and 429 is refused for good (sending it again changes nothing); anything else is
/// tried again after 1, 2, 4 … × `base` (at most an hour) until `max` sends.
pub fn next_step(answer: &Answer, attempts: i32, max: i32, base: std::time::Duration) -> Next {
    let permanent = match answer {
        Answer::Status(code) if (200..300).contains(code) => return Next::Delivered,
        Answer::Status(code) => (400..500).contains(code) && *code != 408 && *code != 429,
        Answer::NoAnswer(_) => false,
    };
    if permanent || attempts >= max {
        return Next::Dead;
    }
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    let delay = millis.saturating_mul(1_u64 << exponent).min(3_600_000);
    Next::RetryAfter(Duration::milliseconds(
        i64::try_from(delay).unwrap_or(3_600_000),
    ))
}

/// Pure: the signature of delivery `delivery`'s `body` sent at `timestamp` (Unix seconds),
/// lower-case hex of HMAC-SHA256(secret, "<timestamp>.<delivery id>.<body>"): a replay with
/// another delivery id (to pass the receiver's repeat check) does not verify.
pub fn signature(secret: &[u8], timestamp: i64, delivery: Uuid, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(delivery.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn coding(target: &DeliveryTarget) -> LevelCoding {
    match target.level_coding {
        LevelCodingSetting::BestIsFive => LevelCoding::BestIsFive,
        LevelCodingSetting::BestIsOne => LevelCoding::BestIsOne,
    }
}

/// GB/T 39046's time format, China time: `YYYYMMDDThhmmss`.
fn assess_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&crate::clock::CHINA)
        .format("%Y%m%dT%H%M%S")
        .to_string()
}

/// Pure: a rating's document for a target. The text goes only once the content check passed
/// it (or an administrator released it); the rater is never named (the 是否匿名 flag says
/// whether they chose to be anonymous).
pub fn rating_document(
    rating: &ratings::Model,
    rated_at: DateTime<Utc>,
    case_number: &str,
    unit: &regions::Model,
    item: Option<&items::Model>,
    target: &DeliveryTarget,
) -> AppResult<Value> {
    let level: RatingLevel = rating.level.parse()?;
    let coding = coding(target);
    let indicators: serde_json::Map<String, Value> =
        serde_json::from_str(&rating.indicators).map_err(AppError::internal)?;
    let mut detail = Vec::new();
    for indicator in RatingIndicator::ALL {
        if let Some(level) = indicators.get(indicator.as_str()).and_then(Value::as_str) {
            detail.push(json!({
                "indicator": indicator_name(*indicator),
                "satisfaction": level_code(level.parse()?, coding),
            }));
        }
    }
    let text_state: RatingTextState = rating.text_state.parse()?;
    Ok(json!({
        "dataType": "rating",
        "ratingId": rating.id,
        "projectNo": case_number,
        "pf": 2,
        "channel": "移动服务端",
        "isAnonymous": if rating.anonymous { 1 } else { 2 },
        "assessTime": assess_time(rated_at),
        "assessNumber": rating.round,
        "satisfaction": level_code(level, coding),
        "satisfactionName": level.label(),
        "writingEvaluation": rating.text.as_deref().filter(|_| text_state.shown()),
        "evalDetail": detail,
        "areaCode": unit.code,
        "deptCode": unit.code,
        "deptName": unit.name,
        "taskName": item.map(|i| i.main_item.as_str()),
        "taskHandleItem": item.map(|i| i.business_name.as_str()),
    }))
}

fn indicator_name(indicator: RatingIndicator) -> &'static str {
    match indicator {
        RatingIndicator::Attitude => "服务态度",
        RatingIndicator::Efficiency => "服务效率",
        RatingIndicator::Competence => "服务水平",
        RatingIndicator::Overall => "整体满意度",
    }
}

/// Pure: a rectification result's document.
pub fn rectification_document(
    order: &rectifications::Model,
    rating: &ratings::Model,
    case_number: &str,
    unit: &regions::Model,
) -> AppResult<Value> {
    let classification: Option<RectificationClassification> = order
        .classification
        .as_deref()
        .map(str::parse)
        .transpose()?;
    Ok(json!({
        "dataType": "rectification",
        "rectificationId": order.id,
        "ratingId": rating.id,
        "projectNo": case_number,
        "assessNumber": rating.round,
        "rectifyType": classification.map(|c| match c {
            RectificationClassification::Immediate => "立行立改",
            RectificationClassification::Deadline => "限期整改",
            RectificationClassification::Explanation => "解释说明",
        }),
        "rectifyResult": order.result,
        "replyContent": order.reply,
        "rectifyTime": order.resolved_at.map(assess_time),
        "areaCode": unit.code,
        "deptCode": unit.code,
    }))
}

/// Queues a rating's delivery to every target, in the rating's own transaction (the delivery
/// table is its outbox: nothing is written that is not sent, and no event is needed — an
/// anonymous rating has none staff could follow).
pub async fn queue_rating(
    conn: &impl ConnectionTrait,
    state: &AppState,
    rating: &ratings::Model,
    case_number: &str,
    rated_at: DateTime<Utc>,
) -> AppResult<()> {
    let targets = &state.settings.satisfaction.targets;
    if targets.is_empty() {
        return Ok(());
    }
    let unit = crate::directory::regions::region(conn, rating.unit_id).await?;
    let item = items::Entity::find_by_id(rating.item_id).one(conn).await?;
    for target in targets {
        let body = rating_document(rating, rated_at, case_number, &unit, item.as_ref(), target)?;
        insert(
            conn,
            state,
            rating.county_id,
            target,
            ProvincialDeliveryKind::Rating,
            rating.id,
            &body,
            rating.rated_at,
        )
        .await?;
    }
    Ok(())
}

/// Queues a rectification result's delivery to every target, in the resolution's transaction.
pub async fn queue_rectification(
    conn: &impl ConnectionTrait,
    state: &AppState,
    order: &rectifications::Model,
    rating: &ratings::Model,
) -> AppResult<()> {
    let targets = &state.settings.satisfaction.targets;
    if targets.is_empty() {
        return Ok(());
    }
    let number = cases::Entity::find_by_id(rating.case_id)
        .one(conn)
        .await?
        .map(|c| c.number)
        .unwrap_or_default();
    let unit = crate::directory::regions::region(conn, order.unit_id).await?;
    let body = rectification_document(order, rating, &number, &unit)?;
    for target in targets {
        insert(
            conn,
            state,
            rating.county_id,
            target,
            ProvincialDeliveryKind::Rectification,
            order.id,
            &body,
            state.clock.now(),
        )
        .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    conn: &impl ConnectionTrait,
    state: &AppState,
    county: Uuid,
    target: &DeliveryTarget,
    kind: ProvincialDeliveryKind,
    subject: Uuid,
    body: &Value,
    // When it was made, as its readers may know it (an anonymous rating's day only).
    made_at: DateTime<Utc>,
) -> AppResult<()> {
    let now = state.clock.now();
    provincial_deliveries::Entity::insert(provincial_deliveries::ActiveModel {
        id: Set(Uuid::new_v4()),
        county_id: Set(county),
        target: Set(target.name.clone()),
        kind: Set(kind.as_str().into()),
        subject_id: Set(subject),
        body: Set(body.to_string()),
        status: Set(ProvincialDeliveryStatus::Queued.as_str().into()),
        attempts: Set(0),
        next_at: Set(now),
        last_error: Set(None),
        last_status: Set(None),
        created_at: Set(made_at),
        updated_at: Set(made_at),
        delivered_at: Set(None),
        claim: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            provincial_deliveries::Column::Target,
            provincial_deliveries::Column::Kind,
            provincial_deliveries::Column::SubjectId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_decides_the_next_step() {
        let base = std::time::Duration::from_millis(1_000);
        let table = [
            (Answer::Status(200), 1, 5, Next::Delivered),
            (Answer::Status(204), 5, 5, Next::Delivered),
            (Answer::Status(400), 1, 5, Next::Dead),
            (Answer::Status(401), 1, 5, Next::Dead),
            (
                Answer::Status(408),
                1,
                5,
                Next::RetryAfter(Duration::seconds(1)),
            ),
            (
                Answer::Status(429),
                2,
                5,
                Next::RetryAfter(Duration::seconds(2)),
            ),
            (
                Answer::Status(500),
                3,
                5,
                Next::RetryAfter(Duration::seconds(4)),
            ),
            (
                Answer::NoAnswer("timeout".into()),
                4,
                5,
                Next::RetryAfter(Duration::seconds(8)),
            ),
            (Answer::Status(503), 5, 5, Next::Dead),
            (Answer::NoAnswer("timeout".into()), 5, 5, Next::Dead),
        ];
        for (answer, attempts, max, expected) in table {
            assert_eq!(
                next_step(&answer, attempts, max, base),
                expected,
                "{answer:?} after {attempts}"
            );
        }
        // The delay is capped at an hour.
        assert_eq!(
            next_step(&Answer::Status(500), 25, 100, base),
            Next::RetryAfter(Duration::hours(1))
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_the_delivery_and_the_body() {
        let id = Uuid::from_u128(1);
        // Computed independently (Python's hmac): HMAC-SHA256("key",
        // "1700000000.00000000-0000-0000-0000-000000000001.{}").
        assert_eq!(
            signature(b"key", 1_700_000_000, id, "{}"),
            "14f0f42b7e7da184d2beeaeb7f22f2edfab83bfd8713fca5469bb0456ec32810"
        );
        let base = signature(b"key", 1_700_000_000, id, "{}");
        assert_ne!(signature(b"key", 1_700_000_001, id, "{}"), base);
        assert_ne!(
            signature(b"key", 1_700_000_000, Uuid::from_u128(2), "{}"),
            base
        );
        assert_ne!(signature(b"other", 1_700_000_000, id, "{}"), base);
    }
}
