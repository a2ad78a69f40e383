//! `kind = "repayment"`: loan repayment schedules and the end of day of a
//! loan book — schedule generation, repayment allocation, overdue status,
//! penalty interest and daily interest accrual. See docs/repayment.md.

pub mod allocation;
pub mod eod;
pub mod interest;
pub mod schedule;
