//! The break register (差错登记簿): the breaks and pending records that
//! reconciliation runs found, kept in `recon_breaks` across days.
//!
//! States: `pending` (held near the cut-off, not yet a break) → `open` (held
//! too long) or `auto_resolved` (a later run matched it); `open` →
//! `auto_resolved` (a later run, or a rerun of its date, no longer finds it)
//! or `resolved` (by a person, with a note, recorded with who and when).
//!
//! A break's identity is `(job, business_date, found_as, key, occurrence)`:
//! the category it was found as and its place among the date's breaks of the
//! same category and key. A rerun of the date therefore updates the same
//! rows ([`record_date`]) and never duplicates them; a person's resolution
//! survives reruns.

mod carry;
mod manual;
mod register;
pub mod rollforward;

pub use carry::{CarriedBreak, carried, set_carried_state};
pub use manual::{
    BreakError, BreakFilter, aged_attention, categories, get, list, resolve, unresolved_by_date,
};
pub use register::record_date;
pub use rollforward::{
    RollforwardError, date_report as rollforward_date_report, rollforward, rollforward_report,
};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

/// One break (or pending record) a run found, as its job kind describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBreak {
    /// The category, e.g. `amount_mismatch` or `payment_without_journal`.
    pub category: String,
    /// The match key: order number or refund number.
    pub key: String,
    /// `payment`, `refund`, `order`…
    pub kind: String,
    /// Which sides disagree, e.g. `ledger/statement` or `orders/payments`.
    pub sides: String,
    /// Amount on the first side named in `sides`, if it has the record.
    pub left_amount: Option<Decimal>,
    /// Amount on the second side, if it has the record.
    pub right_amount: Option<Decimal>,
    /// `right − left`, a missing side counting as 0.
    pub delta: Decimal,
    /// One line for a person.
    pub detail: String,
    /// JSON the job kind needs later (e.g. to pair a pending record); `{}` if none.
    pub payload: String,
    /// Held as pending (not yet a break).
    pub pending: bool,
}

/// Where a break is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BreakState {
    /// Near the cut-off and one-sided: waiting for the counterpart.
    Pending,
    /// A break to be worked on.
    Open,
    /// A later run (or a rerun of its date) matched it or no longer finds it.
    AutoResolved,
    /// Closed by a person with a note.
    Resolved,
}

impl BreakState {
    /// The name stored and shown: `pending`, `open`, `auto_resolved`, `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakState::Pending => "pending",
            BreakState::Open => "open",
            BreakState::AutoResolved => "auto_resolved",
            BreakState::Resolved => "resolved",
        }
    }

    /// Parses a stored state name.
    pub fn parse(text: &str) -> Option<BreakState> {
        match text {
            "pending" => Some(BreakState::Pending),
            "open" => Some(BreakState::Open),
            "auto_resolved" => Some(BreakState::AutoResolved),
            "resolved" => Some(BreakState::Resolved),
            _ => None,
        }
    }

    /// A state read back from storage: an unknown name is an error, never
    /// silently "open".
    pub fn stored(text: &str) -> Result<BreakState, sqlx::Error> {
        BreakState::parse(text).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown break state `{text}` in recon_breaks").into())
        })
    }

    /// Still needs attention (pending or open).
    pub fn is_unresolved(self) -> bool {
        matches!(self, BreakState::Pending | BreakState::Open)
    }
}

/// What a rerun or a run did to the register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordedBreaks {
    /// New rows, and rows reopened because the date's rerun found them again.
    pub opened: u64,
    /// Rows found again and updated in place (state kept).
    pub updated: u64,
    /// Rows of the date that the run no longer finds.
    pub auto_resolved: u64,
}

/// One row of the register, as listed by `reckon breaks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub id: i64,
    pub job: String,
    /// The business date whose run found it.
    pub business_date: NaiveDate,
    /// The category now (a pending record that was held too long becomes `missing_*`).
    pub category: String,
    /// The category it was found as.
    pub found_as: String,
    pub key: String,
    pub kind: String,
    pub sides: String,
    pub left_amount: Option<Decimal>,
    pub right_amount: Option<Decimal>,
    pub delta: Decimal,
    pub detail: String,
    pub state: BreakState,
    /// Business date of the run that last changed its state automatically.
    pub settled_on: Option<NaiveDate>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl Break {
    /// Days from its business date to `today` while unresolved, or to the day
    /// it was closed (auto-resolving run's date, or the person's date).
    pub fn age_days(&self, today: NaiveDate) -> i64 {
        let end = match self.state {
            BreakState::Pending | BreakState::Open => today,
            BreakState::AutoResolved => self.settled_on.unwrap_or(today),
            BreakState::Resolved => self.resolved_at.map(|at| at.date_naive()).unwrap_or(today),
        };
        (end - self.business_date).num_days().max(0)
    }
}
