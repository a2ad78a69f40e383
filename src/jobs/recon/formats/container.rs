//! Compressed statements, opened before a reader sees them: Alipay delivers
//! `…csv.zip` holding `…业务明细.csv` and `…业务明细(汇总).csv`; WeChat's
//! `tar_type=GZIP` download is a gzip stream. Told apart by their magic
//! bytes, not their names. Decompressed sizes are bounded (a zip bomb is a
//! clear error, never an unbounded allocation).

use std::io::{Cursor, Read};
use std::path::Path;

use super::error::FormatError;

/// Most bytes one decompressed statement may have.
pub const DECOMPRESSED_MAX: u64 = 1 << 31;

/// A statement's bytes as the reader wants them.
#[derive(Debug)]
pub struct Opened {
    /// The statement text (the detail member of a zip, the inflated gzip, or the file).
    pub bytes: Vec<u8>,
    /// The zip member read, when the file was a zip.
    pub member: Option<String>,
    /// Alipay's `业务明细(汇总)` member (name, bytes), when the zip has one.
    pub summary: Option<(String, Vec<u8>)>,
    /// How the file was opened: `plain`, `zip` or `gzip`.
    pub container: &'static str,
}

/// Reads `path` and opens it: a zip (the `业务明细` member, and its `(汇总)`
/// companion; the only `.csv` member of any other zip), a gzip stream, or
/// the plain file.
pub fn open_statement(path: &Path) -> Result<Opened, FormatError> {
    let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    open_bytes(path, bytes)
}

/// [`open_statement`] on bytes already read.
pub fn open_bytes(path: &Path, bytes: Vec<u8>) -> Result<Opened, FormatError> {
    open_bytes_limited(path, bytes, DECOMPRESSED_MAX)
}

/// [`open_bytes`] with another bound on decompressed sizes.
pub fn open_bytes_limited(path: &Path, bytes: Vec<u8>, limit: u64) -> Result<Opened, FormatError> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        open_zip(path, &bytes, limit)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(bytes.as_slice());
        Ok(Opened {
            bytes: read_bounded(path, decoder, "the gzip stream", limit)?,
            member: None,
            summary: None,
            container: "gzip",
        })
    } else {
        Ok(Opened {
            bytes,
            member: None,
            summary: None,
            container: "plain",
        })
    }
}

fn layout(path: &Path, reason: String) -> FormatError {
    FormatError::Layout {
        path: path.to_path_buf(),
        line: 0,
        reason,
    }
}

/// Reads at most `limit` bytes; more is an error naming `what`.
fn read_bounded(
    path: &Path,
    reader: impl Read,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| layout(path, format!("{what} cannot be decompressed: {e}")))?;
    if out.len() as u64 > limit {
        return Err(layout(
            path,
            format!("{what} decompresses to more than {limit} bytes"),
        ));
    }
    Ok(out)
}

/// A member name as text: UTF-8, else GBK (Chinese Windows zips carry GBK
/// names without the UTF-8 flag).
fn member_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_string(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling(raw)
            .0
            .into_owned(),
    }
}

/// Whether a member name is Alipay's summary (`…业务明细(汇总).csv`, with
/// ASCII or full-width parentheses).
fn is_summary_member(name: &str) -> bool {
    name.contains("汇总")
}

fn open_zip(path: &Path, bytes: &[u8], limit: u64) -> Result<Opened, FormatError> {
    let bad = |e: zip::result::ZipError| layout(path, format!("not a readable zip: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(bad)?;
    let mut csv_members = Vec::new();
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(bad)?;
        if file.is_dir() {
            continue;
        }
        let name = member_name(file.name_raw());
        if name.to_lowercase().ends_with(".csv") {
            csv_members.push((index, name));
        }
    }
    let detail = csv_members
        .iter()
        .find(|(_, name)| name.contains("业务明细") && !is_summary_member(name))
        .or(match csv_members.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = csv_members.iter().map(|(_, n)| n.as_str()).collect();
            layout(
                path,
                format!(
                    "the zip has no `…业务明细.csv` member (CSV members: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        })?;
    let summary = csv_members
        .iter()
        .find(|(_, name)| name.contains("业务明细") && is_summary_member(name))
        .cloned();
    let mut read_member = |(index, name): &(usize, String)| -> Result<Vec<u8>, FormatError> {
        let file = archive.by_index(*index).map_err(bad)?;
        read_bounded(path, file, &format!("zip member {name}"), limit)
    };
    let detail_bytes = read_member(&detail)?;
    let summary = match &summary {
        Some(member) => Some((member.1.clone(), read_member(member)?)),
        None => None,
    };
    Ok(Opened {
        bytes: detail_bytes,
        member: Some(detail.1),
        summary,
        container: "zip",
    })
}
