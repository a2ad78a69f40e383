//! WeChat Pay trade bill (交易账单; v2 `downloadbill`, v3 `/v3/bill/tradebill`
//! download the same file): UTF-8 (a BOM is dropped), `\r\n` line ends, a
//! header row whose column order is not fixed, every data field led by a
//! backtick and **never quoted** (商品名称 and the JSON of 商户数据包 may hold
//! commas and `"`), refunds as their own rows, then two summary rows.
//! Sources per rule: docs/recon-formats.md.
//!
//! The bill type is told by the header: `ALL` (27 columns), `SUCCESS` (20:
//! no refund columns), `REFUND` (29: adds 退款申请时间 and 退款成功时间).
//!
//! Mapping onto the ledger:
//! - 交易状态 `SUCCESS` → payment `SUCCESS`, keyed by 商户订单号, amount 应结订单金额
//!   (older merchants: 总金额);
//! - `REVOKED` (paid, then revoked), `CLOSED`, `NOTPAY`, `PAYERROR` → payment `CLOSED`;
//! - `REFUND` → refund keyed by 商户退款单号, amount 退款金额, by 退款状态:
//!   `SUCCESS` → `REFUND`; `PROCESSING`, `REFUNDCLOSE` (closed, no money
//!   moved), `FAIL` → `CLOSED`; `CHANGE` (退款异常: the refund to the card
//!   failed, the money is back in the merchant account) → `REFUND_EXCEPTION`;
//! - the fee is 手续费 as printed — WeChat already prints the normalised
//!   convention (charged positive, returned negative on refunds) — exact at
//!   its 5 decimals (`0.00006`; the old v2 scientific `6e-05` is read exactly);
//! - a refund's time is 退款成功时间 when the bill has it (REFUND bill),
//!   else 交易时间.
//!
//! A day without trades has no CSV: the download answers `No Bill Exist`.
//! When that answer is what was saved, the statement is empty with a note.

use std::path::Path;
use std::sync::Arc;

use csv::StringRecord;
use rust_decimal::Decimal;

use super::amount::{AmountFormat, fee_scale};
use super::collect::{Collector, ReadFigure, ReadOptions, Totals};
use super::error::FormatError;
use super::record::{
    FormatName, LedgerStatus, Record, RecordKind, RejectReason, StatedAmount, StatedTotals,
    StatementSummary,
};
use super::row::Row;
use super::text::{Header, Line, Table, TextEncoding, clean, decode, lines};

/// Date-time format of 交易时间.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// First label of the summary rows.
const SUMMARY_FIRST_LABEL: &str = "总交易单数";
const SETTLED_TOTAL: &str = "应结订单总金额";
const REFUND_TOTAL: &str = "退款总金额";
const FEE_TOTAL: &str = "手续费总金额";
/// What the download answers for a day without trades (v2 XML `return_msg`).
const NO_BILL: &str = "No Bill Exist";
/// The note a `No Bill Exist` answer leaves in the statement.
pub const NO_BILL_NOTE: &str =
    "WeChat answered `No Bill Exist`: no trades that day, empty statement";
/// Refund numbers that mean "none" (payment rows print `0`; importers also see `-`).
const NO_REFUND_NO: [&str; 2] = ["0", "-"];

/// Which WeChat bill (`bill_type`) a header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillType {
    /// 27 columns: payments and refunds.
    All,
    /// 20 columns: successful payments only, no refund columns.
    Success,
    /// 29 columns: refunds, with 退款申请时间 and 退款成功时间.
    Refund,
}

/// The refund columns (absent from a SUCCESS bill).
struct RefundColumns {
    refund_no: usize,
    amount: usize,
    status: usize,
    /// 退款成功时间 (REFUND bill only).
    succeeded_at: Option<usize>,
}

/// Positions of the columns the reader uses.
struct Columns {
    time: usize,
    order_no: usize,
    status: usize,
    settled: usize,
    fee: usize,
    refund: Option<RefundColumns>,
    bill_type: BillType,
}

