//! Reading a side into columns.
//!
//! Ledger-layout files (`order_no,amount,status,completed_at[,fee][,refund_no]`,
//! the ad-hoc ledger and `--format generic` without a mapping) take a fast
//! path: the file is cut into blocks at line ends, each block is parsed by
//! polars' multi-threaded CSV reader with every column as text, and the
//! columns are then validated and converted; rows that fail become rejects
//! with their line number and raw text. Line numbers are exact because each
//! block must give one row per line; anything the fast path cannot vouch for
//! (an unusual header, quoted line breaks, blank lines, bad UTF-8, a polars
//! error) sends the whole file to the row-by-row reader of
//! [`crate::jobs::recon::formats`], which is exact but slower.
//! Other formats (WeChat, Alipay, mapped generic CSV) always use those readers.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame, DataType, NewChunkedArray, Schema, SerReader,
    StringChunked,
};

use super::EngineError;
use super::minor_units::{AMOUNT_SCALE, FEE_SCALE, parse_units};
use super::side::{NO_FEE, Side, SideBuilder, SideName, key_hash};
use crate::jobs::recon::formats::{
    FormatError, LedgerStatus, ReadOptions, Reject, RejectReason, StatementFormat,
    read_ledger_file, stream_statement_file,
};

/// Bytes handed to polars at a time: bounds memory to about this much text
/// plus its parsed columns, whatever the file size.
const BLOCK_BYTES: usize = 16 << 20;
/// The columns of the ledger layout, in canonical order.
const COLUMNS: [&str; 6] = [
    "order_no",
    "amount",
    "status",
    "completed_at",
    "fee",
    "refund_no",
];
const REQUIRED_COLUMNS: usize = 4;

/// A side read from a file, and how it was read.
#[derive(Debug)]
pub struct LedgerRead {
    pub side: Side,
    /// True when the fast polars path read it; false for the row-by-row reader.
    pub fast_path: bool,
    /// What the reader noted about the file (a saved `No Bill Exist` answer, the zip
    /// member read, a 汇总 cross-check); empty for a ledger-layout file.
    pub notes: Vec<String>,
}

/// Reads a ledger-layout file as `name`, fast path first.
pub fn read_ledger_layout(
    path: &Path,
    name: SideName,
    options: ReadOptions,
) -> Result<LedgerRead, EngineError> {
    match read_fast(path, name, options)? {
        Some(side) => Ok(LedgerRead {
            side,
            fast_path: true,
            notes: Vec::new(),
        }),
        None => {
            let statement = read_ledger_file(path, options)?;
            let mut builder = SideBuilder::new(name);
            for record in &statement.records {
                builder.push_record(record);
            }
            builder.push_rejects(statement.rejects);
            Ok(LedgerRead {
                side: builder.finish(),
                fast_path: false,
                notes: Vec::new(),
            })
        }
    }
}

/// Reads a statement in any format as the statement side; the ledger layout
/// (`--format generic` without a mapping) takes the fast path.
pub fn read_statement_side(
    path: &Path,
    format: &StatementFormat,
    ledger_layout: bool,
    options: ReadOptions,
) -> Result<LedgerRead, EngineError> {
    if ledger_layout {
        return read_ledger_layout(path, SideName::Statement, options);
    }
    let mut builder = SideBuilder::new(SideName::Statement);
    let summary = stream_statement_file(path, format, options, &mut |record| {
        builder.push_record(&record)
    })?;
    builder.push_rejects(summary.rejects);
    // A file that only has rejects is still this side's file.
    let file: Arc<Path> = summary.file.clone();
    builder.file_index(&file);
    Ok(LedgerRead {
        side: builder.finish(),
        fast_path: false,
        notes: summary.notes,
    })
}

/// Which ledger columns a header has, by position.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// For each of [`COLUMNS`], its position in the file (if present).
    pub(super) position: [Option<usize>; 6],
    pub(super) width: usize,
}

/// The layout of a ledger-layout header line (BOM and `\r` allowed).
pub(super) fn parse_header(line: &[u8]) -> Option<Layout> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).ok()?;
    let mut position = [None; 6];
    let names: Vec<&str> = text.split(',').collect();
    for (index, name) in names.iter().enumerate() {
        let column = COLUMNS.iter().position(|c| c == name)?;
        if position[column].replace(index).is_some() {
            return None;
        }
    }
    position[..REQUIRED_COLUMNS]
        .iter()
        .all(Option::is_some)
        .then_some(Layout {
            position,
            width: names.len(),
        })
}

