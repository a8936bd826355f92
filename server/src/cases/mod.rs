//! Cases (办件): assisted (帮办) and proxy (代办) handling of a matter, from acceptance to the
//! certificate in the applicant's hand (seed §五, §六, 附件1, 附件6). So far the room holds its
//! model, the two state machines as a pure function (`state`) and the working-day deadline with
//! its pauses (`deadline`); the services, the entrustment, materials custody, transfers, plans
//! and the API are still to come (issue 11).
pub mod deadline;
pub mod model;
pub mod state;
