//! `kind = "command"`: runs an external program once per shard item, for
//! steps that live outside reckon (an export, a vendor tool). The program sees
//! the run through environment variables; exit status 0 is success.
//!
//! `[params]`: `program` (required), `args` (list of strings), `working_dir`
//! (relative to the data directory, which is also the default).
//! Environment: `RECKON_JOB`, `RECKON_RUN_ID`, `RECKON_BUSINESS_DATE`
//! (YYYY-MM-DD), `RECKON_SHARD_ITEM`, `RECKON_SHARD_TOTAL`,
//! `RECKON_SHARD_PARAM`, `RECKON_EPOCH`. A stdout line `rows=N` reports rows read.
//! The program is killed when the shard times out or is cancelled.

use std::process::Stdio;

use super::params::Params;
use crate::report::CsvReport;
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};

/// Upper bound on stderr text kept in an error message.
const STDERR_KEPT_BYTES_MAX: usize = 2000;

/// The `command` job kind.
#[derive(Debug, Default)]
pub struct Command;

#[async_trait::async_trait]
impl JobKind for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        let p = Params::new(params);
        p.str("program", "the program to run")?;
        p.opt_str("working_dir")?;
        p.str_list("args")?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let params = Params::new(&ctx.job.params);
        let program = params.str("program", "the program to run")?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(params.str_list("args")?)
            .env("RECKON_JOB", &ctx.job.name)
            .env("RECKON_RUN_ID", ctx.run_id.as_str())
            .env("RECKON_BUSINESS_DATE", ctx.business_date.to_string())
            .env("RECKON_SHARD_ITEM", ctx.item.to_string())
            .env("RECKON_SHARD_TOTAL", ctx.total_items.to_string())
            .env(
                "RECKON_SHARD_PARAM",
                ctx.item_param.as_deref().unwrap_or(""),
            )
            .env("RECKON_EPOCH", ctx.epoch.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let dir = params.str_or("working_dir", ".")?;
        command.current_dir(ctx.paths.data_dir.join(dir));
        let output = command
            .output()
            .await
            .map_err(|e| JobError::io(format!("cannot start `{program}`"), e))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = stderr
                .trim()
                .chars()
                .rev()
                .take(STDERR_KEPT_BYTES_MAX)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(JobError::Failed(format!(
                "`{program}` exited with {}: {tail}",
                output.status
            )));
        }
        let rows_in = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("rows=")?.parse::<u64>().ok())
            .sum();
        Ok(ShardOutcome {
            item: ctx.item,
            rows_in,
            rows_out: 0,
            summary: serde_json::Value::Null,
        })
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        let mut summary = CsvReport::new(
            "summary.csv",
            &["item", "item_parameter", "rows_in"],
            ctx.paths.excel_bom,
        )?;
        for shard in shards {
            summary.row([
                shard.item.to_string(),
                ctx.job
                    .item_parameters
                    .get(shard.item)
                    .unwrap_or("")
                    .to_string(),
                shard.rows_in.to_string(),
            ])?;
        }
        let lead = ctx.lead().await?;
        let reports = ctx.publish(&lead, vec![summary.finish()?])?;
        lead.done();
        Ok(RunOutcome {
            reports,
            summary: serde_json::json!({ "shards": shards.len() }),
            attention: Vec::new(),
            failure: None,
        })
    }
}
