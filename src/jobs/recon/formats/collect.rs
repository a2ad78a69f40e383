//! Gathering rows into a [`Statement`] and the whole-file checks: too many
//! rejects, and the file's own totals against what was read.

use std::path::Path;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::error::FormatError;
use super::record::{
    FormatName, ReadTotals, Record, Reject, RejectReason, StatedTotals, StatementSummary,
};
use super::row::Row;
use csv::StringRecord;

use super::text::{RowSyntax, Table, TextEncoding, for_each_row, lines};

/// Whole-file limits applied by every reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// A file with more than this percentage of rejected rows is unusable.
    pub reject_limit_percent: u32,
}

impl Default for ReadOptions {
    /// At most half the rows may be rejected.
    fn default() -> Self {
        ReadOptions {
            reject_limit_percent: 50,
        }
    }
}

/// A total recomputed from the accepted rows, compared with the stated
/// amount of the same label.
#[derive(Debug, Clone)]
pub(crate) struct ReadFigure {
    pub label: &'static str,
    pub amount: Decimal,
}

/// What a file says about its own totals.
#[derive(Debug)]
pub(crate) enum Totals {
    /// The format has no totals (generic CSV, ledger files).
    NotPart,
    Stated(StatedTotals),
    /// The format always states totals but this file does not: it was cut short.
    Missing {
        expected: &'static str,
    },
}

/// Accumulates accepted records (handed to a sink) and rejects while a
/// reader walks a file.
pub(crate) struct Collector<'s> {
    pub file: Arc<Path>,
    sink: &'s mut dyn FnMut(Record),
    rejects: Vec<Reject>,
    read: ReadTotals,
}

