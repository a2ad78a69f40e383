//! The partitioned comparison of two ledger-layout files (`reckon recon
//! --format generic` without a mapping): the same categories, lines,
//! duplicates, pending rows and reports as [`super::compare`] over two
//! [`super::Side`]s, with memory bounded whatever the file size.
//!
//! 1. **Scan** each file once: a reader thread reads 8 MiB blocks cut at line
//!    ends; every core splits, validates (the fast reader's own
//!    [`RowFields::validate`]) and hashes the rows of its share of a block and
//!    appends each accepted row, encoded in about 30 bytes, to the partition
//!    `mix(hash)` picks. Rejects keep file, line, reason and raw text.
//! 2. **Spill**: when the partitions' buffers pass [`SPILL_BUDGET`], they are
//!    written to one run file in a private temporary directory (removed on
//!    drop) and freed; small inputs never touch the disk.
//! 3. **Join** partition by partition, on every core: an open-addressing
//!    table of (key, kind) groups built from the ledger rows and probed with
//!    the statement rows. Keys are compared byte for byte, so a hash collision
//!    never pairs two records. First rows pair; later rows are duplicates;
//!    one-sided payments are classified at once.
//! 4. **Finish**: one-sided refunds (few) pair by order and amount across
//!    partitions exactly as [`super::compare`] does, then are classified; the
//!    diff is sorted into report order; conservation is checked.
//!
//! Anything the hand-written splitter cannot vouch for — a double quote, bad
//! UTF-8, an unusual header — returns `None`, and the caller uses the
//! column reader of `ledger_csv.rs`, which handles every case.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::DateTime;

use super::EngineError;
use super::compare::{CATEGORIES, Category, CompareConfig, Compared, SideSummary, classify};
use super::diff_record::{DiffRecord, SideValues};
use super::ledger_csv::{Layout, RowFields, parse_header, read_full, reject_of};
use super::progress::{Phase, PhaseTimes, Progress, Unit};
use super::side::{NO_FEE, SideName, SideTotals, key_hash};
use crate::jobs::recon::formats::{FormatError, LedgerStatus, ReadOptions, RecordKind, Reject};
use crate::sharding::stable_hash;

/// Bytes read at a time (cut at the last line end).
const BLOCK_BYTES: usize = 8 << 20;
/// Buffered partition bytes (both sides) before they go to a spill file.
pub const SPILL_BUDGET: usize = 192 << 20;
/// File bytes per join partition (about): sizes the partitions.
const PARTITION_FILE_BYTES: u64 = 16 << 20;
/// Most join partitions.
const PARTITIONS_MAX: usize = 4_096;
const NONE: u32 = u32::MAX;

/// The result of [`compare_files`].
#[derive(Debug)]
pub struct FileComparison {
    pub ledger: SideSummary,
    pub statement: SideSummary,
    /// The rows of `diff.csv`, in report order.
    pub diff: Vec<DiffRecord>,
    /// The ledger's rejects, then the statement's, each in line order.
    pub rejects: Vec<Reject>,
}

/// Compares two ledger-layout files; `Ok(None)` when a file needs the
/// column reader instead (see the module documentation).
pub fn compare_files(
    ledger: &Path,
    statement: &Path,
    config: &CompareConfig,
    options: ReadOptions,
    progress: &dyn Progress,
    times: &PhaseTimes,
) -> Result<Option<FileComparison>, EngineError> {
    compare_files_sized(
        ledger,
        statement,
        config,
        options,
        Sizing::default(),
        progress,
        times,
    )
}

/// How much the partitioned comparison buffers before spilling, and how
/// many file bytes make one join partition.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    pub spill_budget: usize,
    pub partition_file_bytes: u64,
}

impl Default for Sizing {
    fn default() -> Sizing {
        Sizing {
            spill_budget: SPILL_BUDGET,
            partition_file_bytes: PARTITION_FILE_BYTES,
        }
    }
}

