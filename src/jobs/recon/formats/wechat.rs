//! WeChat Pay trade bill (交易账单, `bill_type=ALL`): UTF-8, a header row whose
//! column order is not fixed, every field prefixed with a backtick, refunds as
//! their own rows, then two summary rows (labels, then totals).
//!
//! Mapping onto the ledger (see docs/recon-formats.md):
//! - 交易状态 `SUCCESS` → payment `SUCCESS`, keyed by 商户订单号, amount 应结订单金额;
//! - `REVOKED`, `CLOSED`, `NOTPAY`, `PAYERROR` → payment `CLOSED`;
//! - `REFUND` → refund keyed by 商户退款单号, amount 退款金额; 退款状态
//!   `SUCCESS`/`CHANGE` → `REFUND` (CHANGE: refunded to another account, the
//!   money still left us), `PROCESSING`/`FAIL` → `CLOSED` (no money moved yet);
//! - the fee is 手续费 as printed (negative on refunds: the fee given back).

use std::path::Path;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::amount::{AmountFormat, fee_scale};
use super::collect::{Collector, ReadFigure, ReadOptions, Totals};
use super::error::FormatError;
use super::record::{
    FormatName, LedgerStatus, Record, RecordKind, RejectReason, StatedAmount, StatedTotals,
    StatementSummary,
};
use super::row::Row;
use super::text::{Header, Line, RowSyntax, Table, TextEncoding, clean, decode, lines};

/// Date-time format of 交易时间.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// First label of the summary rows.
const SUMMARY_FIRST_LABEL: &str = "总交易单数";
const SETTLED_TOTAL: &str = "应结订单总金额";
const REFUND_TOTAL: &str = "退款总金额";
const FEE_TOTAL: &str = "手续费总金额";
const SYNTAX: RowSyntax = RowSyntax {
    delimiter: b',',
    comment: None,
};

/// Positions of the columns the reader uses.
struct Columns {
    time: usize,
    order_no: usize,
    status: usize,
    settled: usize,
    refund_no: usize,
    refund_amount: usize,
    refund_status: usize,
    fee: usize,
}

impl Columns {
    fn locate(header: &Header, path: &Path) -> Result<Columns, FormatError> {
        Ok(Columns {
            time: header.require("交易时间", path)?,
            order_no: header.require("商户订单号", path)?,
            status: header.require("交易状态", path)?,
            settled: header.require("应结订单金额", path)?,
            refund_no: header.require("商户退款单号", path)?,
            refund_amount: header.require("退款金额", path)?,
            refund_status: header.require("退款状态", path)?,
            fee: header.require("手续费", path)?,
        })
    }
}

/// The column sums the summary row states, recomputed from accepted rows.
#[derive(Default)]
struct Sums {
    settled: Decimal,
    refund: Decimal,
    fee: Decimal,
}

/// Reads a WeChat Pay trade bill from its bytes, handing each accepted record
/// to `sink`; `path` names the file in records and errors.
pub fn read_wechat(
    path: &Path,
    bytes: &[u8],
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    let decoded = decode(bytes, TextEncoding::Utf8);
    let text: &str = &decoded.text;
    let mut all = lines(text);
    let header = all
        .find(|line| !line.is_blank())
        .ok_or_else(|| FormatError::Layout {
            path: path.to_path_buf(),
            line: 1,
            reason: "empty file: no header row".to_string(),
        })?;
    let summary = all.find(|line| first_field(line.text) == SUMMARY_FIRST_LABEL);
    let after_summary: Vec<Line<'_>> = all.collect();
    let table = Table::new(
        text,
        header,
        summary.map_or(text.len(), |line| line.start),
        SYNTAX.delimiter,
    );

    let mut collector = Collector::new(path, sink);
    collector.check_encoding(&table, &decoded.bad_lines, TextEncoding::Utf8)?;
    let columns = Columns::locate(&table.header, path)?;
    let file = collector.file.clone();
    let mut sums = Sums::default();
    collector.read_rows(&table, SYNTAX, |row, line| {
        let (record, settled, refund, fee) = parse_row(row, &columns, &file, line)?;
        sums.settled += settled;
        sums.refund += refund;
        sums.fee += fee;
        Ok(record)
    });

    let totals = match summary {
        None => Totals::Missing {
            expected: "the summary rows (总交易单数 …)",
        },
        Some(labels) => Totals::Stated(read_summary(path, labels, &after_summary)?),
    };
    let figures = [
        ReadFigure {
            label: SETTLED_TOTAL,
            amount: sums.settled,
        },
        ReadFigure {
            label: REFUND_TOTAL,
            amount: sums.refund,
        },
        ReadFigure {
            label: FEE_TOTAL,
            amount: sums.fee,
        },
    ];
    collector.finish(FormatName::Wechat, totals, &figures, options)
}

