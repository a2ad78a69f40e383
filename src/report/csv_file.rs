//! A CSV report built in memory with a fixed header and row count, safe to
//! open in Excel: every text cell is neutralised against formula injection.

use std::borrow::Cow;

use super::ReportError;

/// UTF-8 byte order mark, which Excel needs to read UTF-8 CSV correctly.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV file being built: `\n` line ends, minimal quoting, fixed header.
pub struct CsvReport {
    name: String,
    writer: csv::Writer<Vec<u8>>,
    rows: u64,
}

impl CsvReport {
    /// A report called `name` (e.g. `summary.csv`) with its header row.
    pub fn new(name: &str, header: &[&str], excel_bom: bool) -> Result<CsvReport, ReportError> {
        let buffer = if excel_bom {
            UTF8_BOM.to_vec()
        } else {
            Vec::new()
        };
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(buffer);
        let mut report = CsvReport {
            name: name.to_string(),
            writer,
            rows: 0,
        };
        report.write(header)?;
        report.rows = 0;
        Ok(report)
    }

    /// Appends one data row; each cell goes through [`neutralise`].
    pub fn row<I, T>(&mut self, fields: I) -> Result<(), ReportError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let fields: Vec<T> = fields.into_iter().collect();
        self.writer
            .write_record(fields.iter().map(|field| neutralise(field.as_ref())))
            .map_err(|source| ReportError::Csv {
                name: self.name.clone(),
                source,
            })?;
        self.rows += 1;
        Ok(())
    }

    fn write(&mut self, fields: &[&str]) -> Result<(), ReportError> {
        self.row(fields.iter())
    }

    /// The file name, the bytes, and the number of data rows.
    pub fn finish(self) -> Result<(String, Vec<u8>, u64), ReportError> {
        let name = self.name;
        let bytes = self.writer.into_inner().map_err(|e| ReportError::Csv {
            name: name.clone(),
            source: e.into_error().into(),
        })?;
        Ok((name, bytes, self.rows))
    }
}

/// CSV formula injection (OWASP "CSV Injection"): a spreadsheet evaluates a
/// cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return, and
/// report cells carry text we do not control (keys and raw lines of channel
/// files). Such a cell gets a leading `'`, which Excel shows as text and does
/// not evaluate. A plain number (`-12.30`, `+5`) is left as it is, so
/// negative amounts stay numbers.
pub fn neutralise(cell: &[u8]) -> Cow<'_, [u8]> {
    match cell.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if !is_plain_number(cell) => {
            let mut out = Vec::with_capacity(cell.len() + 1);
            out.push(b'\'');
            out.extend_from_slice(cell);
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(cell),
    }
}

/// `[+-]digits[.digits]`: a number Excel reads as a number, not a formula.
fn is_plain_number(cell: &[u8]) -> bool {
    let body = cell
        .strip_prefix(b"-")
        .or_else(|| cell.strip_prefix(b"+"))
        .unwrap_or(cell);
    let (whole, fraction) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], Some(&body[dot + 1..])),
        None => (body, None),
    };
    !whole.is_empty()
        && whole.iter().all(u8::is_ascii_digit)
        && fraction.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str) -> String {
        String::from_utf8(neutralise(text.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn formulas_become_text_and_numbers_stay_numbers() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\",\"y\")"),
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        assert_eq!(cell("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\t=1"), "'\t=1");
        assert_eq!(cell("\r=1"), "'\r=1");
        assert_eq!(cell("-"), "'-");
        assert_eq!(cell("-12.30"), "-12.30");
        assert_eq!(cell("-0.00006"), "-0.00006");
        assert_eq!(cell("+5"), "+5");
        assert_eq!(cell("-5."), "'-5.");
        assert_eq!(cell("P2026=1"), "P2026=1");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn every_row_of_a_report_is_neutralised() {
        let mut report = CsvReport::new("t.csv", &["key", "amount"], false).unwrap();
        report.row(["=1+1", "-3.00"]).unwrap();
        let (_, bytes, rows) = report.finish().unwrap();
        assert_eq!(rows, 1);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "key,amount\n'=1+1,-3.00\n"
        );
    }
}
