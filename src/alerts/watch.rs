//! The alert watcher: what this node raises without the node loop's help.
//! On the leader only (one alert per cluster): runs that finished since the
//! last look (failed → `run_failed`, attention → `run_attention`), SLA
//! deadlines passed without a succeeded run, and members that left; on every
//! node: its own leadership changes.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::{AlertEvent, AlertKind, Alerts};
use crate::catalog::JobDef;
use crate::ledger::{Ledger, LedgerError};
use crate::runtime::Runner;

/// Runs read per look (more are read on the next look).
const BATCH: i64 = 500;

/// The business date whose run `job` should have by its deadline on the
/// local day containing `now`.
pub fn expected_business_date(job: &JobDef, now: DateTime<Utc>) -> NaiveDate {
    let today = now.with_timezone(&job.time_zone).date_naive();
    job.business_date.for_local_date(today)
}

/// The business date whose SLA `job` has missed at `now`, if any: its
/// `deadline` (local time in its zone) has passed today and the expected
/// business date has no succeeded run.
pub async fn sla_missed(
    ledger: &Ledger,
    job: &JobDef,
    now: DateTime<Utc>,
) -> Result<Option<NaiveDate>, LedgerError> {
    let Some(deadline) = job.deadline else {
        return Ok(None);
    };
    if !job.enabled {
        return Ok(None);
    }
    let today = now.with_timezone(&job.time_zone).date_naive();
    let due =
        crate::jobs::settlement::window::local_instant(today.and_time(deadline), job.time_zone);
    if now < due {
        return Ok(None);
    }
    let expected = expected_business_date(job, now);
    Ok(match ledger.succeeded_run(&job.name, expected).await? {
        Some(_) => None,
        None => Some(expected),
    })
}

/// Polls the ledger, the coordinator and (in a cluster) the registry.
pub struct Watcher {
    pub runner: Runner,
    pub alerts: Alerts,
    pub registry: Option<crate::coord::zookeeper::Registry>,
    pub poll: Duration,
}

impl Watcher {
    /// Watches until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let coord = self.runner.coordinator().clone();
        let instance = coord.instance_id().to_string();
        let mut since = self.runner.ledger().clock().now();
        let mut was_leader: Option<bool> = None;
        let mut changes = 0u64;
        let mut members: Option<BTreeSet<String>> = None;
        loop {
            let leader = coord.is_leader().await;
            if let Some(before) = was_leader
                && before != leader
            {
                changes += 1;
                self.alerts.leadership_changed(&instance, leader, changes);
            }
            was_leader = Some(leader);
            if leader {
                if let Err(err) = self.look(&mut since).await {
                    tracing::warn!(error = %crate::error_chain::chain(&err), "alert watcher could not read the ledger");
                }
                if let Some(registry) = &self.registry {
                    self.members(registry, &mut members).await;
                }
            } else {
                // A follower keeps its cursor current so it does not replay
                // old runs when it becomes leader.
                since = self.runner.ledger().clock().now();
                members = None;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One look at finished runs and SLA deadlines.
    pub async fn look(&self, since: &mut DateTime<Utc>) -> Result<(), LedgerError> {
        let ledger = self.runner.ledger();
        loop {
            let finished = ledger.finished_since(*since, BATCH).await?;
            for run in &finished {
                self.alerts.run_finished(run);
                if let Some(at) = run.finished_at {
                    *since = (*since).max(at);
                }
            }
            if (finished.len() as i64) < BATCH {
                break;
            }
        }
        let now = ledger.clock().now();
        for job in self.runner.catalog().jobs() {
            if let Some(date) = sla_missed(ledger, job, now).await? {
                let deadline = job
                    .deadline
                    .map(|d| d.format("%H:%M").to_string())
                    .unwrap_or_default();
                self.alerts.raise(AlertEvent {
                    kind: AlertKind::SlaMiss,
                    key: format!("{}@{date}", job.name),
                    title: format!(
                        "{} has no succeeded run for {date} by its deadline {deadline} ({})",
                        job.name,
                        job.time_zone.name()
                    ),
                    lines: vec![],
                    job: Some(job.name.clone()),
                    business_date: Some(date),
                    run_id: None,
                    instance: None,
                    at: now,
                });
            }
        }
        Ok(())
    }

    async fn members(
        &self,
        registry: &crate::coord::zookeeper::Registry,
        known: &mut Option<BTreeSet<String>>,
    ) {
        match crate::coord::zookeeper::status::cluster_status(registry, &[]).await {
            Ok(status) => {
                let now: BTreeSet<String> = status.instances.into_iter().map(|m| m.id).collect();
                if let Some(before) = known.as_ref() {
                    for gone in before.difference(&now) {
                        let at = Utc::now().timestamp_millis().to_string();
                        self.alerts.node_left(gone, &at);
                    }
                }
                *known = Some(now);
            }
            Err(err) => {
                tracing::warn!(error = %crate::error_chain::chain(&err), "alert watcher could not read the registry");
            }
        }
    }
}
