//! The alert watcher: what this node raises without the node loop's help.
//! On the leader only (one alert per cluster): runs that finished since the
//! last look (failed → `run_failed`, attention → `run_attention`), SLA
//! deadlines passed without a succeeded run, members that left, and each new
//! leader epoch (`leadership_changed`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::{AlertEvent, AlertKind, Alerts, JournalError};
use crate::catalog::JobDef;
use crate::coord::zookeeper::ZkCoordinator;
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

/// Errors of one look.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// How far before its cursor the watcher reads finished runs again: a run
/// whose transaction committed after a later-stamped one was read is still
/// seen (the journal drops what was alerted already).
const OVERLAP: chrono::Duration = chrono::Duration::minutes(2);

/// Cursor names in the journal.
const FINISHED_CURSOR: &str = "finished_runs";
const MEMBERS_CURSOR: &str = "members";
const LEADER_CURSOR: &str = "leader";

/// Polls the ledger, the coordinator and (in a cluster) the registry through
/// this node's session. Its cursors live in the journal (shared by every
/// node), so a restart or a new leader goes on where the last look ended.
pub struct Watcher {
    pub runner: Runner,
    pub alerts: Alerts,
    /// Cluster mode: this node's coordinator (its one ZooKeeper session).
    pub cluster: Option<Arc<ZkCoordinator>>,
    /// Where cursors are kept; `None` keeps them in memory (tests).
    pub journal: Option<Journal>,
    pub poll: Duration,
    /// Cursors when there is no journal.
    pub memory: Mutex<BTreeMap<String, String>>,
}

impl Watcher {
    /// A watcher for this node.
    pub fn new(
        runner: Runner,
        alerts: Alerts,
        cluster: Option<Arc<ZkCoordinator>>,
        journal: Option<Journal>,
        poll: Duration,
    ) -> Watcher {
        Watcher {
            runner,
            alerts,
            cluster,
            journal,
            poll,
            memory: Mutex::new(BTreeMap::new()),
        }
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, JournalError> {
        match &self.journal {
            Some(journal) => journal.cursor(name).await,
            None => Ok(self.memory.lock().ok().and_then(|m| m.get(name).cloned())),
        }
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), JournalError> {
        match &self.journal {
            Some(journal) => journal.set_cursor(name, value).await,
            None => {
                if let Ok(mut m) = self.memory.lock() {
                    m.insert(name.to_string(), value.to_string());
                }
                Ok(())
            }
        }
    }

    /// Watches until `shutdown`: only while this node leads (one alert per
    /// cluster), each look at runs and deadlines, members and leadership.
    pub async fn run(self, shutdown: CancellationToken) {
        let coord = self.runner.coordinator().clone();
        loop {
            if coord.is_leader().await {
                if let Err(err) = self.look().await {
                    tracing::warn!(error = %crate::error_chain::chain(&err), "alert watcher: look at runs failed");
                }
                if self.cluster.is_some()
                    && let Err(err) = self.cluster_look().await
                {
                    tracing::warn!(error = %crate::error_chain::chain(&err), "alert watcher: look at the cluster failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One look at finished runs (since the cursor, less [`OVERLAP`]) and
    /// SLA deadlines; the cursor moves only after their events are recorded.
    /// The first look ever starts now (no alerts about older history).
    pub async fn look(&self) -> Result<(), WatchError> {
        let ledger = self.runner.ledger();
        let now = ledger.clock().now();
        let cursor = match self.cursor(FINISHED_CURSOR).await? {
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now),
            None => {
                self.set_cursor(FINISHED_CURSOR, &now.to_rfc3339()).await?;
                now
            }
        };
        let mut after = cursor - OVERLAP;
        let mut newest = cursor;
        loop {
            let finished = ledger.finished_since(after, BATCH).await?;
            for run in &finished {
                for event in Alerts::run_events(run) {
                    self.alerts.raise_recorded(event).await?;
                }
                if let Some(at) = run.finished_at {
                    after = after.max(at);
                    newest = newest.max(at);
                }
            }
            if (finished.len() as i64) < BATCH {
                break;
            }
        }
        if newest > cursor {
            self.set_cursor(FINISHED_CURSOR, &newest.to_rfc3339())
                .await?;
        }
        for job in self.runner.catalog().jobs() {
            if let Some(date) = sla_missed(ledger, job, now).await? {
                let deadline = job
                    .deadline
                    .map(|d| d.format("%H:%M").to_string())
                    .unwrap_or_default();
                self.alerts
                    .raise_recorded(AlertEvent {
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
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Cluster mode: registrations gone since the last look (by any leader)
    /// → `node_left`; a leader epoch not alerted yet → `leadership_changed`.
    pub async fn cluster_look(&self) -> Result<(), WatchError> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        match cluster.status(&[]).await {
            Ok(status) => {
                let now: BTreeMap<String, i64> = status
                    .instances
                    .iter()
                    .map(|m| (format!("{}@{}", m.id, m.registered), m.registered))
                    .collect();
                let before: Option<Vec<(String, i64)>> = self
                    .cursor(MEMBERS_CURSOR)
                    .await?
                    .and_then(|text| serde_json::from_str(&text).ok());
                for (id, registered) in before.unwrap_or_default() {
                    if !now.contains_key(&format!("{id}@{registered}")) {
                        self.alerts
                            .raise_recorded(Alerts::node_left_event(&id, registered))
                            .await?;
                    }
                }
                let members: Vec<(String, i64)> = status
                    .instances
                    .iter()
                    .map(|m| (m.id.clone(), m.registered))
                    .collect();
                let text = serde_json::to_string(&members).unwrap_or_else(|_| "[]".into());
                self.set_cursor(MEMBERS_CURSOR, &text).await?;
            }
            Err(err) => {
                tracing::warn!(error = %crate::error_chain::chain(&err), "alert watcher could not read the registry");
            }
        }
        if let Some(lead) = self.runner.ledger().leader().await? {
            let last = self.cursor(LEADER_CURSOR).await?;
            let (last_epoch, last_holder) = last
                .as_deref()
                .and_then(|t| t.split_once(' '))
                .map(|(e, h)| (e.parse::<i64>().unwrap_or(0), Some(h.to_string())))
                .unwrap_or((0, None));
            if lead.epoch.0 > last_epoch {
                self.alerts
                    .raise_recorded(Alerts::leadership_event(
                        &lead.holder,
                        lead.epoch.0,
                        last_holder.as_deref(),
                    ))
                    .await?;
                self.set_cursor(LEADER_CURSOR, &format!("{} {}", lead.epoch.0, lead.holder))
                    .await?;
            }
        }
        Ok(())
    }
}
