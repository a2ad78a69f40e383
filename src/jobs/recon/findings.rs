//! Findings of the passes that run around the comparison engine's results
//! (refund linkage, fee audit): rows that are breaks in their own right
//! whatever the engine made of the same record (a `matched` refund can be an
//! `over_refund`; a `matched` payment whose fee our ledger copied from the
//! channel can be a `fee_overcharge`). They never enter the engine's
//! categories, so the conservation check is untouched; they are added to
//! `diff.csv` (with the columns below), to `summary.csv` (after
//! `total_read`) and to the break register. See docs/recon.md.

use chrono::NaiveDate;

use crate::jobs::recon::breaks::NewBreak;
use crate::jobs::recon::engine::{
    Category, DIFF_HEADER, DiffRecord, SideSummary, SideValues, cents_to_decimal, diff_cells,
    fee_units_to_decimal, format_cents, format_fee, side_place, summary_rows,
};
use crate::jobs::recon::formats::{Record, RecordKind};
use crate::report::{CsvReport, ReportError};

/// What a pass found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingCategory {
    /// 超额退款: the order's refunds add up to more than was paid.
    OverRefund,
    /// 无原单退款: a refund whose payment is on neither side, on any day.
    OrphanRefund,
    /// 手续费多收: the channel charged (or kept) more than the contract allows.
    FeeOvercharge,
    /// 手续费少收: the channel charged less than the contract says.
    FeeUndercharge,
}

impl FindingCategory {
    /// Every category, in report order.
    pub const ALL: [FindingCategory; 4] = [
        FindingCategory::OverRefund,
        FindingCategory::OrphanRefund,
        FindingCategory::FeeOvercharge,
        FindingCategory::FeeUndercharge,
    ];

    /// The name written in reports and the register.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCategory::OverRefund => "over_refund",
            FindingCategory::OrphanRefund => "orphan_refund",
            FindingCategory::FeeOvercharge => "fee_overcharge",
            FindingCategory::FeeUndercharge => "fee_undercharge",
        }
    }

    fn is_fee(self) -> bool {
        matches!(
            self,
            FindingCategory::FeeOvercharge | FindingCategory::FeeUndercharge
        )
    }
}

/// One finding, with the record's values on the sides that have it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub category: FindingCategory,
    /// Refund number (refunds) or order number (payments).
    pub key: String,
    pub kind: RecordKind,
    /// The order the record belongs to.
    pub order_no: String,
    pub ledger: Option<SideValues>,
    pub statement: Option<SideValues>,
    /// Refunds: the business date of the order's payment, when there is one.
    pub payment_date: Option<NaiveDate>,
    /// Refunds: what was paid for the order, in cents.
    pub paid: Option<i64>,
    /// Refunds: the order's refunded total including this refund, in cents.
    pub refunded_total: Option<i64>,
    /// Fees: the contractual fee of the row, in 1/100000 units.
    pub expected_fee: Option<i64>,
}

/// The columns `diff.csv` of `recon-funds` has after the engine's.
pub const FINDING_COLUMNS: [&str; 6] = [
    "order_no",
    "payment_date",
    "paid_amount",
    "refunded_total",
    "expected_fee",
    "fee_difference",
];

impl Finding {
    /// The fee the channel charged on the row (statement), in 1/100000 units.
    pub fn charged_fee(&self) -> Option<i64> {
        self.statement.as_ref().and_then(|v| v.fee)
    }

    /// Charged − contractual fee (positive: overcharged).
    pub fn fee_difference(&self) -> Option<i128> {
        Some(i128::from(self.charged_fee()?) - i128::from(self.expected_fee?))
    }

    /// The refund amount this finding counted (statement's when it has one).
    pub fn amount(&self) -> i64 {
        self.statement
            .as_ref()
            .or(self.ledger.as_ref())
            .map_or(0, |v| v.amount)
    }

    fn as_record(&self) -> DiffRecord {
        DiffRecord {
            // Replaced by the finding's own category in the report.
            category: Category::Matched,
            key: self.key.clone(),
            kind: self.kind,
            ledger: self.ledger.clone(),
            statement: self.statement.clone(),
        }
    }

    /// The order of findings in `diff.csv`, after the engine's rows.
    pub fn report_order(&self) -> impl Ord + '_ {
        (
            self.category,
            self.key.as_str(),
            side_place(&self.ledger),
            side_place(&self.statement),
        )
    }

    /// The finding as the break register keeps it: refunds as `paid/refunded`
    /// (left = paid, right = refunded total, delta = the excess), fees as
    /// `contract/statement` (left = contractual fee, right = charged, delta =
    /// the difference).
    pub fn new_break(&self) -> NewBreak {
        let (sides, left, right, delta, detail) = if self.category.is_fee() {
            let expected = self.expected_fee.map(fee_units_to_decimal);
            let charged = self.charged_fee().map(fee_units_to_decimal);
            let delta = match (expected, charged) {
                (Some(e), Some(c)) => c - e,
                _ => rust_decimal::Decimal::ZERO,
            };
            let detail = format!(
                "{} {} of order {} {}: contract fee {}, channel charged {} ({} {})",
                self.kind.as_str(),
                self.key,
                self.order_no,
                cents_to_decimal(self.amount()),
                expected
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                charged
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                if delta > rust_decimal::Decimal::ZERO {
                    "over by"
                } else {
                    "under by"
                },
                delta.abs().normalize()
            );
            ("contract/statement", expected, charged, delta, detail)
        } else {
            let paid = self.paid.map(cents_to_decimal);
            let total = cents_to_decimal(self.refunded_total.unwrap_or(0));
            let delta = total - paid.unwrap_or_default();
            let on =
                |side: &Option<SideValues>, name: &str| side.as_ref().map(|_| name.to_string());
            let seen: Vec<String> = [on(&self.ledger, "ledger"), on(&self.statement, "statement")]
                .into_iter()
                .flatten()
                .collect();
            let payment = match (paid, self.payment_date) {
                (Some(paid), Some(date)) => format!("paid {paid} on {date}"),
                _ => "no payment on either side".to_string(),
            };
            let detail = format!(
                "refund {} of order {} {} ({}); {payment}; refunded {total} in total",
                self.key,
                self.order_no,
                cents_to_decimal(self.amount()),
                seen.join("+"),
            );
            ("paid/refunded", paid, Some(total), delta, detail)
        };
        NewBreak {
            category: self.category.as_str().to_string(),
            key: self.key.clone(),
            kind: self.kind.as_str().to_string(),
            sides: sides.to_string(),
            left_amount: left,
            right_amount: right,
            delta,
            detail,
            payload: serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string()),
            pending: false,
        }
    }
}

