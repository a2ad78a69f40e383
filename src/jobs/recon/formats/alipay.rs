//! Alipay business detail bill (业务明细, `alipay.data.dataservice.bill.downloadurl.query`
//! `bill_type=trade`): GBK, `#` comment lines above the table (account, date
//! range) and below it (totals, export time), fields padded with tabs.
//! Sources per rule: docs/recon-formats.md.
//!
//! Mapping onto the ledger:
//! - 业务类型 `交易` → payment `SUCCESS`, keyed by 商户订单号;
//! - `退款` → refund `REFUND`, keyed by 退款批次号/请求号 (the order number
//!   when the refund request carried no out_request_no: the engine then
//!   pairs it with our refund of the same order and amount);
//! - amount: 商家实收（元） — what the merchant actually received (negative on
//!   refund rows; records carry it positive);
//! - fee: 服务费（元） **negated**: Alipay prints money the merchant pays as
//!   negative (trade rows) and fee given back as positive (refund rows), the
//!   opposite of WeChat's 手续费; records carry charged positive, returned negative;
//! - time: 完成时间 (for refunds, when the refund completed).
//!
//! Self-check against the footer `#交易合计：N笔，商家实收共X元，商家优惠共Y元`
//! and `#退款合计：N笔，商家实收退款共-X元，商家优惠退款共Y元`: counts per
//! business type and the signed sums of 商家实收 (and 商家优惠 when the column
//! is there). A total line without its expected label is a layout error
//! naming the line; a file without the total lines was cut short.

use std::path::Path;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::amount::{AmountFormat, fee_scale, parse_formatted_amount};
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
/// The footer's labels per total line: (line, rows label, received, discount).
const FOOTER: [FooterLine; 2] = [
    FooterLine {
        total: TRADE_TOTAL,
        received: "商家实收共",
        discount: "商家优惠共",
    },
    FooterLine {
        total: REFUND_TOTAL,
        received: "商家实收退款共",
        discount: "商家优惠退款共",
    },
];

/// One footer total line's labels.
struct FooterLine {
    total: &'static str,
    received: &'static str,
    discount: &'static str,
}

/// Labels of the figures the footer states (`StatedAmount::label`).
const TRADE_ROWS: &str = "交易合计：笔";
const TRADE_RECEIVED: &str = "交易合计：商家实收共";
const TRADE_DISCOUNT: &str = "交易合计：商家优惠共";
const REFUND_ROWS: &str = "退款合计：笔";
const REFUND_RECEIVED: &str = "退款合计：商家实收退款共";
const REFUND_DISCOUNT: &str = "退款合计：商家优惠退款共";
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
    /// 商家优惠（元）, summed for the footer check when present.
    discount: Option<usize>,
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
            discount: header.find("商家优惠（元）"),
        })
    }
}

/// Per business type: rows, 商家实收 and 商家优惠 as printed (signed).
#[derive(Default)]
struct Sums {
    trade_rows: u64,
    trade_received: Decimal,
    trade_discount: Decimal,
    refund_rows: u64,
    refund_received: Decimal,
    refund_discount: Decimal,
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
        let (record, received, discount) = parse_row(row, &columns, &file, line)?;
        match record.kind {
            RecordKind::Payment => {
                sums.trade_rows += 1;
                sums.trade_received += received;
                sums.trade_discount += discount;
            }
            RecordKind::Refund => {
                sums.refund_rows += 1;
                sums.refund_received += received;
                sums.refund_discount += discount;
            }
        }
        Ok(record)
    });

    let totals = match read_footer(path, &footer)? {
        Ok(stated) => Totals::Stated(stated),
        Err(expected) => Totals::Missing { expected },
    };
    let mut figures = vec![
        ReadFigure {
            label: TRADE_ROWS,
            amount: Decimal::from(sums.trade_rows),
        },
        ReadFigure {
            label: TRADE_RECEIVED,
            amount: sums.trade_received,
        },
        ReadFigure {
            label: REFUND_ROWS,
            amount: Decimal::from(sums.refund_rows),
        },
        ReadFigure {
            label: REFUND_RECEIVED,
            amount: sums.refund_received,
        },
    ];
    if columns.discount.is_some() {
        figures.push(ReadFigure {
            label: TRADE_DISCOUNT,
            amount: sums.trade_discount,
        });
        figures.push(ReadFigure {
            label: REFUND_DISCOUNT,
            amount: sums.refund_discount,
        });
    }
    collector.finish(FormatName::Alipay, totals, &figures, options)
}

