//! The working-day calendar: holidays and 调休 as data (official 2025 and 2026 tables shipped,
//! county admin may edit future days), and working-day arithmetic as pure functions.
pub mod graphql;
pub mod model;
pub mod service;
