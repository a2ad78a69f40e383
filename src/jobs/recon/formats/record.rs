//! What a reader produces: normalized [`Record`]s, [`Reject`]s for bad rows,
//! the totals a file states about itself and the totals actually read.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

/// Whether a record moves money in (a payment) or back out (a refund).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Payment,
    Refund,
}

impl RecordKind {
    /// `payment` or `refund`, as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Payment => "payment",
            RecordKind::Refund => "refund",
        }
    }
}

/// The ledger's statuses, onto which every channel's own statuses are mapped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LedgerStatus {
    /// Paid: the money arrived.
    #[serde(rename = "SUCCESS")]
    Success,
    /// A refund that went out.
    #[serde(rename = "REFUND")]
    Refund,
    /// Not paid (closed, revoked, failed): no money moved.
    #[serde(rename = "CLOSED")]
    Closed,
    /// A refund the channel paid out and then reports as failed (WeChat
    /// 退款状态 `CHANGE`, 退款异常): the money went back to the merchant's
    /// account and needs manual handling. Only statements carry it.
    #[serde(rename = "REFUND_EXCEPTION")]
    RefundException,
}

impl LedgerStatus {
    /// `SUCCESS`, `REFUND` or `CLOSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Success => "SUCCESS",
            LedgerStatus::Refund => "REFUND",
            LedgerStatus::Closed => "CLOSED",
            LedgerStatus::RefundException => "REFUND_EXCEPTION",
        }
    }

    /// Parses the ledger file's own spelling (exact, upper case).
    pub fn parse(text: &str) -> Option<LedgerStatus> {
        match text {
            "SUCCESS" => Some(LedgerStatus::Success),
            "REFUND" => Some(LedgerStatus::Refund),
            "CLOSED" => Some(LedgerStatus::Closed),
            _ => None,
        }
    }
}

impl fmt::Display for LedgerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One accepted statement or ledger row, normalized for comparison.
///
/// Conventions: `amount` has scale 2 and is positive for refunds too (the
/// direction is in `kind`); `fee` is normalised by each reader to one
/// convention — **charged positive, returned negative** (WeChat prints it so;
/// Alipay prints the opposite and is negated) — kept exact at the scale the
/// file gave (at least 2; WeChat prints 5); `time` is local time in the
/// channel's zone, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The match key: our order number for payments, our refund number for refunds.
    pub key: String,
    /// Our order number (for a refund, the order it refunds).
    pub order_no: String,
    pub kind: RecordKind,
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    pub status: LedgerStatus,
    pub time: NaiveDateTime,
    /// The file this row was read from.
    pub file: Arc<Path>,
    /// 1-based physical line number in that file.
    pub line: u64,
}

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The row has a different number of fields than the header.
    FieldCount { expected: usize, found: usize },
    /// An amount field is not an amount (or has sub-cent digits where cents are required).
    Amount { column: String, text: String },
    /// A date-time field does not match the expected format.
    Time { column: String, text: String },
    /// A status (or business type) the format does not know.
    UnknownStatus { column: String, text: String },
    /// The key column (order or refund number) is empty.
    MissingKey { column: String },
    /// The line's bytes are not valid in the declared encoding.
    Encoding { encoding: &'static str },
    /// The CSV syntax itself is broken (e.g. an unterminated quote).
    Syntax { detail: String },
    /// A value that is well formed but beyond what can be held exactly
    /// (more than 13 integer digits, a fee with more than 5 decimals).
    Range { column: String, text: String },
}

impl RejectReason {
    /// A stable short code for reports and filters.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::FieldCount { .. } => "field_count",
            RejectReason::Amount { .. } => "bad_amount",
            RejectReason::Time { .. } => "bad_time",
            RejectReason::UnknownStatus { .. } => "unknown_status",
            RejectReason::MissingKey { .. } => "missing_key",
            RejectReason::Encoding { .. } => "bad_encoding",
            RejectReason::Syntax { .. } => "bad_syntax",
            RejectReason::Range { .. } => "out_of_range",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::FieldCount { expected, found } => {
                write!(f, "field_count: expected {expected} fields, found {found}")
            }
            RejectReason::Amount { column, text } => {
                write!(f, "bad_amount: {column} `{text}` is not an amount in cents")
            }
            RejectReason::Time { column, text } => {
                write!(f, "bad_time: {column} `{text}` is not a date-time")
            }
            RejectReason::UnknownStatus { column, text } => {
                write!(f, "unknown_status: {column} `{text}` is not a known status")
            }
            RejectReason::MissingKey { column } => write!(f, "missing_key: {column} is empty"),
            RejectReason::Encoding { encoding } => {
                write!(f, "bad_encoding: the line is not valid {encoding}")
            }
            RejectReason::Syntax { detail } => write!(f, "bad_syntax: {detail}"),
            RejectReason::Range { column, text } => write!(
                f,
                "out_of_range: {column} `{text}` cannot be held exactly (at most 13 integer digits; amounts in cents, fees to 5 decimals)"
            ),
        }
    }
}

