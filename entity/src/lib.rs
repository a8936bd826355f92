//! sea-orm entities: tables, relations and stored enums only. No business rules live here;
//! services in `server/` own every decision about these rows.
pub mod audit_head;
pub mod audit_log;
pub mod auth_sessions;
pub mod calendar_days;
pub mod calendar_years;
pub mod item_change_requests;
pub mod items;
pub mod refresh_tokens;
pub mod regions;
pub mod service_points;
pub mod staff_accounts;
pub mod staff_change_requests;
pub mod users;
