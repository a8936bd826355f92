//! Cases (办件): assisted (帮办) and proxy (代办) handling of a matter, from acceptance to the
//! certificate in the applicant's hand (seed §五, §六, 附件1, 附件6). The model and the two
//! state machines (`state`, pure) and the working-day deadline (`deadline`, pure) decide; the
//! services apply them in one transaction each: opening with a gap-free number (`opening`),
//! the working moves and the clock (`actions`), the entrustment (`entrustment`), materials
//! custody (`materials`), plans for complex matters (`plans`), transfers between the levels (`transfers`), remote consultations (`consultations`), how a case ends
//! (`ending`), reads (`reads`), the deadline job (`jobs`), the latest steps kept on a case's row (`latest`) and who may follow a case's events
//! (`subjects`). Shared pieces are in `service`.
pub mod actions;
pub mod consultations;
pub mod deadline;
pub mod ending;
pub mod entrustment;
pub mod graphql;
pub mod jobs;
pub mod latest;
pub mod materials;
pub mod model;
pub mod opening;
pub mod plans;
pub mod reads;
pub mod service;
pub mod state;
pub mod subjects;
pub mod transfers;