/// A record's values as the engine keeps them; `None` when the engine
/// cannot hold them exactly (such a record is a reject of its side).
pub fn values_of(record: &Record) -> Option<SideValues> {
    use crate::jobs::recon::engine::{decimal_to_cents, decimal_to_fee_units};
    let fee = match record.fee {
        Some(fee) => Some(decimal_to_fee_units(fee)?),
        None => None,
    };
    Some(SideValues {
        amount: decimal_to_cents(record.amount)?,
        fee,
        status: record.status,
        time: record.time,
        file: record.file.display().to_string(),
        line: record.line,
    })
}

/// `diff.csv` of `recon-funds`: the engine's rows (report order), then the
/// findings (category, key, place), each with [`FINDING_COLUMNS`] after the
/// engine's columns (blank on the engine's rows).
pub fn diff_report(
    records: &[DiffRecord],
    findings: &[Finding],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let header: Vec<&str> = DIFF_HEADER
        .iter()
        .chain(&FINDING_COLUMNS)
        .copied()
        .collect();
    let mut report = CsvReport::new("diff.csv", &header, excel_bom)?;
    for record in records {
        let cells = diff_cells(record);
        report.row(
            cells
                .into_iter()
                .chain(std::iter::repeat_n(String::new(), 6)),
        )?;
    }
    for finding in findings {
        let mut cells = diff_cells(&finding.as_record());
        cells[0] = finding.category.as_str().to_string();
        let extra = [
            finding.order_no.clone(),
            finding
                .payment_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
            finding
                .paid
                .map(|c| format_cents(i128::from(c)))
                .unwrap_or_default(),
            finding
                .refunded_total
                .map(|c| format_cents(i128::from(c)))
                .unwrap_or_default(),
            finding
                .expected_fee
                .map(|f| format_fee(i128::from(f)))
                .unwrap_or_default(),
            finding.fee_difference().map(format_fee).unwrap_or_default(),
        ];
        report.row(cells.into_iter().chain(extra))?;
    }
    report.finish()
}

/// The day's fees against the contract (statement rows with a fee).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeeTotals {
    /// Rows audited (a fee stated and a contractual fee computed).
    pub audited: u64,
    /// Sum of the contractual fees, 1/100000 units.
    pub contractual: i128,
    /// Sum of the fees the channel charged on those rows, 1/100000 units.
    pub charged: i128,
    /// Rows that could not be audited (no fee stated, or a refund with no payment).
    pub unaudited: u64,
}

impl FeeTotals {
    /// Adds another part's totals.
    pub fn merge(&mut self, other: &FeeTotals) {
        self.audited += other.audited;
        self.contractual += other.contractual;
        self.charged += other.charged;
        self.unaudited += other.unaudited;
    }

    /// Adds one audited row.
    pub fn add(&mut self, expected: i64, charged: i64) {
        self.audited += 1;
        self.contractual += i128::from(expected);
        self.charged += i128::from(charged);
    }
}

/// `summary.csv` of `recon-funds`: the engine's rows, then per finding
/// category the findings with a ledger side / statement side (count and
/// refund amount, or fee difference), then — with a fee contract — the
/// day's `fee_contractual` and `fee_charged` over the audited statement rows.
/// The rows after `total_read` are not part of the conservation sums.
pub fn summary_report(
    ledger: &SideSummary,
    statement: &SideSummary,
    findings: &[Finding],
    fees: Option<&FeeTotals>,
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new(
        "summary.csv",
        &crate::jobs::recon::engine::SUMMARY_HEADER,
        excel_bom,
    )?;
    for row in summary_rows(ledger, statement) {
        report.row(row)?;
    }
    for category in FindingCategory::ALL {
        if category.is_fee() && fees.is_none() {
            continue;
        }
        let of = |side: fn(&Finding) -> bool| {
            let mine: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.category == category && side(f))
                .collect();
            let sum = if category.is_fee() {
                format_fee(mine.iter().filter_map(|f| f.fee_difference()).sum())
            } else {
                format_cents(mine.iter().map(|f| i128::from(f.amount())).sum())
            };
            (mine.len().to_string(), sum)
        };
        let (ledger_count, ledger_sum) = of(|f| f.ledger.is_some());
        let (statement_count, statement_sum) = of(|f| f.statement.is_some());
        report.row([
            category.as_str().to_string(),
            ledger_count,
            ledger_sum,
            statement_count,
            statement_sum,
        ])?;
    }
    if let Some(fees) = fees {
        for (name, sum) in [
            ("fee_contractual", fees.contractual),
            ("fee_charged", fees.charged),
        ] {
            report.row([
                name.to_string(),
                String::new(),
                String::new(),
                fees.audited.to_string(),
                format_fee(sum),
            ])?;
        }
    }
    report.finish()
}