fn is_comment(text: &str) -> bool {
    text.trim_start().starts_with('#')
}

/// One data row: the record plus its signed 商家实收 and 商家优惠 for the self-check.
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
    let discount = match columns.discount {
        Some(index) if !row.text(index).is_empty() => row.cents(index, format)?,
        _ => Decimal::ZERO,
    };
    // 服务费 as printed: paid negative, given back positive; negated to the
    // one convention (charged positive, returned negative).
    let fee = -row.amount(columns.fee, format)?;
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
    Ok((record, received, discount))
}

/// The totals in the `#` footer lines: `Ok(stated)` when both total lines
/// are there, `Err(what is missing)` when either is absent (the file was
/// cut short). A total line whose expected label is missing or unreadable
/// is a layout error naming the line: the check is never skipped.
fn read_footer(
    path: &Path,
    footer: &[Line<'_>],
) -> Result<Result<StatedTotals, &'static str>, FormatError> {
    let mut count: u64 = 0;
    let mut amounts = Vec::new();
    let mut found = [false; 2];
    let mut last_line = 0;
    for line in footer {
        let text = line.text.trim_start().trim_start_matches('#').trim();
        for (index, labels) in FOOTER.iter().enumerate() {
            let Some(rest) = text
                .strip_prefix(labels.total)
                .map(|r| r.trim_start_matches(['：', ':']))
            else {
                continue;
            };
            let bad = |what: &str| FormatError::Layout {
                path: path.to_path_buf(),
                line: line.number,
                reason: format!(
                    "footer {}: {what} is missing or not readable (expected `{}：N笔，{}X元，{}Y元`)",
                    labels.total, labels.total, labels.received, labels.discount
                ),
            };
            if found[index] {
                return Err(bad("a second total line"));
            }
            found[index] = true;
            let rows = figure_before(rest, '笔')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad("the number of rows `N笔`"))?;
            count = count.saturating_add(rows);
            amounts.push(StatedAmount {
                label: format!("{}：笔", labels.total),
                amount: Decimal::from(rows),
            });
            for label in [labels.received, labels.discount] {
                let amount = rest
                    .split_once(label)
                    .and_then(|(_, after)| figure_before(after, '元'))
                    .and_then(|text| parse_formatted_amount(text, FOOTER_AMOUNTS).ok())
                    .ok_or_else(|| bad(label))?;
                amounts.push(StatedAmount {
                    label: format!("{}：{label}", labels.total),
                    amount,
                });
            }
            last_line = line.number;
        }
    }
    Ok(match found {
        [true, true] => Ok(StatedTotals {
            line: last_line,
            count,
            amounts,
        }),
        [false, false] => Err("the footer totals (#交易合计 / #退款合计)"),
        [true, false] => Err("the footer line #退款合计"),
        [false, true] => Err("the footer line #交易合计"),
    })
}

/// Footer amounts may group thousands (`7,563,180.81`).
const FOOTER_AMOUNTS: AmountFormat = AmountFormat {
    thousands_separator: Some(','),
    negative: super::amount::NegativeStyle::Minus,
};

/// The text before `unit` (e.g. `3` in `3笔，…`), trimmed.
fn figure_before(text: &str, unit: char) -> Option<&str> {
    text.split_once(unit).map(|(figure, _)| figure.trim())
}

/// Columns of Alipay's `业务明细(汇总)` file the cross-check reads.
const SUMMARY_TRADES: &str = "交易订单总笔数";
const SUMMARY_REFUNDS: &str = "退款订单总笔数";
const SUMMARY_RECEIVED: &str = "商家实收（元）";
const SUMMARY_FEE: &str = "服务费（元）";