/// One data row: the record plus its 应结订单金额, 退款金额 and 手续费 for the self-check.
fn parse_row(
    row: &Row<'_>,
    columns: &Columns,
    file: &Arc<Path>,
    line: u64,
) -> Result<(Record, Decimal, Decimal, Decimal), RejectReason> {
    let (kind, status) = match row.text(columns.status) {
        "SUCCESS" => (RecordKind::Payment, LedgerStatus::Success),
        "REVOKED" | "CLOSED" | "NOTPAY" | "PAYERROR" => (RecordKind::Payment, LedgerStatus::Closed),
        "REFUND" => match row.text(columns.refund_status) {
            "SUCCESS" | "CHANGE" => (RecordKind::Refund, LedgerStatus::Refund),
            "PROCESSING" | "FAIL" => (RecordKind::Refund, LedgerStatus::Closed),
            _ => return Err(row.unknown_status(columns.refund_status)),
        },
        _ => return Err(row.unknown_status(columns.status)),
    };
    let order_no = row.key(columns.order_no)?;
    let key = match kind {
        RecordKind::Payment => order_no,
        RecordKind::Refund => row.key(columns.refund_no)?,
    };
    let format = AmountFormat::default();
    let settled = row.cents(columns.settled, format)?;
    let refund = row.cents(columns.refund_amount, format)?;
    let fee = row.amount(columns.fee, format)?;
    let time = row.time(columns.time, TIME_FORMAT)?;
    let record = Record {
        key: key.to_string(),
        order_no: order_no.to_string(),
        kind,
        amount: match kind {
            RecordKind::Payment => settled,
            RecordKind::Refund => refund.abs(),
        },
        fee: Some(fee_scale(fee)),
        status,
        time,
        file: file.clone(),
        line,
    };
    Ok((record, settled, refund, fee))
}

/// The summary labels row and the totals row after it (`rest`: every line
/// after the labels, which must hold the totals and nothing else).
fn read_summary(
    path: &Path,
    labels_line: Line<'_>,
    rest: &[Line<'_>],
) -> Result<StatedTotals, FormatError> {
    let layout = |line: u64, reason: String| FormatError::Layout {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut content = rest.iter().filter(|line| !line.is_blank());
    let values_line = content.next().ok_or_else(|| {
        layout(
            labels_line.number,
            "the summary labels are not followed by totals".to_string(),
        )
    })?;
    if let Some(extra) = content.next() {
        return Err(layout(
            extra.number,
            "unexpected text after the summary rows".to_string(),
        ));
    }
    let labels = split(labels_line.text);
    let values = split(values_line.text);
    if values.len() != labels.len() {
        return Err(layout(
            values_line.number,
            format!(
                "{} summary labels but {} totals",
                labels.len(),
                values.len()
            ),
        ));
    }
    let mut count = None;
    let mut amounts = Vec::new();
    for (label, value) in labels.iter().zip(&values) {
        let bad = || {
            layout(
                values_line.number,
                format!("summary {label} `{value}` is not a number"),
            )
        };
        if label == SUMMARY_FIRST_LABEL {
            count = Some(value.parse::<u64>().map_err(|_| bad())?);
        } else {
            let amount = crate::money::parse_amount(value).map_err(|_| bad())?;
            amounts.push(StatedAmount {
                label: label.clone(),
                amount,
            });
        }
    }
    Ok(StatedTotals {
        line: values_line.number,
        count: count.ok_or_else(|| {
            layout(
                labels_line.number,
                format!("no {SUMMARY_FIRST_LABEL} among the summary labels"),
            )
        })?,
        amounts,
    })
}

/// The cleaned comma-separated fields of a summary line.
fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(|field| clean(field).to_string())
        .collect()
}

fn first_field(text: &str) -> &str {
    clean(text.split(',').next().unwrap_or(""))
}