/// [`compare_files`] with explicit sizes (tests force spilling and many
/// partitions on small files).
pub fn compare_files_sized(
    ledger: &Path,
    statement: &Path,
    config: &CompareConfig,
    options: ReadOptions,
    sizing: Sizing,
    progress: &dyn Progress,
    times: &PhaseTimes,
) -> Result<Option<FileComparison>, EngineError> {
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| if m.is_file() { m.len() } else { u64::MAX / 4 })
            .map_err(|source| EngineError::Io {
                path: path.to_path_buf(),
                source,
            })
    };
    // A pipe's size is unknown: as many partitions as allowed.
    let total_bytes = size(ledger)?.saturating_add(size(statement)?);
    let partitions = (total_bytes.div_ceil(sizing.partition_file_bytes.max(1)) as usize)
        .next_power_of_two()
        .clamp(1, PARTITIONS_MAX);
    let mut store = Store::new(partitions, sizing.spill_budget);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let mut scans = Vec::with_capacity(2);
    for (side, path, phase) in [
        (SideName::Ledger, ledger, Phase::ReadLedger),
        (SideName::Statement, statement, Phase::ReadStatement),
    ] {
        let started = Instant::now();
        let bytes = size(path)?;
        progress.start(
            phase.as_str(),
            (bytes < u64::MAX / 4).then_some(bytes),
            Unit::Bytes,
        );
        let Some(scan) = scan_file(path, side, threads, &mut store, progress, times)? else {
            return Ok(None);
        };
        progress.finish(phase.as_str(), started.elapsed());
        let limit = u64::from(options.reject_limit_percent);
        let rejected = scan.totals.rejects;
        if scan.lines > 0 && rejected * 100 > limit * scan.lines {
            return Err(FormatError::MostlyRejects {
                path: path.to_path_buf(),
                rejected,
                rows: scan.lines,
                limit_percent: options.reject_limit_percent,
                rejects: scan.rejects,
            }
            .into());
        }
        scans.push(scan);
    }
    let (Some(statement_scan), Some(ledger_scan)) = (scans.pop(), scans.pop()) else {
        return Ok(None);
    };
    let started = Instant::now();
    progress.start(Phase::Join.as_str(), Some(partitions as u64), Unit::Items);
    let files = [
        ledger_scan.path.display().to_string(),
        statement_scan.path.display().to_string(),
    ];
    let pending_from = config
        .cutoff
        .map(|cutoff| (cutoff - config.pending_window).and_utc().timestamp());
    let joined = join_partitions(store, &files, pending_from, threads, progress, times)?;
    progress.finish(Phase::Join.as_str(), started.elapsed());
    let finish_started = Instant::now();
    let mut ledger_summary = SideSummary {
        side: SideName::Ledger,
        counts: joined.counts[0],
        sums: joined.sums[0],
        read: ledger_scan.totals,
    };
    let mut statement_summary = SideSummary {
        side: SideName::Statement,
        counts: joined.counts[1],
        sums: joined.sums[1],
        read: statement_scan.totals,
    };
    let mut diff = joined.diff;
    let mut counted = [
        (&mut ledger_summary.counts, &mut ledger_summary.sums),
        (&mut statement_summary.counts, &mut statement_summary.sums),
    ];
    finish_refunds(
        joined.deferred,
        &files,
        pending_from,
        &mut counted,
        &mut diff,
    );
    diff.sort_by(|a, b| report_order(a).cmp(&report_order(b)));
    ledger_summary.check_conservation()?;
    statement_summary.check_conservation()?;
    let mut rejects = ledger_scan.rejects;
    rejects.extend(statement_scan.rejects);
    PhaseTimes::add(&times.finish_ns, finish_started.elapsed());
    Ok(Some(FileComparison {
        ledger: ledger_summary,
        statement: statement_summary,
        diff,
        rejects,
    }))
}

/// `diff.csv` order: category, key, then the ledger line, then the statement line.
fn report_order(record: &DiffRecord) -> (Category, &str, Option<u64>, Option<u64>) {
    (
        record.category,
        record.key.as_str(),
        record.ledger.as_ref().map(|v| v.line),
        record.statement.as_ref().map(|v| v.line),
    )
}

/// splitmix64's finalizer: spreads FNV's weak bits (top bits pick the
/// partition, low bits the table slot).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn partition_of(hash: u64, partitions: usize) -> usize {
    if partitions <= 1 {
        0
    } else {
        (mix(hash) >> (64 - partitions.trailing_zeros())) as usize
    }
}

// ---------------------------------------------------------------- storage

/// Where one side's piece of a partition was spilled.
#[derive(Debug, Clone, Copy)]
struct Piece {
    run: usize,
    offset: u64,
    len: usize,
}

/// The partitions of both sides: in-memory tails plus spilled pieces.
struct Store {
    partitions: usize,
    /// `[side][partition]` buffered bytes.
    memory: [Vec<Vec<u8>>; 2],
    /// `[side][partition]` spilled pieces, in row order.
    pieces: [Vec<Vec<Piece>>; 2],
    buffered: usize,
    budget: usize,
    runs: Vec<File>,
    dir: Option<SpillDir>,
}

