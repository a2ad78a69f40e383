//! A coordinator for driving the node loop step by step in one process:
//! leadership, terms and ZooKeeper blips are set by the test; a "cluster"
//! dispatch runs each item on the runner given to it, as a worker would.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use reckon::catalog::JobDef;
use reckon::ledger::{JobName, RunRecord};
use reckon::runtime::{Assignment, CoordError, Coordinator, PendingRequest, RequestAnswer, Runner};
use tokio_util::sync::CancellationToken;

/// A test coordinator: one instance whose leadership the test sets.
pub struct TestCoord {
    id: String,
    leader: AtomicBool,
    term: AtomicU64,
    distributed: bool,
    /// Dispatches still to fail (a ZooKeeper blip).
    pub fail_dispatch: AtomicU32,
    /// Dispatches made.
    pub dispatched: AtomicU32,
    queue: Arc<Mutex<BTreeSet<(reckon::ledger::RunId, u32)>>>,
    runner: OnceLock<Runner>,
    /// Cancelled to stop this instance's workers (its session ended).
    pub lost: CancellationToken,
    /// Manual requests waiting for the leader (removed when answered).
    pub requests: Mutex<Vec<PendingRequest>>,
    /// Answers given, with the handle of the request answered.
    pub answers: Mutex<Vec<(String, RequestAnswer)>>,
    /// Jobs disabled cluster-wide; `Err` = reading them fails (a blip).
    pub paused: Mutex<Result<BTreeSet<JobName>, String>>,
}

impl TestCoord {
    pub fn new(id: &str, distributed: bool) -> Arc<TestCoord> {
        Arc::new(TestCoord {
            id: id.into(),
            leader: AtomicBool::new(false),
            term: AtomicU64::new(0),
            distributed,
            fail_dispatch: AtomicU32::new(0),
            dispatched: AtomicU32::new(0),
            queue: Arc::default(),
            runner: OnceLock::new(),
            lost: CancellationToken::new(),
            requests: Mutex::default(),
            answers: Mutex::default(),
            paused: Mutex::new(Ok(BTreeSet::new())),
        })
    }

    /// The runner whose workers run dispatched items.
    pub fn attach(&self, runner: Runner) {
        let _ = self.runner.set(runner);
    }

    /// Wins an election (a new term).
    pub fn elect(&self) {
        self.term.fetch_add(1, Ordering::SeqCst);
        self.leader.store(true, Ordering::SeqCst);
    }

    /// Loses leadership.
    pub fn depose(&self) {
        self.leader.store(false, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Coordinator for TestCoord {
    fn instance_id(&self) -> &str {
        &self.id
    }

    async fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn leader_term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }

    async fn assign(&self, _job: &JobDef, items: &[u32]) -> Result<Assignment, CoordError> {
        Ok(Assignment::from([(self.id.clone(), items.to_vec())]))
    }

    fn distributed(&self) -> bool {
        self.distributed
    }

    async fn dispatch(
        &self,
        run: &RunRecord,
        _job: &JobDef,
        assignment: &Assignment,
    ) -> Result<(), CoordError> {
        if self
            .fail_dispatch
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(CoordError::Unavailable(
                "handing out work: connection loss (injected)".into(),
            ));
        }
        self.dispatched.fetch_add(1, Ordering::SeqCst);
        let runner = self.runner.get().expect("attached runner").clone();
        for item in assignment.values().flatten().copied() {
            self.queue
                .lock()
                .unwrap()
                .insert((run.run_id.clone(), item));
            let (runner, queue, run_id, lost) = (
                runner.clone(),
                self.queue.clone(),
                run.run_id.clone(),
                self.lost.child_token(),
            );
            tokio::spawn(async move {
                let _ = runner.run_item(&run_id, item, lost).await;
                queue.lock().unwrap().remove(&(run_id, item));
            });
        }
        Ok(())
    }

    async fn paused_jobs(&self) -> Result<BTreeSet<JobName>, CoordError> {
        self.paused
            .lock()
            .unwrap()
            .clone()
            .map_err(CoordError::Unavailable)
    }

    async fn requests(&self) -> Result<Vec<PendingRequest>, CoordError> {
        Ok(self.requests.lock().unwrap().clone())
    }

    async fn answer(
        &self,
        request: &PendingRequest,
        answer: RequestAnswer,
    ) -> Result<(), CoordError> {
        self.requests
            .lock()
            .unwrap()
            .retain(|r| r.handle != request.handle);
        self.answers
            .lock()
            .unwrap()
            .push((request.handle.clone(), answer));
        Ok(())
    }

    async fn queued(&self, run_id: &reckon::ledger::RunId) -> Result<BTreeSet<u32>, CoordError> {
        Ok(self
            .queue
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == run_id)
            .map(|(_, i)| *i)
            .collect())
    }
}
