//! The CSV reports finance staff read: `settlement.csv` (one row per merchant
//! and currency), `balances.csv` (one row per account) and `summary.csv` (the
//! trial balance). Rows are sorted by their key, amounts have 2 decimals
//! (half-up), and nothing run-specific is written, so a rerun over the same
//! inputs gives byte-identical files.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{Balance, MerchantLine};
use super::trial_balance::{Problem, Sides, TrialBalance};
use crate::money::{CENTS, format_scaled};
use crate::report::{CsvReport, ReportError};

/// Header of `settlement.csv`.
pub const SETTLEMENT_HEADER: &[&str] = &[
    "business_date",
    "merchant_id",
    "merchant_name",
    "currency",
    "payment_count",
    "payment_amount",
    "refund_count",
    "refund_amount",
    "fee_amount",
    "net_amount",
];

/// Header of `balances.csv`.
pub const BALANCES_HEADER: &[&str] = &[
    "business_date",
    "account_code",
    "account_name",
    "account_type",
    "currency",
    "opening_balance",
    "debit_amount",
    "credit_amount",
    "closing_balance",
    "debit_count",
    "credit_count",
];

/// Header of `summary.csv`.
pub const SUMMARY_HEADER: &[&str] = &[
    "business_date",
    "section",
    "currency",
    "item",
    "debit",
    "credit",
    "difference",
    "result",
    "detail",
];

/// A report file ready for `RunCtx::publish`.
pub type ReportFile = (String, Vec<u8>, u64);

fn money(amount: Decimal) -> String {
    format_scaled(amount, CENTS)
}

/// `settlement.csv`, sorted by merchant and currency.
pub fn settlement(
    date: NaiveDate,
    lines: &[MerchantLine],
    names: &BTreeMap<String, String>,
    excel_bom: bool,
) -> Result<ReportFile, ReportError> {
    let mut sorted: Vec<&MerchantLine> = lines.iter().collect();
    sorted.sort_by(|a, b| (&a.merchant_id, &a.currency).cmp(&(&b.merchant_id, &b.currency)));
    let mut report = CsvReport::new("settlement.csv", SETTLEMENT_HEADER, excel_bom)?;
    for line in sorted {
        report.row([
            date.to_string(),
            line.merchant_id.clone(),
            names.get(&line.merchant_id).cloned().unwrap_or_default(),
            line.currency.clone(),
            line.payment_count.to_string(),
            money(line.payment_amount),
            line.refund_count.to_string(),
            money(line.refund_amount),
            money(line.fee_amount),
            money(line.net_amount),
        ])?;
    }
    report.finish()
}

/// `balances.csv`, sorted by account code.
pub fn balances(
    date: NaiveDate,
    balances: &[Balance],
    names: &BTreeMap<String, String>,
    excel_bom: bool,
) -> Result<ReportFile, ReportError> {
    let mut sorted: Vec<&Balance> = balances.iter().collect();
    sorted.sort_by(|a, b| a.account_code.cmp(&b.account_code));
    let mut report = CsvReport::new("balances.csv", BALANCES_HEADER, excel_bom)?;
    for balance in sorted {
        report.row([
            date.to_string(),
            balance.account_code.clone(),
            names
                .get(&balance.account_code)
                .cloned()
                .unwrap_or_default(),
            balance.account_type.as_str().to_string(),
            balance.currency.clone(),
            money(balance.opening),
            money(balance.debit_amount),
            money(balance.credit_amount),
            money(balance.closing),
            balance.debit_count.to_string(),
            balance.credit_count.to_string(),
        ])?;
    }
    report.finish()
}

fn result(balanced: bool) -> &'static str {
    if balanced { "balanced" } else { "IMBALANCED" }
}

/// `summary.csv`: per currency the opening, journal, snapshot-movement and
/// closing checks, then one row per problem, then the overall result.
pub fn summary(
    date: NaiveDate,
    trial: &TrialBalance,
    excel_bom: bool,
) -> Result<ReportFile, ReportError> {
    let mut report = CsvReport::new("summary.csv", SUMMARY_HEADER, excel_bom)?;
    let mut row =
        |section: &str, currency: &str, item: &str, sides: Sides, ok: bool, detail: String| {
            report.row([
                date.to_string(),
                section.to_string(),
                currency.to_string(),
                item.to_string(),
                money(sides.debit),
                money(sides.credit),
                money(sides.difference()),
                result(ok).to_string(),
                detail,
            ])
        };
    for totals in &trial.totals {
        let currency = totals.currency.as_str();
        let accounts = format!("{} accounts", totals.accounts);
        row(
            "opening",
            currency,
            "all accounts",
            totals.opening,
            totals.opening.balanced(),
            accounts.clone(),
        )?;
        row(
            "journal",
            currency,
            "all entries",
            totals.journal,
            totals.journal.balanced(),
            format!("{} entries, {} lines", totals.entries, totals.lines),
        )?;
        row(
            "movements",
            currency,
            "all accounts",
            totals.movements,
            totals.movements.balanced(),
            accounts.clone(),
        )?;
        row(
            "closing",
            currency,
            "all accounts",
            totals.closing,
            totals.closing.balanced(),
            accounts,
        )?;
    }
    for problem in &trial.problems {
        let (section, currency, item, sides) = problem_row(problem);
        row(section, currency, item, sides, false, problem.describe())?;
    }
    let balanced = trial.is_balanced();
    let detail = if balanced {
        "trial balance holds".to_string()
    } else {
        format!("{} checks failed", trial.failures().len())
    };
    row(
        "result",
        "",
        "trial balance",
        Sides::default(),
        balanced,
        detail,
    )?;
    report.finish()
}

/// Section, currency, item and the two amounts compared, for a problem row.
fn problem_row(problem: &Problem) -> (&'static str, &str, &str, Sides) {
    match problem {
        Problem::Entry {
            currency,
            entry_no,
            sides,
            ..
        } => (
            "entry",
            currency,
            entry_no,
            Sides {
                debit: sides.0,
                credit: sides.1,
            },
        ),
        Problem::Movements {
            currency,
            account_code,
            snapshot,
            journal,
        } => (
            "account_movements",
            currency,
            account_code,
            Sides {
                debit: snapshot.0 - snapshot.1,
                credit: journal.0 - journal.1,
            },
        ),
        Problem::Closing {
            currency,
            account_code,
            closing,
            expected,
        } => (
            "account_closing",
            currency,
            account_code,
            Sides {
                debit: *closing,
                credit: *expected,
            },
        ),
        Problem::Opening {
            currency,
            account_code,
            opening,
            previous_closing,
            ..
        } => (
            "account_opening",
            currency,
            account_code,
            Sides {
                debit: *opening,
                credit: *previous_closing,
            },
        ),
        Problem::PreviousOpening {
            currency,
            account_code,
            previous_opening,
            before_closing,
            ..
        } => (
            "previous_day_opening",
            currency,
            account_code,
            Sides {
                debit: *previous_opening,
                credit: *before_closing,
            },
        ),
    }
}