/// The fast path; `Ok(None)` when the file must go to the exact reader.
fn read_fast(
    path: &Path,
    name: SideName,
    options: ReadOptions,
) -> Result<Option<Side>, EngineError> {
    let io_error = |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let file_bytes = file.metadata().map_err(io_error)?.len();
    let mut bytes_done: u64 = 0;
    let file_path: Arc<Path> = Arc::from(path);
    let mut builder = SideBuilder::new(name);
    let file_index = builder.file_index(&file_path);
    let mut buffer: Vec<u8> = Vec::with_capacity(BLOCK_BYTES + (1 << 16));
    let mut layout: Option<Layout> = None;
    let mut next_line: u64 = 1;
    let mut rows: u64 = 0;
    let mut at_eof = false;
    while !at_eof {
        let filled = buffer.len();
        buffer.resize(BLOCK_BYTES.max(filled * 2), 0);
        let read = read_full(&mut file, &mut buffer[filled..]).map_err(io_error)?;
        buffer.truncate(filled + read);
        at_eof = read == 0;
        let end = if at_eof {
            buffer.len()
        } else {
            match buffer.iter().rposition(|&b| b == b'\n') {
                Some(last) => last + 1,
                None => continue,
            }
        };
        let mut block = &buffer[..end];
        if layout.is_none() {
            let header_end = block
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(block.len());
            match parse_header(&block[..header_end]) {
                Some(found) => layout = Some(found),
                None => return Ok(None),
            }
            block = &block[(header_end + 1).min(block.len())..];
            next_line = 2;
        }
        let Some(layout) = layout.as_ref() else {
            return Ok(None);
        };
        if !block.is_empty() {
            let Some(lines) = read_block(
                block,
                layout,
                next_line,
                &file_path,
                file_index,
                &mut builder,
            ) else {
                return Ok(None);
            };
            next_line += lines;
            rows += lines;
            if bytes_done == 0 && !at_eof {
                // Size the columns once from the first block's bytes per row (+2 %).
                let estimate = file_bytes as f64 * lines as f64 / end as f64 * 1.02;
                builder.reserve((estimate as usize).saturating_sub(lines as usize));
            }
        }
        bytes_done += end as u64;
        buffer.drain(..end);
    }
    if layout.is_none() {
        return Ok(None);
    }
    let side = builder.finish();
    let rejected = side.totals.rejects;
    let limit = u64::from(options.reject_limit_percent);
    if rows > 0 && rejected * 100 > limit * rows {
        return Err(FormatError::MostlyRejects {
            path: path.to_path_buf(),
            rejected,
            rows,
            limit_percent: options.reject_limit_percent,
            rejects: side.rejects,
        }
        .into());
    }
    Ok(Some(side))
}

pub(super) fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buffer.len() {
        match file.read(&mut buffer[total..])? {
            0 => break,
            read => total += read,
        }
    }
    Ok(total)
}

/// Parses one block of whole lines; `None` if polars did not give exactly one
/// row per line (or failed), in which case the exact reader takes over.
fn read_block(
    block: &[u8],
    layout: &Layout,
    first_line: u64,
    file: &Arc<Path>,
    file_index: u16,
    builder: &mut SideBuilder,
) -> Option<u64> {
    let t0 = std::time::Instant::now();
    let newlines = block.iter().filter(|&&b| b == b'\n').count() as u64;
    let lines = newlines + u64::from(!block.ends_with(b"\n"));
    let t1 = std::time::Instant::now();
    let frame = polars_block(block, layout.width).ok()?;
    let t2 = std::time::Instant::now();
    if frame.height() as u64 != lines {
        return None;
    }
    let text = |name: &str| -> Option<StringChunked> {
        Some(frame.column(name).ok()?.str().ok()?.rechunk().into_owned())
    };
    let columns: Vec<Option<StringChunked>> = layout
        .position
        .iter()
        .map(|position| position.and_then(|p| text(&format!("c{p}"))))
        .collect();
    let extra = text(&format!("c{}", layout.width))?;
    let arrays = BlockArrays {
        order_no: array(columns[0].as_ref())?,
        amount: array(columns[1].as_ref())?,
        status: array(columns[2].as_ref())?,
        time: array(columns[3].as_ref())?,
        fee: array(columns[4].as_ref()),
        refund_no: array(columns[5].as_ref()),
        extra: extra.downcast_as_array(),
    };
    // Validation runs on every core, one contiguous range of rows each.
    let height = frame.height();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, THREADS_MAX);
    let per_thread = height.div_ceil(threads).max(1);
    let parts: Vec<Option<ValidatedRange>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..height)
            .step_by(per_thread)
            .map(|start| {
                let arrays = &arrays;
                scope.spawn(move || arrays.validate(start, (start + per_thread).min(height)))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().ok())
            .collect()
    });
    let t3 = std::time::Instant::now();
    let mut failures = Vec::new();
    for part in parts {
        let part = part?;
        builder.append_keys(StringChunked::from_slice("key".into(), &part.keys));
        for row in part.rows {
            builder.push_columns(
                row.hash,
                row.status == LedgerStatus::Refund,
                row.status,
                row.amount,
                row.fee,
                row.time,
                file_index,
                first_line + row.row as u64,
                (row.status == LedgerStatus::Refund).then_some(row.order_no),
            );
        }
        failures.extend(part.failures);
    }
    builder.push_rejects(rejects_of(block, layout.width, first_line, file, failures));
    tracing::trace!(count = ?(t1 - t0), polars = ?(t2 - t1), validate = ?(t3 - t2), push = ?t3.elapsed(), "block");
    Some(lines)
}

