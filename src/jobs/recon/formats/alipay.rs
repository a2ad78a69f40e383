//! Alipay business detail bill (业务明细): GBK, `#` comment lines above the
//! table (account, date range) and below it (totals, export time), fields
//! padded with spaces or tabs.
//!
//! Mapping onto the ledger (see docs/recon-formats.md):
//! - 业务类型 `交易` → payment `SUCCESS`, keyed by 商户订单号;
//! - `退款` → refund `REFUND`, keyed by 退款批次号/请求号;
//! - amount: 商家实收（元） — what the merchant actually received (negative on
//!   refund rows; records carry it positive);
//! - fee: 服务费（元） as printed (positive = charged, negative = given back);
//! - time: 完成时间.
//!
//! The footer's `交易合计：N笔，商家实收共计：X元` and `退款合计：…` lines are
//! the self-check; a file without them was cut short.

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
use super::text::{Header, Line, RowSyntax, Table, TextEncoding, decode, lines};

/// Date-time format of 创建时间 and 完成时间.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const TRADE_TOTAL: &str = "交易合计";
const REFUND_TOTAL: &str = "退款合计";
const RECEIVED_LABEL: &str = "商家实收共计";
const FEE_LABEL: &str = "服务费共计";
const SYNTAX: RowSyntax = RowSyntax {
    delimiter: b',',
    comment: None,
};

struct Columns {
    order_no: usize,
    business_type: usize,
    completed_at: usize,
    received: usize,
    fee: usize,
    refund_no: usize,
}

impl Columns {
    fn locate(header: &Header, path: &Path) -> Result<Columns, FormatError> {
        Ok(Columns {
            order_no: header.require("商户订单号", path)?,
            business_type: header.require("业务类型", path)?,
            completed_at: header.require("完成时间", path)?,
            received: header.require("商家实收（元）", path)?,
            fee: header.require("服务费（元）", path)?,
            refund_no: header.require("退款批次号/请求号", path)?,
        })
    }
}

/// Per business type: rows, 商家实收 and 服务费 as printed (signed).
#[derive(Default)]
struct Sums {
    trade_received: Decimal,
    trade_fee: Decimal,
    refund_received: Decimal,
    refund_fee: Decimal,
}

/// Reads an Alipay business detail bill (GBK bytes), handing each accepted
/// record to `sink`; `path` names the file in records and errors.
pub fn read_alipay(
    path: &Path,
    bytes: &[u8],
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    let decoded = decode(bytes, TextEncoding::Gbk);
    let text: &str = &decoded.text;
    let mut all = lines(text);
    let header = all
        .find(|line| !is_comment(line.text) && !line.is_blank())
        .ok_or_else(|| FormatError::Layout {
            path: path.to_path_buf(),
            line: 1,
            reason: "no header row: every line is a `#` comment".to_string(),
        })?;
    let footer: Vec<Line<'_>> = all.skip_while(|line| !is_comment(line.text)).collect();
    if let Some(stray) = footer
        .iter()
        .find(|line| !is_comment(line.text) && !line.is_blank())
    {
        return Err(FormatError::Layout {
            path: path.to_path_buf(),
            line: stray.number,
            reason: "a table row below the `#` footer".to_string(),
        });
    }
    let body_end = footer.first().map_or(text.len(), |line| line.start);
    let table = Table::new(text, header, body_end, SYNTAX.delimiter);

    let mut collector = Collector::new(path, sink);
    collector.check_encoding(&table, &decoded.bad_lines, TextEncoding::Gbk)?;
    let columns = Columns::locate(&table.header, path)?;
    let file = collector.file.clone();
    let mut sums = Sums::default();
    collector.read_rows(&table, SYNTAX, |row, line| {
        let (record, received, fee) = parse_row(row, &columns, &file, line)?;
        match record.kind {
            RecordKind::Payment => {
                sums.trade_received += received;
                sums.trade_fee += fee;
            }
            RecordKind::Refund => {
                sums.refund_received += received;
                sums.refund_fee += fee;
            }
        }
        Ok(record)
    });

    let totals = match read_footer(path, &footer)? {
        Some(stated) => Totals::Stated(stated),
        None => Totals::Missing {
            expected: "the footer totals (#交易合计 / #退款合计)",
        },
    };
    let figures = [
        ReadFigure {
            label: "交易合计：商家实收共计",
            amount: sums.trade_received,
        },
        ReadFigure {
            label: "交易合计：服务费共计",
            amount: sums.trade_fee,
        },
        ReadFigure {
            label: "退款合计：商家实收共计",
            amount: sums.refund_received,
        },
        ReadFigure {
            label: "退款合计：服务费共计",
            amount: sums.refund_fee,
        },
    ];
    collector.finish(FormatName::Alipay, totals, &figures, options)
}

