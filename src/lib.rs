//! reckon: a sharded, leader-elected batch runner for the nightly back office
//! of payment, fund and consumer-lending companies. See ARCHITECTURE.md for
//! the code map and the invariants.

pub mod alerts;
pub mod batch;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod console;
pub mod coord;
pub mod db;
pub mod error_chain;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod node;
pub mod ops;
pub mod report;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod sharding;
pub mod toggles;
