//! End-to-end suite: the real server, spawned on 127.0.0.1:0, spoken to over real HTTP and
//! WebSocket. Runs on SQLite + in-process by default and on PostgreSQL + Redis when
//! `BANGBAN_TEST_BACKEND=postgres` (see helpers.rs); the test script runs both.
mod audit;
mod auth;
mod booking;
mod booking_flow;
mod calendar;
mod case_staff;
mod cases;
mod counties;
mod data_key;
mod demo;
mod desk_races;
mod directory;
mod duty;
mod event_order;
mod events;
mod fake_wechat;
mod faults;
mod helpers;
mod indexes;
mod integrity;
mod jurisdiction;
mod ledger;
mod ledger_notes;
mod lock_order;
mod ops;
mod outages;
mod push_delivery;
mod queue;
mod read_paths;
mod satisfaction;
mod schema;
mod transport;
mod walkthrough;
mod websocket;
