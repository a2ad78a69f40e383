//! The statement of a funds run split once into per-partition files, so that
//! each shard reads only its partition instead of re-reading and re-parsing
//! every statement file (issue 15).
//!
//! The first shard to get here takes an exclusive lock on the split
//! directory, reads the statement files once (the same readers as before)
//! and writes `part-{item}.bin` for every item, `rejects.json` and the
//! manifest `split.json` — each to a temporary name, fsynced, renamed, the
//! manifest last. The other shards wait on the lock, then read their part.
//!
//! - **Crash-safe**: a split without its manifest does not exist; a crash
//!   mid-split leaves temporaries the next attempt overwrites (the lock dies
//!   with its process).
//! - **Rerun-safe**: the directory is named by a fingerprint of what the
//!   split depends on (format, reject limit, item count, and each file's path,
//!   size, modification time and inode), so a retry or rerun over the same
//!   files reuses it and a corrected statement gets a new split; either way
//!   the parts are a deterministic function of the files, so outputs are
//!   identical to reading the files directly (tested).
//! - Where: `reports/.work/statement-split/{date}/{job}/{fingerprint}/`,
//!   outside the dated report folders finance staff browse; a split unused
//!   for [`SPLIT_RETENTION`] is swept by the next shard that splits — under
//!   the split's lock, which a shard holds (shared) while it reads a split,
//!   so a split in use is never removed under it (tested with a sweep that
//!   finds every split old).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::jobs::recon::engine::EngineError;
use crate::jobs::recon::formats::{
    LedgerStatus, ReadOptions, Record, RecordKind, RejectRow, StatementFormat,
    stream_statement_file,
};
use crate::runtime::JobError;
use crate::sharding::partition_of;

/// The statement records of one partition, with what item 0 also reports.
#[derive(Debug, Default)]
pub(crate) struct StatementPart {
    /// This partition's records, in file and line order.
    pub records: Vec<Record>,
    /// Every file's rejects (item 0 only; empty for other items).
    pub rejects: Vec<RejectRow>,
    /// The files' notes, `path: note` (item 0 only).
    pub notes: Vec<String>,
}

/// The manifest, written last.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    fingerprint: String,
    items: u32,
    /// Distinct `Record::file` values; records refer to them by index.
    files: Vec<String>,
    /// Records per part.
    records: Vec<u64>,
    /// Bytes per part (checked when a part is read).
    bytes: Vec<u64>,
    notes: Vec<String>,
}

const MANIFEST: &str = "split.json";
const REJECTS: &str = "rejects.json";

/// Partition `item` of `items` of the statement files, splitting them first
/// if no complete split of these files exists under `root`.
///
/// The split's lock file orders readers, the splitter and [`sweep`]: a
/// shard reads under a shared lock, splits under the exclusive one, and the
/// sweep removes a split only while it holds the exclusive lock. A shard
/// whose lock file was unlinked before it got the lock (the split was swept
/// meanwhile) starts over on a new directory.
pub(crate) fn statement_part(
    root: &Path,
    paths: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
    item: u32,
    items: u32,
) -> Result<StatementPart, JobError> {
    let fingerprint = fingerprint(paths, format, read, items)?;
    let dir = root.join(&fingerprint);
    let lock_path = dir.join(LOCK);
    let locked = |result: std::io::Result<()>| result.map_err(|e| io_failed(&lock_path, e));
    for _ in 0..ATTEMPTS {
        create_split_dir(&dir)?;
        let lock = match open_lock(&lock_path) {
            Ok(lock) => lock,
            // Moved aside by a sweep since it was made.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io_failed(&lock_path, error)),
        };
        locked(lock.lock_shared())?;
        if !still_linked(&lock, &lock_path) {
            continue;
        }
        let manifest = match read_manifest(&dir, &fingerprint) {
            Some(manifest) => manifest,
            None => {
                locked(lock.unlock())?;
                locked(lock.lock())?;
                if !still_linked(&lock, &lock_path) {
                    continue;
                }
                // Another shard may have finished the split while we waited.
                match read_manifest(&dir, &fingerprint) {
                    Some(manifest) => manifest,
                    None => split(&dir, &fingerprint, paths, format, read, items)?,
                }
            }
        };
        // A split in use is recent: a sweep that gets its lock next leaves it.
        touch(&dir.join(MANIFEST));
        let part = read_part(&dir, &manifest, item);
        drop(lock);
        return part;
    }
    Err(JobError::Failed(format!(
        "statement split {}: removed by a sweep {ATTEMPTS} times while this shard opened it",
        dir.display()
    )))
}