/// A private temporary directory, removed with everything in it on drop.
struct SpillDir(PathBuf);

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn side_index(side: SideName) -> usize {
    match side {
        SideName::Ledger => 0,
        SideName::Statement => 1,
    }
}

impl Store {
    fn new(partitions: usize, budget: usize) -> Store {
        Store {
            partitions,
            budget,
            memory: [vec![Vec::new(); partitions], vec![Vec::new(); partitions]],
            pieces: [vec![Vec::new(); partitions], vec![Vec::new(); partitions]],
            buffered: 0,
            runs: Vec::new(),
            dir: None,
        }
    }

    fn append(&mut self, side: usize, partition: usize, bytes: &[u8]) {
        self.memory[side][partition].extend_from_slice(bytes);
        self.buffered += bytes.len();
    }

    /// Writes every buffered byte to a new run file and frees the buffers.
    fn spill(&mut self) -> Result<(), EngineError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let dir = match &self.dir {
            Some(dir) => dir.0.clone(),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "reckon-recon-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
                    path: dir.clone(),
                    source,
                })?;
                self.dir = Some(SpillDir(dir.clone()));
                dir
            }
        };
        let path = dir.join(format!("run-{}.bin", self.runs.len()));
        let io = |source| EngineError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
        let run = self.runs.len();
        let mut offset = 0u64;
        for side in 0..2 {
            for partition in 0..self.partitions {
                let bytes = std::mem::take(&mut self.memory[side][partition]);
                if bytes.is_empty() {
                    continue;
                }
                out.write_all(&bytes).map_err(io)?;
                self.pieces[side][partition].push(Piece {
                    run,
                    offset,
                    len: bytes.len(),
                });
                offset += bytes.len() as u64;
            }
        }
        out.flush().map_err(io)?;
        drop(out);
        self.runs.push(file);
        self.buffered = 0;
        Ok(())
    }
}

// ---------------------------------------------------------------- scanning

/// What scanning one file found besides its rows.
struct Scan {
    path: Arc<Path>,
    totals: SideTotals,
    rejects: Vec<Reject>,
    /// Physical lines after the header (the reject limit's denominator).
    lines: u64,
}

/// A share of a block parsed by one thread.
struct ChunkOut {
    parts: Vec<Vec<u8>>,
    failures: Vec<Reject>,
    totals: SideTotals,
}

/// Why a file leaves the hand-written path.
struct Unsure;

