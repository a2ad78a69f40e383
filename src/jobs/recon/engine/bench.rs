//! The recon benchmark (`reckon bench recon`): a generator of ledger and
//! statement files with a known mix of breaks, and a runner that times
//! `reckon recon`, DuckDB (`benches/recon_duckdb.py`: the same output, and
//! the join alone as DuckDB's floor) and PostgreSQL
//! (`benches/recon_postgres.sql`) on the same files in one run, with each
//! one's peak memory (maximum resident set size from `/usr/bin/time`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::progress::{NoProgress, Progress, Unit};

/// Rows per side when none is given.
pub const ROWS_DEFAULT: u64 = 10_000_000;
/// One row in this many is a break of each kind (0.1 %).
const BREAK_ONE_IN: u64 = 1_000;
/// The generated day's cut-off; the pending window is 30 minutes before it.
pub const CUTOFF: &str = "2026-11-21 23:59:59";
/// Seconds of the day before which generated times stay (pending rows excepted).
const DAY_SECONDS_BEFORE_WINDOW: u64 = 23 * 3_600;

/// Errors of the benchmark (I/O and the timed programs).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
}

/// What the generator wrote, counted as it wrote (not by the engine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub ledger: PathBuf,
    pub statement: PathBuf,
    pub ledger_rows: u64,
    pub statement_rows: u64,
    /// Expected break rows per category name (duplicates count the extra row).
    pub breaks: Vec<(&'static str, u64)>,
}

/// The break kinds, in the order of the generator's dice.
const KINDS: [&str; 8] = [
    "amount_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "missing_in_channel",
    "missing_in_ledger",
    "duplicate_in_ledger",
    "duplicate_in_statement",
    "pending",
];

/// splitmix64: a fixed, seedable sequence so the files are the same every time.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One generated record; amounts in cents, fees in cents.
#[derive(Debug, Clone, Copy)]
struct Row {
    key_number: u64,
    refund: bool,
    amount: u64,
    fee: i64,
    status: &'static str,
    seconds: u64,
}

impl Row {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let (h, m, s) = (
            self.seconds / 3_600,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        let order = self.key_number;
        write!(
            out,
            "P{order:014},{}.{:02},{},2026-11-21 {h:02}:{m:02}:{s:02},",
            self.amount / 100,
            self.amount % 100,
            self.status
        )?;
        let sign = if self.fee < 0 { "-" } else { "" };
        let fee = self.fee.unsigned_abs();
        write!(out, "{sign}{}.{:02},", fee / 100, fee % 100)?;
        if self.refund {
            write!(out, "R{order:014}")?;
        }
        out.write_all(b"\n")
    }
}

/// Writes `ledger.csv` and `statement.csv` of about `rows` rows each into
/// `dir`: 0.1 % of the keys are each kind of break, 1 % are refunds; the
/// statement lists the keys in a different order than the ledger.
pub fn generate(dir: &Path, rows: u64, seed: u64) -> Result<Generated, BenchError> {
    generate_with(dir, rows, seed, &NoProgress)
}