/// How often a shard starts over when a sweep moved its split (or a
/// parent directory) away under it.
const ATTEMPTS: u32 = 16;
const LOCK: &str = "split.lock";
/// The name prefix of a split moved aside by [`sweep`] to be removed.
const SWEPT: &str = ".swept-";

fn open_lock(path: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Whether the locked file is still the one at `path` (not unlinked by a
/// sweep, nor replaced by a new split's lock).
fn still_linked(lock: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (lock.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(linked)) => held.ino() == linked.ino() && held.dev() == linked.dev(),
        _ => false,
    }
}

/// Splits not used for this long are removed by [`sweep`].
pub(crate) const SPLIT_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

/// Marks a file used now (best effort: a split that cannot be touched is
/// at worst swept and made again).
fn touch(path: &Path) {
    if let Ok(file) = File::options().write(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the splits under `top` (`{top}/{date}/{job}/{fingerprint}/`)
/// whose manifest (or, without one, directory) was not modified for
/// `keep` and that no shard holds (see [`statement_part`]), then the date
/// and job directories left empty. Best effort: an entry that cannot be
/// read or removed is logged and left.
pub(crate) fn sweep(top: &Path, keep: std::time::Duration) {
    let now = std::time::SystemTime::now();
    let old = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > keep)
    };
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    for date_dir in children(top) {
        for job_dir in children(&date_dir) {
            for split_dir in children(&job_dir) {
                let manifest = split_dir.join(MANIFEST);
                // A split moved aside by a sweep that stopped half-way.
                let swept = split_dir
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(SWEPT));
                let unused = || {
                    swept
                        || old(if manifest.exists() {
                            &manifest
                        } else {
                            &split_dir
                        })
                };
                if !unused() {
                    continue;
                }
                // Moved aside in one rename, then removed, under its
                // exclusive lock: never while a shard reads or makes it (such
                // a shard holds the lock), and a shard that opened the lock
                // before the move finds it unlinked and starts over on a new
                // directory — it never sees a split half-removed.
                let Ok(lock) = open_lock(&split_dir.join(LOCK)) else {
                    continue;
                };
                if lock.try_lock().is_err() || !unused() {
                    continue;
                }
                let aside = if swept {
                    split_dir.clone()
                } else {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default();
                    job_dir.join(format!("{SWEPT}{}-{nanos}", std::process::id()))
                };
                if let Err(err) = std::fs::rename(&split_dir, &aside)
                    .and_then(|()| std::fs::remove_dir_all(&aside))
                {
                    tracing::warn!(dir = %split_dir.display(), error = %err, "cannot remove an old statement split");
                }
            }
            // Only succeeds when empty.
            let _ = std::fs::remove_dir(&job_dir);
        }
        let _ = std::fs::remove_dir(&date_dir);
    }
}

/// Creates `dir` and its parents. Another shard's [`sweep`] removes date and
/// job directories it finds empty, which may be a parent this call has just
/// made and not yet filled (`create_dir_all` then fails with "No such file
/// or directory"), and moves unused splits aside; the sweep removes only
/// empty parents and unused splits, so making the path again converges.
fn create_split_dir(dir: &Path) -> Result<(), JobError> {
    let mut attempt = 1;
    loop {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            // NotFound: a parent was removed; AlreadyExists: the directory
            // was moved aside between `mkdir` and the check that it is one.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists
                ) && attempt < ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(error) => return Err(io_failed(dir, error)),
        }
    }
}

