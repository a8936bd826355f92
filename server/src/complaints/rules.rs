//! The complaints room's pure rules: the state machine, who may contact the complainant how,
//! who is in the accused's chain (and so never handles or reads the complaint), which inspector
//! takes it, when a complaint is overdue, when the complainant may appeal, what is a duplicate,
//! and the receipt code's form. Every rule is table-tested below.
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::{
    auth::Role,
    complaints::model::{ComplaintCategory, ComplaintContact, ComplaintStatus},
    directory::model::RegionLevel,
};

/// A step of a complaint's handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Acknowledge,
    Investigate,
    Conclude,
    Reply,
    Close,
    Appeal,
    DecideAppeal,
    /// Steps that do not move the status: they are allowed in these states only.
    Extend,
    RequestStatement,
    RequestInformation,
    Answer,
}

/// Pure: where `step` takes a complaint that stands at `from`, or why it may not be taken.
pub fn next(from: ComplaintStatus, step: Step) -> Result<ComplaintStatus, &'static str> {
    use ComplaintStatus::{
        Acknowledged, Appealed, Closed, Concluded, Investigating, Received, Replied,
    };
    match (step, from) {
        (Step::Acknowledge, Received) => Ok(Acknowledged),
        (Step::Acknowledge, _) => Err("only a received complaint is acknowledged"),
        (Step::Investigate, Acknowledged) => Ok(Investigating),
        (Step::Investigate, _) => Err("only an acknowledged complaint is investigated"),
        (Step::Conclude, Investigating) => Ok(Concluded),
        (Step::Conclude, _) => Err("only a complaint under investigation is concluded"),
        (Step::Reply, Concluded) => Ok(Replied),
        (Step::Reply, _) => Err("only a concluded complaint is replied to"),
        (Step::Close, Replied) => Ok(Closed),
        (Step::Close, _) => Err("only a replied complaint is closed"),
        (Step::Appeal, Replied | Closed) => Ok(Appealed),
        (Step::Appeal, _) => Err("a complaint is appealed after its reply"),
        (Step::DecideAppeal, Appealed) => Ok(Closed),
        (Step::DecideAppeal, _) => Err("the complaint has no pending appeal"),
        (Step::Extend, Received | Acknowledged | Investigating) => Ok(from),
        (Step::Extend, _) => Err("a concluded complaint has no deadline to extend"),
        (Step::RequestStatement, Investigating) => Ok(from),
        (Step::RequestStatement, _) => Err("statements are asked for during the investigation"),
        (Step::RequestInformation, Acknowledged | Investigating) => Ok(from),
        (Step::RequestInformation, _) => {
            Err("information is asked for between acknowledgement and conclusion")
        }
        (Step::Answer, Received | Acknowledged | Investigating) => Ok(from),
        (Step::Answer, _) => Err("the complaint is concluded: its requests are closed"),
    }
}

/// Pure: the states in which `step` may be taken.
pub fn allowing(step: Step) -> Vec<ComplaintStatus> {
    ComplaintStatus::ALL
        .iter()
        .copied()
        .filter(|from| next(*from, step).is_ok())
        .collect()
}

/// Pure: whether `step` leaves the status where it is (an extension, a request, an answer):
/// such a step is guarded on the complaint standing in any state that allows it, not on the
/// state as read, so a move between those states meanwhile does not refuse it.
pub fn keeps_status(step: Step) -> bool {
    allowing(step)
        .iter()
        .all(|from| next(*from, step) == Ok(*from))
}

/// Pure: whether a complainant (anonymous or not) may be reached this way.
pub fn contact_allowed(anonymous: bool, contact: ComplaintContact) -> Result<(), &'static str> {
    match (anonymous, contact) {
        (_, ComplaintContact::NoReply) => Ok(()),
        (false, ComplaintContact::MiniProgram | ComplaintContact::Phone) => Ok(()),
        (false, ComplaintContact::Receipt) => {
            Err("a real-name complainant hears back in the mini-program or by phone")
        }
        (true, ComplaintContact::Receipt) => Ok(()),
        (true, _) => Err("an anonymous complainant hears back only through the receipt"),
    }
}

/// A member of staff, as the chain rule sees them.
#[derive(Clone, Debug)]
pub struct StaffFacts {
    pub id: Uuid,
    pub role: Role,
    /// Their unit's region path (`/…/`).
    pub unit_path: String,
}

/// Who or what a complaint is about.
#[derive(Clone, Debug)]
pub struct Accused {
    pub staff_id: Option<Uuid>,
    /// The unit's region path.
    pub unit_path: String,
    pub unit_level: RegionLevel,
}

