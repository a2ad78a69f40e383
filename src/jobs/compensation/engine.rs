//! One compensation pass over a partition: check back due `prepared`
//! messages, then deliver due `committed` ones, batch by batch. Each batch is
//! one read, one lookup per transaction type, and one transaction of batched
//! compare-and-set updates. Public so tests and the benchmark can drive it.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::checker::Checkers;
use super::downstream::{Delivery, deliver};
use super::error::CompensationError;
use super::http::HttpClient;
use super::settings::Settings;
use super::state::{State, Transition, Verdict, after_check, after_delivery, millis};
use super::store::{self, Due, DueQuery, Fence, Journal, OutboxRow, Partition};
use crate::db::Db;
use crate::schedule::Clock;

/// A fault point a test can arm: called with the ids just delivered over
/// HTTP, before their state change is written; an `Err` aborts the step
/// there, as a crash would.
pub type AfterDeliveryHook = Arc<dyn Fn(&[String]) -> Result<(), String> + Send + Sync>;

/// Test hooks (none in production).
#[derive(Clone, Default)]
pub struct Hooks {
    pub after_delivery: Option<AfterDeliveryHook>,
}

/// Where a pass works and how its writes are guarded and journaled.
#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: Partition,
    pub fence: Option<Fence>,
    pub journal: Journal,
    pub cancel: Option<CancellationToken>,
}

/// What a pass did, by outcome (transitions that applied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub checked: u64,
    pub committed: u64,
    pub rolled_back: u64,
    pub check_unknown: u64,
    pub delivered: u64,
    pub delivery_failed: u64,
    pub dead: u64,
    /// Transitions not applied because the message had moved meanwhile.
    pub lost_races: u64,
}

impl Tally {
    fn count(&mut self, t: &Transition) {
        self.count_states(t.from, t.to);
    }

    fn count_states(&mut self, from: State, to: State) {
        match (from, to) {
            (_, State::Dead) => self.dead += 1,
            (State::Prepared, State::Committed) => self.committed += 1,
            (State::Prepared, State::RolledBack) => self.rolled_back += 1,
            (State::Prepared, State::Prepared) => self.check_unknown += 1,
            (State::Committed, State::Delivered) => self.delivered += 1,
            (State::Committed, State::Committed) => self.delivery_failed += 1,
            _ => {}
        }
    }

    /// Counts the transitions that applied; the others lost a race.
    fn record(&mut self, attempted: &[Transition], applied: &[Transition]) {
        self.lost_races += (attempted.len() - applied.len()) as u64;
        for t in applied {
            self.count(t);
        }
    }

    /// The tally of journaled state changes (what a run's report lists):
    /// `(old_state, new_state)` names; an unknown name is an error.
    pub fn of_changes<'a>(
        changes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Tally, String> {
        let mut tally = Tally::default();
        for (from, to) in changes {
            let state = |name: &str| {
                State::parse(name).ok_or_else(|| format!("unknown message state `{name}`"))
            };
            let (from, to) = (state(from)?, state(to)?);
            if from == State::Prepared {
                tally.checked += 1;
            }
            tally.count_states(from, to);
        }
        Ok(tally)
    }

    /// Sum of two tallies.
    pub fn add(&mut self, other: &Tally) {
        self.checked += other.checked;
        self.committed += other.committed;
        self.rolled_back += other.rolled_back;
        self.check_unknown += other.check_unknown;
        self.delivered += other.delivered;
        self.delivery_failed += other.delivery_failed;
        self.dead += other.dead;
        self.lost_races += other.lost_races;
    }

    /// Transitions applied.
    pub fn applied(&self) -> u64 {
        self.committed
            + self.rolled_back
            + self.check_unknown
            + self.delivered
            + self.delivery_failed
            + self.dead
    }
}

/// Checkers, downstreams and settings bound to a database and a clock.
pub struct Engine {
    db: Db,
    settings: Settings,
    clock: Arc<dyn Clock>,
    http: HttpClient,
    checkers: Checkers,
    hooks: Hooks,
}

