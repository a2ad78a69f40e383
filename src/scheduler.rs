//! The cron side of `reckon serve`: each tick looks at every enabled job's
//! fire times since the last one handled (remembered in the ledger, so it
//! survives restarts), creates runs for the ones due, and applies the misfire
//! policy to fire times that were missed while no node was running.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::{JobDef, MisfirePolicy};
use crate::error_chain::chain;
use crate::ledger::{Epoch, JobName, LedgerError, NewRun, RunRecord, Trigger};
use crate::runtime::{RunError, Runner};
use crate::schedule::{Clock, business_date_for};

/// A fire time later than this when handled counts as missed (Quartz's misfire threshold).
pub const MISFIRE_THRESHOLD: Duration = Duration::from_secs(60);
/// Upper bound on fire times looked at per job and tick.
const DUE_FIRES_MAX: usize = 10_000;

/// Creates runs when jobs' cron fire times come.
pub struct Scheduler {
    runner: Runner,
    clock: Arc<dyn Clock>,
    requested_by: String,
}

impl Scheduler {
    /// A scheduler creating runs through `runner`, reading time from `clock`.
    pub fn new(
        runner: Runner,
        clock: Arc<dyn Clock>,
        requested_by: impl Into<String>,
    ) -> Scheduler {
        Scheduler {
            runner,
            clock,
            requested_by: requested_by.into(),
        }
    }

    /// Handles every fire time due by now; returns the runs created (pending).
    pub async fn tick(&self) -> Result<Vec<RunRecord>, RunError> {
        self.tick_as(&BTreeSet::new(), None).await
    }

    /// Like [`Scheduler::tick`], leaving out the jobs named in `paused`
    /// (disabled in a cluster); their missed fire times follow the misfire
    /// policy once they are enabled again.
    pub async fn tick_except(
        &self,
        paused: &BTreeSet<JobName>,
    ) -> Result<Vec<RunRecord>, RunError> {
        self.tick_as(paused, None).await
    }

    /// [`Scheduler::tick_except`] as a leader write under the leader epoch
    /// `lead`: each run is created in one transaction with the fire time it
    /// answers, so a crash between the two can neither lose the fire nor
    /// fire twice.
    pub async fn tick_as(
        &self,
        paused: &BTreeSet<JobName>,
        lead: Option<Epoch>,
    ) -> Result<Vec<RunRecord>, RunError> {
        let now = self.clock.now();
        let mut created = Vec::new();
        // A single node's run-time switches (`reckon disable`, the console):
        // a disabled instance fires nothing, a disabled job is left out.
        let mut paused = paused.clone();
        let coord = self.runner.coordinator();
        if !coord.distributed() {
            let here = crate::toggles::node_switches(self.runner.ledger().db())
                .await
                .map_err(crate::ledger::LedgerError::from)?;
            if here.instances.contains(coord.instance_id()) {
                return Ok(created);
            }
            paused.extend(here.jobs.into_iter().map(JobName::from));
        }
        let jobs: Vec<JobDef> = self
            .runner
            .catalog()
            .jobs()
            .filter(|j| j.enabled && j.cron.is_some() && !paused.contains(j.name.as_str()))
            .cloned()
            .collect();
        for job in &jobs {
            if let Some(run) = self.tick_job(job, now, lead).await? {
                created.push(run);
            }
        }
        Ok(created)
    }

    async fn tick_job(
        &self,
        job: &JobDef,
        now: DateTime<Utc>,
        lead: Option<Epoch>,
    ) -> Result<Option<RunRecord>, RunError> {
        let ledger = self.runner.ledger();
        let Some(last) = ledger.last_fire(&job.name).await? else {
            // First time this job is scheduled: start counting from now.
            ledger.mark_fire_handled(&job.name, now).await?;
            return Ok(None);
        };
        let due: Vec<DateTime<Utc>> = crate::schedule::next_fires(job, last, DUE_FIRES_MAX)
            .into_iter()
            .take_while(|t| *t <= now)
            .collect();
        let Some(latest) = due.last().copied() else {
            return Ok(None);
        };
        let threshold = chrono::Duration::from_std(MISFIRE_THRESHOLD).unwrap_or_default();
        let late = |t: &DateTime<Utc>| now - *t > threshold;
        let missed: Vec<DateTime<Utc>> = due.iter().copied().filter(late).collect();
        if !missed.is_empty() {
            let listed: Vec<String> = missed.iter().map(|t| t.to_rfc3339()).collect();
            tracing::warn!(job = %job.name, policy = job.misfire.name(), "missed fire times: {}", listed.join(", "));
        }
        if job.misfire == MisfirePolicy::CatchUp {
            let oldest_late = due.first().is_some_and(late);
            return self.catch_up(job, &due, oldest_late, lead).await;
        }
        let on_time = !late(&latest);
        let trigger = match (on_time, job.misfire) {
            (true, _) => Some(Trigger::Cron),
            (false, MisfirePolicy::Skip) => None,
            (false, _) => Some(Trigger::Misfire),
        };
        // Fire times passed over without a run of their own are remembered,
        // so `reckon jobs` can show business dates that never ran.
        let latest_date = business_date_for(job, latest);
        let passed_over: Vec<(DateTime<Utc>, chrono::NaiveDate)> = missed
            .iter()
            .map(|t| (*t, business_date_for(job, *t)))
            .filter(|(_, d)| trigger.is_none() || *d != latest_date)
            .collect();
        ledger
            .record_missed_fires(&job.name, &passed_over, job.misfire.name())
            .await?;
        let Some(trigger) = trigger else {
            ledger.mark_fire_handled(&job.name, latest).await?;
            return Ok(None);
        };
        self.create(job, latest, trigger, missed.len(), due.len(), lead)
            .await
    }

