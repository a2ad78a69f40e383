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
    Statement,
};
use super::row::Row;
use super::text::{Header, Line, RowSyntax, TextEncoding, clean, decode, for_each_row, lines};

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

/// Reads a WeChat Pay trade bill from its bytes; `path` names it in records and errors.
pub fn read_wechat(
    path: &Path,
    bytes: &[u8],
    options: ReadOptions,
) -> Result<Statement, FormatError> {
    let decoded = decode(bytes, TextEncoding::Utf8);
    let all = lines(&decoded.text);
    let layout = |line: u64, reason: &str| FormatError::Layout {
        path: path.to_path_buf(),
        line,
        reason: reason.to_string(),
    };
    let header_at =
        first_content_line(&all, 0).ok_or_else(|| layout(1, "empty file: no header row"))?;
    let header = Header::parse(all[header_at], SYNTAX.delimiter);
    let columns = Columns::locate(&header, path)?;
    let summary_at =
        (header_at + 1..all.len()).find(|&i| first_field(all[i].text) == SUMMARY_FIRST_LABEL);
    let body_end = summary_at.map_or(decoded.text.len(), |i| all[i].start);
    let body_start = all.get(header_at + 1).map_or(body_end, |line| line.start);
    let last_table_line = summary_at.map_or(all.len() as u64, |i| i as u64);

    let mut collector = Collector::new(path);
    collector.reject_bad_lines(
        &decoded.bad_lines,
        header.line + 1..=last_table_line,
        TextEncoding::Utf8,
    )?;
    let mut sums = Sums::default();
    let file = collector.file.clone();
    for_each_row(
        &decoded.text[body_start..body_end],
        header.line + 1,
        SYNTAX,
        |line, fields, raw| {
            let outcome = fields
                .map_err(|detail| RejectReason::Syntax { detail })
                .and_then(|fields| {
                    let row = Row {
                        fields,
                        names: header.names(),
                    };
                    parse_row(&row, &columns, header.len(), &file, line)
                });
            match outcome {
                Ok((record, settled, refund, fee)) => {
                    sums.settled += settled;
                    sums.refund += refund;
                    sums.fee += fee;
                    collector.accept(record);
                }
                Err(reason) => collector.reject(line, reason, raw),
            }
        },
    );

    let totals = match summary_at {
        None => Totals::Missing {
            expected: "the summary rows (总交易单数 …)",
        },
        Some(at) => Totals::Stated(read_summary(path, &all, at)?),
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
    width: usize,
    file: &Arc<Path>,
    line: u64,
) -> Result<(Record, Decimal, Decimal, Decimal), RejectReason> {
    if row.fields.len() != width {
        return Err(RejectReason::FieldCount {
            expected: width,
            found: row.fields.len(),
        });
    }
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

/// The labels row at `at` and the totals row after it.
fn read_summary(path: &Path, all: &[Line<'_>], at: usize) -> Result<StatedTotals, FormatError> {
    let layout = |line: u64, reason: String| FormatError::Layout {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let labels = split(all[at].text);
    let values_at = first_content_line(all, at + 1).ok_or_else(|| {
        layout(
            all[at].number,
            "the summary labels are not followed by totals".to_string(),
        )
    })?;
    let values_line = all[values_at];
    if let Some(extra) = first_content_line(all, values_at + 1) {
        return Err(layout(
            all[extra].number,
            "unexpected text after the summary rows".to_string(),
        ));
    }
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
        count: count.unwrap_or_default(),
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

/// Index of the first non-blank line at or after `from`.
pub(crate) fn first_content_line(all: &[Line<'_>], from: usize) -> Option<usize> {
    (from..all.len()).find(|&i| !clean(all[i].text).is_empty())
}