/// Pure: whether `staff` is the accused or in their chain (信访工作条例 art. 30: the accused
/// and their unit never learn who complained). Below the county centre the chain is the
/// accused's unit and every unit above it up to (not including) the county centre: a village's
/// agents, its township's agents and administrators. At the county centre — where the
/// inspectors and the county's administrators, who run complaint handling, sit — the chain is
/// the accused person alone: a complaint about a county administrator goes to the inspectors
/// and the other administrators.
pub fn in_chain(staff: &StaffFacts, accused: &Accused) -> bool {
    if accused.staff_id == Some(staff.id) {
        return true;
    }
    if accused.unit_level == RegionLevel::County {
        return false;
    }
    !chain_is_the_person(staff.role) && accused.unit_path.starts_with(&staff.unit_path)
}

/// Pure: whether, for a reader in `role`, the chain of any complaint is the accused person
/// alone (so a list can leave out what is about them by the accused's id, in the query): true
/// at the county centre, where [`in_chain`] never looks at units.
pub fn chain_is_the_person(role: Role) -> bool {
    RegionLevel::of_role(role) == RegionLevel::County
}

/// Pure: whether `staff` may be given the complaint to handle: an inspector, not in the chain,
/// who has not declared a conflict of interest in it.
pub fn may_handle(staff: &StaffFacts, accused: &Accused, conflicts: &[Uuid]) -> bool {
    staff.role == Role::Inspector && !in_chain(staff, accused) && !conflicts.contains(&staff.id)
}

/// Pure: of the inspectors who may handle it, with how many open complaints each holds, the
/// one to assign: the least loaded, then the lowest id (stable, so a retry picks the same).
pub fn pick(candidates: &[(Uuid, u64)]) -> Option<Uuid> {
    candidates
        .iter()
        .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(id, _)| *id)
}

/// Which deadlines a complaint has missed on `today` (China date).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Overdue {
    pub acknowledge: bool,
    pub conclude: bool,
}

/// Pure: a complaint not acknowledged after its acknowledgement day, or not concluded after its
/// conclusion day, is overdue.
pub fn overdue(
    status: ComplaintStatus,
    acknowledge_by: NaiveDate,
    conclude_by: NaiveDate,
    today: NaiveDate,
) -> Overdue {
    use ComplaintStatus::{Acknowledged, Investigating, Received};
    Overdue {
        acknowledge: status == Received && today > acknowledge_by,
        conclude: matches!(status, Received | Acknowledged | Investigating) && today > conclude_by,
    }
}

/// Pure: whether the complainant may appeal now: once, after the reply, within `window` of it.
pub fn may_appeal(
    status: ComplaintStatus,
    appealed_before: bool,
    replied_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(), &'static str> {
    if appealed_before {
        return Err("a complaint is appealed once");
    }
    next(status, Step::Appeal)?;
    match replied_at {
        Some(replied) if now <= replied + window => Ok(()),
        Some(_) => Err("the time to appeal has passed"),
        None => Err("a complaint is appealed after its reply"),
    }
}

/// What the duplicate rule knows of a complaint.
#[derive(Clone, Debug)]
pub struct Filed {
    pub id: Uuid,
    pub filer: String,
    pub anonymous: bool,
    pub accused_staff_id: Option<Uuid>,
    pub accused_unit_id: Uuid,
    /// The case complained about, if any: another case is another complaint.
    pub case_id: Option<Uuid>,
    pub category: ComplaintCategory,
    pub received_at: DateTime<Utc>,
    pub status: ComplaintStatus,
}

/// Pure: the earlier complaint a new one is an obvious duplicate of: the same filer, the same
/// anonymity, about the same person (or the same unit when no person is named) and the same
/// case (or none), in the same
/// category, filed within `window` and still being handled (received, acknowledged or under
/// investigation: once concluded, the same complaint again is a new one, not an addition
/// nobody reads). The earliest such complaint.
pub fn duplicate_of(new: &Filed, earlier: &[Filed], window: Duration) -> Option<Uuid> {
    earlier
        .iter()
        .filter(|e| {
            e.id != new.id
                && e.filer == new.filer
                && e.anonymous == new.anonymous
                && e.accused_staff_id == new.accused_staff_id
                && e.accused_unit_id == new.accused_unit_id
                && e.case_id == new.case_id
                && e.category == new.category
                && e.received_at <= new.received_at
                && new.received_at - e.received_at < window
                && matches!(
                    e.status,
                    ComplaintStatus::Received
                        | ComplaintStatus::Acknowledged
                        | ComplaintStatus::Investigating
                )
        })
        .min_by_key(|e| (e.received_at, e.id))
        .map(|e| e.id)
}