fn is_comment(text: &str) -> bool {
    text.trim_start().starts_with('#')
}

/// One data row: the record plus its signed 商家实收 and 服务费 for the self-check.
fn parse_row(
    row: &Row<'_>,
    columns: &Columns,
    file: &Arc<Path>,
    line: u64,
) -> Result<(Record, Decimal, Decimal), RejectReason> {
    let (kind, status) = match row.text(columns.business_type) {
        "交易" => (RecordKind::Payment, LedgerStatus::Success),
        "退款" => (RecordKind::Refund, LedgerStatus::Refund),
        _ => return Err(row.unknown_status(columns.business_type)),
    };
    let order_no = row.key(columns.order_no)?;
    let key = match kind {
        RecordKind::Payment => order_no,
        RecordKind::Refund => row.key(columns.refund_no)?,
    };
    let format = AmountFormat::default();
    let received = row.cents(columns.received, format)?;
    let fee = row.amount(columns.fee, format)?;
    let time = row.time(columns.completed_at, TIME_FORMAT)?;
    let record = Record {
        key: key.to_string(),
        order_no: order_no.to_string(),
        kind,
        amount: received.abs(),
        fee: Some(fee_scale(fee)),
        status,
        time,
        file: file.clone(),
        line,
    };
    Ok((record, received, fee))
}

/// The totals in the `#` footer lines, or `None` if neither total line is there.
fn read_footer(path: &Path, footer: &[Line<'_>]) -> Result<Option<StatedTotals>, FormatError> {
    let mut count = 0;
    let mut amounts = Vec::new();
    let mut last_line = None;
    for line in footer {
        let text = line.text.trim_start().trim_start_matches('#').trim();
        for total in [TRADE_TOTAL, REFUND_TOTAL] {
            let Some(rest) = text
                .strip_prefix(total)
                .map(|r| r.trim_start_matches(['：', ':']))
            else {
                continue;
            };
            let bad = |what: &str| FormatError::Layout {
                path: path.to_path_buf(),
                line: line.number,
                reason: format!("footer {total}: {what} is not readable"),
            };
            let rows = figure_before(rest, '笔')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad("the number of rows"))?;
            count += rows;
            for label in [RECEIVED_LABEL, FEE_LABEL] {
                let Some(after) = rest.split_once(label).map(|(_, after)| after) else {
                    continue;
                };
                let after = after.trim_start_matches(['：', ':']);
                let amount = figure_before(after, '元')
                    .and_then(|text| crate::money::parse_amount(text).ok())
                    .ok_or_else(|| bad(label))?;
                amounts.push(StatedAmount {
                    label: format!("{total}：{label}"),
                    amount,
                });
            }
            last_line = Some(line.number);
        }
    }
    Ok(last_line.map(|line| StatedTotals {
        line,
        count,
        amounts,
    }))
}

/// The text before `unit` (e.g. `3` in `3笔，…`), trimmed.
fn figure_before(text: &str, unit: char) -> Option<&str> {
    text.split_once(unit).map(|(figure, _)| figure.trim())
}
