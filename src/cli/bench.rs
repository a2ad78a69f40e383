//! `reckon bench …`: benchmarks with their data generators. A small
//! dispatcher; each benchmark lives with its job kind.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::context::open_db;
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::jobs::repayment::bench as repayment;

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    #[command(subcommand)]
    which: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Generate repayment schedules for a loan book: compute alone, and
    /// compute + store on SQLite and PostgreSQL, beside baselines
    Repayment(RepaymentArgs),
    /// Check-back + state transition of prepared messages (SQL checker in the
    /// same database as `--database`), beside a one-round-trip-per-message baseline
    Compensation(CompensationArgs),
    /// Time `reckon recon` against DuckDB and PostgreSQL on generated files
    Recon(ReconBenchArgs),
    /// The console's grid, runs, run and cluster pages on a generated book
    /// of runs (SQLite), beside the database reads each page makes
    Console(ConsoleBenchArgs),
    /// The randomized fault series of issue 13 on 3 nodes with real
    /// PostgreSQL and ZooKeeper (a launcher: runs the test harness from a
    /// source checkout, `cargo bench --bench faults`)
    Faults(super::bench_faults::FaultsArgs),
    /// Write the recon benchmark's ledger and/or statement file (e.g. into a
    /// named pipe, for runs too large to keep on disk)
    ReconGenerate(ReconGenerateArgs),
}

#[derive(Debug, Args)]
struct ConsoleBenchArgs {
    /// Runs in the generated book
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// Jobs the runs are spread over
    #[arg(long, default_value_t = 10)]
    job_count: usize,
    /// Requests per page (after one untimed warm-up)
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Scratch directory (its console-bench.db and jobs/ are replaced)
    #[arg(long, value_name = "DIR", default_value = "reckon-bench-console")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct ReconGenerateArgs {
    /// Rows per side
    #[arg(long, default_value_t = crate::jobs::recon::engine::bench::ROWS_DEFAULT)]
    rows: u64,
    /// Seed of the generator
    #[arg(long, default_value_t = 20_261_121)]
    seed: u64,
    /// Where to write the ledger file
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,
    /// Where to write the statement file
    #[arg(long, value_name = "PATH")]
    statement: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReconBenchArgs {
    /// Rows per side
    #[arg(long, default_value_t = crate::jobs::recon::engine::bench::ROWS_DEFAULT)]
    rows: u64,
    /// Directory for the generated files and each engine's output
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Seed of the generator
    #[arg(long, default_value_t = 20_261_121)]
    seed: u64,
    /// Reuse ledger.csv and statement.csv already in DIR
    #[arg(long)]
    reuse: bool,
    /// Directory of recon_duckdb.py and recon_postgres.sql
    #[arg(long, default_value = "benches")]
    scripts: PathBuf,
    /// PostgreSQL to compare with
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Skip the PostgreSQL run
    #[arg(long)]
    no_postgres: bool,
    /// Skip the DuckDB runs
    #[arg(long)]
    no_duckdb: bool,
    /// Also time reckon's polars column path on the same files
    #[arg(long)]
    columns: bool,
    /// Also time the statement side of a recon-funds run with this many
    /// shards on one node (split once vs every shard re-reading) against
    /// the ad-hoc read of the same statement
    #[arg(long, value_name = "N")]
    shards: Option<u32>,
}

#[derive(Debug, Args)]
struct CompensationArgs {
    /// Prepared messages to generate
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Messages moved one round trip at a time for the naive baseline
    #[arg(long, default_value_t = 10_000)]
    naive_sample: usize,
    /// Partitions checked concurrently
    #[arg(long, default_value_t = 2)]
    shards: u32,
    /// Messages per batch
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
}

#[derive(Debug, Args)]
struct RepaymentArgs {
    /// Loans in the generated book
    #[arg(long, default_value_t = 1_000_000)]
    loans: usize,
    /// Term of every loan, in months
    #[arg(long, default_value_t = 12)]
    months: u32,
    /// Loans stored with single-row INSERTs for that baseline (then extrapolated)
    #[arg(long, default_value_t = 2_000)]
    sample: usize,
    /// SQLite database for the storage runs (a scratch table is created and dropped)
    #[arg(long, default_value = "sqlite://reckon-bench.db")]
    sqlite_url: String,
    /// PostgreSQL database for the storage runs; PostgreSQL is skipped without it
    #[arg(long)]
    postgres_url: Option<String>,
    /// Time the computation only
    #[arg(long)]
    compute_only: bool,
    /// Skip the SQLite storage runs
    #[arg(long)]
    skip_sqlite: bool,
    /// Seed of the generated book
    #[arg(long, default_value_t = 20261121)]
    seed: u64,
    /// Run the `repayment` job end to end on a generated book in PostgreSQL
    /// (a scratch database `reckon_bench_job` on the server of
    /// --postgres-url, dropped and recreated) and time it beside a bare COPY
    /// of the same output rows
    #[arg(long)]
    job: bool,
}

/// Runs the chosen benchmark.
pub(super) async fn bench(config: &Config, args: BenchArgs) -> Result<u8, Failure> {
    match args.which {
        Bench::Repayment(args) => bench_repayment(args).await,
        Bench::Compensation(args) => bench_compensation(config, args).await,
        Bench::Recon(args) => bench_recon(args).await,
        Bench::Console(args) => bench_console(config, args).await,
        Bench::Faults(args) => super::bench_faults::bench_faults(args),
        Bench::ReconGenerate(args) => {
            use crate::jobs::recon::engine::bench::generate_files;
            use crate::jobs::recon::engine::progress::NoProgress;
            tokio::task::spawn_blocking(move || {
                generate_files(
                    args.ledger.as_deref(),
                    args.statement.as_deref(),
                    args.rows,
                    args.seed,
                    &NoProgress,
                )
            })
            .await
            .map_err(Failure::run)?
            .map_err(Failure::run)?;
            Ok(EXIT_OK)
        }
    }
}

async fn bench_console(config: &Config, args: ConsoleBenchArgs) -> Result<u8, Failure> {
    let jobs_dir = args.dir.join("jobs");
    let db_path = args.dir.join("console-bench.db");
    let _ = std::fs::remove_dir_all(&jobs_dir);
    for stale in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", db_path.display()));
    }
    std::fs::create_dir_all(&jobs_dir).map_err(Failure::run)?;
    let files = crate::console::bench::job_files(args.job_count.max(1));
    for (name, text) in &files {
        std::fs::write(jobs_dir.join(format!("{name}.toml")), text).map_err(Failure::run)?;
    }
    let mut config = config.clone();
    config.database_url = format!("sqlite://{}", db_path.display());
    config.jobs_dir = jobs_dir;
    let runner = super::context::runner(&config).await?;
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    crate::console::bench::run(runner, &names, args.runs, args.requests)
        .await
        .map_err(Failure::run)?;
    Ok(EXIT_OK)
}

