//! Cases in the API, one file per part: reading, opening and the working moves (`cases`);
//! the entrustment, materials, transfers and how a case ends (`proxy`); the plan (`plans`); remote consultations (`consultations`);
//! types in `types`.
pub mod cases;
pub mod consultations;
pub mod plans;
pub mod proxy;
pub mod types;

use async_graphql::MergedObject;

/// Case queries.
#[derive(MergedObject, Default)]
pub struct CaseQuery(
    cases::CasesQuery,
    proxy::ProxyQuery,
    consultations::ConsultationsQuery,
);

/// Case mutations.
#[derive(MergedObject, Default)]
pub struct CaseMutation(
    cases::CasesMutation,
    proxy::ProxyMutation,
    plans::PlansMutation,
    consultations::ConsultationsMutation,
);