/// The receipt alphabet: Crockford's base 32 (no I, L, O, U: nothing to misread).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The characters of a receipt after its prefix: 20, 100 bits.
pub const RECEIPT_CHARS: usize = 20;

/// Pure: a receipt code from 20 random numbers (each reduced to 5 bits), grouped by four
/// after `TS` (投诉): `TS-XXXX-XXXX-XXXX-XXXX-XXXX`.
pub fn receipt_from(random: &[u8; RECEIPT_CHARS]) -> String {
    let mut code = String::from("TS");
    for (n, byte) in random.iter().enumerate() {
        if n % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(byte & 31)]));
    }
    code
}

/// Pure: a receipt as typed, normalised (case, spaces and dashes ignored; Crockford's look-alikes
/// read as what they look like), or None when it cannot be one.
pub fn normalise_receipt(raw: &str) -> Option<String> {
    let mut chars: Vec<char> = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{3000}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() == RECEIPT_CHARS + 2 && chars[0] == 'T' && chars[1] == 'S' {
        chars.drain(..2);
    }
    if chars.len() != RECEIPT_CHARS {
        return None;
    }
    chars
        .into_iter()
        .map(|c| match c {
            'O' => Some('0'),
            'I' | 'L' => Some('1'),
            c if ALPHABET.contains(&u8::try_from(c).ok()?) => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComplaintStatus::*;

    #[test]
    fn the_state_machine_moves_only_forward_and_only_by_its_steps() {
        let table = [
            (Received, Step::Acknowledge, Ok(Acknowledged)),
            (Acknowledged, Step::Acknowledge, Err(())),
            (Acknowledged, Step::Investigate, Ok(Investigating)),
            (Received, Step::Investigate, Err(())),
            (Investigating, Step::Conclude, Ok(Concluded)),
            (Acknowledged, Step::Conclude, Err(())),
            (Concluded, Step::Reply, Ok(Replied)),
            (Investigating, Step::Reply, Err(())),
            (Replied, Step::Close, Ok(Closed)),
            (Concluded, Step::Close, Err(())),
            (Replied, Step::Appeal, Ok(Appealed)),
            (Closed, Step::Appeal, Ok(Appealed)),
            (Concluded, Step::Appeal, Err(())),
            (Appealed, Step::Appeal, Err(())),
            (Appealed, Step::DecideAppeal, Ok(Closed)),
            (Closed, Step::DecideAppeal, Err(())),
            (Received, Step::Extend, Ok(Received)),
            (Investigating, Step::Extend, Ok(Investigating)),
            (Concluded, Step::Extend, Err(())),
            (Investigating, Step::RequestStatement, Ok(Investigating)),
            (Acknowledged, Step::RequestStatement, Err(())),
            (Acknowledged, Step::RequestInformation, Ok(Acknowledged)),
            (Received, Step::RequestInformation, Err(())),
            (Investigating, Step::Answer, Ok(Investigating)),
            (Concluded, Step::Answer, Err(())),
        ];
        for (from, step, expected) in table {
            assert_eq!(
                next(from, step).map_err(|_| ()),
                expected,
                "{from:?} {step:?}"
            );
        }
    }

    #[test]
    fn contact_follows_anonymity() {
        use ComplaintContact::*;
        let table = [
            (false, MiniProgram, true),
            (false, Phone, true),
            (false, Receipt, false),
            (false, NoReply, true),
            (true, MiniProgram, false),
            (true, Phone, false),
            (true, Receipt, true),
            (true, NoReply, true),
        ];
        for (anonymous, contact, ok) in table {
            assert_eq!(
                contact_allowed(anonymous, contact).is_ok(),
                ok,
                "{anonymous} {contact:?}"
            );
        }
    }

    fn staff(role: Role, path: &str) -> StaffFacts {
        StaffFacts {
            id: Uuid::new_v4(),
            role,
            unit_path: path.into(),
        }
    }

    #[test]
    fn the_chain_is_the_accused_their_unit_and_the_units_above_below_the_county() {
        let county = "/c/";
        let town = "/c/t/";
        let village = "/c/t/v/";
        let other_town = "/c/u/";
        let accused_village_agent = staff(Role::VillageAgent, village);
        let about = |who: Option<&StaffFacts>, path: &str, level| Accused {
            staff_id: who.map(|s| s.id),
            unit_path: path.into(),
            unit_level: level,
        };
        let village_case = about(Some(&accused_village_agent), village, RegionLevel::Village);
        let county_admin = staff(Role::CountyAdmin, county);
        let inspector = staff(Role::Inspector, county);
        let table = [
            (&accused_village_agent, &village_case, true),
            (&staff(Role::VillageAgent, village), &village_case, true),
            (&staff(Role::TownshipAgent, town), &village_case, true),
            (&staff(Role::TownshipAdmin, town), &village_case, true),
            (
                &staff(Role::TownshipAdmin, other_town),
                &village_case,
                false,
            ),
            (&staff(Role::VillageAgent, "/c/t/w/"), &village_case, false),
            (&staff(Role::CountyAgent, county), &village_case, false),
            (&county_admin, &village_case, false),
            (&inspector, &village_case, false),
            // A township's own unit: its staff, not its villages'.
            (
                &staff(Role::TownshipAgent, town),
                &about(None, town, RegionLevel::Township),
                true,
            ),
            (
                &staff(Role::VillageAgent, village),
                &about(None, town, RegionLevel::Township),
                false,
            ),
            // At the county centre: the accused person only.
            (
                &county_admin,
                &about(Some(&county_admin), county, RegionLevel::County),
                true,
            ),
            (
                &staff(Role::CountyAdmin, county),
                &about(Some(&county_admin), county, RegionLevel::County),
                false,
            ),
            (
                &inspector,
                &about(Some(&inspector), county, RegionLevel::County),
                true,
            ),
            (&inspector, &about(None, county, RegionLevel::County), false),
        ];
        for (n, (who, accused, expected)) in table.into_iter().enumerate() {
            assert_eq!(
                in_chain(who, accused),
                expected,
                "row {n}: {who:?} {accused:?}"
            );
        }
    }

    #[test]
    fn only_inspectors_outside_the_chain_and_without_a_conflict_handle() {
        let inspector = staff(Role::Inspector, "/c/");
        let other = staff(Role::Inspector, "/c/");
        let admin = staff(Role::CountyAdmin, "/c/");
        let about_inspector = Accused {
            staff_id: Some(inspector.id),
            unit_path: "/c/".into(),
            unit_level: RegionLevel::County,
        };
        let about_village = Accused {
            staff_id: None,
            unit_path: "/c/t/v/".into(),
            unit_level: RegionLevel::Village,
        };
        let table = [
            (&inspector, &about_village, vec![], true),
            (&inspector, &about_inspector, vec![], false),
            (&other, &about_inspector, vec![], true),
            (&other, &about_village, vec![other.id], false),
            (&admin, &about_village, vec![], false),
        ];
        for (who, accused, conflicts, expected) in table {
            assert_eq!(may_handle(who, accused, &conflicts), expected, "{who:?}");
        }
    }

    #[test]
    fn the_least_loaded_inspector_is_picked_then_the_lowest_id() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let table = [
            (vec![], None),
            (vec![(a, 3), (b, 1)], Some(b)),
            (vec![(b, 2), (a, 2)], Some(a)),
        ];
        for (candidates, expected) in table {
            assert_eq!(pick(&candidates), expected);
        }
    }

    #[test]
    fn deadlines_passed_make_a_complaint_overdue_once_it_should_have_moved() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        let table = [
            (Received, d(8), d(28), d(8), Overdue::default()),
            (
                Received,
                d(8),
                d(28),
                d(9),
                Overdue {
                    acknowledge: true,
                    conclude: false,
                },
            ),
            (Acknowledged, d(8), d(28), d(9), Overdue::default()),
            (
                Investigating,
                d(8),
                d(28),
                d(29),
                Overdue {
                    acknowledge: false,
                    conclude: true,
                },
            ),
            (
                Received,
                d(8),
                d(28),
                d(29),
                Overdue {
                    acknowledge: true,
                    conclude: true,
                },
            ),
            (Concluded, d(8), d(28), d(29), Overdue::default()),
        ];
        for (status, ack, conclude, today, expected) in table {
            assert_eq!(
                overdue(status, ack, conclude, today),
                expected,
                "{status:?} {today}"
            );
        }
    }

    #[test]
    fn an_appeal_comes_once_after_the_reply_within_its_window() {
        let replied = DateTime::parse_from_rfc3339("2026-12-08T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let window = Duration::days(30);
        let table = [
            (
                Replied,
                false,
                Some(replied),
                replied + Duration::days(1),
                true,
            ),
            (
                Closed,
                false,
                Some(replied),
                replied + Duration::days(30),
                true,
            ),
            (
                Closed,
                false,
                Some(replied),
                replied + Duration::days(31),
                false,
            ),
            (Replied, true, Some(replied), replied, false),
            (Concluded, false, None, replied, false),
            (Appealed, false, Some(replied), replied, false),
        ];
        for (status, before, at, now, ok) in table {
            assert_eq!(
                may_appeal(status, before, at, now, window).is_ok(),
                ok,
                "{status:?} {before} {now}"
            );
        }
    }

    #[test]
    fn steps_that_keep_the_status_are_allowed_in_these_states() {
        use ComplaintStatus::{Acknowledged, Investigating, Received, Replied};
        let table: [(Step, bool, &[ComplaintStatus]); 6] = [
            (Step::Acknowledge, false, &[Received]),
            (Step::Appeal, false, &[Replied, ComplaintStatus::Closed]),
            (Step::Extend, true, &[Received, Acknowledged, Investigating]),
            (Step::RequestStatement, true, &[Investigating]),
            (
                Step::RequestInformation,
                true,
                &[Acknowledged, Investigating],
            ),
            (Step::Answer, true, &[Received, Acknowledged, Investigating]),
        ];
        for (step, keeps, states) in table {
            assert_eq!(keeps_status(step), keeps, "{step:?}");
            assert_eq!(allowing(step), states.to_vec(), "{step:?}");
        }
    }

    #[test]
    fn an_obvious_duplicate_is_the_same_filer_target_and_category_within_the_window() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let staff_id = Uuid::from_u128(7);
        let unit = Uuid::from_u128(8);
        let first = Filed {
            id: Uuid::from_u128(1),
            filer: "f".into(),
            anonymous: false,
            accused_staff_id: Some(staff_id),
            accused_unit_id: unit,
            case_id: None,
            category: ComplaintCategory::ColdService,
            received_at: at,
            status: Received,
        };
        let new = Filed {
            id: Uuid::from_u128(2),
            received_at: at + Duration::hours(3),
            ..first.clone()
        };
        let day = Duration::hours(24);
        let variants: Vec<(Filed, bool)> = vec![
            (first.clone(), true),
            (
                Filed {
                    filer: "g".into(),
                    ..first.clone()
                },
                false,
            ),
            (
                Filed {
                    anonymous: true,
                    ..first.clone()
                },
                false,
            ),
            (
                Filed {
                    category: ComplaintCategory::Shirking,
                    ..first.clone()
                },
                false,
            ),
            (
                Filed {
                    accused_staff_id: None,
                    ..first.clone()
                },
                false,
            ),
            (
                Filed {
                    case_id: Some(Uuid::from_u128(9)),
                    ..first.clone()
                },
                false,
            ),
            (
                Filed {
                    received_at: at - Duration::hours(22),
                    ..first.clone()
                },
                false,
            ),
        ];
        let variants = variants.into_iter().chain(
            [
                (Acknowledged, true),
                (Investigating, true),
                (Concluded, false),
                (Replied, false),
                (Closed, false),
            ]
            .map(|(status, expected)| {
                (
                    Filed {
                        status,
                        ..first.clone()
                    },
                    expected,
                )
            }),
        );
        for (n, (earlier, expected)) in variants.enumerate() {
            assert_eq!(
                duplicate_of(&new, &[earlier], day).is_some(),
                expected,
                "variant {n}"
            );
        }
    }

    #[test]
    fn receipts_have_100_bits_and_read_back_however_typed() {
        let random = [31u8; RECEIPT_CHARS];
        let code = receipt_from(&random);
        assert_eq!(code, "TS-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        let mixed: [u8; RECEIPT_CHARS] = std::array::from_fn(|n| u8::try_from(n).unwrap() * 13);
        let code = receipt_from(&mixed);
        let bare = normalise_receipt(&code).unwrap();
        let table = [
            (code.clone(), Some(bare.clone())),
            (code.to_lowercase(), Some(bare.clone())),
            (code.replace('-', " "), Some(bare.clone())),
            (code[3..].to_string(), Some(bare.clone())),
            ("TS-1234".into(), None),
            (format!("{code}0"), None),
            ("TS-UUUU-UUUU-UUUU-UUUU-UUUU".into(), None),
            (
                "ts-oooo-iiii-llll-0000-1111".into(),
                Some("00001111111100001111".into()),
            ),
        ];
        for (typed, expected) in table {
            assert_eq!(normalise_receipt(&typed), expected, "{typed}");
        }
    }
}
