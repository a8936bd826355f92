//! WeChat subscribe messages: templates as configuration, template values fitted to each keyword
//! type's rules, consent credits, a push worker with at-most-once sending, and delivery status.
pub mod fit;
pub mod graphql;
pub mod model;
pub mod sender;
pub mod service;
pub mod worker;
