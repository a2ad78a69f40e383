//! `reckon bench …`: benchmarks that print figures side by side (not tests).
//! Each benchmark keeps its logic in its job kind's module; this is the dispatcher.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{EXIT_OK, Failure};
use crate::jobs::recon::engine::bench::{BenchConfig, ROWS_DEFAULT, run};

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Time `reckon recon` against DuckDB and PostgreSQL on generated files
    Recon(ReconBenchArgs),
}

#[derive(Debug, Args)]
struct ReconBenchArgs {
    /// Rows per side
    #[arg(long, default_value_t = ROWS_DEFAULT)]
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
    /// Skip the DuckDB run
    #[arg(long)]
    no_duckdb: bool,
}

/// `reckon bench`.
pub(super) async fn bench(args: BenchArgs) -> Result<u8, Failure> {
    let BenchWhat::Recon(args) = args.what;
    let reckon = std::env::current_exe().map_err(Failure::run)?;
    let config = BenchConfig {
        rows: args.rows,
        dir: args.dir,
        seed: args.seed,
        reuse_files: args.reuse,
        reckon,
        scripts: args.scripts,
        postgres: (!args.no_postgres).then_some(args.postgres),
        duckdb: !args.no_duckdb,
    };
    tokio::task::spawn_blocking(move || run(&config, &mut std::io::stdout()))
        .await
        .map_err(Failure::run)?
        .map_err(Failure::run)?;
    Ok(EXIT_OK)
}
