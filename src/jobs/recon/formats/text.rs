//! Bytes to rows: decoding (UTF-8 or GBK) with per-line failures, locating
//! lines, header lookup by column name and CSV row iteration with line numbers.

use std::borrow::Cow;
use std::path::Path;

use csv::StringRecord;

use super::error::FormatError;

/// The character encoding a statement file is declared to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// GBK (decoded as its superset GB18030, as every Chinese bank and Alipay file expects).
    #[serde(rename = "gbk", alias = "GBK", alias = "gb18030", alias = "gb2312")]
    Gbk,
}

impl TextEncoding {
    /// `UTF-8` or `GBK`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gbk => "GBK",
        }
    }

    /// Borrows when it can: valid UTF-8, or GBK that is plain ASCII.
    fn decode_strict(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        match self {
            TextEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            TextEncoding::Gbk => {
                encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes)
            }
        }
    }

    fn decode_lossy(self, bytes: &[u8]) -> String {
        match self {
            TextEncoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            TextEncoding::Gbk => encoding_rs::GBK
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
        }
    }
}

/// A decoded file. Lines that were not valid in the encoding are replaced by
/// empty lines (so line numbers stay right) and listed in `bad_lines`.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// (1-based line number, the line decoded lossily).
    pub bad_lines: Vec<(u64, String)>,
}

/// Decodes `bytes`; a leading UTF-8 byte order mark is dropped. Both encodings
/// keep `\n` as a single byte (GBK trail bytes are ≥ 0x40), so a bad line
/// never swallows its neighbours.
pub(crate) fn decode(bytes: &[u8], encoding: TextEncoding) -> Decoded<'_> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some(text) = encoding.decode_strict(bytes) {
        return Decoded {
            text,
            bad_lines: Vec::new(),
        };
    }
    let mut text = String::with_capacity(bytes.len());
    let mut bad_lines = Vec::new();
    for (index, chunk) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        match encoding.decode_strict(chunk) {
            Some(line) => text.push_str(&line),
            None => {
                let line = chunk.strip_suffix(b"\n").unwrap_or(chunk);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                bad_lines.push((index as u64 + 1, encoding.decode_lossy(line)));
                if chunk.ends_with(b"\n") {
                    text.push('\n');
                }
            }
        }
    }
    Decoded {
        text: Cow::Owned(text),
        bad_lines,
    }
}

/// One physical line: its 1-based number, where it starts, where the next
/// line starts, and its content without the line ending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub number: u64,
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
}

impl Line<'_> {
    /// Empty once padding (and a lone backtick) is removed.
    pub fn is_blank(&self) -> bool {
        clean(self.text).is_empty()
    }
}

/// The lines of a text, without storing them (statements can be large).
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    text: &'a str,
    position: usize,
    number: u64,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let rest = self
            .text
            .get(self.position..)
            .filter(|rest| !rest.is_empty())?;
        let (length, content) = match rest.find('\n') {
            Some(at) => (at + 1, &rest[..at]),
            None => (rest.len(), rest),
        };
        self.number += 1;
        let line = Line {
            number: self.number,
            start: self.position,
            end: self.position + length,
            text: content.strip_suffix('\r').unwrap_or(content),
        };
        self.position += length;
        Some(line)
    }
}

/// The lines of `text`, numbered from 1.
pub(crate) fn lines(text: &str) -> Lines<'_> {
    Lines {
        text,
        position: 0,
        number: 0,
    }
}

/// The rows of a statement: the header and the text between it and whatever
/// follows the table (summary rows, footer), with the line number it starts on.
#[derive(Debug)]
pub(crate) struct Table<'a> {
    pub header: Header,
    pub body: &'a str,
    pub first_line: u64,
}

impl<'a> Table<'a> {
    /// The table whose header is `header` and whose rows end at byte `body_end`.
    pub fn new(text: &'a str, header: Line<'_>, body_end: usize, delimiter: u8) -> Table<'a> {
        let body_start = header.end.min(body_end);
        Table {
            header: Header::parse(header, delimiter),
            body: text.get(body_start..body_end).unwrap_or(""),
            first_line: header.number + 1,
        }
    }

    /// The line numbers of the rows (empty when there are none).
    pub fn lines(&self) -> std::ops::RangeInclusive<u64> {
        let newlines = self.body.bytes().filter(|b| *b == b'\n').count() as u64;
        let count = newlines + u64::from(!self.body.is_empty() && !self.body.ends_with('\n'));
        self.first_line..=self.first_line + count - 1
    }
}

/// A field as a statement means it: surrounding spaces and tabs (including the
/// full-width space) removed, and WeChat's leading backtick dropped.
pub(crate) fn clean(field: &str) -> &str {
    let is_pad = |c: char| c.is_whitespace() || c == '\u{3000}';
    let trimmed = field.trim_matches(is_pad);
    trimmed
        .strip_prefix('`')
        .unwrap_or(trimmed)
        .trim_matches(is_pad)
}

/// Normalizes a column name for lookup: cleaned, full-width parentheses as ASCII.
fn column_key(name: &str) -> String {
    clean(name).replace('（', "(").replace('）', ")")
}

/// A header row: column names by position.
#[derive(Debug)]
pub(crate) struct Header {
    keys: Vec<String>,
    names: Vec<String>,
    pub line: u64,
}