/// Threads validating one block at most.
const THREADS_MAX: usize = 16;

fn array(column: Option<&StringChunked>) -> Option<&TextArray> {
    column.map(|c| c.downcast_as_array())
}

type TextArray = <polars::prelude::StringType as polars::prelude::PolarsDataType>::Array;

/// A block's text columns (single-chunk arrays borrowed from the frame).
struct BlockArrays<'a> {
    order_no: &'a TextArray,
    amount: &'a TextArray,
    status: &'a TextArray,
    time: &'a TextArray,
    fee: Option<&'a TextArray>,
    refund_no: Option<&'a TextArray>,
    extra: &'a TextArray,
}

/// The outcome of validating rows `start..end` of a block.
struct ValidatedRange<'a> {
    keys: Vec<&'a str>,
    rows: Vec<ValidRow<'a>>,
    failures: Vec<(usize, RejectReason)>,
}

impl<'a> BlockArrays<'a> {
    fn validate(&self, start: usize, end: usize) -> ValidatedRange<'a> {
        let mut out = ValidatedRange {
            keys: Vec::with_capacity(end - start),
            rows: Vec::with_capacity(end - start),
            failures: Vec::new(),
        };
        // Fields are trimmed of spaces (and a CRLF's `\r`), as the exact reader does.
        let field = |array: &'a TextArray, row: usize| array.get(row).map(str::trim);
        for row in start..end {
            let fields = RowFields {
                order_no: field(self.order_no, row),
                amount: field(self.amount, row),
                status: field(self.status, row),
                time: field(self.time, row),
                fee: self.fee.and_then(|a| field(a, row)),
                refund_no: self.refund_no.and_then(|a| field(a, row)),
                extra: self.extra.get(row).is_some(),
            };
            match fields.validate() {
                Ok(valid) => {
                    out.keys.push(valid.key);
                    let hash = key_hash(valid.key);
                    out.rows.push(ValidRow { row, hash, ..valid });
                }
                Err(reason) => out.failures.push((row, reason)),
            }
        }
        out
    }
}

/// Every column as text, plus one extra column that is non-empty only when
/// a row has more fields than the header.
fn polars_block(block: &[u8], width: usize) -> polars::prelude::PolarsResult<DataFrame> {
    let schema: Schema = (0..=width)
        .map(|index| (format!("c{index}").into(), DataType::String))
        .collect();
    let parse = CsvParseOptions::default()
        .with_truncate_ragged_lines(true)
        .with_missing_is_null(true);
    CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_parse_options(parse)
        .with_rechunk(false)
        .into_reader_with_file_handle(std::io::Cursor::new(block))
        .finish()
}

/// The text fields of one row (after polars split it), trimmed; a field
/// polars reads as null (empty) may be `None` or `Some("")`: both validate alike.
pub(super) struct RowFields<'a> {
    pub(super) order_no: Option<&'a str>,
    pub(super) amount: Option<&'a str>,
    pub(super) status: Option<&'a str>,
    pub(super) time: Option<&'a str>,
    pub(super) fee: Option<&'a str>,
    pub(super) refund_no: Option<&'a str>,
    /// The row has a non-empty field beyond the header's width.
    pub(super) extra: bool,
}

/// A row that passed every check.
pub(super) struct ValidRow<'a> {
    /// Row index within its block.
    row: usize,
    hash: u64,
    pub(super) key: &'a str,
    pub(super) order_no: &'a str,
    pub(super) amount: i64,
    pub(super) status: LedgerStatus,
    pub(super) fee: i64,
    pub(super) time: i64,
}