/// Cross-checks the zip's `业务明细(汇总)` member against what the detail
/// file read: the 交易/退款 order counts, the net 商家实收 (trades less
/// refunds) and 服务费 as printed (the detail's normalised fees negated back).
/// Its `合计` row is used when present, else the per-store rows are summed.
/// Amounts are compared only when the detail had no reject (a rejected row's
/// amounts are unknown); the total count always.
pub(crate) fn check_summary_file(
    path: &Path,
    member: &str,
    bytes: &[u8],
    detail: &StatementSummary,
) -> Result<(), FormatError> {
    let decoded = decode(bytes, TextEncoding::Gbk);
    let text: &str = &decoded.text;
    let layout = |line: u64, reason: String| FormatError::Layout {
        path: path.to_path_buf(),
        line,
        reason: format!("{member}: {reason}"),
    };
    if let Some((line, _)) = decoded.bad_lines.first() {
        return Err(layout(*line, "the line is not valid GBK".to_string()));
    }
    let header = lines(text)
        .find(|line| !is_comment(line.text) && !line.is_blank())
        .ok_or_else(|| layout(1, "no header row".to_string()))?;
    let table = Table::new(text, header, text.len(), b',');
    let column = |name: &str| {
        table
            .header
            .find(name)
            .ok_or_else(|| FormatError::MissingColumn {
                path: path.to_path_buf(),
                line: table.header.line,
                column: format!("{member}: {name}"),
            })
    };
    let positions = [
        column(SUMMARY_TRADES)?,
        column(SUMMARY_REFUNDS)?,
        column(SUMMARY_RECEIVED)?,
        column(SUMMARY_FEE)?,
    ];
    let mut sums = [Decimal::ZERO; 4];
    let mut total_row: Option<[Decimal; 4]> = None;
    let mut error = None;
    let syntax = RowSyntax {
        delimiter: b',',
        comment: Some(b'#'),
    };
    super::text::for_each_row(
        table.body,
        table.first_line,
        syntax,
        |line, fields, _raw| {
            if error.is_some() {
                return;
            }
            let Ok(fields) = fields else {
                error = Some(layout(line, "the row cannot be read".to_string()));
                return;
            };
            let mut values = [Decimal::ZERO; 4];
            for (slot, &index) in values.iter_mut().zip(&positions) {
                let text = fields.get(index).map(super::text::clean).unwrap_or("");
                match crate::money::parse_amount(text) {
                    Ok(value) if value.abs() < super::row::AMOUNT_LIMIT => *slot = value,
                    _ => {
                        error = Some(layout(line, format!("`{text}` is not a number")));
                        return;
                    }
                }
            }
            let first = fields.get(0).map(super::text::clean).unwrap_or("");
            if first.starts_with("合计") {
                total_row = Some(values);
            } else {
                for (sum, value) in sums.iter_mut().zip(values) {
                    *sum += value;
                }
            }
        },
    );
    if let Some(error) = error {
        return Err(error);
    }
    let [trades, refunds, received, fee] = total_row.unwrap_or(sums);
    let read = &detail.read;
    let mismatch = |figure: &str, stated: Decimal, read: String| FormatError::SelfCheck {
        path: path.to_path_buf(),
        figure: format!("{member} {figure}"),
        stated: stated.normalize().to_string(),
        read,
        rejects: detail.rejects.clone(),
    };
    if trades + refunds != Decimal::from(read.rows()) {
        return Err(mismatch(
            "交易订单总笔数 + 退款订单总笔数",
            trades + refunds,
            format!("{} detail rows", read.rows()),
        ));
    }
    if read.rejects > 0 {
        return Ok(());
    }
    let checks = [
        (SUMMARY_TRADES, trades, Decimal::from(read.payments)),
        (SUMMARY_REFUNDS, refunds, Decimal::from(read.refunds)),
        (
            SUMMARY_RECEIVED,
            received,
            read.payment_amount - read.refund_amount,
        ),
        (SUMMARY_FEE, fee, -read.fee_amount),
    ];
    for (figure, stated, from_detail) in checks {
        if stated != from_detail {
            return Err(mismatch(
                figure,
                stated,
                format!("{} from the detail rows", from_detail.normalize()),
            ));
        }
    }
    Ok(())
}
