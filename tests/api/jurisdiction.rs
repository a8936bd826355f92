//! Cross-jurisdiction access, generated from the schema: every query and mutation field that
//! takes an id (directly or inside an input object) must appear in the table below, and each
//! guarded one must refuse staff of another township, a village agent of another township and a
//! resident. A new id-taking field without a row here fails the test.
use std::collections::{BTreeMap, BTreeSet};

use bangban_server::auth::Role;
use serde_json::{Value, json};

use crate::{
    directory::{CHENGNEI, COUNTY, LONGGANG, ZHONGCUN_VILLAGE, test_id_number},
    helpers::{Session, TestApp, expect_data},
};

const INTROSPECTION: &str = r#"{ __schema {
  queryType { fields { name args { name type { ...T } } } }
  mutationType { fields { name args { name type { ...T } } } }
  types { name kind inputFields { name type { ...T } } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

fn named(t: &Value) -> Option<String> {
    let mut t = t;
    loop {
        if let Some(name) = t["name"].as_str() {
            return Some(name.to_string());
        }
        t = &t["ofType"];
        if t.is_null() {
            return None;
        }
    }
}

/// Every Query/Mutation field whose arguments reach an `ID`.
async fn id_taking_fields(app: &TestApp) -> BTreeSet<String> {
    let schema =
        expect_data(&app.graphql(None, INTROSPECTION, json!({})).await)["__schema"].clone();
    let inputs: BTreeMap<String, Vec<String>> = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "INPUT_OBJECT")
        .map(|t| {
            let fields = t["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| named(&f["type"]))
                .collect();
            (t["name"].as_str().unwrap().to_string(), fields)
        })
        .collect();
    fn reaches_id(name: &str, inputs: &BTreeMap<String, Vec<String>>, depth: usize) -> bool {
        name == "ID"
            || (depth < 5
                && inputs
                    .get(name)
                    .is_some_and(|fs| fs.iter().any(|f| reaches_id(f, inputs, depth + 1))))
    }
    let mut out = BTreeSet::new();
    for root in ["queryType", "mutationType"] {
        for field in schema[root]["fields"].as_array().unwrap() {
            if field["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| named(&a["type"]).is_some_and(|n| reaches_id(&n, &inputs, 0)))
            {
                out.insert(field["name"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

struct Fixture {
    point: String,
    booking: String,
    longgang: String,
    chengnei: String,
    staff: String,
    village_point: String,
    item: String,
    staff_change: String,
    item_change: String,
    ticket: String,
    slot: String,
    case: String,
    help_booking: String,
    milestone: String,
    consultation: String,
    material: String,
    transfer: String,
    contact: String,
    rated_case: String,
    rating: String,
    rectification: String,
    appeal: String,
    callback: String,
    sample: String,
    county: String,
    complaint: String,
    inspector: String,
    statement_request: String,
    information_request: String,
}

enum Access {
    /// Public by design (the directory and catalogue are published).
    Public,
    /// Open to every resident (e.g. booking at any point); refused to staff and to anonymous callers.
    Residents,
    /// Must be refused to anyone outside the object's jurisdiction or without the role.
    Guarded,
    /// Opened by a receipt code, with or without a login: refused (NOT_FOUND) to anyone
    /// without the right receipt, anonymous callers too.
    Receipt,
}

fn cases(f: &Fixture) -> Vec<(&'static str, Access, String, Value)> {
    let item = json!({"mainItem": "x", "inProvincialList": false, "businessName": "y", "itemType": "z", "onIntegratedPlatform": false,
        "handlingType": "PROMISED", "atMostOneVisit": false, "promisedWorkingDays": 3, "materials": [], "levels": ["VILLAGE"]});
    let later = (chrono::Utc::now().date_naive() + chrono::Duration::days(10)).to_string();
    vec![
        ("regions", Access::Public, "query($id: ID) { regions(parentId: $id) { id } }".into(), json!({"id": f.longgang})),
        ("region", Access::Public, "query($id: ID!) { region(id: $id) { id } }".into(), json!({"id": f.longgang})),
        ("items", Access::Public, "query($id: ID) { items(regionId: $id) { id } }".into(), json!({"id": f.longgang})),
        ("servicePoints", Access::Public, "query($id: ID) { servicePoints(regionId: $id) { id } }".into(), json!({"id": f.longgang})),
        ("servicePoint", Access::Public, "query($id: ID!) { servicePoint(id: $id) { id } }".into(), json!({"id": f.village_point})),
        ("roster", Access::Public, "query($id: ID) { roster(regionId: $id) { name } }".into(), json!({"id": f.longgang})),
        ("item", Access::Public, "query($id: ID!) { item(id: $id) { id } }".into(), json!({"id": f.item})),
        ("staffMembers", Access::Guarded, "query($id: ID) { staffMembers(regionId: $id) { id } }".into(), json!({"id": f.longgang})),
        ("staffMember", Access::Guarded, "query($id: ID!) { staffMember(id: $id) { id } }".into(), json!({"id": f.staff})),
        ("createRegion", Access::Guarded, "mutation($id: ID!) { createRegion(input: {parentId: $id, code: \"140521100299\", name: \"x\"}) { id } }".into(), json!({"id": f.longgang})),
        ("createServicePoint", Access::Guarded, "mutation($id: ID!) { createServicePoint(input: {regionId: $id, kind: VILLAGE_POINT, name: \"x\", address: \"y\"}) { id } }".into(), json!({"id": f.chengnei})),
        ("updateServicePoint", Access::Guarded, "mutation($id: ID!) { updateServicePoint(id: $id, input: {name: \"hijacked\"}) { id } }".into(), json!({"id": f.village_point})),
        ("generateServicePointQrCode", Access::Guarded, "mutation($id: ID!) { generateServicePointQrCode(id: $id) { id } }".into(), json!({"id": f.village_point})),
        ("createStaff", Access::Guarded, "mutation($id: ID!) { createStaff(input: {username: \"intruder\", displayName: \"x\", password: \"long-enough-pass\", role: VILLAGE_AGENT, regionId: $id}) { id } }".into(), json!({"id": f.chengnei})),
        ("setStaffOnDuty", Access::Guarded, "mutation($id: ID!) { setStaffOnDuty(staffId: $id, onDuty: false) { id } }".into(), json!({"id": f.staff})),
        ("deactivateStaff", Access::Guarded, "mutation($id: ID!) { deactivateStaff(staffId: $id) { id } }".into(), json!({"id": f.staff})),
        ("resetStaffPassword", Access::Guarded, "mutation($id: ID!) { resetStaffPassword(staffId: $id) }".into(), json!({"id": f.staff})),
        ("revealStaffPersonalData", Access::Guarded, "mutation($id: ID!) { revealStaffPersonalData(staffId: $id, field: PHONE, reason: \"x\") }".into(), json!({"id": f.staff})),
        ("updateItem", Access::Guarded, "mutation($id: ID!, $item: ItemInput!) { updateItem(id: $id, input: $item) { id } }".into(), json!({"id": f.item, "item": item})),
        ("setItemActive", Access::Guarded, "mutation($id: ID!) { setItemActive(id: $id, active: false) { id } }".into(), json!({"id": f.item})),
        ("submitStaffChange", Access::Guarded, "mutation($id: ID!, $d: NaiveDate!, $n: String!) { submitStaffChange(input: {regionId: $id, post: \"x\", name: \"x\", username: \"intruder2\", role: VILLAGE_AGENT, idNumber: $n, phone: \"13900000099\", email: \"a@b.cn\", arrivalDate: $d}) { id } }".into(), json!({"id": f.chengnei, "d": later, "n": test_id_number(99)})),
        ("decideStaffChange", Access::Guarded, "mutation($id: ID!) { decideStaffChange(id: $id, approve: true) { id } }".into(), json!({"id": f.staff_change})),
        ("submitItemChange", Access::Guarded, "mutation($id: ID!, $d: NaiveDate!, $item: ItemInput!) { submitItemChange(input: {regionId: $id, after: $item, effectiveDate: $d}) { id } }".into(), json!({"id": f.longgang, "d": later, "item": item})),
        ("pushDeliveries", Access::Guarded, "query($id: ID!) { pushDeliveries(subjectId: $id) { status } }".into(), json!({"id": f.staff_change})),
        ("availableSlots", Access::Public, "query($id: ID!) { availableSlots(servicePointId: $id, from: \"2026-01-01\", to: \"2026-01-02\") { id } }".into(), json!({"id": f.point})),
        ("bookingPolicy", Access::Public, "query($id: ID!) { bookingPolicy(servicePointId: $id) { slotMinutes } }".into(), json!({"id": f.point})),
        ("setBookingPolicy", Access::Guarded, "mutation($id: ID!) { setBookingPolicy(servicePointId: $id, input: {slotMinutes: 10, seatsPerAgent: 1, windowDays: 1, minNoticeMinutes: 0, cancelCutoffMinutes: 0, maxOpenBookings: 1}) { slotMinutes } }".into(), json!({"id": f.point})),
        ("ledger", Access::Guarded, "query($id: ID!) { ledger(servicePointId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") { nextCursor } }".into(), json!({"id": f.point})),
        ("pointBookings", Access::Guarded, "query($id: ID!) { pointBookings(servicePointId: $id, day: \"2026-12-01\") { id } }".into(), json!({"id": f.point})),
        ("bookAppointment", Access::Residents, "mutation($id: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $id, slotId: $s, itemId: $i, kind: HELP, idempotencyKey: \"j1\"}) { id } }".into(), json!({"id": f.point, "s": uuid::Uuid::now_v7().to_string(), "i": f.item})),
        ("cancelBooking", Access::Guarded, "mutation($id: ID!) { cancelBooking(id: $id) { id } }".into(), json!({"id": f.booking})),
        ("acceptBooking", Access::Guarded, "mutation($id: ID!) { acceptBooking(id: $id) { id } }".into(), json!({"id": f.booking})),
        ("refuseBooking", Access::Guarded, "mutation($id: ID!) { refuseBooking(id: $id, reasonCode: \"X\", explanation: \"x\") { id } }".into(), json!({"id": f.booking})),
        ("pointSlots", Access::Guarded, "query($id: ID!) { pointSlots(servicePointId: $id, day: \"2026-12-01\") { id } }".into(), json!({"id": f.point})),
        ("ledgerCsv", Access::Guarded, "query($id: ID!) { ledgerCsv(servicePointId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") }".into(), json!({"id": f.point})),
        ("pointCheckInCode", Access::Guarded, "query($id: ID!) { pointCheckInCode(servicePointId: $id) { code } }".into(), json!({"id": f.point})),
        ("pointQueue", Access::Guarded, "query($id: ID!) { pointQueue(servicePointId: $id) { id } }".into(), json!({"id": f.point})),
        ("queuePosition", Access::Guarded, "query($id: ID!) { queuePosition(ticketId: $id) { ahead } }".into(), json!({"id": f.ticket})),
        ("bookOnBehalf", Access::Guarded, "mutation($id: ID!, $s: ID!, $i: ID!) { bookOnBehalf(input: {residentPhone: \"13900000011\", onBehalf: {channel: PHONE}, booking: {servicePointId: $id, slotId: $s, itemId: $i, kind: HELP, idempotencyKey: \"j2\"}}) { id } }".into(), json!({"id": f.point, "s": f.slot, "i": f.item})),
        ("rescheduleBooking", Access::Guarded, "mutation($id: ID!, $s: ID!) { rescheduleBooking(id: $id, slotId: $s, onBehalf: {channel: PHONE}) { id } }".into(), json!({"id": f.booking, "s": f.slot})),
        ("setStaffDutyDay", Access::Guarded, "mutation($id: ID!, $d: NaiveDate!) { setStaffDutyDay(staffId: $id, day: $d, onDuty: false) { overbookedSlots { id } } }".into(), json!({"id": f.staff, "d": (chrono::Utc::now().date_naive() + chrono::Duration::days(40)).to_string()})),
        ("joinWaitlist", Access::Residents, "mutation($id: ID!, $s: ID!, $i: ID!) { joinWaitlist(input: {servicePointId: $id, slotId: $s, itemId: $i, kind: HELP}) { id } }".into(), json!({"id": f.point, "s": f.slot, "i": f.item})),
        ("leaveWaitlist", Access::Guarded, "mutation($id: ID!) { leaveWaitlist(id: $id) { id } }".into(), json!({"id": uuid::Uuid::now_v7().to_string()})),
        ("claimWaitlistOffer", Access::Guarded, "mutation($id: ID!) { claimWaitlistOffer(id: $id) { id } }".into(), json!({"id": uuid::Uuid::now_v7().to_string()})),
        ("checkInAtDesk", Access::Guarded, "mutation($id: ID!) { checkInAtDesk(servicePointId: $id) { id } }".into(), json!({"id": f.point})),
        ("callNext", Access::Guarded, "mutation($id: ID!) { callNext(servicePointId: $id) { id } }".into(), json!({"id": f.point})),
        ("finishTicket", Access::Guarded, "mutation($id: ID!) { finishTicket(id: $id, served: true) { id } }".into(), json!({"id": f.ticket})),
        ("recordContact", Access::Guarded, "mutation($id: ID!) { recordContact(input: {servicePointId: $id, channel: PHONE, outcome: CONSULTED}) { id } }".into(), json!({"id": f.point})),
        ("appealBookingRestriction", Access::Guarded, "mutation($id: ID!) { appealBookingRestriction(id: $id, reason: \"x\") { id } }".into(), json!({"id": uuid::Uuid::now_v7().to_string()})),
        ("decideRestrictionAppeal", Access::Guarded, "mutation($id: ID!) { decideRestrictionAppeal(id: $id, lift: true, decision: \"x\") { id } }".into(), json!({"id": uuid::Uuid::now_v7().to_string()})),
        ("decideItemChange", Access::Guarded, "mutation($id: ID!) { decideItemChange(id: $id, approve: true) { id } }".into(), json!({"id": f.item_change})),
        ("case", Access::Guarded, "query($id: ID!) { case(id: $id) { id } }".into(), json!({"id": f.case})),
        ("cases", Access::Guarded, "query($id: ID) { cases(filter: {unitId: $id}) { nextCursor } }".into(), json!({"id": f.longgang})),
        ("openCase", Access::Guarded, "mutation($id: ID!) { openCase(bookingId: $id) { id } }".into(), json!({"id": f.help_booking})),
        ("openCaseFromContact", Access::Guarded, "mutation($id: ID!) { openCaseFromContact(ledgerEntryId: $id, kind: HELP) { id } }".into(), json!({"id": f.contact})),
        ("acceptCase", Access::Guarded, "mutation($id: ID!) { acceptCase(id: $id) { id } }".into(), json!({"id": f.case})),
        ("refuseCase", Access::Guarded, "mutation($id: ID!) { refuseCase(id: $id, reasonCode: \"X\", explanation: \"x\") { id } }".into(), json!({"id": f.case})),
        ("startCaseService", Access::Guarded, "mutation($id: ID!) { startCaseService(id: $id) { id } }".into(), json!({"id": f.case})),
        ("recordCaseService", Access::Guarded, "mutation($id: ID!) { recordCaseService(id: $id, service: FORM_HELP) { id } }".into(), json!({"id": f.case})),
        ("submitCase", Access::Guarded, "mutation($id: ID!) { submitCase(id: $id, reference: \"R\") { id } }".into(), json!({"id": f.case})),
        ("recordCaseReturn", Access::Guarded, "mutation($id: ID!) { recordCaseReturn(id: $id, reason: \"x\") { id } }".into(), json!({"id": f.case})),
        ("resumeCase", Access::Guarded, "mutation($id: ID!) { resumeCase(id: $id) { id } }".into(), json!({"id": f.case})),
        ("startCaseProgress", Access::Guarded, "mutation($id: ID!) { startCaseProgress(id: $id) { id } }".into(), json!({"id": f.case})),
        ("closeCase", Access::Guarded, "mutation($id: ID!) { closeCase(id: $id) { id } }".into(), json!({"id": f.case})),
        ("stopCaseClock", Access::Guarded, "mutation($id: ID!) { stopCaseClock(id: $id, note: \"x\") { id } }".into(), json!({"id": f.case})),
        ("restartCaseClock", Access::Guarded, "mutation($id: ID!) { restartCaseClock(id: $id) { id } }".into(), json!({"id": f.case})),
        ("entrustmentLink", Access::Guarded, "query($id: ID!) { entrustmentLink(caseId: $id) { path } }".into(), json!({"id": f.case})),
        ("prepareEntrustment", Access::Guarded, "mutation($id: ID!, $n: String!) { prepareEntrustment(caseId: $id, input: {contactName: \"x\", contactPhone: \"13900000031\", idNumber: $n, validUntil: \"2099-01-01\"}) { contentHash } }".into(), json!({"id": f.case, "n": test_id_number(31)})),
        ("confirmEntrustment", Access::Guarded, "mutation($id: ID!) { confirmEntrustment(caseId: $id, contentHash: \"x\") { contentHash } }".into(), json!({"id": f.case})),
        ("revokeEntrustment", Access::Guarded, "mutation($id: ID!) { revokeEntrustment(caseId: $id, reason: \"x\") { id } }".into(), json!({"id": f.case})),
        ("receiveCaseMaterial", Access::Guarded, "mutation($id: ID!) { receiveCaseMaterial(caseId: $id, input: {name: \"x\", original: true, mustReturn: true}) { id } }".into(), json!({"id": f.case})),
        ("confirmCaseMaterialsReceived", Access::Guarded, "mutation($id: ID!) { confirmCaseMaterialsReceived(caseId: $id) { id } }".into(), json!({"id": f.case})),
        ("moveCaseMaterial", Access::Guarded, "mutation($id: ID!) { moveCaseMaterial(materialId: $id, input: {to: APPLICANT}) { id } }".into(), json!({"id": f.material})),
        ("transferCase", Access::Guarded, "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"x\") { id } }".into(), json!({"id": f.case, "u": f.chengnei})),
        ("escalateCase", Access::Guarded, "mutation($id: ID!, $u: ID!) { escalateCase(caseId: $id, toUnitId: $u, reason: \"x\") { id } }".into(), json!({"id": f.case, "u": f.longgang})),
        ("respondToCaseTransfer", Access::Guarded, "mutation($id: ID!) { respondToCaseTransfer(transferId: $id, accept: true) { id } }".into(), json!({"id": f.transfer})),
        ("withdrawCaseTransfer", Access::Guarded, "mutation($id: ID!) { withdrawCaseTransfer(transferId: $id, reason: \"x\") { id } }".into(), json!({"id": f.transfer})),
        ("completeCase", Access::Guarded, "mutation($id: ID!) { completeCase(id: $id, outcome: []) { id } }".into(), json!({"id": f.case})),
        ("deliverCase", Access::Guarded, "mutation($id: ID!) { deliverCase(id: $id, input: {method: IN_PERSON, receiverName: \"x\", idChecked: true}) { id } }".into(), json!({"id": f.case})),
        ("archiveCase", Access::Guarded, "mutation($id: ID!) { archiveCase(id: $id) { id } }".into(), json!({"id": f.case})),
        ("setCasePlan", Access::Guarded, "mutation($id: ID!) { setCasePlan(caseId: $id, milestones: [{title: \"x\", workingDays: 1}]) { id } }".into(), json!({"id": f.case})),
        ("acknowledgeMilestone", Access::Guarded, "mutation($id: ID!) { acknowledgeMilestone(milestoneId: $id) { id } }".into(), json!({"id": f.milestone})),
        ("recordMilestoneProgress", Access::Guarded, "mutation($id: ID!) { recordMilestoneProgress(milestoneId: $id, note: \"x\") { id } }".into(), json!({"id": f.milestone})),
        ("reportMilestoneToCounty", Access::Guarded, "mutation($id: ID!) { reportMilestoneToCounty(milestoneId: $id) { id } }".into(), json!({"id": f.milestone})),
        ("openConsultation", Access::Guarded, "mutation($id: ID) { openConsultation(caseId: $id, question: \"x\") { id } }".into(), json!({"id": f.case})),
        ("replyToConsultation", Access::Guarded, "mutation($id: ID!) { replyToConsultation(id: $id, body: \"x\") { at } }".into(), json!({"id": f.consultation})),
        ("closeConsultation", Access::Guarded, "mutation($id: ID!) { closeConsultation(id: $id) { id } }".into(), json!({"id": f.consultation})),
        ("caseRatings", Access::Guarded, "query($id: ID!) { caseRatings(caseId: $id) { id } }".into(), json!({"id": f.rated_case})),
        ("rating", Access::Guarded, "query($id: ID!) { rating(id: $id) { id } }".into(), json!({"id": f.rating})),
        ("ratings", Access::Guarded, "query($u: ID) { ratings(filter: {unitId: $u}) { ratings { id } } }".into(), json!({"u": f.longgang})),
        ("rectification", Access::Guarded, "query($id: ID!) { rectification(id: $id) { id } }".into(), json!({"id": f.rectification})),
        ("rectifications", Access::Guarded, "query($u: ID) { rectifications(filter: {unitId: $u}) { rectifications { id } } }".into(), json!({"u": f.longgang})),
        ("rateCase", Access::Guarded, "mutation($id: ID!) { rateCase(caseId: $id, level: SATISFIED) { id } }".into(), json!({"id": f.rated_case})),
        ("releaseRatingText", Access::Guarded, "mutation($id: ID!) { releaseRatingText(id: $id) { id } }".into(), json!({"id": f.rating})),
        ("verifyRectification", Access::Guarded, "mutation($id: ID!) { verifyRectification(id: $id, reached: true, note: \"x\") { id } }".into(), json!({"id": f.rectification})),
        ("resolveRectification", Access::Guarded, "mutation($id: ID!) { resolveRectification(id: $id, classification: IMMEDIATE, result: \"x\", reply: \"y\") { id } }".into(), json!({"id": f.rectification})),
        // Refused by role before any lookup (county administrators only): a made-up id serves.
        ("redriveProvincialDelivery", Access::Guarded, "mutation($id: ID!) { redriveProvincialDelivery(id: $id) { id } }".into(), json!({"id": uuid::Uuid::new_v4().to_string()})),
        ("satisfactionStatistics", Access::Guarded, "query($u: ID) { satisfactionStatistics(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-31T00:00:00Z\", unitId: $u) { key } }".into(), json!({"u": f.longgang})),
        ("callbackResults", Access::Guarded, "query($u: ID) { callbackResults(from: \"2026-01-01\", until: \"2026-12-31\", unitId: $u) { unitId } }".into(), json!({"u": f.longgang})),
        ("verifyCallbackSample", Access::Guarded, "query($id: ID!) { verifyCallbackSample(id: $id) { reproduced } }".into(), json!({"id": f.sample})),
        ("reviewCallbackComment", Access::Guarded, "mutation($id: ID!) { reviewCallbackComment(id: $id, publish: true) { id } }".into(), json!({"id": f.callback})),
        ("assignCallback", Access::Guarded, "mutation($id: ID!, $c: ID!) { assignCallback(id: $id, callerId: $c) { id } }".into(), json!({"id": f.callback, "c": f.staff})),
        ("recordCallbackAttempt", Access::Guarded, "mutation($id: ID!) { recordCallbackAttempt(id: $id, outcome: NO_ANSWER) { id } }".into(), json!({"id": f.callback})),
        ("answerCallback", Access::Guarded, "mutation($id: ID!) { answerCallback(id: $id, answers: []) { id } }".into(), json!({"id": f.callback})),
        ("revealCallbackPhone", Access::Guarded, "mutation($id: ID!) { revealCallbackPhone(id: $id, reason: \"x\") }".into(), json!({"id": f.callback})),
        ("appealRating", Access::Guarded, "mutation($id: ID!) { appealRating(ratingId: $id, reason: MISTAKEN, explanation: \"x\") { id } }".into(), json!({"id": f.rating})),
        ("decideRatingAppeal", Access::Guarded, "mutation($id: ID!) { decideRatingAppeal(id: $id, upheld: true, note: \"x\") { id } }".into(), json!({"id": f.appeal})),
        ("terminateCase", Access::Guarded, "mutation($id: ID!) { terminateCase(id: $id, reason: NOT_COMPLETABLE, note: \"x\") { id } }".into(), json!({"id": f.case})),
        ("complaintChannels", Access::Public, "query($id: ID!) { complaintChannels(countyId: $id) { kind } }".into(), json!({"id": f.county})),
        ("setComplaintChannels", Access::Guarded, "mutation($id: ID!) { setComplaintChannels(countyId: $id, channels: [{kind: PHONE, label: \"x\", value: \"1\"}]) { kind } }".into(), json!({"id": f.county})),
        ("fileComplaint", Access::Residents, "mutation($s: ID!) { fileComplaint(input: {staffId: $s, category: OTHER, description: \"x\", contact: NO_REPLY, anonymous: false}) { merged } }".into(), json!({"s": f.staff})),
        ("complaint", Access::Guarded, "query($id: ID!) { complaint(id: $id) { id } }".into(), json!({"id": f.complaint})),
        ("acknowledgeComplaint", Access::Guarded, "mutation($id: ID!) { acknowledgeComplaint(id: $id) { id } }".into(), json!({"id": f.complaint})),
        ("investigateComplaint", Access::Guarded, "mutation($id: ID!) { investigateComplaint(id: $id) { id } }".into(), json!({"id": f.complaint})),
        ("requestComplaintStatement", Access::Guarded, "mutation($id: ID!) { requestComplaintStatement(id: $id, question: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("requestComplaintInformation", Access::Guarded, "mutation($id: ID!) { requestComplaintInformation(id: $id, question: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("giveComplaintStatement", Access::Guarded, "mutation($id: ID!) { giveComplaintStatement(requestId: $id, statement: \"x\") { id } }".into(), json!({"id": f.statement_request})),
        ("answerComplaintRequest", Access::Guarded, "mutation($id: ID!) { answerComplaintRequest(requestId: $id, answer: \"x\") { id } }".into(), json!({"id": f.information_request})),
        ("answerComplaintRequestByReceipt", Access::Receipt, "mutation($id: ID!) { answerComplaintRequestByReceipt(receipt: \"TS-0000-0000-0000-0000-0000\", requestId: $id, answer: \"x\") { id } }".into(), json!({"id": f.information_request})),
        ("extendComplaint", Access::Guarded, "mutation($id: ID!) { extendComplaint(id: $id, reason: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("concludeComplaint", Access::Guarded, "mutation($id: ID!) { concludeComplaint(id: $id, finding: SUBSTANTIATED, serious: false, actionsTaken: \"x\", conclusion: \"y\") { id } }".into(), json!({"id": f.complaint})),
        ("replyComplaint", Access::Guarded, "mutation($id: ID!) { replyComplaint(id: $id, reply: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("closeComplaint", Access::Guarded, "mutation($id: ID!) { closeComplaint(id: $id) { id } }".into(), json!({"id": f.complaint})),
        ("appealComplaint", Access::Guarded, "mutation($id: ID!) { appealComplaint(id: $id, reason: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("decideComplaintAppeal", Access::Guarded, "mutation($id: ID!) { decideComplaintAppeal(id: $id, upheld: true, note: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("declareComplaintConflict", Access::Guarded, "mutation($id: ID!) { declareComplaintConflict(id: $id, reason: \"x\") { id } }".into(), json!({"id": f.complaint})),
        ("assignComplaint", Access::Guarded, "mutation($id: ID!, $i: ID!) { assignComplaint(id: $id, inspectorId: $i) { id } }".into(), json!({"id": f.complaint, "i": f.inspector})),
        ("revealComplainant", Access::Guarded, "mutation($id: ID!) { revealComplainant(id: $id, reason: \"x\") { userId } }".into(), json!({"id": f.complaint})),
    ]
}

async fn fixture(app: &TestApp, county: &Session, town: &Session) -> Fixture {
    let longgang = app.region_id(LONGGANG).await;
    let chengnei = app.region_id(CHENGNEI).await;
    let staff = expect_data(&app.as_(county, "mutation($r: ID!) { createStaff(input: {username: \"target.agent\", displayName: \"目标\", password: \"initial-password-1\", role: VILLAGE_AGENT, regionId: $r, phone: \"13900000098\"}) { id } }", json!({"r": chengnei})).await)["createStaff"]["id"].as_str().unwrap().to_string();
    let points = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { servicePoints(regionId: $r, kind: VILLAGE_POINT) { id } }",
            json!({"r": chengnei}),
        )
        .await,
    );
    let point = points["servicePoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let items = expect_data(&app.graphql(None, "{ items { id } }", json!({})).await);
    let item = items["items"][0]["id"].as_str().unwrap().to_string();
    let later = (chrono::Utc::now().date_naive() + chrono::Duration::days(10)).to_string();
    let staff_change = expect_data(&app.as_(town, "mutation($r: ID!, $d: NaiveDate!, $n: String!) { submitStaffChange(input: {regionId: $r, post: \"帮办员\", name: \"新人\", username: \"newcomer\", role: VILLAGE_AGENT, idNumber: $n, phone: \"13900000097\", email: \"n@example.cn\", arrivalDate: $d}) { id } }", json!({"r": chengnei, "d": later, "n": test_id_number(97)})).await)["submitStaffChange"]["id"].as_str().unwrap().to_string();
    let item_input = json!({"mainItem": "m", "inProvincialList": false, "businessName": "b", "itemType": "t", "onIntegratedPlatform": false, "handlingType": "IMMEDIATE", "atMostOneVisit": true, "promisedWorkingDays": 0, "materials": [], "levels": ["TOWNSHIP"]});
    let item_change = expect_data(&app.as_(town, "mutation($r: ID!, $d: NaiveDate!, $i: ItemInput!) { submitItemChange(input: {regionId: $r, after: $i, effectiveDate: $d}) { id } }", json!({"r": longgang, "d": later, "i": item_input})).await)["submitItemChange"]["id"].as_str().unwrap().to_string();
    // A booking at 龙港镇's centre, which has an agent on duty.
    let centre = expect_data(
        &app.graphql(
            None,
            "query($r: ID) { servicePoints(regionId: $r, kind: TOWNSHIP_CENTER) { id } }",
            json!({"r": longgang}),
        )
        .await,
    )["servicePoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_data(&app.as_(county, "mutation($r: ID!, $p: ID) { createStaff(input: {username: \"lg.desk\", displayName: \"窗口\", password: \"initial-password-1\", role: TOWNSHIP_AGENT, regionId: $r, servicePointId: $p}) { id } }", json!({"r": longgang, "p": centre})).await);
    let today =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()));
    let next = expect_data(
        &app.graphql(
            None,
            "query($d: NaiveDate!) { addWorkingDays(date: $d, days: 1) { date } }",
            json!({"d": today.to_string()}),
        )
        .await,
    )["addWorkingDays"]["date"]
        .as_str()
        .unwrap()
        .to_string();
    let slots = expect_data(&app.graphql(None, "query($p: ID!, $d: NaiveDate!) { availableSlots(servicePointId: $p, from: $d, to: $d) { id } }", json!({"p": centre, "d": next})).await);
    let township_item = expect_data(
        &app.graphql(None, "{ items(level: TOWNSHIP) { id } }", json!({}))
            .await,
    )["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let booker = app.login_resident("jurisdiction-booker").await;
    let booking = expect_data(&app.as_(&booker, "mutation($p: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $p, slotId: $s, itemId: $i, kind: CONSULT, idempotencyKey: \"fixture\"}) { id } }", json!({"p": centre, "s": slots["availableSlots"][0]["id"], "i": township_item})).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
    let ticket = expect_data(
        &app.as_(
            county,
            "mutation($p: ID!) { checkInAtDesk(servicePointId: $p) { id } }",
            json!({"p": centre}),
        )
        .await,
    )["checkInAtDesk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A help booking at the centre, accepted, with its case.
    let desk = app
        .login_staff_session("lg.desk", "initial-password-1")
        .await;
    let helper = app.login_resident("jurisdiction-helped").await;
    let help_booking = expect_data(&app.as_(&helper, "mutation($p: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $p, slotId: $s, itemId: $i, kind: HELP, idempotencyKey: \"fixture-help\"}) { id } }", json!({"p": centre, "s": slots["availableSlots"][2]["id"], "i": township_item})).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
            json!({"id": help_booking}),
        )
        .await,
    );
    let case = expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { openCase(bookingId: $id) { id } }",
            json!({"id": help_booking}),
        )
        .await,
    )["openCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.login_resident("jurisdiction-helped-2").await;
    let help_booking = expect_data(&app.as_(&other, "mutation($p: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $p, slotId: $s, itemId: $i, kind: HELP, idempotencyKey: \"fixture-help-2\"}) { id } }", json!({"p": centre, "s": slots["availableSlots"][3]["id"], "i": township_item})).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
            json!({"id": help_booking}),
        )
        .await,
    );
    // The case accepted, with a plan and a consultation about it (real ids for their rows).
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptCase(id: $id) { id } }",
            json!({"id": case}),
        )
        .await,
    );
    let milestone = expect_data(&app.as_(&desk, "mutation($id: ID!) { setCasePlan(caseId: $id, milestones: [{title: \"节点\", workingDays: 3}]) { id } }", json!({"id": case})).await)["setCasePlan"][0]["id"].as_str().unwrap().to_string();
    let consultation = expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { openConsultation(caseId: $id, question: \"问\") { id } }",
            json!({"id": case}),
        )
        .await,
    )["openConsultation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A proxy case, entrusted, with a material in custody; a pending transfer of the help case
    // to 城内村; a window contact at the centre that may open a case (real ids for their rows).
    let principal = app.login_resident("jurisdiction-principal").await;
    let proxy_booking = expect_data(&app.as_(&principal, "mutation($p: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $p, slotId: $s, itemId: $i, kind: PROXY, idempotencyKey: \"fixture-proxy\"}) { id } }", json!({"p": centre, "s": slots["availableSlots"][4]["id"], "i": township_item})).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
            json!({"id": proxy_booking}),
        )
        .await,
    );
    let proxy = expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { openCase(bookingId: $id) { id } }",
            json!({"id": proxy_booking}),
        )
        .await,
    )["openCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptCase(id: $id) { id } }",
            json!({"id": proxy}),
        )
        .await,
    );
    let hash = expect_data(&app.as_(&desk, "mutation($id: ID!, $n: String!) { prepareEntrustment(caseId: $id, input: {contactName: \"钱七\", contactPhone: \"13900000042\", idNumber: $n, validUntil: \"2099-12-31\"}) { contentHash } }", json!({"id": proxy, "n": test_id_number(42)})).await)["prepareEntrustment"]["contentHash"].as_str().unwrap().to_string();
    let confirm = "mutation($id: ID!, $h: String!) { confirmEntrustment(caseId: $id, contentHash: $h) { contentHash } }";
    for who in [&principal, &desk] {
        expect_data(&app.as_(who, confirm, json!({"id": proxy, "h": hash})).await);
    }
    let material = expect_data(&app.as_(&desk, "mutation($id: ID!) { receiveCaseMaterial(caseId: $id, input: {name: \"营业执照\", original: true, mustReturn: true}) { id } }", json!({"id": proxy})).await)["receiveCaseMaterial"]["id"].as_str().unwrap().to_string();
    let transfer = expect_data(&app.as_(&desk, "mutation($id: ID!, $u: ID!) { transferCase(caseId: $id, toUnitId: $u, reason: \"就近办理\") { id } }", json!({"id": case, "u": chengnei})).await)["transferCase"]["id"].as_str().unwrap().to_string();
    let contact = expect_data(&app.as_(&desk, "mutation($id: ID!) { recordContact(input: {servicePointId: $id, channel: WINDOW, outcome: SERVED}) { id } }", json!({"id": centre})).await)["recordContact"]["id"].as_str().unwrap().to_string();
    // A completed help case with a bad rating and its rectification order.
    let rater = app.login_resident("jurisdiction-rater").await;
    let rated_booking = expect_data(&app.as_(&rater, "mutation($p: ID!, $s: ID!, $i: ID!) { bookAppointment(input: {servicePointId: $p, slotId: $s, itemId: $i, kind: HELP, idempotencyKey: \"fixture-rated\"}) { id } }", json!({"p": centre, "s": slots["availableSlots"][5]["id"], "i": township_item})).await)["bookAppointment"]["id"].as_str().unwrap().to_string();
    expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
            json!({"id": rated_booking}),
        )
        .await,
    );
    let rated_case = expect_data(
        &app.as_(
            &desk,
            "mutation($id: ID!) { openCase(bookingId: $id) { id } }",
            json!({"id": rated_booking}),
        )
        .await,
    )["openCase"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for step in [
        "acceptCase(id: $id) { id }",
        "startCaseService(id: $id) { id }",
        "submitCase(id: $id, reference: \"R-1\") { id }",
        "completeCase(id: $id, outcome: []) { id }",
    ] {
        expect_data(
            &app.as_(
                &desk,
                &format!("mutation($id: ID!) {{ {step} }}"),
                json!({"id": rated_case}),
            )
            .await,
        );
    }
    let mut rating = None;
    for _ in 0..100 {
        let response = app.as_(&rater, "mutation($id: ID!) { rateCase(caseId: $id, level: DISSATISFIED, text: \"慢\") { id } }", json!({"id": rated_case})).await;
        if let Some(id) = response["data"]["rateCase"]["id"].as_str() {
            rating = Some(id.to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rating = rating.expect("the completed case could be rated");
    let rectification = expect_data(
        &app.as_(
            &desk,
            "{ rectifications { rectifications { id } } }",
            json!({}),
        )
        .await,
    )["rectifications"]["rectifications"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let callback =
        expect_data(&app.as_(county, "{ callbackTasks { id } }", json!({})).await)["callbackTasks"]
            [0]["id"]
            .as_str()
            .unwrap()
            .to_string();
    let day =
        bangban_server::clock::local_date(bangban_server::clock::Clock::now(app.clock.as_ref()))
            .to_string();
    let sample = expect_data(
        &app.as_(
            county,
            "mutation($d: NaiveDate!) { drawCallbackSample(from: $d, until: $d, count: 1) { id } }",
            json!({"d": day}),
        )
        .await,
    )["drawCallbackSample"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let appeal = expect_data(&app.as_(town, "mutation($id: ID!) { appealRating(ratingId: $id, reason: MISTAKEN, explanation: \"误评\") { id } }", json!({"id": rating})).await)["appealRating"]["id"].as_str().unwrap().to_string();
    // A complaint about the target agent, under investigation, with a request to each side.
    let inspector_session = app
        .staff_session("fx.inspector", Role::Inspector, COUNTY)
        .await;
    let complainant = app.login_resident("fixture-complainant").await;
    let complaint = expect_data(&app.as_(&complainant, "mutation($s: ID!) { fileComplaint(input: {staffId: $s, category: COLD_SERVICE, description: \"态度冷漠\", contact: MINI_PROGRAM, anonymous: false}) { complaint { id } } }", json!({"s": staff})).await)["fileComplaint"]["complaint"]["id"].as_str().unwrap().to_string();
    for step in ["acknowledgeComplaint", "investigateComplaint"] {
        expect_data(
            &app.as_(
                &inspector_session,
                &format!("mutation($id: ID!) {{ {step}(id: $id) {{ id }} }}"),
                json!({"id": complaint}),
            )
            .await,
        );
    }
    expect_data(&app.as_(&inspector_session, "mutation($id: ID!) { requestComplaintStatement(id: $id, question: \"请说明\") { id } }", json!({"id": complaint})).await);
    let handled = expect_data(&app.as_(&inspector_session, "mutation($id: ID!) { requestComplaintInformation(id: $id, question: \"请补充\") { assignedInspectorId exchanges { id kind } } }", json!({"id": complaint})).await)["requestComplaintInformation"].clone();
    let exchange = |kind: &str| {
        handled["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let statement_request = exchange("STATEMENT_REQUEST");
    let information_request = exchange("INFORMATION_REQUEST");
    let inspector = handled["assignedInspectorId"].as_str().unwrap().to_string();
    let county_id = app.region_id(COUNTY).await;
    Fixture {
        material,
        transfer,
        contact,
        case,
        help_booking,
        milestone,
        consultation,
        ticket,
        slot: slots["availableSlots"][1]["id"]
            .as_str()
            .unwrap()
            .to_string(),
        point: centre,
        booking,
        longgang,
        chengnei,
        staff,
        village_point: point,
        item,
        staff_change,
        item_change,
        rated_case,
        rating,
        rectification,
        appeal,
        callback,
        sample,
        county: county_id,
        complaint,
        inspector,
        statement_request,
        information_request,
    }
}

#[tokio::test]
async fn every_id_taking_field_refuses_other_jurisdictions() {
    let app = TestApp::with_demo().await;
    let county = app
        .staff_session("county.admin", Role::CountyAdmin, COUNTY)
        .await;
    let town = app
        .staff_session("lg.admin", Role::TownshipAdmin, LONGGANG)
        .await;
    let f = fixture(&app, &county, &town).await;
    let outsiders = [
        (
            "admin of another township",
            app.staff_session("zc.admin", Role::TownshipAdmin, "140521101")
                .await,
        ),
        (
            "agent of another township's village",
            app.staff_session("zc.agent", Role::VillageAgent, ZHONGCUN_VILLAGE)
                .await,
        ),
        ("resident", app.login_resident("nosy-resident").await),
    ];
    let table = cases(&f);
    let covered: BTreeSet<String> = table.iter().map(|(name, ..)| name.to_string()).collect();
    let in_schema = id_taking_fields(&app).await;
    assert_eq!(
        covered, in_schema,
        "add a row for every id-taking field (left: table, right: schema)"
    );

    let before_log = bangban_server::audit::verify(&app.state.db)
        .await
        .map_err(|e| e.message())
        .unwrap()
        .rows_checked;
    for (name, access, query, variables) in &table {
        match access {
            Access::Public => {
                expect_data(&app.graphql(None, query, variables.clone()).await);
            }
            Access::Residents => {
                for (who, session) in outsiders.iter().filter(|(who, _)| *who != "resident") {
                    let response = app.as_(session, query, variables.clone()).await;
                    assert_eq!(
                        response["errors"][0]["extensions"]["code"], "FORBIDDEN",
                        "{name} as {who}: {response}"
                    );
                }
                let anonymous = app.graphql(None, query, variables.clone()).await;
                assert_eq!(
                    anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                    "{name} anonymously: {anonymous}"
                );
            }
            Access::Receipt => {
                for (who, session) in &outsiders {
                    let response = app.as_(session, query, variables.clone()).await;
                    assert_eq!(
                        response["errors"][0]["extensions"]["code"], "NOT_FOUND",
                        "{name} as {who}: {response}"
                    );
                }
                let anonymous = app.graphql(None, query, variables.clone()).await;
                assert_eq!(
                    anonymous["errors"][0]["extensions"]["code"], "NOT_FOUND",
                    "{name} anonymously: {anonymous}"
                );
            }
            Access::Guarded => {
                for (who, session) in &outsiders {
                    let response = app.as_(session, query, variables.clone()).await;
                    let code = response["errors"][0]["extensions"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    assert!(
                        code == "NOT_FOUND" || code == "FORBIDDEN",
                        "{name} as {who} must be refused, got {response}"
                    );
                }
                let anonymous = app.graphql(None, query, variables.clone()).await;
                assert_eq!(
                    anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                    "{name} anonymously: {anonymous}"
                );
            }
        }
    }
    let after_log = bangban_server::audit::verify(&app.state.db)
        .await
        .map_err(|e| e.message())
        .unwrap()
        .rows_checked;
    assert_eq!(before_log, after_log, "refused calls changed nothing");
    let staff = expect_data(
        &app.as_(
            &county,
            "query($id: ID!) { staffMember(id: $id) { active onDuty } }",
            json!({"id": f.staff}),
        )
        .await,
    );
    assert_eq!(
        staff["staffMember"],
        json!({"active": true, "onDuty": true})
    );
}
