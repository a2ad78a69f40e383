//! The CSV reports of an internal reconciliation run: `summary.csv` (per
//! currency and category, count and sum on each side, then what was read)
//! and `diff.csv` (one row per break). The conservation check runs before
//! either is built. Amounts have exactly 2 decimals; rows are in a fixed
//! order; nothing run-specific is written, so reruns are byte-identical.

use rust_decimal::Decimal;

use super::compute::{Category, CountSum, Finding, Side, Tally};
use crate::money::{CENTS, format_scaled};
use crate::report::{CsvReport, ReportError};

/// Header of `summary.csv`.
pub const SUMMARY_HEADER: &[&str] = &[
    "currency",
    "category",
    "orders_count",
    "orders_amount",
    "payments_count",
    "payments_amount",
    "journal_count",
    "journal_amount",
];

/// Header of `diff.csv`.
pub const DIFF_HEADER: &[&str] = &[
    "category",
    "order_no",
    "sides",
    "delta",
    "merchant_id",
    "currency",
    "orders_amount",
    "payments_amount",
    "journal_amount",
    "payments_minus_orders",
    "journal_minus_payments",
    "journal_minus_orders",
    "orders_status",
    "payments_status",
    "journal_entries",
    "detail",
];

/// A report file ready for `RunCtx::publish`.
pub type ReportFile = (String, Vec<u8>, u64);

/// The summary would not add up: a programming error caught before writing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConservationError {
    /// A side's categories do not add up to what it read.
    #[error(
        "conservation check failed: {side} {currency} categories hold {categories_count} records \
         ({categories_amount}) but {read_count} were read ({read_amount})"
    )]
    Categories {
        side: &'static str,
        currency: String,
        categories_count: u64,
        categories_amount: String,
        read_count: u64,
        read_amount: String,
    },
    /// diff.csv would list a different number of a side's records than the summary's breaks.
    #[error(
        "conservation check failed: diff rows hold {listed} {side} records but the summary's \
         breaks count {counted}"
    )]
    Diff {
        side: &'static str,
        listed: u64,
        counted: u64,
    },
}

fn money(amount: Decimal) -> String {
    format_scaled(amount, CENTS)
}

/// Checks, per side and currency, that the categories' counts and sums equal
/// what was read (invariant 4), and per side that the breaks listed hold as
/// many records as the summary's break categories.
pub fn check_conservation(tally: &Tally, findings: &[Finding]) -> Result<(), ConservationError> {
    for side in Side::ALL {
        let mut break_records = 0;
        for currency in tally.currencies() {
            let mut in_categories = CountSum::default();
            for category in Category::ALL {
                let value = tally.get(side, &currency, category);
                in_categories.count += value.count;
                in_categories.amount += value.amount;
                if category != Category::Matched {
                    break_records += value.count;
                }
            }
            let read = tally.read_of(side, &currency);
            if in_categories != read {
                return Err(ConservationError::Categories {
                    side: side.as_str(),
                    currency,
                    categories_count: in_categories.count,
                    categories_amount: money(in_categories.amount),
                    read_count: read.count,
                    read_amount: money(read.amount),
                });
            }
        }
        let listed: u64 = findings
            .iter()
            .filter(|f| f.category != Category::Matched)
            .map(|f| f.side(side).records)
            .sum();
        if listed != break_records {
            return Err(ConservationError::Diff {
                side: side.as_str(),
                listed,
                counted: break_records,
            });
        }
    }
    Ok(())
}

/// `summary.csv`: per currency (sorted), every category in report order,
/// then `total_read`.
pub fn summary(tally: &Tally, excel_bom: bool) -> Result<ReportFile, ReportError> {
    let mut report = CsvReport::new("summary.csv", SUMMARY_HEADER, excel_bom)?;
    for currency in tally.currencies() {
        let row = |label: &str, values: [CountSum; 3]| {
            let mut fields = vec![currency.clone(), label.to_string()];
            for value in values {
                fields.push(value.count.to_string());
                fields.push(money(value.amount));
            }
            fields
        };
        for category in Category::ALL {
            let values = Side::ALL.map(|side| tally.get(side, &currency, category));
            report.row(row(category.as_str(), values))?;
        }
        let read = Side::ALL.map(|side| tally.read_of(side, &currency));
        report.row(row("total_read", read))?;
    }
    report.finish()
}

