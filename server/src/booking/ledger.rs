//! The ledger (台账): every contact with a point — online bookings and what became of them,
//! telephone calls, counter walk-ins, remote consultations — with entries back-filled from
//! paper keeping their original time. Read by jurisdiction, paged, filtered, exported as CSV.
use chrono::{DateTime, Duration, Utc};
use entity::{bookings, items, ledger_entries, service_points, users};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    booking::{desk::ensure_desk, model::Channel},
    csv::Csv,
    directory::{
        jurisdiction::Jurisdiction,
        model::text,
        regions::{county_of_point, region, subtree},
    },
    error::{AppError, AppResult},
    pii::mask_name,
    state::AppState,
};

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct LedgerFilter {
    pub channel: Option<Channel>,
    pub outcome: Option<String>,
    pub backfilled: Option<bool>,
}

/// One page of a point's ledger, oldest first, after an opaque cursor.
pub struct LedgerPage {
    pub entries: Vec<LedgerView>,
    /// Pass as `after` for the next page; None at the end.
    pub next: Option<String>,
}

pub const OUTCOMES: [&str; 11] = [
    "booked",
    "accepted",
    "refused",
    "cancelled",
    "rescheduled",
    "no_show",
    "served",
    "absent",
    "consulted",
    "referred",
    "unfinished",
];

/// Who reads the ledger, and where they see applicants' names in full: admins everywhere in
/// their jurisdiction, an agent at their own point; inspectors and auditors nowhere (masked).
pub struct Reader {
    pub full_names: FullNames,
}

pub enum FullNames {
    All,
    AtPoint(Uuid),
    Nowhere,
}

impl Reader {
    /// Whether names of contacts at this point are shown in full.
    pub fn full_at(&self, point_id: Uuid) -> bool {
        match self.full_names {
            FullNames::All => true,
            FullNames::AtPoint(own) => own == point_id,
            FullNames::Nowhere => false,
        }
    }
}

/// The reader, and the points whose ledger they asked for: one point inside their jurisdiction,
/// or every point of it.
async fn reader(
    state: &AppState,
    viewer: &Viewer,
    point_id: Option<Uuid>,
) -> AppResult<(Reader, Vec<Uuid>)> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let points = match point_id {
        Some(point_id) => {
            let point = service_points::Entity::find_by_id(point_id)
                .one(&state.db)
                .await?
                .ok_or(AppError::NotFound("service point"))?;
            who.ensure_covers(&region(&state.db, point.region_id).await?, "service point")?;
            vec![point_id]
        }
        None => {
            let regions: Vec<Uuid> = subtree(&state.db, &who.region)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            service_points::Entity::find()
                .filter(service_points::Column::RegionId.is_in(regions))
                .all(&state.db)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect()
        }
    };
    let full_names = if who.is_admin() {
        FullNames::All
    } else if matches!(
        who.role,
        crate::auth::Role::Inspector | crate::auth::Role::Auditor
    ) {
        FullNames::Nowhere
    } else {
        match entity::staff_accounts::Entity::find_by_id(who.staff_id)
            .one(&state.db)
            .await?
            .and_then(|s| s.service_point_id)
        {
            Some(own) => FullNames::AtPoint(own),
            None => FullNames::Nowhere,
        }
    };
    Ok((Reader { full_names }, points))
}