impl<'s> Collector<'s> {
    pub fn new(path: &Path, sink: &'s mut dyn FnMut(Record)) -> Collector<'s> {
        Collector {
            file: Arc::from(path),
            sink,
            rejects: Vec::new(),
            read: ReadTotals::default(),
        }
    }

    fn accept(&mut self, record: Record) {
        self.read.add(&record);
        (self.sink)(record);
    }

    fn reject(&mut self, line: u64, reason: RejectReason, raw: &str) {
        self.read.rejects += 1;
        self.rejects.push(Reject {
            file: self.file.clone(),
            line,
            reason,
            raw: raw.to_string(),
        });
    }

    /// Rejects the undecodable lines that fall among the table's rows; such
    /// a line anywhere else (above or as the header, in a summary or footer)
    /// is a layout error. Call before looking at the header's columns.
    pub fn check_encoding(
        &mut self,
        table: &Table<'_>,
        bad_lines: &[(u64, String)],
        encoding: TextEncoding,
    ) -> Result<(), FormatError> {
        if bad_lines.is_empty() {
            return Ok(());
        }
        let rows = table.lines();
        for (line, raw) in bad_lines {
            if !rows.contains(line) {
                return Err(FormatError::Layout {
                    path: self.file.to_path_buf(),
                    line: *line,
                    reason: format!(
                        "the line is not valid {} (and is not a table row)",
                        encoding.name()
                    ),
                });
            }
            let reason = RejectReason::Encoding {
                encoding: encoding.name(),
            };
            self.reject(*line, reason, raw);
        }
        Ok(())
    }

    /// Walks the table's rows: a row with the wrong number of fields or that
    /// `parse` refuses becomes a reject, every other row a record.
    pub fn read_rows(
        &mut self,
        table: &Table<'_>,
        syntax: RowSyntax,
        mut parse: impl FnMut(&Row<'_>, u64) -> Result<Record, RejectReason>,
    ) {
        let names = table.header.names();
        for_each_row(table.body, table.first_line, syntax, |line, fields, raw| {
            let outcome = fields
                .map_err(|detail| RejectReason::Syntax { detail })
                .and_then(|fields| {
                    if fields.len() != names.len() {
                        return Err(RejectReason::FieldCount {
                            expected: names.len(),
                            found: fields.len(),
                        });
                    }
                    parse(&Row { fields, names }, line)
                });
            match outcome {
                Ok(record) => self.accept(record),
                Err(reason) => self.reject(line, reason, raw),
            }
        });
    }

    /// Walks the table's lines as rows split by `split` (formats that are not
    /// CSV: WeChat's backtick-led fields). Blank lines are no rows.
    pub fn read_split_rows(
        &mut self,
        table: &Table<'_>,
        split: impl Fn(&str) -> StringRecord,
        mut parse: impl FnMut(&Row<'_>, u64) -> Result<Record, RejectReason>,
    ) {
        let names = table.header.names();
        for line in lines(table.body) {
            if line.is_blank() {
                continue;
            }
            let number = table.first_line + line.number - 1;
            let fields = split(line.text);
            let outcome = if fields.len() != names.len() {
                Err(RejectReason::FieldCount {
                    expected: names.len(),
                    found: fields.len(),
                })
            } else {
                parse(
                    &Row {
                        fields: &fields,
                        names,
                    },
                    number,
                )
            };
            match outcome {
                Ok(record) => self.accept(record),
                Err(reason) => self.reject(number, reason, line.text),
            }
        }
    }

    /// Applies the reject limit, then the self-check, and builds the statement.
    ///
    /// Self-check rule: the stated row count must equal accepted plus rejected
    /// rows (a truncated or padded file fails); each stated amount that has a
    /// recomputed figure of the same label must match it exactly — checked
    /// only when nothing was rejected, since a rejected row's amounts are
    /// unknown (the rejects are then the explanation, shown in `rejects.csv`).
    pub fn finish(
        mut self,
        format: FormatName,
        totals: Totals,
        figures: &[ReadFigure],
        options: ReadOptions,
    ) -> Result<StatementSummary, FormatError> {
        self.rejects.sort_by_key(|reject| reject.line);
        let rows = self.read.rows();
        let rejected = self.read.rejects;
        let limit = u64::from(options.reject_limit_percent);
        if rows > 0 && rejected * 100 > limit * rows {
            return Err(FormatError::MostlyRejects {
                path: self.file.to_path_buf(),
                rejected,
                rows,
                limit_percent: options.reject_limit_percent,
                rejects: self.rejects,
            });
        }
        let stated = match totals {
            Totals::NotPart => None,
            Totals::Stated(stated) => Some(stated),
            Totals::Missing { expected } => {
                return Err(FormatError::SelfCheck {
                    path: self.file.to_path_buf(),
                    figure: expected.to_string(),
                    stated: "nothing (the file ends without them)".to_string(),
                    read: format!("{} rows", rows),
                    rejects: self.rejects,
                });
            }
        };
        if let Some(stated) = &stated
            && let Err((figure, stated, read)) = self_check(stated, figures, &self.read)
        {
            return Err(FormatError::SelfCheck {
                path: self.file.to_path_buf(),
                figure,
                stated,
                read,
                rejects: self.rejects,
            });
        }
        Ok(StatementSummary {
            file: self.file,
            format,
            rejects: self.rejects,
            stated,
            read: self.read,
            notes: Vec::new(),
        })
    }
}

/// `Err((figure, stated, read))` for the first disagreement.
fn self_check(
    stated: &StatedTotals,
    figures: &[ReadFigure],
    read: &ReadTotals,
) -> Result<(), (String, String, String)> {
    if stated.count != read.rows() {
        return Err((
            "the number of rows".to_string(),
            stated.count.to_string(),
            format!(
                "{} ({} accepted, {} rejected)",
                read.rows(),
                read.count(),
                read.rejects
            ),
        ));
    }
    if read.rejects > 0 {
        return Ok(());
    }
    for amount in &stated.amounts {
        let Some(figure) = figures.iter().find(|f| f.label == amount.label) else {
            continue;
        };
        if figure.amount != amount.amount {
            return Err((
                amount.label.clone(),
                amount.amount.to_string(),
                figure.amount.to_string(),
            ));
        }
    }
    Ok(())
}
