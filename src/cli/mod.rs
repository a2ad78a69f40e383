//! The `reckon` command line: thin glue over the library. Only this module
//! knows exit codes: 0 ok, 1 a run failed (or was refused), 2 usage or
//! configuration error.

mod bench;
mod bench_faults;
mod breaks;
mod cascade;
mod cluster;
mod console_hash;
mod context;
mod demo;
mod history;
mod jobs_list;
mod progress;
mod recon;
mod run;
mod schedule;
mod serve;
mod txn;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides};
use crate::error_chain::chain;

/// Exit code: everything went as asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: a run failed, was cancelled or was refused.
pub const EXIT_RUN_FAILED: u8 = 1;
/// Exit code: wrong usage, bad configuration or bad job files.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "reckon",
    version,
    about = "Sharded batch runner for the nightly back office: settlement, reconciliation, repayment schedules, compensation",
    after_help = "Exit codes: 0 ok, 1 a run failed or was refused, 2 usage or configuration error."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Configuration file [default: ./reckon.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of job definitions [default: ./jobs]
    #[arg(long, global = true, value_name = "DIR")]
    jobs: Option<PathBuf>,
    /// Store: sqlite://PATH or postgres://… [default: sqlite://reckon.db]
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Log lines as JSON instead of text
    #[arg(long, global = true)]
    log_json: bool,
    /// Cluster registry: zk://host:port[,host:port…]/namespace [default: none, single node]
    #[arg(long, global = true, value_name = "URL")]
    registry: Option<String>,
    /// This node's instance id in a cluster [default: host-pid]
    #[arg(long, global = true, value_name = "ID")]
    instance_id: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the job catalog with each job's next fire times
    Jobs,
    /// Run a job now for a business date or a range of dates (backfill)
    Run(run::RunArgs),
    /// Run a finished run's job and date again, as a new attempt linked to it
    Rerun(run::RerunArgs),
    /// List runs, newest first
    Runs(history::RunsArgs),
    /// Show one run: shards, durations, row counts, errors, events, reports
    Show(history::ShowArgs),
    /// Create or update the database schema
    Migrate,
    /// Run the scheduler: fire jobs by cron until SIGTERM/SIGINT (with --http: the console and /metrics)
    Serve(serve::ServeArgs),
    /// Print an argon2 hash of a console operator's password read from stdin
    ConsoleHash,
    /// Set up a fresh SQLite database from fixtures and run the nightly chain
    Demo(demo::DemoArgs),
    /// Print a loan's repayment schedule as CSV (a calculator; no database)
    Schedule(schedule::ScheduleArgs),
    /// Benchmarks with their data generators
    Bench(bench::BenchArgs),
    /// Cluster status and control (needs --registry)
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Transactional messages: list, show, retry a dead one, resolve by hand
    Txn(txn::TxnArgs),
    /// Reconcile a ledger file against a channel statement, no database
    Recon(recon::ReconArgs),
    /// The break register: list breaks, show one, resolve one with a note
    Breaks(breaks::BreaksArgs),
}

/// Parses the command line, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        jobs_dir: cli.global.jobs.clone(),
        database_url: cli.global.database.clone(),
        log_format: cli.global.log_json.then_some(LogFormat::Json),
        registry: cli.global.registry.clone(),
        instance_id: cli.global.instance_id.clone(),
    };
    let config = match Config::load(&overrides, &|key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(err) => return fail(&err, EXIT_USAGE),
    };
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(config.log_format, serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err, EXIT_RUN_FAILED),
    };
    let code = runtime.block_on(dispatch(cli.command, config));
    ExitCode::from(code)
}

async fn dispatch(command: Command, config: Config) -> u8 {
    let result = match command {
        Command::Jobs => jobs_list::jobs(&config).await,
        Command::Run(args) => run::run(&config, args).await,
        Command::Rerun(args) => run::rerun(&config, args).await,
        Command::Runs(args) => history::runs(&config, args).await,
        Command::Show(args) => history::show(&config, args).await,
        Command::Migrate => context::migrate(&config).await,
        Command::Serve(args) => serve::serve(&config, args).await,
        Command::ConsoleHash => console_hash::console_hash(),
        Command::Demo(args) => demo::demo(&config, args).await,
        Command::Schedule(args) => schedule::schedule(args),
        Command::Bench(args) => bench::bench(&config, args).await,
        Command::Cluster(command) => cluster::cluster(&config, command).await,
        Command::Txn(args) => txn::txn(&config, args).await,
        Command::Recon(args) => recon::recon(args).await,
        Command::Breaks(args) => breaks::breaks(&config, args).await,
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("reckon: error: {}", chain(failure.error.as_ref()));
            failure.code
        }
    }
}

/// An error on its way to the user, with the exit code it means.
pub(crate) struct Failure {
    error: Box<dyn std::error::Error + Send + Sync>,
    code: u8,
}

impl Failure {
    pub(crate) fn usage(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Failure {
        Failure {
            error: error.into(),
            code: EXIT_USAGE,
        }
    }

    pub(crate) fn run(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Failure {
        Failure {
            error: error.into(),
            code: EXIT_RUN_FAILED,
        }
    }
}

fn fail(err: &(dyn std::error::Error + 'static), code: u8) -> ExitCode {
    eprintln!("reckon: error: {}", chain(err));
    ExitCode::from(code)
}

fn init_logging(format: LogFormat, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECKON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