/// Staff: the ledger of a point inside their jurisdiction — or, without a point, of every point
/// in it — between two instants.
#[allow(clippy::too_many_arguments)]
pub async fn page(
    state: &AppState,
    viewer: &Viewer,
    point_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &LedgerFilter,
    first: u64,
    after: Option<&str>,
) -> AppResult<LedgerPage> {
    if to < from {
        return Err(AppError::bad_input("to", "must not be before `from`"));
    }
    if !(1..=200).contains(&first) {
        return Err(AppError::bad_input("first", "between 1 and 200"));
    }
    if let Some(outcome) = &filter.outcome
        && !OUTCOMES.contains(&outcome.as_str())
    {
        return Err(AppError::bad_input(
            "filter.outcome",
            format!("one of {}", OUTCOMES.join(", ")),
        ));
    }
    let (reader, points) = reader(state, viewer, point_id).await?;
    let mut query = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::ServicePointId.is_in(points))
        .filter(ledger_entries::Column::OccurredAt.gte(from))
        .filter(ledger_entries::Column::OccurredAt.lte(to))
        .order_by_asc(ledger_entries::Column::OccurredAt)
        .order_by_asc(ledger_entries::Column::Id);
    if let Some(channel) = filter.channel {
        query = query.filter(ledger_entries::Column::Channel.eq(channel.as_str()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(ledger_entries::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(backfilled) = filter.backfilled {
        query = query.filter(ledger_entries::Column::Backfilled.eq(backfilled));
    }
    if let Some(after) = after {
        let (at, id) = crate::db::parse_page_cursor(after)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(ledger_entries::Column::OccurredAt.gt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(ledger_entries::Column::OccurredAt.eq(at))
                        .add(ledger_entries::Column::Id.gt(id)),
                ),
        );
    }
    let mut entries = sea_orm::QuerySelect::limit(query, first + 1)
        .all(&state.db)
        .await?;
    let more = entries.len() as u64 > first;
    entries.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let next = if more {
        entries
            .last()
            .map(|e| crate::db::page_cursor(e.occurred_at, e.id))
    } else {
        None
    };
    let entries = views(state, entries, &reader).await?;
    Ok(LedgerPage { entries, next })
}

/// A ledger entry as its reader sees it, with what it refers to read in batches (no query per
/// entry).
#[derive(Clone, Debug)]
pub struct LedgerView {
    pub entry: ledger_entries::Model,
    /// An enterprise by name; a resident by their masked phone number; a walk-in by name
    /// (masked for readers outside the point's desk).
    pub applicant: Option<String>,
    /// The entry's note (for bookings on a resident's behalf, the consent recorded), in full
    /// where the reader sees applicants in full, otherwise [`WITHHELD`]: free text may name
    /// people and give their numbers.
    pub note: Option<String>,
    pub item: Option<items::Model>,
    pub booking_code: Option<String>,
    pub agent_name: Option<String>,
}

/// What readers who see applicants masked read instead of a note.
pub const WITHHELD: &str = "（已隐去）";

/// The views of a batch of entries: four queries whatever the batch size.
pub async fn views(
    state: &AppState,
    entries: Vec<ledger_entries::Model>,
    reader: &Reader,
) -> AppResult<Vec<LedgerView>> {
    use std::collections::HashMap;
    let ids = |f: fn(&ledger_entries::Model) -> Option<Uuid>| -> Vec<Uuid> {
        let mut v: Vec<Uuid> = entries.iter().filter_map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    let items: HashMap<Uuid, items::Model> = items::Entity::find()
        .filter(items::Column::Id.is_in(ids(|e| e.item_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let bookings: HashMap<Uuid, bookings::Model> = bookings::Entity::find()
        .filter(bookings::Column::Id.is_in(ids(|e| e.booking_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let users: HashMap<Uuid, users::Model> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids(|e| e.user_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let agents: HashMap<Uuid, String> = entity::staff_accounts::Entity::find()
        .filter(entity::staff_accounts::Column::Id.is_in(ids(|e| e.agent_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.display_name))
        .collect();
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let booking = entry.booking_id.and_then(|id| bookings.get(&id));
        let applicant = if let Some(stored) = &entry.applicant_name_enc {
            let name = state.cipher.decrypt(stored).map_err(AppError::internal)?;
            Some(if reader.full_at(entry.service_point_id) {
                name
            } else {
                mask_name(&name)
            })
        } else if let Some(enterprise) = booking.and_then(|b| b.enterprise_name.clone()) {
            Some(enterprise)
        } else {
            match entry
                .user_id
                .map(|id| users.get(&id).and_then(|u| u.phone_enc.as_deref()))
            {
                Some(Some(phone)) => Some(
                    state
                        .cipher
                        .masked_phone(phone)
                        .map_err(AppError::internal)?,
                ),
                Some(None) => Some("居民（未绑定手机）".into()),
                None => None,
            }
        };
        let note = entry.note.as_ref().map(|note| {
            if reader.full_at(entry.service_point_id) {
                note.clone()
            } else {
                WITHHELD.to_string()
            }
        });
        out.push(LedgerView {
            applicant,
            note,
            item: entry.item_id.and_then(|id| items.get(&id).cloned()),
            booking_code: booking.map(|b| b.code.clone()),
            agent_name: entry.agent_id.and_then(|id| agents.get(&id).cloned()),
            entry,
        });
    }
    Ok(out)
}

/// At most this many rows in one CSV export; narrow the period for more.
pub const CSV_LIMIT: u64 = 10_000;

/// The filtered ledger of a point as CSV (UTF-8 with BOM, for spreadsheet programs).
pub async fn csv(
    state: &AppState,
    viewer: &Viewer,
    point_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &LedgerFilter,
) -> AppResult<String> {
    let mut out = Csv::with_header(&[
        "时间",
        "服务点",
        "渠道",
        "申请人",
        "事项",
        "结果",
        "原因代码",
        "经办人",
        "补录",
        "录入时间",
    ]);
    let mut point_names = std::collections::HashMap::new();
    let mut after: Option<String> = None;
    let mut rows = 0u64;
    loop {
        let page = page(
            state,
            viewer,
            point_id,
            from,
            to,
            filter,
            200,
            after.as_deref(),
        )
        .await?;
        for view in &page.entries {
            rows += 1;
            if rows > CSV_LIMIT {
                return Err(AppError::bad_input(
                    "to",
                    format!("more than {CSV_LIMIT} entries; export a shorter period"),
                ));
            }
            let entry = &view.entry;
            let point_name = match point_names.get(&entry.service_point_id) {
                Some(name) => String::clone(name),
                None => {
                    let name = service_points::Entity::find_by_id(entry.service_point_id)
                        .one(&state.db)
                        .await?
                        .map(|p| p.name)
                        .unwrap_or_default();
                    point_names.insert(entry.service_point_id, name.clone());
                    name
                }
            };
            let fields = [
                entry
                    .occurred_at
                    .with_timezone(&crate::clock::CHINA)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                point_name,
                entry.channel.clone(),
                view.applicant.clone().unwrap_or_default(),
                view.item
                    .as_ref()
                    .map(|i| i.business_name.clone())
                    .unwrap_or_default(),
                entry.outcome.clone(),
                entry.reason_code.clone().unwrap_or_default(),
                view.agent_name.clone().unwrap_or_default(),
                if entry.backfilled { "是" } else { "否" }.to_string(),
                entry
                    .entered_at
                    .with_timezone(&crate::clock::CHINA)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            ];
            out.row(&fields);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out.finish()),
        }
    }
}

/// A contact to record by hand: a call, a walk-in, a remote consultation — now, or back-filled
/// from the paper register with its original time.
pub struct ContactInput {
    pub service_point_id: Uuid,
    pub channel: Channel,
    pub item_id: Option<Uuid>,
    pub applicant_name: Option<String>,
    pub outcome: String,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    /// When it happened; None = now. More than 10 minutes ago makes the entry back-filled.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Contacts recorded by hand may have these outcomes.
pub const MANUAL_OUTCOMES: [&str; 4] = ["consulted", "served", "refused", "referred"];

/// Staff of the point record a contact in the ledger (audited when back-filled).
pub async fn record(
    state: &AppState,
    viewer: &Viewer,
    input: ContactInput,
) -> AppResult<LedgerView> {
    let who = ensure_desk(state, viewer, input.service_point_id).await?;
    let now = state.clock.now();
    if input.channel == Channel::Online {
        return Err(AppError::bad_input(
            "input.channel",
            "online contacts are recorded by the booking itself",
        ));
    }
    if !MANUAL_OUTCOMES.contains(&input.outcome.as_str()) {
        return Err(AppError::bad_input(
            "input.outcome",
            format!("one of {}", MANUAL_OUTCOMES.join(", ")),
        ));
    }
    let reason_code = input
        .reason_code
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| text(r, "input.reasonCode", 32))
        .transpose()?;
    if input.outcome == "refused" && reason_code.is_none() {
        return Err(AppError::bad_input(
            "input.reasonCode",
            "a refusal needs a reason code",
        ));
    }
    let note = input
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| text(n, "input.note", 500))
        .transpose()?;
    let name = input
        .applicant_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| text(n, "input.applicantName", 50))
        .transpose()?;
    if let Some(item_id) = input.item_id {
        items::Entity::find_by_id(item_id)
            .filter(items::Column::CountyId.in_subquery(county_of_point(input.service_point_id)))
            .one(&state.db)
            .await?
            .ok_or_else(|| {
                AppError::bad_input(
                    "input.itemId",
                    "no such item in the catalogue of the service point's county",
                )
            })?;
    }
    let occurred_at = input.occurred_at.unwrap_or(now);
    if occurred_at > now + Duration::minutes(1) {
        return Err(AppError::bad_input(
            "input.occurredAt",
            "a contact cannot be recorded before it happens",
        ));
    }
    if now - occurred_at > Duration::days(366) {
        return Err(AppError::bad_input(
            "input.occurredAt",
            "at most a year back",
        ));
    }
    let backfilled = now - occurred_at > Duration::minutes(10);
    let txn = crate::db::begin_write(&state.db).await?;
    let entry = write(
        &txn,
        NewEntry {
            service_point_id: input.service_point_id,
            booking_id: None,
            user_id: None,
            item_id: input.item_id,
            channel: input.channel,
            outcome: input.outcome.clone(),
            agent_id: Some(who.staff_id),
            occurred_at,
            entered_at: now,
            backfilled,
            reason_code,
            applicant_name_enc: name
                .map(|n| state.cipher.encrypt(&n))
                .transpose()
                .map_err(AppError::internal)?,
            note,
        },
    )
    .await?;
    if backfilled {
        crate::audit::Pending::action(
            now,
            viewer,
            who.county_id(),
            "ledger.backfilled",
            "ledger_entry",
            entry.id,
            serde_json::json!({"occurredAt": occurred_at.to_rfc3339(), "outcome": input.outcome}),
        )
        .append(&txn)
        .await?;
    }
    txn.commit().await?;
    let reader = Reader {
        full_names: FullNames::AtPoint(input.service_point_id),
    };
    let mut view = views(state, vec![entry], &reader).await?;
    view.pop().ok_or(AppError::NotFound("ledger entry"))
}

/// One ledger entry, as every writer of the ledger gives it; [`write`] is the one constructor
/// of the row (a new id, times to the microsecond as both databases store them, so that page
/// cursors compare exactly).
pub(crate) struct NewEntry {
    pub service_point_id: Uuid,
    pub booking_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub channel: Channel,
    /// The outcome's stored text (`booked`, `served`, … as `LedgerOutcome` writes them).
    pub outcome: String,
    /// The agent who handled the contact, and who entered it (the same person, or none for
    /// the system).
    pub agent_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub entered_at: DateTime<Utc>,
    pub backfilled: bool,
    pub reason_code: Option<String>,
    /// The applicant's name, already sealed with the field cipher.
    pub applicant_name_enc: Option<String>,
    pub note: Option<String>,
}

impl NewEntry {
    /// What became of a walk-in number (取号, no booking) at the window: served, absent, or
    /// left unfinished by the desk (`agent` none: closed by the end-of-day job).
    pub(crate) fn walk_in(
        ticket: &entity::queue_tickets::Model,
        outcome: &str,
        agent: Option<Uuid>,
        now: DateTime<Utc>,
        note: String,
    ) -> Self {
        Self {
            service_point_id: ticket.service_point_id,
            booking_id: None,
            user_id: ticket.user_id,
            item_id: None,
            channel: Channel::Window,
            outcome: outcome.into(),
            agent_id: agent,
            occurred_at: now,
            entered_at: now,
            backfilled: false,
            reason_code: None,
            applicant_name_enc: None,
            note: Some(note),
        }
    }
}

/// Writes a ledger entry in the caller's transaction.
pub(crate) async fn write(
    conn: &impl sea_orm::ConnectionTrait,
    entry: NewEntry,
) -> AppResult<ledger_entries::Model> {
    let micros =
        |t: DateTime<Utc>| DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t);
    Ok(ledger_entries::ActiveModel {
        id: Set(Uuid::now_v7()),
        service_point_id: Set(entry.service_point_id),
        booking_id: Set(entry.booking_id),
        user_id: Set(entry.user_id),
        item_id: Set(entry.item_id),
        channel: Set(entry.channel.as_str().into()),
        outcome: Set(entry.outcome),
        agent_id: Set(entry.agent_id),
        occurred_at: Set(micros(entry.occurred_at)),
        backfilled: Set(entry.backfilled),
        entered_by: Set(entry.agent_id),
        entered_at: Set(micros(entry.entered_at)),
        reason_code: Set(entry.reason_code),
        applicant_name_enc: Set(entry.applicant_name_enc),
        note: Set(entry.note),
    }
    .insert(conn)
    .await?)
}
