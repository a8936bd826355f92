//! The directory in the API, one file per part: regions, service points, staff, the catalogue
//! and the change registers, merged here. Public queries (regions, service points, roster,
//! catalogue) need no login; everything else goes through the jurisdiction helper in the
//! services. Types are in `types`, inputs in `inputs`.
pub mod catalogue;
pub mod changes;
pub mod inputs;
pub mod points;
pub mod regions;
pub mod staff;
pub mod types;

use async_graphql::MergedObject;

/// Directory queries: regions, service points, roster, catalogue, staff, change registers.
#[derive(MergedObject, Default)]
pub struct DirectoryQuery(
    regions::RegionsQuery,
    points::PointsQuery,
    staff::StaffQuery,
    catalogue::CatalogueQuery,
    changes::ChangesQuery,
);

/// Directory mutations: regions, service points, staff, catalogue and change registers.
#[derive(MergedObject, Default)]
pub struct DirectoryMutation(
    regions::RegionsMutation,
    points::PointsMutation,
    staff::StaffMutation,
    catalogue::CatalogueMutation,
    changes::ChangesMutation,
);
