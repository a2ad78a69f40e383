//! `kind = "checksum"`: a small deterministic demo kind for cluster and
//! failover checks. Each shard item derives `rows` records from nothing but
//! the job, business date and item — key `{date}-{item}-{line}`, amount =
//! FNV-1a 64 of the key modulo 1,000,000, in cents (exact Decimal, scale 2)
//! — and writes them to `checksum_outputs` keyed by (job, business_date,
//! item), replacing earlier rows. So two runs of the same date, on one node
//! or on many, with or without failover, leave byte-identical outputs.
//!
//! `[params]`: `rows` (per item, default 100), `work` (a duration spent per
//! shard before computing, default `0s`: lets tests stop a node mid-shard).
//! Report `summary.csv`: `item,rows,total` per item, then `all,…`.

use std::time::Duration;

use rust_decimal::Decimal;

use super::params::Params;
use crate::money::{Money, format_scaled};
use crate::on_tx;
use crate::report::CsvReport;
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};
use crate::sharding::stable_hash;

/// Upper bound on `rows` per item.
const ROWS_MAX: u64 = 1_000_000;

/// The `checksum` job kind.
#[derive(Debug, Default)]
pub struct Checksum;

/// One derived record: (line, key, amount).
fn records(job: &str, date: &str, item: u32, rows: u64) -> Vec<(i64, String, Decimal)> {
    (0..rows)
        .map(|line| {
            let key = format!("{date}-{item}-{line}");
            let cents = (stable_hash(format!("{job}/{key}").as_bytes()) % 1_000_000) as i64;
            (line as i64, key, Decimal::new(cents, 2))
        })
        .collect()
}

/// What a shard hands to finalize.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChecksumShard {
    total: Decimal,
}

#[async_trait::async_trait]
impl JobKind for Checksum {
    fn name(&self) -> &'static str {
        "checksum"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        let p = Params::new(params);
        let rows = p.u64_or("rows", 100)?;
        if rows > ROWS_MAX {
            return Err(("rows".into(), format!("{rows} is more than {ROWS_MAX}")));
        }
        p.duration_or("work", Duration::ZERO)?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let params = Params::new(&ctx.job.params);
        let rows = params.u64_or("rows", 100)?.min(ROWS_MAX);
        let work = params.duration_or("work", Duration::ZERO)?;
        tokio::select! {
            _ = tokio::time::sleep(work) => {}
            _ = ctx.cancel.cancelled() => return Err(JobError::Cancelled),
        }
        let date = ctx.business_date.to_string();
        let records = records(&ctx.job.name, &date, ctx.item, rows);
        let total: Decimal = records.iter().map(|r| r.2).sum();
        let mut tx = ctx.begin_outputs().await?;
        on_tx!(tx.tx(), conn => {
            sqlx::query("DELETE FROM checksum_outputs WHERE job = $1 AND business_date = $2 AND item = $3")
                .bind(&ctx.job.name).bind(ctx.business_date).bind(i64::from(ctx.item))
                .execute(&mut **conn).await?;
            for (line, key, amount) in &records {
                sqlx::query("INSERT INTO checksum_outputs (job, business_date, item, line, record_key, amount) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&ctx.job.name).bind(ctx.business_date).bind(i64::from(ctx.item))
                    .bind(*line).bind(key).bind(Money(*amount))
                    .execute(&mut **conn).await?;
            }
        });
        let outcome = ShardOutcome::typed(ctx.item, rows, rows, &ChecksumShard { total })?;
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        let mut report = CsvReport::new(
            "summary.csv",
            &["item", "rows", "total"],
            ctx.paths.excel_bom,
        )?;
        let mut rows = 0u64;
        let mut grand = Decimal::ZERO;
        for shard in shards {
            let total = shard.summary_as::<ChecksumShard>()?.total;
            rows += shard.rows_out;
            grand += total;
            report.row([
                shard.item.to_string(),
                shard.rows_out.to_string(),
                format_scaled(total, 2),
            ])?;
        }
        report.row(["all".to_string(), rows.to_string(), format_scaled(grand, 2)])?;
        let lead = ctx.lead().await?;
        let reports = ctx.publish(&lead, vec![report.finish()?])?;
        lead.done();
        Ok(RunOutcome {
            reports,
            summary: serde_json::json!({ "rows": rows, "total": format_scaled(grand, 2) }),
            attention: Vec::new(),
            failure: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_derived_from_the_key_only() {
        let a = records("j", "2026-11-21", 3, 5);
        let b = records("j", "2026-11-21", 3, 5);
        assert_eq!(a, b);
        assert_eq!(a[2].1, "2026-11-21-3-2");
        // FNV-1a 64 of "j/2026-11-21-3-2" mod 1e6, computed independently in Python:
        // h = 0xcbf29ce484222325; for c in s: h = ((h ^ c) * 0x100000001b3) % 2**64
        assert_eq!(a[2].2, Decimal::new(794_842, 2));
        assert!(
            a.iter()
                .all(|r| r.2.scale() == 2 && r.2 < Decimal::new(1_000_000, 2))
        );
    }
}