impl Engine {
    /// Opens what the settings name (business databases for SQL checkers).
    pub async fn new(
        db: Db,
        settings: Settings,
        clock: Arc<dyn Clock>,
        hooks: Hooks,
    ) -> Result<Engine, CompensationError> {
        let checkers = Checkers::open(&settings, &db).await?;
        Ok(Engine {
            http: HttpClient::new(settings.http_timeout),
            db,
            settings,
            clock,
            checkers,
            hooks,
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Check-back, then delivery, over the scope's partition.
    pub async fn run_partition(&self, scope: &Scope) -> Result<Tally, CompensationError> {
        let mut tally = self.check_back(scope).await?;
        tally.add(&self.deliver(scope).await?);
        Ok(tally)
    }

    /// Checks back every due `prepared` message older than the minimum age.
    pub async fn check_back(&self, scope: &Scope) -> Result<Tally, CompensationError> {
        let mut tally = Tally::default();
        let mut after_id = String::new();
        loop {
            cancelled(scope)?;
            let now_ms = self.now_ms();
            let batch = store::due(
                &self.db,
                DueQuery {
                    state: State::Prepared,
                    partition: scope.partition,
                    now_ms,
                    created_before_ms: now_ms - millis(self.settings.min_age),
                    after_id: &after_id,
                    limit: self.settings.batch_size,
                    with_payload: false,
                },
            )
            .await?;
            let Some(last) = batch.last() else {
                return Ok(tally);
            };
            after_id = last.id.clone();
            let verdicts = self
                .checkers
                .check(&self.http, self.settings.http_concurrency, &batch)
                .await;
            let transitions = check_transitions(&batch, &verdicts, &self.settings, now_ms);
            tally.checked += batch.len() as u64;
            self.apply(scope, &transitions, &BTreeMap::new(), now_ms, &mut tally)
                .await?;
        }
    }

    /// Delivers every due `committed` message to its downstream.
    pub async fn deliver(&self, scope: &Scope) -> Result<Tally, CompensationError> {
        let mut tally = Tally::default();
        let mut after_id = String::new();
        loop {
            cancelled(scope)?;
            let now_ms = self.now_ms();
            let batch = store::due(
                &self.db,
                DueQuery {
                    state: State::Committed,
                    partition: scope.partition,
                    now_ms,
                    created_before_ms: i64::MAX,
                    after_id: &after_id,
                    limit: self.settings.batch_size,
                    with_payload: true,
                },
            )
            .await?;
            let Some(last) = batch.last() else {
                return Ok(tally);
            };
            after_id = last.id.clone();
            // The fence first: held (row locked) through the HTTP calls and
            // the state changes, committed together.
            let tx = store::begin_batch(&self.db, scope.fence.as_ref()).await?;
            let epoch = scope.fence.as_ref().map(|f| f.epoch);
            let tries: Vec<_> = batch
                .iter()
                .map(|due| deliver(&self.http, &self.settings.downstreams, due, epoch))
                .collect();
            let results: Vec<Delivery> = futures::stream::iter(tries)
                .buffered(self.settings.http_concurrency)
                .collect()
                .await;
            if let Some(hook) = &self.hooks.after_delivery {
                let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
                hook(&ids).map_err(CompensationError::Crash)?;
            }
            let (transitions, outbox) =
                delivery_transitions(&batch, results, &self.settings, now_ms);
            let applied = store::apply_in(
                tx,
                scope.fence.as_ref(),
                &scope.journal,
                &transitions,
                &outbox,
                now_ms,
            )
            .await?;
            tally.record(&transitions, &applied);
        }
    }

    async fn apply(
        &self,
        scope: &Scope,
        transitions: &[Transition],
        outbox: &BTreeMap<String, OutboxRow>,
        now_ms: i64,
        tally: &mut Tally,
    ) -> Result<(), CompensationError> {
        let applied = store::apply(
            &self.db,
            scope.fence.as_ref(),
            &scope.journal,
            transitions,
            outbox,
            now_ms,
        )
        .await?;
        tally.record(transitions, &applied);
        Ok(())
    }
}

fn cancelled(scope: &Scope) -> Result<(), CompensationError> {
    match &scope.cancel {
        Some(token) if token.is_cancelled() => Err(CompensationError::Cancelled),
        _ => Ok(()),
    }
}

fn check_transitions(
    batch: &[Due],
    verdicts: &[Verdict],
    settings: &Settings,
    now_ms: i64,
) -> Vec<Transition> {
    batch
        .iter()
        .zip(verdicts)
        .map(|(due, verdict)| {
            after_check(
                &due.id,
                due.check_count,
                due.delivery_attempts,
                verdict,
                &settings.check_limits,
                now_ms,
            )
        })
        .collect()
}

fn delivery_transitions(
    batch: &[Due],
    results: Vec<Delivery>,
    settings: &Settings,
    now_ms: i64,
) -> (Vec<Transition>, BTreeMap<String, OutboxRow>) {
    let mut outbox = BTreeMap::new();
    let transitions = batch
        .iter()
        .zip(results)
        .map(|(due, result)| {
            let failure = match result {
                Delivery::Done => None,
                Delivery::Outbox(row) => {
                    outbox.insert(due.id.clone(), row);
                    None
                }
                Delivery::Failed(why) => Some(why),
            };
            after_delivery(
                &due.id,
                due.check_count,
                due.delivery_attempts,
                failure.as_deref(),
                &settings.delivery_limits,
                now_ms,
            )
        })
        .collect();
    (transitions, outbox)
}