    /// `misfire = "catch_up"`: one run per missed business date, in date
    /// order, oldest first — the next date only once the job has no run in
    /// flight, since a date's run may carry state into the next.
    async fn catch_up(
        &self,
        job: &JobDef,
        due: &[DateTime<Utc>],
        late: bool,
        lead: Option<Epoch>,
    ) -> Result<Option<RunRecord>, RunError> {
        let ledger = self.runner.ledger();
        if ledger
            .active_runs()
            .await?
            .iter()
            .any(|r| r.job == job.name)
        {
            return Ok(None);
        }
        // The last fire time of the oldest due business date stands for it.
        let Some(first) = due.first() else {
            return Ok(None);
        };
        let date = business_date_for(job, *first);
        let fire_at = due
            .iter()
            .copied()
            .take_while(|t| business_date_for(job, *t) == date)
            .last()
            .unwrap_or(*first);
        let trigger = if late {
            Trigger::Misfire
        } else {
            Trigger::Cron
        };
        let pending = due.iter().filter(|t| **t > fire_at).count();
        let stands_for = due.len() - pending;
        self.create(job, fire_at, trigger, pending + 1, stands_for, lead)
            .await
    }

    /// Creates the run of `fire_at`, which stands for `stands_for` due fire
    /// times (those up to it not handled yet: one pass covers them). When
    /// the date is covered by another run, the fire is recorded against
    /// that run instead, so every handled fire time is named in the ledger.
    async fn create(
        &self,
        job: &JobDef,
        fire_at: DateTime<Utc>,
        trigger: Trigger,
        missed: usize,
        stands_for: usize,
        lead: Option<Epoch>,
    ) -> Result<Option<RunRecord>, RunError> {
        let reason = match (trigger, job.misfire) {
            (Trigger::Misfire, MisfirePolicy::CatchUp) => Some(format!(
                "catch-up of a missed fire time {} ({missed} due){}",
                fire_at.to_rfc3339(),
                standing_for(stands_for)
            )),
            (Trigger::Misfire, _) => Some(format!(
                "catch-up for {missed} missed fire time(s), latest {}",
                fire_at.to_rfc3339()
            )),
            _ => Some(fire_text(fire_at, stands_for)),
        };
        let new = NewRun {
            job: job.name.clone(),
            business_date: business_date_for(job, fire_at),
            trigger,
            requested_by: self.requested_by.clone(),
            reason,
            parent_run: None,
            failed_only: false,
            params: serde_json::json!({}),
        };
        match self.runner.request_as(new, lead, Some(fire_at)).await {
            Ok(run) => Ok(Some(run)),
            Err(
                err @ (RunError::AlreadySucceeded { .. }
                | RunError::Ledger(LedgerError::RunActive { .. })),
            ) => {
                // The date is covered by another run: the fire is handled,
                // and named on that run (event `fire_covered`).
                tracing::info!(job = %job.name, "not fired: {}", chain(&err));
                let covering = match &err {
                    RunError::AlreadySucceeded { run_id, .. }
                    | RunError::Ledger(LedgerError::RunActive { run_id, .. }) => run_id.clone(),
                    _ => crate::ledger::RunId::from(""),
                };
                if let Err(LedgerError::UnknownRun(_)) = self.runner.ledger().run(&covering).await {
                    // The covering run finished as we looked: the next tick
                    // creates this fire's run (the mark has not moved).
                    return Ok(None);
                }
                self.runner
                    .ledger()
                    .mark_fire_covered(
                        &job.name,
                        fire_at,
                        &covering,
                        &fire_text(fire_at, stands_for),
                        lead,
                    )
                    .await?;
                Ok(None)
            }
            // Not handled: the next tick tries the same fire time again.
            Err(err) => Err(err),
        }
    }

    /// How long to sleep before the next fire time of any job (at most `cap`).
    pub fn until_next_fire(&self, cap: Duration) -> Duration {
        let now = self.clock.now();
        self.runner
            .catalog()
            .jobs()
            .filter(|j| j.enabled)
            .filter_map(|j| crate::schedule::next_fires(j, now, 1).first().copied())
            .min()
            .and_then(|next| (next - now).to_std().ok())
            .map_or(cap, |wait| wait.min(cap))
    }
}

/// `fire time T`, or `fire time T, standing for N due fire times` when one
/// pass answers several (a leader came back after a gap): how a run or a
/// `fire_covered` event names the fire times it handled.
pub fn fire_text(fire_at: DateTime<Utc>, stands_for: usize) -> String {
    format!(
        "fire time {}{}",
        fire_at.to_rfc3339(),
        standing_for(stands_for)
    )
}

fn standing_for(stands_for: usize) -> String {
    if stands_for > 1 {
        format!(", standing for {stands_for} due fire times")
    } else {
        String::new()
    }
}
