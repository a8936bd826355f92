//! sea-orm entities: tables, relations and stored enums only. No business rules live here;
//! services in `server/` own every decision about these rows.
pub mod auth_sessions;
pub mod refresh_tokens;
pub mod staff_accounts;
pub mod users;