/// The breaks (every finding but `matched`) in report order: category, then order number.
pub fn breaks(findings: &[Finding]) -> Vec<&Finding> {
    let mut breaks: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.category != Category::Matched)
        .collect();
    breaks.sort_by(|a, b| (a.category.rank(), &a.order_no).cmp(&(b.category.rank(), &b.order_no)));
    breaks
}

/// The distinct currencies of a finding's present sides, in side order (`CNY`, or `CNY/USD`).
fn currencies(finding: &Finding) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for side in Side::ALL {
        let view = finding.side(side);
        if view.records > 0 && !seen.contains(&view.currency.as_str()) {
            seen.push(&view.currency);
        }
    }
    seen.join("/")
}

/// `diff.csv`: one row per break, in [`breaks`] order.
pub fn diff(breaks: &[&Finding], excel_bom: bool) -> Result<ReportFile, ReportError> {
    let mut report = CsvReport::new("diff.csv", DIFF_HEADER, excel_bom)?;
    for finding in breaks {
        let amount = |side: Side| {
            let view = finding.side(side);
            if view.records > 0 {
                money(view.amount)
            } else {
                String::new()
            }
        };
        report.row([
            finding.category.as_str().to_string(),
            finding.order_no.clone(),
            finding.sides.clone(),
            money(finding.delta),
            finding.merchant_id.clone(),
            currencies(finding),
            amount(Side::Orders),
            amount(Side::Payments),
            amount(Side::Journal),
            money(finding.difference(Side::Orders, Side::Payments)),
            money(finding.difference(Side::Payments, Side::Journal)),
            money(finding.difference(Side::Orders, Side::Journal)),
            finding.orders.status.clone(),
            finding.payments.status.clone(),
            finding.entries.join(" "),
            finding.detail.clone(),
        ])?;
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::recon::internal::compute::{Order, Payment, TallyRow, reconcile};

    fn tally_and_findings() -> (Tally, Vec<Finding>) {
        let order = Order {
            order_no: "A".into(),
            merchant_id: "M".into(),
            currency: "CNY".into(),
            amount: Decimal::new(1000, 2),
            status: "paid".into(),
        };
        let payment = Payment {
            order_no: "B".into(),
            merchant_id: "M".into(),
            currency: "CNY".into(),
            amount: Decimal::new(500, 2),
            status: "succeeded".into(),
        };
        let outcome = reconcile(&[order], &[payment], &[]);
        (outcome.tally, outcome.findings)
    }

    #[test]
    fn conservation_holds_for_a_real_outcome() {
        let (tally, findings) = tally_and_findings();
        assert_eq!(check_conservation(&tally, &findings), Ok(()));
    }

    #[test]
    fn conservation_failure_is_a_typed_error() {
        // One more payment "read" than the categories hold: 2 read (15.00) vs 1 (5.00).
        let (mut tally, findings) = tally_and_findings();
        tally.add_rows(&[TallyRow {
            side: Side::Payments,
            currency: "CNY".into(),
            category: None,
            count: 1,
            amount: Decimal::new(1000, 2),
        }]);
        let err = check_conservation(&tally, &findings).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conservation check failed: payments CNY categories hold 1 records (5.00) but 2 were \
             read (15.00)"
        );
        // A break row lost between shard and finalize.
        let (tally, mut findings) = tally_and_findings();
        findings.retain(|f| f.order_no != "B");
        assert_eq!(
            check_conservation(&tally, &findings),
            Err(ConservationError::Diff {
                side: "payments",
                listed: 0,
                counted: 1
            })
        );
    }
}
