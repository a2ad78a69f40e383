//! Bank and other CSV statements described by a [`GenericMapping`] (a TOML
//! table), and the ledger file of ad-hoc reconciliation, which is the
//! generic reader with [`GenericMapping::ledger`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::amount::{AmountFormat, exact_cents, fee_scale, parse_time};
use super::collect::{Collector, ReadOptions, Totals};
use super::error::FormatError;
use super::record::{FormatName, LedgerStatus, Record, RecordKind, RejectReason, StatementSummary};
use super::row::Row;
use super::text::{Header, RowSyntax, Table, TextEncoding, decode, lines};

/// Which header columns hold what. Names are matched after trimming, with
/// full-width parentheses treated as ASCII ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericColumns {
    /// Our order number (required).
    pub order_no: String,
    /// Our refund number: the key of refund rows. Without it refunds are keyed by `order_no`.
    #[serde(default)]
    pub refund_no: Option<String>,
    /// A signed amount column; or use `debit` and `credit`.
    #[serde(default)]
    pub amount: Option<String>,
    /// Money out (refunds), used with `credit` instead of `amount`.
    #[serde(default)]
    pub debit: Option<String>,
    /// Money in (payments), used with `debit` instead of `amount`.
    #[serde(default)]
    pub credit: Option<String>,
    /// The row's status, mapped by `statuses`. Without it, the direction of
    /// the money decides: in → `SUCCESS` payment, out → `REFUND` refund.
    #[serde(default)]
    pub status: Option<String>,
    /// The completion date-time (required); with `date`, the time of day only.
    pub time: String,
    /// A separate date column (banks print 交易日期 and 交易时间 apart): the
    /// row's time is `"{date} {time}"`, read with `datetime_format`.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub fee: Option<String>,
}