impl Columns {
    fn locate(header: &Header, path: &Path) -> Result<Columns, FormatError> {
        let time = header.require("交易时间", path)?;
        let order_no = header.require("商户订单号", path)?;
        let status = header.require("交易状态", path)?;
        // Older merchants' bills say 总金额 for 应结订单金额 (WxJava's REFUND layout).
        let settled = header
            .find("应结订单金额")
            .or_else(|| header.find("总金额"))
            .ok_or_else(|| FormatError::MissingColumn {
                path: path.to_path_buf(),
                line: header.line,
                column: "应结订单金额".to_string(),
            })?;
        let refund_names = ["商户退款单号", "退款金额", "退款状态"];
        let found: Vec<Option<usize>> = refund_names.iter().map(|n| header.find(n)).collect();
        let refund = match found.as_slice() {
            [None, None, None] => None,
            [Some(refund_no), Some(amount), Some(status)] => Some(RefundColumns {
                refund_no: *refund_no,
                amount: *amount,
                status: *status,
                succeeded_at: header.find("退款成功时间"),
            }),
            _ => {
                // Some refund columns but not all: name the first missing one.
                let missing = refund_names
                    .iter()
                    .zip(&found)
                    .find(|(_, index)| index.is_none())
                    .map_or("退款状态", |(name, _)| name);
                return Err(FormatError::MissingColumn {
                    path: path.to_path_buf(),
                    line: header.line,
                    column: missing.to_string(),
                });
            }
        };
        let bill_type = match &refund {
            None => BillType::Success,
            Some(columns) if columns.succeeded_at.is_some() => BillType::Refund,
            Some(_) => BillType::All,
        };
        Ok(Columns {
            time,
            order_no,
            status,
            settled,
            fee: header.require("手续费", path)?,
            refund,
            bill_type,
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

/// Splits a WeChat bill line into its fields. Data and total rows lead every
/// field with a backtick, so the separator is ``,` ``; a comma not followed
/// by a backtick is part of the field (商品名称, the JSON of 商户数据包). A
/// line without any backtick (the header, the summary labels) is split on
/// every comma. One leading backtick of the line is dropped; fields are not
/// trimmed here ([`clean`] does that).
pub(crate) fn split_fields(line: &str) -> Vec<&str> {
    if !line.contains('`') {
        return line.split(',').collect();
    }
    let body = line.strip_prefix('`').unwrap_or(line);
    body.split(",`").collect()
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
    if let Some(message) = api_error_answer(text) {
        if message.contains(NO_BILL) {
            let collector = Collector::new(path, sink);
            let mut summary =
                collector.finish(FormatName::Wechat, Totals::NotPart, &[], options)?;
            summary.notes.push(NO_BILL_NOTE.to_string());
            return Ok(summary);
        }
        return Err(FormatError::Layout {
            path: path.to_path_buf(),
            line: 1,
            reason: format!("WeChat answered an error instead of a bill: {message}"),
        });
    }
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
        b',',
    );

    let mut collector = Collector::new(path, sink);
    collector.check_encoding(&table, &decoded.bad_lines, TextEncoding::Utf8)?;
    let columns = Columns::locate(&table.header, path)?;
    let file = collector.file.clone();
    let mut sums = Sums::default();
    collector.read_split_rows(&table, split_record, |row, line| {
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
            // The old SUCCESS bill's label (roncoo-pay's 2016 sample).
            label: "总交易额",
            amount: sums.settled,
        },
        ReadFigure {
            label: REFUND_TOTAL,
            amount: sums.refund,
        },
        ReadFigure {
            label: "总退款金额",
            amount: sums.refund,
        },
        ReadFigure {
            label: FEE_TOTAL,
            amount: sums.fee,
        },
    ];
    let mut summary = collector.finish(FormatName::Wechat, totals, &figures, options)?;
    if columns.bill_type != BillType::All {
        summary.notes.push(format!(
            "WeChat bill_type={} (detected from the header)",
            match columns.bill_type {
                BillType::Success => "SUCCESS",
                BillType::Refund => "REFUND",
                BillType::All => "ALL",
            }
        ));
    }
    Ok(summary)
}

/// The `return_msg` of an XML error answer saved instead of a bill (v2
/// `<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg>`),
/// bounded to 200 characters; `None` when the text is not such an answer.
fn api_error_answer(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("<xml") && !trimmed.starts_with("<return_code>") {
        return None;
    }
    let message = trimmed
        .split_once("<return_msg>")
        .and_then(|(_, rest)| rest.split_once("</return_msg>"))
        .map(|(message, _)| {
            message
                .trim()
                .trim_start_matches("<![CDATA[")
                .trim_end_matches("]]>")
        })
        .unwrap_or("no return_msg");
    Some(message.chars().take(200).collect())
}

fn split_record(line: &str) -> StringRecord {
    StringRecord::from(split_fields(line))
}

/// One data row: the record plus its 应结订单金额, 退款金额 and 手续费 for the self-check.
fn parse_row(
    row: &Row<'_>,
    columns: &Columns,
    file: &Arc<Path>,
    line: u64,
) -> Result<(Record, Decimal, Decimal, Decimal), RejectReason> {
    let (kind, status) = match (row.text(columns.status), &columns.refund) {
        ("SUCCESS", _) => (RecordKind::Payment, LedgerStatus::Success),
        ("REVOKED" | "CLOSED" | "NOTPAY" | "PAYERROR", _) => {
            (RecordKind::Payment, LedgerStatus::Closed)
        }
        ("REFUND", Some(refund)) => match row.text(refund.status) {
            "SUCCESS" => (RecordKind::Refund, LedgerStatus::Refund),
            "PROCESSING" | "REFUNDCLOSE" | "FAIL" => (RecordKind::Refund, LedgerStatus::Closed),
            "CHANGE" => (RecordKind::Refund, LedgerStatus::RefundException),
            _ => return Err(row.unknown_status(refund.status)),
        },
        _ => return Err(row.unknown_status(columns.status)),
    };
    let order_no = row.key(columns.order_no)?;
    let format = AmountFormat::default();
    let settled = row.cents(columns.settled, format)?;
    let (key, refund, time_column) = match (kind, &columns.refund) {
        (RecordKind::Refund, Some(refund)) => {
            let key = row.key(refund.refund_no)?;
            if NO_REFUND_NO.contains(&key) {
                return Err(RejectReason::MissingKey {
                    column: "商户退款单号".to_string(),
                });
            }
            let time_column = refund
                .succeeded_at
                .filter(|&index| !row.text(index).is_empty())
                .unwrap_or(columns.time);
            (key, row.cents(refund.amount, format)?, time_column)
        }
        (_, Some(refund)) => (order_no, row.cents(refund.amount, format)?, columns.time),
        (_, None) => (order_no, Decimal::ZERO, columns.time),
    };
    let fee = fee_amount(row, columns.fee)?;
    let time = row.time(time_column, TIME_FORMAT)?;
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

/// 手续费: a plain decimal (`0.04000`), or the scientific notation the old v2
/// bill printed for sub-cent fees (`6e-05`), read exactly.
fn fee_amount(row: &Row<'_>, index: usize) -> Result<Decimal, RejectReason> {
    let text = row.text(index);
    if text.contains(['e', 'E']) && text.len() <= 16 {
        return Decimal::from_scientific(text)
            .ok()
            .filter(|value| value.scale() <= 28)
            .ok_or_else(|| RejectReason::Amount {
                column: row.names.get(index).cloned().unwrap_or_default(),
                text: text.to_string(),
            });
    }
    row.amount(index, AmountFormat::default())
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
            // Some bills print the count as `20.0` (a whole number all the same).
            let whole = value.strip_suffix(".0").unwrap_or(value);
            count = Some(whole.parse::<u64>().map_err(|_| bad())?);
        } else {
            let amount = crate::money::parse_amount(value).map_err(|_| bad())?;
            amounts.push(StatedAmount {
                label: label.clone(),
                amount,
            });
        }
    }
    // The amount check is never skipped: the labels it compares must be there.
    let has = |names: &[&str]| amounts.iter().any(|a| names.contains(&a.label.as_str()));
    for needed in [&[SETTLED_TOTAL, "总交易额"][..], &[FEE_TOTAL][..]] {
        if !has(needed) {
            return Err(layout(
                labels_line.number,
                format!("no {} among the summary labels", needed[0]),
            ));
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

/// The cleaned fields of a summary line.
fn split(text: &str) -> Vec<String> {
    split_fields(text)
        .into_iter()
        .map(|field| clean(field).to_string())
        .collect()
}

fn first_field(text: &str) -> &str {
    clean(split_fields(text).first().copied().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_on_the_backtick_separator_only() {
        let line = "`2024-07-09 10:00:00,`商品,含逗号,`{\"a\":1,\"b\":\"x\"},`-0.27000,`";
        assert_eq!(
            split_fields(line),
            [
                "2024-07-09 10:00:00",
                "商品,含逗号",
                "{\"a\":1,\"b\":\"x\"}",
                "-0.27000",
                ""
            ]
        );
        assert_eq!(
            split_fields("总交易单数,应结订单总金额"),
            ["总交易单数", "应结订单总金额"]
        );
        // The sandbox prints the count without its backtick.
        assert_eq!(split_fields("1269,`10.79"), ["1269", "10.79"]);
    }
}