async fn bench_recon(args: ReconBenchArgs) -> Result<u8, Failure> {
    use crate::jobs::recon::engine::bench::{BenchConfig, run};
    let reckon = std::env::current_exe().map_err(Failure::run)?;
    let shards = args.shards.filter(|&n| n > 0);
    let config = BenchConfig {
        rows: args.rows,
        dir: args.dir,
        seed: args.seed,
        reuse_files: args.reuse,
        reckon,
        scripts: args.scripts,
        postgres: (!args.no_postgres).then_some(args.postgres),
        duckdb: !args.no_duckdb,
        columns: args.columns,
    };
    tokio::task::spawn_blocking(move || {
        let bar = super::progress::Bar::on_terminal();
        let result = run(&config, &mut std::io::stdout(), &bar);
        bar.clear();
        let statement = config.dir.join("statement.csv");
        result.map_err(Failure::run)?;
        if let Some(shards) = shards {
            let figures =
                crate::jobs::recon::funds::bench::statement_shards(&statement, shards, &config.dir)
                    .map_err(Failure::run)?;
            println!(
                "recon-funds statement side, {} shards on one node ({} rows): ad-hoc read {:.2} s; every shard re-reading {:.2} s ({:.2}x); split once {:.2} s ({:.2}x, target <= 1.30)",
                figures.shards,
                figures.rows,
                figures.adhoc_seconds,
                figures.reread_seconds,
                figures.reread_seconds / figures.adhoc_seconds,
                figures.split_seconds,
                figures.split_seconds / figures.adhoc_seconds,
            );
        }
        Ok::<(), Failure>(())
    })
    .await
    .map_err(Failure::run)??;
    Ok(EXIT_OK)
}

