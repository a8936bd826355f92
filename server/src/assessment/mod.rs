//! The yearly 100-point assessment (考核评价, seed §七, 附件3). So far the pure rules only: the
//! six items of a unit's sheet over a snapshot of facts, each deduction with its rule, its
//! points and the records that prove it (`rules`); contests and their decisions (`contests`);
//! the villages sampled (`sample`); a township's final score, grade and rank (`ranking`). The
//! service that gathers the facts from the records, the year's process
//! (drafts, contests, freezing, versions), the API and the exports are to come.
pub mod contests;
pub mod model;
pub mod ranking;
pub mod rules;
pub mod sample;
