//! Cross-day records (跨日交易): today's one-sided records paired with the
//! one-sided records earlier runs left in the break register.
//!
//! For each carried record (oldest first), today's first one-sided record
//! with the same key and kind on the other side, if any, is its counterpart:
//! the pair is classified like any pair (`matched`, or a mismatch that stays
//! a break of today, showing both sides) and the carried record is
//! auto-resolved. An unpaired pending record becomes a break
//! (`missing_in_channel` / `missing_in_ledger`) once it is `pending_days`
//! old, and stays pending until then. Today's side of the summary moves the
//! paired row to its new category; the earlier date's side was counted by
//! that date's run (conservation holds per run and side).

use std::collections::{HashMap, VecDeque};

use chrono::NaiveDate;

use crate::jobs::recon::breaks::{BreakState, CarriedBreak};
use crate::jobs::recon::engine::{Category, DiffRecord, SideSummary, SideValues, cents_to_decimal};
use crate::jobs::recon::formats::RecordKind;
use crate::report::{CsvReport, ReportError};
use crate::runtime::JobError;

/// Categories a carried record can have: one-sided ones.
pub const ONE_SIDED: [&str; 3] = ["pending", "missing_in_channel", "missing_in_ledger"];

/// What today's run decided for one carried record.
#[derive(Debug, Clone)]
pub struct Decision {
    pub carried: CarriedBreak,
    /// The record as its date's run found it.
    pub record: DiffRecord,
    /// The state and category to store.
    pub state: BreakState,
    pub category: String,
    /// Whether this run changed it (it records the business date when so).
    pub settled: bool,
    /// For `carried.csv`: `matched`, `paired_<category>`, `became_<category>`,
    /// `still_pending`, or `still_open`.
    pub outcome: String,
    /// Today's counterpart, when paired.
    pub paired: Option<SideValues>,
}

impl Decision {
    /// Whether storing the decision changes the register row (a record left
    /// as it was keeps the date that last settled it).
    pub fn changes_register(&self) -> bool {
        self.settled || self.state != self.carried.state || self.category != self.carried.category
    }
}

/// Pairs `carried` with today's one-sided `records` (in report order),
/// updating the records and today's summaries; returns a decision per carried record.
pub fn pair(
    carried: &[CarriedBreak],
    records: &mut [DiffRecord],
    ledger: &mut SideSummary,
    statement: &mut SideSummary,
    date: NaiveDate,
    pending_days: u32,
) -> Result<Vec<Decision>, JobError> {
    let mut candidates: HashMap<(String, RecordKind, bool), VecDeque<usize>> = HashMap::new();
    let one_sided = |r: &DiffRecord| {
        matches!(
            r.category,
            Category::MissingInChannel | Category::MissingInLedger | Category::Pending
        ) && r.ledger.is_some() != r.statement.is_some()
    };
    for (index, record) in records.iter().enumerate() {
        if one_sided(record) {
            candidates
                .entry((record.key.clone(), record.kind, record.ledger.is_some()))
                .or_default()
                .push_back(index);
        }
    }
    let mut decisions = Vec::with_capacity(carried.len());
    for item in carried {
        let record: DiffRecord = serde_json::from_str(&item.payload).map_err(|e| {
            JobError::Failed(format!(
                "break {} ({} of {}) has an unreadable record: {e}",
                item.id, item.key, item.business_date
            ))
        })?;
        let has_ledger = record.ledger.is_some();
        if has_ledger == record.statement.is_some() {
            continue;
        }
        // Today's counterpart is on the other side.
        let partner = candidates
            .get_mut(&(record.key.clone(), record.kind, !has_ledger))
            .and_then(VecDeque::pop_front);
        let decision = match partner {
            Some(index) => {
                let today = &mut records[index];
                let (ledger_values, statement_values, summary) = if has_ledger {
                    (
                        record.ledger.clone(),
                        today.statement.clone(),
                        &mut *statement,
                    )
                } else {
                    (today.ledger.clone(), record.statement.clone(), &mut *ledger)
                };
                let (Some(l), Some(s)) = (ledger_values, statement_values) else {
                    continue;
                };
                let category = DiffRecord::classify(&l, &s, record.kind);
                let today_amount = if has_ledger { s.amount } else { l.amount };
                summary.reclassify(today.category, category, today_amount);
                let paired = if has_ledger { s.clone() } else { l.clone() };
                today.category = category;
                today.ledger = Some(l);
                today.statement = Some(s);
                Decision {
                    carried: item.clone(),
                    record,
                    state: BreakState::AutoResolved,
                    category: item.category.clone(),
                    settled: true,
                    outcome: if category == Category::Matched {
                        "matched".to_string()
                    } else {
                        format!("paired_{}", category.as_str())
                    },
                    paired: Some(paired),
                }
            }
            None => unpaired(item, record, date, pending_days),
        };
        decisions.push(decision);
    }
    Ok(decisions)
}

