//! Leader election with zookeeper-client's lock recipe, and what the leader
//! does while it leads: cron triggers, manual triggers, failover, adoption of
//! runs left by an earlier leader. Leadership ends with the session.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use zookeeper_client::{Acls, LockOptions, LockPrefix, SessionState};

use super::membership::disabled;
use super::session::{Session, ZkCoordinator};
use super::triggers::{self, TriggerAnswer, TriggerRequest};
use crate::error_chain::chain;
use crate::ledger::{NewRun, RunRecord, Trigger};
use crate::runtime::{Progress, RunError, Runner};
use crate::schedule::SystemClock;
use crate::scheduler::Scheduler;

/// How often the leader reconciles (failover, triggers, cron).
const LEADER_POLL: Duration = Duration::from_millis(250);

/// Contends for leadership under `session` and leads while it holds it.
pub(crate) async fn run(coord: Arc<ZkCoordinator>, runner: Runner, session: Session) {
    let client = session.client.clone();
    let stop = runner.shutdown().stop_new.clone();
    let dir = coord.paths.leader();
    loop {
        if session.ended.is_cancelled() || stop.is_cancelled() {
            return;
        }
        let prefix = match LockPrefix::new_curator(&dir, "latch-") {
            Ok(prefix) => prefix,
            Err(err) => {
                tracing::error!(error = %err, "bad election path");
                return;
            }
        };
        let locked = tokio::select! {
            locked = client.lock(prefix, coord.id().as_bytes(), LockOptions::new(Acls::anyone_all())) => locked,
            _ = session.ended.cancelled() => return,
            _ = stop.cancelled() => return,
        };
        match locked {
            Ok(lock) => {
                coord.set_lock_path(lock.lock_path());
                coord.set_leader(true);
                tracing::info!(instance = %coord.id(), "elected leader");
                lead(&coord, &runner, &session).await;
                coord.set_leader(false);
                tracing::info!(instance = %coord.id(), "no longer leader");
                drop(lock);
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "leader election failed; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = session.ended.cancelled() => return,
                }
            }
        }
    }
}

async fn lead(coord: &Arc<ZkCoordinator>, runner: &Runner, session: &Session) {
    let client = &session.client;
    let stop = runner.shutdown().stop_new.clone();
    let scheduler = Scheduler::new(
        runner.clone(),
        Arc::new(SystemClock),
        format!("scheduler@{}", coord.id()),
    );
    let handling: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut runs = JoinSet::new();
    heal_abandoned(coord, runner).await;
    while !session.ended.is_cancelled() && !stop.is_cancelled() {
        if client.state() == SessionState::SyncConnected {
            if let Err(err) = coord.requeue_orphans(runner.ledger()).await {
                tracing::warn!(error = %err, "failover pass failed");
            }
            adopt(coord, runner, &handling, &mut runs).await;
            serve_triggers(coord, runner, &handling, &mut runs).await;
            let paused = disabled(client, &coord.paths.disabled_jobs())
                .await
                .unwrap_or_default();
            // Confirmed with ZooKeeper right before creating runs: a paused
            // leader that lost its session must not fire.
            if coord.confirm_lock().await {
                match scheduler.tick_except(&paused).await {
                    Ok(created) => {
                        for run in created {
                            start(coord, runner, &handling, &mut runs, run).await;
                        }
                    }
                    Err(err) => tracing::error!(error = %chain(&err), "scheduler tick failed"),
                }
            }
        }
        while runs.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(scheduler.until_next_fire(LEADER_POLL)) => {}
            _ = session.ended.cancelled() => {}
            _ = stop.cancelled() => {}
        }
    }
    // Runs being concluded here notice the lost leadership and stop; the
    // next leader adopts them.
    coord.set_leader(false);
    while runs.join_next().await.is_some() {}
}

/// Records the run as in flight, then executes it in the background.
async fn start(
    coord: &Arc<ZkCoordinator>,
    runner: &Runner,
    handling: &Arc<Mutex<BTreeSet<String>>>,
    runs: &mut JoinSet<()>,
    run: RunRecord,
) {
    if let Err(err) = coord.mark_run(&run.run_id, &run.job).await {
        tracing::warn!(run_id = %run.run_id, error = %chain(&err), "cannot record the run in ZooKeeper");
    }
    spawn_run(runner, handling, runs, run.run_id, false);
}

