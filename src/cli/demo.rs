//! `reckon demo`: a fresh SQLite database loaded from the fixtures, the
//! nightly chain run for a fixed business date, and where the reports are.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;

use super::context::runner;
use super::progress::print_summary;
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::ledger::{NewRun, RunStatus, Trigger};
use crate::runtime::Progress;

/// The business date the fixtures describe.
pub const DEMO_DATE: (i32, u32, u32) = (2026, 11, 21);

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Directory for the demo database and reports (recreated)
    #[arg(long, default_value = "reckon-demo")]
    dir: PathBuf,
    /// Directory of fixture data
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
}

/// Runs the demo.
pub(super) async fn demo(config: &Config, args: DemoArgs) -> Result<u8, Failure> {
    let date = NaiveDate::from_ymd_opt(DEMO_DATE.0, DEMO_DATE.1, DEMO_DATE.2)
        .ok_or_else(|| Failure::usage("bad demo date"))?;
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .map_err(|e| Failure::run(format!("cannot clear {}: {e}", args.dir.display())))?;
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::run(format!("cannot create {}: {e}", args.dir.display())))?;
    let mut config = config.clone();
    config.database_url = format!("sqlite://{}", args.dir.join("reckon.db").display());
    config.reports_dir = args.dir.join("reports");
    config.data_dir = args.fixtures.clone();
    let runner = runner(&config).await?;
    let loaded = crate::jobs::load_fixtures(runner.ledger().db(), &args.fixtures, date)
        .await
        .map_err(Failure::run)?;
    println!(
        "demo database {} loaded from {}: {loaded}",
        config.database_url,
        args.fixtures.display()
    );
    let mut code = EXIT_OK;
    let jobs: Vec<crate::ledger::JobName> = runner
        .catalog()
        .dependency_order()
        .iter()
        .filter(|j| j.enabled)
        .map(|j| j.name.clone())
        .collect();
    for job in jobs {
        let new = NewRun {
            job,
            business_date: date,
            trigger: Trigger::Manual,
            requested_by: "demo".into(),
            reason: Some("reckon demo".into()),
            parent_run: None,
            failed_only: false,
            params: serde_json::json!({}),
        };
        let summary = runner
            .run_now(new, Arc::new(Progress::default()))
            .await
            .map_err(Failure::run)?;
        print_summary(&summary);
        if summary.run.status != RunStatus::Succeeded {
            code = EXIT_RUN_FAILED;
        }
    }
    println!("reports are under {}", config.reports_dir.display());
    Ok(code)
}
