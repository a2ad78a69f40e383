//! The contract between the runtime and a job kind: [`JobKind`], the
//! contexts it is given, and what it returns.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use crate::catalog::JobDef;
use crate::db::{Db, DbTx};
use crate::ledger::{FencedTx, Ledger, LedgerError, RunId, ShardEpoch};
use crate::report::ReportError;

/// Where a job reads its inputs and writes its reports.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Root of `reports/{business_date}/{job}/{run_id}/`.
    pub reports_dir: PathBuf,
    /// Base for relative input paths in job parameters.
    pub data_dir: PathBuf,
    /// Start CSV reports with a UTF-8 byte order mark (what Excel wants).
    pub excel_bom: bool,
    /// Also write `report.xlsx` (one sheet per CSV) for every run
    /// (`reports_xlsx` in reckon.toml; a job can ask for it on its own).
    pub reports_xlsx: bool,
}

/// Why a shard or a finalize step failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The input is wrong; retrying will not help until someone fixes it.
    #[error("bad input: {0}")]
    Input(String),
    /// A `[params]` value is wrong.
    #[error("job parameter `{field}`: {reason}")]
    Param { field: String, reason: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Anything else, described for an operator.
    #[error("{0}")]
    Failed(String),
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    /// False for errors a retry cannot cure: bad input, bad parameters, lost ownership.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            JobError::Input(_)
                | JobError::Param { .. }
                | JobError::Cancelled
                | JobError::Ledger(LedgerError::Fenced { .. })
        )
    }

    /// An I/O error with what reckon was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> JobError {
        JobError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What one shard produced, kept in the ledger for the finalize step.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardOutcome {
    pub item: u32,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Kind-specific totals merged by `finalize`.
    #[serde(default)]
    pub summary: serde_json::Value,
}

impl ShardOutcome {
    /// An outcome whose summary is the kind's typed per-shard `summary`.
    pub fn typed<T: serde::Serialize>(
        item: u32,
        rows_in: u64,
        rows_out: u64,
        summary: &T,
    ) -> Result<ShardOutcome, JobError> {
        Ok(ShardOutcome {
            item,
            rows_in,
            rows_out,
            summary: serde_json::to_value(summary)
                .map_err(|e| JobError::Failed(format!("shard {item} summary: {e}")))?,
        })
    }

    /// The stored summary read back as the kind's type `T`: a missing or
    /// malformed summary is an error, never a zero tally.
    pub fn summary_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        T::deserialize(&self.summary).map_err(|e| {
            JobError::Failed(format!(
                "shard {} left a summary reckon cannot read: {e}",
                self.item
            ))
        })
    }
}

/// What a whole run produced.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunOutcome {
    /// Report files written, absolute or relative to the working directory.
    pub reports: Vec<PathBuf>,
    /// Kind-specific totals.
    #[serde(default)]
    pub summary: serde_json::Value,
    /// Findings that need a person (new dead messages, imbalances…), for alerting.
    #[serde(default)]
    pub attention: Vec<String>,
    /// Set when the reports were written but show the run must fail (a trial
    /// balance that does not balance, a failed self-check): the run is marked
    /// failed with this reason and its reports stay recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Everything one attempt of one shard gets.
pub struct ShardCtx {
    pub run_id: RunId,
    pub job: Arc<JobDef>,
    pub business_date: NaiveDate,
    pub item: u32,
    pub total_items: u32,
    pub item_param: Option<String>,
    /// The fencing token of this attempt.
    pub epoch: ShardEpoch,
    pub instance: String,
    pub ledger: Ledger,
    pub paths: Arc<Paths>,
    pub cancel: CancellationToken,
    pub progress: Arc<Progress>,
    pub(super) committed: AtomicBool,
}

impl ShardCtx {
    /// The database of the run ledger, for reading inputs.
    pub fn db(&self) -> &Db {
        self.ledger.db()
    }

    /// Opens the transaction in which the shard writes its outputs. Write
    /// outputs keyed by `(job, business_date, item)` and replace, never append.
    /// Compute first, then open it: on SQLite it holds the write lock.
    pub async fn begin_outputs(&self) -> Result<FencedTx, JobError> {
        Ok(self
            .ledger
            .begin_fenced(
                &self.run_id,
                &self.job.name,
                self.business_date,
                self.item,
                self.epoch,
            )
            .await?)
    }