async fn bench_compensation(config: &Config, args: CompensationArgs) -> Result<u8, Failure> {
    use crate::jobs::compensation::bench;
    if args.batch_size == 0 || args.batch_size > 3000 || args.shards == 0 {
        return Err(Failure::usage(
            "--batch-size must be 1..=3000 and --shards at least 1",
        ));
    }
    let db = open_db(config).await?;
    let result = bench::run(
        &db,
        &bench::BenchConfig {
            messages: args.messages,
            naive_sample: args.naive_sample,
            shards: args.shards,
            batch_size: args.batch_size,
        },
    )
    .await
    .map_err(Failure::run)?;
    println!(
        "backend    messages generate  batched check-back + transition                              naive baseline (sample)"
    );
    println!("{}", bench::format_result(&result));
    db.close().await;
    Ok(EXIT_OK)
}

async fn bench_repayment(args: RepaymentArgs) -> Result<u8, Failure> {
    if args.job {
        return bench_repayment_job(&args).await;
    }
    let loans = repayment::generate_loans(args.loans, args.months, args.seed);
    let (count, checksum, elapsed, cpu) = repayment::compute_all(&loans).map_err(Failure::run)?;
    println!(
        "repayment bench: {} loans of {} months, {count} installments (checksum {checksum})",
        args.loans, args.months
    );
    let compute = repayment::Timing {
        label: "compute only (1 thread)".into(),
        installments: count,
        elapsed,
        extrapolated_from: None,
    };
    print_timing(&compute);
    if let Some(cpu) = cpu {
        print_timing(&repayment::Timing {
            label: "compute only, thread CPU time (busy machine: time on core)".into(),
            installments: count,
            elapsed: cpu,
            extrapolated_from: None,
        });
    }
    if args.compute_only {
        return Ok(EXIT_OK);
    }
    if !args.skip_sqlite {
        let sqlite = repayment::sqlite(&args.sqlite_url, &loans, args.sample)
            .await
            .map_err(Failure::run)?;
        sqlite.iter().for_each(print_timing);
    }
    if let Some(url) = &args.postgres_url {
        let postgres = repayment::postgres(url, &loans, args.sample)
            .await
            .map_err(Failure::run)?;
        postgres.iter().for_each(print_timing);
        if let [bare, streamed, ..] = postgres.as_slice() {
            println!(
                "postgres  compute + COPY / bare COPY = {:.2}x (target <= 3x)",
                streamed.elapsed.as_secs_f64() / bare.elapsed.as_secs_f64().max(1e-9)
            );
        }
    } else {
        println!("postgres  skipped (no --postgres-url)");
    }
    Ok(EXIT_OK)
}

/// The job file of the end-to-end benchmark: the shipped job's settings.
const BENCH_JOB_TOML: &str = "name = \"repayment-eod\"\nkind = \"repayment\"\n\
    cron = \"0 30 1 * * *\"\nshards = 4\ntimeout = \"2h\"\n";

