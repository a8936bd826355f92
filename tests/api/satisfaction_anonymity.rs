//! An anonymous rating's place in the audit log tells no one when it came: its entry is written
//! by the next China day's job, among that day's anonymous entries in random order, after the
//! entries of whatever happened meanwhile. End to end on both backends.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::{helpers::expect_data, satisfaction::Centre};

async fn audit_entries(centre: &Centre) -> Vec<entity::audit_log::Model> {
    entity::audit_log::Entity::find()
        .order_by_asc(entity::audit_log::Column::Seq)
        .all(&centre.app().state.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_rating_is_audited_the_next_day_after_what_followed_it() {
    let centre = Centre::start().await;
    let hidden = centre.resident("audit-hidden").await;
    let case = centre.completed_case(&hidden).await;
    let rating =
        expect_data(&centre.rate(&hidden, &case, "SATISFIED", None, true).await)["rateCase"]["id"]
            .as_str()
            .unwrap()
            .to_string();
    let of_rating = |entries: &[entity::audit_log::Model]| {
        entries
            .iter()
            .filter(|e| e.target_id.as_deref() == Some(rating.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        of_rating(&audit_entries(&centre).await).is_empty(),
        "no entry while the day it came is still on"
    );
    // Something else is audited later the same day.
    let named = centre.resident("audit-named").await;
    let other = centre.completed_case(&named).await;
    expect_data(&centre.rate(&named, &other, "SATISFIED", None, false).await);
    let later = audit_entries(&centre).await.last().unwrap().seq;
    bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert!(
        of_rating(&audit_entries(&centre).await).is_empty(),
        "the job waits for the day to end"
    );
    // The next China day: the job writes it, stamped with its day, after what followed it.
    let now = bangban_server::clock::Clock::now(centre.app().clock.as_ref());
    let tomorrow = bangban_server::clock::local_date(now).succ_opt().unwrap();
    centre
        .app()
        .clock
        .set(tomorrow.and_hms_opt(1, 0, 0).unwrap().and_utc());
    bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let entries = of_rating(&audit_entries(&centre).await);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.action, "rating.recorded");
    assert_eq!(entry.actor_kind, "system", "{entry:?}");
    assert!(entry.seq > later, "after what followed it: {entry:?}");
    assert!(
        entry.at.to_rfc3339().ends_with("T16:00:00+00:00"),
        "the day only: {entry:?}"
    );
    for secret in [case.as_str(), hidden.user_id.as_str(), "audit-hidden"] {
        assert!(
            !format!("{entry:?}").contains(secret),
            "the entry names no one: {entry:?}"
        );
    }
    // Once.
    bangban_server::jobs::run_due(&centre.app().state)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(of_rating(&audit_entries(&centre).await).len(), 1);
    let chain = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("rating.recorded"))
        .all(&centre.app().state.db)
        .await
        .unwrap();
    assert_eq!(chain.len(), 2, "both ratings audited");
    centre.stop().await;
}
