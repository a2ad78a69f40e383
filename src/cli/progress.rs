//! The progress line of a manual run (only on a terminal) and the run summary.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::{Progress, RunSummary};

/// How often the progress line is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(500);

/// A running progress line; quiet when stderr is not a terminal.
pub(super) struct Watcher(Option<tokio::task::JoinHandle<()>>);

/// Starts redrawing `shards done/total, rows` on stderr, if it is a terminal.
pub(super) fn watch(progress: Arc<Progress>) -> Watcher {
    if !std::io::stderr().is_terminal() {
        return Watcher(None);
    }
    Watcher(Some(tokio::spawn(async move {
        loop {
            let s = progress.snapshot();
            eprint!(
                "\r  shards {}/{} done, {} failed, {} rows read   ",
                s.shards_done, s.shards_total, s.shards_failed, s.rows_in
            );
            let _ = std::io::stderr().flush();
            tokio::time::sleep(REDRAW_INTERVAL).await;
        }
    })))
}

impl Watcher {
    /// Stops redrawing and clears the line.
    pub(super) fn finish(self) {
        if let Some(task) = self.0 {
            task.abort();
            eprint!("\r{:70}\r", "");
        }
    }
}

/// Prints the outcome of a run: status, counts, duration, reports, error.
pub(super) fn print_summary(summary: &RunSummary) {
    let run = &summary.run;
    let rows_in: i64 = summary.shards.iter().map(|s| s.rows_in).sum();
    let done = summary
        .shards
        .iter()
        .filter(|s| s.status == crate::ledger::RunStatus::Succeeded)
        .count();
    let seconds = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => {
            format!("{:.1}s", (end - start).num_milliseconds() as f64 / 1000.0)
        }
        _ => "-".into(),
    };
    println!(
        "run {} {} {} attempt {}: {} ({}/{} shards, {} rows in, {})",
        run.run_id,
        run.job,
        run.business_date,
        run.attempt,
        run.status,
        done,
        summary.shards.len(),
        rows_in,
        seconds
    );
    if let Some(outcome) = &run.outcome {
        if let Some(reports) = outcome.get("reports").and_then(|r| r.as_array()) {
            for report in reports.iter().filter_map(|r| r.as_str()) {
                println!("  report {report}");
            }
        }
        if let Some(attention) = outcome.get("attention").and_then(|r| r.as_array()) {
            for item in attention.iter().filter_map(|r| r.as_str()) {
                println!("  ATTENTION {item}");
            }
        }
    }
    if let Some(error) = &run.error {
        println!("  error: {error}");
    }
}
