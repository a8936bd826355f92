//! Models read from a row by position, for the read paths that join several tables into one
//! statement. sea-orm's by-name decoding formats each column's name and looks it up in the
//! row; over a list of twenty bookings with their slots, points and items (some 1,300 columns)
//! that was a quarter of the server's time. [`Positioned`] reads the same values by index.
//!
//! Each model's fields are declared below in the order of its entity's `Column::iter()`, which
//! is the order [`select_columns`] selects them in; a unit test holds the two orders together,
//! and a missing or added field does not compile. A leaf: it knows entities and sea-orm only.
use entity::{bookings, case_steps, cases, items, service_points, slots};
use sea_orm::{
    DbErr, EntityTrait, Iterable, QueryResult,
    sea_query::{Expr, SelectStatement},
};

/// A model that can be read from consecutive columns of a row.
pub trait Positioned: Sized {
    /// The model's fields in the order they are read (its entity's column names).
    const FIELDS: &'static [&'static str];

    /// The model read from the row's columns `start .. start + FIELDS.len()`.
    fn at(row: &QueryResult, start: usize) -> Result<Self, DbErr>;
}

/// Adds every column of `E` to `query`, in `Column::iter()` order (read back with
/// [`Positioned::at`]).
pub fn select_columns<E: EntityTrait>(query: &mut SelectStatement) {
    for column in E::Column::iter() {
        query.expr(Expr::col((E::default(), column)));
    }
}

macro_rules! positioned {
    ($($module:ident { $($field:ident),+ $(,)? })+) => {$(
        impl Positioned for $module::Model {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),+];

            // The last field's increment is never read.
            #[allow(unused_assignments)]
            fn at(row: &QueryResult, start: usize) -> Result<Self, DbErr> {
                let mut at = start;
                Ok(Self {
                    $($field: {
                        let value = row.try_get_by_index(at)?;
                        at += 1;
                        value
                    }),+
                })
            }
        }
    )+};
}

positioned! {
    bookings {
        id, code, slot_id, service_point_id, item_id, user_id, kind, enterprise_name,
        credit_code, note, status, open_marker, channel, reason_code, explanation, reviewed_by,
        reviewed_at, created_at, updated_at, checked_in_at, review_overdue, reminded_day_before,
        reminded_soon, created_by, consent, rescheduled_from,
    }
    slots { id, service_point_id, day, starts_at, ends_at, capacity, booked, duty_capacity }
    service_points {
        id, region_id, kind, name, address, public_phone, latitude, longitude, opening_hours,
        scene, qr_code, qr_generated_at, active, created_at,
    }
    items {
        id, county_id, main_item, in_provincial_list, business_name, item_type,
        on_integrated_platform, handling_type, at_most_one_visit, promised_working_days,
        materials, levels, active, created_at, updated_at,
    }
    cases {
        id, number, county_id, year, kind, status, origin, booking_id, ledger_entry_id, user_id,
        enterprise_name, credit_code, item_id, origin_unit_id, unit_id, service_point_id,
        agent_id, promised_days, accepted_on, due_on, due_provisional, due_flag, waiting_since,
        reason_code, explanation, submitted_ref, termination_reason, outcome, delivery,
        created_at, updated_at, closed_at, latest_steps, latest_public_steps,
    }
    case_steps {
        id, case_id, at, action, from_status, to_status, actor_kind, actor_id, unit_id,
        public_note, internal_note, details,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    use super::*;

    fn columns<E: EntityTrait>() -> Vec<&'static str> {
        E::Column::iter().map(|c| c.as_str()).collect()
    }

    #[test]
    fn every_model_reads_its_columns_in_the_order_they_are_selected() {
        let cases: [(&str, &[&str], Vec<&str>); 6] = [
            (
                "bookings",
                bookings::Model::FIELDS,
                columns::<bookings::Entity>(),
            ),
            ("slots", slots::Model::FIELDS, columns::<slots::Entity>()),
            (
                "service_points",
                service_points::Model::FIELDS,
                columns::<service_points::Entity>(),
            ),
            ("items", items::Model::FIELDS, columns::<items::Entity>()),
            ("cases", cases::Model::FIELDS, columns::<cases::Entity>()),
            (
                "case_steps",
                case_steps::Model::FIELDS,
                columns::<case_steps::Entity>(),
            ),
        ];
        for (table, fields, columns) in cases {
            assert_eq!(fields, columns.as_slice(), "{table}");
        }
    }
}