fn scan_file(
    path: &Path,
    side: SideName,
    threads: usize,
    store: &mut Store,
    progress: &dyn Progress,
    times: &PhaseTimes,
) -> Result<Option<Scan>, EngineError> {
    let io = |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let file_path: Arc<Path> = Arc::from(path);
    let side_at = side_index(side);
    let partitions = store.partitions;
    let mut outs: Vec<ChunkOut> = (0..threads)
        .map(|_| ChunkOut {
            parts: vec![Vec::new(); partitions],
            failures: Vec::new(),
            totals: SideTotals::default(),
        })
        .collect();
    let mut scan = Scan {
        path: file_path.clone(),
        totals: SideTotals::default(),
        rejects: Vec::new(),
        lines: 0,
    };
    let (blocks_tx, blocks_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| -> Result<Option<Scan>, EngineError> {
        // The reader: whole lines per block; the cut tail starts the next one.
        scope.spawn(move || {
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let mut buffer = free_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BLOCK_BYTES + (1 << 16)));
                buffer.clear();
                buffer.extend_from_slice(&carry);
                carry.clear();
                let filled = buffer.len();
                buffer.resize(filled.max(BLOCK_BYTES), 0);
                let started = Instant::now();
                let read = match read_full(&mut file, &mut buffer[filled..]) {
                    Ok(read) => read,
                    Err(error) => {
                        let _ = blocks_tx.send(Err(error));
                        return;
                    }
                };
                PhaseTimes::add(&times.read_ns, started.elapsed());
                buffer.truncate(filled + read);
                let at_eof = read == 0;
                if !at_eof {
                    match memchr::memrchr(b'\n', &buffer) {
                        Some(last) => {
                            carry.extend_from_slice(&buffer[last + 1..]);
                            buffer.truncate(last + 1);
                        }
                        None => {
                            // A line longer than a block: read on.
                            carry = buffer;
                            continue;
                        }
                    }
                }
                let empty = buffer.is_empty();
                if blocks_tx.send(Ok(buffer)).is_err() || at_eof || empty {
                    return;
                }
            }
        });
        let mut layout: Option<Layout> = None;
        let mut next_line: u64 = 2;
        for block in blocks_rx.iter() {
            let block = block.map_err(io)?;
            progress.advance(block.len() as u64);
            let mut body: &[u8] = &block;
            if layout.is_none() {
                let header_end = memchr::memchr(b'\n', body).unwrap_or(body.len());
                match parse_header(&body[..header_end]) {
                    Some(found) => layout = Some(found),
                    None => return Ok(None),
                }
                body = &body[(header_end + 1).min(body.len())..];
            }
            let Some(layout) = layout.as_ref() else {
                return Ok(None);
            };
            if body.is_empty() {
                let _ = free_tx.send(block);
                continue;
            }
            // Shares of about equal size, cut at line ends, with their first line.
            let mut shares = Vec::with_capacity(threads);
            let mut start = 0;
            for t in 0..threads {
                let target = body.len() * (t + 1) / threads;
                let end = if t + 1 == threads || target <= start {
                    body.len()
                } else {
                    memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |i| target + i + 1)
                };
                let end = end.max(start);
                let lines = memchr::memchr_iter(b'\n', &body[start..end]).count() as u64
                    + u64::from(end > start && body[end - 1] != b'\n');
                shares.push((&body[start..end], next_line));
                next_line += lines;
                scan.lines += lines;
                start = end;
                if start == body.len() {
                    break;
                }
            }
            let parse_started = Instant::now();
            let results: Vec<Result<(), Unsure>> = std::thread::scope(|inner| {
                let mut work = shares.iter().zip(outs.iter_mut());
                let first = work.next();
                let handles: Vec<_> = work
                    .map(|((share, first_line), out)| {
                        let file_path = &file_path;
                        inner.spawn(move || {
                            parse_share(share, *first_line, layout, file_path, partitions, out)
                        })
                    })
                    .collect();
                let mut results = vec![match first {
                    Some(((share, first_line), out)) => {
                        parse_share(share, *first_line, layout, &file_path, partitions, out)
                    }
                    None => Ok(()),
                }];
                results.extend(
                    handles
                        .into_iter()
                        .map(|handle| handle.join().unwrap_or(Err(Unsure))),
                );
                results
            });
            PhaseTimes::add(
                &times.parse_ns,
                parse_started.elapsed() * shares.len() as u32,
            );
            if results.iter().any(Result::is_err) {
                return Ok(None);
            }
            for out in outs.iter_mut().take(shares.len()) {
                for (partition, bytes) in out.parts.iter_mut().enumerate() {
                    if !bytes.is_empty() {
                        store.append(side_at, partition, bytes);
                        bytes.clear();
                    }
                }
                scan.rejects.append(&mut out.failures);
                scan.totals.records += out.totals.records;
                scan.totals.amount_cents += out.totals.amount_cents;
                scan.totals.rejects += out.totals.rejects;
                out.totals = SideTotals::default();
            }
            let _ = free_tx.send(block);
            if store.buffered > store.budget {
                let started = Instant::now();
                store.spill()?;
                PhaseTimes::add(&times.spill_ns, started.elapsed());
            }
        }
        if layout.is_none() {
            return Ok(None);
        }
        Ok(Some(scan))
    })
}

