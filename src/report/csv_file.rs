//! A CSV report built in memory with a fixed header and row count.

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

    /// Appends one data row.
    pub fn row<I, T>(&mut self, fields: I) -> Result<(), ReportError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.writer
            .write_record(fields)
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