/// [`generate`], reporting rows written.
pub fn generate_with(
    dir: &Path,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Generated, BenchError> {
    std::fs::create_dir_all(dir).map_err(|source| BenchError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    generate_files(
        Some(&dir.join("ledger.csv")),
        Some(&dir.join("statement.csv")),
        rows,
        seed,
        progress,
    )
}

/// The generator writing either file or both (`None`: not written), e.g.
/// into named pipes, so that a 100 M-row run needs no CSV on disk.
///
/// Both files are written by two threads, one file each (the same rows: each
/// thread rolls the same dice), so a reader that takes the files one after
/// the other never waits on a pipe the generator cannot fill: one writer
/// for both would block opening (or filling) the second pipe while the
/// reader still waits for the rest of the first.
pub fn generate_files(
    ledger: Option<&Path>,
    statement: Option<&Path>,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Generated, BenchError> {
    let (Some(ledger), Some(statement)) = (ledger, statement) else {
        return generate_one_pass(ledger, statement, rows, seed, progress);
    };
    let (ledger_side, statement_side) = std::thread::scope(|scope| {
        let statement_side =
            scope.spawn(|| generate_one_pass(None, Some(statement), rows, seed, &NoProgress));
        let ledger_side = generate_one_pass(Some(ledger), None, rows, seed, progress);
        (ledger_side, statement_side.join())
    });
    let statement_side = statement_side.map_err(|_| BenchError::Write {
        path: statement.to_path_buf(),
        source: std::io::Error::other("the statement writer stopped"),
    })??;
    let mut generated = ledger_side?;
    generated.statement = statement_side.statement;
    generated.statement_rows = statement_side.statement_rows;
    Ok(generated)
}

/// One writer for the file(s) given.
fn generate_one_pass(
    ledger: Option<&Path>,
    statement: Option<&Path>,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Generated, BenchError> {
    let open = |path: Option<&Path>| -> Result<Box<dyn Write>, BenchError> {
        match path {
            Some(path) => File::create(path)
                .map(|file| Box::new(BufWriter::with_capacity(1 << 20, file)) as Box<dyn Write>)
                .map_err(|source| BenchError::Write {
                    path: path.to_path_buf(),
                    source,
                }),
            None => Ok(Box::new(std::io::sink())),
        }
    };
    let (mut ledger_out, mut statement_out) = (open(ledger)?, open(statement)?);
    let ledger = ledger.map(Path::to_path_buf).unwrap_or_default();
    let statement = statement.map(Path::to_path_buf).unwrap_or_default();
    let header = b"order_no,amount,status,completed_at,fee,refund_no\n";
    let mut generated = Generated {
        ledger: ledger.clone(),
        statement: statement.clone(),
        breaks: KINDS.iter().map(|kind| (*kind, 0)).collect(),
        ..Generated::default()
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Write { path, source }
    };
    ledger_out.write_all(header).map_err(io(&ledger))?;
    statement_out.write_all(header).map_err(io(&statement))?;
    // The statement walks the keys in an affine permutation of the ledger's order.
    let stride = coprime_stride(rows);
    let mut dice = Dice(seed);
    let mut statement_rows: Vec<Vec<u8>> = Vec::new();
    let block = 1u64 << 16;
    let mut start = 0;
    while start < rows {
        let end = (start + block).min(rows);
        statement_rows.clear();
        for index in start..end {
            let key_number = (index * stride) % rows;
            let (l, s, kind) = make_pair(key_number, &mut dice);
            for row in &l {
                row.write(&mut ledger_out).map_err(io(&ledger))?;
                generated.ledger_rows += 1;
            }
            for row in &s {
                let mut line = Vec::with_capacity(64);
                row.write(&mut line).map_err(io(&statement))?;
                statement_rows.push(line);
                generated.statement_rows += 1;
            }
            if let Some(kind) = kind {
                generated.breaks[kind].1 += 1;
            }
        }
        // Reverse each block so the two files do not share an order.
        for line in statement_rows.iter().rev() {
            statement_out.write_all(line).map_err(io(&statement))?;
        }
        progress.advance(end - start);
        start = end;
    }
    ledger_out.flush().map_err(io(&ledger))?;
    statement_out.flush().map_err(io(&statement))?;
    Ok(generated)
}

fn coprime_stride(rows: u64) -> u64 {
    let mut stride = 7_919u64; // a prime
    while rows > 1 && gcd(stride, rows) != 1 {
        stride += 2;
    }
    stride
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The ledger rows, statement rows and break kind (index into `KINDS`) of one key.
fn make_pair(key_number: u64, dice: &mut Dice) -> (Vec<Row>, Vec<Row>, Option<usize>) {
    let roll = dice.next();
    let kind_roll = (roll >> 10) % BREAK_ONE_IN;
    let kind = (kind_roll < KINDS.len() as u64).then_some(kind_roll as usize);
    // Refunds (1 %) only among the matched keys, so every break kind is a payment.
    let refund = kind.is_none() && (roll >> 40).is_multiple_of(100);
    let amount = 100 + roll % 999_900;
    let fee = ((amount * 6 + 500) / 1_000) as i64;
    let row = Row {
        key_number,
        refund,
        amount,
        fee: if refund { -fee } else { fee },
        status: if refund { "REFUND" } else { "SUCCESS" },
        seconds: (roll >> 20) % DAY_SECONDS_BEFORE_WINDOW,
    };
    let (ledger, statement) = match kind {
        Some(0) => (
            vec![row],
            vec![Row {
                amount: amount + 1,
                ..row
            }],
        ),
        Some(1) => (
            vec![row],
            vec![Row {
                status: "CLOSED",
                ..row
            }],
        ),
        Some(2) => (
            vec![row],
            vec![Row {
                fee: row.fee + 1,
                ..row
            }],
        ),
        Some(3) => (vec![row], vec![]),
        Some(4) => (vec![], vec![row]),
        Some(5) => (vec![row, row], vec![row]),
        Some(6) => (vec![row], vec![row, row]),
        Some(7) => (
            vec![Row {
                seconds: 86_399 - (roll >> 50) % 1_700,
                ..row
            }],
            vec![],
        ),
        _ => (vec![row], vec![row]),
    };
    (ledger, statement, kind)
}

/// One timed program.
#[derive(Debug, Clone)]
pub struct Timing {
    pub name: String,
    pub seconds: f64,
    /// Maximum resident set size in MiB, when `/usr/bin/time` could tell.
    pub peak_mib: Option<f64>,
}

/// Runs `program args…` under `/usr/bin/time` (when present) and returns its
/// wall time and peak memory.
pub fn time_command(name: &str, program: &Path, args: &[&str]) -> Result<Timing, BenchError> {
    time_command_with(name, program, args, &[])
}

/// [`time_command`] with extra environment variables.
pub fn time_command_with(
    name: &str,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Timing, BenchError> {
    let report =
        std::env::temp_dir().join(format!("reckon-bench-{}-{name}.time", std::process::id()));
    let gnu_time = Path::new("/usr/bin/time");
    let mut command = if gnu_time.exists() {
        let mut command = Command::new(gnu_time);
        command
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&report)
            .arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args);
    command.envs(env.iter().copied());
    let started = Instant::now();
    let output = command.output().map_err(|source| BenchError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(BenchError::Failed {
            program: format!("{name} ({})", program.display()),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let peak_mib = std::fs::read_to_string(&report)
        .ok()
        .and_then(|text| text.lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    let _ = std::fs::remove_file(&report);
    Ok(Timing {
        name: name.to_string(),
        seconds,
        peak_mib,
    })
}

/// What `reckon bench recon` runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub rows: u64,
    pub dir: PathBuf,
    pub seed: u64,
    /// Reuse `ledger.csv`/`statement.csv` already in `dir`.
    pub reuse_files: bool,
    /// The `reckon` binary to time (normally the running one).
    pub reckon: PathBuf,
    /// Where `recon_duckdb.py` and `recon_postgres.sql` are.
    pub scripts: PathBuf,
    /// PostgreSQL URL for the PostgreSQL run; `None` skips it.
    pub postgres: Option<String>,
    pub duckdb: bool,
    /// Also time reckon's polars column path (`RECKON_RECON_ENGINE=columns`).
    pub columns: bool,
}

/// Generates (or reuses) the files, times each engine, prints the figures;
/// `progress` hears of the generation (rows) and of each engine's run.
pub fn run(
    config: &BenchConfig,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<Vec<Timing>, BenchError> {
    let timed_with = |name: &str, program: &Path, args: &[&str], env: &[(&str, &str)]| {
        progress.start(&format!("running {name}"), None, Unit::Items);
        let timing = time_command_with(name, program, args, env);
        if let Ok(timing) = &timing {
            progress.finish(name, std::time::Duration::from_secs_f64(timing.seconds));
        }
        timing
    };
    let timed = |name: &str, program: &Path, args: &[&str]| timed_with(name, program, args, &[]);
    let console = |source| BenchError::Write {
        path: PathBuf::from("<stdout>"),
        source,
    };
    // Absolute paths: PostgreSQL's server-side COPY reads the files itself.
    let dir = std::fs::create_dir_all(&config.dir)
        .and_then(|_| std::fs::canonicalize(&config.dir))
        .map_err(|source| BenchError::Write {
            path: config.dir.clone(),
            source,
        })?;
    let config = &BenchConfig {
        dir,
        ..config.clone()
    };
    let ledger = config.dir.join("ledger.csv");
    let statement = config.dir.join("statement.csv");
    if !(config.reuse_files && ledger.exists() && statement.exists()) {
        let started = Instant::now();
        progress.start("generate", Some(config.rows), Unit::Items);
        let generated = generate_with(&config.dir, config.rows, config.seed, progress)?;
        progress.finish("generate", started.elapsed());
        writeln!(
            out,
            "generated {} ledger rows, {} statement rows in {:.1} s; expected breaks: {}",
            generated.ledger_rows,
            generated.statement_rows,
            started.elapsed().as_secs_f64(),
            generated
                .breaks
                .iter()
                .map(|(kind, count)| format!("{kind} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .map_err(console)?;
    }
    let (ledger_text, statement_text) = (
        ledger.display().to_string(),
        statement.display().to_string(),
    );
    let mut timings = Vec::new();
    let mut engines = vec![("reckon", "partitioned")];
    if config.columns {
        engines.push(("reckon-columns", "columns"));
    }
    for (name, engine) in engines {
        let reckon_out = config.dir.join(format!("out-{name}"));
        timings.push(timed_with(
            name,
            &config.reckon,
            &[
                "recon",
                "--ledger",
                &ledger_text,
                "--statement",
                &statement_text,
                "--format",
                "generic",
                "--out",
                &reckon_out.display().to_string(),
                "--cutoff",
                CUTOFF,
            ],
            &[("RECKON_RECON_ENGINE", engine)],
        )?);
    }
    if config.duckdb {
        let script = config.scripts.join("recon_duckdb.py");
        // The same output as reckon's diff.csv, then DuckDB's floor (join only).
        for (name, mode) in [("duckdb", "full"), ("duckdb-join", "join")] {
            let duckdb_out = config.dir.join(format!("out-{name}"));
            timings.push(timed(
                name,
                Path::new("python3"),
                &[
                    &script.display().to_string(),
                    &ledger_text,
                    &statement_text,
                    &duckdb_out.display().to_string(),
                    CUTOFF,
                    mode,
                ],
            )?);
        }
    }
    if let Some(url) = &config.postgres {
        let postgres_out = config.dir.join("out-postgres");
        std::fs::create_dir_all(&postgres_out).map_err(|source| BenchError::Write {
            path: postgres_out.clone(),
            source,
        })?;
        let script = config.scripts.join("recon_postgres.sql");
        let vars = [
            format!("ledger={ledger_text}"),
            format!("statement={statement_text}"),
            format!("out={}", postgres_out.join("diff.csv").display()),
            format!("cutoff={CUTOFF}"),
        ];
        let mut args: Vec<&str> = vec![url, "-X", "-v", "ON_ERROR_STOP=1"];
        for var in &vars {
            args.extend(["-v", var]);
        }
        let script_text = script.display().to_string();
        args.extend(["-f", &script_text]);
        timings.push(timed("postgres", Path::new("psql"), &args)?);
    }
    print_figures(config, &timings, out).map_err(console)?;
    Ok(timings)
}

fn diff_rows(path: &Path) -> Option<u64> {
    let text = std::fs::read(path).ok()?;
    Some(
        text.iter()
            .filter(|&&b| b == b'\n')
            .count()
            .saturating_sub(1) as u64,
    )
}

fn print_figures(
    config: &BenchConfig,
    timings: &[Timing],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<14} {:>10} {:>12} {:>12}",
        "engine", "seconds", "peak MiB", "diff rows"
    )?;
    for timing in timings {
        let rows = diff_rows(
            &config
                .dir
                .join(format!("out-{}", timing.name))
                .join("diff.csv"),
        );
        writeln!(
            out,
            "{:<14} {:>10.2} {:>12} {:>12}",
            timing.name,
            timing.seconds,
            timing
                .peak_mib
                .map_or("n/a".to_string(), |mib| format!("{mib:.0}")),
            rows.map_or("n/a".to_string(), |rows| rows.to_string()),
        )?;
    }
    let seconds = |name: &str| timings.iter().find(|t| t.name == name).map(|t| t.seconds);
    if let (Some(reckon), Some(duckdb)) = (seconds("reckon"), seconds("duckdb")) {
        writeln!(
            out,
            "reckon/duckdb time ratio: {:.2} (target <= 0.50)",
            reckon / duckdb
        )?;
        let reckon_rows = diff_keys(&config.dir.join("out-reckon").join("diff.csv"));
        let duckdb_rows = diff_keys(&config.dir.join("out-duckdb").join("diff.csv"));
        match (reckon_rows, duckdb_rows) {
            (Some(a), Some(b)) if a == b => writeln!(
                out,
                "duckdb diff rows equal reckon's: yes ({} rows: category, key, ledger line, statement line)",
                a.len()
            )?,
            (Some(a), Some(b)) => writeln!(
                out,
                "duckdb diff rows equal reckon's: NO ({} reckon rows, {} duckdb rows, {} only in reckon)",
                a.len(),
                b.len(),
                a.iter().filter(|row| b.binary_search(row).is_err()).count()
            )?,
            _ => writeln!(
                out,
                "duckdb diff rows equal reckon's: cannot tell (a diff.csv is missing)"
            )?,
        }
    }
    if let Some(peak) = timings
        .iter()
        .find(|t| t.name == "reckon")
        .and_then(|t| t.peak_mib)
    {
        writeln!(out, "reckon peak memory: {peak:.0} MiB (target <= 1024)")?;
    }
    Ok(())
}

/// (category, key, ledger line, statement line) of each row of a diff file,
/// sorted; reckon's and the DuckDB script's layouts are told apart by header.
fn diff_keys(path: &Path) -> Option<Vec<(String, String, String, String)>> {
    let mut reader = csv::Reader::from_path(path).ok()?;
    let header = reader.headers().ok()?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (category, key) = (column("category")?, column("key")?);
    let (ledger_line, statement_line) = (column("ledger_line")?, column("statement_line")?);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.ok()?;
        let field = |at: usize| record.get(at).unwrap_or("").to_string();
        rows.push((
            field(category),
            field(key),
            field(ledger_line),
            field(statement_line),
        ));
    }
    rows.sort();
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `reckon recon` reads the ledger to its end before it opens the
    /// statement: named pipes written by one generator must not deadlock,
    /// and carry exactly the files a plain run writes.
    #[test]
    fn pipes_read_one_after_the_other_carry_the_plain_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        generate(&plain, 5_000, 7).unwrap();
        let (ledger, statement) = (dir.path().join("l.fifo"), dir.path().join("s.fifo"));
        for fifo in [&ledger, &statement] {
            let made = std::process::Command::new("mkfifo")
                .arg(fifo)
                .status()
                .unwrap();
            assert!(made.success());
        }
        let (l, s) = (ledger.clone(), statement.clone());
        let writer =
            std::thread::spawn(move || generate_files(Some(&l), Some(&s), 5_000, 7, &NoProgress));
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let first = std::fs::read(&ledger).unwrap();
            let second = std::fs::read(&statement).unwrap();
            let _ = done.send((first, second));
        });
        let (first, second) = wait
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the pipes were read to their end (no deadlock)");
        let generated = writer.join().unwrap().unwrap();
        assert_eq!(first, std::fs::read(plain.join("ledger.csv")).unwrap());
        assert_eq!(second, std::fs::read(plain.join("statement.csv")).unwrap());
        assert!(generated.ledger_rows > 4_900 && generated.statement_rows > 4_900);
    }

    #[test]
    fn generator_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let generated = generate(dir.path(), 20_000, 7).unwrap();
        let lines = |path: &Path| std::fs::read_to_string(path).unwrap().lines().count() as u64 - 1;
        assert_eq!(lines(&generated.ledger), generated.ledger_rows);
        assert_eq!(lines(&generated.statement), generated.statement_rows);
        // Every kind appears; about 0.1 % each (20 expected per kind).
        for (kind, count) in &generated.breaks {
            assert!((5..=50).contains(count), "{kind}: {count}");
        }
        let count = |kind: &str| generated.breaks.iter().find(|(k, _)| *k == kind).unwrap().1;
        // Ledger: every key but missing_in_ledger once, duplicates twice.
        assert_eq!(
            generated.ledger_rows,
            20_000 - count("missing_in_ledger") + count("duplicate_in_ledger")
        );
    }
}
