//! Who is calling: WeChat and staff logins, JWT access tokens, rotating refresh tokens, the
//! Viewer that every resolver receives, and roles. Jurisdiction (what a viewer may see) grows
//! here with the directory.
pub mod account;
pub mod graphql;
pub mod jwt;
pub mod model;
pub mod password;
pub mod service;
pub mod staff_wechat;
pub mod subjects;

pub use jwt::{AccessClaims, TokenKeys};
pub use model::{Role, SubjectKind, Viewer};