fn io_failed(path: &Path, error: std::io::Error) -> JobError {
    JobError::Failed(format!("statement split {}: {error}", path.display()))
}

/// What the split depends on, hashed.
fn fingerprint(
    paths: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
    items: u32,
) -> Result<String, JobError> {
    use std::os::unix::fs::MetadataExt;
    let mut hash = Sha256::new();
    hash.update(format!(
        "v1 {format:?} {} {items}\n",
        read.reject_limit_percent
    ));
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io_failed(path, e))?;
        hash.update(format!(
            "{}\0{} {} {} {} {}\n",
            path.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
            meta.dev()
        ));
    }
    Ok(hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn read_manifest(dir: &Path, fingerprint: &str) -> Option<Manifest> {
    let text = std::fs::read(dir.join(MANIFEST)).ok()?;
    let manifest: Manifest = serde_json::from_slice(&text).ok()?;
    (manifest.fingerprint == fingerprint).then_some(manifest)
}

/// Writes `bytes` under `name` in `dir`: temporary name, fsync, rename.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), JobError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| io_failed(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_failed(&tmp, e))?;
    file.sync_all().map_err(|e| io_failed(&tmp, e))?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(|e| io_failed(&path, e))
}

/// Reads the statement files once and writes every part, the rejects and
/// the manifest.
fn split(
    dir: &Path,
    fingerprint: &str,
    paths: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
    items: u32,
) -> Result<Manifest, JobError> {
    let mut outs: Vec<BufWriter<File>> = Vec::with_capacity(items as usize);
    for item in 0..items {
        let tmp = dir.join(format!("part-{item}.bin.tmp"));
        let file = File::create(&tmp).map_err(|e| io_failed(&tmp, e))?;
        outs.push(BufWriter::with_capacity(1 << 20, file));
    }
    let mut manifest = Manifest {
        fingerprint: fingerprint.to_string(),
        items,
        files: Vec::new(),
        records: vec![0; items as usize],
        bytes: vec![0; items as usize],
        notes: Vec::new(),
    };
    let mut rejects: Vec<RejectRow> = Vec::new();
    let mut write_error: Option<std::io::Error> = None;
    let mut buffer = Vec::with_capacity(256);
    for path in paths {
        let summary = stream_statement_file(path, format, read, &mut |record| {
            if write_error.is_some() {
                return;
            }
            let file = record.file.display().to_string();
            let file_index = match manifest.files.iter().position(|f| *f == file) {
                Some(index) => index,
                None => {
                    manifest.files.push(file);
                    manifest.files.len() - 1
                }
            };
            let item = partition_of(&record.key, items) as usize;
            buffer.clear();
            encode(&mut buffer, &record, file_index as u32);
            manifest.records[item] += 1;
            manifest.bytes[item] += buffer.len() as u64;
            if let Err(error) = outs[item].write_all(&buffer) {
                write_error = Some(error);
            }
        })
        .map_err(EngineError::from)?;
        if let Some(error) = write_error.take() {
            return Err(io_failed(dir, error));
        }
        manifest.notes.extend(
            summary
                .notes
                .iter()
                .map(|note| format!("{}: {note}", path.display())),
        );
        rejects.extend(summary.rejects.iter().map(RejectRow::from));
    }
    for (item, out) in outs.into_iter().enumerate() {
        let tmp = dir.join(format!("part-{item}.bin.tmp"));
        let file = out
            .into_inner()
            .map_err(|e| io_failed(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io_failed(&tmp, e))?;
        let path = dir.join(format!("part-{item}.bin"));
        std::fs::rename(&tmp, &path).map_err(|e| io_failed(&path, e))?;
    }
    let rejects_json = serde_json::to_vec(&rejects).map_err(|e| JobError::Failed(e.to_string()))?;
    write_atomically(dir, REJECTS, &rejects_json)?;
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| JobError::Failed(e.to_string()))?;
    write_atomically(dir, MANIFEST, &manifest_json)?;
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(manifest)
}

