//! Complaints about staff conduct (举报投诉, seed §七(三)6, §八(四), 附件3 row 6) that protect the
//! complainant: intake with an anonymous receipt and duplicate merging (`intake`, `receipts`,
//! `texts`), routing to inspectors away from the accused and their chain (`routing`, `access`),
//! the handling steps (`handling`), the exchanges with the accused and the complainant
//! (`exchanges`), one appeal (`appeals`), deadlines (`jobs`), reads (`reads`), the published
//! channels (`channels`) and who may follow what (`subjects`). The rules are pure (`rules`); the
//! vocabulary is in `model`.
pub mod access;
pub mod appeals;
pub mod channels;
pub mod exchanges;
pub mod graphql;
pub mod handling;
pub mod intake;
pub mod jobs;
pub mod model;
pub mod reads;
pub mod receipts;
pub mod routing;
pub mod rules;
pub mod subjects;
pub mod texts;