fn spawn_run(
    runner: &Runner,
    handling: &Arc<Mutex<BTreeSet<String>>>,
    runs: &mut JoinSet<()>,
    run_id: String,
    adopted: bool,
) {
    let fresh = handling
        .lock()
        .map(|mut set| set.insert(run_id.clone()))
        .unwrap_or(false);
    if !fresh {
        return;
    }
    let runner = runner.clone();
    let handling = handling.clone();
    runs.spawn(async move {
        let result = if adopted {
            runner.resume(&run_id).await
        } else {
            runner
                .execute(&run_id, Arc::new(Progress::default()))
                .await
                .map(|_| ())
        };
        if let Err(err) = result {
            tracing::error!(%run_id, error = %chain(&err), "run could not execute");
        }
        if let Ok(mut set) = handling.lock() {
            set.remove(&run_id);
        }
    });
}

/// Takes over runs in flight that no task of this leader is handling.
async fn adopt(
    coord: &Arc<ZkCoordinator>,
    runner: &Runner,
    handling: &Arc<Mutex<BTreeSet<String>>>,
    runs: &mut JoinSet<()>,
) {
    let Ok(client) = coord.client() else { return };
    let Ok(in_flight) = client.list_children(&coord.paths.runs()).await else {
        return;
    };
    for run_id in in_flight {
        spawn_run(runner, handling, runs, run_id, true);
    }
}

/// Answers manual run requests.
async fn serve_triggers(
    coord: &Arc<ZkCoordinator>,
    runner: &Runner,
    handling: &Arc<Mutex<BTreeSet<String>>>,
    runs: &mut JoinSet<()>,
) {
    let Ok(client) = coord.client() else { return };
    let pending = match triggers::pending(&client, &coord.paths).await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read triggers");
            return;
        }
    };
    let paused = disabled(&client, &coord.paths.disabled_jobs())
        .await
        .unwrap_or_default();
    for (path, request, version) in pending {
        let created = create_requested(runner, &request, &paused).await;
        let answer = TriggerAnswer {
            run_id: created.as_ref().ok().map(|r| r.run_id.clone()),
            error: created.as_ref().err().cloned(),
            leader: coord.id().to_string(),
        };
        if let Err(err) = triggers::answer(&client, &path, version, request, answer).await {
            tracing::warn!(%path, error = %err, "cannot answer a trigger");
        }
        if let Ok(run) = created {
            start(coord, runner, handling, runs, run).await;
        }
    }
}

async fn create_requested(
    runner: &Runner,
    request: &TriggerRequest,
    paused: &BTreeSet<String>,
) -> Result<RunRecord, String> {
    if let Some(parent) = &request.rerun_of {
        let parent_job = runner
            .ledger()
            .run(parent)
            .await
            .map_err(|e| chain(&e))?
            .job;
        if paused.contains(&parent_job) {
            return Err(format!(
                "job `{parent_job}` is disabled in this cluster (reckon cluster enable {parent_job})"
            ));
        }
        return runner
            .request_rerun(
                parent,
                request.failed_only,
                request.reason.as_deref().unwrap_or("rerun"),
                &request.requested_by,
            )
            .await
            .map_err(|e| chain(&e));
    }
    let name = request
        .job
        .as_deref()
        .ok_or_else(|| "the request names no job".to_string())?;
    if paused.contains(name) {
        return Err(format!(
            "job `{name}` is disabled in this cluster (reckon cluster enable {name})"
        ));
    }
    let job = runner.catalog().get(name).map_err(|e| chain(&e))?;
    let business_date = request
        .business_date
        .unwrap_or_else(|| crate::schedule::business_date_for(job, chrono::Utc::now()));
    let new = NewRun {
        job: name.to_string(),
        business_date,
        trigger: Trigger::Manual,
        requested_by: request.requested_by.clone(),
        reason: request.reason.clone(),
        parent_run: None,
        failed_only: false,
        params: serde_json::json!({}),
    };
    runner.request(new).await.map_err(|e: RunError| chain(&e))
}

/// On election: runs left pending or running by a leader that died before
/// recording them in `runs/` (no heartbeat within the run lease) are failed,
/// so they never block their job and date. Runs listed in `runs/` are adopted
/// instead.
async fn heal_abandoned(coord: &Arc<ZkCoordinator>, runner: &Runner) {
    let Ok(client) = coord.client() else { return };
    let Ok(in_flight) = client.list_children(&coord.paths.runs()).await else {
        return;
    };
    let ledger = runner.ledger();
    let lease = runner.config().run_lease;
    let before = ledger.clock().now() - chrono::Duration::from_std(lease).unwrap_or_default();
    let Ok(stale) = ledger.stale_runs(before).await else {
        return;
    };
    for run in stale.iter().filter(|r| !in_flight.contains(&r.run_id)) {
        match ledger
            .fail_abandoned(&run.job, run.business_date, lease)
            .await
        {
            Ok(n) if n > 0 => {
                tracing::warn!(run_id = %run.run_id, job = %run.job, "marked abandoned run failed")
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(run_id = %run.run_id, error = %chain(&err), "cannot heal run")
            }
        }
    }
}