impl<'a> RowFields<'a> {
    pub(super) fn validate(&self) -> Result<ValidRow<'a>, RejectReason> {
        let text = |value: Option<&str>| value.unwrap_or("").to_string();
        if self.extra {
            // The real count comes from the raw line in `rejects_of`.
            return Err(RejectReason::FieldCount {
                expected: 0,
                found: 0,
            });
        }
        let order_no = self
            .order_no
            .filter(|s| !s.is_empty())
            .ok_or(RejectReason::MissingKey {
                column: "order_no".to_string(),
            })?;
        let amount = self
            .amount
            .and_then(|s| parse_units(s, AMOUNT_SCALE))
            .ok_or_else(|| RejectReason::Amount {
                column: "amount".to_string(),
                text: text(self.amount),
            })?;
        let status = self.status.and_then(LedgerStatus::parse).ok_or_else(|| {
            RejectReason::UnknownStatus {
                column: "status".to_string(),
                text: text(self.status),
            }
        })?;
        let time = self
            .time
            .and_then(parse_local_seconds)
            .ok_or_else(|| RejectReason::Time {
                column: "completed_at".to_string(),
                text: text(self.time),
            })?;
        let fee = match self.fee.filter(|s| !s.is_empty()) {
            None => NO_FEE,
            Some(fee) => parse_units(fee, FEE_SCALE).ok_or_else(|| RejectReason::Amount {
                column: "fee".to_string(),
                text: fee.to_string(),
            })?,
        };
        let key = if status == LedgerStatus::Refund {
            self.refund_no
                .filter(|s| !s.is_empty())
                .ok_or(RejectReason::MissingKey {
                    column: "refund_no".to_string(),
                })?
        } else {
            order_no
        };
        Ok(ValidRow {
            row: 0,
            hash: 0,
            key,
            order_no,
            amount,
            status,
            fee,
            time,
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS` as seconds since 1970-01-01 00:00:00 (wall time, no
/// zone), through the statement readers' fast path so both accept the same texts.
pub(crate) fn parse_local_seconds(text: &str) -> Option<i64> {
    crate::jobs::recon::formats::parse_iso_seconds(text).map(|t| t.and_utc().timestamp())
}

/// Rejects for the failed rows of a block, with raw text and the exact
/// field count taken from the line itself. A blank line is no row at all
/// (as for the exact reader): it is skipped, not rejected.
fn rejects_of(
    block: &[u8],
    width: usize,
    first_line: u64,
    file: &Arc<Path>,
    failures: Vec<(usize, RejectReason)>,
) -> Vec<Reject> {
    if failures.is_empty() {
        return Vec::new();
    }
    let lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
    failures
        .into_iter()
        .filter_map(|(row, reason)| {
            let raw_bytes = lines.get(row).copied().unwrap_or(&[]);
            reject_of(raw_bytes, width, first_line + row as u64, file, reason)
        })
        .collect()
}

/// The reject of a failed line (its `\r` stripped here): the exact field
/// count taken from the line itself; `None` for a blank line (no row at all).
pub(super) fn reject_of(
    raw_bytes: &[u8],
    width: usize,
    line: u64,
    file: &Arc<Path>,
    reason: RejectReason,
) -> Option<Reject> {
    let raw_bytes = raw_bytes.strip_suffix(b"\r").unwrap_or(raw_bytes);
    if raw_bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let raw = String::from_utf8_lossy(raw_bytes).into_owned();
    let found = count_fields(raw_bytes);
    let reason = if found != width {
        RejectReason::FieldCount {
            expected: width,
            found,
        }
    } else {
        reason
    };
    Some(Reject {
        file: file.clone(),
        line,
        reason,
        raw,
    })
}

/// Fields in a CSV line, honouring double quotes.
fn count_fields(line: &[u8]) -> usize {
    let mut quoted = false;
    let mut fields = 1;
    for &byte in line {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => fields += 1,
            _ => {}
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wall_time() {
        // 2026-11-21 00:00:00 = 20778 days after 1970-01-01 (Python: date(2026,11,21).toordinal() - date(1970,1,1).toordinal()).
        assert_eq!(
            parse_local_seconds("2026-11-21 00:00:00"),
            Some(20_778 * 86_400)
        );
        assert_eq!(
            parse_local_seconds("2026-11-21 23:59:59"),
            Some(20_778 * 86_400 + 86_399)
        );
        assert_eq!(parse_local_seconds("2026-02-30 00:00:00"), None);
        assert_eq!(parse_local_seconds("2026-11-21T00:00:00"), None);
        assert_eq!(parse_local_seconds("2026-11-21 24:00:00"), None);
        assert_eq!(
            parse_local_seconds("2024-02-29 00:00:00"),
            Some(19_782 * 86_400)
        );
        assert_eq!(parse_local_seconds("2100-02-29 00:00:00"), None);
        assert_eq!(parse_local_seconds("1970-01-01 00:00:01"), Some(1));
    }

    #[test]
    fn header_by_name() {
        let layout = parse_header(b"order_no,amount,status,completed_at,fee,refund_no").unwrap();
        assert_eq!(layout.width, 6);
        let layout = parse_header(b"\xEF\xBB\xBFstatus,order_no,completed_at,amount\r").unwrap();
        assert_eq!(layout.position[0], Some(1));
        assert_eq!(layout.position[4], None);
        assert!(parse_header(b"order_no,amount,status").is_none());
        assert!(parse_header(b"order_no,amount,status,completed_at,memo").is_none());
    }
}
