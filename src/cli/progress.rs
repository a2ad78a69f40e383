//! The progress line of a manual run (only on a terminal) and the run summary.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::jobs::recon::engine::progress::{Progress as EngineProgress, Unit};
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

/// The bar of `reckon recon` and `reckon bench recon`: stage, elapsed, done of
/// total (bytes read of each file, partitions joined, rows generated), rate
/// and ETA. Hidden when stderr is not a terminal, as `reckon run`'s line is.
pub(super) struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar on stderr if it is a terminal, else nothing.
    pub(super) fn on_terminal() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(Some(bar))
    }

    /// Removes the bar.
    pub(super) fn clear(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl EngineProgress for Bar {
    fn start(&self, label: &str, total: Option<u64>, unit: Unit) {
        let Some(bar) = &self.0 else {
            return;
        };
        let template = match (total, unit) {
            (None, _) => "{spinner} {msg:<16} {elapsed_precise}",
            (Some(_), Unit::Bytes) => {
                "{msg:<16} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
            }
            (Some(_), Unit::Items) => {
                "{msg:<16} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} ETA {eta}"
            }
        };
        bar.set_style(style(template).progress_chars("=> "));
        bar.set_length(total.unwrap_or(0));
        bar.set_position(0);
        bar.reset_eta();
        bar.set_message(label.to_string());
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(done);
        }
    }

    fn finish(&self, label: &str, elapsed: Duration) {
        if let Some(bar) = &self.0 {
            bar.println(format!("  {label}: {:.1} s", elapsed.as_secs_f64()));
        }
    }
}