    /// Marks the shard done and commits its outputs, if the epoch is still current.
    pub async fn commit_outputs(
        &self,
        tx: FencedTx,
        outcome: &ShardOutcome,
    ) -> Result<(), JobError> {
        let outcome = ShardOutcome {
            item: self.item,
            ..outcome.clone()
        };
        let summary =
            serde_json::to_value(&outcome).map_err(|e| JobError::Failed(e.to_string()))?;
        self.ledger
            .commit_shard(tx, outcome.rows_in, outcome.rows_out, &summary)
            .await?;
        self.committed.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub(super) fn is_committed(&self) -> bool {
        self.committed.load(Ordering::SeqCst)
    }
}

/// Everything the finalize step of a run gets.
pub struct RunCtx {
    pub run_id: RunId,
    pub job: Arc<JobDef>,
    pub business_date: NaiveDate,
    pub attempt: i64,
    pub instance: String,
    pub ledger: Ledger,
    pub paths: Arc<Paths>,
    /// The leader epoch the run is concluded under (`None` off a cluster
    /// leader): every finalize write takes it through [`RunCtx::lead`], so
    /// a superseded leader commits and publishes nothing.
    pub leader_epoch: Option<crate::ledger::Epoch>,
    /// Where [`LeadTx::done`] leaves the conclusion transaction.
    pub(super) concluding: Arc<Concluding>,
}

/// The slot through which a finalize hands its conclusion transaction to
/// the runtime ([`LeadTx::done`]).
pub(super) type Concluding = std::sync::Mutex<Option<DbTx>>;

/// A finalize's write transaction under the leader fence, opened by
/// [`RunCtx::lead`]: the leader epoch and the unfinished run are held (row
/// locks) until the runtime commits it. Report publication needs one, so
/// reports appear only while the epoch is current.
///
/// The kind does not commit it: [`LeadTx::done`] hands it to the runtime,
/// which records the run's own finish (status, outcome, report events,
/// carried state and stale marks) in the same transaction and then commits
/// all of it at once. A crash, a lost leadership or an error anywhere
/// before that commit leaves none of the finalize's writes and the run
/// unfinished, to be concluded again (issue 13).
pub struct LeadTx {
    tx: DbTx,
    concluding: Arc<Concluding>,
}

impl LeadTx {
    /// The transaction, for the kind's own writes (break register, carried records).
    pub fn tx(&mut self) -> &mut DbTx {
        &mut self.tx
    }

    /// The kind's conclusion writes are complete: hands the transaction to
    /// the runtime, which finishes the run in it and commits. Call it last,
    /// after [`RunCtx::publish`]; read what the writes changed through
    /// [`LeadTx::tx`] before, not through the pool after (they are not
    /// committed yet).
    pub fn done(self) {
        let mut slot = self
            .concluding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(self.tx);
    }
}

impl RunCtx {
    /// Opens the write transaction of this run's conclusion: fails with
    /// [`LedgerError::LeaderFenced`] when a newer leader was elected, and
    /// with [`LedgerError::WrongState`] when the run already ended. One per
    /// finalize: the run's row stays locked until the runtime commits it.
    pub async fn lead(&self) -> Result<LeadTx, JobError> {
        if self.concluding_taken() {
            return Err(JobError::Failed(
                "finalize asked for a second conclusion transaction; the first one holds the run"
                    .into(),
            ));
        }
        Ok(LeadTx {
            tx: self
                .ledger
                .begin_conclusion(&self.run_id, self.leader_epoch)
                .await?,
            concluding: self.concluding.clone(),
        })
    }

    fn concluding_taken(&self) -> bool {
        self.concluding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// The conclusion transaction the finalize handed over, if it did.
    pub(super) fn take_concluding(&self) -> Option<DbTx> {
        self.concluding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// `reports/{business_date}/{job}/{run_id}/`.
    pub fn report_dir(&self) -> PathBuf {
        self.paths
            .reports_dir
            .join(self.business_date.to_string())
            .join(&self.job.name)
            .join(self.run_id.as_str())
    }
}

/// A kind of job: settlement, reconciliation, … One implementation serves
/// every job of that kind in the catalog.
#[async_trait::async_trait]
pub trait JobKind: Send + Sync {
    /// The `kind` name used in job files.
    fn name(&self) -> &'static str;

    /// Checks the `[params]` table at catalog load: `Err((field, reason))`.
    fn check_params(&self, _params: &toml::Table) -> Result<(), (String, String)> {
        Ok(())
    }

    /// Runs one shard item: read its partition, compute, then write outputs and
    /// mark it done through [`ShardCtx::begin_outputs`] / [`ShardCtx::commit_outputs`].
    /// A kind with no outputs of its own may just return its outcome.
    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError>;

    /// Merges the shards' outcomes (ordered by item) and writes reports.
    async fn finalize(&self, ctx: &RunCtx, shards: &[ShardOutcome])
    -> Result<RunOutcome, JobError>;

    /// A digest of what this run's business date carries into the next one
    /// (closing balances, loan state, carried records), asked after a
    /// finalize that succeeded; `None` (the default) for kinds whose dates
    /// do not feed each other. When it differs from the digest of the run
    /// it replaces, the later succeeded dates of the job are marked stale.
    async fn carry_digest(
        &self,
        _ctx: &RunCtx,
        _outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        Ok(None)
    }
}

impl RunCtx {
    /// Publishes report files into [`RunCtx::report_dir`] with a manifest
    /// naming this run, plus `report.xlsx` built from them when reckon.toml or
    /// the job asks for workbooks, while `_lead` holds the leader fence (hand it
    /// over with [`LeadTx::done`] after); returns the paths written.
    pub fn publish(
        &self,
        _lead: &LeadTx,
        mut files: Vec<(String, Vec<u8>, u64)>,
    ) -> Result<Vec<PathBuf>, ReportError> {
        if self.paths.reports_xlsx || self.job.reports_xlsx {
            let book = crate::report::xlsx::workbook(&files, self.business_date)?;
            files.push(book);
        }
        let manifest = crate::report::Manifest {
            job: self.job.name.to_string(),
            business_date: self.business_date.to_string(),
            run_id: self.run_id.to_string(),
            attempt: self.attempt,
            instance: self.instance.clone(),
            generated_at: self.ledger.clock().now().to_rfc3339(),
            files: Vec::new(),
        };
        crate::report::publish(&self.report_dir(), files, manifest)
    }
}