/// A row that could not be read, kept with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: Arc<Path>,
    /// 1-based physical line number.
    pub line: u64,
    pub reason: RejectReason,
    /// The line as it was in the file (decoded; undecodable bytes shown as U+FFFD).
    pub raw: String,
}

/// One total a file states about itself, e.g. `应结订单总金额 = 300.00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedAmount {
    /// The file's own label for the figure.
    pub label: String,
    pub amount: Decimal,
}

/// The totals a file states about its own rows (WeChat summary rows, Alipay footer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedTotals {
    /// Line where the totals were stated (the last one, if spread over lines).
    pub line: u64,
    /// Data rows the file says it contains (payments and refunds alike).
    pub count: u64,
    /// The amount totals, in the file's order.
    pub amounts: Vec<StatedAmount>,
}

/// What was actually read: accepted records per kind and the rejects, so a
/// report can show that every row is accounted for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadTotals {
    pub payments: u64,
    pub payment_amount: Decimal,
    pub refunds: u64,
    /// Sum of refund amounts (positive).
    pub refund_amount: Decimal,
    /// Sum of fees of accepted records (refunded fees count negative).
    pub fee_amount: Decimal,
    pub rejects: u64,
}

impl ReadTotals {
    /// Accepted records (payments and refunds).
    pub fn count(&self) -> u64 {
        self.payments + self.refunds
    }

    /// Sum of the amounts of accepted records, each positive.
    pub fn amount(&self) -> Decimal {
        self.payment_amount + self.refund_amount
    }

    /// Data rows seen: accepted plus rejected.
    pub fn rows(&self) -> u64 {
        self.count() + self.rejects
    }

    pub(crate) fn add(&mut self, record: &Record) {
        match record.kind {
            RecordKind::Payment => {
                self.payments += 1;
                self.payment_amount += record.amount;
            }
            RecordKind::Refund => {
                self.refunds += 1;
                self.refund_amount += record.amount;
            }
        }
        self.fee_amount += record.fee.unwrap_or_default();
    }
}

/// The formats reckon reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    /// WeChat Pay trade bill (交易账单).
    Wechat,
    /// Alipay business detail bill (业务明细).
    Alipay,
    /// A CSV described by a [`super::GenericMapping`] (bank statements, ledger files).
    Generic,
}

impl FormatName {
    /// `wechat`, `alipay` or `generic`.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Wechat => "wechat",
            FormatName::Alipay => "alipay",
            FormatName::Generic => "generic",
        }
    }

    /// Parses `wechat`, `alipay` or `generic`.
    pub fn parse(text: &str) -> Option<FormatName> {
        match text {
            "wechat" => Some(FormatName::Wechat),
            "alipay" => Some(FormatName::Alipay),
            "generic" => Some(FormatName::Generic),
            _ => None,
        }
    }
}

/// A file read in full: its records in file order, its rejects (by line),
/// its own totals (if it states any) and what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub file: Arc<Path>,
    pub format: FormatName,
    pub records: Vec<Record>,
    pub rejects: Vec<Reject>,
    pub stated: Option<StatedTotals>,
    pub read: ReadTotals,
    /// What a person should know about the file as a whole (e.g. WeChat's
    /// `No Bill Exist` answer read as an empty day, the bill type detected).
    pub notes: Vec<String>,
}

/// Everything about a read file except its records, which went to a sink
/// (see [`super::stream_statement`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementSummary {
    pub file: Arc<Path>,
    pub format: FormatName,
    pub rejects: Vec<Reject>,
    pub stated: Option<StatedTotals>,
    pub read: ReadTotals,
    /// See [`Statement::notes`].
    pub notes: Vec<String>,
}

impl Statement {
    /// Joins a summary with the records its sink collected.
    pub fn new(summary: StatementSummary, records: Vec<Record>) -> Statement {
        Statement {
            file: summary.file,
            format: summary.format,
            records,
            rejects: summary.rejects,
            stated: summary.stated,
            read: summary.read,
            notes: summary.notes,
        }
    }
}