/// Parses whole lines; accepted rows go to their partition's buffer.
fn parse_share(
    share: &[u8],
    first_line: u64,
    layout: &Layout,
    file: &Arc<Path>,
    partitions: usize,
    out: &mut ChunkOut,
) -> Result<(), Unsure> {
    if memchr::memchr(b'"', share).is_some() {
        return Err(Unsure);
    }
    let text = std::str::from_utf8(share).map_err(|_| Unsure)?;
    let width = layout.width;
    let mut line_no = first_line;
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        rest = next;
        let current = line_no;
        line_no += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut fields: [Option<&str>; 7] = [None; 7];
        for (index, field) in line.split(',').take(width + 1).enumerate() {
            fields[index] = Some(field);
        }
        let column = |c: usize| layout.position[c].and_then(|p| fields[p]).map(str::trim);
        let row = RowFields {
            order_no: column(0),
            amount: column(1),
            status: column(2),
            time: column(3),
            fee: column(4),
            refund_no: column(5),
            extra: fields[width].is_some_and(|f| !f.is_empty()),
        };
        match row.validate() {
            Ok(valid) => {
                let hash = key_hash(valid.key);
                let refund = valid.status == LedgerStatus::Refund;
                let order = if refund { valid.order_no } else { "" };
                let buffer = &mut out.parts[partition_of(hash, partitions)];
                encode(
                    buffer,
                    &Row {
                        hash,
                        line: current,
                        amount: valid.amount,
                        fee: valid.fee,
                        time: valid.time,
                        status: valid.status,
                        key: valid.key.as_bytes(),
                        order: order.as_bytes(),
                    },
                );
                out.totals.records += 1;
                out.totals.amount_cents += i128::from(valid.amount);
            }
            Err(reason) => {
                if let Some(reject) = reject_of(line.as_bytes(), width, current, file, reason) {
                    out.totals.rejects += 1;
                    out.failures.push(reject);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- rows

/// One accepted row, borrowed from its partition's bytes.
#[derive(Debug, Clone, Copy)]
struct Row<'a> {
    hash: u64,
    line: u64,
    amount: i64,
    fee: i64,
    time: i64,
    status: LedgerStatus,
    key: &'a [u8],
    /// The refunded order (refunds only; empty otherwise).
    order: &'a [u8],
}

impl Row<'_> {
    fn refund(&self) -> bool {
        self.status == LedgerStatus::Refund
    }

    fn compared(&self) -> Compared {
        Compared {
            refund: self.refund(),
            status: self.status,
            amount: self.amount,
            fee: self.fee,
        }
    }

    fn values(&self, file: &str) -> SideValues {
        SideValues {
            amount: self.amount,
            fee: (self.fee != NO_FEE).then_some(self.fee),
            status: self.status,
            time: DateTime::from_timestamp(self.time, 0)
                .map(|t| t.naive_utc())
                .unwrap_or_default(),
            file: file.to_string(),
            line: self.line,
        }
    }

    fn key_text(&self) -> String {
        String::from_utf8_lossy(self.key).into_owned()
    }
}

fn status_code(status: LedgerStatus) -> u8 {
    match status {
        LedgerStatus::Success => 0,
        LedgerStatus::Refund => 1,
        LedgerStatus::Closed => 2,
        LedgerStatus::RefundException => 3,
    }
}

fn status_of(code: u8) -> LedgerStatus {
    match code {
        0 => LedgerStatus::Success,
        1 => LedgerStatus::Refund,
        2 => LedgerStatus::Closed,
        _ => LedgerStatus::RefundException,
    }
}

/// Times are stored as the distance to this instant (2026-01-01 00:00:00),
/// so that a day's times take 4 bytes.
const TIME_BASE: i64 = 1_767_225_600;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// One row in about 30 bytes: a flags byte (status, fee present), then
/// LEB128 varints — line, amount and fee (zigzag), time from [`TIME_BASE`]
/// (zigzag), key length — the key, the order length and the order. The
/// hash is not stored: it is recomputed from the key when read back.
fn encode(out: &mut Vec<u8>, row: &Row<'_>) {
    let has_fee = row.fee != NO_FEE;
    out.push(status_code(row.status) | if has_fee { 0x10 } else { 0 });
    put_varint(out, row.line);
    put_varint(out, zigzag(row.amount));
    if has_fee {
        put_varint(out, zigzag(row.fee));
    }
    put_varint(out, zigzag(row.time.wrapping_sub(TIME_BASE)));
    put_varint(out, row.key.len() as u64);
    out.extend_from_slice(row.key);
    put_varint(out, row.order.len() as u64);
    out.extend_from_slice(row.order);
}

/// Reads what [`encode`] wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                return Some(value);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(slice)
    }

    fn row(&mut self) -> Option<Row<'a>> {
        let flags = *self.bytes.get(self.at)?;
        self.at += 1;
        let line = self.varint()?;
        let amount = unzigzag(self.varint()?);
        let fee = if flags & 0x10 != 0 {
            unzigzag(self.varint()?)
        } else {
            NO_FEE
        };
        let time = unzigzag(self.varint()?).wrapping_add(TIME_BASE);
        let key_len = usize::try_from(self.varint()?).ok()?;
        let key = self.take(key_len)?;
        let order_len = usize::try_from(self.varint()?).ok()?;
        let order = self.take(order_len)?;
        Some(Row {
            hash: stable_hash(key),
            line,
            amount,
            fee,
            time,
            status: status_of(flags & 0x0F),
            key,
            order,
        })
    }
}