impl Header {
    /// Parses the header line with the given delimiter.
    pub fn parse(line: Line<'_>, delimiter: u8) -> Header {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(line.text.as_bytes());
        let names: Vec<String> = match reader.records().next() {
            Some(Ok(record)) => record.iter().map(|name| clean(name).to_string()).collect(),
            _ => Vec::new(),
        };
        Header {
            keys: names.iter().map(|name| column_key(name)).collect(),
            names,
            line: line.number,
        }
    }

    /// The column names as written (cleaned).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position of a column, if present.
    pub fn find(&self, name: &str) -> Option<usize> {
        let wanted = column_key(name);
        self.keys.iter().position(|key| *key == wanted)
    }

    /// The position of a column the format cannot do without.
    pub fn require(&self, name: &str, path: &Path) -> Result<usize, FormatError> {
        self.find(name).ok_or_else(|| FormatError::MissingColumn {
            path: path.to_path_buf(),
            line: self.line,
            column: name.to_string(),
        })
    }
}

/// How to split a table body into rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowSyntax {
    pub delimiter: u8,
    /// Lines starting with this byte are skipped.
    pub comment: Option<u8>,
}

/// Calls `visit(line, fields, raw)` for every non-empty CSV row of `body`,
/// whose first line is line `first_line` of the file. A row the CSV parser
/// cannot read is passed as `Err(detail)`.
pub(crate) fn for_each_row(
    body: &str,
    first_line: u64,
    syntax: RowSyntax,
    mut visit: impl FnMut(u64, Result<&StringRecord, String>, &str),
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(syntax.delimiter)
        .comment(syntax.comment)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut record = StringRecord::new();
    loop {
        let start = reader.position().clone();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let position = record.position().cloned().unwrap_or(start);
                let (line, raw) = locate(body, first_line, &position, syntax.comment);
                visit(line, Ok(&record), raw);
            }
            Err(error) => {
                let (line, raw) = locate(body, first_line, &start, syntax.comment);
                visit(line, Err(error.to_string()), raw);
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
}

/// The file line number and raw text of a record at `position`. The csv
/// crate may report a record as starting on the line ending of the line
/// before (after a `\r\n` it ends the record at `\r`), so line endings at
/// the position are skipped and counted first, and so are comment lines
/// (their position is that of the comment).
fn locate<'a>(
    body: &'a str,
    first_line: u64,
    position: &csv::Position,
    comment: Option<u8>,
) -> (u64, &'a str) {
    let mut start = usize::try_from(position.byte()).unwrap_or(body.len());
    let mut line = first_line + position.line().saturating_sub(1);
    let bytes = body.as_bytes();
    while let Some(&byte) = bytes.get(start) {
        let line_start = start == 0 || bytes.get(start - 1) == Some(&b'\n');
        match byte {
            b'\n' => line += 1,
            b'\r' => {}
            _ if line_start && Some(byte) == comment => {
                match bytes[start..].iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        start += end;
                        continue;
                    }
                    None => start = bytes.len(),
                }
            }
            _ => break,
        }
        start += 1;
    }
    let rest = body.get(start..).unwrap_or("");
    let raw = rest.split('\n').next().unwrap_or("");
    (line, raw.strip_suffix('\r').unwrap_or(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(body: &str) -> Vec<(u64, String, String)> {
        let mut out = Vec::new();
        let syntax = RowSyntax {
            delimiter: b',',
            comment: Some(b'#'),
        };
        for_each_row(body, 10, syntax, |line, fields, raw| {
            let first = fields
                .map(|f| f.get(0).unwrap_or("").to_string())
                .unwrap_or_default();
            out.push((line, first, raw.to_string()));
        });
        out
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_comments_and_quotes() {
        let want = |rows: &[(u64, &str, &str)]| -> Vec<(u64, String, String)> {
            rows.iter()
                .map(|(l, f, r)| (*l, f.to_string(), r.to_string()))
                .collect()
        };
        assert_eq!(
            rows("a,1\nb,2\n\nc,3\n"),
            want(&[(10, "a", "a,1"), (11, "b", "b,2"), (13, "c", "c,3")])
        );
        assert_eq!(
            rows("a,1\r\nb,2\r\n\r\nc,3\r\n"),
            want(&[(10, "a", "a,1"), (11, "b", "b,2"), (13, "c", "c,3")])
        );
        assert_eq!(
            rows("a,1\n# note\n\"x,y\",2\nc,3"),
            want(&[(10, "a", "a,1"), (12, "x,y", "\"x,y\",2"), (13, "c", "c,3")])
        );
    }

    #[test]
    fn bad_lines_are_blanked_and_listed() {
        let decoded = decode(b"\xEF\xBB\xBFok\r\nbad \xFF\r\nok\r\n", TextEncoding::Utf8);
        assert_eq!(decoded.text, "ok\r\n\nok\r\n");
        assert_eq!(decoded.bad_lines, vec![(2, "bad \u{FFFD}".to_string())]);
        let gbk = decode(&[0xD6, 0xD0, b'\n', 0x81, 0x20, b'\n'], TextEncoding::Gbk);
        assert_eq!(gbk.text, "中\n\n");
        assert_eq!(gbk.bad_lines.len(), 1);
        assert_eq!(gbk.bad_lines[0].0, 2);
    }

    #[test]
    fn fields_lose_padding_and_backticks() {
        assert_eq!(clean("`P2026 "), "P2026");
        assert_eq!(clean("\t12.00\t"), "12.00");
        assert_eq!(clean("\u{3000}` 5 "), "5");
    }
}
