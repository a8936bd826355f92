//! Each county's directory: regions, service points and their QR codes, staff, roles and
//! jurisdiction, the public roster and staffing minimums, the item catalogue and the change
//! registers (seed §四, §五(一), 附件4, 附件5).
pub mod apply;
pub mod catalogue;
pub mod changes;
pub mod exports;
pub mod graphql;
pub mod jurisdiction;
pub mod model;
pub mod points;
pub mod regions;
pub mod seed;
pub mod staff;
pub mod subjects;