/// The rows of a partition's bytes, in the order they were appended.
fn decode(bytes: &[u8]) -> Vec<Row<'_>> {
    let mut rows = Vec::with_capacity(bytes.len() / 28);
    let mut reader = Reader { bytes, at: 0 };
    while reader.at < bytes.len() {
        match reader.row() {
            Some(row) => rows.push(row),
            None => break,
        }
    }
    rows
}

// ---------------------------------------------------------------- joining

/// A one-sided refund row, decided after every partition (it may pair by order).
#[derive(Debug, Clone)]
struct Deferred {
    line: u64,
    key: String,
    order: String,
    amount: i64,
    fee: i64,
    time: i64,
    status: LedgerStatus,
}

impl Deferred {
    fn of(row: &Row<'_>) -> Deferred {
        Deferred {
            line: row.line,
            key: row.key_text(),
            order: String::from_utf8_lossy(row.order).into_owned(),
            amount: row.amount,
            fee: row.fee,
            time: row.time,
            status: row.status,
        }
    }

    fn row(&self) -> Row<'_> {
        Row {
            hash: 0,
            line: self.line,
            amount: self.amount,
            fee: self.fee,
            time: self.time,
            status: self.status,
            key: self.key.as_bytes(),
            order: self.order.as_bytes(),
        }
    }
}

/// What the partitions found, merged.
#[derive(Default)]
struct Joined {
    counts: [[u64; CATEGORIES]; 2],
    sums: [[i128; CATEGORIES]; 2],
    diff: Vec<DiffRecord>,
    deferred: [Vec<Deferred>; 2],
}

impl Joined {
    fn count(&mut self, side: usize, category: Category, amount: i64) {
        self.counts[side][category.index()] += 1;
        self.sums[side][category.index()] += i128::from(amount);
    }

    fn merge(&mut self, other: Joined) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for (mine, theirs) in self.sums.iter_mut().zip(&other.sums) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        self.diff.extend(other.diff);
        let [ledger, statement] = other.deferred;
        self.deferred[0].extend(ledger);
        self.deferred[1].extend(statement);
    }
}

