//! Satisfaction (好差评, seed §六(一)4, §六(二)5): the invitation to rate a finished case
//! (`invite`, a reaction to `case.completed` / `case.terminated`), the rating with its content
//! check (`rating`, `texts`), the rectification order every bad rating opens (`rectify`), the
//! signed delivery of both to the provincial platforms (`delivery`, `sender`, `deliveries`), the
//! satisfaction callbacks (`callbacks`, rules in `callback_rules`), appeals of a rating
//! (`appeals`), the statistics (`statistics`), the jobs (`jobs`), reads (`reads`) and who may see what (`access`, `subjects`). The rules are
//! pure (`rules`); the vocabulary is in `model`.
pub mod access;
pub mod anonymous_audit;
pub mod appeals;
pub mod audience;
pub mod callback_rules;
pub mod callbacks;
pub mod comments;
pub mod deliveries;
pub mod delivery;
pub mod graphql;
pub mod invite;
pub mod jobs;
pub mod model;
pub mod rating;
pub mod reads;
pub mod rectify;
pub mod rules;
pub mod samples;
pub mod script;
pub mod sender;
pub mod statistics;
pub mod subjects;
pub mod texts;