/// A carried record with no counterpart today.
fn unpaired(
    item: &CarriedBreak,
    record: DiffRecord,
    date: NaiveDate,
    pending_days: u32,
) -> Decision {
    let missing = if record.ledger.is_some() {
        Category::MissingInChannel
    } else {
        Category::MissingInLedger
    };
    let age = (date - item.business_date).num_days();
    let (state, category, settled, outcome) = if item.found_as == Category::Pending.as_str() {
        if age >= i64::from(pending_days) {
            // Expires today unless an earlier run already expired it.
            let expires_today = item.state == BreakState::Pending || item.settled_on == Some(date);
            let outcome = if expires_today {
                format!("became_{}", missing.as_str())
            } else {
                "still_open".to_string()
            };
            (
                BreakState::Open,
                missing.as_str().to_string(),
                expires_today,
                outcome,
            )
        } else {
            (
                BreakState::Pending,
                Category::Pending.as_str().to_string(),
                false,
                "still_pending".to_string(),
            )
        }
    } else {
        (
            BreakState::Open,
            item.category.clone(),
            false,
            "still_open".to_string(),
        )
    };
    Decision {
        carried: item.clone(),
        record,
        state,
        category,
        settled,
        outcome,
        paired: None,
    }
}

/// `carried.csv` header.
pub const CARRIED_HEADER: [&str; 11] = [
    "business_date",
    "key",
    "kind",
    "found_as",
    "side",
    "amount",
    "outcome",
    "paired_amount",
    "paired_time",
    "paired_file",
    "paired_line",
];

/// `carried.csv`: what this run did with earlier dates' one-sided records
/// (plain open breaks it left alone are not listed).
pub fn report(
    decisions: &[Decision],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("carried.csv", &CARRIED_HEADER, excel_bom)?;
    let mut listed: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.outcome != "still_open" || d.settled)
        .collect();
    listed.sort_by(|a, b| {
        (a.carried.business_date, &a.carried.key, a.carried.id).cmp(&(
            b.carried.business_date,
            &b.carried.key,
            b.carried.id,
        ))
    });
    for decision in listed {
        let (side, values) = match (&decision.record.ledger, &decision.record.statement) {
            (Some(values), _) => ("ledger", Some(values)),
            (None, values) => ("statement", values.as_ref()),
        };
        let paired = decision.paired.as_ref();
        report.row([
            decision.carried.business_date.to_string(),
            decision.record.key.clone(),
            decision.record.kind.as_str().to_string(),
            decision.carried.found_as.clone(),
            side.to_string(),
            values
                .map(|v| cents_to_decimal(v.amount).to_string())
                .unwrap_or_default(),
            decision.outcome.clone(),
            paired
                .map(|v| cents_to_decimal(v.amount).to_string())
                .unwrap_or_default(),
            paired
                .map(|v| v.time.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            paired.map(|v| v.file.clone()).unwrap_or_default(),
            paired
                .filter(|v| v.line > 0)
                .map(|v| v.line.to_string())
                .unwrap_or_default(),
        ])?;
    }
    report.finish()
}