fn read_part(dir: &Path, manifest: &Manifest, item: u32) -> Result<StatementPart, JobError> {
    let index = item as usize;
    let path = dir.join(format!("part-{item}.bin"));
    let (Some(&count), Some(&bytes)) = (manifest.records.get(index), manifest.bytes.get(index))
    else {
        return Err(JobError::Failed(format!(
            "statement split {}: no part {item} of {}",
            dir.display(),
            manifest.items
        )));
    };
    let mut data = Vec::with_capacity(bytes as usize);
    BufReader::new(File::open(&path).map_err(|e| io_failed(&path, e))?)
        .read_to_end(&mut data)
        .map_err(|e| io_failed(&path, e))?;
    let corrupt = || {
        JobError::Failed(format!(
            "statement split {}: part {item} is damaged (expected {count} records in {bytes} bytes)",
            path.display()
        ))
    };
    if data.len() as u64 != bytes {
        return Err(corrupt());
    }
    let files: Vec<Arc<Path>> = manifest
        .files
        .iter()
        .map(|f| Arc::from(Path::new(f)))
        .collect();
    let mut records = Vec::with_capacity(count as usize);
    let mut at = 0;
    while at < data.len() {
        let (record, next) = decode(&data, at, &files).ok_or_else(corrupt)?;
        records.push(record);
        at = next;
    }
    if records.len() as u64 != count {
        return Err(corrupt());
    }
    let (rejects, notes) = if item == 0 {
        let rejects_path = dir.join(REJECTS);
        let text = std::fs::read(&rejects_path).map_err(|e| io_failed(&rejects_path, e))?;
        let rejects: Vec<RejectRow> =
            serde_json::from_slice(&text).map_err(|e| JobError::Failed(e.to_string()))?;
        (rejects, manifest.notes.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(StatementPart {
        records,
        rejects,
        notes,
    })
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// One record: key, order number, kind, amount and fee as exact decimals
/// (rust_decimal's 16-byte form), status, time, file index, line.
fn encode(out: &mut Vec<u8>, record: &Record, file: u32) {
    put_text(out, &record.key);
    put_text(out, &record.order_no);
    out.push(match record.kind {
        RecordKind::Payment => 0,
        RecordKind::Refund => 1,
    });
    out.extend_from_slice(&record.amount.serialize());
    match record.fee {
        Some(fee) => {
            out.push(1);
            out.extend_from_slice(&fee.serialize());
        }
        None => out.push(0),
    }
    out.push(match record.status {
        LedgerStatus::Success => 0,
        LedgerStatus::Refund => 1,
        LedgerStatus::Closed => 2,
        LedgerStatus::RefundException => 3,
    });
    let time = record.time.and_utc();
    out.extend_from_slice(&time.timestamp().to_le_bytes());
    out.extend_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
    out.extend_from_slice(&file.to_le_bytes());
    out.extend_from_slice(&record.line.to_le_bytes());
}

/// Reads bytes of a part written by [`encode`].
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn text(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

fn decode(data: &[u8], at: usize, files: &[Arc<Path>]) -> Option<(Record, usize)> {
    let mut c = Cursor { data, at };
    let key = c.text()?;
    let order_no = c.text()?;
    let kind = match c.byte()? {
        0 => RecordKind::Payment,
        1 => RecordKind::Refund,
        _ => return None,
    };
    let amount = Decimal::deserialize(c.array()?);
    let fee = match c.byte()? {
        0 => None,
        1 => Some(Decimal::deserialize(c.array()?)),
        _ => return None,
    };
    let status = match c.byte()? {
        0 => LedgerStatus::Success,
        1 => LedgerStatus::Refund,
        2 => LedgerStatus::Closed,
        3 => LedgerStatus::RefundException,
        _ => return None,
    };
    let seconds = i64::from_le_bytes(c.array()?);
    let nanos = u32::from_le_bytes(c.array()?);
    let time = DateTime::from_timestamp(seconds, nanos)?.naive_utc();
    let file = files.get(u32::from_le_bytes(c.array()?) as usize)?.clone();
    let line = u64::from_le_bytes(c.array()?);
    Some((
        Record {
            key,
            order_no,
            kind,
            amount,
            fee,
            status,
            time,
            file,
            line,
        },
        c.at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_splits_unused_past_the_retention() {
        let top = tempfile::tempdir().unwrap();
        let make = |date: &str, age: std::time::Duration| {
            let dir = top.path().join(date).join("recon-wechat").join("fp");
            std::fs::create_dir_all(&dir).unwrap();
            let manifest = dir.join(MANIFEST);
            std::fs::write(&manifest, "{}").unwrap();
            let file = File::options().write(true).open(&manifest).unwrap();
            file.set_modified(std::time::SystemTime::now() - age)
                .unwrap();
            dir
        };
        let day = std::time::Duration::from_secs(24 * 3600);
        let old = make("2026-11-01", 8 * day);
        let recent = make("2026-11-30", day);
        sweep(top.path(), SPLIT_RETENTION);
        assert!(!old.exists());
        assert!(!top.path().join("2026-11-01").exists(), "empty parents go");
        assert!(recent.join(MANIFEST).exists());
        // A split read again is touched: the next sweep keeps it.
        touch(&recent.join(MANIFEST));
        sweep(top.path(), std::time::Duration::from_secs(3600));
        assert!(recent.join(MANIFEST).exists());
    }

    /// Found by CI (stop 19): shard 0 failed "statement split …: No such file
    /// or directory" when another shard's sweep removed the date directory
    /// this shard had just made, before it made the job directory in it.
    #[test]
    fn a_sweep_of_empty_parents_never_fails_a_shard_making_its_split() {
        let top = tempfile::tempdir().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sweep(top.path(), SPLIT_RETENTION);
                }
            });
            let made = (0..3_000).try_for_each(|i| {
                let date = top.path().join(format!("d{i}"));
                create_split_dir(&date.join("recon-wechat").join("fp"))?;
                // The sweep may take the emptied parents first.
                let _ = std::fs::remove_dir_all(&date);
                Ok::<(), JobError>(())
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            made.unwrap();
        });
    }

    /// A sweep that finds every split old (retention zero) never removes one
    /// under a shard that reads or makes it: every read gets its records.
    #[test]
    fn a_sweep_never_removes_a_split_a_shard_is_using() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![statement(dir.path(), 200)];
        let top = dir.path().join("split");
        let root = top.join("2026-11-21").join("recon-wechat");
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sweep(&top, std::time::Duration::ZERO);
                }
            });
            let read = (0..400).try_for_each(|i| {
                let items = 2;
                let parts: usize = (0..items)
                    .map(|item| {
                        statement_part(
                            &root,
                            &paths,
                            &format(),
                            ReadOptions::default(),
                            item,
                            items,
                        )
                        .map(|part| part.records.len())
                    })
                    .sum::<Result<usize, JobError>>()?;
                assert_eq!(parts, 200, "read {i}");
                Ok::<(), JobError>(())
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            read.unwrap();
        });
    }

    #[test]
    fn records_survive_the_part_encoding() {
        let record = Record {
            key: "R2026".into(),
            order_no: "P2026".into(),
            kind: RecordKind::Refund,
            amount: Decimal::new(12_345, 2),
            fee: Some(Decimal::new(-6, 5)),
            status: LedgerStatus::Refund,
            time: DateTime::from_timestamp(1_795_000_000, 0)
                .map(|t| t.naive_utc())
                .unwrap_or_default(),
            file: Arc::from(Path::new("bill.csv")),
            line: 42,
        };
        let mut bytes = Vec::new();
        encode(&mut bytes, &record, 0);
        let files = vec![Arc::from(Path::new("bill.csv"))];
        let (back, end) = decode(&bytes, 0, &files).unwrap();
        assert_eq!(back, record);
        assert_eq!(end, bytes.len());
        // A truncated part is refused, never half-read.
        assert!(decode(&bytes[..bytes.len() - 1], 0, &files).is_none());
    }

    fn statement(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("bill.csv");
        let mut text = String::from("order_no,amount,status,completed_at,fee,refund_no\n");
        for i in 0..rows {
            text += &format!(
                "P{i},{}.{:02},SUCCESS,2026-11-21 10:00:00,0.01,\n",
                i,
                i % 100
            );
        }
        text += "P-bad,1.234,SUCCESS,2026-11-21 10:00:00,,\n";
        std::fs::write(&path, text).unwrap();
        path
    }

    fn format() -> StatementFormat {
        StatementFormat::Generic(Box::new(
            crate::jobs::recon::formats::GenericMapping::ledger(),
        ))
    }

    /// Every part of a split, as `(records, rejects, notes)`.
    fn all_parts(root: &Path, paths: &[PathBuf], items: u32) -> Vec<StatementPart> {
        (0..items)
            .map(|item| {
                statement_part(root, paths, &format(), ReadOptions::default(), item, items).unwrap()
            })
            .collect()
    }

    #[test]
    fn parts_hold_exactly_the_direct_read_and_reruns_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![statement(dir.path(), 500)];
        let root = dir.path().join("split");
        let items = 4;
        let parts = all_parts(&root, &paths, items);
        // By hand from the direct read: each record lands in its key's partition.
        let mut direct: Vec<Vec<Record>> = vec![Vec::new(); items as usize];
        let summary =
            stream_statement_file(&paths[0], &format(), ReadOptions::default(), &mut |r| {
                direct[partition_of(&r.key, items) as usize].push(r)
            })
            .unwrap();
        for (item, part) in parts.iter().enumerate() {
            assert_eq!(part.records, direct[item], "part {item}");
        }
        let rejects: Vec<RejectRow> = summary.rejects.iter().map(RejectRow::from).collect();
        assert_eq!(parts[0].rejects, rejects);
        assert_eq!(rejects.len(), 1);
        assert!(parts[1].rejects.is_empty());
        // A retry reads the same split; so does a rerun after a crash that
        // lost the manifest (the split is redone from the files).
        let again = all_parts(&root, &paths, items);
        let fingerprint = std::fs::read_dir(&root)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::remove_file(fingerprint.join(MANIFEST)).unwrap();
        std::fs::write(fingerprint.join("part-1.bin"), b"torn").unwrap();
        std::fs::write(fingerprint.join("part-2.bin.tmp"), b"torn").unwrap();
        let after_crash = all_parts(&root, &paths, items);
        for ((a, b), c) in parts.iter().zip(&again).zip(&after_crash) {
            assert_eq!(a.records, b.records);
            assert_eq!(a.records, c.records);
            assert_eq!(a.rejects, c.rejects);
        }
    }

    #[test]
    fn a_damaged_part_fails_and_a_corrected_statement_gets_a_new_split() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![statement(dir.path(), 50)];
        let root = dir.path().join("split");
        let first = all_parts(&root, &paths, 2);
        let fingerprint = std::fs::read_dir(&root)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(fingerprint.join("part-1.bin"), b"torn").unwrap();
        let error = statement_part(&root, &paths, &format(), ReadOptions::default(), 1, 2)
            .err()
            .unwrap();
        assert!(error.to_string().contains("damaged"), "{error}");
        // The channel sends a corrected file: more rows, a new split.
        std::thread::sleep(std::time::Duration::from_millis(20));
        statement(dir.path(), 60);
        let second = all_parts(&root, &paths, 2);
        let rows = |parts: &[StatementPart]| parts.iter().map(|p| p.records.len()).sum::<usize>();
        assert_eq!(rows(&first), 50);
        assert_eq!(rows(&second), 60);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 2);
    }

    #[test]
    fn concurrent_shards_split_once() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![statement(dir.path(), 2_000)];
        let root = dir.path().join("split");
        let parts: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|item| {
                    let (root, paths) = (&root, &paths);
                    scope.spawn(move || {
                        statement_part(root, paths, &format(), ReadOptions::default(), item, 4)
                            .unwrap()
                            .records
                            .len()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(parts.iter().sum::<usize>(), 2_000);
    }
}
