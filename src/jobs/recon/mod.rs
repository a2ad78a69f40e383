//! Reconciliation: statement readers today; the comparison engine, funds and
//! internal reconciliation and the break register build on them (issue 3).

pub mod engine;
pub mod formats;