/// A CSV statement layout, deserialized from TOML (see docs/recon-formats.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericMapping {
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Field separator, one ASCII character (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Lines above the header to skip (a bank's title block).
    #[serde(default)]
    pub skip_lines: usize,
    /// Non-blank lines at the end to skip (a bank's closing balance lines).
    #[serde(default)]
    pub skip_footer_lines: usize,
    /// Lines starting with this ASCII character are ignored.
    #[serde(default)]
    pub comment: Option<char>,
    /// The table ends at the first row whose first field starts with this
    /// text (a bank's `合计` row); that row's amount columns, where filled,
    /// must equal the sums of the rows above it (else the file is refused),
    /// and everything below it is ignored.
    #[serde(default)]
    pub totals_row: Option<String>,
    /// chrono `strftime` format of the time column; a date-only format gives midnight.
    #[serde(default = "default_datetime_format")]
    pub datetime_format: String,
    #[serde(default)]
    pub amount_format: AmountFormat,
    pub columns: GenericColumns,
    /// The file's status text → `SUCCESS`, `REFUND` or `CLOSED`. Any other text is rejected.
    #[serde(default)]
    pub statuses: BTreeMap<String, LedgerStatus>,
    /// `fee` and `refund_no` columns may be absent from the header (the ledger file).
    #[serde(skip)]
    optional_columns_may_be_absent: bool,
}

fn default_delimiter() -> char {
    ','
}

fn default_datetime_format() -> String {
    "%Y-%m-%d %H:%M:%S".to_string()
}

impl GenericMapping {
    /// The ledger file layout of ad-hoc reconciliation (also `--format generic`
    /// without a mapping): UTF-8, header `order_no,amount,status,completed_at`
    /// plus optional `fee` and `refund_no`, statuses `SUCCESS`/`REFUND`/`CLOSED`,
    /// time `%Y-%m-%d %H:%M:%S`, amounts plain (`-` for negatives).
    pub fn ledger() -> GenericMapping {
        let statuses = [
            LedgerStatus::Success,
            LedgerStatus::Refund,
            LedgerStatus::Closed,
        ]
        .into_iter()
        .map(|status| (status.as_str().to_string(), status))
        .collect();
        GenericMapping {
            encoding: TextEncoding::Utf8,
            delimiter: ',',
            skip_lines: 0,
            skip_footer_lines: 0,
            comment: None,
            totals_row: None,
            datetime_format: default_datetime_format(),
            amount_format: AmountFormat::default(),
            columns: GenericColumns {
                order_no: "order_no".to_string(),
                refund_no: Some("refund_no".to_string()),
                amount: Some("amount".to_string()),
                debit: None,
                credit: None,
                status: Some("status".to_string()),
                time: "completed_at".to_string(),
                date: None,
                fee: Some("fee".to_string()),
            },
            statuses,
            optional_columns_may_be_absent: true,
        }
    }

    /// Parses a mapping from TOML text (the whole document is the mapping).
    pub fn from_toml_str(text: &str) -> Result<GenericMapping, FormatError> {
        let mapping: GenericMapping =
            toml::from_str(text).map_err(|e| FormatError::Mapping(e.to_string()))?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// Parses a mapping from a TOML table (e.g. a job's `[params.mapping]`).
    pub fn from_table(table: &toml::Table) -> Result<GenericMapping, FormatError> {
        let mapping: GenericMapping = table
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| FormatError::Mapping(e.to_string()))?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// Checks the mapping can work: an ASCII delimiter, exactly one way to
    /// read amounts, statuses when a status column is named.
    pub fn validate(&self) -> Result<(), FormatError> {
        let wrong = |reason: &str| Err(FormatError::Mapping(reason.to_string()));
        if !self.delimiter.is_ascii() || self.comment.is_some_and(|c| !c.is_ascii()) {
            return wrong("`delimiter` and `comment` must be ASCII characters");
        }
        let columns = &self.columns;
        match (&columns.amount, &columns.debit, &columns.credit) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => {
                return wrong(
                    "set either `columns.amount` or both `columns.debit` and `columns.credit`",
                );
            }
        }
        if columns.status.is_some() && self.statuses.is_empty() {
            return wrong("`columns.status` is set but `statuses` maps nothing");
        }
        Ok(())
    }
}

/// Column positions resolved against one header.
struct Columns {
    order_no: usize,
    refund_no: Option<usize>,
    amount: AmountColumns,
    status: Option<usize>,
    time: usize,
    date: Option<usize>,
    fee: Option<usize>,
}

enum AmountColumns {
    Signed(usize),
    DebitCredit { debit: usize, credit: usize },
}

impl Columns {
    fn locate(
        mapping: &GenericMapping,
        header: &Header,
        path: &Path,
    ) -> Result<Columns, FormatError> {
        let columns = &mapping.columns;
        let optional = |name: &Option<String>| -> Result<Option<usize>, FormatError> {
            match name {
                None => Ok(None),
                Some(name) if mapping.optional_columns_may_be_absent => Ok(header.find(name)),
                Some(name) => header.require(name, path).map(Some),
            }
        };
        let amount = match (&columns.amount, &columns.debit, &columns.credit) {
            (Some(amount), _, _) => AmountColumns::Signed(header.require(amount, path)?),
            (None, Some(debit), Some(credit)) => AmountColumns::DebitCredit {
                debit: header.require(debit, path)?,
                credit: header.require(credit, path)?,
            },
            _ => return Err(FormatError::Mapping("no amount columns".to_string())),
        };
        Ok(Columns {
            order_no: header.require(&columns.order_no, path)?,
            refund_no: optional(&columns.refund_no)?,
            amount,
            status: match &columns.status {
                Some(name) => Some(header.require(name, path)?),
                None => None,
            },
            time: header.require(&columns.time, path)?,
            date: match &columns.date {
                Some(name) => Some(header.require(name, path)?),
                None => None,
            },
            fee: optional(&columns.fee)?,
        })
    }
}

/// Reads a CSV statement laid out as `mapping` says, handing each accepted
/// record to `sink`; `path` names the file in records and errors.
pub fn read_generic(
    path: &Path,
    bytes: &[u8],
    mapping: &GenericMapping,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    mapping.validate()?;
    let decoded = decode(bytes, mapping.encoding);
    let text: &str = &decoded.text;
    let header = lines(text)
        .skip(mapping.skip_lines)
        .find(|line| !line.is_blank())
        .ok_or_else(|| FormatError::Layout {
            path: path.to_path_buf(),
            line: mapping.skip_lines as u64 + 1,
            reason: format!("no header row after skipping {} lines", mapping.skip_lines),
        })?;
    let delimiter = mapping.delimiter as u8;
    let mut body_end = footer_start(text, header.end, mapping.skip_footer_lines);
    let totals_line = match &mapping.totals_row {
        Some(marker) => lines(text)
            .skip_while(|line| line.number <= header.number)
            .find(|line| first_field(line.text, delimiter).starts_with(marker.as_str())),
        None => None,
    };
    if let Some(line) = totals_line {
        body_end = body_end.min(line.start);
    }
    let table = Table::new(text, header, body_end, delimiter);

    let mut collector = Collector::new(path, sink);
    collector.check_encoding(&table, &decoded.bad_lines, mapping.encoding)?;
    let columns = Columns::locate(mapping, &table.header, path)?;
    let syntax = RowSyntax {
        delimiter,
        comment: mapping.comment.map(|c| c as u8),
    };
    let file = collector.file.clone();
    let mut sums = [Decimal::ZERO; 2];
    collector.read_rows(&table, syntax, |row, line| {
        let record = parse_row(row, &columns, mapping, &file, line)?;
        if let Ok(pair) = column_amounts(row, &columns, mapping.amount_format) {
            sums[0] += pair[0];
            sums[1] += pair[1];
        }
        Ok(record)
    });
    let summary = collector.finish(FormatName::Generic, Totals::NotPart, &[], options)?;
    match (totals_line, &mapping.totals_row) {
        (Some(line), _) => check_totals_row(path, line, &table, &columns, mapping, sums, &summary)?,
        (None, Some(marker)) => {
            return Err(FormatError::SelfCheck {
                path: path.to_path_buf(),
                figure: format!("the `{marker}` row"),
                stated: "nothing (the file ends without it)".to_string(),
                read: format!("{} rows", summary.read.rows()),
                rejects: summary.rejects,
            });
        }
        (None, None) => {}
    }
    Ok(summary)
}

/// The cleaned first field of a line.
fn first_field(text: &str, delimiter: u8) -> &str {
    super::text::clean(text.split(delimiter as char).next().unwrap_or(""))
}

/// The row's amount columns as printed: `[amount, 0]` for a signed amount
/// column, `[debit, credit]` otherwise (empty = 0).
fn column_amounts(
    row: &Row<'_>,
    columns: &Columns,
    format: AmountFormat,
) -> Result<[Decimal; 2], RejectReason> {
    let value = |index: usize| -> Result<Decimal, RejectReason> {
        if row.text(index).is_empty() {
            Ok(Decimal::ZERO)
        } else {
            row.amount(index, format)
        }
    };
    match columns.amount {
        AmountColumns::Signed(index) => Ok([value(index)?, Decimal::ZERO]),
        AmountColumns::DebitCredit { debit, credit } => Ok([value(debit)?, value(credit)?]),
    }
}

/// Compares the totals row's filled amount columns with the rows' sums;
/// only when nothing was rejected (a rejected row's amounts are unknown).
fn check_totals_row(
    path: &Path,
    line: super::text::Line<'_>,
    table: &Table<'_>,
    columns: &Columns,
    mapping: &GenericMapping,
    sums: [Decimal; 2],
    summary: &StatementSummary,
) -> Result<(), FormatError> {
    let layout = |reason: String| FormatError::Layout {
        path: path.to_path_buf(),
        line: line.number,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(mapping.delimiter as u8)
        .flexible(true)
        .from_reader(line.text.as_bytes());
    let fields = match reader.records().next() {
        Some(Ok(fields)) => fields,
        _ => return Err(layout("the totals row cannot be read".to_string())),
    };
    if summary.read.rejects > 0 {
        return Ok(());
    }
    let names = table.header.names();
    let row = Row {
        fields: &fields,
        names,
    };
    let stated = column_amounts(&row, columns, mapping.amount_format)
        .map_err(|reason| layout(format!("the totals row: {reason}")))?;
    let indexes: Vec<usize> = match columns.amount {
        AmountColumns::Signed(index) => vec![index],
        AmountColumns::DebitCredit { debit, credit } => vec![debit, credit],
    };
    for (slot, index) in indexes.into_iter().enumerate() {
        if row.text(index).is_empty() {
            continue;
        }
        // Debits are totalled as printed (positive); a signed column nets out.
        let read = sums[slot];
        if stated[slot] != read {
            return Err(FormatError::SelfCheck {
                path: path.to_path_buf(),
                figure: format!(
                    "{} in the totals row (line {})",
                    names.get(index).cloned().unwrap_or_default(),
                    line.number
                ),
                stated: stated[slot].to_string(),
                read: read.to_string(),
                rejects: summary.rejects.clone(),
            });
        }
    }
    Ok(())
}

/// The byte offset where the last `skip` non-blank lines start (not before
/// `floor`, the end of the header); the text's end when `skip` is 0.
fn footer_start(text: &str, floor: usize, skip: usize) -> usize {
    let mut end = text.len();
    let mut skipped = 0;
    while skipped < skip && end > floor {
        let before = text[..end].trim_end_matches(['\n', '\r']);
        if before.len() < floor {
            break;
        }
        let start = before.rfind('\n').map_or(0, |at| at + 1).max(floor);
        if !super::text::clean(&before[start..]).is_empty() {
            skipped += 1;
        }
        end = start;
    }
    end
}

fn parse_row(
    row: &Row<'_>,
    columns: &Columns,
    mapping: &GenericMapping,
    file: &Arc<Path>,
    line: u64,
) -> Result<Record, RejectReason> {
    let status = match columns.status {
        Some(index) => Some(
            *mapping
                .statuses
                .get(row.text(index))
                .ok_or_else(|| row.unknown_status(index))?,
        ),
        None => None,
    };
    let order_no = row.key(columns.order_no)?;
    let signed = signed_amount(row, columns, mapping.amount_format)?;
    let (kind, status) = match status {
        Some(status @ (LedgerStatus::Refund | LedgerStatus::RefundException)) => {
            (RecordKind::Refund, status)
        }
        Some(other) => (RecordKind::Payment, other),
        None if signed.is_sign_negative() => (RecordKind::Refund, LedgerStatus::Refund),
        None => (RecordKind::Payment, LedgerStatus::Success),
    };
    let key = match (kind, columns.refund_no) {
        (RecordKind::Refund, Some(index)) => row.key(index)?,
        (RecordKind::Refund, None) if columns.status.is_some() => {
            return Err(RejectReason::MissingKey {
                column: mapping.columns.refund_no.clone().unwrap_or_default(),
            });
        }
        _ => order_no,
    };
    let amount = match kind {
        RecordKind::Refund => signed.abs(),
        RecordKind::Payment => signed,
    };
    let fee = row.optional_amount(columns.fee, mapping.amount_format)?;
    let time = match columns.date {
        None => row.time(columns.time, &mapping.datetime_format)?,
        Some(date) => {
            let text = format!("{} {}", row.text(date), row.text(columns.time));
            parse_time(&text, &mapping.datetime_format).ok_or_else(|| RejectReason::Time {
                column: format!(
                    "{} {}",
                    mapping.columns.date.as_deref().unwrap_or_default(),
                    mapping.columns.time
                ),
                text,
            })?
        }
    };
    Ok(Record {
        key: key.to_string(),
        order_no: order_no.to_string(),
        kind,
        amount,
        fee: fee.map(fee_scale),
        status,
        time,
        file: file.clone(),
        line,
    })
}

/// The row's amount, whole cents, signed: positive for money in.
fn signed_amount(
    row: &Row<'_>,
    columns: &Columns,
    format: AmountFormat,
) -> Result<Decimal, RejectReason> {
    match columns.amount {
        AmountColumns::Signed(index) => row.cents(index, format),
        AmountColumns::DebitCredit { debit, credit } => {
            let side = |index: usize| -> Result<Decimal, RejectReason> {
                if row.text(index).is_empty() {
                    Ok(Decimal::ZERO)
                } else {
                    row.cents(index, format)
                }
            };
            let (debit_amount, credit_amount) = (side(debit)?, side(credit)?);
            if debit_amount.is_zero() == credit_amount.is_zero() {
                let text = format!("{}|{}", row.text(debit), row.text(credit));
                return Err(RejectReason::Amount {
                    column: format!(
                        "{}/{}",
                        row.names.get(debit).cloned().unwrap_or_default(),
                        row.names.get(credit).cloned().unwrap_or_default()
                    ),
                    text,
                });
            }
            let net = credit_amount.abs() - debit_amount.abs();
            exact_cents(net).ok_or(RejectReason::Amount {
                column: "debit/credit".to_string(),
                text: net.to_string(),
            })
        }
    }
}