fn join_partitions(
    store: Store,
    files: &[String; 2],
    pending_from: Option<i64>,
    threads: usize,
    progress: &dyn Progress,
    times: &PhaseTimes,
) -> Result<Joined, EngineError> {
    let Store {
        partitions,
        memory,
        pieces,
        runs,
        dir,
        ..
    } = store;
    let [memory_ledger, memory_statement] = memory;
    let work: Vec<(usize, Vec<u8>, Vec<u8>)> = memory_ledger
        .into_iter()
        .zip(memory_statement)
        .enumerate()
        .map(|(p, (l, s))| (p, l, s))
        .collect();
    let work = Mutex::new(work.into_iter());
    let failed: Mutex<Option<EngineError>> = Mutex::new(None);
    let done = AtomicUsize::new(0);
    let spill_path = |run: usize| {
        dir.as_ref()
            .map(|d| d.0.join(format!("run-{run}.bin")))
            .unwrap_or_default()
    };
    let load = |side: usize, partition: usize, tail: Vec<u8>| -> Result<Vec<u8>, EngineError> {
        let list = &pieces[side][partition];
        if list.is_empty() {
            return Ok(tail);
        }
        let total = list.iter().map(|p| p.len).sum::<usize>() + tail.len();
        let mut bytes = vec![0u8; total];
        let mut at = 0;
        for piece in list {
            let file = runs.get(piece.run).ok_or_else(|| EngineError::Io {
                path: spill_path(piece.run),
                source: std::io::Error::other("spill run missing"),
            })?;
            file.read_exact_at(&mut bytes[at..at + piece.len], piece.offset)
                .map_err(|source| EngineError::Io {
                    path: spill_path(piece.run),
                    source,
                })?;
            at += piece.len;
        }
        bytes[at..].copy_from_slice(&tail);
        Ok(bytes)
    };
    let results: Vec<Joined> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(partitions))
            .map(|_| {
                scope.spawn(|| {
                    let mut joined = Joined::default();
                    loop {
                        let next = work.lock().ok().and_then(|mut w| w.next());
                        let Some((partition, ledger_tail, statement_tail)) = next else {
                            break;
                        };
                        let started = Instant::now();
                        let loaded = load(0, partition, ledger_tail)
                            .and_then(|l| load(1, partition, statement_tail).map(|s| (l, s)));
                        PhaseTimes::add(&times.load_ns, started.elapsed());
                        match loaded {
                            Ok((l, s)) => {
                                join_one(&l, &s, files, pending_from, &mut joined, times);
                            }
                            Err(error) => {
                                if let Ok(mut slot) = failed.lock() {
                                    slot.get_or_insert(error);
                                }
                                break;
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                        progress.advance(1);
                    }
                    joined
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    });
    if let Some(error) = failed.into_inner().ok().flatten() {
        return Err(error);
    }
    if done.load(Ordering::Relaxed) != partitions {
        return Err(EngineError::Polars(
            "a join thread stopped before its partitions were done".to_string(),
        ));
    }
    let mut all = Joined::default();
    for joined in results {
        all.merge(joined);
    }
    drop(runs);
    drop(dir);
    Ok(all)
}

/// A (key, kind) group of one partition: its first row on each side.
#[derive(Debug, Clone, Copy)]
struct Group {
    hash: u64,
    /// The group's first row on each side (`NONE`: none).
    first: [u32; 2],
    refund: bool,
}

/// Joins and classifies one partition.
fn join_one(
    ledger_bytes: &[u8],
    statement_bytes: &[u8],
    files: &[String; 2],
    pending_from: Option<i64>,
    joined: &mut Joined,
    times: &PhaseTimes,
) {
    let started = Instant::now();
    let rows = [decode(ledger_bytes), decode(statement_bytes)];
    let total = rows[0].len() + rows[1].len();
    if total == 0 {
        return;
    }
    let slots = (total * 2).next_power_of_two().max(16);
    let mask = slots - 1;
    let mut table = vec![NONE; slots];
    let mut groups: Vec<Group> = Vec::with_capacity(total);
    // For each row: its group, and whether it is the group's first on its side.
    let mut group_of: [Vec<u32>; 2] = [
        Vec::with_capacity(rows[0].len()),
        Vec::with_capacity(rows[1].len()),
    ];
    for side in 0..2 {
        for (index, row) in rows[side].iter().enumerate() {
            let refund = row.refund();
            let mut slot = (mix(row.hash) as usize) & mask;
            let group = loop {
                let at = table[slot];
                if at == NONE {
                    let id = groups.len() as u32;
                    let mut first = [NONE; 2];
                    first[side] = index as u32;
                    groups.push(Group {
                        hash: row.hash,
                        first,
                        refund,
                    });
                    table[slot] = id;
                    break id;
                }
                let group = &mut groups[at as usize];
                if group.hash == row.hash && group.refund == refund {
                    let (owner, first) = if group.first[0] != NONE {
                        (0, group.first[0])
                    } else {
                        (1, group.first[1])
                    };
                    if rows[owner][first as usize].key == row.key {
                        if group.first[side] == NONE {
                            group.first[side] = index as u32;
                        }
                        break at;
                    }
                }
                slot = (slot + 1) & mask;
            };
            group_of[side].push(group);
        }
    }
    let hashed = Instant::now();
    PhaseTimes::add(&times.join_ns, hashed - started);
    let [ledger_file, statement_file] = files;
    let file_of = [ledger_file.as_str(), statement_file.as_str()];
    let duplicate = [Category::DuplicateInLedger, Category::DuplicateInStatement];
    let missing = [Category::MissingInChannel, Category::MissingInLedger];
    for side in 0..2 {
        let other = 1 - side;
        for (index, row) in rows[side].iter().enumerate() {
            let group = groups[group_of[side][index] as usize];
            let is_first = group.first[side] == index as u32;
            let partner = group.first[other];
            if partner != NONE && is_first {
                // The first rows of a key on both sides: a pair.
                let (ledger_row, statement_row) = if side == 0 {
                    (row, &rows[1][partner as usize])
                } else {
                    (&rows[0][partner as usize], row)
                };
                let category = classify(ledger_row.compared(), statement_row.compared());
                joined.count(side, category, row.amount);
                if side == 0 && category != Category::Matched {
                    joined.diff.push(DiffRecord {
                        category,
                        key: row.key_text(),
                        kind: kind_of(row),
                        ledger: Some(ledger_row.values(file_of[0])),
                        statement: Some(statement_row.values(file_of[1])),
                    });
                }
                continue;
            }
            let category = if partner != NONE {
                duplicate[side]
            } else if row.refund() {
                // A one-sided refund may still pair by order: decided at the end.
                joined.deferred[side].push(Deferred::of(row));
                continue;
            } else if !is_first {
                duplicate[side]
            } else {
                one_sided_category(row, missing[side], pending_from)
            };
            joined.count(side, category, row.amount);
            if category != Category::Matched {
                joined
                    .diff
                    .push(lone_record(category, row, side, file_of[side]));
            }
        }
    }
    PhaseTimes::add(&times.classify_ns, hashed.elapsed());
}

fn kind_of(row: &Row<'_>) -> RecordKind {
    if row.refund() {
        RecordKind::Refund
    } else {
        RecordKind::Payment
    }
}

/// A diff record with one side only.
fn lone_record(category: Category, row: &Row<'_>, side: usize, file: &str) -> DiffRecord {
    let values = Some(row.values(file));
    let (ledger, statement) = if side == 0 {
        (values, None)
    } else {
        (None, values)
    };
    DiffRecord {
        category,
        key: row.key_text(),
        kind: kind_of(row),
        ledger,
        statement,
    }
}

/// The first row of a key the other side lacks: refund exception, `CLOSED`
/// (agrees with silence), pending, or missing.
fn one_sided_category(row: &Row<'_>, missing: Category, pending_from: Option<i64>) -> Category {
    if row.status == LedgerStatus::RefundException {
        Category::RefundException
    } else if row.status == LedgerStatus::Closed {
        Category::Matched
    } else if pending_from.is_some_and(|from| row.time >= from) {
        Category::Pending
    } else {
        missing
    }
}

type Counted<'a> = [(&'a mut [u64; CATEGORIES], &'a mut [i128; CATEGORIES]); 2];

/// One-sided refunds of every partition: a statement refund pairs with one
/// of our refunds of the same order and amount (lowest line first), as in
/// [`super::compare`]; the rest are duplicates, pending or missing.
fn finish_refunds(
    deferred: [Vec<Deferred>; 2],
    files: &[String; 2],
    pending_from: Option<i64>,
    counted: &mut Counted<'_>,
    diff: &mut Vec<DiffRecord>,
) {
    let [mut ours, mut theirs] = deferred;
    ours.sort_by_key(|d| d.line);
    theirs.sort_by_key(|d| d.line);
    let mut paired = [vec![false; ours.len()], vec![false; theirs.len()]];
    let mut available: HashMap<(&str, i64), Vec<usize>> = HashMap::new();
    for (index, row) in ours.iter().enumerate().rev() {
        available
            .entry((row.order.as_str(), row.amount))
            .or_default()
            .push(index);
    }
    let mut count = |side: usize, category: Category, amount: i64| {
        counted[side].0[category.index()] += 1;
        counted[side].1[category.index()] += i128::from(amount);
    };
    let mut seen_keys: HashSet<&str> = HashSet::new();
    for (r, row) in theirs.iter().enumerate() {
        if !seen_keys.insert(row.key.as_str()) {
            continue;
        }
        let Some(l) = available
            .get_mut(&(row.order.as_str(), row.amount))
            .and_then(|rows| rows.pop())
        else {
            continue;
        };
        let (ledger_row, statement_row) = (ours[l].row(), row.row());
        let category = classify(ledger_row.compared(), statement_row.compared());
        paired[0][l] = true;
        paired[1][r] = true;
        count(0, category, ledger_row.amount);
        count(1, category, statement_row.amount);
        if category != Category::Matched {
            diff.push(DiffRecord {
                category,
                key: ledger_row.key_text(),
                kind: RecordKind::Refund,
                ledger: Some(ledger_row.values(&files[0])),
                statement: Some(statement_row.values(&files[1])),
            });
        }
    }
    let missing = [Category::MissingInChannel, Category::MissingInLedger];
    let duplicate = [Category::DuplicateInLedger, Category::DuplicateInStatement];
    for (side, rows) in [&ours, &theirs].into_iter().enumerate() {
        let mut seen: HashSet<&str> = HashSet::new();
        for (index, deferred) in rows.iter().enumerate() {
            if paired[side][index] {
                seen.insert(deferred.key.as_str());
                continue;
            }
            let row = deferred.row();
            let category = if !seen.insert(deferred.key.as_str()) {
                duplicate[side]
            } else {
                one_sided_category(&row, missing[side], pending_from)
            };
            count(side, category, row.amount);
            if category != Category::Matched {
                diff.push(lone_record(category, &row, side, &files[side]));
            }
        }
    }
}
