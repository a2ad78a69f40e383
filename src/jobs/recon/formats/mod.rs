//! Statement readers: WeChat Pay trade bills, Alipay business detail bills,
//! bank/generic CSV (a TOML [`GenericMapping`]) and the ad-hoc ledger file.
//!
//! Every reader turns a file into a [`Statement`]: normalized [`Record`]s
//! (ledger statuses `SUCCESS`/`REFUND`/`CLOSED`, exact 2-dp amounts), a
//! [`Reject`] for every row it could not read (never dropped, never a panic),
//! the totals the file states about itself and the totals read. A file is
//! refused as a whole ([`FormatError`]) when its layout is wrong, its own
//! totals disagree with its rows, or most of its rows are rejects.
//!
//! Encoding policy: a line that is not valid in the declared encoding
//! becomes a `bad_encoding` reject with its line number (shown decoded
//! lossily); if that happens on the header or outside the table rows, the
//! file is refused with a layout error naming the line. A wholly wrong
//! encoding therefore fails through the mostly-rejects limit.
//!
//! The readers do no waiting and no database work; [`await_statement`] waits
//! for a file to arrive. Conventions are documented in `docs/recon-formats.md`.

mod alipay;
mod amount;
mod arrival;
mod collect;
mod container;
mod error;
mod generic;
mod record;
mod rejects;
mod row;
mod text;
mod wechat;

use std::path::Path;

pub use alipay::read_alipay;
pub(crate) use amount::parse_iso_seconds;
pub use amount::{AmountFormat, NegativeStyle, exact_cents, parse_formatted_amount, parse_time};
pub use arrival::{POLL_INTERVAL_MIN, await_statement, marker_paths};
pub use collect::ReadOptions;
pub use container::{DECOMPRESSED_MAX, Opened, open_bytes, open_bytes_limited, open_statement};
pub use error::FormatError;
pub use generic::{GenericColumns, GenericMapping, read_generic};
pub use record::{
    FormatName, LedgerStatus, ReadTotals, Record, RecordKind, Reject, RejectReason, StatedAmount,
    StatedTotals, Statement, StatementSummary,
};
pub use rejects::{REJECT_COLUMNS, REJECTS_FILE, RejectRow, reject_rows_report, rejects_report};
pub use text::TextEncoding;
pub use wechat::{NO_BILL_NOTE, read_wechat};

/// A statement format with what it needs to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementFormat {
    Wechat,
    Alipay,
    Generic(Box<GenericMapping>),
}

impl StatementFormat {
    /// The format for `--format NAME [--mapping TOML]`: `generic` without a
    /// mapping is the ledger layout ([`GenericMapping::ledger`]); a mapping
    /// with another format is refused.
    pub fn new(
        name: FormatName,
        mapping: Option<GenericMapping>,
    ) -> Result<StatementFormat, FormatError> {
        match (name, mapping) {
            (FormatName::Wechat, None) => Ok(StatementFormat::Wechat),
            (FormatName::Alipay, None) => Ok(StatementFormat::Alipay),
            (FormatName::Generic, mapping) => Ok(StatementFormat::Generic(Box::new(
                mapping.unwrap_or_else(GenericMapping::ledger),
            ))),
            (name, Some(_)) => Err(FormatError::Mapping(format!(
                "a mapping only applies to --format generic, not {}",
                name.as_str()
            ))),
        }
    }

    /// The format's name.
    pub fn name(&self) -> FormatName {
        match self {
            StatementFormat::Wechat => FormatName::Wechat,
            StatementFormat::Alipay => FormatName::Alipay,
            StatementFormat::Generic(_) => FormatName::Generic,
        }
    }
}

/// Reads a statement already in memory, handing each accepted record to
/// `sink` in file order instead of keeping them (for large files: the caller
/// builds its own columns). The records arrive before the whole-file checks
/// run: on `Err`, discard what the sink received.
pub fn stream_statement(
    path: &Path,
    bytes: &[u8],
    format: &StatementFormat,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    match format {
        StatementFormat::Wechat => read_wechat(path, bytes, options, sink),
        StatementFormat::Alipay => read_alipay(path, bytes, options, sink),
        StatementFormat::Generic(mapping) => read_generic(path, bytes, mapping, options, sink),
    }
}

/// Streams a statement file as [`stream_statement`] does, opening it first
/// ([`open_statement`]: a zip's `业务明细` member, a gzip stream, or the
/// plain file). An Alipay zip's `业务明细(汇总)` member is cross-checked
/// against the detail rows (counts, 商家实收, 服务费); a disagreement refuses
/// the file. Blocking I/O.
pub fn stream_statement_file(
    path: &Path,
    format: &StatementFormat,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    let opened = open_statement(path)?;
    stream_opened(path, &opened, format, options, sink)
}

/// [`stream_statement_file`] on a file already opened.
pub fn stream_opened(
    path: &Path,
    opened: &Opened,
    format: &StatementFormat,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record),
) -> Result<StatementSummary, FormatError> {
    let mut summary = stream_statement(path, &opened.bytes, format, options, sink)?;
    if let Some(member) = &opened.member {
        summary.notes.push(format!("read zip member {member}"));
    }
    if let (StatementFormat::Alipay, Some((member, bytes))) = (format, &opened.summary) {
        alipay::check_summary_file(path, member, bytes, &summary)?;
        summary
            .notes
            .push(format!("cross-checked against {member}"));
    }
    Ok(summary)
}

/// Reads a statement already in memory; `path` names it in records and errors.
pub fn parse_statement(
    path: &Path,
    bytes: &[u8],
    format: &StatementFormat,
    options: ReadOptions,
) -> Result<Statement, FormatError> {
    let mut records = Vec::new();
    let summary = stream_statement(path, bytes, format, options, &mut |record| {
        records.push(record)
    })?;
    Ok(Statement::new(summary, records))
}

/// Reads a statement file, zip or gzip included ([`stream_statement_file`];
/// blocking I/O: call it from `spawn_blocking` in async code).
pub fn read_statement(
    path: &Path,
    format: &StatementFormat,
    options: ReadOptions,
) -> Result<Statement, FormatError> {
    let opened = open_statement(path)?;
    let mut records = Vec::new();
    let summary = stream_opened(path, &opened, format, options, &mut |record| {
        records.push(record)
    })?;
    Ok(Statement::new(summary, records))
}

/// Reads the ad-hoc ledger file (`order_no,amount,status,completed_at[,fee][,refund_no]`).
pub fn read_ledger_file(path: &Path, options: ReadOptions) -> Result<Statement, FormatError> {
    let format = StatementFormat::Generic(Box::new(GenericMapping::ledger()));
    read_statement(path, &format, options)
}
