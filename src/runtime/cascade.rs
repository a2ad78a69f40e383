//! `reckon rerun --cascade`: rerun a date, then every later date of the job
//! that had succeeded, in date order, so state carried from date to date
//! (closings, loan state, carried records) flows through again.

use std::sync::Arc;

use chrono::NaiveDate;

use super::progress::Progress;
use super::{RunError, RunSummary, Runner};
use crate::error_chain::chain;
use crate::ledger::{JobName, RunId, RunStatus};

/// What a cascade did.
#[derive(Debug, Clone, Default)]
pub struct CascadeReport {
    /// Every rerun executed, in date order (the first is the requested date).
    pub steps: Vec<RunSummary>,
    /// Later dates that were not rerun because the cascade stopped.
    pub not_rerun: Vec<NaiveDate>,
    /// Why the cascade stopped early, if it did.
    pub stopped: Option<String>,
}

impl CascadeReport {
    /// True when every date was rerun and succeeded.
    pub fn succeeded(&self) -> bool {
        self.stopped.is_none()
            && self
                .steps
                .iter()
                .all(|s| s.run.status == RunStatus::Succeeded)
    }
}

impl Runner {
    /// Reruns `parent_run`'s date, then the latest succeeded run of every
    /// later date of its job, in date order; `on_step` sees each finished
    /// rerun. Stops at the first rerun that does not succeed (or cannot be
    /// created) and lists the dates left. The later dates are those that
    /// had succeeded when the cascade began.
    pub async fn rerun_cascade(
        &self,
        parent_run: &RunId,
        reason: &str,
        requested_by: &str,
        mut on_step: impl FnMut(&RunSummary),
    ) -> Result<CascadeReport, RunError> {
        let parent = self.ledger.run(parent_run).await?;
        let later = self
            .ledger
            .succeeded_dates_after(&parent.job, parent.business_date)
            .await?;
        let first = self
            .request_rerun(parent_run, false, reason, requested_by)
            .await?;
        let step_reason = format!(
            "{reason} (cascade after {} rerun {})",
            parent.business_date, first.run_id
        );
        let mut report = CascadeReport::default();
        let mut next = Some(first.run_id);
        let mut dates = later.into_iter();
        while let Some(run_id) = next.take() {
            let summary = self.execute(&run_id, Arc::new(Progress::default())).await?;
            on_step(&summary);
            let ok = summary.run.status == RunStatus::Succeeded;
            let date = summary.run.business_date;
            report.steps.push(summary);
            if !ok {
                report.stopped = Some(format!("the rerun of {date} did not succeed"));
                break;
            }
            if self.shutdown.stop_new.is_cancelled() {
                report.stopped = Some("stopping (signal)".into());
                break;
            }
            let Some(date) = dates.next() else { break };
            match self
                .cascade_request(&parent.job, date, &step_reason, requested_by)
                .await
            {
                Ok(run_id) => next = Some(run_id),
                Err(err) => {
                    report.stopped = Some(format!("{date} could not be rerun: {}", chain(&err)));
                    report.not_rerun.push(date);
                }
            }
        }
        report.not_rerun.extend(dates);
        Ok(report)
    }

    /// A rerun of the latest succeeded run of `job` for `date`.
    async fn cascade_request(
        &self,
        job: &JobName,
        date: NaiveDate,
        reason: &str,
        requested_by: &str,
    ) -> Result<RunId, RunError> {
        let latest = self.ledger.succeeded_run(job, date).await?.ok_or_else(|| {
            RunError::NothingToRerun {
                job: job.clone(),
                business_date: date,
            }
        })?;
        Ok(self
            .request_rerun(&latest.run_id, false, reason, requested_by)
            .await?
            .run_id)
    }
}