/// `reckon bench repayment --job`: the job end to end on PostgreSQL.
async fn bench_repayment_job(args: &RepaymentArgs) -> Result<u8, Failure> {
    use std::sync::Arc;
    let Some(server) = &args.postgres_url else {
        return Err(Failure::usage("--job needs --postgres-url"));
    };
    let url = scratch_database(server, "reckon_bench_job").await?;
    let db = crate::db::Db::connect_and_migrate(&url)
        .await
        .map_err(Failure::run)?;
    let date = repayment::job_business_date();
    let loans = repayment::generate_loans(args.loans, args.months, args.seed);
    let started = std::time::Instant::now();
    let book = repayment::write_job_book(&url, &loans, date)
        .await
        .map_err(Failure::run)?;
    drop(loans);
    println!(
        "repayment job bench: {} loans, {} receipts up to {date}, {} stored schedule rows (written in {:.1} s, not timed)",
        book.loans,
        book.receipts,
        book.schedules,
        started.elapsed().as_secs_f64()
    );
    let kinds = crate::jobs::builtin();
    let catalog = crate::catalog::Catalog::from_sources(
        &[(
            std::path::PathBuf::from("jobs/repayment-eod.toml"),
            BENCH_JOB_TOML.to_string(),
        )],
        &kinds,
    )
    .map_err(Failure::run)?;
    let reports = std::env::temp_dir().join(format!("reckon-bench-job-{}", std::process::id()));
    std::fs::create_dir_all(&reports).map_err(Failure::run)?;
    let runner = crate::runtime::Runner::new(
        crate::ledger::Ledger::new(db.clone(), Arc::new(crate::schedule::SystemClock)),
        Arc::new(catalog),
        Arc::new(kinds),
        Arc::new(crate::coord::Embedded::new("bench".to_string())),
        crate::runtime::Paths {
            reports_dir: reports.clone(),
            data_dir: reports.clone(),
            excel_bom: false,
            reports_xlsx: false,
        },
        crate::runtime::RunnerConfig::default(),
    );
    // The night before (not timed against the baseline): no checkpoint
    // yet, every loan replayed from its disbursement; it leaves the
    // checkpoints of the day before, as a running book has them.
    let before = date.pred_opt().unwrap_or(date);
    let started = std::time::Instant::now();
    run_job(&runner, before).await?;
    let first_night = started.elapsed();
    crate::jobs::repayment::profile::take();
    crate::jobs::repayment::profile::take_rows();

    let started = std::time::Instant::now();
    run_job(&runner, date).await?;
    let job_time = started.elapsed();
    let phases = crate::jobs::repayment::profile::take();
    let job_rows = crate::jobs::repayment::profile::take_rows();
    let (rows, copy_time) = repayment::copy_job_outputs(&url, "repayment-eod", date)
        .await
        .map_err(Failure::run)?;
    if rows != job_rows {
        return Err(Failure::run(format!(
            "the baseline copied {rows} rows but the job wrote {job_rows}"
        )));
    }
    println!(
        "{:<58} {:>9.2} s  ({} loans/s)",
        format!("postgres  first night {before}: no checkpoint, full replay"),
        first_night.as_secs_f64(),
        (book.loans as f64 / first_night.as_secs_f64().max(1e-9)) as u64
    );
    println!(
        "{:<58} {:>9.2} s  ({} loans/s, {:.2} s per 100k loans)",
        format!("postgres  repayment job end to end, {date} (4 shards)"),
        job_time.as_secs_f64(),
        (book.loans as f64 / job_time.as_secs_f64().max(1e-9)) as u64,
        job_time.as_secs_f64() * 100_000.0 / (book.loans.max(1) as f64)
    );
    println!(
        "{:<58} {:>9.2} s  ({rows} rows, checked identical to the job's)",
        "postgres  baseline: bare COPY of the same output rows",
        copy_time.as_secs_f64()
    );
    println!(
        "postgres  job / bare COPY = {:.2}x (target <= 2x)",
        job_time.as_secs_f64() / copy_time.as_secs_f64().max(1e-9)
    );
    println!("phases of {date} (shard phases summed over the 4 shards, which run concurrently):");
    for (phase, elapsed) in phases {
        println!("  {:<40} {:>9.2} s", phase.as_str(), elapsed.as_secs_f64());
    }
    db.close().await;
    std::fs::remove_dir_all(&reports).ok();
    Ok(EXIT_OK)
}

/// Runs the benchmark's job for `date`; an error unless it succeeded.
async fn run_job(runner: &crate::runtime::Runner, date: chrono::NaiveDate) -> Result<(), Failure> {
    let summary = runner
        .run_now(
            crate::ledger::NewRun {
                job: "repayment-eod".into(),
                business_date: date,
                trigger: crate::ledger::Trigger::Manual,
                requested_by: "bench".into(),
                reason: Some("benchmark".into()),
                parent_run: None,
                failed_only: false,
                params: serde_json::json!({}),
            },
            std::sync::Arc::new(crate::runtime::Progress::default()),
        )
        .await
        .map_err(Failure::run)?;
    if summary.run.status != crate::ledger::RunStatus::Succeeded {
        return Err(Failure::run(format!(
            "the job did not succeed for {date}: {:?}",
            summary.run.error
        )));
    }
    Ok(())
}

/// Drops and recreates database `name` on the server of `server_url`;
/// returns its URL.
async fn scratch_database(server_url: &str, name: &str) -> Result<String, Failure> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .map_err(Failure::run)?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(Failure::run)?;
    }
    let base = server_url.split('?').next().unwrap_or(server_url);
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    Ok(format!("{prefix}/{name}"))
}

fn print_timing(timing: &repayment::Timing) {
    let note = match timing.extrapolated_from {
        Some(rows) => format!("  (extrapolated from {rows} rows)"),
        None => String::new(),
    };
    println!(
        "{:<58} {:>9.2} s {:>12.0} installments/s{note}",
        timing.label,
        timing.elapsed.as_secs_f64(),
        timing.rate()
    );
}
